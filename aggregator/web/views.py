"""The dashboard's pages (GET only): river, tabs and widgets, one feed, one entry,
search, feed status. State changes live in ``actions``; no SQL here (Storage only).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request, session

from aggregator.config.values import normalize_url
from aggregator.errors import NotFound
from aggregator.models import DisplaySettings, EntryView
from aggregator.opml import write_opml
from aggregator.web import state
from aggregator.web.i18n import gettext as _
from aggregator.web.i18n import ngettext
from aggregator.web.params import bad_cursor, cursor_arg, flag, int_arg, search_arg, text_arg

log = logging.getLogger(__name__)

bp = Blueprint("views", __name__)

PAGE_SIZE = 50
VIEWS = ("river", "widgets")
MEMORY = 100  # tabs whose « Non lus seulement » choice the session cookie remembers
TRUE = ("1", "true", "on", "yes")


def known_tab(name: str | None) -> str | None:
    """``name`` if it is a tab of the configuration; 404 otherwise (None passes)."""
    if name is None:
        return None
    if name not in state().tabs():
        abort(404, _("Unknown tab."))
    return name


def seen_max_id(entries: list[EntryView]) -> int | None:
    """The highest entry id shown so far on this river (carried across pages), so
    "mark all as read" never marks articles that arrived after the page was drawn."""
    ids = [e.id for e in entries]
    carried = int_arg("max_id")
    if carried is not None:
        ids.append(carried)
    return max(ids) if ids else None


def display() -> DisplaySettings:
    """settings.display of the last valid feeds.yaml (the defaults before one loads)."""
    config = state().config
    return config.settings.display if config is not None else DisplaySettings()


def unread_choice(key: str) -> bool:
    """« Non lus seulement » for this river: the link's ``unread=0|1`` (then remembered
    for this tab in the signed session cookie), else the last choice made on this tab,
    else ``settings.display.unread_only``."""
    memory = session.get("unread_only")
    memory = memory if isinstance(memory, dict) else {}
    asked = request.args.get("unread")
    if asked is not None:
        value = asked in TRUE
        if memory.get(key) is not value:
            memory = {k: v for k, v in memory.items() if k != key}
            session["unread_only"] = dict([*memory.items(), (key, value)][-MEMORY:])
        return value
    remembered = memory.get(key)
    return remembered if isinstance(remembered, bool) else display().unread_only


WIDGET_VIEWS = ("compact", "extended")
WIDGET_MEMORY = 40  # feeds whose « Vue étendue » the session cookie remembers...
WIDGET_BYTES = 1500  # ...in at most this much JSON: browsers drop cookies over 4 KB


def widget_views() -> dict[str, str]:
    """feed URL -> "compact" | "extended", as chosen with each widget's button (in the
    signed session cookie, like « Non lus seulement »); absent means compact. Kept as
    a list of pairs, oldest first: the cookie's JSON sorts the keys of a dict."""
    memory = session.get("widget_view")
    if not isinstance(memory, list):
        return {}
    return {
        pair[0]: pair[1]
        for pair in memory
        if isinstance(pair, list | tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and pair[1] in WIDGET_VIEWS
    }


def remember_widget_view(feed_url: str, view: str) -> None:
    """Remember ``view`` for this feed's widget. Compact is the default, so only the
    extended ones are kept; the oldest go past the cap (in count and in bytes: feed
    URLs are long and the cookie also carries the login and the other choices)."""
    memory = [[k, v] for k, v in widget_views().items() if k != feed_url]
    if view != "compact":
        memory.append([feed_url, view])
    memory = memory[-WIDGET_MEMORY:]
    while memory and len(json.dumps(memory)) > WIDGET_BYTES:
        memory.pop(0)
    session["widget_view"] = memory


def river_key(tab: str | None, feed_url: str | None) -> str:
    """Which river a remembered choice belongs to: "" (all), a tab, or one feed."""
    if feed_url is not None:
        return "feed:" + feed_url
    return "tab:" + tab if tab is not None else ""


def river_page(
    *, tab: str | None = None, feed_url: str | None = None, template: str = "river.html", **extra
) -> str:
    starred = flag("starred")
    # starred articles are few and meant to be kept: the filter shows them all
    unread = flag("unread") if starred else unread_choice(river_key(tab, feed_url))
    try:
        entries, next_cursor = state().storage.entries(
            tab=tab,
            feed_url=feed_url,
            unread=unread,
            starred=starred,
            cursor=cursor_arg(),
            limit=PAGE_SIZE,
        )
    except ValueError:
        bad_cursor()
    return render_template(
        template,
        entries=entries,
        next_cursor=next_cursor,
        max_id=seen_max_id(entries),
        tab=tab,
        feed_url=feed_url,
        unread_only=unread,
        starred_only=starred,
        first_page=cursor_arg() is None,
        display=display(),
        **extra,
    )


@bp.get("/")
def river() -> Any:
    """Every tab merged, newest first."""
    return river_page(title=_("All"), current_tab=None)


def _widget_tabs() -> list[str]:
    value = session.get("widgets", [])
    return value if isinstance(value, list) else []


@bp.get("/tab/<path:name>")
def tab(name: str) -> Any:
    """One tab, as a river or as a grid of widgets; the choice is remembered per tab
    (in the signed session cookie, so it also works without JavaScript)."""
    known_tab(name)
    asked = request.args.get("view")
    widget_tabs = _widget_tabs()
    if asked in VIEWS:
        if asked == "widgets" and name not in widget_tabs:
            session["widgets"] = [*widget_tabs, name][-50:]
        elif asked == "river" and name in widget_tabs:
            session["widgets"] = [t for t in widget_tabs if t != name]
        view = asked
    else:
        view = "widgets" if name in widget_tabs else "river"
    if view == "widgets":
        return widgets(name)
    return river_page(tab=name, title=name, current_tab=name, view="river")


def widgets(name: str) -> Any:
    """The tab as a grid of widgets, each with settings.display.headlines headlines or
    its feed's own ``headlines:`` in feeds.yaml."""
    st = state()
    feeds = st.storage.feeds(tab=name)
    shown_per = display()
    counts = {f.url: shown_per.headlines_for(_normalized(f.url)) for f in feeds}
    views = widget_views()
    extended = {url for url, view in views.items() if view == "extended"}
    latest = st.storage.latest_by_feed(
        tab=name, per_feed=max(counts.values(), default=1), extended=extended
    )
    latest = {
        url: entries[: counts.get(url, shown_per.headlines)] for url, entries in latest.items()
    }
    shown = [e for entries in latest.values() for e in entries]
    return render_template(
        "widgets.html",
        title=name,
        current_tab=name,
        tab=name,
        view="widgets",
        feeds=feeds,
        latest=latest,
        max_id=max((e.id for e in shown), default=None),
        display=shown_per,
        widget_views=views,
    )


def _normalized(url: str) -> str:
    try:
        return normalize_url(url)
    except ValueError:
        return url


@bp.get("/counts")
def counts() -> Any:
    """The light poll behind « N nouveaux articles » and the page title: the unread
    badges, and how many entries arrived after ``after`` (the newest id the page
    shows) in its ``tab`` or ``feed`` (everywhere when neither is given)."""
    after = int_arg("after", 0, lo=0)
    tab_name = known_tab(request.args.get("tab") or None)
    feed_url = text_arg("feed", max_length=2000) or None
    st = state()
    try:
        new = st.storage.count_newer(after or 0, tab=tab_name, feed_url=feed_url)
    except NotFound:
        abort(404, _("Unknown feed."))
    return jsonify(
        {
            "unread_counts": st.storage.unread_counts(),
            "new": new,
            "label": ngettext("%(n)s new article", "%(n)s new articles", new) if new else "",
        }
    )


@bp.get("/feed")
def feed() -> Any:
    """The river of one feed: ``/feed?url=<feed url>``."""
    url = text_arg("url")
    try:
        feed_state = state().storage.feed(url)
    except NotFound:
        abort(404, _("Unknown feed."))
    return river_page(
        feed_url=url,
        title=feed_state.display_title,
        current_tab=feed_state.tab,
        feed=feed_state,
    )


@bp.get("/entry/<int:entry_id>")
def entry(entry_id: int) -> Any:
    """One article on its own page. It is marked read by a POST that app.js sends on
    load (or the button without JavaScript), never by the GET itself: browsers and
    extensions prefetch links, and a prefetch must not mark anything read."""
    try:
        item = state().storage.entry(entry_id)
    except NotFound:
        abort(404, _("Unknown article."))
    return render_template(
        "entry.html",
        entry=item,
        title=item.title,
        current_tab=item.tab,
    )


@bp.get("/search")
def search() -> Any:
    """Full-text search on titles and whole articles, newest first (or « pertinence »:
    ``order=relevance``), words highlighted; accents, case, œ/æ and plurals ignored."""
    query = search_arg()
    tab_name = known_tab(request.args.get("tab") or None)
    order = "relevance" if request.args.get("order") == "relevance" else "date"
    entries: list[EntryView] = []
    next_cursor = None
    if query:
        try:
            entries, next_cursor = state().storage.search(
                query, tab=tab_name, cursor=cursor_arg(), limit=PAGE_SIZE, order=order
            )
        except ValueError:
            bad_cursor()
    return render_template(
        "search.html",
        title=_("Search results"),
        query=query,
        tab=tab_name,
        order=order,
        current_tab=None,
        entries=entries,
        next_cursor=next_cursor,
    )


@bp.get("/feeds")
def feeds() -> Any:
    """Every feed's health: last fetch, HTTP status, error in words, next check; and
    the last storage problem, if any (met by the worker, `fetch` or the dashboard, and
    kept beside the database: storage._status)."""
    st = state()
    return render_template(
        "feeds.html",
        title=_("Feed status"),
        current_tab=None,
        storage_problem=_storage_problem(),
        feeds=st.storage.feeds(include_inactive=True),
        # addresses (handles, sites) and the feed found behind each (« résolu en … »)
        resolutions=st.storage.resolutions(),
        icon_problems=st.storage.icon_problems(),  # why a site shows its letter (issue 9)
    )


@bp.get("/icons/<digest>")
def site_icon(digest: str) -> Any:
    """A site icon, from the database (checked by aggregator.icons when fetched): the
    dashboard never asks a feed's site for it. The address is the content's hash, so
    it can be cached for a year and never revalidated."""
    found = state().storage.icon(digest) if digest.isalnum() and len(digest) <= 64 else None
    if found is None:
        abort(404)
    mime, data = found
    response = Response(data, mimetype=mime)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _storage_problem() -> dict[str, Any] | None:
    from aggregator.web import describe_storage_problem

    problem = state().storage.last_problem()
    if problem is None:
        return None
    return {
        **describe_storage_problem(problem.kind, problem.path),
        "since": problem.since,
        "detail": problem.message,
    }


@bp.get("/export.opml")
def export_opml() -> Any:
    """The tabs and feeds of feeds.yaml as an OPML download, for another reader.

    Built from the last valid configuration, like every page; ``htmlUrl`` and the
    name of a feed untitled in feeds.yaml come from what fetching learned.
    """
    st = state()
    config = st.config
    if config is None:
        abort(503, _("The configuration file has errors."))
    feeds = st.storage.feeds()
    links = {f.url: f.site_link for f in feeds if f.site_link}
    titles = {f.url: f.title for f in feeds if f.title}
    # another reader cannot follow '@alice@mastodon.social': export the feed found for it
    resolved = {a: r.feed_url for a, r in st.storage.resolutions().items() if r.feed_url}
    body = write_opml(
        config,
        title=_("Feed aggregator"),
        site_links=links,
        titles=titles,
        feed_urls=resolved,
    )
    return Response(
        body,
        content_type="text/x-opml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="feeds.opml"'},
    )
