"""The initial 2024 world: institutions, their whitelists and the stock of loans, before burn-in.

Everything here runs once, in :class:`model.lending.LendingModel`'s constructor, with the run's one
generator; the draws happen in the order written here (platforms, funders, whitelists, the loan book).
Yuan amounts in parameters are per 1,000 modelled borrowers and are multiplied by ``scale``.
"""

from __future__ import annotations

from collections.abc import Sequence

import mesa
import numpy as np

from model.borrowers import BorrowerPopulation, LoanBook, NewLoans
from model.enums import KIND_CODES, LARGE_BANK_KINDS, FunderKind, Region, Tier
from model.institutions import Funder, Platform
from model.mechanisms.acquisition import sample_weighted
from model.mechanisms.funding import pick_by_weight, preference_scores
from model.mechanisms.pricing import annual_pd
from model.mechanisms.underwriting import Desks, Lenders, new_instalment_share, price
from model.params import Params
from model.policy import Rules


def build_platforms(model: mesa.Model, params: Params, scale: float) -> tuple[list[Platform], np.ndarray]:
    """Head, waist and tail platforms with Zipf sizes within each tier; returns them and their balance weights.

    A platform's weight is its calibrated share of platform balances: ``balance_share`` of its tier split
    over the tier by ``rank ** -size_exponent`` (weights sum to 1 when any platform exists).
    """
    pp = params.platforms
    weights = []
    for tier, tp in ((Tier.HEAD, pp.head), (Tier.WAIST, pp.waist), (Tier.TAIL, pp.tail)):
        if tp.count <= 0:
            continue
        zipf = np.arange(1, tp.count + 1, dtype=float) ** -tp.size_exponent
        weights.append((tier, tp, tp.balance_share * zipf / zipf.sum()))
    weight = np.concatenate([w for _, _, w in weights]) if weights else np.zeros(0)
    total_w = weight.sum()
    if total_w > 0:
        weight = weight / total_w
    platforms = []
    for tier, tp, _w in weights:
        for _ in range(tp.count):
            platforms.append(Platform(model, len(platforms), tier, tp, pp, 0.0, scale, model.rng))
    return platforms, weight


def build_funders(model: mesa.Model, params: Params, n_platforms: int, scale: float) -> list[Funder]:
    """Every funder kind's funders, with log-normal sizes scaled to mean exactly 1 within the kind (its total is
    its calibrated one) and regions cycled from the kind's pattern.

    The first ``bigtech_count`` microlenders are big-tech ones: larger budgets and cheap ABS funding. Every
    platform budget is scaled by ``funders.platform_supply`` (1: the kinds' budgets as set).
    """
    funders: list[Funder] = []
    for kind in FunderKind:
        fp = getattr(params.funders, kind.value)
        sizes = np.exp(fp.size_sigma * model.rng.standard_normal(fp.count))
        if sizes.size:
            sizes = sizes / sizes.mean()  # the kind's total is its calibrated one; only its split is drawn
        for k in range(fp.count):
            bigtech = kind == FunderKind.MICROLENDER and k < fp.bigtech_count
            region = Region(fp.regions[k % len(fp.regions)])
            factor = sizes[k] * (fp.bigtech_budget_factor if bigtech else 1.0)
            cost = fp.bigtech_funding_cost if bigtech else None
            funders.append(Funder(model, len(funders), kind, region, fp, n_platforms, scale, factor, cost, bigtech,
                                  params.funders.platform_supply))
    return funders


def lenders_of(funders: Sequence[Funder]) -> Lenders:
    """The funders' fixed pricing inputs as arrays."""
    return Lenders(
        kind=np.array([KIND_CODES[f.kind] for f in funders], dtype=np.int64),
        is_bank=np.array([f.kind.is_bank for f in funders], dtype=bool),
        cost=np.array([f.funding_cost for f in funders], dtype=float),
        spread=np.array([f.spread for f in funders], dtype=float),
        sigma=np.array([f.sigma for f in funders], dtype=float),
    )


def initial_whitelists(rng: np.random.Generator, params: Params, platforms: Sequence[Platform],
                       funders: Sequence[Funder], weight: np.ndarray) -> None:
    """Each platform-lending funder lists its partners, weighted by preference; nobody is left unfunded.

    A funder lists ``min(partners, P)`` platforms drawn without replacement with probability proportional
    to ``exp(sharpness * score)`` (Gumbel top-k). A platform nobody listed is given to a random funder other
    than the large state-owned and joint-stock banks.
    """
    n_p = len(platforms)
    if n_p == 0:
        return
    fp = params.funders
    age = np.array([p.age_months for p in platforms])
    comp = np.array([p.complaints for p in platforms])
    score = preference_scores(weight, age, np.zeros(n_p), comp, fp.pref_scale, fp.pref_age, fp.pref_track,
                              fp.pref_compliance)
    lenders = [f for f in funders if f.in_platform_lending]
    for f in lenders:
        k = min(f.capacity_partners, n_p)
        if k <= 0:
            continue
        keys = fp.pref_sharpness * score + rng.gumbel(size=n_p)
        f.admit(np.argsort(-keys)[:k])
    if not lenders:
        return
    covered = np.zeros(n_p, dtype=bool)
    for f in lenders:
        covered |= f.partners
    small = [f for f in lenders if f.kind not in LARGE_BANK_KINDS] or lenders
    for p in np.flatnonzero(~covered):
        small[int(rng.integers(len(small)))].admit(np.array([p]))


def initial_book(rng: np.random.Generator, *, params: Params, borrowers: BorrowerPopulation, loans: LoanBook,
                 platforms: Sequence[Platform], funders: Sequence[Funder], weight: np.ndarray, desks: Desks,
                 lenders: Lenders, rules: Rules) -> None:
    """The 2024 stock of loans: indebted borrowers, their loans, desks, funders and prices.

    Platforms hold loans in proportion to their calibrated balance shares (only loans their risk appetite
    admits), direct desks in proportion to direct budgets. Stock loans priced above today's cap stay at the
    cap (they were written under it). Platforms' capital, plans and data, and funders' balances, are set
    from the book.
    """
    bp = params.borrowers
    b = borrowers
    n = b.n
    n_platforms, n_funders = len(platforms), len(funders)
    if n == 0:
        return
    seg = b.segment
    indebted = rng.random(n) < np.asarray(bp.initial_indebted)[seg]
    extra = rng.poisson(np.asarray(bp.initial_extra_loans)[seg])
    count = np.where(indebted, np.minimum(1 + extra, bp.max_loans), 0)
    borrower = np.repeat(np.arange(n), count)
    m = borrower.size
    if m == 0:
        return
    amount = b.loan_size[borrower] * rng.uniform(0.5, 1.0, m)
    months_left = rng.integers(1, bp.term_months + 1, m)
    direct_budget = np.array([f.direct_budget for f in funders])
    platform_budget = sum(f.platform_budget for f in funders)
    direct_share = direct_budget.sum() / max(direct_budget.sum() + platform_budget, 1e-12)
    if n_platforms == 0:
        direct_share = 1.0 if direct_budget.sum() > 0 else 0.0
    dsti0 = amount * new_instalment_share(params) / np.maximum(b.income[borrower], 1.0)
    pd0 = annual_pd(b.hazard[borrower] * params.pricing.shock_to_default, dsti0, params.pricing.leverage_sensitivity)
    is_direct = rng.random(m) < direct_share
    desk = np.full(m, -1, dtype=np.int64)
    funder = np.full(m, -1, dtype=np.int64)
    if n_platforms > 0:
        target = np.array([p.target_pd for p in platforms])
        plat_loans = np.flatnonzero(~is_direct)
        # Groups of equal risk appetite keep the draw vectorized.
        thresholds = np.unique(target)
        for lo_i, thr in enumerate(thresholds):
            lo = thresholds[lo_i - 1] if lo_i > 0 else -np.inf
            sel = plat_loans[(pd0[plat_loans] > lo) & (pd0[plat_loans] <= thr)]
            if lo_i == len(thresholds) - 1:
                sel = plat_loans[pd0[plat_loans] > lo]
            w = np.where(target >= thr, weight, 0.0)
            if w.sum() <= 0:
                w = weight.copy()
            desk[sel] = sample_weighted(rng, w, sel.size) if sel.size else desk[sel]
        partners = (np.array([f.partners for f in funders]).T if funders else np.zeros((n_platforms, 0)))
        budgets = np.array([f.platform_budget for f in funders])
        has = np.flatnonzero(desk >= 0)
        funder[has] = pick_by_weight(rng, desk[has], partners * budgets[None, :])
    if direct_budget.sum() > 0:
        dl = np.flatnonzero(is_direct | (funder < 0))
        f_pick = sample_weighted(rng, direct_budget, dl.size)
        funder[dl] = f_pick
        desk[dl] = n_platforms + f_pick
    ok = funder >= 0
    borrower, amount, months_left, desk, funder, pd0 = (
        x[ok] for x in (borrower, amount, months_left, desk, funder, pd0))
    m = borrower.size
    is_plat = desk < n_platforms
    q = price(desks, lenders, params, rules, desk=desk, funder=funder, est_pd=pd0, guaranteed=np.zeros(m, dtype=bool))
    apr = np.where(q["ok"], q["apr"], np.maximum(q["required"], 0.0))
    cap = np.minimum(rules.cap_nominal, rules.cap_all_in)[lenders.kind[funder]]
    apr = np.minimum(apr, np.where(np.isfinite(cap), cap + desks.fee[desk], apr))
    guar_share = np.array([p.guarantee_share for p in platforms] + [0.0] * n_funders)
    guaranteed = is_plat & (rng.random(m) < guar_share[desk])
    funder_rate = np.minimum(lenders.cost[funder] + lenders.spread[funder]
                             + np.where(guaranteed, 0.0, pd0 * params.pricing.lgd), apr)
    rows = loans.add(NewLoans(
        borrower=borrower, desk=desk, funder=funder, platform=np.where(is_plat, desk, -1), principal=amount,
        apr=apr, funder_rate=funder_rate, guaranteed=guaranteed, term=bp.term_months,
        amortizing_share=bp.amortizing_share, step=0, pd_est=pd0,
    ))
    elapsed = bp.term_months - months_left
    loans.months_left[rows] = months_left
    loans.balance[rows] = amount - loans.amort[rows] * elapsed
    loans.orig_step[rows] = -params.run.burn_in - elapsed
    bal = loans.view("balance")
    plat = loans.view("platform")
    life = bp.loan_life_months
    for p in platforms:
        sel = plat == p.index
        p.set_initial_book(float(bal[sel].sum()), int(sel.sum()), life, bp.term_months)
    fund = loans.view("funder")
    plat_bal = np.bincount(fund[plat >= 0], weights=bal[plat >= 0], minlength=n_funders)
    dir_bal = np.bincount(fund[plat < 0], weights=bal[plat < 0], minlength=n_funders)
    for f in funders:
        f.set_initial_book(float(plat_bal[f.index]), float(dir_bal[f.index]))
