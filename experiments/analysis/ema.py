"""EMA Workbench adapter: expose the model to ``ema_workbench`` as levers, uncertainties and outcomes.

Install the optional extra (``pip install -c constraints.txt -e ".[ema]"``), then::

    from experiments.analysis.ema import make_ema_model, run_example
    model = make_ema_model("new-rules-2025", borrowers=50_000, replications=2)
    experiments, outcomes = run_example(model, n_scenarios=20, n_policies=4)

Vocabulary follows EMA Workbench: **levers** are policy choices (keys tagged ``policy lever`` in
``model/params.py``), **uncertainties** are behavioural parameters (by default those flagged ``uncertainty=True``,
with the ranges of ``experiments/designs/sensitivity.toml``), **outcomes** are model-table columns. Parameter names
in EMA are the dotted keys with ``.`` replaced by ``__`` (EMA passes them to the model function as keyword
arguments).

A parameter's EMA class follows the schema's type of its key and the form of its specification:

* ``(low, high)`` (a tuple) on a float key: ``RealParameter``; on an int key: ``IntegerParameter``;
* ``SWITCH`` (``(False, True)``) on a bool key: ``BooleanParameter`` (the on/off switches of the rules:
  :data:`DEFAULT_SWITCHES`);
* ``[v1, v2, ...]`` (a list) on any scalar key, strings and months included: ``CategoricalParameter``.

A switch sets only its own key: the other keys of the rule (its start month, its announcement, its cost) keep the
values of the scenario the model runs (with ``overrides`` applied). docs/scenario-discovery.md tabulates what
"on" and "off" mean for the shipped switches.

Outcomes: each name in ``outcomes`` is a ``ScalarOutcome``, the column's mean over the months from ``after``
(default: the month the rules take effect, :func:`experiments.analysis.rules.rules_start`) to the horizon; with
``sd=True`` also ``<name>_sd``, the standard deviation of that mean across replicates. Each name in ``series`` is a
``TimeSeriesOutcome`` ``<name>_series``: the monthly column, averaged across replicates, one value per recorded
month (labels: :func:`month_labels`).

Replications: each EMA experiment runs ``replications`` replicates one after another, with seeds drawn from the
root ``seed`` by ``numpy.random.SeedSequence(seed).spawn(replications)`` (the seeds ``zhudai batch --root-seed``
uses). Every experiment uses the same seeds, so experiments differ only by their parameters (common random
numbers); EMA's evaluator runs experiments in parallel if asked.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.config import ConfigError
from model.params import LEVER, iter_fields

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from model.config import Scenario

#: The specification of an on/off switch (a bool key): EMA's ``BooleanParameter``.
SWITCH: tuple[bool, bool] = (False, True)

#: The on/off switches of the rules: the whitelist regime, fee inclusion in the new cap (all-in if on, nominal if
#: off) and the payment-channel crackdown on shadow lenders' withholding.
DEFAULT_SWITCHES: dict[str, tuple[bool, bool]] = {
    "policy.whitelist.enabled": SWITCH,
    "policy.rate_cap.fees_included": SWITCH,
    "policy.payment_crackdown.enabled": SWITCH,
}
#: Levers analysts most often move: the cap, the whitelist's cost and admission threshold (the ranges of the
#: shipped what-if scenarios), and the switches.
DEFAULT_LEVERS: dict[str, Any] = {
    "policy.rate_cap.apr": (0.12, 0.36),
    "policy.whitelist.partner_cost": (0.0, 6.0),
    "policy.whitelist.max_complaints": (0.4, 1.0),
    **DEFAULT_SWITCHES,
}
DEFAULT_OUTCOMES: tuple[str, ...] = (
    "head_share",
    "hhi",
    "active_platforms_tail",
    "rationed_share",
    "shadow_volume",
    "default_rate",
    "spiral_share",
)
SENSITIVITY_RANGES = Path(__file__).resolve().parents[1] / "designs" / "sensitivity.toml"
SERIES_SUFFIX = "_series"
SD_SUFFIX = "_sd"

_FIELDS = {key: (f, default) for key, f, default in iter_fields()}


class EMAInputError(ConfigError, ValueError):
    """Invalid levers, uncertainties, outcomes or settings of an EMA model, every problem in one message.

    A ``ValueError`` (bad input) and a :class:`model.config.ConfigError` (the project's invalid-input error).
    """

    subject = "EMA model"
    unnamed = "EMA model inputs have {n} {noun}:"


def ema_name(dotted_key: str) -> str:
    """EMA-safe parameter name of a dotted key (``policy.rate_cap.apr`` -> ``policy__rate_cap__apr``)."""
    return dotted_key.replace(".", "__")


def default_uncertainties() -> dict[str, tuple[float, float]]:
    """The behavioural uncertainties and ranges shipped for sensitivity screening."""
    from experiments.analysis.sensitivity import load_params_file

    return {p.key: (p.low, p.high) for p in load_params_file(SENSITIVITY_RANGES)}


def replicate_seeds(root_seed: int, replications: int) -> list[int]:
    """Replicate seeds: one 32-bit state word of each child of ``SeedSequence(root_seed).spawn(replications)``.

    The same seeds as a batch design with this root seed (:meth:`experiments.engine.design.Design.seeds`);
    replicate ``i``'s seed does not depend on the number of replicates.
    """
    import numpy as np

    children = np.random.SeedSequence(root_seed).spawn(replications)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


# ------------------------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class ParameterSpec:
    """One lever or uncertainty, checked against the schema.

    Attributes:
        key: the dotted key.
        kind: ``"real"``, ``"integer"``, ``"boolean"`` or ``"categorical"`` (the EMA parameter class).
        domain: ``(low, high)`` for real and integer parameters, the categories otherwise.
    """

    key: str
    kind: str
    domain: tuple[Any, ...]

    @property
    def name(self) -> str:
        return ema_name(self.key)

    def to_ema(self) -> Any:
        """The ``ema_workbench`` parameter."""
        require_ema()
        from ema_workbench import BooleanParameter, CategoricalParameter, IntegerParameter, RealParameter

        if self.kind == "real":
            return RealParameter(self.name, *self.domain)
        if self.kind == "integer":
            return IntegerParameter(self.name, *self.domain)
        if self.kind == "boolean":
            return BooleanParameter(self.name)
        return CategoricalParameter(self.name, list(self.domain))


def parameter_spec(key: str, spec: Any, role: str) -> tuple[ParameterSpec | None, list[str]]:
    """Check one lever or uncertainty specification against the schema.

    Args:
        key: dotted key.
        spec: ``(low, high)``, :data:`SWITCH` or a list of categories (see the module docstring).
        role: ``"lever"`` or ``"uncertainty"``.

    Returns:
        The checked specification (None if invalid) and the problems found, each naming the key.
    """
    if key not in _FIELDS:
        close = difflib.get_close_matches(key, list(_FIELDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return None, [f"{role} {key!r}: unknown parameter key{hint}"]
    f, default = _FIELDS[key]
    problems: list[str] = []
    is_lever = f.metadata.get("prov") == LEVER
    if role == "lever" and not is_lever:
        problems.append(f"lever {key!r}: not a policy lever in model/params.py (pass it as an uncertainty)")
    if role == "uncertainty" and is_lever:
        problems.append(f"uncertainty {key!r}: a policy lever in model/params.py (pass it as a lever)")
    if isinstance(default, list):
        return None, [*problems, f"{role} {key!r}: a list-valued key cannot be sampled (set it with overrides)"]
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    label = f"{role} {key!r}"

    def within(value: Any) -> str | None:
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return f"{value!r} is outside the schema's range [{lo}, {hi}]"
        return None

    if isinstance(default, bool):
        if (
            isinstance(spec, Sequence)
            and not isinstance(spec, str)
            and len(spec) == 2
            and all(isinstance(v, bool) for v in spec)
            and set(spec) == {False, True}
        ):
            return (None, problems) if problems else (ParameterSpec(key, "boolean", (False, True)), [])
        return None, [*problems, f"{label}: an on/off switch takes SWITCH = (False, True), got {spec!r}"]

    if isinstance(spec, list):
        values = list(dict.fromkeys(spec))
        if len(values) < 2:
            problems.append(f"{label}: categories need at least two distinct values, got {spec!r}")
        for value in values:
            problem = _category_problem(key, value, default, f.metadata, within)
            if problem:
                problems.append(f"{label}: category {problem}")
        coerced = tuple(_coerce(key, v) for v in values) if not problems else ()
        return (None, problems) if problems else (ParameterSpec(key, "categorical", coerced), [])

    if isinstance(default, str):
        return None, [*problems, f"{label}: a text or month key takes a list of categories, got {spec!r}"]
    if not (isinstance(spec, tuple) and len(spec) == 2):
        return None, [*problems, f"{label}: expected a (low, high) tuple or a list of categories, got {spec!r}"]
    low, high = spec
    integer = isinstance(default, int)
    number = (int,) if integer else (int, float)
    if not all(isinstance(v, number) and not isinstance(v, bool) for v in spec):
        kind = "integers" if integer else "numbers"
        return None, [*problems, f"{label}: range {spec!r} must be two {kind}"]
    if not low < high:
        problems.append(f"{label}: range {spec!r} is empty (low must be below high)")
    for value in spec:
        problem = within(value)
        if problem:
            problems.append(f"{label}: range {spec!r}: {problem}")
    if problems:
        return None, problems
    kind = "integer" if integer else "real"
    return ParameterSpec(key, kind, (int(low), int(high)) if integer else (float(low), float(high))), []


def _category_problem(key: str, value: Any, default: Any, meta: Mapping[str, Any], within: Any) -> str | None:
    if isinstance(default, str):
        if not isinstance(value, str):
            return f"{value!r} is not text"
        choices = meta.get("choices")
        if choices and value not in choices:
            return f"{value!r} is not one of {', '.join(choices)}"
        return None  # month formats are checked when the scenario is loaded with it
    integer = isinstance(default, int)
    if isinstance(value, bool) or not isinstance(value, (int,) if integer else (int, float)):
        return f"{value!r} is not {'an integer' if integer else 'a number'}"
    return within(value)


def _coerce(key: str, value: Any) -> Any:
    """``value`` (as EMA passes it: numpy scalars, category values) as the schema's type of ``key``."""
    default = _FIELDS[key][1]
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int):
        return round(float(value))
    if isinstance(default, float):
        return float(value)
    return str(value)


def check_parameters(levers: Mapping[str, Any], uncertainties: Mapping[str, Any]) -> list[ParameterSpec]:
    """Every lever and uncertainty checked against the schema, levers first.

    Raises:
        EMAInputError: listing every problem (unknown key, wrong role, range outside the schema's, bad switch).
    """
    specs: list[ParameterSpec] = []
    problems: list[str] = []
    for role, table in (("lever", levers), ("uncertainty", uncertainties)):
        for key, spec in table.items():
            checked, found = parameter_spec(key, spec, role)
            problems.extend(found)
            if checked is not None:
                specs.append(checked)
    both = sorted(set(levers) & set(uncertainties))
    problems.extend(f"{key!r} is both a lever and an uncertainty" for key in both)
    if problems:
        raise EMAInputError(problems)
    return specs


# -------------------------------------------------------------------------------------------- runner
class ScenarioRunner:
    """The model function EMA calls: runs one experiment's replicates and returns its outcomes.

    A module-level class (not a closure), so an EMA model pickles and runs under EMA's multiprocessing evaluator.

    Attributes:
        base: the scenario with ``overrides`` applied, before any experiment's settings.
        months: the labels (``YYYY-MM``) of the recorded months, one per value of a series outcome.
        seeds: the replicate seeds, the same for every experiment.
        after: the first month of the scalar outcomes' window.
        outcomes, series: the model-table columns reported as scalar and as time-series outcomes.
    """

    def __init__(
        self,
        base: Scenario,
        specs: Sequence[ParameterSpec],
        outcomes: Sequence[str],
        series: Sequence[str],
        borrowers: int,
        horizon: int,
        seeds: Sequence[int],
        after: str,
        sd: bool,
    ) -> None:
        from model.calendar import add_months

        self.base = base
        self.by_name = {s.name: s.key for s in specs}
        self.outcomes = tuple(outcomes)
        self.series = tuple(series)
        self.borrowers = borrowers
        self.horizon = horizon
        self.seeds = tuple(seeds)
        self.after = after
        self.sd = sd
        self.months = [add_months(base.params.run.start, i) for i in range(horizon)]

    def settings(self, **kwargs: Any) -> dict[str, Any]:
        """The dotted-key settings of one experiment (EMA's keyword arguments, as the schema's types)."""
        return {self.by_name[n]: _coerce(self.by_name[n], v) for n, v in kwargs.items() if n in self.by_name}

    def scenario(self, **kwargs: Any) -> Scenario:
        """The resolved scenario of one experiment."""
        from experiments.engine.run import resolve_scenario

        settings = self.settings(**kwargs)
        scenario = self.base.with_overrides(settings) if settings else self.base
        return resolve_scenario(scenario, (), self.borrowers, self.horizon)

    def tables(self, **kwargs: Any) -> list[pd.DataFrame]:
        """The model table of each replicate of one experiment, in seed order."""
        from experiments.engine.run import run_model

        scenario = self.scenario(**kwargs)
        return [run_model(scenario, seed).tables["model"] for seed in self.seeds]

    def summarize(self, tables: Sequence[pd.DataFrame]) -> dict[str, Any]:
        """The outcomes of one experiment from its replicates' model tables."""
        import numpy as np

        results: dict[str, Any] = {}
        for table in tables:
            if list(table["date"]) != self.months:
                raise RuntimeError(
                    f"model table months {table['date'].iloc[0]}..{table['date'].iloc[-1]} "
                    f"differ from the expected {self.months[0]}..{self.months[-1]}"
                )
        windows = [table[table["date"] >= self.after] for table in tables]
        windows = [w if len(w) else t for w, t in zip(windows, tables, strict=True)]
        for name in self.outcomes:
            values = np.array([float(w[name].mean()) for w in windows])
            results[name] = float(values.mean())
            if self.sd:
                results[name + SD_SUFFIX] = float(values.std(ddof=1))
        for name in self.series:
            results[name + SERIES_SUFFIX] = np.mean([t[name].to_numpy(dtype=float) for t in tables], axis=0)
        return results

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        return self.summarize(self.tables(**kwargs))


def make_ema_model(
    scenario: str = "new-rules-2025",
    *,
    levers: Mapping[str, Any] | None = None,
    uncertainties: Mapping[str, Any] | None = None,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    series: Sequence[str] = (),
    borrowers: int = 50_000,
    months: int | None = None,
    seed: int = 20251001,
    replications: int = 1,
    sd: bool = False,
    after: str | None = None,
    overrides: Sequence[str] = (),
    name: str = "zhudai",
) -> Any:
    """An ``ema_workbench.Model`` that runs one scenario per experiment, ``replications`` times.

    Args:
        scenario: shipped scenario name or path; levers and uncertainties override it.
        levers: dotted key -> ``(low, high)``, :data:`SWITCH` or a list of categories; defaults to
            :data:`DEFAULT_LEVERS`. Keys must be policy levers.
        uncertainties: the same for behavioural parameters; defaults to the shipped sensitivity ranges.
        outcomes: model-table columns; each is a scalar outcome, its mean over the months from ``after``.
        series: model-table columns exposed as time-series outcomes ``<column>_series`` (monthly, averaged
            across replicates; :func:`month_labels` gives the months).
        borrowers, months: the run size (``months`` None: the scenario's own horizon).
        seed: the root seed of the replicate seeds (:func:`replicate_seeds`), the same for every experiment.
        replications: replicates per experiment; scalar outcomes are their mean.
        sd: also report ``<outcome>_sd``, the standard deviation across replicates (needs two or more).
        after: first month of the outcome window (the whole run if it ends before); None for the month the
            rules take effect in the scenario.
        overrides: ``dotted.key=value`` strings applied to every experiment first.
        name: the EMA model name.

    Raises:
        ImportError: if ``ema_workbench`` is not installed.
        EMAInputError: (a ``ValueError``) listing every invalid lever, uncertainty, outcome or setting.
    """
    ema = _import_ema()

    from experiments.analysis.rules import rules_start
    from model.config import load_scenario
    from model.output import COLUMN_DOCS

    levers = dict(DEFAULT_LEVERS if levers is None else levers)
    uncertainties = dict(default_uncertainties() if uncertainties is None else uncertainties)
    problems: list[str] = []
    if not isinstance(replications, int) or isinstance(replications, bool) or replications < 1:
        problems.append(f"replications must be an integer of at least 1, got {replications!r}")
    elif sd and replications < 2:
        problems.append(f"sd=True needs at least 2 replications, got {replications}")
    columns = set(COLUMN_DOCS["model"]) - {"step", "date"}
    for label, names in (("outcome", outcomes), ("series", series)):
        problems.extend(f"{label} {n!r}: not a numeric model-table column" for n in names if n not in columns)
        problems.extend(f"{label} {n!r} is named twice" for n in sorted(set(names)) if list(names).count(n) > 1)
    try:
        specs = check_parameters(levers, uncertainties)
    except EMAInputError as err:
        problems.extend(err.problems)
        specs = []
    if problems:
        raise EMAInputError(problems, scenario)
    try:
        base = load_scenario(scenario, list(overrides))
        # Every value EMA can sample must give a valid scenario (cross-key rules included): every parameter at
        # its first value, at its last, and each category in between.
        checks = [{s.key: s.domain[0] for s in specs}, {s.key: s.domain[-1] for s in specs}]
        checks += [{s.key: v} for s in specs for v in s.domain[1:-1]]
        for check in checks:
            if check:
                base.with_overrides(check)
    except ConfigError as err:
        raise EMAInputError(err.problems, scenario) from err
    horizon = months if months is not None else base.params.run.months
    runner = ScenarioRunner(
        base,
        specs,
        outcomes,
        series,
        borrowers,
        horizon,
        replicate_seeds(seed, replications),
        rules_start(base) if after is None else after,
        sd,
    )
    model = ema.Model(name, function=runner)
    model.levers = [s.to_ema() for s in specs if s.key in levers]
    model.uncertainties = [s.to_ema() for s in specs if s.key in uncertainties]
    scalars = [*outcomes, *(f"{o}{SD_SUFFIX}" for o in outcomes if sd)]
    model.outcomes = [ema.ScalarOutcome(o) for o in scalars] + [
        ema.TimeSeriesOutcome(s + SERIES_SUFFIX) for s in series
    ]
    return model


def month_labels(model: Any) -> list[str]:
    """The recorded months (``YYYY-MM``) of a model from :func:`make_ema_model`: one per series value."""
    return list(model.function.months)


def run_example(model: Any | None = None, n_scenarios: int = 8, n_policies: int = 2, **kwargs: Any):
    """Run a small experiment set (Latin hypercube over uncertainties x levers) in this process.

    Returns EMA's ``(experiments, outcomes)``: a DataFrame with one row per experiment and a dict of outcome
    arrays. ``kwargs`` go to :func:`make_ema_model` when no model is given.
    """
    ema = _import_ema()
    model = make_ema_model(**kwargs) if model is None else model
    with ema.SequentialEvaluator(model) as evaluator:
        return evaluator.perform_experiments(scenarios=n_scenarios, policies=n_policies)


def parameter_columns(model: Any, experiments: pd.DataFrame) -> pd.DataFrame:
    """The lever and uncertainty columns of EMA's experiments table (without ``scenario``, ``policy``, ``model``)."""
    names = [p.name for p in [*model.levers, *model.uncertainties]]
    return experiments[names]


def _import_ema() -> Any:
    require_ema()
    import ema_workbench

    return ema_workbench


def require_ema() -> None:
    """Raise :class:`experiments.extras.MissingExtra` naming the ``ema`` extra if ema_workbench is missing."""
    from experiments.extras import require

    require("ema", what="the EMA Workbench adapter")


def series_frame(model: Any, outcomes: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The time-series outcomes in long form: one row per experiment, month and series (columns ``experiment``,
    ``date``, ``series``, ``value``)."""
    import numpy as np
    import pandas as pd

    months = month_labels(model)
    frames = []
    for name in model.function.series:
        values = np.asarray(outcomes[name + SERIES_SUFFIX])
        values = values.reshape(values.shape[0], -1)
        n = values.shape[0]
        frames.append(
            pd.DataFrame(
                {
                    "experiment": np.repeat(np.arange(n), len(months)),
                    "date": np.tile(months, n),
                    "series": name,
                    "value": values.ravel(),
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["experiment", "date", "series", "value"])
    )
