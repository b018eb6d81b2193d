"""Institutions as Mesa agents: funders (banks, consumer-finance companies, microlenders, trusts) and platforms.

Agents own their state and change it only through their own methods; the model computes monthly
flows over the vectorized loan book and hands each agent its figures. Yuan amounts in parameters
are per 1,000 modelled borrowers and are multiplied by ``scale = borrowers / 1000`` here.
"""

from __future__ import annotations

from collections.abc import Sequence

import mesa
import numpy as np
from mesa.agent import AgentSet

from model.enums import Channel, ExitMode, FunderKind, Region, Tier
from model.mechanisms import reviews
from model.mechanisms.acquisition import N_BUY_CHANNELS
from model.params import FunderParams, PlatformsParams, TierParams


def attribute_arrays(agents: AgentSet, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Several attributes of every agent of a set, one array each, read in one pass (index order)."""
    if not len(agents):
        return {name: np.zeros(0) for name in names}
    rows = agents.get(list(names))
    return {name: np.array(column) for name, column in zip(names, zip(*rows, strict=True), strict=True)}


class LossCalibrated:
    """Mixin for lenders that calibrate their PD model on their own loss record (platforms, direct lenders)."""

    pd_scale: float = 1.0
    loss_expected: float = 0.0
    loss_realised: float = 0.0

    def learn_losses(self, expected: float, realised: float) -> None:
        """Book this month's expected and realised losses; rescale PD estimates (:func:`reviews.loss_calibration`)."""
        self.loss_expected, self.loss_realised, scale = reviews.loss_calibration(
            expected_ewm=self.loss_expected, realised_ewm=self.loss_realised, expected=expected, realised=realised,
            decay=self.model.params.pricing.loss_memory)
        if scale is not None:
            self.pd_scale = scale


class Funder(LossCalibrated, mesa.Agent):
    """A licensed funder: a bank (five kinds), a consumer-finance company, a microlender or a trust (``kind``).

    Kinds differ in their parameters (budgets, funding cost, partners, direct lending) and in the rules that
    bind them, not in behaviour, so one class serves them all.

    Attributes:
        index: position in the model's funder arrays.
        kind, region: exogenous (scenario: funder counts and region patterns).
        funding_cost, spread, sigma: exogenous pricing inputs and own-screen noise (log SD).
        platform_budget, direct_budget: monthly yuan for new platform and direct loans. ``direct_budget``
            falls to zero for good when the funder closes its direct desk (quarterly reviews).
        partners: boolean array over platforms, the whitelist. Endogenous (quarterly reviews).
        in_platform_lending: False once the funder has left platform lending (permanent).
        platform_outstanding, direct_outstanding: balances, updated by the model each month.
        capital: ``capital_ratio`` of the initial balance plus every month's profit since (platform and
            direct business). Endogenous; below zero the funder fails and stops all new lending.
        year_direct_business, year_direct_balance: the direct-lending account, a trailing year of profit and
            average balance (quarters 0.75-decayed).
        failed: capital fell below zero at a review (permanent); the funder's book runs off.
    """

    def __init__(self, model: mesa.Model, index: int, kind: FunderKind, region: Region, fp: FunderParams,
                 n_platforms: int, scale: float, budget_factor: float = 1.0, funding_cost: float | None = None,
                 bigtech: bool = False, platform_supply: float = 1.0):
        super().__init__(model)
        self.index = index
        self.kind = kind
        self.region = region
        self.bigtech = bigtech
        self.funding_cost = fp.funding_cost if funding_cost is None else funding_cost
        self.spread = fp.spread
        self.sigma = fp.capability_sigma
        self.platform_budget = fp.platform_budget * scale * budget_factor * platform_supply
        self.direct_budget = fp.direct_budget * scale * budget_factor
        self.direct_opex_rate = fp.direct_opex_rate
        self.direct_fixed_cost = fp.direct_fixed_cost * scale
        self.direct_target_pd = fp.direct_target_pd
        self.capacity_partners = fp.partners
        self.hurdle = fp.hurdle
        self.loss_tolerance = fp.loss_tolerance
        self.capital_ratio = fp.capital_ratio
        self.capital = 0.0
        self.capital0 = 0.0
        self.failed = False
        self.scale = scale
        self.partners = np.zeros(n_platforms, dtype=bool)
        # The funder's own record of each platform: the average balance it brought in the last quarter it was a
        # partner (NaN: never one), and the reviews since.
        self.partner_record = np.full(n_platforms, np.nan)
        self.partner_record_age = np.zeros(n_platforms)
        self.in_platform_lending = self.platform_budget > 0
        self.started_in_platform_lending = self.in_platform_lending
        self.platform_limit = float("inf")
        self.banned = False
        self.platform_outstanding = 0.0
        self.direct_outstanding = 0.0
        self.below_hurdle_quarters = 0
        self.year_business = 0.0
        self.year_balance = 0.0
        self.below_hurdle_direct_quarters = 0
        self.year_direct_business = 0.0
        self.year_direct_balance = 0.0
        self.direct_return = 0.0
        self.profit = 0.0
        self.npl_ratio = 0.0
        self.pd_scale = 1.0
        self.loss_expected = 0.0
        self.loss_realised = 0.0
        self._reset_quarter(n_platforms)
        self._reset_direct_quarter()

    @property
    def direct_lending(self) -> bool:
        """Still lending directly: its direct desk is open (a positive direct budget)."""
        return self.direct_budget > 0

    @property
    def lending(self) -> bool:
        """Still lending: its direct desk is open, or it can fund platform loans now (in platform lending, with a
        partner, and room under any balance mandate, freeze or ban)."""
        return self.direct_lending or (bool(self.partners.any()) and self.platform_budget_now() > 0)

    def _reset_direct_quarter(self) -> None:
        self.q_direct_business = 0.0
        self.q_direct_balance = 0.0

    def _reset_quarter(self, n_platforms: int) -> None:
        self.q_income = np.zeros(n_platforms)
        self.q_cost = np.zeros(n_platforms)
        self.q_loss = np.zeros(n_platforms)
        self.q_balance = np.zeros(n_platforms)
        self.q_npl = np.zeros(n_platforms)
        self.q_partner_cost = 0.0
        self.q_budget = 0.0
        self.q_lines = 0.0

    def rebase_after_burn_in(self) -> None:
        """Capital back to ``capital_ratio`` of the burned-in book (platform plus direct); records are kept."""
        self.capital = self.capital0 = self.capital_ratio * (self.platform_outstanding + self.direct_outstanding)

    def admit(self, platforms: np.ndarray) -> None:
        """List these platforms (indices) on the whitelist."""
        self.partners[platforms] = True

    def set_initial_book(self, platform_outstanding: float, direct_outstanding: float) -> None:
        """Balances of the 2024 stock of loans this funder holds; capital is ``capital_ratio`` of their sum."""
        self.platform_outstanding = platform_outstanding
        self.direct_outstanding = direct_outstanding
        self.capital = self.capital0 = self.capital_ratio * (platform_outstanding + direct_outstanding)

    # ---------------------------------------------------------------- rules
    def set_platform_limit(self, limit: float, banned: bool) -> None:
        """Regulator's instruction: most platform balance allowed, and whether platform lending is banned."""
        self.platform_limit = limit
        if banned and not self.banned:
            self.banned = True
            self.leave_platform_lending()

    def leave_platform_lending(self) -> None:
        """Stop platform lending for good: every partner is listed as 'cooperation stopped'."""
        self.in_platform_lending = False
        self.partners[:] = False

    def close_direct_desk(self) -> None:
        """Stop direct lending for good: no new direct loans and no renewals; the direct book runs off."""
        self.direct_budget = 0.0

    def record_lines(self, budget: float, lines: float) -> None:
        """Note this month's budget and the lines it actually committed (for partner capacity decisions)."""
        self.q_budget += budget
        self.q_lines += lines

    def take_partner_records(self, records: dict[str, np.ndarray]) -> None:
        """Review on these per-partner records of the quarter (keys: :data:`reviews.PARTNER_RECORDS`)."""
        for name, values in records.items():
            setattr(self, name, values)

    def platform_budget_now(self) -> float:
        """Yuan available this month for platform loans, within any balance mandate or freeze."""
        if not self.in_platform_lending:
            return 0.0
        headroom = max(0.0, self.platform_limit - self.platform_outstanding)
        return float(min(self.platform_budget, headroom))

    # -------------------------------------------------------------- accounts
    def record_month(self, *, income: np.ndarray, funding: np.ndarray, loss: np.ndarray, balance: np.ndarray,
                     npl: np.ndarray, direct_income: float, direct_cost: float, direct_loss: float,
                     direct_balance: float, partner_cost_q: float, direct_expected: float = 0.0) -> None:
        """Book one month: per-partner flows of platform lending (arrays over platforms) and direct lending.

        ``direct_cost`` is funding plus servicing cost of the direct book (an open desk also pays its fixed
        cost), ``direct_balance`` its month-end balance, ``direct_expected`` the book's expected profit at
        the desk's own prices and loss estimates (what the direct review judges); ``partner_cost_q`` is the
        per-partner monitoring cost per quarter (already scaled to yuan). The month's profit, platform and
        direct business together, adds to capital.
        """
        monitoring = partner_cost_q / 3.0 * float(self.partners.sum())
        self.q_income += income
        self.q_cost += funding
        self.q_loss += loss
        self.q_balance += balance
        self.q_npl += npl
        self.q_partner_cost += monitoring
        self.platform_outstanding = float(balance.sum())
        self.direct_outstanding = direct_balance
        fixed = self.direct_fixed_cost if self.direct_lending else 0.0
        direct = direct_income - direct_cost - direct_loss - fixed
        # The desk is judged on what its book is expected to earn at its own prices and loss estimates: losses
        # already realised are sunk (capital bears them), and a lender keeps a desk whose business pays.
        self.q_direct_business += direct_expected - fixed
        self.q_direct_balance += direct_balance
        self.profit = float(income.sum() - funding.sum() - loss.sum() - monitoring) + direct
        self.capital += self.profit
        total = self.platform_outstanding + self.direct_outstanding
        self.npl_ratio = float(npl.sum()) / total if total > 0 else 0.0

    # --------------------------------------------------------------- reviews
    def review_direct_lending(self) -> None:
        """Quarterly review of the direct book and of capital (:func:`reviews.review_direct_lending`).

        Applies the decision: the direct desk closes for good, and a failed funder (capital below zero) also
        leaves platform lending. A failed funder is not reviewed again; its book runs off and its accounts go
        on being kept.
        """
        if self.failed:
            self._reset_direct_quarter()
            return
        fp = self.model.params.funders
        review = reviews.review_direct_lending(
            q_business=self.q_direct_business, q_balance=self.q_direct_balance,
            year_business=self.year_direct_business, year_balance=self.year_direct_balance,
            below_hurdle_quarters=self.below_hurdle_direct_quarters, lending_directly=self.direct_lending,
            hurdle=self.hurdle, leave_quarters=fp.leave_quarters, capital=self.capital,
            capital_floor=fp.capital_floor_share * self.capital0, allow_leave=True,
        )
        self.below_hurdle_direct_quarters = review.below_hurdle_quarters
        self.year_direct_business, self.year_direct_balance = review.year_business, review.year_balance
        self.direct_return = review.annual_return
        if review.close_direct:
            self.close_direct_desk()
        if review.fail:
            self.failed = True
            self.leave_platform_lending()
        self._reset_direct_quarter()

    def review_whitelist(self, *, active: np.ndarray, score: np.ndarray, loss_rate: np.ndarray,
                         age_months: np.ndarray, complaints: np.ndarray, wants_funding: np.ndarray,
                         whitelist_on: bool, min_age: float, max_complaints: float, max_partners: int,
                         partner_cost_q: float, regime_announced: bool = False,
                         anticipated_cost_q: float = 0.0, reach: np.ndarray | None = None) -> None:
        """Quarterly whitelist review on the quarter's record (:func:`reviews.review_whitelist`).

        Applies the decision: the new whitelist, or leaving platform lending for good. Array inputs are over
        platforms; ``regime_announced`` and ``anticipated_cost_q`` describe a whitelist regime announced but
        not yet in force.
        """
        if not self.in_platform_lending:
            self._reset_quarter(self.partners.size)
            return
        fp = self.model.params.funders
        review = reviews.review_whitelist(
            partners=self.partners, q_income=self.q_income, q_cost=self.q_cost, q_loss=self.q_loss,
            q_balance=self.q_balance, q_npl=self.q_npl, q_partner_cost=self.q_partner_cost, q_budget=self.q_budget,
            q_lines=self.q_lines, year_business=self.year_business, year_balance=self.year_balance,
            below_hurdle_quarters=self.below_hurdle_quarters, hurdle=self.hurdle, loss_tolerance=self.loss_tolerance,
            capacity_partners=self.capacity_partners, leave_quarters=fp.leave_quarters,
            new_partners_per_review=fp.new_partners_per_review, active=active, score=score, loss_rate=loss_rate,
            age_months=age_months, complaints=complaints, wants_funding=wants_funding, whitelist_on=whitelist_on,
            min_age=min_age, max_complaints=max_complaints, max_partners=max_partners, partner_cost_q=partner_cost_q,
            regime_announced=regime_announced, anticipated_cost_q=anticipated_cost_q, allow_leave=True, reach=reach,
            record_balance=self.partner_record, record_weight=reviews.QUARTER_FADE ** self.partner_record_age,
        )
        listed = self.partners
        self.partner_record_age += 1.0
        self.partner_record[listed] = self.q_balance[listed] / 3.0
        self.partner_record_age[listed] = 0.0
        self.partners = review.partners
        self.below_hurdle_quarters = review.below_hurdle_quarters
        self.year_business, self.year_balance = review.year_business, review.year_balance
        if review.leave:
            self.leave_platform_lending()
        self._reset_quarter(self.partners.size)


class Platform(LossCalibrated, mesa.Agent):
    """A lending-assistance platform (助贷平台).

    Attributes:
        index: position in the model's platform arrays.
        tier: head, waist or tail (exogenous).
        capital: equity (yuan); guarantees are paid from it. Endogenous.
        age_months: operating history. Endogenous (grows one a month).
        cum_loans: loans underwritten so far, the data its risk control learns from. Endogenous.
        mix: acquisition budget shares over [info_flow, api, ecosystem, referral]. Endogenous (quarterly).
        planned_volume: new lending the platform plans and asks funding for each month. Endogenous.
        target_pd: highest estimated PD it accepts. Endogenous (cut after losses).
        exit_mode: ACTIVE until it fails, winds down or goes abroad (permanent).
    """

    def __init__(self, model: mesa.Model, index: int, tier: Tier, tp: TierParams, pp: PlatformsParams,
                 initial_balance: float, scale: float, rng: np.random.Generator):
        super().__init__(model)
        self.index = index
        self.tier = tier
        self.pp = pp
        self.capital_ratio = tp.capital_ratio
        self.capital = tp.capital_ratio * initial_balance
        self.capital0 = self.capital
        self.age_months = tp.age_months * rng.uniform(0.5, 1.5)
        self.sigma0 = tp.capability_sigma
        self.data0 = 1.0
        self.cum_loans = 1.0
        self.take_rate = tp.take_rate
        self.service_fee = tp.service_fee
        self.opex_rate = tp.opex_rate
        self.fixed_cost = tp.fixed_cost * scale
        self.markup = tp.markup
        self.guarantee_share = tp.guarantee_share
        self.target_pd = tp.target_pd
        self.target_pd0 = tp.target_pd
        # The appetite of its last plan before any cut under a cap (reviews.cap_appetite): what it would accept
        # without the cap.
        self.plan_target_pd = tp.target_pd
        self.acquisition_rate = tp.acquisition_rate
        self.mix = np.asarray(tp.channel_mix, dtype=float) / max(sum(tp.channel_mix), 1e-12)
        # Only platforms with their own traffic ecosystem can buy from it.
        self.allowed = np.ones(N_BUY_CHANNELS, dtype=bool)
        self.allowed[Channel.ECOSYSTEM] = self.mix[Channel.ECOSYSTEM] > 0
        # Complaint records differ within a tier, so admission criteria screen platforms, not whole tiers.
        self.complaints = float(np.clip(tp.complaints + pp.complaints_sigma * rng.standard_normal(), 0.0, 1.0))
        self.planned_volume = 0.0
        self.acq_intensity = 1.0
        self.fundable = float("inf")  # volume it expects funders to fund; known after the first quarter
        self.plan_floor = 0.0  # set from the initial plan by the model
        self.exit_mode = ExitMode.ACTIVE
        self.unfunded_quarters = 0
        self.loss_rate = 0.0
        self.outstanding = 0.0
        self.volume = 0.0
        self.profit = 0.0
        self.lines = 0.0
        self.npl_ratio = 0.0
        self.pd_scale = 1.0
        self.loss_expected = 0.0
        self.loss_realised = 0.0
        self._reset_quarter()

    def _reset_quarter(self) -> None:
        self.q_profit = 0.0
        self.q_volume = 0.0
        self.q_demand = 0.0
        self.q_lines = 0.0
        self.q_spend = np.zeros(N_BUY_CHANNELS)
        self.q_value = np.zeros(N_BUY_CHANNELS)

    @property
    def active(self) -> bool:
        return self.exit_mode == ExitMode.ACTIVE

    @property
    def sigma(self) -> float:
        """PD-estimate noise: ``floor + (sigma0 - floor) * (data0 / cum_loans) ** e``; falls as data accumulate."""
        floor = self.pp.capability_floor
        decay = (self.data0 / max(self.cum_loans, 1.0)) ** self.pp.learning_elasticity
        return floor + max(self.sigma0 - floor, 0.0) * decay

    def funding_request(self) -> float:
        return self.planned_volume if self.active else 0.0

    def acquisition_budget(self) -> float:
        """Monthly traffic budget: ``intensity * acquisition_rate * min(planned_volume, fundable)``.

        A platform buys traffic for the volume it plans and can expect to fund (``fundable``: last quarter's
        average credit lines with headroom), at an intensity it cuts after losses and restores after profits.
        With diminishing returns to spend (``channels.spend_returns`` < 1) plans converge to a positive fixed
        point for each platform instead of running away or collapsing.
        """
        if not self.active:
            return 0.0
        return self.acq_intensity * self.acquisition_rate * min(self.planned_volume, self.fundable)

    def guarantee_share_now(self, max_share: float, allowed: bool) -> float:
        """Share of new loans it guarantees: none once insolvent or where guarantees are not allowed."""
        if not allowed or self.capital <= 0 or not self.active:
            return 0.0
        return min(self.guarantee_share, max_share)

    def honour_guarantees(self, claims: float) -> float:
        """Pay guarantee claims from capital while it lasts; returns the yuan paid (the rest falls on funders)."""
        paid = min(max(claims, 0.0), max(self.capital, 0.0))
        self.capital -= paid
        self.q_profit -= paid
        self.profit -= paid
        return paid

    def record_month(self, *, revenue: float, opex: float, acquisition: np.ndarray, volume: float, demand: float,
                     loans: int,
                     lines: float, value: np.ndarray, outstanding: float, npl: float, loss: float) -> None:
        """Book one month's flows (guarantee payments are booked by :meth:`honour_guarantees`)."""
        fixed = self.fixed_cost if self.active else 0.0
        self.profit = revenue - opex - fixed - float(acquisition.sum())
        self.capital += self.profit
        self.q_profit += self.profit
        self.q_volume += volume
        self.q_demand += demand
        self.q_lines += lines
        self.q_spend += acquisition
        self.q_value += value
        self.cum_loans += loans
        self.volume = volume
        self.lines = lines
        self.outstanding = outstanding
        self.npl_ratio = npl / outstanding if outstanding > 0 else 0.0
        annual_loss = 12.0 * loss / outstanding if outstanding > 0 else 0.0
        self.loss_rate = 0.8 * self.loss_rate + 0.2 * annual_loss
        if self.active:
            self.age_months += 1

    def reset_history(self) -> None:
        """Forget quarter accumulators and the unfunded streak (after the burn-in).

        Risk appetite and acquisition intensity carry through: restoring them would release, in the first
        recorded year, a burst of lending the burned-in world had already learnt not to do.
        """
        self.unfunded_quarters = 0
        self._reset_quarter()

    def set_initial_book(self, balance: float, loans: int, life_months: float, term_months: int) -> None:
        """Capital, plans and data from the 2024 stock of loans it holds.

        Capital is ``capital_ratio`` of the balance; the plan replaces the book over a loan's average life
        (``life_months``) with ``plan_headroom``; its data are the loans underwritten over its age, at the
        book's turnover of one loan per ``term_months``.
        """
        self.capital = self.capital0 = self.capital_ratio * balance
        self.outstanding = balance
        self.planned_volume = (1.0 + self.pp.plan_headroom) * balance / max(life_months, 1.0)
        self.plan_floor = self.pp.min_plan_share * self.planned_volume
        self.data0 = self.cum_loans = 1.0 + float(loans) * max(self.age_months, 1.0) / term_months

    def rebase_after_burn_in(self, life_months: float) -> None:
        """Capital back to its calibrated ratio of the burned-in book, plans at least that book's run rate."""
        self.capital = self.capital0 = self.capital_ratio * self.outstanding
        self.planned_volume = max(self.planned_volume, (1.0 + self.pp.plan_headroom) * self.outstanding / life_months)
        self.reset_history()

    def quarterly_review(self, rng: np.random.Generator, allow_exit: bool = True,
                         cap_exposure: reviews.CapExposure | None = None) -> None:
        """Re-plan volume, risk appetite and channel mix; exit when out of capital or funding.

        The plan and the exit decision are :func:`reviews.plan_quarter`'s. A solvent exit goes abroad with
        probability ``abroad_prob`` (one draw from ``rng``), otherwise it is an orderly wind-down. Under a cap
        announced or in force, ``cap_exposure`` (arrays over platforms) holds every platform's book against it,
        and the plan's risk appetite is then bounded by :func:`reviews.cap_appetite`; a platform that cuts its
        appetite so also buys less traffic (acquisition intensity times ``shrink_factor``), as after a loss.
        """
        if not self.active:
            self._reset_quarter()
            return
        previous_pd, previous_acq = self.target_pd, self.acq_intensity
        plan = reviews.plan_quarter(
            self.pp, q_lines=self.q_lines, q_demand=self.q_demand, q_volume=self.q_volume, q_profit=self.q_profit,
            q_value=self.q_value, q_spend=self.q_spend, plan_floor=self.plan_floor, target_pd=self.target_pd,
            target_pd0=self.target_pd0, acq_intensity=self.acq_intensity, mix=self.mix, allowed=self.allowed,
            capital=self.capital, capital0=self.capital0, unfunded_quarters=self.unfunded_quarters,
            allow_exit=allow_exit,
        )
        self.planned_volume, self.fundable = plan.planned_volume, plan.fundable
        self.target_pd, self.acq_intensity, self.mix = plan.target_pd, plan.acq_intensity, plan.mix
        self.plan_target_pd = plan.target_pd
        if cap_exposure is not None:
            i = self.index
            self.target_pd = reviews.cap_appetite(
                target_pd=plan.target_pd, previous_pd=previous_pd, share_above=float(cap_exposure.share_above[i]),
                pd_ceiling=float(cap_exposure.pd_ceiling[i]), in_force=bool(cap_exposure.in_force[i]),
                exposure=self.pp.cap_exposure, risk_cut=self.pp.risk_cut)
            if self.target_pd < plan.target_pd:
                self.acq_intensity = min(plan.acq_intensity, previous_acq) * self.pp.shrink_factor
        self.unfunded_quarters = plan.unfunded_quarters
        if plan.exit == reviews.Exit.FAILURE:
            self.exit(ExitMode.FAILURE)
        elif plan.exit == reviews.Exit.SOLVENT:
            self.exit(ExitMode.ABROAD if rng.random() < self.pp.abroad_prob else ExitMode.WIND_DOWN)
        self._reset_quarter()

    def exit(self, mode: ExitMode) -> None:
        """Leave the market for good; its book runs off without renewals."""
        if self.active:
            self.exit_mode = mode
            self.planned_volume = 0.0
