"""Live tracking: a run's MLflow run from the bundle's start to its final status, each
epoch as it ends; a sweep's parent run around its jobs. Every MLflow call is guarded: the
first failure is said once and recorded in run.json, and the run goes on untracked."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ednax.engine.tracking.export import open_sweep, send_end
from ednax.engine.tracking.record import epoch_metrics, history_metrics, run_params, run_tags
from ednax.engine.tracking.store import PARENT_TAG, Store
from ednax.errors import mask_password
from ednax.runs.reader import BundleFiles, read_sweep
from ednax.steps.trackers import MLflowTracker

if TYPE_CHECKING:
    from ednax.engine.context import RunContext


class Tracking:
    """A run's live tracking; this base tracks nothing (`tracker: none`)."""

    fold = ""

    def callbacks(self, family: str) -> list:
        return []

    def start(self, experiment: RunContext) -> None:
        pass

    def finish(self, experiment: RunContext) -> None:
        pass


class MLflowTracking(Tracking):
    """One bundle's MLflow run, created when the bundle starts and ended with it. Every
    MLflow call goes through `_guard`: the first failure is said once (in the run's log)
    and recorded in run.json, and tracking stops for the rest of the run."""

    def __init__(self, tracker: MLflowTracker):
        self.tracker = tracker
        self.store: Store | None = None
        self.run_id: str | None = None
        self.failed = False
        self.fold = ""
        self._experiment: RunContext | None = None

    def callbacks(self, family: str) -> list:
        if family != "torch":
            return []  # estimators have no epochs
        from ednax.engine.lightning.tracking import EpochTracking

        return [EpochTracking(self.epoch)]

    def start(self, experiment: RunContext) -> None:
        self._experiment = experiment
        with self._guard("start"):
            self.store = Store.of(self.tracker)
            self.run_id = self._open(experiment)
            experiment.bundle.update(tracking=self._record())

    def _open(self, experiment: RunContext) -> str:
        """A resumed bundle continues its MLflow run; a new one gets one, under its sweep's."""
        store, bundle = self.store, experiment.bundle
        found = store.find_run(bundle.run_id)
        if found is not None:
            store.reopen(found.info.run_id)
            _log_missing_epochs(store, found.info.run_id, BundleFiles(bundle.path))
            return found.info.run_id
        files = BundleFiles(bundle.path)
        tags = run_tags(files)
        if experiment.sweep and experiment.sweep.get("id"):
            record = read_sweep(Path(experiment.sweep.get("dir") or bundle.path.parent))
            tags[PARENT_TAG] = open_sweep(store, record or {"id": experiment.sweep["id"]})
        run_id = store.create(bundle.run_id, tags)
        store.log_params(run_id, run_params(experiment.config.data))
        return run_id

    def epoch(self, row: dict[str, Any]) -> None:
        """One epoch's metrics, at `step=epoch` (`epoch/val/loss`)."""
        if not self._live():
            return
        with self._guard("log an epoch"):
            step = int(row.get("epoch", 0))
            self.store.log_metrics(self.run_id, epoch_metrics(row, step, self.fold))

    def finish(self, experiment: RunContext) -> None:
        if not self._live():
            return
        with self._guard("end the run"):
            send_end(self.store, self.run_id, BundleFiles(experiment.bundle.path))

    def _live(self) -> bool:
        return not self.failed and self.store is not None and self.run_id is not None

    def _record(self, error: str | None = None) -> dict[str, Any]:
        record = {
            "kind": "mlflow",
            "uri": mask_password(self.tracker.uri()),
            "experiment": self.tracker.experiment_title(),
            "run_id": self.run_id,
        }
        if error:
            record["error"] = error
        return record

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # the database locked, the server unreachable, a bug
            if self.failed:
                return
            self.failed = True
            reason = mask_password(f"{type(exc).__name__}: {_first_line(exc)}")
            self._tell_failure(doing, reason)

    def _tell_failure(self, doing: str, reason: str) -> None:
        experiment = self._experiment
        if experiment is None:
            return
        where = mask_password(self.tracker.uri())
        with contextlib.suppress(Exception):
            experiment.say(
                f"warning: MLflow tracking could not {doing} ({where}): {reason}; the run "
                f"goes on untracked (`ednax export mlflow {experiment.bundle.run_id}` "
                "sends it later)"
            )
        with contextlib.suppress(Exception):
            experiment.bundle.update(tracking=self._record(f"could not {doing}: {reason}"))


def _log_missing_epochs(store: Store, run_id: str, files: BundleFiles) -> None:
    """The epochs of a resumed run's checkpoint that its MLflow run lacks (stopped while
    they were being sent), so that its curves have no gap."""
    metrics = history_metrics(files.history_rows())
    if not metrics:
        return
    logged = {m.step for m in store.client.get_metric_history(run_id, metrics[0][0])}
    store.log_metrics(run_id, [m for m in metrics if m[2] not in logged])


def tracking_of(config: Any) -> Tracking:
    """The live tracking a resolved config asks for (`tracker`). A distributed fit's
    processes other than rank 0 run an untracked copy of the config (rank 0 tracks)."""
    tracker = _tracker(config.get("tracker"), config.experiment)
    return Tracking() if tracker is None else MLflowTracking(tracker)


def _tracker(section: dict[str, Any] | None, experiment: dict[str, Any]) -> MLflowTracker | None:
    """The built `tracker` section, given the runs directory and the experiment's name;
    None for `none`."""
    if not section or section.get("type") in (None, "none"):
        return None
    from ednax.registry import REGISTRY

    tracker = REGISTRY.build(
        "tracker",
        section,
        path="tracker",
        runs_dir=Path(experiment["runs_dir"]),
        experiment=experiment["name"],
    )
    return tracker if isinstance(tracker, MLflowTracker) else None


def untracked(config: Any) -> Any:
    """A resolved config with `tracker: none`."""
    from dataclasses import replace

    return replace(config, data={**config.data, "tracker": {"type": "none"}})


@contextlib.contextmanager
def tracked_sweep(
    section: dict[str, Any] | None,
    experiment: dict[str, Any],
    sweep: Callable[[], dict[str, Any]],
    say: Callable[[str], None] = print,
) -> Iterator[None]:
    """The parent MLflow run of a sweep around its jobs (`tracker` of its first job's
    config; `sweep` reads sweep.json): created before any job, ended with the sweep's
    outcome: FINISHED, FAILED on an error, KILLED on Ctrl-C. An Optuna sweep another worker
    still runs keeps its parent running (that worker ends it). Failures are said, never
    raised."""
    if not section or section.get("type") in (None, "none"):
        yield
        return
    parent: tuple[Store, str] | None = None
    try:
        tracker = _tracker(section, experiment)
        if tracker is not None:
            store = Store.of(tracker)
            record = sweep()
            run_id = open_sweep(store, record)
            if store.client.get_run(run_id).info.status != "RUNNING":
                store.reopen(run_id)  # a resumed Optuna study
            parent = (store, run_id)
    except Exception as exc:
        say(f"warning: MLflow tracking of the sweep failed: {mask_password(_first_line(exc))}")
    status = "completed"
    try:
        yield
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        if parent is not None:
            _end_sweep(*parent, status, sweep, say)


def _end_sweep(store: Store, run_id: str, status: str, sweep, say) -> None:
    try:
        record = sweep()
        if status == "completed" and record.get("kind") != "grid":
            status = record.get("status") or status
        if status == "running":
            return
        store.end(run_id, status)
    except Exception as exc:
        say(f"warning: MLflow tracking could not end the sweep: {mask_password(_first_line(exc))}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
