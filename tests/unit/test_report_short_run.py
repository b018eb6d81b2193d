"""The report's short-run and speed measures (experiments/analysis/report.py) on hand-made model tables: peak and
cumulative defaults in the 12 months from a rule date, months until the head share reaches a threshold ("not
reached" when it never does), platform exits counted from the rule date, and differences net of the reference
paired by replicate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis.report import (
    FIRST_RULE,
    IN_EFFECT,
    SHORT_RUN,
    ReportData,
    Window,
    _short_run_tables,
    default_window,
    exits_since,
    first_rule_date,
    first_rule_month,
    later_starts,
    later_windows,
    months_between,
    months_to_threshold,
    outcome_summary,
    rule_dates,
    short_run_measures,
    short_run_summary,
    short_run_windows,
)
from experiments.analysis.stats import mean_interval
from model.calendar import add_months

MONTHS = [add_months("2025-01", k) for k in range(18)]  # 2025-01 .. 2026-06


def _run(series: str, replicate: int, default_rate: list[float], indebted: list[float], head_share: list[float],
         exits: dict[str, list[float]], months: list[str] = MONTHS) -> pd.DataFrame:
    """One run's model rows: ``exits`` holds the cumulative exits per tier, month by month."""
    n = len(months)
    frame = pd.DataFrame({"run_id": f"{series}-{replicate}", "scenario": series, "series": series, "point": 0,
                          "replicate": replicate, "step": np.arange(1, n + 1), "date": months,
                          "default_rate": default_rate, "indebted_borrowers": indebted, "head_share": head_share})
    for tier in ("head", "waist", "tail"):
        frame[f"platform_exits_{tier}"] = exits.get(tier, [0.0] * n)
    frame["platform_exits"] = frame[[f"platform_exits_{t}" for t in ("head", "waist", "tail")]].sum(axis=1)
    return frame


def _steps(n: int, at: dict[int, float]) -> list[float]:
    """A cumulative count: 0, then the value at each month index from that index on."""
    out, level = [], 0.0
    for i in range(n):
        level = at.get(i, level)
        out.append(level)
    return out


# ----------------------------------------------------------------------------------------- months
def test_months_arithmetic():
    assert add_months("2025-04", 11) == "2026-03"
    assert add_months("2025-12", 1) == "2026-01" and add_months("2026-01", -1) == "2025-12"
    assert add_months("2024-01", 47) == "2027-12"
    assert months_between("2025-04", "2025-04") == 0
    assert months_between("2025-04", "2026-03") == 11 and months_between("2026-03", "2025-04") == -11


# ------------------------------------------------------------------------------------- rule dates
_NEW_RULES = {
    "rate_cap": {"enabled": True, "apr": 0.24, "start": "2025-10", "announced": "2025-04"},
    "whitelist": {"enabled": True, "start": "2025-10", "announced": "2025-04"},
    "stock_cleanup": {"enabled": True, "deadline": "2026-06", "announced": "2025-04"},
    "kind_caps": {"cfc": {"enabled": False, "apr": 0.2, "start": "2024-06", "announced": ""}},
    "payment_crackdown": {"enabled": False, "start": "2024-01"},
}


def test_rule_dates_say_whether_the_first_rule_is_announced_or_takes_effect():
    assert rule_dates(_NEW_RULES) == {"announced": "2025-04", "takes effect": "2025-10"}
    assert first_rule_date(rule_dates(_NEW_RULES)) == ("2025-04", "announced")
    assert first_rule_date(rule_dates(_NEW_RULES))[0] == first_rule_month(_NEW_RULES)
    # Not announced ahead ('' or the start month itself): the first rule date is when it takes effect.
    quiet = {"rate_cap": {"enabled": True, "start": "2025-10", "announced": ""},
             "kind_caps": {"cfc": {"enabled": True, "start": "2025-08", "announced": "2025-08"}}}
    assert rule_dates(quiet) == {"announced": "2025-08", "takes effect": "2025-08"}
    assert first_rule_date(rule_dates(quiet)) == ("2025-08", "takes effect") == (first_rule_month(quiet),
                                                                                  "takes effect")
    # Disabled rules do not count; no rules at all: None.
    assert rule_dates({"rate_cap": {"enabled": False, "start": "2025-10", "announced": "2025-04"}}) == \
        {"announced": None, "takes effect": None}
    assert first_rule_date({"announced": None, "takes effect": None}) is None and first_rule_date({}) is None


def test_windows_of_scenarios_without_rules():
    dates = {"base": {"announced": None, "takes effect": None},
             "late": {"announced": None, "takes effect": "2025-10"},
             "early": {"announced": "2025-04", "takes effect": "2025-10"},
             "same": {"announced": "2025-04", "takes effect": "2025-10"}}
    windows = short_run_windows(dates, "base", "2025-10")
    assert windows["early"] == {FIRST_RULE: Window("2025-04", "announced"), IN_EFFECT: Window("2025-10",
                                                                                              "takes effect")}
    assert windows["late"][FIRST_RULE] == Window("2025-10", "takes effect")
    # The reference without rules takes the earliest window of the others (named in display order).
    assert windows["base"][FIRST_RULE] == Window("2025-04", "no rules; announced in early, same")
    assert windows["base"][IN_EFFECT] == Window("2025-10", "no rules; takes effect in late, early, same")
    # A scenario without rules compared with a reference that has rules takes the reference's window.
    windows = short_run_windows(dates, "late", "2025-10")
    assert windows["base"][FIRST_RULE] == Window("2025-10", "no rules; takes effect in late")
    # No rules anywhere: the fallback month.
    windows = short_run_windows({"a": {}, "b": {}}, "a", "2025-10")
    assert windows["a"][FIRST_RULE].start == windows["b"][IN_EFFECT].start == "2025-10"
    assert windows["a"][FIRST_RULE].basis.startswith("no rules in any scenario")


# --------------------------------------------------------------------------------------- defaults
def test_peak_and_cumulative_defaults_over_twelve_months():
    rates = [0.01] * 3 + [0.002 * (k + 1) for k in range(12)] + [0.5] * 3  # window 2025-04..2026-03, then a spike
    indebted = [1000.0] * 3 + [500.0 + 10 * k for k in range(12)] + [1000.0] * 3
    run = _run("s", 0, rates, indebted, [0.5] * 18, {})
    got = default_window(run.sample(frac=1.0, random_state=1), "2025-04")  # row order does not matter
    expected = sum(0.002 * (k + 1) * (500.0 + 10 * k) for k in range(12))
    assert got["months"] == 12
    assert got["peak"] == pytest.approx(0.024)  # the 2026-04 spike of 50% is outside the window
    assert got["defaults"] == pytest.approx(expected)
    assert got["share"] == pytest.approx(expected / 500.0)  # indebted borrowers at the rule date, 2025-04
    # A window the run covers in part: only its months count; none: NaN.
    part = default_window(run, "2026-01")
    assert part["months"] == 6 and part["peak"] == pytest.approx(0.5)
    assert part["share"] == pytest.approx(part["defaults"] / indebted[12])
    empty = default_window(run, "2027-01")
    assert empty["months"] == 0 and math.isnan(empty["peak"]) and math.isnan(empty["defaults"])


def test_months_until_the_head_share_reaches_a_threshold():
    share = [0.95, 0.95, 0.60, 0.62, 0.70, 0.79, 0.81, 0.78, 0.85] + [0.85] * 9
    run = _run("s", 0, [0.0] * 18, [1.0] * 18, share, {})
    assert months_to_threshold(run, "2025-03", 0.75) == 3  # 2025-06 (0.79); 0.95 before the rule does not count
    assert months_to_threshold(run, "2025-03", 0.80) == 4  # 2025-07 (0.81), the dip after it does not matter
    assert months_to_threshold(run, "2025-03", 0.60) == 0  # already there at the rule date
    assert math.isnan(months_to_threshold(run, "2025-03", 0.90))  # not reached by the horizon
    assert months_to_threshold(run, "2024-12", 0.90) == 1  # counted from a rule date before the run's start


def test_exits_count_from_the_rule_date():
    tail = _steps(18, {1: 5.0, 4: 7.0, 10: 12.0})  # 5 exits in 2025-02, 2 in 2025-05, 5 in 2025-11
    run = _run("s", 0, [0.0] * 18, [1.0] * 18, [0.5] * 18, {"tail": tail, "waist": _steps(18, {3: 1.0})})
    got = exits_since(run, "2025-04")
    assert got == {"platform_exits": 8.0, "platform_exits_head": 0.0, "platform_exits_waist": 1.0,
                   "platform_exits_tail": 7.0}  # from 2025-04 included: the 2025-04 waist exit counts
    assert exits_since(run, "2025-01")["platform_exits_tail"] == 12.0  # the run starts at the rule date
    assert exits_since(run, "2024-06")["platform_exits"] == 13.0  # ... or after it: every recorded exit
    assert all(math.isnan(v) for v in exits_since(run, "2026-07").values())  # ends before the rule date
    assert set(exits_since(run.drop(columns=["platform_exits_head"]), "2025-04")) == \
        {"platform_exits", "platform_exits_waist", "platform_exits_tail"}


# ------------------------------------------------------------------------------ summary and tables
def _data(model: pd.DataFrame, policies: dict[str, dict | None]) -> ReportData:
    series = list(dict.fromkeys(model["series"]))
    data = ReportData(Path("store"), model, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), series,
                      {s: s for s in series}, {s: "#000000" for s in series})
    data.policies = policies  # the cached properties, set by hand instead of loading scenarios
    data.rules_month = "2025-10"
    return data


_TIGHT = {"rate_cap": {"enabled": True, "start": "2025-06", "announced": "2025-03"}}


def _store() -> pd.DataFrame:
    """A reference without rules and a scenario with rules announced 2025-03, taking effect 2025-06; two paired
    replicates with the same path before 2025-03."""
    runs = []
    for rep in (0, 1):
        base_rate = [0.01 + 0.001 * rep] * 18
        tight_rate = base_rate[:2] + [0.02 + 0.001 * k + 0.002 * rep for k in range(16)]
        indebted = [1000.0 + 100 * rep] * 18
        runs.append(_run("ref", rep, base_rate, indebted, [0.70] * 18,
                         {"tail": _steps(18, {1: 4.0 + rep, 8: 6.0 + rep})}))
        head = [0.70, 0.70, 0.72, 0.76, 0.82] + ([0.88] * 13 if rep == 0 else [0.79] + [0.86] * 12)
        runs.append(_run("tight", rep, tight_rate, indebted, head,
                         {"tail": _steps(18, {1: 4.0 + rep, 5: 10.0 + 2 * rep}), "waist": _steps(18, {6: 2.0})}))
    return pd.concat(runs, ignore_index=True)


def test_measures_per_replicate():
    model = _store()
    windows = {FIRST_RULE: Window("2025-03", "announced"), IN_EFFECT: Window("2025-06", "takes effect")}
    got = short_run_measures(model[model["series"] == "tight"], windows)
    assert list(got.index) == [0, 1]
    rate = [0.02 + 0.001 * k + 0.002 for k in range(12)]  # replicate 1, 2025-03 .. 2026-02
    assert got.loc[1, "default_rate_peak_12m"] == pytest.approx(max(rate))
    assert got.loc[1, "defaults_12m"] == pytest.approx(sum(rate) * 1100.0)
    assert got.loc[1, "defaults_12m_share"] == pytest.approx(sum(rate))
    assert got.loc[0, "default_rate_peak_12m_in_effect"] == pytest.approx(0.02 + 0.001 * 14)  # 2026-05, its last month
    assert got.loc[0, "head_share_at_rule"] == pytest.approx(0.72)
    assert got.loc[0, "months_to_head_share_0.75"] == 1 and got.loc[0, "months_to_head_share_0.80"] == 2
    assert got.loc[1, "months_to_head_share_0.80"] == 2  # 0.82 in 2025-05, the dip after does not matter
    assert math.isnan(got.loc[0, "months_to_head_share_0.90"])
    assert got.loc[1, "platform_exits_tail_since_rule"] == 7.0 and got.loc[0, "platform_exits_since_rule"] == 8.0


def test_summary_levels_and_differences_net_of_the_reference():
    model = _store()
    summary = short_run_summary(_data(model, {"ref": {}, "tight": _TIGHT}), "ref")
    assert set(summary["when"]) == {SHORT_RUN}

    def row(series: str, metric: str) -> pd.Series:
        return summary[(summary["series"] == series) & (summary["metric"] == metric)].iloc[0]

    # The scenario's windows start at its own rule dates; the reference without rules takes them.
    r = row("tight", "defaults_12m")
    assert (r["window_start"], r["window_basis"], r["date"]) == ("2025-03", "announced", "2025-03..2026-02")
    assert row("tight", "defaults_12m_in_effect")["window_start"] == "2025-06"
    assert row("ref", "defaults_12m")["window_basis"] == "no rules; announced in tight"
    assert row("tight", "platform_exits_since_rule")["date"] == "2025-03..2026-06"

    # Cumulative defaults: level per replicate, difference paired by replicate over the same window.
    def cum(series: str, rep: int, start: str) -> float:
        run = model[(model["series"] == series) & (model["replicate"] == rep)]
        w = run[(run["date"] >= start) & (run["date"] <= add_months(start, 11))]
        return float((w["default_rate"] * w["indebted_borrowers"]).sum())

    mine = np.array([cum("tight", rep, "2025-03") for rep in (0, 1)])
    diff = mine - np.array([cum("ref", rep, "2025-03") for rep in (0, 1)])
    _, mean, _, low, high = mean_interval(mine)
    assert (r["runs"], r["mean"], r["low"], r["high"]) == pytest.approx((2, mean, max(low, 0.0), high))
    _, dmean, _, dlow, dhigh = mean_interval(diff)
    assert (r["pairs"], r["diff_mean"], r["diff_low"], r["diff_high"]) == pytest.approx((2, dmean, dlow, dhigh))
    assert r["reference"] == "ref" and math.isnan(row("ref", "defaults_12m")["diff_mean"])

    # Exits from the rule date, net of the reference: the 2025-02 exits, the same in both, drop out.
    r = row("tight", "platform_exits_tail_since_rule")
    assert r["mean"] == pytest.approx(6.5)  # 6 and 7
    assert row("ref", "platform_exits_tail_since_rule")["mean"] == pytest.approx(2.0)
    assert r["diff_mean"] == pytest.approx(4.5) and r["pairs"] == 2  # 6 - 2, 7 - 2
    assert r["low"] >= 0.0 and r["high"] <= 120.0  # clipped to a tier's range (no platforms table: from 0)

    # Months to a threshold: mean over the replicates that reach it, 'not reached' when none does.
    r = row("tight", "months_to_head_share_0.80")
    assert (r["reached"], r["runs"], r["mean"]) == (2, 2, 2.0)
    r = row("tight", "months_to_head_share_0.90")
    assert r["reached"] == 0 and math.isnan(r["mean"]) and r["pairs"] == 0
    r = row("ref", "months_to_head_share_0.75")
    assert r["reached"] == 0
    assert row("tight", "months_to_head_share_0.75")["pairs"] == 0  # the reference never reaches it
    r = row("tight", "months_to_head_share_0.75")
    assert r["reached"] == 2 and r["mean"] == pytest.approx(1.0)
    assert math.isnan(row("tight", "default_rate_peak_12m")["reached"])


def test_summary_with_a_reference_that_has_rules_pairs_over_the_scenario_window():
    model = _store()
    summary = short_run_summary(_data(model, {"ref": {}, "tight": _TIGHT}), "tight")
    r = summary[(summary["series"] == "ref") & (summary["metric"] == "defaults_12m")].iloc[0]
    assert (r["window_start"], r["window_basis"]) == ("2025-03", "no rules; announced in tight")
    assert r["pairs"] == 2 and r["reference"] == "tight"


def test_short_run_table_block():
    model = _store()
    data = _data(model, {"ref": {}, "tight": _TIGHT})
    summary = short_run_summary(data, "ref")
    blocks = _short_run_tables(summary, data)
    assert blocks[0] == ("h", 2, "Short run and speed")
    tables = [b for b in blocks if b[0] == "table"]
    assert len(tables) == 2
    levels = {row[0]: row[1:] for row in tables[0][2]}
    assert levels["window: 12 months from the first rule date"] == ["2025-03..2026-02 (no rules; announced in "
                                                                     "tight)", "2025-03..2026-02 (announced)"]
    assert levels["window: 12 months from the first rule in effect"][1] == "2025-06..2026-05 (takes effect)"
    key = "months from the first rule date until head share ≥ 90% (`months_to_head_share_0.90`)"
    assert levels[key] == ["not reached (0/2)", "not reached (0/2)"]
    assert levels["months from the first rule date until head share ≥ 80% (`months_to_head_share_0.80`)"][1] \
        .endswith("(2/2)")
    diffs = {row[0]: row[1:] for row in tables[1][2]}
    assert diffs["tail exits from the first rule date to the horizon"] == ["+4.5 [-1.9, +10.9]"]
    assert diffs["months from the first rule date until head share ≥ 75%"] == ["n/a (no pair reaches it)"]
    # The runs begin in 2025-01, so the windows are covered in full here; a later start is noted.
    assert not any(b[0] == "ul" for b in blocks)
    late = _data(model[model["date"] >= "2025-05"], {"ref": {}, "tight": _TIGHT})
    notes = next(b[1] for b in _short_run_tables(short_run_summary(late, "ref"), late) if b[0] == "ul")
    assert "tight: the runs cover 10 of the 12 months from 2025-03." in notes
    assert "tight: the runs begin at 2025-05, after the first rule date 2025-03; exits count from 2025-05." in notes


def test_outcome_summary_has_the_summary_schema_and_adds_the_short_run_rows():
    model = _store().assign(active_platforms=10.0)
    summary = outcome_summary(_data(model, {"ref": {}, "tight": _TIGHT}), "ref")
    # The schema of every summary table (summary.summary_columns), here without swept keys.
    assert list(summary.columns) == ["series", "scenario", "point", "when", "date", "metric", "unit", "runs", "mean",
                                     "sd", "low", "high", "reference", "pairs", "diff_mean", "diff_low", "diff_high",
                                     "window_start", "window_basis", "reached"]
    units = dict(zip(summary["metric"], summary["unit"], strict=False))
    assert units["head_share"] == "share 0-1" and units["months_to_head_share_0.75"] == "months"
    assert units["platform_exits_tail_since_rule"] == "platforms"
    assert set(summary["when"]) == {"horizon", SHORT_RUN}  # the runs end before 2026-09
    horizon = summary[summary["when"] == "horizon"]
    assert (horizon["window_start"] == "").all() and horizon["reached"].isna().all()


def test_runs_that_end_before_the_rule_date_have_no_short_run_values():
    model = _store()
    early = _data(model[model["date"] <= "2025-02"], {"ref": {}, "tight": _TIGHT})
    summary = short_run_summary(early, "ref")
    tight = summary[summary["series"] == "tight"].set_index("metric")
    assert tight["mean"].isna().all() and (tight.loc[tight.index.str.startswith("months_"), "runs"] == 0).all()
    levels = {row[0]: row[1:] for row in next(b for b in _short_run_tables(summary, early) if b[0] == "table")[2]}
    assert levels["months from the first rule date until head share ≥ 75% (`months_to_head_share_0.75`)"] == \
        ["n/a", "n/a"]
    assert levels["tail exits from the first rule date to the horizon (`platform_exits_tail_since_rule`)"] == \
        ["n/a", "n/a"]


# ------------------------------------------------------------------------------ later rule starts
_STAGED = {"rate_cap": {"enabled": True, "start": "2025-06", "announced": "2025-03"},
           "payment_crackdown": {"enabled": True, "start": "2025-09"},
           "stock_cleanup": {"enabled": True, "start": "2025-06", "deadline": "2025-11"}}


def test_later_windows_one_per_later_rule_start():
    events = {"2025-06": ["rate cap"], "2025-09": ["crackdown"], "2025-11": ["clean-up"]}
    assert later_windows(events, "2025-06") == {"start 2": Window("2025-09", "takes effect: crackdown"),
                                                "start 3": Window("2025-11", "takes effect: clean-up")}
    assert later_windows({"2025-06": ["rate cap", "whitelist"]}, "2025-06") == {}
    assert later_windows({}, "2025-06") == {}
    assert later_starts(["defaults_12m", "defaults_12m_start2", "default_rate_peak_12m_start3"]) == 2
    assert later_starts(["defaults_12m_in_effect"]) == 0


def test_summary_and_table_add_a_window_per_later_rule_start():
    model = _store()
    data = _data(model, {"ref": {}, "tight": _STAGED})
    summary = short_run_summary(data, "ref")

    def row(series: str, metric: str) -> pd.Series:
        return summary[(summary["series"] == series) & (summary["metric"] == metric)].iloc[0]

    r = row("tight", "defaults_12m_start2")
    assert (r["window_start"], r["window_basis"], r["date"]) == ("2025-09", "takes effect: crackdown",
                                                                 "2025-09..2026-08")
    assert row("tight", "defaults_12m_share_start3")["window_start"] == "2025-11"
    # Level over the scenario's own later window; the difference pairs the reference over the same months.
    def cum(series: str, rep: int, start: str) -> float:
        run = model[(model["series"] == series) & (model["replicate"] == rep)]
        w = run[(run["date"] >= start) & (run["date"] <= add_months(start, 11))]
        return float((w["default_rate"] * w["indebted_borrowers"]).sum())

    mine = np.array([cum("tight", rep, "2025-09") for rep in (0, 1)])
    diff = mine - np.array([cum("ref", rep, "2025-09") for rep in (0, 1)])
    assert r["mean"] == pytest.approx(mine.mean()) and r["diff_mean"] == pytest.approx(diff.mean())
    # The reference without rules has no later start of its own: no such row.
    assert summary[(summary["series"] == "ref") & summary["metric"].str.contains("_start")].empty
    # The first windows are unchanged by the later starts.
    assert row("tight", "defaults_12m_in_effect")["window_start"] == "2025-06"

    blocks = _short_run_tables(summary, data)
    levels = {b[0]: b[1:] for b in next(b for b in blocks if b[0] == "table")[2]}
    assert levels["window: 12 months from the 2nd rule start"] == ["", "2025-09..2026-08 (takes effect: crackdown)"]
    assert levels["window: 12 months from the 3rd rule start"][1] == "2025-11..2026-10 (takes effect: clean-up)"
    key = "new defaults, 12 months from the 2nd rule start (modelled borrowers) (`defaults_12m_start2`)"
    assert levels[key][0] == "" and levels[key][1].startswith(f"{mine.mean():,.0f}")
    assert "the default measures are repeated over the 12 months from each" in blocks[1][1]
    # Without later starts, neither rows nor the sentence.
    plain = _short_run_tables(short_run_summary(_data(model, {"ref": {}, "tight": _TIGHT}), "ref"), data)
    assert "repeated over the 12 months" not in plain[1][1]
    assert not any("rule start" in r[0] for b in plain if b[0] == "table" for r in b[2])
