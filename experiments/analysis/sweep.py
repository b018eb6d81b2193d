"""Sweep figures: each headline outcome against each swept lever, with its 95% interval across replicates.

``zhudai report`` of a sweep (``zhudai sweep``, or a design with ``[vary]``) draws ``figures/sweep_<key>.png``
for every swept dotted key with at least two values: a grid of small panels, one per outcome of
:data:`OUTCOMES`, with the lever's value on the x axis.

Window: each run's outcome is its mean over the :data:`~experiments.analysis.borrowers.WINDOW_MONTHS` months from
the rules' start (:attr:`experiments.analysis.report.ReportData.rules_month`, the window of the report's
borrower measures), then the points show the mean over replications and the error bars its 95% interval
mean ± t(0.975, R-1)·sd/√R (:func:`experiments.analysis.stats.mean_interval`).

Lines: in a grid sweep one line per scenario and value of the other swept keys; in a zip sweep (the keys move
together) one line per scenario, the tick labels naming the other keys' values. The reference scenario, when
the store holds it, is drawn dashed and grey-toned: as a horizontal line with its 95% band where the lever leaves
it unchanged (a rule it does not carry), else through its points.

Pure functions of the report's tables; the figures are drawn in :mod:`experiments.analysis.report`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis.borrowers import WINDOW_MONTHS
from experiments.analysis.stats import mean_interval
from experiments.engine.design import LABEL_SEPARATOR, point_label, short_keys, value_text
from model.calendar import add_months

#: Headline outcomes drawn against a lever: (model column, panel title, kind: share, count or yuan).
OUTCOMES: tuple[tuple[str, str, str], ...] = (
    ("head_share", "head share of platform volume", "share"),
    ("active_platforms_waist", "waist platforms active", "count"),
    ("active_platforms_tail", "tail platforms active", "count"),
    ("rationed_share", "rationed share of applicants", "share"),
    ("avg_apr_new", "APR of new licensed loans", "share"),
    ("shadow_volume", "shadow volume (yuan/month)", "yuan"),
    ("default_rate", "default rate (per month)", "share"),
    ("npl_ratio", "NPL ratio", "share"),
    ("spiral_share", "spiral share of indebted borrowers", "share"),
)
#: Relative values closer than this count as one level (a reference the lever leaves unchanged).
_FLAT_TOLERANCE = 1e-9


# ---------------------------------------------------------------------------------------------- tables
def figure_name(key: str) -> str:
    """The file stem of a lever's figure: ``sweep_policy_rate_cap_apr`` for ``policy.rate_cap.apr``."""
    return "sweep_" + re.sub(r"[^0-9A-Za-z]+", "_", key).strip("_")


def window_means(model: pd.DataFrame, metrics: Sequence[str], start: str, months: int = WINDOW_MONTHS) -> pd.DataFrame:
    """Each run's mean of every metric over the ``months`` months from ``start`` (included).

    Returns:
        One row per run that covers a month of the window: ``series, replicate, months`` (months covered) and
        one column per metric.
    """
    end = add_months(start, months - 1)
    inside = model[(model["date"] >= start) & (model["date"] <= end)]
    groups = inside.groupby(["series", "replicate"], sort=False)
    means = groups[list(metrics)].mean()
    return means.assign(months=groups.size()).reset_index()


def lever_table(
    per_run: pd.DataFrame,
    series: Sequence[str],
    series_scenario: Mapping[str, str],
    series_values: Mapping[str, Mapping[str, Any]],
    keys: Sequence[str],
    metrics: Sequence[str],
) -> pd.DataFrame:
    """Mean and 95% interval over replicates of every series and metric of :func:`window_means`.

    Returns:
        One row per series and metric: ``series, scenario, <swept keys>, metric, runs, mean, sd, low, high``.
    """
    rows = []
    for name in series:
        mine = per_run[per_run["series"] == name]
        if mine.empty:
            continue
        values = {key: series_values.get(name, {}).get(key) for key in keys}
        for metric in metrics:
            n, mean, sd, low, high = mean_interval(mine[metric].to_numpy(dtype=float))
            rows.append(
                {
                    "series": name,
                    "scenario": series_scenario.get(name, name),
                    **values,
                    "metric": metric,
                    "runs": n,
                    "mean": mean,
                    "sd": sd,
                    "low": low,
                    "high": high,
                }
            )
    return pd.DataFrame(rows, columns=["series", "scenario", *keys, "metric", "runs", "mean", "sd", "low", "high"])


def sweep_lines(
    series: Sequence[str],
    series_scenario: Mapping[str, str],
    series_values: Mapping[str, Mapping[str, Any]],
    lever: str,
    keys: Sequence[str],
    mode: str,
) -> dict[str, list[str]]:
    """The lines of a lever's figure: line label -> its series in order of the lever's value.

    In a grid sweep a line is a scenario at one value of every other swept key (labelled
    ``scenario · other.key=value``); in a zip sweep, or when only the lever is swept, a scenario.
    """
    others = [k for k in keys if k != lever] if mode == "grid" else []
    short = short_keys(keys)
    lines: dict[str, list[str]] = {}
    for name in series:
        scenario = series_scenario.get(name, name)
        rest = [(k, series_values.get(name, {}).get(k)) for k in others]
        label = scenario + (LABEL_SEPARATOR + point_label(rest, short) if rest else "")
        lines.setdefault(label, []).append(name)
    return lines


def merge_same_lines(
    lines: dict[str, list[str]], table: pd.DataFrame, scenario: str | None, series_scenario: Mapping[str, str]
) -> dict[str, list[str]]:
    """The lines with a scenario's lines merged into one labelled by the scenario alone when they are the same in
    every outcome (the other swept keys leave it unchanged: a reference scenario without the swept rule)."""
    own = [label for label, names in lines.items() if series_scenario.get(names[0]) == scenario]
    if len(own) < 2:
        return lines
    means = [
        table[table["series"].isin(lines[label])].sort_values(["series", "metric"])["mean"].to_numpy(dtype=float)
        for label in own
    ]
    if any(
        len(m) != len(means[0]) or not np.allclose(m, means[0], rtol=_FLAT_TOLERANCE, atol=0.0, equal_nan=True)
        for m in means[1:]
    ):
        return lines
    out: dict[str, list[str]] = {}
    for label, names in lines.items():
        if label not in own:
            out[label] = names
        elif label == own[0]:
            out[str(scenario)] = names
    return out


#: Colours of the lines of a lever's figure (the reference's lines take greys, drawn dashed).
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
REFERENCE_COLOURS = ("#4d4d4d", "#969696", "#252525", "#bdbdbd")


def line_colours(labels: Sequence[str], reference_labels: Sequence[str]) -> dict[str, str]:
    """One colour per line: greys for the reference's lines, distinct hues for the others, in order."""
    out = {}
    others = [label for label in labels if label not in reference_labels]
    for i, label in enumerate(reference_labels):
        out[label] = REFERENCE_COLOURS[i % len(REFERENCE_COLOURS)]
    for i, label in enumerate(others):
        out[label] = LINE_COLOURS[i % len(LINE_COLOURS)]
    return out


def lever_positions(values: Sequence[Any]) -> tuple[dict[str, float], bool]:
    """x position of each distinct lever value (by its text, :func:`~experiments.engine.design.value_text`):
    the value itself when every value is a number (not a boolean), else 0, 1, 2, ... in order of appearance.
    Returns (text -> x, numeric)."""
    distinct = list(dict.fromkeys(values))
    numeric = all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_) for v in distinct
    )
    if numeric:
        return {value_text(v): float(v) for v in distinct}, True
    return {value_text(v): float(i) for i, v in enumerate(dict.fromkeys(value_text(v) for v in distinct))}, False


def is_flat(means: Sequence[float]) -> bool:
    """Whether a line's means are one level (the lever leaves it unchanged): equal within a relative 1e-9."""
    x = np.asarray(means, dtype=float)
    x = x[np.isfinite(x)]
    return len(x) > 0 and float(x.max() - x.min()) <= _FLAT_TOLERANCE * max(1.0, float(np.abs(x).max()))


# ---------------------------------------------------------------------------------------------- captions
def tick_labels(
    lever: str, keys: Sequence[str], mode: str, positions: dict[str, float], table: pd.DataFrame
) -> list[str]:
    """The lever's values; in a zip sweep each with the other keys' values under it (they move together)."""
    others = [k for k in keys if k != lever] if mode == "zip" else []
    short = short_keys(keys)
    labels = []
    for text in positions:
        row = table[table[lever].map(value_text) == text]
        extra = [f"{short[k]}={value_text(row[k].iloc[0])}" for k in others if len(row)]
        labels.append("\n".join([text, *extra]))
    return labels


def sweep_caption(
    lever: str,
    keys: Sequence[str],
    mode: str,
    start: str,
    covered: int,
    replications: int,
    reference: str | None,
    drawn_reference: bool,
) -> str:
    """The caption of a lever's figure: what is on each axis, the window, the interval, the lines."""
    end = add_months(start, WINDOW_MONTHS - 1)
    others = [k for k in keys if k != lever]
    text = (
        f"Headline outcomes against {lever}: each point is one value of the lever, the mean over replications "
        f"of each run's mean over the {WINDOW_MONTHS} months from the rules' start ({start}..{end}), "
    )
    text += (
        "with its 95% interval across replicates (error bars, mean ± t(0.975, R-1)·sd/√R)."
        if replications > 1
        else "one replication, so no interval."
    )
    if covered < WINDOW_MONTHS:
        text += f" The runs cover {covered} of the window's {WINDOW_MONTHS} months."
    if others and mode == "grid":
        text += f" One line per scenario and value of {', '.join(others)} (grid sweep)."
    elif others:
        text += f" Zip sweep: {', '.join(others)} move with {lever}, their values under the ticks."
    if drawn_reference:
        text += (
            f" Dashed: {reference}, the reference scenario; a horizontal line with its 95% band where the lever "
            f"leaves it unchanged."
        )
    else:
        text += " The store holds no reference scenario, so no reference level is drawn."
    return text + " Shares in percent."
