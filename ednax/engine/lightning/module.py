"""The built-in train loop as a LightningModule: loss, optimizer, schedule, epoch-level metrics.

Each step only runs the model and the loss and keeps the detached outputs on the device;
metrics are computed once per epoch from everything the epoch produced, so training never
waits on a per-step host sync. A custom train loop subclasses `EdnaxModule` (override
`training_step`, `validation_step` or `forward`) and is registered under the kind "module"
so that `trainer.module: <name>` selects it.

The built-in loop steps the optimizer itself (Lightning's manual optimization, with
accumulation and clipping as Lightning's automatic optimization does them), which saves
Lightning's optimizer closure on every step. Where nothing watches single batches, its
`training_step` is handed a whole epoch (`ednax.engine.lightning.epochs`) and runs the
epoch's batches itself, which saves Lightning's per-batch loop too. A subclass that
overrides `training_step` or another hook of automatic optimization keeps Lightning's
automatic optimization, so a loss it returns is still the one minimised.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.core.optimizer import LightningOptimizer
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ednax.engine.lightning import ranks
from ednax.engine.lightning.epochs import WholeEpoch

_EPOCH_SCHEDULE_KEY = "ednax_epoch_schedule"
# Overriding one of these keeps Lightning's automatic optimization (see the module docstring).
_AUTOMATIC_OPTIMIZATION_HOOKS = (
    "training_step",
    "optimizer_step",
    "optimizer_zero_grad",
    "configure_gradient_clipping",
    "on_before_optimizer_step",
)


@dataclass
class Schedule:
    """A built learning-rate scheduler and when to step it."""

    scheduler: Any
    interval: str = "epoch"  # "epoch" or "step" (after each optimizer step)
    monitor: str | None = None  # a metric name such as "val/loss" (plateau schedules)


@dataclass
class Stepping:
    """Gradient accumulation and clipping, for a module that steps its optimizer itself."""

    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str = "norm"


class EdnaxModule(pl.LightningModule):
    """Runs a model, a loss, an optimizer and a schedule; logs loss and metrics per epoch.

    `epoch_scores` holds the current epoch's values ("train/loss", "val/accuracy", "lr", ...)
    as plain floats; the engine's history comes from it, and so do ednax's own callbacks.
    The split metrics are also logged to Lightning (`log_dict`) for whatever reads
    Lightning's logged metrics (`logs_to_lightning`). Per-batch schedules ("step") are
    stepped after each optimizer step; per-epoch schedules are stepped here at the end of
    each training epoch (after validation), so that a checkpoint written at the epoch's end
    already holds the stepped schedule and a resumed run continues with the same learning
    rates. `stepping` holds accumulation and clipping when the module steps the optimizer
    itself (`steps_its_optimizer()`); otherwise Lightning's Trainer does both. `inputs`,
    when set (an image run), preprocesses each batch on the device before the model
    (`ednax.engine.lightning.inputs`); the loss may then see soft targets (mixup), the
    train metrics always the batch's labels.
    """

    inputs: Any = None
    logged = True  # whether the epoch's metrics go to Lightning (decided at each fit's start)

    def __init__(
        self,
        *,
        model: torch.nn.Module,
        loss: Any,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | None,
        metrics: Mapping[str, Any],
        task: str,
    ):
        super().__init__()
        self.model = model
        self.loss_fn = loss
        self.ednax_optimizer = optimizer
        self.schedule = schedule
        self.metrics = dict(metrics)
        self.task = task
        self.epoch_scores: dict[str, float] = {}
        self._outputs = {"train": EpochOutputs(), "val": EpochOutputs()}
        self.stepping = Stepping()
        self._steps_optimizer = self.steps_its_optimizer()
        self.automatic_optimization = not self._steps_optimizer

    @classmethod
    def steps_its_optimizer(cls) -> bool:
        """Whether the class steps its optimizer itself: it overrides no automatic hook."""
        return all(
            getattr(cls, hook) is getattr(EdnaxModule, hook)
            for hook in _AUTOMATIC_OPTIMIZATION_HOOKS
        )

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` around each hook it calls, some 40 times a step;
        # torch's Module.__setattr__ checks parameters, buffers and submodules first, which
        # costs about 0.1 s per 1,500 steps. The name never holds any of those.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x: Any) -> torch.Tensor:
        """Model outputs shaped like the targets: (n, classes) logits, or (n,) for regression.
        A batch's inputs that are a mapping (a text batch: input_ids, attention_mask) are the
        model's keyword arguments; an output with `logits` (a transformers model's) gives
        them."""
        out = self.model(**x) if isinstance(x, Mapping) else self.model(x)
        if not isinstance(out, torch.Tensor) and hasattr(out, "logits"):
            out = out.logits
        if self.task == "regression" and out.ndim == 2 and out.shape[1] == 1:
            out = out.squeeze(1)
        return out

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if isinstance(batch, WholeEpoch):
            self._train_epoch(batch)
            return None
        epoch = _EpochSteps(self.trainer.num_training_batches, self.manual_backward, _step)
        return self._train_batch(batch, batch_idx, epoch)

    def _train_batch(self, batch: Any, batch_idx: int, epoch: _EpochSteps) -> torch.Tensor:
        """One batch's forward and loss, and its optimizer step when the module steps
        the optimizer itself."""
        x, y = batch
        target = y
        if self.inputs is not None:
            x, target = self.inputs.train(x, y)
        out = self(x)
        loss = self.loss_fn(out, target)
        self._outputs["train"].add(out, y, loss)
        if self._steps_optimizer:
            self._optimize(loss, batch_idx, epoch)
        return loss

    def _train_epoch(self, whole: WholeEpoch) -> None:
        """Every batch of an epoch in one Lightning step (`ednax.engine.lightning.epochs`),
        each converted to the trainer's precision as Lightning converts its batches; a
        SIGTERM stops training after the batch it arrived in, as in Lightning's loop."""
        trainer = self.trainer
        convert = trainer.precision_plugin.convert_input
        backward = _tensor_backward if whole.plain_backward else self.manual_backward
        step = self._plain_step if whole.plain_step else _step
        epoch = _EpochSteps(len(whole.batches), backward, step)
        for batch_idx, batch in enumerate(whole.batches):
            self._train_batch(convert(batch), batch_idx, epoch)
            if trainer.received_sigterm:
                raise SIGTERMException

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        if self.inputs is not None:
            x = self.inputs.eval(x)
        out = self(x)
        self._outputs["val"].add(out, y, self.loss_fn(out, y))

    def configure_optimizers(self) -> Any:
        if self.schedule is not None and self.schedule.interval == "step":
            return {
                "optimizer": self.ednax_optimizer,
                "lr_scheduler": {"scheduler": self.schedule.scheduler, "interval": "step"},
            }
        return self.ednax_optimizer

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        # Gradients are unscaled here (mixed precision), as for Lightning's own clipping.
        clip = self.stepping.gradient_clip_val
        if self._steps_optimizer and clip:
            algorithm = self.stepping.gradient_clip_algorithm
            self.clip_gradients(optimizer, clip, gradient_clip_algorithm=algorithm)

    def on_fit_start(self) -> None:
        self.logged = logs_to_lightning(self.trainer, self)

    def on_train_epoch_start(self) -> None:
        if self.inputs is not None:
            self.inputs.reseed(self.current_epoch)
        self.epoch_scores = {"lr": self.current_lr()}
        self._outputs["train"].reset()

    def on_validation_epoch_start(self) -> None:
        self._outputs["val"].reset()

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._finish_epoch("val")

    def on_train_epoch_end(self) -> None:
        self._finish_epoch("train")
        self._step_epoch_schedule()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._epoch_scheduler() is not None:
            checkpoint[_EPOCH_SCHEDULE_KEY] = self._epoch_scheduler().state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(_EPOCH_SCHEDULE_KEY)
        if state is not None and self._epoch_scheduler() is not None:
            self._epoch_scheduler().load_state_dict(state)

    def current_lr(self) -> float:
        return float(self.ednax_optimizer.param_groups[0]["lr"])

    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, batch_rows: int
    ) -> tuple[float, torch.Tensor]:
        """Mean loss and outputs over a whole split, in eval mode."""
        out = self.outputs(x, batch_rows)
        return float(self.loss_fn(out, y)), out

    @torch.no_grad()
    def outputs(self, x: torch.Tensor, batch_rows: int) -> torch.Tensor:
        """This module's forward on every row of `x`, in eval mode, `batch_rows` at a time:
        what the final metrics, predictions.csv and `ednax predict` all come from."""
        was_training = self.training
        self.eval()
        dtype = next(self.parameters()).dtype
        chunks = [
            self(self.eval_inputs(x[start : start + batch_rows]).to(dtype))
            for start in range(0, len(x), batch_rows)
        ]
        self.train(was_training)
        return torch.cat(chunks)

    @torch.no_grad()
    def outputs_of(self, batches: Iterable[Any]) -> torch.Tensor:
        """This module's forward on each of `batches` (inputs only: a text batch's mapping
        of padded tensors), in eval mode, concatenated: as `outputs` for batches that the
        caller makes."""
        was_training = self.training
        self.eval()
        dtype = next(self.parameters()).dtype
        chunks = [self(self.eval_inputs(_floats_as(x, dtype))) for x in batches]
        self.train(was_training)
        return torch.cat(chunks)

    def eval_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as the model sees it outside training (deterministic preprocessing)."""
        return x if self.inputs is None else self.inputs.eval(x)

    def _optimize(self, loss: torch.Tensor, batch_idx: int, epoch: _EpochSteps) -> None:
        """What Lightning's automatic optimization does: gradients of `accumulate_grad_batches`
        batches summed (each loss divided by their number), then one optimizer step, also
        after an epoch's last batch; per-batch schedules stepped after each optimizer step."""
        optimizer = self.optimizers()
        batches = self.stepping.accumulate_grad_batches
        if batch_idx % batches == 0:
            optimizer.zero_grad()
        last = batch_idx + 1 >= epoch.batches
        steps = (batch_idx + 1) % batches == 0 or last
        with self._gradient_sync(steps):
            epoch.backward(loss / batches if batches > 1 else loss)
        if steps:
            epoch.step(optimizer)
            scheduler = self.lr_schedulers()
            if scheduler is not None:  # only per-batch schedules are given to Lightning
                scheduler.step()

    def _plain_step(self, optimizer: LightningOptimizer) -> None:
        """Lightning's optimizer step at full precision on one device, no callback's hook
        around it (`ednax.engine.lightning.epochs`): the step counted (`global_step`, the
        profiler) as Lightning's optimizer counts it, the module's hook, the torch step.
        The counting hooks are the ones Lightning's manual loop sets on the optimizer;
        tests/test_training_step.py fails if `global_step` ever differs from its own."""
        optimizer._on_before_step()
        self.on_before_optimizer_step(optimizer.optimizer)
        optimizer.optimizer.step()
        optimizer._on_after_step()

    def _gradient_sync(self, steps: bool) -> contextlib.AbstractContextManager:
        """Across devices (DDP), gradients are summed only before an optimizer step."""
        block = getattr(self.trainer.strategy, "block_backward_sync", None)
        return contextlib.nullcontext() if steps or block is None else block()

    def _finish_epoch(self, split: str) -> None:
        scores = self._outputs[split].scores(self.metrics, self.task)
        self._outputs[split].reset()
        named = {f"{split}/{name}": value for name, value in scores.items()}
        self.epoch_scores.update(named)
        if named and self.logged:
            # Only val metrics go to the progress bar: train metrics are known after the bar's
            # last refresh of the epoch and would show one epoch late.
            self.log_dict(named, on_step=False, on_epoch=True, prog_bar=split == "val")

    def _epoch_scheduler(self) -> Any:
        if self.schedule is None or self.schedule.interval != "epoch":
            return None
        return self.schedule.scheduler

    def _step_epoch_schedule(self) -> None:
        scheduler = self._epoch_scheduler()
        if scheduler is None:
            return
        if self.schedule.monitor is None:
            scheduler.step()
            return
        value = self.epoch_scores.get(self.schedule.monitor)
        if value is not None and not math.isnan(value):  # no val this epoch: wait
            scheduler.step(value)


def logs_to_lightning(trainer: pl.Trainer, module: EdnaxModule) -> bool:
    """Whether anything may read the metrics logged to Lightning: a logger, a custom train
    loop, or a callback that does not say it reads `epoch_scores` only (as ednax's epoch
    record, pruning, tracking and freezing say, `reads_logged_metrics = False`): the
    progress bar, early stopping, the config's callbacks. Where nothing does, the metrics
    are not logged: Lightning spends about 0.4 ms on each value logged, six an epoch."""
    if trainer.loggers or type(module) is not EdnaxModule:
        return True
    return any(getattr(c, "reads_logged_metrics", True) for c in trainer.callbacks)


@dataclass(frozen=True)
class _EpochSteps:
    """How the current epoch's batches are stepped: how many the epoch has, the
    backward (Lightning's `manual_backward`, or `loss.backward()` where that is all it
    would do) and the optimizer step (Lightning's, or the module's plain one)."""

    batches: int
    backward: Callable[[torch.Tensor], None]
    step: Callable[[LightningOptimizer], None]


def _tensor_backward(loss: torch.Tensor) -> None:
    loss.backward()


def _step(optimizer: LightningOptimizer) -> None:
    optimizer.step()


class EpochOutputs:
    """One epoch's detached outputs, targets and summed loss, kept on the device; the
    scores are computed from the outputs of every process of a distributed fit."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._outputs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self._losses: list[torch.Tensor] = []
        self._rows: list[int] = []

    def add(self, outputs: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor) -> None:
        self._outputs.append(outputs.detach())
        self._targets.append(targets.detach())
        self._losses.append(loss.detach())
        self._rows.append(targets.shape[0])

    def scores(self, metrics: Mapping[str, Any], task: str) -> dict[str, float]:
        """{"loss": mean loss per row, metric: value} for the epoch so far ({} if empty)."""
        if not self._rows:  # every process takes the same number of steps: all or none
            return {}
        outputs = ranks.gather_rows(torch.cat(self._outputs))
        targets = ranks.gather_rows(torch.cat(self._targets))
        y_pred, y_proba = predictions(outputs, task)
        loss_sum, rows = ranks.sum_across(self._loss_sum_and_rows(outputs.device)).tolist()
        loss = loss_sum / rows
        y_true = targets.cpu().numpy()
        return {"loss": loss, **metric_scores(metrics, task, y_true, y_pred, y_proba)}

    def _loss_sum_and_rows(self, device: torch.device) -> torch.Tensor:
        rows = torch.tensor(self._rows, dtype=torch.float64, device=device)
        losses = torch.stack(self._losses).double()
        return torch.stack([losses @ rows, rows.sum()])


def _floats_as(x: Any, dtype: torch.dtype) -> Any:
    """A batch's floating tensors (a mapping's too) in the model's precision; ids unchanged."""
    if isinstance(x, Mapping):
        return {k: _floats_as(v, dtype) for k, v in x.items()}
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.to(dtype)
    return x


def predictions(outputs: torch.Tensor, task: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(y_pred, y_proba) as numpy: class indices and softmax probabilities, or values and None."""
    outputs = outputs.detach().float()
    if task != "classification":
        return outputs.reshape(len(outputs), -1).squeeze(1).cpu().numpy(), None
    proba = torch.softmax(outputs, dim=1)
    return proba.argmax(dim=1).cpu().numpy(), proba.cpu().numpy()


def metric_scores(
    metrics: Mapping[str, Any],
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_proba: np.ndarray | None,
) -> dict[str, float]:
    """Each metric that applies to `task`; NaN where a metric cannot be computed on this data."""
    scores: dict[str, float] = {}
    for name, metric in metrics.items():
        if not applies(metric, task):
            continue
        try:
            scores[name] = float(metric(y_true, y_pred, y_proba))
        except ValueError:  # e.g. roc_auc on a split holding a single class
            scores[name] = float("nan")
    return scores


def applies(metric: Any, task: str) -> bool:
    tasks = getattr(metric, "tasks", None)
    return tasks is None or task in tasks
