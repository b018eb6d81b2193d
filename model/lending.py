"""LendingModel: the industry's monthly step (docs/design.md, "The monthly step").

``LendingModel.step`` is the table of contents of a month. Each phase method gathers its inputs from the
agents and arrays, calls a pure function in :mod:`model.mechanisms` and applies the result; the initial 2024
world is built by :mod:`model.world`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import mesa
import numpy as np
import pandas as pd
from mesa.agent import AgentSet

from model import kernels, memory, world
from model.borrowers import BorrowerPopulation, LoanBook, NewLoans
from model.calendar import format_month, is_quarter_end, parse_month
from model.config import Scenario
from model.enums import FunderKind
from model.institutions import attribute_arrays
from model.mechanisms import accounting, billing, funding, renewal, reviews, settlement, shadow
from model.mechanisms import acquisition as acq
from model.mechanisms.acquisition import N_BUY_CHANNELS
from model.mechanisms.funding import allocate_lines_in_stages, fund_from_pools, preference_scores
from model.mechanisms.macro import hazard_multiplier, lpr_at
from model.mechanisms.pricing import max_priceable_pd, priced_above
from model.mechanisms.underwriting import REPEAT, Applications, Desks, Offers, underwrite
from model.output import Recorder
from model.policy import Regulator, Rules, rules_in_force


class LendingModel(mesa.Model):
    """Banks, consumer-finance companies, microlenders, trusts, platforms and borrowers under dated rules.

    Args:
        scenario: a validated :class:`model.config.Scenario`.
        rng: seed (or numpy generator) of the run's one random generator.

    Attributes:
        platforms, funders: the institutions (Mesa agent sets, in index order).
        borrowers, loans: the borrower population and the loan book (arrays).
        lenders: the funders' fixed pricing inputs as arrays.

    Desks: every place a loan is originated. Desks ``0..P-1`` are the platforms; desk ``P + f`` is funder
    ``f``'s direct-lending desk.
    """

    def __init__(self, scenario: Scenario, rng: int | np.random.Generator | None = None):
        super().__init__(rng=rng)
        self.scenario = scenario
        self.params = prm = scenario.params
        if prm.run.borrowers > memory.LARGE_POPULATION:
            memory.keep_freed_memory()  # the month's large temporaries reuse freed memory (model/memory.py)
        self.start_month = parse_month(prm.run.start)
        self.horizon = prm.run.months
        self.month = self.start_month - 1
        self.scale = prm.run.borrowers / 1000.0
        self.weight = max(prm.run.population / max(prm.run.borrowers, 1), 1.0)  # real borrowers per modelled one
        self.t = 0  # model month index: 1..horizon when recorded, <= 0 during burn-in
        # Institutions are drawn before the borrowers, so one seed gives the same industry at every population size.
        platforms, self._platform_weight = world.build_platforms(self, prm, self.scale)
        funders = world.build_funders(self, prm, len(platforms), self.scale)
        self.platforms = AgentSet(platforms, random=self.random)
        self.funders = AgentSet(funders, random=self.random)
        self.regulator = Regulator(self, prm.policy, prm.funders.partner_cost * self.scale, self.scale)
        self.n_platforms = len(platforms)
        self._platform_tier = np.array([int(p.tier) for p in platforms], dtype=np.int64)
        self._reach = acq.platform_reach(weight=self._platform_weight, tier=self._platform_tier,
                                         spend_returns=prm.channels.spend_returns)
        self.n_funders = len(funders)
        self.n_desks = self.n_platforms + self.n_funders
        self.lenders = world.lenders_of(funders)
        world.initial_whitelists(self.rng, prm, platforms, funders, self._platform_weight)
        self.borrowers = BorrowerPopulation(prm.run.borrowers, prm.borrowers, self.rng)
        self.loans = LoanBook(capacity=int(prm.run.borrowers * 1.2) + 64)
        world.initial_book(self.rng, params=prm, borrowers=self.borrowers, loans=self.loans, platforms=platforms,
                           funders=funders, weight=self._platform_weight, desks=self.gather_desks(),
                           lenders=self.lenders, rules=self._rules_for(self.start_month))
        self.rules: Rules | None = None
        self._last_lines = CreditLines(np.zeros((self.n_funders, self.n_platforms), dtype=bool),
                                       np.zeros(self.n_funders * (self.n_platforms + 1)),
                                       np.zeros(self.n_funders * (self.n_platforms + 1)))
        self.burning_in = False
        self._burn_in(prm.run.burn_in)
        self.recorder = Recorder(self)
        self.running = True

    def _burn_in(self, months: int) -> None:
        """Run ``months`` unrecorded months under the start month's rules with the platforms held in the market.

        Platforms and funders book their flows, platforms learn and re-plan, and funders review their
        whitelists and direct books and may leave platform lending, close their direct desks or fail, as in
        any month; no platform exits. Afterwards platform and funder capital are set to their calibrated ratios of
        the burned-in books and platforms' unfunded streaks start afresh, while their risk appetite and acquisition
        intensity carry through; funders keep their records, so a funder that cannot earn leaves during the
        burn-in rather than in a burst at a later review. The initial book sets off a credit cycle (debts build
        up, a default wave about 20 months in, lenders learn their losses, and the charged-off return after
        their exclusion); the default 60 months let it settle, so that recorded months start from a steady 2024.
        """
        if months <= 0:
            return
        self.burning_in = True
        for k in range(months):
            self._one_month(step=k - months + 1)
        self.burning_in = False
        self.platforms.do("rebase_after_burn_in", self.params.borrowers.loan_life_months)
        self.funders.do("rebase_after_burn_in")

    # ================================================================= step
    def step(self) -> None:
        """One recorded month."""
        self.month = self.start_month + self.steps - 1
        self._one_month(step=self.steps)
        self.recorder.collect()                 # 14. data collection
        if self.steps >= self.horizon:
            self.running = False

    def _one_month(self, step: int) -> None:
        """The phases of a month, numbered as in docs/design.md. ``step`` <= 0 during burn-in.

        What one phase hands the next is named: the month's credit lines, each borrower's debt position,
        the bills, the credit demand, applications and offers, the loans' proceeds and the settlement.
        ``self.flows`` collects the month's flows for the accounts and the recorder.
        """
        self.t = step
        if self.burning_in:
            self.month = self.start_month
        self.flows = MonthFlows(self.n_platforms, self.n_funders, self.borrowers.n)
        self.regulate()                                         # 1. rules in force; mandates, freezes, bans
        self.desks = self.gather_desks()
        self.update_macro()                                     # 2. LPR path and income-shock hazard
        cash = self.earn_and_spend()                            # 3. income shocks, income, essential spending
        lines = self.extend_credit_lines()                      # 4. funders commit budgets to whitelisted platforms
        debt = self.measure_debt()
        renewed = self.mature_and_withdraw(lines, debt)         # 5. maturing lines renewed or withdrawn; clean-up
        bills = self.bill_repayments(cash, renewed)             # 6. instalments due; shortfalls need refinancing
        demand, apps = self.acquire_applicants(bills, debt)     # 7. credit seekers reach desks through channels
        offers = self.underwrite(apps, lines, debt)             # 8. screening and pricing under the binding cap
        # Hand-offs are freed once no later phase needs them: settlement and the accounts are the month's memory peak.
        dsti = debt.dsti  # all that later phases need of the debt positions
        del debt
        proceeds = self.fund_and_originate(apps, offers, lines)  # 9. funding within lines; cheapest offer taken
        shadow_proceeds = self.shadow_lend(demand, bills, apps, offers, proceeds)  # 10. the rationed go to shadow
        del lines, apps, offers
        settled = self.settle_repayments(cash, bills, demand, dsti, renewed,  # 11. payments, delinquency,
                                         proceeds, shadow_proceeds)            # charge-offs
        del cash, dsti, renewed, bills, demand, proceeds, shadow_proceeds
        self.keep_accounts(settled)                             # 12. accounts; guarantees honoured or failed
        if self.burning_in:
            quarter_end = step % 3 == 0 and step > -self.params.run.burn_in_reviews
        else:
            quarter_end = is_quarter_end(self.month)
        if quarter_end:
            self.review_quarter()                               # 13. whitelist reviews, re-planning, exits

    def run(self, on_step=None) -> None:
        """Run the scenario's horizon, calling ``on_step(model)`` after each month."""
        while self.running and self.steps < self.horizon:
            self.step()
            if on_step is not None:
                on_step(self)

    def continue_as(self, scenario: Scenario) -> None:
        """Go on under ``scenario`` from the next month: the model's copy of a shared past (docs/design.md,
        "Forked runs").

        ``scenario`` may differ from the model's own only in its policy levers, and in its horizon when the LPR
        path does not depend on the horizon (``macro.lpr_start == macro.lpr_end``; :func:`lpr_at` interpolates
        to the horizon otherwise). Every place the model keeps the scenario or an object built from its
        parameters is rebound: the scenario and its params, the regulator's policy (rules are resolved from it
        every month, so the model's and the regulator's cached ``rules`` are replaced at the next month), the
        borrowers' and platforms' parameter sections, and the horizon. Everything else built from parameters
        (the lenders' arrays, the platforms' reach, the agents' own values) comes from sections that are equal.
        It is for a model whose months so far are the same under both scenarios; whether they are is the
        caller's judgement (:func:`experiments.engine.fork.divergence_month`).

        Raises:
            ValueError: if ``scenario`` differs in anything else, or its horizon is shorter than the months run.
        """
        old, new = self.params, scenario.params
        flat_lpr = new.macro.lpr_start == new.macro.lpr_end
        run = dataclasses.replace(new.run, months=old.run.months) if flat_lpr else new.run
        if repr(dataclasses.asdict(dataclasses.replace(new, policy=old.policy, run=run))) != repr(
                dataclasses.asdict(old)):
            raise ValueError(f"scenario {scenario.name!r} differs from {self.scenario.name!r} in more than its policy "
                             "(and a horizon the LPR path ignores): it cannot continue this model")
        if self.steps > new.run.months:
            raise ValueError(f"the model has run {self.steps} months, past the {new.run.months}-month horizon of "
                             f"{scenario.name!r}")
        self.scenario = scenario
        self.params = new
        self.regulator.policy = new.policy
        self.borrowers.params = new.borrowers
        for p in self.platforms:
            p.pp = new.platforms
        self.horizon = new.run.months
        self.running = self.steps < self.horizon

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
        return lpr_at(self.params.macro, month, self.start_month, self.horizon)

    def _rules_for(self, month: int) -> Rules:
        return rules_in_force(self.params.policy, month, self._lpr(month), self._lpr_by(),
                              self.params.funders.partner_cost * self.scale, self.scale)

    def _lpr_by(self) -> dict[str, float]:
        return {k.value: self._lpr(parse_month(getattr(self.params.policy.kind_caps, k.value).by)) for k in FunderKind}

    def regulate(self) -> None:
        """1. The regulator resolves the rules in force and imposes mandates, freezes and bans on funders."""
        self.lpr = self._lpr(self.month)
        self.rules = self.regulator.apply(self.month, self.lpr, self._lpr_by(), self.funders)

    def gather_desks(self) -> Desks:
        """Each desk's screening and pricing inputs as arrays, gathered from the agents once a month."""
        p = attribute_arrays(self.platforms, ("sigma", "markup", "take_rate", "service_fee", "target_pd", "active",
                                              "pd_scale", "plan_target_pd"))
        f = attribute_arrays(self.funders, ("sigma", "direct_opex_rate", "direct_target_pd", "direct_budget",
                                            "pd_scale"))
        n_f = len(self.funders)
        return Desks(
            sigma=np.concatenate([p["sigma"], f["sigma"]]),
            markup=np.concatenate([p["markup"], np.full(n_f, self.params.pricing.direct_markup)]),
            take=np.concatenate([p["take_rate"], f["direct_opex_rate"]]),
            fee=np.concatenate([p["service_fee"], np.zeros(n_f)]),
            target=np.concatenate([p["target_pd"], f["direct_target_pd"]]),
            active=np.concatenate([p["active"].astype(bool), f["direct_budget"] > 0]),
            pd_scale=np.concatenate([p["pd_scale"], f["pd_scale"]]),
            target_uncapped=np.concatenate([p["plan_target_pd"], f["direct_target_pd"]]),
        )

    def update_macro(self) -> None:
        """2. Macro conditions: the income-shock hazard multiplier of an unemployment shock."""
        self.hazard_multiplier = hazard_multiplier(self.params.macro, self.month)

    def earn_and_spend(self) -> np.ndarray:
        """3. Income shocks start and end; returns each borrower's cash after essential spending."""
        b = self.borrowers
        # BorrowerPopulation.update_shocks then cash_available, compiled (model/kernels.py), on the same draws.
        b.shocked, cash = kernels.shocks_and_cash(
            u=b.draw_shocks(self.rng), shocked=b.shocked, hazard=b.hazard, hazard_multiplier=self.hazard_multiplier,
            shock_months_mean=b.params.shock_months_mean, income=b.income,
            shock_income_share=b.params.shock_income_share, buffer=b.buffer, spend_share=b.spend_share)
        return cash

    def _platform_record(self) -> dict[str, np.ndarray]:
        """What funders see of every platform: its record, as arrays over platforms."""
        return attribute_arrays(self.platforms, ("active", "outstanding", "age_months", "loss_rate", "complaints",
                                                 "planned_volume", "lines"))

    def _platform_scores(self, record: dict[str, np.ndarray]) -> np.ndarray:
        """Funders' preference for each platform (scale, history, track record, compliance) from its record."""
        fp = self.params.funders
        return preference_scores(record["outstanding"], record["age_months"], record["loss_rate"],
                                 record["complaints"], fp.pref_scale, fp.pref_age, fp.pref_track, fp.pref_compliance)

    def _whitelists(self) -> np.ndarray:
        """Every funder's whitelist, shape (funders, platforms)."""
        if not self.n_funders:
            return np.zeros((0, self.n_platforms), dtype=bool)
        return np.array(self.funders.get("partners"))

    def extend_credit_lines(self) -> CreditLines:
        """4. Funders split their platform budgets over whitelisted, active platforms by preference.

        Lines are running quotas: what a pool of lines left unused last month, or overdrew, carries into this
        month's lines (:func:`funding.carried_over`), so pools lend their commitments over time however lumpy
        the month's loans are.
        """
        fp = self.params.funders
        record = self._platform_record()
        active = record["active"].astype(bool)
        demand = np.array(self.platforms.map("funding_request"))
        budget = np.array(self.funders.map("platform_budget_now"))
        partners = self._whitelists() & active[None, :]
        score = self._platform_scores(record) if self.n_platforms else np.zeros(0)
        # Funders first renew what each platform drew last month, then grant the growth room it asks for.
        drawn = np.minimum(np.array(self.platforms.get("volume"), dtype=float), demand)
        lines = allocate_lines_in_stages(budget, [drawn, demand], partners, fp.pref_sharpness * score)
        for f, b_f, l_f in zip(self.funders, budget, lines.sum(axis=1), strict=True):
            f.record_lines(float(b_f), float(l_f))
        self.flows.lines = lines.sum(axis=0)
        committed = np.concatenate([lines.ravel(), self.funders.get("direct_budget")])
        capacity = committed + funding.carried_over(self._last_lines.capacity, self._last_lines.committed, committed,
                                                    funder_kind=self.lenders.kind, n_platforms=self.n_platforms)
        credit = CreditLines(partners=partners, capacity=capacity, committed=committed)
        self._last_lines = credit
        self.flows.credit = credit
        return credit

    def measure_debt(self) -> renewal.DebtPositions:
        """Each borrower's licensed loans, licensed debt and debt service to income at the start of the month."""
        L = self.loans
        # renewal.measure_debt of the book's instalments, compiled (model/kernels.py).
        debt = kernels.measure_debt(borrower=L.view("borrower"), balance=L.view("balance"), shadow=L.view("shadow"),
                                    apr=L.view("apr"), amort=L.view("amort"), income=self.borrowers.income)
        self.flows.dsti = debt.dsti
        return debt

    def mature_and_withdraw(self, lines: CreditLines, debt: renewal.DebtPositions) -> np.ndarray:
        """5. Maturing credit lines are renewed by lenders that still can and will; the rest are withdrawn.

        At the clean-up deadline, stock loans priced above the cap are called (due next month, not renewable).
        Renewals are underwritten like new loans, stay with their desk and funder, and draw on the same pools
        of lines as new loans (:func:`funding.fund_from_pools`).
        Returns the renewed mask over the book as it stands after the renewals.
        """
        L = self.loans
        n = L.size
        if n == 0:
            return np.zeros(0, dtype=bool)
        fund = L.view("funder")
        if self.rules.cleanup_call:
            cap = np.minimum(self.rules.cap_nominal, self.rules.cap_all_in)[self.lenders.kind[np.maximum(fund, 0)]]
            called = renewal.called_above_cap(shadow=L.view("shadow"), apr=L.view("apr"), cap=cap)
            L.months_left[:n][called] = np.minimum(L.months_left[:n][called], 1)
            L.renewable[:n][called] = False
        # renewal.lender_still_lends and renewal_wanted, compiled (model/kernels.py): renewable lines are updated in
        # place; cand are the maturing lines whose borrower asks to renew and whose lender still lends, withdrawn
        # those whose lender no longer does.
        if not kernels.any_maturing(L.view("shadow"), L.view("months_left")):
            return np.zeros(n, dtype=bool)
        b = self.borrowers
        bor = L.view("borrower")
        cand, withdrawn = kernels.renewals(
            self.rng, t=self.t, shadow=L.view("shadow"), months_left=L.view("months_left"),
            platform=L.view("platform"), funder=fund, borrower=bor, renewable=L.view("renewable"),
            platform_active=attribute_arrays(self.platforms, ("active",))["active"].astype(bool),
            partners=lines.partners,
            direct_open=attribute_arrays(self.funders, ("direct_lending",))["direct_lending"].astype(bool),
            dpd=b.dpd, excluded_until=b.excluded_until, revolve_prob=b.revolve_prob)
        self.flows.withdrawn_volume = float(L.view("balance")[withdrawn].sum())
        if cand.size == 0:
            return np.zeros(n, dtype=bool)
        # A renewed line is drawn again in full: the new loan pays off the balloon, the rest is spent.
        balloon = L.view("principal0")[cand]
        apps = Applications(bor[cand], L.view("desk")[cand].astype(np.int64), np.full(cand.size, REPEAT), balloon,
                            fund[cand].astype(np.int64))
        offers = self.underwrite(apps, lines, debt)
        funded = np.zeros(cand.size, dtype=bool)
        if offers.ok.any():
            idx = np.flatnonzero(offers.ok)
            funder = offers.funder[idx]
            got = fund_from_pools(self.rng, desk=apps.desk[idx], amount=balloon[idx], funder=funder,
                                      capacity=lines.capacity, funder_kind=self.lenders.kind,
                                      n_platforms=self.n_platforms)
            funded[idx[got]] = True
        self.flows.withdrawn_volume += float(balloon[~funded].sum())
        self._originate(apps.subset(funded), offers.subset(funded))
        renewed = np.zeros(L.size, dtype=bool)
        renewed[cand[funded]] = True
        return renewed

    def bill_repayments(self, cash: np.ndarray, renewed: np.ndarray) -> billing.Bills:
        """6. Instalments (interest plus amortization) and due balloons; a shortfall needs refinancing."""
        L = self.loans
        return kernels.bill_repayments(  # billing.bill_repayments, compiled (model/kernels.py)
            balance=L.view("balance"), months_left=L.view("months_left"), amort=L.view("amort"), apr=L.view("apr"),
            borrower=L.view("borrower"), renewed=renewed, arrears=self.borrowers.arrears, cash=cash,
            n_borrowers=self.borrowers.n,
        )

    def acquire_applicants(self, bills: billing.Bills,
                           debt: renewal.DebtPositions) -> tuple[acq.CreditDemand, Applications]:
        """7. Credit seekers (new consumption credit, or refinancing a shortfall) apply through channels.

        Platforms spend their traffic budgets over channels by their mix; each seeker's applications go to
        direct lenders' apps or, through a channel, to platforms (:func:`acquisition.route_applications`).
        """
        b = self.borrowers
        bp = self.params.borrowers
        # acquisition.seek_credit, compiled (model/kernels.py)
        demand = kernels.seek_credit(self.rng, t=self.t, dpd=b.dpd, excluded_until=b.excluded_until,
                                     shortfall=bills.shortfall, n_licensed=debt.n_licensed, seek_prob=b.seek_prob,
                                     loan_size=b.loan_size, max_loans=bp.max_loans)
        self.flows.applicants = int(np.count_nonzero(demand.seeking))
        self.flows.seeking = demand.seeking
        budgets = np.array(self.platforms.map("acquisition_budget"))
        mix = np.array(self.platforms.get("mix")) if self.n_platforms else np.zeros((0, N_BUY_CHANNELS))
        spend = budgets[:, None] * mix
        self.flows.spend = spend
        L = self.loans
        apps, self.flows.traffic_price = acq.route_applications(
            self.rng, demand, spend=spend, reach=self._reach, direct_budget=np.array(self.funders.get("direct_budget")),
            risk_z=b.risk_z, n_licensed=debt.n_licensed, bp=bp, channels=self.params.channels,
            book_borrower=L.view("borrower"), book_desk=L.view("desk"), book_shadow=L.view("shadow"))
        return demand, apps

    def underwrite(self, apps: Applications, lines: CreditLines, debt: renewal.DebtPositions) -> Offers:
        """8. Screen and price each application (:func:`underwriting.underwrite`). No side effects on the book."""
        b = self.borrowers
        g_share = np.array([*self.platforms.map("guarantee_share_now", self.rules.guarantee_max_share, True), 0.0])
        return underwrite(self.rng, apps, desks=self.desks, lenders=self.lenders, params=self.params,
                          rules=self.rules, lines=lines.platform_lines(self.n_funders, self.n_platforms),
                          guarantee_share=g_share, income=b.income, hazard=b.hazard, shocked=b.shocked,
                          dsti=debt.dsti, debt_licensed=debt.debt_licensed)

    def fund_and_originate(self, apps: Applications, offers: Offers, lines: CreditLines) -> np.ndarray:
        """9. Each borrower takes the cheapest approved offer; loans draw on credit lines in random order.

        A borrower whose chosen line is exhausted falls back to the next-cheapest offer once; a platform loan
        draws on its platform's pool of same-kind lines (:func:`funding.fund_from_pools`). Returns each
        borrower's proceeds of new licensed loans.
        """
        ok = np.flatnonzero(offers.ok)
        if ok.size == 0:
            return np.zeros(self.borrowers.n)
        chosen_all = np.zeros(apps.borrower.size, dtype=bool)
        tried = np.zeros(apps.borrower.size, dtype=bool)
        for round_ in range(2):
            has_loan = np.zeros(self.borrowers.n, dtype=bool)  # borrowers already funded in an earlier round
            has_loan[apps.borrower[chosen_all]] = True
            cand = ok[~tried[ok] & ~has_loan[apps.borrower[ok]]]
            if cand.size == 0:
                break
            order = np.lexsort((offers.apr[cand], apps.borrower[cand]))
            cand = cand[order]
            first = np.r_[True, apps.borrower[cand][1:] != apps.borrower[cand][:-1]]
            pick = cand[first]
            tried[pick] = True
            if round_ == 0:
                # Demand each platform attracted as borrowers' first choice, funded or not: it sets next plans.
                on_p = apps.desk[pick] < self.n_platforms
                self.flows.platform_demand += np.bincount(apps.desk[pick][on_p], weights=apps.amount[pick][on_p],
                                                          minlength=self.n_platforms)
            funder = offers.funder[pick]
            got = fund_from_pools(self.rng, desk=apps.desk[pick], amount=apps.amount[pick], funder=funder,
                                      capacity=lines.capacity, funder_kind=self.lenders.kind,
                                      n_platforms=self.n_platforms)
            chosen_all[pick[got]] = True
        sel = chosen_all
        self._originate(apps.subset(sel), offers.subset(sel))
        proceeds = np.bincount(apps.borrower[sel], weights=apps.amount[sel], minlength=self.borrowers.n)
        self.flows.served = proceeds > 0
        return proceeds

    def _originate(self, apps: Applications, offers: Offers) -> None:
        """Commit new licensed loans to the book and record the month's origination flows."""
        if apps.borrower.size == 0:
            return
        prm = self.params
        P = self.n_platforms
        is_plat = apps.desk < P
        self.loans.add(NewLoans(
            borrower=apps.borrower, desk=apps.desk, funder=offers.funder, platform=np.where(is_plat, apps.desk, -1),
            principal=apps.amount, apr=offers.apr, funder_rate=offers.funder_rate,
            guaranteed=offers.guaranteed, term=prm.borrowers.term_months,
            amortizing_share=prm.borrowers.amortizing_share, step=self.t, pd_est=offers.est_pd,
        ))
        fl = self.flows
        fl.new_amount.append(apps.amount)
        fl.new_apr.append(offers.apr)
        fl.new_borrower.append(apps.borrower)
        fl.new_desk.append(apps.desk)
        plat = apps.desk[is_plat]
        fl.platform_volume += np.bincount(plat, weights=apps.amount[is_plat], minlength=P)
        fl.platform_loans += np.bincount(plat, minlength=P)
        chan = apps.channel[is_plat]
        buy = chan < N_BUY_CHANNELS
        el = np.where(offers.guaranteed, offers.est_pd * prm.pricing.lgd, 0.0)[is_plat]
        value = (offers.originator_rate[is_plat] - el) * apps.amount[is_plat]
        np.add.at(fl.channel_value, (plat[buy], chan[buy]), value[buy])

    def shadow_lend(self, demand: acq.CreditDemand, bills: billing.Bills, apps: Applications, offers: Offers,
                    proceeds: np.ndarray) -> np.ndarray:
        """10. Borrowers refused licensed credit may borrow from shadow lenders while payment channels allow;
        those priced out by the cap are the likeliest to.

        Returns each borrower's shadow-loan proceeds.
        """
        b = self.borrowers
        prm = self.params.borrowers
        L = self.loans
        got = kernels.shadow_lend(  # shadow.shadow_lend, compiled (model/kernels.py)
            self.rng, seeking=demand.seeking, seeking_refi=demand.refinancing, delinquent_need=demand.delinquent_need,
            proceeds=proceeds, shortfall=bills.shortfall, seek_amount=demand.amount,
            priced_out=shadow.priced_out_borrowers(borrower=apps.borrower, priced_out=offers.priced_out,
                                                   n_borrowers=b.n),
            loan_borrower=L.view("borrower"), loan_shadow=L.view("shadow"), shadow_open=self.rules.shadow_open,
            prob_refinance=prm.shadow_prob_refinance, prob_priced_out=prm.shadow_prob_priced_out,
            prob_consumption=prm.shadow_prob_consumption, max_shadow_loans=prm.max_shadow_loans,
        )
        self.flows.rationed = got.rationed
        shadow_proceeds = np.zeros(b.n)
        who, amount = got.who, got.amount
        if who.size == 0:
            return shadow_proceeds
        self.loans.add(NewLoans(
            borrower=who, desk=np.full(who.size, -1), funder=np.full(who.size, -1), platform=np.full(who.size, -1),
            principal=amount, apr=np.full(who.size, prm.shadow_apr), funder_rate=np.zeros(who.size),
            guaranteed=np.zeros(who.size, dtype=bool), term=prm.shadow_term_months, amortizing_share=1.0,
            step=self.t, shadow=True,
        ))
        shadow_proceeds[who] = amount
        self.flows.shadow_volume = float(amount.sum())
        return shadow_proceeds

    def settle_repayments(self, cash: np.ndarray, bills: billing.Bills, demand: acq.CreditDemand,
                          dsti: np.ndarray, renewed: np.ndarray, proceeds: np.ndarray,
                          shadow_proceeds: np.ndarray) -> settlement.Settlement:
        """11. Borrowers pay, fall behind, cure or are charged off (:func:`settlement.settle_repayments`).

        ``dsti`` is each borrower's debt service to income at the start of the month (``DebtPositions.dsti``).
        Writes the borrowers' new state and the billed loans' balances back; returns the settlement (payments,
        defaults and charge-offs) for the accounts. New defaults go to ``self.flows`` for the recorder.
        """
        b = self.borrowers
        L = self.loans
        bp = self.params.borrowers
        n_old = bills.principal_due.size  # loans that existed at billing time (new ones come after)
        st = kernels.settle_repayments(  # settlement.settle_repayments, compiled (model/kernels.py)
            dpd=b.dpd, arrears=b.arrears, buffer_cap=b.buffer_cap, btr_months=b.btr_months,
            dsti_at_btr_start=b.dsti_at_btr_start, excluded_until=b.excluded_until, cash=cash,
            proceeds=proceeds, shadow_proceeds=shadow_proceeds, due=bills.due,
            interest_due_b=bills.interest_due_b, seeking_refi=demand.refinancing,
            delinquent_need=demand.delinquent_need, dsti=dsti, interest_due=bills.interest_due,
            principal_due=bills.principal_due, renewed=renewed, amort=L.amort[:n_old], balance=L.view("balance"),
            months_left=L.months_left[:n_old], borrower=L.view("borrower"), t=self.t,
            chargeoff_months=bp.chargeoff_months, recovery_rate=bp.recovery_rate, exclusion_months=bp.exclusion_months,
            in_place=True, buffer_out=b.buffer,  # the new state is written over the old (kernels.settle_repayments)
        )
        b.dpd, b.arrears, b.buffer = st.dpd, st.arrears, st.buffer
        b.btr_months, b.dsti_at_btr_start, b.excluded_until = st.btr_months, st.dsti_at_btr_start, st.excluded_until
        self.flows.new_defaults_b = st.new_defaults_b
        self.flows.interest_due = bills.interest_due
        return st

    def keep_accounts(self, st: settlement.Settlement) -> None:
        """12. Book the month for every platform and funder, then drop repaid and charged-off loans.

        Guarantee claims are computed first; each platform honours its claims from capital in turn, and
        the rest of the books follow from what was paid (model/mechanisms/accounting.py).
        """
        L = self.loans
        P = self.n_platforms
        fl = self.flows
        n_old = st.interest_paid.size
        loss = st.loss[:n_old] if st.loss.size >= n_old else np.zeros(n_old)
        # Institutions book their interest income, losses and bad loans at the real population's scale (docs/ODD.md):
        # accounting.real_scale, guarantee_claims and book_month, compiled (model/kernels.py).
        by_desk = self._group_by_desk()
        loss, interest_paid, claims = kernels.scale_losses_and_claims(
            loss=loss, interest_paid=st.interest_paid, interest_due=fl.interest_due, balance_start=st.balance_start,
            pd_est=L.pd_est[:n_old], desk=L.desk[:n_old], by_desk=by_desk, guaranteed=L.guaranteed[:n_old],
            platform=L.platform[:n_old], shadow=L.shadow[:n_old], lgd=self.params.pricing.lgd, weight=self.weight,
            n_platforms=P)
        paid = np.array([p.honour_guarantees(claims[p.index]) for p in self.platforms]) if P else np.zeros(0)
        bk = kernels.book_month(
            interest_paid=interest_paid, balance_start=st.balance_start, loss=loss, chargeoff=st.chargeoff[:n_old],
            claims=claims, paid=paid, platform_solvent=attribute_arrays(self.platforms, ("capital",))["capital"] > 0,
            balance=L.view("balance"), platform=L.view("platform"), funder=L.view("funder"), desk=L.view("desk"),
            apr=L.view("apr"), funder_rate=L.view("funder_rate"), guaranteed=L.view("guaranteed"),
            shadow=L.view("shadow"), borrower=L.view("borrower"), pd_est=L.view("pd_est"), dpd=self.borrowers.dpd,
            funding_cost=self.lenders.cost, direct_opex_rate=np.array(self.funders.get("direct_opex_rate")),
            opex_rate=np.array(self.platforms.get("opex_rate")), lgd=self.params.pricing.lgd,
            by_desk=by_desk, weight=self.weight, pd_scale=self.desks.pd_scale,
        )
        partner_cost_q = self.rules.partner_cost
        for f in self.funders:
            i = f.index
            f.record_month(
                income=bk.income[i], funding=bk.funding[i], loss=bk.loss[i], balance=bk.balance[i], npl=bk.npl[i],
                direct_income=float(bk.direct_income[i]), direct_cost=float(bk.direct_cost[i]),
                direct_loss=float(bk.direct_loss[i]), direct_balance=float(bk.direct_balance[i]),
                direct_expected=float(bk.direct_expected[i]),
                partner_cost_q=partner_cost_q,
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

    def _group_by_desk(self) -> np.ndarray:
        """Pooling group of a loan by its desk for :func:`accounting.real_scale`, with -1 (no group) last.

        Platform loans pool by their platform's tier (0-2), direct loans by their funder's kind (3 + kind code);
        shadow loans are in no institution's book (-1). Desk ``p`` is platform ``p``, desk ``P + f`` funder ``f``'s
        direct desk and a shadow loan's desk is -1, the last entry of the table: a loan's group is
        ``by_desk[desk]``.
        """
        return np.concatenate([self._platform_tier, 3 + self.lenders.kind.astype(np.int64), [-1]])

    def _record_new_by_funder(self) -> None:
        L = self.loans
        nv = accounting.new_volume_by_funder(
            orig_step=L.view("orig_step"), shadow=L.view("shadow"), funder=L.view("funder"),
            platform=L.view("platform"), principal0=L.view("principal0"), apr=L.view("apr"), t=self.t,
            cap_all_in=self.rules.cap_all_in, funder_kind=self.lenders.kind, n_funders=self.n_funders,
        )
        fl = self.flows
        fl.funder_platform_volume = nv.platform_volume
        fl.funder_direct_volume = nv.direct_volume
        fl.funder_apr_weighted = nv.apr_weighted
        fl.near_cap_volume = nv.near_cap_volume

    def review_quarter(self) -> None:
        """13. Quarter end: platforms re-plan or exit; funders review their direct books and capital (closing
        the direct desk, or failing), then their whitelists (or leave platform lending).

        The direct review runs for every funder, also in a world without platforms. Announced rules are
        anticipated here: platforms weigh their books against a cap announced or in force (:meth:`_cap_exposure`), and
        funders review their whitelists ahead of an announced regime.
        """
        self.platforms.do("quarterly_review", self.rng, allow_exit=not self.burning_in,
                          cap_exposure=self._cap_exposure())
        self.funders.do("review_direct_lending")
        if not self.n_platforms:
            return
        wl = self.params.policy.whitelist
        record = self._platform_record()
        active = record["active"].astype(bool)
        wants = (record["planned_volume"] > record["lines"] * 0.999) & active
        # What one more funder could expect of each platform: its balance shared among its funders and the new one.
        reach = record["outstanding"] / (self._whitelists().sum(axis=0) + 1.0)
        if self.rules.whitelist or self.rules.whitelist_announced:
            self._consolidate_partners()
        self.funders.do(
            "review_whitelist", active=active, score=self._platform_scores(record), loss_rate=record["loss_rate"],
            age_months=record["age_months"], complaints=record["complaints"], wants_funding=wants,
            whitelist_on=self.rules.whitelist, min_age=wl.min_age_months, max_complaints=wl.max_complaints,
            max_partners=wl.max_partners if self.rules.whitelist else 0, partner_cost_q=self.rules.partner_cost,
            regime_announced=self.rules.whitelist_announced, anticipated_cost_q=self.rules.anticipated_partner_cost,
            reach=reach,
        )

    def _consolidate_partners(self) -> None:
        """Under a whitelist regime (in force or announced) funders review each partner on the business it would
        bring once the partners that cannot pay their charge have left it
        (:func:`reviews.consolidate_partner_records`)."""
        r = self.rules
        charge = reviews.partner_charge(r.partner_cost, r.anticipated_partner_cost, r.whitelist_announced)
        # A funder that left platform lending lists no partner (Funder.leave_platform_lending).
        records = {name: np.array(self.funders.get(name)) for name in reviews.PARTNER_RECORDS}
        merged = reviews.consolidate_partner_records(records, self._whitelists(), charge)
        for i, f in enumerate(self.funders):
            f.take_partner_records({name: values[i] for name, values in merged.items()})

    def _cap_exposure(self) -> reviews.CapExposure | None:
        """Every platform's book against the tightest caps announced or in force (None when no cap is either).

        Per platform loan: whether its price is above its funder kind's cap (:func:`pricing.priced_above`), the
        highest PD it could be priced at under that cap on its own funder, fees and guarantee while leaving the
        funder its full spread and the platform ``platforms.cap_margin_share`` of its markup
        (:func:`pricing.max_priceable_pd`), and whether a cap is in force for its funder's kind;
        :func:`reviews.cap_exposure` sums them per platform.
        """
        r = self.rules
        kind_nominal = np.minimum(r.cap_nominal, r.announced_cap_nominal)
        kind_all_in = np.minimum(r.cap_all_in, r.announced_cap_all_in)
        if not self.n_platforms or not (np.isfinite(kind_nominal).any() or np.isfinite(kind_all_in).any()):
            return None
        L = self.loans
        prm = self.params
        plat = L.view("platform")  # -1 for direct and shadow loans, which cap_exposure skips
        p, f = np.maximum(plat, 0), np.maximum(L.view("funder"), 0)
        kind = self.lenders.kind[f]
        take, fee, markup = (np.asarray(self.platforms.get(name), dtype=float)
                             for name in ("take_rate", "service_fee", "markup"))
        guaranteed = L.view("guaranteed")
        margin, lgd = prm.platforms.guarantee_margin, prm.pricing.lgd
        cap_nominal, cap_all_in = kind_nominal[kind], kind_all_in[kind]
        above = priced_above(apr=L.view("apr"), service_fee=fee[p], guaranteed=guaranteed, est_pd=L.view("pd_est"),
                             lgd=lgd, guarantee_margin=margin, cap_nominal=cap_nominal, cap_all_in=cap_all_in)
        max_pd = max_priceable_pd(
            funding_cost=self.lenders.cost[f], spread=self.lenders.spread[f], min_spread_share=1.0,
            take_rate=take[p], service_fee=fee[p], guaranteed=guaranteed, lgd=lgd, guarantee_margin=margin,
            cap_nominal=cap_nominal, cap_all_in=cap_all_in, markup=prm.platforms.cap_margin_share * markup[p])
        in_force = (np.isfinite(r.cap_nominal) | np.isfinite(r.cap_all_in))[kind]
        return reviews.cap_exposure(platform=plat, balance=L.view("balance"), above=above, max_pd=max_pd,
                                    in_force=in_force, n_platforms=self.n_platforms)


@dataclass
class CreditLines:
    """This month's credit: whitelists of active platforms, the yuan committed and the yuan left on every line.

    Attributes:
        partners: funder x platform whitelists of active platforms, shape (funders, platforms).
        capacity: remaining yuan per line, (funder, platform) lines first, then one direct line per funder
            (:func:`funding.line_key`); drawn down as renewals and new loans are funded.
        committed: the month's lines as committed, before any drawing (same layout); platforms route
            applicants to funders in proportion to them.
    """

    partners: np.ndarray
    capacity: np.ndarray
    committed: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def platform_lines(self, n_funders: int, n_platforms: int) -> np.ndarray:
        """Committed credit per (funder, platform) line this month, shape (funders, platforms)."""
        return self.committed[: n_funders * n_platforms].reshape(n_funders, n_platforms)


class MonthFlows:
    """One month's flows and measurements, read by the accounts and the recorder."""

    def __init__(self, n_platforms: int, n_funders: int, n_borrowers: int):
        self.credit = CreditLines(np.zeros((n_funders, n_platforms), dtype=bool), np.zeros(0))
        self.dsti = np.zeros(n_borrowers)
        self.lines = np.zeros(n_platforms)
        self.spend = np.zeros((n_platforms, N_BUY_CHANNELS))
        self.channel_value = np.zeros((n_platforms, N_BUY_CHANNELS))
        self.platform_volume = np.zeros(n_platforms)
        self.platform_demand = np.zeros(n_platforms)
        self.platform_loans = np.zeros(n_platforms, dtype=np.int64)
        self.new_amount: list[np.ndarray] = []
        self.new_apr: list[np.ndarray] = []
        self.new_borrower: list[np.ndarray] = []
        self.new_desk: list[np.ndarray] = []
        self.seeking = np.zeros(n_borrowers, dtype=bool)
        self.served = np.zeros(n_borrowers, dtype=bool)
        self.applicants = 0
        self.rationed = 0
        self.shadow_volume = 0.0
        self.traffic_price = 0.0
        self.withdrawn_volume = 0.0
        self.new_defaults_b = np.zeros(n_borrowers, dtype=bool)
        self.interest_due = np.zeros(0)
        self.funder_loss_total = 0.0
        self.guarantee_paid = 0.0
        self.licensed_loss = 0.0
        self.outstanding = 0.0
        self.npl = 0.0
        self.funder_platform_volume = np.zeros(n_funders)
        self.funder_direct_volume = np.zeros(n_funders)
        self.funder_apr_weighted = np.zeros(n_funders)
        self.near_cap_volume = 0.0
