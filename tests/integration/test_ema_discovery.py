"""The scenario-discovery example runs end to end at a tiny size and writes its files (skipped without the extra)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ema_workbench")

from experiments.analysis.ema_example import DISCOVERY_OVERRIDES, choose_box, run_discovery, tail_exit_share

FILES = (
    "experiments.csv",
    "series.csv",
    "tail_series.png",
    "feature_scores.csv",
    "feature_scores.png",
    "discovery.json",
    "prim_trajectory.csv",
    "prim_box.csv",
    "prim_tradeoff.png",
    "prim_box.png",
)


def test_discovery_runs_end_to_end_and_writes_its_files(tmp_path):
    found = run_discovery(
        tmp_path,
        n_experiments=8,
        replications=2,
        borrowers=1000,
        months=12,
        overrides=(*DISCOVERY_OVERRIDES, "run.start=2025-06", "run.burn_in=0"),
        exit_share=0.1,
    )
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name

    table = pd.read_csv(tmp_path / "experiments.csv")
    assert len(table) == 8
    assert table["policy__rate_cap__apr"].between(0.12, 0.36).all()
    assert set(table["policy__whitelist__enabled"]) == {True, False}  # LHS over a switch takes both values
    assert (table["tail_collapse"] == (table["tail_exit_share"] > 0.1)).all()
    np.testing.assert_allclose(table["tail_exit_share"], found.tail_exit_share)
    assert 0 < found.interest.sum() < 8  # a mix of cases, so PRIM ran

    series = pd.read_csv(tmp_path / "series.csv")
    assert len(series) == 8 * 12 * 2 and series["date"].iloc[0] == "2025-06" == found.months[0]

    summary = json.loads((tmp_path / "discovery.json").read_text())
    assert summary["cases_of_interest"] == int(found.interest.sum())
    assert summary["months"] == ["2025-06", "2026-05"] and summary["rules_start"] == "2025-10"
    box = summary["box"]
    assert 0 < box["coverage"] <= 1 and 0 < box["density"] <= 1
    assert len(pd.read_csv(tmp_path / "prim_box.csv")) == box["res_dim"]

    scores = pd.read_csv(tmp_path / "feature_scores.csv", index_col="parameter")
    assert len(scores) == 12  # six levers, six uncertainties
    assert {"tail_collapse", "tail_exit_share", "rationed_share"} <= set(scores.columns)
    np.testing.assert_allclose(scores.sum(), 1.0)  # extra-trees importances of each outcome sum to one


def test_tail_exit_share_counts_from_the_last_month_before_the_rules():
    tail = np.array([[10, 10, 8, 4], [5, 5, 5, 5], [0, 0, 0, 0]])
    months = ["2025-08", "2025-09", "2025-10", "2025-11"]
    np.testing.assert_allclose(tail_exit_share(tail, months, "2025-10"), [0.6, 0.0, 0.0])
    np.testing.assert_allclose(tail_exit_share(tail, months, "2025-08"), [0.6, 0.0, 0.0])  # no month before: first


def test_the_chosen_box_is_the_widest_dense_enough_or_else_the_densest():
    trajectory = pd.DataFrame(
        {
            "coverage": [1.0, 0.9, 0.7, 0.5],
            "density": [0.5, 0.7, 0.85, 0.95],
            "res_dim": [0, 1, 2, 3],
        }
    )
    assert choose_box(trajectory, 0.8) == 2
    assert choose_box(trajectory, 0.99) == 3
