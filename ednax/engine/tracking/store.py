"""The MLflow store as ednax writes to it: one experiment, runs found again by their tags,
params and metrics in batches within MLflow's limits, the bundle's files, the end status.
mlflow is imported when a `Store` is made, never before."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ednax.errors import mask_password
from ednax.steps.trackers import MLflowTracker

RUN_ID_TAG = "ednax.run_id"
SWEEP_ID_TAG = "ednax.sweep_id"
KIND_TAG = "ednax.kind"
STATUS_TAG = "ednax.status"
PARENT_TAG = "mlflow.parentRunId"

# ednax's final status -> MLflow's. A bundle still "running" when its run ends did not
# finish (its record could not be written): FAILED.
MLFLOW_STATUS = {
    "completed": "FINISHED",
    "failed": "FAILED",
    "interrupted": "KILLED",
    "pruned": "KILLED",
    "running": "FAILED",
}
# MLflow's limits (mlflow.utils.validation): a value's length, a batch's size.
PARAM_VALUE_MAX = 6000
KEY_MAX = 250
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
ARTIFACTS_DIR = "mlartifacts"

_BAD_KEY_CHARS = re.compile(r"[^\w./\- :]")


class Store:
    """One MLflow tracking store and one experiment in it, as ednax writes them."""

    def __init__(self, uri: str, experiment_name: str):
        from mlflow.tracking import MlflowClient

        _quiet_mlflow()  # after mlflow's import, which sets its loggers up
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment_id = self._experiment(experiment_name)

    @classmethod
    def of(cls, tracker: MLflowTracker) -> Store:
        return cls(tracker.uri(), tracker.experiment_title())

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(
                    name, artifact_location=_artifacts(self.uri, name)
                )
            except MlflowException:  # created meanwhile by another process
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            self.client.restore_experiment(found.experiment_id)
        return found.experiment_id

    def find(self, tag: str, value: str, *, also: str = "") -> Any:
        """The first live (not deleted) run of the experiment tagged `tag=value` (and the
        `also` filter)."""
        text = f"tags.`{tag}` = '{_quoted(value)}'" + (f" and {also}" if also else "")
        runs = self.client.search_runs([self.experiment_id], text, max_results=1)
        return runs[0] if runs else None

    def find_run(self, run_id: str) -> Any:
        return self.find(RUN_ID_TAG, run_id)

    def find_sweep(self, sweep_id: str) -> Any:
        return self.find(SWEEP_ID_TAG, sweep_id, also=f"tags.`{KIND_TAG}` = 'sweep'")

    def create(self, name: str, tags: dict[str, str], start_ms: int | None = None) -> str:
        run = self.client.create_run(
            self.experiment_id, start_time=start_ms, tags=_clean_tags(tags), run_name=name
        )
        return run.info.run_id

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for batch in _batches(items, PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=batch, synchronous=True)

    def log_metrics(self, run_id: str, values: Iterable[tuple[str, float, int]]) -> None:
        """(name, value, step) triples, in as few calls as MLflow's limits allow."""
        from mlflow.entities import Metric

        now = _ms()
        items = [Metric(metric_key(k), float(v), now, int(s)) for k, v, s in values]
        for batch in _batches(items, METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=batch, synchronous=True)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, v) for k, v in _clean_tags(tags).items()]
        for batch in _batches(items, PARAMS_PER_BATCH):
            self.client.log_batch(run_id, tags=batch, synchronous=True)

    def log_files(self, run_id: str, folder: Path) -> None:
        """Every file under `folder` but hidden ones (a lock, a checkpoint being written)."""
        for path in sorted(Path(folder).rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not any(p.startswith(".") for p in relative.parts):
                parent = relative.parent.as_posix()
                self.client.log_artifact(run_id, str(path), None if parent == "." else parent)

    def end(self, run_id: str, status: str, end_ms: int | None = None) -> None:
        """Tag the ednax status and end the run with MLflow's matching status."""
        self.set_tags(run_id, {STATUS_TAG: status})
        self.client.set_terminated(run_id, MLFLOW_STATUS.get(status, "FAILED"), end_ms)

    def reopen(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")
        self.set_tags(run_id, {STATUS_TAG: "running"})


def _artifacts(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite database
    (<db folder>/mlartifacts/<experiment>), not in the working directory; a server decides
    for itself (None)."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    if not database.is_absolute() and not uri.startswith("sqlite:////"):
        database = Path.cwd() / database
    name = re.sub(r"[^A-Za-z0-9._-]", "_", experiment) or "experiment"
    return (database.parent / ARTIFACTS_DIR / name).resolve().as_uri()


def metric_key(name: str) -> str:
    """A name MLflow accepts as a param or metric key: letters, digits, _ - . / space :."""
    key = _BAD_KEY_CHARS.sub("_", str(name)).strip("/") or "_"
    key = re.sub(r"/{2,}", "/", key).replace("..", "_.")
    return key[:KEY_MAX]


def _clean_tags(tags: dict[str, Any]) -> dict[str, str]:
    return {k: mask_password(str(v)) for k, v in tags.items() if v is not None}


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _quoted(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def _ms() -> int:
    return int(time.time() * 1000)


def _quiet_mlflow() -> None:
    """No INFO lines from MLflow's first database migration in the run's output, and no
    traceback from SQLAlchemy's pool when Ctrl-C lands during a write (the run records
    the interruption itself)."""
    import logging

    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
