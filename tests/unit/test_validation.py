"""Validation metrics, target parsing and evaluation on small hand-built tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import validation as v
from experiments.analysis.validation import TargetsError, Window

DATES = ["2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]


def model_rows(scenario: str, replicate: int, **cols: list[float]) -> pd.DataFrame:
    df = pd.DataFrame({"date": DATES, **cols})
    df["scenario"], df["point"], df["replicate"], df["seed"] = scenario, 0, replicate, 100 + replicate
    df["run_id"] = f"{scenario}-{replicate}"
    return df


def store(model: list[pd.DataFrame], platforms: pd.DataFrame | None = None,
          funders: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    empty = pd.DataFrame(columns=["run_id", "scenario", "point", "replicate", "seed", "date"])
    return {"model": pd.concat(model, ignore_index=True), "platforms": empty if platforms is None else platforms,
            "funders": empty if funders is None else funders}


def target(**kw) -> v.Target:
    base = dict(name="t", source="docs/domain.md", scenario="rules", counterfactual="base", order=(),
                metric="head_share", window=Window("2025-10", "2025-12"), kind="greater", threshold=0.0,
                policy="share_of_replications", min_share=0.8)
    base.update(kw)
    return v.Target(**base)


# --------------------------------------------------------------------------------------------- metrics
def test_window_mean_metric():
    run = {"model": model_rows("s", 0, head_share=[0.1, 0.1, 0.5, 0.6, 0.7])}
    assert v.METRICS["head_share"].func(run, Window("2025-10", "2025-12")) == pytest.approx(0.6)


def test_max_apr_over_cap_ignores_uncapped_months():
    run = {"model": model_rows("s", 0, max_apr_new=[0.40, 0.35, 0.24, 0.239, 0.2],
                               binding_cap=[math.nan, math.nan, 0.24, 0.24, 0.24])}
    assert v.max_apr_over_cap(run, Window("2025-08", "2025-12")) == pytest.approx(0.0)


def test_exit_rates_and_gap():
    rows = []
    for date, alive in (("2025-10", [1, 1, 1, 1, 1]), ("2025-12", [1, 0, 0, 0, 1])):
        for pid, (tier, a) in enumerate(zip(["head", "tail", "tail", "tail", "tail"], alive, strict=True)):
            rows.append({"date": date, "platform_id": pid, "tier": tier, "active": bool(a)})
    run = {"platforms": pd.DataFrame(rows)}
    w = Window("2025-10", "2025-12")
    assert v.exit_rate(run, w, "tail") == pytest.approx(0.75)
    assert v.exit_rate(run, w, "head") == 0.0
    assert v.exit_rate_gap_tail_head(run, w) == pytest.approx(0.75)


def test_funder_metrics():
    f = pd.DataFrame({
        "date": ["2025-10"] * 4 + ["2025-12"] * 4,
        "funder_id": [0, 1, 2, 3] * 2,
        "kind": ["bank_city", "bank_rural", "bank_state", "cfc"] * 2,
        "partners": [10, 6, 12, 5, 0, 2, 10, 5],
        "in_platform_lending": [True, True, True, True, False, True, True, True],
        "apr_new": [0.2, 0.2, 0.1, 0.22, 0.2, 0.2, 0.1, 0.18],
        "platform_volume": [1.0] * 8, "direct_volume": [0, 0, 0, 1.0, 0, 0, 0, 3.0],
    })
    run = {"funders": f}
    w = Window("2025-10", "2025-12")
    assert v.small_bank_partners(run, w) == pytest.approx(4.5)
    assert v.large_minus_small_partners(run, w) == pytest.approx(11 - 4.5)
    assert v.small_banks_leaving(run, w) == 1.0
    # cfc: (0.22*2 + 0.18*4) / 6
    assert v.cfc_apr_new(run, w) == pytest.approx((0.44 + 0.72) / 6)
    assert v.cfc_apr_change(run, Window("2025-12", "2025-12", "2025-10", "2025-10")) == pytest.approx(-0.04)


def test_ratio_and_change_metrics():
    m = model_rows("s", 0, default_rate_multi=[0.01] * 5, default_rate_few=[0.002] * 5,
                   shadow_volume=[100, 100, 10, 10, 10], lpr=[0.03] * 5)
    run = {"model": m}
    assert v.multi_few_default_ratio(run, Window("2025-08", "2025-12")) == pytest.approx(5.0)
    assert v.shadow_change_ratio(run, Window("2025-10", "2025-12", "2025-08", "2025-09")) == pytest.approx(0.1)
    p = pd.DataFrame({"date": ["2025-09", "2025-10", "2025-10"], "tier": ["waist", "waist", "head"],
                      "active": [True, True, True], "volume": [100.0, 50.0, 10.0], "lines": [0, 0, 30.0]})
    run = {"platforms": p}
    assert v.waist_volume_change(run, Window("2025-10", "2025-10", "2025-09", "2025-09")) == pytest.approx(-0.5)
    assert v.head_lines_to_volume(run, Window("2025-10", "2025-10")) == pytest.approx(3.0)


# --------------------------------------------------------------------------------------------- evaluate
def paired_store(diffs: list[float]) -> dict[str, pd.DataFrame]:
    frames = []
    for rep, d in enumerate(diffs):
        frames.append(model_rows("base", rep, head_share=[0.5] * 5))
        frames.append(model_rows("rules", rep, head_share=[0.5, 0.5, 0.5 + d, 0.5 + d, 0.5 + d]))
    return store(frames)


@pytest.mark.parametrize(("diffs", "status", "share"), [
    ([0.1, 0.2, 0.1, 0.15, 0.1], "PASS", 1.0),      # holds everywhere
    ([0.1, 0.2, -0.1, 0.15, -0.1], "WARN", 0.6),    # holds in 3/5 < 80%
    ([0.1, -0.2, -0.1, -0.15, 0.1], "FAIL", 0.4),   # holds in 2/5
])
def test_share_policy_classification(diffs, status, share):
    row = v.evaluate([target()], paired_store(diffs)).iloc[0]
    assert row["status"] == status
    assert row["share"] == pytest.approx(share)
    assert "paired mean diff" in row["figure"] and "95% CI" in row["figure"]


def test_ci_policy():
    t = target(policy="ci_excludes_zero")
    assert v.evaluate([t], paired_store([0.10, 0.11, 0.12, 0.10, 0.11])).iloc[0]["status"] == "PASS"
    # every replicate positive but noisy: CI includes 0 -> WARN
    assert v.evaluate([t], paired_store([0.001, 0.5, 0.001, 0.001, 0.001][:2])).iloc[0]["status"] == "WARN"
    assert v.evaluate([t], paired_store([-0.1, -0.1, -0.12])).iloc[0]["status"] == "FAIL"


def test_ratio_band_and_monotonic():
    frames = []
    for rep in range(3):
        frames.append(model_rows("base", rep, head_share=[0.5] * 5))
        frames.append(model_rows("rules", rep, head_share=[0.2] * 5))
        frames.append(model_rows("tight", rep, head_share=[0.3 if rep < 2 else 0.1] * 5))
    tables = store(frames)
    ratio = target(kind="ratio_at_most", threshold=0.5)
    band = target(kind="band", counterfactual=None, low=0.1, high=0.25, threshold=None)
    mono = target(kind="monotonic_increasing", scenario=None, counterfactual=None, order=("rules", "tight"))
    res = v.evaluate([ratio, band, mono], tables)
    assert list(res["status"]) == ["PASS", "PASS", "WARN"]
    assert res.iloc[2]["share"] == pytest.approx(2 / 3)
    assert bool(res.iloc[0]["mean_holds"]) and bool(res.iloc[2]["mean_holds"])


def test_missing_scenario_is_fail():
    res = v.evaluate([target(counterfactual="nowhere")], paired_store([0.1, 0.1]))
    assert res.iloc[0]["status"] == "FAIL" and "no paired runs" in res.iloc[0]["explanation"]


def test_pairs_by_replicate_not_by_row_order():
    frames = [model_rows("rules", 1, head_share=[0.9] * 5), model_rows("base", 0, head_share=[0.1] * 5),
              model_rows("rules", 0, head_share=[0.2] * 5), model_rows("base", 1, head_share=[0.8] * 5)]
    row = v.evaluate([target()], store(frames)).iloc[0]
    assert row["share"] == 1.0 and "diff +0.10" in row["figure"]


def test_a_metric_undefined_everywhere_fails_quietly():
    """head_share NaN in every month of every run: the target FAILs with an n/a figure and no numpy warning."""
    import warnings

    frames = []
    for rep in range(3):
        frames.append(model_rows("base", rep, head_share=[math.nan] * 5))
        frames.append(model_rows("rules", rep, head_share=[math.nan] * 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = v.evaluate([target(), target(kind="ratio_at_most", threshold=0.5)], store(frames))
    assert list(rows["status"]) == ["FAIL", "FAIL"]
    assert "n/a" in rows.iloc[0]["figure"]


# --------------------------------------------------------------------------------------------- targets file
def test_shipped_targets_load_and_cover_the_issue():
    targets = v.load_targets()
    names = {t.name for t in targets}
    assert {"matthew_head_share", "tail_exits_far_more_than_head", "no_price_above_cap", "prices_bunch_under_cap",
            "rationing_rises_with_tighter_caps", "shadow_falls_after_crackdown", "multi_lender_defaults",
            "head_surplus_funding", "acquisition_moves_off_api", "cfc_price_under_own_cap"} <= names
    assert all(t.source for t in targets)
    assert v.scenarios_needed(targets)[0] == "baseline-2024"


def test_bad_targets_file_lists_every_problem(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('''
[[target]]
name = "a"
source = "x"
metric = "no_such_metric"
scenarios = { scenario = "nowhere" }
window = { start = "2025-13", end = "2025-10" }
test = { kind = "sideways" }
tolerance = { policy = "share_of_replications", min_share = 2.0 }

[[target]]
name = "a"
metric = "head_share"
scenarios = { order = ["baseline-2024"] }
window = { start = "2025-10", end = "2025-01" }
test = { kind = "monotonic_increasing" }
tolerance = { policy = "ci_excludes_zero" }
colour = "red"
''', encoding="utf-8")
    with pytest.raises(TargetsError) as exc:
        v.load_targets(path)
    msg = str(exc.value)
    for text in ("unknown metric 'no_such_metric'", "unknown scenario 'nowhere'", "window.start",
                 "'sideways'", "min_share must be between", "missing 'source'", "needs scenarios.order with 2+",
                 "is after window.end", "applies to greater/less", "unknown key 'colour'", "used more than once"):
        assert text in msg, text
    assert msg.startswith(f"targets {str(path)!r} have")


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(TargetsError, match="cannot read"):
        v.load_targets(tmp_path / "missing.toml")
    bad = tmp_path / "syntax.toml"
    bad.write_text("[[target]\n", encoding="utf-8")
    with pytest.raises(TargetsError, match="not valid TOML"):
        v.load_targets(bad)


# --------------------------------------------------------------------------------------------- robustness
def test_latin_hypercube_is_stratified():
    u = v.latin_hypercube(8, 5, np.random.default_rng(1))
    assert u.shape == (8, 5)
    for j in range(5):
        assert sorted(np.floor(u[:, j] * 8).astype(int)) == list(range(8))


def test_robustness_points_within_ranges():
    table = {"relative": 0.5, "absolute": {"channels.info_flow.risk_tilt": [-0.5, 0.5]}}
    points = v.robustness_points(4, table, seed=3)
    ranges = {key: (d, a, b, lo, hi) for key, d, a, b, lo, hi in v.uncertainty_ranges(table)}
    assert len(points) == 4 and set(points[0]) == set(ranges)
    for p in points:
        for key, value in p.items():
            d, a, b, lo, hi = ranges[key]
            for x, dx in zip(value if isinstance(value, list) else [value],
                             d if isinstance(d, list) else [d], strict=True):
                assert lo <= x <= hi
                if key == "channels.info_flow.risk_tilt":
                    assert -0.5 <= x <= 0.5
                else:
                    assert min(a * dx, b * dx) - 1e-6 <= x <= max(a * dx, b * dx) + 1e-6
    assert v.robustness_points(4, table, seed=3) == points


# ------------------------------------------------------------------------------- robustness: plausibility screen
def _moments(tmp_path, body: str):
    from experiments.calibration.spec import load_moments

    path = tmp_path / "m.toml"
    path.write_text('window = ["2024-01", "2024-03"]\n' + body, encoding="utf-8")
    return load_moments(path)


def test_implausibility_is_the_largest_distance_in_tolerances(tmp_path):
    from experiments.calibration.spec import implausibility

    moments = _moments(tmp_path, """
[[moment]]
name = "cr5"
metric = "cr5"
value = 0.75
tolerance = 0.05
source = "s"

[[moment]]
name = "tail"
metric = "active_platforms_tail"
band = [110, 120]
source = "s"
""")
    # cr5 0.63: 2.4 tolerances; tail 112 lies 0.6 half-widths from its band's middle 115.
    distance, worst = implausibility({"cr5": 0.63, "tail": 112.0}, moments)
    assert distance == pytest.approx(2.4) and worst == "cr5"
    distance, worst = implausibility({"cr5": 0.75, "tail": 20.0}, moments)  # (115 - 20) / 5
    assert distance == pytest.approx(19.0) and worst == "tail"
    assert implausibility({"cr5": 0.75}, moments) == (math.inf, "tail")


def test_screen_values_average_each_moment_over_the_points_runs(tmp_path):
    moments = _moments(tmp_path, """
[[moment]]
name = "tail"
metric = "active_platforms_tail"
band = [110, 120]
source = "s"
""")
    model = pd.DataFrame({"point": 0, "replicate": [0, 0, 0, 1, 1, 1], "date": ["2024-01", "2024-02", "2024-04"] * 2,
                          "active_platforms_tail": [120.0, 118.0, 0.0, 100.0, 90.0, 0.0]})
    # Run 0: mean of 2024-01..03 = 119; run 1: 95; the point: 107 (2024-04 lies outside the window).
    assert v.screen_values(model, moments) == {"tail": pytest.approx(107.0)}


def test_the_screen_table_is_checked_and_its_moments_read_beside_the_targets_file(tmp_path):
    table = {"relative": 0.5, "candidates": 0, "screen": {"scenario": "baseline-2024", "plausibility": -1,
                                                          "colour": "red"}}
    problems = " | ".join(v.robustness_problems(table))
    for bit in ("candidates must be a whole number >= 1", "unknown key 'colour'", "needs moments",
                "plausibility must be a number > 0"):
        assert bit in problems
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "m.toml").write_text(
        'window = ["2024-01", "2024-03"]\n[[moment]]\nname = "cr5"\nmetric = "cr5"\nvalue = 0.75\ntolerance = 0.05\n'
        'source = "s"\n', encoding="utf-8")
    good = {"relative": 0.5, "candidates": 2, "screen": {"scenario": "baseline-2024", "moments": "cal/m.toml"}}
    assert v.robustness_problems(good) == []
    screen = v.robustness_screen(good, tmp_path / "targets.toml")
    assert screen.scenario == "baseline-2024" and screen.plausibility == 3.0
    assert [m.name for m in screen.moments.moments] == ["cr5"]
    assert v.robustness_screen({"relative": 0.5}, tmp_path / "targets.toml") is None


def test_the_shipped_screen_reads_the_calibration_moments():
    _, table = v.load_targets_file()
    screen = v.robustness_screen(table, v.DEFAULT_TARGETS)
    assert screen is not None and screen.scenario == "baseline-2024"
    assert Path(screen.path).name == "moments-2024.toml"
    assert {"cr5", "npl", "tail_platforms"} <= {m.name for m in screen.moments.moments}
