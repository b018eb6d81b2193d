"""EMA Workbench adapter: expose the model to ``ema_workbench`` as levers, uncertainties and outcomes.

Install the optional extra (``pip install -e ".[ema]"``), then::

    from experiments.analysis.ema import make_ema_model, run_example
    model = make_ema_model("new-rules-2025", borrowers=50_000)
    experiments, outcomes = run_example(model, n_scenarios=20, n_policies=4)

Vocabulary follows EMA Workbench: **levers** are policy choices (``policy.*`` keys), **uncertainties** are
behavioural parameters (those flagged ``uncertainty=True``; default ranges from
``experiments/designs/sensitivity.toml``), **outcomes** are model-table columns averaged over the months from
``after`` (default: the month the rules take effect, :func:`experiments.analysis.rules.rules_start`) to the
horizon. Parameter names in EMA are the dotted keys with ``.`` replaced by
``__`` (EMA passes them to the model function as keyword arguments).

Each EMA experiment is one :func:`experiments.engine.run.run_model` call with a fixed seed, so experiments differ only
by their parameters (common random numbers across scenarios and policies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from model.params import iter_fields

#: Levers analysts most often move, with the ranges of the shipped what-if scenarios.
DEFAULT_LEVERS: dict[str, tuple[float, float]] = {
    "policy.rate_cap.apr": (0.12, 0.36),
    "policy.whitelist.partner_cost": (0.0, 6.0),
    "policy.whitelist.max_complaints": (0.4, 1.0),
}
DEFAULT_OUTCOMES: tuple[str, ...] = (
    "head_share", "hhi", "active_platforms_tail", "rationed_share", "shadow_volume", "default_rate", "spiral_share",
)
SENSITIVITY_RANGES = Path(__file__).resolve().parents[1] / "designs" / "sensitivity.toml"
_INT_KEYS = {key for key, f, d in iter_fields() if isinstance(d, int) and not isinstance(d, bool)}


def ema_name(dotted_key: str) -> str:
    """EMA-safe parameter name of a dotted key (``policy.rate_cap.apr`` -> ``policy__rate_cap__apr``)."""
    return dotted_key.replace(".", "__")


def default_uncertainties() -> dict[str, tuple[float, float]]:
    """The behavioural uncertainties and ranges shipped for sensitivity screening."""
    from experiments.analysis.sensitivity import load_params_file

    return {p.key: (p.low, p.high) for p in load_params_file(SENSITIVITY_RANGES)}


def make_ema_model(
    scenario: str = "new-rules-2025",
    *,
    levers: Mapping[str, tuple[float, float]] | None = None,
    uncertainties: Mapping[str, tuple[float, float]] | None = None,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    borrowers: int = 50_000,
    months: int | None = None,
    seed: int = 20251001,
    after: str | None = None,
    overrides: Sequence[str] = (),
    name: str = "zhudai",
) -> Any:
    """An ``ema_workbench.Model`` that runs one scenario per experiment.

    Args:
        scenario: shipped scenario name or path; levers and uncertainties override it.
        levers: dotted key -> (low, high); defaults to :data:`DEFAULT_LEVERS`.
        uncertainties: dotted key -> (low, high); defaults to the shipped sensitivity ranges.
        outcomes: model-table columns; each outcome is its mean over the months from ``after``.
        borrowers, months, seed: the run size and its fixed seed (``months`` None: the scenario's own).
        after: first month of the outcome window (the whole run if it ends before); None for the month the
            rules take effect in the scenario.
        overrides: ``dotted.key=value`` strings applied to every experiment first.
        name: the EMA model name.

    Raises:
        ImportError: if ``ema_workbench`` is not installed (``pip install -e ".[ema]"``).
        model.config.ConfigError: if a key or range is invalid for the scenario.
    """
    from ema_workbench import IntegerParameter, Model, RealParameter, ScalarOutcome

    from experiments.analysis.rules import rules_start
    from experiments.engine.run import resolve_scenario, run_model
    from model.config import load_scenario

    levers = dict(DEFAULT_LEVERS if levers is None else levers)
    uncertainties = dict(default_uncertainties() if uncertainties is None else uncertainties)
    by_name = {ema_name(k): k for k in [*levers, *uncertainties]}
    # Validate every key at both ends of its range before EMA samples anything.
    ranges = {**levers, **uncertainties}
    for bound in (0, 1):
        load_scenario(scenario, [*overrides, *(f"{k}={_value(k, r[bound])}" for k, r in ranges.items())])
    base = load_scenario(scenario, list(overrides))
    horizon = months if months is not None else base.params.run.months
    after = rules_start(base) if after is None else after

    def run(**kwargs: Any) -> dict[str, float]:
        settings = [f"{by_name[n]}={_value(by_name[n], v)}" for n, v in kwargs.items() if n in by_name]
        model = run_model(resolve_scenario(scenario, [*overrides, *settings], borrowers, horizon), seed).tables["model"]
        window = model[model["date"] >= after]
        window = window if len(window) else model
        return {o: float(window[o].mean()) for o in outcomes}

    def parameter(key: str, bounds: tuple[float, float]) -> Any:
        low, high = bounds
        if key in _INT_KEYS:
            return IntegerParameter(ema_name(key), int(low), int(high))
        return RealParameter(ema_name(key), float(low), float(high))

    ema_model = Model(name, function=run)
    ema_model.levers = [parameter(k, r) for k, r in levers.items()]
    ema_model.uncertainties = [parameter(k, r) for k, r in uncertainties.items()]
    ema_model.outcomes = [ScalarOutcome(o) for o in outcomes]
    return ema_model


def run_example(model: Any | None = None, n_scenarios: int = 8, n_policies: int = 2, **kwargs: Any):
    """Run a small experiment set (Latin hypercube over uncertainties x levers) in this process.

    Returns EMA's ``(experiments, outcomes)``: a DataFrame with one row per experiment and a dict of outcome
    arrays. ``kwargs`` go to :func:`make_ema_model` when no model is given.
    """
    from ema_workbench import SequentialEvaluator

    model = make_ema_model(**kwargs) if model is None else model
    with SequentialEvaluator(model) as evaluator:
        return evaluator.perform_experiments(scenarios=n_scenarios, policies=n_policies)


def _value(key: str, value: Any) -> str:
    return str(round(value)) if key in _INT_KEYS else repr(float(value))
