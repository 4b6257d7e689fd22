"""An index of the bundles in a runs directory: one SQLite row per bundle, so that listing
10,000 runs reads one small database instead of 30,000 files.

    <runs_dir>/.ednax-index.sqlite

The index is a cache, never the truth: every read first takes a cheap signature of each
bundle on disk (`ednax.runs.layout`) and re-reads only the bundles whose signature changed
(`ednax.runs.record.read_row`); rows of bundles that are gone are dropped. So the index is
built when missing, caught up when stale, and rebuilt from scratch when it is corrupt or
of an older schema.

Concurrent readers and writers are safe: each catch-up is one `BEGIN IMMEDIATE`
transaction of idempotent upserts keyed by the bundle's path, computed from files read
before the transaction, and a signature is always taken before the files it describes are
read, so a row written from an older read is caught up by the next reader. When the index
cannot be written (a read-only runs directory, a lock held too long), the listing is still
computed, in memory, and the next reader writes it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from ednax.runs.layout import runs_dir_of, scan, signature
from ednax.runs.record import COLUMNS, NAMES, SIG_AT, RunRecord, read_row
from ednax.runs.versions import number_versions

INDEX_FILE = ".ednax-index.sqlite"
# Bump when the schema or what `read_row` derives from a bundle changes: the index is rebuilt.
SCHEMA_VERSION = "5"
LOCK_TIMEOUT_S = 5.0

_SELECT = f"SELECT {', '.join(NAMES)} FROM runs"
_UPSERT = f"INSERT OR REPLACE INTO runs ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})"


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
        scanned = scan(self.runs_dir, folder)
        if not scanned and not self.path.exists():
            return []  # nothing to index: leave no index file behind
        rows = self._sync(scanned, folder)
        records = [RunRecord(self.runs_dir, row) for row in rows]
        if experiment:
            records = [r for r in records if r.experiment == experiment]
        records.sort(key=lambda r: (r.id, r.rel))
        number_versions(records)
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
                rel = row[0]
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

    def _sync(self, scanned: dict[str, str], folder: str | None) -> list[tuple]:
        for _attempt in range(2):
            try:
                con = self._open()
            except sqlite3.OperationalError:  # no runs dir, read-only, locked
                break
            except sqlite3.DatabaseError:  # not a database, malformed: a cache, start over
                self._remove()
                continue
            try:
                return self._catch_up(con, scanned, folder)
            except sqlite3.OperationalError:
                break
            except sqlite3.DatabaseError:
                self._remove()
            finally:
                con.close()
        # The index cannot be used: list from the bundles themselves.
        return [read_row(self.runs_dir, rel, sig) for rel, sig in scanned.items()]

    def _catch_up(
        self, con: sqlite3.Connection, scanned: dict[str, str], folder: str | None
    ) -> list[tuple]:
        if folder is None:
            rows = con.execute(_SELECT).fetchall()
        else:
            rows = con.execute(_SELECT + " WHERE folder = ?", (folder,)).fetchall()
        stored = {row[0]: row for row in rows}
        sig_at = SIG_AT
        changed = [
            rel for rel, sig in scanned.items() if rel not in stored or stored[rel][sig_at] != sig
        ]
        removed = [rel for rel in stored if rel not in scanned]
        if not changed and not removed:
            return rows
        fresh = [read_row(self.runs_dir, rel, scanned[rel]) for rel in changed]
        with contextlib.suppress(sqlite3.OperationalError):  # locked or read-only: next time
            self._write(con, fresh, removed)
        for rel in removed:
            del stored[rel]
        stored.update((row[0], row) for row in fresh)
        return list(stored.values())

    @staticmethod
    def _write(con: sqlite3.Connection, fresh: list[tuple], removed: list[str]) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("DELETE FROM runs WHERE path = ?", ((rel,) for rel in removed))
            con.executemany(_UPSERT, fresh)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

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
        con.execute("DROP TABLE IF EXISTS runs")
        con.execute("DROP TABLE IF EXISTS meta")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
        con.execute(f"CREATE TABLE runs ({columns})")
        con.execute("CREATE INDEX runs_folder ON runs (folder)")
        con.execute("CREATE INDEX runs_id ON runs (id)")
        con.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
