"""``zhudai scale-check``: the same scenarios and paired seeds at several population sizes, compared.

Each size is one batch directory (``DIR/n<size>``) run through the batch engine, so an interrupted check
resumes where it stopped and a directory never mixes parameters. The comparison is pure and lives in
:mod:`experiments.analysis.scale`. Writes ``DIR/scale_check.csv`` (every size, outcome and verdict),
``DIR/runs.csv`` (every run's outcomes) and ``DIR/scale_check.md``; exit status 1 when an outcome misses the
bar at some size (as ``zhudai validate`` does for a failed target).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.analysis import scale
from experiments.analysis.rules import rules_start
from experiments.cli.batch import run_to_completion
from experiments.cli.exits import EXIT_OK, EXIT_RUN_FAILED, UsageError
from experiments.store.common import atomic_write, atomic_write_text

DEFAULT_SIZES = (25_000, 50_000, 100_000, 200_000, 400_000)
DEFAULT_SCENARIOS = ("baseline-2024", "new-rules-2025")


def check_sizes(sizes: list[int]) -> list[int]:
    """At least two distinct, positive sizes, in ascending order."""
    if any(n <= 0 for n in sizes):
        raise UsageError(f"--sizes: every size must be at least 1 borrower, got {sizes}")
    distinct = sorted(set(sizes))
    if len(distinct) < 2:
        raise UsageError(f"--sizes: give at least two different population sizes, got {sizes}")
    return distinct


def cmd_scale_check(args: argparse.Namespace, argv: list[str]) -> int:
    from experiments.engine.design import Design
    from experiments.store.batch_dir import read_store

    sizes = check_sizes(args.sizes)
    scenarios = tuple(dict.fromkeys(args.scenarios))
    out = Path(args.out)
    print(f"scale-check: {', '.join(scenarios)} at {', '.join(f'{n:,}' for n in sizes)} borrowers x "
          f"{args.replications} paired replicates, root seed {args.seed}", file=sys.stderr)
    models = {}
    for n in sizes:
        design = Design(scenarios=scenarios, root_seed=args.seed, replications=args.replications, borrowers=n,
                        months=args.months, overrides=tuple(args.overrides), source="scale-check",
                        description=f"zhudai scale-check at {n} borrowers")
        status = run_to_completion(design, out / f"n{n}", args, argv)
        if status is not None:
            return status
        models[n] = read_store(out / f"n{n}")["model"]
    from_month = min(rules_start(s, args.overrides) for s in scenarios)
    runs = scale.outcomes_table(models, from_month)
    comparison = scale.compare_sizes(runs)
    atomic_write(out / "runs.csv", lambda tmp: runs.to_csv(tmp, index=False))
    atomic_write(out / "scale_check.csv", lambda tmp: comparison.to_csv(tmp, index=False))
    command = " ".join(["zhudai scale-check", "--sizes", *map(str, sizes), "--replications", str(args.replications),
                        "--seed", str(args.seed), "--scenarios", *scenarios])
    text = f"Command: `{command}`; outcomes after {from_month} where a mean is taken.\n\n"
    text += scale.render_markdown(comparison, scenarios)
    atomic_write_text(text, out / "scale_check.md")
    print(text)
    print(f"written {out / 'scale_check.csv'}, {out / 'runs.csv'} and {out / 'scale_check.md'}")
    return EXIT_OK if comparison["ok"].all() else EXIT_RUN_FAILED
