"""Unit tests for experiments.engine.executors.ProcessPoolExecutor's stall watchdog (no real processes)."""

from __future__ import annotations

import concurrent.futures as cf

import pytest

from experiments.engine import executors
from experiments.engine.tasks import RunSpec

SPECS = [RunSpec(f"r{i}", "baseline-2024", 0, (), (), i, 11 + i, 1500, 3) for i in range(3)]


class _Process:
    def __init__(self, exitcode):
        self.exitcode = exitcode

    def terminate(self):
        pass

    def join(self, timeout=None):
        pass


def _pool_class(exitcode, finished):
    """A stand-in for concurrent.futures.ProcessPoolExecutor whose futures never finish, except ``finished``."""

    class Pool:
        def __init__(self, *args, **kwargs):
            self._processes = {1: _Process(None), 2: _Process(exitcode)}

        def submit(self, fn, spec):
            future = cf.Future()
            if spec.run_id in finished:
                future.set_result(spec.run_id)
            return future

        def shutdown(self, wait=True, cancel_futures=False):
            pass

    return Pool


def test_a_pool_that_stops_answering_after_a_worker_died_loses_its_pending_runs(monkeypatch):
    """A worker is dead and the pool finishes nothing more: after STALL_SECONDS the pending runs count as lost
    (WorkersLost), the finished one is still yielded, and the pool is closed."""
    monkeypatch.setattr(cf, "ProcessPoolExecutor", _pool_class(exitcode=-9, finished={"r0"}))
    monkeypatch.setattr(executors, "STALL_SECONDS", 0.2)
    pool = executors.ProcessPoolExecutor(2)
    got = []
    with pytest.raises(executors.WorkersLost) as err:
        for result in pool.run(SPECS):
            got.append(result)
    assert got == ["r0"]
    assert err.value.lost == 2 and "stopped answering" in err.value.reason
    assert pool._pool is None


def test_live_workers_are_waited_for(monkeypatch):
    """Every worker alive: however long the runs take (here 1.5 s with STALL_SECONDS 0), none is lost; the results
    are yielded when they come."""
    import threading
    import time

    futures = []

    class Pool(_pool_class(exitcode=None, finished=set())):
        def submit(self, fn, spec):
            future = super().submit(fn, spec)
            futures.append((future, spec.run_id))
            return future

    monkeypatch.setattr(cf, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(executors, "STALL_SECONDS", 0.0)
    pool = executors.ProcessPoolExecutor(2)
    got, errors = [], []

    def consume():
        try:
            got.extend(pool.run(SPECS))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(1.5)
    assert not errors and not got and pool._pool is not None
    for future, run_id in futures:
        future.set_result(run_id)
    thread.join(timeout=10)
    assert not errors and sorted(got) == ["r0", "r1", "r2"]
