"""`ednax run` end to end: the real CLI in a subprocess on real configs, and the bundle it
leaves behind (contents, reproducibility, overrides, seeds, failures, interruptions)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import (
    PLUGIN,
    REPO,
    SAMPLES,
    Result,
    bundle_files,
    bundle_of,
    bundles_in,
    read_json,
    read_yaml,
    run_cli,
    write,
)

IRIS = SAMPLES / "iris-sklearn.yaml"
KINDS = (
    "data",
    "preprocess",
    "model",
    "weights",
    "loss",
    "optimizer",
    "scheduler",
    "trainer",
    "save",
    "metric",
)
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def plugin_config(folder: Path, model: str) -> Path:
    write(folder / "my_plugin.py", PLUGIN)
    return write(
        folder / "plugin.yaml",
        "imports: [my_plugin]\n"
        "experiment: {name: plugin, seed: 0}\n"
        "data: {type: sklearn_toy, dataset: iris}\n"
        f"model: {model}\n"
        "metrics: {names: [accuracy]}\n",
    )


def only_bundle(runs: Path) -> Path:
    bundles = [p.parent for p in bundle_files(runs, "*/*/run.json")]
    assert len(bundles) == 1, bundles
    return bundles[0]


def succeeded(result: Result) -> Result:
    assert result.code == 0, result.text
    return result


def dry_run(cli, *args: str) -> dict:
    """The resolved config `ednax run --dry-run` prints."""
    return yaml.safe_load(succeeded(cli("run", *args, "--dry-run")).out)


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> tuple[Result, Path]:
    """`ednax run sample-configs/iris-sklearn.yaml`, once for the module's tests."""
    cwd = tmp_path_factory.mktemp("iris")
    result = succeeded(run_cli("run", IRIS, cwd=cwd))
    return result, bundle_of(result, cwd)


# --- the sample run and its bundle ------------------------------------------------------


def test_iris_run_prints_id_and_bundle_path(iris_run):
    result, bundle = iris_run
    assert bundle.parent.name == "iris-sklearn"
    assert bundle.parent.parent.name == "runs"
    assert f"run {bundle.name}" in result.out
    assert f"bundle: runs/iris-sklearn/{bundle.name}" in result.out


def test_iris_bundle_holds_every_file(iris_run):
    _, bundle = iris_run
    for name in ("config.yaml", "overrides.yaml", "run.json", "env.json", "metrics.json"):
        assert (bundle / name).is_file(), name
    assert (bundle / "log.txt").read_text().strip()
    for name in ("model.pkl", "preprocess.pkl", "predictions.csv"):
        assert (bundle / "artifacts" / name).stat().st_size > 0, name
    assert read_yaml(bundle / "overrides.yaml") in ([], None)


def test_iris_run_json_records_status_classes_fingerprints_seed(iris_run):
    _, bundle = iris_run
    run = read_json(bundle / "run.json")
    assert run["id"] == bundle.name
    assert run["status"] == "completed"
    assert run["error"] is None
    assert run["seed"] == 0
    assert run["classes"]["model"]["class"] == "ednax.steps.estimators:RandomForest"
    assert run["classes"]["data"]["class"] == "ednax.steps.data:SklearnToy"
    assert run["classes"]["preprocess[0]"]["class"] == "ednax.steps.preprocess:StandardScaler"
    for kind in ("config", "structure", "data"):
        assert run["fingerprints"][kind], kind


def test_iris_env_json_records_python_and_packages(iris_run):
    _, bundle = iris_run
    env = read_json(bundle / "env.json")
    assert env["python"]["version"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert env["packages"]["scikit-learn"]
    assert env["packages"]["numpy"]


def test_iris_reaches_test_accuracy_of_0_9(iris_run):
    _, bundle = iris_run
    metrics = read_json(bundle / "metrics.json")
    assert set(metrics) == {"train", "val", "test"}
    assert set(metrics["test"]) == {"accuracy", "f1_macro"}
    assert metrics["test"]["accuracy"] >= 0.9


def test_two_runs_give_identical_metrics(cli, workdir, iris_run):
    _, first = iris_run
    second = bundle_of(succeeded(cli("run", IRIS)), workdir)
    assert second.name != first.name
    assert (second / "metrics.json").read_bytes() == (first / "metrics.json").read_bytes()
    predictions = Path("artifacts", "predictions.csv")
    assert (second / predictions).read_bytes() == (first / predictions).read_bytes()


def test_bundle_config_is_complete_and_reproduces_the_run(cli, workdir, iris_run):
    _, first = iris_run
    config = read_yaml(first / "config.yaml")
    assert "max_depth" not in IRIS.read_text()
    assert config["model"]["max_depth"] is None
    assert config["model"]["min_samples_leaf"] == 1
    assert config["data"]["random_state"] == 0
    assert config["metrics"]["mode"] == "max"

    again = bundle_of(succeeded(cli("run", first / "config.yaml")), workdir)
    assert read_yaml(again / "config.yaml") == config
    assert read_json(again / "metrics.json") == read_json(first / "metrics.json")


# --- overrides and seeds ---------------------------------------------------------------


def test_overrides_land_in_config_and_overrides_yaml(cli, workdir):
    overrides = ["model.n_estimators=7", "experiment.seed=3", "model.max_depth=3"]
    bundle = bundle_of(succeeded(cli("run", IRIS, *overrides)), workdir)
    config = read_yaml(bundle / "config.yaml")
    assert config["model"]["n_estimators"] == 7
    assert config["model"]["max_depth"] == 3  # not in the file, and no `+` needed
    assert config["experiment"]["seed"] == 3
    assert read_yaml(bundle / "overrides.yaml") == overrides
    assert read_json(bundle / "run.json")["seed"] == 3


def test_switching_the_model_class_drops_the_old_keys(cli, workdir):
    result = succeeded(cli("run", IRIS, "model=logistic_regression", "model.C=0.5"))
    bundle = bundle_of(result, workdir)
    model = read_yaml(bundle / "config.yaml")["model"]
    assert model["type"] == "logistic_regression"
    assert model["C"] == 0.5
    assert model["max_iter"] == 100  # the new class's own default
    for forest_key in ("n_estimators", "max_depth", "bootstrap", "min_samples_leaf"):
        assert forest_key not in model
    run = read_json(bundle / "run.json")
    assert run["classes"]["model"]["class"] == "ednax.steps.estimators:LogisticRegression"


def test_seed_becomes_random_state_unless_set(cli):
    seeded = dry_run(cli, IRIS, "experiment.seed=5")
    assert seeded["data"]["random_state"] == 5
    assert seeded["model"]["random_state"] == 5

    explicit = dry_run(cli, IRIS, "experiment.seed=5", "model.random_state=11")
    assert explicit["model"]["random_state"] == 11
    assert explicit["data"]["random_state"] == 5


def test_dry_run_prints_resolved_yaml_and_writes_nothing(cli, workdir):
    config = dry_run(cli, IRIS, "model.n_estimators=9")
    assert config["model"]["n_estimators"] == 9
    assert config["model"]["max_depth"] is None
    assert config["trainer"]["type"] == "sklearn"
    assert list(workdir.iterdir()) == []


def test_validate_passes_and_writes_nothing(cli, workdir):
    result = succeeded(cli("validate", IRIS))
    assert "valid" in result.out
    assert list(workdir.iterdir()) == []


# --- the other samples -----------------------------------------------------------------


def test_wine_logreg_composes_defaults_list_and_runs(cli, workdir):
    bundle = bundle_of(succeeded(cli("run", SAMPLES / "wine-logreg.yaml")), workdir)
    assert bundle.parent.name == "wine-logreg"
    config = read_yaml(bundle / "config.yaml")
    assert config["data"]["dataset"] == "wine"  # built-in group data/wine
    assert config["model"]["type"] == "logistic_regression"
    assert config["model"]["C"] == 0.1  # built-in group model/logreg_strong
    assert config["model"]["max_iter"] == 500  # refined by the file after _self_
    assert [s["type"] for s in config["preprocess"]] == ["standard_scaler"]  # local group
    assert read_json(bundle / "metrics.json")["test"]["accuracy"] >= 0.9


def test_diabetes_regression_reports_rmse_mae_r2(cli, workdir):
    bundle = bundle_of(succeeded(cli("run", SAMPLES / "diabetes-regression.yaml")), workdir)
    metrics = read_json(bundle / "metrics.json")
    for split in ("train", "val", "test"):
        assert set(metrics[split]) == {"rmse", "mae", "r2"}
    assert 0 < metrics["test"]["mae"] <= metrics["test"]["rmse"]
    assert metrics["test"]["r2"] > 0.3
    assert read_json(bundle / "run.json")["task"] == "regression"


def test_csv_example_runs_from_the_repo_root(tmp_path):
    runs = tmp_path / "runs"
    repo_runs_before = (REPO / "runs").exists()
    result = run_cli(
        "run",
        "sample-configs/csv-example.yaml",
        f"experiment.runs_dir={runs}",
        "model.n_estimators=20",
        cwd=REPO,
    )
    succeeded(result)
    bundle = only_bundle(runs)
    data = read_yaml(bundle / "config.yaml")["data"]
    assert data["path"] == str(SAMPLES / "data" / "penguins-mini.csv")
    assert read_json(bundle / "metrics.json")["test"]["accuracy"] > 0.5
    assert (REPO / "runs").exists() == repo_runs_before


def test_csv_example_runs_from_another_cwd(cli, workdir):
    result = succeeded(cli("run", SAMPLES / "csv-example.yaml", "model.n_estimators=20"))
    bundle = bundle_of(result, workdir)
    data = read_yaml(bundle / "config.yaml")["data"]
    assert data["path"] == str(SAMPLES / "data" / "penguins-mini.csv")  # the config's folder
    assert read_json(bundle / "run.json")["fingerprints"]["data"]


def test_csv_relative_path_prefers_the_working_directory(cli, workdir):
    local = workdir / "data" / "penguins-mini.csv"
    write(local, (SAMPLES / "data" / "penguins-mini.csv").read_text())
    config = dry_run(cli, SAMPLES / "csv-example.yaml")
    assert config["data"]["path"] == str(local)


# --- plugins, failures, interruptions ---------------------------------------------------


def test_plugin_model_from_imports_runs(cli, workdir):
    config = plugin_config(workdir, "{type: my_forest, n_estimators: 4}")
    bundle = bundle_of(succeeded(cli("run", config)), workdir)
    assert read_yaml(bundle / "config.yaml")["model"] == {
        "type": "my_forest",
        "n_estimators": 4,
        "random_state": 0,
    }
    run = read_json(bundle / "run.json")
    assert run["status"] == "completed"
    assert run["classes"]["model"]["class"] == "my_plugin:MyForest"
    assert read_json(bundle / "metrics.json")["test"]["accuracy"] > 0.5


def test_run_that_fails_after_validation_leaves_a_failed_bundle(cli, workdir):
    config = plugin_config(workdir, "{type: exploding, message: the solver diverged}")
    result = cli("run", config)
    assert result.code == 1, result.text
    assert "the solver diverged" in result.err
    assert "Traceback" not in result.text
    bundle = only_bundle(workdir / "runs")
    assert str(bundle.relative_to(workdir)) in result.text  # says where the record is
    run = read_json(bundle / "run.json")
    assert run["status"] == "failed"
    assert "the solver diverged" in run["error"]
    assert run["ended_at"]
    assert "RuntimeError" in (bundle / "log.txt").read_text()  # the traceback is kept there


def wait_until_fitting(runs: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    """The bundle of a run that has reached the model's fit (status still running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for run_json in bundle_files(runs, "*/*/run.json"):
            log = run_json.parent / "log.txt"
            running = read_json(run_json)["status"] == "running"
            if running and log.exists() and "model: sleepy" in log.read_text():
                return run_json.parent
        time.sleep(0.05)
    raise AssertionError("the run never reached its fit")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_is_recorded_as_interrupted(workdir, signum):
    config = plugin_config(workdir, "{type: sleepy, seconds: 120}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ednax", "run", str(config)],
        cwd=workdir,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        bundle = wait_until_fitting(workdir / "runs", proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, out + err
    assert "interrupted" in err
    assert f"run {bundle.name} interrupted: `ednax resume " in out  # how to go on
    assert "Traceback" not in out + err
    run = read_json(bundle / "run.json")
    assert run["status"] == "interrupted"
    assert run["error"]
    assert run["ended_at"]


# --- start-up cost and concurrency ------------------------------------------------------

# the command leaves through os._exit after the atexit handlers: the report is one of them
LOADED_MODULES = """
import atexit, runpy, sys
sys.argv = ["ednax", *sys.argv[1:]]
atexit.register(
    lambda: print("MODULES", " ".join(sorted({name.split(".")[0] for name in sys.modules})))
)
runpy.run_module("ednax", run_name="__main__")
"""


def top_level_modules_loaded_by(*args: str, cwd: Path) -> tuple[int, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", LOADED_MODULES, *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    assert lines and lines[-1].startswith("MODULES"), proc.stdout + proc.stderr
    return proc.returncode, set(lines[-1].split()[1:])


def test_help_imports_no_heavy_library(workdir):
    code, loaded = top_level_modules_loaded_by("--help", cwd=workdir)
    assert code == 0
    heavy = {"torch", "pytorch_lightning", "lightning", "optuna", "sklearn", "pandas"}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_validate_imports_only_what_its_checks_need(workdir):
    # a torch config is checked against its classes' signatures, without torch
    code, loaded = top_level_modules_loaded_by(
        "validate", str(SAMPLES / "iris-mlp.yaml"), cwd=workdir
    )
    assert code == 0
    assert not loaded & {"torch", "sklearn"}, sorted(loaded & {"torch", "sklearn"})
    # an estimator config's estimator is built, unfitted, for scikit-learn's own checks
    code, loaded = top_level_modules_loaded_by("validate", str(IRIS), cwd=workdir)
    assert code == 0
    assert "sklearn" in loaded and "torch" not in loaded


@pytest.mark.slow
def test_concurrent_runs_get_unique_ids(workdir):
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ednax", "run", str(IRIS), "model.n_estimators=5"],
            cwd=workdir,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    bundles = bundles_in(workdir / "runs" / "iris-sklearn")
    assert len(bundles) == 4
    for bundle in bundles:
        assert read_json(bundle / "run.json")["status"] == "completed"
        assert read_json(bundle / "run.json")["id"] == bundle.name


# --- the registry command ---------------------------------------------------------------


def test_registry_lists_every_kind(cli):
    result = succeeded(cli("registry"))
    for kind in KINDS:
        assert re.search(rf"^\s*{kind}: ", result.out, re.MULTILINE), kind


def test_registry_model_shows_parameters_with_defaults(cli):
    result = succeeded(cli("registry", "model"))
    assert "random_forest" in result.out
    row = next(line for line in result.out.splitlines() if " n_estimators " in line)
    assert re.search(r"\b100\b", row), row
    assert "logistic_regression" in result.out


def test_registry_shows_one_class_unwrapped_or_names_the_nearest(cli):
    result = succeeded(cli("registry", "model", "random_forest"))
    assert "random_forest" in result.out and "logistic_regression" not in result.out
    described = "Maximum depth of a tree (None = grow until leaves are pure or too small)."
    assert described in result.out  # one line, even off a terminal
    misspelt = cli("registry", "model", "random_forst")
    assert misspelt.code == 2 and "did you mean 'random_forest'?" in misspelt.err


def test_registry_unknown_kind_suggests_the_nearest(cli):
    result = cli("registry", "modle")
    assert result.code == 2, result.text
    assert re.search(r"did you mean .*'model'", result.text), result.text
    assert "Traceback" not in result.text
