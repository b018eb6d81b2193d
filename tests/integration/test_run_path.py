"""The one run path (experiments/engine/run.py): run, manifest, release, and a run directory written from Python."""

from __future__ import annotations

import json

import mesa
import pandas as pd
import pytest

from experiments.cli.main import main
from experiments.engine.run import build_model, resolve_scenario, run_model
from experiments.engine.tasks import RunSpec, execute_run
from experiments.store import run_dir
from model.config import load_scenario
from model.lending import LendingModel

SMALL = ["run.borrowers=1500", "run.months=3"]


def _registry() -> dict:
    ids = getattr(mesa.Agent, "_ids", None)
    if not isinstance(ids, dict):
        pytest.skip("this Mesa version keeps no class-level agent registry")
    return ids


def test_run_model_returns_contract_tables_timings_and_releases_the_model():
    ids = _registry()
    before = len(ids)
    out = run_model("new-rules-2025", 3, overrides=SMALL)
    assert len(ids) == before
    assert set(out.tables) == {"model", "platforms", "funders"}
    assert list(out.tables["model"]["date"]) == ["2024-01", "2024-02", "2024-03"]
    assert out.init_seconds > 0 and out.run_seconds > 0
    assert out.elapsed_seconds >= out.init_seconds + out.run_seconds
    assert out.scenario.params.run.borrowers == 1500


def test_run_model_releases_the_model_when_a_month_fails(monkeypatch):
    ids = _registry()
    before = len(ids)

    def boom(self):
        raise ValueError("boom in a month")

    monkeypatch.setattr(LendingModel, "step", boom)
    with pytest.raises(ValueError, match="boom in a month"):
        run_model("new-rules-2025", 3, overrides=SMALL)
    assert len(ids) == before


def test_build_model_releases_a_half_built_model(monkeypatch):
    ids = _registry()
    before = len(ids)
    real_init = LendingModel.__init__

    def half(self, scenario, rng=None):
        real_init(self, scenario, rng=rng)  # every agent registered, then the constructor fails
        raise RuntimeError("failed after the agents were made")

    monkeypatch.setattr(LendingModel, "__init__", half)
    with pytest.raises(RuntimeError, match="after the agents"):
        build_model(load_scenario("new-rules-2025", SMALL), 3)
    assert len(ids) == before


def test_resolve_scenario_applies_size_after_overrides_by_name_or_on_a_scenario():
    by_name = resolve_scenario("new-rules-2025", ["run.borrowers=9", "policy.rate_cap.apr=0.2"], 1500, 3)
    resolved = resolve_scenario(load_scenario("new-rules-2025"), ["policy.rate_cap.apr=0.2"], 1500, 3)
    assert by_name.params == resolved.params
    assert (by_name.params.run.borrowers, by_name.params.run.months) == (1500, 3)
    assert resolve_scenario(by_name) is by_name


def test_a_run_directory_written_from_python_matches_the_cli_and_reruns(tmp_path, capsys):
    cli_dir, lib_dir = tmp_path / "cli", tmp_path / "lib"
    assert main(["run", "new-rules-2025", "--seed", "5", "--borrowers", "1500", "--months", "3", "--quiet",
                 "--out", str(cli_dir)]) == 0
    out = run_model("new-rules-2025", 5, overrides=["run.borrowers=1500", "run.months=3"])
    run_dir.write_run(lib_dir, out.tables, out.manifest)

    cli_manifest = json.loads((cli_dir / "manifest.json").read_text(encoding="utf-8"))
    lib_manifest = json.loads((lib_dir / "manifest.json").read_text(encoding="utf-8"))
    assert list(lib_manifest) == list(cli_manifest)
    for key in ("scenario", "source", "overrides", "seed", "borrowers", "months", "first_month", "last_month",
                "tables", "columns", "resolved", "versions"):
        assert lib_manifest[key] == cli_manifest[key], key
    assert lib_manifest["argv"] == []
    for name, filename in run_dir.TABLE_FILES.items():
        pd.testing.assert_frame_equal(pd.read_parquet(lib_dir / filename), pd.read_parquet(cli_dir / filename),
                                      check_exact=True, obj=name)
    capsys.readouterr()
    assert main(["rerun", str(lib_dir)]) == 0
    assert "exactly" in capsys.readouterr().out


def test_a_batch_task_gives_the_tables_of_the_run_path():
    spec = RunSpec("r0", "new-rules-2025", 0, (), ("policy.rate_cap.apr=0.2",), 0, 11, 1500, 3)
    result = execute_run(spec)
    assert result.status == "ok", result.traceback
    direct = run_model(resolve_scenario("new-rules-2025", ["policy.rate_cap.apr=0.2"], 1500, 3), 11).tables
    for name, table in direct.items():
        own = result.tables[name].drop(columns=list(spec.keys()))
        pd.testing.assert_frame_equal(own, table.reset_index(drop=True), check_exact=True, obj=name)
