"""MLflow tracking (`tracker: mlflow`) and `ednax export mlflow`, read back with MlflowClient.

The real CLI runs in this process (typer's CliRunner), so mlflow is imported once; every
test writes to one SQLite store (its migrations run once per module), each under its own
MLflow experiment.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLES, read_json, write

IRIS = SAMPLES / "iris-sklearn.yaml"
IRIS_MLP = SAMPLES / "iris-mlp.yaml"

# Models whose fit fails, and whose fit is stopped as by Ctrl-C.
FAULTS = '''
from ednax.registry import register
from ednax.steps.base import Step


@register("model", "failing", family="sklearn")
class Failing(Step):
    """A model whose fit fails."""

    def __init__(self):
        pass

    def build(self, task):
        return _Fit(RuntimeError("boom"))


@register("model", "interrupting", family="sklearn")
class Interrupting(Step):
    """A model whose fit is interrupted."""

    def __init__(self):
        pass

    def build(self, task):
        return _Fit(KeyboardInterrupt())


class _Fit:
    def __init__(self, error):
        self.error = error

    def fit(self, X, y):
        raise self.error
'''


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite tracking store for the module, created (migrated) once."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()
    return uri


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def ednax(*args: str):
    from ednax.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def tracked(uri: str, name: str) -> list[str]:
    return ["tracker=mlflow", f"tracker.tracking_uri={uri}", f"experiment.name={name}"]


def runs_of(uri: str, experiment: str, where: str = "") -> list:
    mlflow = client(uri)
    found = mlflow.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment}"
    return list(mlflow.search_runs([found.experiment_id], where))


def only_run(uri: str, experiment: str):
    [run] = runs_of(uri, experiment)
    return run


def artifacts(uri: str, run_id: str, folder: str | None = None) -> list[str]:
    return sorted(a.path for a in client(uri).list_artifacts(run_id, folder))


def bundles(workdir: Path) -> list[Path]:
    return sorted(p.parent for p in (workdir / "runs").glob("**/run.json"))


def git_tree(folder: Path) -> str:
    """Make `folder` a git work tree with one commit; its id."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True)
        return done.stdout.strip()

    git("init", "-q")
    write(folder / "README", "x\n")
    git("add", "README")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return git("rev-parse", "HEAD")


def test_an_estimator_run_is_tracked_with_params_tags_metrics_and_artifacts(store, workdir):
    commit = git_tree(workdir)
    result = ednax("run", IRIS, "model.n_estimators=7", *tracked(store, "t-sklearn"))

    assert result.exit_code == 0, result.output
    [bundle] = bundles(workdir)
    run_json = read_json(bundle / "run.json")
    metrics = read_json(bundle / "metrics.json")
    run = only_run(store, "t-sklearn")
    assert run.info.status == "FINISHED" and run.info.run_name == bundle.name
    assert run_json["tracking"]["run_id"] == run.info.run_id
    params = run.data.params
    assert params["model.type"] == "random_forest" and params["model.n_estimators"] == "7"
    assert params["preprocess.0.type"] == "standard_scaler"
    assert params["metrics.names"] == '["accuracy", "f1_macro"]'
    tags = run.data.tags
    assert tags["ednax.run_id"] == bundle.name
    assert tags["ednax.structure"] == run_json["fingerprints"]["structure"]
    assert tags["ednax.git_commit"] == commit == tags["mlflow.source.git.commit"]
    assert tags["ednax.status"] == "completed" and tags["ednax.experiment"] == "t-sklearn"
    assert tags["ednax.version"]
    assert run.data.metrics["test/accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert run.data.metrics["val/f1_macro"] == pytest.approx(metrics["val"]["f1_macro"])
    files = artifacts(store, run.info.run_id)
    assert {"run.json", "config.yaml", "metrics.json", "env.json", "log.txt"} <= set(files)
    assert ".lock" not in files
    assert "artifacts/model.pkl" in artifacts(store, run.info.run_id, "artifacts")


@pytest.mark.slow
def test_a_torch_run_logs_every_epoch_with_its_step(store, workdir, one_thread):
    result = ednax("run", IRIS_MLP, "trainer.max_epochs=2", *tracked(store, "t-torch"))

    assert result.exit_code == 0, result.output
    [bundle] = bundles(workdir)
    run = only_run(store, "t-torch")
    assert run.info.status == "FINISHED"
    history = client(store).get_metric_history(run.info.run_id, "epoch/val/loss")
    rows = [row for row in (bundle / "history.csv").read_text().splitlines()[1:] if row]
    assert (
        [m.step for m in sorted(history, key=lambda m: m.step)]
        == [1, 2]
        == [int(row.split(",")[0]) for row in rows]
    )
    assert run.data.params["model.hidden"] == "[64, 64]"
    assert run.data.params["trainer.max_epochs"] == "2"
    metrics = read_json(bundle / "metrics.json")
    assert run.data.metrics["test/accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert run.data.metrics["val/loss"] == pytest.approx(metrics["val"]["loss"])
    files = artifacts(store, run.info.run_id, "artifacts")
    assert {"artifacts/best.ckpt", "artifacts/last.ckpt"} <= set(files)
    assert "history.csv" in artifacts(store, run.info.run_id)


def test_a_failed_run_ends_failed_and_an_interrupted_one_killed(store, workdir):
    write(workdir / "tracking_faults.py", FAULTS)
    config = write(
        workdir / "faults.yaml",
        "imports: [tracking_faults]\n"
        "experiment: {name: t-faults, seed: 0}\n"
        "data: {type: sklearn_toy, dataset: iris}\n"
        "model: failing\n"
        "metrics: {names: [accuracy]}\n",
    )
    failed = ednax("run", config, *tracked(store, "t-failed"))
    stopped = ednax("run", config, "model=interrupting", *tracked(store, "t-stopped"))

    assert failed.exit_code == 1, failed.output
    assert "RuntimeError: boom" in failed.output
    assert stopped.exit_code == 130, stopped.output
    run = only_run(store, "t-failed")
    assert run.info.status == "FAILED" and run.data.tags["ednax.status"] == "failed"
    assert "log.txt" in artifacts(store, run.info.run_id)
    run = only_run(store, "t-stopped")
    assert run.info.status == "KILLED" and run.data.tags["ednax.status"] == "interrupted"


def test_a_tracking_failure_is_said_once_and_the_run_goes_on(workdir, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    uri = "http://ednax:s3cret@127.0.0.1:9"  # nothing listens on the discard port
    result = ednax("run", IRIS, "model.n_estimators=5", *tracked(uri, "t-unreachable"))

    assert result.exit_code == 0, result.output
    [bundle] = bundles(workdir)
    run_json = read_json(bundle / "run.json")
    log = (bundle / "log.txt").read_text()
    assert run_json["status"] == "completed"
    assert "could not start" in run_json["tracking"]["error"]
    assert run_json["tracking"]["uri"] == "http://ednax:***@127.0.0.1:9"
    assert log.count("warning: MLflow tracking") == 1
    assert "warning: MLflow tracking" in result.output
    for text in (result.output, log, json.dumps(run_json)):
        assert "s3cret" not in text


def test_a_grid_sweep_is_a_parent_run_with_one_nested_run_per_job(store, workdir):
    result = ednax("run", IRIS, "-m", "model.n_estimators=3,5", *tracked(store, "t-grid"))

    assert result.exit_code == 0, result.output
    [sweep_dir] = (workdir / "runs" / "t-grid").glob("sweep-*")
    [parent] = runs_of(store, "t-grid", "tags.`ednax.kind` = 'sweep'")
    assert parent.data.tags["ednax.sweep_id"] == sweep_dir.name
    assert parent.info.status == "FINISHED"
    assert parent.data.params["grid.model.n_estimators"] == '["3", "5"]'
    children = runs_of(store, "t-grid", f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.data.tags["ednax.run_id"] for c in children) == sorted(
        p.name for p in bundles(workdir)
    )
    assert {c.info.status for c in children} == {"FINISHED"}
    assert len(runs_of(store, "t-grid")) == 3


def test_export_sends_each_bundle_once_and_nests_a_sweep(store, workdir):
    assert ednax("run", IRIS, "model.n_estimators=3", "experiment.name=t-export").exit_code == 0
    swept = ednax("run", IRIS, "-m", "model.n_estimators=3,5", "experiment.name=t-export")
    assert swept.exit_code == 0, swept.output

    first = ednax("export", "mlflow", "--tracking-uri", store)
    again = ednax("export", "mlflow", "--tracking-uri", store)

    assert first.exit_code == 0, first.output
    assert "sent 3, skipped 0" in first.output
    assert "sent 0, skipped 3" in again.output, again.output
    runs = runs_of(store, "t-export")
    assert len(runs) == 4  # three bundles and their sweep's parent
    [parent] = [r for r in runs if r.data.tags.get("ednax.kind") == "sweep"]
    assert parent.info.status == "FINISHED"
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(nested) == 2
    one = next(r for r in runs if r.data.tags.get("ednax.kind") == "run")
    assert one.info.status == "FINISHED" and one.data.params["model.type"] == "random_forest"
    assert "test/accuracy" in one.data.metrics
    assert "artifacts/model.pkl" in artifacts(store, one.info.run_id, "artifacts")


def test_a_live_tracked_run_counts_as_exported(store, workdir):
    assert ednax("run", IRIS, "model.n_estimators=3", *tracked(store, "t-live")).exit_code == 0

    result = ednax("export", "mlflow", "latest", "--tracking-uri", store)

    assert "sent 0, skipped 1" in result.output, result.output
    assert len(runs_of(store, "t-live")) == 1


def test_export_ends_a_run_whose_live_tracking_broke_off(store, workdir):
    assert ednax("run", IRIS, "model.n_estimators=3", *tracked(store, "t-broken")).exit_code == 0
    run = only_run(store, "t-broken")
    client(store).update_run(run.info.run_id, status="RUNNING")  # as if it never ended

    result = ednax("export", "mlflow", "--tracking-uri", store)

    assert "sent 1, skipped 0" in result.output, result.output
    assert "its end sent" in result.output
    assert only_run(store, "t-broken").info.status == "FINISHED"


def test_without_mlflow_validate_and_export_name_the_extra(workdir, monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "mlflow" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    validated = ednax("validate", IRIS, "tracker=mlflow")
    exported = ednax("export", "mlflow")

    assert validated.exit_code == 2, validated.output
    assert "tracker.type" in validated.output
    assert "pip install 'ednax[mlflow]'" in validated.output
    assert exported.exit_code == 2 and "ednax[mlflow]" in exported.output


def test_tracking_changes_no_fingerprint_and_defaults_beside_the_runs_dir(workdir):
    from ednax.config.resolve import load_config
    from ednax.engine.tracking import tracking_of, untracked

    plain = load_config(IRIS)
    on = load_config(IRIS, ["tracker=mlflow"])

    assert plain["tracker"] == {"type": "none"}
    assert on.fingerprints() == plain.fingerprints()
    tracker = tracking_of(on).tracker
    runs_dir = Path(plain.experiment["runs_dir"])
    assert tracker.uri() == f"sqlite:///{runs_dir.resolve().parent / 'mlflow.db'}"
    assert tracker.experiment_title() == "iris-sklearn"
    # a distributed fit's other processes run an untracked copy: rank 0 tracks the run
    assert untracked(on)["tracker"] == {"type": "none"} and on["tracker"]["type"] == "mlflow"
    assert untracked(on).fingerprints() == on.fingerprints()


def test_params_fit_mlflows_limits(store):
    from ednax.engine.tracking.record import run_params
    from ednax.engine.tracking.store import Store

    params = run_params({"model": {f"p{i}": i for i in range(250)}, "data": {"query": "x" * 7000}})
    mlflow = Store(store, "t-limits")
    run_id = mlflow.create("limits", {"ednax.run_id": "limits"})
    mlflow.log_params(run_id, params)

    logged = client(store).get_run(run_id).data.params
    assert len(logged) == 251 and len(logged["data.query"]) == 6000


def test_a_resumed_run_fills_the_epochs_its_mlflow_run_lacks(store, tmp_path):
    from ednax.engine.tracking.live import _log_missing_epochs
    from ednax.engine.tracking.store import Store
    from ednax.runs.reader import BundleFiles

    write(tmp_path / "history.csv", "epoch,train/loss\n1,0.9\n2,0.7\n3,0.5\n")
    mlflow = Store(store, "t-resumed")
    run_id = mlflow.create("resumed", {"ednax.run_id": "resumed"})
    mlflow.log_metrics(run_id, [("epoch/train/loss", 0.9, 1), ("epoch/train/loss", 0.7, 2)])

    _log_missing_epochs(mlflow, run_id, BundleFiles(tmp_path))

    history = client(store).get_metric_history(run_id, "epoch/train/loss")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.9), (2, 0.7), (3, 0.5)]
