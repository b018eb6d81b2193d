"""Reproduce a stored run exactly and say so: ``zhudai rerun DIR`` or ``zhudai rerun DIR/RUN_ID``.

A single run (``zhudai run ... --out DIR``) is rebuilt from the *resolved* scenario in its manifest, so later
edits to scenario files do not matter. A batch run is rebuilt from its ``runs.parquet`` row (scenario,
overrides, seed, borrowers, months). Both run through :func:`experiments.engine.run.run_model`. Every table
is then compared cell by cell with what was stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.engine.design import flatten_tree
from experiments.engine.run import resolve_scenario, run_model
from experiments.store.batch_dir import DATASETS, MANIFEST_FILE, MANIFEST_KIND, PART_FILE
from experiments.store.common import environment_versions
from model.output import TABLES


class RerunError(Exception):
    """The target is not a stored run that can be rerun (bad path, unknown run id, failed run)."""


@dataclass
class RerunReport:
    """Outcome of a rerun: which run, and for each table whether it matched (and where it first differs)."""

    label: str
    rows: dict[str, int] = field(default_factory=dict)
    differences: dict[str, str] = field(default_factory=dict)
    version_notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RerunError(f"{directory}: no {MANIFEST_FILE} (not a finished run or batch)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RerunError(f"{path}: unreadable ({err})") from None


def _first_difference(stored: pd.DataFrame, fresh: pd.DataFrame) -> str | None:
    """None when the tables are identical, else a short description of the first difference."""
    if list(stored.columns) != list(fresh.columns):
        return f"columns differ: {sorted(set(stored.columns) ^ set(fresh.columns))}"
    if len(stored) != len(fresh):
        return f"{len(stored)} stored rows vs {len(fresh)} rerun rows"
    for col in stored.columns:
        a, b = stored[col].reset_index(drop=True), fresh[col].reset_index(drop=True)
        same = (a == b) | (a.isna() & b.isna())
        if not bool(same.all()):
            i = int((~same).to_numpy().argmax())
            where = f"step {stored['step'].iloc[i]}" if "step" in stored.columns else f"row {i}"
            return f"column {col!r} first differs at {where}: stored {a.iloc[i]!r}, rerun {b.iloc[i]!r}"
    return None


def _version_notes(manifest: dict[str, Any]) -> list[str]:
    then = manifest.get("versions") or {}
    now = environment_versions()
    return [f"{name} was {then[name]}, now {now.get(name)}" for name in sorted(then)
            if name in now and then[name] != now.get(name)]


def _compare(report: RerunReport, stored: dict[str, pd.DataFrame], fresh: dict[str, pd.DataFrame]) -> RerunReport:
    for name in TABLES:
        cols = [c for c in fresh[name].columns if c in stored[name].columns]
        a = stored[name][cols].reset_index(drop=True)
        b = fresh[name][cols].reset_index(drop=True)
        report.rows[name] = len(b)
        diff = _first_difference(a, b)
        if diff is not None:
            report.differences[name] = diff
    return report


def rerun_single(directory: Path) -> RerunReport:
    """Rerun a ``zhudai run`` output directory from the resolved scenario and seed in its manifest."""
    from model.config import load_scenario

    manifest = _read_manifest(directory)
    if manifest.get("kind") == MANIFEST_KIND:
        raise RerunError(f"{directory} is a batch: name a run, e.g. {directory}/RUN_ID")
    resolved = dict(manifest.get("resolved") or {})
    if not resolved or "seed" not in manifest:
        raise RerunError(f"{directory / MANIFEST_FILE}: no resolved scenario and seed recorded")
    resolved.pop("name", None)
    resolved.pop("description", None)
    scenario = load_scenario("baseline", overrides=flatten_tree(resolved))
    fresh = run_model(scenario, int(manifest["seed"])).tables
    stored = {name: pd.read_parquet(directory / f"{name}.parquet") for name in TABLES}
    report = RerunReport(label=f"run in {directory} ({manifest.get('scenario')}, seed {manifest['seed']})",
                         version_notes=_version_notes(manifest))
    return _compare(report, stored, fresh)


def rerun_batch_run(directory: Path, run_id: str) -> RerunReport:
    """Rerun one run of a batch store from its ``runs.parquet`` row."""
    manifest = _read_manifest(directory)
    if manifest.get("kind") != MANIFEST_KIND:
        raise RerunError(f"{directory} is not a batch directory")
    run_id = run_id.removeprefix("run_id=")
    runs_path = directory / DATASETS["runs"] / f"run_id={run_id}" / PART_FILE
    if not runs_path.is_file():
        raise RerunError(f"{directory}: no run {run_id!r} recorded")
    row = pd.read_parquet(runs_path).iloc[0]
    if row["status"] != "ok":
        raise RerunError(f"run {run_id} did not finish ok ({row['status']}: {row['error']}); nothing to compare")
    overrides = json.loads(row["overrides"])
    scenario = resolve_scenario(str(row["scenario"]), overrides, int(row["borrowers"]), int(row["months"]))
    fresh = run_model(scenario, int(row["seed"]), overrides=overrides).tables
    stored = {name: pd.read_parquet(directory / DATASETS[name] / f"run_id={run_id}" / PART_FILE)
              for name in TABLES}
    report = RerunReport(label=f"run {run_id} of {directory} ({row['scenario']}, replicate {row['replicate']}, "
                               f"seed {row['seed']})", version_notes=_version_notes(manifest))
    return _compare(report, stored, fresh)


def rerun(target: str | Path, run_id: str | None = None) -> RerunReport:
    """Rerun ``target``: a single-run directory, a batch directory with ``run_id``, or ``BATCH_DIR/RUN_ID``."""
    path = Path(target)
    if run_id is not None:
        return rerun_batch_run(path, run_id)
    if (path / MANIFEST_FILE).is_file():
        return rerun_single(path)
    if (path.parent / MANIFEST_FILE).is_file():
        return rerun_batch_run(path.parent, path.name)
    raise RerunError(f"{path}: not a run directory, nor BATCH_DIR/RUN_ID")
