"""Throughput and memory benchmark of one model run.

Prints borrower-months per second (burn-in months included, since they are simulated too) and peak resident
memory for one or more population sizes:

    python benchmarks/bench_model.py --borrowers 100000 1000000 --months 48 [--scenario new-rules-2025]

Targets (each size prints the bars that apply to it, see :func:`bars`):
- at 1M borrowers: >= 3M borrower-months/s on one core and peak memory <= 600 MB;
- at 10M borrowers: >= 2.5M borrower-months/s, <= 400 bytes of peak memory per borrower, and 48 recorded months
  with the burn-in in under 5 minutes;
- a 1M/100k time ratio <= 11 (time growing about linearly with the population).
Each size runs in a fresh process so that peak memory is that size's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys


def _one(scenario: str, borrowers: int, months: int, seed: int) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from experiments.engine.run import resolve_scenario, run_model

    sc = resolve_scenario(scenario, borrowers=borrowers, months=months)
    out = run_model(sc, seed)  # times building (burn-in included) and running separately
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    burn_in = sc.params.run.burn_in
    total = out.init_seconds + out.run_seconds
    # The burn-in months are simulated inside the constructor; throughput counts every simulated month.
    return {
        "borrowers": borrowers, "months": months, "burn_in": burn_in, "init_s": round(out.init_seconds, 3),
        "run_s": round(out.run_seconds, 3), "total_s": round(total, 3),
        "borrower_months_per_s": round(borrowers * (months + burn_in) / total), "peak_mb": round(peak_kb / 1024, 1),
    }


def bars(row: dict) -> list[tuple[str, bool]]:
    """The targets that apply to one size's result (``row`` as :func:`_one` returns it): (label, met) pairs."""
    n, out = row["borrowers"], []
    if n == 1_000_000:
        out.append((">= 3M borrower-months/s", row["borrower_months_per_s"] >= 3_000_000))
        out.append(("<= 600 MB peak", row["peak_mb"] <= 600))
    if n >= 10_000_000:
        out.append((">= 2.5M borrower-months/s", row["borrower_months_per_s"] >= 2_500_000))
        out.append(("<= 400 bytes per borrower", row["peak_mb"] * 2**20 / n <= 400))
        if row["months"] == 48:
            out.append(("48 months with burn-in in < 5 min", row["total_s"] < 300))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--months", type=int, default=48)
    ap.add_argument("--scenario", default="new-rules-2025")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_one(args.scenario, args.borrowers[0], args.months, args.seed)))
        return
    rows = []
    for n in args.borrowers:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--borrowers", str(n), "--months", str(args.months),
             "--scenario", args.scenario, "--seed", str(args.seed)],
            check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['borrowers']:>10,} borrowers x ({r['burn_in']} burn-in + {r['months']}) months: "
              f"total {r['total_s']:7.2f} s, {r['borrower_months_per_s']:>12,} borrower-months/s, "
              f"peak {r['peak_mb']:8.1f} MB ({r['peak_mb'] * 2**20 / r['borrowers']:,.0f} bytes per borrower)",
              flush=True)
        for label, met in bars(r):
            print(f"    {'met' if met else 'MISSED'}: {label}", flush=True)
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        size_ratio = b["borrowers"] / a["borrowers"]
        time_ratio = b["total_s"] / a["total_s"]
        print(f"time ratio {time_ratio:.2f} for size ratio {size_ratio:.1f} "
              f"({'sub-linear or linear' if time_ratio <= size_ratio * 1.05 else 'super-linear'})")


if __name__ == "__main__":
    main()
