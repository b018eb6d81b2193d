"""The months the rules take effect and are first announced, read from a scenario: one helper for every window,
summary row and label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.config import Scenario

#: The shipped scenario whose parameters are every schema default (experiments/scenarios/baseline.toml).
DEFAULTS_SCENARIO = "baseline"


def rules_start(scenario: str | Scenario | None = None, overrides: Sequence[str] = ()) -> str:
    """The month the 2025 rules take effect in a scenario: its ``policy.rate_cap.start`` (``YYYY-MM``).

    The all-in rate cap is the rule the others are dated by: ``experiments/scenarios/new-rules-2025.toml``
    starts the whitelist and the ban on outsourced risk control in the same month. A scenario that leaves the
    cap off (``baseline-2024``) still carries the schema's start month (``model/params.py``), so "after the
    rules" windows line up between a scenario and its counterfactual.

    Args:
        scenario: a resolved scenario, a shipped name or a path to a ``.toml`` file; None for the schema's
            defaults.
        overrides: ``dotted.key=value`` strings applied to a scenario given by name or path (or to the defaults).

    Raises:
        ConfigError: if the scenario or an override is invalid.
    """
    from model.config import Scenario, load_scenario

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(DEFAULTS_SCENARIO if scenario is None else scenario, list(overrides))
    return scenario.params.policy.rate_cap.start


def first_announcement(scenario: Scenario) -> str | None:
    """The earliest month any rule of a resolved scenario is announced ahead of binding (its ``announced``), or
    None when it announces nothing ahead (:data:`model.config.ANNOUNCED` lists the rules that can be)."""
    from model.calendar import parse_month
    from model.config import ANNOUNCED

    months = [m for m in (getattr(scenario.get(section), "announced", "") for section, _ in ANNOUNCED) if m]
    return min(months, key=parse_month) if months else None


def rules_enabled(scenario: Scenario) -> list[str]:
    """The policy instruments a resolved scenario switches on (their dotted ``...enabled`` keys), in schema order.

    Empty for the world without new rules (``baseline-2024``: only the legacy nominal ceiling, which is not a
    switch, applies), where every recorded month is "before the rules". Instruments are those
    :func:`experiments.engine.fork.policy_instruments` lists.
    """
    from experiments.engine.fork import policy_instruments, section_of

    params = scenario.params
    return [f"{dotted}.enabled" for dotted in policy_instruments(params.policy)
            if getattr(section_of(params, dotted), "enabled", False) is True]
