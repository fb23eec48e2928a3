"""Issue 9: suggestions see the whole article, folded like search; a post without a
title is forwarded under the title made from its text.

Entries go through the real pipeline (parse, CPU stage, SQLite) and are read back as
the dashboard reads them before suggesting contacts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aggregator.forward.matching import suggest
from aggregator.mail.compose import Letter, subject_for
from aggregator.models import Contact, FeedConfig
from aggregator.storage import Storage
from aggregator.update import _cpu

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
FEEDS = Path(__file__).parent / "data" / "feeds"
NEWS_URL = "https://www.progres.example/culture/rss.xml"
MASTODON_URL = "https://piaille.example/@lou.rss"

CAMILLE = Contact("Camille", "camille@example.org", ("montage vidéo", "post-production"))
SAM = Contact("Sam", "sam@example.org", ("oeuvres restaurées",))
LEA = Contact("Léa", "lea@example.org", ("jardinage",))


def stored(tmp_path, url: str, name: str):
    storage = Storage(tmp_path / "db.sqlite3")
    storage.sync_feeds([FeedConfig(url, "Culture")], now=NOW)
    body = (FEEDS / name).read_bytes()
    feed = _cpu.process_body(url, body, {}, url, NOW, {})
    storage.upsert_entries(url, feed.entries, now=NOW)
    views, _ = storage.entries(feed_url=url, limit=50)
    storage.close()
    return views


def test_interests_found_only_in_the_body_suggest_the_contact(tmp_path):
    views = stored(tmp_path, NEWS_URL, "items-news.xml")
    festival = next(v for v in views if "festival" in v.title.lower())
    # Neither the title nor the summary speaks of montage or œuvres: the body does.
    for text in (festival.title, festival.summary):
        assert "montage" not in text.lower() and "uvres" not in text
    found = suggest(festival, [LEA, SAM, CAMILLE])
    assert [s.contact.name for s in found] == ["Camille", "Sam"]
    assert found[0].reasons == ("montage vidéo", "post-production")
    assert found[1].reasons == ("oeuvres restaurées",)  # œ folded, plural tolerated


def test_a_title_less_post_is_forwarded_under_its_derived_title(tmp_path):
    views = stored(tmp_path, MASTODON_URL, "items-mastodon.xml")
    post = next(v for v in views if v.title.startswith("Répétition"))
    assert post.title_derived
    letter = Letter(
        to_name="Camille", to_email="camille@example.org", note="", title=post.title,
        link=post.link, feed_title=post.feed_title, published=post.published,
        excerpt=post.summary,
    )  # fmt: skip
    subject = subject_for(letter)
    assert "Répétition générale ce soir" in subject and "sans titre" not in subject
