"""The batch commands: ``zhudai compare``, ``sweep``, ``batch`` and ``sensitivity``, on one engine
(:func:`experiments.engine.batch.run_batch`).

Exit statuses: 1 when a run failed or a worker died (finished runs are kept; rerunning the command resumes),
2 for a bad design or an ``--out`` that holds another design (nothing is changed; the same design with a larger
``--replications`` grows it instead), 130 when interrupted (finished runs are kept). See
:mod:`experiments.engine.batch` and :mod:`experiments.store.batch_dir`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from experiments.cli.commands import write_report_command
from experiments.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, UsageError, error, warn_small_population


def cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.engine.design import Design

    design = Design(scenarios=tuple(args.scenarios), root_seed=args.seed, replications=args.replications,
                    borrowers=args.borrowers, months=args.months, overrides=tuple(args.overrides),
                    source="compare")
    return then_report(run_design(design, args, argv), args)


def then_report(status: int, args: argparse.Namespace) -> int:
    """With ``--report``, write the report into ``DIR/report`` after a batch that stored runs (all ok, or some
    failed); the report's failure is the exit status only when the batch itself succeeded."""
    if args.report and status in (EXIT_OK, EXIT_RUN_FAILED):
        report_status = write_report_command(args.out, args.out / "report", None)
        status = status if status != EXIT_OK else report_status
    return status


def cmd_sensitivity(args: argparse.Namespace, argv: list[str]) -> int:
    import numpy as np

    from experiments.analysis import sensitivity as sa
    from experiments.analysis.rules import rules_start
    from experiments.store.batch_dir import read_store
    from model.calendar import parse_month
    from model.output import MODEL_COLUMNS

    params = sa.parse_params(args.param) if args.param else []
    if args.params is not None:
        params += sa.load_params_file(args.params)
    if not params:
        raise UsageError("sensitivity: give at least one --param dotted.key=low,high (or --params FILE)")
    problems = sa.check_params(params)
    if problems:
        raise UsageError("sensitivity: " + "; ".join(problems))
    outcomes = list(dict.fromkeys(args.outcome or sa.DEFAULT_OUTCOMES))
    unknown = [o for o in outcomes if o not in MODEL_COLUMNS or o in ("step", "date")]
    if unknown:
        raise UsageError(f"--outcome {', '.join(unknown)}: not a numeric model-table column "
                         "(see docs/reference/outputs.md)")
    if args.from_month is None:
        args.from_month = rules_start(args.scenario, args.overrides)
    try:
        parse_month(args.from_month)
    except (ValueError, TypeError):
        raise UsageError(f"--from {args.from_month!r}: expected YYYY-MM") from None
    scheduler = check_executor(args)
    window = [*args.overrides, f"run.borrowers={args.borrowers}"] + ([f"run.months={args.months}"] if args.months
                                                                       else [])
    sa.check_window(args.scenario, window, args.from_month)

    x = sa.sample(args.method, sa.salib_problem(params), args.samples, args.seed)
    points, inverse = sa.distinct_points(x)
    design = sa.make_design(args.scenario, params, points, replications=args.replications,
                            borrowers=args.borrowers, months=args.months, root_seed=args.seed,
                            overrides=args.overrides)
    resolved = design.resolve()
    if not args.quiet:
        print(f"{args.method}: {len(x)} sampled points ({len(points)} distinct) x {args.replications} replicate(s) "
              f"= {len(resolved.runs)} runs of {args.scenario}, {args.borrowers:,} borrowers", file=sys.stderr)
    outcome, status = execute_design(resolved, args.out, workers=args.workers, scheduler=scheduler,
                                     quiet=args.quiet, argv=argv, fork=not args.no_fork)
    if outcome is None:
        return status
    if outcome.status != "complete":
        error(f"{outcome.not_run} of {outcome.total} runs did not finish (see {args.out / 'runs.parquet'}); "
               "indices need every point: rerun the same command to retry them")
        return EXIT_RUN_FAILED
    values = sa.point_outcomes(read_store(args.out)["model"], outcomes, len(points), args.from_month)
    values = {name: v[inverse] for name, v in values.items()}
    bad = [name for name, v in values.items() if not np.all(np.isfinite(v))]
    if bad:
        error(f"outcome(s) {', '.join(bad)} are missing or not finite at some points; no indices written")
        return EXIT_RUN_FAILED
    path, charts = sa.write_indices(args.out, args.method, params, x, values, args.seed)
    print(f"{len(resolved.runs)} runs in {args.out}; indices in {path}; {len(charts)} chart(s)")
    warn_small_population(args.borrowers)
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.engine.design import Design, parse_vary

    design = Design(scenarios=(args.scenario,), root_seed=args.seed, replications=args.replications,
                    borrowers=args.borrowers, months=args.months, overrides=tuple(args.overrides),
                    vary=parse_vary(args.vary), mode=args.mode, source="sweep")
    return then_report(run_design(design, args, argv), args)


def cmd_batch(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.engine.design import load_design

    return run_design(load_design(args.design), args, argv)


def check_executor(args: argparse.Namespace) -> str | None:
    """The ``--scheduler`` of a batch command, checked before anything runs: ``--workers`` goes with the local pool
    or ``--scheduler local`` only, and a scheduler needs the ``dask`` extra.

    Raises:
        UsageError: ``--workers`` with a scheduler address.
        experiments.extras.MissingExtra: a scheduler without the ``dask`` extra.
    """
    from experiments.extras import require

    scheduler = args.scheduler
    if scheduler is not None and scheduler != "local" and args.workers is not None:
        raise UsageError("--workers applies to the local pool and --scheduler local, not to a scheduler address")
    if scheduler is not None:
        require("dask", "dask", "distributed", what=f"--scheduler {scheduler} (the dask executor)")
    return scheduler


def execute_design(resolved: Any, out: Path, *, workers: int | None, scheduler: str | None, quiet: bool,
                   argv: list[str], fork: bool = True) -> tuple[Any, int | None]:
    """Run a resolved design into ``out`` with the command line's error handling.

    Returns ``(outcome, None)`` when the batch ran to its end (complete, or with failed or lost runs for the
    caller to report), or ``(None, exit_status)`` when it could not run or was interrupted (already reported).
    A directory holding another design is a usage error (exit 2).
    """
    from experiments.engine.batch import run_batch
    from experiments.store.batch_dir import StoreError

    try:
        outcome = run_batch(resolved, out, workers=workers, scheduler=scheduler, progress=not quiet, argv=argv,
                            fork=fork)
    except StoreError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        error(f"batch failed: {type(err).__name__}: {err}")
        return None, EXIT_RUN_FAILED
    if outcome.interrupted:
        error(f"interrupted; {outcome.skipped + outcome.ok} of {outcome.total} runs are stored in {out}; "
               "rerun the command to finish")
        return None, EXIT_INTERRUPTED
    return outcome, None


def run_design(design: Any, args: argparse.Namespace, argv: list[str]) -> int:
    """Resolve a design and run it: the one path of ``compare``, ``sweep`` and ``batch``."""
    from experiments.analysis.summary import render_summary
    from experiments.store.batch_dir import SUMMARY_FILE

    scheduler = check_executor(args)
    resolved = design.resolve()
    if not args.quiet:
        scenarios = len(design.scenarios)
        print(f"{len(resolved.runs)} runs: {scenarios} scenario(s) x {len(resolved.points)} point(s) x "
              f"{design.replications} replicate(s), {design.borrowers:,} borrowers, root seed {design.root_seed}",
              file=sys.stderr)
    outcome, status = execute_design(resolved, args.out, workers=args.workers, scheduler=scheduler,
                                     quiet=args.quiet, argv=argv, fork=not args.no_fork)
    if outcome is None:
        return status
    if outcome.grown_from is not None:
        print(f"note: grew {args.out} from {outcome.grown_from} to {design.replications} replicates; the runs "
              "already there were kept as they were", file=sys.stderr)
    if not args.quiet:
        print(render_summary(outcome.summary, resolved))
        print()
    done = outcome.skipped + outcome.ok
    print(f"{done} of {outcome.total} runs ok in {args.out} ({outcome.ok} this session, {outcome.skipped} "
          f"already there) in {outcome.seconds:.1f}s; summary in {args.out / SUMMARY_FILE}")
    for result in outcome.failed:
        spec = result.spec
        error(f"run {spec.run_id} failed ({spec.scenario}, point {spec.point}, replicate {spec.replicate}, "
               f"seed {spec.seed}): {result.error}")
    if outcome.lost:
        error(f"{outcome.lost} run(s) were lost when a worker process died ({outcome.lost_reason}); "
               "rerun the same command to run them")
    if outcome.failed:
        error(f"{len(outcome.failed)} run(s) failed (see status and error in {args.out / 'runs.parquet'}); "
               "rerun the same command to retry them")
    warn_small_population(design.borrowers)
    return EXIT_OK if outcome.status == "complete" else EXIT_RUN_FAILED


def run_to_completion(design: Any, out: Path, args: argparse.Namespace, argv: list[str]) -> int | None:
    """Run a design into ``out`` for a command that needs every run (validate, scale-check).

    Returns an exit status if the batch did not complete (after saying why), None if every run is ok.
    """
    outcome, status = execute_design(design.resolve(), out, workers=args.workers, scheduler=None,
                                     quiet=args.quiet, argv=argv)
    if outcome is None:
        return status
    if outcome.status != "complete":
        for result in outcome.failed:
            error(f"run {result.spec.run_id} failed ({result.spec.scenario}, replicate "
                   f"{result.spec.replicate}): {result.error}")
        error(f"{outcome.not_run} of {outcome.total} runs did not finish ({outcome.status}); rerun the command")
        return EXIT_RUN_FAILED
    print(f"{outcome.total} runs ok in {out} ({outcome.ok} this session, {outcome.skipped} already there) "
          f"in {outcome.seconds:.1f}s", file=sys.stderr)
    return None
