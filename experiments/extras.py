"""Optional dependencies: the extras of ``pyproject.toml`` and the one check that names a missing one.

The core install (``pip install -c constraints.txt -e .``) runs the model and the commands built on the local
process pool. A feature that needs an extra calls :func:`require` before it imports the extra's packages, so a
core install gets one message naming the extra and its install line instead of a ``ModuleNotFoundError``::

    require("calibrate", "optuna", "cmaes", what="zhudai calibrate")

The ``zhudai`` command line prints the message of :class:`MissingExtra` as one line and exits with status 2.
The check looks the modules up without importing them, so it costs nothing when they are there.
"""

from __future__ import annotations

import importlib.util

#: Extra -> (what it enables, the top-level modules it brings). Kept in step with ``pyproject.toml`` by a test.
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dashboard": ("zhudai dashboard (Mesa's SolaraViz page)", ("solara", "solara_assets", "ipyvuetify", "altair",
                                                               "networkx")),
    "dask": ("--scheduler local|ADDRESS (the dask.distributed executor) and SLURM/PBS clusters",
             ("dask", "distributed", "dask_jobqueue")),
    "ema": ("the EMA Workbench adapter (experiments.analysis.ema)", ("ema_workbench",)),
    "calibrate": ("zhudai calibrate (optuna, CMA-ES)", ("optuna", "cmaes")),
}


class MissingExtra(ImportError):
    """A feature needs an optional extra that is not installed; the message names it and how to install it."""

    def __init__(self, extra: str, what: str, missing: list[str]) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(f"{what} needs the optional '{extra}' dependencies: pip install -c constraints.txt -e "
                         f"\".[{extra}]\" (not installed: {', '.join(missing)})")


def installed(module: str) -> bool:
    """Whether ``module`` can be found for import (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked module, or one in sys.modules without a spec
        return False


def require(extra: str, *modules: str, what: str) -> None:
    """Raise :class:`MissingExtra` if any of ``modules`` (default: all of the extra's) cannot be imported.

    Args:
        extra: the extra's name in ``pyproject.toml`` (a key of :data:`EXTRAS`).
        modules: the top-level modules the feature imports; every module of the extra when none are given.
        what: the feature, as the message names it (``"zhudai calibrate"``).

    Raises:
        MissingExtra: naming the extra, its install line and the modules that are missing.
        KeyError: for an extra that :data:`EXTRAS` does not list (a programming error).
    """
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}")
    wanted = modules or EXTRAS[extra][1]
    missing = [m for m in wanted if not installed(m)]
    if missing:
        raise MissingExtra(extra, what, missing)
