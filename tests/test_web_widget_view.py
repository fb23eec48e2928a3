"""Issue 9: each widget's « Vue étendue » button. Compact (headlines only) by default;
the button (a POST form, so it works without JavaScript) switches one feed's widget to
thumbnail + snippet, remembered per feed in the signed session cookie."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from websupport import BLOG, NEWS, TECH, entry, seeded_app, storage, text, token, write_site

from aggregator.web import views

THUMB = "https://img.example/news-1.jpg"
PAGE = "/tab/Actualités?view=widgets"


@pytest.fixture
def app(tmp_path):
    app = seeded_app(write_site(tmp_path))
    now = datetime.now(UTC).replace(microsecond=0)
    storage(app).upsert_entries(
        NEWS,
        [entry(NEWS, 9, now, summary="Un festival en plein air " * 20, thumbnail=THUMB)],
        now=now,
    )
    yield app
    app.extensions["aggregator"].close()


def widget(html: str, feed: str) -> str:
    match = re.search(
        rf'<section class="widget[^"]*"[^>]*data-feed="{re.escape(feed)}">.*?</section>', html, re.S
    )
    assert match, feed
    return match.group()


def toggle(client, feed: str, view: str | None, **extra):
    form = {"csrf_token": token(client), "feed": feed, "next": PAGE, **extra}
    if view is not None:
        form["view"] = view
    return client.post("/widget-view", data=form, headers=extra.pop("headers", {}))


def test_compact_by_default_then_extended_remembered_then_compact_again(app):
    client = app.test_client()
    news = widget(text(client.get(PAGE)), NEWS)
    assert 'class="headline-thumb"' not in news and THUMB not in news
    assert "headline-snippet" not in news
    assert re.search(r'class="btn btn-small widget-view" aria-pressed="false"', news)
    assert 'name="view" value="extended"' in news  # the form without JavaScript

    r = toggle(client, NEWS, "extended")
    assert r.status_code == 302 and r.headers["Location"].endswith("view=widgets")
    html = text(client.get(PAGE))  # remembered on the next GET
    news = widget(html, NEWS)
    assert re.search(r'<a class="headline-thumb"[^>]*><img src="' + re.escape(THUMB), news)
    assert 'referrerpolicy="no-referrer"' in news and 'loading="lazy"' in news
    snippet = re.search(r'<p class="headline-snippet">([^<]*)</p>', news).group(1)
    assert snippet.startswith("Un festival en plein air") and len(snippet) <= 121
    assert 'aria-pressed="true"' in news and 'name="view" value="compact"' in news
    # Per feed: the other widget of the tab stays compact.
    assert 'aria-pressed="false"' in widget(html, BLOG)

    toggle(client, NEWS, "compact")
    news = widget(text(client.get(PAGE)), NEWS)
    assert THUMB not in news and 'aria-pressed="false"' in news


def test_without_view_the_button_toggles_and_json_answers(app):
    client = app.test_client()
    r = toggle(client, NEWS, None, headers={"Accept": "application/json"})
    assert r.get_json() == {"feed": NEWS, "view": "extended"}
    r = toggle(client, NEWS, None, headers={"Accept": "application/json"})
    assert r.get_json() == {"feed": NEWS, "view": "compact"}


@pytest.mark.parametrize(
    ("feed", "view", "status"),
    [(NEWS, "wide", 400), ("https://nowhere.example/feed", "extended", 404), ("", "extended", 400)],
)
def test_bad_values_are_refused_and_nothing_is_remembered(app, feed, view, status):
    client = app.test_client()
    assert toggle(client, feed, view).status_code == status
    with client.session_transaction() as s:
        assert "widget_view" not in s


def test_no_csrf_token_no_change(app):
    client = app.test_client()
    client.get(PAGE)
    r = client.post("/widget-view", data={"feed": NEWS, "view": "extended"})
    assert r.status_code == 400
    assert THUMB not in widget(text(client.get(PAGE)), NEWS)


def test_the_memory_is_capped_and_a_forged_cookie_is_ignored(app, monkeypatch):
    monkeypatch.setattr(views, "WIDGET_MEMORY", 3)
    client = app.test_client()
    for feed in (NEWS, BLOG):
        toggle(client, feed, "extended")
    with client.session_transaction() as s:
        s["widget_view"] = [*s["widget_view"], ["a", "extended"], ["b", "huge"], [3, "x"], "c"]
    toggle(client, TECH, "extended")  # over the cap of 3: the oldest (NEWS) goes
    with client.session_transaction() as s:
        assert s["widget_view"] == [[BLOG, "extended"], ["a", "extended"], [TECH, "extended"]]
    toggle(client, BLOG, "compact")  # the default needs no memory
    with client.session_transaction() as s:
        assert s["widget_view"] == [["a", "extended"], [TECH, "extended"]]
    with client.session_transaction() as s:
        s["widget_view"] = {NEWS: "extended"}  # not the list this version writes
    assert THUMB not in widget(text(client.get(PAGE)), NEWS)


def test_long_feed_urls_never_grow_the_cookie_past_the_byte_cap(app):
    """Forty 300-character URLs would make a 12 KB cookie, which browsers drop
    (and the login with it): the oldest choices go first."""
    client = app.test_client()
    with client.session_transaction() as s:
        s["widget_view"] = [
            [f"https://x.example/{n:03}/" + "f" * 280, "extended"] for n in range(40)
        ]
    toggle(client, NEWS, "extended")
    with client.session_transaction() as s:
        memory = s["widget_view"]
    assert memory[-1] == [NEWS, "extended"] and len(memory) < 10
    assert len(json.dumps(memory)) <= views.WIDGET_BYTES
    cookie = client.get_cookie("aggregator_session")
    assert cookie is not None and len(cookie.value) < 3000
