"""Issue 9: full-text search on the whole article, folded like the suggestions.

Entries go through the real pipeline (``update._cpu.process_body`` then
``Storage.upsert_entries``) into a real SQLite file, and are searched back.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import FeedConfig
from aggregator.storage import Storage, _schema
from aggregator.update import _cpu

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
NEWS = "https://news.example/feed.xml"
JOBS = "https://jobs.example/feed.xml"


def rss(items: list[tuple[str, str, str, datetime]]) -> bytes:
    """(guid, title, content:encoded, date) -> an RSS document with a short summary."""
    parts = []
    for guid, title, content, when in items:
        parts.append(
            f'<item><guid isPermaLink="false">{guid}</guid><title>{title}</title>'
            f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            "<description>Un court résumé.</description>"
            f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
        )
    return (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>T</title><link>https://news.example/</link>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


def ingest(storage: Storage, url: str, items, now: datetime = NOW) -> None:
    feed = _cpu.process_body(url, rss(items), {}, url, now, {})
    storage.upsert_entries(url, feed.entries, now=now)


@pytest.fixture
def storage(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    s.sync_feeds([FeedConfig(NEWS, "Actu"), FeedConfig(JOBS, "Emplois")], now=NOW)
    yield s
    s.close()


def guids(views) -> list[str]:
    return [v.guid for v in views]


def test_a_word_only_in_the_full_bodies_finds_them_all(storage):
    items = [
        (f"n{i}", f"Article {i}", f"<p>Début.</p><p>{'Texte. ' * 50}Le mot ornithorynque.</p>",
         NOW - timedelta(hours=i))
        for i in range(40)
    ]  # fmt: skip
    ingest(storage, NEWS, items)
    found, cursor = storage.search("ornithorynque", limit=100)
    assert len(found) == 40 and cursor is None
    # The passage shown is the one with the word, from deep in the body.
    assert "<mark>ornithorynque</mark>" in found[0].snippet


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("Les œuvres complètes", "oeuvres"),
        ("Une oeuvre majeure", "œuvre"),
        ("ÆSCHYLE et les tragiques", "aeschyle"),
        ("Offres d'emploi culture", "emplois"),
        ("Trois emplois ouverts", "emploi"),
        ("Les jeux olympiques", "jeu"),
        ("Le Cinéma Comœdia", "cinema"),
        ("La cinémathèque rouvre", "cin*"),
        ("Post-production en région", "postproduction*"),
        ("Post-production en région", "post-production"),
    ],
)
def test_folding_plurals_and_prefixes(storage, stored, query):
    ingest(storage, NEWS, [("a", "Titre neutre", f"<p>{stored}</p>", NOW)])
    ingest(storage, JOBS, [("b", "Autre", "<p>Rien à voir.</p>", NOW)])
    assert guids(storage.search(query)[0]) == (["a"] if query != "postproduction*" else [])


def test_results_are_newest_published_first_whatever_the_arrival_order(storage):
    # The recent items arrive first, then an import brings an old back catalogue.
    ingest(storage, NEWS, [(f"new{i}", f"Festival {i}", "<p>festival</p>", NOW - timedelta(days=i))
                           for i in range(3)])  # fmt: skip
    later = NOW + timedelta(hours=1)
    old = [(f"old{i}", f"Festival ancien {i}", "<p>festival</p>", NOW - timedelta(days=300 + i))
           for i in range(3)]  # fmt: skip
    ingest(storage, JOBS, old, now=later)
    ingest(storage, NEWS, [("mid", "Festival du milieu", "<p>festival</p>",
                            NOW - timedelta(days=10))], now=later)  # fmt: skip
    expected = ["new0", "new1", "new2", "mid", "old0", "old1", "old2"]
    assert guids(storage.search("festival")[0]) == expected
    page, cursor = storage.search("festival", limit=3)
    collected = guids(page)
    while cursor:
        page, cursor = storage.search("festival", limit=3, cursor=cursor)
        collected += guids(page)
    assert collected == expected


def test_relevance_puts_title_matches_first(storage):
    ingest(storage, NEWS, [
        ("body", "Chronique", "<p>Un mot sur le montage.</p>", NOW),
        ("title", "Montage vidéo : les bases", "<p>Tutoriel.</p>", NOW - timedelta(days=5)),
    ])  # fmt: skip
    assert guids(storage.search("montage")[0]) == ["body", "title"]
    assert guids(storage.search("montage", order="relevance")[0]) == ["title", "body"]
    with pytest.raises(ValueError):
        storage.search("montage", order="random")


def test_titles_are_highlighted_and_escaped(storage):
    # The title as stored is 'Cinéma & <b>œuvres' (double-escaped in the feed).
    ingest(storage, NEWS, [("a", "Cinéma &amp;amp; &amp;lt;b&amp;gt;œuvres", "<p>x</p>", NOW)])
    (view,), _ = storage.search("oeuvre cinema")
    assert view.title == "Cinéma & <b>œuvres"
    assert view.title_html == "<mark>Cinéma</mark> &amp; &lt;b&gt;<mark>œuvres</mark>"


def test_the_migration_indexes_existing_entries_again(tmp_path):
    """A database of the previous version, with entries: opening it rebuilds the
    index from the stored HTML (whole bodies, folded) without losing a row."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA application_id = {_schema.APPLICATION_ID}")
    for version in range(1, 7):
        db.execute("BEGIN")
        _schema.MIGRATIONS[version](db)
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("COMMIT")
    db.execute("INSERT INTO feeds (id, url, tab) VALUES (1, :url, 'Actu')", {"url": NEWS})
    for i, (title, summary, html) in enumerate([
        ("Les œuvres", "Court.", "<p>Court.</p><p>Un long texte sur la post-production.</p>"),
        ("Emplois", "Offres.", "<p>Offres.</p>"),
    ]):  # fmt: skip
        db.execute(
            "INSERT INTO entries (feed_id, tab, published, first_seen, guid, title, summary,"
            " content_html) VALUES (1, 'Actu', :p, :p, :g, :t, :s, :h)",
            {"p": int(NOW.timestamp()) - i, "g": f"g{i}", "t": title, "s": summary, "h": html},
        )
    db.close()
    storage = Storage(path)
    try:
        assert guids(storage.search("oeuvre")[0]) == ["g0"]
        assert guids(storage.search("production")[0]) == ["g0"]
        assert guids(storage.search("emploi")[0]) == ["g1"]
        assert storage.counts()["entries"] == 2
        check = sqlite3.connect(path)
        check.execute("INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')")
        check.close()
    finally:
        storage.close()


def test_deleting_and_updating_keep_the_index_exact(storage):
    ingest(storage, NEWS, [("a", "Titre", "<p>alpha</p>", NOW)])
    ingest(storage, NEWS, [("a", "Titre", "<p>beta</p>", NOW + timedelta(hours=1))],
           now=NOW + timedelta(hours=1))  # fmt: skip
    assert guids(storage.search("alpha")[0]) == []
    assert guids(storage.search("beta")[0]) == ["a"]
    db = sqlite3.connect(storage.path)
    db.execute("INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')")
    db.execute("DELETE FROM entries")
    db.commit()
    assert db.execute("SELECT count(*) FROM entries_fts").fetchone() == (0,)
    db.close()
