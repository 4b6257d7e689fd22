"""After a fit: every split evaluated with the best weights, and the checkpoints kept.

`result` loads best.ckpt (the epoch the monitor liked best) into the module, scores each
split with the module's own forward (`EdnaxModule.evaluate`, the path `ednax predict`
takes too), deletes the checkpoints `save.checkpoints` does not keep, and returns the
`TorchResult` the experiment runner writes into the bundle.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ednax.engine.lightning.batches import pad_to
from ednax.engine.lightning.callbacks import EpochRecord
from ednax.engine.lightning.loader import TokenBatches, split_tensors
from ednax.engine.lightning.module import EdnaxModule, metric_scores, predictions
from ednax.steps.base import SPLITS, Dataset
from ednax.steps.images.files import ImageSplit
from ednax.steps.text.tokens import TokenSplit

Scores = dict[str, dict[str, float]]
Predictions = dict[str, tuple[np.ndarray, np.ndarray | None]]


@dataclass
class TorchResult:
    """What a torch fit produced."""

    metrics: Scores
    history: list[dict]
    predictions: Predictions
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    epochs_run: int
    is_global_zero: bool = True  # False in the other processes of a distributed fit
    pretrained: Path | None = None  # the exported model's folder, if one was written
    training: dict = field(default_factory=dict)  # how the fit ended (lightning/stopping.py)

    @classmethod
    def of_other_rank(cls) -> TorchResult:
        """What a DDP process other than rank 0 returns: rank 0 alone evaluates and saves."""
        return cls({}, [], {}, None, None, 0, is_global_zero=False)


def result(
    module: EdnaxModule,
    record: EpochRecord,
    dataset: Dataset,
    metrics: dict[str, object],
    options: Any,
    trainer: pl.Trainer,
    keep: str,
) -> TorchResult:
    """Evaluate every split with the best weights, then keep the checkpoints asked for."""
    best = record.best_path if record.best_epoch is not None else None
    if best is not None:
        load_module_weights(module, best)
    device = trainer.strategy.root_device
    split_metrics, split_predictions = evaluate(
        module, dataset, metrics, options.eval_rows, device, pad_to(dataset, options)
    )
    best_kept, last_kept = keep_checkpoints(keep, record, best)
    return TorchResult(
        metrics=split_metrics,
        history=[dict(row) for row in record.history],
        predictions=split_predictions,
        best_checkpoint=best_kept,
        last_checkpoint=last_kept,
        epochs_run=record.history[-1]["epoch"] if record.history else 0,
    )


def load_module_weights(module: torch.nn.Module, path: Path) -> None:
    """Load an ednax checkpoint (the module's state_dict) into `module`."""
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)


def evaluate(
    module: EdnaxModule,
    dataset: Dataset,
    metrics: dict[str, object],
    batch_rows: int,
    device: torch.device,
    width: int | None = None,
) -> tuple[Scores, Predictions]:
    """Loss, metrics and predictions of every non-empty split (text batches padded to
    `width` tokens at least, as training's were)."""
    module.to(device)
    scores: Scores = {}
    preds: Predictions = {}
    for name in SPLITS:
        split = dataset.split(name)
        if split is None or len(split) == 0:
            continue
        if isinstance(split, TokenSplit):
            pad_id = dataset.vocabulary.pad_id
            outputs = token_outputs(module, split, pad_id, batch_rows, device, width)
            loss, y = _loss_of(module, outputs, split.y, dataset.task)
        else:
            loss, outputs, y = _evaluated(module, split, dataset.task, batch_rows, device)
        y_pred, y_proba = predictions(outputs, dataset.task)
        values = metric_scores(metrics, dataset.task, y.cpu().numpy(), y_pred, y_proba)
        scores[name] = {"loss": loss, **values}
        preds[name] = (y_pred, y_proba)
    return scores, preds


def _evaluated(
    module: EdnaxModule, split: Any, task: str, batch_rows: int, device: torch.device
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Mean loss, outputs and targets of a split; images not in memory are read from their
    files `batch_rows` at a time, never all at once."""
    if not isinstance(split, ImageSplit) or split.decoded is not None:
        x, y = split_tensors(split, task, device)
        loss, outputs = module.evaluate(x, y, batch_rows)
        return loss, outputs, y
    chunks = [
        module.outputs(torch.from_numpy(chunk).to(device), batch_rows)
        for chunk in split.chunks(batch_rows)
    ]
    outputs = torch.cat(chunks)
    loss, y = _loss_of(module, outputs, split.y, task)
    return loss, outputs, y


def token_outputs(
    module: EdnaxModule,
    split: TokenSplit,
    pad_id: int,
    batch_rows: int,
    device: torch.device | str,
    width: int | None = None,
) -> torch.Tensor:
    """The module's outputs on every text of `split`, in its order: `batch_rows` texts at
    a time, shortest first, each chunk padded to its longest text (to `width` at least)."""
    batches = TokenBatches(
        split,
        module.task,
        pad_id=pad_id,
        batch_size=batch_rows,
        by_length=True,
        pad_to=width,
        device=device,
    )
    return batches.restore(module.outputs_of(inputs for inputs, _ in batches))


def _loss_of(
    module: EdnaxModule, outputs: torch.Tensor, targets: np.ndarray, task: str
) -> tuple[float, torch.Tensor]:
    dtype = torch.int64 if task == "classification" else torch.float32
    y = torch.as_tensor(np.asarray(targets), dtype=dtype, device=outputs.device)
    with torch.no_grad():
        loss = float(module.loss_fn(outputs, y))
    return loss, y


def keep_checkpoints(
    keep: str, record: EpochRecord, best: Path | None
) -> tuple[Path | None, Path | None]:
    """Delete the checkpoints `save.checkpoints` does not keep; return the kept paths.

    Both files are written while training (last.ckpt is what a resume needs; best.ckpt is
    what the final metrics come from). Without a monitored value (no val split) the final
    weights are the best ones, so best.ckpt is a copy of last.ckpt.
    """
    last = record.last_path if record.last_path.is_file() else None
    if best is None and last is not None and keep in ("best", "both"):
        temp = record.best_path.with_name(f".{record.best_path.name}.{os.getpid()}.tmp")
        shutil.copyfile(last, temp)
        os.replace(temp, record.best_path)
        best = record.best_path
    if keep in ("last", "none") and best is not None:
        best.unlink(missing_ok=True)
        best = None
    if keep in ("best", "none") and last is not None:
        last.unlink(missing_ok=True)
        last = None
    return best, last
