"""Full-text search over entry titles and summaries (FTS5).

Order and speed. Ranking by bm25 (``ORDER BY rank``) or sorting by ``published`` must
look at every match before returning the first one: a common word matching half of a
million entries takes over a second. FTS5 instead walks a term's index in rowid order,
in either direction, and stops at LIMIT (https://sqlite.org/fts5.html, "ORDER BY
rowid DESC"). So results come newest *id* first, and the cursor is the last id shown.
Ids track arrival: ``upsert_entries`` inserts each batch oldest first and AUTOINCREMENT
never reuses an id, so this is "most recently received first" — the same as the river
except for the back catalogue of a newly added feed, which comes before older
arrivals even though its dates are old. We accept that for search.

Filters (tab, active feeds) are checked on each match as it streams by; a tab holding
a tenth of the entries costs about ten times the lookups (in the narrow index
``entries_id_tab``). To bound the worst case (a small tab, a word in half of all
entries) a page looks at no more than 50,000 matches, in growing windows; past that
it returns what it found and a cursor to go on.

Queries are plain words. Each one becomes an FTS5 string ("..." with quotes doubled),
so ``"``, ``*``, ``AND``, ``NEAR(``, ``-`` or ``:`` are searched as text, never parsed
as query syntax; words are ANDed. Snippets come from FTS5 ``snippet()`` with markers
from the Private Use Area, which are turned into <mark> after HTML-escaping the text.
"""

from __future__ import annotations

import html
import logging

from ..models import EntryView
from ._entries import ENTRY_COLUMNS, SNIPPET_CLOSE, SNIPPET_OPEN, EntriesMixin, entry_view

log = logging.getLogger(__name__)

_OPEN, _CLOSE = SNIPPET_OPEN, SNIPPET_CLOSE
_SNIPPET_TOKENS = 24
_MAX_WORDS = 16  # more ANDed words only slow the query down: nobody types that many
# Matches looked at per page, in successive windows. A filter that rejects most
# matches (a small tab, searched for a common word) would otherwise walk the whole
# doclist: 500,000 matches cost ~0.7 s; 50,000 cost ~40 ms on the benchmark machine.
_WINDOWS = (2_000, 8_000, 40_000)
_NO_CURSOR = 2**63 - 1


def fts_query(text: str) -> str | None:
    """Plain words -> a safe FTS5 query ANDing them, or None if nothing searchable."""
    # Lone surrogates cannot be encoded to UTF-8 for SQLite: drop them.
    text = text.encode("utf-8", "replace").decode("utf-8").replace(_OPEN, "").replace(_CLOSE, "")
    # FTS5 reads the query as a C string: a NUL inside a word ends it ("unterminated string").
    text = text.replace("\x00", " ")
    words = [w for w in text.split() if any(c.isalnum() for c in w)][:_MAX_WORDS]
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def render_snippet(raw: str | None) -> str | None:
    """HTML-escape a snippet and turn its markers into <mark>; nothing else is markup."""
    if raw is None:
        return None
    escaped = html.escape(raw, quote=True)
    return escaped.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


class SearchMixin(EntriesMixin):
    def search(
        self,
        query: str,
        *,
        tab: str | None = None,
        feed_url: str | None = None,
        unread: bool = False,
        starred: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[EntryView], str | None]:
        """Entries of active feeds matching every word, newest id first, and the next
        cursor (None at the end); optionally only one feed's, unread or starred ones.
        Raises ValueError for a bad cursor.

        Each page looks at a bounded number of matches (``_WINDOWS``): with a very
        selective tab filter a page can be shorter than ``limit``, even empty, while
        the cursor is not None yet. Keep following the cursor until it is None."""
        limit = max(1, limit)
        match = fts_query(query)
        if match is None:
            return [], None
        filters = ["e.tab IS NOT NULL"]
        params: dict[str, object] = {
            "match": match,
            "open": _OPEN,
            "close": _CLOSE,
            "tokens": _SNIPPET_TOKENS,
        }
        if tab is not None:
            filters.append("e.tab = :tab")
            params["tab"] = tab
        if feed_url is not None:
            filters.append("f.url = :feed_url")
            params["feed_url"] = feed_url
        if unread:
            filters.append("NOT e.read")
        if starred:
            filters.append("e.starred")
        before = _NO_CURSOR
        if cursor:
            try:
                before = int(cursor)
            except ValueError:
                raise ValueError(f"invalid cursor: {cursor!r}") from None
        rows: list = []
        next_cursor: str | None = None
        with self._read() as db:
            for window in _WINDOWS:
                # 1. Where do the next `window` matches end? Only the FTS index is read.
                count, floor = db.execute(
                    """
                    SELECT count(*), min(rowid) FROM (
                        SELECT rowid FROM entries_fts
                        WHERE entries_fts MATCH :match AND rowid < :before
                        ORDER BY rowid DESC LIMIT :window)
                    """,
                    {**params, "before": before, "window": window},
                ).fetchone()
                if count == 0:
                    break
                # 2. Filter those matches, newest first, with snippets for the kept ones.
                # CROSS JOIN fixes the join order: stream the matches, look entries up.
                rows += db.execute(
                    f"""
                    SELECT {ENTRY_COLUMNS},
                        snippet(entries_fts, -1, :open, :close, '…', :tokens)
                    FROM entries_fts
                    CROSS JOIN entries AS e INDEXED BY entries_id_tab
                        ON e.id = entries_fts.rowid
                    CROSS JOIN feeds AS f ON f.id = e.feed_id
                    WHERE entries_fts MATCH :match
                        AND entries_fts.rowid < :before AND entries_fts.rowid >= :floor
                        AND {" AND ".join(filters)}
                    ORDER BY entries_fts.rowid DESC
                    LIMIT :limit
                    """,  # noqa: S608
                    {**params, "before": before, "floor": floor, "limit": limit + 1 - len(rows)},
                ).fetchall()
                if len(rows) > limit:
                    next_cursor = str(rows[limit - 1][0])
                    break
                if count < window:  # the index has no more matches
                    break
                before = floor
            else:
                # Budget spent: the page may be short, even empty, and the next one
                # resumes below the last match looked at.
                next_cursor = str(before)
        views = [entry_view(r, render_snippet(r[15])) for r in rows[:limit]]
        return views, next_cursor
