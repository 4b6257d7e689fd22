"""A whole training epoch as one Lightning step, where nothing watches single batches.

Lightning's loop costs about 0.15 ms a batch on the benchmark's CPU before the step
itself runs (the data fetcher, the batch transfer, the per-batch hooks, the logger
connector, progress tracking): 5% of a small model's step. When no callback, logger or
other process needs to see each batch, `one_step_epochs` hands Lightning a loader of one
item an epoch, a `WholeEpoch`, and the built-in train loop runs every batch of it inside
that one training step: the same batches in the same order, each optimizer step through
Lightning's optimizer (so `global_step` still counts them), the same schedules and
accumulation, a SIGTERM still honoured after the batch it came in. Validation, the
epoch's metrics and its checkpoints come at the epoch's end as before: the results are
the same.

It applies when all of these hold; otherwise Lightning's per-batch loop runs:

- the train loop is the built-in one, stepping its optimizer itself;
- one process (DDP wants Lightning's own batches);
- the train batches are tensors already on the training device (nothing to transfer);
- no logger (a logger's step axis counts Lightning's batches);
- no callback, and no hook of the train loop, acts on single training batches
  (`on_train_batch_start`/`end`: a progress bar, a per-step learning-rate monitor, a
  step-interval timer), and the train loop adds no callbacks of its own.

Within such an epoch, `WholeEpoch.plain_backward` says whether Lightning's backward
would only call `loss.backward()` (full precision on one device, no hook around the
backward): the train loop then calls it directly. `WholeEpoch.plain_step` says the same
of Lightning's optimizer step (full precision on one device, no callback's
`on_before_optimizer_step`): the train loop then counts the step as Lightning's optimizer
does, calls the module's hook (gradient clipping) and steps the torch optimizer itself,
without the strategy, the precision plugin's closure and the pass over every callback
(0.1 ms a step, 5% of the benchmark's small MLP).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.plugins.precision import Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden

from ednax.engine.lightning.loader import TensorBatches, TokenBatches

_BATCH_HOOKS = ("on_train_batch_start", "on_train_batch_end")
_MODULE_BATCH_HOOKS = (
    *_BATCH_HOOKS,
    "on_before_batch_transfer",
    "transfer_batch_to_device",
    "on_after_batch_transfer",
    "configure_callbacks",
)
_BACKWARD_HOOKS = ("on_before_backward", "on_after_backward")
_STEP_HOOKS = ("on_before_optimizer_step",)


class WholeEpoch:
    """The one item a `OneStepEpochs` yields: the epoch's batches. Deliberately neither a
    collection nor iterable, so that Lightning's batch handling passes it on untouched."""

    def __init__(self, batches: Any, *, plain_backward: bool, plain_step: bool):
        self.batches = batches
        self.plain_backward = plain_backward
        self.plain_step = plain_step


class OneStepEpochs:
    """A train loader of one item an epoch, a `WholeEpoch` of `batches`."""

    def __init__(self, batches: Any, *, plain_backward: bool, plain_step: bool):
        self.batches = batches
        self.plain_backward = plain_backward
        self.plain_step = plain_step

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[WholeEpoch]:
        yield WholeEpoch(
            self.batches, plain_backward=self.plain_backward, plain_step=self.plain_step
        )


def one_step_epochs(train: Any, trainer: pl.Trainer, module: pl.LightningModule) -> Any:
    """`train` as Lightning should see it: a `OneStepEpochs` where nothing watches single
    batches (see the module docstring), else unchanged."""
    if not _applies(train, trainer, module):
        return train
    return OneStepEpochs(
        train,
        plain_backward=_plain_backward(trainer, module),
        plain_step=_plain_step(trainer),
    )


def _applies(train: Any, trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    return (
        type(module).steps_its_optimizer()
        and trainer.world_size == 1
        and isinstance(train, (TensorBatches, TokenBatches))
        and train.device == trainer.strategy.root_device
        and not trainer.loggers
        and not _overrides(trainer.callbacks, _BATCH_HOOKS, pl.Callback)
        and not _overrides([module], _MODULE_BATCH_HOOKS, pl.LightningModule)
    )


def _plain_backward(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """Whether Lightning's backward would do no more than `loss.backward()`."""
    return (
        _plain_device(trainer)
        and not _overrides(trainer.callbacks, _BACKWARD_HOOKS, pl.Callback)
        and not _overrides([module], (*_BACKWARD_HOOKS, "backward"), pl.LightningModule)
    )


def _plain_step(trainer: pl.Trainer) -> bool:
    """Whether Lightning's optimizer step would do no more than count the step, call the
    module's `on_before_optimizer_step` and step the torch optimizer."""
    return _plain_device(trainer) and not _overrides(trainer.callbacks, _STEP_HOOKS, pl.Callback)


def _plain_device(trainer: pl.Trainer) -> bool:
    """Full precision on one device: no scaling, casting or syncing around the calls."""
    return (
        type(trainer.precision_plugin) is Precision
        and type(trainer.strategy) is SingleDeviceStrategy
    )


def _overrides(objects: list, hooks: tuple[str, ...], base: type) -> bool:
    return any(is_overridden(hook, obj, base) for obj in objects for hook in hooks)
