"""Experiment designs: which scenarios, sweep points, replications and seeds a batch runs.

A design is one :class:`Design` whether it comes from ``zhudai compare``, ``zhudai sweep`` or a design file
(``experiments/designs/*.toml``). It expands to points = scenarios × sweep points, and every point runs
replicates 0..R-1. Replicate seeds come from ``np.random.SeedSequence(root_seed).spawn(R)``, and replicate
``i`` has the same seed in every scenario and sweep point (common random numbers), so differences between
points are effects of the scenario rather than sampling noise.

Design file keys::

    description = "..."               # free text
    root_seed = 20251001              # int >= 0 (default 20251001)
    replications = 5                  # int >= 1 (default 5)
    borrowers = 200000                # int >= 0 (default 200000)
    months = 24                       # int >= 1 (default: each scenario's own)
    scenarios = ["baseline-2024"]     # shipped names or paths to .toml files (required, non-empty)
    overrides = ["run.burn_in=0"]     # dotted.key=value applied to every run (optional)

    [vary]                            # optional sweep
    mode = "grid"                     # "grid" (every combination, default) or "zip" (i-th values together)
    "policy.rate_cap.apr" = [0.20, 0.24]

Validation is complete: every problem of the file, of each scenario and of every resolved run is reported
together in one :class:`DesignError` (a :class:`model.config.ConfigError`).

Provenance: a resolved design records every run's fully resolved parameters (:func:`params_tree`, stored once
per distinct parameter set under its :func:`params_digest`), and its fingerprint covers them. A batch directory
holding the same runs resolved with other parameters (an edited scenario file, a changed schema default) is
therefore another design; :meth:`ResolvedDesign.param_changes` names the keys that differ, and
:meth:`ResolvedDesign.setting_changes` the design settings. The one change a batch directory accepts is more
replications with every stored run unchanged (:meth:`ResolvedDesign.grows`): the directory then grows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.engine.tasks import RunSpec, make_run_id
from model.config import ConfigError, load_scenario, parse_value, toml_value

DEFAULT_ROOT_SEED = 20251001
DEFAULT_REPLICATIONS = 5
#: The smallest population the shipped scale check supports (experiments/analysis/scale.py).
DEFAULT_BORROWERS = 200_000
MODES = ("grid", "zip")
DESIGN_KEYS = ("description", "root_seed", "replications", "borrowers", "months", "scenarios", "overrides", "vary")
#: The settings that define a design's runs (:meth:`Design.fingerprint_data`), in the order a refusal names them.
SETTINGS = ("scenarios", "replications", "borrowers", "months", "root_seed", "overrides", "vary", "mode")
#: Stands for a setting a stored design does not record.
NOT_RECORDED: Any = object()


class DesignError(ConfigError):
    """An invalid design: every problem found, in one message (a ConfigError, so the CLI exits 2)."""

    subject, unnamed = "design", "{subject} {verb} {n} {noun}:"


@dataclass(frozen=True)
class Design:
    """A batch experiment, before validation against the scenarios.

    Attributes:
        scenarios: scenario names or paths.
        description: free text.
        root_seed: root of the replicate seeds.
        replications: replicates per point.
        borrowers: borrowers per run.
        months: months per run; None for each scenario's own horizon.
        overrides: ``dotted.key=value`` applied to every run, before the sweep values.
        vary: ``(dotted key, values)`` of the sweep, in order.
        mode: ``"grid"`` (cartesian product of the values) or ``"zip"`` (i-th values together).
        source: where it came from (design file path or command), for messages.
    """

    scenarios: tuple[str, ...]
    description: str = ""
    root_seed: int = DEFAULT_ROOT_SEED
    replications: int = DEFAULT_REPLICATIONS
    borrowers: int = DEFAULT_BORROWERS
    months: int | None = None
    overrides: tuple[str, ...] = ()
    vary: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    mode: str = "grid"
    source: str | None = None

    # ------------------------------------------------------------------------------------ expansion
    def seeds(self) -> list[int]:
        """Replicate seeds: one 32-bit state word of each child of ``SeedSequence(root_seed).spawn(R)``."""
        import numpy as np

        children = np.random.SeedSequence(self.root_seed).spawn(self.replications)
        return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]

    def sweep_points(self) -> list[tuple[tuple[str, Any], ...]]:
        """The sweep points: ``((key, value), ...)`` each; one empty point when nothing is varied."""
        if not self.vary:
            return [()]
        keys = [key for key, _ in self.vary]
        columns = [values for _, values in self.vary]
        combos = itertools.product(*columns) if self.mode == "grid" else zip(*columns, strict=True)
        return [tuple(zip(keys, combo, strict=True)) for combo in combos]

    def fingerprint_data(self) -> dict[str, Any]:
        """The values that define the runs (not the description or source), as plain JSON data."""
        return {
            "scenarios": list(self.scenarios), "root_seed": self.root_seed, "replications": self.replications,
            "borrowers": self.borrowers, "months": self.months, "overrides": list(self.overrides),
            "vary": [[key, list(values)] for key, values in self.vary], "mode": self.mode,
        }

    def resolve(self) -> ResolvedDesign:
        """Validate the design against its scenarios and expand it to runs.

        Returns:
            The resolved design with every run.

        Raises:
            DesignError: listing every problem (structure, scenarios, overrides, every resolved run).
        """
        problems = self._structure_problems()
        if problems:
            raise DesignError(problems, self.source)
        points = self.sweep_points()
        seeds = self.seeds()
        tail = [f"run.borrowers={self.borrowers}"] + ([f"run.months={self.months}"] if self.months else [])
        runs: list[RunSpec] = []
        params: dict[str, dict[str, Any]] = {}
        run_params: dict[str, str] = {}
        for scenario in self.scenarios:
            base = _load_problems(scenario, [*self.overrides, *tail])
            problems += [f"scenario {scenario!r}: {p}" for p in base]
            if base and _load_problems(scenario, tail):
                continue  # the scenario itself does not load: nothing more to check against it
            # Each sweep value on its own (without the design overrides, already reported), so a bad value is
            # reported once rather than once per point.
            bad_value = False
            for key, values in self.vary:
                for value in values:
                    single = _load_problems(scenario, [override_text(key, value), *tail])
                    problems += [f"scenario {scenario!r}, {key} = {_show(value)}: {p}" for p in single]
                    bad_value |= bool(single)
            if base or bad_value:
                continue
            for index, point in enumerate(points):
                overrides = (*self.overrides, *(override_text(k, v) for k, v in point))
                try:
                    resolved = load_scenario(scenario, [*overrides, *tail])
                except ConfigError as err:
                    where = ", ".join(f"{k} = {_show(v)}" for k, v in point)
                    problems += [f"scenario {scenario!r}, point {index} ({where}): {p}" for p in err.problems]
                    continue
                months = resolved.params.run.months
                tree = params_tree(resolved.params)
                digest = params_digest(tree)
                params.setdefault(digest, tree)
                for replicate, seed in enumerate(seeds):
                    run_id = make_run_id(scenario, overrides, replicate, seed, self.borrowers, months)
                    runs.append(RunSpec(run_id, scenario, index, point, overrides, replicate, seed,
                                        self.borrowers, months))
                    run_params[run_id] = digest
        if problems:
            raise DesignError(list(dict.fromkeys(problems)), self.source)
        return ResolvedDesign(self, points, seeds, runs, params, run_params)

    def _structure_problems(self) -> list[str]:
        problems: list[str] = []
        if not self.scenarios:
            problems.append("scenarios: must list at least one scenario")
        if len(set(self.scenarios)) != len(self.scenarios):
            problems.append(f"scenarios = {list(self.scenarios)}: lists a scenario twice")
        if self.mode not in MODES:
            problems.append(f"vary.mode = {_show(self.mode)}: must be one of {', '.join(map(repr, MODES))}")
        keys = [key for key, _ in self.vary]
        for key in sorted({k for k in keys if keys.count(k) > 1}):
            problems.append(f"vary.{key}: varied twice")
        for key, values in self.vary:
            if not values:
                problems.append(f"vary.{key}: must list at least one value")
        if self.mode == "zip" and len({len(values) for _, values in self.vary}) > 1:
            lengths = ", ".join(f"{key} has {len(values)}" for key, values in self.vary)
            problems.append(f"vary: mode 'zip' needs lists of equal length ({lengths})")
        return problems


@dataclass(frozen=True)
class ResolvedDesign:
    """A validated design expanded to its runs.

    Attributes:
        design: the design.
        points: the sweep points, in index order.
        seeds: the replicate seeds, in replicate order.
        runs: every run: scenarios in design order, then points, then replicates.
        params: every distinct resolved parameter set (:func:`params_tree`) by its :func:`params_digest`.
        run_params: run id -> digest of the run's resolved parameters.
    """

    design: Design
    points: list[tuple[tuple[str, Any], ...]]
    seeds: list[int]
    runs: list[RunSpec]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_params: dict[str, str] = field(default_factory=dict)

    @property
    def vary_keys(self) -> list[str]:
        """The swept dotted keys, in design order (also the names of their columns in the tables)."""
        return [key for key, _ in self.design.vary]

    def series_labels(self) -> dict[tuple[str, int], str]:
        """``(scenario, point index)`` -> :func:`series_label`, the name the summary and the report give it."""
        short = short_keys(self.vary_keys)
        return {(scenario, i): series_label(scenario, point, short)
                for scenario in self.design.scenarios for i, point in enumerate(self.points)}

    def to_dict(self) -> dict[str, Any]:
        """The resolved design as JSON data: the design, its seeds, every run with its overrides and the digest
        of its resolved parameters, and every distinct parameter set (``params``: digest -> nested values)."""
        return {
            "description": self.design.description,
            **self.design.fingerprint_data(),
            "seeds": list(self.seeds),
            "points": [{"point": i, "values": {k: v for k, v in point}} for i, point in enumerate(self.points)],
            "runs": [
                {"run_id": r.run_id, "scenario": r.scenario, "point": r.point, "overrides": list(r.overrides),
                 "replicate": r.replicate, "seed": r.seed, "borrowers": r.borrowers, "months": r.months,
                 "params": self.run_params.get(r.run_id)}
                for r in self.runs
            ],
            "params": self.params,
        }

    def param_changes(self, stored: Mapping[str, Any]) -> list[str]:
        """How this design's resolved parameters differ, run by run, from those of a stored design.

        Args:
            stored: a design as recorded by :meth:`to_dict` (a batch manifest's ``design``).

        Returns:
            One line per changed key and change, ``dotted.key: old -> new (runs)``, sorted by key, over the
            stored runs (a design grown to more replicates adds runs that have nothing to compare with); empty
            when nothing differs, when the stored design recorded no parameters, or when it holds a run this
            design does not (then they are different designs, not one design with other parameters).
        """
        old_trees = stored.get("params")
        old_runs = {r.get("run_id"): r for r in stored.get("runs") or [] if isinstance(r, Mapping)}
        if not isinstance(old_trees, Mapping) or not old_runs or not set(old_runs) <= {r.run_id for r in self.runs}:
            return []
        changes: dict[tuple[str, str, str], list[RunSpec]] = {}
        for spec in self.runs:
            if spec.run_id not in old_runs:
                continue
            old_digest, new_digest = old_runs[spec.run_id].get("params"), self.run_params.get(spec.run_id)
            if old_digest == new_digest:
                continue
            old_tree = old_trees.get(old_digest)
            old = flatten_tree(old_tree if isinstance(old_tree, Mapping) else {})
            new = flatten_tree(self.params.get(new_digest or "", {}))
            for key in sorted(old.keys() | new.keys()):
                a, b = _shown_param(old, key), _shown_param(new, key)
                if a != b:
                    changes.setdefault((key, a, b), []).append(spec)
        return [f"{key}: {a} -> {b} ({_runs_label(specs)})" for (key, a, b), specs in sorted(changes.items())]

    def setting_changes(self, stored: Mapping[str, Any]) -> list[str]:
        """The design settings (:data:`SETTINGS`) in which this design differs from a stored one, described.

        Args:
            stored: a design as recorded by :meth:`to_dict` (a batch manifest's ``design``).

        Returns:
            ``setting old -> new`` per differing setting, in :data:`SETTINGS` order (a change of ``replications``
            says whether it may grow a store); empty when every setting is equal.
        """
        return [describe_setting(key, old, new) for key, old, new in
                setting_differences(stored, self.design.fingerprint_data())]

    def adds_replicates(self, stored: Mapping[str, Any]) -> bool:
        """Whether ``replications`` is the only design setting that differs from a stored design's, and is
        larger here (the runs themselves are checked by :meth:`grows`)."""
        differences = setting_differences(stored, self.design.fingerprint_data())
        if [key for key, _, _ in differences] != ["replications"]:
            return False
        old = differences[0][1]
        return _is_int(old) and 1 <= old < self.design.replications

    def grows(self, stored: Mapping[str, Any]) -> bool:
        """Whether this design is a stored design with more replicates, every stored run unchanged.

        True when ``replications`` is the only setting that differs and it is larger here, and every stored run
        is a run of this design with the same id, keys, seed and resolved parameters (same digest), so a store
        of the stored design can be grown to this one without mixing parameter sets. Replicate ``i``'s seed
        (child ``i`` of ``SeedSequence(root_seed).spawn(R)``) is the same for every ``R > i``, so the first
        replicates keep their run ids.
        """
        if not self.adds_replicates(stored):
            return False
        old = stored["replications"]
        if not isinstance(stored.get("params"), Mapping) or stored.get("seeds") != self.seeds[:old]:
            return False
        ours = {r["run_id"]: r for r in self.to_dict()["runs"] if r["replicate"] < old}
        runs = stored.get("runs")
        if not isinstance(runs, list) or not all(isinstance(r, Mapping) for r in runs):
            return False
        return {r.get("run_id") for r in runs} == set(ours) and len(runs) == len(ours) \
            and all(ours[r["run_id"]] == dict(r) for r in runs)

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of everything that defines the runs, every run's resolved parameters
        included (description excluded)."""
        data = self.to_dict()
        data.pop("description")
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------- helpers
def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def setting_differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(setting, stored value, current value)`` of every design setting that differs, in :data:`SETTINGS`
    order.

    Values are compared as JSON (so ``1`` and ``1.0`` differ, as they do in the fingerprint); a setting the
    stored design does not record is :data:`NOT_RECORDED` there.
    """
    out = []
    for key in SETTINGS:
        old = stored.get(key, NOT_RECORDED)
        new = current.get(key, NOT_RECORDED)
        if old is NOT_RECORDED or new is NOT_RECORDED:
            if old is not new:
                out.append((key, old, new))
        elif _canonical(old) != _canonical(new):
            out.append((key, old, new))
    return out


def _show_setting(key: str, value: Any) -> str:
    if value is NOT_RECORDED:
        return "(not recorded)"
    if key == "months" and value is None:
        return "(each scenario's own)"
    if key == "vary" and isinstance(value, list):
        return "[" + ", ".join(f"{item[0]}={_canonical(item[1])}" if isinstance(item, list) and len(item) == 2
                               else _canonical(item) for item in value) + "]"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) if isinstance(v, str) else _canonical(v) for v in value) + "]"
    return str(value) if isinstance(value, str) else _canonical(value)


def describe_setting(key: str, old: Any, new: Any) -> str:
    """One differing design setting as ``key old -> new``, e.g. ``borrowers 20000 -> 50000``.

    A change of ``replications`` also says whether it may grow a store: ``(growing is allowed)`` when it
    rises, ``(only growing is allowed)`` when it falls.
    """
    text = f"{key} {_show_setting(key, old)} -> {_show_setting(key, new)}"
    if key == "replications" and _is_int(old) and _is_int(new):
        text += " (growing is allowed)" if new > old else " (only growing is allowed)"
    return text


def params_tree(params: Any) -> dict[str, Any]:
    """Every resolved parameter as nested plain JSON data (sections as objects, lists as arrays)."""
    return json.loads(json.dumps(dataclasses.asdict(params), allow_nan=False))


def params_digest(tree: Mapping[str, Any]) -> str:
    """Short sha256 (16 hex digits) of the canonical JSON of a :func:`params_tree`."""
    text = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def flatten_tree(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{dotted.key: leaf value}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten_tree(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _shown_param(flat: Mapping[str, Any], key: str) -> str:
    return json.dumps(flat[key], ensure_ascii=False) if key in flat else "(absent)"


def _runs_label(specs: Sequence[RunSpec]) -> str:
    def one(spec: RunSpec) -> str:
        return f"{spec.scenario}" + (f" point {spec.point}" if spec.point else "") + f" r{spec.replicate}"

    if len(specs) == 1:
        return f"run {one(specs[0])}"
    shown = ", ".join(one(spec) for spec in specs[:3])
    return f"{len(specs)} runs: {shown}" + (", ..." if len(specs) > 3 else "")


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, float) else repr(value)


def _load_problems(scenario: str, overrides: Sequence[str]) -> list[str]:
    try:
        load_scenario(scenario, list(overrides))
    except ConfigError as err:
        return list(err.problems)
    return []


# -------------------------------------------------------------------------------------------- labels
#: Joins a scenario and its sweep point's values in a series label (``new-rules-2025 · rate_cap.apr=0.12``).
LABEL_SEPARATOR = " · "


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each swept dotted key's name in labels: its last two parts (``policy.rate_cap.apr`` -> ``rate_cap.apr``),
    or more when another swept key ends the same way (``kind_caps.cfc.apr`` beside ``cfc.apr`` keeps three)."""
    out: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        out[key] = key
        for n in range(min(2, len(parts)), len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(other != key and (other == tail or other.endswith("." + tail)) for other in keys):
                out[key] = tail
                break
    return out


def value_text(value: Any) -> str:
    """A swept value as a label shows it: as typed after ``--vary`` (``0.12``, ``true``, ``2025-10``; a float to
    12 significant digits)."""
    if hasattr(value, "item") and not isinstance(value, list | dict):
        value = value.item()  # a numpy scalar read back from a table
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.12g}"  # 12 significant digits: 0.2 + 0.01 shows as 0.21
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def point_label(point: Sequence[tuple[str, Any]], short: Mapping[str, str] | None = None) -> str:
    """A sweep point as ``rate_cap.apr=0.12, whitelist.enabled=true`` (keys named by ``short``, else in full)."""
    short = short or {}
    return ", ".join(f"{short.get(key, key)}={value_text(value)}" for key, value in point)


def series_label(scenario: str, point: Sequence[tuple[str, Any]], short: Mapping[str, str] | None = None) -> str:
    """The label of a scenario at a sweep point in every table, legend and figure:
    ``new-rules-2025 · rate_cap.apr=0.12``; the scenario alone when nothing is swept."""
    return scenario + LABEL_SEPARATOR + point_label(point, short) if point else scenario


def keys_legend(keys: Sequence[str]) -> str:
    """What the short key names stand for, once: ``rate_cap.apr = policy.rate_cap.apr; ...`` (only keys whose
    short name differs from the full one)."""
    short = short_keys(keys)
    return "; ".join(f"{short[key]} = {key}" for key in keys if short[key] != key)


def override_text(key: str, value: Any) -> str:
    """The ``dotted.key=value`` override that sets ``key`` to ``value``."""
    return f"{key}={toml_value(value)}"


def parse_vary(items: Sequence[str]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """Parse ``--vary dotted.key=v1,v2,...`` options.

    Args:
        items: the option values.

    Returns:
        ``((key, values), ...)`` in order.

    Raises:
        DesignError: listing every malformed item.
    """
    problems: list[str] = []
    out: list[tuple[str, tuple[Any, ...]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            problems.append(f"--vary {item!r}: expected dotted.key=v1,v2,... (no '=')")
            continue
        if not key or any(not part for part in key.split(".")) or any(c.isspace() for c in key):
            problems.append(f"--vary {item!r}: malformed key {key!r} "
                            "(expected a dotted key such as policy.rate_cap.apr)")
            continue
        parts = [p.strip() for p in raw.split(",")]
        if not raw.strip():
            problems.append(f"--vary {item!r}: no values after '='")
            continue
        if any(not p for p in parts):
            problems.append(f"--vary {item!r}: empty value in the list (check for stray commas)")
            continue
        out.append((key, normalize_values(key, [parse_value(p) for p in parts], problems, "--vary ")))
    if problems:
        raise DesignError(problems, "--vary")
    return tuple(out)


def normalize_values(key: str, values: Sequence[Any], problems: list[str], label: str = "vary.") -> tuple[Any, ...]:
    """Sweep values of one key with one type, so its column has one type in every run's partition.

    Integers mixed with floats become floats; any other mix of types is a problem (appended to ``problems``).
    """
    kinds = {type(v) for v in values}
    if kinds <= {int, float} and float in kinds:
        return tuple(float(v) for v in values)
    if len(kinds) > 1:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        problems.append(f"{label}{key} = {_show(list(values))}: values must all have one type (got {names})")
    return tuple(values)


def _flatten_vary(table: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    # TOML turns an unquoted dotted key into nested tables; a sweep key is the path to a list.
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            _flatten_vary(value, key + ".", out)
        else:
            out[key] = value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def design_from_mapping(data: Mapping[str, Any], source: str | None = None) -> Design:
    """Build a design from a parsed design file, checking its keys and types.

    Args:
        data: the parsed TOML.
        source: the file, for messages.

    Returns:
        The design (not yet resolved against the scenarios: see :meth:`Design.resolve`).

    Raises:
        DesignError: listing every problem of the file.
    """
    problems: list[str] = []
    for key in data:
        if key not in DESIGN_KEYS:
            problems.append(f"{key}: unknown key (known: {', '.join(DESIGN_KEYS)})")

    def integer(key: str, default: int | None, minimum: int) -> int | None:
        value = data.get(key, default)
        if value is None:
            return None
        if not _is_int(value):
            problems.append(f"{key} = {_show(value)}: must be an integer")
            return default
        if value < minimum:
            problems.append(f"{key} = {value}: must be at least {minimum}")
            return default
        return value

    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(f"description = {_show(description)}: must be a string")
        description = ""
    root_seed = integer("root_seed", DEFAULT_ROOT_SEED, 0)
    replications = integer("replications", DEFAULT_REPLICATIONS, 1)
    borrowers = integer("borrowers", DEFAULT_BORROWERS, 0)
    months = integer("months", None, 1)

    scenarios: list[str] = []
    raw_scenarios = data.get("scenarios")
    if raw_scenarios is None:
        problems.append("scenarios: missing (list the scenario names or paths to run)")
    elif not isinstance(raw_scenarios, list) or not all(isinstance(s, str) for s in raw_scenarios):
        problems.append(f"scenarios = {_show(raw_scenarios)}: must be a list of scenario names or paths")
    elif not raw_scenarios:
        problems.append("scenarios = []: must list at least one scenario")
    else:
        scenarios = list(raw_scenarios)

    overrides: list[str] = []
    raw_overrides = data.get("overrides", [])
    if not isinstance(raw_overrides, list) or not all(isinstance(s, str) for s in raw_overrides):
        problems.append(f"overrides = {_show(raw_overrides)}: must be a list of 'dotted.key=value' strings")
    else:
        overrides = list(raw_overrides)

    vary: list[tuple[str, tuple[Any, ...]]] = []
    mode = "grid"
    raw_vary = data.get("vary", {})
    if not isinstance(raw_vary, Mapping):
        problems.append(f"vary = {_show(raw_vary)}: must be a table of dotted.key = [values]")
    else:
        raw_mode = raw_vary.get("mode", "grid")
        if raw_mode not in MODES:
            problems.append(f"vary.mode = {_show(raw_mode)}: must be one of {', '.join(map(repr, MODES))}")
        else:
            mode = raw_mode
        flat: dict[str, Any] = {}
        _flatten_vary({k: v for k, v in raw_vary.items() if k != "mode"}, "", flat)
        for key, values in flat.items():
            if not isinstance(values, list):
                problems.append(f"vary.{key} = {_show(values)}: must be a list of values")
            elif not values:
                problems.append(f"vary.{key} = []: must list at least one value")
            else:
                vary.append((key, normalize_values(key, values, problems)))
        if not flat and "mode" in raw_vary:
            problems.append("vary: sets mode but varies no key")
    design = Design(
        scenarios=tuple(scenarios), description=description, root_seed=root_seed or 0,
        replications=replications or 1, borrowers=borrowers if borrowers is not None else DEFAULT_BORROWERS,
        months=months, overrides=tuple(overrides), vary=tuple(vary), mode=mode, source=source,
    )
    # Missing or empty scenarios were reported above, in the file's terms.
    problems += [p for p in design._structure_problems() if not p.startswith("scenarios: must list")]
    if problems:
        raise DesignError(list(dict.fromkeys(problems)), source)
    return design


def load_design(path: str | os.PathLike[str]) -> Design:
    """Read and check a design file (see the module docstring for its keys).

    Args:
        path: the ``.toml`` file.

    Returns:
        The design (resolve it with :meth:`Design.resolve`).

    Raises:
        DesignError: if the file cannot be read or parsed, or has any problem.
    """
    label = os.fsdecode(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DesignError([f"{label}: no such file"], label) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DesignError([f"{label}: cannot read ({err})"], label) from None
    except tomllib.TOMLDecodeError as err:
        raise DesignError([f"{label}: not valid TOML ({err})"], label) from None
    return design_from_mapping(data, label)
