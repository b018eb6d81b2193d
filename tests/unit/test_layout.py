"""The layout of ``experiments/``: no import cycles between its modules and no private cross-module imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "experiments"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(tree: ast.Module, known: set[str]) -> list[tuple[str, list[str]]]:
    """``(module, imported names)`` of every ``experiments`` import anywhere in the module (lazy ones too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "experiments":
            names = [alias.name for alias in node.names]
            # `from experiments.store import run_dir` imports the submodule run_dir.
            submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in known]
            found += [(m, []) for m in submodules]
            if len(submodules) < len(names):
                found.append((node.module, [n for n in names if f"{node.module}.{n}" not in known]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.split(".")[0] == "experiments"]
    return found


def test_every_experiments_import_names_an_existing_module():
    modules = _modules()
    missing = [f"{name} imports {target}" for name, tree in modules.items()
               for target, _ in _imports(tree, set(modules)) if target not in modules]
    assert missing == []


def test_no_module_imports_another_modules_private_name():
    modules = _modules()
    # Dunder names (__version__) are public by convention.
    private = [f"{name} imports {target}.{n}" for name, tree in modules.items()
               for target, names in _imports(tree, set(modules)) for n in names
               if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
    assert private == []


def test_no_import_cycles():
    modules = _modules()
    graph = {name: {t for t, _ in _imports(tree, set(modules)) if t in modules and t != name}
             for name, tree in modules.items()}
    # Importing a package's submodule runs the package's __init__ first; these hold no imports of their own.
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_every_subpackage_is_listed_for_installation():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    packages = {_module_name(p.parent / "__init__.py") for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed


@pytest.mark.parametrize("argv", [["-m", "experiments", "--version"]])
def test_python_dash_m_experiments_runs_the_cli(argv):
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, check=False)
    import experiments

    assert done.returncode == 0
    assert done.stdout == f"zhudai-abm {experiments.__version__}\n"
