"""model/kernels.py: each compiled pass gives, bit for bit, what the pure function it stands for gives.

Random inputs with the features that matter for exactness: zeros, equal values, shadow and direct loans,
several loans per borrower, borrowers past due and charged off.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model import kernels
from model.borrowers import BorrowerPopulation, LoanBook
from model.mechanisms import accounting, acquisition, billing, metrics, renewal, settlement, shadow
from model.params import Params


def assert_bits_equal(a, b, what=""):
    """Same dtype, shape and bytes (so +0.0 and -0.0 differ, and NaNs must match)."""
    if isinstance(a, float | int | np.floating | np.integer):
        assert type(a) is type(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes(), (what, a, b)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype, a.shape, b.shape)
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), what


def assert_same_result(x, y):
    for f in dataclasses.fields(x):
        assert_bits_equal(getattr(x, f.name), getattr(y, f.name), f.name)


def _book(rng, n_borrowers, n_loans, n_platforms, n_funders):
    """A random loan book: platform, direct and shadow loans, sorted by nothing in particular."""
    kind = rng.choice(3, n_loans, p=[0.6, 0.3, 0.1])  # platform, direct, shadow
    platform = np.where(kind == 0, rng.integers(0, max(n_platforms, 1), n_loans), -1).astype(np.int32)
    if n_platforms == 0:
        platform[:] = -1
    funder = np.where(kind == 2, -1, rng.integers(0, n_funders, n_loans)).astype(np.int32)
    desk = np.where(kind == 2, -1, np.where(platform >= 0, platform, n_platforms + funder)).astype(np.int32)
    balance = rng.choice([0.0, 1e-7, 50.0, 100.0], n_loans) * (rng.random(n_loans) < 0.3)
    balance += rng.exponential(100.0, n_loans) * (balance == 0)
    return dict(
        borrower=rng.integers(0, n_borrowers, n_loans), platform=platform, funder=funder, desk=desk,
        balance=balance, apr=rng.choice([0.0, 0.24, 0.36], n_loans) * rng.random(n_loans).round(1),
        funder_rate=rng.random(n_loans) * 0.2, guaranteed=rng.random(n_loans) < 0.4, shadow=kind == 2,
        pd_est=rng.random(n_loans) * 0.3, amort=rng.choice([0.0, 10.0], n_loans) * rng.random(n_loans),
        months_left=rng.integers(-1, 12, n_loans).astype(np.int32),
    )


def _settle_inputs(rng, n, m):
    bk = _book(rng, n, m, 5, 4)
    n_old = m - m // 10
    due = rng.choice([0.0, 5.0], n) * rng.random(n)
    return dict(
        dpd=rng.integers(0, 7, n).astype(np.int16), arrears=rng.choice([0.0, 2.0], n) * rng.random(n),
        buffer_cap=rng.random(n) * 50, btr_months=rng.integers(0, 4, n).astype(np.int16),
        dsti_at_btr_start=rng.random(n), excluded_until=rng.integers(-5, 20, n).astype(np.int32),
        cash=rng.normal(3.0, 4.0, n), proceeds=rng.choice([0.0, 3.0], n) * rng.random(n),
        shadow_proceeds=rng.choice([0.0, 0.0, 2.0], n) * rng.random(n), due=due,
        interest_due_b=np.where(rng.random(n) < 0.8, due * 0.1, 0.0), seeking_refi=rng.random(n) < 0.3,
        delinquent_need=rng.random(n) < 0.2, dsti=rng.random(n),
        interest_due=rng.random(n_old), principal_due=rng.random(n_old) * 10, renewed=rng.random(n_old) < 0.1,
        amort=bk["amort"][:n_old], balance=bk["balance"], months_left=bk["months_left"][:n_old],
        borrower=bk["borrower"], t=7, chargeoff_months=int(rng.integers(4, 7)), recovery_rate=0.1,
        exclusion_months=12,
    )


@pytest.mark.parametrize("seed", range(6))
def test_settle_repayments_is_the_pure_settlement(seed):
    rng = np.random.default_rng(seed)
    kw = _settle_inputs(rng, n=int(rng.integers(1, 300)), m=int(rng.integers(10, 600)))
    assert_same_result(kernels.settle_repayments(**kw), settlement.settle_repayments(**kw))


def test_settle_repayments_without_charge_offs():
    kw = _settle_inputs(np.random.default_rng(11), n=50, m=80)
    kw["chargeoff_months"] = 99
    st = kernels.settle_repayments(**kw)
    assert not st.chargeoff.any()
    assert_same_result(st, settlement.settle_repayments(**kw))


def _by_desk(rng, n_platforms, n_funders):
    return np.concatenate([rng.integers(0, 3, n_platforms), 3 + rng.integers(0, 4, n_funders), [-1]])


@pytest.mark.parametrize(("seed", "weight"), [(0, 1.0), (1, 250.0), (2, 3.7), (3, 1e6)])
def test_scale_losses_and_claims_is_real_scale_then_guarantee_claims(seed, weight):
    rng = np.random.default_rng(seed)
    P, F, n = 6, 5, 400
    bk = _book(rng, 100, n, P, F)
    by_desk = _by_desk(rng, P, F)
    loss = rng.choice([0.0, 1.0], n) * rng.exponential(20.0, n)
    interest_paid, interest_due = rng.random(n), rng.random(n) * (rng.random(n) < 0.9)
    balance_start = bk["balance"] + rng.random(n)
    lgd = 0.8
    got = kernels.scale_losses_and_claims(
        loss=loss, interest_paid=interest_paid, interest_due=interest_due, balance_start=balance_start,
        pd_est=bk["pd_est"], desk=bk["desk"], by_desk=by_desk, guaranteed=bk["guaranteed"],
        platform=bk["platform"], shadow=bk["shadow"], lgd=lgd, weight=weight, n_platforms=P)
    group = by_desk[bk["desk"]]
    want_loss = accounting.real_scale(sampled=loss, proxy=balance_start * bk["pd_est"] * lgd / 12.0, group=group,
                                      weight=weight)
    want_int = accounting.real_scale(sampled=interest_paid, proxy=interest_due, group=group, weight=weight)
    want_claims = accounting.guarantee_claims(loss=want_loss, guaranteed=bk["guaranteed"], platform=bk["platform"],
                                              shadow=bk["shadow"], n_platforms=P).claims
    for g, w, what in zip(got, (want_loss, want_int, want_claims), ("loss", "interest", "claims"), strict=True):
        assert_bits_equal(g, w, what)


@pytest.mark.parametrize(("seed", "n_platforms", "weight", "with_scale"),
                         [(0, 6, 250.0, True), (1, 6, 1.0, False), (2, 0, 40.0, True), (3, 3, 5.0, False),
                          (4, 8, 1e4, True)])
def test_book_month_is_the_pure_book_month(seed, n_platforms, weight, with_scale):
    rng = np.random.default_rng(seed)
    P, F, n_b, m = n_platforms, 5, 150, 700
    bk = _book(rng, n_b, m, P, F)
    n_old = m - 60
    claims = rng.choice([0.0, 30.0], P) * rng.random(P)
    kw = dict(
        interest_paid=rng.random(n_old), balance_start=bk["balance"][:n_old] + rng.random(n_old),
        loss=rng.choice([0.0, 5.0], n_old) * rng.random(n_old), chargeoff=rng.random(n_old) < 0.1,
        paid=claims * rng.choice([0.0, 0.5, 1.0], P), platform_solvent=rng.random(P) < 0.7, balance=bk["balance"],
        platform=bk["platform"], funder=bk["funder"], desk=bk["desk"], apr=bk["apr"],
        funder_rate=bk["funder_rate"], guaranteed=bk["guaranteed"], shadow=bk["shadow"], borrower=bk["borrower"],
        pd_est=bk["pd_est"], dpd=rng.integers(0, 6, n_b).astype(np.int16), funding_cost=rng.random(F) * 0.05,
        direct_opex_rate=rng.random(F) * 0.03, opex_rate=rng.random(P) * 0.03, lgd=0.85,
        weight=weight, pd_scale=rng.random(P + F) + 0.5 if with_scale else None,
    )
    by_desk = _by_desk(rng, P, F)
    want = accounting.book_month(**kw, claims=accounting.GuaranteeClaims(covered=np.zeros(0, bool), claims=claims),
                                 group=by_desk[bk["desk"][:n_old]])
    got = kernels.book_month(**kw, claims=claims, by_desk=by_desk)
    assert_same_result(got, want)


@pytest.mark.parametrize("seed", range(4))
def test_measure_debt_is_the_pure_measure_of_the_books_instalments(seed):
    rng = np.random.default_rng(seed)
    n, m = 120, 500
    bk = _book(rng, n, m, 4, 3)
    income = rng.choice([0.0, 100.0, 250.0], n) * rng.random(n).round(2)
    lb = LoanBook(m)
    lb.size = m
    for name in ("borrower", "balance", "apr", "amort", "shadow"):
        getattr(lb, name)[:] = bk[name]
    want = renewal.measure_debt(borrower=bk["borrower"], balance=bk["balance"], shadow=bk["shadow"],
                                instalment=lb.instalment(), income=income)
    got = kernels.measure_debt(borrower=bk["borrower"], balance=bk["balance"], shadow=bk["shadow"], apr=bk["apr"],
                               amort=bk["amort"], income=income)
    assert_same_result(got, want)


@pytest.mark.parametrize("seed", range(4))
def test_bill_repayments_is_the_pure_billing(seed):
    rng = np.random.default_rng(seed)
    n, m = 100, 400
    bk = _book(rng, n, m, 4, 3)
    kw = dict(balance=bk["balance"], months_left=bk["months_left"], amort=bk["amort"], apr=bk["apr"],
              borrower=bk["borrower"], renewed=rng.random(m) < 0.2,
              arrears=rng.choice([0.0, 3.0], n) * rng.random(n), cash=rng.normal(5.0, 10.0, n), n_borrowers=n)
    kw["cash"][:5] = 0.0
    assert_same_result(kernels.bill_repayments(**kw), billing.bill_repayments(**kw))


@pytest.mark.parametrize(("seed", "multiplier"), [(0, 1.0), (1, 3.5), (2, 0.0), (3, 40.0)])
def test_shocks_and_cash_is_update_shocks_then_cash_available(seed, multiplier):
    rng = np.random.default_rng(seed)
    params = dataclasses.replace(Params().borrowers, shock_months_mean=float(rng.integers(2, 8)))
    pop = BorrowerPopulation(300, params, np.random.default_rng(seed))
    pop.shocked = rng.random(pop.n) < 0.3
    pop.buffer = rng.random(pop.n) * 100
    shocked0 = pop.shocked.copy()
    pop.update_shocks(np.random.default_rng(seed + 100), multiplier)
    want_cash = pop.cash_available()
    shocked, cash = kernels.shocks_and_cash(
        u=pop.draw_shocks(np.random.default_rng(seed + 100)), shocked=shocked0, hazard=pop.hazard,
        hazard_multiplier=multiplier, shock_months_mean=params.shock_months_mean, income=pop.income,
        shock_income_share=params.shock_income_share, buffer=pop.buffer, spend_share=pop.spend_share)
    assert_bits_equal(shocked, pop.shocked, "shocked")
    assert_bits_equal(cash, want_cash, "cash")


def test_compact_keeps_the_rows_not_dropped_in_order():
    rng = np.random.default_rng(5)
    arrays = [rng.random(50), rng.integers(0, 9, 50).astype(np.int32), rng.random(50) < 0.5]
    drop = rng.random(40) < 0.3
    want = [a[:40][~drop].copy() for a in arrays]
    tail = [a[40:].copy() for a in arrays]
    k = kernels.compact(arrays, drop)
    assert k == int((~drop).sum())
    for a, w, t in zip(arrays, want, tail, strict=True):
        assert_bits_equal(a[:k], w)
        assert_bits_equal(a[40:], t)


@pytest.mark.parametrize("seed", range(4))
def test_seek_credit_is_the_pure_seek_credit(seed):
    rng = np.random.default_rng(seed)
    n = 500
    kw = dict(t=5, dpd=rng.integers(0, 3, n).astype(np.int16), excluded_until=rng.integers(0, 10, n).astype(np.int32),
              shortfall=rng.choice([0.0, 4.0], n) * rng.random(n), n_licensed=rng.integers(0, 6, n),
              seek_prob=rng.random(n), loan_size=rng.random(n) * 100, max_loans=4)
    got = kernels.seek_credit(np.random.default_rng(seed + 7), **kw)
    assert_same_result(got, acquisition.seek_credit(np.random.default_rng(seed + 7), **kw))


@pytest.mark.parametrize(("seed", "shadow_open"), [(0, True), (1, True), (2, False), (3, True)])
def test_shadow_lend_is_the_pure_shadow_lending(seed, shadow_open):
    rng = np.random.default_rng(seed)
    n, m = 400, 900
    seeking = rng.random(n) < 0.5
    kw = dict(seeking=seeking, seeking_refi=seeking & (rng.random(n) < 0.4), delinquent_need=rng.random(n) < 0.15,
              proceeds=rng.choice([0.0, 10.0], n) * rng.random(n), shortfall=rng.choice([0.0, 5.0], n) * rng.random(n),
              seek_amount=rng.choice([0.0, 50.0], n, p=[0.2, 0.8]) * rng.random(n),
              priced_out=rng.random(n) < 0.2, loan_borrower=rng.integers(0, n, m), loan_shadow=rng.random(m) < 0.3,
              shadow_open=shadow_open, prob_refinance=0.6, prob_priced_out=0.4, prob_consumption=0.2,
              max_shadow_loans=2)
    got = kernels.shadow_lend(np.random.default_rng(seed + 3), **kw)
    want = shadow.shadow_lend(np.random.default_rng(seed + 3), **kw)
    assert_same_result(got, want)
    assert got.who.size > 0 or not shadow_open


@pytest.mark.parametrize("seed", range(4))
def test_renewals_are_lender_still_lends_then_renewal_wanted(seed):
    rng = np.random.default_rng(seed)
    n_b, m, P, F = 150, 600, 5, 4
    bk = _book(rng, n_b, m, P, F)
    bk["months_left"] = rng.integers(0, 3, m).astype(np.int32)
    renewable = rng.random(m) < 0.8
    kw = dict(platform_active=rng.random(P) < 0.8, partners=rng.random((F, P)) < 0.6,
              direct_open=rng.random(F) < 0.7)
    bw = dict(dpd=rng.integers(0, 2, n_b).astype(np.int16), excluded_until=rng.integers(0, 10, n_b).astype(np.int32),
              revolve_prob=rng.random(n_b))
    want_renewable = renewable & renewal.lender_still_lends(platform=bk["platform"], funder=bk["funder"], **kw)
    maturing = ~bk["shadow"] & (bk["months_left"] == 1)
    wants = renewal.renewal_wanted(np.random.default_rng(seed + 1), t=5, maturing=maturing, borrower=bk["borrower"],
                                   **bw)
    got_renewable = renewable.copy()
    cand, withdrawn = kernels.renewals(np.random.default_rng(seed + 1), t=5, shadow=bk["shadow"],
                                       months_left=bk["months_left"], platform=bk["platform"], funder=bk["funder"],
                                       borrower=bk["borrower"], renewable=got_renewable, **kw, **bw)
    assert_bits_equal(got_renewable, want_renewable, "renewable")
    assert_bits_equal(cand, np.flatnonzero(wants & want_renewable), "cand")
    assert_bits_equal(withdrawn, np.flatnonzero(wants & ~want_renewable), "withdrawn")
    assert cand.size and withdrawn.size
    assert kernels.any_maturing(bk["shadow"], bk["months_left"]) == bool(maturing.any())
    assert not kernels.any_maturing(bk["shadow"], np.zeros(m, dtype=np.int32))


@pytest.mark.parametrize("seed", range(4))
def test_borrower_and_segment_outcomes_are_the_pure_metrics(seed):
    rng = np.random.default_rng(seed)
    n, m = 300, 700
    bk = _book(rng, n, m, 4, 3)
    kw = dict(loan_borrower=bk["borrower"], loan_shadow=bk["shadow"], n_borrowers=n,
              dsti=rng.choice([0.0, 0.5, 1.0], n) * rng.random(n).round(1), btr_months=rng.integers(0, 5, n).astype(
                  np.int16), dsti_at_btr_start=rng.random(n).round(1), spiral_lenders=3, spiral_months=2,
              spiral_dsti=0.4)
    got, shadow_borrowers = kernels.borrower_outcomes(**kw)
    want = metrics.borrower_outcomes(**kw)
    assert_same_result(got, want)
    assert_bits_equal(shadow_borrowers, np.unique(bk["borrower"][bk["shadow"]]), "shadow borrowers")
    k = 40
    sw = dict(segment=rng.integers(0, 3, n).astype(np.intp), n_segments=3, seeking=rng.random(n) < 0.4,
              served=rng.random(n) < 0.5, new_borrower=rng.integers(0, n, k), new_amount=rng.random(k) * 100,
              new_apr=rng.random(k) * 0.3, dsti=kw["dsti"], outcomes=want, new_defaults=rng.random(n) < 0.1,
              shadow_borrowers=shadow_borrowers)
    assert_same_result(kernels.segment_outcomes(**sw), metrics.segment_outcomes(**sw))
    sw["segment"] = np.zeros(n, dtype=np.intp)  # segments with nobody in them
    assert_same_result(kernels.segment_outcomes(**sw), metrics.segment_outcomes(**sw))


def test_settle_repayments_in_place_writes_the_new_state_over_the_old():
    kw = _settle_inputs(np.random.default_rng(21), n=200, m=500)
    want = settlement.settle_repayments(**kw)
    assert want.chargeoff.any()
    state = ("dpd", "arrears", "btr_months", "dsti_at_btr_start", "excluded_until", "balance", "months_left")
    for name in state:
        kw[name] = kw[name].copy()
    arrays = {name: kw[name] for name in state}
    buffer = np.full(200, np.nan)
    got = kernels.settle_repayments(**kw, in_place=True, buffer_out=buffer)
    assert_same_result(got, want)
    n_old = kw["principal_due"].size
    for field, name in (("dpd", "dpd"), ("arrears", "arrears"), ("btr_months", "btr_months"),
                        ("dsti_at_btr_start", "dsti_at_btr_start"), ("excluded_until", "excluded_until"),
                        ("months_left", "months_left")):
        assert getattr(got, field) is arrays[name], field
    assert got.buffer is buffer
    assert np.shares_memory(got.balance, arrays["balance"])
    assert_bits_equal(arrays["balance"][:n_old], want.balance)
