"""Bad torch input to the real CLI: exit 2, a message naming the key (and where it was set)
with a hint to fix it, no traceback, and no bundle for a config that cannot run.

Every case starts from a torch sample (iris-mlp, or diabetes-mlp for regression) and
breaks one thing, in the file or on the command line. A config that is wrong whatever the
machine is a validation error: `ednax validate` rejects it and `ednax run` writes nothing.
What only the run can find out (no GPU on this machine, a checkpoint whose shapes do not
fit) leaves a bundle that says failed, with the same message.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Result, bundle_files, edited, line_of, write

IRIS_MLP = (SAMPLES / "iris-mlp.yaml").read_text()
DIABETES_MLP = (SAMPLES / "diabetes-mlp.yaml").read_text()
OPTIMIZER = "optimizer: {type: adam, lr: 1.0e-2}"
TRAINER = "trainer: {type: lightning, max_epochs: 40, batch_size: 16}"
MODEL = "model: {type: mlp, hidden: [64, 64], dropout: 0.1}"


def iris_with(*edits: tuple[str, str]) -> str:
    return edited(IRIS_MLP, *edits)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_reported(result: Result, *needles: str) -> None:
    """Exit 2, every needle in the message, and no traceback."""
    assert result.code == 2, f"exit {result.code}, expected 2:\n{result.text}"
    for needle in needles:
        assert needle in result.text, f"{needle!r} missing from:\n{result.text}"
    assert "Traceback" not in result.text, result.text
    assert "internal error" not in result.text, result.text


def run_records(workdir: Path) -> list[dict]:
    return [read_json(p) for p in bundle_files(workdir / "runs", "*/*/run.json")]


@functools.cache
def has_gpu() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny models: one intra-op thread is faster than two spinning on a shared machine."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@dataclass
class Case:
    text: str
    needles: tuple[str, ...]
    args: tuple[str, ...] = ()
    at: str | None = None  # the message must point at bad.yaml:<line of this fragment>
    runtime: bool = False  # only the run can find it (this machine): validate accepts it


def case(name: str, text: str, *needles: str, args=(), at=None, runtime=False):
    return pytest.param(Case(text, needles, tuple(args), at, runtime), id=name)


def on_command_line(override: str) -> str:
    return f"set on the command line by '{override}'"


CASES = [
    # --- optimizer and scheduler --------------------------------------------------------
    case(
        "negative_lr",
        iris_with((OPTIMIZER, "optimizer: {type: adam, lr: -0.1}")),
        "optimizer.lr",
        "got -0.1",
        "greater than 0",
        at="lr: -0.1",
    ),
    case(
        "unknown_optimizer",
        iris_with((OPTIMIZER, "optimizer: {type: adamm, lr: 1.0e-2}")),
        "optimizer.type",
        "unknown optimizer type 'adamm'",
        "did you mean 'adam' or 'adamw'?",
        at="adamm",
    ),
    case(
        "unknown_optimizer_on_the_command_line",
        IRIS_MLP,
        "optimizer",
        "'adamm'",
        "optimizer=adamm",
        "did you mean 'adam'",
        args=["optimizer=adamm"],
    ),
    case(
        "unknown_scheduler",
        iris_with(("scheduler: {type: cosine}", "scheduler: {type: cosin}")),
        "scheduler.type",
        "unknown scheduler type 'cosin'",
        "did you mean 'cosine'?",
        at="cosin}",
    ),
    case(
        "momentum_is_not_a_parameter_of_adam",
        iris_with((OPTIMIZER, "optimizer: {type: adam, lr: 1.0e-2, momentum: 0.9}")),
        "optimizer.momentum",
        "unknown parameter 'momentum' (optimizer 'adam')",
        "valid parameters: amsgrad, betas, eps, lr, weight_decay",
        at="momentum: 0.9",
    ),
    # --- loss -----------------------------------------------------------------------------
    case(
        "classification_loss_on_regression_data",
        DIABETES_MLP,
        "loss.type",
        "'cross_entropy' is for classification; the data is a regression task",
        "regression losses: bce_with_logits, huber, l1, mse",
        on_command_line("loss=cross_entropy"),
        args=["loss=cross_entropy"],
    ),
    case(
        "label_smoothing_out_of_range",
        IRIS_MLP,
        "loss.label_smoothing",
        "less than or equal to 1; got 1.5",
        on_command_line("loss.label_smoothing=1.5"),
        args=["loss.label_smoothing=1.5"],
    ),
    # --- model ----------------------------------------------------------------------------
    case(
        "hidden_size_that_is_not_an_int",
        iris_with((MODEL, "model: {type: mlp, hidden: [64, sixty], dropout: 0.1}")),
        "model.hidden[1]",
        "'sixty'",
        "expected list[int]",
        at="sixty",
    ),
    case(
        "missing_checkpoint_file",
        IRIS_MLP + "weights: {type: checkpoint, path: missing.ckpt}\n",
        "weights.path",
        "file not found: missing.ckpt",
        "relative paths are taken from the working directory",
        at="missing.ckpt",
    ),
    # --- trainer --------------------------------------------------------------------------
    case(
        "zero_max_epochs",
        IRIS_MLP,
        "trainer.max_epochs",
        "must be >= 1, got 0",
        on_command_line("trainer.max_epochs=0"),
        args=["trainer.max_epochs=0"],
    ),
    case(
        "negative_max_epochs",
        iris_with(("max_epochs: 40", "max_epochs: -3")),
        "trainer.max_epochs",
        "must be >= 1, got -3",
        at="max_epochs: -3",
    ),
    case(
        "early_stopping_key_misspelt",
        iris_with((TRAINER, TRAINER[:-1] + ", early_stopping: {patiance: 2}}")),
        "trainer.early_stopping.patiance",
        "unknown key 'patiance'",
        "did you mean 'patience'?",
        at="patiance",
    ),
    case(
        "early_stopping_monitor_not_logged",
        IRIS_MLP,
        "trainer.early_stopping.monitor",
        "'val/acc': it is not logged by this run",
        "did you mean 'val/accuracy'",
        args=["trainer.early_stopping={monitor: val/acc}"],
    ),
    case(
        "unknown_logger",
        IRIS_MLP,
        "trainer.logger",
        "'wandb'",
        "csv, mlflow, none, tensorboard",
        on_command_line("trainer.logger=wandb"),
        args=["trainer.logger=wandb"],
    ),
    case(
        "unregistered_module",
        IRIS_MLP,
        "trainer.module",
        "'my_loop'",
        on_command_line("trainer.module=my_loop"),
        args=["trainer.module=my_loop"],
    ),
    case(
        "sklearn_trainer_with_a_torch_model",
        IRIS_MLP,
        "trainer.type",
        "trainer 'sklearn' trains sklearn models, but model 'mlp' is a torch model",
        "use trainer 'lightning'",
        on_command_line("trainer=sklearn"),
        args=["trainer=sklearn"],
    ),
    case(
        "gpu_on_a_machine_without_one",
        IRIS_MLP,
        "trainer.accelerator",
        "a GPU was asked for, but torch finds no CUDA or MPS device",
        "use accelerator: auto or cpu",
        on_command_line("trainer.accelerator=gpu"),
        args=["trainer.accelerator=gpu"],
        runtime=True,
    ),
    # --- distributed training -------------------------------------------------------------
    case(
        "ddp_spawn_is_refused_with_the_strategy_to_use",
        IRIS_MLP,
        "trainer.strategy",
        "strategy 'ddp_spawn'",
        "use strategy: ddp",
        on_command_line("trainer.strategy=ddp_spawn"),
        args=["trainer.strategy=ddp_spawn", "trainer.devices=2"],
    ),
    case(
        "misspelt_strategy",
        iris_with((TRAINER, "trainer: {type: lightning, strategy: dpp, devices: 2}")),
        "trainer.strategy",
        "'dpp' is not one of the choices",
        "did you mean 'ddp'",
        at="strategy: dpp",
    ),
    case(
        "fsdp_on_the_cpu",
        IRIS_MLP,
        "trainer.strategy",
        "does not run on the CPU",
        "use strategy: ddp on the CPU",
        args=["trainer.strategy=fsdp", "trainer.accelerator=cpu"],
    ),
    case(
        "no_nodes",
        IRIS_MLP,
        "trainer.num_nodes",
        "must be >= 1, got 0",
        on_command_line("trainer.num_nodes=0"),
        args=["trainer.num_nodes=0"],
    ),
    # --- metrics ----------------------------------------------------------------------------
    case(
        "monitor_not_logged",
        IRIS_MLP,
        "metrics.monitor",
        "cannot monitor 'val/acc'",
        "did you mean 'val/accuracy'",
        on_command_line("metrics.monitor=val/acc"),
        args=["metrics.monitor=val/acc"],
    ),
]
VALIDATION_CASES = [p for p in CASES if not p.values[0].runtime]


@pytest.mark.parametrize("bad", CASES)
def test_bad_torch_input_is_reported_on_its_key(cli, workdir, bad: Case):
    if bad.runtime and "accelerator=gpu" in bad.args and has_gpu():
        pytest.skip("this machine has a GPU")
    config = write(workdir / "bad.yaml", bad.text)
    result = cli("run", config, *bad.args)
    assert_reported(result, *bad.needles)
    if bad.at is not None:
        assert f"bad.yaml:{line_of(bad.text, bad.at)}" in result.text, result.text
    assert not (workdir / "runs").exists(), "a bundle was created for an invalid config"


@pytest.mark.parametrize("bad", VALIDATION_CASES)
def test_validate_rejects_the_config_before_any_bundle(cli, workdir, bad: Case):
    config = write(workdir / "bad.yaml", bad.text)
    result = cli("validate", config, *bad.args)
    assert_reported(result, bad.needles[0])
    assert "is valid" not in result.text
    assert not (workdir / "runs").exists()


def test_weights_that_do_not_fit_name_the_file_and_the_layers(cli, workdir):
    base = cli(
        "run", write(workdir / "base.yaml", IRIS_MLP), "model.hidden=[8]", "trainer.max_epochs=1"
    )
    assert base.code == 0, base.text
    (best,) = bundle_files(workdir / "runs", "iris-mlp/*/artifacts/best.ckpt")

    text = (
        iris_with((MODEL, "model: {type: mlp, hidden: [16], dropout: 0.1}"))
        + f"weights: {{type: checkpoint, path: {best}}}\n"
    )
    result = cli("run", write(workdir / "bad.yaml", text))
    assert_reported(
        result,
        "weights.path",
        f"the weights in {best} do not fit the model",
        "net.0.weight (file [8, 4], model [16, 4])",
        "net.3.weight (file [3, 8], model [3, 16])",
        "set weights.strict: false to load only the layers that fit",
    )
    assert f"bad.yaml:{line_of(text, 'type: checkpoint')}" in result.text, result.text
    records = sorted(run_records(workdir), key=lambda r: r["started_at"])
    assert [r["status"] for r in records] == ["completed", "failed"]
    assert "net.0.weight (file [8, 4], model [16, 4])" in records[1]["error"]
    assert re.search(r"weights\.path", records[1]["error"])
