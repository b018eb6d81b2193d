"""The batch results store: tidy Parquet directory datasets, one file per run, and a manifest.

Layout of a batch directory ``DIR``::

    DIR/manifest.json                                   resolved design, fingerprint, provenance, sessions
    DIR/runs.parquet/run_id=<id>/part-0.parquet         one row per run: status, error, timing, worker
    DIR/model.parquet/run_id=<id>/part-0.parquet        the run's model table
    DIR/platforms.parquet/run_id=<id>/part-0.parquet    the run's platforms table
    DIR/funders.parquet/run_id=<id>/part-0.parquet      the run's funders table
    DIR/summary.csv                                     horizon outcomes per scenario and sweep point, with units
                                                        and paired differences from the reference

The driver writes a run's files as soon as the run finishes, each atomically (hidden temporary name in the
same directory, then ``os.replace``), and the ``runs`` row last: a run counts as done only once its ``runs``
row says ``ok``. Readers skip hidden files, so ``pandas.read_parquet(DIR / "model.parquet")`` reads every
finished run at any time. ``run_id`` is stored dictionary-encoded (int32 indices), the type pyarrow gives a
hive partition key, so the directory name and the column agree and the datasets read without a schema clash.

A rerun on the same ``DIR`` must describe the same design (same fingerprint: the same runs, each with the same
fully resolved parameters, recorded in the manifest's ``design.params``), or the same design with more
replications whose first replicates are exactly the stored runs (the store grows; the manifest then records
the grown design). Anything else is refused and nothing is changed, with the settings that differ, or the keys
that differ when only the parameters do. A store whose manifest records other model code (``model_code``, a
digest of the model package's source) is refused too. An accepted rerun first removes temporary files left by a killed
driver and table files of runs that have no ``ok`` row, then runs what is missing.

The zhudai-abm version (``experiments.__version__``) is recorded, not compared: the manifest's ``version`` and
``versions`` name the code of the latest session and each entry of ``sessions`` names its own ``version``. A store
is refused for what its runs are (their resolved parameters), so a new version that resolves the same parameters
may resume it, and the sessions (with their start and end times) say which code ran when; ``zhudai rerun`` says
whether a stored run is still reproduced exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from experiments.store.common import (
    atomic_write,
    atomic_write_text,
    code_version,
    environment_versions,
    model_code_digest,
    now_iso,
    project_git,
)
from model.output import TABLES

if TYPE_CHECKING:
    from experiments.engine.design import ResolvedDesign
    from experiments.engine.tasks import RunResult

MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.csv"
PART_FILE = "part-0.parquet"
#: Table name -> dataset directory, in the order a run's files are written (``runs`` last: it marks completion).
DATASETS: dict[str, str] = {name: f"{name}.parquet" for name in (*TABLES, "runs")}
MANIFEST_KIND = "zhudai-batch"
RUN_COLUMNS = ("run_id", "scenario", "point", "overrides", "replicate", "seed", "borrowers", "months", "status",
               "error", "started", "finished", "seconds", "worker", "traceback")
_SORT_KEYS = ("scenario", "point", "replicate", "step", "platform_id", "funder_id")


#: Most differing keys a refusal lists.
MAX_CHANGES_SHOWN = 20


class StoreError(Exception):
    """The output directory cannot hold this batch (another design, not a batch directory, not writable)."""


def write_partition(df: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    dictionary = pa.dictionary(pa.int32(), pa.string())
    index = table.schema.get_field_index("run_id")
    table = table.set_column(index, pa.field("run_id", dictionary), table.column("run_id").cast(dictionary))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _partitions(directory: Path, dataset: str) -> list[Path]:
    return sorted((directory / dataset).glob(f"run_id=*/{PART_FILE}"))


def _read_dataset(directory: Path, dataset: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    # File by file rather than as one pyarrow dataset: a column whose type differs between runs (an
    # all-missing column, or a model change between sessions) is then reconciled by pandas, not refused.
    frames = [pq.read_table(path).to_pandas() for path in _partitions(directory, dataset)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df["run_id"] = df["run_id"].astype(str)
    return df


def read_store(directory: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Read every finished run of a batch directory.

    Tables hold only runs whose ``runs`` row says ``ok``; ``runs`` holds every recorded run (ok and failed).
    Rows are sorted by scenario, point, replicate, step and institution id.

    Args:
        directory: the batch directory.

    Returns:
        ``{"runs": df, "model": df, "platforms": df, "funders": df}``; empty frames where nothing is stored.
    """
    directory = Path(directory)
    runs = _read_dataset(directory, DATASETS["runs"])
    ok = set(runs.loc[runs["status"] == "ok", "run_id"]) if not runs.empty else set()
    out: dict[str, pd.DataFrame] = {"runs": _sorted(runs)}
    for name in TABLES:
        df = _read_dataset(directory, DATASETS[name])
        if not df.empty:
            df = df[df["run_id"].isin(ok)]
        out[name] = _sorted(df)
    return out


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in _SORT_KEYS if k in df.columns]
    return df.sort_values(keys, kind="stable").reset_index(drop=True) if keys else df


def runs_row(result: RunResult) -> pd.DataFrame:
    """The ``runs`` table row of a result, with the sweep values as columns named by their dotted keys."""
    spec = result.spec
    row: dict[str, Any] = {
        "run_id": spec.run_id, "scenario": spec.scenario, "point": spec.point,
        "overrides": json.dumps(list(spec.overrides), ensure_ascii=False), "replicate": spec.replicate,
        "seed": spec.seed, "borrowers": spec.borrowers, "months": spec.months, "status": result.status,
        "error": result.error, "started": result.started, "finished": result.finished,
        "seconds": float(result.seconds), "worker": result.worker, "traceback": result.traceback,
    }
    for key, value in spec.keys().items():
        row.setdefault(key, value)
    return pd.DataFrame([row])


class BatchStore:
    """A batch directory opened for one session of a design.

    Use :func:`open_store` to create it; it checks the directory and writes the starting manifest.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], grown_from: int | None = None) -> None:
        """Wrap an already checked directory and its manifest (see :func:`open_store`).

        ``grown_from`` is the replications the directory held when this session grew it, else None.
        """
        self.directory = directory
        self.manifest = manifest
        self.grown_from = grown_from

    def ok_run_ids(self) -> set[str]:
        """Run ids whose ``runs`` row says ``ok``: the runs a rerun skips."""
        runs = _read_dataset(self.directory, DATASETS["runs"])
        return set() if runs.empty else set(runs.loc[runs["status"] == "ok", "run_id"])

    def write_result(self, result: RunResult) -> None:
        """Write one finished run: its tables (if it succeeded), then its ``runs`` row, each atomically."""
        run_dir = f"run_id={result.spec.run_id}"
        if result.status == "ok":
            for name in TABLES:
                write_partition(result.tables[name], self.directory / DATASETS[name] / run_dir / PART_FILE)
        write_partition(runs_row(result), self.directory / DATASETS["runs"] / run_dir / PART_FILE)

    def write_summary(self, summary: pd.DataFrame) -> Path:
        """Write ``summary.csv`` atomically."""
        path = self.directory / SUMMARY_FILE
        atomic_write(path, lambda tmp: summary.to_csv(tmp, index=False))
        return path

    def finish(self, counts: dict[str, int], status: str) -> None:
        """Record the end of this session in the manifest (rewritten atomically)."""
        session = self.manifest["sessions"][-1]
        session.update(finished_at=now_iso(), status=status, **counts)
        self.manifest["finished_at"] = session["finished_at"]
        self.manifest["status"] = status
        self.write_manifest()

    def write_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        atomic_write_text(text, self.directory / MANIFEST_FILE)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _check_directory(directory: Path, resolved: ResolvedDesign) -> dict[str, Any] | None:
    """The existing manifest of a batch of this design in ``directory`` (None if new); refuse anything else.

    "This design" means the same runs with the same resolved parameters (the fingerprint covers both), or the
    stored design grown to more replicates with every stored run unchanged (:meth:`ResolvedDesign.grows`).
    Anything else is refused: a different design with the settings that differ, the same runs resolved with
    other parameters with the keys that differ.
    """
    if directory.exists() and not directory.is_dir():
        raise StoreError(f"--out {directory}: exists and is not a directory")
    if not directory.exists():
        return None
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.exists():
        ours = set(DATASETS.values()) | {SUMMARY_FILE}
        others = sorted(p.name for p in directory.iterdir() if p.name not in ours)
        if others or any((directory / d).exists() for d in DATASETS.values()):
            shown = ", ".join(others[:5]) or "tables without a manifest"
            raise StoreError(f"--out {directory}: not an empty directory and holds no batch ({shown}); "
                             "choose a new or empty directory")
        return None
    manifest = _read_manifest(manifest_path)
    if manifest is None or manifest.get("kind") != MANIFEST_KIND:
        raise StoreError(f"--out {directory}: {MANIFEST_FILE} does not describe a batch (a single run?); "
                         "choose another directory")
    recorded_code, code = manifest.get("model_code"), model_code_digest()
    if recorded_code is not None and recorded_code != code:
        raise StoreError(
            f"--out {directory}: holds runs made with other model code (model/ has changed since they ran: "
            f"{str(recorded_code)[:12]} then, {code[:12]} now); refusing to mix results (nothing was changed). "
            "Start a new directory (another --out) to run with this model, or go back to the model it was run with "
            "to resume it"
        )
    fingerprint = resolved.fingerprint()
    if manifest.get("fingerprint") == fingerprint:
        return manifest
    stored = manifest.get("design") if isinstance(manifest.get("design"), dict) else {}
    settings = resolved.setting_changes(stored)
    growing = resolved.adds_replicates(stored)
    if settings and not growing:
        raise StoreError(
            f"--out {directory}: holds results of a different design; refusing to mix results (nothing was "
            f"changed). It differs in: {', '.join(settings)}. Rerun the original command to resume it (only "
            "--replications may grow a store), or choose another directory (another --out)"
        )
    changes = resolved.param_changes(stored)
    if changes:
        shown = changes[:MAX_CHANGES_SHOWN]
        if len(changes) > len(shown):
            shown.append(f"... and {len(changes) - len(shown)} more")
        raise StoreError(
            f"--out {directory}: holds the runs of this design resolved with other parameters; refusing to mix them "
            "(nothing was changed):\n" + "\n".join(f"  {line}" for line in shown) + "\n"
            "Start a new directory (another --out) to run with the new parameters, or restore the parameters "
            f"{directory} was run with to resume it"
        )
    if "params" not in stored:
        raise StoreError(
            f"--out {directory}: holds a batch whose manifest records no resolved parameters (an earlier "
            "zhudai), so resuming it could mix parameter sets; start a new directory (another --out)"
        )
    if growing:
        if resolved.grows(stored):
            return manifest
        raise StoreError(
            f"--out {directory}: differs only in {', '.join(settings)}, but the runs it holds are not the first "
            "replicates of this design (other run ids or seeds); refusing to mix results (nothing was changed). "
            "Choose another directory (another --out)"
        )
    raise StoreError(
        f"--out {directory}: holds results of a different design (fingerprint "
        f"{str(manifest.get('fingerprint'))[:12]}, this design {fingerprint[:12]}); refusing to mix results. "
        "Rerun the original command to resume it, or choose another directory (another --out)"
    )


def _replications(manifest: dict[str, Any] | None) -> int | None:
    design = manifest.get("design") if manifest else None
    value = design.get("replications") if isinstance(design, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _clean(directory: Path, ok: set[str]) -> None:
    """Remove leftovers of an interrupted session: temporary files, and table files of runs not marked ok."""
    for tmp in directory.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    for name in TABLES:
        for run_dir in (directory / DATASETS[name]).glob("run_id=*"):
            if run_dir.name.removeprefix("run_id=") not in ok:
                shutil.rmtree(run_dir, ignore_errors=True)
    for dataset in DATASETS.values():
        for run_dir in (directory / dataset).glob("run_id=*"):
            if run_dir.is_dir() and not any(run_dir.iterdir()):
                run_dir.rmdir()


def open_store(directory: str | os.PathLike[str], resolved: ResolvedDesign, argv: Iterable[str] = ()) -> BatchStore:
    """Open a batch directory for a design: check it, tidy it after an interruption, write the manifest.

    Args:
        directory: the batch directory (created if missing).
        resolved: the validated design.
        argv: the command line, for the manifest.

    Returns:
        The store, with the manifest of this session written.

    Raises:
        StoreError: if the directory holds something else or another design (nothing is changed then).
    """
    from model.output import SCHEMA_VERSION

    directory = Path(directory)
    previous = _check_directory(directory, resolved)
    grown_from = _replications(previous)
    grown_from = grown_from if grown_from is not None and grown_from < resolved.design.replications else None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"--out {directory}: cannot create it ({err.strerror or err})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreError(f"--out {directory}: not writable")
    version = code_version()
    session = {"started_at": now_iso(), "finished_at": None, "status": "running", "version": version,
               "argv": list(argv), "host": socket.gethostname()}
    if grown_from is not None:
        session["grown_from_replications"] = grown_from
    git = project_git()
    manifest = {
        "kind": MANIFEST_KIND,
        "schema_version": SCHEMA_VERSION,
        "version": version,
        "fingerprint": resolved.fingerprint(),
        "model_code": model_code_digest(),
        "design": resolved.to_dict(),
        "versions": environment_versions(),
        "git": git,
        "host": socket.gethostname(),
        "started_at": previous["started_at"] if previous else session["started_at"],
        "finished_at": None,
        "status": "running",
        "sessions": [*(previous.get("sessions", []) if previous else []), session],
        "tables": {name: f"{dataset}/run_id=<id>/{PART_FILE}" for name, dataset in DATASETS.items()},
    }
    store = BatchStore(directory, manifest, grown_from)
    if previous is not None:
        _clean(directory, store.ok_run_ids())
    store.write_manifest()
    return store
