"""The Google Reader API ("GReader"), as FreshRSS and Miniflux serve it, for NetNewsWire,
Reeder, Read You, Fluent Reader, FeedMe and newsboat (its ``feedhq`` mode).

Served under ``/api/greader/`` and, for clients with FreshRSS presets, under
``/api/greader.php/`` too (the same rules: ``PREFIX``). References: the
FeedHQ API documentation (https://feedhq.readthedocs.io/en/latest/api/), FreshRSS's
``p/api/greader.php`` and Miniflux's ``internal/googlereader`` (behaviour, not code).

What a stream is: ``user/-/state/com.google/reading-list`` (every item of the followed
feeds), ``.../starred``, ``.../read``, ``user/-/label/<tab>`` (a tab of feeds.yaml) and
``feed/<url>`` (a feed, by its address as written in feeds.yaml).

Item ids: decimal in id lists (``stream/items/ids``), the long form
``tag:google.com,2005:reader/item/<16 hex digits>`` in items; every parameter accepts
both and the bare hex too (16 characters, or anything not all digits; digits not
starting with 0 are decimal). Times are the items' ``published`` (``storage._sync``).

Authentication: ``accounts/ClientLogin`` checks the app password (``apiauth``) and
answers a token; every other call needs ``Authorization: GoogleLogin auth=<token>``.
No cookie is read or set, so the dashboard's CSRF token and Origin check do not apply
(a hostile page cannot make a browser send that header to us without a CORS preflight
we never answer): ``guard.authenticates_itself``. For the same reason the ``T`` token
that Google used against CSRF is accepted missing, empty or arbitrary (Fluent Reader
sends none, FeedMe an empty one, Reeder ``x``): the header already proves who asks.

Errors are short ``text/plain`` bodies (400 malformed input, 401 credentials, 429 too
many failures), and a refused call writes nothing: every parameter is checked before
the first write.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, g, request
from werkzeug.exceptions import HTTPException

from aggregator.errors import NotFound
from aggregator.storage._sync import Stream, SyncItem
from aggregator.web import apiauth, params, state

log = logging.getLogger(__name__)

STATE_PREFIX = "user/-/state/com.google/"
READING_LIST = STATE_PREFIX + "reading-list"
READ = STATE_PREFIX + "read"
STARRED = STATE_PREFIX + "starred"
LABEL_PREFIX = "user/-/label/"
FEED_PREFIX = "feed/"
LONG_ID_PREFIX = "tag:google.com,2005:reader/item/"
# States clients add or remove that have no meaning here: accepted, nothing changes
# (newsboat sends kept-unread with read, Reeder tracking-* ones; broadcast is sharing).
IGNORED_STATES = frozenset(
    [
        "kept-unread",
        "tracking-kept-unread",
        "broadcast",
        "like",
        "fresh",
        "tracking-body-link-used",
        "tracking-emailed",
        "tracking-item-link-used",
    ]
)

MAX_IDS_PAGE = 10_000  # stream/items/ids: n is clamped to this
MAX_CONTENTS_PAGE = 1_000  # stream/contents and atom: n is clamped to this
MAX_ITEMS = 1_000  # i= values of one stream/items/contents call
MAX_EDIT_ITEMS = 10_000  # i= values of one edit-tag call
DEFAULT_N = 20
MAX_STREAM = 2_100  # characters of a stream id (feed/ + a 2,000-character address)
# user/<anything>/: clients echo either "-" or the userId we gave ("1").
_USER_STREAM = re.compile(r"user/[^/]{1,100}/(state/com\.google|label)/(.+)", re.DOTALL)
_HEX = re.compile(r"[0-9a-fA-F]{1,16}")


def _bad(message: str) -> NoReturn:
    abort(400, message)


# --- ids and streams ------------------------------------------------------------------


def long_id(entry_id: int) -> str:
    return f"{LONG_ID_PREFIX}{entry_id:016x}"


def parse_item_id(text: str) -> int | None:
    """Decimal, long form or bare hex -> an id from 1 to 2^63-1; None if malformed."""
    text = text.strip()
    if text.startswith(LONG_ID_PREFIX):
        text = text[len(LONG_ID_PREFIX) :]
        value = int(text, 16) if _HEX.fullmatch(text) else None
    elif len(text) != 16 and text.isascii() and text.isdigit() and not text.startswith("0"):
        # Sixteen characters are the short hex form even when they are all digits: our
        # ids (1, 2, 3...) never have 16 decimal digits (FreshRSS's, timestamps in
        # microseconds, do: it could not tell them apart).
        value = params.parse_int(text)
    else:
        value = int(text, 16) if _HEX.fullmatch(text) else None
    return value if value is not None and 1 <= value <= params.INT64_MAX else None


def item_ids(name: str = "i", *, limit: int) -> list[int]:
    """Every ``i=`` (query and form), checked before anything is done with them."""
    values = request.values.getlist(name)
    if len(values) > limit:
        _bad(f"Too many items: {limit} at most per call.")
    ids = []
    for value in values:
        entry_id = parse_item_id(value)
        if entry_id is None:
            _bad("Malformed item id: " + _shown(value))
        ids.append(entry_id)
    return ids


def _shown(value: str) -> str:
    """A refused value in a message: short, printable."""
    cut = value[:60]
    return repr(cut) if cut.isprintable() else repr(cut.encode("unicode_escape").decode())


def parse_stream(text: str) -> Stream:
    """A stream id -> Stream; 400 for a malformed or unknown one."""
    if not text or len(text) > MAX_STREAM or not text.isprintable():
        _bad("Unknown stream: " + _shown(text))
    if text.startswith(FEED_PREFIX):
        url = text[len(FEED_PREFIX) :]
        if not url:
            _bad("Unknown stream: " + _shown(text))
        return Stream("feed", url)
    match = _USER_STREAM.fullmatch(text)
    if match is not None:
        kind, name = match.groups()
        if kind == "label":
            if name not in state().tabs():
                _bad("Unknown label: " + _shown(name))
            return Stream("label", name)
        if name == "reading-list":
            return Stream("all")
        if name == "starred":
            return Stream("starred")
        if name == "read":
            return Stream("read")
    _bad("Unknown stream: " + _shown(text))


def stream_id(stream: Stream) -> str:
    if stream.kind == "feed":
        return FEED_PREFIX + (stream.value or "")
    if stream.kind == "label":
        return LABEL_PREFIX + (stream.value or "")
    return {"all": READING_LIST, "starred": STARRED, "read": READ}[stream.kind]


def _state_name(tag: str) -> str | None:
    """``user/-/state/com.google/read`` -> ``read``; None for a label or another shape."""
    match = _USER_STREAM.fullmatch(tag)
    if match is None or match.group(1) != "state/com.google":
        return None
    return match.group(2)


def _stream_arg(name: str, default: str | None = None) -> Stream:
    text = params.text_arg(name, default or "", form=None, max_length=MAX_STREAM)
    if not text:
        if default is None:
            _bad(f"“{name}” is required.")
        text = default
    return parse_stream(text)


def _filters() -> dict[str, Any]:
    """``xt=`` (exclude), ``it=`` (include only), ``ot=``, ``nt=``, ``r=o``."""
    found: dict[str, Any] = {}
    for name, flag_read, flag_starred in (
        ("xt", "exclude_read", "exclude_starred"),
        ("it", "only_read", "only_starred"),
    ):
        for value in request.values.getlist(name):
            params.clean_text(value, name=name, max_length=MAX_STREAM)
            stream = parse_stream(value)
            if stream.kind == "read":
                found[flag_read] = True
            elif stream.kind == "starred":
                found[flag_starred] = True
            # Excluding or including a label or a feed: not supported, not an error
            # (FreshRSS ignores them too).
    found["newer_than"] = params.int_arg("ot", lo=0, form=None)
    found["older_than"] = params.int_arg("nt", lo=0, form=None)
    found["oldest_first"] = request.values.get("r", "") == "o"
    return found


def _count(default: int, most: int) -> int:
    """``n``: a whole number; more than ``most`` is served as ``most`` (with a
    continuation), as FreshRSS does: clients ask for 10,000 or more and page."""
    n = params.int_arg("n", default, form=None)
    assert n is not None
    return min(n, most)


def _continuation() -> str | None:
    text = request.values.get("c", "")
    if not text:
        return None
    if not re.fullmatch(r"-?[0-9]{1,19}_[0-9]{1,19}", text):
        _bad("Invalid continuation: start again without “c”.")
    published, entry_id = text.split("_")
    if (
        not params.INT64_MIN <= int(published) <= params.INT64_MAX
        or int(entry_id) > params.INT64_MAX
    ):
        _bad("Invalid continuation: start again without “c”.")
    return text


def _page(stream: Stream, limit: int) -> tuple[list[tuple[int, int]], str | None]:
    try:
        return state().storage.sync_item_ids(
            stream, cursor=_continuation(), limit=limit, **_filters()
        )
    except NotFound:
        _bad("Unknown stream: " + _shown(stream_id(stream)))


# --- items as JSON --------------------------------------------------------------------


def _origin_of(url: str | None) -> str:
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return ""
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def icon_url(site_link: str | None) -> str:
    """The site's own /favicon.ico (no icon cache yet: STYLE.md's future icons.py)."""
    origin = _origin_of(site_link)
    return f"{origin}/favicon.ico" if origin else ""


def _body(item: SyncItem) -> str:
    """HTML for the item: the sanitized content, else the plain-text summary escaped."""
    if item.content_html:
        return item.content_html
    return "<p>" + html.escape(item.summary) + "</p>" if item.summary else ""


def _categories(item: SyncItem) -> list[str]:
    categories = [READING_LIST]
    if item.tab is not None:
        categories.append(LABEL_PREFIX + item.tab)
    if item.read:
        categories.append(READ)
    if item.starred:
        categories.append(STARRED)
    return categories


def item_json(item: SyncItem) -> dict[str, Any]:
    body = _body(item)
    links = [{"href": item.link, "type": "text/html"}] if item.link else []
    result: dict[str, Any] = {
        "id": long_id(item.id),
        "crawlTimeMsec": str(item.first_seen * 1000),
        "timestampUsec": str(item.published * 1_000_000),
        "published": item.published,
        "updated": item.updated or item.published,
        "title": item.title,
        "canonical": [{"href": item.link}] if item.link else [],
        "alternate": links,
        "categories": _categories(item),
        "origin": {
            "streamId": FEED_PREFIX + item.feed_url,
            "title": item.feed_title,
            "htmlUrl": item.site_link or "",
        },
        "summary": {"direction": "ltr", "content": body},
        "content": {"direction": "ltr", "content": body},
        "author": item.author or "",
    }
    if item.enclosures:
        result["enclosure"] = [
            {
                "href": x.get("url"),
                "type": x.get("type") or "",
                "length": str(x.get("length") or ""),
            }
            for x in json.loads(item.enclosures)
        ]
    return result


def _now_usec() -> str:
    return str(int(g.now.timestamp()) * 1_000_000)


def _contents(stream: Stream, items: list[SyncItem], following: str | None) -> Response:
    body: dict[str, Any] = {
        "direction": "ltr",
        "id": stream_id(stream),
        "title": _stream_title(stream),
        "self": [{"href": request.url}],
        "updated": int(g.now.timestamp()),
        "updatedUsec": _now_usec(),
        "items": [item_json(i) for i in items],
    }
    if following:
        body["continuation"] = following
    return as_json(body)


def _stream_title(stream: Stream) -> str:
    if stream.kind == "label":
        return stream.value or ""
    if stream.kind == "feed":
        try:
            return state().storage.feed(stream.value or "").display_title
        except NotFound:
            return stream.value or ""
    return {"all": "Reading list", "starred": "Starred", "read": "Read"}[stream.kind]


# --- authentication --------------------------------------------------------------------


def as_json(body: Any) -> Response:
    """JSON in UTF-8, compact, keys in our order: an item list of 1,000 articles is
    megabytes, and ``jsonify``'s escaping of every accented letter and sorting of every
    key makes it bigger and slower for nothing (``benchmarks/sync.py``)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, mimetype="application/json")


def _text(body: str, status: int = 200) -> Response:
    return Response(body + "\n", status=status, mimetype="text/plain")


def _unauthorized(message: str) -> NoReturn:
    abort(_text(message, 401))


def _credentials_or_refuse() -> apiauth.Credentials:
    creds = apiauth.credentials()
    if creds is None:
        _unauthorized(
            "The API is disabled: set AGGREGATOR_API_PASSWORD or run `aggregator api-password`."
        )
    if apiauth.blocked():
        abort(_text("Too many failed attempts: wait 15 minutes.", 429))
    return creds


def _require_token() -> None:
    if request.endpoint is not None and request.endpoint.endswith(".client_login"):
        return
    header = request.headers.get("Authorization", "")
    scheme, _, rest = header.partition(" ")
    token = rest.strip()
    if token.lower().startswith("auth="):
        token = token[5:]
    creds = _credentials_or_refuse()
    if scheme.lower() != "googlelogin" or not token:
        _unauthorized("Unauthorized: log in with accounts/ClientLogin first.")
    if not apiauth.token_ok(creds, token):
        apiauth.failed("greader token")
        _unauthorized("Unauthorized: the token is wrong or outdated; log in again.")


def client_login() -> Any:
    """``Email``/``Passwd`` (form, or query) -> ``SID``/``LSID``/``Auth`` lines."""
    creds = _credentials_or_refuse()
    user = request.values.get("Email", "")
    password = request.values.get("Passwd", "")
    if not (user == creds.user and creds.password_ok(password)):
        apiauth.failed("greader login")
        abort(_text("Error=BadAuthentication", 401))
    apiauth.succeeded()
    token = apiauth.token_for(creds)
    if request.values.get("output") == "json":
        return as_json({"SID": token, "LSID": "null", "Auth": token})
    return _text(f"SID={token}\nLSID=null\nAuth={token}")


def token() -> Any:
    """The edit token (``T``): any value is accepted back (see the module docstring)."""
    creds = apiauth.credentials()
    assert creds is not None
    return _text(apiauth.edit_token_for(creds))


def user_info() -> Any:
    creds = apiauth.credentials()
    assert creds is not None
    return as_json(
        {
            "userId": "1",
            "userName": creds.user,
            "userProfileId": "1",
            "userEmail": "",
            "isBloggerUser": False,
            "signupTimeSec": 0,
            "isMultiLoginEnabled": False,
        }
    )


# --- lists -----------------------------------------------------------------------------


def subscription_list() -> Any:
    subscriptions = [
        {
            "id": FEED_PREFIX + f.url,
            "title": f.title,
            "categories": [{"id": LABEL_PREFIX + f.tab, "label": f.tab}],
            "url": f.url,
            "htmlUrl": f.site_link or "",
            "iconUrl": icon_url(f.site_link),
            "sortid": f"{f.id:08x}",
            "firstitemmsec": "0",
        }
        for f in state().storage.sync_feeds_list()
    ]
    return as_json({"subscriptions": subscriptions})


def tag_list() -> Any:
    tags: list[dict[str, Any]] = [{"id": STARRED, "sortid": "00000001"}]
    for n, tab in enumerate(state().tabs(), start=2):
        tags.append({"id": LABEL_PREFIX + tab, "sortid": f"{n:08x}", "type": "folder"})
    return as_json({"tags": tags})


def unread_count() -> Any:
    feeds = state().storage.sync_feeds_list()
    counts: list[dict[str, Any]] = []
    per_tab: dict[str, tuple[int, int]] = {}
    for f in feeds:
        newest = f.newest_unread or 0
        counts.append(
            {
                "id": FEED_PREFIX + f.url,
                "count": f.unread_count,
                "newestItemTimestampUsec": str(newest * 1_000_000),
            }
        )
        n, t = per_tab.get(f.tab, (0, 0))
        per_tab[f.tab] = (n + f.unread_count, max(t, newest))
    for tab, (n, newest) in per_tab.items():
        counts.append(
            {
                "id": LABEL_PREFIX + tab,
                "count": n,
                "newestItemTimestampUsec": str(newest * 1_000_000),
            }
        )
    total = sum(f.unread_count for f in feeds)
    newest_all = max((f.newest_unread or 0 for f in feeds), default=0)
    counts.append(
        {
            "id": READING_LIST,
            "count": total,
            "newestItemTimestampUsec": str(newest_all * 1_000_000),
        }
    )
    return as_json({"max": total, "unreadcounts": counts})


# --- streams ---------------------------------------------------------------------------


def items_ids() -> Any:
    stream = _stream_arg("s")
    refs, following = _page(stream, _count(DEFAULT_N, MAX_IDS_PAGE))
    # id and time only (as FreshRSS): directStreamIds, which no client reads, was a
    # third of a 10,000-id answer. Written by hand: every value is an int we format,
    # and 10,000 dicts through json.dumps took longer than the query.
    refs_json = ",".join(f'{{"id":"{i}","timestampUsec":"{p * 1_000_000}"}}' for i, p in refs)
    tail = f',"continuation":{json.dumps(following)}' if following else ""
    return Response(f'{{"itemRefs":[{refs_json}]{tail}}}', mimetype="application/json")


def items_contents() -> Any:
    ids = item_ids(limit=MAX_ITEMS)
    items = state().storage.sync_items(ids)
    return as_json(
        {
            "direction": "ltr",
            "id": READING_LIST,
            "title": "Reading list",
            "self": [{"href": request.base_url}],
            "updated": int(g.now.timestamp()),
            "updatedUsec": _now_usec(),
            "items": [item_json(i) for i in items],
        }
    )


def stream_contents(stream: str | None = None) -> Any:
    parsed = parse_stream(stream) if stream else _stream_arg("s", READING_LIST)
    refs, following = _page(parsed, _count(DEFAULT_N, MAX_CONTENTS_PAGE))
    items = state().storage.sync_items([i for i, _ in refs])
    return _contents(parsed, items, following)


# --- state changes ---------------------------------------------------------------------


def _tags(name: str) -> list[str]:
    """The state names of ``a=`` or ``r=``; 400 for a malformed tag. Labels are
    accepted and left alone (an item's label is its feed's tab)."""
    names = []
    for value in request.values.getlist(name):
        params.clean_text(value, name=name, max_length=MAX_STREAM)
        state_name = _state_name(value)
        if state_name is None:
            if _USER_STREAM.fullmatch(value) is None:
                _bad("Unknown tag: " + _shown(value))
            continue  # a label
        if state_name not in ("read", "starred") and state_name not in IGNORED_STATES:
            _bad("Unknown tag: " + _shown(value))
        names.append(state_name)
    return names


def edit_tag() -> Any:
    """``a=``/``r=`` read and starred on every ``i=``, in one transaction each."""
    ids = item_ids(limit=MAX_EDIT_ITEMS)
    add, remove = _tags("a"), _tags("r")
    if not ids:
        _bad("“i” is required.")
    if ("read" in add and "read" in remove) or ("starred" in add and "starred" in remove):
        _bad("A tag cannot be added and removed at once.")
    storage = state().storage
    if "read" in add:
        storage.set_read(ids, True, now=g.now)
    if "read" in remove:
        storage.set_read(ids, False)
    if "starred" in add:
        storage.sync_set_starred(ids, True)
    if "starred" in remove:
        storage.sync_set_starred(ids, False)
    return _text("OK")


def mark_all_as_read() -> Any:
    """``s=`` a stream, ``ts=`` (microseconds): items of that stream up to that time."""
    stream = _stream_arg("s")
    ts = params.int_arg("ts", lo=0, form=None)
    before = None if ts is None else ts // 1_000_000
    try:
        state().storage.sync_mark_read(stream, before=before, now=g.now)
    except NotFound:
        _bad("Unknown stream: " + _shown(stream_id(stream)))
    return _text("OK")


# --- wiring ----------------------------------------------------------------------------

# The Atom output and the subscription edits live in their own modules (they import
# this one's helpers, hence the import here, once everything above is defined).
from aggregator.web.greader_atom import atom  # noqa: E402
from aggregator.web.greader_subscriptions import quickadd, subscription_edit  # noqa: E402

API = "/reader/api/0"
# One rule per route for both prefixes (a converter in the prefix, dropped before the
# view runs): the URL map stays small and both answer the same by construction.
# GET and POST where clients are known to use both (FreshRSS accepts both).
PREFIX = '/api/<any(greader, "greader.php"):flavour>'
ROUTES: list[tuple[str, Callable[..., Any], tuple[str, ...]]] = [
    ("/accounts/ClientLogin", client_login, ("GET", "POST")),
    (f"{API}/token", token, ("GET",)),
    (f"{API}/user-info", user_info, ("GET",)),
    (f"{API}/subscription/list", subscription_list, ("GET",)),
    (f"{API}/tag/list", tag_list, ("GET",)),
    (f"{API}/unread-count", unread_count, ("GET",)),
    (f"{API}/stream/items/ids", items_ids, ("GET",)),
    (f"{API}/stream/items/contents", items_contents, ("GET", "POST")),
    (f"{API}/stream/contents", stream_contents, ("GET",)),
    (f"{API}/stream/contents/<path:stream>", stream_contents, ("GET",)),
    (f"{API}/edit-tag", edit_tag, ("POST",)),
    (f"{API}/mark-all-as-read", mark_all_as_read, ("POST",)),
    (f"{API}/subscription/quickadd", quickadd, ("POST",)),
    (f"{API}/subscription/edit", subscription_edit, ("POST",)),
    ("/reader/atom", atom, ("GET",)),
    ("/reader/atom/<path:stream>", atom, ("GET",)),
]


def _error(e: HTTPException) -> Any:
    """Every refusal as a short text (clients log it; none parses JSON errors)."""
    if e.response is not None:  # ours, already text
        return e.response
    code = e.code or 500
    message = e.description if e.description != type(e).description else e.name
    return _text(str(message)[:500], code)


def _drop_flavour(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is not None:
        values.pop("flavour", None)


bp = Blueprint("greader", __name__, url_prefix=PREFIX)
for _rule, _view, _methods in ROUTES:
    _endpoint = _view.__name__ if "<" not in _rule else f"{_view.__name__}_path"
    bp.add_url_rule(_rule, _endpoint, _view, methods=list(_methods))
bp.url_value_preprocessor(_drop_flavour)
bp.before_request(_require_token)
bp.register_error_handler(HTTPException, _error)
for _code in (400, 401, 404, 405, 413, 429):
    bp.register_error_handler(_code, _error)


def install(app: Flask, register: Callable[[Blueprint], None]) -> None:
    register(bp)
