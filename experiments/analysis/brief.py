"""The report's front page, "At a glance": key findings in plain sentences, a scenario x criterion scorecard with
ranks, and a caveats box.

Pure functions of the summary :func:`experiments.analysis.report.outcome_summary` returns (one row per series,
``when`` and metric: ``mean, low, high`` and the paired difference from the reference ``diff_mean, diff_low,
diff_high`` over ``pairs`` replicates) and of the repository's calibration and validation results. A finding is
said only when the paired 95% interval of the difference excludes zero, so every sentence follows from a row of
the summary table: change the number and the sentence changes, widen the interval over zero and it goes.

The front page keeps the key findings only (:func:`key_findings`): for each scenario, at most one finding about the
industry and one about borrowers (:attr:`Criterion.group`), each the one with the largest effect relative to its
interval (:func:`strength`: the difference over the half-width of its 95% interval) among that scenario's
findings of the group. Every finding is listed in the section "All findings" further down
(:func:`all_findings_blocks`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.analysis.scale import SUPPORTED_MIN_BORROWERS

#: The repository root (calibration and validation results are read relative to it).
ROOT = Path(__file__).resolve().parents[2]
CALIBRATION_REPORT = Path("results/calibration/report.md")
VALIDATION_CSV = Path("results/validation/validation.csv")
SHORT_RUN = "short-run"


@dataclass(frozen=True)
class Criterion:
    """One column of the scorecard and one kind of finding.

    Attributes:
        metric, when: the summary rows it reads.
        column: the scorecard's header (short).
        subject: the sentence's subject, e.g. "the head share at the horizon".
        kind: ``share`` (stated in percentage points), ``count``, ``yuan`` or ``number``.
        group: :data:`INDUSTRY` (market structure and platforms) or :data:`BORROWERS`; the front page keeps at
            most one finding of each group per scenario (:func:`key_findings`).
        lower_is_better: the direction of the rank (1 = least harmful / best for borrowers).
    """

    metric: str
    when: str
    column: str
    subject: str
    kind: str
    group: str
    lower_is_better: bool = True


#: The groups of criteria, in the order the front page states a scenario's key findings.
INDUSTRY, BORROWERS = "industry", "borrowers"
GROUPS = (INDUSTRY, BORROWERS)


CRITERIA: tuple[Criterion, ...] = (
    Criterion("head_share", "horizon", "head share, horizon", "the head share of platform volume at the horizon",
              "share", INDUSTRY),
    Criterion("conc_hhi", "horizon", "HHI, horizon", "the HHI of platform volume (0-10000) at the horizon",
              "number", INDUSTRY),
    Criterion("platform_exits_tail_since_rule", SHORT_RUN, "tail exits since rule",
              "the number of tail platforms exiting from the first rule date to the horizon", "count", INDUSTRY),
    Criterion("platform_exits_waist_since_rule", SHORT_RUN, "waist exits since rule",
              "the number of waist platforms exiting from the first rule date to the horizon", "count", INDUSTRY),
    Criterion("rationed_share", "horizon", "rationed share, horizon",
              "the share of applicants rationed out of licensed credit at the horizon", "share", BORROWERS),
    Criterion("defaults_12m_share", SHORT_RUN, "defaults, 12 months after rule",
              "the share of indebted borrowers newly defaulting in the 12 months from the first rule date",
              "share", BORROWERS),
    Criterion("default_rate", "horizon", "default rate, horizon", "the monthly default rate at the horizon",
              "share", BORROWERS),
    Criterion("spiral_share", "horizon", "debt spirals, horizon",
              "the share of borrowers in a debt spiral at the horizon", "share", BORROWERS),
    Criterion("shadow_volume", "horizon", "shadow credit, horizon",
              "shadow-credit volume at the horizon (yuan/month)", "yuan", BORROWERS),
    Criterion("platform_margin", "horizon", "platform margin, horizon",
              "the platform margin at the horizon", "share", INDUSTRY),
)

#: Why each direction: lower is better for every criterion shipped (platform margin: less paid to platforms).
DIRECTION_NOTE = ("Rank 1 = least harmful / best for borrowers; every criterion ranks its lowest value first "
                  "(less concentration, fewer exits, fewer borrowers rationed or defaulting or in spirals, less "
                  "shadow credit, a lower platform margin: less paid by borrowers to platforms). Equal values share "
                  "a rank (marked =).")


# ------------------------------------------------------------------------------------------ numbers
def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _scale(kind: str, values: Sequence[float]) -> tuple[float, str]:
    """Divisor and unit word for a number of ``kind`` (shares in percentage points, yuan in k/M/bn)."""
    if kind == "share":
        return 0.01, "points"
    if kind == "yuan":
        top = max(abs(v) for v in values)
        for threshold, suffix in ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
            if top >= threshold:
                return threshold, f"{suffix}yuan"
        return 1.0, "yuan"
    return 1.0, ""


def _decimals(values: Sequence[float]) -> int:
    """Decimals giving about three significant digits to the largest of ``values`` (at least 0, at most 6)."""
    top = max((abs(v) for v in values), default=0.0)
    if top == 0 or math.isnan(top):
        return 1
    return max(0, min(6, 2 - math.floor(math.log10(top))))


def format_difference(mean: float, low: float, high: float, kind: str) -> tuple[str, str, str, str]:
    """(size, unit, low, high) of a difference as a sentence states it: the size unsigned, the bounds signed,
    all with the same number of decimals, e.g. ``("13.2", "points", "+9.1", "+17.3")`` for a share."""
    div, unit = _scale(kind, [mean, low, high])
    m, lo, hi = mean / div, low / div, high / div
    d = _decimals([m, lo, hi])
    d = max(1, d) if kind == "share" else min(1, d) if kind == "count" else d
    return f"{abs(m):,.{d}f}", unit, f"{lo:+,.{d}f}", f"{hi:+,.{d}f}"


def format_level(value: float, kind: str) -> str:
    """A level as the scorecard shows it (shares in percent)."""
    if _missing(value):
        return "n/a"
    if kind == "share":
        return f"{value * 100:.{max(1, _decimals([value * 100]))}f}%"
    div, unit = _scale(kind, [value])
    d = _decimals([value / div])
    text = f"{value / div:,.{min(1, d) if kind == 'count' else d}f}"
    return f"{text}{unit[:-4] if kind == 'yuan' else ''}"


# ------------------------------------------------------------------------------------------ findings
def _row(summary: pd.DataFrame, series: str, criterion: Criterion) -> pd.Series | None:
    rows = summary[(summary["series"] == series) & (summary["metric"] == criterion.metric)
                   & (summary["when"] == criterion.when)]
    return None if rows.empty else rows.iloc[0]


def _series(summary: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(summary["series"]))


def finding(row: pd.Series, criterion: Criterion) -> str | None:
    """The sentence one summary row supports, or None when it has no paired difference or its 95% interval
    includes zero."""
    pairs = row.get("pairs", 0)
    mean, low, high = row.get("diff_mean"), row.get("diff_low"), row.get("diff_high")
    if _missing(pairs) or int(pairs) < 2 or any(_missing(v) for v in (mean, low, high)):
        return None
    if not (low > 0 or high < 0) or mean == 0:
        return None
    size, unit, lo, hi = format_difference(float(mean), float(low), float(high), criterion.kind)
    direction = "higher" if mean > 0 else "lower"
    if unit.endswith("yuan"):
        # Amounts carry their scale (k, M) on the size and on both bounds, so the interval reads in yuan too.
        scale = unit[:-4].strip()
        amount, lo, hi = f"{size}{scale} yuan", f"{lo}{scale}", f"{hi}{scale}"
    else:
        amount = f"{size} {unit}".strip()
    return (f"Under {row['series']}, {criterion.subject} is {amount} {direction} than under {row['reference']} "
            f"(95% interval {lo} to {hi}).")


@dataclass(frozen=True)
class Finding:
    """A sentence of :func:`finding` with what it is about and how firmly the replications resolve it."""

    series: str
    criterion: Criterion
    sentence: str
    strength: float


def strength(mean: float, low: float, high: float) -> float:
    """The effect relative to its interval: ``|mean|`` over the half-width of the 95% interval, the larger of
    ``mean - low`` and ``high - mean`` (an interval clipped to the valid range keeps its other side, so clipping
    does not inflate it); infinite for an interval of zero width around a non-zero mean."""
    half = max(mean - low, high - mean)
    if half <= 0:
        return math.inf if mean != 0 else 0.0
    return abs(mean) / half


def all_findings(summary: pd.DataFrame, criteria: Sequence[Criterion] = CRITERIA) -> list[Finding]:
    """Every finding: one per scenario and criterion whose paired 95% interval of the difference from the
    reference excludes zero, in scenario order, then criterion order."""
    out = []
    for name in _series(summary):
        for criterion in criteria:
            row = _row(summary, name, criterion)
            if row is None or row.get("reference", "") in ("", name) or _missing(row.get("reference")):
                continue
            sentence = finding(row, criterion)
            if sentence:
                out.append(Finding(name, criterion, sentence,
                                   strength(float(row["diff_mean"]), float(row["diff_low"]), float(row["diff_high"]))))
    return out


def findings(summary: pd.DataFrame, criteria: Sequence[Criterion] = CRITERIA) -> list[str]:
    """The sentences of :func:`all_findings`, in its order."""
    return [f.sentence for f in all_findings(summary, criteria)]


def key_findings(found: Sequence[Finding], groups: Sequence[str] = GROUPS) -> list[Finding]:
    """The front page's findings: for each scenario (in the order of ``found``) and each group in ``groups``
    order, the finding with the largest :attr:`Finding.strength` (the first in criterion order on a tie). So at
    most ``len(groups)`` per scenario, each one of ``found``."""
    out = []
    for name in dict.fromkeys(f.series for f in found):
        for group in groups:
            mine = [f for f in found if f.series == name and f.criterion.group == group]
            if mine:
                out.append(max(mine, key=lambda f: f.strength))  # max keeps the first of equals
    return out


# ------------------------------------------------------------------------------------------ scorecard
def ranks(values: Sequence[float], lower_is_better: bool = True) -> list[int | None]:
    """Competition ranks (1, 2, 2, 4) of ``values``, 1 the best; equal values (to 9 significant digits) share a
    rank; a missing value gets None."""
    def key(v: float) -> float:
        return float(f"{v:.9g}") * (1 if lower_is_better else -1)

    present = [key(v) for v in values if not _missing(v)]
    return [None if _missing(v) else 1 + sum(1 for p in present if p < key(v)) for v in values]


def scorecard(summary: pd.DataFrame, criteria: Sequence[Criterion] = CRITERIA
              ) -> tuple[list[str], list[list[str]]]:
    """Scenarios as rows, criteria as columns; each cell the scenario's mean and, for a scenario other than the
    reference, its paired difference from it, then the rank among the scenarios, e.g. ``82.8% (+10.7 pp) #3``.
    Criteria missing from the summary are left out. Returns (header, rows)."""
    names = _series(summary)
    used = [c for c in criteria if any(_row(summary, n, c) is not None for n in names)]
    header = ["scenario", *[f"{c.column} (lower better)" if c.lower_is_better else
                            f"{c.column} (higher better)" for c in used]]
    cells: dict[str, list[str]] = {n: [n] for n in names}
    for c in used:
        rows = [_row(summary, n, c) for n in names]
        means = [math.nan if r is None else float(r["mean"]) for r in rows]
        order = ranks(means, c.lower_is_better)
        tied = {r for r in order if r is not None and order.count(r) > 1}
        for n, r, rank in zip(names, rows, order, strict=True):
            if r is None or rank is None:
                cells[n].append("n/a")
                continue
            text = format_level(float(r["mean"]), c.kind)
            if not _missing(r.get("diff_mean")) and r.get("pairs", 0) and r.get("reference") != n:
                size, unit, _, _ = format_difference(float(r["diff_mean"]), float(r["diff_mean"]),
                                                     float(r["diff_mean"]), c.kind)
                sign = "+" if r["diff_mean"] > 0 else "−" if r["diff_mean"] < 0 else "±"
                unit = "pp" if c.kind == "share" else unit[:-4] if c.kind == "yuan" else unit
                text += f" ({sign}{size}{' ' + unit if unit == 'pp' else unit})"
            cells[n].append(f"{text} #{rank}{'=' if rank in tied else ''}")
    return header, [cells[n] for n in names]


# ------------------------------------------------------------------------------------------ caveats
def calibration_status(root: Path = ROOT) -> str:
    """The calibration's loss and moments within tolerance from ``results/calibration/report.md``, or
    "parameters not calibrated" without it."""
    path = root / CALIBRATION_REPORT
    if not path.is_file():
        return "Calibration: parameters not calibrated (no results/calibration/report.md)."
    text = path.read_text(encoding="utf-8")
    loss = re.search(r"Loss at the estimate ([0-9.eE+-]+)", text)
    within = re.search(r"(\d+) of (\d+) moments within tolerance", text)
    parts = []
    if loss:
        parts.append(f"loss at the estimate {loss.group(1).rstrip('.')}")
    if within:
        parts.append(f"{within.group(1)} of {within.group(2)} moments within tolerance")
    if not parts:
        return "Calibration: results/calibration/report.md gives no loss or moments."
    return f"Calibration (results/calibration/report.md): {'; '.join(parts)}."


def validation_failures(root: Path = ROOT) -> list[str]:
    """One line per validation target with status FAIL or WARN in ``results/validation/validation.csv``; one
    line saying so when the file is missing or none fails."""
    path = root / VALIDATION_CSV
    if not path.is_file():
        return ["Validation: no results (results/validation/validation.csv not found)."]
    table = pd.read_csv(path, dtype=str).fillna("")
    if "status" not in table.columns:
        return ["Validation: results/validation/validation.csv has no status column."]
    bad = table[table["status"].str.upper().isin(["FAIL", "WARN"])]
    if bad.empty:
        return [f"Validation: all {len(table)} targets pass (results/validation/validation.csv)."]
    lines = [f"Validation: {len(bad)} of {len(table)} targets open (results/validation/validation.csv):"]
    for _, r in bad.iterrows():
        what = r.get("figure", "")
        lines.append(f"{r['status'].upper()} {r.get('target', '')}" + (f": {what}" if what else ""))
    return lines


def population_caveat(borrowers: int | None) -> str:
    """The population per run against the supported size."""
    if not borrowers:
        return (f"Population per run: not recorded in the store; the supported size is at least "
                f"{SUPPORTED_MIN_BORROWERS:,} modelled borrowers.")
    if borrowers < SUPPORTED_MIN_BORROWERS:
        return (f"Population per run: {borrowers:,} modelled borrowers, below the supported "
                f"{SUPPORTED_MIN_BORROWERS:,} (`zhudai scale-check`): tail exits and head share may depend on the "
                "sample.")
    return (f"Population per run: {borrowers:,} modelled borrowers, at or above the supported "
            f"{SUPPORTED_MIN_BORROWERS:,}.")


def caveats(borrowers: int | None, root: Path = ROOT) -> list[str]:
    """Population, calibration status and open validation failures."""
    return [population_caveat(borrowers), calibration_status(root), *validation_failures(root)]


# ------------------------------------------------------------------------------------------ blocks
#: The selection rule of :func:`key_findings`, as the front page states it.
KEY_RULE = ("For each scenario, at most two: of the findings about the industry (concentration, exits, platform "
            "margin) and of those about borrowers (rationing, defaults, spirals, shadow credit), the one with the "
            "largest effect relative to its interval (the difference over the half-width of its 95% interval).")


def all_findings_blocks(summary: pd.DataFrame) -> list[tuple]:
    """The section "All findings": every finding of :func:`findings`, in scenario then criterion order (empty
    without findings)."""
    found = findings(summary)
    if not found:
        return []
    return [("h", 2, "All findings"),
            ("p", "Every difference from the reference on the scorecard's criteria whose paired 95% interval "
                  "excludes zero, by scenario, in the scorecard's column order; the front page keeps the key ones."),
            ("ul", found)]


def brief_blocks(summary: pd.DataFrame, borrowers: int | None, root: Path = ROOT) -> list[tuple]:
    """The "At a glance" section as report blocks: findings, scorecard, caveats box."""
    blocks: list[tuple] = [("h", 2, "At a glance")]
    reference = next((r for r in summary.get("reference", pd.Series(dtype=str)) if isinstance(r, str) and r), "")
    found = all_findings(summary)
    blocks.append(("h", 3, "Key findings"))
    if found:
        key = key_findings(found)
        blocks.append(("p", f"Differences from {reference}, paired by replicate, said only where the 95% "
                            "interval excludes zero; shares in percentage points. " + KEY_RULE
                            + f" {len(key)} of {len(found)} findings; all of them under All findings below."))
        blocks.append(("ul", [f.sentence for f in key]))
    elif reference:
        blocks.append(("p", f"No difference from {reference} on the criteria below has a 95% interval that "
                            "excludes zero."))
    else:
        blocks.append(("p", "No reference scenario: no differences to state."))
    header, rows = scorecard(summary)
    if rows and len(header) > 1:
        blocks.append(("h", 3, "Scorecard"))
        paired = f" (paired difference from {reference} in brackets)" if reference else ""
        blocks.append(("p", f"Mean over replications{paired} and rank #. " + DIRECTION_NOTE))
        blocks.append(("table", header, rows, "scorecard"))
    blocks.append(("box", "Caveats", caveats(borrowers, root)))
    return blocks
