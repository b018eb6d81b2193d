"""The batch engine's forked runs (experiments/engine/batch.py ``fork=True``, tasks.execute_group): the stored
tables equal those of an unforked batch on every executor, a store resumes across the option either way, the
grouping of pending runs, and the failure capture of a group (the shared months fail every run, a run after the
fork fails alone).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from experiments.engine import fork as fork_module
from experiments.engine.batch import group_tasks, run_batch
from experiments.engine.design import Design
from experiments.engine.tasks import FAULT_ENV, GroupSpec, RunSpec, execute_group, execute_run
from experiments.store.batch_dir import read_store

SCENARIOS = ("baseline-2024", "new-rules-2025")
#: Run-dependent columns of the runs table: when and where each run ran.
TIMING = ["started", "finished", "seconds", "worker"]


def compare_design(**kw) -> Design:
    """2 scenarios x 2 replicates at 5,000 borrowers, 24 months from 2024-01 with the burn-in: they share the
    burn-in and 15 recorded months (new-rules-2025 diverges in 2025-04)."""
    base = {"scenarios": SCENARIOS, "replications": 2, "borrowers": 5000, "months": 24}
    return Design(**{**base, **kw})


def tiny_design(**kw) -> Design:
    base = {"scenarios": SCENARIOS, "replications": 2, "borrowers": 1500, "months": 4,
            "overrides": ("run.burn_in=0",)}
    return Design(**{**base, **kw})


def assert_same_store(got_dir, expected_dir) -> None:
    got, expected = read_store(got_dir), read_store(expected_dir)
    for name in ("model", "platforms", "funders"):
        assert len(expected[name]) > 0
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True)
    pd.testing.assert_frame_equal(got["runs"].drop(columns=TIMING), expected["runs"].drop(columns=TIMING),
                                  check_exact=True)


def manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def unforked(tmp_path_factory):
    out = tmp_path_factory.mktemp("fork") / "unforked"
    outcome = run_batch(compare_design().resolve(), out, workers=1, progress=False, fork=False)
    assert outcome.status == "complete"
    assert manifest(out)["sessions"][-1]["fork"] is False
    return out


@pytest.mark.parametrize("executor", [{"workers": 1}, {"workers": 2}, {"workers": 2, "scheduler": "local"}],
                         ids=["in-process", "process-pool", "dask-local"])
def test_forked_batch_stores_the_tables_of_the_unforked_batch(unforked, tmp_path, executor):
    out = tmp_path / "forked"
    outcome = run_batch(compare_design().resolve(), out, progress=False, fork=True, **executor)
    assert outcome.status == "complete" and outcome.ok == 4
    session = manifest(out)["sessions"][-1]
    assert session["fork"] is True and session["fork_groups"] == 2
    assert_same_store(out, unforked)
    assert manifest(out)["fingerprint"] == manifest(unforked)["fingerprint"]


@pytest.mark.parametrize("first,second", [(False, True), (True, False)], ids=["unforked-then-forked",
                                                                             "forked-then-unforked"])
def test_a_store_resumes_across_the_fork_option(unforked, tmp_path, monkeypatch, first, second):
    """Replicate 1 fails in the first session (one run of each group); the second session, with the other option,
    accepts the store, runs only the failed runs (as a group when forking) and ends with the unforked tables."""
    out = tmp_path / "resumed"
    monkeypatch.setenv(FAULT_ENV, "replicate=1")
    outcome = run_batch(compare_design().resolve(), out, workers=1, progress=False, fork=first)
    assert outcome.ok == 2 and len(outcome.failed) == 2
    assert {r.error for r in outcome.failed} == {"RuntimeError: injected fault"}
    monkeypatch.delenv(FAULT_ENV)
    outcome = run_batch(compare_design().resolve(), out, workers=1, progress=False, fork=second)
    assert outcome.status == "complete" and outcome.skipped == 2 and outcome.ok == 2
    assert manifest(out)["sessions"][-1]["fork_groups"] == (1 if second else 0)
    assert manifest(out)["fingerprint"] == manifest(unforked)["fingerprint"]
    runs = read_store(out)["runs"]
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    assert_same_store(out, unforked)


# -------------------------------------------------------------------------------------------- grouping
def test_runs_are_grouped_by_seed_and_split_to_feed_the_workers():
    resolved = Design(scenarios=("baseline-2024", "new-rules-2025", "cap-20", "cap-12"), replications=2,
                      borrowers=1500, months=4).resolve()
    tasks = group_tasks(resolved, resolved.runs, workers=2)
    assert [type(t) for t in tasks] == [GroupSpec, GroupSpec]
    for task in tasks:
        assert len({s.seed for s in task.specs}) == 1 and len(task.specs) == 4
    assert sorted(s.run_id for t in tasks for s in t.specs) == sorted(s.run_id for s in resolved.runs)
    # Four workers, two groups of four: each group is split in two.
    split = group_tasks(resolved, resolved.runs, workers=4)
    assert [len(t.specs) for t in split] == [2, 2, 2, 2]
    # Only the pending runs of a group are grouped; a lone pending run is a plain run.
    lone = [s for s in resolved.runs if s.replicate == 0][:1] + [s for s in resolved.runs if s.replicate == 1]
    tasks = group_tasks(resolved, lone, workers=1)
    assert isinstance(tasks[0], RunSpec) and isinstance(tasks[1], GroupSpec) and len(tasks[1].specs) == 4


def test_runs_that_differ_from_the_start_stay_single():
    # Different burn-ins differ outside policy; different legacy ceilings differ in policy from the start.
    for vary in ((("run.burn_in", (0, 1)),), (("policy.rate_cap.legacy_apr", (0.24, 0.36)),)):
        resolved = Design(scenarios=("baseline-2024",), replications=2, borrowers=1500, months=4,
                          vary=vary).resolve()
        tasks = group_tasks(resolved, resolved.runs, workers=1)
        assert all(isinstance(t, RunSpec) for t in tasks) and len(tasks) == 4


# ------------------------------------------------------------------------------------------- failures
def _group() -> GroupSpec:
    resolved = tiny_design().resolve()
    (task, _) = group_tasks(resolved, resolved.runs, workers=1)
    assert isinstance(task, GroupSpec)
    return task


def test_a_group_gives_each_run_the_result_of_execute_run():
    group = _group()
    for got, spec in zip(execute_group(group), group.specs, strict=True):
        expected = execute_run(spec)
        assert got.spec == spec and got.status == expected.status == "ok"
        for name, table in expected.tables.items():
            pd.testing.assert_frame_equal(got.tables[name], table, check_exact=True)


def test_a_failure_in_the_shared_months_fails_every_run_of_the_group(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("prefix broke")

    monkeypatch.setattr(fork_module, "snapshot", broken)
    group = _group()
    results = execute_group(group)
    assert [r.spec for r in results] == list(group.specs)
    assert [r.status for r in results] == ["failed", "failed"]
    assert {r.error for r in results} == {"RuntimeError: prefix broke"} and all(r.traceback for r in results)
    assert all(not r.tables for r in results)


def test_a_failure_after_the_fork_fails_only_that_run(monkeypatch):
    real = fork_module.restore

    def restore(blob, scenario=None):
        if scenario is not None and scenario.name == "new-rules-2025":
            raise RuntimeError("continuation broke")
        return real(blob, scenario)

    monkeypatch.setattr(fork_module, "restore", restore)
    results = execute_group(_group())
    assert [r.status for r in results] == ["ok", "failed"]
    assert results[1].error == "RuntimeError: continuation broke" and results[1].spec.scenario == "new-rules-2025"
    assert set(results[0].tables) == {"model", "platforms", "funders"} and len(results[0].tables["model"]) == 4


def test_an_injected_fault_fails_only_its_run(monkeypatch):
    group = _group()
    monkeypatch.setenv(FAULT_ENV, group.specs[0].run_id)
    results = execute_group(group)
    assert [r.status for r in results] == ["failed", "ok"]
    assert results[0].error == "RuntimeError: injected fault"
