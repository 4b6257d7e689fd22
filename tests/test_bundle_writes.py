"""run.json written at the points that matter: changes held for a run's fit, the data
(and a torch fit's preprocessing) recorded before it, nothing lost when the run fails;
git provenance in one status."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ednax
from ednax.engine import sklearn as sklearn_engine
from ednax.engine.predict import estimator_outputs
from ednax.runs import atomic
from ednax.runs.bundle import Bundle
from ednax.runs.provenance import git_state
from tests.conftest import git, make_repo

from .conftest import SAMPLES


def started(tmp_path: Path) -> Bundle:
    bundle = Bundle.create(tmp_path / "runs", "iris")
    bundle.start(
        config={"experiment": {"name": "iris"}},
        overrides=[],
        command=["ednax", "run", "iris.yaml"],
        experiment="iris",
        seed=0,
        fingerprints={"config": "abc"},
        classes={},
        packages=[],
        cwd=tmp_path,
    )
    return bundle


def on_disk(bundle: Bundle) -> dict:
    return json.loads((bundle.path / "run.json").read_text())


def test_held_changes_are_read_back_at_once_and_written_when_the_block_ends(tmp_path):
    bundle = started(tmp_path)
    with bundle.held():
        bundle.update(task="classification")
        bundle.write_artifact_text("predictions.csv", "target,prediction\n0,0\n")
        assert bundle.read_run()["task"] == "classification"
        assert "predictions.csv" in bundle.read_run()["artifacts"]
        assert "task" not in on_disk(bundle)
    record = on_disk(bundle)
    assert record["task"] == "classification"
    assert set(record["artifacts"]) == {"predictions.csv"}


def test_write_held_records_what_is_held_and_goes_on_holding(tmp_path):
    bundle = started(tmp_path)
    with bundle.held():
        bundle.update(task="classification")
        bundle.write_held()
        assert on_disk(bundle)["task"] == "classification"
        bundle.update(seed=7)
        assert on_disk(bundle)["seed"] == 0
    assert on_disk(bundle)["seed"] == 7


def test_a_block_left_by_an_exception_still_writes_its_changes(tmp_path):
    bundle = started(tmp_path)
    with pytest.raises(KeyboardInterrupt), bundle.held():
        bundle.update(task="classification")
        raise KeyboardInterrupt
    assert on_disk(bundle)["task"] == "classification"


def test_changes_a_full_disk_kept_from_run_json_go_out_with_the_next_update(tmp_path, monkeypatch):
    bundle = started(tmp_path)
    real_write = atomic.write_json

    def full_disk(path, obj):
        raise OSError(28, "No space left on device")

    with pytest.raises(RuntimeError), bundle.held():
        bundle.update(task="classification")
        monkeypatch.setattr(atomic, "write_json", full_disk)
        raise RuntimeError("the fit failed")
    monkeypatch.setattr(atomic, "write_json", real_write)
    bundle.finish("failed", error="the fit failed")
    record = on_disk(bundle)
    assert (record["task"], record["status"]) == ("classification", "failed")


def test_an_estimator_run_records_its_data_before_the_fit_and_everything_at_the_end(
    workdir, monkeypatch
):
    seen = {}
    fit = sklearn_engine.fit_estimator

    def looking(experiment, dataset, prefix=""):
        seen.update(on_disk(experiment.bundle))  # what another process reads meanwhile
        return fit(experiment, dataset, prefix)

    monkeypatch.setattr(sklearn_engine, "fit_estimator", looking)
    result = ednax.run(SAMPLES / "iris-sklearn.yaml", ["model.n_estimators=5"], say=None)

    assert seen["status"] == "running"
    assert seen["task"] == "classification" and seen["fingerprints"]["data"]
    assert set(seen["artifacts"]) == {"data_schema.json"}
    record = on_disk(result.bundle)
    assert record["status"] == "completed"
    names = {"data_schema.json", "preprocess.pkl", "model.pkl", "predictions.csv"}
    assert set(record["artifacts"]) == names


def test_a_torch_run_records_its_preprocessing_before_training_and_the_rest_at_the_end(
    workdir, monkeypatch
):
    from ednax.engine import torch as torch_engine

    seen = {}
    fit = torch_engine.fit_torch_model

    def looking(experiment, dataset, **kwargs):
        seen.update(on_disk(experiment.bundle))  # what a resume after a kill starts from
        return fit(experiment, dataset, **kwargs)

    monkeypatch.setattr(torch_engine, "fit_torch_model", looking)
    result = ednax.run(SAMPLES / "iris-mlp.yaml", ["trainer.max_epochs=2"], say=None)

    assert seen["status"] == "running" and seen["fingerprints"]["data"]
    assert set(seen["artifacts"]) == {"data_schema.json", "preprocess.pkl"}
    record = on_disk(result.bundle)
    assert record["status"] == "completed" and record["training"]
    assert {"best.ckpt", "last.ckpt", "predictions.csv"} <= set(record["artifacts"])


def test_a_forest_predicts_the_class_of_its_highest_probability_as_its_predict_does():
    from sklearn.datasets import load_iris
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    for model in (
        RandomForestClassifier(n_estimators=7, random_state=0),
        ExtraTreesClassifier(n_estimators=7, random_state=0),
        LogisticRegression(max_iter=500),
    ):
        model.fit(X, labels)
        predicted, proba = estimator_outputs(model, X)
        assert (predicted == model.predict(X)).all()
        assert np.array_equal(proba, model.predict_proba(X))


# --- git provenance --------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path, isolated_git) -> Path:
    """A repository of one commit, out of reach of the user's git config."""
    return make_repo(tmp_path / "repo")


def test_a_detached_head_has_its_commit_and_no_branch(repo):
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    state = git_state(repo)
    assert state is not None
    assert (state["commit"], state["branch"], state["dirty"]) == (commit, None, False)


def test_a_staged_change_makes_the_tree_dirty(repo):
    (repo / "train.py").write_text("lr = 0.2\n")
    git(repo, "add", "train.py")
    state = git_state(repo)
    assert state is not None and state["dirty"] is True and state["branch"] == "main"
