"""`zhudai report` and `compare --report`: files, the data behind each figure, summary, HTML, degenerate stores."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis.report import AFTER_RULES_MONTH, SHORT_RUN, write_report
from experiments.analysis.stats import t_quantile
from experiments.cli.main import main
from experiments.engine.batch import run_batch
from experiments.engine.design import Design
from experiments.store.batch_dir import read_store

# Short, fast runs that still cross the 2025-10 rules and reach 2026-09.
OVERRIDES = ("run.start=2025-06", "run.burn_in=0")
MONTHS = 16
BORROWERS = 1500
FIGURES = ("active_platforms_by_tier", "exits_by_tier", "concentration", "funders_whitelists",
           "partners_by_funder_kind", "apr_distribution", "rationing_shadow", "credit_risk",
           "platform_margin_by_tier", "lorenz_platform_volume", "borrowers_by_segment")


def _batch(out: Path, scenarios: tuple[str, ...], replications: int,
           vary: tuple[tuple[str, tuple[object, ...]], ...] = (), mode: str = "grid") -> Path:
    design = Design(scenarios=scenarios, replications=replications, borrowers=BORROWERS, months=MONTHS,
                    overrides=OVERRIDES, root_seed=7, vary=vary, mode=mode)
    outcome = run_batch(design.resolve(), out, workers=1, progress=False)
    assert outcome.status == "complete"
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _batch(tmp_path_factory.mktemp("report") / "batch", ("baseline-2024", "new-rules-2025"), 2)


@pytest.fixture(scope="module")
def report(store: Path) -> Path:
    write_report(store)
    return store / "report"


def _band(x: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(x))
    half = t_quantile(len(x) - 1) * float(np.std(x, ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def test_report_writes_every_file(report: Path) -> None:
    for name in ("report.md", "report.html", "summary.csv"):
        assert (report / name).is_file()
    for name in FIGURES:
        png = report / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert (report / "figures" / f"{name}.csv").is_file(), name
    md = (report / "report.md").read_text(encoding="utf-8")
    for name in FIGURES:
        assert f"](figures/{name}.png)" in md
    assert "difference from baseline-2024" in md
    assert "2025-10: rate cap" in md


def test_report_starts_with_at_a_glance(report: Path) -> None:
    md = (report / "report.md").read_text(encoding="utf-8")
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[0] == "## At a glance" and sections.index("## Outcomes") > 0
    assert "### Scorecard" in md and "> **Caveats**" in md
    page = (report / "report.html").read_text(encoding="utf-8")
    assert page.index("<h2>At a glance</h2>") < page.index("<h2>Outcomes</h2>")
    assert '<div class="box"><h3>Caveats</h3>' in page


def test_title_from_the_design_and_no_temporary_path(store: Path, report: Path) -> None:
    md = (report / "report.md").read_text(encoding="utf-8")
    html = (report / "report.html").read_text(encoding="utf-8")
    title = "Report: baseline-2024, new-rules-2025 (2 replications, 1,500 borrowers, root seed 7)"
    assert md.splitlines()[0] == f"# {title}"
    assert "<title>zhudai report: baseline-2024, new-rules-2025 (2 replications" in html
    for text in (md, html):
        assert str(store) not in text and str(store.parent) not in text
        assert "Batch directory `batch`" in text or "Batch directory <code>batch</code>" in text
    # The rule key names the scenario that carries each rule.
    assert "rate cap 24%, whitelist, no outsourcing [new-rules-2025]" in md


def test_bands_and_intervals_stay_in_the_valid_range(store: Path, report: Path) -> None:
    tables = read_store(store)
    sizes = tables["platforms"].groupby("tier")["platform_id"].nunique()
    bounds = {"head_share": (0, 1), "cr5": (0, 1), "hhi": (0, 10000), "rationed_share": (0, 1),
              "default_rate": (0, 1), "npl_ratio": (0, 1), "multi_lender_share": (0, 1), "spiral_share": (0, 1),
              "shadow_volume": (0, math.inf), "mean_whitelist_size": (0, math.inf),
              "funders_in_platform_lending": (0, tables["funders"]["funder_id"].nunique())}
    for tier, n in sizes.items():
        bounds[f"active_platforms_{tier}"] = bounds[f"platform_exits_{tier}"] = (0, n)
    seen = set()
    for name in ("active_platforms_by_tier", "exits_by_tier", "concentration", "funders_whitelists",
                 "rationing_shadow", "credit_risk", "partners_by_funder_kind"):
        data = pd.read_csv(report / "figures" / f"{name}.csv")
        for metric, rows in data.groupby("metric"):
            lo, hi = bounds.get(metric, (0, math.inf))  # partners per funder kind: from 0
            assert (rows["low"].dropna() >= lo).all() and (rows["high"].dropna() <= hi).all(), (name, metric)
            seen.add(metric)
    assert set(bounds) <= seen
    summary = pd.read_csv(report / "summary.csv")
    for metric, rows in summary.groupby("metric"):
        if metric in bounds:
            lo, hi = bounds[metric]
            assert (rows["low"].dropna() >= lo).all() and (rows["high"].dropna() <= hi).all(), metric
            assert (rows["diff_low"].dropna() >= lo - hi).all() and (rows["diff_high"].dropna() <= hi - lo).all()


def test_time_series_data_equal_store_aggregates(store: Path, report: Path) -> None:
    model = read_store(store)["model"]
    for figure, metrics in (("concentration", ["head_share", "hhi", "cr5"]),
                            ("exits_by_tier", ["platform_exits_head", "platform_exits_waist", "platform_exits_tail"]),
                            ("credit_risk", ["default_rate", "npl_ratio", "multi_lender_share", "spiral_share"]),
                            ("rationing_shadow", ["rationed_share", "shadow_volume"])):
        data = pd.read_csv(report / "figures" / f"{figure}.csv")
        assert set(data["metric"]) == set(metrics)
        for metric in metrics:
            expected = model.groupby(["scenario", "date"])[metric].mean()
            got = data[data["metric"] == metric].set_index(["series", "date"])["mean"]
            got.index.names = ["scenario", "date"]
            pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    # The band of one cell, recomputed by hand and clipped to HHI's range 0-10000.
    data = pd.read_csv(report / "figures" / "concentration.csv")
    row = data[(data["metric"] == "hhi") & (data["series"] == "new-rules-2025") & (data["date"] == "2026-03")].iloc[0]
    x = model[(model["scenario"] == "new-rules-2025") & (model["date"] == "2026-03")]["hhi"].to_numpy()
    _, low, high = _band(x)
    assert row["runs"] == 2
    assert row["low"] == pytest.approx(max(low, 0.0)) and row["high"] == pytest.approx(min(high, 10000.0))


def test_platform_and_funder_figures_equal_store_aggregates(store: Path, report: Path) -> None:
    tables = read_store(store)
    platforms, funders = tables["platforms"], tables["funders"]
    # Margin by tier: sum(profit)/sum(volume) over the tier's platforms and the runs (profit = margin*volume).
    margins = pd.read_csv(report / "figures" / "platform_margin_by_tier.csv")
    sub = platforms[(platforms["scenario"] == "baseline-2024") & (platforms["date"] == "2026-01")
                    & (platforms["tier"] == "head")]
    row = margins[(margins["metric"] == "margin_head") & (margins["series"] == "baseline-2024")
                  & (margins["date"] == "2026-01")].iloc[0]
    assert row["mean"] == pytest.approx((sub["margin"] * sub["volume"]).sum() / sub["volume"].sum())
    assert row["runs"] == 2 and row["low"] <= row["mean"] <= row["high"]
    # Partners per funder kind.
    kinds = pd.read_csv(report / "figures" / "partners_by_funder_kind.csv")
    sub = funders[(funders["scenario"] == "new-rules-2025") & (funders["date"] == "2026-06")
                  & (funders["kind"] == "cfc")]
    row = kinds[(kinds["metric"] == "cfc") & (kinds["series"] == "new-rules-2025") & (kinds["date"] == "2026-06")]
    assert row["mean"].iloc[0] == pytest.approx(sub.groupby("run_id")["partners"].mean().mean())
    # APR distribution: volume-weighted histogram of funder-month apr_new, before/after 2025-10.
    hist = pd.read_csv(report / "figures" / "apr_distribution.csv")
    f = funders[funders["scenario"] == "new-rules-2025"]
    w = f["platform_volume"] + f["direct_volume"]
    after = f[(w > 0) & (f["date"] >= "2025-10")]
    bins = np.append(hist["bin_low"].unique(), hist["bin_high"].max())
    counts, _ = np.histogram(after["apr_new"].clip(bins[0], bins[-1]), bins=bins,
                             weights=after["platform_volume"] + after["direct_volume"])
    got = hist[(hist["series"] == "new-rules-2025") & (hist["period"] == "after")]["volume_share"].to_numpy()
    np.testing.assert_allclose(got, counts / counts.sum())
    assert set(hist["period"]) == {"before", "after"}
    # Borrowers by segment: change from the reference over the 12 months from the rules' start, paired by
    # replicate (each run's mean over the window's months).
    seg = pd.read_csv(report / "figures" / "borrowers_by_segment.csv")
    model = tables["model"]
    window = model[(model["date"] >= "2025-10") & (model["date"] <= "2026-09")]
    per_run = window.groupby(["scenario", "replicate"])["served_share_subprime"].mean()
    diffs = (per_run["new-rules-2025"] - per_run["baseline-2024"]).to_numpy()
    row = seg[(seg["series"] == "new-rules-2025") & (seg["segment"] == "subprime")
              & (seg["measure"] == "served_share")].iloc[0]
    assert row["diff_mean"] == pytest.approx(diffs.mean())
    assert (row["diff_low"], row["diff_high"]) == pytest.approx(_band(diffs)[1:])
    assert set(seg["segment"]) == {"prime", "near_prime", "subprime"}
    assert set(seg["measure"]) == {"served_share", "apr_paid"}
    # Lorenz: ends at (1, 1); Gini of the last month from every platform of the runs, pooled (exited ones at 0).
    lor = pd.read_csv(report / "figures" / "lorenz_platform_volume.csv")
    last = lor[(lor["series"] == "baseline-2024") & (lor["month"] == "last")]
    assert last["population_share"].iloc[-1] == pytest.approx(1.0)
    assert last["volume_share"].iloc[-1] == pytest.approx(1.0)
    vols = np.sort(platforms[(platforms["scenario"] == "baseline-2024")
                             & (platforms["date"] == last["date"].iloc[0])]["volume"].to_numpy(dtype=float))
    assert len(vols) == 2 * platforms["platform_id"].nunique()
    n = len(vols)
    gini = (2 * np.sum(np.arange(1, n + 1) * vols) / (n * vols.sum())) - (n + 1) / n
    assert last["gini"].iloc[0] == pytest.approx(gini)


def test_summary_levels_and_paired_differences(store: Path, report: Path) -> None:
    model = read_store(store)["model"]
    summary = pd.read_csv(report / "summary.csv")
    conc = summary["metric"].str.startswith("conc_")
    nat = summary["metric"].str.startswith("nat_")
    assert set(summary.loc[~conc & ~nat, "when"]) == {"horizon", AFTER_RULES_MONTH, SHORT_RUN}
    assert set(summary.loc[conc, "when"]) == {"2025-10", AFTER_RULES_MONTH, "horizon"}
    last = model[model["date"] == model["date"].max()]
    row = summary[(summary["when"] == "horizon") & (summary["scenario"] == "new-rules-2025")
                  & (summary["metric"] == "rationed_share")].iloc[0]
    mine = last[last["scenario"] == "new-rules-2025"].set_index("replicate")["rationed_share"]
    ref = last[last["scenario"] == "baseline-2024"].set_index("replicate")["rationed_share"]
    assert row["mean"] == pytest.approx(mine.mean())
    mean, low, high = _band((mine - ref).to_numpy())
    assert row["pairs"] == 2
    # A difference of two shares lies in [-1, 1]; the interval is clipped to it.
    assert (row["diff_mean"], row["diff_low"], row["diff_high"]) == pytest.approx((mean, max(low, -1.0),
                                                                                   min(high, 1.0)))
    ref_row = summary[(summary["scenario"] == "baseline-2024") & (summary["metric"] == "rationed_share")].iloc[0]
    assert math.isnan(ref_row["diff_mean"])


def test_short_run_and_speed_equal_store_aggregates(store: Path, report: Path) -> None:
    model = read_store(store)["model"].sort_values("date")
    summary = pd.read_csv(report / "summary.csv", keep_default_na=False, na_values=[""])
    short = summary[summary["when"] == SHORT_RUN]

    def row(scenario: str, metric: str) -> pd.Series:
        return short[(short["scenario"] == scenario) & (short["metric"] == metric)].iloc[0]

    def per_replicate(scenario: str, f) -> pd.Series:
        return model[model["scenario"] == scenario].groupby("replicate").apply(f, include_groups=False)

    # new-rules-2025's rules are announced in 2025-04 and take effect in 2025-10; baseline-2024 has none and is
    # measured over new-rules-2025's windows.
    r = row("new-rules-2025", "defaults_12m_in_effect")
    assert (r["window_start"], r["window_basis"], r["date"]) == ("2025-10", "takes effect", "2025-10..2026-09")
    assert row("new-rules-2025", "defaults_12m")["window_basis"] == "announced"
    assert row("baseline-2024", "defaults_12m")["window_start"] == "2025-04"

    def cum(g: pd.DataFrame) -> float:
        w = g[(g["date"] >= "2025-10") & (g["date"] <= "2026-09")]
        return float((w["default_rate"] * w["indebted_borrowers"]).sum())

    mine, ref = per_replicate("new-rules-2025", cum), per_replicate("baseline-2024", cum)
    assert r["mean"] == pytest.approx(mine.mean())
    mean, low, high = _band((mine - ref).to_numpy())
    assert r["pairs"] == 2 and (r["diff_mean"], r["diff_low"], r["diff_high"]) == pytest.approx((mean, low, high))
    peak = per_replicate("new-rules-2025", lambda g: g.loc[g["date"] >= "2025-10", "default_rate"].max())
    assert row("new-rules-2025", "default_rate_peak_12m_in_effect")["mean"] == pytest.approx(peak.mean())
    # The runs start in 2025-06, after the announcement: every recorded exit is an exit from the rule date.
    last = model[model["date"] == model["date"].max()]
    for scenario in ("baseline-2024", "new-rules-2025"):
        exits = last[last["scenario"] == scenario]["platform_exits_tail"]
        assert row(scenario, "platform_exits_tail_since_rule")["mean"] == pytest.approx(exits.mean())
    # Months to a threshold: the mean over the replicates that reach it, and how many do.
    r = row("new-rules-2025", "months_to_head_share_0.90")
    reach = per_replicate("new-rules-2025", lambda g: g.loc[g["head_share"] >= 0.9, "date"].min())
    months = [12 * (int(d[:4]) - 2025) + int(d[5:]) - 4 for d in reach.dropna()]
    assert r["reached"] == len(months) and r["runs"] == 2
    assert (math.isnan(r["mean"]) if not months else r["mean"] == pytest.approx(np.mean(months)))
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "## Short run and speed" in md and "### Short run and speed: difference from baseline-2024" in md
    assert "| window: 12 months from the first rule date | 2025-04..2026-03 (no rules; announced in new-rules-2025)" \
        in md
    assert "new-rules-2025: the runs cover 10 of the 12 months from 2025-04." in md


def test_concentration_over_every_platform_of_the_first_month(store: Path, report: Path) -> None:
    from experiments.analysis.concentration import concentration_table

    tables = read_store(store)
    model, platforms = tables["model"], tables["platforms"]
    # Head share, CR5 and HHI over the start population equal the model table's columns in every run and month.
    conc = concentration_table(platforms)
    merged = model.merge(conc, on=["run_id", "step"], suffixes=("", "_conc"), validate="one_to_one")
    assert len(merged) == len(model)
    for column in ("head_share", "cr5", "hhi"):
        np.testing.assert_allclose(merged[f"{column}_conc"], merged[column], rtol=1e-12, atol=1e-9)
    assert (conc["platforms"] == platforms.groupby("run_id")["platform_id"].nunique().max()).all()
    # summary.csv: the four measures at the rule date, 12 months after and the horizon; the Gini counts every
    # platform (exited ones at zero volume), per run, then the mean over replications.
    summary = pd.read_csv(report / "summary.csv")
    last = platforms[platforms["step"] == platforms.groupby("run_id")["step"].transform("max")]
    ginis = []
    for _, run in last[last["scenario"] == "new-rules-2025"].groupby("run_id"):
        v = run["volume"].to_numpy(dtype=float)
        ginis.append(np.abs(v[:, None] - v[None, :]).sum() / (2 * len(v) ** 2 * v.mean()))
    row = summary[(summary["metric"] == "conc_gini") & (summary["when"] == "horizon")
                  & (summary["scenario"] == "new-rules-2025")].iloc[0]
    assert row["mean"] == pytest.approx(np.mean(ginis)) and row["pairs"] == 2
    for when in ("2025-10", AFTER_RULES_MONTH, "horizon"):
        at = summary[summary["when"] == when]
        assert set(at.loc[at["metric"].str.startswith("conc_"), "metric"]) == {"conc_head_share", "conc_cr5",
                                                                                 "conc_hhi", "conc_gini"}
    for measure in ("head_share", "cr5", "hhi"):
        ours = summary[summary["metric"] == f"conc_{measure}"].set_index(["series", "when"])[["mean", "diff_mean"]]
        model_rows = summary[summary["metric"] == measure].set_index(["series", "when"])[["mean", "diff_mean"]]
        pd.testing.assert_frame_equal(ours.loc[model_rows.index], model_rows, check_exact=False, rtol=1e-12)
    md = (report / "report.md").read_text(encoding="utf-8")
    section = md.split("## Concentration")[1].split("\n## ")[0]
    assert "every platform of the run's first month" in section and "rule date (2025-10)" in section
    assert "| measure | when | baseline-2024 | new-rules-2025 |" in section
    assert "| measure | when | new-rules-2025 |" in section


def test_html_is_self_contained(report: Path) -> None:
    text = (report / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.IGNORECASE)
    assert "<link" not in text and "<script" not in text
    images = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(images) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<style>" in text


def _drop_columns(directory: Path, dataset: str, columns: list[str]) -> None:
    import pyarrow.parquet as pq

    for path in (directory / dataset).glob("run_id=*/part-0.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns([c for c in columns if c in table.column_names]), path)


def test_failed_runs_and_missing_columns(store: Path, tmp_path: Path) -> None:
    from experiments.store.batch_dir import write_partition

    copy = tmp_path / "store"
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns("report"))
    runs = read_store(copy)["runs"]
    failed = runs.iloc[[0]].copy()
    failed["run_id"], failed["status"], failed["error"] = "deadbeef0001", "failed", "RuntimeError: boom"
    write_partition(failed, copy / "runs.parquet" / "run_id=deadbeef0001" / "part-0.parquet")
    _drop_columns(copy, "model.parquet", ["spiral_share", "platform_exits_head"])
    _drop_columns(copy, "funders.parquet", ["apr_new"])
    result = write_report(copy)
    md = (copy / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Failed runs" in md and "deadbeef0001" in md and "boom" in md
    assert "1 run(s) failed and are excluded" in md
    skipped = {f.name for f in result.figures if f.skipped}
    assert skipped == {"exits_by_tier", "credit_risk", "apr_distribution"}
    assert "skipped: the model table lacks spiral_share" in md
    assert "skipped: the funders table lacks apr_new" in md
    assert not (copy / "report" / "figures" / "credit_risk.png").exists()
    assert (copy / "report" / "figures" / "concentration.png").exists()


def test_one_replication_and_one_scenario(tmp_path: Path) -> None:
    out = _batch(tmp_path / "one", ("new-rules-2025",), 1)
    result = write_report(out)
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "Only one replication per scenario" in md
    assert "Only one scenario in the store: no differences" in md
    assert "difference from" not in md
    data = pd.read_csv(out / "report" / "figures" / "concentration.csv")
    assert (data["runs"] == 1).all() and data["low"].isna().all()
    summary = pd.read_csv(result.summary)
    assert summary["diff_mean"].isna().all() and summary["low"].isna().all()


def test_cli_report_errors_exit_2(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert main(["report", str(store), "--reference", "no-such-scenario", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and "holds no batch results" in err and "not in the store" in err
    assert "Traceback" not in err


def test_compare_report_in_one_go(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    argv = ["compare", "baseline-2024", "cap-only", "--replications", "1", "--borrowers", "1000", "--months", "3",
            "--out", str(out), "--workers", "1", "--quiet", "--report"]
    assert main(argv) == 0
    assert (out / "report" / "report.html").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "do not reach 2026-09" in md


def test_report_of_a_single_run_directory_equals_a_one_replicate_batch(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    batch = _batch(tmp_path / "batch", ("new-rules-2025",), 1)
    seed = Design(scenarios=("new-rules-2025",), replications=1, root_seed=7).seeds()[0]
    single = tmp_path / "single"
    sets = [arg for override in OVERRIDES for arg in ("--set", override)]
    assert main(["run", "new-rules-2025", "--seed", str(seed), "--borrowers", str(BORROWERS), "--months",
                 str(MONTHS), *sets, "--quiet", "--out", str(single)]) == 0
    assert main(["report", str(single)]) == 0
    assert "wrote report to" in capsys.readouterr().out
    write_report(batch)
    got, expected = single / "report", batch / "report"
    pd.testing.assert_frame_equal(pd.read_csv(got / "summary.csv"), pd.read_csv(expected / "summary.csv"))
    for name in FIGURES:
        pd.testing.assert_frame_equal(pd.read_csv(got / "figures" / f"{name}.csv"),
                                      pd.read_csv(expected / "figures" / f"{name}.csv"), obj=name)
    md, batch_md = ((d / "report.md").read_text(encoding="utf-8") for d in (got, expected))
    assert "Only one replication per scenario" in md and pd.read_csv(got / "summary.csv")["low"].isna().all()
    assert md.split("## Notes")[1] == batch_md.split("## Notes")[1]
    assert "Run directory (zhudai run" in md and "Batch directory" in batch_md and "Batch directory" not in md


def test_report_of_a_broken_run_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"step": [1], "date": ["2024-01"]}).to_parquet(run / "model.parquet")
    (run / "manifest.json").write_text("{", encoding="utf-8")
    assert main(["report", str(run)]) == 2
    (run / "manifest.json").write_text('{"scenario": "new-rules-2025"}', encoding="utf-8")
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "cannot read the run (manifest.json is not valid JSON" in err
    assert "manifest.json does not describe a run (no scenario and seed)" in err
    assert "Traceback" not in err and not (run / "report").exists()


def test_borrowers_in_national_terms(store: Path, report: Path) -> None:
    """summary.csv's nat_* rows scale the sample by population / borrowers; served + excluded = applicants."""
    summary = pd.read_csv(report / "summary.csv")
    nat = summary[summary["metric"].str.startswith("nat_")]
    assert set(nat["when"]) == {"rules+12m", "horizon"}
    model = read_store(store)["model"]
    scale = 1e8 / BORROWERS
    last = model.loc[model.groupby("run_id")["step"].idxmax()]
    base = last[last["scenario"] == "baseline-2024"]

    def value(series: str, when: str, metric: str, column: str = "mean") -> float:
        return float(nat[(nat["series"] == series) & (nat["when"] == when) & (nat["metric"] == metric)][column].iloc[0])

    served = base["applicants"] * (1 - base["rationed_share"]) * scale
    assert value("baseline-2024", "horizon", "nat_served") == pytest.approx(served.mean())
    assert value("baseline-2024", "horizon", "nat_outstanding_balance") == pytest.approx(
        (base["outstanding_balance"] * scale).mean())
    for when in ("rules+12m", "horizon"):
        assert value("new-rules-2025", when, "nat_served") + value("new-rules-2025", when, "nat_excluded") == \
            pytest.approx(value("new-rules-2025", when, "nat_applicants"))
    assert value("new-rules-2025", "rules+12m", "nat_excluded", "pairs") == 2
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "## Borrowers in national terms" in md
    assert f"stands for {scale:,.0f} real ones" in md



# ------------------------------------------------------------------------------------------------ sweeps
APR, WL = "policy.rate_cap.apr", "policy.whitelist.enabled"
SWEEP_LABELS = [f"new-rules-2025 · rate_cap.apr={v}" for v in ("0.12", "0.18", "0.24")]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = _batch(tmp_path_factory.mktemp("sweep") / "batch", ("new-rules-2025",), 2, ((APR, (0.12, 0.18, 0.24)),))
    write_report(out)
    return out


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = _batch(tmp_path_factory.mktemp("grid") / "batch", ("baseline-2024", "new-rules-2025"), 2,
                 ((APR, (0.12, 0.24)), (WL, (True, False))))
    write_report(out)
    return out


def test_a_sweeps_report_labels_every_point_by_its_swept_value(sweep: Path) -> None:
    md = (sweep / "report" / "report.md").read_text(encoding="utf-8")
    page = (sweep / "report" / "report.html").read_text(encoding="utf-8")
    assert "[point" not in md and "[point" not in page
    # The outcome tables' columns, the scorecard's rows and the figures' data all carry the label.
    header = next(line for line in md.splitlines() if line.startswith("| outcome |"))
    assert header.split(" | ")[1:] == [*SWEEP_LABELS[:2], SWEEP_LABELS[2] + " |"]
    assert all(f"| {label} |" in md for label in SWEEP_LABELS)  # scorecard rows
    assert "Sweep of `policy.rate_cap.apr` = 0.12, 0.18, 0.24" in md and "rate_cap.apr = policy.rate_cap.apr" in md
    assert "1 scenario(s) × 3 sweep point(s) = 3 series" in md
    for name in ("concentration", "borrowers_by_segment", "apr_distribution"):
        series = pd.read_csv(sweep / "report" / "figures" / f"{name}.csv")["series"]
        assert list(dict.fromkeys(series)) == SWEEP_LABELS, name
    # The rule key names the cap of each point by its swept value.
    assert "rate cap 12% [rate_cap.apr=0.12]" in md and "rate cap 24% [rate_cap.apr=0.24]" in md


def test_a_sweeps_figure_draws_outcomes_against_the_lever(sweep: Path) -> None:
    figures = sweep / "report" / "figures"
    assert (figures / "sweep_policy_rate_cap_apr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (sweep / "report" / "report.md").read_text(encoding="utf-8")
    assert "](figures/sweep_policy_rate_cap_apr.png)" in md
    assert "12 months from the rules' start (2025-10..2026-09)" in md
    assert "no reference level is drawn" in md
    # Its data: each run's mean over the window, then mean and 95% interval over replicates.
    data = pd.read_csv(figures / "sweep_policy_rate_cap_apr.csv")
    assert sorted(data[APR].unique()) == [0.12, 0.18, 0.24] and set(data["window"]) == {"2025-10..2026-09"}
    model = read_store(sweep)["model"]
    window = model[(model["date"] >= "2025-10") & (model["date"] <= "2026-09")]
    for apr in (0.12, 0.24):
        runs = window[window[APR] == apr].groupby("replicate")["default_rate"].mean().to_numpy()
        row = data[(data[APR] == apr) & (data["metric"] == "default_rate")].iloc[0]
        mean, low, high = _band(runs)
        assert row["series"] == f"new-rules-2025 · rate_cap.apr={apr}" and row["runs"] == 2
        assert (row["mean"], row["low"], row["high"]) == pytest.approx((mean, max(low, 0.0), min(high, 1.0)))


def test_report_summary_has_the_batch_summarys_columns(sweep: Path, store: Path, report: Path) -> None:
    for directory in (sweep, store):
        batch = pd.read_csv(directory / "summary.csv")
        mine = pd.read_csv(directory / "report" / "summary.csv")
        assert list(mine.columns) == list(batch.columns), directory.name
    batch = pd.read_csv(sweep / "summary.csv")
    mine = pd.read_csv(sweep / "report" / "summary.csv")
    assert list(mine.columns)[:4] == ["series", "scenario", "point", APR]
    # Each row's swept value is its series' value, in both files, and the horizon levels agree.
    for table in (batch, mine):
        assert (table["series"] == "new-rules-2025 · rate_cap.apr=" + table[APR].map("{:g}".format)).all()
        assert (table["point"] == table[APR].map({0.12: 0, 0.18: 1, 0.24: 2})).all()
    key = ["series", "metric"]
    both = batch.merge(mine[mine["when"] == "horizon"], on=key, suffixes=("_batch", "_report"))
    assert len(both) >= 3 * 8 and (both["unit_batch"] == both["unit_report"]).all()
    assert np.allclose(both["mean_batch"], both["mean_report"])


def test_a_two_key_grid_sweep(grid: Path) -> None:
    report = grid / "report"
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "[point" not in md
    assert "(grid: every combination)" in md and "whitelist.enabled = policy.whitelist.enabled" in md
    label = "new-rules-2025 · rate_cap.apr=0.12, whitelist.enabled=false"
    assert label in next(line for line in md.splitlines() if line.startswith("| outcome |"))
    # The whitelist is on wherever whitelist.enabled=true, in both scenarios: the key says so briefly.
    assert "whitelist [whitelist.enabled=true]" in md
    for lever in ("policy_rate_cap_apr", "policy_whitelist_enabled"):
        assert f"](figures/sweep_{lever}.png)" in md and (report / "figures" / f"sweep_{lever}.png").is_file()
        data = pd.read_csv(report / "figures" / f"sweep_{lever}.csv")
        assert {APR, WL} <= set(data.columns) and data["series"].nunique() == 8
    assert "One line per scenario and value of policy.whitelist.enabled (grid sweep)" in md
    assert "Dashed: baseline-2024, the reference scenario" in md
    summary = pd.read_csv(report / "summary.csv")
    assert list(summary.columns) == list(pd.read_csv(grid / "summary.csv").columns)
    assert list(summary.columns)[:5] == ["series", "scenario", "point", APR, WL]
    row = summary[summary["series"] == label].iloc[0]
    assert (row[APR], bool(row[WL]), row["scenario"]) == (0.12, False, "new-rules-2025")
    assert set(summary["reference"].dropna()) == {"baseline-2024 · rate_cap.apr=0.12, whitelist.enabled=true"}


def test_sweep_report_in_one_go_notes_a_window_the_runs_do_not_reach(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    argv = ["sweep", "new-rules-2025", "--vary", f"{APR}=0.12,0.24", "--replications", "1", "--borrowers", "1000",
            "--months", "3", "--out", str(out), "--workers", "1", "--quiet", "--report"]
    assert main(argv) == 0
    md = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "new-rules-2025 · rate_cap.apr=0.24" in md and "[point" not in md
    # Three months from the default start end long before the rules: no point to draw, and the report says so.
    assert "Figure 'Outcomes against policy.rate_cap.apr' skipped: no run covers a month of the window" in md
    assert not (out / "report" / "figures" / "sweep_policy_rate_cap_apr.png").exists()
    assert list(pd.read_csv(out / "report" / "summary.csv").columns) == list(pd.read_csv(out / "summary.csv").columns)
