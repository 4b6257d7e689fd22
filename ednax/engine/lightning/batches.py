"""The train and val batches of a fit, as `trainer.loader` asks: tensors kept on the device
(`TensorBatches`) or torch DataLoaders; auto keeps them on the device when they fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ednax.engine.lightning.loader import (
    TensorBatches,
    data_loader,
    fits_on_device,
    split_tensors,
)
from ednax.steps.base import Dataset, Split


def fit_batches(dataset: Dataset, options: Any, trainer: pl.Trainer, seed: int) -> tuple[Any, Any]:
    """Train and val batches (val is None without a val split, or with an empty one)."""
    device = trainer.strategy.root_device
    val = dataset.split("val")
    if val is not None and len(val) == 0:
        val = None
    if loader_kind(dataset, options, device) == "memory":
        return _in_memory(dataset, val, options, trainer, seed, device)
    return _data_loaders(dataset, val, options, seed, device)


def loader_kind(dataset: Dataset, options: Any, device: torch.device) -> str:
    """memory or dataloader: auto keeps the data on the device when it fits there."""
    if options.loader != "auto":
        return options.loader
    nbytes = sum(np.asarray(s.X).nbytes // 2 + len(s) * 8 for s in dataset.splits.values())
    return "memory" if fits_on_device(nbytes, device) else "dataloader"


def _in_memory(
    dataset: Dataset,
    val: Split | None,
    options: Any,
    trainer: pl.Trainer,
    seed: int,
    device: torch.device,
) -> tuple[TensorBatches, TensorBatches | None]:
    shards = {"world_size": trainer.world_size, "rank_of": lambda: trainer.global_rank}
    x, y = split_tensors(dataset.splits["train"], dataset.task, device)
    train = TensorBatches(
        x,
        y,
        batch_size=options.batch_size,
        shuffle=options.shuffle,
        seed=seed,
        epoch_of=lambda: trainer.current_epoch,
        **shards,
    )
    if val is None:
        return train, None
    vx, vy = split_tensors(val, dataset.task, device)
    return train, TensorBatches(vx, vy, batch_size=options.eval_rows, **shards)


def _data_loaders(
    dataset: Dataset, val: Split | None, options: Any, seed: int, device: torch.device
) -> tuple[Any, Any]:
    common = {"seed": seed, "num_workers": options.num_workers, "pin_memory": device.type == "cuda"}
    train = data_loader(
        dataset.splits["train"],
        dataset.task,
        batch_size=options.batch_size,
        shuffle=options.shuffle,
        **common,
    )
    if val is None:
        return train, None
    return train, data_loader(
        val, dataset.task, batch_size=options.eval_rows, shuffle=False, **common
    )
