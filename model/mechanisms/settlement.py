"""Settlement: payments, delinquency, curing, borrowing to repay, charge-offs and exclusion.

A pure function of borrower and loan arrays; ``LendingModel.settle_repayments`` (model/lending.py) writes
its result back into the population and the loan book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.borrowers import NPL_DPD
from model.mechanisms.billing import renewal_payoff


@dataclass(frozen=True)
class Settlement:
    """The month's settlement.

    Per borrower (the population's new state): ``dpd`` (int16), ``arrears``, ``buffer``, ``btr_months``
    (int16), ``dsti_at_btr_start``, ``excluded_until`` (int32), and ``new_defaults_b`` (crossed into NPL,
    ``dpd >= NPL_DPD``, this month).

    Per loan billed this month (the first ``n_old`` rows of the book): ``interest_paid``, ``balance_start``
    (before payment), ``balance`` (after payment and renewal payoff, never negative) and ``months_left``.

    Per live loan (the whole book, this month's new loans included): ``chargeoff`` and ``loss``
    (``balance * (1 - recovery_rate)`` of charged-off loans, after this month's payments).
    """

    dpd: np.ndarray
    arrears: np.ndarray
    buffer: np.ndarray
    btr_months: np.ndarray
    dsti_at_btr_start: np.ndarray
    excluded_until: np.ndarray
    new_defaults_b: np.ndarray
    interest_paid: np.ndarray
    balance_start: np.ndarray
    balance: np.ndarray
    months_left: np.ndarray
    chargeoff: np.ndarray
    loss: np.ndarray


def settle_repayments(*, dpd: np.ndarray, arrears: np.ndarray, buffer_cap: np.ndarray, btr_months: np.ndarray,
                      dsti_at_btr_start: np.ndarray, excluded_until: np.ndarray, cash: np.ndarray,
                      proceeds: np.ndarray, shadow_proceeds: np.ndarray, due: np.ndarray, interest_due_b: np.ndarray,
                      seeking_refi: np.ndarray, delinquent_need: np.ndarray, dsti: np.ndarray,
                      interest_due: np.ndarray, principal_due: np.ndarray, renewed: np.ndarray, amort: np.ndarray,
                      balance: np.ndarray, months_left: np.ndarray, borrower: np.ndarray, t: int,
                      chargeoff_months: int, recovery_rate: float, exclusion_months: int) -> Settlement:
    """Borrowers pay if cash and new loans cover what is due; otherwise they fall a month further behind.

    With ``funds = cash + proceeds + shadow_proceeds`` and ``need = due + arrears``, a borrower with
    something due pays when ``funds >= need - 1e-9``: all instalments plus the arrears, which cures them
    (``dpd = 0``). A payer's interest paid on each loan is ``interest_due * (1 + arrears / interest_due_b)``.
    A borrower who misses adds the month's interest to arrears and one month to ``dpd``
    (current -> 30 -> 60 -> 90+ days). What is left, ``funds - paid - borrowed for consumption``, is the new
    buffer, clipped to ``[0, buffer_cap]``. Borrowing to repay (a refinancer or delinquent borrower who got
    new credit) extends the streak ``btr_months`` and fixes ``dsti_at_btr_start`` at its first month.
    At ``dpd >= chargeoff_months`` every loan of the borrower is charged off, losing
    ``balance * (1 - recovery_rate)``, and the borrower is refused licensed credit until
    ``t + exclusion_months``.

    Args:
        dpd, arrears, buffer_cap, btr_months, dsti_at_btr_start, excluded_until: per borrower, the
            population's state (model/borrowers.py ``BorrowerPopulation``).
        cash, proceeds, shadow_proceeds: per borrower, this month's cash and licensed and shadow loan proceeds.
        due, interest_due_b: per borrower, from billing (model/mechanisms/billing.py).
        seeking_refi, delinquent_need: per borrower, from acquisition.
        dsti: per borrower, debt service to income measured before this month's lending.
        interest_due, principal_due, renewed, amort, months_left: per loan billed this month (``n_old`` rows).
        balance, borrower: per live loan, the whole book (billed loans first, then this month's new loans).
        t: model month index.
        chargeoff_months, recovery_rate, exclusion_months: borrower parameters (model/params.py).
    """
    n_old = principal_due.size
    # Per-borrower arrays are built in place, each from one fresh array (the same operations, in the same order).
    # Selections are products with masks rather than np.where or masked assignment (slow on random masks):
    # x * True is x and x * False is +0.0, bit for bit, for the finite non-negative amounts multiplied here.
    funds = cash + proceeds
    funds += shadow_proceeds
    need = due + arrears
    indebted_b = due > 0
    pays = funds >= need - 1e-9
    pays &= indebted_b
    # Interest multiplier: a payer also clears the interest arrears of earlier missed months.
    billed = interest_due_b > 0
    mult = arrears / (interest_due_b + ~billed)  # divides by 1 where nothing is billed: finite, then zeroed
    mult *= billed
    mult += 1.0
    mult *= pays
    bor_old = borrower[:n_old]
    interest_paid = interest_due * mult[bor_old]
    del mult  # temporaries are freed as soon as they are used: settlement is the month's memory peak
    principal_paid = principal_due * pays[bor_old]
    bal_old = balance[:n_old]
    payoff = renewal_payoff(bal_old, np.minimum(amort, bal_old), renewed)
    balance_start = bal_old.copy()
    principal_paid += payoff
    bal_new = bal_old - principal_paid
    np.maximum(bal_new, 0.0, out=bal_new)
    del principal_paid, payoff
    missed = indebted_b & ~pays
    arrears_new = arrears + interest_due_b * missed
    arrears_new *= ~pays
    dpd_new = dpd + missed
    dpd_new *= ~pays
    need *= pays  # what each borrower paid
    buffer = funds  # funds are not needed any more: the buffer is what is left of them
    buffer -= need
    del need
    buffer -= proceeds * ~seeking_refi
    buffer -= shadow_proceeds * ~(seeking_refi | delinquent_need)
    np.clip(buffer, 0.0, buffer_cap, out=buffer)
    new_defaults_b = (dpd < NPL_DPD) & (dpd_new >= NPL_DPD)
    # Borrowing to repay: the shortfall was covered by new credit this month.
    btr = (seeking_refi | delinquent_need) & ((proceeds + shadow_proceeds) > 0)
    start = btr & (btr_months == 0)
    dsti_start = np.where(start, dsti, dsti_at_btr_start)
    btr_new = (btr_months + 1) * btr
    # Charge-offs are judged after the payments, over the whole book: a new loan of a charged-off borrower goes too.
    co_b = dpd_new >= chargeoff_months
    loss = np.zeros(borrower.size)
    if co_b.any():
        chargeoff = co_b[borrower]
        keep = 1.0 - recovery_rate
        # Billed loans lose from their balance after payment; new loans (later rows) from their principal.
        np.multiply(bal_new, keep, out=loss[:n_old], where=chargeoff[:n_old])
        np.multiply(balance[n_old:], keep, out=loss[n_old:], where=chargeoff[n_old:])
        dpd_new[co_b] = 0
        arrears_new[co_b] = 0.0
        btr_new[co_b] = 0
        excluded_until = excluded_until.copy()
        excluded_until[co_b] = t + exclusion_months
    else:
        chargeoff = np.zeros(borrower.size, dtype=bool)
    return Settlement(dpd=dpd_new, arrears=arrears_new, buffer=buffer, btr_months=btr_new,
                      dsti_at_btr_start=dsti_start, excluded_until=excluded_until, new_defaults_b=new_defaults_b,
                      interest_paid=interest_paid, balance_start=balance_start, balance=bal_new,
                      months_left=months_left - 1, chargeoff=chargeoff, loss=loss)
