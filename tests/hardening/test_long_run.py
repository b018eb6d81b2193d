"""Long-run stability: every shipped scenario runs 240 months without blow-ups or oscillation artefacts.

The documented long run (docs/findings.md, "Long-run behaviour") uses the same 20,000 borrowers. Below a few tens of
thousands of borrowers small platforms are too granular to be viable, so much smaller runs shake out faster.
"""

from __future__ import annotations

import numpy as np
import pytest

from model import LendingModel, list_scenarios, load_scenario

MONTHS = 240


@pytest.mark.parametrize("name", [n for n, _ in list_scenarios()])
def test_240_months_stay_bounded_and_settle(name):
    m = LendingModel(load_scenario(name, overrides=["run.borrowers=20000", f"run.months={MONTHS}"]), rng=1)
    m.run()
    d = m.tables()["model"]
    assert len(d) == MONTHS
    numeric = d.drop(columns=["date", "binding_cap"]).to_numpy(dtype=float)
    assert np.isfinite(numeric).all()
    out = d["outstanding_balance"].to_numpy()
    assert (out > 0).all(), "the licensed market must not die out"
    # No runaway: the book stays within a factor of three of its first-year level above it, four below (under a
    # 12% cap no platform can price a loan with a margin, platform lending ends and the licensed book is the
    # direct lenders' alone: about a third of its first-year level after twenty years; docs/findings.md,
    # Long-run behaviour).
    first_year = out[:12].mean()
    assert out.max() < 3 * first_year and out.min() > first_year / 4
    # Settled: the last five years vary little month to month, without a sawtooth.
    last = out[-60:]
    assert last.std() / last.mean() < 0.1
    # An oscillation artefact is a persistent month-to-month alternation of material size; a flat book with
    # small noise may alternate often without meaning anything.
    steps = np.diff(last)
    sign_flips = np.mean(np.sign(steps[1:]) != np.sign(steps[:-1]))
    amplitude = np.abs(steps).mean() / last.mean()
    assert not (sign_flips > 0.8 and amplitude > 0.02), (sign_flips, amplitude)
    # Counts never go negative and exits are permanent.
    active = d["active_platforms"].to_numpy()
    assert (active >= 0).all() and (np.diff(active) <= 0).all()
    assert (d["platform_exits"].diff().dropna() >= 0).all()
    assert (d["indebted_borrowers"] >= 0).all() and (d["indebted_borrowers"] <= 20000).all()
