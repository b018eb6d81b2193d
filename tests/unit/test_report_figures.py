"""The report's pure helpers (experiments/analysis/report.py): valid ranges and clipped bands, volume-weighted tier
margins, the per-scenario rule key, the axis of the margin panels, and a title without paths."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis.report import (
    Rules,
    axis_around_means,
    display_path,
    event_key,
    event_key_items,
    events_of_policy,
    first_rule_month,
    population_ranges,
    ratio_interval,
    series_set_label,
    tier_margins,
    tier_profit_volume,
    title_from_design,
)
from experiments.analysis.stats import t_quantile
from experiments.analysis.summary import clip_bands, difference_ranges, unit_range, valid_ranges
from model.output import COLUMN_DOCS

INF = math.inf


# ------------------------------------------------------------------------------------------ ranges
def test_unit_ranges_follow_the_column_docs():
    assert unit_range("share 0-1") == (0.0, 1.0)
    assert unit_range("share 0-1 per month") == (0.0, 1.0)
    assert unit_range("0-10000") == (0.0, 10000.0)
    for unit in ("platforms", "funders", "borrowers", "yuan", "1/yr"):
        assert unit_range(unit) == (0.0, INF), unit
    for unit in ("label", "id", "YYYY-MM", "bool", "month", "share"):
        assert unit_range(unit) is None, unit
    model = valid_ranges("model")
    assert model["head_share"] == model["cr5"] == model["default_rate"] == model["rationed_share"] == (0.0, 1.0)
    assert model["hhi"] == (0.0, 10000.0)
    assert model["active_platforms_tail"] == model["platform_exits_head"] == (0.0, INF)
    assert model["shadow_volume"] == (0.0, INF)
    # Every documented "share 0-1" column is bounded, except the sector's margin, which can be negative.
    shares = [c for c, (unit, _) in COLUMN_DOCS["model"].items() if unit.startswith("share 0-1")]
    assert {c for c in shares if c not in model} == {"platform_margin"}
    # Profit and capital go below zero whatever their unit; labels and ids have no range.
    assert "profit" not in valid_ranges("funders") and "capital" not in valid_ranges("funders")
    assert "margin" not in valid_ranges("platforms") and "tier" not in valid_ranges("platforms")
    assert valid_ranges("funders")["partners"] == (0.0, INF)


def test_population_ranges_bound_counts_by_the_tier_size():
    rows = [{"run_id": run, "platform_id": pid, "tier": tier}
            for run in ("r1", "r2") for pid, tier in enumerate(["head"] * 2 + ["waist"] * 3 + ["tail"] * 5)]
    platforms = pd.DataFrame(rows)
    funders = pd.DataFrame({"run_id": ["r1"] * 3, "funder_id": [0, 1, 2], "kind": ["cfc", "cfc", "trust"]})
    ranges = population_ranges(platforms, funders)
    assert ranges["active_platforms_head"] == ranges["platform_exits_head"] == (0.0, 2.0)
    assert ranges["active_platforms_tail"] == (0.0, 5.0)
    assert ranges["active_platforms"] == ranges["platform_exits"] == (0.0, 10.0)
    assert ranges["funders_in_platform_lending"] == (0.0, 3.0)
    assert ranges["lenders_cfc"] == (0.0, 2.0)
    assert population_ranges(pd.DataFrame(), pd.DataFrame()) == {}


def test_clip_bands_keeps_bands_inside_the_valid_range():
    bands = pd.DataFrame({
        "series": ["a"] * 5, "date": ["2025-01"] * 5,
        "metric": ["head_share", "platform_exits_tail", "hhi", "margin_tail", "head_share"],
        "runs": [2] * 5, "mean": [0.75, 1.0, 9000.0, 0.1, 0.5], "sd": [0.1] * 5,
        "low": [-0.25, -3.0, 7000.0, -5.0, np.nan], "high": [1.75, 4.0, 11000.0, 5.0, np.nan]})
    ranges = {"head_share": (0.0, 1.0), "platform_exits_tail": (0.0, 3.0), "hhi": (0.0, 10000.0)}
    out = clip_bands(bands, ranges)
    assert out["low"].tolist()[:4] == [0.0, 0.0, 7000.0, -5.0]
    assert out["high"].tolist()[:4] == [1.0, 3.0, 10000.0, 5.0]
    assert out["low"].isna().iloc[4] and out["high"].isna().iloc[4]  # no band stays no band
    pd.testing.assert_series_equal(out["mean"], bands["mean"])  # means untouched
    assert bands["low"].iloc[0] == -0.25  # input not modified
    assert list(out.columns) == list(bands.columns)
    # Differences of two shares lie in [-1, 1].
    assert difference_ranges(ranges)["head_share"] == (-1.0, 1.0)
    diffs = pd.DataFrame({"metric": ["head_share"], "diff_low": [-1.3], "diff_high": [0.2]})
    assert clip_bands(diffs, difference_ranges(ranges), "diff_low", "diff_high")["diff_low"].iloc[0] == -1.0


# ----------------------------------------------------------------------------------------- margins
def _platforms() -> pd.DataFrame:
    """Two runs, two months; the tail tier has one big and one tiny platform in run r1, and in 2025-02 only
    a tiny volume left with a large profit-to-volume ratio."""
    rows = [
        # run, date, tier, volume, margin (profit / volume)
        ("r1", "2025-01", "head", 1000.0, 0.05), ("r1", "2025-01", "tail", 100.0, 0.10),
        ("r1", "2025-01", "tail", 1.0, 20.0),
        ("r2", "2025-01", "head", 3000.0, 0.03), ("r2", "2025-01", "tail", 300.0, 0.20),
        ("r1", "2025-02", "head", 1000.0, 0.04), ("r1", "2025-02", "tail", 2.0, 40.0),
        ("r2", "2025-02", "head", 2000.0, 0.06), ("r2", "2025-02", "tail", 0.0, 0.0),
    ]
    df = pd.DataFrame(rows, columns=["run_id", "date", "tier", "volume", "margin"])
    return df.assign(series="s")


def test_tier_margin_is_pooled_profit_over_pooled_volume():
    platforms = _platforms()
    sums = tier_profit_volume(platforms).set_index(["run_id", "date", "tier"])
    assert sums.loc[("r1", "2025-01", "tail"), "profit"] == pytest.approx(100 * 0.10 + 1 * 20.0)
    assert sums.loc[("r1", "2025-01", "tail"), "volume"] == pytest.approx(101.0)
    bands = tier_margins(platforms).set_index(["metric", "date"])
    # Tail, 2025-01: sum(profit) / sum(volume) over both platforms and both runs ...
    expected = (10.0 + 20.0 + 60.0) / (101.0 + 300.0)
    assert bands.loc[("margin_tail", "2025-01"), "mean"] == pytest.approx(expected)
    # ... not the mean of per-platform ratios (6.77) nor of per-run ratios (0.25)
    assert expected < 0.25
    # Head, 2025-01: (50 + 90) / 4000.
    assert bands.loc[("margin_head", "2025-01"), "mean"] == pytest.approx(140.0 / 4000.0)
    assert bands.loc[("margin_head", "2025-01"), "runs"] == 2
    # The band is the ratio estimator's: residuals (profit - R * volume) / mean volume.
    r = 140.0 / 4000.0
    resid = (np.array([50.0, 90.0]) - r * np.array([1000.0, 3000.0])) / 2000.0
    half = t_quantile(1) * resid.std(ddof=1) / math.sqrt(2)
    row = bands.loc[("margin_head", "2025-01")]
    assert (row["low"], row["high"]) == pytest.approx((r - half, r + half))
    # Tail, 2025-02: 2 yuan of volume is below 5% of the first month's 401, so no margin is shown.
    tail = bands.loc[("margin_tail", "2025-02")]
    assert math.isnan(tail["mean"]) and math.isnan(tail["low"]) and math.isnan(tail["high"])
    assert tier_margins(platforms, min_volume_share=0.0).set_index(["metric", "date"]).loc[
        ("margin_tail", "2025-02"), "mean"] == pytest.approx(40.0)
    assert list(tier_margins(platforms).columns) == ["series", "date", "metric", "runs", "mean", "sd", "low", "high"]


def test_ratio_interval_edge_cases():
    n, mean, _, low, high = ratio_interval(np.array([5.0]), np.array([100.0]))
    assert n == 1 and mean == 0.05 and math.isnan(low) and math.isnan(high)
    n, mean, *_ = ratio_interval(np.array([0.0, 0.0]), np.array([0.0, 0.0]))
    assert n == 2 and math.isnan(mean)
    # Equal ratios in every run: no spread.
    _, mean, sd, low, high = ratio_interval(np.array([1.0, 3.0]), np.array([10.0, 30.0]))
    assert mean == pytest.approx(0.1) and sd == pytest.approx(0.0) and low == pytest.approx(high)


def test_axis_around_means_ignores_wide_bands():
    assert axis_around_means(np.array([0.04, 0.06, np.nan]), (-1.0, 1.0)) == pytest.approx((0.015, 0.085))
    assert axis_around_means(np.array([0.0, 1.0]), (-0.2, 1.2)) == pytest.approx((-0.2, 1.2))
    assert axis_around_means(np.array([np.nan]), (0.0, 1.0)) is None


# ------------------------------------------------------------------------------------------- rules
_NEW_RULES = {
    "rate_cap": {"enabled": True, "apr": 0.24, "start": "2025-10", "announced": "2025-04"},
    "whitelist": {"enabled": True, "start": "2025-10", "announced": "2025-04"},
    "stock_cleanup": {"enabled": True, "deadline": "2026-06", "announced": "2025-04"},
    "kind_caps": {"cfc": {"enabled": False, "apr": 0.2, "start": "2026-01", "announced": ""}},
    "payment_crackdown": {"enabled": False, "start": "2024-01"},
}
_CAP_12 = {**_NEW_RULES, "rate_cap": {**_NEW_RULES["rate_cap"], "apr": 0.12}}
_FULL = {**_NEW_RULES, "kind_caps": {"cfc": {"enabled": True, "apr": 0.2, "start": "2026-01", "announced": ""}},
         "new_business_ban": {"enabled": True, "start": "2026-03", "regions": ["east"], "announced": ""}}


def test_events_of_policy_and_first_rule():
    assert events_of_policy(_NEW_RULES) == {"2025-10": ["rate cap 24%", "whitelist"], "2026-06": ["clean-up"]}
    assert events_of_policy(_FULL)["2026-01"] == ["cfc cap"]
    assert events_of_policy(_FULL)["2026-03"] == ["eastern ban"]
    assert events_of_policy({"rate_cap": {"enabled": False, "start": "2025-10"}}) == {}
    assert first_rule_month(_NEW_RULES) == "2025-04"  # the announcement, before the rules bind
    assert first_rule_month({**_NEW_RULES, "rate_cap": {"enabled": True, "start": "2025-10", "announced": ""},
                             "whitelist": {"enabled": False}, "stock_cleanup": {"enabled": False}}) == "2025-10"
    assert first_rule_month({"rate_cap": {"enabled": False, "start": "2025-10"}}) is None


def test_event_key_says_which_scenario_carries_which_rule():
    series = ["baseline-2024", "new-rules-2025", "cap-12", "full-tightening-2026"]
    events = {"baseline-2024": {}, "new-rules-2025": events_of_policy(_NEW_RULES),
              "cap-12": events_of_policy(_CAP_12), "full-tightening-2026": events_of_policy(_FULL)}
    key = event_key(events)
    assert list(key) == ["2025-10", "2026-01", "2026-03", "2026-06"]
    assert key["2025-10"] == [(("rate cap 24%",), ("new-rules-2025", "full-tightening-2026")),
                              (("whitelist",), ("new-rules-2025", "cap-12", "full-tightening-2026")),
                              (("rate cap 12%",), ("cap-12",))]
    assert key["2026-01"] == [(("cfc cap",), ("full-tightening-2026",))]
    items = event_key_items(key, series)
    assert items[0] == ("A 2025-10: rate cap 24% [new-rules-2025, full-tightening-2026], whitelist [all but "
                        "baseline-2024], rate cap 12% [cap-12]")
    assert items[1] == "B 2026-01: cfc cap [full-tightening-2026]"
    assert items[3] == "D 2026-06: clean-up [all but baseline-2024]"
    assert event_key_items(key, series, letters=False)[1] == "2026-01: cfc cap [full-tightening-2026]"
    rules = Rules(key, tuple(series), {"baseline-2024": None, "new-rules-2025": "2025-04", "cap-12": "2025-04",
                                       "full-tightening-2026": "2025-04"}, "baseline-2024")
    assert rules.dates_of("cap-12") == ["2025-10", "2026-06"]
    assert rules.dates_of("baseline-2024") == []
    assert rules.thin_until("baseline-2024") is None and rules.thin_until("cap-12") == "2025-04"
    assert rules.anchor_on_top_until == "2025-04"
    footer = " ".join(rules.footer(400))
    assert "A 2025-10: rate cap 24% [new-rules-2025, full-tightening-2026]" in footer
    assert "2025-04 [all but baseline-2024]" in footer and "baseline-2024 is drawn on top" in footer
    # With a reference that has rules, a scenario without rules matches it until the reference's first rule.
    other = Rules(key, tuple(series), {**rules.first_rule, "cap-12": "2025-06"}, "new-rules-2025")
    assert other.thin_until("baseline-2024") == "2025-04" and other.thin_until("cap-12") == "2025-04"
    assert other.thin_until("new-rules-2025") is None
    assert Rules(key, ("a", "b"), {"a": None, "b": None}, "a").thin_until("b") is None
    assert "Thin lines" not in " ".join(rules.footer(400, thin=False))


def test_series_set_label():
    every = ["a", "b", "c", "d"]
    assert series_set_label(every, every) == "all scenarios"
    assert series_set_label(["b", "c", "d"], every) == "all but a"
    assert series_set_label(["c", "d"], every) == "c, d"
    assert series_set_label(["b"], ["a", "b"]) == "b"


# ------------------------------------------------------------------------------------------- title
def test_title_from_design_names_the_design_not_a_path():
    design = {"scenarios": ["baseline-2024", "new-rules-2025", "cap-12"], "replications": 2, "borrowers": 20000,
              "root_seed": 20251001, "vary": []}
    title = title_from_design(design, [], 0)
    assert title == ("Report: baseline-2024, new-rules-2025, cap-12 (2 replications, 20,000 borrowers, "
                     "root seed 20251001)")
    many = {**design, "scenarios": [f"s{i}" for i in range(7)], "replications": 1}
    assert title_from_design(many, [], 0).startswith("Report: 7 scenarios (1 replication, ")
    sweep = {**design, "scenarios": ["new-rules-2025"], "vary": [["policy.rate_cap.apr", [0.12, 0.24]]],
             "points": [{"point": 0}, {"point": 1}]}
    assert "new-rules-2025, a sweep of policy.rate_cap.apr (2 points)" in title_from_design(sweep, [], 0)
    # Without a manifest: what the runs record.
    assert title_from_design({}, ["x", "y"], 3, 1500) == "Report: x, y (3 replications, 1,500 borrowers)"


def test_display_path_is_never_absolute(tmp_path: Path):
    store = tmp_path / "runs" / "cmp"
    store.mkdir(parents=True)
    assert display_path(store, cwd=tmp_path) == "runs/cmp"
    assert display_path(store, cwd=tmp_path / "elsewhere") == "cmp"
    temp = Path(tempfile.mkdtemp(prefix="figs-"))
    try:
        shown = display_path(temp, cwd=Path(__file__).parent)
        assert shown == temp.name and not Path(shown).is_absolute()
    finally:
        temp.rmdir()
    assert not Path(display_path("/", cwd="/")).is_absolute()
