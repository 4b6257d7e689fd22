"""Reusing a run from its bundle: predict with the training preprocessing, and rerun."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import ednax
from tests.conftest import SAMPLES, bundles_in, write

NEW_ROWS = SAMPLES / "data" / "penguins-new.csv"


def bundle_of(workdir: Path, experiment: str, index: int = 0) -> Path:
    return bundles_in(workdir / "runs" / experiment)[index]


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def csv_run(cli, workdir):
    refusing = "preprocess.1.handle_unknown=error"  # unseen islands are refused
    assert cli("run", SAMPLES / "csv-example.yaml", "model.n_estimators=20", refusing).code == 0
    return bundle_of(workdir, "csv-example")


def test_predict_on_the_test_split_equals_what_training_wrote(cli, csv_run):
    result = cli("predict", csv_run, "data:test")
    assert result.code == 0, result.text
    predicted = rows(result.out)
    written = rows((csv_run / "artifacts" / "predictions.csv").read_text())
    assert [r["id"] for r in predicted] == [r["id"] for r in written]
    assert [r["prediction"] for r in predicted] == [r["prediction"] for r in written]
    assert [r["proba_Gentoo"] for r in predicted] == [r["proba_Gentoo"] for r in written]
    # scored with the run's metrics, to stderr: the predictions on stdout stay a csv
    test = json.loads((csv_run / "metrics.json").read_text())["test"]
    said = f"test ({len(predicted)} rows): accuracy {test['accuracy']:.4f}  f1_macro"
    assert said in result.err and "; as the run recorded" in result.err, result.err


def test_predict_new_csv_writes_ids_classes_and_probabilities(cli, csv_run, workdir):
    out = workdir / "predictions.csv"
    result = cli("predict", "latest", NEW_ROWS, "-o", out)
    assert result.code == 0, result.text
    predicted = rows(out.read_text())
    assert len(predicted) == 10
    assert [r["id"] for r in predicted] == [str(i) for i in range(10)]
    assert {r["prediction"] for r in predicted} <= {"Adelie", "Chinstrap", "Gentoo"}
    for r in predicted:
        total = sum(float(r[f"proba_{c}"]) for c in ("Adelie", "Chinstrap", "Gentoo"))
        assert total == pytest.approx(1.0, abs=1e-4)
    assert "scored" not in result.err  # these rows have no species to score against


def test_predict_scores_a_file_that_has_the_target_column(cli, csv_run, workdir):
    labelled = SAMPLES / "data" / "penguins-mini.csv"
    result = cli("predict", csv_run, labelled)
    assert result.code == 0, result.text
    assert len(rows(result.out)) == 120  # the predictions themselves, as without a target
    said = re.search(r"scored on column 'species' \(120 rows\): accuracy (\S+)", result.err)
    assert said, result.err
    loaded = ednax.load(csv_run)
    frame = pd.read_csv(labelled)
    scores = loaded.scores(loaded.predictions(frame))
    assert f"{scores['accuracy']:.4f}" == said.group(1)
    frame.loc[0, "species"] = "Emperor"  # a species the run never saw: not scored
    assert loaded.scores(loaded.predictions(frame)) == {}


def test_predict_refuses_inputs_that_do_not_match_training(cli, csv_run, workdir):
    header = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,colour\n"
    bad = write(workdir / "bad.csv", header + "Atlantis,40,deep,200,4000,red\n")
    result = cli("predict", csv_run, bad)
    assert result.code == 2, result.text
    assert "column 'colour' was not in the training data" in result.err
    assert "column 'island' has categories not seen in training: ['Atlantis']" in result.err
    # counted as the data step counts a training file's rows: from 1 after the header
    assert "column 'bill_depth_mm' must be numeric; data row 1 holds 'deep'" in result.err
    assert "Traceback" not in result.text

    missing = write(workdir / "missing.csv", "Island,bill_length_mm\nDream,40\n")
    result = cli("predict", csv_run, missing)
    assert result.code == 2
    assert "column 'body_mass_g' is missing" in result.err
    assert "column 'island' is missing (the model was trained on it); is it 'Island'?" in (
        result.err
    )


def test_scores_leave_out_a_metric_the_rows_cannot_give(cli, workdir):
    from sklearn.datasets import load_iris

    assert cli("run", SAMPLES / "iris-sklearn.yaml", "metrics.names=[accuracy,roc_auc]").code == 0
    loaded = ednax.load(bundle_of(workdir, "iris-sklearn"))
    rows_of_one_class = load_iris(as_frame=True).data.head(10).assign(target="setosa")
    assert set(loaded.scores(loaded.predictions(rows_of_one_class))) == {"accuracy"}


def test_predict_with_an_id_column(cli, csv_run, workdir):
    text = NEW_ROWS.read_text().splitlines()
    with_ids = [text[0] + ",penguin"] + [f"{line},p{i}" for i, line in enumerate(text[1:])]
    source = write(workdir / "ids.csv", "\n".join(with_ids) + "\n")
    result = cli("predict", csv_run, source, "--id-column", "penguin")
    assert result.code == 0, result.text
    assert [r["id"] for r in rows(result.out)][:2] == ["p0", "p1"]


def test_predict_refuses_a_tampered_artifact(cli, csv_run):
    model = csv_run / "artifacts" / "model.pkl"
    model.write_bytes(model.read_bytes() + b"\0")
    result = cli("predict", csv_run, NEW_ROWS)
    assert result.code == 2
    assert "was changed after the run" in result.err


BROKEN_FIT = """\
from sklearn.dummy import DummyClassifier

from ednax.registry import register
from ednax.steps.base import Step


class Broken(DummyClassifier):
    def fit(self, X, y):
        raise RuntimeError("the fit broke")


@register("model", "broken_fit")
class BrokenFit(Step):
    \"\"\"A classifier whose fit raises.\"\"\"

    def build(self, task):
        return Broken()
"""


def test_predict_names_the_split_and_the_run_it_cannot_use(cli, csv_run, workdir):
    misspelt = cli("predict", csv_run, "data:tst")
    assert misspelt.code == 2
    assert "the run's data has no split 'tst'; did you mean 'test'?" in misspelt.err
    unknown = cli("predict", "csv-exampl/latest", "data:test")
    assert unknown.code == 2 and "did you mean 'csv-example/latest'?" in unknown.err

    write(workdir / "broken_fit.py", BROKEN_FIT)
    config = write(
        workdir / "broken.yaml",
        "experiment: {name: broken}\nimports: [broken_fit]\n"
        "data: {type: sklearn_toy, dataset: iris}\nmodel: {type: broken_fit}\n",
    )
    assert cli("run", config).code == 1
    failed = cli("predict", "broken/latest", "data:test")
    assert failed.code == 2, failed.text
    assert "failed (RuntimeError: the fit broke): it left no model.pkl" in failed.err
    assert "Traceback" not in failed.text


def test_predict_with_a_torch_run_uses_the_best_checkpoint(cli, workdir):
    assert cli("run", SAMPLES / "iris-mlp.yaml", "trainer.max_epochs=4").code == 0
    run = bundle_of(workdir, "iris-mlp")
    result = cli("predict", run, "data:test")
    assert result.code == 0, result.text
    written = rows((run / "artifacts" / "predictions.csv").read_text())
    predicted = rows(result.out)
    assert [r["prediction"] for r in predicted] == [r["prediction"] for r in written]
    assert [r["proba_setosa"] for r in predicted] == [r["proba_setosa"] for r in written]
    assert "; as the run recorded" in result.err, result.err


@pytest.mark.parametrize(
    ("sample", "overrides"),
    [("iris-sklearn.yaml", ["model.n_estimators=15"]), ("iris-mlp.yaml", ["trainer.max_epochs=3"])],
)
def test_rerun_reproduces_the_metrics_and_names_its_origin(cli, workdir, sample, overrides):
    assert cli("run", SAMPLES / sample, *overrides).code == 0
    experiment = sample.removesuffix(".yaml")
    first = bundle_of(workdir, experiment)
    result = cli("rerun", first)
    assert result.code == 0, result.text
    second = bundle_of(workdir, experiment, 1)
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
    assert f"metrics: the same as run {first.name}'s" in result.out  # said, not only true
    record = json.loads((second / "run.json").read_text())
    assert record["rerun_of"] == first.name


def test_rerun_with_overrides_changes_only_what_was_asked(cli, csv_run, workdir):
    result = cli("rerun", csv_run, "model.max_depth=2")
    assert result.code == 0, result.text
    second = bundle_of(workdir, "csv-example", 1)
    text = (second / "config.yaml").read_text()
    assert "max_depth: 2" in text
    assert "n_estimators: 20" in text


def test_rerun_says_which_metrics_moved(cli, csv_run):
    # one tree of one split cannot tell three species apart
    result = cli("rerun", csv_run, "model.n_estimators=1", "model.max_depth=1")
    assert result.code == 0, result.text
    assert f"metrics differ from run {csv_run.name}'s: " in result.out
    assert re.search(r"train/accuracy 1 -> 0\.\d+", result.out), result.out
