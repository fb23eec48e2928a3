"""What a person clicks and types, in a real headless Chromium (Debian's, driven by
Playwright), against the real app served by waitress on 127.0.0.1.

Also the security proof: entries whose HTML carried script / onerror / javascript:
payloads (sanitized as the pipeline does) and a raw title holding a <script> must not
run anything, and our own pages must not trip the Content-Security-Policy.
Screenshots of the river and the widgets land in test-output/ at the repo root.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, require_browser
from websupport import BLOG, NEWS, ROOT, TECH

from aggregator.models import Entry
from aggregator.sanitize import html_to_text, sanitize_html
from aggregator.web import create_app, serve

pytestmark = pytest.mark.browser

OUTPUT = ROOT / "test-output"

FEEDS_YAML = f"""\
tabs:
  - name: Actualités
    feeds:
      - url: {NEWS}
        title: Le Journal
      - url: {BLOG}
        title: Le Blog
  - name: Tech
    feeds:
      - url: {TECH}
        title: Tech Weekly
"""

HOSTILE_HTML = """
<p>Bonjour <b>lecteur</b> !</p>
<script>window.__pwned = "script"; alert("script")</script>
<img src="x.png" onerror="window.__pwned = 'onerror'; alert('onerror')">
<a href="javascript:window.__pwned='href';alert('href')">clic</a>
<svg onload="window.__pwned='svg'"><circle r="4"/></svg>
<iframe src="javascript:alert('iframe')"></iframe>
<form action="javascript:alert(1)"><button>go</button></form>
<p style="background:url(javascript:alert(1))" onclick="alert('click')">Fin.</p>
"""
RAW_TITLE = "<script>window.__pwned='title';alert('title')</script><img src=x onerror=alert(1)>"

# Records CSP violations before any page script runs.


def _entry(feed: str, n: int, published: datetime, base: str, **kw) -> Entry:
    html = kw.pop("html", f"<p>Contenu de l'article {n}, avec <em>été</em>.</p>")
    content = sanitize_html(html, base)
    fields = {
        "feed_url": feed,
        "guid": f"{feed}#{n}",
        "title": f"Article {n} de {feed.split('/')[2]}",
        "link": f"{base}static/favicon.svg",
        "author": "Ann",
        "published": published,
        "updated": None,
        "content_html": content,
        "summary": html_to_text(content, 300),
    }
    fields.update(kw)
    return Entry(**fields)


@contextmanager
def served(folder: Path) -> Iterator[tuple[Any, str]]:
    """The app over ``folder/feeds.yaml`` served by waitress on a free port, for the
    browser: yields its state (storage, config...) and its base URL."""
    app = create_app(
        {
            "AGGREGATOR_CONFIG": str(folder / "feeds.yaml"),
            "AGGREGATOR_DB": str(folder / "agg.sqlite3"),
            "AGGREGATOR_SECRET_KEY": "browser-test",
            "AGGREGATOR_PASSWORD": None,
        }
    )
    server = serve(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    st = app.extensions["aggregator"]
    OUTPUT.mkdir(exist_ok=True)
    try:
        yield st, f"http://127.0.0.1:{server.effective_port}/"
    finally:
        server.close()
        thread.join(timeout=5)
        st.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict]:
    require_browser()
    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "feeds.yaml").write_text(FEEDS_YAML, encoding="utf-8")
    with served(tmp) as (st, base):
        now = datetime.now(UTC)
        st.storage.sync_feeds(st.config.feeds, now=now)
        st.storage.upsert_entries(
            NEWS,
            [
                _entry(
                    NEWS, 1, now - timedelta(minutes=3), base, html=HOSTILE_HTML, title=RAW_TITLE
                ),
                _entry(NEWS, 2, now - timedelta(hours=2), base),
                _entry(NEWS, 3, now - timedelta(days=2), base),
            ],
            now=now,
        )
        st.storage.upsert_entries(
            BLOG,
            [_entry(BLOG, i, now - timedelta(hours=i * 5), base) for i in range(1, 4)],
            now=now,
        )
        st.storage.upsert_entries(
            TECH,
            [_entry(TECH, i, now - timedelta(hours=i * 3), base) for i in range(1, 3)],
            now=now,
        )
        yield {"base": base, "storage": st.storage}


def assert_nothing_ran(page) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.events["dialogs"] == []
    assert page.events["errors"] == []
    assert page.evaluate("window.__csp") == [], "a CSP violation"
    assert not [m for m in page.events["console"] if "Content Security Policy" in m]


def entry_id(live, feed: str, n: int) -> int:
    entries, _ = live["storage"].entries(feed_url=feed, limit=50)
    return next(e.id for e in entries if e.guid == f"{feed}#{n}")


def test_river_tabs_and_widgets(page, live):
    from playwright.sync_api import expect

    page.goto(live["base"])
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("article.entry")).to_have_count(8)
    expect(page.locator("[data-count-tab='']")).to_contain_text("8")
    page.screenshot(path=str(OUTPUT / "river.png"), full_page=True)
    page.get_by_role("link", name="Tech").first.click()
    expect(page).to_have_url(live["base"] + "tab/Tech")
    expect(page.locator("article.entry")).to_have_count(2)
    page.get_by_role("link", name="Widgets").click()
    expect(page.locator("section.widget")).to_have_count(1)
    page.goto(live["base"] + "tab/Actualit%C3%A9s?view=widgets")
    expect(page.locator("section.widget")).to_have_count(2)
    expect(page.locator(".headline")).to_have_count(6)
    page.screenshot(path=str(OUTPUT / "widgets.png"), full_page=True)
    page.goto(live["base"] + "tab/Actualit%C3%A9s")  # the choice is remembered
    expect(page.locator("section.widget")).to_have_count(2)
    page.get_by_role("link", name="Fil").click()
    expect(page.locator("article.entry")).to_have_count(6)
    assert_nothing_ran(page)


def test_keyboard_open_read_star(page, live):
    from playwright.sync_api import expect

    page.goto(live["base"] + "tab/Tech")
    items = page.locator("article.entry")
    page.keyboard.press("j")
    expect(items.nth(0)).to_have_class("entry unread current")
    page.keyboard.press("j")
    expect(items.nth(1)).to_have_class("entry unread current")
    page.keyboard.press("k")
    first = items.nth(0)
    expect(first).to_have_class("entry unread current")
    page.keyboard.press("o")  # opens inline and marks read
    expect(first.locator(".entry-body")).to_be_visible()
    expect(first.locator(".entry-body em")).to_have_text("été")
    expect(first).to_have_attribute("data-read", "1")
    expect(page.locator("[data-count-tab='Tech'] [data-count]")).to_have_text("1")
    with page.expect_response(lambda r: r.url.endswith("/star")):
        page.keyboard.press("s")
    expect(first).to_have_attribute("data-starred", "1")
    expect(first.locator(".btn-star")).to_have_attribute("aria-pressed", "true")
    count = page.locator("[data-count-tab='Tech'] [data-count]")
    page.keyboard.press("m")
    expect(first).to_have_attribute("data-read", "0")
    expect(count).to_have_text("2")  # updated from the server's answer
    with page.expect_response(lambda r: r.url.endswith("/read")):
        page.keyboard.press("m")
    expect(first).to_have_attribute("data-read", "1")
    expect(count).to_have_text("1")
    tech1 = live["storage"].entry(entry_id(live, TECH, 1))
    assert tech1.read and tech1.starred
    page.keyboard.press("Enter")  # closes it again
    expect(first.locator(".entry-body")).to_be_hidden()
    # a click on a title opens inline too
    second = items.nth(1)
    second.locator("[data-open]").click()
    expect(second.locator(".entry-body")).to_be_visible()
    expect(second).to_have_attribute("data-read", "1")
    # help overlay, then g 1 switches to the first tab
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("Article suivant")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.keyboard.press("g")
    page.keyboard.press("1")
    expect(page).to_have_url(live["base"] + "tab/Actualit%C3%A9s")
    assert_nothing_ran(page)


def test_search_from_the_keyboard(page, live):
    from playwright.sync_api import expect

    page.goto(live["base"])
    page.keyboard.press("/")
    expect(page.locator("#search-q")).to_be_focused()
    page.keyboard.type("ETE")
    page.keyboard.press("Enter")
    expect(page).to_have_url(live["base"] + "search?q=ETE")
    expect(page.locator("article.entry")).to_have_count(7)
    expect(page.locator("article.entry mark").first).to_have_text("été")
    assert_nothing_ran(page)


def test_entry_page_marks_read_and_hostile_content_stays_inert(page, live):
    from playwright.sync_api import expect

    hostile = entry_id(live, NEWS, 1)
    page.goto(live["base"])
    item = page.locator(f"#entry-{hostile}")
    # the raw title shows as text
    expect(item.locator(".entry-title")).to_have_text(RAW_TITLE)
    item.locator("[data-open]").click()
    expect(item.locator(".entry-body")).to_contain_text("Bonjour lecteur")
    expect(item.locator(".entry-body")).to_contain_text("Fin.")
    page.wait_for_load_state("networkidle")
    assert_nothing_ran(page)
    other = entry_id(live, BLOG, 2)
    with page.expect_response(lambda r: r.url.endswith(f"/entry/{other}/read")):
        page.goto(live["base"] + f"entry/{other}")  # app.js marks it read on load
    expect(page.locator("h1.entry-title")).to_have_text("Article 2 de blog.example.org")
    expect(page.locator("[data-open-page]")).to_have_attribute("data-read", "1")
    original = page.get_by_role("link", name="Lire l'original")
    expect(original).to_have_attribute("rel", "noopener noreferrer")
    expect(original).to_have_attribute("target", "_blank")
    assert live["storage"].entry(other).read
    page.goto(live["base"] + f"entry/{hostile}")
    expect(page.locator(".content")).to_contain_text("Bonjour lecteur")
    page.wait_for_load_state("networkidle")
    assert_nothing_ran(page)


def test_phone_layout_screenshot(browser, live):
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live["base"] + "feeds")
    page.screenshot(path=str(OUTPUT / "feeds-phone.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no horizontal scrolling on a phone"
    context.close()
    assert shutil.which("chromium") or Path(CHROMIUM).exists()


def test_more_articles_load_on_scroll_and_mark_all_read_undo(page, live):
    from playwright.sync_api import expect

    now = datetime.now(UTC)
    older = [
        _entry(TECH, 100 + i, now - timedelta(days=3, minutes=i), live["base"]) for i in range(55)
    ]
    live["storage"].upsert_entries(TECH, older, now=now)
    page.goto(live["base"] + "tab/Tech")
    items = page.locator("article.entry")
    expect(items).to_have_count(50)
    page.locator("[data-more]").scroll_into_view_if_needed()
    expect(items).to_have_count(57)  # the next page, appended in place
    expect(page.locator("[data-more]")).to_have_count(0)
    last = items.nth(56)
    last.locator("[data-open]").click()  # appended items work like the others
    expect(last.locator(".entry-body")).to_be_visible()
    expect(last).to_have_attribute("data-read", "1")
    page.get_by_role("button", name="Tout marquer comme lu").click()
    expect(page.locator(".flash")).to_contain_text("articles marqués comme lus")
    expect(page.locator("article.entry.unread")).to_have_count(0)
    page.get_by_role("button", name="Annuler").click()
    expect(page.locator(".flash")).to_contain_text("de nouveau non lus")
    assert live["storage"].unread_counts()["Tech"] > 50
    assert_nothing_ran(page)
