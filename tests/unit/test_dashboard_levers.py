"""Unit tests for experiments.dashboard.levers: lever texts to scenario overrides, bounds, labels and summaries."""

import math

import numpy as np
import pytest

from experiments.dashboard.levers import (
    LEAD,
    LEVER_BY_NAME,
    LEVERS,
    MAX_LEAD,
    LeverError,
    announced_by_start,
    announced_rules,
    announcement_lead,
    apply_announcements,
    describe_overrides,
    lever_summary,
    overrides_for,
)
from experiments.dashboard.session import scenario_names
from model.calendar import parse_month
from model.config import ANNOUNCED, leaf_meta, load_scenario
from model.policy import rules_in_force

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


# ------------------------------------------------------------------------------- the announcement lever
RULES_2025 = ["policy.rate_cap", "policy.whitelist", "policy.no_outsourcing", "policy.stock_cleanup"]


def _announced(overrides: dict) -> dict[str, str]:
    return {k.removesuffix(".announced"): v for k, v in overrides.items() if k.endswith(".announced")}


def _apply(values: dict, scenario: str = "new-rules-2025") -> tuple[dict, dict, object]:
    """Lever values -> (overrides with announcements, notes, the scenario they resolve to)."""
    shipped = load_scenario(scenario)
    over, notes = apply_announcements(overrides_for(values), shipped, announcement_lead(values))
    return over, notes, load_scenario(scenario, over)


@pytest.mark.parametrize(("raw", "lead"), [("", None), ("scenario", None), ("0", 0), (" 6 ", 6), ("6.0", 6),
                                           ("120", 120)])
def test_announcement_lead_parses_whole_months(raw, lead):
    """The lever is a whole number of months (blank: the scenario's announcements); alone it gives no override."""
    assert announcement_lead({LEAD: raw}) == lead
    assert overrides_for({LEAD: raw}) == {}


@pytest.mark.parametrize(("raw", "message"), [
    ("-1", "outside its range 0 to 120 months"), ("121", "outside its range"), ("2.5", "not a whole number"),
    ("inf", "not a whole number"), ("six", "not a number of months"), ("2025-04", "not a number of months"),
])
def test_announcement_lead_rejects_other_values(raw, message):
    """A negative lead (an announcement after the start), a fraction or a month is refused, naming the lever."""
    for parse in (overrides_for, announcement_lead):
        with pytest.raises(LeverError, match=message) as info:
            parse({LEAD: raw})
        (problem,) = info.value.problems
        assert problem.startswith("Rules announced (months ahead): ")


def test_announcement_lever_bounds_and_key():
    lever = LEVER_BY_NAME[LEAD]
    assert (lever.kind, lever.bounds) == ("lead", (0.0, float(MAX_LEAD)))
    assert lever.key.endswith(".announced")


def test_lead_of_six_reproduces_the_2025_rules_as_issued():
    """new-rules-2025 announces its four rules in 2025-04 for a 2025-10 start: 6 months ahead is the scenario."""
    over, notes, scenario = _apply({LEAD: "6"})
    assert _announced(over) == dict.fromkeys(RULES_2025, "2025-04")
    assert scenario.params == load_scenario("new-rules-2025").params
    assert notes == {LEAD: "in 2025-04"}


def test_lead_zero_announces_each_rule_at_its_start():
    """Lead 0: the rules are announced when they start; the clean-up is issued with the cap, at the cap's start."""
    over, notes, scenario = _apply({LEAD: "0"})
    assert _announced(over) == dict.fromkeys(RULES_2025, "2025-10")
    pol = scenario.params.policy
    assert [pol.rate_cap.announced, pol.whitelist.announced, pol.no_outsourcing.announced] == ["2025-10"] * 3
    assert (pol.stock_cleanup.announced, pol.stock_cleanup.deadline) == ("2025-10", "2026-06")
    assert describe_overrides({LEAD: "0"}, notes) == "rules announced at their start, no warning (in 2025-10)"


def _nothing_announced(rules) -> bool:
    return (not rules.whitelist_announced and not rules.no_outsourcing_announced and not rules.cleanup_announced
            and rules.anticipated_partner_cost == 0.0
            and all(np.isinf(a).all() for a in (rules.announced_cap_nominal, rules.announced_cap_all_in,
                                                 rules.stock_cap_nominal, rules.stock_cap_all_in)))


def test_lead_zero_means_no_anticipation():
    """With lead 0 the model's rules show nothing announced in any month before the rules start (as issued, the
    cap, the whitelist and the clean-up are all anticipated from 2025-04)."""
    shipped = load_scenario("new-rules-2025").params.policy
    policy = _apply({LEAD: "0"})[2].params.policy

    def rules(pol, month):
        return rules_in_force(pol, parse_month(month), 0.03, {}, 1.0)

    for month in ("2024-01", "2025-03", "2025-04", "2025-09"):
        assert _nothing_announced(rules(policy, month)), month
    as_issued = rules(shipped, "2025-06")
    assert as_issued.whitelist_announced and as_issued.cleanup_announced
    assert np.isfinite(as_issued.announced_cap_all_in).all()


@pytest.mark.parametrize(("lead", "announced"), [("3", "2025-10"), ("6", "2025-07"), ("0", "2026-01")])
def test_lead_follows_a_moved_cap_start(lead, announced):
    """With the cap moved to 2026-01 the cap (and the clean-up issued with it) is announced lead months before
    2026-01; the whitelist and the outsourcing ban keep their 2025-10 start and are announced lead months before it."""
    pol = _apply({"cap_start": "2026-01", LEAD: lead})[2].params.policy
    assert (pol.rate_cap.start, pol.rate_cap.announced) == ("2026-01", announced)
    assert pol.stock_cleanup.announced == announced
    assert pol.whitelist.announced == pol.no_outsourcing.announced == f"2025-{10 - int(lead):02d}"


def test_clean_up_announcement_is_clamped_to_its_deadline():
    """A cap moved past the 2026-06 clean-up deadline would announce the clean-up after its deadline: it is
    announced at the deadline instead, the scenario loads, and the run label says so."""
    values = {"cap_start": "2026-09", LEAD: "2"}
    _, notes, scenario = _apply(values)
    pol = scenario.params.policy
    assert (pol.rate_cap.announced, pol.stock_cleanup.announced, pol.stock_cleanup.deadline) == (
        "2026-07", "2026-06", "2026-06")
    assert describe_overrides(values, notes) == (
        "cap from 2026-09, rules announced 2 months ahead (all-in cap 2026-07, whitelist 2025-08, "
        "no outsourcing 2025-08, stock clean-up at its 2026-06 deadline)")


def test_sections_without_an_announcement_are_untouched():
    """full-tightening-2026 lets its later kind caps bind unannounced: the lever moves only the 2025 rules."""
    shipped = load_scenario("full-tightening-2026")
    assert [s for s, _ in announced_rules(shipped)] == RULES_2025
    over, _, scenario = _apply({LEAD: "3"}, "full-tightening-2026")
    assert set(_announced(over)) == set(RULES_2025)
    for kind in ("cfc", "microlender"):
        key = f"policy.kind_caps.{kind}.announced"
        assert scenario.get(key) == shipped.get(key) == ""
        assert scenario.get(f"policy.kind_caps.{kind}.enabled")
    summary = lever_summary(scenario)["announced ahead"]
    assert summary == "2025-07: all-in cap, whitelist, no outsourcing, stock clean-up"


def test_only_the_rules_a_scenario_announces_are_moved():
    """whitelist-only announces the whitelist and the outsourcing ban, not a cap: only those two move."""
    over, _, _ = _apply({LEAD: "1"}, "whitelist-only")
    assert _announced(over) == {"policy.whitelist": "2025-09", "policy.no_outsourcing": "2025-09"}


@pytest.mark.parametrize("name", ["baseline-2024", "baseline"])
def test_lever_has_no_effect_on_a_scenario_without_announced_rules(name):
    """A scenario announcing nothing ahead is left as it is, and the run label says the lever had no effect."""
    values = {LEAD: "6"}
    over, notes, scenario = _apply(values, name)
    assert over == {}
    assert scenario.params == load_scenario(name).params
    assert describe_overrides(values, notes) == (
        f"rules announced 6 months ahead (no effect: {name} announces no rule ahead)")
    assert lever_summary(scenario)["announced ahead"] == "none"


@pytest.mark.parametrize("values", [{}, {LEAD: "0"}, {LEAD: "6"}, {LEAD: str(MAX_LEAD)}, {"cap_start": "2024-02"},
                                    {"cap_start": "2027-12", LEAD: "0"}, {"cap_start": "2024-01", LEAD: "24"}],
                         ids=str)
@pytest.mark.parametrize("name", scenario_names())
def test_announcements_always_load_and_never_follow_the_start(name, values):
    """Every lead with every start lever loads on every shipped scenario; no announcement comes after its rule."""
    _, _, scenario = _apply(values, name)
    for section, binds in ANNOUNCED:
        announced = scenario.get(f"{section}.announced")
        assert not announced or announced <= scenario.get(f"{section}.{binds}"), section


def test_blank_lead_keeps_announced_by_start():
    """Left blank, the lever changes nothing: announced_by_start's behaviour, with no note for the label."""
    for values in ({}, {"cap_start": "2024-02"}, {"cap_start": "2026-01", "cap": "20"}):
        over = overrides_for(values)
        scenario = load_scenario("new-rules-2025")
        assert apply_announcements(over, scenario) == (announced_by_start(over, scenario), {})
    assert _announced(announced_by_start(overrides_for({"cap_start": "2024-02"}), scenario)) == {
        "policy.rate_cap": "2024-02"}


@pytest.mark.parametrize(("values", "expected"), [
    ({}, "2025-04: all-in cap, whitelist, no outsourcing, stock clean-up"),
    ({LEAD: "0"}, "2025-10: stock clean-up"),  # the others bind unannounced; the clean-up's deadline is 2026-06
    ({LEAD: "6", "cap_start": "2026-01"}, "2025-04: whitelist, no outsourcing; 2025-07: all-in cap, stock clean-up"),
    ({LEAD: "0", "cap_start": "2026-09"}, "none"),  # the clean-up is announced at its deadline: not ahead
    ({"cap_start": "2024-02"}, "2025-04: whitelist, no outsourcing, stock clean-up"),
])
def test_levers_card_shows_the_rules_announced_ahead(values, expected):
    """The Levers card's "announced ahead" row lists, by month, the rules announced before they bind."""
    assert lever_summary(_apply(values)[2])["announced ahead"] == expected


@pytest.mark.parametrize(("values", "expected"), [
    ({LEAD: "6"}, "rules announced 6 months ahead"),
    ({LEAD: "1"}, "rules announced 1 month ahead"),
    ({LEAD: "0", "cap": "20"}, "cap 20%, rules announced at their start, no warning"),
])
def test_describe_overrides_names_the_lead(values, expected):
    assert describe_overrides(values) == expected


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
