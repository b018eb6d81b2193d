"""A single-run directory (``zhudai run --out DIR``): its files, and writing them safely.

A run directory holds ``model.parquet``, ``platforms.parquet``, ``funders.parquet`` and ``manifest.json``
(the output contract: docs/reference/outputs.md). Every file is written atomically
(:func:`experiments.store.common.atomic_write`). ``manifest.json`` is written last: its presence marks a
complete run, and it is removed first when a run is replaced, so a crash while replacing never leaves an old
manifest describing new tables. A failed run adds only ``error.log``.

From Python: ``out = experiments.engine.run.run_model("new-rules-2025", seed=1)`` then
``write_run(DIR, out.tables, out.manifest)`` writes the same directory as ``zhudai run``.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.store.common import atomic_write_parquet, atomic_write_text, now_iso
from model.output import TABLES

#: The table files of a run, in the order :func:`write_run` writes them.
TABLE_FILES: dict[str, str] = {name: f"{name}.parquet" for name in TABLES}
MANIFEST_FILE = "manifest.json"
ERROR_LOG_FILE = "error.log"


def existing_run_files(out_dir: str | os.PathLike[str]) -> list[str]:
    """Names of run files (manifest or tables) already present in ``out_dir``, manifest first."""
    directory = Path(out_dir)
    names = [MANIFEST_FILE, *TABLE_FILES.values()]
    return [name for name in names if (directory / name).exists()]


def is_run_directory(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a complete single run (``manifest.json`` beside a ``model.parquet`` file,
    where a batch directory has a ``model.parquet`` dataset directory)."""
    directory = Path(directory)
    return (directory / MANIFEST_FILE).is_file() and (directory / TABLE_FILES["model"]).is_file()


#: The run id a single run's rows carry when read as a one-run store.
SINGLE_RUN_ID = "run"


def read_run_as_store(directory: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """A single-run directory as a batch store of one replicate, shaped like
    :func:`experiments.store.batch_dir.read_store`.

    Every table gets the key columns of a batch run in front (``run_id``, ``scenario``, ``point`` 0,
    ``replicate`` 0, ``seed``), and ``runs`` one ``ok`` row with the run's overrides. ``scenario`` is the
    manifest's scenario name when the run used the shipped file of that name, else the scenario file it ran.

    Raises:
        ValueError: if the manifest is not a JSON object naming the scenario and seed.
        OSError: if a file cannot be read.
    """
    from model.config import scenario_dir

    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{MANIFEST_FILE} is not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("scenario"), str) \
            or not isinstance(manifest.get("seed"), int):
        raise ValueError(f"{MANIFEST_FILE} does not describe a run (no scenario and seed)")
    name, source = manifest["scenario"], manifest.get("source")
    shipped = scenario_dir() / f"{name}.toml"
    label = name
    if isinstance(source, str) and source and not (shipped.is_file() and Path(source).resolve() == shipped.resolve()):
        label = source
    keys = {"run_id": SINGLE_RUN_ID, "scenario": label, "point": 0, "replicate": 0, "seed": manifest["seed"]}
    out: dict[str, pd.DataFrame] = {}
    for table_name, filename in TABLE_FILES.items():
        table = pd.read_parquet(directory / filename)
        front = pd.DataFrame({k: [v] * len(table) for k, v in keys.items()}, index=table.index)
        out[table_name] = pd.concat([front, table.drop(columns=[c for c in keys if c in table.columns])], axis=1)
    overrides = manifest.get("overrides") if isinstance(manifest.get("overrides"), list) else []
    out["runs"] = pd.DataFrame([{**keys, "overrides": json.dumps([str(o) for o in overrides], ensure_ascii=False),
                                 "borrowers": manifest.get("borrowers"), "months": manifest.get("months"),
                                 "status": "ok", "error": ""}])
    return out


def write_run(
    out_dir: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any]
) -> dict[str, Path]:
    """Write one run's tables and then its manifest into ``out_dir``.

    Order matters: an old ``manifest.json`` is removed first and the new one written last, so at every
    moment the directory either holds a manifest matching its tables or no manifest at all.

    Args:
        out_dir: the run directory; created with its parents if missing.
        tables: ``{"model": df, "platforms": df, "funders": df}``.
        manifest: JSON-serializable run description.

    Returns:
        ``{"model": path, "platforms": path, "funders": path, "manifest": path}``.

    Raises:
        KeyError: if a table is missing (checked before anything is touched).
        TypeError, ValueError: if the manifest is not JSON-serializable (checked before anything is touched).
        OSError: if the directory or a file cannot be written.
    """
    missing = [name for name in TABLE_FILES if name not in tables]
    if missing:
        raise KeyError(f"tables missing: {', '.join(missing)}")
    # NaN is not JSON; reject it here rather than write a manifest other tools cannot parse.
    manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / MANIFEST_FILE
    manifest_path.unlink(missing_ok=True)

    written: dict[str, Path] = {}
    for name, filename in TABLE_FILES.items():
        written[name] = atomic_write_parquet(tables[name], directory / filename)
    written["manifest"] = atomic_write_text(manifest_text, manifest_path)
    return written


def write_error_log(out_dir: str | os.PathLike[str], argv: Sequence[str], context: Mapping[str, Any],
                    prog: str = "zhudai") -> Path | None:
    """Write the current exception's traceback to ``out_dir/error.log``; None if even that is impossible.

    Args:
        out_dir: the run directory (created if missing).
        argv: the command line, for the header.
        context: ``{label: value}`` lines of the header (scenario, overrides, seed, versions).
        prog: the program name in the header.
    """
    header = [f"{prog} run failed at {now_iso()}", "command: " + " ".join(argv)]
    header += [f"{key}: {value}" for key, value in context.items()]
    text = "\n".join(header) + "\n\n" + traceback.format_exc()
    directory = Path(out_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(text, directory / ERROR_LOG_FILE)
    except OSError:
        return None
