"""Tests of the results store: atomic writes, provenance, and the layout of a run directory."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pandas as pd
import pytest

from experiments.store import common, run_dir


def _tables() -> dict[str, pd.DataFrame]:
    return {
        "model": pd.DataFrame({"step": [1, 2], "date": ["2024-01", "2024-02"], "hhi": [1200.0, 1300.0]}),
        "platforms": pd.DataFrame({"step": [1], "date": ["2024-01"], "platform_id": [7]}),
        "funders": pd.DataFrame({"step": [1], "date": ["2024-01"], "funder_id": [3], "kind": ["cfc"]}),
    }


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------------------------ atomic writes
def test_atomic_write_text_writes_content_and_no_temp_file(tmp_path):
    path = common.atomic_write_text("héllo\n", tmp_path / "a.txt")
    assert path == tmp_path / "a.txt"
    assert path.read_text(encoding="utf-8") == "héllo\n"
    assert _leftovers(tmp_path) == []


def test_atomic_write_text_replaces_existing_file(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    common.atomic_write_text("new", tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_text() == "new"


def test_atomic_write_parquet_round_trips_without_index(tmp_path):
    df = pd.DataFrame({"x": [1.5, 2.5], "date": ["2024-01", "2024-02"]}, index=[10, 20])
    common.atomic_write_parquet(df, tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True))
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failed_parquet_write_leaves_no_temp_file_and_keeps_old_file(tmp_path, monkeypatch, exc):
    target = tmp_path / "t.parquet"
    target.write_bytes(b"previous run")

    def explode(self, path, *args, **kwargs):
        # Part of the file is on disk when the failure comes: the temp file exists and must be removed.
        with open(path, "wb") as fh:
            fh.write(b"PAR1 half")
        raise exc

    monkeypatch.setattr(pd.DataFrame, "to_parquet", explode)
    with pytest.raises(type(exc)):
        common.atomic_write_parquet(pd.DataFrame({"x": [1]}), target)
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
    assert target.read_bytes() == b"previous run"


def test_failed_text_write_leaves_no_temp_file(tmp_path):
    # A lone surrogate cannot be encoded as UTF-8: the write fails after the temp file was created.
    with pytest.raises(UnicodeEncodeError):
        common.atomic_write_text("bad \ud800", tmp_path / "a.txt")
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_no_temp_file(tmp_path):
    # The destination is a non-empty directory, so os.replace fails after the content was written.
    (tmp_path / "a.txt").mkdir()
    (tmp_path / "a.txt" / "inside").write_text("x")
    with pytest.raises(OSError):
        common.atomic_write_text("text", tmp_path / "a.txt")
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------ write_run
def test_write_run_writes_tables_then_manifest(tmp_path, monkeypatch):
    order = []
    real_parquet, real_text = run_dir.atomic_write_parquet, run_dir.atomic_write_text
    monkeypatch.setattr(run_dir, "atomic_write_parquet", lambda df, p: order.append(p.name) or real_parquet(df, p))
    monkeypatch.setattr(run_dir, "atomic_write_text", lambda t, p: order.append(p.name) or real_text(t, p))

    out = tmp_path / "nested" / "run"
    paths = run_dir.write_run(out, _tables(), {"seed": 1, "scenario": "x"})

    assert order == ["model.parquet", "platforms.parquet", "funders.parquet", "manifest.json"]
    assert set(paths) == {"model", "platforms", "funders", "manifest"}
    assert json.loads((out / "manifest.json").read_text()) == {"seed": 1, "scenario": "x"}
    pd.testing.assert_frame_equal(pd.read_parquet(out / "model.parquet"), _tables()["model"])
    assert run_dir.existing_run_files(out) == ["manifest.json", "model.parquet", "platforms.parquet", "funders.parquet"]


def test_write_run_removes_old_manifest_before_replacing_tables(tmp_path, monkeypatch):
    run_dir.write_run(tmp_path, _tables(), {"seed": 1})

    def fail(df, path):
        raise OSError("disk full")

    monkeypatch.setattr(run_dir, "atomic_write_parquet", fail)
    with pytest.raises(OSError):
        run_dir.write_run(tmp_path, _tables(), {"seed": 2})
    # The old manifest no longer claims a complete run for tables that may now be mixed.
    assert not (tmp_path / "manifest.json").exists()


def test_write_run_rejects_bad_input_before_touching_the_directory(tmp_path):
    run_dir.write_run(tmp_path, _tables(), {"seed": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    with pytest.raises(KeyError, match="funders"):
        run_dir.write_run(tmp_path, {k: v for k, v in _tables().items() if k != "funders"}, {"seed": 2})
    with pytest.raises(ValueError):
        run_dir.write_run(tmp_path, _tables(), {"elapsed": float("nan")})
    with pytest.raises(TypeError):
        run_dir.write_run(tmp_path, _tables(), {"when": object()})

    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_existing_run_files_of_missing_or_empty_directory(tmp_path):
    assert run_dir.existing_run_files(tmp_path / "absent") == []
    assert run_dir.existing_run_files(tmp_path) == []
    (tmp_path / "error.log").write_text("x")
    assert run_dir.existing_run_files(tmp_path) == []


# ---------------------------------------------------------------------------------------- provenance
def test_environment_versions_has_every_key():
    versions = common.environment_versions()
    assert set(versions) == {"python", "platform", "zhudai-abm", "mesa", "numpy", "pandas", "pyarrow"}
    assert versions["pandas"] == pd.__version__
    assert versions["python"].count(".") == 2


def test_environment_versions_of_missing_distribution(monkeypatch):
    monkeypatch.setattr(common, "VERSIONED_DISTRIBUTIONS", ("no-such-distribution-zhudai",))
    assert common.environment_versions()["no-such-distribution-zhudai"] is None


def test_git_commit_outside_a_checkout_is_none(tmp_path):
    assert common.git_commit(tmp_path) is None
    assert common.git_commit(tmp_path / "does-not-exist") is None


def test_git_commit_without_git_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(common.shutil, "which", lambda name: None)
    assert common.git_commit(tmp_path) is None


def test_git_commit_when_git_cannot_start_is_none(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("exec format error")

    monkeypatch.setattr(common.subprocess, "run", broken)
    assert common.git_commit(tmp_path) is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_commit_of_a_checkout_reports_commit_and_dirty_flag(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    assert common.git_commit(tmp_path) is None  # no commit yet
    (tmp_path / "f.txt").write_text("1")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "init")

    clean = common.git_commit(tmp_path)
    assert clean is not None and clean["dirty"] is False
    assert len(clean["commit"]) == 40 and int(clean["commit"], 16) >= 0

    (tmp_path / "f.txt").write_text("2")
    dirty = common.git_commit(tmp_path)
    assert dirty == {"commit": clean["commit"], "dirty": True}


def test_written_files_follow_the_umask_not_owner_only(tmp_path):
    # Results are shared; a temp-file API that creates 0600 files would leave them unreadable to others.
    old = os.umask(0o022)
    try:
        common.atomic_write_text("x", tmp_path / "a.txt")
        common.atomic_write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "t.parquet")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "t.parquet").stat().st_mode) == 0o644
