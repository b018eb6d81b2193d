"""What a calibration fits and what it moves: moments files, parameter files and the loss (pure functions).

A **moments file** lists levels of the industry before any rule, each read from one model-table column over a
window of months::

    description = "..."
    window = ["2024-01", "2024-12"]       # default window of every moment (optional)

    [[moment]]
    name = "cr5"                          # unique label (defaults to the metric)
    metric = "cr5"                        # a numeric column of the model table (docs/reference/outputs.md)
    stat = "mean"                         # "mean" over the window (default), "end": value at its last month, or
                                          # "change": mean of its last 3 months minus mean of its first 3
    window = ["2024-01", "2024-12"]       # optional; else the file's window
    value = 0.75                          # the observed level ...
    tolerance = 0.05                      # ... and how far from it the model may be (> 0)
    # or: band = [0.70, 0.80]             # an observed range: value = its middle, tolerance = half its width
    weight = 1.0                          # optional (default 1)
    source = "quoted source"              # required: where the value comes from

The loss of a parameter point is ``sum(weight * ((model - value) / tolerance)^2)`` over the moments, the
model's value being the mean over the point's replicates (common random numbers: the same seeds at every
point). A moment is "within tolerance" when ``|model - value| <= tolerance``. Reading the tolerance as the
standard error of the observed level makes the loss a chi-square statistic, which
:mod:`experiments.calibration.profile` uses for its intervals.

Moments describe the industry **before** the rules: a window must end before the scenario's rules take effect
(:func:`experiments.analysis.rules.rules_start`) and before any rule of the scenario is announced. Responses to
the rules are validation targets (``experiments/targets.toml``), never moments.

A **parameter file** names what the calibration moves, each with its search range::

    [params]
    "channels.spend_returns" = [0.3, 0.8]     # a scalar parameter
    "borrowers.hazard[2]" = [0.02, 0.08]      # one element of a list parameter (0-based)

Every problem of a file is reported together in one :class:`CalibrationError` (a ConfigError: exit 2).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.calendar import parse_month
from model.config import ConfigError

STATS = ("mean", "end", "change")
#: Months averaged at each end of the window by the ``change`` statistic.
CHANGE_MONTHS = 3
MOMENT_KEYS = ("name", "metric", "stat", "window", "value", "tolerance", "band", "weight", "source")
MOMENTS_FILE_KEYS = ("description", "window", "moment")
#: Column names of the calibration's own tables, which a moment's name may not take.
RESERVED_NAMES = ("trial", "state", "origin", "loss", "search_loss", "param", "value", "point", "replicate",
                  "run_id", "scenario", "seed")
_ELEMENT = re.compile(r"^(?P<key>[A-Za-z0-9_.]+)\[(?P<index>[0-9]+)\]$")


class CalibrationError(ConfigError):
    """An invalid moments or parameter file, or a calibration that cannot start (exit status 2)."""

    subject, unnamed = "calibration input", "{n} calibration {noun}:"


# ------------------------------------------------------------------------------------------- moments
@dataclass(frozen=True)
class Moment:
    """One observed level the model should reproduce.

    Attributes:
        name: unique label.
        metric: model-table column.
        stat: ``"mean"`` over the window, ``"end"`` (value at the window's last month) or ``"change"`` (mean of
            the window's last :data:`CHANGE_MONTHS` months minus the mean of its first ones: a drift).
        window: first and last month, ``YYYY-MM``.
        value: observed level.
        tolerance: allowed distance (> 0), the loss's unit.
        weight: weight in the loss (>= 0).
        source: where the value comes from.
    """

    name: str
    metric: str
    stat: str
    window: tuple[str, str]
    value: float
    tolerance: float
    weight: float
    source: str


@dataclass(frozen=True)
class Moments:
    """A moments file: its moments, in file order, and its description."""

    moments: tuple[Moment, ...]
    description: str = ""
    path: str = ""

    @property
    def last_month(self) -> str:
        """The latest month any moment reads."""
        return max((m.window[1] for m in self.moments), key=parse_month)

    @property
    def first_month(self) -> str:
        """The earliest month any moment reads."""
        return min((m.window[0] for m in self.moments), key=parse_month)


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    label = os.fsdecode(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8")), label
    except FileNotFoundError:
        raise CalibrationError([f"{label}: no such file"], label) from None
    except IsADirectoryError:
        raise CalibrationError([f"{label}: is a directory, not a file"], label) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise CalibrationError([f"{label}: cannot read ({err})"], label) from None


def _window(value: Any, where: str, problems: list[str]) -> tuple[str, str] | None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        problems.append(f"{where} = {value!r}: must be [\"YYYY-MM\", \"YYYY-MM\"]")
        return None
    try:
        first, last = parse_month(value[0]), parse_month(value[1])
    except ValueError as err:
        problems.append(f"{where} = {value!r}: {err}")
        return None
    if first > last:
        problems.append(f"{where} = {value!r}: the first month is after the last")
        return None
    return value[0], value[1]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_moments(data: Mapping[str, Any], label: str = "moments") -> Moments:
    """Validate the data of a moments file (every problem at once).

    Raises:
        CalibrationError: listing every problem.
    """
    from model.output import MODEL_COLUMNS

    problems: list[str] = []
    for key in data:
        if key not in MOMENTS_FILE_KEYS:
            problems.append(f"{key}: unknown key (a moments file has {', '.join(MOMENTS_FILE_KEYS)})")
    default_window = _window(data["window"], "window", problems) if "window" in data else None
    items = data.get("moment")
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
        problems.append("needs at least one [[moment]] table")
        raise CalibrationError(problems, label)
    numeric = {c for c in MODEL_COLUMNS if c not in ("step", "date")}
    out: list[Moment] = []
    for n, item in enumerate(items, start=1):
        where = f"moment {n}" + (f" ({item['name']})" if isinstance(item.get("name"), str) else "")
        before = len(problems)
        for key in item:
            if key not in MOMENT_KEYS:
                problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(MOMENT_KEYS)})")
        metric = item.get("metric")
        if not isinstance(metric, str):
            problems.append(f"{where}: needs metric = \"<model-table column>\"")
        elif metric not in numeric:
            problems.append(f"{where}: metric {metric!r} is not a numeric model-table column "
                            "(docs/reference/outputs.md)")
        name = item.get("name", metric)
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: name must be a non-empty string")
        elif name in RESERVED_NAMES:
            problems.append(f"{where}: name {name!r} is reserved (a column of the calibration's tables: "
                            f"{', '.join(RESERVED_NAMES)}); give the moment another name")
        stat = item.get("stat", "mean")
        if stat not in STATS:
            problems.append(f"{where}: stat = {stat!r} must be one of {', '.join(STATS)}")
        if "window" in item:
            window = _window(item["window"], f"{where}: window", problems)
        elif default_window is None:
            window = None
            problems.append(f"{where}: needs a window (or give the file a top-level window)")
        else:
            window = default_window
        value, tolerance = item.get("value"), item.get("tolerance")
        if "band" in item:
            band = item["band"]
            if "value" in item or "tolerance" in item:
                problems.append(f"{where}: give either band or value and tolerance, not both")
            elif not (isinstance(band, list) and len(band) == 2 and all(_number(b) for b in band)
                      and band[0] < band[1]):
                problems.append(f"{where}: band = {band!r} must be [low, high] with low < high")
            else:
                value, tolerance = (band[0] + band[1]) / 2, (band[1] - band[0]) / 2
        else:
            if not _number(value):
                problems.append(f"{where}: needs value = <number> (or band = [low, high])")
            if not (_number(tolerance) and tolerance > 0):
                problems.append(f"{where}: needs tolerance = <number > 0>, got {tolerance!r}")
        weight = item.get("weight", 1.0)
        if not (_number(weight) and weight >= 0):
            problems.append(f"{where}: weight = {weight!r} must be a number >= 0")
        source = item.get("source")
        if not (isinstance(source, str) and source.strip()):
            problems.append(f"{where}: needs source = \"...\" (where the observed value comes from)")
        if len(problems) == before:
            out.append(Moment(name, metric, stat, window, float(value), float(tolerance), float(weight),
                              source.strip()))
    names = [m.name for m in out]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"moment name {name!r} is used twice (give each a distinct name)")
    if out and not any(m.weight > 0 for m in out):
        problems.append("every moment has weight 0: nothing to fit")
    if problems:
        raise CalibrationError(problems, label)
    description = data.get("description", "")
    return Moments(tuple(out), description if isinstance(description, str) else "", label)


def load_moments(path: str | os.PathLike[str]) -> Moments:
    """Read and validate a moments file.

    Raises:
        CalibrationError: if it cannot be read or any entry is invalid.
    """
    data, label = _read(path)
    return parse_moments(data, label)


def check_moments_against(moments: Moments, start: str, last: str, rules: str | None,
                          announced: str | None) -> list[str]:
    """Problems of moment windows against a scenario: within its recorded months and before any rule.

    Args:
        moments: the moments.
        start: the scenario's first recorded month.
        last: its last recorded month at the horizon the calibration would run.
        rules: the month its rules take effect, or None for a scenario that switches no rule on (the world
            without new rules, where every recorded month is before the rules).
        announced: the earliest month a rule of the scenario is announced, or None.
    """
    problems = []
    if rules is None:
        limit = parse_month(last) + 1
    else:
        limit = parse_month(rules) if announced is None else min(parse_month(rules), parse_month(announced))
    for m in moments.moments:
        first, end = parse_month(m.window[0]), parse_month(m.window[1])
        if first < parse_month(start) or end > parse_month(last):
            problems.append(f"moment {m.name}: window {m.window[0]}..{m.window[1]} lies outside the simulated "
                            f"months {start}..{last}")
        if end >= limit:
            why = f"take effect in {rules}" if announced is None or parse_month(rules) <= parse_month(announced) \
                else f"are announced in {announced}"
            problems.append(f"moment {m.name}: window ends {m.window[1]}, but the scenario's rules {why}; moments "
                            "describe the industry before any rule (responses to the rules are validation "
                            "targets, experiments/targets.toml)")
    return problems


def run_moments(model: pd.DataFrame, moments: Moments) -> dict[str, float]:
    """Every moment's value in one run's model table (NaN when its window holds no month)."""
    out = {}
    dates = model["date"].astype(str)
    for m in moments.moments:
        inside = model.loc[(dates >= m.window[0]) & (dates <= m.window[1]), m.metric]
        if inside.empty:
            out[m.name] = math.nan
        elif m.stat == "end":
            out[m.name] = float(inside.iloc[-1])
        elif m.stat == "change":
            k = min(CHANGE_MONTHS, len(inside))
            out[m.name] = float(inside.iloc[-k:].mean() - inside.iloc[:k].mean())
        else:
            out[m.name] = float(inside.mean())
    return out


def point_moments(model: pd.DataFrame, moments: Moments) -> pd.DataFrame:
    """Per run moments of a batch's model table: one row per run (``point``, ``replicate``, moments...)."""
    rows = []
    for (point, replicate), run in model.groupby(["point", "replicate"], sort=True):
        rows.append({"point": int(point), "replicate": int(replicate), **run_moments(run, moments)})
    return pd.DataFrame(rows)


def distances(values: Mapping[str, float], moments: Moments) -> dict[str, float]:
    """Each moment's standardized distance ``(value - observed) / tolerance`` (NaN where its value is missing)."""
    return {m.name: (values.get(m.name, math.nan) - m.value) / m.tolerance for m in moments.moments}


def loss(values: Mapping[str, float], moments: Moments) -> float:
    """The weighted sum of squared standardized distances (inf when a moment is missing)."""
    z = distances(values, moments)
    if not all(math.isfinite(v) for v in z.values()):
        return math.inf
    return sum(m.weight * z[m.name] ** 2 for m in moments.moments)


def implausibility(values: Mapping[str, float], moments: Moments) -> tuple[float, str]:
    """How far a point's moments lie from the observed levels, in tolerances: the largest ``|value - observed| /
    tolerance`` over the moments, and that moment's name (inf and the first missing moment's name when a value is
    missing). History matching's implausibility measure: a point whose largest distance exceeds 3 is ruled out
    as a description of the observed world (Pukelsheim's three-sigma rule).
    """
    z = distances(values, moments)
    missing = [name for name, v in z.items() if not math.isfinite(v)]
    if missing:
        return math.inf, missing[0]
    worst = max(z, key=lambda name: abs(z[name]))
    return abs(z[worst]), worst


# ----------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class CalParam:
    """A parameter the calibration moves: a scalar key or one element of a list parameter.

    Attributes:
        name: as written in the file (``key`` or ``key[i]``).
        key: the dotted schema key.
        index: the list element, or None for a scalar.
        low: lower end of the search range.
        high: upper end.
    """

    name: str
    key: str
    index: int | None
    low: float
    high: float

    def at(self, u: float) -> float:
        """The value at the fraction ``u`` of the range."""
        return self.low + u * (self.high - self.low)


def parse_params(table: Mapping[str, Any], label: str = "params") -> tuple[CalParam, ...]:
    """Validate a ``[params]`` table against the schema (every problem at once).

    Raises:
        CalibrationError: listing every problem.
    """
    from model.params import iter_fields

    fields = {key: (fld, default) for key, fld, default in iter_fields()}
    problems: list[str] = []
    out: list[CalParam] = []
    taken: dict[tuple[str, int | None], str] = {}
    for name, value in table.items():
        where = f"params.{name}"
        match = _ELEMENT.match(name)
        key, index = (match["key"], int(match["index"])) if match else (name, None)
        if (key, index) in taken:
            problems.append(f"{where}: the same parameter as params.{taken[key, index]}")
            continue
        taken[key, index] = name
        if key not in fields:
            problems.append(f"{where}: unknown parameter (see `zhudai params`)")
            continue
        fld, default = fields[key]
        if index is None:
            if isinstance(default, bool) or not isinstance(default, int | float):
                hint = f"; name one element, e.g. \"{key}[0]\"" if isinstance(default, list) else ""
                problems.append(f"{where}: not a scalar number (default {default!r}){hint}")
                continue
        elif not (isinstance(default, list) and default and all(_number(d) for d in default)):
            problems.append(f"{where}: {key} is not a list of numbers; name it without [index]")
            continue
        elif index >= len(default):
            problems.append(f"{where}: {key} has {len(default)} elements (indices 0..{len(default) - 1})")
            continue
        if not (isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value)):
            problems.append(f"{where} = {value!r}: must be [low, high]")
            continue
        low, high = float(value[0]), float(value[1])
        if low >= high:
            problems.append(f"{where} = [{low}, {high}]: empty range (needs low < high)")
            continue
        lo, hi = fld.metadata.get("lo"), fld.metadata.get("hi")
        if (lo is not None and low < lo) or (hi is not None and high > hi):
            problems.append(f"{where} = [{low}, {high}]: outside the parameter's range [{lo}, {hi}]")
            continue
        if isinstance(default, int) and not isinstance(default, bool) and index is None:
            problems.append(f"{where}: an integer parameter cannot be calibrated on a continuous range")
            continue
        out.append(CalParam(name, key, index, low, high))
    if not out and not problems:
        problems.append("[params] is empty: name at least one parameter to calibrate")
    if problems:
        raise CalibrationError(problems, label)
    return tuple(out)


def load_params(path: str | os.PathLike[str]) -> tuple[CalParam, ...]:
    """Read and validate a parameter file (a ``[params]`` table of ``"key" = [low, high]``).

    Raises:
        CalibrationError: if it cannot be read or any entry is invalid.
    """
    data, label = _read(path)
    table = data.get("params")
    extra = [k for k in data if k not in ("params", "description")]
    if not isinstance(table, Mapping) or not table:
        raise CalibrationError(["needs a [params] table of \"dotted.key\" = [low, high]"], label)
    if extra:
        raise CalibrationError([f"{k}: unknown key (a parameter file has description and [params])"
                                for k in extra], label)
    return parse_params(table, label)


def overrides_for(params: Sequence[CalParam], values: Sequence[float],
                  defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario values of one point: ``dotted key -> value`` (whole lists for list elements).

    Args:
        params: the calibrated parameters.
        values: their values, in the same order.
        defaults: the scenario's value of every list parameter named by element (``key -> list``).
    """
    out: dict[str, Any] = {}
    for p, v in zip(params, values, strict=True):
        if p.index is None:
            out[p.key] = float(v)
        else:
            current = out.setdefault(p.key, list(defaults[p.key]))
            current[p.index] = float(v)
    return out


def start_values(params: Sequence[CalParam], scenario: Any) -> list[float]:
    """Each parameter's value in the scenario, clipped into its search range (the search's starting point)."""
    out = []
    for p in params:
        value = scenario.get(p.key)
        value = value[p.index] if p.index is not None else value
        out.append(float(np.clip(value, p.low, p.high)))
    return out
