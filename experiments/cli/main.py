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
    zhudai scale-check --out DIR [--sizes N ...] [--replications R] [--workers W]
    zhudai calibrate SCENARIO --moments FILE --params FILE --out DIR [--budget N] [--replications R]
                     [--borrowers N] [--workers W | --scheduler ADDRESS]

Also runnable as ``python -m experiments``.

Exit statuses:
    0: success.
    1: the run failed inside the model (traceback in ``DIR/error.log``) or its results could not be written.
    2: bad input: usage error, unknown scenario, invalid parameter or override, or ``--out`` already holds
       a run and ``--overwrite`` was not given; or the command needs an optional extra that is not installed
       (``dashboard``, ``calibrate``, ``--scheduler``: the message names it). Nothing is run or written.
    130: interrupted (Ctrl-C); nothing written.

Batch commands (``compare``, ``sweep``, ``batch``) use the same statuses: 1 when a run failed or a worker
died (finished runs are kept; rerunning the command resumes), 2 for a bad design or an ``--out`` that holds
another design (nothing is changed), 130 when interrupted (finished runs are kept). See
:mod:`experiments.cli.batch`, :mod:`experiments.engine.batch` and :mod:`experiments.store.batch_dir`.

``run`` writes nothing until the simulation has finished (see :mod:`experiments.cli.run`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

from experiments.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, UsageError, error
from experiments.cli.parser import build_parser
from experiments.extras import MissingExtra
from model.config import ConfigError


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
    except (ConfigError, UsageError, MissingExtra) as err:
        # MissingExtra: the command needs an optional extra that is not installed (experiments/extras.py).
        error(str(err))
        return EXIT_USAGE
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `zhudai params | head` closed the pipe: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


