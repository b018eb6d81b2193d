"""Unit tests for model.mechanisms.settlement: payment, delinquency, curing, borrowing to repay, charge-offs."""

import numpy as np
import pytest
from builders import book, population

from model.mechanisms.billing import bill_repayments
from model.mechanisms.settlement import settle_repayments

T = 10


def _settle(pop, bk, n_old=None, chargeoff_months=6, recovery_rate=0.1, exclusion_months=24):
    """Bill the first ``n_old`` loans (all by default; the rest are this month's new loans), then settle."""
    n_old = bk.n if n_old is None else n_old
    old = slice(0, n_old)
    bills = bill_repayments(balance=bk.balance[old], months_left=bk.months_left[old], amort=bk.amort[old],
                            apr=bk.apr[old], borrower=bk.borrower[old], renewed=bk.renewed[old],
                            arrears=pop.arrears, cash=pop.cash, n_borrowers=pop.n)
    return settle_repayments(
        dpd=pop.dpd, arrears=pop.arrears, buffer_cap=pop.buffer_cap, btr_months=pop.btr_months,
        dsti_at_btr_start=pop.dsti_at_btr_start, excluded_until=pop.excluded_until, cash=pop.cash,
        proceeds=pop.proceeds, shadow_proceeds=pop.shadow_proceeds, due=bills.due, interest_due_b=bills.interest_due_b,
        seeking_refi=pop.seeking_refi, delinquent_need=pop.delinquent_need, dsti=pop.dsti,
        interest_due=bills.interest_due, principal_due=bills.principal_due, renewed=bk.renewed[old],
        amort=bk.amort[old], balance=bk.balance, months_left=bk.months_left[old], borrower=bk.borrower, t=T,
        chargeoff_months=chargeoff_months, recovery_rate=recovery_rate, exclusion_months=exclusion_months,
    )


def test_payer_misser_and_curer():
    # Each owes 1.2 interest (120 at 12%) + 10 principal = 11.2.
    # 0 pays from cash 20 and keeps 8.8; 1 has 5 and misses; 2 is 60 days behind with 2.4 of interest arrears
    # and pays 11.2 + 2.4 = 13.6 from cash 4 plus a new loan of 10 (borrowed to repay).
    pop = population(n=3, cash=[20.0, 5.0, 4.0], dpd=[0, 1, 2], arrears=[0.0, 1.2, 2.4],
                     proceeds=[0.0, 0.0, 10.0], seeking_refi=[False, False, True], dsti=[0.1, 0.2, 0.3])
    st = _settle(pop, book(n=3, balance=120.0, apr=0.12, amort=10.0, months_left=5))
    np.testing.assert_array_equal(st.dpd, [0, 2, 0])
    np.testing.assert_allclose(st.arrears, [0.0, 2.4, 0.0])
    # A payer clears the arrears' interest too: 1.2 * (1 + 2.4 / 1.2).
    np.testing.assert_allclose(st.interest_paid, [1.2, 0.0, 3.6])
    np.testing.assert_array_equal(st.balance, [110.0, 120.0, 110.0])
    np.testing.assert_array_equal(st.balance_start, [120.0, 120.0, 120.0])
    np.testing.assert_array_equal(st.months_left, [4, 4, 4])
    # Buffer: funds - paid - borrowed for consumption; the refinancer's loan went to the payment.
    np.testing.assert_allclose(st.buffer, [8.8, 5.0, 0.4])
    np.testing.assert_array_equal(st.btr_months, [0, 0, 1])
    np.testing.assert_allclose(st.dsti_at_btr_start, [0.0, 0.0, 0.3])
    assert not st.new_defaults_b.any()
    assert not st.chargeoff.any() and not st.loss.any()
    assert st.dpd.dtype == np.int16 and st.btr_months.dtype == np.int16


def test_third_missed_month_is_a_new_default_and_consumption_proceeds_are_not_buffer():
    # 0 misses a third month (90+ days: NPL); 1 borrowed 50 for consumption, pays 11.2 from cash 30.
    pop = population(n=2, cash=[0.0, 30.0], dpd=[2, 0], arrears=[2.4, 0.0], proceeds=[0.0, 50.0])
    st = _settle(pop, book(n=2, balance=120.0, apr=0.12, amort=10.0, months_left=5))
    np.testing.assert_array_equal(st.new_defaults_b, [True, False])
    np.testing.assert_array_equal(st.dpd, [3, 0])
    np.testing.assert_allclose(st.arrears, [3.6, 0.0])
    np.testing.assert_allclose(st.buffer, [0.0, 18.8])  # 80 - 11.2 - 50


def test_borrowing_to_repay_streak_keeps_its_starting_dsti():
    pop = population(n=3, cash=100.0, proceeds=[5.0, 5.0, 0.0], seeking_refi=[True, True, True],
                     btr_months=[0, 3, 4], dsti_at_btr_start=[0.0, 0.25, 0.5], dsti=0.4)
    st = _settle(pop, book(n=3))
    np.testing.assert_array_equal(st.btr_months, [1, 4, 0])  # starts, runs on, ends (no new credit)
    np.testing.assert_allclose(st.dsti_at_btr_start, [0.4, 0.25, 0.5])


def test_renewed_balloon_is_paid_off_by_the_renewal_loan():
    # Maturing 100 with amortization 10: the borrower pays 10 (+ interest), the renewal loan the other 90.
    pop = population(n=1, cash=20.0)
    st = _settle(pop, book(n=1, balance=100.0, apr=0.12, amort=10.0, months_left=1, renewed=True))
    assert st.balance[0] == 0.0
    assert st.interest_paid[0] == pytest.approx(1.0)
    assert st.buffer[0] == pytest.approx(9.0)


def test_chargeoff_at_chargeoff_months_takes_every_loan_and_excludes_the_borrower():
    # Borrower 0 misses a sixth month (its shadow loan's 30 falls short of 11.2 + 10.6 + 9 arrears): both old
    # loans and this month's new shadow loan are charged off at balance * (1 - recovery). Borrower 1 pays.
    bk = book(n=4, borrower=[0, 0, 1, 0], balance=[120.0, 60.0, 120.0, 30.0], apr=0.12, amort=10.0,
              shadow=[False, False, False, True])
    pop = population(n=2, cash=[0.0, 50.0], dpd=[5, 0], arrears=[9.0, 0.0], btr_months=[2, 0],
                     shadow_proceeds=[30.0, 0.0], delinquent_need=[True, False])
    st = _settle(pop, bk, n_old=3, chargeoff_months=6, recovery_rate=0.1, exclusion_months=24)
    np.testing.assert_array_equal(st.chargeoff, [True, True, False, True])
    np.testing.assert_allclose(st.loss, [108.0, 54.0, 0.0, 27.0])
    assert st.balance.size == 3 and st.balance[2] == 110.0
    np.testing.assert_array_equal(st.dpd, [0, 0])
    np.testing.assert_array_equal(st.arrears, [0.0, 0.0])
    np.testing.assert_array_equal(st.btr_months, [0, 0])
    np.testing.assert_array_equal(st.excluded_until, [T + 24, pop.excluded_until[1]])
    assert not st.new_defaults_b[0]  # it became NPL months ago, not this month
    # The inputs are not touched.
    assert pop.excluded_until[0] == -(2**30) and pop.dpd[0] == 5


def test_no_chargeoff_before_chargeoff_months():
    pop = population(n=1, dpd=4, arrears=4.8)
    st = _settle(pop, book(n=1, balance=120.0, apr=0.12), chargeoff_months=6)
    assert st.dpd[0] == 5 and not st.chargeoff.any() and st.loss[0] == 0.0
    assert st.excluded_until[0] == pop.excluded_until[0]
