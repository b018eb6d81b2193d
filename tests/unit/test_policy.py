"""Unit tests for model.policy: the dated rules in force, and balance-mandate interpolation."""

import math

import numpy as np
import pytest

from model.calendar import parse_month
from model.config import load_scenario
from model.enums import KIND_CODES, FunderKind
from model.policy import mandate_share, phase_in, rules_in_force

LPR = 0.03
CFC = KIND_CODES[FunderKind.CFC]
MICRO = KIND_CODES[FunderKind.MICROLENDER]


def _rules(name, month, lpr_by=None):
    policy = load_scenario(name).params.policy
    return rules_in_force(policy, parse_month(month), LPR, lpr_by or {}, 1.0)


def test_new_rules_before_october_2025():
    r = _rules("new-rules-2025", "2025-09")
    assert not r.new_cap_active
    np.testing.assert_allclose(r.cap_nominal, 0.36)
    assert np.all(np.isinf(r.cap_all_in))
    assert r.binding_cap == pytest.approx(0.36)
    assert not r.whitelist and not r.no_outsourcing
    assert not r.cleanup and not r.cleanup_call
    assert r.partner_cost == 1.0  # base cost without a whitelist regime


def test_new_rules_from_october_2025():
    policy = load_scenario("new-rules-2025").params.policy
    r = rules_in_force(policy, parse_month("2025-10"), LPR, {}, 1.0)
    assert r.new_cap_active
    np.testing.assert_allclose(r.cap_all_in, 0.24)
    assert np.all(np.isinf(r.cap_nominal))
    assert r.binding_cap == pytest.approx(0.24)
    assert r.whitelist and r.no_outsourcing
    assert r.partner_cost == policy.whitelist.partner_cost
    assert r.cleanup and not r.cleanup_call
    assert r.shadow_open
    assert _rules("new-rules-2025", "2026-06").cleanup_call
    assert not _rules("new-rules-2025", "2026-07").cleanup_call


def test_full_tightening_cfc_cap_from_2026():
    before = _rules("full-tightening-2026", "2025-12")
    after = _rules("full-tightening-2026", "2026-01")
    assert before.cap_all_in[CFC] == pytest.approx(0.24)
    assert after.cap_all_in[CFC] == pytest.approx(0.20)
    # Other kinds (not microlenders, whose path starts at 0.24) stay at the general cap.
    assert after.cap_all_in[KIND_CODES[FunderKind.BANK_STATE]] == pytest.approx(0.24)
    assert after.binding_cap == pytest.approx(0.24)  # highest cap over kinds


def test_full_tightening_microlender_path():
    lpr_by = {"microlender": LPR}
    caps = [_rules("full-tightening-2026", m, lpr_by).cap_all_in[MICRO]
            for m in ("2025-12", "2026-01", "2026-12", "2027-12", "2028-06")]
    assert caps[0] == pytest.approx(0.24)
    assert caps[1] == pytest.approx(0.24)
    assert caps[1] > caps[2] > caps[3]
    assert caps[3] == pytest.approx(4 * LPR)
    assert caps[4] == pytest.approx(4 * LPR)


def test_full_tightening_shadow_channel_closes():
    policy = load_scenario("full-tightening-2026").params.policy
    start = policy.payment_crackdown.start
    before = parse_month(start) - 1
    assert rules_in_force(policy, before, LPR, {}, 1.0).shadow_open
    assert not rules_in_force(policy, parse_month(start), LPR, {}, 1.0).shadow_open
    assert not rules_in_force(policy, parse_month(start) + 12, LPR, {}, 1.0).shadow_open


def test_baseline_has_only_legacy_cap():
    r = _rules("baseline-2024", "2027-01")
    assert not r.new_cap_active and not r.whitelist
    assert r.binding_cap == pytest.approx(0.36)
    assert r.borrowing_limit == math.inf and r.guarantee_max_share == 1.0


def test_mandate_share_interpolation():
    start = parse_month("2025-10")
    targets, by = [0.5, 0.0], ["2025-12", "2026-12"]
    assert mandate_share(targets, by, start, start - 1) == 1.0
    assert mandate_share(targets, by, start, start) == pytest.approx(1.0)
    assert mandate_share(targets, by, start, start + 1) == pytest.approx(0.75)
    assert mandate_share(targets, by, start, parse_month("2025-12")) == pytest.approx(0.5)
    assert mandate_share(targets, by, start, parse_month("2026-06")) == pytest.approx(0.25)
    assert mandate_share(targets, by, start, parse_month("2026-12")) == pytest.approx(0.0)
    assert mandate_share(targets, by, start, parse_month("2028-01")) == pytest.approx(0.0)


# ------------------------------------------------------------------ announced rules
def _policy(name="new-rules-2025", **sets):
    return load_scenario(name, [f"policy.{k}={v}" for k, v in sets.items()]).params.policy


def _at(policy, month, scale=1.0):
    return rules_in_force(policy, parse_month(month), LPR, {}, 1.0, scale)


def test_nothing_announced_by_default():
    """Defaults and baseline-2024: no announced cap, regime, ban or clean-up in any month."""
    for policy in (load_scenario("baseline").params.policy, load_scenario("baseline-2024").params.policy):
        for month in ("2024-01", "2025-06", "2026-06"):
            r = _at(policy, month)
            assert np.all(np.isinf(r.announced_cap_nominal)) and np.all(np.isinf(r.announced_cap_all_in))
            assert np.all(np.isinf(r.announced_cap_months))
            assert not (r.whitelist_announced or r.no_outsourcing_announced or r.cleanup_announced)
            assert r.anticipated_partner_cost == 0.0


def test_new_rules_2025_are_announced_in_april_2025():
    policy = load_scenario("new-rules-2025").params.policy
    before = _at(policy, "2025-03")
    assert np.all(np.isinf(before.announced_cap_all_in)) and not before.whitelist_announced
    r = _at(policy, "2025-04")
    np.testing.assert_allclose(r.announced_cap_all_in, 0.24)
    assert np.all(np.isinf(r.announced_cap_nominal))  # fees count: an all-in cap
    np.testing.assert_allclose(r.announced_cap_months, 6)
    np.testing.assert_allclose(_at(policy, "2025-09").announced_cap_months, 1)
    assert r.whitelist_announced and r.no_outsourcing_announced and r.cleanup_announced
    # In force, nothing is "announced" any more, except the clean-up, whose deadline is still ahead.
    after = _at(policy, "2025-10")
    assert np.all(np.isinf(after.announced_cap_all_in)) and not after.whitelist_announced
    assert not after.no_outsourcing_announced and after.cleanup_announced
    # The ban on outsourcing risk control: months to go while announced, none before or once in force.
    assert r.no_outsourcing_months == 6 and _at(policy, "2025-09").no_outsourcing_months == 1
    assert before.no_outsourcing_months == np.inf and after.no_outsourcing_months == np.inf
    # Banks adopt the ban's practice linearly over the lead: none at the announcement, 5/6 a month before the start.
    assert r.no_outsourcing_share == 0.0 and _at(policy, "2025-09").no_outsourcing_share == pytest.approx(5 / 6)
    assert after.no_outsourcing_share == 0.0
    assert not _at(policy, "2026-06").cleanup_announced
    # The caps in force before the start are untouched by the announcement.
    np.testing.assert_allclose(r.cap_nominal, 0.36)
    assert np.all(np.isinf(r.cap_all_in)) and not r.new_cap_active and not r.whitelist


def test_announced_equal_to_start_or_empty_is_not_ahead():
    for value in ("2025-10", '""'):
        policy = _policy(**{"rate_cap.announced": value, "whitelist.announced": value})
        for month in ("2025-04", "2025-09"):
            r = _at(policy, month)
            assert np.all(np.isinf(r.announced_cap_all_in)) and not r.whitelist_announced


def test_announced_but_disabled_is_nothing():
    policy = _policy("baseline-2024", **{"rate_cap.announced": "2025-04", "whitelist.announced": "2025-04"})
    r = _at(policy, "2025-06")
    assert np.all(np.isinf(r.announced_cap_all_in)) and not r.whitelist_announced
    assert r.anticipated_partner_cost == 0.0


def test_anticipated_partner_cost_rises_linearly_to_the_start():
    """Announced 2025-04, in force 2025-10: 0 at the announcement, 2/6 at the 2025-06 review, 5/6 in 2025-09;
    in force the regime's own cost takes over (partner_cost) and the anticipated share is 0 again."""
    policy = load_scenario("new-rules-2025").params.policy
    cost = policy.whitelist.partner_cost
    got = [_at(policy, m, scale=2.0).anticipated_partner_cost for m in ("2025-04", "2025-06", "2025-09", "2025-10")]
    assert got == pytest.approx([0.0, cost * 2.0 * 2 / 6, cost * 2.0 * 5 / 6, 0.0])
    assert _at(policy, "2025-10", scale=2.0).partner_cost == pytest.approx(cost * 2.0)


def test_phase_in():
    a, s = parse_month("2025-04"), parse_month("2025-10")
    assert [phase_in(a, s, m) for m in (a - 1, a, a + 3, s, s + 5)] == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert phase_in(s, s, s) == 1.0


def test_nominal_cap_announced_as_nominal():
    policy = _policy(**{"rate_cap.fees_included": "false", "rate_cap.announced": "2025-04"})
    r = _at(policy, "2025-05")
    np.testing.assert_allclose(r.announced_cap_nominal, 0.24)
    assert np.all(np.isinf(r.announced_cap_all_in))


def test_kind_cap_announced_per_kind_with_its_own_lead():
    """full-tightening-2026 with the CFC cap (20% from 2026-01) announced in 2025-10: after the general cap
    is in force, only the CFC carries an announced cap, 3 months ahead; the tighter of two announcements wins."""
    policy = _policy("full-tightening-2026", **{"kind_caps.cfc.announced": "2025-10"})
    r = _at(policy, "2025-10")
    assert r.announced_cap_all_in[CFC] == pytest.approx(0.20) and r.announced_cap_months[CFC] == 3
    others = np.arange(len(r.announced_cap_all_in)) != CFC
    assert np.all(np.isinf(r.announced_cap_all_in[others]))
    assert np.all(np.isinf(_at(policy, "2026-01").announced_cap_all_in))
    both = _policy("full-tightening-2026", **{"kind_caps.cfc.announced": "2025-04"})
    r = _at(both, "2025-05")
    assert r.announced_cap_all_in[CFC] == pytest.approx(0.20) and r.announced_cap_months[CFC] == 5
    assert r.announced_cap_all_in[MICRO] == pytest.approx(0.24) and r.announced_cap_months[MICRO] == 5


def test_stock_must_meet_the_new_cap_from_an_announced_cleanup():
    """new-rules-2025: from the 2025-04 announcement until the 2026-06 deadline, loans running at the deadline
    must meet the 24% all-in cap (every kind), 14 months ahead at announcement and 8 once the cap is in force;
    before the announcement, at the deadline, and without a clean-up, nothing is asked of stock."""
    policy = load_scenario("new-rules-2025").params.policy
    assert np.all(np.isinf(_at(policy, "2025-03").stock_cap_all_in))
    r = _at(policy, "2025-04")
    np.testing.assert_allclose(r.stock_cap_all_in, 0.24)
    assert np.all(np.isinf(r.stock_cap_nominal))
    np.testing.assert_allclose(r.stock_cap_months, 14)
    np.testing.assert_allclose(_at(policy, "2025-10").stock_cap_months, 8)
    assert np.all(np.isinf(_at(policy, "2026-06").stock_cap_months))
    no_cleanup = _policy(**{"stock_cleanup.enabled": "false"})
    assert np.all(np.isinf(_at(no_cleanup, "2025-06").stock_cap_all_in))
