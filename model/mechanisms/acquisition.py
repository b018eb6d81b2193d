"""Acquisition: where credit seekers apply, channel-dependent applicant quality, and channel mix choice.

Pure functions over numpy arrays; the model gathers platform budgets and calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.enums import Channel
from model.mechanisms.funding import pick_by_weight
from model.mechanisms.underwriting import Applications
from model.params import CHANNELS, BorrowerParams, ChannelsParams

#: Channels platforms buy traffic on (``model.params.CHANNELS``, the order of their budget shares); repeat
#: business costs nothing.
N_BUY_CHANNELS = len(CHANNELS)


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


@dataclass(frozen=True)
class CreditDemand:
    """Who seeks credit this month and for how much (arrays over borrowers).

    Attributes:
        seeking: seeks licensed credit (new consumption credit or refinancing).
        refinancing: seeks it to cover a repayment shortfall.
        amount: yuan sought (the shortfall, or the borrower's usual loan size).
        delinquent_need: already past due with a shortfall: cannot borrow licensed, may turn to shadow lenders.
    """

    seeking: np.ndarray
    refinancing: np.ndarray
    amount: np.ndarray
    delinquent_need: np.ndarray


def member_of(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each of ``keys`` (sorted, unique), whether it is among ``values``: ``np.isin(keys, values)``.

    Looks each value up in the sorted keys (``np.searchsorted``) instead of sorting both arrays together.
    """
    found = np.zeros(keys.size, dtype=bool)
    if keys.size == 0 or values.size == 0:
        return found
    pos = np.minimum(np.searchsorted(keys, values), keys.size - 1)
    found[pos[keys[pos] == values]] = True
    return found


def seek_credit(rng: np.random.Generator, *, t: int, dpd: np.ndarray, excluded_until: np.ndarray,
                shortfall: np.ndarray, n_licensed: np.ndarray, seek_prob: np.ndarray, loan_size: np.ndarray,
                max_loans: int) -> CreditDemand:
    """Current, non-excluded borrowers with a shortfall refinance; others seek new credit with ``seek_prob``.

    Draws one uniform per borrower.
    """
    eligible = (dpd == 0) & (excluded_until < t)
    refi = eligible & (shortfall > 0)
    consume = eligible & ~refi & (n_licensed < max_loans) & (rng.random(dpd.size) < seek_prob)
    # refi and consume never overlap, and shortfall >= 0: the sum selects one amount, or 0 (bit for bit).
    amount = shortfall * refi
    amount += loan_size * consume
    return CreditDemand(seeking=refi | consume, refinancing=refi, amount=amount,
                        delinquent_need=(dpd > 0) & (shortfall > 0))


def platform_reach(*, weight: np.ndarray, tier: np.ndarray, spend_returns: float) -> np.ndarray:
    """Each platform's reach: the persistent pull of its brand, apps and partnerships in the contest for traffic.

    A platform draws a channel's applicants in proportion to ``reach * spend ** a`` (``a = spend_returns``).
    With ``reach = weight ** (1 - a)``, normalised to mean 1 within each tier, a platform that spends in
    proportion to the applicants it draws keeps its calibrated share of its tier (``weight``, the Zipf
    share of balances in model/world.py): at ``spend = c * demand``, ``demand ~ weight^(1-a) * demand^a``,
    whose fixed point is ``demand ~ weight``. With ``reach = 1`` every platform of a tier converges to the same
    size, and the calibrated size structure would melt away in a world without new rules. ``a = 1`` gives
    ``reach = 1``.

    Args:
        weight: calibrated balance share per platform (positive).
        tier: tier code per platform.
        spend_returns: ``channels.spend_returns`` in [0, 1].
    """
    reach = np.power(np.maximum(weight, 1e-300), 1.0 - spend_returns)
    out = np.ones_like(reach)
    for t in np.unique(tier):
        m = tier == t
        out[m] = reach[m] / reach[m].mean()
    return out


def route_applications(rng: np.random.Generator, demand: CreditDemand, *, spend: np.ndarray,
                       reach: np.ndarray, direct_budget: np.ndarray, risk_z: np.ndarray, n_licensed: np.ndarray,
                       bp: BorrowerParams, channels: ChannelsParams, book_borrower: np.ndarray,
                       book_desk: np.ndarray, book_shadow: np.ndarray) -> tuple[Applications, float]:
    """Seekers' applications, routed to desks; returns them and the traffic price.

    Each seeker makes one or more applications (refinancers search more widely). An application goes
    either straight to a direct lender's own app (in proportion to direct budgets), or through a channel
    chosen by the channel's attention and its tilt toward risky and multi-borrowed seekers, to a platform
    in proportion to ``reach * spend ** spend_returns`` on that channel (diminishing returns to spend;
    :func:`platform_reach`). A desk does not lend again to its own current borrowers. The traffic price is the
    spend over the applications it bought.

    Args:
        spend: acquisition spend per platform and bought channel, shape (platforms, channels).
        reach: each platform's reach (:func:`platform_reach`).
        direct_budget: each funder's direct-lending budget (desk ``P + f``).
        book_borrower, book_desk, book_shadow: the live loan book's borrower, desk and shadow flag per loan.
    """
    n_platforms = spend.shape[0]
    n_desks = n_platforms + direct_budget.size
    seekers = np.flatnonzero(demand.seeking)
    if seekers.size == 0:
        return Applications.empty(), 0.0
    search = np.where(demand.refinancing[seekers], bp.refinance_search, 1.0)
    n_apps = 1 + rng.poisson(bp.applications_extra * search)
    bor = np.repeat(seekers, n_apps)
    spend_c = spend.sum(axis=0)
    has_direct = direct_budget.sum() > 0
    has_platform = spend_c.sum() > 0
    p_direct = bp.direct_share if (has_direct and has_platform) else (1.0 if has_direct else 0.0)
    if not (has_direct or has_platform):
        return Applications.empty(), 0.0
    go_direct = rng.random(bor.size) < p_direct
    desk = np.empty(bor.size, dtype=np.int64)
    chan = np.full(bor.size, int(Channel.INFO_FLOW), dtype=np.int64)
    k = int(go_direct.sum())
    if k:
        desk[go_direct] = n_platforms + sample_weighted(rng, direct_budget, k)
    via = np.flatnonzero(~go_direct)
    if via.size:
        vb = bor[via]
        w = channel_weights_matrix(
            risk_z[vb], n_licensed[vb],
            np.array([getattr(channels, c).attention for c in CHANNELS]) * (spend_c > 0),
            np.array([getattr(channels, c).risk_tilt for c in CHANNELS]),
            np.array([getattr(channels, c).multi_tilt for c in CHANNELS]),
        )
        c = choose_columns(rng, w)
        chan[via] = c
        # Diminishing returns to traffic spend keep the contest for applicants from being winner-take-all.
        desk[via] = pick_by_weight(rng, c, reach[None, :] * spend.T ** channels.spend_returns)
    apps_c = np.bincount(chan[~go_direct], minlength=N_BUY_CHANNELS)
    traffic_price = float(spend_c.sum() / apps_c.sum()) if apps_c.sum() > 0 else 0.0
    ok = desk >= 0
    bor, desk, chan = bor[ok], desk[ok], chan[ok]
    key = bor * n_desks + desk
    key_u, first = np.unique(key, return_index=True)
    bor, desk, chan = bor[first], desk[first], chan[first]
    mine = demand.seeking[book_borrower] & ~book_shadow
    held = book_borrower[mine] * n_desks + book_desk[mine]
    fresh = ~member_of(key_u, held)
    bor, desk, chan = bor[fresh], desk[fresh], chan[fresh]
    return Applications(bor, desk, chan, demand.amount[bor]), traffic_price
