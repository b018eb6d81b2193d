"""``zhudai scale-check`` end to end at toy sizes: one resumable batch per size, the table and its files."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.cli.main import main

TOY = ["--sizes", "600", "1200", "--replications", "2", "--months", "3", "--set", "run.burn_in=0",
       "--set", "run.start=2025-09", "--workers", "1", "--quiet"]


def test_scale_check_writes_the_comparison_and_resumes(tmp_path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "scale"
    status = main(["scale-check", *TOY, "--out", str(out)])
    assert status in (0, 1)  # 1: an outcome misses the bar at the toy size, which is a finding, not an error
    printed = capsys.readouterr().out
    assert "**baseline-2024**" in printed and "**new-rules-2025**" in printed
    comparison = pd.read_csv(out / "scale_check.csv")
    assert set(comparison["borrowers"]) == {600, 1200}
    assert set(comparison["scenario"]) == {"baseline-2024", "new-rules-2025"}
    # The largest size is the reference: it passes every outcome by construction.
    assert comparison.loc[comparison["borrowers"] == 1200, "ok"].all()
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2 * 2 * 2
    assert (out / "n600" / "manifest.json").is_file() and (out / "n1200" / "manifest.json").is_file()
    # Rerunning resumes: nothing left to run, the same table.
    assert main(["scale-check", *TOY, "--out", str(out)]) == status
    pd.testing.assert_frame_equal(pd.read_csv(out / "scale_check.csv"), comparison)


@pytest.mark.parametrize("sizes", [["1000"], ["1000", "1000"]])
def test_one_size_is_refused_cleanly(tmp_path, capsys: pytest.CaptureFixture[str], sizes):
    assert main(["scale-check", "--sizes", *sizes, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "at least two different population sizes" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_zero_borrowers_is_refused_cleanly(tmp_path, capsys: pytest.CaptureFixture[str]):
    assert main(["scale-check", "--sizes", "0", "1000", "--out", str(tmp_path / "s")]) == 2
    assert "must be at least 1" in capsys.readouterr().err
