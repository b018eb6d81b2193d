"""``zhudai run``: one scenario, one seed, its tables written to a run directory, and a short summary.

``run`` writes nothing until the simulation has finished, then writes ``model.parquet``,
``platforms.parquet`` and ``funders.parquet`` atomically and ``manifest.json`` last (see
:mod:`experiments.store.run_dir`). An interrupted or failed run therefore never leaves half a run behind and
never touches an earlier run in the same directory (a failed run adds only ``error.log``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.analysis.rules import rules_start
from experiments.cli.commands import describe_window, scenario_overrides
from experiments.cli.exits import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    MAX_WIDTH,
    PROG,
    UsageError,
    error,
    warn_small_population,
)
from model.calendar import add_months
from model.config import ConfigError, Scenario, load_scenario

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SEED = 1


def _check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that cannot hold this run, before spending time on the simulation."""
    from experiments.store.run_dir import existing_run_files

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    present = existing_run_files(out) if out.is_dir() else []
    if present and not overwrite:
        raise UsageError(
            f"--out {out}: already holds a run ({', '.join(present)}); "
            "pass --overwrite to replace it, or choose another directory"
        )
    # The directory is created only when results exist; check now that it can be.
    ancestor = out.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"--out {out}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {ancestor} is not writable")


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    """``zhudai run``: run one scenario through :func:`experiments.engine.run.run_model` and write its directory."""
    # Imported here so that `zhudai scenarios|check|params` start without loading the simulation stack.
    from tqdm import tqdm

    from experiments.engine.run import run_model
    from experiments.store import run_dir
    from experiments.store.common import code_version, environment_versions

    overrides = scenario_overrides(args)
    scenario = load_scenario(args.scenario, overrides)
    out: Path = args.out
    _check_out_dir(out, args.overwrite)

    quiet = args.quiet
    if not quiet:
        print(f"running {scenario.name}: {describe_window(scenario)}, seed {args.seed}", file=sys.stderr)
    try:
        # disable=None lets tqdm switch itself off when stderr is not a terminal (CI logs, pipes).
        with tqdm(total=scenario.params.run.months, unit="month", file=sys.stderr, disable=True if quiet else None,
                  desc=scenario.name, leave=False, dynamic_ncols=True) as bar:

            def on_step(m: Any) -> None:
                bar.set_postfix_str(str(m.date), refresh=False)
                bar.update(1)

            result = run_model(scenario, args.seed, overrides=overrides, on_step=on_step, argv=argv)
    except KeyboardInterrupt:
        error("interrupted; nothing written")
        return EXIT_INTERRUPTED
    except ConfigError:
        raise
    except Exception as exc:
        context = {"scenario": f"{scenario.name} ({scenario.source})", "overrides": overrides, "seed": args.seed,
                   "version": code_version(), "versions": environment_versions()}
        log = run_dir.write_error_log(out, argv, context, PROG)
        error(f"run failed: {type(exc).__name__}: {exc}")
        if log is not None:
            error(f"traceback written to {log}")
        else:
            error(f"could not write {out / run_dir.ERROR_LOG_FILE}; traceback follows")
            traceback.print_exc(file=sys.stderr)
        return EXIT_RUN_FAILED

    try:
        paths = run_dir.write_run(out, result.tables, result.manifest)
    except KeyboardInterrupt:
        error(f"interrupted while writing; {out} holds no complete run (no {run_dir.MANIFEST_FILE})")
        return EXIT_INTERRUPTED
    except (OSError, TypeError, ValueError) as exc:
        error(f"could not write results to {out}: {type(exc).__name__}: {exc}")
        return EXIT_RUN_FAILED
    # A log from an earlier failed attempt would now describe a run that is not the one in DIR.
    with contextlib.suppress(OSError):
        (out / run_dir.ERROR_LOG_FILE).unlink(missing_ok=True)

    if quiet:
        print(f"wrote {out}")
    else:
        print(render_summary(result.tables["model"], scenario, args.seed, result.elapsed_seconds))
        print()
        print(f"wrote {len(paths)} files to {out}:")
        print("  " + "  ".join(p.name for p in paths.values()))
    warn_small_population(scenario.params.run.borrowers)
    return EXIT_OK


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


def summary_rows(model_table: pd.DataFrame, rules_month: str | None = None) -> pd.DataFrame:
    """The rows of the model table shown in the summary: first month, month before the rules, last month.

    Args:
        model_table: the ``model`` table, one row per month in order.
        rules_month: the month the rules take effect in the run's scenario
            (:func:`experiments.analysis.rules.rules_start`); None for the schema's default.

    Returns:
        Up to three rows, without duplicates, in calendar order.
    """
    if model_table.empty:
        return model_table
    dates = list(model_table["date"])
    picks = [0]
    pre_policy = add_months(rules_start() if rules_month is None else rules_month, -1)
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
    rules_month = rules_start(scenario)
    rows = summary_rows(model_table, rules_month)
    title = f"{scenario.name}, seed {seed}: {describe_window(scenario)}; ran in {elapsed_seconds:.1f}s"
    if rows.empty:
        return title + "\n(the model table is empty)"
    records = [row for _, row in rows.iterrows()]
    dates = [str(row.get("date")) for row in records]
    pre_policy = add_months(rules_month, -1)
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

