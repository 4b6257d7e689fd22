"""`ednax export mlflow`: existing run bundles sent to an MLflow tracking store.

Each bundle goes to the MLflow experiment named after its ednax experiment (or the one
given) in the store given (default: the SQLite database beside the runs directory, where
`tracker: mlflow` records runs live). Sending is idempotent: a bundle whose run id is
already in the experiment (its `ednax.run_id` tag; a live-tracked run counts) is skipped,
and one whose live tracking broke off before its end gets its end. A sweep's bundles nest
under the sweep's parent run, found by the sweep's id or created from its sweep.json.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ednax.errors import RunError, UsageError, mask_password
from ednax.steps.trackers import EXTRA, default_uri


@dataclass
class ExportReport:
    """What an export did: (run id, MLflow run id or why) per bundle, by outcome."""

    uri: str
    sent: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (
            f"sent {len(self.sent)}, skipped {len(self.skipped)} "
            f"(already exported or not finished) -> {mask_password(self.uri)}"
        )


def export_mlflow(
    refs: list[str],
    *,
    runs_dir: Path = Path("runs"),
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    say: Callable[[str], None] = print,
) -> ExportReport:
    """Send the bundles `refs` names (every bundle of `runs_dir` with none) to MLflow."""
    if importlib.util.find_spec("mlflow") is None:
        raise UsageError(f"exporting to MLflow needs the mlflow package: {EXTRA}")
    from ednax.engine.tracking import Store, export_bundle
    from ednax.runs.index import list_runs
    from ednax.runs.store import check_runs_dir, find_records

    if refs:
        records = find_records(refs, runs_dir)
    else:
        check_runs_dir(runs_dir)
        records = list_runs(runs_dir)
    uri = tracking_uri or default_uri(runs_dir)
    report = ExportReport(uri)
    stores: dict[str, Store] = {}
    for record in records:
        name = experiment_name or _experiment_of(record)
        try:
            store = stores.get(name) or stores.setdefault(name, Store(uri, name))
            outcome, detail = export_bundle(store, record.path)
        except Exception as exc:
            raise RunError(
                f"could not export run {record.id} to MLflow at {mask_password(uri)}: "
                f"{mask_password(f'{type(exc).__name__}: {exc}')}"
            ) from exc
        if outcome == "skipped":
            report.skipped.append((record.id, detail))
            say(f"skipped {record.id}: {detail}")
        else:
            report.sent.append((record.id, detail))
            how = "its end sent" if outcome == "completed" else "sent"
            say(f"{how} {record.id} -> MLflow run {detail} (experiment {name})")
    return report


def _experiment_of(record) -> str:
    """The MLflow experiment a bundle goes to: the one its `tracker` named, else the one
    named after its ednax experiment (where live tracking put it)."""
    config = record.files.config or {}
    tracker = config.get("tracker") if isinstance(config.get("tracker"), dict) else {}
    if tracker.get("type") == "mlflow" and tracker.get("experiment_name"):
        return str(tracker["experiment_name"])
    return record.experiment or "ednax"
