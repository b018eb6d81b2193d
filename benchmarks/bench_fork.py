"""Time saved by forked runs: scenarios that share their past run independently vs forked, in one process.

Runs the scenarios on one seed twice, first each from scratch (:func:`experiments.engine.run.run_model`), then
forked (:func:`experiments.engine.fork.run_forked`: the burn-in and the months before the scenarios diverge are
simulated once), checks that every table is identical and prints both wall times and their ratio:

    python benchmarks/bench_fork.py --borrowers 50000 [--scenarios baseline-2024 new-rules-2025 cap-20 cap-12]

The ideal ratio is the simulated months saved: with a 60-month burn-in, a 48-month horizon and the 2025 rules
announced in 2025-04 (15 months shared), four scenarios simulate 4 x 108 = 432 months independently and
75 + 4 x 33 = 207 forked (2.09x); copying the state (one pickle, one unpickle per scenario) is the overhead.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=50_000)
    ap.add_argument("--months", type=int, default=None, help="horizon (default: the scenarios' own)")
    ap.add_argument("--scenarios", nargs="+", default=["baseline-2024", "new-rules-2025", "cap-20", "cap-12"])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import pandas as pd

    from experiments.engine.fork import run_forked, shared_months
    from experiments.engine.run import resolve_scenario, run_model

    scenarios = [resolve_scenario(s, borrowers=args.borrowers, months=args.months) for s in args.scenarios]
    run = scenarios[0].params.run
    k = shared_months(scenarios)
    per_run = run.burn_in + run.months
    simulated_alone, simulated_forked = len(scenarios) * per_run, (run.burn_in + k if k else 0) + len(scenarios) * (
        run.months - k if k else per_run)
    print(f"{len(scenarios)} scenarios x {args.borrowers:,} borrowers x ({run.burn_in} burn-in + {run.months}) "
          f"months; {k} recorded months shared", flush=True)
    t0 = time.perf_counter()
    alone = [run_model(s, args.seed) for s in scenarios]
    t1 = time.perf_counter()
    forked = run_forked(scenarios, args.seed)
    t2 = time.perf_counter()
    identical = True
    for a, f in zip(alone, forked, strict=True):
        for name in a.tables:
            try:
                pd.testing.assert_frame_equal(a.tables[name], f.tables[name], check_exact=True)
            except AssertionError:
                identical = False
    print(f"independent {t1 - t0:8.2f} s ({simulated_alone} months simulated)")
    print(f"forked      {t2 - t1:8.2f} s ({simulated_forked} months simulated)")
    print(f"speed-up {(t1 - t0) / (t2 - t1):.2f}x (ideal {simulated_alone / simulated_forked:.2f}x); "
          f"tables identical: {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
