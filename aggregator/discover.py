"""Discovery: an address a person pasted -> the feeds it stands for, each verified.

This module owns turning what someone types or writes in ``feeds.yaml`` (a feed URL,
a website, a bare domain, ``feed://``, a social handle or profile URL) into
``Candidate`` feeds. It knows the platforms' URL shapes in ONE table (``SHAPES``),
reads ``<link rel="alternate">`` from HTML pages (relative hrefs and ``<base>``), then
tries the usual places (``/feed``, ``/rss``...). Every candidate is fetched and parsed
before it is offered: a guess that does not parse is never shown.

It only uses ``aggregator.fetch`` (the same guarded client as polling: deadline, size
cap, private addresses refused unless allowed) and ``aggregator.parse``; no storage,
no web. Failures raise ``errors.DiscoveryError`` with a stable ``code``
(``ERROR_CODES``) and an English sentence; the dashboard translates the code.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from aggregator.config._text import N_, Text
from aggregator.errors import DiscoveryError, FeedError
from aggregator.fetch import Fetcher
from aggregator.models import FetchResult, ParsedFeed
from aggregator.parse import parse_feed

log = logging.getLogger(__name__)

__all__ = [
    "ERROR_CODES",
    "NO_PUBLIC_FEED",
    "SHAPES",
    "USUAL_PLACES",
    "Candidate",
    "Discovery",
    "check_address",
    "discover",
    "is_handle",
    "needs_discovery",
    "to_url",
]

_BRIDGES = N_("a bridge you run yourself, such as RSS-Bridge or RSSHub, can make one")
ERROR_CODES: dict[str, str] = {
    "invalid_address": N_("this is neither a web address nor a handle such as @name@instance"),
    "unsupported_scheme": "only http:// and https:// addresses (or feed://) can be followed",
    "private_address": (
        "the address is on a private or local network; set settings.allow_private_networks:"
        " true in feeds.yaml if that is intended"
    ),
    "no_feed": "no RSS, Atom or JSON feed was found at this address",
    "no_public_feed": f"this platform offers no public feed; {_BRIDGES}",
    "unreachable": "the site could not be reached; check the address or try again later",
    "timeout": "the site took too long to answer",
    "too_large": "the page is bigger than the size limit",
    "not_found": "the site says this page does not exist; check the address",
}

# Feeds read from an HTML page's <link rel="alternate" type=...>.
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/x.atom+xml",
        "application/x-atom+xml",
    }
)
# Tried at the site's root when the page names no feed (WordPress, Hugo, Jekyll, ...).
USUAL_PLACES = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/index.xml", "/feed.json")
MAX_ALTERNATES = 100  # read from one page at most; verified: ``limit``
MAX_HTML = 2_000_000  # characters of a page read for its <link> and <base> elements
HEADLINES = 5
_VERIFY_THREADS = 4
_HOST_FAILURES = frozenset({"timeout", "dns", "connect", "tls", "blocked_address"})

# Platforms that publish no feed at all (hosts, with and without www./m.).
NO_PUBLIC_FEED = {
    "linkedin.com": "LinkedIn",
    "x.com": "X (Twitter)",
    "twitter.com": "X (Twitter)",
    "instagram.com": "Instagram",
    "facebook.com": "Facebook",
    "threads.net": "Threads",
    "tiktok.com": "TikTok",
}


@dataclass(frozen=True)
class Candidate:
    """One verified feed: it was fetched and parsed during discovery."""

    url: str  # the verified feed URL
    title: str | None  # the feed's own title
    kind: str  # ParsedFeed.kind: rss20, atom10, json11, ...
    headlines: tuple[str, ...]  # up to 5 latest entry titles
    site_link: str | None = None


@dataclass(frozen=True)
class Discovery:
    """What an address stands for: verified feeds, best first (empty when none)."""

    address: str  # what the person typed, stripped
    candidates: tuple[Candidate, ...]
    # mastodon, bluesky, youtube, reddit, peertube, substack, medium, website, feed
    platform: str | None = None


# --- addresses: what a person may type ----------------------------------------------

# Host names in handles are plain ASCII labels: a handle with unicode or spaces is a typo
# or a look-alike, never something a server publishes.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}\.)+[A-Za-z][A-Za-z0-9-]{{0,62}}"
_HOST_PORT_RE = re.compile(rf"{_HOST}(?::[0-9]{{1,5}})?")
# Mastodon usernames: letters, digits, underscore, with inner dots or dashes.
_MASTODON_HANDLE = re.compile(
    rf"@(?P<user>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)@(?P<host>{_HOST})"
)
_BLUESKY_HANDLE = re.compile(rf"@(?P<handle>{_HOST})")
_REDDIT_SHORT = re.compile(r"/?(?P<kind>r|u|user)/(?P<name>[A-Za-z0-9_-]{1,64})/?")
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<rest>.*)", re.DOTALL)


def is_handle(address: str) -> bool:
    """True for ``@user@instance``, ``@handle.bsky.social`` and ``r/name`` shapes
    (well-formed or not: anything that starts like a handle)."""
    a = address.strip()
    return a.startswith("@") or _REDDIT_SHORT.fullmatch(a) is not None


def to_url(address: str) -> tuple[str, str | None]:
    """The http(s) URL an address stands for, and the platform a handle names.

    Raises ``DiscoveryError`` (``invalid_address`` / ``unsupported_scheme``) for what
    cannot be an address. No network.
    """
    a = address.strip()
    if not a:
        raise _error(a, "invalid_address", "the address is empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in a):
        raise _said(
            DiscoveryError(a, "invalid_address", ""),
            N_("'%(address)s' contains a space or a control character: %(reason)s"),
            address=a,
            reason=Text(ERROR_CODES["invalid_address"]),
        )
    if a.startswith("@"):
        if m := _MASTODON_HANDLE.fullmatch(a):
            return f"https://{m['host'].lower()}/@{m['user']}", "mastodon"
        if m := _BLUESKY_HANDLE.fullmatch(a):
            return f"https://bsky.app/profile/{m['handle'].lower()}", "bluesky"
        raise _said(
            DiscoveryError(a, "invalid_address", ""),
            N_(
                "'%(address)s' is not a well-formed handle: write @name@instance (Mastodon) or"
                " @name.bsky.social (Bluesky), in plain letters, digits, '_', '.' and '-'"
            ),
            address=a,
        )
    if a.startswith("//"):  # scheme-relative, as copied from some pages
        return _check_http_url(a, "https:" + a), None
    if m := _REDDIT_SHORT.fullmatch(a):
        kind = "r" if m["kind"] == "r" else "user"
        return f"https://www.reddit.com/{kind}/{m['name']}", "reddit"
    scheme = _SCHEME.match(a)
    if scheme is not None and not scheme["rest"][:1].isdigit():  # not "host:8080/x"
        name, rest = scheme["scheme"].lower(), scheme["rest"]
        if name == "feed":  # the old "subscribe" pseudo-scheme: feed://x, feed:https://x
            a = rest if rest.lower().startswith(("http:", "https:")) else "https:" + rest
            return _check_http_url(address.strip(), a), None
        if name in ("http", "https"):
            return _check_http_url(a, a), None
        if "." not in name or rest.startswith("//"):
            raise _error(
                a,
                "unsupported_scheme",
                f"'{scheme['scheme']}:' addresses cannot be followed",
            )
    # A bare domain, with or without a path: example.org, example.org/blog, café.fr
    host, sep, path = a.partition("/")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")  # IDNA 2003, as requests does
        except UnicodeError:
            raise _error(a, "invalid_address", f"{a!r} is not a web address") from None
    if _HOST_PORT_RE.fullmatch(host):
        return _check_http_url(a, f"https://{host}{sep}{path}"), None
    raise _error(a, "invalid_address", f"{a!r} is not a web address")


def _check_http_url(address: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise _error(address, "unsupported_scheme", f"{url!r} is not an http(s) address")
    if not url[len(parts.scheme) + 1 :].startswith("//") or not parts.hostname:
        raise _error(address, "invalid_address", f"{url!r} has no host name")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _error(address, "invalid_address", f"{url!r} has an invalid port") from None
    return url


def check_address(address: str) -> str:
    """Raise ``DiscoveryError`` unless ``address`` can be discovered; returns the URL
    it stands for (``to_url``) after refusing platforms with no public feed."""
    url, _ = to_url(address)
    _refuse_closed_platforms(address.strip(), url)
    return url


def needs_discovery(address: str) -> bool:
    """True when ``address`` is surely not a feed URL: a handle, or a profile/page
    shape of a known platform. A plain http(s) URL may be a feed: it is polled first."""
    if is_handle(address):
        return True
    try:
        url, _ = to_url(address)
    except DiscoveryError:
        return False
    guesses = _guesses(url)
    return bool(guesses) and not any(guess.feed for guess in guesses)


# --- the platforms' URL shapes: ONE table --------------------------------------------


@dataclass(frozen=True)
class _Guess:
    platform: str
    url: str  # a feed URL to verify, or the page to read (page=True)
    page: bool = False
    feed: bool = False  # the address is already this platform's feed URL


@dataclass(frozen=True)
class Shape:
    """A platform URL shape: ``hosts`` (None: any host), a path regex, and the feed
    URL template (``{host}``, ``{scheme}``, ``{url}`` and the regex's named groups,
    quoted). ``template=None`` means the page itself must be read (a YouTube @handle).

    Shapes for named hosts win: when one matches, the any-host shapes (Mastodon,
    PeerTube, which live on any instance) are not tried for that URL.
    """

    platform: str
    hosts: frozenset[str] | None
    path: re.Pattern[str]
    template: str | None
    query: str | None = None  # a query parameter the template needs, as {q}
    suffix: str | None = None  # any subdomain of this domain (hosts=None)


def _S(  # noqa: N802 - reads as a table row
    platform: str,
    hosts: frozenset[str] | None,
    path: str,
    template: str | None,
    *,
    query: str | None = None,
    suffix: str | None = None,
) -> Shape:
    return Shape(platform, hosts, re.compile(path), template, query, suffix)


_YT = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
_REDDIT = frozenset({"reddit.com", "www.reddit.com", "old.reddit.com", "new.reddit.com"})
_YT_FEED = "https://www.youtube.com/feeds/videos.xml"
_ANY = None  # any host: Mastodon and PeerTube live on thousands of instances
# fmt: off
SHAPES: tuple[Shape, ...] = (
    # platform, hosts (None: any), path regex, feed template (None: read the page)
    # -- already feeds: verified as they are
    _S("youtube", _YT, r"/feeds/videos\.xml", "{url}"),
    _S("reddit", _REDDIT, r"/.*\.rss", "{url}"),
    _S("bluesky", frozenset({"bsky.app"}), r"/profile/[^/]+/rss", "{url}"),
    _S("medium", frozenset({"medium.com"}), r"/feed/.+", "{url}"),
    # -- YouTube: the channel id is in the URL, or on the page (@handle, /c/, /user/)
    _S("youtube", _YT, r"/channel/(?P<id>UC[A-Za-z0-9_-]{22})(?:/.*)?",
     _YT_FEED + "?channel_id={id}"),
    _S("youtube", _YT, r"/(?:playlist|watch)", _YT_FEED + "?playlist_id={q}",
     query="list"),
    _S("youtube", _YT, r"/(?:@[^/]+|c/[^/]+|user/[^/]+)(?:/.*)?", None),
    # -- Bluesky: every profile has an RSS feed of its posts
    _S("bluesky", frozenset({"bsky.app"}), r"/profile/(?P<h>[^/]+)/?",
     "https://bsky.app/profile/{h}/rss"),
    # -- Reddit: a subreddit or a user + ".rss" (Atom, in fact)
    _S("reddit", _REDDIT, r"/r/(?P<n>[A-Za-z0-9_]+)(?:/.*)?",
     "https://www.reddit.com/r/{n}/.rss"),
    _S("reddit", _REDDIT, r"/(?:u|user)/(?P<n>[A-Za-z0-9_-]+)(?:/.*)?",
     "https://www.reddit.com/user/{n}/.rss"),
    # -- Medium: a person, a tag, or a publication on its own subdomain
    _S("medium", frozenset({"medium.com"}), r"/(?P<u>@[^/]+)(?:/.*)?",
     "https://medium.com/feed/{u}"),
    _S("medium", frozenset({"medium.com"}), r"/tag/(?P<t>[^/]+)(?:/.*)?",
     "https://medium.com/feed/tag/{t}"),
    _S("medium", _ANY, r"/?", "{scheme}://{host}/feed", suffix=".medium.com"),
    # -- Substack: every publication has /feed
    _S("substack", _ANY, r"(?:/.*)?", "{scheme}://{host}/feed",
     suffix=".substack.com"),
    # -- Mastodon (any instance): a profile or a hashtag + ".rss"
    _S("mastodon", _ANY, r"/(?:@[^/]+|tags/[^/]+)\.rss", "{url}"),
    _S("mastodon", _ANY, r"/(?:@|users/)(?!.*\.rss$)(?P<u>[A-Za-z0-9_.-]+)/?",
     "{scheme}://{host}/@{u}.rss"),
    _S("mastodon", _ANY, r"/tags/(?P<t>[^/]+)/?", "{scheme}://{host}/tags/{t}.rss"),
    # -- PeerTube (any instance): a channel or an account
    _S("peertube", _ANY, r"/(?:c|video-channels)/(?P<n>[^/]+)(?:/.*)?",
     "{scheme}://{host}/feeds/videos.xml?videoChannelName={n}"),
    _S("peertube", _ANY, r"/(?:a|accounts)/(?P<n>[^/]+)(?:/.*)?",
     "{scheme}://{host}/feeds/videos.xml?accountName={n}"),
)
# fmt: on


def _guesses(url: str) -> list[_Guess]:
    """What the shapes table says about ``url``: feed URLs to verify, or pages to read."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    netloc = parts.netloc.rpartition("@")[2].lower()
    scheme = parts.scheme.lower()
    path = parts.path or "/"
    named = any(s.hosts is not None and host in s.hosts for s in SHAPES)
    found: list[_Guess] = []
    for shape in SHAPES:
        if shape.hosts is not None and host not in shape.hosts:
            continue
        if shape.hosts is None and named:
            continue
        if shape.suffix and not (host.endswith(shape.suffix) and host != shape.suffix[1:]):
            continue
        m = shape.path.fullmatch(path)
        if m is None:
            continue
        if shape.template is None:
            found.append(_Guess(shape.platform, url, page=True))
            continue
        if shape.template == "{url}":
            found.append(_Guess(shape.platform, url, feed=True))
            continue
        values = {k: quote(v, safe="@") for k, v in m.groupdict().items() if v is not None}
        if shape.query:
            value = _query_value(parts.query, shape.query)
            if value is None:
                continue
            values["q"] = quote(value, safe="")
        feed = shape.template.format(scheme=scheme, host=netloc, url=url, **values)
        found.append(_Guess(shape.platform, feed))
    return found


def _query_value(query: str, name: str) -> str | None:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name and value:
            return value
    return None


def _refuse_closed_platforms(address: str, url: str) -> None:
    host = (urlsplit(url).hostname or "").lower()
    for prefix in ("www.", "m.", "mobile."):
        host = host.removeprefix(prefix)
    name = NO_PUBLIC_FEED.get(host)
    if name is not None:
        raise _said(
            DiscoveryError(address, "no_public_feed", ""),
            N_(
                "%(platform)s publishes no feed for its pages; %(bridges)s (RSS-Bridge:"
                " https://github.com/RSS-Bridge/rss-bridge, RSSHub: https://docs.rsshub.app)"
            ),
            platform=name,
            bridges=Text(_BRIDGES),
        )


# --- discovery ---------------------------------------------------------------------


def discover(address: str, *, fetcher: Fetcher, now: datetime, limit: int = 10) -> Discovery:
    """Turn ``address`` into verified feeds, best first.

    Raises ``DiscoveryError`` when the address is unusable, the site cannot be reached,
    or nothing on it is a feed. Each request is bounded by the Fetcher's deadline and
    size cap; at most ``limit`` candidates (plus the usual places) are verified, a few
    at a time, and the whole discovery stops trying new ones after three deadlines.
    """
    address = address.strip()
    url, platform = to_url(address)
    _refuse_closed_platforms(address, url)
    run = _Run(address, fetcher, now, max(1, limit))
    # 1. The platforms' shapes: a guessed feed URL, or a page holding the channel id.
    for guess in _guesses(url):
        found = run.youtube_page(guess.url) if guess.page else run.verify([guess.url])
        if found:
            return Discovery(address, tuple(found), platform or guess.platform)
    # 2. The address itself: a feed, or a page naming its feeds.
    result = run.fetch_page(url)
    feed = run.parse(result)
    if feed is not None:
        return Discovery(address, (_candidate(result.moved_to or url, feed),), "feed")
    page = _read_page(result)
    candidates = run.verify(page.alternates)
    if not candidates and page.channel_id:
        candidates = run.verify([f"{_YT_FEED}?channel_id={page.channel_id}"])
    # 3. The usual places, at the root of the site (after redirects).
    if not candidates:
        root = urlsplit(result.final_url)
        candidates = run.verify(
            [urlunsplit((root.scheme, root.netloc, p, "", "")) for p in USUAL_PLACES]
        )
    if not candidates:
        raise _error(address, "no_feed", f"{url} links to no feed, and none is at the usual places")
    return Discovery(address, tuple(candidates), platform or _platform(url, "website"))


def _platform(url: str, default: str) -> str:
    guesses = _guesses(url)
    return guesses[0].platform if guesses else default


class _Run:
    """One discovery: the fetcher, the time budget, and the URLs already tried."""

    def __init__(self, address: str, fetcher: Fetcher, now: datetime, limit: int) -> None:
        self.address = address
        self.fetcher = fetcher
        self.now = now
        self.limit = limit
        self.expires = time.monotonic() + 3 * fetcher.timeout
        self.tried: set[str] = set()
        self.found: set[str] = set()
        # Hosts that failed as a whole (no answer, no connection, refused address):
        # the address on the same host is not asked again, so a silent site costs
        # one deadline, not one per guess.
        self.dead_hosts: dict[str, FeedError] = {}
        self._lock = threading.Lock()

    def _fetch(self, url: str) -> FetchResult:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            known = self.dead_hosts.get(host)
        if known is not None:
            raise known
        try:
            return self.fetcher.fetch(url, now=self.now)
        except FeedError as e:
            if e.code in _HOST_FAILURES:
                with self._lock:
                    self.dead_hosts.setdefault(host, e)
            raise

    def fetch_page(self, url: str) -> FetchResult:
        """The address itself: every failure is the answer (a DiscoveryError)."""
        try:
            return self._fetch(url)
        except FeedError as e:
            raise _from_fetch(self.address, e) from e

    def parse(self, result: FetchResult) -> ParsedFeed | None:
        if not result.body:
            return None
        try:
            return parse_feed(
                result.body, url=result.final_url, headers=result.headers, now=self.now
            )
        except FeedError:
            return None

    def youtube_page(self, url: str) -> list[Candidate]:
        """A YouTube @handle, /c/ or /user/ page: its channel id, then the channel feed."""
        try:
            result = self._fetch(url)
        except FeedError as e:
            if e.code in ("not_found", "gone"):
                raise _from_fetch(self.address, e) from e
            return []
        page = _read_page(result)
        found = self.verify(page.alternates[:1]) if page.alternates else []
        if not found and page.channel_id:
            found = self.verify([f"{_YT_FEED}?channel_id={page.channel_id}"])
        return found

    def verify(self, urls: list[str]) -> list[Candidate]:
        """Fetch and parse each URL (a few at a time); the ones that are feeds, in order."""
        todo: list[str] = []
        for url in urls:
            key = _key(url)
            if key in self.tried:
                continue
            self.tried.add(key)
            todo.append(url)
            if len(todo) >= self.limit:
                break
        if not todo:
            return []
        with cf.ThreadPoolExecutor(min(_VERIFY_THREADS, len(todo)), "discover") as pool:
            results = list(pool.map(self._verify_one, todo))
        found = []
        for verified in results:
            if verified is None:
                continue
            candidate, final = verified
            keys = {_key(candidate.url), _key(final)}  # /feed and /rss may be one feed
            if keys & self.found:
                continue
            self.found |= keys
            found.append(candidate)
        return found

    def _verify_one(self, url: str) -> tuple[Candidate, str] | None:
        if time.monotonic() > self.expires:
            log.info("discover %s: out of time, %s not tried", self.address, url)
            return None
        try:
            result = self._fetch(url)
        except FeedError as e:
            log.debug("discover %s: %s is not usable: %s", self.address, url, e)
            return None
        feed = self.parse(result)
        if feed is None:
            return None
        return _candidate(result.moved_to or url, feed), result.final_url


def _candidate(url: str, feed: ParsedFeed) -> Candidate:
    entries = list(feed.entries)
    if entries and all(e.published is not None for e in entries):
        entries.sort(key=lambda e: e.published, reverse=True)  # type: ignore[arg-type,return-value]
    headlines = [e.title or _excerpt(e.summary_html or e.content_html) for e in entries]
    return Candidate(
        url, feed.title, feed.kind, tuple(h for h in headlines if h)[:HEADLINES], feed.link
    )


def _excerpt(html: str, limit: int = 120) -> str:
    """The start of an entry's text, for feeds whose entries have no title (Mastodon,
    Bluesky): the preview shows what the posts say."""
    reader = _TextReader()
    try:
        reader.feed(html[:20_000])
        reader.close()
    except Exception:  # noqa: BLE001 - a preview never fails discovery
        return ""
    text = " ".join("".join(reader.parts).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _key(url: str) -> str:
    """Two spellings of one URL (host case, default port, empty path) are one URL."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


# --- reading an HTML page ----------------------------------------------------------

_CHANNEL_ID = "UC[A-Za-z0-9_-]{22}"
_CHANNEL_PATTERNS = (
    re.compile(rf'<meta[^>]+itemprop="(?:channelId|identifier)"[^>]+content="({_CHANNEL_ID})"'),
    re.compile(
        rf'<link[^>]+rel="canonical"[^>]+href="https://www\.youtube\.com/channel/({_CHANNEL_ID})"'
    ),
    re.compile(rf'"externalId"\s*:\s*"({_CHANNEL_ID})"'),
    re.compile(rf'"channelId"\s*:\s*"({_CHANNEL_ID})"'),
)


@dataclass
class _Page:
    alternates: list[str]
    channel_id: str | None


def _read_page(result: FetchResult) -> _Page:
    body = result.body or b""
    text = body.decode("utf-8", "replace")
    reader = _LinkReader()
    try:
        reader.feed(text[:MAX_HTML])  # feed links live in <head>; a page can be 10 MB
        reader.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient; never fail on a page
        log.debug("unreadable HTML at %s", result.final_url, exc_info=True)
    base = result.final_url
    if reader.base:
        base = urljoin(base, reader.base)
    alternates: list[str] = []
    seen: set[str] = set()
    for href in reader.hrefs:
        url = urljoin(base, href.strip())
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            continue  # javascript:, data:, feed: inside a page: never followed
        key = _key(url)
        if key not in seen:
            seen.add(key)
            alternates.append(url)
    channel_id = None
    for pattern in _CHANNEL_PATTERNS:
        m = pattern.search(text)
        if m:
            channel_id = m.group(1)
            break
    return _Page(alternates, channel_id)


class _LinkReader(HTMLParser):
    """``<base href>`` and the feed ``<link rel="alternate">`` of a page, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "base"):
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        href = values.get("href", "").strip()
        if not href:
            return
        if tag == "base":
            if self.base is None:  # the first <base> counts (HTML spec)
                self.base = href
            return
        rel = values.get("rel", "").lower().split()
        mime = values.get("type", "").split(";")[0].strip().lower()
        if "alternate" in rel and mime in FEED_TYPES and len(self.hrefs) < MAX_ALTERNATES:
            self.hrefs.append(href)


class _TextReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "br", "div", "li"):
            self.parts.append(" ")


# --- errors ------------------------------------------------------------------------

_FETCH_CODES: dict[str, str] = {
    "blocked_address": "private_address",
    "bad_scheme": "unsupported_scheme",
    "bad_url": "invalid_address",
    "timeout": "timeout",
    "too_large": "too_large",
    "not_found": "not_found",
    "gone": "not_found",
}


def _from_fetch(address: str, e: FeedError) -> DiscoveryError:
    code = _FETCH_CODES.get(e.code, "unreachable")
    return DiscoveryError(address, code, f"{e}; {ERROR_CODES[code]}")


def _said(error: DiscoveryError, template: str, /, **params: object) -> DiscoveryError:
    """``error`` with its sentence as a ``Text`` (``error.text``): English for the CLI
    and the log (``str(error)``), in French where feeds.yaml's problems are shown."""
    text = Text(template, **params)
    error.text = text  # type: ignore[attr-defined]
    error.args = (str(text),)
    return error


def _error(address: str, code: str, detail: str) -> DiscoveryError:
    return DiscoveryError(address, code, f"{detail}: {ERROR_CODES[code]}")
