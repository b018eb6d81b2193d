"""Helpers of the ``zhudai calibrate`` tests: small moments and parameter files and an in-process ``main`` with
captured output.

Runs are tiny: baseline-2024 at 2,000 borrowers, 1 replicate in the search, a 6-month burn-in and moments over
2024-01..2024-03 (so every run is 3 recorded months), one worker.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

from experiments.cli.main import main

REPO = Path(__file__).resolve().parents[2]

#: Run settings shared by the tiny calibrations (``--set run.burn_in=6`` keeps each run short).
TINY_RUNS = ["--borrowers", "2000", "--replications", "1", "--seed", "5", "--workers", "1", "--set",
             "run.burn_in=6", "--quiet"]
#: Four trials in generations of two, the best two confirmed (with the default 2 x R final replicates), a 3-point
#: profile.
TINY_SEARCH = ["--budget", "4", "--batch", "2", "--grid", "3", "--confirm", "2"]


def run_main(argv: Sequence[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured (for fixtures, which cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def moments_toml(moments: Sequence[dict], window: Sequence[str] | None = ("2024-01", "2024-03")) -> str:
    """A moments file: a default window and one [[moment]] table per dict (values written as TOML)."""
    from model.config import toml_value

    lines = [f"window = {toml_value(list(window))}"] if window is not None else []
    for m in moments:
        lines += ["", "[[moment]]", *(f"{key} = {toml_value(value)}" for key, value in m.items())]
    return "\n".join(lines) + "\n"


def params_toml(params: dict[str, Sequence[float]]) -> str:
    from model.config import toml_value

    return "[params]\n" + "".join(f"{toml_value(key)} = {toml_value(list(r))}\n" for key, r in params.items())


#: Two moments and the two parameters that move them most: head price and subprime hazard.
TINY_MOMENTS = [
    {"name": "apr_head", "metric": "apr_new_head", "value": 0.18, "tolerance": 0.005, "source": "test"},
    {"name": "npl", "metric": "npl_ratio", "value": 0.02, "tolerance": 0.003, "source": "test"},
]
TINY_PARAMS = {"platforms.head.markup": [0.25, 0.6], "borrowers.hazard[2]": [0.02, 0.07]}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
