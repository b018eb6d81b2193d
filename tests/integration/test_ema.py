"""The EMA Workbench adapter: levers, switches, paired replicates, time series and small experiment sets run through
ema_workbench (skipped without the extra)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("ema_workbench")

from ema_workbench import (
    BooleanParameter,
    CategoricalParameter,
    Policy,
    RealParameter,
    Scenario,
    SequentialEvaluator,
    TimeSeriesOutcome,
)

from experiments.analysis.ema import (
    DEFAULT_LEVERS,
    DEFAULT_SWITCHES,
    ema_name,
    make_ema_model,
    month_labels,
    replicate_seeds,
    run_example,
    series_frame,
)
from experiments.engine.run import resolve_scenario, run_model
from model.config import ConfigError, load_scenario

SMALL = dict(borrowers=600, months=3, overrides=("run.start=2025-09", "run.burn_in=0"))


def test_model_exposes_levers_uncertainties_and_outcomes():
    model = make_ema_model(
        "new-rules-2025",
        uncertainties={"pricing.leverage_sensitivity": (1.0, 5.0)},
        outcomes=("head_share", "rationed_share"),
        **SMALL,
    )
    assert [p.name for p in model.levers] == [ema_name(k) for k in DEFAULT_LEVERS]
    assert [p.name for p in model.uncertainties] == ["pricing__leverage_sensitivity"]
    assert [o.name for o in model.outcomes] == ["head_share", "rationed_share"]


def test_small_experiment_set_runs_end_to_end():
    model = make_ema_model(
        "new-rules-2025",
        uncertainties={"borrowers.shadow_prob_refinance": (0.2, 0.6)},
        levers={"policy.rate_cap.apr": (0.12, 0.36)},
        outcomes=("rationed_share", "head_share"),
        **SMALL,
    )
    experiments, outcomes = run_example(model, n_scenarios=2, n_policies=2)
    assert len(experiments) == 4
    assert {"policy__rate_cap__apr", "borrowers__shadow_prob_refinance"} <= set(experiments.columns)
    assert experiments["policy__rate_cap__apr"].between(0.12, 0.36).all()
    for name in ("rationed_share", "head_share"):
        values = np.asarray(outcomes[name])
        assert values.shape == (4,) and np.isfinite(values).all() and ((values >= 0) & (values <= 1)).all()


def test_invalid_ranges_are_config_errors():
    with pytest.raises(ConfigError):
        make_ema_model("new-rules-2025", levers={"policy.rate_cap.apr": (0.1, 1.5)}, **SMALL)


# ------------------------------------------------------------------------------- switches, replicates, series
TINY = dict(uncertainties={"borrowers.shadow_prob_refinance": (0.2, 0.6)}, **SMALL)
LEVERS = {"policy.rate_cap.apr": (0.12, 0.36), **DEFAULT_SWITCHES}
SETTINGS = dict(
    policy__rate_cap__apr=0.2,
    policy__whitelist__enabled=True,
    policy__rate_cap__fees_included=False,
    policy__payment_crackdown__enabled=True,
    borrowers__shadow_prob_refinance=0.5,
)


def test_switch_levers_are_boolean_parameters_that_set_their_key_only():
    model = make_ema_model("new-rules-2025", levers=LEVERS, **TINY)
    switches = [p for p in model.levers if isinstance(p, BooleanParameter)]
    assert [p.name for p in switches] == [ema_name(k) for k in DEFAULT_SWITCHES]
    assert isinstance(model.levers["policy__rate_cap__apr"], RealParameter)

    on = model.function.scenario(**SETTINGS).params.policy
    assert (on.whitelist.enabled, on.rate_cap.fees_included, on.payment_crackdown.enabled) == (True, False, True)
    # The rule's other keys keep the scenario's values: new-rules-2025's whitelist dates, the schema's crackdown date.
    assert (on.whitelist.start, on.whitelist.announced, on.payment_crackdown.start) == ("2025-10", "2025-04", "2026-06")
    assert on.rate_cap.enabled and on.rate_cap.apr == 0.2
    off = model.function.scenario(**{**SETTINGS, "policy__whitelist__enabled": False}).params.policy
    assert not off.whitelist.enabled and off.whitelist.start == "2025-10"

    # "off" is the counterfactual's value, "on" the rules' (docs/scenario-discovery.md).
    baseline, rules = (load_scenario(s).params.policy for s in ("baseline-2024", "new-rules-2025"))
    assert (baseline.whitelist.enabled, rules.whitelist.enabled) == (False, True)
    assert (
        baseline.payment_crackdown.enabled,
        load_scenario("full-tightening-2026").params.policy.payment_crackdown.enabled,
    ) == (False, True)
    assert rules.rate_cap.fees_included and not rules.rate_cap.legacy_fees_included

    dated = make_ema_model(
        "new-rules-2025",
        levers=LEVERS,
        uncertainties={},
        borrowers=600,
        months=3,
        overrides=("policy.payment_crackdown.start=2026-04",),
    )
    assert dated.function.scenario(**SETTINGS).params.policy.payment_crackdown.start == "2026-04"


def test_categorical_levers_set_their_value_in_the_resolved_scenario():
    model = make_ema_model(
        "new-rules-2025", levers={"policy.payment_crackdown.start": ["2026-04", "2026-06"]}, uncertainties={}, **SMALL
    )
    lever = model.levers["policy__payment_crackdown__start"]
    assert isinstance(lever, CategoricalParameter) and not isinstance(lever, BooleanParameter)
    assert [c.value for c in lever.categories] == ["2026-04", "2026-06"]
    scenario = model.function.scenario(policy__payment_crackdown__start="2026-04")
    assert scenario.params.policy.payment_crackdown.start == "2026-04"


def test_replicated_outcomes_are_the_mean_of_the_seeds_run_by_hand():
    model = make_ema_model(
        "new-rules-2025",
        levers=LEVERS,
        outcomes=("rationed_share", "head_share"),
        series=("rationed_share",),
        replications=2,
        sd=True,
        seed=7,
        **TINY,
    )
    got = model.function(**SETTINGS)

    overrides = [
        *SMALL["overrides"],
        "policy.rate_cap.apr=0.2",
        "policy.whitelist.enabled=true",
        "policy.rate_cap.fees_included=false",
        "policy.payment_crackdown.enabled=true",
        "borrowers.shadow_prob_refinance=0.5",
    ]
    scenario = resolve_scenario("new-rules-2025", overrides, SMALL["borrowers"], SMALL["months"])
    tables = [run_model(scenario, seed).tables["model"] for seed in replicate_seeds(7, 2)]
    assert model.function.seeds == tuple(replicate_seeds(7, 2))
    for name in ("rationed_share", "head_share"):
        window = [t.loc[t["date"] >= "2025-10", name].mean() for t in tables]
        assert got[name] == pytest.approx(np.mean(window), rel=1e-12)
        assert got[name + "_sd"] == pytest.approx(np.std(window, ddof=1), rel=1e-12)
    series = np.mean([t["rationed_share"].to_numpy() for t in tables], axis=0)
    np.testing.assert_allclose(got["rationed_share_series"], series, rtol=1e-12)
    # Two distinct seeds: the replicates differ, so the mean is not one run's value.
    assert got["rationed_share_sd"] > 0 or got["head_share_sd"] > 0


def test_identical_parameters_in_two_experiments_give_identical_outcomes():
    model = make_ema_model(
        "new-rules-2025",
        levers=LEVERS,
        outcomes=("rationed_share", "head_share"),
        series=("active_platforms",),
        replications=2,
        **TINY,
    )
    levers = {k: v for k, v in SETTINGS.items() if k.startswith("policy__")}
    policies = [Policy("a", **levers), Policy("b", **levers)]
    scenarios = [Scenario("s", borrowers__shadow_prob_refinance=0.5)]
    with SequentialEvaluator(model) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=scenarios, policies=policies)
    assert list(experiments["policy"]) == ["a", "b"]
    for name, values in outcomes.items():
        np.testing.assert_array_equal(values[0], values[1], err_msg=name)


def test_time_series_outcomes_have_one_value_per_recorded_month():
    model = make_ema_model(
        "new-rules-2025",
        levers={"policy.rate_cap.apr": (0.12, 0.36)},
        outcomes=("head_share",),
        series=("active_platforms_tail", "rationed_share"),
        **TINY,
    )
    assert [o.name for o in model.outcomes] == ["head_share", "active_platforms_tail_series", "rationed_share_series"]
    assert isinstance(model.outcomes["rationed_share_series"], TimeSeriesOutcome)
    assert month_labels(model) == ["2025-09", "2025-10", "2025-11"]
    _, outcomes = run_example(model, n_scenarios=2, n_policies=1)
    for name in ("active_platforms_tail_series", "rationed_share_series"):
        assert np.asarray(outcomes[name]).shape == (2, 3)
    long = series_frame(model, outcomes)
    assert len(long) == 2 * 3 * 2
    assert list(long.loc[(long["experiment"] == 1) & (long["series"] == "rationed_share"), "date"]) == month_labels(
        model
    )


def test_the_model_pickles_for_the_multiprocessing_evaluator():
    model = make_ema_model("new-rules-2025", levers=LEVERS, replications=2, **TINY)
    again = pickle.loads(pickle.dumps(model))
    assert again.function.seeds == model.function.seeds
    assert again.function.scenario(**SETTINGS).params == model.function.scenario(**SETTINGS).params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(levers={"policy.rate_cap.cap": (0.1, 0.2)}), "unknown parameter key"),
        (dict(levers={"policy.rate_cap.apr": (0.1, 1.5)}), "outside the schema's range"),
        (dict(replications=0), "replications must be an integer of at least 1, got 0"),
        (dict(replications=2.0), "replications must be an integer"),
        (dict(sd=True), "sd=True needs at least 2 replications"),
        (dict(outcomes=("no_such_column",)), "outcome 'no_such_column': not a numeric model-table column"),
        (dict(series=("date",)), "series 'date': not a numeric model-table column"),
        (dict(levers={"policy.payment_crackdown.start": ["2026-04", "2026-13"]}), "2026-13"),
    ],
)
def test_bad_inputs_are_value_errors_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_ema_model("new-rules-2025", **{**TINY, **kwargs})
