"""Issue 9: site icons -- found, fetched through the guarded client, checked, stored,
served from our own origin; bad icons refused with the reason on the status page.

A real HTTP server on 127.0.0.1 (tests/feedserver.py) plays the sites; the Fetcher
trusts only 127.0.0.1 (``allowed_networks``), so any other private address (a
redirect to 192.168.x.x) is refused by the guard as in production.
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from feedserver import FeedServer
from websupport import NEWS, entry, make_app, write_site

from aggregator import icons
from aggregator.models import FeedConfig
from aggregator.storage import Storage

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
TAB = "Actualités"  # a tab of websupport's feeds.yaml


def png(width: int = 16, height: int = 16) -> bytes:
    """A real PNG of ``width`` x ``height`` declared pixels (one row of data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    if width * height <= 256 * 256:  # a real picture: a grey gradient, row by row
        rows = (b"\x00" + bytes((x * 255 // width + y * 2) % 256 for x in range(width))
                for y in range(height))  # fmt: skip
        raw = zlib.compress(b"".join(rows))
    else:  # only declared (a decompression bomb's header): one row is enough
        raw = zlib.compress(b"\x00" + b"\x80" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


ICO = b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + b"\x00" * 64
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (SVG, "SVG"),
        (b"<svg onload=alert(1)>", "SVG"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "web page"),
        (b"GIF89a" + b"\x00" * 10 + b"MZ", None),
        (b"%PDF-1.4 not an image", "not an image"),
        (png(60_000, 60_000), "60000x60000"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (icons.ICON_MAX_BYTES + 1), "larger than"),
        (b"\x00\x00\x01\x00\x00\x00", "no image"),
    ],
)
def test_check_image_refuses_what_is_not_a_small_raster_image(data, reason):
    if reason is None:
        assert icons.check_image(data) == "image/gif"
        return
    with pytest.raises(icons.IconRefused, match=reason):
        icons.check_image(data)


def test_check_image_accepts_png_ico_jpeg_webp():
    assert icons.check_image(png()) == "image/png"
    assert icons.check_image(ICO) == "image/x-icon"
    assert icons.check_image(b"\xff\xd8\xff\xe0" + b"\x00" * 20) == "image/jpeg"
    assert icons.check_image(b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8) == "image/webp"


def test_icon_links_prefer_raster_and_a_useful_size():
    page = """<html><head><base href="/static/">
    <link rel="icon" type="image/svg+xml" href="logo.svg">
    <link rel="apple-touch-icon" sizes="180x180" href="apple.png">
    <link rel="shortcut icon" href="javascript:alert(1)">
    <link rel="icon" sizes="32x32" href="/fav-32.png">
    </head><body><link rel="icon" href="late.png"></body></html>"""
    assert icons.icon_links(page, "https://site.example/a/") == [
        "https://site.example/fav-32.png",
        "https://site.example/static/apple.png",
        "https://site.example/static/logo.svg",
    ]


@pytest.fixture(scope="module")
def server():
    with FeedServer() as s:
        yield s


@pytest.fixture
def fetcher(server):
    # Every *.test host is this server; only 127.0.0.1 is trusted among private
    # addresses, so a redirect elsewhere inside the network is refused.
    with icons.icon_fetcher(
        allowed_networks=["127.0.0.1/32"],
        resolve=lambda host, port: ("127.0.0.1", server.port),
        timeout=1.0,
        read_timeout=1.0,
    ) as f:
        yield f


def find(fetcher, site: str, page: str | None = None) -> icons.Outcome:
    return icons.find_icon(fetcher, site, page_url=page, now=NOW)


def test_an_icon_linked_from_the_page_is_found_and_checked(server, fetcher):
    server.add("/good/", b'<html><head><link rel="icon" href="/good/icon.png"></head></html>',
               headers={"Content-Type": "text/html"})  # fmt: skip
    server.add("/good/icon.png", png(), headers={"Content-Type": "image/png"})
    outcome = find(fetcher, "http://good.test", "http://good.test/good/")
    assert outcome.error is None and outcome.icon is not None
    assert outcome.icon.mime == "image/png" and outcome.icon.data == png()


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        # SVG with script linked from the page, and a favicon.ico that is a web page.
        ({"/s/": b'<link rel="icon" href="/s/i.svg">', "/s/i.svg": SVG,
          "/favicon.ico": b"<!doctype html><p>404</p>"}, "SVG icons are not shown"),
        ({"/favicon.ico": b"\x89PNG\r\n\x1a\n" + b"\x00" * 700_000}, "larger than 512 KB"),
        ({"/favicon.ico": b"just text"}, "not an image"),
    ],
)  # fmt: skip
def test_bad_icons_are_refused_with_the_reason(server, fetcher, setup, reason):
    for path, body in setup.items():
        server.add(path, body, headers={"Content-Type": "image/png"})
    outcome = find(fetcher, "http://bad.test", "http://bad.test/s/")
    assert outcome.icon is None
    assert reason in outcome.error


def test_a_redirect_to_a_private_address_is_refused(server, fetcher):
    server.add("/favicon.ico", b"", status=302,
               headers={"Location": "http://192.168.1.20/favicon.ico"})  # fmt: skip
    outcome = find(fetcher, "http://redirect.test", "http://redirect.test/nothing-here")
    assert outcome.icon is None
    assert "192.168.1.20" in outcome.error or "private" in outcome.error.lower()


def test_a_hanging_site_costs_one_timeout_and_is_left_alone(server, fetcher):
    before = len(server.requests)
    outcome = find(fetcher, "http://hang.test", "http://hang.test/slow/5/none.html")
    assert outcome.icon is None and "took too long to answer" in outcome.error
    # The page timed out: favicon.ico and the rest were not asked for.
    asked = [r.path for r in server.requests[before:]]
    assert "/favicon.ico" not in asked


def test_refresh_stores_icons_and_reasons_and_the_dashboard_serves_them(tmp_path, server):
    site = write_site(tmp_path)
    app = make_app(site)
    storage: Storage = app.extensions["aggregator"].storage
    storage.sync_feeds([FeedConfig("http://good.test/feed.xml", TAB),
                        FeedConfig("http://bad.test/feed.xml", TAB),
                        FeedConfig(NEWS, TAB)], now=NOW)  # fmt: skip
    server.add("/good/icon.png", png(), headers={"Content-Type": "image/png"})
    server.add("/favicon.ico", SVG, headers={"Content-Type": "image/svg+xml"})
    with icons.icon_fetcher(
        allowed_networks=["127.0.0.1/32"],
        resolve=lambda host, port: ("127.0.0.1", server.port),
        timeout=1.0,
    ) as fetcher:
        # Sites never looked at come in name order: bad.test first, whose page links
        # no icon and whose favicon.ico is an SVG; then good.test, whose page links a PNG.
        server.add("/", b"<p>no icon here</p>", headers={"Content-Type": "text/html"})
        first = icons.refresh_due(storage, fetcher, now=NOW, limit=1)
        server.add("/", b'<link rel="icon" href="/good/icon.png">',
                   headers={"Content-Type": "text/html"})  # fmt: skip
        second = icons.refresh_due(storage, fetcher, now=NOW, limit=5)
    done = {o.site: o for o in first + second}
    assert done["http://good.test"].icon is not None
    assert "SVG" in done["http://bad.test"].error
    # Nothing is due again before a week has passed.
    assert storage.icon_sites_due(now=NOW + timedelta(days=6), older_than=icons.REFRESH,
                                  limit=10) == []  # fmt: skip
    assert len(storage.icon_sites_due(now=NOW + timedelta(days=8), older_than=icons.REFRESH,
                                      limit=10)) == 3  # fmt: skip

    storage.upsert_entries(
        "http://good.test/feed.xml", [entry("http://good.test/feed.xml", 1, NOW)], now=NOW
    )
    client = app.test_client()
    digest = storage.feed_icons()["http://good.test/feed.xml"]
    r = client.get(f"/icons/{digest}")
    assert r.status_code == 200 and r.data == png() and r.mimetype == "image/png"
    assert "max-age=31536000" in r.headers["Cache-Control"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/icons/0123abcd").status_code == 404
    river = client.get("/").get_data(as_text=True)
    assert f'<img src="/icons/{digest}"' in river
    widgets = client.get(f"/tab/{TAB}?view=widgets").get_data(as_text=True)
    assert f'<img src="/icons/{digest}"' in widgets
    status = client.get("/feeds").get_data(as_text=True)
    assert "Pas d&#39;icône de site" in status and "SVG icons are not shown" in status


# --- the feed's own picture of itself: the last source -----------------------------------

RSS_WITH_IMAGE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Lettre</title><link>{site}/</link>
<image><url>pics/logo.png</url><title>Lettre</title><link>{site}/</link></image>
<item><title>Un</title><link>{site}/1</link><guid>1</guid></item>
</channel></rss>"""


def test_the_feeds_own_image_is_the_icon_when_the_site_has_none(tmp_path):
    """A site whose page links no icon and has no /favicon.ico still gets one when
    its feed carries its own picture (RSS <image>, resolved against the feed's URL):
    parsed, kept with the feed, then tried last by the icon refresh."""
    from aggregator.models import Settings
    from aggregator.update import Updater

    with FeedServer() as srv:
        site = srv.url("").rstrip("/")
        srv.add("/", b"<p>no icon here</p>", headers={"Content-Type": "text/html"})
        srv.add("/feed.xml", RSS_WITH_IMAGE.replace(b"{site}", site.encode()))
        srv.add("/pics/logo.png", png(32, 32), headers={"Content-Type": "image/png"})
        storage = Storage(tmp_path / "db.sqlite3")
        try:
            storage.sync_feeds([FeedConfig(f"{site}/feed.xml", TAB)], now=NOW)
            updater = Updater(storage, Settings(allow_private_networks=True), processes=0)
            try:
                assert updater.update(storage.feeds(), now=NOW).count("ok") == 1
            finally:
                updater.close()
            due = storage.icon_sites_due(now=NOW, older_than=icons.REFRESH, limit=5)
            assert due == [(site, f"{site}/", (f"{site}/pics/logo.png",))]
            with icons.icon_fetcher(allowed_networks=["127.0.0.1/32"], timeout=2.0) as fetcher:
                (outcome,) = icons.refresh_due(storage, fetcher, now=NOW)
            assert outcome.error is None and outcome.icon is not None
            assert outcome.icon.url == f"{site}/pics/logo.png"
            assert outcome.icon.data == png(32, 32)
            assert f"{site}/feed.xml" in storage.feed_icons()
        finally:
            storage.close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><icon>/i.png</icon>'
         b"<logo>https://cdn.example/logo.png</logo></feed>",
         ("https://site.example/i.png", "https://cdn.example/logo.png")),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [],'
         b' "icon": "big.png", "favicon": "https://site.example/fav.png"}',
         ("https://site.example/fav.png", "https://site.example/feeds/big.png")),
        (b'<rss version="2.0"><channel><title>R</title><image><url>javascript:alert(1)</url>'
         b"</image></channel></rss>", ()),
    ],
)  # fmt: skip
def test_feed_pictures_are_read_smallest_first_and_made_absolute(body, expected):
    from aggregator.update import process_body

    url = "https://site.example/feeds/x"
    processed = process_body(url, body, {}, url, NOW, {})
    assert processed.icons == expected
