"""Institutions as Mesa agents: funders (banks, consumer-finance companies, microlenders, trusts) and platforms.

Agents own their state and change it only through their own methods; the model computes monthly
flows over the vectorized loan book and hands each agent its figures. Yuan amounts in parameters
are per 1,000 modelled borrowers and are multiplied by ``scale = borrowers / 1000`` here.
"""

from __future__ import annotations

import mesa
import numpy as np

from model.enums import Channel, ExitMode, FunderKind, Region, Tier
from model.mechanisms.acquisition import N_BUY_CHANNELS, update_mix
from model.params import FunderParams, PlatformsParams, TierParams


class LossCalibrated:
    """Mixin for lenders that calibrate their PD model on their own loss record (platforms, direct lenders)."""

    pd_scale: float = 1.0
    loss_expected: float = 0.0
    loss_realised: float = 0.0

    def learn_losses(self, expected: float, realised: float) -> None:
        """Update the loss-calibration factor applied to the desk's PD estimates.

        ``pd_scale = (R + prior) / (E + prior)`` where ``R`` and ``E`` are exponentially weighted (decay
        ``loss_memory``) realised and expected losses, and ``prior`` is six months of expected losses at a
        ratio of one, so that a thin record moves the factor little. Clipped to [0.5, 3].
        """
        decay = self.model.params.pricing.loss_memory
        self.loss_expected = decay * self.loss_expected + expected
        self.loss_realised = decay * self.loss_realised + realised
        prior = 6.0 * expected
        if self.loss_expected + prior > 0:
            self.pd_scale = float(np.clip((self.loss_realised + prior) / (self.loss_expected + prior), 0.5, 3.0))


class Funder(LossCalibrated, mesa.Agent):
    """A licensed funder. Subclasses fix the kind.

    Attributes:
        index: position in the model's funder arrays.
        kind, region: exogenous (scenario: funder counts and region patterns).
        funding_cost, spread, sigma: exogenous pricing inputs and own-screen noise (log SD).
        platform_budget, direct_budget: monthly yuan for new platform and direct loans.
        partners: boolean array over platforms, the whitelist. Endogenous (quarterly reviews).
        in_platform_lending: False once the funder has left platform lending (permanent).
        platform_outstanding, direct_outstanding: balances, updated by the model each month.
    """

    kind: FunderKind = FunderKind.BANK_CITY

    def __init__(self, model: mesa.Model, index: int, kind: FunderKind, region: Region, fp: FunderParams,
                 n_platforms: int, scale: float, budget_factor: float = 1.0, funding_cost: float | None = None,
                 bigtech: bool = False):
        super().__init__(model)
        self.index = index
        self.kind = kind
        self.region = region
        self.bigtech = bigtech
        self.funding_cost = fp.funding_cost if funding_cost is None else funding_cost
        self.spread = fp.spread
        self.sigma = fp.capability_sigma
        self.platform_budget = fp.platform_budget * scale * budget_factor
        self.direct_budget = fp.direct_budget * scale * budget_factor
        self.direct_opex_rate = fp.direct_opex_rate
        self.direct_target_pd = fp.direct_target_pd
        self.capacity_partners = fp.partners
        self.hurdle = fp.hurdle
        self.loss_tolerance = fp.loss_tolerance
        self.scale = scale
        self.partners = np.zeros(n_platforms, dtype=bool)
        self.in_platform_lending = self.platform_budget > 0
        self.started_in_platform_lending = self.in_platform_lending
        self.platform_limit = float("inf")
        self.banned = False
        self.platform_outstanding = 0.0
        self.direct_outstanding = 0.0
        self.below_hurdle_quarters = 0
        self.year_business = 0.0
        self.year_balance = 0.0
        self.profit = 0.0
        self.npl_ratio = 0.0
        self.pd_scale = 1.0
        self.loss_expected = 0.0
        self.loss_realised = 0.0
        self._reset_quarter(n_platforms)

    def _reset_quarter(self, n_platforms: int) -> None:
        self.q_income = np.zeros(n_platforms)
        self.q_cost = np.zeros(n_platforms)
        self.q_loss = np.zeros(n_platforms)
        self.q_balance = np.zeros(n_platforms)
        self.q_npl = np.zeros(n_platforms)
        self.q_partner_cost = 0.0
        self.q_budget = 0.0
        self.q_lines = 0.0

    def reset_history(self) -> None:
        """Forget quarter accumulators and hurdle streaks (after the burn-in)."""
        self.below_hurdle_quarters = 0
        self._reset_quarter(self.partners.size)

    def admit(self, platforms: np.ndarray) -> None:
        """List these platforms (indices) on the whitelist."""
        self.partners[platforms] = True

    def set_initial_book(self, platform_outstanding: float, direct_outstanding: float) -> None:
        """Balances of the 2024 stock of loans this funder holds."""
        self.platform_outstanding = platform_outstanding
        self.direct_outstanding = direct_outstanding

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

    def record_lines(self, budget: float, lines: float) -> None:
        """Note this month's budget and the lines it actually committed (for partner capacity decisions)."""
        self.q_budget += budget
        self.q_lines += lines

    def platform_budget_now(self) -> float:
        """Yuan available this month for platform loans, within any balance mandate or freeze."""
        if not self.in_platform_lending:
            return 0.0
        headroom = max(0.0, self.platform_limit - self.platform_outstanding)
        return float(min(self.platform_budget, headroom))

    # -------------------------------------------------------------- accounts
    def record_month(self, *, income: np.ndarray, funding: np.ndarray, loss: np.ndarray, balance: np.ndarray,
                     npl: np.ndarray, direct_income: float, direct_cost: float, direct_loss: float,
                     partner_cost_q: float) -> None:
        """Book one month: per-partner flows of platform lending (arrays over platforms) and direct lending.

        ``partner_cost_q`` is the per-partner monitoring cost per quarter (already scaled to yuan).
        """
        monitoring = partner_cost_q / 3.0 * float(self.partners.sum())
        self.q_income += income
        self.q_cost += funding
        self.q_loss += loss
        self.q_balance += balance
        self.q_npl += npl
        self.q_partner_cost += monitoring
        self.platform_outstanding = float(balance.sum())
        self.profit = float(income.sum() - funding.sum() - loss.sum() - monitoring) + (
            direct_income - direct_cost - direct_loss
        )
        total = self.platform_outstanding + self.direct_outstanding
        self.npl_ratio = float(npl.sum()) / total if total > 0 else 0.0

    # --------------------------------------------------------------- reviews
    def review_whitelist(self, *, active: np.ndarray, score: np.ndarray, loss_rate: np.ndarray,
                         age_months: np.ndarray, complaints: np.ndarray, wants_funding: np.ndarray,
                         whitelist_on: bool, min_age: float, max_complaints: float, max_partners: int,
                         partner_cost_q: float, allow_leave: bool = True) -> None:
        """Quarterly whitelist review.

        Drops partners that exited, lost money for the funder over the quarter after their monitoring
        cost, ran a non-performing ratio above the funder's tolerance, or fail the admission criteria
        of a whitelist regime. Leaves platform lending if the whole business earned less than the
        hurdle for ``leave_quarters`` reviews. Otherwise admits the best-scored eligible platforms up
        to its partner capacity. All inputs are arrays over platforms.
        """
        if not self.in_platform_lending:
            self._reset_quarter(self.partners.size)
            return
        cost_each = partner_cost_q
        partner_profit = self.q_income - self.q_cost - self.q_loss - cost_each
        npl = np.divide(self.q_npl, self.q_balance, out=np.zeros_like(self.q_npl), where=self.q_balance > 0)
        eligible = active.copy()
        if whitelist_on:
            eligible &= (age_months >= min_age) & (complaints <= max_complaints)
        # A dormant partner costs little without a regime; under one, every listed partner must pay its way.
        had_business = self.q_balance > 0
        losing = (partner_profit < 0) & (had_business | whitelist_on)
        drop = self.partners & (~eligible | losing | (npl > self.loss_tolerance))
        self.partners &= ~drop

        # The hurdle is judged on a trailing year so that one lumpy quarter of charge-offs does not decide it.
        business = self.q_income.sum() - self.q_cost.sum() - self.q_loss.sum() - self.q_partner_cost
        self.year_business = 0.75 * self.year_business + business
        self.year_balance = 0.75 * self.year_balance + self.q_balance.sum() / 3.0
        annual_return = 4.0 * self.year_business / self.year_balance if self.year_balance > 0 else 0.0
        self.below_hurdle_quarters = self.below_hurdle_quarters + 1 if annual_return < self.hurdle else 0
        if allow_leave and self.below_hurdle_quarters >= self.model.params.funders.leave_quarters:
            self.leave_platform_lending()
            self._reset_quarter(self.partners.size)
            return

        # A funder with idle budget looks for more partners beyond its usual list; a regime's limit still binds.
        idle = self.q_budget > 0 and self.q_lines < 0.8 * self.q_budget
        cap = self.capacity_partners + (self.model.params.funders.new_partners_per_review if idle else 0)
        cap = max(cap, int(self.partners.sum()) + (self.model.params.funders.new_partners_per_review if idle else 0))
        if max_partners > 0:
            cap = min(cap, max_partners)
        candidates = eligible & ~self.partners & wants_funding & (loss_rate <= self.loss_tolerance)
        free = cap - int(self.partners.sum())
        n_new = min(free, self.model.params.funders.new_partners_per_review)
        if n_new > 0 and candidates.any():
            idx = np.flatnonzero(candidates)
            best = idx[np.argsort(-score[idx], kind="stable")[:n_new]]
            self.partners[best] = True
        if max_partners > 0 and self.partners.sum() > max_partners:
            idx = np.flatnonzero(self.partners)
            keep = idx[np.argsort(-score[idx], kind="stable")[:max_partners]]
            self.partners[:] = False
            self.partners[keep] = True
        if allow_leave and not self.partners.any():
            # Every partner listed as "cooperation stopped" and nobody worth admitting: out of platform lending.
            self.leave_platform_lending()
        self._reset_quarter(self.partners.size)


class Bank(Funder):
    """A commercial bank: state-owned, joint-stock, city, rural or internet bank (``kind``)."""


class ConsumerFinanceCompany(Funder):
    """A consumer-finance company (消费金融公司): lends through platforms and directly."""

    kind = FunderKind.CFC


class Microlender(Funder):
    """A microlender (小贷公司); ``bigtech`` ones fund through cheap ABS and have larger budgets."""

    kind = FunderKind.MICROLENDER


class Trust(Funder):
    """A trust company used as a channel for platform loans."""

    kind = FunderKind.TRUST


FUNDER_CLASSES: dict[FunderKind, type[Funder]] = {
    FunderKind.BANK_STATE: Bank, FunderKind.BANK_JOINT_STOCK: Bank, FunderKind.BANK_CITY: Bank,
    FunderKind.BANK_RURAL: Bank, FunderKind.BANK_INTERNET: Bank, FunderKind.CFC: ConsumerFinanceCompany,
    FunderKind.MICROLENDER: Microlender, FunderKind.TRUST: Trust,
}


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
        """Forget quarter accumulators and the unfunded streak (after the burn-in)."""
        self.unfunded_quarters = 0
        self.target_pd = self.target_pd0
        self.acq_intensity = 1.0
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

    def quarterly_review(self, rng: np.random.Generator, allow_exit: bool = True) -> None:
        """Re-plan volume, risk appetite and channel mix; exit when out of capital or funding.

        Capital below zero is a failure (its guarantees are not honoured). A platform without credit lines
        for ``unfunded_quarters`` quarters, or whose capital has fallen below ``exit_capital_share`` of its
        initial capital, leaves while still solvent: abroad with probability ``abroad_prob``, otherwise an
        orderly wind-down.
        """
        if not self.active:
            self._reset_quarter()
            return
        pp = self.pp
        self.unfunded_quarters = self.unfunded_quarters + 1 if self.q_lines <= 0 else 0
        # Funding requests follow the demand borrowers brought (funded or not), with room to grow.
        # An active platform keeps trying at a minimum scale; if that cannot pay, the loss rule ends it.
        self.planned_volume = max((1.0 + pp.plan_headroom) * max(self.q_demand, self.q_volume) / 3.0, self.plan_floor)
        self.fundable = max((1.0 + pp.plan_headroom) * self.q_lines / 3.0, self.plan_floor)
        if self.q_profit < 0:
            # Cut acquisition and risk on purpose after a loss (DOMAIN.md: waist and tail shrank their own lending).
            self.acq_intensity *= pp.shrink_factor
            self.target_pd *= pp.risk_cut
        else:
            # Appetite and acquisition recover toward their original levels while the platform earns money.
            self.target_pd = min(self.target_pd / pp.risk_cut, self.target_pd0)
            self.acq_intensity = min(self.acq_intensity / pp.shrink_factor, 1.0 + pp.growth_target)
        self.mix = update_mix(self.mix[None, :], self.q_value[None, :], self.q_spend[None, :], pp.mix_speed,
                              self.allowed[None, :])[0]
        if not allow_exit:
            pass
        elif self.capital < 0:
            self.exit(ExitMode.FAILURE)
        elif self.unfunded_quarters >= pp.unfunded_quarters or self.capital < pp.exit_capital_share * self.capital0:
            self.exit(ExitMode.ABROAD if rng.random() < pp.abroad_prob else ExitMode.WIND_DOWN)
        self._reset_quarter()

    def exit(self, mode: ExitMode) -> None:
        """Leave the market for good; its book runs off without renewals."""
        if self.active:
            self.exit_mode = mode
            self.planned_volume = 0.0
