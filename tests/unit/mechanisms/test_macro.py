"""Unit tests for model.mechanisms.macro: the LPR path and the unemployment-shock hazard multiplier."""

import dataclasses

import pytest

from model.calendar import parse_month
from model.mechanisms.macro import hazard_multiplier, lpr_at
from model.params import MacroParams

START = parse_month("2024-01")
HORIZON = 11  # months START .. START + 10; the path spans 10 months
MACRO = dataclasses.replace(MacroParams(), lpr_start=0.04, lpr_end=0.03)


def test_lpr_path_ends_and_midpoint():
    """The LPR is lpr_start in the start month, lpr_end in the last month (START + horizon - 1), linear between."""
    assert lpr_at(MACRO, START, START, HORIZON) == pytest.approx(0.04)
    assert lpr_at(MACRO, START + 10, START, HORIZON) == pytest.approx(0.03)
    # Halfway (month 5 of 10): 0.04 + (0.03 - 0.04) * 0.5 = 0.035; a fifth of the way: 0.04 - 0.002 = 0.038.
    assert lpr_at(MACRO, START + 5, START, HORIZON) == pytest.approx(0.035)
    assert lpr_at(MACRO, START + 2, START, HORIZON) == pytest.approx(0.038)


def test_lpr_clipped_outside_the_horizon():
    """Before the start month the LPR stays at lpr_start (burn-in); after the horizon it stays at lpr_end."""
    assert lpr_at(MACRO, START - 24, START, HORIZON) == pytest.approx(0.04)
    assert lpr_at(MACRO, START - 1, START, HORIZON) == pytest.approx(0.04)
    assert lpr_at(MACRO, START + 11, START, HORIZON) == pytest.approx(0.03)
    assert lpr_at(MACRO, START + 100, START, HORIZON) == pytest.approx(0.03)


def test_lpr_one_month_horizon_does_not_divide_by_zero():
    """With a one-month horizon the span is taken as one month: lpr_start now, lpr_end from the next month."""
    assert lpr_at(MACRO, START, START, 1) == pytest.approx(0.04)
    assert lpr_at(MACRO, START + 1, START, 1) == pytest.approx(0.03)


SHOCK = dataclasses.replace(MacroParams(), shock_enabled=True, shock_start="2026-01", shock_months=6,
                            shock_multiplier=2.5)


def test_shock_window_first_last_and_month_after():
    """A 6-month shock from 2026-01 multiplies hazards in 2026-01 .. 2026-06 only, not in 2025-12 or 2026-07."""
    assert hazard_multiplier(SHOCK, parse_month("2025-12")) == 1.0
    assert hazard_multiplier(SHOCK, parse_month("2026-01")) == 2.5
    assert hazard_multiplier(SHOCK, parse_month("2026-06")) == 2.5
    assert hazard_multiplier(SHOCK, parse_month("2026-07")) == 1.0


def test_shock_disabled_or_zero_months_is_inert():
    """A disabled shock, or one lasting zero months, leaves the multiplier at 1 in its start month."""
    off = dataclasses.replace(SHOCK, shock_enabled=False)
    empty = dataclasses.replace(SHOCK, shock_months=0)
    assert hazard_multiplier(off, parse_month("2026-01")) == 1.0
    assert hazard_multiplier(empty, parse_month("2026-01")) == 1.0
