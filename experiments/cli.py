"""The ``zhudai`` command line: list, check and run scenarios, and print the parameter reference.

Usage::

    zhudai scenarios
    zhudai check SCENARIO|FILE [--set dotted.key=value ...] [--borrowers N] [--months N]
    zhudai run SCENARIO|FILE --out DIR [--seed N] [--borrowers N] [--months N] [--set dotted.key=value ...]
               [--overwrite] [--quiet]
    zhudai params [--toml | --markdown]
    zhudai compare SCENARIO... --out DIR [--replications R] [--borrowers N] [--months N] [--seed ROOT]
                   [--set dotted.key=value ...] [--workers W | --scheduler ADDRESS]
    zhudai sweep SCENARIO --vary dotted.key=v1,v2,... [--vary ...] [--grid | --zip] --out DIR [--replications R]
                 [--borrowers N] [--months N] [--seed ROOT] [--set ...] [--workers W | --scheduler ADDRESS]
    zhudai batch DESIGN.toml --out DIR [--workers W | --scheduler ADDRESS]
    zhudai rerun DIR | BATCH_DIR/RUN_ID      (exit 0: reproduced exactly; 1: it differs)
    zhudai report DIR [--out REPORT_DIR] [--reference SCENARIO]
    zhudai sensitivity SCENARIO --method morris|sobol --param dotted.key=low,high [...] --out DIR [--samples N]
                       [--outcome NAME ...] [--borrowers N] [--months N] [--seed ROOT] [--set ...]
                       [--workers W | --scheduler ADDRESS]
    zhudai dashboard [--port P] [--host H]
    zhudai validate [--replications R] [--borrowers N] [--workers W] [--out DIR] [--targets FILE]
                    [--robustness N]     (exit 0: no target FAILs; 1: a target FAILs or a run failed)

Also runnable as ``python -m experiments``.

Exit statuses:
    0: success.
    1: the run failed inside the model (traceback in ``DIR/error.log``) or its results could not be written.
    2: bad input: usage error, unknown scenario, invalid parameter or override, or ``--out`` already holds
       a run and ``--overwrite`` was not given. Nothing is run or written.
    130: interrupted (Ctrl-C); nothing written.

Batch commands (``compare``, ``sweep``, ``batch``) use the same statuses: 1 when a run failed or a worker
died (finished runs are kept; rerunning the command resumes), 2 for a bad design or an ``--out`` that holds
another design (nothing is changed), 130 when interrupted (finished runs are kept). See
:mod:`experiments.batch` and :mod:`experiments.results`.

``run`` writes nothing until the simulation has finished, then writes ``model.parquet``,
``platforms.parquet`` and ``funders.parquet`` atomically and ``manifest.json`` last (see
:mod:`experiments.store`). An interrupted or failed run therefore never leaves half a run behind and never
touches an earlier run in the same directory (a failed run adds only ``error.log``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.calendar import add_months
from model.config import ConfigError, Scenario, list_scenarios, load_scenario

if TYPE_CHECKING:
    import pandas as pd

PROG = "zhudai"
EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_SEED = 1
MAX_WIDTH = 100

#: The month the 2025 rules take effect (DOMAIN.md); the summary shows the month before it as "pre-policy".
FIRST_POLICY_MONTH = "2025-10"

EPILOG = """\
exit statuses:
  0    success
  1    the run failed inside the model (traceback in DIR/error.log) or results could not be written
  2    bad input: usage error, unknown scenario, invalid parameter or override, or --out already holds
       a run and --overwrite was not given; nothing is run or written
  130  interrupted (Ctrl-C); nothing written
"""

BATCH_EPILOG = """\
defaults:
  --replications 5, --borrowers 50000, --months: each scenario's own, --seed 20251001 (root of the
  replicate seeds: SeedSequence(ROOT).spawn(R); replicate i has the same seed in every scenario and sweep
  point), --workers: the number of CPUs (1 runs in this process)

executors:
  --workers W             local process pool of W single-threaded processes (default)
  --scheduler local       dask LocalCluster of W single-threaded worker processes
  --scheduler tcp://H:P   an existing dask.distributed cluster (e.g. SLURM/PBS: experiments/cluster.py)

exit statuses:
  0    every run of the design finished ok
  1    a run failed (error in DIR/runs.parquet) or a worker died; finished runs are kept, and
       rerunning the same command runs only what is missing
  2    bad input: usage error, invalid design, scenario or override, or --out holds another design;
       nothing is run or changed
  130  interrupted (Ctrl-C); finished runs are kept, rerun the command to resume
"""

# Repository root when running from a checkout (editable install): experiments/ sits directly under it.
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class _UsageError(Exception):
    """Bad command-line input found after parsing; reported like a ConfigError (exit 2)."""


# ------------------------------------------------------------------------------------ argument types
def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _override(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected dotted.key=value, got {text!r}")
    return text


# ------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``zhudai`` with its subcommands."""
    from model import __version__

    # Raw, so the epilog's exit-status table keeps its layout; descriptions are wrapped by hand instead.
    def formatter(prog: str) -> argparse.HelpFormatter:
        return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Agent-based model of China's internet lending-assistance (助贷) industry.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    # Options shared by every command that resolves a scenario, so `check` accepts a `run` command line.
    scenario_opts = argparse.ArgumentParser(add_help=False)
    scenario_opts.add_argument(
        "scenario", metavar="SCENARIO|FILE", help="shipped scenario name or path to a .toml file"
    )
    scenario_opts.add_argument(
        "--set", dest="overrides", action="append", default=[], type=_override, metavar="dotted.key=value",
        help="override one parameter (repeatable), e.g. --set policy.rate_cap.apr=0.2",
    )
    scenario_opts.add_argument("--borrowers", type=_non_negative_int, metavar="N", help="same as --set run.borrowers=N")
    scenario_opts.add_argument("--months", type=_positive_int, metavar="N", help="same as --set run.months=N")

    p_list = commands.add_parser(
        "scenarios", help="list the shipped scenarios", description="List the shipped scenarios.",
        epilog=EPILOG, formatter_class=formatter,
    )
    p_list.set_defaults(handler=_cmd_scenarios)

    p_check = commands.add_parser(
        "check", parents=[scenario_opts], help="validate a scenario and its overrides",
        description=textwrap.fill(
            "Load and validate a scenario with its overrides; print one line when it is valid, or every "
            "problem found.", 79
        ),
        epilog=EPILOG, formatter_class=formatter,
    )
    p_check.set_defaults(handler=_cmd_check)

    p_run = commands.add_parser(
        "run", parents=[scenario_opts], help="run a scenario and write its tables",
        description=textwrap.fill(
            "Run a scenario and write model.parquet, platforms.parquet, funders.parquet and manifest.json "
            "into DIR. Nothing is written until the run has finished: an interrupted or failed run leaves "
            "an earlier run in DIR untouched.", 79
        ),
        epilog=EPILOG, formatter_class=formatter,
    )
    p_run.add_argument("--seed", type=_non_negative_int, default=DEFAULT_SEED, metavar="N",
                       help=f"random seed (default {DEFAULT_SEED})")
    p_run.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (created)")
    p_run.add_argument("--overwrite", action="store_true", help="replace a run already in DIR")
    p_run.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p_run.set_defaults(handler=_cmd_run)

    p_params = commands.add_parser(
        "params", help="print every parameter with its documentation",
        description=textwrap.fill(
            "Print every parameter with its default, unit, range, provenance and meaning: as the documented "
            "baseline scenario file (default) or as a Markdown table.", 79
        ),
        epilog=EPILOG, formatter_class=formatter,
    )
    fmt = p_params.add_mutually_exclusive_group()
    fmt.add_argument("--toml", dest="format", action="store_const", const="toml", help="baseline TOML (default)")
    fmt.add_argument("--markdown", dest="format", action="store_const", const="markdown", help="Markdown table")
    fmt.add_argument("--sync", dest="format", action="store_const", const="sync",
                     help="(maintainers) rewrite experiments/scenarios/baseline.toml and the docs/ODD.md table")
    p_params.set_defaults(handler=_cmd_params, format="toml")
    _add_batch_commands(commands, formatter)
    _add_validate_command(commands, formatter)
    _add_dashboard_command(commands, formatter)

    p_rerun = commands.add_parser(
        "rerun", help="reproduce a stored run exactly and say so",
        description=textwrap.fill(
            "Rerun a stored run and compare every table cell by cell with what was stored: a `zhudai run` "
            "output directory (rebuilt from the resolved scenario and seed in its manifest), or one run of a "
            "batch as BATCH_DIR/RUN_ID (rebuilt from its runs.parquet row). Exit 0 when identical, 1 when "
            "anything differs.", 79
        ),
        epilog=EPILOG, formatter_class=formatter,
    )
    p_rerun.add_argument("target", metavar="DIR | BATCH_DIR/RUN_ID", help="what to rerun")
    p_rerun.add_argument("--run", metavar="RUN_ID", help="run id within a batch directory (instead of DIR/RUN_ID)")
    p_rerun.set_defaults(handler=_cmd_rerun)
    return parser


def _cmd_rerun(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.rerun import RerunError, rerun

    try:
        report = rerun(args.target, args.run)
    except RerunError as err:
        raise _UsageError(str(err)) from None
    for note in report.version_notes:
        print(f"note: {note}", file=sys.stderr)
    sizes = ", ".join(f"{name} {rows} rows" for name, rows in report.rows.items())
    if report.identical:
        print(f"reproduced {report.label} exactly: {sizes} identical")
        return EXIT_OK
    for name, diff in report.differences.items():
        _error(f"{name}: {diff}")
    print(f"{report.label} did NOT reproduce: {len(report.differences)} of {len(report.rows)} tables differ")
    return EXIT_RUN_FAILED


def _add_batch_commands(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``compare``, ``sweep`` and ``batch`` subcommands (one engine: :func:`experiments.batch.run_batch`)."""
    from experiments.design import DEFAULT_BORROWERS, DEFAULT_REPLICATIONS, DEFAULT_ROOT_SEED

    executor_opts = argparse.ArgumentParser(add_help=False)
    executor_opts.add_argument("--out", required=True, type=Path, metavar="DIR",
                               help="batch directory (created; rerun the same command on it to resume)")
    executor_opts.add_argument("--workers", type=_positive_int, metavar="W",
                               help="worker processes (default: number of CPUs; 1 runs in this process)")
    executor_opts.add_argument("--scheduler", metavar="ADDRESS",
                               help="run on dask.distributed: 'local' for a LocalCluster, or tcp://host:port")
    executor_opts.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")

    design_opts = argparse.ArgumentParser(add_help=False)
    design_opts.add_argument("--replications", type=_positive_int, default=DEFAULT_REPLICATIONS, metavar="R",
                             help=f"replicates per scenario and point (default {DEFAULT_REPLICATIONS})")
    design_opts.add_argument("--borrowers", type=_non_negative_int, default=DEFAULT_BORROWERS, metavar="N",
                             help=f"borrowers per run (default {DEFAULT_BORROWERS})")
    design_opts.add_argument("--months", type=_positive_int, metavar="N",
                             help="months per run (default: each scenario's own)")
    design_opts.add_argument("--seed", type=_non_negative_int, default=DEFAULT_ROOT_SEED, metavar="ROOT",
                             help=f"root seed of the replicate seeds (default {DEFAULT_ROOT_SEED})")
    design_opts.add_argument(
        "--set", dest="overrides", action="append", default=[], type=_override, metavar="dotted.key=value",
        help="override one parameter in every run (repeatable)",
    )

    p_compare = commands.add_parser(
        "compare", parents=[design_opts, executor_opts], help="run scenarios side by side with shared seeds",
        description=textwrap.fill(
            "Run each scenario R times with the same R seeds (common random numbers) and store every run in "
            "DIR as tidy Parquet datasets; print each scenario's outcomes at the horizon with 95% intervals.",
            79),
        epilog=BATCH_EPILOG, formatter_class=formatter,
    )
    p_compare.add_argument("scenarios", nargs="+", metavar="SCENARIO|FILE", help="scenarios to compare")
    p_compare.add_argument("--report", action="store_true",
                           help="then write the report (figures, tables, report.md/.html) into DIR/report")
    p_compare.set_defaults(handler=_cmd_compare)

    p_sweep = commands.add_parser(
        "sweep", parents=[design_opts, executor_opts], help="sweep parameters of one scenario",
        description=textwrap.fill(
            "Run a scenario at every point of a parameter sweep (grid: every combination; zip: the i-th "
            "values together), R replicates per point with shared seeds, and store every run in DIR.", 79),
        epilog=BATCH_EPILOG, formatter_class=formatter,
    )
    p_sweep.add_argument("scenario", metavar="SCENARIO|FILE", help="scenario to sweep")
    p_sweep.add_argument("--vary", action="append", required=True, metavar="dotted.key=v1,v2,...",
                         help="values of one parameter (repeatable); parsed like --set values")
    mode = p_sweep.add_mutually_exclusive_group()
    mode.add_argument("--grid", dest="mode", action="store_const", const="grid",
                      help="every combination of the values (default)")
    mode.add_argument("--zip", dest="mode", action="store_const", const="zip",
                      help="the i-th values of every --vary together (lists of equal length)")
    p_sweep.set_defaults(handler=_cmd_sweep, mode="grid")

    p_batch = commands.add_parser(
        "batch", parents=[executor_opts], help="run a design file (experiments/designs/*.toml)",
        description=textwrap.fill(
            "Run the experiment described by a design file: scenarios, sweep, replications, seeds and sizes "
            "(see experiments/designs/example.toml), and store every run in DIR.", 79),
        epilog=BATCH_EPILOG, formatter_class=formatter,
    )
    p_batch.add_argument("design", type=Path, metavar="DESIGN.toml", help="design file")
    p_batch.set_defaults(handler=_cmd_batch)

    p_report = commands.add_parser(
        "report", help="write figures, tables and an HTML/Markdown report of a batch directory",
        description=textwrap.fill(
            "Read a batch directory (zhudai compare/sweep/batch) and write figures (PNG and the CSV behind each), "
            "summary.csv with outcomes at the horizon and at 2026-09 and paired differences against a reference "
            "scenario with 95% intervals, report.md, and report.html (one self-contained file).", 79),
        epilog=EPILOG, formatter_class=formatter,
    )
    p_report.add_argument("directory", type=Path, metavar="DIR", help="batch directory")
    p_report.add_argument("--out", type=Path, metavar="REPORT_DIR", help="report directory (default DIR/report)")
    p_report.add_argument("--reference", metavar="SCENARIO",
                          help="scenario the differences are taken against (default baseline-2024 when present)")
    p_report.set_defaults(handler=_cmd_report)

    p_sens = commands.add_parser(
        "sensitivity", parents=[executor_opts], help="global sensitivity analysis (SALib Morris or Sobol)",
        description=textwrap.fill(
            "Sample the ranges of uncertain parameters with SALib (Morris trajectories or a Sobol/Saltelli "
            "sample), run the scenario at every sampled point on the batch engine (stored in DIR, resumable), "
            "evaluate each outcome as its mean over the months from --from (default 2025-10) to the horizon, "
            "and write DIR/indices.csv (morris: mu_star, mu_star_conf, sigma; sobol: S1, S1_conf, ST, ST_conf), "
            "DIR/samples.csv and a bar chart per outcome (DIR/sensitivity_<outcome>.png).", 79),
        epilog=BATCH_EPILOG, formatter_class=formatter,
    )
    p_sens.add_argument("scenario", metavar="SCENARIO|FILE", help="scenario to analyse")
    p_sens.add_argument("--method", required=True, choices=("morris", "sobol"), help="SALib method")
    p_sens.add_argument("--param", action="append", default=[], metavar="dotted.key=low,high",
                        help="a scalar parameter and its range (repeatable)")
    p_sens.add_argument("--params", type=Path, metavar="FILE",
                        help="ranges file ([params] \"key\" = [low, high]), e.g. experiments/designs/sensitivity.toml")
    p_sens.add_argument("--samples", type=_positive_int, default=10, metavar="N",
                        help="morris: trajectories, N*(D+1) runs; sobol: base size, N*(D+2) runs (default 10)")
    p_sens.add_argument("--outcome", action="append", default=[], metavar="NAME",
                        help="model-table column (repeatable; default head_share, hhi, platform_exits, "
                             "rationed_share, default_rate, spiral_share)")
    p_sens.add_argument("--from", dest="from_month", default="2025-10", metavar="YYYY-MM",
                        help="outcomes are means over the months from this one to the horizon (default 2025-10)")
    p_sens.add_argument("--replications", type=_positive_int, default=1, metavar="R",
                        help="replicates per point, averaged (default 1)")
    p_sens.add_argument("--borrowers", type=_non_negative_int, default=DEFAULT_BORROWERS, metavar="N",
                        help=f"borrowers per run (default {DEFAULT_BORROWERS})")
    p_sens.add_argument("--months", type=_positive_int, metavar="N", help="months per run (default: the scenario's)")
    p_sens.add_argument("--seed", type=_non_negative_int, default=DEFAULT_ROOT_SEED, metavar="ROOT",
                        help=f"root seed of the replicate seeds and of the sample (default {DEFAULT_ROOT_SEED})")
    p_sens.add_argument("--set", dest="overrides", action="append", default=[], type=_override,
                        metavar="dotted.key=value", help="override one parameter in every run (repeatable)")
    p_sens.set_defaults(handler=_cmd_sensitivity)


VALIDATE_EPILOG = """\
defaults:
  --replications 5, --borrowers 100000, --seed 20251001, --out results/validation/run,
  --targets experiments/targets.toml, --workers: the number of CPUs. With --robustness N: an N-point
  Latin-hypercube sample over the parameters flagged uncertainty=True (ranges in the targets file's
  [robustness] table); each point runs every needed scenario with --replications and --borrowers.

outputs:
  DIR/validation.csv, DIR/validation.md   one row per target: figure, test, status (main validation)
  DIR/robustness.csv                      per target: share of sample points where it holds (--robustness)
  DIR/robustness_points.csv               per point and target: figure, share, status, holds
  DIR/robustness_design.csv               the sampled parameter values of every point
  the runs are stored as a batch in DIR (robustness: DIR/robustness-points/point-NN), so rerunning the
  same command resumes

statuses:
  PASS  the target meets its tolerance (share of replications, or 95% CI of the paired difference)
  WARN  the test holds in at least half the replications, but below the tolerance
  FAIL  otherwise (or no runs)

exit statuses:
  0    no target FAILs (WARN does not fail); robustness: every run finished ok
  1    a target FAILs, or a run failed or a worker died (rerun the command to resume)
  2    bad input: invalid targets file, options or --out holding another design; nothing is run
  130  interrupted (Ctrl-C); finished runs are kept, rerun the command to resume
"""


def _add_validate_command(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``validate`` subcommand: run the scenarios the targets need and check the stylized facts."""
    from experiments.design import DEFAULT_ROOT_SEED

    p = commands.add_parser(
        "validate", help="check the stylized facts of DOMAIN.md (experiments/targets.toml)",
        description=textwrap.fill(
            "Run every scenario the validation targets need, R paired replicates each (common random numbers), "
            "evaluate each target and print a table of target, figure, test and status (PASS/WARN/FAIL).", 79),
        epilog=VALIDATE_EPILOG, formatter_class=formatter,
    )
    p.add_argument("--replications", type=_positive_int, default=5, metavar="R",
                   help="replicates per scenario (default 5)")
    p.add_argument("--borrowers", type=_non_negative_int, default=100_000, metavar="N",
                   help="borrowers per run (default 100000)")
    p.add_argument("--seed", type=_non_negative_int, default=DEFAULT_ROOT_SEED, metavar="ROOT",
                   help=f"root seed of the replicate seeds (default {DEFAULT_ROOT_SEED})")
    p.add_argument("--workers", type=_positive_int, metavar="W",
                   help="worker processes (default: number of CPUs; 1 runs in this process)")
    p.add_argument("--out", type=Path, default=Path("results/validation/run"), metavar="DIR",
                   help="batch directory and outputs (default results/validation/run)")
    p.add_argument("--targets", type=Path, default=None, metavar="FILE",
                   help="targets file (default experiments/targets.toml)")
    p.add_argument("--robustness", type=_positive_int, metavar="N",
                   help="instead: an N-point Latin-hypercube robustness study over the uncertain parameters")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.validate import run_robustness, run_validation

    if args.robustness:
        return run_robustness(args, argv)
    return run_validation(args, argv)


def _add_dashboard_command(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``dashboard`` subcommand: the interactive page (experiments/dashboard)."""
    p = commands.add_parser(
        "dashboard", help="interactive dashboard: move a lever, compare two runs side by side",
        description=textwrap.fill(
            "Serve the interactive dashboard (Mesa SolaraViz) on this machine and print its address. Pick a "
            "scenario, move its levers, and watch run A and a comparison run B (same seed) step month by month; "
            "download the tables (CSV) and figures (PNG). Works offline. Ctrl-C stops it.", 79),
        formatter_class=formatter,
    )
    p.add_argument("--port", type=_non_negative_int, default=8765, metavar="P",
                   help="port to listen on (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="localhost", metavar="H",
                   help="address to listen on (default localhost; 0.0.0.0 serves other machines too)")
    p.set_defaults(handler=_cmd_dashboard)


def _cmd_dashboard(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.dashboard.server import DashboardError, serve

    try:
        return serve(args.host, args.port)
    except DashboardError as err:
        raise _UsageError(str(err)) from None


# --------------------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``zhudai`` command line.

    Args:
        argv: arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The exit status (see the module docstring).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        # argparse exits after --help/--version (0) and on usage errors (2); return it so callers of
        # main() in-process get a status instead of an exception.
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return args.handler(args, [PROG, *args_list])
    except (ConfigError, _UsageError) as err:
        _error(str(err))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `zhudai params | head` closed the pipe: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _error(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _width() -> int:
    return max(60, min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns))


# ---------------------------------------------------------------------------------------- scenarios
def _cmd_scenarios(args: argparse.Namespace, argv: list[str]) -> int:
    entries = list_scenarios()
    if not entries:
        _error("no shipped scenarios found")
        return EXIT_RUN_FAILED
    name_width = max(len(name) for name, _ in entries)
    indent = " " * (name_width + 2)
    width = _width()
    for name, description in entries:
        text = " ".join(description.split()) or "(no description)"
        lines = textwrap.wrap(text, width=width - len(indent)) or [""]
        print(f"{name:<{name_width}}  {lines[0]}")
        for line in lines[1:]:
            print(indent + line)
    return EXIT_OK


# -------------------------------------------------------------------------------------------- check
def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides, then ``--borrowers``/``--months``, so the dedicated options win."""
    overrides = list(args.overrides)
    if args.borrowers is not None:
        overrides.append(f"run.borrowers={args.borrowers}")
    if args.months is not None:
        overrides.append(f"run.months={args.months}")
    return overrides


def _window(scenario: Scenario) -> str:
    run = scenario.params.run
    end = add_months(run.start, run.months - 1)
    months = "1 month" if run.months == 1 else f"{run.months} months"
    return f"start {run.start}, {months} (to {end}), {run.borrowers:,} borrowers"


def _cmd_check(args: argparse.Namespace, argv: list[str]) -> int:
    scenario = load_scenario(args.scenario, _overrides(args))
    print(f"OK {scenario.name}: {_window(scenario)}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- params
def _cmd_params(args: argparse.Namespace, argv: list[str]) -> int:
    from model.config import render_baseline_toml, render_param_table

    if args.format == "sync":
        return _sync_parameter_docs()
    text = render_param_table() if args.format == "markdown" else render_baseline_toml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _sync_parameter_docs() -> int:
    """Re-render the files generated from the schema in a source checkout (tests check they are in sync)."""
    from experiments.store import atomic_write_text
    from model.config import render_baseline_toml, render_param_table, scenario_dir, update_marked_block

    root = scenario_dir().parents[1]
    odd = root / "docs" / "ODD.md"
    if not odd.is_file():
        print("zhudai: --sync needs a source checkout (docs/ODD.md not found)", file=sys.stderr)
        return EXIT_USAGE
    atomic_write_text(render_baseline_toml(), scenario_dir() / "baseline.toml")
    text = update_marked_block(odd.read_text(encoding="utf-8"), "<!-- params:begin -->", "<!-- params:end -->",
                               render_param_table())
    atomic_write_text(text, odd)
    print(f"wrote {scenario_dir() / 'baseline.toml'} and the parameter table in {odd}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- run
def _check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that cannot hold this run, before spending time on the simulation."""
    from experiments.store import existing_run_files

    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out {out}: exists and is not a directory")
    present = existing_run_files(out) if out.is_dir() else []
    if present and not overwrite:
        raise _UsageError(
            f"--out {out}: already holds a run ({', '.join(present)}); "
            "pass --overwrite to replace it, or choose another directory"
        )
    # The directory is created only when results exist; check now that it can be.
    ancestor = out.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _UsageError(f"--out {out}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise _UsageError(f"--out {out}: {ancestor} is not writable")


def _check_contract(tables: dict[str, pd.DataFrame]) -> None:
    """Fail the run (not the write) if the model's tables break the output contract."""
    from model.output import FUNDER_COLUMNS, MODEL_COLUMNS, PLATFORM_COLUMNS

    problems = []
    for name, columns in (("model", MODEL_COLUMNS), ("platforms", PLATFORM_COLUMNS), ("funders", FUNDER_COLUMNS)):
        if name not in tables:
            problems.append(f"no {name} table")
            continue
        missing = [c for c in columns if c not in tables[name].columns]
        if missing:
            problems.append(f"{name} table lacks {', '.join(missing)}")
    if problems:
        raise RuntimeError("model output breaks the output contract: " + "; ".join(problems))


def _column_docs() -> dict[str, dict[str, dict[str, str]]]:
    from model.output import COLUMN_DOCS

    return {
        table: {col: {"unit": unit, "meaning": meaning} for col, (unit, meaning) in cols.items()}
        for table, cols in COLUMN_DOCS.items()
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_error_log(out: Path, argv: list[str], context: dict[str, Any]) -> Path | None:
    """Write the current exception's traceback to ``out/error.log``; None if even that is impossible."""
    from experiments.store import ERROR_LOG_FILE, atomic_write_text

    header = [f"{PROG} run failed at {_now()}", "command: " + " ".join(argv)]
    header += [f"{key}: {value}" for key, value in context.items()]
    text = "\n".join(header) + "\n\n" + traceback.format_exc()
    try:
        out.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(text, out / ERROR_LOG_FILE)
    except OSError:
        return None


def _cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    # Imported here so that `zhudai scenarios|check|params` start without loading the simulation stack.
    from tqdm import tqdm

    from experiments import store
    from model.lending import LendingModel
    from model.output import SCHEMA_VERSION

    overrides = _overrides(args)
    scenario = load_scenario(args.scenario, overrides)
    out: Path = args.out
    _check_out_dir(out, args.overwrite)

    run = scenario.params.run
    quiet = args.quiet
    if not quiet:
        print(f"running {scenario.name}: {_window(scenario)}, seed {args.seed}", file=sys.stderr)
    versions = store.environment_versions()
    started_at, t0 = _now(), time.perf_counter()
    model = None
    try:
        # disable=None lets tqdm switch itself off when stderr is not a terminal (CI logs, pipes).
        with tqdm(total=run.months, unit="month", file=sys.stderr, disable=True if quiet else None,
                  desc=scenario.name, leave=False, dynamic_ncols=True) as bar:

            def on_step(m: Any) -> None:
                bar.set_postfix_str(str(m.date), refresh=False)
                bar.update(1)

            model = LendingModel(scenario, rng=args.seed)
            model.run(on_step=on_step)
            tables = model.tables()
        _check_contract(tables)
    except KeyboardInterrupt:
        _error("interrupted; nothing written")
        return EXIT_INTERRUPTED
    except ConfigError:
        raise
    except Exception as exc:
        context = {"scenario": f"{scenario.name} ({scenario.source})", "overrides": overrides, "seed": args.seed,
                   "versions": versions}
        log = _write_error_log(out, argv, context)
        _error(f"run failed: {type(exc).__name__}: {exc}")
        if log is not None:
            _error(f"traceback written to {log}")
        else:
            _error(f"could not write {out / store.ERROR_LOG_FILE}; traceback follows")
            traceback.print_exc(file=sys.stderr)
        return EXIT_RUN_FAILED
    finally:
        if model is not None:
            model.release()
        del model
    elapsed = time.perf_counter() - t0

    git = store.git_commit(_PROJECT_ROOT) if (_PROJECT_ROOT / ".git").exists() else None
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario.name,
        "description": scenario.description,
        "source": str(scenario.source),
        "overrides": overrides,
        "seed": args.seed,
        "borrowers": run.borrowers,
        "months": run.months,
        "first_month": run.start,
        "last_month": add_months(run.start, run.months - 1),
        "started_at": started_at,
        "finished_at": _now(),
        "elapsed_seconds": round(elapsed, 3),
        "versions": versions,
        "git": git,
        "argv": argv,
        "tables": {
            name: {"file": filename, "rows": len(tables[name])} for name, filename in store.TABLE_FILES.items()
        },
        "columns": _column_docs(),
        "resolved": scenario.to_dict(),
    }
    try:
        paths = store.write_run(out, tables, manifest)
    except KeyboardInterrupt:
        _error(f"interrupted while writing; {out} holds no complete run (no {store.MANIFEST_FILE})")
        return EXIT_INTERRUPTED
    except (OSError, TypeError, ValueError) as exc:
        _error(f"could not write results to {out}: {type(exc).__name__}: {exc}")
        return EXIT_RUN_FAILED
    # A log from an earlier failed attempt would now describe a run that is not the one in DIR.
    with contextlib.suppress(OSError):
        (out / store.ERROR_LOG_FILE).unlink(missing_ok=True)

    if quiet:
        print(f"wrote {out}")
    else:
        print(render_summary(tables["model"], scenario, args.seed, elapsed))
        print()
        print(f"wrote {len(paths)} files to {out}:")
        print("  " + "  ".join(p.name for p in paths.values()))
    return EXIT_OK


# ------------------------------------------------------------------------------------------ summary
def _pct(value: float) -> str:
    return f"{value:.1%}"


def _pct2(value: float) -> str:
    return f"{value:.2%}"


def _count(value: float) -> str:
    return f"{round(value):,d}"


def _yuan(value: float) -> str:
    for threshold, suffix in ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.2f}{suffix}"
    return f"{value:.0f}"


def _is_missing(value: Any) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return True


#: (label, model-table column, formatter) of the summary rows; the label is the column name so readers
#: can find it in model.parquet.
SUMMARY_ROWS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("platform_exits (cumulative)", "platform_exits", _count),
    ("head_share", "head_share", _pct),
    ("hhi (0-10000)", "hhi", _count),
    ("cr5", "cr5", _pct),
    ("funders_in_platform_lending", "funders_in_platform_lending", _count),
    ("avg_apr_new", "avg_apr_new", _pct),
    ("rationed_share", "rationed_share", _pct),
    ("shadow_volume (yuan)", "shadow_volume", _yuan),
    ("default_rate", "default_rate", _pct2),
    ("npl_ratio", "npl_ratio", _pct2),
    ("multi_lender_share", "multi_lender_share", _pct),
    ("spiral_share", "spiral_share", _pct2),
)


def _cell(row: pd.Series, column: str, fmt: Callable[[float], str]) -> str:
    value = row.get(column)
    return "n/a" if _is_missing(value) else fmt(value)


def _platforms_cell(row: pd.Series) -> str:
    total = _cell(row, "active_platforms", _count)
    tiers = "/".join(_cell(row, f"active_platforms_{tier}", _count) for tier in ("head", "waist", "tail"))
    return f"{total} ({tiers})"


def summary_rows(model_table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the model table shown in the summary: first month, month before the rules, last month.

    Args:
        model_table: the ``model`` table, one row per month in order.

    Returns:
        Up to three rows, without duplicates, in calendar order.
    """
    if model_table.empty:
        return model_table
    dates = list(model_table["date"])
    picks = [0]
    pre_policy = add_months(FIRST_POLICY_MONTH, -1)
    if pre_policy in dates:
        picks.append(dates.index(pre_policy))
    picks.append(len(dates) - 1)
    return model_table.iloc[sorted(set(picks))]


def render_summary(model_table: pd.DataFrame, scenario: Scenario, seed: int, elapsed_seconds: float) -> str:
    """A small fixed-width table of key model-table columns at the months picked by :func:`summary_rows`.

    Args:
        model_table: the ``model`` table.
        scenario: the scenario that was run.
        seed: the seed it ran with.
        elapsed_seconds: wall time of the run.

    Returns:
        Text at most :data:`MAX_WIDTH` columns wide.
    """
    rows = summary_rows(model_table)
    title = f"{scenario.name}, seed {seed}: {_window(scenario)}; ran in {elapsed_seconds:.1f}s"
    if rows.empty:
        return title + "\n(the model table is empty)"
    records = [row for _, row in rows.iterrows()]
    dates = [str(row.get("date")) for row in records]
    pre_policy = add_months(FIRST_POLICY_MONTH, -1)
    roles = ["first", *("pre-rules" if d == pre_policy else "" for d in dates[1:-1]), "last"][: len(dates)]
    body = [("active_platforms (head/waist/tail)", [_platforms_cell(r) for r in records])]
    body += [(label, [_cell(r, column, fmt) for r in records]) for label, column, fmt in SUMMARY_ROWS]

    label_width = max(len(label) for label, _ in body)
    col_width = max(10, *(len(cell) for _, cells in body for cell in cells))

    def line(label: str, cells: Sequence[str]) -> str:
        return (f"{label:<{label_width}}" + "".join(f"  {c:>{col_width}}" for c in cells)).rstrip()

    lines = [textwrap.shorten(title, MAX_WIDTH, placeholder="..."), line("month", dates), line("", roles)]
    lines += [line(label, cells) for label, cells in body]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- batches
def _cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.design import Design

    design = Design(scenarios=tuple(args.scenarios), root_seed=args.seed, replications=args.replications,
                    borrowers=args.borrowers, months=args.months, overrides=tuple(args.overrides),
                    source="compare")
    status = _run_design(design, args, argv)
    if args.report and status in (EXIT_OK, EXIT_RUN_FAILED):
        report_status = _write_report(args.out, args.out / "report", None)
        status = status if status != EXIT_OK else report_status
    return status


def _write_report(directory: Path, out: Path | None, reference: str | None) -> int:
    from experiments.report import ReportError, write_report

    try:
        result = write_report(directory, out, reference)
    except ReportError as err:
        raise _UsageError(str(err)) from None
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    drawn = sum(1 for f in result.figures if f.png is not None)
    print(f"wrote report to {result.out}: report.md, report.html, summary.csv, {drawn} figures")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, argv: list[str]) -> int:
    return _write_report(args.directory, args.out, args.reference)


def _cmd_sensitivity(args: argparse.Namespace, argv: list[str]) -> int:
    import numpy as np

    from experiments import sensitivity as sa
    from experiments.results import read_store
    from model.calendar import parse_month
    from model.output import MODEL_COLUMNS

    params = sa.parse_params(args.param) if args.param else []
    if args.params is not None:
        params += sa.load_params_file(args.params)
    if not params:
        raise _UsageError("sensitivity: give at least one --param dotted.key=low,high (or --params FILE)")
    problems = sa.check_params(params)
    if problems:
        raise _UsageError("sensitivity: " + "; ".join(problems))
    outcomes = list(dict.fromkeys(args.outcome or sa.DEFAULT_OUTCOMES))
    unknown = [o for o in outcomes if o not in MODEL_COLUMNS or o in ("step", "date")]
    if unknown:
        raise _UsageError(f"--outcome {', '.join(unknown)}: not a numeric model-table column (see README Outputs)")
    try:
        parse_month(args.from_month)
    except (ValueError, TypeError):
        raise _UsageError(f"--from {args.from_month!r}: expected YYYY-MM") from None
    scheduler = args.scheduler
    if scheduler is not None and scheduler != "local" and args.workers is not None:
        raise _UsageError("--workers applies to the local pool and --scheduler local, not to a scheduler address")
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
                                     quiet=args.quiet, argv=argv)
    if outcome is None:
        return status
    if outcome.status != "complete":
        _error(f"{outcome.not_run} of {outcome.total} runs did not finish (see {args.out / 'runs.parquet'}); "
               "indices need every point: rerun the same command to retry them")
        return EXIT_RUN_FAILED
    values = sa.point_outcomes(read_store(args.out)["model"], outcomes, len(points), args.from_month)
    values = {name: v[inverse] for name, v in values.items()}
    bad = [name for name, v in values.items() if not np.all(np.isfinite(v))]
    if bad:
        _error(f"outcome(s) {', '.join(bad)} are missing or not finite at some points; no indices written")
        return EXIT_RUN_FAILED
    path, charts = sa.write_indices(args.out, args.method, params, x, values, args.seed)
    print(f"{len(resolved.runs)} runs in {args.out}; indices in {path}; {len(charts)} chart(s)")
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.design import Design, parse_vary

    design = Design(scenarios=(args.scenario,), root_seed=args.seed, replications=args.replications,
                    borrowers=args.borrowers, months=args.months, overrides=tuple(args.overrides),
                    vary=parse_vary(args.vary), mode=args.mode, source="sweep")
    return _run_design(design, args, argv)


def _cmd_batch(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.design import load_design

    return _run_design(load_design(args.design), args, argv)


def execute_design(resolved: Any, out: Path, *, workers: int | None, scheduler: str | None, quiet: bool,
                   argv: list[str]) -> tuple[Any, int | None]:
    """Run a resolved design into ``out`` with the command line's error handling.

    Returns ``(outcome, None)`` when the batch ran to its end (complete, or with failed or lost runs for the
    caller to report), or ``(None, exit_status)`` when it could not run or was interrupted (already reported).
    A directory holding another design is a usage error (exit 2).
    """
    from experiments.batch import run_batch
    from experiments.results import StoreError

    try:
        outcome = run_batch(resolved, out, workers=workers, scheduler=scheduler, progress=not quiet, argv=argv)
    except StoreError as err:
        raise _UsageError(str(err)) from None
    except OSError as err:
        _error(f"batch failed: {type(err).__name__}: {err}")
        return None, EXIT_RUN_FAILED
    if outcome.interrupted:
        _error(f"interrupted; {outcome.skipped + outcome.ok} of {outcome.total} runs are stored in {out}; "
               "rerun the command to finish")
        return None, EXIT_INTERRUPTED
    return outcome, None


def _run_design(design: Any, args: argparse.Namespace, argv: list[str]) -> int:
    """Resolve a design and run it: the one path of ``compare``, ``sweep`` and ``batch``."""
    from experiments.batch import render_summary
    from experiments.results import SUMMARY_FILE

    scheduler = args.scheduler
    if scheduler is not None and scheduler != "local" and args.workers is not None:
        raise _UsageError("--workers applies to the local pool and --scheduler local, not to a scheduler address")
    resolved = design.resolve()
    if not args.quiet:
        scenarios = len(design.scenarios)
        print(f"{len(resolved.runs)} runs: {scenarios} scenario(s) x {len(resolved.points)} point(s) x "
              f"{design.replications} replicate(s), {design.borrowers:,} borrowers, root seed {design.root_seed}",
              file=sys.stderr)
    outcome, status = execute_design(resolved, args.out, workers=args.workers, scheduler=scheduler,
                                     quiet=args.quiet, argv=argv)
    if outcome is None:
        return status
    if not args.quiet:
        print(render_summary(outcome.summary, resolved))
        print()
    done = outcome.skipped + outcome.ok
    print(f"{done} of {outcome.total} runs ok in {args.out} ({outcome.ok} this session, {outcome.skipped} "
          f"already there) in {outcome.seconds:.1f}s; summary in {args.out / SUMMARY_FILE}")
    for result in outcome.failed:
        spec = result.spec
        _error(f"run {spec.run_id} failed ({spec.scenario}, point {spec.point}, replicate {spec.replicate}, "
               f"seed {spec.seed}): {result.error}")
    if outcome.lost:
        _error(f"{outcome.lost} run(s) were lost when a worker process died ({outcome.lost_reason}); "
               "rerun the same command to run them")
    if outcome.failed:
        _error(f"{len(outcome.failed)} run(s) failed (see status and error in {args.out / 'runs.parquet'}); "
               "rerun the same command to retry them")
    return EXIT_OK if outcome.status == "complete" else EXIT_RUN_FAILED
