"""The documentation carries what the code defines: the ODD parameter table and the README column glossary."""

from __future__ import annotations

import re
from pathlib import Path

from model.config import render_param_table
from model.output import COLUMN_DOCS
from model.params import iter_fields

ROOT = Path(__file__).resolve().parents[2]


def _block(text: str, begin: str, end: str) -> str:
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def test_odd_parameter_table_is_the_rendered_schema():
    odd = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
    assert _block(odd, "<!-- params:begin -->", "<!-- params:end -->") == render_param_table().strip()


def test_every_parameter_key_is_in_the_odd_table_and_vice_versa():
    odd = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
    table = _block(odd, "<!-- params:begin -->", "<!-- params:end -->")
    documented = set(re.findall(r"^\| `([a-z0-9_.]+)` \|", table, flags=re.M))
    schema = {key for key, _f, _d in iter_fields()}
    assert documented == schema


def test_every_output_column_is_in_the_readme_glossary():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = _block(readme, "<!-- columns:begin -->", "<!-- columns:end -->")
    for table, cols in COLUMN_DOCS.items():
        assert f"`{table}.parquet`" in block
        for col, (unit, meaning) in cols.items():
            assert f"| `{col}` | {unit} | {meaning} |" in block, (table, col)


def test_readme_quick_start_has_the_ci_test_command():
    """The quick start's second command is CI's: .ci/run, which installs the test extras and runs pytest."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    quick = _block(readme, "## Quick start", "## Using it")
    commands = [line for line in quick.splitlines() if line and not line.startswith(("#", "`", "On a"))]
    assert len(commands) == 2, commands
    assert commands[1] == "bash .ci/run"
    assert 'pip install --quiet -c constraints.txt -e ".[test]"' in ci and "python -m pytest -q" in ci
    # Both quick-start commands install the pinned versions.
    assert "pip install -c constraints.txt -e ." in commands[0]
    assert "apt-get install -y -qq chromium" in ci


def test_the_repository_stands_alone():
    """Code and docs cite files in the repository only: no design notes or issue numbers kept outside it."""
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"(?<![\w/])(DESIGN|DOMAIN|STYLE)\.md|\.\./shared/|/work/shared|\bissue \d+\b")
    offenders = []
    for name in files:
        if not name.endswith((".py", ".md", ".toml")):
            continue
        for i, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1):
            if outside.search(line) and "outside = re.compile" not in line:
                offenders.append(f"{name}:{i}: {line.strip()[:80]}")
    assert not offenders, "\n".join(offenders)
    assert (ROOT / "docs" / "design.md").is_file() and (ROOT / "docs" / "domain.md").is_file()
