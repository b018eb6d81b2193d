"""``zhudai validate``: run the scenarios the targets need, evaluate them, and the robustness study.

The evaluation itself is pure and lives in :mod:`experiments.analysis.validation`; this module builds the
designs, runs them through :func:`experiments.cli.batch.execute_design` (the batch engine, so a rerun resumes
and ``--workers`` scales out) and writes the outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from experiments.analysis.validation import (
    DEFAULT_TARGETS,
    evaluate,
    load_targets_file,
    render_markdown,
    render_text,
    robustness_points,
    scenarios_needed,
)
from experiments.cli.batch import run_to_completion
from experiments.cli.exits import EXIT_OK, EXIT_RUN_FAILED, warn_small_population
from experiments.store.common import atomic_write, atomic_write_text


def cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    """``zhudai validate``: the main validation, or the robustness study with ``--robustness N``."""
    status = run_robustness(args, argv) if args.robustness else run_validation(args, argv)
    if status in (EXIT_OK, EXIT_RUN_FAILED):  # it ran: say once, at the end, if the population was small
        warn_small_population(args.borrowers)
    return status


def run_validation(args: argparse.Namespace, argv: list[str]) -> int:
    """The main validation: one design over every needed scenario, evaluated and written to ``--out``."""
    from experiments.engine.design import Design
    from experiments.store.batch_dir import read_store

    targets, _ = load_targets_file(args.targets or DEFAULT_TARGETS)
    scenarios = scenarios_needed(targets)
    design = Design(scenarios=scenarios, root_seed=args.seed, replications=args.replications,
                    borrowers=args.borrowers, source="validate",
                    description="zhudai validate: every scenario the validation targets need")
    out = Path(args.out)
    print(f"validate: {len(targets)} targets, {len(scenarios)} scenarios ({', '.join(scenarios)}) x "
          f"{args.replications} replicates, {args.borrowers:,} borrowers, root seed {args.seed}", file=sys.stderr)
    status = run_to_completion(design, out, args, argv)
    if status is not None:
        return status
    result = evaluate(targets, read_store(out))
    _write_csv(result, out / "validation.csv")
    md = (f"Command: `zhudai validate --replications {args.replications} --borrowers {args.borrowers} "
          f"--seed {args.seed}` ({len(scenarios)} scenarios, paired by replicate).\n\n" + render_markdown(result))
    _write_text(md, out / "validation.md")
    print(render_text(result))
    print(f"written {out / 'validation.csv'} and {out / 'validation.md'}")
    return EXIT_RUN_FAILED if (result["status"] == "FAIL").any() else EXIT_OK


def run_robustness(args: argparse.Namespace, argv: list[str]) -> int:
    """The robustness study: evaluate every target at each plausible Latin-hypercube point of the uncertain
    parameters.

    With a ``[robustness.screen]`` (history matching), the Latin hypercube has ``candidates`` x N points; each is
    first screened on the screen scenario alone against the pre-rule moments, and only points within the
    plausibility threshold on every moment run the full set of scenarios, until N are kept. A point that does not
    reproduce the world before the rules is not a description of it, so its responses to the rules are not read.
    """
    from experiments.analysis.validation import robustness_screen, screen_values
    from experiments.calibration.spec import implausibility
    from experiments.engine.design import Design, override_text
    from experiments.store.batch_dir import read_store

    targets_path = args.targets or DEFAULT_TARGETS
    targets, table = load_targets_file(targets_path)
    scenarios = scenarios_needed(targets)
    screen = robustness_screen(table, targets_path)
    threshold = math.inf if screen is None else (screen.plausibility if args.plausibility is None
                                                 else args.plausibility)
    screening = screen is not None and math.isfinite(threshold)
    wanted = args.robustness
    points = robustness_points(wanted * (int(table.get("candidates", 1)) if screening else 1), table, seed=args.seed)
    out = Path(args.out)
    print(f"robustness: {wanted} Latin-hypercube points over {len(points[0])} uncertain parameters x "
          f"{len(scenarios)} scenarios x {args.replications} replicates, {args.borrowers:,} borrowers"
          + (f"; {len(points)} candidates screened on {screen.scenario} against {screen.path} (kept within "
             f"{threshold:g} tolerances on every moment)" if screening else ""), file=sys.stderr)
    rows, design_rows, screen_rows = [], [], []
    for i, point in enumerate(points):
        if len(rows) == wanted:
            break
        overrides = tuple(override_text(k, v) for k, v in point.items())
        base = out / "robustness-points" / f"point-{i:02d}"
        design_row = {"point": i, **{k: json.dumps(v) if isinstance(v, list) else v for k, v in point.items()}}
        if screening:
            sdesign = Design(scenarios=(screen.scenario,), root_seed=args.seed, replications=args.replications,
                             borrowers=args.borrowers, overrides=overrides,
                             source=f"validate --robustness screen of point {i}")
            sdir = base.with_name(base.name + "-screen")
            status = run_to_completion(sdesign, sdir, args, argv)
            if status is not None:
                return status
            values = screen_values(read_store(sdir)["model"], screen.moments)
            distance, worst = implausibility(values, screen.moments)
            plausible = distance <= threshold
            screen_rows.append({"point": i, "plausible": plausible, "implausibility": distance,
                                "worst_moment": worst, **values})
            design_rows.append({**design_row, "plausible": plausible})
            if not plausible:
                print(f"point {i} ruled out: {worst} lies {distance:.1f} tolerances from its pre-rule level "
                      f"({values.get(worst, math.nan):.4g})", file=sys.stderr)
                continue
        else:
            design_rows.append(design_row)
        design = Design(scenarios=scenarios, root_seed=args.seed, replications=args.replications,
                        borrowers=args.borrowers, overrides=overrides, source=f"validate --robustness point {i}")
        status = run_to_completion(design, base, args, argv)
        if status is not None:
            return status
        res = evaluate(targets, read_store(base))
        res.insert(0, "point", i)
        rows.append(res)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(pd.DataFrame(design_rows), out / "robustness_design.csv")
    if screening:
        _write_csv(pd.DataFrame(screen_rows), out / "robustness_screen.csv")
    if not rows:
        print(f"robustness: none of the {len(points)} candidate points reproduces the pre-rule moments within "
              f"{threshold:g} tolerances (robustness_screen.csv); nothing to evaluate", file=sys.stderr)
        return EXIT_RUN_FAILED
    if len(rows) < wanted:
        print(f"robustness: only {len(rows)} of the {len(points)} candidate points are plausible, short of the "
              f"{wanted} asked for (raise [robustness] candidates)", file=sys.stderr)
    detail = pd.concat(rows, ignore_index=True)
    summary = robustness_summary(detail)
    _write_csv(detail, out / "robustness_points.csv")
    _write_csv(summary, out / "robustness.csv")
    print(summary.to_string(index=False))
    if screening:
        ruled_out = sum(not r["plausible"] for r in screen_rows)
        print(f"{len(rows)} plausible points evaluated; {ruled_out} of {len(screen_rows)} screened ruled out by the "
              "pre-rule moments")
    print(f"written {out / 'robustness.csv'}, {out / 'robustness_points.csv'} and {out / 'robustness_design.csv'}"
          + (f" and {out / 'robustness_screen.csv'}" if screening else ""))
    return EXIT_OK


def robustness_summary(detail: pd.DataFrame) -> pd.DataFrame:
    """Per target: sample points, points where it holds (test on the replication mean), and status counts."""
    g = detail.groupby("target", sort=False)
    out = pd.DataFrame({
        "points": g.size(),
        "holds_points": g["mean_holds"].sum().astype(int),
        "pass_points": g["status"].apply(lambda s: int((s == "PASS").sum())),
        "warn_points": g["status"].apply(lambda s: int((s == "WARN").sum())),
        "fail_points": g["status"].apply(lambda s: int((s == "FAIL").sum())),
    })
    out.insert(2, "share_holds", out["holds_points"] / out["points"])
    return out.reset_index()


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def _write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(text, path)
