"""Sweeps with Hydra's submitit launchers (`hydra/launcher=submitit_local`, `submitit_slurm`).

submitit pickles the job and runs it in a fresh process (a SLURM job, for submitit_slurm):
each job reaches its plan through sweep.json (a grid) or the Optuna storage (a search)
and writes an ordinary bundle into the sweep folder; submitit's own files land in
<sweep>/.submitit/, not in the working directory. A failing job is recorded as failed.
SLURM itself is not needed: fake `srun` and `sbatch` commands show what would be submitted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import SAMPLES, write
from tests.test_sweeps import sweep_record

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
pytestmark = pytest.mark.usefixtures("one_thread")

IRIS = SAMPLES / "iris-sklearn.yaml"
WINE = SAMPLES / "wine-optuna.yaml"
SLURM_SETTINGS = [
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.partition=gpu",
    "hydra.launcher.timeout_min=60",
    "hydra.launcher.array_parallelism=4",
    "hydra.launcher.gpus_per_node=1",
]


def run_json(workdir: Path, job: dict) -> dict:
    return json.loads((workdir / job["bundle"] / "run.json").read_text())


def test_a_grid_runs_each_job_as_a_submitit_job(cli, workdir):
    result = cli(
        "run",
        IRIS,
        "-m",
        "model=logistic_regression",
        "model.C=0.1,1",
        "experiment.seed=0,1",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",
    )

    assert result.code == 0, result.text
    folder, record = sweep_record(workdir, "iris-sklearn")
    assert record["launcher"] == "submitit_local" and record["status"] == "completed"
    assert record["counts"] == {"completed": 4}
    assert sorted(p.parent for p in folder.glob("*/run.json")) == sorted(
        workdir / job["bundle"] for job in record["jobs"]
    )
    for job in record["jobs"]:
        run = run_json(workdir, job)
        assert run["status"] == "completed" and job["value"] is not None
        assert run["pid"] != record["pid"]  # a process of its own
        config = yaml.safe_load((workdir / job["bundle"] / "config.yaml").read_text())
        assert config["model"]["C"] == float(job["overrides"][1].split("=")[1])
        # the job's own output, for a job that dies: submitit's log in the sweep folder
        stdout = Path(job["launcher_job"]["stdout"])
        assert stdout.parent.parent == folder / ".submitit"
        assert f"job {job['index'] + 1}/4 completed" in stdout.read_text()
    assert record["job_output"] == str(Path(record["dir"]) / ".submitit")
    # the launcher's settings reached Hydra; nothing was left in the working directory
    multirun = yaml.safe_load((folder / ".hydra" / "multirun.yaml").read_text())
    assert multirun["hydra"]["launcher"]["timeout_min"] == 5
    assert sorted(p.name for p in workdir.iterdir()) == ["runs"]


def test_an_optuna_search_runs_each_trial_as_a_submitit_job(cli, workdir):
    storage = f"sqlite:///{workdir / 'studies.db'}"
    result = cli(
        "run",
        WINE,
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.study_name=wine-rf",
        f"hydra.sweeper.storage={storage}",
        "model.n_estimators=10",
    )

    assert result.code == 0, result.text
    folder, record = sweep_record(workdir, "wine-optuna")
    assert folder.name == "sweep-wine-rf" and record["launcher"] == "submitit_local"
    assert [job["state"] for job in record["jobs"]] == ["COMPLETE", "COMPLETE"]
    bundles = {p.parent for p in folder.glob("*/run.json")}
    assert bundles == {workdir / job["bundle"] for job in record["jobs"]}
    for job in record["jobs"]:
        run = run_json(workdir, job)
        assert run["status"] == "completed" and run["pid"] != record["pid"]
        assert run["trial"]["number"] == job["trial"]
    # the jobs told the study in the given storage how their trials ended
    import optuna

    study = optuna.load_study(study_name="wine-rf", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:  # and where each job's output is, should one die
        stdout = Path(trial.user_attrs["ednax_launcher_job"]["stdout"])
        assert stdout.parent.parent == folder / ".submitit" and stdout.is_file()
    assert not (folder / "optuna.db").exists()


def test_a_failing_job_is_recorded_and_the_other_completes(cli, workdir):
    # more neighbours than training rows: a failure only the data shows, in the fit
    grid = ["model=knn", "model.n_neighbors=500,3", "hydra/launcher=submitit_local"]
    result = cli("run", IRIS, "-m", *grid)

    assert result.code == 1, result.text
    _, record = sweep_record(workdir, "iris-sklearn")
    failed, completed = record["jobs"]
    assert failed["status"] == "failed" and "n_neighbors" in failed["error"]
    assert run_json(workdir, failed)["status"] == "failed"
    assert completed["status"] == "completed" and completed["value"] is not None
    assert record["counts"] == {"failed": 1, "completed": 1}
    assert "1 of 2 job(s) did not complete" in result.err


def test_jobs_the_launcher_lost_fail_with_its_reason_and_live_ones_keep_running():
    """What a grid's sweep.json says once the launcher gave up (submitit raises for a job
    whose process was killed: out of memory, a time limit, scancel)."""
    from ednax.sweep.record import settle_unfinished

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    jobs = [
        {"index": 0, "status": "completed"},
        {"index": 1, "status": "running", "pid": dead.pid, "host": here,
         "launcher_job": {"stderr": "/sweep/.submitit/7/7_0_log.err"}},
        {"index": 2, "status": "running", "pid": os.getpid(), "host": here},
        {"index": 3, "status": "pending"},
    ]  # fmt: skip

    settle_unfinished(jobs, "UncompletedJobError: Job 7 has not produced any output")

    assert [job["status"] for job in jobs] == ["completed", "failed", "running", "failed"]
    assert "its process ended before the job recorded how it ended" in jobs[1]["error"]
    assert "Job 7 has not produced any output" in jobs[1]["error"]
    assert jobs[1]["error"].endswith("see /sweep/.submitit/7/7_0_log.err")
    assert jobs[3]["error"].startswith("never started (the launcher failed: UncompletedJobError")


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """`srun`, and an `sbatch` that keeps the script it is given and refuses it."""
    bin_dir = tmp_path / "fake-slurm"
    write(bin_dir / "srun", "#!/bin/sh\nexit 0\n").chmod(0o755)
    sbatch = '#!/bin/sh\ncp "$1" "$(dirname "$0")/submitted.sh"\necho "no such partition" >&2\n'
    write(bin_dir / "sbatch", sbatch + "exit 1\n").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_slurm_settings_reach_sbatch_and_a_refused_submission_fails_the_jobs(
    cli, workdir, fake_slurm
):
    result = cli("run", IRIS, "-m", "model.n_estimators=5,10", *SLURM_SETTINGS)

    assert result.code == 1, result.text
    folder, record = sweep_record(workdir, "iris-sklearn")
    script = (fake_slurm / "submitted.sh").read_text()
    for line in ("--partition=gpu", "--time=60", "--gpus-per-node=1", "--array=0-1%2"):
        assert f"#SBATCH {line}\n" in script
    assert f"#SBATCH --output={folder}/.submitit/%A_%a/" in script
    assert record["status"] == "failed" and "no such partition" in record["error"]
    for job in record["jobs"]:
        assert job["status"] == "failed"
        assert job["error"].startswith("never started (the launcher failed: ")
    assert "job 2: never started" in result.err and "Traceback" not in result.text


def test_submitit_slurm_off_a_cluster_stops_before_the_sweep(cli, workdir, monkeypatch):
    monkeypatch.setenv("PATH", str(workdir / "empty"))

    result = cli("run", IRIS, "-m", "model.n_estimators=5,10", *SLURM_SETTINGS)

    assert result.code == 2, result.text
    assert "sbatch and srun cannot be found" in result.err
    assert not (workdir / "runs").exists()


def test_launcher_settings_are_checked_with_the_plan(cli, workdir):
    result = cli("run", IRIS, "-m", "model.n_estimators=5,10", *SLURM_SETTINGS, "--dry-run")
    assert result.code == 0, result.text
    assert "grid: 2 job(s), submitit_slurm launcher" in result.out

    typo = "hydra.launcher.gpus_per_nod=1"
    result = cli("run", IRIS, "-m", "model.n_estimators=5,10", *SLURM_SETTINGS, typo)
    assert result.code == 2, result.text
    assert "hydra.launcher (SlurmQueueConf) has no setting 'gpus_per_nod'" in result.err
    assert "did you mean 'gpus_per_node'" in result.err

    # submitit runs the job once per task: two tasks would run every job twice
    tasks = "hydra.launcher.tasks_per_node=2"
    result = cli("run", IRIS, "-m", "model.n_estimators=5,10", *SLURM_SETTINGS, tasks)
    assert result.code == 2, result.text
    assert "hydra.launcher.tasks_per_node: must be 1 in a sweep" in result.err
    assert not (workdir / "runs").exists()


# ednax's CLI with Hydra's plugin scan blind to the submitit plugin: as if not installed
WITHOUT_SUBMITIT = """
import pkgutil
import sys

walk = pkgutil.walk_packages
pkgutil.walk_packages = lambda *a, **k: (m for m in walk(*a, **k) if "submitit" not in m.name)
from ednax.cli import entry

sys.argv[0] = "ednax"
entry()
"""


def test_a_launcher_whose_plugin_is_missing_names_the_package(workdir):
    command = [sys.executable, "-c", WITHOUT_SUBMITIT, "run", str(IRIS), "-m"]
    proc = subprocess.run(
        [*command, "model.n_estimators=5,10", "hydra/launcher=submitit_slurm"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=120,
    )

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "hydra/launcher=submitit_slurm needs the hydra-submitit-launcher package" in proc.stderr
    assert "pip install hydra-submitit-launcher" in proc.stderr
    assert not (workdir / "runs").exists()
