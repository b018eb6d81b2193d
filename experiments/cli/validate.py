"""``zhudai validate``: run the scenarios the targets need, evaluate them, and the robustness study.

The evaluation itself is pure and lives in :mod:`experiments.analysis.validation`; this module builds the
designs, runs them through :func:`experiments.cli.batch.execute_design` (the batch engine, so a rerun resumes
and ``--workers`` scales out) and writes the outputs.
"""

from __future__ import annotations

import argparse
import json
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
    """The robustness study: evaluate every target at each Latin-hypercube point of the uncertain parameters."""
    from experiments.engine.design import Design, override_text
    from experiments.store.batch_dir import read_store

    targets, table = load_targets_file(args.targets or DEFAULT_TARGETS)
    scenarios = scenarios_needed(targets)
    points = robustness_points(args.robustness, table, seed=args.seed)
    out = Path(args.out)
    print(f"robustness: {len(points)} Latin-hypercube points over {len(points[0])} uncertain parameters x "
          f"{len(scenarios)} scenarios x {args.replications} replicates, {args.borrowers:,} borrowers",
          file=sys.stderr)
    rows, design_rows = [], []
    for i, point in enumerate(points):
        overrides = tuple(override_text(k, v) for k, v in point.items())
        design = Design(scenarios=scenarios, root_seed=args.seed, replications=args.replications,
                        borrowers=args.borrowers, overrides=overrides, source=f"validate --robustness point {i}")
        point_dir = out / "robustness-points" / f"point-{i:02d}"
        status = run_to_completion(design, point_dir, args, argv)
        if status is not None:
            return status
        res = evaluate(targets, read_store(point_dir))
        res.insert(0, "point", i)
        rows.append(res)
        design_rows.append({"point": i, **{k: json.dumps(v) if isinstance(v, list) else v for k, v in point.items()}})
    detail = pd.concat(rows, ignore_index=True)
    summary = robustness_summary(detail)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(detail, out / "robustness_points.csv")
    _write_csv(pd.DataFrame(design_rows), out / "robustness_design.csv")
    _write_csv(summary, out / "robustness.csv")
    print(summary.to_string(index=False))
    print(f"written {out / 'robustness.csv'}, {out / 'robustness_points.csv'} and {out / 'robustness_design.csv'}")
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
