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
