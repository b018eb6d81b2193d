"""Concentration of platform volume: head share, CR5, HHI and Gini over one population, and why they disagree.

**Population.** Every platform of a run's first month (the whole industry at the start: 158 platforms in the
shipped scenarios), each at the volume it recorded that month. A platform that exits records what it lent in its
exit month and zero after, so it stays in the population at zero volume; a platform first seen after the first
month (the model has no entry) would be left out. This is the population an industry share refers to: shares are
of all platform volume, and the Gini counts an exited platform as a platform that lends nothing.

Over this population, head share, CR5 and HHI equal the model table's ``head_share``, ``cr5`` and ``hhi``
(``model/output.py`` computes them each month from every platform's volume, the same vector): a platform at zero
adds nothing to a sum of shares or of squared shares, so these three do not depend on whether exited platforms
are counted. The Gini does: over surviving platforms only it leaves the exits out, and falls when the small
platforms exit, although the industry consolidates.

**Why they disagree.** The four measures answer different questions, and each difference splits exactly into
parts that the data name (per replicate, at the midpoint of the two runs, then averaged):

* HHI against a group's share (the head tier's, or the five largest platforms'): for a group with share ``g`` and
  HHI ``h_in`` of the shares within it (0-10000), and ``h_out`` within the rest,
  ``HHI = g² h_in + (1 - g)² h_out``, so ``ΔHHI`` = shift of volume between the group and the rest
  + evenness within the group + evenness within the rest;
* head share against CR5: ``head share = both + head outside the top 5`` and ``CR5 = both + top 5 outside the
  head tier``, where ``both`` is the share of head platforms among the five largest;
* Gini against the others: with ``z`` the share of platforms at zero volume and ``G_lend`` the Gini of the
  platforms that lend, ``Gini = z + (1 - z) G_lend``, so ``ΔGini`` = platforms at zero + evenness among lenders.

:func:`reconcile` writes a sentence from these parts when the measures move in opposite directions, and nothing
when they agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.analysis.stats import mean_interval, paired_difference

POPULATION = ("every platform of the run's first month, each at the volume it recorded: an exited platform counts "
              "with what it lent in its exit month and at zero after")

#: The four measures: (column, label, kind) where kind is "share" (0-1), "index" (HHI, 0-10000) or "gini" (0-1).
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("head_share", "head share", "share"),
    ("cr5", "CR5", "share"),
    ("hhi", "HHI", "index"),
    ("gini", "Gini", "gini"),
)
#: Valid range of each measure (for clipping intervals) and of the differences of two values.
RANGES = {"head_share": (0.0, 1.0), "cr5": (0.0, 1.0), "hhi": (0.0, 10000.0), "gini": (0.0, 1.0)}
#: Prefix of the measures' metric names in summary.csv (``conc_head_share``, ...; ``head_share`` etc. are the
#: model table's columns, equal to these for the three shares and HHI).
SUMMARY_PREFIX = "conc_"
#: Differences smaller than this (in the measure's unit) count as no change (identical paired runs).
_TOLERANCE = {"head_share": 1e-9, "cr5": 1e-9, "hhi": 1e-6, "gini": 1e-9}
_ID_COLUMNS = ("series", "scenario", "point", "replicate")


# -------------------------------------------------------------------------------------------- measures
def hhi(values: np.ndarray) -> float:
    """Herfindahl-Hirschman index on a 0-10000 scale, ``sum((100 v_i / sum v)^2)``; 0 when nothing is lent."""
    v = np.asarray(values, dtype=float)
    total = v.sum()
    return float(np.sum((100.0 * v / total) ** 2)) if total > 0 else 0.0


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (zeros included): ``sum_ij |v_i - v_j| / (2 n^2 mean)``.

    Equals one minus twice the area under the Lorenz curve drawn through the sorted values; NaN when there are no
    values or nothing is lent.
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    total = v.sum()
    if n == 0 or total <= 0:
        return math.nan
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * v) / (n * total) - (n + 1) / n)


def measures(volumes: np.ndarray, head: np.ndarray) -> dict[str, float]:
    """The four measures of one month of one run, and the parts :func:`reconcile` explains them with.

    Args:
        volumes: volume of every platform of the population (zeros included).
        head: True for head-tier platforms.

    Returns:
        ``head_share, cr5, hhi, gini`` (shares 0-1, HHI 0-10000; 0 and NaN Gini when nothing is lent) and
        ``platforms, head_platforms, lending, head_lending`` (counts), ``hhi_head, hhi_nonhead, hhi_top5,
        hhi_rest5`` (HHI of the shares within each group, 0-10000), ``both`` (share of head platforms among the
        five largest), ``head_outside_top5``, ``top5_outside_head``, ``zero_share`` (share of platforms at zero
        volume) and ``gini_lending`` (Gini of the platforms with volume).
    """
    v = np.asarray(volumes, dtype=float)
    head = np.asarray(head, dtype=bool)
    total = v.sum()
    s = v / total if total > 0 else np.zeros_like(v)
    top5 = np.zeros(v.size, dtype=bool)
    if total > 0:
        top5[np.argsort(-v, kind="stable")[:5]] = True
    lending = v > 0
    return {
        "head_share": float(min(s[head].sum(), 1.0)),
        "cr5": float(min(s[top5].sum(), 1.0)),
        "hhi": hhi(v),
        "gini": gini(v),
        "platforms": int(v.size),
        "head_platforms": int(head.sum()),
        "lending": int(lending.sum()),
        "head_lending": int((lending & head).sum()),
        "hhi_head": hhi(v[head]),
        "hhi_nonhead": hhi(v[~head]),
        "hhi_top5": hhi(v[top5]),
        "hhi_rest5": hhi(v[~top5]),
        "both": float(s[head & top5].sum()),
        "head_outside_top5": float(s[head & ~top5].sum()),
        "top5_outside_head": float(s[top5 & ~head].sum()),
        "zero_share": float((~lending).mean()) if v.size else math.nan,
        "gini_lending": gini(v[lending]) if lending.any() else math.nan,
    }


def in_start_population(platforms: pd.DataFrame) -> pd.Series:
    """True for the rows of the platforms table whose platform is in its run's first month (:data:`POPULATION`)."""
    first = platforms.groupby("run_id")["step"].transform("min")
    start = platforms.loc[platforms["step"] == first, ["run_id", "platform_id"]].drop_duplicates()
    keys = pd.MultiIndex.from_frame(platforms[["run_id", "platform_id"]])
    return pd.Series(keys.isin(pd.MultiIndex.from_frame(start)), index=platforms.index)


def concentration_table(platforms: pd.DataFrame) -> pd.DataFrame:
    """:func:`measures` per run and month over the population of :data:`POPULATION`.

    Args:
        platforms: the platforms table (``run_id, step, date, platform_id, tier, volume``; ``series, scenario,
            point, replicate`` are carried along when present).

    Returns:
        One row per run and step: the id columns present, ``step, date`` and the columns of :func:`measures`.
    """
    rows = []
    carried = [c for c in _ID_COLUMNS if c in platforms.columns]
    for run_id, run in platforms.groupby("run_id", sort=False):
        start = run[run["step"] == run["step"].min()].drop_duplicates("platform_id")
        ids = start["platform_id"].to_numpy()
        head = (start["tier"] == "head").to_numpy()
        wide = (run.pivot_table(index="step", columns="platform_id", values="volume", aggfunc="sum")
                .reindex(columns=ids).fillna(0.0))
        dates = run.groupby("step")["date"].first()
        ident = {"run_id": run_id, **{c: run[c].iloc[0] for c in carried}}
        for step, vol in zip(wide.index, wide.to_numpy(dtype=float), strict=True):
            rows.append({**ident, "step": int(step), "date": dates[step], **measures(vol, head)})
    return pd.DataFrame(rows)


def values_at(table: pd.DataFrame, when: str) -> pd.DataFrame:
    """Rows of :func:`concentration_table` at a month (``YYYY-MM``) or, for ``"horizon"``, each run's last."""
    if table.empty:
        return table
    if when == "horizon":
        return table.loc[table.groupby("run_id")["step"].idxmax()]
    return table[table["date"] == when]


# --------------------------------------------------------------------------------------------- summary
def concentration_summary(table: pd.DataFrame, series: Sequence[str], series_scenario: dict[str, str],
                          reference: str | None, whens: Sequence[str]) -> pd.DataFrame:
    """The four measures per series and ``when`` with paired differences against the reference series.

    Same columns as the report's outcome summary (``series, scenario, when, date, metric, runs, mean, sd, low,
    high, reference, pairs, diff_mean, diff_low, diff_high``); metrics are named ``conc_<measure>``. Intervals
    are ``mean_interval`` of the values, and of the per-replicate differences (replicate i of a series minus
    replicate i of the reference), clipped to the measure's range (differences to ± its width).
    """
    rows = []
    for when in dict.fromkeys(whens):
        at = values_at(table, when)
        if at.empty:
            continue
        ref = at[at["series"] == reference].set_index("replicate") if reference else None
        for name in series:
            group = at[at["series"] == name]
            if group.empty:
                continue
            dates = sorted(group["date"].unique())
            date = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
            for measure, _label, _kind in MEASURES:
                lo, hi = RANGES[measure]
                n, mean, sd, low, high = mean_interval(group[measure].to_numpy(dtype=float))
                row = {"series": name, "scenario": series_scenario.get(name, name), "when": when, "date": date,
                       "metric": SUMMARY_PREFIX + measure, "runs": n, "mean": mean, "sd": sd,
                       "low": _clip(low, lo, hi), "high": _clip(high, lo, hi), "reference": reference or "",
                       "pairs": 0, "diff_mean": math.nan, "diff_low": math.nan, "diff_high": math.nan}
                if ref is not None and name != reference:
                    pairs, dmean, dlow, dhigh = paired_difference(group.set_index("replicate")[measure],
                                                                  ref[measure])
                    row.update(pairs=pairs, diff_mean=dmean, diff_low=_clip(dlow, lo - hi, hi - lo),
                               diff_high=_clip(dhigh, lo - hi, hi - lo))
                rows.append(row)
    columns = ["series", "scenario", "when", "date", "metric", "runs", "mean", "sd", "low", "high", "reference",
               "pairs", "diff_mean", "diff_low", "diff_high"]
    return pd.DataFrame(rows, columns=columns)


def _clip(x: float, lo: float, hi: float) -> float:
    return x if math.isnan(x) else min(max(x, lo), hi)


# ---------------------------------------------------------------------------------------- reconcile
def _direction(d: float, measure: str) -> int:
    if math.isnan(d) or abs(d) <= _TOLERANCE[measure]:
        return 0
    return 1 if d > 0 else -1


def _verb(sign: int, subject_plural: bool = False) -> str:
    if subject_plural:
        return "rise" if sign > 0 else "fall"
    return "rises" if sign > 0 else "falls"


def _num(value: float, kind: str, signed: bool = False) -> str:
    if kind == "share":
        return f"{value * 100:+.1f} pp" if signed else f"{value * 100:.1f}%"
    if kind == "index":
        return f"{value:+,.0f}" if signed else f"{value:,.0f}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _equal_sized(h: float) -> str:
    return f"{10000.0 / h:.1f}" if h > 0 else "0"


def _pairs(mine: pd.DataFrame, ref: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    a = mine.set_index("replicate")
    b = ref.set_index("replicate")
    common = a.index.intersection(b.index)
    return a.loc[common], b.loc[common]


def _group_split(a: pd.DataFrame, b: pd.DataFrame, share: str, inside: str, outside: str) -> dict[str, float]:
    """Mean over replicates of the midpoint split of ΔHHI = shift between group and rest + within + rest."""
    ga, gb = a[share].to_numpy(float), b[share].to_numpy(float)
    ra, rb = 1.0 - ga, 1.0 - gb
    ia, ib = a[inside].to_numpy(float), b[inside].to_numpy(float)
    oa, ob = a[outside].to_numpy(float), b[outside].to_numpy(float)
    shift = (ga ** 2 - gb ** 2) * (ia + ib) / 2 + (ra ** 2 - rb ** 2) * (oa + ob) / 2
    within = (ga ** 2 + gb ** 2) / 2 * (ia - ib)
    rest = (ra ** 2 + rb ** 2) / 2 * (oa - ob)
    return {"shift": float(shift.mean()), "within": float(within.mean()), "rest": float(rest.mean())}


def _because(total: float, parts: list[tuple[float, str]], what: str, fmt: str) -> str:
    """`` because <the parts with the total's sign> move <what> by x, while <the others> move it by y.``

    ``parts`` are (value, noun phrase) whose values sum to ``total`` (the exact split of the difference).
    """
    sign = 1 if total > 0 else -1
    reasons = [(v, text) for v, text in parts if v * sign > 0]
    against = [(v, text) for v, text in parts if v * sign < 0]
    if not reasons:  # cannot happen: the parts sum to the total
        return "."

    def listed(items: list[tuple[float, str]]) -> str:  # each part's own value when there are several
        if len(items) == 1:
            return items[0][1]
        return " and ".join(f"{t[:-1]}; {_num(v, fmt, True)})" if t.endswith(")") else f"{t} ({_num(v, fmt, True)})"
                            for v, t in items)

    moved = sum(v for v, _ in reasons)
    verb = "moves" if len(reasons) == 1 else "move"
    out = f" because {listed(reasons)} {verb} {what} by {_num(moved, fmt, True)}"
    if against:
        back = sum(v for v, _ in against)
        verb = "moves" if len(against) == 1 else "move"
        out += f", while {listed(against)} {verb} it by {_num(back, fmt, True)}"
    return out + "."


def _hhi_against_group(a: pd.DataFrame, b: pd.DataFrame, d: dict[str, float], group: str) -> str:
    """HHI moves against head share (``group="head"``) or CR5 (``group="top5"``): the split of ΔHHI."""
    if group == "head":
        measure, share, inside, outside = "head_share", "head_share", "hhi_head", "hhi_nonhead"
        k = round(float(b["head_platforms"].mean()))
        name, where = "the head tier", f"within the head tier across its {k} platforms"
        rest_name = "the waist and tail platforms"
    else:
        measure, share, inside, outside = "cr5", "cr5", "hhi_top5", "hhi_rest5"
        name, where = "the five largest platforms", "among the five largest platforms"
        rest_name = "the other platforms"
    split = _group_split(a, b, share, inside, outside)
    ib, ia = b[inside].mean(), a[inside].mean()
    ob, oa = b[outside].mean(), a[outside].mean()
    within = (f"the {'more' if split['within'] < 0 else 'less'} even spread of volume {where} (their HHI "
              f"{ib:,.0f} → {ia:,.0f}, as if {_equal_sized(ib)} → {_equal_sized(ia)} equal-sized platforms)")
    rest = (f"the {'more' if split['rest'] < 0 else 'less'} even spread of volume among {rest_name} (their HHI "
            f"{ob:,.0f} → {oa:,.0f})")
    shift = f"the shift of volume {'to' if d[measure] > 0 else 'from'} {name}"
    label = {m: lab for m, lab, _ in MEASURES}[measure]
    head = (f"HHI {_verb(_direction(d['hhi'], 'hhi'))} ({_num(d['hhi'], 'index', True)}) while {label} "
            f"{_verb(_direction(d[measure], measure))} ({_num(d[measure], 'share', True)})")
    return head + _because(d["hhi"], [(split["within"], within), (split["rest"], rest), (split["shift"], shift)],
                           "HHI", "index")


def _head_against_cr5(a: pd.DataFrame, b: pd.DataFrame, d: dict[str, float]) -> str:
    both = float((a["both"] - b["both"]).mean())
    hx = float((a["head_outside_top5"] - b["head_outside_top5"]).mean())
    tx = float((a["top5_outside_head"] - b["top5_outside_head"]).mean())
    text = (f"Head share {_verb(_direction(d['head_share'], 'head_share'))} ({_num(d['head_share'], 'share', True)}) "
            f"while CR5 {_verb(_direction(d['cr5'], 'cr5'))} ({_num(d['cr5'], 'share', True)}) because the head "
            f"platforms outside the five largest move by {_num(hx, 'share', True)}, which counts in head share only")
    if abs(tx) > _TOLERANCE["cr5"]:
        text += (f", and the five largest platforms outside the head tier by {_num(tx, 'share', True)}, which counts "
                 "in CR5 only")
    return text + f" (the head platforms among the five largest, counted in both, move by {_num(both, 'share', True)})."


def _gini_against(a: pd.DataFrame, b: pd.DataFrame, d: dict[str, float], others: list[str]) -> str:
    za, zb = a["zero_share"].to_numpy(float), b["zero_share"].to_numpy(float)
    la = np.nan_to_num(a["gini_lending"].to_numpy(float))
    lb = np.nan_to_num(b["gini_lending"].to_numpy(float))
    zero_part = float(((za - zb) * (1.0 - (la + lb) / 2)).mean())
    lend_part = float(((1.0 - (za + zb) / 2) * (la - lb)).mean())
    n = round(float(b["platforms"].mean()))
    kb, ka = b["platforms"].mean() - b["lending"].mean(), a["platforms"].mean() - a["lending"].mean()
    labels = {m: lab for m, lab, _ in MEASURES}
    kinds = {m: kind for m, _, kind in MEASURES}
    sign = _direction(d["gini"], "gini")
    moved = " and ".join(f"{labels[m]} ({_num(d[m], kinds[m], True)})" for m in others)
    zero = (f"the {'rise' if zero_part > 0 else 'fall'} in platforms that lend nothing ({kb:.1f} → {ka:.1f} of "
            f"the {n}: the Gini counts platforms, an exited one at zero volume)")
    lend = (f"the {'less' if lend_part > 0 else 'more'} even spread of volume among the platforms that lend (their "
            f"Gini {np.nanmean(b['gini_lending']):.3f} → {np.nanmean(a['gini_lending']):.3f})")
    return (f"The Gini {_verb(sign)} ({_num(d['gini'], 'gini', True)}) while {moved} "
            f"{_verb(-sign, len(others) > 1)}" + _because(d["gini"], [(zero_part, zero), (lend_part, lend)],
                                                          "the Gini", "gini"))


def reconcile(mine: pd.DataFrame, ref: pd.DataFrame, intervals: dict[str, tuple[float, float]] | None = None
              ) -> str | None:
    """A sentence that reconciles the four measures when their paired differences disagree in sign, else None.

    Args:
        mine, ref: rows of :func:`concentration_table` of a scenario and of the reference at one date, one per
            replicate; paired by ``replicate``.
        intervals: measure -> (low, high) of the difference's 95% interval; a disagreement whose difference's
            interval includes 0 is flagged as not resolved by the replications.

    Returns:
        One sentence per disagreeing pair (HHI against head share, HHI against CR5, head share against CR5, Gini
        against the others), each naming the parts of the difference that carry it, or None when all four move
        the same way (differences within rounding of zero count as no move).
    """
    a, b = _pairs(mine, ref)
    if a.empty:
        return None
    d = {m: float((a[m].astype(float) - b[m].astype(float)).mean()) for m, _, _ in MEASURES}
    sign = {m: _direction(d[m], m) for m in d}
    if not ({1, -1} <= set(sign.values())):
        return None
    sentences = []
    involved: set[str] = set()
    for group, measure in (("head", "head_share"), ("top5", "cr5")):
        if sign["hhi"] * sign[measure] < 0:
            sentences.append(_hhi_against_group(a, b, d, group))
            involved |= {"hhi", measure}
    if sign["head_share"] * sign["cr5"] < 0:
        sentences.append(_head_against_cr5(a, b, d))
        involved |= {"head_share", "cr5"}
    others = [m for m in ("head_share", "cr5", "hhi") if sign["gini"] * sign[m] < 0]
    if others:
        sentences.append(_gini_against(a, b, d, others))
        involved |= {"gini", *others}
    if intervals:
        labels = {m: lab for m, lab, _ in MEASURES}
        loose = [labels[m] for m, _, _ in MEASURES if m in involved and m in intervals
                 and not math.isnan(intervals[m][0]) and intervals[m][0] <= 0 <= intervals[m][1]]
        if loose:
            sentences.append(f"(The replications do not resolve the difference in {', '.join(loose)}: "
                             f"{'its 95% interval includes' if len(loose) == 1 else 'their 95% intervals include'} 0.)")
    return " ".join(s[0].upper() + s[1:] for s in sentences)


# ----------------------------------------------------------------------------------------------- block
def _cell(value: float, kind: str, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if kind == "share":
        return f"{value * 100:+.2f} pp" if signed else f"{value * 100:.2f}%"
    if kind == "index":
        return f"{value:+,.0f}" if signed else f"{value:,.0f}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _cell_interval(low: float, high: float, kind: str, signed: bool = False) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f" [{_cell(low, kind, signed)}, {_cell(high, kind, signed)}]"


def concentration_blocks(summary: pd.DataFrame, table: pd.DataFrame, series: Sequence[str],
                         reference: str | None, whens: Sequence[tuple[str, str]]) -> list[tuple]:
    """The report's "Concentration" section: population, levels, paired differences, reconciling sentences.

    Args:
        summary: rows of :func:`concentration_summary` (the numbers shown are those of summary.csv).
        table: :func:`concentration_table` of the store (for :func:`reconcile`).
        series: series in display order.
        reference: the reference series (None: no differences, no sentences).
        whens: (when, label) in display order, e.g. ``("2025-10", "rule date")``.

    Returns:
        Blocks for the report's renderers (heading, paragraphs, tables); empty without rows.
    """
    sub = summary[summary["metric"].str.startswith(SUMMARY_PREFIX)] if not summary.empty else summary
    if sub.empty:
        return []
    platforms = int(table["platforms"].max()) if "platforms" in table.columns and len(table) else 0
    blocks: list[tuple] = [
        ("h", 2, "Concentration"),
        ("p", f"Head share, CR5, HHI and the Gini of platform volume, all four over one population: every platform "
              f"of the run's first month ({platforms} platforms), each at the volume it recorded; an exited "
              "platform counts with what it lent in its exit month and at zero after. That is the population an "
              "industry share refers to. Head share, CR5 and HHI over it equal the model table's `head_share`, "
              "`cr5` and `hhi` (a platform at zero adds nothing to them); the Gini counts an exited platform as one "
              "that lends nothing, so exits raise it (a Gini over surviving platforms only leaves them out and "
              "falls when small platforms exit). Mean over replications [95% interval]; shares in percent. In "
              "summary.csv: `conc_head_share`, `conc_cr5`, `conc_hhi`, `conc_gini`."),
    ]
    kinds = {m: k for m, _, k in MEASURES}
    labels = {m: lab for m, lab, _ in MEASURES}
    shown = [name for name in series if name in set(sub["series"])]
    present = [(w, lab) for w, lab in whens if w in set(sub["when"])]

    def row_of(name: str, when: str, measure: str) -> pd.Series | None:
        r = sub[(sub["series"] == name) & (sub["when"] == when) & (sub["metric"] == SUMMARY_PREFIX + measure)]
        return None if r.empty else r.iloc[0]

    def when_cell(when: str, label: str) -> str:
        dates = sub.loc[sub["when"] == when, "date"]
        date = dates.iloc[0] if len(dates) else when
        return f"{label} ({date})"

    def table_rows(names: list[str], cell) -> list[list[str]]:
        """One row per (when, measure); ``cell(summary row or None, kind)`` fills each scenario's cell."""
        return [[labels[measure], when_cell(when, label), *(cell(row_of(name, when, measure), kind) for name in names)]
                for when, label in present for measure, _, kind in MEASURES]

    def level(r: pd.Series | None, kind: str) -> str:
        return "" if r is None else _cell(r["mean"], kind) + _cell_interval(r["low"], r["high"], kind)

    def difference(r: pd.Series | None, kind: str) -> str:
        if r is None or r["pairs"] == 0:
            return "n/a"
        return _cell(r["diff_mean"], kind, True) + _cell_interval(r["diff_low"], r["diff_high"], kind, True)

    blocks.append(("table", ["measure", "when", *shown], table_rows(shown, level)))
    others = [name for name in shown if name != reference]
    if not reference or reference not in shown or not others:
        return blocks
    blocks.append(("p", f"Difference from {reference}: scenario minus {reference}, paired by replicate (same seed), "
                        "mean [95% interval]; shares in percentage points (pp)."))
    blocks.append(("table", ["measure", "when", *others], table_rows(others, difference)))
    for name in others:
        for when, label in present:
            at = values_at(table, when)
            intervals = {}
            for measure in kinds:
                r = row_of(name, when, measure)
                if r is not None:
                    intervals[measure] = (float(r["diff_low"]), float(r["diff_high"]))
            sentence = reconcile(at[at["series"] == name], at[at["series"] == reference], intervals)
            if sentence:
                blocks.append(("p", f"{name} against {reference}, {when_cell(when, label)}: {sentence}"))
    return blocks
