"""Mailboxes: how far polling each mail source's IMAP folder got (issue 12).

One row per mail source (a ``feeds`` row whose url is an ``imap://`` key): the
folder's UIDVALIDITY and the highest UID already looked at. ``update`` stores a
poll's entries first (``upsert_entries``: their guids make a second store of the
same message a no-op), then ``record_mail_poll`` moves the UID and records the
success in one transaction. A crash in between fetches the same messages again and
stores nothing twice; a message is never skipped, since the UID only moves after
its entry is committed.
"""

from __future__ import annotations

from datetime import datetime

from .. import errors
from ._sqlite import StorageBase, to_ts


class MailboxesMixin(StorageBase):
    def mailbox(self, url: str) -> tuple[int, int] | None:
        """(uidvalidity, last_uid) of a mail source, or None before its first poll."""
        with self._query() as db:
            row = db.execute(
                """
                SELECT m.uidvalidity, m.last_uid FROM mailboxes m
                JOIN feeds f ON f.id = m.feed_id WHERE f.url = :url
                """,
                {"url": url},
            ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def record_mail_poll(
        self,
        url: str,
        *,
        now: datetime,
        uidvalidity: int,
        last_uid: int,
        next_check: datetime,
        feed_title: str | None = None,
    ) -> None:
        """A poll that worked: where the folder is now, and the source's success
        (errors cleared, next check), in one transaction."""
        ts = to_ts(now)
        with self._write() as db:
            row = db.execute(
                """
                UPDATE feeds SET
                    last_fetch = :now, last_success = :now, last_status = NULL,
                    next_check = :next_check,
                    feed_title = coalesce(:feed_title, feed_title),
                    consecutive_errors = 0, last_error_code = NULL, last_error = NULL
                WHERE url = :url RETURNING id
                """,
                {
                    "url": url,
                    "now": ts,
                    "next_check": to_ts(next_check),
                    "feed_title": feed_title,
                },
            ).fetchone()
            if row is None:
                raise errors.NotFound(f"no such feed: {url}")
            db.execute(
                """
                INSERT INTO mailboxes (feed_id, uidvalidity, last_uid, updated_at)
                VALUES (:id, :uidvalidity, :last_uid, :now)
                ON CONFLICT (feed_id) DO UPDATE SET
                    uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
                    updated_at = excluded.updated_at
                """,
                {"id": row[0], "uidvalidity": uidvalidity, "last_uid": last_uid, "now": ts},
            )
