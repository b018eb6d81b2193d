"""zhudai-abm: an agent-based model of China's internet lending-assistance (助贷) industry.

Public API::

    from model import LendingModel, load_scenario
    scenario = load_scenario("new-rules-2025", overrides=["run.borrowers=50000"])
    m = LendingModel(scenario, rng=1)
    m.run()
    tables = m.tables()   # {"model": ..., "platforms": ..., "funders": ...} pandas DataFrames
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "LendingModel", "Scenario", "list_scenarios", "load_scenario"]


def __getattr__(name: str) -> Any:
    # Lazy imports keep `import model.config` cheap and free of the simulation's dependencies.
    if name == "__version__":  # one version for the distribution, written in experiments/__init__.py
        from experiments import __version__

        return __version__
    if name == "LendingModel":
        from model.lending import LendingModel

        return LendingModel
    if name in {"ConfigError", "Scenario", "list_scenarios", "load_scenario"}:
        from model import config

        return getattr(config, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
