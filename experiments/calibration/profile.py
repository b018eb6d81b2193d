"""Identifiability and fit at the estimate (pure functions of evaluated points).

**Loss profiles.** For each calibrated parameter the loss is evaluated on an even grid across its search
range, the other parameters held at the estimate (common random numbers: the same seeds at every point, so
the profile's shape is the model's, not sampling noise). Reading each moment's tolerance as the standard error
of its observed level, the loss is a chi-square statistic, and the parameter's **95% interval** is the set of
values whose loss lies within :data:`CHI2_95` (the 0.95 quantile of chi-square with one degree of freedom) of
the profile's lowest loss; crossings are interpolated linearly between grid points. Holding the others fixed
gives conditional intervals, narrower than profiles with the others re-optimized: a parameter found weak here
is weak, one found identified may still trade off against another (the report names the moments each one
moves).

Verdicts:

* ``not identified``: the loss never rises by :data:`CHI2_95` anywhere in the range (a flat profile: the
  moments do not pin the parameter down; it stays a documented assumption);
* ``weak``: the interval spans more than half of the range;
* ``identified``: otherwise.

An estimate within 2% of the range of either end is flagged ``at_edge``: the moments push the parameter
beyond the range it was allowed, which is reported, not hidden. An estimate outside its own interval
(``inside`` false) means the profile found values with a clearly lower loss: the search had not converged
along that parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.analysis.stats import mean_interval
from experiments.calibration.spec import CalParam, Moments

#: chi-square(1) 0.95 quantile: a loss rise beyond it leaves the 95% interval.
CHI2_95 = 3.841458820694124
EDGE = 0.02


def profile_points(params: Sequence[CalParam], grid: int) -> list[tuple[int, float]]:
    """The profile's points as ``(parameter index, value)``, each parameter on ``grid`` even steps of its range.

    Point 0 of a profile design is the estimate itself; these follow it in this order.
    """
    if grid < 3:
        raise ValueError("a profile needs at least 3 grid points")
    out = []
    for j, p in enumerate(params):
        for value in np.linspace(p.low, p.high, grid):
            out.append((j, float(value)))
    return out


def point_values(estimate: Sequence[float], j: int, value: float) -> list[float]:
    """The estimate with parameter ``j`` set to ``value``."""
    out = [float(v) for v in estimate]
    out[j] = value
    return out


def interval(xs: Sequence[float], losses: Sequence[float], delta: float = CHI2_95) -> tuple[float, float, bool, bool]:
    """The contiguous interval around the lowest loss where the loss is within ``delta`` of it.

    Args:
        xs: parameter values, ascending.
        losses: their losses.
        delta: the allowed rise.

    Returns:
        ``(low, high, open_low, open_high)``: the interval's ends (crossings interpolated linearly), and whether
        it runs to the grid's first or last value without the loss crossing the threshold.
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(losses, dtype=float)
    finite = np.isfinite(y)
    if not finite.any():
        return math.nan, math.nan, True, True
    y = np.where(finite, y, np.inf)
    k = int(np.argmin(y))
    limit = y[k] + delta
    i = k
    while i > 0 and y[i - 1] <= limit:
        i -= 1
    if i == 0:
        low, open_low = float(x[0]), True
    else:
        low, open_low = _cross(x[i - 1], y[i - 1], x[i], y[i], limit), False
    i = k
    while i < len(x) - 1 and y[i + 1] <= limit:
        i += 1
    if i == len(x) - 1:
        high, open_high = float(x[-1]), True
    else:
        high, open_high = _cross(x[i + 1], y[i + 1], x[i], y[i], limit), False
    return low, high, open_low, open_high


def _cross(x_out: float, y_out: float, x_in: float, y_in: float, limit: float) -> float:
    if not math.isfinite(y_out):
        return float(x_in)
    return float(x_in + (x_out - x_in) * (limit - y_in) / (y_out - y_in))


def identifiability(params: Sequence[CalParam], estimate: Sequence[float], estimate_loss: float,
                    profile: pd.DataFrame, delta: float = CHI2_95) -> pd.DataFrame:
    """One row per parameter: estimate, 95% interval, share of the range it spans, loss rise, verdict.

    Args:
        params: the calibrated parameters.
        estimate: their estimated values.
        estimate_loss: the loss at the estimate (in the same evaluation as the profile).
        profile: rows ``param`` (name), ``value``, ``loss``.
        delta: the loss rise that bounds the interval.
    """
    rows = []
    for p, est in zip(params, estimate, strict=True):
        own = profile[profile["param"] == p.name]
        xs = np.append(own["value"].to_numpy(dtype=float), est)
        ys = np.append(own["loss"].to_numpy(dtype=float), estimate_loss)
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
        low, high, open_low, open_high = interval(xs, ys, delta)
        finite = ys[np.isfinite(ys)]
        rise = float(finite.max() - finite.min()) if finite.size else math.nan
        span = (high - low) / (p.high - p.low) if math.isfinite(low) else math.nan
        if not (rise >= delta):
            verdict = "not identified"
        elif span > 0.5:
            verdict = "weak"
        else:
            verdict = "identified"
        u = (est - p.low) / (p.high - p.low)
        rows.append({
            "param": p.name, "low": p.low, "high": p.high, "estimate": float(est),
            "interval_low": low, "interval_high": high, "open_low": open_low, "open_high": open_high,
            "span_share": span, "loss_rise": rise, "verdict": verdict,
            "at_edge": bool(u <= EDGE or u >= 1 - EDGE),
            "inside": bool(math.isfinite(low) and low - 1e-12 <= est <= high + 1e-12),
        })
    return pd.DataFrame(rows)


def fit_table(runs: pd.DataFrame, moments: Moments) -> pd.DataFrame:
    """Each moment at one point: data, tolerance, model mean and 95% interval over replicates, verdict.

    Args:
        runs: per-run moments of the point (one row per replicate, a column per moment).
        moments: the moments.
    """
    rows = []
    for m in moments.moments:
        n, mean, _sd, low, high = mean_interval(runs[m.name].to_numpy(dtype=float))
        z = (mean - m.value) / m.tolerance
        rows.append({
            "moment": m.name, "metric": m.metric, "stat": m.stat, "window": f"{m.window[0]}..{m.window[1]}",
            "data": m.value, "tolerance": m.tolerance, "model": mean, "model_low": low, "model_high": high,
            "replicates": n, "z": z, "weight": m.weight, "loss": m.weight * z * z,
            "within": bool(abs(mean - m.value) <= m.tolerance), "source": m.source,
        })
    return pd.DataFrame(rows)


def sensitivity_of_moments(params: Sequence[CalParam], profile: pd.DataFrame, moments: Moments) -> pd.DataFrame:
    """How far each moment moves across each parameter's profile, in tolerances (max - min of the moment's mean
    along the profile, divided by its tolerance): which moments carry the information about which parameter."""
    rows = []
    for p in params:
        own = profile[profile["param"] == p.name]
        row = {"param": p.name}
        for m in moments.moments:
            values = own[m.name].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            row[m.name] = float((values.max() - values.min()) / m.tolerance) if values.size else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
