"""What every data step shares: split checks, label encoding, fingerprints, the split.

`split_rows` is the one seeded train/val/test split all sources use, so every source splits
the same way; `encode_labels` turns class labels into indices 0..k-1.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from ednax.errors import ConfigError, Problem
from ednax.steps.base import Split


def check_fractions(val: float, test: float) -> None:
    problems = [
        Problem(f"must be a fraction between 0 and 1, got {value}", path=f"data.{key}")
        for key, value in (("val", val), ("test", test))
        if not 0 <= value < 1
    ]
    if not problems and val + test >= 1:
        problems.append(
            Problem(
                f"val + test = {val + test:g} leaves no training rows",
                path="data.test",
                hint="make val + test less than 1",
            )
        )
    if problems:
        raise ConfigError(problems)


def encode_labels(labels: Any) -> tuple[np.ndarray, list[Any]]:
    """Class indices 0..k-1 (int64) in sorted label order, and the labels as python values."""
    import pandas as pd

    values = pd.Series(np.asarray(labels))
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # labels of mixed types do not sort together; their text does
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.int64), [plain(u) for u in uniques.tolist()]


def plain(value: Any) -> Any:
    """A JSON-friendly python value: numpy scalars unwrapped, whole floats as int."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def array_fingerprint(X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for array in (X, y):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def split_rows(X: np.ndarray, y: np.ndarray, task: str, step: Any) -> dict[str, Split]:
    """Seeded train/val/test split of all rows; `val` and `test` are fractions of all rows."""
    from sklearn.model_selection import train_test_split

    ids = np.arange(len(y), dtype=np.int64)
    stratified = task == "classification" and step.stratify and step.shuffle

    def cut(rows: np.ndarray, fraction: float, key: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            return train_test_split(
                rows,
                test_size=fraction,
                shuffle=step.shuffle,
                stratify=y[rows] if stratified else None,
                random_state=step.random_state,
            )
        except ValueError as exc:
            hint = "use a larger fraction or more data"
            if stratified:
                hint += ", or set data.stratify: false"
            raise ConfigError(
                Problem(f"cannot split off {fraction:g} of the rows: {exc}", path=key, hint=hint)
            ) from exc

    rest, test_rows = cut(ids, step.test, "data.test") if step.test > 0 else (ids, None)
    val_rows = None
    if step.val > 0:
        rest, val_rows = cut(rest, step.val / (1 - step.test), "data.val")
    chosen = {"train": rest, "val": val_rows, "test": test_rows}
    return {
        name: Split(X=X[rows], y=y[rows], ids=rows)
        for name, rows in chosen.items()
        if rows is not None
    }
