"""The read-only JSON API: ``/api/entries``, ``/api/entries/<id>``, ``/api/feeds``.

Same filters and keyset cursors as the pages; dates are ISO 8601 in UTC with a ``Z``.
Errors are JSON too: ``{"error": "...", "status": 404}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from aggregator.errors import NotFound
from aggregator.export import entry_json, feed_json
from aggregator.models import FeedState
from aggregator.web import i18n, state
from aggregator.web.i18n import gettext as _
from aggregator.web.params import bad_cursor, cursor_arg, flag, int_arg, search_arg, text_arg
from aggregator.web.views import known_tab

bp = Blueprint("api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _feed_json(f: FeedState) -> dict[str, Any]:
    data = feed_json(f)
    data["error_text"] = i18n.error_sentence(f.last_error_code) if f.last_error_code else None
    return data


@bp.get("/entries")
def entries() -> Any:
    """Filters: tab, feed (its URL), q (search), unread=1, starred=1, cursor, limit."""
    st = state()
    tab = known_tab(request.args.get("tab") or None)
    feed_url = text_arg("feed") or None
    query = search_arg()
    limit = int_arg("limit", DEFAULT_LIMIT, hi=MAX_LIMIT) or DEFAULT_LIMIT
    cursor = cursor_arg()
    try:
        if query:
            if feed_url is not None:
                st.storage.feed(feed_url)  # an unknown feed is a 404, as without q
            found, next_cursor = st.storage.search(
                query,
                tab=tab,
                feed_url=feed_url,
                unread=flag("unread"),
                starred=flag("starred"),
                cursor=cursor,
                limit=limit,
            )
        else:
            found, next_cursor = st.storage.entries(
                tab=tab,
                feed_url=feed_url,
                unread=flag("unread"),
                starred=flag("starred"),
                cursor=cursor,
                limit=limit,
            )
    except NotFound:
        abort(404, _("Unknown feed."))
    except ValueError:
        bad_cursor()
    return jsonify({"entries": [entry_json(e) for e in found], "next_cursor": next_cursor})


@bp.get("/entries/<int:entry_id>")
def entry(entry_id: int) -> Any:
    try:
        return jsonify(entry_json(state().storage.entry(entry_id)))
    except NotFound:
        abort(404, _("Unknown article."))


@bp.get("/feeds")
def feeds() -> Any:
    """Every feed's status row, inactive ones (removed from feeds.yaml) included."""
    rows = state().storage.feeds(include_inactive=True)
    return jsonify({"feeds": [_feed_json(f) for f in rows]})
