"""Reviews and exits (step 13 of the month): platforms re-plan or exit, funders review their direct lending,
their capital and their whitelists.

Pure decisions on a quarter's record; the agents (model/institutions.py) hold the record, call these
functions and apply what they decide. Loss calibration, which every lender runs monthly on its own record,
is here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from model.mechanisms.acquisition import update_mix
from model.params import PlatformsParams

#: Quarterly weight of a funder's older records: its trailing-year accounts and its own record of a platform
#: fade by this factor a quarter (a quarter four reviews back counts about a third).
QUARTER_FADE = 0.75


def loss_calibration(*, expected_ewm: float, realised_ewm: float, expected: float, realised: float,
                     decay: float) -> tuple[float, float, float | None]:
    """Update a lender's loss record and the factor it applies to its PD estimates.

    ``R`` and ``E`` are exponentially weighted (decay ``decay``) realised and expected losses;
    ``pd_scale = (R + prior) / (E + prior)`` with ``prior`` six months of this month's expected losses at a
    ratio of one, so that a thin record moves the factor little; clipped to [0.5, 3].

    Returns:
        ``(E, R, pd_scale)``; ``pd_scale`` is None when there is no record at all (keep the old factor).
    """
    e = decay * expected_ewm + expected
    r = decay * realised_ewm + realised
    prior = 6.0 * expected
    if e + prior > 0:
        return e, r, float(np.clip((r + prior) / (e + prior), 0.5, 3.0))
    return e, r, None


def expected_partner_profit(*, q_income: np.ndarray, q_cost: np.ndarray, q_balance: np.ndarray,
                            loss_rate: np.ndarray, reach: np.ndarray | None = None,
                            record_balance: np.ndarray | None = None,
                            record_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The balance a funder expects each candidate partner to bring, and what it expects each to earn it in a
    quarter, before the per-partner charge.

    A partner is expected to bring the funder's mean balance per partner with business this quarter, but no
    more than its own share of the candidate's business (``reach``: the candidate's balance divided among its
    funders, the new one included), and no more than the funder's own record of the candidate allows
    (``record_balance``, the average balance it brought in its last quarter as a partner; NaN where none): the
    record divided by ``record_weight``, a weight that fades as the record ages, so the cap relaxes with time
    (by a third a quarter with ``QUARTER_FADE``) and a fresh record binds. All at the funder's own
    annual margin over funding cost on its platform book, less the candidate's own annual loss rate (its public
    record: the funder bears the risk of each loan it funds): ``b * (m - loss_rate) / 4`` with
    ``b = min(sum(q_balance) / 3 / n_business, reach, record / w)`` and
    ``m = 12 * sum(q_income - q_cost) / sum(q_balance)``. Arrays are over platforms; ``q_balance`` sums
    the quarter's three month-end balances.

    Returns:
        ``(b, profit)``: per platform (zeros for a funder with no platform business).
    """
    business = q_balance > 0
    total = float(q_balance.sum())
    if not business.any() or total <= 0:
        return np.zeros_like(loss_rate, dtype=float), np.zeros_like(loss_rate, dtype=float)
    per_partner = np.full(loss_rate.shape, total / 3.0 / int(business.sum()))
    if reach is not None:
        per_partner = np.minimum(per_partner, reach)
    if record_balance is not None:
        known = np.isfinite(record_balance)
        w = np.ones_like(per_partner) if record_weight is None else np.asarray(record_weight, dtype=float)
        bound = np.divide(np.where(known, record_balance, 0.0), w, out=np.full_like(per_partner, np.inf),
                          where=known & (w > 0))
        per_partner = np.minimum(per_partner, bound)
    margin = 12.0 * float((q_income - q_cost).sum()) / total
    return per_partner, per_partner * (margin - loss_rate) / 4.0


def partner_charge(partner_cost_q: float, anticipated_cost_q: float, regime_announced: bool) -> float:
    """What a listed partner must earn a funder in a quarter: the per-partner cost, plus, ahead of an announced
    regime, the share of its cost the funder charges itself (a charge in the review only, not a cost booked)."""
    return partner_cost_q + (anticipated_cost_q if regime_announced else 0.0)


#: The per-partner records a funder reviews (arrays over platforms), in the order
#: :func:`consolidate_partner_records` takes them.
PARTNER_RECORDS = ("q_income", "q_cost", "q_loss", "q_balance", "q_npl")


def consolidate_partner_records(records: dict[str, np.ndarray], partners: np.ndarray,
                                charge: float) -> dict[str, np.ndarray]:
    """Funders' quarter records per partner as they stand once the partners that cannot pay their charge have left.

    Under a per-partner charge (a whitelist regime, in force or announced) a platform's business does not leave
    with a funder that drops it: the funders that stay take it over. So partners leave a platform weakest first,
    and each one's business (its balance) passes to those still listed with business there, in proportion to
    their balances; a partner that covers its charge once the weaker ones have left stays. Each heir earns on
    what it takes over what it earns on its own business with the platform (its income, funding cost, losses and
    bad loans per yuan of balance), so a partner that lost money before the charge only loses more, and one
    lumpy charge-off does not pass from one funder's record to another's. Reviewed all at once on their own
    records, every funder of a platform with many small partners would drop it together, though a few of them
    could each have earned their charge on its business: a coordination failure of the simultaneous review, not
    a decision a funder would take.

    For each platform, until every listed partner covers ``charge`` (income - funding cost - loss >= charge) or
    none is left: the partner with the lowest such profit below the charge leaves, and every record of each
    remaining partner with a balance there grows by the factor ``1 + share * b_leaver / b_heir`` (``share``: the
    heir's part of the remaining balance). Partners that leave keep their own records (their reviews drop them).

    Args:
        records: the quarter's records per (funder, platform), keyed by :data:`PARTNER_RECORDS`; each
            shape (funders, platforms).
        partners: whitelists of funders still in platform lending, shape (funders, platforms).
        charge: the per-partner charge of the quarter (yuan).
    """
    out = {name: records[name].astype(float, copy=True) for name in PARTNER_RECORDS}
    income, cost, loss, balance = out["q_income"], out["q_cost"], out["q_loss"], out["q_balance"]
    for p in range(partners.shape[1]):
        listed = partners[:, p].copy()
        while listed.any():
            profit = income[:, p] - cost[:, p] - loss[:, p] - charge
            short = np.flatnonzero(listed & (profit < 0.0))
            if short.size == 0:
                break
            weakest = short[np.argmin(profit[short])]
            listed[weakest] = False
            heirs = np.flatnonzero(listed & (balance[:, p] > 0.0))
            if heirs.size == 0 or balance[weakest, p] <= 0.0:
                continue
            # Each heir's share of the leaver's balance, over its own: it takes share * b_leaver more business.
            growth = 1.0 + balance[weakest, p] / balance[heirs, p].sum()
            for name in PARTNER_RECORDS:
                out[name][heirs, p] *= growth
    return out


@dataclass(frozen=True)
class WhitelistReview:
    """A funder's quarterly whitelist decision.

    Attributes:
        partners: the whitelist after the review (over platforms).
        leave: the funder leaves platform lending for good.
        below_hurdle_quarters: consecutive reviews with the trailing-year return below the hurdle.
        year_business, year_balance: the trailing-year profit and average balance of platform lending.
    """

    partners: np.ndarray
    leave: bool
    below_hurdle_quarters: int
    year_business: float
    year_balance: float


def review_whitelist(*, partners: np.ndarray, q_income: np.ndarray, q_cost: np.ndarray, q_loss: np.ndarray,
                     q_balance: np.ndarray, q_npl: np.ndarray, q_partner_cost: float, q_budget: float,
                     q_lines: float, year_business: float, year_balance: float, below_hurdle_quarters: int,
                     hurdle: float, loss_tolerance: float, capacity_partners: int, leave_quarters: int,
                     new_partners_per_review: int, active: np.ndarray, score: np.ndarray, loss_rate: np.ndarray,
                     age_months: np.ndarray, complaints: np.ndarray, wants_funding: np.ndarray, whitelist_on: bool,
                     min_age: float, max_complaints: float, max_partners: int, partner_cost_q: float,
                     regime_announced: bool, anticipated_cost_q: float, allow_leave: bool,
                     reach: np.ndarray | None = None, record_balance: np.ndarray | None = None,
                     record_weight: np.ndarray | None = None) -> WhitelistReview:
    """A funder's quarterly whitelist review, on its quarter's record per partner (arrays over platforms).

    Drops partners that exited, lost money for the funder over the quarter after their monitoring cost
    (``partner_cost_q``), ran a non-performing ratio above ``loss_tolerance``, or fail a whitelist regime's
    admission criteria (age, complaints).

    A regime announced but not yet in force (``regime_announced``) is anticipated: its admission criteria
    already apply, to partners and candidates alike, and each partner must also cover ``anticipated_cost_q``,
    the share of the regime's per-partner cost the funder charges itself ahead of it (a charge in this test
    only, not a cost booked). As under the regime, a dormant partner must then pay its way too.

    Under a regime in force or announced, the funder answers for each partner it admits: a candidate is
    admitted only if :func:`expected_partner_profit` covers its charge and the funder's hurdle return on the
    expected balance (``hurdle / 4`` a quarter). The balance it expects is capped by ``reach`` (over platforms,
    optional): the candidate's own balance shared among its funders and this one, so a platform too small to
    pay for the vetting of one more funder is not taken on; and by the funder's own record of a candidate it
    listed before (``record_balance`` over ``record_weight``), so a platform it dropped for bringing too
    little business to pay its way is not re-admitted on the general expectation. A partner already listed stays
    while it pays its way after the charge: dropping it forgoes the vetting already done, admitting a new one
    takes new vetting. The charge is the same for every funder, so a funder whose partners bring small balances
    (a small bank) replaces fewer of the partners it drops.

    Leaves platform lending when the trailing-year return
    ``4 * year_business / year_balance`` (each a sum of quarters fading by ``QUARTER_FADE``) stayed below the hurdle for
    ``leave_quarters`` reviews, or when no partner is left and none is worth admitting. Otherwise admits up
    to ``new_partners_per_review`` of the best-scored eligible platforms that want funding, within its
    partner capacity (more when its budget sat idle) and a regime's ``max_partners``. Under a regime in force or
    announced it admits only when its budget sat idle: with every partner costing its charge, a new partner of a
    funder whose budget is already lent would only share out business its partners take.
    """
    partners = partners.copy()
    regime = whitelist_on or regime_announced
    charge = partner_charge(partner_cost_q, anticipated_cost_q, regime_announced)
    partner_profit = q_income - q_cost - q_loss - charge
    npl = np.divide(q_npl, q_balance, out=np.zeros_like(q_npl), where=q_balance > 0)
    eligible = active.copy()
    if regime:
        eligible &= (age_months >= min_age) & (complaints <= max_complaints)
    # A dormant partner costs little without a regime; under one (or ahead of it), every listed partner must
    # pay its way.
    had_business = q_balance > 0
    losing = (partner_profit < 0) & (had_business | regime)
    drop = partners & (~eligible | losing | (npl > loss_tolerance))
    partners &= ~drop

    # The hurdle is judged on a trailing year so that one lumpy quarter of charge-offs does not decide it.
    business = q_income.sum() - q_cost.sum() - q_loss.sum() - q_partner_cost
    year_business = QUARTER_FADE * year_business + business
    year_balance = QUARTER_FADE * year_balance + q_balance.sum() / 3.0
    annual_return = 4.0 * year_business / year_balance if year_balance > 0 else 0.0
    below = below_hurdle_quarters + 1 if annual_return < hurdle else 0
    if allow_leave and below >= leave_quarters:
        return WhitelistReview(partners, True, below, year_business, year_balance)

    # A funder with idle budget looks for more partners beyond its usual list; a regime's limit still binds.
    idle = q_budget > 0 and q_lines < 0.8 * q_budget
    extra = new_partners_per_review if idle else 0
    cap = max(capacity_partners + extra, int(partners.sum()) + extra)
    if max_partners > 0:
        cap = min(cap, max_partners)
    candidates = eligible & ~partners & wants_funding & (loss_rate <= loss_tolerance)
    if regime:
        expected_balance, expected_profit = expected_partner_profit(q_income=q_income, q_cost=q_cost,
                                                                    q_balance=q_balance, loss_rate=loss_rate,
                                                                    reach=reach, record_balance=record_balance,
                                                                    record_weight=record_weight)
        candidates &= expected_profit > charge + hurdle / 4.0 * expected_balance
    n_new = min(cap - int(partners.sum()), new_partners_per_review)
    if regime and not idle:
        n_new = 0  # every partner costs its charge: a busy funder's new partner would only share out its business
    if n_new > 0 and candidates.any():
        idx = np.flatnonzero(candidates)
        partners[idx[np.argsort(-score[idx], kind="stable")[:n_new]]] = True
    if max_partners > 0 and partners.sum() > max_partners:
        idx = np.flatnonzero(partners)
        keep = idx[np.argsort(-score[idx], kind="stable")[:max_partners]]
        partners[:] = False
        partners[keep] = True
    # Every partner listed as "cooperation stopped" and nobody worth admitting: out of platform lending.
    leave = allow_leave and not partners.any()
    return WhitelistReview(partners, leave, below, year_business, year_balance)


@dataclass(frozen=True)
class DirectReview:
    """A funder's quarterly decision on its direct lending and its capital.

    Attributes:
        close_direct: the funder stops new direct lending for good (its direct book runs off, without renewals).
        fail: capital below zero: the funder stops all new lending, direct and through platforms.
        below_hurdle_quarters: consecutive reviews with the direct trailing-year return below the hurdle.
        year_business, year_balance: the trailing-year profit and average balance of direct lending.
        annual_return: ``4 * year_business / year_balance`` (0 without any direct balance).
    """

    close_direct: bool
    fail: bool
    below_hurdle_quarters: int
    year_business: float
    year_balance: float
    annual_return: float


def review_direct_lending(*, q_business: float, q_balance: float, year_business: float, year_balance: float,
                          below_hurdle_quarters: int, lending_directly: bool, hurdle: float, leave_quarters: int,
                          capital: float, capital_floor: float, allow_leave: bool) -> DirectReview:
    """A funder's quarterly review of its direct book and its capital.

    The direct account is kept like platform lending's (:func:`review_whitelist`): a trailing year of
    quarters, each a sum fading by ``QUARTER_FADE``, ``year_business`` of direct profit and ``year_balance`` of average
    direct balance (``q_balance`` is the sum
    of the quarter's three month-end balances). While the funder lends directly, a review counts as below the
    hurdle when the trailing-year return ``4 * year_business / year_balance`` is under ``hurdle`` or the desk
    held no direct balance all quarter (it earned nothing); ``leave_quarters`` such reviews in a row close
    the desk. Capital below ``capital_floor`` also closes it; capital below zero is failure, which closes it
    and ends platform lending too. Nothing closes while ``allow_leave`` is False (burn-in).

    Args:
        q_business, q_balance: the quarter's direct profit and sum of month-end direct balances (yuan). The
            funder passes the profit its book is expected to earn at its own prices and loss estimates, net of
            the desk's fixed cost (``Funder.record_month``): realised losses are sunk and fall on capital.
        year_business, year_balance: the trailing-year figures before this quarter.
        below_hurdle_quarters: the streak before this review.
        lending_directly: the direct desk is open (a closed desk's run-off is still booked, not judged).
        hurdle: annual return on balance below which direct lending is not worth it.
        leave_quarters: reviews below the hurdle in a row after which the desk closes.
        capital: the funder's capital now (yuan): initial capital plus every month's profit since.
        capital_floor: capital below which the desk closes (yuan).
        allow_leave: False during burn-in.
    """
    year_business = QUARTER_FADE * year_business + q_business
    year_balance = QUARTER_FADE * year_balance + q_balance / 3.0
    annual_return = 4.0 * year_business / year_balance if year_balance > 0 else 0.0
    below = below_hurdle_quarters + 1 if lending_directly and (annual_return < hurdle or q_balance <= 0) else 0
    fail = allow_leave and capital < 0
    close = allow_leave and lending_directly and (fail or below >= leave_quarters or capital < capital_floor)
    return DirectReview(close, fail, below, year_business, year_balance, annual_return)


class Exit(IntEnum):
    """A platform's exit decision at a review."""

    STAY = 0
    FAILURE = 1   # capital below zero: its guarantees are not honoured
    SOLVENT = 2   # leaves while solvent: wind-down or abroad (the agent draws which)


@dataclass(frozen=True)
class PlatformPlan:
    """A platform's quarterly plan.

    Attributes:
        planned_volume: new lending it plans and asks funding for each month.
        fundable: volume it expects funders to fund each month.
        target_pd: highest estimated PD it accepts.
        acq_intensity: multiplier of its acquisition budget.
        mix: acquisition budget shares over the bought channels.
        unfunded_quarters: consecutive quarters without credit lines.
        exit: whether and how it leaves.
    """

    planned_volume: float
    fundable: float
    target_pd: float
    acq_intensity: float
    mix: np.ndarray
    unfunded_quarters: int
    exit: Exit


def plan_quarter(pp: PlatformsParams, *, q_lines: float, q_demand: float, q_volume: float, q_profit: float,
                 q_value: np.ndarray, q_spend: np.ndarray, plan_floor: float, target_pd: float, target_pd0: float,
                 acq_intensity: float, mix: np.ndarray, allowed: np.ndarray, capital: float, capital0: float,
                 unfunded_quarters: int, allow_exit: bool) -> PlatformPlan:
    """Re-plan volume, risk appetite and channel mix on the quarter's record; decide whether to exit.

    Funding requests follow the demand borrowers brought (funded or not) with ``plan_headroom``, never below
    ``plan_floor``. After a quarter's loss the platform cuts acquisition (``shrink_factor``) and risk
    (``risk_cut``); after a profit both recover toward their original levels. The mix moves toward the
    channels that returned most per yuan. Capital below zero is a failure; ``unfunded_quarters`` quarters
    without lines, or capital below ``exit_capital_share`` of its initial capital, a solvent exit.
    """
    unfunded = unfunded_quarters + 1 if q_lines <= 0 else 0
    planned = max((1.0 + pp.plan_headroom) * max(q_demand, q_volume) / 3.0, plan_floor)
    fundable = max((1.0 + pp.plan_headroom) * q_lines / 3.0, plan_floor)
    if q_profit < 0:
        acq_intensity *= pp.shrink_factor
        target_pd *= pp.risk_cut
    else:
        target_pd = min(target_pd / pp.risk_cut, target_pd0)
        acq_intensity = min(acq_intensity / pp.shrink_factor, 1.0 + pp.growth_target)
    new_mix = update_mix(mix[None, :], q_value[None, :], q_spend[None, :], pp.mix_speed, allowed[None, :])[0]
    exit_ = Exit.STAY
    if allow_exit:
        if capital < 0:
            exit_ = Exit.FAILURE
        elif unfunded >= pp.unfunded_quarters or capital < pp.exit_capital_share * capital0:
            exit_ = Exit.SOLVENT
    return PlatformPlan(planned, fundable, target_pd, acq_intensity, new_mix, unfunded, exit_)


@dataclass(frozen=True)
class CapExposure:
    """Each platform's book against the caps announced or in force (arrays over platforms).

    Attributes:
        share_above: share of the platform's outstanding balance priced above the tightest cap announced or in
            force for its funder's kind (0: no book).
        pd_ceiling: balance-weighted mean, over its book, of the highest PD each loan could be priced at under
            that cap while still leaving the funder its full spread and the platform a share of its markup
            (``inf``: no book).
        in_force: some of its book is funded by kinds under a cap already in force.
    """

    share_above: np.ndarray
    pd_ceiling: np.ndarray
    in_force: np.ndarray


def cap_exposure(*, platform: np.ndarray, balance: np.ndarray, above: np.ndarray, max_pd: np.ndarray,
                 in_force: np.ndarray, n_platforms: int) -> CapExposure:
    """How much of each platform's book the caps would catch, from the platform's own loans.

    Args:
        platform: each loan's platform (-1 for direct and shadow loans, which are skipped).
        balance: each loan's outstanding balance.
        above: the loan is priced above the tightest cap, announced or in force, of its funder's kind.
        max_pd: the highest PD the loan could be priced at under that cap, on its own funder, fees and guarantee
            and with the margin the platform keeps (:func:`model.mechanisms.pricing.max_priceable_pd`).
        in_force: a cap is in force for the loan's funder kind.
        n_platforms: number of platforms.
    """
    on = platform >= 0
    p, bal = platform[on], balance[on]
    total = np.bincount(p, weights=bal, minlength=n_platforms)
    high = np.bincount(p, weights=bal * above[on], minlength=n_platforms)
    weighted = np.bincount(p, weights=bal * max_pd[on], minlength=n_platforms)
    forced = np.bincount(p, weights=bal * in_force[on], minlength=n_platforms)
    has = total > 0
    share = np.divide(high, total, out=np.zeros(n_platforms), where=has)
    ceiling = np.divide(weighted, total, out=np.full(n_platforms, np.inf), where=has)
    return CapExposure(share, ceiling, forced > 0)


def cap_appetite(*, target_pd: float, previous_pd: float, share_above: float, pd_ceiling: float,
                 in_force: bool, exposure: float, risk_cut: float) -> float:
    """A platform's risk appetite at a quarterly review under a cap announced or in force.

    Under a cap a platform does not chase loans it could write only by giving up its margin: it re-targets
    its risk to what it can still price under the cap with its funder's full spread and a share of its
    markup (``pd_ceiling``; the margin it keeps is ``platforms.cap_margin_share``). Where the plan's appetite
    (``target_pd``, after :func:`plan_quarter`) is above that ceiling, it cuts its appetite from where it was
    (``previous_pd``) by ``risk_cut``, not below the ceiling, and does not let it recover above the ceiling.
    Rising losses raise its PD estimates and so lower the ceiling further. An announced cap not yet in force
    acts so only on a platform with at least ``exposure`` of its book priced above it; a cap in force acts on
    every platform whose book it covers. Otherwise nothing changes.
    """
    if not (in_force or share_above >= exposure) or target_pd <= pd_ceiling:
        return target_pd
    return max(min(target_pd, previous_pd) * risk_cut, pd_ceiling)
