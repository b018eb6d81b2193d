"""The population-size check's comparison (experiments/analysis/scale.py) on hand-built tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import scale


def _model(values: dict[str, list[float]], dates=("2025-09", "2025-10", "2025-11")) -> pd.DataFrame:
    """A run's model table: every column the check reads, month by month (defaults 0)."""
    n = len(dates)
    table = {"step": list(range(1, n + 1)), "date": list(dates)}
    for o in scale.OUTCOMES:
        table[o.column] = values.get(o.column, [0.0] * n)
    return pd.DataFrame(table)


def test_run_outcomes_reads_the_end_or_the_mean_after_the_rules():
    m = _model({"active_platforms_tail": [100, 90, 80], "head_share": [0.9, 0.6, 0.7]})
    out = scale.run_outcomes(m, "2025-10")
    assert out["tail_left"] == 80  # value at the horizon
    assert out["head_share"] == pytest.approx(0.65)  # mean of 2025-10 and 2025-11, not 2025-09


def _runs(rows):
    """Check-table rows: (borrowers, scenario, replicate, {outcome: value})."""
    records = []
    for borrowers, scenario, replicate, values in rows:
        record = {"borrowers": borrowers, "scenario": scenario, "replicate": replicate}
        record.update({o.name: values.get(o.name, 1.0) for o in scale.OUTCOMES})
        records.append(record)
    return pd.DataFrame(records)


def test_a_level_within_ten_percent_passes_and_one_beyond_fails():
    """Reference tail_left 100 with no spread: 91 passes (within 10%), 89 does not."""
    runs = _runs([(400, "s", r, {"tail_left": 100.0}) for r in range(3)]
                 + [(100, "s", r, {"tail_left": 91.0}) for r in range(3)]
                 + [(50, "s", r, {"tail_left": 89.0}) for r in range(3)])
    c = scale.compare_sizes(runs).set_index(["borrowers", "outcome"])
    assert c.loc[(100, "tail_left"), "ok"] and not c.loc[(50, "tail_left"), "ok"]
    assert c.loc[(100, "tail_left"), "allowed"] == pytest.approx(10.0)
    assert scale.smallest_passing_size(scale.compare_sizes(runs)) == 100


def test_shares_use_three_points_and_a_wide_interval_widens_the_bar():
    # Shares: head share 0.50 at the reference; 0.53 passes, 0.54 does not.
    runs = _runs([(2, "s", r, {"head_share": 0.50}) for r in range(3)]
                 + [(1, "s", r, {"head_share": 0.53}) for r in range(3)])
    c = scale.compare_sizes(runs).set_index(["borrowers", "outcome"])
    assert c.loc[(1, "head_share"), "ok"]
    runs.loc[runs["borrowers"] == 1, "head_share"] = 0.54
    assert not scale.compare_sizes(runs).set_index(["borrowers", "outcome"]).loc[(1, "head_share"), "ok"]
    # A noisy reference: HHI 1000, 1400, 1800 -> mean 1400, 95% half-width t(0.975, 2) * 400 / sqrt(3) = 993.6.
    runs = _runs([(2, "s", r, {"hhi": v}) for r, v in enumerate([1000.0, 1400.0, 1800.0])]
                 + [(1, "s", r, {"hhi": 2300.0}) for r in range(3)])
    row = scale.compare_sizes(runs).set_index(["borrowers", "outcome"]).loc[(1, "hhi")]
    assert row["allowed"] == pytest.approx(4.302653 * 400 / math.sqrt(3), rel=1e-5)
    assert row["ok"]


def test_a_count_of_a_tiers_platforms_is_also_a_share_of_the_tier():
    """Tail platforms left: reference 0 in every replicate (all exited). 3 points of the tier's 120 platforms
    (3.6) is the tolerance there, not 10% of 0; at a reference of 100 the 10% (10) is wider and applies."""
    assert scale.OUTCOME_BY_NAME["tail_left"].of_total == 120
    assert scale.OUTCOME_BY_NAME["waist_left"].of_total == 30
    runs = _runs([(400, "s", r, {"tail_left": 0.0}) for r in range(3)]
                 + [(100, "s", r, {"tail_left": v}) for r, v in enumerate([0.0, 1.0, 1.0])]
                 + [(50, "s", r, {"tail_left": 4.0}) for r in range(3)])
    c = scale.compare_sizes(runs).set_index(["borrowers", "outcome"])
    assert c.loc[(100, "tail_left"), "allowed"] == pytest.approx(3.6)
    assert c.loc[(100, "tail_left"), "ok"] and not c.loc[(50, "tail_left"), "ok"]
    assert scale.tolerance(scale.OUTCOME_BY_NAME["tail_left"], 100.0) == pytest.approx(10.0)


def test_each_scenario_is_compared_with_its_own_largest_size():
    runs = _runs([(2, "a", 0, {"tail_left": 100.0}), (1, "a", 0, {"tail_left": 100.0}),
                  (2, "b", 0, {"tail_left": 10.0}), (1, "b", 0, {"tail_left": 100.0})])
    c = scale.compare_sizes(runs).set_index(["scenario", "borrowers", "outcome"])
    assert c.loc[("a", 1, "tail_left"), "ok"] and not c.loc[("b", 1, "tail_left"), "ok"]
    assert scale.smallest_passing_size(scale.compare_sizes(runs)) == 2


def test_outcomes_table_and_markdown():
    m = _model({"active_platforms_tail": [5, 5, 5]})
    models = {1000: pd.concat([m.assign(scenario="s", replicate=r) for r in range(2)]),
              2000: pd.concat([m.assign(scenario="s", replicate=r) for r in range(2)])}
    runs = scale.outcomes_table(models, "2025-10")
    assert len(runs) == 4 and set(runs["borrowers"]) == {1000, 2000}
    assert np.all(runs["tail_left"] == 5)
    text = scale.render_markdown(scale.compare_sizes(runs), ["s"])
    assert "| 1,000 |" in text and "Every outcome at every size is within the bar." in text


def test_small_population_warning_below_the_supported_size_only():
    """Below the smallest size the scale check supports a run gets one warning naming both sizes; at it, none."""
    low = scale.small_population_warning(scale.SUPPORTED_MIN_BORROWERS - 1)
    assert low is not None and low.startswith("warning: ")
    assert f"{scale.SUPPORTED_MIN_BORROWERS - 1:,}" in low and f"{scale.SUPPORTED_MIN_BORROWERS:,}" in low
    assert scale.small_population_warning(scale.SUPPORTED_MIN_BORROWERS) is None


def test_the_batch_commands_default_to_the_supported_population():
    """compare, batch, validate and calibrate run at the smallest population the scale check supports."""
    from experiments.engine.design import DEFAULT_BORROWERS

    assert DEFAULT_BORROWERS == scale.SUPPORTED_MIN_BORROWERS
