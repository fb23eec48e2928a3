"""The dashboard's pages (GET only): river, tabs and widgets, one feed, one entry,
search, feed status. State changes live in ``actions``; no SQL here (Storage only).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, session

from aggregator.errors import NotFound
from aggregator.models import EntryView
from aggregator.opml import write_opml
from aggregator.web import state
from aggregator.web.i18n import gettext as _
from aggregator.web.params import bad_cursor, cursor_arg, flag, int_arg, search_arg, text_arg

log = logging.getLogger(__name__)

bp = Blueprint("views", __name__)

PAGE_SIZE = 50
WIDGET_HEADLINES = 5
VIEWS = ("river", "widgets")


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


def river_page(
    *, tab: str | None = None, feed_url: str | None = None, template: str = "river.html", **extra
) -> str:
    unread, starred = flag("unread"), flag("starred")
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
    st = state()
    feeds = st.storage.feeds(tab=name)
    latest = st.storage.latest_by_feed(tab=name, per_feed=WIDGET_HEADLINES)
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
    """Full-text search, newest first, words highlighted; accents are ignored."""
    query = search_arg()
    tab_name = known_tab(request.args.get("tab") or None)
    entries: list[EntryView] = []
    next_cursor = None
    if query:
        try:
            entries, next_cursor = state().storage.search(
                query, tab=tab_name, cursor=cursor_arg(), limit=PAGE_SIZE
            )
        except ValueError:
            bad_cursor()
    return render_template(
        "search.html",
        title=_("Search results"),
        query=query,
        tab=tab_name,
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
    )


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
