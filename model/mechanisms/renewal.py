"""Renewal and withdrawal (step 5 of the month): maturing credit lines are renewed or withdrawn.

Lines are withdrawn when the platform exited, the funder left platform lending or dropped the platform,
the funder closed its direct desk (for a direct loan), the renewal cannot be priced under today's cap, or the
lender's screen refuses it (the last two are judged by underwriting). At the clean-up deadline, stock loans
priced above the cap are called in full.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DebtPositions:
    """Each borrower's licensed loan count, licensed debt (yuan) and scheduled debt service to income (DSTI)."""

    n_licensed: np.ndarray
    debt_licensed: np.ndarray
    dsti: np.ndarray


def measure_debt(*, borrower: np.ndarray, balance: np.ndarray, shadow: np.ndarray, instalment: np.ndarray,
                 income: np.ndarray) -> DebtPositions:
    """Per-borrower debt from the loan book; DSTI counts shadow loans too, the licensed figures do not."""
    n = income.size
    lic = ~shadow
    borrower_lic = borrower[lic]
    return DebtPositions(
        n_licensed=np.bincount(borrower_lic, minlength=n),
        debt_licensed=np.bincount(borrower_lic, weights=balance[lic], minlength=n),
        dsti=np.divide(np.bincount(borrower, weights=instalment, minlength=n), income, out=np.zeros(n),
                       where=income > 0),
    )


def called_above_cap(*, shadow: np.ndarray, apr: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Licensed stock loans priced above the cap of their funder's kind (called at the clean-up deadline)."""
    return ~shadow & (apr > cap + 1e-12)


def lender_still_lends(*, platform: np.ndarray, funder: np.ndarray, platform_active: np.ndarray,
                       partners: np.ndarray, direct_open: np.ndarray) -> np.ndarray:
    """Per loan: a platform loan's platform is active and still on its funder's whitelist; a direct loan's
    funder still lends directly. Loans without a funder (shadow loans) are left as they are (True).

    Args:
        platform, funder: per loan (``platform < 0`` for a direct or shadow loan, ``funder < 0`` for a shadow loan).
        platform_active: per platform.
        partners: this month's whitelists of active platforms, shape (funders, platforms).
        direct_open: per funder, its direct desk is open.
    """
    n_f, n_p = partners.shape
    # One look-up table: every (funder, platform) line, then every funder's direct desk, then "no funder".
    table = np.concatenate([(partners & platform_active[None, :]).ravel(), direct_open.astype(bool), [True]])
    f = funder.astype(np.intp)
    slot = np.where(platform >= 0, f * n_p + platform, np.where(f >= 0, n_f * n_p + f, n_f * n_p + n_f))
    return table[slot]


def renewal_wanted(rng: np.random.Generator, *, t: int, maturing: np.ndarray, borrower: np.ndarray,
                   dpd: np.ndarray, excluded_until: np.ndarray, revolve_prob: np.ndarray) -> np.ndarray:
    """Maturing loans whose borrower is current, not excluded and asks to renew (prob. ``revolve_prob``).

    Draws one uniform per loan.
    """
    u = rng.random(borrower.size)
    may_ask = (dpd == 0) & (excluded_until < t)  # per borrower
    wants = maturing & may_ask[borrower]
    idx = np.flatnonzero(wants)
    wants[idx] = u[idx] < revolve_prob[borrower[idx]]
    return wants
