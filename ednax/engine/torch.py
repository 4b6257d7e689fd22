"""The torch half of the engine, as the experiment runner sees it: hand the preprocessed
dataset and the resolved sections to Lightning (`engine.lightning.fit`), and keep what
comes back in the bundle: history.csv per epoch, checkpoints, test predictions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ednax.engine.metrics import build_metrics, predictions_csv
from ednax.runs.training import training_line
from ednax.steps.base import Dataset
from ednax.vocabulary import LIST_SECTIONS, STEP_SECTIONS

if TYPE_CHECKING:
    from ednax.engine.context import RunContext

# The sections a torch fit reads: every step but the data and its preprocessing.
TORCH_SECTIONS = tuple(
    s for s in (*STEP_SECTIONS, *LIST_SECTIONS) if s not in ("data", "preprocess")
)
CHECKPOINTS = ("best.ckpt", "last.ckpt")


def fit_torch_model(
    experiment: RunContext, dataset: Dataset, resume_from: Path | None = None, fold: str = ""
) -> dict[str, dict[str, float]]:
    """Train; with k-fold, each fold's checkpoints go to artifacts/<fold>/ and its epochs
    into history.csv with a fold column."""
    from ednax.engine.lightning.fit import fit_torch

    cfg = experiment.config
    bundle = experiment.bundle
    prefix = f"{fold}/" if fold else ""

    def record(row: dict) -> None:
        bundle.append_history({"fold": fold, **row} if fold else row)

    result = fit_torch(
        dataset=dataset,
        sections={s: cfg[s] for s in TORCH_SECTIONS if s in cfg.data},
        metrics=build_metrics(cfg["metrics"]["names"], dataset.task),
        monitor=cfg["metrics"]["monitor"],
        mode=cfg["metrics"]["mode"],
        seed=cfg.seed,
        artifacts_dir=bundle.artifacts_dir / prefix,
        on_epoch_end=record,
        resume_from=resume_from,
        callbacks=experiment.callbacks,
        log=experiment.say,
        one_process=experiment.sweep is not None,
        experiment=cfg.experiment["name"],
        run_name=f"{bundle.run_id}/{fold}" if fold else bundle.run_id,
        interactive=experiment.interactive,
    )
    if not result.is_global_zero:
        return {}
    if not fold:
        bundle.write_history(result.history)  # the checkpoint's record, resumed epochs included
    for name in CHECKPOINTS:
        if (bundle.artifacts_dir / prefix / name).exists():
            bundle.add_artifact_file(prefix + name)
    if result.pretrained is not None:
        for file in sorted(result.pretrained.iterdir()):
            bundle.add_artifact_file(f"{prefix}{result.pretrained.name}/{file.name}")
    test = dataset.splits.get("test")
    if experiment.save.predictions and test is not None:
        y_pred, proba = result.predictions["test"]
        bundle.write_artifact_text(
            f"{prefix}predictions.csv", predictions_csv(test, y_pred, proba, dataset.classes)
        )
    if result.training:
        experiment.say(prefix + training_line(result.training))
        _record_training(bundle, fold, result.training)
    return result.metrics


def _record_training(bundle: Any, fold: str, summary: dict) -> None:
    """run.json's `training`: how the fit ended (a k-fold run: one entry a fold)."""
    if not fold:
        bundle.update(training=summary)
        return
    folds = dict(bundle.read_run().get("training") or {})
    bundle.update(training={**folds, fold: summary})


def history_before(checkpoint: Path) -> list[dict]:
    """The epochs a checkpoint already holds, to restore history.csv before resuming."""
    from ednax.engine.lightning.fit import checkpoint_history

    return checkpoint_history(checkpoint)
