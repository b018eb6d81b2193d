"""The population-size check: do the model's answers depend on how many borrowers were simulated?

``zhudai scale-check`` runs the same scenarios with the same paired seeds at several population sizes and
compares every outcome at each size with the largest size: an outcome passes at a size when its mean lies
within the 95% interval of the largest size's mean, or within a tolerance (10% relative; 3 points for
shares; for the platforms left in a tier, at least 3 points of the tier's count), whichever is wider. Pure
functions of model tables; the command lives in :mod:`experiments.cli.scale`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from experiments.analysis.stats import mean_interval
from model.params import PlatformsParams


@dataclass(frozen=True)
class Outcome:
    """One outcome of the check: how it is read from a run's model table, and its tolerance.

    Attributes:
        name: column of the check's table.
        label: what it means, for the rendered table.
        column: the model-table column it reads.
        how: ``"end"`` (value at the horizon) or ``"mean_after"`` (mean of the months from the rules' start).
        share: a share in 0-1 (absolute tolerance of 3 points) rather than a level (10% relative).
        of_total: for a count out of a fixed total (the tier's platforms), that total: the count is also a share
            of it, so its tolerance is at least 3 points of the total (without it, a reference mean of 0 with no
            spread would demand exactly 0 at every size, which no stochastic outcome can meet).
    """

    name: str
    label: str
    column: str
    how: str
    share: bool
    of_total: int = 0


_TIERS = PlatformsParams()
OUTCOMES: tuple[Outcome, ...] = (
    Outcome("tail_left", "tail platforms active at the horizon", "active_platforms_tail", "end", False,
            _TIERS.tail.count),
    Outcome("waist_left", "waist platforms active at the horizon", "active_platforms_waist", "end", False,
            _TIERS.waist.count),
    Outcome("head_share", "head share of platform volume (mean after the rules' start)", "head_share",
            "mean_after", True),
    Outcome("hhi", "HHI of platform volume (mean after the rules' start)", "hhi", "mean_after", False),
    Outcome("cr5", "CR5 of platform volume (mean after the rules' start)", "cr5", "mean_after", True),
    Outcome("rationed_share", "rationed share of applicants (mean after the rules' start)", "rationed_share",
            "mean_after", True),
    Outcome("funders_in_platform_lending", "funders in platform lending at the horizon",
            "funders_in_platform_lending", "end", False),
    Outcome("default_rate", "monthly default rate (mean after the rules' start)", "default_rate", "mean_after",
            True),
    Outcome("npl_ratio", "NPL ratio (mean after the rules' start)", "npl_ratio", "mean_after", True),
)
OUTCOME_BY_NAME = {o.name: o for o in OUTCOMES}
#: Tolerances of the bar: relative for levels, absolute (share points) for shares.
REL_TOL = 0.10
SHARE_TOL = 0.03
#: The population at which the main job runs; smaller runs print a warning. The shipped scale check
#: (docs/guide/scale-check.md) finds every outcome's mean independent of the population size from here.
SUPPORTED_MIN_BORROWERS = 200_000


def small_population_warning(borrowers: int) -> str | None:
    """The warning a run of ``borrowers`` modelled borrowers deserves, or None at a supported size."""
    if borrowers >= SUPPORTED_MIN_BORROWERS:
        return None
    return (f"warning: {borrowers:,} borrowers is below {SUPPORTED_MIN_BORROWERS:,}, the smallest population at "
            "which `zhudai scale-check` finds the answers independent of the population size (docs/guide/"
            "scale-check.md); outcomes such as tail exits and head share may depend on the sample")


def run_outcomes(model: pd.DataFrame, from_month: str) -> dict[str, float]:
    """Every outcome of one run, from its model table (one row per month, ``date`` as ``YYYY-MM``)."""
    table = model.sort_values("step")
    after = table[table["date"] >= from_month]
    values = {}
    for o in OUTCOMES:
        if o.how == "end":
            values[o.name] = float(table[o.column].iloc[-1]) if len(table) else math.nan
        else:
            values[o.name] = float(after[o.column].mean()) if len(after) else math.nan
    return values


def outcomes_table(models: Mapping[int, pd.DataFrame], from_month: str) -> pd.DataFrame:
    """One row per run: ``borrowers, scenario, replicate`` and every outcome.

    Args:
        models: each population size's batch model table (with ``scenario`` and ``replicate`` columns).
        from_month: the rules' start month (``YYYY-MM``), where "after the rules" means begin.
    """
    rows = []
    for borrowers, model in models.items():
        for (scenario, replicate), run in model.groupby(["scenario", "replicate"], sort=True, observed=True):
            rows.append({"borrowers": borrowers, "scenario": scenario, "replicate": int(replicate),
                         **run_outcomes(run, from_month)})
    return pd.DataFrame(rows, columns=["borrowers", "scenario", "replicate", *OUTCOME_BY_NAME])


def tolerance(outcome: Outcome, reference_mean: float) -> float:
    """The bar's fixed tolerance: 3 points for a share, 10% of the reference mean for a level, and for a count
    out of a fixed total the wider of 10% and 3 points of the total."""
    if outcome.share:
        return SHARE_TOL
    return max(REL_TOL * abs(reference_mean), SHARE_TOL * outcome.of_total)


def compare_sizes(runs: pd.DataFrame) -> pd.DataFrame:
    """Each size's mean of each outcome against the largest size's, per scenario.

    Returns:
        One row per scenario, size and outcome: ``mean``, ``reference`` (the largest size's mean) and its
        95% interval ``ref_low``/``ref_high``, ``allowed`` (the half-width that passes: the wider of the
        interval's half-width and the tolerance), ``gap`` (mean minus reference) and ``ok``.
    """
    rows = []
    largest = int(runs["borrowers"].max())
    for scenario, by_scenario in runs.groupby("scenario", sort=False):
        ref_runs = by_scenario[by_scenario["borrowers"] == largest]
        for o in OUTCOMES:
            _n, ref_mean, _sd, ref_low, ref_high = mean_interval(ref_runs[o.name].to_numpy(dtype=float))
            half = (ref_high - ref_low) / 2.0 if math.isfinite(ref_low) else 0.0
            allowed = max(half, tolerance(o, ref_mean))
            for borrowers, at_size in by_scenario.groupby("borrowers", sort=True):
                mean = float(at_size[o.name].mean())
                gap = mean - ref_mean
                rows.append({"scenario": scenario, "borrowers": int(borrowers), "outcome": o.name,
                             "mean": mean, "reference": ref_mean, "ref_low": ref_low, "ref_high": ref_high,
                             "allowed": allowed, "gap": gap, "ok": bool(abs(gap) <= allowed + 1e-12)})
    return pd.DataFrame(rows, columns=["scenario", "borrowers", "outcome", "mean", "reference", "ref_low",
                                       "ref_high", "allowed", "gap", "ok"])


def smallest_passing_size(comparison: pd.DataFrame) -> int | None:
    """The smallest size from which every larger size passes every outcome in every scenario (None: none)."""
    sizes = sorted(comparison["borrowers"].unique())
    passing = comparison.groupby("borrowers")["ok"].all()
    smallest = None
    for size in reversed(sizes):
        if not passing[size]:
            break
        smallest = int(size)
    return smallest


def _fmt(outcome: Outcome, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if outcome.share:
        return f"{value:.2%}" if outcome.name in ("default_rate", "npl_ratio") else f"{value:.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def render_markdown(comparison: pd.DataFrame, scenarios: Sequence[str]) -> str:
    """The check as Markdown: per scenario, one row per size, one column per outcome (``*`` marks a miss)."""
    lines = []
    names = [o.name for o in OUTCOMES]
    for scenario in scenarios:
        part = comparison[comparison["scenario"] == scenario]
        if part.empty:
            continue
        lines += [f"**{scenario}** (mean of the paired replicates; `*`: outside the bar against the largest size)",
                  "", "| borrowers | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
        for borrowers, at_size in part.groupby("borrowers", sort=True):
            by = at_size.set_index("outcome")
            cells = [_fmt(OUTCOME_BY_NAME[n], by.loc[n, "mean"]) + ("" if by.loc[n, "ok"] else "*") for n in names]
            lines.append(f"| {int(borrowers):,} | " + " | ".join(cells) + " |")
        lines.append("")
    misses = comparison[~comparison["ok"]]
    smallest = smallest_passing_size(comparison)
    if misses.empty:
        lines.append("Every outcome at every size is within the bar.")
    else:
        lines.append(f"{len(misses)} of {len(comparison)} size-outcome pairs miss the bar; "
                     + (f"every size from {smallest:,} passes." if smallest is not None
                        else "no size passes (the largest passes by definition only if every outcome agrees)."))
    lines.append("")
    lines.append("Bar: a size passes an outcome when its mean lies within the 95% interval of the largest size's mean "
                 f"or within {REL_TOL:.0%} of it ({SHARE_TOL * 100:.0f} points for shares; for platforms left, "
                 f"at least {SHARE_TOL * 100:.0f} points of the tier's count), whichever is wider.")
    return "\n".join(lines) + "\n"
