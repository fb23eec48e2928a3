"""Parsing and checking of the small values people write in YAML.

Durations (``15m``), sizes (``10MB``), rate limits (``30/h``), booleans, feed URLs and
email addresses. Every function here is pure: it takes the text as written and returns
a Python value or raises ``ValueError`` whose message is a sentence the person can act
on. The YAML walkers add the ``FILE:LINE:COL`` in front.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from email.utils import getaddresses, parseaddr
from urllib.parse import urlsplit, urlunsplit

from ._text import N_, Invalid, Text

# --- durations ---------------------------------------------------------------------

DURATION_HELP = Text(N_("write a number followed by s, m, h or d, e.g. 90s, 15m, 2h, 1d or 1h30m"))

_DURATION_RE = re.compile(
    r"(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?",
    re.IGNORECASE,
)
# A plain integer is seconds, like most config formats (and like `sleep`).
_INT_RE = re.compile(r"[+-]?\d+")
# Far beyond any sensible value, but small enough that timedelta never overflows.
_MAX_NUMBER = 10**9


def parse_duration(text: str | int) -> timedelta:
    """``'1h30m'`` -> ``timedelta(hours=1, minutes=30)``; a plain number is seconds."""
    raw = str(text).strip()
    if _INT_RE.fullmatch(raw):
        seconds = int(raw)
        if seconds < 0:
            raise Invalid(N_("'%(raw)s' is negative; %(help)s"), raw=raw, help=DURATION_HELP)
        if seconds > _MAX_NUMBER:
            raise Invalid(N_("'%(raw)s' is far too long; %(help)s"), raw=raw, help=DURATION_HELP)
        return timedelta(seconds=seconds)
    match = _DURATION_RE.fullmatch(raw)
    if not raw or match is None or not any(match.groupdict().values()):
        raise Invalid(N_("'%(raw)s' is not a duration; %(help)s"), raw=raw, help=DURATION_HELP)
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    if any(v > _MAX_NUMBER for v in parts.values()):
        raise Invalid(N_("'%(raw)s' is far too long; %(help)s"), raw=raw, help=DURATION_HELP)
    return timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


def format_duration(value: timedelta) -> str:
    """The inverse of ``parse_duration`` for messages: ``timedelta(minutes=90)`` -> ``1h30m``."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def check_duration_range(value: timedelta, low: timedelta, high: timedelta, raw: str) -> None:
    if low <= value <= high:
        return
    bounds = {"low": format_duration(low), "high": format_duration(high), "raw": raw}
    if _INT_RE.fullmatch(raw.strip()) and timedelta(0) < value < low <= value * 60 <= high:
        raise Invalid(
            N_(
                "must be between %(low)s and %(high)s, got %(raw)r"
                " (a plain number means seconds; write %(number)sm for minutes)"
            ),
            number=raw.strip(),
            **bounds,
        )
    raise Invalid(N_("must be between %(low)s and %(high)s, got %(raw)r"), **bounds)


# --- sizes -------------------------------------------------------------------------

SIZE_HELP = Text(
    N_("write a number followed by B, KB, MB or GB, e.g. 512KB or 10MB (a plain number is bytes)")
)

# KB/MB/GB are binary multiples here, as in nginx and most config files, so that the
# documented default "10MB" equals Settings.max_size (10 * 1024 * 1024). KiB/MiB/GiB
# are accepted as exact synonyms.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """``'10MB'`` -> ``10485760``; a plain number is bytes."""
    raw = str(text).strip()
    match = _SIZE_RE.fullmatch(raw)
    if match is None or match["unit"].lower() not in _SIZE_UNITS:
        raise Invalid(N_("'%(raw)s' is not a size; %(help)s"), raw=raw, help=SIZE_HELP)
    number = float(match["n"])
    if number > _MAX_NUMBER:
        raise Invalid(N_("'%(raw)s' is far too large; %(help)s"), raw=raw, help=SIZE_HELP)
    return round(number * _SIZE_UNITS[match["unit"].lower()])


def format_size(value: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}B"


# --- rate limits -------------------------------------------------------------------

RATE_HELP = Text(N_("write a number of messages per s, m, h or d, e.g. 30/h or 200/d"))
_RATE_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}
_RATE_RE = re.compile(r"(?P<n>\d+)\s*/\s*(?P<unit>[smhd])", re.IGNORECASE)


def parse_rate_limit(text: str) -> tuple[int, timedelta]:
    """``'30/h'`` -> ``(30, timedelta(hours=1))``."""
    raw = str(text).strip()
    match = _RATE_RE.fullmatch(raw)
    if match is None:
        raise Invalid(N_("'%(raw)s' is not a rate limit; %(help)s"), raw=raw, help=RATE_HELP)
    count = int(match["n"])
    if not 1 <= count <= _MAX_NUMBER:
        raise Invalid(
            N_("'%(raw)s' must allow at least one message; %(help)s"), raw=raw, help=RATE_HELP
        )
    return count, _RATE_UNITS[match["unit"].lower()]


# --- booleans ----------------------------------------------------------------------

# YAML 1.1 read these as booleans; YAML 1.2 (what we parse) reads them as text. Either
# way the person probably meant a boolean, so say which one to write instead of
# silently guessing (the "Norway problem").
_LOOKS_TRUE = {"yes", "y", "on", "1"}
_LOOKS_FALSE = {"no", "n", "off", "0"}


def parse_bool(text: str) -> bool:
    raw = str(text).strip()
    low = raw.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low in _LOOKS_TRUE:
        raise Invalid(N_("'%(raw)s' is not true/false here; write true"), raw=raw)
    if low in _LOOKS_FALSE:
        raise Invalid(N_("'%(raw)s' is not true/false here; write false"), raw=raw)
    raise Invalid(N_("expected true or false, got '%(raw)s'"), raw=raw)


def parse_int(text: str) -> int:
    raw = str(text).strip()
    if not _INT_RE.fullmatch(raw):
        raise Invalid(N_("expected a whole number, got '%(raw)s'"), raw=raw)
    return int(raw)


# --- URLs --------------------------------------------------------------------------

_SCHEME_RE = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*):(?P<rest>.*)", re.IGNORECASE | re.DOTALL)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_RE = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?", re.IGNORECASE)


def check_feed_url(url: str) -> None:
    """Raise ``ValueError`` unless ``url`` is an absolute http(s) URL with a host.

    Whether the host is on a private network is decided at fetch time (DNS can change),
    not here.
    """
    if not url:
        raise Invalid(N_("the feed URL is empty"))
    if "\n" in url or "\r" in url:
        raise Invalid(N_("the feed URL %(url)r contains a line break"), url=url)
    if any(ch.isspace() for ch in url):
        raise Invalid(
            N_(
                "the feed URL %(url)r contains a space; a URL cannot contain spaces"
                " (write %%20 if the space really belongs there)"
            ),
            url=url,
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise Invalid(N_("the feed URL %(url)r contains a control character"), url=url)
    match = _SCHEME_RE.fullmatch(url)
    # "example.org:8080/feed" parses as scheme "example.org"; a number after the colon
    # means it was a host and port, i.e. a URL written without its scheme.
    if match is None or match["rest"][:1].isdigit():
        guess = url.lstrip("/")
        if _HOST_RE.fullmatch(guess.split("/", 1)[0]):
            raise Invalid(
                N_(
                    "'%(url)s' is not a full URL; feed URLs start with https://"
                    " (did you mean 'https://%(guess)s'?)"
                ),
                url=url,
                guess=guess,
            )
        raise Invalid(N_("'%(url)s' is not a full URL; feed URLs start with https://"), url=url)
    scheme = match["scheme"].lower()
    rest = match["rest"]
    if scheme not in ("http", "https"):
        if scheme == "feed":
            # feed:https://x and feed://x are the old "subscribe" pseudo-scheme.
            inner = rest if rest.startswith(("http:", "https:")) else "https:" + rest
            raise Invalid(
                N_(
                    "only http:// and https:// feed URLs are allowed, got '%(scheme)s:'"
                    " (write '%(inner)s' instead)"
                ),
                scheme=match["scheme"],
                inner=inner,
            )
        raise Invalid(
            N_("only http:// and https:// feed URLs are allowed, got '%(scheme)s:'"),
            scheme=match["scheme"],
        )
    if not rest.startswith("//"):
        raise Invalid(
            N_("'%(url)s' is missing '//' after '%(scheme)s:'"), url=url, scheme=match["scheme"]
        )
    parts = urlsplit(url)
    if not parts.hostname:
        raise Invalid(N_("the feed URL '%(url)s' has no host name"), url=url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Invalid(N_("the feed URL '%(url)s' has an invalid port"), url=url) from None


def check_feed_address(address: str) -> None:
    """Raise ``ValueError`` unless ``address`` may be written as a feed in feeds.yaml.

    A feed URL (``check_feed_url``), a site or profile URL, or a handle that
    ``discover`` understands: ``@user@instance`` (Mastodon), ``@name.bsky.social``
    (Bluesky), ``r/name`` (Reddit). The aggregator resolves addresses to their feed
    when it polls them (see ``update``). A handle must be well-formed (plain ASCII
    letters, digits, ``_ . -``); a platform that publishes no feed at all (LinkedIn,
    X...) is refused with the bridge to use instead.
    """
    # Imported here: discover pulls in the HTTP client, which loading a YAML file
    # does not otherwise need. Only its pure address functions are called.
    from aggregator import discover
    from aggregator.errors import DiscoveryError

    if discover.is_handle(address):
        try:
            discover.check_address(address)
        except DiscoveryError as e:
            raise _refusal(e) from None
        return
    check_feed_url(address)
    try:
        discover.check_address(address)
    except DiscoveryError as e:
        if e.code == "no_public_feed":
            raise _refusal(e) from None


def _refusal(error: Exception) -> ValueError:
    """A discovery refusal as a value problem, keeping its translatable sentence."""
    refused = ValueError(str(error))
    refused.text = getattr(error, "text", None)  # type: ignore[attr-defined]
    return refused


def normalize_url(url: str) -> str:
    """Trivial normalisation used to spot the same feed written twice.

    Lower-cases the scheme and host, drops the default port and writes an empty path
    as ``/`` (RFC 3986 section 6.2.3, scheme-based normalisation). The path, query and
    fragment are case-sensitive and kept as they are. A handle (``@alice@host``)
    is compared as the profile URL it stands for, so it and that URL are one feed.
    """
    url = url.strip()
    if url[:1] in ("@", "r", "u", "/"):  # cheap test first: this runs for every link
        from aggregator import discover
        from aggregator.errors import DiscoveryError

        if discover.is_handle(url):
            try:
                url = discover.to_url(url)[0]
            except DiscoveryError:
                return url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    if parts.username is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


# --- email addresses ---------------------------------------------------------------

# What goes into an envelope (MAIL FROM / RCPT TO) must be exactly what the person
# sees in From: and To:. A NUL, a control character, a line separator (U+2028), a
# bidirectional override (U+202E) or any other invisible character makes the two
# differ: SMTP servers cut at a NUL, mail clients reorder around a bidi override,
# and the address shown is not the one mail goes to. So an address (and the whole
# From-style value around it) must be made of visible characters only: ``isprintable``
# is False for every Unicode "Other" (Cc, Cf, Cs, Co, Cn) and "Separator" (Zl, Zp, Zs)
# character except the ASCII space, which is refused in an address separately.


_NAMELESS = {
    "Cc": N_("a control character"),
    "Cs": N_("half of a surrogate pair"),
    "Co": N_("a private-use character"),
    "Cn": N_("an unassigned character"),
}


def _char_name(c: str) -> Text:
    code = f"U+{ord(c):04X}"
    name = unicodedata.name(c, "")
    if name:
        return Text("%(code)s, %(name)s", code=code, name=name)
    kind = _NAMELESS.get(unicodedata.category(c))
    if kind:
        return Text("%(code)s, %(kind)s", code=code, kind=Text(kind))
    return Text("%(code)s", code=code)


def check_visible(raw: str, what: str | Text) -> None:
    """Raise ``ValueError`` if ``raw`` holds a character other than visible ones and
    the ASCII space: controls (C0, DEL, C1, TAB, NUL), line and paragraph separators,
    non-ASCII spaces, bidirectional and zero-width format characters."""
    for c in raw:
        if c != " " and not c.isprintable():
            raise Invalid(
                N_(
                    "%(raw)r contains an invisible or control character (%(char)s);"
                    " retype the %(what)s by hand"
                ),
                raw=raw,
                char=_char_name(c),
                what=Text(what) if isinstance(what, str) else what,
            )


# RFC 5322 specials other than "@" and ".": an address holding one is quoted (never
# needed here) or not one address at all.
_NOT_IN_ADDRESS = frozenset('<>()[]\\,;:"')


def _check_addr_spec(addr: str, raw: str) -> None:
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or "@" in local or any(c.isspace() for c in addr):
        raise Invalid(
            N_("'%(raw)s' is not an email address (expected something like %(example)s)"),
            raw=raw,
            example="name@example.org",
        )
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        raise Invalid(N_("'%(raw)s' has an invalid domain '%(domain)s'"), raw=raw, domain=domain)
    # The same refusals as the mail layer's envelope_address (aggregator/mail/headers.py):
    # what the check accepts is exactly what will be sent to.
    special = next((c for c in addr if c in _NOT_IN_ADDRESS), None)
    if special is not None:
        raise Invalid(
            N_("'%(raw)s': the address '%(addr)s' contains %(special)r; write a plain address"),
            raw=raw,
            addr=addr,
            special=special,
        )
    if "=?" in addr:
        raise Invalid(
            N_("'%(raw)s': the address '%(addr)s' contains '=?'; write a plain address"),
            raw=raw,
            addr=addr,
        )


def _check_one_line(raw: str) -> None:
    # A CR or LF in a value that ends up in a header is a header injection.
    if "\r" in raw or "\n" in raw:
        raise Invalid(N_("%(raw)r must fit on one line"), raw=raw)


def check_mailbox(raw: str) -> str:
    """A ``From``-style value: ``'Alex Exemple <alex@example.org>'`` or a bare address.

    Returns the address part.
    """
    _check_one_line(raw)
    check_visible(raw, N_("address"))
    if len(getaddresses([raw])) > 1:
        raise Invalid(N_("'%(raw)s' holds several addresses; write only one"), raw=raw)
    _name, addr = parseaddr(raw)
    # parseaddr drops spaces around '@' and '.' ('alex @example.org'): the address
    # must be written as it will be used.
    if not addr or addr not in raw:
        raise Invalid(
            N_("'%(raw)s' is not an email address (expected %(example)s or %(bare)s)"),
            raw=raw,
            example="'Name <name@example.org>'",
            bare="name@example.org",
        )
    text = raw.strip(" ")
    if text.endswith(">") and "<" in text and text[:-1].rpartition("<")[2].strip(" ") != addr:
        # parseaddr reads some values otherwise than they look (CVE-2023-27043):
        # '=@a( <alex@example.org>' gives '=@a'.
        raise Invalid(
            N_("'%(raw)s' can be read as more than one address; write it as %(example)s"),
            raw=raw,
            example="Name <name@example.org>",
        )
    _check_addr_spec(addr, raw)
    return addr


def check_address(raw: str) -> str:
    """A bare address, no display name: ``camille@example.org``. Returns it without
    the spaces around it; any other invisible character, anywhere, is refused."""
    raw = raw.strip(" ")
    _check_one_line(raw)
    check_visible(raw, N_("address"))
    if len(getaddresses([raw])) > 1 or "," in raw or ";" in raw:
        raise Invalid(N_("'%(raw)s' holds several addresses; write only one"), raw=raw)
    name, addr = parseaddr(raw)
    if not name and "<" not in raw and any(c.isspace() for c in raw):
        raise Invalid(
            N_("'%(raw)s' is not an email address (expected something like %(example)s)"),
            raw=raw,
            example="name@example.org",
        )
    if name or (addr and addr != raw):
        if addr:
            raise Invalid(
                N_("'%(raw)s' must be a bare address without a name (write only '%(addr)s')"),
                raw=raw,
                addr=addr,
            )
        raise Invalid(N_("'%(raw)s' must be a bare address without a name"), raw=raw)
    _check_addr_spec(addr or raw, raw)
    return raw
