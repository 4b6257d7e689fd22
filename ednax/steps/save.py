"""The save step: what a run bundle keeps besides config, provenance and metrics."""

from __future__ import annotations

from typing import Literal

from ednax.steps.base import Step

Checkpoints = Literal["best", "last", "both", "none"]


class Bundle(Step):
    """Keep the fitted model, checkpoints and predictions in the run bundle's artifacts/.

    Parameters
    ----------
    checkpoints : Literal["best", "last", "both", "none"]
        Torch checkpoints to keep: the best by the monitored metric, the last epoch, both or none.
    predictions : bool
        Write the test split's predictions to artifacts/predictions.csv.
    model : bool
        Keep the fitted estimator (scikit-learn) in artifacts/model.pkl.
    pretrained : bool
        Export a pretrained-style model (resnet, convnext, vit, bert, distilbert) with its
        best weights to artifacts/pretrained/ (config.json, model.safetensors), for another
        run's `model.pretrained` or `weights: {type: pretrained}`.
    """

    def __init__(
        self,
        checkpoints: Checkpoints = "both",
        predictions: bool = True,
        model: bool = True,
        pretrained: bool = True,
    ):
        self.checkpoints = checkpoints
        self.predictions = predictions
        self.model = model
        self.pretrained = pretrained
