"""A custom train loop, model and loss, registered for ednax.

`config.yaml` beside this file names this module in its `imports:` list, so ednax imports it
before validating the config and the `@register` decorators below add three classes:

- `l2_penalty` (kind "module"): the built-in train loop plus an L2 penalty on the weight
  matrices, added to the loss that is minimised and reported per epoch as `train/penalty`;
  selected with `trainer.module: l2_penalty`, its strength set by `trainer.module_args`.
- `residual_mlp` (kind "model"): an MLP whose hidden layers add their input back.
- `focal` (kind "loss"): the focal loss, cross-entropy that down-weights easy rows.
"""

from __future__ import annotations

import torch
from torch import nn

from ednax.engine.lightning.module import EdnaxModule
from ednax.errors import ConfigError, Problem
from ednax.registry import register


@register("module", "l2_penalty")
class L2PenaltyLoop(EdnaxModule):
    """The built-in train loop plus an L2 penalty on the weight matrices.

    `train/loss` stays the data loss; the optimizer minimises the data loss plus the
    penalty, whose mean over the epoch is recorded as `train/penalty`. The engine supplies
    the built-in loop's arguments (`**engine`); `strength` comes from
    `trainer.module_args`, checked against this signature like any step's parameters.

    Parameters
    ----------
    strength : float
        Weight of the L2 penalty added to the loss.
    """

    def __init__(self, *, strength: float = 1e-3, **engine):
        super().__init__(**engine)
        self.strength = strength

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._penalties: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        penalty = self.strength * sum(
            (p**2).sum() for name, p in self.model.named_parameters() if name.endswith("weight")
        )
        self._penalties.append(penalty.detach())  # stays on the device: no per-step sync
        return loss + penalty

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        if self._penalties:
            mean = float(torch.stack(self._penalties).mean())
            self.epoch_scores["train/penalty"] = mean  # becomes a history.csv column
            self.log("train/penalty", mean)  # and goes to a configured logger


@register("model", "residual_mlp", family="torch")
class ResidualMLP(nn.Module):
    """An MLP whose hidden blocks add their input to their output.

    Parameters
    ----------
    width : int
        Units of every hidden layer.
    blocks : int
        Number of residual blocks after the input layer.
    dropout : float
        Dropout probability inside each block (0 = none).
    in_features : int
        Number of input columns (supplied by the engine).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    """

    def __init__(
        self,
        *,
        width: int = 64,
        blocks: int = 2,
        dropout: float = 0.0,
        in_features: int,
        out_features: int,
    ):
        super().__init__()
        self.width = width
        self.blocks = blocks
        self.dropout = dropout
        self.in_features = in_features
        self.out_features = out_features
        self.inp = nn.Linear(in_features, width)
        self.body = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout))
            for _ in range(blocks)
        )
        self.head = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for block in self.body:
            h = h + block(h)
        return self.head(h)


@register("loss", "focal")
class FocalLoss(nn.Module):
    """Focal loss: cross-entropy scaled by (1 - p)^gamma, so rows already right count less.

    Parameters
    ----------
    gamma : float
        Focusing strength; 0 gives plain cross-entropy.
    task : str
        The data's task (supplied by the engine).
    """

    def __init__(self, *, gamma: float = 2.0, task: str = "classification"):
        super().__init__()
        if task != "classification":
            raise ConfigError(
                Problem(
                    f"the focal loss needs a classification task, not {task}",
                    path="loss.type",
                    hint="use mse, l1 or huber for regression",
                )
            )
        if gamma < 0:
            raise ConfigError(Problem(f"must be >= 0, got {gamma}", path="loss.gamma"))
        self.gamma = gamma
        self.task = task

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = nn.functional.cross_entropy(logits, target, reduction="none")
        p_right = torch.exp(-ce)
        return ((1 - p_right) ** self.gamma * ce).mean()
