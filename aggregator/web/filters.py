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

from aggregator.web import i18n

ARTICLES = {"le", "la", "les", "the", "a", "an", "un", "une", "des", "der", "die", "das"}
AVATAR_COLOURS = 8  # .avatar-0 ... .avatar-7 in app.css
PREVIEW_CHARS = 280

# The keyboard help overlay lists these, in this order; app.js binds the same keys.
# Another feature adds a key by appending a row here and a handler in app.js.
SHORTCUTS: list[tuple[tuple[str, ...], str]] = [
    (("j",), "Next article"),
    (("k",), "Previous article"),
    (("o", "Enter"), "Open or close the article"),
    (("m",), "Toggle read / unread"),
    (("s",), "Star or unstar"),
    (("/",), "Focus the search box"),
    (("f",), "Send to a contact (“This might interest someone”)"),
    (("g", "N"), "Go to tab number N (0: all)"),
    (("?",), "Show this help"),
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


def install(app: Flask) -> None:
    app.jinja_env.globals.update(
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
