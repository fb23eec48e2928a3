"""Feeds: syncing with feeds.yaml, and the fetch bookkeeping (caching, errors, backoff).

The database decides which feeds are due (``due_feeds``), as in miniflux's scheduler;
the orchestrator records each outcome with one of the ``record_*`` methods.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from .. import errors
from ..models import FeedConfig, FeedState
from ._sqlite import StorageBase, from_ts, to_ts

log = logging.getLogger(__name__)

# A feed removed from feeds.yaml with nothing worth keeping leaves the status page at
# once but stays in the database this long, hidden, so that « Annuler » (or putting
# the line back) restores it with its entries and read state (issue 8).
UNDO_GRACE = timedelta(hours=1)
# A removed feed with one of these stays listed until « Supprimer l'historique ».
_WORTH_KEEPING = """(
    EXISTS (
        SELECT 1 FROM entries INDEXED BY entries_river_feed
        WHERE entries.feed_id = feeds.id AND entries.starred = 1
    )
    OR EXISTS (
        SELECT 1 FROM entries INDEXED BY entries_river_feed
        JOIN forwards ON forwards.entry_id = entries.id
        WHERE entries.feed_id = feeds.id
    )
)"""

_FEED_COLUMNS = """
    url, tab, coalesce(title, feed_title) AS title, position, refresh_seconds, active,
    site_link, etag, last_modified, body_hash, last_fetch, last_success, last_status,
    last_error_code, last_error, consecutive_errors, next_check, moved_to,
    entry_count, unread_count
"""


def _feed_state(row: sqlite3.Row | tuple) -> FeedState:
    (
        url, tab, title, position, refresh_seconds, active, site_link, etag,
        last_modified, body_hash, last_fetch, last_success, last_status,
        last_error_code, last_error, consecutive_errors, next_check, moved_to,
        entry_count, unread_count,
    ) = row  # fmt: skip
    return FeedState(
        url=url,
        tab=tab,
        title=title,
        position=position,
        refresh=None if refresh_seconds is None else timedelta(seconds=refresh_seconds),
        active=bool(active),
        site_link=site_link,
        etag=etag,
        last_modified=last_modified,
        body_hash=body_hash,
        last_fetch=from_ts(last_fetch),
        last_success=from_ts(last_success),
        last_status=last_status,
        last_error_code=last_error_code,
        last_error=last_error,
        consecutive_errors=consecutive_errors,
        next_check=from_ts(next_check),
        moved_to=moved_to,
        entry_count=entry_count,
        unread_count=unread_count,
    )


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


class FeedsMixin(StorageBase):
    def sync_feeds(self, feeds: Sequence[FeedConfig], *, now: datetime) -> None:
        """Make the feeds table match feeds.yaml, in one transaction.

        Configured feeds are inserted (due at once: next_check NULL) or updated and
        re-activated; the others become inactive (removed_at = now) and their entries
        leave the rivers. A removed feed with nothing worth keeping (no starred or
        forwarded entry) leaves the status page at once and is deleted with its
        entries after UNDO_GRACE (``_forget_removed_feeds``); the others stay until
        ``purge`` (starred entries stay for good).
        A new URL that is the ``moved_to`` of a feed dropped from the config is that
        feed renamed (the config followed a permanent redirect): it keeps its entries,
        read state and caching headers instead of starting over.
        """
        ts = to_ts(now)
        wanted = {f.url: f for f in feeds}  # a URL listed twice: the last one wins
        with self._write() as db:
            known = {
                url: (feed_id, tab, active)
                for feed_id, url, tab, active in db.execute(
                    "SELECT id, url, tab, active FROM feeds"
                )
            }
            # Follow permanent redirects before inserting anything.
            for feed_id, url, moved_to in db.execute(
                "SELECT id, url, moved_to FROM feeds WHERE moved_to IS NOT NULL"
            ).fetchall():
                if moved_to in wanted and moved_to not in known and url not in wanted:
                    db.execute(
                        "UPDATE feeds SET url = :new, moved_to = NULL WHERE id = :id",
                        {"new": moved_to, "id": feed_id},
                    )
                    log.info("feed %s moved to %s: keeping its entries", url, moved_to)
                    known[moved_to] = known.pop(url)
            db.executemany(
                """
                INSERT INTO feeds (url, tab, title, position, refresh_seconds)
                VALUES (:url, :tab, :title, :position, :refresh)
                ON CONFLICT (url) DO UPDATE SET
                    tab = excluded.tab, title = excluded.title,
                    position = excluded.position, refresh_seconds = excluded.refresh_seconds,
                    active = 1, removed_at = NULL
                """,
                [
                    {
                        "url": f.url,
                        "tab": f.tab,
                        "title": f.title,
                        "position": f.position,
                        "refresh": _seconds(f.refresh),
                    }
                    for f in wanted.values()
                ],
            )
            removed = db.execute(
                """
                UPDATE feeds SET active = 0, removed_at = :now
                WHERE active = 1 AND url NOT IN (SELECT value FROM json_each(:urls))
                RETURNING id
                """,
                {"now": ts, "urls": json.dumps(list(wanted))},
            ).fetchall()
            # Keep the copy of the tab on entries in step (NULL: hidden from rivers).
            changed: list[tuple[int, str | None]] = [(feed_id, None) for (feed_id,) in removed]
            for url, f in wanted.items():
                old = known.get(url)
                if old is not None and (old[1] != f.tab or not old[2]):
                    changed.append((old[0], f.tab))
            for feed_id, tab in changed:
                db.execute(
                    "UPDATE entries SET tab = :tab WHERE feed_id = :id AND tab IS NOT :tab",
                    {"tab": tab, "id": feed_id},
                )
            forgotten = self._forget_removed_feeds(db, ts - int(UNDO_GRACE.total_seconds()))
        log.debug("synced %d feeds, %d removed, %d forgotten", len(wanted), len(removed), forgotten)

    def forget_removed_feeds(self, *, now: datetime) -> int:
        """``_forget_removed_feeds`` for the removals older than UNDO_GRACE (the
        worker's housekeeping: a removal with no later edit of feeds.yaml)."""
        with self._write() as db:
            return self._forget_removed_feeds(db, to_ts(now - UNDO_GRACE))

    @staticmethod
    def _forget_removed_feeds(db: sqlite3.Connection, cutoff: int) -> int:
        """Delete the feeds removed at or before ``cutoff`` that hold nothing worth
        keeping, with their entries.

        Worth keeping: a starred entry, or one the forward ledger points at. A feed
        with one of them stays, inactive, on the status page (its entries wait for
        ``purge`` or ``delete_feed_history``); the others leave the status page at
        once (``feeds``) and the database after UNDO_GRACE, so that « Annuler » or
        putting the line back brings the feed back with its entries and read state.
        After that, following it again starts it afresh.
        """
        ids = [
            feed_id
            for (feed_id,) in db.execute(
                f"""
                SELECT id FROM feeds
                WHERE active = 0 AND removed_at <= :cutoff AND NOT {_WORTH_KEEPING}
                """,  # noqa: S608 - a constant
                {"cutoff": cutoff},
            )
        ]
        if not ids:
            return 0
        params = {"ids": json.dumps(ids)}
        # Entries first (the foreign key); their triggers keep entries_fts in step.
        db.execute(
            "DELETE FROM entries WHERE feed_id IN (SELECT value FROM json_each(:ids))", params
        )
        gone = db.execute(
            "DELETE FROM feeds WHERE id IN (SELECT value FROM json_each(:ids)) RETURNING url",
            params,
        ).fetchall()
        for (url,) in gone:
            log.info("feed %s removed from feeds.yaml: forgotten (nothing starred or sent)", url)
        return len(gone)

    def delete_feed_history(self, url: str) -> int:
        """Delete a feed removed from feeds.yaml and all its entries, starred ones
        included (« Supprimer l'historique »); returns the number of entries deleted.

        The forward ledger keeps its own copies (title, link, excerpt): its rows stay,
        no longer linked to an entry. NotFound if the feed is unknown; ValueError if
        it is still in feeds.yaml (unsubscribe first).
        """
        with self._write() as db:
            row = db.execute(
                "SELECT id, active FROM feeds WHERE url = :url", {"url": url}
            ).fetchone()
            if row is None:
                raise errors.NotFound(f"no such feed: {url}")
            feed_id, active = row
            if active:
                raise ValueError(f"{url} is still in feeds.yaml; unsubscribe from it first")
            count = db.execute("DELETE FROM entries WHERE feed_id = :id", {"id": feed_id}).rowcount
            db.execute("DELETE FROM feeds WHERE id = :id", {"id": feed_id})
        log.info("feed %s and its %d entries deleted", url, count)
        return count

    def feeds(self, *, include_inactive: bool = False, tab: str | None = None) -> list[FeedState]:
        """Feeds in feeds.yaml order (removed ones last); ``tab`` keeps one tab's."""
        # A removed feed shows only while it holds something worth keeping (see
        # _forget_removed_feeds); the others are gone from the status page at once.
        conditions = [f"(active = 1 OR {_WORTH_KEEPING})" if include_inactive else "active = 1"]
        if tab is not None:
            conditions.append("tab = :tab")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._query() as db:
            rows = db.execute(
                f"SELECT {_FEED_COLUMNS} FROM feeds {where} ORDER BY active DESC, position, id",  # noqa: S608
                {"tab": tab},
            ).fetchall()
        return [_feed_state(r) for r in rows]

    def feed(self, url: str) -> FeedState:
        with self._query() as db:
            row = db.execute(
                f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = :url",  # noqa: S608
                {"url": url},
            ).fetchone()
        if row is None:
            raise errors.NotFound(f"no such feed: {url}")
        return _feed_state(row)

    def due_feeds(self, *, now: datetime, limit: int | None = None) -> list[FeedState]:
        """Active feeds whose next_check has come; never-fetched ones first, then the
        most overdue."""
        with self._query() as db:
            rows = db.execute(
                f"""
                SELECT {_FEED_COLUMNS} FROM feeds
                WHERE active = 1 AND (next_check IS NULL OR next_check <= :now)
                ORDER BY next_check IS NOT NULL, next_check, position, id
                LIMIT :limit
                """,  # noqa: S608
                {"now": to_ts(now), "limit": -1 if limit is None else limit},
            ).fetchall()
        return [_feed_state(r) for r in rows]

    def _update_feed(self, url: str, sql: str, params: dict) -> sqlite3.Row | tuple:
        with self._write() as db:
            row = db.execute(sql, {"url": url, **params}).fetchone()
        if row is None:
            raise errors.NotFound(f"no such feed: {url}")
        return row

    def record_success(
        self,
        url: str,
        *,
        now: datetime,
        status: int,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
        next_check: datetime,
        moved_to: str | None = None,
        feed_title: str | None = None,
        site_link: str | None = None,
        icons: tuple[str, ...] | None = None,
    ) -> None:
        """A 200 that parsed: store the caching validators, clear the error state.
        A feed_title/site_link/icons of None keeps the previous one; ``icons`` are
        the feed's own pictures, a last source of its site's icon."""
        self._update_feed(
            url,
            """
            UPDATE feeds SET
                last_fetch = :now, last_success = :now, last_status = :status,
                etag = :etag, last_modified = :last_modified, body_hash = :body_hash,
                next_check = :next_check, moved_to = :moved_to,
                feed_title = coalesce(:feed_title, feed_title),
                site_link = coalesce(:site_link, site_link),
                feed_icons = coalesce(:feed_icons, feed_icons),
                consecutive_errors = 0, last_error_code = NULL, last_error = NULL
            WHERE url = :url RETURNING id
            """,
            {
                "now": to_ts(now),
                "status": status,
                "etag": etag,
                "last_modified": last_modified,
                "body_hash": body_hash,
                "next_check": to_ts(next_check),
                "moved_to": moved_to,
                "feed_title": feed_title,
                "site_link": site_link,
                "feed_icons": None if icons is None else json.dumps(list(icons)),
            },
        )

    def record_not_modified(
        self, url: str, *, now: datetime, next_check: datetime, moved_to: str | None = None
    ) -> None:
        """A 304: the server is fine (errors are cleared), the validators stay."""
        self._update_feed(
            url,
            """
            UPDATE feeds SET
                last_fetch = :now, last_success = :now, last_status = 304,
                next_check = :next_check, moved_to = :moved_to,
                consecutive_errors = 0, last_error_code = NULL, last_error = NULL
            WHERE url = :url RETURNING id
            """,
            {"now": to_ts(now), "next_check": to_ts(next_check), "moved_to": moved_to},
        )

    def record_error(
        self,
        url: str,
        *,
        now: datetime,
        code: str,
        message: str,
        next_check: datetime,
        status: int | None = None,
    ) -> int:
        """A failed fetch or parse; returns the new number of consecutive errors."""
        (count,) = self._update_feed(
            url,
            """
            UPDATE feeds SET
                last_fetch = :now, last_status = :status,
                last_error_code = :code, last_error = :message,
                consecutive_errors = consecutive_errors + 1, next_check = :next_check
            WHERE url = :url RETURNING consecutive_errors
            """,
            {
                "now": to_ts(now),
                "status": status,
                "code": code,
                "message": message,
                "next_check": to_ts(next_check),
            },
        )
        return int(count)

    def request_refresh(self, url: str | None = None, *, now: datetime) -> None:
        """Make one feed (or every active feed) due at ``now``."""
        if url is not None:
            self._update_feed(
                url,
                "UPDATE feeds SET next_check = :now WHERE url = :url RETURNING id",
                {"now": to_ts(now)},
            )
            return
        with self._write() as db:
            db.execute("UPDATE feeds SET next_check = :now WHERE active = 1", {"now": to_ts(now)})

    def _feed_id(self, db: sqlite3.Connection, url: str) -> tuple[int, str | None, int | None]:
        """(id, tab-as-copied-on-entries, purged_until) of a feed, or NotFound."""
        row = db.execute(
            "SELECT id, CASE WHEN active THEN tab END, purged_until FROM feeds WHERE url = :url",
            {"url": url},
        ).fetchone()
        if row is None:
            raise errors.NotFound(f"no such feed: {url}")
        return row
