"""The one way feeds.yaml and contacts.yaml are written: read, change, validate,
check, replace; one edit at a time across threads and processes.

See ``edit`` for why: an edit is a function of the file's content, applied again
when the file changed under it (an editor does not take our lock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ._roundtrip import _round_trip
from ._text import N_
from .yamlfile import Problems, atomic_write, compose, decode, fail

log = logging.getLogger(__name__)

T = TypeVar("T")

# One writer at a time in this process (the folder lock below also serialises
# threads, since each takes it through its own file descriptor; this one is cheap).
_write_lock = threading.Lock()

# How many times an edit is re-applied to a file that an editor keeps changing
# between our read and our rename, and how long an edit waits for another one.
MAX_ATTEMPTS = 5
LOCK_TIMEOUT = 10.0


class _Changed(Exception):
    """The file on disk is not the one the edit started from."""


def _edit(
    path: str | Path,
    validate: Callable[[str, str], T],
    change: Callable[[Any], Any],
    *,
    flat: bool = False,
) -> T:
    path = Path(path)
    file = str(path)
    with _write_lock, _folder_lock(path.parent, file):
        for _ in range(MAX_ATTEMPTS):
            try:
                data: bytes | None = path.read_bytes()
            except FileNotFoundError:
                data = None
            except OSError as e:
                raise fail(file, N_("cannot read this file: %(reason)s"), reason=e.strerror) from e
            text = "" if data is None else decode(data, file)
            validate(text, file)  # refuse to edit a file that is already invalid
            yaml = _round_trip(compose(text, Problems(file)), flat=flat)
            new = change(yaml.load(text))
            out = io.StringIO()
            yaml.dump(new, out)
            new_text = out.getvalue()
            if "\r\n" in text:  # ruamel writes "\n"; keep a Windows file's line endings
                new_text = new_text.replace("\r\n", "\n").replace("\n", "\r\n")
            result = validate(new_text, file)
            if data is not None and new_text == text:
                return result  # nothing to change (moved to the tab it is in...)

            def unchanged(data: bytes | None = data) -> None:
                # An editor does not take our lock: look again, as late as possible.
                try:
                    now = path.read_bytes()
                except FileNotFoundError:
                    now = None
                if now != data:
                    raise _Changed

            try:
                atomic_write(path, new_text, before_replace=unchanged)
            except _Changed:
                log.info("%s changed while being edited; applying the change again", file)
                continue
            return result
    raise fail(
        file,
        N_("this file was changed %(n)s times while being edited; nothing was written, try again"),
        n=MAX_ATTEMPTS,
    )


@contextlib.contextmanager
def _folder_lock(folder: Path, file: str) -> Iterator[None]:
    """An exclusive lock on the folder of the file, across processes.

    On the folder rather than on a lock file: nothing is left beside the person's
    files, and the file itself cannot be locked since every edit replaces it (a lock
    on the old inode would not stop the next edit). flock locks belong to an open file
    description, so two threads with their own descriptors exclude each other too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() > deadline:
                    raise fail(
                        file, N_("another edit of this file is taking too long; try again")
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the lock
