"""The one run path: build a :class:`model.lending.LendingModel`, run it, take its tables, release it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("model", "platforms", "funders")


def run_one(
    scenario: str, seed: int, borrowers: int, months: int, overrides: Sequence[str] = ()
) -> dict[str, pd.DataFrame]:
    """Run one scenario once and return its tables.

    Pure: no global state is kept (Mesa's class-level agent registry entry is removed) and nothing is
    written, so the same arguments give identical tables in any process.

    Args:
        scenario: shipped scenario name or path to a ``.toml`` file.
        seed: the run's random seed.
        borrowers: number of modelled borrowers (applied after ``overrides``).
        months: number of simulated months (applied after ``overrides``).
        overrides: ``dotted.key=value`` strings applied to the scenario first.

    Returns:
        ``{"model": df, "platforms": df, "funders": df}``.

    Raises:
        ConfigError: if the scenario or an override is invalid.
    """
    from model.config import load_scenario
    from model.lending import LendingModel

    resolved = load_scenario(scenario, [*overrides, f"run.borrowers={borrowers}", f"run.months={months}"])
    model = LendingModel(resolved, rng=seed)
    try:
        model.run()
        tables = model.tables()
    finally:
        model.release()  # a long-lived worker would otherwise hold every model it ever ran
    return {name: tables[name] for name in TABLES}
