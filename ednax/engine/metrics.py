"""Metrics as the engine uses them: built from names, checked against the task, scored."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from ednax.errors import ConfigError, Problem
from ednax.registry import REGISTRY
from ednax.steps.base import Split


def build_metrics(names: list[str], task: str) -> dict[str, Any]:
    metrics = {
        name: REGISTRY.build("metric", {"type": name}, path=f"metrics.names[{i}]")
        for i, name in enumerate(names)
    }
    wrong = [n for n, m in metrics.items() if task not in getattr(m, "tasks", (task,))]
    if wrong:
        raise ConfigError(
            Problem(
                f"metric(s) {', '.join(wrong)} do not apply to a {task} task",
                path="metrics.names",
                hint="see `ednax registry metric` for each metric's task",
            )
        )
    return metrics


def score(
    metrics: dict[str, Any], y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None
) -> dict[str, float]:
    return {name: float(metric(y_true, y_pred, proba)) for name, metric in metrics.items()}


def predictions_csv(
    split: Split, y_pred: np.ndarray, proba: np.ndarray | None, classes: list | None
) -> str:
    """Rows of id, target, prediction (and one probability column per class)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    labels = classes if classes is not None else None
    header = ["id", "target", "prediction"]
    if proba is not None and labels is not None:
        header += [f"proba_{c}" for c in labels]
    writer.writerow(header)
    for i in range(len(split.y)):
        row = [split.ids[i], _label(split.y[i], labels), _label(y_pred[i], labels)]
        if proba is not None and labels is not None:
            row += [f"{p:.6g}" for p in proba[i]]
        writer.writerow(row)
    return out.getvalue()


def _label(value: Any, labels: list | None) -> Any:
    if labels is None:
        return f"{float(value):.6g}"
    return labels[int(value)]
