"""Scenarios: TOML files resolved into one frozen, validated :class:`Scenario`.

A scenario file is TOML with a top-level ``description`` string, an optional ``extends`` and tables that
mirror the sections of :class:`model.params.Params` (``[run]``, ``[platforms.head]``, ``[policy.rate_cap]``...).
``extends`` names a shipped scenario (``extends = "new-rules-2025"``) or, if it ends in ``.toml`` or
contains a path separator, a file relative to the extending file.

Values are resolved in this order, later winning: schema defaults, then the root of the ``extends`` chain,
down to the file itself, then overrides (``dotted.key=value`` strings or a mapping). Nothing is
validated piecemeal: every problem found anywhere (file, parents, overrides, cross-field rules) is
collected and raised together as one :class:`ConfigError`, so a user fixes a scenario in one pass.

The parameter schema itself lives in :mod:`model.params`; this module only reads its field metadata.
``render_baseline_toml`` and ``render_param_table`` turn that schema into the shipped
``baseline.toml`` and the parameter table of ``docs/ODD.md``.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import importlib.util
import itertools
import json
import math
import numbers
import os
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.calendar import format_month, parse_month
from model.enums import Segment
from model.params import CHANNELS, FUNDER_KINDS, TIERS, Params

__all__ = [
    "BASELINE_DESCRIPTION",
    "PARAM_TABLE_HEADER",
    "ConfigError",
    "Scenario",
    "list_scenarios",
    "load_scenario",
    "markdown_cell",
    "param_table_sections",
    "render_baseline_toml",
    "render_param_table",
    "render_toml",
    "scenario_dir",
    "update_marked_block",
]

#: Most ``extends`` hops followed from one file; deeper chains are almost certainly a mistake.
MAX_EXTENDS_DEPTH = 10
#: Tolerance for shares that must sum to one (TOML decimals such as 0.1 are not exact binary floats).
SUM_TOLERANCE = 1e-6
#: First month a simulation may not reach: ``calendar.parse_month`` only knows years up to 2200.
CALENDAR_END = "2200-01"
#: Keys a scenario file may hold besides the parameter sections.
FILE_KEYS = ("description", "extends")

BASELINE_DESCRIPTION = (
    "Every parameter at its default: the pre-2025 world with no new rules. "
    "Rendered from model/params.py by `zhudai params --toml`; do not edit by hand."
)

# Per-segment borrower lists, one element per Segment, in Segment order.
_SEGMENT_LISTS = (
    "segment_shares", "income_median", "hazard", "essential_spend_share", "buffer_months",
    "buffer_cap_months", "seek_prob", "loan_income_multiple", "revolve_prob", "initial_indebted",
    "initial_extra_loans",
)
# Lists whose length is fixed by an enum rather than by a minimum.
_EXACT_LEN: dict[str, int] = {
    **{f"borrowers.{name}": len(Segment) for name in _SEGMENT_LISTS},
    **{f"platforms.{tier}.channel_mix": len(CHANNELS) for tier in TIERS},
}
_ECOSYSTEM = CHANNELS.index("ecosystem")


# --------------------------------------------------------------------------------------------- errors
class ConfigError(Exception):
    """Invalid scenario input: every problem found, in one readable message.

    Attributes:
        problems: one line per problem, each naming the key, the offending value and the rule broken.
        source: the scenario as the user named it (shipped name or path), if known.

    Subclasses for other input files (designs, targets) set ``subject`` and ``verb`` for the message header.
    """

    subject = "scenario"
    verb = "has"
    #: Header when the source is unknown (``{n}``, ``{noun}``, ``{subject}``, ``{verb}`` are filled in).
    unnamed = "{n} configuration {noun}:"

    def __init__(self, problems: Sequence[str] | str, source: str | None = None) -> None:
        """Create the error.

        Args:
            problems: one problem or a list of them.
            source: the scenario name or path, used in the message header.
        """
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.problems)
        noun = "problem" if n == 1 else "problems"
        if self.source is not None:
            head = f"{self.subject} {self.source!r} {self.verb} {n} {noun}:"
        else:
            head = self.unnamed.format(n=n, noun=noun, subject=self.subject, verb=self.verb)
        return "\n".join([head, *(f"  - {problem}" for problem in self.problems)])

    def __reduce__(self) -> tuple[Any, ...]:
        # Batch runners pickle exceptions raised in worker processes; the default reduce would pass the
        # formatted message back in as ``problems``.
        return (type(self), (self.problems, self.source))


# ---------------------------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class _Leaf:
    """One parameter of the schema, with the default of its place in the tree (tier defaults differ)."""

    key: str
    name: str
    type: type
    default: Any
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class _Section:
    """A section of the schema; ``children`` keep the declaration order of the dataclass."""

    key: str
    name: str
    cls: type
    doc: str
    children: dict[str, _Leaf | _Section]

    def leaves(self) -> list[_Leaf]:
        """All leaves below this section, in schema order."""
        out: list[_Leaf] = []
        for child in self.children.values():
            out.extend(child.leaves() if isinstance(child, _Section) else [child])
        return out

    def sections(self) -> list[_Section]:
        """This section and every section below it, in schema order."""
        out = [self]
        for child in self.children.values():
            if isinstance(child, _Section):
                out.extend(child.sections())
        return out


def _build_schema(cls: type, instance: Any, key: str, doc: str) -> _Section:
    hints = typing.get_type_hints(cls)
    children: dict[str, _Leaf | _Section] = {}
    for f in dataclasses.fields(cls):
        child_key = f"{key}.{f.name}" if key else f.name
        value = getattr(instance, f.name)
        if f.metadata.get("section"):
            children[f.name] = _build_schema(type(value), value, child_key, f.metadata.get("doc", ""))
        else:
            children[f.name] = _Leaf(child_key, f.name, hints[f.name], value, f.metadata)
    return _Section(key, key.rpartition(".")[2], cls, doc, children)


@functools.cache
def _schema() -> _Section:
    return _build_schema(Params, Params(), "", "All parameters of one scenario.")


@functools.cache
def _all_keys() -> tuple[str, ...]:
    root = _schema()
    return tuple([s.key for s in root.sections()[1:]] + [leaf.key for leaf in root.leaves()])


def _node(key: str) -> _Leaf | _Section | None:
    node: _Leaf | _Section = _schema()
    for part in key.split("."):
        if not isinstance(node, _Section) or part not in node.children:
            return None
        node = node.children[part]
    return node


def leaf_meta(key: str) -> Mapping[str, Any]:
    """Schema metadata (range, unit, provenance...) of the leaf parameter ``key``.

    Raises:
        KeyError: if ``key`` is not a leaf parameter.
    """
    node = _node(key)
    if not isinstance(node, _Leaf):
        raise KeyError(key)
    return node.meta


def _suggest(key: str, extra: Sequence[str] = ()) -> str:
    """A ' (did you mean ...?)' hint for an unknown dotted key, or ''."""
    parent, _, name = key.rpartition(".")
    keys = _all_keys()
    siblings = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == parent] + list(extra)
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
    if close:
        hits = [f"{parent}.{close[0]}" if parent else close[0]]
    else:
        # The right name in the wrong section, e.g. ``[policy] apr = 0.2``.
        hits = [k for k in keys if k.rpartition(".")[2] == name][:3]
        hits = hits or difflib.get_close_matches(key, keys, n=1, cutoff=0.8)
    return f" (did you mean {' or '.join(hits)}?)" if hits else ""


# ------------------------------------------------------------------------------------------ formatting
def toml_value(value: Any) -> str:
    """Render a value as TOML (floats by ``repr`` so they round-trip exactly); also used in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(value, str):
        # JSON string escapes are a subset of TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def _what(value: Any) -> str:
    """The kind of a value as a user reading TOML would name it."""
    if _is_bool(value):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    if hasattr(value, "isoformat"):
        return "a TOML date/time (write months as quoted 'YYYY-MM' strings)"
    return f"a {type(value).__name__}"


def _expected(leaf: _Leaf) -> str:
    if leaf.type is list:
        return "a list of month strings" if leaf.meta.get("kind") == "months" else (
            "a list of strings" if leaf.meta.get("choices") else "a list of numbers")
    month = "a 'YYYY-MM' month string" + (" or ''" if leaf.meta.get("optional") else "")
    return {bool: "true or false", int: "a whole number", float: "a number"}.get(
        leaf.type, month if leaf.meta.get("kind") == "month" else "a string")


def _range_text(meta: Mapping[str, Any]) -> str:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"between {toml_value(lo)} and {toml_value(hi)}"
    if lo is not None:
        return f">= {toml_value(lo)}"
    if hi is not None:
        return f"<= {toml_value(hi)}"
    return ""


# ------------------------------------------------------------------------------------------ validation
def _is_bool(value: Any) -> bool:
    # numpy booleans are not ``bool`` but must not pass as numbers (sweeps pass numpy values).
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


def _check_scalar(kind: type, meta: Mapping[str, Any], value: Any) -> tuple[Any, str | None]:
    """Check and coerce one scalar; returns ``(clean, None)`` or ``(None, rule broken)``."""
    if kind is bool:
        return (bool(value), None) if _is_bool(value) else (None, f"must be true or false (got {_what(value)})")
    if kind is str:
        return _check_str(meta, value)
    return _check_number(kind, meta, value)


def _check_str(meta: Mapping[str, Any], value: Any) -> tuple[Any, str | None]:
    month = meta.get("kind") in ("month", "months")
    if not isinstance(value, str):
        want = ("a 'YYYY-MM' month string" + (" or ''" if meta.get("optional") else "")) if month else "a string"
        return None, f"must be {want} (got {_what(value)})"
    if month and value == "" and meta.get("optional"):
        return value, None
    if month:
        try:
            parse_month(value)
        except ValueError as err:
            return None, f"must be a 'YYYY-MM' month between 1900-01 and 2200-12 ({err})"
    choices = meta.get("choices")
    if choices and value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return None, f"must be one of {', '.join(choices)}{hint}"
    return value, None


def _check_number(kind: type, meta: Mapping[str, Any], value: Any) -> tuple[Any, str | None]:
    if _is_bool(value) or not isinstance(value, numbers.Real):
        return None, f"must be {'a whole number' if kind is int else 'a number'} (got {_what(value)})"
    try:
        x = float(value)
    except OverflowError:  # an integer beyond float range (e.g. a 400-digit --set value)
        return None, f"must be {_range_text(meta)}" if meta.get("hi") is not None else "is too large"
    if not math.isfinite(x):
        return None, "must be a finite number"
    clean: float | int = x
    if kind is int:
        # Integral floats (48.0, e.g. from a sweep design) are accepted; 12.5 months is not.
        if not isinstance(value, numbers.Integral) and not x.is_integer():
            return None, "must be a whole number"
        clean = int(value) if isinstance(value, numbers.Integral) else int(x)
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and clean < lo) or (hi is not None and clean > hi):
        return None, f"must be {_range_text(meta)}"
    return clean, None


def _check_leaf(leaf: _Leaf, value: Any) -> tuple[Any, list[tuple[str, Any, str]]]:
    """Check one parameter; problems are ``(key, value shown, rule)`` with ``key[i]`` for list elements."""
    if type(value).__module__ == "numpy":
        # Sweep designs hand over numpy scalars and arrays; ``tolist`` gives the plain Python values.
        value = value.tolist()
    if leaf.type is not list:
        clean, err = _check_scalar(leaf.type, leaf.meta, value)
        return clean, ([] if err is None else [(leaf.key, value, err)])
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        return None, [(leaf.key, value, f"must be {_expected(leaf)} (got {_what(value)})")]
    problems: list[tuple[str, Any, str]] = []
    exact = _EXACT_LEN.get(leaf.key)
    if exact is not None and len(value) != exact:
        problems.append((leaf.key, value, f"must have exactly {exact} elements (has {len(value)})"))
    elif len(value) < leaf.meta.get("min_len", 0):
        problems.append((leaf.key, value, f"must have at least {leaf.meta['min_len']} element(s)"))
    # Lists of labels or months hold strings; every other list in the schema holds numbers.
    element = str if leaf.meta.get("choices") or leaf.meta.get("kind") == "months" else float
    clean = []
    for i, item in enumerate(value):
        good, err = _check_scalar(element, leaf.meta, item)
        if err is not None:
            problems.append((f"{leaf.key}[{i}]", item, err))
        clean.append(good)
    return clean, problems


class _Values:
    """Validated values by dotted key, for the cross-field rules (which skip keys already invalid)."""

    def __init__(self, clean: dict[str, Any], bad: set[str]) -> None:
        self.clean, self.bad = clean, bad

    def ok(self, *keys: str) -> bool:
        return not any(k in self.bad for k in keys)

    def __getitem__(self, key: str) -> Any:
        return self.clean[key]


def _cross_checks(v: _Values) -> list[tuple[str, Any, str]]:
    """Rules between fields; each problem names the key a user should change."""
    return [*_check_shares(v), *_check_run_window(v), *_check_mandate(v), *_check_kinds(v), *_check_announced(v)]


def _check_shares(v: _Values) -> list[tuple[str, Any, str]]:
    out = []
    for key in ["borrowers.segment_shares", *(f"platforms.{tier}.channel_mix" for tier in TIERS)]:
        if v.ok(key) and abs(sum(v[key]) - 1.0) > SUM_TOLERANCE:
            out.append((key, v[key], f"shares must sum to 1 (sum is {sum(v[key]):.6g})"))
    for tier in TIERS[1:]:
        key = f"platforms.{tier}.channel_mix"
        # Only head platforms own an app ecosystem (docs/domain.md); others cannot buy that channel.
        if v.ok(key) and v[key][_ECOSYSTEM] != 0:
            out.append((key, v[key], f"only head platforms have an own ecosystem: element {_ECOSYSTEM} "
                                     "(ecosystem share) must be 0"))
    return out


def _check_run_window(v: _Values) -> list[tuple[str, Any, str]]:
    start, months = "run.start", "run.months"
    if not v.ok(start, months):
        return []
    last = parse_month(v[start]) + v[months] - 1
    if last < parse_month(CALENDAR_END):
        return []
    return [(months, v[months], f"{v[start]} plus {v[months]} months ends in {format_month(last)}; "
                                f"the simulation must end before {CALENDAR_END}")]


def _check_mandate(v: _Values) -> list[tuple[str, Any, str]]:
    targets, by, start = "policy.balance_mandate.targets", "policy.balance_mandate.by", "policy.balance_mandate.start"
    out = []
    if v.ok(targets, by) and len(v[targets]) != len(v[by]):
        out.append((by, v[by], f"must have one date per target in {targets} ({len(v[by])} dates, "
                               f"{len(v[targets])} targets)"))
    if v.ok(by):
        dates = [parse_month(m) for m in v[by]]
        if any(b <= a for a, b in itertools.pairwise(dates)):
            out.append((by, v[by], "dates must be strictly ascending"))
        if v.ok(start) and dates and dates[0] < parse_month(v[start]):
            out.append((by, v[by], f"first date is before {start} = {toml_value(v[start])}"))
    return out


def _check_kinds(v: _Values) -> list[tuple[str, Any, str]]:
    out = []
    for kind in FUNDER_KINDS:
        cap = f"policy.kind_caps.{kind}"
        multiple, start, by = f"{cap}.lpr_multiple", f"{cap}.start", f"{cap}.by"
        if v.ok(multiple, start, by) and v[multiple] > 0 and parse_month(v[by]) <= parse_month(v[start]):
            out.append((by, v[by], f"must be after {start} = {toml_value(v[start])} when {multiple} > 0"))
        big, count = f"funders.{kind}.bigtech_count", f"funders.{kind}.count"
        if v.ok(big, count) and v[big] > v[count]:
            out.append((big, v[big], f"must not exceed {count} = {v[count]}"))
    return out


#: Instruments that may be announced before they bind: (section, the key of the month they bind from).
ANNOUNCED = (
    ("policy.rate_cap", "start"),
    *((f"policy.kind_caps.{kind}", "start") for kind in FUNDER_KINDS),
    ("policy.whitelist", "start"),
    ("policy.no_outsourcing", "start"),
    ("policy.stock_cleanup", "deadline"),
)


def _check_announced(v: _Values) -> list[tuple[str, Any, str]]:
    """A rule is announced before (or when) it binds: ``announced`` ('' for not ahead) must not come after."""
    out = []
    for section, binds in ANNOUNCED:
        announced, start = f"{section}.announced", f"{section}.{binds}"
        if v.ok(announced, start) and v[announced] and parse_month(v[announced]) > parse_month(v[start]):
            out.append((announced, v[announced], f"must not be after {start} = {toml_value(v[start])} (a rule is "
                                                  f"announced before it binds; leave it '' if not announced ahead)"))
    return out


def _lookup(tree: Mapping[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        node = node[part]
    return node


def _finish(tree: dict[str, Any], origins: Mapping[str, str], problems: list[str], *, cross: bool,
            source: str | None) -> Params:
    """Validate the merged tree, raise every problem at once, else build the frozen ``Params``."""
    root = _schema()
    clean: dict[str, Any] = {}
    bad: set[str] = set()
    found: list[tuple[str, Any, str]] = []
    for leaf in root.leaves():
        value, errs = _check_leaf(leaf, _lookup(tree, leaf.key))
        clean[leaf.key] = value
        if errs:
            bad.add(leaf.key)
            found.extend(errs)
    # Cross-field rules would only echo a broken ``extends`` chain (values missing from an unread parent).
    if cross:
        found.extend(_cross_checks(_Values(clean, bad)))
    for key, value, rule in found:
        origin = origins.get(key.partition("[")[0], "")
        problems.append(f"{key} = {toml_value(value)}: {rule}{origin}")
    if problems:
        raise ConfigError(problems, source)
    return _build(root, clean)


def _build(section: _Section, clean: Mapping[str, Any]) -> Any:
    kwargs = {
        name: _build(child, clean) if isinstance(child, _Section) else clean[child.key]
        for name, child in section.children.items()
    }
    return section.cls(**kwargs)


# ------------------------------------------------------------------------------------- merging layers
def _merge_table(section: _Section, data: Mapping[str, Any], target: dict[str, Any], origins: dict[str, str],
                 where: str, problems: list[str]) -> None:
    """Write ``data`` over ``target`` (a nested dict of the section), reporting structural problems."""
    for name, value in data.items():
        key = f"{section.key}.{name}" if section.key else str(name)
        child = section.children.get(name)
        if child is None:
            problems.append(f"{key}: unknown key{_suggest(key)}{where}")
        elif isinstance(child, _Section):
            if isinstance(value, Mapping):
                _merge_table(child, value, target[name], origins, where, problems)
            else:
                problems.append(f"{key} = {toml_value(value)}: is a section, not a value; "
                                f"write its keys under a [{key}] table{where}")
        elif isinstance(value, Mapping):
            problems.append(f"{key}: must be {_expected(child)} (got a table){where}")
        else:
            target[name] = value
            origins[key] = where


def parse_value(text: str) -> Any:
    """Parse the value of ``key=value`` as a TOML value, else keep it as a string (``2025-10``).

    Shared by ``--set`` overrides and sweep (``--vary``) values.
    """
    try:
        parsed = tomllib.loads("v = " + text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    # "1\nx = 2" parses, but is not one value; a TOML date or time is no parameter value, so keep the text
    # (validation then says what a month must look like).
    if len(parsed) != 1 or _has_datetime(parsed["v"]):
        return text
    return parsed["v"]


def _has_datetime(value: Any) -> bool:
    if isinstance(value, datetime.date | datetime.time):
        return True
    if isinstance(value, list):
        return any(_has_datetime(v) for v in value)
    if isinstance(value, dict):
        return any(_has_datetime(v) for v in value.values())
    return False


def _apply_overrides(overrides: Sequence[str] | Mapping[str, Any], tree: dict[str, Any],
                     origins: dict[str, str], problems: list[str]) -> None:
    items: list[tuple[str, Any]] = []
    if overrides is None:
        return
    if isinstance(overrides, Mapping):
        items = [(str(k).strip(), v) for k, v in overrides.items()]
    else:
        if not isinstance(overrides, str | Sequence):
            problems.append(f"overrides {overrides!r}: must be 'dotted.key=value' strings or a mapping")
            return
        # A lone string is a Sequence too; iterating it would yield characters.
        for text in [overrides] if isinstance(overrides, str) else overrides:
            if not isinstance(text, str):
                problems.append(f"override {text!r}: must be a 'dotted.key=value' string")
                continue
            key, sep, raw = text.partition("=")
            if not sep:
                problems.append(f"override {text!r}: must be 'dotted.key=value' (no '=')")
            elif not key.strip():
                problems.append(f"override {text!r}: empty key before '='")
            else:
                items.append((key.strip(), parse_value(raw.strip())))
    where = " [set by override]"
    for key, value in items:
        node = _node(key) if key else None
        if node is None:
            problems.append(f"{key or repr(key)}: unknown key{_suggest(key)}{where}")
            continue
        parent_key, _, name = key.rpartition(".")
        parent = _node(parent_key) if parent_key else _schema()
        assert isinstance(parent, _Section)
        target = _lookup(tree, parent_key) if parent_key else tree
        _merge_table(parent, {name: value}, target, origins, where, problems)


# --------------------------------------------------------------------------------------------- files
def scenario_dir() -> Path:
    """The directory of the shipped scenario files, found without importing the simulation."""
    try:
        spec = importlib.util.find_spec("experiments")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and spec.origin not in ("namespace", "built-in"):
        found = Path(spec.origin).resolve().parent / "scenarios"
        # Another top-level package called "experiments" may shadow ours; only trust it if it has scenarios.
        if found.is_dir():
            return found
    return Path(__file__).resolve().parents[1] / "experiments" / "scenarios"


def _shipped_names() -> list[str]:
    directory = scenario_dir()
    return sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []


def list_scenarios() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped scenario, sorted by name.

    A shipped file that does not load is listed with a note instead of its description, so one broken
    file does not hide the others.
    """
    out = []
    for name in _shipped_names():
        try:
            description = load_scenario(name).description
        except ConfigError as err:
            description = f"(invalid: {len(err.problems)} problem(s); run it to see them)"
        out.append((name, description))
    return out


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or "/" in text or "\\" in text or text.startswith(".")


def _unknown_name(name: str, role: str) -> str:
    names = _shipped_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{role}unknown scenario {name!r}{hint}; available: {', '.join(names) or '(none found)'}"


def _read_toml(path: Path, label: str, problems: list[str]) -> dict[str, Any] | None:
    """Read one TOML file; any failure becomes a problem (never an exception) and returns None."""
    try:
        if path.is_dir():
            problems.append(f"{label}: is a directory, not a scenario file")
            return None
        raw = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{label}: no such file")
        return None
    except PermissionError:
        problems.append(f"{label}: permission denied")
        return None
    except (OSError, ValueError) as err:  # ValueError: e.g. an embedded NUL byte in the path
        problems.append(f"{label}: cannot read the file ({getattr(err, 'strerror', None) or err})")
        return None
    try:
        # Editors on Windows may prepend a byte-order mark; TOML forbids it, users should not care.
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        problems.append(f"{label}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})")
        return None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as err:
        problems.append(f"{label}: TOML syntax error: {err}")
        return None


@dataclass(frozen=True)
class _Layer:
    path: Path
    label: str
    data: dict[str, Any]


def _resolve_extends(ext: str, child: _Layer, problems: list[str]) -> tuple[Path, str] | None:
    role = f"extends = {toml_value(ext)} in {child.label}: "
    if _looks_like_path(ext):
        path = (child.path.parent / ext).resolve()
        if not path.exists():
            problems.append(f"{role}no such file {path}")
            return None
        return path, ext
    path = scenario_dir() / f"{ext}.toml"
    if not path.is_file():
        problems.append(_unknown_name(ext, role))
        return None
    return path.resolve(), ext


def _read_chain(path: Path, label: str, problems: list[str]) -> tuple[list[_Layer], bool]:
    """The file and its ancestors, child first; the flag is False if the chain could not be completed."""
    layers: list[_Layer] = []
    seen: list[Path] = []
    while True:
        data = _read_toml(path, label, problems)
        if data is None:
            return layers, False
        layer = _Layer(path, label, data)
        layers.append(layer)
        seen.append(path.resolve())
        ext = data.get("extends")
        if ext is None:
            return layers, True
        if not isinstance(ext, str) or not ext.strip():
            problems.append(f"extends = {toml_value(ext)} in {label}: must be a shipped scenario name "
                            "or a path to a .toml file")
            return layers, False
        if len(layers) > MAX_EXTENDS_DEPTH:
            chain = " -> ".join(layer.label for layer in layers)
            problems.append(f"extends: chain longer than {MAX_EXTENDS_DEPTH} steps: {chain} -> ...")
            return layers, False
        parent = _resolve_extends(ext.strip(), layer, problems)
        if parent is None:
            return layers, False
        path, label = parent
        if path in seen:
            chain = " -> ".join([*(layer.label for layer in layers), label])
            problems.append(f"extends: cycle {chain}")
            return layers, False


def _locate(source: str | os.PathLike[str], problems: list[str]) -> tuple[Path | None, str]:
    """Turn a shipped name or a path into ``(path, scenario name)``; an unknown name is a problem."""
    text = os.fsdecode(source) if isinstance(source, str | bytes | os.PathLike) else None
    if text is None:
        problems.append(f"scenario source {source!r}: must be a scenario name or a path to a .toml file")
        return None, str(source)
    if isinstance(source, os.PathLike) or _looks_like_path(text):
        path = Path(text)
        if not path.exists() and path.suffix == ".toml" and path.stem in _shipped_names() and "/" not in text:
            problems.append(f"{text}: no such file (the shipped scenario is named {path.stem!r}, without .toml)")
            return None, path.stem
        return path, path.stem
    if not text.strip():
        problems.append("scenario name is empty; available: " + ", ".join(_shipped_names()))
        return None, text
    path = scenario_dir() / f"{text}.toml"
    if not path.is_file():
        problems.append(_unknown_name(text, ""))
        return None, text
    return path, text


def _defaults_tree() -> dict[str, Any]:
    return dataclasses.asdict(Params())


# ------------------------------------------------------------------------------------------- scenario
@dataclass(frozen=True)
class Scenario:
    """One resolved, validated scenario.

    Attributes:
        name: the shipped name or the file stem.
        description: the file's description, inherited from the nearest ancestor that has one.
        source: path of the file it was loaded from ("" if built in code).
        params: every parameter, validated.
    """

    name: str
    description: str
    source: str
    params: Params

    def to_dict(self) -> dict[str, Any]:
        """Name, description and every parameter as nested plain dicts (JSON-serializable).

        Sections sit at the top level beside ``name`` and ``description``, as in a scenario file.
        """
        return {"name": self.name, "description": self.description, **dataclasses.asdict(self.params)}

    def get(self, key: str) -> Any:
        """The value of a dotted key (a leaf value, or a section's dataclass).

        Raises:
            ConfigError: if the key is not in the schema.
        """
        if _node(key) is None:
            raise ConfigError([f"{key}: unknown key{_suggest(key)}"], self.name)
        value: Any = self.params
        for part in key.split("."):
            value = getattr(value, part)
        # Params are frozen, but lists inside are not: hand out a copy so callers cannot alter the scenario.
        return list(value) if isinstance(value, list) else value

    def with_overrides(self, overrides: Sequence[str] | Mapping[str, Any]) -> Scenario:
        """A new validated scenario with ``overrides`` applied (same forms as :func:`load_scenario`).

        Raises:
            ConfigError: listing every problem of the overrides and of the result.
        """
        tree = dataclasses.asdict(self.params)
        origins: dict[str, str] = {}
        problems: list[str] = []
        _apply_overrides(overrides, tree, origins, problems)
        params = _finish(tree, origins, problems, cross=True, source=self.name)
        return dataclasses.replace(self, params=params)


def load_scenario(source: str | os.PathLike[str], overrides: Sequence[str] | Mapping[str, Any] = ()) -> Scenario:
    """Load, resolve and validate a scenario.

    Args:
        source: a shipped scenario name (file stem in :func:`scenario_dir`, e.g. ``"new-rules-2025"``) or
            a path to a ``.toml`` file (a ``Path``, or a string ending in ``.toml`` or containing ``/``).
        overrides: ``"dotted.key=value"`` strings, the value parsed as TOML (``0.2``, ``true``,
            ``[0.5, 0.0]``) or else taken as a plain string (``2025-10``); or a mapping
            ``{dotted_key: value}``. A key naming a section takes a table of its keys.

    Returns:
        The resolved scenario.

    Raises:
        ConfigError: listing every problem found in the file, its ``extends`` chain and the overrides.
    """
    label = os.fsdecode(source) if isinstance(source, str | bytes | os.PathLike) else repr(source)
    problems: list[str] = []
    path, name = _locate(source, problems)
    layers, chain_ok = _read_chain(path, label, problems) if path is not None else ([], False)

    tree = _defaults_tree()
    origins: dict[str, str] = {}
    description = ""
    root = _schema()
    for depth, layer in reversed(list(enumerate(layers))):
        # Problems in parents say which file they come from; the header already names the child.
        where = "" if depth == 0 else f" [in {layer.label}]"
        desc = layer.data.get("description")
        if isinstance(desc, str):
            description = desc
        elif desc is not None:
            problems.append(f"description = {toml_value(desc)}: must be a string{where}")
        sections = {k: v for k, v in layer.data.items() if k not in FILE_KEYS}
        for key in sections:
            if key not in root.children:
                problems.append(f"{key}: unknown key{_suggest(key, FILE_KEYS)}{where}")
        known = {k: v for k, v in sections.items() if k in root.children}
        _merge_table(root, known, tree, origins, where, problems)
    _apply_overrides(overrides, tree, origins, problems)

    params = _finish(tree, origins, problems, cross=chain_ok, source=label)
    return Scenario(name=name, description=description, source=str(path), params=params)


# ------------------------------------------------------------------------------------------ rendering
_BASELINE_INTRO = """\
# zhudai-abm scenario file: every parameter at its schema default.
#
# Generated from model/params.py by `zhudai params --toml`; do not edit by hand (a test checks that this
# file equals the rendering). To make a scenario, write a new file with `extends = "baseline"` (or any
# other shipped scenario) and only the keys that differ.
"""

_RESOLVED_INTRO = """\
# zhudai-abm scenario file: every parameter written out (a resolved scenario; it extends nothing).
"""

_TOML_CONVENTIONS = """\
#
# Conventions (see model/params.py):
#   * Rates (APR, funding cost, fees) are annual fractions: 0.24 means 24% a year [1/yr].
#   * Hazards and probabilities marked "per month" are monthly [1/month].
#   * Yuan amounts of institutions (budgets, capital, fixed costs) are per 1,000 modelled borrowers
#     [yuan/1k], so a run with 100k or 1M borrowers describes the same market.
#   * Dates are calendar months "YYYY-MM".
#   * Lists under [borrowers] are per segment [prime, near_prime, subprime]; channel_mix is
#     [info_flow, api, ecosystem, referral].
#
# Each key is preceded by: meaning [unit] (provenance) and its allowed range.
# Provenance tags: "policy lever", "calibrated: <source>", "assumption", "design choice". Keys flagged
# "uncertainty" are behavioural uncertainties addressed by the sensitivity designs; policy levers are
# kept apart from them.
"""


def _leaf_comment(leaf: _Leaf) -> str:
    meta = leaf.meta
    parts = [meta.get("doc", "")]
    if meta.get("unit"):
        parts.append(f"[{meta['unit']}]")
    prov = meta.get("prov", "")
    parts.append(f"({prov}; uncertainty)" if meta.get("uncertainty") else f"({prov})")
    if _range_text(meta):
        parts.append(f"range: {_range_text(meta)}" + (" (each)" if leaf.type is list else ""))
    if meta.get("choices"):
        parts.append(f"one of: {', '.join(meta['choices'])}")
    return "# " + " ".join(p for p in parts if p)


def render_toml(params: Params, description: str, intro: str = _RESOLVED_INTRO) -> str:
    """Render a full scenario file of ``params``, every key documented from the schema.

    Args:
        params: the values to write.
        description: the file's ``description``.
        intro: comment lines opening the file, before the shared conventions.

    Returns:
        TOML text that loads back to exactly ``params``.
    """
    tree = dataclasses.asdict(params)
    lines = [intro + _TOML_CONVENTIONS, f"description = {toml_value(description)}"]
    for section in _schema().sections()[1:]:
        lines += ["", f"# {section.doc}", f"[{section.key}]"]
        values = _lookup(tree, section.key)
        for child in section.children.values():
            if isinstance(child, _Leaf):
                lines += [_leaf_comment(child), f"{child.name} = {toml_value(values[child.name])}"]
    return "\n".join(lines) + "\n"


def render_baseline_toml() -> str:
    """The text of ``experiments/scenarios/baseline.toml``: every parameter at its default."""
    return render_toml(Params(), BASELINE_DESCRIPTION, _BASELINE_INTRO)


def markdown_cell(text: str) -> str:
    """Text as one Markdown table cell: ``|`` escaped, line breaks as spaces."""
    return text.replace("|", "\\|").replace("\n", " ")


PARAM_TABLE_HEADER = ("key", "default", "unit", "range", "provenance", "meaning")


def param_table_sections() -> list[tuple[str, str, list[tuple[str, ...]]]]:
    """Every parameter section as ``(key, description, rows)``, each row the cells of :data:`PARAM_TABLE_HEADER`.

    Cells are Markdown (keys and defaults as code) with ``|`` escaped; sections follow the schema order. The
    ODD table (:func:`render_param_table`) and the parameter reference page (``experiments/docs_pages.py``)
    are both rendered from these rows.
    """
    out: list[tuple[str, str, list[tuple[str, ...]]]] = []
    for section in _schema().sections()[1:]:
        rows: list[tuple[str, ...]] = []
        for child in section.children.values():
            if not isinstance(child, _Leaf):
                continue
            meta = child.meta
            rng = _range_text(meta).replace("between ", "").replace(" and ", " to ")
            if meta.get("choices"):
                rng = "one of " + ", ".join(meta["choices"])
            elif meta.get("kind") in ("month", "months"):
                rng = "YYYY-MM or ''" if meta.get("optional") else "YYYY-MM"
            if child.type is list:
                n = _EXACT_LEN.get(child.key)
                size = f"{n} items" if n else f"≥{meta.get('min_len', 0)} items"
                rng = f"{size}, each {rng}" if rng else size
            prov = meta.get("prov", "") + ("; uncertainty" if meta.get("uncertainty") else "")
            cells = [f"`{child.key}`", f"`{toml_value(child.default)}`", meta.get("unit", ""), rng, prov,
                     meta.get("doc", "")]
            rows.append(tuple(markdown_cell(c) for c in cells))
        out.append((section.key, markdown_cell(section.doc), rows))
    return out


def render_param_table() -> str:
    """A Markdown table of every parameter: key, default, unit, range, provenance, meaning.

    Rows follow the schema order; each section starts with a bold row carrying its description.
    """
    rows = ["| " + " | ".join(PARAM_TABLE_HEADER) + " |", "|---|---|---|---|---|---|"]
    for key, doc, cells in param_table_sections():
        rows.append(f"| **{key}** | | | | | {doc} |")
        rows.extend("| " + " | ".join(row) + " |" for row in cells)
    return "\n".join(rows) + "\n"


def update_marked_block(text: str, begin: str, end: str, new: str) -> str:
    """Replace what lies between the marker lines ``begin`` and ``end`` in ``text`` by ``new``.

    The markers are kept. Used to embed generated tables in hand-written documents.

    Raises:
        ValueError: if a marker is missing, repeated, or ``end`` comes before ``begin``.
    """
    for marker in (begin, end):
        if text.count(marker) != 1:
            raise ValueError(f"marker {marker!r} must occur exactly once (found {text.count(marker)})")
    i, j = text.index(begin), text.index(end)
    if j < i:
        raise ValueError(f"marker {end!r} comes before {begin!r}")
    return text[: i + len(begin)] + "\n" + new.strip("\n") + "\n" + text[j:]
