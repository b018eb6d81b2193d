"""Funders' capital and direct-lending account on small real models (model/institutions.py ``Funder``).

The decision itself is unit-tested on hand-built inputs (tests/unit/mechanisms/test_reviews.py); here the agent
applies it: a closed direct desk takes no applications and renews nothing, a failed funder stops all lending,
capital accumulates profit, and the review runs in a world without platforms and holds off during burn-in.
"""

import numpy as np
import pytest

from model.config import load_scenario
from model.enums import FunderKind
from model.lending import LendingModel

SMALL = ["run.borrowers=2000", "run.burn_in=0", "run.months=6"]
NO_PLATFORMS = ["platforms.head.count=0", "platforms.waist.count=0", "platforms.tail.count=0"]


def build(*extra, scenario="baseline-2024"):
    return LendingModel(load_scenario(scenario, overrides=[*SMALL, *extra]), rng=1)


@pytest.fixture
def model():
    m = build()
    yield m
    m.release()


def _direct_lender(m):
    """The direct lender with the largest direct book (a state-owned bank with the defaults)."""
    return max((f for f in m.funders if f.direct_lending), key=lambda f: f.direct_outstanding)


def test_capital_starts_at_its_ratio_of_the_book_and_accumulates_profit(model):
    for f in model.funders:
        assert f.capital == pytest.approx(f.capital_ratio * (f.platform_outstanding + f.direct_outstanding))
        assert f.capital0 == f.capital
    before = np.array(model.funders.get("capital"))
    model.step()
    after = np.array(model.funders.get("capital"))
    np.testing.assert_allclose(after, before + np.array(model.funders.get("profit")), rtol=1e-12)


def test_a_funder_below_its_hurdle_for_leave_quarters_closes_its_direct_desk(model):
    """Fourth review in a row below the hurdle: the desk closes; afterwards it lends and renews nothing directly,
    its direct book runs off, and it stays in platform lending."""
    f = _direct_lender(model)
    leave = model.params.funders.leave_quarters
    f.below_hurdle_direct_quarters = leave - 1
    f.q_direct_business, f.q_direct_balance = -1.0, 3.0 * f.direct_outstanding
    f.review_direct_lending()
    assert not f.direct_lending and f.direct_budget == 0.0
    assert f.in_platform_lending and f.lending and not f.failed
    P = model.n_platforms
    assert not model.gather_desks().active[P + f.index]
    L = model.loans
    mine = (L.view("funder") == f.index) & (L.view("platform") < 0)
    book_before = float(L.view("balance")[mine].sum())
    assert book_before > 0
    for _ in range(3):
        model.step()
        L = model.loans
        mine = (L.view("funder") == f.index) & (L.view("platform") < 0)
        assert not (mine & (L.view("orig_step") == model.t)).any(), "a closed desk originated or renewed a loan"
        assert not L.view("renewable")[mine].any()
    assert float(L.view("balance")[mine].sum()) < book_before
    assert not f.direct_lending  # for good
    assert model.tables()["funders"].query("funder_id == @f.index")["direct_lending"].eq(False).all()


def test_a_funder_whose_capital_is_gone_fails_and_stops_all_lending(model):
    f = _direct_lender(model)
    assert f.in_platform_lending and f.partners.any()
    f.capital = -1.0
    f.review_direct_lending()
    assert f.failed and not f.direct_lending and not f.in_platform_lending and not f.partners.any()
    assert not f.lending and f.platform_budget_now() == 0.0
    # Its book runs off; it is not reviewed again.
    model.step()
    f.review_direct_lending()
    assert f.failed


def test_the_review_runs_without_platforms():
    """With every platform tier empty the quarterly review still judges direct lending: a hurdle nobody can meet
    and a one-quarter streak close every consumer-finance company's direct desk at the first quarter end."""
    m = build(*NO_PLATFORMS, "funders.cfc.hurdle=0.9", "funders.leave_quarters=1", "run.months=3", "run.burn_in=0")
    try:
        assert m.n_platforms == 0
        cfcs = [f for f in m.funders if f.kind == FunderKind.CFC]
        m.step()
        m.step()
        assert all(f.direct_lending for f in cfcs)
        m.step()  # 2024-03: quarter end
        assert not any(f.direct_lending for f in cfcs)
        assert all(f.year_direct_balance > 0 for f in cfcs if f.direct_outstanding > 0)
        others = [f for f in m.funders if f.kind != FunderKind.CFC and f.direct_budget > 0]
        assert others and all(f.direct_lending for f in others)
        row = m.recorder.model_rows[-1]
        # No platforms to lend through and every direct desk closed: no CFC is still lending.
        assert row["lenders_cfc"] == 0
    finally:
        m.release()


def test_burn_in_reviews_decide_as_any_review_and_capital_is_rebased():
    """During burn-in funders decide as at any review (a direct desk that cannot earn closes then, not in a burst
    after it) and keep their records; capital then restarts at its ratio of the burned-in book."""
    m = build("run.burn_in=6", "funders.cfc.hurdle=0.9", "funders.leave_quarters=1")
    try:
        cfcs = [f for f in m.funders if f.kind == FunderKind.CFC]
        assert not any(f.direct_lending for f in cfcs)
        # Records are kept through the end of the burn-in: the trailing-year direct account is not reset.
        assert all(f.year_direct_balance > 0 for f in cfcs if f.direct_outstanding > 0)
        for f in m.funders:
            assert f.capital == pytest.approx(f.capital_ratio * (f.platform_outstanding + f.direct_outstanding))
    finally:
        m.release()


def test_lenders_by_kind_count_funders_lending_directly_or_through_platforms(model):
    model.step()
    row = model.recorder.model_rows[-1]
    for kind in FunderKind:
        assert row[f"lenders_{kind.value}"] == sum(f.lending for f in model.funders if f.kind == kind)
    funders = model.tables()["funders"]
    assert funders["capital"].notna().all()
    assert funders["direct_lending"].sum() == sum(f.direct_lending for f in model.funders)


def test_a_whitelist_review_records_what_each_listed_partner_brought(model):
    """After a review the funder remembers, for every platform listed going in, its average balance over the quarter
    (record age 0); platforms it did not list keep their older record, one review older."""
    m = model
    for _ in range(3):
        m.step()
    f = next(f for f in m.funders if f.partners.any())
    listed = f.partners.copy()
    balance = f.q_balance.copy()
    f.partner_record[:] = np.nan
    f.partner_record_age[:] = 2.0
    record = m._platform_record()
    f.review_whitelist(active=record["active"].astype(bool), score=np.zeros(m.n_platforms),
                       loss_rate=record["loss_rate"], age_months=record["age_months"],
                       complaints=record["complaints"], wants_funding=np.zeros(m.n_platforms, dtype=bool),
                       whitelist_on=False, min_age=0.0, max_complaints=1.0, max_partners=0, partner_cost_q=0.0)
    np.testing.assert_allclose(f.partner_record[listed], balance[listed] / 3.0)
    assert (f.partner_record_age[listed] == 0).all()
    assert np.isnan(f.partner_record[~listed]).all() and (f.partner_record_age[~listed] == 3).all()
