"""What both result directories share: atomic file writes and provenance (version, versions, git commit).

Every file is written under a temporary name in the same directory, flushed to disk and renamed into place,
so a reader never sees half a file. :mod:`experiments.store.run_dir` (one run) and
:mod:`experiments.store.batch_dir` (a batch) build on these helpers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import platform
import secrets
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

#: Distributions whose versions go into every manifest.
VERSIONED_DISTRIBUTIONS = ("zhudai-abm", "mesa", "numpy", "pandas", "pyarrow")

_GIT_TIMEOUT_SECONDS = 10
#: Repository root when running from a checkout (editable install): ``experiments/`` sits directly under it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
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
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, engine="pyarrow", index=False))


def atomic_write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write UTF-8 text to a file atomically.

    Args:
        text: the content.
        path: destination file; its parent directory must exist.

    Returns:
        The destination path.
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


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

    zhudai-abm's own is :data:`experiments.__version__`, the code that runs, not the installed metadata (which
    names another checkout when this one runs through ``PYTHONPATH``).

    Returns:
        ``{"python": ..., "platform": ..., "zhudai-abm": ..., "mesa": ..., ...}``; a distribution that is
        not installed maps to ``None``.
    """
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for dist in VERSIONED_DISTRIBUTIONS:
        if dist == "zhudai-abm":
            versions[dist] = code_version()
            continue
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def code_version() -> str:
    """zhudai-abm's version (:data:`experiments.__version__`), as every manifest records it under ``version``."""
    import experiments

    return experiments.__version__


@functools.cache
def model_code_digest() -> str:
    """sha256 over the model package's source (every ``model/**/*.py``: its path and bytes, in path order).

    Two runs of the same scenario and seed give the same tables only if this digest is the same too: a batch
    store records it and refuses to resume with other model code, as it refuses other parameters.
    """
    import model

    root = Path(model.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def project_git() -> dict[str, Any] | None:
    """:func:`git_commit` of the checkout this package runs from; None when it is not a git checkout."""
    return git_commit(PROJECT_ROOT) if (PROJECT_ROOT / ".git").exists() else None


def now_iso(timespec: str = "seconds") -> str:
    """The current UTC time as ISO 8601 text."""
    return datetime.now(UTC).isoformat(timespec=timespec)
