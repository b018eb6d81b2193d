"""Faults a batch must survive, and exact reproduction of stored runs (``zhudai rerun``).

The other faults (a worker killed with SIGKILL, an exception inside a run, Ctrl-C, the whole batch killed) are
tested in ``tests/integration/test_batch.py``. This file adds a full output location (a write error in the
middle of storing a run) and the rerun guarantee.
"""

from __future__ import annotations

import contextlib
import errno
import io
from pathlib import Path

import pandas as pd
import pytest

from experiments.cli.main import main
from experiments.store import batch_dir
from experiments.store.batch_dir import read_store

BATCH = ["compare", "baseline-2024", "new-rules-2025", "--replications", "2", "--borrowers", "1500",
         "--months", "4", "--set", "run.burn_in=0", "--workers", "1", "--quiet"]


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _tables(directory: Path) -> dict[str, pd.DataFrame]:
    store = read_store(directory)
    keys = {"model": ["run_id", "step"], "platforms": ["run_id", "step", "platform_id"],
            "funders": ["run_id", "step", "funder_id"]}
    return {name: store[name].sort_values(k).reset_index(drop=True) for name, k in keys.items()}


def test_full_disk_mid_run_loses_nothing_and_a_rerun_completes(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    assert run_main([*BATCH, "--out", str(reference)])[0] == 0

    out = tmp_path / "disk-full"
    real = batch_dir.write_partition
    calls = {"n": 0}

    def failing(df, path):
        calls["n"] += 1
        if calls["n"] == 6:  # the second run's platforms table: the first run is complete, the second half-stored
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(df, path)

    monkeypatch.setattr(batch_dir, "write_partition", failing)
    code, _, err = run_main([*BATCH, "--out", str(out)])
    assert code == 1
    assert "No space left on device" in err and "Traceback" not in err
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []
    assert read_store(out)["runs"]["status"].tolist() == ["ok"]  # the finished run is kept, nothing half-recorded

    monkeypatch.setattr(batch_dir, "write_partition", real)
    code, _, err = run_main([*BATCH, "--out", str(out)])
    assert code == 0, err
    got, want = _tables(out), _tables(reference)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name])


def test_rerun_reproduces_a_single_run_and_a_batch_run(tmp_path):
    single = tmp_path / "single"
    assert run_main(["run", "new-rules-2025", "--borrowers", "2000", "--months", "5", "--seed", "9",
                     "--set", "run.burn_in=2", "--quiet", "--out", str(single)])[0] == 0
    code, out, _ = run_main(["rerun", str(single)])
    assert code == 0 and "exactly" in out

    batch = tmp_path / "batch"
    assert run_main([*BATCH, "--out", str(batch)])[0] == 0
    run_id = read_store(batch)["runs"]["run_id"].iloc[0]
    code, out, _ = run_main(["rerun", str(batch / run_id)])
    assert code == 0 and run_id in out and "exactly" in out
    assert run_main(["rerun", str(batch), "--run", run_id])[0] == 0


def test_rerun_detects_a_tampered_table(tmp_path):
    single = tmp_path / "single"
    assert run_main(["run", "baseline-2024", "--borrowers", "1500", "--months", "4", "--set", "run.burn_in=0",
                     "--quiet", "--out", str(single)])[0] == 0
    model = pd.read_parquet(single / "model.parquet")
    model.loc[2, "hhi"] += 1.0
    model.to_parquet(single / "model.parquet")
    code, out, err = run_main(["rerun", str(single)])
    assert code == 1
    assert "model" in err and "'hhi'" in err and "step 3" in err and "did NOT reproduce" in out


@pytest.mark.parametrize("target", ["missing-dir", "batch/no-such-run", "batch"])
def test_rerun_bad_targets_exit_2(tmp_path, target):
    batch = tmp_path / "batch"
    assert run_main([*BATCH[:3], "--replications", "1", *BATCH[5:], "--out", str(batch)])[0] == 0
    code, _, err = run_main(["rerun", str(tmp_path / target)])
    assert code == 2 and err.startswith("zhudai:") and "Traceback" not in err
