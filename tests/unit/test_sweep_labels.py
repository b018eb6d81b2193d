"""Sweep labels (design.series_label and friends), naming sets of a sweep's series, and the pure parts of the
sweep figures (analysis/sweep.py) on hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.analysis.report import describe_series, legend_columns, series_set_label, wrap_label
from experiments.analysis.stats import mean_interval
from experiments.analysis.sweep import (
    figure_name,
    is_flat,
    lever_positions,
    lever_table,
    line_colours,
    merge_same_lines,
    sweep_caption,
    sweep_lines,
    window_means,
)
from experiments.engine.design import (
    Design,
    ResolvedDesign,
    keys_legend,
    point_label,
    series_label,
    short_keys,
    value_text,
)

APR, WL = "policy.rate_cap.apr", "policy.whitelist.enabled"


def test_short_keys_keep_two_parts_and_more_when_two_keys_end_alike():
    assert short_keys([APR]) == {APR: "rate_cap.apr"}
    assert short_keys(["run.months"]) == {"run.months": "run.months"}
    assert short_keys([APR, "policy.kind_caps.cfc.apr"]) == {APR: "rate_cap.apr", "policy.kind_caps.cfc.apr": "cfc.apr"}
    assert short_keys(["a.x.b.c", "d.b.c"]) == {"a.x.b.c": "x.b.c", "d.b.c": "d.b.c"}
    assert keys_legend([APR, "run.months"]) == "rate_cap.apr = policy.rate_cap.apr"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.12, "0.12"),
        (0.2 + 0.01, "0.21"),
        (200000.0, "200000"),
        (3, "3"),
        (True, "true"),
        (np.bool_(False), "false"),
        (np.float64(0.18), "0.18"),
        ("2025-10", "2025-10"),
        ([1, 2], "[1,2]"),
    ],
)
def test_value_text_shows_a_value_as_typed(value, text):
    assert value_text(value) == text


def test_series_label_names_the_scenario_and_every_swept_value():
    point = ((APR, 0.12), (WL, False))
    short = short_keys([APR, WL])
    assert point_label(point, short) == "rate_cap.apr=0.12, whitelist.enabled=false"
    assert series_label("new-rules-2025", point, short) == "new-rules-2025 · rate_cap.apr=0.12, whitelist.enabled=false"
    assert series_label("baseline-2024", ()) == "baseline-2024"
    # The resolved design names every (scenario, point) the same way; no label repeats or says "[point".
    design = Design(scenarios=("baseline-2024", "new-rules-2025"), vary=((APR, (0.12, 0.24)), (WL, (True, False))))
    labels = ResolvedDesign(design, design.sweep_points(), [1], []).series_labels()
    assert len(set(labels.values())) == 8 and not any("[point" in v for v in labels.values())
    assert labels[("new-rules-2025", 1)] == "new-rules-2025 · rate_cap.apr=0.12, whitelist.enabled=false"


def _attrs() -> tuple[list[str], dict[str, tuple[tuple[str, str], ...]]]:
    series, attrs = [], {}
    for scenario in ("baseline-2024", "new-rules-2025"):
        for apr in ("0.12", "0.24"):
            for wl in ("true", "false"):
                name = f"{scenario} · rate_cap.apr={apr}, whitelist.enabled={wl}"
                series.append(name)
                attrs[name] = (("scenario", scenario), ("rate_cap.apr", apr), ("whitelist.enabled", wl))
    return series, attrs


def test_a_set_of_a_sweeps_series_is_named_by_the_fewest_attributes():
    series, attrs = _attrs()
    whitelist_on = [s for s in series if attrs[s][2][1] == "true"]
    assert describe_series(whitelist_on, series, attrs) == ["whitelist.enabled=true"]
    new_rules = [s for s in series if s.startswith("new-rules")]
    assert series_set_label(new_rules, series, attrs) == "new-rules-2025"
    cap_12 = [s for s in new_rules if "apr=0.12" in s]
    assert series_set_label(cap_12, series, attrs) == "new-rules-2025 · rate_cap.apr=0.12"
    assert series_set_label(series, series, attrs) == "all scenarios"
    # Each series by its most general description inside the set (the two may overlap), in display order.
    mixed = [*cap_12, series[0]]
    assert describe_series(mixed, series, attrs) == [
        "rate_cap.apr=0.12, whitelist.enabled=true",
        "new-rules-2025 · rate_cap.apr=0.12",
    ]
    assert describe_series([series[1]], series, attrs) == [series[1]]
    # Without attributes (no sweep) the names are listed as before.
    assert series_set_label(["a", "b"], ["a", "b", "c", "d", "e"]) == "a, b"
    assert series_set_label(["a", "b", "c"], ["a", "b", "c", "d"]) == "all but d"


def test_legend_columns_and_wrapped_titles_fit_the_figure():
    short = ["baseline-2024", "new-rules-2025", "cap-20"]
    assert legend_columns(short, 6.8) == 3
    long = ["new-rules-2025 · rate_cap.apr=0.12, whitelist.enabled=false"] * 6
    assert legend_columns(long, 6.8) == 1 and legend_columns(long, 10.2) == 2
    assert legend_columns([], 6.8) == 1
    title = wrap_label(long[0], 2.7)
    assert title.split("\n")[0] == "new-rules-2025" and "rate_cap.apr=0.12," in title
    assert title.split("\n")[1:] == ["rate_cap.apr=0.12, whitelist.enabled=false"]
    assert wrap_label(long[0], 1.5).split("\n") == ["new-rules-2025", "rate_cap.apr=0.12,", "whitelist.enabled=false"]
    assert wrap_label("cap-20", 2.7) == "cap-20"


def _model() -> pd.DataFrame:
    """Two series x two replicates, months 2025-08..2026-12; head_share = replicate + month index / 100."""
    months = [f"2025-{m:02d}" for m in range(8, 13)] + [f"2026-{m:02d}" for m in range(1, 13)]
    rows = []
    for series, shift in (("s · rate_cap.apr=0.12", 0.0), ("s · rate_cap.apr=0.24", 0.5)):
        for replicate in (0, 1):
            for i, date in enumerate(months):
                rows.append(
                    {
                        "series": series,
                        "replicate": replicate,
                        "date": date,
                        "head_share": shift + replicate * 0.1 + i / 100,
                    }
                )
    return pd.DataFrame(rows)


def test_window_means_and_lever_table_over_the_twelve_months_from_the_rules():
    per_run = window_means(_model(), ["head_share"], "2025-10")
    assert (per_run["months"] == 12).all() and len(per_run) == 4
    # 2025-10..2026-09 are month indices 2..13: mean index 7.5.
    row = per_run[(per_run["series"] == "s · rate_cap.apr=0.24") & (per_run["replicate"] == 1)].iloc[0]
    assert row["head_share"] == pytest.approx(0.5 + 0.1 + 0.075)
    values = {"s · rate_cap.apr=0.12": {APR: 0.12}, "s · rate_cap.apr=0.24": {APR: 0.24}}
    table = lever_table(per_run, list(values), dict.fromkeys(values, "s"), values, [APR], ["head_share"])
    got = table[table["series"] == "s · rate_cap.apr=0.24"].iloc[0]
    n, mean, _, low, high = mean_interval(np.array([0.575, 0.675]))
    assert (got["runs"], got[APR]) == (n, 0.24)
    assert (got["mean"], got["low"], got["high"]) == pytest.approx((mean, low, high))
    assert figure_name(APR) == "sweep_policy_rate_cap_apr"


def test_lines_of_a_grid_and_of_a_zip_sweep():
    series, attrs = _attrs()
    scenario = {s: attrs[s][0][1] for s in series}
    values = {s: {APR: float(attrs[s][1][1]), WL: attrs[s][2][1] == "true"} for s in series}
    grid = sweep_lines(series, scenario, values, APR, [APR, WL], "grid")
    assert list(grid) == [
        "baseline-2024 · whitelist.enabled=true",
        "baseline-2024 · whitelist.enabled=false",
        "new-rules-2025 · whitelist.enabled=true",
        "new-rules-2025 · whitelist.enabled=false",
    ]
    assert all(len(names) == 2 for names in grid.values())
    # In a zip sweep the keys move together: one line per scenario.
    zipped = sweep_lines(series, scenario, values, APR, [APR, WL], "zip")
    assert list(zipped) == ["baseline-2024", "new-rules-2025"]
    assert line_colours(list(grid), list(grid)[:2])["baseline-2024 · whitelist.enabled=true"] == "#4d4d4d"


def test_a_reference_the_lever_leaves_unchanged_is_one_flat_line():
    assert is_flat([0.5, 0.5, 0.5]) and not is_flat([0.5, 0.51]) and not is_flat([math.nan])
    table = pd.DataFrame({"series": ["b1", "b2", "n1", "n2"], "metric": "head_share", "mean": [0.5, 0.5, 0.7, 0.8]})
    lines = {"b · x=1": ["b1"], "b · x=2": ["b2"], "n · x=1": ["n1"], "n · x=2": ["n2"]}
    scenario = {"b1": "b", "b2": "b", "n1": "n", "n2": "n"}
    assert merge_same_lines(lines, table, "b", scenario) == {"b": ["b1"], "n · x=1": ["n1"], "n · x=2": ["n2"]}
    assert merge_same_lines(lines, table, "n", scenario) == lines


def test_lever_positions_are_numbers_or_categories():
    assert lever_positions([0.24, 0.12, 0.24]) == ({"0.24": 0.24, "0.12": 0.12}, True)
    assert lever_positions([True, False]) == ({"true": 0.0, "false": 1.0}, False)
    assert lever_positions(["2025-10", "2026-01"]) == ({"2025-10": 0.0, "2026-01": 1.0}, False)


def test_caption_states_the_window_the_interval_and_the_reference():
    text = sweep_caption(APR, [APR, WL], "grid", "2025-10", 12, 3, "baseline-2024", True)
    assert "12 months from the rules' start (2025-10..2026-09)" in text
    assert "95% interval across replicates" in text and "One line per scenario and value of " + WL in text
    assert "Dashed: baseline-2024" in text
    text = sweep_caption(APR, [APR], "grid", "2025-10", 9, 1, None, False)
    assert "one replication, so no interval" in text and "cover 9 of the window's 12 months" in text
    assert "no reference level" in text
