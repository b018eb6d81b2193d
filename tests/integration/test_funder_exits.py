"""Direct lenders that cannot earn leave; big-tech microlenders with cheap funding stay (full-tightening-2026).

One seed at 20,000 borrowers. What this shows and what it does not (measured over seeds 1-6 at 20k when the
mechanism was added): small microlenders' direct books are small and lumpy at this size, so most of them close
their direct desks by 2027-12 in baseline-2024 too, and in one of the six seeds (seed 3) a big-tech microlender
also closed its desk after a run of bad quarters, in both scenarios. The test checks the mechanism end to end
(desks close, for good, while the cheaply funded big-tech microlenders keep lending), not the size of the cap's
effect; at 200,000 borrowers small microlenders keep about two thirds of their direct desks in baseline-2024 and
about a third under full-tightening-2026 (docs/index.md, Status and open work).
"""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.engine.run import run_model

BORROWERS = 20_000
SEED = 1


@pytest.fixture(scope="module")
def funders() -> pd.DataFrame:
    return run_model("full-tightening-2026", SEED, overrides=[f"run.borrowers={BORROWERS}"]).tables["funders"]


def test_small_microlenders_stop_lending_directly_while_big_tech_ones_lend_on(funders):
    last = funders[funders["step"] == funders["step"].max()]
    assert last["date"].iloc[0] == "2027-12"
    micro = last[last["kind"] == "microlender"].sort_values("funder_id")
    big_tech, small = micro.iloc[:2], micro.iloc[2:]  # the first bigtech_count (2) microlenders are big-tech
    assert len(small) == 20
    assert not small["direct_lending"].all()
    assert big_tech["direct_lending"].all()


def test_a_closed_direct_desk_stays_closed(funders):
    """Closing is for good: no funder's ``direct_lending`` comes back once it turned False."""
    flags = funders.pivot_table(index="step", columns="funder_id", values="direct_lending", aggfunc="first")
    flags = flags.astype(int)
    assert (flags.diff().fillna(0) <= 0).all().all()
    assert (flags.iloc[0] > flags.iloc[-1]).any()
