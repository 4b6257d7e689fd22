"""The change journal of a folder of bundles (an experiment's or a sweep's):

    <runs_dir>/<experiment>/.ednax-journal        one bundle name a line

The bundle writer appends a bundle's folder name each time it rewrites that bundle's
run.json (start, every update, finish, a resume), after the rename, so that the index
(`ednax.runs.index`) takes a stat of the bundles named since it last looked instead of
one of every bundle.

A journal is a hint, never the truth: a line lost (a failed append, a bundle written by an
older ednax) delays what a listing shows, never what it reads, and the index has other
checks for that (`ednax.runs.watch`). An append never raises, so nothing in a run fails
because of the index. Lines are short appends (`O_APPEND`), whole on a local disk; a
garbled one is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

JOURNAL_FILE = ".ednax-journal"


def note_change(bundle: Path) -> None:
    """Add `bundle`'s name to its folder's journal; any failure is ignored."""
    try:
        fd = os.open(bundle.parent / JOURNAL_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError:
        return
    try:
        os.write(fd, f"{bundle.name}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def journal_state(folder: str) -> tuple[int, int] | None:
    """The journal of `folder` as (inode, size); None when there is none."""
    try:
        stat = os.stat(f"{folder}/{JOURNAL_FILE}")
    except OSError:
        return None
    return stat.st_ino, stat.st_size


def names_between(folder: str, start: int, end: int) -> tuple[set[str], int]:
    """The bundle names on the whole lines between byte `start` and `end` of `folder`'s
    journal, and the offset just past the last whole line (where the next read starts)."""
    try:
        with open(f"{folder}/{JOURNAL_FILE}", "rb") as handle:
            handle.seek(start)
            data = handle.read(max(end - start, 0))
    except OSError:
        return set(), start
    whole = data.rfind(b"\n") + 1
    names = {
        name
        for name in data[:whole].decode("utf-8", "replace").split("\n")
        if name and "/" not in name and name not in (".", "..")
    }
    return names, start + whole
