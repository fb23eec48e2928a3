"""What every template can use: ``_()``, dates in words, the tab bar's data, avatars.

Nothing here marks text as safe: the only unescaped fields are ``content_html`` and
``snippet``, marked ``|safe`` in the templates themselves where they are shown.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, request, url_for
from markupsafe import Markup, escape

from aggregator.web import i18n
from aggregator.web.i18n import N_

ARTICLES = {"le", "la", "les", "the", "a", "an", "un", "une", "des", "der", "die", "das"}
AVATAR_COLOURS = 8  # .avatar-0 ... .avatar-7 in app.css
PREVIEW_CHARS = 280

# The keyboard help overlay lists these, in this order; app.js binds the same keys.
# Another feature adds a key by appending a row here and a handler in app.js.
SHORTCUTS: list[tuple[tuple[str, ...], str]] = [
    (("j",), N_("Next article")),
    (("k",), N_("Previous article")),
    (("o", "Enter"), N_("Open or close the article")),
    (("m",), N_("Toggle read / unread")),
    (("s",), N_("Star or unstar")),
    (("/",), N_("Focus the search box")),
    (("f",), N_("Send to a contact (“This might interest someone”)")),
    (("g", "N"), N_("Go to tab number N (0: all)")),
    (("Esc",), N_("Close the article")),
    (("v",), N_("Open the original in a new tab")),
    (("A",), N_("Mark all as read (then « Undo »)")),
    (("r",), N_("Refresh: show the new articles")),
    (("?",), N_("Show this help")),
]


def avatar_class(feed_url: str) -> str:
    """A stable colour per feed, chosen by class: inline styles are forbidden by CSP."""
    return f"avatar-{zlib.crc32(feed_url.encode('utf-8')) % AVATAR_COLOURS}"


def initial(title: str | None) -> str:
    """The first letter or digit of a feed's name (of its host for an untitled feed,
    whose name is its URL), for its coloured badge."""
    title = title or ""
    if "://" in title:
        host = urlsplit(title).hostname or ""
        title = host.removeprefix("www.")
    words = title.replace("’", "'").split()
    if len(words) > 1 and words[0].lower() in ARTICLES:
        title = " ".join(words[1:])  # "Le Monde" and "Le Blog" should not both be "L"
    elif words and words[0].lower().startswith("l'") and len(words[0]) > 2:
        title = title.replace("’", "'").split("'", 1)[1]
    for ch in title:
        if ch.isalnum():
            return ch.upper()
    return "#"


def preview(text: str | None, limit: int = PREVIEW_CHARS) -> str:
    """A short plain-text preview, cut at a word boundary."""
    text = text or ""
    # Summaries can be whole articles: split only their beginning, unless it collapses
    # (runs of spaces) to no more than the limit. Either way the result is the same.
    head = " ".join(text[: 2 * limit].split())
    text = head if len(head) > limit else " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + "…"


def isodate(when: datetime | None) -> str:
    return when.isoformat().replace("+00:00", "Z") if when else ""


def reldate(when: datetime | None) -> str:
    if when is None:
        return i18n.gettext("never")
    return i18n.relative_date(when, g.get("now") or datetime.now(when.tzinfo))


def absdate(when: datetime | None) -> str:
    return i18n.absolute_date(when) if when else ""


def url_with(**changes: Any) -> str:
    """The current page's URL with some query arguments changed (None drops one)."""
    args = request.args.to_dict()
    args.pop("lang", None)
    args.pop("cursor", None)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    values: dict[str, Any] = {**(request.view_args or {}), **args}
    return url_for(request.endpoint or "views.river", **values)


def _here() -> str:
    """This page's path and query, for forms to come back to."""
    return request.full_path.rstrip("?") if request.endpoint else "/"


def _tabs_and_counts(st: Any) -> tuple[list[str], dict[str, int]]:
    """The navigation's tabs and unread badges. When the database cannot be read, the
    tabs of feeds.yaml without badges, so that the page saying so still renders."""
    from aggregator.errors import StorageError

    try:
        return st.tabs(), st.storage.unread_counts()
    except StorageError:
        config = st.config
        return ([t.name for t in config.tabs] if config else []), {}


def _context() -> dict[str, Any]:
    from aggregator.web import state
    from aggregator.web.auth import is_logged_in

    st = state()
    # Not merely "the cookie has an auth mark": a revoked one (after a logout or a
    # password change) must not show the dashboard's tabs on the login page, nor may
    # the error page for a refused Host (see auth.is_logged_in).
    allowed = is_logged_in()
    logged_in = bool(st.password) and allowed
    if not allowed:
        # The login page must not show what the dashboard holds.
        tabs: list[str] = []
        counts: dict[str, int] = {}
        error = None
    else:
        tabs, counts = _tabs_and_counts(st)
        error = st.config_source.error
    return {
        "lang": i18n.current_language(),
        "tabs": tabs,
        "unread_counts": counts,
        "config_error": error,
        "config_loaded": st.config is not None,
        "logged_in": logged_in,
        "password_set": bool(st.password),
        "shortcuts": SHORTCUTS,
        "show_nav": allowed,
        "here": _here(),
    }


def failing_feeds() -> dict[str, Any]:
    """The followed feeds whose last fetch failed, by URL (FeedState): read once per
    request, for the error badges of avatars and widgets and the first-run card."""
    cached = g.get("_failing_feeds")
    if cached is None:
        from aggregator.errors import StorageError
        from aggregator.web import state

        try:
            feeds = state().storage.feeds()
        except StorageError:
            feeds = []
        cached = g._failing_feeds = {f.url: f for f in feeds if f.last_error_code}
    return cached


def feed_problem(feed_url: str) -> Markup:
    """An error badge for a failing feed (empty for a healthy one): « ! » whose reason
    shows on hover (title) and on tap or keyboard (a <details>, no script needed)."""
    feed = failing_feeds().get(feed_url)
    if feed is None:
        return Markup("")
    reason = i18n.error_sentence(feed.last_error_code)
    label = i18n.gettext("This feed cannot be fetched:")
    link = url_for("views.feeds") + "#problems"
    html = (
        f'<details class="feed-problem" data-feed-problem><summary title="{escape(reason)}">'
        f'<span aria-hidden="true">!</span><span class="visually-hidden">{escape(label)}'
        f'</span></summary><span class="feed-problem-text">{escape(reason)} '
        f'<a href="{escape(link)}">{escape(i18n.gettext("see why"))}</a></span></details>'
    )
    return Markup(html)  # noqa: S704 -- every piece escaped above


def failing_in(tab: str | None = None, feed_url: str | None = None) -> list[Any]:
    """The failing feeds of a tab, of one feed, or of every tab."""
    feeds = failing_feeds().values()
    if feed_url is not None:
        return [f for f in feeds if f.url == feed_url]
    return [f for f in feeds if tab is None or f.tab == tab]


def config_problems(error: Any) -> list[dict[str, Any]]:
    """A ConfigError's problems for the banner: where, the message in the request's
    language (``lang`` "en" when it has no translation), and the faulty line quoted
    with a caret under the column, read from the file as it is now."""
    from aggregator.config.yamlfile import source_line

    views = []
    for problem in getattr(error, "problems", []) or []:
        message, translated = i18n.config_message(problem)
        line = source_line(problem.file, problem.line) if problem.line else None
        caret = None
        if line is not None and line.strip():
            col = max(1, min(problem.col, len(line) + 1))
            caret = " " * (col - 1) + "^"
        else:
            line = None
        views.append(
            {
                "where": f"{problem.file}:{problem.line}:{problem.col}",
                "message": message,
                "lang": None if translated else "en",
                "line": line,
                "caret": caret,
            }
        )
    return views


def _install_babel(app: Flask) -> None:
    """Flask-Babel over the same catalogs (aggregator/web/translations) and the same
    choices as i18n: the request's language with settings.display.locale, and the
    configured time zone."""
    from flask_babel import Babel

    from aggregator.web import catalog

    Babel(
        app,
        locale_selector=i18n.babel_locale,
        timezone_selector=lambda: getattr(i18n.local_zone(), "key", "UTC"),
        default_translation_directories=str(catalog.DIRECTORY),
    )


def install(app: Flask) -> None:
    _install_babel(app)
    app.jinja_env.globals.update(
        config_problems=config_problems,
        ngettext=i18n.ngettext,
        feed_problem=feed_problem,
        failing_in=failing_in,
        _=i18n.gettext,
        url_with=url_with,
        avatar_class=avatar_class,
        initial=initial,
        error_sentence=i18n.error_sentence,
    )
    app.jinja_env.filters.update(
        preview=preview,
        safe_url=safe_url,
        isodate=isodate,
        reldate=reldate,
        absdate=absdate,
    )
    app.context_processor(_context)


def safe_url(url: str | None) -> str | None:
    """Links from feeds are unchecked: only http(s) ones become clickable (a
    ``javascript:`` link would be blocked by the CSP anyway; this is the second lock)."""
    if url and url.strip().lower().startswith(("https://", "http://")):
        return url.strip()
    return None
