"""Market-structure and population metrics (formulas in each docstring)."""

from __future__ import annotations

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
