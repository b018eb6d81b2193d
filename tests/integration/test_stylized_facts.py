"""The default runs show the stylized facts, by mechanism, on paired seeds (one seed, the supported size).

The facts are defined once, as validation targets (``experiments/targets.toml``, metrics in
``experiments/analysis/validation.py``); ``zhudai validate`` evaluates them over paired replicates (committed:
``results/validation/validation.md``). This test evaluates the core facts on one seed at 200k borrowers (the
smallest size the scale check supports): new-rules-2025 against baseline-2024 on the same seed (common random
numbers), and the crackdown in full-tightening-2026; and checks that the paired facts fail with the two
scenarios swapped, so that they are effects of the rules rather than of the model's drift.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from experiments.analysis.validation import evaluate, load_targets
from experiments.engine.run import resolve_scenario, run_model

BORROWERS = 200_000
SEED = 1
SCENARIOS = ("baseline-2024", "new-rules-2025", "full-tightening-2026")
FACTS = ("matthew_head_share", "matthew_hhi", "tail_exits_far_more_than_head", "tail_exits_rise_vs_counterfactual",
         "small_bank_whitelists_shrink", "small_banks_stop_platform_lending", "large_banks_keep_partners",
         "no_price_above_cap", "shadow_rises_after_cap", "multi_lender_defaults",
         "withdrawal_raises_short_run_defaults", "shadow_falls_after_crackdown")
#: Facts the model does not produce today (docs/index.md, "Status and open work"; results/validation/validation.md).
#: The test requires them to fail, so that it says when one starts to hold and can leave this list. On this seed
#: every core fact holds, small banks' whitelists halving included (over the 5 validation replicates they shrink to
#: 0.55-0.61 of the counterfactual's: FAIL in results/validation/validation.md, a target over replicates).
KNOWN_FAILURES: tuple[str, ...] = ()
#: Paired facts that must not hold when the rules and the counterfactual trade places.
EFFECTS = ("matthew_head_share", "tail_exits_rise_vs_counterfactual", "small_banks_stop_platform_lending",
           "shadow_rises_after_cap", "withdrawal_raises_short_run_defaults")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """The three scenarios' tables on one seed, stacked as a batch store holds them."""
    frames: dict[str, list[pd.DataFrame]] = {"model": [], "platforms": [], "funders": []}
    for name in SCENARIOS:
        out = run_model(resolve_scenario(name, borrowers=BORROWERS), SEED)
        for table, df in out.tables.items():
            frames[table].append(df.assign(scenario=name, replicate=0))
    return {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}


@pytest.fixture(scope="module")
def targets():
    by_name = {t.name: t for t in load_targets()}
    return [by_name[name] for name in FACTS]


def test_the_facts_hold_on_one_seed(tables, targets):
    """Each fact's test holds on the seed (``share`` 1 of 1 replications; a confidence interval needs more)."""
    result = evaluate(targets, tables).set_index("target")
    assert (result["replications"] == 1).all()
    failed = result[result["share"] < 1.0]
    assert set(failed.index) == set(KNOWN_FAILURES), failed[["figure", "band"]].to_string()


def test_the_facts_are_effects_of_the_rules(tables, targets):
    swapped = [dataclasses.replace(t, scenario=t.counterfactual, counterfactual=t.scenario)
               for t in targets if t.name in EFFECTS and t.name not in KNOWN_FAILURES]
    result = evaluate(swapped, tables).set_index("target")
    held = result[result["share"] > 0.0]
    assert held.empty, held[["figure", "band"]].to_string()
