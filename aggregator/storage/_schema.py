"""The database schema, as commented SQL, and its numbered migrations.

``MIGRATIONS[n]`` takes a database at ``PRAGMA user_version = n - 1`` to version ``n``;
version 0 is an empty file. Each migration runs in its own ``BEGIN IMMEDIATE``
transaction (see ``_sqlite.migrate``), so a crash leaves the database at a known version.
To change the schema, append a migration: never edit one that has shipped.

Room left for later migrations (issue 4): a ``forwards(entry_id REFERENCES entries)``
ledger and an ``outbox`` table. ``purge()`` already looks for a ``forwards`` table and
keeps every entry it references (see ``_entries.EntriesMixin.purge``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

# b"aggr": written to the file header (``PRAGMA application_id``) so that `file(1)` and
# we ourselves can tell our databases from other applications' SQLite files.
APPLICATION_ID = int.from_bytes(b"aggr", "big")

# Why the tables look like this:
#
# * Times are INTEGER unix seconds (UTC); ``_sqlite.to_ts/from_ts`` convert at the edge.
# * ``entries.tab`` is a copy of ``feeds.tab`` while the feed is active and NULL once the
#   feed was removed from feeds.yaml. Every river filters on it, so one index range scan
#   serves "all", "one tab", "unread" without a join on ``feeds`` (the join would have to
#   visit and reject rows of removed feeds). ``sync_feeds`` keeps it in step.
# * Small, hot columns come first in ``entries`` and the big text columns last: SQLite
#   decodes a record from the start, so reading ``read`` never walks the overflow pages
#   of a long ``content_html``.
# * ``AUTOINCREMENT`` makes ids strictly increasing even after the newest rows are
#   deleted; ``mark_all_read(max_id=...)`` and the search order (newest id first) rely
#   on a new entry never reusing an old id.
# * ``feeds.entry_count`` / ``unread_count`` are kept by triggers, so the per-tab unread
#   badges on every page are a 1,000-row sum instead of a 1,000,000-row count.
# * ``feeds.purged_until`` is the newest ``published`` of the entries purged so far:
#   an entry we do not know, dated before it, is an old one still listed by the feed
#   that was purged, and is not resurrected as unread (``upsert_entries``).
# * ``entries_fts`` is an external-content FTS5 table (https://sqlite.org/fts5.html,
#   section 4.4.3) kept in sync by triggers: the text is stored once, in ``entries``.
#   ``remove_diacritics 2`` folds accents, so "cinema" finds "Cinéma".
SCHEMA_V1 = """
CREATE TABLE feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    tab TEXT NOT NULL,
    title TEXT,                         -- from feeds.yaml (NULL: use feed_title)
    feed_title TEXT,                    -- from the feed document
    position INTEGER NOT NULL DEFAULT 0,
    refresh_seconds INTEGER,            -- NULL: settings.refresh
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    removed_at INTEGER,                 -- when it left feeds.yaml
    site_link TEXT,
    etag TEXT,
    last_modified TEXT,
    body_hash TEXT,
    last_fetch INTEGER,
    last_success INTEGER,
    last_status INTEGER,
    last_error_code TEXT,
    last_error TEXT,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    next_check INTEGER,                 -- NULL: due now
    moved_to TEXT,                      -- permanent redirect target seen on the last fetch
    purged_until INTEGER,
    entry_count INTEGER NOT NULL DEFAULT 0,
    unread_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feed_id INTEGER NOT NULL REFERENCES feeds (id),
    tab TEXT,                           -- feeds.tab while the feed is active, else NULL
    published INTEGER NOT NULL,
    read INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0, 1)),
    starred INTEGER NOT NULL DEFAULT 0 CHECK (starred IN (0, 1)),
    first_seen INTEGER NOT NULL,
    read_at INTEGER,
    updated INTEGER,
    guid TEXT NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    link TEXT,
    author TEXT,
    enclosures TEXT,                    -- JSON [{"url", "type", "length"}], NULL if none
    summary TEXT NOT NULL DEFAULT '',   -- plain text
    content_html TEXT NOT NULL DEFAULT '',  -- sanitized at ingest
    UNIQUE (feed_id, guid)
);

-- Rivers are read newest first and paged with a keyset cursor on (published, id):
-- each index below is a range scan that stops after one page, whatever the offset.
-- The WHERE clauses of the queries repeat the partial-index conditions verbatim.
-- The unread and starred indexes are partial, hence small: they hold only the
-- entries they serve.
CREATE INDEX entries_river ON entries (published, id) WHERE tab IS NOT NULL;
CREATE INDEX entries_river_tab ON entries (tab, published, id);
CREATE INDEX entries_river_feed ON entries (feed_id, published, id);
CREATE INDEX entries_unread ON entries (published, id) WHERE read = 0 AND tab IS NOT NULL;
CREATE INDEX entries_unread_tab ON entries (tab, published, id) WHERE read = 0;
CREATE INDEX entries_unread_feed ON entries (feed_id, published, id) WHERE read = 0;
CREATE INDEX entries_starred ON entries (published, id) WHERE starred = 1;
-- Search streams FTS matches by id and keeps those of the wanted tab: looking the tab
-- up in this narrow index, instead of in the wide table rows scattered over the whole
-- file, is about 4 times faster when most matches are rejected (_search.py).
CREATE INDEX entries_id_tab ON entries (id, tab);

CREATE VIRTUAL TABLE entries_fts USING fts5 (
    title, summary,
    content = 'entries', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
    UPDATE feeds SET entry_count = entry_count + 1, unread_count = unread_count + (new.read = 0)
    WHERE id = new.feed_id;
END;

CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
    UPDATE feeds SET entry_count = entry_count - 1, unread_count = unread_count - (old.read = 0)
    WHERE id = old.feed_id;
END;

CREATE TRIGGER entries_update_text AFTER UPDATE OF title, summary ON entries
WHEN old.title IS NOT new.title OR old.summary IS NOT new.summary BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
    INSERT INTO entries_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;

CREATE TRIGGER entries_update_read AFTER UPDATE OF read ON entries
WHEN old.read IS NOT new.read BEGIN
    UPDATE feeds SET unread_count = unread_count + old.read - new.read WHERE id = new.feed_id;
END;

-- Small facts about the database itself (last purge, last full refresh...).
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""


def _create_v1(db: sqlite3.Connection) -> None:
    # executescript() would COMMIT the caller's transaction first: run statement by
    # statement instead. sqlite3.complete_statement() keeps trigger bodies whole.
    for statement in split_statements(SCHEMA_V1):
        db.execute(statement)


def split_statements(script: str) -> list[str]:
    """Split a script of complete SQL statements (trigger bodies included)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    assert not current.strip(), f"incomplete SQL statement: {current!r}"
    return statements


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _create_v1,
}

SCHEMA_VERSION = max(MIGRATIONS)
