"""A single-run directory (``zhudai run --out DIR``): its files, and writing them safely.

A run directory holds ``model.parquet``, ``platforms.parquet``, ``funders.parquet`` and ``manifest.json``
(the output contract: README, "Outputs"). Every file is written atomically
(:func:`experiments.store.common.atomic_write`). ``manifest.json`` is written last: its presence marks a
complete run, and it is removed first when a run is replaced, so a crash while replacing never leaves an old
manifest describing new tables. A failed run adds only ``error.log``.

From Python: ``out = experiments.engine.run.run_model("new-rules-2025", seed=1)`` then
``write_run(DIR, out.tables, out.manifest)`` writes the same directory as ``zhudai run``.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.store.common import atomic_write_parquet, atomic_write_text, now_iso
from model.output import TABLES

#: The table files of a run, in the order :func:`write_run` writes them.
TABLE_FILES: dict[str, str] = {name: f"{name}.parquet" for name in TABLES}
MANIFEST_FILE = "manifest.json"
ERROR_LOG_FILE = "error.log"


def existing_run_files(out_dir: str | os.PathLike[str]) -> list[str]:
    """Names of run files (manifest or tables) already present in ``out_dir``, manifest first."""
    directory = Path(out_dir)
    names = [MANIFEST_FILE, *TABLE_FILES.values()]
    return [name for name in names if (directory / name).exists()]


def write_run(
    out_dir: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any]
) -> dict[str, Path]:
    """Write one run's tables and then its manifest into ``out_dir``.

    Order matters: an old ``manifest.json`` is removed first and the new one written last, so at every
    moment the directory either holds a manifest matching its tables or no manifest at all.

    Args:
        out_dir: the run directory; created with its parents if missing.
        tables: ``{"model": df, "platforms": df, "funders": df}``.
        manifest: JSON-serializable run description.

    Returns:
        ``{"model": path, "platforms": path, "funders": path, "manifest": path}``.

    Raises:
        KeyError: if a table is missing (checked before anything is touched).
        TypeError, ValueError: if the manifest is not JSON-serializable (checked before anything is touched).
        OSError: if the directory or a file cannot be written.
    """
    missing = [name for name in TABLE_FILES if name not in tables]
    if missing:
        raise KeyError(f"tables missing: {', '.join(missing)}")
    # NaN is not JSON; reject it here rather than write a manifest other tools cannot parse.
    manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / MANIFEST_FILE
    manifest_path.unlink(missing_ok=True)

    written: dict[str, Path] = {}
    for name, filename in TABLE_FILES.items():
        written[name] = atomic_write_parquet(tables[name], directory / filename)
    written["manifest"] = atomic_write_text(manifest_text, manifest_path)
    return written


def write_error_log(out_dir: str | os.PathLike[str], argv: Sequence[str], context: Mapping[str, Any],
                    prog: str = "zhudai") -> Path | None:
    """Write the current exception's traceback to ``out_dir/error.log``; None if even that is impossible.

    Args:
        out_dir: the run directory (created if missing).
        argv: the command line, for the header.
        context: ``{label: value}`` lines of the header (scenario, overrides, seed, versions).
        prog: the program name in the header.
    """
    header = [f"{prog} run failed at {now_iso()}", "command: " + " ".join(argv)]
    header += [f"{key}: {value}" for key, value in context.items()]
    text = "\n".join(header) + "\n\n" + traceback.format_exc()
    directory = Path(out_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(text, directory / ERROR_LOG_FILE)
    except OSError:
        return None
