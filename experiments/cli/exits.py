"""Exit statuses, the usage error and error printing that every ``zhudai`` command shares.

Exit statuses:
    0: success.
    1: a run failed inside the model, a batch run failed or a worker died, or results could not be written.
    2: bad input: usage error, unknown scenario, invalid parameter, override or design, or an ``--out`` that
       cannot hold the results. Nothing is run or changed.
    130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import shutil
import sys

PROG = "zhudai"
EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Widest line the commands print.
MAX_WIDTH = 100


class UsageError(Exception):
    """Bad command-line input found after parsing; reported like a ConfigError (one message, exit 2)."""


def error(message: str) -> None:
    """Print ``zhudai: message`` to stderr."""
    print(f"{PROG}: {message}", file=sys.stderr)


def warn_small_population(borrowers: int) -> None:
    """Print the small-population warning (:func:`experiments.analysis.scale.small_population_warning`) if any.

    Commands call it once, after a run or batch that ran, so that a command that fails still prints one message.
    """
    from experiments.analysis.scale import small_population_warning

    message = small_population_warning(borrowers)
    if message is not None:
        error(message)


def terminal_width() -> int:
    """The terminal's width, kept within 60..:data:`MAX_WIDTH` columns."""
    return max(60, min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns))
