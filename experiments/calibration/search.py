"""The search: an optuna study asks for parameter points, the batch engine evaluates them, the study learns.

The study lives in ``DIR/study.journal`` (optuna's journal file storage, append-only), and each finished
point's moments in ``DIR/moments.csv`` (written before the study is told), so a killed calibration loses no
evaluation: the points it had asked for but not yet told stay RUNNING in the journal and are
evaluated first when the command is run again, and their runs already stored in the batch directory of their
generation are not rerun. A generation (the points asked for together) is one batch directory
(``DIR/evals/trials-AAAA-BBBB``) holding one sweep point per distinct parameter point and ``R`` replicates with
the same seeds at every point (common random numbers), so it runs on the local process pool or a dask cluster
like any batch.

This module knows nothing of how points are run: :func:`search` takes an ``evaluate`` callable (a list of
parameter points -> their losses and moments), which the command builds on the batch engine and tests may
replace with a cheap function.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.calibration import SAMPLERS
from experiments.calibration.spec import CalParam

STUDY_FILE = "study.journal"
STUDY_NAME = "zhudai-calibrate"
MOMENTS_LEDGER = "moments.csv"
#: Trial user attribute: ``[first, last]`` trial numbers of the generation the trial was asked in.
GENERATION_ATTR = "generation"

#: evaluate(points) -> one (loss, {moment: value}) per point, in order.
Evaluate = Callable[[Sequence[Sequence[float]], tuple[int, int]], list[tuple[float, dict[str, float]]]]


@dataclass
class SearchState:
    """What the study holds: every finished trial as a row (``trial``, parameters, ``loss``, moments)."""

    trials: pd.DataFrame
    best_trial: int | None
    best_loss: float
    best_values: dict[str, float]


def _optuna() -> Any:
    from experiments.extras import require

    require("calibrate", what="zhudai calibrate")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(out: Path, params: Sequence[CalParam], start: Sequence[float], sampler: str, seed: int) -> Any:
    """Create or reopen the study of a calibration directory; a new study first evaluates ``start``.

    CMA-ES starts its search distribution at the middle of the ranges (optuna's default); the scenario's own
    values are evaluated first as trial 0, so the report can compare the fit before and after.
    """
    optuna = _optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    # The open-file lock is released by the operating system when a killed process dies (the default symlink
    # lock would be left behind and stall the next session for its grace period).
    path = os.fspath(out / STUDY_FILE)
    storage = JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    x0 = {p.name: float(v) for p, v in zip(params, start, strict=True)}
    if sampler == "cmaes":
        chosen = optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    elif sampler == "tpe":
        chosen = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    else:
        raise ValueError(f"unknown sampler {sampler!r} (one of {', '.join(SAMPLERS)})")
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, sampler=chosen, direction="minimize",
                                load_if_exists=True)
    if not study.trials:
        study.enqueue_trial(x0, user_attrs={"origin": "start"})
    return study


def distributions(params: Sequence[CalParam]) -> dict[str, Any]:
    """optuna's search space of the parameters."""
    optuna = _optuna()
    return {p.name: optuna.distributions.FloatDistribution(p.low, p.high) for p in params}


def search(study: Any, params: Sequence[CalParam], evaluate: Evaluate, *, budget: int, batch: int, ledger: Path,
           report: Callable[[str], None] | None = None) -> SearchState:
    """Run the study until ``budget`` trials have finished, ``batch`` points at a time.

    Points asked for by an earlier, interrupted session (RUNNING in the journal) are evaluated first. A point
    whose loss is not finite (a moment undefined in every replicate) is told as failed; CMA-ES never sees it.

    Args:
        study: from :func:`open_study`.
        params: the calibrated parameters.
        evaluate: runs points, returns their losses and moments.
        budget: trials to finish in all (counting earlier sessions').
        batch: points asked for together (a generation).
        ledger: the CSV file of every finished point's moments.
        report: called with one line per generation.

    Returns:
        The state of the study after the search.
    """
    _optuna()
    from optuna.trial import TrialState

    space = distributions(params)
    names = [p.name for p in params]
    while True:
        members, pending = _unfinished_generation(study)
        if not members:
            finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)))
            if finished >= budget:
                break
            asked = [study.ask(space) for _ in range(min(batch, budget - finished))]
            label = [asked[0].number, asked[-1].number]
            for trial in asked:
                trial.set_user_attr(GENERATION_ATTR, label)
            members, pending = _unfinished_generation(study)
        numbers = sorted(t.number for t in members)
        by_number = {t.number: t for t in members}
        points = [[float(by_number[n].params[name]) for name in names] for n in numbers]
        results = evaluate(points, (numbers[0], numbers[-1]))
        _record(ledger, [{"trial": n, **moments} for n, (_, moments) in zip(numbers, results, strict=True)])
        todo = {t.number for t in pending}
        for n, (value, _moments) in zip(numbers, results, strict=True):
            if n not in todo:
                continue
            if math.isfinite(value):
                study.tell(n, value)
            else:
                study.tell(n, state=TrialState.FAIL)
        state = state_of(study, params, ledger)
        if report is not None:
            best = f"best loss {state.best_loss:.3g} (trial {state.best_trial})" if state.best_trial is not None \
                else "no finite loss yet"
            report(f"trials {numbers[0]}-{numbers[-1]} done ({len(state.trials)} of {budget}); {best}")
    return state_of(study, params, ledger)


def _unfinished_generation(study: Any) -> tuple[list[Any], list[Any]]:
    """The oldest generation with a trial still RUNNING: all its trials (finished or not) and the running ones.

    A generation is evaluated whole (its batch directory holds every point of it, so runs already stored are
    not rerun), but only its running trials are told: a kill between two ``tell`` calls loses nothing.
    """
    from optuna.trial import TrialState

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return [], []

    def label(trial: Any) -> tuple[int, int]:
        value = trial.user_attrs.get(GENERATION_ATTR)
        return (int(value[0]), int(value[1])) if value else (trial.number, trial.number)

    oldest = min(label(t) for t in running)
    members = [t for t in study.get_trials(deepcopy=False) if label(t) == oldest and t.params]
    return members, [t for t in running if label(t) == oldest]


def _record(ledger: Path, rows: list[dict[str, Any]]) -> None:
    """Add rows to the moments ledger (a trial evaluated again replaces its row), atomically."""
    from experiments.store.common import atomic_write

    new = pd.DataFrame(rows)
    if ledger.exists():
        old = pd.read_csv(ledger)
        new = pd.concat([old[~old["trial"].isin(new["trial"])], new], ignore_index=True)
    new = new.sort_values("trial", ignore_index=True)
    atomic_write(ledger, lambda tmp: new.to_csv(tmp, index=False))


def state_of(study: Any, params: Sequence[CalParam], ledger: Path) -> SearchState:
    """The finished trials of a study as a table with their moments, and its best point."""
    from optuna.trial import TrialState

    moments = pd.read_csv(ledger) if ledger.exists() else pd.DataFrame({"trial": []})
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name.lower(),
                               "origin": t.user_attrs.get("origin", "sampler")}
        row.update({p.name: t.params.get(p.name, math.nan) for p in params})
        row["loss"] = t.value if t.state == TrialState.COMPLETE else math.inf
        rows.append(row)
    trials = pd.DataFrame(rows)
    if not trials.empty:
        trials = trials.merge(moments, on="trial", how="left")
    if trials.empty or not (trials["loss"] < math.inf).any():
        return SearchState(trials, None, math.inf, {})
    trials = trials.sort_values("trial", ignore_index=True)
    best = trials.loc[trials["loss"].idxmin()]
    return SearchState(trials, int(best["trial"]), float(best["loss"]), {p.name: float(best[p.name]) for p in params})
