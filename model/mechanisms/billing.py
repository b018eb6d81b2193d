"""Billing: each loan's instalment this month, summed per borrower, and the shortfall cash cannot cover.

Pure functions over loan and borrower arrays; ``LendingModel.bill_repayments`` (model/lending.py) gathers
the book and applies the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bills:
    """What is due this month.

    Attributes:
        interest_due: per loan, ``balance * apr / 12``.
        principal_due: per loan, the amortization, or at maturity the whole balance less the part a
            renewal pays off.
        due: per borrower, interest plus principal due over all their loans.
        interest_due_b: per borrower, interest due over all their loans.
        shortfall: per borrower, ``max(due + arrears - cash, 0)`` for borrowers with something due.
    """

    interest_due: np.ndarray
    principal_due: np.ndarray
    due: np.ndarray
    interest_due_b: np.ndarray
    shortfall: np.ndarray


def renewal_payoff(balance: np.ndarray, amort_now: np.ndarray, renewed: np.ndarray) -> np.ndarray:
    """Principal of a renewed maturing loan that the renewal loan pays off: ``balance - amort_now``.

    ``amort_now = min(amort, balance)`` is the last amortization instalment, which the borrower still owes;
    the new loan pays the balloon. Zero for loans not renewed. Billing leaves it out of what is due and
    settlement takes it off the balance, so both call this.
    """
    return np.where(renewed, balance - amort_now, 0.0)


def bill_repayments(*, balance: np.ndarray, months_left: np.ndarray, amort: np.ndarray, apr: np.ndarray,
                    borrower: np.ndarray, renewed: np.ndarray, arrears: np.ndarray, cash: np.ndarray,
                    n_borrowers: int) -> Bills:
    """Instalments (interest plus amortization) and due balloons; a shortfall needs refinancing.

    Per loan ``interest_due = balance * apr / 12`` and ``principal_due = min(amort, balance)``, or at the
    last instalment (``months_left <= 1``) ``balance - renewal_payoff``. Per borrower
    ``shortfall = max(due + arrears - cash, 0)`` where ``due > 0``.

    Args:
        balance, months_left, amort, apr, borrower: live loans' fields (model/borrowers.py ``LoanBook``).
        renewed: per loan, renewed this month (its balloon is paid by the renewal loan).
        arrears: per borrower, missed interest still owed.
        cash: per borrower, cash available for debt service this month.
        n_borrowers: population size.
    """
    amort_now = np.minimum(amort, balance)
    interest_due = balance * apr / 12.0
    final = months_left <= 1
    principal_due = np.where(final, balance - renewal_payoff(balance, amort_now, renewed), amort_now)
    due_loan = interest_due + principal_due
    due = np.bincount(borrower, weights=due_loan, minlength=n_borrowers)
    interest_due_b = np.bincount(borrower, weights=interest_due, minlength=n_borrowers)
    shortfall = due + arrears  # what the borrower needs, then less the cash, in place
    shortfall -= cash
    np.maximum(shortfall, 0.0, out=shortfall)
    shortfall *= due > 0
    return Bills(interest_due=interest_due, principal_due=principal_due, due=due, interest_due_b=interest_due_b,
                 shortfall=shortfall)
