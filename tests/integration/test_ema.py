"""The EMA Workbench adapter runs a small experiment set through ema_workbench (skipped without the extra)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ema_workbench")

from experiments.analysis.ema import DEFAULT_LEVERS, ema_name, make_ema_model, run_example
from model.config import ConfigError

SMALL = dict(borrowers=600, months=3, overrides=("run.start=2025-09", "run.burn_in=0"))


def test_model_exposes_levers_uncertainties_and_outcomes():
    model = make_ema_model("new-rules-2025", uncertainties={"pricing.leverage_sensitivity": (1.0, 5.0)},
                           outcomes=("head_share", "rationed_share"), **SMALL)
    assert [p.name for p in model.levers] == [ema_name(k) for k in DEFAULT_LEVERS]
    assert [p.name for p in model.uncertainties] == ["pricing__leverage_sensitivity"]
    assert [o.name for o in model.outcomes] == ["head_share", "rationed_share"]


def test_small_experiment_set_runs_end_to_end():
    model = make_ema_model("new-rules-2025", uncertainties={"borrowers.shadow_prob_refinance": (0.2, 0.6)},
                           levers={"policy.rate_cap.apr": (0.12, 0.36)}, outcomes=("rationed_share", "head_share"),
                           **SMALL)
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
