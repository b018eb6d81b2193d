"""Acquisition: where credit seekers apply, channel-dependent applicant quality, and channel mix choice.

Pure functions over numpy arrays; the model gathers platform budgets and calls them.
"""

from __future__ import annotations

import numpy as np


def sample_weighted(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """Draw ``n`` indices with replacement with probability proportional to ``weights``.

    Returns an empty array when there is nothing to draw from.
    """
    if n <= 0 or weights.size == 0:
        return np.empty(0, dtype=np.int64)
    cum = np.cumsum(weights)
    total = cum[-1]
    if not np.isfinite(total) or total <= 0:
        return np.empty(0, dtype=np.int64)
    idx = np.searchsorted(cum, rng.random(n) * total, side="right")
    return np.minimum(idx, weights.size - 1)


def channel_weights_matrix(risk_z: np.ndarray, n_loans: np.ndarray, attention: np.ndarray, risk_tilt: np.ndarray,
                           multi_tilt: np.ndarray) -> np.ndarray:
    """Weights of each channel for each application, shape (applications, channels).

    ``w[i, c] = attention[c] * exp(risk_tilt[c] * z_i + multi_tilt[c] * n_loans_i)``: risky and
    multi-borrowed seekers come disproportionately through API and referral traffic.
    """
    return attention[None, :] * np.exp(risk_tilt[None, :] * risk_z[:, None]
                                       + multi_tilt[None, :] * np.minimum(n_loans, 10)[:, None])


def choose_columns(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """For each row, a column drawn with probability proportional to the row's weights (-1 for all-zero rows)."""
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1]
    u = rng.random(weights.shape[0]) * total
    col = (cum <= u[:, None]).sum(axis=1)
    return np.where(total > 0, np.minimum(col, weights.shape[1] - 1), -1)


def update_mix(mix: np.ndarray, value: np.ndarray, spend: np.ndarray, speed: float, allowed: np.ndarray) -> np.ndarray:
    """Move each platform's channel mix toward the channels with the best return per yuan.

    Return per yuan is ``value / spend``; the target mix is proportional to the positive returns over
    the allowed channels. Rows with no positive return keep their mix.

    Args:
        mix: current shares, shape (platforms, channels); rows sum to 1.
        value: value earned through each channel over the review period (same shape).
        spend: acquisition spend through each channel (same shape).
        speed: share of the way to move toward the target.
        allowed: boolean mask of channels each platform can use.
    """
    roi = np.divide(value, spend, out=np.zeros_like(value, dtype=float), where=spend > 0)
    roi = np.where(allowed, np.maximum(roi, 0.0), 0.0)
    total = roi.sum(axis=1, keepdims=True)
    target = np.divide(roi, total, out=mix.copy(), where=total > 0)
    new = (1.0 - speed) * mix + speed * target
    new = np.where(allowed, new, 0.0)
    s = new.sum(axis=1, keepdims=True)
    return np.divide(new, s, out=mix.copy(), where=s > 0)
