"""Statistics shared by the batch summary, the report and the validation: one t-quantile, one interval, one
paired difference."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def t_quantile(df: float) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (scipy), for two-sided 95% intervals.

    Returns:
        ``t(0.975, df)``; NaN when ``df < 1`` or is not a number: there is no interval from fewer than two
        values, and callers report such an interval as missing (NaN bounds) rather than fail.
    """
    if not df >= 1:  # also catches NaN
        return math.nan
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def paired_difference(values: pd.Series, reference: pd.Series) -> tuple[int, float, float, float]:
    """``(pairs, mean, low, high)`` of ``values - reference`` over the replicates both have (both indexed by
    replicate): :func:`mean_interval` of the per-replicate differences (NaN bounds with one pair), the paired
    comparison of every table that sets a scenario against its reference on common random numbers."""
    diff = (values.astype(float) - reference.astype(float).reindex(values.index)).dropna()
    pairs, mean, _, low, high = mean_interval(diff.to_numpy())
    return pairs, mean, low, high


def mean_interval(values: np.ndarray) -> tuple[int, float, float, float, float]:
    """``(n, mean, sd, low, high)`` of a sample, NaNs dropped: mean ± t(0.975, n-1)·sd/√n.

    With one value, ``sd``, ``low`` and ``high`` are NaN; with none, the mean is NaN too.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return 1, mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half
