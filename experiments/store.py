"""The results store: atomic file writes, run provenance, and the layout of one run's directory.

A run directory holds ``model.parquet``, ``platforms.parquet``, ``funders.parquet`` and ``manifest.json``
(DESIGN.md, "Output contract"). Every file is written under a temporary name in the same directory, flushed
to disk and renamed into place, so a reader never sees half a file. ``manifest.json`` is written last: its
presence marks a complete run, and it is removed first when a run is replaced, so a crash while replacing
never leaves an old manifest describing new tables.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

#: The table files of a run, in the order :func:`write_run` writes them.
TABLE_FILES: dict[str, str] = {
    "model": "model.parquet",
    "platforms": "platforms.parquet",
    "funders": "funders.parquet",
}
MANIFEST_FILE = "manifest.json"
ERROR_LOG_FILE = "error.log"

#: Distributions whose versions go into every manifest.
VERSIONED_DISTRIBUTIONS = ("zhudai-abm", "mesa", "numpy", "pandas", "pyarrow")

_GIT_TIMEOUT_SECONDS = 10


def _atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Write a file through ``write(temp_path)`` and rename it to ``path`` once it is complete.

    The temporary file lives in the destination directory because ``os.replace`` is atomic only within
    one file system. Any exception, including ``KeyboardInterrupt``, removes the temporary file and leaves
    an existing ``path`` untouched.

    Args:
        path: destination file; its parent directory must exist.
        write: callable that writes the whole content to the path it is given.

    Returns:
        The destination path.
    """
    dest = Path(path)
    tmp = _create_temp(dest)
    try:
        write(tmp)
        # Flush the data before the rename: otherwise a power loss can leave the new name on an empty file.
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(dest.parent)
    return dest


def _create_temp(dest: Path) -> Path:
    """Create an empty, uniquely named hidden file beside ``dest``.

    Unlike ``tempfile.mkstemp``, which creates files readable only by their owner, the mode here follows
    the umask, so results are as readable as any file the user writes.
    """
    for _ in range(100):
        tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {dest}")


def _fsync_directory(directory: Path) -> None:
    """Persist a rename in ``directory``; best effort, since not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a data frame to a Parquet file atomically.

    The index is dropped: result tables carry their keys (``step``, ``date``, ids) as columns.

    Args:
        df: the table.
        path: destination ``.parquet`` file; its parent directory must exist.

    Returns:
        The destination path.
    """
    return _atomic_write(path, lambda tmp: df.to_parquet(tmp, engine="pyarrow", index=False))


def atomic_write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write UTF-8 text to a file atomically.

    Args:
        text: the content.
        path: destination file; its parent directory must exist.

    Returns:
        The destination path.
    """
    return _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def git_commit(repo_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Describe the git checkout at ``repo_dir``: the commit and whether the working tree differs from it.

    Never raises: provenance must not be able to fail a finished run.

    Args:
        repo_dir: a directory inside a git working tree.

    Returns:
        ``{"commit": <40-hex hash>, "dirty": bool}``; ``dirty`` counts untracked files too, since a new
        module can change results. ``None`` when git is missing, ``repo_dir`` is not in a checkout, the
        checkout has no commit yet, or git fails.
    """
    git = shutil.which("git")
    if git is None:
        return None
    # Read-only: don't take the index lock that `git status` otherwise refreshes, so a run never
    # collides with someone committing in the same checkout.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(
            [git, "-C", os.fspath(repo_dir), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT_SECONDS, env=env, check=False,
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            [git, "-C", os.fspath(repo_dir), "status", "--porcelain"],
            capture_output=True, text=True, timeout=_GIT_TIMEOUT_SECONDS, env=env, check=False,
        )
        if status.returncode != 0:
            return None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def environment_versions() -> dict[str, str | None]:
    """Versions of Python, the platform and the distributions that shape results.

    Returns:
        ``{"python": ..., "platform": ..., "zhudai-abm": ..., "mesa": ..., ...}``; a distribution that is
        not installed maps to ``None``.
    """
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for dist in VERSIONED_DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


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
