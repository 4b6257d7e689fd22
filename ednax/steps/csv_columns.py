"""The `csv` data step's file handling: reading a CSV, checking its columns, the task of
its target, and a DataFrame's feature columns as the matrix X.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from ednax.errors import ConfigError, Problem, did_you_mean

# In `task: auto`, an integer-valued numeric target with at most this many distinct values
# is taken for class labels; anything else numeric is a regression target.
MAX_AUTO_CLASSES = 20


def absolute(path: str) -> pathlib.Path:
    candidate = pathlib.Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = pathlib.Path.cwd() / candidate
    return candidate.resolve()


def read_csv(path: pathlib.Path, key: str, error: type, nrows: int | None = None) -> Any:
    import pandas as pd

    def fail(message: str) -> Exception:
        if error is ConfigError:
            return ConfigError(Problem(message, path=key))
        return error(message)

    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "not found"
        raise fail(f"CSV file {reason}: {path}")
    try:
        return pd.read_csv(path, nrows=nrows)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path} as CSV: {exc}") from exc


def check_target(target: str, columns: list[str], path: pathlib.Path) -> None:
    if target not in columns:
        raise ConfigError(
            Problem(
                f"no column '{target}' in {path}",
                path="data.target",
                hint=did_you_mean(target, columns, "column"),
            )
        )


def check_target_filled(target: Any, name: str) -> None:
    """A ConfigError naming the first rows when the target column has empty cells."""
    if target.isna().any():
        missing = [int(i) for i in np.flatnonzero(target.isna().to_numpy())[:5]]
        raise ConfigError(
            Problem(
                f"target column '{name}' has {int(target.isna().sum())} empty "
                f"cell(s) (first rows: {missing})",
                path="data.target",
                hint="fill or drop those rows in the file, or choose another target",
            )
        )


def feature_columns(
    columns: list[str], target: str, features: list[str] | None, path: str
) -> list[str]:
    """The feature columns: `features`, or every column but the target when None."""
    chosen = [c for c in columns if c != target] if features is None else [str(f) for f in features]
    problems = [
        Problem(
            f"no column '{name}' in {path}",
            path="data.features",
            hint=did_you_mean(name, columns, "column"),
        )
        for name in chosen
        if name not in columns
    ]
    if target in chosen:
        problems.append(
            Problem(
                f"the target '{target}' cannot also be a feature",
                path="data.features",
                hint=f"remove '{target}' from data.features",
            )
        )
    if not chosen and not problems:
        problems.append(Problem("no feature columns left", path="data.features"))
    if problems:
        raise ConfigError(problems)
    return chosen


def resolve_task(target: Any, task: str, name: str) -> str:
    """`task`, or with `task: auto` the task the target column's values call for."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    if task == "regression" and not numeric:
        raise ConfigError(
            Problem(
                f"regression needs a numeric target; '{name}' is "
                f"{target.dtype} (e.g. {target.iloc[0]!r})",
                path="data.task",
                hint="use task: classification, or choose a numeric target column",
            )
        )
    if task != "auto":
        return task
    if not numeric:
        return "classification"
    values = target.to_numpy(dtype=np.float64)
    whole = bool(np.all(np.mod(values, 1) == 0))
    few = target.nunique() <= MAX_AUTO_CLASSES
    return "classification" if whole and few else "regression"


def feature_matrix(frame: Any) -> np.ndarray:
    """A DataFrame's feature columns as float64, or as objects when any column is text.

    In the object form numeric columns hold floats, text columns str, and every missing
    cell is NaN (the marker scikit-learn's imputer and one-hot encoder expect).
    """
    import pandas as pd

    numeric = {name: pd.api.types.is_numeric_dtype(frame[name]) for name in frame.columns}
    if all(numeric.values()):
        return frame.to_numpy(dtype=np.float64)
    X = np.empty(frame.shape, dtype=object)
    for j, name in enumerate(frame.columns):
        column = frame[name]
        if numeric[name]:
            X[:, j] = column.to_numpy(dtype=np.float64)
        else:
            missing = column.isna().to_numpy()
            X[:, j] = [np.nan if gone else str(v) for v, gone in zip(column, missing, strict=True)]
    return X
