"""What a train loop does to a batch before the model sees it: an image run's preprocessing
on the device (`ednax.steps.images.pipeline`), and the channels-last memory layout.

Tabular batches pass unchanged (no `Inputs` at all). Image batches arrive as uint8 on the
training device; `train` runs every preprocess step (augmentations included) and `eval` the
deterministic ones. Augmentations draw from torch's random generator, which `reseed` sets
at each epoch's start from the run's seed and the epoch number: an epoch's augmentations
do not depend on what ran before it, so a resumed run augments as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class Inputs:
    """The batch preprocessing of a run (`pipeline`, an `ImagePipeline`), built on the
    device of the batches it meets."""

    def __init__(
        self, pipeline: Any, *, classes: int | None, seed: int, channels_last: bool = False
    ):
        self.pipeline = pipeline
        self.classes = classes
        self.seed = seed
        self.channels_last = channels_last
        self._on: dict[str, Any] = {}

    def train(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, target = self._transform(x.device).train(x, y)
        return self._layout(x), target

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return self._layout(self._transform(x.device).eval(x))

    def reseed(self, epoch: int) -> None:
        if self.pipeline.augments:
            torch.manual_seed(epoch_seed(self.seed, epoch))

    def _transform(self, device: torch.device) -> Any:
        key = str(device)
        if key not in self._on:
            self._on[key] = self.pipeline.batches(device, self.classes)
        return self._on[key]

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def __getstate__(self) -> dict[str, Any]:
        # Built layers stay behind (a checkpoint or a DDP copy rebuilds them on its device).
        return {**self.__dict__, "_on": {}}


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed for `epoch` of a run seeded `seed` (the same on every device and process)."""
    return int(np.random.SeedSequence([abs(seed), epoch, 1]).generate_state(1)[0])
