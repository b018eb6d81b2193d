"""The batch engine: run a resolved design on an executor and store every run as it finishes.

``zhudai compare``, ``zhudai sweep`` and ``zhudai batch`` all build a :class:`~experiments.design.Design`
and call :func:`run_batch`. Executors:

* in-process (``workers=1``): runs one after another in this process;
* local process pool (``workers=W``): ``W`` spawned processes with single-threaded BLAS;
* dask.distributed (``scheduler="tcp://host:port"`` for an existing cluster, ``"local"`` for a
  ``LocalCluster`` of ``W`` single-threaded worker processes).

Every executor calls the same pure :func:`experiments.runner.execute_run`, so the same design gives identical
tables on each. Faults: a run that raises is stored as ``failed`` and the batch goes on; a worker killed in
the process pool breaks the pool, so the batch stops, keeps every finished run and leaves the lost ones
unrecorded for a rerun; dask reschedules a killed worker's runs itself and reports a run that keeps killing
workers as failed. Ctrl-C stops submitting, cancels what is pending and keeps every finished run.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from experiments.design import ResolvedDesign
from experiments.results import open_store, read_store
from experiments.runner import BLAS_ENV, RunResult, RunSpec, execute_run, worker_init

#: Horizon outcomes in the summary (model-table columns, read at each run's last month).
SUMMARY_METRICS = (
    "head_share", "hhi", "active_platforms_head", "active_platforms_waist", "active_platforms_tail",
    "platform_exits", "rationed_share", "shadow_volume", "default_rate", "spiral_share", "npl_ratio",
)

#: Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30; 1.96 (normal) beyond.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    """t(0.975, df) from :data:`T975`; 1.96 for df > 30."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    return T975[df - 1] if df <= len(T975) else 1.96


class WorkersLost(Exception):
    """Worker processes died: the runs they held, and every run not yet started, were lost (not recorded)."""

    def __init__(self, lost: int, reason: str) -> None:
        """Record how many runs were lost and why."""
        self.lost = lost
        self.reason = reason
        super().__init__(f"{lost} run(s) lost: {reason}")


class Executor(Protocol):
    """Runs specs and yields their results as they finish; ``close`` stops everything still running."""

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunResult]: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------ executors
class InProcessExecutor:
    """Runs one after another in this process (``--workers 1``)."""

    name = "in-process"

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunResult]:
        """Yield each run's result in order."""
        for spec in specs:
            yield execute_run(spec)

    def close(self) -> None:
        """Nothing to stop."""


@contextlib.contextmanager
def blas_environment() -> Iterator[None]:
    """Set :data:`BLAS_ENV` in ``os.environ`` for the block, restoring the previous values afterwards.

    Spawned workers copy the parent's environment when they start, before they import numpy, which is the
    only moment BLAS reads these variables.
    """
    saved = {key: os.environ.get(key) for key in BLAS_ENV}
    os.environ.update(BLAS_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _failed(spec: RunSpec, exc: BaseException) -> RunResult:
    """A failed result for a run whose result could not be returned (e.g. it could not be pickled)."""
    now = pd.Timestamp.now(tz="UTC").isoformat()
    return RunResult(spec, "failed", f"{type(exc).__name__}: {exc}", "", now, now, 0.0, "")


class ProcessPoolExecutor:
    """A local pool of ``workers`` spawned processes (the default executor)."""

    def __init__(self, workers: int) -> None:
        """Prepare a pool of ``workers`` processes (started on :meth:`run`)."""
        self.workers = workers
        self.name = f"process pool ({workers} workers)"
        self._pool: Any = None

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunResult]:
        """Submit every spec and yield results as they complete.

        Raises:
            WorkersLost: after yielding every finished result, if a worker process died.
        """
        import concurrent.futures as cf
        import multiprocessing
        from concurrent.futures.process import BrokenProcessPool

        if not specs:
            return
        # 'spawn', not fork: a forked child would inherit the driver's threads and already-initialized BLAS.
        # Submitting everything at once starts all workers now, inside the BLAS environment.
        with blas_environment():
            self._pool = cf.ProcessPoolExecutor(max_workers=min(self.workers, len(specs)),
                                                mp_context=multiprocessing.get_context("spawn"),
                                                initializer=worker_init)
            pending = {self._pool.submit(execute_run, spec): spec for spec in specs}
        lost, reason = 0, ""
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                spec = pending.pop(future)
                try:
                    result = future.result()
                except (BrokenProcessPool, cf.CancelledError) as exc:
                    lost += 1
                    reason = reason or str(exc) or type(exc).__name__
                    continue
                except Exception as exc:
                    result = _failed(spec, exc)
                yield result
        if lost:
            raise WorkersLost(lost, reason)

    def close(self) -> None:
        """Cancel pending runs and stop the workers without waiting for running ones."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # The executor has no public way to stop a running task; terminate its processes so an interrupted
        # batch exits promptly instead of waiting for runs whose results would be discarded.
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=5)


class DaskExecutor:
    """Runs on dask.distributed: an existing scheduler, or a ``LocalCluster`` when ``address == "local"``."""

    def __init__(self, address: str, workers: int) -> None:
        """Connect to ``address`` or start a local cluster of ``workers`` single-threaded processes.

        Raises:
            OSError: if the scheduler cannot be reached.
        """
        import logging

        import dask
        from distributed import Client, LocalCluster

        self._cluster = None
        if address == "local":
            self.name = f"dask LocalCluster ({workers} workers)"
            # pre-spawn-environ is applied before a worker process imports anything; env= keeps it set.
            with dask.config.set({"distributed.nanny.pre-spawn-environ": dict(BLAS_ENV)}), blas_environment():
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                             env=dict(BLAS_ENV), dashboard_address=None,
                                             silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        else:
            self.name = f"dask scheduler {address}"
            self._client = Client(address, timeout="20s")
        self._futures: list[Any] = []

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunResult]:
        """Submit every spec and yield results as they complete (a run that kills workers is failed)."""
        from distributed import as_completed

        if not specs:
            return
        futures = self._client.map(execute_run, list(specs), pure=False, key=[f"run-{s.run_id}" for s in specs])
        self._futures = futures
        by_key = {future.key: spec for future, spec in zip(futures, specs, strict=True)}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:
                result = _failed(by_key[future.key], exc)
            # Free the result on the cluster once it is stored here.
            future.release()
            yield result

    def close(self) -> None:
        """Cancel pending runs and shut down the client (and the local cluster, if started here)."""
        with contextlib.suppress(Exception):
            if self._futures:
                self._client.cancel(self._futures)
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor for ``--workers``/``--scheduler`` (defaults: a process pool of ``os.cpu_count()`` workers).

    Raises:
        OSError: if a dask scheduler cannot be reached.
    """
    count = workers if workers is not None else (os.cpu_count() or 1)
    if scheduler is not None:
        return DaskExecutor(scheduler, count)
    return InProcessExecutor() if count == 1 else ProcessPoolExecutor(count)


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
) -> BatchOutcome:
    """Run every run of a design not already stored ok in ``out``, storing each as it finishes.

    Args:
        resolved: the validated design.
        out: the batch directory (created; a rerun of the same design resumes it).
        workers: process count (default ``os.cpu_count()``; 1 runs in this process).
        scheduler: ``"local"`` or a dask scheduler address; None for the local process pool.
        progress: show a progress bar on stderr (tqdm disables itself when stderr is not a terminal).
        argv: the command line, for the manifest.

    Returns:
        The outcome; ``outcome.interrupted`` is set after Ctrl-C (nothing is raised for it).

    Raises:
        StoreError: if ``out`` holds another design or is not usable (nothing is changed).
        OSError: if the scheduler cannot be reached or results cannot be written.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    store = open_store(out, resolved, argv)
    done = store.ok_run_ids()
    todo = [spec for spec in resolved.runs if spec.run_id not in done]
    outcome = BatchOutcome(Path(out), total=len(resolved.runs), skipped=len(resolved.runs) - len(todo))
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
                for result in executor.run(todo):
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


# ------------------------------------------------------------------------------------------- summary
def horizon_summary(model: pd.DataFrame, resolved: ResolvedDesign) -> pd.DataFrame:
    """Outcomes at the horizon (each run's last month): mean and 95% interval over replications.

    The interval is mean ± t(0.975, R-1)·sd/√R; with one replication only the mean is given.

    Args:
        model: the batch's model table (key columns included).
        resolved: the design, for the scenario order and sweep keys.

    Returns:
        One row per scenario, sweep point and metric: ``scenario, point, <sweep keys>, metric, runs, mean,
        sd, low, high`` (``sd``, ``low``, ``high`` empty with one run).
    """
    keys = resolved.vary_keys
    columns = ["scenario", "point", *keys, "metric", "runs", "mean", "sd", "low", "high"]
    if model.empty:
        return pd.DataFrame(columns=columns)
    last = model.loc[model.groupby("run_id")["step"].idxmax()]
    metrics = [m for m in SUMMARY_METRICS if m in last.columns]
    order = {name: i for i, name in enumerate(resolved.design.scenarios)}
    rows = []
    for (scenario, point), group in last.groupby(["scenario", "point"], sort=False):
        values = {key: group[key].iloc[0] for key in keys}
        for metric in metrics:
            x = group[metric].astype(float).dropna().to_numpy()
            n = len(x)
            mean = float(x.mean()) if n else math.nan
            sd = float(x.std(ddof=1)) if n > 1 else math.nan
            half = t_quantile(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
            rows.append({"scenario": scenario, "point": int(point), **values, "metric": metric, "runs": n,
                         "mean": mean, "sd": sd, "low": mean - half, "high": mean + half})
    df = pd.DataFrame(rows, columns=columns)
    df["_order"] = df["scenario"].map(order).fillna(len(order))
    df["_metric"] = df["metric"].map({m: i for i, m in enumerate(SUMMARY_METRICS)})
    return df.sort_values(["_order", "point", "_metric"], kind="stable").drop(columns=["_order", "_metric"]) \
        .reset_index(drop=True)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def render_summary(summary: pd.DataFrame, resolved: ResolvedDesign) -> str:
    """The summary as text: one block per scenario and sweep point, one line per metric (mean ± half-width)."""
    if summary.empty:
        return "no finished runs to summarize"
    keys = resolved.vary_keys
    lines: list[str] = []
    for (scenario, point), group in summary.groupby(["scenario", "point"], sort=False):
        where = ", ".join(f"{k}={group[k].iloc[0]}" for k in keys)
        runs = int(group["runs"].max())
        lines.append(f"{scenario}" + (f" [point {point}: {where}]" if keys else "") + f"  ({runs} run(s), at horizon)")
        for row in group.itertuples(index=False):
            text = _number(row.mean)
            if row.runs > 1 and not math.isnan(row.high):
                text += f" ± {_number((row.high - row.low) / 2)}"
            lines.append(f"  {row.metric:<24} {text}")
    lines.append("(mean ± half-width of the 95% interval over replications: t(0.975, R-1)·sd/√R)")
    return "\n".join(lines)
