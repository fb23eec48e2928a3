"""What ``aggregator.fetch`` may connect to: URL checks and the address policy.

This module owns the refusal of non-http(s) URLs (at every redirect hop) and of
private, local and reserved network addresses (``address_problem``), and the
urllib3 connection / pool / requests adapter classes that enforce it. The check
happens inside the connection, on the address actually connected to, so a DNS
rebinding answer cannot slip past it; the same classes register each socket with
the fetch's ``_Deadline``. The per-thread ``_Context`` carries a fetch's policy
and deadline down to them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError as ConnectTimeout
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from aggregator.errors import FetchError

from ._deadline import _Deadline
from ._errors import ERROR_CODES

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

    def __reduce__(self) -> tuple[object, ...]:
        # Exception pickles as cls(*args), but args is the sentence, not (host, ip, kind).
        return (type(self), (self.host, self.ip, self.kind), dict(vars(self)))


# --- per-fetch context and the guarded connections -------------------------------


@dataclasses.dataclass(frozen=True)
class _Context:
    deadline: _Deadline
    allow_private: bool
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    # Fetcher(resolve=...): (host, port) -> (host or IP to look up, port to connect to)
    resolve: Callable[[str, int], tuple[str, int]] | None = None

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
        host, port = self._dns_host.strip("[]"), self.port
        try:
            if ctx is not None and ctx.resolve is not None:
                # Only the lookup is redirected: TLS still checks the certificate against
                # the URL's host name, and the address found is checked below like any.
                host, port = ctx.resolve(host, port)
            infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
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
