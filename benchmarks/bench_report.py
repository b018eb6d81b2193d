"""Time of ``zhudai report`` on a stored comparison, excluding the simulations: the bar is 30 s on 2 cores for the
7-scenario reference comparison (200 000 borrowers, 5 replicates).

    python benchmarks/bench_report.py [DIR] [--repeats 3] [--bar 30]

DIR defaults to runs/reference under the repository when it holds a batch;
otherwise a small store is built first (the 7 shipped scenarios of the reference comparison, 2 replicates of
2 000 borrowers, one worker: a few minutes) and the benchmark says so, since its time is then not the bar's.

Each repeat runs the report in a fresh Python process (as the command does: imports, matplotlib's start-up and
every figure included) into a temporary directory, and times the whole process and its steps (the messages
:func:`experiments.analysis.report.write_report` gives at the start of each: load the store, draw the figures,
compute the tables and summary.csv, build the document and write report.md, write report.html). Prints each
repeat, the median, and PASS/FAIL against the bar; exits 1 on FAIL. Other load on the machine counts in the time:
say so when quoting a figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (ROOT / "runs" / "reference",)
SCENARIOS = ("baseline-2024", "new-rules-2025", "full-tightening-2026", "cap-20", "cap-12", "whitelist-only",
             "cap-only")
STEPS = ("loading the store", "drawing figures", "computing the tables", "writing report.md",
         "writing report.html")
SHORT = {"loading the store": "load", "drawing figures": "figures", "computing the tables": "tables",
         "writing report.md": "report.md", "writing report.html": "html"}


def child(directory: str, out: str) -> int:
    """One report in this process; prints the steps' start times (seconds from process start) as JSON."""
    t0 = time.perf_counter()
    from experiments.analysis.report import write_report

    marks = {"imports": time.perf_counter() - t0}
    write_report(directory, out, progress=lambda msg: marks.__setitem__(msg, time.perf_counter() - t0))
    marks["end"] = time.perf_counter() - t0
    print(json.dumps(marks))
    return 0


def phases(marks: dict[str, float]) -> dict[str, float]:
    """Seconds per step from the marks :func:`child` prints: each step runs until the next one starts."""
    order = ["imports", *[s for s in STEPS if s in marks], "end"]
    out = {"imports": marks["imports"]}
    for here, nxt in itertools.pairwise(order[1:]):
        out[SHORT.get(here, here)] = marks[nxt] - marks[here]
    return out


def find_store(given: Path | None) -> Path | None:
    if given is not None:
        return given
    return next((c for c in CANDIDATES if (c / "manifest.json").is_file()), None)


def build_small_store(out: Path) -> Path:
    from experiments.engine.batch import run_batch
    from experiments.engine.design import Design

    design = Design(scenarios=SCENARIOS, replications=2, borrowers=2_000)
    outcome = run_batch(design.resolve(), out, workers=1, progress=False)
    if outcome.status != "complete":
        raise SystemExit(f"building the small store did not complete: {outcome.status}")
    return out


def one_repeat(store: Path, tmp: Path, i: int) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", str(store), str(tmp / f"report-{i}")],
                          capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"report failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return wall, phases(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(*argv[1:3])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory", nargs="?", type=Path, help="a batch directory (default: the reference comparison)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bar", type=float, default=30.0, help="seconds (default 30)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = find_store(args.directory)
        if store is None:
            print("no stored reference comparison found: building a small one (7 scenarios x 2 replicates x 2,000 "
                  "borrowers); its time is NOT the 200k-borrower reference's")
            store = build_small_store(tmp / "store")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"report of {store} ({os.cpu_count()} cores, load average {load:.2f} at start), "
              f"{args.repeats} repeat(s), each in a fresh process")
        rows = [one_repeat(store, tmp, i) for i in range(args.repeats)]
    names = list(rows[0][1])
    print(f"{'repeat':>6} {'total':>7} " + " ".join(f"{n:>9}" for n in names))
    for i, (wall, split) in enumerate(rows):
        print(f"{i + 1:>6} {wall:7.2f} " + " ".join(f"{split.get(n, float('nan')):9.2f}" for n in names))
    median = statistics.median(w for w, _ in rows)
    medians = {n: statistics.median(s.get(n, float("nan")) for _, s in rows) for n in names}
    print(f"{'median':>6} {median:7.2f} " + " ".join(f"{medians[n]:9.2f}" for n in names))
    verdict = "PASS" if median <= args.bar else "FAIL"
    print(f"{verdict}: median {median:.1f} s against the bar of {args.bar:.0f} s (seconds; 'total' is the whole "
          "process, the steps are inside it)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
