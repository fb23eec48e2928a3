"""Who may talk to the dashboard: the names it answers to, where forms may come from,
the reverse proxy in front of it and the cookies' ``Secure`` flag.

DNS rebinding: a page on ``http://evil.example:8000`` whose name the attacker's DNS
later points at 127.0.0.1 is, for the browser, same-origin with the dashboard: it can
read every page and post every form. What gives it away is the ``Host`` header, which
still says ``evil.example``. So every request must name a host the dashboard is served
under (:class:`AllowedHosts`): loopback names and addresses, the address ``serve``
was bound to, and the names listed in ``AGGREGATOR_ALLOWED_HOSTS`` (a reverse proxy's
public name). Everything else is a 400.

State-changing requests (POST, PUT, PATCH, DELETE) are also checked by origin, in
addition to the CSRF token: ``Origin`` (or ``Referer`` when a client sends no Origin)
must be this very site (same host and port) or one of the configured public names.
``Origin: null`` (sandboxed frames, ``data:`` pages, redirects across sites) is
refused. A request with neither header is let through to the CSRF check: every browser
in use sends ``Origin`` on a POST (ours included: the pages' referrer policy is
``same-origin``, under ``no-referrer`` Chromium would send ``Origin: null``), so such
a request comes from a script or curl, which a hostile page cannot drive with the
owner's cookies, and which still needs the session and a valid CSRF token.

Why not Flask's ``TRUSTED_HOSTS`` alone: Flask checks it lazily while routing, after
the ``before_request`` hooks (so the login gate would answer a forged Host with a
redirect to the login page instead of a refusal), it cannot say "any of 127.0.0.0/8"
or "any IP address" and its error is an English sentence. The matching of names is
werkzeug's own (:func:`werkzeug.sansio.utils.host_is_trusted`: character validation,
IDNA, ``.example.org`` for subdomains, ports ignored).

Behind a reverse proxy (``AGGREGATOR_PROXY=1``, the number of proxies), werkzeug's
``ProxyFix`` takes the client's address, scheme, host and port from the proxy's
``X-Forwarded-*`` headers; without that setting they are ignored, since anyone can
send them. Cookies get ``Secure`` with ``AGGREGATOR_SECURE_COOKIES=1``, and on their own
when the request came over HTTPS (which, behind a TLS proxy, only ProxyFix can tell).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.utils import host_is_trusted

from aggregator.errors import AggregatorError

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DEFAULT_PORTS = {"http": 80, "https": 443}
TRUE_WORDS = ("1", "true", "yes", "on")


def _hostname(host: str) -> str:
    """``[::1]:8000`` -> ``::1``; ``Example.ORG:80`` -> ``example.org``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1), with or without port."""
    name = _hostname(host)
    if name == "localhost":
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback


class AllowedHosts:
    """The names the dashboard answers to (see the module docstring)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        #: Names given in AGGREGATOR_ALLOWED_HOSTS or by the bind address.
        self.names: list[str] = []
        #: Bound to every interface (0.0.0.0, ::): any IP address is one of ours. An
        #: address cannot be rebound: DNS rebinding needs a name the attacker's DNS serves.
        self.any_address = False
        for name in names:
            self.add(name)

    @classmethod
    def from_setting(cls, setting: str | None) -> AllowedHosts:
        """``AGGREGATOR_ALLOWED_HOSTS``: comma-separated names (``feeds.example.org``,
        ``.example.org`` for its subdomains too); ports are ignored."""
        return cls(n for n in (setting or "").split(",") if n.strip())

    def add(self, name: str) -> None:
        name = _hostname(name) if name.strip().startswith("[") else name.strip().lower()
        if name and name not in self.names:
            self.names.append(name)

    def add_bound(self, host: str) -> None:
        """The address ``serve`` listens on; a wildcard one allows every IP address."""
        name = host.strip().strip("[]")
        ip = _ip(name)
        if ip is not None and ip.is_unspecified:
            self.any_address = True
        elif not is_loopback(host):
            self.add(name)

    def allows(self, host: str) -> bool:
        """``host`` is a Host header (``name[:port]``)."""
        host = host.strip().lower()
        if not host_is_trusted(host):  # no name, bad characters, port out of range
            return False
        if is_loopback(host):
            return True
        name = _hostname(host)
        if self.any_address and _ip(name) is not None:
            return True
        return self.configured(name)

    def configured(self, name: str) -> bool:
        """``name`` (no port) is one of the names given, not a loopback default."""
        name = name.strip().lower()
        ip = _ip(name)
        if ip is not None:
            # werkzeug's matching cuts names at the first colon: compare addresses here
            return any(_ip(n) == ip for n in self.names)
        names = [n for n in self.names if _ip(n) is None]
        return bool(names) and host_is_trusted(name, names)


def allowed_hosts(app: Flask | None = None) -> AllowedHosts:
    return (app or current_app).extensions["aggregator_hosts"]


def host_problem() -> str | None:
    """None when the request names one of our hosts, else the name it gave."""
    host = request.headers.get("Host", "")
    if allowed_hosts().allows(host):
        return None
    return host


def _origin_of(url: str) -> tuple[str, int] | None:
    """``https://Feeds.example.org/x`` -> ``("feeds.example.org", 443)``; None when not
    an http(s) URL with a host (``null`` included)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def origin_problem() -> str | None:
    """For a state-changing request: None when it comes from this site (or has no
    Origin and no Referer, see the module docstring), else what it claims to come from."""
    if request.method in SAFE_METHODS or authenticates_itself():
        return None
    claimed = request.headers.get("Origin")
    if claimed is None:
        claimed = request.headers.get("Referer")
        if claimed is None:
            return None
    origin = _origin_of(claimed)
    if origin is None:
        return claimed or "(empty)"
    own = _origin_of(f"{request.scheme}://{request.host}")
    if origin == own or allowed_hosts().configured(origin[0]):
        return None
    return claimed


# Blueprints whose every request carries its own secret (the sync APIs of issue 11: a
# GReader ``Authorization`` header, a Fever ``api_key``), registered by
# ``apiauth.install_all``. They never read a cookie, so a hostile page cannot borrow
# the owner's credentials: the Origin check (and the CSRF token, exempted there)
# protect nothing on them, and native and Electron apps send no or odd Origins. The
# Host check still applies.
SELF_AUTHENTICATED = "aggregator_self_authenticated"


def authenticates_itself() -> bool:
    """True for a request routed to one of the SELF_AUTHENTICATED blueprints."""
    return request.blueprint in current_app.extensions.get(SELF_AUTHENTICATED, ())


def install_proxy_fix(app: Flask, setting: Any) -> None:
    """``AGGREGATOR_PROXY``: how many reverse proxies stand in front (0 or empty: none,
    and X-Forwarded-* headers are ignored)."""
    text = str(setting or "0").strip().lower()
    if text in ("true", "yes", "on"):
        text = "1"
    if not text.isascii() or not text.isdigit() or int(text) > 10:
        raise AggregatorError(
            f"AGGREGATOR_PROXY={setting!r}: give the number of reverse proxies in front "
            "of the dashboard (1 for one), or leave it unset"
        )
    count = int(text)
    if count:
        # Not X-Forwarded-Prefix: the dashboard is served at the root of its host (its
        # "next" targets are absolute paths), so a sub-path proxy would half work.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )


def secure_cookies() -> bool:
    """Cookies for this response get ``Secure``: always with the setting, else when the
    request came over HTTPS (behind a proxy: only when AGGREGATOR_PROXY says to trust
    its X-Forwarded-Proto)."""
    return bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, ``Secure`` per request (see ``secure_cookies``)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return secure_cookies()


def setting_is_true(value: Any) -> bool:
    return str(value or "").strip().lower() in TRUE_WORDS
