"""Evaluation strategies: one holdout split, or k folds over the non-test rows.

With k-fold, the data step's train and val rows are pooled and split into folds; each fold
trains on its train part (preprocessing included) and is scored on its held-out part as
`val`, and on the data step's test split when there is one. The reported metrics are the
mean over folds; metrics.json keeps each fold's metrics and the standard deviation.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ednax.steps.base import Dataset, Split
from ednax.steps.images.files import ImageSplit
from ednax.steps.text.tokens import TextSplit


def folds(dataset: Dataset, evaluation: dict[str, Any]) -> list[tuple[str, Dataset]]:
    """(fold name, dataset) pairs; one unnamed pair for holdout."""
    if evaluation["strategy"] == "holdout":
        return [("", dataset)]
    pool = _pool(dataset)
    splitter = _splitter(evaluation, dataset.task)
    out = []
    rows = np.zeros((len(pool), 1))  # the splitters only count the rows
    for k, (train_rows, val_rows) in enumerate(splitter.split(rows, pool.y)):
        splits = {"train": _take(pool, train_rows), "val": _take(pool, val_rows)}
        if "test" in dataset.splits:
            splits["test"] = dataset.splits["test"]
        out.append((f"fold-{k}", replace(dataset, splits=splits)))
    return out


def _pool(dataset: Dataset) -> Split | ImageSplit | TextSplit:
    parts = [dataset.splits[n] for n in ("train", "val") if n in dataset.splits]
    if isinstance(parts[0], ImageSplit | TextSplit):  # files or texts, not arrays
        return type(parts[0]).joined(parts)
    return Split(
        np.concatenate([p.X for p in parts]),
        np.concatenate([p.y for p in parts]),
        np.concatenate([p.ids for p in parts]),
    )


def _take(pool: Split | ImageSplit | TextSplit, rows: np.ndarray) -> Split | ImageSplit | TextSplit:
    if isinstance(pool, ImageSplit | TextSplit):
        return pool.subset(rows)
    return Split(pool.X[rows], pool.y[rows], pool.ids[rows])


def _splitter(evaluation: dict[str, Any], task: str) -> Any:
    from sklearn import model_selection as ms

    k, seed, shuffle = evaluation["folds"], evaluation["random_state"], evaluation["shuffle"]
    stratify = task == "classification"
    strategy = evaluation["strategy"]
    if strategy == "repeated_kfold":
        cls = ms.RepeatedStratifiedKFold if stratify else ms.RepeatedKFold
        return cls(n_splits=k, n_repeats=evaluation["repeats"], random_state=seed)
    cls = ms.StratifiedKFold if strategy == "stratified_kfold" else ms.KFold
    return cls(n_splits=k, shuffle=shuffle, random_state=seed if shuffle else None)


def aggregate(per_fold: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Mean per split and metric (the reported metrics), plus std and every fold's values."""
    if list(per_fold) == [""]:
        return per_fold[""]
    splits = list(dict.fromkeys(s for m in per_fold.values() for s in m))
    mean: dict[str, Any] = {}
    std: dict[str, dict[str, float]] = {}
    for split in splits:
        names = list(dict.fromkeys(n for m in per_fold.values() for n in m.get(split, {})))
        values = {
            n: [m[split][n] for m in per_fold.values() if n in m.get(split, {})] for n in names
        }
        mean[split] = {n: _mean(v) for n, v in values.items()}
        std[split] = {n: _std(v) for n, v in values.items()}
    return {**mean, "std": std, "folds": per_fold}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _std(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.std(finite)) if len(finite) > 1 else 0.0
