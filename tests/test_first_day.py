"""A researcher's first day: defaults that do not surprise, and messages that say enough.

An SVM computes probabilities only when asked or when a metric needs them; a monitor
chosen on the training rows for want of a validation split is said; a version's monitor
comes from its completed runs; a parameter written in the wrong section names the right
one; a monitor or sweep objective whose metric is not computed says to add it; a YAML
indentation error points at its line; the runs tables show enough digits to tell runs
apart, or `--digits`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from ednax.config.resolve import load_config
from ednax.errors import ConfigError
from ednax.runs import bundle as bundle_module
from ednax.runs.bundle import Bundle
from tests.conftest import SAMPLES, run_cli, write

IRIS = SAMPLES / "iris-sklearn.yaml"
IRIS_MLP = SAMPLES / "iris-mlp.yaml"
IRIS_OPTUNA = SAMPLES / "iris-mlp-optuna.yaml"


def problems_of(path: Path, overrides: list[str] | None = None):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or [])
    return info.value.problems


# --- item 6: defaults -----------------------------------------------------------------------


def test_an_svm_is_a_plain_svc_unless_probabilities_are_asked_for_or_needed():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from ednax.engine.sklearn import _build_estimator, _check_probabilities
    from ednax.steps.estimators import SVM

    assert type(_build_estimator(SVM(), "classification", [])) is SVC
    needed = _build_estimator(SVM(), "classification", ["roc_auc"])
    assert isinstance(needed, CalibratedClassifierCV), "roc_auc needs probabilities"
    asked = _build_estimator(SVM(probability=True), "classification", [])
    assert isinstance(asked, CalibratedClassifierCV)
    refused = _build_estimator(SVM(probability=False), "classification", ["roc_auc"])
    with pytest.raises(ConfigError, match="roc_auc"):
        _check_probabilities(refused, ["roc_auc"], "svm")
    assert SVM().get_params()["probability"] is None, "the config records the default"


def test_an_svm_run_says_which_estimator_it_built_and_why(tmp_path):
    import ednax

    lines: list[str] = []
    runs = f"experiment.runs_dir={tmp_path / 'runs'}"
    plain = ednax.run(IRIS, ["model=svm", runs], say=lines.append)
    assert plain.status == "completed"
    assert "model: svm -> SVC" in lines
    lines.clear()
    scored = ednax.run(
        IRIS, ["model=svm", "metrics.names=[accuracy,roc_auc]", runs], say=lines.append
    )
    assert "model: svm -> CalibratedClassifierCV (probabilities for roc_auc)" in lines
    assert scored.metrics["test"]["roc_auc"] > 0.5


def test_a_monitor_on_the_training_rows_for_want_of_a_val_split_is_said(tmp_path):
    chosen = load_config(IRIS, ["data.val=0", "metrics.monitor=null"])
    assert chosen["metrics"]["monitor"] == "train/accuracy"
    assert len(chosen.notes) == 1
    assert "train/accuracy" in chosen.notes[0] and "no validation split" in chosen.notes[0]
    meant = load_config(IRIS, ["data.val=0", "metrics.monitor=train/accuracy"])
    assert meant.notes == [], "a train/ monitor written out is what the user meant"
    unlogged = load_config(IRIS, ["data.val=0"])  # the sample monitors val/accuracy
    assert "no val/accuracy to be ranked by" in unlogged.notes[0]
    assert load_config(IRIS).notes == []
    result = run_cli("validate", IRIS, "data.val=0", "metrics.monitor=null", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "note: metrics.monitor is train/accuracy" in result.out


@pytest.fixture
def versions(tmp_path, monkeypatch) -> Path:
    """One version of an experiment: two completed runs monitoring val/rmse, then a
    newer run that monitored val/r2 and failed."""
    clock = itertools.count(1_764_000_000, 5)
    monkeypatch.setattr(bundle_module, "_now", lambda: float(next(clock)))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", "/")
    runs = tmp_path / "runs"
    for rmse, monitor, mode, status in [
        (3.0, "val/rmse", "min", "completed"),
        (1.0, "val/rmse", "min", "completed"),
        (None, "val/r2", "max", "failed"),
    ]:
        bundle = Bundle.create(runs, "diabetes")
        bundle.start(
            config={
                "experiment": {"name": "diabetes", "seed": 0},
                "model": {"type": "ridge"},
                "metrics": {"names": ["rmse", "r2"], "monitor": monitor, "mode": mode},
            },
            overrides=[],
            command=["ednax", "run"],
            experiment="diabetes",
            seed=0,
            fingerprints={"config": "x", "structure": "ridge"},
            classes={},
            packages=[],
            cwd=tmp_path,
            extra={"monitor": {"name": monitor, "mode": mode}},
        )
        metrics = {"val": {"rmse": rmse, "r2": 1 / rmse}} if rmse else {"val": {"r2": 0.99}}
        bundle.finish(status, metrics=metrics)
    return tmp_path


def test_a_versions_monitor_and_best_come_from_its_completed_runs(versions):
    from ednax.runs.index import list_runs
    from ednax.runs.versions import group_versions

    [group] = group_versions(list_runs(versions / "runs"))
    assert group["runs"] == 3 and group["completed"] == 2
    assert group["monitor"] == "val/rmse"
    assert group["best"] == 1.0
    table = run_cli("runs", "--by-version", cwd=versions)
    assert table.code == 0, table.text
    assert "val/rmse 1.0000" in table.out


# --- item 9: messages -----------------------------------------------------------------------


def test_a_parameter_of_another_section_names_that_section(tmp_path):
    [lr, monitor] = problems_of(IRIS_MLP, ["+trainer.lr=0.01", "+trainer.monitor=val/loss"])
    assert lr.path == "trainer.lr"
    assert "did you mean 'optimizer.lr'?" in lr.hint
    assert monitor.path == "trainer.monitor"
    assert "did you mean 'metrics.monitor'?" in monitor.hint
    [typo] = problems_of(IRIS_MLP, ["+trainer.max_epoch=3"])
    assert typo.hint.endswith("); did you mean 'max_epochs'?")
    [both] = problems_of(IRIS_MLP, ["+model.batch_size=16"])
    assert "'batch_size' belongs to another section: did you mean" in both.hint
    assert "'trainer.batch_size'" in both.hint and "'batch_norm'" in both.hint


def test_a_monitor_whose_metric_is_not_computed_says_to_add_it():
    [problem] = problems_of(IRIS, ["metrics.monitor=val/roc_auc"])
    assert problem.path == "metrics.monitor"
    assert "add it to metrics.names" in problem.hint
    assert "[accuracy, f1_macro, roc_auc]" in problem.hint
    [typo] = problems_of(IRIS, ["metrics.monitor=val/acuracy"])
    assert "did you mean 'val/accuracy'" in typo.hint


def test_sweep_objective_errors_name_their_key_and_how_to_fix_them(tmp_path):
    unlisted = run_cli(
        "run", IRIS_OPTUNA, "-m", "--dry-run", "hydra.sweeper.objective=val/roc_auc", cwd=tmp_path
    )
    assert unlisted.code == 2, unlisted.text
    assert "hydra.sweeper.objective:" in unlisted.err
    assert "add it to metrics.names" in unlisted.err
    listed = run_cli(
        "run",
        IRIS_OPTUNA,
        "-m",
        "--dry-run",
        "hydra.sweeper.objective=[val/accuracy,val/los]",
        cwd=tmp_path,
    )
    assert listed.code == 2, listed.text
    assert "hydra.sweeper.objective[1]:" in listed.err
    assert "set on the command line by 'hydra.sweeper.objective=[val/accuracy,val/los]'" in (
        listed.err
    )
    assert "did you mean 'val/loss'" in listed.err
    basic = run_cli(
        "run",
        IRIS,
        "-m",
        "--dry-run",
        "model.n_estimators=5,10",
        "hydra.sweeper.objective=val/accuracy",
        cwd=tmp_path,
    )
    assert basic.code == 2, basic.text
    assert "hydra/sweeper=ednax_optuna" in basic.err


@pytest.mark.parametrize(
    ("text", "bad_line"),
    [
        ("data: {type: sklearn_toy, dataset: iris}\nmodel:\n  type: svm\n C: 2.0\n", 4),
        (
            "data: {type: sklearn_toy, dataset: iris}\nmodel: {type: svm}\n"
            "preprocess:\n  - standard_scaler\n - minmax_scaler\n",
            5,
        ),
    ],
)
def test_a_yaml_indentation_error_points_at_the_offending_line(tmp_path, text, bad_line):
    path = write(tmp_path / "bad.yaml", "experiment: {name: bad}\n" + text)
    [problem] = problems_of(path)
    assert problem.line == bad_line + 1
    assert "indentation" in problem.message


# --- item 9: digits -------------------------------------------------------------------------


def test_metric_columns_have_enough_digits_to_tell_runs_apart():
    from ednax.runs.format import format_metric, metric_digits

    assert metric_digits([0.97333, 0.97334, 0.5]) == 5
    assert metric_digits([0.9733, 0.5, None]) == 4
    assert metric_digits([0.9665831244778613, 0.9665831244778614]) == 4, "float noise"
    assert metric_digits([0.97333, 0.97334], digits=2) == 2
    assert format_metric(0.97333, 5) == "0.97333"


@pytest.fixture
def close_runs(tmp_path, monkeypatch) -> Path:
    clock = itertools.count(1_764_000_000, 5)
    monkeypatch.setattr(bundle_module, "_now", lambda: float(next(clock)))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", "/")
    for i, accuracy in enumerate([0.973331, 0.973342]):
        bundle = Bundle.create(tmp_path / "runs", "iris")
        bundle.start(
            config={
                "experiment": {"name": "iris", "seed": 0},
                "model": {"type": "svm", "C": float(i + 1)},
                "metrics": {"names": ["accuracy"], "monitor": "val/accuracy", "mode": "max"},
            },
            overrides=[],
            command=["ednax", "run"],
            experiment="iris",
            seed=0,
            fingerprints={"config": str(i), "structure": "svm"},
            classes={},
            packages=[],
            cwd=tmp_path,
            extra={"monitor": {"name": "val/accuracy", "mode": "max"}},
        )
        bundle.finish("completed", metrics={"val": {"accuracy": accuracy}})
    return tmp_path


def test_runs_and_compare_print_enough_digits_or_as_many_as_asked(close_runs):
    listing = run_cli("runs", cwd=close_runs)
    assert listing.code == 0, listing.text
    assert "0.97333" in listing.out and "0.97334" in listing.out
    fixed = run_cli("runs", "--digits", "2", cwd=close_runs)
    assert fixed.code == 0, fixed.text
    assert "0.97\n" in fixed.out and "0.9733" not in fixed.out
    compared = run_cli("compare", "-e", "iris", cwd=close_runs)
    assert compared.code == 0, compared.text
    assert "0.97333" in compared.out and "0.97334" in compared.out
    data = json.loads(run_cli("compare", "-e", "iris", "-f", "json", cwd=close_runs).out)
    assert [r["metrics"]["val/accuracy"] for r in data["runs"]] == [0.973342, 0.973331]
    wide = run_cli("compare", "-e", "iris", "-f", "md", "--digits", "6", cwd=close_runs)
    assert "0.973342" in wide.out
