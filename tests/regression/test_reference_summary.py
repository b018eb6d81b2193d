"""The committed small reference summary (results/reference/summary_small.csv) reproduces.

It was produced by the command in results/reference/README.md::

    zhudai compare baseline-2024 new-rules-2025 --replications 1 --borrowers 2000 --seed 20251001 \\
        --out /tmp/ref-small --report

and copied from /tmp/ref-small/report/summary.csv. A change to the model that moves it must explain why and
regenerate both reference summaries (the full one with the README's quick-start command).

Tolerance: a relative 1e-9 (and 1e-12 absolute, for values at zero). Within one environment a run is
bit-identical (``tests/integration`` checks same-seed determinism exactly); across platforms and library
versions (numpy, pandas, BLAS) sums and quantiles can differ in their last bits, which this tolerance absorbs
while any change of the model's behaviour (a draw, a rule, a parameter) moves values by far more. Installing
from ``constraints.txt`` (as the quick start and ``.ci/run`` do) pins those versions.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from experiments.analysis.report import DEFAULT_REFERENCE, load_report_data, outcome_summary
from experiments.engine.batch import run_batch
from experiments.engine.design import Design

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "reference"
REL_TOL = 1e-9
ABS_TOL = 1e-12


def test_small_reference_summary_reproduces(tmp_path: Path) -> None:
    design = Design(scenarios=("baseline-2024", "new-rules-2025"), replications=1, borrowers=2000,
                    root_seed=20251001)
    assert run_batch(design.resolve(), tmp_path / "batch", workers=1, progress=False).status == "complete"
    summary = outcome_summary(load_report_data(tmp_path / "batch"), DEFAULT_REFERENCE)
    got = pd.read_csv(io.StringIO(summary.to_csv(index=False)))
    expected = pd.read_csv(REFERENCE / "summary_small.csv")
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=REL_TOL,
                                  atol=ABS_TOL)


def test_committed_reference_report_is_complete() -> None:
    md = (REFERENCE / "report.md").read_text(encoding="utf-8")
    for line in md.splitlines():
        if line.startswith("!["):
            assert (REFERENCE / line.split("](")[1].rstrip(")")).is_file(), line
    summary = pd.read_csv(REFERENCE / "summary.csv")
    assert summary["runs"].min() == 5
    assert set(summary["scenario"]) == {"baseline-2024", "new-rules-2025", "full-tightening-2026", "cap-20",
                                        "cap-12", "whitelist-only", "cap-only"}
