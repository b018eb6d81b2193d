"""Unit tests for model.mechanisms.renewal: debt positions, calls above the cap, lenders still lending, renewals."""

import numpy as np
from builders import book, population

from model.mechanisms.renewal import called_above_cap, lender_still_lends, measure_debt, renewal_wanted

T = 10


def test_dsti_counts_shadow_loans_but_licensed_figures_do_not():
    """Borrower 0 has a licensed and a shadow loan: both instalments enter DSTI, only the licensed one the counts.

    Borrower 1 holds only a shadow loan (DSTI but no licensed loan); borrower 2 has no income (DSTI 0, not
    inf); borrower 3 has no loans.
    """
    bk = book(n=4, borrower=[0, 0, 1, 2], shadow=[False, True, True, False], balance=[100.0, 50.0, 30.0, 40.0])
    instalment = np.array([10.0, 5.0, 3.0, 2.0])
    income = np.array([100.0, 60.0, 0.0, 50.0])
    d = measure_debt(borrower=bk.borrower, balance=bk.balance, shadow=bk.shadow, instalment=instalment,
                     income=income)
    np.testing.assert_array_equal(d.n_licensed, [1, 0, 1, 0])
    np.testing.assert_allclose(d.debt_licensed, [100.0, 0.0, 40.0, 0.0])
    # (10 + 5) / 100, 3 / 60, income 0 -> 0, no loans -> 0.
    np.testing.assert_allclose(d.dsti, [0.15, 0.05, 0.0, 0.0])


def test_called_above_cap_exactly_at_cap_vs_one_bp_above():
    """A licensed loan at the cap is kept, 1 bp above it is called; a shadow loan above the cap is never called."""
    bk = book(n=4, apr=[0.24, 0.2401, 0.24 + 1e-13, 0.30], shadow=[False, False, False, True])
    called = called_above_cap(shadow=bk.shadow, apr=bk.apr, cap=np.full(4, 0.24))
    np.testing.assert_array_equal(called, [False, True, False, False])


def test_called_above_cap_uses_each_loans_own_cap():
    """The same 0.22 APR is called under a 0.20 cap (a CFC's) and kept under a 0.24 cap (a bank's)."""
    bk = book(n=2, apr=0.22)
    np.testing.assert_array_equal(called_above_cap(shadow=bk.shadow, apr=bk.apr, cap=np.array([0.20, 0.24])),
                                  [True, False])


def test_lender_still_lends_exited_platform_dropped_platform_and_direct():
    """Per loan: live partner keeps lending; exited platform or a funder that dropped it does not; a direct loan
    while its funder's direct desk is open.

    Loans: 0 on active platform 0 listed by funder 0; 1 on exited platform 1; 2 direct from funder 1 (whose
    whitelist is empty for platform 0); 3 on platform 0 from funder 1, who dropped platform 0.
    """
    bk = book(n=4, platform=[0, 1, -1, 0], funder=[0, 0, 1, 1])
    partners = np.array([[True, True], [False, True]])
    ok = lender_still_lends(platform=bk.platform, funder=bk.funder, platform_active=np.array([True, False]),
                            partners=partners, direct_open=np.array([True, True]))
    np.testing.assert_array_equal(ok, [True, False, True, False])


def test_direct_loan_kept_even_with_no_platforms_listed():
    """A direct loan stays renewable even when its funder has left platform lending (empty whitelist)."""
    ok = lender_still_lends(platform=np.array([-1]), funder=np.array([0]), platform_active=np.array([True]),
                            partners=np.zeros((1, 1), dtype=bool), direct_open=np.array([True]))
    np.testing.assert_array_equal(ok, [True])


def test_a_closed_direct_desk_renews_nothing_and_shadow_loans_are_left_alone():
    """Funder 0 closed its direct desk: its direct loan is not renewable, while funder 1's direct loan and funder
    0's platform loan still are. A shadow loan (no funder, -1) is left as it is; no platforms at all works."""
    ok = lender_still_lends(platform=np.array([-1, -1, 0, -1]), funder=np.array([0, 1, 0, -1]),
                            platform_active=np.array([True]), partners=np.array([[True], [False]]),
                            direct_open=np.array([False, True]))
    np.testing.assert_array_equal(ok, [False, True, True, True])
    none = lender_still_lends(platform=np.array([-1, -1]), funder=np.array([0, 1]),
                              platform_active=np.zeros(0, dtype=bool), partners=np.zeros((2, 0), dtype=bool),
                              direct_open=np.array([True, False]))
    np.testing.assert_array_equal(none, [True, False])


def test_renewal_wanted_only_current_non_excluded_maturing_borrowers():
    """With revolve_prob 1 every maturing loan of a current, non-excluded borrower renews; nothing else does.

    Borrowers: 0 current; 1 one month past due; 2 excluded until this month (still excluded: ``until < t``
    fails); 3 excluded until last month (free again); 4 current but its loan is not maturing.
    """
    pop = population(n=5, dpd=[0, 1, 0, 0, 0], excluded_until=[-(2**30), -(2**30), T, T - 1, -(2**30)])
    maturing = np.array([True, True, True, True, False])
    args = dict(t=T, maturing=maturing, borrower=np.arange(5), dpd=pop.dpd, excluded_until=pop.excluded_until)
    wants = renewal_wanted(np.random.default_rng(0), revolve_prob=np.ones(5), **args)
    np.testing.assert_array_equal(wants, [True, False, False, True, False])
    never = renewal_wanted(np.random.default_rng(0), revolve_prob=np.zeros(5), **args)
    assert not never.any()


def test_renewal_wanted_looks_up_borrower_state_per_loan_and_draws_one_uniform_per_loan():
    """Two loans of a delinquent borrower both stay unrenewed; the generator advances by one uniform per loan."""
    pop = population(n=2, dpd=[0, 2])
    borrower = np.array([0, 1, 1])
    rng = np.random.default_rng(3)
    wants = renewal_wanted(rng, t=T, maturing=np.ones(3, dtype=bool), borrower=borrower, dpd=pop.dpd,
                           excluded_until=pop.excluded_until, revolve_prob=np.array([1.0, 1.0]))
    np.testing.assert_array_equal(wants, [True, False, False])
    ref = np.random.default_rng(3)
    ref.random(3)
    assert rng.random() == ref.random()
