"""The dashboard's policy levers: what an analyst may type, and the scenario overrides it means.

Each lever is a text field (or a three-way choice for switches). Left blank (or "scenario") it keeps the
scenario's own value, so run A is always "the chosen scenario plus exactly the levers I moved". A value
is checked against the parameter schema's range (``model/params.py``) in the lever's own unit, and every
problem is reported at once in a :class:`LeverError` whose message names the lever as the page labels it.

This module is pure: no Solara, no model. ``overrides_for`` turns lever texts into the dotted overrides
that :func:`model.config.load_scenario` takes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.config import leaf_meta

SCENARIO = "scenario"          # the choice that keeps a switch as the scenario has it
SWITCH_CHOICES = [SCENARIO, "on", "off"]
_OFF_WORDS = {"off", "none", "no"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class LeverError(ValueError):
    """One or more lever values are invalid; ``problems`` has one line per lever."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Lever:
    """One control of the dashboard.

    Attributes:
        name: keyword of :class:`~experiments.dashboard.session.DashboardModel` and of Mesa's model_params.
        label: what the page shows.
        kind: ``percent`` (a rate typed in percent, or "off"), ``number`` (a plain number, or "off" when the
            lever has a switch), ``month`` (``YYYY-MM``) or ``switch`` (scenario / on / off).
        key: the dotted parameter the value sets.
        switch: the dotted ``enabled`` parameter turned on by a value and off by "off" (if any).
        short: name in run labels ("cap 20%").
    """

    name: str
    label: str
    kind: str
    key: str
    switch: str | None = None
    short: str = ""

    @property
    def bounds(self) -> tuple[float, float]:
        """The schema's range of ``key``, in the lever's unit (percent for rates)."""
        meta = leaf_meta(self.key)
        lo = -math.inf if meta.get("lo") is None else float(meta["lo"])
        hi = math.inf if meta.get("hi") is None else float(meta["hi"])
        if self.kind == "percent":  # the schema's lower bound of 1e-9 only excludes 0, which is refused apart
            lo, hi = round(max(lo * 100.0, 0.0)), hi * 100.0
        return lo, hi


def _num(x: float) -> str:
    return f"{x:g}"


def _pct(rate: float) -> str:
    """A rate as a percentage without rounding away a fraction (0.125 -> 12.5%)."""
    return f"{round(rate * 100.0, 6):g}%"


LEVERS: tuple[Lever, ...] = (
    Lever("cap", "All-in APR cap (%)", "percent", "policy.rate_cap.apr", "policy.rate_cap.enabled", short="cap"),
    Lever("cap_start", "All-in cap from (month)", "month", "policy.rate_cap.start", short="cap from"),
    Lever("fees_included", "Fees count toward the cap", "switch", "policy.rate_cap.fees_included", short="fees in cap"),
    Lever("cfc_cap", "Consumer-finance cap (%)", "percent", "policy.kind_caps.cfc.apr",
          "policy.kind_caps.cfc.enabled", short="CFC cap"),
    Lever("micro_cap", "Microlender cap (%)", "percent", "policy.kind_caps.microlender.apr",
          "policy.kind_caps.microlender.enabled", short="microlender cap"),
    Lever("whitelist", "Whitelist required", "switch", "policy.whitelist.enabled", short="whitelist"),
    Lever("partner_cost", "Compliance cost per partner", "number", "policy.whitelist.partner_cost",
          short="partner cost"),
    Lever("mandate", "Balance mandate (big banks)", "switch", "policy.balance_mandate.enabled", short="mandate"),
    Lever("crackdown", "Payment-channel crackdown", "switch", "policy.payment_crackdown.enabled", short="crackdown"),
    Lever("borrowing_limit", "Borrowing limit (x income)", "number", "policy.borrowing_limit.income_multiple",
          "policy.borrowing_limit.enabled", short="borrowing limit"),
)
LEVER_BY_NAME: dict[str, Lever] = {lv.name: lv for lv in LEVERS}


def _parse_one(lever: Lever, raw: Any) -> tuple[dict[str, Any], str | None]:
    """Overrides for one lever's raw value, or a problem message."""
    text = "" if raw is None else str(raw).strip()
    if text == "" or text.lower() == SCENARIO:
        return {}, None
    low = text.lower()
    if lever.kind == "switch":
        if low in ("on", "true", "yes"):
            return {lever.key: True}, None
        if low in ("off", "false", "no"):
            return {lever.key: False}, None
        return {}, f"{lever.label}: {text!r} is not one of scenario, on, off"
    if lever.kind == "month":
        if not _MONTH.match(text):
            return {}, f"{lever.label}: {text!r} is not a month like 2025-10"
        return {lever.key: text}, None
    if low in _OFF_WORDS:
        if lever.switch is None:
            return {}, f"{lever.label}: cannot be switched off; type a number"
        return {lever.switch: False}, None
    try:
        value = float(text.rstrip("%").replace(",", ""))
    except ValueError:
        return {}, f"{lever.label}: {text!r} is not a number"
    lo, hi = lever.bounds
    schema_lo = leaf_meta(lever.key).get("lo")
    below_schema = lever.kind == "percent" and schema_lo is not None and 0.0 < value / 100.0 < float(schema_lo)
    if below_schema:
        return {}, f"{lever.label}: {text} is below the smallest cap the model takes ({float(schema_lo) * 100:g}%)"
    if not math.isfinite(value) or not lo <= value <= hi:
        unit = "%" if lever.kind == "percent" else ""
        return {}, f"{lever.label}: {text} is outside its range {_num(lo)}{unit} to {_num(hi)}{unit}"
    out: dict[str, Any] = {lever.key: value / 100.0 if lever.kind == "percent" else value}
    if lever.kind == "percent" and value == 0.0:
        return {}, f"{lever.label}: a cap of 0% would ban lending; type off to remove the cap"
    if lever.switch:
        out[lever.switch] = True
    return out, None


def overrides_for(values: Mapping[str, Any]) -> dict[str, Any]:
    """Scenario overrides for the given lever values (by lever name; unknown names are an error).

    Raises:
        LeverError: listing every invalid value.
    """
    out: dict[str, Any] = {}
    problems = [f"unknown lever {name!r}" for name in values if name not in LEVER_BY_NAME]
    for lever in LEVERS:
        more, problem = _parse_one(lever, values.get(lever.name))
        if problem:
            problems.append(problem)
        out.update(more)
    if problems:
        raise LeverError(problems)
    return out


def announced_by_start(overrides: Mapping[str, Any], scenario: Any) -> dict[str, Any]:
    """``overrides`` plus, where a start lever moves a rule before the scenario's announcement of it, that
    announcement moved to the new start.

    A rule is announced before (or when) it binds (:mod:`model.config` refuses the opposite). The page has no
    announcement lever, so a rule started earlier than the scenario announced it is announced when it binds:
    nothing is anticipated. A start moved later keeps the scenario's announcement (a longer lead).

    Args:
        overrides: from :func:`overrides_for`.
        scenario: the scenario they apply to (a :class:`~model.config.Scenario`).
    """
    out = dict(overrides)
    for lever in LEVERS:
        section, _, name = lever.key.rpartition(".")
        start = out.get(lever.key)
        if lever.kind != "month" or name != "start" or start is None:
            continue
        announced = getattr(scenario.get(section), "announced", "")
        if announced and announced > start:  # 'YYYY-MM' strings sort in calendar order
            out[f"{section}.announced"] = start
    return out


def describe_overrides(values: Mapping[str, Any]) -> str:
    """A short label for the levers moved, e.g. ``cap 20%, whitelist off`` (empty if none)."""
    parts = []
    for lever in LEVERS:
        raw = values.get(lever.name)
        text = "" if raw is None else str(raw).strip()
        if text and text.lower() != SCENARIO:
            short = lever.short or lever.name
            unit = "%" if lever.kind == "percent" and text.lower() not in _OFF_WORDS else ""
            parts.append(f"{short} {text.rstrip('%')}{unit}")
    return ", ".join(parts)


def lever_summary(scenario: Any) -> dict[str, str]:
    """The levers as a :class:`~model.config.Scenario` has them, one short text per lever (for the page)."""
    pol = scenario.params.policy

    def dated(switch: Any, text: str = "on") -> str:
        return f"{text} from {switch.start}" if switch.enabled else "off"

    def kind_cap(c: Any) -> str:
        if not c.enabled:
            return "off"
        path = f", to {c.lpr_multiple:g}x LPR by {c.by}" if c.lpr_multiple > 0 else ""
        return f"{_pct(c.apr)} from {c.start}{path}"

    rc = pol.rate_cap
    legacy = f"legacy {_pct(rc.legacy_apr)} {'all-in' if rc.legacy_fees_included else 'nominal'}"
    return {
        "all-in cap": f"{_pct(rc.apr)} from {rc.start}" if rc.enabled else f"off ({legacy})",
        "fees in cap": "yes" if rc.fees_included else "no",
        "CFC cap": kind_cap(pol.kind_caps.cfc),
        "microlender cap": kind_cap(pol.kind_caps.microlender),
        "whitelist": dated(pol.whitelist),
        "partner cost": f"{pol.whitelist.partner_cost:g} yuan/1k/quarter",
        "balance mandate": dated(pol.balance_mandate),
        "payment crackdown": dated(pol.payment_crackdown),
        "borrowing limit": dated(pol.borrowing_limit, f"{pol.borrowing_limit.income_multiple:g}x income"),
    }
