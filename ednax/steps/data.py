"""Built-in data steps: scikit-learn's toy sets, a CSV file, generated data.

Each class's `load()` returns a `Dataset` with train/val/test splits made by one shared,
seeded helper, so every source splits the same way. For classification `y` holds class
indices 0..k-1 and `Dataset.classes` the original labels as plain python values.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Literal

import numpy as np

from ednax.errors import ConfigError, Problem, UsageError, did_you_mean
from ednax.steps.base import Dataset, Split, Step

ToyName = Literal["iris", "wine", "breast_cancer", "digits", "diabetes"]
CsvTask = Literal["auto", "classification", "regression"]
SyntheticTask = Literal["classification", "regression"]

# In `task: auto`, an integer-valued numeric target with at most this many distinct values
# is taken for class labels; anything else numeric is a regression target.
MAX_AUTO_CLASSES = 20

_REGRESSION_TOYS = ("diabetes",)
_IMAGE_SHAPES = {"digits": (1, 8, 8)}


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
        _check_fractions(self.val, self.test)
        return "regression" if self.dataset in _REGRESSION_TOYS else "classification"

    def load(self) -> Dataset:
        _check_fractions(self.val, self.test)
        bunch = _load_toy(self.dataset)
        X = np.asarray(bunch.data, dtype=np.float64).reshape(len(bunch.data), -1)
        task = "regression" if self.dataset in _REGRESSION_TOYS else "classification"
        if task == "classification":
            names = getattr(bunch, "target_names", None)
            y, classes = _encode_labels(bunch.target)
            if names is not None:
                classes = [_plain(names[int(c)]) for c in classes]
        else:
            y, classes = np.asarray(bunch.target, dtype=np.float64), None
        fingerprint = _array_fingerprint(X, y, {"source": "sklearn_toy", "dataset": self.dataset})
        return Dataset(
            splits=_split_rows(X, y, task, self),
            task=task,
            feature_names=[str(n) for n in bunch.feature_names],
            target="target",
            classes=classes,
            input_shape=_IMAGE_SHAPES.get(self.dataset),
            fingerprint=fingerprint,
            sources=[f"sklearn.datasets.load_{self.dataset}"],
        )


class Csv(Step):
    """A CSV file with a header row: one column is the target, others the features.

    With `task: auto` the task is classification when the target is non-numeric (text,
    boolean) or integer-valued with at most 20 distinct values, else regression. Features
    that are all numeric give a float64 X (missing cells as NaN); if any feature column holds
    text, X is an object array (text as str, missing as NaN) for `one_hot` to encode.

    Parameters
    ----------
    path : str
        The CSV file; a relative path is taken from the current directory.
    target : str
        Name of the column to predict.
    features : list[str] | None
        Columns to use as features, in this order (None = every column but the target).
    task : Literal["auto", "classification", "regression"]
        What the target is; auto decides from its values (see above).
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
        path: str,
        target: str,
        features: list[str] | None = None,
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
        self.task = task
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def infer_task(self) -> str:
        """The task, from `task` or the target column's values; checks that the file, the
        target and the feature columns exist, so a config fails before any work."""
        import pandas as pd

        _check_fractions(self.val, self.test)
        path = _absolute(self.path)
        header = _read_csv(path, "data.path", ConfigError, nrows=0)
        columns = [str(c) for c in header.columns]
        self._check_target(columns, path)
        self._feature_columns(columns)
        target = pd.read_csv(path, usecols=[self.target])[self.target]
        return self._resolve_task(target)

    def _check_target(self, columns: list[str], path: pathlib.Path) -> None:
        if self.target not in columns:
            raise ConfigError(
                Problem(
                    f"no column '{self.target}' in {path}",
                    path="data.target",
                    hint=did_you_mean(self.target, columns, "column"),
                )
            )

    def load(self) -> Dataset:
        _check_fractions(self.val, self.test)
        path = _absolute(self.path)
        frame = _read_csv(path, "data.path", ConfigError)
        columns = [str(c) for c in frame.columns]
        frame.columns = columns
        self._check_target(columns, path)
        features = self._feature_columns(columns)
        target = frame[self.target]
        if target.isna().any():
            missing = [int(i) for i in np.flatnonzero(target.isna().to_numpy())[:5]]
            raise ConfigError(
                Problem(
                    f"target column '{self.target}' has {int(target.isna().sum())} empty "
                    f"cell(s) (first rows: {missing})",
                    path="data.target",
                    hint="fill or drop those rows in the file, or choose another target",
                )
            )
        task = self._resolve_task(target)
        if task == "classification":
            y, classes = _encode_labels(target.to_numpy())
        else:
            y, classes = target.to_numpy(dtype=np.float64), None
        X = feature_matrix(frame[features])
        return Dataset(
            splits=_split_rows(X, y, task, self),
            task=task,
            feature_names=features,
            target=self.target,
            classes=classes,
            fingerprint=hashlib.sha256(path.read_bytes()).hexdigest(),
            sources=[str(path)],
        )

    def read_features(self, path: str, feature_names: list[str]) -> np.ndarray:
        """X of another CSV (e.g. new rows to predict): `feature_names` columns, in order.

        The target column need not be there. Values are converted as in `load()`.
        """
        file = _absolute(path)
        frame = _read_csv(file, "", UsageError)
        frame.columns = [str(c) for c in frame.columns]
        missing = [name for name in feature_names if name not in frame.columns]
        if missing:
            raise UsageError(
                f"{file} lacks the feature column(s) {missing} the model was trained on"
            )
        return feature_matrix(frame[list(feature_names)])

    def _feature_columns(self, columns: list[str]) -> list[str]:
        if self.features is None:
            features = [c for c in columns if c != self.target]
        else:
            features = [str(f) for f in self.features]
        problems = [
            Problem(
                f"no column '{name}' in {self.path}",
                path="data.features",
                hint=did_you_mean(name, columns, "column"),
            )
            for name in features
            if name not in columns
        ]
        if self.target in features:
            problems.append(
                Problem(
                    f"the target '{self.target}' cannot also be a feature",
                    path="data.features",
                    hint=f"remove '{self.target}' from data.features",
                )
            )
        if not features and not problems:
            problems.append(Problem("no feature columns left", path="data.features"))
        if problems:
            raise ConfigError(problems)
        return features

    def _resolve_task(self, target: Any) -> str:
        import pandas as pd

        numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
        if self.task == "regression" and not numeric:
            raise ConfigError(
                Problem(
                    f"regression needs a numeric target; '{self.target}' is "
                    f"{target.dtype} (e.g. {target.iloc[0]!r})",
                    path="data.task",
                    hint="use task: classification, or choose a numeric target column",
                )
            )
        if self.task != "auto":
            return self.task
        if not numeric:
            return "classification"
        values = target.to_numpy(dtype=np.float64)
        whole = bool(np.all(np.mod(values, 1) == 0))
        few = target.nunique() <= MAX_AUTO_CLASSES
        return "classification" if whole and few else "regression"


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
        _check_fractions(self.val, self.test)
        self._check_sizes()
        return self.task

    def load(self) -> Dataset:
        _check_fractions(self.val, self.test)
        self._check_sizes()
        X, y_raw = self._generate()
        if self.task == "classification":
            y, classes = _encode_labels(y_raw)
        else:
            y, classes = np.asarray(y_raw, dtype=np.float64), None
        X = np.asarray(X, dtype=np.float64)
        generator = ("task", "n_samples", "n_features", "n_informative", "n_classes", "noise")
        params = {"source": "synthetic", "random_state": self.random_state}
        params.update({name: getattr(self, name) for name in generator})
        return Dataset(
            splits=_split_rows(X, y, self.task, self),
            task=self.task,
            feature_names=[f"x{i}" for i in range(self.n_features)],
            target="y",
            classes=classes,
            fingerprint=_array_fingerprint(X, y, params),
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


def _absolute(path: str) -> pathlib.Path:
    candidate = pathlib.Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = pathlib.Path.cwd() / candidate
    return candidate.resolve()


def _read_csv(path: pathlib.Path, key: str, error: type, nrows: int | None = None) -> Any:
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


def _check_fractions(val: float, test: float) -> None:
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


def _encode_labels(labels: Any) -> tuple[np.ndarray, list[Any]]:
    """Class indices 0..k-1 (int64) in sorted label order, and the labels as python values."""
    import pandas as pd

    values = pd.Series(np.asarray(labels))
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # labels of mixed types do not sort together; their text does
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.int64), [_plain(u) for u in uniques.tolist()]


def _plain(value: Any) -> Any:
    """A JSON-friendly python value: numpy scalars unwrapped, whole floats as int."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _array_fingerprint(X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for array in (X, y):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _split_rows(X: np.ndarray, y: np.ndarray, task: str, step: Any) -> dict[str, Split]:
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
