"""What changed in a runs directory since the index last looked, found without a stat of
every bundle.

The folders that hold bundles (the runs directory, each experiment's folder, each sweep's)
are few; the index keeps, for each, its modification time and how far it has read that
folder's journal (`ednax.runs.journal`). A look takes a stat of each of those folders and
of its journal:

- a folder whose time changed gained or lost an entry (a new bundle, a sweep folder, a
  deleted bundle): it is listed again (names only) and the names it gained are signed;
- a journal that grew names the bundles whose run.json was rewritten since (a new status,
  a finished or resumed run): those are signed again;
- a folder seen for the first time, or whose journal was replaced, has every bundle signed.

A signature (`ednax.runs.layout.signature`) that differs from the stored one means the
bundle is read again; the index adds its own checks (running bundles, and a rotating share
of all bundles, for changes ednax did not write). A folder time within `SETTLING_NS` of
now is not kept, so a change made in the same clock tick as a listing is not missed: the
folder is listed again next time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ednax.runs.journal import journal_state, names_between
from ednax.runs.layout import _subfolders, signature

ROOT = "."  # the runs directory's own entry among the folders
SETTLING_NS = 2_000_000_000


@dataclass(frozen=True)
class FolderState:
    """What the index knows of one folder: its modification time when last listed (None:
    list it again), and its journal's inode and the offset read up to (None: no journal)."""

    mtime: int | None
    journal_inode: int | None = None
    journal_offset: int = 0


@dataclass
class Look:
    """What one look found: bundles already signed (new ones), bundles to sign and compare
    with their stored signatures, bundles gone, and the folders' states to store."""

    signed: dict[str, str] = field(default_factory=dict)
    to_check: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    folders: dict[str, FolderState] = field(default_factory=dict)
    gone_folders: set[str] = field(default_factory=set)


def look(
    runs_dir: Path, scope: str | None, stored: dict[str, FolderState], known: Collection[str]
) -> Look:
    """What changed under `runs_dir` (or its folder `scope`) since the `stored` states were
    taken; `known` are the bundles (relative paths) the index holds there."""
    return _Looker(os.fspath(runs_dir), stored, known).run(scope)


class _Looker:
    def __init__(self, root: str, stored: dict[str, FolderState], known: Collection[str]):
        self.root = root
        self.stored = stored
        self.known = known
        self.found = Look()
        self._by_folder: dict[str, set[str]] | None = None
        self.settled_before = time.time_ns() - SETTLING_NS

    def run(self, scope: str | None) -> Look:
        top = scope or ROOT
        inside = [f for f in self.stored if scope is None or f.startswith(f"{scope}/")]
        for folder in sorted({top, *inside}, key=lambda f: (_depth(f), f)):
            if folder not in self.found.gone_folders:
                self._visit(folder, self.stored.get(folder))
        return self.found

    def _visit(self, folder: str, before: FolderState | None) -> None:
        path = self.root if folder == ROOT else f"{self.root}/{folder}"
        try:
            stat = os.stat(path)
        except OSError:
            self._gone(folder)
            return
        depth = _depth(folder)
        journal = journal_state(path) if depth else None  # taken before anything is read
        mtime = stat.st_mtime_ns if stat.st_mtime_ns < self.settled_before else None
        state = self._read_journal(folder, path, before, journal)
        self.found.folders[folder] = FolderState(mtime, *state)
        if before is None or before.mtime is None or before.mtime != stat.st_mtime_ns:
            self._list_again(folder, path, depth, fresh=before is None)

    def _read_journal(
        self,
        folder: str,
        path: str,
        before: FolderState | None,
        journal: tuple[int, int] | None,
    ) -> tuple[int | None, int]:
        if journal is None:
            return None, 0
        inode, size = journal
        if before is None:  # every bundle is signed anyway
            return inode, size
        if before.journal_inode is None:  # begun since: every line is new
            start = 0
        elif before.journal_inode != inode or size < before.journal_offset:
            self.found.to_check |= self._bundles_in(folder)  # replaced: its lines are lost
            return inode, size
        else:
            start = before.journal_offset
        if size == start:
            return inode, start
        names, offset = names_between(path, start, size)
        prefix = "" if folder == ROOT else f"{folder}/"
        self.found.to_check |= {prefix + name for name in names}
        return inode, offset

    def _list_again(self, folder: str, path: str, depth: int, *, fresh: bool) -> None:
        """The folder's entries: bundles gained (all of them when `fresh`), bundles lost,
        and folders of bundles gained (looked into at once)."""
        prefix = "" if folder == ROOT else f"{folder}/"
        bundles = self._bundles_in(folder) if depth else set()  # the runs dir holds none
        entries = {entry.name: entry for entry in _subfolders(path)}
        for name, entry in entries.items():
            rel = prefix + name
            if rel in self.stored:
                continue  # a folder of bundles: visited on its own
            if rel in bundles:
                if fresh:
                    self.found.to_check.add(rel)
                continue
            sig = signature(entry) if depth else None
            if sig is not None:
                self.found.signed[rel] = sig
            elif depth < 2:  # an experiment's folder, or a sweep's
                self._visit(rel, None)
        self.found.removed |= {rel for rel in bundles if rel.rpartition("/")[2] not in entries}

    def _gone(self, folder: str) -> None:
        self.found.gone_folders.add(folder)
        self.found.removed |= self._bundles_in(folder)
        for inner in self.stored:
            if inner.startswith(f"{folder}/"):
                self.found.gone_folders.add(inner)
                self.found.removed |= self._bundles_in(inner)

    def _bundles_in(self, folder: str) -> set[str]:
        if self._by_folder is None:
            self._by_folder = {}
            for rel in self.known:
                self._by_folder.setdefault(rel.rpartition("/")[0], set()).add(rel)
        return self._by_folder.get(folder, set())


def _depth(folder: str) -> int:
    return 0 if folder == ROOT else folder.count("/") + 1
