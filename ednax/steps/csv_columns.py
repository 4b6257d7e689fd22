"""The checks of a table's columns and rows that the `csv` data step makes (and `parquet`
and `sql` with it), the task of its target, and a DataFrame's feature columns as the
matrix X; reading a CSV.

Rows are named as *data rows*, counted from 1: in a csv after the header (data row 1 is the
file's second line when no quoted value spans lines); `Rows` says how another source counts
them and which parameter a problem with them names.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ednax.errors import ConfigError, Problem, did_you_mean

# In `task: auto`, an integer-valued numeric target with at most this many distinct values
# is taken for class labels; anything else numeric is a regression target.
MAX_AUTO_CLASSES = 20
ROWS_HINT = "data rows count from 1 after the header"
FILE_HINT = "a csv file holds a header row naming the columns, then one row per example"


@dataclass(frozen=True)
class Rows:
    """Where a table's rows come from, as its problems say it: the parameter naming the
    source (`data.path`, `data.query`), how its data rows count, what an empty one means
    and where a stray value is fixed."""

    key: str = "data.path"
    counted: str = ROWS_HINT
    empty: str = "{source} has a header but no data rows"
    empty_hint: str = FILE_HINT
    fix: str = "fix or empty those cells in the file (an empty cell is a missing value)"
    fill: str = "fill or drop those rows in the file"


CSV_ROWS = Rows()


def absolute(path: str) -> pathlib.Path:
    candidate = pathlib.Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = pathlib.Path.cwd() / candidate
    return candidate.resolve()


def read_csv(
    path: pathlib.Path,
    key: str,
    error: type,
    nrows: int | None = None,
    usecols: list[str] | None = None,
) -> Any:
    import pandas as pd

    def fail(message: str, hint: str | None = None) -> Exception:
        if error is ConfigError:
            return ConfigError(Problem(message, path=key, hint=hint))
        return error(f"{message}\n    {hint}" if hint else message)

    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "not found"
        raise fail(f"CSV file {reason}: {path}")
    try:
        return pd.read_csv(path, nrows=nrows, usecols=usecols)
    except pd.errors.EmptyDataError:
        raise fail(f"the CSV file is empty: {path}", FILE_HINT) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise fail(f"cannot read {path} as CSV: {exc}") from exc


def check_target(target: str, columns: list[str], path: Any) -> None:
    if target not in columns:
        raise ConfigError(
            Problem(
                f"no column '{target}' in {path}",
                path="data.target",
                hint=did_you_mean(target, columns, "column"),
            )
        )


def check_rows(
    frame: Any, target: str, features: list[str], task: str, path: Any, rows: Rows = CSV_ROWS
) -> str:
    """The rows of a table (a csv, `path`) checked before any work, and the task (see
    `resolve_task`).

    A table with no data rows, a numeric column with stray text (`stray_text`), empty target
    cells and a classification target with a single class are errors, each naming the
    column, the first data row concerned and its value."""
    if len(frame) == 0:
        raise ConfigError(
            Problem(rows.empty.format(source=path), path=rows.key, hint=rows.empty_hint)
        )
    checked = features if task == "classification" else [target, *features]
    problems = [
        p for name in checked if (p := stray_text(frame[name], name, target, rows)) is not None
    ]
    if problems:
        raise ConfigError(problems)
    check_target_filled(frame[target], target, rows)
    task = resolve_task(frame[target], task, target)
    if task == "classification":
        check_classes(frame[target], target)
    return task


def stray_text(column: Any, name: str, target: str, rows: Rows = CSV_ROWS) -> Problem | None:
    """A problem when a column is numbers with some text: more than half its non-missing
    values read as numbers, but not all (a column of text in half its rows or more is
    categorical)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    present = column.dropna()
    numbers = pd.to_numeric(present, errors="coerce").notna()
    parsed = int(numbers.sum())
    if parsed * 2 <= len(present) or parsed == len(present):
        return None
    text = present[~numbers.to_numpy()]
    row, value, more = int(text.index[0]) + 1, text.iloc[0], len(text) - 1
    others = f", and {more} more row(s) hold text" if more else ""
    is_target = name == target
    way_out = (
        "or set data.task: classification if the values are class labels"
        if is_target
        else "or leave the column out with data.features"
    )
    return Problem(
        f"{'target ' if is_target else ''}column '{name}' holds numbers, but data row {row} "
        f"is {value!r}{others}",
        path="data.target" if is_target else rows.key,
        hint=f"{rows.fix}; {way_out}; {rows.counted}",
    )


def check_target_filled(target: Any, name: str, rows: Rows = CSV_ROWS) -> None:
    """A ConfigError naming the first data rows when the target column has empty cells."""
    if target.isna().any():
        missing = [int(i) + 1 for i in np.flatnonzero(target.isna().to_numpy())[:5]]
        raise ConfigError(
            Problem(
                f"target column '{name}' has {int(target.isna().sum())} empty "
                f"cell(s) (first data rows: {', '.join(map(str, missing))})",
                path="data.target",
                hint=f"{rows.fill}, or choose another target; {rows.counted}",
            )
        )


def check_classes(target: Any, name: str) -> None:
    """A ConfigError when a classification target holds a single class."""
    if target.nunique(dropna=True) < 2:
        value = target.iloc[0]
        value = value.item() if isinstance(value, np.generic) else value
        raise ConfigError(
            Problem(
                f"target column '{name}' holds a single class: every one of its "
                f"{len(target)} data rows is {value!r}",
                path="data.target",
                hint="a classifier needs at least two classes: check the file and "
                "data.target (or data.task: regression, for a number to predict)",
            )
        )


def feature_columns(
    columns: list[str], target: str, features: list[str] | None, path: Any
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
