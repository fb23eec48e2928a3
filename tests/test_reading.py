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
from websupport import BLOG, NEWS, TECH, entry, make_app, storage
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


# --- 3. the unread flow ---------------------------------------------------------------


def display_yaml(block: str) -> str:
    return f"""\
settings:
  display:
{block}tabs:
  - name: Actualités
    feeds:
      - url: {NEWS}
        title: Le Journal
        headlines: 2
      - url: {BLOG}
  - name: Tech
    feeds:
      - url: {TECH}
        title: Tech Weekly
"""


def seeded(tmp_path: Path, block: str):
    app = make_app(site_with(tmp_path, display_yaml(block)))
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=NOW)
    for feed in (NEWS, BLOG, TECH):
        st.storage.upsert_entries(
            feed, [entry(feed, n, NOW - timedelta(hours=n)) for n in range(1, 8)], now=NOW
        )
    return app


def titles(page: str) -> list[str]:
    return re.findall(r'id="entry-title-\d+"><a [^>]*>([^<]*)</a>', page)


def read_one(app, feed: str, n: int) -> None:
    entries, _ = storage(app).entries(feed_url=feed, limit=50)
    storage(app).set_read([next(e.id for e in entries if e.guid == f"{feed}#{n}")], True)


def test_unread_only_by_default_from_settings_and_remembered_per_tab(tmp_path):
    app = seeded(tmp_path, "    unread_only: true\n")
    client = app.test_client()
    read_one(app, TECH, 1)
    assert len(titles(text(client.get("/tab/Tech")))) == 6  # the setting: unread only
    assert len(titles(text(client.get("/tab/Tech?unread=0")))) == 7  # « Tout », chosen
    assert len(titles(text(client.get("/tab/Tech")))) == 7  # ... and remembered for Tech
    assert len(titles(text(client.get("/")))) == 20  # other rivers keep the setting
    assert len(titles(text(client.get("/?unread=1")))) == 20
    assert len(titles(text(client.get("/tab/Tech")))) == 7
    page = text(client.get("/tab/Tech"))
    assert re.search(r'href="/tab/Tech\?unread=1"[^>]*>Non lus seulement', page)
    assert re.search(r'href="/tab/Tech\?unread=0" aria-current="true">Tout', page)
    (tmp_path / "b").mkdir()
    default = make_app(site_with(tmp_path / "b", display_yaml("    headlines: 5\n")))
    assert default.extensions["aggregator"].config.settings.display.unread_only is False
    default.extensions["aggregator"].close()
    app.extensions["aggregator"].close()


def test_page_title_carries_the_unread_count(tmp_path):
    app = seeded(tmp_path, "    headlines: 5\n")
    client = app.test_client()
    assert '<title data-count-scope="Tech">(7) Tech · Agrégateur de flux</title>' in raw_text(
        client.get("/tab/Tech")
    )
    assert '<title data-count-scope="">(21) Tous ·' in raw_text(client.get("/"))
    app.extensions["aggregator"].close()


def test_count_endpoint_says_how_many_arrived_since_the_page(tmp_path):
    app = seeded(tmp_path, "    headlines: 5\n")
    client = app.test_client()
    page = raw_text(client.get("/tab/Tech"))
    after = int(re.search(r'data-poll-after="(\d+)"', page).group(1))
    answer = client.get(f"/counts?after={after}&tab=Tech").get_json()
    assert answer["new"] == 0 and answer["unread_counts"]["Tech"] == 7
    storage(app).upsert_entries(TECH, [entry(TECH, 50, NOW)], now=NOW)
    storage(app).upsert_entries(NEWS, [entry(NEWS, 50, NOW)], now=NOW)
    answer = client.get(f"/counts?after={after}&tab=Tech").get_json()
    assert (answer["new"], answer["label"]) == (1, "1 nouvel article")
    assert client.get(f"/counts?after={after}").get_json()["label"] == "2 nouveaux articles"
    assert client.get(f"/counts?after={after}&lang=en").get_json()["label"] == "2 new articles"
    feed = client.get("/counts", query_string={"after": after, "feed": NEWS}).get_json()
    assert feed["new"] == 1
    # validated: one path (aggregator/web/params.py), 400/404 in JSON
    for bad in ("after=-1", "after=١", "after=99999999999999999999", "tab=Nope"):
        r = client.get(f"/counts?{bad}", headers={"Accept": "application/json"})
        assert r.status_code in (400, 404) and "error" in r.get_json(), bad
    r = client.get("/counts?feed=https://unknown.example/", headers={"Accept": "application/json"})
    assert r.status_code == 404
    app.extensions["aggregator"].close()


# --- 4. widgets -----------------------------------------------------------------------


def test_widgets_show_the_configured_headlines_and_mark_each_widget_read(tmp_path):
    app = seeded(tmp_path, "    headlines: 4\n")
    client = app.test_client()
    page = raw_text(client.get("/tab/Actualités?view=widgets"))
    widgets = re.findall(r'<section class="widget".*?</section>', page, re.S)
    assert [w.count('<li class="headline') for w in widgets] == [2, 4]  # own 2, setting 4
    assert all("data-widget-preview" in w for w in widgets)
    form = re.search(r"<form [^>]*data-widget-mark-all>.*?</form>", widgets[0], re.S).group(0)
    assert f'name="feed" value="{NEWS}"' in form and "Tout marquer comme lu" in form
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    r = client.post("/mark-all-read", data=fields)
    assert r.status_code == 302
    follow = html.unescape(raw_text(client.get(r.headers["Location"])))
    assert "7 articles marqués comme lus." in follow and "Annuler" in follow
    counts = storage(app).unread_counts()
    assert counts["Actualités"] == 7  # the blog's widget was not touched
    page = raw_text(client.get("/tab/Actualités?view=widgets"))
    assert re.search(r'<span class="visually-hidden" data-count-label[^>]*>7 non lus</span>', page)
    app.extensions["aggregator"].close()
