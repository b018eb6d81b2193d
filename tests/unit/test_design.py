"""Designs: expansion (grid and zip), common random numbers, seeds, and validation reported in one error."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.engine.design import (
    Design,
    DesignError,
    describe_setting,
    design_from_mapping,
    load_design,
    parse_vary,
    setting_differences,
)
from model.config import ConfigError

TINY = ("run.burn_in=0",)


def small(**kw) -> Design:
    base = {"scenarios": ("baseline-2024", "new-rules-2025"), "replications": 3, "borrowers": 1500, "months": 4,
            "overrides": TINY}
    return Design(**{**base, **kw})


def test_grid_expands_to_every_combination_and_zip_pairs_values():
    vary = (("policy.rate_cap.apr", (0.2, 0.24)), ("run.burn_in", (0, 1)))
    grid = small(vary=vary, mode="grid").sweep_points()
    assert grid == [
        (("policy.rate_cap.apr", 0.2), ("run.burn_in", 0)), (("policy.rate_cap.apr", 0.2), ("run.burn_in", 1)),
        (("policy.rate_cap.apr", 0.24), ("run.burn_in", 0)), (("policy.rate_cap.apr", 0.24), ("run.burn_in", 1)),
    ]
    zipped = small(vary=vary, mode="zip").sweep_points()
    assert zipped == [(("policy.rate_cap.apr", 0.2), ("run.burn_in", 0)),
                      (("policy.rate_cap.apr", 0.24), ("run.burn_in", 1))]
    assert small().sweep_points() == [()]


def test_resolve_gives_scenarios_x_points_x_replicates_with_distinct_run_ids():
    resolved = small(vary=(("policy.rate_cap.apr", (0.2, 0.24)),)).resolve()
    assert len(resolved.runs) == 2 * 2 * 3
    assert len({r.run_id for r in resolved.runs}) == len(resolved.runs)
    assert all(r.borrowers == 1500 and r.months == 4 for r in resolved.runs)
    assert resolved.runs[0].overrides == ("run.burn_in=0", "policy.rate_cap.apr=0.2")


def test_seeds_come_from_seed_sequence_and_are_shared_by_scenarios_and_points():
    design = small(root_seed=123, vary=(("policy.rate_cap.apr", (0.2, 0.24)),))
    expected = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in np.random.SeedSequence(123).spawn(3)]
    assert design.seeds() == expected
    resolved = design.resolve()
    for replicate, seed in enumerate(expected):
        assert {r.seed for r in resolved.runs if r.replicate == replicate} == {seed}
    assert small(root_seed=124).seeds() != expected


def test_months_default_to_each_scenarios_horizon():
    resolved = small(months=None, replications=1).resolve()
    assert {r.months for r in resolved.runs} == {48}


def test_fingerprint_ignores_description_but_not_the_runs():
    a = small().resolve().fingerprint()
    assert small(description="other words").resolve().fingerprint() == a
    assert small(replications=2).resolve().fingerprint() != a
    assert small(borrowers=1600).resolve().fingerprint() != a


def test_validation_lists_every_problem_together():
    data = {
        "scenarios": ["baseline-2024", "no-such-scenario"], "replications": 0, "borrowers": "many",
        "root_seed": -1, "colour": "blue", "overrides": ["run.burn_in=0", "policy.rate_cap.apr=3"],
        "vary": {"mode": "zip", "policy": {"rate_cap": {"apr": [0.2, 0.24]}}, "run.burn_in": [0, 1, 2]},
    }
    with pytest.raises(DesignError) as info:
        design_from_mapping(data, "bad.toml")
    text = str(info.value)
    assert isinstance(info.value, ConfigError)
    for needle in ("colour: unknown key", "replications = 0", "borrowers = \"many\"", "root_seed = -1",
                   "mode 'zip' needs lists of equal length"):
        assert needle in text, needle
    assert len(info.value.problems) == 5


def test_resolution_reports_unknown_scenarios_and_bad_overrides_and_values_together():
    design = small(scenarios=("baseline-2024", "no-such-scenario"), overrides=("policy.rate_cap.apr=3",),
                   vary=(("policy.rate_cap.apr", (0.2, 2.0)), ("nosuch.key", (1,))))
    with pytest.raises(DesignError) as info:
        design.resolve()
    text = str(info.value)
    assert "unknown scenario 'no-such-scenario'" in text
    assert "policy.rate_cap.apr = 3" in text
    assert "nosuch.key" in text
    assert len(info.value.problems) >= 3


def test_empty_lists_and_bad_types_are_problems():
    with pytest.raises(DesignError) as info:
        design_from_mapping({"scenarios": [], "overrides": "run.burn_in=0", "vary": {"run.burn_in": []},
                             "months": 1.5})
    text = str(info.value)
    for needle in ("scenarios = []", "overrides", "vary.run.burn_in = []", "months = 1.5"):
        assert needle in text, needle


def test_mixed_int_and_float_sweep_values_become_floats_and_other_mixes_are_refused():
    assert parse_vary(["policy.rate_cap.apr=0.2,1"]) == (("policy.rate_cap.apr", (0.2, 1.0)),)
    with pytest.raises(DesignError, match="one type"):
        parse_vary(["policy.rate_cap.apr=0.2,abc"])


def test_parse_vary_parses_values_like_set():
    assert parse_vary(["policy.rate_cap.start=2025-07,2026-01", "policy.whitelist.required=true,false"]) == (
        ("policy.rate_cap.start", ("2025-07", "2026-01")), ("policy.whitelist.required", (True, False)),
    )


@pytest.mark.parametrize("bad", ["policy.rate_cap.apr", "=0.2,0.3", "policy.rate_cap.apr=", "a..b=1",
                                 "policy.rate_cap.apr=0.2,,0.3", "policy.rate_cap.apr=0.2,"])
def test_bad_vary_strings_are_config_errors(bad):
    with pytest.raises(ConfigError) as info:
        parse_vary([bad])
    assert bad in str(info.value)


def test_malformed_vary_strings_are_reported_together():
    with pytest.raises(DesignError) as info:
        parse_vary(["x", "y=", "ok.key=1"])
    assert len(info.value.problems) == 2


def test_design_file_round_trip_and_unreadable_files(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('scenarios = ["baseline-2024"]\nreplications = 2\nborrowers = 1500\nmonths = 4\n'
                    'overrides = ["run.burn_in=0"]\n[vary]\nmode = "grid"\n"policy.rate_cap.apr" = [0.2, 0.24]\n')
    design = load_design(path)
    assert design.vary == (("policy.rate_cap.apr", (0.2, 0.24)),)
    assert len(design.resolve().runs) == 4
    with pytest.raises(DesignError, match="no such file"):
        load_design(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("scenarios = [")
    with pytest.raises(DesignError, match="not valid TOML"):
        load_design(tmp_path / "broken.toml")


def test_shipped_example_design_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "experiments" / "designs" / "example.toml"
    resolved = load_design(example).resolve()
    assert {r.scenario for r in resolved.runs} == {"baseline-2024", "new-rules-2025"}
    assert len(resolved.seeds) == 3


# ------------------------------------------------------------------------------------ growing a store
def test_replicate_seeds_and_run_ids_do_not_change_when_replications_grow():
    two, five = small(replications=2).resolve(), small(replications=5).resolve()
    assert five.seeds[:2] == two.seeds
    assert [r.run_id for r in five.runs if r.replicate < 2] == [r.run_id for r in two.runs]


def test_setting_differences_name_each_setting_in_order():
    stored = {"scenarios": ["a", "b"], "replications": 2, "borrowers": 20000, "months": None, "root_seed": 1,
              "overrides": [], "vary": [], "mode": "grid"}
    current = {**stored, "replications": 5, "borrowers": 50000, "months": 6,
               "vary": [["policy.rate_cap.apr", [0.2, 0.24]]]}
    assert [describe_setting(*d) for d in setting_differences(stored, current)] == [
        "replications 2 -> 5 (growing is allowed)", "borrowers 20000 -> 50000",
        "months (each scenario's own) -> 6", "vary [] -> [policy.rate_cap.apr=[0.2,0.24]]",
    ]
    assert setting_differences(stored, dict(stored)) == []
    assert describe_setting("replications", 5, 2) == "replications 5 -> 2 (only growing is allowed)"
    assert describe_setting("scenarios", ["a"], ["a", "b"]) == "scenarios [a] -> [a, b]"
    # Compared as JSON, like the fingerprint; a setting an older manifest lacks is named too.
    assert [d[0] for d in setting_differences({**stored, "root_seed": 1.0}, stored)] == ["root_seed"]
    missing = {k: v for k, v in stored.items() if k != "mode"}
    assert [describe_setting(*d) for d in setting_differences(missing, stored)] == ["mode (not recorded) -> grid"]


def test_a_grown_design_is_checked_run_by_run():
    design = small(scenarios=("new-rules-2025",), replications=1)
    stored = design.resolve().to_dict()
    grown = small(scenarios=("new-rules-2025",), replications=3).resolve()
    assert grown.adds_replicates(stored) and grown.grows(stored)
    assert grown.setting_changes(stored) == ["replications 1 -> 3 (growing is allowed)"]
    assert grown.param_changes(stored) == []
    # A stored run that is not this design's first replicate (another seed, say) is not grown over.
    tampered = {**stored, "runs": [{**stored["runs"][0], "seed": 1}]}
    assert grown.adds_replicates(tampered) and not grown.grows(tampered)
    # Nor is a store whose manifest records no parameters, nor one with another setting changed too.
    assert not grown.grows({k: v for k, v in stored.items() if k != "params"})
    other = small(scenarios=("new-rules-2025",), replications=3, borrowers=1600).resolve()
    assert not other.adds_replicates(stored) and not other.grows(stored)
    # Shrinking is not growing.
    assert not design.resolve().adds_replicates(grown.to_dict())
