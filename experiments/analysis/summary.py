"""Summaries of a batch: each scenario's and sweep point's outcomes at the horizon, with 95% intervals."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from experiments.analysis.stats import mean_interval

if TYPE_CHECKING:
    from experiments.engine.design import ResolvedDesign

#: Horizon outcomes in the summary (model-table columns, read at each run's last month).
SUMMARY_METRICS = (
    "head_share", "hhi", "active_platforms_head", "active_platforms_waist", "active_platforms_tail",
    "platform_exits", "rationed_share", "shadow_volume", "default_rate", "spiral_share", "npl_ratio",
)


def horizon_summary(model: pd.DataFrame, resolved: ResolvedDesign) -> pd.DataFrame:
    """Outcomes at the horizon (each run's last month): mean and 95% interval over replications.

    The interval is mean ± t(0.975, R-1)·sd/√R; with one replication only the mean is given.

    Args:
        model: the batch's model table (key columns included).
        resolved: the design, for the scenario order and sweep keys.

    Returns:
        One row per scenario, sweep point and metric: ``scenario, point, <sweep keys>, metric, runs, mean,
        sd, low, high`` (``sd``, ``low``, ``high`` empty with one run).
    """
    keys = resolved.vary_keys
    columns = ["scenario", "point", *keys, "metric", "runs", "mean", "sd", "low", "high"]
    if model.empty:
        return pd.DataFrame(columns=columns)
    last = model.loc[model.groupby("run_id")["step"].idxmax()]
    metrics = [m for m in SUMMARY_METRICS if m in last.columns]
    order = {name: i for i, name in enumerate(resolved.design.scenarios)}
    rows = []
    for (scenario, point), group in last.groupby(["scenario", "point"], sort=False):
        values = {key: group[key].iloc[0] for key in keys}
        for metric in metrics:
            n, mean, sd, low, high = mean_interval(group[metric].to_numpy(dtype=float))
            rows.append({"scenario": scenario, "point": int(point), **values, "metric": metric, "runs": n,
                         "mean": mean, "sd": sd, "low": low, "high": high})
    df = pd.DataFrame(rows, columns=columns)
    df["_order"] = df["scenario"].map(order).fillna(len(order))
    df["_metric"] = df["metric"].map({m: i for i, m in enumerate(SUMMARY_METRICS)})
    return df.sort_values(["_order", "point", "_metric"], kind="stable").drop(columns=["_order", "_metric"]) \
        .reset_index(drop=True)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def render_summary(summary: pd.DataFrame, resolved: ResolvedDesign) -> str:
    """The summary as text: one block per scenario and sweep point, one line per metric (mean ± half-width)."""
    if summary.empty:
        return "no finished runs to summarize"
    keys = resolved.vary_keys
    lines: list[str] = []
    for (scenario, point), group in summary.groupby(["scenario", "point"], sort=False):
        where = ", ".join(f"{k}={group[k].iloc[0]}" for k in keys)
        runs = int(group["runs"].max())
        lines.append(f"{scenario}" + (f" [point {point}: {where}]" if keys else "") + f"  ({runs} run(s), at horizon)")
        for row in group.itertuples(index=False):
            text = _number(row.mean)
            if row.runs > 1 and not math.isnan(row.high):
                text += f" ± {_number((row.high - row.low) / 2)}"
            lines.append(f"  {row.metric:<24} {text}")
    lines.append("(mean ± half-width of the 95% interval over replications: t(0.975, R-1)·sd/√R)")
    return "\n".join(lines)
