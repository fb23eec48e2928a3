"""Optional password login: the gate in front of every page, and its rate limit.

With ``AGGREGATOR_PASSWORD`` set, every page and API call needs a signed session
(Flask's session cookie, HttpOnly, SameSite=Lax). Lax rather than Strict: with Strict,
following a link to the dashboard from another site or a mail would look logged out;
state changes are POSTs guarded by CSRF tokens anyway.

Without a password the dashboard is open, which ``check_bind_allowed`` only permits
on loopback addresses.

Revocation: the cookie is signed, not stored, so what it holds must be checkable
against the server. It holds an HMAC of the password and of the *session epoch*, a
random value kept in the database's ``meta`` table (shared by every process serving
the same database; not a secret, not the person's words, so neither the environment
nor YAML). Logging out draws a new epoch: every cookie issued before, on any device,
stops working. Changing ``AGGREGATOR_PASSWORD`` does the same, as the HMAC no longer
matches.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from aggregator.web import guard, i18n, safe_next, state, wants_json

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
OPEN_ENDPOINTS = {"auth.login", "static"}
EPOCH_KEY = "session_epoch"  # in Storage's meta table


class LoginLimiter:
    """At most ``max_failures`` wrong passwords per client address per ``window``.

    In memory: a restart forgets, which costs an attacker a restart they cannot cause.
    Addresses with no failure left in the window are dropped, so the table stays small.
    """

    def __init__(self, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(address, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        return times

    def blocked(self, address: str, *, now: datetime) -> bool:
        with self._lock:
            return len(self._recent(address, now)) >= self.max_failures

    def failed(self, address: str, *, now: datetime) -> None:
        with self._lock:
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


@bp.record_once
def _setup(setup_state: Any) -> None:
    setup_state.app.extensions["aggregator_login"] = LoginLimiter()


def _limiter() -> LoginLimiter:
    return current_app.extensions["aggregator_login"]


def _epoch() -> str:
    """The current session epoch ("" until the first logout)."""
    return state().storage.get_meta(EPOCH_KEY) or ""


def _session_mark(password: str, epoch: str) -> str:
    """What a logged-in session holds: changing the password, or logging out (a new
    epoch), logs every session out."""
    key = current_app.secret_key
    assert isinstance(key, str | bytes)
    key_bytes = key.encode() if isinstance(key, str) else key
    message = epoch.encode("ascii") + b"\0" + password.encode("utf-8")
    return hmac.new(key_bytes, message, hashlib.sha256).hexdigest()


def is_logged_in() -> bool:
    """May this request see the dashboard? Checked once per request (the gate, the
    templates and the forward banner ask). Never for a refused Host (guard)."""
    if g.get("foreign_host"):
        return False
    password = state().password
    if not password:
        return True
    # Kept on g with the request it belongs to: requests made inside an outer app
    # context (tests, scripts) share one g.
    current = request._get_current_object()  # type: ignore[attr-defined]
    cached = g.get("_logged_in")
    if cached is None or cached[0] is not current:
        mark = session.get("auth")
        ok = isinstance(mark, str) and hmac.compare_digest(mark, _session_mark(password, _epoch()))
        cached = g._logged_in = (current, ok)
    return bool(cached[1])


def _remember(ok: bool) -> None:
    g._logged_in = (request._get_current_object(), ok)  # type: ignore[attr-defined]


@bp.before_app_request
def _require_login() -> Any:
    if request.endpoint in OPEN_ENDPOINTS or is_logged_in():
        return None
    if guard.authenticates_itself():  # the sync APIs check their own credentials (issue 11)
        return None
    if wants_json():
        return jsonify({"error": i18n.gettext("Log in required."), "status": 401}), 401
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    password = state().password
    target = safe_next(request.values.get("next"))
    if not password:
        return redirect(target)
    error = None
    status = 200
    if request.method == "POST":
        address = request.remote_addr or "?"
        now = datetime.now(UTC)
        limiter = _limiter()
        given = request.form.get("password", "")
        if limiter.blocked(address, now=now):
            error = i18n.gettext("Too many failed attempts: wait 15 minutes before trying again.")
            status = 429
        elif hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
            limiter.succeeded(address)
            session.clear()
            session.permanent = True
            session["auth"] = _session_mark(password, _epoch())
            _remember(True)
            return redirect(target)
        else:
            limiter.failed(address, now=now)
            log.warning("failed login from %s", address)
            error = i18n.gettext("Wrong password.")
            status = 401
    return render_template("login.html", error=error, next=target), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """Logs out every session, not only this one: the cookie is all a thief needs."""
    state().storage.set_meta(EPOCH_KEY, secrets.token_hex(16))
    session.clear()
    _remember(False)
    return redirect(url_for("auth.login"))
