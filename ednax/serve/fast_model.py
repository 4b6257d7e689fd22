"""A tabular estimator run's model call on plain arrays: the numbers `Predictor.predict`
gives, without what scikit-learn spends around them on a request of a few rows.

On one row, the fitted preprocessing (`steps/preprocess.py`: a DataFrame carried through
one ColumnTransformer a step) cost about 3 ms in pandas and column checks around 0.3 ms of
arithmetic, and a 100-tree forest's `predict_proba` about 6 ms in joblib's per-tree
wrapper (a config context and the warning filters set up again for each tree) around
1.5 ms of trees. Where the run allows it, the server makes the same calls without them:

- The preprocessing as array steps: each ColumnTransformer's fitted transformers applied
  to their columns of a float array and stacked in the order the ColumnTransformer stacks
  them. Only for transformers that compute each cell from its column's fitted statistics
  (`ELEMENTWISE`: the result does not depend on the array's memory layout), on copies made
  for arrays (no feature names to check, plain array output); the stored artifact is not
  touched. The plan is checked against the pipeline itself on probe rows when it is made.
- A scikit-learn forest's trees read one after another and summed in their order, as the
  forest's own `predict_proba` (or a regressor's `predict`) does when it runs its trees in
  one job; each tree's leaf values are read from its fitted `tree_` where that is what the
  tree's own method returns on probe rows (skipping its fitted check, 20 us a tree). A
  forest with `n_jobs` other than 1 keeps its own call.

Anything else (text columns, other transformers, another estimator) goes the way
`ednax predict` goes, through the fitted objects' own methods.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from ednax.engine.predict import Predictions, Predictor, estimator_outputs

# (module, class) of the transformers whose output cell depends only on its input cell and
# fitted per-column statistics
ELEMENTWISE = {
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn.preprocessing._data", "MinMaxScaler"),
    ("sklearn.impute._base", "SimpleImputer"),
}
PROBES = (0.0, 1.0, -2.5, 1e3, np.nan)  # probe rows: each value in every column

Part = tuple[Any, np.ndarray]  # a fitted transformer (None: passed through) and its columns
Outputs = tuple[np.ndarray, np.ndarray | None]


class ArrayModel:
    """`Predictor.predict` for a run whose raw features are all numeric: the preprocessing
    as array steps where `array_steps` could make them, the forest's trees in a loop
    where `forest_call` could."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.pipeline = predictor.unpickled(predictor.prefix + "preprocess.pkl")
        self.estimator = predictor.unpickled(predictor.prefix + "model.pkl")
        self.steps = array_steps(self.pipeline, len(predictor.features))
        self.forest = forest_call(self.estimator)

    @classmethod
    def of(cls, predictor: Predictor) -> ArrayModel | None:
        """The array model of a tabular scikit-learn run of numeric features whose
        preprocessing or model has a faster form; None for any other run."""
        schema = predictor.schema
        if predictor.family == "torch" or schema.get("modality", "tabular") != "tabular":
            return None
        if any(f["kind"] != "numeric" for f in schema["features"]):
            return None
        model = cls(predictor)
        return model if model.steps is not None or model.forest is not None else None

    def predict(self, X: np.ndarray, ids: list[Any]) -> Predictions:
        values, proba = self.outputs(self.transform(X))
        return Predictions(ids, values, proba, self.predictor.schema.get("classes"))

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.steps is None:
            return np.asarray(self.pipeline.transform(X), dtype=np.float64)
        return apply_steps(self.steps, X)

    def outputs(self, X: np.ndarray) -> Outputs:
        if self.forest is not None:
            found = self.forest(X)
            if found is not None:
                return found
        return estimator_outputs(self.estimator, X)


def apply_steps(steps: list[list[Part]], X: np.ndarray) -> np.ndarray:
    for parts in steps:
        X = np.hstack([X[:, idx] if t is None else t.transform(X[:, idx]) for t, idx in parts])
    return np.asarray(X, dtype=np.float64)


def array_steps(pipeline: Any, width: int) -> list[list[Part]] | None:
    """The fitted pipeline of `steps.preprocess.make_pipeline` as array steps, each the
    parts of one ColumnTransformer; None where a step is not one this module can take, or
    where the steps give other numbers than the pipeline on the probe rows."""
    from sklearn.compose import ColumnTransformer

    names = [name for name, _ in getattr(pipeline, "steps", [])]
    if len(names) < 2 or (names[0], names[-1]) != ("to_frame", "to_array"):
        return None
    layers = [step for _, step in pipeline.steps[1:-1]]
    if any(type(layer) is not ColumnTransformer for layer in layers):
        return None
    steps = [_parts(layer) for layer in layers]
    if any(parts is None for parts in steps):
        return None
    probes = np.array([[value] * width for value in PROBES], dtype=np.float64)
    try:
        expected = np.asarray(pipeline.transform(probes), dtype=np.float64)
        same = np.array_equal(apply_steps(steps, probes), expected, equal_nan=True)
    except Exception:  # a shape this module misread: the pipeline's own way, then
        return None
    return steps if same else None


def _parts(layer: Any) -> list[Part] | None:
    """A fitted ColumnTransformer's transformers in the order it stacks their outputs
    (remainder last), each with the positions of its columns; None if one is not
    elementwise or names its columns in a form other than a list."""
    if getattr(layer, "sparse_output_", False):
        return None
    names = [str(n) for n in layer.feature_names_in_]
    parts: list[Part] = []
    for _, transformer, columns in layer.transformers_:
        if not isinstance(columns, list) or not all(isinstance(c, str | int) for c in columns):
            return None
        if not columns or (isinstance(transformer, str) and transformer == "drop"):
            continue
        idx = np.array([c if isinstance(c, int) else names.index(c) for c in columns])
        if isinstance(transformer, str) and transformer == "passthrough":
            parts.append((None, idx))
        elif (type(transformer).__module__, type(transformer).__name__) in ELEMENTWISE:
            parts.append((_for_arrays(transformer), idx))
        else:
            return None
    return parts


def _for_arrays(transformer: Any) -> Any:
    """A copy of a transformer fitted on a DataFrame that takes an array as it took the
    frame: no feature names to compare (each call would warn), an array out."""
    copied = copy.deepcopy(transformer)
    if hasattr(copied, "feature_names_in_"):
        del copied.feature_names_in_
    copied.set_output(transform="default")
    return copied


def forest_call(estimator: Any) -> Callable[[np.ndarray], Outputs | None] | None:
    """The outputs of a one-output scikit-learn forest that runs its trees in one job, by
    its trees called in order and summed as the forest sums them; None for any other
    estimator."""
    from joblib import effective_n_jobs
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    kind = type(estimator)
    jobs = getattr(estimator, "n_jobs", None)  # a boosted model or a single tree has none
    if getattr(estimator, "n_outputs_", None) != 1 or effective_n_jobs(jobs) != 1:
        return None
    if (
        kind.predict is RandomForestClassifier.predict
        and kind.predict_proba is RandomForestClassifier.predict_proba
    ):
        width, method = estimator.n_classes_, "predict_proba"
    elif kind.predict is RandomForestRegressor.predict:
        width, method = None, "predict"
    else:
        return None
    read = _tree_reader(estimator, method, width)

    def call(X: np.ndarray) -> Outputs | None:
        rows = _tree_rows(estimator, X)
        if rows is None:
            return None
        total = np.zeros((len(rows), width) if width else len(rows), dtype=np.float64)
        for tree in estimator.estimators_:
            total += read(tree, rows)
        total /= len(estimator.estimators_)
        if width is None:
            return total, None
        return estimator.classes_.take(np.argmax(total, axis=1), axis=0), total

    return call


def _tree_reader(forest: Any, method: str, width: int | None) -> Callable[[Any, Any], Any]:
    """How a tree's output is read: from its fitted `tree_` (the leaf's values, which the
    tree's `predict_proba`/`predict` return after checking that the tree is fitted, 20 us a
    tree), where every tree gives that on probe rows; else by the tree's own method."""

    def leaves(tree: Any, rows: np.ndarray) -> np.ndarray:
        values = tree.tree_.predict(rows)
        return values[:, 0] if width is None else values[:, :width]

    def own(tree: Any, rows: np.ndarray) -> np.ndarray:
        return getattr(tree, method)(rows, check_input=False)

    probes = np.random.default_rng(0).normal(0, 3, (64, forest.n_features_in_))
    probes = probes.astype(np.float32)
    same = all(
        np.array_equal(leaves(tree, probes), own(tree, probes)) for tree in forest.estimators_
    )
    return leaves if same else own


def _tree_rows(forest: Any, X: np.ndarray) -> np.ndarray | None:
    """X as the forest's trees take it (float32), or None where the forest's own checks
    have something to say or decide (a missing or infinite value, another width)."""
    rows = np.asarray(X, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != forest.n_features_in_ or not np.isfinite(rows).all():
        return None
    return rows
