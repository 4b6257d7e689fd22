"""A step's `path` (a model's local `pretrained` directory, the file of a SQLite `url`) made
absolute: looked up in the working directory, then in the config file's folder; a `latest`
(or `latest~N`) component after `runs/<experiment>/` names that experiment's newest run,
recorded as the concrete bundle (`runs/base/latest/artifacts/pretrained` works too). A
`pretrained` value found nowhere is left as it is: a hub id, for the model to look up."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ednax.errors import Suggestions, UsageError
from ednax.steps.data_sources import sqlite_file

if TYPE_CHECKING:
    from ednax.config.context import Resolving

NEAR_NAMES_LOOKED_AT = 1000  # entries of a folder a missing file's near name is looked for in
# parameter -> whether it must name a file or folder that exists
PATH_PARAMETERS = {"path": True, "pretrained": False}
# parameters holding a database URL: a SQLite file in one is found as a `path` is
URL_PARAMETERS = ("url",)


def absolute_paths(r: Resolving, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """`params` with absolute paths; None (and a problem) when a `path` exists nowhere."""
    for name, required in PATH_PARAMETERS.items():
        value = params.get(name)
        if not isinstance(value, str) or not value:
            continue
        found = _found(r, f"{path}.{name}", value, required)
        if found is False:
            return None
        if found is not None:
            params = {**params, name: os.path.abspath(found)}
    for name in URL_PARAMETERS:
        value = params.get(name)
        file = sqlite_file(value) if isinstance(value, str) else None
        if file is None:
            continue
        found = _found(r, f"{path}.{name}", file[1], True)
        if found is False:
            return None
        params = {**params, name: file[0] + os.path.abspath(found) + file[2]}
    return params


def _found(r: Resolving, key: str, value: str, required: bool) -> Path | bool | None:
    """The path `value` names; None if it names none and need not; False after a problem."""
    candidates = [Path(value).expanduser()]
    if not candidates[0].is_absolute():
        candidates = [Path.cwd() / value, r.composed.source.path.parent / value]
    found = next((c for c in candidates if c.exists()), None)
    if found is None and any(part.startswith("latest") for part in Path(value).parts):
        found = _latest_run(r, key, candidates)
        if found is None:
            return False
    if found is not None and any(part.startswith("latest") for part in Path(value).parts):
        found = Path(os.path.realpath(found))  # the run the `latest` link names, recorded
    if found is None and required:
        tried = " or ".join(str(c) for c in dict.fromkeys(candidates))
        r.fail(
            key,
            f"file not found: {value}" + _beside(candidates),
            f"looked for {tried}; relative paths are taken from the working directory, "
            "then from the config file's folder",
        )
        return False
    return found


def _beside(candidates: list[Path]) -> str:
    """'; did you mean '.../penguins-mini.csv'?' for a file of a near name in the folder
    of a path looked for."""
    for candidate in candidates:
        folder = candidate.parent
        if not folder.is_dir():
            continue
        names = [p.name for p in itertools.islice(folder.iterdir(), NEAR_NAMES_LOOKED_AT)]
        near = Suggestions(names).near(candidate.name, n=1)
        if near:
            return f"; did you mean '{folder / near[0]}'?"
    return ""


def _latest_run(r: Resolving, key: str, candidates: list[Path]) -> Path | None:
    """`runs/<experiment>/latest[/rest]` with `latest` replaced by the run it names."""
    from ednax.runs.store import find_run

    for candidate in candidates:
        parts = candidate.parts
        at = next(i for i, part in enumerate(parts) if part.startswith("latest"))
        experiment_dir, rest = Path(*parts[:at]), parts[at + 1 :]
        if experiment_dir.is_dir():
            try:
                run = find_run(parts[at], experiment_dir.parent, experiment_dir.name)
            except UsageError as exc:
                r.fail(key, str(exc))
                return None
            found = Path(run, *rest)
            if not found.exists():
                r.fail(key, f"file not found: {found}", f"run {run.name} has no {Path(*rest)}")
                return None
            return found
    r.fail(key, f"no runs folder for {candidates[0].parent}", "run that experiment first")
    return None
