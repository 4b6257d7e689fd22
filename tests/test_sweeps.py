"""Grid sweeps (`ednax run CONFIG -m ...`) end to end: the real CLI in a subprocess.

Every job is an ordinary bundle in runs/<experiment>/sweep-<id>/; sweep.json lists the
jobs with their overrides, status, bundle and monitored value. Class switches work in a
sweep, the joblib launcher runs jobs in other processes, a failing job is recorded and the
others still run, and a bad job stops the sweep before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import SAMPLES, write

IRIS = SAMPLES / "iris-sklearn.yaml"


pytestmark = pytest.mark.usefixtures("one_thread")


def sweep_record(workdir: Path, experiment: str) -> tuple[Path, dict]:
    [folder] = list((workdir / "runs" / experiment).glob("sweep-*"))
    return folder, json.loads((folder / "sweep.json").read_text())


def bundle_of(job: dict) -> Path:
    return Path(job["bundle"])


def test_grid_runs_every_combination_into_one_sweep_folder(cli, workdir):
    result = cli("run", IRIS, "-m", "model.n_estimators=10,30", "experiment.seed=0,1")

    assert result.code == 0, result.text
    folder, record = sweep_record(workdir, "iris-sklearn")
    assert record["kind"] == "grid" and record["status"] == "completed"
    assert record["launcher"] == "basic"
    assert [job["overrides"] for job in record["jobs"]] == [
        ["model.n_estimators=10", "experiment.seed=0"],
        ["model.n_estimators=10", "experiment.seed=1"],
        ["model.n_estimators=30", "experiment.seed=0"],
        ["model.n_estimators=30", "experiment.seed=1"],
    ]
    assert record["counts"] == {"completed": 4}
    bundles = sorted(p.parent for p in folder.glob("*/run.json"))
    assert len(bundles) == 4
    for job in record["jobs"]:
        bundle = workdir / bundle_of(job)
        assert bundle.parent == folder
        run = json.loads((bundle / "run.json").read_text())
        config = yaml.safe_load((bundle / "config.yaml").read_text())
        trees = int(job["overrides"][0].split("=")[1])
        seed = int(job["overrides"][1].split("=")[1])
        assert run["status"] == "completed"
        assert run["sweep"]["id"] == record["id"] and run["sweep"]["job"] == job["index"]
        assert config["model"]["n_estimators"] == trees
        assert config["experiment"]["seed"] == seed
        assert yaml.safe_load((bundle / "overrides.yaml").read_text()) == job["overrides"]
        metrics = json.loads((bundle / "metrics.json").read_text())
        assert job["value"] == pytest.approx(metrics["val"]["accuracy"])
    best = record["best"][0]
    assert best["value"] == max(job["value"] for job in record["jobs"])
    assert "best: job" in result.out and str(folder.name) in result.out


def test_a_sweep_switches_classes(cli, workdir):
    result = cli("run", IRIS, "-m", "model=random_forest,logistic_regression", "model.C=0.5")

    # model.C applies to every job: random_forest does not take it, so nothing runs.
    assert result.code == 2, result.text
    assert "model.C" in result.text and "sweep job 1 of 2" in result.text
    assert not (workdir / "runs").exists()

    result = cli("run", IRIS, "-m", "model=random_forest,logistic_regression")
    assert result.code == 0, result.text
    _, record = sweep_record(workdir, "iris-sklearn")
    types = []
    for job in record["jobs"]:
        bundle = workdir / bundle_of(job)
        types.append(yaml.safe_load((bundle / "config.yaml").read_text())["model"]["type"])
        run = json.loads((bundle / "run.json").read_text())
        assert run["classes"]["model"]["class"].endswith(
            "RandomForest" if types[-1] == "random_forest" else "LogisticRegression"
        )
    assert types == ["random_forest", "logistic_regression"]


def test_the_joblib_launcher_runs_jobs_in_other_processes(cli, workdir):
    result = cli(
        "run",
        IRIS,
        "-m",
        "model.n_estimators=5,15",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    )

    assert result.code == 0, result.text
    _, record = sweep_record(workdir, "iris-sklearn")
    assert record["launcher"] == "joblib"
    assert [job["status"] for job in record["jobs"]] == ["completed", "completed"]
    pids = {
        json.loads((workdir / bundle_of(j) / "run.json").read_text())["pid"] for j in record["jobs"]
    }
    assert record["pid"] not in pids  # the jobs ran in joblib's worker processes


def test_a_failing_job_is_recorded_and_the_others_still_run(cli, workdir):
    # more neighbours than training rows: a failure only the data shows, in the fit
    result = cli("run", IRIS, "-m", "model=knn", "model.n_neighbors=500,3")

    assert result.code == 1, result.text
    _, record = sweep_record(workdir, "iris-sklearn")
    failed, completed = record["jobs"]
    assert failed["status"] == "failed" and "n_neighbors" in failed["error"]
    assert completed["status"] == "completed" and completed["value"] is not None
    run = json.loads((workdir / bundle_of(failed) / "run.json").read_text())
    assert run["status"] == "failed"
    assert "1 of 2 job(s) did not complete" in result.err
    assert record["status"] == "completed" and record["counts"] == {"failed": 1, "completed": 1}


def test_no_cache_reaches_every_job_of_a_sweep(cli, workdir):
    """`--no-cache` is in the plan the jobs read: no job reads or fills the preprocessing
    cache; without it, the second job takes the first job's preprocessing from it."""
    cache = workdir / "runs" / ".cache" / "preprocess"

    result = cli("run", IRIS, "-m", "model.n_estimators=5,10", "--no-cache")

    assert result.code == 0, result.text
    folder, record = sweep_record(workdir, "iris-sklearn")
    assert record["cache"] is False
    assert not cache.exists() or not any(cache.iterdir())
    for job in record["jobs"]:
        assert "(fit on train)" in (workdir / bundle_of(job) / "log.txt").read_text()

    result = cli("run", IRIS, "-m", "model.n_estimators=5,10")

    assert result.code == 0, result.text
    [cached] = [f for f in (workdir / "runs" / "iris-sklearn").glob("sweep-*") if f != folder]
    record = json.loads((cached / "sweep.json").read_text())
    assert record["cache"] is True
    assert any(cache.iterdir())
    second = (workdir / bundle_of(record["jobs"][1]) / "log.txt").read_text()
    assert "(from the cache)" in second


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.n_estimators=10,30", "model.max_dept=3"], "model.max_dept"),
        (["model.n_estimators=interval(10,30)"], "hydra/sweeper=ednax_optuna"),
        (["model.n_estimators=range(10"], "cannot parse"),
        (["hydra/launcher=jobllib", "model.n_estimators=1,2"], "jobllib"),
    ],
    ids=["unknown-key", "interval-in-a-grid", "unparseable", "unknown-launcher"],
)
def test_a_bad_sweep_stops_before_any_job(cli, workdir, overrides, expected):
    result = cli("run", IRIS, "-m", *overrides)

    assert result.code == 2, result.text
    assert expected in result.err
    assert "Traceback" not in result.text
    assert not (workdir / "runs").exists()


def test_dry_run_lists_the_jobs_of_config_params_and_globs(cli, workdir):
    config = write(
        workdir / "grid.yaml",
        IRIS.read_text() + "hydra:\n  sweeper:\n    params:\n      model.n_estimators: 10,20\n",
    )

    result = cli("run", config, "-m", "model=glob(random_*)", "--dry-run")

    assert result.code == 0, result.text
    assert "grid: 2 job(s), basic launcher" in result.out
    assert "job 1: model.n_estimators=10 model=random_forest" in result.out
    assert "job 2: model.n_estimators=20 model=random_forest" in result.out
    assert not (workdir / "runs").exists()


def test_a_plugin_module_that_does_not_import_stops_the_sweep_at_its_line(cli, workdir):
    config = write(workdir / "plugged.yaml", IRIS.read_text() + "imports: [no_such_plugin]\n")

    result = cli("run", config, "-m", "model.n_estimators=10,30")

    assert result.code == 2, result.text
    assert "cannot import the module 'no_such_plugin'" in result.err
    assert "plugged.yaml:" in result.err and "imports[0]" in result.err
    assert "Traceback" not in result.text
    assert not (workdir / "runs").exists()
