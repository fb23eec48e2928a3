"""Issue 9 in a real headless Chromium: the river and the widgets show site icons and
thumbnails, no heading is a bare « … », and no request leaves 127.0.0.1 except for
the fixture server (the app itself included, everything else is refused and listed).

The six real-shaped fixture feeds (tests/data/feeds/items-*.xml) are served by a
FeedServer on 127.0.0.1, their hosts rewritten to it; they go through the real CPU
stage and storage, and the site icon through aggregator.icons' guarded fetch.
Screenshots at 390x844 and 1366x768, light and dark, land in test-output/.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import CHROMIUM_ARGS, WATCH_CSP, require_browser
from feedserver import FeedServer
from test_items_icons import png
from websupport import ROOT

from aggregator import icons
from aggregator.update import _cpu
from aggregator.web import create_app, serve

pytestmark = pytest.mark.browser

FEEDS = Path(__file__).parent / "data" / "feeds"
OUTPUT = ROOT / "test-output"
TABS = {
    "Social": ["items-mastodon.xml", "items-bluesky.xml"],
    "Vidéo": ["items-youtube.xml", "items-reddit.xml"],
    "Lettres": ["items-substack.xml", "items-news.xml"],
}
_HOST = re.compile(r"https?://([a-z0-9.-]+\.(?:example|com|app|org))(?=/|\")")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("items-browser")
    with FeedServer() as fixtures:
        origin = fixtures.url("/").rstrip("/")
        lines = ["tabs:"]
        for tab, names in TABS.items():
            lines += [f"  - name: {tab}", "    feeds:"]
            for n in names:
                name = n.removeprefix("items-").removesuffix(".xml").capitalize()
                lines += [f"      - url: {origin}/feeds/{n}", f"        title: {name}"]
        (tmp / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        app = create_app(
            {
                "AGGREGATOR_CONFIG": str(tmp / "feeds.yaml"),
                "AGGREGATOR_DB": str(tmp / "agg.sqlite3"),
                "AGGREGATOR_SECRET_KEY": "browser-test",
                "AGGREGATOR_PASSWORD": None,
            }
        )
        st = app.extensions["aggregator"]
        now = datetime.now(UTC)
        st.storage.sync_feeds(st.config.feeds, now=now)
        picture = png(96, 72)
        for names in TABS.values():
            for name in names:
                # Every host of the feed becomes a folder of the fixture server, but
                # YouTube's: a link to a video is only followed by a click.
                body = _HOST.sub(
                    lambda m: (
                        m.group() if "youtube.com" in m.group(1) else f"{origin}/{m.group(1)}"
                    ),
                    (FEEDS / name).read_text(),
                )
                url = f"{origin}/feeds/{name}"
                feed = _cpu.process_body(url, body.encode(), {}, url, now, {})
                st.storage.upsert_entries(url, feed.entries, now=now)
                for e in feed.entries:
                    for src in [e.thumbnail or "", *(x.url for x in e.enclosures)]:
                        if src.startswith(origin):
                            fixtures.add(src[len(origin) :], picture,
                                         headers={"Content-Type": "image/png"})  # fmt: skip
        fixtures.add("/", b'<link rel="icon" href="/icon-32.png">',
                     headers={"Content-Type": "text/html"})  # fmt: skip
        fixtures.add("/icon-32.png", png(32, 32), headers={"Content-Type": "image/png"})
        with icons.icon_fetcher(allowed_networks=["127.0.0.1/32"]) as fetcher:
            found = icons.refresh_due(st.storage, fetcher, now=now)
        assert [o.error for o in found] == [None]
        server = serve(app, "127.0.0.1", 0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        OUTPUT.mkdir(exist_ok=True)
        try:
            yield {"base": f"http://127.0.0.1:{server.effective_port}/", "fixtures": origin}
        finally:
            server.close()
            thread.join(timeout=5)
            st.close()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(chromium, live, width: int, height: int, scheme: str):
    context = chromium.new_context(
        locale="fr-FR", viewport={"width": width, "height": height}, color_scheme=scheme
    )
    context.add_init_script(WATCH_CSP)
    allowed = (live["base"].rstrip("/"), live["fixtures"])
    context.requests, context.refused = [], []

    def route(r):
        url = r.request.url
        context.requests.append(url)
        if url.startswith(allowed):
            r.continue_()
        else:
            context.refused.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(8000)
    return context, page


def settle(page) -> None:
    """Scroll to the end and back (lazy images), then wait until every image is done."""
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function(
        "[...document.images].filter(i => i.loading !== 'lazy' || i.getBoundingClientRect()"
        ".top < innerHeight * 3).every(i => i.complete)"
    )
    page.evaluate("window.scrollTo(0, 0)")


def check_page(page) -> None:
    headings = page.locator("h1, h2, h3").all_inner_texts()
    assert headings and all(h.strip() not in ("", "…", "...") for h in headings), headings
    assert page.evaluate("window.__csp") == [], "a CSP violation"
    for img in page.locator("img").all():
        # Every picture that is not ours is lazy and sends no Referer.
        if not (img.get_attribute("src") or "").startswith("/"):
            assert img.get_attribute("referrerpolicy") == "no-referrer"


def extend_widgets(page) -> None:
    """Press every widget's « Vue étendue » button (compact is the default) and wait
    until each is pressed: the thumbnails come in place, without a reload."""
    from playwright.sync_api import expect

    buttons = page.locator(".widget-view[aria-pressed='false']")
    for _ in range(buttons.count()):
        button = buttons.first
        feed = button.locator("xpath=ancestor::section[1]").get_attribute("data-feed")
        button.click()
        widget = page.locator(f"section.widget[data-feed='{feed}']")
        expect(widget.locator(".widget-view")).to_have_attribute("aria-pressed", "true")


def test_river_and_widgets_show_icons_and_thumbnails(chromium, live):
    from playwright.sync_api import expect

    context, page = open_page(chromium, live, 1366, 768, "light")
    try:
        page.goto(live["base"])
        entries = page.locator("article.entry")
        expect(entries.first).to_be_visible()
        count = entries.count()
        assert count == 14  # the six fixture feeds
        expect(page.locator("article.entry .avatar-icon img")).to_have_count(count)
        thumbs = page.locator("article.entry .thumb img")
        assert thumbs.count() >= 6
        settle(page)
        loaded = page.evaluate(
            "[...document.querySelectorAll('.thumb img, .avatar-icon img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length"
        )
        assert loaded >= 7  # icons and thumbnails really drawn, not broken images
        # A YouTube thumbnail links to the video itself.
        expect(page.locator("article.entry .thumb[href*='watch?v=Vid3o00000A']")).to_have_count(1)
        # Titles made from the text are styled as such; none is « … ».
        assert page.locator("article.entry.derived").count() >= 4
        check_page(page)

        page.goto(live["base"] + "tab/Social?view=widgets")
        expect(page.locator("section.widget")).to_have_count(2)
        expect(page.locator(".widget-head .avatar-icon img")).to_have_count(2)
        expect(page.locator(".headline-thumb img")).to_have_count(0)  # compact by default
        extend_widgets(page)
        assert page.locator(".headline-thumb img").count() >= 1
        settle(page)
        check_page(page)

        page.goto(live["base"] + "tab/Lettres?view=widgets")
        extend_widgets(page)
        expect(page.locator(".headline-thumb img")).to_have_count(4)
        check_page(page)
        assert context.refused == [], context.refused
        assert any(u.startswith(live["fixtures"]) for u in context.requests)
    finally:
        context.close()


def test_screenshots_phone_and_laptop_light_and_dark(chromium, live):
    """test-output/items-{river,widgets}-{390,1366}-{light,dark}.png, looked at by a
    person; each page is also checked for « … » headings and outside requests."""
    context, page = open_page(chromium, live, 390, 844, "light")
    try:
        for width, height in [(390, 844), (1366, 768)]:
            page.set_viewport_size({"width": width, "height": height})
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                for name, path in [("river", ""), ("widgets", "tab/Social?view=widgets")]:
                    page.goto(live["base"] + path)
                    extend_widgets(page)  # once per context: the session remembers
                    settle(page)
                    check_page(page)
                    page.screenshot(path=str(OUTPUT / f"items-{name}-{width}-{scheme}.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        assert context.refused == [], context.refused
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_widget_view_button_shows_thumbnails_in_place(chromium, live, width, height):
    """« Vue étendue » on one widget: its thumbnails and snippets appear without a
    reload (a marker set on the page survives), the other widget stays compact, the
    choice survives a reload, and « Vue étendue » pressed again goes back to compact."""
    from playwright.sync_api import expect

    context, page = open_page(chromium, live, width, height, "light")
    try:
        page.goto(live["base"] + "tab/Lettres?view=widgets")
        widgets = page.locator("section.widget")
        expect(widgets).to_have_count(2)
        expect(page.locator(".headline-thumb img")).to_have_count(0)
        expect(page.locator(".headline-snippet")).to_have_count(0)
        page.screenshot(path=str(OUTPUT / f"widget-view-{width}-compact.png"))
        page.evaluate("window.__sameDocument = true")
        first = widgets.first
        button = first.locator(".widget-view")
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(button).to_have_accessible_name(re.compile("^Vue étendue"))
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(first.locator(".headline-thumb img").first).to_be_visible()
        shown = first.locator(".headline-thumb img").count()
        assert first.locator(".headline-snippet").count() >= 1
        expect(widgets.nth(1).locator(".headline-thumb img")).to_have_count(0)
        assert page.evaluate("window.__sameDocument") is True  # no reload
        assert page.evaluate("document.activeElement.className").find("widget-view") >= 0
        settle(page)
        check_page(page)
        page.screenshot(path=str(OUTPUT / f"widget-view-{width}-extended.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        page.reload()
        expect(first.locator(".widget-view")).to_have_attribute("aria-pressed", "true")
        expect(first.locator(".headline-thumb img")).to_have_count(shown)
        first.locator(".widget-view").click()
        expect(first.locator(".widget-view")).to_have_attribute("aria-pressed", "false")
        expect(page.locator(".headline-thumb img")).to_have_count(0)
        assert context.refused == [], context.refused
    finally:
        context.close()
