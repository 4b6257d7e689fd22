"""How a torch fit ended, as run.json records it (`training`), said in words: the line a
run prints when training ends, `ednax show`'s `training` field and `ednax runs`' `epochs`
column. A k-fold run records one summary a fold."""

from __future__ import annotations

from typing import Any


def training_line(summary: dict[str, Any]) -> str:
    """ "stopped early at epoch 8/60: val/loss did not improve ...; best val/loss 0.21 at
    epoch 5", or "trained 60 epochs; best ..."."""
    if summary.get("stopped_early"):
        line = f"stopped early at epoch {summary['stopped_epoch']}/{summary['max_epochs']}: "
        line += str(summary.get("reason") or "early stopping")
    else:
        line = f"trained {summary.get('epochs')} epochs"
    if summary.get("best_epoch") is not None and summary.get("best") is not None:
        best = f"{summary.get('monitor')} {summary['best']:.4g}"
        line += f"; best {best} at epoch {summary['best_epoch']}"
    return line


def summaries(training: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The recorded summaries by fold ("" for a run without folds)."""
    if not isinstance(training, dict) or not training:
        return {}
    if "epochs" in training:
        return {"": training}
    return {fold: s for fold, s in training.items() if isinstance(s, dict)}


def epochs_cell(training: dict[str, Any] | None) -> str:
    """`ednax runs`' epochs column: "8/60 early", "60/60", folds joined with a space."""
    cells = []
    for summary in summaries(training).values():
        cell = f"{summary.get('epochs')}/{summary.get('max_epochs')}"
        cells.append(cell + (" early" if summary.get("stopped_early") else ""))
    return " ".join(cells)
