"""Full-text search over entry titles and whole bodies (FTS5).

What is indexed (migration 7, _schema.py): the title and the WHOLE body (not only the
2,000-character summary), as their words folded by ``aggregator.folding`` -- the same
function the query goes through, and the suggestions: case, accents, œ/æ and plurals
in -s/-x are ignored ("oeuvres" finds "Œuvre", "emplois" finds "emploi"). A word
ending in ``*`` is a prefix ("cin*" finds "Cinéma"). Words are ANDed; a word that folds
to several ("post-production") is a phrase. Only letters and digits reach FTS5, so
``"``, ``AND``, ``NEAR(``, ``-`` or ``:`` are never read as query syntax.

Order and speed. Sorting matches by ``published`` or ranking them by bm25 must look
at every match before returning the first one: a common word matching half of a
million entries takes over a second. FTS5 instead walks a term's index in rowid
order, in either direction, and stops at LIMIT (https://sqlite.org/fts5.html, "ORDER
BY rowid DESC"). The index's rowid is therefore ``published * 2^31 + id`` (see
_schema.py): walking it backwards gives the newest *published* first, at the cost of
the old newest-id-first order, and the cursor is the last rowid shown.
« Pertinence » (``order="relevance"``) ranks by bm25 (title words weigh 4 times a body
word) among the newest ``_RELEVANCE_POOL`` matches only: the best of the recent ones,
in bounded time, rather than the best of ten years after seconds.

Filters (tab, active feeds) are checked on each match as it streams by; a tab holding
a tenth of the entries costs about ten times the lookups (in the narrow index
``entries_id_tab``). To bound the worst case (a small tab, a word in half of all
entries) a page looks at no more than 50,000 matches, in growing windows; past that
it returns what it found and a cursor to go on.

Highlights are made here, in Python, from the real text (the index holds folded
words, not text): each word of the title and of a ~24-word passage is folded the
same way and marked when it matches, after HTML-escaping everything else.
"""

from __future__ import annotations

import html
import logging
import unicodedata
from dataclasses import dataclass, replace

from .. import folding
from ..models import EntryView
from ._entries import ENTRY_COLUMNS, EntriesMixin, entry_view
from ._icons import IconsMixin

log = logging.getLogger(__name__)

_SNIPPET_WORDS = 24
_MAX_WORDS = 16  # more ANDed words only slow the query down: nobody types that many
# Matches looked at per page, in successive windows. A filter that rejects most
# matches (a small tab, searched for a common word) would otherwise walk the whole
# doclist: 500,000 matches cost ~0.7 s; 50,000 cost ~40 ms on the benchmark machine.
_WINDOWS = (2_000, 8_000, 40_000)
_RELEVANCE_POOL = 2_000
_NO_CURSOR = 2**63 - 1
_ID_BITS = 2**31  # rowid = published * _ID_BITS + id (_schema.py, migration 7)
# A body-only match is looked for in this much of the body's text, for its passage.
_SNIPPET_SCAN = 300_000
ORDERS = ("date", "relevance")


@dataclass(frozen=True)
class Query:
    """A parsed search: the FTS5 expression and the terms to highlight."""

    match: str
    terms: tuple[tuple[str, ...], ...]  # each word of the query, as folded words
    prefixes: frozenset[int]  # indexes into terms of the words ending in "*"

    def marks(self, word: str) -> bool:
        """Whether a folded word of the text is one the query asked for."""
        for i, term in enumerate(self.terms):
            if word in term[:-1] or word == term[-1]:
                return True
            if i in self.prefixes and word.startswith(term[-1]):
                return True
        return False


def parse_query(text: str) -> Query | None:
    """Plain words -> a safe FTS5 query ANDing them, or None if nothing searchable."""
    # Lone surrogates cannot be encoded to UTF-8 for SQLite: drop them.
    text = text.encode("utf-8", "replace").decode("utf-8")
    terms: list[tuple[str, ...]] = []
    prefixes: set[int] = set()
    parts: list[str] = []
    for raw in text.split():
        prefix = raw.endswith("*")
        found = tuple(folding.words(raw))
        if not found or found in terms:
            continue
        if prefix:
            prefixes.add(len(terms))
        terms.append(found)
        # Only letters and digits are left: quoting cannot be escaped from.
        parts.append('"' + " ".join(found) + '"' + (" *" if prefix else ""))
        if len(terms) == _MAX_WORDS:
            break
    if not terms:
        return None
    return Query(" ".join(parts), tuple(terms), frozenset(prefixes))


def fts_query(text: str) -> str | None:
    """The FTS5 expression for plain words (see ``parse_query``)."""
    query = parse_query(text)
    return query.match if query else None


def highlight(text: str, query: Query) -> tuple[str, bool]:
    """``text`` HTML-escaped with the words ``query`` matches in <mark>; and whether
    any was."""
    out: list[str] = []
    pos = 0
    found = False
    for start, end, word in folding.tokens(text):
        if query.marks(word):
            out.append(html.escape(text[pos:start], quote=True))
            out.append("<mark>" + html.escape(text[start:end], quote=True) + "</mark>")
            pos = end
            found = True
    out.append(html.escape(text[pos:], quote=True))
    return "".join(out), found


def _could_match(text: str, query: Query) -> bool:
    """A cheap test, in C, before folding ``text`` word by word in Python: when every
    word of the query is ASCII once folded, a text none of whose words can match
    has none of them as a substring of its ASCII skeleton (ligatures spelled out,
    accents dropped, casefolded). False positives only cost the slow path."""
    words = [w for term in query.terms for w in term]
    if not all(w.isascii() for w in words):
        return True
    for ligature, letters in (("œ", "oe"), ("Œ", "oe"), ("æ", "ae"), ("Æ", "ae")):
        text = text.replace(ligature, letters)
    skeleton = unicodedata.normalize("NFKD", text).casefold().encode("ascii", "ignore").decode()
    return any(w in skeleton for w in words)


def _first_match(text: str, query: Query) -> int | None:
    """Offset of the first word of ``text`` that ``query`` matches, looking at no
    more than _SNIPPET_SCAN characters and folding word by word until then (a
    match near the start costs a few words, not the whole text)."""
    if not _could_match(text[:_SNIPPET_SCAN], query):
        return None
    for start, _, word in folding.iter_tokens(text, 0, min(len(text), _SNIPPET_SCAN)):
        if query.marks(word):
            return start
    return None


def snippet(summary: str, content_html: str, query: Query) -> str:
    """About _SNIPPET_WORDS words around the first match, in the summary if it has
    one, else in the whole body; the start of the summary if only the title matched."""
    text = " ".join(summary.split())
    at = _first_match(text, query)
    if at is None and content_html:
        body = " ".join(folding.sanitized_html_text(content_html[: 4 * _SNIPPET_SCAN]).split())
        at = _first_match(body, query)
        if at is not None:
            text = body
    at = at or 0
    before = text[:at].split()[-(_SNIPPET_WORDS // 3) :]
    after = text[at:].split()[: _SNIPPET_WORDS - len(before)]
    lead = "… " if len(before) < len(text[:at].split()) else ""
    tail = " …" if len(text[at:].split()) > len(after) else ""
    passage, _ = highlight(" ".join(before + after), query)
    return lead + passage + tail


# IconsMixin rides along here (the site icons of migration 7, issue 9) so that adding
# it did not touch the Storage class line, which several sessions edit at once.
class SearchMixin(EntriesMixin, IconsMixin):
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
        order: str = "date",
    ) -> tuple[list[EntryView], str | None]:
        """Entries of active feeds matching every word, newest published first (or
        by relevance among the newest matches), and the next cursor (None at the end);
        optionally only one feed's, unread or starred ones. Each view has ``snippet``
        and ``title_html`` (escaped, matches in <mark>). Raises ValueError for a bad
        cursor or order.

        Each page looks at a bounded number of matches (``_WINDOWS``): with a very
        selective tab filter a page can be shorter than ``limit``, even empty, while
        the cursor is not None yet. Keep following the cursor until it is None."""
        if order not in ORDERS:
            raise ValueError(f"invalid order: {order!r}")
        limit = max(1, limit)
        parsed = parse_query(query)
        if parsed is None:
            return [], None
        filters = ["e.tab IS NOT NULL"]
        params: dict[str, object] = {"match": parsed.match, "bits": _ID_BITS}
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
        where = " AND ".join(filters)
        if order == "relevance":
            rows, next_cursor = self._by_relevance(params, where, cursor, limit)
        else:
            rows, next_cursor = self._by_date(params, where, cursor, limit)
        views = []
        for r in rows[:limit]:
            view = entry_view(r)
            title_html, _ = highlight(view.title, parsed)
            views.append(_with(view, snippet(view.summary, view.content_html, parsed), title_html))
        return views, next_cursor

    def _by_date(
        self, params: dict[str, object], where: str, cursor: str | None, limit: int
    ) -> tuple[list, str | None]:
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
                # 2. Filter those matches, newest first. CROSS JOIN fixes the join
                # order: stream the matches, look entries up.
                rows += db.execute(
                    f"""
                    SELECT {ENTRY_COLUMNS}, entries_fts.rowid
                    FROM entries_fts
                    CROSS JOIN entries AS e INDEXED BY entries_id_tab
                        ON e.id = entries_fts.rowid % :bits
                    CROSS JOIN feeds AS f ON f.id = e.feed_id
                    WHERE entries_fts MATCH :match
                        AND entries_fts.rowid < :before AND entries_fts.rowid >= :floor
                        AND {where}
                    ORDER BY entries_fts.rowid DESC
                    LIMIT :limit
                    """,  # noqa: S608
                    {**params, "before": before, "floor": floor, "limit": limit + 1 - len(rows)},
                ).fetchall()
                if len(rows) > limit:
                    next_cursor = str(rows[limit - 1][-1])
                    break
                if count < window:  # the index has no more matches
                    break
                before = floor
            else:
                # Budget spent: the page may be short, even empty, and the next one
                # resumes below the last match looked at.
                next_cursor = str(before)
        return rows, next_cursor

    def _by_relevance(
        self, params: dict[str, object], where: str, cursor: str | None, limit: int
    ) -> tuple[list, str | None]:
        offset = 0
        if cursor:
            try:
                offset = int(cursor.removeprefix("r"))
            except ValueError:
                raise ValueError(f"invalid cursor: {cursor!r}") from None
            if not cursor.startswith("r") or not 0 <= offset < _RELEVANCE_POOL:
                raise ValueError(f"invalid cursor: {cursor!r}")
        with self._read() as db:
            rows = db.execute(
                f"""
                SELECT {ENTRY_COLUMNS}, m.key
                FROM (
                    SELECT rowid AS key, bm25(entries_fts, 4.0, 1.0) AS score
                    FROM entries_fts WHERE entries_fts MATCH :match
                    ORDER BY rowid DESC LIMIT :pool) AS m
                CROSS JOIN entries AS e INDEXED BY entries_id_tab ON e.id = m.key % :bits
                CROSS JOIN feeds AS f ON f.id = e.feed_id
                WHERE {where}
                ORDER BY m.score, m.key DESC
                LIMIT :limit OFFSET :offset
                """,  # noqa: S608
                {**params, "pool": _RELEVANCE_POOL, "limit": limit + 1, "offset": offset},
            ).fetchall()
        next_cursor = f"r{offset + limit}" if len(rows) > limit else None
        return rows, next_cursor


def _with(view: EntryView, snippet_html: str, title_html: str) -> EntryView:
    return replace(view, snippet=snippet_html, title_html=title_html)
