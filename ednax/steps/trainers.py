"""The scikit-learn train loop step: fit on train, evaluate every split."""

from __future__ import annotations

from ednax.steps.base import Step


class SklearnFit(Step):
    """Fit a scikit-learn estimator on the train split and score every split.

    Parameters
    ----------
    refit_on_train_val : bool
        After scoring on val, refit on train+val before scoring test (no early stopping).
    """

    def __init__(self, refit_on_train_val: bool = False):
        self.refit_on_train_val = refit_on_train_val
