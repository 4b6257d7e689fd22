"""The HTTP endpoints of `ednax serve`, built around one `ServedRun`.

    GET  /health        {"status": "ok"}  (and MLflow's /ping)
    GET  /v1/model      the run: id, experiment, version, task, classes, input, metrics
    POST /v1/predict    rows (JSON or CSV) or image files -> what `ednax predict` writes
    POST /invocations   MLflow's scoring protocol -> {"predictions": [...]}
    GET  /docs          the OpenAPI page

Every error is JSON, {"error": "<what to fix>"}: 400 for a body that cannot be parsed,
413 for one over `--max-body-mb`, 415 for a Content-Type not taken, 422 for rows that do
not suit the model (the messages of `ednax predict`), 500 {"error": "internal error"} for
anything else, with the traceback in the server's log and never in the response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ednax.engine.predict import Predictions
from ednax.errors import EdnaxError
from ednax.serve.answers import finite, labels, rows
from ednax.serve.limits import BodyLimit
from ednax.serve.numeric_rows import numeric_rows
from ednax.serve.payloads import (
    RequestError,
    decoded,
    image_files,
    is_json,
    json_rows,
    parse_json,
    rows_of,
)
from ednax.serve.served import ServedRun

log = logging.getLogger("uvicorn.error")  # uvicorn's log: the server's stderr

WHAT = "the request"  # how check_frame names where the rows came from

_ROW_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object"},
            "examples": {
                "records": {"value": {"instances": [{"feature": 1.0}]}},
                "columns": {"value": {"columns": ["feature"], "data": [[1.0]]}},
                "dataframe_split": {
                    "value": {"dataframe_split": {"columns": ["feature"], "data": [[1.0]]}}
                },
                "dataframe_records": {"value": {"dataframe_records": [{"feature": 1.0}]}},
            },
        },
        "text/csv": {"schema": {"type": "string"}, "example": "feature\n1.0\n"},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                },
            }
        },
    },
}


def build_app(served: ServedRun, max_body_bytes: int) -> FastAPI:
    run = served.describe()
    app = FastAPI(
        title=f"ednax: {run['experiment']} {run['id']}",
        description=(
            f"Predictions of run {run['id']} ({run['experiment']}, {run['task']}), as "
            '`ednax predict` makes them. Errors are JSON: {"error": "..."}.'
        ),
        version=run["version"] or "unknown",
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    _error_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, str]:  # async: no thread for an answer this small
        """The server is up and its run loaded: {"status": "ok"}."""
        return {"status": "ok"}

    app.add_api_route("/ping", health, methods=["GET"], include_in_schema=False)  # MLflow's

    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        """The run served: {"id", "experiment", "version" (v1, v2, ... as `ednax runs`
        numbers it), "family" (sklearn or torch), "task", "classes" (null for regression),
        "fold", "target", "input", "metrics"}. "input" is {"modality": "tabular",
        "features": [{"name", "kind": "numeric" | "categorical", "categories"}]} (the
        training schema, artifacts/data_schema.json) or {"modality": "image", "channels",
        "size": [height, width]}; "metrics" is metrics.json, by split."""
        return finite(run)

    @app.post("/v1/predict", openapi_extra={"requestBody": _ROW_BODY})
    async def predict(
        request: Request,
        id_column: str | None = Query(
            None, description="a column of the rows to return as the id (`--id-column`)"
        ),
    ) -> JSONResponse:
        """Predictions, as `ednax predict` writes them for the same rows.

        Body: JSON (`{"instances": [{column: value, ...}, ...]}`, `{"columns": [...],
        "data": [[...], ...]}`, or MLflow's shapes, see /invocations) or a CSV
        (Content-Type text/csv). An image run takes multipart files named `files`.

        Response: `{"predictions": [{"id": ..., "prediction": ..., "proba_<class>": ...,
        ...}, ...]}`, one object per row in the order sent, with the columns of
        predict's CSV: "id" (the row's number from 0, or its `id_column` value; "path",
        the file name, for images), "prediction" (the class, or the value for regression)
        and one "proba_<class>" per class for a classifier with probabilities. Numbers
        are not rounded: predict's CSV writes each as `f"{value:.6g}"`, which is the CSV's
        text exactly. A missing or non-finite value is null.
        """
        return await _answer(served, request, id_column, rows)

    @app.post("/invocations", openapi_extra={"requestBody": _ROW_BODY})
    async def invocations(request: Request) -> JSONResponse:
        """MLflow's scoring protocol, as `mlflow models serve` answers it.

        Body: `{"dataframe_split": {"columns": [...], "data": [[...]]}}`,
        `{"dataframe_records": [{...}, ...]}`, `{"instances": [...]}` or `{"inputs":
        ...}`, or a CSV (text/csv). Response: `{"predictions": [...]}`, one value per
        row: the class (or the value, for regression), as an MLflow scikit-learn model's
        `predict` gives it; the probabilities are on /v1/predict.
        """
        return await _answer(served, request, None, labels)

    return app


async def _answer(
    served: ServedRun,
    request: Request,
    id_column: str | None,
    shape: Callable[[Predictions], list[Any]],
) -> JSONResponse:
    """{"predictions": shape(predictions)}. Parsing, checks, the model call and the JSON
    run in a worker thread, off the event loop: a large CSV holds up no other request
    (/health answers meanwhile)."""

    def answer(predictions: Predictions) -> JSONResponse:
        return JSONResponse({"predictions": shape(predictions)})  # rendered here, once

    if served.is_image:
        files = await image_files(request)  # decoded in the worker thread, like rows

        def predict_images() -> JSONResponse:
            return answer(served.predict_images(decoded(files, served.schema)))

        return await run_in_threadpool(predict_images)
    body = await request.body()
    content_type = request.headers.get("content-type")

    def predict() -> JSONResponse:
        return answer(_predictions(served, body, content_type, id_column))

    return await run_in_threadpool(predict)


def _predictions(
    served: ServedRun, body: bytes, content_type: str | None, id_column: str | None
) -> Predictions:
    """The predictions of a body of rows: JSON of plain numbers straight to the model
    (`numeric_rows`), any other body through its DataFrame and the engine's checks."""
    if not is_json(content_type):
        return served.predict_frame(rows_of(body, content_type, served.features), id_column, WHAT)
    payload = parse_json(body)
    checked = numeric_rows(payload, served.schema, id_column)
    if checked is not None:
        return served.predict_checked(*checked)
    return served.predict_frame(json_rows(payload, served.features), id_column, WHAT)


def _error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return error(exc.status, exc.message)

    @app.exception_handler(EdnaxError)
    async def input_error(request: Request, exc: EdnaxError) -> JSONResponse:
        """The rows do not suit the model: what `ednax predict` says of a csv."""
        return error(422, exc.render())

    @app.exception_handler(RequestValidationError)
    async def invalid_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return error(422, problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        """No traceback in a response: the log has it (uvicorn logs the exception)."""
        log.error("internal error on %s %s: %s", request.method, request.url.path, repr(exc))
        return error(500, "internal error")
