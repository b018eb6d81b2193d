"""``zhudai validate`` end to end on a reduced design (2 replicates, 30k borrowers, 2 workers)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from experiments.analysis.validation import load_targets


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate") / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments", "validate", "--replications", "2", "--borrowers", "30000",
         "--workers", "2", "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    return proc, out


def test_table_names_every_target(validated):
    proc, _ = validated
    assert proc.returncode in (0, 1), proc.stderr
    for t in load_targets():
        assert f"] {t.name}\n" in proc.stdout, t.name
    assert "Traceback" not in proc.stderr


def test_outputs_written_and_consistent_with_exit_code(validated):
    proc, out = validated
    csv = pd.read_csv(out / "validation.csv")
    md = (out / "validation.md").read_text(encoding="utf-8")
    names = [t.name for t in load_targets()]
    assert list(csv["target"]) == names
    assert set(csv["status"]) <= {"PASS", "WARN", "FAIL"}
    assert (csv["replications"] == 2).all()
    for name in names:
        assert f"| {name} |" in md
    assert proc.returncode == (1 if (csv["status"] == "FAIL").any() else 0)


def test_rerun_resumes_without_running(validated):
    proc, out = validated
    again = subprocess.run(
        [sys.executable, "-m", "experiments", "validate", "--replications", "2", "--borrowers", "30000",
         "--workers", "2", "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert again.returncode == proc.returncode
    assert "0 this session, 10 already there" in again.stderr


def test_bad_targets_file_exits_2(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text("[[target]]\nname = 'x'\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "experiments", "validate", "--targets", str(bad),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("zhudai: targets") and "missing 'metric'" in proc.stderr
    assert "Traceback" not in proc.stderr
