"""Every state change of the dashboard: read/unread, star, mark all read and its undo,
refresh requests. POST only, each checked by CSRFProtect (a form field, or the
``X-CSRFToken`` header that app.js copies from ``<meta name="csrf-token">``).

Forms get a redirect back (``next``, same site only); app.js's fetch() calls, which
ask for JSON, get the new state and the unread counts instead.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, request, url_for

from aggregator.errors import NotFound
from aggregator.web import safe_next, state, wants_json
from aggregator.web.i18n import gettext as _
from aggregator.web.i18n import ngettext
from aggregator.web.params import choice_arg, flag, int_arg, parse_int, text_arg
from aggregator.web.views import WIDGET_VIEWS, known_tab, remember_widget_view, widget_views

log = logging.getLogger(__name__)

bp = Blueprint("actions", __name__)

MAX_UNDO_IDS = 200_000


def encode_ids(ids: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``: mark-all lists are mostly runs of ids."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(set(ids)):
        if run and i == run[-1] + 1:
            run[-1] = i
            continue
        if run:
            parts.append(f"{run[0]}-{run[1]}" if run[1] != run[0] else str(run[0]))
        run = [i, i]
    if run:
        parts.append(f"{run[0]}-{run[1]}" if run[1] != run[0] else str(run[0]))
    return ",".join(parts)


def decode_ids(text: str, limit: int = MAX_UNDO_IDS) -> list[int]:
    """The inverse of ``encode_ids``; ValueError on anything else or too many ids."""
    ids: list[int] = []
    for part in filter(None, text.split(",")):
        first, _sep, last = part.strip().partition("-")
        lo, hi = parse_int(first), parse_int(last or first)  # ASCII, within SQLite's range
        if lo is None or hi is None or hi < lo or len(ids) + hi - lo + 1 > limit:
            raise ValueError(f"bad id range {part!r}")
        ids.extend(range(lo, hi + 1))
    return ids


@bp.app_template_global()
def undo_ids(token: str) -> str | None:
    ids = state().undo.get(token)
    return encode_ids(ids) if ids else None


def _back(default: str) -> Any:
    return redirect(safe_next(request.form.get("next"), default))


def _counts() -> dict[str, int]:
    return state().storage.unread_counts()


def _entry_or_404(entry_id: int) -> Any:
    try:
        return state().storage.entry(entry_id)
    except NotFound:
        abort(404, _("Unknown article."))


@bp.post("/entry/<int:entry_id>/read")
def set_read(entry_id: int) -> Any:
    """``read=1`` (default) or ``read=0``."""
    _entry_or_404(entry_id)
    read = flag("read", form=True, default=True)
    state().storage.set_read([entry_id], read, now=g.now)
    if wants_json():
        return jsonify({"id": entry_id, "read": read, "unread_counts": _counts()})
    return _back(url_for("views.entry", entry_id=entry_id))


@bp.post("/entry/<int:entry_id>/star")
def set_starred(entry_id: int) -> Any:
    """``starred=1`` (default) or ``starred=0``."""
    _entry_or_404(entry_id)
    starred = flag("starred", form=True, default=True)
    state().storage.set_starred(entry_id, starred)
    if wants_json():
        return jsonify({"id": entry_id, "starred": starred})
    return _back(url_for("views.entry", entry_id=entry_id))


@bp.post("/mark-all-read")
def mark_all_read() -> Any:
    """Everything of a tab, a feed, or all (neither given), up to ``max_id``; the
    flash message offers to undo it with the ids that changed."""
    st = state()
    tab = known_tab(request.form.get("tab") or None)
    feed_url = text_arg("feed", form=True) or None
    if feed_url is not None:
        try:
            st.storage.feed(feed_url)
        except NotFound:
            abort(404, _("Unknown feed."))
    max_id = int_arg("max_id", form=True)
    ids = st.storage.mark_all_read(tab=tab, feed_url=feed_url, max_id=max_id, now=g.now)
    if wants_json():
        return jsonify({"ids": ids, "unread_counts": _counts()})
    if ids:
        token = st.undo.put(ids)
        # The category carries the undo token: base.html turns it into an undo form.
        flash(
            ngettext("%(n)s article marked as read.", "%(n)s articles marked as read.", len(ids)),
            f"undo:{token}",
        )
    else:
        flash(_("Nothing to mark as read."), "info")
    return _back(url_for("views.river"))


@bp.post("/widget-view")
def widget_view() -> Any:
    """A widget's « Vue étendue » / « Vue compacte » button: remembered per feed in the
    session; ``view`` absent toggles the current choice."""
    feed_url = text_arg("feed", form=True)
    if not feed_url:
        abort(400, _("The request could not be understood."))
    try:
        state().storage.feed(feed_url)
    except NotFound:
        abort(404, _("Unknown feed."))
    view = choice_arg("view", WIDGET_VIEWS, form=True)
    if view is None:
        current = widget_views().get(feed_url, "compact")
        view = "compact" if current == "extended" else "extended"
    remember_widget_view(feed_url, view)
    if wants_json():
        return jsonify({"feed": feed_url, "view": view})
    return _back(url_for("views.river"))


@bp.post("/undo-read")
def undo_read() -> Any:
    """Mark unread again the ids a "mark all as read" changed (``ids=1-40,52``)."""
    try:
        ids = decode_ids(request.form.get("ids", ""))
    except ValueError:
        abort(400, _("The request could not be understood."))
    changed = state().storage.set_read(ids, False, now=g.now) if ids else 0
    if wants_json():
        return jsonify({"changed": changed, "unread_counts": _counts()})
    flash(
        ngettext(
            "%(n)s article marked as unread again.",
            "%(n)s articles marked as unread again.",
            changed,
        ),
        "info",
    )
    return _back(url_for("views.river"))


@bp.post("/feeds/refresh")
def refresh() -> Any:
    """Ask the scheduler to fetch one feed (``url``) or every feed at its next tick.
    With ``resolve=1``, an address (a handle, a site) is first forgotten: the next poll
    looks for the feed behind it again (issue 8: "re-resolves only when asked")."""
    st = state()
    url = text_arg("url", form=True) or None
    resolve = flag("resolve", form=True)
    if url is not None:
        try:
            st.storage.feed(url)
        except NotFound:
            abort(404, _("Unknown feed."))
    if resolve and url is not None and st.storage.forget_resolution(url):
        st.storage.request_refresh(url, now=g.now)
        message = _(
            "The feed behind this address will be looked for again at the next tick (within a minute)."
        )
        if wants_json():
            return jsonify({"requested": url, "message": message})
        flash(message, "info")
        return _back(url_for("views.feeds"))
    st.storage.request_refresh(url, now=g.now)
    if url:
        message = _(
            "Refresh requested: the scheduler will fetch this feed at its next tick (within a minute)."
        )
    else:
        message = _(
            "Refresh requested: the scheduler will fetch every feed at its next tick (within a minute)."
        )
    if wants_json():
        return jsonify({"requested": url or "*", "message": message})
    flash(message, "info")
    return _back(url_for("views.feeds"))
