"""Built-in data steps: scikit-learn's toy sets, a CSV file, generated data; and `Table`,
what the steps of one table (csv here, parquet and sql in `data_sources`) share.

Each class's `load()` returns a `Dataset` with train/val/test splits made by one shared,
seeded helper, so every source splits the same way. For classification `y` holds class
indices 0..k-1 and `Dataset.classes` the original labels as plain python values.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Hashable
from typing import Any, Literal

import numpy as np

from ednax.errors import ConfigError, Problem, UsageError, did_you_mean
from ednax.steps.base import Dataset, Step
from ednax.steps.csv_columns import (
    CSV_ROWS,
    Declared,
    Rows,
    absolute,
    check_rows,
    check_target,
    feature_matrix,
    id_values,
    read_csv,
    table_features,
)
from ednax.steps.csv_columns import MAX_AUTO_CLASSES as MAX_AUTO_CLASSES
from ednax.steps.splits import array_fingerprint, check_fractions, encode_labels, plain, split_rows

ToyName = Literal["iris", "wine", "breast_cancer", "digits", "diabetes"]
CsvTask = Literal["auto", "classification", "regression"]
SyntheticTask = Literal["classification", "regression"]

_REGRESSION_TOYS = ("diabetes",)
# Table's check of the data last checked: (task, feature columns), or the problems
_CHECKED: dict[tuple, tuple[str, list[str]] | list[Problem]] = {}
_IMAGE_SHAPES = {"digits": (1, 8, 8)}
# The table last read, by its version and columns: validation and the run it checks, and a
# sweep worker's trials, read a file once per version of it (a frame up to _KEPT_BYTES)
_READ: dict[tuple, Any] = {}
_KEPT_BYTES = 512 * 2**20
# The dataset last loaded, by its step's class and parameters and the data's version: a
# sweep worker's trials on the same data load it once (up to _KEPT_BYTES), each getting a
# copy of its own, so that nothing a trial does to its data reaches the next
_LOADED: dict[tuple, Dataset] = {}


def loaded_once(step: Step, version: Hashable, load: Callable[[], Dataset]) -> Dataset:
    """A copy of what `load()` returned for the same step class, parameters and data
    `version` (whatever changes when the data does), loading it when that is not the last
    dataset this process loaded."""
    params = json.dumps(step.get_params(), sort_keys=True, default=str)
    key = (type(step).__qualname__, params, version)
    if key not in _LOADED:
        _LOADED.clear()  # one data section at a time is what sweeps need
        dataset = load()
        if _nbytes(dataset) > _KEPT_BYTES:
            return dataset
        _LOADED[key] = dataset
    return copy.deepcopy(_LOADED[key])


def _nbytes(dataset: Dataset) -> int:
    arrays = (a for s in dataset.splits.values() for a in (s.X, s.y, s.ids))
    return sum(getattr(a, "nbytes", 0) for a in arrays)


class SklearnToy(Step):
    """One of scikit-learn's bundled toy datasets, split into train/val/test.

    Parameters
    ----------
    dataset : Literal["iris", "wine", "breast_cancer", "digits", "diabetes"]
        Which toy set: diabetes is a regression task, the others classification.
    val : float
        Fraction of all rows held out for validation (0 = no val split).
    test : float
        Fraction of all rows held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (classification, with shuffle only).
    shuffle : bool
        Shuffle rows before splitting; when false the last rows become val and test.
    random_state : int | None
        Seed of the shuffle; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        dataset: ToyName,
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.dataset = dataset
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def infer_task(self) -> str:
        """The task, known before loading; checks the split fractions on the way."""
        check_fractions(self.val, self.test)
        return "regression" if self.dataset in _REGRESSION_TOYS else "classification"

    def load(self) -> Dataset:
        check_fractions(self.val, self.test)
        return loaded_once(self, "shipped", self._load)  # the data ships with scikit-learn

    def _load(self) -> Dataset:
        bunch = _load_toy(self.dataset)
        # copies: the bunch is kept for the next trial of a sweep worker
        X = np.array(bunch.data, dtype=np.float64).reshape(len(bunch.data), -1)
        task = "regression" if self.dataset in _REGRESSION_TOYS else "classification"
        if task == "classification":
            names = getattr(bunch, "target_names", None)
            y, classes = encode_labels(bunch.target)
            if names is not None:
                classes = [plain(names[int(c)]) for c in classes]
        else:
            y, classes = np.array(bunch.target, dtype=np.float64), None
        fingerprint = array_fingerprint(X, y, {"source": "sklearn_toy", "dataset": self.dataset})
        return Dataset(
            splits=split_rows(X, y, task, self),
            task=task,
            feature_names=[str(n) for n in bunch.feature_names],
            target="target",
            classes=classes,
            input_shape=_IMAGE_SHAPES.get(self.dataset),
            fingerprint=fingerprint,
            sources=[f"sklearn.datasets.load_{self.dataset}"],
        )


class Table:
    """What the data steps of one table share (csv, parquet, sql): its columns and rows
    checked at validation, once per version of the data, and `load()`.

    A subclass has the parameters target, features, drop, id, categorical, numeric, task,
    val, test, stratify, shuffle and random_state, and says how to read its data:
    `_version()` (what identifies the data as it is now, raising the problem of data that
    is not there), `_name()` (the data, as messages name it), `_columns()` and
    `_frame(columns)` (those columns, read), or `_table()` in their place,
    `_fingerprint(frame)`, `_sources()`, and `_rows()` (how its problems name rows)."""

    def infer_task(self) -> str:
        """The task, from `task` or the target column's values; checks the data, its
        columns and its rows, so a config fails before any work. The data is read once per
        version of it: a sweep's jobs share the answer."""
        return self._checked()[0]

    def feature_names(self) -> list[str]:
        """The feature columns, as the check found them (what validation checks a
        preprocess step's `columns` against)."""
        return list(self._checked()[1])

    def _checked(self) -> tuple[str, list[str]]:
        check_fractions(self.val, self.test)
        features = None if self.features is None else tuple(map(str, self.features))
        declared = Declared.of(self)
        key = (type(self).__qualname__, self._version(), self.target, features, declared, self.task)
        if key not in _CHECKED:
            _CHECKED.clear()  # one data section at a time is what sweeps need
            try:
                frame, features = self._table()
                _CHECKED[key] = (self._task(frame, features), features)
            except ConfigError as exc:
                _CHECKED[key] = exc.problems
        answer = _CHECKED[key]
        if isinstance(answer, list):
            raise ConfigError(answer)
        return answer

    def load(self) -> Dataset:
        check_fractions(self.val, self.test)
        if not self.versioned_content:
            return self._load()
        return loaded_once(self, self._version(), self._load)

    def _load(self) -> Dataset:
        frame, features = self._table()
        task = self._task(frame, features)
        target = frame[self.target]
        if task == "classification":
            y, classes = encode_labels(target.to_numpy())
        else:
            y, classes = target.to_numpy(dtype=np.float64), None
        declared = Declared.of(self)
        X = feature_matrix(frame[features], declared.categorical)
        splits = split_rows(X, y, task, self)
        if declared.id is not None:  # the rows' ids: the id column's values, not positions
            ids = id_values(frame[declared.id])
            splits = {n: dataclasses.replace(s, ids=ids[s.ids]) for n, s in splits.items()}
        return Dataset(
            splits=splits,
            task=task,
            feature_names=features,
            target=self.target,
            classes=classes,
            fingerprint=self._fingerprint(frame),
            sources=self._sources(),
            id_column=declared.id,
            dropped=list(declared.drop),
        )

    def _table(self) -> tuple[Any, list[str]]:
        """The target, feature and id columns, read (a DataFrame), and the features' names."""
        columns, name, declared = self._columns(), self._name(), Declared.of(self)
        check_target(self.target, columns, name)
        features = table_features(columns, self.target, self.features, declared, name)
        read = list(dict.fromkeys([self.target, *features, *declared.read()]))
        return self._read_once(read), features

    def _read_once(self, columns: list[str]) -> Any:
        """`_frame(columns)`, or the frame last read of the same version and columns, for a
        source whose version says when its content changed (`versioned_content`)."""
        if not self.versioned_content:
            return self._frame(columns)
        key = (type(self).__qualname__, self._version(), tuple(columns))
        if key not in _READ:
            _READ.clear()
            frame = self._frame(columns)
            if int(frame.memory_usage(deep=True).sum()) > _KEPT_BYTES:
                return frame
            _READ[key] = frame
        return _READ[key].copy()

    def _task(self, frame: Any, features: list[str]) -> str:
        declared, name = Declared.of(self), self._name()
        return check_rows(frame, self.target, features, self.task, name, self._rows(), declared)

    def _rows(self) -> Rows:
        return CSV_ROWS

    # whether `_version()` changes whenever the content does (a file's stat), so that a
    # frame read before may be used again; a server's row count does not say that
    versioned_content = False

    def _version(self) -> Hashable:
        raise NotImplementedError

    def _name(self) -> Any:
        raise NotImplementedError

    def _columns(self) -> list[str]:
        raise NotImplementedError

    def _frame(self, columns: list[str]) -> Any:
        raise NotImplementedError

    def _fingerprint(self, frame: Any) -> str:
        raise NotImplementedError

    def _sources(self) -> list[str]:
        raise NotImplementedError


class Csv(Table, Step):
    """A CSV file with a header row: one column is the target, others the features.

    Type inference. The target: with `task: auto` the task is classification when the
    target is non-numeric (text, boolean) or integer-valued with at most 20 distinct values,
    else regression. A feature column is numeric when it reads as numbers (booleans as 0
    and 1; an empty cell is a missing value); categorical when text fills half its
    non-missing cells or more; and an error when more than half read as numbers but some do
    not ('?', '12 kg'): a numeric column with stray text, named with the first such data row
    (counted from 1 after the header) and its value (the target is exempt under
    `task: classification`). Declare what the values cannot say: `categorical` for codes
    written as numbers (a zip code, a product code), one-hot encoded as text; `numeric` for
    columns that must be numbers, so that any text in them is an error; `drop` for columns
    to leave out; `id` for the column naming the rows, whose values then name them in
    predictions.csv and in `ednax predict` (read from a file to predict when it has the
    column). Features that are all numeric give a float64 X (missing cells as NaN); if any
    feature is categorical, X is an object array (text as str, missing as NaN) for
    `one_hot` to encode.

    The file is checked at validation, before any work: it must have data rows, the target
    no empty cells, a classification target two classes at least, the id column neither
    empty cells nor repeated ids, and every declared name must be a column. A text column
    not declared categorical with more than 20 distinct values, and more distinct values
    than half its non-missing rows, is an error saying how to declare it: encoded as
    categories it would give a column per row (an id, a name, free text) and a model that
    learns the rows by heart, which a warning scrolling past would let through.

    Parameters
    ----------
    path : str
        The CSV file; a relative path is taken from the current directory.
    target : str
        Name of the column to predict.
    features : list[str] | None
        Columns to use as features, in this order (None = every column but the target,
        the id and the dropped).
    drop : list[str] | None
        Columns left out of the features.
    id : str | None
        The column naming the rows (unique, no empty cell): predictions carry its values,
        and the model does not see it (None = rows are numbered from 0).
    categorical : list[str] | None
        Features that are categories even when they hold numbers (codes); a feature of
        text is one undeclared, unless it has over 20 distinct values in over half its rows.
    numeric : list[str] | None
        Features that must be numbers: any text in them is an error naming column and row
        (undeclared, a feature is numeric when its values read as numbers or booleans).
    task : Literal["auto", "classification", "regression"]
        What the target is; auto: classification when the target holds text, booleans or
        at most 20 distinct whole numbers, else regression.
    val : float
        Fraction of all rows held out for validation (0 = no val split).
    test : float
        Fraction of all rows held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (classification, with shuffle only).
    shuffle : bool
        Shuffle rows before splitting; when false the last rows become val and test.
    random_state : int | None
        Seed of the shuffle; filled from experiment.seed unless set.
    """

    versioned_content = True

    def __init__(
        self,
        path: str,
        target: str,
        features: list[str] | None = None,
        drop: list[str] | None = None,
        id: str | None = None,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        task: CsvTask = "auto",
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.path = path
        self.target = target
        self.features = features
        self.drop = drop
        self.id = id
        self.categorical = categorical
        self.numeric = numeric
        self.task = task
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def _version(self) -> Hashable:
        path = absolute(self.path)
        if not path.is_file():
            read_csv(path, "data.path", ConfigError, nrows=0)  # says why
        stat = path.stat()
        return str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns

    def _name(self) -> Any:
        return absolute(self.path)

    def _columns(self) -> list[str]:
        header = read_csv(absolute(self.path), "data.path", ConfigError, nrows=0)
        return [str(c) for c in header.columns]

    def _frame(self, columns: list[str]) -> Any:
        frame = read_csv(absolute(self.path), "data.path", ConfigError, usecols=columns)
        frame.columns = [str(c) for c in frame.columns]
        return frame

    def _fingerprint(self, frame: Any) -> str:
        return hashlib.sha256(absolute(self.path).read_bytes()).hexdigest()

    def _sources(self) -> list[str]:
        return [str(absolute(self.path))]

    def read_features(self, path: str, feature_names: list[str]) -> np.ndarray:
        """X of another CSV (e.g. new rows to predict): `feature_names` columns, in order.

        The target column need not be there. Values are converted as in `load()`.
        """
        file = absolute(path)
        frame = read_csv(file, "", UsageError)
        frame.columns = [str(c) for c in frame.columns]
        missing = [name for name in feature_names if name not in frame.columns]
        if missing:
            raise UsageError(
                f"{file} lacks the feature column(s) {missing} the model was trained on"
            )
        return feature_matrix(frame[list(feature_names)], Declared.of(self).categorical)


class Synthetic(Step):
    """Generated data: scikit-learn's make_classification or make_regression.

    Classification uses no redundant or repeated features, so every feature that is not
    informative is noise.

    Parameters
    ----------
    task : Literal["classification", "regression"]
        Which generator to use.
    n_samples : int
        Number of rows generated.
    n_features : int
        Number of feature columns.
    n_informative : int
        Number of features the target depends on (at most n_features).
    n_classes : int
        Number of classes (classification only).
    noise : float
        Standard deviation of the gaussian noise added to the target (regression only).
    val : float
        Fraction of all rows held out for validation (0 = no val split).
    test : float
        Fraction of all rows held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (classification, with shuffle only).
    shuffle : bool
        Shuffle rows before splitting; when false the last rows become val and test.
    random_state : int | None
        Seed of the generator and of the shuffle; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        task: SyntheticTask = "classification",
        n_samples: int = 1000,
        n_features: int = 20,
        n_informative: int = 10,
        n_classes: int = 2,
        noise: float = 0.1,
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.task = task
        self.n_samples = n_samples
        self.n_features = n_features
        self.n_informative = n_informative
        self.n_classes = n_classes
        self.noise = noise
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def infer_task(self) -> str:
        check_fractions(self.val, self.test)
        self._check_sizes()
        return self.task

    def load(self) -> Dataset:
        check_fractions(self.val, self.test)
        self._check_sizes()
        if self.random_state is None:  # new data every time
            return self._load()
        return loaded_once(self, "generated", self._load)

    def _load(self) -> Dataset:
        X, y_raw = self._generate()
        if self.task == "classification":
            y, classes = encode_labels(y_raw)
        else:
            y, classes = np.asarray(y_raw, dtype=np.float64), None
        X = np.asarray(X, dtype=np.float64)
        generator = ("task", "n_samples", "n_features", "n_informative", "n_classes", "noise")
        params = {"source": "synthetic", "random_state": self.random_state}
        params.update({name: getattr(self, name) for name in generator})
        return Dataset(
            splits=split_rows(X, y, self.task, self),
            task=self.task,
            feature_names=[f"x{i}" for i in range(self.n_features)],
            target="y",
            classes=classes,
            fingerprint=array_fingerprint(X, y, params),
            sources=[f"sklearn.datasets.make_{self.task}"],
        )

    def _check_sizes(self) -> None:
        problems = []
        for name in ("n_samples", "n_features", "n_informative"):
            if getattr(self, name) < 1:
                problems.append(Problem(f"{name} must be at least 1", path=f"data.{name}"))
        if self.n_informative > self.n_features:
            problems.append(
                Problem(
                    f"n_informative ({self.n_informative}) exceeds n_features ({self.n_features})",
                    path="data.n_informative",
                )
            )
        if self.task == "classification" and self.n_classes < 2:
            problems.append(Problem("n_classes must be at least 2", path="data.n_classes"))
        if problems:
            raise ConfigError(problems)

    def _generate(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_classification, make_regression

        common = {
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "n_informative": self.n_informative,
            "random_state": self.random_state,
        }
        try:
            if self.task == "regression":
                return make_regression(**common, noise=self.noise)
            return make_classification(
                **common, n_classes=self.n_classes, n_redundant=0, n_repeated=0
            )
        except ValueError as exc:
            raise ConfigError(
                Problem(f"make_{self.task} rejected the parameters: {exc}", path="data")
            ) from exc


@functools.cache  # shipped with scikit-learn: the same in every trial of a process
def _load_toy(name: str) -> Any:
    from sklearn import datasets

    loaders = {n: getattr(datasets, f"load_{n}") for n in ToyName.__args__}
    if name not in loaders:
        raise ConfigError(
            Problem(
                f"unknown toy dataset '{name}'",
                path="data.dataset",
                hint=did_you_mean(name, loaders, "dataset"),
            )
        )
    return loaders[name]()
