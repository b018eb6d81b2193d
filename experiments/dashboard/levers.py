"""The dashboard's policy levers: what an analyst may type, and the scenario overrides it means.

Each lever is a text field (or a three-way choice for switches). Left blank (or "scenario") it keeps the
scenario's own value, so run A is always "the chosen scenario plus exactly the levers I moved". A value
is checked against the parameter schema's range (``model/params.py``) in the lever's own unit, and every
problem is reported at once in a :class:`LeverError` whose message names the lever as the page labels it.

This module is pure: no Solara, no model. ``overrides_for`` turns lever texts into the dotted overrides
that :func:`model.config.load_scenario` takes. The announcement lever (``announce_lead``) depends on the
scenario's rules and their starts, so its overrides come from :func:`apply_announcements`, given the scenario.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.calendar import add_months
from model.config import ANNOUNCED, leaf_meta

SCENARIO = "scenario"          # the choice that keeps a switch as the scenario has it
SWITCH_CHOICES = [SCENARIO, "on", "off"]
_OFF_WORDS = {"off", "none", "no"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
#: The longest lead the announcement lever takes, in months (ten years: far beyond any run's horizon).
MAX_LEAD = 120
#: The name of the announcement lever.
LEAD = "announce_lead"


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
            lever has a switch), ``month`` (``YYYY-MM``), ``switch`` (scenario / on / off) or ``lead`` (a whole
            number of months; only the announcement lever, see :func:`apply_announcements`).
        key: the dotted parameter the value sets (for the announcement lever, the all-in cap's ``announced``,
            the first of the ``announced`` months it may set: it sets one for every rule the scenario announces
            ahead).
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
        """The schema's range of ``key``, in the lever's unit (percent for rates; months of lead)."""
        if self.kind == "lead":
            return 0.0, float(MAX_LEAD)
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
    Lever(LEAD, "Rules announced (months ahead)", "lead", "policy.rate_cap.announced",
          short="rules announced"),
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
    if lever.kind == "lead":  # checked here, applied by apply_announcements (it needs the scenario)
        _lead, problem = _parse_lead(lever, text)
        return {}, problem
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


def _parse_lead(lever: Lever, text: str) -> tuple[int | None, str | None]:
    """The announcement lever's lead in whole months, or a problem message."""
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None, f"{lever.label}: {text!r} is not a number of months"
    lo, hi = lever.bounds
    if not math.isfinite(value) or value != int(value):
        return None, f"{lever.label}: {text} is not a whole number of months"
    if not lo <= value <= hi:
        return None, (f"{lever.label}: {text} is outside its range {_num(lo)} to {_num(hi)} months "
                      "(0: announced when the rules start; a rule cannot be announced after it starts)")
    return int(value), None


def announcement_lead(values: Mapping[str, Any]) -> int | None:
    """The announcement lever's lead in months, or None when it is left blank (the scenario's announcements).

    Raises:
        LeverError: if the value is invalid (as :func:`overrides_for` reports it).
    """
    raw = values.get(LEAD)
    text = "" if raw is None else str(raw).strip()
    if text == "" or text.lower() == SCENARIO:
        return None
    lead, problem = _parse_lead(LEVER_BY_NAME[LEAD], text)
    if problem:
        raise LeverError([problem])
    return lead


def overrides_for(values: Mapping[str, Any]) -> dict[str, Any]:
    """Scenario overrides for the given lever values (by lever name; unknown names are an error).

    The announcement lever is checked here but gives no override by itself: :func:`apply_announcements` turns
    it into ``announced`` months once the scenario is known.

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


def _rule_name(section: str) -> str:
    """A rule as the page names it: ``policy.stock_cleanup`` -> ``stock clean-up``."""
    tail = section.removeprefix("policy.")
    if tail.startswith("kind_caps."):
        kind = tail.removeprefix("kind_caps.")
        return {"cfc": "CFC cap"}.get(kind, f"{kind.replace('_', ' ')} cap")
    return {"rate_cap": "all-in cap", "whitelist": "whitelist", "no_outsourcing": "no outsourcing",
            "stock_cleanup": "stock clean-up"}.get(tail, tail.replace("_", " "))


def announced_rules(scenario: Any) -> list[tuple[str, str]]:
    """The rules ``scenario`` announces ahead: (section, the key of the month it binds from), in
    :data:`model.config.ANNOUNCED` order; a section whose ``announced`` is '' is not one of them."""
    return [(section, binds) for section, binds in ANNOUNCED if getattr(scenario.get(section), "announced", "")]


def apply_announcements(overrides: Mapping[str, Any], scenario: Any,
                        lead: int | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """``overrides`` plus the ``announced`` months of the rules ``scenario`` announces ahead, and a note for the
    page on what was applied.

    The announcement lever is a lead time, "the rules are announced N months before they start", rather than a
    month. A lead is what a policy analyst varies when asking how much notice to give ("six months' notice, as
    in 2025, or none?"): 6 reproduces the 2025 rules as issued (2025-04 for a 2025-10 start) and 0 is no warning
    (each rule announced when it starts, so nothing is anticipated). It composes with the start levers with no
    arithmetic on the user's side: a cap moved to 2026-01 with a lead of 6 is announced in 2025-07. A month would
    have to be retyped whenever a start moves, and would mean different notice for rules with different starts.

    Only the rules the scenario announces ahead (a non-empty ``announced``) are moved; rules it lets bind
    unannounced stay so (full-tightening-2026's later kind caps, say), and a scenario announcing nothing is left
    as it is (the note says the lever had no effect). Each rule is announced ``lead`` months before the month it
    binds from, except the stock clean-up: it is the cap's rule for the stock and is issued with the cap (so a
    lead of 6 gives the scenario's 2025-04, not six months before the 2026-06 deadline), hence announced with the
    all-in cap when the scenario announces that cap too. No announcement is ever after the month its rule binds
    from (:mod:`model.config` refuses that): a clean-up whose cap is announced after the deadline is announced
    at the deadline, and the note says so.

    With the lever blank (``lead`` None) the scenario's announcements stand, except that a rule a start lever
    moves before its announcement is announced when it binds (:func:`announced_by_start`): nothing is
    anticipated. A start moved later keeps the scenario's announcement (a longer lead).

    Args:
        overrides: from :func:`overrides_for` (the start levers' months among them).
        scenario: the scenario they apply to (a :class:`~model.config.Scenario`).
        lead: months between the announcement and the start (:func:`announcement_lead`), or None.

    Returns:
        The overrides, and notes by lever name for :func:`describe_overrides` (empty when there is nothing to
        add to the lever's own text).
    """
    out = dict(overrides)
    rules = announced_rules(scenario)

    def binds_from(section: str, key: str) -> str:
        return out.get(f"{section}.{key}", scenario.get(f"{section}.{key}"))

    if lead is None:
        for section, key in rules:
            start = binds_from(section, key)
            if scenario.get(f"{section}.announced") > start:  # 'YYYY-MM' strings sort in calendar order
                out[f"{section}.announced"] = start
        return out, {}
    if not rules:
        return out, {LEAD: f"no effect: {scenario.name} announces no rule ahead"}
    cap_start = binds_from("policy.rate_cap", "start") if ("policy.rate_cap", "start") in rules else None
    applied: list[tuple[str, str, str | None]] = []  # rule, month announced, "deadline" (or "start") if clamped
    for section, key in rules:
        start = binds_from(section, key)
        anchor = cap_start if section == "policy.stock_cleanup" and cap_start else start
        try:
            month = add_months(anchor, -lead)
        except ValueError:  # a start outside the calendar: load_scenario reports it
            continue
        clamped = month > start
        out[f"{section}.announced"] = start if clamped else month
        applied.append((_rule_name(section), start if clamped else month, key if clamped else None))
    if len({month for _, month, _ in applied}) == 1 and not any(c for _, _, c in applied):
        return out, {LEAD: f"in {applied[0][1]}"}
    parts = [f"{rule} at its {month} {key}" if key else f"{rule} {month}" for rule, month, key in applied]
    return out, {LEAD: ", ".join(parts)}


def announced_by_start(overrides: Mapping[str, Any], scenario: Any) -> dict[str, Any]:
    """``overrides`` plus, where a start lever moves a rule before the scenario's announcement of it, that
    announcement moved to the new start: :func:`apply_announcements` with the announcement lever left blank.

    A rule is announced before (or when) it binds (:mod:`model.config` refuses the opposite). Without an
    announcement lead from the user, a rule started earlier than the scenario announced it is announced when it
    binds: nothing is anticipated. A start moved later keeps the scenario's announcement (a longer lead).

    Args:
        overrides: from :func:`overrides_for`.
        scenario: the scenario they apply to (a :class:`~model.config.Scenario`).
    """
    return apply_announcements(overrides, scenario)[0]


def _lead_text(text: str) -> str:
    try:
        lead = int(float(text))
    except ValueError:
        return f"rules announced {text}"
    if lead == 0:
        return "rules announced at their start, no warning"
    return f"rules announced {lead} month{'s' if lead != 1 else ''} ahead"


def describe_overrides(values: Mapping[str, Any], notes: Mapping[str, str] | None = None) -> str:
    """A short label for the levers moved, e.g. ``cap 20%, whitelist off`` (empty if none).

    Args:
        values: the lever texts, by lever name.
        notes: what was applied, by lever name, shown after the lever in parentheses (from
            :func:`apply_announcements`: ``rules announced 6 months ahead (in 2025-04)``).
    """
    parts = []
    notes = notes or {}
    for lever in LEVERS:
        raw = values.get(lever.name)
        text = "" if raw is None else str(raw).strip()
        if text and text.lower() != SCENARIO:
            if lever.kind == "lead":
                part = _lead_text(text)
            else:
                short = lever.short or lever.name
                unit = "%" if lever.kind == "percent" and text.lower() not in _OFF_WORDS else ""
                part = f"{short} {text.rstrip('%')}{unit}"
            if notes.get(lever.name):
                part += f" ({notes[lever.name]})"
            parts.append(part)
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

    def announced_ahead() -> str:
        by_month: dict[str, list[str]] = {}
        for section, key in announced_rules(scenario):
            rule = scenario.get(section)
            if rule.enabled and rule.announced < getattr(rule, key):  # 'YYYY-MM' strings sort in calendar order
                by_month.setdefault(rule.announced, []).append(_rule_name(section))
        groups = [f"{month}: {', '.join(rules)}" for month, rules in sorted(by_month.items())]
        return "; ".join(groups) or "none"

    rc = pol.rate_cap
    legacy = f"legacy {_pct(rc.legacy_apr)} {'all-in' if rc.legacy_fees_included else 'nominal'}"
    return {
        "all-in cap": f"{_pct(rc.apr)} from {rc.start}" if rc.enabled else f"off ({legacy})",
        "announced ahead": announced_ahead(),
        "fees in cap": "yes" if rc.fees_included else "no",
        "CFC cap": kind_cap(pol.kind_caps.cfc),
        "microlender cap": kind_cap(pol.kind_caps.microlender),
        "whitelist": dated(pol.whitelist),
        "partner cost": f"{pol.whitelist.partner_cost:g} yuan/1k/quarter",
        "balance mandate": dated(pol.balance_mandate),
        "payment crackdown": dated(pol.payment_crackdown),
        "borrowing limit": dated(pol.borrowing_limit, f"{pol.borrowing_limit.income_multiple:g}x income"),
    }
