"""Scenario discovery with EMA Workbench: which levers and uncertainties make the tail platforms collapse?

:func:`run_discovery` runs a Latin-hypercube sample over the levers (the cap, the whitelist's cost and admission
threshold, and the on/off switches: whitelist, fee inclusion, payment crackdown) and six behavioural uncertainties,
each experiment with paired replicates (common random numbers), then

* classifies each experiment by the outcome of interest, **tail collapse**: more than half the tail platforms
  active in the last month before the rules take effect have exited by the horizon;
* runs PRIM (``ema_workbench.analysis.prim``) on that binary outcome and picks a box on the peeling trajectory;
* scores every lever and uncertainty against the outcomes (``ema_workbench.analysis.feature_scoring``, extra
  trees).

It writes to ``out_dir``: ``experiments.csv`` (one row per experiment: its parameters, scalar outcomes,
``tail_exit_share`` and ``tail_collapse``), ``series.csv`` (the monthly series of every experiment, long form),
``prim_trajectory.csv`` and ``prim_box.csv`` (the peeling trajectory; the chosen box's limits and quasi-p
values), ``feature_scores.csv``, ``discovery.json`` (settings and the chosen box's statistics) and the figures
``prim_tradeoff.png``, ``prim_box.png``, ``feature_scores.png`` and ``tail_series.png``.

docs/scenario-discovery.md explains the design and how to read the results. Reproduce its figures with::

    python -m experiments.analysis.ema_example --out results/scenario-discovery \\
        --experiments 60 --replications 2 --borrowers 10000
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.analysis.ema import (
    DEFAULT_SWITCHES,
    SERIES_SUFFIX,
    default_uncertainties,
    make_ema_model,
    month_labels,
    parameter_columns,
    require_ema,
    series_frame,
)

#: The levers sampled: the cap's level, the whitelist's per-partner cost and complaint threshold, and the switches.
DISCOVERY_LEVERS: dict[str, Any] = {
    "policy.rate_cap.apr": (0.12, 0.36),
    "policy.whitelist.partner_cost": (0.0, 6.0),
    "policy.whitelist.max_complaints": (0.4, 1.0),
    **DEFAULT_SWITCHES,
}
#: Six behavioural uncertainties bearing on platform survival and rationing; ranges from
#: experiments/designs/sensitivity.toml.
DISCOVERY_UNCERTAINTY_KEYS: tuple[str, ...] = (
    "platforms.tail.markup",
    "platforms.exit_capital_share",
    "platforms.cap_exposure",
    "channels.spend_returns",
    "borrowers.shadow_prob_refinance",
    "pricing.min_spread_share",
)
#: The crackdown's start when switched on: the date of full-tightening-2026 (the schema's default is 2026-06).
DISCOVERY_OVERRIDES: tuple[str, ...] = ("policy.payment_crackdown.start=2026-04",)
OUTCOMES: tuple[str, ...] = ("rationed_share", "shadow_volume", "head_share", "default_rate", "active_platforms_tail")
SERIES: tuple[str, ...] = ("active_platforms_tail", "rationed_share")
#: The outcome of interest: an experiment is a case when more than this share of the tail platforms exit.
EXIT_SHARE = 0.5
#: PRIM's density threshold, and the density a chosen box must reach.
PRIM_THRESHOLD = 0.8


@dataclass
class Discovery:
    """What :func:`run_discovery` found.

    Attributes:
        experiments: EMA's experiments table (parameters of each experiment).
        outcomes: EMA's outcomes (scalar arrays and ``<column>_series`` arrays, one row per experiment).
        months: the labels of the series' months.
        tail_exit_share: per experiment, the share of the tail platforms active before the rules that exit.
        interest: per experiment, whether it is a case of interest (tail collapse).
        box: the chosen PRIM box's statistics (``coverage``, ``density``, ``mass``, ``res_dim``, ``id``), or None
            if PRIM could not run (every experiment, or none, a case).
        box_limits: the chosen box's limits per restricted dimension (``min``, ``max``, quasi-p values).
        scores: feature scores, one row per parameter, one column per outcome.
        files: the files written, by name.
    """

    experiments: Any
    outcomes: dict[str, Any]
    months: list[str]
    tail_exit_share: Any
    interest: Any
    box: dict[str, Any] | None
    box_limits: Any
    scores: Any
    files: dict[str, Path] = field(default_factory=dict)


def run_discovery(
    out_dir: str | Path,
    *,
    scenario: str = "new-rules-2025",
    n_experiments: int = 60,
    replications: int = 2,
    borrowers: int = 10_000,
    months: int | None = None,
    seed: int = 20251001,
    sample_seed: int = 1,
    processes: int = 1,
    levers: Mapping[str, Any] | None = None,
    uncertainties: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = DISCOVERY_OVERRIDES,
    exit_share: float = EXIT_SHARE,
    threshold: float = PRIM_THRESHOLD,
) -> Discovery:
    """Sample, run, classify, run PRIM and feature scoring, and write the results to ``out_dir``.

    Args:
        out_dir: output directory (created).
        scenario: the scenario every experiment starts from.
        n_experiments: experiments in the Latin hypercube (levers and uncertainties are each sampled by LHS with
            ``n_experiments`` points and paired point by point, EMA's ``combine="sample"``: one experiment per point).
        replications: paired replicates per experiment (the same seeds in every experiment).
        borrowers, months: run size (``months`` None: the scenario's horizon).
        seed: root seed of the replicate seeds.
        sample_seed: seed of the Latin-hypercube sample (EMA samples with numpy's global generator; its state
            is restored afterwards).
        processes: 1 for EMA's sequential evaluator, more for its multiprocessing evaluator.
        levers, uncertainties: override :data:`DISCOVERY_LEVERS` and the uncertainties of
            :data:`DISCOVERY_UNCERTAINTY_KEYS`.
        overrides: ``dotted.key=value`` applied to every experiment first.
        exit_share: an experiment is a case of interest when more than this share of the tail platforms exit.
        threshold: PRIM's density threshold.

    Raises:
        EMAInputError: (a ``ValueError``) for invalid levers, uncertainties or settings.
        ValueError: if ``n_experiments`` or ``processes`` is below 1.
    """
    require_ema()
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import pandas as pd
    from ema_workbench import MultiprocessingEvaluator, SequentialEvaluator
    from ema_workbench.em_framework.samplers import sample_levers, sample_uncertainties

    if n_experiments < 2:
        raise ValueError(f"n_experiments must be at least 2, got {n_experiments}")
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    if uncertainties is None:
        shipped = default_uncertainties()
        uncertainties = {key: shipped[key] for key in DISCOVERY_UNCERTAINTY_KEYS}
    model = make_ema_model(
        scenario,
        levers=DISCOVERY_LEVERS if levers is None else levers,
        uncertainties=uncertainties,
        outcomes=OUTCOMES,
        series=SERIES,
        borrowers=borrowers,
        months=months,
        seed=seed,
        replications=replications,
        sd=replications > 1,
        overrides=overrides,
        name="zhudai",
    )
    # EMA's LHS sampler draws from numpy's legacy global generator: seed it for the sample, then put it back.
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(sample_seed)  # noqa: NPY002
        scenarios = list(sample_uncertainties(model, n_experiments))
        policies = list(sample_levers(model, n_experiments))
    finally:
        np.random.set_state(state)  # noqa: NPY002
    evaluator = SequentialEvaluator(model) if processes == 1 else MultiprocessingEvaluator(model, n_processes=processes)
    with evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=scenarios, policies=policies, combine="sample")

    months_ = month_labels(model)
    exit_share_ = tail_exit_share(outcomes["active_platforms_tail" + SERIES_SUFFIX], months_, model.function.after)
    interest = exit_share_ > exit_share
    x = parameter_columns(model, experiments)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    table = experiments.copy()
    for name, values in outcomes.items():
        if np.ndim(values) == 1:
            table[name] = values
    table["tail_exit_share"] = exit_share_
    table["tail_collapse"] = interest
    files["experiments"] = _write_csv(table, out / "experiments.csv")
    files["series"] = _write_csv(series_frame(model, outcomes), out / "series.csv")
    files["tail_series"] = _plot_series(outcomes, months_, interest, model.function.after, out / "tail_series.png")

    box, box_limits = None, pd.DataFrame()
    if 0 < interest.sum() < len(interest):
        box, box_limits, prim_files = _prim(x, interest, threshold, out)
        files.update(prim_files)
    scores = _feature_scores(x, outcomes, exit_share_, interest, seed)
    files["feature_scores"] = _write_csv(scores, out / "feature_scores.csv", index=True)
    files["feature_scores_png"] = _plot_scores(scores, out / "feature_scores.png")

    summary = {
        "scenario": scenario,
        "n_experiments": len(experiments),
        "replications": replications,
        "borrowers": borrowers,
        "months": [months_[0], months_[-1]],
        "rules_start": model.function.after,
        "root_seed": seed,
        "replicate_seeds": list(model.function.seeds),
        "sample_seed": sample_seed,
        "overrides": list(overrides),
        "levers": [p.name for p in model.levers],
        "uncertainties": [p.name for p in model.uncertainties],
        "outcome_of_interest": f"tail_exit_share > {exit_share}",
        "cases_of_interest": int(interest.sum()),
        "prim_threshold": threshold,
        "box": box,
        "box_limits": {
            str(dim): {k: _plain(v) for k, v in row.items()} for dim, row in box_limits.to_dict("index").items()
        },
        "top_features": {
            col: scores[col].sort_values(ascending=False).head(3).round(3).to_dict() for col in scores.columns
        },
    }
    files["summary"] = out / "discovery.json"
    files["summary"].write_text(json.dumps(summary, indent=2, default=_plain) + "\n", encoding="utf-8")
    return Discovery(experiments, outcomes, months_, exit_share_, interest, box, box_limits, scores, files)


def tail_exit_share(tail: Any, months: Sequence[str], after: str) -> Any:
    """Per experiment, the share of the tail platforms active in the last month before ``after`` that have exited
    by the last month (0 where none were active; the first month stands in if the run starts at ``after``).

    Args:
        tail: ``active_platforms_tail`` series, one row per experiment, one column per month of ``months``.
        months: the month labels.
        after: the month the rules take effect.
    """
    import numpy as np

    tail = np.asarray(tail, dtype=float).reshape(len(tail), -1)
    before = [i for i, m in enumerate(months) if m < after]
    start = tail[:, before[-1] if before else 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(start > 0, 1.0 - tail[:, -1] / start, 0.0)
    return share


def choose_box(trajectory: Any, threshold: float) -> int:
    """The PRIM box to report: the highest coverage among the boxes with at least ``threshold`` density (fewest
    restricted dimensions on a tie); the densest box if none reaches it."""
    dense = trajectory[trajectory["density"] >= threshold]
    if len(dense):
        best = dense.sort_values(["coverage", "res_dim"], ascending=[False, True])
    else:
        best = trajectory.sort_values(["density", "coverage"], ascending=[False, False])
    return int(best.index[0])


def box_limits(limits: Any, qp: Mapping[str, Sequence[float]]) -> Any:
    """A PRIM box's restricted dimensions, most significant first: ``min`` and ``max`` for a number,
    ``categories`` (the values kept) for a switch or category, and the quasi-p values of each restricted limit
    (``qp_low``, ``qp_high``; empty where a side is not restricted).

    Args:
        limits: the box's limits (EMA's ``box_lims[i]``: rows 0 and 1, one column per parameter).
        qp: EMA's quasi-p values of the box (``qp[i]``): per restricted dimension, ``[low, high]``, -1 where a side
            is not restricted.
    """
    import numpy as np
    import pandas as pd

    rows = []
    for dim, (q_low, q_high) in sorted(qp.items(), key=lambda item: item[1]):
        low, high = limits.loc[0, dim], limits.loc[1, dim]
        categorical = isinstance(low, (set, frozenset))
        rows.append(
            {
                "parameter": dim,
                "min": np.nan if categorical else float(low),
                "max": np.nan if categorical else float(high),
                "categories": ", ".join(sorted(str(v) for v in low)) if categorical else "",
                "qp_low": np.nan if q_low < 0 else float(q_low),
                "qp_high": np.nan if q_high < 0 else float(q_high),
            }
        )
    columns = ["min", "max", "categories", "qp_low", "qp_high"]
    return pd.DataFrame(rows, columns=["parameter", *columns]).set_index("parameter")


def _prim(x: Any, interest: Any, threshold: float, out: Path) -> tuple[dict[str, Any], Any, dict[str, Path]]:
    import matplotlib.pyplot as plt
    import numpy as np
    from ema_workbench.analysis import prim

    alg = prim.Prim(x, np.asarray(interest, dtype=int), threshold=threshold)
    box = alg.find_box()
    trajectory = box.peeling_trajectory
    i = choose_box(trajectory, threshold)
    box.select(i)
    stats = trajectory.iloc[i]
    limits = box_limits(box.box_lims[i], box.qp[i])
    files = {
        "prim_trajectory": _write_csv(trajectory, out / "prim_trajectory.csv"),
        "prim_box": _write_csv(limits, out / "prim_box.csv", index=True),
    }
    fig = box.show_tradeoff(annotated=True)
    ax = fig.axes[0]
    ax.scatter(
        [trajectory.loc[i, "coverage"]],
        [trajectory.loc[i, "density"]],
        s=160,
        facecolors="none",
        edgecolors="red",
        linewidths=1.5,
        label=f"chosen box {i}",
    )
    ax.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    ax.legend(loc="lower left")
    ax.set_title("PRIM peeling trajectory: tail collapse")
    files["prim_tradeoff"] = _save(fig, out / "prim_tradeoff.png")
    box.inspect(i, style="graph")
    fig = plt.gcf()
    fig.suptitle(f"PRIM box {i}: tail collapse (coverage {stats['coverage']:.2f}, density {stats['density']:.2f})")
    files["prim_box_png"] = _save(fig, out / "prim_box.png")
    chosen = {k: _plain(stats[k]) for k in ("coverage", "density", "mass", "res_dim")}
    chosen["id"] = i
    return chosen, limits, files


def _feature_scores(x: Any, outcomes: Mapping[str, Any], exit_share: Any, interest: Any, seed: int) -> Any:
    import numpy as np
    import pandas as pd
    from ema_workbench.analysis import feature_scoring
    from ema_workbench.analysis.scenario_discovery_util import RuleInductionType

    targets = {"tail_exit_share": exit_share, **{o: np.asarray(outcomes[o]) for o in OUTCOMES}}
    targets.pop("active_platforms_tail", None)
    scores = feature_scoring.get_feature_scores_all(
        x, targets, alg="extra trees", mode=RuleInductionType.REGRESSION, random_state=seed
    )
    if 0 < interest.sum() < len(interest):
        collapse, _ = feature_scoring.get_ex_feature_scores(
            x, np.asarray(interest, dtype=int), mode=RuleInductionType.CLASSIFICATION, random_state=seed
        )
        scores = pd.concat([collapse.rename(columns={1: "tail_collapse"}), scores], axis=1)
    scores.index.name = "parameter"
    return scores.sort_values(scores.columns[0], ascending=False)


def _plot_scores(scores: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(1.2 * len(scores.columns) + 4, 0.45 * len(scores) + 1.5))
    sns.heatmap(scores, annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": "feature score"})
    ax.set_title("Feature scores (extra trees); each column sums to 1")
    ax.set_ylabel("")
    ax.set_xlabel("outcome")
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return _save(fig, path)


def _plot_series(outcomes: Mapping[str, Any], months: Sequence[str], interest: Any, after: str, path: Path) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    tail = np.asarray(outcomes["active_platforms_tail" + SERIES_SUFFIX])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(months))
    for row, case in zip(tail, interest, strict=True):
        ax.plot(x, row, color="tab:red" if case else "tab:blue", alpha=0.45, linewidth=1)
    ax.plot([], [], color="tab:red", label="tail collapse")
    ax.plot([], [], color="tab:blue", label="no tail collapse")
    if after in months:
        ax.axvline(months.index(after), color="grey", linestyle=":", linewidth=1, label=f"rules take effect ({after})")
    step = max(1, len(months) // 8)
    ax.set_xticks(x[::step], [months[i] for i in x[::step]], rotation=45, ha="right")
    ax.set_ylabel("active tail platforms (mean of replicates)")
    ax.set_title("Active tail platforms per experiment")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _write_csv(frame: Any, path: Path, index: bool = False, index_label: str | None = None) -> Path:
    frame.to_csv(path, index=index, index_label=index_label)
    return path


def _plain(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--scenario", default="new-rules-2025")
    parser.add_argument("--experiments", type=int, default=60, help="experiments in the Latin hypercube")
    parser.add_argument("--replications", type=int, default=2, help="paired replicates per experiment")
    parser.add_argument("--borrowers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=None, help="horizon (default: the scenario's)")
    parser.add_argument("--seed", type=int, default=20251001, help="root seed of the replicate seeds")
    parser.add_argument("--sample-seed", type=int, default=1, help="seed of the Latin-hypercube sample")
    parser.add_argument("--processes", type=int, default=1, help="1: sequential; more: EMA multiprocessing")
    args = parser.parse_args(argv)
    found = run_discovery(
        args.out,
        scenario=args.scenario,
        n_experiments=args.experiments,
        replications=args.replications,
        borrowers=args.borrowers,
        months=args.months,
        seed=args.seed,
        sample_seed=args.sample_seed,
        processes=args.processes,
    )
    print(f"{int(found.interest.sum())} of {len(found.interest)} experiments are cases of interest (tail collapse)")
    if found.box is not None:
        print(f"PRIM box {found.box['id']}: coverage {found.box['coverage']:.2f}, density {found.box['density']:.2f}")
        print(found.box_limits.to_string())
    print(found.scores.round(3).to_string())
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
