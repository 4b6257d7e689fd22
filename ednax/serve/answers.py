"""Predictions as the JSON the endpoints answer: the columns of `ednax predict`'s CSV
(`Predictions.to_frame`), values not rounded, a missing or non-finite number null.

The columns are read straight from the arrays where the values are plain (ids all ints or
all strings, classes likewise): a one-row DataFrame costs about 0.4 ms, a fifth of a
quick request. What pandas gives back of such a column (`tolist`) is the same values, so
other ids and classes, mixed or of other types, go through `to_frame` as before.
"""

from __future__ import annotations

import math
from typing import Any

from ednax.engine.predict import Predictions

Columns = list[tuple[str, list[Any]]]


def rows(predictions: Predictions) -> list[dict[str, Any]]:
    """One JSON object a row: id, prediction and one proba_<class> a class."""
    columns = prediction_columns(predictions)
    names = [name for name, _ in columns]
    return [
        {name: number(value) for name, value in zip(names, values, strict=True)}
        for values in zip(*(values for _, values in columns), strict=True)
    ]


def labels(predictions: Predictions) -> list[Any]:
    """The predicted class (or value) of each row: predict's "prediction" column."""
    return [number(v) for v in dict(prediction_columns(predictions))["prediction"]]


def prediction_columns(predictions: Predictions) -> Columns:
    """The columns of `Predictions.to_frame`, each as its `tolist()`."""
    plain = _plain_columns(predictions)
    if plain is not None:
        return plain
    frame = predictions.to_frame()
    return [(str(c), frame[c].tolist()) for c in frame.columns]


def _plain_columns(predictions: Predictions) -> Columns | None:
    p = predictions
    if not _one_plain_type(p.ids):
        return None
    if p.classes is None:
        values = [float(v) for v in p.values]
    elif _one_plain_type(p.classes):
        values = [p.classes[int(v)] for v in p.values]
    else:
        return None
    columns = [(p.id_name, list(p.ids)), ("prediction", values)]
    if p.proba is not None and p.classes is not None:
        columns += [(f"proba_{c}", p.proba[:, k].tolist()) for k, c in enumerate(p.classes)]
    return columns


def _one_plain_type(values: Any) -> bool:
    """All ints (not booleans) or all strings: what pandas keeps as it is given."""
    kinds = {type(v) for v in values}
    return kinds == {int} or kinds == {str}


def number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finite(value: Any) -> Any:
    """`value` with NaN and infinities as null (JSON has neither)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return number(value)
