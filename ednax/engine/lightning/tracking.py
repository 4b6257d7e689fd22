"""The Lightning callback of a tracked torch run: each epoch's row to the tracker, as it goes.

It is a Lightning `Checkpoint` callback on purpose, as the epoch record and a sweep's
pruning are: Lightning calls those after the module's own `on_train_epoch_end`, where
ednax computes the epoch's metrics, and in the order they were given, after the epoch
record (so the row is in history.csv and last.ckpt first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytorch_lightning.callbacks import Checkpoint

from ednax.engine.lightning.callbacks import epoch_row


class EpochTracking(Checkpoint):
    """Hand each new epoch's row (`{"epoch": 3, "train/loss": ...}`) to `send`.

    Parameters
    ----------
    send : Callable[[dict], None]
        Called once per epoch, in the process of rank 0 only; must not raise.
    """

    reads_logged_metrics = False  # it reads the module's epoch_scores

    def __init__(self, send: Callable[[dict[str, Any]], None]):
        self.send = send
        self._last_epoch = 0

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._last_epoch = trainer.current_epoch  # a resumed fit starts after its checkpoint

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        epoch = trainer.current_epoch + 1
        if epoch <= self._last_epoch or not trainer.is_global_zero:
            return  # an epoch end replayed after restoring a checkpoint, or another rank
        self._last_epoch = epoch
        self.send(epoch_row(epoch, getattr(pl_module, "epoch_scores", {}) or {}))
