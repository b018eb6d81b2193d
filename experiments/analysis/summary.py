"""Summaries of a batch: each scenario's and sweep point's outcomes at the horizon, with 95% intervals, their
units, and paired differences from a reference scenario.

The reference is ``baseline-2024`` when the design runs it, else the design's first scenario (its first sweep
point when it has several); every other scenario and point is compared with it replicate by replicate (replicate
``i`` has the same seed everywhere), as in the report (:mod:`experiments.analysis.report`).

One schema for every summary table: the batch's ``DIR/summary.csv`` (:func:`horizon_summary`) and the report's
``summary.csv`` (:func:`experiments.analysis.report.outcome_summary`) both come out of :func:`summary_table`, with
the columns of :func:`summary_columns`: a row's series (its label,
:func:`experiments.engine.design.series_label`), scenario, sweep point and one column per swept dotted key, then
``when``, ``date``, the metric and its unit, the level, the paired difference and the short-run window.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from experiments.analysis.stats import mean_interval, paired_difference
from experiments.engine.design import value_text
from experiments.engine.tasks import vary_cell
from model.output import COLUMN_DOCS

if TYPE_CHECKING:
    from experiments.engine.design import ResolvedDesign

#: Horizon outcomes in the summary (model-table columns, read at each run's last month).
SUMMARY_METRICS = (
    "head_share", "hhi", "active_platforms_head", "active_platforms_waist", "active_platforms_tail",
    "platform_exits", "rationed_share", "shadow_volume", "default_rate", "spiral_share", "npl_ratio",
)
#: The reference scenario of the differences when the design runs it (as in the report).
REFERENCE_SCENARIO = "baseline-2024"
#: Columns of every summary table (:func:`summary_table`), the swept keys coming after ``point``.
SUMMARY_COLUMNS = ("series", "scenario", "point", "when", "date", "metric", "unit", "runs", "mean", "sd", "low",
                   "high", "reference", "pairs", "diff_mean", "diff_low", "diff_high", "window_start",
                   "window_basis", "reached")
#: Text columns (empty when a row has nothing to say); the others are numbers (NaN when missing).
_TEXT_COLUMNS = frozenset({"series", "scenario", "when", "date", "metric", "unit", "reference", "window_start",
                           "window_basis"})
#: Columns of :func:`level_rows` (the rest of the schema is added by :func:`summary_table`).
LEVEL_COLUMNS = ("series", "scenario", "when", "date", "metric", "runs", "mean", "sd", "low", "high", "reference",
                 "pairs", "diff_mean", "diff_low", "diff_high")
#: ``when`` of rows read at each run's last month.
HORIZON = "horizon"
#: Units whose values are fractions, shown in percent (differences in percentage points): unit -> shown unit.
PERCENT_UNITS = {"share 0-1": "%", "share 0-1 per month": "%/month", "1/yr": "%/yr"}
_SHOWN_UNITS = {"0-10000": "0-10,000"}
#: A valid range, ``(low, high)``; either end may be infinite.
Range = tuple[float, float]


#: Units of ``model.output.COLUMN_DOCS`` that count things or measure amounts and rates: never below 0.
_NON_NEGATIVE_UNITS = frozenset({"platforms", "funders", "borrowers", "yuan", "1/yr", "share of income", "log SD"})
#: Columns that go below 0 (or above 1) whatever their unit says: profit and capital (losses), and the margins
#: profit / volume (``platform_margin`` is documented as "share 0-1" but is negative in a loss-making month).
_SIGNED_COLUMNS = frozenset({"profit", "capital", "margin", "platform_margin"})


def unit_range(unit: str) -> Range | None:
    """The valid range a column's unit implies (``model.output.COLUMN_DOCS``), or None when it bounds nothing.

    ``share 0-1`` (also ``... per month``) -> [0, 1]; ``0-10000`` (HHI) -> [0, 10000]; counts (platforms, funders,
    borrowers), yuan, rates (1/yr), debt service to income and log SDs -> [0, inf); anything else -> None.
    """
    if unit.startswith("share 0-1"):
        return (0.0, 1.0)
    if unit == "0-10000":
        return (0.0, 10000.0)
    if unit in _NON_NEGATIVE_UNITS:
        return (0.0, math.inf)
    return None


def valid_ranges(table: str = "model") -> dict[str, Range]:
    """Column -> valid range of one output table, from the units in ``model.output.COLUMN_DOCS``.

    Columns whose unit bounds nothing (labels, ids, dates, plain shares) and the signed columns (profit, capital,
    margins) are left out: they take any value.
    """
    ranges = {}
    for column, (unit, _meaning) in COLUMN_DOCS[table].items():
        bounds = unit_range(unit)
        if bounds is not None and column not in _SIGNED_COLUMNS:
            ranges[column] = bounds
    return ranges


def clip_bands(bands: pd.DataFrame, ranges: dict[str, Range], low: str = "low", high: str = "high") -> pd.DataFrame:
    """A band table with ``low`` and ``high`` clipped to each metric's valid range (metrics not in ``ranges``
    and NaNs are left as they are; the mean and sd are not changed)."""
    if bands.empty:
        return bands.copy()
    lo = bands["metric"].map(lambda m: ranges.get(m, (-math.inf, math.inf))[0]).astype(float)
    hi = bands["metric"].map(lambda m: ranges.get(m, (-math.inf, math.inf))[1]).astype(float)
    out = bands.copy()
    for column in (low, high):
        out[column] = out[column].astype(float).clip(lower=lo, upper=hi)
    return out


def difference_ranges(ranges: dict[str, Range]) -> dict[str, Range]:
    """Valid ranges of the difference of two values of each metric: [lo - hi, hi - lo]."""
    return {m: (lo - hi, hi - lo) for m, (lo, hi) in ranges.items()}


def reference_scenario(scenarios: Sequence[str]) -> str | None:
    """The scenario differences are taken from: :data:`REFERENCE_SCENARIO` if listed, else the first; None if
    there is no scenario."""
    if not scenarios:
        return None
    return REFERENCE_SCENARIO if REFERENCE_SCENARIO in scenarios else scenarios[0]


def metric_unit(metric: str) -> str:
    """A model column's unit as documented in ``COLUMN_DOCS`` (empty if undocumented)."""
    return COLUMN_DOCS["model"].get(metric, ("", ""))[0]


def shown_unit(unit: str) -> str:
    """The unit a value is printed in: percent for fractions (:data:`PERCENT_UNITS`), else the unit itself."""
    return PERCENT_UNITS.get(unit, _SHOWN_UNITS.get(unit, unit))


def format_value(value: float, unit: str, *, signed: bool = False) -> str:
    """A value in its unit's printed form (the unit itself is printed apart, see :func:`shown_unit`).

    Fractions are shown in percent with two decimals, yuan with a k/M/bn/tn suffix, counts and indices with one
    decimal below 100 and as whole numbers (thousands separated) above; anything else with 4 significant digits.
    ``signed`` prefixes a + to positive values (for differences). NaN is ``n/a``.
    """
    if value is None or math.isnan(value):
        return "n/a"
    sign = "+" if signed else ""
    if unit in PERCENT_UNITS:
        return f"{value * 100:{sign}.2f}"
    if unit == "yuan":
        for threshold, suffix in ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= threshold:
                return f"{value / threshold:{sign}.2f}{suffix}"
        return f"{value:{sign}.0f}"
    if unit in ("platforms", "funders", "borrowers", "0-10000"):
        return f"{value:{sign},.1f}" if abs(value) < 100 else f"{value:{sign},.0f}"
    return f"{value:{sign}.4g}"


def format_level(mean: float, low: float, high: float, unit: str) -> str:
    """``mean ± half-width`` of a 95% interval; ``mean [low, high]`` when the interval is not symmetric about the
    mean (clipped to the metric's valid range, :func:`clip_bands`); the mean alone without an interval."""
    text = format_value(mean, unit)
    if math.isnan(low) or math.isnan(high):
        return text
    if math.isclose(mean - low, high - mean, rel_tol=1e-9, abs_tol=1e-12):
        return f"{text} ± {format_value((high - low) / 2, unit)}"
    return f"{text} [{format_value(low, unit)}, {format_value(high, unit)}]"


def format_difference(mean: float, low: float, high: float, unit: str) -> str:
    """A paired difference, ``+1.23 pp [0.50, 1.96]`` (percentage points for fractions), interval if any."""
    suffix = " pp" if unit in PERCENT_UNITS else ""
    text = format_value(mean, unit, signed=True) + suffix
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{format_value(low, unit, signed=True)}, {format_value(high, unit, signed=True)}]"
    return text


def _span(values: Sequence[str]) -> str:
    dates = sorted(set(values))
    if not dates:
        return ""
    return dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"


def summary_columns(keys: Sequence[str] = ()) -> list[str]:
    """The columns of a summary table: :data:`SUMMARY_COLUMNS` with one column per swept key after ``point``."""
    at = SUMMARY_COLUMNS.index("point") + 1
    return [*SUMMARY_COLUMNS[:at], *keys, *SUMMARY_COLUMNS[at:]]


def summary_table(rows: pd.DataFrame, points: Mapping[str, int], values: Mapping[str, Mapping[str, Any]],
                  keys: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of a summary in the one schema of :func:`summary_columns`: both ``summary.csv`` files are made here.

    Args:
        rows: one row per series, ``when`` and metric with any of :data:`SUMMARY_COLUMNS` (``series`` required).
        points: series -> its sweep point's index (0 when absent).
        values: series -> ``{swept key: value}`` of its point.
        keys: the swept dotted keys, in design order.

    Returns:
        The rows with every column of :func:`summary_columns` in order: ``point`` and the swept values from the
        series, ``unit`` as documented in ``COLUMN_DOCS`` where the row gives none (:func:`metric_unit`), text
        cells a row lacks empty (``""``), number cells NaN (``pairs`` 0).
    """
    out = rows.copy()
    out["point"] = out["series"].map(lambda s: int(points.get(s, 0))) if len(out) else pd.Series(dtype=int)
    for key in keys:
        out[key] = out["series"].map(lambda s, k=key: vary_cell(values.get(s, {}).get(k)))
    for column in SUMMARY_COLUMNS:
        if column not in out.columns:
            out[column] = 0 if column == "pairs" else "" if column in _TEXT_COLUMNS else math.nan
        elif column in _TEXT_COLUMNS:
            out[column] = out[column].map(_text)
    out["pairs"] = out["pairs"].fillna(0)
    out["unit"] = out["unit"].where(out["unit"] != "", out["metric"].map(metric_unit)) if len(out) else out["unit"]
    return out[summary_columns(keys)].reset_index(drop=True)


def level_rows(at: pd.DataFrame, series: Sequence[str], series_scenario: Mapping[str, str], ref_series: str | None,
               metrics: Sequence[str], when: str) -> pd.DataFrame:
    """Levels and paired differences of outcomes read at one moment of every run.

    Args:
        at: one row per run: ``series``, ``replicate``, ``date`` and the metrics.
        series: series in display order (those without a row in ``at`` are left out).
        series_scenario: series -> scenario.
        ref_series: the series differences are taken from (None: no differences).
        metrics: the metric columns, in row order.
        when: the rows' ``when``.

    Returns:
        One row per series and metric: ``series, scenario, when, date, metric, runs, mean, sd, low, high,
        reference, pairs, diff_mean, diff_low, diff_high``. The interval is mean ± t(0.975, R-1)·sd/√R
        (:func:`~experiments.analysis.stats.mean_interval`); the difference pairs runs by replicate
        (:func:`~experiments.analysis.stats.paired_difference`), left empty for the reference itself.
    """
    ref = at[at["series"] == ref_series].set_index("replicate") if ref_series else None
    rows = []
    for name in series:
        group = at[at["series"] == name]
        if group.empty:
            continue
        date = _span(group["date"].astype(str)) if "date" in group.columns else ""
        mine = group.set_index("replicate")
        for metric in metrics:
            n, mean, sd, low, high = mean_interval(group[metric].to_numpy(dtype=float))
            row = {"series": name, "scenario": series_scenario.get(name, name), "when": when, "date": date,
                   "metric": metric, "runs": n, "mean": mean, "sd": sd, "low": low, "high": high,
                   "reference": ref_series or "", "pairs": 0, "diff_mean": math.nan, "diff_low": math.nan,
                   "diff_high": math.nan}
            if ref is not None and name != ref_series:
                pairs, dmean, dlow, dhigh = paired_difference(mine[metric], ref[metric])
                row.update(pairs=pairs, diff_mean=dmean, diff_low=dlow, diff_high=dhigh)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(LEVEL_COLUMNS))


def horizon_summary(model: pd.DataFrame, resolved: ResolvedDesign) -> pd.DataFrame:
    """Outcomes at the horizon (each run's last month): mean and 95% interval over replications, and the paired
    difference from the reference.

    The interval is mean ± t(0.975, R-1)·sd/√R, clipped to the metric's valid range as in the report
    (:func:`valid_ranges`; a difference to :func:`difference_ranges`); with one replication only the mean is
    given. The reference is :func:`reference_scenario` of the design at its first sweep point; differences are per
    replicate, then
    mean ± t·sd/√n over the pairs, and left empty for the reference itself and when it has no finished run.

    Args:
        model: the batch's model table (key columns included).
        resolved: the design, for the scenario order, sweep keys and reference.

    Returns:
        One row per scenario, sweep point and metric in the schema of :func:`summary_table` (``when`` =
        ``horizon``; ``sd``, ``low``, ``high`` empty with one run; ``unit`` as documented in ``COLUMN_DOCS``,
        values unscaled; ``date`` the horizon month(s); ``series`` and ``reference`` the series' labels,
        e.g. ``new-rules-2025 · rate_cap.apr=0.12`` in a sweep; the short-run window columns empty).
    """
    keys = resolved.vary_keys
    labels = resolved.series_labels()
    points = {label: point for (_, point), label in labels.items()}
    values = {labels[(s, i)]: dict(point) for s in resolved.design.scenarios for i, point in enumerate(resolved.points)}
    if model.empty:
        return summary_table(pd.DataFrame(columns=["series"]), points, values, keys)
    last = model.loc[model.groupby("run_id")["step"].idxmax()]
    last = last.assign(series=[labels.get((s, int(p)), s) for s, p in zip(last["scenario"], last["point"],
                                                                         strict=True)])
    series = [label for label in labels.values() if label in set(last["series"])]
    series += [s for s in dict.fromkeys(last["series"]) if s not in series]
    ref_scenario = reference_scenario(list(resolved.design.scenarios))
    ref_series = labels.get((ref_scenario, 0)) if ref_scenario is not None and len(series) > 1 else None
    metrics = [m for m in SUMMARY_METRICS if m in last.columns]
    scenario_of = dict(zip(last["series"], last["scenario"], strict=False))
    ranges = valid_ranges("model")
    rows = clip_bands(level_rows(last, series, scenario_of, ref_series, metrics, HORIZON), ranges)
    rows = clip_bands(rows, difference_ranges(ranges), "diff_low", "diff_high")
    return summary_table(rows, points, values, keys)


def render_summary(summary: pd.DataFrame, resolved: ResolvedDesign) -> str:
    """The summary as text: one block per scenario and sweep point, one line per metric with its unit, the mean
    ± the half-width of its 95% interval, and the paired difference from the reference [95% interval]."""
    if summary.empty:
        return "no finished runs to summarize"
    keys = resolved.vary_keys
    reference = _text(summary["reference"].iloc[0]) if "reference" in summary.columns else ""
    lines: list[str] = []
    for (scenario, point), group in summary.groupby(["scenario", "point"], sort=False):
        where = ", ".join(f"{k}={value_text(group[k].iloc[0])}" for k in keys)
        runs = int(group["runs"].max())
        date = _text(group["date"].iloc[0]) if "date" in group.columns else ""
        is_reference = bool(reference) and reference == _text(group["series"].iloc[0])
        lines.append(f"{scenario}" + (f" [point {point}: {where}]" if keys else "")
                     + f"  ({runs} run(s); at the horizon{', ' + date if date else ''})"
                     + ("; the reference" if is_reference else ""))
        level_header = "mean ± 95% half-width" if runs > 1 else "mean"
        diff_header = f"minus {reference} [95% interval]" if reference and not is_reference else ""
        lines.append(f"  {'outcome':<23} {'unit':<10} {level_header:<22}  {diff_header}".rstrip())
        for row in group.itertuples(index=False):
            unit = _text(getattr(row, "unit", "")) or metric_unit(row.metric)
            text = f"  {row.metric:<23} {shown_unit(unit):<10} {format_level(row.mean, row.low, row.high, unit):<22}"
            if diff_header:
                pairs = int(row.pairs)
                text += "  " + (format_difference(row.diff_mean, row.diff_low, row.diff_high, unit) if pairs
                                else "n/a (no paired replicate)")
                if 0 < pairs < row.runs:
                    text += f" ({pairs} pairs)"
            lines.append(text.rstrip())
    notes = ("Mean ± half-width of its 95% interval over replications, t(0.975, R-1)·sd/√R, or mean [low, high] "
             "where the interval is clipped to the outcome's valid range (shares 0-100%, counts from 0); shares in "
             "percent.")
    if reference:
        notes += (f" Differences: minus {reference}, paired by replicate (same seeds), mean [95% interval]; "
                  "shares in percentage points (pp).")
    lines += textwrap.wrap(notes, width=100)
    return "\n".join(lines)


def _text(value: object) -> str:
    """A summary cell as text; empty for a missing value (NaN once read back from CSV)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
