"""``zhudai calibrate``: estimate parameters against the moments of the pre-rule industry.

1. The moments file and the parameter file are read and checked against the scenario (every problem at once,
   exit 2): moment windows within the simulated months and before any rule of the scenario is announced or
   takes effect.
2. An optuna study (:mod:`experiments.calibration.search`; CMA-ES by default, started from the scenario's own
   values) asks for points a generation at a time; each generation runs through the batch engine as one batch
   directory ``DIR/evals/trials-AAAA-BBBB`` (R replicates per point, the same seeds at every point), on the
   local process pool or a dask cluster. Runs stop at the last month a moment reads.
3. The best ``--confirm K`` trials (their values rounded to 4 significant digits, as the overlay records them)
   are run again with ``--final-replications`` replicates (``DIR/confirm-<hash>``); the one with the lowest loss there
   is the estimate. A single noisy evaluation does not pick the estimate (the winner's curse of noisy search).
4. ``DIR/profile-<hash>`` runs the estimate and a loss profile of every parameter with the same replicates
   (:mod:`experiments.calibration.profile`).
5. :mod:`experiments.calibration.outputs` writes the overlay, the fit and identifiability tables, the figures
   and ``DIR/report.md``.

Rerunning the same command resumes: finished trials are kept in ``DIR/study.journal``, points asked for but not
finished are evaluated first, and runs already stored are not rerun. A larger ``--budget`` continues the search.
``DIR/calibration.json`` records what the calibration fits; a rerun with other moments, parameters, scenario,
population, replicates, seed or sampler is refused (exit 2), as is a batch directory whose runs were resolved
with other parameters (an edited scenario file). It also records the zhudai-abm ``version`` that started the
calibration; a rerun under another version is not refused for that alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.cli.exits import EXIT_OK, EXIT_RUN_FAILED, UsageError, error, warn_small_population

if TYPE_CHECKING:
    import pandas as pd

IDENTITY_FILE = "calibration.json"
IDENTITY_KIND = "zhudai-calibration"
#: Keys of ``calibration.json`` recorded but not compared on a rerun: the zhudai-abm version that started the
#: calibration (a rerun under another version resumes it; each generation's batch manifest names its own version).
RECORDED_ONLY = frozenset({"version"})
DEFAULT_BUDGET = 60
DEFAULT_BATCH = 8
DEFAULT_GRID = 7
DEFAULT_REPLICATIONS = 2
DEFAULT_CONFIRM = 5


class _Stopped(Exception):
    """A generation's batch did not finish; ``status`` is the exit status (the reason is already printed)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def file_digest(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_identity(out: Path, identity: dict[str, Any]) -> None:
    """Record what the calibration in ``out`` fits, or refuse an ``out`` that holds another calibration.

    Raises:
        UsageError: ``out`` is a file, holds something that is not a calibration, or a calibration of other inputs.
    """
    from experiments.store.common import atomic_write_text

    path = out / IDENTITY_FILE
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a directory")
    if path.exists():
        try:
            held = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UsageError(f"--out {out}: cannot read {IDENTITY_FILE} ({err}); use another --out") from None
        compared = (set(held) | set(identity)) - RECORDED_ONLY
        differs = sorted(k for k in compared if held.get(k) != identity.get(k))
        if differs:
            raise UsageError(f"--out {out} holds a calibration of other inputs (differs in: {', '.join(differs)}); "
                             "nothing was changed: use another --out, or rerun with the same inputs to resume")
        return
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out}: not empty and not a calibration directory; use another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n", path)


class Setup:
    """Everything a calibration needs, checked: scenario, moments, parameters and run settings."""

    def __init__(self, args: argparse.Namespace) -> None:
        from experiments.analysis.rules import first_announcement, rules_enabled, rules_start
        from experiments.calibration import spec
        from model.calendar import add_months, parse_month
        from model.config import load_scenario

        self.moments = spec.load_moments(args.moments)
        self.params = spec.load_params(args.params)
        self.scenario_name = args.scenario
        self.overrides = tuple(args.overrides)
        self.scenario = load_scenario(args.scenario, list(self.overrides))
        run = self.scenario.params.run
        last = add_months(run.start, run.months - 1)
        rules = rules_start(self.scenario) if rules_enabled(self.scenario) else None
        problems = spec.check_moments_against(self.moments, run.start, last, rules,
                                              first_announcement(self.scenario))
        clash = sorted({p.key for p in self.params} & {o.partition("=")[0].strip() for o in self.overrides})
        problems += [f"{key} is both calibrated (--params) and set with --set" for key in clash]
        problems += [f"moment {m.name}: has the name of a calibrated parameter; give it another name"
                     for m in self.moments.moments if m.name in {p.name for p in self.params}]
        if not problems:
            problems += self._range_problems()
        if problems:
            raise spec.CalibrationError(problems, self.moments.path)
        self.months = parse_month(self.moments.last_month) - parse_month(run.start) + 1
        self.last_month = self.moments.last_month
        self.borrowers = args.borrowers
        self.replications = args.replications
        self.final_replications = args.final_replications or 2 * args.replications
        self.root_seed = args.seed
        self.list_defaults = {p.key: self.scenario.get(p.key) for p in self.params if p.index is not None}
        self.start = spec.start_values(self.params, self.scenario)

    def _range_problems(self) -> list[str]:
        """Each parameter at each end of its range, the others at the scenario's values, must give a valid
        scenario (cross-field rules such as shares that sum to one), so a bad range is refused before anything is
        written."""
        from experiments.calibration import spec
        from model.config import ConfigError

        start = spec.start_values(self.params, self.scenario)
        defaults = {p.key: self.scenario.get(p.key) for p in self.params if p.index is not None}
        problems = []
        for j, p in enumerate(self.params):
            for end in (p.low, p.high):
                values = list(start)
                values[j] = end
                try:
                    self.scenario.with_overrides(spec.overrides_for(self.params, values, defaults))
                except ConfigError as err:
                    problems.append(f"params.{p.name} = [{p.low}, {p.high}]: at {end} the scenario is invalid: "
                                    + "; ".join(err.problems))
        return problems

    def identity(self, sampler: str) -> dict[str, Any]:
        """What the calibration fits, as JSON data (compared with ``DIR/calibration.json`` on a rerun, but for
        :data:`RECORDED_ONLY`)."""
        import experiments

        return json.loads(json.dumps({
            "kind": IDENTITY_KIND, "version": experiments.__version__, "scenario": self.scenario_name,
            "overrides": list(self.overrides),
            "moments": [dataclasses.asdict(m) for m in self.moments.moments],
            "params": [dataclasses.asdict(p) for p in self.params], "borrowers": self.borrowers,
            "replications": self.replications, "final_replications": self.final_replications,
            "root_seed": self.root_seed, "months": self.months,
            "sampler": sampler,
        }))

    def design(self, points: Sequence[Sequence[float]], what: str, replications: int) -> tuple[Any, list[int]]:
        """The batch design of some points (distinct points only) and each point's index in it.

        Replicate ``i`` has the same seed whatever the number of replicates (``SeedSequence(root).spawn(R)[i]``),
        so the final evaluations extend the search's replicates rather than replace them.
        """
        from experiments.calibration.spec import overrides_for
        from experiments.engine.design import Design

        distinct = list(dict.fromkeys(tuple(float(v) for v in p) for p in points))
        index = {p: i for i, p in enumerate(distinct)}
        values = [overrides_for(self.params, p, self.list_defaults) for p in distinct]
        keys = list(values[0])
        vary = tuple((key, tuple(v[key] for v in values)) for key in keys)
        design = Design(scenarios=(self.scenario_name,), root_seed=self.root_seed, replications=replications,
                        borrowers=self.borrowers, months=self.months, overrides=self.overrides, vary=vary,
                        mode="zip", source="calibrate", description=f"zhudai calibrate: {what}")
        return design, [index[tuple(float(v) for v in p)] for p in points]


def _run_points(setup: Setup, points: Sequence[Sequence[float]], out: Path, what: str, replications: int,
                args: argparse.Namespace, argv: list[str]) -> tuple[pd.DataFrame, list[int]]:
    """Run points through the batch engine into ``out``; per-run moments (``point``, ``replicate``, moments)."""
    from experiments.calibration.spec import point_moments
    from experiments.cli.batch import execute_design
    from experiments.store.batch_dir import read_store

    design, where = setup.design(points, what, replications)
    outcome, status = execute_design(design.resolve(), out, workers=args.workers, scheduler=args.scheduler,
                                     quiet=args.quiet, argv=argv)
    if outcome is None:
        raise _Stopped(status)
    if outcome.status != "complete":
        for result in outcome.failed:
            error(f"run {result.spec.run_id} failed (point {result.spec.point}, replicate {result.spec.replicate}):"
                  f" {result.error}")
        error(f"{outcome.not_run} of {outcome.total} runs of {what} did not finish ({outcome.status}); rerun the "
              "same command to resume")
        raise _Stopped(EXIT_RUN_FAILED)
    model = read_store(out)["model"]
    return point_moments(model, setup.moments), where


def _derived(kind: str, points: Sequence[Sequence[float]], replications: int) -> str:
    """The batch directory of a derived evaluation, named by what it evaluates: a search continued with a larger
    budget (or another --confirm or --grid) confirms and profiles other points, in a directory of their own."""
    text = json.dumps([kind, [list(map(float, p)) for p in points], replications])
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _point_means(runs: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    return runs.groupby("point")[list(names)].mean()


def cmd_calibrate(args: argparse.Namespace, argv: list[str]) -> int:
    import pandas as pd

    from experiments.calibration import outputs, profile, search, spec
    from experiments.cli.batch import check_executor
    from experiments.extras import require

    # Before anything is read or written: a core install says which extra to add.
    require("calibrate", what="zhudai calibrate")
    check_executor(args)
    setup = Setup(args)
    out = Path(args.out)
    check_identity(out, setup.identity(args.sampler))
    names = [m.name for m in setup.moments.moments]
    quiet = args.quiet

    def say(text: str) -> None:
        if not quiet:
            print(f"calibrate: {text}", file=sys.stderr)

    say(f"{len(setup.params)} parameters, {len(names)} moments, budget {args.budget} trials in generations of "
        f"{args.batch}; {setup.replications} replicates x {setup.borrowers:,} borrowers, runs through "
        f"{setup.last_month}; sampler {args.sampler}")

    def evaluate(points: Sequence[Sequence[float]], numbers: tuple[int, int]) -> list[tuple[float, dict[str, float]]]:
        label = f"trials-{numbers[0]:04d}-{numbers[1]:04d}"
        runs, where = _run_points(setup, points, out / "evals" / label, f"trials {numbers[0]}-{numbers[1]}",
                                  setup.replications, args, argv)
        means = _point_means(runs, names)
        results = []
        for i in where:
            values = {name: float(means.loc[i, name]) for name in names}
            results.append((spec.loss(values, setup.moments), values))
        return results

    study = search.open_study(out, setup.params, setup.start, args.sampler, args.seed)
    try:
        state = search.search(study, setup.params, evaluate, budget=args.budget, batch=args.batch,
                              ledger=out / search.MOMENTS_LEDGER, report=say)
    except _Stopped as stop:
        return stop.status
    if state.best_trial is None:
        error("no trial gave a finite loss (a moment is undefined in every run); check the moments' metrics and "
              "windows")
        return EXIT_RUN_FAILED
    outputs.write_csv(state.trials, out / "trials.csv")
    outputs.convergence_figure(state.trials, out / "convergence.png")

    # Confirm the best trials with more replicates, at the values the overlay records; the best there is the
    # estimate.
    finite = state.trials[state.trials["loss"] < math.inf].sort_values(["loss", "trial"])
    top = finite.head(args.confirm)
    candidates = [[outputs.round_sig(float(row[p.name])) for p in setup.params] for _, row in top.iterrows()]
    say(f"best loss {state.best_loss:.3g} at trial {state.best_trial}; confirming the best {len(candidates)} trials "
        f"with {setup.final_replications} replicates")
    try:
        runs, where = _run_points(setup, candidates, out / _derived("confirm", candidates, setup.final_replications),
                                  f"the best {len(candidates)} trials", setup.final_replications, args, argv)
    except _Stopped as stop:
        return stop.status
    means = _point_means(runs, names)
    confirm = top[["trial"]].copy()
    confirm["search_loss"] = top["loss"].to_numpy()
    confirm["loss"] = [spec.loss({n: float(means.loc[i, n]) for n in names}, setup.moments) for i in where]
    outputs.write_csv(confirm, out / "confirm.csv")
    chosen = int(confirm["loss"].to_numpy().argmin())
    estimate = candidates[chosen]
    estimate_trial = int(confirm["trial"].iloc[chosen])

    # The estimate's profiles.
    grid = profile.profile_points(setup.params, args.grid)
    points = [estimate, *[profile.point_values(estimate, j, v) for j, v in grid]]
    say(f"estimate: trial {estimate_trial} (loss {confirm['loss'].iloc[chosen]:.3g} with "
        f"{setup.final_replications} replicates); profiling {len(setup.params)} parameters on {args.grid} points each")
    try:
        runs, where = _run_points(setup, points, out / _derived("profile", points, setup.final_replications),
                                  "the estimate and its profiles", setup.final_replications, args, argv)
    except _Stopped as stop:
        return stop.status
    means = _point_means(runs, names)
    losses = [spec.loss({n: float(means.loc[i, n]) for n in names}, setup.moments) for i in where]
    estimate_loss = losses[0]
    prof = pd.DataFrame([{"param": setup.params[j].name, "value": v, "loss": losses[k + 1],
                          **{n: float(means.loc[where[k + 1], n]) for n in names}}
                         for k, (j, v) in enumerate(grid)])
    ident = profile.identifiability(setup.params, estimate, estimate_loss, prof)
    response = profile.sensitivity_of_moments(setup.params, prof, setup.moments)
    fit = profile.fit_table(runs[runs["point"] == where[0]], setup.moments)
    start_row = state.trials[state.trials["origin"] == "start"]
    fit.insert(fit.columns.get_loc("model"), "start",
               [float(start_row[n].iloc[0]) if not start_row.empty and n in start_row else math.nan for n in names])
    start_loss = float(start_row["loss"].iloc[0]) if not start_row.empty else math.nan

    command = shlex.join(argv)
    digest = file_digest(args.moments)
    scenario_ref = setup.scenario_name
    if scenario_ref.endswith(".toml") or os.sep in scenario_ref or "/" in scenario_ref:
        scenario_ref = os.path.relpath(Path(scenario_ref).resolve(), out.resolve())
    from model.config import parse_value

    values = {key.strip(): parse_value(text.strip()) for key, _, text in (o.partition("=") for o in setup.overrides)}
    values.update(spec.overrides_for(setup.params, estimate, setup.list_defaults))
    header = [f"Estimated by: {command}", f"Moments: {args.moments} (sha256 {digest})",
              f"Parameters: {args.params}; loss {estimate_loss:.4g} at the estimate "
              f"({int(fit['within'].sum())} of {len(fit)} moments within tolerance); values to 4 significant digits.",
              "Use: a scenario with extends = \"<path to this file>\", or zhudai run <this file>."]
    outputs.write_text(outputs.overlay_toml(values, scenario_ref, header,
                                            f"{setup.scenario.description} Parameters estimated by zhudai calibrate "
                                            f"against {Path(args.moments).name}."), out / "estimate.toml")
    outputs.write_csv(fit, out / "fit.csv")
    outputs.write_csv(ident, out / "identifiability.csv")
    outputs.write_csv(prof, out / "profile.csv")
    outputs.write_csv(response, out / "moment_response.csv")
    outputs.profiles_figure(setup.params, ident, prof, estimate_loss, out / "profiles.png")
    report = outputs.report_markdown(
        command=command, moments=setup.moments, moments_digest=digest, params=setup.params, trials=state.trials,
        fit=fit, ident=ident, response=response, estimate_loss=estimate_loss, start_loss=start_loss,
        setup={"replications": setup.replications, "final_replications": setup.final_replications,
               "borrowers": setup.borrowers, "root_seed": setup.root_seed, "last_month": setup.last_month,
               "estimate_trial": estimate_trial, "confirm": confirm})
    outputs.write_text(report, out / "report.md")
    print(outputs.markdown_table(fit, ["moment", "data", "tolerance", "start", "model", "within"]))
    print()
    print(outputs.markdown_table(ident, ["param", "estimate", "interval_low", "interval_high", "verdict",
                                         "at_edge"]))
    print(f"\nestimate in {out / 'estimate.toml'}; report in {out / 'report.md'}")
    warn_small_population(setup.borrowers)
    return EXIT_OK
