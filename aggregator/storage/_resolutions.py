"""Resolutions: which feed an address written in feeds.yaml stands for.

A person may write a handle (``@alice@mastodon.social``), a profile or a website URL
instead of a feed URL. ``update`` resolves it with ``discover`` and records here what
it learnt (the feed polled instead, or why none was found); the feed keeps the
address as its ``url``, so feeds.yaml and the database still name it the same way.
A resolution is made again only when asked (``forget_resolution``) or when the
resolved feed dies (see ``update``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._sqlite import StorageBase, from_ts, to_ts


@dataclass(frozen=True)
class Resolution:
    """What discovery learnt about one address (``feeds.url``)."""

    address: str  # as written in feeds.yaml
    feed_url: str | None  # the feed polled instead; None until one was found
    platform: str | None  # mastodon, youtube, website, feed... (``Discovery.platform``)
    candidates: int  # how many feeds the address offered (the first is polled)
    resolved_at: datetime | None  # the last successful resolution
    attempted_at: datetime  # the last attempt
    error_code: str | None = None  # the last attempt's ``DiscoveryError.code``, if it failed
    error: str | None = None  # its English explanation

    @property
    def resolved(self) -> bool:
        return self.feed_url is not None


_COLUMNS = """
    f.url, r.feed_url, r.platform, r.candidates, r.resolved_at, r.attempted_at,
    r.error_code, r.error
"""


def _resolution(row: tuple) -> Resolution:
    address, feed_url, platform, candidates, resolved_at, attempted_at, code, error = row
    attempted = from_ts(attempted_at)
    assert attempted is not None  # NOT NULL
    return Resolution(
        address, feed_url, platform, candidates, from_ts(resolved_at), attempted, code, error
    )


class ResolutionsMixin(StorageBase):
    def resolution(self, address: str) -> Resolution | None:
        """What is known about ``address`` (a ``feeds.url``), or None if never resolved."""
        with self._query() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM resolutions r JOIN feeds f ON f.id = r.feed_id"  # noqa: S608
                " WHERE f.url = :url",
                {"url": address},
            ).fetchone()
        return None if row is None else _resolution(row)

    def resolutions(self) -> dict[str, Resolution]:
        """Every known resolution, by address."""
        with self._query() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM resolutions r JOIN feeds f ON f.id = r.feed_id"  # noqa: S608
            ).fetchall()
        return {row[0]: _resolution(row) for row in rows}

    def record_resolution(
        self, address: str, *, feed_url: str, platform: str | None, candidates: int, now: datetime
    ) -> bool:
        """Remember that ``address`` stands for ``feed_url``. When that is a new feed
        URL, the caching validators learnt for the old one are dropped (they belong
        to another document). False when the feed is not in the database."""
        ts = to_ts(now)
        with self._write() as db:
            row = db.execute(
                "SELECT f.id, r.feed_url FROM feeds f LEFT JOIN resolutions r"
                " ON r.feed_id = f.id WHERE f.url = :url",
                {"url": address},
            ).fetchone()
            if row is None:
                return False
            feed_id, old = row
            db.execute(
                """
                INSERT INTO resolutions (feed_id, feed_url, platform, candidates,
                                         resolved_at, attempted_at)
                VALUES (:id, :feed_url, :platform, :candidates, :now, :now)
                ON CONFLICT (feed_id) DO UPDATE SET
                    feed_url = excluded.feed_url, platform = excluded.platform,
                    candidates = excluded.candidates, resolved_at = excluded.resolved_at,
                    attempted_at = excluded.attempted_at, error_code = NULL, error = NULL
                """,
                {
                    "id": feed_id,
                    "feed_url": feed_url,
                    "platform": platform,
                    "candidates": candidates,
                    "now": ts,
                },
            )
            if old != feed_url:
                db.execute(
                    "UPDATE feeds SET etag = NULL, last_modified = NULL, body_hash = NULL,"
                    " moved_to = NULL WHERE id = :id",
                    {"id": feed_id},
                )
        return True

    def record_resolution_failure(
        self, address: str, *, code: str, message: str, now: datetime
    ) -> bool:
        """Remember that resolving ``address`` failed; a feed found earlier is kept
        (it is still polled). False when the feed is not in the database."""
        with self._write() as db:
            cursor = db.execute(
                """
                INSERT INTO resolutions (feed_id, attempted_at, error_code, error)
                SELECT id, :now, :code, :message FROM feeds WHERE url = :url
                ON CONFLICT (feed_id) DO UPDATE SET
                    attempted_at = excluded.attempted_at, error_code = excluded.error_code,
                    error = excluded.error
                """,
                {"url": address, "now": to_ts(now), "code": code, "message": message},
            )
        return cursor.rowcount > 0

    def forget_resolution(self, address: str) -> bool:
        """Forget what ``address`` was resolved to: the next poll resolves it again
        (the dashboard's and the CLI's "resolve again"). False if nothing was known."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM resolutions WHERE feed_id = (SELECT id FROM feeds WHERE url = :url)",
                {"url": address},
            )
        return cursor.rowcount > 0
