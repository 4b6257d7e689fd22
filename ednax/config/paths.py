"""A step's `path` parameter made absolute: looked up in the working directory, then in the
config file's folder; `runs/<experiment>/latest` (or `latest~N`) names that experiment's
newest run, recorded as the concrete bundle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ednax.errors import UsageError

if TYPE_CHECKING:
    from ednax.config.context import Resolving


def absolute_paths(r: Resolving, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """`params` with an absolute `path`; None (and a problem) when it exists nowhere."""
    value = params.get("path")
    if not isinstance(value, str) or not value:
        return params
    candidates = [Path(value).expanduser()]
    if not candidates[0].is_absolute():
        candidates = [Path.cwd() / value, r.composed.source.path.parent / value]
    found = next((c for c in candidates if c.exists()), None)
    if found is None and Path(value).name.startswith("latest"):
        found = _latest_run(r, f"{path}.path", candidates)
        if found is None:
            return None
    if found is None:
        tried = " or ".join(str(c) for c in dict.fromkeys(candidates))
        r.fail(
            f"{path}.path",
            f"file not found: {value}",
            f"looked for {tried}; relative paths are taken from the working directory, "
            "then from the config file's folder",
        )
        return None
    return {**params, "path": os.path.abspath(found)}


def _latest_run(r: Resolving, key: str, candidates: list[Path]) -> Path | None:
    from ednax.runs.store import find_run

    for candidate in candidates:
        experiment_dir = candidate.parent
        if experiment_dir.is_dir():
            try:
                return find_run(candidate.name, experiment_dir.parent, experiment_dir.name)
            except UsageError as exc:
                r.fail(key, str(exc))
                return None
    r.fail(key, f"no runs folder for {candidates[0].parent}", "run that experiment first")
    return None
