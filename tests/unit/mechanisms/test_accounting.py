"""Unit tests for model.mechanisms.accounting: guarantee claims, the month's books, new volume by funder."""

import numpy as np
import pytest
from builders import book, institutions

from model.mechanisms.accounting import book_month, guarantee_claims, new_volume_by_funder

LGD = 0.5


def _books(bk, inst, n_old, *, interest_paid, balance_start, loss, chargeoff, dpd, capital):
    """Claims, then each platform pays what its capital allows (as ``Platform.honour_guarantees``), then books."""
    old = slice(0, n_old)
    loss = np.asarray(loss, dtype=float)
    claims = guarantee_claims(loss=loss, guaranteed=bk.guaranteed[old], platform=bk.platform[old],
                              shadow=bk.shadow[old], n_platforms=inst.n_platforms)
    capital = np.asarray(capital, dtype=float)
    paid = np.minimum(claims.claims, np.maximum(capital, 0.0))
    books = book_month(
        interest_paid=np.asarray(interest_paid, dtype=float), balance_start=np.asarray(balance_start, dtype=float),
        loss=loss, chargeoff=np.asarray(chargeoff, dtype=bool), claims=claims, paid=paid,
        platform_solvent=capital - paid > 0, balance=bk.balance, platform=bk.platform, funder=bk.funder,
        desk=bk.desk, apr=bk.apr, funder_rate=bk.funder_rate, guaranteed=bk.guaranteed, shadow=bk.shadow,
        borrower=bk.borrower, pd_est=bk.pd_est, dpd=np.asarray(dpd, dtype=np.int16), funding_cost=inst.funding_cost,
        direct_opex_rate=inst.direct_opex_rate, opex_rate=inst.opex_rate, lgd=LGD,
    )
    return claims, paid, books


def _month():
    """Two platforms, one funder (direct desk 2). Billed loans 0-4, then two loans originated this month.

    0: guaranteed at platform 0, charged off (loss 108); 1: guaranteed at platform 1, charged off (loss 54);
    2: platform 0, unguaranteed, 90+ days past due, paid 2.4 interest; 3: direct, paid 2.4 interest;
    4: shadow, repaid; 5: new at platform 1; 6: new direct.
    """
    bk = book(n=7, platform=[0, 1, 0, -1, -1, 1, -1], desk=[0, 1, 0, 2, -1, 1, 2], funder=[0, 0, 0, 0, -1, 0, 0],
              guaranteed=[True, True, False, False, False, False, False],
              shadow=[False, False, False, False, True, False, False],
              balance=[120.0, 60.0, 110.0, 110.0, 0.0, 50.0, 40.0], apr=0.24, funder_rate=0.12, pd_est=0.06)
    flows = dict(interest_paid=[0.0, 0.0, 2.4, 2.4, 1.5], balance_start=[120.0, 60.0, 120.0, 120.0, 30.0],
                 loss=[108.0, 54.0, 0.0, 0.0, 0.0], chargeoff=[True, True, False, False, False],
                 dpd=[0, 0, 3, 0, 0, 0, 0])
    return bk, institutions(platforms=2, funders=1, opex_rate=0.01, funding_cost=0.03, direct_opex_rate=0.02), flows


def test_solvent_guarantor_covers_its_loss_and_an_insolvent_one_leaves_it_to_the_funder():
    bk, inst, flows = _month()
    claims, paid, b = _books(bk, inst, 5, capital=[500.0, 0.0], **flows)
    np.testing.assert_array_equal(claims.covered, [True, True, False, False, False])
    np.testing.assert_array_equal(claims.claims, [108.0, 54.0])
    np.testing.assert_array_equal(paid, [108.0, 0.0])
    np.testing.assert_allclose(b.loss, [[0.0, 54.0]])  # the funder bears platform 1's loss
    np.testing.assert_allclose(b.platform_loss, [108.0, 54.0])  # platforms' loss rates count every loss
    # Losses are booked once: on the funders or paid by guarantors.
    assert b.funder_loss_total == 54.0 and b.guarantee_paid == 108.0
    assert b.licensed_loss == b.funder_loss_total + b.guarantee_paid == 162.0


def test_partly_paid_claims_split_the_loss_in_proportion():
    bk, inst, flows = _month()
    _, paid, b = _books(bk, inst, 5, capital=[27.0, 0.0], **flows)  # platform 0 pays a quarter of 108
    assert paid[0] == 27.0
    np.testing.assert_allclose(b.loss, [[81.0, 54.0]])
    assert b.funder_loss_total + b.guarantee_paid == pytest.approx(b.licensed_loss)


def test_books_of_funder_platforms_and_desks():
    bk, inst, flows = _month()
    _, _, b = _books(bk, inst, 5, capital=[500.0, 0.0], **flows)
    # Platform loan 2: the funder's part of 2.4 is 2.4 * 0.12 / 0.24 = 1.2, the platform keeps 1.2.
    np.testing.assert_allclose(b.income, [[1.2, 0.0]])
    np.testing.assert_allclose(b.revenue, [1.2, 0.0])
    # Funding cost balance_start * 3% / 12 on platform loans 0, 2 (platform 0) and 1 (platform 1).
    np.testing.assert_allclose(b.funding, [[0.6, 0.15]])
    np.testing.assert_allclose(b.opex, [0.2, 0.05])  # balance_start * 1% / 12
    # End-of-month balances: charged-off loans count zero; this month's new loans count in full.
    np.testing.assert_allclose(b.balance, [[110.0, 50.0]])
    np.testing.assert_allclose(b.outstanding, [110.0, 50.0])
    np.testing.assert_allclose(b.npl, [[110.0, 0.0]])
    np.testing.assert_allclose(b.platform_npl, [110.0, 0.0])
    # Direct lending: all the interest; funding cost 0.3 plus opex 120 * 2% / 12 = 0.2; the new direct loan.
    np.testing.assert_allclose(b.direct_income, [2.4])
    np.testing.assert_allclose(b.direct_cost, [0.5])
    np.testing.assert_allclose(b.direct_loss, [0.0])
    np.testing.assert_allclose(b.direct_balance, [150.0])
    # Expected loss balance_start * pd_est * lgd / 12 per desk against realised charge-off losses.
    np.testing.assert_allclose(b.expected, [0.6, 0.15, 0.3])
    np.testing.assert_allclose(b.realised, [108.0, 54.0, 0.0])
    assert b.outstanding_total == pytest.approx(310.0)  # shadow loans are in no book
    assert b.npl_total == pytest.approx(110.0)
    np.testing.assert_array_equal(b.finished, [True, True, False, False, True, False, False])


def test_interest_paid_is_split_between_funder_and_originator():
    bk, inst, flows = _month()
    _, _, b = _books(bk, inst, 5, capital=[500.0, 0.0], **flows)
    licensed = ~bk.shadow[:5]
    total = b.income.sum() + b.direct_income.sum() + b.revenue.sum()
    assert total == pytest.approx(np.asarray(flows["interest_paid"])[licensed].sum())


def test_funders_bear_npl_only_where_no_solvent_guarantor_covers_it():
    # One guaranteed NPL loan at each platform; platform 1 is insolvent after claims.
    bk = book(n=2, platform=[0, 1], desk=[0, 1], guaranteed=True, balance=100.0)
    inst = institutions(platforms=2, funders=1)
    _, _, b = _books(bk, inst, 2, capital=[10.0, 0.0], interest_paid=[0.0, 0.0], balance_start=[100.0, 100.0],
                     loss=[0.0, 0.0], chargeoff=[False, False], dpd=[3, 3])
    np.testing.assert_allclose(b.npl, [[0.0, 100.0]])
    np.testing.assert_allclose(b.platform_npl, [100.0, 100.0])


def test_new_volume_by_funder_channel_apr_and_near_cap():
    t = 4
    # Funders 0 and 1 are of a capped kind (24%), funder 2 of an uncapped one.
    bk = book(n=5, funder=[0, 1, 2, 0, 0], platform=[0, -1, 1, 0, -1], orig_step=[t, t, t, t - 1, t],
              shadow=[False, False, False, False, True], principal0=[100.0, 50.0, 70.0, 500.0, 30.0],
              apr=[0.235, 0.20, 0.30, 0.24, 0.36])
    nv = new_volume_by_funder(orig_step=bk.orig_step, shadow=bk.shadow, funder=bk.funder, platform=bk.platform,
                              principal0=bk.principal0, apr=bk.apr, t=t, cap_all_in=np.array([0.24, np.inf]),
                              funder_kind=np.array([0, 0, 1]), n_funders=3)
    np.testing.assert_allclose(nv.platform_volume, [100.0, 0.0, 70.0])
    np.testing.assert_allclose(nv.direct_volume, [0.0, 50.0, 0.0])
    np.testing.assert_allclose(nv.apr_weighted, [23.5, 10.0, 21.0])
    assert nv.near_cap_volume == 100.0  # 23.5% is within a point of 24%; 20% is not; 30% has no cap


def test_real_scale_keeps_group_totals_and_shrinks_deviations():
    """Items keep 1/sqrt(w) of their deviation from the group's pooled ratio times their proxy; group sums are
    unchanged; items outside any group and weight 1 are left as sampled."""
    from model.mechanisms.accounting import real_scale

    sampled = np.array([10.0, 0.0, 0.0, 4.0, 6.0, 3.0])
    proxy = np.array([1.0, 1.0, 2.0, 1.0, 1.0, 5.0])
    group = np.array([0, 0, 0, 1, 1, -1])
    out = real_scale(sampled=sampled, proxy=proxy, group=group, weight=100.0)
    # Group 0: ratio 10 / 4 = 2.5; item 0: 10 / 10 + 0.9 * 2.5 = 3.25.
    np.testing.assert_allclose(out[:3], [3.25, 2.25, 4.5])
    np.testing.assert_allclose([out[:3].sum(), out[3:5].sum()], [10.0, 10.0])
    assert out[5] == 3.0
    np.testing.assert_array_equal(real_scale(sampled=sampled, proxy=proxy, group=group, weight=1.0), sampled)


def test_real_scale_noise_falls_with_the_weight():
    """Many institutions with equal expected losses: the spread of their booked losses is the sample's spread
    divided by sqrt(weight), and the mean is unchanged."""
    from model.mechanisms.accounting import real_scale

    rng = np.random.default_rng(3)
    sampled = rng.poisson(2.0, 20000).astype(float)
    proxy = np.ones(20000)
    out = real_scale(sampled=sampled, proxy=proxy, group=np.zeros(20000, dtype=np.int64), weight=400.0)
    assert abs(out.mean() - sampled.mean()) < 1e-9
    assert abs(out.std() / sampled.std() - 1 / 20) < 1e-9


def test_sum_by_a_spill_key_equals_bincount_of_the_selected_items_bit_for_bit():
    """spill_key sends unselected items to bin n_bins; sum_by drops that bin, so the sums are those of
    np.bincount over the selected items, bit for bit (same items, same order), whatever the others weigh."""
    from model.mechanisms.accounting import spill_key, sum_by

    rng = np.random.default_rng(5)
    key = rng.integers(0, 7, 5000).astype(np.int32)
    mask = rng.random(5000) < 0.6
    w = rng.lognormal(0.0, 2.0, 5000)
    w[~mask & (rng.random(5000) < 0.1)] = np.nan  # unselected items may hold anything
    k = spill_key(key, mask, 7)
    assert k.dtype == np.intp
    np.testing.assert_array_equal(k[mask], key[mask])
    assert (k[~mask] == 7).all()
    got = sum_by(k, w, 7)
    assert got.shape == (7,)
    assert got.tobytes() == np.bincount(key[mask], weights=w[mask], minlength=7).tobytes()
    assert (sum_by(spill_key(key, np.zeros(5000, dtype=bool), 7), w, 7) == 0.0).all()


def test_new_loan_balances_sum_the_months_licensed_loans_by_pair_funder_and_platform():
    # Rows 0-1 were billed; rows 2-5 are this month's loans: platform loans of funders 0 and 1, a direct loan of
    # funder 1 and a shadow loan (excluded).
    balance = np.array([9.0, 9.0, 10.0, 20.0, 30.0, 40.0])
    shadow = np.array([False, False, False, False, False, True])
    platform = np.array([0, 1, 1, 0, -1, -1])
    funder = np.array([0, 1, 0, 1, 1, -1])
    from model.mechanisms.accounting import new_loan_balances

    got = new_loan_balances(balance=balance, shadow=shadow, platform=platform, funder=funder, n_old=2,
                            n_platforms=2, n_funders=2)
    np.testing.assert_array_equal(got.by_pair, [[0.0, 10.0], [20.0, 0.0]])
    np.testing.assert_array_equal(got.by_funder, [0.0, 30.0])
    np.testing.assert_array_equal(got.by_platform, [20.0, 10.0])
    assert got.total == 60.0
