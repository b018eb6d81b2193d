"""Unit tests for model.mechanisms.billing: instalments, balloons, renewals, per-borrower sums, shortfalls."""

import numpy as np
import pytest
from builders import book, population

from model.mechanisms.billing import bill_repayments, renewal_payoff


def _bill(bk, pop):
    return bill_repayments(balance=bk.balance, months_left=bk.months_left, amort=bk.amort, apr=bk.apr,
                           borrower=bk.borrower, renewed=bk.renewed, arrears=pop.arrears, cash=pop.cash,
                           n_borrowers=pop.n)


def test_instalment_is_interest_plus_amortization():
    # 120 at 12% APR: 1.20 interest; amortization 10; cash 5 leaves a shortfall of 6.20.
    bills = _bill(book(n=1, balance=120.0, apr=0.12, amort=10.0, months_left=5), population(n=1, cash=5.0))
    assert bills.interest_due[0] == pytest.approx(1.2)
    assert bills.principal_due[0] == 10.0
    assert bills.due[0] == pytest.approx(11.2)
    assert bills.interest_due_b[0] == pytest.approx(1.2)
    assert bills.shortfall[0] == pytest.approx(6.2)


def test_balloon_at_maturity_unless_renewed():
    # Loan 0 matures: the whole 100 is due. Loan 1 matures but was renewed: only the last instalment of 10.
    # Loan 2 owes less than its amortization: the balance, 4.
    bk = book(n=3, balance=[100.0, 100.0, 4.0], apr=0.0, amort=10.0, months_left=[1, 1, 3],
              renewed=[False, True, False])
    bills = _bill(bk, population(n=3, cash=1000.0))
    np.testing.assert_array_equal(bills.principal_due, [100.0, 10.0, 4.0])
    np.testing.assert_array_equal(renewal_payoff(bk.balance, np.minimum(bk.amort, bk.balance), bk.renewed),
                                  [0.0, 90.0, 0.0])
    np.testing.assert_array_equal(bills.shortfall, [0.0, 0.0, 0.0])


def test_per_borrower_sums_arrears_and_no_shortfall_without_a_bill():
    # Borrower 0 holds two loans; borrower 1 none but has arrears and no cash; borrower 2 one loan and arrears.
    bk = book(n=3, borrower=[0, 0, 2], balance=[120.0, 60.0, 240.0], apr=0.1, amort=[10.0, 5.0, 20.0])
    pop = population(n=3, arrears=[0.0, 50.0, 3.0], cash=[10.0, 0.0, 30.0])
    bills = _bill(bk, pop)
    np.testing.assert_allclose(bills.interest_due, [1.0, 0.5, 2.0])
    np.testing.assert_allclose(bills.due, [16.5, 0.0, 22.0])
    np.testing.assert_allclose(bills.interest_due_b, [1.5, 0.0, 2.0])
    # need = due + arrears: 16.5 - 10 = 6.5; nothing due for borrower 1; 22 + 3 <= 30.
    np.testing.assert_allclose(bills.shortfall, [6.5, 0.0, 0.0])
