"""Recipe for running batches on an HPC cluster (SLURM or PBS) through dask-jobqueue.

Build a cluster, ask it for jobs, and pass its scheduler address to any batch command::

    from experiments.engine.cluster import make_jobqueue_cluster
    cluster = make_jobqueue_cluster("slurm", cores=32, memory="64GB", walltime="04:00:00", queue="compute")
    cluster.scale(jobs=4)            # 4 batch jobs x 32 single-threaded workers
    print(cluster.scheduler_address) # then: zhudai batch DESIGN.toml --scheduler tcp://... --out DIR

Every job runs one single-threaded worker process per core with BLAS/OpenMP limited to one thread, the
same layout as the local process pool, so results are identical to a local run of the same design.
Needs the ``dask`` extra (``cluster`` is another name for it): ``pip install -c constraints.txt -e ".[dask]"``.
"""

from __future__ import annotations

from typing import Any, Literal

from experiments.engine.executors import BLAS_ENV


def make_jobqueue_cluster(
    kind: Literal["slurm", "pbs"],
    cores: int,
    memory: str,
    walltime: str,
    queue: str | None = None,
    account: str | None = None,
    **kw: Any,
) -> Any:
    """Build (do not submit) a dask-jobqueue cluster of single-threaded workers with single-threaded BLAS.

    No job is submitted until ``cluster.scale(...)`` or ``cluster.adapt(...)`` is called; inspect what would
    be submitted with ``cluster.job_script()``. Close the cluster when done.

    Args:
        kind: ``"slurm"`` (``SLURMCluster``) or ``"pbs"`` (``PBSCluster``).
        cores: cores per job; each job runs this many worker processes of one thread each.
        memory: memory per job, e.g. ``"64GB"`` (split evenly between its workers).
        walltime: job time limit, ``"HH:MM:SS"``.
        queue: partition (SLURM) or queue (PBS); the site default when None.
        account: account or project to charge; the user's default when None.
        **kw: further keyword arguments for the dask-jobqueue cluster (e.g. ``job_extra_directives``,
            ``local_directory``, ``interface``); ``job_script_prologue`` lines are kept after the BLAS ones.

    Returns:
        The ``dask_jobqueue.SLURMCluster`` or ``PBSCluster``.

    Raises:
        ValueError: for an unknown kind or fewer than one core.
    """
    from experiments.extras import require

    require("dask", "dask_jobqueue", what="SLURM/PBS clusters (experiments.engine.cluster)")
    import dask_jobqueue

    classes = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}
    if kind not in classes:
        raise ValueError(f"unknown cluster kind {kind!r}: must be 'slurm' or 'pbs'")
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    # Exported in the job script before the worker starts (and imports numpy), so BLAS reads them.
    prologue = [f"export {key}={value}" for key, value in BLAS_ENV.items()]
    prologue += list(kw.pop("job_script_prologue", None) or [])
    return classes[kind](
        cores=cores,
        processes=cores,  # one process per core, one thread each: runs are CPU-bound Python
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        job_script_prologue=prologue,
        **kw,
    )
