"""The EMA adapter's parameter checks and replicate seeds, which need no ema_workbench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from experiments.analysis.ema import (
    DEFAULT_LEVERS,
    DEFAULT_SWITCHES,
    SWITCH,
    EMAInputError,
    check_parameters,
    parameter_spec,
    replicate_seeds,
)
from experiments.engine.design import Design
from model.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_each_key_gets_the_ema_class_of_its_schema_type():
    specs = check_parameters(
        {
            "policy.rate_cap.apr": (0.12, 0.36),
            "policy.whitelist.max_partners": (0, 20),
            "policy.whitelist.enabled": SWITCH,
            "policy.payment_crackdown.start": ["2026-04", "2026-06"],
            "policy.whitelist.partner_cost": [1.0, 3.0, 6.0],
        },
        {"borrowers.shadow_prob_refinance": (0.2, 0.6)},
    )
    kinds = {s.key: (s.kind, s.domain) for s in specs}
    assert kinds == {
        "policy.rate_cap.apr": ("real", (0.12, 0.36)),
        "policy.whitelist.max_partners": ("integer", (0, 20)),
        "policy.whitelist.enabled": ("boolean", (False, True)),
        "policy.payment_crackdown.start": ("categorical", ("2026-04", "2026-06")),
        "policy.whitelist.partner_cost": ("categorical", (1.0, 3.0, 6.0)),
        "borrowers.shadow_prob_refinance": ("real", (0.2, 0.6)),
    }
    assert [s.name for s in specs][:2] == ["policy__rate_cap__apr", "policy__whitelist__max_partners"]


def test_the_default_levers_include_the_three_switches_of_the_rules():
    assert set(DEFAULT_SWITCHES) == {
        "policy.whitelist.enabled",
        "policy.rate_cap.fees_included",
        "policy.payment_crackdown.enabled",
    }
    specs = {s.key: s.kind for s in check_parameters(DEFAULT_LEVERS, {})}
    assert {k for k, kind in specs.items() if kind == "boolean"} == set(DEFAULT_SWITCHES)
    assert specs["policy.rate_cap.apr"] == "real"


@pytest.mark.parametrize(
    ("key", "spec", "role", "message"),
    [
        ("policy.rate_cap.aprr", (0.1, 0.2), "lever", r"'policy.rate_cap.aprr': unknown parameter key \(did you mean"),
        ("policy.rate_cap.apr", (0.1, 1.5), "lever", r"1.5 is outside the schema's range \[1e-09, 1.0\]"),
        ("policy.rate_cap.apr", (0.3, 0.2), "lever", r"range \(0.3, 0.2\) is empty"),
        ("policy.rate_cap.apr", ["a", 0.2], "lever", r"category 'a' is not a number"),
        ("policy.rate_cap.apr", [0.2], "lever", "at least two distinct values"),
        ("policy.whitelist.max_partners", (0, 2.5), "lever", "must be two integers"),
        ("policy.whitelist.enabled", (0, 1), "lever", r"on/off switch takes SWITCH = \(False, True\)"),
        ("policy.payment_crackdown.start", ("2026-04", "2026-06"), "lever", "takes a list of categories"),
        ("policy.balance_freeze.kinds", ["trust"], "lever", "list-valued key cannot be sampled"),
        ("borrowers.shadow_prob_refinance", (0.2, 0.6), "lever", "not a policy lever"),
        ("policy.rate_cap.apr", (0.1, 0.2), "uncertainty", "a policy lever in model/params.py"),
    ],
)
def test_bad_specifications_are_value_errors_naming_key_and_problem(key, spec, role, message):
    checked, problems = parameter_spec(key, spec, role)
    assert checked is None
    assert any(key in p for p in problems)
    tables = ({key: spec}, {}) if role == "lever" else ({}, {key: spec})
    with pytest.raises(ValueError, match=message) as err:
        check_parameters(*tables)
    assert isinstance(err.value, EMAInputError) and isinstance(err.value, ConfigError)


def test_every_problem_is_reported_at_once():
    with pytest.raises(EMAInputError) as err:
        check_parameters(
            {"policy.nope": (0, 1), "policy.rate_cap.apr": (0.0, 2.0)}, {"policy.rate_cap.apr": (0.1, 0.2)}
        )
    text = str(err.value)
    assert "policy.nope" in text and "outside the schema's range" in text and "both a lever and an uncertainty" in text
    # the unknown key, both ends of the range, the lever passed as an uncertainty, the key given twice
    assert len(err.value.problems) == 5


def test_replicate_seeds_are_the_batch_seeds_and_do_not_depend_on_the_count():
    design = Design(scenarios=("baseline",), root_seed=123, replications=3)
    assert replicate_seeds(123, 3) == design.seeds()
    assert replicate_seeds(123, 2) == design.seeds()[:2]
    assert len(set(replicate_seeds(123, 3))) == 3
    assert replicate_seeds(124, 3) != design.seeds()


def test_the_adapter_imports_without_ema_workbench():
    code = (
        "import sys; sys.modules['ema_workbench'] = None\n"
        "import experiments.analysis.ema as ema, experiments.analysis.ema_example\n"
        "try:\n"
        "    ema.make_ema_model('new-rules-2025')\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "needs the optional 'ema' dependencies: pip install -c constraints.txt -e \".[ema]\"" in out.stdout
