"""The full model against a naive one-agent-per-borrower Mesa model, side by side.

    python benchmarks/bench_naive.py --borrowers 20000 100000 --months 48

Measures what a user waits for: building the model (the full model simulates its burn-in there, 60 months by
default) and stepping the recorded months. The naive model runs the same number of months (burn-in + recorded)
at the same borrower count. Imports are excluded on both sides. Each measurement runs in a fresh process.
Bar: the full model's borrower-months per second at least 10 times the naive model's at every size.

The naive model is written the obvious Mesa 3 way: a ``mesa.Model`` holding one ``mesa.Agent`` per borrower
and one per lender (the 158 platforms of the default tiers: 8 head, 30 middle, 120 tail), stepped each month
with ``model.agents.shuffle_do("step")``, plain Python per agent and no vectorization. Its toy month is a
subset of the full model's borrower month, with the full model's parameters (``model/params.py``):

- start: ``initial_indebted`` of each segment hold one loan of ``loan_income_multiple`` months of income;
- income shock: a borrower not in a shock enters one with its monthly hazard (the segment's median
  ``borrowers.hazard`` times a log-normal draw of SD ``hazard_sigma``); a shock ends with probability
  1 / ``shock_months_mean`` a month; income in a shock is ``shock_income_share`` of normal income;
- income and spending: savings gain income less essential spending (``essential_spend_share`` of normal
  income), capped at ``buffer_cap_months`` of income;
- billing: the instalment is balance x APR / 12 plus principal / ``term_months``; paid from savings if they
  cover it, else a missed payment; a borrower with 3 missed payments in a row defaults (its lender writes the
  balance off, the borrower is out of credit for good);
- acquisition and underwriting: a borrower without a loan seeks one with its segment's ``seek_prob`` a month,
  asking one lender, drawn at random in proportion to its tier's share (80% head, 14% middle, 6% tail), for
  ``loan_income_multiple`` months of income; the lender approves if its budget covers the loan, the loan keeps
  debt service within ``pricing.max_dsti`` and the borrower's annual PD (the full model's ``pricing.annual_pd``
  formula, restated per borrower) is under the lender's appetite;
- lenders: each refills a monthly lending budget (5% of the population's monthly income, split like the
  applications) at its own step.

The full model's month (docs/ODD.md, 3.3) does much more per borrower: income shocks, billing, renewal,
acquisition through channels, underwriting and pricing under caps by noisy-PD lenders, funding through funders'
credit lines, shadow lending, settlement of charge-offs and recoveries, institutions' accounts and regulatory
reviews, and it records monthly output tables. The comparison is therefore not flattering to the full model.

With ``--main-job R``, the full side is the README's main job instead of one run: the seven shipped scenarios x R
paired replicates through the batch engine (one worker, forked runs, the Parquet store written), against the
naive model running the same 7 x R runs, each from scratch with its burn-in (a naive model has no shared past to
reuse; one naive run is timed and multiplied by the run count, since its runs cost the same). This is the wait
of the user's main job; the one-run comparison above is the per-run speed.

If the naive model would take longer than ``--naive-budget`` seconds at a size, it is stepped for
``--probe-months`` months only and its time extrapolated linearly per month; linearity is checked by comparing
the cost per month of the first and second halves of the probe (two short horizons), and the output says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import mesa

LENDER_TIERS = (("head", 8, 0.80, 0.12, 0.18), ("middle", 30, 0.14, 0.20, 0.24), ("tail", 120, 0.06, 0.30, 0.24))
"""Toy lenders per tier: (name, count, share of applications and of the monthly lending budget, PD appetite, APR)."""
MISSES_TO_DEFAULT = 3


def annual_pd(hazard_monthly: float, dsti: float, leverage_sensitivity: float) -> float:
    """``model.mechanisms.pricing.annual_pd`` restated for one borrower in plain Python."""
    h = min(max(hazard_monthly, 0.0), 1.0)
    pd_ = (1.0 - (1.0 - h) ** 12) * (1.0 + leverage_sensitivity * max(dsti, 0.0))
    return min(max(pd_, 0.0), 1.0)


class NaiveLender(mesa.Agent):
    """One platform: a monthly lending budget, a PD appetite and an APR."""

    def __init__(self, model: NaiveModel, monthly_budget: float, appetite: float, apr: float) -> None:
        super().__init__(model)
        self.monthly_budget = monthly_budget
        self.budget = monthly_budget
        self.appetite = appetite
        self.apr = apr
        self.lent = 0.0
        self.written_off = 0.0

    def step(self) -> None:
        self.budget = self.monthly_budget


class NaiveBorrower(mesa.Agent):
    """One borrower with one loan account (balance, APR, lender) and the toy month of the module docstring."""

    def __init__(self, model: NaiveModel, segment: int) -> None:
        super().__init__(model)
        b = model.bp
        rng = self.random
        self.segment = segment
        self.income = b.income_median[segment] * math.exp(rng.gauss(0.0, b.income_sigma))
        self.hazard = min(1.0, b.hazard[segment] * math.exp(rng.gauss(0.0, b.hazard_sigma)))
        self.savings = b.buffer_months[segment] * self.income
        self.in_shock = False
        self.balance = 0.0
        self.principal_due = 0.0
        self.apr = 0.0
        self.lender: NaiveLender | None = None
        self.missed = 0
        self.defaulted = False
        self.missed_at_default = 0

    def step(self) -> None:
        if self.defaulted:
            return
        b = self.model.bp
        rng = self.random
        # income shock
        if self.in_shock:
            if rng.random() < 1.0 / b.shock_months_mean:
                self.in_shock = False
        elif rng.random() < self.hazard * self.model.hazard_multiplier:
            self.in_shock = True
        income = self.income * (b.shock_income_share if self.in_shock else 1.0)
        self.savings = max(0.0, self.savings + income - b.essential_spend_share[self.segment] * self.income)
        # billing
        if self.balance > 0.0:
            interest = self.balance * self.apr / 12.0
            principal = min(self.principal_due, self.balance)
            instalment = interest + principal
            if self.savings >= instalment:
                self.savings -= instalment
                self.balance -= principal
                if self.balance < 1e-6:
                    self.balance = 0.0
                    self.lender = None
                self.missed = 0
            else:
                self.missed += 1
                if self.missed >= MISSES_TO_DEFAULT:
                    self.default()
                    return
        self.savings = min(self.savings, b.buffer_cap_months[self.segment] * self.income)
        # acquisition and underwriting
        if self.balance == 0.0 and rng.random() < b.seek_prob[self.segment]:
            self.seek_loan()

    def seek_loan(self) -> None:
        b = self.model.bp
        lender = self.random.choices(self.model.lenders, weights=self.model.lender_weights)[0]
        amount = b.loan_income_multiple[self.segment] * self.income
        dsti = (amount * lender.apr / 12.0 + amount / b.term_months) / self.income
        if amount > lender.budget or dsti > self.model.max_dsti:
            return
        if annual_pd(self.hazard, dsti, self.model.leverage_sensitivity) >= lender.appetite:
            return
        lender.budget -= amount
        self.take_loan(lender, amount)

    def take_loan(self, lender: NaiveLender, amount: float) -> None:
        b = self.model.bp
        lender.lent += amount
        self.balance = amount
        self.principal_due = amount / b.term_months
        self.apr = lender.apr
        self.lender = lender

    def default(self) -> None:
        self.defaulted = True
        self.missed_at_default = self.missed
        if self.lender is not None:
            self.lender.written_off += self.balance
        self.balance = 0.0
        self.lender = None


class NaiveModel(mesa.Model):
    """``borrowers`` borrower agents and 158 lender agents, every agent stepped in random order each month."""

    def __init__(self, borrowers: int, params=None, seed: int = 1) -> None:
        super().__init__(seed=seed)
        if params is None:
            from model.params import Params

            params = Params()
        self.bp = params.borrowers
        self.max_dsti = params.pricing.max_dsti
        self.leverage_sensitivity = params.pricing.leverage_sensitivity
        self.hazard_multiplier = 1.0
        shares = self.bp.segment_shares
        total_budget = 0.05 * borrowers * sum(s * m for s, m in zip(shares, self.bp.income_median, strict=True))
        self.lenders = []
        self.lender_weights = []
        for _, count, share, appetite, apr in LENDER_TIERS:
            for _ in range(count):
                self.lenders.append(NaiveLender(self, total_budget * share / count, appetite, apr))
                self.lender_weights.append(share / count)
        self.borrowers = [NaiveBorrower(self, self.random.choices(range(3), weights=shares)[0])
                          for _ in range(borrowers)]
        for b in self.borrowers:
            if self.random.random() < self.bp.initial_indebted[b.segment]:
                lender = self.random.choices(self.lenders, weights=self.lender_weights)[0]
                b.take_loan(lender, self.bp.loan_income_multiple[b.segment] * b.income)

    def step(self) -> None:
        self.agents.shuffle_do("step")


def _full(scenario: str, borrowers: int, months: int, seed: int) -> dict:
    from experiments.engine.run import resolve_scenario, run_model

    sc = resolve_scenario(scenario, borrowers=borrowers, months=months)
    out = run_model(sc, seed)  # the burn-in months run while the model is built
    total = out.init_seconds + out.run_seconds
    burn_in = sc.params.run.burn_in
    return {"model": "full", "borrowers": borrowers, "months": burn_in + months, "stepped": burn_in + months,
            "build_s": out.init_seconds, "total_s": total, "extrapolated": False}


MAIN_JOB = ("baseline-2024", "new-rules-2025", "full-tightening-2026", "cap-20", "cap-12", "whitelist-only",
            "cap-only")
"""The README quick start's scenarios."""


def _main_job(borrowers: int, months: int, seed: int, replications: int) -> dict:
    """The main job through the batch engine on one worker (forked runs), timed end to end."""
    import tempfile

    from experiments.engine.batch import run_batch
    from experiments.engine.design import Design
    from experiments.engine.run import resolve_scenario

    design = Design(scenarios=MAIN_JOB, replications=replications, borrowers=borrowers, root_seed=seed,
                    months=months)
    resolved = design.resolve()
    burn_in = resolve_scenario(MAIN_JOB[0], borrowers=borrowers, months=months).params.run.burn_in
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        outcome = run_batch(resolved, f"{tmp}/job", workers=1, progress=False)
        total = time.perf_counter() - t0
    assert outcome.status == "complete", outcome.status
    runs = len(MAIN_JOB) * replications
    return {"model": "full", "borrowers": borrowers, "months": burn_in + months, "stepped": burn_in + months,
            "runs": runs, "total_s": total, "extrapolated": False}


def _naive(scenario: str, borrowers: int, months: int, seed: int, budget_s: float, probe: int) -> dict:
    from experiments.engine.run import resolve_scenario

    sc = resolve_scenario(scenario, borrowers=borrowers, months=months)
    horizon = sc.params.run.burn_in + months
    t0 = time.perf_counter()
    m = NaiveModel(borrowers, sc.params, seed)
    build = time.perf_counter() - t0
    probe = min(probe, horizon)
    marks = []
    for _ in range(probe):
        m.step()
        marks.append(time.perf_counter() - t0)
    half = probe // 2
    first = (marks[half - 1] - build) / half
    second = (marks[-1] - marks[half - 1]) / (probe - half)
    per_month = (marks[-1] - build) / probe
    estimate = build + per_month * horizon
    stepped = probe
    if estimate <= budget_s:
        for _ in range(horizon - probe):
            m.step()
        stepped = horizon
        total = time.perf_counter() - t0
    else:
        total = estimate
    return {"model": "naive", "borrowers": borrowers, "months": horizon, "stepped": stepped, "build_s": build,
            "total_s": total, "extrapolated": stepped < horizon, "first_half_s_per_month": first,
            "second_half_s_per_month": second}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--months", type=int, default=48, help="recorded months (the burn-in is added)")
    ap.add_argument("--scenario", default="baseline-2024")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--naive-budget", type=float, default=180.0,
                    help="longest naive run in seconds before extrapolating from --probe-months")
    ap.add_argument("--probe-months", type=int, default=12)
    ap.add_argument("--target", type=float, default=10.0)
    ap.add_argument("--main-job", type=int, default=0, metavar="R",
                    help="compare the main job (7 shipped scenarios x R replicates, forked) instead of one run")
    ap.add_argument("--child", choices=["full", "naive", "job"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "full":
        print(json.dumps(_full(args.scenario, args.borrowers[0], args.months, args.seed)))
        return 0
    if args.child == "job":
        print(json.dumps(_main_job(args.borrowers[0], args.months, args.seed, args.main_job)))
        return 0
    if args.child == "naive":
        print(json.dumps(_naive(args.scenario, args.borrowers[0], args.months, args.seed, args.naive_budget,
                                args.probe_months)))
        return 0
    ok = True
    runs = len(MAIN_JOB) * args.main_job if args.main_job else 1
    if args.main_job:
        print(f"main job: {len(MAIN_JOB)} scenarios x {args.main_job} replicates = {runs} runs per side")
    print(f"{'model':<6} {'borrowers':>10} {'months':>7} {'stepped':>8} {'total s':>9} {'borrower-months/s':>18}")
    for n in args.borrowers:
        rows = {}
        for kind in ("full", "naive"):
            child = "job" if kind == "full" and args.main_job else kind
            cmd = [sys.executable, __file__, "--child", child, "--borrowers", str(n), "--months", str(args.months),
                   "--scenario", args.scenario, "--seed", str(args.seed), "--naive-budget", str(args.naive_budget),
                   "--probe-months", str(args.probe_months), "--main-job", str(args.main_job)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if kind == "naive" and runs > 1:
                r["total_s"] *= runs  # every naive run costs the same: one timed, multiplied by the run count
                r["extrapolated"] = True
            r["bm_per_s"] = runs * r["borrowers"] * r["months"] / r["total_s"]
            rows[kind] = r
            note = " (extrapolated)" if r["extrapolated"] else ""
            print(f"{kind:<6} {n:>10,} {r['months']:>7} {r['stepped']:>8} {r['total_s']:>9.2f} "
                  f"{r['bm_per_s']:>18,.0f}{note}", flush=True)
        nv = rows["naive"]
        if runs > 1:
            print(f"       naive: one run timed, x {runs} runs")
        if nv["stepped"] < nv["months"]:
            drift = nv["second_half_s_per_month"] / nv["first_half_s_per_month"]
            print(f"       naive stepped {nv['stepped']} of {nv['months']} months, time extrapolated linearly per "
                  f"month; s/month over the probe's halves {nv['first_half_s_per_month']:.3f} and "
                  f"{nv['second_half_s_per_month']:.3f} (ratio {drift:.2f})")
        ratio = rows["full"]["bm_per_s"] / nv["bm_per_s"]
        passed = ratio >= args.target
        ok = ok and passed
        print(f"       ratio full/naive {ratio:.1f}x (bar {args.target:g}x): {'PASS' if passed else 'FAIL'}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
