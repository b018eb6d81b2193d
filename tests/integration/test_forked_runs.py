"""Forked runs equal runs from scratch (experiments/engine/fork.py): every table, exactly, over the full horizon."""

from __future__ import annotations

import mesa
import pandas as pd
import pytest

from experiments.engine.fork import fork, restore, run_forked, shared_months, snapshot
from experiments.engine.run import build_model, resolve_scenario, run_model

BORROWERS = 5000
SEED = 11


def _sc(name: str, *overrides: str, borrowers: int = BORROWERS):
    return resolve_scenario(name, list(overrides), borrowers=borrowers)


@pytest.fixture(scope="module")
def scratch():
    """Tables of each scenario run from scratch with run_model, computed once per module."""
    cache: dict[tuple, dict[str, pd.DataFrame]] = {}

    def get(scenario) -> dict[str, pd.DataFrame]:
        key = (scenario.name, repr(scenario.params))
        if key not in cache:
            cache[key] = run_model(scenario, SEED).tables
        return cache[key]

    return get


def _assert_same_tables(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert list(got) == list(want) == ["model", "platforms", "funders"]
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=f"{name} table")


PAIRS = {
    "new-rules-2025": (("baseline-2024", ()), ("new-rules-2025", ())),
    "full-tightening-2026": (("baseline-2024", ()), ("full-tightening-2026", ())),
    "cap-12": (("baseline-2024", ()), ("cap-12", ())),
    "sweep-apr": (("new-rules-2025", ("policy.rate_cap.apr=0.18",)), ("new-rules-2025", ("policy.rate_cap.apr=0.22",))),
    "tightening-vs-rules": (("new-rules-2025", ()), ("full-tightening-2026", ())),
}


@pytest.mark.parametrize("pair", list(PAIRS))
def test_every_table_of_a_forked_run_equals_the_run_from_scratch(pair, scratch):
    scenarios = [_sc(name, *ovr) for name, ovr in PAIRS[pair]]
    k = shared_months(scenarios)
    assert 0 < k < scenarios[0].params.run.months  # they do share months, and do diverge within the horizon
    outputs = run_forked(scenarios, SEED, overrides=[list(ovr) for _, ovr in PAIRS[pair]])
    assert [o.scenario for o in outputs] == scenarios
    for out, scenario in zip(outputs, scenarios, strict=True):
        assert out.fork is not None and out.fork["shared_months"] == k
        assert len(out.tables["model"]) == scenario.params.run.months
        _assert_same_tables(out.tables, scratch(scenario))
    # The pair really differs after the fork (a test of equal tables would pass on two copies of one run).
    assert not outputs[0].tables["model"].equals(outputs[1].tables["model"])


def test_a_forked_runs_manifest_is_the_scratch_manifest_plus_where_it_forked():
    scenarios = [_sc("baseline-2024", "run.months=18"), _sc("new-rules-2025", "run.months=18")]
    forked = run_forked(scenarios, SEED)[1]
    plain = run_model(scenarios[1], SEED)
    volatile = {"started_at", "finished_at", "elapsed_seconds"}
    got = {k: v for k, v in forked.manifest.items() if k not in volatile}
    want = {k: v for k, v in plain.manifest.items() if k not in volatile}
    assert got.pop("forked") == {"from_month": "2025-04", "shared_months": 15, "prefix_scenario": "baseline-2024"}
    assert got == want
    assert got["scenario"] == "new-rules-2025" and "forked" not in plain.manifest


def test_scenarios_that_differ_from_the_start_run_independently(scratch):
    scenarios = [_sc("baseline-2024", "run.months=6"), _sc("baseline-2024", "run.months=6", borrowers=4000)]
    outputs = run_forked(scenarios, SEED)
    for out, scenario in zip(outputs, scenarios, strict=True):
        assert out.fork is None
        _assert_same_tables(out.tables, scratch(scenario))


def test_horizons_alone_differ_under_a_flat_lpr_path(scratch):
    flat = ("macro.lpr_start=0.03", "macro.lpr_end=0.03")
    scenarios = [_sc("new-rules-2025", *flat, "run.months=30"), _sc("new-rules-2025", *flat, "run.months=20"),
                 _sc("baseline-2024", *flat, "run.months=24")]
    outputs = run_forked(scenarios, SEED)
    assert outputs[0].fork["shared_months"] == 15
    for out, scenario in zip(outputs, scenarios, strict=True):
        _assert_same_tables(out.tables, scratch(scenario))


def test_copies_share_no_mutable_state_with_each_other_or_the_original(scratch):
    base, rules = _sc("baseline-2024", "run.months=24"), _sc("new-rules-2025", "run.months=24")
    ids = mesa.Agent._ids
    before = set(ids)
    model = build_model(base, SEED)
    try:
        for _ in range(shared_months([base, rules])):
            model.step()
        blob = snapshot(model)
        # Two copies of each kind taken at the same month; each runs to the end before the next one moves.
        copies = [restore(blob, rules), restore(blob, rules), fork(model, rules), fork(model, rules)]
        try:
            tables = []
            for c in copies:
                c.run()
                tables.append(c.tables())
        finally:
            for c in copies:
                c.release()
        for t in tables:
            _assert_same_tables(t, scratch(rules))
        model.run()  # the original, left behind at the fork, continues its own scenario untouched
        _assert_same_tables(model.tables(), scratch(base))
    finally:
        model.release()
    assert set(ids) == before


def test_run_forked_leaves_mesas_registry_as_it_found_it():
    ids = mesa.Agent._ids
    before = set(ids)
    run_forked([_sc("baseline-2024", "run.months=17"), _sc("cap-12", "run.months=17")], SEED)
    assert set(ids) == before
