"""The sync APIs' credentials: one user name and one app password, apart from the
dashboard's password (a phone app stores it; losing the phone must not give the
dashboard away, and changing it must not log the dashboard out).

Where they come from, the first found wins:

1. ``AGGREGATOR_API_PASSWORD`` in the environment (secrets live there, STYLE.md), with
   ``AGGREGATOR_API_USER`` (default ``aggregator``);
2. the record written by ``aggregator api-password``: the user name and only salted
   scrypt hashes (of the password, and of the Fever key ``md5(user:password)``, which
   Fever clients send instead of the password), in the database's ``meta`` table.

Until one exists, every API call is refused with a 401 that says how to set one.

Checking: the GReader token handed out by ClientLogin is an HMAC (with the app's secret
key) of the credential's fingerprint, so checking the header on every call costs one
HMAC, and setting a new password invalidates every token at once. scrypt runs only at
login (and for a Fever key not seen since the process started: its result is cached by
a hash of the key, as the Fever key is sent on every call).

Failed attempts are limited per client address with the dashboard's ``LoginLimiter``
(a separate instance: a phone with an old password must not lock the owner out of the
dashboard).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, current_app, request

from aggregator.storage import Storage
from aggregator.storage._sync import API_CREDENTIALS_KEY
from aggregator.web.auth import LoginLimiter

log = logging.getLogger(__name__)

DEFAULT_USER = "aggregator"
MAX_USER = 100
# scrypt's cost: 16 MB of memory and ~50 ms per check on the reference machine
# (RFC 7914 section 2 recommends N=2^14, r=8 for interactive logins).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
LIMITER_KEY = "aggregator_api_login"
VERIFIED_CACHE = 64


def fever_key(user: str, password: str) -> str:
    """What Fever clients send as ``api_key``: md5 of ``user:password`` (Fever API)."""
    return hashlib.md5(f"{user}:{password}".encode(), usedforsecurity=False).hexdigest()


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (hex)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            secret.encode("utf-8"),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=len(digest) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def generate_password() -> str:
    """24 characters from the URL-safe alphabet (144 bits): typed once into an app."""
    return secrets.token_urlsafe(18)


def store_password(storage: Storage, user: str, password: str) -> None:
    """Keep the user name and salted hashes only (``aggregator api-password``)."""
    record = {
        "user": user,
        "password": hash_secret(password),
        "fever": hash_secret(fever_key(user, password)),
        "set_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    storage.set_meta(API_CREDENTIALS_KEY, json.dumps(record))


def valid_user(name: str) -> bool:
    return 0 < len(name) <= MAX_USER and name.isprintable() and ":" not in name


@dataclass(frozen=True)
class Credentials:
    user: str
    source: str  # "environment" or "database"
    fingerprint: str  # changes whenever the password does
    password: str | None = None  # environment only
    password_hash: str | None = None  # database only
    fever_hash: str | None = None  # database only

    def password_ok(self, given: str) -> bool:
        if self.password is not None:
            return hmac.compare_digest(given.encode("utf-8"), self.password.encode("utf-8"))
        return self.password_hash is not None and _cached_check(given, self.password_hash)

    def fever_key_ok(self, given: str) -> bool:
        given = given.strip().lower()
        if self.password is not None:
            expected = fever_key(self.user, self.password)
            return hmac.compare_digest(given.encode("utf-8"), expected.encode("ascii"))
        return self.fever_hash is not None and _cached_check(given, self.fever_hash)


_verified: dict[str, bool] = {}
_verified_lock = threading.Lock()


def _cached_check(given: str, stored: str) -> bool:
    """check_secret, remembering successes (by a hash of both) for this process."""
    key = hashlib.sha256(f"{stored}\0{given}".encode()).hexdigest()
    with _verified_lock:
        if key in _verified:
            return True
    ok = check_secret(given, stored)
    if ok:
        with _verified_lock:
            if len(_verified) >= VERIFIED_CACHE:
                _verified.pop(next(iter(_verified)))
            _verified[key] = True
    return ok


def _setting(name: str) -> str | None:
    """From the app's settings (tests pass them to create_app), else the environment."""
    value = current_app.config.get(name) if name in current_app.config else os.environ.get(name)
    return str(value) if value else None


def credentials() -> Credentials | None:
    """The API's credentials for this request, or None while none is set."""
    from aggregator.web import state

    password = _setting("AGGREGATOR_API_PASSWORD")
    if password:
        user = _setting("AGGREGATOR_API_USER") or DEFAULT_USER
        digest = hashlib.sha256(f"env\0{user}\0{password}".encode()).hexdigest()
        return Credentials(user, "environment", digest, password=password)
    raw = state().storage.get_meta(API_CREDENTIALS_KEY)
    if not raw:
        return None
    try:
        record = json.loads(raw)
        user, pw_hash, fever_hash = record["user"], record["password"], record["fever"]
    except (ValueError, KeyError, TypeError):
        log.warning("the API credential record in the database is unreadable: ignored")
        return None
    return Credentials(
        str(user), "database", str(pw_hash), password_hash=str(pw_hash), fever_hash=str(fever_hash)
    )


def _mac(purpose: str, creds: Credentials) -> str:
    key = current_app.secret_key
    key_bytes = key.encode() if isinstance(key, str) else bytes(key or b"")
    message = f"{purpose}\0{creds.user}\0{creds.fingerprint}".encode()
    return hmac.new(key_bytes, message, hashlib.sha256).hexdigest()


def token_for(creds: Credentials) -> str:
    """The GReader ``Auth`` token: ``user/HMAC`` of the credential's fingerprint."""
    return f"{creds.user}/{_mac('greader', creds)}"


def edit_token_for(creds: Credentials) -> str:
    """The GReader edit token ``T`` (57 characters, as Google's). Another HMAC, not a
    piece of the Auth token: clients send it in request bodies and log it (newsboat
    does), and it proves nothing here anyway."""
    return _mac("greader-edit", creds)[:57]


def token_ok(creds: Credentials, given: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), token_for(creds).encode("utf-8"))


# --- rate limit ------------------------------------------------------------------------


def limiter() -> LoginLimiter:
    return current_app.extensions[LIMITER_KEY]


def _address() -> str:
    return request.remote_addr or "?"


def blocked() -> bool:
    return limiter().blocked(_address(), now=datetime.now(UTC))


def failed(what: str) -> None:
    limiter().failed(_address(), now=datetime.now(UTC))
    log.warning("failed API login (%s) from %s", what, _address())


def succeeded() -> None:
    limiter().succeeded(_address())


def install(app: Flask) -> None:
    app.extensions[LIMITER_KEY] = LoginLimiter()

    @app.context_processor
    def _api_status() -> dict[str, Any]:
        return {"api_status": status}


def status() -> dict[str, Any]:
    """For the status page and « Applications mobiles »: enabled, user, source."""
    try:
        creds = credentials()
    except Exception:  # noqa: BLE001 -- a status line must never break its page
        log.exception("cannot read the API credentials")
        creds = None
    if creds is None:
        return {"enabled": False, "user": None, "source": None}
    return {"enabled": True, "user": creds.user, "source": creds.source}


# --- the « Applications mobiles » page ---------------------------------------------------

bp = Blueprint("apps", __name__)

# (app, platform, protocol, which URL): what the page lists, in this order.
APPS = (
    ("NetNewsWire", "iOS, macOS", "FreshRSS", "greader_php"),
    ("Reeder", "iOS, macOS", "FreshRSS / Google Reader API", "greader_php"),
    ("Read You", "Android", "FreshRSS", "greader_php"),
    ("FeedMe", "Android", "FreshRSS", "greader_php"),
    ("Fluent Reader", "Windows, macOS, Linux", "Google Reader API", "greader"),
    ("newsboat", "Linux (terminal)", 'urls-source "feedhq"', "greader"),
    ("Unread", "iOS", "Fever", "fever"),
    ("Fiery Feeds", "iOS, macOS", "Fever", "fever"),
    ("ReadKit", "macOS", "Fever", "fever"),
)


def api_urls() -> dict[str, str]:
    """The addresses to type, from the address this page was reached at (behind a TLS
    proxy, ``AGGREGATOR_PROXY`` makes it the public https:// one)."""
    base = request.host_url.rstrip("/")
    return {
        "greader": f"{base}/api/greader",
        "greader_php": f"{base}/api/greader.php",
        "fever": f"{base}/api/fever/",
    }


@bp.get("/apps")
def page() -> Any:
    from flask import render_template

    from aggregator.web.i18n import gettext as _

    urls = api_urls()
    return render_template(
        "apps.html",
        title=_("Mobile apps"),
        current_tab=None,
        api=status(),
        urls=urls,
        apps=[(name, where, how, urls[which]) for name, where, how, which in APPS],
        secure=request.is_secure,
    )


def install_all(app: Flask) -> None:
    """The sync APIs and their page (issue 11). Their blueprints authenticate every
    request themselves (a header or an api_key, never a cookie): ``guard`` exempts them
    from the Origin check and the dashboard's login gate, and Flask-WTF's CSRF check is
    switched off for them, deliberately, here and only here."""
    from aggregator.web import csrf, fever, greader, guard

    install(app)
    names: set[str] = app.extensions.setdefault(guard.SELF_AUTHENTICATED, set())

    def register(blueprint: Blueprint) -> None:
        csrf.exempt(blueprint)
        names.add(blueprint.name)
        app.register_blueprint(blueprint)

    greader.install(app, register)
    fever.install(app, register)
    app.register_blueprint(bp)
