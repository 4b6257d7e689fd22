"""The built-in train loop's epoch in one Lightning step: when it applies, and that it
trains exactly as Lightning's per-batch loop does (history, metrics, optimizer steps,
schedules, accumulation, clipping, SIGTERM, resuming from either loop's checkpoint)."""

from __future__ import annotations

import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from ednax.engine.lightning.epochs import OneStepEpochs, one_step_epochs
from ednax.engine.lightning.fit import TrainingInterrupted
from ednax.engine.lightning.loader import TensorBatches
from ednax.engine.lightning.module import EdnaxModule
from ednax.engine.lightning.trainer import quiet_lightning
from tests.torch_helpers import fit as _fit
from tests.torch_helpers import sections as _sections

# 90 iris train rows in batches of 16: 6 batches an epoch; the last window of 4 is cut
# short by the epoch's end, and clipping and a per-step schedule act on every step.
STEPPING = {"accumulate_grad_batches": 4, "gradient_clip_val": 0.1}


class Batches(pl.Callback):
    """Sees the number of batches Lightning's loop gives each epoch."""

    def __init__(self) -> None:
        self.per_epoch: list[int] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.per_epoch.append(trainer.num_training_batches)


class WatchesBatches(Batches):
    """The same, and acts on each batch: Lightning's per-batch loop must run."""

    def on_train_batch_end(self, *args: object) -> None:
        pass


def stepped_sections(max_epochs: int) -> dict[str, dict]:
    sections = _sections(max_epochs=max_epochs, **STEPPING)
    sections["optimizer"] = {"type": "sgd", "lr": 0.05}
    sections["scheduler"] = {"type": "onecycle", "max_lr": 0.05}
    return sections


def checkpoint_steps(tmp_path) -> int:
    last = tmp_path / "artifacts" / "last.ckpt"
    return torch.load(last, map_location="cpu", weights_only=True)["global_step"]


def test_an_epoch_in_one_step_trains_as_lightnings_per_batch_loop(tmp_path):
    sections = stepped_sections(max_epochs=3)
    sections["save"]["checkpoints"] = "last"
    one_step, per_batch = Batches(), WatchesBatches()
    whole = _fit(tmp_path / "whole", sections, callbacks=[one_step])
    batched = _fit(tmp_path / "batched", sections, callbacks=[per_batch])
    assert one_step.per_epoch == [1, 1, 1]
    assert per_batch.per_epoch == [6, 6, 6]
    assert whole.history == batched.history
    assert whole.metrics == batched.metrics
    # Lightning's optimizer still counts the steps: 2 an epoch (windows of 4 and 2 batches).
    assert checkpoint_steps(tmp_path / "whole") == checkpoint_steps(tmp_path / "batched") == 6


@pytest.mark.parametrize(
    "cut_by,resumed_by",
    [(Batches, WatchesBatches), (WatchesBatches, Batches)],
    ids=["cut-in-one-step", "cut-per-batch"],
)
def test_a_run_resumes_from_either_loops_checkpoint(tmp_path, cut_by, resumed_by):
    sections = stepped_sections(max_epochs=4)
    whole = _fit(tmp_path / "whole", sections)

    def stop_after_two(row: dict) -> None:
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        _fit(tmp_path / "cut", sections, callbacks=[cut_by()], on_epoch_end=stop_after_two)
    last = tmp_path / "cut" / "artifacts" / "last.ckpt"
    resumed = _fit(tmp_path / "cut", sections, callbacks=[resumed_by()], resume_from=last)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert resumed.history == whole.history
    assert resumed.metrics == whole.metrics


class SigtermAtStep(pl.Callback):
    """Sends this process a SIGTERM just before its `step`-th optimizer step."""

    def __init__(self, step: int):
        self.step, self.steps = step, 0

    def on_before_optimizer_step(self, *args: object) -> None:
        self.steps += 1
        if self.steps == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


class SigtermAtStepWatchingBatches(SigtermAtStep):
    def on_train_batch_end(self, *args: object) -> None:
        pass


@pytest.fixture
def default_sigterm():
    """Lightning catches SIGTERM during the fit on top of the handler it finds: leave it
    none but the default, and put back whatever the test runner had."""
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("callback", [SigtermAtStep, SigtermAtStepWatchingBatches])
def test_sigterm_stops_training_after_the_batch_it_came_in(tmp_path, default_sigterm, callback):
    stopper = callback(step=3)
    with pytest.raises(TrainingInterrupted, match="SIGTERM"):
        _fit(tmp_path, _sections(max_epochs=3), callbacks=[stopper])
    assert stopper.steps == 3
    assert not (tmp_path / "artifacts" / "last.ckpt").exists()  # the first epoch never ended


# When the epoch runs in one step ----------------------------------------------------------


class OverridesTrainingStep(EdnaxModule):
    def training_step(self, batch, batch_idx):
        return super().training_step(batch, batch_idx)


class OverridesBatchHook(EdnaxModule):
    def on_train_batch_start(self, batch, batch_idx):
        return None


class AfterBackward(pl.Callback):
    def on_after_backward(self, trainer, pl_module):
        pass


def _module(cls: type[EdnaxModule] = EdnaxModule) -> EdnaxModule:
    model = nn.Linear(4, 3)
    return cls(
        model=model,
        loss=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        schedule=None,
        metrics={},
        task="classification",
    )


def _trainer(**options) -> pl.Trainer:
    defaults = {
        "accelerator": "cpu",
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
    }
    with quiet_lightning():
        return pl.Trainer(**{**defaults, **options})


def _batches() -> TensorBatches:
    return TensorBatches(torch.zeros(10, 4), torch.zeros(10, dtype=torch.long), batch_size=4)


class BeforeStep(pl.Callback):
    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        pass


def test_a_plain_fit_runs_each_epoch_in_one_step_with_a_plain_backward_and_step():
    train = _batches()
    wrapped = one_step_epochs(train, _trainer(), _module())
    assert isinstance(wrapped, OneStepEpochs)
    assert wrapped.batches is train and wrapped.plain_backward and wrapped.plain_step


@pytest.mark.parametrize(
    "trainer,module,train",
    [
        ({"callbacks": [WatchesBatches()]}, EdnaxModule, "tensors"),
        ({"enable_progress_bar": True}, EdnaxModule, "tensors"),  # Lightning's bar
        ({"logger": pl.loggers.CSVLogger("unused")}, EdnaxModule, "tensors"),
        ({}, OverridesTrainingStep, "tensors"),  # Lightning steps the optimizer
        ({}, OverridesBatchHook, "tensors"),
        ({}, EdnaxModule, "dataloader"),
    ],
    ids=["batch-callback", "progress-bar", "logger", "automatic", "module-hook", "dataloader"],
)
def test_whatever_watches_single_batches_keeps_lightnings_loop(trainer, module, train):
    batches = _batches()
    if train == "dataloader":
        batches = torch.utils.data.DataLoader(list(zip(*batches.tensors, strict=True)))
    assert one_step_epochs(batches, _trainer(**trainer), _module(module)) is batches


@pytest.mark.parametrize(
    "trainer,plain",
    [
        ({"callbacks": [AfterBackward()]}, {"backward": False, "step": True}),
        ({"callbacks": [BeforeStep()]}, {"backward": True, "step": False}),
        ({"precision": "bf16-mixed"}, {"backward": False, "step": False}),
    ],
    ids=["backward-hook", "step-hook", "mixed-precision"],
)
def test_a_hook_or_scaling_around_the_backward_or_step_keeps_lightnings_own(trainer, plain):
    wrapped = one_step_epochs(_batches(), _trainer(**trainer), _module())
    assert isinstance(wrapped, OneStepEpochs)
    assert {"backward": wrapped.plain_backward, "step": wrapped.plain_step} == plain
