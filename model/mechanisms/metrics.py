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
        lenders: number of licensed loans held (each from its own lender: a desk lends once to a borrower).
        indebted: holds at least one licensed loan.
        multi: holds ``spiral_lenders`` or more licensed loans (multi-borrowed).
        spiral: in a debt spiral (definition in :func:`borrower_outcomes`).
    """

    lenders: np.ndarray
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
    return BorrowerOutcomes(lenders=n_lenders, indebted=indebted, multi=multi, spiral=spiral)


def weighted_mean_by(groups: np.ndarray, values: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group ``g``: ``sum(w * v) / sum(w)`` over the items of the group; 0 for a group with no weight."""
    num = np.bincount(groups, weights=weights * values, minlength=n_groups)
    den = np.bincount(groups, weights=weights, minlength=n_groups)
    return np.divide(num, den, out=np.zeros(n_groups), where=den > 0)


def share_by(groups: np.ndarray, mask: np.ndarray, among: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: the share of the items ``among`` that are in ``mask``; 0 for a group with none among."""
    num = np.bincount(groups[among & mask], minlength=n_groups).astype(float)
    den = np.bincount(groups[among], minlength=n_groups).astype(float)
    return np.divide(num, den, out=np.zeros(n_groups), where=den > 0)


@dataclass(frozen=True)
class SegmentOutcomes:
    """Borrower outcomes per segment (arrays indexed by :class:`model.enums.Segment`).

    Attributes:
        served: share of the segment's credit seekers this month who got a licensed loan.
        apr_paid: volume-weighted all-in APR of the segment's new licensed loans.
        dsti: mean debt service to income of the segment's indebted borrowers.
        default_rate: new defaults / indebted borrowers of the segment.
        spiral: borrowers in a debt spiral / indebted borrowers of the segment.
        shadow: share of the segment's borrowers holding a live shadow loan.
    """

    served: np.ndarray
    apr_paid: np.ndarray
    dsti: np.ndarray
    default_rate: np.ndarray
    spiral: np.ndarray
    shadow: np.ndarray


def segment_outcomes(*, segment: np.ndarray, n_segments: int, seeking: np.ndarray, served: np.ndarray,
                     new_borrower: np.ndarray, new_amount: np.ndarray, new_apr: np.ndarray, dsti: np.ndarray,
                     outcomes: BorrowerOutcomes, new_defaults: np.ndarray,
                     shadow_borrowers: np.ndarray) -> SegmentOutcomes:
    """Who is served and who pays what, by borrower segment (all shares are 0 for an empty segment).

    Args:
        segment: each borrower's segment code.
        seeking, served: borrowers seeking licensed credit this month, and those who got some.
        new_borrower, new_amount, new_apr: this month's new licensed loans (renewals included).
        dsti: each borrower's debt service to income at the start of the month.
        outcomes: the month's :func:`borrower_outcomes` (indebtedness and spirals).
        new_defaults: borrowers who entered 90+ days past due this month.
        shadow_borrowers: the borrowers holding a live shadow loan (each once).
    """
    indebted = outcomes.indebted
    size = np.bincount(segment, minlength=n_segments)
    in_shadow = np.bincount(segment[shadow_borrowers], minlength=n_segments)
    # The indebted borrowers' segments, taken out once for the DSTI and both shares among the indebted.
    segment_indebted = segment[indebted]
    dsti_sum = np.bincount(segment_indebted, weights=dsti[indebted], minlength=n_segments)
    n_indebted = np.bincount(segment_indebted, minlength=n_segments)

    def share_indebted(mask: np.ndarray) -> np.ndarray:  # share_by(segment, mask, indebted, n_segments)
        num = np.bincount(segment[indebted & mask], minlength=n_segments).astype(float)
        den = n_indebted.astype(float)
        return np.divide(num, den, out=np.zeros(n_segments), where=den > 0)

    return SegmentOutcomes(
        served=share_by(segment, served, seeking, n_segments),
        apr_paid=weighted_mean_by(segment[new_borrower], new_apr, new_amount, n_segments),
        dsti=np.divide(dsti_sum, n_indebted, out=np.zeros(n_segments), where=n_indebted > 0),
        default_rate=share_indebted(new_defaults),
        spiral=share_indebted(outcomes.spiral),
        shadow=np.divide(in_shadow, size, out=np.zeros(n_segments), where=size > 0),
    )
