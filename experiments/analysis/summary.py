"""Summaries of a batch: each scenario's and sweep point's outcomes at the horizon, with 95% intervals, their
units, and paired differences from a reference scenario.

The reference is ``baseline-2024`` when the design runs it, else the design's first scenario (its first sweep
point when it has several); every other scenario and point is compared with it replicate by replicate (replicate
``i`` has the same seed everywhere), as in the report (:mod:`experiments.analysis.report`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from experiments.analysis.stats import mean_interval, paired_difference
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
#: Columns of the summary (``summary.csv``), the sweep keys coming after ``point``.
LEVEL_COLUMNS = ("scenario", "point", "metric", "runs", "mean", "sd", "low", "high")
EXTRA_COLUMNS = ("unit", "date", "reference", "pairs", "diff_mean", "diff_low", "diff_high")
#: Units whose values are fractions, shown in percent (differences in percentage points): unit -> shown unit.
PERCENT_UNITS = {"share 0-1": "%", "share 0-1 per month": "%/month", "1/yr": "%/yr"}
_SHOWN_UNITS = {"0-10000": "0-10,000"}


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
    """``mean ± half-width`` of a 95% interval, or the mean alone without an interval."""
    text = format_value(mean, unit)
    if not (math.isnan(low) or math.isnan(high)):
        text += f" ± {format_value((high - low) / 2, unit)}"
    return text


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


def horizon_summary(model: pd.DataFrame, resolved: ResolvedDesign) -> pd.DataFrame:
    """Outcomes at the horizon (each run's last month): mean and 95% interval over replications, and the paired
    difference from the reference.

    The interval is mean ± t(0.975, R-1)·sd/√R; with one replication only the mean is given. The reference is
    :func:`reference_scenario` of the design at its first sweep point; differences are per replicate, then
    mean ± t·sd/√n over the pairs, and left empty for the reference itself and when it has no finished run.

    Args:
        model: the batch's model table (key columns included).
        resolved: the design, for the scenario order, sweep keys and reference.

    Returns:
        One row per scenario, sweep point and metric: ``scenario, point, <sweep keys>, metric, runs, mean, sd,
        low, high, unit, date, reference, pairs, diff_mean, diff_low, diff_high`` (``sd``, ``low``, ``high``
        empty with one run; ``unit`` as documented in ``COLUMN_DOCS``, values unscaled; ``date`` the horizon
        month(s); ``reference`` the reference's name, ``scenario`` or ``scenario [point 0]`` in a sweep).
    """
    keys = resolved.vary_keys
    columns = [*LEVEL_COLUMNS[:2], *keys, *LEVEL_COLUMNS[2:], *EXTRA_COLUMNS]
    if model.empty:
        return pd.DataFrame(columns=columns)
    last = model.loc[model.groupby("run_id")["step"].idxmax()]
    metrics = [m for m in SUMMARY_METRICS if m in last.columns]
    scenarios = list(resolved.design.scenarios)
    order = {name: i for i, name in enumerate(scenarios)}
    series = last.groupby(["scenario", "point"], sort=False)
    ref_scenario = reference_scenario(scenarios)
    ref_key = (ref_scenario, 0)
    ref_name = "" if ref_scenario is None or series.ngroups < 2 else \
        ref_scenario + (" [point 0]" if len(resolved.points) > 1 else "")
    ref = None
    if ref_name and ref_key in series.groups:
        ref = series.get_group(ref_key).set_index("replicate")
    rows = []
    for (scenario, point), group in series:
        values = {key: group[key].iloc[0] for key in keys}
        date = _span(group["date"].astype(str)) if "date" in group.columns else ""
        mine = group.set_index("replicate")
        for metric in metrics:
            n, mean, sd, low, high = mean_interval(group[metric].to_numpy(dtype=float))
            pairs, dmean, dlow, dhigh = 0, math.nan, math.nan, math.nan
            if ref is not None and (scenario, int(point)) != ref_key:
                pairs, dmean, dlow, dhigh = paired_difference(mine[metric], ref[metric])
            rows.append({"scenario": scenario, "point": int(point), **values, "metric": metric, "runs": n,
                         "mean": mean, "sd": sd, "low": low, "high": high, "unit": metric_unit(metric),
                         "date": date, "reference": ref_name, "pairs": pairs, "diff_mean": dmean,
                         "diff_low": dlow, "diff_high": dhigh})
    df = pd.DataFrame(rows, columns=columns)
    df["_order"] = df["scenario"].map(order).fillna(len(order))
    df["_metric"] = df["metric"].map({m: i for i, m in enumerate(SUMMARY_METRICS)})
    return df.sort_values(["_order", "point", "_metric"], kind="stable").drop(columns=["_order", "_metric"]) \
        .reset_index(drop=True)


def render_summary(summary: pd.DataFrame, resolved: ResolvedDesign) -> str:
    """The summary as text: one block per scenario and sweep point, one line per metric with its unit, the mean
    ± the half-width of its 95% interval, and the paired difference from the reference [95% interval]."""
    if summary.empty:
        return "no finished runs to summarize"
    keys = resolved.vary_keys
    reference = _text(summary["reference"].iloc[0]) if "reference" in summary.columns else ""
    lines: list[str] = []
    for (scenario, point), group in summary.groupby(["scenario", "point"], sort=False):
        where = ", ".join(f"{k}={group[k].iloc[0]}" for k in keys)
        runs = int(group["runs"].max())
        date = _text(group["date"].iloc[0]) if "date" in group.columns else ""
        is_reference = reference in (scenario, f"{scenario} [point {point}]")
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
    notes = "Mean ± half-width of its 95% interval over replications, t(0.975, R-1)·sd/√R; shares in percent."
    if reference:
        notes += (f" Differences: minus {reference}, paired by replicate (same seeds), mean [95% interval]; "
                  "shares in percentage points (pp).")
    lines += textwrap.wrap(notes, width=100)
    return "\n".join(lines)


def _text(value: object) -> str:
    """A summary cell as text; empty for a missing value (NaN once read back from CSV)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
