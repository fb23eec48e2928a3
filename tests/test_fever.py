"""The Fever API (issue 11): the request sequences Unread and Fiery Feeds send, replayed
as data with the JSON shapes they parse (from the Fever API page, https://feedafever.com/api,
and the FreshRSS and Miniflux Fever documentation), paging by id, marks shared with the
dashboard, and bad input: 400/401, never a 500, nothing written."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from test_greader_clients import check_shape
from websupport import BLOG, NEWS, TECH, entry_id, seeded_app, storage, text, write_site

from aggregator.web import apiauth

PASSWORD = "app-password-for-fever"
KEY = hashlib.md5(f"aggregator:{PASSWORD}".encode()).hexdigest()
IDS = re.compile(r"(?:[0-9]+(?:,[0-9]+)*)?")

BASE = {"api_version": int, "auth": int, "last_refreshed_on_time": int}
GROUPS = BASE | {
    "groups": [{"id": int, "title": str}],
    "feeds_groups": [{"group_id": int, "feed_ids": IDS}],
}
FEEDS = BASE | {
    "feeds": [{"id": int, "favicon_id": int, "title": str, "url": str, "site_url": str,
               "is_spark": int, "last_updated_on_time": int}],
    "feeds_groups": [{"group_id": int, "feed_ids": IDS}],
}  # fmt: skip
FAVICONS = BASE | {"favicons": [{"id": int, "data": re.compile(r"image/[a-z]+;base64,.+")}]}
ITEMS = BASE | {
    "items": [{"id": int, "feed_id": int, "title": str, "author": str, "html": str, "url": str,
               "is_saved": int, "is_read": int, "created_on_time": int}],
    "total_items": int,
}  # fmt: skip
UNREAD = BASE | {"unread_item_ids": IDS}
SAVED = BASE | {"saved_item_ids": IDS}
LINKS = BASE | {"links": list}

# (query after ?api, expected shape). "{first}": an id the previous items gave,
# "{feed}"/"{group}": a feed and a group id, "{max}": the largest id seen so far.
CLIENTS = {
    "Unread": [
        ("", BASE),
        ("groups", GROUPS),
        ("feeds", FEEDS),
        ("favicons", FAVICONS),
        ("unread_item_ids", UNREAD),
        ("saved_item_ids", SAVED),
        ("items&with_ids={unread3}", ITEMS),
        ("mark=item&as=read&id={first}", UNREAD),
        ("mark=item&as=saved&id={first}", SAVED),
        ("mark=item&as=unsaved&id={first}", SAVED),
        ("mark=item&as=saved&id={first}", SAVED),
    ],
    "Fiery Feeds": [
        ("groups", GROUPS),
        ("feeds", FEEDS),
        ("links", LINKS),
        ("items&since_id=0", ITEMS),
        ("items&since_id={max}", BASE | {"items": list, "total_items": int}),
        ("items&max_id=0", ITEMS),
        ("items&max_id={first}", BASE | {"items": list}),
        ("unread_item_ids", UNREAD),
        ("saved_item_ids", SAVED),
        ("mark=feed&as=read&id={feed}&before=9999999999", UNREAD),
        ("mark=group&as=read&id={group}&before=9999999999", UNREAD),
        ("mark=item&as=unread&id={first}", UNREAD),
    ],
}


@pytest.fixture
def app(tmp_path: Path):
    app = seeded_app(write_site(tmp_path))
    app.config["AGGREGATOR_API_PASSWORD"] = PASSWORD
    yield app
    app.extensions["aggregator"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def call(client, query: str, key: str = KEY, **form):
    return client.post(
        f"/api/fever/?api&{query}" if query else "/api/fever/?api", data={"api_key": key, **form}
    )


@pytest.mark.parametrize("name", list(CLIENTS))
def test_a_fever_client_sequence_gets_the_shapes_it_parses(app, client, name):
    found: dict[str, Any] = {"first": "", "max": 0, "feed": "", "group": "", "unread3": ""}
    for query, shape in CLIENTS[name]:
        query = query.format(**found)
        r = call(client, query)
        assert r.status_code == 200, (name, query, text(r)[:200])
        check_shape(r.json, shape, f"{name}: {query}")
        assert r.json["auth"] == 1 and r.json["api_version"] == 3
        body = r.json
        if body.get("items"):
            found["first"] = body["items"][0]["id"]
            found["max"] = max(found["max"], *(i["id"] for i in body["items"]))
        if body.get("feeds"):
            found["feed"] = body["feeds"][0]["id"]
        if body.get("groups"):
            found["group"] = body["groups"][-1]["id"]
        if "unread_item_ids" in body and not found["unread3"]:
            found["unread3"] = ",".join(body["unread_item_ids"].split(",")[:3])
    entries, _ = storage(app).entries(limit=100)
    assert any(e.read for e in entries) or any(e.starred for e in entries)


def test_groups_are_tabs_and_items_page_by_id(app, client):
    body = call(client, "groups&feeds").json
    assert [g["title"] for g in body["groups"]] == ["Actualités", "Tech"]
    feed_ids = {f["url"]: f["id"] for f in body["feeds"]}
    assert set(feed_ids) == {NEWS, BLOG, TECH}
    groups = {g["group_id"]: g["feed_ids"] for g in body["feeds_groups"]}
    assert groups[1] == f"{feed_ids[NEWS]},{feed_ids[BLOG]}" and groups[2] == str(feed_ids[TECH])
    first = call(client, "items&since_id=0").json
    assert [i["id"] for i in first["items"]] == sorted(i["id"] for i in first["items"])
    assert first["total_items"] == 7 and len(first["items"]) == 7
    assert call(client, f"items&since_id={first['items'][-1]['id']}").json["items"] == []
    newest = call(client, "items&max_id=0").json["items"]
    assert [i["id"] for i in newest] == sorted((i["id"] for i in newest), reverse=True)
    below = call(client, f"items&max_id={newest[2]['id']}").json["items"]
    assert [i["id"] for i in below] == [i["id"] for i in newest[3:]]
    item = next(i for i in first["items"] if i["id"] == entry_id(app, NEWS, 2))
    assert item["html"] == "<p>Contenu <b>2</b></p>" and item["feed_id"] == feed_ids[NEWS]
    assert call(client, "links").json["links"] == []


def test_marks_are_the_dashboards_state(app, client):
    a = entry_id(app, NEWS, 2)
    body = call(client, f"mark=item&as=read&id={a}").json
    assert storage(app).entry(a).read and str(a) not in body["unread_item_ids"].split(",")
    call(client, f"mark=item&as=saved&id={a}")
    assert storage(app).entry(a).starred
    assert call(client, "saved_item_ids").json["saved_item_ids"] == str(a)
    storage(app).set_read([a], False)  # the dashboard: unread again
    assert str(a) in call(client, "unread_item_ids").json["unread_item_ids"].split(",")
    tech = call(client, "feeds").json["feeds"][2]["id"]
    old = storage(app).entry(entry_id(app, TECH, 2)).published
    call(client, f"mark=feed&as=read&id={tech}&before={int(old.timestamp())}")
    assert storage(app).entry(entry_id(app, TECH, 2)).read
    assert not storage(app).entry(entry_id(app, TECH, 1)).read  # newer than "before"
    call(client, "mark=group&as=read&id=0&before=9999999999")  # group 0: everything
    assert storage(app).unread_counts()[""] == 0


def test_credentials_and_bad_input(app, client, tmp_path):
    before = sorted((e.id, e.read, e.starred) for e in storage(app).entries(limit=100)[0])
    r = call(client, "", key="0" * 32)
    assert r.status_code == 401 and r.json == {"api_version": 3, "auth": 0}
    r = client.post("/api/fever/?api")
    assert r.status_code == 401 and r.json["auth"] == 0
    assert client.get("/api/fever/").status_code == 400  # no ?api
    cases = [
        "mark=item&as=read&id=²", "mark=item&as=read&id=-3", "mark=item&as=read",
        "mark=item&as=exploded&id=1", "mark=feed&as=unread&id=1", "mark=feed&as=read&id=99999",
        "mark=group&as=read&id=77", "mark=nothing&as=read&id=1",
        "mark=feed&as=read&id=1&before=%00", "items&with_ids=1,x,3",
        "items&with_ids=" + ",".join(map(str, range(1, 60))), "items&since_id=" + "9" * 30,
        "items&max_id=-1", f"mark=item&as=read&id={2**63}",
    ]  # fmt: skip
    for query in cases:
        r = call(client, query)
        assert r.status_code == 400, (query, r.status_code, text(r)[:200])
        assert r.mimetype == "text/plain" and len(text(r)) < 300
    after = sorted((e.id, e.read, e.starred) for e in storage(app).entries(limit=100)[0])
    assert after == before
    for n in range(6):
        r = call(client, "", key=f"{n:032x}")
    assert r.status_code == 429  # wrong keys in a loop are limited
    assert call(client, "").status_code == 429

    # No password at all: refused, saying how to set one.
    (tmp_path / "other").mkdir()
    other = seeded_app(write_site(tmp_path / "other"))
    r = other.test_client().post("/api/fever/?api", data={"api_key": KEY})
    assert r.status_code == 401 and "api-password" in r.json["error"]
    apiauth.store_password(storage(other), "aggregator", PASSWORD)
    assert other.test_client().post("/api/fever/?api", data={"api_key": KEY}).json["auth"] == 1
    other.extensions["aggregator"].close()


def test_favicons_are_the_site_icons_the_dashboard_shows(app, client):
    """A feed whose site has a stored icon points at it (same id on every call); the
    others keep the neutral icon 1."""
    import base64
    from datetime import UTC, datetime

    from aggregator.icons import Icon
    from aggregator.storage._icons import site_of

    picture = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    storage(app).save_icon(
        site_of(NEWS), Icon(url=NEWS + "favicon.png", mime="image/png", data=picture), None,
        now=datetime.now(UTC),
    )  # fmt: skip
    feeds = {f["url"]: f["favicon_id"] for f in call(client, "feeds").json["feeds"]}
    icons = {i["id"]: i["data"] for i in call(client, "favicons").json["favicons"]}
    assert feeds[NEWS] != 1
    assert icons[feeds[NEWS]] == "image/png;base64," + base64.b64encode(picture).decode()
    assert feeds[TECH] == 1 and icons[1].startswith("image/gif;base64,")
    assert call(client, "feeds").json["feeds"] == call(client, "feeds").json["feeds"]
