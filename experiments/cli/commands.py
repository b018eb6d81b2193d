"""The small ``zhudai`` commands: scenarios, check, params, rerun, report and dashboard."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from experiments.cli.exits import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, UsageError, error, terminal_width
from model.calendar import add_months
from model.config import Scenario, list_scenarios, load_scenario


def cmd_scenarios(args: argparse.Namespace, argv: list[str]) -> int:
    entries = list_scenarios()
    if not entries:
        error("no shipped scenarios found")
        return EXIT_RUN_FAILED
    name_width = max(len(name) for name, _ in entries)
    indent = " " * (name_width + 2)
    width = terminal_width()
    for name, description in entries:
        text = " ".join(description.split()) or "(no description)"
        lines = textwrap.wrap(text, width=width - len(indent)) or [""]
        print(f"{name:<{name_width}}  {lines[0]}")
        for line in lines[1:]:
            print(indent + line)
    return EXIT_OK


def scenario_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides, then ``--borrowers``/``--months``, so the dedicated options win."""
    overrides = list(args.overrides)
    if args.borrowers is not None:
        overrides.append(f"run.borrowers={args.borrowers}")
    if args.months is not None:
        overrides.append(f"run.months={args.months}")
    return overrides


def describe_window(scenario: Scenario) -> str:
    run = scenario.params.run
    end = add_months(run.start, run.months - 1)
    months = "1 month" if run.months == 1 else f"{run.months} months"
    return f"start {run.start}, {months} (to {end}), {run.borrowers:,} borrowers"


def cmd_check(args: argparse.Namespace, argv: list[str]) -> int:
    scenario = load_scenario(args.scenario, scenario_overrides(args))
    print(f"OK {scenario.name}: {describe_window(scenario)}")
    return EXIT_OK


def cmd_params(args: argparse.Namespace, argv: list[str]) -> int:
    from model.config import render_baseline_toml, render_param_table

    if args.format == "sync":
        return _sync_parameter_docs()
    text = render_param_table() if args.format == "markdown" else render_baseline_toml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _sync_parameter_docs() -> int:
    """Re-render the files generated from the schema in a source checkout (tests check they are in sync)."""
    from experiments.store.common import atomic_write_text
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


def cmd_rerun(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.engine.rerun import RerunError, rerun

    try:
        report = rerun(args.target, args.run)
    except RerunError as err:
        raise UsageError(str(err)) from None
    for note in report.version_notes:
        print(f"note: {note}", file=sys.stderr)
    sizes = ", ".join(f"{name} {rows} rows" for name, rows in report.rows.items())
    if report.identical:
        print(f"reproduced {report.label} exactly: {sizes} identical")
        return EXIT_OK
    for name, diff in report.differences.items():
        error(f"{name}: {diff}")
    print(f"{report.label} did NOT reproduce: {len(report.differences)} of {len(report.rows)} tables differ")
    return EXIT_RUN_FAILED


def write_report_command(directory: Path, out: Path | None, reference: str | None) -> int:
    from experiments.analysis.report import ReportError, write_report

    try:
        result = write_report(directory, out, reference)
    except ReportError as err:
        raise UsageError(str(err)) from None
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    drawn = sum(1 for f in result.figures if f.png is not None)
    print(f"wrote report to {result.out}: report.md, report.html, summary.csv, {drawn} figures")
    return EXIT_OK


def cmd_report(args: argparse.Namespace, argv: list[str]) -> int:
    return write_report_command(args.directory, args.out, args.reference)


def cmd_dashboard(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.dashboard.server import DashboardError, serve

    try:
        return serve(args.host, args.port)
    except DashboardError as err:
        raise UsageError(str(err)) from None

