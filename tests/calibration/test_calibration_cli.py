"""``zhudai calibrate`` refusing bad input: exit 2, one message on stderr, no traceback, nothing written to --out.

Every case fails before any run, except the refusal of an --out holding another calibration, which reads the
shared tiny calibration (conftest.py).
"""

from __future__ import annotations

import pytest
from calibration_helpers import TINY_MOMENTS, TINY_PARAMS, TINY_RUNS, TINY_SEARCH, moments_toml, params_toml, snapshot

from experiments.cli.main import main


def calibrate(capsys, moments, params, out, *extra, scenario="baseline-2024") -> tuple[int, str, str]:
    code = main(["calibrate", scenario, "--moments", str(moments), "--params", str(params), *TINY_SEARCH,
                 *TINY_RUNS, *extra, "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, stdout: str, stderr: str, *fragments: str) -> None:
    assert code == 2, stderr
    assert stdout == ""
    assert stderr.startswith("zhudai: ") and stderr.count("zhudai: ") == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, (fragment, stderr)


@pytest.fixture
def good(write):
    """Valid moments and parameter files."""
    return write("moments.toml", moments_toml(TINY_MOMENTS)), write("params.toml", params_toml(TINY_PARAMS))


def with_moment(**change) -> list[dict]:
    """The tiny moments with the first one changed (a None value removes a key)."""
    first = {k: v for k, v in {**TINY_MOMENTS[0], **change}.items() if v is not None}
    return [first, TINY_MOMENTS[1]]


#: baseline-2024 switches no rule on, so any recorded month is before the rules there; these cases switch the
#: cap on (from 2025-10, announced only then) so that the rules' start limits the windows.
WITH_A_RULE = ("--set", "policy.rate_cap.enabled=true")


@pytest.mark.parametrize(("moments", "extra", "fragments"), [
    (with_moment(metric="apr_head_new"), (), ["metric 'apr_head_new' is not a numeric model-table column"]),
    (with_moment(window=["2031-01", "2031-01"]), (), ["window 2031-01..2031-01 lies outside the simulated months "
                                                      "2024-01..2027-12"]),
    (with_moment(window=["2025-06", "2026-01"]), WITH_A_RULE, ["moment apr_head: window ends 2026-01",
                                                               "rules take effect in 2025-10"]),
    (with_moment(window=["2024-01", "2025-10"]), WITH_A_RULE, ["moment apr_head: window ends 2025-10"]),
    (with_moment(tolerance=0), (), ["needs tolerance = <number > 0>"]),
], ids=["unknown-metric", "outside-horizon", "after-rules", "at-rules", "zero-tolerance"])
def test_bad_moments_file_is_refused(capsys, write, good, tmp_path, moments, extra, fragments):
    path = write("bad-moments.toml", moments_toml(moments))
    out = tmp_path / "out"
    assert_refused(*calibrate(capsys, path, good[1], out, *extra), *fragments)
    assert not out.exists()


def test_window_after_the_announcement_is_refused(capsys, write, good, tmp_path):
    # new-rules-2025 announces its rules in 2025-04, before they bind in 2025-10.
    path = write("bad-moments.toml", moments_toml(with_moment(window=["2024-06", "2025-05"])))
    out = tmp_path / "out"
    code, stdout, stderr = calibrate(capsys, path, good[1], out, scenario="new-rules-2025")
    assert_refused(code, stdout, stderr, "moment apr_head: window ends 2025-05", "are announced in 2025-04")
    assert not out.exists()


def test_every_problem_of_both_files_and_the_scenario_in_one_message(capsys, write, tmp_path):
    moments = write("m.toml", moments_toml([{**TINY_MOMENTS[0], "window": ["2025-06", "2026-01"]},
                                            TINY_MOMENTS[1]]))
    params = write("p.toml", params_toml(TINY_PARAMS))
    out = tmp_path / "out"
    code, stdout, stderr = calibrate(capsys, moments, params, out, "--set", "platforms.head.markup=0.4", *WITH_A_RULE)
    assert_refused(code, stdout, stderr, "has 2 problems", "window ends 2026-01",
                   "platforms.head.markup is both calibrated (--params) and set with --set")
    assert not out.exists()


@pytest.mark.parametrize(("params", "fragment"), [
    ({"platforms.head.markup": [0.5, 0.5]}, "params.platforms.head.markup = [0.5, 0.5]: empty range"),
    ({"platforms.head.markup": [0.6, 0.25]}, "empty range"),
    ({"borrowers.hazard": [0.02, 0.07]}, "name one element"),
    ({"borrowers.hazard[5]": [0.02, 0.07]}, "has 3 elements"),
    ({"platforms.head.markupp": [0.2, 0.6]}, "unknown parameter"),
    ({"borrowers.term_months": [6, 24]}, "an integer parameter"),
], ids=["empty-range", "reversed-range", "list-without-index", "index-out-of-range", "unknown", "integer"])
def test_bad_params_file_is_refused(capsys, write, good, tmp_path, params, fragment):
    path = write("bad-params.toml", params_toml(params))
    out = tmp_path / "out"
    assert_refused(*calibrate(capsys, good[0], path, out), fragment)
    assert not out.exists()


@pytest.mark.parametrize("which", ["moments", "params"])
def test_missing_file_is_refused(capsys, good, tmp_path, which):
    missing = tmp_path / "nowhere.toml"
    moments, params = (missing, good[1]) if which == "moments" else (good[0], missing)
    out = tmp_path / "out"
    assert_refused(*calibrate(capsys, moments, params, out), f"{missing}: no such file")
    assert not out.exists()


@pytest.mark.parametrize("setting", ["platforms.head.markup=0.4", "borrowers.hazard=[0.004, 0.013, 0.05]"],
                         ids=["scalar", "list-of-a-calibrated-element"])
def test_parameter_both_calibrated_and_set_is_refused(capsys, good, tmp_path, setting):
    out = tmp_path / "out"
    key = setting.partition("=")[0]
    assert_refused(*calibrate(capsys, *good, out, "--set", setting),
                   f"{key} is both calibrated (--params) and set with --set")
    assert not out.exists()


def test_unknown_scenario_is_refused(capsys, good, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = calibrate(capsys, *good, out, scenario="baseline-2042")
    assert_refused(code, stdout, stderr, "baseline-2042")
    assert not out.exists()


def test_out_holding_something_else_is_refused(capsys, good, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert_refused(*calibrate(capsys, *good, out), "not empty and not a calibration directory")
    assert snapshot(out) == {"notes.txt": b"mine"}
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    assert_refused(*calibrate(capsys, *good, afile), "is a file, not a directory")
    assert afile.read_text(encoding="utf-8") == "x"


@pytest.mark.slow
@pytest.mark.parametrize(("change", "differs"), [
    (["--borrowers", "3000"], "borrowers"),
    (["--seed", "6"], "root_seed"),
    (["--replications", "2"], "replications"),
    (["--sampler", "tpe"], "sampler"),
    (["--final-replications", "3"], "final_replications"),
    (["--set", "run.burn_in=7"], "overrides"),
], ids=["borrowers", "seed", "replications", "sampler", "final-replications", "overrides"])
def test_out_holding_a_calibration_of_other_inputs_is_refused_unchanged(capsys, tiny_calibration, change, differs):
    assert tiny_calibration["code"] == 0, tiny_calibration["stderr"]
    out = tiny_calibration["out"]
    before = snapshot(out)
    argv = [*tiny_calibration["argv"][:-2], *change, "--out", str(out)]
    code = main(argv)
    captured = capsys.readouterr()
    assert_refused(code, captured.out, captured.err, "holds a calibration of other inputs", "nothing was changed")
    assert differs in captured.err.split("differs in: ")[1].split(")")[0].split(", ")
    assert snapshot(out) == before


@pytest.mark.slow
def test_other_moments_in_the_same_out_are_refused_unchanged(capsys, tiny_calibration, write):
    out = tiny_calibration["out"]
    before = snapshot(out)
    other = write("other.toml", moments_toml([{**TINY_MOMENTS[0], "value": 0.19}, TINY_MOMENTS[1]]))
    code = main(["calibrate", "baseline-2024", "--moments", str(other), "--params", str(tiny_calibration["params"]),
                 *TINY_SEARCH, *TINY_RUNS, "--out", str(out)])
    captured = capsys.readouterr()
    assert_refused(code, captured.out, captured.err, "(differs in: moments)")
    assert snapshot(out) == before


def test_params_that_break_the_scenarios_rules_are_refused_before_writing(capsys, good, write, tmp_path):
    params = write("shares.toml", params_toml({"borrowers.segment_shares[0]": [0.4, 0.6]}))
    out = tmp_path / "out"
    code, stdout, stderr = calibrate(capsys, good[0], params, out)
    assert_refused(code, stdout, stderr, "borrowers.segment_shares")
    assert not out.exists()
