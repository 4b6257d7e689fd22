"""Cross-validation and cached preprocessing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ednax.config.resolve import load_config
from ednax.engine.evaluation import aggregate, folds
from ednax.engine.preprocessing import PreprocessCache, prepare
from tests.conftest import SAMPLES, bundles_in

CV = SAMPLES / "breast-cancer-cv.yaml"


def only_bundle(workdir: Path, experiment: str, index: int = -1) -> Path:
    return bundles_in(workdir / "runs" / experiment)[index]


def log_of(bundle: Path) -> str:
    return (bundle / "log.txt").read_text()


def test_stratified_kfold_reports_every_fold_and_their_mean(cli, workdir):
    result = cli("run", CV)
    assert result.code == 0, result.text
    bundle = only_bundle(workdir, "breast-cancer-cv")
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert sorted(metrics["folds"]) == [f"fold-{k}" for k in range(5)]
    per_fold = [metrics["folds"][f"fold-{k}"]["val"]["roc_auc"] for k in range(5)]
    assert metrics["val"]["roc_auc"] == pytest.approx(np.mean(per_fold))
    assert metrics["std"]["val"]["roc_auc"] == pytest.approx(np.std(per_fold))
    assert metrics["val"]["accuracy"] > 0.9
    for k in range(5):
        assert (bundle / "artifacts" / f"fold-{k}" / "model.pkl").is_file()
        assert (bundle / "artifacts" / f"fold-{k}" / "preprocess.pkl").is_file()


def test_each_fold_fits_preprocessing_on_its_own_train_rows_only():
    config = load_config(CV)
    from ednax.registry import REGISTRY

    dataset = REGISTRY.build("data", config["data"]).load()
    pooled = len(dataset.splits["train"])
    seen_val: list[int] = []
    for name, fold in folds(dataset, config["evaluation"]):
        train, val = fold.splits["train"], fold.splits["val"]
        assert not set(train.ids) & set(val.ids)
        assert len(train) + len(val) == pooled
        seen_val += list(val.ids)
        prepared = prepare(fold, config["preprocess"], PreprocessCache(None), name)
        scaler_mean = prepared.pipeline.named_steps["0_StandardScaler"].transformers_[0][1].mean_
        raw = train.X[:, : len(scaler_mean)].astype(float)
        np.testing.assert_allclose(scaler_mean, raw.mean(axis=0))
    assert sorted(seen_val) == sorted(dataset.splits["train"].ids)  # every row held out once


def test_kfold_with_a_torch_model_keeps_each_folds_epochs(cli, workdir):
    result = cli(
        "run",
        SAMPLES / "iris-mlp.yaml",
        "evaluation.strategy=kfold",
        "evaluation.folds=3",
        "trainer.max_epochs=2",
    )
    assert result.code == 0, result.text
    bundle = only_bundle(workdir, "iris-mlp")
    lines = (bundle / "history.csv").read_text().splitlines()
    assert lines[0].startswith("fold,epoch")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        [f"fold-{k}", str(e)] for k in range(3) for e in (1, 2)
    ]
    assert (bundle / "artifacts" / "fold-2" / "best.ckpt").is_file()


def test_repeated_kfold_runs_folds_times_repeats():
    config = load_config(
        CV, ["evaluation.strategy=repeated_kfold", "evaluation.folds=3", "evaluation.repeats=2"]
    )
    from ednax.registry import REGISTRY

    dataset = REGISTRY.build("data", config["data"]).load()
    assert len(folds(dataset, config["evaluation"])) == 6


def test_aggregate_of_a_holdout_run_is_its_metrics():
    metrics = {"val": {"accuracy": 0.5}}
    assert aggregate({"": metrics}) == metrics


def test_second_run_takes_preprocessing_from_the_cache(cli, workdir):
    assert cli("run", SAMPLES / "iris-sklearn.yaml", "model.n_estimators=5").code == 0
    assert cli("run", SAMPLES / "iris-sklearn.yaml", "model.n_estimators=9").code == 0
    first, second = only_bundle(workdir, "iris-sklearn", 0), only_bundle(workdir, "iris-sklearn")
    assert "standard_scaler (fit on train)" in log_of(first)
    assert "standard_scaler (from the cache)" in log_of(second)
    import pickle

    from sklearn.datasets import load_iris

    X = load_iris().data
    fitted = [
        pickle.loads((b / "artifacts" / "preprocess.pkl").read_bytes()) for b in (first, second)
    ]
    np.testing.assert_array_equal(fitted[0].transform(X), fitted[1].transform(X))


@pytest.mark.parametrize(
    "change",
    [
        "preprocess[0].with_mean=false",
        "preprocess=[minmax_scaler]",
        "data.random_state=5",
        "data.test=0.3",
    ],
)
def test_a_changed_preprocess_or_data_misses_the_cache(cli, workdir, change):
    assert cli("run", SAMPLES / "iris-sklearn.yaml", "model.n_estimators=5").code == 0
    assert cli("run", SAMPLES / "iris-sklearn.yaml", "model.n_estimators=5", change).code == 0
    assert "(fit on train)" in log_of(only_bundle(workdir, "iris-sklearn"))


def test_a_changed_input_file_misses_the_cache(cli, workdir):
    data = workdir / "data"
    data.mkdir()
    shutil.copy(SAMPLES / "data" / "penguins-mini.csv", data / "penguins-mini.csv")
    config = SAMPLES / "csv-example.yaml"
    assert cli("run", config, "model.n_estimators=5").code == 0
    with open(data / "penguins-mini.csv", "a") as handle:
        handle.write("Dream,45.0,17.0,190.0,3700.0,Chinstrap\n")
    assert cli("run", config, "model.n_estimators=5").code == 0
    assert "(fit on train)" in log_of(only_bundle(workdir, "csv-example"))


def test_concurrent_runs_share_one_cache_entry_safely(workdir):
    command = [
        sys.executable,
        "-m",
        "ednax",
        "run",
        str(SAMPLES / "iris-sklearn.yaml"),
        "model.n_estimators=5",
    ]
    procs = [
        subprocess.Popen(
            command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    entries = [p for p in (workdir / "runs" / ".cache" / "preprocess").iterdir()]
    assert len(entries) == 1 and not entries[0].name.startswith(".tmp")
    metrics = {
        (b / "metrics.json").read_text() for b in bundles_in(workdir / "runs" / "iris-sklearn")
    }
    assert len(metrics) == 1


def test_stratified_kfold_on_regression_is_a_config_error(cli):
    result = cli(
        "validate", SAMPLES / "diabetes-regression.yaml", "evaluation.strategy=stratified_kfold"
    )
    assert result.code == 2
    assert "evaluation.strategy" in result.err
    assert "regression" in result.err


def test_no_cache_fits_afresh_and_stores_nothing(cli, workdir):
    cache = workdir / "runs" / ".cache" / "preprocess"
    assert cli("run", SAMPLES / "iris-sklearn.yaml", "model.n_estimators=5", "--no-cache").code == 0
    assert not cache.exists() or not any(cache.iterdir())
    assert cli("run", SAMPLES / "iris-sklearn.yaml", "model.n_estimators=5").code == 0
    result = cli("run", SAMPLES / "iris-sklearn.yaml", "model.n_estimators=5", "--no-cache")
    assert result.code == 0, result.text
    assert "(fit on train)" in log_of(only_bundle(workdir, "iris-sklearn"))
