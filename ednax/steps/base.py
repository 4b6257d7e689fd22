"""What the steps hand each other: a loaded dataset and its splits.

Step classes follow scikit-learn's convention: the constructor only stores its arguments
(they are the config, and the signature is the schema); the work happens in methods. A step
module imports nothing heavy at import time, so that building the registry stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]
Modality = Literal["tabular", "image", "text"]
SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """Features and target of one split. `ids` are stable row ids of the source data."""

    X: np.ndarray
    y: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """The data step's result.

    For classification `y` holds class indices 0..k-1 and `classes` the original labels.
    `X` is 2-D (rows x features) for tabular data. Image data (`modality` "image") has
    `ednax.steps.images.files.ImageSplit` splits, read from files, and its (channels,
    height, width) in `input_shape`; so has scikit-learn's digits, as tabular rows. Text
    data (`modality` "text") has `ednax.steps.text.tokens.TextSplit` splits, which the
    tokenizer turns into `TokenSplit`s.
    """

    splits: dict[str, Any]
    task: Task
    feature_names: list[str]
    target: str
    classes: list[Any] | None = None
    input_shape: tuple[int, ...] | None = None
    fingerprint: str = ""
    sources: list[str] = field(default_factory=list)
    modality: Modality = "tabular"
    # An image run's fitted preprocessing (an ImagePipeline), which the train loop applies
    # to batches on the device; None for tabular data, whose splits are preprocessed.
    batch_pipeline: Any = None
    # A text run's fitted tokenizer as the model sees it (`ednax.steps.text.tokens.
    # Vocabulary`: size, pad id, max length); None until the tokenizer is fitted.
    vocabulary: Any = None
    # The column whose values are the rows' ids (a table step's `id`), for predict to read
    # as the id of new rows; None when ids are row positions. `dropped`: the columns the
    # step left out (its `drop`), which rows to predict may carry.
    id_column: str | None = None
    dropped: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.classes is not None else None

    def split(self, name: str) -> Split | None:
        return self.splits.get(name)


class Step:
    """Base of step classes: params are the constructor arguments, kept as attributes."""

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
