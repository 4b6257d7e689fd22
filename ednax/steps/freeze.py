"""The `freeze` callback: some of the model's parameters held fixed for the first epochs.

Fine-tuning a pretrained backbone usually starts by training only the new head, so that its
random gradients do not wreck the backbone's features; then everything trains. Frozen
parameters stay in the optimizer: with `requires_grad` off they get no gradient, and every
torch optimizer skips a parameter without one (no step, no weight decay, no momentum), so
they pick up where they were when unfrozen. Batch norm layers keep updating their running
statistics in training mode, frozen or not, as fastai's and Keras's fine-tuning does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import pytorch_lightning as pl
from annotated_types import Ge

from ednax.errors import ConfigError, Problem

# The history.csv column: how many parameter tensors are frozen during the epoch.
COLUMN = "frozen_params"
_LISTED = 8


class Freeze(pl.Callback):
    """Freeze parameters of the model for the first epochs, then train them too.

    Whether an epoch is frozen follows from its number, so a resumed run freezes as the
    uninterrupted one did. Each history row has the number of parameter tensors frozen in
    that epoch (`frozen_params`).

    Parameters
    ----------
    params : list[str]
        What to freeze: groups of the model's `param_groups()` (the image models have
        backbone, head, stem, stage1...; the text encoders backbone, head, embeddings,
        layer1...) or prefixes of its parameter names (net.0).
    epochs : int
        Epochs to keep them frozen, from the first (0 never freezes).
    """

    reads_logged_metrics = False  # it reads no metric

    def __init__(self, *, params: list[str] = ("backbone",), epochs: Annotated[int, Ge(0)] = 1):
        self.params = list(params)
        self.epochs = epochs
        self._frozen: list[Any] = []  # the selected parameters
        self._original: list[bool] = []  # their requires_grad before the fit

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        model = model_of(pl_module)
        names = select(model, self.params)
        parameters = dict(model.named_parameters())
        self._frozen = [parameters[name] for name in names]
        self._original = [bool(p.requires_grad) for p in self._frozen]
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        if self.epochs and trainable and trainable <= {id(p) for p in self._frozen}:
            raise ConfigError(
                Problem(
                    f"freeze {self.params} would freeze every trained parameter of the model",
                    path="callbacks",
                    hint="freeze a part of it, e.g. params: [backbone]",
                )
            )
        _unused_parameters_found(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        frozen = trainer.current_epoch < self.epochs
        for parameter, original in zip(self._frozen, self._original, strict=True):
            parameter.requires_grad_(original and not frozen)
            if frozen:
                parameter.grad = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Set here, not at the epoch's start: the built-in module starts each epoch's scores
        # afresh in its own on_train_epoch_start, which Lightning calls after the callbacks';
        # at the end Lightning calls this before the module's hook and the epoch record.
        scores = getattr(pl_module, "epoch_scores", None)
        if isinstance(scores, dict):
            scores[COLUMN] = float(self.frozen_count(trainer.current_epoch))

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for parameter, original in zip(self._frozen, self._original, strict=True):
            parameter.requires_grad_(original)

    def frozen_count(self, epoch: int) -> int:
        """Parameter tensors frozen in `epoch` (0-based)."""
        if epoch >= self.epochs:
            return 0
        return sum(self._original)


def model_of(pl_module: Any) -> Any:
    """The model of a train loop (EdnaxModule.model), or the module itself."""
    import torch

    model = getattr(pl_module, "model", None)
    return model if isinstance(model, torch.nn.Module) else pl_module


def select(model: Any, params: Iterable[str]) -> list[str]:
    """Names of the parameters that `params` (group names or name prefixes) select, in the
    model's order; a ConfigError for an entry that selects none."""
    groups = model.param_groups() if callable(getattr(model, "param_groups", None)) else {}
    names = [name for name, _ in model.named_parameters()]
    chosen: set[str] = set()
    unknown = []
    for entry in params:
        prefixes = groups.get(entry, [entry])
        found = {n for n in names if any(_under(n, p) for p in prefixes)}
        if not found:
            unknown.append(entry)
        chosen |= found
    if unknown:
        raise ConfigError(_unknown_problem(unknown, groups, names))
    return [n for n in names if n in chosen]


def _under(name: str, prefix: str) -> bool:
    prefix = prefix.rstrip(".")
    return name == prefix or name.startswith(prefix + ".")


def _unknown_problem(unknown: list[str], groups: dict, names: list[str]) -> Problem:
    tops = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
    what = "no parameter group or parameter-name prefix of the model"
    hint = f"groups: {', '.join(groups)}; or " if groups else ""
    shown = ", ".join(tops[:_LISTED]) + (" ..." if len(tops) > _LISTED else "")
    return Problem(
        f"freeze params {unknown}: {what}",
        path="callbacks",
        hint=f"{hint}prefixes of the parameter names, such as {shown}",
    )


def _unused_parameters_found(trainer: pl.Trainer) -> None:
    """Under DDP, a parameter that gets no gradient must be expected, or the gradient sync
    waits for it: ask DDP to look for unused parameters (before it wraps the model, which
    Lightning does after the callbacks' setup)."""
    from pytorch_lightning.strategies import DDPStrategy

    strategy = trainer.strategy
    kwargs = getattr(strategy, "_ddp_kwargs", None)
    if isinstance(strategy, DDPStrategy) and isinstance(kwargs, dict):
        kwargs.setdefault("find_unused_parameters", True)
