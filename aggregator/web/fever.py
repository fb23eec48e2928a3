"""The Fever API (https://feedafever.com/api, as FreshRSS and Miniflux serve it), for
Unread, Fiery Feeds, ReadKit and FeedMe: ``/api/fever/?api`` with ``api_key`` =
md5(``user:password``) in the POST body.

Groups are the tabs of feeds.yaml (ids 1, 2... in the file's order), feeds are the
followed feeds (their database ids), items the entries (their ids: they only grow, so
``since_id``/``max_id`` paging is exact). Read and saved (starred) state is the
dashboard's own (``storage._sync``). There are no "sparks" and no "hot links":
``links`` is answered empty. Favicons are the site icons the dashboard shows
(``icons.py``), inline as Fever wants them; a feed whose site has none gets the
neutral icon, id 1.

A wrong or missing key is a 401 whose JSON body says ``"auth": 0``, as Fever clients
expect to read; malformed parameters are 400 short texts; as for GReader, no cookie
is involved, so no CSRF token or Origin check applies (``guard.authenticates_itself``).
"""

from __future__ import annotations

import logging
from base64 import b64encode
from typing import Any, NoReturn

from flask import Blueprint, Flask, Response, abort, g, request
from werkzeug.exceptions import HTTPException

from aggregator.errors import NotFound
from aggregator.storage._sync import Stream, SyncItem
from aggregator.web import apiauth, params, state
from aggregator.web.greader import as_json

log = logging.getLogger(__name__)

API_VERSION = 3
PAGE = 50  # items per call, as Fever
MAX_WITH_IDS = 50
# A 1x1 transparent GIF: the favicon_id of a feed without a site icon (Fever requires
# the key).
FAVICON = "image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

bp = Blueprint("fever", __name__, url_prefix="/api/fever")


def favicon_id(digest: str | None) -> int:
    """A site icon's Fever id: stable across calls (clients cache favicons by id), from
    its digest; 1 is the neutral icon."""
    return int(digest[:12], 16) + 2 if digest else 1


def _site_favicons(storage: Any, icons: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for digest in sorted(set(icons.values())):
        stored = storage.icon(digest)
        if stored is not None:
            mime, data = stored
            out.append(
                {"id": favicon_id(digest), "data": f"{mime};base64,{b64encode(data).decode()}"}
            )
    return out


def _text(body: str, status: int) -> Response:
    return Response(body + "\n", status=status, mimetype="text/plain")


def _bad(message: str) -> NoReturn:
    abort(_text(message, 400))


def _base(auth: int) -> dict[str, Any]:
    return {"api_version": API_VERSION, "auth": auth}


def _refused(body: dict[str, Any]) -> Response:
    response = as_json(body)
    response.status_code = 401
    return response


def _authenticate() -> None:
    creds = apiauth.credentials()
    if creds is None:
        body = _base(0) | {
            "error": "The API is disabled: set AGGREGATOR_API_PASSWORD or run "
            "`aggregator api-password`."
        }
        abort(_refused(body))
    if apiauth.blocked():
        abort(_text("Too many failed attempts: wait 15 minutes.", 429))
    key = request.form.get("api_key") or request.args.get("api_key") or ""
    if not key or len(key) > 200 or not creds.fever_key_ok(key):
        if key:
            apiauth.failed("fever key")
        abort(_refused(_base(0)))
    apiauth.succeeded()


def _has(name: str) -> bool:
    return name in request.args or name in request.form


def _groups() -> list[tuple[int, str]]:
    return list(enumerate(state().tabs(), start=1))


def _feeds_groups(feeds: list[Any]) -> list[dict[str, Any]]:
    result = []
    for group_id, tab in _groups():
        ids = [str(f.id) for f in feeds if f.tab == tab]
        result.append({"group_id": group_id, "feed_ids": ",".join(ids)})
    return result


def _item(item: SyncItem) -> dict[str, Any]:
    from aggregator.web.greader import _body  # the same HTML as the GReader items

    return {
        "id": item.id,
        "feed_id": item.feed_id,
        "title": item.title,
        "author": item.author or "",
        "html": _body(item),
        "url": item.link or "",
        "is_saved": int(item.starred),
        "is_read": int(item.read),
        "created_on_time": item.published,
    }


def _with_ids() -> list[int]:
    text = params.text_arg("with_ids", form=None, max_length=MAX_WITH_IDS * 21)
    ids = []
    for part in text.split(","):
        value = params.parse_int(part.strip())
        if value is None:
            _bad("“with_ids” must be item ids separated by commas.")
        ids.append(value)
    if len(ids) > MAX_WITH_IDS:
        _bad(f"“with_ids”: {MAX_WITH_IDS} ids at most.")
    return ids


def _mark() -> None:
    """``mark=item|feed|group``, ``as=read|unread|saved|unsaved``, ``id``, ``before``."""
    what = request.values.get("mark", "")
    how = request.values.get("as", "")
    storage = state().storage
    if what == "item":
        if how not in ("read", "unread", "saved", "unsaved"):
            _bad("“as” must be read, unread, saved or unsaved for an item.")
        entry_id = params.int_arg("id", form=None)
        if entry_id is None:
            _bad("“id” is required.")
        if how in ("read", "unread"):
            storage.set_read([entry_id], how == "read", now=g.now)
        else:
            storage.sync_set_starred([entry_id], how == "saved")
        return
    if what not in ("feed", "group"):
        _bad("“mark” must be item, feed or group.")
    if how != "read":
        _bad("Feeds and groups can only be marked read.")
    target = params.int_arg("id", form=None, lo=-1)
    if target is None:
        _bad("“id” is required.")
    before = params.int_arg("before", form=None, lo=0)
    stream: Stream | None
    if what == "feed":
        url = storage.sync_feed_url(target) if target > 0 else None
        if url is None:
            _bad("Unknown feed.")
        stream = Stream("feed", url)
    elif target == 0:
        stream = Stream("all")  # group 0: "Kindling", every feed
    elif target == -1:
        stream = None  # sparks: there are none
    else:
        groups = dict(_groups())
        if target not in groups:
            _bad("Unknown group.")
        stream = Stream("label", groups[target])
    if stream is not None:
        try:
            storage.sync_mark_read(stream, before=before, now=g.now)
        except NotFound:
            _bad("Unknown feed.")


@bp.route("/", methods=["GET", "POST"], strict_slashes=False)
def api() -> Any:
    if not _has("api"):
        _bad("This is the Fever API: call it with ?api.")
    _authenticate()
    storage = state().storage
    # Check every parameter before the first write (a refused call writes nothing).
    with_ids = _with_ids() if _has("with_ids") and _has("items") else None
    since_id = params.int_arg("since_id", form=None, lo=0)
    max_id = params.int_arg("max_id", form=None, lo=0)
    if _has("mark"):
        _mark()
    feeds = storage.sync_feeds_list()
    icons = storage.feed_icons() if _has("feeds") or _has("favicons") else {}
    body = _base(1)
    body["last_refreshed_on_time"] = max((f.last_success or 0 for f in feeds), default=0)
    if _has("groups"):
        body["groups"] = [{"id": n, "title": tab} for n, tab in _groups()]
        body["feeds_groups"] = _feeds_groups(feeds)
    if _has("feeds"):
        body["feeds"] = [
            {
                "id": f.id,
                "favicon_id": favicon_id(icons.get(f.url)),
                "title": f.title,
                "url": f.url,
                "site_url": f.site_link or "",
                "is_spark": 0,
                "last_updated_on_time": f.last_success or 0,
            }
            for f in feeds
        ]
        body["feeds_groups"] = _feeds_groups(feeds)
    if _has("favicons"):
        body["favicons"] = [{"id": 1, "data": FAVICON}, *_site_favicons(storage, icons)]
    if _has("items"):
        if with_ids is not None:
            items = storage.sync_items(with_ids)
        else:
            if since_id is None and max_id == 0:
                max_id = params.INT64_MAX  # max_id=0: the newest ones (as Miniflux)
            items = storage.sync_items_by_id(since_id=since_id, max_id=max_id, limit=PAGE)
        body["items"] = [_item(i) for i in items]
        body["total_items"] = storage.sync_total_items()
    if _has("links"):
        body["links"] = []
    if _has("unread_item_ids") or (_has("mark") and request.values.get("as") in ("read", "unread")):
        body["unread_item_ids"] = ",".join(map(str, storage.sync_state_ids(starred=False)))
    if _has("saved_item_ids") or (
        _has("mark") and request.values.get("as") in ("saved", "unsaved")
    ):
        body["saved_item_ids"] = ",".join(map(str, storage.sync_state_ids(starred=True)))
    return as_json(body)


def _error(e: HTTPException) -> Any:
    if e.response is not None:
        return e.response
    message = e.description if e.description != type(e).description else e.name
    return _text(str(message)[:500], e.code or 500)


bp.register_error_handler(HTTPException, _error)
for _code in (400, 401, 404, 405, 413, 429):
    bp.register_error_handler(_code, _error)


def install(app: Flask, register: Any) -> None:
    register(bp)
