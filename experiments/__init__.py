"""Experiments: scenarios, runner, CLI.

``__version__`` is the version of zhudai-abm, the distribution that holds ``model`` and ``experiments``. It is
written here only: ``pyproject.toml`` reads it (``dynamic = ["version"]``), ``model.__version__``, ``zhudai
--version`` and every manifest the project writes take it from here, so it is right when the code runs from a
checkout on ``PYTHONPATH`` without being installed.

Importing this package first checks that ``import model`` finds zhudai-abm's own ``model`` package
(:mod:`experiments.namecheck`); another package of that name first on the path stops the program with one message.
"""

__version__ = "0.6.0"

from experiments.namecheck import exit_if_model_clashes

exit_if_model_clashes()
