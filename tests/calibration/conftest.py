"""Fixtures of the ``zhudai calibrate`` tests: a file writer and one tiny calibration that several tests only read."""

from __future__ import annotations

from pathlib import Path

import pytest
from calibration_helpers import TINY_MOMENTS, TINY_PARAMS, TINY_RUNS, TINY_SEARCH, moments_toml, params_toml, run_main


@pytest.fixture
def write(tmp_path):
    """``write(name, text)``: a file in the test's directory."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def tiny_calibration(tmp_path_factory) -> dict:
    """One tiny calibration run in-process: its directory, command line, exit status and output."""
    root = tmp_path_factory.mktemp("calibration")
    moments = root / "moments.toml"
    moments.write_text(moments_toml(TINY_MOMENTS), encoding="utf-8")
    params = root / "params.toml"
    params.write_text(params_toml(TINY_PARAMS), encoding="utf-8")
    out = root / "out"
    argv = ["calibrate", "baseline-2024", "--moments", str(moments), "--params", str(params), *TINY_SEARCH,
            *TINY_RUNS, "--out", str(out)]
    code, stdout, stderr = run_main(argv)
    return {"out": out, "argv": argv, "code": code, "stdout": stdout, "stderr": stderr, "moments": moments,
            "params": params, "root": root}
