"""Announced rules are anticipated: new-rules-2025 (issued 2025-04, in force 2025-10) against the same rules
announced only when they take effect, on the same seed, through the one run path.

20,000 borrowers, 2024-01 to 2025-09 (21 months): the last month before the rules bind.
"""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.engine.run import run_model

SEED = 4
SIZE = ["run.borrowers=20000", "run.months=21"]
#: The four 2025 instruments announced when they start: nothing is anticipated.
AT_START = ["policy.rate_cap.announced=2025-10", "policy.whitelist.announced=2025-10",
            "policy.no_outsourcing.announced=2025-10", "policy.stock_cleanup.announced=2026-06"]


@pytest.fixture(scope="module")
def runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(announced 2025-04 as shipped, announced at the start) model tables, indexed by date."""
    ahead = run_model("new-rules-2025", SEED, overrides=SIZE).tables["model"].set_index("date")
    at_start = run_model("new-rules-2025", SEED, overrides=[*SIZE, *AT_START]).tables["model"].set_index("date")
    return ahead, at_start


def test_identical_until_the_announcement(runs):
    """Nothing is anticipated before 2025-04: every column of every month up to 2025-03 is the same."""
    ahead, at_start = runs
    pd.testing.assert_frame_equal(ahead.loc[:"2025-03"], at_start.loc[:"2025-03"])
    assert not ahead.loc["2025-04":].equals(at_start.loc["2025-04":])


def test_funders_prune_whitelists_before_the_regime_binds(runs):
    """At 2025-09, before the regime is in force, funders that anticipated it hold fewer partners."""
    ahead, at_start = runs
    assert ahead.loc["2025-09", "mean_whitelist_size"] < at_start.loc["2025-09", "mean_whitelist_size"]
    # The first review after the announcement (2025-06 quarter end) is where the lists are cut.
    assert ahead.loc["2025-06", "mean_whitelist_size"] < ahead.loc["2025-05", "mean_whitelist_size"]


def test_new_loans_priced_within_the_announced_cap(runs):
    """Every loan written from 2025-07 would still run at the announced clean-up deadline 2026-06 (12-month
    terms), so none is above 24% all-in; loans written in 2025-04..06 may be (they are the stock the clean-up
    calls), and without the announcement loans above 24% are still written in 2025-07..09."""
    ahead, at_start = runs
    after = slice("2025-07", "2025-09")
    assert (ahead.loc[after, "max_apr_new"] <= 0.24 + 1e-12).all()
    assert (ahead.loc["2025-04":"2025-06", "max_apr_new"] > 0.24).any()
    assert (at_start.loc[after, "max_apr_new"] > 0.24).any()
    assert (ahead.loc[after, "binding_cap"] == 0.36).all()  # the cap itself is not yet in force
