"""The run a server predicts with: one `LoadedRun`, checked and loaded before the port is
bound, predicting for many requests at once.

Rows are checked by the engine's `check_frame`, as `ednax predict` checks a csv, so a
request gets the same messages (a request of plain numbers that the checks accept as they
stand comes already checked, `numeric_rows.py`). A run of numeric features predicts with
its `ArrayModel` (`fast_model.py`): the same numbers, without scikit-learn's per-call
costs on a few rows. The model call itself (fitted preprocessing, then the
estimator or the network) runs under one lock: the engine's torch forward switches the
module to eval mode and back around each call, which two threads would interleave, and an
estimator from a plugin may keep state in `predict`. The lock costs nothing: measured on 2
cores, 8 threads predicting through scikit-learn with it answered 25-50% more requests
a second than without (they only fought over the GIL). Requests that queue for the lock
are predicted together (`batching.py`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ednax.app.predicting import LoadedRun, load
from ednax.engine.predict import Predictions, check_frame
from ednax.errors import EdnaxError, UsageError
from ednax.serve.batching import Batcher
from ednax.serve.fast_model import ArrayModel


@dataclass
class Images:
    """Decoded images to predict: what `Predictor.predict_images` reads of a split (ids,
    `len`, `chunks(rows)`: uint8 (n, channels, height, width) arrays in order), from
    request files, not a folder."""

    ids: Sequence[str]
    pixels: Sequence[np.ndarray]

    def __len__(self) -> int:
        return len(self.pixels)

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self), rows):
            yield np.stack(self.pixels[start : start + rows])


class ServedRun:
    """A loaded run and what the server says of it."""

    def __init__(self, loaded: LoadedRun, version: str | None = None):
        self.loaded = loaded
        self.predictor = loaded.predictor
        self.schema: dict[str, Any] = self.predictor.schema
        self.version = version
        self._lock = threading.Lock()
        self._batcher = Batcher(self._predict_rows, self._model_call)
        self._arrays: ArrayModel | None = None  # made by `warm`

    @classmethod
    def load(
        cls,
        run: str | Path,
        runs_dir: str | Path,
        fold: str | None,
        *,
        trust: bool,
        bundle_code: bool = False,
    ) -> ServedRun:
        """The run `ednax predict` would load, with every artifact loaded now: a refused
        pickle or a changed file is the same usage error, before anything listens."""
        served = cls(load(run, runs_dir, fold, trust=trust, bundle_code=bundle_code))
        served.version = _version(served.loaded)
        served.warm()
        return served

    @property
    def is_image(self) -> bool:
        return self.schema.get("modality") == "image"

    @property
    def is_text(self) -> bool:
        return self.schema.get("modality") == "text"

    @property
    def features(self) -> list[str]:
        return self.predictor.features

    def warm(self) -> None:
        """One made-up row (a blank image for an image run) predicted: the artifacts are
        loaded and checked, and the first request is as quick as the next."""
        self._arrays = ArrayModel.of(self.predictor)
        if self.is_image:
            image = self.schema["image"]
            shape = (int(image["channels"]), *(int(s) for s in image["size"]))
            self.predict_images(Images(["warm-up"], [np.zeros(shape, dtype=np.uint8)]))
            return
        import pandas as pd

        row = self._example_text() if self.is_text else example_row(self.schema)
        self.predict_frame(pd.DataFrame([row]), None, "the warm-up row")

    def predict_frame(self, frame: Any, id_column: str | None, what: str) -> Predictions:
        """Predictions for a DataFrame of rows, checked as `ednax predict` checks a csv
        (a UsageError listing every problem, naming `what` the rows came from). A text
        run's rows hold its text columns (and extra ones), tokenized by its tokenizer."""
        if self.is_text:
            if not len(frame):
                raise UsageError(f"{what} holds no rows to predict")
            with self._model_call():
                return self.loaded.predictions(frame, id_column)
        ids, X = check_frame(frame, self.schema, id_column, what)
        return self.predict_checked(ids, X)

    def predict_checked(self, ids: list[Any], X: np.ndarray) -> Predictions:
        """Predictions for rows already checked: `check_frame`'s (ids, X) of them."""
        return self._batcher.predict(X, ids)

    def _predict_rows(self, X: Any, ids: list[Any]) -> Predictions:
        if self._arrays is not None:
            return self._arrays.predict(X, ids)
        return self.predictor.predict(X, ids)

    def predict_images(self, images: Images) -> Predictions:
        with self._model_call():
            return self.predictor.predict_images(images)

    @contextlib.contextmanager
    def _model_call(self) -> Iterator[None]:
        with self._lock:
            if self.predictor.family != "torch":
                yield
                return
            import torch

            with torch.no_grad():  # no autograd graph for a forward whose outputs are read
                yield

    def describe(self) -> dict[str, Any]:
        """What `GET /v1/model` says: the run, its task and classes, the input it takes
        and its metrics (metrics.json as written)."""
        record, schema = self.loaded.record, self.schema
        if self.is_image:
            image = schema["image"]
            inputs: dict[str, Any] = {
                "modality": "image",
                "channels": image["channels"],
                "size": image["size"],
            }
        elif self.is_text:
            text, extras, _ = self.loaded.text_columns()
            inputs = {"modality": "text", "text": text, "extras": extras}
        else:
            inputs = {"modality": "tabular", "features": schema["features"]}
        metrics = _read_json(self.loaded.path / "metrics.json")
        return {
            "id": self.loaded.id,
            "experiment": record.get("experiment"),
            "version": self.version,
            "family": self.predictor.family,
            "task": schema.get("task"),
            "classes": schema.get("classes"),
            "fold": self.predictor.prefix.rstrip("/") or None,
            "target": schema.get("target"),
            "input": inputs,
            "metrics": metrics if isinstance(metrics, dict) else {},
        }

    def _example_text(self) -> dict[str, Any]:
        text, extras, _ = self.loaded.text_columns()
        return {**{c: "warm up" for c in text}, **{c: 0.0 for c in extras}}


def example_row(schema: dict[str, Any]) -> dict[str, Any]:
    """A row the training schema accepts: 0 for a number, the first known category."""
    row: dict[str, Any] = {}
    for feature in schema["features"]:
        if feature["kind"] == "numeric":
            row[feature["name"]] = 0.0
        else:
            row[feature["name"]] = next(iter(feature.get("categories") or []), None)
    return row


def _version(loaded: LoadedRun) -> str | None:
    """v1, v2, ... as `ednax runs` numbers the run among its experiment's runs."""
    from ednax.runs.layout import runs_dir_of
    from ednax.runs.store import find_record

    try:
        record = find_record(loaded.id, runs_dir_of(loaded.path.resolve()))
    except (EdnaxError, OSError, IndexError):
        return None
    return record.version or None


def _read_json(path: Path) -> Any:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
