"""The one run path: build a :class:`model.lending.LendingModel`, run it, take its tables, release it.

Every caller that runs the model goes through here: ``zhudai run``, the batch task
(:func:`experiments.engine.tasks.execute_run`), ``zhudai rerun``, the stylized-facts test, the EMA adapter and the
model benchmark call :func:`run_model`; the dashboard, which steps its models month by month, builds them with
:func:`build_model`. :func:`run_model` holds no global state (Mesa's class-level agent registry entry is
dropped, also when the run fails) and writes nothing: the same scenario and seed give identical tables in any
process. Its :class:`RunOutput` carries the tables and the single-run manifest, which
:func:`experiments.store.run_dir.write_run` writes into a run directory.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from experiments.store.common import code_version, environment_versions, now_iso, project_git
from experiments.store.run_dir import TABLE_FILES
from model.output import TABLES

if TYPE_CHECKING:
    import pandas as pd

    from model.config import Scenario
    from model.lending import LendingModel



def resolve_scenario(scenario: str | Scenario, overrides: Sequence[str] = (), borrowers: int | None = None,
                     months: int | None = None) -> Scenario:
    """Load and validate a scenario with ``overrides``, then the run size (``borrowers``, ``months``) if given.

    Args:
        scenario: shipped scenario name, path to a ``.toml`` file, or an already resolved scenario.
        overrides: ``dotted.key=value`` strings applied first.
        borrowers: number of modelled borrowers (applied after ``overrides``); None keeps the scenario's.
        months: number of simulated months (applied after ``overrides``); None keeps the scenario's.

    Raises:
        ConfigError: if the scenario or an override is invalid.
    """
    from model.config import Scenario, load_scenario

    size = ([f"run.borrowers={borrowers}"] if borrowers is not None else []) + (
        [f"run.months={months}"] if months is not None else [])
    if isinstance(scenario, Scenario):
        changes = [*overrides, *size]
        return scenario.with_overrides(changes) if changes else scenario
    return load_scenario(scenario, [*overrides, *size])


def build_model(scenario: Scenario, seed: int) -> LendingModel:
    """A new model of ``scenario`` with ``seed``. If building fails, every half-built model is released first.

    Raises:
        Exception: whatever the model's constructor raised.
    """
    import mesa

    from model.lending import LendingModel

    registry = getattr(mesa.Agent, "_ids", {})
    known = set(registry)
    try:
        return LendingModel(scenario, rng=seed)
    except BaseException:
        # Agents made before the failure registered the half-built model in Mesa's class-level registry.
        for half_built in set(registry) - known:
            if isinstance(half_built, LendingModel):
                half_built.release()
        raise


def check_contract(tables: dict[str, pd.DataFrame]) -> None:
    """Fail the run (not the write) if the model's tables break the output contract.

    Raises:
        RuntimeError: naming every missing table and column.
    """
    from model.output import FUNDER_COLUMNS, MODEL_COLUMNS, PLATFORM_COLUMNS

    problems = []
    for name, columns in (("model", MODEL_COLUMNS), ("platforms", PLATFORM_COLUMNS), ("funders", FUNDER_COLUMNS)):
        if name not in tables:
            problems.append(f"no {name} table")
            continue
        missing = [c for c in columns if c not in tables[name].columns]
        if missing:
            problems.append(f"{name} table lacks {', '.join(missing)}")
    if problems:
        raise RuntimeError("model output breaks the output contract: " + "; ".join(problems))


def column_docs() -> dict[str, dict[str, dict[str, str]]]:
    """Unit and meaning of every output column, per table (as recorded in a run's manifest)."""
    from model.output import COLUMN_DOCS

    return {
        table: {col: {"unit": unit, "meaning": meaning} for col, (unit, meaning) in cols.items()}
        for table, cols in COLUMN_DOCS.items()
    }


@dataclass
class RunOutput:
    """What one run produced.

    Attributes:
        scenario: the resolved scenario that ran.
        seed: its seed.
        tables: ``{"model": df, "platforms": df, "funders": df}``.
        overrides: the overrides it was resolved with, as recorded in the manifest.
        argv: the command line that asked for it, as recorded in the manifest (empty from Python).
        started_at: start time, ISO 8601 UTC.
        finished_at: end time, ISO 8601 UTC.
        init_seconds: wall time of building the model (the burn-in months run here).
        run_seconds: wall time of running the recorded months.
        elapsed_seconds: wall time of the whole run.
        fork: for a run continued from another model's shared months (:func:`experiments.engine.fork.run_forked`),
            the first month it ran on its own, the months it shared and the scenario that ran them; None otherwise.
    """

    scenario: Scenario
    seed: int
    tables: dict[str, pd.DataFrame]
    overrides: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    init_seconds: float = 0.0
    run_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    fork: dict[str, Any] | None = None

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """The run directory's ``manifest.json``: what ran, with what, when, and every table's columns.

        Built on first use (it asks git and the installed distributions), so batch runs, which keep their
        provenance in the batch manifest, do not pay for it.
        """
        from model.calendar import add_months
        from model.output import SCHEMA_VERSION

        run = self.scenario.params.run
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "version": code_version(),
            "scenario": self.scenario.name,
            "description": self.scenario.description,
            "source": str(self.scenario.source),
            "overrides": list(self.overrides),
            "seed": self.seed,
            "borrowers": run.borrowers,
            "months": run.months,
            "first_month": run.start,
            "last_month": add_months(run.start, run.months - 1),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "versions": environment_versions(),
            "git": project_git(),
            "argv": list(self.argv),
            "tables": {
                name: {"file": filename, "rows": len(self.tables[name])} for name, filename in TABLE_FILES.items()
            },
            "columns": column_docs(),
            "resolved": self.scenario.to_dict(),
        }
        if self.fork is not None:  # only forked runs carry the key: every other manifest stays as it was
            manifest["forked"] = dict(self.fork)
        return manifest


def run_model(
    scenario: str | Scenario,
    seed: int,
    *,
    overrides: Sequence[str] = (),
    on_step: Callable[[LendingModel], None] | None = None,
    argv: Sequence[str] = (),
) -> RunOutput:
    """Run one scenario once: build the model, run every month, take its tables, release the model.

    The model is released whatever happens (Mesa's class-level agent registry would otherwise keep every
    model a long-lived process ever ran), and nothing is written.

    Args:
        scenario: a resolved scenario, or a shipped scenario name or path to a ``.toml`` file (resolved here
            with ``overrides``).
        seed: the run's random seed.
        overrides: ``dotted.key=value`` strings: applied to a scenario given by name or path; for a resolved
            scenario, the overrides it was resolved with. Recorded in the manifest either way.
        on_step: called with the model after every recorded month (e.g. a progress bar).
        argv: the command line, recorded in the manifest.

    Returns:
        The tables, timings and (on first use of ``.manifest``) the manifest.

    Raises:
        ConfigError: if the scenario or an override is invalid (before anything runs).
        RuntimeError: if the tables break the output contract.
        Exception: whatever the model raised.
    """
    from model.config import Scenario

    resolved = scenario if isinstance(scenario, Scenario) else resolve_scenario(scenario, overrides)
    started_at, t0 = now_iso(), time.perf_counter()
    model = build_model(resolved, seed)
    try:
        t1 = time.perf_counter()
        model.run(on_step=on_step)
        t2 = time.perf_counter()
        tables = model.tables()
    finally:
        model.release()
    del model
    check_contract(tables)
    return RunOutput(resolved, seed, {name: tables[name] for name in TABLES}, list(overrides), list(argv),
                     started_at, now_iso(), t1 - t0, t2 - t1, time.perf_counter() - t0)
