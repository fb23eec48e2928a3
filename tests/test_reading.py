"""Reading comfort (issue 10), through the Flask test client over real SQLite files:
failing feeds visible where one looks, the unread flow (settings.display, per-tab
memory, the count endpoint), widgets (headline count, per-widget mark all), local time
and French plurals. Keys and scrolling are in tests/test_reading_browser.py."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from websupport import BLOG, NEWS, TECH, make_app, storage
from websupport import text as raw_text

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def text(response) -> str:
    """The page with entities decoded (« n&#39;a » is « n'a » on screen)."""
    return html.unescape(raw_text(response))


def site_with(tmp_path: Path, yaml: str) -> dict:
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml, encoding="utf-8")
    return {"config": config, "db": tmp_path / "data" / "agg.sqlite3"}


def many_feeds(n: int) -> str:
    lines = ["tabs:", "  - name: Emplois", "    feeds:"]
    lines += [f"      - url: https://jobs{i}.example.org/feed.xml" for i in range(n)]
    lines += ["  - name: Autres", "    feeds:", f"      - url: {TECH}"]
    return "\n".join(lines) + "\n"


def fail(app, url: str, code: str = "dns") -> None:
    storage(app).record_error(
        url, now=NOW, code=code, message="boom", next_check=NOW + timedelta(hours=1)
    )


@pytest.fixture
def failing_app(tmp_path):
    app = make_app(site_with(tmp_path, many_feeds(7)))
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=NOW)
    yield app
    st.close()


# --- 2. failing feeds where one looks ----------------------------------------------


def test_first_run_card_counts_the_failing_feeds_with_the_right_plural(failing_app):
    client = failing_app.test_client()
    feeds = [f.url for f in storage(failing_app).feeds() if "jobs" in f.url]
    fail(failing_app, feeds[0])
    page = text(client.get("/"))
    assert "1 flux n'a pas pu être récupéré" in page
    assert 'href="/feeds#problems">→ voir pourquoi' in page
    for url in feeds[1:]:
        fail(failing_app, url, "timeout")
    page = text(client.get("/"))
    assert "7 flux n'ont pas pu être récupérés" in page
    assert "Le site n'a pas répondu à temps." in page  # the reason, in French
    english = text(client.get("/?lang=en"))
    assert "7 feeds could not be fetched" in english and "see why" in english
    assert 'id="problems"' in text(client.get("/feeds"))
    # the other tab's feed is healthy: no card there, but the failing tab's widgets say why
    assert "data-failing-card" not in text(client.get("/tab/Autres"))
    widgets = text(client.get("/tab/Emplois?view=widgets"))
    assert "data-failing-card" in widgets
    assert widgets.count("data-feed-problem") == 7
    assert "Aucun titre pour l'instant." not in widgets


def test_river_avatars_of_failing_feeds_carry_the_reason(app, client):
    for url in (NEWS, BLOG, TECH):
        storage(app).record_success(
            url, now=NOW, status=200, etag=None, last_modified=None, body_hash=None, next_check=NOW
        )
    fail(app, NEWS, "not_found")  # it worked once, then broke
    page = text(client.get("/"))
    items = re.findall(r'<article class="entry.*?</article>', page, re.S)
    news = [i for i in items if "Le Journal" in i]
    others = [i for i in items if "Le Journal" not in i]
    assert news and all("data-feed-problem" in i for i in news)
    assert all("data-feed-problem" not in i for i in others)
    assert "title=\"Il n'y a pas de flux à cette adresse (erreur 404)" in news[0]
    # every feed got through once: no first-run card, the badges say it
    assert "data-failing-card" not in page
