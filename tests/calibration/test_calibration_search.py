"""The search loop (experiments/calibration/search.py) with a cheap fake ``evaluate``: budget, start point,
convergence, failed points, resuming a larger budget and resuming after an interrupted generation.

No model runs: the loss is a quadratic in the parameters, minimal at a known point.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from experiments.calibration import search, spec

PARAMS = spec.parse_params({"platforms.head.markup": [0.2, 0.6], "borrowers.hazard[2]": [0.02, 0.08]})
START = [0.38, 0.035]
OPTIMUM = [0.47, 0.051]


def quadratic(point) -> float:
    """Loss 0 at OPTIMUM, rising by 1 every 1% of a range away from it."""
    return sum(((v - o) / (p.high - p.low) / 0.01) ** 2 for p, v, o in zip(PARAMS, point, OPTIMUM, strict=True))


class FakeEvaluate:
    """Records every call; the moments are the parameter values themselves and the quadratic loss."""

    def __init__(self, fail=lambda point: False, interrupt_on_call: int | None = None):
        self.calls: list[tuple[list[list[float]], tuple[int, int]]] = []
        self.fail = fail
        self.interrupt_on_call = interrupt_on_call

    def __call__(self, points, numbers):
        self.calls.append(([list(p) for p in points], numbers))
        if self.interrupt_on_call is not None and len(self.calls) == self.interrupt_on_call:
            raise KeyboardInterrupt
        out = []
        for point in points:
            loss = math.nan if self.fail(point) else quadratic(point)
            out.append((loss, {"m_markup": point[0], "m_loss": quadratic(point)}))
        return out


def run(directory: Path, evaluate, *, budget: int, batch: int, sampler: str = "cmaes", seed: int = 11,
        report=None) -> search.SearchState:
    study = search.open_study(directory, PARAMS, START, sampler, seed)
    return search.search(study, PARAMS, evaluate, budget=budget, batch=batch, ledger=directory / search.MOMENTS_LEDGER,
                         report=report)


@pytest.mark.parametrize("sampler", search.SAMPLERS)
def test_search_finishes_exactly_the_budget_starting_from_the_start_point(tmp_path, sampler):
    lines: list[str] = []
    evaluate = FakeEvaluate()
    state = run(tmp_path, evaluate, budget=10, batch=4, sampler=sampler, report=lines.append)
    trials = state.trials
    assert len(trials) == 10 and trials["trial"].tolist() == list(range(10))
    assert set(trials["state"]) == {"complete"}
    # Generations of 4, 4 and the 2 the budget leaves; one report line each.
    assert [numbers for _, numbers in evaluate.calls] == [(0, 3), (4, 7), (8, 9)]
    assert [len(points) for points, _ in evaluate.calls] == [4, 4, 2]
    assert len(lines) == 3 and lines[-1].startswith("trials 8-9 done (10 of 10); best loss")
    # Trial 0 is the scenario's own values.
    first = trials.iloc[0]
    assert first["origin"] == "start" and [first[p.name] for p in PARAMS] == START
    assert evaluate.calls[0][0][0] == START
    assert set(trials["origin"].iloc[1:]) == {"sampler"}
    # Every point lies in its range; the losses and moments are those evaluate gave.
    for p in PARAMS:
        assert trials[p.name].between(p.low, p.high).all()
    assert trials["loss"].tolist() == pytest.approx([quadratic(row) for row in trials[[p.name for p in PARAMS]]
                                                     .to_numpy()])
    assert trials["m_markup"].tolist() == pytest.approx(trials["platforms.head.markup"].tolist())
    ledger = pd.read_csv(tmp_path / search.MOMENTS_LEDGER)
    assert ledger["trial"].tolist() == list(range(10))
    # The best point is the lowest loss.
    assert state.best_trial == int(trials["loss"].idxmin()) and state.best_loss == trials["loss"].min()
    assert state.best_values == {p.name: trials.loc[state.best_trial, p.name] for p in PARAMS}


def test_best_loss_decreases_toward_the_known_minimum(tmp_path):
    state = run(tmp_path, FakeEvaluate(), budget=64, batch=8)
    losses = state.trials["loss"]
    start_loss = quadratic(START)
    first_generation, last_generation = losses.iloc[:8], losses.iloc[-8:]
    # Later generations sample closer to the minimum: the last one's median beats the first one's best.
    assert last_generation.median() < first_generation.min()
    assert state.best_loss < first_generation.min() and state.best_loss < 0.05 * start_loss
    assert state.best_loss < 10  # within about 3% of each range from the optimum
    for p, o in zip(PARAMS, OPTIMUM, strict=True):
        assert abs(state.best_values[p.name] - o) < 0.035 * (p.high - p.low)


def test_non_finite_loss_is_told_as_failed(tmp_path):
    evaluate = FakeEvaluate(fail=lambda point: point[0] > 0.4)
    state = run(tmp_path, evaluate, budget=12, batch=4)
    trials = state.trials.set_index("trial")
    failed = trials[trials["platforms.head.markup"] > 0.4]
    assert len(trials) == 12 and not failed.empty
    assert set(failed["state"]) == {"fail"} and (failed["loss"] == math.inf).all()
    assert set(trials.loc[trials["platforms.head.markup"] <= 0.4, "state"]) == {"complete"}
    # Failed points count toward the budget and are never the best.
    assert state.best_trial not in failed.index and math.isfinite(state.best_loss)
    # Their moments are still in the ledger.
    assert trials.loc[failed.index, "m_markup"].tolist() == pytest.approx(failed["platforms.head.markup"].tolist())


def test_no_finite_loss_gives_no_best(tmp_path):
    state = run(tmp_path, FakeEvaluate(fail=lambda point: True), budget=3, batch=3)
    assert len(state.trials) == 3 and set(state.trials["state"]) == {"fail"}
    assert state.best_trial is None and state.best_loss == math.inf and state.best_values == {}


def test_larger_budget_resumes_and_keeps_the_finished_trials(tmp_path):
    first = run(tmp_path, FakeEvaluate(), budget=6, batch=4)
    assert len(first.trials) == 6
    again = FakeEvaluate()
    state = run(tmp_path, again, budget=10, batch=4)
    assert len(state.trials) == 10 and state.trials["trial"].tolist() == list(range(10))
    pd.testing.assert_frame_equal(state.trials.iloc[:6].reset_index(drop=True), first.trials)
    assert [numbers for _, numbers in again.calls] == [(6, 9)]
    # The same budget again: nothing to do.
    idle = FakeEvaluate()
    pd.testing.assert_frame_equal(run(tmp_path, idle, budget=10, batch=4).trials, state.trials)
    assert idle.calls == []


@pytest.mark.parametrize("interrupted_call", [1, 2], ids=["first-generation", "second-generation"])
def test_interrupted_generation_is_evaluated_first_on_resume(tmp_path, interrupted_call):
    killed = FakeEvaluate(interrupt_on_call=interrupted_call)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, killed, budget=12, batch=4)
    pending_points, pending_numbers = killed.calls[-1]
    finished = killed.calls[:-1]
    before = search.state_of(search.open_study(tmp_path, PARAMS, START, "cmaes", 11), PARAMS,
                             tmp_path / search.MOMENTS_LEDGER).trials
    assert len(before) == 4 * (interrupted_call - 1)

    resumed = FakeEvaluate()
    state = run(tmp_path, resumed, budget=12, batch=4)
    # The points asked for before the interruption come first, exactly, under their trial numbers.
    assert resumed.calls[0] == (pending_points, pending_numbers)
    assert [numbers for _, numbers in resumed.calls] == [(n, n + 3) for n in range(4 * (interrupted_call - 1), 12, 4)]
    # Nothing finished is lost or evaluated again; the budget counts every session's trials.
    trials = state.trials
    assert len(trials) == 12 and trials["trial"].tolist() == list(range(12))
    assert set(trials["state"]) == {"complete"}
    if len(before):
        pd.testing.assert_frame_equal(trials.iloc[: len(before)].reset_index(drop=True), before)
    evaluated = [tuple(p) for points, _ in [*finished, *resumed.calls] for p in points]
    assert len(evaluated) == 12
    assert trials.loc[0, "origin"] == "start" and [trials.loc[0, p.name] for p in PARAMS] == START
    interrupted = trials.set_index("trial").loc[list(range(pending_numbers[0], pending_numbers[1] + 1))]
    assert interrupted[[p.name for p in PARAMS]].to_numpy().tolist() == pending_points


def test_interrupted_evaluation_leaves_no_ledger_rows_for_unfinished_points(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, FakeEvaluate(interrupt_on_call=2), budget=8, batch=4)
    ledger = pd.read_csv(tmp_path / search.MOMENTS_LEDGER)
    assert ledger["trial"].tolist() == [0, 1, 2, 3]


def test_open_study_rejects_an_unknown_sampler(tmp_path):
    with pytest.raises(ValueError, match="unknown sampler"):
        search.open_study(tmp_path, PARAMS, START, "grid", 1)


def test_a_moment_named_like_a_column_of_the_trials_table_is_refused():
    """A moment called ``loss`` (or ``trial``, ``param``...) would collide with the calibration's own columns."""
    for name in ("loss", "trial", "param", "replicate"):
        data = {"moment": [{"name": name, "metric": "cr5", "window": ["2024-01", "2024-06"], "value": 0.7,
                            "tolerance": 0.05, "source": "s"}]}
        with pytest.raises(spec.CalibrationError, match="reserved"):
            spec.parse_moments(data)


def test_kill_between_tells_resumes_the_generation_under_its_own_label(tmp_path):
    evaluate = FakeEvaluate()
    study = search.open_study(tmp_path, PARAMS, START, "cmaes", 11)
    tell = study.tell
    told = []

    def tell_then_die(*args, **kwargs):
        if told:
            raise KeyboardInterrupt
        told.append(args)
        return tell(*args, **kwargs)

    study.tell = tell_then_die
    with pytest.raises(KeyboardInterrupt):
        search.search(study, PARAMS, evaluate, budget=8, batch=4, ledger=tmp_path / search.MOMENTS_LEDGER)
    assert evaluate.calls[0][1] == (0, 3) and len(told) == 1

    resumed = FakeEvaluate()
    state = run(tmp_path, resumed, budget=8, batch=4)
    assert len(state.trials) == 8
    # The pending trials 1-3 are the rest of generation 0-3: the whole generation is evaluated again under its own
    # label (so its batch directory, every run already stored, is found), and trial 0 keeps the loss it was told.
    assert resumed.calls[0] == (evaluate.calls[0][0], (0, 3))
    assert state.trials.loc[state.trials["trial"] == 0, "loss"].iloc[0] == quadratic(evaluate.calls[0][0][0])
