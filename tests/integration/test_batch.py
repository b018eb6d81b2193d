"""Batch commands end to end: identical results on every executor, common random numbers, resume after a
kill, failed runs, refusal of a different design, bad design files, Ctrl-C, and no temporary files left.

Runs are tiny (1,500-3,000 borrowers, 4-6 months, no burn-in).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments.cli.main import main
from experiments.engine.batch import run_batch
from experiments.engine.design import Design
from experiments.store.batch_dir import read_store

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ("baseline-2024", "new-rules-2025")
SMALL = ["--borrowers", "1500", "--months", "4", "--set", "run.burn_in=0"]


def small_design(**kw) -> Design:
    base = {"scenarios": SCENARIOS, "replications": 2, "borrowers": 1500, "months": 4,
            "overrides": ("run.burn_in=0",)}
    return Design(**{**base, **kw})


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def zhudai(args: list[str], env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "experiments", *args], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def wait_for_partition(out: Path, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Poll until the first runs partition appears; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((out / "runs.parquet").glob("run_id=*/part-0.parquet")):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("no run finished in time")


def model_table(out: Path) -> pd.DataFrame:
    return read_store(out)["model"]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The small design run in-process: the reference for every other executor."""
    out = tmp_path_factory.mktemp("batch") / "inproc"
    outcome = run_batch(small_design().resolve(), out, workers=1, progress=False)
    assert outcome.status == "complete"
    return out


# ------------------------------------------------------------------------------------------ executors
def test_store_layout_and_keys(reference):
    tables = read_store(reference)
    assert set(tables) == {"runs", "model", "platforms", "funders"}
    runs = tables["runs"]
    assert len(runs) == 4 and set(runs["status"]) == {"ok"} and set(runs["error"]) == {""}
    for column in ("run_id", "scenario", "point", "overrides", "replicate", "seed", "borrowers", "months",
                   "started", "finished", "seconds", "worker"):
        assert column in runs.columns
    for name in ("model", "platforms", "funders"):
        df = tables[name]
        assert {"run_id", "scenario", "replicate", "seed", "step", "date"} <= set(df.columns)
        assert set(df["run_id"]) == set(runs["run_id"])
    assert len(pd.read_parquet(reference / "model.parquet")) == 4 * 4
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["fingerprint"]) == 64
    assert len(manifest["design"]["runs"]) == 4 and manifest["design"]["seeds"]
    summary = pd.read_csv(reference / "summary.csv")
    assert set(summary["scenario"]) == set(SCENARIOS) and "head_share" in set(summary["metric"])
    assert not temp_files(reference)


@pytest.mark.parametrize("executor", [{"workers": 2}, {"workers": 2, "scheduler": "local"}],
                         ids=["process-pool", "dask-local"])
def test_every_executor_gives_identical_tables(reference, tmp_path, executor):
    out = tmp_path / "out"
    outcome = run_batch(small_design().resolve(), out, progress=False, **executor)
    assert outcome.status == "complete", outcome
    expected, got = read_store(reference), read_store(out)
    for name in ("model", "platforms", "funders"):
        pd.testing.assert_frame_equal(got[name], expected[name])
    assert got["runs"]["run_id"].tolist() == expected["runs"]["run_id"].tolist()
    assert not temp_files(out)


def test_common_random_numbers_give_identical_pre_policy_months(reference):
    model = model_table(reference)
    a = model[model["scenario"] == SCENARIOS[0]]
    b = model[model["scenario"] == SCENARIOS[1]]
    assert a.groupby("replicate")["seed"].first().tolist() == b.groupby("replicate")["seed"].first().tolist()
    # Four months from 2024-01: the 2025 rules are not yet in force, so paired runs are identical.
    own = [c for c in a.columns if c not in ("run_id", "scenario", "point")]
    pd.testing.assert_frame_equal(a[own].reset_index(drop=True), b[own].reset_index(drop=True))


# ------------------------------------------------------------------------------------ resume & faults
def test_resume_after_kill_matches_an_uninterrupted_batch(tmp_path, reference):
    out = tmp_path / "killed"
    args = ["compare", *SCENARIOS, "--replications", "6", "--borrowers", "3000", "--months", "6",
            "--set", "run.burn_in=0", "--workers", "1", "--quiet", "--out", str(out)]
    proc = zhudai(args)
    started = wait_for_partition(out, proc)
    if started:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    partial = read_store(out)["runs"]
    assert 0 < len(partial) <= 12
    killed_midway = len(partial) < 12
    rerun = zhudai(args)
    stdout, stderr = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, stderr
    assert f"{len(partial)} already there" in stdout
    assert not temp_files(out)
    fresh = tmp_path / "fresh"
    code, _, err = run_main([*args[:-1], str(fresh)])
    assert code == 0, err
    for name in ("model", "platforms", "funders"):
        pd.testing.assert_frame_equal(read_store(out)[name], read_store(fresh)[name])
    assert killed_midway or pytest.skip("the batch finished before it could be killed")


def test_failed_run_is_recorded_reported_and_retried(tmp_path):
    out = tmp_path / "faulty"
    args = ["compare", *SCENARIOS, "--replications", "2", *SMALL, "--workers", "2", "--quiet", "--out", str(out)]
    proc = zhudai(args, env={"ZHUDAI_FAULT_RUNS": "replicate=1"})
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 1
    assert "injected fault" in stderr and "2 run(s) failed" in stderr
    runs = read_store(out)["runs"]
    failed = runs[runs["status"] == "failed"]
    assert set(failed["replicate"]) == {1} and len(failed) == 2
    assert set(failed["error"]) == {"RuntimeError: injected fault"}
    assert set(runs.loc[runs["status"] == "ok", "replicate"]) == {0}
    assert set(read_store(out)["model"]["replicate"]) == {0}

    proc = zhudai(args)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    runs = read_store(out)["runs"]
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    assert "2 already there" in stdout
    assert not temp_files(out)


def test_killed_pool_worker_loses_only_unfinished_runs(tmp_path):
    out = tmp_path / "broken"
    args = ["compare", *SCENARIOS, "--replications", "4", "--borrowers", "3000", "--months", "6",
            "--set", "run.burn_in=0", "--workers", "2", "--quiet", "--out", str(out)]
    proc = zhudai(args)
    if not wait_for_partition(out, proc):
        pytest.skip("the batch finished before a worker could be killed")
    workers = set(read_store(out)["runs"]["worker"])
    pid = int(next(iter(workers)).rsplit("/", 1)[1])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _stdout, stderr = proc.communicate(timeout=120)
    runs = read_store(out)["runs"]
    if len(runs) == 8:
        pytest.skip("every run finished before the worker was killed")
    assert proc.returncode == 1, stderr
    assert "lost" in stderr and set(runs["status"]) == {"ok"}
    assert not temp_files(out)
    rerun = zhudai(args)
    _, stderr = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, stderr
    assert len(read_store(out)["runs"]) == 8


def test_different_design_on_existing_dir_is_refused_and_nothing_changes(reference, tmp_path):
    before = snapshot(reference)
    # Fewer replicates, more borrowers, other overrides: each setting that differs is named.
    code, _, err = run_main(["compare", *SCENARIOS, "--replications", "1", "--borrowers", "2000", "--months", "4",
                             "--set", "run.burn_in=1", "--workers", "1", "--out", str(reference)])
    assert code == 2
    assert "different design" in err and "Traceback" not in err and err.count("zhudai:") == 1
    assert ("differs in: replications 2 -> 1 (only growing is allowed), borrowers 1500 -> 2000, "
            "overrides [run.burn_in=0] -> [run.burn_in=1]") in err
    # More replicates are allowed, but not together with another change.
    code, _, err = run_main(["compare", *SCENARIOS, "--replications", "3", "--borrowers", "2000", "--months", "4",
                             "--set", "run.burn_in=0", "--workers", "1", "--out", str(reference)])
    assert code == 2
    assert "differs in: replications 2 -> 3 (growing is allowed), borrowers 1500 -> 2000." in err
    assert snapshot(reference) == before


def test_more_replications_grow_a_store_without_touching_its_runs(tmp_path):
    out = tmp_path / "grow"
    tiny = ["--borrowers", "2000", "--months", "6", "--set", "run.burn_in=0", "--workers", "1"]
    code, _, err = run_main(["compare", *SCENARIOS, "--replications", "1", *tiny, "--quiet", "--out", str(out)])
    assert code == 0, err
    first = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("run_id=*/part-0.parquet"))}
    assert len(first) == 2 * 4
    first_manifest = json.loads((out / "manifest.json").read_text())

    code, stdout, err = run_main(["compare", *SCENARIOS, "--replications", "2", *tiny, "--out", str(out)])
    assert code == 0, err
    assert "note: grew" in err and "from 1 to 2 replicates" in err
    assert "2 this session, 2 already there" in stdout
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in first} == first
    manifest = json.loads((out / "manifest.json").read_text())
    design = manifest["design"]
    assert design["replications"] == 2 and len(design["runs"]) == 4 and manifest["status"] == "complete"
    assert design["seeds"][:1] == first_manifest["design"]["seeds"]
    assert [r for r in design["runs"] if r["replicate"] == 0] == first_manifest["design"]["runs"]
    assert manifest["sessions"][-1]["grown_from_replications"] == 1
    # The end-of-batch summary: units and the paired difference from baseline-2024.
    assert "minus baseline-2024 [95% interval]" in stdout
    # Mean ± half-width, or mean [low, high] where the interval is clipped to 0-100% (2 replicates: t = 12.7).
    assert re.search(r"\n  head_share +% +[0-9.]+ (± [0-9.]+|\[[0-9.]+, [0-9.]+\]) +[+-][0-9.]+ pp \[", stdout)
    assert re.search(r"\n  shadow_volume +yuan +", stdout)
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["runs"] == 2).all()
    assert set(summary.loc[summary["scenario"] == SCENARIOS[1], "pairs"]) == {2}

    # The grown store holds what a 2-replicate batch made in one go holds.
    fresh = tmp_path / "fresh"
    code, _, err = run_main(["compare", *SCENARIOS, "--replications", "2", *tiny, "--quiet", "--out", str(fresh)])
    assert code == 0, err
    for name in ("model", "platforms", "funders"):
        pd.testing.assert_frame_equal(read_store(out)[name], read_store(fresh)[name])
    assert json.loads((fresh / "manifest.json").read_text())["fingerprint"] == manifest["fingerprint"]

    # Shrinking back is refused, and nothing changes.
    before = snapshot(out)
    code, _, err = run_main(["compare", *SCENARIOS, "--replications", "1", *tiny, "--quiet", "--out", str(out)])
    assert code == 2 and "replications 2 -> 1 (only growing is allowed)" in err
    assert snapshot(out) == before


def test_single_run_directory_is_not_taken_over(tmp_path):
    out = tmp_path / "single"
    assert run_main(["run", SCENARIOS[0], "--borrowers", "1500", "--months", "3", "--quiet", "--out", str(out)])[0] == 0
    before = snapshot(out)
    code, _, err = run_main(["compare", SCENARIOS[0], "--replications", "1", *SMALL, "--out", str(out)])
    assert code == 2 and "batch" in err
    assert snapshot(out) == before


def test_bad_design_file_lists_problems_without_traceback(tmp_path):
    design = tmp_path / "bad.toml"
    design.write_text('scenarios = ["baseline-2024", "nope"]\nreplications = 0\ncolour = "red"\n'
                      '[vary]\nmode = "zip"\n"policy.rate_cap.apr" = [0.2, 0.3]\n"run.burn_in" = [0]\n')
    proc = zhudai(["batch", str(design), "--out", str(tmp_path / "out")])
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in stderr
    for needle in ("colour: unknown key", "replications = 0", "equal length"):
        assert needle in stderr, needle
    assert not (tmp_path / "out").exists()


def test_bad_vary_is_exit_2(tmp_path):
    code, _, err = run_main(["sweep", SCENARIOS[1], "--vary", "policy.rate_cap.apr", "--out", str(tmp_path / "o")])
    assert code == 2 and "--vary 'policy.rate_cap.apr'" in err
    assert not (tmp_path / "o").exists()


def test_sweep_and_batch_file_store_sweep_columns(tmp_path):
    design = tmp_path / "sweep.toml"
    design.write_text('scenarios = ["new-rules-2025"]\nreplications = 1\nborrowers = 1500\nmonths = 4\n'
                      'overrides = ["run.burn_in=0"]\n[vary]\npolicy.rate_cap.apr = [0.2, 0.24]\n')
    code, stdout, err = run_main(["batch", str(design), "--workers", "1", "--out", str(tmp_path / "b")])
    assert code == 0, err
    via_sweep = tmp_path / "s"
    code, _, err = run_main(["sweep", "new-rules-2025", "--vary", "policy.rate_cap.apr=0.2,0.24", "--replications",
                             "1", *SMALL, "--workers", "1", "--quiet", "--out", str(via_sweep)])
    assert code == 0, err
    a, b = read_store(tmp_path / "b"), read_store(via_sweep)
    assert sorted(a["model"]["policy.rate_cap.apr"].unique()) == [0.2, 0.24]
    pd.testing.assert_frame_equal(a["model"], b["model"])
    assert "point 1: policy.rate_cap.apr=0.24" in stdout


def test_ctrl_c_exits_130_and_keeps_only_complete_partitions(tmp_path):
    out = tmp_path / "interrupted"
    args = ["compare", *SCENARIOS, "--replications", "8", "--borrowers", "3000", "--months", "6",
            "--set", "run.burn_in=0", "--workers", "2", "--quiet", "--out", str(out)]
    proc = zhudai(args)
    if not wait_for_partition(out, proc):
        pytest.skip("the batch finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the batch finished before the interrupt arrived")
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not temp_files(out)
    tables = read_store(out)
    ok = set(tables["runs"]["run_id"])
    assert 0 < len(ok) < 16
    for name in ("model", "platforms", "funders"):
        assert {p.parent.name.removeprefix("run_id=") for p in (out / f"{name}.parquet").glob("*/part-0.parquet")} \
            == ok
        assert set(tables[name]["run_id"]) == ok
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
