"""Regenerate tests/regression/golden_new_rules_2025.csv: ``python tests/regression/make_golden.py``.

Only regenerate after a deliberate, explained model change (see test_golden.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.config import load_scenario
from model.lending import LendingModel

GOLDEN = Path(__file__).with_name("golden_new_rules_2025.csv")
SCENARIO = "new-rules-2025"
OVERRIDES = ["run.borrowers=2000", "run.months=6"]
SEED = 11
COLUMNS = ["step", "date", "active_platforms", "platform_exits", "origination_volume", "platform_volume",
           "outstanding_balance", "hhi", "cr5", "avg_apr_new", "max_apr_new", "binding_cap", "applicants",
           "rationed_share", "shadow_volume", "default_rate", "npl_ratio", "indebted_borrowers", "lpr"]


def run_table() -> pd.DataFrame:
    m = LendingModel(load_scenario(SCENARIO, overrides=OVERRIDES), rng=SEED)
    m.run()
    return m.tables()["model"][COLUMNS].reset_index(drop=True)


if __name__ == "__main__":
    run_table().to_csv(GOLDEN, index=False, float_format="%.17g")
    print(f"wrote {GOLDEN}")
