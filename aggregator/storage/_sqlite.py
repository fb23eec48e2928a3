"""Connections, transactions, error translation and migrations. No business logic.

One connection per thread (``threading.local``): the scheduler's pool writes while the
web server's threads read. Every connection runs in WAL mode, where readers never
block the writer nor each other (https://sqlite.org/wal.html), with a busy timeout
so that two writers queue instead of failing.

Write transactions start with ``BEGIN IMMEDIATE``: they take the write lock up front,
so the busy handler can wait for it. A deferred transaction that reads first and then
writes can instead fail at once with SQLITE_BUSY_SNAPSHOT ("database is locked") when
another writer committed in between, and the busy handler cannot help
(https://sqlite.org/lang_transaction.html, "BEGIN IMMEDIATE").

Before the first read-write connection, ``_files.check_before_open`` looks at the
file without changing it: another application's file, a newer schema and a ``-wal``
that does not belong to the database are refused there, with nothing written.

No ``PRAGMA quick_check`` on every open: it reads the whole file, seconds for a million
entries. It runs only on the first open after an unclean stop, when a WAL is replayed
(see ``_files``). A damaged file is otherwise reported as ``CorruptDatabaseError`` by
the first statement that meets the damage (``translate_errors``).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from .. import errors
from ._files import RESTORE_ADVICE, check_before_open, newer_schema, register
from ._schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 10
# RETURNING (3.35) and FTS5's remove_diacritics 2 (3.27).
MIN_SQLITE_VERSION = (3, 35, 0)

_WHAT_TO_DO = "use --db to pick another file"


# --- times ---------------------------------------------------------------------------


def to_ts(dt: datetime) -> int:
    """Aware datetime -> unix seconds. Naive datetimes are a bug: refuse them."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware UTC datetime")
    return int(dt.timestamp())


def opt_ts(dt: datetime | None) -> int | None:
    return None if dt is None else to_ts(dt)


def from_ts(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


# --- errors --------------------------------------------------------------------------


@contextmanager
def translate_errors(path: str) -> Iterator[None]:
    """Turn the sqlite3 errors a person can act on into ``errors.StorageError``.

    Matching on messages, as lemon24/reader does (its issue #21): the result codes are
    too coarse (SQLITE_ERROR covers most things) and bugs must stay visible, so
    anything not listed here propagates unchanged.
    """
    try:
        yield
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.IntegrityError | sqlite3.ProgrammingError):
            raise
        msg = str(e).lower()
        if "not a database" in msg:
            raise errors.CorruptDatabaseError(
                path,
                f"is not a SQLite database ({e}); refusing to touch it; "
                f"move it away or {_WHAT_TO_DO}",
            ) from e
        if "malformed" in msg or "corrupt" in msg:
            raise errors.CorruptDatabaseError(
                path, f"is damaged ({e}); {RESTORE_ADVICE}, or {_WHAT_TO_DO}"
            ) from e
        if "readonly" in msg or "read-only" in msg:
            raise errors.ReadOnlyDatabaseError(
                path, f"cannot be written ({e}); check permissions or {_WHAT_TO_DO}"
            ) from e
        if "unable to open" in msg:
            raise errors.StorageError(
                path, f"cannot be opened ({e}); check the path and permissions or {_WHAT_TO_DO}"
            ) from e
        if "locked" in msg or "busy" in msg:
            raise errors.StorageError(
                path,
                f"stayed locked by another writer for more than {BUSY_TIMEOUT_SECONDS} s ({e})",
            ) from e
        if "disk is full" in msg:
            raise errors.StorageError(
                path, f"the disk is full ({e}); free some space, then try again"
            ) from e
        if "disk i/o" in msg:
            raise errors.StorageError(
                path,
                f"input/output error ({e}); check that the disk is not full and that "
                "the folder is writable",
            ) from e
        raise


# --- connections ---------------------------------------------------------------------


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: the sqlite3 module never opens transactions behind our
    # back; we BEGIN/COMMIT explicitly. check_same_thread=False only so that close()
    # can close other threads' connections; each one is still used by one thread.
    db = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        db.execute("PRAGMA foreign_keys = ON")
        # The first statement that reads the file: "file is not a database" shows here.
        (app_id,) = db.execute("PRAGMA application_id").fetchone()
        if app_id not in (0, APPLICATION_ID):
            raise errors.ForeignDatabaseError(
                path,
                f"is a SQLite database of another application (application_id "
                f"0x{app_id:08x}); refusing to touch it; {_WHAT_TO_DO}",
            )
        # journal_mode is persistent, asking again is a no-op; synchronous=NORMAL is
        # durable enough in WAL mode (a power loss may drop the last commits, never
        # corrupt) and avoids an fsync per commit.
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        # A committing writer copies the WAL into the database once the WAL holds this
        # many pages (SQLite's default: 1,000, 4 MB). A cold refresh of 1,000 feeds
        # commits ~100 MB: every 4 MB, the same hot pages (FTS segments, index and
        # feed rows) were copied again. 10,000 pages (a WAL of up to ~40 MB while the
        # aggregator runs; removed on a clean stop) cut the storing CPU by ~13 % and
        # its wall time by ~20 % on the benchmark corpus (issue 14).
        db.execute("PRAGMA wal_autocheckpoint = 10000")
        # Debian and others build SQLite with SECURE_DELETE, which zeroes every freed
        # byte: it made purging 6 times slower on the benchmark. FAST still zeroes
        # what costs no extra I/O. Feed items are public text, not secrets.
        db.execute("PRAGMA secure_delete = FAST")
        db.execute("PRAGMA temp_store = MEMORY")
        # KiB, per connection, and there is one connection per thread (4 waitress
        # threads + the scheduler's): 16 MB each put the dashboard over its 150 MB
        # memory target; 8 MB keeps widgets' 500 row lookups warm at ~100 MB peak
        # (benchmarks/dashboard.py), and the OS page cache holds the rest.
        db.execute("PRAGMA cache_size = -8000")
    except BaseException:
        db.close()
        raise
    return db


class _Slot:
    """Holds one thread's connection. When the thread ends, its thread-local data is
    dropped, this object with it, and the finalizer closes the connection explicitly
    (not in the sqlite3 deallocator, which warns on Python 3.13)."""

    __slots__ = ("__weakref__", "db")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db


class _Local(threading.local):
    slot: _Slot | None = None


class StorageBase:
    """Owns the per-thread connections and the transaction helpers."""

    path: str

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._local = _Local()
        self._lock = threading.Lock()
        self._finalizers: list[weakref.finalize] = []
        self._closed = False
        self._prepare_folder()
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise errors.StorageError(
                self.path,
                f"SQLite {sqlite3.sqlite_version} is too old; "
                f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer is needed",
            )
        # Look before touching: nothing is written to a file we must refuse.
        check_before_open(self.path)
        self._unregister = register(self.path)
        weakref.finalize(self, self._unregister)
        try:
            with translate_errors(self.path):
                migrate(self._db(), self.path)
        except BaseException:
            self.close()
            raise

    def _prepare_folder(self) -> None:
        if os.path.isdir(self.path):
            raise errors.StorageError(self.path, f"is a folder, not a file; {_WHAT_TO_DO}")
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            error = (
                errors.ReadOnlyDatabaseError
                if isinstance(e, PermissionError) or e.errno == errno.EROFS
                else errors.StorageError
            )
            raise error(self.path, f"cannot create the folder {folder} ({e}); {_WHAT_TO_DO}") from e
        # WAL needs to create -wal and -shm files next to the database, and a read-only
        # file opens without complaint and fails on the first write: say it now.
        # (access() follows the real uid's permissions; root passes.)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise errors.ReadOnlyDatabaseError(
                self.path, f"the folder {folder} is not writable; {_WHAT_TO_DO}"
            )
        if os.path.exists(self.path) and not os.access(self.path, os.R_OK | os.W_OK):
            raise errors.ReadOnlyDatabaseError(
                self.path, f"the file is not readable and writable; {_WHAT_TO_DO}"
            )

    def _db(self) -> sqlite3.Connection:
        slot = self._local.slot
        if slot is not None:
            return slot.db
        if self._closed:
            raise errors.StorageError(self.path, "the storage was closed")
        with translate_errors(self.path):
            db = _connect(self.path)
        slot = _Slot(db)
        with self._lock:
            if self._closed:  # close() ran while we connected
                db.close()
                raise errors.StorageError(self.path, "the storage was closed")
            self._finalizers = [f for f in self._finalizers if f.alive]
            self._finalizers.append(weakref.finalize(slot, db.close))
        self._local.slot = slot
        return db

    def close(self) -> None:
        """Close every thread's connection; the object cannot be used afterwards."""
        with self._lock:
            self._closed = True
            finalizers, self._finalizers = self._finalizers, []
        for close_connection in finalizers:
            try:
                close_connection()  # runs db.close() once, whichever thread owned it
            except sqlite3.Error as e:  # pragma: no cover - a thread mid-statement
                log.warning("closing a connection to %s: %s", self.path, e)
        self._local.slot = None
        self._unregister()

    @property
    def _open_connections(self) -> int:
        """How many thread connections are open (for tests)."""
        with self._lock:
            return sum(f.alive for f in self._finalizers)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error."""
        db = self._db()
        with translate_errors(self.path):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                # Some errors (SQLITE_FULL, SQLITE_IOERR...) already rolled back.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs that see one snapshot."""
        db = self._db()
        with translate_errors(self.path):
            db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")

    @contextmanager
    def _query(self) -> Iterator[sqlite3.Connection]:
        """A single statement in autocommit mode (its own snapshot)."""
        db = self._db()
        with translate_errors(self.path):
            yield db


# --- migrations ----------------------------------------------------------------------


def migrate(db: sqlite3.Connection, path: str) -> None:
    """Bring the database to SCHEMA_VERSION, one migration per transaction.

    BEGIN IMMEDIATE before reading user_version: two processes opening a new file at
    once wait for each other instead of both creating the tables.
    """
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version == SCHEMA_VERSION:
                db.execute("COMMIT")
                return
            if version > SCHEMA_VERSION:
                raise newer_schema(path, version)
            if version == 0:
                _claim(db, path)
            log.info("%s: migrating schema %d -> %d", path, version, version + 1)
            MIGRATIONS[version + 1](db)
            db.execute(f"PRAGMA user_version = {int(version) + 1}")
            problems = db.execute("PRAGMA foreign_key_check").fetchall()
            if problems:  # pragma: no cover - a broken migration
                raise errors.StorageError(
                    path, f"migration {version + 1} broke foreign keys: {problems[:5]}"
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def _claim(db: sqlite3.Connection, path: str) -> None:
    """Stamp a new, empty file as ours; refuse a SQLite file that already has tables."""
    (app_id,) = db.execute("PRAGMA application_id").fetchone()
    (tables,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    if app_id == 0 and tables:
        raise errors.ForeignDatabaseError(
            path,
            f"is a SQLite database of another application (it has {tables} schema "
            f"objects but no application_id); refusing to touch it; {_WHAT_TO_DO}",
        )
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
