"""Validation against the stylized facts (docs/findings.md): targets, metrics and their evaluation.

The targets live in ``experiments/targets.toml``. Each names a metric below (one number per run), the
scenarios it is computed on (a scenario and, where paired, its counterfactual; or an ordered list for a
monotonic test), a window of months, a test and a tolerance. Everything here is a pure function of the batch
store's tables (``experiments.store.batch_dir.read_store``), so unit tests can check it on small hand-built
tables.

Pairing: runs are paired by ``replicate`` (and ``point``): the same replicate index has the same seed in every
scenario (common random numbers), so a paired difference is the policy's effect rather than sampling noise.

Tests (per replicate; paired targets test the scenario minus the counterfactual, or their ratio):

* ``greater``: value > threshold (default 0).
* ``less``: value < threshold (default 0).
* ``ratio_at_most``: scenario / counterfactual <= threshold (needs a counterfactual).
* ``band``: low <= value <= high.
* ``monotonic_increasing``: along ``scenarios.order``, every step rises by more than threshold (default 0).

Tolerances:

* ``share_of_replications``: PASS when the test holds in at least ``min_share`` of the replications.
* ``ci_excludes_zero`` (``greater``/``less`` only): PASS when the 95% t-interval of the mean of
  ``value - threshold`` lies entirely on the tested side of zero.

A target that does not meet its tolerance is WARN if the test holds in at least half the replications and
FAIL otherwise (also FAIL when its scenarios have no runs).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis.stats import mean_interval
from model.config import ConfigError
from model.enums import LARGE_BANK_KINDS, SMALL_BANK_KINDS
from model.output import TABLES

DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "targets.toml"
KINDS = ("greater", "less", "ratio_at_most", "band", "monotonic_increasing")
POLICIES = ("share_of_replications", "ci_excludes_zero")
STATUSES = ("PASS", "WARN", "FAIL")
SMALL_BANKS = tuple(k.value for k in SMALL_BANK_KINDS)
LARGE_BANKS = tuple(k.value for k in LARGE_BANK_KINDS)
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class TargetsError(ConfigError):
    """An invalid targets file: every problem found, in one message (a ConfigError, so the CLI exits 2)."""

    subject, verb, unnamed = "targets", "have", "{subject} {verb} {n} {noun}:"


# ------------------------------------------------------------------------------------------ windows
@dataclass(frozen=True)
class Window:
    """Months ``start``..``end`` inclusive (YYYY-MM); ``before_*`` is the reference window of change metrics."""

    start: str
    end: str
    before_start: str | None = None
    before_end: str | None = None

    def text(self) -> str:
        main = f"{self.start}..{self.end}"
        return f"{main} vs {self.before_start}..{self.before_end}" if self.before_start else main


def _in(df: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    return df[(df["date"] >= start) & (df["date"] <= end)]


def _mean(series: pd.Series) -> float:
    return float(series.mean()) if len(series) else math.nan


# ------------------------------------------------------------------------------------------ metrics
Run = Mapping[str, pd.DataFrame]


@dataclass(frozen=True)
class Metric:
    """A named per-run metric: ``func(run_tables, window) -> float``; ``fmt`` formats its values."""

    func: Callable[[Run, Window], float]
    label: str
    fmt: str = "{:.2f}"
    needs_before: bool = False


def _model_mean(column: str) -> Callable[[Run, Window], float]:
    def f(run: Run, w: Window) -> float:
        return _mean(_in(run["model"], w.start, w.end)[column])
    f.__doc__ = f"Window mean of the model column ``{column}``."
    return f


def max_apr_over_cap(run: Run, w: Window) -> float:
    """Largest excess of the highest new licensed APR over the cap in force, over capped months (<= 0: none)."""
    m = _in(run["model"], w.start, w.end)
    m = m[np.isfinite(m["binding_cap"].astype(float))]
    return float((m["max_apr_new"] - m["binding_cap"]).max()) if len(m) else math.nan


def exit_rate(run: Run, w: Window, tier: str) -> float:
    """Share of a tier's platforms active in the window's first month that are inactive in its last month."""
    p = run["platforms"]
    p = p[p["tier"] == tier]
    dates = sorted(d for d in p["date"].unique() if w.start <= d <= w.end)
    if not dates:
        return math.nan
    first, last = p[p["date"] == dates[0]], p[p["date"] == dates[-1]]
    alive = set(first.loc[first["active"].astype(bool), "platform_id"])
    if not alive:
        return math.nan
    still = set(last.loc[last["active"].astype(bool), "platform_id"])
    return 1.0 - len(alive & still) / len(alive)


def exit_rate_gap_tail_head(run: Run, w: Window) -> float:
    """Tail exit rate minus head exit rate over the window."""
    return exit_rate(run, w, "tail") - exit_rate(run, w, "head")


def _partners(run: Run, w: Window, kinds: Sequence[str]) -> float:
    f = _in(run["funders"], w.start, w.end)
    return _mean(f[f["kind"].isin(kinds)]["partners"])


def small_bank_partners(run: Run, w: Window) -> float:
    """Mean whitelist size of city and rural commercial banks over the window (funder-months)."""
    return _partners(run, w, SMALL_BANKS)


def large_minus_small_partners(run: Run, w: Window) -> float:
    """Mean whitelist of state and joint-stock banks minus that of city and rural banks (window means)."""
    return _partners(run, w, LARGE_BANKS) - _partners(run, w, SMALL_BANKS)


def small_banks_leaving(run: Run, w: Window) -> float:
    """City and rural banks in platform lending in the window's first month but not in its last month."""
    f = run["funders"]
    f = f[f["kind"].isin(SMALL_BANKS)]
    dates = sorted(d for d in f["date"].unique() if w.start <= d <= w.end)
    if not dates:
        return math.nan
    first, last = f[f["date"] == dates[0]], f[f["date"] == dates[-1]]
    was = set(first.loc[first["in_platform_lending"].astype(bool), "funder_id"])
    still = set(last.loc[last["in_platform_lending"].astype(bool), "funder_id"])
    return float(len(was - still))


def multi_few_default_ratio(run: Run, w: Window) -> float:
    """Mean monthly default rate of 3+-lender borrowers over that of 1-2-lender borrowers."""
    m = _in(run["model"], w.start, w.end)
    few = _mean(m["default_rate_few"])
    return _mean(m["default_rate_multi"]) / few if few > 0 else math.nan


def head_lines_to_volume(run: Run, w: Window) -> float:
    """Credit lines committed to active head platforms over their volume, summed over the window."""
    p = _in(run["platforms"], w.start, w.end)
    p = p[(p["tier"] == "head") & p["active"].astype(bool)]
    vol = float(p["volume"].sum())
    return float(p["lines"].sum()) / vol if vol > 0 else math.nan


def _tier_volume(run: Run, start: str, end: str, tier: str) -> float:
    p = _in(run["platforms"], start, end)
    p = p[p["tier"] == tier]
    months = p["date"].nunique()
    return float(p["volume"].sum()) / months if months else math.nan


def waist_volume_change(run: Run, w: Window) -> float:
    """Relative change of the waist tier's monthly volume: window mean over ``before`` window mean, minus 1."""
    before = _tier_volume(run, w.before_start, w.before_end, "waist")
    return _tier_volume(run, w.start, w.end, "waist") / before - 1.0 if before > 0 else math.nan


def shadow_change_ratio(run: Run, w: Window) -> float:
    """Mean monthly shadow volume in the window over that in the ``before`` window."""
    before = _mean(_in(run["model"], w.before_start, w.before_end)["shadow_volume"])
    return _mean(_in(run["model"], w.start, w.end)["shadow_volume"]) / before if before > 0 else math.nan


def kind_apr(run: Run, start: str, end: str, kind: str) -> float:
    """Volume-weighted all-in APR of new loans of one funder kind (platform plus direct volume)."""
    f = _in(run["funders"], start, end)
    f = f[f["kind"] == kind]
    vol = f["platform_volume"] + f["direct_volume"]
    total = float(vol.sum())
    return float((f["apr_new"] * vol).sum()) / total if total > 0 else math.nan


def cfc_apr_new(run: Run, w: Window) -> float:
    """Volume-weighted all-in APR of consumer-finance companies' new loans over the window."""
    return kind_apr(run, w.start, w.end, "cfc")


def cfc_apr_change(run: Run, w: Window) -> float:
    """CFCs' volume-weighted new-loan APR in the window minus that in the ``before`` window."""
    return kind_apr(run, w.start, w.end, "cfc") - kind_apr(run, w.before_start, w.before_end, "cfc")


def microlender_apr_change(run: Run, w: Window) -> float:
    """Microlenders' volume-weighted new-loan APR in the window minus that in the ``before`` window."""
    return (kind_apr(run, w.start, w.end, "microlender")
            - kind_apr(run, w.before_start, w.before_end, "microlender"))


def microlender_apr_to_4lpr(run: Run, w: Window) -> float:
    """Microlenders' volume-weighted new-loan APR over 4 x the mean one-year LPR, over the window."""
    lpr = _mean(_in(run["model"], w.start, w.end)["lpr"])
    return kind_apr(run, w.start, w.end, "microlender") / (4 * lpr) if lpr > 0 else math.nan


METRICS: dict[str, Metric] = {
    "head_share": Metric(_model_mean("head_share"), "head share"),
    "hhi": Metric(_model_mean("hhi"), "HHI", "{:.0f}"),
    "rationed_share": Metric(_model_mean("rationed_share"), "rationed share"),
    "shadow_volume": Metric(_model_mean("shadow_volume"), "shadow volume (yuan/month)", "{:,.0f}"),
    "default_rate": Metric(_model_mean("default_rate"), "default rate/month", "{:.3%}"),
    "api_share": Metric(_model_mean("api_share"), "API share of acquisition spend", "{:.3f}"),
    "apr_near_cap_share": Metric(_model_mean("apr_near_cap_share"), "share of new volume within 1 pt under cap"),
    "max_apr_over_cap": Metric(max_apr_over_cap, "max new APR minus cap", "{:+.4f}"),
    "exit_rate_tail": Metric(lambda r, w: exit_rate(r, w, "tail"), "tail exit rate", "{:.0%}"),
    "exit_rate_head": Metric(lambda r, w: exit_rate(r, w, "head"), "head exit rate", "{:.0%}"),
    "exit_rate_gap_tail_head": Metric(exit_rate_gap_tail_head, "tail minus head exit rate", "{:+.0%}"),
    "small_bank_partners": Metric(small_bank_partners, "city/rural bank whitelist size", "{:.1f}"),
    "large_minus_small_partners": Metric(large_minus_small_partners, "large minus small bank whitelist",
                                         "{:+.1f}"),
    "small_banks_leaving": Metric(small_banks_leaving, "city/rural banks leaving platform lending", "{:.1f}"),
    "multi_few_default_ratio": Metric(multi_few_default_ratio, "default rate 3+ lenders / 1-2 lenders", "{:.2f}x"),
    "head_lines_to_volume": Metric(head_lines_to_volume, "head platforms' lines / volume"),
    "waist_volume_change": Metric(waist_volume_change, "waist volume change", "{:+.0%}", needs_before=True),
    "shadow_change_ratio": Metric(shadow_change_ratio, "shadow volume after / before", needs_before=True),
    "cfc_apr_new": Metric(cfc_apr_new, "CFC new-loan APR", "{:.1%}"),
    "cfc_apr_change": Metric(cfc_apr_change, "CFC new-loan APR change", "{:+.1%}", needs_before=True),
    "microlender_apr_change": Metric(microlender_apr_change, "microlender new-loan APR change", "{:+.1%}",
                                     needs_before=True),
    "microlender_apr_to_4lpr": Metric(microlender_apr_to_4lpr, "microlender new-loan APR / (4 x LPR)"),
}


# ------------------------------------------------------------------------------------------ targets
@dataclass(frozen=True)
class Target:
    """One stylized fact to reproduce (see the module docstring and ``experiments/targets.toml``)."""

    name: str
    source: str
    scenario: str | None
    counterfactual: str | None
    order: tuple[str, ...]
    metric: str
    window: Window
    kind: str
    threshold: float | None = None
    low: float | None = None
    high: float | None = None
    policy: str = "share_of_replications"
    min_share: float = 0.8
    explanation: str = ""

    @property
    def scenarios(self) -> tuple[str, ...]:
        """Every scenario the target needs, in order."""
        if self.order:
            return self.order
        return tuple(s for s in (self.scenario, self.counterfactual) if s)

    @property
    def paired(self) -> bool:
        return self.counterfactual is not None

    def band_text(self) -> str:
        """The test in words, e.g. ``diff > 0`` or ``0.00 <= value <= 0.20``."""
        subject = "diff" if self.paired else "value"
        thr = 0.0 if self.threshold is None else self.threshold
        if self.kind == "greater":
            text = f"{subject} > {thr:g}"
        elif self.kind == "less":
            text = f"{subject} < {thr:g}"
        elif self.kind == "ratio_at_most":
            text = f"ratio <= {thr:g}"
        elif self.kind == "band":
            text = f"{self.low:g} <= {subject} <= {self.high:g}"
        else:
            text = f"rises along {' < '.join(self.order)}" + (f" by > {thr:g}" if thr else "")
        tol = ("95% CI excludes 0" if self.policy == "ci_excludes_zero"
               else f"in >= {self.min_share:.0%} of replications")
        return f"{text}; {tol}"


@dataclass
class _Reader:
    table: Mapping[str, Any]
    where: str
    problems: list[str]
    used: set[str] = field(default_factory=set)

    def get(self, key: str, types: tuple[type, ...], required: bool = True, default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                self.problems.append(f"{self.where}: missing {key!r}")
            return default
        value = self.table[key]
        if types == (float,) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, types) or isinstance(value, bool):
            names = "/".join(t.__name__ for t in types)
            self.problems.append(f"{self.where}: {key!r} must be {names}, got {value!r}")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(f"{self.where}: {key!r} must be finite, got {value!r}")
            return default
        return value

    def unknown(self) -> None:
        for key in self.table:
            if key not in self.used:
                self.problems.append(f"{self.where}: unknown key {key!r}")


def _month(value: Any, where: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _MONTH.match(value):
        problems.append(f"{where}: expected a month YYYY-MM, got {value!r}")
        return None
    return value


def _parse_target(raw: Any, index: int, problems: list[str], known: set[str] | None) -> Target | None:
    if not isinstance(raw, Mapping):
        problems.append(f"target #{index + 1}: must be a table, got {raw!r}")
        return None
    name = raw.get("name") if isinstance(raw.get("name"), str) else f"#{index + 1}"
    where = f"target {name}"
    r = _Reader(raw, where, problems)
    r.get("name", (str,))
    source = r.get("source", (str,), default="")
    explanation = r.get("explanation", (str,), required=False, default="")
    metric = r.get("metric", (str,))
    if metric is not None and metric not in METRICS:
        problems.append(f"{where}: unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})")
        metric = None
    n_before = len(problems)

    sc = r.get("scenarios", (dict,), default={})
    s = _Reader(sc, f"{where}: scenarios", problems)
    scenario = s.get("scenario", (str,), required=False)
    counterfactual = s.get("counterfactual", (str,), required=False)
    order = s.get("order", (list,), required=False, default=[])
    s.unknown()
    if order and not all(isinstance(x, str) for x in order):
        problems.append(f"{where}: scenarios.order must be a list of scenario names, got {order!r}")
        order = []

    win = r.get("window", (dict,), default={})
    wr = _Reader(win, f"{where}: window", problems)
    start = _month(wr.get("start", (str,)), f"{where}: window.start", problems)
    end = _month(wr.get("end", (str,)), f"{where}: window.end", problems)
    b_start = _month(wr.get("before_start", (str,), required=False), f"{where}: window.before_start", problems)
    b_end = _month(wr.get("before_end", (str,), required=False), f"{where}: window.before_end", problems)
    wr.unknown()
    if start and end and start > end:
        problems.append(f"{where}: window.start {start} is after window.end {end}")
    if b_start and b_end and b_start > b_end:
        problems.append(f"{where}: window.before_start {b_start} is after window.before_end {b_end}")
    if ("before_start" in win) != ("before_end" in win):
        problems.append(f"{where}: window needs both before_start and before_end, or neither")
    if metric and METRICS[metric].needs_before and not ("before_start" in win and "before_end" in win):
        problems.append(f"{where}: metric {metric!r} needs window.before_start and window.before_end")

    test = r.get("test", (dict,), default={})
    tr = _Reader(test, f"{where}: test", problems)
    kind = tr.get("kind", (str,))
    threshold = tr.get("threshold", (float,), required=False)
    low = tr.get("low", (float,), required=False)
    high = tr.get("high", (float,), required=False)
    tr.unknown()
    if kind is not None and kind not in KINDS:
        problems.append(f"{where}: test.kind {kind!r} is not one of {', '.join(KINDS)}")
        kind = None
    if kind in ("ratio_at_most",) and threshold is None:
        problems.append(f"{where}: test kind {kind!r} needs a threshold")
    if kind == "band":
        if low is None or high is None:
            problems.append(f"{where}: test kind 'band' needs low and high")
        elif low > high:
            problems.append(f"{where}: test band low {low:g} is above high {high:g}")
    if kind == "monotonic_increasing":
        if len(order) < 2:
            problems.append(f"{where}: test kind 'monotonic_increasing' needs scenarios.order with 2+ scenarios")
        if scenario or counterfactual:
            problems.append(f"{where}: a monotonic test takes scenarios.order, not scenario/counterfactual")
    elif kind is not None:
        if order:
            problems.append(f"{where}: scenarios.order is only for monotonic_increasing tests")
        if not scenario:
            problems.append(f"{where}: scenarios.scenario is required")
        if kind == "ratio_at_most" and not counterfactual:
            problems.append(f"{where}: test kind 'ratio_at_most' needs scenarios.counterfactual")
        if scenario and counterfactual and scenario == counterfactual:
            problems.append(f"{where}: scenario and counterfactual are both {scenario!r}")
    if known is not None:
        for s_name in [scenario, counterfactual, *order]:
            if s_name and s_name not in known:
                problems.append(f"{where}: unknown scenario {s_name!r}")

    tol = r.get("tolerance", (dict,), default={})
    tl = _Reader(tol, f"{where}: tolerance", problems)
    policy = tl.get("policy", (str,))
    min_share = tl.get("min_share", (float,), required=False)
    tl.unknown()
    if policy is not None and policy not in POLICIES:
        problems.append(f"{where}: tolerance.policy {policy!r} is not one of {', '.join(POLICIES)}")
    if policy == "share_of_replications":
        if min_share is None:
            problems.append(f"{where}: tolerance 'share_of_replications' needs min_share")
        elif not 0.5 <= min_share <= 1.0:
            problems.append(f"{where}: tolerance.min_share must be between 0.5 and 1, got {min_share:g}")
    if policy == "ci_excludes_zero":
        if kind is not None and kind not in ("greater", "less"):
            problems.append(f"{where}: tolerance 'ci_excludes_zero' applies to greater/less tests, not {kind!r}")
        if min_share is not None:
            problems.append(f"{where}: tolerance 'ci_excludes_zero' takes no min_share")
    r.unknown()
    if len(problems) > n_before or metric is None or kind is None or policy is None or not (start and end):
        return None
    return Target(name=raw["name"], source=source, scenario=scenario, counterfactual=counterfactual,
                  order=tuple(order), metric=metric, window=Window(start, end, b_start, b_end), kind=kind,
                  threshold=threshold, low=low, high=high, policy=policy,
                  min_share=1.0 if min_share is None else min_share, explanation=explanation)


def parse_targets(data: Mapping[str, Any], source: str | None = None,
                  known_scenarios: set[str] | None = None) -> tuple[list[Target], dict[str, Any]]:
    """Targets and the ``[robustness]`` table of a parsed targets file.

    Raises:
        TargetsError: listing every problem.
    """
    problems: list[str] = []
    for key in data:
        if key not in ("target", "robustness", "description"):
            problems.append(f"unknown top-level key {key!r} (expected [[target]], [robustness], description)")
    raw = data.get("target")
    if not isinstance(raw, list) or not raw:
        problems.append("no [[target]] entries")
        raw = []
    targets: list[Target] = []
    for i, item in enumerate(raw):
        t = _parse_target(item, i, problems, known_scenarios)
        if t is not None:
            targets.append(t)
    names = [item.get("name") for item in raw if isinstance(item, Mapping)]
    for dup in sorted({n for n in names if isinstance(n, str) and names.count(n) > 1}):
        problems.append(f"target name {dup!r} is used more than once")
    robustness = data.get("robustness", {})
    if not isinstance(robustness, Mapping):
        problems.append(f"[robustness] must be a table, got {robustness!r}")
        robustness = {}
    else:
        problems.extend(robustness_problems(robustness))
    if problems:
        raise TargetsError(problems, source)
    return targets, dict(robustness)


def load_targets(path: str | os.PathLike[str] = DEFAULT_TARGETS, check_scenarios: bool = True) -> list[Target]:
    """Read and validate a targets file (see ``experiments/targets.toml``).

    Args:
        path: the TOML file.
        check_scenarios: also check that every scenario named is a shipped one.

    Raises:
        TargetsError: one message listing every problem (unreadable file, TOML syntax, keys, types, values).
    """
    return load_targets_file(path, check_scenarios)[0]


def load_targets_file(path: str | os.PathLike[str] = DEFAULT_TARGETS,
                      check_scenarios: bool = True) -> tuple[list[Target], dict[str, Any]]:
    """Targets and the ``[robustness]`` table of a targets file (see :func:`load_targets`)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise TargetsError([f"cannot read the file: {err.strerror or err}"], str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise TargetsError([f"not valid TOML: {err}"], str(path)) from None
    known = None
    if check_scenarios:
        from model.config import list_scenarios
        known = {name for name, *_ in list_scenarios()}
    return parse_targets(data, str(path), known)


# --------------------------------------------------------------------------------------- robustness
SCREEN_KEYS = ("scenario", "moments", "plausibility", "provenance")


def robustness_problems(table: Mapping[str, Any]) -> list[str]:
    """Problems of a ``[robustness]`` table: ``relative`` (0..1), ``[robustness.absolute]`` ranges, ``candidates``
    (a whole number >= 1) and the ``[robustness.screen]`` table (see :func:`robustness_screen`)."""
    problems: list[str] = []
    for key in table:
        if key not in ("relative", "absolute", "provenance", "candidates", "screen"):
            problems.append(f"robustness: unknown key {key!r}")
    cand = table.get("candidates", 1)
    if isinstance(cand, bool) or not isinstance(cand, int) or cand < 1:
        problems.append(f"robustness: candidates must be a whole number >= 1, got {cand!r}")
    screen = table.get("screen")
    if screen is not None:
        if not isinstance(screen, Mapping):
            problems.append(f"robustness: screen must be a table, got {screen!r}")
        else:
            for key in screen:
                if key not in SCREEN_KEYS:
                    problems.append(f"robustness.screen: unknown key {key!r} (allowed: {', '.join(SCREEN_KEYS)})")
            for key in ("scenario", "moments"):
                if not (isinstance(screen.get(key), str) and screen.get(key)):
                    problems.append(f"robustness.screen: needs {key} = \"...\"")
            thr = screen.get("plausibility", 3.0)
            if isinstance(thr, bool) or not isinstance(thr, int | float) or not thr > 0:
                problems.append(f"robustness.screen: plausibility must be a number > 0, got {thr!r}")
    rel = table.get("relative", 0.5)
    if isinstance(rel, bool) or not isinstance(rel, int | float) or not 0 < rel < 1:
        problems.append(f"robustness: relative must be a number in (0, 1), got {rel!r}")
    absolute = table.get("absolute", {})
    if not isinstance(absolute, Mapping):
        problems.append(f"robustness: absolute must be a table of key = [low, high], got {absolute!r}")
        absolute = {}
    flat: dict[str, Any] = {}
    _flatten(absolute, "", flat)
    for key, rng in flat.items():
        ok = (isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, int | float) and not isinstance(x, bool)
                                                              for x in rng) and rng[0] <= rng[1])
        if not ok:
            problems.append(f"robustness.absolute.{key}: expected [low, high] with low <= high, got {rng!r}")
    return problems


@dataclass(frozen=True)
class Screen:
    """The robustness study's plausibility screen (history matching): a sample point is kept only if
    ``scenario`` reproduces every moment of ``moments`` within ``plausibility`` tolerances.

    Attributes:
        scenario: the scenario whose runs are measured (the calibration's, before any rule).
        moments: the moments (a calibration moments file: levels before the rules, never responses to them).
        plausibility: the largest distance, in tolerances, a kept point may have on any moment.
        path: the moments file.
    """

    scenario: str
    moments: Any
    plausibility: float
    path: str


def robustness_screen(table: Mapping[str, Any], targets_path: str | os.PathLike[str]) -> Screen | None:
    """The ``[robustness.screen]`` of a checked ``[robustness]`` table, its moments file loaded (a relative path is
    read from the targets file's folder); None without a screen.

    Raises:
        experiments.calibration.spec.CalibrationError: when the moments file is missing or invalid (exit 2).
    """
    from experiments.calibration.spec import load_moments

    screen = table.get("screen")
    if not screen:
        return None
    path = Path(screen["moments"])
    if not path.is_absolute():
        path = Path(targets_path).resolve().parent / path
    return Screen(screen["scenario"], load_moments(path), float(screen.get("plausibility", 3.0)), str(path))


def screen_values(model: pd.DataFrame, moments: Any) -> dict[str, float]:
    """A point's moments: each moment's mean over the point's runs (a batch's model table)."""
    from experiments.calibration.spec import point_moments

    runs = point_moments(model, moments)
    return {m.name: float(runs[m.name].mean()) if len(runs) else math.nan for m in moments.moments}


def _flatten(table: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for name, value in table.items():
        if isinstance(value, Mapping):
            _flatten(value, f"{prefix}{name}.", out)
        else:
            out[f"{prefix}{name}"] = value


def uncertainty_ranges(table: Mapping[str, Any]) -> list[tuple[str, Any, float, float, float, float]]:
    """Sampling range of every parameter flagged ``uncertainty=True``.

    Returns ``(key, default, low, high, schema_lo, schema_hi)``. By default a parameter is multiplied by a
    factor in ``[1 - relative, 1 + relative]`` (a list parameter: every element by the same factor); keys in
    ``[robustness.absolute]`` take the value range given there (used where the default is 0). Values are
    clipped to the schema's ``lo``/``hi`` after scaling.
    """
    from model.params import iter_fields

    rel = float(table.get("relative", 0.5))
    absolute: dict[str, Any] = {}
    _flatten(table.get("absolute", {}), "", absolute)
    out = []
    for key, fld, default in iter_fields():
        if not fld.metadata.get("uncertainty"):
            continue
        lo, hi = fld.metadata.get("lo"), fld.metadata.get("hi")
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
        if key in absolute:
            a, b = absolute[key]
            out.append((key, default, float(a), float(b), lo, hi))
        else:
            out.append((key, default, 1.0 - rel, 1.0 + rel, lo, hi))
    return out


def latin_hypercube(n: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """An ``n x dims`` Latin-hypercube sample of [0, 1): one uniform draw in each of n strata per dimension,
    strata shuffled independently per dimension."""
    u = (np.arange(n)[:, None] + rng.random((n, dims))) / n
    for j in range(dims):
        u[:, j] = u[rng.permutation(n), j]
    return u


def value_at(default: Any, x: float, *, relative: bool, lo: float, hi: float) -> Any:
    """A parameter's value at ``x`` of its sampling range: ``default * x`` (each element of a list default) or
    ``x`` itself for an absolute range, clipped to the schema's ``[lo, hi]`` and rounded to 6 decimals."""
    if isinstance(default, list | tuple):
        return [round(float(np.clip(d * x if relative else x, lo, hi)), 6) for d in default]
    return round(float(np.clip(default * x if relative else x, lo, hi)), 6)


def scalar_uncertainty_bounds(table: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The lowest and highest value :func:`robustness_points` can give each scalar uncertain parameter (the
    screening ranges of ``experiments/designs/sensitivity.toml``)."""
    absolute = _absolute_keys(table)
    out = {}
    for key, default, a, b, lo, hi in uncertainty_ranges(table):
        if not isinstance(default, list | tuple):
            ends = [value_at(default, x, relative=key not in absolute, lo=lo, hi=hi) for x in (a, b)]
            out[key] = (min(ends), max(ends))
    return out


def robustness_points(n: int, table: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    """``n`` Latin-hypercube points over the uncertainty ranges: ``{dotted key: value}`` each."""
    ranges = uncertainty_ranges(table)
    absolute = _absolute_keys(table)
    u = latin_hypercube(n, len(ranges), np.random.default_rng(seed))
    return [{key: value_at(default, a + (b - a) * u[i, j], relative=key not in absolute, lo=lo, hi=hi)
             for j, (key, default, a, b, lo, hi) in enumerate(ranges)}
            for i in range(n)]


def _absolute_keys(table: Mapping[str, Any]) -> set[str]:
    flat: dict[str, Any] = {}
    _flatten(table.get("absolute", {}), "", flat)
    return set(flat)


# ----------------------------------------------------------------------------------------- evaluate
def split_runs(tables: Mapping[str, pd.DataFrame]) -> dict[tuple[str, int, int], dict[str, pd.DataFrame]]:
    """Per-run tables keyed by ``(scenario, point, replicate)``."""
    out: dict[tuple[str, int, int], dict[str, pd.DataFrame]] = {}
    for name in TABLES:
        df = tables.get(name)
        if df is None or df.empty:
            continue
        point = df["point"] if "point" in df.columns else pd.Series(0, index=df.index)
        keys = pd.MultiIndex.from_arrays([df["scenario"].astype(str), point.astype(int),
                                          df["replicate"].astype(int)])
        for key, idx in df.groupby(keys, sort=False, observed=True).indices.items():
            out.setdefault(tuple(key), {})[name] = df.iloc[idx]
    empty = {n: pd.DataFrame(columns=["date"]) for n in TABLES}
    return {k: {**empty, **v} for k, v in out.items()}


def _holds(t: Target, v: float) -> bool:
    if not math.isfinite(v):
        return False
    thr = 0.0 if t.threshold is None else t.threshold
    if t.kind == "greater" or t.kind == "monotonic_increasing":
        return v > thr
    if t.kind == "less":
        return v < thr
    if t.kind == "ratio_at_most":
        return v <= thr
    return t.low <= v <= t.high


def _fmt(metric: Metric, v: float) -> str:
    return "n/a" if not math.isfinite(v) else metric.fmt.format(v)


def _fmt_diff(metric: Metric, v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    text = metric.fmt.format(abs(v))
    return ("+" if v >= 0 else "-") + text.lstrip("+-")


def evaluate_target(t: Target, runs: Mapping[tuple[str, int, int], Mapping[str, pd.DataFrame]],
                    point: int = 0) -> dict[str, Any]:
    """One row of :func:`evaluate` for one target and one sweep point.

    A metric undefined in every replicate (e.g. the waist's volume change once no waist platform is left) makes
    its figure "n/a" and the test fail, quietly: numpy's all-NaN warnings would only clutter the user's output.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return _evaluate_target(t, runs, point)


def _evaluate_target(t: Target, runs: Mapping[tuple[str, int, int], Mapping[str, pd.DataFrame]],
                     point: int) -> dict[str, Any]:
    metric = METRICS[t.metric]
    reps = {s: {rep: r for (sc, pt, rep), r in runs.items() if sc == s and pt == point} for s in t.scenarios}
    common = sorted(set.intersection(*(set(v) for v in reps.values()))) if reps else []
    row: dict[str, Any] = {"target": t.name, "metric": t.metric, "scenarios": " vs ".join(t.scenarios),
                           "window": t.window.text(), "band": t.band_text(), "replications": len(common)}
    if not common:
        missing = [s for s, v in reps.items() if not v]
        return {**row, "figure": "no runs", "share": 0.0, "mean_holds": False, "status": "FAIL",
                "explanation": f"no paired runs of {', '.join(missing or t.scenarios)} in the store"}
    values = {s: np.array([metric.func(reps[s][rep], t.window) for rep in common]) for s in t.scenarios}
    thr = 0.0 if t.threshold is None else t.threshold
    ci: tuple[float, float] | None = None
    if t.kind == "monotonic_increasing":
        steps = np.diff(np.vstack([values[s] for s in t.order]), axis=0)
        tested = steps.min(axis=0)
        means = [float(np.nanmean(values[s])) for s in t.order]
        mean_value = float(np.min(np.diff(means)))
        figure = f"{metric.label}: " + " -> ".join(_fmt(metric, m) for m in means) + " (means along the order)"
    else:
        s_vals = values[t.scenario]
        if t.paired:
            c_vals = values[t.counterfactual]
            if t.kind == "ratio_at_most":
                with np.errstate(divide="ignore", invalid="ignore"):
                    tested = np.where(c_vals != 0, s_vals / c_vals, np.nan)
                mean_value = float(np.nanmean(s_vals) / np.nanmean(c_vals)) if np.nanmean(c_vals) else math.nan
                figure = (f"{metric.label} {_fmt(metric, float(np.nanmean(s_vals)))} vs "
                          f"{_fmt(metric, float(np.nanmean(c_vals)))} (paired ratio {np.nanmean(tested):.2f}, "
                          f"range {np.nanmin(tested):.2f}..{np.nanmax(tested):.2f})")
            else:
                tested = s_vals - c_vals
                mean_value = float(np.nanmean(tested))
                ci = _ci(tested)
                ci_text = (f", 95% CI {_fmt_diff(metric, ci[0])}..{_fmt_diff(metric, ci[1])}"
                           if math.isfinite(ci[0]) else "")
                figure = (f"{metric.label} {_fmt(metric, float(np.nanmean(s_vals)))} vs "
                          f"{_fmt(metric, float(np.nanmean(c_vals)))} (paired mean diff "
                          f"{_fmt_diff(metric, mean_value)}{ci_text})")
        else:
            tested = s_vals
            mean_value = float(np.nanmean(s_vals)) if np.isfinite(s_vals).any() else math.nan
            ci = _ci(tested)
            figure = (f"{metric.label} {_fmt(metric, mean_value)} (range "
                      f"{_fmt(metric, float(np.nanmin(s_vals)))}..{_fmt(metric, float(np.nanmax(s_vals)))})"
                      if np.isfinite(s_vals).any() else f"{metric.label} n/a")
    held = [_holds(t, float(v)) for v in tested]
    share = float(np.mean(held))
    if t.policy == "ci_excludes_zero":
        lo, hi = _ci(np.asarray(tested, dtype=float) - thr)
        meets = (lo > 0) if t.kind == "greater" else (hi < 0)
        tol_text = (f"95% CI of {'diff' if t.paired else 'value'} - {thr:g}: "
                    + (f"{lo:+.4g}..{hi:+.4g}" if math.isfinite(lo) else "undefined (one replication)"))
    else:
        meets = share >= t.min_share - 1e-12
        tol_text = f"needs {t.min_share:.0%} of replications"
    status = "PASS" if meets else ("WARN" if share >= 0.5 else "FAIL")
    n_held = sum(held)
    explanation = f"holds in {n_held}/{len(held)} replications; {tol_text}"
    if status != "PASS" and t.explanation:
        explanation += f". {t.explanation}"
    return {**row, "figure": figure, "share": share, "mean_holds": _holds(t, mean_value), "status": status,
            "explanation": explanation}


def _ci(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    _, _, _, low, high = mean_interval(v[np.isfinite(v)])
    return low, high


COLUMNS = ["target", "figure", "band", "share", "status", "explanation", "metric", "scenarios", "window",
           "replications", "mean_holds"]


def evaluate(targets: Sequence[Target], store_tables: Mapping[str, pd.DataFrame], point: int = 0) -> pd.DataFrame:
    """Evaluate every target on a batch store's tables (paired by replicate).

    Returns:
        One row per target: target, figure, band (the test and tolerance), share (of replications where the
        test holds), status (PASS/WARN/FAIL), explanation, and metric, scenarios, window, replications,
        mean_holds (the test applied to the replication mean, used by robustness).
    """
    runs = split_runs(store_tables)
    rows = [evaluate_target(t, runs, point) for t in targets]
    return pd.DataFrame(rows, columns=COLUMNS)


def scenarios_needed(targets: Sequence[Target]) -> tuple[str, ...]:
    """Every scenario any target needs, in first-mention order (a counterfactual before its scenario)."""
    seen: dict[str, None] = {}
    for t in targets:
        for s in (t.order or (t.counterfactual, t.scenario)):
            if s is None:
                continue
            seen.setdefault(s, None)
    return tuple(seen)


def render_markdown(result: pd.DataFrame) -> str:
    """The validation table as Markdown (target, figure, band, status)."""
    lines = ["| target | figure | band | status |", "| --- | --- | --- | --- |"]
    for _, r in result.iterrows():
        cells = [str(r["target"]), str(r["figure"]), str(r["band"]), f"**{r['status']}**"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    counts = result["status"].value_counts()
    lines.append("")
    lines.append(", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES))
    return "\n".join(lines) + "\n"


def render_text(result: pd.DataFrame, width: int = 100) -> str:
    """The validation table as plain text for the terminal."""
    out = []
    for _, r in result.iterrows():
        out.append(f"[{r['status']}] {r['target']}")
        out.append(f"    {r['figure']}")
        out.append(f"    test: {r['band']}  ({r['explanation']})")
    counts = result["status"].value_counts()
    out.append(", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES))
    return "\n".join(out)
