"""LendingModel: the monthly step of the lending-assistance industry (DESIGN.md, "The monthly step")."""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd

from model.borrowers import BorrowerPopulation, LoanBook, NewLoans
from model.calendar import format_month, is_quarter_end, parse_month
from model.config import Scenario
from model.enums import KIND_CODES, Channel, FunderKind, Region, Tier
from model.institutions import FUNDER_CLASSES, N_BUY_CHANNELS, Funder, Platform
from model.mechanisms import accounting, billing, settlement, shadow
from model.mechanisms import acquisition as acq
from model.mechanisms.funding import allocate_lines, fund_in_order, pick_by_weight, preference_scores
from model.mechanisms.pricing import annual_pd, estimate_pd, quote
from model.output import Recorder
from model.policy import Regulator, Rules, rules_in_force

CHANNEL_NAMES = ("info_flow", "api", "ecosystem", "referral")
REPEAT = int(Channel.REPEAT)


@dataclass
class Applications:
    """Loan applications of one month (one row each): who asks which desk for how much, through which channel."""

    borrower: np.ndarray
    desk: np.ndarray
    channel: np.ndarray
    amount: np.ndarray
    funder: np.ndarray | None = None  # forced funder (renewals); None: drawn from the desk's credit lines

    def subset(self, mask: np.ndarray) -> Applications:
        return Applications(self.borrower[mask], self.desk[mask], self.channel[mask], self.amount[mask],
                            None if self.funder is None else self.funder[mask])


class LendingModel(mesa.Model):
    """Banks, consumer-finance companies, microlenders, trusts, platforms and borrowers under dated rules.

    Args:
        scenario: a validated :class:`model.config.Scenario`.
        rng: seed (or numpy generator) of the run's one random generator.

    Desks: every place a loan is originated. Desks ``0..P-1`` are the platforms; desk ``P + f`` is funder
    ``f``'s direct-lending desk.
    """

    def __init__(self, scenario: Scenario, rng: int | np.random.Generator | None = None):
        super().__init__(rng=rng)
        self.scenario = scenario
        self.params = prm = scenario.params
        self.start_month = parse_month(prm.run.start)
        self.horizon = prm.run.months
        self.month = self.start_month - 1
        self.scale = prm.run.borrowers / 1000.0
        self.borrowers = BorrowerPopulation(prm.run.borrowers, prm.borrowers, self.rng)
        self.loans = LoanBook(capacity=int(prm.run.borrowers * 1.2) + 64)
        self.t = 0  # model month index: 1..horizon when recorded, <= 0 during burn-in
        self.platforms: list[Platform] = []
        self.funders: list[Funder] = []
        self._build_institutions()
        self.regulator = Regulator(self, prm.policy, prm.funders.partner_cost * self.scale, self.scale)
        self.n_platforms = len(self.platforms)
        self.n_funders = len(self.funders)
        self.n_desks = self.n_platforms + self.n_funders
        self._funder_kind = np.array([KIND_CODES[f.kind] for f in self.funders], dtype=np.int64)
        self._funder_is_bank = np.array([f.kind.is_bank for f in self.funders], dtype=bool)
        self._funder_cost = np.array([f.funding_cost for f in self.funders], dtype=float)
        self._funder_spread = np.array([f.spread for f in self.funders], dtype=float)
        self._funder_sigma = np.array([f.sigma for f in self.funders], dtype=float)
        self._init_partnerships()
        self._init_book()
        self.rules: Rules | None = None
        self.burning_in = False
        self._burn_in(prm.run.burn_in)
        self.recorder = Recorder(self)
        self.running = True

    # ================================================================= setup
    def _build_institutions(self) -> None:
        prm = self.params
        tiers = [(Tier.HEAD, prm.platforms.head), (Tier.WAIST, prm.platforms.waist), (Tier.TAIL, prm.platforms.tail)]
        weights = []
        for tier, tp in tiers:
            if tp.count <= 0:
                continue
            zipf = np.arange(1, tp.count + 1, dtype=float) ** -tp.size_exponent
            weights.append((tier, tp, tp.balance_share * zipf / zipf.sum()))
        self._platform_weight = np.concatenate([w for _, _, w in weights]) if weights else np.zeros(0)
        total_w = self._platform_weight.sum()
        if total_w > 0:
            self._platform_weight = self._platform_weight / total_w
        i = 0
        for tier, tp, _w in weights:
            for _ in range(tp.count):
                self.platforms.append(Platform(self, i, tier, tp, prm.platforms, 0.0, self.scale, self.rng))
                i += 1
        n_p = len(self.platforms)
        j = 0
        for kind in FunderKind:
            fp = getattr(prm.funders, kind.value)
            cls = FUNDER_CLASSES[kind]
            sizes = np.exp(fp.size_sigma * self.rng.standard_normal(fp.count) - 0.5 * fp.size_sigma**2)
            for k in range(fp.count):
                bigtech = kind == FunderKind.MICROLENDER and k < fp.bigtech_count
                region = Region(fp.regions[k % len(fp.regions)])
                factor = sizes[k] * (fp.bigtech_budget_factor if bigtech else 1.0)
                cost = fp.bigtech_funding_cost if bigtech else None
                self.funders.append(cls(self, j, kind, region, fp, n_p, self.scale, factor, cost, bigtech))
                j += 1

    def _init_partnerships(self) -> None:
        """Initial whitelists: each funder picks its partners, weighted by its preference; nobody is left unfunded."""
        n_p = self.n_platforms
        if n_p == 0:
            return
        fp = self.params.funders
        vol = self._platform_weight
        age = np.array([p.age_months for p in self.platforms])
        comp = np.array([p.complaints for p in self.platforms])
        score = preference_scores(vol, age, np.zeros(n_p), comp, fp.pref_scale, fp.pref_age, fp.pref_track,
                                  fp.pref_compliance)
        lenders = [f for f in self.funders if f.in_platform_lending]
        for f in lenders:
            k = min(f.capacity_partners, n_p)
            if k <= 0:
                continue
            # Gumbel top-k: a weighted sample without replacement, proportional to exp(sharpness * score).
            keys = fp.pref_sharpness * score + self.rng.gumbel(size=n_p)
            f.partners[np.argsort(-keys)[:k]] = True
        if not lenders:
            return
        covered = np.zeros(n_p, dtype=bool)
        for f in lenders:
            covered |= f.partners
        small = [f for f in lenders if f.kind not in (FunderKind.BANK_STATE, FunderKind.BANK_JOINT_STOCK)] or lenders
        for p in np.flatnonzero(~covered):
            small[int(self.rng.integers(len(small)))].partners[p] = True

    def _init_book(self) -> None:
        """The 2024 stock of loans: indebted borrowers, their loans, desks, funders and prices."""
        prm = self.params
        bp = prm.borrowers
        b = self.borrowers
        n = b.n
        if n == 0:
            return
        seg = b.segment
        indebted = self.rng.random(n) < np.asarray(bp.initial_indebted)[seg]
        extra = self.rng.poisson(np.asarray(bp.initial_extra_loans)[seg])
        count = np.where(indebted, np.minimum(1 + extra, bp.max_loans), 0)
        borrower = np.repeat(np.arange(n), count)
        m = borrower.size
        if m == 0:
            return
        amount = b.loan_size[borrower] * self.rng.uniform(0.5, 1.0, m)
        months_left = self.rng.integers(1, bp.term_months + 1, m)
        # Who holds each loan: platforms in proportion to their calibrated balance shares, direct desks
        # in proportion to direct budgets; platforms only hold loans their risk appetite admits.
        direct_budget = np.array([f.direct_budget for f in self.funders])
        platform_budget = sum(f.platform_budget for f in self.funders)
        direct_share = direct_budget.sum() / max(direct_budget.sum() + platform_budget, 1e-12)
        if self.n_platforms == 0:
            direct_share = 1.0 if direct_budget.sum() > 0 else 0.0
        dsti0 = amount * (0.2 / 12 + bp.amortizing_share / bp.term_months) / np.maximum(b.income[borrower], 1.0)
        pd0 = annual_pd(b.hazard[borrower] * prm.pricing.shock_to_default, dsti0, prm.pricing.leverage_sensitivity)
        is_direct = self.rng.random(m) < direct_share
        desk = np.full(m, -1, dtype=np.int64)
        funder = np.full(m, -1, dtype=np.int64)
        if self.n_platforms > 0:
            target = np.array([p.target_pd for p in self.platforms])
            plat_loans = np.flatnonzero(~is_direct)
            # Groups of equal risk appetite keep the draw vectorized.
            thresholds = np.unique(target)
            for lo_i, thr in enumerate(thresholds):
                lo = thresholds[lo_i - 1] if lo_i > 0 else -np.inf
                sel = plat_loans[(pd0[plat_loans] > lo) & (pd0[plat_loans] <= thr)]
                if lo_i == len(thresholds) - 1:
                    sel = plat_loans[pd0[plat_loans] > lo]
                w = np.where(target >= thr, self._platform_weight, 0.0)
                if w.sum() <= 0:
                    w = self._platform_weight.copy()
                desk[sel] = acq.sample_weighted(self.rng, w, sel.size) if sel.size else desk[sel]
            partners = (np.array([f.partners for f in self.funders]).T if self.funders
                        else np.zeros((self.n_platforms, 0)))
            budgets = np.array([f.platform_budget for f in self.funders])
            has = np.flatnonzero(desk >= 0)
            funder[has] = pick_by_weight(self.rng, desk[has], partners * budgets[None, :])
        if direct_budget.sum() > 0:
            dl = np.flatnonzero(is_direct | (funder < 0))
            f_pick = acq.sample_weighted(self.rng, direct_budget, dl.size)
            funder[dl] = f_pick
            desk[dl] = self.n_platforms + f_pick
        ok = funder >= 0
        borrower, amount, months_left, desk, funder, pd0 = (
            x[ok] for x in (borrower, amount, months_left, desk, funder, pd0)
        )
        m = borrower.size
        is_plat = desk < self.n_platforms
        rules = self._rules_for(self.start_month)
        self._gather_desks()
        price = self._quote(desk, funder, pd0, np.zeros(m, dtype=bool), rules)
        apr = np.where(price["ok"], price["apr"], np.maximum(price["required"], 0.0))
        # Stock loans priced above today's cap stay at the cap (they were written under it).
        cap = np.minimum(rules.cap_nominal, rules.cap_all_in)[self._funder_kind[funder]]
        apr = np.minimum(apr, np.where(np.isfinite(cap), cap + self.desks.fee[desk], apr))
        guar_share = np.array([p.guarantee_share for p in self.platforms] + [0.0] * self.n_funders)
        guaranteed = is_plat & (self.rng.random(m) < guar_share[desk])
        funder_rate = np.minimum(self._funder_cost[funder] + self._funder_spread[funder]
                                 + np.where(guaranteed, 0.0, pd0 * prm.pricing.lgd), apr)
        rows = self.loans.add(NewLoans(
            borrower=borrower, desk=desk, funder=funder, platform=np.where(is_plat, desk, -1), principal=amount,
            apr=apr, funder_rate=funder_rate, guaranteed=guaranteed, term=bp.term_months,
            amortizing_share=bp.amortizing_share, step=0, pd_est=pd0,
        ))
        elapsed = bp.term_months - months_left
        self.loans.months_left[rows] = months_left
        self.loans.balance[rows] = amount - self.loans.amort[rows] * elapsed
        self.loans.orig_step[rows] = -prm.run.burn_in - elapsed
        bal = self.loans.view("balance")
        plat = self.loans.view("platform")
        life = bp.term_months * (1.0 - bp.amortizing_share / 2.0)
        for p in self.platforms:
            sel = plat == p.index
            balance_p = float(bal[sel].sum())
            tp = getattr(prm.platforms, p.tier.label)
            p.capital = p.capital0 = tp.capital_ratio * balance_p
            p.outstanding = balance_p
            p.planned_volume = (1.0 + prm.platforms.plan_headroom) * balance_p / max(life, 1.0)
            p.plan_floor = prm.platforms.min_plan_share * p.planned_volume
            p.data0 = p.cum_loans = 1.0 + float(sel.sum()) * max(p.age_months, 1.0) / bp.term_months
        fund = self.loans.view("funder")
        plat_bal = np.bincount(fund[plat >= 0], weights=bal[plat >= 0], minlength=self.n_funders)
        dir_bal = np.bincount(fund[plat < 0], weights=bal[plat < 0], minlength=self.n_funders)
        for f in self.funders:
            f.platform_outstanding = float(plat_bal[f.index])
            f.direct_outstanding = float(dir_bal[f.index])

    def _burn_in(self, months: int) -> None:
        """Run ``months`` unrecorded months under the start month's rules with the industry structure held.

        Platforms and funders book their flows, platforms learn and re-plan, and funders review their
        whitelists, but no platform exits and no funder leaves platform lending; afterwards platform capital
        is reset to its calibrated ratio. This moves the borrower population and loan book to the steady state
        of the borrowing flows, so that recorded months start from a consistent 2024.
        """
        if months <= 0:
            return
        self.burning_in = True
        for k in range(months):
            self._one_month(step=k - months + 1)
        self.burning_in = False
        life = self.params.borrowers.term_months * (1.0 - self.params.borrowers.amortizing_share / 2.0)
        for p in self.platforms:
            tp = getattr(self.params.platforms, p.tier.label)
            p.capital = p.capital0 = tp.capital_ratio * p.outstanding
            p.planned_volume = max(p.planned_volume, (1.0 + self.params.platforms.plan_headroom) * p.outstanding / life)
            p.reset_history()
        for f in self.funders:
            f.reset_history()

    # ================================================================= step
    def step(self) -> None:
        """One recorded month."""
        self.month = self.start_month + self.steps - 1
        self._one_month(step=self.steps)
        self.recorder.collect()             # 11. data collection
        if self.steps >= self.horizon:
            self.running = False

    def _one_month(self, step: int) -> None:
        """The phases of a month, in the order of DESIGN.md's monthly step. ``step`` <= 0 during burn-in."""
        self.t = step
        if self.burning_in:
            self.month = self.start_month
        self.flows = _MonthFlows(self.n_platforms, self.n_funders, self.borrowers.n)
        self.regulate()                     # 1. rules in force this month
        self._gather_desks()
        self.update_macro()                 # 2. LPR path and income-shock hazard
        self.earn_and_spend()               # 3. income shocks, income and essential spending
        self.extend_credit_lines()          # 7a. funders commit budgets to whitelisted platforms
        self.mature_and_withdraw()          # 4. maturing lines renewed or withdrawn; clean-up calls
        self.bill_repayments()              # 3. instalments due; shortfalls become refinancing needs
        apps = self.acquire_applicants()    # 5. credit seekers reach platforms through channels
        offers = self.underwrite(apps)      # 6. screening and pricing under the binding cap
        self.fund_and_originate(apps, offers)  # 7b. funding within lines; borrowers take the cheapest offer
        self.shadow_lend()                  # 8. rationed borrowers turn to shadow lenders while channels allow
        self.settle_repayments()            # 3. payments, delinquency 30/60/90+, charge-offs, spirals
        self.keep_accounts()                # 9. platform and funder accounts; guarantees honoured or failed
        quarter_end = (step % 3 == 0) if self.burning_in else is_quarter_end(self.month)
        if quarter_end:
            self.review_quarter()           # 10. whitelist reviews, re-planning, exits

    def run(self, on_step=None) -> None:
        """Run the scenario's horizon, calling ``on_step(model)`` after each month."""
        while self.running and self.steps < self.horizon:
            self.step()
            if on_step is not None:
                on_step(self)

    def release(self) -> None:
        """Drop Mesa 3.3's class-level agent-id counter for this model (``mesa.Agent._ids``, never pruned).

        Call when done with a model in a long-lived process (CLI, batch worker, dashboard), or every model
        and its agents stay in memory. The model must create no agents afterwards (this model creates all of
        them in ``__init__``). Safe on a half-built model.
        """
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)

    @property
    def date(self) -> str:
        """Calendar month of the last completed step (``YYYY-MM``)."""
        return format_month(self.month)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The output contract's tables: ``model``, ``platforms``, ``funders``."""
        return self.recorder.tables()

    # ================================================================ phases
    def _lpr(self, month: int) -> float:
        m = self.params.macro
        span = max(self.horizon - 1, 1)
        frac = min(max((month - self.start_month) / span, 0.0), 1.0)
        return m.lpr_start + (m.lpr_end - m.lpr_start) * frac

    def _rules_for(self, month: int) -> Rules:
        return rules_in_force(self.params.policy, month, self._lpr(month), self._lpr_by(),
                              self.params.funders.partner_cost * self.scale, self.scale)

    def _lpr_by(self) -> dict[str, float]:
        return {k.value: self._lpr(parse_month(getattr(self.params.policy.kind_caps, k.value).by)) for k in FunderKind}

    def regulate(self) -> None:
        """The regulator resolves the rules in force and imposes mandates, freezes and bans on funders."""
        self.lpr = self._lpr(self.month)
        self.rules = self.regulator.apply(self.month, self.lpr, self._lpr_by(), self.funders)

    def update_macro(self) -> None:
        m = self.params.macro
        on = m.shock_enabled and parse_month(m.shock_start) <= self.month < parse_month(m.shock_start) + m.shock_months
        self.hazard_multiplier = m.shock_multiplier if on else 1.0

    def earn_and_spend(self) -> None:
        """Income shocks start and end; cash left after essential spending is what can service debt."""
        self.borrowers.update_shocks(self.rng, self.hazard_multiplier)
        self.cash = self.borrowers.cash_available()

    def extend_credit_lines(self) -> None:
        """Funders split their platform budgets over whitelisted, active platforms by preference."""
        fp = self.params.funders
        active = np.array([p.active for p in self.platforms], dtype=bool)
        demand = np.array([p.funding_request() for p in self.platforms])
        budget = np.array([f.platform_budget_now() for f in self.funders])
        partners = (np.array([f.partners for f in self.funders]) if self.funders
                    else np.zeros((0, self.n_platforms), dtype=bool)) & active[None, :]
        self.platform_score = preference_scores(
            np.array([p.outstanding for p in self.platforms]), np.array([p.age_months for p in self.platforms]),
            np.array([p.loss_rate for p in self.platforms]), np.array([p.complaints for p in self.platforms]),
            fp.pref_scale, fp.pref_age, fp.pref_track, fp.pref_compliance,
        ) if self.n_platforms else np.zeros(0)
        self.lines = allocate_lines(budget, demand, partners, fp.pref_sharpness * self.platform_score)
        for f, b_f, l_f in zip(self.funders, budget, self.lines.sum(axis=1), strict=True):
            f.record_lines(float(b_f), float(l_f))
        self.partners_now = partners
        self.flows.lines = self.lines.sum(axis=0)
        # Remaining capacity per line: (funder, platform) lines then one direct line per funder.
        self.capacity = np.concatenate([self.lines.ravel(), [f.direct_budget for f in self.funders]])

    def _line_key(self, desk: np.ndarray, funder: np.ndarray) -> np.ndarray:
        return np.where(desk < self.n_platforms, funder * self.n_platforms + desk,
                        self.n_funders * self.n_platforms + funder)

    def _measure_debt(self) -> None:
        """Each borrower's licensed loan count, licensed debt, and scheduled debt service to income (DSTI)."""
        L = self.loans
        b = self.borrowers
        bor = L.view("borrower")
        bal = L.view("balance")
        lic = ~L.view("shadow")
        self.n_licensed = np.bincount(bor[lic], minlength=b.n)
        self.debt_licensed = np.bincount(bor[lic], weights=bal[lic], minlength=b.n)
        sched = L.instalment()
        self.dsti = np.divide(np.bincount(bor, weights=sched, minlength=b.n), b.income,
                              out=np.zeros(b.n), where=b.income > 0)

    def mature_and_withdraw(self) -> None:
        """Maturing credit lines are renewed by lenders that still can and will; the rest are withdrawn.

        Lines are withdrawn when the platform exited, the funder left platform lending or dropped the
        platform, the renewal cannot be priced under today's cap, or the lender's screen refuses it.
        At the clean-up deadline, stock loans priced above the cap are called in full.
        """
        L = self.loans
        n = L.size
        self.renewed = np.zeros(n, dtype=bool)
        self._measure_debt()
        if n == 0:
            return
        lic = ~L.view("shadow")
        fund = L.view("funder")
        desk = L.view("desk")
        if self.rules.cleanup_call:
            cap = np.minimum(self.rules.cap_nominal, self.rules.cap_all_in)[self._funder_kind[np.maximum(fund, 0)]]
            called = lic & (L.view("apr") > cap + 1e-12)
            L.months_left[:n][called] = np.minimum(L.months_left[:n][called], 1)
            L.renewable[:n][called] = False
        maturing = lic & (L.view("months_left") == 1)
        if not maturing.any():
            return
        b = self.borrowers
        bor = L.view("borrower")
        plat = L.view("platform")
        lender_ok = np.ones(n, dtype=bool)
        if self.n_platforms:
            p_active = np.array([p.active for p in self.platforms], dtype=bool)
            is_plat = plat >= 0
            ok_plat = np.zeros(n, dtype=bool)
            ok_plat[is_plat] = p_active[plat[is_plat]] & self.partners_now[fund[is_plat], plat[is_plat]]
            lender_ok = np.where(is_plat, ok_plat, True)
        L.renewable[:n] &= lender_ok
        wants = maturing & (b.dpd[bor] == 0) & (b.excluded_until[bor] < self.t) & (
            self.rng.random(n) < b.revolve_prob[bor])
        withdrawn = wants & ~L.view("renewable")
        self.flows.withdrawn_volume = float(L.view("balance")[withdrawn].sum())
        cand = np.flatnonzero(wants & L.view("renewable"))
        if cand.size == 0:
            return
        # A renewed line is drawn again in full: the new loan pays off the balloon, the rest is spent.
        balloon = L.view("principal0")[cand]
        apps = Applications(bor[cand], desk[cand].astype(np.int64), np.full(cand.size, REPEAT), balloon,
                            fund[cand].astype(np.int64))
        offers = self.underwrite(apps)
        keep = offers["ok"]
        funded = np.zeros(cand.size, dtype=bool)
        if keep.any():
            idx = np.flatnonzero(keep)
            key = self._line_key(apps.desk[idx], apps.funder[idx])
            got = fund_in_order(key, balloon[idx], self.capacity, self.rng.permutation(idx.size))
            funded[idx[got]] = True
            self.capacity -= np.bincount(key[got], weights=balloon[idx[got]], minlength=self.capacity.size)
        self.flows.withdrawn_volume += float(balloon[~funded].sum())
        self.renewed[cand[funded]] = True
        sel = {k: v[funded] for k, v in offers.items()}
        self._originate(apps.subset(funded), sel)

    def bill_repayments(self) -> None:
        """Instalments (interest plus amortization) and due balloons; a shortfall needs refinancing."""
        L = self.loans
        b = self.borrowers
        bills = billing.bill_repayments(
            balance=L.view("balance"), months_left=L.view("months_left"), amort=L.view("amort"), apr=L.view("apr"),
            borrower=L.view("borrower"), renewed=self.renewed, arrears=b.arrears, cash=self.cash, n_borrowers=b.n,
        )
        self.interest_due = bills.interest_due
        self.principal_due = bills.principal_due
        self.due = bills.due
        self.interest_due_b = bills.interest_due_b
        self.shortfall = bills.shortfall

    def acquire_applicants(self) -> Applications:
        """Credit seekers (new consumption credit, or refinancing a shortfall) apply; channels route them.

        Each seeker makes one or more applications (refinancers search more widely). An application
        goes either straight to a direct lender's own app, or through a channel chosen by the channel's
        attention and its tilt toward risky and multi-borrowed seekers, to a platform in proportion to
        the platforms' spend on that channel. A channel's traffic price is its spend over its applications.
        """
        b = self.borrowers
        prm = self.params
        bp = prm.borrowers
        P = self.n_platforms
        eligible = (b.dpd == 0) & (b.excluded_until < self.t)
        refi = eligible & (self.shortfall > 0)
        consume = eligible & ~refi & (self.n_licensed < bp.max_loans) & (self.rng.random(b.n) < b.seek_prob)
        self.seeking_refi = refi
        self.seeking = refi | consume
        self.seek_amount = np.where(refi, self.shortfall, np.where(consume, b.loan_size, 0.0))
        # Delinquent borrowers cannot borrow licensed; some turn to shadow lenders to cure (settled later).
        self.delinquent_need = (b.dpd > 0) & (self.shortfall > 0)
        seekers = np.flatnonzero(self.seeking)
        self.flows.applicants = int(seekers.size)
        budgets = np.array([p.acquisition_budget() for p in self.platforms])
        mix = np.array([p.mix for p in self.platforms]) if P else np.zeros((0, N_BUY_CHANNELS))
        spend = budgets[:, None] * mix
        self.flows.spend = spend
        empty = Applications(*(np.empty(0, dtype=np.int64) for _ in range(3)), np.empty(0))
        if seekers.size == 0:
            return empty
        search = np.where(refi[seekers], bp.refinance_search, 1.0)
        n_apps = 1 + self.rng.poisson(bp.applications_extra * search)
        bor = np.repeat(seekers, n_apps)
        direct_budget = np.array([f.direct_budget for f in self.funders])
        spend_c = spend.sum(axis=0)
        has_direct = direct_budget.sum() > 0
        has_platform = spend_c.sum() > 0
        p_direct = bp.direct_share if (has_direct and has_platform) else (1.0 if has_direct else 0.0)
        if not (has_direct or has_platform):
            return empty
        go_direct = self.rng.random(bor.size) < p_direct
        desk = np.empty(bor.size, dtype=np.int64)
        chan = np.full(bor.size, int(Channel.INFO_FLOW), dtype=np.int64)
        k = int(go_direct.sum())
        if k:
            desk[go_direct] = P + acq.sample_weighted(self.rng, direct_budget, k)
        via = np.flatnonzero(~go_direct)
        if via.size:
            vb = bor[via]
            w = acq.channel_weights_matrix(
                b.risk_z[vb], self.n_licensed[vb],
                np.array([getattr(prm.channels, c).attention for c in CHANNEL_NAMES]) * (spend_c > 0),
                np.array([getattr(prm.channels, c).risk_tilt for c in CHANNEL_NAMES]),
                np.array([getattr(prm.channels, c).multi_tilt for c in CHANNEL_NAMES]),
            )
            c = acq.choose_columns(self.rng, w)
            chan[via] = c
            # Diminishing returns to traffic spend keep the contest for applicants from being winner-take-all.
            desk[via] = pick_by_weight(self.rng, c, spend.T ** prm.channels.spend_returns)
        apps_c = np.bincount(chan[~go_direct], minlength=N_BUY_CHANNELS)
        # The traffic price is the spend over the applications it bought: it falls when platforms buy less.
        self.flows.traffic_price = float(spend_c.sum() / apps_c.sum()) if apps_c.sum() > 0 else 0.0
        ok = desk >= 0
        bor, desk, chan = bor[ok], desk[ok], chan[ok]
        key = bor * self.n_desks + desk
        key_u, first = np.unique(key, return_index=True)
        bor, desk, chan = bor[first], desk[first], chan[first]
        # A desk extends one line per borrower: it does not lend again to its own current borrowers.
        L = self.loans
        lb = L.view("borrower")
        mine = self.seeking[lb] & ~L.view("shadow")
        held = lb[mine] * self.n_desks + L.view("desk")[mine]
        fresh = ~np.isin(key_u, held)
        bor, desk, chan = bor[fresh], desk[fresh], chan[fresh]
        return Applications(bor, desk, chan, self.seek_amount[bor])

    def _gather_desks(self) -> None:
        """Each desk's screening and pricing inputs as arrays, gathered from the agents once a month.

        Desks change only between months (learning at month end, re-planning at quarter end), so one
        gathering serves every quote of the month.
        """
        plats, fund = self.platforms, self.funders
        self.desks = _Desks(
            sigma=np.array([p.sigma for p in plats] + [f.sigma for f in fund]),
            markup=np.array([p.markup for p in plats] + [self.params.pricing.direct_markup] * len(fund)),
            take=np.array([p.take_rate for p in plats] + [f.direct_opex_rate for f in fund]),
            fee=np.array([p.service_fee for p in plats] + [0.0] * len(fund)),
            target=np.array([p.target_pd for p in plats] + [f.direct_target_pd for f in fund]),
            active=np.array([p.active for p in plats] + [f.direct_budget > 0 for f in fund], dtype=bool),
            pd_scale=np.array([p.pd_scale for p in plats] + [f.pd_scale for f in fund]),
        )

    def _quote(self, desk, funder, est_pd, guaranteed, rules: Rules) -> dict[str, np.ndarray]:
        markup, take, fee = self.desks.markup, self.desks.take, self.desks.fee
        kind = self._funder_kind[funder]
        return quote(
            funding_cost=self._funder_cost[funder], spread=self._funder_spread[funder], est_pd=est_pd,
            lgd=self.params.pricing.lgd, take_rate=take[desk], service_fee=fee[desk], guaranteed=guaranteed,
            guarantee_margin=self.params.platforms.guarantee_margin, markup=markup[desk],
            cap_nominal=rules.cap_nominal[kind], cap_all_in=rules.cap_all_in[kind],
            min_spread_share=self.params.pricing.min_spread_share,
        )

    def underwrite(self, apps: Applications) -> dict[str, np.ndarray]:
        """Screen and price each application. No side effects on the book.

        The desk estimates the applicant's PD with noise set by its risk-control capability, refuses PDs
        above its appetite, and prices the loan for the funder drawn from its credit lines (or forced,
        for renewals) under that funder kind's binding cap. Where core risk control cannot be outsourced,
        the bank's own (noisier) screen must also pass and the platform may not guarantee the loan.
        """
        prm = self.params
        b = self.borrowers
        rules = self.rules
        n = apps.borrower.size
        P = self.n_platforms
        sigma, target, active, pd_scale = self.desks.sigma, self.desks.target, self.desks.active, self.desks.pd_scale
        if apps.funder is not None:
            funder = apps.funder.copy()
        else:
            funder = np.where(apps.desk >= P, apps.desk - P, -1)
            on_plat = apps.desk < P
            if on_plat.any() and self.n_funders:
                # A platform routes each applicant to one of its funders in proportion to remaining lines,
                # tilted toward cheap money: weight ~ line * (1 / funding cost)^gamma.
                remaining = self.capacity[: self.n_funders * P].reshape(self.n_funders, P).T
                gamma = prm.platforms.cheap_funding_preference
                cheap = (self._funder_cost.min() / np.maximum(self._funder_cost, 1e-6)) ** gamma
                funder[on_plat] = pick_by_weight(self.rng, apps.desk[on_plat], remaining * cheap[None, :])
        has_funder = funder >= 0
        f_safe = np.maximum(funder, 0)
        bor = apps.borrower
        # A renewal replaces a loan already in the borrower's DSTI; a new loan adds to it.
        new_sched = np.where(apps.channel == REPEAT, 0.0,
                             apps.amount * (0.2 / 12.0 + prm.borrowers.amortizing_share / prm.borrowers.term_months))
        inc = np.maximum(b.income[bor], 1.0)
        dsti_after = self.dsti[bor] + new_sched / inc
        true_pd = annual_pd(b.hazard[bor] * prm.pricing.shock_to_default, dsti_after, prm.pricing.leverage_sensitivity)
        # A borrower in an income shock shows it in bureau data; lenders' models see a much higher risk.
        true_pd = np.where(b.shocked[bor], np.maximum(true_pd, prm.pricing.shock_pd), true_pd)
        noise = sigma[apps.desk] * np.where(apps.channel == REPEAT, prm.platforms.repeat_noise_factor, 1.0)
        # Each desk scales its model's PD by its own realised-to-expected loss experience.
        est = np.minimum(estimate_pd(true_pd, noise, self.rng.standard_normal(n)) * pd_scale[apps.desk], 1.0)
        is_plat = apps.desk < P
        bank_rule = rules.no_outsourcing & self._funder_is_bank[f_safe]
        g_share = np.array([p.guarantee_share_now(rules.guarantee_max_share, True) for p in self.platforms] + [0.0])
        guaranteed = is_plat & ~bank_rule & (self.rng.random(n) < g_share[np.where(is_plat, apps.desk, P)])
        q = self._quote(apps.desk, f_safe, est, guaranteed, rules)
        limit_ok = self.debt_licensed[bor] + apps.amount <= rules.borrowing_limit * 12.0 * b.income[bor]
        ok = (has_funder & active[apps.desk] & (est <= target[apps.desk]) & q["ok"] & limit_ok
              & (dsti_after <= prm.pricing.max_dsti))
        screens = is_plat & (bank_rule | prm.pricing.funder_screens_always)
        if screens.any():
            est_f = estimate_pd(true_pd, self._funder_sigma[f_safe], self.rng.standard_normal(n))
            qf = self._quote(apps.desk, f_safe, est_f, np.zeros(n, dtype=bool), rules)
            ok &= ~screens | qf["ok"]
        out = dict(q)
        out.update(ok=ok, funder=funder, est_pd=est, true_pd=true_pd, guaranteed=guaranteed)
        return out

    def fund_and_originate(self, apps: Applications, offers: dict[str, np.ndarray]) -> None:
        """Each borrower takes the cheapest approved offer; loans draw on credit lines in random order.

        A borrower whose chosen line is exhausted falls back to the next-cheapest offer once.
        """
        ok = np.flatnonzero(offers["ok"])
        self.proceeds = np.zeros(self.borrowers.n)
        if ok.size == 0:
            return
        chosen_all = np.zeros(apps.borrower.size, dtype=bool)
        tried = np.zeros(apps.borrower.size, dtype=bool)
        for round_ in range(2):
            cand = ok[~tried[ok] & ~np.isin(apps.borrower[ok], apps.borrower[chosen_all])]
            if cand.size == 0:
                break
            order = np.lexsort((offers["apr"][cand], apps.borrower[cand]))
            cand = cand[order]
            first = np.r_[True, apps.borrower[cand][1:] != apps.borrower[cand][:-1]]
            pick = cand[first]
            tried[pick] = True
            if round_ == 0:
                # Demand each platform attracted as borrowers' first choice, funded or not: it sets next plans.
                on_p = apps.desk[pick] < self.n_platforms
                self.flows.platform_demand += np.bincount(apps.desk[pick][on_p], weights=apps.amount[pick][on_p],
                                                          minlength=self.n_platforms)
            got = self._fund_with_rerouting(apps, offers, pick)
            chosen_all[pick[got]] = True
        sel = chosen_all
        self.proceeds = np.bincount(apps.borrower[sel], weights=apps.amount[sel], minlength=self.borrowers.n)
        self._originate(apps.subset(sel), {k: v[sel] for k, v in offers.items()})

    def _fund_with_rerouting(self, apps: Applications, offers: dict[str, np.ndarray], pick: np.ndarray,
                             retries: int = 2) -> np.ndarray:
        """Fund the picked offers within credit lines; returns the funded mask over ``pick``.

        A platform loan that does not fit its drawn funder's remaining line is routed to the funder of the
        same kind (so the same caps and price apply) with the most room left at that platform, up to
        ``retries`` times. ``offers["funder"]`` is updated in place for rerouted loans.
        """
        P, F = self.n_platforms, self.n_funders
        funded = np.zeros(pick.size, dtype=bool)
        todo = np.arange(pick.size)
        for attempt in range(retries + 1):
            if todo.size == 0:
                break
            idx = pick[todo]
            if attempt > 0:
                on_p = apps.desk[idx] < P
                idx_p = idx[on_p]
                if idx_p.size == 0:
                    break
                remaining = self.capacity[: F * P].reshape(F, P)
                kind = self._funder_kind[offers["funder"][idx_p]]
                room = remaining[:, apps.desk[idx_p]].T  # (loans, funders)
                room = np.where(self._funder_kind[None, :] == kind[:, None], room, -1.0)
                offers["funder"][idx_p] = np.argmax(room, axis=1)
                todo = todo[on_p]
                idx = pick[todo]
            key = self._line_key(apps.desk[idx], offers["funder"][idx])
            got = fund_in_order(key, apps.amount[idx], self.capacity, self.rng.permutation(idx.size))
            self.capacity -= np.bincount(key[got], weights=apps.amount[idx][got], minlength=self.capacity.size)
            funded[todo[got]] = True
            todo = todo[~got]
        return funded

    def _originate(self, apps: Applications, offers: dict[str, np.ndarray]) -> None:
        """Commit new licensed loans to the book and record the month's origination flows."""
        if apps.borrower.size == 0:
            return
        prm = self.params
        P = self.n_platforms
        is_plat = apps.desk < P
        self.loans.add(NewLoans(
            borrower=apps.borrower, desk=apps.desk, funder=offers["funder"], platform=np.where(is_plat, apps.desk, -1),
            principal=apps.amount, apr=offers["apr"], funder_rate=offers["funder_rate"],
            guaranteed=offers["guaranteed"], term=prm.borrowers.term_months,
            amortizing_share=prm.borrowers.amortizing_share, step=self.t, pd_est=offers["est_pd"],
        ))
        self.renewed = np.r_[self.renewed, np.zeros(apps.borrower.size, dtype=bool)]
        fl = self.flows
        fl.new_amount.append(apps.amount)
        fl.new_apr.append(offers["apr"])
        plat = apps.desk[is_plat]
        fl.platform_volume += np.bincount(plat, weights=apps.amount[is_plat], minlength=P)
        fl.platform_loans += np.bincount(plat, minlength=P)
        chan = apps.channel[is_plat]
        buy = chan < N_BUY_CHANNELS
        el = np.where(offers["guaranteed"], offers["est_pd"] * prm.pricing.lgd, 0.0)[is_plat]
        value = (offers["originator_rate"][is_plat] - el) * apps.amount[is_plat]
        np.add.at(fl.channel_value, (plat[buy], chan[buy]), value[buy])

    def shadow_lend(self) -> None:
        """Borrowers refused licensed credit may borrow from shadow lenders while payment channels allow."""
        b = self.borrowers
        prm = self.params.borrowers
        L = self.loans
        got = shadow.shadow_lend(
            self.rng, seeking=self.seeking, seeking_refi=self.seeking_refi, delinquent_need=self.delinquent_need,
            proceeds=self.proceeds, shortfall=self.shortfall, seek_amount=self.seek_amount,
            loan_borrower=L.view("borrower"), loan_shadow=L.view("shadow"), shadow_open=self.rules.shadow_open,
            prob_refinance=prm.shadow_prob_refinance, prob_consumption=prm.shadow_prob_consumption,
            max_shadow_loans=prm.max_shadow_loans,
        )
        self.flows.rationed = got.rationed
        self.shadow_proceeds = np.zeros(b.n)
        who, amount = got.who, got.amount
        if who.size == 0:
            return
        self.loans.add(NewLoans(
            borrower=who, desk=np.full(who.size, -1), funder=np.full(who.size, -1), platform=np.full(who.size, -1),
            principal=amount, apr=np.full(who.size, prm.shadow_apr), funder_rate=np.zeros(who.size),
            guaranteed=np.zeros(who.size, dtype=bool), term=prm.shadow_term_months, amortizing_share=1.0,
            step=self.t, shadow=True,
        ))
        self.renewed = np.r_[self.renewed, np.zeros(who.size, dtype=bool)]
        self.shadow_proceeds[who] = amount
        self.flows.shadow_volume = float(amount.sum())

    def settle_repayments(self) -> None:
        """Borrowers pay, fall behind, cure or are charged off (model/mechanisms/settlement.py).

        Writes the borrowers' new state and the billed loans' balances back, and leaves the month's
        payments, defaults and charge-offs in ``self.flows`` for accounting and the recorder.
        """
        b = self.borrowers
        L = self.loans
        bp = self.params.borrowers
        n_old = self.principal_due.size  # loans that existed at billing time (new ones come after)
        st = settlement.settle_repayments(
            dpd=b.dpd, arrears=b.arrears, buffer_cap=b.buffer_cap, btr_months=b.btr_months,
            dsti_at_btr_start=b.dsti_at_btr_start, excluded_until=b.excluded_until, cash=self.cash,
            proceeds=self.proceeds, shadow_proceeds=self.shadow_proceeds, due=self.due,
            interest_due_b=self.interest_due_b, seeking_refi=self.seeking_refi, delinquent_need=self.delinquent_need,
            dsti=self.dsti, interest_due=self.interest_due, principal_due=self.principal_due,
            renewed=self.renewed[:n_old], amort=L.amort[:n_old], balance=L.view("balance"),
            months_left=L.months_left[:n_old], borrower=L.view("borrower"), t=self.t,
            chargeoff_months=bp.chargeoff_months, recovery_rate=bp.recovery_rate, exclusion_months=bp.exclusion_months,
        )
        b.dpd, b.arrears, b.buffer = st.dpd, st.arrears, st.buffer
        b.btr_months, b.dsti_at_btr_start, b.excluded_until = st.btr_months, st.dsti_at_btr_start, st.excluded_until
        L.balance[:n_old] = st.balance
        L.months_left[:n_old] = st.months_left
        fl = self.flows
        fl.interest_paid = st.interest_paid
        fl.balance_start = st.balance_start
        fl.new_defaults_b = st.new_defaults_b
        fl.chargeoff = st.chargeoff
        fl.loss = st.loss

    def keep_accounts(self) -> None:
        """Book the month for every platform and funder, then drop repaid and charged-off loans.

        Guarantee claims are computed first; each platform honours its claims from capital in turn, and
        the rest of the books follow from what was paid (model/mechanisms/accounting.py).
        """
        L = self.loans
        P = self.n_platforms
        fl = self.flows
        n_old = fl.interest_paid.size
        loss = fl.loss[:n_old] if fl.loss.size >= n_old else np.zeros(n_old)
        claims = accounting.guarantee_claims(loss=loss, guaranteed=L.guaranteed[:n_old], platform=L.platform[:n_old],
                                             shadow=L.shadow[:n_old], n_platforms=P)
        paid = np.array([p.honour_guarantees(claims.claims[p.index]) for p in self.platforms]) if P else np.zeros(0)
        bk = accounting.book_month(
            interest_paid=fl.interest_paid, balance_start=fl.balance_start, loss=loss, chargeoff=fl.chargeoff[:n_old],
            claims=claims, paid=paid, platform_solvent=np.array([p.capital > 0 for p in self.platforms], dtype=bool),
            balance=L.view("balance"), platform=L.view("platform"), funder=L.view("funder"), desk=L.view("desk"),
            apr=L.view("apr"), funder_rate=L.view("funder_rate"), guaranteed=L.view("guaranteed"),
            shadow=L.view("shadow"), borrower=L.view("borrower"), pd_est=L.view("pd_est"), dpd=self.borrowers.dpd,
            funding_cost=self._funder_cost, direct_opex_rate=np.array([f.direct_opex_rate for f in self.funders]),
            opex_rate=np.array([p.opex_rate for p in self.platforms]), lgd=self.params.pricing.lgd,
        )
        partner_cost_q = self.rules.partner_cost
        for f in self.funders:
            i = f.index
            f.direct_outstanding = float(bk.direct_balance[i])
            f.record_month(
                income=bk.income[i], funding=bk.funding[i], loss=bk.loss[i], balance=bk.balance[i], npl=bk.npl[i],
                direct_income=float(bk.direct_income[i]), direct_cost=float(bk.direct_cost[i]),
                direct_loss=float(bk.direct_loss[i]), partner_cost_q=partner_cost_q,
            )
        for p in self.platforms:
            i = p.index
            p.record_month(revenue=float(bk.revenue[i]), opex=float(bk.opex[i]), acquisition=fl.spend[i],
                           volume=float(fl.platform_volume[i]), demand=float(fl.platform_demand[i]),
                           loans=int(fl.platform_loans[i]), lines=float(fl.lines[i]) if fl.lines.size else 0.0,
                           value=fl.channel_value[i], outstanding=float(bk.outstanding[i]),
                           npl=float(bk.platform_npl[i]), loss=float(bk.platform_loss[i]))
        for p in self.platforms:
            p.learn_losses(bk.expected[p.index], bk.realised[p.index])
        for f in self.funders:
            f.learn_losses(bk.expected[P + f.index], bk.realised[P + f.index])
        fl.funder_loss_total = bk.funder_loss_total
        fl.guarantee_paid = bk.guarantee_paid
        fl.licensed_loss = bk.licensed_loss
        fl.outstanding = bk.outstanding_total
        fl.npl = bk.npl_total
        # New loans' volumes by funder (for the funder table).
        self._record_new_by_funder()
        L.remove(bk.finished)
        self.renewed = np.zeros(L.size, dtype=bool)

    def _record_new_by_funder(self) -> None:
        L = self.loans
        nv = accounting.new_volume_by_funder(
            orig_step=L.view("orig_step"), shadow=L.view("shadow"), funder=L.view("funder"),
            platform=L.view("platform"), principal0=L.view("principal0"), apr=L.view("apr"), t=self.t,
            cap_all_in=self.rules.cap_all_in, funder_kind=self._funder_kind, n_funders=self.n_funders,
        )
        fl = self.flows
        fl.funder_platform_volume = nv.platform_volume
        fl.funder_direct_volume = nv.direct_volume
        fl.funder_apr_weighted = nv.apr_weighted
        fl.near_cap_volume = nv.near_cap_volume

    def review_quarter(self) -> None:
        """Quarter end: platforms re-plan or exit; funders review whitelists or leave platform lending."""
        for p in self.platforms:
            p.quarterly_review(self.rng, allow_exit=not self.burning_in)
        if not self.n_platforms:
            return
        fp = self.params.funders
        wl = self.params.policy.whitelist
        active = np.array([p.active for p in self.platforms], dtype=bool)
        wants = np.array([p.planned_volume > p.lines * 0.999 for p in self.platforms], dtype=bool) & active
        score = preference_scores(
            np.array([p.outstanding for p in self.platforms]), np.array([p.age_months for p in self.platforms]),
            np.array([p.loss_rate for p in self.platforms]), np.array([p.complaints for p in self.platforms]),
            fp.pref_scale, fp.pref_age, fp.pref_track, fp.pref_compliance,
        )
        for f in self.funders:
            f.review_whitelist(
                active=active, score=score, loss_rate=np.array([p.loss_rate for p in self.platforms]),
                age_months=np.array([p.age_months for p in self.platforms]),
                complaints=np.array([p.complaints for p in self.platforms]), wants_funding=wants,
                whitelist_on=self.rules.whitelist, min_age=wl.min_age_months, max_complaints=wl.max_complaints,
                max_partners=wl.max_partners if self.rules.whitelist else 0, partner_cost_q=self.rules.partner_cost,
                allow_leave=not self.burning_in,
            )


@dataclass
class _Desks:
    """Per-desk inputs of screening and pricing (platforms first, then each funder's direct desk)."""

    sigma: np.ndarray
    markup: np.ndarray
    take: np.ndarray
    fee: np.ndarray
    target: np.ndarray
    active: np.ndarray
    pd_scale: np.ndarray


class _MonthFlows:
    """Scratch space for one month's flows, read by accounting and the recorder."""

    def __init__(self, n_platforms: int, n_funders: int, n_borrowers: int):
        self.lines = np.zeros(n_platforms)
        self.spend = np.zeros((n_platforms, N_BUY_CHANNELS))
        self.channel_value = np.zeros((n_platforms, N_BUY_CHANNELS))
        self.platform_volume = np.zeros(n_platforms)
        self.platform_demand = np.zeros(n_platforms)
        self.platform_loans = np.zeros(n_platforms, dtype=np.int64)
        self.new_amount: list[np.ndarray] = []
        self.new_apr: list[np.ndarray] = []
        self.applicants = 0
        self.rationed = 0
        self.shadow_volume = 0.0
        self.traffic_price = 0.0
        self.withdrawn_volume = 0.0
        self.interest_paid = np.zeros(0)
        self.balance_start = np.zeros(0)
        self.loss = np.zeros(0)
        self.chargeoff = np.zeros(0, dtype=bool)
        self.new_defaults_b = np.zeros(n_borrowers, dtype=bool)
        self.funder_loss_total = 0.0
        self.guarantee_paid = 0.0
        self.licensed_loss = 0.0
        self.outstanding = 0.0
        self.npl = 0.0
        self.funder_platform_volume = np.zeros(n_funders)
        self.funder_direct_volume = np.zeros(n_funders)
        self.funder_apr_weighted = np.zeros(n_funders)
        self.near_cap_volume = 0.0
