"""JSON rows of plain numbers straight to the (ids, X) that the engine's `check_frame`
makes of them, without a DataFrame.

`check_frame` builds and checks the request's rows column by column in pandas: about 2 ms
for one row, most of a request's time once the model is quick. For a run whose features
are all numeric, a request in one of the plain shapes (`{"columns", "data"}`,
`{"dataframe_split"}`, or `instances`/`inputs`/`dataframe_records` as records or as rows in
the training column order) that holds every feature, no column the checks would refuse,
no id column, and a JSON number (not a boolean) for every feature value, is one the checks
accept; its ids are the row numbers and its matrix each value as float64 in the training
column order, what pandas makes of the same numbers. One pass over the payload tells.

This module judges no request: everything else (a missing or unknown column, a value that
is not a number, null, an id column, a categorical run) returns None and goes through
`payloads.json_rows` and `check_frame`, which say what is wrong in `ednax predict`'s words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RECORD_KEYS = ("instances", "inputs", "dataframe_records")
EXACT_INT = 2**53  # an int up to this converts to the same float everywhere

Checked = tuple[list[int], np.ndarray]


def numeric_rows(payload: Any, schema: dict[str, Any], id_column: str | None) -> Checked | None:
    """(ids, X) of a plain payload of numbers, as `check_frame` would give them; None for
    any payload `check_frame` should see."""
    if id_column is not None or not isinstance(payload, dict):
        return None
    if schema.get("modality", "tabular") != "tabular":
        return None
    if any(f["kind"] != "numeric" for f in schema["features"]):
        return None
    features = [f["name"] for f in schema["features"]]
    allowed = {*features, *(schema.get("dropped") or ()), schema.get("target")} - {None}
    rows = _feature_values(payload, features, allowed)
    if not rows:
        return None
    return list(range(len(rows))), np.array(rows, dtype=np.float64)


def _feature_values(payload: dict, features: list[str], allowed: set) -> list[list] | None:
    """Each row's feature values in the training column order, if the payload is plain."""
    keys = set(payload)
    if keys == {"columns", "data"}:
        return _split(payload["columns"], payload["data"], features, allowed)
    if keys == {"dataframe_split"}:
        split = payload["dataframe_split"]
        if isinstance(split, dict) and set(split) == {"columns", "data"}:
            return _split(split["columns"], split["data"], features, allowed)
        return None
    key = next(iter(keys)) if len(keys) == 1 else None
    rows = payload[key] if key in RECORD_KEYS else None
    if not isinstance(rows, list):
        return None
    if all(type(row) is dict for row in rows):
        return _records(rows, features, allowed)
    if key != "dataframe_records" and all(type(row) is list for row in rows):
        return _positional(rows, len(features))
    return None


def _split(columns: Any, data: Any, features: list[str], allowed: set) -> list[list] | None:
    if type(columns) is not list or type(data) is not list:
        return None
    if not all(type(c) is str for c in columns) or len(set(columns)) != len(columns):
        return None
    if not set(features) <= set(columns) <= allowed:
        return None
    positions = [columns.index(f) for f in features]
    values = []
    for row in data:
        if type(row) is not list or len(row) != len(columns):
            return None
        picked = [row[j] for j in positions]
        if not all(map(_plain_number, picked)):
            return None
        values.append(picked)
    return values


def _records(rows: list[dict], features: list[str], allowed: set) -> list[list] | None:
    needed = set(features)
    values = []
    for row in rows:
        if not needed <= row.keys() <= allowed:
            return None
        picked = [row[f] for f in features]
        if not all(map(_plain_number, picked)):
            return None
        values.append(picked)
    return values


def _positional(rows: list[list], width: int) -> list[list] | None:
    for row in rows:
        if len(row) != width or not all(map(_plain_number, row)):
            return None
    return rows


def _plain_number(value: Any) -> bool:
    kind = type(value)
    return kind is float or (kind is int and -EXACT_INT <= value <= EXACT_INT)
