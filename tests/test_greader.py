"""The Google Reader API (issue 11) through Flask's test client over a real feeds.yaml and
SQLite file: credentials and their 401s, the rate limit, every endpoint, the id forms,
paging, read/star state shared with the dashboard, subscription edits through the
round-trip writer (quickadd against a real feed server on 127.0.0.1), and bad input:
400/401 with a short text, never a 500, nothing written."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from feedserver import FeedServer
from hypothesis import given, settings
from hypothesis import strategies as st
from websupport import BLOG, NEWS, TECH, entry_id, seeded_app, storage, text, token, write_site
from werkzeug.datastructures import MultiDict

from aggregator.web import apiauth
from aggregator.web.auth import LoginLimiter
from aggregator.web.greader import PREFIX

PASSWORD = "app-password-for-tests"
API = "/api/greader/reader/api/0"
READ = "user/-/state/com.google/read"
STARRED = "user/-/state/com.google/starred"
READING = "user/-/state/com.google/reading-list"
ROOT = Path(__file__).resolve().parents[1]


def make(tmp_path: Path, **config):
    app = seeded_app(write_site(tmp_path))
    app.config.update(config)
    return app


@pytest.fixture
def app(tmp_path: Path):
    app = make(tmp_path, AGGREGATOR_API_PASSWORD=PASSWORD)
    yield app
    app.extensions["aggregator"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, prefix: str = "/api/greader", user: str = "aggregator") -> dict[str, str]:
    r = client.post(f"{prefix}/accounts/ClientLogin", data={"Email": user, "Passwd": PASSWORD})
    assert r.status_code == 200, text(r)
    auth = re.search(r"^Auth=(.+)$", text(r), re.M).group(1)
    return {"Authorization": f"GoogleLogin auth={auth}"}


def state_of(app) -> list[tuple[int, bool, bool]]:
    entries, _ = storage(app).entries(limit=100)
    return sorted((e.id, e.read, e.starred) for e in entries)


def long_id(n: int) -> str:
    return f"tag:google.com,2005:reader/item/{n:016x}"


# --- credentials ------------------------------------------------------------------------


def test_the_api_is_refused_until_a_password_is_set_then_a_stored_one_works(tmp_path: Path):
    app = make(tmp_path)
    app.config.pop("AGGREGATOR_API_PASSWORD", None)
    os.environ.pop("AGGREGATOR_API_PASSWORD", None)
    client = app.test_client()
    for method, path in [
        ("post", "/api/greader/accounts/ClientLogin"),
        ("get", f"{API}/subscription/list"),
        ("get", "/api/greader.php/reader/api/0/unread-count"),
    ]:
        r = getattr(client, method)(path, data={"Email": "aggregator", "Passwd": "x"})
        assert r.status_code == 401, path
        assert r.mimetype == "text/plain" and "aggregator api-password" in text(r)
        assert len(text(r)) < 200
    assert 'data-api-state="off"' in text(client.get("/feeds"))
    assert "désactivée" in text(client.get("/feeds"))

    apiauth.store_password(storage(app), "lea", PASSWORD)
    raw = storage(app).get_meta("api_credentials")
    assert PASSWORD not in raw and apiauth.fever_key("lea", PASSWORD) not in raw  # hashes only
    assert (
        client.post(
            "/api/greader/accounts/ClientLogin", data={"Email": "aggregator", "Passwd": PASSWORD}
        ).status_code
        == 401
    )  # the user name is part of the credentials
    headers = login(client, user="lea")
    assert client.get(f"{API}/user-info", headers=headers).json["userName"] == "lea"
    page = text(client.get("/feeds"))
    assert 'data-api-state="on"' in page and "<code>lea</code>" in page

    # A new password logs every app out: the old token no longer works.
    apiauth.store_password(storage(app), "lea", "another password")
    assert client.get(f"{API}/user-info", headers=headers).status_code == 401
    app.extensions["aggregator"].close()


def test_the_environment_password_wins_over_the_stored_one(app, client):
    apiauth.store_password(storage(app), "aggregator", "stored password")
    r = client.post(
        "/api/greader/accounts/ClientLogin",
        data={"Email": "aggregator", "Passwd": "stored password"},
    )
    assert r.status_code == 401
    login(client)


def test_api_password_command_prints_once_and_stores_a_hash(tmp_path: Path):
    site = write_site(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(site["config"]), "--db",
         str(site["db"]), "api-password", "--user", "camille"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=30, check=True,
    )  # fmt: skip
    password = re.search(r"password: (\S+)", result.stdout).group(1)
    assert "user:     camille" in result.stdout and len(password) >= 20
    assert password.encode() not in Path(site["db"]).read_bytes()
    app = seeded_app(site)
    client = app.test_client()
    r = client.post(
        "/api/greader/accounts/ClientLogin",
        data={"Email": "camille", "Passwd": password, "output": "json"},
    )
    assert r.status_code == 200 and set(r.json) == {"SID", "LSID", "Auth"}
    key = hashlib.md5(f"camille:{password}".encode()).hexdigest()
    assert client.post("/api/fever/?api", data={"api_key": key}).json["auth"] == 1
    app.extensions["aggregator"].close()


def test_wrong_passwords_in_a_loop_are_limited(app, client):
    for _ in range(5):
        r = client.post(
            "/api/greader/accounts/ClientLogin", data={"Email": "aggregator", "Passwd": "nope"}
        )
        assert r.status_code == 401 and text(r) == "Error=BadAuthentication\n"
    r = client.post(
        "/api/greader/accounts/ClientLogin", data={"Email": "aggregator", "Passwd": PASSWORD}
    )
    assert r.status_code == 429 and "15 minutes" in text(r)
    # A wrong token counts too, and the dashboard's own login is not locked by them.
    assert (
        client.get(f"{API}/user-info", headers={"Authorization": "GoogleLogin auth=x"}).status_code
        == 429
    )
    assert client.get("/feeds").status_code == 200


def test_every_call_needs_the_header_and_no_cookie_or_csrf_token(app, client):
    assert client.get(f"{API}/subscription/list").status_code == 401
    bad = {"Authorization": "GoogleLogin auth=aggregator/0000"}
    assert client.get(f"{API}/subscription/list", headers=bad).status_code == 401
    headers = login(client)
    eid = entry_id(app, NEWS, 2)
    # T missing (Fluent Reader), empty (FeedMe), arbitrary (Reeder); an Origin from
    # elsewhere (Electron apps): the header authenticates, nothing else is asked.
    for extra in [{}, {"T": ""}, {"T": "x"}]:
        r = client.post(
            f"{API}/edit-tag",
            data={"i": str(eid), "a": STARRED, **extra},
            headers={**headers, "Origin": "app://fluent-reader"},
        )
        assert r.status_code == 200 and text(r) == "OK\n"
    assert storage(app).entry(eid).starred
    # The dashboard keeps its own protections: the same Origin on its form is refused.
    csrf = token(client)
    r = client.post(
        f"/entry/{eid}/read", data={"csrf_token": csrf}, headers={"Origin": "app://fluent-reader"}
    )
    assert r.status_code == 400 and not storage(app).entry(eid).read


def test_the_api_works_when_the_dashboard_has_a_password(tmp_path: Path):
    app = make(tmp_path, AGGREGATOR_API_PASSWORD=PASSWORD)
    app.extensions["aggregator"].password = "dashboard password"
    client = app.test_client()
    assert client.get("/feeds").status_code == 302  # the dashboard wants its login
    headers = login(client)
    assert client.get(f"{API}/tag/list", headers=headers).status_code == 200
    assert client.get("/api/entries").status_code == 401  # the JSON API still wants it
    app.extensions["aggregator"].close()


# --- lists -------------------------------------------------------------------------------


def test_both_prefixes_answer_the_same(app, client):
    headers = login(client, "/api/greader.php")
    one = client.get("/api/greader.php/reader/api/0/subscription/list", headers=headers)
    two = client.get(f"{API}/subscription/list", headers=headers)
    assert one.json == two.json
    subs = {s["id"]: s for s in one.json["subscriptions"]}
    assert list(subs) == [f"feed/{NEWS}", f"feed/{BLOG}", f"feed/{TECH}"]  # feeds.yaml order
    assert subs[f"feed/{NEWS}"]["title"] == "Le Journal"
    assert subs[f"feed/{NEWS}"]["categories"] == [
        {"id": "user/-/label/Actualités", "label": "Actualités"}
    ]
    tags = [t["id"] for t in client.get(f"{API}/tag/list", headers=headers).json["tags"]]
    assert tags == [STARRED, "user/-/label/Actualités", "user/-/label/Tech"]
    counts = {
        c["id"]: c["count"]
        for c in client.get(f"{API}/unread-count", headers=headers).json["unreadcounts"]
    }
    assert counts == {
        f"feed/{NEWS}": 3, f"feed/{BLOG}": 2, f"feed/{TECH}": 2,
        "user/-/label/Actualités": 5, "user/-/label/Tech": 2, READING: 7,
    }  # fmt: skip
    edit_token = text(client.get(f"{API}/token", headers=headers)).strip()
    assert len(edit_token) == 57
    assert edit_token[:16] not in headers["Authorization"]  # not a piece of the Auth token


def test_item_ids_in_every_form_and_contents_shapes(app, client):
    headers = login(client)
    refs = client.get(
        f"{API}/stream/items/ids", query_string={"s": READING, "n": 100}, headers=headers
    ).json
    ids = [int(r["id"]) for r in refs["itemRefs"]]
    assert len(ids) == 7 and "continuation" not in refs
    eid = entry_id(app, TECH, 2)
    forms = [str(eid), long_id(eid), f"{eid:016x}", f"{eid:x}" if eid > 9 else f"0{eid:x}"]
    for form in forms:
        r = client.post(f"{API}/stream/items/contents", data={"i": form}, headers=headers)
        assert [i["id"] for i in r.json["items"]] == [long_id(eid)], form
    item = r.json["items"][0]
    assert item["origin"] == {"streamId": f"feed/{TECH}", "title": "Tech Weekly", "htmlUrl": ""}
    assert item["summary"]["content"] == item["content"]["content"] == "<p>Contenu <b>2</b></p>"
    assert item["canonical"] == [{"href": "https://site.example/2"}]
    assert item["alternate"][0]["href"] == "https://site.example/2"
    assert item["enclosure"][0]["href"] == "https://cdn.example/ep.mp3"
    assert set(item["categories"]) == {READING, "user/-/label/Tech"}
    assert int(item["timestampUsec"]) == item["published"] * 1_000_000
    assert int(item["crawlTimeMsec"]) // 1000 >= item["published"]
    # GET and several i=, in the order asked, unknown ids left out.
    r = client.get(
        f"{API}/stream/items/contents",
        query_string=[("i", str(ids[1])), ("i", long_id(ids[0])), ("i", "999999")],
        headers=headers,
    )
    assert [i["id"] for i in r.json["items"]] == [long_id(ids[1]), long_id(ids[0])]


def test_streams_filters_and_continuation(app, client):
    headers = login(client)

    def ids(**query):
        r = client.get(f"{API}/stream/items/ids", query_string=query, headers=headers)
        assert r.status_code == 200, text(r)
        return [int(x["id"]) for x in r.json["itemRefs"]], r.json.get("continuation")

    everything, _ = ids(s=READING, n=1000)
    seen, c = [], None
    while True:
        page, c = ids(s=READING, n=2, **({"c": c} if c else {}))
        seen += page
        if c is None:
            break
    assert seen == everything  # paging gives every id once, in order
    oldest, _ = ids(s=READING, n=1000, r="o")
    assert oldest == everything[::-1]
    first = entry_id(app, NEWS, 1)
    storage(app).set_read([first])
    storage(app).set_starred(entry_id(app, BLOG, 2))
    unread, _ = ids(s=READING, n=1000, xt=READ)
    assert first not in unread and len(unread) == 6
    assert ids(s=STARRED)[0] == [entry_id(app, BLOG, 2)]
    assert ids(s=READING, it=STARRED)[0] == [entry_id(app, BLOG, 2)]
    assert ids(s=f"feed/{TECH}")[0] == [entry_id(app, TECH, 1), entry_id(app, TECH, 2)]
    assert len(ids(s="user/-/label/Actualités")[0]) == 5
    assert len(ids(s="user/1/label/Actualités")[0]) == 5  # the userId we gave, not "-"
    contents = client.get(f"{API}/stream/contents/feed/{TECH}?n=1", headers=headers).json
    assert contents["id"] == f"feed/{TECH}" and len(contents["items"]) == 1
    assert "continuation" in contents
    # ot (at or after) and nt (before) are seconds on the item's time.
    newest = storage(app).entry(everything[0]).published
    stamp = int(newest.timestamp())
    assert ids(s=READING, ot=stamp)[0] == [everything[0]]
    assert everything[0] not in ids(s=READING, nt=stamp, n=100)[0]


def test_read_and_star_state_is_the_dashboards(app, client):
    headers = login(client)
    a, b = entry_id(app, NEWS, 2), entry_id(app, BLOG, 1)
    r = client.post(
        f"{API}/edit-tag",
        data=MultiDict([("i", str(a)), ("i", long_id(b)), ("a", READ), ("a", STARRED)]),
        headers=headers,
    )
    assert r.status_code == 200
    assert storage(app).entry(a).read and storage(app).entry(b).starred
    assert storage(app).unread_counts()[""] == 5  # the dashboard's badge follows
    # newsboat's way of marking unread: r=read plus kept-unread tags
    r = client.post(
        f"{API}/edit-tag",
        data=MultiDict([("i", long_id(a)), ("r", READ), ("a", "user/-/state/com.google/kept-unread"),
              ("a", "user/-/state/com.google/tracking-kept-unread"), ("ac", "edit"), ("T", "x")]),
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 200 and not storage(app).entry(a).read
    # A change in the dashboard shows in the API.
    csrf = token(client)
    assert client.post(f"/entry/{a}/star", data={"csrf_token": csrf}).status_code < 400
    item = client.post(f"{API}/stream/items/contents", data={"i": str(a)}, headers=headers).json
    assert STARRED in item["items"][0]["categories"]


def test_mark_all_as_read_up_to_a_time(app, client):
    headers = login(client)
    news = sorted(storage(app).entries(feed_url=NEWS)[0], key=lambda e: e.published)
    middle = int(news[1].published.timestamp()) * 1_000_000
    r = client.post(
        f"{API}/mark-all-as-read", data={"s": f"feed/{NEWS}", "ts": str(middle)}, headers=headers
    )
    assert r.status_code == 200 and text(r) == "OK\n"
    assert [storage(app).entry(e.id).read for e in news] == [True, True, False]
    assert storage(app).unread_counts()["Tech"] == 2
    client.post(f"{API}/mark-all-as-read", data={"s": "user/-/label/Tech"}, headers=headers)
    assert storage(app).unread_counts()["Tech"] == 0
    starred = entry_id(app, BLOG, 1)
    storage(app).set_starred(starred)
    client.post(f"{API}/mark-all-as-read", data={"s": STARRED}, headers=headers)
    assert storage(app).entry(starred).read and storage(app).unread_counts()[""] == 2
    client.post(f"{API}/mark-all-as-read", data={"s": READING}, headers=headers)
    assert storage(app).unread_counts()[""] == 0


# --- subscriptions: feeds.yaml through config.edit ---------------------------------------

SUB_YAML = """\
# my feeds, by hand
settings:
  allow_private_networks: true  # the test server is on 127.0.0.1
  timeout: 3s

tabs:
  - name: Actualités  # first tab
    feeds:
      - url: {known}
        title: Déjà là  # keep this comment
  - name: Tech
    feeds: []
"""


def rss(title: str, n: int) -> str:
    items = "".join(
        f"<item><title>{title} {i}</title><link>http://127.0.0.1/{i}</link>"
        f"<guid>{title}#{i}</guid><pubDate>Mon, 0{i} Jan 2024 10:00:00 +0000</pubDate></item>"
        for i in range(1, n + 1)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>http://127.0.0.1/</link><description>d</description>{items}</channel></rss>"
    )


def test_quickadd_resolves_a_site_and_edit_renames_moves_and_unsubscribes(tmp_path: Path):
    from websupport import make_app

    with FeedServer(tmp_path) as server:
        rss_type = {"Content-Type": "application/rss+xml; charset=utf-8"}
        server.add("/known.xml", rss("Connu", 1), headers=rss_type)
        server.add("/blog/feed.xml", rss("Le Blog", 3), headers=rss_type)
        server.add(
            "/blog/",
            '<!doctype html><title>Blog</title><link rel="alternate" '
            'type="application/rss+xml" href="feed.xml">',
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
        config = tmp_path / "feeds.yaml"
        config.write_text(SUB_YAML.format(known=server.url("/known.xml")), encoding="utf-8")
        app = make_app(
            {"config": config, "db": tmp_path / "db.sqlite3"}, AGGREGATOR_API_PASSWORD=PASSWORD
        )
        client = app.test_client()
        headers = login(client)
        feed = server.url("/blog/feed.xml")

        r = client.post(
            f"{API}/subscription/quickadd", data={"quick": server.url("/blog/")}, headers=headers
        )
        assert r.status_code == 200, text(r)
        assert r.json["streamId"] == f"feed/{feed}" and r.json["numResults"] == 1
        written = config.read_text(encoding="utf-8")
        assert (
            f"- {feed}" in written and "# keep this comment" in written and "# first tab" in written
        )
        assert storage(app).feed(feed).entry_count == 3  # fetched at once, as « Ajouter »
        again = client.post(f"{API}/subscription/quickadd", data={"quick": feed}, headers=headers)
        assert (
            again.json["streamId"] == f"feed/{feed}"
            and config.read_text(encoding="utf-8") == written
        )

        def edit(**data):
            r = client.post(f"{API}/subscription/edit", data=data, headers=headers)
            assert r.status_code == 200, text(r)

        edit(ac="edit", s=f"feed/{feed}", t="Mon blog")
        edit(ac="edit", s=f"feed/{feed}", a="user/-/label/Tech", r="user/-/label/Actualités")
        subs = client.get(f"{API}/subscription/list", headers=headers).json["subscriptions"]
        mine = next(s for s in subs if s["id"] == f"feed/{feed}")
        assert mine["title"] == "Mon blog" and mine["categories"][0]["label"] == "Tech"
        assert "title: Mon blog" in config.read_text(encoding="utf-8")
        edit(ac="edit", s=f"feed/{feed}", a="user/-/label/Nouveau")  # a new label is a new tab
        assert "name: Nouveau" in config.read_text(encoding="utf-8")
        edit(ac="unsubscribe", s=f"feed/{feed}")
        assert feed not in config.read_text(encoding="utf-8")
        assert "# keep this comment" in config.read_text(encoding="utf-8")
        edit(ac="subscribe", s=f"feed/{feed}", a="user/-/label/Tech", t="Revenu")
        text_now = config.read_text(encoding="utf-8")
        assert f"url: {feed}" in text_now and "title: Revenu" in text_now

        before = config.read_text(encoding="utf-8")
        for data in [
            {"quick": server.url("/nothing-here")},
            {"quick": "javascript:alert(1)"},
            {"quick": ""},
        ]:
            r = client.post(f"{API}/subscription/quickadd", data=data, headers=headers)
            assert r.status_code == 400 and r.mimetype == "text/plain", data
        for data in [
            {"ac": "edit", "s": "feed/https://not-followed.example/x"},
            {"ac": "explode", "s": f"feed/{feed}"},
            {"ac": "subscribe", "s": "feed/file:///etc/passwd"},
            {"ac": "edit", "s": "user/-/label/Tech"},
            {"ac": "edit", "s": f"feed/{feed}", "a": "user/-/state/com.google/starred"},
        ]:
            r = client.post(f"{API}/subscription/edit", data=data, headers=headers)
            assert r.status_code == 400 and r.mimetype == "text/plain", data
        assert config.read_text(encoding="utf-8") == before
        app.extensions["aggregator"].close()


# --- bad input: a short 400/401, never a 500, nothing written ----------------------------


def test_bad_input_is_refused_in_a_short_text_and_writes_nothing(app, client):
    headers = login(client)
    before = state_of(app)
    many = "&".join(f"i={n}" for n in range(1, 10_002))
    cases = [
        ("post", f"{API}/edit-tag", f"{many}&a={READ}"),
        ("post", f"{API}/stream/items/contents", "&".join(f"i={n}" for n in range(1, 1_002))),
        ("post", f"{API}/edit-tag", f"i=1&i=zz&a={READ}"),
        ("post", f"{API}/edit-tag", f"i=1&i={'9' * 30}&a={READ}"),
        ("post", f"{API}/edit-tag", f"i=1&i=feed/https://x&a={READ}"),
        ("post", f"{API}/edit-tag", f"i={long_id(0)}&a={READ}"),
        ("post", f"{API}/edit-tag", f"i=tag:google.com,2005:reader/item/xyz&a={READ}"),
        ("post", f"{API}/edit-tag", "i=1&a=user/-/state/com.google/unknown"),
        ("post", f"{API}/edit-tag", f"i=1&a={READ}&r={READ}"),
        ("post", f"{API}/edit-tag", f"a={READ}"),
        ("post", f"{API}/mark-all-as-read", "s=feed/https://unknown.example/"),
        ("post", f"{API}/mark-all-as-read", "s=user/-/label/Nope"),
        ("post", f"{API}/mark-all-as-read", f"s={READING}&ts=²"),
        ("post", f"{API}/mark-all-as-read", "s=splice/x"),
        ("get", f"{API}/stream/items/ids", "s=bogus"),
        ("get", f"{API}/stream/items/ids", f"s={READING}&n={'9' * 40}"),
        ("get", f"{API}/stream/items/ids", f"s={READING}&n=-5"),
        ("get", f"{API}/stream/items/ids", f"s={READING}&c=garbage"),
        ("get", f"{API}/stream/items/ids", f"s={READING}&c=1_99999999999999999999"),
        ("get", f"{API}/stream/items/ids", f"s={READING}&ot=%00"),
        ("get", f"{API}/stream/items/ids", f"s={READING}&xt=nonsense"),
        ("get", f"{API}/stream/contents/user/-/state/com.google/nothing", ""),
        ("get", "/api/greader/reader/atom/feed/https%3A%2F%2Fnope.example%2F", ""),
        ("get", f"{API}/stream/contents/feed/a%00b", ""),
    ]
    for method, path, body in cases:
        if method == "post":
            r = client.post(
                path, data=body, content_type="application/x-www-form-urlencoded", headers=headers
            )
        else:
            r = client.get(path, query_string=body, headers=headers)
        assert r.status_code == 400, (path, body[:80], r.status_code, text(r)[:200])
        assert r.mimetype == "text/plain" and 0 < len(text(r)) < 600, (path, text(r)[:200])
    assert state_of(app) == before
    # huge n is served, clamped, with a continuation
    r = client.get(
        f"{API}/stream/items/ids", query_string={"s": READING, "n": 10**12}, headers=headers
    )
    assert r.status_code == 200 and len(r.json["itemRefs"]) == 7
    # wrong passwords in a loop: 401 then 429, short texts, nothing else
    for n in range(8):
        r = client.post(
            "/api/greader/accounts/ClientLogin", data={"Email": "aggregator", "Passwd": f"x{n}"}
        )
        assert r.status_code in (401, 429) and len(text(r)) < 100
    assert r.status_code == 429
    assert state_of(app) == before


def test_every_greader_route_survives_the_nasty_values(app, client):
    """The known-bad values of test_web_params through every parameter of every API
    route (its fuzz logs in to the dashboard, not to the API: this one does)."""
    from test_web_params import NASTY, RAW, Crashes, encode, fill

    headers = login(client)
    # Not "quick": a nasty address would be looked up (discover), beyond loopback.
    names = ["s", "i", "n", "c", "r", "xt", "it", "ot", "nt", "ts", "a", "t", "ac", "output",
             "T", "Email", "Passwd", "api_key", "with_ids", "since_id", "max_id", "mark", "as",
             "id", "before", "items", "feeds", "groups", "api"]  # fmt: skip
    rules = [
        (r.rule.replace(PREFIX, "/api/greader"), m)
        for r in app.url_map.iter_rules()
        if r.rule.startswith((PREFIX, "/api/fever"))
        for m in sorted(r.methods - {"HEAD", "OPTIONS"})
    ]
    assert len(rules) >= 18
    failures = []
    with Crashes() as crashes:
        for rule, method in rules:
            for value in NASTY + RAW:
                encoded = encode(value)[:5_000]
                everything = "&".join(f"{name}={encoded}" for name in names)
                tries = [("1", everything)] + ([(encoded, "")] if "<" in rule else [])
                for segment, query in tries:
                    # wrong passwords would soon make every answer a 429
                    app.extensions[apiauth.LIMITER_KEY] = LoginLimiter()
                    path = fill(rule, segment)
                    if method == "GET":
                        r = client.get(path, query_string=query, headers=headers)
                    else:
                        r = client.open(
                            path, method=method, data=everything.encode("ascii"),
                            content_type="application/x-www-form-urlencoded", headers=headers,
                        )  # fmt: skip
                    if r.status_code >= 500:
                        failures.append((method, path[:80], r.status_code))
    assert not failures, failures[:10]
    assert not crashes.records, [c.getMessage() for c in crashes.records[:5]]


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=2**63 - 1), st.text(max_size=40))
def test_item_id_forms_round_trip_and_anything_else_is_none_or_an_id(n, junk):
    from aggregator.web.greader import long_id as make_long_id
    from aggregator.web.greader import parse_item_id

    if n < 10**15:  # 16 characters are the short hex form (see parse_item_id)
        assert parse_item_id(str(n)) == n
    assert parse_item_id(make_long_id(n)) == n == parse_item_id(f"{n:016x}")
    value = parse_item_id(junk)
    assert value is None or 1 <= value <= 2**63 - 1
