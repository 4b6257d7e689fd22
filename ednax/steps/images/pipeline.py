"""An image run's preprocessing: its steps, fitted on train, applied to batches on the device.

`ImagePipeline` is the image counterpart of a tabular run's fitted scikit-learn pipeline.
Fitting computes what the steps need from the train split (normalize's statistics); the
fitted state is plain JSON (`state()`, saved as the run's preprocess.json, with no code in
it) from which predict rebuilds the same pipeline (`from_state`). `batches(device)` gives
the callable a train loop uses: `train(x, y)` for training batches (every step), `eval(x)`
for all others (the deterministic steps only).
"""

from __future__ import annotations

from typing import Any

from ednax.errors import ConfigError, Problem
from ednax.steps.images.files import ImageSplit
from ednax.steps.images.transforms import ImageTransform, Normalize, Shape

STATE_VERSION = 1
_FIT_ROWS = 1024  # images per chunk when computing statistics on train


class ImagePipeline:
    """The image steps of `preprocess:` in order, for images of `input_shape`."""

    def __init__(self, steps: list[ImageTransform], configs: list[dict], input_shape: Shape):
        self.steps = list(steps)
        self.configs = [dict(c) for c in configs]
        self.input_shape = tuple(input_shape)
        self.fitted: dict[int, dict[str, Any]] = {}
        self.output_shape = self._checked_shapes()

    @property
    def augments(self) -> bool:
        return any(s.train_only for s in self.steps)

    def fit(self, train: ImageSplit) -> ImagePipeline:
        """Compute on `train` what the steps need (normalize's mean and std)."""
        for index, step in enumerate(self.steps):
            if isinstance(step, Normalize) and step.needs_fit:
                self.fitted[index] = _channel_statistics(self._eval_prefix(index), train)
        return self

    def state(self) -> dict[str, Any]:
        """The fitted pipeline as JSON: the steps' configs and what was computed on train."""
        return {
            "version": STATE_VERSION,
            "steps": self.configs,
            "fitted": {str(i): values for i, values in self.fitted.items()},
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], build: Any) -> ImagePipeline:
        """The pipeline `state()` described; `build(config, index)` makes a step."""
        configs = state["steps"]
        steps = [build(config, i) for i, config in enumerate(configs)]
        pipeline = cls(steps, configs, tuple(state["input_shape"]))
        pipeline.fitted = {int(i): values for i, values in state["fitted"].items()}
        return pipeline

    def batches(self, device: Any = "cpu", classes: int | None = None) -> BatchTransform:
        """The pipeline on `device`; `classes` (the number of) is needed to mix targets."""
        return BatchTransform(self, device, classes)

    def _eval_prefix(self, stop: int) -> BatchTransform:
        """The deterministic steps before step `stop`, to compute statistics after them."""
        prefix = ImagePipeline.__new__(ImagePipeline)
        prefix.steps, prefix.configs = self.steps[:stop], self.configs[:stop]
        prefix.input_shape, prefix.fitted = self.input_shape, dict(self.fitted)
        return BatchTransform(prefix, "cpu")

    def _checked_shapes(self) -> Shape:
        """The shape images leave the pipeline with; training and evaluation must agree,
        and given statistics must fit the channels they meet."""
        train, evaluated = self.input_shape, self.input_shape
        problems: list[Problem] = []
        for index, step in enumerate(self.steps):
            if isinstance(step, Normalize):
                problems += step.channel_problems(evaluated[0], index)
            train = step.shape_after(train)
            if not step.train_only:
                evaluated = step.shape_after(evaluated)
        if train != evaluated:
            problems.append(_shape_mismatch(train, evaluated))
        mixing = [i for i, step in enumerate(self.steps) if step.mixes]
        if len(mixing) > 1:
            problems.append(
                Problem(
                    "mixes images twice: "
                    + " and ".join(f"preprocess[{i}] ({self.configs[i]['type']})" for i in mixing),
                    path="preprocess",
                    hint="keep one of mixup and cutmix",
                )
            )
        if problems:
            raise ConfigError(problems)
        return evaluated


class BatchTransform:
    """The pipeline's kornia layers on `device`: `train(x, y)` and `eval(x)` take uint8
    (n, channels, height, width) batches and return float32 ones (`train` also the targets
    the loss sees: soft targets after mixup or cutmix, else `y` itself)."""

    def __init__(self, pipeline: ImagePipeline, device: Any, classes: int | None = None):
        self.pipeline = pipeline
        self.classes = classes
        self.layers = _layers(pipeline, device)

    def train(self, x: Any, y: Any) -> tuple[Any, Any]:
        x = _as_float(x)
        target = y
        for step, layer in self.layers:
            if step.mixes:
                x, labels = layer(x, y)
                target = _mixed_targets(step, labels, self.classes)
            else:
                x = layer(x)
        return x, target

    def eval(self, x: Any) -> Any:
        x = _as_float(x)
        for step, layer in self.layers:
            if not step.train_only:
                x = layer(x)
        return x


def _layers(pipeline: ImagePipeline, device: Any) -> list[tuple[ImageTransform, Any]]:
    layers = []
    shape = pipeline.input_shape
    for index, step in enumerate(pipeline.steps):
        layer = step.layer(shape, pipeline.fitted.get(index))
        shape = step.shape_after(shape)
        if layer is not None:
            layers.append((step, layer.to(device)))
    return layers


def _as_float(x: Any) -> Any:
    import torch

    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def _mixed_targets(step: ImageTransform, labels: Any, classes: int) -> Any:
    """Soft targets of a mix: kornia's labels hold (label, paired label, weight) per image;
    mixup's weight is the paired image's share, cutmix's (the CutMix paper's) the kept
    image's."""
    import torch
    from torch.nn import functional as F

    rows = labels.reshape(-1, labels.shape[-1])
    original, paired = rows[:, 0].long(), rows[:, 1].long()
    weight = rows[:, 2].to(torch.float32).unsqueeze(1)
    if not step.weights_pair:
        weight = 1.0 - weight
    mixed = F.one_hot(original, classes) * (1.0 - weight)
    return mixed + F.one_hot(paired, classes) * weight


def _channel_statistics(prefix: BatchTransform, train: ImageSplit) -> dict[str, list[float]]:
    """Per-channel mean and standard deviation of the train images after `prefix`."""
    import torch

    total, total_sq, count = None, None, 0
    for chunk in train.chunks(_FIT_ROWS):
        x = prefix.eval(torch.from_numpy(chunk)).double()
        sums, sq = x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3))
        total = sums if total is None else total + sums
        total_sq = sq if total_sq is None else total_sq + sq
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return {"mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]}


def _shape_mismatch(train: Shape, evaluated: Shape) -> Problem:
    return Problem(
        f"training images leave the preprocessing as {list(train)} (channels, height, "
        f"width) but val, test and predict images as {list(evaluated)}: the train-only "
        "steps change the size and no step gives the others the same size",
        path="preprocess",
        hint="add a resize (or center_crop) to the same size, which applies to every split",
    )
