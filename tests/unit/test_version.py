"""One version, written in experiments/__init__.py: the package metadata, the CLI, the citation, the changelog and
every manifest take it from there."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

import experiments
import model
from experiments.cli import calibrate
from experiments.cli.exits import UsageError
from experiments.cli.main import main
from experiments.store import common

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_a_release_number_and_model_shares_it():
    assert re.fullmatch(r"\d+\.\d+\.\d+", experiments.__version__)
    assert model.__version__ == experiments.__version__


def test_pyproject_reads_the_version_from_experiments():
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "experiments.__version__"}


def test_dash_dash_version_prints_the_distribution_and_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"zhudai-abm {experiments.__version__}\n"


def test_the_license_is_apache_2_and_declared():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("Copyright 2026 The zhudai-abm contributors\n")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_citation_file_matches_the_package():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert str(cff["version"]) == experiments.__version__
    assert cff["license"] == PYPROJECT["project"]["license"]
    assert cff["authors"] == [{"name": "The zhudai-abm contributors"}]
    assert cff["title"] and cff["abstract"] and cff["message"]
    preferred = cff["preferred-citation"]
    assert str(preferred["version"]) == experiments.__version__
    assert preferred["authors"] == cff["authors"]
    # The ODD it cites is in the repository.
    assert "docs/ODD.md" in preferred["notes"] and (ROOT / "docs" / "ODD.md").is_file()


def test_the_changelog_has_a_section_for_this_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(experiments.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M)
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", text, re.M)
    assert versions[0] == experiments.__version__  # newest first
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def test_environment_versions_name_the_code_that_runs(monkeypatch):
    """Not the installed metadata, which names another checkout when this one runs through PYTHONPATH."""
    monkeypatch.setattr(experiments, "__version__", "9.9.9")
    assert common.code_version() == "9.9.9"
    assert common.environment_versions()["zhudai-abm"] == "9.9.9"


def test_a_calibration_records_the_version_but_resumes_under_another(tmp_path, monkeypatch):
    identity = {"kind": calibrate.IDENTITY_KIND, "version": experiments.__version__, "scenario": "baseline-2024"}
    out = tmp_path / "cal"
    calibrate.check_identity(out, identity)
    held = json.loads((out / calibrate.IDENTITY_FILE).read_text(encoding="utf-8"))
    assert held["version"] == experiments.__version__
    # Another version alone is not refused (and the record keeps the version that started it) ...
    calibrate.check_identity(out, {**identity, "version": "99.0.0"})
    assert json.loads((out / calibrate.IDENTITY_FILE).read_text(encoding="utf-8")) == held
    # ... other inputs are.
    with pytest.raises(UsageError, match=r"differs in: scenario\)"):
        calibrate.check_identity(out, {**identity, "version": "99.0.0", "scenario": "new-rules-2025"})
