"""Where bundles are in a runs directory, found with stats alone (no file is read).

Bundles live in `<runs_dir>/<experiment>/<run-id>/`, or one level further down in a sweep
folder: `<runs_dir>/<experiment>/sweep-<id>/<run-id>/` (any folder of an experiment that
is not itself a bundle is looked into). Hidden folders (`.cache`) and links (`latest`)
are skipped.

A bundle's signature is a `stat` of its folder and of its run.json. A folder's
modification time changes whenever a file is renamed into it (every bundle file is written
that way) or deleted from it; run.json's inode, time and size catch it being rewritten or
truncated in place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ednax.runs.bundle import RUN_FILE
from ednax.runs.reader import SWEEP_FILE

LATEST = "latest"  # runs/<experiment>/latest: see runs/latest.py
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]+")


def scan(runs_dir: Path, folder: str | None = None) -> dict[str, str]:
    """Bundle folders under `runs_dir` (relative posix paths) and their signatures.

    A folder counts as a bundle when it has a run.json or is named like a run id (a run
    killed before writing run.json); any other folder of an experiment (a sweep's) is
    looked into one level down.
    """
    found: dict[str, str] = {}
    root = os.fspath(runs_dir)
    tops = [folder] if folder else [e.name for e in _subfolders(root)]
    for top in tops:
        for entry in _subfolders(f"{root}/{top}"):
            sig = signature(entry)
            if sig is not None:
                found[f"{top}/{entry.name}"] = sig
                continue
            for inner in _subfolders(entry.path):
                inner_sig = signature(inner)
                if inner_sig is not None:
                    found[f"{top}/{entry.name}/{inner.name}"] = inner_sig
    return found


def _subfolders(path: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if not e.name.startswith(".") and _real_folder(e)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def _real_folder(entry: os.DirEntry) -> bool:
    """A folder, not a link to one, nor `latest` (a link to a bundle listed already, or
    its copy where a copy followed the link)."""
    return entry.name != LATEST and entry.is_dir(follow_symlinks=False)


def signature(entry: os.DirEntry | str) -> str | None:
    """ "<folder mtime>:<run.json inode:mtime:size>", or None if it is no bundle."""
    path = entry if isinstance(entry, str) else entry.path
    try:
        run = os.stat(f"{path}/{RUN_FILE}")
    except OSError:  # missing, or unreadable: then the folder decides
        run = None
    name = os.path.basename(path)
    if run is None and RUN_ID.fullmatch(name) is None:
        return None
    try:
        folder = os.stat(path).st_mtime_ns if isinstance(entry, str) else entry.stat().st_mtime_ns
    except OSError:  # removed while scanning
        return None
    if run is None:
        return f"{folder}:-"
    return f"{folder}:{run.st_ino}:{run.st_mtime_ns}:{run.st_size}"


def is_sweep_folder(folder: Path) -> bool:
    """Whether a bundle's parent folder is a sweep's (sweep.json, or named sweep-*) rather
    than an experiment's."""
    return folder.name.startswith("sweep-") or (folder / SWEEP_FILE).is_file()


def runs_dir_of(bundle: Path) -> Path:
    """The runs directory holding a bundle folder (two levels up, three in a sweep)."""
    depth = 3 if is_sweep_folder(bundle.parent) else 2
    return bundle.parents[depth - 1]
