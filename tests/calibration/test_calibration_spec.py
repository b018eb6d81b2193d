"""Moments files, parameter files, the point overrides and the loss (experiments/calibration/spec.py).

Pure functions: no model run. Every invalid file must give one CalibrationError that lists every problem.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from experiments.calibration import spec
from experiments.calibration.spec import CalibrationError, CalParam
from model.config import ConfigError, load_scenario

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MOMENTS = REPO / "experiments" / "calibration" / "moments-2024.toml"
SHIPPED_PARAMS = REPO / "experiments" / "calibration" / "params-2024.toml"


def moment(**kw) -> dict:
    """A valid [[moment]] table, with ``kw`` replacing or adding keys (a None value removes the key)."""
    base = {"name": "head_price", "metric": "apr_new_head", "window": ["2024-01", "2024-06"], "value": 0.18,
            "tolerance": 0.01, "source": "a test"}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def problems_of(call, *args) -> list[str]:
    with pytest.raises(CalibrationError) as info:
        call(*args)
    return info.value.problems


# -------------------------------------------------------------------------------------------- moments
def test_shipped_moments_file_is_accepted():
    import tomllib

    data = tomllib.loads(SHIPPED_MOMENTS.read_text(encoding="utf-8"))
    moments = spec.load_moments(SHIPPED_MOMENTS)
    assert len(moments.moments) == len(data["moment"]) >= 2 and moments.description == data["description"]
    for m, raw in zip(moments.moments, data["moment"], strict=True):
        assert m.name == raw.get("name", raw["metric"]) and m.metric == raw["metric"]
        assert m.stat == raw.get("stat", "mean") and m.weight == raw.get("weight", 1.0) and m.source
        assert m.window == tuple(raw.get("window", data.get("window")))
        if "band" in raw:  # a band is read as its middle and half its width
            low, high = raw["band"]
            assert m.value == pytest.approx((low + high) / 2) and m.tolerance == pytest.approx((high - low) / 2)
        else:
            assert (m.value, m.tolerance) == (raw["value"], raw["tolerance"])
    assert moments.first_month == min(m.window[0] for m in moments.moments)
    assert moments.last_month == max(m.window[1] for m in moments.moments)


def test_shipped_moments_fit_the_world_without_rules_and_not_one_with_rules():
    """baseline-2024 switches no rule on: every month to its horizon is before the rules, and the shipped
    moments fit. Against new-rules-2025 the stationarity moments (to 2027-12) are refused, the 2024 levels not."""
    from experiments.analysis.rules import first_announcement, rules_enabled, rules_start

    moments = spec.load_moments(SHIPPED_MOMENTS)
    baseline = load_scenario("baseline-2024")
    assert rules_enabled(baseline) == []
    assert spec.check_moments_against(moments, "2024-01", "2027-12", None, first_announcement(baseline)) == []
    rules = load_scenario("new-rules-2025")
    assert "policy.whitelist.enabled" in rules_enabled(rules)
    problems = spec.check_moments_against(moments, "2024-01", "2027-12", rules_start(rules), first_announcement(rules))
    assert sorted(p.split(":")[0] for p in problems) == ["moment head_share_drift", "moment tail_platforms_2027"]


def test_change_statistic_is_the_drift_between_the_ends_of_the_window():
    import pandas as pd

    table = pd.DataFrame({"date": [f"2024-{m:02d}" for m in range(1, 13)], "head_share": [0.5] * 3 + [0.6] * 6
                          + [0.8] * 3})
    moments = spec.parse_moments({"moment": [moment(name="drift", metric="head_share", stat="change",
                                                    window=["2024-01", "2024-12"])]}, "test")
    assert spec.run_moments(table, moments)["drift"] == pytest.approx(0.3)


def test_invalid_moments_give_one_error_listing_every_problem():
    data = {
        "moment": [
            moment(name="m_metric", metric="no_such_column"),
            moment(name="m_key", colour="red"),
            moment(name="m_source", source=None),
            moment(name="m_tolerance", tolerance=0),
            moment(name="m_band", value=None, tolerance=None, band=[0.3, 0.2]),
            moment(name="m_both", band=[0.1, 0.2]),
            moment(name="m_window", window=None),
            moment(name="m_order", window=["2024-06", "2024-01"]),
            # The only valid moments: the same name twice, both of weight 0.
            moment(name="dup", weight=0),
            moment(name="dup", weight=0.0),
        ],
    }
    with pytest.raises(CalibrationError) as info:
        spec.parse_moments(data, "bad.toml")
    problems = info.value.problems
    expected = {
        "m_metric": "is not a numeric model-table column",
        "m_key": "unknown key 'colour'",
        "m_source": "needs source",
        "m_tolerance": "needs tolerance = <number > 0>",
        "m_band": "must be [low, high] with low < high",
        "m_both": "either band or value and tolerance, not both",
        "m_window": "needs a window",
        "m_order": "the first month is after the last",
    }
    for name, fragment in expected.items():
        assert any(f"({name})" in p and fragment in p for p in problems), (name, problems)
    assert any("'dup' is used twice" in p for p in problems), problems
    assert any("every moment has weight 0" in p for p in problems), problems
    assert len(problems) == len(expected) + 2, problems
    # One exception, a ConfigError (exit status 2), naming the file once in its header.
    assert isinstance(info.value, ConfigError)
    assert str(info.value).startswith("calibration input 'bad.toml' has 10 problems:")


@pytest.mark.parametrize(("change", "fragment"), [
    ({"metric": "no_such_column"}, "is not a numeric model-table column"),
    ({"metric": "date"}, "is not a numeric model-table column"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"source": None}, "needs source"),
    ({"source": "   "}, "needs source"),
    ({"tolerance": 0}, "needs tolerance = <number > 0>"),
    ({"tolerance": -0.1}, "needs tolerance = <number > 0>"),
    ({"value": None, "tolerance": None, "band": [0.3, 0.2]}, "low < high"),
    ({"value": None, "tolerance": None, "band": [0.2, 0.2]}, "low < high"),
    ({"band": [0.1, 0.2]}, "not both"),
    ({"window": None}, "needs a window"),
    ({"window": ["2024-06", "2024-01"]}, "the first month is after the last"),
    ({"window": ["2024-01"]}, "must be [\"YYYY-MM\", \"YYYY-MM\"]"),
    ({"stat": "median"}, "must be one of mean, end"),
    ({"weight": -1}, "must be a number >= 0"),
])
def test_each_moment_problem_is_reported_alone(change, fragment):
    problems = problems_of(spec.parse_moments, {"moment": [moment(**change)]})
    assert len(problems) == 1 and fragment in problems[0], problems


def test_moment_defaults_name_window_stat_and_weight():
    data = {"window": ["2024-01", "2024-12"], "moment": [
        {"metric": "npl_ratio", "band": [0.015, 0.025], "source": "s"},
        {"metric": "cr5", "value": 0.75, "tolerance": 0.05, "source": " s ", "stat": "end",
         "window": ["2024-03", "2024-09"], "weight": 2},
    ]}
    first, second = spec.parse_moments(data).moments
    assert (first.name, first.stat, first.window, first.weight) == ("npl_ratio", "mean", ("2024-01", "2024-12"), 1.0)
    assert first.value == pytest.approx(0.02) and first.tolerance == pytest.approx(0.005)
    assert (second.name, second.stat, second.window, second.weight, second.source) == \
        ("cr5", "end", ("2024-03", "2024-09"), 2.0, "s")


def test_moments_file_unknown_top_level_key_and_no_moment(tmp_path):
    problems = problems_of(spec.parse_moments, {"windows": ["2024-01", "2024-02"]})
    assert any("windows: unknown key" in p for p in problems)
    assert any("at least one [[moment]]" in p for p in problems)
    missing = problems_of(spec.load_moments, tmp_path / "nope.toml")
    assert missing == [f"{tmp_path / 'nope.toml'}: no such file"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[[moment]\n", encoding="utf-8")
    assert "cannot read" in problems_of(spec.load_moments, bad)[0]


def moments_with(*windows: tuple[str, str]) -> spec.Moments:
    return spec.parse_moments({"moment": [moment(name=f"m{i}", window=list(w)) for i, w in enumerate(windows)]})


def test_check_moments_against_reports_windows_outside_the_simulated_months():
    moments = moments_with(("2023-06", "2023-12"), ("2024-01", "2031-01"), ("2024-01", "2024-12"))
    problems = spec.check_moments_against(moments, "2024-01", "2027-12", "2032-01", None)
    assert len(problems) == 2, problems
    assert "moment m0" in problems[0] and "outside the simulated months 2024-01..2027-12" in problems[0]
    assert "moment m1" in problems[1] and "outside the simulated months" in problems[1]


def test_check_moments_against_reports_windows_ending_at_or_after_the_rules():
    moments = moments_with(("2024-01", "2025-09"), ("2024-01", "2025-10"), ("2025-01", "2026-01"))
    problems = spec.check_moments_against(moments, "2024-01", "2027-12", "2025-10", None)
    assert len(problems) == 2, problems
    assert problems[0].startswith("moment m1: window ends 2025-10") and "take effect in 2025-10" in problems[0]
    assert problems[1].startswith("moment m2: window ends 2026-01")


def test_check_moments_against_reports_windows_ending_at_or_after_the_announcement():
    moments = moments_with(("2024-01", "2025-03"), ("2024-01", "2025-04"), ("2024-01", "2025-06"))
    problems = spec.check_moments_against(moments, "2024-01", "2027-12", "2025-10", "2025-04")
    assert len(problems) == 2, problems
    assert all("are announced in 2025-04" in p for p in problems)
    assert "moment m1" in problems[0] and "moment m2" in problems[1]
    # An announcement after the rules bind (not a real case) leaves the binding month the limit.
    late = spec.check_moments_against(moments, "2024-01", "2027-12", "2025-02", "2025-04")
    assert len(late) == 3 and all("take effect in 2025-02" in p for p in late)


def test_run_moments_mean_end_and_empty_window():
    model = pd.DataFrame({"date": ["2024-01", "2024-02", "2024-03", "2024-04"], "cr5": [0.1, 0.2, 0.3, 0.9]})
    moments = spec.parse_moments({"moment": [
        moment(name="mean", metric="cr5", window=["2024-01", "2024-03"]),
        moment(name="end", metric="cr5", stat="end", window=["2024-02", "2024-03"]),
        moment(name="none", metric="cr5", window=["2025-01", "2025-03"]),
    ]})
    values = spec.run_moments(model, moments)
    assert values["mean"] == pytest.approx(0.2)
    assert values["end"] == pytest.approx(0.3)
    assert math.isnan(values["none"])


# ------------------------------------------------------------------------------------------------ loss
def test_loss_is_the_weighted_sum_of_squared_standardized_distances():
    moments = spec.parse_moments({"moment": [
        moment(name="a", value=1.0, tolerance=0.5, weight=2.0),
        moment(name="b", metric="cr5", value=0.7, tolerance=0.1),
        moment(name="c", metric="npl_ratio", value=0.02, tolerance=0.01, weight=0),
    ]})
    values = {"a": 2.0, "b": 0.4, "c": 5.0}
    # 2 * ((2 - 1) / 0.5)^2 + 1 * ((0.4 - 0.7) / 0.1)^2 + 0 * ... = 8 + 9
    assert spec.loss(values, moments) == pytest.approx(17.0)
    assert spec.loss({"a": 1.0, "b": 0.7, "c": 0.02}, moments) == 0.0


def test_loss_is_infinite_when_a_moment_is_undefined():
    moments = spec.parse_moments({"moment": [moment(name="a"), moment(name="b", metric="cr5")]})
    assert spec.loss({"a": 0.18, "b": math.nan}, moments) == math.inf
    assert spec.loss({"a": 0.18}, moments) == math.inf
    assert spec.loss({"a": 0.18, "b": math.inf}, moments) == math.inf


# ------------------------------------------------------------------------------------------ parameters
def test_shipped_params_file_is_accepted():
    import tomllib

    table = tomllib.loads(SHIPPED_PARAMS.read_text(encoding="utf-8"))["params"]
    params = spec.load_params(SHIPPED_PARAMS)
    assert [p.name for p in params] == list(table) and len(params) >= 2
    for p in params:
        assert [p.low, p.high] == table[p.name] and p.low < p.high
        if "[" in p.name:
            assert p.name == f"{p.key}[{p.index}]"
        else:
            assert (p.key, p.index) == (p.name, None)
    # Its start point is the shipped scenario's values, clipped into the ranges.
    start = spec.start_values(params, load_scenario("baseline-2024"))
    assert all(p.low <= v <= p.high for p, v in zip(params, start, strict=True))


def test_element_syntax_names_one_element_of_a_list():
    (param,) = spec.parse_params({"borrowers.hazard[2]": [0.02, 0.08]})
    assert param == CalParam("borrowers.hazard[2]", "borrowers.hazard", 2, 0.02, 0.08)
    assert param.at(0.0) == 0.02 and param.at(1.0) == 0.08 and param.at(0.5) == pytest.approx(0.05)


@pytest.mark.parametrize(("table", "fragment"), [
    ({"platforms.head.markupp": [0.2, 0.6]}, "unknown parameter"),
    ({"borrowers.hazard": [0.01, 0.05]}, "name one element, e.g. \"borrowers.hazard[0]\""),
    ({"borrowers.hazard[3]": [0.01, 0.05]}, "has 3 elements (indices 0..2)"),
    ({"platforms.head.markup[0]": [0.2, 0.6]}, "is not a list of numbers"),
    ({"platforms.head.markup": [0.6, 0.2]}, "empty range"),
    ({"platforms.head.markup": [0.4, 0.4]}, "empty range"),
    ({"channels.spend_returns": [-0.5, 0.5]}, "outside the parameter's range [0.0, 1.0]"),
    ({"borrowers.hazard[1]": [0.5, 1.5]}, "outside the parameter's range [0.0, 1.0]"),
    ({"borrowers.term_months": [6.0, 24.0]}, "an integer parameter cannot be calibrated"),
    ({"platforms.head.markup": 0.4}, "must be [low, high]"),
    ({"platforms.head.markup": [0.2, "0.6"]}, "must be [low, high]"),
    ({"run.start": [0, 1]}, "not a scalar number"),
    ({}, "[params] is empty"),
])
def test_each_params_problem_is_reported(table, fragment):
    problems = problems_of(spec.parse_params, table)
    assert len(problems) == 1 and fragment in problems[0], problems


def test_invalid_params_give_one_error_listing_every_problem():
    table = {
        "nope.x": [0, 1], "borrowers.hazard": [0, 1], "borrowers.hazard[7]": [0, 1],
        "platforms.head.markup": [0.5, 0.2], "channels.spend_returns": [0.5, 2.0], "borrowers.term_months": [6, 24],
        "platforms.tail.markup": [0.3, 1.0],  # valid
    }
    problems = problems_of(spec.parse_params, table)
    assert len(problems) == 6, problems
    for name in ("nope.x", "borrowers.hazard:", "borrowers.hazard[7]", "platforms.head.markup",
                 "channels.spend_returns", "borrowers.term_months"):
        assert any(p.startswith(f"params.{name}") for p in problems), (name, problems)


def test_load_params_reads_the_params_table(tmp_path):
    good = tmp_path / "p.toml"
    good.write_text('description = "x"\n[params]\n"borrowers.hazard[0]" = [0.001, 0.01]\n', encoding="utf-8")
    assert [p.name for p in spec.load_params(good)] == ["borrowers.hazard[0]"]
    empty = tmp_path / "e.toml"
    empty.write_text('description = "x"\n', encoding="utf-8")
    assert "needs a [params] table" in problems_of(spec.load_params, empty)[0]
    extra = tmp_path / "x.toml"
    extra.write_text('colour = 1\n[params]\n"borrowers.hazard[0]" = [0.001, 0.01]\n', encoding="utf-8")
    assert problems_of(spec.load_params, extra) == ["colour: unknown key (a parameter file has description and "
                                                    "[params])"]


def test_two_names_of_the_same_element_are_refused():
    problems = problems_of(spec.parse_params, {"borrowers.hazard[2]": [0.02, 0.05],
                                               "borrowers.hazard[02]": [0.03, 0.06]})
    assert any("borrowers.hazard" in p for p in problems)


def test_overrides_for_merges_elements_of_the_same_list():
    params = spec.parse_params({"borrowers.hazard[0]": [0.001, 0.01], "platforms.head.markup": [0.2, 0.6],
                                "borrowers.hazard[2]": [0.02, 0.08]})
    defaults = {"borrowers.hazard": [0.004, 0.013, 0.035]}
    out = spec.overrides_for(params, [0.005, 0.45, 0.05], defaults)
    assert out == {"borrowers.hazard": [0.005, 0.013, 0.05], "platforms.head.markup": 0.45}
    assert defaults == {"borrowers.hazard": [0.004, 0.013, 0.035]}  # not modified
    with pytest.raises(ValueError):
        spec.overrides_for(params, [0.005, 0.45], defaults)


def test_start_values_are_the_scenarios_values_clipped_into_the_ranges():
    scenario = load_scenario("baseline-2024")
    params = spec.parse_params({"platforms.head.markup": [0.2, 0.6], "borrowers.hazard[2]": [0.05, 0.07],
                                "channels.spend_returns": [0.1, 0.3]})
    markup, spend = scenario.get("platforms.head.markup"), scenario.get("channels.spend_returns")
    assert 0.2 < markup < 0.6 and spend > 0.3 and scenario.get("borrowers.hazard")[2] < 0.05
    assert spec.start_values(params, scenario) == [markup, 0.05, 0.3]
