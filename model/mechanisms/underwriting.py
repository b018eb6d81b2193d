"""Underwriting and pricing (step 6 of the month): who applies where, and what each desk offers.

A *desk* is any place a loan is originated: desks ``0..P-1`` are the platforms, desk ``P + f`` is funder
``f``'s direct-lending desk. Applications and offers are the named records that cross phases: acquisition
and renewal produce :class:`Applications`, :func:`underwrite` turns them into :class:`Offers`, and funding
commits the offers it can fund. Quoting has no side effects on the book.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from model.enums import Channel
from model.mechanisms.funding import pick_by_weight
from model.mechanisms.pricing import annual_pd, estimate_pd, loan_caps, quote
from model.params import Params
from model.policy import Rules

REPEAT = int(Channel.REPEAT)


@dataclass
class Applications:
    """Loan applications of one month (one row each): who asks which desk for how much, through which channel.

    ``funder`` is the funder a renewal must stay with (its original one); None lets the desk draw a funder
    from its credit lines.
    """

    borrower: np.ndarray
    desk: np.ndarray
    channel: np.ndarray
    amount: np.ndarray
    funder: np.ndarray | None = None

    @classmethod
    def empty(cls) -> Applications:
        return cls(*(np.empty(0, dtype=np.int64) for _ in range(3)), np.empty(0))

    def subset(self, mask: np.ndarray) -> Applications:
        return Applications(self.borrower[mask], self.desk[mask], self.channel[mask], self.amount[mask],
                            None if self.funder is None else self.funder[mask])


@dataclass
class Offers:
    """Each application's screened, priced offer (one row per application).

    Attributes:
        apr: all-in price offered; funder_rate: the funder's part; originator_rate: the rest.
        required, minimum: all-in price with the full and the thinnest spread.
        ok: approved (a funder, an active desk, within appetite, caps, borrowing limit and DSTI, and the
            funder's own screen where it applies).
        funder: funder of the loan (-1 none).
        est_pd, true_pd: the desk's PD estimate and the applicant's true annual PD.
        guaranteed: the platform guarantees the loan.
        priced_out: refused because of the cap: a funder, an active desk, within borrowing limit and DSTI and
            within the appetite the desk would have without a cap (``Desks.target_uncapped``), yet not served,
            because no price within the binding cap covers the loan's cost at the thinnest spread or because
            the desk cut its appetite under the cap.
    """

    apr: np.ndarray
    funder_rate: np.ndarray
    originator_rate: np.ndarray
    required: np.ndarray
    minimum: np.ndarray
    ok: np.ndarray
    funder: np.ndarray
    est_pd: np.ndarray
    true_pd: np.ndarray
    guaranteed: np.ndarray
    priced_out: np.ndarray

    def subset(self, mask: np.ndarray) -> Offers:
        return Offers(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


@dataclass(frozen=True)
class Desks:
    """Per-desk inputs of screening and pricing (platforms first, then each funder's direct desk).

    Desks change only between months (learning at month end, re-planning at quarter end), so one
    gathering serves every quote of the month.
    """

    sigma: np.ndarray
    markup: np.ndarray
    take: np.ndarray
    fee: np.ndarray
    target: np.ndarray
    active: np.ndarray
    pd_scale: np.ndarray
    #: The risk appetite each desk would have without a cap's cut (:func:`model.mechanisms.reviews.cap_appetite`);
    #: None: the same as ``target``. An applicant within it whom the cap leaves unserved is priced out by the cap.
    target_uncapped: np.ndarray | None = None


@dataclass(frozen=True)
class Lenders:
    """The funders' fixed pricing inputs as arrays (index = funder index): exogenous for the whole run.

    Attributes:
        kind: funder-kind code (index into the rules' per-kind caps).
        is_bank: banks bear the risk-control rules.
        cost, spread, sigma: funding cost, required margin (annual) and own-screen noise (log SD).
    """

    kind: np.ndarray
    is_bank: np.ndarray
    cost: np.ndarray
    spread: np.ndarray
    sigma: np.ndarray


def price(desks: Desks, lenders: Lenders, params: Params, rules: Rules, *, desk: np.ndarray, funder: np.ndarray,
          est_pd: np.ndarray, guaranteed: np.ndarray) -> dict[str, np.ndarray]:
    """Quote each loan at its desk for its funder under the funder kind's caps (:func:`pricing.quote`).

    The caps are those in force, tightened by the new cap where a loan of ``borrowers.term_months`` would still
    run at an announced stock clean-up deadline (:func:`pricing.loan_caps`; ``Rules.stock_cap_*``).
    """
    kind = lenders.kind[funder]
    cap_nominal, cap_all_in = loan_caps(
        cap_nominal=rules.cap_nominal[kind], cap_all_in=rules.cap_all_in[kind],
        announced_nominal=rules.stock_cap_nominal[kind], announced_all_in=rules.stock_cap_all_in[kind],
        months_to_start=rules.stock_cap_months[kind], term_months=params.borrowers.term_months,
    )
    return quote(
        funding_cost=lenders.cost[funder], spread=lenders.spread[funder], est_pd=est_pd,
        lgd=params.pricing.lgd, take_rate=desks.take[desk], service_fee=desks.fee[desk], guaranteed=guaranteed,
        guarantee_margin=params.platforms.guarantee_margin, markup=desks.markup[desk],
        cap_nominal=cap_nominal, cap_all_in=cap_all_in, min_spread_share=params.pricing.min_spread_share,
    )


def new_instalment_share(params: Params) -> float:
    """Monthly debt service of a new loan per yuan borrowed: 20%/12 interest plus its amortization."""
    bp = params.borrowers
    return 0.2 / 12.0 + bp.amortizing_share / bp.term_months


def underwrite(rng: np.random.Generator, apps: Applications, *, desks: Desks, lenders: Lenders, params: Params,
               rules: Rules, lines: np.ndarray, guarantee_share: np.ndarray, income: np.ndarray,
               hazard: np.ndarray, shocked: np.ndarray, dsti: np.ndarray, debt_licensed: np.ndarray) -> Offers:
    """Screen and price each application. No side effects on the book.

    The desk estimates the applicant's PD with noise set by its risk-control capability (scaled by its own
    loss experience), refuses PDs above its appetite, and prices the loan for the funder drawn from its
    credit lines (or forced, for renewals) under that funder kind's binding cap, and within the new cap where
    the loan would still run at an announced clean-up deadline (renewals too: see :func:`price`). Where core
    risk control cannot be outsourced, the bank's own (noisier) screen must also pass and the platform may not
    guarantee the loan; from the ban's announcement this holds already, with the share of the ban's practice
    banks have adopted (``Rules.no_outsourcing_share``), for bank loans that would still run when it starts
    (``Rules.no_outsourcing_months`` under ``borrowers.term_months``).

    Args:
        rng: the run's generator. Draws, in order: a funder per platform application (only when funders are
            drawn), one normal per application (the desk's estimate), one uniform per application (a bank's
            anticipation of an announced ban on outsourcing, only while it is partly adopted), one uniform per
            application (guarantee), and one normal per application where funders screen too.
        lines: the month's committed credit per (funder, platform) line, shape (funders, platforms). A platform
            routes an applicant to a funder in proportion to them; whether the line still has room is decided
            at funding (:func:`model.mechanisms.funding.fund_from_pools`), so the demand a platform attracts
            is measured whether or not its lines ran out this month.
        guarantee_share: share of new loans each platform guarantees now; one extra trailing 0 for direct desks.
        income, hazard, shocked, dsti, debt_licensed: borrower arrays (monthly income, monthly shock hazard,
            in a shock now, current debt service to income, licensed debt).
    """
    prm = params
    n = apps.borrower.size
    n_funders, n_platforms = lines.shape
    if apps.funder is not None:
        funder = apps.funder.copy()
    else:
        funder = np.where(apps.desk >= n_platforms, apps.desk - n_platforms, -1)
        on_plat = apps.desk < n_platforms
        if on_plat.any() and n_funders:
            # A platform routes each applicant to one of its funders in proportion to this month's lines,
            # tilted toward cheap money: weight ~ line * (1 / funding cost)^gamma.
            gamma = prm.platforms.cheap_funding_preference
            cheap = (lenders.cost.min() / np.maximum(lenders.cost, 1e-6)) ** gamma
            funder[on_plat] = pick_by_weight(rng, apps.desk[on_plat], lines.T * cheap[None, :])
    has_funder = funder >= 0
    f_safe = np.maximum(funder, 0)
    bor = apps.borrower
    # A renewal replaces a loan already in the borrower's DSTI; a new loan adds to it.
    new_sched = np.where(apps.channel == REPEAT, 0.0, apps.amount * new_instalment_share(prm))
    inc = np.maximum(income[bor], 1.0)
    dsti_after = dsti[bor] + new_sched / inc
    true_pd = annual_pd(hazard[bor] * prm.pricing.shock_to_default, dsti_after, prm.pricing.leverage_sensitivity)
    # A borrower in an income shock shows it in bureau data; lenders' models see a much higher risk.
    true_pd = np.where(shocked[bor], np.maximum(true_pd, prm.pricing.shock_pd), true_pd)
    noise = desks.sigma[apps.desk] * np.where(apps.channel == REPEAT, prm.platforms.repeat_noise_factor, 1.0)
    # Each desk scales its model's PD by its own realised-to-expected loss experience.
    est = np.minimum(estimate_pd(true_pd, noise, rng.standard_normal(n)) * desks.pd_scale[apps.desk], 1.0)
    is_plat = apps.desk < n_platforms
    # The ban in force; or announced, with a loan of the usual term still running when it starts: the bank will bear
    # that loan's risk, and it already treats such loans as under the ban with the share of the ban's practice it
    # has adopted (policy.phase_in, rising from 0 at the announcement to 1 at the start).
    banned: bool | np.ndarray = rules.no_outsourcing
    if not banned and rules.no_outsourcing_months < prm.borrowers.term_months and rules.no_outsourcing_share > 0:
        banned = rng.random(n) < rules.no_outsourcing_share
    bank_rule = banned & lenders.is_bank[f_safe]
    guaranteed = is_plat & ~bank_rule & (rng.random(n) < guarantee_share[np.where(is_plat, apps.desk, n_platforms)])
    q = price(desks, lenders, prm, rules, desk=apps.desk, funder=f_safe, est_pd=est, guaranteed=guaranteed)
    limit_ok = debt_licensed[bor] + apps.amount <= rules.borrowing_limit * 12.0 * income[bor]
    servable = has_funder & desks.active[apps.desk] & limit_ok & (dsti_after <= prm.pricing.max_dsti)
    ok = servable & (est <= desks.target[apps.desk]) & q["ok"]
    # Priced out by the cap: within the appetite the desk would have without a cap, and not served, whether the
    # cap's price test refused the loan or the appetite the cap made the desk cut did.
    target_u = desks.target if desks.target_uncapped is None else desks.target_uncapped
    uncapped_ok = servable & (est <= target_u[apps.desk])
    screens = is_plat & (bank_rule | prm.pricing.funder_screens_always)
    if screens.any():
        est_f = estimate_pd(true_pd, lenders.sigma[f_safe], rng.standard_normal(n))
        qf = price(desks, lenders, prm, rules, desk=apps.desk, funder=f_safe, est_pd=est_f,
                   guaranteed=np.zeros(n, dtype=bool))
        ok &= ~screens | qf["ok"]
    return Offers(apr=q["apr"], funder_rate=q["funder_rate"], originator_rate=q["originator_rate"],
                  required=q["required"], minimum=q["minimum"], ok=ok, funder=funder, est_pd=est, true_pd=true_pd,
                  guaranteed=guaranteed, priced_out=uncapped_ok & ~ok)
