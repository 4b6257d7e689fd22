"""The Lightning callback of an Optuna trial: report each epoch, stop bad trials.

At the end of every epoch it reports the objective (a train/ or val/ metric) to the trial,
through the study's storage, and asks the study's pruner whether to stop; if so it raises
`optuna.TrialPruned`, which the experiment records as a bundle with status "pruned". A
loss or objective that is no longer a finite number fails the trial at once: training on
would only spend time.

It is a Lightning `Checkpoint` callback on purpose: Lightning calls those after the
module's own `on_train_epoch_end` (where ednax computes the epoch's metrics) and after
ednax's epoch record, so the epoch it prunes at is already in history.csv and last.ckpt.
Written on Optuna's trial API (`report`, `should_prune`); it needs no optuna-integration.
"""

from __future__ import annotations

import math
from typing import Any

from pytorch_lightning.callbacks import Checkpoint

from ednax.errors import RunError


class TrialPruning(Checkpoint):
    """Report `objective` to `trial` every epoch; prune when its pruner says so.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The running trial (reached through the study's storage).
    objective : str
        The epoch metric to report, e.g. "val/accuracy".
    prune : bool
        Whether to ask the pruner (False: report only).
    """

    reads_logged_metrics = False  # it reads the module's epoch_scores

    def __init__(self, trial: Any, objective: str, prune: bool = True):
        self.trial = trial
        self.objective = objective
        self.prune = prune

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        scores = getattr(pl_module, "epoch_scores", {}) or {}
        epoch = trainer.current_epoch + 1
        self._check_finite(scores, epoch)
        value = scores.get(self.objective)
        if value is None:  # not evaluated this epoch (check_val_every_n_epoch > 1)
            return
        self.trial.report(float(value), step=epoch)
        if self.prune and self.trial.should_prune():
            import optuna

            raise optuna.TrialPruned(
                f"pruned by Optuna at epoch {epoch}: {self.objective} {float(value):.4g}"
            )

    def _check_finite(self, scores: dict[str, float], epoch: int) -> None:
        for name in ("train/loss", "val/loss", self.objective):
            value = scores.get(name)
            if value is not None and not math.isfinite(float(value)):
                raise RunError(f"{name} is {value} at epoch {epoch}: the trial is stopped")
