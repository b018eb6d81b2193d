"""The SLURM/PBS recipe builds (never submits) a dask-jobqueue cluster with the requested resources."""

from __future__ import annotations

import pytest

pytest.importorskip("dask_jobqueue")

from experiments.engine.cluster import make_jobqueue_cluster


@pytest.mark.parametrize(("kind", "directives"), [
    ("slurm", ["#SBATCH -p short", "#SBATCH -A proj1", "#SBATCH --cpus-per-task=4", "#SBATCH -t 01:30:00"]),
    ("pbs", ["#PBS -q short", "#PBS -A proj1", "ncpus=4", "#PBS -l walltime=01:30:00"]),
])
def test_job_script_has_resources_single_threaded_workers_and_blas_env(kind, directives):
    cluster = make_jobqueue_cluster(kind, cores=4, memory="8GB", walltime="01:30:00", queue="short",
                                    account="proj1", job_script_prologue=["module load python"])
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for directive in directives:
        assert directive in script, directive
    assert "--nthreads 1" in script and "--nworkers 4" in script
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert f"export {var}=1" in script
    assert script.index("export OMP_NUM_THREADS=1") < script.index("module load python")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="slurm"):
        make_jobqueue_cluster("sge", cores=1, memory="1GB", walltime="00:10:00")
