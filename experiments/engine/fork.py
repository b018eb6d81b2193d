"""Forked runs: scenarios that share their past are simulated once up to the month they diverge, then continued apart.

Paired scenarios on one seed compute exactly the same months until the first month a rule that differs between
them is announced or binds. :func:`divergence_month` finds that month from the resolved parameters alone;
:func:`run_forked` builds one model, runs the burn-in and the shared recorded months once, takes a
:func:`snapshot` of it and continues a :func:`restore`d copy under each scenario. Every table of a forked run
equals the table of the same scenario run from scratch with :func:`experiments.engine.run.run_model`
(tests/integration/test_forked_runs.py). docs/design.md, "Forked runs", describes the rule and the state copy.

Months are the model's absolute month numbers (:func:`model.calendar.parse_month`); :data:`BEFORE_BURN_IN`
means the scenarios differ from the very start, burn-in included, and nothing can be shared.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pickle
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from experiments.engine.run import RunOutput, build_model, check_contract, resolve_scenario, run_model
from experiments.store.common import now_iso
from model.calendar import format_month, parse_month
from model.config import leaf_meta
from model.output import TABLES
from model.params import FUNDER_KINDS

if TYPE_CHECKING:
    import pandas as pd

    from model.config import Scenario
    from model.lending import LendingModel
    from model.params import Params

#: "Month zero": the scenarios may differ from before the burn-in on, so no month can be shared.
BEFORE_BURN_IN = 0

#: The policy instruments whose timing the rule knows (dotted sections of ``model.params.PolicyParams``). Each has
#: an ``enabled`` switch behind which every other key is read, and no effect before its earliest dated key
#: (model/policy.py: ``rules_in_force``, ``Regulator.apply``; model/lending.py: ``review_quarter``). A differing
#: instrument not listed here makes the scenarios differ from the start.
INSTRUMENTS: tuple[str, ...] = (
    "policy.rate_cap",
    *(f"policy.kind_caps.{kind}" for kind in FUNDER_KINDS),
    "policy.whitelist",
    "policy.no_outsourcing",
    "policy.stock_cleanup",
    "policy.balance_mandate",
    "policy.balance_freeze",
    "policy.new_business_ban",
    "policy.payment_crackdown",
    "policy.borrowing_limit",
    "policy.guarantee_cap",
)
#: Keys read whatever the switch: the legacy ceiling holds until the new cap starts (or for good when it is off).
ALWAYS_READ: dict[str, tuple[str, ...]] = {"policy.rate_cap": ("legacy_apr", "legacy_fees_included")}
#: Instruments that bind from another instrument's dates too: the stock clean-up applies from the new cap's start
#: (``cleanup = stock_cleanup.enabled and new cap in force``), before its own deadline.
ALSO_DATED_BY: dict[str, tuple[str, ...]] = {"policy.stock_cleanup": ("policy.rate_cap",)}


def _tree(obj: Any) -> str:
    """A parameter section as text that tells apart everything ``==`` does not (``-0.0`` and ``0.0``, 1 and 1.0)."""
    return repr(dataclasses.asdict(obj))


def section_of(params: Params, dotted: str) -> Any:
    """The parameter section at a dotted path (``policy.whitelist``)."""
    obj: Any = params
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def policy_instruments(obj: Any, prefix: str = "policy") -> list[str]:
    """Dotted names of the policy dataclasses that hold leaves (instruments), in schema order."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            inner = policy_instruments(value, f"{prefix}.{f.name}")
            out.extend(inner or [f"{prefix}.{f.name}"])
    return out


def _dates(section: Any, dotted: str) -> list[int]:
    """Every month named in an instrument's dated keys ('' is no month)."""
    months: list[int] = []
    for f in dataclasses.fields(section):
        kind = leaf_meta(f"{dotted}.{f.name}").get("kind")
        value = getattr(section, f.name)
        if kind == "month" and value:
            months.append(parse_month(value))
        elif kind == "months":
            months.extend(parse_month(v) for v in value)
    return months


def _policy_divergence(a: Params, b: Params) -> int | None:
    """First month two policies can make a model behave differently (None: never), before normalising to the run."""
    earliest: int | None = None
    for dotted in policy_instruments(a.policy):
        sa, sb = section_of(a, dotted), section_of(b, dotted)
        if _tree(sa) == _tree(sb):
            continue
        if dotted not in INSTRUMENTS or not hasattr(sa, "enabled"):
            return BEFORE_BURN_IN
        if any(repr(getattr(sa, k)) != repr(getattr(sb, k)) for k in ALWAYS_READ.get(dotted, ())):
            return BEFORE_BURN_IN
        on = [s for s in (sa, sb) if s.enabled]
        if not on:
            continue  # off on both sides: nothing of it is read
        sides = [p for p, s in ((a, sa), (b, sb)) if s.enabled]
        months = [m for s in on for m in _dates(s, dotted)]
        for other in ALSO_DATED_BY.get(dotted, ()):
            months += [m for p in sides for m in _dates(section_of(p, other), other)]
        if not months:
            return BEFORE_BURN_IN
        first = min(months)
        earliest = first if earliest is None else min(earliest, first)
    return earliest


def _pair_divergence(a: Params, b: Params) -> int | None:
    rest_a = dataclasses.replace(a, policy=b.policy)
    if _tree(rest_a) != _tree(b):
        # The LPR path runs from lpr_start at the start to lpr_end at the horizon (model.mechanisms.macro.lpr_at),
        # so a different horizon changes every recorded month's LPR after the first, unless the path is flat.
        flat = a.macro.lpr_start == a.macro.lpr_end
        same_but_horizon = _tree(dataclasses.replace(rest_a, run=dataclasses.replace(a.run, months=b.run.months)))
        if not (flat and same_but_horizon == _tree(b)):
            return BEFORE_BURN_IN
    month = _policy_divergence(a, b)
    if month is None:
        return None
    # The burn-in runs under the start month's rules: anything dated at or before the start changes it.
    return BEFORE_BURN_IN if month <= parse_month(a.run.start) else month


def divergence_month(scenarios: Sequence[Scenario]) -> int | None:
    """The first month in which resolved scenarios can behave differently (absolute month number), or None.

    Rule (docs/design.md, "Forked runs"): if any parameter outside ``policy`` differs (behaviour, the run's
    start, size, population, burn-in...) the scenarios differ from the start: :data:`BEFORE_BURN_IN`. A
    different horizon (``run.months``) alone does too, because the LPR path is interpolated to the horizon,
    except when the path is flat (``macro.lpr_start == macro.lpr_end``). Otherwise, for every policy instrument
    whose settings differ, the earliest of its dated keys (``start``, ``announced``, ``deadline``, ``by``) on the
    side(s) where it is switched on, plus the rate cap's dates for the stock clean-up; an instrument off on both
    sides is never read, and a difference in the legacy ceiling (read from the start) or in an instrument the rule
    does not know is :data:`BEFORE_BURN_IN`. The earliest such month over all pairs is returned;
    a month at or before ``run.start`` becomes :data:`BEFORE_BURN_IN`, since the burn-in runs under the start
    month's rules. None: the scenarios behave the same throughout (they may still stop at different horizons).

    The month returned may lie after the horizon; :func:`shared_months` clamps it.
    """
    found: list[int] = []
    for x, y in itertools.combinations(scenarios, 2):
        month = _pair_divergence(x.params, y.params)
        if month is not None:
            found.append(month)
    return min(found) if found else None


def shared_months(scenarios: Sequence[Scenario]) -> int:
    """Recorded months the scenarios can simulate once (0: none, not even the burn-in; else burn-in included)."""
    if not scenarios:
        return 0
    horizon = min(s.params.run.months for s in scenarios)
    month = divergence_month(scenarios)
    if month is None:
        return horizon
    return max(0, min(month - parse_month(scenarios[0].params.run.start), horizon))


# ------------------------------------------------------------------------------------------------ state copy
def _register(model: LendingModel) -> None:
    """Enter a copied model in Mesa 3.3's class-level agent-id registry, its counter where the original's stood.

    Mesa hands out agent ids from ``mesa.Agent._ids[model]``; a copy is a new key, so it gets a counter that
    continues after its agents' highest id (what the original's counter would give next). ``model.release()``
    drops it again.
    """
    import mesa

    mesa.Agent._ids[model] = itertools.count(max((a.unique_id for a in model.agents), default=0) + 1)


def snapshot(model: LendingModel) -> bytes:
    """The model's full state as bytes (pickle): arrays, agents, agent sets, both random generators, the recorder's
    rows, the month counters and cached rules. Can be shipped to another process and :func:`restore`d there."""
    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def restore(blob: bytes, scenario: Scenario | None = None) -> LendingModel:
    """A model from a :func:`snapshot`, registered with Mesa, continuing under ``scenario`` if given.

    Raises:
        ValueError: if ``scenario`` differs from the snapshot's in more than policy (``LendingModel.continue_as``).
    """
    return _continued(pickle.loads(blob), scenario)  # our own bytes, made by snapshot(): never untrusted input


def fork(model: LendingModel, scenario: Scenario | None = None) -> LendingModel:
    """An independent deep copy of ``model`` (no shared mutable state), continuing under ``scenario`` if given.

    Raises:
        ValueError: as :func:`restore`.
    """
    return _continued(copy.deepcopy(model), scenario)


def _continued(model: LendingModel, scenario: Scenario | None) -> LendingModel:
    _register(model)
    if scenario is not None:
        try:
            model.continue_as(scenario)
        except BaseException:
            model.release()
            raise
    return model


# ------------------------------------------------------------------------------------------------- the runs
def shared_prefix(scenario: Scenario, seed: int, months: int) -> tuple[bytes, float]:
    """Build ``scenario`` on ``seed`` (burn-in included), run ``months`` recorded months and snapshot it.

    The model is released whatever happens. Returns the snapshot and the seconds the build took (the rest of the
    time was the shared months).
    """
    t0 = time.perf_counter()
    prefix = build_model(scenario, seed)
    try:
        built = time.perf_counter() - t0
        for _ in range(months):
            prefix.step()
        blob = snapshot(prefix)
    finally:
        prefix.release()
    del prefix
    return blob, built


def continue_run(blob: bytes, scenario: Scenario) -> dict[str, pd.DataFrame]:
    """Restore a shared prefix under ``scenario``, run it to its horizon and return its checked tables.

    The copy is released whatever happens.

    Raises:
        RuntimeError: if the tables break the output contract.
    """
    model = restore(blob, scenario)
    try:
        model.run()
        tables = model.tables()
    finally:
        model.release()
    del model
    check_contract(tables)
    return tables


def run_forked(scenarios: Sequence[str | Scenario], seed: int, *,
               overrides: Sequence[Sequence[str]] | None = None) -> list[RunOutput]:
    """Run every scenario on ``seed``, simulating their shared months once; the same outputs as :func:`run_model`.

    The first scenario builds the model (burn-in included) and runs the :func:`shared_months`; a snapshot of it is
    then restored once per scenario and run to that scenario's horizon. With nothing to share (or one scenario)
    each runs from scratch through :func:`run_model`. Every model is released.

    Args:
        scenarios: resolved scenarios, or shipped names or paths (resolved without overrides).
        seed: the seed of every run.
        overrides: per scenario, the overrides it was resolved with, recorded in its manifest.

    Returns:
        One :class:`RunOutput` per scenario, in order. A forked run's ``fork`` records the month it was continued
        from (``from_month``, the first month it simulated on its own), the recorded months it shared and the
        scenario that ran them; its manifest carries them as ``forked``. Its ``init_seconds`` is the shared build
        and ``run_seconds`` the shared months plus its own.
    """
    resolved = [s if not isinstance(s, str) else resolve_scenario(s) for s in scenarios]
    given = [list(o) for o in overrides] if overrides is not None else [[] for _ in resolved]
    if len(given) != len(resolved):
        raise ValueError(f"{len(given)} override lists for {len(resolved)} scenarios")
    k = shared_months(resolved)
    if len(resolved) < 2 or k == 0:
        return [run_model(s, seed, overrides=o) for s, o in zip(resolved, given, strict=True)]
    started_at, t0 = now_iso(), time.perf_counter()
    blob, built = shared_prefix(resolved[0], seed, k)
    t1, t2 = t0 + built, time.perf_counter()
    info = {"from_month": format_month(parse_month(resolved[0].params.run.start) + k), "shared_months": k,
            "prefix_scenario": resolved[0].name}
    outputs = []
    for scenario, ovr in zip(resolved, given, strict=True):
        t3 = time.perf_counter()
        tables = continue_run(blob, scenario)
        t4 = time.perf_counter()
        outputs.append(RunOutput(scenario, seed, {name: tables[name] for name in TABLES}, ovr, [], started_at,
                                 now_iso(), t1 - t0, (t2 - t1) + (t4 - t3), (t2 - t0) + (t4 - t3), fork=dict(info)))
    return outputs
