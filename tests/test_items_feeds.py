"""Issue 9: every item looks right, from real-shaped feeds to what is stored.

Data-driven: each ``tests/data/feeds/items-*.expected.json`` has an ``items`` list that
says what the CPU stage (``update._cpu.process_body``: parse, sanitize, titles,
thumbnails, the search text) must make of the entries of its feed. The same files are
also checked by test_parse.py for what parsing alone gives.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import folding, parse, sanitize
from aggregator.storage._entries import search_columns
from aggregator.update import _cpu

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def fixtures():
    for expected in sorted(FEEDS.glob("items-*.expected.json")):
        name = expected.name.removesuffix(".expected.json")
        (body,) = [p for p in FEEDS.glob(name + ".*") if p != expected]
        yield pytest.param(body, expected, id=name)


def process(body: bytes, url: str, headers: dict | None = None) -> _cpu.ProcessedFeed:
    return _cpu.process_body(url, body, headers or {}, url, NOW, {})


@pytest.mark.parametrize(("body_path", "expected_path"), list(fixtures()))
def test_items_fixture(body_path: Path, expected_path: Path) -> None:
    exp = json.loads(expected_path.read_text(encoding="utf-8"))
    feed = process(body_path.read_bytes(), exp["url"], exp.get("headers"))
    assert len(feed.entries) == exp["entry_count"]
    for spec in exp["items"]:
        e = feed.entries[spec["index"]]
        for key in ("title", "title_derived", "thumbnail", "author", "link"):
            if key in spec:
                assert getattr(e, key) == spec[key], key
        if "enclosures" in spec:
            assert [{"url": x.url, "type": x.type} for x in e.enclosures] == spec["enclosures"]
        if "text_starts" in spec:
            assert e.summary.startswith(spec["text_starts"]), e.summary
        for text in spec.get("text_contains", []):
            assert text in e.summary
        for text in spec.get("text_not_contains", []):
            assert text not in e.summary
        if "body_text_starts" in spec:
            body = sanitize.html_to_text(e.content_html, max_chars=100_000)
            assert body.startswith(spec["body_text_starts"]), body
        indexed = set(e.search_body.split())
        for word in spec.get("search_words", []):
            assert word in indexed, word
    for e in feed.entries:
        # Nothing a person sees is a bare ellipsis, and no thumbnail is a script.
        assert e.title.strip() not in ("…", "...")
        assert e.thumbnail is None or e.thumbnail.startswith(
            ("https://", "http://", "data:image/png", "data:image/jpeg", "data:image/gif")
        )
        assert all(x.type != "application/x-shockwave-flash" for x in e.enclosures)
        # The worker folds the title and body for the index exactly as storage would
        # for an entry made elsewhere (issue 14 moved the title's folding there).
        assert search_columns(e) == search_columns(replace(e, search_title="", search_body=""))
        assert e.search_title.strip() or not folding.words(e.title)


# --- titles for items without one -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Premier jet terminé ! Merci à tous.", "Premier jet terminé !"),
        ("Une phrase. Une autre.", "Une phrase"),
        ("https://example.org/a/b\n\nLe vrai texte ici", "Le vrai texte ici"),
        ("Voir https://example.org/x pour les détails", "Voir pour les détails"),
        ("https://example.org/only-a-link", ""),
        ("", ""),
        ("…", ""),
        ("mot " * 60, ("mot " * 20).strip() + "…"),
        ("Combien ? Trois.", "Combien ?"),
    ],
)
def test_title_from_text(text: str, title: str) -> None:
    assert sanitize.title_from_text(text) == title


def test_a_title_made_from_the_text_is_flagged_and_a_real_one_is_kept() -> None:
    rss = (
        '<rss version="2.0"><channel><title>T</title><link>https://ex.org/</link>'
        "<item><guid>1</guid><description>&lt;p&gt;Bonjour le monde. Suite.&lt;/p&gt;</description></item>"
        "<item><guid>2</guid><title>…</title><description>Texte ici</description></item>"
        "<item><guid>3</guid><title>Vrai titre</title><description>Autre</description></item>"
        "</channel></rss>"
    ).encode()
    entries = process(rss, "https://ex.org/feed").entries
    assert [(e.title, e.title_derived) for e in entries] == [
        ("Bonjour le monde", True),
        ("Texte ici", True),
        ("Vrai titre", False),
    ]


# --- plain text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ('<img alt="Photo de chat" src="https://ex.org/c.jpg"><p>Le texte</p>', "Le texte"),
        ('<p><img alt="Un chat" src="https://ex.org/c.jpg"></p>', "Un chat"),
        ("<h2>Titre</h2>Suite", "Titre\n\nSuite"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a\n\nb"),
        ("<center>A</center>B", "A\n\nB"),
        ("<th>Prix</th><td>12 €</td>", "Prix\n\n12 €"),
    ],
)
def test_plain_text_puts_alt_text_last_and_separates_blocks(html: str, text: str) -> None:
    assert sanitize.html_to_text(html) == text


# --- hostile sizes --------------------------------------------------------------------


def test_huge_titles_and_bodies_stay_bounded() -> None:
    """10,000-character titles and 5 MB bodies: what we do after feedparser (sanitize,
    title, thumbnail, fold for the index) is bounded by the caps of parse.MAX_FIELD
    and folding.INDEX_CHARS. (feedparser itself spends ~1 s per MB of non-ASCII text
    in a str.translate of its own, in the worker process.)"""
    title = "Très " * 2000
    body = "<p>" + ("Œuvre cinématographique en post-production. " * 120_000) + "</p>"
    assert len(body) > 5_000_000
    rss = (
        '<rss version="2.0"><channel><title>T</title><link>https://ex.org/</link>'
        f"<item><guid>1</guid><title>{title}</title><description>Court.</description></item>"
        f"<item><guid>2</guid><description><![CDATA[{body}]]></description></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse.parse_feed(rss, url="https://ex.org/feed", now=NOW)
    started = time.perf_counter()
    entries = _cpu.process_entries("https://ex.org/feed", parsed, "https://ex.org/feed", NOW, {})
    elapsed = time.perf_counter() - started
    assert len(entries.entries) == 2
    first, second = entries.entries
    assert len(first.title) <= 1000
    assert second.title_derived and len(second.title) < 120
    assert "oeuvre" in second.search_body.split()
    assert len(second.search_body) < 400_000  # folding.INDEX_CHARS of text, not 5 MB
    assert elapsed < 15, elapsed  # ~3 s per capped body on the 2-core test machine
