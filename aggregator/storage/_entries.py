"""Entries: ingest, the rivers (keyset pagination), read/star state and purge.

Search lives in ``_search.py``; both halves share the row -> EntryView mapping here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from .. import errors, folding
from ..models import Enclosure, Entry, EntryView
from ._feeds import FeedsMixin
from ._sqlite import opt_ts, to_ts

log = logging.getLogger(__name__)

# Every query that builds EntryView selects these, in this order, from
# ``entries AS e`` and ``feeds AS f``.
ENTRY_COLUMNS = """
    e.id, f.url, coalesce(f.title, f.feed_title, f.url), f.tab, e.guid, e.title, e.link,
    e.author, e.published, e.first_seen, e.summary, e.content_html, e.read, e.starred,
    e.enclosures, e.title_derived, e.thumbnail
"""

# The same, with the long texts (summary, content_html) left out: see latest_by_feed.
HEADLINE_COLUMNS = """
    e.id, f.url, coalesce(f.title, f.feed_title, f.url), f.tab, e.guid, e.title, e.link,
    e.author, e.published, e.first_seen, '', '', e.read, e.starred, e.enclosures,
    e.title_derived, e.thumbnail
"""
# A widget in « Vue étendue » (issue 9) shows a short snippet: the summary's beginning.
EXTENDED_COLUMNS = HEADLINE_COLUMNS.replace(
    "e.first_seen, '',", "e.first_seen, substr(e.summary, 1, 600),"
)

# Rows purged per transaction: a purge of 100,000 entries must not hold the write lock
# for seconds while the fetchers wait to store what they fetched. Deleting costs about
# 0.15 ms a row (nine indexes and the FTS index), so ~150 ms per chunk.
PURGE_CHUNK = 1000
# Pause between chunks. SQLite's busy handler does not queue writers: each one polls,
# sleeping up to 100 ms between tries, so a purge that re-took the lock at once could
# starve a fetcher until its busy timeout. A gap longer than the poll interval lets it in.
PURGE_PAUSE = 0.1

# Search snippets mark matches with these two Private Use Area characters before
# HTML-escaping (see _search.py); they are removed from stored titles and summaries
# so that the only markup in a snippet is a balanced <mark>...</mark>.
SNIPPET_OPEN, SNIPPET_CLOSE = "\ue000", "\ue001"


def _no_markers(text: str) -> str:
    """Drop our snippet markers from stored text, so a feed cannot forge a <mark>.
    str.translate walks every character (~90 µs per 2 KB accented summary); the
    markers are Private Use Area characters that real text practically never has."""
    if SNIPPET_OPEN in text or SNIPPET_CLOSE in text:
        return text.replace(SNIPPET_OPEN, "").replace(SNIPPET_CLOSE, "")
    return text


def entry_view(row: Sequence, snippet: str | None = None) -> EntryView:
    (
        id_, feed_url, feed_title, tab, guid, title, link, author, published,
        first_seen, summary, content_html, read, starred, enclosures,
    ) = row[:15]  # fmt: skip
    return EntryView(
        id=id_,
        feed_url=feed_url,
        feed_title=feed_title,
        tab=tab,
        guid=guid,
        title=title,
        link=link,
        author=author,
        published=datetime.fromtimestamp(published, UTC),
        first_seen=datetime.fromtimestamp(first_seen, UTC),
        summary=summary,
        content_html=content_html,
        read=bool(read),
        starred=bool(starred),
        enclosures=_load_enclosures(enclosures),
        snippet=snippet,
        # Issue 9's columns come last: queries written before them still fit.
        title_derived=bool(row[15]) if len(row) > 16 else False,
        thumbnail=row[16] if len(row) > 16 else None,
    )


def _dump_enclosures(enclosures: Sequence[Enclosure]) -> str | None:
    if not enclosures:
        return None
    return json.dumps(
        [{"url": x.url, "type": x.type, "length": x.length} for x in enclosures],
        ensure_ascii=False,
    )


def _load_enclosures(text: str | None) -> tuple[Enclosure, ...]:
    if not text:
        return ()
    return tuple(Enclosure(x["url"], x.get("type"), x.get("length")) for x in json.loads(text))


def _fallback_hash(e: Entry) -> str:
    """For callers that left content_hash empty: a hash of what we store."""
    parts = [e.title, e.link, e.author, e.published.isoformat(), e.content_html, e.summary]
    parts.append(_dump_enclosures(e.enclosures))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def search_columns(e: Entry) -> dict[str, str]:
    """What the full-text index stores for an entry (migration 7 in _schema.py): the
    title's and the whole body's words, folded by ``aggregator.folding``. The CPU
    stage folds them in the worker processes (``Entry.search_title`` and
    ``search_body``); an Entry made elsewhere has them folded here. A title with no
    word is " ", not '' ('' would mean "not computed" to the triggers)."""
    body = e.search_body or folding.body_index_text(e.content_html, e.summary)
    return {
        "search_title": e.search_title or folding.index_text(e.title) or " ",
        "search_body": body,
    }


def encode_cursor(published: int, entry_id: int) -> str:
    return f"{published}_{entry_id}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    """Raises ValueError on a cursor we did not make (the web layer answers 400)."""
    try:
        published, entry_id = cursor.split("_")
        return int(published), int(entry_id)
    except (ValueError, AttributeError):
        raise ValueError(f"invalid cursor: {cursor!r}") from None


class EntriesMixin(FeedsMixin):
    # --- ingest ------------------------------------------------------------------------

    def entry_hashes(self, feed_url: str, guids: Iterable[str] | None = None) -> dict[str, str]:
        """guid -> content_hash of a feed's stored entries, so the orchestrator can skip
        sanitizing unchanged ones. Pass the document's ``guids`` to load only those
        (a feed with a long history would otherwise return all of it on every poll)."""
        sql = "SELECT guid, content_hash FROM entries WHERE feed_id = :id"
        params: dict[str, object] = {}
        if guids is not None:
            sql += " AND guid IN (SELECT value FROM json_each(:guids))"
            params["guids"] = json.dumps(list(guids))
        with self._read() as db:
            params["id"], _, _ = self._feed_id(db, feed_url)
            rows = db.execute(sql, params).fetchall()
        return dict(rows)

    def upsert_entries(self, feed_url: str, entries: Sequence[Entry], *, now: datetime) -> int:
        """Store a feed's entries in one transaction; returns how many were new.

        Unknown guids are inserted (first_seen = now, unread); known ones whose
        content_hash changed are updated in place, keeping read/starred/first_seen;
        unchanged ones are not written at all. An entry without a date of its own
        (``has_date`` False: published is the first-seen time) keeps its stored date
        when updated, so a corrected typo does not move it up. An unknown guid dated at or before the
        feed's ``purged_until`` is an entry we purged that the feed still lists: it is
        not brought back. The FTS index follows through triggers.
        """
        ts = to_ts(now)
        batch: dict[str, Entry] = {}
        for e in entries:
            batch.setdefault(e.guid, e)  # feeds do repeat items; the first one wins
        with self._write() as db:
            feed_id, tab, purged_until = self._feed_id(db, feed_url)
            known = dict(
                db.execute(
                    """
                    SELECT guid, content_hash FROM entries
                    WHERE feed_id = :id AND guid IN (SELECT value FROM json_each(:guids))
                    """,
                    {"id": feed_id, "guids": json.dumps(list(batch))},
                ).fetchall()
            )
            new: list[tuple[int, int, dict[str, object]]] = []
            changed: list[dict[str, object]] = []
            for order, (guid, e) in enumerate(batch.items()):
                content_hash = e.content_hash or _fallback_hash(e)
                published = to_ts(e.published)
                row: dict[str, object] = {
                    "feed_id": feed_id,
                    "tab": tab,
                    "guid": guid,
                    "title": _no_markers(e.title),
                    "link": e.link,
                    "author": e.author,
                    "published": published,
                    "updated": opt_ts(e.updated),
                    "first_seen": ts,
                    "summary": _no_markers(e.summary),
                    "content_html": e.content_html,
                    "enclosures": _dump_enclosures(e.enclosures),
                    "content_hash": content_hash,
                    "has_date": int(e.has_date),
                    "title_derived": int(e.title_derived),
                    "thumbnail": e.thumbnail,
                    **search_columns(e),
                }
                if guid not in known:
                    if purged_until is not None and published <= purged_until:
                        continue
                    new.append((published, -order, row))
                elif known[guid] != content_hash:
                    changed.append(row)
            # Oldest first, so that ids grow with dates: search pages by id (see
            # _search.py), and feeds list their items newest first.
            new.sort(key=lambda t: t[:2])
            db.executemany(
                """
                INSERT INTO entries (
                    feed_id, tab, guid, title, link, author, published, updated,
                    first_seen, summary, content_html, enclosures, content_hash,
                    title_derived, thumbnail, search_title, search_body)
                VALUES (
                    :feed_id, :tab, :guid, :title, :link, :author, :published, :updated,
                    :first_seen, :summary, :content_html, :enclosures, :content_hash,
                    :title_derived, :thumbnail, :search_title, :search_body)
                """,
                [row for _, _, row in new],
            )
            db.executemany(
                """
                UPDATE entries SET
                    title = :title, link = :link, author = :author,
                    published = CASE WHEN :has_date THEN :published ELSE published END,
                    updated = :updated, summary = :summary, content_html = :content_html,
                    enclosures = :enclosures, content_hash = :content_hash,
                    title_derived = :title_derived, thumbnail = :thumbnail,
                    search_title = :search_title, search_body = :search_body
                WHERE feed_id = :feed_id AND guid = :guid
                """,
                changed,
            )
        log.debug("%s: %d new, %d changed entries", feed_url, len(new), len(changed))
        return len(new)

    # --- reading -------------------------------------------------------------------------

    def entry(self, entry_id: int) -> EntryView:
        """Any stored entry, also one of a removed feed (a starred one, say)."""
        with self._query() as db:
            row = db.execute(
                f"""
                SELECT {ENTRY_COLUMNS} FROM entries AS e JOIN feeds AS f ON f.id = e.feed_id
                WHERE e.id = :id
                """,  # noqa: S608
                {"id": entry_id},
            ).fetchone()
        if row is None:
            raise errors.NotFound(f"no such entry: {entry_id}")
        return entry_view(row)

    def entries(
        self,
        *,
        tab: str | None = None,
        feed_url: str | None = None,
        unread: bool = False,
        starred: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[EntryView], str | None]:
        """A page of a river, newest first by (published, id), and the next cursor.

        Keyset pagination: the cursor is the (published, id) of the last entry shown
        and the next page starts strictly after it, so entries inserted meanwhile
        neither shift nor repeat what follows; each page is one index range scan,
        as fast at page 100 as at page 1. Rivers show entries of active feeds only,
        except the starred filter, which also shows starred entries of removed feeds.
        Raises NotFound for an unknown feed_url, ValueError for a bad cursor.
        """
        # The conditions repeat the partial-index WHERE clauses (_schema.py) verbatim,
        # and INDEXED BY names the index: the plan must not depend on statistics
        # (without ANALYZE, SQLite would serve "starred in a tab" from the tab index
        # and visit the whole tab). Starred entries are few: their index always wins.
        limit = max(1, limit)
        where = ["e.starred = 1"] if starred else ["e.tab IS NOT NULL"]
        params: dict[str, object] = {"limit": limit + 1}
        if unread:
            where.append("e.read = 0")
        if tab is not None:
            where.append("e.tab = :tab")
            params["tab"] = tab
        if starred:
            index = "entries_starred"
        elif feed_url is not None:
            index = "entries_unread_feed" if unread else "entries_river_feed"
        elif tab is not None:
            index = "entries_unread_tab" if unread else "entries_river_tab"
        else:
            index = "entries_unread" if unread else "entries_river"
        if cursor:
            params["cp"], params["ci"] = decode_cursor(cursor)
            # Not a row value (published, id) < (:cp, :ci): this form is a plain range
            # on the index's first column, with the id test checked on index entries.
            where.append("e.published <= :cp AND (e.published < :cp OR e.id < :ci)")
        with self._read() as db:
            if feed_url is not None:
                params["feed_id"], _, _ = self._feed_id(db, feed_url)
                where.append("e.feed_id = :feed_id")
            rows = db.execute(
                f"""
                SELECT {ENTRY_COLUMNS} FROM entries AS e INDEXED BY {index}
                CROSS JOIN feeds AS f ON f.id = e.feed_id
                WHERE {" AND ".join(where)}
                ORDER BY e.published DESC, e.id DESC
                LIMIT :limit
                """,  # noqa: S608
                params,
            ).fetchall()
        views = [entry_view(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last[8], last[0])
        return views, next_cursor

    def latest_by_feed(
        self, *, tab: str, per_feed: int = 5, extended: Collection[str] = ()
    ) -> dict[str, list[EntryView]]:
        """The widgets view: each active feed of a tab (in feeds.yaml order, empty ones
        included) -> its newest entries. One short indexed query per feed, in one
        snapshot: SQLite has no LATERAL join, and a window function would rank every
        entry of the tab.

        Headlines only: ``summary`` and ``content_html`` come back empty (they are most
        of the bytes: a page has 500 headlines), except the summary's first 600
        characters for the feeds in ``extended`` (« Vue étendue » shows a snippet)."""
        result: dict[str, list[EntryView]] = {}
        with self._read() as db:
            feeds = db.execute(
                "SELECT id, url FROM feeds WHERE active = 1 AND tab = :tab ORDER BY position, id",
                {"tab": tab},
            ).fetchall()
            for feed_id, url in feeds:
                rows = db.execute(
                    f"""
                    SELECT {EXTENDED_COLUMNS if url in extended else HEADLINE_COLUMNS}
                    FROM entries AS e INDEXED BY entries_river_feed
                    CROSS JOIN feeds AS f ON f.id = e.feed_id
                    WHERE e.feed_id = :id
                    ORDER BY e.published DESC, e.id DESC LIMIT :n
                    """,  # noqa: S608
                    {"id": feed_id, "n": per_feed},
                ).fetchall()
                result[url] = [entry_view(r) for r in rows]
        return result

    def unread_counts(self) -> dict[str, int]:
        """tab -> unread entries of its active feeds, and "" -> the total."""
        with self._query() as db:
            rows = db.execute(
                """
                SELECT tab, sum(unread_count) FROM feeds WHERE active = 1
                GROUP BY tab ORDER BY min(position)
                """
            ).fetchall()
        counts = {tab: int(n) for tab, n in rows}
        counts[""] = sum(counts.values())
        return counts

    def count_newer(
        self, after_id: int, *, tab: str | None = None, feed_url: str | None = None
    ) -> int:
        """Entries of active feeds stored after ``after_id`` (ids only grow), in a tab,
        a feed or everywhere: the dashboard's « N nouveaux articles » poll. A range of
        the rowid, so as cheap as the number of new entries."""
        where = ["e.id > :after", "e.tab IS NOT NULL"]
        params: dict[str, object] = {"after": after_id}
        if tab is not None:
            where.append("e.tab = :tab")
            params["tab"] = tab
        with self._read() as db:
            if feed_url is not None:
                params["feed_id"], _, _ = self._feed_id(db, feed_url)
                where.append("e.feed_id = :feed_id")
            row = db.execute(
                f"SELECT count(*) FROM entries AS e WHERE {' AND '.join(where)}",  # noqa: S608
                params,
            ).fetchone()
        return int(row[0])

    # --- read / star state -------------------------------------------------------------

    def set_read(
        self, entry_ids: Sequence[int], read: bool = True, *, now: datetime | None = None
    ) -> int:
        """Mark entries read (or unread); returns how many actually changed."""
        read_at = to_ts(now or datetime.now(UTC)) if read else None
        with self._write() as db:
            cur = db.execute(
                """
                UPDATE entries SET read = :read, read_at = :read_at
                WHERE id IN (SELECT value FROM json_each(:ids)) AND read != :read
                """,
                {"read": int(read), "read_at": read_at, "ids": json.dumps(list(entry_ids))},
            )
            return cur.rowcount

    def set_starred(self, entry_id: int, starred: bool = True) -> None:
        with self._write() as db:
            cur = db.execute(
                "UPDATE entries SET starred = :starred WHERE id = :id",
                {"starred": int(starred), "id": entry_id},
            )
            if cur.rowcount == 0:
                raise errors.NotFound(f"no such entry: {entry_id}")

    def mark_all_read(
        self,
        *,
        tab: str | None = None,
        feed_url: str | None = None,
        max_id: int | None = None,
        now: datetime | None = None,
    ) -> list[int]:
        """Mark the unread entries of a river read; returns their ids, for undo with
        ``set_read(ids, False)``. ``max_id`` (the largest id on the page the person
        saw) spares entries that arrived since: ids only grow (AUTOINCREMENT)."""
        where = ["read = 0", "tab IS NOT NULL"]
        params: dict[str, object] = {"now": to_ts(now or datetime.now(UTC))}
        if tab is not None:
            where.append("tab = :tab")
            params["tab"] = tab
        if max_id is not None:
            where.append("id <= :max_id")
            params["max_id"] = max_id
        # Named index: with max_id, the planner would otherwise walk the primary key
        # (id <= max_id), i.e. the whole table, instead of the small unread index.
        index = "entries_unread_tab" if tab is not None else "entries_unread"
        with self._write() as db:
            if feed_url is not None:
                params["feed_id"], _, _ = self._feed_id(db, feed_url)
                where.append("feed_id = :feed_id")
                index = "entries_unread_feed"
            rows = db.execute(
                f"UPDATE entries INDEXED BY {index} SET read = 1, read_at = :now "  # noqa: S608
                f"WHERE {' AND '.join(where)} RETURNING id",
                params,
            ).fetchall()
        return sorted(entry_id for (entry_id,) in rows)

    # --- housekeeping ------------------------------------------------------------------

    def purge(self, *, now: datetime, keep_days: int) -> int:
        """Delete what is no longer worth keeping; returns the number of entries deleted.

        1. Read, unstarred entries both first seen and published more than keep_days
           ago. Both dates: ``published`` alone would drop the back catalogue of a
           feed added today as soon as it is read; ``first_seen`` alone would drop an
           item the feed still lists, and the next fetch would bring it back unread
           (``purged_until`` guards against that, and needs the dates to be old).
        2. Every unstarred entry of a feed removed from feeds.yaml more than keep_days
           ago, then the feed row itself once it has no entries left.
        Entries referenced by a ``forwards`` table (a later migration) are never
        deleted: the ledger of what was sent to whom outlives the entries' age.
        Deletes in chunks of PURGE_CHUNK rows, one short transaction each, with a
        pause between them for other writers: a first purge of 180,000 entries out of
        a million takes about 45 s, while fetchers and readers carry on.
        """
        cutoff = to_ts(now - timedelta(days=keep_days))
        total = 0
        rules = [
            "read = 1 AND starred = 0 AND first_seen < :cutoff AND published < :cutoff",
            "starred = 0 AND feed_id IN "
            "(SELECT id FROM feeds WHERE active = 0 AND removed_at < :cutoff)",
        ]
        for rule in rules:
            # Find the candidates without the write lock (a full scan, once a day),
            # then delete them in short transactions that re-check the rule: an entry
            # starred meanwhile stays.
            with self._query() as db:
                candidates = [
                    entry_id
                    for (entry_id,) in db.execute(
                        f"SELECT id FROM entries WHERE {rule}",  # noqa: S608
                        {"cutoff": cutoff},
                    )
                ]
            for start in range(0, len(candidates), PURGE_CHUNK):
                if start:
                    time.sleep(PURGE_PAUSE)
                chunk = candidates[start : start + PURGE_CHUNK]
                with self._write() as db:
                    guard = self._forwards_guard(db)
                    rows = db.execute(
                        f"""
                        DELETE FROM entries
                        WHERE id IN (SELECT value FROM json_each(:ids)) AND {rule} {guard}
                        RETURNING feed_id, published
                        """,  # noqa: S608
                        {"ids": json.dumps(chunk), "cutoff": cutoff},
                    ).fetchall()
                    newest: dict[int, int] = {}
                    for feed_id, published in rows:
                        newest[feed_id] = max(published, newest.get(feed_id, published))
                    db.executemany(
                        """
                        UPDATE feeds SET purged_until = max(coalesce(purged_until, :p), :p)
                        WHERE id = :id
                        """,
                        [{"id": k, "p": v} for k, v in newest.items()],
                    )
                total += len(rows)
        with self._write() as db:
            gone = db.execute(
                """
                DELETE FROM feeds WHERE active = 0 AND removed_at < :cutoff
                AND NOT EXISTS (SELECT 1 FROM entries WHERE entries.feed_id = feeds.id)
                RETURNING url
                """,
                {"cutoff": cutoff},
            ).fetchall()
        log.info("purge: %d entries, %d removed feeds", total, len(gone))
        return total

    @staticmethod
    def _forwards_guard(db: sqlite3.Connection) -> str:
        """SQL keeping entries the forward ledger points at, once that table exists."""
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'forwards'"
        ).fetchone()
        if not exists:
            return ""
        return "AND NOT EXISTS (SELECT 1 FROM forwards WHERE forwards.entry_id = entries.id)"
