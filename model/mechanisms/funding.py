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


def allocate_lines_in_stages(budget: np.ndarray, stages: list[np.ndarray], partners: np.ndarray, score: np.ndarray,
                             rounds: int = 3) -> np.ndarray:
    """Split budgets over partners in stages of rising demand: every stage's demand is met before the next.

    ``stages`` are cumulative demands per platform (each at least the one before, e.g. what a platform drew
    last month, then its whole funding request). Stage ``k`` offers what each funder has left to the demand
    not yet met, ``stages[k] - lines so far``, by :func:`allocate_lines`. So funders renew the credit their
    partners use before they grant anyone room to grow, and a preferred platform's unused headroom cannot
    starve another's running business.

    Returns:
        lines (funders x platforms); row sums never exceed the budget, column sums never exceed the last stage.
    """
    lines = np.zeros(partners.shape)
    left = budget.astype(float).copy()
    for demand in stages:
        more = allocate_lines(left, np.maximum(demand - lines.sum(axis=0), 0.0), partners, score, rounds)
        lines += more
        left = np.maximum(left - more.sum(axis=1), 0.0)
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


def fund_in_order(key: np.ndarray, amount: np.ndarray, capacity: np.ndarray, order: np.ndarray,
                  u: np.ndarray | None = None) -> np.ndarray:
    """Fund loans in ``order`` while each line (``key``) has capacity left; return the funded mask.

    Loans draw on their line in ``order``. A loan that fits in what is left is funded. The first loan that
    would overdraw its line is funded with probability ``left / amount`` (``u < left / amount``, ``u`` one
    uniform draw per loan), and no later loan of that line is. So a line funds its capacity *in expectation*
    whatever the ratio of loan size to line size: a modelled line stands for many real ones, which would be
    drawn to their capacity, and an indivisible loan that does not quite fit would otherwise bias lending
    against small lines (small platforms, small populations). A line can end overdrawn by less than one
    loan; callers clip what is left at zero. Without ``u`` the overdrawing loan is never funded (the line's
    capacity is a hard limit).

    Args:
        key: line index per loan (into ``capacity``), shape (n,).
        amount: principal per loan.
        capacity: yuan available per line.
        order: a permutation of ``range(n)``: who draws first.
        u: uniform draws in [0, 1) per loan (indexed like ``key``), or None for a hard limit.
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
    cap = np.maximum(capacity[ks], 0.0)
    ok_sorted = within <= cap + 1e-6
    if u is not None:
        # The first loan of each line that overdraws: what was left before it, over its amount.
        left_before = cap - (within - as_)
        first_over = ~ok_sorted & (left_before > 1e-6)
        us = u[order][s]
        ok_sorted |= first_over & (us * as_ < left_before)
    ok = np.empty_like(ok_sorted)
    ok[s] = ok_sorted
    funded[order] = ok
    return funded


def pooled_lines(values: np.ndarray, funder_kind: np.ndarray, n_platforms: int) -> np.ndarray:
    """Per-line values (:func:`line_key` layout) summed into (funder kind, platform) pools, shape (kinds, platforms).

    Direct lines are left out: each is its own pool.
    """
    F, P = funder_kind.size, n_platforms
    pools = np.zeros((int(funder_kind.max()) + 1 if F else 1, P))
    if F and P:
        np.add.at(pools, funder_kind, values[: F * P].reshape(F, P))
    return pools


def carried_over(left: np.ndarray, committed_before: np.ndarray, committed: np.ndarray, *,
                 funder_kind: np.ndarray, n_platforms: int) -> np.ndarray:
    """What each line carries into this month: its pool's unused (or overdrawn) remainder from last month.

    A funder's line to a partner is a quota over time, not a monthly hard limit: what a pool of lines (a
    platform's lines from funders of one kind, or a funder's direct line; :func:`fund_from_pools`) left unused,
    or overdrew (a loan funded with probability ``left / amount``, :func:`fund_in_order`), carries into the
    pool's next month. The pool's remainder is clipped above at last month's commitment (unused quota does not
    pile up) and shared over the pool's lines in proportion to this month's commitments; a pool not renewed
    (``committed == 0``: partners dropped, platform exited, budget gone) carries nothing. Carrying at the
    pool, where funding is decided, keeps each pool's lending equal to its commitments over time; without it
    a pool that draws few loans a month would lend less than committed (the expected minimum of a lumpy
    demand and a capacity is below the capacity), biasing lending against small platforms and small samples.

    Args:
        left: last month's remaining capacity per line, after all funding (may be negative), in the
            :func:`line_key` layout.
        committed_before: last month's commitments per line (same layout).
        committed: this month's commitments per line.
        funder_kind: kind code per funder.
        n_platforms: number of platforms.
    """
    if left.shape != committed.shape:
        return np.zeros_like(committed)
    F, P = funder_kind.size, n_platforms
    pool_carry = np.minimum(pooled_lines(left, funder_kind, P), pooled_lines(committed_before, funder_kind, P))
    pool_now = pooled_lines(committed, funder_kind, P)
    lines_now = committed[: F * P].reshape(F, P)
    share = np.divide(lines_now, pool_now[funder_kind], out=np.zeros((F, P)), where=pool_now[funder_kind] > 0)
    platform_carry = share * pool_carry[funder_kind]
    direct = F * P
    direct_carry = np.where(committed[direct:] > 0, np.minimum(left[direct:], committed_before[direct:]), 0.0)
    return np.concatenate([platform_carry.ravel(), direct_carry])


def line_key(desk: np.ndarray, funder: np.ndarray, n_platforms: int, n_funders: int) -> np.ndarray:
    """Index of each loan's credit line: (funder, platform) lines first, then one direct line per funder."""
    return np.where(desk < n_platforms, funder * n_platforms + desk, n_funders * n_platforms + funder)


def pool_key(desk: np.ndarray, funder: np.ndarray, funder_kind: np.ndarray, n_platforms: int,
             n_kinds: int) -> np.ndarray:
    """Index of each loan's funding pool: (funder kind, platform) pools first, then one per funder's direct line."""
    kind = funder_kind[np.maximum(funder, 0)]
    return np.where(desk < n_platforms, kind * n_platforms + desk, n_kinds * n_platforms + funder)


def fund_from_pools(rng: np.random.Generator, *, desk: np.ndarray, amount: np.ndarray, funder: np.ndarray,
                    capacity: np.ndarray, funder_kind: np.ndarray, n_platforms: int) -> np.ndarray:
    """Fund loans within credit lines; returns the funded mask. ``capacity`` is drawn down in place.

    A platform loan draws on its platform's pool of lines from funders of its funder's kind (the same caps
    and funding terms apply to all of them), a direct loan on its funder's direct line. Loans draw in random
    order and each pool funds its capacity in expectation (:func:`fund_in_order` with random draws). A
    funded loan stays with the funder it was priced with (chosen in proportion to remaining lines, so draws
    spread over a pool's funders in proportion to their lines); that funder's line is drawn down by the
    loan and may end below zero while its pool as a whole stays within what the pool's funders committed.
    Pooling keeps lending unbiased in the size of single lines: a platform whose lines are each smaller
    than a loan (a small platform, or any platform in a small modelled population) can still use them all.

    Args:
        desk: desk per loan (platforms ``0..P-1``, then direct desks ``P + f``).
        amount: principal per loan.
        funder: funder per loan (the one the offer was priced with).
        capacity: remaining yuan per line (:func:`line_key` layout).
        funder_kind: kind code per funder.
        n_platforms: number of platforms.
    """
    P, F = n_platforms, funder_kind.size
    if desk.size == 0:
        return np.zeros(0, dtype=bool)
    pools = pooled_lines(capacity, funder_kind, P)
    pool_cap = np.concatenate([pools.ravel(), capacity[F * P:]])
    key = pool_key(desk, funder, funder_kind, P, pools.shape[0])
    got = fund_in_order(key, amount, pool_cap, rng.permutation(desk.size), rng.random(desk.size))
    line = line_key(desk[got], funder[got], P, F)
    capacity -= np.bincount(line, weights=amount[got], minlength=capacity.size)
    return got
