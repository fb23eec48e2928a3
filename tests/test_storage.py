"""Storage on real SQLite files in tmp_path: opening, migrating, refusing files that are
not ours, ingest, rivers, search, read state, purge and concurrent use."""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import aggregator
from aggregator import errors
from aggregator.models import Enclosure, Entry, FeedConfig
from aggregator.storage import Storage, _entries, _schema, _search
from aggregator.storage._feeds import UNDO_GRACE

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
A, B, C = "https://a.example/feed", "https://b.example/rss", "https://c.example/atom"


def entry(feed_url, guid, published=NOW, *, title=None, summary="", content_hash=None, **kw):
    return Entry(
        feed_url=feed_url,
        guid=guid,
        title=title if title is not None else f"Title {guid}",
        link=f"https://example.org/{guid}",
        author=kw.pop("author", None),
        published=published,
        updated=kw.pop("updated", None),
        content_html=kw.pop("content_html", f"<p>{guid}</p>"),
        summary=summary,
        enclosures=kw.pop("enclosures", ()),
        content_hash=content_hash if content_hash is not None else f"hash-{guid}",
    )


def batch(feed_url, n, *, start=NOW, prefix="e", step=timedelta(hours=1), **kw):
    """n entries, the newest first, like a feed document."""
    return [entry(feed_url, f"{prefix}{i}", start - i * step, **kw) for i in range(n)]


@pytest.fixture
def storage(tmp_path):
    s = Storage(tmp_path / "data" / "aggregator.sqlite3")
    s.sync_feeds(
        [
            FeedConfig(A, "News", "Feed A", position=0),
            FeedConfig(B, "News", None, position=1, refresh=timedelta(minutes=10)),
            FeedConfig(C, "Tech", "Feed C", position=2),
        ],
        now=NOW,
    )
    yield s
    s.close()


def titles(views):
    return [v.title for v in views]


# --- opening, migrating, refusing -------------------------------------------------------


def test_new_database_is_created_with_folders_and_migrated(tmp_path):
    path = tmp_path / "deep" / "er" / "db.sqlite3"
    s = Storage(path)
    assert s.path == str(path)
    s.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == _schema.SCHEMA_VERSION
    assert db.execute("PRAGMA application_id").fetchone()[0] == _schema.APPLICATION_ID
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"feeds", "entries", "entries_fts", "meta"} <= names
    db.close()


def test_every_connection_gets_the_pragmas(storage):
    seen = {}

    def look():
        db = storage._db()
        seen["fk"] = db.execute("PRAGMA foreign_keys").fetchone()[0]
        seen["busy"] = db.execute("PRAGMA busy_timeout").fetchone()[0]
        seen["sync"] = db.execute("PRAGMA synchronous").fetchone()[0]
        seen["other"] = db is not main

    main = storage._db()
    t = threading.Thread(target=look)
    t.start()
    t.join()
    assert seen == {"fk": 1, "busy": 10_000, "sync": 1, "other": True}


def test_connections_of_finished_threads_are_closed(storage):
    storage.counts()
    threads = [threading.Thread(target=storage.counts) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert storage._open_connections == 1  # this thread's only
    storage.close()
    assert storage._open_connections == 0


def test_reopen_is_idempotent_and_keeps_data(tmp_path):
    path = tmp_path / "db.sqlite3"
    s = Storage(path)
    s.sync_feeds([FeedConfig(A, "News")], now=NOW)
    s.upsert_entries(A, batch(A, 3), now=NOW)
    s.set_meta("k", "v")
    s.close()
    for _ in range(2):
        s = Storage(path)
        assert s.counts()["entries"] == 3
        assert s.get_meta("k") == "v"
        s.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    Storage(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {_schema.SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(errors.StorageError, match="newer version") as info:
        Storage(path)
    assert info.value.path == str(path)


def test_foreign_application_id_is_refused_and_untouched(tmp_path):
    path = tmp_path / "other.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id = 1234")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(errors.ForeignDatabaseError) as info:
        Storage(path)
    message = str(info.value)
    assert str(path) in message
    assert "another application" in message and "--db" in message
    assert path.read_bytes() == before


def test_sqlite_file_with_tables_but_no_application_id_is_refused(tmp_path):
    path = tmp_path / "other.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (x)")
    db.commit()
    db.close()
    with pytest.raises(errors.ForeignDatabaseError, match="another application"):
        Storage(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == 0
    db.close()


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(os.urandom(64) + b"this is not SQLite" * 300)
    before = path.read_bytes()
    with pytest.raises(errors.CorruptDatabaseError) as info:
        Storage(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_damaged_database_is_refused(tmp_path):
    path = tmp_path / "damaged.sqlite3"
    Storage(path).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * 3996  # the schema page, after the 100-byte header
    path.write_bytes(bytes(data))
    with pytest.raises(errors.CorruptDatabaseError, match="malformed"):
        Storage(path)


def test_folder_that_cannot_be_created_is_reported(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(errors.StorageError, match="cannot create the folder"):
        Storage(tmp_path / "a-file" / "db.sqlite3")


def test_path_that_is_a_folder_is_reported(tmp_path):
    with pytest.raises(errors.StorageError, match="is a folder"):
        Storage(tmp_path)


_OPEN_SCRIPT = """
import sys
from aggregator.storage import Storage
try:
    Storage(sys.argv[1]).close()
except Exception as e:
    print(type(e).__name__, e)
else:
    print("opened")
"""
# Root ignores file permissions through CAP_DAC_OVERRIDE: run the check in a child
# process stripped of that capability (util-linux setpriv), where they apply again.
_DROP_CAPS = "-dac_override,-dac_read_search,-fowner"


def _open_without_privileges(path):
    """What Storage(path) raises, as seen by a process that file permissions bind."""
    if os.geteuid() != 0:
        try:
            Storage(path).close()
        except errors.StorageError as e:
            return f"{type(e).__name__} {e}"
        return "opened"
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    root = os.path.dirname(os.path.dirname(os.path.abspath(aggregator.__file__)))
    cmd = [setpriv, f"--bounding-set={_DROP_CAPS}", f"--inh-caps={_DROP_CAPS}"]
    cmd += [sys.executable, "-c", _OPEN_SCRIPT, str(path)]
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    if done.returncode != 0 and "setpriv" in done.stderr:
        pytest.skip(f"running as root and setpriv cannot drop capabilities: {done.stderr}")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_file_or_folder_is_refused(tmp_path, what):
    path = tmp_path / "ro" / "db.sqlite3"
    Storage(path).close()
    target = path if what == "file" else path.parent
    mode = target.stat().st_mode
    os.chmod(target, 0o444 if what == "file" else 0o555)
    try:
        outcome = _open_without_privileges(path)
    finally:
        os.chmod(target, mode)
    assert outcome.startswith("ReadOnlyDatabaseError"), outcome
    assert str(path) in outcome


def test_close_then_use_raises(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    s.close()
    with pytest.raises(errors.StorageError, match="closed"):
        s.counts()


def test_naive_datetimes_are_refused(storage):
    with pytest.raises(ValueError, match="naive"):
        storage.due_feeds(now=datetime(2024, 1, 1))


# --- feeds --------------------------------------------------------------------------


def test_sync_feeds_new_removed_readded(storage):
    feeds = storage.feeds()
    assert [f.url for f in feeds] == [A, B, C]
    assert feeds[1].title is None and feeds[1].refresh == timedelta(minutes=10)
    assert [f.url for f in storage.due_feeds(now=NOW)] == [A, B, C]  # new: due at once
    # Something worth keeping, so that B stays (inactive) once removed.
    storage.upsert_entries(B, [entry(B, "b0")], now=NOW)
    storage.set_starred(storage.entries(feed_url=B)[0][0].id)

    later = NOW + timedelta(days=1)
    storage.sync_feeds([FeedConfig(A, "News"), FeedConfig(C, "Tech")], now=later)
    assert [f.url for f in storage.feeds()] == [A, C]
    removed = storage.feed(B)
    assert not removed.active
    assert [f.url for f in storage.feeds(include_inactive=True)] == [A, C, B]
    assert [f.url for f in storage.feeds(tab="News")] == [A]
    assert [f.url for f in storage.feeds(tab="News", include_inactive=True)] == [A, B]
    assert storage.feeds(tab="Nope") == []
    assert B not in [f.url for f in storage.due_feeds(now=later)]

    storage.sync_feeds([FeedConfig(A, "News"), FeedConfig(B, "Other", "Bee")], now=later)
    again = storage.feed(B)
    assert again.active and again.tab == "Other" and again.title == "Bee"
    # C, removed with nothing worth keeping: off the status page at once...
    assert C not in [f.url for f in storage.feeds(include_inactive=True)]
    assert not storage.feed(C).active  # ...kept hidden for « Annuler » a while...
    storage.sync_feeds(
        [FeedConfig(A, "News"), FeedConfig(B, "Other", "Bee")], now=later + UNDO_GRACE
    )
    with pytest.raises(errors.NotFound):
        storage.feed(C)  # ...then forgotten
    with pytest.raises(errors.NotFound):
        storage.feed("https://nowhere.example/")


def test_fetch_bookkeeping(storage):
    later = NOW + timedelta(minutes=30)
    count = storage.record_error(
        A, now=NOW, code="timeout", message="timed out", next_check=later, status=None
    )
    assert count == 1
    assert storage.record_error(A, now=NOW, code="http", message="500", next_check=later) == 2
    f = storage.feed(A)
    assert (f.consecutive_errors, f.last_error_code, f.next_check) == (2, "http", later)
    assert f.last_success is None

    storage.record_success(
        A,
        now=later,
        status=200,
        etag='"abc"',
        last_modified="Wed, 01 May 2024 12:00:00 GMT",
        body_hash="h1",
        next_check=later + timedelta(hours=1),
        feed_title="Site A",
        site_link="https://a.example/",
    )
    f = storage.feed(A)
    assert f.consecutive_errors == 0 and f.last_error is None and f.last_error_code is None
    assert (f.etag, f.body_hash, f.last_status, f.last_success) == ('"abc"', "h1", 200, later)
    assert f.title == "Feed A"  # the title from feeds.yaml wins
    assert storage.feed(B).title is None

    storage.record_success(
        B, now=later, status=200, etag=None, last_modified=None, body_hash="x",
        next_check=later, feed_title="Site B",
    )  # fmt: skip
    assert storage.feed(B).title == "Site B"

    storage.record_not_modified(
        A, now=later, next_check=later + timedelta(hours=2), moved_to="https://a2/"
    )
    f = storage.feed(A)
    assert (f.last_status, f.etag, f.moved_to) == (304, '"abc"', "https://a2/")
    assert f.site_link == "https://a.example/"

    assert [f.url for f in storage.due_feeds(now=later)] == [C, B]  # NULL first
    storage.request_refresh(A, now=later)
    assert A in [f.url for f in storage.due_feeds(now=later)]
    storage.request_refresh(now=NOW)
    assert [f.url for f in storage.due_feeds(now=NOW, limit=2)] == [A, B]
    with pytest.raises(errors.NotFound):
        storage.record_error("https://x/", now=NOW, code="c", message="m", next_check=NOW)


def test_config_following_a_redirect_keeps_the_entries(storage):
    storage.upsert_entries(A, batch(A, 2), now=NOW)
    storage.set_read([storage.entries(feed_url=A)[0][0].id])
    storage.record_not_modified(A, now=NOW, next_check=NOW, moved_to="https://new.example/")
    storage.sync_feeds([FeedConfig("https://new.example/", "News"), FeedConfig(B, "News")], now=NOW)
    moved = storage.feed("https://new.example/")
    assert moved.entry_count == 2 and moved.unread_count == 1 and moved.moved_to is None
    with pytest.raises(errors.NotFound):
        storage.feed(A)


# --- ingest -------------------------------------------------------------------------


def test_upsert_counts_new_and_keeps_state_on_update(storage):
    first = batch(A, 3, enclosures=(Enclosure("https://a/x.mp3", "audio/mpeg", 12),))
    assert storage.upsert_entries(A, first, now=NOW) == 3
    views, _ = storage.entries(feed_url=A)
    e1 = next(v for v in views if v.guid == "e1")
    assert e1.enclosures == (Enclosure("https://a/x.mp3", "audio/mpeg", 12),)
    assert e1.first_seen == NOW and not e1.read
    storage.set_read([e1.id])
    storage.set_starred(e1.id)

    later = NOW + timedelta(hours=5)
    changed = [
        entry(A, "e1", first[1].published, title="New title", summary="fresh words",
              content_html="<p>fresh words</p>", content_hash="changed"),
        entry(A, "e9", later),
    ]  # fmt: skip
    assert storage.upsert_entries(A, changed, now=later) == 1
    got = storage.entry(e1.id)
    assert got.title == "New title" and got.read and got.starred and got.first_seen == NOW
    assert titles(storage.search("fresh")[0]) == ["New title"]
    assert storage.search("Title e1")[0] == []  # the old text left the index
    assert storage.feed(A).entry_count == 4


def test_update_of_an_undated_entry_keeps_its_date(storage):
    later = NOW + timedelta(hours=3)
    storage.upsert_entries(A, [replace(entry(A, "u"), has_date=False)], now=NOW)
    fixed = replace(entry(A, "u", later, title="Fixed", content_hash="2"), has_date=False)
    storage.upsert_entries(A, [fixed], now=later)
    (view,), _ = storage.entries(feed_url=A)
    assert (view.title, view.published) == ("Fixed", NOW)
    storage.upsert_entries(A, [entry(A, "u", later, content_hash="3")], now=later)
    assert storage.entries(feed_url=A)[0][0].published == later  # a real date wins


def test_unchanged_hash_is_skipped(storage):
    storage.upsert_entries(A, batch(A, 2), now=NOW)
    same_hash_other_text = [entry(A, "e0", title="Sneaky", content_hash="hash-e0")]
    assert storage.upsert_entries(A, same_hash_other_text, now=NOW) == 0
    assert storage.entry(storage.entries(feed_url=A)[0][0].id).title == "Title e0"
    assert storage.entry_hashes(A) == {"e0": "hash-e0", "e1": "hash-e1"}
    assert storage.entry_hashes(A, ["e1", "zz"]) == {"e1": "hash-e1"}


def test_upsert_edge_cases(storage):
    dupes = [entry(A, "x", title="first"), entry(A, "x", title="second")]
    assert storage.upsert_entries(A, dupes, now=NOW) == 1
    assert titles(storage.entries(feed_url=A)[0]) == ["first"]
    no_hash = [entry(A, "y", content_hash="")]
    assert storage.upsert_entries(A, no_hash, now=NOW) == 1
    assert storage.upsert_entries(A, no_hash, now=NOW) == 0
    assert storage.upsert_entries(A, [], now=NOW) == 0
    with pytest.raises(errors.NotFound):
        storage.upsert_entries("https://unknown/", batch(A, 1), now=NOW)
    with pytest.raises(errors.NotFound):
        storage.entry(999_999)


# --- rivers -------------------------------------------------------------------------


def test_keyset_pagination_is_stable_under_inserts(storage):
    storage.upsert_entries(A, batch(A, 120, step=timedelta(minutes=1)), now=NOW)
    # Two entries share a timestamp: the id breaks the tie.
    storage.upsert_entries(B, [entry(B, "tie", NOW - timedelta(minutes=49))], now=NOW)
    expected = [v.id for v in storage.entries(limit=500)[0]]
    assert len(expected) == 121

    page1, cursor = storage.entries(limit=50)
    # Arrivals between pages: a newer one and one dated in the middle of page 3.
    storage.upsert_entries(
        C,
        [entry(C, "newer", NOW + timedelta(hours=1)), entry(C, "old", NOW - timedelta(days=1))],
        now=NOW,
    )
    page2, cursor = storage.entries(limit=50, cursor=cursor)
    page3, cursor = storage.entries(limit=50, cursor=cursor)
    assert cursor is None
    seen = [v.id for v in page1 + page2 + page3]
    assert len(seen) == len(set(seen))
    originals = [i for i in seen if i in set(expected)]
    assert originals == expected  # nothing skipped, nothing repeated, same order
    assert "newer" not in [v.guid for v in page2 + page3]
    assert page3[-1].guid == "old"
    published = [(v.published, v.id) for v in page1 + page2 + page3]
    assert published == sorted(published, reverse=True)


def test_last_page_exactly_full_has_no_cursor(storage):
    storage.upsert_entries(A, batch(A, 4), now=NOW)
    views, cursor = storage.entries(limit=2)
    assert len(views) == 2 and cursor
    views, cursor = storage.entries(limit=2, cursor=cursor)
    assert len(views) == 2 and cursor is None
    with pytest.raises(ValueError, match="cursor"):
        storage.entries(cursor="not-a-cursor")


def test_filters(storage):
    storage.upsert_entries(A, batch(A, 3, prefix="a"), now=NOW)
    storage.upsert_entries(B, batch(B, 3, prefix="b"), now=NOW)
    storage.upsert_entries(C, batch(C, 3, prefix="c"), now=NOW)
    by_guid = {v.guid: v for v in storage.entries()[0]}
    storage.set_read([by_guid["a0"].id, by_guid["c1"].id])
    storage.set_starred(by_guid["b2"].id)
    storage.set_starred(by_guid["c0"].id)

    def guids(**kw):
        return sorted(v.guid for v in storage.entries(**kw)[0])

    assert guids(tab="News") == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert guids(tab="Tech", unread=True) == ["c0", "c2"]
    assert guids(feed_url=A, unread=True) == ["a1", "a2"]
    assert guids(starred=True) == ["b2", "c0"]
    assert guids(starred=True, tab="Tech") == ["c0"]
    assert guids(feed_url=B, starred=True) == ["b2"]
    assert guids(unread=True) == ["a1", "a2", "b0", "b1", "b2", "c0", "c2"]
    assert guids(tab="Nope") == []
    v = by_guid["b0"]
    assert (v.tab, v.feed_title, v.feed_url) == ("News", B, B)  # no title: the URL
    assert by_guid["a0"].feed_title == "Feed A"
    with pytest.raises(errors.NotFound):
        storage.entries(feed_url="https://unknown/")
    assert storage.unread_counts() == {"News": 5, "Tech": 2, "": 7}


@pytest.mark.parametrize("tab", [None, "News"])
@pytest.mark.parametrize("feed", [None, A])
@pytest.mark.parametrize("flags", [(False, False), (True, False), (False, True), (True, True)])
def test_every_filter_combination_has_a_plan(storage, tab, feed, flags):
    """INDEXED BY fails loudly ("no query solution") when a query cannot use the index."""
    storage.upsert_entries(A, batch(A, 5), now=NOW)
    unread, starred = flags
    first, cursor = storage.entries(tab=tab, feed_url=feed, unread=unread, starred=starred, limit=2)
    if cursor:
        storage.entries(tab=tab, feed_url=feed, unread=unread, starred=starred, cursor=cursor)
    for max_id in (None, 3):
        storage.mark_all_read(tab=tab, feed_url=feed, max_id=max_id)


def test_removed_feed_leaves_rivers_but_starred_stays(storage):
    storage.upsert_entries(A, batch(A, 2, prefix="a", summary="zebra"), now=NOW)
    storage.upsert_entries(C, batch(C, 2, prefix="c", summary="zebra"), now=NOW)
    starred = next(v for v in storage.entries()[0] if v.guid == "a1")
    storage.set_starred(starred.id)
    storage.sync_feeds([FeedConfig(B, "News"), FeedConfig(C, "Tech")], now=NOW)

    assert sorted(v.guid for v in storage.entries()[0]) == ["c0", "c1"]
    assert storage.entries(tab="News")[0] == []
    assert storage.entries(feed_url=A)[0] == []
    assert [v.guid for v in storage.entries(starred=True)[0]] == ["a1"]
    assert sorted(v.guid for v in storage.search("zebra")[0]) == ["c0", "c1"]
    assert storage.unread_counts() == {"News": 0, "Tech": 2, "": 2}
    assert storage.latest_by_feed(tab="News") == {B: []}
    assert storage.mark_all_read() == sorted(v.id for v in storage.entries()[0])
    assert not storage.entry(starred.id).read  # not in any river: untouched

    storage.sync_feeds([FeedConfig(A, "Tech"), FeedConfig(C, "Tech")], now=NOW)
    assert sorted(v.guid for v in storage.entries(tab="Tech")[0]) == ["a0", "a1", "c0", "c1"]


def test_latest_by_feed(storage):
    storage.upsert_entries(A, batch(A, 8, prefix="a", summary="Un résumé"), now=NOW)
    storage.upsert_entries(C, batch(C, 2, prefix="c"), now=NOW)
    widgets = storage.latest_by_feed(tab="News", per_feed=3)
    assert list(widgets) == [A, B]  # feeds.yaml order, empty feeds too
    assert [v.guid for v in widgets[A]] == ["a0", "a1", "a2"]
    assert widgets[B] == []
    # Headlines only: everything but the long texts, as the river has it.
    river = {v.id: v for v in storage.entries(feed_url=A)[0]}
    for v in widgets[A]:
        assert v.summary == "" and v.content_html == ""
        assert river[v.id].summary and river[v.id].content_html
        assert replace(river[v.id], summary="", content_html="") == v


# --- search -------------------------------------------------------------------------


def test_search_folds_case_and_accents(storage):
    storage.upsert_entries(
        A,
        [
            entry(A, "1", title="Le Cinéma français", summary="une salle obscure"),
            entry(A, "2", title="Theatre", summary="CAFÉ crème et cinéma"),
            entry(A, "3", title="Nothing", summary="unrelated"),
        ],
        now=NOW,
    )
    assert sorted(v.guid for v in storage.search("cinema")[0]) == ["1", "2"]
    assert sorted(v.guid for v in storage.search("CINÉMA")[0]) == ["1", "2"]
    assert [v.guid for v in storage.search("cafe cinema")[0]] == ["2"]
    assert storage.search("cinema", tab="Tech")[0] == []
    assert storage.search("")[0] == [] and storage.search("   ")[1] is None


@pytest.mark.parametrize(
    "query",
    ['"', '""', "*", "a*", "AND", "OR", "NOT", "NEAR(", "NEAR(a b", "-", "-word", "a:b",
     "title:x", "(", ")", "^", "{a b}", "'", "\\", "\x00", "\ud800", "\ue000", "a AND",
     "%", "🙂", "x" * 5000, " ".join(["w"] * 200), "col:", ":", "+", "a OR OR b"],
)  # fmt: skip
def test_hostile_queries_do_not_raise(storage, query):
    storage.upsert_entries(A, [entry(A, "1", title="and or not near word")], now=NOW)
    views, _ = storage.search(query)
    assert isinstance(views, list)


def test_search_operators_are_searched_as_words(storage):
    storage.upsert_entries(
        A,
        [entry(A, "1", title="this AND that"), entry(A, "2", title="this alone")],
        now=NOW,
    )
    assert [v.guid for v in storage.search("this AND")[0]] == ["1"]
    assert [v.guid for v in storage.search("-alone")[0]] == ["2"]
    assert sorted(v.guid for v in storage.search('"this"')[0]) == ["1", "2"]


def test_snippet_is_escaped_except_mark(storage):
    hostile = '<script>alert("x")</script> café & co \ue001'
    storage.upsert_entries(A, [entry(A, "1", title=hostile, summary=hostile)], now=NOW)
    (view,), _ = storage.search("cafe")
    for field in (view.snippet, view.title_html):  # the passage and the title alike
        assert field is not None
        assert "<script>" not in field
        assert "&lt;script&gt;" in field and "&amp;" in field
        assert "<mark>café</mark>" in field
        assert field.count("<mark>") == field.count("</mark>") == 1
        stripped = field.replace("<mark>", "").replace("</mark>", "")
        assert "<" not in stripped and ">" not in stripped
    assert view.title.startswith("<script>")  # the field itself is raw text


def test_search_pages_newest_first_and_within_a_tab(storage, monkeypatch):
    storage.upsert_entries(C, batch(C, 2, prefix="c", summary="needle"), now=NOW)
    later = NOW + timedelta(hours=1)
    storage.upsert_entries(A, batch(A, 30, prefix="a", summary="needle"), now=later)
    everything = [v.guid for v in storage.search("needle", limit=100)[0]]
    # Newest published first (issue 9), whatever the arrival order; same date: newest id.
    assert everything[:5] == ["a0", "c0", "a1", "c1", "a2"] and everything[-1] == "a29"

    page, cursor = storage.search("needle", limit=10)
    collected = [v.guid for v in page]
    while cursor:
        page, cursor = storage.search("needle", limit=10, cursor=cursor)
        collected += [v.guid for v in page]
    assert collected == everything

    # Tiny windows: the tab's two matches are past the per-page budget, and the
    # cursor carries on until they are found.
    monkeypatch.setattr(_search, "_WINDOWS", (3, 5))
    found, cursor, pages = [], None, 0
    while True:
        page, cursor = storage.search("needle", tab="Tech", cursor=cursor)
        found += [v.guid for v in page]
        pages += 1
        if cursor is None:
            break
    assert found == ["c0", "c1"] and pages > 1
    with pytest.raises(ValueError, match="cursor"):
        storage.search("needle", cursor="x")


# --- read state ---------------------------------------------------------------------


def test_mark_all_read_and_undo(storage):
    storage.upsert_entries(A, batch(A, 3, prefix="a"), now=NOW)
    storage.upsert_entries(C, batch(C, 2, prefix="c"), now=NOW)
    shown, _ = storage.entries(tab="News")
    max_id = max(v.id for v in shown)
    storage.upsert_entries(A, [entry(A, "late", NOW + timedelta(hours=1))], now=NOW)

    changed = storage.mark_all_read(tab="News", max_id=max_id)
    assert changed == sorted(v.id for v in shown)
    assert storage.unread_counts() == {"News": 1, "Tech": 2, "": 3}
    assert storage.mark_all_read(tab="News", max_id=max_id) == []

    assert storage.set_read(changed, False) == 3
    assert storage.unread_counts()["News"] == 4
    assert storage.set_read(changed, False) == 0
    assert len(storage.mark_all_read(feed_url=C)) == 2
    assert storage.counts() == {"feeds": 3, "entries": 6, "unread": 4, "starred": 0}
    with pytest.raises(errors.NotFound):
        storage.set_starred(424242)


# --- purge --------------------------------------------------------------------------


def test_purge_rules(storage, monkeypatch):
    monkeypatch.setattr(_entries, "PURGE_CHUNK", 1)  # several transactions
    monkeypatch.setattr(_entries, "PURGE_PAUSE", 0)
    old, keep_days = NOW - timedelta(days=100), 30
    storage.upsert_entries(A, batch(A, 4, start=old, prefix="old"), now=old)
    storage.upsert_entries(A, batch(A, 2, start=NOW, prefix="new"), now=NOW)
    # An old feed added today: its back catalogue was first seen now.
    storage.upsert_entries(C, batch(C, 2, start=old, prefix="cat"), now=NOW)
    ids = {v.guid: v.id for v in storage.entries(limit=100)[0]}
    storage.set_read([ids["old0"], ids["old1"], ids["old2"], ids["new0"], ids["cat0"]])
    storage.set_starred(ids["old2"])

    assert storage.purge(now=NOW, keep_days=keep_days) == 2  # old0, old1
    left = {v.guid for v in storage.entries(limit=100)[0]}
    assert left == {"old2", "old3", "new0", "new1", "cat0", "cat1"}
    assert storage.feed(A).entry_count == 4
    assert storage.search("old0")[0] == [] and storage.search("old3")[0]

    # The feed still lists the purged items: they do not come back as unread.
    assert storage.upsert_entries(A, batch(A, 4, start=old, prefix="old"), now=NOW) == 0
    assert storage.upsert_entries(A, [entry(A, "fresh", NOW)], now=NOW) == 1


def test_purge_removed_feeds_and_keeps_forwarded(storage, tmp_path):
    storage.upsert_entries(B, batch(B, 3, prefix="b"), now=NOW)
    storage.upsert_entries(A, batch(A, 3, start=NOW - timedelta(days=90), prefix="a"), now=NOW)
    ids = {v.guid: v.id for v in storage.entries(limit=100)[0]}
    storage.set_starred(ids["b0"])
    storage.set_read(list(ids.values()))
    # What a later migration (issue 4) adds: the forward ledger.
    db = sqlite3.connect(storage.path)
    db.execute(
        "INSERT INTO forwards (batch, entry_id, entry_title, feed_title, contact_name,"
        " contact_email, email_key, created_at, send_after)"
        " VALUES ('b', ?, '', '', '', '', '', 0, 0), ('b', ?, '', '', '', '', '', 0, 0)",
        (ids["b1"], ids["a0"]),
    )
    db.commit()
    db.close()

    removed_at = NOW
    storage.sync_feeds([FeedConfig(A, "News"), FeedConfig(C, "Tech")], now=removed_at)
    assert storage.purge(now=removed_at + timedelta(days=10), keep_days=30) == 0
    later = removed_at + timedelta(days=31)
    storage.sync_feeds([FeedConfig(C, "Tech")], now=later)
    assert storage.purge(now=later, keep_days=30) == 3  # b2; a1, a2 (old and read)
    remaining = {storage.entry(i).guid for i in ids.values() if _exists(storage, i)}
    assert remaining == {"b0", "b1", "a0"}
    assert storage.feed(B).entry_count == 2  # still has starred/forwarded entries

    storage.set_starred(ids["b0"], False)
    db = sqlite3.connect(storage.path)
    db.execute("DELETE FROM forwards")
    db.commit()
    db.close()
    assert storage.purge(now=later, keep_days=30) == 3
    with pytest.raises(errors.NotFound):
        storage.feed(B)  # removed long ago and empty: the row goes too
    assert storage.feed(A).entry_count == 0  # removed today: kept, even empty...
    assert [f.url for f in storage.feeds(include_inactive=True)] == [C]  # ...but not listed


def _exists(storage, entry_id):
    try:
        storage.entry(entry_id)
    except errors.NotFound:
        return False
    return True


def test_meta(storage):
    assert storage.get_meta("last_purge") is None
    storage.set_meta("last_purge", "2024-05-01")
    storage.set_meta("last_purge", "2024-05-02")
    assert storage.get_meta("last_purge") == "2024-05-02"
    storage.set_meta("last_purge", None)
    assert storage.get_meta("last_purge") is None


# --- concurrency --------------------------------------------------------------------


def test_concurrent_writer_and_readers_never_see_locked(storage):
    deadline = time.monotonic() + 1.0
    failures: list[BaseException] = []
    stats = {A: 0, C: 0, "reads": 0}

    def writer(url):
        n = 0
        try:
            while time.monotonic() < deadline:
                n += 1
                when = NOW + timedelta(seconds=n)
                storage.upsert_entries(url, batch(url, 10, start=when, prefix=f"w{n}-"), now=when)
                storage.record_success(
                    url, now=when, status=200, etag=None, last_modified=None,
                    body_hash=str(n), next_check=when,
                )  # fmt: skip
                stats[url] += 1
        except BaseException as e:
            failures.append(e)

    def reader(k):
        cursor = None
        try:
            while time.monotonic() < deadline:
                views, cursor = storage.entries(cursor=cursor, limit=20)
                storage.search("Title")
                storage.unread_counts()
                if views and k == 0:  # web threads write too: read state
                    storage.set_read([views[0].id])
                stats["reads"] += 1
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=writer, args=(url,)) for url in (A, C)]
    threads += [threading.Thread(target=reader, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not failures, failures
    # Both writers got through (SQLite's busy handler promises no fairness: a writer
    # that commits back to back may take the lock again first, more so since commits
    # no longer checkpoint every 4 MB), and the readers were never held up.
    assert stats[A] > 0 and stats[C] > 0 and stats["reads"] > 5
    assert storage.feed(A).entry_count == stats[A] * 10
    assert storage.feed(C).entry_count == stats[C] * 10


def test_search_filters_by_feed_unread_and_starred(storage):
    storage.upsert_entries(A, batch(A, 3, prefix="a", summary="needle"), now=NOW)
    storage.upsert_entries(B, batch(B, 2, prefix="b", summary="needle"), now=NOW)
    ids = {v.guid: v.id for v in storage.entries(limit=100)[0]}
    storage.set_read([ids["a0"], ids["b0"]])
    storage.set_starred(ids["a1"])

    def guids(**kw):
        return sorted(v.guid for v in storage.search("needle", **kw)[0])

    assert guids(feed_url=A) == ["a0", "a1", "a2"]
    assert guids(unread=True) == ["a1", "a2", "b1"]
    assert guids(starred=True) == ["a1"]
    assert guids(feed_url=B, unread=True) == ["b1"]
    assert guids(feed_url="https://nowhere.example/feed") == []


# --- removed feeds: forgotten at once unless something is worth keeping (issue 8) ------


def _forward(storage, entry_id):
    db = sqlite3.connect(storage.path)
    db.execute(
        "INSERT INTO forwards (batch, entry_id, entry_title, feed_title, contact_name,"
        " contact_email, email_key, created_at, send_after)"
        " VALUES ('b', ?, 'kept title', '', '', '', '', 0, 0)",
        (entry_id,),
    )
    db.commit()
    db.close()


def _consistent(storage):
    """SQLite's and FTS5's own checks, and the trigger-kept counters against a count."""
    db = sqlite3.connect(storage.path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.execute("INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')")
        wrong = db.execute(
            """
            SELECT url FROM feeds
            WHERE entry_count != (SELECT count(*) FROM entries WHERE feed_id = feeds.id)
            OR unread_count != (SELECT count(*) FROM entries WHERE feed_id = feeds.id AND read = 0)
            """
        ).fetchall()
        assert wrong == []
        (fts,) = db.execute("SELECT count(*) FROM entries_fts").fetchone()
        (rows,) = db.execute("SELECT count(*) FROM entries").fetchone()
        assert fts == rows
    finally:
        db.close()


def test_a_removed_feed_with_nothing_worth_keeping_disappears_at_once(storage):
    storage.upsert_entries(A, batch(A, 3, prefix="a", summary="zebra"), now=NOW)
    storage.upsert_entries(B, batch(B, 2, prefix="b", summary="zebra"), now=NOW)
    storage.upsert_entries(C, batch(C, 2, prefix="c", summary="zebra"), now=NOW)
    ids = {v.guid: v.id for v in storage.entries(limit=100)[0]}
    storage.set_starred(ids["b1"])
    _forward(storage, ids["c0"])
    storage.set_read([ids["a0"]])

    later = NOW + timedelta(minutes=5)
    storage.sync_feeds([], now=later)
    # A: nothing starred or forwarded: gone from the status page at once.
    assert [f.url for f in storage.feeds(include_inactive=True)] == [B, C]
    # « Annuler » within UNDO_GRACE: A is back with its entries and read state.
    storage.sync_feeds([FeedConfig(A, "News")], now=later)
    assert (storage.feed(A).entry_count, storage.feed(A).unread_count) == (3, 2)
    assert sorted(v.guid for v in storage.search("zebra")[0] if v.feed_url == A) == [
        "a0",
        "a1",
        "a2",
    ]
    _consistent(storage)
    # Removed again and left so: forgotten, entries and all, once the grace is over.
    storage.sync_feeds([], now=later)
    later += UNDO_GRACE
    assert storage.forget_removed_feeds(now=later) == 1  # the worker's housekeeping
    with pytest.raises(errors.NotFound):
        storage.feed(A)
    db = sqlite3.connect(storage.path)
    found = db.execute(
        "SELECT rowid % 2147483648 FROM entries_fts WHERE entries_fts MATCH 'zebra'"
    ).fetchall()
    db.close()
    assert sorted(i for (i,) in found) == sorted(ids[g] for g in ("b0", "b1", "c0", "c1"))
    assert storage.counts()["entries"] == 4
    assert [v.guid for v in storage.entries(starred=True)[0]] == ["b1"]
    _consistent(storage)

    # Followed again: a new feed, due at once, its entries fresh.
    storage.sync_feeds([FeedConfig(A, "News")], now=later)
    assert storage.feed(A).entry_count == 0
    assert A in [f.url for f in storage.due_feeds(now=later)]
    assert storage.upsert_entries(A, batch(A, 3, prefix="a", summary="zebra"), now=later) == 3
    assert sorted(v.guid for v in storage.search("zebra")[0]) == ["a0", "a1", "a2"]
    _consistent(storage)


def test_feeds_left_inactive_by_older_versions_are_forgotten_too(storage):
    storage.upsert_entries(A, batch(A, 2, prefix="a"), now=NOW)
    # What the previous code left: A inactive with its entries, nothing kept.
    db = sqlite3.connect(storage.path)
    db.execute("UPDATE feeds SET active = 0, removed_at = 1 WHERE url = ?", (A,))
    db.execute("UPDATE entries SET tab = NULL")
    db.commit()
    db.close()
    storage.sync_feeds([FeedConfig(B, "News"), FeedConfig(C, "Tech")], now=NOW)
    assert [f.url for f in storage.feeds(include_inactive=True)] == [B, C]
    _consistent(storage)


def test_delete_feed_history(storage):
    storage.upsert_entries(A, batch(A, 3, prefix="a", summary="zebra"), now=NOW)
    storage.upsert_entries(C, batch(C, 2, prefix="c", summary="zebra"), now=NOW)
    ids = {v.guid: v.id for v in storage.entries(limit=100)[0]}
    storage.set_starred(ids["a2"])
    _forward(storage, ids["a1"])
    with pytest.raises(ValueError, match="still in feeds.yaml"):
        storage.delete_feed_history(A)
    storage.sync_feeds([FeedConfig(B, "News"), FeedConfig(C, "Tech")], now=NOW)
    assert not storage.feed(A).active  # kept: a starred and a forwarded entry

    assert storage.delete_feed_history(A) == 3
    with pytest.raises(errors.NotFound):
        storage.feed(A)
    assert [f.url for f in storage.feeds(include_inactive=True)] == [B, C]
    assert storage.entries(starred=True)[0] == []
    assert sorted(v.guid for v in storage.search("zebra")[0]) == ["c0", "c1"]
    # The ledger keeps its row and its own copy of the title; the link is cut.
    db = sqlite3.connect(storage.path)
    assert db.execute("SELECT entry_id, entry_title FROM forwards").fetchall() == [
        (None, "kept title")
    ]
    db.close()
    _consistent(storage)
    with pytest.raises(errors.NotFound):
        storage.delete_feed_history(A)
