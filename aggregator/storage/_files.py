"""The database's files on disk, looked at before SQLite opens them read-write.

Opening a SQLite file read-write changes it before the first write of ours:
``PRAGMA journal_mode = WAL`` rewrites header bytes 18-19, and the first connection to
a WAL database replays the frames of the ``-wal`` file beside it and, on close, copies
them into the database. So ``check_before_open`` looks first and changes nothing:

* The 100-byte header (https://sqlite.org/fileformat2.html#the_database_header) says
  whether the file is SQLite at all, and gives its ``application_id`` and
  ``user_version``; a read-only connection then counts the schema objects. Another
  application's file (its own application_id, or tables without ours) and a file of a
  newer schema are refused with nothing written and no file created (issue 7, item 9).

* A ``-wal`` file that does not belong to the database (issue 7, item 8). Nothing in a
  WAL ties it to a database: its header carries the page size, a checkpoint counter
  and two random salts, and SQLite replays every frame whose salts and running
  checksum match that header (https://sqlite.org/fileformat2.html#the_write_ahead_log,
  https://sqlite.org/walformat.html). A WAL left by a crash belongs to its database
  and must be replayed. One left beside a database that was replaced by copying a
  backup over it belongs to the file that was there before: replaying it lays pages
  of the newer file over the older one (measured: "Page N is never used", counters
  off, FTS "malformed"), and SQLite reports nothing until a query meets the damage.
  A WAL is only replayed by the first connection to the database (later ones read
  the wal-index the first one built), so that is where it is checked: when the WAL
  holds frames and no other process has the database open, a read-only connection
  replays it in memory (the database file is not written: a read-only connection
  cannot checkpoint) and runs ``PRAGMA quick_check`` plus our own counters'
  invariants. If they fail, the database alone is checked too, to tell "the WAL does
  not belong here" from "the database is damaged"; either way nothing was changed.
  This costs a full read of the file, paid only at the first start after an unclean
  stop (kill, crash, power loss) or a copied-back backup, never after a clean one
  (the last connection deletes the WAL on close). Measured on the dashboard
  benchmark's database (1,000,000 entries, 4.7 GB, 2 cores): 5 s with the file in the
  page cache, 49 s from a cold cache; the counters add 0.06 s, and a full
  ``integrity_check`` would take 13 s warm. A quick_check sees what a foreign WAL
  does to the b-trees (pages of the newer file pointing at pages the older one uses
  otherwise); it cannot see a foreign WAL whose pages happen to fit, which the
  counters' invariants catch in part. Nothing short of a marker written with every
  commit would tie a WAL to its database exactly.

* Whether another process has the database open (``in_use``): every connection to a
  WAL database holds a shared POSIX lock on the "shared" byte range of the database
  file (``PENDING_BYTE + 2``, 510 bytes, sqlite3's os_unix.c) for as long as it is
  open. Trying, and at once releasing, an exclusive lock on that range tells whether
  any other process holds one. POSIX locks belong to the process and closing any
  descriptor of the file drops all of them, so this must never run while this
  process has its own connection to the file: ``Storage`` registers the files it has
  open (``register``) and the checks are skipped for them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from .. import errors
from ._schema import APPLICATION_ID, SCHEMA_VERSION

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
WAL_HEADER_SIZE = 32
WAL_FRAME_HEADER_SIZE = 24
WAL_MAGICS = (0x377F0682, 0x377F0683)
# os_unix.c: PENDING_BYTE is at 1 GiB; SHARED_FIRST = PENDING_BYTE + 2, SHARED_SIZE = 510.
SHARED_FIRST = 0x40000000 + 2
SHARED_SIZE = 510
# At most this many problems are listed in a message.
MAX_PROBLEMS = 5

RESTORE_ADVICE = (
    "restore your last backup with `aggregator restore BACKUP_FILE` (README: Backup and restore)"
)


@dataclass(frozen=True)
class Header:
    page_size: int
    wal_mode: bool  # header bytes 18-19 == 2
    user_version: int
    application_id: int


def read_header(path: str) -> Header | None:
    """The file's SQLite header; None for an empty file (SQLite makes it a new one)."""
    with open(path, "rb") as f:
        data = f.read(HEADER_SIZE)
    if not data:
        return None
    if len(data) < HEADER_SIZE or not data.startswith(MAGIC):
        raise errors.CorruptDatabaseError(
            path,
            "is not a SQLite database; refusing to touch it; move it away or use --db "
            "to pick another file",
        )
    page_size = int.from_bytes(data[16:18], "big")
    return Header(
        page_size=65536 if page_size == 1 else page_size,
        wal_mode=data[18] == 2,
        user_version=int.from_bytes(data[60:64], "big"),
        application_id=int.from_bytes(data[68:72], "big"),
    )


def wal_path(path: str) -> str:
    return path + "-wal"


def wal_has_frames(path: str) -> bool:
    """True when the ``-wal`` beside ``path`` holds at least one frame SQLite would
    replay: a valid header, and a first frame carrying the header's salts (recovery
    stops at the first frame whose salts differ; the checksums are left to SQLite)."""
    try:
        with open(wal_path(path), "rb") as f:
            header = f.read(WAL_HEADER_SIZE)
            frame = f.read(WAL_FRAME_HEADER_SIZE)
    except FileNotFoundError:
        return False
    if len(header) < WAL_HEADER_SIZE or len(frame) < WAL_FRAME_HEADER_SIZE:
        return False
    if int.from_bytes(header[0:4], "big") not in WAL_MAGICS:
        return False
    page_size = int.from_bytes(header[8:12], "big")
    if os.path.getsize(wal_path(path)) < WAL_HEADER_SIZE + WAL_FRAME_HEADER_SIZE + page_size:
        return False
    return frame[8:16] == header[16:24]


# --- who has the file open -----------------------------------------------------------

_registry_lock = threading.Lock()
_open_here: dict[str, int] = {}


def _key(path: str) -> str:
    return os.path.realpath(path)


def register(path: str) -> Callable[[], None]:
    """Note that this process opens ``path``; call the result when it is closed."""
    key = _key(path)
    with _registry_lock:
        _open_here[key] = _open_here.get(key, 0) + 1
    done = threading.Event()

    def unregister() -> None:
        if done.is_set():
            return
        done.set()
        with _registry_lock:
            left = _open_here.get(key, 0) - 1
            if left > 0:
                _open_here[key] = left
            else:
                _open_here.pop(key, None)

    return unregister


def open_here(path: str) -> bool:
    """Does this process hold the database open (through a Storage)?"""
    with _registry_lock:
        return _key(path) in _open_here


def in_use(path: str) -> bool | None:
    """Does another process hold a connection to the database ``path``?

    None when it cannot be told (no POSIX locks, or the file cannot be opened for
    writing). Never call it while this process has the file open (see the module
    docstring); ``open_here`` says so.
    """
    if fcntl is None:  # pragma: no cover - not POSIX
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, SHARED_SIZE, SHARED_FIRST)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, SHARED_SIZE, SHARED_FIRST)
        return False
    finally:
        os.close(fd)


# --- read-only looks -----------------------------------------------------------------


def connect_read_only(path: str, *, immutable: bool = False) -> sqlite3.Connection:
    """A connection that cannot write the database. ``immutable``: read the main file
    only (ignore any -wal, take no locks, create no -shm): for a file nobody writes."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    if immutable:
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def consistency_problems(db: sqlite3.Connection, *, ours: bool) -> list[str]:
    """``PRAGMA quick_check``, then the invariants the triggers keep (when ``ours``
    and migrated): what a foreign WAL breaks first. Empty when all is well."""
    rows = [r[0] for r in db.execute(f"PRAGMA quick_check({MAX_PROBLEMS})")]
    if rows != ["ok"]:
        return [line for r in rows for line in str(r).splitlines() if not line.startswith("***")]
    if not ours:
        return []
    entries, counted, unread, counted_unread = db.execute(
        """
        SELECT (SELECT count(*) FROM entries),
               (SELECT coalesce(sum(entry_count), 0) FROM feeds),
               (SELECT count(*) FROM entries WHERE read = 0),
               (SELECT coalesce(sum(unread_count), 0) FROM feeds)
        """
    ).fetchone()
    problems = []
    if entries != counted:
        problems.append(f"{entries} entries but the feeds count {counted}")
    if unread != counted_unread:
        problems.append(f"{unread} unread entries but the feeds count {counted_unread}")
    return problems


def check_before_open(path: str) -> None:
    """Refuse, changing nothing, a file Storage must not open read-write.

    Raises ``ForeignDatabaseError``, ``CorruptDatabaseError`` (not SQLite, damaged, or
    a ``-wal`` that does not belong to it) or ``StorageError`` (newer schema).
    Returns quietly for a missing or empty file (a new database) and for our own.
    """
    from ._sqlite import translate_errors  # _sqlite imports this module

    if open_here(path) or not os.path.exists(path):
        return
    try:
        header = read_header(path)
    except OSError as e:
        raise errors.StorageError(
            path, f"cannot be read ({e.strerror}); check its permissions or use --db"
        ) from e
    if header is None:
        return
    if header.application_id not in (0, APPLICATION_ID):
        raise _foreign_id(path, header.application_id)
    frames = header.wal_mode and wal_has_frames(path)
    replay = frames and not in_use(path)
    if replay:
        log.warning(
            "%s: its -wal file was left by an unclean stop (or a copied-back file); "
            "checking that it belongs to the database before using it (reads the whole "
            "file once)",
            path,
        )
    started = time.monotonic()
    # Without WAL frames the main file is the whole truth: read it "immutable", so that
    # no -wal/-shm is created beside someone else's WAL-mode file.
    try:
        db = connect_read_only(path, immutable=header.wal_mode and not frames)
        try:
            problems = _look(db, path, replay=replay)
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        if not (replay and means_damage(e)):
            with translate_errors(path):
                raise
            raise  # pragma: no cover - translate_errors re-raises what it does not know
        problems = [str(e)]  # the replayed WAL broke even what the checks read
    if problems:
        _refuse_damaged(path, problems)
    if replay:
        log.info("%s: checked in %.1f s: the -wal belongs to it", path, time.monotonic() - started)


def means_damage(e: sqlite3.Error) -> bool:
    """Does this error say the file is damaged (rather than locked, full, read-only)?"""
    msg = str(e).lower()
    return "malformed" in msg or "corrupt" in msg or "not a database" in msg


def _look(db: sqlite3.Connection, path: str, *, replay: bool) -> list[str]:
    """Refuse another application's file or a newer schema; with ``replay``, the
    problems the replayed WAL left (empty when none)."""
    (app_id,) = db.execute("PRAGMA application_id").fetchone()
    (version,) = db.execute("PRAGMA user_version").fetchone()
    (objects,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    if app_id not in (0, APPLICATION_ID):
        raise _foreign_id(path, app_id)
    if app_id == 0 and objects:
        raise errors.ForeignDatabaseError(
            path,
            f"is a SQLite database of another application (it has {objects} schema "
            "objects but no application_id); refusing to touch it; use --db to pick "
            "another file",
        )
    if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
        raise newer_schema(path, version)
    if not replay:
        return []
    return consistency_problems(db, ours=app_id == APPLICATION_ID and version >= 1)


def _refuse_damaged(path: str, with_wal: list[str]) -> None:
    """The database plus its WAL failed the checks: was it the WAL?"""
    from ._sqlite import translate_errors

    alone: list[str] = []
    try:
        with translate_errors(path):
            db = connect_read_only(path, immutable=True)
            try:
                alone = consistency_problems(db, ours=False)
            finally:
                db.close()
    except errors.CorruptDatabaseError as e:
        alone = [str(e)]
    found = "; ".join(with_wal[:MAX_PROBLEMS])
    wal = wal_path(path)
    if not alone:
        raise errors.CorruptDatabaseError(
            path,
            f"the write-ahead log {wal} beside it does not belong to it: replaying it "
            f"would damage the database ({found}). This happens when a backup is copied "
            "over the database while an old -wal file sits beside it. Nothing was "
            "changed. Run `aggregator restore BACKUP_FILE` with the backup you copied "
            f"(it sets the old -wal aside), or, if {path} is the copy you want, move {wal} "
            f"and {path}-shm out of the folder",
        )
    raise errors.CorruptDatabaseError(
        path, f"is damaged ({found}); nothing was changed; {RESTORE_ADVICE}"
    )


def _foreign_id(path: str, app_id: int) -> errors.ForeignDatabaseError:
    return errors.ForeignDatabaseError(
        path,
        f"is a SQLite database of another application (application_id 0x{app_id:08x}); "
        "refusing to touch it; use --db to pick another file",
    )


def newer_schema(path: str, version: int) -> errors.StorageError:
    return errors.StorageError(
        path,
        f"was written by a newer version of aggregator (schema version {version}, this "
        f"version knows up to {SCHEMA_VERSION}); upgrade aggregator or use --db to pick "
        "another file",
    )
