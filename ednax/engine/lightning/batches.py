"""The train and val batches of a fit, as `trainer.loader` asks: tensors kept on the device
(`TensorBatches`) or torch DataLoaders; auto keeps them on the device when they fit. Text
batches are padded from the token arrays (`TokenBatches`), kept on the device when they fit
there (or on the CPU with `loader: dataloader`, each batch then moved by Lightning)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ednax.engine.lightning.loader import (
    EpochOrder,
    TensorBatches,
    TokenBatches,
    data_loader,
    fits_on_device,
    image_loader,
    split_tensors,
    token_bytes,
)
from ednax.steps.base import Dataset, Split
from ednax.steps.images.files import ImageSplit, fit_in_memory
from ednax.steps.text.tokens import TokenSplit


def fit_batches(dataset: Dataset, options: Any, trainer: pl.Trainer, seed: int) -> tuple[Any, Any]:
    """Train and val batches (val is None without a val split, or with an empty one)."""
    device = trainer.strategy.root_device
    val = dataset.split("val")
    if val is not None and len(val) == 0:
        val = None
    if dataset.modality == "text":
        return _token_batches(dataset, val, options, trainer, seed, device)
    if loader_kind(dataset, options, device) == "memory":
        return _in_memory(dataset, val, options, trainer, seed, device)
    return _data_loaders(dataset, val, options, trainer, seed, device)


def loader_kind(dataset: Dataset, options: Any, device: torch.device) -> str:
    """memory or dataloader: auto keeps the data on the device when it fits there, and
    images in memory when decoded they fit `trainer.memory_budget_mb`."""
    if options.loader != "auto":
        return options.loader
    if dataset.modality == "image":
        splits = dataset.splits.values()
        nbytes = sum(s.nbytes + len(s) * 8 for s in splits)
        fits = fit_in_memory(splits, options.memory_budget_mb) and fits_on_device(nbytes, device)
        return "memory" if fits else "dataloader"
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


def _token_batches(
    dataset: Dataset,
    val: TokenSplit | None,
    options: Any,
    trainer: pl.Trainer,
    seed: int,
    device: torch.device,
) -> tuple[TokenBatches, TokenBatches | None]:
    """Padded token batches: train in the epoch's order (length buckets if asked), val
    shortest first (the least padding; its metrics do not depend on the order)."""
    nbytes = sum(token_bytes(s) for s in dataset.splits.values())
    keep = options.loader != "dataloader" and fits_on_device(nbytes, device)
    common = {
        "pad_id": dataset.vocabulary.pad_id,
        "pad_to": pad_to(dataset, options),
        "device": device if keep else "cpu",
        "world_size": trainer.world_size,
        "rank_of": lambda: trainer.global_rank,
    }
    train = TokenBatches(
        dataset.splits["train"],
        dataset.task,
        batch_size=options.batch_size,
        shuffle=options.shuffle,
        seed=seed,
        epoch_of=lambda: trainer.current_epoch,
        bucket_by_length=options.bucket_by_length,
        **common,
    )
    if val is None:
        return train, None
    return train, TokenBatches(
        val, dataset.task, batch_size=options.eval_rows, by_length=True, **common
    )


def pad_to(dataset: Dataset, options: Any) -> int | None:
    """The fixed width of every text batch (`trainer.padding: max_length`), or None."""
    if getattr(options, "padding", "longest") != "max_length":
        return None
    return dataset.vocabulary.max_length


def _data_loaders(
    dataset: Dataset,
    val: Split | None,
    options: Any,
    trainer: pl.Trainer,
    seed: int,
    device: torch.device,
) -> tuple[Any, Any]:
    if dataset.modality == "image":
        return _image_loaders(dataset, val, options, trainer, seed, device)
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


def _image_loaders(
    dataset: Dataset,
    val: ImageSplit | None,
    options: Any,
    trainer: pl.Trainer,
    seed: int,
    device: torch.device,
) -> tuple[Any, Any]:
    """Images decoded from their files in DataLoader workers, in the epoch order of the
    in-memory path: both give the same batches for the same seed."""
    train_split = dataset.splits["train"]
    order = None
    if options.shuffle:
        order = EpochOrder(len(train_split), seed, lambda: trainer.current_epoch)
    common = {"num_workers": options.num_workers, "pin_memory": device.type == "cuda"}
    train = image_loader(
        train_split, dataset.task, batch_size=options.batch_size, order=order, **common
    )
    if val is None:
        return train, None
    return train, image_loader(
        val, dataset.task, batch_size=options.eval_rows, order=None, **common
    )
