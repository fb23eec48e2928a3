"""HTTP retrieval of feeds: one GET (plus redirects) -> ``models.FetchResult``.

This module owns everything between a feed URL and the bytes of its body: the
per-thread ``requests`` sessions and their connection pools, timeouts (connect,
read and a whole-fetch deadline), the size cap on decompressed bytes, conditional
GET, redirects (followed here, hop by hop), the refusal of private network
addresses, and the translation of every failure into ``errors.FetchError`` with a
stable ``code`` (see ``ERROR_CODES``) and a plain English message.

It never parses the body and never touches the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import http
import http.client
import ipaddress
import itertools
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_auth_from_url
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError as ConnectTimeout
from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.request import ACCEPT_ENCODING

from aggregator import __version__
from aggregator.errors import FetchError
from aggregator.models import FetchResult

log = logging.getLogger(__name__)

# Names the project so feed owners can tell what polls them.
# TODO(orchestrator): add "+<project URL>" once the project has a public home.
USER_AGENT = f"aggregator/{__version__} (self-hosted feed reader)"

# Feed types first; generic XML/JSON slightly lower; anything else last, so a
# server doing content negotiation picks the feed over the HTML page.
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml, application/feed+json, "
    "application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)

# urllib3 computes this from the decoders actually installed: "gzip, deflate",
# plus "br" / "zstd" only when brotli / zstandard are importable.
ACCEPT_ENCODINGS = ", ".join(ACCEPT_ENCODING.split(","))

_HEADERS = {"Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODINGS}
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
CHUNK_SIZE = 64 * 1024

# Plain sentences, no placeholders: a FetchError message is "<specifics>: <this>".
_TOO_BIG = "raise settings.max_size in feeds.yaml if the feed really is that big"
_PRIVATE = "set settings.allow_private_networks: true in feeds.yaml if the feed is on your network"
ERROR_CODES: dict[str, str] = {
    "timeout": "the server took too long to answer; the feed will be retried later",
    "too_large": f"the feed is bigger than the size limit; {_TOO_BIG}",
    "connect": "could not connect to the server, or it dropped the connection; is the site up?",
    "dns": "the host name could not be found; check the spelling of the URL in feeds.yaml",
    "tls": "the secure (HTTPS) connection failed, e.g. an invalid or expired certificate",
    "blocked_address": f"private, local and reserved network addresses are refused; {_PRIVATE}",
    "too_many_redirects": "too many redirects, maybe a loop; put the final address in feeds.yaml",
    "bad_scheme": "only http:// and https:// addresses can be fetched; fix the URL in feeds.yaml",
    "bad_url": "this is not a valid web address; fix the URL in feeds.yaml",
    "bad_response": "the server sent a malformed HTTP response; the problem is on the site's side",
    "http_error": "the server refused the request; check the URL in feeds.yaml",
    "not_found": "the feed address no longer exists; check the URL in feeds.yaml",
    "gone": "the feed was removed for good; delete it from feeds.yaml or find its new address",
    "rate_limited": "the server says the feed is fetched too often; it will be retried later",
    "unavailable": "the server is temporarily unavailable; the feed will be retried later",
    "server_error": "the server failed with an internal error; this is usually temporary",
    "forbidden": "the server refuses access; it may block feed readers or require a login",
    "unauthorized": "the feed requires a user name and password",
}

_STATUS_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 410: "gone"}
_STATUS_CODES |= {429: "rate_limited", 503: "unavailable"}

# --- address policy ------------------------------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598; not is_private in 3.11
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: embeds an IPv4 address


def address_problem(ip: Address) -> str | None:
    """Why fetching from ``ip`` is refused by default, or None for a public address.

    IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by
    that IPv4 address, so ``::ffff:127.0.0.1`` is loopback too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
    for kind in ("unspecified", "loopback", "link_local", "multicast"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if ip in _CGNAT:
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


class _BlockedAddress(Exception):  # noqa: N818 - internal signal, becomes FetchError
    """Raised inside the connection when every resolved address is refused.

    Deliberately not an OSError, so urllib3 neither retries nor rewraps it.
    """

    def __init__(self, host: str, ip: str, kind: str) -> None:
        self.host, self.ip, self.kind = host, ip, kind
        super().__init__(f"{host} resolves to {ip}, a {kind} address")


# --- per-fetch context: deadline watchdog and address policy -------------------------


class _Deadline:
    """Enforces the whole-fetch deadline by shutting down sockets when it passes.

    Socket timeouts only bound each recv(), and urllib3/http.client loop over
    recv() until they have what they want (a header line, ``amt`` bytes), so a
    server dripping a byte per second never trips them. A timer thread therefore
    calls shutdown() on every socket of the fetch at the deadline, which wakes the
    blocked recv() with EOF. It shuts down its own dup() of each socket: the fetch
    thread may close the original at any moment, and a dup can never be a reused
    file descriptor belonging to someone else.
    """

    def __init__(self, seconds: float, watchdog: _Watchdog) -> None:
        self.expires = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.fired = False
        self.done = False
        watchdog.add(self)

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:  # already closed
            return
        with self._lock:
            if not self.done:
                self._sockets.append(dup)
                if self.fired:
                    _shutdown(dup)
                return
        dup.close()

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def finish(self) -> bool:
        """Stop watching; True when the deadline fired (the fetch must fail)."""
        with self._lock:
            self.done = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()
        return self.fired


class _Watchdog:
    """One thread fires every deadline of a Fetcher, in expiry order.

    A threading.Timer per fetch started (and tore down) a thread for every poll,
    which was most of the CPU of a warm refresh where every feed answers 304
    (benchmarks/ingest.py). Finished deadlines stay in the heap until they reach the
    top; firing one is then a no-op.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, deadline: _Deadline) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fetch-deadlines", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, (deadline.expires, next(self._seq), deadline))
            if self._heap[0][2] is deadline:  # the new earliest: re-arm the wait
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                expires, _, deadline = self._heap[0]
                wait = expires - time.monotonic()
                if deadline.done or wait <= 0:
                    heapq.heappop(self._heap)
                    deadline.fire()  # takes only the deadline's own lock
                else:
                    self._cond.wait(wait)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected (yet), or already closed
        sock.shutdown(socket.SHUT_RDWR)


@dataclasses.dataclass(frozen=True)
class _Context:
    deadline: _Deadline
    allow_private: bool
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def problem(self, ip: Address) -> str | None:
        if self.allow_private:
            return None
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if any(ip in net or (mapped is not None and mapped in net) for net in self.allowed):
            return None
        return address_problem(ip)


# The fetch running on this thread; the connection classes below read it, since
# requests offers no way to pass per-request state down to the socket.
_local = threading.local()


def _context() -> _Context | None:
    return getattr(_local, "context", None)


class _HTTPConnection(HTTPConnection):
    """Resolves, checks and connects in one place, so the address checked is the
    address connected to (no second DNS lookup for a rebinding attacker to answer
    differently), for the first hop and every redirect alike."""

    def _new_conn(self) -> socket.socket:
        ctx = _context()
        host = self._dns_host.strip("[]")
        try:
            infos = socket.getaddrinfo(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e
        blocked: _BlockedAddress | None = None
        error: OSError | None = None
        for family, socktype, proto, _canonname, sockaddr in infos:
            ip = ipaddress.ip_address(sockaddr[0])
            kind = ctx.problem(ip) if ctx else address_problem(ip)
            if kind is not None:
                blocked = blocked or _BlockedAddress(self.host, str(ip), kind)
                continue
            sock = socket.socket(family, socktype, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                timeout = self.timeout if isinstance(self.timeout, int | float) else None
                if ctx is not None:
                    ctx.deadline.watch(sock)
                    left = ctx.deadline.remaining()
                    timeout = left if timeout is None else min(timeout, left)
                sock.settimeout(timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except TimeoutError as e:
                sock.close()
                raise ConnectTimeout(
                    self, f"Connection to {self.host} timed out. (connect timeout={timeout})"
                ) from e
            except OSError as e:
                sock.close()
                error = e
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        if error is not None or blocked is None:
            message = f"Failed to establish a new connection: {error or 'no address'}"
            raise NewConnectionError(self, message) from error
        raise blocked

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # A keep-alive connection from an earlier fetch on this thread: watch its
        # socket too (new connections were watched in _new_conn).
        ctx = _context()
        if ctx is not None and self.sock is not None:
            ctx.deadline.watch(self.sock)
        super().request(*args, **kwargs)


class _HTTPSConnection(_HTTPConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection  # type: ignore[assignment]


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection  # type: ignore[assignment]


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# --- the fetcher -----------------------------------------------------------------------


class Fetcher:
    """Fetches feeds over HTTP. Safe to call from several threads at once.

    requests.Session is not documented as thread-safe, so each thread gets its own
    session (and connection pool); ``close()`` closes them all.
    """

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        max_size: int = 10 * 1024 * 1024,
        allow_private_networks: bool = False,
        connect_timeout: float = 10.0,
        read_timeout: float = 15.0,
        user_agent: str = USER_AGENT,
        allowed_networks: Iterable[str] = (),
        ca_bundle: str | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_size = max_size
        self.allow_private_networks = allow_private_networks
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        # Narrower than allow_private_networks: trust only these networks.
        self.allowed_networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in allowed_networks
        )
        self.ca_bundle = ca_bundle  # a PEM file used instead of certifi's CAs (private CA)
        self._lock = threading.Lock()
        self._sessions: dict[threading.Thread, requests.Session] = {}
        self._local = threading.local()
        self._closed = False
        self._watchdog = _Watchdog()

    # -- sessions --

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            return session
        session = requests.Session()
        session.trust_env = False  # no proxies or netrc from the environment
        session.verify = self.ca_bundle or True
        session.headers = CaseInsensitiveDict({**_HEADERS, "User-Agent": self.user_agent})
        # Cookies live for one fetch only (see _fetch), never across feeds.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = _GuardedAdapter(pool_connections=16, pool_maxsize=4, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        with self._lock:
            if self._closed:
                session.close()
                raise RuntimeError("Fetcher.fetch() called after close()")
            # Close the sessions of threads that have exited, so a caller that
            # makes new threads for each round does not accumulate sockets.
            for thread in [t for t in self._sessions if not t.is_alive()]:
                self._sessions.pop(thread).close()
            self._sessions[threading.current_thread()] = session
        self._local.session = session
        return session

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()
        self._watchdog.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- fetching --

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        now: datetime | None = None,
    ) -> FetchResult:
        """GET ``url``; a 200 or 304 becomes a FetchResult, anything else a FetchError."""
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        started = time.monotonic()
        deadline = _Deadline(self.timeout, self._watchdog)
        _local.context = _Context(deadline, self.allow_private_networks, self.allowed_networks)
        try:
            result = self._fetch(url, etag, last_modified, now, deadline)
            if deadline.finish():
                raise self._timeout_error(url)
        except FetchError:
            raise
        except _BlockedAddress as e:
            message = f"{e}: {ERROR_CODES['blocked_address']}"
            raise FetchError(url, "blocked_address", message) from e
        except _TRANSPORT_EXCEPTIONS as e:
            if deadline.finish():
                raise self._timeout_error(url) from e
            raise _transport_error(url, e) from e
        finally:
            _local.context = None
            deadline.finish()
        elapsed = time.monotonic() - started
        log.debug("fetched %s: HTTP %s in %.2fs", url, result.status, elapsed)
        return dataclasses.replace(result, elapsed=elapsed)

    def _timeout_error(self, url: str) -> FetchError:
        detail = f"no complete answer within {self.timeout:g} seconds"
        return FetchError(url, "timeout", f"{detail}: {ERROR_CODES['timeout']}")

    def _fetch(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        now: datetime,
        deadline: _Deadline,
    ) -> FetchResult:
        session = self._session()
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        # Credentials written in the URL (https://user:pass@host/feed) follow
        # redirects only on the same host, like requests' own redirect code.
        url_auth = get_auth_from_url(url)
        jar = RequestsCookieJar()  # cookies set along this redirect chain only
        current, hops, permanent = url, 0, True
        while True:
            _check_url(url, current)
            left = deadline.remaining()
            if left <= 0:
                raise self._timeout_error(url)
            auth = None
            if any(url_auth) and not session.should_strip_auth(url, current):
                auth = url_auth
            request = requests.Request("GET", current, headers=conditional, cookies=jar, auth=auth)
            prepared = session.prepare_request(request)
            timeouts = (min(self.connect_timeout, left), min(self.read_timeout, left))
            response = session.send(prepared, stream=True, allow_redirects=False, timeout=timeouts)
            with response:
                status = response.status_code
                location = session.get_redirect_target(response)
                if status in REDIRECT_STATUSES and location:
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        detail = f"redirected more than {MAX_REDIRECTS} times (last to {location})"
                        message = f"{detail}: {ERROR_CODES['too_many_redirects']}"
                        raise FetchError(url, "too_many_redirects", message, status=status)
                    permanent = permanent and status in PERMANENT_REDIRECTS
                    extract_cookies_to_jar(jar, prepared, response.raw)
                    log.debug("%s: HTTP %s redirect to %s", current, status, location)
                    current = urljoin(prepared.url or current, location)
                    continue
                # The body we hand on is already decoded: drop the headers that
                # describe the wire form, so no parser tries to decode it twice.
                headers = {
                    name.lower(): value
                    for name, value in response.headers.items()
                    if name.lower()
                    not in ("content-encoding", "content-length", "transfer-encoding")
                }
                final_url = prepared.url or current
                moved_to = final_url if hops and permanent else None
                if status == 304 and conditional:
                    # RFC 9110 §15.4.5: a 304 should repeat the validators; when it
                    # does not, the ones we sent are still the valid ones.
                    etag = headers.get("etag") or etag
                    last_modified = headers.get("last-modified") or last_modified
                    # Read the (empty) body so the connection goes back to the pool
                    # instead of being closed: keep-alive makes a warm refresh cheap.
                    _ = response.content
                    body = None
                elif status in (200, 203):  # 203: a transforming proxy's 200
                    status, body = 200, self._read_body(url, response)
                    etag, last_modified = headers.get("etag"), headers.get("last-modified")
                else:
                    raise _status_error(url, response, now)
                return FetchResult(
                    url, final_url, status, body, headers, etag, last_modified, moved_to
                )

    def _read_body(self, url: str, response: requests.Response) -> bytes:
        """Stream the body, counting DECODED bytes, so a gzip bomb stops at the cap.

        urllib3 >= 2.6 bounds each decompression step by the amount asked for
        (CVE-2025-66471), so memory stays near max_size + CHUNK_SIZE.
        """
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_size:
            raise self._too_large(url, f"the server announced {int(length):,} bytes")
        body = bytearray()
        for chunk in response.iter_content(CHUNK_SIZE):
            body += chunk
            if len(body) > self.max_size:
                raise self._too_large(url, f"more than {self.max_size:,} bytes received")
        return bytes(body)

    def _too_large(self, url: str, detail: str) -> FetchError:
        detail += f", the limit is {self.max_size:,}"
        return FetchError(url, "too_large", f"{detail}: {ERROR_CODES['too_large']}")


# --- helpers -------------------------------------------------------------------------


def _check_url(url: str, current: str) -> None:
    """Only http(s) with a host, at every hop (a redirect may point to file:, ...)."""
    try:
        parts = urlsplit(current)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise FetchError(url, "bad_url", f"{current!r}: {ERROR_CODES['bad_url']}") from e
    if parts.scheme.lower() not in ("http", "https"):
        where = f"{current!r} is" if current == url else f"redirected to {current!r}, which is"
        raise FetchError(
            url,
            "bad_scheme",
            f"{where} not an http(s) address: {ERROR_CODES['bad_scheme']}",
        )
    if not parts.hostname:
        raise FetchError(url, "bad_url", f"{current!r} has no host: {ERROR_CODES['bad_url']}")


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """RFC 9110 §10.2.3: ``Retry-After`` is delta-seconds or an HTTP-date.

    Returns an aware UTC datetime (never before ``now``), or None when absent or
    unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        if value.isdigit():
            return now.astimezone(UTC) + timedelta(seconds=int(value))
        when = parsedate_to_datetime(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" in email terms; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(when.astimezone(UTC), now.astimezone(UTC))


def _status_error(url: str, response: requests.Response, now: datetime) -> FetchError:
    status = response.status_code
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = response.reason or "(unknown status)"
    code = _STATUS_CODES.get(status) or ("server_error" if 500 <= status < 600 else "http_error")
    retry_after = None
    message = f"HTTP {status} {phrase}: {ERROR_CODES[code]}"
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        if retry_after is not None:
            message += f" (the server asks to wait until {retry_after:%Y-%m-%d %H:%M:%S} UTC)"
    return FetchError(url, code, message, status=status, retry_after=retry_after)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (requests -> urllib3 -> socket)."""
    found = [exc]
    for e in found:  # grows while iterating: a breadth-first walk
        wrapped = (getattr(e, "reason", None), e.__cause__, e.__context__, *e.args)
        found += [c for c in wrapped if isinstance(c, BaseException) and c not in found]
    return found


# Transport failures, most specific first (miniflux classifies in one place too).
# RemoteDisconnected is both a ConnectionResetError and a BadStatusLine: "connect"
# wins because the builtin ConnectionError is tested before HTTPException.
_TIMEOUT = (requests.Timeout, ConnectTimeout, ReadTimeoutError, TimeoutError)
_TLS = (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError)
_TRUNCATED = (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead)
_BAD_URL = (requests.exceptions.InvalidURL, urllib3.exceptions.LocationParseError)
_BAD_HTTP = (urllib3.exceptions.DecodeError, http.client.HTTPException, ValueError)
_TRANSPORT_EXCEPTIONS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    *_BAD_HTTP,
)
_TRANSPORT_ERRORS: tuple[tuple[tuple[type[BaseException], ...], str, str], ...] = (
    (_TIMEOUT, "timeout", "{host} did not answer in time"),
    (_TLS, "tls", "TLS error with {host} ({ssl})"),
    ((NameResolutionError, socket.gaierror), "dns", "cannot resolve host name {host!r}"),
    ((ConnectionRefusedError,), "connect", "{host} refused the connection"),
    ((ConnectionError,), "connect", "the connection to {host} was lost ({error})"),
    (_TRUNCATED, "connect", "the connection to {host} closed before the whole feed arrived"),
    (_BAD_URL, "bad_url", "{url!r}"),
    (_BAD_HTTP, "bad_response", "{host} sent something that is not valid HTTP ({error})"),
)


def _transport_error(url: str, exc: BaseException) -> FetchError:
    """Turn any requests/urllib3/socket exception into a FetchError with a code."""
    causes = _causes(exc)
    host = urlsplit(url).hostname or url
    # urllib3 makes NewConnectionError (and NameResolutionError) subclasses of
    # ConnectTimeoutError for backwards compatibility; they are not timeouts.
    timeouts = [c for c in causes if not isinstance(c, NewConnectionError)]
    ssl_error = next((c for c in causes if isinstance(c, ssl.SSLError)), exc)
    code, detail, matched = "connect", "network error with {host} ({error})", causes[-1]
    for types, code_, detail_ in _TRANSPORT_ERRORS:
        found = [c for c in (timeouts if code_ == "timeout" else causes) if isinstance(c, types)]
        if found:
            code, detail, matched = code_, detail_, found[-1]
            break
    detail = detail.format(host=host, url=url, error=_oneline(matched), ssl=_oneline(ssl_error))
    return FetchError(url, code, f"{detail}: {ERROR_CODES[code]}")


def _oneline(exc: BaseException) -> str:
    """An exception as one short line (servers can put anything in a status line)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"
