"""Unit tests for model.mechanisms.acquisition: who seeks credit (seek_credit) and where they apply
(route_applications)."""

import dataclasses

import numpy as np
import pytest
from builders import book, population

from model.config import load_scenario
from model.enums import Channel
from model.mechanisms.acquisition import CreditDemand, platform_reach, route_applications, seek_credit

T = 10
PARAMS = load_scenario("baseline-2024").params
# One application per seeker: no Poisson extras, so counts are exact.
BP1 = dataclasses.replace(PARAMS.borrowers, applications_extra=0.0)
P = 2


def test_seekers_refinancers_and_delinquent_need():
    """With seek_prob 1 and max 3 loans:

    0 current with a shortfall of 50 refinances it; 1 current without shortfall seeks a new loan (100);
    2 one month past due with a shortfall does not seek but has delinquent_need; 3 past due without shortfall:
    nothing; 4 excluded until this month with a shortfall: nothing; 5 excluded until last month: seeks 100;
    6 already holds 3 licensed loans: no new consumption credit.
    """
    pop = population(n=7, dpd=[0, 0, 1, 1, 0, 0, 0],
                     excluded_until=[-(2**30), -(2**30), -(2**30), -(2**30), T, T - 1, -(2**30)],
                     shortfall=[50.0, 0, 30.0, 0, 20.0, 0, 0])
    d = seek_credit(np.random.default_rng(0), t=T, dpd=pop.dpd, excluded_until=pop.excluded_until,
                    shortfall=pop.shortfall, n_licensed=np.array([0, 0, 0, 0, 0, 0, 3]), seek_prob=np.ones(7),
                    loan_size=np.full(7, 100.0), max_loans=3)
    np.testing.assert_array_equal(d.seeking, [True, True, False, False, False, True, False])
    np.testing.assert_array_equal(d.refinancing, [True, False, False, False, False, False, False])
    np.testing.assert_array_equal(d.delinquent_need, [False, False, True, False, False, False, False])
    np.testing.assert_allclose(d.amount, [50.0, 100.0, 0, 0, 0, 100.0, 0])


def test_seek_prob_zero_leaves_only_refinancers():
    """seek_prob 0: nobody seeks consumption credit, but a current borrower with a shortfall still refinances
    (with its shortfall as the amount, even when it already holds max_loans loans)."""
    d = seek_credit(np.random.default_rng(0), t=T, dpd=np.zeros(2, dtype=np.int16),
                    excluded_until=np.full(2, -(2**30)), shortfall=np.array([0.0, 40.0]), n_licensed=np.array([0, 3]),
                    seek_prob=np.zeros(2), loan_size=np.full(2, 100.0), max_loans=3)
    np.testing.assert_array_equal(d.seeking, [False, True])
    np.testing.assert_allclose(d.amount, [0.0, 40.0])


def demand(seeking, refinancing=None, amount=100.0):
    seeking = np.asarray(seeking, dtype=bool)
    n = seeking.size
    refi = np.zeros(n, dtype=bool) if refinancing is None else np.asarray(refinancing, dtype=bool)
    return CreditDemand(seeking=seeking, refinancing=refi, amount=np.where(seeking, amount, 0.0),
                        delinquent_need=np.zeros(n, dtype=bool))


def route(dem, *, spend, direct_budget, bk=None, seed=0, bp=BP1, reach=None, channels=PARAMS.channels):
    n = dem.seeking.size
    bk = bk if bk is not None else book(n=0)
    spend = np.asarray(spend, dtype=float)
    reach = np.ones(spend.shape[0]) if reach is None else np.asarray(reach, dtype=float)
    return route_applications(np.random.default_rng(seed), dem, spend=spend, reach=reach,
                              direct_budget=np.asarray(direct_budget, dtype=float), risk_z=np.zeros(n),
                              n_licensed=np.zeros(n, dtype=np.int64), bp=bp, channels=channels,
                              book_borrower=bk.borrower, book_desk=bk.desk, book_shadow=bk.shadow)


def test_no_applications_when_nobody_seeks_or_nobody_has_budget():
    """Nobody seeking, or no platform spend and no direct budget: no applications and a traffic price of 0."""
    apps, price = route(demand([False] * 4), spend=np.ones((P, 4)), direct_budget=[1.0])
    assert apps.borrower.size == 0 and price == 0.0
    apps, price = route(demand([True] * 4), spend=np.zeros((P, 4)), direct_budget=[0.0, 0.0])
    assert apps.borrower.size == 0 and price == 0.0


def test_without_platform_spend_every_application_goes_direct():
    """No platform spend: all 50 seekers (with Poisson extras, deduplicated per desk) apply to direct desks, and
    only to funders with a direct budget (funder 1 has none, so desk P + 1 gets nothing)."""
    apps, price = route(demand([True] * 50), spend=np.zeros((P, 4)), direct_budget=[5.0, 0.0, 2.0],
                        bp=PARAMS.borrowers, seed=3)
    assert set(apps.desk.tolist()) <= {P + 0, P + 2}
    assert set(apps.borrower.tolist()) == set(range(50))
    assert price == 0.0
    np.testing.assert_allclose(apps.amount, 100.0)


def test_zero_spend_channels_and_platforms_get_no_traffic():
    """Only platform 0 buys API traffic: every application comes through the API channel to platform 0."""
    spend = np.zeros((P, 4))
    spend[0, int(Channel.API)] = 8.0
    apps, price = route(demand([True] * 40), spend=spend, direct_budget=[0.0], seed=5)
    np.testing.assert_array_equal(apps.desk, np.zeros(40))
    np.testing.assert_array_equal(apps.channel, np.full(40, int(Channel.API)))
    assert price == 8.0 / 40  # spend / bought applications


def test_desk_never_gets_an_application_from_its_own_current_borrower():
    """All traffic goes to platform 0. Borrower 0 holds a licensed loan there: no application. Borrower 1 holds
    only a shadow loan (not a desk's borrower), borrower 2 a loan at platform 1: both apply to platform 0, once
    each even with extra applications (one per borrower and desk). The traffic price still counts the
    application bought for borrower 0."""
    spend = np.zeros((P, 4))
    spend[0] = [3.0, 3.0, 3.0, 3.0]
    bk = book(n=3, borrower=[0, 1, 2], desk=[0, -1, 1], platform=[0, -1, 1], shadow=[False, True, False])
    dem = demand([True, True, True])
    apps, price = route(dem, spend=spend, direct_budget=[0.0], bk=bk, seed=2)
    np.testing.assert_array_equal(apps.borrower, [1, 2])
    np.testing.assert_array_equal(apps.desk, [0, 0])
    assert price == 12.0 / 3
    # With extra applications the own-borrower rule and de-duplication still hold.
    apps_x, _ = route(dem, spend=spend, direct_budget=[0.0], bk=bk, seed=2, bp=PARAMS.borrowers)
    np.testing.assert_array_equal(apps_x.borrower, [1, 2])


def test_own_borrower_rule_only_for_seekers_current_loans_at_that_desk():
    """Borrower 0 holds a loan at direct desk P + 0; with both direct desks funded it may still reach P + 1
    but never P + 0, over 30 seeds."""
    bk = book(n=1, borrower=[0], desk=[P + 0], platform=[-1])
    for seed in range(30):
        apps, _ = route(demand([True]), spend=np.zeros((P, 4)), direct_budget=[1.0, 1.0], bk=bk, seed=seed)
        assert P + 0 not in apps.desk.tolist()
        assert apps.desk.tolist() in ([], [P + 1])


def test_traffic_price_is_spend_over_bought_applications():
    """One application per seeker; with direct and platform budgets some go direct. The price is the total
    platform spend (16) over the applications that went through a platform channel."""
    spend = np.array([[10.0, 0.0, 0.0, 0.0], [0.0, 6.0, 0.0, 0.0]])
    apps, price = route(demand([True] * 200), spend=spend, direct_budget=[1.0], seed=11)
    assert apps.borrower.size == 200
    bought = int(np.count_nonzero(apps.desk < P))
    assert 0 < bought < 200
    assert price == 16.0 / bought
    # Applications go only where spend is: platform 0 via info flow, platform 1 via API.
    via = apps.desk < P
    np.testing.assert_array_equal(apps.channel[via], np.where(apps.desk[via] == 0, int(Channel.INFO_FLOW),
                                                              int(Channel.API)))


def test_refinancers_amount_is_their_shortfall():
    """Each application carries its borrower's sought amount (shortfall 25 for refinancer 0, 100 for 1)."""
    dem = CreditDemand(seeking=np.array([True, True]), refinancing=np.array([True, False]),
                       amount=np.array([25.0, 100.0]), delinquent_need=np.zeros(2, dtype=bool))
    apps, _ = route(dem, spend=np.zeros((P, 4)), direct_budget=[1.0])
    np.testing.assert_allclose(apps.amount[np.argsort(apps.borrower)], [25.0, 100.0])


def test_reach_is_weight_to_the_one_minus_returns_with_mean_one_per_tier():
    """Tier 0 has weights 4:1, tier 1 a single platform. With returns 0.5, reach is 2:1 scaled to mean 1."""
    r = platform_reach(weight=np.array([0.4, 0.1, 0.5]), tier=np.array([0, 0, 1]), spend_returns=0.5)
    np.testing.assert_allclose(r, [4 / 3, 2 / 3, 1.0])
    # Linear returns to spend need no reach: any split of spend is kept.
    np.testing.assert_allclose(platform_reach(weight=np.array([0.4, 0.1]), tier=np.zeros(2, dtype=int),
                                              spend_returns=1.0), [1.0, 1.0])


def test_a_platform_spending_in_proportion_to_its_weight_keeps_its_share():
    """The fixed point: spend 4:1 with reach from weights 4:1 draws applicants 4:1 (sqrt(4) * sqrt(4) = 4), where
    reach 1 would draw them 2:1 and the sizes would converge."""
    n = 40_000
    dem = demand([True] * n)
    spend = np.zeros((2, 4))
    spend[:, int(Channel.INFO_FLOW)] = [4.0, 1.0]
    bp = dataclasses.replace(BP1, direct_share=0.0)
    half = dataclasses.replace(PARAMS.channels, spend_returns=0.5)  # the arithmetic of the docstring
    reach = platform_reach(weight=np.array([0.8, 0.2]), tier=np.zeros(2, dtype=int), spend_returns=0.5)
    apps, _ = route(dem, spend=spend, direct_budget=[0.0], bp=bp, reach=reach, channels=half)
    got = np.bincount(apps.desk, minlength=2)
    assert got[0] / got[1] == pytest.approx(4.0, rel=0.05)
    apps, _ = route(dem, spend=spend, direct_budget=[0.0], bp=bp, channels=half)
    got = np.bincount(apps.desk, minlength=2)
    assert got[0] / got[1] == pytest.approx(2.0, rel=0.05)


def test_member_of_equals_isin_for_sorted_unique_keys():
    """member_of(keys, values) is np.isin(keys, values) for sorted unique keys, whatever the values
    (duplicates, unsorted, below, between and above the keys, empty)."""
    from model.mechanisms.acquisition import member_of

    rng = np.random.default_rng(11)
    keys = np.unique(rng.integers(0, 10_000, 3000))
    values = rng.integers(-50, 10_050, 2000)
    np.testing.assert_array_equal(member_of(keys, values), np.isin(keys, values))
    np.testing.assert_array_equal(member_of(keys, keys[::3]), np.isin(keys, keys[::3]))
    assert not member_of(keys, np.zeros(0, dtype=np.int64)).any()
    assert member_of(np.zeros(0, dtype=np.int64), values).size == 0
