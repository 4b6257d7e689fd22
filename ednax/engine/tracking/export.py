"""A bundle sent to MLflow after the fact (`ednax export mlflow`), and a sweep's parent run
found or made from its sweep.json; the live path ends its runs the same way (`send_end`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ednax.engine.tracking.record import (
    ednax_version,
    final_metrics,
    history_metrics,
    run_params,
    run_tags,
    sweep_params,
    time_ms,
)
from ednax.engine.tracking.store import KIND_TAG, PARENT_TAG, STATUS_TAG, SWEEP_ID_TAG, Store
from ednax.runs.reader import BundleFiles, read_sweep


def export_bundle(store: Store, path: Path) -> tuple[str, str]:
    """Send one bundle: ("sent", MLflow run id), ("completed", id) for a run whose live
    tracking broke off (its end sent now), or ("skipped", why)."""
    files = BundleFiles(path)
    run = files.run
    status = run.get("status")
    if files.run_problem or not run.get("id"):
        return "skipped", f"run.json is {files.run_problem or 'without an id'}"
    if status == "running":
        return "skipped", "still running (or it died without a record: `ednax resume` it)"
    found = store.find_run(run["id"])
    if found is not None and found.info.status != "RUNNING":
        return "skipped", "already in MLflow"
    if found is not None:  # live tracking that broke off: send its end
        run_id = found.info.run_id
    else:
        tags = run_tags(files)
        parent = _parent_of(store, files)
        if parent:
            tags[PARENT_TAG] = parent
        run_id = store.create(run["id"], tags, time_ms(run.get("started_at")))
        store.log_params(run_id, run_params(files.config or {}))
        store.log_metrics(run_id, history_metrics(files.history_rows()))
    send_end(store, run_id, files)
    return ("completed" if found is not None else "sent"), run_id


def send_end(store: Store, run_id: str, files: BundleFiles) -> None:
    """Final metrics, the bundle's files and the final status."""
    store.log_metrics(run_id, final_metrics(files))
    store.log_files(run_id, files.path)
    run = files.run
    store.end(run_id, str(run.get("status")), time_ms(run.get("ended_at")))


def _parent_of(store: Store, files: BundleFiles) -> str | None:
    """The MLflow run of the bundle's sweep (found by its id, else created from its
    sweep.json), or None outside a sweep."""
    sweep = files.run.get("sweep")
    if not isinstance(sweep, dict) or not sweep.get("id"):
        return None
    found = store.find_sweep(sweep["id"])
    if found is not None:
        return found.info.run_id
    folder = Path(sweep.get("dir") or files.path.parent)
    record = read_sweep(folder) or read_sweep(files.path.parent) or {"id": sweep["id"]}
    run_id = open_sweep(store, record)
    if record.get("status") and record["status"] != "running":
        store.end(run_id, record["status"], time_ms(record.get("ended_at")))
    return run_id


def open_sweep(store: Store, sweep: dict[str, Any]) -> str:
    """The parent MLflow run of a sweep (sweep.json's contents): found by its id, else
    created with the sweep's settings as params."""
    found = store.find_sweep(sweep["id"])
    if found is not None:
        return found.info.run_id
    tags = {
        SWEEP_ID_TAG: sweep["id"],
        KIND_TAG: "sweep",
        "ednax.sweep_kind": sweep.get("kind"),
        "ednax.experiment": sweep.get("experiment"),
        "ednax.sweep_dir": sweep.get("dir"),
        "ednax.version": ednax_version(),
        STATUS_TAG: sweep.get("status") or "running",
    }
    run_id = store.create(sweep["id"], tags, time_ms(sweep.get("started_at")))
    store.log_params(run_id, sweep_params(sweep))
    return run_id
