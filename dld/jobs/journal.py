"""The journal: jobs, their item lists, and every object's outcome, in SQLite (WAL). The only database.

Theory of operation:

* Writes are batched: ``record`` appends an outcome to an in-memory batch, and ``flush`` commits the batch
  together with the counters of every job it touched, in one transaction. A batch is flushed when it reaches
  ``BATCH_MAX`` rows or when the daemon's flusher task wakes (every ``BATCH_INTERVAL_S``), so the journal costs
  one commit per thousand objects, never one per object. Outcomes and counters commit together, so after a crash
  they agree with each other.
* A job's row holds its spec (JSON), header fields, counters and ``cursor``: the enumeration index below which
  every item has an outcome in the journal (the low-water mark a restarted daemon resumes from).
* Multi jobs keep their (name, link) list in ``items`` so dispatching reads it in pages instead of holding it.
* Reads that can be large (finished tasks, errors, manifests) are generators over a cursor, fetched in pages.
* ``frontier`` is a reservation made *before* dispatching: no item at or above it has been dispatched. It is
  raised a thousand items at a time with its own small commit, so after a crash the items that may have been
  published without a journaled outcome are exactly those in ``[cursor, frontier)``.
* ``PRAGMA user_version`` is the schema version. A journal from a newer dld, or one SQLite says is corrupt, is
  refused with a message saying what to do; an older one is migrated in place.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import JournalError, JournalFull

log = logging.getLogger("dld.journal")

SCHEMA_VERSION = 2
BATCH_MAX = 1000
BATCH_INTERVAL_S = 0.2

DONE, SKIPPED, FAILED = 1, 2, 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs(
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    spec TEXT NOT NULL,
    description TEXT NOT NULL,
    xaction_id TEXT NOT NULL,
    started_ns INTEGER NOT NULL,
    finished_ns INTEGER NOT NULL DEFAULT 0,
    aborted INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL,
    all_dispatched INTEGER NOT NULL DEFAULT 0,
    cursor INTEGER NOT NULL DEFAULT 0,
    frontier INTEGER NOT NULL DEFAULT 0,
    finished_cnt INTEGER NOT NULL DEFAULT 0,
    scheduled_cnt INTEGER NOT NULL DEFAULT 0,
    skipped_cnt INTEGER NOT NULL DEFAULT 0,
    error_cnt INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS items(
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    link TEXT NOT NULL,
    PRIMARY KEY(job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcomes(
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    link TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    blake3 TEXT NOT NULL DEFAULT '',
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    start_ns INTEGER NOT NULL DEFAULT 0,
    end_ns INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(job_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outcomes_by_kind ON outcomes(job_id, outcome, name);
"""

# _MIGRATIONS[v] turns schema v into v + 1.
_MIGRATIONS = {
    1: "ALTER TABLE jobs ADD COLUMN frontier INTEGER NOT NULL DEFAULT 0;",
}

_JOB_COLS = ("id", "seq", "spec", "description", "xaction_id", "started_ns", "finished_ns", "aborted", "total",
             "all_dispatched", "cursor", "frontier", "finished_cnt", "scheduled_cnt", "skipped_cnt", "error_cnt")
_COUNTER_COLS = ("finished_ns", "aborted", "total", "all_dispatched", "cursor", "finished_cnt", "scheduled_cnt",
                 "skipped_cnt", "error_cnt")


@dataclass(slots=True, kw_only=True)
class Outcome:
    job_id: str
    idx: int
    name: str
    link: str
    outcome: int
    size: int = 0
    total: int = 0
    blake3: str = ""
    etag: str = ""
    last_modified: str = ""
    error: str = ""
    start_ns: int = 0
    end_ns: int = 0

    def row(self) -> tuple[Any, ...]:
        return (self.job_id, self.idx, self.name, self.link, self.outcome, self.size, self.total, self.blake3,
                self.etag, self.last_modified, self.error, self.start_ns, self.end_ns)


class Journal:
    """Owned by the daemon; every call runs on the trio thread (a commit of a batch takes about a millisecond)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise JournalError(
                f"journal {path} is unusable ({e}). If it is corrupt, move it aside (the downloaded objects are "
                "safe; only job history is lost) and start dld again."
            ) from e
        self._batch: list[Outcome] = []
        self._dirty: dict[str, dict[str, Any]] = {}
        self.write_error = ""  # why the last flush failed ("" once writes succeed again)
        self._logged_at = 0.0

    def _migrate(self) -> None:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.path} has schema version {version}, newer than this dld understands "
                f"({SCHEMA_VERSION}). Run the newer dld, or point --data-dir elsewhere."
            )
        (ok,) = self.db.execute("PRAGMA quick_check(1)").fetchone()
        if ok != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {ok}")
        if version == 0:
            self.db.executescript("BEGIN;" + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};COMMIT;")
            return
        for v in range(version, SCHEMA_VERSION):
            self.db.executescript("BEGIN;" + _MIGRATIONS[v] + f"PRAGMA user_version={v + 1};COMMIT;")

    def close(self) -> None:
        self.flush()
        self.db.close()

    # ---- writes ------------------------------------------------------------------------------------------------
    # SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR), so a ROLLBACK of our
    # own is only sent while one is still open: otherwise it fails and hides the real error.

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _failed(self, what: str, e: sqlite3.Error) -> JournalError:
        if "full" in str(e).lower():
            return JournalFull(f"{what}: no space left for the journal {self.path} ({e}); free space on its disk "
                               "and retry")
        return JournalError(f"{what}: writing the journal {self.path} failed ({e})")

    def insert_job(self, row: dict[str, Any], items: list[tuple[str, str]] | None = None) -> None:
        """Record a new job (and a multi job's list) durably before the job is acknowledged to the client."""
        self.flush()
        db = self.db
        db.execute("BEGIN")
        try:
            db.execute(f"INSERT INTO jobs({','.join(_JOB_COLS)}) VALUES({','.join('?' * len(_JOB_COLS))})",
                       [row[c] for c in _JOB_COLS])
            if items:
                db.executemany("INSERT INTO items(job_id, idx, name, link) VALUES(?,?,?,?)",
                               ((row["id"], i, n, link) for i, (n, link) in enumerate(items)))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise self._failed("cannot record the job", e) from e
        except BaseException:
            self._rollback()
            raise

    def record(self, outcome: Outcome, counters: dict[str, Any]) -> None:
        """Queue an object's outcome and the job's counters as of that outcome."""
        self._batch.append(outcome)
        self._dirty[outcome.job_id] = counters
        if len(self._batch) >= BATCH_MAX and not self.write_error:  # failing: the flusher task retries
            self.flush()

    def reserve_frontier(self, job_id: str, frontier: int) -> None:
        """Durably promise that no item at or above ``frontier`` has been dispatched (committed at once).

        Raises:
            JournalError: the promise could not be written; nothing at or above the old frontier may be dispatched.
        """
        try:
            self.db.execute("UPDATE jobs SET frontier=? WHERE id=?", (frontier, job_id))
        except sqlite3.Error as e:
            raise self._failed("cannot reserve dispatch", e) from e

    def update_job(self, job_id: str, counters: dict[str, Any]) -> None:
        """Queue a change of a job's header (finished, aborted, all_dispatched, cursor) for the next flush."""
        self._dirty[job_id] = counters

    def flush(self) -> bool:
        """Commit what is queued. A failed commit (disk full, I/O error) keeps it queued for the next flush,
        logs, and returns False: outcomes are never dropped, and the daemon goes on (objects already published
        are recognized after a crash by their metadata)."""
        if not self._batch and not self._dirty:
            return True
        batch, dirty = self._batch, self._dirty
        self._batch, self._dirty = [], {}
        db = self.db
        db.execute("BEGIN")
        try:
            if batch:
                db.executemany("INSERT OR REPLACE INTO outcomes VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               (o.row() for o in batch))
            for job_id, c in dirty.items():
                db.execute(f"UPDATE jobs SET {','.join(k + '=?' for k in _COUNTER_COLS)} WHERE id=?",
                           [c[k] for k in _COUNTER_COLS] + [job_id])
            db.execute("COMMIT")
        except BaseException as e:
            self._rollback()
            self._batch = batch + self._batch
            for k, v in dirty.items():
                self._dirty.setdefault(k, v)
            if not isinstance(e, sqlite3.Error):
                raise
            self.write_error = str(self._failed(f"{len(self._batch)} outcomes wait", e))
            if time.monotonic() - self._logged_at > 10:
                self._logged_at = time.monotonic()
                log.warning("%s", self.write_error)
            return False
        if self.write_error:
            log.warning("journal writable again; queued outcomes recorded")
            self.write_error = ""
        return True

    @property
    def pending(self) -> int:
        return len(self._batch)

    def delete_job(self, job_id: str) -> None:
        self.flush()
        db = self.db
        try:
            db.execute("BEGIN")
            db.execute("DELETE FROM outcomes WHERE job_id=?", (job_id,))
            db.execute("DELETE FROM items WHERE job_id=?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise self._failed("cannot remove the job", e) from e

    # ---- reads -------------------------------------------------------------------------------------------------

    def jobs(self) -> list[dict[str, Any]]:
        cur = self.db.execute(f"SELECT {','.join(_JOB_COLS)} FROM jobs ORDER BY seq")
        return [dict(zip(_JOB_COLS, r, strict=True)) for r in cur]

    def max_seq(self) -> int:
        (m,) = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
        return int(m)

    def items(self, job_id: str, start: int, limit: int) -> list[tuple[int, str, str]]:
        return self.db.execute("SELECT idx, name, link FROM items WHERE job_id=? AND idx>=? ORDER BY idx LIMIT ?",
                               (job_id, start, limit)).fetchall()

    def outcome_indices(self, job_id: str, start: int) -> Iterator[int]:
        """Indices at or above ``start`` that already have an outcome, ascending, paged (the ragged edge above a
        resumed job's cursor can be millions of rows long)."""
        self.flush()
        return (r[0] for r in self._paged("SELECT idx FROM outcomes WHERE job_id=? AND idx>? ORDER BY idx LIMIT ?",
                                          (job_id,), start=start - 1))

    def _paged(self, sql: str, args: tuple[Any, ...], page: int = 1000, start: int = -1) -> Iterator[tuple[Any, ...]]:
        # A fresh cursor per page: the generator may be resumed after other statements (and commits) ran.
        last = start
        while True:
            rows = self.db.execute(sql, (*args, last, page)).fetchall()
            yield from rows
            if len(rows) < page:
                return
            last = rows[-1][0]

    def finished_tasks(self, job_id: str) -> Iterator[tuple[Any, ...]]:
        """(idx, name, size, total, start_ns, end_ns) of every transferred object, done or failed, by index."""
        self.flush()
        return self._paged("SELECT idx, name, size, total, start_ns, end_ns FROM outcomes WHERE job_id=? "
                           "AND outcome!=? AND idx>? ORDER BY idx LIMIT ?", (job_id, SKIPPED))

    def errors(self, job_id: str) -> Iterator[tuple[str, str]]:
        """(name, error) of every failed object, sorted by name (AIS sorts them so)."""
        self.flush()
        last_name, last_idx = "", -1
        while True:
            rows = self.db.execute(
                "SELECT name, error, idx FROM outcomes WHERE job_id=? AND outcome=? AND (name, idx) > (?, ?) "
                "ORDER BY name, idx LIMIT 1000", (job_id, FAILED, last_name, last_idx)).fetchall()
            for name, error, _ in rows:
                yield name, error
            if len(rows) < 1000:
                return
            last_name, last_idx = rows[-1][0], rows[-1][2]

    def manifest(self, job_id: str) -> Iterator[tuple[Any, ...]]:
        """Every outcome row of a job, by index."""
        self.flush()
        return self._paged("SELECT idx, name, link, outcome, size, total, blake3, etag, last_modified, error, "
                           "start_ns, end_ns FROM outcomes WHERE job_id=? AND idx>? ORDER BY idx LIMIT ?",
                           (job_id,))
