"""Failure classification for ``aggregator.fetch``: every way a fetch can fail,
turned into ``errors.FetchError`` with a stable ``code`` and a plain English message.

This module owns ``ERROR_CODES`` (code -> the sentence a person can act on), the
mapping of HTTP status codes to codes (with ``Retry-After`` for 429/503), and the
single place where transport exceptions from requests, urllib3, http.client, ssl
and socket are classified (miniflux does the same in one function), so callers and
the dashboard only ever see codes, never library exception types.
"""

from __future__ import annotations

import http
import http.client
import socket
import ssl
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError as ConnectTimeout
from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError

from aggregator.errors import FetchError

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
