"""Throughput of ``zhudai calibrate``: evaluations (trials) per minute for a calibration of 6 parameters.

    python benchmarks/bench_calibrate.py [--budget 16] [--batch 8] [--replications 2] [--borrowers 100000]
                                          [--workers 2]

Runs the shipped calibration inputs (experiments/calibration/moments-2024.toml and params-2024.toml, 6 parameters)
on baseline-2024 into a temporary directory through the command itself, so the figures include the study, the
batch engine's worker processes, the Parquet writes and reading the moments back. Reports the search's trials per
minute and runs per second, then the profile stage (the estimate and 6 x ``--grid`` profile points).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from experiments.calibration import search
from experiments.cli.main import main as zhudai

ROOT = Path(__file__).resolve().parents[1] / "experiments" / "calibration"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--borrowers", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--grid", type=int, default=5)
    args = ap.parse_args(argv)
    common = ["calibrate", "baseline-2024", "--moments", str(ROOT / "moments-2024.toml"), "--params",
              str(ROOT / "params-2024.toml"), "--batch", str(args.batch), "--replications", str(args.replications),
              "--borrowers", str(args.borrowers), "--workers", str(args.workers), "--grid", str(args.grid), "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cal"
        t0 = time.perf_counter()
        status = zhudai([*common, "--budget", str(args.budget), "--out", str(out)])
        total = time.perf_counter() - t0
        if status != 0:
            raise SystemExit(f"calibrate exited {status}")
        # The search's wall time: from the first generation's start to the last one's end (batch manifests).
        sessions = [s for m in sorted((out / "evals").glob("*/manifest.json"))
                    for s in json.loads(m.read_text())["sessions"]]
        first = min(datetime.fromisoformat(s["started_at"]) for s in sessions)
        last = max(datetime.fromisoformat(s["finished_at"]) for s in sessions)
        search_seconds = (last - first).total_seconds()
        trials = len(pd.read_csv(out / search.MOMENTS_LEDGER))
    runs = trials * args.replications
    final = 2 * args.replications
    derived = (1 + 6 * args.grid + min(5, trials)) * final
    print(f"6 parameters, {args.budget} trials x {args.replications} replicates at {args.borrowers:,} borrowers, "
          f"{args.workers} workers, generations of {args.batch}")
    print(f"search:  {search_seconds:7.1f} s   {trials / search_seconds * 60:6.1f} trials/min   "
          f"{runs / search_seconds:5.2f} runs/s")
    print(f"total:   {total:7.1f} s (the search; then the best 5 trials confirmed and the estimate with "
          f"{6 * args.grid} profile points, {derived} runs at {final} replicates; and the outputs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
