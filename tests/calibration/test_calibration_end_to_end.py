"""``zhudai calibrate`` end to end with the real model: the files it writes, resuming (same command, after a
SIGKILL, with a larger budget) and recovering known parameter values from synthetic moments.

Runs are tiny (2,000 borrowers, 1 replicate, a 6-month burn-in, 3 or 6 recorded months, one worker) and every
assertion is about results, never about timing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from calibration_helpers import REPO, TINY_MOMENTS, TINY_PARAMS, TINY_RUNS, moments_toml, params_toml, run_main

from experiments.calibration import outputs, spec
from experiments.calibration.profile import CHI2_95
from experiments.engine.batch import run_batch
from experiments.engine.design import Design
from experiments.store.batch_dir import read_store
from model.config import load_scenario

pytestmark = pytest.mark.slow

#: Every file outputs.py's docstring says a calibration directory holds.
OUTPUT_FILES = re.findall(r"DIR/(\S+)", outputs.__doc__)


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def finished_times(batch_dir: Path) -> dict[str, str]:
    runs = read_store(batch_dir)["runs"]
    return dict(zip(runs["run_id"], runs["finished"].astype(str), strict=True))


# ------------------------------------------------------------------------------------------ the outputs
def test_tiny_calibration_writes_every_output(tiny_calibration):
    assert tiny_calibration["code"] == 0, tiny_calibration["stderr"]
    out: Path = tiny_calibration["out"]
    assert len(OUTPUT_FILES) >= 9 and "estimate.toml" in OUTPUT_FILES
    for name in OUTPUT_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in ("calibration.json", "study.journal", "moments.csv"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "evals").iterdir()) == ["trials-0000-0001", "trials-0002-0003"]
    derived = sorted(p.name.split("-")[0] for p in out.iterdir() if p.is_dir() and p.name != "evals")
    assert derived == ["confirm", "profile"]
    for directory in out.glob("*-*"):
        assert json.loads((directory / "manifest.json").read_text())["status"] == "complete"
    assert not temp_files(out)

    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 4 and trials["trial"].tolist() == [0, 1, 2, 3]
    assert set(trials["state"]) == {"complete"} and trials.loc[0, "origin"] == "start"
    names = list(TINY_PARAMS)
    assert {*names, "loss", "apr_head", "npl"} <= set(trials.columns)
    fit = pd.read_csv(out / "fit.csv")
    assert fit["moment"].tolist() == ["apr_head", "npl"]
    assert {"data", "tolerance", "start", "model", "within", "source"} <= set(fit.columns)
    ident = pd.read_csv(out / "identifiability.csv")
    assert ident["param"].tolist() == names
    prof = pd.read_csv(out / "profile.csv")
    assert prof["param"].tolist() == [names[0]] * 3 + [names[1]] * 3
    response = pd.read_csv(out / "moment_response.csv")
    assert response["param"].tolist() == names and {"apr_head", "npl"} <= set(response.columns)
    for png in ("convergence.png", "profiles.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Calibration report") and "calibrate baseline-2024" in report
    assert "![loss profiles](profiles.png)" in report and "## Identifiability" in report

    # The estimate: the best of the confirmed trials (the best trials run again with the final replicates), to 4
    # significant digits as the overlay records it.
    confirm = pd.read_csv(out / "confirm.csv")
    ranked = trials.sort_values(["loss", "trial"])
    assert confirm["trial"].tolist() == ranked["trial"].head(2).tolist()
    assert confirm["search_loss"].tolist() == ranked["loss"].head(2).tolist()
    best = trials.set_index("trial").loc[int(confirm.loc[confirm["loss"].idxmin(), "trial"])]
    estimate = [outputs.round_sig(best[n]) for n in names]
    assert ident["estimate"].tolist() == estimate
    scenario = load_scenario(str(out / "estimate.toml"))
    base = load_scenario("baseline-2024")
    assert scenario.get("platforms.head.markup") == estimate[0]
    assert scenario.get("borrowers.hazard") == [*base.get("borrowers.hazard")[:2], estimate[1]]
    assert scenario.get("funders.pref_sharpness") == base.get("funders.pref_sharpness")
    # stdout: the fit and identifiability tables and where the estimate is.
    assert "| apr_head |" in tiny_calibration["stdout"] and f"| {names[0]} |" in tiny_calibration["stdout"]
    assert f"estimate in {out / 'estimate.toml'}" in tiny_calibration["stdout"]


def test_estimate_overlay_reproduces_the_fit_at_the_estimate(tiny_calibration, tmp_path):
    """Running estimate.toml (with the calibration's --set) on the same seeds gives fit.csv's model values."""
    out: Path = tiny_calibration["out"]
    identity = json.loads((out / "calibration.json").read_text())
    replications = identity.get("final_replications", identity["replications"])
    design = Design(scenarios=(str(out / "estimate.toml"),), root_seed=5, replications=replications, borrowers=2000,
                    months=3, overrides=("run.burn_in=6",))
    assert run_batch(design.resolve(), tmp_path / "again", workers=1, progress=False).status == "complete"
    moments = spec.load_moments(tiny_calibration["moments"])
    values = spec.point_moments(read_store(tmp_path / "again")["model"], moments)
    assert len(values) == replications
    fit = pd.read_csv(out / "fit.csv").set_index("moment")
    for name in ("apr_head", "npl"):
        assert values[name].mean() == pytest.approx(fit.loc[name, "model"], rel=1e-12, abs=0)
        assert fit.loc[name, "replicates"] == replications


def test_estimate_overlay_keeps_the_set_overrides(tiny_calibration):
    scenario = load_scenario(str(tiny_calibration["out"] / "estimate.toml"))
    assert scenario.get("run.burn_in") == 6


def test_same_command_again_reruns_nothing(tiny_calibration, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(tiny_calibration["out"], out)
    batches = [p.parent for p in sorted(out.rglob("manifest.json"))]
    names = {str(b.relative_to(out)).split("-")[0] for b in batches}
    assert names >= {"evals/trials", "confirm", "profile"}
    before = {b: finished_times(b) for b in batches}
    trials = pd.read_csv(out / "trials.csv")
    code, _stdout, stderr = run_main([*tiny_calibration["argv"][:-1], str(out)])
    assert code == 0, stderr
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), trials)
    assert {b: finished_times(b) for b in before} == before
    assert (out / "estimate.toml").read_text().split("\n# Moments")[1] == \
        (tiny_calibration["out"] / "estimate.toml").read_text().split("\n# Moments")[1]


def test_larger_budget_continues_the_search(tiny_calibration, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(tiny_calibration["out"], out)
    argv = [*tiny_calibration["argv"][:-1], str(out)]
    argv[argv.index("--budget") + 1] = "8"
    code, _stdout, stderr = run_main(argv)
    assert code == 0, stderr
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 8
    pd.testing.assert_frame_equal(trials.iloc[:4], pd.read_csv(tiny_calibration["out"] / "trials.csv"))


# ------------------------------------------------------------------------------------- resume after a kill
def test_resume_after_sigkill_keeps_every_finished_generation(tmp_path, write):
    """SIGKILL in the middle of the second generation (one of its runs stored), then the same command again:
    the budget is met, no stored run is run again, and the first generation's trials are kept as they were.

    The kill lands while the second generation's batch runs (after its first run is stored), away from the
    journal's writes.
    """
    moments = write("moments.toml", moments_toml(TINY_MOMENTS))
    params = write("params.toml", params_toml(TINY_PARAMS))
    out = tmp_path / "out"
    budget, batch = 6, 3
    command = [sys.executable, "-m", "experiments", "calibrate", "baseline-2024", "--moments", str(moments),
               "--params", str(params), "--budget", str(budget), "--batch", str(batch), "--grid", "3", "--confirm", "2",
               *TINY_RUNS,
               "--out", str(out)]
    second = out / "evals" / "trials-0003-0005"
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not list((second / "runs.parquet").glob("run_id=*/part-0.parquet")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the second generation stored no run in time"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "trials.csv").exists()  # killed before the search ended
    first = out / "evals" / "trials-0000-0002"
    assert json.loads((first / "manifest.json").read_text())["status"] == "complete"
    ledger = pd.read_csv(out / "moments.csv")
    assert ledger["trial"].tolist() == [0, 1, 2]
    kept_first = finished_times(first)
    kept_second = finished_times(second)
    assert len(kept_first) == batch and 1 <= len(kept_second) <= batch

    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert trials["trial"].tolist() == list(range(budget)) and set(trials["state"]) == {"complete"}
    assert sorted(p.name for p in (out / "evals").iterdir()) == \
        [f"trials-{n:04d}-{n + batch - 1:04d}" for n in range(0, budget, batch)]
    # No stored run was run again: the first generation is untouched, the second kept its stored runs.
    assert finished_times(first) == kept_first
    resumed = finished_times(second)
    assert len(resumed) == batch and {k: resumed[k] for k in kept_second} == kept_second
    # The first generation's trials and moments are those found before the kill.
    by_trial = trials.set_index("trial")
    for _, row in ledger.iterrows():
        for name in ("apr_head", "npl"):
            assert by_trial.loc[int(row["trial"]), name] == row[name]
    assert trials.loc[0, "origin"] == "start"
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    assert not temp_files(out)


# ------------------------------------------------------------------------------- recovery on synthetic data
#: Known values, away from the start point (baseline-2024's own values clipped into the ranges).
TRUE_MARKUP, TRUE_HAZARD = 0.62, 0.05
WIDE = {"platforms.head.markup": [0.4, 0.75], "borrowers.hazard[2]": [0.02, 0.07]}


def test_recovers_known_parameters_from_their_own_moments(tmp_path, write):
    """Moments simulated at known values (same seeds, population and horizon as the calibration): the known
    values lie within the reported 95% intervals, which exclude the start point, and the estimate fits."""
    seed, borrowers, replications = 7, 4000, 1
    hazard = list(load_scenario("baseline-2024").get("borrowers.hazard"))
    hazard[2] = TRUE_HAZARD
    truth = Design(scenarios=("baseline-2024",), root_seed=seed, replications=replications, borrowers=borrowers,
                   months=6, overrides=("run.burn_in=6", f"platforms.head.markup={TRUE_MARKUP}",
                                        f"borrowers.hazard={hazard}"))
    assert run_batch(truth.resolve(), tmp_path / "truth", workers=1, progress=False).status == "complete"
    # Tolerances about the model's own roughness at this size (npl moves by ~0.003 between nearby points).
    shape = [{"name": "apr_head", "metric": "apr_new_head", "value": 0.0, "tolerance": 0.005, "source": "synthetic"},
             {"name": "npl", "metric": "npl_ratio", "value": 0.0, "tolerance": 0.003, "source": "synthetic"}]
    window = ("2024-01", "2024-06")
    observed = spec.point_moments(read_store(tmp_path / "truth")["model"],
                                  spec.parse_moments({"moment": shape, "window": list(window)}))
    assert len(observed) == replications
    for m in shape:
        m["value"] = float(observed[m["name"]].mean())
    moments = write("synthetic.toml", moments_toml(shape, window))
    params = write("wide.toml", params_toml(WIDE))
    out = tmp_path / "cal"
    code, _stdout, stderr = run_main(["calibrate", "baseline-2024", "--moments", str(moments), "--params", str(params),
                                      "--budget", "12", "--batch", "6", "--grid", "5", "--confirm", "3",
                                      "--borrowers", str(borrowers),
                                      "--replications", str(replications), "--seed", str(seed), "--workers", "1",
                                      "--set", "run.burn_in=6", "--quiet", "--out", str(out)])
    assert code == 0, stderr
    trials = pd.read_csv(out / "trials.csv")
    start = trials.iloc[0]
    assert start["origin"] == "start"
    scenario = load_scenario("baseline-2024")
    expected = spec.start_values(spec.parse_params(WIDE), scenario)
    assert [start["platforms.head.markup"], start["borrowers.hazard[2]"]] == pytest.approx(expected, abs=1e-12)
    assert start["loss"] > 2 * CHI2_95  # the scenario's own values are clearly rejected ...
    assert trials["loss"].min() < CHI2_95  # ... and the search finds points that fit
    ident = pd.read_csv(out / "identifiability.csv").set_index("param")
    for name, true in (("platforms.head.markup", TRUE_MARKUP), ("borrowers.hazard[2]", TRUE_HAZARD)):
        row = ident.loc[name]
        assert row["interval_low"] <= true <= row["interval_high"], (name, row.to_dict())
        assert row["verdict"] != "not identified", (name, row.to_dict())
        assert row["inside"], (name, row.to_dict())
    markup = ident.loc["platforms.head.markup"]
    assert markup["verdict"] == "identified" and markup["interval_low"] > start["platforms.head.markup"]
    fit = pd.read_csv(out / "fit.csv")
    assert fit["within"].all(), fit


@pytest.mark.slow
def test_a_calibration_on_a_dask_cluster_equals_the_in_process_one(tiny_calibration, tmp_path):
    """The same calibration with ``--scheduler local`` (a dask LocalCluster of 2 single-threaded workers) finds the
    same trials, moments and estimate as in-process: every run goes through the batch engine, on any executor."""
    argv = [a for a in tiny_calibration["argv"][:-1]]
    i = argv.index("--workers")
    argv[i:i + 2] = ["--scheduler", "local", "--workers", "2"]
    out = tmp_path / "dask"
    code, _stdout, stderr = run_main([*argv, str(out)])
    assert code == 0, stderr
    ours = pd.read_csv(out / "trials.csv")
    theirs = pd.read_csv(tiny_calibration["out"] / "trials.csv")
    pd.testing.assert_frame_equal(ours, theirs)
    assert (out / "estimate.toml").read_text().split("\n# Moments")[1] == \
        (tiny_calibration["out"] / "estimate.toml").read_text().split("\n# Moments")[1]
    # The runs ran in the cluster's worker processes, not in this one.
    workers = pd.concat([pd.read_parquet(d / "runs.parquet", columns=["worker"]) for d in (out / "evals").iterdir()])
    assert not workers["worker"].str.endswith(f"/{os.getpid()}").any()
