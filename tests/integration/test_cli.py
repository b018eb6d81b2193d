"""End-to-end tests of the ``zhudai`` command line: exit statuses, messages, and the files a run writes.

Runs are tiny (2,000 borrowers, 3 months) and share one module-level run where they only read it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import mesa
import pandas as pd
import pytest

import experiments
from experiments.cli import exits
from experiments.cli import run as cli_run
from experiments.cli.main import main
from model.config import list_scenarios, render_baseline_toml, render_param_table
from model.lending import LendingModel
from model.output import FUNDER_COLUMNS, MODEL_COLUMNS, PLATFORM_COLUMNS, SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "new-rules-2025"
TINY = ["--borrowers", "2000", "--months", "3"]
RUN_FILES = {"model.parquet", "platforms.parquet", "funders.parquet", "manifest.json"}


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured, for fixtures that cannot use capsys."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, int, str, str]:
    out = tmp_path_factory.mktemp("cli") / "run"
    code, stdout, stderr = run_main(["run", SCENARIO, *TINY, "--seed", "7", "--out", str(out)])
    return out, code, stdout, stderr


# ---------------------------------------------------------------------------------------- scenarios
def test_scenarios_lists_every_shipped_name(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    names = [name for name, _ in list_scenarios()]
    assert SCENARIO in names
    starts = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert starts == names
    assert all(len(line) <= exits.MAX_WIDTH for line in out.splitlines())


# -------------------------------------------------------------------------------------------- check
def test_check_ok_prints_one_line(capsys):
    assert main(["check", SCENARIO, "--borrowers", "2000"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"OK {SCENARIO}: start 2024-01, 48 months")
    assert "2,000 borrowers" in out[0]


def test_check_with_bad_set_names_every_key(capsys):
    code = main(["check", SCENARIO, "--set", "policy.rate_cap.apr=9", "--set", "run.borrowrs=5"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("zhudai: ")
    assert "policy.rate_cap.apr" in err and "run.borrowrs" in err
    assert "Traceback" not in err


def test_months_option_is_applied_after_set(capsys):
    assert main(["check", SCENARIO, "--set", "run.months=10", "--months", "4"]) == 0
    assert "4 months" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["check", "run"])
def test_unknown_scenario_exits_2(command, tmp_path, capsys):
    extra = ["--out", str(tmp_path / "out")] if command == "run" else []
    assert main([command, "no-such-scenario", *extra]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'no-such-scenario'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--set", "run.months"], "dotted.key=value"),
        (["--set", "=3"], "dotted.key=value"),
        (["--seed", "-1"], "--seed"),
        (["--borrowers", "-5"], "--borrowers"),
        (["--months", "0"], "--months"),
        (["--seed", "abc"], "--seed"),
    ],
)
def test_bad_run_options_exit_2_before_running(args, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(LendingModel, "__init__", _must_not_run)
    out = tmp_path / "out"
    assert main(["run", SCENARIO, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert err.count("error:") == 1
    assert not out.exists()


def test_missing_out_is_a_usage_error(capsys):
    assert main(["run", SCENARIO]) == 2
    assert "--out" in capsys.readouterr().err


def test_help_documents_exit_statuses(capsys):
    assert main(["--help"]) == 0
    assert "exit statuses" in capsys.readouterr().out
    assert main(["run", "--help"]) == 0
    assert "130" in capsys.readouterr().out


def test_params_prints_baseline_toml_or_table(capsys):
    assert main(["params"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == render_baseline_toml().rstrip("\n")
    assert main(["params", "--markdown"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == render_param_table().rstrip("\n")
    assert main(["params", "--toml", "--markdown"]) == 2


# ---------------------------------------------------------------------------------------------- run
def _must_not_run(self, *args, **kwargs):
    raise AssertionError("the model must not be built for bad input")


def test_run_writes_contract_tables_and_manifest(tiny_run):
    out, code, _, stderr = tiny_run
    assert code == 0, stderr
    assert {p.name for p in out.iterdir()} == RUN_FILES

    model = pd.read_parquet(out / "model.parquet")
    platforms = pd.read_parquet(out / "platforms.parquet")
    funders = pd.read_parquet(out / "funders.parquet")
    assert set(MODEL_COLUMNS) <= set(model.columns)
    assert set(PLATFORM_COLUMNS) <= set(platforms.columns)
    assert set(FUNDER_COLUMNS) <= set(funders.columns)

    assert len(model) == 3
    assert list(model["step"]) == [1, 2, 3]
    assert list(model["date"]) == ["2024-01", "2024-02", "2024-03"]
    assert sorted(platforms["date"].unique()) == list(model["date"])
    assert sorted(funders["date"].unique()) == list(model["date"])


def test_run_below_the_supported_size_warns_once(tiny_run):
    """2,000 borrowers is below the size the scale check supports: one warning on stderr, and the run goes on."""
    _out, code, _stdout, stderr = tiny_run
    assert code == 0
    assert stderr.count("warning: 2,000 borrowers is below") == 1


def test_run_manifest_describes_the_run(tiny_run):
    out, code, _, stderr = tiny_run
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["scenario"] == SCENARIO
    assert manifest["source"].endswith(f"{SCENARIO}.toml")
    assert manifest["description"]
    assert manifest["overrides"] == ["run.borrowers=2000", "run.months=3"]
    assert (manifest["seed"], manifest["borrowers"], manifest["months"]) == (7, 2000, 3)
    assert (manifest["first_month"], manifest["last_month"]) == ("2024-01", "2024-03")
    assert manifest["resolved"]["run"] == {"start": "2024-01", "months": 3, "burn_in": 60, "burn_in_reviews": 24,
                                          "borrowers": 2000, "population": 100_000_000.0}
    assert manifest["resolved"]["policy"]["rate_cap"]["apr"] == 0.24
    started = datetime.fromisoformat(manifest["started_at"])
    finished = datetime.fromisoformat(manifest["finished_at"])
    assert started.utcoffset().total_seconds() == 0
    assert started <= finished and manifest["elapsed_seconds"] >= 0
    assert set(manifest["versions"]) >= {"python", "platform", "zhudai-abm", "mesa", "numpy", "pandas", "pyarrow"}
    assert manifest["version"] == manifest["versions"]["zhudai-abm"] == experiments.__version__
    assert "git" in manifest
    assert manifest["argv"][:3] == ["zhudai", "run", SCENARIO]
    assert manifest["tables"]["model"] == {"file": "model.parquet", "rows": 3}
    # Every contract column is documented beside the data.
    assert set(manifest["columns"]["model"]) >= set(MODEL_COLUMNS)
    assert set(manifest["columns"]["funders"]["kind"]) == {"unit", "meaning"}


def test_run_prints_a_summary_within_100_columns(tiny_run):
    out, code, stdout, _ = tiny_run
    assert code == 0
    lines = stdout.splitlines()
    # Only the line naming the output directory may be longer: its length is the user's choice.
    assert all(len(line) <= exits.MAX_WIDTH for line in lines if str(out) not in line)
    assert ["month", "2024-01", "2024-03"] in [line.split() for line in lines]
    assert ["first", "last"] in [line.split() for line in lines]
    for label in ("active_platforms", "head_share", "hhi", "cr5", "avg_apr_new", "npl_ratio", "spiral_share"):
        assert any(line.startswith(label) for line in lines), label
    assert str(out) in stdout


def test_run_refuses_an_existing_run_without_overwrite(tiny_run, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", SCENARIO, *TINY, "--quiet", "--out", str(out)]) == 0
    before = snapshot(out)
    capsys.readouterr()

    assert main(["run", SCENARIO, *TINY, "--seed", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite" in err
    assert snapshot(out) == before

    assert main(["run", SCENARIO, *TINY, "--seed", "2", "--quiet", "--overwrite", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2


def test_run_refuses_a_directory_with_only_a_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(LendingModel, "__init__", _must_not_run)
    (tmp_path / "funders.parquet").write_bytes(b"earlier")
    assert main(["run", SCENARIO, *TINY, "--out", str(tmp_path)]) == 2
    assert "funders.parquet" in capsys.readouterr().err


def test_run_refuses_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["run", SCENARIO, *TINY, "--out", str(tmp_path / "f")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_same_seed_gives_identical_tables(tiny_run, tmp_path):
    out, code, _, _ = tiny_run
    assert code == 0
    again = tmp_path / "again"
    assert main(["run", SCENARIO, *TINY, "--seed", "7", "--quiet", "--out", str(again)]) == 0
    for name in ("model", "platforms", "funders"):
        file = f"{name}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(again / file), pd.read_parquet(out / file))


def test_run_releases_mesa_agent_registry(tmp_path):
    ids = getattr(mesa.Agent, "_ids", None)
    if not isinstance(ids, dict):
        pytest.skip("this Mesa version keeps no class-level agent registry")
    before = {id(key) for key in ids}
    assert main(["run", SCENARIO, *TINY, "--quiet", "--out", str(tmp_path / "r")]) == 0
    assert not [key for key in ids if id(key) not in before and isinstance(key, LendingModel)]


# ------------------------------------------------------------------------------ failures and Ctrl-C
def test_model_exception_exits_1_with_error_log_and_no_tables(tmp_path, capsys, monkeypatch):
    def boom(self):
        raise RuntimeError("boom in month")

    monkeypatch.setattr(LendingModel, "step", boom)
    out = tmp_path / "run"
    assert main(["run", SCENARIO, *TINY, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "zhudai: run failed: RuntimeError: boom in month" in err
    assert "Traceback" not in err
    assert str(out / "error.log") in err
    assert {p.name for p in out.iterdir()} == {"error.log"}
    log = (out / "error.log").read_text()
    assert "Traceback" in log and "RuntimeError: boom in month" in log and "seed: 1" in log


def test_model_exception_leaves_an_earlier_run_untouched(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["run", SCENARIO, *TINY, "--quiet", "--out", str(out)]) == 0
    before = snapshot(out)

    monkeypatch.setattr(LendingModel, "step", lambda self: 1 / 0)
    assert main(["run", SCENARIO, *TINY, "--overwrite", "--out", str(out)]) == 1
    after = snapshot(out)
    assert after.pop("error.log")
    assert after == before

    # A later successful run removes the stale log, which would otherwise describe a run not in DIR.
    monkeypatch.undo()
    assert main(["run", SCENARIO, *TINY, "--quiet", "--overwrite", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES


def test_keyboard_interrupt_exits_130_and_writes_nothing(tmp_path, capsys, monkeypatch):
    calls = []

    def interrupt(self):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(LendingModel, "step", interrupt)
    out = tmp_path / "run"
    assert main(["run", SCENARIO, *TINY, "--out", str(out)]) == 130
    assert "interrupted; nothing written" in capsys.readouterr().err
    assert not out.exists()


def test_interrupt_leaves_an_earlier_run_untouched(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["run", SCENARIO, *TINY, "--quiet", "--out", str(out)]) == 0
    before = snapshot(out)

    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(LendingModel, "step", interrupt)
    assert main(["run", SCENARIO, *TINY, "--overwrite", "--out", str(out)]) == 130
    assert snapshot(out) == before


# ------------------------------------------------------------------------------------------- summary
def test_summary_picks_first_pre_rules_and_last_month():
    dates = ["2025-07", "2025-08", "2025-09", "2025-10", "2025-11"]
    table = pd.DataFrame({"date": dates, "step": range(1, 6)})
    assert list(cli_run.summary_rows(table)["date"]) == ["2025-07", "2025-09", "2025-11"]
    assert list(cli_run.summary_rows(table.iloc[:3])["date"]) == ["2025-07", "2025-09"]
    assert list(cli_run.summary_rows(table.iloc[:1])["date"]) == ["2025-07"]


# ---------------------------------------------------------------------------------------- subprocess
def test_python_m_experiments_exit_statuses(tmp_path):
    """The real entry point: no traceback on success or on refusal, and the documented exit statuses."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "experiments", "run", SCENARIO, *TINY, "--out", str(out)]

    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr + first.stdout
    assert {p.name for p in out.iterdir()} == RUN_FILES

    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert again.returncode == 2
    assert again.stderr.startswith("zhudai: ") and "Traceback" not in again.stderr

    bad = subprocess.run(
        [sys.executable, "-m", "experiments", "check", SCENARIO, "--set", "run.months=0"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert bad.returncode == 2
    assert "run.months" in bad.stderr and "Traceback" not in bad.stderr
