"""Borrower-side outcomes in national terms: borrowers served and excluded, licensed volume and balances, an
approximate interest-and-fee bill, and served share and APR paid by segment, with paired changes against a
reference scenario.

Scale. Each modelled borrower stands for ``run.population / run.borrowers`` real ones (model/params.py); so do
the model table's yuan amounts (institutions' amounts scale with the number of modelled borrowers). Every count
and amount here is multiplied by that factor, read per run from the store's design (:func:`run_scales`).

Windows (``when``): :data:`WINDOW` is the 12 months from the rules' start (e.g. 2025-10..2026-09): borrower
counts and stocks are means per month over the window, flows (licensed volume, shadow volume, interest and
fees) are totals over the window; ``horizon`` is the last month (stocks at its end, flows in that month).

Measures (metric names of summary.csv; values in real borrowers and real yuan):

* ``nat_applicants``, ``nat_served``, ``nat_excluded``: borrowers seeking licensed credit in a month, and of
  them those who got a licensed loan, ``applicants × (1 − rationed_share)``, and those who got none,
  ``applicants × rationed_share`` (so served + excluded = applicants);
* ``nat_indebted``: borrowers with a licensed loan; ``nat_shadow_borrowers``: borrowers with a live shadow loan;
* ``nat_licensed_volume``: ``origination_volume``; ``nat_outstanding_balance``; ``nat_shadow_volume``;
* ``nat_interest_fees``: an *approximation* of the interest and fees borrowers pay on licensed loans,
  ``outstanding_balance × avg_apr_new / 12`` per month: the balance priced at the all-in APR of that month's new
  loans (the model table records no APR of the stock, so a book written before a cap is priced at the new rate);
* ``nat_served_share_<segment>``, ``nat_apr_paid_<segment>``, ``nat_shadow_share_<segment>``: the model
  table's shares and rates by segment (means over the window's months). Counts by segment are not available:
  the model table does not record how many borrowers of each segment sought credit.

Pure functions of model tables; the report's section and figure are drawn in :mod:`experiments.analysis.report`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis.stats import mean_interval, paired_difference
from model.calendar import add_months

#: ``when`` of the rows over the 12 months from the rules' start.
WINDOW = "rules+12m"
WINDOW_MONTHS = 12
SEGMENTS = ("prime", "near_prime", "subprime")
#: Metric -> (label, kind): kind ``count`` (borrowers), ``yuan``, ``share`` or ``rate`` (1/yr).
METRICS: dict[str, tuple[str, str]] = {
    "nat_applicants": ("borrowers seeking licensed credit, per month", "count"),
    "nat_served": ("borrowers served (got a licensed loan), per month", "count"),
    "nat_excluded": ("borrowers excluded (rationed: no licensed loan), per month", "count"),
    "nat_indebted": ("borrowers with a licensed loan", "count"),
    "nat_shadow_borrowers": ("borrowers with a live shadow loan", "count"),
    "nat_licensed_volume": ("licensed lending (new loans)", "yuan_flow"),
    "nat_outstanding_balance": ("licensed outstanding balance", "yuan"),
    "nat_interest_fees": ("interest and fees paid, approx. (balance × APR of new loans / 12)", "yuan_flow"),
    "nat_shadow_volume": ("shadow lending (new loans)", "yuan_flow"),
    **{f"nat_{col}_{s}": (f"{s.replace('_', '-')}: {label}", kind)
       for s in SEGMENTS
       for col, label, kind in (("served_share", "share of seekers served", "share"),
                                ("apr_paid", "APR paid on new licensed loans", "share"),
                                ("shadow_share", "share with a live shadow loan", "share"))},
}
#: Flows: totals over the window (the rest are means over its months).
FLOWS = frozenset(m for m, (_, kind) in METRICS.items() if kind == "yuan_flow")
SUMMARY_COLUMNS = ["series", "scenario", "when", "date", "metric", "runs", "mean", "sd", "low", "high", "reference",
                   "pairs", "diff_mean", "diff_low", "diff_high", "window_start", "window_basis", "reached"]


def national_scale(population: float, borrowers: float) -> float:
    """Real borrowers (and yuan) per modelled one: ``population / borrowers``; NaN without borrowers."""
    return float(population) / float(borrowers) if borrowers and borrowers > 0 else math.nan


def run_scales(design: Mapping[str, Any], runs: pd.DataFrame | None = None,
               default_population: float | None = None) -> dict[str, float]:
    """Run id -> scale factor, from the store's design (each run's resolved ``run.population`` and
    ``run.borrowers``); runs the design does not resolve fall back to ``runs.parquet``'s ``borrowers`` and the
    schema's default population (``default_population``, else :class:`model.params.RunParams`)."""
    if default_population is None:
        from model.params import RunParams

        default_population = RunParams().population
    trees = design.get("params") if isinstance(design.get("params"), Mapping) else {}
    out: dict[str, float] = {}
    for run in design.get("runs") or []:
        if not isinstance(run, Mapping) or "run_id" not in run:
            continue
        tree = trees.get(run.get("params"), {}) if isinstance(trees, Mapping) else {}
        section = tree.get("run", {}) if isinstance(tree, Mapping) else {}
        population = section.get("population", default_population)
        borrowers = section.get("borrowers", run.get("borrowers"))
        out[str(run["run_id"])] = national_scale(population, borrowers) if borrowers else math.nan
    if runs is not None and not runs.empty and {"run_id", "borrowers"} <= set(runs.columns):
        for run_id, borrowers in zip(runs["run_id"], runs["borrowers"], strict=True):
            if str(run_id) not in out or math.isnan(out[str(run_id)]):
                out[str(run_id)] = national_scale(default_population, borrowers)
    return out


def _monthly(rows: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Per month, every measure in real units (flows per month, stocks at the month's end)."""
    applicants = rows["applicants"].astype(float) * scale
    rationed = rows["rationed_share"].astype(float)
    out = pd.DataFrame({
        "nat_applicants": applicants,
        "nat_served": applicants * (1.0 - rationed),
        "nat_excluded": applicants * rationed,
        "nat_indebted": rows["indebted_borrowers"].astype(float) * scale,
        "nat_shadow_borrowers": rows["shadow_borrowers"].astype(float) * scale,
        "nat_licensed_volume": rows["origination_volume"].astype(float) * scale,
        "nat_outstanding_balance": rows["outstanding_balance"].astype(float) * scale,
        "nat_interest_fees": rows["outstanding_balance"].astype(float) * rows["avg_apr_new"].astype(float) / 12.0
        * scale,
        "nat_shadow_volume": rows["shadow_volume"].astype(float) * scale,
    }, index=rows.index)
    for s in SEGMENTS:
        out[f"nat_served_share_{s}"] = rows[f"served_share_{s}"].astype(float)
        # 0 means "no new loans to this segment", not a free loan: left out of the mean.
        out[f"nat_apr_paid_{s}"] = rows[f"apr_paid_{s}"].astype(float).where(rows[f"apr_paid_{s}"] > 0)
        out[f"nat_shadow_share_{s}"] = rows[f"shadow_share_{s}"].astype(float)
    return out


def run_measures(run: pd.DataFrame, scale: float, start: str,
                 months: int = WINDOW_MONTHS) -> dict[str, dict[str, float]]:
    """One run's measures: ``{WINDOW: {metric: value}, "horizon": {metric: value}}`` (module docstring).

    Args:
        run: the run's model-table rows (any order).
        scale: real borrowers per modelled one (:func:`national_scale`).
        start: first month of the window (``YYYY-MM``).
        months: the window's length.
    """
    run = run.sort_values("step")
    monthly = _monthly(run, scale)
    end = add_months(start, months - 1)
    inside = (run["date"] >= start) & (run["date"] <= end)
    window = monthly[inside]
    out: dict[str, dict[str, float]] = {WINDOW: {}, "horizon": {}}
    for metric in METRICS:
        col = window[metric]
        if col.empty:
            out[WINDOW][metric] = math.nan
        elif metric in FLOWS:
            out[WINDOW][metric] = float(col.sum())
        else:
            out[WINDOW][metric] = float(col.mean()) if col.notna().any() else math.nan
        out["horizon"][metric] = float(monthly[metric].iloc[-1]) if len(monthly) else math.nan
    return out


def measures_table(model: pd.DataFrame, scales: Mapping[str, float], start: str,
                   months: int = WINDOW_MONTHS) -> pd.DataFrame:
    """Long table ``series, replicate, run_id, when, date, metric, value`` of every run's measures."""
    rows = []
    for run_id, run in model.groupby("run_id", sort=False):
        scale = scales.get(str(run_id), math.nan)
        dates = sorted(run["date"])
        covered = [d for d in dates if start <= d <= add_months(start, months - 1)]
        span = {WINDOW: f"{covered[0]}..{covered[-1]}" if covered else "",
                "horizon": dates[-1] if dates else ""}
        for when, values in run_measures(run, scale, start, months).items():
            for metric, value in values.items():
                rows.append({"series": run["series"].iloc[0], "replicate": int(run["replicate"].iloc[0]),
                             "run_id": str(run_id), "when": when, "date": span[when], "metric": metric,
                             "value": value})
    return pd.DataFrame(rows, columns=["series", "replicate", "run_id", "when", "date", "metric", "value"])


def national_summary(table: pd.DataFrame, series: Sequence[str], series_scenario: Mapping[str, str],
                     ref_series: str | None, start: str) -> pd.DataFrame:
    """Rows of summary.csv (:data:`SUMMARY_COLUMNS`) from :func:`measures_table`: per series, ``when`` and
    metric, the mean over replicates with its 95% interval, and the paired difference from ``ref_series``."""
    rows = []
    for when in (WINDOW, "horizon"):
        sub = table[table["when"] == when]
        ref = sub[sub["series"] == ref_series] if ref_series else sub.iloc[0:0]
        for name in series:
            mine = sub[sub["series"] == name]
            if mine.empty:
                continue
            dates = sorted(set(mine["date"]))
            for metric in METRICS:
                vals = mine[mine["metric"] == metric].set_index("replicate")["value"]
                n, mean, sd, low, high = mean_interval(vals.to_numpy(dtype=float))
                row = {"series": name, "scenario": series_scenario.get(name, name), "when": when,
                       "date": dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}", "metric": metric,
                       "runs": n, "mean": mean, "sd": sd, "low": low, "high": high, "reference": ref_series or "",
                       "pairs": 0, "diff_mean": math.nan, "diff_low": math.nan, "diff_high": math.nan,
                       "window_start": start if when == WINDOW else "", "window_basis": "", "reached": math.nan}
                if ref_series and name != ref_series:
                    base = ref[ref["metric"] == metric].set_index("replicate")["value"]
                    pairs, dmean, dlow, dhigh = paired_difference(vals, base)
                    row.update(pairs=pairs, diff_mean=dmean, diff_low=dlow, diff_high=dhigh)
                rows.append(row)
    return clip_intervals(pd.DataFrame(rows, columns=SUMMARY_COLUMNS))


def clip_intervals(summary: pd.DataFrame) -> pd.DataFrame:
    """Clip intervals to the valid range: levels from 0 (and to 1 for shares and rates), changes of shares and
    rates to [-1, 1]."""
    out = summary.copy()
    share = out["metric"].map(lambda m: METRICS.get(m, ("", ""))[1] == "share")
    out["low"] = out["low"].clip(lower=0.0)
    out.loc[share, "high"] = out.loc[share, "high"].clip(upper=1.0)
    out.loc[share, "diff_low"] = out.loc[share, "diff_low"].clip(lower=-1.0)
    out.loc[share, "diff_high"] = out.loc[share, "diff_high"].clip(upper=1.0)
    return out


def segment_changes(table: pd.DataFrame, series: Sequence[str], ref_series: str | None,
                    when: str = WINDOW) -> pd.DataFrame:
    """By segment, served share and APR paid per series (mean [95% interval] over replicates) and, against
    ``ref_series``, their paired change: ``series, segment, measure, runs, mean, low, high, pairs, diff_mean,
    diff_low, diff_high`` (measure ``served_share`` or ``apr_paid``)."""
    sub = table[table["when"] == when]
    rows = []
    for name in series:
        for segment in SEGMENTS:
            for measure in ("served_share", "apr_paid"):
                metric = f"nat_{measure}_{segment}"
                vals = sub[(sub["series"] == name) & (sub["metric"] == metric)].set_index("replicate")["value"]
                if vals.empty:
                    continue
                n, mean, _, low, high = mean_interval(vals.to_numpy(dtype=float))
                row = {"series": name, "segment": segment, "measure": measure, "runs": n, "mean": mean, "low": low,
                       "high": high, "pairs": 0, "diff_mean": math.nan, "diff_low": math.nan, "diff_high": math.nan}
                if ref_series and name != ref_series:
                    base = sub[(sub["series"] == ref_series) & (sub["metric"] == metric)].set_index("replicate")
                    pairs, dmean, dlow, dhigh = paired_difference(vals, base["value"])
                    row.update(pairs=pairs, diff_mean=dmean, diff_low=dlow, diff_high=dhigh)
                rows.append(row)
    return pd.DataFrame(rows, columns=["series", "segment", "measure", "runs", "mean", "low", "high", "pairs",
                                       "diff_mean", "diff_low", "diff_high"])


def fmt_national(value: float, kind: str, signed: bool = False) -> str:
    """A value in national units: counts in million borrowers, yuan in billion yuan, shares and rates in percent
    (differences in percentage points)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    sign = "+" if signed else ""
    if kind == "count":
        return f"{value / 1e6:{sign},.2f}M"
    if kind in ("yuan", "yuan_flow"):
        return f"{value / 1e9:{sign},.1f}bn"
    return f"{value * 100:+.2f} pp" if signed else f"{value * 100:.2f}%"


def _cell(row: pd.Series, kind: str, diff: bool) -> str:
    mean, low, high = ((row["diff_mean"], row["diff_low"], row["diff_high"]) if diff
                       else (row["mean"], row["low"], row["high"]))
    text = fmt_national(mean, kind, diff)
    if not (np.isnan(low) or np.isnan(high)):
        text += f" [{fmt_national(low, kind, diff)}, {fmt_national(high, kind, diff)}]"
    return text


def scale_sentence(scales: Mapping[str, float]) -> str:
    """How the sample was scaled: one factor, or the range of factors over runs."""
    values = sorted({round(v, 6) for v in scales.values() if not math.isnan(v)})
    if not values:
        return "No run records its population and borrowers: nothing could be scaled."
    factor = f"{values[0]:,.0f}" if len(values) == 1 else f"{values[0]:,.0f} to {values[-1]:,.0f}"
    return (f"Each modelled borrower stands for {factor} real ones (run.population / run.borrowers); counts "
            "and yuan amounts of the sample are multiplied by that factor. M = million borrowers, bn = billion "
            "yuan; shares and APRs in percent.")


def national_blocks(summary: pd.DataFrame, series: Sequence[str], ref_series: str | None,
                    scales: Mapping[str, float], start: str, months: int = WINDOW_MONTHS) -> list[tuple[Any, ...]]:
    """The report section "Borrowers in national terms": method notes, then per window a table of levels and
    one of paired changes from the reference."""
    sub = summary[summary["metric"].astype(str).str.startswith("nat_")]
    if sub.empty:
        return []
    end = add_months(start, months - 1)
    blocks: list[tuple[Any, ...]] = [
        ("h", 2, "Borrowers in national terms"),
        ("p", scale_sentence(scales)),
        ("p", f"Over the 12 months from the rules' start ({start}..{end}): borrower counts are means per month "
              "(served = applicants × (1 − rationed share), excluded = applicants × rationed share; a borrower who "
              "applies in several months counts in each), balances are means of the month-end stock, and lending "
              "and interest are totals over the 12 months. At the horizon: the last month (flows in that month). "
              "Interest and fees are an approximation: the licensed balance × the all-in APR of that month's new "
              "loans / 12 (the model records no APR of the loan stock). Counts by segment are not available (the "
              "model table does not record how many of each segment sought credit): by segment the section gives "
              "the share of seekers served, the APR paid on new licensed loans (months without such loans left "
              "out) and the share holding a shadow loan."),
    ]
    for when, title in ((WINDOW, f"12 months from the rules ({start}..{end})"), ("horizon", "At the horizon")):
        rows_w = sub[sub["when"] == when]
        if rows_w.empty:
            continue
        names = [s for s in series if s in set(rows_w["series"])]
        blocks.append(("h", 3, f"{title}: levels"))
        table = []
        for metric, (label, kind) in METRICS.items():
            cells = []
            for name in names:
                r = rows_w[(rows_w["series"] == name) & (rows_w["metric"] == metric)]
                cells.append(_cell(r.iloc[0], kind, False) if len(r) else "")
            unit = {"count": " (M)", "yuan": " (bn yuan)",
                    "yuan_flow": " (bn yuan, 12-month total)" if when == WINDOW else " (bn yuan, month)"}
            table.append([f"{label}{unit.get(kind, '')} (`{metric}`)", *cells])
        blocks.append(("table", ["measure", *names], table))
        others = [s for s in names if s != ref_series]
        if ref_series and others:
            blocks.append(("h", 3, f"{title}: change from {ref_series}"))
            blocks.append(("p", f"Scenario minus {ref_series}, paired by replicate, mean [95% interval]; shares "
                                "and APRs in percentage points (pp)."))
            table = []
            for metric, (label, kind) in METRICS.items():
                cells = []
                for name in others:
                    r = rows_w[(rows_w["series"] == name) & (rows_w["metric"] == metric)]
                    cells.append(_cell(r.iloc[0], kind, True) if len(r) and r.iloc[0]["pairs"] > 0 else "n/a")
                table.append([label, *cells])
            blocks.append(("table", ["measure", *others], table))
    return blocks
