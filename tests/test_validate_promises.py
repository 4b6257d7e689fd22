"""What `ednax validate` promises: a config it passes is one `run` accepts. Each of these
used to pass validate and be rejected by the run, leaving a failed bundle."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import SAMPLES, bundles_in, edited, run_cli, write

MLP = SAMPLES / "iris-mlp.yaml"
CASES = {
    "a schedule on an unlogged value": (
        MLP,
        ["scheduler=plateau", "scheduler.monitor=val/f1_micro"],
        "scheduler.monitor: cannot schedule on 'val/f1_micro': it is not logged by this run",
    ),
    "a torch run monitoring test": (
        MLP,
        ["metrics.monitor=test/accuracy"],
        "metrics.monitor: a torch run cannot monitor 'test/accuracy'",
    ),
    "early stopping on val without a val split": (
        MLP,
        ["data.val=0", "trainer.early_stopping.patience=2"],
        "cannot stop early on 'val/accuracy': it needs a val split, and the data has none",
    ),
    "a preprocess column that is not in the table": (
        SAMPLES / "csv-example.yaml",
        ["preprocess.1.columns=[islnd]"],
        "preprocess[1].columns: no column 'islnd' at this step",
    ),
    "a value scikit-learn refuses": (
        SAMPLES / "iris-sklearn.yaml",
        ["model.max_depth=-1"],
        "model.max_depth: The 'max_depth' parameter of RandomForestClassifier must be an int "
        "in the range [1, inf)",
    ),
    "a metric needing probabilities the model does not give": (
        SAMPLES / "iris-sklearn.yaml",
        ["model=svm", "model.probability=false", "metrics.names=[accuracy,roc_auc]"],
        "metrics.names: metric(s) roc_auc need class probabilities, which model 'svm' does "
        "not give",
    ),
    "a logger whose package is missing": (
        MLP,
        ["trainer.logger=tensorboard"],
        "trainer.logger.type: logger 'tensorboard' needs the tensorboard package",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: c.replace(" ", "_"))
def test_validate_and_run_refuse_it_before_any_bundle(workdir, case):
    config, overrides, expected = CASES[case]
    if "tensorboard" in case and importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    for command in ("validate", "run"):
        result = run_cli(command, config, *overrides, cwd=workdir)
        assert result.code == 2, (command, result.text)
        assert expected in result.err, (command, result.err)
        assert "Traceback" not in result.text
    assert not (workdir / "runs").exists(), "no bundle"


def test_validate_checks_a_sweeps_search_space_and_reports_every_misspelt_key(workdir):
    text = edited(
        (SAMPLES / "iris-mlp-optuna.yaml").read_text(),
        ("model.dropout: interval", "model.dropot: interval"),
        ("trainer.batch_size: choice", "trainer.batchsize: choice"),
    )
    config = write(workdir / "typo.yaml", text)
    result = run_cli("validate", config, cwd=workdir)
    assert result.code == 2, result.text
    assert "hydra.sweeper.params.model.dropot: unknown parameter 'dropot'" in result.err
    assert "did you mean 'dropout'?" in result.err
    assert "hydra.sweeper.params.trainer.batchsize: unknown parameter 'batchsize'" in result.err
    assert "(2 problems)" in result.err
    good = run_cli("validate", SAMPLES / "iris-mlp-optuna.yaml", cwd=workdir)
    assert good.code == 0, good.text


def test_a_search_space_corner_scikit_learn_refuses_stops_the_search_before_any_trial(workdir):
    # written as a Hydra setting, the entry replaces the config's own max_depth range
    entry = "hydra.sweeper.params.model.max_depth=range(0,3)"

    result = run_cli("run", SAMPLES / "wine-optuna.yaml", "-m", entry, cwd=workdir)

    assert result.code == 2, result.text
    assert "model.max_depth: The 'max_depth' parameter" in result.err
    assert "Got 0 instead" in result.err and "requires --multirun" not in result.err
    assert not (workdir / "runs").exists(), "no sweep folder, no bundle"


def test_validate_m_checks_every_job_of_a_sweep_given_on_the_command_line(workdir):
    grid = run_cli(
        "validate", SAMPLES / "iris-sklearn.yaml", "-m", "model.max_depth=2,-1", cwd=workdir
    )
    assert grid.code == 2, grid.text
    assert "Got -1 instead" in grid.err and "in sweep job 2 of 2" in grid.err

    entry = "hydra.sweeper.params.model.max_depth=range(2,4)"
    search = run_cli("validate", SAMPLES / "wine-optuna.yaml", "-m", entry, cwd=workdir)
    assert search.code == 0, search.text
    assert "model.max_depth: int in [2, 3]" in search.out  # the entry replaced the file's
    assert "is valid as a sweep" in search.out

    without = run_cli("validate", SAMPLES / "iris-sklearn.yaml", "model.max_depth=2,3", cwd=workdir)
    assert without.code == 2 and "add -m" in without.err
    assert not (workdir / "runs").exists()


def test_a_config_error_only_the_fitted_data_shows_leaves_no_bundle(workdir):
    rows = "".join(f"{('red', 'green', 'blue')[i % 3]},{i / 10},{i % 2}\n" for i in range(30))
    write(workdir / "colours.csv", "colour,x,y\n" + rows)
    config = write(
        workdir / "colours.yaml",
        "experiment: {name: colours, seed: 0}\n"
        "data: {type: csv, path: colours.csv, target: y}\n"
        "preprocess: [one_hot, {type: standard_scaler, columns: [colour]}]\n"
        "model: {type: logistic_regression}\n",
    )

    result = run_cli("run", config, cwd=workdir)

    assert result.code == 2, result.text
    assert "preprocess[1].columns: no column 'colour' at this step" in result.err
    assert "colour_blue" in result.err and "Traceback" not in result.text
    assert not bundles_in(workdir / "runs" / "colours"), "a config error leaves no bundle"
