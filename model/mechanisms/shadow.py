"""Shadow lending: borrowers refused licensed credit, or delinquent and short, turn to shadow lenders.

A pure function of borrower and loan arrays and the run's generator; ``LendingModel.shadow_lend``
(model/lending.py) books the loans it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShadowLoans:
    """This month's shadow loans (one per borrower at most).

    Attributes:
        who: borrowers who borrow from a shadow lender, ascending.
        amount: principal of each one's shadow loan (their shortfall if delinquent, else what they sought).
        rationed: number of credit seekers who got no licensed loan this month.
    """

    who: np.ndarray
    amount: np.ndarray
    rationed: int


def priced_out_borrowers(*, borrower: np.ndarray, priced_out: np.ndarray, n_borrowers: int) -> np.ndarray:
    """Per borrower: at least one of this month's applications was refused only by the price cap.

    Args:
        borrower, priced_out: per application, its borrower and the offer's ``priced_out`` flag
            (model/mechanisms/underwriting.py ``Offers``).
    """
    return np.bincount(borrower[priced_out], minlength=n_borrowers) > 0


def shadow_lend(rng: np.random.Generator, *, seeking: np.ndarray, seeking_refi: np.ndarray,
                delinquent_need: np.ndarray, proceeds: np.ndarray, shortfall: np.ndarray, seek_amount: np.ndarray,
                priced_out: np.ndarray, loan_borrower: np.ndarray, loan_shadow: np.ndarray, shadow_open: bool,
                prob_refinance: float, prob_priced_out: float, prob_consumption: float,
                max_shadow_loans: int) -> ShadowLoans:
    """Who borrows from shadow lenders this month, and how much.

    A seeker is rationed when licensed lenders gave nothing (``proceeds <= 0``). While payment channels
    stay open (``shadow_open``), each borrower draws one uniform: a rationed refinancer or a delinquent
    borrower with a shortfall borrows with probability ``prob_refinance``; a rationed seeker whom a lender
    would have served but for the price cap (``priced_out``: a borrower willing to pay above the cap, whom
    instalment malls and guarantee schemes court) with ``prob_priced_out``; any other rationed seeker with
    ``prob_consumption``. Each must hold fewer than ``max_shadow_loans`` shadow loans. The generator is
    drawn once, ``rng.random(n)``, and only while channels are open.

    Args:
        rng: the run's generator.
        seeking, seeking_refi, delinquent_need: per borrower, from acquisition (model/lending.py).
        proceeds: per borrower, licensed loan proceeds this month.
        shortfall: per borrower, from billing (model/mechanisms/billing.py).
        seek_amount: per borrower, the amount sought from licensed lenders.
        priced_out: per borrower, refused by the price cap this month (:func:`priced_out_borrowers`).
        loan_borrower, loan_shadow: per live loan, its borrower and whether it is a shadow loan.
        shadow_open: payment channels still serve shadow lenders (model/policy.py ``Rules``).
        prob_refinance, prob_priced_out, prob_consumption, max_shadow_loans: borrower parameters
            (model/params.py).
    """
    n = seeking.size
    rationed = seeking & (proceeds <= 0)
    n_rationed = int(rationed.sum())
    if not shadow_open:
        return ShadowLoans(who=np.empty(0, dtype=np.int64), amount=np.empty(0), rationed=n_rationed)
    refi_like = (rationed & seeking_refi) | delinquent_need
    u = rng.random(n)
    # Only rationed or delinquent borrowers may take one (the others' probability is 0): test their draws.
    cand = np.flatnonzero(refi_like | rationed)
    p = np.where(refi_like[cand], prob_refinance, np.where(priced_out[cand], prob_priced_out, prob_consumption))
    n_shadow = np.bincount(loan_borrower[loan_shadow], minlength=n)
    who = cand[(u[cand] < p) & (n_shadow[cand] < max_shadow_loans)]
    amount = np.where(delinquent_need[who], shortfall[who], seek_amount[who])
    keep = amount > 0
    return ShadowLoans(who=who[keep], amount=amount[keep], rationed=n_rationed)
