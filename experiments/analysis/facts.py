"""The stylized facts (README, "What the model shows"), computed from paired runs of a scenario and its
counterfactual.

Each fact is a pure function of model tables, so tests, the documented run and later validation share one
definition. Runs are paired: the same seed in both scenarios (common random numbers), so a difference is the
policy's effect rather than sampling noise.

Documented run (prints the table and exits non-zero if a fact fails)::

    python -m experiments.analysis.facts --borrowers 200000 --seeds 1 2 3

Windows: "after the rules" runs from the month the rules take effect (``policy.rate_cap.start`` of
``new-rules-2025``, :func:`experiments.analysis.rules.rules_start`) to the horizon; "short run" from that month to
2026-06; the crackdown window
compares the six months before and after ``policy.payment_crackdown.start`` in ``full-tightening-2026``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The scenario whose rules the facts are about; its ``policy.rate_cap.start`` opens the "after the rules" windows.
RULES_SCENARIO = "new-rules-2025"
SHORT_END = "2026-06"
SMALL_KINDS = ("bank_city", "bank_rural")


@dataclass(frozen=True)
class Fact:
    """One checked statement: its name, the figure behind it, and whether it holds."""

    name: str
    figure: str
    holds: bool


@functools.cache
def rules_month() -> str:
    """The month the rules of :data:`RULES_SCENARIO` take effect."""
    from experiments.analysis.rules import rules_start

    return rules_start(RULES_SCENARIO)


def _window(df: pd.DataFrame, start: str, end: str | None = None) -> pd.DataFrame:
    sel = df["date"] >= start
    if end is not None:
        sel &= df["date"] <= end
    return df[sel]


def matthew_effect(rules: dict, base: dict) -> Fact:
    """Head share and HHI of platform volume after the rules exceed the counterfactual's (window means)."""
    r, b = _window(rules["model"], rules_month()), _window(base["model"], rules_month())
    hs = (r["head_share"].mean(), b["head_share"].mean())
    hh = (r["hhi"].mean(), b["hhi"].mean())
    return Fact("head share and HHI rise against the counterfactual",
                f"head share {hs[0]:.2f} vs {hs[1]:.2f}; HHI {hh[0]:.0f} vs {hh[1]:.0f}",
                hs[0] > hs[1] and hh[0] > hh[1])


def _exit_rate(platforms: pd.DataFrame, tier: str, start: str) -> float:
    p = platforms[platforms["tier"] == tier]
    at_start = p[p["date"] == _first_on_or_after(p, start)]
    alive = set(at_start.loc[at_start["active"], "platform_id"])
    if not alive:
        return 0.0
    last = p[p["date"] == p["date"].max()]
    still = set(last.loc[last["active"], "platform_id"])
    return 1.0 - len(alive & still) / len(alive)


def _first_on_or_after(df: pd.DataFrame, start: str) -> str:
    dates = sorted(d for d in df["date"].unique() if d >= start)
    return dates[0] if dates else df["date"].max()


def tail_exits(rules: dict, base: dict) -> Fact:
    """After the rules, tail platforms exit at a far higher rate than head platforms, and than in the counterfactual."""
    tail_r = _exit_rate(rules["platforms"], "tail", rules_month())
    head_r = _exit_rate(rules["platforms"], "head", rules_month())
    tail_b = _exit_rate(base["platforms"], "tail", rules_month())
    return Fact("tail platforms exit far more than head platforms",
                f"exit rate after {rules_month()}: tail {tail_r:.0%}, head {head_r:.0%} "
                f"(counterfactual tail {tail_b:.0%})",
                tail_r >= 2 * head_r + 0.2 and tail_r > tail_b)


def small_funders(rules: dict, base: dict) -> Fact:
    """Small banks' whitelists shrink by half or more against the counterfactual and some small funders leave."""
    def small(t: dict, date: str) -> pd.DataFrame:
        f = t["funders"]
        return f[(f["date"] == date) & f["kind"].isin(SMALL_KINDS)]

    end = rules["funders"]["date"].max()
    mid = _first_on_or_after(rules["funders"], SHORT_END)
    wl = (small(rules, mid)["partners"].mean(), small(base, mid)["partners"].mean())
    stay = (int(small(rules, end)["in_platform_lending"].sum()), int(small(base, end)["in_platform_lending"].sum()))
    f = rules["funders"]
    large = f[(f["date"] == mid) & f["kind"].isin(["bank_state", "bank_joint_stock"])]
    return Fact("small banks' whitelists shrink and some small banks leave platform lending",
                f"city/rural whitelist {wl[0]:.1f} vs {wl[1]:.1f} ({mid}); large banks keep "
                f"{large['partners'].mean():.1f}; city/rural banks still lending at {end}: {stay[0]} vs {stay[1]}",
                wl[0] <= 0.5 * wl[1] and stay[0] < stay[1] and large["partners"].mean() > wl[0])


def cap_respected(rules: dict, base: dict) -> Fact:
    """No new licensed loan is priced above the all-in cap in force (every month from the rules' start).

    Before the rules the legacy ceiling binds only the nominal rate; fees outside it may lift the all-in
    price above it, which is the pre-rule practice the rules ended.
    """
    m = _window(rules["model"], rules_month())
    capped = m[np.isfinite(m["binding_cap"])]
    over = int((capped["max_apr_new"] > capped["binding_cap"] + 1e-9).sum())
    return Fact("no new licensed loan above the cap in force", f"months with a loan above the cap: {over}", over == 0)


def rationing_and_shadow(rules: dict, base: dict) -> Fact:
    """Rationing and shadow borrowing rise after the cap against the counterfactual (short-run window means)."""
    r, b = _window(rules["model"], rules_month(), SHORT_END), _window(base["model"], rules_month(), SHORT_END)
    ra = (r["rationed_share"].mean(), b["rationed_share"].mean())
    sh = (r["shadow_volume"].mean(), b["shadow_volume"].mean())
    return Fact("rationing and shadow borrowing rise after the cap",
                f"rationed share {ra[0]:.2f} vs {ra[1]:.2f}; shadow volume {sh[0]:,.0f} vs {sh[1]:,.0f} yuan/month",
                ra[0] > ra[1] and sh[0] > sh[1])


def crackdown(tight: dict, crackdown_start: str) -> Fact:
    """Shadow borrowing falls once payment channels close (six months after vs six months before)."""
    m = tight["model"]
    before = m[(m["date"] < crackdown_start)].tail(6)["shadow_volume"].mean()
    after = m[(m["date"] >= crackdown_start)].head(6)["shadow_volume"].mean()
    return Fact("shadow borrowing falls after the payment-channel crackdown",
                f"shadow volume {before:,.0f} before vs {after:,.0f} after {crackdown_start}", after < 0.5 * before)


def multi_lender_defaults(rules: dict, base: dict) -> Fact:
    """Borrowers with 3+ lenders default far more often than others (all months)."""
    m = rules["model"]
    multi, few = m["default_rate_multi"].mean(), m["default_rate_few"].mean()
    return Fact("multi-lender borrowers default far more often",
                f"monthly default rate 3+ lenders {multi:.3%} vs 1-2 lenders {few:.3%}", multi > 2 * few)


def withdrawal_defaults(rules: dict, base: dict) -> Fact:
    """Credit withdrawal raises defaults in the short run against the counterfactual."""
    r, b = _window(rules["model"], rules_month(), SHORT_END), _window(base["model"], rules_month(), SHORT_END)
    d = (r["default_rate"].mean(), b["default_rate"].mean())
    w = (r["withdrawn_volume"].sum(), b["withdrawn_volume"].sum())
    return Fact("credit withdrawal raises short-run defaults",
                f"default rate {d[0]:.3%} vs {d[1]:.3%}/month; withdrawn {w[0]:,.0f} vs {w[1]:,.0f} yuan",
                d[0] > d[1] and w[0] > w[1])


PAIRED = (matthew_effect, tail_exits, small_funders, cap_respected, rationing_and_shadow, multi_lender_defaults,
          withdrawal_defaults)


def run_tables(scenario: str, seed: int, borrowers: int) -> dict[str, pd.DataFrame]:
    """One run's tables (:func:`experiments.engine.run.run_model`)."""
    from experiments.engine.run import resolve_scenario, run_model

    return run_model(resolve_scenario(scenario, borrowers=borrowers), seed).tables


def check_seed(seed: int, borrowers: int) -> list[Fact]:
    """All facts for one seed: new-rules-2025 against baseline-2024, and the crackdown in full-tightening-2026."""
    from model import load_scenario

    rules = run_tables("new-rules-2025", seed, borrowers)
    base = run_tables("baseline-2024", seed, borrowers)
    tight = run_tables("full-tightening-2026", seed, borrowers)
    start = load_scenario("full-tightening-2026").params.policy.payment_crackdown.start
    return [f(rules, base) for f in PAIRED] + [crackdown(tight, start)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.analysis.facts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=200_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args(argv)
    failed = 0
    for seed in args.seeds:
        print(f"seed {seed}, {args.borrowers:,} borrowers: new-rules-2025 vs baseline-2024 (paired)")
        for fact in check_seed(seed, args.borrowers):
            failed += not fact.holds
            print(f"  [{'PASS' if fact.holds else 'FAIL'}] {fact.name}: {fact.figure}")
    print(f"{failed} failed" if failed else "all facts hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
