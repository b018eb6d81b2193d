"""Unit tests for model.world: the initial 2024 world on a small real model (2,000 borrowers, no burn-in)."""

import numpy as np
import pytest

from model.config import load_scenario
from model.lending import LendingModel
from model.params import RunParams

SMALL = ["run.borrowers=2000", "run.burn_in=0", "run.months=1"]


def build(*extra):
    return LendingModel(load_scenario("baseline-2024", overrides=[*SMALL, *extra]), rng=1)


@pytest.fixture(scope="module")
def model():
    assert "burn_in" in RunParams.__dataclass_fields__
    m = build()
    yield m
    m.release()


def test_every_platform_is_on_a_whitelist(model):
    """At the start every platform is listed by at least one funder (nobody is left unfunded)."""
    partners = np.array(model.funders.get("partners"))
    assert partners.shape == (model.n_funders, model.n_platforms)
    assert partners.any(axis=0).all()


def test_platform_weights_sum_to_one_and_tier_shares(model):
    """Balance weights sum to 1, and each tier's weights sum to its balance_share (0.80 / 0.14 / 0.06 of a total
    of 1.0), in rank order within the tier (Zipf)."""
    w = model._platform_weight
    pp = model.params.platforms
    assert w.size == model.n_platforms == pp.head.count + pp.waist.count + pp.tail.count
    assert w.sum() == pytest.approx(1.0)
    head, waist, tail = np.split(w, [pp.head.count, pp.head.count + pp.waist.count])
    assert head.sum() == pytest.approx(0.80)
    assert waist.sum() == pytest.approx(0.14)
    assert tail.sum() == pytest.approx(0.06)
    assert np.all(np.diff(head) < 0)


def test_stock_aprs_respect_start_caps_plus_service_fee(model):
    """Baseline 2024: the legacy 36% nominal cap. Every stock loan's APR is at most 0.36 plus its desk's service
    fee (0 for direct desks); the cap binds for some loans."""
    rules = model._rules_for(model.start_month)
    L = model.loans
    assert L.size > 0
    fund, desk, apr = L.view("funder"), L.view("desk"), L.view("apr")
    cap = np.minimum(rules.cap_nominal, rules.cap_all_in)[model.lenders.kind[fund]]
    np.testing.assert_allclose(cap, 0.36)
    fee = model.gather_desks().fee[desk]
    assert np.all(apr <= cap + fee + 1e-12)
    direct = L.view("platform") < 0
    assert direct.any() and np.all(apr[direct] <= 0.36 + 1e-12)
    assert np.any(np.isclose(apr, cap + fee))


def test_funders_initial_balances_equal_the_books_sums(model):
    """Each funder's platform and direct balances are the sums of its platform and direct stock loans."""
    L = model.loans
    fund, bal, plat = L.view("funder"), L.view("balance"), L.view("platform")
    n_f = model.n_funders
    plat_bal = np.bincount(fund[plat >= 0], weights=bal[plat >= 0], minlength=n_f)
    dir_bal = np.bincount(fund[plat < 0], weights=bal[plat < 0], minlength=n_f)
    np.testing.assert_allclose(model.funders.get("platform_outstanding"), plat_bal, rtol=1e-12)
    np.testing.assert_allclose(model.funders.get("direct_outstanding"), dir_bal, rtol=1e-12)
    assert bal.sum() == pytest.approx(plat_bal.sum() + dir_bal.sum())
    # Every stock loan has a funder; platform loans sit at desks < P, direct ones at P + funder.
    assert np.all(fund >= 0)
    np.testing.assert_array_equal(L.view("desk")[plat < 0], model.n_platforms + fund[plat < 0])


@pytest.mark.xfail(strict=True, reason=(
    "Surprise: world.initial_book clips stock APRs at cap + service fee even when the start month's cap counts "
    "fees (all-in), so with policy.rate_cap.legacy_fees_included=true some stock loans (7 of 877 here) carry "
    "0.39 > the 0.36 all-in cap, against its docstring ('stock loans priced above today's cap stay at the cap')."))
def test_stock_aprs_respect_an_all_in_cap_at_the_start():
    """With the legacy 36% cap counting fees, no stock loan's all-in APR exceeds 0.36."""
    m = build("policy.rate_cap.legacy_fees_included=true")
    try:
        rules = m._rules_for(m.start_month)
        np.testing.assert_allclose(rules.cap_all_in, 0.36)
        assert np.all(m.loans.view("apr") <= 0.36 + 1e-12)
    finally:
        m.release()


def test_each_funder_kinds_budgets_total_its_calibrated_budget(model):
    """Funders' sizes are drawn log-normal but scaled to mean exactly 1 within a kind, so every seed has the
    same total funding per kind (big-tech microlenders apart, whose budget is a multiple), times the supply of
    platform funding (``funders.platform_supply``)."""
    fp = model.params.funders
    for kind in ("bank_state", "bank_city", "bank_rural", "cfc", "trust"):
        budgets = [f.platform_budget for f in model.funders if f.kind.value == kind]
        params = getattr(fp, kind)
        assert len(budgets) == params.count
        assert np.mean(budgets) == pytest.approx(params.platform_budget * model.scale * fp.platform_supply)
        assert np.std(budgets) > 0  # the split over the kind's funders is still drawn


def test_the_supply_of_platform_funding_scales_every_platform_budget_and_nothing_else():
    """``funders.platform_supply`` multiplies each funder's platform budget (its split over funders unchanged);
    direct budgets stay as set."""
    base, more = build(), build("funders.platform_supply=1.5")
    try:
        np.testing.assert_allclose(np.array(more.funders.get("platform_budget")),
                                   1.5 * np.array(base.funders.get("platform_budget")), rtol=1e-12)
        np.testing.assert_array_equal(np.array(more.funders.get("direct_budget")),
                                      np.array(base.funders.get("direct_budget")))
    finally:
        base.release()
        more.release()
