"""Built-in preprocessing steps and the pipeline that chains them.

Each class's `build()` gives a fresh, unfitted scikit-learn transformer. `make_pipeline`
chains the steps of a config's `preprocess` list, each applied to its `columns` (by name)
with every other column passed through unchanged. Inside the pipeline the data travels as
a pandas DataFrame, so that a column keeps its name from step to step (one-hot outputs are
named `<column>_<category>`, PCA outputs `pca0`, `pca1`, ...); the pipeline's output is a
dense float64 array, and `output_feature_names` names its columns.

A step whose `columns` is unset picks columns by type: the scalers and PCA every numeric
column, `one_hot` every text column, `impute` every numeric column (mean, median) or every
column (most_frequent, constant).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ednax.errors import ConfigError, Problem, did_you_mean
from ednax.steps.base import Step

HandleUnknown = Literal["error", "ignore"]
DropCategory = Literal["first", "if_binary"]
ImputeStrategy = Literal["mean", "median", "most_frequent", "constant"]

# How a step with `columns` unset picks its columns; "each_type" fits one copy of the
# transformer on the numeric columns and another on the text columns.
NUMERIC, TEXT, EACH_TYPE = "numeric", "text", "each_type"


class StandardScaler(Step):
    """Standardize columns to zero mean and unit variance (statistics of the train split).

    Parameters
    ----------
    columns : list[str] | None
        Columns to scale (None = every numeric column).
    with_mean : bool
        Subtract the mean.
    with_std : bool
        Divide by the standard deviation.
    """

    keeps_width = True

    def __init__(
        self, columns: list[str] | None = None, with_mean: bool = True, with_std: bool = True
    ):
        self.columns = columns
        self.with_mean = with_mean
        self.with_std = with_std

    def default_columns(self) -> str:
        return NUMERIC

    def build(self) -> Any:
        from sklearn.preprocessing import StandardScaler as SkStandardScaler

        return SkStandardScaler(with_mean=self.with_mean, with_std=self.with_std)


class MinMaxScaler(Step):
    """Rescale columns linearly to a range (the train split's min and max map to its ends).

    Parameters
    ----------
    columns : list[str] | None
        Columns to rescale (None = every numeric column).
    feature_range : list[float]
        The [low, high] range of the output.
    clip : bool
        Clip values of other splits that fall outside the range.
    """

    keeps_width = True

    def __init__(
        self,
        columns: list[str] | None = None,
        feature_range: list[float] = (0.0, 1.0),
        clip: bool = False,
    ):
        self.columns = columns
        self.feature_range = feature_range
        self.clip = clip

    def default_columns(self) -> str:
        return NUMERIC

    def build(self) -> Any:
        from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler

        return SkMinMaxScaler(feature_range=tuple(self.feature_range), clip=self.clip)


class OneHot(Step):
    """One-hot encode categorical columns into 0/1 columns named `<column>_<category>`.

    A missing cell is a category of its own (`<column>_nan`).

    Parameters
    ----------
    columns : list[str] | None
        Columns to encode (None = every text column; numeric columns need naming).
    handle_unknown : Literal["error", "ignore"]
        A category not seen in train: ignore encodes it as all zeros, error fails.
    drop : Literal["first", "if_binary"] | None
        Drop the first category of every column, or of two-category columns only.
    """

    keeps_width = False

    def __init__(
        self,
        columns: list[str] | None = None,
        handle_unknown: HandleUnknown = "ignore",
        drop: DropCategory | None = None,
    ):
        self.columns = columns
        self.handle_unknown = handle_unknown
        self.drop = drop

    def default_columns(self) -> str:
        return TEXT

    def build(self) -> Any:
        from sklearn.preprocessing import OneHotEncoder

        return OneHotEncoder(
            handle_unknown=self.handle_unknown,
            drop=self.drop,
            sparse_output=False,
            dtype=np.float64,
        )


class Impute(Step):
    """Fill missing cells with a statistic of the train split or a constant.

    Columns that are entirely empty in train are kept (filled with the constant, or 0).

    Parameters
    ----------
    columns : list[str] | None
        Columns to fill (None = every numeric column for mean/median, else every column).
    strategy : Literal["mean", "median", "most_frequent", "constant"]
        What a missing cell becomes.
    fill_value : float | str | None
        The constant for strategy constant (None = 0 for numbers, "missing_value" for text).
    """

    keeps_width = True

    def __init__(
        self,
        columns: list[str] | None = None,
        strategy: ImputeStrategy = "mean",
        fill_value: float | str | None = None,
    ):
        self.columns = columns
        self.strategy = strategy
        self.fill_value = fill_value

    def default_columns(self) -> str:
        return NUMERIC if self.strategy in ("mean", "median") else EACH_TYPE

    def build(self) -> Any:
        from sklearn.impute import SimpleImputer

        return SimpleImputer(
            strategy=self.strategy, fill_value=self.fill_value, keep_empty_features=True
        )


class PCA(Step):
    """Project columns onto their principal components (outputs pca0, pca1, ...).

    Parameters
    ----------
    columns : list[str] | None
        Columns to project (None = every numeric column).
    n_components : int | float | None
        Components kept: a count, a fraction of variance to explain (0-1), or None for all.
    whiten : bool
        Scale the components to unit variance.
    random_state : int | None
        Seed of the randomized solvers; filled from experiment.seed unless set.
    """

    keeps_width = False

    def __init__(
        self,
        columns: list[str] | None = None,
        n_components: int | float | None = None,
        whiten: bool = False,
        random_state: int | None = None,
    ):
        self.columns = columns
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    def default_columns(self) -> str:
        return NUMERIC

    def build(self) -> Any:
        from sklearn.decomposition import PCA as SkPCA

        return SkPCA(
            n_components=self.n_components, whiten=self.whiten, random_state=self.random_state
        )


def accepts_unseen(pipeline: Any) -> set[str]:
    """The raw columns whose first encoder in the fitted `pipeline` encodes a category it
    did not see in train (its `handle_unknown` is not "error") instead of refusing it."""
    decided: dict[str, bool] = {}
    for _, step in getattr(pipeline, "steps", []):
        for _, estimator, columns in getattr(step, "transformers_", []):
            unknown = getattr(estimator, "handle_unknown", None)
            if unknown is None or not isinstance(columns, list):
                continue
            for column in (c for c in columns if isinstance(c, str)):
                decided.setdefault(column, unknown != "error")
    return {column for column, accepted in decided.items() if accepted}


def make_pipeline(steps: list, feature_names: list[str]) -> Any:
    """An unfitted scikit-learn Pipeline applying `steps` in order to an X of `feature_names`.

    Fit it on the train split only, then transform every split; the output is float64.
    Column names are checked here as far as they are known before fitting (until a one_hot
    or pca step renames columns), and the rest when the pipeline is fitted.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    feature_names = [str(n) for n in feature_names]
    layers: list[tuple[str, Any]] = [
        (
            "to_frame",
            FunctionTransformer(
                _to_frame, kw_args={"columns": feature_names}, feature_names_out=_frame_names
            ),
        )
    ]
    if problems := step_column_problems(steps, feature_names):
        raise ConfigError(problems)
    for i, step in enumerate(steps):
        layer = _column_layer(step, f"preprocess[{i}]")
        layer.set_output(transform="pandas")
        layers.append((f"{i}_{type(step).__name__}", layer))
    layers.append(
        ("to_array", FunctionTransformer(_to_float_array, feature_names_out="one-to-one"))
    )
    return Pipeline(layers)


def output_feature_names(pipeline: Any, feature_names: list[str]) -> list[str]:
    """Names of the columns a fitted `make_pipeline` pipeline outputs."""
    return [str(n) for n in pipeline.get_feature_names_out([str(n) for n in feature_names])]


def _column_layer(step: Any, path: str) -> Any:
    """The step's transformer on its columns, with every other column passed through."""
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer, make_column_selector

    from ednax.steps.estimators import check_sklearn_params

    transformer = check_sklearn_params(step.build(), path, step.get_params())
    if step.columns is not None:
        parts = [("selected", transformer, _Named(list(step.columns), path))]
    else:
        numeric = ("numeric", transformer, make_column_selector(dtype_include="number"))
        text = ("text", clone(transformer), make_column_selector(dtype_exclude="number"))
        parts = {NUMERIC: [numeric], TEXT: [text], EACH_TYPE: [numeric, text]}[
            step.default_columns()
        ]
    return ColumnTransformer(parts, remainder="passthrough", verbose_feature_names_out=False)


def step_column_problems(steps: list, feature_names: list[str]) -> list[Problem]:
    """The steps' `columns` that name no column where the step runs, as far as the names
    are known before fitting (until a step that renames columns, one_hot or pca): checked
    at validate time and again when the pipeline is made."""
    problems: list[Problem] = []
    known: set[str] | None = {str(n) for n in feature_names}
    for i, step in enumerate(steps):
        if step.columns is not None:
            problems += _columns_problems(step.columns, known, f"preprocess[{i}]")
        known = _names_after(step, known)
    return problems


def _columns_problems(columns: list[str], known: set[str] | None, path: str) -> list[Problem]:
    if not columns:
        return [
            Problem(
                "columns is an empty list",
                path=f"{path}.columns",
                hint="leave columns unset to use the default columns",
            )
        ]
    if known is None:
        return []
    return [
        Problem(
            f"no column '{name}' at this step",
            path=f"{path}.columns",
            hint=did_you_mean(str(name), known, "column"),
        )
        for name in columns
        if str(name) not in known
    ]


def _names_after(step: Any, known: set[str] | None) -> set[str] | None:
    """The column names after `step`, or None once they are only known after fitting."""
    if known is None or step.keeps_width:
        return known
    return None


class _Named:
    """Column selector by name; an unknown name is a config error at fit time."""

    def __init__(self, columns: list[str], path: str):
        self.columns = columns
        self.path = path

    def __call__(self, frame: Any) -> list[str]:
        present = [str(c) for c in frame.columns]
        problems = [
            Problem(
                f"no column '{name}' at this step (columns: {', '.join(present)})",
                path=f"{self.path}.columns",
                hint=did_you_mean(str(name), present, "column"),
            )
            for name in self.columns
            if name not in present
        ]
        if problems:
            raise ConfigError(problems)
        return list(self.columns)


def _to_frame(X: Any, columns: list[str]) -> Any:
    """X as a DataFrame: numeric columns as float64, the others as text (missing = NaN)."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != len(columns):
        raise ValueError(f"expected {len(columns)} feature columns, got an array of {X.shape}")
    if X.dtype != object:
        return pd.DataFrame(X.astype(np.float64, copy=False), columns=columns)
    return pd.DataFrame({name: _typed_column(X[:, j]) for j, name in enumerate(columns)})


def _typed_column(values: np.ndarray) -> Any:
    import pandas as pd

    if any(isinstance(v, str) for v in values):  # text, even of digits (data.categorical)
        return pd.Series([np.nan if pd.isna(v) else str(v) for v in values], dtype=object)
    try:
        return pd.to_numeric(pd.Series(values), errors="raise").astype(np.float64)
    except (ValueError, TypeError):
        return pd.Series([np.nan if pd.isna(v) else str(v) for v in values], dtype=object)


def _frame_names(transformer: Any, input_features: Any) -> np.ndarray:
    return np.asarray(transformer.kw_args["columns"], dtype=object)


def _to_float_array(frame: Any) -> np.ndarray:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        return np.asarray(frame, dtype=np.float64)
    try:
        return frame.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        text = [
            str(name)
            for name in frame.columns
            if pd.to_numeric(frame[name], errors="coerce").isna().sum() > frame[name].isna().sum()
        ]
        raise ConfigError(
            Problem(
                f"column(s) {', '.join(text)} still hold text after preprocessing",
                path="preprocess",
                hint="add {type: one_hot} to preprocess (it encodes every text column)",
            )
        ) from None
