"""Backup and restore of the database file, safe while the aggregator runs (backup) and
against the ``-wal`` trap (restore).

Copying ``aggregator.sqlite3`` is not a backup: while the aggregator runs, the newest
commits live in ``aggregator.sqlite3-wal``, and copying a file back while an old
``-wal`` sits beside it makes SQLite replay that WAL onto the copy (issue 7, item 8;
see ``_files``). So:

* ``backup(db, dest)`` copies through SQLite's online backup API
  (https://sqlite.org/backup.html, ``sqlite3.Connection.backup``) in one step: one
  read transaction, hence one consistent snapshot that includes the WAL's commits; in
  WAL mode a reader never blocks the writer, so a running aggregator goes on. The
  copy is written to a temporary file in the destination's folder, switched to the
  rollback journal (one self-contained file), verified with ``PRAGMA
  integrity_check``, synced, and only then renamed over ``dest``.

* ``restore(backup, db)`` refuses while any process has the database open (every
  SQLite connection to a WAL database holds a shared lock on the file: see
  ``_files.in_use``; no lock file of our own that a killed process could leave
  behind), checks that the file is ours (application_id), not newer than this code
  (user_version) and intact (integrity_check) by copying it through the backup API
  to a temporary file beside the database, then: keeps the current database as
  ``<db>.before-restore`` (a hard link, else a copy) with its ``-wal`` moved to
  ``<db>.before-restore-wal`` (the name SQLite gives that file's WAL), deletes the
  ``-shm`` (an index of the WAL, rebuilt on open), and renames the copy over the
  database: the rename is atomic, and no old WAL is left to be replayed onto it. The
  recorded storage problem (``_status``), if any, is cleared.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import errors
from ._files import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    check_before_open,
    connect_read_only,
    consistency_problems,
    in_use,
    means_damage,
    newer_schema,
    read_header,
    wal_has_frames,
    wal_path,
)
from ._sqlite import BUSY_TIMEOUT_SECONDS, translate_errors
from ._status import clear_problem

BEFORE_RESTORE = ".before-restore"


@dataclass(frozen=True)
class Copied:
    """What a backup or a restore wrote: the file, its entries and size in bytes."""

    path: str
    entries: int
    size: int
    previous: str | None = None  # restore: where the replaced database was kept


def backup(db_path: str, dest: str, *, now: datetime | None = None) -> Copied:
    """Copy the database ``db_path`` to ``dest`` (a file, or a folder to put a dated
    file in) while it may be in use. Raises ``StorageError`` (and subclasses)."""
    db_path = os.fspath(db_path)
    if not os.path.isfile(db_path):
        raise errors.StorageError(db_path, "does not exist: nothing to back up; check --db")
    check_before_open(db_path)
    if read_header(db_path) is None:
        raise errors.StorageError(db_path, "is empty: nothing to back up yet")
    dest = os.fspath(dest)
    if dest.endswith(("/", os.sep)) and not os.path.isdir(dest):
        raise errors.StorageError(dest, "is not an existing folder")
    if os.path.isdir(dest):
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        dest = os.path.join(dest, f"aggregator-{stamp}.sqlite3")
    if os.path.exists(dest) and os.path.samefile(dest, db_path):
        raise errors.StorageError(dest, "is the database itself; pick another file")
    # A plain connection, not a read-only one: a read-only connection to a WAL
    # database leaves empty -wal/-shm files behind; this one, if it is the last to
    # close, checkpoints the WAL check_before_open vouched for and removes them.
    with translate_errors(db_path):
        source = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        # Asked through the connection, not read from the file's header: on a young
        # database the header page with our application_id may still be only in the
        # -wal (nothing checkpointed yet), and the running aggregator is fine with that.
        with translate_errors(db_path):
            (app_id,) = source.execute("PRAGMA application_id").fetchone()
        if app_id != APPLICATION_ID:
            raise errors.StorageError(db_path, "is empty: nothing to back up yet")
        entries = _copy_checked(source, dest, label=db_path)
    finally:
        source.close()
    return Copied(dest, entries, os.path.getsize(dest))


def restore(backup_path: str, db_path: str) -> Copied:
    """Replace the database ``db_path`` with the backup ``backup_path`` (see the module
    docstring). Raises ``StorageError`` (and subclasses), changing nothing then."""
    backup_path, db_path = os.fspath(backup_path), os.fspath(db_path)
    if not os.path.isfile(backup_path):
        raise errors.StorageError(backup_path, "does not exist or is not a file")
    if os.path.exists(db_path) and os.path.samefile(backup_path, db_path):
        raise errors.StorageError(
            backup_path, "is the database itself: give the backup file to restore from"
        )
    _refuse_if_in_use(db_path)
    _refuse_if_foreign(db_path)
    try:
        header = read_header(backup_path)
    except OSError as e:
        raise errors.StorageError(backup_path, f"cannot be read ({e.strerror})") from e
    if header is None:
        raise errors.StorageError(backup_path, "is empty: it is not a backup")
    if header.application_id != APPLICATION_ID:
        raise errors.ForeignDatabaseError(
            backup_path,
            f"is not an aggregator database (application_id 0x{header.application_id:08x}); "
            "refusing to restore it",
        )
    if header.user_version > SCHEMA_VERSION:
        raise newer_schema(backup_path, header.user_version)
    # The backup's own WAL, if one sits beside it, is part of it; without one, read the
    # file "immutable" so that nothing is created beside it.
    with translate_errors(backup_path):
        source = connect_read_only(
            backup_path, immutable=not (header.wal_mode and wal_has_frames(backup_path))
        )
    try:
        folder = os.path.dirname(os.path.abspath(db_path))
        _makedirs(folder, db_path)
        tmp = _temp_file(folder, os.path.basename(db_path), db_path)
        try:
            entries = _copy_checked(source, tmp, label=backup_path, install=False)
            _same_owner_and_mode(tmp, db_path)
            _refuse_if_in_use(db_path)  # again: someone may have started meanwhile
            previous = _set_aside(db_path)
            os.replace(tmp, db_path)
            _fsync_folder(folder)
            clear_problem(db_path, corrupt_too=True)
        except BaseException:
            _unlink(tmp)
            raise
    except OSError as e:
        raise errors.StorageError(db_path, f"cannot be restored ({e})") from e
    finally:
        source.close()
    return Copied(db_path, entries, os.path.getsize(db_path), previous)


def _refuse_if_in_use(db_path: str) -> None:
    if in_use(db_path):
        raise errors.StorageError(
            db_path,
            "is open in a running aggregator (run, serve, worker, fetch...) or another "
            "program: stop it, then restore",
        )


def _refuse_if_foreign(db_path: str) -> None:
    """Never replace another application's file; a damaged database of ours (the usual
    reason to restore) or one of a newer schema may be replaced: it is kept aside."""
    try:
        check_before_open(db_path)
    except errors.ForeignDatabaseError:
        raise
    except errors.StorageError:
        pass


def _copy_checked(
    source: sqlite3.Connection, dest: str, *, label: str, install: bool = True
) -> int:
    """Copy ``source`` into ``dest`` through the backup API, make it one rollback-journal
    file, check it; with ``install``, through a temporary file renamed over ``dest``.
    Returns the number of entries."""
    folder = os.path.dirname(os.path.abspath(dest))
    target = _temp_file(folder, os.path.basename(dest), dest) if install else dest
    try:
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            try:
                source.backup(copy)  # pages=-1: all of it, from one snapshot
            except sqlite3.DatabaseError as e:
                # Damage is the source's; anything else (a full disk...) the copy's.
                with translate_errors(label if means_damage(e) else dest):
                    raise
            with translate_errors(dest):
                copy.execute("PRAGMA journal_mode = DELETE")
                (app_id,) = copy.execute("PRAGMA application_id").fetchone()
            if app_id != APPLICATION_ID:
                raise errors.ForeignDatabaseError(
                    label, "is not an aggregator database; refusing to copy it"
                )
            try:
                rows = [r[0] for r in copy.execute("PRAGMA integrity_check(5)")]
                problems = [] if rows == ["ok"] else rows
                problems = problems or consistency_problems(copy, ours=True)
                (entries,) = copy.execute("SELECT count(*) FROM entries").fetchone()
            except sqlite3.DatabaseError as e:
                if not means_damage(e):
                    with translate_errors(dest):
                        raise
                problems = [str(e)]
            if problems:
                raise errors.CorruptDatabaseError(
                    label,
                    f"failed the integrity check ({'; '.join(problems)}); "
                    "it cannot be used as a backup",
                )
        finally:
            copy.close()
        with open(target, "rb+") as f:
            os.fsync(f.fileno())
        if install:
            os.replace(target, dest)
            _fsync_folder(folder)
    except OSError as e:
        if install:
            _unlink(target)
        raise errors.StorageError(dest, f"cannot be written ({e})") from e
    except BaseException:
        if install:
            _unlink(target)
        raise
    return int(entries)


def _set_aside(db_path: str) -> str | None:
    """Keep the current database as ``<db>.before-restore`` (its WAL as
    ``<db>.before-restore-wal``) and remove what must not meet the restored file."""
    if not os.path.exists(db_path):
        for leftover in (wal_path(db_path), db_path + "-shm", db_path + "-journal"):
            _unlink(leftover)
        return None
    previous = db_path + BEFORE_RESTORE
    for old in (previous, wal_path(previous), previous + "-shm", previous + "-journal"):
        _unlink(old)
    try:
        os.link(db_path, previous)
    except OSError:  # no hard links on this file system
        shutil.copy2(db_path, previous)
    for suffix in ("-wal", "-journal"):
        if os.path.exists(db_path + suffix):
            os.replace(db_path + suffix, previous + suffix)
    _unlink(db_path + "-shm")
    return previous


def _same_owner_and_mode(path: str, like: str) -> None:
    """The restored file gets the replaced one's mode and owner (when root restores
    the database of a service account), else the usual 0644 minus the umask
    (mkstemp makes 0600)."""
    try:
        st = os.stat(like)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o644 & ~umask)
        return
    os.chmod(path, stat.S_IMODE(st.st_mode))
    if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(PermissionError):  # not root: the file stays ours
            os.chown(path, st.st_uid, st.st_gid)


def _temp_file(folder: str, name: str, label: str) -> str:
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    except OSError as e:
        raise errors.StorageError(label, f"cannot write in {folder} ({e.strerror})") from e
    os.close(fd)
    return tmp


def _makedirs(folder: str, label: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise errors.StorageError(label, f"cannot create the folder {folder} ({e})") from e


def _fsync_folder(folder: str) -> None:
    """Make a rename durable (POSIX: the directory entry is in the folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
