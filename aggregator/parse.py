"""Feed parsing: response bytes + headers -> models.ParsedFeed.

This module owns reading RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 (through feedparser, or
for well-formed RSS 1.0/2.0 and Atom 1.0 through ``fastfeed``, which gives the same
values for a fraction of the CPU and hands anything unusual back to feedparser) and
JSON Feed 1.0/1.1 (by hand: released feedparser does not read it), and turning what
they contain into plain, bounded values: text without control characters, aware UTC
datetimes or None, absolute links, a stable guid per entry. It does NOT sanitize
HTML (``sanitize`` does, later) and never touches the network or the file system:
feedparser only ever sees an in-memory stream (``feedparser.parse(str)`` would open a
URL or a local file of that name).

One bad entry never drops the others; a body that holds no feed at all raises
``errors.ParseError`` with code ``not_a_feed`` and a sentence saying what to do.
"""

from __future__ import annotations

import calendar
import codecs
import functools
import hashlib
import html
import io
import json
import logging
import os
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.mixin

from . import fastfeed
from .errors import ParseError
from .models import Enclosure, ParsedEntry, ParsedFeed
from .plainurl import PLAIN_ABSOLUTE

log = logging.getLogger(__name__)

# False (or AGGREGATOR_NO_FAST_PARSE=1): every RSS/Atom document goes through feedparser.
FAST_PATH = os.environ.get(fastfeed.ENV_SWITCH, "") not in ("1", "true", "yes")
MAX_ENTRIES = 500  # per fetch; the first ones in document order are kept
MAX_FEED_ICONS = 3  # a feed's own pictures kept as icon candidates
MAX_ENCLOSURES = 20
MAX_THUMBNAILS = 5
# Enclosure types that are not something a person can open: YouTube lists its old
# Flash player (application/x-shockwave-flash) as media:content of every video, and
# some generators list the item's own page.
_JUNK_ENCLOSURE_TYPES = ("application/x-shockwave-flash", "text/html", "application/xhtml+xml")
MAX_FIELD = {
    "title": 1000,  # characters of plain text
    "author": 200,
    "link": 2048,  # longer URLs are dropped, not truncated (a cut URL is a wrong URL)
    "guid": 2048,  # longer ids are replaced by their hash
    "html": 1_000_000,  # content_html and summary_html each
}
MIN_YEAR, MAX_YEAR = 1970, 2100  # outside: a placeholder (0000-00-00) or a typo

JSON_FEED_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}

# C0 controls except tab/LF/CR, DEL, C1 controls, lone surrogates (SQLite cannot
# store them as UTF-8), noncharacters.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# The same C0 controls as bytes; ESC (0x1b) stays, ISO-2022-JP needs it.
_BAD_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
# Encodings servers and templates declare by default whatever the bytes are.
_LATIN_DEFAULTS = {"iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252", "us-ascii", "ascii"}
_CHAR_REF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")


def parse_feed(
    body: bytes, *, url: str, headers: dict[str, str] | None = None, now: datetime
) -> ParsedFeed:
    """Parse a fetched body. ``url`` is the final URL (after redirects): the base for
    relative links. ``headers`` are the response headers (any case).

    ``now`` is the fetch time; dates are only checked against fixed bounds here
    (future dates are kept: the orchestrator clamps them with its own rules).
    """
    del now  # part of the contract so date rules can depend on it; none do yet
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    mime = headers.get("content-type", "").split(";")[0].strip().lower()
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError(url, "not_a_feed", "the address returned an empty response, not a feed")
    # The body decides over the content type, which lies in both directions.
    json_type = mime in ("application/feed+json", "application/json")
    if stripped[:1] == b"{" or (json_type and stripped[:1] != b"<"):
        return _parse_json_feed(body, url)
    return _parse_xml_feed(body, url, headers, mime)


# --- RSS and Atom (feedparser) ------------------------------------------------------


def _memoized(join: Any) -> Any:
    """``join`` with a small cache, for string arguments only.

    feedparser recomputes the base URI at EVERY start tag: ``make_safe_absolute_uri
    (self.baseuri, baseuri)``, a ``urljoin`` of the base with itself nearly always
    (feedparser/mixin.py, ``unknown_starttag``), about 8 % of the CPU of reading a
    feed. Both functions are pure functions of their strings (a fixed scheme list,
    ``urllib.parse.urljoin``), so a cache returns the very same values.
    """
    cached = functools.lru_cache(maxsize=2048)(join)

    @functools.wraps(join)
    def wrapper(*args: Any) -> Any:
        if all(a is None or type(a) is str for a in args):
            return cached(*args)
        return join(*args)

    wrapper.uncached = join  # type: ignore[attr-defined]
    return wrapper


# Patched where the parser looks them up (module globals of feedparser.mixin), once.
if not hasattr(feedparser.mixin.make_safe_absolute_uri, "uncached"):
    feedparser.mixin.make_safe_absolute_uri = _memoized(feedparser.mixin.make_safe_absolute_uri)
    feedparser.mixin._urljoin = _memoized(feedparser.mixin._urljoin)


def _parse_xml_feed(body: bytes, url: str, headers: dict[str, str], mime: str) -> ParsedFeed:
    warnings: list[str] = []
    if not _is_utf16_or_32(body):
        cleaned = body.translate(None, _BAD_BYTES)
        if len(cleaned) != len(body):
            warnings.append("the feed contains control characters XML forbids; they were removed")
            body = cleaned
    charset, declared = _sniff_charset(body, headers)
    if charset and declared and not _same(charset, declared):
        warnings.append(f"the feed declares the {declared} encoding but is actually {charset}")
    # feedparser trusts text/* content types to mean us-ascii (RFC 3023) and flags
    # every non-XML type: servers lie about both, so it gets our own verdict instead.
    fp_headers = {
        "content-type": f"application/xml; charset={charset}" if charset else "application/xml",
        # No URL is given to feedparser, so Content-Location is its base URI for
        # relative links (RSS has no xml:base) -- see feedparser.api.parse().
        "content-location": url,
    }
    if "content-language" in headers:
        fp_headers["content-language"] = headers["content-language"]
    # Both off: bleach in sanitize.py is the single sanitizer, and it resolves relative
    # URLs in HTML against ParsedEntry.base_url (feedparser's xml:base-aware base).
    # feedparser's own resolver would re-serialize every HTML field and joins URLs
    # without decoding entities ("jav&#x09;ascript:" became a path on the site).
    # Well-formed RSS 2.0 / RSS 1.0 / Atom 1.0 first goes through fastfeed, which gives
    # the very values feedparser would (tests/test_fastfeed.py) or None when unsure.
    d = fastfeed.read(body, fp_headers) if FAST_PATH else None
    if d is None:
        try:
            d = feedparser.parse(
                io.BytesIO(body),
                response_headers=fp_headers,
                resolve_relative_uris=False,
                sanitize_html=False,
            )
        except Exception as e:  # feedparser recovers from nearly everything; never crash
            log.warning("%s: feedparser failed", url, exc_info=True)
            raise ParseError(url, "not_a_feed", f"the feed could not be read ({e})") from e
    feed = d.get("feed") or {}
    version = d.get("version") or ""
    if not version and not d.get("entries"):
        raise ParseError(url, "not_a_feed", _not_a_feed_message(body, mime, feed, url))
    if d.get("bozo") and d.get("bozo_exception") is not None:
        warnings.append(_bozo_message(d["bozo_exception"]))
    kind = version or "unknown"
    inherit_author = kind.startswith("atom") and _author(feed)
    entries: list[ParsedEntry] = []
    skipped = 0
    for raw in d["entries"][:MAX_ENTRIES]:
        try:
            entries.append(_xml_entry(raw, kind, url, inherit_author or None))
        except Exception:  # one malformed entry must not cost the feed its other entries
            log.warning("%s: skipped an entry that could not be read", url, exc_info=True)
            skipped += 1
    if skipped:
        warnings.append(f"{_count(skipped, 'entry', 'entries')} could not be read and skipped")
    return _finish(
        title=_plain(feed.get("title"), _content_type(feed.get("title_detail"))),
        link=_link(feed.get("link"), url),
        kind=kind,
        entries=entries,
        warnings=warnings,
        # Atom's <icon> is the small square one; <logo> and RSS's <image> come after.
        icons=(
            _str(feed.get("icon")),
            _str((feed.get("image") or {}).get("href")),
            _str(feed.get("logo")),
        ),
    )


def _xml_entry(raw: Any, kind: str, feed_url: str, feed_author: str | None) -> ParsedEntry:
    summary = raw.get("summary_detail") or (
        {"value": raw["summary"], "type": "text/html"} if raw.get("summary") else None
    )
    contents = raw.get("content") or []
    if not kind.startswith("atom") and summary:
        # feedparser files a second summary-like element (itunes:summary,
        # media:description) under "content" as text/plain when a summary exists:
        # that is an alt text or a duplicate, not the article. Real RSS content
        # (content:encoded) is typed as HTML.
        contents = [c for c in contents if _content_type(c) in _HTML_TYPES]
    content = max(
        contents,
        key=lambda c: (_content_type(c) in _HTML_TYPES, len(c.get("value") or "")),
        default=None,
    )
    base = next(
        (
            b
            for b in ((content or {}).get("base"), (summary or {}).get("base"))
            if b and urlsplit(b).scheme in ("http", "https")
        ),
        feed_url,
    )
    content_html = _as_html(content)
    summary_html = _as_html(summary)
    if content_html == summary_html:
        summary_html = ""  # feedparser fills both from one <content> in some formats
    title = _plain(raw.get("title"), _content_type(raw.get("title_detail")))
    link = _entry_link(raw, kind, feed_url)
    published = _struct_date(raw.get("published_parsed")) or _struct_date(raw.get("created_parsed"))
    # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed with a
    # DeprecationWarning (feedparser issue 310); we want the real value or None.
    updated = _struct_date(dict.get(raw, "updated_parsed"))
    enclosures = _enclosures(
        [(e.get("href"), e.get("type"), e.get("length")) for e in raw.get("enclosures") or []]
        + [
            (m.get("url"), m.get("type") or _medium_type(m), m.get("filesize"))
            for m in raw.get("media_content") or []
        ],
        base,
    )
    thumbnails = _thumbnails(
        [t.get("url") for t in raw.get("media_thumbnail") or [] if isinstance(t, dict)]
        + [
            m.get("url")
            for m in raw.get("media_content") or []
            if isinstance(m, dict) and _is_image(m.get("type") or _medium_type(m))
        ]
        + [x.url for x in enclosures if _is_image(x.type)],
        base,
    )
    return ParsedEntry(
        guid=_guid(raw.get("id"), link, title, content_html or summary_html),
        title=title,
        link=link,
        author=_author(raw) or feed_author,
        # Atom requires only <updated>; it is the best publication date we have then.
        published=published or updated,
        updated=updated,
        content_html=content_html,
        summary_html=summary_html,
        base_url=base,
        enclosures=enclosures,
        thumbnails=thumbnails,
    )


def _medium_type(media: Any) -> str | None:
    """media:content's medium="image" (Mastodon) when it gives no MIME type."""
    medium = media.get("medium") if isinstance(media, dict) else None
    return f"{medium}/*" if medium in ("image", "audio", "video") else None


def _is_image(mime: str | None) -> bool:
    return bool(mime) and mime.lower().startswith("image/")  # type: ignore[union-attr]


def _thumbnails(candidates: list[Any], base: str) -> tuple[str, ...]:
    found: list[str] = []
    for href in candidates:
        if not isinstance(href, str):
            continue
        # data: URLs are kept whole (the CPU stage keeps only small raster ones).
        url = href.strip() if href.strip().lower().startswith("data:") else _link(href, base)
        if url and url not in found:
            found.append(url)
        if len(found) == MAX_THUMBNAILS:
            break
    return tuple(found)


def _content_type(detail: Any) -> str:
    return ((detail or {}).get("type") or "text/html").lower()


def _as_html(detail: Any) -> str:
    """A feedparser content dict as HTML: plain text is escaped, not trusted."""
    if not detail or not detail.get("value"):
        return ""
    value = detail["value"]
    if _content_type(detail) not in _HTML_TYPES:
        value = _text_to_html(value)
    elif "<" not in value and "\n" in value.strip():
        # "HTML" without a single tag but with line breaks is plain text in disguise
        # (feedparser types media:description and most RSS descriptions as HTML):
        # keep its entities, but make its line breaks visible.
        value = _text_to_html(value, escape=False)
    return _clean_text(value)[: MAX_FIELD["html"]]


def _entry_link(raw: Any, kind: str, base: str) -> str | None:
    for link in raw.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return _link(link["href"], base)
    if kind.startswith("atom"):
        # feedparser copies <id> to "link" as if it were an RSS permalink guid; an Atom
        # id is a name (often urn:uuid:...), not an address (RFC 4287, 4.2.6).
        return None
    return _link(raw.get("link"), base)


def _author(d: Any) -> str | None:
    detail = d.get("author_detail") or {}
    name = detail.get("name") or detail.get("email") or d.get("author")
    return _one_line(name, MAX_FIELD["author"])


def _struct_date(value: time.struct_time | None) -> datetime | None:
    """feedparser's *_parsed values are UTC struct_times (possibly absurd ones)."""
    if not value or not MIN_YEAR <= value.tm_year <= MAX_YEAR:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _bozo_message(exc: BaseException) -> str:
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return f"wrong character encoding: {exc}"
    line = getattr(exc, "getLineNumber", lambda: None)()
    where = f" (line {line})" if line else ""
    reason = getattr(exc, "getMessage", lambda: str(exc))()
    return f"the feed is not well-formed XML{where}: {reason}; it was read leniently and may be incomplete"


def _not_a_feed_message(body: bytes, mime: str, feed: Any, url: str) -> str:
    head = body[:2048].lstrip().lower()
    if mime in _HTML_TYPES or head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        # feedparser reads <link rel="alternate"> of an HTML page into feed.links.
        for link in feed.get("links") or []:
            if link.get("type") in _FEED_LINK_TYPES and link.get("href"):
                return (
                    "the address returned an HTML page, not a feed; that page links to a "
                    f"feed at {_link(link['href'], url)}: use that address instead"
                )
        return (
            "the address returned an HTML page, not a feed; look for the RSS/Atom link on that page"
        )
    return (
        "the address did not return an RSS, Atom or JSON feed"
        + (f" (it returned {mime})" if mime else "")
        + "; check the address"
    )


def _is_utf16_or_32(body: bytes) -> bool:
    return body[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or body[:4] in (
        b"\x00\x00\x00<",
        b"<\x00\x00\x00",
        b"\x00<\x00?",
        b"<\x00?\x00",
    )


def _sniff_charset(body: bytes, headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(charset to decode with, charset the feed declared). None: let feedparser decide
    (BOMs, UTF-16/32, EBCDIC).

    Precedence is HTTP charset, then the XML declaration (RFC 7303), with one override
    learnt the hard way: valid UTF-8 with non-ASCII bytes that claims a Latin default
    is UTF-8 (real Latin-1 text almost never forms valid UTF-8 sequences).
    """
    if _is_utf16_or_32(body) or body[:3] == codecs.BOM_UTF8 or body[:4] == b"\x4c\x6f\xa7\x94":
        return None, None
    http_charset = None
    for param in headers.get("content-type", "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            http_charset = value.strip().strip("\"'").lower() or None
    match = _XML_ENCODING.match(body.lstrip()[:200])
    xml_charset = match.group(1).decode("ascii").lower() if match else None
    declared = next((c for c in (http_charset, xml_charset) if c and _known(c)), None)
    trust_utf8 = declared is None or declared in _LATIN_DEFAULTS or _same(declared, "utf-8")
    if trust_utf8 and not body.isascii() and _decodes(body, "utf-8"):
        return "utf-8", declared
    for candidate in (declared, xml_charset, "utf-8", "windows-1252"):
        # Without a BOM the body is laid out one byte per ASCII character, so a
        # UTF-16/32 label is wrong -- and decoding with it would "succeed" as gibberish.
        if (
            candidate
            and _known(candidate)
            and not codecs.lookup(candidate).name.startswith(("utf-16", "utf-32"))
            and _decodes(body, candidate)
        ):
            return candidate, declared
    return "iso-8859-1", declared  # decodes anything


def _same(a: str, b: str) -> bool:
    return codecs.lookup(a).name == codecs.lookup(b).name


def _known(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def _decodes(body: bytes, charset: str) -> bool:
    try:
        body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


# --- JSON Feed (https://www.jsonfeed.org/version/1.1/) --------------------------------


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        # JSON Feed is UTF-8 (RFC 8259); utf-8-sig also accepts a BOM.
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except ValueError as e:
        raise ParseError(
            url, "not_a_feed", f"the address returned invalid JSON ({e}), not a feed"
        ) from e
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ParseError(
            url, "not_a_feed", "the address returned JSON that is not a JSON Feed (no items)"
        )
    version = str(doc.get("version") or "")
    kind = JSON_FEED_VERSIONS.get(version.rstrip("/"), "json")
    feed_author = _json_author(doc)
    entries: list[ParsedEntry] = []
    skipped = 0
    for item in doc["items"][:MAX_ENTRIES]:
        if not isinstance(item, dict):
            skipped += 1
            continue
        try:
            entries.append(_json_entry(item, url, feed_author))
        except Exception:  # one malformed item must not cost the feed its other items
            log.warning("%s: skipped a JSON Feed item that could not be read", url, exc_info=True)
            skipped += 1
    warnings = (
        [f"{_count(skipped, 'item', 'items')} could not be read and skipped"] if skipped else []
    )
    if kind == "json":
        warnings.append(f"unknown JSON Feed version {version[:100]!r}; read as 1.1")
    return _finish(
        title=_plain(_str(doc.get("title")), "text/plain"),
        link=_link(_str(doc.get("home_page_url")), url),
        kind=kind,
        entries=entries,
        warnings=warnings,
        icons=(_str(doc.get("favicon")), _str(doc.get("icon"))),  # favicon: the small one
    )


def _json_entry(item: dict[str, Any], feed_url: str, feed_author: str | None) -> ParsedEntry:
    link = _link(_str(item.get("url")), feed_url) or _link(_str(item.get("external_url")), feed_url)
    content_html = _str(item.get("content_html"))
    if not content_html and _str(item.get("content_text")):
        content_html = _text_to_html(_str(item.get("content_text")))
    content_html = _clean_text(content_html)[: MAX_FIELD["html"]]
    summary = _str(item.get("summary"))  # plain text per the spec
    summary_html = _clean_text(_text_to_html(summary))[: MAX_FIELD["html"]] if summary else ""
    title = _plain(_str(item.get("title")), "text/plain")
    published = _iso_date(item.get("date_published"))
    updated = _iso_date(item.get("date_modified"))
    attachments = item.get("attachments")
    enclosures = _enclosures(
        [
            (_str(a.get("url")), _str(a.get("mime_type")), a.get("size_in_bytes"))
            for a in (attachments if isinstance(attachments, list) else [])
            if isinstance(a, dict)
        ],
        feed_url,
    )
    thumbnails = _thumbnails(
        [_str(item.get("image")), _str(item.get("banner_image"))]
        + [x.url for x in enclosures if _is_image(x.type)],
        feed_url,
    )
    raw_id = item.get("id")  # a string in 1.1; 1.0 feeds in the wild also use numbers
    return ParsedEntry(
        guid=_guid(
            str(raw_id) if isinstance(raw_id, str | int) else None, link, title, content_html
        ),
        title=title,
        link=link,
        author=_json_author(item) or feed_author,
        published=published or updated,
        updated=updated,
        content_html=content_html,
        summary_html=summary_html,
        base_url=feed_url,
        enclosures=enclosures,
        thumbnails=thumbnails,
    )


def _json_author(obj: dict[str, Any]) -> str | None:
    """1.1 has ``authors`` (a list), 1.0 had ``author``; both are {name, url, avatar}."""
    authors = obj.get("authors")
    candidates = list(authors) if isinstance(authors, list) else []
    candidates.append(obj.get("author"))
    for a in candidates:
        if isinstance(a, dict):
            name = _one_line(_str(a.get("name")) or _str(a.get("url")), MAX_FIELD["author"])
            if name:
                return name
    return None


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        dt = datetime.fromisoformat(value)  # RFC 3339, as the spec requires
    except ValueError:
        try:
            dt = parsedate_to_datetime(value)  # RFC 822, as some generators write
        except (ValueError, TypeError, IndexError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        dt = dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return dt if MIN_YEAR <= dt.year <= MAX_YEAR else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --- shared helpers -------------------------------------------------------------------


def _finish(
    *,
    title: str,
    link: str | None,
    kind: str,
    entries: list[ParsedEntry],
    warnings: list[str],
    icons: tuple[str, ...] = (),
) -> ParsedFeed:
    unique: list[ParsedEntry] = []
    seen: set[str] = set()
    for entry in entries:
        # Same id twice in one document: the first (usually the newest) wins, as the
        # store would otherwise overwrite it with an older copy.
        if entry.guid not in seen:
            seen.add(entry.guid)
            unique.append(entry)
    if len(unique) < len(entries):
        dupes = _count(len(entries) - len(unique), "entry", "entries")
        warnings.append(f"{dupes} repeated the id of an earlier entry and ignored")
    return ParsedFeed(
        title=title or None,
        link=link,
        kind=kind,
        entries=tuple(unique),
        warning="; ".join(warnings) or None,
        icons=tuple(dict.fromkeys(u.strip() for u in icons if u and u.strip()))[:MAX_FEED_ICONS],
    )


def _guid(raw_id: str | None, link: str | None, title: str, content: str) -> str:
    guid = _clean_text(raw_id or "").strip() or link
    if not guid:
        digest = hashlib.sha256(f"{title}\n{content}".encode("utf-8", "replace")).hexdigest()
        return f"sha256:{digest}"
    if len(guid) > MAX_FIELD["guid"]:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()
    return guid


def _link(value: str | None, base: str) -> str | None:
    """Absolute, whitespace-free URL string (the sanitizer checks the scheme later)."""
    if not value:
        return None
    value = re.sub(r"[\t\n\r]", "", _clean_text(value)).strip()
    if PLAIN_ABSOLUTE.fullmatch(value):  # urljoin would give it back unchanged
        return value if len(value) <= MAX_FIELD["link"] else None
    try:
        value = urljoin(base, value)
    except ValueError:
        return None
    return value if value and len(value) <= MAX_FIELD["link"] else None


def _enclosures(candidates: list[tuple[Any, Any, Any]], base: str) -> tuple[Enclosure, ...]:
    found: dict[str, Enclosure] = {}
    for href, mime, length in candidates:
        url = _link(href if isinstance(href, str) else None, base)
        if not url or url in found:
            continue
        if isinstance(mime, str) and mime.split(";")[0].strip().lower() in _JUNK_ENCLOSURE_TYPES:
            continue
        size = None
        if isinstance(length, int) and not isinstance(length, bool):
            size = length
        elif isinstance(length, str) and length.strip().isdigit():
            size = int(length.strip())
        found[url] = Enclosure(
            url=url,
            type=_one_line(mime, 200) if isinstance(mime, str) else None,
            length=size if size and 0 < size < 2**63 else None,
        )
        if len(found) == MAX_ENCLOSURES:
            break
    return tuple(found.values())


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _clean_text(value: str) -> str:
    return _BAD_CHARS.sub("", value)


def _one_line(value: str | None, limit: int) -> str | None:
    if not value:
        return None
    value = " ".join(_clean_text(value).split())
    return _truncate(value, limit) or None


def _truncate(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _plain(value: str | None, content_type: str) -> str:
    """Titles are plain text; feeds still put markup and entities in them."""
    if not value:
        return ""
    if content_type in _HTML_TYPES:
        stripper = _TagStripper()
        try:
            stripper.feed(value)
            stripper.close()
            value = "".join(stripper.parts)
        except Exception as e:  # html.parser raises on some odd markup (see _TagStripper)
            log.warning("stripping tags from %r failed (%s); done the crude way", value[:80], e)
            value = html.unescape(_CRUDE_TAG.sub(" ", value))
    elif "&" in value:
        # Plain text, but double-escaped "&#8217;" is common (WordPress): decode only
        # complete references, so "AT&T" or "Q&ltd" stay as written.
        value = _CHAR_REF.sub(lambda m: html.unescape(m.group(0)), value)
    return _one_line(value, MAX_FIELD["title"]) or ""


_CRUDE_TAG = re.compile(r"<!--.*?-->|<[!/?]?[A-Za-z!\[][^>]*>?", re.DOTALL)


class _TagStripper(HTMLParser):
    """Text content of an HTML fragment, entities decoded (titles only)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def parse_marked_section(self, i, report=1):
        # The standard library raises AssertionError on "<![>" and other unknown
        # marked sections until its 2025 releases (CPython gh-77057); HTML5 reads
        # them as a bogus comment ending at the next ">". Same fix in sanitize.py.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            return self.parse_bogus_comment(i, report)

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def _text_to_html(text: str, *, escape: bool = True) -> str:
    """Plain text as HTML: escaped, blank lines become paragraphs, newlines <br>."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if escape:
        paragraphs = [html.escape(p, quote=False) for p in paragraphs]
    return "".join("<p>" + p.replace("\n", "<br>\n") + "</p>" for p in paragraphs)
