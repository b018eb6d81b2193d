"""The rules' start month comes from the scenario (experiments/analysis/rules.py), in every window and label."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from experiments.analysis.report import load_report_data
from experiments.analysis.rules import rules_start
from experiments.cli import run as cli_run
from experiments.cli.main import main
from model.config import load_scenario
from model.params import Params


def test_rules_start_is_the_scenarios_rate_cap_start():
    assert rules_start("new-rules-2025") == load_scenario("new-rules-2025").params.policy.rate_cap.start
    assert rules_start("new-rules-2025", ["policy.rate_cap.start=2026-01"]) == "2026-01"
    scenario = load_scenario("full-tightening-2026", ["policy.rate_cap.start=2025-12"])
    assert rules_start(scenario) == "2025-12"
    assert rules_start() == dataclasses.asdict(Params())["policy"]["rate_cap"]["start"]


def test_run_summary_marks_the_month_before_the_scenarios_rules():
    # A start before the scenario's 2025-04 announcement needs the announcement moved too (model/config.py).
    scenario = load_scenario("new-rules-2025", ["policy.rate_cap.start=2024-03", "policy.rate_cap.announced=2024-03",
                                                "run.months=4"])
    table = pd.DataFrame({"date": ["2024-01", "2024-02", "2024-03", "2024-04"], "step": range(1, 5)})
    assert list(cli_run.summary_rows(table, rules_start(scenario))["date"]) == ["2024-01", "2024-02", "2024-04"]
    text = cli_run.render_summary(table, scenario, 1, 0.1)
    assert "pre-rules" in text.splitlines()[2]


def test_sensitivity_window_defaults_to_the_scenarios_rules(tmp_path, capsys: pytest.CaptureFixture[str]):
    argv = ["sensitivity", "new-rules-2025", "--method", "morris", "--param", "pricing.leverage_sensitivity=1,5",
            "--months", "2", "--set", "policy.rate_cap.start=2024-05", "--set", "policy.rate_cap.announced=2024-05",
            "--out", str(tmp_path / "s"), "--quiet"]
    assert main(argv) == 2
    assert "before --from 2024-05" in capsys.readouterr().err


def test_report_takes_the_rules_month_from_the_stored_scenarios(tmp_path):
    out = tmp_path / "b"
    assert main(["compare", "new-rules-2025", "--replications", "1", "--borrowers", "1500", "--months", "2",
                 "--set", "run.burn_in=0", "--set", "policy.rate_cap.start=2024-02",
                 "--set", "policy.rate_cap.announced=2024-02", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    assert load_report_data(out).rules_month == "2024-02"


def test_first_announcement_is_the_earliest_announced_rule_or_none():
    """new-rules-2025 announces its rules in 2025-04; baseline-2024 announces nothing ahead."""
    from experiments.analysis.rules import first_announcement
    from model.config import load_scenario

    assert first_announcement(load_scenario("new-rules-2025")) == "2025-04"
    assert first_announcement(load_scenario("baseline-2024")) is None
    later = load_scenario("new-rules-2025", ["policy.whitelist.announced=2025-06", "policy.rate_cap.announced=2025-02"])
    assert first_announcement(later) == "2025-02"
