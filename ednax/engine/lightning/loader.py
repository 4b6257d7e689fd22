"""Batches for Lightning's fit loop: tensor slices already on the device, or a DataLoader.

`TensorBatches` is the in-memory path: the split's tensors are moved to the device once,
and each epoch yields slices of them (after one seeded permutation) instead of collating
rows one by one. Lightning accepts any iterable with `__len__` as a dataloader. The order
of an epoch depends only on the seed and the epoch number, so a resumed run sees the same
batches as an uninterrupted one.

Across several processes (DDP), every process draws the same order; each step takes the
next `batch_size x world_size` rows of it and each process keeps its share, so every row
is seen once per epoch across the processes, all processes take the same number of steps
(which DDP's gradient averaging needs), and the steps are the same global batches as one
process with `batch_size x world_size` rows would take.

`TokenBatches` is the same for token ids of texts, which differ in length: each batch is
padded to its own longest text when it is drawn (optionally from length buckets).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Sampler

from ednax.steps.base import Split
from ednax.steps.images.files import ImageSplit
from ednax.steps.text.tokens import TokenSplit

# Length buckets: rows sorted by length within windows of this many batches of the epoch's
# order, so a batch holds texts of similar length and little padding, and still varies.
BUCKET_BATCHES = 50


class TensorBatches:
    """Batches of `tensors` (all with the same first dimension) as slices, optionally shuffled.

    `epoch_of` tells which epoch is starting (Lightning's `trainer.current_epoch`); without
    it the batcher counts the epochs it has been iterated over itself. `rank_of` tells this
    process's rank among `world_size` processes, asked when an epoch starts (a DDP process
    learns its rank only once training has launched).
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch_of: Callable[[], int] | None = None,
        world_size: int = 1,
        rank_of: Callable[[], int] | None = None,
    ):
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorBatches needs tensors with the same number of rows")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch_of = epoch_of
        self.world_size = world_size
        self.rank_of = rank_of or (lambda: 0)
        self._epochs_started = 0

    def __len__(self) -> int:
        return math.ceil(len(self.tensors[0]) / (self.batch_size * self.world_size))

    @property
    def device(self) -> torch.device:
        """Where the batches are drawn: the device the tensors are on."""
        return self.tensors[0].device

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        # A generator: Lightning calls iter() once just to check the object is iterable,
        # so the epoch's order is only drawn when the first batch is requested.
        epoch = self._next_epoch()
        if self.world_size > 1:
            yield from self._shares(epoch)
            return
        tensors = self.tensors
        if self.shuffle:
            order = self.order(epoch).to(tensors[0].device)
            tensors = tuple(t.index_select(0, order) for t in tensors)
        for start in range(0, len(tensors[0]), self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)

    def _shares(self, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """This process's share of each global batch. A last global batch with fewer rows
        than processes is topped up from the epoch's first rows: every process needs a
        non-empty batch at every step."""
        rows = len(self.tensors[0])
        order = self.order(epoch) if self.shuffle else torch.arange(rows)
        step, world, rank = self.batch_size * self.world_size, self.world_size, self.rank_of()
        device = self.tensors[0].device
        for start in range(0, rows, step):
            chunk = order[start : start + step]
            if len(chunk) < world:
                chunk = torch.cat([chunk, order[: world - len(chunk)]])
            share = torch.tensor_split(chunk, world)[rank].to(device)
            yield tuple(t.index_select(0, share) for t in self.tensors)

    def order(self, epoch: int) -> torch.Tensor:
        """The row permutation of `epoch`, drawn on the CPU so it is the same on every device."""
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
        return torch.randperm(len(self.tensors[0]), generator=generator)

    def _next_epoch(self) -> int:
        epoch = self.epoch_of() if self.epoch_of is not None else self._epochs_started
        self._epochs_started += 1
        return epoch


class TokenBatches:
    """Batches of a `TokenSplit`, each padded to its own longest text: `({"input_ids",
    "attention_mask"[, "extras"]}, targets)`, ids (n, L) int64 with `pad_id` after each
    text, the mask (n, L) int64 (1 on the text's tokens), extras (n, k) float32.

    The token ids stay as the split holds them, one flat array and the texts' offsets (on
    `device`), and a batch is gathered from them when it is asked for. The epoch's order is
    `TensorBatches`': the same seeded permutation of the epoch, the same shares of each
    global batch across `world_size` processes. `bucket_by_length` sorts the rows by length
    within windows of `BUCKET_BATCHES` global batches of that order, then shuffles the
    batches (seeded by the epoch too): less padding, the same batches on a resumed run.
    `by_length` (evaluation, unshuffled) takes the rows shortest first; `restore` puts
    outputs computed in that order back in the split's. `pad_to` pads every batch to that
    many tokens at least (fixed shapes).
    """

    def __init__(
        self,
        split: TokenSplit,
        task: str,
        *,
        pad_id: int,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch_of: Callable[[], int] | None = None,
        world_size: int = 1,
        rank_of: Callable[[], int] | None = None,
        bucket_by_length: bool = False,
        by_length: bool = False,
        pad_to: int | None = None,
        device: torch.device | str = "cpu",
    ):
        self.rows = len(split)
        self.pad_id = int(pad_id)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch_of = epoch_of
        self.world_size = world_size
        self.rank_of = rank_of or (lambda: 0)
        self.bucket_by_length = bucket_by_length
        self.pad_to = pad_to
        self._epochs_started = 0
        self.lengths = torch.from_numpy(np.asarray(split.lengths, dtype=np.int64))
        # One pad id after the last text: where the padded positions' gathers point.
        values = np.append(np.asarray(split.values, dtype=np.int64), self.pad_id)
        self._values = torch.from_numpy(values).to(device)
        self._starts = torch.from_numpy(np.asarray(split.offsets[:-1], dtype=np.int64)).to(device)
        self._lengths = self.lengths.to(device)
        self._y = _targets(split.y, task).to(device)
        extras = split.extras
        self._extras = None if extras is None else torch.from_numpy(_float32(extras)).to(device)
        self._order = torch.argsort(self.lengths, stable=True) if by_length else None

    def __len__(self) -> int:
        return math.ceil(self.rows / (self.batch_size * self.world_size))

    @property
    def device(self) -> torch.device:
        """Where the batches are drawn: the device the token ids are on."""
        return self._values.device

    def __iter__(self) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        epoch = self._next_epoch()  # drawn at the first batch, as TensorBatches does
        for rows in self._global_batches(epoch):
            yield self.batch(self._share(rows))

    def batch(self, rows: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The padded inputs and the targets of `rows` (CPU int64 row numbers)."""
        lengths = self.lengths[rows]
        width = max(int(lengths.max()) if len(rows) else 0, self.pad_to or 0)
        device = self._values.device
        rows = rows.to(device)
        positions = torch.arange(width, device=device)
        mask = positions < self._lengths[rows].unsqueeze(1)
        index = torch.where(
            mask, self._starts[rows].unsqueeze(1) + positions, len(self._values) - 1
        )
        inputs = {"input_ids": self._values[index], "attention_mask": mask.long()}
        if self._extras is not None:
            inputs["extras"] = self._extras[rows]
        return inputs, self._y[rows]

    def order(self, epoch: int) -> torch.Tensor:
        """The row order of `epoch` (before length buckets): TensorBatches' permutation."""
        if not self.shuffle:
            return self._order if self._order is not None else torch.arange(self.rows)
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
        return torch.randperm(self.rows, generator=generator)

    def restore(self, outputs: torch.Tensor) -> torch.Tensor:
        """Outputs of every row, computed in this batcher's unshuffled order, in the split's."""
        if self._order is None:
            return outputs
        inverse = torch.empty_like(self._order)
        inverse[self._order] = torch.arange(self.rows)
        return outputs[inverse.to(outputs.device)]

    def _global_batches(self, epoch: int) -> list[torch.Tensor]:
        """Row numbers of each step's global batch (`batch_size x world_size` rows)."""
        order, step = self.order(epoch), self.batch_size * self.world_size
        if not (self.bucket_by_length and self.shuffle):
            return list(torch.split(order, step))
        batches: list[torch.Tensor] = []
        for window in torch.split(order, step * BUCKET_BATCHES):
            by_length = torch.argsort(self.lengths[window], stable=True)
            batches.extend(torch.split(window[by_length], step))
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch, 2))
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    def _share(self, rows: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch, topped up with the split's first rows
        when it has fewer rows than processes (every process needs a non-empty batch)."""
        world = self.world_size
        if world == 1:
            return rows
        if len(rows) < world:
            rows = torch.cat([rows, torch.arange(world - len(rows))])
        return torch.tensor_split(rows, world)[self.rank_of()]

    def _next_epoch(self) -> int:
        epoch = self.epoch_of() if self.epoch_of is not None else self._epochs_started
        self._epochs_started += 1
        return epoch


def token_bytes(split: TokenSplit) -> int:
    """What a token split takes on the device as `TokenBatches` holds it."""
    extras = 0 if split.extras is None else np.asarray(split.extras).size * 4
    return len(split.values) * 8 + len(split) * 32 + extras


def _targets(y: np.ndarray, task: str) -> torch.Tensor:
    dtype = np.int64 if task == "classification" else np.float32
    return torch.from_numpy(np.asarray(y, dtype=dtype).copy())


def _float32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).copy()


def split_tensors(
    split: Split | ImageSplit, task: str, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features as float32 (images as uint8, decoded) and targets as int64 class indices or
    float32 values, on `device`."""
    # Converting with numpy first copies read-only arrays (a pipeline's output can be one),
    # which torch would otherwise warn about.
    if isinstance(split, ImageSplit):
        x = torch.from_numpy(split.X)
    else:
        x = torch.from_numpy(np.asarray(split.X, dtype=np.float32).copy())
    target_dtype = np.int64 if task == "classification" else np.float32
    y = torch.from_numpy(np.asarray(split.y, dtype=target_dtype).copy())
    return x.to(device), y.to(device)


def data_loader(
    split: Split,
    task: str,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int,
    pin_memory: bool,
) -> Any:
    """A torch DataLoader over the split (per-row collation, optional worker processes)."""
    from torch.utils.data import DataLoader, TensorDataset

    x, y = split_tensors(split, task)
    return DataLoader(
        TensorDataset(x, y),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
    )


class EpochOrder(Sampler):
    """The rows of each epoch in `TensorBatches`' order (its seeded permutation of the
    epoch), so a DataLoader yields the batches the in-memory path would."""

    def __init__(self, rows: int, seed: int, epoch_of: Callable[[], int]):
        self.rows, self.seed, self.epoch_of = rows, seed, epoch_of

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch_of()))
        return iter(torch.randperm(self.rows, generator=generator).tolist())


class ImageFiles(TorchDataset):
    """An image split read one file at a time (in DataLoader workers): uint8 images and
    their targets."""

    def __init__(self, split: ImageSplit, task: str):
        self.split = split
        dtype = torch.int64 if task == "classification" else torch.float32
        self.y = torch.as_tensor(np.asarray(split.y), dtype=dtype)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.split.read(i)), self.y[i]


def image_loader(
    split: ImageSplit,
    task: str,
    *,
    batch_size: int,
    order: EpochOrder | None,
    num_workers: int,
    pin_memory: bool,
) -> Any:
    """A DataLoader decoding `split`'s files in worker processes; `order` shuffles (as the
    in-memory path does) or, None, keeps the split's order."""
    from torch.utils.data import DataLoader

    return DataLoader(
        ImageFiles(split, task),
        batch_size=batch_size,
        sampler=order,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether `nbytes` of data can stay on `device` (at most half of its free memory)."""
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2


def _epoch_seed(seed: int, epoch: int, *stream: int) -> int:
    return int(np.random.SeedSequence([abs(seed), epoch, *stream]).generate_state(1)[0])
