"""The batch engine: run a resolved design on an executor and store every run as it finishes.

``zhudai compare``, ``zhudai sweep`` and ``zhudai batch`` all build a
:class:`~experiments.engine.design.Design` and call :func:`run_batch`, which runs it on an executor of
:mod:`experiments.engine.executors` (in-process, local process pool or dask.distributed) and stores each run
in a batch directory (:mod:`experiments.store.batch_dir`).

Forking (``fork=True``, the default): pending runs with the same seed and the same resolved parameters outside
``policy`` whose scenarios share months (:func:`experiments.engine.fork.shared_months`) go to one worker as one
task (:func:`group_tasks`), which simulates their common past once and continues a copy under each run
(:func:`experiments.engine.tasks.execute_group`); the stored tables are those of unforked runs. Resumption is run
by run: a group only holds runs not yet stored, so a resumed batch recomputes the shared months for the
unfinished runs of a group, and a kill during a group task loses at most that group's runs.

Faults: a run that raises is stored as ``failed`` and the batch goes on; a worker killed in the process pool
breaks the pool, so the batch stops, keeps every finished run and leaves the lost ones unrecorded for a rerun;
dask reschedules a killed worker's runs itself and reports a run that keeps killing workers as failed. Ctrl-C
stops submitting, cancels what is pending and keeps every finished run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.analysis.summary import horizon_summary
from experiments.engine.design import ResolvedDesign
from experiments.engine.executors import Executor, WorkersLost, make_executor
from experiments.engine.tasks import GroupSpec, RunResult, RunSpec
from experiments.store.batch_dir import open_store, read_store


# -------------------------------------------------------------------------------------- interruption
class _InterruptGuard:
    """Defers Ctrl-C while a run's files are being written, so a run is stored whole or not at all."""

    def __init__(self) -> None:
        self._depth = 0
        self._pending = False
        self._previous: Any = None

    def __enter__(self) -> _InterruptGuard:
        # Signal handlers can only be installed from the main thread; elsewhere Ctrl-C is not ours to handle.
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self._depth:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._pending and not self._depth:
            self._pending = False
            raise KeyboardInterrupt


# ------------------------------------------------------------------------------------------- grouping
def _outside_policy(resolved: ResolvedDesign, spec: RunSpec) -> str | None:
    """The run's resolved parameters without ``policy``, as canonical text (None if the design lacks them)."""
    import json

    tree = resolved.params.get(resolved.run_params.get(spec.run_id, ""))
    if not isinstance(tree, dict):
        return None
    return json.dumps({k: v for k, v in tree.items() if k != "policy"}, sort_keys=True, default=repr)


def _shares_months(specs: Sequence[RunSpec]) -> bool:
    """Whether the runs' resolved scenarios share at least the burn-in (False if any fails to resolve)."""
    from experiments.engine.fork import shared_months
    from experiments.engine.run import resolve_scenario

    try:
        scenarios = [resolve_scenario(s.scenario, s.overrides, s.borrowers, s.months) for s in specs]
        return shared_months(scenarios) > 0
    except Exception:
        return False


def group_tasks(resolved: ResolvedDesign, todo: Sequence[RunSpec], workers: int = 1) -> list[RunSpec | GroupSpec]:
    """The tasks of a forked batch: a :class:`GroupSpec` per set of pending runs that share their past, else runs.

    Runs are grouped by seed and resolved parameters outside ``policy``; a group whose scenarios differ from the
    start (:func:`experiments.engine.fork.shared_months` is 0), or that has one run, stays as plain runs. While
    there are fewer tasks than ``workers``, the largest group of four or more runs is split in two, so forking
    never leaves workers idle that an unforked batch would use. Tasks keep the design's order of their first run.
    """
    by_key: dict[tuple[Any, ...], list[RunSpec]] = {}
    for spec in todo:
        outside = _outside_policy(resolved, spec)
        key = (spec.seed, outside) if outside is not None else ("run", spec.run_id)
        by_key.setdefault(key, []).append(spec)
    chunks: list[list[RunSpec]] = []
    for specs in by_key.values():
        if len(specs) > 1 and _shares_months(specs):
            chunks.append(specs)
        else:
            chunks.extend([spec] for spec in specs)
    while len(chunks) < workers:
        largest = max(chunks, key=len, default=[])
        if len(largest) < 4:
            break
        i = chunks.index(largest)
        half = len(largest) // 2
        chunks[i:i + 1] = [largest[:half], largest[half:]]
    order = {spec.run_id: i for i, spec in enumerate(todo)}
    chunks.sort(key=lambda chunk: order[chunk[0].run_id])
    return [GroupSpec(tuple(chunk)) if len(chunk) > 1 else chunk[0] for chunk in chunks]


# ------------------------------------------------------------------------------------------ outcome
@dataclass
class BatchOutcome:
    """What a batch session did.

    Attributes:
        out: the batch directory.
        total: runs in the design.
        skipped: runs already ok in the directory (not rerun).
        ok: runs that finished ok in this session.
        failed: ``runs`` rows of runs that failed in this session.
        lost: runs lost to a dead worker (not recorded; a rerun runs them).
        lost_reason: why they were lost.
        interrupted: the session was stopped by Ctrl-C.
        summary: the horizon summary of every ok run in the directory.
        executor: the executor's description.
        seconds: wall time of the session.
        grown_from: the replications ``out`` held when this session grew it to more (None otherwise).
    """

    out: Path
    total: int
    skipped: int = 0
    ok: int = 0
    failed: list[RunResult] = field(default_factory=list)
    lost: int = 0
    lost_reason: str = ""
    interrupted: bool = False
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    executor: str = ""
    seconds: float = 0.0
    grown_from: int | None = None

    @property
    def not_run(self) -> int:
        """Runs of the design with no ok row after this session (failed, lost or never started)."""
        return self.total - self.skipped - self.ok

    @property
    def status(self) -> str:
        """``complete``, ``interrupted``, ``workers-lost`` or ``failed-runs``."""
        if self.interrupted:
            return "interrupted"
        if self.lost:
            return "workers-lost"
        return "failed-runs" if self.not_run else "complete"


def run_batch(
    resolved: ResolvedDesign,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    argv: Sequence[str] = (),
    fork: bool = True,
) -> BatchOutcome:
    """Run every run of a design not already stored ok in ``out``, storing each as it finishes.

    Args:
        resolved: the validated design.
        out: the batch directory (created; a rerun of the same design resumes it, and the same design with more
            replications grows it).
        workers: process count (default ``os.cpu_count()``; 1 runs in this process).
        scheduler: ``"local"`` or a dask scheduler address; None for the local process pool.
        progress: show a progress bar on stderr (tqdm disables itself when stderr is not a terminal).
        argv: the command line, for the manifest.
        fork: run the months that pending runs share once and fork (:func:`group_tasks`); the stored tables
            are the same either way, and a store made either way resumes either way (the fingerprint ignores it).
            The session in the manifest records ``fork`` and the number of ``fork_groups``.

    Returns:
        The outcome; ``outcome.interrupted`` is set after Ctrl-C (nothing is raised for it).

    Raises:
        StoreError: if ``out`` holds another design or is not usable (nothing is changed).
        experiments.extras.MissingExtra: if a ``scheduler`` is given without the ``dask`` extra (nothing is changed).
        OSError: if the scheduler cannot be reached or results cannot be written.
    """
    from tqdm import tqdm

    from experiments.extras import require

    if scheduler is not None:  # before the store is touched: a core install has no dask
        require("dask", "dask", "distributed", what=f"--scheduler {scheduler} (the dask executor)")
    t0 = time.perf_counter()
    store = open_store(out, resolved, argv)
    done = store.ok_run_ids()
    todo = [spec for spec in resolved.runs if spec.run_id not in done]
    outcome = BatchOutcome(Path(out), total=len(resolved.runs), skipped=len(resolved.runs) - len(todo),
                           grown_from=store.grown_from)
    executor: Executor | None = None
    bar = tqdm(total=outcome.total, initial=outcome.skipped, unit="run", file=sys.stderr,
               disable=None if progress else True, dynamic_ncols=True, desc="runs")
    bar.set_postfix(failed=0)
    try:
        with _InterruptGuard() as guard:
            if todo:
                try:
                    executor = make_executor(workers, scheduler)
                except Exception as exc:
                    bar.close()
                    store.finish({"ok": 0, "failed": 0, "lost": 0, "skipped": outcome.skipped,
                                  "not_run": outcome.not_run}, "executor-failed")
                    raise OSError(f"cannot start the executor: {type(exc).__name__}: {exc}") from exc
                outcome.executor = executor.name
                tasks: list[RunSpec | GroupSpec] = list(todo)
                if fork:
                    count = workers if workers is not None else (os.cpu_count() or 1)
                    tasks = group_tasks(resolved, todo, count)
                session = store.manifest["sessions"][-1]
                session["fork"] = fork
                session["fork_groups"] = sum(isinstance(task, GroupSpec) for task in tasks)
                for result in executor.run(tasks):
                    with guard.critical():
                        store.write_result(result)
                    if result.status == "ok":
                        outcome.ok += 1
                    else:
                        outcome.failed.append(result)
                        bar.set_postfix(failed=len(outcome.failed), refresh=False)
                    bar.update(1)
    except WorkersLost as exc:
        outcome.lost, outcome.lost_reason = exc.lost, exc.reason
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        bar.close()
        if executor is not None:
            executor.close()
    counts = {"ok": outcome.ok, "failed": len(outcome.failed), "lost": outcome.lost, "skipped": outcome.skipped,
              "not_run": outcome.not_run}
    if not outcome.interrupted:
        outcome.summary = horizon_summary(read_store(out)["model"], resolved)
        store.write_summary(outcome.summary)
    outcome.seconds = time.perf_counter() - t0
    store.finish(counts, outcome.status)
    return outcome
