"""Callbacks of the Lightning engine: the epoch record (history + checkpoints), progress,
and `fit_callbacks`, every callback of a fit (early stopping and the config's included).

`EpochRecord` is a Lightning `Checkpoint` callback, so Lightning runs it after the
module's own `on_train_epoch_end` (where the epoch's metrics are computed and per-epoch
schedules stepped). At each epoch end it appends the history row, writes best.ckpt when
the monitored metric improved and last.ckpt always, and then hands the row to listeners.
The history and the random number generators' states (each process's, in a distributed
fit) travel inside the checkpoints, so a run resumed from last.ckpt neither repeats nor
loses an epoch and draws the same random numbers as an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint

from ednax.engine.lightning import ranks
from ednax.errors import ConfigError, Problem
from ednax.registry import Registry

BEST = "best.ckpt"
LAST = "last.ckpt"


class EpochRecord(Checkpoint):
    """History rows and best/last checkpoints, written together at the end of each epoch."""

    reads_logged_metrics = False  # it reads the module's epoch_scores

    def __init__(
        self,
        directory: Path,
        *,
        monitor: str,
        mode: str,
        listeners: list[Callable[[dict], None]] | None = None,
    ):
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.listeners = list(listeners or [])
        self.history: list[dict[str, Any]] = []
        self.best_score: float | None = None
        self.best_epoch: int | None = None

    @property
    def best_path(self) -> Path:
        return self.directory / BEST

    @property
    def last_path(self) -> Path:
        return self.directory / LAST

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.history and self.history[-1]["epoch"] >= epoch:
            return  # an epoch end replayed by Lightning after restoring a checkpoint
        row = epoch_row(epoch, getattr(pl_module, "epoch_scores", {}))
        self.history.append(row)
        if self._improves(row.get(self.monitor)):
            self.best_score, self.best_epoch = row[self.monitor], epoch
            self._save(trainer, self.best_path, weights_only=True)
        self._save(trainer, self.last_path, weights_only=False)
        for listener in self.listeners:
            listener(dict(row))

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": [dict(row) for row in self.history],
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "rng": rng_states(),
            "rng_by_rank": ranks.gather_objects(rng_states()),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(row) for row in state_dict.get("history", [])]
        self.best_score = state_dict.get("best_score")
        self.best_epoch = state_dict.get("best_epoch")
        by_rank = state_dict.get("rng_by_rank") or []
        if len(by_rank) == ranks.world_size() > 1:
            set_rng_states(by_rank[ranks.rank()])
        elif "rng" in state_dict:
            set_rng_states(state_dict["rng"])

    def _improves(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.best_score is None:
            return True
        return value < self.best_score if self.mode == "min" else value > self.best_score

    def _save(self, trainer: pl.Trainer, path: Path, *, weights_only: bool) -> None:
        # Written beside the target and renamed over it: a killed run never leaves half a file.
        # Every process of a distributed fit takes part in saving; rank 0 alone writes.
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # unique per process
        trainer.save_checkpoint(temp, weights_only=weights_only)
        if trainer.is_global_zero:
            os.replace(temp, path)


def epoch_row(epoch: int, scores: dict[str, float]) -> dict[str, Any]:
    """{"epoch", train/..., val/..., "lr"}: the losses first within each split."""

    def order(key: str) -> tuple[int, int, str]:
        split, _, name = key.partition("/")
        rank = {"train": 0, "val": 1}.get(split, 2) if name else 3
        return rank, name != "loss", key

    return {"epoch": epoch, **{k: float(scores[k]) for k in sorted(scores, key=order)}}


class EpochLines:
    """A listener printing one plain line per epoch: `epoch 3/20  train/loss 0.41  ...`."""

    def __init__(self, max_epochs: int, log: Callable[[str], None]):
        self.max_epochs = max_epochs
        self.log = log

    def __call__(self, row: dict[str, Any]) -> None:
        width = len(str(self.max_epochs))
        parts = [f"epoch {row['epoch']:>{width}}/{self.max_epochs}"]
        parts += [f"{k} {_number(v)}" for k, v in row.items() if k != "epoch"]
        self.log("  ".join(parts))


def rich_progress_bar() -> pl.Callback:
    from pytorch_lightning.callbacks import RichProgressBar

    return RichProgressBar(leave=True)


def fit_callbacks(
    record: EpochRecord,
    options: Any,
    *,
    progress: str,
    monitor: str,
    mode: str,
    given: list | None = None,
    steps: list[dict] | None = None,
    registry: Registry,
) -> list[pl.Callback]:
    """Every callback of a fit, in order: the epoch record, the progress bar, early stopping
    (`trainer.early_stopping`, on the experiment's monitor where it names none), the
    caller's (`given`: a sweep's pruning, say) and the config's `callbacks:` section."""
    found: list[pl.Callback] = [record]
    if progress == "rich":
        found.append(rich_progress_bar())
    if options.early_stopping is not None:
        found.append(options.early_stopping.callback(monitor, mode))
    found += list(given or [])
    found += configured_callbacks(steps or [], registry)
    return found


def configured_callbacks(steps: list[dict], registry: Registry) -> list[pl.Callback]:
    """The config's `callbacks` section, built; each must be a Lightning callback."""
    built = []
    for i, step in enumerate(steps):
        callback = registry.build("callback", step, path=f"callbacks[{i}]")
        if not isinstance(callback, pl.Callback):
            raise ConfigError(
                Problem(
                    f"callback '{step['type']}' is a {type(callback).__name__}, "
                    "not a Lightning callback",
                    path=f"callbacks[{i}].type",
                    hint="subclass pytorch_lightning.Callback",
                )
            )
        built.append(callback)
    return built


def rng_states() -> dict[str, Any]:
    """The random generators' states, as types `torch.load(weights_only=True)` accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(_as_tuples(states["python"]))
    numpy_state = states["numpy"]
    np.random.set_state(
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["gauss"],
        )
    )
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_as_tuples(v) for v in value)
    return value


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
