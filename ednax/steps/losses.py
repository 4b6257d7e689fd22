"""Built-in losses.

Pattern of the kind: a loss step stores its config (plus the engine-supplied `task` and
`num_classes`); `build()` imports torch and returns a callable `nn.Module` taking
`(outputs, targets)`. For classification the outputs are logits of shape (n, classes) and
the targets class indices; for regression both have shape (n,). A user may instead
register an `nn.Module` loss directly; it receives the same `(outputs, targets)`.
"""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Interval

from ednax.errors import ConfigError, Problem
from ednax.steps.base import Step


class CrossEntropy(Step):
    """Cross-entropy on class logits, with optional label smoothing and class weights.

    Parameters
    ----------
    label_smoothing : float
        Mass in [0, 1) spread uniformly over all classes in the target (0 = hard targets).
    class_weights : list[float] | None
        One weight per class, for imbalanced data; None weighs every class equally.
    task : str
        The data's task (supplied by the engine).
    num_classes : int | None
        Number of classes (supplied by the engine).
    """

    tasks = ("classification",)

    def __init__(
        self,
        *,
        label_smoothing: Annotated[float, Interval(ge=0, le=1)] = 0.0,
        class_weights: list[float] | None = None,
        task: str = "classification",
        num_classes: int | None = None,
    ):
        self.label_smoothing = label_smoothing
        self.class_weights = class_weights
        self.task = task
        self.num_classes = num_classes

    def build(self) -> Any:
        from torch import nn

        _require_task("cross_entropy", self.task, "classification")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                Problem(
                    f"label_smoothing must be in [0, 1), got {self.label_smoothing}",
                    path="loss.label_smoothing",
                )
            )
        return nn.CrossEntropyLoss(
            weight=_class_weights(self.class_weights, self.num_classes),
            label_smoothing=self.label_smoothing,
        )


class BCEWithLogits(Step):
    """Binary cross-entropy on logits: one sigmoid per class (targets one-hot encoded).

    Parameters
    ----------
    task : str
        The data's task (supplied by the engine); for regression the targets must lie in [0, 1].
    """

    tasks = ("classification", "regression")

    def __init__(self, *, task: str = "classification"):
        self.task = task

    def build(self) -> Any:
        from torch import nn

        loss = nn.BCEWithLogitsLoss()
        return _OneHotTargets(loss) if self.task == "classification" else loss


class MSE(Step):
    """Mean squared error, for regression.

    Parameters
    ----------
    task : str
        The data's task (supplied by the engine).
    """

    tasks = ("regression",)

    def __init__(self, *, task: str = "regression"):
        self.task = task

    def build(self) -> Any:
        from torch import nn

        _require_task("mse", self.task, "regression")
        return nn.MSELoss()


class L1(Step):
    """Mean absolute error, for regression.

    Parameters
    ----------
    task : str
        The data's task (supplied by the engine).
    """

    tasks = ("regression",)

    def __init__(self, *, task: str = "regression"):
        self.task = task

    def build(self) -> Any:
        from torch import nn

        _require_task("l1", self.task, "regression")
        return nn.L1Loss()


class Huber(Step):
    """Huber loss, for regression: squared error near zero, absolute error beyond `delta`.

    Parameters
    ----------
    delta : float
        Error size at which the loss turns from quadratic to linear (> 0).
    task : str
        The data's task (supplied by the engine).
    """

    tasks = ("regression",)

    def __init__(self, *, delta: float = 1.0, task: str = "regression"):
        self.delta = delta
        self.task = task

    def build(self) -> Any:
        from torch import nn

        _require_task("huber", self.task, "regression")
        if self.delta <= 0:
            raise ConfigError(Problem(f"delta must be > 0, got {self.delta}", path="loss.delta"))
        return nn.HuberLoss(delta=self.delta)


def _require_task(name: str, task: str, needed: str) -> None:
    if task == needed:
        return
    others = "cross_entropy or bce_with_logits" if task == "classification" else "mse, l1 or huber"
    raise ConfigError(
        Problem(
            f"loss {name} is for {needed}, but the data is a {task} task",
            path="loss.type",
            hint=f"for {task} use {others}",
        )
    )


def _class_weights(weights: list[float] | None, num_classes: int | None) -> Any:
    import torch

    if weights is None:
        return None
    if num_classes is not None and len(weights) != num_classes:
        raise ConfigError(
            Problem(
                f"class_weights has {len(weights)} values but the data has {num_classes} classes",
                path="loss.class_weights",
                hint="give one weight per class, in the order of the class indices",
            )
        )
    if any(w < 0 for w in weights):
        raise ConfigError(
            Problem(f"class_weights must be >= 0, got {weights}", path="loss.class_weights")
        )
    return torch.tensor(weights, dtype=torch.float32)


class _OneHotTargets:
    """Calls a loss with integer class targets turned into one-hot float rows."""

    def __init__(self, loss: Any):
        self.loss = loss

    def __call__(self, logits: Any, target: Any) -> Any:
        from torch.nn.functional import one_hot

        return self.loss(logits, one_hot(target, logits.shape[-1]).to(logits.dtype))
