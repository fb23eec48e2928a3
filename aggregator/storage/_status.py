"""The last storage problem, kept outside the database (issue 7, item 14).

A damaged page, a full disk or a read-only folder met during a scheduled poll used to
show only in the worker's log. The dashboard must show it on /feeds, but it may run in
another process (`serve` + `worker`), and the database itself may be what cannot be
written or read. So the problem goes in a small JSON file beside the database,
``<db>.problem.json``, written atomically (temp file + rename) by whoever meets it
(the worker's tick, `fetch`, the dashboard's error handler) and read by /feeds.

* A problem that goes away by itself (full disk, lock held too long, I/O error) is
  cleared by the next tick or fetch that succeeds.
* A damaged database does not mend itself, and a tick that happens not to read the
  damaged pages proves nothing: ``corrupt`` stays until the database file is another
  one (``aggregator restore`` renames a new file into place, and deletes the status
  file; the recorded inode tells a replaced file from the damaged one).
* When even this file cannot be written (the disk is full), the log still has it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime

from .. import errors
from ._sqlite import from_ts, to_ts

log = logging.getLogger(__name__)

SUFFIX = ".problem.json"
KINDS = ("corrupt", "disk_full", "read_only", "locked", "storage")


@dataclass(frozen=True)
class StorageProblem:
    """What went wrong with the database file ``path``, first and last seen when, by
    which process (``source``: worker, fetch, dashboard). ``message`` is the error's
    English text (for the log and the JSON API); ``kind`` picks the sentence shown."""

    path: str
    kind: str
    message: str
    source: str
    since: datetime
    last: datetime


def problem_file(db_path: str) -> str:
    return db_path + SUFFIX


def problem_kind(e: errors.StorageError) -> str:
    if isinstance(e, errors.CorruptDatabaseError):
        return "corrupt"
    if isinstance(e, errors.ReadOnlyDatabaseError):
        return "read_only"
    text = str(e).lower()
    if "disk is full" in text or "no space left" in text:
        return "disk_full"
    if "locked" in text:
        return "locked"
    return "storage"


def _identity(db_path: str) -> list[int] | None:
    try:
        st = os.stat(db_path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino]


def read_problem(db_path: str) -> StorageProblem | None:
    """The recorded problem, or None (none, unreadable, or about a replaced file)."""
    try:
        with open(problem_file(db_path), encoding="utf-8") as f:
            data = json.load(f)
        if data["kind"] == "corrupt" and data.get("file") != _identity(db_path):
            return None  # the damaged file was replaced (restored) since
        return StorageProblem(
            path=str(data["path"]),
            kind=data["kind"] if data["kind"] in KINDS else "storage",
            message=str(data["message"]),
            source=str(data["source"]),
            since=from_ts(int(data["since"])),  # type: ignore[arg-type]
            last=from_ts(int(data["last"])),  # type: ignore[arg-type]
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s: unreadable (%s); ignored", problem_file(db_path), e)
        return None


def record_problem(
    db_path: str, error: errors.StorageError, *, now: datetime, source: str
) -> StorageProblem:
    """Write ``error`` as the current problem (keeping when it was first seen, if it is
    the same kind of problem). Never raises: this runs while things already fail."""
    kind = problem_kind(error)
    previous = read_problem(db_path)
    since = previous.since if previous is not None and previous.kind == kind else now
    problem = StorageProblem(db_path, kind, str(error), source, since, now)
    data = {
        "path": db_path,
        "kind": kind,
        "message": problem.message,
        "source": source,
        "since": to_ts(since),
        "last": to_ts(now),
        "file": _identity(db_path),
    }
    target = problem_file(db_path)
    folder = os.path.dirname(os.path.abspath(target))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        log.warning("cannot record the storage problem in %s (%s)", target, e)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return problem


def clear_problem(db_path: str, *, corrupt_too: bool = False) -> None:
    """Forget the recorded problem after a success; a ``corrupt`` one only with
    ``corrupt_too`` (see the module docstring)."""
    target = problem_file(db_path)
    if not os.path.exists(target):  # the usual case: one stat per tick
        return
    if not corrupt_too:
        problem = read_problem(db_path)
        if problem is not None and problem.kind == "corrupt":
            return
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("cannot remove %s (%s)", target, e)


class ProblemsMixin:
    """``Storage`` methods over the status file; they work when SQLite does not."""

    path: str

    def last_problem(self) -> StorageProblem | None:
        return read_problem(self.path)

    def record_problem(
        self, error: errors.StorageError, *, now: datetime, source: str
    ) -> StorageProblem:
        return record_problem(self.path, error, now=now, source=source)

    def clear_problem(self) -> None:
        clear_problem(self.path)
