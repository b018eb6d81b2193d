"""A core install (no extras) runs the core commands; the others name the extra they need and exit 2.

The optional packages are made unimportable in the ``zhudai`` subprocesses by a meta-path finder installed from a
``sitecustomize.py`` first on ``PYTHONPATH``, so the local process pool's spawned workers are blocked too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Top-level modules of every optional extra (experiments/extras.py), as a core install lacks them.
BLOCKED = ("optuna", "cmaes", "solara", "solara_assets", "ipyvuetify", "altair", "dask", "distributed",
           "dask_jobqueue", "ema_workbench")

SITECUSTOMIZE = f'''
import sys

BLOCKED = {BLOCKED!r}


class _Blocker:
    """Acts as if the optional packages were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: core install)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
'''


@pytest.fixture(scope="module")
def core_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a core install: a sitecustomize.py that blocks the optional packages, then the repo."""
    site = tmp_path_factory.mktemp("core-site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


@pytest.fixture(scope="module")
def core(core_env):
    """Run ``zhudai ARGS`` in ``cwd`` as a core install would: the optional packages cannot be imported."""

    def zhudai(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "experiments", *args], capture_output=True, text=True, cwd=cwd,
                              env=core_env, timeout=900, check=False)

    return zhudai


@pytest.mark.parametrize("module", BLOCKED)
def test_the_optional_packages_cannot_be_imported(core_env, tmp_path, module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=tmp_path,
                          env=core_env, timeout=120, check=False)
    assert done.returncode == 1
    assert "blocked: core install" in done.stderr


def test_run_and_compare_with_report_work_without_the_extras(core, tmp_path):
    run = core(["run", "baseline-2024", "--borrowers", "2000", "--months", "3", "--quiet", "--out", "run"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["months"] == 3

    # Two workers: the local process pool, whose spawned workers are blocked as well.
    compare = core(["compare", "baseline-2024", "new-rules-2025", "--replications", "1", "--borrowers", "2000",
                    "--months", "3", "--workers", "2", "--report", "--quiet", "--out", "cmp"], tmp_path)
    assert compare.returncode == 0, compare.stderr
    assert "Traceback" not in compare.stderr
    assert (tmp_path / "cmp" / "report" / "report.md").is_file()
    assert (tmp_path / "cmp" / "report" / "report.html").is_file()


@pytest.mark.parametrize(("args", "extra", "missing"), [
    (["dashboard", "--port", "0"], "dashboard", "solara"),
    (["calibrate", "baseline-2024", "--moments", str(ROOT / "experiments/calibration/moments-2024.toml"),
      "--params", str(ROOT / "experiments/calibration/params-2024.toml"), "--out", "cal"], "calibrate", "optuna"),
    (["compare", "baseline-2024", "--replications", "1", "--borrowers", "2000", "--months", "3",
      "--scheduler", "local", "--out", "dask-store"], "dask", "dask"),
])
def test_commands_that_need_an_extra_name_it_and_exit_2(core, tmp_path, args, extra, missing):
    done = core(args, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"needs the optional '{extra}' dependencies: pip install -c constraints.txt -e \".[{extra}]\"" in lines[0]
    assert f"not installed: {missing}" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written
