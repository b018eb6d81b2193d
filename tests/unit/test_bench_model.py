"""The throughput benchmark's targets (benchmarks/bench_model.py ``bars``): which apply at which size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "bench_model", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_model.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def _row(borrowers, bms, peak_mb, total_s, months=48):
    return {"borrowers": borrowers, "borrower_months_per_s": bms, "peak_mb": peak_mb, "total_s": total_s,
            "months": months}


def test_at_1m_speed_and_memory_bars_apply():
    assert bench.bars(_row(1_000_000, 3_300_000, 500.0, 33.0)) == [(">= 3M borrower-months/s", True),
                                                                  ("<= 600 MB peak", True)]
    assert [met for _, met in bench.bars(_row(1_000_000, 2_900_000, 650.0, 40.0))] == [False, False]


def test_at_10m_speed_bytes_and_the_five_minute_bars_apply():
    # 3,443 MB over 10M borrowers is 361 bytes each; 360 s misses the five minutes.
    got = dict(bench.bars(_row(10_000_000, 3_000_000, 3443.0, 360.0)))
    assert got == {">= 2.5M borrower-months/s": True, "<= 400 bytes per borrower": True,
                   "48 months with burn-in in < 5 min": False}
    assert "48 months with burn-in in < 5 min" not in dict(bench.bars(_row(10_000_000, 3e6, 3443.0, 100.0, 12)))


def test_no_bar_at_other_sizes():
    assert bench.bars(_row(100_000, 2_800_000, 200.0, 4.0)) == []
