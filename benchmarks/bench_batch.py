"""Throughput of the batch engine: 1 vs 2 local worker processes, and dask LocalCluster vs the process pool.

    python benchmarks/bench_batch.py [--runs 32] [--borrowers 20000] [--months 24] [--scenario new-rules-2025]

Runs one scenario x N replications (no burn-in) through :func:`experiments.engine.batch.run_batch` into temporary
directories, so the figures include process start-up, result transfer and the atomic Parquet writes. Targets
2 workers >= 1.8x the runs/s of 1 worker on a 2-core machine; the dask overhead ratio is reported.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from experiments.engine.batch import run_batch
from experiments.engine.design import Design


def _time(design: Design, out: Path, **executor) -> float:
    resolved = design.resolve()
    t0 = time.perf_counter()
    outcome = run_batch(resolved, out, progress=False, **executor)
    elapsed = time.perf_counter() - t0
    if outcome.status != "complete":
        raise SystemExit(f"batch did not complete: {outcome.status}")
    return len(resolved.runs) / elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=32)
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--scenario", default="new-rules-2025")
    args = ap.parse_args(argv)
    design = Design(scenarios=(args.scenario,), replications=args.runs, borrowers=args.borrowers,
                    months=args.months, overrides=("run.burn_in=0",))
    print(f"{args.runs} runs of {args.scenario}: {args.borrowers:,} borrowers, {args.months} months, burn-in 0")
    with tempfile.TemporaryDirectory() as tmp:
        one = _time(design, Path(tmp) / "w1", workers=1)
        print(f"in-process (1 worker):    {one:6.2f} runs/s")
        two = _time(design, Path(tmp) / "w2", workers=2)
        print(f"process pool (2 workers): {two:6.2f} runs/s   speed-up {two / one:.2f}x (target >= 1.8x)")
        dask = _time(design, Path(tmp) / "dask", workers=2, scheduler="local")
        print(f"dask LocalCluster (2):    {dask:6.2f} runs/s   pool/dask time ratio {two / dask:.2f} "
              "(dask overhead; 1.00 = none)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
