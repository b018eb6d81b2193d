"""``zhudai validate --robustness`` with its plausibility screen (history matching), on a tiny design: 2,000
borrowers, 1 replicate, one target, a targets file of its own with a screen moment that every point meets, or
none."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

TARGET = """
[[target]]
name = "no_price_above_cap"
source = "docs/domain.md"
explanation = "no new loan above the cap"
metric = "max_apr_over_cap"
scenarios = { scenario = "new-rules-2025" }
window = { start = "2025-10", end = "2027-12" }
test = { kind = "less", threshold = 1e-9 }
tolerance = { policy = "share_of_replications", min_share = 1.0 }

[robustness]
relative = 0.2
candidates = 2

[robustness.screen]
scenario = "baseline-2024"
moments = "moments.toml"
plausibility = 3.0
"""

MOMENTS = """
window = ["2024-01", "2024-12"]

[[moment]]
name = "tail_platforms"
metric = "active_platforms_tail"
band = [{low}, {high}]
source = "a band chosen for the test"
"""


def _validate(tmp_path, band, *extra):
    (tmp_path / "targets.toml").write_text(TARGET, encoding="utf-8")
    (tmp_path / "moments.toml").write_text(MOMENTS.format(low=band[0], high=band[1]), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments", "validate", "--robustness", "2", "--replications", "1",
         "--borrowers", "2000", "--workers", "1", "--targets", str(tmp_path / "targets.toml"), "--out", str(out),
         "--quiet", *extra],
        capture_output=True, text=True, timeout=600,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, out


def test_points_that_reproduce_the_pre_rule_moments_are_kept_and_evaluated(tmp_path):
    proc, out = _validate(tmp_path, (0, 1000))
    assert proc.returncode == 0, proc.stderr
    screen = pd.read_csv(out / "robustness_screen.csv")
    assert list(screen["point"]) == [0, 1] and screen["plausible"].all()
    assert (screen["implausibility"] < 1).all() and screen["tail_platforms"].between(0, 1000).all()
    points = pd.read_csv(out / "robustness_points.csv")
    assert sorted(points["point"].unique()) == [0, 1]
    assert pd.read_csv(out / "robustness.csv")["points"].tolist() == [2]
    assert "0 of 2 screened ruled out" in proc.stdout
    for i in (0, 1):
        assert (out / "robustness-points" / f"point-{i:02d}-screen" / "manifest.json").exists()
        assert (out / "robustness-points" / f"point-{i:02d}" / "manifest.json").exists()


def test_a_point_that_misses_a_pre_rule_moment_is_ruled_out_and_never_run_in_full(tmp_path):
    proc, out = _validate(tmp_path, (500, 600))  # no world of 158 platforms has 500-600 tail platforms
    assert proc.returncode == 1
    assert "point 0 ruled out: tail_platforms lies" in proc.stderr
    assert "none of the 4 candidate points reproduces the pre-rule moments" in proc.stderr
    screen = pd.read_csv(out / "robustness_screen.csv")
    assert len(screen) == 4 and not screen["plausible"].any() and (screen["implausibility"] > 3).all()
    design = pd.read_csv(out / "robustness_design.csv")
    assert len(design) == 4 and not design["plausible"].any()
    assert not (out / "robustness-points" / "point-00").exists()
    assert not (out / "robustness.csv").exists()


def test_plausibility_inf_switches_the_screen_off(tmp_path):
    proc, out = _validate(tmp_path, (500, 600), "--plausibility", "inf")
    assert proc.returncode == 0, proc.stderr
    assert not (out / "robustness_screen.csv").exists()
    assert pd.read_csv(out / "robustness.csv")["points"].tolist() == [2]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "x"])
def test_a_bad_plausibility_exits_2(tmp_path, value):
    proc = subprocess.run([sys.executable, "-m", "experiments", "validate", "--robustness", "2",
                           "--plausibility", value, "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--plausibility" in proc.stderr and "Traceback" not in proc.stderr
