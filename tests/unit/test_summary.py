"""The end-of-batch summary: units, paired differences from the reference, and its text (hand-made tables)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.analysis.stats import paired_difference, t_quantile
from experiments.analysis.summary import (
    format_difference,
    format_level,
    format_value,
    horizon_summary,
    metric_unit,
    reference_scenario,
    render_summary,
    shown_unit,
    summary_columns,
    summary_table,
)
from experiments.engine.design import Design, ResolvedDesign


def resolved_of(scenarios: tuple[str, ...], points: int = 1) -> ResolvedDesign:
    vary = (("policy.rate_cap.apr", tuple(0.2 + 0.01 * i for i in range(points))),) if points > 1 else ()
    design = Design(scenarios=scenarios, replications=3, vary=vary)
    return ResolvedDesign(design, design.sweep_points(), [1, 2, 3], [])


def model_of(values: dict[tuple[str, int], list[float]], months: int = 2) -> pd.DataFrame:
    """A model table: per (scenario, point) one run per replicate, head_share = the value at the last month."""
    rows = []
    for (scenario, point), per_replicate in values.items():
        for replicate, value in enumerate(per_replicate):
            for step in range(1, months + 1):
                rows.append({"run_id": f"{scenario}-{point}-{replicate}", "scenario": scenario, "point": point,
                             "replicate": replicate, "seed": replicate, "step": step, "date": f"2024-0{step}",
                             "policy.rate_cap.apr": 0.2 + 0.01 * point,
                             "head_share": value if step == months else 0.0,
                             "shadow_volume": 1e6 * value, "hhi": 1000.0 * value})
    return pd.DataFrame(rows)


def test_reference_is_baseline_2024_if_run_else_the_first_scenario():
    assert reference_scenario(["new-rules-2025", "baseline-2024"]) == "baseline-2024"
    assert reference_scenario(["cap-20", "cap-12"]) == "cap-20"
    assert reference_scenario([]) is None


def test_paired_difference_pairs_by_replicate():
    values = pd.Series([0.5, 0.7, 0.4], index=[0, 1, 2])
    ref = pd.Series([0.45, 0.6, 0.38, 0.9], index=[0, 1, 2, 3])
    pairs, mean, low, high = paired_difference(values, ref)
    diff = np.array([0.05, 0.1, 0.02])
    half = t_quantile(2) * diff.std(ddof=1) / math.sqrt(3)
    assert pairs == 3 and (mean, low, high) == pytest.approx((diff.mean(), diff.mean() - half, diff.mean() + half))
    # A replicate the reference lacks is left out; one pair has no interval.
    pairs, mean, low, high = paired_difference(pd.Series([0.5, 0.7], index=[0, 7]), ref)
    assert pairs == 1 and mean == pytest.approx(0.05) and math.isnan(low) and math.isnan(high)


def test_units_come_from_the_column_docs_and_shares_show_in_percent():
    assert metric_unit("head_share") == "share 0-1" and shown_unit("share 0-1") == "%"
    assert metric_unit("default_rate") == "share 0-1 per month" and shown_unit("share 0-1 per month") == "%/month"
    assert metric_unit("shadow_volume") == "yuan" and shown_unit("yuan") == "yuan"
    assert metric_unit("active_platforms_head") == "platforms" and shown_unit("platforms") == "platforms"
    assert shown_unit(metric_unit("hhi")) == "0-10,000"
    assert metric_unit("no_such_column") == ""


@pytest.mark.parametrize(("value", "unit", "signed", "text"), [
    (0.7942, "share 0-1", False, "79.42"),
    (-0.032, "share 0-1", True, "-3.20"),
    (0.0123, "share 0-1", True, "+1.23"),
    (1_234_567.0, "yuan", False, "1.23M"),
    (25_720.0, "yuan", True, "+25.72k"),
    (512.0, "yuan", False, "512"),
    (8.0, "platforms", False, "8.0"),
    (2339.4, "0-10000", False, "2,339"),
    (1.23456, "1/yr?", False, "1.235"),
    (math.nan, "yuan", False, "n/a"),
])
def test_format_value(value, unit, signed, text):
    assert format_value(value, unit, signed=signed) == text


def test_levels_and_differences_with_and_without_intervals():
    assert format_level(0.7942, 0.2, 1.3884, "share 0-1") == "79.42 ± 59.42"
    assert format_level(0.7942, math.nan, math.nan, "share 0-1") == "79.42"
    assert format_difference(-0.032, -0.051, -0.013, "share 0-1") == "-3.20 pp [-5.10, -1.30]"
    assert format_difference(2.0, math.nan, math.nan, "platforms") == "+2.0"


def test_horizon_summary_adds_units_and_paired_differences_from_baseline():
    model = model_of({("new-rules-2025", 0): [0.5, 0.7, 0.4], ("baseline-2024", 0): [0.45, 0.6, 0.38]})
    summary = horizon_summary(model, resolved_of(("new-rules-2025", "baseline-2024")))
    # The one schema of every summary table (the report's summary.csv has the same columns).
    assert list(summary.columns) == ["series", "scenario", "point", "when", "date", "metric", "unit", "runs", "mean",
                                     "sd", "low", "high", "reference", "pairs", "diff_mean", "diff_low", "diff_high",
                                     "window_start", "window_basis", "reached"]
    assert list(summary.columns) == summary_columns() and set(summary["when"]) == {"horizon"}
    assert (summary["series"] == summary["scenario"]).all()
    assert list(dict.fromkeys(summary["scenario"])) == ["new-rules-2025", "baseline-2024"]
    row = summary[(summary["scenario"] == "new-rules-2025") & (summary["metric"] == "head_share")].iloc[0]
    assert row["unit"] == "share 0-1" and row["date"] == "2024-02" and row["reference"] == "baseline-2024"
    _, mean, low, high = paired_difference(pd.Series([0.5, 0.7, 0.4]), pd.Series([0.45, 0.6, 0.38]))
    assert row["pairs"] == 3 and (row["diff_mean"], row["diff_low"], row["diff_high"]) == pytest.approx(
        (mean, low, high))
    ref = summary[summary["scenario"] == "baseline-2024"]
    assert (ref["pairs"] == 0).all() and ref["diff_mean"].isna().all()

    text = render_summary(summary, resolved_of(("new-rules-2025", "baseline-2024")))
    assert "baseline-2024  (3 run(s); at the horizon, 2024-02); the reference" in text
    assert "minus baseline-2024 [95% interval]" in text
    line = next(line for line in text.splitlines() if line.startswith("  head_share"))
    assert line.split()[:5] == ["head_share", "%", "53.33", "±", format_value(row["high"] - row["mean"],
                                                                                 "share 0-1")]
    assert line.endswith(format_difference(mean, low, high, "share 0-1"))
    assert "percentage points (pp)" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_sweep_takes_differences_from_the_reference_scenarios_first_point():
    model = model_of({("cap-20", 0): [0.5, 0.6, 0.7], ("cap-20", 1): [0.4, 0.5, 0.6]})
    resolved = resolved_of(("cap-20",), points=2)
    summary = horizon_summary(model, resolved)
    assert list(summary.columns)[:4] == ["series", "scenario", "point", "policy.rate_cap.apr"]
    assert list(summary.columns) == summary_columns(["policy.rate_cap.apr"])
    # Every row names its point by the swept value, never by its index.
    assert set(summary["reference"]) == {"cap-20 · rate_cap.apr=0.2"}
    assert list(dict.fromkeys(summary["series"])) == ["cap-20 · rate_cap.apr=0.2", "cap-20 · rate_cap.apr=0.21"]
    row = summary[(summary["point"] == 1) & (summary["metric"] == "head_share")].iloc[0]
    assert row["diff_mean"] == pytest.approx(-0.1) and row["pairs"] == 3
    assert row["policy.rate_cap.apr"] == pytest.approx(0.21)
    text = render_summary(summary, resolved)
    assert "cap-20 [point 0: policy.rate_cap.apr=0.2]  (3 run(s); at the horizon, 2024-02); the reference" in text


def test_one_series_or_one_replicate():
    model = model_of({("cap-20", 0): [0.5]})
    summary = horizon_summary(model, resolved_of(("cap-20",)))
    assert set(summary["reference"]) == {""} and summary["diff_mean"].isna().all()
    text = render_summary(summary, resolved_of(("cap-20",)))
    assert "minus" not in text and "Differences" not in text
    assert "mean ± 95% half-width" not in text and " ± " not in text.split("\n")[2]
    # One replicate in each of two scenarios: a difference without an interval.
    model = model_of({("cap-20", 0): [0.5], ("cap-12", 0): [0.3]})
    summary = horizon_summary(model, resolved_of(("cap-20", "cap-12")))
    text = render_summary(summary, resolved_of(("cap-20", "cap-12")))
    assert next(line for line in text.splitlines() if "head_share" in line and "pp" in line).endswith("-20.00 pp")


def test_summary_read_back_from_csv_renders_the_same(tmp_path):
    model = model_of({("new-rules-2025", 0): [0.5, 0.7, 0.4], ("baseline-2024", 0): [0.45, 0.6, 0.38]})
    resolved = resolved_of(("new-rules-2025", "baseline-2024"))
    summary = horizon_summary(model, resolved)
    summary.to_csv(tmp_path / "s.csv", index=False)
    assert render_summary(pd.read_csv(tmp_path / "s.csv"), resolved) == render_summary(summary, resolved)


def test_empty_model():
    resolved = resolved_of(("cap-20",))
    assert horizon_summary(pd.DataFrame(), resolved).empty
    assert render_summary(horizon_summary(pd.DataFrame(), resolved), resolved) == "no finished runs to summarize"


def test_summary_table_fills_the_schema_from_the_series():
    rows = pd.DataFrame([{"series": "s · apr=0.1", "scenario": "s", "when": "horizon", "metric": "head_share",
                          "runs": 2, "mean": 0.5},
                         {"series": "s · apr=0.2", "scenario": "s", "when": "short-run", "metric": "months_to_x",
                          "unit": "months", "runs": 2, "mean": 3.0, "window_start": "2025-10"}])
    table = summary_table(rows, {"s · apr=0.1": 0, "s · apr=0.2": 1},
                          {"s · apr=0.1": {"policy.rate_cap.apr": 0.1}, "s · apr=0.2": {"policy.rate_cap.apr": 0.2}},
                          ["policy.rate_cap.apr"])
    assert list(table.columns) == summary_columns(["policy.rate_cap.apr"])
    assert table["point"].tolist() == [0, 1] and table["policy.rate_cap.apr"].tolist() == [0.1, 0.2]
    # A unit the row gives is kept; a model column's comes from COLUMN_DOCS.
    assert table["unit"].tolist() == ["share 0-1", "months"]
    assert table["pairs"].tolist() == [0, 0] and table["diff_mean"].isna().all()
    assert table["window_start"].tolist() == ["", "2025-10"] and table["reached"].isna().all()


def test_intervals_are_clipped_to_the_valid_range_and_printed_as_bounds():
    # Head shares 0.02, 0.98, 0.99: the raw 95% interval runs from below 0 to above 1.
    model = model_of({("new-rules-2025", 0): [0.02, 0.98, 0.99], ("baseline-2024", 0): [0.99, 0.01, 0.02]})
    resolved = resolved_of(("new-rules-2025", "baseline-2024"))
    summary = horizon_summary(model, resolved)
    row = summary[(summary["scenario"] == "new-rules-2025") & (summary["metric"] == "head_share")].iloc[0]
    half = t_quantile(2) * np.std([0.02, 0.98, 0.99], ddof=1) / math.sqrt(3)
    assert row["mean"] - half < 0 and row["mean"] + half > 1  # so both bounds are clipped
    assert (row["low"], row["high"]) == (0.0, 1.0)
    assert row["diff_low"] >= -1.0 and row["diff_high"] <= 1.0
    assert (summary["low"] >= 0).all()  # head share, HHI and shadow volume are never negative
    line = next(line for line in render_summary(summary, resolved).splitlines() if line.startswith("  head_share"))
    assert line.split()[2:5] == [format_value(row["mean"], "share 0-1"), "[0.00,", "100.00]"]
    assert " ± " not in line.split("  ")[-2 if "pp" in line else -1]
    # An interval inside the range keeps mean ± half-width; a clipped one prints its bounds.
    assert format_level(0.7942, 0.2, 1.0, "share 0-1") == "79.42 [20.00, 100.00]"
    assert format_level(0.5, 0.4, 0.6, "share 0-1") == "50.00 ± 10.00"
