"""Unit tests for experiments.dashboard.levers: lever texts to scenario overrides, bounds, labels and summaries."""

import math

import pytest

from experiments.dashboard.levers import (
    LEVER_BY_NAME,
    LEVERS,
    LeverError,
    announced_by_start,
    describe_overrides,
    lever_summary,
    overrides_for,
)
from experiments.dashboard.session import scenario_names
from model.config import leaf_meta, load_scenario

PERCENT_LEVERS = [lv.name for lv in LEVERS if lv.kind == "percent"]
SWITCH_LEVERS = [lv.name for lv in LEVERS if lv.kind == "switch"]

# Every lever moved: once to a value, once to the other side of each switch.
ALL_MOVED_ON = {
    "cap": "20", "cap_start": "2025-07", "fees_included": "off", "cfc_cap": "18", "micro_cap": "22.5",
    "whitelist": "on", "partner_cost": "5", "mandate": "on", "crackdown": "on", "borrowing_limit": "2",
}
ALL_MOVED_OFF = {
    "cap": "off", "cap_start": "2026-01", "fees_included": "on", "cfc_cap": "off", "micro_cap": "none",
    "whitelist": "off", "partner_cost": "0", "mandate": "off", "crackdown": "false", "borrowing_limit": "no",
}


# ------------------------------------------------------------------------------------------- overrides_for
@pytest.mark.parametrize("raw", ["", "   ", None, "scenario", "Scenario", " SCENARIO "])
@pytest.mark.parametrize("name", [lv.name for lv in LEVERS])
def test_blank_or_scenario_gives_no_override(name, raw):
    """A blank lever (or "scenario") keeps the scenario's value: no override at all."""
    assert overrides_for({name: raw}) == {}


def test_no_levers_no_overrides():
    """An empty mapping gives no overrides."""
    assert overrides_for({}) == {}


@pytest.mark.parametrize("raw", ["20", "20%", " 20 ", "20.0"])
def test_percent_sets_rate_and_switches_it_on(raw):
    """A percent value sets the rate as a fraction AND turns the lever's switch on."""
    assert overrides_for({"cap": raw}) == {"policy.rate_cap.apr": 0.2, "policy.rate_cap.enabled": True}


@pytest.mark.parametrize("name", PERCENT_LEVERS)
def test_each_percent_lever_sets_its_key_and_switch(name):
    """Every percent lever writes its own key (value / 100) and its own ``enabled`` switch."""
    lever = LEVER_BY_NAME[name]
    assert overrides_for({name: "12.5"}) == {lever.key: pytest.approx(0.125), lever.switch: True}


@pytest.mark.parametrize("word", ["off", "OFF", "none", "no"])
@pytest.mark.parametrize("name", ["cap", "cfc_cap", "micro_cap", "borrowing_limit"])
def test_off_on_a_rate_lever_only_disables_the_switch(name, word):
    """"off" on a lever with a switch sets only ``enabled = False`` and leaves the value alone."""
    lever = LEVER_BY_NAME[name]
    assert overrides_for({name: word}) == {lever.switch: False}


@pytest.mark.parametrize(("raw", "expected"), [
    ("on", True), ("ON", True), ("true", True), ("yes", True),
    ("off", False), ("Off", False), ("false", False), ("no", False),
])
@pytest.mark.parametrize("name", SWITCH_LEVERS)
def test_switch_levers_map_to_booleans(name, raw, expected):
    """Switch levers accept on/off/true/false/yes/no and set their key to a real bool."""
    out = overrides_for({name: raw})
    assert out == {LEVER_BY_NAME[name].key: expected}
    assert type(out[LEVER_BY_NAME[name].key]) is bool


@pytest.mark.parametrize("raw", ["maybe", "1", "enabled"])
def test_switch_lever_rejects_other_words(raw):
    """A switch lever refuses anything but scenario/on/off (and their synonyms)."""
    with pytest.raises(LeverError, match="not one of scenario, on, off"):
        overrides_for({"whitelist": raw})


def test_month_lever_accepts_a_calendar_month():
    """The month lever passes a YYYY-MM text through unchanged."""
    assert overrides_for({"cap_start": "2025-07"}) == {"policy.rate_cap.start": "2025-07"}
    assert overrides_for({"cap_start": " 2024-12 "}) == {"policy.rate_cap.start": "2024-12"}


@pytest.mark.parametrize("raw", ["2025-13", "2025-00", "July", "2025-7", "2025/07", "2025-07-01", "25-07"])
def test_month_lever_rejects_non_months(raw):
    """Month-like texts that are not YYYY-MM with a month 01..12 are refused."""
    with pytest.raises(LeverError, match="is not a month like"):
        overrides_for({"cap_start": raw})


def test_number_lever_without_switch_cannot_be_switched_off():
    """``partner_cost`` has no ``enabled`` switch, so "off" is an error, not a silent no-op."""
    with pytest.raises(LeverError, match="cannot be switched off") as info:
        overrides_for({"partner_cost": "off"})
    assert len(info.value.problems) == 1


def test_number_levers_set_plain_values():
    """Number levers keep their unit (no /100) and accept a thousands separator."""
    assert overrides_for({"partner_cost": "1,000"}) == {"policy.whitelist.partner_cost": 1000.0}
    assert overrides_for({"borrowing_limit": "2.5"}) == {
        "policy.borrowing_limit.income_multiple": 2.5, "policy.borrowing_limit.enabled": True}


@pytest.mark.parametrize(("name", "raw"), [
    ("cap", "150"), ("cap", "100.01"), ("cap", "-1"), ("cfc_cap", "-0.5"), ("micro_cap", "1000"),
    ("borrowing_limit", "101"), ("borrowing_limit", "-1"),
    ("partner_cost", "1e12"), ("partner_cost", "-3"),
    ("cap", "nan"), ("cap", "inf"), ("cap", "-inf"), ("borrowing_limit", "nan"), ("partner_cost", "inf"),
])
def test_values_outside_schema_range_are_rejected(name, raw):
    """Out-of-range and non-finite numbers are refused with a range message naming the lever."""
    with pytest.raises(LeverError, match="outside its range") as info:
        overrides_for({name: raw})
    assert info.value.problems[0].startswith(LEVER_BY_NAME[name].label + ":")


@pytest.mark.parametrize(("name", "raw"), [("cap", "100"), ("borrowing_limit", "100"), ("partner_cost", "1e9")])
def test_values_at_the_upper_bound_are_accepted(name, raw):
    """The schema's upper bound itself is a valid value."""
    assert LEVER_BY_NAME[name].key in overrides_for({name: raw})


@pytest.mark.parametrize("raw", ["abc", "20 percent", "1.2.3", "0x10", "--5"])
@pytest.mark.parametrize("name", ["cap", "partner_cost", "borrowing_limit"])
def test_non_numbers_are_rejected(name, raw):
    """Texts that are not numbers are refused as such."""
    with pytest.raises(LeverError, match="is not a number"):
        overrides_for({name: raw})


@pytest.mark.parametrize("raw", ["0", "0%", "0.0", "-0"])
@pytest.mark.parametrize("name", PERCENT_LEVERS)
def test_zero_cap_is_rejected_pointing_to_off(name, raw):
    """A 0% cap would ban lending: refused, with a message telling the user to type off."""
    with pytest.raises(LeverError) as info:
        overrides_for({name: raw})
    (problem,) = info.value.problems
    assert problem.startswith(LEVER_BY_NAME[name].label + ":")
    assert "off" in problem


def test_tiny_positive_cap_is_rejected_by_the_lever():
    """Every value the lever accepts is within the schema's range, so a cap of 1e-8 % must be a LeverError."""
    with pytest.raises(LeverError):
        overrides_for({"cap": "0.00000001"})


def test_several_bad_levers_give_one_error_listing_each():
    """All problems are collected in one LeverError, one line per lever, each starting with its label."""
    bad = {"cap": "abc", "cap_start": "July", "whitelist": "maybe", "partner_cost": "off",
           "borrowing_limit": "101", "cfc_cap": "0", "micro_cap": "20"}  # micro_cap is valid
    with pytest.raises(LeverError) as info:
        overrides_for(bad)
    problems = info.value.problems
    broken = ["cap", "cap_start", "whitelist", "partner_cost", "borrowing_limit", "cfc_cap"]
    assert len(problems) == len(broken)
    labels = {LEVER_BY_NAME[name].label for name in broken}
    assert {p.split(":")[0] for p in problems} == labels
    for p in problems:
        assert any(p.startswith(label + ": ") for label in labels)
    assert str(info.value) == "; ".join(problems)
    assert isinstance(info.value, ValueError)


def test_unknown_lever_names_are_reported_with_other_problems():
    """Unknown lever names are errors, reported together with invalid values of known levers."""
    with pytest.raises(LeverError) as info:
        overrides_for({"bogus": "1", "capp": "20", "cap": "abc"})
    problems = info.value.problems
    assert len(problems) == 3
    assert "unknown lever 'bogus'" in problems
    assert "unknown lever 'capp'" in problems
    assert any(p.startswith(LEVER_BY_NAME["cap"].label) for p in problems)


def test_unknown_lever_alone_is_an_error():
    """An unknown name is refused even when every known lever is blank."""
    with pytest.raises(LeverError, match="unknown lever 'bogus'"):
        overrides_for({"bogus": ""})


# --------------------------------------------------------------------------------- overrides vs scenarios
@pytest.mark.parametrize("levers", [ALL_MOVED_ON, ALL_MOVED_OFF], ids=["on", "off"])
@pytest.mark.parametrize("name", scenario_names())
def test_overrides_are_accepted_by_every_shipped_scenario(name, levers):
    """The overrides of valid lever values load on every shipped scenario, and every value lands in params."""
    overrides = overrides_for(levers)
    scenario = load_scenario(name, overrides)
    for key, value in overrides.items():
        assert scenario.get(key) == value, key


def test_cap_override_resolves_in_params():
    """A 20% cap reaches the resolved parameters as apr 0.2 with the cap enabled."""
    for name in scenario_names():
        pol = load_scenario(name, overrides_for({"cap": "20"})).params.policy
        assert pol.rate_cap.apr == 0.2
        assert pol.rate_cap.enabled is True


def test_cap_off_keeps_the_scenario_rate():
    """"off" disables the cap and keeps the scenario's own apr untouched."""
    shipped = load_scenario("cap-20").params.policy.rate_cap
    moved = load_scenario("cap-20", overrides_for({"cap": "off"})).params.policy.rate_cap
    assert shipped.enabled and not moved.enabled
    assert moved.apr == shipped.apr == 0.2


# ------------------------------------------------------------------------------------------------ bounds
@pytest.mark.parametrize("name", PERCENT_LEVERS)
def test_percent_lever_bounds_are_0_to_100(name):
    """Percent levers show the schema's (1e-9, 1] apr range as 0..100 percent."""
    assert LEVER_BY_NAME[name].bounds == (0, 100)


@pytest.mark.parametrize("name", ["borrowing_limit", "partner_cost"])
def test_number_lever_bounds_match_schema(name):
    """Number levers' bounds are the schema's range of their key, unscaled."""
    lever = LEVER_BY_NAME[name]
    meta = leaf_meta(lever.key)
    assert lever.bounds == (float(meta["lo"]), float(meta["hi"]))
    assert all(math.isfinite(b) for b in lever.bounds)


def test_every_lever_key_and_switch_is_a_schema_leaf():
    """Each lever's key and switch are real parameters (leaf_meta raises KeyError otherwise)."""
    for lever in LEVERS:
        assert leaf_meta(lever.key) is not None
        if lever.switch:
            assert lever.switch.endswith(".enabled")
            assert leaf_meta(lever.switch) is not None


# -------------------------------------------------------------------------------------- describe_overrides
@pytest.mark.parametrize(("values", "expected"), [
    ({}, ""),
    ({lv.name: "" for lv in LEVERS}, ""),
    ({"cap": "20", "whitelist": "off", "mandate": "scenario", "cap_start": ""}, "cap 20%, whitelist off"),
    ({"cap": "20%"}, "cap 20%"),
    ({"cap": "off"}, "cap off"),
    ({"borrowing_limit": "2", "cfc_cap": "18", "fees_included": "on"},
     "fees in cap on, CFC cap 18%, borrowing limit 2"),
    ({"cap_start": "2025-07", "partner_cost": "5"}, "cap from 2025-07, partner cost 5"),
])
def test_describe_overrides_lists_only_moved_levers(values, expected):
    """The run label names each moved lever (in the page's order) and nothing else."""
    assert describe_overrides(values) == expected


# ------------------------------------------------------------------------------------- announced_by_start
@pytest.mark.parametrize(("cap_start", "announced"), [
    ("2024-02", "2024-02"),   # before the scenario's 2025-04 announcement: announced when it binds
    ("2025-04", "2025-04"),   # on the announcement: unchanged, no override needed
    ("2026-01", "2025-04"),   # later: the scenario's announcement stands (a longer lead)
])
def test_a_moved_cap_start_keeps_its_announcement_no_later(cap_start, announced):
    """new-rules-2025 announces the cap in 2025-04; the resolved overrides always load."""
    scenario = load_scenario("new-rules-2025")
    over = announced_by_start(overrides_for({"cap_start": cap_start}), scenario)
    resolved = load_scenario("new-rules-2025", over).params.policy.rate_cap
    assert (resolved.start, resolved.announced) == (cap_start, announced)
    assert ("policy.rate_cap.announced" in over) == (announced != "2025-04")


def test_announced_by_start_leaves_other_overrides_and_unannounced_scenarios_alone():
    over = overrides_for({"cap": "20", "cap_start": "2024-02"})
    assert announced_by_start(over, load_scenario("baseline-2024")) == over
    assert announced_by_start({}, load_scenario("new-rules-2025")) == {}


# -------------------------------------------------------------------------------------------- lever_summary
def test_summary_of_baseline_2024_has_all_in_cap_off():
    """baseline-2024 has no all-in cap: the summary says off and names the legacy nominal ceiling."""
    scenario = load_scenario("baseline-2024")
    rc = scenario.params.policy.rate_cap
    assert not rc.enabled and not rc.legacy_fees_included
    summary = lever_summary(scenario)
    assert summary["all-in cap"] == f"off (legacy {rc.legacy_apr:.0%} nominal)" == "off (legacy 36% nominal)"
    assert summary["whitelist"] == "off"
    assert summary["CFC cap"] == "off"


def test_summary_of_full_tightening_2026():
    """full-tightening-2026 shows the dated CFC cap, the microlender glide path and the dated switches."""
    scenario = load_scenario("full-tightening-2026")
    pol = scenario.params.policy
    assert (pol.kind_caps.cfc.enabled, pol.kind_caps.cfc.apr, pol.kind_caps.cfc.start) == (True, 0.2, "2026-01")
    summary = lever_summary(scenario)
    assert summary["CFC cap"] == "20% from 2026-01"
    mc = pol.kind_caps.microlender
    assert summary["microlender cap"] == f"{mc.apr:.0%} from {mc.start}, to {mc.lpr_multiple:g}x LPR by {mc.by}"
    assert summary["all-in cap"] == f"{pol.rate_cap.apr:.0%} from {pol.rate_cap.start}" == "24% from 2025-10"
    assert summary["payment crackdown"] == f"on from {pol.payment_crackdown.start}"
    assert summary["balance mandate"] == f"on from {pol.balance_mandate.start}"


def test_summary_follows_lever_overrides():
    """The summary of a scenario resolved with lever overrides reflects the levers moved."""
    scenario = load_scenario("new-rules-2025", overrides_for(
        {"cap": "20", "cap_start": "2025-07", "whitelist": "off", "borrowing_limit": "2", "fees_included": "off"}))
    summary = lever_summary(scenario)
    assert summary["all-in cap"] == "20% from 2025-07"
    assert summary["whitelist"] == "off"
    assert summary["fees in cap"] == "no"
    assert summary["borrowing limit"] == f"2x income from {scenario.params.policy.borrowing_limit.start}"


def test_summary_has_one_entry_per_lever_group():
    """Every shipped scenario gives a summary with the same keys and non-empty texts."""
    keys = None
    for name in scenario_names():
        summary = lever_summary(load_scenario(name))
        assert all(isinstance(v, str) and v for v in summary.values())
        keys = keys or set(summary)
        assert set(summary) == keys


def test_summary_does_not_round_a_fractional_cap():
    """A 12.5% all-in cap is summarised as 12.5%, not rounded to a different cap."""
    scenario = load_scenario("new-rules-2025", overrides_for({"cap": "12.5"}))
    assert scenario.params.policy.rate_cap.apr == 0.125
    assert lever_summary(scenario)["all-in cap"].startswith("12.5%")
