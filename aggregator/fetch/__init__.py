"""HTTP retrieval of feeds: one GET (plus redirects) -> ``models.FetchResult``.

This package owns everything between a feed URL and the bytes of its body. This
module holds the public API and the fetch itself: ``Fetcher`` with its per-thread
``requests`` sessions and connection pools, the request headers, connect/read
timeouts, conditional GET, redirects (followed here, hop by hop, so each hop is
checked), and the size cap on decompressed bytes. The rest is split by concern:

- ``_guard``: which URLs and network addresses may be fetched (``address_problem``),
  enforced inside the urllib3 connection on the address actually connected to;
- ``_deadline``: the whole-fetch deadline and the watchdog thread that enforces it;
- ``_errors``: ``ERROR_CODES`` and the translation of every failure (HTTP status
  or transport exception) into ``errors.FetchError`` with a stable ``code`` and a
  plain English message.

It never parses the body and never touches the database.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urljoin

import requests
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_auth_from_url
from urllib3.util.request import ACCEPT_ENCODING

from aggregator import __version__
from aggregator.errors import FetchError
from aggregator.models import FetchResult

from ._deadline import _Deadline, _Watchdog
from ._errors import (
    _TRANSPORT_EXCEPTIONS,
    ERROR_CODES,
    _status_error,
    _transport_error,
    parse_retry_after,
)
from ._guard import (
    Address,
    _BlockedAddress,
    _check_url,
    _Context,
    _GuardedAdapter,
    _local,
    address_problem,
)

__all__ = [
    "ACCEPT",
    "ACCEPT_ENCODINGS",
    "CHUNK_SIZE",
    "ERROR_CODES",
    "MAX_REDIRECTS",
    "PERMANENT_REDIRECTS",
    "REDIRECT_STATUSES",
    "USER_AGENT",
    "Address",
    "Fetcher",
    "address_problem",
    "parse_retry_after",
]

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
        resolve: Callable[[str, int], tuple[str, int]] | None = None,
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
        # A name-lookup hook, (host, port) -> (host or IP, port), used by tests to serve
        # real host names (mastodon.social, www.youtube.com...) from 127.0.0.1 without
        # editing /etc/hosts. The address it leads to is still checked by the guard.
        self.resolve = resolve
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
        _local.context = _Context(
            deadline, self.allow_private_networks, self.allowed_networks, self.resolve
        )
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
