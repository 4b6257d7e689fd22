"""Small torch fits for the engine's tests: iris, a tiny MLP's sections, `fit`."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_iris

from ednax.engine.lightning.fit import fit_torch
from ednax.steps.base import Dataset, Split


class Accuracy:
    tasks = ("classification",)
    greater_is_better = True
    needs_proba = False

    def __call__(self, y_true, y_pred, y_proba):
        return float(np.mean(y_true == y_pred))


class MeanAbsoluteError:
    tasks = ("regression",)
    greater_is_better = False
    needs_proba = False

    def __call__(self, y_true, y_pred, y_proba):
        return float(np.mean(np.abs(y_true - y_pred)))


METRICS = {"accuracy": Accuracy(), "mae": MeanAbsoluteError()}


def iris(val: bool = True) -> Dataset:
    """Iris, standardised: 90/30/30 rows (or 120/30 without val)."""
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    parts = {"train": order[:90], "val": order[90:120], "test": order[120:]}
    if not val:
        parts = {"train": order[:120], "test": order[120:]}
    mean, std = X[parts["train"]].mean(axis=0), X[parts["train"]].std(axis=0)
    X = (X - mean) / std
    splits = {name: Split(X[rows], y[rows].astype(np.int64), rows) for name, rows in parts.items()}
    names = [f"f{i}" for i in range(4)]
    return Dataset(splits, "classification", names, "species", classes=[0, 1, 2])


def sections(**trainer) -> dict[str, dict]:
    """The resolved sections of a small MLP; `trainer` options on top of a quiet trainer."""
    return {
        "model": {"type": "mlp", "hidden": [32], "dropout": 0.1},
        "weights": {"type": "none"},
        "loss": {"type": "cross_entropy"},
        "optimizer": {"type": "adam", "lr": 0.01},
        "scheduler": {"type": "cosine"},
        "trainer": {"type": "lightning", "batch_size": 16, "progress": "none", **trainer},
        "save": {"type": "bundle", "checkpoints": "both", "predictions": True},
    }


def fit(tmp_path, steps=None, dataset=None, **kwargs):
    """fit_torch on iris (5 epochs) into tmp_path/artifacts, monitoring val/accuracy."""
    options = {
        "dataset": dataset or iris(),
        "sections": steps or sections(max_epochs=5),
        "metrics": METRICS,
        "monitor": "val/accuracy",
        "mode": "max",
        "seed": 0,
        "artifacts_dir": tmp_path / "artifacts",
        "log": lambda line: None,
    }
    options.update(kwargs)
    return fit_torch(**options)
