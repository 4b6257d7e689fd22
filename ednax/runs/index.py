"""An index of the bundles in a runs directory: one SQLite row per bundle, so that listing
100,000 runs reads one small database instead of 300,000 files.

    <runs_dir>/.ednax-index.sqlite

The index is a cache, never the truth. Every read first catches it up with the disk
without a stat of every bundle (`ednax.runs.watch`): the folders of bundles whose time
changed are listed again, the bundles their journals name (the bundle writer appends one
line a run.json write, `ednax.runs.journal`) are signed again, and so are, on every read,
the bundles still `running` or `corrupt` (a run started by an older ednax writes no
journal) and the next `VERIFY_BATCH` bundles of a rotation through all of them, so that a
change ednax did not write (a file edited or deleted by hand) is seen within
N / VERIFY_BATCH reads, and at once under VERIFY_BATCH bundles. A bundle whose signature
(`ednax.runs.layout`) changed is read again (`ednax.runs.record.read_row`); rows of
bundles that are gone are dropped. So the index is built when missing, caught up when
stale, and rebuilt from scratch when it is corrupt or of an older schema.

A listing reads only the columns it filters and sorts on from a covering index, in id
order; a record fetches the rest of its row when first asked (`_RestOfRows`). Versions are
numbered in one pass over the rows.

Concurrent readers and writers are safe: each catch-up is one `BEGIN IMMEDIATE`
transaction of idempotent upserts keyed by the bundle's path, computed from files read
after the index's state was read, and a folder's journal offset is taken before the
bundles it names are signed, so a row written from an older read is caught up by the next
reader. When the index cannot be written (a read-only runs directory, a lock held too
long), the listing is still computed, in memory, and the next reader writes it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sqlite3
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path

from ednax.runs.layout import runs_dir_of, scan, signature
from ednax.runs.record import (
    COLUMNS,
    CORRUPT,
    LISTED,
    NAMES,
    PATH_AT,
    SIG_AT,
    RunRecord,
    read_row,
)
from ednax.runs.versions import number_versions
from ednax.runs.watch import FolderState, look

INDEX_FILE = ".ednax-index.sqlite"
# Bump when the schema or what `read_row` derives from a bundle changes: the index is rebuilt.
SCHEMA_VERSION = "7"
LOCK_TIMEOUT_S = 5.0
VERIFY_BATCH = 5_000  # bundles signed on every read, in turn, whatever the journals say
FETCH_ALL_AFTER = 200  # rows fetched one by one before the rest are fetched at once
UNSETTLED = ("running", CORRUPT)

_ID_AT = NAMES.index("id")
_STATUS_AT = NAMES.index("status")
_EXPERIMENT_AT = NAMES.index("experiment")
_STRUCTURE_AT = NAMES.index("structure")
_SELECT = f"SELECT {', '.join(NAMES)} FROM runs"
_SELECT_LISTED = f"SELECT {', '.join(NAMES[:LISTED])} FROM runs INDEXED BY runs_listed"
_UPSERT = f"INSERT OR REPLACE INTO runs ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})"
_IN_CHUNK = 500
_BY_ID = itemgetter(_ID_AT, PATH_AT)


def list_runs(runs_dir: str | os.PathLike[str], experiment: str | None = None) -> list[RunRecord]:
    """Every bundle under `runs_dir` (one experiment's when given), oldest first."""
    return RunIndex(runs_dir).records(experiment)


def read_record(path: str | os.PathLike[str]) -> RunRecord:
    """The record of one bundle folder, read directly (not through an index)."""
    path = Path(path).resolve()
    runs_dir = runs_dir_of(path)
    sig = signature(str(path)) or ""
    record = RunRecord(runs_dir, read_row(runs_dir, path.relative_to(runs_dir).as_posix(), sig))
    number_versions([record])
    return record


class RunIndex:
    """The index of one runs directory."""

    def __init__(self, runs_dir: str | os.PathLike[str]):
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / INDEX_FILE

    def records(self, experiment: str | None = None) -> list[RunRecord]:
        """Catch the index up with the bundles on disk and return their records, oldest
        first, with versions numbered per experiment."""
        folder = experiment if experiment and (self.runs_dir / experiment).is_dir() else None
        if experiment and folder is None:
            return []
        with _collector_paused():  # 100,000 rows hold no cycles to look for
            rows = self._listing(folder)
            if rows is None:
                return []
            if experiment:
                rows = [row for row in rows if row[_EXPERIMENT_AT] == experiment]
            return self._records(rows)

    def _records(self, rows: list[tuple]) -> list[RunRecord]:
        """A record of each row (in id order), with its version: the structures of each
        experiment numbered in the order they first ran (`versions.number_versions`' rule,
        in one pass over the rows)."""
        rest = _RestOfRows(self)
        numbers: dict[tuple[str, str], str] = {}
        counts: dict[str, int] = {}
        records = []
        for row in rows:
            record = RunRecord(self.runs_dir, row, rest)
            structure = row[_STRUCTURE_AT]
            if structure:
                key = (row[_EXPERIMENT_AT], structure)
                version = numbers.get(key)
                if version is None:
                    counts[key[0]] = count = counts.get(key[0], 0) + 1
                    version = numbers[key] = f"v{count}"
                record.version = version
            records.append(record)
        return records

    def lookup(self, run_id: str) -> list[RunRecord]:
        """The runs with exactly this id, from the index as it is (no catch-up), each
        checked against its bundle on disk. Empty when the index does not know the id
        (yet): then list with `records`."""
        try:
            con = self._open()
        except sqlite3.DatabaseError:
            return []
        try:
            rows = con.execute(_SELECT + " WHERE id = ?", (run_id,)).fetchall()
            found = []
            for row in rows:
                rel = row[PATH_AT]
                sig = signature(str(self.runs_dir / rel))
                if sig is None:
                    continue  # gone since it was indexed
                if sig != row[SIG_AT]:
                    row = read_row(self.runs_dir, rel, sig)
                record = RunRecord(self.runs_dir, row)
                record.version = self._version_of(con, record)
                found.append(record)
            return found
        except sqlite3.DatabaseError:
            return []
        finally:
            con.close()

    @staticmethod
    def _version_of(con: sqlite3.Connection, record: RunRecord) -> str:
        if not record.structure:
            return ""
        firsts = con.execute(
            "SELECT structure, MIN(id) AS first FROM runs WHERE experiment = ? "
            "AND structure IS NOT NULL GROUP BY structure ORDER BY first",
            (record.experiment,),
        ).fetchall()
        structures = [structure for structure, _ in firsts]
        if record.structure not in structures:
            return ""
        return f"v{structures.index(record.structure) + 1}"

    def full_row(self, rel: str, con: sqlite3.Connection | None) -> tuple:
        """The whole row of the bundle at `rel`: the index's, else read from its files."""
        if con is not None:
            with contextlib.suppress(sqlite3.DatabaseError):
                row = con.execute(_SELECT + " WHERE path = ?", (rel,)).fetchone()
                if row is not None:
                    return row
        return read_row(self.runs_dir, rel, signature(str(self.runs_dir / rel)) or "")

    def full_rows(self, con: sqlite3.Connection) -> dict[str, tuple]:
        return {row[PATH_AT]: row for row in con.execute(_SELECT).fetchall()}

    def _listing(self, folder: str | None) -> list[tuple] | None:
        """The rows under `folder` (all when None), oldest first; None when there is
        nothing to index."""
        if not self.path.exists():
            found = look(self.runs_dir, folder, {}, set())
            if not found.signed:
                return None  # nothing to index: leave no index file behind
        for _attempt in range(2):
            try:
                con = self._open()
            except sqlite3.OperationalError:  # no runs dir, read-only, locked
                break
            except sqlite3.DatabaseError:  # not a database, malformed: a cache, start over
                self._remove()
                continue
            try:
                return _CatchUp(self, con, folder).run()
            except sqlite3.OperationalError:
                break
            except sqlite3.DatabaseError:
                self._remove()
            finally:
                con.close()
        # The index cannot be used: list from the bundles themselves.
        scanned = scan(self.runs_dir, folder)
        rows = [read_row(self.runs_dir, rel, sig) for rel, sig in scanned.items()]
        rows.sort(key=_BY_ID)
        return rows

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
        try:
            # A cache: losing the last transactions to a power cut costs one rebuild,
            # cheaper than an fsync per listing. The rollback journal keeps it whole if a
            # process is killed mid-write.
            con.execute("PRAGMA synchronous = OFF")
            if _schema_version(con) != SCHEMA_VERSION:
                _create_schema(con)
        except BaseException:
            con.close()
            raise
        return con

    def _remove(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")


class _CatchUp:
    """One read of the index: its rows and folder states, what changed on disk since, the
    changes written back, the rows as they are now."""

    def __init__(self, index: RunIndex, con: sqlite3.Connection, folder: str | None):
        self.index = index
        self.con = con
        self.folder = folder
        self.root = os.fspath(index.runs_dir)
        self.cursor_key = f"verified:{folder or ''}"

    def run(self) -> list[tuple]:
        con = self.con
        con.execute("BEGIN")  # one snapshot of rows, folder states and the rotation
        try:
            rows = self._select(_SELECT_LISTED, " ORDER BY id, path")
            folders = self._folders()
            cursor = _meta(con, self.cursor_key)
            verified, cursor_now = self._verify_batch(len(rows), cursor)
            unsettled = {row[PATH_AT] for row in rows if row[_STATUS_AT] in UNSETTLED}
            verified.update(self._signatures(unsettled - verified.keys()))
        finally:
            con.execute("COMMIT")
        known = dict(zip(map(itemgetter(PATH_AT), rows), rows, strict=True))
        found = look(self.index.runs_dir, self.folder, folders, known.keys())
        # Rows as the index holds them now: another reader may have caught them up since
        # the snapshot, and then the disk matches them, not the snapshot.
        current = self._rows_of(found.to_check - verified.keys())
        stored = {**verified, **{rel: row[SIG_AT] for rel, row in current.items()}}
        fresh_sigs = dict(found.signed)
        removed = set(found.removed)
        caught_up = []
        for rel in found.to_check | unsettled | verified.keys():
            sig = signature(f"{self.root}/{rel}")
            if sig is None:
                if rel in known or rel in current:
                    removed.add(rel)
            elif sig != stored.get(rel):
                fresh_sigs[rel] = sig
            elif rel in current and (rel not in known or current[rel][:LISTED] != known[rel]):
                caught_up.append(current[rel])
        fresh = [read_row(self.index.runs_dir, rel, sig) for rel, sig in fresh_sigs.items()]
        states = {k: v for k, v in found.folders.items() if folders.get(k) != v}
        if fresh or removed or states or found.gone_folders or cursor_now != cursor:
            self._write(fresh, removed, states, found.gone_folders, cursor_now)
        if fresh or removed or caught_up:
            rows = _merged(rows, removed, [*caught_up, *fresh])
        return rows

    def _select(
        self, select: str, order: str = "", where: tuple = (), limit: int | None = None
    ) -> list[tuple]:
        """`select` (with its `where` parameters) within the folder listed, then `order`
        (and its LIMIT ?, when `limit` is given)."""
        params = list(where)
        if self.folder is not None:
            select += " AND folder = ?" if "WHERE" in select else " WHERE folder = ?"
            params.append(self.folder)
        if limit is not None:
            params.append(limit)
        return self.con.execute(select + order, params).fetchall()

    def _folders(self) -> dict[str, FolderState]:
        rows = self.con.execute("SELECT path, mtime, journal_inode, journal_offset FROM folders")
        folder = self.folder
        return {
            path: FolderState(mtime, inode, offset)
            for path, mtime, inode, offset in rows
            if folder is None or path == folder or path.startswith(f"{folder}/")
        }

    def _verify_batch(self, count: int, cursor: str | None) -> tuple[dict[str, str], str | None]:
        """The next VERIFY_BATCH bundles of the rotation (all of them when there are no
        more) with their stored signatures, and where the rotation goes on next time."""
        select = "SELECT id, path, sig FROM runs INDEXED BY runs_listed"
        if count <= VERIFY_BATCH:
            return {path: sig for _, path, sig in self._select(select)}, cursor
        after = json.loads(cursor) if cursor else ["", ""]
        order = " ORDER BY id, path LIMIT ?"
        batch = self._select(
            select + " WHERE (id, path) > (?, ?)", order, tuple(after), VERIFY_BATCH
        )
        if len(batch) < VERIFY_BATCH:  # round again from the oldest
            batch += self._select(select, order, limit=VERIFY_BATCH - len(batch))
        last = batch[-1]
        return {path: sig for _, path, sig in batch}, json.dumps([last[0], last[1]])

    def _signatures(self, rels: set[str]) -> dict[str, str]:
        """The stored signatures of the bundles at `rels` (those the index holds)."""
        return dict(self._by_path("SELECT path, sig FROM runs", rels))

    def _rows_of(self, rels: set[str]) -> dict[str, tuple]:
        """The index's whole rows of the bundles at `rels` (those it holds)."""
        return {row[PATH_AT]: row for row in self._by_path(_SELECT, rels)}

    def _by_path(self, select: str, rels: set[str]) -> list[tuple]:
        found: list[tuple] = []
        ordered = sorted(rels)
        for at in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[at : at + _IN_CHUNK]
            query = f"{select} WHERE path IN ({', '.join('?' * len(chunk))})"
            found += self.con.execute(query, chunk).fetchall()
        return found

    def _write(
        self,
        fresh: list[tuple],
        removed: set[str],
        states: dict[str, FolderState],
        gone_folders: set[str],
        cursor: str | None,
    ) -> None:
        """The changes, in one transaction; none when the index cannot be written
        (locked, read-only: the next reader writes)."""
        con = self.con
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return
        try:
            con.executemany("DELETE FROM runs WHERE path = ?", ((rel,) for rel in removed))
            con.executemany(_UPSERT, fresh)
            con.executemany("DELETE FROM folders WHERE path = ?", ((f,) for f in gone_folders))
            con.executemany(
                "INSERT OR REPLACE INTO folders VALUES (?, ?, ?, ?)",
                ((f, s.mtime, s.journal_inode, s.journal_offset) for f, s in states.items()),
            )
            if cursor is not None:
                con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (self.cursor_key, cursor))
            con.execute("COMMIT")
        except sqlite3.OperationalError:
            con.execute("ROLLBACK")
        except BaseException:
            con.execute("ROLLBACK")
            raise


class _RestOfRows:
    """The columns a listing did not read, fetched when a record first needs them: one row
    at a time for the few a table shows, every row at once past FETCH_ALL_AFTER."""

    def __init__(self, index: RunIndex):
        self.index = index
        self.fetched = 0
        self.every: dict[str, tuple] | None = None
        self._con: sqlite3.Connection | None = None
        self._opened = False

    def __call__(self, rel: str) -> tuple:
        con = self._connection()
        self.fetched += 1
        if con is not None and self.every is None and self.fetched > FETCH_ALL_AFTER:
            self.every = {}  # tried once: a failure fetches one row at a time
            with contextlib.suppress(sqlite3.DatabaseError), _collector_paused():
                self.every = self.index.full_rows(con)
        if self.every is not None and rel in self.every:
            return self.every[rel]
        return self.index.full_row(rel, con)

    def _connection(self) -> sqlite3.Connection | None:
        if not self._opened:
            self._opened = True
            with contextlib.suppress(sqlite3.Error):
                uri = f"{self.index.path.resolve().as_uri()}?mode=ro"
                self._con = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT_S)
        return self._con


def _merged(rows: list[tuple], removed: set[str], newer: list[tuple]) -> list[tuple]:
    """`rows` without the removed ones, with the `newer` ones in their place, in id order."""
    replaced = removed | {row[PATH_AT] for row in newer}
    merged = [row for row in rows if row[PATH_AT] not in replaced]
    merged += newer
    merged.sort(key=_BY_ID)
    return merged


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _meta(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _schema_version(con: sqlite3.Connection) -> str | None:
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return row[0] if row else None


def _create_schema(con: sqlite3.Connection) -> None:
    con.execute("BEGIN IMMEDIATE")
    try:
        if _schema_version(con) == SCHEMA_VERSION:  # another process just did it
            con.execute("COMMIT")
            return
        for table in ("runs", "meta", "folders"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
        con.execute(f"CREATE TABLE runs ({columns})")
        # A listing reads the listed columns of every row (and a bundle's signature) from
        # this index alone, in id order, never the wide rows.
        listed = ", ".join(("id", *(n for n in NAMES[:LISTED] if n != "id"), "folder", "sig"))
        con.execute(f"CREATE INDEX runs_listed ON runs ({listed})")
        con.execute(
            "CREATE TABLE folders (path TEXT PRIMARY KEY, mtime INTEGER, "
            "journal_inode INTEGER, journal_offset INTEGER NOT NULL)"
        )
        con.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
