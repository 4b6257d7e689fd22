"""The `callbacks:` section of a torch config: Lightning callbacks by registered name.

A built-in (`time_limit`) and a user's own callback, registered with `@register` in a file
named in `imports:`, run through the real CLI; bad callback sections are reported on their
key like any other step.
"""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import SAMPLES, bundle_files, edited, write

IRIS_MLP = (SAMPLES / "iris-mlp.yaml").read_text()
TRAINER = "trainer: {type: lightning, max_epochs: 40, batch_size: 16}"

WEIGHT_NORM_PLUGIN = '''
import pytorch_lightning as pl
import torch

from ednax.registry import register


@register("callback", "weight_norm")
class WeightNorm(pl.Callback):
    """Record the norm of the model's weights in each epoch's history row.

    Parameters
    ----------
    scale : float
        Factor applied to the norm.
    """

    def __init__(self, *, scale: float = 1.0):
        self.scale = scale

    def on_train_epoch_end(self, trainer, pl_module):
        norm = torch.sqrt(sum((p.detach() ** 2).sum() for p in pl_module.parameters()))
        pl_module.epoch_scores["weight_norm"] = float(norm) * self.scale
'''


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def bundle_of(workdir) -> dict:
    (run_file,) = bundle_files(workdir / "runs", "*/*/run.json")
    return run_file.parent


def history(bundle) -> list[dict[str, str]]:
    with open(bundle / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_time_limit_ends_a_long_run_early_and_completes_it(cli, workdir):
    result = cli(
        "run",
        SAMPLES / "iris-mlp.yaml",
        "trainer.max_epochs=100000",
        "+callbacks=[{type: time_limit, duration: '00:00:00:01'}]",
    )
    assert result.code == 0, result.text
    bundle = bundle_of(workdir)
    run = json.loads((bundle / "run.json").read_text())
    assert run["status"] == "completed"
    assert 1 <= len(history(bundle)) < 100000
    assert set(json.loads((bundle / "metrics.json").read_text())) == {"train", "val", "test"}
    config = (bundle / "config.yaml").read_text()
    assert "type: time_limit" in config
    assert run["classes"]["callbacks[0]"]["class"] == "ednax.steps.callbacks:TimeLimit"


def test_a_registered_callback_of_ones_own_runs_with_its_parameters(cli, workdir):
    write(workdir / "my_callbacks.py", WEIGHT_NORM_PLUGIN)
    config = edited(
        IRIS_MLP,
        (
            TRAINER,
            "trainer: {type: lightning, max_epochs: 3, batch_size: 16}\n"
            "callbacks: [{type: weight_norm, scale: 2.0}]",
        ),
    )
    write(workdir / "exp.yaml", "imports: [my_callbacks]\n" + config)
    result = cli("run", workdir / "exp.yaml")
    assert result.code == 0, result.text
    rows = history(bundle_of(workdir))
    assert len(rows) == 3
    assert all(float(row["weight_norm"]) > 0 for row in rows)
    listed = cli("registry", "callback", "--config", workdir / "exp.yaml")
    assert "weight_norm" in listed.text and "time_limit" in listed.text


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (
            "callbacks: [{type: time_limt}]",
            ("callbacks[0].type", "unknown callback type 'time_limt'", "did you mean 'time_limit'"),
        ),
        (
            "callbacks: [{type: time_limit, minutes: 5}]",
            ("callbacks[0].minutes", "unknown parameter 'minutes'", "duration"),
        ),
        ("callbacks: time_limit_and_more", ("callbacks[0].type", "unknown callback type")),
        ("callbacks: {type: time_limit}", ("callbacks", "must be a list of steps")),
    ],
)
def test_a_bad_callbacks_section_is_reported_on_its_key(cli, workdir, edit, needles):
    config = edited(IRIS_MLP, (TRAINER, f"{TRAINER}\n{edit}"))
    write(workdir / "bad.yaml", config)
    result = cli("validate", workdir / "bad.yaml")
    assert result.code == 2, result.text
    for needle in needles:
        assert needle in result.text, result.text
    assert "Traceback" not in result.text


def test_callbacks_do_not_apply_to_an_estimator(cli, workdir):
    sklearn = (SAMPLES / "iris-sklearn.yaml").read_text() + "callbacks: [time_limit]\n"
    write(workdir / "bad.yaml", sklearn)
    result = cli("validate", workdir / "bad.yaml")
    assert result.code == 2, result.text
    assert "'callbacks' does not apply to a scikit-learn estimator" in result.text
