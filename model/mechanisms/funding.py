"""Funding: funders' credit lines to whitelisted platforms, drawn by loans in random order.

Pure functions over small dense (funders x platforms) matrices and loan arrays.
"""

from __future__ import annotations

import numpy as np


def preference_scores(
    volume: np.ndarray, age_months: np.ndarray, loss_rate: np.ndarray, complaints: np.ndarray,
    w_scale: float, w_age: float, w_track: float, w_compliance: float,
) -> np.ndarray:
    """Funders' preference for each platform: scale, operating history, track record, compliance.

    ``score = w_scale * log(1 + volume / mean volume) + w_age * age_years - w_track * loss_rate
    - w_compliance * complaints``. These are the funder-side sources of the Matthew effect.
    """
    mean = volume[volume > 0].mean() if np.any(volume > 0) else 1.0
    return (
        w_scale * np.log1p(volume / mean)
        + w_age * age_months / 12.0
        - w_track * loss_rate
        - w_compliance * complaints
    )


def allocate_lines(budget: np.ndarray, demand: np.ndarray, partners: np.ndarray, score: np.ndarray,
                   rounds: int = 3) -> np.ndarray:
    """Split each funder's budget over its partners, preferring high scores, without exceeding demand.

    Each round a funder offers its remaining budget to partners with unmet demand in proportion to
    ``exp(score) * unmet demand``; platforms offered more than they need take only what they need,
    and the rest is offered again next round.

    Args:
        budget: budget per funder (yuan this month).
        demand: funding each platform asks for (yuan this month).
        partners: boolean (funders x platforms): platform on the funder's whitelist.
        score: preference score per platform.
        rounds: reallocation rounds.

    Returns:
        lines: (funders x platforms) yuan each funder commits to each platform; row sums never exceed
        the budget, column sums never exceed demand (up to rounding).
    """
    n_f, n_p = partners.shape
    lines = np.zeros((n_f, n_p))
    if n_f == 0 or n_p == 0:
        return lines
    weight = np.exp(score - score.max()) if score.size else score
    remaining_budget = budget.astype(float).copy()
    for _ in range(rounds):
        unmet = np.maximum(demand - lines.sum(axis=0), 0.0)
        w = partners * (weight * unmet)[None, :]
        ws = w.sum(axis=1, keepdims=True)
        offer = np.divide(w, ws, out=np.zeros_like(w), where=ws > 0) * remaining_budget[:, None]
        total_offer = offer.sum(axis=0)
        scale = np.divide(unmet, total_offer, out=np.zeros_like(unmet), where=total_offer > 1e-9)
        taken = offer * np.minimum(scale, 1.0)[None, :]
        lines += taken
        remaining_budget -= taken.sum(axis=1)
        if not np.any((remaining_budget > 1e-9) & (ws[:, 0] > 0)):
            break
    return lines


def pick_by_weight(rng: np.random.Generator, group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each item in ``group`` (a row index into ``weights``), pick a column with probability ∝ that row.

    Rows with no positive weight give -1.

    Args:
        group: row index per item, shape (n,).
        weights: non-negative (rows x columns).
    """
    n_rows, n_cols = weights.shape
    out = np.full(group.shape[0], -1, dtype=np.int64)
    if group.size == 0 or n_cols == 0:
        return out
    row_sum = weights.sum(axis=1)
    cum = np.cumsum(weights, axis=1)
    norm = np.divide(cum, row_sum[:, None], out=np.zeros_like(cum), where=row_sum[:, None] > 0)
    # Offsetting row r into [r, r + 1] lets one searchsorted serve every row at once.
    flat = (norm + np.arange(n_rows)[:, None]).ravel()
    has = row_sum[group] > 0
    u = rng.random(group.shape[0])
    pos = np.searchsorted(flat, group + np.minimum(u, 1.0 - 1e-12), side="right")
    col = pos - group * n_cols
    out[has] = np.clip(col[has], 0, n_cols - 1)
    return out


def fund_in_order(key: np.ndarray, amount: np.ndarray, capacity: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Fund loans in ``order`` while each line (``key``) has capacity left; return the funded mask.

    A loan is funded if the cumulative amount of its line, counting loans before it in ``order`` and
    itself, stays within the capacity. Loans that would overdraw are skipped (smaller later ones may
    still fit only if cumulative sums allow; this greedy rule keeps funding within budget exactly).

    Args:
        key: line index per loan (into ``capacity``), shape (n,).
        amount: principal per loan.
        capacity: yuan available per line.
        order: a permutation of ``range(n)``: who draws first.
    """
    funded = np.zeros(key.shape[0], dtype=bool)
    if key.size == 0:
        return funded
    k = key[order]
    a = amount[order]
    # Stable sort by line keeps the random order within each line.
    s = np.argsort(k, kind="stable")
    ks, as_ = k[s], a[s]
    cums = np.cumsum(as_)
    starts = np.r_[0, np.flatnonzero(np.diff(ks)) + 1]
    base = np.repeat(cums[starts] - as_[starts], np.diff(np.r_[starts, ks.size]))
    within = cums - base
    ok_sorted = within <= capacity[ks] + 1e-6
    ok = np.empty_like(ok_sorted)
    ok[s] = ok_sorted
    funded[order] = ok
    return funded


def line_key(desk: np.ndarray, funder: np.ndarray, n_platforms: int, n_funders: int) -> np.ndarray:
    """Index of each loan's credit line: (funder, platform) lines first, then one direct line per funder."""
    return np.where(desk < n_platforms, funder * n_platforms + desk, n_funders * n_platforms + funder)


def fund_with_rerouting(rng: np.random.Generator, *, desk: np.ndarray, amount: np.ndarray, funder: np.ndarray,
                        capacity: np.ndarray, funder_kind: np.ndarray, n_platforms: int,
                        retries: int = 2) -> np.ndarray:
    """Fund loans within credit lines; returns the funded mask.

    A platform loan that does not fit its drawn funder's remaining line is routed to the funder of the
    same kind (so the same caps and price apply) with the most room left at that platform, up to
    ``retries`` times. ``funder`` is updated in place for rerouted loans, and ``capacity`` (the remaining
    yuan per line, see :func:`line_key`) is drawn down by what is funded. One permutation is drawn per
    attempt that has loans left.
    """
    P, F = n_platforms, funder_kind.size
    funded = np.zeros(desk.size, dtype=bool)
    todo = np.arange(desk.size)
    for attempt in range(retries + 1):
        if todo.size == 0:
            break
        if attempt > 0:
            on_p = desk[todo] < P
            todo = todo[on_p]
            if todo.size == 0:
                break
            remaining = capacity[: F * P].reshape(F, P)
            kind = funder_kind[funder[todo]]
            room = remaining[:, desk[todo]].T  # (loans, funders)
            room = np.where(funder_kind[None, :] == kind[:, None], room, -1.0)
            funder[todo] = np.argmax(room, axis=1)
        key = line_key(desk[todo], funder[todo], P, F)
        got = fund_in_order(key, amount[todo], capacity, rng.permutation(todo.size))
        capacity -= np.bincount(key[got], weights=amount[todo][got], minlength=capacity.size)
        funded[todo[got]] = True
        todo = todo[~got]
    return funded
