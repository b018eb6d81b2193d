"""The cap's squeeze on the funder's spread, desks' loss calibration, and credit lines under rerouting."""

from __future__ import annotations

import numpy as np
import pytest

from model import LendingModel, load_scenario
from model.mechanisms.pricing import quote


def _quote(cap_all_in: float, min_spread_share: float, est_pd: float = 0.05) -> dict[str, np.ndarray]:
    one = np.ones(1)
    return quote(
        funding_cost=0.03 * one, spread=0.02 * one, est_pd=est_pd * one, lgd=1.0, take_rate=0.05 * one,
        service_fee=0.02 * one, guaranteed=np.zeros(1, dtype=bool), guarantee_margin=0.3, markup=0.0 * one,
        cap_nominal=np.inf * one, cap_all_in=cap_all_in * one, min_spread_share=min_spread_share,
    )


def test_funder_earns_its_full_spread_when_no_cap_binds():
    q = _quote(cap_all_in=1.0, min_spread_share=0.0)
    # cost 0.03 + EL 0.05 + spread 0.02; the platform keeps take 0.05 + fee 0.02.
    assert q["funder_rate"][0] == pytest.approx(0.10)
    assert q["apr"][0] == pytest.approx(0.17)
    assert q["originator_rate"][0] == pytest.approx(0.07)


def test_binding_cap_squeezes_the_funder_not_the_platform():
    # Required all-in is 0.17; a 0.16 cap leaves the funder 0.01 of its 0.02 spread.
    q = _quote(cap_all_in=0.16, min_spread_share=0.0)
    assert q["ok"][0]
    assert q["apr"][0] == pytest.approx(0.16)
    assert q["funder_rate"][0] == pytest.approx(0.09)
    assert q["originator_rate"][0] == pytest.approx(0.07)


def test_loan_refused_when_even_the_thinnest_spread_does_not_fit():
    assert not _quote(cap_all_in=0.16, min_spread_share=0.6)["ok"][0]  # minimum 0.162 > 0.16
    assert not _quote(cap_all_in=0.14, min_spread_share=0.0)["ok"][0]  # minimum 0.15 > 0.14
    assert _quote(cap_all_in=0.15, min_spread_share=0.0)["ok"][0]


def _steady_scale(ratio: float, decay: float = 0.9) -> float:
    # R and E converge to r / (1 - d) and e / (1 - d); the prior adds six months of e to both.
    horizon = 1.0 / (1.0 - decay)
    return (horizon * ratio + 6.0) / (horizon + 6.0)


def test_loss_calibration_converges_to_its_closed_form():
    m = LendingModel(load_scenario("baseline-2024", overrides=["run.borrowers=500", "run.burn_in=0"]), rng=1)
    p = m.platforms[0]
    for _ in range(200):
        p.learn_losses(expected=100.0, realised=200.0)
    assert p.pd_scale == pytest.approx(_steady_scale(2.0))  # 1.625: learns, shrunk toward 1
    for _ in range(200):
        p.learn_losses(expected=100.0, realised=50.0)
    assert p.pd_scale == pytest.approx(_steady_scale(0.5))
    assert p.pd_scale < 1.0
    for _ in range(200):
        p.learn_losses(expected=100.0, realised=10_000.0)
    assert p.pd_scale == 3.0  # clipped


def test_credit_line_pools_are_overdrawn_by_less_than_one_loan():
    """Each (funder kind, platform) pool of lines, and each direct line, ends the month above minus the largest
    loan of the month: a pool funds its capacity in expectation and overdraws by at most the one loan that was
    funded with probability left / amount (model/mechanisms/funding.py)."""
    m = LendingModel(load_scenario("new-rules-2025", overrides=["run.borrowers=20000", "run.months=6"]), rng=3)
    F, P = m.n_funders, m.n_platforms
    for _ in range(6):
        m.step()
        cap = m.flows.credit.capacity
        largest = max((a.max() for a in m.flows.new_amount if a.size), default=0.0)
        pools = np.zeros((int(m.lenders.kind.max()) + 1, P))
        np.add.at(pools, m.lenders.kind, cap[: F * P].reshape(F, P))
        assert pools.min() >= -largest - 1e-6
        assert cap[F * P:].min() >= -largest - 1e-6


