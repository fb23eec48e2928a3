"""What the sync APIs (Google Reader, Fever: ``web/greader.py``, ``web/fever.py``) read
and write: streams of item ids, items by id, read/star state in bulk, "mark all as read
before a time", and the API's own credential record.

The read and starred flags are the very columns the dashboard uses (``_entries``): a
phone and the dashboard share one state, there is no copy to reconcile. The queries
walk the same partial indexes as the rivers (``_schema.py``), with the same
``INDEXED BY`` discipline, so a first sync of 10,000 unread ids is one index range scan.

Item times: ``published`` is the item's time everywhere in the APIs (GReader's
``timestampUsec``, ``ot``/``nt``/``ts``, Fever's ``created_on_time``/``before``), so
that a client that echoes back a time it was given means the items it saw.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import errors
from ._entries import EntriesMixin, decode_cursor, encode_cursor
from ._sqlite import to_ts

# The credential record of the sync APIs lives in ``meta`` under this key (a JSON
# object: user, password hash, Fever key hash; see web/apiauth.py). A hash is not a
# secret the person wrote, and every process serving the database must see it.
API_CREDENTIALS_KEY = "api_credentials"

STREAM_KINDS = ("all", "feed", "label", "starred", "read")


@dataclass(frozen=True)
class Stream:
    """What a sync client asks for: every item of active feeds (``all``), one feed
    (``value`` = its URL as written in feeds.yaml), one tab (``label``), the starred
    items, or the read ones."""

    kind: str
    value: str | None = None


@dataclass(frozen=True)
class SyncFeed:
    id: int
    url: str
    tab: str
    title: str
    site_link: str | None
    position: int
    unread_count: int
    newest_unread: int | None  # unix seconds, the newest unread item's published
    last_success: int | None


@dataclass(frozen=True)
class SyncItem:
    id: int
    feed_id: int
    feed_url: str
    feed_title: str
    site_link: str | None
    tab: str | None
    title: str
    link: str | None
    author: str | None
    published: int
    updated: int | None
    first_seen: int
    summary: str
    content_html: str
    read: bool
    starred: bool
    enclosures: str | None  # JSON, as stored


_ITEM_COLUMNS = """
    e.id, e.feed_id, f.url, coalesce(f.title, f.feed_title, f.url), f.site_link, e.tab,
    e.title, e.link, e.author, e.published, e.updated, e.first_seen, e.summary,
    e.content_html, e.read, e.starred, e.enclosures
"""


def _item(row: Sequence) -> SyncItem:
    (
        id_, feed_id, url, title, site_link, tab, e_title, link, author, published,
        updated, first_seen, summary, content, read, starred, enclosures,
    ) = row  # fmt: skip
    return SyncItem(
        id=id_,
        feed_id=feed_id,
        feed_url=url,
        feed_title=title,
        site_link=site_link,
        tab=tab,
        title=e_title,
        link=link,
        author=author,
        published=published,
        updated=updated,
        first_seen=first_seen,
        summary=summary,
        content_html=content,
        read=bool(read),
        starred=bool(starred),
        enclosures=enclosures,
    )


class SyncMixin(EntriesMixin):
    # --- feeds -------------------------------------------------------------------------

    def sync_feeds_list(self) -> list[SyncFeed]:
        """Active feeds in feeds.yaml order, with their unread count and the date of
        their newest unread item (one index seek per feed)."""
        with self._read() as db:
            rows = db.execute(
                """
                SELECT f.id, f.url, f.tab, coalesce(f.title, f.feed_title, f.url), f.site_link,
                       f.position, f.unread_count,
                       (SELECT max(e.published) FROM entries AS e INDEXED BY entries_unread_feed
                        WHERE e.feed_id = f.id AND e.read = 0),
                       f.last_success
                FROM feeds AS f WHERE f.active = 1 ORDER BY f.position, f.id
                """
            ).fetchall()
        return [SyncFeed(*row) for row in rows]

    def sync_feed_url(self, feed_id: int) -> str | None:
        """The URL of an active feed by its id (Fever names feeds by id)."""
        with self._query() as db:
            row = db.execute(
                "SELECT url FROM feeds WHERE id = :id AND active = 1", {"id": feed_id}
            ).fetchone()
        return None if row is None else row[0]

    # --- streams of ids ----------------------------------------------------------------

    def sync_item_ids(
        self,
        stream: Stream,
        *,
        exclude_read: bool = False,
        exclude_starred: bool = False,
        only_starred: bool = False,
        only_read: bool = False,
        newer_than: int | None = None,
        older_than: int | None = None,
        oldest_first: bool = False,
        cursor: str | None = None,
        limit: int = 20,
    ) -> tuple[list[tuple[int, int]], str | None]:
        """A page of ``(id, published)`` of a stream, newest first (or oldest first), and
        the continuation for the next page (None at the end). Both are in every index
        named here, so a page is read from the index alone, never from the table rows
        (10,000 row lookups scattered over a 4 GB file were most of a first sync).

        ``newer_than``/``older_than`` are unix seconds on ``published`` (GReader's
        ``ot``: at or after, ``nt``: before). Keyset paging on (published, id), as in
        ``EntriesMixin.entries``: each page is one index range scan. Raises NotFound for
        a feed that is not followed, ValueError for a continuation we did not make.
        """
        where, params, index = self._stream_filter(
            stream,
            exclude_read=exclude_read,
            exclude_starred=exclude_starred,
            only_starred=only_starred,
            only_read=only_read,
        )
        params["limit"] = limit + 1
        if newer_than is not None:
            where.append("e.published >= :ot")
            params["ot"] = newer_than
        if older_than is not None:
            where.append("e.published < :nt")
            params["nt"] = older_than
        if cursor:
            params["cp"], params["ci"] = decode_cursor(cursor)
            if oldest_first:
                where.append("e.published >= :cp AND (e.published > :cp OR e.id > :ci)")
            else:
                where.append("e.published <= :cp AND (e.published < :cp OR e.id < :ci)")
        order = "ASC" if oldest_first else "DESC"
        with self._read() as db:
            if stream.kind == "feed":
                params["feed_id"] = self._active_feed_id(db, stream.value or "")
            rows = db.execute(
                f"""
                SELECT e.id, e.published FROM entries AS e INDEXED BY {index}
                WHERE {" AND ".join(where)}
                ORDER BY e.published {order}, e.id {order}
                LIMIT :limit
                """,  # noqa: S608
                params,
            ).fetchall()
        page = [tuple(r) for r in rows[:limit]]
        following = None
        if len(rows) > limit:
            following = encode_cursor(page[-1][1], page[-1][0])
        return page, following  # type: ignore[return-value]

    @staticmethod
    def _stream_filter(
        stream: Stream,
        *,
        exclude_read: bool = False,
        exclude_starred: bool = False,
        only_starred: bool = False,
        only_read: bool = False,
    ) -> tuple[list[str], dict[str, object], str]:
        """WHERE conditions, parameters and the index to name. The conditions repeat
        the partial indexes' own (``_schema.py``) so that INDEXED BY is allowed."""
        if stream.kind not in STREAM_KINDS:
            raise ValueError(f"unknown stream kind: {stream.kind}")
        params: dict[str, object] = {}
        starred = only_starred or stream.kind == "starred"
        unread = exclude_read and not only_read
        where = ["e.starred = 1"] if starred else ["e.tab IS NOT NULL"]
        if unread:
            where.append("e.read = 0")
        if only_read or stream.kind == "read":
            where.append("e.read = 1")
        if exclude_starred:
            where.append("e.starred = 0")
        if stream.kind == "label":
            where.append("e.tab = :tab")
            params["tab"] = stream.value
        if stream.kind == "feed":
            where.append("e.feed_id = :feed_id")
        if starred:
            index = "entries_starred"
        elif stream.kind == "feed":
            index = "entries_unread_feed" if unread else "entries_river_feed"
        elif stream.kind == "label":
            index = "entries_unread_tab" if unread else "entries_river_tab"
        else:
            index = "entries_unread" if unread else "entries_river"
        return where, params, index

    @staticmethod
    def _active_feed_id(db: sqlite3.Connection, url: str) -> int:
        row = db.execute(
            "SELECT id FROM feeds WHERE url = :url AND active = 1", {"url": url}
        ).fetchone()
        if row is None:
            raise errors.NotFound(f"no such feed: {url}")
        return int(row[0])

    # --- items ---------------------------------------------------------------------------

    def sync_items(self, ids: Sequence[int]) -> list[SyncItem]:
        """The items with these ids, in the order asked (unknown ids are left out).
        Items of removed feeds are served too: a starred one may still be listed."""
        with self._read() as db:
            rows = db.execute(
                f"""
                SELECT {_ITEM_COLUMNS}
                FROM json_each(:ids) AS j
                CROSS JOIN entries AS e ON e.id = j.value
                CROSS JOIN feeds AS f ON f.id = e.feed_id
                ORDER BY j.key
                """,  # noqa: S608
                {"ids": json.dumps(list(ids))},
            ).fetchall()
        seen: set[int] = set()
        items = []
        for row in rows:
            if row[0] not in seen:
                seen.add(row[0])
                items.append(_item(row))
        return items

    def sync_items_by_id(
        self,
        *,
        since_id: int | None = None,
        max_id: int | None = None,
        limit: int = 50,
    ) -> list[SyncItem]:
        """Fever's paging: items of active feeds after ``since_id`` (ascending), or
        before ``max_id`` (descending), or the first ones (ascending)."""
        where = ["e.tab IS NOT NULL"]
        params: dict[str, object] = {"limit": limit}
        order = "ASC"
        if since_id is not None:
            where.append("e.id > :since")
            params["since"] = since_id
        elif max_id is not None:
            where.append("e.id < :max")
            params["max"] = max_id
            order = "DESC"
        with self._read() as db:
            rows = db.execute(
                f"""
                SELECT {_ITEM_COLUMNS} FROM entries AS e
                CROSS JOIN feeds AS f ON f.id = e.feed_id
                WHERE {" AND ".join(where)}
                ORDER BY e.id {order} LIMIT :limit
                """,  # noqa: S608
                params,
            ).fetchall()
        return [_item(r) for r in rows]

    def sync_total_items(self) -> int:
        with self._query() as db:
            (n,) = db.execute(
                "SELECT coalesce(sum(entry_count), 0) FROM feeds WHERE active = 1"
            ).fetchone()
        return int(n)

    def sync_state_ids(self, *, starred: bool) -> list[int]:
        """Every unread id of the active feeds (``starred`` False), or every starred id,
        ascending (Fever's ``unread_item_ids`` / ``saved_item_ids``)."""
        if starred:
            sql = "SELECT id FROM entries INDEXED BY entries_starred WHERE starred = 1"
        else:
            sql = (
                "SELECT id FROM entries INDEXED BY entries_unread "
                "WHERE read = 0 AND tab IS NOT NULL"
            )
        with self._query() as db:
            ids = [i for (i,) in db.execute(sql)]
        ids.sort()
        return ids

    # --- state -----------------------------------------------------------------------------

    def sync_set_starred(self, entry_ids: Sequence[int], starred: bool = True) -> int:
        """Star (or unstar) entries in one transaction; unknown ids are ignored.
        Returns how many changed."""
        with self._write() as db:
            cur = db.execute(
                """
                UPDATE entries SET starred = :starred
                WHERE id IN (SELECT value FROM json_each(:ids)) AND starred != :starred
                """,
                {"starred": int(starred), "ids": json.dumps(list(entry_ids))},
            )
            return cur.rowcount

    def sync_mark_read(
        self, stream: Stream, *, before: int | None = None, now: datetime | None = None
    ) -> int:
        """Mark the unread items of a stream read, those published at or before
        ``before`` (unix seconds) only when given: items that arrived after the client
        looked stay unread. Returns how many changed. NotFound for an unknown feed."""
        if stream.kind in ("read",):
            return 0
        where, params, index = self._stream_filter(stream, exclude_read=True)
        params["now"] = to_ts(now or datetime.now(UTC))
        if before is not None:
            where.append("e.published <= :before")
            params["before"] = before
        with self._write() as db:
            if stream.kind == "feed":
                params["feed_id"] = self._active_feed_id(db, stream.value or "")
            # UPDATE cannot alias its table: the conditions name ``entries`` itself.
            conditions = " AND ".join(w.replace("e.", "entries.") for w in where)
            cur = db.execute(
                f"UPDATE entries INDEXED BY {index} SET read = 1, read_at = :now "  # noqa: S608
                f"WHERE {conditions}",
                params,
            )
            return cur.rowcount
