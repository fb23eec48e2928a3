"""The dashboard: the Flask application factory, its security envelope and its server.

Owns: ``create_app()`` (settings, secret key, storage, config and forwarder wiring,
security headers, language choice, error pages), ``check_bind_allowed()`` (refuse to
expose an unprotected dashboard) and ``serve()`` (waitress). Pages live in ``views``,
state changes in ``actions``, the JSON API in ``api``, login in ``auth``, words in
``i18n``; forwarding an item to a contact in ``forwarding`` (the panel, the outbox
actions) and ``people`` (the sent page, contacts, /api/forwards).

The scheduler never starts here: a debug reloader or a multi-worker server would run
it twice. Entry points (the CLI) start it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

import aggregator
from aggregator.config import ConfigSource, ContactSource
from aggregator.errors import AggregatorError
from aggregator.forward import Forwarder
from aggregator.models import Config
from aggregator.storage import Storage
from aggregator.web import guard, i18n, params

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "config/feeds.yaml"
DEFAULT_DB = "data/aggregator.sqlite3"
CONTACTS_FILE = "contacts.yaml"  # next to feeds.yaml unless AGGREGATOR_CONTACTS says otherwise
OUTBOX_DIR = "outbox"  # next to the database: .eml copies while SMTP is not configured
SECRET_KEY_FILE = "secret_key"  # noqa: S105 -- a file name, not a secret

# Every response carries these. The CSP forbids inline script and style everywhere, so
# even a sanitizer bypass in an entry's HTML cannot run code; content images may come
# from anywhere (they are the articles' own), scripts and styles only from us.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' https: http: data:; media-src https: http:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: then Chromium sends "Origin: null" with our own form posts, which
    # the origin check (guard) must refuse. same-origin still tells other sites nothing.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

csrf = CSRFProtect()


def _resource_dir(name: str) -> Path:
    """``templates`` / ``static``: inside the package when installed from a wheel
    (pyproject force-includes them there), else the checkout's top-level folder."""
    package = Path(aggregator.__file__).resolve().parent
    inside = package / name
    return inside if inside.is_dir() else package.parent / name


class UndoStore:
    """Ids changed by "mark all as read", kept between the POST and the page that
    offers to undo it. In memory and bounded: a session cookie could not hold
    thousands of ids (browsers drop cookies over 4 KB), and an undo is only useful
    for a few minutes anyway."""

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[str, list[int]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, ids: list[int]) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._items[token] = list(ids)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return token

    def get(self, token: str) -> list[int] | None:
        with self._lock:
            return self._items.get(token)


class AggregatorState:
    """What the views reach through ``current_app.extensions["aggregator"]``."""

    def __init__(
        self,
        storage: Storage,
        config_source: ConfigSource,
        password: str | None,
        forwarder: Forwarder,
        contact_source: ContactSource,
        outbox_dir: Path,
    ):
        self.storage = storage
        self.config_source = config_source
        self.password = password
        self.forwarder = forwarder
        self.contact_source = contact_source
        self.outbox_dir = outbox_dir
        self.undo = UndoStore()

    @property
    def config(self) -> Config | None:
        """The last valid configuration (None if the file never loaded)."""
        return self.config_source.config

    def tabs(self) -> list[str]:
        """Tab names in the order of feeds.yaml; from the database while the file has
        never loaded, so a broken file does not hide everything already fetched."""
        config = self.config
        if config is not None:
            return [t.name for t in config.tabs]
        names: list[str] = []
        for feed in self.storage.feeds():
            if feed.tab not in names:
                names.append(feed.tab)
        return names

    def close(self) -> None:
        self.storage.close()


def state() -> AggregatorState:
    from flask import current_app

    return current_app.extensions["aggregator"]


def _secret_key(setting: Any, db_path: Path) -> str:
    """The environment's key, else one generated once and kept beside the database.

    Secrets never go in YAML or the database. Called only once the database opened:
    nothing is written beside a file that is not ours. The key file appears whole or
    not at all: it is written to a temporary file (0600) in the same folder, synced,
    then hard-linked to its name, which fails if another process starting at the same
    moment got there first (then both use that one). A leftover that is not a key
    (empty or cut short by a full disk, a crash) is replaced, with a warning: no
    session can have been signed with it. Raises ``AggregatorError`` with the file and
    what to do when the folder cannot be written (full disk, permissions).
    """
    if setting:
        return str(setting)
    path = db_path.parent / SECRET_KEY_FILE
    for _ in range(5):  # each turn, another process changed the file under us
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as e:
            raise _key_error(path, "cannot be read", e) from e
        if data is not None:
            key = _valid_key(data)
            if key is not None:
                return key
            log.warning("%s is not a valid secret key (%d bytes): replacing it", path, len(data))
            try:
                if path.read_bytes() == data:
                    path.unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                raise _key_error(path, "is invalid and cannot be replaced", e) from e
        try:
            return _write_new_key(path)
        except FileExistsError:
            continue
        except OSError as e:
            raise _key_error(path, "cannot be written", e) from e
    raise AggregatorError(f"{path}: keeps changing while read; is another process rewriting it?")


def _valid_key(data: bytes) -> str | None:
    """What we write is 64 hex digits and a newline; accept any long printable key."""
    key = data.strip()
    if len(key) >= 32 and all(33 <= b < 127 for b in key):
        return key.decode("ascii")
    return None


def _write_new_key(path: Path) -> str:
    """Create ``path`` with a new key, whole; FileExistsError if it appeared meanwhile."""
    import tempfile

    key = secrets.token_hex(32)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system: rename (may replace)
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("generated a new secret key in %s", path)
    return key


def _key_error(path: Path, what: str, e: OSError) -> AggregatorError:
    return AggregatorError(
        f"{path}: the secret key file {what} ({e.strerror or e}); free some space or fix "
        "the folder's permissions, or set AGGREGATOR_SECRET_KEY in the environment"
    )


# --- storage problems (issue 7, item 14) --------------------------------------------

# A storage problem's kind (storage._status.problem_kind) -> what it is, what to do.
STORAGE_PROBLEMS = {
    "corrupt": (
        i18n.N_("The database %(path)s is damaged."),
        i18n.N_(
            "Stop the aggregator, then restore your last backup with “aggregator restore "
            "BACKUP_FILE” (see “Backup and restore” in the README)."
        ),
    ),
    "disk_full": (
        i18n.N_("The disk holding the database %(path)s is full."),
        i18n.N_("Free some space: the aggregator carries on by itself once it can write again."),
    ),
    "read_only": (
        i18n.N_("The database %(path)s cannot be written."),
        i18n.N_(
            "Check the permissions of the file and of its folder, then restart the aggregator."
        ),
    ),
    "locked": (
        i18n.N_("The database %(path)s stayed locked by another program for too long."),
        i18n.N_("If this lasts, look for another program using the file."),
    ),
    "storage": (
        i18n.N_("The database %(path)s cannot be used."),
        i18n.N_("The details are in the server log."),
    ),
}


def describe_storage_problem(kind: str, path: str) -> dict[str, str]:
    """``title`` and ``advice`` in the request's language. Only someone allowed to see
    the dashboard learns which folder the file is in; others get its name only."""
    from aggregator.web.auth import is_logged_in

    what, advice = STORAGE_PROBLEMS.get(kind, STORAGE_PROBLEMS["storage"])
    shown = os.path.abspath(path) if is_logged_in() else os.path.basename(path)
    return {"title": i18n.gettext(what, path=shown), "advice": i18n.gettext(advice)}


def _install_storage_errors(app: Flask) -> None:
    """A StorageError during a request (damaged pages, full disk, read-only folder):
    503 with which file and what to do, as a page or as JSON, instead of the generic
    "something went wrong"; recorded beside the database so that /feeds keeps showing
    it (``storage._status``)."""
    from aggregator.errors import StorageError
    from aggregator.storage import problem_kind

    @app.errorhandler(StorageError)
    def _storage(e: StorageError) -> Any:
        log.error("%s %s: %s", request.method, request.path, e)
        kind = problem_kind(e)
        state().storage.record_problem(e, now=datetime.now(UTC), source="dashboard")
        text = describe_storage_problem(kind, e.path)
        if wants_json():
            body = {"error": f"{text['title']} {text['advice']}", "status": 503, "problem": kind}
            return jsonify(body), 503
        title = i18n.gettext("Database problem")
        return (
            render_template(
                "error.html", status=503, title=title, message=text["title"], advice=text["advice"]
            ),
            503,
        )


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the dashboard. ``test_config`` overrides the environment and Flask settings.

    Settings: ``AGGREGATOR_CONFIG`` (feeds.yaml), ``AGGREGATOR_DB`` (SQLite file),
    ``AGGREGATOR_PASSWORD`` (login required when set), ``AGGREGATOR_SECRET_KEY``,
    ``AGGREGATOR_CONTACTS`` (contacts.yaml; default: next to feeds.yaml),
    ``AGGREGATOR_SMTP_PASSWORD`` (read by the forwarder; only for previews here: the
    scheduler, not the dashboard, delivers mail), ``AGGREGATOR_ALLOWED_HOSTS`` (names
    beyond loopback the dashboard answers to, e.g. a reverse proxy's public name),
    ``AGGREGATOR_PROXY`` (number of reverse proxies whose X-Forwarded-* headers to
    trust), ``AGGREGATOR_SECURE_COOKIES`` (1: cookies only over HTTPS). See ``guard``.
    """
    overrides = dict(test_config or {})

    def setting(name: str, default: Any = None) -> Any:
        return overrides.pop(name) if name in overrides else os.environ.get(name, default)

    config_path = str(setting("AGGREGATOR_CONFIG", DEFAULT_CONFIG))
    db_path = Path(setting("AGGREGATOR_DB", DEFAULT_DB))
    password = setting("AGGREGATOR_PASSWORD") or None
    contacts_path = Path(setting("AGGREGATOR_CONTACTS") or Path(config_path).parent / CONTACTS_FILE)
    smtp_password = setting("AGGREGATOR_SMTP_PASSWORD") or None
    secret = overrides.pop("SECRET_KEY", None) or setting("AGGREGATOR_SECRET_KEY")
    hosts = guard.AllowedHosts.from_setting(setting("AGGREGATOR_ALLOWED_HOSTS"))
    proxies = setting("AGGREGATOR_PROXY")
    secure_cookies = guard.setting_is_true(setting("AGGREGATOR_SECURE_COOKIES"))

    app = Flask(
        __name__,
        template_folder=str(_resource_dir("templates")),
        static_folder=str(_resource_dir("static")),
    )
    app.config.from_mapping(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="aggregator_session",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        # A dashboard stays open all day: the CSRF token lives as long as the session
        # instead of Flask-WTF's default hour, which would break buttons at lunch.
        WTF_CSRF_TIME_LIMIT=None,
        # guard checks Origin (or Referer) on every state change, over HTTP and HTTPS;
        # Flask-WTF's HTTPS-only rule would also demand a Referer, which privacy
        # extensions strip while the browser still sends Origin.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update(overrides)
    app.session_interface = guard.SessionInterface()
    app.extensions["aggregator_hosts"] = hosts
    guard.install_proxy_fix(app, proxies)
    # Every <int:...> of a route is an id SQLite can hold, in ASCII digits (params).
    app.url_map.converters["int"] = params.IdConverter
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    # The database first: it refuses a file that is not ours (or a broken one) before
    # anything, the secret key included, is written beside it.
    storage = Storage(db_path)
    try:
        app.config["SECRET_KEY"] = _secret_key(secret, db_path)
    except BaseException:
        storage.close()
        raise
    config_source = ConfigSource(config_path)
    contact_source = ContactSource(contacts_path)
    outbox_dir = db_path.parent / OUTBOX_DIR
    forwarder = Forwarder(
        storage, config_source, contact_source, outbox_dir=outbox_dir, password=smtp_password
    )
    app.extensions["aggregator"] = AggregatorState(
        storage, config_source, password, forwarder, contact_source, outbox_dir
    )

    _install_hooks(app)  # first: the language is known before the CSRF check may fail
    csrf.init_app(app)
    _install_error_pages(app)
    _install_storage_errors(app)

    from aggregator.web import actions, api, auth, filters, forwarding, items, people, views

    filters.install(app)
    items.install(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(forwarding.bp)
    app.register_blueprint(people.bp)
    _install_subscriptions(app)
    _install_sync(app)
    return app


def _install_sync(app: Flask) -> None:
    """The sync APIs for phone and desktop apps, and their page (issue 11)."""
    from aggregator.web import apiauth

    apiauth.install_all(app)


def _install_subscriptions(app: Flask) -> None:
    """Adding, managing and importing feeds from the dashboard (issue 8)."""
    from aggregator.web import importing, manage, subscriptions

    subscriptions.install(app)
    app.register_blueprint(subscriptions.bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(importing.bp)


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def _before() -> None:
        g.lang, g.set_lang_cookie = i18n.choose_language()
        g.now = datetime.now(UTC)
        _check_host_and_origin()
        if request.endpoint != "static":
            # Cheap (a stat of the file): keeps the error banner current with hand edits.
            state().config_source.refresh()
            state().contact_source.refresh()

    @app.after_request
    def _after(response: Any) -> Any:
        response.headers.update(SECURITY_HEADERS)
        if g.get("set_lang_cookie"):
            response.set_cookie(
                i18n.LANG_COOKIE,
                g.lang,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="Lax",
                secure=guard.secure_cookies(),
            )
        if request.endpoint != "static":
            # Pages show read state and counts that change under them: never cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _check_host_and_origin() -> None:
    """First thing on every request (see ``guard``): a Host we are not served under, or
    a state change sent from another site, is refused before anything else runs."""
    host = guard.host_problem()
    # A refused Host may be a rebinding page: its error page shows nothing of the
    # dashboard (auth.is_logged_in is False for it).
    g.foreign_host = host is not None
    if host is not None:
        log.warning("refused a request for host %r (%s %s)", host, request.method, request.path)
        abort(
            400,
            i18n.gettext(
                "This dashboard does not answer to the name “%(host)s”. If it is served under this name (behind a reverse proxy), add the name to AGGREGATOR_ALLOWED_HOSTS.",  # noqa: E501
                host=host[:100],
            ),
        )
    origin = guard.origin_problem()
    if origin is not None:
        log.warning("refused a %s %s sent from %r", request.method, request.path, origin[:200])
        abort(
            400,
            i18n.gettext(
                "This form was sent from another site, so it was refused: reload the page here and try again."  # noqa: E501
            ),
        )


def wants_json() -> bool:
    """True for the JSON API and for the dashboard's own fetch() calls."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str) -> Any:
    if wants_json():
        return jsonify({"error": message, "status": status}), status
    if status == 404:
        title = i18n.gettext("Page not found")
    elif status == 429:
        title = i18n.gettext("Too many requests")
    elif status >= 500:
        title = i18n.gettext("Server error")
    else:
        title = i18n.gettext("Bad request")
    return render_template("error.html", status=status, title=title, message=message), status


def _install_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError) -> Any:
        return error_response(
            400,
            i18n.gettext(
                "The form expired or was sent from elsewhere: reload the page and try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Any:
        code = e.code or 500
        if code < 400:
            return e
        # Our own abort(code, sentence) carries a translated sentence; werkzeug's
        # default descriptions are English paragraphs, replaced by ours.
        ours = e.description and e.description != type(e).description
        message = e.description if ours else _default_message(code)
        return error_response(code, str(message))

    @app.errorhandler(Exception)
    def _crash(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500,
            i18n.gettext("Something went wrong on our side; the details are in the server log."),
        )


def _default_message(code: int) -> str:
    if code == 404:
        return i18n.gettext("This page does not exist, or no longer exists.")
    if code == 429:
        return i18n.gettext("Too many failed attempts: wait 15 minutes before trying again.")
    if code >= 500:
        return i18n.gettext("Something went wrong on our side; the details are in the server log.")
    return i18n.gettext("The request could not be understood.")


# --- binding and serving -----------------------------------------------------------


def _is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_allowed(host: str, password: str | None) -> None:
    """Refuse to listen beyond this machine without a password.

    Raises ``AggregatorError`` for any address other than loopback (127.0.0.0/8, ::1,
    localhost) when no password is set: the dashboard can mark, star and refresh, and
    later send mail, on its owner's behalf.
    """
    if password or _is_loopback(host):
        return
    raise AggregatorError(
        f"Listening on {host} exposes your dashboard: set AGGREGATOR_PASSWORD in the "
        "environment first (or listen on 127.0.0.1)"
    )


def serve(app: Flask, host: str, port: int, *, threads: int = 4) -> Any:
    """Bind a waitress server to ``host:port`` (0 picks a free port) without running it.

    Returns a ``server.Server``: call ``.run()`` (blocking, e.g. in a thread) and
    ``.close()`` from elsewhere to stop (promptly, requests in flight finished);
    ``.effective_port`` is the bound port. The app then also answers to the bound
    address (``guard.AllowedHosts.add_bound``).
    """
    from aggregator.web.server import Server

    if host.lower() == "localhost":
        # One socket, so the server has a single effective_port (localhost can resolve
        # to both 127.0.0.1 and ::1, which makes waitress build a multi-socket server).
        host = "127.0.0.1"
    guard.allowed_hosts(app).add_bound(host)
    return Server(app, host.strip("[]"), port, threads=threads, headers=_waitress_headers())


def _waitress_headers() -> dict[str, str]:
    """For the answers waitress writes itself (plain text, never cached)."""
    return {**SECURITY_HEADERS, "Cache-Control": "no-store"}


def safe_next(target: str | None, default: str = "/") -> str:
    """A redirect target from a form or query, kept only if it stays on this site:
    a path starting with one slash (``//host`` and ``/\\host`` would leave it)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if not target.isprintable():  # line breaks, tabs, NUL and other control characters
        return default
    return target
