"""Executors: where a batch's runs execute. Each takes run specs and yields results as runs finish.

* :class:`InProcessExecutor` (``workers=1``): one after another in this process;
* :class:`ProcessPoolExecutor` (``workers=W``): ``W`` spawned processes with single-threaded BLAS;
* :class:`DaskExecutor`: dask.distributed (``"tcp://host:port"`` for an existing cluster, ``"local"`` for a
  ``LocalCluster`` of ``W`` single-threaded worker processes).

Every executor calls the same :func:`experiments.engine.tasks.execute_run` for a run, and
:func:`experiments.engine.tasks.execute_group` for a group of runs that share their past (a forked batch), so the
same design gives identical tables on each. A task is a :class:`RunSpec` or a :class:`GroupSpec`; the executors
yield one result per run either way, and count a lost group as all its runs lost.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import pandas as pd

from experiments.engine.tasks import GroupSpec, RunResult, RunSpec, execute_group, execute_run, task_specs

#: Environment that keeps BLAS/OpenMP single-threaded in worker processes: a batch already uses one process
#: per core, and nested BLAS threads would oversubscribe the cores. Must be set before numpy is imported.
BLAS_ENV: dict[str, str] = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

def worker_init() -> None:
    """Initializer of local pool workers: single-threaded BLAS and no SIGINT.

    The environment is also set in the parent before the pool spawns its workers (numpy may be imported
    before this runs); setting it here too covers libraries loaded later. Ctrl-C in a terminal reaches the
    whole process group; the driver alone handles it, so workers must not die half-way through a run.
    """
    import signal

    os.environ.update(BLAS_ENV)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class WorkersLost(Exception):
    """Worker processes died: the runs they held, and every run not yet started, were lost (not recorded)."""

    def __init__(self, lost: int, reason: str) -> None:
        """Record how many runs were lost and why."""
        self.lost = lost
        self.reason = reason
        super().__init__(f"{lost} run(s) lost: {reason}")


class Executor(Protocol):
    """Runs specs and yields their results as they finish; ``close`` stops everything still running."""

    def run(self, specs: Sequence[RunSpec | GroupSpec]) -> Iterator[RunResult]: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------ executors
class InProcessExecutor:
    """Runs one after another in this process (``--workers 1``)."""

    name = "in-process"

    def run(self, specs: Sequence[RunSpec | GroupSpec]) -> Iterator[RunResult]:
        """Yield each run's result in order."""
        for spec in specs:
            if isinstance(spec, GroupSpec):
                yield from execute_group(spec)
            else:
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


def _submitted(task: RunSpec | GroupSpec) -> tuple[Any, RunSpec | GroupSpec]:
    """The function a worker calls for a task, and its argument."""
    return (execute_group, task) if isinstance(task, GroupSpec) else (execute_run, task)


def _as_list(result: RunResult | list[RunResult]) -> list[RunResult]:
    return result if isinstance(result, list) else [result]


def _failed(spec: RunSpec, exc: BaseException) -> RunResult:
    """A failed result for a run whose result could not be returned (e.g. it could not be pickled)."""
    now = pd.Timestamp.now(tz="UTC").isoformat()
    return RunResult(spec, "failed", f"{type(exc).__name__}: {exc}", "", now, now, 0.0, "")


#: Seconds a pool with a dead worker may go without finishing any run before its pending runs count as lost.
STALL_SECONDS = 10.0


class ProcessPoolExecutor:
    """A local pool of ``workers`` spawned processes (the default executor)."""

    def __init__(self, workers: int) -> None:
        """Prepare a pool of ``workers`` processes (started on :meth:`run`)."""
        self.workers = workers
        self.name = f"process pool ({workers} workers)"
        self._pool: Any = None

    def run(self, specs: Sequence[RunSpec | GroupSpec]) -> Iterator[RunResult]:
        """Submit every task and yield results as they complete.

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
            pending = {self._pool.submit(*_submitted(spec)): spec for spec in specs}
        lost, reason = 0, ""
        dead_since: float | None = None
        while pending:
            done, _ = cf.wait(pending, timeout=1.0, return_when=cf.FIRST_COMPLETED)
            if not done:
                # A worker killed while writing its result can leave the pool's result pipe holding half a
                # message, and the pool then waits for the rest forever instead of failing its futures. A
                # dead worker and no answer for STALL_SECONDS: the pending runs are lost, as they would be.
                if dead_since is None and self._a_worker_died():
                    dead_since = time.monotonic()
                if dead_since is not None and time.monotonic() - dead_since > STALL_SECONDS:
                    lost += sum(len(task_specs(task)) for task in pending.values())
                    reason = reason or "a worker process died and the pool stopped answering"
                    pending.clear()
                    self.close()
                continue
            for future in done:
                spec = pending.pop(future)
                try:
                    results = _as_list(future.result())
                except (BrokenProcessPool, cf.CancelledError) as exc:
                    lost += len(task_specs(spec))
                    reason = reason or str(exc) or type(exc).__name__
                    continue
                except Exception as exc:
                    results = [_failed(one, exc) for one in task_specs(spec)]
                yield from results
        if lost:
            raise WorkersLost(lost, reason)

    def _a_worker_died(self) -> bool:
        """Whether any of the pool's worker processes has exited (they live until the pool shuts down)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return any(process.exitcode is not None for process in list(processes.values()))

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
            experiments.extras.MissingExtra: without the ``dask`` extra.
            OSError: if the scheduler cannot be reached.
        """
        import logging

        from experiments.extras import require

        require("dask", "dask", "distributed", what="the dask executor")
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

    def run(self, specs: Sequence[RunSpec | GroupSpec]) -> Iterator[RunResult]:
        """Submit every task and yield results as they complete (a run that kills workers is failed)."""
        from distributed import as_completed

        if not specs:
            return
        runs = [s for s in specs if not isinstance(s, GroupSpec)]
        groups = [s for s in specs if isinstance(s, GroupSpec)]
        futures = []
        if runs:
            futures += self._client.map(execute_run, runs, pure=False, key=[f"run-{s.run_id}" for s in runs])
        if groups:
            futures += self._client.map(execute_group, groups, pure=False, key=[g.key for g in groups])
        self._futures = futures
        by_key = {future.key: spec for future, spec in zip(futures, [*runs, *groups], strict=True)}
        for future in as_completed(futures):
            try:
                results = _as_list(future.result())
            except Exception as exc:
                results = [_failed(one, exc) for one in task_specs(by_key[future.key])]
            # Free the result on the cluster once it is stored here.
            future.release()
            yield from results

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


