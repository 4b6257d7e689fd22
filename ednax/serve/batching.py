"""Requests that wait for the model together are predicted in one call.

One model call runs at a time (`ServedRun`'s lock). While it runs, other requests queue
their checked rows; the next thread to get the lock predicts every queued request's rows
in one call (up to `BATCH_ROWS`) and hands each request its part. A call on one row costs
scikit-learn about what a call on a thousand does (its overhead is per call, per tree),
so under load a request waits for one call, not for one call per request ahead of it.

A fitted preprocessing pipeline and model predict each row on its own, as `ednax predict`
predicts a whole file in one call, so a row's prediction does not depend on the rows it
was batched with (an estimator's exactly; a network's up to float rounding). When a
combined call fails, each request is predicted alone: a failure stays its own request's.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ednax.engine.predict import Predictions

BATCH_ROWS = 8192  # rows of several requests in one call, at most (one request: any)


@dataclass(eq=False)
class _Job:
    X: np.ndarray
    ids: list[Any]
    result: Predictions | None = None
    error: BaseException | None = None
    done: bool = False


class Batcher:
    """`predict(X, ids)` from many threads, through `call` (the model lock, and whatever
    else a model call needs), combining the requests that queue meanwhile."""

    def __init__(
        self,
        predict: Callable[[np.ndarray, list[Any]], Predictions],
        call: Callable[[], AbstractContextManager[None]],
        max_rows: int = BATCH_ROWS,
    ):
        self._predict = predict
        self._call = call
        self.max_rows = max_rows
        self._queue: list[_Job] = []
        self._queued = threading.Lock()

    def predict(self, X: np.ndarray, ids: list[Any]) -> Predictions:
        job = _Job(X, ids)
        with self._queued:
            self._queue.append(job)
        while not job.done:
            with self._call():
                if not job.done:  # else a thread ahead of this one predicted it
                    self._run(self._take())
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _take(self) -> list[_Job]:
        """The oldest queued jobs that fit in one call: the same kind of matrix (float or
        object, as check_frame made it), `max_rows` together unless one alone is more."""
        with self._queued:
            first = self._queue[0]
            batch, rows = [], 0
            for job in self._queue:
                if batch and rows + len(job.ids) > self.max_rows:
                    break
                if job.X.dtype == first.X.dtype and job.X.shape[1:] == first.X.shape[1:]:
                    batch.append(job)
                    rows += len(job.ids)
            taken = {id(job) for job in batch}
            self._queue = [job for job in self._queue if id(job) not in taken]
        return batch

    def _run(self, batch: list[_Job]) -> None:
        if len(batch) > 1:
            try:
                whole = self._predict(
                    np.concatenate([job.X for job in batch]), [i for job in batch for i in job.ids]
                )
            except Exception:
                pass  # each alone, below
            else:
                start = 0
                for job in batch:
                    end = start + len(job.ids)
                    job.result = _part(whole, start, end, job.ids)
                    job.done = True
                    start = end
                return
        for job in batch:
            try:
                job.result = self._predict(job.X, job.ids)
            except BaseException as exc:  # raised again in the job's own thread
                job.error = exc
            finally:
                job.done = True


def _part(whole: Predictions, start: int, end: int, ids: list[Any]) -> Predictions:
    proba = None if whole.proba is None else whole.proba[start:end]
    return dataclasses.replace(whole, ids=ids, values=whole.values[start:end], proba=proba)
