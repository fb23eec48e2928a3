"""Site icons: found once per site, fetched with the guarded client, checked, kept.

For each site (``scheme://host[:port]`` of a feed's home page, else of the feed) this
module finds candidate icons -- the ``<link rel="icon">`` variants of the site's page,
``/favicon.ico``, then the feed's own ``<image>``/``<icon>`` -- and keeps the first one
that passes every check:

* fetched through ``aggregator.fetch.Fetcher`` like a feed: private addresses refused
  (also after a redirect), a whole-fetch deadline (a server that hangs costs at most
  ``ICON_TIMEOUT`` seconds), a size cap (``ICON_MAX_BYTES``; the page itself
  ``PAGE_MAX_BYTES``);
* an image by its first bytes, not by what the server says: PNG, GIF, JPEG, WebP or
  ICO. SVG is refused outright: it is a document that can hold script, and
  sanitizing it strictly is more code than a fallback letter is worth;
* not absurd: at most ``MAX_SIDE`` pixels a side (a 1x1 GIF declaring 60,000 x 60,000
  pixels is a decompression bomb for whoever draws it).

What is kept is stored in SQLite (``site_icons``, migration 7) and served from our
own origin (``/icons/<digest>``, long cache headers): no page ever makes a request
to a feed's site for an icon. When nothing passes, the reason is stored and shown on
the status page, and the dashboard keeps its coloured letter. Every site is looked at
again after ``REFRESH`` (weekly).

This module does no SQL and no HTTP of its own: storage and fetch do; the worker
(``update.Worker``) calls ``refresh_due`` a few sites at a time.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from aggregator.errors import AggregatorError
from aggregator.fetch import Fetcher
from aggregator.storage._icons import site_of

__all__ = ["Icon", "IconRefused", "Outcome", "check_image", "find_icon", "refresh_due", "site_of"]

log = logging.getLogger(__name__)

ICON_MAX_BYTES = 100 * 1024
PAGE_MAX_BYTES = 512 * 1024
ICON_TIMEOUT = 5.0  # seconds for a whole fetch (page or icon)
MAX_SIDE = 1024
REFRESH = timedelta(days=7)
MAX_CANDIDATES = 6
PER_TICK = 2  # sites looked at per worker tick: a tick must stay short

_MIME = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x00\x00\x01\x00": "image/x-icon",
}


class IconRefused(AggregatorError):
    """This candidate is not an icon we show; ``str()`` says why, in English."""


@dataclass(frozen=True)
class Icon:
    url: str
    mime: str
    data: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32]


@dataclass(frozen=True)
class Outcome:
    """What looking for a site's icon gave: an icon, or the reason there is none."""

    site: str
    icon: Icon | None
    error: str | None


# --- checks -----------------------------------------------------------------------------


def check_image(data: bytes) -> str:
    """The MIME type of an icon we accept, from its bytes; raises IconRefused."""
    if not data:
        raise IconRefused("the icon is empty")
    if len(data) > ICON_MAX_BYTES:
        raise IconRefused(f"the icon is larger than {ICON_MAX_BYTES // 1024} KB")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
        raise IconRefused("SVG icons are not shown (an SVG file can carry script)")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    mime = next((m for magic, m in _MIME.items() if data.startswith(magic)), None)
    if mime is None:
        if head.startswith((b"<!doctype", b"<html", b"<")):
            raise IconRefused("the address returned a web page, not an image")
        raise IconRefused("the file is not an image (PNG, GIF, JPEG, WebP or ICO)")
    width, height = _size(data, mime)
    if width > MAX_SIDE or height > MAX_SIDE:
        raise IconRefused(f"the image is {width}x{height} pixels, more than {MAX_SIDE} a side")
    return mime


def _size(data: bytes, mime: str) -> tuple[int, int]:
    """Width and height as the file declares them (0 when it cannot be read cheaply)."""
    try:
        if mime == "image/png" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if mime == "image/gif":
            return struct.unpack("<HH", data[6:10])
        if mime == "image/x-icon":
            count = struct.unpack("<H", data[4:6])[0]
            if count == 0:
                raise IconRefused("the icon file holds no image")
            # 0 means 256 in an ICONDIR entry; the biggest entry is what counts.
            sides = [
                (data[6 + 16 * i] or 256, data[7 + 16 * i] or 256) for i in range(min(count, 64))
            ]
            return max(w for w, _ in sides), max(h for _, h in sides)
    except (struct.error, IndexError):
        raise IconRefused("the image file is truncated") from None
    return 0, 0


# --- discovery ---------------------------------------------------------------------------


def _is_icon_rel(rel: str) -> bool:
    """rel="icon", "shortcut icon", "apple-touch-icon", "mask-icon"..."""
    return any(t == "icon" or t.endswith("-icon") for t in rel.lower().split())


class _IconLinks(HTMLParser):
    """``<link rel="... icon ...">`` elements of a page's head, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []  # (href, type, sizes)
        self.base: str | None = None
        self.done = False

    def handle_starttag(self, tag, attrs):
        if self.done:
            return
        a = {k: (v or "") for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "link" and _is_icon_rel(a.get("rel", "")) and a.get("href"):
            self.found.append((a["href"], a.get("type", "").lower(), a.get("sizes", "")))
        elif tag == "body":
            self.done = True


def icon_links(page_html: str, page_url: str) -> list[str]:
    """Icon URLs a page declares, best first: raster before SVG (which we refuse),
    sizes near 32-64 px first, absolute."""
    parser = _IconLinks()
    try:
        parser.feed(page_html[:PAGE_MAX_BYTES])
        parser.close()
    except Exception as e:  # html.parser raises on some odd markup; the page is optional
        log.debug("%s: reading the page for icons failed: %s", page_url, e)
    base = urljoin(page_url, parser.base) if parser.base else page_url

    def rank(item: tuple[int, tuple[str, str, str]]) -> tuple[int, int, int]:
        order, (href, mime, sizes) = item
        svg = "svg" in mime or href.lower().split("?")[0].endswith(".svg")
        side = 0
        for size in sizes.lower().split():
            w, _, _ = size.partition("x")
            if w.isdigit():
                side = max(side, int(w))
        distance = abs(side - 48) if side else 40
        return (1 if svg else 0, distance, order)

    ranked = sorted(enumerate(parser.found), key=rank)
    urls = []
    for _, (href, _, _) in ranked:
        try:
            url = urljoin(base, href.strip())
        except ValueError:
            continue
        if urlsplit(url).scheme in ("http", "https") and url not in urls:
            urls.append(url)
    return urls


def find_icon(
    fetcher: Fetcher, site: str, *, page_url: str | None, feed_icons: tuple[str, ...] = (),
    now: datetime,
) -> Outcome:  # fmt: skip
    """Look for ``site``'s icon (see the module docstring); never raises for a
    problem of the site: the Outcome says what went wrong."""
    candidates: list[str] = []
    page = page_url or site + "/"
    try:
        result = fetcher.fetch(page, now=now)
        if result.body:
            text = result.body[:PAGE_MAX_BYTES].decode("utf-8", "replace")
            candidates += icon_links(text, result.final_url)
    except AggregatorError as e:
        log.debug("%s: no page to read icons from: %s", site, e)
        if getattr(e, "code", None) == "timeout":
            return Outcome(site, None, f"{page}: {e}")  # a site that hangs is left alone
    candidates.append(site + "/favicon.ico")
    candidates += [u for u in feed_icons if u]
    reasons: list[str] = []
    seen: set[str] = set()
    hanging: set[str] = set()  # hosts that timed out: not asked again this time
    for url in candidates:
        host = urlsplit(url).netloc
        if url in seen or len(seen) == MAX_CANDIDATES or host in hanging:
            continue
        seen.add(url)
        try:
            result = fetcher.fetch(url, now=now)
            data = result.body or b""
            mime = check_image(data)
        except AggregatorError as e:
            code = getattr(e, "code", None)
            if code == "timeout":
                hanging.add(host)
            if code == "too_large":  # the fetch's own words speak of feeds.yaml
                e = IconRefused(f"the file is larger than {PAGE_MAX_BYTES // 1024} KB")
            reasons.append(f"{url}: {e}")
            continue
        return Outcome(site, Icon(url=result.final_url, mime=mime, data=data), None)
    return Outcome(site, None, "; ".join(reasons) or "no icon found")


def icon_fetcher(*, allow_private_networks: bool = False, **options: Any) -> Fetcher:
    """A Fetcher with the icons' own caps (size, deadline), otherwise like the feeds'."""
    options.setdefault("timeout", ICON_TIMEOUT)
    options.setdefault("read_timeout", ICON_TIMEOUT)
    options.setdefault("connect_timeout", min(ICON_TIMEOUT, 5.0))
    return Fetcher(
        max_size=PAGE_MAX_BYTES, allow_private_networks=allow_private_networks, **options
    )


def refresh_due(
    storage, fetcher: Fetcher, *, now: datetime, limit: int = PER_TICK
) -> list[Outcome]:
    """Look for the icons of up to ``limit`` sites that have none yet or were last
    looked at more than REFRESH ago, and store what was found (or why not). One
    site's failure never stops the others."""
    outcomes = []
    for site, page_url, feed_icons in storage.icon_sites_due(
        now=now, older_than=REFRESH, limit=limit
    ):
        try:
            outcome = find_icon(fetcher, site, page_url=page_url, feed_icons=feed_icons, now=now)
        except Exception as e:  # a bug here must not stop the worker's tick
            log.warning("%s: looking for its icon failed", site, exc_info=True)
            outcome = Outcome(site, None, f"looking for the icon failed ({type(e).__name__})")
        storage.save_icon(outcome.site, outcome.icon, outcome.error, now=now)
        outcomes.append(outcome)
    return outcomes
