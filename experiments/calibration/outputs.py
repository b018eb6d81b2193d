"""What a calibration writes: the estimate as a scenario overlay, the fit and identifiability tables, figures and
a one-page report.

Files in the calibration directory ``DIR``::

    DIR/estimate.toml         the estimate as a scenario overlay (``extends`` the calibrated scenario)
    DIR/trials.csv            every finished trial: parameters, loss, moments
    DIR/confirm.csv           the best trials run again with the final replicates: search loss, confirmed loss
    DIR/fit.csv               each moment at the start point and at the estimate: data, model, interval, verdict
    DIR/identifiability.csv   each parameter: estimate, 95% interval, share of its range, verdict, at the edge
    DIR/profile.csv           the loss profiles (parameter, value, loss, moments)
    DIR/moment_response.csv   how far each moment moves along each parameter's profile, in tolerances
    DIR/convergence.png       loss of every trial and the best so far
    DIR/profiles.png          one loss profile per parameter, with the 95% threshold
    DIR/report.md             all of the above on one page, with the command line
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.calibration.profile import CHI2_95
from experiments.calibration.spec import CalParam, Moments
from experiments.store.common import atomic_write, atomic_write_text


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits (the precision the overlay records)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def overlay_toml(values: Mapping[str, Any], extends: str, header: Sequence[str], description: str) -> str:
    """A scenario file that ``extends`` a scenario and sets ``values`` (``dotted key -> value``)."""
    from model.config import toml_value

    sections: dict[str, list[tuple[str, Any]]] = {}
    for key, value in values.items():
        section, _, leaf = key.rpartition(".")
        sections.setdefault(section, []).append((leaf, value))
    lines = [f"# {line}" if line else "#" for line in header]
    lines += ["", f"extends = {toml_value(extends)}", f"description = {toml_value(description)}"]
    for section, leaves in sections.items():
        lines += ["", f"[{section}]"]
        lines += [f"{leaf} = {toml_value(value)}" for leaf, value in leaves]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return f"{value:.4g}"
    return str(value)


def markdown_table(df: pd.DataFrame, columns: Sequence[str]) -> str:
    """A Markdown table of some columns of ``df``, numbers to 4 significant digits."""
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    rows = ["| " + " | ".join(_fmt(row[c]).replace("|", "/") for c in columns) + " |" for _, row in df.iterrows()]
    return "\n".join([head, rule, *rows])


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def convergence_figure(trials: pd.DataFrame, path: Path) -> Path:
    """Loss of every trial (log scale) and the best loss so far, against the trial number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    finite = trials[np.isfinite(trials["loss"])].sort_values("trial")
    ax.scatter(finite["trial"], finite["loss"], s=12, color="0.55", label="trial")
    ax.step(finite["trial"], finite["loss"].cummin(), where="post", color="C3", label="best so far")
    start = finite[finite["origin"] == "start"]
    if not start.empty:
        ax.scatter(start["trial"], start["loss"], s=40, marker="D", color="C0", label="start (scenario's values)")
    ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss (sum of squared distances in tolerances)")
    ax.set_title("Calibration: convergence")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def profiles_figure(params: Sequence[CalParam], ident: pd.DataFrame, profile: pd.DataFrame, estimate_loss: float,
                    path: Path) -> Path:
    """One panel per parameter: the loss along its range (others at the estimate), the 95% threshold, the
    estimate and its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(params)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax, p in zip(axes.flat, params, strict=False):
        own = profile[profile["param"] == p.name].sort_values("value")
        row = ident[ident["param"] == p.name].iloc[0]
        ax.plot(own["value"], own["loss"], marker="o", ms=3, color="C0")
        floor = min(float(own["loss"].min()), estimate_loss)
        ax.axhline(floor + CHI2_95, color="C3", lw=0.8, ls="--")
        ax.axvspan(row["interval_low"], row["interval_high"], color="C3", alpha=0.12)
        ax.axvline(row["estimate"], color="k", lw=0.8)
        ax.set_title(f"{p.name}\n{row['verdict']}" + (" (at the edge)" if row["at_edge"] else ""), fontsize=8)
        ax.set_ylabel("loss", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("Loss profiles (others at the estimate); dashed: 95% threshold", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def report_markdown(*, command: str, moments: Moments, moments_digest: str, params: Sequence[CalParam],
                    trials: pd.DataFrame, fit: pd.DataFrame, ident: pd.DataFrame, response: pd.DataFrame,
                    estimate_loss: float, start_loss: float, setup: Mapping[str, Any]) -> str:
    """The one-page report of a calibration."""
    within = int(fit["within"].sum())
    lines = [
        "# Calibration report",
        "",
        f"Command: `{command}`",
        "",
        f"Moments: `{moments.path}` (sha256 {moments_digest[:16]}), {len(moments.moments)} moments; "
        f"{len(params)} parameters; {len(trials)} trials with {setup['replications']} replicates per point at "
        f"{setup['borrowers']:,} borrowers (common random numbers, root seed {setup['root_seed']}), runs through "
        f"{setup['last_month']}. The best {len(setup['confirm'])} trials were run again with "
        f"{setup['final_replications']} replicates; the estimate is trial {setup['estimate_trial']}, the best "
        "there, and the fit and profiles below use those replicates.",
        "",
        markdown_table(setup["confirm"], ["trial", "search_loss", "loss"]),
        "",
        f"**Loss at the estimate {estimate_loss:.3g}** (at the scenario's own values {start_loss:.3g}); "
        f"{within} of {len(fit)} moments within tolerance.",
        "",
        "## Fit at the estimate",
        "",
        markdown_table(fit, ["moment", "window", "data", "tolerance", "start", "model", "model_low", "model_high",
                             "within"]),
        "",
        "`start`: the model at the scenario's own values; `model`: mean over replicates at the estimate, with "
        "its 95% interval.",
        "",
        "## Identifiability",
        "",
        markdown_table(ident, ["param", "low", "high", "estimate", "interval_low", "interval_high", "span_share",
                               "verdict", "at_edge", "inside"]),
        "",
        "The interval holds the values whose loss is within 3.84 (chi-square, 1 df, 95%) of the profile's "
        "lowest, the other parameters held at the estimate. `not identified`: the loss never rises that much "
        "across the range; `weak`: the interval spans more than half the range; `at_edge`: the estimate lies within "
        "2% of the range of a bound; `inside` no: the profile found clearly lower losses away from the estimate "
        "(the search had not converged along that parameter).",
        "",
        "![loss profiles](profiles.png)",
        "",
        "## Which moments carry the information",
        "",
        "Range of each moment along each parameter's profile, in tolerances:",
        "",
        markdown_table(response, list(response.columns)),
        "",
        "## Convergence",
        "",
        "![convergence](convergence.png)",
        "",
        "## Sources of the moments",
        "",
        *[f"- **{m.name}** ({m.metric}, {m.stat} over {m.window[0]}..{m.window[1]}): {m.source}"
          for m in moments.moments],
        "",
    ]
    return "\n".join(lines)


def write_text(text: str, path: Path) -> Path:
    return atomic_write_text(text, os.fspath(path))
