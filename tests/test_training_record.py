"""How a torch fit ended is said and recorded: early stopping's epoch and reason, the best
epoch and its monitored value, in the run's output, run.json, `ednax show`, `ednax runs`."""

from __future__ import annotations

import csv

import pytest

from tests.conftest import SAMPLES, bundle_of, read_json

pytestmark = pytest.mark.usefixtures("one_thread")


def test_early_stopping_says_when_and_why_and_records_the_best_epoch(cli, workdir):
    done = cli(
        "run",
        SAMPLES / "iris-mlp.yaml",
        "trainer.max_epochs=60",
        "trainer.early_stopping.patience=2",
    )
    assert done.code == 0, done.text
    bundle = bundle_of(done, workdir)
    training = read_json(bundle / "run.json")["training"]
    assert training["stopped_early"] is True
    stopped = training["stopped_epoch"]
    assert stopped == training["epochs"] < 60
    history = list(csv.DictReader((bundle / "history.csv").open()))
    assert len(history) == stopped
    scores = [float(row["val/accuracy"]) for row in history]
    best = training["best_epoch"]
    assert training["monitor"] == "val/accuracy" and training["best"] == max(scores)
    assert scores[best - 1] == max(scores) and scores.index(max(scores)) == best - 1
    assert stopped - best == 2  # patience: two epochs without improvement
    assert (
        f"stopped early at epoch {stopped}/60: val/accuracy did not improve by more than 0 "
        f"for 2 epochs; best val/accuracy {max(scores):.4g} at epoch {best}"
    ) in done.out
    shown = cli("show", bundle)
    assert "training:" in shown.out and f"stopped early at epoch {stopped}/60" in shown.out
    listed = cli("runs")
    assert f"{stopped}/60 early" in listed.out


def test_a_fit_that_runs_its_epochs_says_so(cli, workdir):
    done = cli("run", SAMPLES / "iris-mlp.yaml", "trainer.max_epochs=3")
    assert done.code == 0, done.text
    training = read_json(bundle_of(done, workdir) / "run.json")["training"]
    assert training["stopped_early"] is False and training["stopped_epoch"] is None
    assert training["epochs"] == training["max_epochs"] == 3
    assert "trained 3 epochs; best val/accuracy" in done.out
    assert "3/3" in cli("runs").out
