"""Reviews and exits (model/mechanisms/reviews.py) and the borrower outcomes (metrics.borrower_outcomes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model.config import load_scenario
from model.mechanisms.metrics import borrower_outcomes
from model.mechanisms.reviews import (
    Exit,
    cap_appetite,
    cap_exposure,
    expected_partner_profit,
    loss_calibration,
    plan_quarter,
    review_direct_lending,
    review_whitelist,
)

PP = load_scenario("baseline-2024").params.platforms
# A funder whose budget sat idle (lines 10 of a budget of 100), admitting at most one new partner a review: under a
# whitelist regime only such a funder takes on new partners.
IDLE = dict(q_budget=100.0, q_lines=10.0, new_partners_per_review=1)


def _review(**over):
    """A funder with three partners of a quiet, profitable quarter; ``over`` changes any input."""
    n = 3
    args = dict(
        partners=np.array([True, True, False]), q_income=np.full(n, 10.0), q_cost=np.full(n, 2.0),
        q_loss=np.zeros(n), q_balance=np.full(n, 300.0), q_npl=np.zeros(n), q_partner_cost=0.0, q_budget=0.0,
        q_lines=0.0, year_business=0.0, year_balance=0.0, below_hurdle_quarters=0, hurdle=0.01, loss_tolerance=0.05,
        capacity_partners=2, leave_quarters=4, new_partners_per_review=2, active=np.ones(n, dtype=bool),
        score=np.array([3.0, 2.0, 1.0]), loss_rate=np.zeros(n), age_months=np.full(n, 60.0),
        complaints=np.zeros(n), wants_funding=np.ones(n, dtype=bool), whitelist_on=False, min_age=24.0,
        max_complaints=0.5, max_partners=0, partner_cost_q=1.0, regime_announced=False, anticipated_cost_q=0.0,
        allow_leave=True,
    )
    args.update(over)
    return review_whitelist(**args)


def test_profitable_partners_stay_and_capacity_caps_admission():
    """Partners that earn more than their monitoring cost stay; a full list admits nobody."""
    r = _review()
    np.testing.assert_array_equal(r.partners, [True, True, False])
    assert not r.leave
    # Trailing year: 0.75 * 0 + (30 - 6 - 0 - 0) = 24 on an average balance of 900 / 3 = 300.
    assert r.year_business == pytest.approx(24.0) and r.year_balance == pytest.approx(300.0)
    assert r.below_hurdle_quarters == 0  # 4 * 24 / 300 = 0.32 >= 1% hurdle


def test_losing_partner_is_dropped_and_the_best_candidate_admitted():
    """Partner 1 loses money after its monitoring cost; the freed place goes to the better-scored candidate 2.

    (A dropped partner is itself a candidate again when its record of losses is clean: the review ranks all
    eligible platforms by score, so here platform 2 must outrank it.)"""
    r = _review(q_income=np.array([10.0, 1.0, 10.0]), score=np.array([3.0, 1.0, 2.0]))  # 1 - 2 - 0 - 1 < 0
    np.testing.assert_array_equal(r.partners, [True, False, True])


def test_whitelist_regime_drops_young_or_complained_partners():
    r = _review(**IDLE, whitelist_on=True, age_months=np.array([60.0, 12.0, 60.0]),
                complaints=np.array([0.9, 0.0, 0.0]))
    # Partner 0 fails the complaint bar, partner 1 the age bar; platform 2 qualifies and is admitted.
    np.testing.assert_array_equal(r.partners, [False, False, True])


def test_npl_above_tolerance_drops_a_partner():
    r = _review(q_npl=np.array([0.0, 30.0, 0.0]), loss_rate=np.array([0.0, 0.08, 0.0]))  # 30 / 300 = 10% > 5%
    np.testing.assert_array_equal(r.partners, [True, False, True])


def test_hurdle_streak_leads_to_leaving():
    """The fourth review in a row below the hurdle ends platform lending; earlier ones only count."""
    losing = dict(q_income=np.full(3, 2.0), q_cost=np.full(3, 2.0), partner_cost_q=0.0)  # zero return < 1%
    assert _review(**losing, below_hurdle_quarters=2).below_hurdle_quarters == 3
    assert not _review(**losing, below_hurdle_quarters=2).leave
    assert _review(**losing, below_hurdle_quarters=3).leave
    assert not _review(**losing, below_hurdle_quarters=3, allow_leave=False).leave


def test_idle_budget_widens_the_list_but_a_regime_limit_binds():
    idle = dict(q_budget=100.0, q_lines=10.0, partners=np.array([True, True, False]))
    assert _review(**idle).partners.sum() == 3  # capacity 2 + 2 while idle
    assert _review(**idle, whitelist_on=True, max_partners=1).partners.sum() == 1
    np.testing.assert_array_equal(_review(**idle, whitelist_on=True, max_partners=1).partners, [True, False, False])


def test_no_partner_left_means_leaving():
    r = _review(active=np.zeros(3, dtype=bool))
    assert not r.partners.any() and r.leave


def _direct(**over):
    """A funder lending directly: a quarter earning 3 on an average balance of 100 (12% a year), capital 50 of
    an initial 100 (floor 40), no streak; ``over`` changes any input."""
    args = dict(q_business=3.0, q_balance=300.0, year_business=0.0, year_balance=0.0, below_hurdle_quarters=0,
                lending_directly=True, hurdle=0.015, leave_quarters=4, capital=50.0, capital_floor=40.0,
                allow_leave=True)
    args.update(over)
    return review_direct_lending(**args)


def test_a_direct_lender_above_its_hurdle_stays():
    r = _direct()
    assert not r.close_direct and not r.fail
    # Trailing year: 0.75 * 0 + 3 on 0.75 * 0 + 300 / 3 = 100, so 4 * 3 / 100 = 12% a year.
    assert (r.year_business, r.year_balance) == pytest.approx((3.0, 100.0))
    assert r.annual_return == pytest.approx(0.12) and r.below_hurdle_quarters == 0
    # A past streak is forgotten after a review above the hurdle.
    assert _direct(below_hurdle_quarters=3).below_hurdle_quarters == 0


def test_the_trailing_year_decays_past_quarters_by_three_quarters():
    """A losing quarter after a good year: 0.75 * 16 - 4 = 8 on 0.75 * 100 + 100 = 175: 4 * 8 / 175 = 18%."""
    r = _direct(q_business=-4.0, year_business=16.0, year_balance=100.0)
    assert (r.year_business, r.year_balance) == pytest.approx((8.0, 175.0))
    assert r.annual_return == pytest.approx(4 * 8 / 175) and r.below_hurdle_quarters == 0


def test_a_direct_desk_closes_after_leave_quarters_below_its_hurdle():
    """Earning 0.25 on 100 a quarter is 1% a year, under a 1.5% hurdle: the fourth review in a row closes it."""
    poor = dict(q_business=0.25)
    assert _direct(**poor).annual_return == pytest.approx(0.01)
    assert _direct(**poor, below_hurdle_quarters=2).below_hurdle_quarters == 3
    assert not _direct(**poor, below_hurdle_quarters=2).close_direct
    r = _direct(**poor, below_hurdle_quarters=3)
    assert r.close_direct and not r.fail
    assert not _direct(**poor, below_hurdle_quarters=3, allow_leave=False).close_direct  # burn-in


def test_a_quarter_without_any_direct_balance_counts_below_the_hurdle():
    """A desk that held nothing all quarter earned nothing, whatever its decayed past return says."""
    r = _direct(q_business=0.0, q_balance=0.0, year_business=10.0, year_balance=100.0)
    assert r.annual_return > 0.015 and r.below_hurdle_quarters == 1


def test_capital_below_the_floor_closes_the_desk_and_below_zero_is_failure():
    low = _direct(capital=39.0)
    assert low.close_direct and not low.fail
    failed = _direct(capital=-1.0)
    assert failed.close_direct and failed.fail
    # Failure does not wait for a direct desk: a funder lending only through platforms fails too.
    platform_only = _direct(capital=-1.0, lending_directly=False, q_business=0.0, q_balance=0.0)
    assert platform_only.fail and not platform_only.close_direct
    assert not _direct(capital=-1.0, allow_leave=False).fail


def test_a_closed_desk_is_booked_but_not_judged():
    """After the desk closed, its run-off still enters the trailing year, but no streak is counted."""
    r = _direct(lending_directly=False, q_business=-5.0)
    assert r.year_business == pytest.approx(-5.0) and r.below_hurdle_quarters == 0 and not r.close_direct


# ------------------------------------------------------------------ a whitelist regime announced ahead
def test_announced_regime_applies_its_admission_criteria_before_it_binds():
    """Ahead of the regime the funder already drops and refuses young or complained platforms, as it will under it."""
    criteria = dict(age_months=np.array([60.0, 12.0, 60.0]), complaints=np.array([0.9, 0.0, 0.0]))
    np.testing.assert_array_equal(_review(**criteria).partners, [True, True, False])  # no regime: capacity full
    ahead = _review(**criteria, **IDLE, regime_announced=True)
    np.testing.assert_array_equal(ahead.partners, [False, False, True])
    np.testing.assert_array_equal(ahead.partners, _review(**criteria, **IDLE, whitelist_on=True).partners)


def test_announced_regime_charges_its_cost_share_in_the_partner_profit_test():
    """Partner 1 earns 10 - 2 - 0 = 8 a quarter: 1 of monitoring and 6.5 anticipated leave 0.5, 7.5 a loss.

    The anticipated cost only counts while the regime is announced. The freed place goes to the better-scored
    candidate 2 (a dropped partner is a candidate again, so it must be outranked)."""
    over = dict(q_income=np.array([20.0, 10.0, 10.0]), score=np.array([3.0, 1.0, 2.0]), **IDLE)
    assert _review(**over, regime_announced=True, anticipated_cost_q=6.5).partners[1]
    dropped = _review(**over, regime_announced=True, anticipated_cost_q=7.5)
    np.testing.assert_array_equal(dropped.partners, [True, False, True])
    assert _review(**over, regime_announced=False, anticipated_cost_q=7.5).partners[1]


def test_announced_regime_drops_dormant_partners_that_do_not_pay_their_way():
    """Without a regime a partner with no balance this quarter stays; ahead of a regime it costs its share."""
    dormant = dict(q_balance=np.array([300.0, 0.0, 0.0]), q_income=np.array([10.0, 0.0, 0.0]),
                   q_cost=np.array([2.0, 0.0, 0.0]), wants_funding=np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(_review(**dormant).partners, [True, True, False])
    np.testing.assert_array_equal(_review(**dormant, regime_announced=True, anticipated_cost_q=0.5).partners,
                                  [True, False, False])


def test_hurdle_test_books_only_costs_paid_not_the_anticipated_share():
    """The anticipated share is a charge in the partner test only: the trailing-year business is unchanged."""
    plain = _review()
    ahead = _review(regime_announced=True, anticipated_cost_q=2.0)
    assert ahead.year_business == plain.year_business and ahead.below_hurdle_quarters == plain.below_hurdle_quarters


def test_under_a_regime_a_listed_partner_need_only_pay_its_way_but_a_candidate_must_clear_the_hurdle():
    """Partner 1 nets 10 - 2 - 0 - 1 = 7 a quarter on an average balance of 100 (28% a year): with a 30% hurdle it
    stays listed under a regime, since it pays its way. Candidate 2 (no business yet, loss rate 20% a year) is
    expected to bring the mean balance 100 at the funder's margin 12 * 26 / 600 = 52% less its loss rate:
    100 * 0.32 / 4 = 8, short of the charge 1 plus 0.30 / 4 * 100 = 8.5, so it is refused; with a 20% hurdle
    (1 + 5 = 6) it is admitted."""
    over = dict(partners=np.array([True, True, False]), q_income=np.array([20.0, 10.0, 0.0]),
                q_cost=np.array([2.0, 2.0, 0.0]), q_balance=np.array([300.0, 300.0, 0.0]),
                loss_rate=np.array([0.0, 0.0, 0.20]), score=np.array([3.0, 1.0, 2.0]), hurdle=0.30,
                capacity_partners=3, loss_tolerance=0.25, **IDLE)
    for ahead in (dict(whitelist_on=True), dict(regime_announced=True)):
        np.testing.assert_array_equal(_review(**over, **ahead).partners, [True, True, False])
    np.testing.assert_array_equal(_review(**{**over, "hurdle": 0.20}, whitelist_on=True).partners,
                                  [True, True, True])
    np.testing.assert_array_equal(_review(**over).partners, [True, True, True])  # no regime: no such test


def test_expected_partner_profit_is_the_mean_balance_at_the_funder_margin_less_the_candidate_loss_rate():
    """Two partners with business: balances 300 and 600 over the quarter (mean 150 a month each), margin
    12 * (9 + 9) / 900 = 24% a year; a candidate losing 4% a year is expected to earn 150 * 0.20 / 4 = 7.5."""
    b, profit = expected_partner_profit(q_income=np.array([10.0, 12.0, 0.0]), q_cost=np.array([1.0, 3.0, 0.0]),
                                        q_balance=np.array([300.0, 600.0, 0.0]),
                                        loss_rate=np.array([0.0, 0.04, 0.30]))
    np.testing.assert_allclose(b, 150.0)
    np.testing.assert_allclose(profit, [9.0, 7.5, -2.25])
    b, profit = expected_partner_profit(q_income=np.zeros(2), q_cost=np.zeros(2), q_balance=np.zeros(2),
                                        loss_rate=np.array([0.0, 0.1]))
    assert not b.any() and not profit.any()


def test_a_candidate_is_expected_to_bring_no_more_than_its_share_of_its_own_business():
    """Same funder as above (mean 150 a month per partner, margin 24%): a candidate whose balance, shared among its
    funders and this one, is 60 is expected to bring 60, and 60 * 0.24 / 4 = 3.6; one with a reach of 1000
    still brings the funder's mean of 150."""
    b, profit = expected_partner_profit(q_income=np.array([10.0, 12.0, 0.0]), q_cost=np.array([1.0, 3.0, 0.0]),
                                        q_balance=np.array([300.0, 600.0, 0.0]), loss_rate=np.zeros(3),
                                        reach=np.array([60.0, 1000.0, 150.0]))
    np.testing.assert_allclose(b, [60.0, 150.0, 150.0])
    np.testing.assert_allclose(profit, [3.6, 9.0, 9.0])


def test_the_funders_own_record_of_a_former_partner_caps_what_it_expects_and_the_cap_relaxes_with_age():
    """A platform that brought 20 a month in its last quarter as a partner: with a fresh record (weight 1) the
    funder expects 20, with the record faded to weight 0.25 at most 20 / 0.25 = 80, and with weight 0.1 the cap
    of 200 is above the funder's mean of 150, which applies; a platform it never listed (NaN) is expected to
    bring the mean."""
    args = dict(q_income=np.array([10.0, 12.0, 0.0]), q_cost=np.array([1.0, 3.0, 0.0]),
                q_balance=np.array([300.0, 600.0, 0.0]), loss_rate=np.zeros(3))
    record = np.array([np.nan, np.nan, 20.0])
    for weight, expected in ((1.0, 20.0), (0.25, 80.0), (0.1, 150.0)):
        b, _ = expected_partner_profit(**args, record_balance=record, record_weight=np.full(3, weight))
        np.testing.assert_allclose(b, [150.0, 150.0, expected])


def test_under_a_regime_a_former_partner_that_did_not_pay_its_way_is_not_re_admitted():
    """Platform 2 would pass the admission test on the funder's mean balance (see the test below), but the
    funder's own record says it brought 2 a month: 2 * 0.32 / 4 = 0.16 does not cover the charge of 1."""
    room = dict(partners=np.array([True, True, False]), capacity_partners=3, whitelist_on=True,
                loss_rate=np.zeros(3), **IDLE)
    assert _review(**room).partners[2]
    record = np.array([np.nan, np.nan, 2.0])
    assert not _review(**room, record_balance=record, record_weight=np.ones(3)).partners[2]
    # Faded to a weight of 0.01, the record caps the expectation at 200, above the funder's mean of 100.
    assert _review(**room, record_balance=record, record_weight=np.full(3, 0.01)).partners[2]


def test_under_a_regime_a_candidate_is_admitted_only_if_expected_to_pay_its_way():
    """Platform 2 is a candidate with room on the list. Expected: mean balance 100 at a margin of
    12 * 16 / 600 = 32% a year, less its loss rate, over four quarters; it must beat the charge of 1 plus the
    hurdle's 1% / 4 * 100 = 0.25. Without a regime, only the loss tolerance screens candidates."""
    room = dict(partners=np.array([True, True, False]), capacity_partners=3, **IDLE)
    assert _review(**room, whitelist_on=True, loss_rate=np.array([0.0, 0.0, 0.0])).partners[2]  # 100 * .32 / 4 = 8
    assert not _review(**room, whitelist_on=True, loss_rate=np.array([0.0, 0.0, 0.30])).partners[2]  # 0.5 < 1.25
    assert _review(**room, loss_rate=np.array([0.0, 0.0, 0.05])).partners[2]  # within the 5% tolerance, no regime


# ------------------------------------------------------------------ platforms under a cap
def test_cap_exposure_shares_and_ceilings_per_platform():
    """Platform 0: 300 of 400 above the cap, ceiling (300 * 0.1 + 100 * 0.3) / 400 = 0.15. Platform 1: nothing
    above, one loan. Platform 2: no book. Direct loans (platform -1) are skipped. A platform is under a cap in
    force when any of its balance is."""
    ex = cap_exposure(platform=np.array([0, 0, 1, -1]), balance=np.array([300.0, 100.0, 50.0, 999.0]),
                      above=np.array([True, False, False, True]), max_pd=np.array([0.1, 0.3, 0.2, 0.0]),
                      in_force=np.array([False, True, False, True]), n_platforms=3)
    np.testing.assert_allclose(ex.share_above, [0.75, 0.0, 0.0])
    np.testing.assert_allclose(ex.pd_ceiling, [0.15, 0.2, np.inf])
    np.testing.assert_array_equal(ex.in_force, [True, False, False])


@pytest.mark.parametrize(("target", "previous", "share", "ceiling", "in_force", "expected"), [
    (0.30, 0.30, 0.50, 0.10, False, 0.30 * 0.85),   # announced and exposed: cut as after a loss
    (0.30, 0.30, 0.50, 0.28, False, 0.28),          # but not below what it can price with its margin
    (0.30, 0.30, 0.10, 0.10, False, 0.30),          # announced, little of the book above it: no change
    (0.30, 0.30, 0.00, 0.10, True, 0.30 * 0.85),    # in force: every platform it covers re-targets
    (0.08, 0.08, 0.90, 0.10, True, 0.08),           # appetite already within the ceiling: kept, never raised
    (0.30, 0.30, 0.25, 0.10, False, 0.30 * 0.85),   # the threshold itself counts as exposed
    (0.20, 0.17, 0.00, 0.10, True, 0.17 * 0.85),    # a profitable quarter's recovery does not undo the cut
])
def test_cap_appetite_cuts_toward_what_it_can_price_with_its_margin(target, previous, share, ceiling, in_force,
                                                                     expected):
    got = cap_appetite(target_pd=target, previous_pd=previous, share_above=share, pd_ceiling=ceiling,
                       in_force=in_force, exposure=0.25, risk_cut=0.85)
    assert got == pytest.approx(expected)


def _plan(**over):
    args = dict(q_lines=300.0, q_demand=600.0, q_volume=300.0, q_profit=1.0, q_value=np.array([4.0, 1.0, 0.0, 0.0]),
                q_spend=np.array([1.0, 1.0, 0.0, 0.0]), plan_floor=10.0, target_pd=0.10, target_pd0=0.12,
                acq_intensity=1.0, mix=np.array([0.5, 0.5, 0.0, 0.0]), allowed=np.array([True, True, False, True]),
                capital=100.0, capital0=100.0, unfunded_quarters=0, allow_exit=True)
    args.update(over)
    return plan_quarter(PP, **args)


def test_plan_follows_demand_with_headroom_and_the_mix_moves_to_the_better_channel():
    plan = _plan()
    assert plan.planned_volume == pytest.approx((1.0 + PP.plan_headroom) * 600.0 / 3.0)
    assert plan.fundable == pytest.approx((1.0 + PP.plan_headroom) * 300.0 / 3.0)
    assert plan.mix[0] > 0.5 > plan.mix[1] and plan.mix.sum() == pytest.approx(1.0)
    assert plan.exit == Exit.STAY


def test_a_loss_cuts_risk_and_acquisition_a_profit_restores_them():
    loss = _plan(q_profit=-1.0)
    assert loss.target_pd == pytest.approx(0.10 * PP.risk_cut)
    assert loss.acq_intensity == pytest.approx(PP.shrink_factor)
    gain = _plan(target_pd=0.10 * PP.risk_cut, acq_intensity=PP.shrink_factor)
    assert gain.target_pd == pytest.approx(min(0.10, 0.12)) and gain.acq_intensity == pytest.approx(1.0)


def test_exits_failure_unfunded_and_low_capital():
    assert _plan(capital=-1.0).exit == Exit.FAILURE
    assert _plan(q_lines=0.0, unfunded_quarters=PP.unfunded_quarters - 1).exit == Exit.SOLVENT
    assert _plan(capital=PP.exit_capital_share * 100.0 * 0.99).exit == Exit.SOLVENT
    assert _plan(capital=-1.0, allow_exit=False).exit == Exit.STAY
    assert _plan(q_lines=0.0).unfunded_quarters == 1 and _plan().unfunded_quarters == 0


def test_plan_never_below_its_floor():
    assert _plan(q_demand=0.0, q_volume=0.0, q_lines=0.0).planned_volume == 10.0


def test_loss_calibration_prior_and_clip():
    # No record: factor unchanged.
    assert loss_calibration(expected_ewm=0.0, realised_ewm=0.0, expected=0.0, realised=0.0, decay=0.9)[2] is None
    # E = 0.9 * 10 + 1 = 10, R = 0.9 * 20 + 4 = 22, prior 6: (22 + 6) / (10 + 6) = 1.75.
    e, r, scale = loss_calibration(expected_ewm=10.0, realised_ewm=20.0, expected=1.0, realised=4.0, decay=0.9)
    assert (e, r) == pytest.approx((10.0, 22.0)) and scale == pytest.approx(1.75)
    assert loss_calibration(expected_ewm=1.0, realised_ewm=100.0, expected=0.0, realised=0.0, decay=1.0)[2] == 3.0


def test_borrower_outcomes_spiral_definition():
    """Borrower 0: three lenders at DSTI 0.6 (multi spiral); 1: three months of borrowing to repay with rising
    DSTI (spiral); 2: the same run but DSTI fell (no spiral); 3: only a shadow loan (not indebted)."""
    out = borrower_outcomes(
        loan_borrower=np.array([0, 0, 0, 1, 2, 3]), loan_shadow=np.array([False] * 5 + [True]), n_borrowers=4,
        dsti=np.array([0.6, 0.5, 0.2, 0.9]), btr_months=np.array([0, 3, 3, 5]),
        dsti_at_btr_start=np.array([0.0, 0.4, 0.3, 0.1]), spiral_lenders=3, spiral_months=3, spiral_dsti=0.5)
    np.testing.assert_array_equal(out.indebted, [True, True, True, False])
    np.testing.assert_array_equal(out.multi, [True, False, False, False])
    np.testing.assert_array_equal(out.spiral, [True, True, False, False])


def test_plan_params_are_the_shipped_ones():
    """The tests above read the shipped platform parameters; a schema change shows here first."""
    assert dataclasses.is_dataclass(PP) and 0 < PP.risk_cut < 1 and 0 < PP.shrink_factor <= 1


def test_under_a_regime_only_a_funder_with_idle_budget_takes_on_new_partners():
    """Room on the list (capacity 3, two partners) and a candidate worth admitting: without a regime the funder fills
    its list; under a regime in force or announced, where every partner costs its charge, it admits the candidate
    only when its budget sat idle (lines under 80% of the budget), since a new partner would otherwise only share
    out business its partners already take."""
    room = dict(partners=np.array([True, True, False]), capacity_partners=3)
    busy = dict(q_budget=100.0, q_lines=90.0)
    assert _review(**room, **busy).partners[2]
    for regime in (dict(whitelist_on=True), dict(regime_announced=True)):
        assert not _review(**room, **busy, **regime).partners[2]
        assert _review(**room, **regime, q_budget=100.0, q_lines=70.0).partners[2]


# ------------------------------------------------------------- partners leave weakest first under a charge
def _records(income, loss=None, balance=None):
    income = np.asarray(income, dtype=float)
    zeros = np.zeros_like(income)
    return {"q_income": income, "q_cost": zeros.copy(),
            "q_loss": zeros.copy() if loss is None else np.asarray(loss, dtype=float),
            "q_balance": income * 10.0 if balance is None else np.asarray(balance, dtype=float),
            "q_npl": zeros.copy()}


def test_business_of_a_partner_that_leaves_passes_to_those_that_stay():
    from model.mechanisms.reviews import consolidate_partner_records

    # One platform, four funders each earning 3 on a balance of 30 against a charge of 5: reviewed alone, all four
    # would drop it.
    rec = _records([[3.0], [3.0], [3.0], [3.0]])
    out = consolidate_partner_records(rec, np.ones((4, 1), dtype=bool), charge=5.0)
    # Ties leave in index order. Funder 0 leaves and its balance grows the others' business by 30/90: 4 each;
    # funder 1 leaves (4 < 5) and the last two grow by 40/80: 6 each, which covers the charge.
    np.testing.assert_allclose(out["q_income"][:, 0], [3.0, 4.0, 6.0, 6.0])
    # The stayers hold the whole balance; the leavers keep their own records, so their reviews still drop them.
    assert out["q_balance"][2:, 0].sum() == pytest.approx(120.0)
    assert out["q_balance"][0, 0] == 30.0


def test_an_heir_earns_its_own_margin_on_what_it_takes_over_not_the_leavers_losses():
    from model.mechanisms.reviews import consolidate_partner_records

    # Funder 0 had a lumpy charge-off (loss 10 on income 3); funder 1 earns 6 on the same balance and keeps no loss.
    rec = _records([[3.0], [6.0]], loss=[[10.0], [0.0]], balance=[[30.0], [30.0]])
    out = consolidate_partner_records(rec, np.ones((2, 1), dtype=bool), charge=5.0)
    # Funder 0 leaves; funder 1 doubles its business at its own margin: income 12, still no loss.
    assert out["q_income"][1, 0] == pytest.approx(12.0) and out["q_loss"][1, 0] == 0.0
    assert out["q_income"][1, 0] - out["q_loss"][1, 0] - 5.0 > 0


def test_partners_that_pay_their_way_and_platforms_without_them_are_untouched():
    from model.mechanisms.reviews import consolidate_partner_records

    rec = _records([[9.0, 1.0], [7.0, 2.0]])
    listed = np.array([[True, False], [True, False]])   # platform 1 has no listed partner
    out = consolidate_partner_records(rec, listed, charge=5.0)
    for name in rec:
        np.testing.assert_array_equal(out[name], rec[name])
    assert out["q_income"] is not rec["q_income"]       # a copy: the funders' own records are not touched


def test_a_platform_that_loses_money_before_the_charge_is_left_by_all():
    from model.mechanisms.reviews import consolidate_partner_records

    # Every partner loses before any charge (income 2, loss 3): taking over more of it only loses more.
    rec = _records([[2.0], [2.0], [2.0]], loss=[[3.0], [3.0], [3.0]])
    out = consolidate_partner_records(rec, np.ones((3, 1), dtype=bool), charge=1.0)
    profit = out["q_income"][:, 0] - out["q_loss"][:, 0] - 1.0
    assert (profit < 0).all()
