"""Sensitivity analysis: SALib indices on the Ishigami function, parameter parsing, and a tiny real run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import sensitivity as sa
from experiments.cli.main import main
from experiments.engine.design import DesignError

ISHIGAMI = [sa.Param(f"x{i}", -math.pi, math.pi) for i in (1, 2, 3)]


def _ishigami(x: np.ndarray) -> np.ndarray:
    from SALib.test_functions import Ishigami

    return Ishigami.evaluate(x)


def test_sobol_indices_of_ishigami() -> None:
    problem = sa.salib_problem(ISHIGAMI)
    x = sa.sample("sobol", problem, 2048, seed=1)
    indices = sa.analyze("sobol", problem, x, {"y": _ishigami(x)}, seed=1).set_index("parameter")
    np.testing.assert_allclose(indices["S1"].to_numpy(), [0.314, 0.442, 0.0], atol=0.05)
    np.testing.assert_allclose(indices["ST"].to_numpy(), [0.558, 0.442, 0.244], atol=0.05)
    assert (indices["S1_conf"] > 0).all()


def test_morris_screening_of_ishigami() -> None:
    problem = sa.salib_problem(ISHIGAMI)
    x = sa.sample("morris", problem, 100, seed=2)
    indices = sa.analyze("morris", problem, x, {"y": _ishigami(x)}, seed=2).set_index("parameter")
    assert list(indices.columns) == ["outcome", "mu_star", "mu_star_conf", "sigma"]
    # x3 acts only through its interaction with x1: a small mean effect but a large spread (sigma > mu*).
    assert indices.loc["x3", "sigma"] > indices.loc["x3", "mu_star"]
    assert indices["mu_star"].min() > 0


def test_write_indices_writes_csv_and_charts(tmp_path: Path) -> None:
    problem = sa.salib_problem(ISHIGAMI)
    x = sa.sample("sobol", problem, 64, seed=3)
    path, charts = sa.write_indices(tmp_path, "sobol", ISHIGAMI, x, {"y": _ishigami(x)}, seed=3)
    table = pd.read_csv(path)
    assert list(table.columns) == ["outcome", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert [c.name for c in charts] == ["sensitivity_y.png"]
    assert len(pd.read_csv(tmp_path / "samples.csv")) == len(x)


def test_distinct_points_maps_back() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [5.0, 6.0]])
    points, inverse = sa.distinct_points(x)
    np.testing.assert_array_equal(points, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(points[inverse], x)


def test_parse_params_reports_every_problem() -> None:
    params = sa.parse_params(["pricing.leverage_sensitivity=1,5", "funders.pref_scale=0.5,1.5"])
    assert params[0] == sa.Param("pricing.leverage_sensitivity", 1.0, 5.0)
    with pytest.raises(DesignError) as err:
        sa.parse_params(["nope.key=1,2", "borrowers.revolve_prob=0.5,0.9", "pricing.shock_pd=0.6,0.2",
                         "pricing.shock_pd=0.2,3", "bad"])
    text = str(err.value)
    for fragment in ("unknown parameter", "not a scalar number", "needs finite low < high", "outside", "expected"):
        assert fragment in text


def test_shipped_ranges_file_is_valid() -> None:
    params = sa.load_params_file(sa.PARAMS_FILE)
    assert len(params) >= 20
    assert all(p.low < p.high for p in params)


def test_cli_sensitivity_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "sens"
    argv = ["sensitivity", "new-rules-2025", "--method", "morris", "--param", "pricing.leverage_sensitivity=1,5",
            "--param", "funders.pref_scale=0.5,1.5", "--samples", "2", "--borrowers", "1500", "--months", "4",
            "--set", "run.burn_in=0", "--set", "run.start=2025-09", "--outcome", "head_share",
            "--outcome", "rationed_share", "--workers", "1", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out / "indices.csv")
    assert set(table["outcome"]) == {"head_share", "rationed_share"}
    assert np.isfinite(table[["mu_star", "sigma"]].to_numpy()).all()
    assert (out / "sensitivity_head_share.png").is_file()
    # Rerunning resumes: every run is already stored, and the indices are the same.
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "indices.csv"), table)


def test_cli_sensitivity_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["sensitivity", "new-rules-2025", "--method", "morris", "--out", str(tmp_path / "s"), "--quiet"]
    assert main(base) == 2
    assert main([*base, "--param", "pricing.leverage_sensitivity=1,5", "--months", "4"]) == 2  # ends before 2025-10
    assert main([*base, "--param", "pricing.leverage_sensitivity=1,5", "--outcome", "nope"]) == 2
    err = capsys.readouterr().err
    assert "at least one --param" in err and "before --from 2025-10" in err and "--outcome nope" in err
    assert not (tmp_path / "s").exists()


def test_the_shipped_screening_design_lists_every_scalar_uncertainty_with_the_robustness_range():
    """experiments/designs/sensitivity.toml is every scalar parameter flagged uncertainty=True, with the range
    ``zhudai validate --robustness`` samples (so a newly flagged parameter cannot be left out of the screening)."""
    import math
    import tomllib
    from pathlib import Path

    from experiments.analysis.validation import scalar_uncertainty_bounds
    from experiments.cli.validate import DEFAULT_TARGETS, load_targets_file

    _targets, table = load_targets_file(DEFAULT_TARGETS)
    design = Path(__file__).resolve().parents[2] / "experiments" / "designs" / "sensitivity.toml"
    shipped = tomllib.loads(design.read_text(encoding="utf-8"))["params"]
    expected = scalar_uncertainty_bounds(table)
    assert set(shipped) == set(expected)
    for key, (x0, x1) in expected.items():
        assert math.isclose(shipped[key][0], x0, abs_tol=1e-6) and math.isclose(shipped[key][1], x1, abs_tol=1e-6), key
