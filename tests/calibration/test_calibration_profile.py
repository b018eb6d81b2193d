"""Identifiability, fit and outputs of a calibration on hand-made numbers (experiments/calibration/profile.py,
outputs.py): no model run."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import pytest

from experiments.calibration import outputs, profile, spec
from experiments.calibration.profile import CHI2_95
from model.config import load_scenario


def parabola(center: float, half_width: float, delta: float = CHI2_95, floor: float = 0.0):
    """A loss that rises by exactly ``delta`` at ``center ± half_width``."""
    return lambda x: floor + delta * ((np.asarray(x, dtype=float) - center) / half_width) ** 2


# --------------------------------------------------------------------------------------------- interval
def test_interval_of_a_parabola_crossing_on_grid_points_is_the_analytic_interval():
    xs = np.linspace(0.0, 1.0, 21)
    low, high, open_low, open_high = profile.interval(xs, parabola(0.45, 0.2, floor=3.0)(xs))
    assert (low, high) == pytest.approx((0.25, 0.65), abs=1e-9)
    assert (open_low, open_high) == (False, False)


def test_interval_interpolates_crossings_between_grid_points():
    # Crossings at 0.37 and 0.61, between grid points 0.3/0.4 and 0.6/0.7: linear interpolation of the grid's
    # losses (the threshold is delta above the grid's lowest loss, at 0.5), which on a fine grid approaches the
    # analytic crossing.
    f = parabola(0.49, 0.12)
    xs = np.linspace(0.0, 1.0, 11)
    low, high, open_low, open_high = profile.interval(xs, f(xs))
    y3, y4, y5, y6, y7 = f([0.3, 0.4, 0.5, 0.6, 0.7])
    limit = y5 + CHI2_95
    assert low == pytest.approx(0.4 + (0.3 - 0.4) * (limit - y4) / (y3 - y4))
    assert high == pytest.approx(0.6 + (0.7 - 0.6) * (limit - y6) / (y7 - y6))
    assert 0.3 < low < 0.4 and 0.6 < high < 0.7 and not open_low and not open_high
    fine = np.linspace(0.0, 1.0, 2001)
    low, high, _, _ = profile.interval(fine, f(fine))
    assert (low, high) == pytest.approx((0.37, 0.61), abs=1e-5)


def test_interval_is_open_where_the_loss_does_not_cross_before_a_bound():
    xs = np.linspace(0.0, 1.0, 11)
    low, high, open_low, open_high = profile.interval(xs, parabola(0.1, 0.3)(xs))
    assert (low, open_low) == (0.0, True)
    assert high == pytest.approx(0.4) and not open_high
    low, high, open_low, open_high = profile.interval(xs, parabola(1.0, 0.2)(xs))
    assert low == pytest.approx(0.8) and not open_low
    assert (high, open_high) == (1.0, True)


def test_flat_profile_gives_the_whole_range():
    xs = np.linspace(0.2, 0.6, 7)
    assert profile.interval(xs, np.full(7, 5.0)) == (0.2, 0.6, True, True)
    wiggle = 5.0 + 0.45 * CHI2_95 * np.sin(np.arange(7))  # max - min < delta
    assert profile.interval(xs, wiggle) == (0.2, 0.6, True, True)


def test_interval_with_undefined_losses():
    xs = np.linspace(0.0, 1.0, 5)
    low, high, open_low, open_high = profile.interval(xs, [math.nan] * 5)
    assert math.isnan(low) and math.isnan(high) and open_low and open_high
    # An infinite loss ends the interval at the last finite point next to it.
    low, high, open_low, open_high = profile.interval(xs, [0.1, 0.0, math.inf, 0.2, 0.3])
    assert (low, high, open_low, open_high) == (0.0, 0.25, True, False)


def test_interval_respects_delta():
    xs = np.linspace(0.0, 1.0, 21)
    f = parabola(0.5, 0.1, delta=1.0)  # rises by 1 at 0.4 and 0.6, by 4 at 0.3 and 0.7
    assert profile.interval(xs, f(xs), delta=1.0)[:2] == pytest.approx((0.4, 0.6))
    assert profile.interval(xs, f(xs), delta=4.0)[:2] == pytest.approx((0.3, 0.7))


def test_profile_points_and_point_values():
    params = spec.parse_params({"platforms.head.markup": [0.2, 0.6], "borrowers.hazard[2]": [0.02, 0.08]})
    points = profile.profile_points(params, 3)
    assert points == [(0, 0.2), (0, pytest.approx(0.4)), (0, 0.6), (1, 0.02), (1, pytest.approx(0.05)), (1, 0.08)]
    assert profile.point_values([0.3, 0.04], 1, 0.07) == [0.3, 0.07]
    with pytest.raises(ValueError):
        profile.profile_points(params, 2)


# -------------------------------------------------------------------------------------- identifiability
def make_profile(params, shapes, grid: int = 11) -> pd.DataFrame:
    rows = []
    for p, f in zip(params, shapes, strict=True):
        for x in np.linspace(p.low, p.high, grid):
            rows.append({"param": p.name, "value": float(x), "loss": float(f(x))})
    return pd.DataFrame(rows)


def test_identifiability_verdicts_and_edges():
    params = spec.parse_params({"platforms.head.markup": [0.0, 1.0], "platforms.tail.markup": [0.0, 1.0],
                                "channels.spend_returns": [0.0, 1.0], "funders.pref_sharpness": [0.0, 1.0]})
    shapes = [
        parabola(0.5, 0.1),           # narrow: [0.4, 0.6] -> identified
        parabola(0.5, 0.4),           # rises by 1.56 delta at the ends, interval [0.1, 0.9] -> weak
        parabola(0.5, 0.9),           # rises by 0.31 delta at most -> not identified
        parabola(0.0, 0.3),           # minimum at the lower bound -> identified, open below, at the edge
    ]
    estimate = [0.5, 0.5, 0.5, 0.01]
    table = profile.identifiability(params, estimate, 0.0, make_profile(params, shapes))
    rows = table.set_index("param")
    assert rows.loc["platforms.head.markup", "verdict"] == "identified"
    assert rows.loc["platforms.head.markup", ["interval_low", "interval_high"]].tolist() == \
        pytest.approx([0.4, 0.6])
    assert rows.loc["platforms.head.markup", "span_share"] == pytest.approx(0.2)
    assert rows.loc["platforms.tail.markup", "verdict"] == "weak"
    assert rows.loc["platforms.tail.markup", "span_share"] == pytest.approx(0.8)
    assert rows.loc["channels.spend_returns", "verdict"] == "not identified"
    assert rows.loc["channels.spend_returns", "loss_rise"] < CHI2_95
    assert rows.loc["channels.spend_returns", ["interval_low", "interval_high", "open_low", "open_high"]].tolist() \
        == [0.0, 1.0, True, True]
    edge = rows.loc["funders.pref_sharpness"]
    assert edge["verdict"] == "identified" and bool(edge["open_low"]) and not edge["open_high"]
    assert edge["interval_high"] == pytest.approx(0.3)
    assert rows["at_edge"].tolist() == [False, False, False, True]
    assert list(table.columns) == ["param", "low", "high", "estimate", "interval_low", "interval_high", "open_low",
                                   "open_high", "span_share", "loss_rise", "verdict", "at_edge", "inside"]
    assert rows["inside"].all()


@pytest.mark.parametrize(("u", "at_edge"), [(0.0, True), (0.02, True), (0.03, False), (0.5, False), (0.97, False),
                                            (0.98, True), (1.0, True)])
def test_at_edge_within_two_percent_of_either_end(u, at_edge):
    params = spec.parse_params({"platforms.head.markup": [0.0, 1.0]})
    est = u
    prof = make_profile(params, [parabola(est, 0.05)])
    assert bool(profile.identifiability(params, [est], 0.0, prof)["at_edge"].iloc[0]) is at_edge


def test_identifiability_includes_the_estimate_point():
    # The grid misses the minimum: the estimate itself, with its own loss, is the interval's centre.
    params = spec.parse_params({"platforms.head.markup": [0.0, 1.0]})
    f = parabola(0.33, 0.1)
    prof = make_profile(params, [f], grid=3)  # 0, 0.5, 1: all far above the threshold
    row = profile.identifiability(params, [0.33], float(f(0.33)), prof).iloc[0]
    assert row["interval_low"] < 0.33 < row["interval_high"]
    assert row["verdict"] == "identified" and row["inside"]


def test_estimate_outside_its_interval_is_flagged():
    # The search stopped at 0.2 but the profile finds a clearly lower loss around 0.7.
    params = spec.parse_params({"platforms.head.markup": [0.0, 1.0]})
    f = parabola(0.7, 0.1)
    row = profile.identifiability(params, [0.2], float(f(0.2)), make_profile(params, [f])).iloc[0]
    assert row["interval_low"] == pytest.approx(0.6) and row["interval_high"] == pytest.approx(0.8)
    assert not row["inside"] and not row["at_edge"]


# ---------------------------------------------------------------------------------------------- fit table
def test_fit_table_within_means_at_most_one_tolerance_away():
    moments = spec.parse_moments({"window": ["2024-01", "2024-06"], "moment": [
        {"name": "on_edge", "metric": "cr5", "value": 0.5, "tolerance": 0.25, "source": "s"},
        {"name": "below_edge", "metric": "cr5", "value": 0.5, "tolerance": 0.25, "source": "s"},
        {"name": "outside", "metric": "cr5", "value": 0.5, "tolerance": 0.25, "weight": 2, "source": "s"},
        {"name": "inside", "metric": "npl_ratio", "value": 0.02, "tolerance": 0.005, "source": "s"},
        {"name": "missing", "metric": "npl_ratio", "value": 0.02, "tolerance": 0.005, "source": "s"},
    ]})
    runs = pd.DataFrame({"on_edge": [0.75, 0.75], "below_edge": [0.25, 0.25], "outside": [0.70, 0.90],
                         "inside": [0.018, 0.024], "missing": [math.nan, math.nan]})
    fit = profile.fit_table(runs, moments).set_index("moment")
    assert fit["within"].tolist() == [True, True, False, True, False]
    out = fit.loc["outside"]
    assert out["model"] == pytest.approx(0.8) and out["z"] == pytest.approx(1.2)
    assert out["loss"] == pytest.approx(2 * 1.2 ** 2) and out["replicates"] == 2
    assert out["model_low"] < 0.8 < out["model_high"]
    assert fit.loc["inside", "z"] == pytest.approx(0.2)
    assert fit.loc["missing", "replicates"] == 0 and math.isnan(fit.loc["missing", "model"])
    assert fit.loc["on_edge", "window"] == "2024-01..2024-06" and fit.loc["on_edge", "source"] == "s"


def test_sensitivity_of_moments_in_tolerances():
    params = spec.parse_params({"platforms.head.markup": [0.2, 0.6]})
    moments = spec.parse_moments({"window": ["2024-01", "2024-06"], "moment": [
        {"name": "a", "metric": "cr5", "value": 0.5, "tolerance": 0.1, "source": "s"},
        {"name": "b", "metric": "cr5", "value": 0.5, "tolerance": 0.5, "source": "s"}]})
    prof = pd.DataFrame({"param": ["platforms.head.markup"] * 3, "value": [0.2, 0.4, 0.6], "loss": [1, 0, 1],
                         "a": [0.5, 0.8, 0.6], "b": [0.5, math.nan, 0.6]})
    row = profile.sensitivity_of_moments(params, prof, moments).iloc[0]
    assert row["a"] == pytest.approx(3.0) and row["b"] == pytest.approx(0.2)


# ------------------------------------------------------------------------------------------------ outputs
@pytest.mark.parametrize(("value", "digits", "expected"), [
    (0.123456, 4, 0.1235), (12345.678, 4, 12350.0), (-0.00098765, 4, -0.0009877), (0.5, 4, 0.5),
    (1.0, 4, 1.0), (0.0, 4, 0.0), (0.123456, 2, 0.12), (2.5e-7, 1, 2e-7),
])
def test_round_sig(value, digits, expected):
    assert outputs.round_sig(value, digits) == expected


def test_round_sig_keeps_non_finite_values():
    assert outputs.round_sig(math.inf) == math.inf and outputs.round_sig(-math.inf) == -math.inf
    assert math.isnan(outputs.round_sig(math.nan))


def test_overlay_toml_round_trips_through_load_scenario(tmp_path):
    base = load_scenario("baseline-2024")
    hazard = list(base.get("borrowers.hazard"))
    hazard[2] = outputs.round_sig(0.0456789)
    values = {"platforms.head.markup": outputs.round_sig(0.432198), "borrowers.hazard": hazard,
              "channels.spend_returns": 0.55, "platforms.tail.markup": 0.7}
    text = outputs.overlay_toml(values, "baseline-2024", ["Estimated by: zhudai calibrate x", "", "second line"],
                                'Baseline with "estimated" values (助贷).')
    lines = text.splitlines()
    assert lines[:3] == ["# Estimated by: zhudai calibrate x", "#", "# second line"]
    data = tomllib.loads(text)
    assert data["extends"] == "baseline-2024" and data["description"] == 'Baseline with "estimated" values (助贷).'
    path = tmp_path / "estimate.toml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(str(path))
    for key, value in values.items():
        assert scenario.get(key) == value, key
    assert scenario.get("platforms.head.markup") == 0.4322 and scenario.get("borrowers.hazard")[2] == 0.04568
    # Everything else is the extended scenario's.
    assert scenario.get("borrowers.hazard")[:2] == base.get("borrowers.hazard")[:2]
    assert scenario.get("funders.pref_sharpness") == base.get("funders.pref_sharpness")
    assert scenario.params.run == base.params.run


def test_markdown_table_formats_numbers_and_flags():
    df = pd.DataFrame({"a": ["x|y"], "b": [0.123456], "c": [math.nan], "d": [math.inf], "e": [True]})
    table = outputs.markdown_table(df, ["a", "b", "c", "d", "e"])
    assert table.splitlines() == ["| a | b | c | d | e |", "|---|---|---|---|---|",
                                  "| x/y | 0.1235 | n/a | inf | yes |"]
