"""The documentation carries what the code defines: the ODD parameter table, the generated reference and results
pages (experiments/docs_pages.py: the CLI from its parser, the parameters from the schema, the output columns from
the output contract, the results pages from results/), and the README's quick start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments import docs_pages
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


def test_every_output_column_is_in_the_output_reference():
    """The column glossary moved from the README to the generated output reference page."""
    page = (ROOT / "docs" / "reference" / "outputs.md").read_text(encoding="utf-8")
    for table, cols in COLUMN_DOCS.items():
        assert f"`{table}.parquet`" in page
        for col, (unit, meaning) in cols.items():
            assert f"| `{col}` | {unit} | {meaning} |" in page, (table, col)


@pytest.mark.parametrize("rel", sorted(docs_pages.pages()))
def test_generated_page_matches_its_source(rel):
    """Every generated page under docs/ is what its source renders today (the figures copied byte for byte)."""
    want = docs_pages.pages()[rel]
    path = ROOT / "docs" / rel
    assert path.is_file(), f"docs/{rel} is missing: regenerate with {docs_pages.REGENERATE}"
    have = path.read_bytes() if isinstance(want, bytes) else path.read_text(encoding="utf-8")
    assert have == want, f"docs/{rel} differs from its source: regenerate with {docs_pages.REGENERATE}"


def test_cli_reference_names_every_subcommand_and_option():
    """Belt and braces for the generated CLI page: every subcommand has a section and every option a row."""
    from experiments.cli.parser import build_parser

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    for name, _help, sub in docs_pages.subcommands(build_parser()):
        section = page.split(f"\n## zhudai {name}\n", 1)[1].split("\n## ", 1)[0]
        for action in sub._actions:
            for option in action.option_strings:
                assert f"`{option}`" in section, (name, option)


def test_docs_pages_check_mode_agrees():
    assert docs_pages.stale_pages() == [], f"regenerate with {docs_pages.REGENERATE}"


def test_readme_quick_start_has_the_ci_test_command():
    """The quick start's second command is CI's: .ci/run, which installs the test extras and runs pytest."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick.splitlines() if line and not line.startswith(("#", "`", "On a"))]
    assert len(commands) == 2, commands
    assert commands[1] == "bash .ci/run"
    assert 'pip install --quiet -c constraints.txt -e ".[test]"' in ci and "python -m pytest -q" in ci
    # Both quick-start commands install the pinned versions.
    assert "pip install -c constraints.txt -e ." in commands[0]
    assert "apt-get install -y -qq chromium" in ci
    # CI builds the documentation site strictly, before the tests.
    assert "mkdocs build --strict" in ci and ci.index("mkdocs build --strict") < ci.index("python -m pytest -q")


def test_getting_started_repeats_the_readme_quick_start_exactly():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert "bash .ci/run" in block and f"```bash\n{block}```" in page


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


def test_the_extras_table_names_every_extra_of_pyproject_and_refuses_one_without_a_role(monkeypatch):
    """docs/installation.md's table of extras is rendered from pyproject.toml: each extra once, with what it
    installs; an extra that pyproject.toml gains without a role in EXTRA_ROLES stops the rendering."""
    import tomllib

    from experiments import docs_pages

    extras = tomllib.loads((docs_pages.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"]
    table = docs_pages.render_extras_table()
    for name in extras:
        assert table.count(f"\n| `{name}` |") == 1, name
    assert "`mkdocs-jupyter>=0.25`" in table and "| `all`, `docs`, `pytest>=8`" in table
    roles = dict(docs_pages.EXTRA_ROLES)
    del roles["docs"]
    monkeypatch.setattr(docs_pages, "EXTRA_ROLES", roles)
    with pytest.raises(ValueError, match=r"no role for \['docs'\]"):
        docs_pages.render_extras_table()
