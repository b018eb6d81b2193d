"""Borrower-side outcomes in national terms (experiments/analysis/borrowers.py) on hand-made model tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import borrowers as bor
from experiments.analysis.stats import mean_interval
from model.calendar import add_months


def _run(series: str, replicate: int, applicants: float = 100.0, rationed: float = 0.25, balance: float = 1000.0,
         apr: float = 0.24, served_sub: float = 0.5, months: int = 14, start: str = "2025-09") -> pd.DataFrame:
    dates = [add_months(start, i) for i in range(months)]
    rows = pd.DataFrame({
        "run_id": f"{series}-{replicate}", "series": series, "replicate": replicate, "step": range(1, months + 1),
        "date": dates, "applicants": applicants, "rationed_share": rationed, "indebted_borrowers": 40.0,
        "shadow_borrowers": 2.0, "origination_volume": 500.0, "outstanding_balance": balance, "avg_apr_new": apr,
        "shadow_volume": 10.0,
    })
    for s in bor.SEGMENTS:
        rows[f"served_share_{s}"] = served_sub if s == "subprime" else 0.9
        rows[f"apr_paid_{s}"] = 0.2
        rows[f"shadow_share_{s}"] = 0.01
    return rows


def test_scale_from_design_and_fallback() -> None:
    design = {"runs": [{"run_id": "a", "params": "d1", "borrowers": 2000}],
              "params": {"d1": {"run": {"population": 1e8, "borrowers": 2000}}}}
    runs = pd.DataFrame({"run_id": ["a", "b"], "borrowers": [2000, 4000]})
    scales = bor.run_scales(design, runs, default_population=2e6)
    assert scales["a"] == pytest.approx(50_000.0)
    assert scales["b"] == pytest.approx(500.0)  # not in the design: default population / runs' borrowers
    assert math.isnan(bor.national_scale(1e8, 0))


def test_measures_scale_and_served_plus_excluded_is_applicants() -> None:
    run = _run("x", 0)
    out = bor.run_measures(run, scale=1000.0, start="2025-10")
    w, h = out[bor.WINDOW], out["horizon"]
    assert w["nat_applicants"] == pytest.approx(100_000.0)
    assert w["nat_served"] == pytest.approx(75_000.0)
    assert w["nat_excluded"] == pytest.approx(25_000.0)
    assert w["nat_served"] + w["nat_excluded"] == pytest.approx(w["nat_applicants"])
    assert w["nat_indebted"] == pytest.approx(40_000.0)
    # Flows are totals over the 12 months of the window (2025-10..2026-09), stocks means over them.
    assert w["nat_licensed_volume"] == pytest.approx(12 * 500.0 * 1000)
    assert w["nat_outstanding_balance"] == pytest.approx(1000.0 * 1000)
    assert w["nat_interest_fees"] == pytest.approx(12 * 1000.0 * 0.24 / 12 * 1000)
    assert h["nat_licensed_volume"] == pytest.approx(500.0 * 1000)
    assert h["nat_interest_fees"] == pytest.approx(1000.0 * 0.24 / 12 * 1000)
    assert w["nat_served_share_subprime"] == pytest.approx(0.5)


def test_window_ignores_months_outside_and_apr_zero_is_missing() -> None:
    run = _run("x", 0)
    run.loc[run["date"] == "2025-09", "applicants"] = 1e9  # before the window
    run.loc[run["date"] == "2025-11", "apr_paid_subprime"] = 0.0  # no new subprime loans that month
    run.loc[run["date"] == "2025-12", "apr_paid_subprime"] = 0.3
    w = bor.run_measures(run, scale=1.0, start="2025-10")[bor.WINDOW]
    assert w["nat_applicants"] == pytest.approx(100.0)
    assert w["nat_apr_paid_subprime"] == pytest.approx((10 * 0.2 + 0.3) / 11)


def test_paired_differences_against_the_reference() -> None:
    model = pd.concat([_run("base", 0, rationed=0.2, served_sub=0.6), _run("base", 1, rationed=0.3, served_sub=0.5),
                       _run("rules", 0, rationed=0.4, served_sub=0.3), _run("rules", 1, rationed=0.6, served_sub=0.4)])
    scales = {f"{s}-{r}": 10.0 for s in ("base", "rules") for r in (0, 1)}
    table = bor.measures_table(model, scales, "2025-10")
    summary = bor.national_summary(table, ["base", "rules"], {"base": "base", "rules": "rules"}, "base", "2025-10")
    row = summary[(summary["series"] == "rules") & (summary["when"] == bor.WINDOW)
                  & (summary["metric"] == "nat_excluded")].iloc[0]
    diffs = np.array([1000 * (0.4 - 0.2), 1000 * (0.6 - 0.3)])
    n, mean, _, low, high = mean_interval(diffs)
    assert (row["pairs"], row["diff_mean"], row["diff_low"], row["diff_high"]) == (n, pytest.approx(mean),
                                                                                     pytest.approx(low),
                                                                                     pytest.approx(high))
    assert row["date"] == "2025-10..2026-09" and row["window_start"] == "2025-10"
    base = summary[(summary["series"] == "base") & (summary["metric"] == "nat_excluded")]
    assert (base["pairs"] == 0).all() and base["diff_mean"].isna().all()
    assert summary["metric"].str.startswith("nat_").all()
    changes = bor.segment_changes(table, ["base", "rules"], "base")
    sub = changes[(changes["series"] == "rules") & (changes["segment"] == "subprime")
                  & (changes["measure"] == "served_share")].iloc[0]
    assert sub["diff_mean"] == pytest.approx(((0.3 - 0.6) + (0.4 - 0.5)) / 2)


def test_formats_and_blocks() -> None:
    assert bor.fmt_national(2.5e6, "count") == "2.50M"
    assert bor.fmt_national(-1.25e9, "yuan", signed=True) == "-1.2bn"
    assert bor.fmt_national(0.021, "share", signed=True) == "+2.10 pp"
    model = pd.concat([_run("base", 0), _run("base", 1), _run("rules", 0, rationed=0.5), _run("rules", 1)])
    scales = {f"{s}-{r}": 1e8 / 2000 for s in ("base", "rules") for r in (0, 1)}
    table = bor.measures_table(model, scales, "2025-10")
    summary = bor.national_summary(table, ["base", "rules"], {}, "base", "2025-10")
    blocks = bor.national_blocks(summary, ["base", "rules"], "base", scales, "2025-10")
    assert blocks[0] == ("h", 2, "Borrowers in national terms")
    assert "50,000 real ones" in blocks[1][1]
    tables = [b for b in blocks if b[0] == "table"]
    assert len(tables) == 4 and tables[1][1] == ["measure", "rules"]
