"""A batch directory never mixes parameter sets: resuming it with other resolved parameters is refused.

The fingerprint of a batch covers every run's fully resolved parameters (experiments/engine/design.py), so an
edited scenario file or a changed schema default between two invocations is caught, named key by key, and
nothing on disk changes (experiments/store/batch_dir.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import experiments
import model.config
from experiments.cli.main import main
from experiments.engine.design import Design
from experiments.store.batch_dir import StoreError, open_store, read_store

REPO = Path(__file__).resolve().parents[2]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def zhudai(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, check=False)


def test_resuming_with_an_edited_scenario_file_is_refused_and_names_the_key(tmp_path):
    scenario = tmp_path / "my.toml"
    scenario.write_text('description = "t"\nextends = "new-rules-2025"\n', encoding="utf-8")
    args = ["compare", "my.toml", "--replications", "2", "--borrowers", "3000", "--months", "6", "--workers", "1",
            "--out", "st"]
    first = zhudai(args, tmp_path)
    assert first.returncode == 0, first.stderr
    store = tmp_path / "st"
    runs = read_store(store)["runs"]
    assert len(runs) == 2
    # A killed batch leaves one run without its partitions.
    lost = runs["run_id"].iloc[1]
    for dataset in ("model", "platforms", "funders", "runs"):
        shutil.rmtree(store / f"{dataset}.parquet" / f"run_id={lost}")
    scenario.write_text('description = "t"\nextends = "new-rules-2025"\n[policy.rate_cap]\napr = 0.12\n',
                        encoding="utf-8")
    before = snapshot(store)

    second = zhudai(args, tmp_path)
    assert second.returncode == 2
    err = second.stderr
    assert "Traceback" not in err and err.count("zhudai:") == 1 and "zhudai: --out st: " in err
    assert "policy.rate_cap.apr: 0.24 -> 0.12 (2 runs: my.toml r0, my.toml r1)" in err
    assert "another --out" in err
    assert snapshot(store) == before

    # Restoring the scenario resumes the directory: only the lost run runs.
    scenario.write_text('description = "t"\nextends = "new-rules-2025"\n', encoding="utf-8")
    third = zhudai([*args, "--quiet"], tmp_path)
    assert third.returncode == 0, third.stderr
    assert "1 this session, 1 already there" in third.stdout
    assert len(read_store(store)["runs"]) == 2


def _compare(out: Path, scenario: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["compare", str(scenario), "--replications", "1", "--borrowers", "1500", "--months", "2",
                     "--set", "run.burn_in=0", "--workers", "1", "--quiet", "--out", str(out)])
    return code, err.getvalue()


def test_a_changed_schema_default_between_invocations_is_refused(tmp_path, monkeypatch):
    # No `extends`: every value the file does not set is the schema's default.
    scenario = tmp_path / "plain.toml"
    scenario.write_text('description = "defaults"\n', encoding="utf-8")
    out = tmp_path / "b"
    assert _compare(out, scenario)[0] == 0
    before = snapshot(out)

    real = model.config._defaults_tree

    def shifted() -> dict:
        tree = real()
        tree["policy"]["rate_cap"]["apr"] = 0.2
        return tree

    monkeypatch.setattr(model.config, "_defaults_tree", shifted)
    code, err = _compare(out, scenario)
    assert code == 2
    assert f"policy.rate_cap.apr: 0.24 -> 0.2 (run {scenario} r0)" in err
    assert "another --out" in err and "Traceback" not in err
    assert snapshot(out) == before


def test_the_fingerprint_covers_resolved_parameters_not_only_names(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text('description = "a"\nextends = "new-rules-2025"\n', encoding="utf-8")
    design = Design(scenarios=(str(scenario),), replications=2, borrowers=1500, months=2)
    a = design.resolve()
    scenario.write_text('description = "b"\nextends = "new-rules-2025"\n', encoding="utf-8")
    assert design.resolve().fingerprint() == a.fingerprint()  # the description is not a parameter
    scenario.write_text('description = "a"\nextends = "new-rules-2025"\n[policy.whitelist]\npartner_cost = 3.5\n',
                        encoding="utf-8")
    b = design.resolve()
    assert [r.run_id for r in b.runs] == [r.run_id for r in a.runs]
    assert b.fingerprint() != a.fingerprint()
    old = dataclasses.replace(a).to_dict()
    changes = b.param_changes(old)
    assert len(changes) == 1 and changes[0].startswith("policy.whitelist.partner_cost: ")
    assert changes[0].endswith("-> 3.5 (2 runs: " + f"{scenario} r0, {scenario} r1)")
    assert b.param_changes({"runs": old["runs"]}) == []  # nothing recorded to compare with
    assert a.param_changes(old) == []


def test_store_refuses_a_manifest_without_recorded_parameters(tmp_path):
    design = Design(scenarios=("new-rules-2025",), replications=1, borrowers=1500, months=2).resolve()
    store = open_store(tmp_path / "b", design)
    store.manifest["design"].pop("params")
    store.manifest["fingerprint"] = "0" * 64
    store.write_manifest()
    before = snapshot(tmp_path / "b")
    with pytest.raises(StoreError, match="records no resolved parameters"):
        open_store(tmp_path / "b", design)
    assert snapshot(tmp_path / "b") == before


def test_growing_a_store_with_edited_parameters_is_refused_and_names_the_key(tmp_path):
    scenario = tmp_path / "grow.toml"
    scenario.write_text('description = "g"\nextends = "new-rules-2025"\n', encoding="utf-8")
    out = tmp_path / "b"
    assert _compare(out, scenario)[0] == 0
    before = snapshot(out)
    scenario.write_text('description = "g"\nextends = "new-rules-2025"\n[policy.rate_cap]\napr = 0.12\n',
                        encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["compare", str(scenario), "--replications", "2", "--borrowers", "1500", "--months", "2",
                     "--set", "run.burn_in=0", "--workers", "1", "--quiet", "--out", str(out)])
    assert code == 2
    text = err.getvalue()
    assert f"policy.rate_cap.apr: 0.24 -> 0.12 (run {scenario} r0)" in text
    assert "Traceback" not in text and text.count("zhudai:") == 1
    assert snapshot(out) == before



def test_growing_is_refused_when_the_stored_runs_are_not_the_first_replicates(tmp_path):
    design = Design(scenarios=("new-rules-2025",), replications=1, borrowers=1500, months=2)
    store = open_store(tmp_path / "b", design.resolve())
    store.manifest["design"]["runs"][0]["seed"] = 1
    store.manifest["fingerprint"] = "0" * 64
    store.write_manifest()
    before = snapshot(tmp_path / "b")
    grown = dataclasses.replace(design, replications=2).resolve()
    with pytest.raises(StoreError, match=r"differs only in replications 1 -> 2 \(growing is allowed\), but the "
                                         "runs it holds are not the first replicates"):
        open_store(tmp_path / "b", grown)
    assert snapshot(tmp_path / "b") == before
    # Untampered, the same growth is accepted and the manifest records the grown design.
    other = open_store(tmp_path / "c", design.resolve())
    other.finish({}, "complete")
    grown_store = open_store(tmp_path / "c", grown)
    assert grown_store.grown_from == 1 and grown_store.manifest["design"]["replications"] == 2
    assert grown_store.manifest["fingerprint"] == grown.fingerprint()


def test_a_store_made_with_other_model_code_is_refused_and_nothing_changes(tmp_path, monkeypatch):
    """Same design, same parameters, other model code: resuming would mix tables the model no longer gives."""
    from experiments.store import batch_dir, common

    design = Design(scenarios=("new-rules-2025",), replications=1, borrowers=1500, months=2).resolve()
    store = open_store(tmp_path / "b", design)
    assert store.manifest["model_code"] == common.model_code_digest()
    assert len(store.manifest["model_code"]) == 64
    open_store(tmp_path / "b", design)              # the same code resumes
    before = snapshot(tmp_path / "b")
    monkeypatch.setattr(batch_dir, "model_code_digest", lambda: "f" * 64)
    with pytest.raises(StoreError, match="holds runs made with other model code"):
        open_store(tmp_path / "b", design)
    assert snapshot(tmp_path / "b") == before


def test_the_model_code_digest_covers_every_model_source_file(tmp_path, monkeypatch):
    import model
    from experiments.store import common

    copy = tmp_path / "model"
    shutil.copytree(Path(model.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(model, "__file__", str(copy / "__init__.py"))
    common.model_code_digest.cache_clear()
    try:
        a = common.model_code_digest()
        common.model_code_digest.cache_clear()
        with (copy / "mechanisms" / "reviews.py").open("a", encoding="utf-8") as fh:
            fh.write("\n# an edit\n")
        assert common.model_code_digest() != a
    finally:
        common.model_code_digest.cache_clear()


def test_the_version_is_recorded_per_session_and_another_version_alone_is_not_refused(tmp_path, monkeypatch):
    """Stores are refused for their runs' parameters, not for the code version, which each session records."""
    scenario = tmp_path / "v.toml"
    scenario.write_text('description = "v"\nextends = "new-rules-2025"\n', encoding="utf-8")
    out = tmp_path / "b"
    assert _compare(out, scenario)[0] == 0
    first = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert first["version"] == experiments.__version__
    assert first["versions"]["zhudai-abm"] == experiments.__version__
    assert [s["version"] for s in first["sessions"]] == [experiments.__version__]

    monkeypatch.setattr(experiments, "__version__", "99.0.0")
    code, err = _compare(out, scenario)
    assert code == 0, err
    second = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert second["version"] == "99.0.0" and second["versions"]["zhudai-abm"] == "99.0.0"
    assert [s["version"] for s in second["sessions"]] == [first["version"], "99.0.0"]
    assert second["fingerprint"] == first["fingerprint"]

    # Other parameters are still refused under the new version, and nothing changes.
    before = snapshot(out)
    scenario.write_text('description = "v"\nextends = "new-rules-2025"\n[policy.rate_cap]\napr = 0.12\n',
                        encoding="utf-8")
    code, err = _compare(out, scenario)
    assert code == 2 and "policy.rate_cap.apr: 0.24 -> 0.12" in err
    assert snapshot(out) == before
