"""Hostile inputs: a generated corpus of mutated scenario files and ``--set`` strings.

Every input must end in exit 0 (valid) or exit 2 with one ``zhudai:`` message naming the problem, never a
traceback or a hang; valid corner cases must also run. The corpus is generated from a fixed seed so that a
failure reproduces. A longer run: ``ZHUDAI_FUZZ_CASES=5000 python -m pytest tests/hardening -q``.
"""

from __future__ import annotations

import os
import random
import signal
import tomllib
from pathlib import Path

from experiments.cli.main import main
from model.config import scenario_dir, toml_value
from model.params import iter_fields

N_FILES = int(os.environ.get("ZHUDAI_FUZZ_CASES", "520"))
N_SETS = max(300, N_FILES // 2)
LEAVES = [(key, f, d) for key, f, d in iter_fields()]
SHIPPED = sorted(p.stem for p in scenario_dir().glob("*.toml"))

HOSTILE_VALUES = [
    "nan", "inf", "-inf", "1e400", "-1", "-1e308", "0", "1.5", "2", "99999999999999999999", "true", "false",
    '"x"', '""', '"2025-13"', '"2025-00"', '"1899-12"', '"25-10"', '"2025/10"', "[]", "[1, 2]", '["a"]',
    "{a = 1}", '"\\u0000"', '"2026-01\\n"', "1970-01-01", "3.0e-400", "-0.0",
]


def _mutated_file(rng: random.Random, tmp: Path, i: int) -> tuple[Path, str]:
    """One hostile scenario file and a label of what was done to it."""
    path = tmp / f"case{i:04d}.toml"
    kind = rng.randrange(9)
    lines = [f'description = "fuzz case {i}"', f'extends = "{rng.choice(SHIPPED)}"']
    if kind == 0:  # a hostile value for a real key
        key = rng.choice(LEAVES)[0]
        section, leaf = key.rsplit(".", 1)
        lines += [f"[{section}]", f"{leaf} = {rng.choice(HOSTILE_VALUES)}"]
        label = f"hostile value for {key}"
    elif kind == 1:  # unknown key in a real section, or unknown section
        key = rng.choice(LEAVES)[0]
        section = key.rsplit(".", 1)[0] if rng.random() < 0.7 else "no_such_section"
        lines += [f"[{section}]", f"{rng.choice(['colour', 'apr2', 'startt', 'x'])} = 1"]
        label = "unknown key"
    elif kind == 2:  # wrong type: a table where a scalar belongs, or the reverse
        key = rng.choice(LEAVES)[0]
        section, leaf = key.rsplit(".", 1)
        lines += [f"[{section}.{leaf}]", "a = 1"] if rng.random() < 0.5 else [f"{section.split('.')[0]} = 3"]
        label = "table/scalar confusion"
    elif kind == 3:  # extends to a missing parent or a cycle through the file itself
        lines[1] = f'extends = "{rng.choice(["missing-parent", path.name, "../nowhere.toml"])}"'
        label = "bad extends"
    elif kind == 4:  # non-UTF-8 bytes
        path.write_bytes(b'description = "\xff\xfe bad bytes"\n' + bytes(rng.randrange(256) for _ in range(20)))
        return path, "non-UTF-8"
    elif kind == 5:  # TOML syntax errors
        lines.append(rng.choice(["[policy", "x = ", "= 3", "[[run]]\nmonths = 1", "a.b.c = [1,", "run.months = 1 2"]))
        label = "syntax error"
    elif kind == 6:  # dates out of order in the balance mandate, or a path ending before it starts
        lines += ["[policy.balance_mandate]", "enabled = true", 'start = "2026-01"',
                  f'by = ["{rng.choice(["2025-12", "2026-06"])}", "2025-01"]', "targets = [0.5, 0.0]"]
        label = "dates out of order"
    elif kind == 7:  # several random valid-looking overrides at once (may be valid)
        for key, f, default in rng.sample(LEAVES, 3):
            section, leaf = key.rsplit(".", 1)
            value = default
            if isinstance(default, bool):
                value = not default
            elif isinstance(default, (int, float)) and f.metadata.get("hi") is not None:
                lo, hi = f.metadata.get("lo") or 0, f.metadata["hi"]
                value = type(default)(rng.choice([lo, hi, (lo + hi) / 2]))
            lines += [f"[{section}]", f"{leaf} = {toml_value(value)}"]
        label = "corner values"
    else:  # caps of 0 and above 1
        lines += ["[policy.rate_cap]", f"apr = {rng.choice(['0', '0.0', '1.0000001', '2', '-0.24'])}"]
        label = "cap out of (0, 1]"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, label


#: Seconds after which one CLI call counts as hung.
HANG_S = 60


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout


def _check(args: list[str], capsys) -> tuple[int, str]:
    old = signal.signal(signal.SIGALRM, _alarm)
    # A guard against hangs, not a speed test: generous enough for a busy 2-core machine.
    signal.alarm(HANG_S)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse exits; that is still a clean exit code
        code = int(exc.code or 0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    err = capsys.readouterr().err
    return code, err


def test_mutated_scenario_files_fail_cleanly(tmp_path, capsys):
    rng = random.Random(20251001)
    outcomes = {"valid": 0, "rejected": 0}
    valid_paths = []
    for i in range(N_FILES):
        path, label = _mutated_file(rng, tmp_path, i)
        code, err = _check(["check", str(path)], capsys)
        assert "Traceback" not in err, (label, path.read_bytes()[:300], err)
        assert code in (0, 2), (label, code, err)
        if code == 2:
            assert err.startswith("zhudai:") and err.count("zhudai:") == 1, (label, err)
            outcomes["rejected"] += 1
        else:
            outcomes["valid"] += 1
            valid_paths.append(path)
    assert outcomes["rejected"] >= N_FILES // 2
    # Valid corner cases must also run (tiny and short).
    for path in valid_paths[:25]:
        out = tmp_path / f"run-{path.stem}"
        code, err = _check(["run", str(path), "--borrowers", "300", "--months", "2", "--set", "run.burn_in=0",
                            "--quiet", "--out", str(out)], capsys)
        assert code == 0, (path.read_text(encoding="utf-8"), err)


def _hostile_set(rng: random.Random) -> str:
    key = rng.choice(LEAVES)[0]
    shape = rng.randrange(6)
    if shape == 0:
        return f"{key}={rng.choice(HOSTILE_VALUES)}"
    if shape == 1:
        return rng.choice([key, f"={rng.random()}", "==", "", f"{key}==1", f".{key}=1", f"{key}.=1"])
    if shape == 2:
        return f"{key.replace('.', rng.choice(['..', '/', ' ']))}=1"
    if shape == 3:
        return f"no.such.key{rng.randrange(100)}={rng.random()}"
    if shape == 4:
        return f"{key}={'9' * rng.randrange(1, 400)}"
    return f"{key}=[{', '.join(rng.choice(HOSTILE_VALUES) for _ in range(rng.randrange(0, 4)))}]"


def test_hostile_set_strings_fail_cleanly(capsys):
    rng = random.Random(7)
    rejected = 0
    for _ in range(N_SETS):
        s = _hostile_set(rng)
        code, err = _check(["check", "baseline-2024", "--set", s], capsys)
        assert "Traceback" not in err, (s, err)
        assert code in (0, 2), (s, code, err)
        rejected += code == 2
    assert rejected >= N_SETS // 2


def test_the_corpus_covers_every_mutation_kind(tmp_path):
    rng = random.Random(20251001)
    labels = {_mutated_file(rng, tmp_path, i)[1].split(" for ")[0] for i in range(200)}
    assert {"hostile value", "unknown key", "table/scalar confusion", "bad extends", "non-UTF-8", "syntax error",
            "dates out of order", "corner values", "cap out of (0, 1]"} <= labels


def test_generated_valid_files_parse_as_toml(tmp_path):
    # Guard against a generator bug that would make every case a syntax error.
    rng = random.Random(3)
    parsed = 0
    for i in range(60):
        path, label = _mutated_file(rng, tmp_path, i)
        if label in ("non-UTF-8", "syntax error"):
            continue
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
            parsed += 1
        except tomllib.TOMLDecodeError:
            pass
    assert parsed >= 30


def _hostile_vary(rng: random.Random) -> str:
    key = rng.choice(LEAVES)[0]
    shape = rng.randrange(6)
    if shape == 0:
        return f"{key}={','.join(rng.choice(HOSTILE_VALUES).replace(',', ';') for _ in range(rng.randrange(1, 4)))}"
    if shape == 1:
        return rng.choice([key, f"{key}=", f"={rng.random()}", f"{key}=,", f"{key}=1,,2", "", "=", f"{key}==1"])
    if shape == 2:
        return f"no.such.key{rng.randrange(100)}=1,2"
    if shape == 3:
        return f"{key}={'9' * rng.randrange(1, 400)},1"
    if shape == 4:
        return f"run.months={rng.choice(['0', '-1', '1.5', 'x', '601'])},1"
    return f"policy.rate_cap.apr={rng.choice(['0', '1.5', '-0.2', 'nan', '0.2'])},0.24"


def test_hostile_vary_strings_fail_cleanly(tmp_path, capsys):
    rng = random.Random(11)
    rejected = 0
    for i in range(N_SETS // 3):
        s = _hostile_vary(rng)
        out = tmp_path / f"sweep{i}"
        code, err = _check(["sweep", "baseline-2024", "--vary", s, "--replications", "1", "--borrowers", "200",
                            "--months", "1", "--set", "run.burn_in=0", "--workers", "1", "--quiet",
                            "--out", str(out)], capsys)
        assert "Traceback" not in err, (s, err)
        assert code in (0, 2), (s, code, err)
        if code == 2:
            assert err.strip().startswith("zhudai:"), (s, err)
        rejected += code == 2
    assert rejected >= N_SETS // 6
