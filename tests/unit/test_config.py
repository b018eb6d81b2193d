"""Tests for model.config: scenario loading, validation, shipped scenarios and rendering."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import tomllib
from pathlib import Path

import pytest

from model.config import (
    MAX_EXTENDS_DEPTH,
    ConfigError,
    Scenario,
    list_scenarios,
    load_scenario,
    render_baseline_toml,
    render_param_table,
    render_toml,
    scenario_dir,
    update_marked_block,
)
from model.params import Params, iter_fields

SHIPPED = (
    "baseline",
    "baseline-2024",
    "new-rules-2025",
    "full-tightening-2026",
    "cap-20",
    "cap-12",
    "whitelist-only",
    "cap-only",
)


def write(tmp_path: Path, body: str, name: str = "s.toml", extends: str | None = "baseline") -> Path:
    """A scenario file in tmp_path; extends a shipped scenario unless ``extends`` is None."""
    head = f'extends = "{extends}"\n' if extends else ""
    path = tmp_path / name
    path.write_text(head + 'description = "test"\n' + body, encoding="utf-8")
    return path


def problems_of(source: str | Path, overrides=()) -> str:
    """The message of the ConfigError that loading must raise."""
    with pytest.raises(ConfigError) as info:
        load_scenario(source, overrides)
    assert isinstance(info.value.problems, list) and info.value.problems
    return str(info.value)


# ------------------------------------------------------------------------------------ shipped files
def test_scenario_dir_holds_the_shipped_files():
    names = {p.stem for p in scenario_dir().glob("*.toml")}
    assert set(SHIPPED) <= names


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_loads(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    assert isinstance(scenario.params, Params)
    assert len(scenario.description) > 40, "each shipped scenario needs a one-paragraph description"
    assert Path(scenario.source) == scenario_dir() / f"{name}.toml"


def test_list_scenarios_is_sorted_with_descriptions():
    listed = list_scenarios()
    names = [name for name, _ in listed]
    assert names == sorted(names)
    assert set(SHIPPED) <= set(names)
    descriptions = dict(listed)
    assert descriptions["new-rules-2025"] == load_scenario("new-rules-2025").description


def test_baseline_file_equals_rendering():
    committed = (scenario_dir() / "baseline.toml").read_text(encoding="utf-8")
    assert committed == render_baseline_toml(), "regenerate baseline.toml with `zhudai params --toml`"


def test_rendered_baseline_loads_back_to_defaults(tmp_path):
    path = tmp_path / "rendered.toml"
    path.write_text(render_baseline_toml(), encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.params == Params()
    assert scenario.description.startswith("Every parameter at its default")


def test_rendered_baseline_documents_every_key():
    text = render_baseline_toml()
    data = tomllib.loads(text)
    for key, f, _default in iter_fields():
        node = data
        for part in key.split("."):
            node = node[part]
        assert f.metadata["doc"] in text, key
    assert "(calibrated: docs/domain.md (subprime paid 24-36%))" in text
    assert "; uncertainty)" in text
    assert "range: between 1e-09 and 1.0" in text


def test_render_toml_round_trips_a_non_default_scenario(tmp_path):
    scenario = load_scenario("full-tightening-2026", ["macro.lpr_start=0.1234567890123"])
    path = tmp_path / "resolved.toml"
    path.write_text(render_toml(scenario.params, scenario.description), encoding="utf-8")
    assert load_scenario(path).params == scenario.params


def test_baseline_2024_is_the_default_world():
    params = load_scenario("baseline-2024").params
    assert params == Params()
    assert params.policy.rate_cap.legacy_apr == 0.36
    assert params.policy.rate_cap.legacy_fees_included is False
    assert not params.policy.rate_cap.enabled and not params.policy.whitelist.enabled


def test_new_rules_2025_switches_on_the_2025_rules():
    policy = load_scenario("new-rules-2025").params.policy
    assert (policy.rate_cap.enabled, policy.rate_cap.apr, policy.rate_cap.start) == (True, 0.24, "2025-10")
    assert policy.rate_cap.fees_included is True
    assert policy.whitelist.enabled and policy.whitelist.start == "2025-10"
    assert policy.no_outsourcing.enabled and policy.no_outsourcing.start == "2025-10"
    assert policy.stock_cleanup.enabled and policy.stock_cleanup.deadline == "2026-06"
    assert not policy.kind_caps.cfc.enabled


def test_extends_chain_applies_every_level():
    scenario = load_scenario("full-tightening-2026")
    policy = scenario.params.policy
    # own file
    assert policy.kind_caps.cfc.enabled and policy.kind_caps.cfc.apr == 0.20
    assert policy.kind_caps.microlender.lpr_multiple == 4.0 and policy.kind_caps.microlender.by == "2027-12"
    assert policy.balance_mandate.targets == [0.5, 0.0] and policy.balance_mandate.by == ["2025-12", "2026-12"]
    assert policy.balance_freeze.kinds == ["trust"]
    assert policy.new_business_ban.regions == ["east"] and policy.new_business_ban.start == "2026-03"
    assert policy.payment_crackdown.enabled and policy.payment_crackdown.start == "2026-04"
    # inherited from new-rules-2025
    assert policy.rate_cap.enabled and policy.rate_cap.apr == 0.24
    assert policy.whitelist.enabled
    # inherited from the schema defaults through baseline
    assert policy.rate_cap.legacy_apr == 0.36
    assert scenario.params.run == Params().run


@pytest.mark.parametrize(("name", "apr"), [("cap-20", 0.20), ("cap-12", 0.12)])
def test_what_if_caps(name, apr):
    policy = load_scenario(name).params.policy
    assert policy.rate_cap.enabled and policy.rate_cap.apr == apr and policy.rate_cap.start == "2025-10"
    assert policy.whitelist.enabled, "what-if caps keep the rest of the 2025 rules"


def test_decomposition_halves_are_disjoint():
    funder_side = load_scenario("whitelist-only").params.policy
    price_side = load_scenario("cap-only").params.policy
    assert funder_side.whitelist.enabled and funder_side.no_outsourcing.enabled
    assert not funder_side.rate_cap.enabled and not funder_side.stock_cleanup.enabled
    assert price_side.rate_cap.enabled and price_side.rate_cap.apr == 0.24 and price_side.rate_cap.fees_included
    assert price_side.stock_cleanup.enabled and price_side.stock_cleanup.deadline == "2026-06"
    assert not price_side.whitelist.enabled and not price_side.no_outsourcing.enabled


# -------------------------------------------------------------------------------- descriptions, names
def test_description_inherited_when_child_has_none(tmp_path):
    path = tmp_path / "child.toml"
    path.write_text('extends = "new-rules-2025"\n[run]\nmonths = 12\n', encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.description == load_scenario("new-rules-2025").description
    assert scenario.name == "child"
    assert scenario.params.run.months == 12


def test_extends_relative_path(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(tmp_path, "[run]\nmonths = 24\n", name="parent.toml")
    child = sub / "child.toml"
    child.write_text('extends = "../parent.toml"\n[run]\nborrowers = 1000\n', encoding="utf-8")
    params = load_scenario(child).params
    assert (params.run.months, params.run.borrowers) == (24, 1000)


# ------------------------------------------------------------------------------------------ overrides
def test_override_strings_of_every_type():
    scenario = load_scenario(
        "baseline",
        [
            "policy.rate_cap.apr=0.2",  # float
            "policy.rate_cap.enabled=true",  # bool
            "borrowers.hazard=[0, 0.01, 0.03]",  # list, ints coerced to float
            "policy.rate_cap.start=2025-11",  # bare month string, not valid TOML: kept as a string
            "platforms.head.fixed_cost=9000",  # int given for a float field
            " run.months = 12 ",  # whitespace around key and value
        ],
    )
    params = scenario.params
    assert params.policy.rate_cap.apr == 0.2
    assert params.policy.rate_cap.enabled is True
    assert params.borrowers.hazard == [0.0, 0.01, 0.03]
    assert all(type(x) is float for x in params.borrowers.hazard)
    assert params.policy.rate_cap.start == "2025-11"
    assert params.platforms.head.fixed_cost == 9000.0 and type(params.platforms.head.fixed_cost) is float
    assert params.run.months == 12 and type(params.run.months) is int


def test_override_mapping_and_section_table():
    scenario = load_scenario(
        "baseline",
        {
            "run.months": 24.0,  # integral float accepted for an int field
            "policy.whitelist": {"enabled": True, "max_partners": 5},
        },
    )
    assert scenario.params.run.months == 24 and type(scenario.params.run.months) is int
    assert scenario.params.policy.whitelist.enabled and scenario.params.policy.whitelist.max_partners == 5


def test_override_accepts_numpy_values():
    np = pytest.importorskip("numpy")
    params = load_scenario(
        "baseline",
        {
            "run.months": np.int64(24),
            "policy.rate_cap.apr": np.float64(0.2),
            "borrowers.hazard": np.array([0, 0.1, 0.2]),
        },
    ).params
    assert params.run.months == 24 and type(params.run.months) is int
    assert params.policy.rate_cap.apr == 0.2 and type(params.policy.rate_cap.apr) is float
    assert params.borrowers.hazard == [0.0, 0.1, 0.2]
    with pytest.raises(ConfigError, match=r"policy\.rate_cap\.enabled = 1: must be true or false"):
        load_scenario("baseline", {"policy.rate_cap.enabled": np.int64(1)})


def test_override_beats_file_and_single_string_is_one_override():
    scenario = load_scenario("cap-20", "policy.rate_cap.apr=0.18")
    assert scenario.params.policy.rate_cap.apr == 0.18


def test_with_overrides_returns_new_validated_scenario():
    base = load_scenario("new-rules-2025")
    changed = base.with_overrides(["policy.rate_cap.apr=0.2"])
    assert changed.params.policy.rate_cap.apr == 0.2
    assert base.params.policy.rate_cap.apr == 0.24
    assert (changed.name, changed.description, changed.source) == (base.name, base.description, base.source)
    with pytest.raises(ConfigError, match=r"policy\.rate_cap\.apr = 2\.0"):
        base.with_overrides({"policy.rate_cap.apr": 2.0})


def test_to_dict_and_get():
    scenario = load_scenario("full-tightening-2026")
    data = scenario.to_dict()
    assert data["name"] == "full-tightening-2026" and data["description"] == scenario.description
    assert data["policy"]["kind_caps"]["cfc"]["apr"] == 0.20
    assert json.loads(json.dumps(data)) == data
    assert scenario.get("policy.balance_mandate.by") == ["2025-12", "2026-12"]
    assert scenario.get("policy.rate_cap").apr == 0.24
    scenario.get("policy.balance_mandate.by").append("2030-01")
    assert scenario.params.policy.balance_mandate.by == ["2025-12", "2026-12"], "get hands out copies"
    with pytest.raises(ConfigError, match=r"did you mean policy\.rate_cap"):
        scenario.get("policy.rate_cpa")


def test_scenario_is_frozen():
    scenario = load_scenario("baseline")
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.params.run.months = 1  # type: ignore[misc]
    assert isinstance(scenario, Scenario)


def test_list_defaults_are_not_shared_between_instances():
    first, second = Params(), Params()
    first.funders.bank_city.regions.append("west")
    first.platforms.head.channel_mix[0] = 1.0
    assert second.funders.bank_city.regions == ["east", "east", "central", "west"]
    assert second.platforms.head.channel_mix == [0.35, 0.05, 0.50, 0.10]


# ------------------------------------------------------------------------------------- value errors
# (file body, overrides, text the one-line problem must contain: the key and the rule)
ERROR_CASES = [
    pytest.param(
        "[borrowers]\nsegmnt_shares = [0.5, 0.3, 0.2]\n",
        (),
        "borrowers.segmnt_shares: unknown key (did you mean borrowers.segment_shares?)",
        id="unknown key",
    ),
    pytest.param(
        "[polcy.rate_cap]\napr = 0.2\n",
        (),
        "polcy: unknown key (did you mean policy?)",
        id="unknown section",
    ),
    pytest.param(
        'descripton = "x"\n',
        (),
        "descripton: unknown key (did you mean description?)",
        id="unknown top-level key",
    ),
    pytest.param(
        "[policy]\napr = 0.2\n",
        (),
        "policy.apr: unknown key (did you mean policy.rate_cap.apr",
        id="right key, wrong section",
    ),
    pytest.param(
        "[policy]\nwhitelist = 3\n",
        (),
        "policy.whitelist = 3: is a section",
        id="section given as scalar",
    ),
    pytest.param(
        "[run.months]\nx = 1\n",
        (),
        "run.months: must be a whole number (got a table)",
        id="scalar given as table",
    ),
    pytest.param(
        "[policy.rate_cap]\nenabled = 1\n",
        (),
        "policy.rate_cap.enabled = 1: must be true or false",
        id="bool must be bool",
    ),
    pytest.param(
        "[run]\nmonths = true\n",
        (),
        "run.months = true: must be a whole number",
        id="int rejects bool",
    ),
    pytest.param(
        "[run]\nmonths = 12.5\n",
        (),
        "run.months = 12.5: must be a whole number",
        id="int rejects fraction",
    ),
    pytest.param(
        "[policy.rate_cap]\napr = true\n",
        (),
        "policy.rate_cap.apr = true: must be a number",
        id="float rejects bool",
    ),
    pytest.param(
        '[policy.rate_cap]\napr = "0.2"\n',
        (),
        'policy.rate_cap.apr = "0.2": must be a number',
        id="float rejects string",
    ),
    pytest.param(
        "[macro]\nlpr_start = nan\n",
        (),
        "macro.lpr_start = nan: must be a finite number",
        id="nan rejected",
    ),
    pytest.param(
        "[macro]\nlpr_end = -inf\n",
        (),
        "macro.lpr_end = -inf: must be a finite number",
        id="inf rejected",
    ),
    pytest.param(
        "[run]\nstart = 202401\n",
        (),
        "run.start = 202401: must be a 'YYYY-MM' month string",
        id="str needs str",
    ),
    pytest.param(
        "[borrowers]\nhazard = 0.1\n",
        (),
        "borrowers.hazard = 0.1: must be a list of numbers",
        id="list needs list",
    ),
    pytest.param(
        '[borrowers]\nhazard = [0.1, "x", 0.2]\n',
        (),
        'borrowers.hazard[1] = "x": must be a number',
        id="numeric list element",
    ),
    pytest.param(
        "[policy.balance_mandate]\nkinds = [1]\n",
        (),
        "policy.balance_mandate.kinds[0] = 1: must be a string",
        id="string list element",
    ),
    pytest.param(
        "[policy.rate_cap]\napr = 1.5\n",
        (),
        "policy.rate_cap.apr = 1.5: must be between 1e-09 and 1.0",
        id="upper bound",
    ),
    pytest.param(
        "[run]\nmonths = 0\n",
        (),
        "run.months = 0: must be between 1 and 600",
        id="lower bound",
    ),
    pytest.param(
        "[borrowers]\nhazard = [0.1, 1.2, 0.2]\n",
        (),
        "borrowers.hazard[1] = 1.2: must be between 0.0 and 1.0",
        id="list element bound",
    ),
    pytest.param(
        '[policy.balance_mandate]\nkinds = ["bank_stat"]\n',
        (),
        "did you mean bank_state?",
        id="choices",
    ),
    pytest.param(
        "[policy.balance_mandate]\nkinds = []\n",
        (),
        "policy.balance_mandate.kinds = []: must have at least 1",
        id="min_len",
    ),
    pytest.param(
        '[policy.rate_cap]\nstart = "2025-1"\n',
        (),
        "policy.rate_cap.start = \"2025-1\": must be a 'YYYY-MM' month",
        id="month format",
    ),
    pytest.param(
        '[policy.rate_cap]\nstart = "2025-13"\n',
        (),
        'policy.rate_cap.start = "2025-13": must be',
        id="month out of range",
    ),
    pytest.param(
        '[policy.balance_mandate]\nby = ["2025-12", "2026/12"]\n',
        (),
        'policy.balance_mandate.by[1] = "2026/12"',
        id="month list element",
    ),
    pytest.param(
        "[run]\nstart = 2024-01-01\n",
        (),
        "run.start = 2024-01-01: must be a 'YYYY-MM' month string (got a TOML date",
        id="TOML date for a month",
    ),
    pytest.param(
        "[borrowers]\nsegment_shares = [0.5, 0.3, 0.3]\n",
        (),
        "borrowers.segment_shares = [0.5, 0.3, 0.3]: shares must sum to 1",
        id="segment shares sum",
    ),
    pytest.param(
        "[platforms.head]\nchannel_mix = [0.5, 0.1, 0.5, 0.1]\n",
        (),
        "platforms.head.channel_mix = [0.5, 0.1, 0.5, 0.1]: shares must sum to 1",
        id="channel mix sum",
    ),
    pytest.param(
        "[borrowers]\nincome_median = [1.0, 2.0]\n",
        (),
        "borrowers.income_median = [1.0, 2.0]: must have exactly 3 elements",
        id="segment list length",
    ),
    pytest.param(
        "[platforms.tail]\nchannel_mix = [0.5, 0.5, 0.0]\n",
        (),
        "platforms.tail.channel_mix = [0.5, 0.5, 0.0]: must have exactly 4",
        id="channel mix length",
    ),
    pytest.param(
        "[policy.balance_mandate]\ntargets = [0.5]\n",
        (),
        'policy.balance_mandate.by = ["2025-12", "2026-12"]: must have one date per target',
        id="mandate lengths",
    ),
    pytest.param(
        '[policy.balance_mandate]\nby = ["2026-12", "2025-12"]\n',
        (),
        'policy.balance_mandate.by = ["2026-12", "2025-12"]: dates must be strictly ascending',
        id="mandate ascending",
    ),
    pytest.param(
        '[policy.balance_mandate]\nstart = "2026-01"\n',
        (),
        'policy.balance_mandate.by = ["2025-12", "2026-12"]: first date is before policy.balance_mandate.start',
        id="mandate before start",
    ),
    pytest.param(
        '[policy.kind_caps.microlender]\nstart = "2027-12"\nby = "2027-06"\n',
        (),
        'policy.kind_caps.microlender.by = "2027-06": must be after policy.kind_caps.microlender.start',
        id="kind cap path before start",
    ),
    pytest.param(
        '[policy.rate_cap]\nannounced = "2025-11"\n',
        (),
        'policy.rate_cap.announced = "2025-11": must not be after policy.rate_cap.start = "2025-10" (a rule is '
        "announced before it binds; leave it '' if not announced ahead)",
        id="cap announced after start",
    ),
    pytest.param(
        '[policy.kind_caps.cfc]\nannounced = "2026-02"\n',
        (),
        'policy.kind_caps.cfc.announced = "2026-02": must not be after policy.kind_caps.cfc.start = "2026-01"',
        id="kind cap announced after start",
    ),
    pytest.param(
        '[policy.whitelist]\nstart = "2025-01"\nannounced = "2025-04"\n',
        (),
        'policy.whitelist.announced = "2025-04": must not be after policy.whitelist.start = "2025-01"',
        id="regime announced after start",
    ),
    pytest.param(
        "",
        ["policy.no_outsourcing.announced=2026-01"],
        'policy.no_outsourcing.announced = "2026-01": must not be after policy.no_outsourcing.start',
        id="ban announced after start",
    ),
    pytest.param(
        '[policy.stock_cleanup]\nannounced = "2026-07"\n',
        (),
        'policy.stock_cleanup.announced = "2026-07": must not be after policy.stock_cleanup.deadline = "2026-06"',
        id="clean-up announced after deadline",
    ),
    pytest.param(
        '[policy.rate_cap]\nannounced = "April"\n',
        (),
        "policy.rate_cap.announced = \"April\": must be a 'YYYY-MM' month",
        id="announced not a month",
    ),
    pytest.param(
        "[policy.rate_cap]\nannounced = 202504\n",
        (),
        "policy.rate_cap.announced = 202504: must be a 'YYYY-MM' month string or '' (got an integer)",
        id="announced not a string",
    ),
    pytest.param(
        "[funders.microlender]\ncount = 1\n",
        (),
        "funders.microlender.bigtech_count = 2: must not exceed funders.microlender.count = 1",
        id="bigtech above count",
    ),
    pytest.param(
        "[funders.trust]\nbigtech_count = 6\n",
        (),
        "funders.trust.bigtech_count = 6: must not exceed funders.trust.count = 5",
        id="bigtech above count, other kind",
    ),
    pytest.param(
        "[platforms.waist]\nchannel_mix = [0.4, 0.3, 0.1, 0.2]\n",
        (),
        "platforms.waist.channel_mix = [0.4, 0.3, 0.1, 0.2]: only head platforms",
        id="ecosystem outside head",
    ),
    pytest.param(
        '[run]\nstart = "2190-01"\nmonths = 600\n',
        (),
        "run.months = 600: 2190-01 plus 600 months ends in 2239-12",
        id="run past calendar",
    ),
    pytest.param(
        "",
        ["run.months"],
        "override 'run.months': must be 'dotted.key=value'",
        id="override without =",
    ),
    pytest.param(
        "",
        ["=12"],
        "override '=12': empty key",
        id="override empty key",
    ),
    pytest.param(
        "",
        ["run.monts=12"],
        "run.monts: unknown key (did you mean run.months?) [set by override]",
        id="override unknown key",
    ),
    pytest.param(
        "",
        ["policy.rate_cap.enabled=yes"],
        'policy.rate_cap.enabled = "yes": must be true or false',
        id="override bad value",
    ),
    pytest.param(
        "",
        ["policy.rate_cap=0.2"],
        "policy.rate_cap = 0.2: is a section",
        id="override section as scalar",
    ),
]


@pytest.mark.parametrize(("body", "overrides", "expected"), ERROR_CASES)
def test_each_error_class_names_key_and_rule(tmp_path, body, overrides, expected):
    message = problems_of(write(tmp_path, body), overrides)
    assert expected in message
    assert message.startswith(f"scenario '{tmp_path / 's.toml'}' has 1 problem:\n  - ")


#: Every instrument that may be announced ahead, with the key of the month it binds from.
ANNOUNCED = [
    ("policy.rate_cap", "start"), *((f"policy.kind_caps.{k}", "start") for k in (
        "bank_state", "bank_joint_stock", "bank_city", "bank_rural", "bank_internet", "cfc", "microlender", "trust")),
    ("policy.whitelist", "start"), ("policy.no_outsourcing", "start"), ("policy.stock_cleanup", "deadline"),
]


@pytest.mark.parametrize(("section", "binds"), ANNOUNCED)
def test_announced_defaults_to_empty_and_may_equal_the_start(section, binds):
    """'' (the default) and the month the rule binds both load; a month before it too."""
    scenario = load_scenario("baseline")
    assert scenario.get(f"{section}.announced") == ""
    start = scenario.get(f"{section}.{binds}")
    assert load_scenario("baseline", [f"{section}.announced={start}"]).get(f"{section}.announced") == start
    assert load_scenario("baseline", [f"{section}.announced=2024-01"]).get(f"{section}.announced") == "2024-01"
    assert load_scenario("new-rules-2025", [f'{section}.announced=""']).get(f"{section}.announced") == ""


def test_payment_crackdown_has_no_announcement():
    """Only the instruments the model anticipates (or carries) have an ``announced`` month."""
    assert "policy.payment_crackdown.announced: unknown key" in problems_of(
        "baseline", ["policy.payment_crackdown.announced=2025-01"])


def test_new_rules_2025_announce_in_april_and_the_halves_keep_theirs():
    full = load_scenario("new-rules-2025").params.policy
    assert [full.rate_cap.announced, full.whitelist.announced, full.no_outsourcing.announced,
            full.stock_cleanup.announced] == ["2025-04"] * 4
    price_side, funder_side = load_scenario("cap-only").params.policy, load_scenario("whitelist-only").params.policy
    assert price_side.rate_cap.announced == price_side.stock_cleanup.announced == "2025-04"
    assert price_side.whitelist.announced == price_side.no_outsourcing.announced == ""
    assert funder_side.whitelist.announced == funder_side.no_outsourcing.announced == "2025-04"
    assert funder_side.rate_cap.announced == funder_side.stock_cleanup.announced == ""
    for name in ("cap-20", "cap-12", "full-tightening-2026"):
        assert load_scenario(name).params.policy.rate_cap.announced == "2025-04", name


def test_moving_a_start_before_its_announcement_is_refused_by_the_cli(capsys):
    """The CLI refuses it with exit status 2 and one line naming both keys, as any scenario error."""
    from experiments.cli.main import main

    assert main(["check", "new-rules-2025", "--set", "policy.rate_cap.start=2025-03"]) == 2
    err = capsys.readouterr().err
    assert 'policy.rate_cap.announced = "2025-04": must not be after policy.rate_cap.start = "2025-03"' in err
    assert "Traceback" not in err
    assert main(["check", "new-rules-2025", "--set", "policy.rate_cap.start=2025-03",
                 "--set", "policy.rate_cap.announced=2025-03"]) == 0


def test_description_and_extends_must_be_strings(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("description = 3\n", encoding="utf-8")
    assert "description = 3: must be a string" in problems_of(path)
    path.write_text('extends = ["baseline"]\n', encoding="utf-8")
    assert 'extends = ["baseline"] in' in problems_of(path)


def test_several_problems_reported_together(tmp_path):
    path = write(
        tmp_path,
        (
            "[policy.rate_cap]\napr = 1.5\n"
            "[borrowers]\nsegmnt_shares = [0.5, 0.3, 0.2]\nterm_months = 12.5\n"
            "[funders.cfc]\nbigtech_count = 40\n"
        ),
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(path, ["run.start=2024-13", "nonsense"])
    err = info.value
    assert len(err.problems) == 6
    message = str(err)
    assert message.startswith(f"scenario '{path}' has 6 problems:\n")
    for key in (
        "policy.rate_cap.apr = 1.5",
        "borrowers.segmnt_shares",
        "borrowers.term_months = 12.5",
        "funders.cfc.bigtech_count = 40",
        'run.start = "2024-13"',
        "override 'nonsense'",
    ):
        assert key in message
    assert all(line.startswith("  - ") for line in message.splitlines()[1:])


def test_problem_in_parent_names_its_file(tmp_path):
    write(tmp_path, "[run]\nmonths = 0\n", name="parent.toml")
    child = write(tmp_path, "[run]\nborrowers = 10\n", name="child.toml", extends="parent.toml")
    message = problems_of(child)
    assert "run.months = 0: must be between 1 and 600 [in parent.toml]" in message


def test_config_error_survives_pickling():
    err = ConfigError(["a: bad", "b: worse"], "x.toml")
    copy = pickle.loads(pickle.dumps(err))
    assert copy.problems == ["a: bad", "b: worse"] and copy.source == "x.toml"
    assert str(copy) == "scenario 'x.toml' has 2 problems:\n  - a: bad\n  - b: worse"


# ---------------------------------------------------------------------------------- files and chains
def test_extends_cycle(tmp_path):
    write(tmp_path, "", name="a.toml", extends="b.toml")
    write(tmp_path, "", name="b.toml", extends="a.toml")
    message = problems_of(tmp_path / "a.toml")
    assert "extends: cycle" in message and "a.toml -> b.toml -> a.toml" in message


def test_extends_self(tmp_path):
    path = write(tmp_path, "", name="self.toml", extends="self.toml")
    assert "extends: cycle" in problems_of(path)


def test_missing_parent_file(tmp_path):
    path = write(tmp_path, "", extends="nowhere.toml")
    message = problems_of(path)
    assert 'extends = "nowhere.toml"' in message and "no such file" in message


def test_missing_parent_name_lists_available(tmp_path):
    path = write(tmp_path, "", extends="new-rules-2024")
    message = problems_of(path)
    assert "unknown scenario 'new-rules-2024' (did you mean new-rules-2025?)" in message
    assert "available: baseline, baseline-2024" in message


def test_missing_parent_still_reports_child_problems(tmp_path):
    path = write(tmp_path, "[run]\nmonts = 3\n", extends="nowhere.toml")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert len(info.value.problems) == 2
    assert "run.monts: unknown key" in str(info.value)


def test_extends_depth_limit(tmp_path):
    write(tmp_path, "", name="f0.toml")
    for i in range(1, MAX_EXTENDS_DEPTH + 2):
        write(tmp_path, "", name=f"f{i}.toml", extends=f"f{i - 1}.toml")
    # f10 -> ... -> f0 -> baseline: 11 hops.
    assert "chain longer than 10" in problems_of(tmp_path / "f10.toml")
    # f9 -> ... -> f0 -> baseline: 10 hops, allowed.
    assert load_scenario(tmp_path / "f9.toml").params == Params()


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "caf\xe9"\n'.encode("latin-1"))
    message = problems_of(path)
    assert "not UTF-8 text (byte 0xe9 at offset 18)" in message


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbfextends = "baseline"\n[run]\nmonths = 12\n')
    assert load_scenario(path).params.run.months == 12


def test_toml_syntax_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[run\nmonths = 12\n", encoding="utf-8")
    assert "TOML syntax error" in problems_of(path)


def test_directory_as_file(tmp_path):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert "is a directory, not a scenario file" in problems_of(folder)


def test_missing_file(tmp_path):
    assert "no such file" in problems_of(tmp_path / "absent.toml")


def test_unknown_scenario_lists_available_names():
    message = problems_of("no-such-scenario")
    assert "unknown scenario 'no-such-scenario'" in message
    assert "available: " + ", ".join(sorted(SHIPPED)) in message


def test_shipped_name_with_toml_suffix_gets_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "the shipped scenario is named 'baseline'" in problems_of("baseline.toml")


def test_bad_source_type_is_config_error():
    assert "must be a scenario name or a path" in problems_of(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- docs
def test_param_table_has_a_row_per_parameter():
    table = render_param_table()
    lines = table.splitlines()
    assert lines[0] == "| key | default | unit | range | provenance | meaning |"
    keys = [key for key, _f, _d in iter_fields()]
    rows = [line for line in lines if line.startswith("| `")]
    # Grouped by section (a section's own keys before its subsections), so compare as sets.
    listed = [row.split("`")[1] for row in rows]
    assert sorted(listed) == sorted(keys) and len(listed) == len(set(listed))
    assert "| **platforms.head** |" in table
    assert "| `policy.rate_cap.apr` | `0.24` | 1/yr | 1e-09 to 1.0 | policy lever |" in table
    # Six cells per row: pipes inside cells must be escaped.
    assert all(len(re.split(r"(?<!\\)\|", line)) == 8 for line in lines)


def test_update_marked_block_replaces_only_between_markers():
    text = "intro\n<!-- params:begin -->\nold\n<!-- params:end -->\noutro\n"
    new = update_marked_block(text, "<!-- params:begin -->", "<!-- params:end -->", "| a |\n")
    assert new == "intro\n<!-- params:begin -->\n| a |\n<!-- params:end -->\noutro\n"
    assert update_marked_block(new, "<!-- params:begin -->", "<!-- params:end -->", "| a |\n") == new


@pytest.mark.parametrize("text", ["no markers", "<!-- e -->\n<!-- b -->", "<!-- b --><!-- b --><!-- e -->"])
def test_update_marked_block_rejects_bad_markers(text):
    with pytest.raises(ValueError, match="marker"):
        update_marked_block(text, "<!-- b -->", "<!-- e -->", "x")


def test_integer_beyond_float_range_is_a_config_error():
    # Found by the hostile-input corpus: a 400-digit --set value used to raise OverflowError.
    with pytest.raises(ConfigError) as err:
        load_scenario("baseline-2024", overrides=["channels.api.attention=" + "9" * 400])
    assert "channels.api.attention" in str(err.value)


@pytest.mark.parametrize("value", ["1970-01-01", "1979-05-27T07:32:00", "07:32:00", "[2025-01-01]"])
def test_toml_dates_and_times_are_not_parameter_values(value):
    # Found by the hostile-input corpus: a --vary value of 1970-01-01 parsed as a date and crashed the
    # design fingerprint. Dates and times now stay text, and validation names the key.
    with pytest.raises(ConfigError) as err:
        load_scenario("baseline-2024", overrides=[f"policy.rate_cap.start={value}"])
    assert "policy.rate_cap.start" in str(err.value)
