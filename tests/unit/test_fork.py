"""The divergence rule of forked runs (experiments/engine/fork.py) and the model's rebinding to another scenario."""

from __future__ import annotations

import dataclasses
import itertools
import types

import mesa
import numpy as np
import pytest

from experiments.engine.fork import (
    BEFORE_BURN_IN,
    INSTRUMENTS,
    divergence_month,
    fork,
    restore,
    shared_months,
    snapshot,
)
from experiments.engine.run import build_model
from model import params as params_module
from model.calendar import parse_month
from model.config import load_scenario
from model.params import Params
from model.policy import rules_in_force

SHIPPED = ["baseline-2024", "new-rules-2025", "full-tightening-2026", "cap-12", "cap-20", "cap-only", "whitelist-only"]


def _sc(name: str, *overrides: str):
    return load_scenario(name, list(overrides))


def _month(text: str) -> int:
    return parse_month(text)


# ------------------------------------------------------------------------------------------- the rule
def test_identical_scenarios_never_diverge_and_share_the_whole_horizon():
    a, b = _sc("new-rules-2025"), _sc("new-rules-2025")
    assert divergence_month([a, b]) is None
    assert shared_months([a, b]) == a.params.run.months


def test_a_name_or_description_alone_is_no_difference():
    a = _sc("baseline-2024")
    b = dataclasses.replace(a, name="other", description="another text")
    assert divergence_month([a, b]) is None


@pytest.mark.parametrize("override", [
    "pricing.lgd=0.8",                  # behaviour
    "run.borrowers=1234",
    "run.population=5e7",
    "run.start=2024-02",
    "run.burn_in=48",
    "run.burn_in_reviews=12",
    "macro.shock_enabled=true",         # dated, but not policy: the rule does not look inside it
    "run.months=36",                    # the LPR path is interpolated to the horizon
])
def test_any_difference_outside_policy_diverges_from_the_start(override):
    a, b = _sc("baseline-2024"), _sc("baseline-2024", override)
    assert divergence_month([a, b]) == BEFORE_BURN_IN
    assert shared_months([a, b]) == 0


def test_a_horizon_alone_does_not_diverge_when_the_lpr_path_is_flat():
    flat = ["macro.lpr_start=0.03", "macro.lpr_end=0.03"]
    a, b = _sc("baseline-2024", *flat, "run.months=24"), _sc("baseline-2024", *flat, "run.months=36")
    assert divergence_month([a, b]) is None
    assert shared_months([a, b]) == 24


def test_the_2025_rules_diverge_from_the_baseline_at_their_announcement():
    assert divergence_month([_sc("baseline-2024"), _sc("new-rules-2025")]) == _month("2025-04")
    # 2024-01 + 15 months = 2025-04: the burn-in and 15 recorded months are shared.
    assert shared_months([_sc("baseline-2024"), _sc("new-rules-2025")]) == 15


def test_without_an_announcement_the_rules_diverge_at_their_start():
    quiet = [f"policy.{s}.announced=''" for s in ("rate_cap", "whitelist", "no_outsourcing", "stock_cleanup")]
    assert divergence_month([_sc("baseline-2024"), _sc("new-rules-2025", *quiet)]) == _month("2025-10")


def test_a_crackdown_starting_in_april_or_june_diverges_in_april():
    on = "policy.payment_crackdown.enabled=true"
    a = _sc("new-rules-2025", on, "policy.payment_crackdown.start=2026-04")
    b = _sc("new-rules-2025", on, "policy.payment_crackdown.start=2026-06")
    assert divergence_month([a, b]) == _month("2026-04")
    assert divergence_month([b, a]) == _month("2026-04")


def test_caps_of_20_and_12_percent_diverge_when_the_cap_is_announced():
    # Both caps are announced in 2025-04 (new-rules-2025): from then loans are priced within the coming cap.
    assert divergence_month([_sc("cap-20"), _sc("cap-12")]) == _month("2025-04")
    unannounced = "policy.rate_cap.announced=''"
    a, b = _sc("cap-20", unannounced), _sc("cap-12", unannounced)
    # The stock clean-up is still announced in 2025-04, but it is the same in both and prices nothing itself.
    assert divergence_month([a, b]) == _month("2025-10")


def test_full_tightening_diverges_from_the_2025_rules_at_its_first_extra_rule():
    # Mandate and freeze from 2025-10; kind caps 2026-01, ban 2026-03, crackdown 2026-04.
    assert divergence_month([_sc("new-rules-2025"), _sc("full-tightening-2026")]) == _month("2025-10")


def test_an_instrument_switched_on_on_one_side_counts_with_that_sides_dates():
    a = _sc("baseline-2024")
    b = _sc("baseline-2024", "policy.borrowing_limit.enabled=true", "policy.borrowing_limit.start=2026-02")
    assert divergence_month([a, b]) == _month("2026-02")


def test_an_instrument_off_on_both_sides_is_never_read():
    a = _sc("baseline-2024")
    b = _sc("baseline-2024", "policy.guarantee_cap.max_share=0.1", "policy.guarantee_cap.start=2024-01",
            "policy.whitelist.min_age_months=12", "policy.rate_cap.apr=0.1")
    assert divergence_month([a, b]) is None


def test_the_legacy_ceiling_is_read_from_the_start():
    assert divergence_month([_sc("baseline-2024"), _sc("baseline-2024", "policy.rate_cap.legacy_apr=0.3")]) == 0
    assert divergence_month([_sc("new-rules-2025"),
                             _sc("new-rules-2025", "policy.rate_cap.legacy_fees_included=true")]) == BEFORE_BURN_IN


def test_the_stock_clean_up_binds_from_the_cap_start_before_its_own_dates():
    # cap-only announces cap and clean-up in 2025-04; without announcements the clean-up (not renewing stock above
    # the cap) applies from the cap's start 2025-10, months before its 2026-06 deadline.
    quiet = ["policy.rate_cap.announced=''", "policy.stock_cleanup.announced=''"]
    a = _sc("cap-only", *quiet)
    b = _sc("cap-only", *quiet, "policy.stock_cleanup.enabled=false")
    assert divergence_month([a, b]) == _month("2025-10")


def test_a_rule_dated_at_or_before_the_start_changes_the_burn_in():
    a = _sc("baseline-2024")
    for start in ("2024-01", "2023-06"):
        b = _sc("baseline-2024", "policy.payment_crackdown.enabled=true", f"policy.payment_crackdown.start={start}")
        assert divergence_month([a, b]) == BEFORE_BURN_IN
    b = _sc("baseline-2024", "policy.payment_crackdown.enabled=true", "policy.payment_crackdown.start=2024-02")
    assert divergence_month([a, b]) == _month("2024-02")
    assert shared_months([a, b]) == 1


def test_a_divergence_after_the_horizon_shares_every_month():
    a = _sc("baseline-2024", "run.months=12")
    b = _sc("new-rules-2025", "run.months=12")
    assert divergence_month([a, b]) == _month("2025-04")
    assert shared_months([a, b]) == 12


def test_a_set_of_scenarios_diverges_at_its_earliest_pair():
    group = [_sc("new-rules-2025"), _sc("full-tightening-2026"), _sc("baseline-2024")]
    assert divergence_month(group) == _month("2025-04")
    assert divergence_month(group[:2]) == _month("2025-10")
    assert divergence_month(group[:1]) is None
    assert shared_months([]) == 0


def test_every_policy_instrument_of_the_schema_is_known_to_the_rule():
    # A new instrument must be added to INSTRUMENTS with its timing checked (until then it diverges at month zero).
    found = []

    def walk(obj, prefix):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                inner = [g for g in dataclasses.fields(value) if dataclasses.is_dataclass(getattr(value, g.name))]
                if inner:
                    walk(value, f"{prefix}.{f.name}")
                else:
                    found.append(f"{prefix}.{f.name}")

    walk(Params().policy, "policy")
    assert found == list(INSTRUMENTS)


def _rules_equal(x, y) -> bool:
    for f in dataclasses.fields(x):
        a, b = getattr(x, f.name), getattr(y, f.name)
        if isinstance(a, np.ndarray):
            if not np.array_equal(a, b):
                return False
        elif not (a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b))):
            return False
    return True


def _rules(scenario, month: int):
    prm = scenario.params
    lpr_by = {k: 0.03 for k in ("bank_state", "bank_joint_stock", "bank_city", "bank_rural", "bank_internet", "cfc",
                                "microlender", "trust")}
    return rules_in_force(prm.policy, month, 0.03, lpr_by, prm.funders.partner_cost, 1.0)


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(SHIPPED, 2)))
def test_the_rules_in_force_agree_before_the_divergence_month_and_differ_at_it(a, b):
    # Consistency with model/policy.py for every pair of shipped scenarios: the rule is safe (the same rules in
    # every shared month, the burn-in's start month included) and, for these pairs, not more cautious than needed.
    sa, sb = _sc(a), _sc(b)
    month = divergence_month([sa, sb])
    start = _month(sa.params.run.start)
    assert month is not None and month > start
    for m in range(start, month):
        assert _rules_equal(_rules(sa, m), _rules(sb, m)), f"rules differ in month {m} before {month}"
    differ_at = not _rules_equal(_rules(sa, month), _rules(sb, month))
    # Balance mandates and freezes act through the regulator, not the rules: full tightening vs the 2025 rules.
    assert differ_at or {a, b} == {"new-rules-2025", "full-tightening-2026"}


# ----------------------------------------------------------------------------------- the model's copies
SMALL = ["run.borrowers=1000", "run.months=6", "run.burn_in=6", "run.burn_in_reviews=6"]


@pytest.fixture
def model():
    m = build_model(_sc("baseline-2024", *SMALL), 5)
    m.step()
    yield m
    m.release()


def _params_objects(root) -> list:
    """Every instance of a model/params.py dataclass reachable from ``root`` through attributes and containers."""
    found, seen, todo = [], set(), [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type | types.ModuleType | types.FunctionType | np.ndarray | str):
            continue
        seen.add(id(obj))
        if type(obj).__module__ == params_module.__name__:
            found.append(obj)
        if isinstance(obj, dict):
            todo += list(obj.keys()) + list(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            todo += list(obj)
        elif isinstance(obj, types.MethodType):
            todo.append(obj.__self__)
        elif hasattr(obj, "__dict__"):
            todo += list(vars(obj).values())
        elif dataclasses.is_dataclass(obj):
            todo += [getattr(obj, f.name) for f in dataclasses.fields(obj)]
        if hasattr(obj, "__getstate__") and type(obj).__module__ == "mesa.agent":
            todo.append(obj.__getstate__())
    return found


@pytest.mark.parametrize("copy_with", ["fork", "snapshot"])
def test_a_copy_keeps_no_parameter_object_of_the_scenario_it_was_copied_from(model, copy_with):
    target = _sc("new-rules-2025", *SMALL)
    copy = fork(model, target) if copy_with == "fork" else restore(snapshot(model), target)
    try:
        own = {id(o) for o in _params_objects(target.params)}
        reached = _params_objects(copy)
        assert any(type(o).__name__ == "PolicyParams" for o in reached)
        assert [type(o).__name__ for o in reached if id(o) not in own] == []
        assert copy.scenario is target and copy.regulator.policy is target.params.policy
    finally:
        copy.release()


def test_a_copy_registers_with_mesa_where_the_original_counts_and_release_removes_it(model):
    ids = mesa.Agent._ids
    copy = fork(model)
    try:
        assert copy in ids and copy is not model
        assert next(ids[copy]) == max(a.unique_id for a in model.agents) + 1
        assert {a.model for a in copy.agents} == {copy}
        assert not set(copy.agents) & set(model.agents)
    finally:
        copy.release()
    assert copy not in ids and model in ids


def test_continuing_under_a_scenario_that_differs_in_behaviour_fails_and_releases_the_copy(model):
    ids = mesa.Agent._ids
    before = set(ids)
    with pytest.raises(ValueError, match="more than its policy"):
        restore(snapshot(model), _sc("baseline-2024", *SMALL, "pricing.lgd=0.8"))
    with pytest.raises(ValueError, match="more than its policy"):
        fork(model, _sc("baseline-2024", *[s for s in SMALL if "months" not in s], "run.months=7"))
    assert set(ids) == before


def test_a_horizon_shorter_than_the_months_run_is_refused():
    flat = ["macro.lpr_start=0.03", "macro.lpr_end=0.03"]
    m = build_model(_sc("baseline-2024", *SMALL, *flat), 5)
    try:
        m.step()
        m.step()
        with pytest.raises(ValueError, match="past the 1-month horizon"):
            fork(m, _sc("baseline-2024", *SMALL, *flat, "run.months=1"))
        longer = fork(m, _sc("baseline-2024", *SMALL, *flat, "run.months=9"))
        assert longer.horizon == 9 and longer.running
        longer.release()
    finally:
        m.release()
