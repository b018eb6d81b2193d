"""The task every batch executor runs: a run's spec, its id, and the wrapper around the one run path.

:func:`execute_run` calls :func:`experiments.engine.run.run_model`, which holds no global state and writes no
files: the same spec gives identical tables in any process, so the in-process loop, the local process pool and
dask workers are interchangeable. :func:`execute_run` wraps it for batches: it times the run, catches its
exception (a failed run is a result, not a crash of the batch) and tags every row with the run's keys.

Test-only fault injection: when the environment variable ``ZHUDAI_FAULT_RUNS`` is set, a run whose run id is
listed (comma-separated), or whose replicate matches an item ``replicate=K``, raises
``RuntimeError("injected fault")`` instead of running. Batch tests use it to check that a crashing run is
recorded and reported while the others finish. It is read in the worker, so it must be set in the
environment the workers inherit.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FAULT_ENV = "ZHUDAI_FAULT_RUNS"


def make_run_id(scenario: str, overrides: Sequence[str], replicate: int, seed: int, borrowers: int, months: int) -> str:
    """A short deterministic id of a run: the first 12 hex digits of the sha256 of its defining values.

    Args:
        scenario: the scenario as named in the design.
        overrides: every override of the run, in order (design overrides, then sweep values).
        replicate: replicate index.
        seed: the run's seed.
        borrowers: number of borrowers.
        months: number of months.

    Returns:
        12 lowercase hex characters.
    """
    key = [scenario, list(overrides), int(replicate), int(seed), int(borrowers), int(months)]
    text = json.dumps(key, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to run one run of a batch (picklable, so any executor can ship it).

    Attributes:
        run_id: :func:`make_run_id` of the other fields.
        scenario: scenario name or path, as in the design.
        point: index of the sweep point (0 when nothing is varied).
        vary: ``(dotted key, value)`` of the sweep point, in design order.
        overrides: every override string: the design's, then the sweep point's.
        replicate: replicate index 0..R-1.
        seed: the replicate's seed (common to every scenario and point).
        borrowers: number of borrowers.
        months: number of months.
    """

    run_id: str
    scenario: str
    point: int
    vary: tuple[tuple[str, Any], ...]
    overrides: tuple[str, ...]
    replicate: int
    seed: int
    borrowers: int
    months: int

    def keys(self) -> dict[str, Any]:
        """The key columns every row of this run's tables carries."""
        keys: dict[str, Any] = {
            "run_id": self.run_id, "scenario": self.scenario, "point": self.point,
            "replicate": self.replicate, "seed": self.seed,
        }
        for key, value in self.vary:
            keys[key] = vary_cell(value)
        return keys


def vary_cell(value: Any) -> Any:
    """A sweep value as a table cell: scalars as they are, lists and tables as canonical JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


@dataclass
class RunResult:
    """What a worker sends back for one run.

    Attributes:
        spec: the run.
        status: ``"ok"`` or ``"failed"``.
        error: ``"Type: message"`` of a failed run, else empty.
        traceback: the full traceback of a failed run, else empty.
        started: start time, ISO 8601 UTC.
        finished: end time, ISO 8601 UTC.
        seconds: wall time of the run.
        worker: ``host/pid`` of the process that ran it.
        tables: the run's tables with key columns added (empty for a failed run).
    """

    spec: RunSpec
    status: str
    error: str
    traceback: str
    started: str
    finished: str
    seconds: float
    worker: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _fault_injected(spec: RunSpec) -> bool:
    items = [item.strip() for item in os.environ.get(FAULT_ENV, "").split(",") if item.strip()]
    for item in items:
        name, sep, value = item.partition("=")
        if sep and name.strip() == "replicate":
            if value.strip() == str(spec.replicate):
                return True
        elif item == spec.run_id:
            return True
    return False


def _tag(table: pd.DataFrame, keys: dict[str, Any]) -> pd.DataFrame:
    """The table with the run's key columns in front (the model's own columns keep their order)."""
    import pandas as pd

    front = pd.DataFrame({k: [v] * len(table) for k, v in keys.items()}, index=table.index)
    own = table.drop(columns=[c for c in keys if c in table.columns])
    return pd.concat([front, own], axis=1).reset_index(drop=True)


def execute_run(spec: RunSpec) -> RunResult:
    """Run one batch run and return its result; never raises for a failure inside the model.

    Args:
        spec: the run.

    Returns:
        The result: tables tagged with the run's keys when it succeeded, the error when it failed.
    """
    from experiments.engine.run import resolve_scenario, run_model

    started, t0 = _now(), time.perf_counter()
    worker = f"{socket.gethostname()}/{os.getpid()}"
    try:
        if _fault_injected(spec):
            raise RuntimeError("injected fault")
        scenario = resolve_scenario(spec.scenario, spec.overrides, spec.borrowers, spec.months)
        tables = run_model(scenario, spec.seed, overrides=spec.overrides).tables
    except Exception as exc:
        return RunResult(spec, "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc(), started, _now(),
                         time.perf_counter() - t0, worker)
    keys = spec.keys()
    tagged = {name: _tag(df, keys) for name, df in tables.items()}
    return RunResult(spec, "ok", "", "", started, _now(), time.perf_counter() - t0, worker, tagged)


@dataclass(frozen=True)
class GroupSpec:
    """Runs of a batch that share their past: one seed, the same resolved parameters outside ``policy``.

    One worker runs the months they share once and continues a copy under each run
    (:func:`execute_group`); picklable like :class:`RunSpec`, so every executor ships it the same way.

    Attributes:
        specs: the runs, at least two (a batch only groups runs still to be done).
    """

    specs: tuple[RunSpec, ...]

    @property
    def key(self) -> str:
        """A name for the task (its first run's id)."""
        return f"group-{self.specs[0].run_id}"


def task_specs(task: RunSpec | GroupSpec) -> tuple[RunSpec, ...]:
    """The runs of a task."""
    return task.specs if isinstance(task, GroupSpec) else (task,)


def _failed_result(spec: RunSpec, exc: BaseException, started: str, t0: float, worker: str) -> RunResult:
    return RunResult(spec, "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc(), started, _now(),
                     time.perf_counter() - t0, worker)


def execute_group(group: GroupSpec) -> list[RunResult]:
    """Run a group of runs that share their past, each result exactly as :func:`execute_run` would give it.

    Each run's scenario is resolved (a run that fails to resolve, or has an injected fault, fails alone); the
    months the others share (:func:`experiments.engine.fork.shared_months`) are simulated once, from the first
    of them, and a copy of that model is continued under each run. A failure in the shared months fails every
    run of the group, each with the error; a failure after the copy fails only that run. With nothing to share
    (fewer than two runs left, or scenarios that differ from the start) each run goes through
    :func:`execute_run`. The tables are those of the run from scratch (tests/integration/test_forked_runs.py,
    tests/integration/test_batch_fork.py); a run's ``started`` is the group's start and its ``seconds`` counts
    the shared months plus its own.

    Returns:
        One result per run, in the group's order.
    """
    from experiments.engine.fork import continue_run, shared_months, shared_prefix
    from experiments.engine.run import resolve_scenario
    from model.output import TABLES

    started, t0 = _now(), time.perf_counter()
    worker = f"{socket.gethostname()}/{os.getpid()}"
    results: dict[str, RunResult] = {}
    scenarios = {}
    for spec in group.specs:
        try:
            if _fault_injected(spec):
                raise RuntimeError("injected fault")
            scenarios[spec.run_id] = resolve_scenario(spec.scenario, spec.overrides, spec.borrowers, spec.months)
        except Exception as exc:
            results[spec.run_id] = _failed_result(spec, exc, started, t0, worker)
    live = [spec for spec in group.specs if spec.run_id in scenarios]
    try:
        one_seed = len({s.seed for s in live}) == 1
        shared = shared_months([scenarios[s.run_id] for s in live]) if len(live) > 1 and one_seed else 0
    except Exception:
        shared = 0
    if shared == 0:
        for spec in live:
            results[spec.run_id] = execute_run(spec)
        return [results[spec.run_id] for spec in group.specs]
    try:
        blob, _built = shared_prefix(scenarios[live[0].run_id], live[0].seed, shared)
        prefix_seconds = time.perf_counter() - t0
    except Exception as exc:
        for spec in live:
            results[spec.run_id] = _failed_result(spec, exc, started, t0, worker)
        return [results[spec.run_id] for spec in group.specs]
    for spec in live:
        t1 = time.perf_counter()
        try:
            tables = continue_run(blob, scenarios[spec.run_id])
        except Exception as exc:
            results[spec.run_id] = _failed_result(spec, exc, started, t1 - prefix_seconds, worker)
            continue
        keys = spec.keys()
        tagged = {name: _tag(tables[name], keys) for name in TABLES}
        results[spec.run_id] = RunResult(spec, "ok", "", "", started, _now(),
                                         prefix_seconds + time.perf_counter() - t1, worker, tagged)
    return [results[spec.run_id] for spec in group.specs]
