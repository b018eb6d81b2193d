"""Optional extras: the one check that names a missing extra, and pyproject/constraints kept in step with it."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tomllib
from pathlib import Path

import pytest

from experiments.cli.main import main
from experiments.extras import EXTRAS, MissingExtra, installed, require

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: Extras that only gather others, or tools (tests, the documentation build), not features of the zhudai command.
GATHERING = {"all", "test", "dev", "cluster", "docs"}


def _name(requirement: str) -> str:
    """``"dask[distributed]>=2024.1"`` -> ``"dask"``: a requirement's distribution name, normalized."""
    return re.sub(r"[-_.]+", "_", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()


def _bracket(requirement: str) -> list[str]:
    match = re.search(r"\[([^\]]*)\]", requirement)
    return [e.strip() for e in match.group(1).split(",")] if match else []


def test_require_passes_when_the_modules_are_there():
    require("ema", "json", "csv", what="a feature")


def test_a_module_that_cannot_be_imported_names_the_extra_and_its_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # None in sys.modules makes `import optuna` fail
    assert not installed("optuna")
    with pytest.raises(MissingExtra) as caught:
        require("calibrate", "optuna", what="zhudai calibrate")
    assert str(caught.value) == ("zhudai calibrate needs the optional 'calibrate' dependencies: "
                                 "pip install -c constraints.txt -e \".[calibrate]\" (not installed: optuna)")
    assert isinstance(caught.value, ImportError)
    assert (caught.value.extra, caught.value.missing) == ("calibrate", ["optuna"])


def test_without_modules_every_module_of_the_extra_is_checked(monkeypatch):
    monkeypatch.setitem(sys.modules, "cmaes", None)
    monkeypatch.setitem(sys.modules, "networkx", None)
    with pytest.raises(MissingExtra, match=r"\(not installed: cmaes\)$"):
        require("calibrate", what="zhudai calibrate")
    with pytest.raises(MissingExtra, match=r"'dashboard' .*\(not installed: networkx\)$"):
        require("dashboard", what="zhudai dashboard")


def test_an_unknown_extra_is_a_programming_error():
    with pytest.raises(KeyError):
        require("no-such-extra", "json", what="x")


def test_every_feature_extra_of_pyproject_is_listed_with_the_modules_it_installs():
    extras = PYPROJECT["optional-dependencies"]
    assert set(extras) - GATHERING == set(EXTRAS)
    for extra, (_, modules) in EXTRAS.items():
        names = {_name(r) for r in extras[extra]}
        names |= {f"{_name(r)}_{b}" if _name(r) == "solara" else b for r in extras[extra] for b in _bracket(r)}
        assert names == set(modules), extra


def test_the_gathering_extras_hold_every_feature_extra():
    extras = PYPROJECT["optional-dependencies"]
    assert _bracket(extras["all"][0]) == sorted(EXTRAS, key=list(EXTRAS).index)
    # The test suite needs every feature extra, and the documentation build that .ci/run runs before it.
    assert {"all", "docs"} <= set(_bracket(extras["test"][0])) and _name(extras["test"][0]) == "zhudai_abm"
    assert {_name(r) for r in extras["docs"]} == {"mkdocs", "mkdocs_material", "mkdocs_jupyter"}
    assert {_name(r) for r in extras["test"]} >= {"pytest", "hypothesis", "playwright"}
    assert "zhudai-abm[test]" in extras["dev"] and any(_name(r) == "ruff" for r in extras["dev"])
    assert extras["cluster"] == ["zhudai-abm[dask]"]


def test_the_core_needs_no_optional_package():
    optional = {m for _, modules in EXTRAS.values() for m in modules}
    core = {_name(r) for r in PYPROJECT["dependencies"]}
    assert not core & optional
    assert {"mesa", "numpy", "pandas", "pyarrow", "scipy", "matplotlib", "seaborn", "salib", "tqdm"} <= core


def test_constraints_pin_every_package_that_pyproject_names():
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pinned = {_name(line.split("==")[0]) for line in lines if "==" in line and not line.startswith("#")}
    named = {_name(r) for r in PYPROJECT["dependencies"]}
    named |= {_name(r) for reqs in PYPROJECT["optional-dependencies"].values() for r in reqs}
    named |= {b for reqs in PYPROJECT["optional-dependencies"].values() for r in reqs for b in _bracket(r)
              if _name(r) == "dask"}
    assert named - {"zhudai_abm"} <= pinned


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def test_dashboard_without_its_extra_exits_2_with_one_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "solara", None)
    code, err = _cli(["dashboard", "--port", "0"])
    assert code == 2
    assert err == ("zhudai: zhudai dashboard needs the optional 'dashboard' dependencies: "
                   "pip install -c constraints.txt -e \".[dashboard]\" (not installed: solara)\n")


def test_calibrate_without_its_extra_exits_2_before_writing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna", None)
    cal = ROOT / "experiments" / "calibration"
    code, err = _cli(["calibrate", "baseline-2024", "--moments", str(cal / "moments-2024.toml"),
                      "--params", str(cal / "params-2024.toml"), "--out", str(tmp_path / "cal")])
    assert code == 2
    assert err.count("\n") == 1 and "'calibrate' dependencies" in err and "(not installed: optuna)" in err
    assert not (tmp_path / "cal").exists()


def test_a_dask_scheduler_without_the_dask_extra_exits_2_and_leaves_out_alone(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    code, err = _cli(["compare", "baseline-2024", "--replications", "1", "--borrowers", "1000", "--months", "1",
                      "--scheduler", "local", "--quiet", "--out", str(tmp_path / "st")])
    assert code == 2
    assert err == ("zhudai: --scheduler local (the dask executor) needs the optional 'dask' dependencies: "
                   "pip install -c constraints.txt -e \".[dask]\" (not installed: distributed)\n")
    assert not (tmp_path / "st").exists()
