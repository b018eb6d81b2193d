"""Unit tests for model.mechanisms.funding: credit-line allocation, weighted picks, funding in order."""

import numpy as np
import pytest

from model.mechanisms.funding import (
    allocate_lines,
    allocate_lines_in_stages,
    fund_in_order,
    pick_by_weight,
    preference_scores,
)


def _random_case(seed):
    rng = np.random.default_rng(seed)
    n_f, n_p = 6, 9
    budget = rng.uniform(0, 100, n_f)
    demand = rng.uniform(0, 120, n_p)
    partners = rng.random((n_f, n_p)) < 0.5
    score = rng.normal(0, 1, n_p)
    return budget, demand, partners, score


def test_allocate_lines_respects_budget_demand_and_partners():
    for seed in range(20):
        budget, demand, partners, score = _random_case(seed)
        lines = allocate_lines(budget, demand, partners, score)
        assert np.all(lines >= 0)
        assert np.all(lines.sum(axis=1) <= budget + 1e-9)
        assert np.all(lines.sum(axis=0) <= demand + 1e-9)
        assert np.all(lines[~partners] == 0)


def test_allocate_lines_preference_tilts_short_supply():
    budget = np.array([100.0])
    demand = np.array([100.0, 100.0])
    partners = np.ones((1, 2), dtype=bool)
    lines = allocate_lines(budget, demand, partners, np.array([1.0, 0.0]))
    assert abs(lines.sum() - 100.0) < 1e-9  # the whole budget is lent
    assert lines[0, 0] > lines[0, 1]
    np.testing.assert_allclose(lines[0, 0] / lines[0, 1], np.e)
    # Equal scores: equal split.
    even = allocate_lines(budget, demand, partners, np.zeros(2))
    np.testing.assert_allclose(even, [[50.0, 50.0]])


def test_allocate_lines_meets_full_demand_when_ample():
    budget = np.array([1000.0, 1000.0])
    demand = np.array([30.0, 70.0, 5.0])
    partners = np.array([[True, True, False], [False, True, True]])
    lines = allocate_lines(budget, demand, partners, np.array([2.0, -1.0, 0.5]))
    np.testing.assert_allclose(lines.sum(axis=0), demand, rtol=1e-9)


def test_allocate_lines_empty():
    assert allocate_lines(np.zeros(0), np.ones(3), np.zeros((0, 3), dtype=bool), np.zeros(3)).shape == (0, 3)


def test_pick_by_weight_never_zero_weight_and_matches_frequencies():
    rng = np.random.default_rng(0)
    w = np.array([[0.0, 1.0, 3.0, 0.0], [2.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    n = 200_000
    group = rng.integers(0, 3, n)
    col = pick_by_weight(rng, group, w)
    assert np.all(col[group == 2] == -1)
    valid = group < 2
    assert np.all(col[valid] >= 0)
    assert np.all(w[group[valid], col[valid]] > 0)
    for r in (0, 1):
        sel = col[group == r]
        freq = np.bincount(sel, minlength=4) / sel.size
        np.testing.assert_allclose(freq, w[r] / w[r].sum(), atol=0.01)


def test_pick_by_weight_single_positive_column():
    rng = np.random.default_rng(1)
    w = np.array([[0.0, 0.0, 5.0]])
    col = pick_by_weight(rng, np.zeros(1000, dtype=np.int64), w)
    assert np.all(col == 2)


def test_fund_in_order_never_overdraws():
    rng = np.random.default_rng(5)
    n = 2000
    key = rng.integers(0, 5, n)
    amount = rng.uniform(1, 10, n)
    capacity = np.array([0.0, 50.0, 500.0, 5000.0, 100_000.0])
    order = rng.permutation(n)
    funded = fund_in_order(key, amount, capacity, order)
    used = np.bincount(key[funded], weights=amount[funded], minlength=5)
    assert np.all(used <= capacity + 1e-6)
    assert not funded[key == 0].any()
    assert funded[key == 4].all()  # ample line funds everyone
    # Funded loans of a line form a prefix of that line's queue (cumulative rule).
    for k in range(5):
        q = order[key[order] == k]
        f = funded[q]
        assert not np.any(f[1:] & ~f[:-1])


def test_fund_in_order_with_draws_funds_each_line_in_expectation():
    """With uniform draws, the first loan that overdraws a line is funded with probability left / amount: over
    many orders a line of 30 facing loans of 100 lends 30 on average, one of 250 lends 250, and an empty line
    nothing; at most one loan per line overdraws it."""
    key = np.repeat(np.arange(3), 5)
    amount = np.full(15, 100.0)
    capacity = np.array([30.0, 250.0, 0.0])
    rng = np.random.default_rng(11)
    total = np.zeros(3)
    for _ in range(4000):
        funded = fund_in_order(key, amount, capacity, rng.permutation(15), rng.random(15))
        used = np.bincount(key[funded], weights=amount[funded], minlength=3)
        assert np.all(used <= capacity + 100.0)
        total += used
    np.testing.assert_allclose(total / 4000, [30.0, 250.0, 0.0], atol=5.0)


def test_fund_in_order_order_matters():
    key = np.zeros(2, dtype=np.int64)
    amount = np.array([6.0, 5.0])
    cap = np.array([7.0])
    np.testing.assert_array_equal(fund_in_order(key, amount, cap, np.array([0, 1])), [True, False])
    np.testing.assert_array_equal(fund_in_order(key, amount, cap, np.array([1, 0])), [False, True])


def test_preference_scores_ordering():
    vol = np.array([100.0, 10.0, 100.0, 100.0, 100.0])
    age = np.array([24.0, 24.0, 60.0, 24.0, 24.0])
    loss = np.array([0.0, 0.0, 0.0, 0.1, 0.0])
    comp = np.array([0.0, 0.0, 0.0, 0.0, 0.5])
    s = preference_scores(vol, age, loss, comp, 1.0, 0.5, 10.0, 2.0)
    assert s[0] > s[1]  # bigger preferred
    assert s[2] > s[0]  # older preferred
    assert s[3] < s[0]  # worse track record penalized
    assert s[4] < s[0]  # complaints penalized
    np.testing.assert_allclose(s[0] - s[3], 1.0)
    np.testing.assert_allclose(s[0] - s[4], 1.0)


def test_staged_lines_renew_what_is_drawn_before_granting_growth_room():
    """One funder with 100 for two partners: a preferred one asking 90 but drawing 40, another asking 60 and
    drawing 50. In one stage the preference gives the first most of the budget and starves the second's running
    business; staged, both draws are met first (40 + 50) and only the 10 left is growth room."""
    budget, partners = np.array([100.0]), np.ones((1, 2), dtype=bool)
    score = np.array([3.0, 0.0])
    one = allocate_lines(budget, np.array([90.0, 60.0]), partners, score)
    assert one[0, 1] < 50.0
    staged = allocate_lines_in_stages(budget, [np.array([40.0, 50.0]), np.array([90.0, 60.0])], partners, score)
    assert staged[0, 1] >= 50.0 - 1e-9 and staged[0, 0] >= 40.0 - 1e-9
    assert staged.sum() == pytest.approx(100.0)
    assert (staged.sum(axis=0) <= np.array([90.0, 60.0]) + 1e-9).all()


def test_staged_lines_equal_one_stage_when_budgets_are_ample():
    """With budget for every request, staging changes nothing: each platform gets its whole request."""
    rng = np.random.default_rng(3)
    partners = rng.random((4, 6)) < 0.7
    partners[:, :] |= np.eye(4, 6, dtype=bool)
    demand = rng.uniform(10, 50, 6)
    drawn = demand * rng.uniform(0.3, 1.0, 6)
    budget = np.full(4, 1e6)
    staged = allocate_lines_in_stages(budget, [drawn, demand], partners, rng.normal(size=6))
    covered = partners.any(axis=0)
    np.testing.assert_allclose(staged.sum(axis=0)[covered], demand[covered])
