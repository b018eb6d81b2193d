"""Another ``model`` package first on the import path stops zhudai with one message naming it and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import namecheck

ROOT = Path(__file__).resolve().parents[2]


def test_our_model_passes():
    assert namecheck.model_clash() is None
    assert (ROOT / "model").resolve() == namecheck.OURS


def _zhudai(args: list[str], pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    return subprocess.run([sys.executable, "-m", "experiments", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, check=False)


@pytest.mark.parametrize("layout", ["package", "module"])
def test_a_foreign_model_first_on_pythonpath_is_named_and_exits_2(tmp_path, layout):
    fake = tmp_path / "other"
    if layout == "package":
        (fake / "model").mkdir(parents=True)
        (fake / "model" / "__init__.py").write_text("raise RuntimeError('the foreign model was imported')\n")
        clash = (fake / "model").resolve()
    else:
        fake.mkdir()
        (fake / "model.py").write_text("raise RuntimeError('the foreign model was imported')\n")
        clash = (fake / "model.py").resolve()
    work = tmp_path / "work"
    work.mkdir()
    done = _zhudai(["run", "baseline-2024", "--out", "out"], [fake, ROOT], work)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"zhudai: the 'model' package on the import path is not zhudai-abm's: it is {clash} ")
    assert "virtual environment" in lines[0] and "pip uninstall" in lines[0]
    # Found, not imported: the foreign package's code did not run.
    assert "the foreign model was imported" not in done.stderr
    assert list(work.iterdir()) == []


def test_a_stray_model_directory_does_not_shadow_ours_on_pythonpath(tmp_path):
    """Running from a checkout on PYTHONPATH, a plain ``model/`` folder (no ``__init__.py``) in the working directory
    is at most a namespace package, which a regular package anywhere on sys.path beats: ours still wins."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("data\n")
    done = _zhudai(["--version"], [ROOT], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("zhudai-abm ")


def test_a_namespace_model_directory_is_named_too(tmp_path, monkeypatch):
    """Under an editable install ours is found after sys.path, so a plain ``model/`` folder in the working directory
    (a namespace package for ``python -m``) comes first; the check names it."""
    import importlib.machinery
    import importlib.util

    folder = tmp_path / "model"
    folder.mkdir()
    spec = importlib.machinery.ModuleSpec("model", None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    monkeypatch.delitem(sys.modules, "model", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec if name == "model" else None)
    message = namecheck.model_clash()
    assert message is not None
    assert f"it is {folder.resolve()} (expected {namecheck.OURS})" in message
