"""How a torch fit ended, for run.json's `training` (said in words by
`ednax.runs.training`): the epochs trained, whether early stopping ended it (at which
epoch, and why), and the best epoch with its monitored value.

    {"epochs": 14, "max_epochs": 50, "stopped_early": true, "stopped_epoch": 14,
     "reason": "val/loss did not improve by more than 0 for 5 epochs",
     "best_epoch": 9, "monitor": "val/loss", "best": 0.213}
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from ednax.engine.lightning.callbacks import EpochRecord


def training_summary(record: EpochRecord, trainer: pl.Trainer, max_epochs: int) -> dict[str, Any]:
    epochs = record.history[-1]["epoch"] if record.history else 0
    stopper = _early_stopping(trainer)
    stopped = stopper is not None and stopper.stopped_epoch > 0 and epochs < max_epochs
    summary: dict[str, Any] = {
        "epochs": epochs,
        "max_epochs": max_epochs,
        "stopped_early": stopped,
        "stopped_epoch": epochs if stopped else None,
        "reason": _reason(stopper) if stopped else None,
        "best_epoch": record.best_epoch,
        "monitor": record.monitor,
        "best": record.best_score,
    }
    return summary


def _early_stopping(trainer: pl.Trainer) -> Any:
    from pytorch_lightning.callbacks import EarlyStopping

    return next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)


def _reason(stopper: Any) -> str:
    delta = abs(float(stopper.min_delta))
    return (
        f"{stopper.monitor} did not improve by more than {delta:g} "
        f"for {stopper.patience} epoch{'s' if stopper.patience != 1 else ''}"
    )
