"""The dashboard's model: one or two :class:`~model.lending.LendingModel` runs stepped in lockstep.

:class:`DashboardModel` is a Mesa model, so Mesa's SolaraViz can build, step, play and reset it. It holds
run A (the chosen scenario plus the levers moved) and, optionally, run B (another shipped scenario, or
the chosen scenario as shipped, without the lever changes). Both runs get the same seed, hence common
random numbers: the difference between A and B at any month is the effect of the policy difference,
not of noise. Each ``step`` advances both by one month.

Nothing here raises to the page. Invalid settings leave the model with ``error`` set and no runs (and
``running`` False, which greys out Mesa's play and step buttons); an exception inside a month is caught,
reported in ``error`` with the month it happened in, and the runs stop where they were. What is already
computed stays on screen and can still be exported.

``lock`` is held for a whole month of stepping; readers (the page's cards, the downloads) hold it while they
read, so with Mesa's "Use Threads" (stepping and drawing in different threads) no card sees half a month.
"""

from __future__ import annotations

import io
import itertools
import sys
import threading
import traceback
import zipfile
from dataclasses import dataclass, field

import mesa
import numpy as np
import pandas as pd

from experiments.dashboard.levers import (
    LEVERS,
    LeverError,
    announcement_lead,
    apply_announcements,
    describe_overrides,
    overrides_for,
)
from experiments.engine.run import build_model
from model.config import ConfigError, Scenario, list_scenarios, load_scenario
from model.enums import FunderKind
from model.lending import LendingModel
from model.output import TABLES

DEFAULT_SCENARIO = "new-rules-2025"
DEFAULT_COMPARE = "baseline-2024"
AS_SHIPPED = "A as shipped (no lever changes)"
NO_COMPARISON = "none"
#: Population choices. The default keeps a two-run step, with every figure redrawn, well above two months
#: a second on one core (benchmarks/bench_dashboard.py measures it).
BORROWER_CHOICES = ["10000", "20000", "50000", "100000", "200000"]
DEFAULT_BORROWERS = "100000"
MAX_SEED = 2**32 - 1
_BUILDS = itertools.count(1)


def scenario_names() -> list[str]:
    """Shipped scenarios, in the order ``zhudai scenarios`` lists them."""
    return [name for name, _ in list_scenarios()]


def compare_choices() -> list[str]:
    """What run B may be: nothing, run A's scenario without the lever changes, or any shipped scenario."""
    return [NO_COMPARISON, AS_SHIPPED, *scenario_names()]


@dataclass
class Arm:
    """One run shown on the page."""

    tag: str            # "A" or "B"
    label: str          # e.g. "A: new-rules-2025 + cap 20%"
    scenario: Scenario
    model: LendingModel
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _tables_at: int = -1

    def table(self, name: str) -> pd.DataFrame:
        """One output table (``model``, ``platforms``, ``funders``) as recorded so far; built once a month."""
        if self._tables_at != self.model.steps:
            self._tables, self._tables_at = self.model.tables(), self.model.steps
        return self._tables[name]


def _parse_int(label: str, text: object, lo: int, hi: int, problems: list[str]) -> int:
    raw = str(text).strip().replace(",", "").replace("_", "")
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{label}: {str(text)!r} is not a whole number")
        return lo
    if not lo <= value <= hi:
        problems.append(f"{label}: {value} is outside its range {lo} to {hi}")
    return value


class DashboardModel(mesa.Model):
    """Run A and an optional run B of the lending model, in lockstep with one seed.

    Args:
        scenario: shipped scenario of run A.
        compare: run B: ``"none"``, :data:`AS_SHIPPED` or a shipped scenario name (run as shipped).
        borrowers: population of each run (text or int).
        seed: seed of both runs (text or int).
        cap ... borrowing_limit: lever values for run A (see :mod:`experiments.dashboard.levers`); blank
            keeps the scenario's value. ``announce_lead`` is the announcement lever: months between the
            announcement of the rules run A's scenario announces ahead and their start.

    Attributes:
        arms: the runs (empty if the settings are invalid).
        build_id: a number unique to this model in the process.
        error: what went wrong, for the page (None when all is well).
        lever_values: the lever texts as given.
    """

    def __init__(self, scenario: str = DEFAULT_SCENARIO, compare: str = DEFAULT_COMPARE,
                 borrowers: str | int = DEFAULT_BORROWERS, seed: str | int = "1",
                 cap: str = "", cap_start: str = "", announce_lead: str = "", fees_included: str = "scenario",
                 cfc_cap: str = "", micro_cap: str = "", whitelist: str = "scenario", partner_cost: str = "",
                 mandate: str = "scenario", crackdown: str = "scenario", borrowing_limit: str = ""):
        self.lever_values = {
            "cap": cap, "cap_start": cap_start, "announce_lead": announce_lead, "fees_included": fees_included,
            "cfc_cap": cfc_cap, "micro_cap": micro_cap, "whitelist": whitelist, "partner_cost": partner_cost,
            "mandate": mandate, "crackdown": crackdown, "borrowing_limit": borrowing_limit,
        }
        assert set(self.lever_values) == {lv.name for lv in LEVERS}
        problems: list[str] = []
        n = _parse_int("Borrowers", borrowers, 1_000, 1_000_000, problems)
        s = _parse_int("Seed", seed, 0, MAX_SEED, problems)
        super().__init__(seed=s if not problems else None)
        self.scenario_name, self.compare = scenario, compare
        self.borrowers, self.seed_value = n, s
        self.arms: list[Arm] = []
        self.overrides: dict = {}  # run A's overrides, as built
        self.error: str | None = None
        self.lock = threading.RLock()
        self.build_id = next(_BUILDS)  # tells one Reset's model from the next (the page shows it to tests)
        names = scenario_names()
        if scenario not in names:
            problems.append(f"Scenario: {scenario!r} is not a shipped scenario ({', '.join(names)})")
        if compare not in compare_choices():
            problems.append(f"Compare with: {compare!r} is not one of {', '.join(compare_choices())}")
        try:
            overrides = overrides_for(self.lever_values)
        except LeverError as exc:
            problems.extend(exc.problems)
            overrides = {}
        if not problems:
            problems.extend(self._build(overrides))
        if problems and self.error is None:
            self.error = "Cannot start: " + "; ".join(problems)
        if self.error:
            self.arms = []
        self.running = bool(self.arms)

    # ------------------------------------------------------------------ building
    def _build(self, overrides: dict) -> list[str]:
        """Build the runs; returns validation problems (model errors go to ``self.error``).

        The announcement lever sets the ``announced`` month of every rule run A's scenario announces ahead; left
        blank, a cap start moved before the scenario's announcement of the cap moves the announcement with it
        (:func:`~experiments.dashboard.levers.apply_announcements`). Run A's label says what was applied.
        """
        try:
            overrides, notes = apply_announcements(overrides, load_scenario(self.scenario_name),
                                                   announcement_lead(self.lever_values))
        except ConfigError as exc:
            return [f"run A: {p}" for p in exc.problems]
        self.overrides = overrides
        moved = describe_overrides(self.lever_values, notes)
        size = {"run.borrowers": self.borrowers}
        plans = [("A", f"A: {self.scenario_name}" + (f" + {moved}" if moved else ""), self.scenario_name,
                  {**overrides, **size})]
        if self.compare == AS_SHIPPED:
            plans.append(("B", f"B: {self.scenario_name} as shipped", self.scenario_name, size))
        elif self.compare != NO_COMPARISON:
            plans.append(("B", f"B: {self.compare}", self.compare, size))
        scenarios = []
        for tag, label, name, over in plans:
            try:
                scenarios.append((tag, label, load_scenario(name, over)))
            except ConfigError as exc:
                return [f"run {tag}: {p}" for p in exc.problems]
        for tag, label, sc in scenarios:
            try:
                model = build_model(sc, self.seed_value)  # releases a half-built model itself
            except Exception as exc:  # a model bug must not take the page down
                traceback.print_exc(file=sys.stderr)
                self.error = f"Model error while building run {tag}: {type(exc).__name__}: {exc}"
                return []
            model.release()  # safe: it makes all its agents in __init__; reset after reset would pile up otherwise
            self.arms.append(Arm(tag, label, sc, model))
        return []

    # ------------------------------------------------------------------ stepping
    def step(self) -> None:
        """One month of every run, in lockstep; errors are caught and shown, never raised."""
        with self.lock:
            self._step_all()

    def _step_all(self) -> None:
        if not self.arms or self.error:
            self.running = False
            return
        for arm in self.arms:
            try:
                arm.model.step()
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                month = arm.model.date
                self.error = f"Model error in run {arm.tag}, month {month}: {type(exc).__name__}: {exc}"
                self.running = False
                return
        self.running = all(arm.model.running for arm in self.arms)

    # ------------------------------------------------------------------ reading
    @property
    def months_done(self) -> int:
        """Months recorded in every run (after a failed month, the months completed before it)."""
        return min(len(arm.model.recorder.model_rows) for arm in self.arms) if self.arms else 0

    @property
    def horizon(self) -> int:
        return self.arms[0].model.horizon if self.arms else 0

    @property
    def date(self) -> str:
        """The month last completed, or ``"not started"``."""
        if not self.arms:
            return "no run"
        done = self.months_done
        start = pd.Period(self.arms[0].scenario.params.run.start, "M")
        if done == 0:
            return f"not started (first month {start})"
        return str(start + done - 1)

    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last month of the horizon (for fixed x axes)."""
        start = pd.Period(self.arms[0].scenario.params.run.start, "M")
        return start.to_timestamp(), (start + self.horizon - 1).to_timestamp()

    def combined(self, name: str) -> pd.DataFrame:
        """One output table of all runs, with ``run`` (A/B) and ``label`` columns first."""
        frames = []
        for arm in self.arms:
            t = arm.table(name)
            t = t[t["step"] <= self.months_done]  # a run that got further before a fault elsewhere
            frames.append(t.assign(run=arm.tag, label=arm.label)[["run", "label", *t.columns]])
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def new_loan_aprs(self, arm: Arm) -> tuple[np.ndarray, np.ndarray]:
        """APRs and principals of the licensed loans originated in the month last completed."""
        m = arm.model
        L = m.loans
        if self.months_done == 0:
            return np.zeros(0), np.zeros(0)
        new = (L.view("orig_step") == self.months_done) & ~L.view("shadow")
        return L.view("apr")[new], L.view("principal0")[new]

    @staticmethod
    def caps_in_force(arm: Arm) -> dict[str, float]:
        """The all-in caps in force this month, by funder kind (kinds without a cap left out)."""
        rules = getattr(arm.model, "rules", None)
        if rules is None:
            return {}
        caps = np.minimum(rules.cap_all_in, rules.cap_nominal)
        return {k.value: float(c) for k, c in zip(FunderKind, caps, strict=True) if np.isfinite(c)}

    def largest_platforms(self, arm: Arm, n: int = 8) -> pd.DataFrame:
        """The ``n`` platforms with the most new volume in the month last completed, with their partners.

        Columns: platform, tier, share (of platform volume this month), partners (funders whitelisting it)
        and how many of those are banks, CFC, micro(lenders) and trust(s).
        """
        m = arm.model
        if self.months_done == 0:
            return pd.DataFrame()
        plat = arm.table("platforms")
        now = plat[plat["step"] == self.months_done]
        total = float(now["volume"].sum())
        top = now.sort_values(["volume", "outstanding"], ascending=False).head(n)
        groups = {"banks": lambda k: k.is_bank, "CFC": lambda k: k is FunderKind.CFC,
                  "micro": lambda k: k is FunderKind.MICROLENDER, "trust": lambda k: k is FunderKind.TRUST}
        rows = []
        for _, r in top.iterrows():
            pid = int(r["platform_id"])
            kinds = [f.kind for f in m.funders if f.partners[pid]]
            row = {"platform": f"#{pid}", "tier": r["tier"] if r["active"] else f"{r['tier']} (exited)",
                   "share": float(r["volume"]) / total if total > 0 else 0.0,
                   "partners": len(kinds)}
            row.update({g: sum(1 for k in kinds if test(k)) for g, test in groups.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ export
    def tables_zip(self) -> bytes:
        """The runs' output tables so far (``model.csv``, ``platforms.csv``, ``funders.csv``) and the
        settings, zipped."""
        buf = io.BytesIO()
        with self.lock, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in TABLES:
                zf.writestr(f"{name}.csv", self.combined(name).to_csv(index=False))
            zf.writestr("settings.txt", self.settings_text())
        return buf.getvalue()

    def settings_text(self) -> str:
        """What produced these tables, enough to rerun it from the command line."""
        lines = [f"seed = {self.seed_value}", f"borrowers = {self.borrowers}"]
        for arm in self.arms:
            lines.append(f"{arm.label}  (scenario {arm.scenario.name})")
        over = {"run.borrowers": self.borrowers, **(self.overrides if self.arms else {})}
        args = ["zhudai", "run", self.scenario_name, "--seed", str(self.seed_value)]
        for key, value in over.items():
            args += ["--set", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
        lines.append("run A from the command line: " + " ".join([*args, "--out", "runs/dashboard-A"]))
        return "\n".join(lines) + "\n"
