"""Reports of a batch results store: figures, an outcome table with paired differences, Markdown and HTML.

``zhudai report DIR`` (or ``zhudai compare ... --report``) reads a batch directory with
:func:`experiments.store.batch_dir.read_store` and writes into ``DIR/report`` (or ``--out``)::

    report.md              the report: store, notes, outcome tables, figures (relative paths)
    report.html            the same report as one self-contained file (figures as base64 data URIs, inline CSS)
    summary.csv            outcomes per scenario at the horizon and at 2026-09, with differences to the reference,
                           the short-run and speed measures from each scenario's first rule date, and the
                           Concentration section's four measures (also at the rule date); the columns of the
                           batch's DIR/summary.csv (:func:`experiments.analysis.summary.summary_table`)
    figures/<name>.png     one figure per question (200 dpi); in a sweep also sweep_<key>.png, the headline
                           outcomes against each swept key (:mod:`experiments.analysis.sweep`)
    figures/<name>.csv     the numbers drawn in that figure

Conventions shared by every figure:

* a *series* is a scenario, in a sweep a scenario at one sweep point, named by its swept values
  (``new-rules-2025 · rate_cap.apr=0.12``, :func:`experiments.engine.design.series_label`) in every table, legend
  and figure; each has one colour from :func:`series_colours`, the same in every figure;
* time series show the mean over replications per month and a 95% band mean ± t(0.975, R-1)·sd/√R (no band
  with one replication), clipped to the metric's valid range (:func:`valid_ranges`: shares 0-1, counts from 0
  to the tier's size, HHI 0-10000); dates are calendar months;
* dashed vertical lines mark the dates on which a rule of the scenarios shown takes effect, lettered; the key
  under each figure says which scenarios carry which rule (:func:`event_key`);
* the reference scenario is drawn on top before the rules; every other scenario is drawn thin, without a band,
  before its or the reference's first rule (announcement included, :func:`first_rule_month`), where paired runs
  match the reference's.

Differences against the reference scenario pair runs by ``replicate`` (common random numbers: replicate i has
the same seed in every scenario): per replicate, outcome minus the reference's outcome, then mean ± t·sd/√n.
Failed runs are listed and excluded; a figure whose columns are missing is skipped with a note.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis import brief
from experiments.analysis import concentration as conc
from experiments.analysis import sweep as sw
from experiments.analysis.stats import mean_interval, paired_difference, t_quantile
from experiments.analysis.summary import (
    HORIZON,
    Range,
    clip_bands,
    difference_ranges,
    level_rows,
    summary_table,
    valid_ranges,
)
from experiments.engine.design import LABEL_SEPARATOR, keys_legend, series_label, short_keys, value_text
from model.calendar import add_months, parse_month
from model.output import TABLES

DEFAULT_REFERENCE = "baseline-2024"
#: The month 12 months after the last dated rule of the shipped scenarios.
AFTER_RULES_MONTH = "2026-09"
DPI = 200
KEY_COLUMNS = ("run_id", "scenario", "replicate", "step", "date")

#: Outcomes of the summary table: (model column, label, kind) where kind picks the number format.
OUTCOMES: tuple[tuple[str, str, str], ...] = (
    ("active_platforms", "active platforms", "count"),
    ("active_platforms_head", "active head platforms", "count"),
    ("active_platforms_tail", "active tail platforms", "count"),
    ("platform_exits", "platform exits (cumulative)", "count"),
    ("head_share", "head share of platform volume", "share"),
    ("hhi", "HHI (0-10000)", "count"),
    ("cr5", "CR5", "share"),
    ("funders_in_platform_lending", "funders in platform lending", "count"),
    ("mean_whitelist_size", "mean whitelist size", "number"),
    ("avg_apr_new", "average APR of new loans", "share"),
    ("rationed_share", "rationed share of applicants", "share"),
    ("shadow_volume", "shadow volume (yuan/month)", "yuan"),
    ("default_rate", "default rate (per month)", "share"),
    ("npl_ratio", "NPL ratio", "share"),
    ("multi_lender_share", "multi-lender share", "share"),
    ("spiral_share", "spiral share", "share"),
    ("platform_margin", "platform margin", "share"),
)

#: Fixed colours of the shipped scenarios; other series take the remaining colours in order of appearance.
SCENARIO_COLOURS: dict[str, str] = {
    "baseline-2024": "#4d4d4d",
    "new-rules-2025": "#1f77b4",
    "full-tightening-2026": "#d62728",
    "cap-20": "#ff7f0e",
    "cap-12": "#9467bd",
    "whitelist-only": "#2ca02c",
    "cap-only": "#8c564b",
    "baseline": "#7f7f7f",
}
_SPARE_COLOURS = ("#17becf", "#e377c2", "#bcbd22", "#1a55ff", "#ff9896", "#98df8a", "#c5b0d5", "#c49c94",
                  "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79")
TIER_COLOURS = {"head": "#1b9e77", "waist": "#d95f02", "tail": "#7570b3"}
KIND_COLOURS = {"bank_state": "#1f77b4", "bank_joint_stock": "#aec7e8", "bank_city": "#ff7f0e",
                "bank_rural": "#ffbb78", "bank_internet": "#2ca02c", "cfc": "#d62728", "microlender": "#9467bd",
                "trust": "#8c564b"}
TIERS = ("head", "waist", "tail")

#: Short labels of the dated policy instruments (key in ``policy``; the date key).
_POLICY_LABELS = {
    "rate_cap": "rate cap", "whitelist": "whitelist", "no_outsourcing": "no outsourcing",
    "stock_cleanup": "clean-up", "balance_mandate": "balance mandate", "balance_freeze": "balance freeze",
    "new_business_ban": "new-business ban", "payment_crackdown": "crackdown", "borrowing_limit": "borrowing limit",
    "guarantee_cap": "guarantee cap",
}


#: A tier's margin is not drawn in a month whose tier volume (pooled over replications) is below this share of the
#: tier's volume in the first month: profit over so little new lending is no margin (such months put the waist
#: and tail panels of the reference report at ±2000-4000%).
MARGIN_MIN_VOLUME_SHARE = 0.05



class ReportError(Exception):
    """The directory holds no results a report can be made of (the CLI exits 2 with this message)."""


# -------------------------------------------------------------------------------------------- data
@dataclass
class ReportData:
    """The store as the report sees it.

    Attributes:
        directory: the batch directory.
        model, platforms, funders: tables of ok runs, with a ``series`` column.
        runs: every recorded run (ok and failed).
        series: series names in display order.
        series_scenario: series name -> scenario.
        colours: series name -> colour.
        notes: messages about what the report could not show.
        design: the store's design from its manifest (``{}`` without one).
        vary: the swept dotted keys, in design order (``[]`` when nothing is swept).
        series_point: series name -> index of its sweep point.
        series_values: series name -> ``{swept key: value}`` of its point.
    """

    directory: Path
    model: pd.DataFrame
    platforms: pd.DataFrame
    funders: pd.DataFrame
    runs: pd.DataFrame
    series: list[str]
    series_scenario: dict[str, str]
    colours: dict[str, str]
    notes: list[str] = field(default_factory=list)
    design: dict[str, Any] = field(default_factory=dict)
    vary: list[str] = field(default_factory=list)
    series_point: dict[str, int] = field(default_factory=dict)
    series_values: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def is_sweep(self) -> bool:
        """Whether the store sweeps a parameter (its series are labelled by the swept values)."""
        return bool(self.vary)

    @property
    def mode(self) -> str:
        """The sweep's mode from the design: ``grid`` (every combination) or ``zip`` (i-th values together)."""
        return "zip" if self.design.get("mode") == "zip" else "grid"

    @functools.cached_property
    def ranges(self) -> dict[str, Range]:
        """Valid range of every model column with a bounded unit, counts of platforms and funders bounded by the
        store's population (:func:`valid_ranges`, :func:`population_ranges`)."""
        return {**valid_ranges("model"), **population_ranges(self.platforms, self.funders)}

    @functools.cached_property
    def policies(self) -> dict[str, dict[str, Any] | None]:
        """Series -> its resolved policy table (:func:`_series_policies`), loaded once."""
        return _series_policies(self)

    @functools.cached_property
    def rules_month(self) -> str:
        """The month the rules take effect: the earliest ``policy.rate_cap.start`` of the scenarios shown
        (:func:`experiments.analysis.rules.rules_start`); the schema's default if none of them loads."""
        from experiments.analysis.rules import rules_start
        from model.config import ConfigError

        months = []
        for scenario in dict.fromkeys(self.series_scenario.values()):
            try:
                months.append(rules_start(scenario, _scenario_overrides(self, scenario)))
            except (ConfigError, OSError):
                continue
        return min(months) if months else rules_start()

    @functools.cached_property
    def concentration(self) -> pd.DataFrame:
        """Head share, CR5, HHI and Gini per run and month over every platform of the first month
        (:func:`experiments.analysis.concentration.concentration_table`); empty without the platforms' volumes."""
        if _needs(self.platforms, "platforms", ["run_id", "step", "date", "platform_id", "tier", "volume"]):
            return pd.DataFrame()
        return conc.concentration_table(self.platforms)

    @functools.cached_property
    def national(self) -> tuple[pd.DataFrame, dict[str, float]]:
        """:func:`national_measures` of the store, computed once (summary.csv, the section and a figure use it)."""
        return national_measures(self)

    @property
    def concentration_whens(self) -> list[tuple[str, str]]:
        """(when, label) of the Concentration section: the rule date, :data:`AFTER_RULES_MONTH`, the horizon."""
        whens = {self.rules_month: "rule date", AFTER_RULES_MONTH: "12 months after the rules", "horizon": "horizon"}
        return list(whens.items())

    @property
    def replications(self) -> int:
        """The fewest ok replications of any series."""
        counts = self.model.groupby("series")["run_id"].nunique()
        return int(counts.min()) if len(counts) else 0


def series_colours(series: Sequence[str], scenarios: dict[str, str] | None = None) -> dict[str, str]:
    """One colour per series: a shipped scenario's fixed colour, else the next spare colour, in order.

    Args:
        series: series names in display order.
        scenarios: series -> scenario; a series of a shipped scenario's only point takes its colour.

    Returns:
        series -> hex colour.
    """
    scenarios = scenarios or {}
    out: dict[str, str] = {}
    used = set()
    for name in series:
        colour = SCENARIO_COLOURS.get(name) or SCENARIO_COLOURS.get(scenarios.get(name, ""))
        if colour and colour not in used:
            out[name] = colour
            used.add(colour)
    spare = [c for c in _SPARE_COLOURS if c not in used]
    for name in series:
        if name not in out:
            out[name] = spare.pop(0) if spare else "#000000"
    return out


def _read_design(directory: Path) -> dict[str, Any]:
    """The design recorded in the store's manifest; {} without a readable one."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    design = manifest.get("design") if isinstance(manifest, dict) else None
    return design if isinstance(design, dict) else {}


def _scenario_order(design: dict[str, Any], found: Sequence[str]) -> list[str]:
    """Scenarios in the order of the design (manifest), then any others in order found."""
    scenarios = design.get("scenarios")
    order = [str(s) for s in scenarios] if isinstance(scenarios, list) else []
    return [s for s in order if s in found] + [s for s in found if s not in order]


def load_report_data(directory: str | os.PathLike[str]) -> ReportData:
    """Read a batch directory, or a single-run directory as a batch of one replicate, for a report.

    Raises:
        ReportError: if the directory does not exist, holds no batch or run, or no run finished ok.
    """
    from experiments.store.batch_dir import read_store
    from experiments.store.run_dir import is_run_directory, read_run_as_store

    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"{directory}: no such directory (expected a batch directory from zhudai compare/sweep/"
                          "batch, or a run directory from zhudai run)")
    if is_run_directory(directory):
        try:
            store = read_run_as_store(directory)
        except (OSError, ValueError) as err:
            raise ReportError(f"{directory}: cannot read the run ({err})") from None
    else:
        store = read_store(directory)
    runs, model = store["runs"], store["model"]
    if runs.empty and model.empty:
        raise ReportError(f"{directory}: holds no batch results (no runs.parquet) and no run (no model.parquet "
                          "and manifest.json); run zhudai compare, sweep, batch or run with --out there first")
    if model.empty:
        failed = 0 if runs.empty else int((runs["status"] != "ok").sum())
        raise ReportError(f"{directory}: no run finished ok ({failed} failed); nothing to report")
    missing = [c for c in KEY_COLUMNS if c not in model.columns]
    if missing:
        raise ReportError(f"{directory}: the model table lacks the key column(s) {', '.join(missing)}")
    if "point" not in model.columns:
        model = model.assign(point=0)
    design = _read_design(directory)
    scenarios = _scenario_order(design, list(dict.fromkeys(model["scenario"])))
    keys = swept_keys(design, model.columns)
    values = point_values(design, model, keys)
    short = short_keys(keys)
    points = model.groupby("scenario")["point"].nunique()

    def name(scenario: str, point: int) -> str:
        if values.get(point):
            return series_label(scenario, values[point], short)
        return scenario if points.get(scenario, 1) <= 1 else f"{scenario} [point {point}]"

    series: list[str] = []
    series_scenario: dict[str, str] = {}
    series_point: dict[str, int] = {}
    for scenario in scenarios:
        for point in sorted(model.loc[model["scenario"] == scenario, "point"].unique()):
            label = name(scenario, int(point))
            series.append(label)
            series_scenario[label] = scenario
            series_point[label] = int(point)
    tables = {}
    for key in TABLES:
        df = store[key] if key != "model" else model
        if not df.empty:
            if "point" not in df.columns:
                df = df.assign(point=0)
            df = df.assign(series=_series_column(df, name))
        tables[key] = df
    return ReportData(directory, tables["model"], tables["platforms"], tables["funders"], runs, series,
                      series_scenario, series_colours(series, series_scenario), design=design, vary=keys,
                      series_point=series_point,
                      series_values={label: dict(values.get(p, ())) for label, p in series_point.items()})


def _series_column(df: pd.DataFrame, name: Callable[[str, int], str]) -> pd.Series:
    """Each row's series label, ``name(scenario, point)``, computed once per distinct pair (a table has
    hundreds of thousands of rows and a few dozen pairs)."""
    keys = df["scenario"].astype(str) + "\x00" + df["point"].astype(int).astype(str)
    pairs = df[["scenario", "point"]].drop_duplicates()
    labels = {f"{s}\x00{int(p)}": name(str(s), int(p)) for s, p in zip(pairs["scenario"], pairs["point"], strict=True)}
    return keys.map(labels).astype(object)


def swept_keys(design: dict[str, Any], columns: Sequence[str]) -> list[str]:
    """The swept dotted keys: the design's ``vary`` (manifest), else the model table's dotted columns (a store
    without a readable manifest; every run's tables carry its sweep values in columns named by the keys)."""
    vary = design.get("vary")
    keys = [str(v[0]) for v in vary if isinstance(v, list | tuple) and v] if isinstance(vary, list) else []
    return keys or [str(c) for c in columns if "." in str(c)]


def point_values(design: dict[str, Any], model: pd.DataFrame, keys: Sequence[str]
                 ) -> dict[int, tuple[tuple[str, Any], ...]]:
    """Sweep point index -> its ``((key, value), ...)`` in key order: from the manifest's ``points`` as typed in
    the design, else read from the model table's columns; ``{}`` when nothing is swept."""
    if not keys:
        return {}
    out: dict[int, tuple[tuple[str, Any], ...]] = {}
    for entry in design.get("points") or []:
        got = entry.get("values") if isinstance(entry, dict) else None
        if isinstance(got, dict) and set(keys) <= set(got) and isinstance(entry.get("point"), int):
            out[entry["point"]] = tuple((key, got[key]) for key in keys)
    present = [k for k in keys if k in model.columns]
    if len(present) == len(keys):
        for point, group in model.groupby("point", sort=True):
            out.setdefault(int(point), tuple((key, group[key].iloc[0]) for key in keys))
    return out


# ------------------------------------------------------------------------------------- valid ranges
def population_ranges(platforms: pd.DataFrame, funders: pd.DataFrame) -> dict[str, Range]:
    """Upper bounds of the model's counts from the store's population: a tier's active platforms and cumulative
    exits lie in [0, platforms of the tier]; funders in platform lending and lenders of a kind in [0, funders (of
    the kind)]. Counts are the largest over runs; a table without the columns gives no bounds.
    """
    out: dict[str, Range] = {}
    if not platforms.empty and {"run_id", "platform_id", "tier"} <= set(platforms.columns):
        per_tier = platforms.groupby(["run_id", "tier"])["platform_id"].nunique().groupby("tier").max()
        for tier, n in per_tier.items():
            out[f"active_platforms_{tier}"] = out[f"platform_exits_{tier}"] = (0.0, float(n))
        total = float(platforms.groupby("run_id")["platform_id"].nunique().max())
        out["active_platforms"] = out["platform_exits"] = (0.0, total)
    if not funders.empty and {"run_id", "funder_id", "kind"} <= set(funders.columns):
        per_kind = funders.groupby(["run_id", "kind"])["funder_id"].nunique().groupby("kind").max()
        for kind, n in per_kind.items():
            out[f"lenders_{kind}"] = (0.0, float(n))
        out["funders_in_platform_lending"] = (0.0, float(funders.groupby("run_id")["funder_id"].nunique().max()))
    return out


# ------------------------------------------------------------------------------------- aggregates
def monthly_bands(per_run: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per series, month and column: mean over runs and 95% band.

    Args:
        per_run: one row per run and month with ``series, run_id, date`` and ``columns``.
        columns: the value columns.

    Returns:
        Long table ``series, date, metric, runs, mean, sd, low, high`` sorted by series order, metric, date.
    """
    rows = []
    for (series, date), group in per_run.groupby(["series", "date"], sort=False):
        for column in columns:
            n, mean, sd, low, high = mean_interval(group[column].to_numpy(dtype=float))
            rows.append({"series": series, "date": date, "metric": column, "runs": n, "mean": mean, "sd": sd,
                         "low": low, "high": high})
    out = pd.DataFrame(rows, columns=["series", "date", "metric", "runs", "mean", "sd", "low", "high"])
    return out.sort_values(["metric", "series", "date"], kind="stable").reset_index(drop=True)


def tier_profit_volume(platforms: pd.DataFrame) -> pd.DataFrame:
    """Profit and new volume of each tier per run and month, summed over the tier's platforms.

    A platform's profit is ``margin × volume`` (the platforms table records margin = profit / volume, and 0 with
    no volume, so a platform without new loans in a month adds nothing to either sum).

    Returns:
        ``series, run_id, date, tier, profit, volume``.
    """
    volume = platforms["volume"].astype(float)
    df = platforms.assign(profit=platforms["margin"].astype(float) * volume, volume=volume)
    return df.groupby(["series", "run_id", "date", "tier"], sort=False)[["profit", "volume"]].sum().reset_index()


def ratio_interval(numerators: np.ndarray, denominators: np.ndarray) -> tuple[int, float, float, float, float]:
    """``(n, ratio, sd, low, high)`` of the pooled ratio sum(numerators) / sum(denominators) over n runs.

    The ratio weights each run by its denominator. Its 95% interval is ratio ± t(0.975, n-1)·sd/√n with sd the
    standard deviation of the linearised residuals (numerator - ratio·denominator) / mean(denominator) (the ratio
    estimator's usual first-order variance). NaN ratio without a positive denominator; no interval with one run.
    """
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    n = len(num)
    total = float(den.sum())
    if n == 0 or not total > 0:
        return n, math.nan, math.nan, math.nan, math.nan
    ratio = float(num.sum()) / total
    if n < 2:
        return n, ratio, math.nan, math.nan, math.nan
    sd = float(np.std((num - ratio * den) / den.mean(), ddof=1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return n, ratio, sd, ratio - half, ratio + half


def tier_margins(platforms: pd.DataFrame, min_volume_share: float = MARGIN_MIN_VOLUME_SHARE) -> pd.DataFrame:
    """Volume-weighted platform margin per tier and month: sum(profit) / sum(volume) over the tier's platforms and
    the replications (:func:`tier_profit_volume`, :func:`ratio_interval`), not a mean of per-platform or per-run
    ratios, so a platform or a run with little volume weighs little.

    A month whose pooled tier volume is below ``min_volume_share`` of the tier's pooled volume in the series'
    first month gets NaN (a ratio over almost no new lending is not a margin).

    Returns:
        ``series, date, metric (margin_<tier>), runs, mean, sd, low, high``.
    """
    sums = tier_profit_volume(platforms)
    first = sums[sums["date"] == sums.groupby("series")["date"].transform("min")]
    base = first.groupby(["series", "tier"])["volume"].sum()
    rows = []
    for (series, date, tier), group in sums.groupby(["series", "date", "tier"], sort=False):
        n, mean, sd, low, high = ratio_interval(group["profit"].to_numpy(), group["volume"].to_numpy())
        if group["volume"].sum() < min_volume_share * base.get((series, tier), 0.0):
            mean = sd = low = high = math.nan
        rows.append({"series": series, "date": date, "metric": f"margin_{tier}", "runs": n, "mean": mean, "sd": sd,
                     "low": low, "high": high})
    out = pd.DataFrame(rows, columns=["series", "date", "metric", "runs", "mean", "sd", "low", "high"])
    return out.sort_values(["metric", "series", "date"], kind="stable").reset_index(drop=True)


def partners_by_kind(funders: pd.DataFrame) -> pd.DataFrame:
    """Mean partners per funder of each kind, per run and month, then mean and band over runs.

    Returns:
        ``series, date, metric (= kind), runs, mean, sd, low, high``.
    """
    per_run = funders.groupby(["series", "run_id", "date", "kind"], sort=False)["partners"].mean().reset_index()
    wide = per_run.pivot_table(index=["series", "run_id", "date"], columns="kind", values="partners",
                               sort=False).reset_index()
    kinds = [k for k in KIND_COLOURS if k in wide.columns] + [
        k for k in wide.columns if k not in KIND_COLOURS and k not in ("series", "run_id", "date")]
    return monthly_bands(wide, kinds)


def apr_histogram(funders: pd.DataFrame, bins: np.ndarray, rules_month: str) -> pd.DataFrame:
    """Distribution of funder-month new-loan APRs, weighted by new volume, before and after the rules.

    Each funder-month with new volume (``platform_volume + direct_volume``) contributes its volume-weighted
    ``apr_new`` with that volume as weight, pooled over replications. ``period`` is ``before`` for months
    before ``rules_month`` (:attr:`ReportData.rules_month`) and ``after`` from it on.

    Returns:
        ``series, period, bin_low, bin_high, volume_share`` (shares sum to 1 per series and period).
    """
    df = funders.assign(_w=funders["platform_volume"].astype(float) + funders["direct_volume"].astype(float))
    df = df[(df["_w"] > 0) & df["apr_new"].notna()]
    df = df.assign(period=np.where(df["date"] < rules_month, "before", "after"))
    rows = []
    for (series, period), group in df.groupby(["series", "period"], sort=False):
        weights, _ = np.histogram(group["apr_new"].clip(bins[0], bins[-1]), bins=bins, weights=group["_w"])
        total = weights.sum()
        for low, high, w in zip(bins[:-1], bins[1:], weights, strict=True):
            rows.append({"series": series, "period": period, "bin_low": float(low), "bin_high": float(high),
                         "volume_share": float(w / total) if total > 0 else 0.0})
    return pd.DataFrame(rows, columns=["series", "period", "bin_low", "bin_high", "volume_share"])


def lorenz(volumes: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Lorenz curve of non-negative volumes: (population share, volume share, Gini), both starting at 0."""
    x = np.sort(np.asarray(volumes, dtype=float))
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), math.nan
    cum = np.concatenate([[0.0], np.cumsum(x) / x.sum()])
    pop = np.arange(n + 1) / n
    gini = float(1.0 - np.sum((cum[1:] + cum[:-1]) / n))
    return pop, cum, gini


def lorenz_table(platforms: pd.DataFrame) -> pd.DataFrame:
    """Lorenz curves of platform volume in the first and the last month, pooled over runs, over the population of
    :data:`experiments.analysis.concentration.POPULATION` (every platform of the first month; an exited one at zero).

    Returns:
        ``series, month (first/last), date, gini, population_share, volume_share``.
    """
    rows = []
    for series, group in platforms.groupby("series", sort=False):
        dates = sorted(group["date"].unique())
        for label, date in (("first", dates[0]), ("last", dates[-1])):
            at = group[(group["date"] == date) & conc.in_start_population(group)]
            pop, cum, gini = lorenz(at["volume"].to_numpy(dtype=float))
            rows += [{"series": series, "month": label, "date": date, "gini": gini, "population_share": p,
                      "volume_share": c} for p, c in zip(pop, cum, strict=True)]
    return pd.DataFrame(rows, columns=["series", "month", "date", "gini", "population_share", "volume_share"])


# ---------------------------------------------------------------------------------------- policy
def _load_policy(scenario: str, overrides: Sequence[str] = ()) -> dict[str, Any] | None:
    """The resolved ``policy`` table of a scenario; None if it cannot load."""
    from model.config import ConfigError, load_scenario

    try:
        policy = load_scenario(scenario, list(overrides)).to_dict()["policy"]
    except (ConfigError, OSError, KeyError):
        return None
    return policy if isinstance(policy, dict) else None


def _is_month(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 7 and value[4] == "-" and (value[:4] + value[5:]).isdigit()


def events_of_policy(policy: dict[str, Any]) -> dict[str, list[str]]:
    """Dates on which the rules of a policy table take effect: ``{YYYY-MM: [short labels]}``, sorted by date.

    The all-in rate cap's label carries its level (``rate cap 24%``), so scenarios that differ only in the cap
    tell apart in the key; the stock clean-up is dated by its deadline.
    """
    events: dict[str, list[str]] = {}

    def add(date: Any, label: str) -> None:
        if _is_month(date) and label not in events.setdefault(date, []):
            events[date].append(label)

    for key, value in policy.items():
        if not isinstance(value, dict):
            continue
        if key == "kind_caps":
            for kind, cap in value.items():
                if isinstance(cap, dict) and cap.get("enabled"):
                    add(cap.get("start"), f"{kind.replace('_', ' ')} cap")
        elif value.get("enabled"):
            label = _POLICY_LABELS.get(key, key.replace("_", " "))
            if key == "new_business_ban" and value.get("regions") == ["east"]:
                label = "eastern ban"
            if key == "rate_cap" and isinstance(value.get("apr"), (int, float)):
                label = f"rate cap {value['apr']:.0%}"
            add(value.get("deadline") if key == "stock_cleanup" else value.get("start"), label)
    return dict(sorted(events.items()))


def first_rule_month(policy: dict[str, Any]) -> str | None:
    """The first month a policy table's rules can change behaviour: the earliest start, deadline or announcement
    of an enabled rule (lenders act on an announced rule before it binds); None without enabled rules."""
    months = []
    rules = [v for k, v in policy.items() if k != "kind_caps" and isinstance(v, dict)]
    kind_caps = policy.get("kind_caps")
    if isinstance(kind_caps, dict):
        rules += [v for v in kind_caps.values() if isinstance(v, dict)]
    for rule in rules:
        if rule.get("enabled"):
            months += [rule.get(k) for k in ("start", "deadline", "announced") if _is_month(rule.get(k))]
    return min(months) if months else None


def policy_events(scenario: str, overrides: Sequence[str] = ()) -> dict[str, list[str]]:
    """Dates on which a rule of the scenario takes effect (:func:`events_of_policy`); {} if it cannot load."""
    policy = _load_policy(scenario, overrides)
    return events_of_policy(policy) if policy is not None else {}


def _scenario_overrides(data: ReportData, scenario: str, point: int | None = None) -> list[str]:
    """The overrides of a scenario's ok runs (of one sweep point when ``point`` is given)."""
    if data.runs.empty or "overrides" not in data.runs.columns:
        return []
    rows = data.runs[(data.runs["scenario"] == scenario) & (data.runs["status"] == "ok")]
    if point is not None and "point" in rows.columns:
        rows = rows[rows["point"] == point]
    if rows.empty:
        return []
    try:
        overrides = json.loads(rows["overrides"].iloc[0])
    except (TypeError, ValueError):
        return []
    return [str(o) for o in overrides] if isinstance(overrides, list) else []


def _series_policies(data: ReportData) -> dict[str, dict[str, Any] | None]:
    """Series -> its resolved policy table (with its sweep point's overrides), None if it cannot load."""
    return {name: _load_policy(data.series_scenario[name], _series_overrides(data, name)) for name in data.series}


def _series_overrides(data: ReportData, name: str) -> list[str]:
    """The overrides of a series' ok runs: its scenario's at its sweep point."""
    return _scenario_overrides(data, data.series_scenario[name], data.series_point.get(name))


def series_events(data: ReportData) -> dict[str, dict[str, list[str]]]:
    """Series -> the dates of its rules (:func:`events_of_policy`); {} for a series without rules."""
    return {name: events_of_policy(policy) if policy is not None else {} for name, policy in data.policies.items()}


EventKey = dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]]


def event_key(events_by_series: dict[str, dict[str, list[str]]]) -> EventKey:
    """Which series carries which rule on each date.

    Args:
        events_by_series: series -> ``{YYYY-MM: [labels]}`` (:func:`series_events`), in display order.

    Returns:
        ``{date: [(labels, series), ...]}`` sorted by date: each date's labels grouped by the exact set of series
        that carry them (series in display order, groups in order of first appearance).
    """
    dates = sorted({date for events in events_by_series.values() for date in events})
    key: EventKey = {}
    for date in dates:
        carriers: dict[str, list[str]] = {}
        for name, events in events_by_series.items():
            for label in events.get(date, []):
                carriers.setdefault(label, []).append(name)
        groups: dict[tuple[str, ...], list[str]] = {}
        for label, names in carriers.items():
            groups.setdefault(tuple(names), []).append(label)
        key[date] = [(tuple(labels), names) for names, labels in groups.items()]
    return key


#: Series -> its attributes ``(("scenario", name), (short key, value text), ...)`` in a sweep (:func:`series_attrs`).
SeriesAttrs = dict[str, tuple[tuple[str, str], ...]]


def series_attrs(data: ReportData) -> SeriesAttrs:
    """Each series' scenario and swept values as text, to name sets of series briefly (:func:`describe_series`);
    ``{}`` when the store is no sweep."""
    if not data.is_sweep:
        return {}
    short = short_keys(data.vary)
    return {name: (("scenario", data.series_scenario[name]),
                   *((short[k], value_text(data.series_values.get(name, {}).get(k))) for k in data.vary))
            for name in data.series}


def describe_series(names: Sequence[str], all_series: Sequence[str], attrs: SeriesAttrs) -> list[str]:
    """A set of a sweep's series as the fewest attributes that pick it out: for each series the most general
    description (fewest of scenario and swept values fixed) whose every series is in the set, e.g.
    ``["new-rules-2025 · rate_cap.apr=0.12", "whitelist.enabled=true"]``; an empty description is ``all
    scenarios``."""
    import itertools

    target = set(names)
    chosen: list[tuple[tuple[str, str], ...]] = []
    groups: dict[tuple[tuple[str, str], ...], set[str]] = {}
    for name in [s for s in all_series if s in target]:
        items = attrs[name]
        for size in range(len(items) + 1):
            combo = next((c for c in itertools.combinations(items, size)
                          if {s for s in all_series if set(c) <= set(attrs[s])} <= target), None)
            if combo is not None:
                if combo not in groups:
                    groups[combo] = {s for s in all_series if set(combo) <= set(attrs[s])}
                    chosen.append(combo)
                break
    kept = [c for c in chosen if not any(groups[c] < groups[o] for o in chosen)]

    def text(combo: tuple[tuple[str, str], ...]) -> str:
        scenario = [v for k, v in combo if k == "scenario"]
        values = ", ".join(f"{k}={v}" for k, v in combo if k != "scenario")
        return LABEL_SEPARATOR.join([*scenario, *([values] if values else [])]) or "all scenarios"

    return [text(c) for c in kept]


def series_set_label(names: Sequence[str], all_series: Sequence[str], attrs: SeriesAttrs | None = None) -> str:
    """A set of series in words: ``all scenarios``; in a sweep (``attrs``) the scenarios and swept values that
    pick it out (:func:`describe_series`); else ``all but X`` (when at most two and fewer than half are left out)
    or the names."""
    left_out = [s for s in all_series if s not in names]
    if not left_out:
        return "all scenarios"
    if attrs and all(s in attrs for s in all_series):
        return "; ".join(describe_series(names, all_series, attrs))
    if len(left_out) <= 2 and len(left_out) < len(names):
        return "all but " + ", ".join(left_out)
    return ", ".join(names)


def event_letters(key: EventKey) -> dict[str, str]:
    """Date -> the letter of its dashed line (A, B, ... in date order)."""
    return {date: _event_letter(i) for i, date in enumerate(key)}


def event_key_items(key: EventKey, all_series: Sequence[str], letters: bool = True,
                    attrs: SeriesAttrs | None = None) -> list[str]:
    """The key as text, one item per date: ``A 2025-10: rate cap 24%, whitelist [new-rules-2025], ...`` (sets of a
    sweep's series named by scenario and swept values, :func:`series_set_label`)."""
    items = []
    for letter, (date, groups) in zip(event_letters(key).values(), key.items(), strict=True):
        text = ", ".join(f"{', '.join(labels)} [{series_set_label(names, all_series, attrs)}]"
                         for labels, names in groups)
        items.append(f"{letter + ' ' if letters else ''}{date}: {text}")
    return items


def first_rule_months(data: ReportData) -> dict[str, str | None]:
    """Series -> :func:`first_rule_month` of its policy (None without rules or when it cannot load)."""
    return {name: first_rule_month(policy) if policy is not None else None for name, policy in data.policies.items()}


def scenario_caps(scenario: str, overrides: Sequence[str] = ()) -> list[tuple[float, str]]:
    """The all-in caps a scenario sets (APR, label) from the rules on; [] if none or it cannot load."""
    from model.config import ConfigError, load_scenario

    try:
        policy = load_scenario(scenario, list(overrides)).to_dict()["policy"]
    except (ConfigError, OSError, KeyError):
        return []
    caps = []
    if policy.get("rate_cap", {}).get("enabled"):
        caps.append((float(policy["rate_cap"]["apr"]), f"cap {policy['rate_cap']['apr']:.0%}"))
    for kind, cap in policy.get("kind_caps", {}).items():
        if isinstance(cap, dict) and cap.get("enabled"):
            caps.append((float(cap["apr"]), f"{kind} {cap['apr']:.0%}"))
    return caps


# -------------------------------------------------------------------------------------- drawing
def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend with the report's seaborn theme (every figure is drawn through it)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)
    return plt


def _to_dates(values: Sequence[str]) -> pd.DatetimeIndex:
    return pd.to_datetime(pd.Series(list(values), dtype=str), format="%Y-%m")


def _format_date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.MonthLocator(bymonth=(1, 7))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    for label in ax.get_xticklabels():
        label.set_rotation(45)
        label.set_horizontalalignment("right")


def _event_letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else str(i + 1)


@dataclass(frozen=True)
class Rules:
    """The rules the time-series figures mark, and where each series' own line starts.

    Attributes:
        key: :func:`event_key` of the series shown.
        series: every series shown, in display order.
        first_rule: series -> :func:`first_rule_month` (None: no rules).
        anchor: the series drawn on top before the rules (the reference scenario, else the first series).
        attrs: a sweep's series attributes, to name sets of series briefly (:func:`series_attrs`).
    """

    key: EventKey = field(default_factory=dict)
    series: tuple[str, ...] = ()
    first_rule: dict[str, str | None] = field(default_factory=dict)
    anchor: str | None = None
    attrs: SeriesAttrs = field(default_factory=dict)

    @property
    def letters(self) -> dict[str, str]:
        return event_letters(self.key)

    def dates_of(self, name: str) -> list[str]:
        """The dates on which ``name`` has a rule."""
        return [date for date, groups in self.key.items() if any(name in names for _, names in groups)]

    def thin_until(self, name: str) -> str | None:
        """The month from which ``name`` is drawn in full (thin, without band, before it): the first rule or
        announcement of the series or of the anchor, before which their paired runs are the same; None for the
        anchor, or when neither has rules (drawn in full throughout)."""
        if name == self.anchor:
            return None
        months = [m for m in (self.first_rule.get(name), self.first_rule.get(self.anchor or "")) if m]
        return min(months) if months else None

    @property
    def anchor_on_top_until(self) -> str | None:
        """The anchor is drawn on top of the others up to the first month any other series is drawn in full."""
        months = [m for m in (self.thin_until(s) for s in self.series) if m]
        return min(months) if months else None

    def footer(self, width_chars: int, thin: bool = True) -> list[str]:
        """The key under a figure: the lettered rules, then (``thin``) what the thin lines are, wrapped."""
        import textwrap

        lines: list[str] = []
        if self.key:
            items = event_key_items(self.key, self.series, attrs=self.attrs)
            lines += textwrap.wrap("Rules (dashed lines): " + "; ".join(items),
                                   width_chars, break_on_hyphens=False)
        starts: dict[str, list[str]] = {}
        for name in self.series:
            month = self.thin_until(name)
            if month:
                starts.setdefault(month, []).append(name)
        if thin and starts and self.anchor:
            text = "; ".join(f"{m} [{series_set_label(names, self.series, self.attrs)}]"
                             for m, names in sorted(starts.items()))
            lines += textwrap.wrap(f"Thin lines, no band: a scenario before the first rule or announcement of it or "
                                   f"of {self.anchor} ({text}), where the two match; {self.anchor} is drawn on top.",
                                   width_chars, break_on_hyphens=False)
        return lines


def make_rules(data: ReportData, reference: str | None = None) -> Rules:
    """The :class:`Rules` of a report; the anchor is the reference scenario's series, else the first series."""
    anchor = _ref_series(data, reference) if reference else None
    return Rules(event_key(series_events(data)), tuple(data.series), first_rule_months(data),
                 anchor or (data.series[0] if data.series else None), series_attrs(data))


def _draw_events(ax: Any, rules: Rules, dates: Sequence[str] | None = None) -> None:
    """Dashed lines at the rules' dates (``dates``: only these), lettered as in the key (:meth:`Rules.footer`)."""
    for i, (date, letter) in enumerate(rules.letters.items()):
        if dates is not None and date not in dates:
            continue
        x = _to_dates([date])[0]
        ax.axvline(x, color="#555555", linestyle="--", linewidth=0.8, zorder=1)
        # Alternate heights: rules a month apart would otherwise print their letters on top of each other.
        ax.text(x, 0.985 if i % 2 == 0 else 0.915, letter, transform=ax.get_xaxis_transform(),
                fontsize=6, va="top", ha="center", color="#333333", zorder=5,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def _draw_series(ax: Any, s: pd.DataFrame, colour: str, label: str, thin_until: str | None,
                 on_top_until: str | None, band: bool = True) -> Any:
    """One series' mean line and band; thin and without band before ``thin_until``; the part up to
    ``on_top_until`` drawn again on top of every other line. Returns the full line (for the legend)."""
    if thin_until:
        pre = s[s["date"] <= thin_until]
        if len(pre) > 1:
            ax.plot(_to_dates(pre["date"]), pre["mean"].to_numpy(), color=colour, linewidth=0.7, alpha=0.55,
                    zorder=2)
        s = s[s["date"] >= thin_until]
    x = _to_dates(s["date"])
    (line,) = ax.plot(x, s["mean"].to_numpy(), color=colour, linewidth=1.3, label=label, zorder=3)
    if band and len(s) and s["runs"].max() > 1:
        ax.fill_between(x, s["low"].to_numpy(dtype=float), s["high"].to_numpy(dtype=float), color=colour,
                        alpha=0.18, linewidth=0, zorder=2)
    if on_top_until:
        top = s[s["date"] <= on_top_until]
        ax.plot(_to_dates(top["date"]), top["mean"].to_numpy(), color=colour, linewidth=1.5, zorder=4)
    return line


def axis_around_means(means: np.ndarray, limits: tuple[float, float], min_span: float = 0.05,
                      room: float = 0.5) -> tuple[float, float] | None:
    """Y limits that follow the means rather than wide bands: the means' range widened by ``room`` times its span
    (at least ``min_span``) on each side, within the current ``limits``; None without finite means."""
    x = np.asarray(means, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return None
    lo, hi = float(x.min()), float(x.max())
    pad = room * max(hi - lo, min_span)
    return max(limits[0], lo - pad), min(limits[1], hi + pad)


def _set_axis(ax: Any, panel: Panel, bounds: Range | None) -> None:
    """Keep the y axis inside the metric's valid range; a count panel runs from 0 (to the tier's size when
    known) with integer ticks."""
    from matplotlib.ticker import MaxNLocator

    low, high = ax.get_ylim()
    if panel.count:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        lo = bounds[0] if bounds else 0.0
        hi = bounds[1] if bounds and math.isfinite(bounds[1]) else max(high, lo + 1.0)
        pad = 0.04 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
    elif bounds:
        lo, hi = bounds
        pad = 0.04 * (min(high, hi) - max(low, lo))
        ax.set_ylim(max(low, lo - pad), min(high, hi + pad))


#: The share of a figure's height its legend and policy key may take before the figure grows (:func:`finish_figure`).
MAX_KEY_SHARE = 0.35


def legend_columns(labels: Sequence[str], width_in: float, fontsize: float = 7.0, most: int = 4) -> int:
    """Columns of a figure legend: at most ``most``, as many as fit side by side in the figure's width (a
    character of a ``fontsize`` point font taken as 0.55 of its size, plus the handle), at least one."""
    if not labels:
        return 1
    entry_in = max(len(str(label)) for label in labels) * 0.55 * fontsize / 72 + 0.5
    return max(1, min(most, len(labels), int(0.95 * width_in / entry_in)))


def wrap_label(label: str, width_in: float, fontsize: float = 8.5) -> str:
    """A series label over as many lines as it needs to fit ``width_in`` inches at ``fontsize`` points (panel
    titles), broken after the scenario's separator and between swept keys."""
    import textwrap

    chars = max(12, int(width_in * 72 / (0.5 * fontsize)))
    if len(label) <= chars:
        return label
    return "\n".join(line for part in label.split(LABEL_SEPARATOR)
                     for line in textwrap.wrap(part, chars, break_on_hyphens=False, break_long_words=False))


def finish_figure(fig: Any, path: Path, handles: Sequence[Any], labels: Sequence[str], title: str | None = None,
            footer: Sequence[str] = ()) -> None:
    """Legend (and the policy key) under the panels, sized in inches so tall figures get no blank band; a figure
    whose legend and key would take more than :data:`MAX_KEY_SHARE` of its height (many long series labels, as in
    a sweep) grows by the excess, so its panels keep their height."""
    import matplotlib.pyplot as plt

    footer_in = 0.13 * len(footer) + (0.05 if footer else 0.0)
    ncol = legend_columns(labels, fig.get_figwidth())
    legend_rows = math.ceil(len(labels) / ncol) + (1 if title else 0) if labels else 0
    legend_in = 0.17 * legend_rows + (0.1 if labels else 0.0)
    height = fig.get_figheight()
    excess = 0.06 + footer_in + legend_in - MAX_KEY_SHARE * height
    if excess > 0:
        height += excess
        fig.set_figheight(height)
    if footer:
        fig.text(0.5, 0.04 / height, "\n".join(footer), ha="center", va="bottom", fontsize=6.5, color="#333333")
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=7,
                   title=title, title_fontsize=7, bbox_to_anchor=(0.5, (0.02 + footer_in) / height))
    fig.tight_layout(rect=(0, (0.06 + footer_in + legend_in) / height, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


@dataclass(frozen=True)
class Panel:
    """One panel of a time-series figure: model column (or derived metric), title, y-axis label, percent?,
    whether it counts platforms or funders (axis from 0, integer ticks), and whether the axis follows the means
    (:func:`axis_around_means`) rather than the bands."""

    metric: str
    title: str
    ylabel: str
    percent: bool = False
    count: bool = False
    fit_means: bool = False


def _timeseries_figure(path: Path, bands: pd.DataFrame, panels: Sequence[Panel], colours: dict[str, str],
                       series: Sequence[str], rules: Rules, ranges: dict[str, Range] | None = None, ncols: int = 3,
                       legend_title: str | None = None) -> None:
    plt = pyplot()
    from matplotlib.ticker import PercentFormatter

    ranges = ranges or {}
    nrows = math.ceil(len(panels) / ncols)
    ncols = min(ncols, len(panels))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows + 0.6), squeeze=False, sharex=True)
    handles: dict[str, Any] = {}
    for i, panel in enumerate(panels):
        ax = axes[i // ncols][i % ncols]
        sub = bands[bands["metric"] == panel.metric]
        for name in series:
            s = sub[sub["series"] == name]
            if s.empty:
                continue
            on_top = rules.anchor_on_top_until if name == rules.anchor else None
            handles.setdefault(name, _draw_series(ax, s, colours[name], name, rules.thin_until(name), on_top))
        _draw_events(ax, rules)
        ax.set_title(panel.title, fontsize=8.5)
        ax.set_ylabel(panel.ylabel, fontsize=7.5)
        ax.tick_params(labelsize=7)
        _set_axis(ax, panel, ranges.get(panel.metric))
        if panel.fit_means:
            limits = axis_around_means(sub["mean"].to_numpy(dtype=float), ax.get_ylim())
            if limits:
                ax.set_ylim(*limits)
        if panel.percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        elif "yuan" in panel.ylabel:
            ax.yaxis.set_major_formatter(_lever_formatter("yuan"))  # 2.0M, not an axis offset of 1e6
        _format_date_axis(ax)
    for j in range(len(panels), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    for ax in axes[-1]:
        ax.tick_params(labelbottom=True)
    finish_figure(fig, path, list(handles.values()), list(handles), legend_title,
                  rules.footer(int(fig.get_figwidth() * 17)))


# ---------------------------------------------------------------------------------------- figures
@dataclass
class Figure:
    """A written figure: file stem, title, caption, and the PNG/CSV paths (None when skipped)."""

    name: str
    title: str
    caption: str
    png: Path | None = None
    csv: Path | None = None
    skipped: str | None = None

    def write_data(self, table: pd.DataFrame, fig_dir: Path) -> None:
        """Write the table behind the figure (``<name>.csv`` in ``fig_dir``) and name the PNG to draw."""
        self.csv = fig_dir / f"{self.name}.csv"
        table.to_csv(self.csv, index=False)
        self.png = fig_dir / f"{self.name}.png"


def _needs(df: pd.DataFrame, table: str, columns: Sequence[str]) -> str | None:
    if df.empty:
        return f"the {table} table is empty"
    missing = [c for c in columns if c not in df.columns]
    return f"the {table} table lacks {', '.join(missing)}" if missing else None


def _model_ts(data: ReportData, fig_dir: Path, name: str, title: str, caption: str, panels: Sequence[Panel],
              rules: Rules, ncols: int = 3) -> Figure:
    figure = Figure(name, title, caption)
    figure.skipped = _needs(data.model, "model", [p.metric for p in panels])
    if figure.skipped:
        return figure
    bands = clip_bands(monthly_bands(data.model, [p.metric for p in panels]), data.ranges)
    figure.write_data(bands, fig_dir)
    _timeseries_figure(figure.png, bands, panels, data.colours, data.series, rules, data.ranges, ncols)
    return figure


def _fig_margins(data: ReportData, fig_dir: Path, rules: Rules) -> Figure:
    band = "95% band of the pooled ratio" if data.replications > 1 else "one replication, no band"
    figure = Figure("platform_margin_by_tier", "Platform margin by tier",
                    "Volume-weighted platform margin per tier: the tier's profit over its new loans, sum(profit) / "
                    "sum(volume) over the tier's platforms and the replications each month (platforms table; profit "
                    f"= margin × volume), with a {band}. A platform or replication with little volume weighs "
                    "little. Months in which a tier's volume is below "
                    f"{MARGIN_MIN_VOLUME_SHARE:.0%} of its first month's are left blank: profit over so little new "
                    "lending is no margin. The axis follows the means; a band that runs past it is cut at the edge.")
    figure.skipped = _needs(data.platforms, "platforms", ["tier", "margin", "volume"])
    if figure.skipped:
        return figure
    bands = tier_margins(data.platforms)
    figure.write_data(bands, fig_dir)
    panels = [Panel(f"margin_{t}", f"{t} platforms", "profit / new volume", percent=True, fit_means=True)
              for t in TIERS]
    _timeseries_figure(figure.png, bands, panels, data.colours, data.series, rules)
    return figure


def _fig_partners_by_kind(data: ReportData, fig_dir: Path, rules: Rules) -> Figure:
    figure = Figure("partners_by_funder_kind", "Whitelist size by funder kind",
                    "Mean number of platform partners per funder of each kind (funders table), one panel per "
                    "scenario, mean over replications with 95% band; each panel marks its own scenario's rules.")
    figure.skipped = _needs(data.funders, "funders", ["kind", "partners"])
    if figure.skipped:
        return figure
    bands = partners_by_kind(data.funders)
    bands = clip_bands(bands, {kind: valid_ranges("funders")["partners"] for kind in set(bands["metric"])})
    figure.write_data(bands, fig_dir)
    plt = pyplot()
    ncols = min(3, len(data.series))
    nrows = math.ceil(len(data.series) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows + 0.6), squeeze=False, sharey=True)
    handles: dict[str, Any] = {}
    kinds = list(dict.fromkeys(bands["metric"]))
    for i, name in enumerate(data.series):
        ax = axes[i // ncols][i % ncols]
        sub = bands[bands["series"] == name]
        for kind in kinds:
            s = sub[sub["metric"] == kind]
            if s.empty:
                continue
            x = _to_dates(s["date"])
            colour = KIND_COLOURS.get(kind, "#000000")
            (line,) = ax.plot(x, s["mean"].to_numpy(), color=colour, linewidth=1.2, label=kind)
            handles.setdefault(kind, line)
            if s["runs"].max() > 1:
                ax.fill_between(x, s["low"].to_numpy(), s["high"].to_numpy(), color=colour, alpha=0.15, linewidth=0)
        _draw_events(ax, rules, rules.dates_of(name))
        ax.set_title(wrap_label(name, 3.2), fontsize=8.5, color=data.colours[name])
        ax.set_ylabel("partners per funder", fontsize=7.5)
        ax.tick_params(labelsize=7)
        _format_date_axis(ax)
    for j in range(len(data.series), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    finish_figure(fig, figure.png, list(handles.values()), list(handles), "funder kind",
            rules.footer(int(fig.get_figwidth() * 17), thin=False))
    return figure


def _fig_apr(data: ReportData, fig_dir: Path) -> Figure:
    figure = Figure("apr_distribution", "New-loan APR before and after the cap",
                    f"Distribution of funder-month all-in APRs of new loans (each funder's volume-weighted "
                    f"`apr_new` in a month, weighted by its new volume platform_volume + direct_volume), pooled "
                    f"over replications: months before {data.rules_month} against months from {data.rules_month} on. "
                    "Dashed lines: the all-in caps the scenario sets. This is the spread across funders and "
                    "months, not the distribution over individual loans (the model table holds only avg/max APR).")
    figure.skipped = _needs(data.funders, "funders", ["apr_new", "platform_volume", "direct_volume"])
    if figure.skipped:
        return figure
    bins = np.round(np.arange(0.0, 0.62, 0.02), 4)
    hist = apr_histogram(data.funders, bins, data.rules_month)
    if hist.empty:
        figure.skipped = "no funder-month has new volume"
        return figure
    figure.write_data(hist, fig_dir)
    plt = pyplot()
    from matplotlib.ticker import PercentFormatter

    ncols = min(4, len(data.series))
    nrows = math.ceil(len(data.series) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.5 * nrows + 0.6), squeeze=False, sharex=True,
                             sharey=True)
    styles = {"before": ("#999999", f"before {data.rules_month}"), "after": ("#c0392b", f"from {data.rules_month}")}
    handles: dict[str, Any] = {}
    for i, name in enumerate(data.series):
        ax = axes[i // ncols][i % ncols]
        sub = hist[hist["series"] == name]
        for period, (colour, label) in styles.items():
            s = sub[sub["period"] == period]
            if s.empty:
                continue
            edges = np.append(s["bin_low"].to_numpy(), s["bin_high"].iloc[-1])
            artist = ax.stairs(s["volume_share"].to_numpy(), edges, color=colour, fill=period == "before",
                               alpha=0.45 if period == "before" else 1.0, linewidth=1.3, label=label)
            handles.setdefault(label, artist)
        scenario = data.series_scenario[name]
        caps: dict[float, list[str]] = {}
        for cap, label in scenario_caps(scenario, _series_overrides(data, name)):
            caps.setdefault(round(cap, 4), []).append(label)
        for k, (cap, labels) in enumerate(sorted(caps.items())):
            ax.axvline(cap, color="black", linestyle="--", linewidth=0.9)
            ax.text(cap, 0.97 - 0.09 * k, f" {' / '.join(labels)}", transform=ax.get_xaxis_transform(),
                    fontsize=6, va="top", ha="left")
        ax.set_title(wrap_label(name, 2.7), fontsize=8.5, color=data.colours[name])
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("all-in APR of new loans", fontsize=7.5)
        ax.set_ylabel("share of new volume", fontsize=7.5)
        ax.tick_params(labelsize=7)
    for j in range(len(data.series), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    finish_figure(fig, figure.png, list(handles.values()), list(handles))
    return figure


def _fig_lorenz(data: ReportData, fig_dir: Path) -> Figure:
    figure = Figure("lorenz_platform_volume", "Concentration of platform volume (Lorenz curves)",
                    "Lorenz curve of platforms' monthly volume in the first and the last month over every platform "
                    "of the first month, an exited one at zero volume (the population of the Concentration section), "
                    "platforms of every replication pooled; the diagonal is equal shares. Gini of the pooled curve in "
                    "the legend (the Concentration section gives the mean of each replication's Gini).")
    figure.skipped = _needs(data.platforms, "platforms", ["run_id", "step", "platform_id", "volume"])
    if figure.skipped:
        return figure
    table = lorenz_table(data.platforms)
    figure.write_data(table, fig_dir)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.9), squeeze=False)
    # Long or many labels (a sweep's) go in one legend under both panels, each with its first and last Gini.
    shared = len(data.series) > LORENZ_INSIDE_MAX[0] or max(map(len, data.series)) > LORENZ_INSIDE_MAX[1]
    handles: dict[str, Any] = {}
    for ax, month in zip(axes[0], ("first", "last"), strict=True):
        ax.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=0.8)
        date = ""
        for name in data.series:
            s = table[(table["series"] == name) & (table["month"] == month)]
            if s.empty:
                continue
            date = s["date"].iloc[0]
            gini = s["gini"].iloc[0]
            (line,) = ax.plot(s["population_share"], s["volume_share"], color=data.colours[name], linewidth=1.2,
                              label=f"{name} (Gini {gini:.2f})")
            handles.setdefault(name, line)
        ax.set_title(f"{month} month ({date})", fontsize=8.5)
        ax.set_xlabel("share of platforms (smallest first; exited at zero)", fontsize=7.5)
        ax.set_ylabel("share of platform volume", fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        if not shared:
            ax.legend(fontsize=6, loc="upper left", frameon=False)
    if shared:
        ginis = table.groupby(["series", "month"])["gini"].first()
        first, last = (ginis.xs(month, level="month") for month in ("first", "last"))
        labels = [f"{name} (Gini {first.get(name, math.nan):.2f} → {last.get(name, math.nan):.2f})" for name in handles]
        finish_figure(fig, figure.png, list(handles.values()), labels)
        return figure
    fig.tight_layout()
    fig.savefig(figure.png, dpi=DPI)
    plt.close(fig)
    return figure


#: Most series, and longest label, whose Lorenz legends fit inside the panels; beyond, one legend goes under them.
LORENZ_INSIDE_MAX = (8, 40)


SEGMENTS = ("prime", "near_prime", "subprime")


def segment_table(model: pd.DataFrame, rules_month: str) -> pd.DataFrame:
    """Borrower outcomes by segment from the rules' start to the horizon: one row per series and segment.

    Columns ``series, segment, served_share, apr_paid``: plain means over the months from ``rules_month`` on and
    over replications (each monthly value is itself a share of seekers or a volume-weighted APR).
    """
    after = model[model["date"] >= rules_month]
    rows = []
    for name, group in after.groupby("series", sort=False):
        for segment in SEGMENTS:
            rows.append({"series": name, "segment": segment,
                         "served_share": float(group[f"served_share_{segment}"].mean()),
                         "apr_paid": float(group[f"apr_paid_{segment}"].mean())})
    return pd.DataFrame(rows, columns=["series", "segment", "served_share", "apr_paid"])


def national_measures(data: ReportData) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every run's borrower-side measures in national terms over the 12 months from :attr:`ReportData.rules_month`
    and at the horizon (:func:`experiments.analysis.borrowers.measures_table`), with the runs' scale factors."""
    from experiments.analysis import borrowers as bor

    scales = bor.run_scales(data.design, data.runs)
    needed = ["applicants", "rationed_share", "indebted_borrowers", "shadow_borrowers", "origination_volume",
              "outstanding_balance", "avg_apr_new", "shadow_volume",
              *(f"{c}_{s}" for s in SEGMENTS for c in ("served_share", "apr_paid", "shadow_share"))]
    if _needs(data.model, "model", needed):
        return pd.DataFrame(), scales
    return bor.measures_table(data.model, scales, data.rules_month), scales


def _ref_series(data: ReportData, reference: str | None) -> str | None:
    """The series (scenario and sweep point) of the reference scenario, or None when it is not in the store."""
    return next((s for s in data.series if data.series_scenario[s] == reference), None)


def national_summary_rows(data: ReportData, reference: str | None) -> pd.DataFrame:
    """The ``nat_*`` rows of summary.csv (:func:`experiments.analysis.borrowers.national_summary`)."""
    from experiments.analysis import borrowers as bor

    table, _ = data.national
    if table.empty:
        return pd.DataFrame()
    return bor.national_summary(table, data.series, data.series_scenario, _ref_series(data, reference),
                                data.rules_month)


def _national_blocks(summary: pd.DataFrame, data: ReportData, reference: str | None) -> list[Block]:
    """The section "Borrowers in national terms" (:func:`experiments.analysis.borrowers.national_blocks`)."""
    from experiments.analysis import borrowers as bor

    _, scales = data.national
    return bor.national_blocks(summary, data.series, _ref_series(data, reference), scales, data.rules_month)


def _fig_segments(data: ReportData, fig_dir: Path, reference: str | None = None) -> Figure:
    from experiments.analysis import borrowers as bor

    start = data.rules_month
    end = add_months(start, bor.WINDOW_MONTHS - 1)
    ref = _ref_series(data, reference)
    others = [s for s in data.series if s != ref] if ref else list(data.series)
    what = (f"change from {ref}, paired by replicate, mean with 95% interval (percentage points)" if ref
            else "levels, mean with 95% interval (no reference scenario)")
    if data.replications <= 1:
        what += "; one replication, so no interval"
    figure = Figure("borrowers_by_segment", "Who loses access and who pays less",
                    f"By borrower segment, over the 12 months from the rules' start ({start}..{end}), {what}: the "
                    "share of credit seekers who got a licensed loan (below 0: the segment loses access) and the "
                    "volume-weighted all-in APR of its new licensed loans (below 0: it pays less; months without "
                    "such loans left out). Each run's value is its mean over the window's months.")
    needed = [f"{c}_{s}" for s in SEGMENTS for c in ("served_share", "apr_paid")]
    figure.skipped = _needs(data.model, "model", needed)
    table, _ = data.national
    if figure.skipped or table.empty:
        figure.skipped = figure.skipped or "the model table lacks the columns of the national measures"
        return figure
    changes = bor.segment_changes(table, data.series, ref)
    figure.write_data(changes, fig_dir)
    from matplotlib.ticker import FuncFormatter

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.6), squeeze=False)
    width = 0.8 / max(len(others), 1)
    x = np.arange(len(SEGMENTS))
    cols = ("diff_mean", "diff_low", "diff_high") if ref else ("mean", "low", "high")
    for ax, (measure, label) in zip(axes[0], (("served_share", "share of seekers served"),
                                              ("apr_paid", "APR paid on new licensed loans")), strict=True):
        for i, name in enumerate(others):
            s = changes[(changes["series"] == name) & (changes["measure"] == measure)]
            s = s.set_index("segment").reindex(list(SEGMENTS))
            mean, low, high = (s[c].to_numpy(dtype=float) for c in cols)
            err = np.vstack([mean - low, high - mean])
            ax.bar(x + (i - (len(others) - 1) / 2) * width, mean, width, color=data.colours[name], label=name,
                   yerr=None if np.isnan(err).all() else err, capsize=3, error_kw={"lw": 0.8})
        ax.set_xticks(x, [s.replace("_", "-") for s in SEGMENTS], fontsize=7.5)
        ax.set_title(label, fontsize=8.5)
        # A sweep's reference label is long: the axis says "the reference" and the caption names it.
        ax.set_ylabel((f"pp, minus {ref}" if len(ref) <= 25 else "pp, minus the reference") if ref else "percent",
                      fontsize=7.5)
        ax.grid(False, axis="x")
        if ref:
            ax.axhline(0, color="#444", lw=0.7)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{round(v * 100, 4):+g}" if ref
                                                   else f"{round(v * 100, 4):g}%"))
        ax.tick_params(labelsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    finish_figure(fig, figure.png, handles, labels)
    return figure


def _fig_sweeps(data: ReportData, fig_dir: Path, reference: str | None) -> list[Figure]:
    """One figure per swept key with at least two values: the headline outcomes against it
    (:mod:`experiments.analysis.sweep`); [] when the store is no sweep."""
    if not data.is_sweep:
        return []
    metrics = [m for m, _, _ in sw.OUTCOMES if m in data.model.columns]
    per_run = sw.window_means(data.model, metrics, data.rules_month) if metrics else pd.DataFrame()
    covered = int(per_run["months"].min()) if len(per_run) else 0
    table = clip_bands(sw.lever_table(per_run, data.series, data.series_scenario, data.series_values, data.vary,
                                      metrics), data.ranges) if len(per_run) else pd.DataFrame()
    window = f"{data.rules_month}..{add_months(data.rules_month, sw.WINDOW_MONTHS - 1)}"
    figures = []
    for lever in data.vary:
        figure = Figure(sw.figure_name(lever), f"Outcomes against {lever}", "")
        if not metrics:
            figure.skipped = "the model table has none of the outcomes drawn against a lever"
        elif len({value_text(v.get(lever)) for v in data.series_values.values()}) < 2:
            figure.skipped = f"{lever} takes one value only"
        elif table.empty:
            figure.skipped = f"no run covers a month of the window from {data.rules_month}"
        if figure.skipped:
            figures.append(figure)
            continue
        lines = sw.merge_same_lines(sw.sweep_lines(data.series, data.series_scenario, data.series_values, lever,
                                                   data.vary, data.mode), table, reference, data.series_scenario)
        ref_lines = [label for label, names in lines.items() if data.series_scenario.get(names[0]) == reference]
        figure.caption = sw.sweep_caption(lever, data.vary, data.mode, data.rules_month, covered, data.replications,
                                          reference, bool(ref_lines))
        figure.write_data(table.assign(window=window), fig_dir)
        _draw_lever(figure.png, table, lines, lever, data, reference, sw.line_colours(list(lines), ref_lines))
        figures.append(figure)
    return figures


def _lever_formatter(kind: str) -> Any:
    """Y tick labels of a lever panel: shares in percent, yuan with k/M, counts whole where they are."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    from experiments.analysis.summary import format_value

    if kind == "share":
        return PercentFormatter(1.0, decimals=None)
    if kind == "yuan":
        return FuncFormatter(lambda v, _p: format_value(v, "yuan"))
    return FuncFormatter(lambda v, _p: f"{v:,.0f}" if v == round(v) else f"{v:,.1f}")


def _draw_lever(path: Path, table: pd.DataFrame, lines: dict[str, list[str]], lever: str, data: ReportData,
                reference: str | None, colours: dict[str, str]) -> None:
    """A lever's figure: one panel per outcome, x the lever's value, y the mean with its 95% interval as error
    bars (lines dodged sideways so their bars do not overlap); the reference dashed, flat where it is one level."""
    plt = pyplot()
    outcomes = [o for o in sw.OUTCOMES if o[0] in set(table["metric"])]
    ncols = min(3, len(outcomes))
    nrows = math.ceil(len(outcomes) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows + 0.9), squeeze=False, sharex=True)
    positions, numeric = sw.lever_positions(list(table[lever]))
    xs = list(positions.values())
    span = (max(xs) - min(xs)) or 1.0
    moving = [label for label, names in lines.items() if data.series_scenario.get(names[0]) != reference]
    handles: dict[str, Any] = {}
    for i, (metric, title, kind) in enumerate(outcomes):
        ax = axes[i // ncols][i % ncols]
        sub = table[table["metric"] == metric].set_index("series")
        for label, names in lines.items():
            s = sub.reindex(names).dropna(subset=["mean"])
            if s.empty:
                continue
            mean, low, high = (s[c].to_numpy(dtype=float) for c in ("mean", "low", "high"))
            if label not in moving and sw.is_flat(mean):
                handle = ax.axhline(float(mean[0]), color=colours[label], linestyle="--", linewidth=1.1, zorder=2)
                if np.isfinite(low[0]) and np.isfinite(high[0]):
                    ax.axhspan(float(low[0]), float(high[0]), color=colours[label], alpha=0.08, linewidth=0,
                               zorder=1)
                handles.setdefault(f"{label} (reference, unchanged by the lever)", handle)
                continue
            x = np.array([positions[value_text(v)] for v in s[lever]])
            dodge = (moving.index(label) - (len(moving) - 1) / 2) * 0.025 * span if label in moving else 0.0
            err = np.vstack([mean - low, high - mean])
            handle = ax.errorbar(x + dodge, mean, yerr=None if np.isnan(err).all() else err, color=colours[label],
                                 marker="o", markersize=3.5, linewidth=1.2, capsize=2.5, elinewidth=0.9,
                                 linestyle="-" if label in moving else "--", zorder=3)
            handles.setdefault(label + ("" if label in moving else " (reference)"), handle)
        ax.set_title(title, fontsize=8.5)
        ax.yaxis.set_major_formatter(_lever_formatter(kind))
        ax.tick_params(labelsize=7)
        if kind == "count":
            ax.set_ylim(bottom=0)
        ax.margins(x=0.08 if numeric else 0.25)
        if not numeric:
            ax.grid(False, axis="x")
    ticks = sw.tick_labels(lever, data.vary, data.mode, positions, table)
    for j in range(nrows * ncols):
        ax = axes[j // ncols][j % ncols]
        if j >= len(outcomes):
            ax.set_visible(False)
        elif j + ncols >= len(outcomes):  # the lowest panel of its column
            ax.set_xticks(xs, ticks)
            ax.set_xlabel(lever, fontsize=7.5)
            ax.tick_params(labelbottom=True)
    finish_figure(fig, path, list(handles.values()), list(handles))


def make_figures(data: ReportData, fig_dir: Path, reference: str | None = None) -> list[Figure]:
    """Draw every figure into ``fig_dir`` (PNG + CSV); figures whose data is missing are returned as skipped.

    ``reference`` (a scenario) is drawn on top before the rules (:func:`make_rules`).
    """
    fig_dir.mkdir(parents=True, exist_ok=True)
    rules = make_rules(data, reference)
    band_note = "mean over replications with 95% band, clipped to the valid range" if data.replications > 1 else \
        "one replication: the line is that run, no band"
    figures = [
        *_fig_sweeps(data, fig_dir, reference),
        _model_ts(data, fig_dir, "active_platforms_by_tier", "Active platforms by tier",
                  f"Active platforms in each tier at the end of each month ({band_note}); the axis runs from 0 to "
                  "the tier's size.",
                  [Panel(f"active_platforms_{t}", f"{t} platforms", "active platforms", count=True) for t in TIERS],
                  rules),
        _model_ts(data, fig_dir, "exits_by_tier", "Cumulative exits by tier",
                  f"Cumulative platform exits (failure, wind-down or abroad) per tier ({band_note}); the axis runs "
                  "from 0 to the tier's size.",
                  [Panel(f"platform_exits_{t}", f"{t} platforms", "cumulative exits", count=True) for t in TIERS],
                  rules),
        _model_ts(data, fig_dir, "concentration", "Concentration: head share, HHI and CR5",
                  f"Head tier's share of platform volume, Herfindahl-Hirschman index (0-10000) and the five "
                  f"largest platforms' share ({band_note}).",
                  [Panel("head_share", "head share", "share of platform volume", True),
                   Panel("hhi", "HHI", "index (0-10000)"),
                   Panel("cr5", "CR5", "share of platform volume", True)], rules),
        _model_ts(data, fig_dir, "funders_whitelists", "Whitelists and funders in platform lending",
                  f"Mean whitelist size (partners per funder that lent through platforms at the start, zeros "
                  f"included) and the number of funders still in platform lending ({band_note}).",
                  [Panel("mean_whitelist_size", "mean whitelist size", "partners per funder"),
                   Panel("funders_in_platform_lending", "funders in platform lending", "funders", count=True)],
                  rules, 2),
        _fig_partners_by_kind(data, fig_dir, rules),
        _fig_apr(data, fig_dir),
        _model_ts(data, fig_dir, "rationing_shadow", "Rationing and shadow lending",
                  f"Share of credit seekers who got no licensed loan, and new shadow-lender loans per month "
                  f"({band_note}).",
                  [Panel("rationed_share", "rationed share", "share of applicants", True),
                   Panel("shadow_volume", "shadow volume", "yuan per month")], rules, 2),
        _model_ts(data, fig_dir, "credit_risk", "Defaults, NPLs, multi-borrowing and debt spirals",
                  f"Monthly default rate (new 90+ days past due / indebted borrowers), NPL ratio, share of "
                  f"indebted borrowers with 3+ lenders, and share in a debt spiral ({band_note}).",
                  [Panel("default_rate", "default rate", "per month", True),
                   Panel("npl_ratio", "NPL ratio", "90+ dpd / balance", True),
                   Panel("multi_lender_share", "multi-lender share", "indebted borrowers", True),
                   Panel("spiral_share", "spiral share", "indebted borrowers", True)], rules, 2),
        _fig_segments(data, fig_dir, reference),
        _fig_margins(data, fig_dir, rules),
        _fig_lorenz(data, fig_dir),
    ]
    return figures


# ---------------------------------------------------------------------------------------- summary
def _values_at(model: pd.DataFrame, when: str) -> pd.DataFrame:
    if when == "horizon":
        return model.loc[model.groupby("run_id")["step"].idxmax()]
    return model[model["date"] == when]


#: Units of the report's derived measures by their kind (model columns carry their documented unit).
_KIND_UNITS = {"share": "share 0-1", "count": "borrowers", "yuan": "yuan", "yuan_flow": "yuan", "months": "months"}


def derived_unit(metric: str) -> str:
    """The unit of a summary metric: a model column's as documented (``COLUMN_DOCS``); a Concentration measure
    (``conc_*``) its model column's (the Gini 0-1); a national measure (``nat_*``) by its kind, an APR paid
    in ``1/yr``; a short-run measure by its kind (exits in platforms, peak default rate per month)."""
    from experiments.analysis import borrowers as bor
    from experiments.analysis.summary import metric_unit

    if metric.startswith(conc.SUMMARY_PREFIX):
        base = metric.removeprefix(conc.SUMMARY_PREFIX)
        return "0-1" if base == "gini" else metric_unit(base)
    if metric in bor.METRICS:
        return "1/yr" if "_apr_paid_" in metric else _KIND_UNITS.get(bor.METRICS[metric][1], "")
    kinds = {m: kind for m, _, kind, _ in short_run_metrics()}
    if metric in kinds:
        if metric.endswith("_since_rule"):
            return "platforms"
        return "share 0-1 per month" if metric.startswith("default_rate_peak") else _KIND_UNITS.get(kinds[metric], "")
    return metric_unit(metric)


def outcome_summary(data: ReportData, reference: str | None) -> pd.DataFrame:
    """Outcomes at the horizon and at :data:`AFTER_RULES_MONTH` with paired differences against a reference,
    then the short-run and speed measures (:func:`short_run_summary`, ``when`` = :data:`SHORT_RUN`).

    Intervals are clipped to the outcome's valid range (:attr:`ReportData.ranges`), differences to the range of
    a difference of two valid values.

    The four measures of the Concentration section follow as metrics ``conc_head_share, conc_cr5, conc_hhi,
    conc_gini`` at the rule date, :data:`AFTER_RULES_MONTH` and the horizon
    (:func:`experiments.analysis.concentration.concentration_summary`).

    Returns:
        The schema of every summary table (:func:`experiments.analysis.summary.summary_table`, the same columns
        as the batch's ``DIR/summary.csv``): ``series, scenario, point, <one column per swept key>, when, date,
        metric, unit, runs, mean, sd, low, high, reference, pairs, diff_mean, diff_low, diff_high, window_start,
        window_basis, reached`` (difference columns empty for the reference itself or without a reference; the
        last three empty except in the short-run rows; ``unit`` from :func:`derived_unit`).
    """
    metrics = [m for m, _, _ in OUTCOMES if m in data.model.columns]
    ref_series = _ref_series(data, reference)
    levels = [level_rows(at, data.series, data.series_scenario, ref_series, metrics, when)
              for when in (HORIZON, AFTER_RULES_MONTH) if not (at := _values_at(data.model, when)).empty]
    out = pd.concat(levels, ignore_index=True) if levels else level_rows(data.model.iloc[0:0], [], {}, None, [], "")
    out = clip_bands(out, data.ranges)
    out = clip_bands(out, difference_ranges(data.ranges), "diff_low", "diff_high")
    out = out.assign(window_start="", window_basis="", reached=math.nan)
    short = short_run_summary(data, reference)
    out = pd.concat([out, short], ignore_index=True) if len(short) else out
    extra = conc.concentration_summary(data.concentration, data.series, data.series_scenario, ref_series,
                                       [w for w, _ in data.concentration_whens])
    out = pd.concat([out, extra], ignore_index=True) if not extra.empty else out
    national = national_summary_rows(data, reference)
    out = pd.concat([out, national], ignore_index=True) if not national.empty else out
    return summary_table(out.assign(unit=out["metric"].map(derived_unit)), data.series_point, data.series_values,
                         data.vary)


# --------------------------------------------------------------------------------- short run and speed
#: ``when`` of the short-run and speed rows in summary.csv.
SHORT_RUN = "short-run"
#: Length of the windows of the short-run default measures, from the window's start month included.
SHORT_RUN_MONTHS = 12
#: Head-share levels whose first crossing after the first rule date the speed measures time.
HEAD_SHARE_THRESHOLDS = (0.75, 0.80, 0.90)
#: Cumulative exit columns counted from the first rule date: all platforms, then by tier.
EXIT_COLUMNS = ("platform_exits", *(f"platform_exits_{t}" for t in TIERS))
#: Anchors of the short-run windows: the first month any rule is announced or takes effect, and the first month
#: a rule takes effect (the same month when no rule is announced ahead).
FIRST_RULE, IN_EFFECT = "first rule", "in effect"
#: Prefix of the anchors of the later rule starts: ``"start 2"`` is the second distinct month a rule of the
#: scenario takes effect (the first is :data:`IN_EFFECT`), and so on (:func:`later_windows`).
LATER_START = "start"
#: Columns summary.csv adds for the short-run rows (empty in the other rows).
SHORT_RUN_COLUMNS = ("window_start", "window_basis", "reached")


def months_between(start: str, end: str) -> int:
    """Whole months from ``start`` to ``end`` (``YYYY-MM``); 0 for the same month, negative when ``end`` is
    earlier."""
    return parse_month(end) - parse_month(start)


def rule_dates(policy: dict[str, Any]) -> dict[str, str | None]:
    """The earliest announcement and the earliest effective date of a policy table's enabled rules.

    Returns:
        ``{"announced": YYYY-MM or None, "takes effect": YYYY-MM or None}``: an announcement counts when it is a
        month (``""`` means not announced ahead); a rule takes effect at its ``start`` (the stock clean-up at its
        ``deadline``). The earlier of the two is :func:`first_rule_month`.
    """
    rules = [v for k, v in policy.items() if k != "kind_caps" and isinstance(v, dict)]
    kind_caps = policy.get("kind_caps")
    if isinstance(kind_caps, dict):
        rules += [v for v in kind_caps.values() if isinstance(v, dict)]
    announced, effect = [], []
    for rule in rules:
        if rule.get("enabled"):
            announced += [rule["announced"]] if _is_month(rule.get("announced")) else []
            effect += [rule[k] for k in ("start", "deadline") if _is_month(rule.get(k))]
    return {"announced": min(announced) if announced else None, "takes effect": min(effect) if effect else None}


def first_rule_date(dates: dict[str, str | None]) -> tuple[str, str] | None:
    """The first month any rule is announced or takes effect, and which: ``(YYYY-MM, "announced" | "takes
    effect")`` from :func:`rule_dates`; a rule announced in the month it takes effect counts as taking effect.
    None without rules."""
    announced, effect = dates.get("announced"), dates.get("takes effect")
    if announced and (effect is None or announced < effect):
        return announced, "announced"
    return (effect, "takes effect") if effect else None


@dataclass(frozen=True)
class Window:
    """Where a series' short-run window starts and why: ``basis`` is ``announced`` or ``takes effect`` for a
    series with rules, else says whose date it borrows."""

    start: str
    basis: str


def short_run_windows(dates: dict[str, dict[str, str | None]], reference: str | None,
                      fallback: str) -> dict[str, dict[str, Window]]:
    """The start of each series' short-run windows.

    Args:
        dates: series -> :func:`rule_dates` of its policy (``{}`` when it cannot load), in display order.
        reference: the reference series (None without one).
        fallback: the month used when no series has rules (the schema's rate-cap start).

    Returns:
        series -> ``{FIRST_RULE: Window, IN_EFFECT: Window}``. A series with rules starts its windows at its own
        first rule date (:func:`first_rule_date`) and at the first month a rule of it takes effect. A series
        without rules takes the reference's dates when the reference has rules; otherwise (the reference itself,
        or a series compared with a reference without rules) the earliest date among the series with rules.
    """
    own: dict[str, dict[str, tuple[str, str] | None]] = {}
    for name, d in dates.items():
        effect = d.get("takes effect")
        own[name] = {FIRST_RULE: first_rule_date(d), IN_EFFECT: (effect, "takes effect") if effect else None}
    out: dict[str, dict[str, Window]] = {}
    for name in dates:
        windows = {}
        for anchor in (FIRST_RULE, IN_EFFECT):
            mine = own[name][anchor]
            ref = own[reference][anchor] if reference in own and reference != name else None
            others = {o: own[o][anchor] for o in dates if o != name and own[o][anchor]}
            if mine:
                windows[anchor] = Window(*mine)
            elif ref:
                windows[anchor] = Window(ref[0], f"no rules; {ref[1]} in {reference}")
            elif others:
                month, basis = min(others.values())
                with_it = [o for o, (m, b) in others.items() if (m, b) == (month, basis)]
                windows[anchor] = Window(month, f"no rules; {basis} in {', '.join(with_it)}")
            else:
                windows[anchor] = Window(fallback, "no rules in any scenario; the rate cap's default start")
        out[name] = windows
    return out


def later_windows(events: dict[str, list[str]], in_effect: str) -> dict[str, Window]:
    """Windows from each later rule start of a series: ``{"start 2": Window, "start 3": ...}``.

    Args:
        events: the months the series' rules take effect (:func:`events_of_policy`, the dates of the figures'
            dashed lines) -> the rules' labels.
        in_effect: the start of its :data:`IN_EFFECT` window (its first rule in effect).

    Returns:
        One window per distinct month after ``in_effect`` in which a rule takes effect, numbered from 2 in date
        order (the first rule start is ``in_effect``); its basis names the rules, e.g. ``takes effect: crackdown``.
        Empty for a series without later rule starts (and for one without rules).
    """
    later = [(month, labels) for month, labels in sorted(events.items()) if month > in_effect]
    return {f"{LATER_START} {k}": Window(month, "takes effect: " + ", ".join(labels))
            for k, (month, labels) in enumerate(later, start=2)}


def anchor_suffix(anchor: str) -> str:
    """The suffix of the default measures over an anchor's window: ``""`` (:data:`FIRST_RULE`), ``_in_effect``
    (:data:`IN_EFFECT`), ``_start2`` ... (:data:`LATER_START` k)."""
    if anchor == FIRST_RULE:
        return ""
    return "_in_effect" if anchor == IN_EFFECT else "_" + anchor.replace(" ", "")


def later_starts(metrics: Iterable[str]) -> int:
    """How many later rule starts the metrics of a summary have windows for (the highest k of ``..._startk``,
    minus 1)."""
    ks = [int(m.rsplit("_start", 1)[1]) for m in metrics if re.search(r"_start\d+$", m)]
    return max(ks) - 1 if ks else 0


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def _run_rows(run: pd.DataFrame) -> pd.DataFrame:
    return run.sort_values("date", kind="stable")


def default_window(run: pd.DataFrame, start: str, months: int = SHORT_RUN_MONTHS) -> dict[str, float]:
    """Peak and cumulative new defaults of one run in the ``months`` months from ``start`` (included).

    Args:
        run: one run's model rows with ``date``, ``default_rate`` and ``indebted_borrowers``.
        start: the window's first month.

    Returns:
        ``months`` (months of the window the run covers), ``peak`` (highest monthly ``default_rate``),
        ``defaults`` (sum of ``default_rate × indebted_borrowers``: new defaults, modelled borrowers) and
        ``share`` (``defaults`` over ``indebted_borrowers`` in the window's first covered month, the rule date
        when the run covers it); NaN when the run covers no month of the window.
    """
    end = add_months(start, months - 1)
    rows = _run_rows(run)
    rows = rows[(rows["date"] >= start) & (rows["date"] <= end)]
    if rows.empty:
        return {"months": 0.0, "peak": math.nan, "defaults": math.nan, "share": math.nan}
    rate = rows["default_rate"].to_numpy(dtype=float)
    indebted = rows["indebted_borrowers"].to_numpy(dtype=float)
    defaults = float(np.sum(rate * indebted))
    return {"months": float(len(rows)), "peak": float(rate.max()), "defaults": defaults,
            "share": defaults / indebted[0] if indebted[0] > 0 else math.nan}


def months_to_threshold(run: pd.DataFrame, start: str, threshold: float, column: str = "head_share") -> float:
    """Months from ``start`` to the first month from ``start`` on in which ``column`` is at or above
    ``threshold`` (0: already there in the start month); NaN when it never gets there before the run ends."""
    rows = _run_rows(run)
    rows = rows[rows["date"] >= start]
    hit = rows[rows[column].to_numpy(dtype=float) >= threshold]
    return float(months_between(start, hit["date"].iloc[0])) if len(hit) else math.nan


def exits_since(run: pd.DataFrame, start: str, columns: Sequence[str] = EXIT_COLUMNS) -> dict[str, float]:
    """Platform exits of one run from ``start`` (included) to its last month: the cumulative count at the end
    minus the count at the end of the month before ``start``; when the run begins at or after ``start``, every
    recorded exit counts. NaN when the run ends before ``start``; columns missing from ``run`` are left out."""
    rows = _run_rows(run)
    present = [c for c in columns if c in rows.columns]
    if rows.empty or rows["date"].iloc[-1] < start:
        return {c: math.nan for c in present}
    before = rows[rows["date"] < start]
    last = rows.iloc[-1]
    return {c: float(last[c]) - (float(before[c].iloc[-1]) if len(before) else 0.0) for c in present}


def short_run_metrics(thresholds: Sequence[float] = HEAD_SHARE_THRESHOLDS,
                      later: int = 0) -> list[tuple[str, str, str, str]]:
    """The short-run and speed measures: ``(metric, label, kind, anchor)`` in table order; ``kind`` picks the
    number format (:func:`_fmt`), ``anchor`` the window (:data:`FIRST_RULE`, :data:`IN_EFFECT` or, for the
    ``later`` later rule starts, ``"start 2"`` ...: :func:`later_windows`)."""
    n = SHORT_RUN_MONTHS
    metrics = []
    anchors = [(FIRST_RULE, "from the first rule date"), (IN_EFFECT, "from the first rule in effect"),
               *((f"{LATER_START} {k}", f"from the {_ordinal(k)} rule start") for k in range(2, later + 2))]
    for anchor, when in anchors:
        suffix = anchor_suffix(anchor)
        metrics += [(f"default_rate_peak_{n}m{suffix}", f"peak monthly default rate, {n} months {when}", "share",
                     anchor),
                    (f"defaults_{n}m{suffix}", f"new defaults, {n} months {when} (modelled borrowers)", "count",
                     anchor),
                    (f"defaults_{n}m_share{suffix}", f"new defaults, {n} months {when} / indebted borrowers at "
                     "its start", "share", anchor)]
    metrics.append(("head_share_at_rule", "head share at the first rule date", "share", FIRST_RULE))
    metrics += [(f"months_to_head_share_{t:.2f}", f"months from the first rule date until head share ≥ {t:.0%}",
                 "months", FIRST_RULE) for t in thresholds]
    metrics += [(f"{c}_since_rule", f"{'platform' if c == 'platform_exits' else c.rsplit('_', 1)[1]} exits from "
                 "the first rule date to the horizon", "count", FIRST_RULE) for c in EXIT_COLUMNS]
    return metrics


def short_run_measures(model: pd.DataFrame, windows: dict[str, Window],
                       thresholds: Sequence[float] = HEAD_SHARE_THRESHOLDS) -> pd.DataFrame:
    """Every short-run and speed measure of every run of one series, for given window starts.

    Args:
        model: the model rows of one series (``replicate``, ``run_id``, ``date`` and the model columns).
        windows: ``{FIRST_RULE: Window, IN_EFFECT: Window}`` (:func:`short_run_windows`), and a window per later
            rule start (:func:`later_windows`), whose default measures get the suffix ``_start2`` ...

    Returns:
        One row per replicate (the index), one column per metric of :func:`short_run_metrics` whose model
        columns are present.
    """
    n = SHORT_RUN_MONTHS
    rows = {}
    has_defaults = {"default_rate", "indebted_borrowers"} <= set(model.columns)
    for replicate, run in model.groupby("replicate", sort=True):
        row: dict[str, float] = {}
        if has_defaults:
            for anchor in (a for a in windows if a in (FIRST_RULE, IN_EFFECT) or a.startswith(LATER_START)):
                suffix = anchor_suffix(anchor)
                d = default_window(run, windows[anchor].start)
                row.update({f"default_rate_peak_{n}m{suffix}": d["peak"],
                            f"defaults_{n}m{suffix}": d["defaults"], f"defaults_{n}m_share{suffix}": d["share"]})
        start = windows[FIRST_RULE].start
        if "head_share" in run.columns:
            at = run[run["date"] == start]
            row["head_share_at_rule"] = float(at["head_share"].iloc[0]) if len(at) else math.nan
            for t in thresholds:
                row[f"months_to_head_share_{t:.2f}"] = months_to_threshold(run, start, t)
        row.update({f"{c}_since_rule": v for c, v in exits_since(run, start).items()})
        rows[int(replicate)] = row
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def short_run_ranges(ranges: dict[str, Range], later: int = 0) -> dict[str, Range]:
    """Valid ranges of the short-run measures from those of the model columns they come from (:attr:`ReportData
    .ranges`): the peak default rate and the head share in [0, 1], defaults and months from 0, exits since the
    rule in [0, the tier's size]."""
    out: dict[str, Range] = {}
    for metric, *_ in short_run_metrics(later=later):
        if metric.endswith("_since_rule"):
            out[metric] = ranges.get(metric.removesuffix("_since_rule"), (0.0, math.inf))
        elif metric.startswith(("default_rate_peak", "head_share")):
            out[metric] = (0.0, 1.0)
        else:
            out[metric] = (0.0, math.inf)
    return out


def short_run_summary(data: ReportData, reference: str | None,
                      thresholds: Sequence[float] = HEAD_SHARE_THRESHOLDS) -> pd.DataFrame:
    """The short-run and speed rows of summary.csv (``when`` = :data:`SHORT_RUN`).

    Each series' windows start at its own rule dates (:func:`short_run_windows`): the default measures over the
    :data:`SHORT_RUN_MONTHS` months from its first rule date, from its first rule in effect and from each later
    month a rule of it takes effect (:func:`later_windows`; a series without rules has none), the head-share
    thresholds and the exits from its first rule date to the horizon. A difference against the reference pairs
    the runs by replicate with the reference measured over the *same* window as the row (its own series'); the
    reference's own row uses its window (:func:`short_run_windows`). For the months to a threshold, ``mean``,
    ``sd``, ``low`` and ``high`` are over the replicates that reach it (``reached`` of ``runs``, the replicates
    whose runs reach the window's start), and ``pairs`` counts the replicates in which both scenarios reach it.

    Returns:
        The columns of :func:`outcome_summary` plus ``window_start``, ``window_basis`` and ``reached`` (the
        latter NaN except for the months to a threshold); ``date`` is the window (``start..end``).
    """
    columns = ["series", "scenario", "when", "date", "metric", "runs", "mean", "sd", "low", "high", "reference",
               "pairs", "diff_mean", "diff_low", "diff_high", *SHORT_RUN_COLUMNS]
    if data.model.empty:
        return pd.DataFrame(columns=columns)
    ref_series = _ref_series(data, reference)
    dates = {name: rule_dates(policy) if policy is not None else {} for name, policy in data.policies.items()}
    windows = short_run_windows(dates, ref_series, data.rules_month)
    events = series_events(data)
    for name, w in windows.items():
        w.update(later_windows(events.get(name, {}), w[IN_EFFECT].start) if dates[name].get("takes effect") else {})
    later = max((len(w) - 2 for w in windows.values()), default=0)
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], pd.DataFrame] = {}

    def measures(name: str, w: dict[str, Window]) -> pd.DataFrame:
        key = (name, tuple((a, x.start) for a, x in w.items()))
        if key not in cache:
            cache[key] = short_run_measures(data.model[data.model["series"] == name], w, thresholds)
        return cache[key]

    rows = []
    for name in data.series:
        mine_all = measures(name, windows[name])
        last_month = data.model[data.model["series"] == name].groupby("replicate")["date"].max()
        horizon = str(last_month.max())
        ref_all = measures(ref_series, windows[name]) if ref_series and name != ref_series else None
        for metric, _, kind, anchor in short_run_metrics(thresholds, later):
            if metric not in mine_all.columns or anchor not in windows[name]:
                continue
            window = windows[name][anchor]
            end = add_months(window.start, SHORT_RUN_MONTHS - 1) if metric.startswith(("default", "defaults")) \
                else horizon
            mine = mine_all[metric].astype(float)
            n, mean, sd, low, high = mean_interval(mine.to_numpy())
            # A run that ends before the window starts has no months to a threshold, rather than not reaching it.
            runs = int((last_month >= window.start).sum()) if kind == "months" else n
            row = {"series": name, "scenario": data.series_scenario[name], "when": SHORT_RUN,
                   "date": f"{window.start}..{end}", "metric": metric, "runs": runs, "mean": mean, "sd": sd,
                   "low": low, "high": high, "reference": ref_series or "", "pairs": 0, "diff_mean": math.nan,
                   "diff_low": math.nan, "diff_high": math.nan, "window_start": window.start,
                   "window_basis": window.basis, "reached": float(n) if kind == "months" else math.nan}
            if ref_all is not None and metric in ref_all.columns:
                pairs, dmean, dlow, dhigh = paired_difference(mine, ref_all[metric])
                row.update(pairs=pairs, diff_mean=dmean, diff_low=dlow, diff_high=dhigh)
            rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    ranges = short_run_ranges(data.ranges, later)
    out = clip_bands(out, ranges)
    return clip_bands(out, difference_ranges(ranges), "diff_low", "diff_high")


def _fmt(value: float, kind: str, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    sign = "+" if signed else ""
    if kind == "share":
        return f"{value * 100:{sign}.2f}%" if not signed else f"{value * 100:+.2f} pp"
    if kind == "yuan":
        for threshold, suffix in ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= threshold:
                return f"{value / threshold:{sign}.2f}{suffix}"
        return f"{value:{sign}.0f}"
    if kind == "count":
        return f"{value:{sign},.1f}" if abs(value) < 100 else f"{value:{sign},.0f}"
    return f"{value:{sign}.3g}"


def _interval(low: float, high: float, kind: str, signed: bool = False) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f" [{_fmt(low, kind, signed)}, {_fmt(high, kind, signed)}]"


# ---------------------------------------------------------------------------------------- document
Block = tuple[Any, ...]


def _outcome_tables(summary: pd.DataFrame, data: ReportData, when: str) -> list[Block]:
    kinds = {m: k for m, _, k in OUTCOMES}
    sub = summary[(summary["when"] == when) & summary["metric"].isin(kinds)]  # conc_* rows: the Concentration section
    if sub.empty:
        return []
    labels = {m: label for m, label, _ in OUTCOMES}
    series = [s for s in data.series if s in set(sub["series"])]
    metrics = list(dict.fromkeys(sub["metric"]))
    dates = ", ".join(sorted(set(sub["date"])))
    title = "At the horizon" if when == "horizon" else f"12 months after the rules ({when})"
    blocks: list[Block] = [("h", 3, f"{title}: levels ({dates})"),
                           ("p", "Mean over replications [95% interval: mean ± t·sd/√R]; shares in percent.")]
    rows = []
    for metric in metrics:
        cells = []
        for name in series:
            r = sub[(sub["series"] == name) & (sub["metric"] == metric)]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            cells.append(_fmt(r["mean"], kinds[metric]) + _interval(r["low"], r["high"], kinds[metric]))
        rows.append([f"{labels[metric]} (`{metric}`)", *cells])
    blocks.append(("table", ["outcome", *series], rows))
    ref = sub["reference"].iloc[0]
    others = [s for s in series if s != ref]
    if ref and others:
        blocks.append(("h", 3, f"{title}: difference from {ref}"))
        blocks.append(("p", f"Scenario minus {ref}, paired by replicate (same seed), mean [95% interval]; "
                            "shares in percentage points (pp). An interval that excludes 0 is a difference the "
                            "replications resolve."))
        rows = []
        for metric in metrics:
            cells = []
            for name in others:
                r = sub[(sub["series"] == name) & (sub["metric"] == metric)]
                if r.empty or r.iloc[0]["pairs"] == 0:
                    cells.append("n/a")
                    continue
                r = r.iloc[0]
                cells.append(_fmt(r["diff_mean"], kinds[metric], True)
                             + _interval(r["diff_low"], r["diff_high"], kinds[metric], True))
            rows.append([labels[metric], *cells])
        blocks.append(("table", ["outcome", *others], rows))
    return blocks


def _window_notes(data: ReportData, sub: pd.DataFrame) -> list[str]:
    """Windows the runs do not cover in full: a default window that starts before the runs' first month or ends
    after their last, and exits counted from a rule date before the runs' first month."""
    notes = []
    n = SHORT_RUN_MONTHS
    for name in data.series:
        got = set(data.model.loc[data.model["series"] == name, "date"])
        if not got:
            continue
        first = min(got)
        rows = sub[(sub["series"] == name) & sub["metric"].str.startswith("defaults_")]
        for start in dict.fromkeys(rows["window_start"]):
            covered = len([d for d in got if start <= d <= add_months(start, n - 1)])
            if covered < n:
                notes.append(f"{name}: the runs cover {covered} of the {n} months from {start}.")
        exits = sub[(sub["series"] == name) & sub["metric"].str.endswith("_since_rule")]
        if len(exits) and exits["window_start"].iloc[0] < first:
            notes.append(f"{name}: the runs begin at {first}, after the first rule date "
                         f"{exits['window_start'].iloc[0]}; exits count from {first}.")
    return notes


def _short_run_tables(summary: pd.DataFrame, data: ReportData) -> list[Block]:
    """The "Short run and speed" block: levels per scenario, then differences from the reference."""
    sub = summary[summary["when"] == SHORT_RUN]
    if sub.empty:
        return []
    n = SHORT_RUN_MONTHS
    series = [s for s in data.series if s in set(sub["series"])]
    metrics = [m for m in short_run_metrics(later=later_starts(set(sub["metric"]))) if m[0] in set(sub["metric"])]
    cell = {(r["series"], r["metric"]): r for _, r in sub.iterrows()}

    def group(metric: str, anchor: str) -> str:
        """Rows that share a window: the default windows of each anchor, and the first rule date to the horizon."""
        return anchor if metric.startswith(("default_rate_peak", "defaults_")) else "horizon"

    labels = {FIRST_RULE: f"window: {n} months from the first rule date",
              IN_EFFECT: f"window: {n} months from the first rule in effect",
              "horizon": "window: first rule date to the horizon",
              **{a: f"window: {n} months from the {_ordinal(int(a.split()[1]))} rule start"
                 for _, _, _, a in metrics if a.startswith(LATER_START)}}

    def window_cell(name: str, key: str) -> str:
        r = next((cell[(name, m)] for m, _, _, a in metrics if group(m, a) == key and (name, m) in cell), None)
        return "" if r is None else f"{r['date']} ({r['window_basis']})"

    both = not all(cell[(s, m)]["window_start"] == cell[(s, f"{m}_in_effect")]["window_start"]
                   for s in series for m, _, _, a in metrics
                   if a == FIRST_RULE and (s, m) in cell and (s, f"{m}_in_effect") in cell)
    rows_of = [(m, label, kind, anchor) for m, label, kind, anchor in metrics if both or anchor != IN_EFFECT]
    thresholds = ", ".join(f"{float(m.rsplit('_', 1)[1]):.0%}" for m, _, k, _ in metrics if k == "months")
    in_effect = ", and from the first month a rule of it takes effect" if both else ""
    later_text = (f"Where a rule of a scenario takes effect after its first rule start (a later start, e.g. a "
                  f"crackdown or a deadline), the default measures are repeated over the {n} months from each "
                  f"such month (the 2nd, 3rd ... rule start of that scenario, the rules named with its window); "
                  f"the differences pair the reference over the same months. "
                  if any(a.startswith(LATER_START) for _, _, _, a in metrics) else "")
    blocks: list[Block] = [
        ("h", 2, "Short run and speed"),
        ("p", f"Each scenario is measured from its own first rule date: the first month a rule of it is announced "
              f"or takes effect (which one is stated){in_effect}. "
              f"Defaults: the highest monthly default rate and the new defaults summed over the {n} months from "
              f"that month (default_rate × indebted_borrowers each month, in modelled borrowers, and as a share of "
              f"the indebted borrowers in that month). Speed: months from the first rule date until the head share "
              f"of platform volume first reaches {thresholds} (0: already there at the rule date), the mean over "
              f"the replicates that reach it (how many in parentheses; 'not reached' when none does before the "
              f"horizon). Exits: platforms that exit from the first rule date (included) to the horizon, not from "
              f"the runs' start. A scenario without rules is measured over the window of the rules it is "
              f"compared with. {later_text}Mean over replications [95% interval: mean ± t·sd/√R]; shares in "
              f"percent."),
    ]
    notes = _window_notes(data, sub)
    if notes:
        blocks.append(("ul", notes))

    def level(name: str, metric: str, kind: str) -> str:
        r = cell.get((name, metric))
        if r is None:
            return ""
        if kind != "months":
            return _fmt(r["mean"], kind) + _interval(r["low"], r["high"], kind)
        reached, runs = int(r["reached"]), int(r["runs"])
        if runs == 0:
            return "n/a"
        if reached == 0:
            return f"not reached (0/{runs})"
        return _fmt(r["mean"], kind) + _interval(r["low"], r["high"], kind) + f" ({reached}/{runs})"

    def with_window_rows(names: Sequence[str], cells: Callable[[str, str, str], str],
                         code: bool) -> list[list[str]]:
        rows, last = [], None
        for metric, label, kind, anchor in rows_of:
            key = group(metric, anchor)
            if key != last:
                rows.append([labels[key], *(window_cell(s, key) for s in names)])
                last = key
            rows.append([f"{label} (`{metric}`)" if code else label, *(cells(s, metric, kind) for s in names)])
        return rows

    rows = with_window_rows(series, level, True)
    blocks += [("h", 3, "Short run and speed: levels"), ("table", ["measure", *series], rows)]
    ref = sub["reference"].iloc[0]
    others = [s for s in series if s != ref]
    if not (ref and others):
        return blocks

    def difference(name: str, metric: str, kind: str) -> str:
        r = cell.get((name, metric))
        if r is None or r["pairs"] == 0:
            return "n/a (no pair reaches it)" if kind == "months" and r is not None else "n/a"
        text = _fmt(r["diff_mean"], kind, True) + _interval(r["diff_low"], r["diff_high"], kind, True)
        return text + (f" ({int(r['pairs'])} pairs)" if kind == "months" else "")

    rows = with_window_rows(others, difference, False)
    blocks += [("h", 3, f"Short run and speed: difference from {ref}"),
               ("p", f"Scenario minus {ref}, paired by replicate (same seed), both measured over the scenario's "
                     f"window (the column's window start), mean [95% interval]; shares in percentage points (pp). "
                     f"Months to a threshold: over the pairs in which both reach it. An interval that excludes 0 "
                     f"is a difference the replications resolve."),
               ("table", ["measure", *others], rows)]
    return blocks


def build_blocks(data: ReportData, figures: list[Figure], summary: pd.DataFrame, reference: str | None,
                 out: Path) -> list[Block]:
    """The report as a list of blocks (heading, paragraph, list, table, figure) for both renderers."""
    ok = data.model["run_id"].nunique()
    failed = data.runs[data.runs["status"] != "ok"] if not data.runs.empty else pd.DataFrame()
    dates = sorted(data.model["date"].unique())
    from experiments.store.run_dir import is_run_directory

    kind = "Run directory (zhudai run, read as a batch of one replicate)" if is_run_directory(data.directory) \
        else "Batch directory"
    blocks: list[Block] = [
        ("h", 1, report_title(data)),
        ("p", f"{kind} `{display_path(data.directory)}`: {ok} run(s) ok, {len(failed)} failed; "
              f"{_series_count(data)}; {data.replications} replication(s) per scenario (fewest); months "
              f"{dates[0]} to {dates[-1]}."),
    ]
    if data.is_sweep:
        blocks.append(("p", sweep_note(data)))
    blocks += brief.brief_blocks(summary, store_borrowers(data))
    key = event_key(series_events(data))
    if key:
        blocks.append(("p", "Rules of the scenarios shown (dashed lines in the figures, lettered in date order; "
                            "the scenarios that carry each rule in brackets): "
                            + "; ".join(event_key_items(key, data.series, attrs=series_attrs(data))) + "."))
    notes = list(data.notes)
    if data.replications <= 1:
        notes.append("Only one replication per scenario: figures show single runs without bands, and the tables "
                     "give no intervals. Rerun with --replications 3 or more for 95% intervals.")
    if len(data.series) == 1:
        notes.append("Only one scenario in the store: no differences between scenarios are shown.")
    elif reference is None:
        notes.append("No reference scenario (baseline-2024 is not in the store and --reference was not given): "
                     "no differences are shown.")
    if AFTER_RULES_MONTH not in set(dates):
        notes.append(f"The runs do not reach {AFTER_RULES_MONTH}: the table 12 months after the rules is left out.")
    missing = _needs(data.platforms, "platforms", ["run_id", "step", "date", "platform_id", "tier", "volume"])
    if missing:
        notes.append(f"Section 'Concentration' skipped: {missing}.")
    for figure in figures:
        if figure.skipped:
            notes.append(f"Figure '{figure.title}' skipped: {figure.skipped}.")
    if len(failed):
        notes.append(f"{len(failed)} run(s) failed and are excluded (listed below).")
    if notes:
        blocks += [("h", 2, "Notes"), ("ul", notes)]
    blocks.append(("h", 2, "Outcomes"))
    if reference:
        blocks.append(("p", f"Reference scenario for differences: {reference}."))
    blocks += _outcome_tables(summary, data, "horizon")
    blocks += _outcome_tables(summary, data, AFTER_RULES_MONTH)
    blocks += _national_blocks(summary, data, reference)
    blocks += _short_run_tables(summary, data)
    ref_series = _ref_series(data, reference)
    blocks += conc.concentration_blocks(summary, data.concentration, data.series, ref_series,
                                        data.concentration_whens)
    blocks.append(("h", 2, "Figures"))
    for figure in figures:
        if figure.png is None:
            continue
        rel_png = figure.png.relative_to(out).as_posix()
        rel_csv = figure.csv.relative_to(out).as_posix() if figure.csv else ""
        blocks.append(("h", 3, figure.title))
        blocks.append(("fig", figure.png, rel_png, figure.title))
        blocks.append(("p", figure.caption + (f" Data: `{rel_csv}`." if rel_csv else "")))
    blocks += brief.all_findings_blocks(summary)
    if len(failed):
        blocks.append(("h", 2, "Failed runs"))
        rows = [[str(r.get("run_id", "")), str(r.get("scenario", "")), str(r.get("replicate", "")),
                 str(r.get("seed", "")), str(r.get("error", ""))[:200]] for _, r in failed.iterrows()]
        blocks.append(("table", ["run_id", "scenario", "replicate", "seed", "error"], rows))
    return blocks


def _series_count(data: ReportData) -> str:
    """``2 scenario(s)``, or in a sweep ``2 scenario(s) × 6 sweep point(s) = 12 series``."""
    scenarios = len(set(data.series_scenario.values()))
    if not data.is_sweep:
        return f"{scenarios} scenario(s)"
    points = len(set(data.series_point.values()))
    return f"{scenarios} scenario(s) × {points} sweep point(s) = {len(data.series)} series"


def sweep_note(data: ReportData) -> str:
    """What a sweep's labels mean, stated once: the swept keys in full with their values, the mode, and how a
    column, legend entry or row names its point (``new-rules-2025 · rate_cap.apr=0.12``)."""
    values = {key: list(dict.fromkeys(value_text(v.get(key)) for v in data.series_values.values()))
              for key in data.vary}
    swept = "; ".join(f"`{key}` = {', '.join(values[key])}" for key in data.vary)
    mode = "" if len(data.vary) < 2 else (" (grid: every combination)" if data.mode == "grid"
                                          else " (zip: the i-th values together)")
    example = next((s for s in data.series if data.series_values.get(s)), data.series[0])
    legend = keys_legend(data.vary)
    return (f"Sweep of {swept}{mode}. Every column, legend entry and row names its scenario and sweep point by "
            f"the swept values, e.g. `{example}`" + (f" ({legend})" if legend else "") + "; the figures "
            "'Outcomes against ...' draw each headline outcome against each swept key.")


def title_from_design(design: dict[str, Any], scenarios: Sequence[str], replications: int,
                      borrowers: int | None = None) -> str:
    """The report's title from the store's design: scenarios (named when at most three), the sweep, replications,
    borrowers and root seed, e.g. ``Report: baseline-2024, new-rules-2025 (5 replications, 100,000 borrowers, root
    seed 20251001)``. Values missing from ``design`` come from the arguments (the stored runs); no paths.
    """
    names = [str(s) for s in design.get("scenarios") or scenarios]
    what = ", ".join(names) if len(names) <= 3 else f"{len(names)} scenarios"
    vary = [v for v in design.get("vary") or [] if isinstance(v, list | tuple) and v]
    points = design.get("points")
    if vary:
        count = len(points) if isinstance(points, list) else None
        what += f", a sweep of {', '.join(str(v[0]) for v in vary)}" + (f" ({count} points)" if count else "")
    reps = design.get("replications") or replications
    details = [f"{reps} replication{'s' if reps != 1 else ''}"]
    people = design.get("borrowers") or borrowers
    if people:
        details.append(f"{int(people):,} borrowers")
    if design.get("root_seed") is not None:
        details.append(f"root seed {design['root_seed']}")
    return f"Report: {what} ({', '.join(details)})"


def _run_borrowers(data: ReportData) -> int | None:
    if not data.runs.empty and "borrowers" in data.runs.columns:
        sizes = set(data.runs["borrowers"].dropna())
        return int(sizes.pop()) if len(sizes) == 1 else None
    return None


def store_borrowers(data: ReportData) -> int | None:
    """Modelled borrowers per run: the store's design, else what its runs record (None when they differ)."""
    people = data.design.get("borrowers")
    return int(people) if people else _run_borrowers(data)


def report_title(data: ReportData) -> str:
    """:func:`title_from_design` of a store (its manifest's design, else what its runs record)."""
    scenarios = list(dict.fromkeys(data.series_scenario.values()))
    return title_from_design(data.design, scenarios, data.replications, _run_borrowers(data))


def display_path(path: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None) -> str:
    """A directory as the report prints it: relative to the working directory (``cwd``) when strictly inside it,
    else its name only; never an absolute path (a store in a temporary directory prints as its name)."""
    resolved = Path(path).resolve()
    base = Path(cwd if cwd is not None else Path.cwd()).resolve()
    if base != Path(base.anchor) and base in resolved.parents:
        return resolved.relative_to(base).as_posix()
    return resolved.name or resolved.anchor.strip("/\\") or "."


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as Markdown (figures by relative path)."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "fig":
            lines += [f"![{block[3]}]({block[2]})", ""]
        elif kind == "box":
            lines += [f"> **{block[1]}**", ">"] + [f"> - {item}" for item in block[2]] + [""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1.08em;margin-top:1.4em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
th{white-space:normal;min-width:7em;vertical-align:bottom}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
img{max-width:100%;height:auto;border:1px solid #eee}code{background:#f4f4f4;padding:0 .2em}
table.scorecard{display:table;table-layout:fixed;width:100%;max-width:100%}
table.scorecard th,table.scorecard td{white-space:normal;overflow-wrap:anywhere;font-size:.92em}
.box{border:1px solid #e0b252;border-left:6px solid #e0b252;background:#fff8e6;padding:.4em 1em;margin:1em 0;
max-width:100%;box-sizing:border-box;overflow-wrap:anywhere}.box h3{margin-top:.3em}
"""


def _inline(text: str) -> str:
    """Escape text for HTML, turning `code` spans into <code>."""
    parts = str(text).split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def render_html(blocks: Sequence[Block], title: str) -> str:
    """The blocks as one self-contained HTML page: inline CSS, figures as base64 data URIs."""
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block[2])
            cls = f' class="{html.escape(block[3])}"' if len(block) > 3 else ""
            body.append(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "box":
            items = "".join(f"<li>{_inline(i)}</li>" for i in block[2])
            body.append(f'<div class="box"><h3>{_inline(block[1])}</h3><ul>{items}</ul></div>')
        elif kind == "fig":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(block[3])}" src="data:image/png;base64,{data}"></figure>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# ------------------------------------------------------------------------------------------ entry
@dataclass
class ReportResult:
    """What :func:`write_report` wrote: paths, the figures, the notes of the report."""

    out: Path
    markdown: Path
    html: Path
    summary: Path
    figures: list[Figure]
    notes: list[str]


def write_report(directory: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 reference: str | None = None,
                 progress: Callable[[str], None] | None = None) -> ReportResult:
    """Write the report of a batch directory.

    Args:
        directory: the batch directory.
        out: the report directory (default ``directory/report``); created, files in it replaced.
        reference: scenario for differences; default :data:`DEFAULT_REFERENCE` when it is in the store.
        progress: called with a short message at the start of each step (optional): "loading the store",
            "drawing figures", "computing the tables", "writing report.md", "writing report.html"
            (``benchmarks/bench_report.py`` times the steps by them).

    Returns:
        The paths written.

    Raises:
        ReportError: no results in ``directory``, an unknown ``reference``, or an unusable ``out``.
    """
    from experiments.store.common import atomic_write_text

    say = progress or (lambda _msg: None)
    say("loading the store")
    data = load_report_data(directory)
    out = Path(out) if out is not None else Path(directory) / "report"
    scenarios = list(dict.fromkeys(data.series_scenario.values()))
    if reference is not None and reference not in scenarios:
        raise ReportError(f"--reference {reference}: not in the store (scenarios: {', '.join(scenarios)})")
    if reference is None and DEFAULT_REFERENCE in scenarios:
        reference = DEFAULT_REFERENCE
    if len(data.series) == 1:
        reference = None
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"--out {out}: cannot create it ({err.strerror or err})") from None
    say("drawing figures")
    figures = make_figures(data, out / "figures", reference)
    say("computing the tables")
    summary = outcome_summary(data, reference)
    summary_path = out / "summary.csv"
    atomic_write_text(summary.to_csv(index=False), summary_path)
    say("writing report.md")
    blocks = build_blocks(data, figures, summary, reference, out)
    notes = next((list(b[1]) for i, b in enumerate(blocks)
                  if b[0] == "ul" and i and blocks[i - 1] == ("h", 2, "Notes")), [])
    md_path = atomic_write_text(render_markdown(blocks), out / "report.md")
    say("writing report.html")
    title = report_title(data).replace("Report:", "zhudai report:", 1)
    html_path = atomic_write_text(render_html(blocks, title), out / "report.html")
    return ReportResult(out, Path(md_path), Path(html_path), summary_path, figures, notes)
