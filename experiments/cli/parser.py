"""The ``zhudai`` argument parser: every subcommand, its options and its help.

Each subcommand's handler lives in the module of its kind of work: :mod:`experiments.cli.commands` (scenarios,
check, params, rerun, report, dashboard), :mod:`experiments.cli.run` (run), :mod:`experiments.cli.batch`
(compare, sweep, batch, sensitivity), :mod:`experiments.cli.validate` (validate), :mod:`experiments.cli.scale`
(scale-check) and :mod:`experiments.cli.calibrate` (calibrate).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.cli import calibrate as cal
from experiments.cli.batch import cmd_batch, cmd_compare, cmd_sensitivity, cmd_sweep
from experiments.cli.commands import cmd_check, cmd_dashboard, cmd_params, cmd_report, cmd_rerun, cmd_scenarios
from experiments.cli.exits import PROG
from experiments.cli.run import DEFAULT_SEED, cmd_run
from experiments.cli.scale import DEFAULT_SCENARIOS, DEFAULT_SIZES, cmd_scale_check
from experiments.cli.validate import cmd_validate

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
  --replications 5, --borrowers 200000, --months: each scenario's own, --seed 20251001 (root of the
  replicate seeds: SeedSequence(ROOT).spawn(R); replicate i has the same seed in every scenario and sweep
  point), --workers: the number of CPUs (1 runs in this process)

executors:
  --workers W             local process pool of W single-threaded processes (default)
  --scheduler local       dask LocalCluster of W single-threaded worker processes
  --scheduler tcp://H:P   an existing dask.distributed cluster (SLURM/PBS: experiments/engine/cluster.py)

exit statuses:
  0    every run of the design finished ok
  1    a run failed (error in DIR/runs.parquet) or a worker died; finished runs are kept, and
       rerunning the same command runs only what is missing
  2    bad input: usage error, invalid design, scenario or override, or --out holds another design
       (named setting by setting; the same design with a larger --replications grows it instead);
       nothing is run or changed
  130  interrupted (Ctrl-C); finished runs are kept, rerun the command to resume
"""


VALIDATE_EPILOG = """\
defaults:
  --replications 5, --borrowers 200000, --seed 20251001, --out results/validation/run,
  --targets experiments/targets.toml, --workers: the number of CPUs. With --robustness N: an N-point
  Latin-hypercube sample over the parameters flagged uncertainty=True (ranges in the targets file's
  [robustness] table); each point runs every needed scenario with --replications and --borrowers. With a
  [robustness.screen] (history matching), candidates x N points are drawn and each is first run on the
  screen scenario alone: only points whose pre-rule moments all lie within --plausibility tolerances of the
  observed levels run the full set, until N are kept.

outputs:
  DIR/validation.csv, DIR/validation.md   one row per target: figure, test, status (main validation)
  DIR/robustness.csv                      per target: share of kept points where it holds (--robustness)
  DIR/robustness_points.csv               per kept point and target: figure, share, status, holds
  DIR/robustness_design.csv               the sampled parameter values of every point (plausible or not)
  DIR/robustness_screen.csv               per screened point: its moments, implausibility, plausible
  the runs are stored as a batch in DIR (robustness: DIR/robustness-points/point-NN and point-NN-screen),
  so rerunning the same command resumes

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


def _command(commands: Any, formatter: Callable[[str], argparse.HelpFormatter], name: str, help_text: str,
             description: str, *, parents: list[argparse.ArgumentParser] | None = None,
             epilog: str | None = None) -> argparse.ArgumentParser:
    """A subcommand's parser: its one-line help, its description wrapped to 79 columns, the shared formatter."""
    return commands.add_parser(name, parents=parents or [], help=help_text,
                               description=textwrap.fill(description, 79), epilog=epilog, formatter_class=formatter)


def _int_at_least(text: str, lowest: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "a non-negative integer")


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "at least 1")


def positive_float_or_inf(text: str) -> float:
    """A number > 0, ``inf`` allowed (it switches a threshold off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number > 0 (or inf), got {text}")
    return value


def override(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected dotted.key=value, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``zhudai`` with its subcommands."""
    from experiments import __version__

    # Raw, so the epilog's exit-status table keeps its layout; descriptions are wrapped by hand instead.
    def formatter(prog: str) -> argparse.HelpFormatter:
        return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Agent-based model of China's internet lending-assistance (助贷) industry.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"zhudai-abm {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    # Options shared by every command that resolves a scenario, so `check` accepts a `run` command line.
    scenario_opts = argparse.ArgumentParser(add_help=False)
    scenario_opts.add_argument(
        "scenario", metavar="SCENARIO|FILE", help="shipped scenario name or path to a .toml file"
    )
    scenario_opts.add_argument(
        "--set", dest="overrides", action="append", default=[], type=override, metavar="dotted.key=value",
        help="override one parameter (repeatable), e.g. --set policy.rate_cap.apr=0.2",
    )
    scenario_opts.add_argument("--borrowers", type=non_negative_int, metavar="N", help="same as --set run.borrowers=N")
    scenario_opts.add_argument("--months", type=positive_int, metavar="N", help="same as --set run.months=N")

    p_list = _command(
        commands, formatter, "scenarios", "list the shipped scenarios",
        "List the shipped scenarios.",
        epilog=EPILOG,
    )
    p_list.set_defaults(handler=cmd_scenarios)

    p_check = _command(
        commands, formatter, "check", "validate a scenario and its overrides",
        "Load and validate a scenario with its overrides; print one line when it is valid, or every "
        "problem found.",
        parents=[scenario_opts], epilog=EPILOG,
    )
    p_check.set_defaults(handler=cmd_check)

    p_run = _command(
        commands, formatter, "run", "run a scenario and write its tables",
        "Run a scenario and write model.parquet, platforms.parquet, funders.parquet and manifest.json "
        "into DIR. Nothing is written until the run has finished: an interrupted or failed run leaves "
        "an earlier run in DIR untouched.",
        parents=[scenario_opts], epilog=EPILOG,
    )
    p_run.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, metavar="N",
                       help=f"random seed (default {DEFAULT_SEED})")
    p_run.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (created)")
    p_run.add_argument("--overwrite", action="store_true", help="replace a run already in DIR")
    p_run.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p_run.set_defaults(handler=cmd_run)

    p_params = _command(
        commands, formatter, "params", "print every parameter with its documentation",
        "Print every parameter with its default, unit, range, provenance and meaning: as the documented "
        "baseline scenario file (default) or as a Markdown table.",
        epilog=EPILOG,
    )
    fmt = p_params.add_mutually_exclusive_group()
    fmt.add_argument("--toml", dest="format", action="store_const", const="toml", help="baseline TOML (default)")
    fmt.add_argument("--markdown", dest="format", action="store_const", const="markdown", help="Markdown table")
    fmt.add_argument("--sync", dest="format", action="store_const", const="sync",
                     help="(maintainers) rewrite experiments/scenarios/baseline.toml and the docs/ODD.md table")
    p_params.set_defaults(handler=cmd_params, format="toml")
    _add_batch_commands(commands, formatter)
    _add_validate_command(commands, formatter)
    _add_scale_command(commands, formatter)
    _add_calibrate_command(commands, formatter)
    _add_dashboard_command(commands, formatter)

    p_rerun = _command(
        commands, formatter, "rerun", "reproduce a stored run exactly and say so",
        "Rerun a stored run and compare every table cell by cell with what was stored: a `zhudai run` "
        "output directory (rebuilt from the resolved scenario and seed in its manifest), or one run of a "
        "batch as BATCH_DIR/RUN_ID (rebuilt from its runs.parquet row). Exit 0 when identical, 1 when "
        "anything differs.",
        epilog=EPILOG,
    )
    p_rerun.add_argument("target", metavar="DIR | BATCH_DIR/RUN_ID", help="what to rerun")
    p_rerun.add_argument("--run", metavar="RUN_ID", help="run id within a batch directory (instead of DIR/RUN_ID)")
    p_rerun.set_defaults(handler=cmd_rerun)
    return parser


def _add_batch_commands(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``compare``, ``sweep`` and ``batch`` subcommands (one engine: :func:`experiments.batch.run_batch`)."""
    from experiments.engine.design import DEFAULT_BORROWERS, DEFAULT_REPLICATIONS, DEFAULT_ROOT_SEED

    executor_opts = argparse.ArgumentParser(add_help=False)
    executor_opts.add_argument("--out", required=True, type=Path, metavar="DIR",
                               help="batch directory (created; rerun the same command on it to resume, "
                                    "or with a larger --replications to add replicates)")
    executor_opts.add_argument("--workers", type=positive_int, metavar="W",
                               help="worker processes (default: number of CPUs; 1 runs in this process)")
    executor_opts.add_argument("--scheduler", metavar="ADDRESS",
                               help="run on dask.distributed: 'local' for a LocalCluster, or tcp://host:port")
    executor_opts.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    executor_opts.add_argument("--no-fork", dest="no_fork", action="store_true",
                               help="run every run from scratch instead of simulating the months paired runs "
                                    "share once and forking (the tables are the same either way)")

    design_opts = argparse.ArgumentParser(add_help=False)
    design_opts.add_argument("--replications", type=positive_int, default=DEFAULT_REPLICATIONS, metavar="R",
                             help=f"replicates per scenario and point (default {DEFAULT_REPLICATIONS})")
    design_opts.add_argument("--borrowers", type=non_negative_int, default=DEFAULT_BORROWERS, metavar="N",
                             help=f"borrowers per run (default {DEFAULT_BORROWERS})")
    design_opts.add_argument("--months", type=positive_int, metavar="N",
                             help="months per run (default: each scenario's own)")
    design_opts.add_argument("--seed", type=non_negative_int, default=DEFAULT_ROOT_SEED, metavar="ROOT",
                             help=f"root seed of the replicate seeds (default {DEFAULT_ROOT_SEED})")
    design_opts.add_argument(
        "--set", dest="overrides", action="append", default=[], type=override, metavar="dotted.key=value",
        help="override one parameter in every run (repeatable)",
    )

    p_compare = _command(
        commands, formatter, "compare", "run scenarios side by side with shared seeds",
        "Run each scenario R times with the same R seeds (common random numbers) and store every run in "
        "DIR as tidy Parquet datasets; print each scenario's outcomes at the horizon with 95% intervals.",
        parents=[design_opts, executor_opts], epilog=BATCH_EPILOG,
    )
    p_compare.add_argument("scenarios", nargs="+", metavar="SCENARIO|FILE", help="scenarios to compare")
    p_compare.add_argument("--report", action="store_true",
                           help="then write the report (figures, tables, report.md/.html) into DIR/report")
    p_compare.set_defaults(handler=cmd_compare)

    p_sweep = _command(
        commands, formatter, "sweep", "sweep parameters of one scenario",
        "Run a scenario at every point of a parameter sweep (grid: every combination; zip: the i-th "
        "values together), R replicates per point with shared seeds, and store every run in DIR. The summary "
        "and the report name each point by its swept values (e.g. 'new-rules-2025 · rate_cap.apr=0.12'), "
        "and the report draws every headline outcome against each swept key (figures/sweep_<key>.png).",
        parents=[design_opts, executor_opts], epilog=BATCH_EPILOG,
    )
    p_sweep.add_argument("scenario", metavar="SCENARIO|FILE", help="scenario to sweep")
    p_sweep.add_argument("--vary", action="append", required=True, metavar="dotted.key=v1,v2,...",
                         help="values of one parameter (repeatable); parsed like --set values")
    mode = p_sweep.add_mutually_exclusive_group()
    mode.add_argument("--grid", dest="mode", action="store_const", const="grid",
                      help="every combination of the values (default)")
    mode.add_argument("--zip", dest="mode", action="store_const", const="zip",
                      help="the i-th values of every --vary together (lists of equal length)")
    p_sweep.add_argument("--report", action="store_true",
                         help="then write the report (figures, tables, report.md/.html) into DIR/report")
    p_sweep.set_defaults(handler=cmd_sweep, mode="grid")

    p_batch = _command(
        commands, formatter, "batch", "run a design file (experiments/designs/*.toml)",
        "Run the experiment described by a design file: scenarios, sweep, replications, seeds and sizes "
        "(see experiments/designs/example.toml), and store every run in DIR.",
        parents=[executor_opts], epilog=BATCH_EPILOG,
    )
    p_batch.add_argument("design", type=Path, metavar="DESIGN.toml", help="design file")
    p_batch.set_defaults(handler=cmd_batch)

    p_report = _command(
        commands, formatter, "report", "write figures, tables and an HTML/Markdown report of a batch or run directory",
        "Read a batch directory (zhudai compare/sweep/batch), or a run directory (zhudai run) as a batch of one "
        "replicate, and write figures (PNG and the CSV behind each), "
        "summary.csv (outcomes at the horizon and at 2026-09, short-run and speed measures from each scenario's "
        "first rule date, with the 12-month default measures repeated from each later month a rule of it takes "
        "effect, the concentration measures and borrowers in national terms, each with paired "
        "differences against a reference scenario and 95% intervals; the same columns as the batch's "
        "DIR/summary.csv, one per swept key in a sweep), report.md with a front page (key findings: per scenario "
        "the industry and the borrowers' finding with the largest effect relative to its 95% interval; "
        "scorecard, caveats) and every finding in its section 'All findings', and report.html (one "
        "self-contained file). In a sweep every column, legend and row "
        "names its point by the swept values (e.g. 'new-rules-2025 · rate_cap.apr=0.12'), and "
        "figures/sweep_<key>.png draws each headline outcome against each swept key (each run's mean over the 12 "
        "months from the rules' start, 95% interval over replicates).",
        epilog=EPILOG,
    )
    p_report.add_argument("directory", type=Path, metavar="DIR", help="batch directory, or a single-run directory")
    p_report.add_argument("--out", type=Path, metavar="REPORT_DIR", help="report directory (default DIR/report)")
    p_report.add_argument("--reference", metavar="SCENARIO",
                          help="scenario the differences are taken against (default baseline-2024 when present)")
    p_report.set_defaults(handler=cmd_report)

    p_sens = _command(
        commands, formatter, "sensitivity", "global sensitivity analysis (SALib Morris or Sobol)",
        "Sample the ranges of uncertain parameters with SALib (Morris trajectories or a Sobol/Saltelli "
        "sample), run the scenario at every sampled point on the batch engine (stored in DIR, resumable), "
        "evaluate each outcome as its mean over the months from --from (default: the month the rules take "
        "effect in the scenario, its policy.rate_cap.start) to the horizon, "
        "and write DIR/indices.csv (morris: mu_star, mu_star_conf, sigma; sobol: S1, S1_conf, ST, ST_conf), "
        "DIR/samples.csv and a bar chart per outcome (DIR/sensitivity_<outcome>.png).",
        parents=[executor_opts], epilog=BATCH_EPILOG,
    )
    p_sens.add_argument("scenario", metavar="SCENARIO|FILE", help="scenario to analyse")
    p_sens.add_argument("--method", required=True, choices=("morris", "sobol"), help="SALib method")
    p_sens.add_argument("--param", action="append", default=[], metavar="dotted.key=low,high",
                        help="a scalar parameter and its range (repeatable)")
    p_sens.add_argument("--params", type=Path, metavar="FILE",
                        help="ranges file ([params] \"key\" = [low, high]), e.g. experiments/designs/sensitivity.toml")
    p_sens.add_argument("--samples", type=positive_int, default=10, metavar="N",
                        help="morris: trajectories, N*(D+1) runs; sobol: base size, N*(D+2) runs (default 10)")
    p_sens.add_argument("--outcome", action="append", default=[], metavar="NAME",
                        help="model-table column (repeatable; default head_share, hhi, platform_exits, "
                             "rationed_share, default_rate, spiral_share)")
    p_sens.add_argument("--from", dest="from_month", metavar="YYYY-MM",
                        help="outcomes are means over the months from this one to the horizon (default: the "
                             "scenario's policy.rate_cap.start, the month the rules take effect)")
    p_sens.add_argument("--replications", type=positive_int, default=1, metavar="R",
                        help="replicates per point, averaged (default 1)")
    p_sens.add_argument("--borrowers", type=non_negative_int, default=DEFAULT_BORROWERS, metavar="N",
                        help=f"borrowers per run (default {DEFAULT_BORROWERS})")
    p_sens.add_argument("--months", type=positive_int, metavar="N", help="months per run (default: the scenario's)")
    p_sens.add_argument("--seed", type=non_negative_int, default=DEFAULT_ROOT_SEED, metavar="ROOT",
                        help=f"root seed of the replicate seeds and of the sample (default {DEFAULT_ROOT_SEED})")
    p_sens.add_argument("--set", dest="overrides", action="append", default=[], type=override,
                        metavar="dotted.key=value", help="override one parameter in every run (repeatable)")
    p_sens.set_defaults(handler=cmd_sensitivity)


def _add_paired_run_options(p: argparse.ArgumentParser, replications: int, what: str) -> None:
    """The options of the commands that run paired replicates through the batch engine (validate, scale-check)."""
    from experiments.engine.design import DEFAULT_ROOT_SEED

    p.add_argument("--replications", type=positive_int, default=replications, metavar="R",
                   help=f"paired replicates per {what} (default {replications})")
    p.add_argument("--seed", type=non_negative_int, default=DEFAULT_ROOT_SEED, metavar="ROOT",
                   help=f"root seed of the replicate seeds (default {DEFAULT_ROOT_SEED})")
    p.add_argument("--workers", type=positive_int, metavar="W",
                   help="worker processes (default: number of CPUs; 1 runs in this process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_validate_command(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``validate`` subcommand: run the scenarios the targets need and check the stylized facts."""
    p = _command(
        commands, formatter, "validate", "check the stylized facts (experiments/targets.toml)",
        "Run every scenario the validation targets need, R paired replicates each (common random numbers), "
        "evaluate each target and print a table of target, figure, test and status (PASS/WARN/FAIL).",
        epilog=VALIDATE_EPILOG,
    )
    _add_paired_run_options(p, 5, "scenario")
    from experiments.engine.design import DEFAULT_BORROWERS

    p.add_argument("--borrowers", type=non_negative_int, default=DEFAULT_BORROWERS, metavar="N",
                   help=f"borrowers per run (default {DEFAULT_BORROWERS})")
    p.add_argument("--out", type=Path, default=Path("results/validation/run"), metavar="DIR",
                   help="batch directory and outputs (default results/validation/run)")
    p.add_argument("--targets", type=Path, default=None, metavar="FILE",
                   help="targets file (default experiments/targets.toml)")
    p.add_argument("--robustness", type=positive_int, metavar="N",
                   help="instead: an N-point Latin-hypercube robustness study over the uncertain parameters")
    p.add_argument("--plausibility", type=positive_float_or_inf, default=None, metavar="X",
                   help="robustness: keep only points within X tolerances of every pre-rule moment of the targets "
                        "file's [robustness.screen] (default: its plausibility, 3; inf: no screen)")
    p.set_defaults(handler=cmd_validate)


def _add_scale_command(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``scale-check`` subcommand: the same scenarios and seeds at several population sizes."""
    p = _command(
        commands, formatter, "scale-check", "do the answers depend on the number of simulated borrowers?",
        "Run the scenarios with the same paired seeds at each population size (one batch directory per size "
        "in DIR) and compare every outcome with the largest size: a size passes an outcome when its mean lies "
        "within the 95% interval of the largest size's mean or within 10% of it (3 points for shares), "
        "whichever is wider. Prints the table and writes DIR/scale_check.csv, DIR/runs.csv and "
        "DIR/scale_check.md; exit status 1 when an outcome misses the bar.",
    )
    p.add_argument("--sizes", type=positive_int, nargs="+", default=list(DEFAULT_SIZES), metavar="N",
                   help="population sizes (default " + " ".join(map(str, DEFAULT_SIZES)) + ")")
    p.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS), metavar="SCENARIO|FILE",
                   help="scenarios (default " + " ".join(DEFAULT_SCENARIOS) + ")")
    _add_paired_run_options(p, 3, "scenario and size")
    p.add_argument("--months", type=positive_int, metavar="N", help="months per run (default: each scenario's own)")
    p.add_argument("--set", dest="overrides", action="append", default=[], type=override, metavar="dotted.key=value",
                   help="override one parameter in every run (repeatable)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="one batch directory per size, and the outputs (rerun the command to resume)")
    p.set_defaults(handler=cmd_scale_check)


CALIBRATE_EPILOG = """\
files:
  --moments FILE   [[moment]] tables: metric (model-table column), window, value and tolerance (or band),
                   weight, source; windows end before any rule of the scenario is announced or binds
                   (shipped: experiments/calibration/moments-2024.toml)
  --params FILE    [params] "dotted.key" = [low, high], or "dotted.key[i]" for element i of a list
                   (shipped: experiments/calibration/params-2024.toml)

outputs in DIR:
  estimate.toml (a scenario overlay: extends SCENARIO), fit.csv, identifiability.csv, profile.csv,
  moment_response.csv, trials.csv, confirm.csv, convergence.png, profiles.png, report.md; the study
  (study.journal, moments.csv) and one batch directory per generation (evals/), for the confirmation
  (confirm-<hash>/) and for the profiles (profile-<hash>/),
  named by the points they evaluate

exit statuses:
  0    calibrated; outputs written
  1    a run failed or a worker died (finished runs and trials are kept; rerun the command to resume)
  2    bad input: moments or parameter file, scenario, options, or --out holding another calibration
  130  interrupted (Ctrl-C); finished trials are kept, rerun the command to resume
"""


def _add_calibrate_command(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``calibrate`` subcommand: estimate parameters against the moments of the pre-rule industry."""
    from experiments.calibration import SAMPLERS

    p = _command(
        commands, formatter, "calibrate", "estimate parameters against the pre-rule industry's moments",
        "Method of simulated moments on optuna (CMA-ES by default; the scenario's own values are evaluated first): "
        "every candidate point runs R replicates with the same seeds through the batch engine (resumable, "
        "local pool or dask), its loss is the weighted sum of squared distances from the moments in "
        "tolerances. Then the estimate's fit and a loss profile of every parameter (identifiability). Rerun "
        "the same command to resume; a larger --budget continues the search.",
        epilog=CALIBRATE_EPILOG,
    )
    p.add_argument("scenario", metavar="SCENARIO|FILE", help="the scenario to calibrate (e.g. baseline-2024)")
    p.add_argument("--moments", type=Path, required=True, metavar="FILE", help="moments file")
    p.add_argument("--params", type=Path, required=True, metavar="FILE", help="parameters and their ranges")
    p.add_argument("--budget", type=positive_int, default=cal.DEFAULT_BUDGET, metavar="N",
                   help=f"trials (candidate points) in all (default {cal.DEFAULT_BUDGET})")
    p.add_argument("--batch", type=positive_int, default=cal.DEFAULT_BATCH, metavar="K",
                   help=f"points evaluated together, one batch each (default {cal.DEFAULT_BATCH})")
    p.add_argument("--grid", type=lambda t: _int_at_least(t, 3, "at least 3"), default=cal.DEFAULT_GRID,
                   metavar="G", help=f"profile points per parameter (default {cal.DEFAULT_GRID})")
    p.add_argument("--sampler", choices=SAMPLERS, default="cmaes", help="optuna sampler (default cmaes)")
    p.add_argument("--confirm", type=positive_int, default=cal.DEFAULT_CONFIRM, metavar="K",
                   help=f"best trials run again with the final replicates; the best there is the estimate "
                        f"(default {cal.DEFAULT_CONFIRM})")
    p.add_argument("--final-replications", type=positive_int, metavar="RF",
                   help="replicates of the confirmation and the profiles (default 2 x R)")
    _add_paired_run_options(p, cal.DEFAULT_REPLICATIONS, "point in the search")
    p.add_argument("--scheduler", metavar="ADDRESS", help="'local' or a dask scheduler address (tcp://host:port)")
    from experiments.engine.design import DEFAULT_BORROWERS

    p.add_argument("--borrowers", type=non_negative_int, default=DEFAULT_BORROWERS, metavar="N",
                   help=f"borrowers per run (default {DEFAULT_BORROWERS})")
    p.add_argument("--set", dest="overrides", action="append", default=[], type=override, metavar="dotted.key=value",
                   help="override one parameter in every run (repeatable)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="calibration directory (rerun the same command to resume)")
    p.set_defaults(handler=cal.cmd_calibrate)


def _add_dashboard_command(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """The ``dashboard`` subcommand: the interactive page (experiments/dashboard)."""
    p = _command(
        commands, formatter, "dashboard", "interactive dashboard: move a lever, compare two runs side by side",
        "Serve the interactive dashboard (Mesa SolaraViz) on this machine and print its address. Pick a "
        "scenario, move its levers, and watch run A and a comparison run B (same seed) step month by month; "
        "download the tables (CSV) and figures (PNG). Works offline. Ctrl-C stops it.",
    )
    p.add_argument("--port", type=non_negative_int, default=8765, metavar="P",
                   help="port to listen on (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="localhost", metavar="H",
                   help="address to listen on (default localhost; 0.0.0.0 serves other machines too)")
    p.set_defaults(handler=cmd_dashboard)

