"""Macro conditions (step 2 of the month): the LPR path and the income-shock multiplier."""

from __future__ import annotations

from model.calendar import parse_month
from model.params import MacroParams


def lpr_at(macro: MacroParams, month: int, start_month: int, horizon: int) -> float:
    """The one-year LPR in ``month``: linear from ``lpr_start`` at the start month to ``lpr_end`` at the horizon."""
    span = max(horizon - 1, 1)
    frac = min(max((month - start_month) / span, 0.0), 1.0)
    return macro.lpr_start + (macro.lpr_end - macro.lpr_start) * frac


def hazard_multiplier(macro: MacroParams, month: int) -> float:
    """Income-shock hazard multiplier: ``shock_multiplier`` during an enabled unemployment shock, else 1."""
    on = (macro.shock_enabled and parse_month(macro.shock_start) <= month
          < parse_month(macro.shock_start) + macro.shock_months)
    return macro.shock_multiplier if on else 1.0
