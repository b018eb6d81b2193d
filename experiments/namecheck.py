"""Is the ``model`` that Python imports ours? The design fixes the import names ``model`` and ``experiments``.

``model`` is a common name: another installed distribution, or a ``model/`` package or ``model.py`` in the
working directory or on ``PYTHONPATH``, can come before zhudai-abm's on ``sys.path``. Every command would then fail
later with a confusing ``ModuleNotFoundError: No module named 'model.config'`` (or run someone else's code).

The check finds where ``model`` would be imported from without importing it (or reads where it was imported from),
and accepts it only if it is the ``model/`` directory beside this package's own directory. It costs one path look-up.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

#: Exit status of a clash: the ``zhudai`` status of bad input or set-up (nothing is run or written).
EXIT_CLASH = 2
#: Where our ``model`` package lives: beside ``experiments/`` (a checkout, an editable or a regular install).
OURS = Path(__file__).resolve().parent.parent / "model"


def _model_location() -> Path | None:
    """The directory (package) or file (module) that ``import model`` gives; None if there is none."""
    module = sys.modules.get("model")
    if module is not None:
        origin = getattr(module, "__file__", None)
        locations = list(getattr(module, "__path__", []) or [])
    else:
        try:
            spec = importlib.util.find_spec("model")
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        origin = spec.origin if spec.has_location else None
        locations = list(spec.submodule_search_locations or [])
    if origin:
        path = Path(origin).resolve()
        return path.parent if path.name == "__init__.py" else path
    return Path(locations[0]).resolve() if locations else None


def model_clash() -> str | None:
    """Why the ``model`` on the import path is not zhudai-abm's (one message with the fix), or None when it is."""
    where = _model_location()
    if where == OURS:
        return None
    fix = ("zhudai-abm needs the import name 'model' for itself. Fix: run zhudai in its own virtual environment "
           "(python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e .), or uninstall "
           "the other package (pip uninstall <its distribution>), or take its directory off PYTHONPATH or out of "
           "the working directory")
    if where is None:
        return f"cannot find zhudai-abm's 'model' package (expected {OURS}); reinstall zhudai-abm. {fix}"
    return f"the 'model' package on the import path is not zhudai-abm's: it is {where} (expected {OURS}). {fix}"


def exit_if_model_clashes() -> None:
    """Print the clash (:func:`model_clash`) as one ``zhudai:`` line and exit with status 2; do nothing otherwise."""
    message = model_clash()
    if message is not None:
        print(f"zhudai: {message}", file=sys.stderr)
        raise SystemExit(EXIT_CLASH)
