"""The database schema, as commented SQL, and its numbered migrations.

``MIGRATIONS[n]`` takes a database at ``PRAGMA user_version = n - 1`` to version ``n``;
version 0 is an empty file. Each migration runs in its own ``BEGIN IMMEDIATE``
transaction (see ``_sqlite.migrate``), so a crash leaves the database at a known version.
To change the schema, append a migration: never edit one that has shipped.

Migration 2 (issue 4) adds ``forwards``: the ledger of what was sent to whom, which is
also the outbox (one row per recipient, its ``state`` says where it is). ``purge()``
keeps every entry it references (see ``_entries.EntriesMixin.purge``). Migration 3
(issue 7) rebuilds it for the 'uncertain' state and the end-of-DATA mark.
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


# Why ``forwards`` looks like this:
#
# * One table is both the ledger ("sent to Camille on 3 November") and the outbox: a
#   forward is queued, sending, sent, failed or cancelled, and moving between states
#   is one UPDATE, so a row can never be in the outbox and missing from the ledger.
# * The entry's title, link, feed title, date and excerpt are copies: the history and
#   a queued message survive the entry. ``purge()`` keeps forwarded entries anyway;
#   ON DELETE SET NULL covers any other deletion.
# * ``link_key`` is the normalised link (see forward.link_key): "already sent" also
#   recognises the same article reached through another feed. ``email_key`` is the
#   case-folded address: addresses are compared without case.
# * ``claimed_at`` is when delivery started ('sending'); ``eml_written`` records that
#   the readable copy was written to outbox/ (once per forward, when mail is not set up).
SCHEMA_V2 = """
CREATE TABLE forwards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch TEXT NOT NULL,
    entry_id INTEGER REFERENCES entries (id) ON DELETE SET NULL,
    entry_title TEXT NOT NULL,
    entry_link TEXT,
    link_key TEXT,
    feed_title TEXT NOT NULL,
    entry_published INTEGER,
    excerpt TEXT NOT NULL DEFAULT '',
    contact_name TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'fr',
    note TEXT NOT NULL DEFAULT '',
    copy_to_me INTEGER NOT NULL DEFAULT 0 CHECK (copy_to_me IN (0, 1)),
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    created_at INTEGER NOT NULL,
    send_after INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER,
    claimed_at INTEGER,
    last_error TEXT,
    sent_at INTEGER,
    message_id TEXT NOT NULL DEFAULT '',
    eml_written INTEGER NOT NULL DEFAULT 0 CHECK (eml_written IN (0, 1))
);

-- The foreign key's own index: deleting an entry looks its forwards up here, and so
-- do the item's history and purge's guard.
CREATE INDEX forwards_entry ON forwards (entry_id);
CREATE INDEX forwards_link ON forwards (link_key) WHERE link_key IS NOT NULL;
CREATE INDEX forwards_batch ON forwards (batch);
CREATE INDEX forwards_email ON forwards (email_key, id);
-- The rate limit counts the rows of the last hour.
CREATE INDEX forwards_created ON forwards (created_at);
-- Delivery asks every few seconds what is due: these partial indexes hold only the
-- rows waiting to leave and the rows being sent (the queries repeat the conditions).
CREATE INDEX forwards_queued ON forwards (send_after, id) WHERE state = 'queued';
CREATE INDEX forwards_sending ON forwards (id) WHERE state = 'sending';
"""


def _create_v2(db: sqlite3.Connection) -> None:
    for statement in split_statements(SCHEMA_V2):
        db.execute(statement)


# Migration 3 (issue 7, item 10: no duplicate email) rebuilds ``forwards`` (SQLite
# cannot change a CHECK constraint in place; https://sqlite.org/lang_altertable.html,
# "Making Other Kinds Of Table Schema Changes"):
#
# * state 'uncertain': the whole message was handed to the server and the program
#   never learnt its answer (it died, or the connection did). It is not sent again
#   by itself (that is how duplicates happened); the person sees it and decides.
# * ``final_dot_at``: committed right before the end of DATA (the final ".") goes
#   out, on the current attempt. A row found 'sending' after its deliverer died is
#   safe to send again without it (the server discarded the unfinished message) and
#   'uncertain' with it.
# * ``claimed_by``: "pid:token" of the deliverer that set 'sending', so that a
#   deliverer never takes back a row it is sending itself.
SCHEMA_V3 = """
CREATE TABLE forwards_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch TEXT NOT NULL,
    entry_id INTEGER REFERENCES entries (id) ON DELETE SET NULL,
    entry_title TEXT NOT NULL,
    entry_link TEXT,
    link_key TEXT,
    feed_title TEXT NOT NULL,
    entry_published INTEGER,
    excerpt TEXT NOT NULL DEFAULT '',
    contact_name TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'fr',
    note TEXT NOT NULL DEFAULT '',
    copy_to_me INTEGER NOT NULL DEFAULT 0 CHECK (copy_to_me IN (0, 1)),
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'cancelled', 'uncertain')),
    created_at INTEGER NOT NULL,
    send_after INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER,
    claimed_at INTEGER,
    last_error TEXT,
    sent_at INTEGER,
    message_id TEXT NOT NULL DEFAULT '',
    eml_written INTEGER NOT NULL DEFAULT 0 CHECK (eml_written IN (0, 1)),
    final_dot_at INTEGER,
    claimed_by TEXT
);

INSERT INTO forwards_v3 (
    id, batch, entry_id, entry_title, entry_link, link_key, feed_title, entry_published,
    excerpt, contact_name, contact_email, email_key, language, note, copy_to_me, state,
    created_at, send_after, attempts, next_attempt, claimed_at, last_error, sent_at,
    message_id, eml_written)
SELECT
    id, batch, entry_id, entry_title, entry_link, link_key, feed_title, entry_published,
    excerpt, contact_name, contact_email, email_key, language, note, copy_to_me, state,
    created_at, send_after, attempts, next_attempt, claimed_at, last_error, sent_at,
    message_id, eml_written
FROM forwards;

DROP TABLE forwards;
ALTER TABLE forwards_v3 RENAME TO forwards;

CREATE INDEX forwards_entry ON forwards (entry_id);
CREATE INDEX forwards_link ON forwards (link_key) WHERE link_key IS NOT NULL;
CREATE INDEX forwards_batch ON forwards (batch);
CREATE INDEX forwards_email ON forwards (email_key, id);
CREATE INDEX forwards_created ON forwards (created_at);
CREATE INDEX forwards_queued ON forwards (send_after, id) WHERE state = 'queued';
CREATE INDEX forwards_sending ON forwards (id) WHERE state = 'sending';
"""


def _rebuild_forwards_v3(db: sqlite3.Connection) -> None:
    # AUTOINCREMENT's high-water mark lives in sqlite_sequence under the table's
    # name and goes with the dropped table: carry it over, so that an id is never
    # given twice (a Message-ID or a link to /sent may still name an old one).
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'forwards'").fetchone()
    for statement in split_statements(SCHEMA_V3):
        db.execute(statement)
    if row is not None:
        db.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = 'forwards'",
            {"seq": row[0]},
        )
        db.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'forwards', :seq "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'forwards')",
            {"seq": row[0]},
        )


# Migration 4 (issue 8, item 3) adds ``resolutions``: what discovery learnt about an
# address written in feeds.yaml that is not itself a feed (a handle such as
# @alice@mastodon.social, a profile or a website URL). ``feeds.url`` stays the
# address as written (the link to feeds.yaml); the feed actually polled is
# ``feed_url``. One row per feed, dropped with it.
SCHEMA_V4 = """
CREATE TABLE resolutions (
    feed_id INTEGER PRIMARY KEY REFERENCES feeds (id) ON DELETE CASCADE,
    feed_url TEXT,                      -- the verified feed; NULL until one was found
    platform TEXT,                      -- mastodon, youtube, website... (discover)
    candidates INTEGER NOT NULL DEFAULT 0,  -- how many feeds discovery found
    resolved_at INTEGER,                -- the last successful resolution
    attempted_at INTEGER NOT NULL,      -- the last attempt, successful or not
    error_code TEXT,                    -- of the last attempt (DiscoveryError.code)
    error TEXT
);
"""


def _create_v4(db: sqlite3.Connection) -> None:
    for statement in split_statements(SCHEMA_V4):
        db.execute(statement)


# Migration 5 (issue 12) adds ``mailboxes``: where polling an IMAP folder got to, for
# a mail source of feeds.yaml (its ``feeds.url`` is an ``imap://`` key, see
# ``aggregator.mailbox``). RFC 3501 section 2.3.1.1: a UID means the same message only
# while the folder's UIDVALIDITY stays the same; ``last_uid`` is the highest UID
# already stored as entries (it moves in the same transaction as they are written).
SCHEMA_V5 = """
CREATE TABLE mailboxes (
    feed_id INTEGER PRIMARY KEY REFERENCES feeds (id) ON DELETE CASCADE,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
"""


def _create_v5(db: sqlite3.Connection) -> None:
    for statement in split_statements(SCHEMA_V5):
        db.execute(statement)


# Migration 6 (issue 13) for the second edition of « Ça pourrait t'intéresser »:
#
# * ``forwards.subject``: the subject as the person edited it ('' = the default, made
#   from the tone and the title at delivery time); ``formal``: the contact's tone when
#   queued (« vous »); ``quote``: the passage the person selected, quoted instead of
#   the start of the item ('' = the usual excerpt).
# * ``forwards.letter_of``: a « Pour toi » letter (or an alert letter) is one email
#   with several items, and each item is a ledger row of its own ("sent to Camille"),
#   so the memory and the Envoyés page see every item. The rows of one letter share
#   ``letter_of`` = the id of its first row (the lead); only the lead is picked by
#   delivery, and each state change of the lead moves the whole letter in the same
#   UPDATE (``WHERE id = :id OR letter_of = :id``). ``kind`` says what the row is:
#   'forward', 'digest' or 'alert' (rules' email to oneself).
# * ``baskets``: the items waiting for a contact's next letter, in ``position`` order;
#   copies of the entry's fields, like ``forwards``, so a basket survives a purge.
# * ``digests``: per contact, when the last letter left (the next one is computed from
#   it and the contact's ``digest:`` period; after downtime one letter, not one per
#   missed period).
# * ``rule_hits``: which of the person's rules (``rules:`` in feeds.yaml, keyed by their
#   text) matched which entry; ``notify`` rows make the « Alertes » view, ``seen``
#   its unread count, ``emailed`` the hourly alert email.
SCHEMA_V6 = """
ALTER TABLE forwards ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE forwards ADD COLUMN formal INTEGER NOT NULL DEFAULT 0;
ALTER TABLE forwards ADD COLUMN quote TEXT NOT NULL DEFAULT '';
ALTER TABLE forwards ADD COLUMN letter_of INTEGER;
ALTER TABLE forwards ADD COLUMN kind TEXT NOT NULL DEFAULT 'forward';
CREATE INDEX forwards_letter ON forwards (letter_of) WHERE letter_of IS NOT NULL;

CREATE TABLE baskets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email_key TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    entry_id INTEGER REFERENCES entries (id) ON DELETE SET NULL,
    entry_title TEXT NOT NULL,
    entry_link TEXT,
    link_key TEXT,
    feed_title TEXT NOT NULL,
    entry_published INTEGER,
    excerpt TEXT NOT NULL DEFAULT '',
    quote TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE INDEX baskets_email ON baskets (email_key, position);
CREATE INDEX baskets_entry ON baskets (entry_id);

CREATE TABLE digests (
    email_key TEXT PRIMARY KEY,
    last_sent INTEGER,
    started_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE rule_hits (
    entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    notify INTEGER NOT NULL DEFAULT 0 CHECK (notify IN (0, 1)),
    matched_at INTEGER NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0 CHECK (seen IN (0, 1)),
    emailed INTEGER NOT NULL DEFAULT 0 CHECK (emailed IN (0, 1)),
    PRIMARY KEY (entry_id, rule)
);
CREATE INDEX rule_hits_alerts ON rule_hits (notify, seen, entry_id);
"""


def _create_v6(db: sqlite3.Connection) -> None:
    for statement in split_statements(SCHEMA_V6):
        db.execute(statement)


# Migration 7 (issue 9: every item looks right and is findable):
#
# * ``entries.title_derived``: 1 when the feed gave no title and ours was made from the
#   text (a Mastodon or Bluesky post): the dashboard styles it as such, the email
#   subject uses it.
# * ``entries.thumbnail``: the item's picture for the river and widgets (an http(s)
#   URL, or a small raster data: URL), chosen at ingest (``cpustage.py``).
# * ``entries.search_title`` / ``search_body``: the title and the WHOLE body (not only
#   the 2,000-character summary) as the index sees them: their words folded and
#   stemmed by ``aggregator.folding`` (accents, case, œ/æ, plurals in -s/-x), the same
#   function the query and the suggestions go through. ''  = not computed (a row
#   written by older code): the triggers then index the raw title and summary, which
#   unicode61 still folds for case and accents.
# * ``entries_fts`` becomes contentless (https://sqlite.org/fts5.html, 4.4.2): the
#   folded text is stored once, in ``entries``, and snippets are made in Python from
#   the real text. Its rowid is not the entry id but ``published * 2^31 + id``
#   (published clamped to [0, 2^32)): FTS5 walks a term in rowid order and stops at
#   LIMIT, so results come newest *published* first as fast as they came newest id
#   first before, and ``rowid % 2^31`` is the entry id (ids stay below 2^31). The
#   triggers below are the only writers; 'delete' must be given the very values that
#   were indexed, hence the same expressions on ``old`` as on ``new``.
# * ``site_icons``: one icon per site (scheme://host), discovered and validated by
#   ``aggregator.icons``; ``data`` is NULL when none could be had, and ``error`` says
#   why (the status page shows it). Served at /icons/<digest> with long cache headers.
SCHEMA_V7 = """
ALTER TABLE entries ADD COLUMN title_derived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN thumbnail TEXT;
ALTER TABLE entries ADD COLUMN search_title TEXT NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN search_body TEXT NOT NULL DEFAULT '';

DROP TRIGGER entries_insert;
DROP TRIGGER entries_delete;
DROP TRIGGER entries_update_text;
DROP TABLE entries_fts;
"""

SCHEMA_V7_FTS = """
CREATE VIRTUAL TABLE entries_fts USING fts5 (
    title, body,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, title, body) VALUES (
        min(max(new.published, 0), 4294967295) * 2147483648 + new.id,
        CASE WHEN new.search_title = '' THEN new.title ELSE new.search_title END,
        CASE WHEN new.search_title = '' THEN new.summary ELSE new.search_body END);
    UPDATE feeds SET entry_count = entry_count + 1, unread_count = unread_count + (new.read = 0)
    WHERE id = new.feed_id;
END;

CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, title, body) VALUES (
        'delete',
        min(max(old.published, 0), 4294967295) * 2147483648 + old.id,
        CASE WHEN old.search_title = '' THEN old.title ELSE old.search_title END,
        CASE WHEN old.search_title = '' THEN old.summary ELSE old.search_body END);
    UPDATE feeds SET entry_count = entry_count - 1, unread_count = unread_count - (old.read = 0)
    WHERE id = old.feed_id;
END;

CREATE TRIGGER entries_update_text
AFTER UPDATE OF published, title, summary, search_title, search_body ON entries
WHEN old.published IS NOT new.published OR old.title IS NOT new.title
    OR old.summary IS NOT new.summary OR old.search_title IS NOT new.search_title
    OR old.search_body IS NOT new.search_body
BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, title, body) VALUES (
        'delete',
        min(max(old.published, 0), 4294967295) * 2147483648 + old.id,
        CASE WHEN old.search_title = '' THEN old.title ELSE old.search_title END,
        CASE WHEN old.search_title = '' THEN old.summary ELSE old.search_body END);
    INSERT INTO entries_fts (rowid, title, body) VALUES (
        min(max(new.published, 0), 4294967295) * 2147483648 + new.id,
        CASE WHEN new.search_title = '' THEN new.title ELSE new.search_title END,
        CASE WHEN new.search_title = '' THEN new.summary ELSE new.search_body END);
END;

CREATE TABLE site_icons (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL UNIQUE,          -- scheme://host[:port]
    url TEXT,                           -- where the icon came from
    mime TEXT,                          -- image/png, image/x-icon, ...
    data BLOB,                          -- NULL: none could be had (see error)
    digest TEXT,                        -- sha256 of data, its address: /icons/<digest>
    error TEXT,                         -- why there is no icon, for the status page
    checked_at INTEGER NOT NULL         -- refreshed weekly from then
);
CREATE INDEX site_icons_digest ON site_icons (digest) WHERE digest IS NOT NULL;
"""


def _create_v7(db: sqlite3.Connection) -> None:
    """The new columns, the new index, and every existing entry indexed again: its
    title, and its whole body read from the stored (sanitized) HTML."""
    from aggregator import folding  # a leaf module: no storage, no I/O

    for statement in split_statements(SCHEMA_V7):
        db.execute(statement)
    # No trigger watches these columns yet: fill them (by id ranges, a million rows
    # do not fit in memory), then index them in one pass.
    last = 0
    while rows := db.execute(
        "SELECT id, title, summary, content_html FROM entries WHERE id > :last "
        "ORDER BY id LIMIT 500",
        {"last": last},
    ).fetchall():
        last = rows[-1][0]
        db.executemany(
            "UPDATE entries SET search_title = :t, search_body = :b WHERE id = :id",
            [
                {
                    "id": entry_id,
                    "t": folding.index_text(title) or " ",
                    "b": folding.body_index_text(content_html, summary),
                }
                for entry_id, title, summary, content_html in rows
            ],
        )
    for statement in split_statements(SCHEMA_V7_FTS):
        db.execute(statement)
    db.execute(
        """
        INSERT INTO entries_fts (rowid, title, body)
        SELECT min(max(published, 0), 4294967295) * 2147483648 + id,
            CASE WHEN search_title = '' THEN title ELSE search_title END,
            CASE WHEN search_title = '' THEN summary ELSE search_body END
        FROM entries
        """
    )


SCHEMA_V8 = """
-- The feed's own pictures of itself (JSON list of absolute URLs: Atom icon/logo,
-- RSS <image>, JSON Feed favicon/icon), the last source of its site's icon (issue 9).
ALTER TABLE feeds ADD COLUMN feed_icons TEXT;
"""


def _create_v8(db: sqlite3.Connection) -> None:
    for statement in split_statements(SCHEMA_V8):
        db.execute(statement)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _create_v1,
    2: _create_v2,
    3: _rebuild_forwards_v3,
    4: _create_v4,
    5: _create_v5,
    6: _create_v6,
    7: _create_v7,
    8: _create_v8,
}

SCHEMA_VERSION = max(MIGRATIONS)
