"""Request bodies to the rows (a DataFrame) or images a run predicts.

JSON bodies, on `/v1/predict` and MLflow's `/invocations` alike, hold exactly one of:

    {"instances": [{"col": value, ...}, ...]}           records (also MLflow's "inputs")
    {"instances": [[value, ...], ...]}                  rows in the training column order
    {"instances": {"col": [value, ...], ...}}           columns
    {"columns": ["col", ...], "data": [[value, ...]]}   pandas' split orient
    {"dataframe_split": {"columns": [...], "data": [[...]]}}  MLflow
    {"dataframe_records": [{...}, ...]}                        MLflow

(MLflow's optional "params" must be empty: a run takes no inference parameters.) A CSV
body (Content-Type text/csv) is read as `ednax predict` reads its file. Whether the rows
suit the model (columns, numbers, categories) is the engine's `check_frame`'s to say;
this module only says whether the body has the shape of rows at all.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from ednax.serve.limits import BodyTooLarge
from ednax.serve.served import Images

JSON_TYPES = ("application/json", "text/json")
CSV_TYPES = ("text/csv", "application/csv")
FORM_TYPE = "multipart/form-data"
ROW_KEYS = ("instances", "inputs", "dataframe_records")
SPLIT_KEYS = ("dataframe_split", "columns")
_KEYS_TEXT = "'instances', 'columns' and 'data', 'dataframe_split', 'dataframe_records' or 'inputs'"


class RequestError(Exception):
    """A request this server cannot take: its HTTP status and what to tell the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def media_type(content_type: str | None) -> str:
    """'text/csv' of 'text/csv; charset=utf-8'; JSON when the client said nothing."""
    if not content_type:
        return JSON_TYPES[0]
    return content_type.split(";", 1)[0].strip().lower()


def rows_of(body: bytes, content_type: str | None, features: Sequence[str]) -> Any:
    """The rows of a JSON or CSV body, as a DataFrame with the columns the client sent."""
    kind = media_type(content_type)
    if kind in CSV_TYPES:
        return csv_rows(body)
    if is_json(kind):
        return json_rows(parse_json(body), features)
    hint = ""
    if kind == "application/x-www-form-urlencoded":
        hint = " (curl -d sends that; add -H 'Content-Type: application/json')"
    raise RequestError(
        415,
        f"Content-Type {kind!r} is not one this endpoint takes{hint}: send "
        f"application/json or text/csv",
    )


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind in JSON_TYPES or kind.endswith("+json")


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise RequestError(400, f"the body is empty: send a JSON object with {_KEYS_TEXT}")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None


def csv_rows(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        # EmptyDataError is a ValueError: "No columns to parse from file"
        raise RequestError(400, f"the body is not a CSV that can be read: {exc}") from None


def json_rows(payload: Any, features: Sequence[str]) -> Any:
    """A DataFrame of the rows a JSON payload holds, in any of the shapes above."""
    if not isinstance(payload, dict):
        raise RequestError(
            422, f"the body must be a JSON object with {_KEYS_TEXT}; it is a {_kind(payload)}"
        )
    if payload.get("params"):
        raise RequestError(422, "'params' is not taken: an ednax run has no inference parameters")
    keys = [k for k in (*ROW_KEYS, *SPLIT_KEYS) if k in payload]
    extra = {"params", "data", "index"} if keys == ["columns"] else {"params"}
    if len(keys) != 1 or set(payload) - set(keys) - extra:
        found = ", ".join(repr(k) for k in payload) or "no keys"
        raise RequestError(422, f"the body must hold exactly one of {_KEYS_TEXT}; it has {found}")
    [key] = keys
    if key == "columns":
        return _split(payload, "the body")
    if key == "dataframe_split":
        split = payload[key]
        if not isinstance(split, dict):
            raise RequestError(422, f"'dataframe_split' must be an object, not a {_kind(split)}")
        return _split(split, "'dataframe_split'")
    return _rows(payload[key], key, features, records_only=key == "dataframe_records")


def _split(split: dict[str, Any], where: str) -> Any:
    """pandas' split orient: column names, and rows of values in their order."""
    import pandas as pd

    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not isinstance(data, list):
        raise RequestError(422, f"{where} must have 'columns' (a list of names) and 'data' (rows)")
    names = [str(c) for c in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RequestError(422, f"{where}: columns are named more than once: {twice}")
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(names):
            got = f"{len(row)} values" if isinstance(row, list) else f"a {_kind(row)}"
            raise RequestError(422, f"data[{i}] has {got}, for {len(names)} columns")
    return _nonempty(pd.DataFrame(data, columns=names))


def _rows(rows: Any, key: str, features: Sequence[str], *, records_only: bool) -> Any:
    """Records, rows of values in the training column order, or a mapping of columns."""
    import pandas as pd

    if isinstance(rows, dict) and not records_only:
        return _nonempty(_columns(rows, key))
    if not isinstance(rows, list):
        raise RequestError(422, f"'{key}' must be a list of rows, not a {_kind(rows)}")
    if all(isinstance(r, dict) for r in rows):
        return _nonempty(pd.DataFrame(rows))
    if records_only or not all(isinstance(r, list) for r in rows):
        i, row = next((i, r) for i, r in enumerate(rows) if not isinstance(r, dict))
        shapes = "objects (column: value)" + ("" if records_only else " or lists of values")
        raise RequestError(422, f"{key}[{i}] is a {_kind(row)}: give {shapes}")
    for i, row in enumerate(rows):
        if len(row) != len(features):
            raise RequestError(
                422,
                f"{key}[{i}] has {len(row)} values; the model takes {len(features)}, in this "
                f"order: {', '.join(features)}",
            )
    return _nonempty(pd.DataFrame(rows, columns=list(features)))


def _columns(columns: dict[str, Any], key: str) -> Any:
    """{"col": [values...]} (or one row of scalars) as a DataFrame."""
    import pandas as pd

    lists = [isinstance(v, list) for v in columns.values()]
    if all(lists):
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise RequestError(422, f"the columns of '{key}' have different lengths")
        return pd.DataFrame(columns)
    if any(lists):
        raise RequestError(422, f"'{key}' mixes lists and single values: give one or the other")
    return pd.DataFrame([columns])


def _nonempty(frame: Any) -> Any:
    if len(frame) == 0:
        raise RequestError(422, "the request holds no rows to predict")
    return frame


async def image_files(request: Any) -> list[tuple[str, bytes]]:
    """The image files of a multipart request (`files`, one or more): name and bytes."""
    kind = media_type(request.headers.get("content-type"))
    if kind != FORM_TYPE:
        raise RequestError(
            415,
            f"this run predicts images: send them as multipart/form-data files named "
            f"'files' (curl -F files=@image.png), not {kind!r}",
        )
    try:
        form = await request.form()
    except BodyTooLarge:
        raise
    except Exception as exc:  # python-multipart's parse errors, starlette's limits
        raise RequestError(
            400, f"the body is not a multipart form that can be read: {exc}"
        ) from None
    uploads = [f for f in form.getlist("files") if hasattr(f, "read")]
    if not uploads:
        raise RequestError(422, "no image files: send one or more form files named 'files'")
    named = [(u.filename or f"files[{i}]", await u.read()) for i, u in enumerate(uploads)]
    await form.close()
    return named


def decoded(files: list[tuple[str, bytes]], schema: dict[str, Any]) -> Images:
    """The files decoded as the run's data step decoded its own images (channels and
    size from data_schema.json)."""
    from ednax.errors import EdnaxError
    from ednax.steps.images.files import decode

    image = schema["image"]
    channels, size = int(image["channels"]), tuple(int(s) for s in image["size"])
    pixels = []
    for name, data in files:
        try:
            pixels.append(decode(io.BytesIO(data), channels, size))  # Pillow opens a stream too
        except EdnaxError as exc:
            cause = exc.__cause__ or exc
            reason = str(cause).split(" <_io.")[0]  # not the stream's repr
            raise RequestError(
                422, f"file '{name}' is not an image that can be read: {reason}"
            ) from None
    return Images([name for name, _ in files], pixels)


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )
