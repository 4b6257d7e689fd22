"""Early stopping: the `trainer.early_stopping` section of a torch train loop.

The config layer fills `monitor` and `mode` from the experiment's (metrics.monitor and its
direction) when the section leaves them out, and checks that the monitor is logged.
"""

from __future__ import annotations

from typing import Any, Literal

from ednax.errors import Problem
from ednax.steps.base import Step


class EarlyStopping(Step):
    """Stop training when the monitored value has not improved for `patience` epochs.

    Parameters
    ----------
    monitor : str | None
        The logged value to watch, e.g. val/loss; None watches the experiment's monitor.
    mode : Literal["min", "max"] | None
        Whether lower (min) or higher (max) is better; None takes the monitor's direction.
    patience : int
        Epochs without improvement before training stops.
    min_delta : float
        The least change of the monitored value that counts as an improvement.
    """

    def __init__(
        self,
        monitor: str | None = None,
        mode: Literal["min", "max"] | None = None,
        patience: int = 10,
        min_delta: float = 0.0,
    ):
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta

    def problems(self, path: str = "trainer.early_stopping") -> list[Problem]:
        found = []
        if self.patience < 0:
            found.append(Problem(f"must be >= 0, got {self.patience}", path=f"{path}.patience"))
        if self.min_delta < 0:
            found.append(Problem(f"must be >= 0, got {self.min_delta}", path=f"{path}.min_delta"))
        return found

    def callback(self, monitor: str, mode: str) -> Any:
        """Lightning's EarlyStopping with these settings (`monitor`/`mode` where unset)."""
        from pytorch_lightning.callbacks import EarlyStopping as LightningEarlyStopping

        return LightningEarlyStopping(
            monitor=self.monitor or monitor,
            mode=self.mode or mode,
            patience=self.patience,
            min_delta=self.min_delta,
            verbose=False,
        )
