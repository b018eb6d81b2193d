"""Calibration: estimate behavioural parameters against the moments of the pre-rule industry (``zhudai calibrate``).

:mod:`~experiments.calibration.spec` reads moments and parameter files and computes the loss;
:mod:`~experiments.calibration.search` drives the optuna study; :mod:`~experiments.calibration.profile` checks
identifiability and the fit; :mod:`~experiments.calibration.outputs` writes the overlay, tables, figures and report.
The shipped inputs are ``moments-2024.toml`` and ``params-2024.toml`` beside this file.
"""

#: optuna samplers a calibration can use (``zhudai calibrate --sampler``; :func:`.search.open_study`).
SAMPLERS = ("cmaes", "tpe")
