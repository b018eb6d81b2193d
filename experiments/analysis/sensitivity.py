"""Global sensitivity analysis (SALib) of model outcomes to behavioural uncertainties, on the batch engine.

``zhudai sensitivity SCENARIO --method morris|sobol --param dotted.key=low,high [...] --out DIR``:

1. SALib samples the parameter box (Morris: ``--samples`` trajectories of D+1 points on a 4-level grid;
   Sobol/Saltelli: ``--samples`` base points, N·(D+2) points, first and total order only);
2. the distinct sampled points become one :class:`~experiments.engine.design.Design` whose sweep varies every
   parameter together (``zip`` mode), so the runs go through :func:`experiments.engine.batch.run_batch`: stored
   in ``DIR`` as a batch, resumable by rerunning the same command, and runnable on a process pool or a dask
   cluster;
3. each outcome (a model-table column) is evaluated per run as its **mean over the months from ``--from``
   (default: the month the rules take effect, :func:`experiments.analysis.rules.rules_start`) to the
   horizon**, then averaged over the replicates of a point;
4. SALib's analysis turns the sampled points and outcome values into indices, written to ``DIR/indices.csv``
   (Morris: ``mu_star, mu_star_conf, sigma``; Sobol: ``S1, S1_conf, ST, ST_conf``; one row per outcome and
   parameter), with ``DIR/samples.csv`` (every sampled point with its outcome values) and one horizontal bar
   chart per outcome, ``DIR/sensitivity_<outcome>.png``.

The shipped screening ranges of the parameters flagged ``uncertainty=True`` in ``model/params.py`` are in
``experiments/designs/sensitivity.toml`` (``--params FILE``).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.engine.design import Design, DesignError

METHODS = ("morris", "sobol")
DEFAULT_OUTCOMES = ("head_share", "hhi", "platform_exits", "rationed_share", "default_rate", "spiral_share")
MORRIS_LEVELS = 4
PARAMS_FILE = Path(__file__).resolve().parents[1] / "designs" / "sensitivity.toml"
INDEX_COLUMNS = {"morris": ("mu_star", "mu_star_conf", "sigma"), "sobol": ("S1", "S1_conf", "ST", "ST_conf")}


@dataclass(frozen=True)
class Param:
    """One uncertain parameter: dotted key and sampling range [low, high]."""

    key: str
    low: float
    high: float


def parse_params(items: Sequence[str]) -> list[Param]:
    """Parse ``--param dotted.key=low,high`` options, checking each against the parameter schema.

    Raises:
        DesignError: listing every problem (malformed item, unknown key, non-numeric or list parameter,
            low >= high, a bound outside the schema's range).
    """
    problems: list[str] = []
    out: list[Param] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        parts = [p.strip() for p in raw.split(",")]
        if not sep or not key or len(parts) != 2:
            problems.append(f"--param {item!r}: expected dotted.key=low,high")
            continue
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            problems.append(f"--param {item!r}: low and high must be numbers")
            continue
        out.append(Param(key, low, high))
    problems += check_params(out, "--param ")
    if problems:
        raise DesignError(problems, "--param")
    return out


def check_params(params: Sequence[Param], label: str = "") -> list[str]:
    """Problems of a parameter list against the schema (unknown, not a scalar number, bad range, repeated)."""
    from model.params import iter_fields

    fields = {key: (fld, default) for key, fld, default in iter_fields()}
    problems = []
    seen: set[str] = set()
    for p in params:
        if p.key in seen:
            problems.append(f"{label}{p.key}: given twice")
        seen.add(p.key)
        if p.key not in fields:
            problems.append(f"{label}{p.key}: unknown parameter (see `zhudai params`)")
            continue
        fld, default = fields[p.key]
        if isinstance(default, bool) or not isinstance(default, int | float):
            problems.append(f"{label}{p.key}: not a scalar number (default {default!r}); only scalar "
                            "parameters can be sampled")
            continue
        if not (math.isfinite(p.low) and math.isfinite(p.high)) or p.low >= p.high:
            problems.append(f"{label}{p.key}={p.low},{p.high}: needs finite low < high")
            continue
        lo, hi = fld.metadata.get("lo"), fld.metadata.get("hi")
        if (lo is not None and p.low < lo) or (hi is not None and p.high > hi):
            problems.append(f"{label}{p.key}={p.low},{p.high}: outside the parameter's range [{lo}, {hi}]")
    return problems


def load_params_file(path: str | os.PathLike[str]) -> list[Param]:
    """Read a ranges file: a ``[params]`` table of ``"dotted.key" = [low, high]``.

    Raises:
        DesignError: if it cannot be read or any entry is invalid.
    """
    label = os.fsdecode(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DesignError([f"{label}: no such file"], label) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise DesignError([f"{label}: cannot read ({err})"], label) from None
    table = data.get("params")
    if not isinstance(table, Mapping) or not table:
        raise DesignError([f"{label}: needs a [params] table of \"dotted.key\" = [low, high]"], label)
    problems, out = [], []
    for key, value in table.items():
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value)):
            problems.append(f"params.{key} = {value!r}: must be [low, high]")
            continue
        out.append(Param(str(key), float(value[0]), float(value[1])))
    problems += check_params(out, "params.")
    if problems:
        raise DesignError(problems, label)
    return out


def salib_problem(params: Sequence[Param]) -> dict[str, Any]:
    """The SALib problem dictionary of a parameter list."""
    return {"num_vars": len(params), "names": [p.key for p in params], "bounds": [[p.low, p.high] for p in params]}


def sample(method: str, problem: Mapping[str, Any], samples: int, seed: int) -> np.ndarray:
    """SALib sample of the problem: Morris trajectories or a Saltelli/Sobol sample (first and total order).

    Args:
        method: ``"morris"`` or ``"sobol"``.
        problem: SALib problem.
        samples: Morris: trajectories; Sobol: base sample size N (a power of 2 is best).
        seed: sampling seed.

    Returns:
        ``n x D`` array of points.
    """
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(dict(problem), samples, num_levels=MORRIS_LEVELS, seed=seed)
    if method == "sobol":
        import warnings

        from SALib.sample import sobol

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # SALib's "N should be a power of 2" note
            return sobol.sample(dict(problem), samples, calc_second_order=False, seed=seed)
    raise ValueError(f"unknown method {method!r} (expected one of {', '.join(METHODS)})")


def analyze(method: str, problem: Mapping[str, Any], x: np.ndarray, outcomes: Mapping[str, np.ndarray],
            seed: int = 0) -> pd.DataFrame:
    """Sensitivity indices of every outcome from the sampled points and the outcome values at them.

    The one path from (points, values) to indices: the CLI uses it with model outcomes, the tests with the
    Ishigami function.

    Args:
        method: ``"morris"`` or ``"sobol"``.
        problem: the SALib problem the points were sampled from.
        x: ``n x D`` sampled points, in sampling order.
        outcomes: outcome name -> ``n`` values (one per row of ``x``).
        seed: seed of the bootstrap confidence intervals.

    Returns:
        One row per outcome and parameter: ``outcome, parameter`` and the method's index columns.
    """
    rows = []
    for name, values in outcomes.items():
        y = np.asarray(values, dtype=float)
        if method == "morris":
            from SALib.analyze import morris

            si = morris.analyze(dict(problem), x, y, num_levels=MORRIS_LEVELS, seed=seed)
        elif method == "sobol":
            from SALib.analyze import sobol

            si = sobol.analyze(dict(problem), y, calc_second_order=False, seed=seed)
        else:
            raise ValueError(f"unknown method {method!r} (expected one of {', '.join(METHODS)})")
        for j, key in enumerate(problem["names"]):
            rows.append({"outcome": name, "parameter": key,
                         **{col: float(np.asarray(si[col])[j]) for col in INDEX_COLUMNS[method]}})
    return pd.DataFrame(rows, columns=["outcome", "parameter", *INDEX_COLUMNS[method]])


def distinct_points(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``x`` in order of first appearance, and each row's index among them.

    Morris trajectories revisit grid points; a point is run once (a run is identified by its overrides).
    """
    keys = [tuple(row) for row in np.round(x, 12)]
    index: dict[tuple[float, ...], int] = {}
    inverse = np.array([index.setdefault(k, len(index)) for k in keys], dtype=int)
    firsts = sorted({v: i for i, v in reversed(list(enumerate(inverse)))}.values())
    return x[firsts], inverse


def _value(key: str, value: float) -> Any:
    from model.params import iter_fields

    defaults = {k: d for k, _, d in iter_fields()}
    return round(value) if isinstance(defaults.get(key), int) else round(float(value), 10)


def make_design(scenario: str, params: Sequence[Param], points: np.ndarray, *, replications: int = 1,
                borrowers: int, months: int | None, root_seed: int, overrides: Sequence[str] = ()) -> Design:
    """The batch design running ``scenario`` at each point (a zip sweep over every parameter)."""
    vary = tuple((p.key, tuple(_value(p.key, v) for v in points[:, j])) for j, p in enumerate(params))
    return Design(scenarios=(scenario,), root_seed=root_seed, replications=replications, borrowers=borrowers,
                  months=months, overrides=tuple(overrides), vary=vary, mode="zip", source="sensitivity")


def point_outcomes(model: pd.DataFrame, outcomes: Sequence[str], n_points: int,
                   from_month: str) -> dict[str, np.ndarray]:
    """Per sweep point, each outcome's mean over the months from ``from_month`` on, averaged over replicates.

    Returns:
        outcome -> array of ``n_points`` values (NaN for a point with no ok run).
    """
    after = model[model["date"] >= from_month]
    per_run = after.groupby(["point", "run_id"])[list(outcomes)].mean()
    per_point = per_run.groupby(level="point").mean().reindex(range(n_points))
    return {name: per_point[name].to_numpy(dtype=float) for name in outcomes}


def bar_chart(indices: pd.DataFrame, method: str, outcome: str, path: Path) -> Path:
    """Horizontal bars of one outcome's indices (Morris mu*, Sobol S1 and ST) with confidence whiskers."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    sub = indices[indices["outcome"] == outcome]
    order = sub.sort_values("mu_star" if method == "morris" else "ST", ascending=True)
    fig, ax = plt.subplots(figsize=(6.0, 0.9 + 0.32 * len(order)))
    y = np.arange(len(order))
    if method == "morris":
        ax.barh(y, order["mu_star"], xerr=order["mu_star_conf"], color="#1f77b4", capsize=2, label="μ*")
        ax.set_xlabel(f"Morris μ* (mean |elementary effect|) on {outcome}", fontsize=8)
    else:
        h = 0.38
        ax.barh(y - h / 2, order["S1"], height=h, xerr=order["S1_conf"], color="#1f77b4", capsize=2,
                label="S1 (first order)")
        ax.barh(y + h / 2, order["ST"], height=h, xerr=order["ST_conf"], color="#ff7f0e", capsize=2,
                label="ST (total)")
        ax.set_xlabel(f"Sobol index of {outcome} (share of variance)", fontsize=8)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_yticks(y, order["parameter"], fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(f"Sensitivity of {outcome} ({method})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=200)
    plt.close(fig)
    return path


def check_window(scenario: str, overrides: Sequence[str], from_month: str) -> None:
    """Refuse a run window that ends before ``from_month`` (the outcomes would be empty).

    Raises:
        DesignError: if the scenario's last month is before ``from_month``.
    """
    from model.calendar import add_months
    from model.config import load_scenario

    run = load_scenario(scenario, list(overrides)).params.run
    last = add_months(run.start, run.months - 1)
    if last < from_month:
        raise DesignError([f"the runs end in {last}, before --from {from_month}: no months to average "
                           "(raise --months, or set --from / run.start earlier)"], "sensitivity")


def write_indices(out: Path, method: str, params: Sequence[Param], x: np.ndarray,
                  outcomes: Mapping[str, np.ndarray], seed: int) -> tuple[Path, list[Path]]:
    """Analyze and write ``indices.csv``, ``samples.csv`` and one bar chart per outcome into ``out``."""
    from experiments.store.common import atomic_write_text

    problem = salib_problem(params)
    indices = analyze(method, problem, x, outcomes, seed)
    samples = pd.DataFrame(x, columns=[p.key for p in params])
    for name, values in outcomes.items():
        samples[name] = values
    atomic_write_text(samples.to_csv(index=False), out / "samples.csv")
    path = atomic_write_text(indices.to_csv(index=False), out / "indices.csv")
    charts = [bar_chart(indices, method, name, out / f"sensitivity_{name}.png") for name in outcomes]
    return Path(path), charts
