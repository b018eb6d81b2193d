"""The mechanisms behind a steady counterfactual and the lower tiers' retreat under a cap, on the model itself.

Small populations (10,000 borrowers) and short horizons: these test what the mechanisms do, not the calibrated
levels (the scale check and `zhudai validate` measure those at 200,000 borrowers).
"""

from __future__ import annotations

import numpy as np
import pytest

import model.lending as lending
from experiments.engine.run import build_model, resolve_scenario
from model.enums import Tier

SEED = 6
SMALL = ["run.borrowers=10000"]


def test_quarterly_reviews_run_only_in_the_last_months_of_the_burn_in(monkeypatch):
    """With a 12-month burn-in and reviews in its last 6 months, the reviews fall at burn-in steps -3 and 0."""
    seen = []
    original = lending.LendingModel.review_quarter

    def spy(self):
        seen.append(self.t)
        return original(self)

    monkeypatch.setattr(lending.LendingModel, "review_quarter", spy)
    model = build_model(resolve_scenario("baseline-2024", [*SMALL, "run.burn_in=12", "run.burn_in_reviews=6",
                                                           "run.months=1"]), SEED)
    model.release()
    assert seen == [-3, 0]


def test_the_cap_rule_does_not_bind_in_the_world_without_new_rules():
    """baseline-2024 keeps only the legacy 36% nominal ceiling, with fees outside it and most lower-tier loans
    guaranteed: every active platform's ceiling (what it can price keeping its margin) lies above its risk
    appetite, so the rule leaves the baseline's platforms as they are."""
    model = build_model(resolve_scenario("baseline-2024", ["run.borrowers=50000", "run.months=3", "run.burn_in=24"]),
                        SEED)
    model.run()
    exposure = model._cap_exposure()
    assert exposure is not None and exposure.in_force.any()
    for p in model.platforms:
        if p.active and np.isfinite(exposure.pd_ceiling[p.index]):
            assert exposure.pd_ceiling[p.index] > p.target_pd, (p.index, p.tier)
    model.release()


@pytest.fixture(scope="module")
def appetite() -> dict[str, dict]:
    """Active platforms' mean risk appetite by tier at 2026-03, baseline-2024 and new-rules-2025 on one seed, and
    new-rules-2025 with platforms that keep no markup under the cap: what each desk accepts (``Tier``) and what its
    plan would accept without the cap (``("plan", Tier)``); ``cut`` and ``above_plan`` count desks below and above
    their plan."""
    out = {}
    for label, scenario, extra in (("baseline", "baseline-2024", []), ("rules", "new-rules-2025", []),
                                   ("no_margin", "new-rules-2025", ["platforms.cap_margin_share=0.0"])):
        model = build_model(resolve_scenario(scenario, [*SMALL, "run.months=27", "run.burn_in=24", *extra]), SEED)
        model.run()
        desks = model.gather_desks()
        n = model.n_platforms
        tiers = np.array([p.tier for p in model.platforms])
        active = desks.active[:n]
        by_tier: dict = {}
        for tier in Tier:
            sel = (tiers == tier) & active
            by_tier[tier] = float(desks.target[:n][sel].mean()) if sel.any() else float("nan")
            by_tier["plan", tier] = float(desks.target_uncapped[:n][sel].mean()) if sel.any() else float("nan")
        by_tier["cut"] = int((desks.target_uncapped > desks.target).sum())
        by_tier["above_plan"] = int((desks.target > desks.target_uncapped).sum())
        model.release()
        out[label] = by_tier
    return out


def test_lower_tiers_cut_their_risk_appetite_under_the_cap_and_the_head_does_not(appetite):
    """Under the 24% all-in cap the waist, priced at 24-36% before it, re-targets its risk well below what its own
    plan would accept without the cap; head platforms, priced about 17%, keep their plan, and their appetite is
    the baseline's. (Compared within the run: which waist platforms survive differs between the two runs.)"""
    rules = appetite["rules"]
    assert rules[Tier.WAIST] < 0.9 * rules["plan", Tier.WAIST]
    assert rules[Tier.HEAD] == pytest.approx(rules["plan", Tier.HEAD])
    assert rules[Tier.HEAD] == pytest.approx(appetite["baseline"][Tier.HEAD], rel=0.05)


def test_desks_keep_the_appetite_they_would_have_without_the_cap(appetite):
    """Under the cap some desks accept less than their plan would without it (the borrowers in between are priced
    out by the cap, and courted by shadow lenders); no desk ever accepts more than its plan."""
    assert appetite["rules"]["cut"] > 0
    assert appetite["rules"]["above_plan"] == 0 and appetite["baseline"]["above_plan"] == 0


def test_keeping_more_margin_under_the_cap_means_less_risk(appetite):
    """A platform that keeps half its markup under the cap targets less risk than one that keeps none."""
    assert appetite["rules"][Tier.WAIST] < appetite["no_margin"][Tier.WAIST]
