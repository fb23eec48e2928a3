"""Shared by tests/test_web.py and tests/test_web_security.py: a feeds.yaml with two
tabs and three feeds, an app over it with seven stored entries, and small helpers
(the CSRF token a page gives, the id of an entry)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.models import Enclosure, Entry
from aggregator.web import create_app

ROOT = Path(__file__).resolve().parents[1]
NEWS = "https://news.example.org/feed.xml"
BLOG = "https://blog.example.org/atom.xml"
TECH = "https://tech.example.net/rss"

FEEDS_YAML = f"""\
# the person's own words
tabs:
  - name: Actualités
    feeds:
      - url: {NEWS}
        title: Le Journal
      - url: {BLOG}
  - name: Tech
    feeds:
      - url: {TECH}
        title: Tech Weekly
"""


def entry(feed: str, n: int, published: datetime, **kw) -> Entry:
    fields = {
        "feed_url": feed,
        "guid": f"{feed}#{n}",
        "title": f"Article {n}",
        "link": f"https://site.example/{n}",
        "author": "Ann",
        "published": published,
        "updated": None,
        "content_html": f"<p>Contenu <b>{n}</b></p>",
        "summary": f"Résumé {n}",
    }
    fields.update(kw)
    return Entry(**fields)


def make_app(site: dict, **extra):
    settings = {
        "AGGREGATOR_CONFIG": str(site["config"]),
        "AGGREGATOR_DB": str(site["db"]),
        "AGGREGATOR_SECRET_KEY": "test-secret",
        "AGGREGATOR_PASSWORD": None,
        "TESTING": True,
    }
    settings.update(extra)
    return create_app(settings)


def seeded_app(site: dict):
    """An app over feeds.yaml's three feeds, with seven entries stored."""
    app = make_app(site)
    st = app.extensions["aggregator"]
    now = datetime.now(UTC).replace(microsecond=0)
    st.storage.sync_feeds(st.config.feeds, now=now)
    st.storage.upsert_entries(
        NEWS,
        [
            entry(
                NEWS,
                1,
                now - timedelta(minutes=5),
                title="<script>alert('x')</script> Titre piégé",
                summary="L'été arrive <b>bientôt</b>",
            ),
            entry(NEWS, 2, now - timedelta(hours=2)),
            entry(NEWS, 3, now - timedelta(days=1, hours=1)),
        ],
        now=now,
    )
    st.storage.upsert_entries(
        BLOG,
        [entry(BLOG, 1, now - timedelta(hours=3)), entry(BLOG, 2, now - timedelta(days=3))],
        now=now,
    )
    st.storage.upsert_entries(
        TECH,
        [
            entry(TECH, 1, now - timedelta(minutes=30), link="javascript:alert(1)"),
            entry(
                TECH,
                2,
                now - timedelta(days=40),
                enclosures=(Enclosure("https://cdn.example/ep.mp3", "audio/mpeg", 10),),
            ),
        ],
        now=now,
    )
    return app


def storage(app):
    return app.extensions["aggregator"].storage


def entry_id(app, feed: str, n: int) -> int:
    entries, _ = storage(app).entries(feed_url=feed, limit=100)
    return next(e.id for e in entries if e.guid == f"{feed}#{n}")


def token(client) -> str:
    page = client.get("/feeds").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match, "every page carries the CSRF token"
    return match.group(1)


def text(response) -> str:
    return response.get_data(as_text=True)


def write_site(folder: Path) -> dict:
    """feeds.yaml in ``folder``; the database goes in ``folder/data``."""
    config = folder / "feeds.yaml"
    config.write_text(FEEDS_YAML, encoding="utf-8")
    return {"config": config, "db": folder / "data" / "agg.sqlite3"}
