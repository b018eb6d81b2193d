"""The one t-quantile and mean interval (experiments/analysis/stats.py) every summary, report and target uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.analysis.stats import mean_interval, t_quantile


@pytest.mark.parametrize(("df", "expected"), [(1, 12.7062047), (4, 2.7764451), (30, 2.0422725), (1000, 1.9623391)])
def test_t_quantile_is_students_t_at_0975(df, expected):
    assert t_quantile(df) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("df", [0, -1, 0.5, math.nan])
def test_t_quantile_below_one_degree_of_freedom_is_nan(df):
    assert math.isnan(t_quantile(df))


def test_mean_interval_of_a_sample():
    x = np.array([1.0, 2.0, 4.0, math.nan])
    n, mean, sd, low, high = mean_interval(x)
    assert (n, mean) == (3, pytest.approx(7 / 3))
    assert sd == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    half = t_quantile(2) * sd / math.sqrt(3)
    assert (low, high) == (pytest.approx(mean - half), pytest.approx(mean + half))


@pytest.mark.parametrize(("values", "n"), [([], 0), ([math.nan], 0), ([3.0], 1), ([3.0, math.nan], 1)])
def test_mean_interval_without_two_values_has_no_bounds(values, n):
    got_n, mean, sd, low, high = mean_interval(np.array(values, dtype=float))
    assert got_n == n
    assert math.isnan(sd) and math.isnan(low) and math.isnan(high)
    assert math.isnan(mean) == (n == 0)
