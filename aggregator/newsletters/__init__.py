"""Newsletters: an IMAP folder read as a feed (issue 12).

A ``- mail: FOLDER`` line of feeds.yaml is a source whose ``url`` is a pseudo-URL key
(``models.MailSource.key``), so storage, rivers, search, suggestions, forwards and the
status page treat it as a feed. ``update`` polls it through the same scheduler,
backoff and error bookkeeping as a feed: ``poll`` (IMAP, read-only) gives the new
messages, ``parsed_feed`` turns them into a ``ParsedFeed`` that the usual CPU stage
sanitizes and stores.

Layout: ``_imap`` (the only module that imports the IMAP library), ``_message`` (one
email -> items, standard ``email`` package), ``_split`` (``split: links``).
"""

from __future__ import annotations

import logging
import os

from aggregator.models import ParsedEntry, ParsedFeed

from ._imap import (
    ERROR_CODES,
    FIRST_POLL,
    PASSWORD_ENV,
    PER_POLL,
    Connection,
    Folder,
    FolderState,
    MailPoll,
    list_folders,
    poll,
)
from ._message import MailMessage, to_entries

log = logging.getLogger(__name__)

__all__ = [
    "ERROR_CODES",
    "FIRST_POLL",
    "PASSWORD_ENV",
    "PER_POLL",
    "Connection",
    "Folder",
    "FolderState",
    "MailMessage",
    "MailPoll",
    "list_folders",
    "parsed_feed",
    "password",
    "poll",
    "to_entries",
]


def password() -> str | None:
    """The IMAP password: only ever from the environment, never a file or the database."""
    return os.environ.get(PASSWORD_ENV) or None


def parsed_feed(url: str, found: MailPoll, *, title: str, split: bool, cap: int) -> ParsedFeed:
    """The messages of one poll as a feed document (oldest first, as they arrived).
    A message that cannot be read at all is logged and skipped, never the poll."""
    entries: list[ParsedEntry] = []
    skipped = 0
    for message in found.messages:
        try:
            entries.extend(to_entries(message, split=split, cap=cap))
        except Exception:  # a bug on one message must not cost the others
            log.exception("%s: message %d could not be read", url, message.uid)
            skipped += 1
    warning = f"{skipped} message(s) could not be read" if skipped else None
    return ParsedFeed(title=title, link=None, kind="imap", entries=tuple(entries), warning=warning)
