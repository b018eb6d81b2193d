"""Market-structure and population metrics (formulas in each docstring)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def shares(values: np.ndarray) -> np.ndarray:
    """``v_i / sum(v)``; all zeros when the total is zero."""
    total = float(np.sum(values))
    return np.zeros_like(values, dtype=float) if total <= 0 else np.asarray(values, dtype=float) / total


def hhi(values: np.ndarray) -> float:
    """Herfindahl-Hirschman index on a 0-10000 scale: ``sum((100 * s_i)^2)``; 0 with no volume."""
    s = shares(values)
    return float(np.sum((100.0 * s) ** 2))


def cr(values: np.ndarray, k: int = 5) -> float:
    """Concentration ratio: combined share of the ``k`` largest (0-1); 0 with no volume."""
    s = np.sort(shares(values))[::-1]
    return float(min(s[:k].sum(), 1.0))  # summation order can leave 1 + 1 ulp


def lorenz(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve points (population share, cumulative value share), both starting at 0."""
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0 or v.sum() <= 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    return np.r_[0.0, np.arange(1, n + 1) / n], np.r_[0.0, np.cumsum(v) / v.sum()]


def share_of(part: float, whole: float) -> float:
    """``part / whole`` for a part of a non-negative whole, kept in [0, 1] against rounding; 0 when empty."""
    return min(max(safe_ratio(part, whole), 0.0), 1.0)


def safe_ratio(num: float, den: float) -> float:
    """``num / den``, or 0.0 when the denominator is not positive (metrics stay finite)."""
    return float(num) / float(den) if den > 0 else 0.0


@dataclass(frozen=True)
class BorrowerOutcomes:
    """The month's borrower-side measurements (masks over borrowers).

    Attributes:
        indebted: holds at least one licensed loan.
        multi: holds ``spiral_lenders`` or more licensed loans (multi-borrowed).
        spiral: in a debt spiral (definition in :func:`borrower_outcomes`).
    """

    indebted: np.ndarray
    multi: np.ndarray
    spiral: np.ndarray


def borrower_outcomes(*, loan_borrower: np.ndarray, loan_shadow: np.ndarray, n_borrowers: int, dsti: np.ndarray,
                      btr_months: np.ndarray, dsti_at_btr_start: np.ndarray, spiral_lenders: int,
                      spiral_months: int, spiral_dsti: float) -> BorrowerOutcomes:
    """Indebtedness, multi-borrowing and debt spirals (docs/ODD.md, "Debt spiral").

    An indebted borrower is in a debt spiral when it has covered a shortfall with new credit for
    ``spiral_months`` or more consecutive months and its DSTI is above its value in the first month of that
    run of borrowing to repay, or when it holds
    ``spiral_lenders`` or more licensed loans with DSTI at or above ``spiral_dsti``.
    """
    lic = ~loan_shadow
    n_lenders = np.bincount(loan_borrower[lic], minlength=n_borrowers)
    indebted = n_lenders > 0
    multi = n_lenders >= spiral_lenders
    spiral = indebted & (((btr_months >= spiral_months) & (dsti > dsti_at_btr_start))
                         | (multi & (dsti >= spiral_dsti)))
    return BorrowerOutcomes(indebted=indebted, multi=multi, spiral=spiral)
