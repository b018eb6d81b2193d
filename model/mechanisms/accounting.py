"""Accounting: the month's books of every funder, platform and desk.

Three steps, so that guarantees can be honoured in between by the agents (``Platform.honour_guarantees`` in
model/institutions.py pays from capital, platform by platform):

1. :func:`guarantee_claims`: each platform's claims for its guaranteed loans' losses (pure);
2. the model has each platform honour its claims;
3. :func:`book_month`: everything else, given what the platforms paid (pure).

:func:`new_volume_by_funder` summarizes the month's new loans per funder. ``LendingModel.keep_accounts``
(model/lending.py) hands the figures to the agents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.borrowers import NPL_DPD


@dataclass(frozen=True)
class GuaranteeClaims:
    """Guarantee claims of the month.

    Attributes:
        covered: per billed loan, a licensed platform loan under the platform's guarantee.
        claims: per platform, the charge-off losses of its guaranteed loans (yuan).
    """

    covered: np.ndarray
    claims: np.ndarray


def real_scale(*, sampled: np.ndarray, proxy: np.ndarray, group: np.ndarray, weight: float) -> np.ndarray:
    """Per-item amounts as an institution of the real population would book them, keeping group totals.

    A modelled borrower stands for ``weight`` real ones, so an institution's real book has ``weight`` times
    the modelled loans and, per modelled unit, sampling noise ``1 / sqrt(weight)`` of the sample's. Each item
    keeps its expected part and ``1 / sqrt(weight)`` of its sampled deviation from it::

        out = sampled / sqrt(w) + (1 - 1 / sqrt(w)) * proxy * ratio[group],
        ratio[g] = sum(sampled in g) / sum(proxy in g)

    where ``proxy`` is proportional to the item's expected amount (e.g. its expected loss) and the ratio,
    pooled over a large group (a platform tier, a funder kind), carries what the proxy misses systematically.
    Sums over a group are unchanged; a sum over an institution's items (a platform, a funder-partner pair)
    has the real institution's noise. Items with ``group < 0`` are returned as sampled; ``weight <= 1``
    changes nothing.

    Args:
        sampled: the sampled amounts per item (e.g. a loan's charge-off loss this month).
        proxy: non-negative, proportional to each item's expected amount.
        group: group index per item (``-1``: left as sampled).
        weight: real borrowers per modelled borrower.
    """
    if weight <= 1.0 or sampled.size == 0:
        return sampled
    # Group 0 holds the items left as sampled (group -1); real groups are shifted by one.
    g = group + 1
    n_groups = int(g.max()) + 1
    tot_s = np.bincount(g, weights=sampled, minlength=n_groups)
    tot_p = np.bincount(g, weights=proxy, minlength=n_groups)
    ratio = np.divide(tot_s, tot_p, out=np.zeros(n_groups), where=tot_p > 0)
    # A group whose proxy is zero everywhere, and group 0, keep their sampled amounts.
    keep_g = np.where(tot_p > 0, 1.0 / np.sqrt(weight), 1.0)
    keep_g[0] = 1.0
    ratio[0] = 0.0
    k = keep_g[g]
    out = sampled * k
    # (1 - k) * proxy * ratio[g], evaluated in that order, in place.
    np.subtract(1.0, k, out=k)
    k *= proxy
    k *= ratio[g]
    out += k
    return out


@dataclass(frozen=True)
class NewBalances:
    """End-of-month balances of the licensed loans originated after billing (rows ``n_old:`` of the book).

    Attributes:
        by_pair: per (funder, platform), shape (funders, platforms); None without platforms.
        by_funder: direct loans per funder.
        by_platform: platform loans per platform.
        total: all of them (:meth:`numpy.ndarray.sum` of the per-loan balances).
    """

    by_pair: np.ndarray | None
    by_funder: np.ndarray
    by_platform: np.ndarray
    total: float


def new_loan_balances(*, balance: np.ndarray, shadow: np.ndarray, platform: np.ndarray, funder: np.ndarray,
                      n_old: int, n_platforms: int, n_funders: int) -> NewBalances:
    """The month's new licensed loans (shadow loans excluded) summed into the books' end-of-month balances."""
    P, F = n_platforms, n_funders
    new = slice(n_old, balance.size)
    lic = ~shadow[new]
    bal = balance[new] * lic
    plat = platform[new]
    fund = funder[new]
    on_plat = lic & (plat >= 0)
    direct = lic & (plat < 0)
    pair = (np.bincount(fund[on_plat] * P + plat[on_plat], weights=bal[on_plat], minlength=F * P).reshape(F, P)
            if P else None)
    return NewBalances(
        by_pair=pair,
        by_funder=np.bincount(fund[direct], weights=bal[direct], minlength=F),
        by_platform=np.bincount(plat[on_plat], weights=bal[on_plat], minlength=P),
        total=bal.sum(),
    )


def sum_by(key: np.ndarray, weights: np.ndarray, n_bins: int) -> np.ndarray:
    """Sum of ``weights`` per bin ``0..n_bins-1`` of ``key``; items keyed ``n_bins`` (the spill bin) are left out.

    Gives, bit for bit, ``np.bincount(key[m], weights=weights[m], minlength=n_bins)`` for the items ``m`` not
    in the spill bin (bincount adds in item order either way), without copying them out first: a key made
    once with :func:`spill_key` serves every weight summed by it.
    """
    return np.bincount(key, weights=weights, minlength=n_bins + 1)[:n_bins]


def spill_key(key: np.ndarray, mask: np.ndarray, n_bins: int) -> np.ndarray:
    """``key`` where ``mask``, else the spill bin ``n_bins``, as the platform integer that :func:`sum_by` takes."""
    return np.where(mask, key, n_bins).astype(np.intp, copy=False)


def guarantee_claims(*, loss: np.ndarray, guaranteed: np.ndarray, platform: np.ndarray, shadow: np.ndarray,
                     n_platforms: int) -> GuaranteeClaims:
    """Each platform's guarantee claims: the sum of ``loss`` over its guaranteed licensed loans.

    Args:
        loss: per billed loan, this month's charge-off loss.
        guaranteed, platform, shadow: per billed loan, book fields (model/borrowers.py ``LoanBook``).
        n_platforms: number of platforms.
    """
    covered = guaranteed & (platform >= 0) & ~shadow
    claims = sum_by(spill_key(platform, covered, n_platforms), loss, n_platforms) if n_platforms else np.zeros(0)
    return GuaranteeClaims(covered=covered, claims=claims)


@dataclass(frozen=True)
class Books:
    """The month's books.

    Per funder x platform (platform lending), arrays of shape (funders, platforms): ``income`` (the funder's
    part of interest paid), ``funding`` (funding cost), ``loss`` (losses the funder bears), ``balance``
    (end-of-month balance, new loans included) and ``npl`` (end-of-month NPL balance the funder bears).

    Per funder (direct lending): ``direct_income``, ``direct_cost`` (funding cost plus opex),
    ``direct_loss``, ``direct_balance`` (end of month, new loans included), ``direct_expected`` (expected
    profit of the direct book at the desk's own prices and loss estimates).

    Per platform: ``revenue`` (the originator's part of interest paid), ``opex``, ``outstanding`` (end of
    month, new loans included), ``npl`` and ``loss`` (all losses on its loans, guaranteed or not).

    Per desk (platforms, then funders' direct desks): ``expected`` and ``realised`` losses for loss calibration.

    Totals over licensed loans: ``funder_loss_total``, ``guarantee_paid``, ``licensed_loss``, ``outstanding``
    and ``npl``.

    ``finished``: per live loan, repaid or charged off (to be removed from the book).
    """

    income: np.ndarray
    funding: np.ndarray
    loss: np.ndarray
    balance: np.ndarray
    npl: np.ndarray
    direct_income: np.ndarray
    direct_cost: np.ndarray
    direct_loss: np.ndarray
    direct_balance: np.ndarray
    direct_expected: np.ndarray
    revenue: np.ndarray
    opex: np.ndarray
    outstanding: np.ndarray
    platform_npl: np.ndarray
    platform_loss: np.ndarray
    expected: np.ndarray
    realised: np.ndarray
    funder_loss_total: float
    guarantee_paid: float
    licensed_loss: float
    outstanding_total: float
    npl_total: float
    finished: np.ndarray


def book_month(*, interest_paid: np.ndarray, balance_start: np.ndarray, loss: np.ndarray, chargeoff: np.ndarray,
               claims: GuaranteeClaims, paid: np.ndarray, platform_solvent: np.ndarray, balance: np.ndarray,
               platform: np.ndarray, funder: np.ndarray, desk: np.ndarray, apr: np.ndarray, funder_rate: np.ndarray,
               guaranteed: np.ndarray, shadow: np.ndarray, borrower: np.ndarray, pd_est: np.ndarray, dpd: np.ndarray,
               funding_cost: np.ndarray, direct_opex_rate: np.ndarray, opex_rate: np.ndarray, lgd: float,
               group: np.ndarray | None = None, weight: float = 1.0,
               pd_scale: np.ndarray | None = None) -> Books:
    """Book the month for every funder, platform and desk, given the guarantee claims the platforms paid.

    For a billed loan (the first ``n_old = interest_paid.size`` rows of the book): the funder's interest
    income is ``interest_paid * funder_rate / apr`` on a platform loan and all of it on a direct loan; the
    originator keeps the rest. Funding cost is ``balance_start * funding_cost / 12``, platform and direct
    opex ``balance_start * opex_rate / 12``. A guaranteed loss falls on the funder in the share its platform
    could not pay, ``1 - paid / claims``. End-of-month balances are zero for charged-off loans; NPL balances
    are those of borrowers at ``dpd >= NPL_DPD``, and the NPL a funder bears leaves out guaranteed loans of a
    platform still solvent after paying claims. Loans originated after billing (the remaining rows) add to
    end-of-month balances only. Expected losses per desk are ``balance_start * pd_est * lgd / 12``. Shadow
    loans are in no book. ``loss`` is booked as given (pass it through :func:`real_scale` first); NPL
    balances are taken to the real scale here with ``bal_end * pd_est`` as the proxy of a loan's expected
    bad balance, in ``group`` (per billed loan) with ``weight`` real borrowers per modelled one.

    Args:
        interest_paid, balance_start: per billed loan, from settlement (model/mechanisms/settlement.py).
        loss, chargeoff: per billed loan, from settlement.
        claims: from :func:`guarantee_claims`.
        paid: per platform, the claims it paid.
        platform_solvent: per platform, capital above zero after paying claims.
        balance, platform, funder, desk, apr, funder_rate, guaranteed, shadow, borrower, pd_est: per live loan,
            the whole book after settlement (model/borrowers.py ``LoanBook``).
        dpd: per borrower, days past due (in months) after settlement.
        funding_cost, direct_opex_rate: per funder.
        opex_rate: per platform.
        lgd: loss given default assumed by the desks' pricing (model/params.py).
        group, weight: see :func:`real_scale`; None or 1 keep NPL balances as sampled.
        pd_scale: per desk, the factor each desk applies to its PD estimates (loss calibration); None: 1.
            Used for ``direct_expected``: per funder, the month's expected profit of its direct book at its
            own prices and loss estimates, ``balance_start * (apr - funding_cost - opex - pd_est * pd_scale
            * lgd) / 12`` summed over its direct loans.
    """
    n_old = interest_paid.size
    P, F = opex_rate.size, funding_cost.size
    n_desks = P + F
    old = slice(0, n_old)
    lic = ~shadow[old]
    plat = platform[old]
    fund = funder[old]
    apr_o = apr[old]
    f_idx = np.maximum(fund, 0)
    # Each billed loan's bin once, for all the sums by it (sum_by): a funder x platform pair and a platform for
    # licensed platform loans, a funder for direct loans (taken out: about a quarter of the book), a desk.
    on_plat = lic & (plat >= 0)
    direct = np.flatnonzero(lic & (plat < 0))
    pair_key = spill_key(fund.astype(np.intp) * P + plat, on_plat, F * P)
    plat_key = spill_key(plat, on_plat, P)
    desk_key = spill_key(desk[old], lic, n_desks)
    fund_d = fund[direct].astype(np.intp)

    def by_pair(w: np.ndarray) -> np.ndarray:
        return sum_by(pair_key, w, F * P).reshape(F, P) if P else np.zeros((F, 0))

    def by_funder(w: np.ndarray) -> np.ndarray:
        return np.bincount(fund_d, weights=w[direct], minlength=F)

    def by_platform(w: np.ndarray) -> np.ndarray:
        return sum_by(plat_key, w, P)

    # A direct lender is its own originator and keeps all the interest; on platform loans it keeps its part.
    share_f = np.divide(funder_rate[old], apr_o, out=np.zeros(n_old), where=apr_o > 0)
    share_f[plat < 0] = 1.0
    f_income = interest_paid * share_f
    o_income = interest_paid - f_income
    bal0 = balance_start
    cost_f = funding_cost[f_idx]
    fcost = bal0 * cost_f / 12.0
    # What a platform could not pay of its guarantee claims falls back on the funders.
    cover = np.divide(paid, claims.claims, out=np.zeros(P), where=claims.claims > 0)
    # The funder's share of a loss, looked up by (guaranteed, platform or P): 1 - cover on a covered loan (a
    # guaranteed licensed platform loan), else 1 (loss * 1.0 is the loss, bit for bit).
    borne = np.concatenate([np.ones(P + 1), 1.0 - cover, [1.0]])
    funder_loss = loss * borne[plat_key + (P + 1) * guaranteed[old]]
    bal_end = balance[old] * ~chargeoff
    npl_end = bal_end * (dpd >= NPL_DPD)[borrower[old]]
    if group is not None:
        npl_end = real_scale(sampled=npl_end, proxy=bal_end * pd_est[old], group=group, weight=weight)
    # Funders judge partners by the bad loans they bear: guaranteed loans of a solvent guarantor are covered.
    solvent = np.r_[platform_solvent.astype(bool), False]
    covered = guaranteed[old] & solvent[plat_key]
    npl_borne = npl_end * ~covered

    # Loans originated after billing (new and shadow loans of this month) are part of end-of-month balances.
    fresh = new_loan_balances(balance=balance, shadow=shadow, platform=platform, funder=funder, n_old=n_old,
                              n_platforms=P, n_funders=F)
    inc_fp, cost_fp, loss_fp, bal_fp, npl_fp = (
        by_pair(w) for w in (f_income, fcost, funder_loss, bal_end, npl_borne))
    d_inc, d_cost, d_loss, d_bal = (by_funder(w) for w in (f_income, fcost, funder_loss, bal_end))
    if P:
        bal_fp = bal_fp + fresh.by_pair
    d_bal = d_bal + fresh.by_funder
    # The direct books' opex and expected margins, computed for direct loans only.
    bal0_d = bal0[direct]
    opex_d = direct_opex_rate[fund_d]
    d_opex = np.bincount(fund_d, weights=bal0_d * opex_d / 12.0, minlength=F)
    scale_d = pd_scale[desk[direct]] if pd_scale is not None else 1.0
    exp_margin = apr_o[direct] - cost_f[direct] - opex_d - pd_est[direct] * scale_d * lgd
    d_expected = np.bincount(fund_d, weights=bal0_d * exp_margin / 12.0, minlength=F)
    if P:
        rev = by_platform(o_income)
        opex = by_platform(bal0 * opex_rate[np.maximum(plat, 0)] / 12.0)
        out = by_platform(bal_end) + fresh.by_platform
        npl = by_platform(npl_end)
        ploss = by_platform(loss)
    else:
        rev = opex = out = npl = ploss = np.zeros(0)
    # Loss calibration: realised charge-off losses against the losses the desks' estimates expected.
    expected = sum_by(desk_key, bal0 * pd_est[old] * lgd / 12.0, n_desks)
    realised = sum_by(desk_key, loss, n_desks)
    finished = np.zeros(balance.size, dtype=bool)
    finished[old] = chargeoff | (balance[old] <= 1e-6)
    return Books(
        income=inc_fp, funding=cost_fp, loss=loss_fp, balance=bal_fp, npl=npl_fp,
        direct_income=d_inc, direct_cost=d_cost + d_opex, direct_loss=d_loss, direct_balance=d_bal,
        direct_expected=d_expected,
        revenue=rev, opex=opex, outstanding=out, platform_npl=npl, platform_loss=ploss,
        expected=expected, realised=realised,
        funder_loss_total=float(funder_loss[lic].sum()), guarantee_paid=float(paid.sum()),
        licensed_loss=float(loss[lic].sum()), outstanding_total=float(bal_end[lic].sum() + fresh.total),
        npl_total=float(npl_end[lic].sum()), finished=finished,
    )


@dataclass(frozen=True)
class NewVolumes:
    """This month's new licensed loans per funder.

    Attributes:
        platform_volume, direct_volume: per funder, principal lent through platforms and directly.
        apr_weighted: per funder, ``sum(principal * apr)``.
        near_cap_volume: principal priced within one point under the all-in cap of its funder's kind.
    """

    platform_volume: np.ndarray
    direct_volume: np.ndarray
    apr_weighted: np.ndarray
    near_cap_volume: float


def new_volume_by_funder(*, orig_step: np.ndarray, shadow: np.ndarray, funder: np.ndarray, platform: np.ndarray,
                         principal0: np.ndarray, apr: np.ndarray, t: int, cap_all_in: np.ndarray,
                         funder_kind: np.ndarray, n_funders: int) -> NewVolumes:
    """New licensed loans' volumes by funder and channel, APR-weighted volume, and volume bunched under the cap.

    Args:
        orig_step, shadow, funder, platform, principal0, apr: per live loan (model/borrowers.py ``LoanBook``).
        t: model month index; loans with ``orig_step == t`` are new.
        cap_all_in: all-in APR cap per funder kind (``inf`` where none; model/policy.py ``Rules``).
        funder_kind: kind code per funder (model/enums.py ``KIND_CODES``).
        n_funders: number of funders.
    """
    new = orig_step == t
    new &= ~shadow
    f = funder[new]
    amt = principal0[new]
    is_plat = platform[new] >= 0
    platform_volume = np.bincount(f[is_plat], weights=amt[is_plat], minlength=n_funders)
    direct_volume = np.bincount(f[~is_plat], weights=amt[~is_plat], minlength=n_funders)
    apr_new = apr[new]
    apr_weighted = np.bincount(f, weights=amt * apr_new, minlength=n_funders)
    # Bunching: new volume priced within one point under the all-in cap of its funder's kind.
    cap = cap_all_in[funder_kind[f]] if f.size else np.zeros(0)
    capped = np.isfinite(cap)
    near_cap = float(amt[capped & (apr_new >= cap - 0.01)].sum())
    return NewVolumes(platform_volume=platform_volume, direct_volume=direct_volume, apr_weighted=apr_weighted,
                      near_cap_volume=near_cap)
