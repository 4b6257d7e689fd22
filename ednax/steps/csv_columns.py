"""The checks of a table's columns and rows that the `csv` data step makes (and `parquet`
and `sql` with it), the task of its target, and a DataFrame's feature columns as the
matrix X; reading a CSV.

Rows are named as *data rows*, counted from 1: in a csv after the header (data row 1 is the
file's second line when no quoted value spans lines); `Rows` says how another source counts
them and which parameter a problem with them names.

A column's type is read from its values unless the config declares it (`Declared`: the
`drop`, `id`, `categorical` and `numeric` lists of a table step): a column pandas reads as
numbers (or booleans) is numeric; one where text fills half its non-missing cells or more is
categorical; one of numbers with some text is an error (`stray_text`). A text column with
more distinct values than `MAX_DISTINCT_SHARE` of its rows (and over `MAX_DISTINCT_TEXT`) is
refused unless declared: one-hot encoding an id or free text gives a column per row and a
model that learns the rows by heart (train accuracy 1.000), which a warning would let pass.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ednax.errors import ConfigError, Problem, did_you_mean
from ednax.steps.splits import plain

# In `task: auto`, an integer-valued numeric target with at most this many distinct values
# is taken for class labels; anything else numeric is a regression target.
MAX_AUTO_CLASSES = 20
# An undeclared text column with more distinct values than this share of its non-missing
# rows, and more than MAX_DISTINCT_TEXT of them, is refused (see the module's docstring).
MAX_DISTINCT_SHARE = 0.5
MAX_DISTINCT_TEXT = 20
ROWS_HINT = "data rows count from 1 after the header"
FILE_HINT = "a csv file holds a header row naming the columns, then one row per example"
UTF8_HINT = "save the file as UTF-8 (in Python: open(path, 'w', encoding='utf-8'))"


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


@dataclass(frozen=True)
class Declared:
    """The column types a table step's config declares: columns left out (`drop`), the id
    column (`id`: its values name the rows in predictions), columns that are categories
    even when they hold numbers (`categorical`) and columns that must be numbers
    (`numeric`)."""

    drop: tuple[str, ...] = ()
    id: str | None = None
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()

    @classmethod
    def of(cls, step: Any) -> Declared:
        """The declarations of a table step (its `drop`, `id`, `categorical`, `numeric`)."""

        def names(value: Any) -> tuple[str, ...]:
            return tuple(str(v) for v in value or ())

        given = getattr(step, "id", None)
        return cls(
            drop=names(getattr(step, "drop", None)),
            id=None if given is None else str(given),
            categorical=names(getattr(step, "categorical", None)),
            numeric=names(getattr(step, "numeric", None)),
        )

    def lists(self) -> dict[str, tuple[str, ...]]:
        return {"drop": self.drop, "categorical": self.categorical, "numeric": self.numeric}

    def read(self) -> list[str]:
        """The declared columns read beside the target and the features: the id."""
        return [] if self.id is None else [self.id]


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
    **options: Any,
) -> Any:
    """A CSV file as pandas reads it (`options` go to `pd.read_csv`); a missing, empty or
    unreadable file is an `error` at `key` that says which and why."""
    import pandas as pd

    def fail(message: str, hint: str | None = None) -> Exception:
        if error is ConfigError:
            return ConfigError(Problem(message, path=key, hint=hint))
        return error(f"{message}\n    {hint}" if hint else message)

    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "not found"
        raise fail(f"CSV file {reason}: {path}")
    try:
        return pd.read_csv(path, nrows=nrows, usecols=usecols, **options)
    except pd.errors.EmptyDataError:
        raise fail(f"the CSV file is empty: {path}", FILE_HINT) from None
    except UnicodeDecodeError as exc:
        raise fail(
            f"{path} is not UTF-8: {exc.reason} (byte 0x{exc.object[exc.start]:02x})", UTF8_HINT
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
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
    frame: Any,
    target: str,
    features: list[str],
    task: str,
    path: Any,
    rows: Rows = CSV_ROWS,
    declared: Declared = Declared(),
) -> str:
    """The rows of a table (a csv, `path`) checked before any work, and the task (see
    `resolve_task`).

    A table with no data rows, a numeric column with stray text (`stray_text`), empty target
    cells and a classification target with a single class are errors, each naming the
    column, the first data row concerned and its value; so are the declared columns'
    problems (`declared_problems`)."""
    if len(frame) == 0:
        raise ConfigError(
            Problem(rows.empty.format(source=path), path=rows.key, hint=rows.empty_hint)
        )
    exempt = {*declared.categorical, *declared.numeric}  # declared: checked as declared
    checked = [n for n in features if n not in exempt]
    checked = checked if task == "classification" else [target, *checked]
    strays = {
        name: p
        for name in checked
        if (p := stray_text(frame[name], name, target, rows)) is not None
    }
    problems = list(strays.values())
    # a numeric column with stray text is not also a text column of many values
    problems += declared_problems(frame, [f for f in features if f not in strays], declared, rows)
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
        else f"or declare it categorical (data.categorical: [{name}]), or leave it out "
        f"(data.drop: [{name}])"
    )
    return Problem(
        f"{'target ' if is_target else ''}column '{name}' holds numbers, but data row {row} "
        f"is {value!r}{others}",
        path="data.target" if is_target else rows.key,
        hint=f"{rows.fix}; {way_out}; {rows.counted}",
    )


def declared_problems(
    frame: Any, features: list[str], declared: Declared, rows: Rows = CSV_ROWS
) -> list[Problem]:
    """Problems of the rows with the declared column types: a `numeric` column holding text,
    an `id` column with empty cells or repeated ids, and an undeclared text feature of many
    distinct values (`many_values`)."""
    problems = []
    for i, name in enumerate(declared.numeric):
        if name in frame.columns and (p := not_numbers(frame[name], name, i, rows)) is not None:
            problems.append(p)
    if declared.id is not None and declared.id in frame.columns:
        problems += id_problems(frame[declared.id], declared.id, rows)
    exempt = {*declared.categorical, *declared.numeric}
    problems += [
        p
        for name in features
        if name not in exempt and (p := many_values(frame[name], name, rows)) is not None
    ]
    return problems


def is_text(column: Any) -> bool:
    """Whether a column is text to a model: not numbers or booleans, nor text that all reads
    as numbers (a database's or a Parquet file's numbers stored as text)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    present = column.dropna()
    if len(present) == 0 or not all(isinstance(v, str) for v in present):
        return True
    return bool(pd.to_numeric(present, errors="coerce").isna().any())


def not_numbers(column: Any, name: str, index: int, rows: Rows = CSV_ROWS) -> Problem | None:
    """A problem when a column declared numeric (`data.numeric[index]`) holds text."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        return None
    present = column.dropna()
    text = present[pd.to_numeric(present, errors="coerce").isna().to_numpy()]
    if len(text) == 0:
        return None
    row, value, more = int(text.index[0]) + 1, text.iloc[0], len(text) - 1
    others = f", and {more} more row(s) hold text" if more else ""
    return Problem(
        f"column '{name}' is declared numeric, but data row {row} is {value!r}{others}",
        path=f"data.numeric[{index}]",
        hint=f"{rows.fix}; or remove '{name}' from data.numeric (a column of text is "
        f"categorical); {rows.counted}",
    )


def id_problems(column: Any, name: str, rows: Rows = CSV_ROWS) -> list[Problem]:
    """Problems of an id column: ids name one row each, so none is empty or repeated."""
    problems = []
    if column.isna().any():
        empty = [int(i) + 1 for i in np.flatnonzero(column.isna().to_numpy())[:5]]
        problems.append(
            Problem(
                f"id column '{name}' has {int(column.isna().sum())} empty cell(s) (first "
                f"data rows: {', '.join(map(str, empty))})",
                path="data.id",
                hint=f"{rows.fill}, or choose another data.id; {rows.counted}",
            )
        )
    repeated = column.duplicated(keep=False) & column.notna()
    if repeated.any():
        first = [int(i) + 1 for i in np.flatnonzero(repeated.to_numpy())[:5]]
        value = column[repeated].iloc[0]
        value = value.item() if isinstance(value, np.generic) else value
        problems.append(
            Problem(
                f"id column '{name}' repeats ids: {value!r} and others (first data rows: "
                f"{', '.join(map(str, first))})",
                path="data.id",
                hint=f"ids name one row each: choose a column of unique values; {rows.counted}",
            )
        )
    return problems


def many_values(column: Any, name: str, rows: Rows = CSV_ROWS) -> Problem | None:
    """A problem when an undeclared text column has more distinct values than
    `MAX_DISTINCT_SHARE` of its rows and more than `MAX_DISTINCT_TEXT`: an id, a name or
    free text, which one-hot encoding would turn into a column per row."""
    if not is_text(column):
        return None
    present = column.dropna()
    distinct = int(present.astype(str).nunique())
    if distinct <= MAX_DISTINCT_TEXT or distinct <= MAX_DISTINCT_SHARE * len(present):
        return None
    return Problem(
        f"text column '{name}' has {distinct} distinct values in {len(present)} data rows: "
        "encoded as categories it gives a column per value, and a model that learns the "
        "rows by heart (an id, a name, free text?)",
        path=rows.key,
        hint=f"leave it out with data.drop: [{name}], name the rows with data.id: {name}, "
        f"or keep it as categories with data.categorical: [{name}]",
    )


def id_values(column: Any) -> np.ndarray:
    """An id column's values, as plain python values (whole floats as int)."""
    return np.asarray([plain(v) for v in column.tolist()], dtype=object)


def category(value: Any) -> str:
    """A value of a categorical column as its category: text, numbers written plainly
    (3.0 as '3'), so a csv and a database give the same categories."""
    return str(plain(value))


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


def table_features(
    columns: list[str], target: str, features: list[str] | None, declared: Declared, path: Any
) -> list[str]:
    """The feature columns (`feature_columns`) with the declared columns checked: each name
    one of `columns` (a did-you-mean otherwise, naming its key: `data.categorical[1]`), the
    dropped and the id column not features, the target none of them. Every problem at once."""
    problems = []
    for key, names in declared.lists().items():
        for i, name in enumerate(names):
            if name not in columns:
                hint = did_you_mean(name, columns, "column")
                problems.append(
                    Problem(f"no column '{name}' in {path}", path=f"data.{key}[{i}]", hint=hint)
                )
    if declared.id is not None and declared.id not in columns:
        hint = did_you_mean(declared.id, columns, "column")
        problems.append(Problem(f"no column '{declared.id}' in {path}", path="data.id", hint=hint))
    if declared.id == target:
        problems.append(
            Problem(
                f"the target '{target}' cannot also be the id column",
                path="data.id",
                hint="data.id names the rows; choose another column, or leave data.id out",
            )
        )
    left_out = {*declared.drop, *declared.read()}
    if features is None:
        chosen = [c for c in columns if c != target and c not in left_out]
    else:
        chosen = [str(f) for f in features]
        for name in (n for n in chosen if n in left_out):
            key = "data.id" if name == declared.id else f"data.drop[{declared.drop.index(name)}]"
            problems.append(
                Problem(
                    f"column '{name}' is in data.features and in {key.partition('[')[0]}",
                    path=key,
                    hint=f"remove '{name}' from one of them",
                )
            )
    for i, name in enumerate(declared.drop):
        if name == target:
            hint = "choose another data.target, or remove it from data.drop"
            message = f"the target '{target}' cannot be dropped"
            problems.append(Problem(message, path=f"data.drop[{i}]", hint=hint))
    for key in ("categorical", "numeric"):
        for i, name in enumerate(getattr(declared, key)):
            problems += _declared_type(name, key, i, target, chosen, declared, columns)
    try:
        chosen = feature_columns(columns, target, chosen, path)
    except ConfigError as exc:
        if features is not None or not declared.drop:
            problems += exc.problems
        else:  # every column dropped: say it where the columns went
            hint = "keep at least one feature column"
            problems += [Problem(p.message, path="data.drop", hint=hint) for p in exc.problems]
    if problems:
        raise ConfigError(problems)
    return chosen


def _declared_type(
    name: str,
    key: str,
    index: int,
    target: str,
    chosen: list[str],
    declared: Declared,
    columns: list[str],
) -> list[Problem]:
    """The problems of `name` declared `key` (categorical or numeric) at `index`."""
    where = f"data.{key}[{index}]"
    if name == target:
        return [
            Problem(
                f"the target '{target}' takes its type from data.task, not data.{key}",
                path=where,
                hint=f"remove it from data.{key}; data.task: classification reads a target "
                "of numbers as class labels",
            )
        ]
    if key == "numeric" and name in declared.categorical:
        return [
            Problem(
                f"column '{name}' is declared both categorical and numeric",
                path=where,
                hint=f"remove '{name}' from data.categorical or from data.numeric",
            )
        ]
    if name in columns and name not in chosen:
        return [
            Problem(
                f"column '{name}' is declared {key} but is not a feature",
                path=where,
                hint=f"remove it from data.{key}, or make it a feature (data.features, "
                "data.drop, data.id)",
            )
        ]
    return []


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


def feature_matrix(frame: Any, categorical: Any = ()) -> np.ndarray:
    """A DataFrame's feature columns as float64, or as objects when any column is text.

    In the object form numeric columns hold floats, text columns str, and every missing
    cell is NaN (the marker scikit-learn's imputer and one-hot encoder expect). The
    `categorical` columns are text even when they hold numbers (`category`: 3.0 as '3');
    text that all reads as numbers is numbers (`is_text`).
    """
    import pandas as pd

    categories = set(categorical)
    numeric = {name: name not in categories and not is_text(frame[name]) for name in frame.columns}
    if all(numeric.values()):
        return frame.apply(pd.to_numeric).to_numpy(dtype=np.float64)
    X = np.empty(frame.shape, dtype=object)
    for j, name in enumerate(frame.columns):
        column = frame[name]
        if numeric[name]:
            X[:, j] = pd.to_numeric(column).to_numpy(dtype=np.float64)
        else:
            missing = column.isna().to_numpy()
            text = category if name in categories else str
            X[:, j] = [np.nan if gone else text(v) for v, gone in zip(column, missing, strict=True)]
    return X
