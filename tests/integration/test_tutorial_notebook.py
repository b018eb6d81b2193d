"""The tutorial notebook (docs/tutorials/tutorial.ipynb) runs from top to bottom at a small population and
produces what it promises: a store with both scenarios, the figure, the sweep and the scenario-discovery tables.

The notebook runs in ipykernel's ``python3`` kernel of this interpreter (not a kernel spec installed elsewhere)
with ``PYTHONPATH`` set to the checkout holding this file, so it tests this checkout's code whether or not the
project is pip-installed from it. Its settings come from the ``ZHUDAI_TUTORIAL_*`` environment variables.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ema_workbench")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "docs" / "tutorials" / "tutorial.ipynb"
#: Small enough for CI (about a minute on two cores), large enough that every step has something to show.
SMALL = {
    "ZHUDAI_TUTORIAL_BORROWERS": "4000",
    "ZHUDAI_TUTORIAL_REPLICATIONS": "2",
    "ZHUDAI_TUTORIAL_EMA_EXPERIMENTS": "8",
    "ZHUDAI_TUTORIAL_EMA_REPLICATIONS": "2",
    "ZHUDAI_TUTORIAL_WORKERS": "2",
}
#: Appended to the notebook under test only: which interpreter and which checkout the kernel used.
PROBE = "import sys, experiments; print(sys.executable); print(experiments.__file__)"


def execute_notebook(path: Path, settings: Mapping[str, str], *, timeout: int = 900, probe: bool = False) -> object:
    """Execute the notebook at ``path`` in ipykernel's python3 kernel of this interpreter, in the notebook's
    directory, with ``settings`` and ``PYTHONPATH`` (this checkout first) in the kernel's environment.

    Returns the executed notebook; raises ``nbclient.exceptions.CellExecutionError`` at the first cell that fails.
    Running this file (``python tests/integration/test_tutorial_notebook.py``) refreshes the committed outputs.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    nb = nbformat.read(path, as_version=4)
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    env = {**os.environ, **settings}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures inline, whatever the shell says
    # No kernel directories: only ipykernel's own python3 spec, whose command is this interpreter.
    specs = KernelSpecManager(kernel_dirs=[])
    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
    client = nbclient.NotebookClient(nb, km=km, kernel_name="python3", timeout=timeout,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    return nb


def _outputs(cell: object) -> list[dict]:
    return list(cell.get("outputs", []))


def test_the_tutorial_runs_end_to_end_at_a_small_population(tmp_path):
    nb = execute_notebook(NOTEBOOK, {**SMALL, "ZHUDAI_TUTORIAL_OUT": str(tmp_path)}, probe=True)

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "a code cell did not run"
    errors = [out for cell in code for out in _outputs(cell) if out["output_type"] == "error"]
    assert not errors, errors

    # The kernel was this interpreter, importing this checkout's code.
    executable, package = code[-1].outputs[0]["text"].split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve().is_relative_to(REPO)

    # The small population is flagged, as the CLI flags it.
    first = "".join(out.get("text", "") for out in _outputs(code[0]))
    assert "4,000 borrowers is below 200,000" in first

    (run_dir,) = tmp_path.glob("borrowers-4000_replications-2")
    runs = pd.read_parquet(run_dir / "compare" / "runs.parquet")
    assert set(runs["scenario"]) == {"baseline-2024", "new-rules-2025"}
    assert (runs["status"] == "ok").all() and len(runs) == 4
    model = pd.read_parquet(run_dir / "compare" / "model.parquet")
    assert model.groupby("scenario")["seed"].nunique().to_dict() == {"baseline-2024": 2, "new-rules-2025": 2}

    # The figure was saved and shown.
    assert (run_dir / "figures" / "tail_and_head_share.png").stat().st_size > 10_000
    images = [out for cell in code for out in _outputs(cell) if "image/png" in out.get("data", {})]
    assert len(images) >= 2  # the notebook's figure and the discovery's tail series at least

    sweep = pd.read_parquet(run_dir / "sweep-cap" / "runs.parquet")
    assert sorted(sweep["policy.rate_cap.apr"].unique()) == [0.12, 0.24, 0.36]
    assert (sweep["status"] == "ok").all() and len(sweep) == 6

    (ema_dir,) = tmp_path.glob("discovery_borrowers-4000_experiments-8x2")
    experiments = pd.read_csv(ema_dir / "experiments.csv")
    assert len(experiments) == 8 and "tail_collapse" in experiments
    summary = json.loads((ema_dir / "discovery.json").read_text())
    assert summary["n_experiments"] == 8 and summary["borrowers"] == 4000
    # PRIM found a box, or the notebook said why there is none.
    if summary["box"] is not None:
        assert len(pd.read_csv(ema_dir / "prim_box.csv")) == summary["box"]["res_dim"]
    else:
        said = "".join(out.get("text", "") for cell in code for out in _outputs(cell))
        assert "No PRIM box" in said
    assert (ema_dir / "feature_scores.csv").stat().st_size > 0


def test_the_committed_notebook_carries_outputs_and_stays_small():
    assert NOTEBOOK.stat().st_size < 1_500_000
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "commit the notebook with the outputs of a full run"
    assert not [out for cell in code for out in _outputs(cell) if out["output_type"] == "error"]
    assert any("image/png" in out.get("data", {}) for cell in code for out in _outputs(cell))


if __name__ == "__main__":
    # Refresh the committed outputs: run the notebook with its default settings (or ZHUDAI_TUTORIAL_* from the
    # environment) and write it back without the per-cell timestamps. About 8 minutes on 2 cores.
    executed = execute_notebook(NOTEBOOK, {}, timeout=3600)
    for cell in executed.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(executed, NOTEBOOK)
    print(f"wrote {NOTEBOOK} ({NOTEBOOK.stat().st_size:,} bytes)")
