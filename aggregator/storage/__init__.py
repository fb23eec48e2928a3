"""Everything the machine learns lives here, in one SQLite file; ALL SQL of the project.

Feeds' fetch state (caching validators, errors, backoff), entries with their read and
starred state, full-text search, and small facts in ``meta``. Nothing else imports
sqlite3. Each public method is one unit of work (one transaction), safe to call from
any thread: connections are per thread.

Layout: ``_schema`` (commented SQL + numbered migrations), ``_sqlite`` (connections,
transactions, errors, migrating), ``_files`` (the checks made before opening: foreign
files, a ``-wal`` that does not belong, who has the file open), ``_backup`` (``backup``
and ``restore``), ``_status`` (the last storage problem, in a file beside the
database: it must be readable when the database is not), ``_feeds``, ``_entries``, ``_search``, ``_forwards`` (the forward
ledger and outbox), ``_resolutions`` (the feed an address in feeds.yaml stands for).

SQL text is only ever assembled from constant fragments chosen in code (hence the
``noqa: S608``); every value, user input included, is a bound parameter.
"""

from __future__ import annotations

import os

from ._backup import Copied, backup, restore
from ._forwards import NewForward, QueueOutcome
from ._letters import LetterRecipient, LettersMixin, NewBasketItem
from ._mailboxes import MailboxesMixin
from ._resolutions import Resolution, ResolutionsMixin
from ._search import SearchMixin
from ._status import ProblemsMixin, StorageProblem, problem_kind
from ._sync import SyncMixin

DEFAULT_PATH = os.path.join("data", "aggregator.sqlite3")

__all__ = [
    "DEFAULT_PATH",
    "Copied",
    "LetterRecipient",
    "NewBasketItem",
    "NewForward",
    "QueueOutcome",
    "Resolution",
    "Storage",
    "StorageProblem",
    "backup",
    "problem_kind",
    "restore",
]


class Storage(LettersMixin, SearchMixin, SyncMixin, MailboxesMixin, ProblemsMixin, ResolutionsMixin):
    """The database. ``Storage(path)`` creates the folders, opens the file, checks that
    it is ours (``PRAGMA application_id``) and migrates it.

    Raises ``errors.ForeignDatabaseError`` (another application's SQLite file),
    ``errors.CorruptDatabaseError`` (not SQLite, or damaged),
    ``errors.ReadOnlyDatabaseError`` (the file or its folder cannot be written) or
    ``errors.StorageError`` (newer schema than this code, and other problems).
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH) -> None:
        super().__init__(path)

    def __repr__(self) -> str:
        return f"Storage({self.path!r})"

    def get_meta(self, key: str) -> str | None:
        with self._query() as db:
            row = db.execute("SELECT value FROM meta WHERE key = :key", {"key": key}).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str | None) -> None:
        """Set a value; None deletes the key."""
        with self._write() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = :key", {"key": key})
            else:
                db.execute(
                    """
                    INSERT INTO meta (key, value) VALUES (:key, :value)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """,
                    {"key": key, "value": value},
                )

    def counts(self) -> dict[str, int]:
        """feeds (active), entries (all stored), unread (in active feeds), starred."""
        with self._read() as db:
            feeds, unread, entries = db.execute(
                """
                SELECT coalesce(sum(active), 0),
                       coalesce(sum(CASE WHEN active THEN unread_count END), 0),
                       coalesce(sum(entry_count), 0)
                FROM feeds
                """
            ).fetchone()
            (starred,) = db.execute(
                "SELECT count(*) FROM entries INDEXED BY entries_starred WHERE starred = 1"
            ).fetchone()
        return {"feeds": feeds, "entries": entries, "unread": unread, "starred": starred}
