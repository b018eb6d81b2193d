"""The naive one-agent-per-borrower model of benchmarks/bench_naive.py keeps its books (no timing)."""

from __future__ import annotations

import pytest

from benchmarks.bench_naive import MISSES_TO_DEFAULT, NaiveBorrower, NaiveLender, NaiveModel, annual_pd


def test_naive_model_bookkeeping_over_three_months():
    m = NaiveModel(200, seed=3)
    m.hazard_multiplier = 20.0  # enough shocks in 3 months for defaults to be possible
    for _ in range(3):
        m.step()
        borrowers = list(m.agents_by_type[NaiveBorrower])
        assert len(borrowers) == 200 == len(m.borrowers)
        assert len(m.agents_by_type[NaiveLender]) == 158
        for b in borrowers:
            assert b.balance >= 0.0
            assert b.savings >= 0.0
            if b.defaulted:
                assert b.missed_at_default >= MISSES_TO_DEFAULT
                assert b.balance == 0.0 and b.lender is None
            else:
                assert b.missed < MISSES_TO_DEFAULT
            assert (b.balance > 0.0) == (b.lender is not None)
    for lender in m.lenders:
        assert 0.0 <= lender.budget <= lender.monthly_budget


def test_annual_pd_matches_the_full_model_formula():
    np = pytest.importorskip("numpy")
    from model.mechanisms.pricing import annual_pd as full_pd

    for h, dsti in ((0.004, 0.1), (0.04, 0.5), (0.3, 2.0)):
        assert annual_pd(h, dsti, 3.0) == pytest.approx(float(full_pd(np.array(h), np.array(dsti), 3.0)))


def test_the_main_job_benchmark_runs_the_readme_quick_start_scenarios():
    """``bench_naive.py --main-job`` times the README's main job: the same scenarios as its quick-start command."""
    from pathlib import Path

    from benchmarks.bench_naive import MAIN_JOB

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "zhudai compare" in line and "--out runs/reference" in line)
    words = command.split("zhudai compare", 1)[1].split()
    assert tuple(words[:words.index("--replications")]) == MAIN_JOB
