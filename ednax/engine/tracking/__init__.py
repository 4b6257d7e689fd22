"""MLflow tracking: a run bundle's record in an MLflow run, live or afterwards.

One exporter reads what a bundle holds and writes it to MLflow; both paths use it:

- live (`tracking_of`, driven by the `Experiment` when `tracker: mlflow`): the MLflow run is
  created when the bundle starts (params, tags), each epoch's metrics are logged with
  `step=epoch` as training goes (a torch run's `EpochTracking` callback, in
  engine/lightning/tracking.py), and at the end the final metrics per split, the bundle's
  files and the final status;
- afterwards (`export_bundle`, for `ednax export mlflow`): the same, from the files.

What an MLflow run holds:

    params     the resolved config flattened, one key a row (`model.hidden=64`; a list of
               steps indexed: `preprocess.0.type`), values as text, passwords masked
    tags       ednax.run_id, ednax.experiment, ednax.version, ednax.structure (the
               structure fingerprint), ednax.git_commit (and mlflow.source.git.commit),
               ednax.status; in a sweep ednax.sweep_id and mlflow.parentRunId
    metrics    history.csv per epoch, under `epoch/` (`epoch/val/loss` at step 3), and
               metrics.json per split (`val/loss`, `test/accuracy`: the final values, of
               the best weights, which the epoch curves would otherwise end in)
    artifacts  every file of the bundle
    status     completed FINISHED, failed FAILED, interrupted KILLED; a pruned trial is
               KILLED too (it stopped before its end, by choice), its ednax.status tag
               `pruned`

A sweep is a parent MLflow run (tags ednax.sweep_id, ednax.kind=sweep; params: the grid's
axes or the search space and the sweeper's settings), created by the sweep's process before
any job runs (`tracked_sweep`); each job's run finds it by the sweep's id and nests under
it. A run is found again by its `ednax.run_id` tag, so export sends a bundle once.

Tracking never fails or loses an ednax run: the first MLflow error is said once in the
run's log and recorded in run.json (`tracking.error`), and the run goes on untracked.
mlflow is imported only here, and only when a run is tracked.

    store.py    the MLflow store as ednax writes to it (tags, batches, limits, status)
    record.py   what a bundle says, as MLflow takes it (params, tags, metrics)
    export.py   a bundle sent after the fact; a sweep's parent run found or made
    live.py     a run tracked as it goes; a sweep's parent around its jobs
"""

from ednax.engine.tracking.export import export_bundle, open_sweep
from ednax.engine.tracking.live import Tracking, tracked_sweep, tracking_of, untracked
from ednax.engine.tracking.store import Store

__all__ = [
    "Store",
    "Tracking",
    "export_bundle",
    "open_sweep",
    "tracked_sweep",
    "tracking_of",
    "untracked",
]
