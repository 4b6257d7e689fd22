"""Versions of an experiment: the structure fingerprints (classes per step) it ran with,
numbered v1, v2, ... in the order it first ran them, and one summary per version."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ednax.runs.ranking import direction_of
from ednax.vocabulary import REPORTING_SECTIONS, SECTIONS

# Every step section, the model first: what tells one version from another at a glance
# (where a run is reported, `tracker`, does not).
STRUCTURE_SECTIONS = (
    "model",
    *(s.name for s in SECTIONS if s.kind and s.name not in ("model", *REPORTING_SECTIONS)),
)


def number_versions(records: Iterable) -> None:
    """Set `version` ("v1", "v2", ...): the structures of each experiment numbered in the
    order they first ran. Same experiment + same classes per step = same version."""
    seen: dict[str, dict[str, str]] = {}
    for record in sorted(records, key=lambda r: r.id):
        if not record.structure:
            continue
        versions = seen.setdefault(record.experiment, {})
        if record.structure not in versions:
            versions[record.structure] = f"v{len(versions) + 1}"
        record.version = versions[record.structure]


def group_versions(records: Iterable) -> list[dict[str, Any]]:
    """One group per experiment and version, in version order: the classes per step, the
    number of runs, the best monitored value and its run, the latest run. The monitor and
    the best are the completed runs' (a failed run's monitor may be a typo it failed on,
    its metrics partial); the newest run's monitor only when none completed."""
    groups: dict[tuple[str, str], list] = {}
    for record in sorted(records, key=lambda r: r.id):
        if record.version:
            groups.setdefault((record.experiment, record.version), []).append(record)
    ordered = sorted(groups.items(), key=lambda item: (item[0][0], int(item[0][1][1:])))
    return [_summary(experiment, version, members) for (experiment, version), members in ordered]


def _summary(experiment: str, version: str, members: list) -> dict[str, Any]:
    latest = members[-1]
    completed = [r for r in members if r.status == "completed"]
    monitor = _monitor(completed) or _monitor(members)
    scored = [r for r in completed if monitor and monitor in r.metrics]
    best = None
    if scored:
        pick = max if direction_of(monitor, completed) == "max" else min
        best = pick(scored, key=lambda r: r.metrics[monitor])
    return {
        "experiment": experiment,
        "version": version,
        "structure": structure_text(latest.files.config),
        "fingerprint": latest.structure,
        "runs": len(members),
        "completed": sum(r.status == "completed" for r in members),
        "monitor": monitor,
        "best": best.metrics[monitor] if best else None,
        "best_run": best.id if best else None,
        "latest_run": latest.id,
    }


def _monitor(records: list) -> str | None:
    """The newest of `records`' monitors."""
    return next((r.monitor for r in reversed(records) if r.monitor), None)


def structure_text(config: dict[str, Any] | None) -> str:
    """ "model=random_forest preprocess=standard_scaler data=..." from a resolved config."""
    if not isinstance(config, dict):
        return "?"
    parts = []
    for section in STRUCTURE_SECTIONS:
        value = config.get(section)
        if isinstance(value, dict) and "type" in value:
            parts.append(f"{section}={value['type']}")
        elif isinstance(value, list):
            types = ",".join(str(v.get("type")) for v in value if isinstance(v, dict))
            parts.append(f"{section}={types or '[]'}")
    return " ".join(parts)
