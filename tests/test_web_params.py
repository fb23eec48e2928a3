"""Crafted requests get a 400 (or a 404 for an id that cannot exist), never a 500: the
one validation path (aggregator/web/params.py), a table of known-bad values through
every parameter of every route, and a Hypothesis fuzz over every route of the URL map
(path segments, query strings, form fields; logged in, with a valid CSRF token)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websupport import NEWS, ROOT, entry_id, seeded_app, storage, text, token, write_site
from werkzeug.datastructures import ImmutableMultiDict

from aggregator.web.auth import LoginLimiter
from aggregator.web.params import INT64_MAX, parse_int, search_text

PASSWORD = "correct horse"
CONTACTS_YAML = """\
- name: Camille Exemple
  email: camille@example.org
  interests: [cinéma, montage]
"""

# Values that broke routes (issue 7, item 5) or could: NUL, Unicode digits (² passes
# str.isdigit() and fails int(); ١ and ５ pass int()), beyond SQLite's 64 bits,
# negative, huge, control characters. RAW values are sent as they are (invalid UTF-8
# percent-escapes), the others percent-encoded.
NASTY = [
    "a\x00b", "²", "١", "１２", str(2**63), "9" * 40, "-1", "-9223372036854775809", "0", "",
    "+1", "1_000", "1-99999999999999999999", "99999999999999999999-99999999999999999999",
    "1_99999999999999999999", "٣_٤", "x" * 100_000, "\r\nX-Injected: 1", "\u2028", "null",
    '"', "NEAR(", "\x1b[31m",
]  # fmt: skip
RAW = ["%FF", "%ED%A0%80", "%C0%AF", "%E2%82", "%00", "%", "%zz", "a%00b"]


def param_names() -> list[str]:
    """Every name a route reads, found in the web package's source (so a new parameter
    is fuzzed without anyone remembering to add it here), plus a few more."""
    names = {"password", "lang", "cursor", "unread", "starred", "view", "fragment"}
    for path in (ROOT / "aggregator" / "web").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'(?:args|form|values)\.get(?:list)?\(\s*"(\w+)"', source))
        names |= set(re.findall(r'(?:_arg|_list|flag)\(\s*"(\w+)"', source))
    return sorted(names)


PARAMS = param_names()


def encode(value: str) -> str:
    return value if value in RAW else quote(value, safe="")


@pytest.fixture
def fuzz_app(tmp_path: Path):
    site = write_site(tmp_path)
    (tmp_path / "contacts.yaml").write_text(CONTACTS_YAML, encoding="utf-8")
    app = seeded_app(site)
    st_ = app.extensions["aggregator"]
    st_.password = PASSWORD  # logged in below: every route is reachable
    yield app
    st_.close()


def logged_in_client(app):
    client = app.test_client()
    app.extensions["aggregator_login"] = LoginLimiter()
    page = text(client.get("/login"))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"csrf_token": csrf, "password": PASSWORD})
    assert r.status_code == 302
    return client, token(client)


def routes(app) -> list[tuple[str, str]]:
    """(rule, method) for every route of the URL map."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method))
    return found


def fill(rule: str, segment: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", segment, rule)


class Crashes:
    """ERROR records (the app's 500 handler logs "unhandled error") during a block."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []

    def __enter__(self) -> Crashes:
        self.handler = logging.Handler(logging.ERROR)
        self.handler.emit = self.records.append  # type: ignore[method-assign]
        logging.getLogger("aggregator").addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("aggregator").removeHandler(self.handler)


def send(
    client, csrf: str, rule: str, method: str, segment: str, query: str, form: str, accept: str
):
    path = fill(rule, segment)
    headers = {"Accept": accept}
    if method == "GET":
        return client.get(path, query_string=query, headers=headers)
    if rule == "/logout":
        return None  # tested elsewhere; here it would only log the fuzzer out
    body = f"csrf_token={quote(csrf)}" + (f"&{form}" if form else "")
    return client.open(
        path,
        method=method,
        query_string=query,
        data=body.encode("ascii"),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


# --- the building blocks ----------------------------------------------------------


def test_parse_int_takes_ascii_digits_within_sqlite_range_only():
    assert parse_int("42") == 42 and parse_int(str(INT64_MAX)) == INT64_MAX
    for bad in [
        "²",
        "١",
        "１",
        "",
        "+1",
        " 1",
        "1 ",
        "1_0",
        "-1",
        "0",
        str(INT64_MAX + 1),
        "9" * 19,
    ]:
        assert parse_int(bad) is None, bad
    assert parse_int("-5", lo=-10) == -5 and parse_int("-11", lo=-10) is None
    assert parse_int("200", hi=200) == 200 and parse_int("201", hi=200) is None


def test_search_text_drops_control_characters():
    assert search_text(" été\x00\x00  à\tla\nplage\x1b ") == "été à la plage"
    assert search_text("\x00") == ""
    assert len(search_text("mot " * 200)) == 200


def test_nul_in_a_search_word_is_searched_not_a_crash(app, client):
    for path in ["/search?q=Artic%00le", "/api/entries?q=Artic%00le", "/search?q=%00"]:
        r = client.get(path)
        assert r.status_code == 200, path
    r = client.get("/api/entries?q=Article%002")
    assert r.status_code == 200  # NUL is a space: "Article" AND "2", one per feed
    assert [e["title"] for e in r.json["entries"]] == ["Article 2"] * 3


def test_storage_search_survives_a_nul():
    """The storage layer too (a later caller might not clean its input)."""
    from aggregator.storage._search import fts_query

    query = fts_query("a\x00b c")
    assert query is not None and "\x00" not in query


def test_ids_beyond_sqlite_range_and_unicode_digits_are_404_not_500(app, client):
    eid = entry_id(app, NEWS, 1)
    csrf = token(client)
    for segment in [str(2**63), "9" * 40, "²", "١", "１", "0", "-1"]:
        for path in [f"/entry/{segment}", f"/api/entries/{segment}", f"/entry/{segment}/forward"]:
            assert client.get(path).status_code == 404, path
        r = client.post(f"/entry/{quote(segment)}/read", data={"csrf_token": csrf})
        assert r.status_code == 404, segment
        r = client.post(f"/forwards/{quote(segment)}/retry", data={"csrf_token": csrf})
        assert r.status_code == 404, segment
    assert client.get(f"/entry/{eid}").status_code == 200


def test_numbers_in_queries_and_forms_are_checked(app, client):
    csrf = token(client)
    cases = [
        ("/api/entries?limit=²", 400),
        ("/api/entries?limit=201", 400),
        ("/api/entries?limit=0", 400),
        ("/api/entries?limit=200", 200),
        ("/api/entries?cursor=1_99999999999999999999", 400),
        ("/api/entries?q=Article&cursor=99999999999999999999", 400),
        ("/?cursor=١_١", 400),
        ("/?max_id=²", 400),
        ("/tab/Tech?max_id=9223372036854775808", 400),
        ("/api/forwards?before=9223372036854775808", 400),
        ("/api/forwards?entry=²", 400),
        ("/api/forwards?limit=-1", 400),
        ("/sent?before=²", 400),
    ]
    for path, status in cases:
        r = client.get(path)
        assert r.status_code == status, path
        if path.startswith("/api/") and status == 400:
            assert r.is_json and r.json["status"] == 400, path
    r = client.get("/api/entries?limit=²")
    assert r.json["error"] == "« limit » doit être un nombre entier de 1 à 200."
    r = client.get("/?max_id=²")
    assert "<!doctype html>" in text(r) and "« max_id » doit être un nombre entier" in text(r)
    for form in [
        {"max_id": "9223372036854775808"},
        {"max_id": "²"},
    ]:
        r = client.post("/mark-all-read", data={"csrf_token": csrf, **form})
        assert r.status_code == 400, form
    for ids in ["99999999999999999999-99999999999999999999", "١-٣", "²"]:
        r = client.post("/undo-read", data={"csrf_token": csrf, "ids": ids})
        assert r.status_code == 400, ids
    for entry in ["9223372036854775808", "²"]:
        r = client.post("/forwards/cancel", data={"csrf_token": csrf, "batch": "b", "entry": entry})
        assert r.status_code == 400, entry
        r = client.post(
            "/contacts",
            data={"csrf_token": csrf, "name": "A", "email": "a@example.org", "entry": entry},
        )
        assert r.status_code == 400, entry
    assert storage(app).unread_counts()["Tech"] == 2  # nothing was marked read


def test_control_characters_in_text_fields_are_refused(app, client):
    csrf = token(client)
    r = client.post(
        "/contacts",
        data={"csrf_token": csrf, "name": "Eve\x00", "email": "eve@example.org"},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 400 and "caractères de contrôle" in r.json["error"]
    r = client.post(
        "/contacts", data={"csrf_token": csrf, "name": "Eve", "email": "eve@example.org\x00x"}
    )
    assert r.status_code == 400
    r = client.get("/feed?url=https://news.example.org/feed.xml%00")
    assert r.status_code == 400
    assert "eve@" not in text(client.get("/contacts"))


# --- every route, every parameter: the known-bad table --------------------------------


# Every route of the app in one test: its time grows with the URL map (~10 s
# alone here, 60 s on a loaded box), so it gets more than the 60 s default.
@pytest.mark.timeout(300)
def test_every_route_with_every_nasty_value(fuzz_app):
    """Each value as every path segment, then in every parameter at once (query string
    and form body). One parameter at a time is the Hypothesis test's job, below."""
    client, csrf = logged_in_client(fuzz_app)
    table = routes(fuzz_app)
    assert len(table) >= 25
    failures = []
    with Crashes() as crashes:
        for rule, method in table:
            for value in NASTY + RAW:
                encoded = encode(value)[:5_000]  # 100,000 as a segment, not 32 times
                everything = "&".join(f"{name}={encoded}" for name in PARAMS)
                tries = [("1", everything, everything if method != "GET" else "")]
                if "<" in rule:
                    tries.append((encoded, "", ""))
                for segment, query, form in tries:
                    r = send(client, csrf, rule, method, segment, query, form, "text/html")
                    if r is not None and r.status_code >= 500:
                        failures.append((method, fill(rule, segment), query[:60]))
    assert not failures, failures[:20]
    assert not crashes.records, [r.getMessage() for r in crashes.records[:5]]


# --- every route: Hypothesis ----------------------------------------------------------

READ: set[str] = set()


class Recording(ImmutableMultiDict):
    """Query and form parameters that remember which names the route asked for."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        READ.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002
        READ.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        READ.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        READ.add(key)
        return super().__contains__(key)


class RecordingRequest(Request):
    parameter_storage_class = Recording


def discover(client, csrf: str, table) -> dict[tuple[str, str], list[str]]:
    """route -> the parameter names it reads, seen by calling it (bare, then with
    every known name set to 1), so the fuzzer aims at what each route really uses."""
    found = {}
    everything = "&".join(f"{name}=1" for name in PARAMS)
    for rule, method in table:
        READ.clear()
        send(client, csrf, rule, method, "1", "", "", "text/html")
        send(client, csrf, rule, method, "1", everything, everything, "application/json")
        found[(rule, method)] = sorted(READ - {"csrf_token"}) or PARAMS
    return found


nasty = st.sampled_from(NASTY + RAW)
plain = st.sampled_from(
    ["1", "2", "Tech", "camille@example.org", "https://news.example.org/feed.xml"]
)
# Three in five values are known-bad ones: 400 examples must reach the bad cases of
# most routes every run, not by luck.
values = st.one_of(
    nasty,
    nasty,
    nasty,
    plain,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=30),
)
segments = st.one_of(nasty, nasty, plain, st.integers(min_value=-(2**70), max_value=2**70).map(str))


EXAMPLES_PER_ROUTE = 20


def as_query(items: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={encode(v)}" for k, v in items)


# Every route of the app in one test: its time grows with the URL map (~10 s
# alone here, 60 s on a loaded box), so it gets more than the 60 s default.
@pytest.mark.timeout(300)
def test_no_route_answers_5xx_to_anything(tmp_path: Path):
    site = write_site(tmp_path)
    (tmp_path / "contacts.yaml").write_text(CONTACTS_YAML, encoding="utf-8")
    app = seeded_app(site)
    app.request_class = RecordingRequest
    app.extensions["aggregator"].password = PASSWORD
    client, csrf = logged_in_client(app)
    table = routes(app)
    reads = discover(client, csrf, table)
    assert {"limit", "cursor", "q", "feed", "tab"} <= set(reads[("/api/entries", "GET")])
    assert {"note", "to", "to_search"} <= set(reads[("/entry/<int:entry_id>/forward", "POST")])

    def fuzz(rule: str, method: str) -> None:
        """Hypothesis examples for one route: each of its parameters absent or drawn
        (three in five values known-bad), plus a few names of its own choosing."""
        names = reads[(rule, method)]
        params = st.fixed_dictionaries({}, optional={name: values for name in names})
        extra = st.lists(st.tuples(st.text(min_size=1, max_size=8), values), max_size=2)
        fields = st.tuples(params, extra).map(lambda p: [*p[0].items(), *p[1]])

        @settings(
            max_examples=EXAMPLES_PER_ROUTE,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        )
        @given(
            segment=segments if "<" in rule else st.just("1"),
            query=fields,
            form=fields if method != "GET" else st.just([]),
            accept=st.sampled_from(["text/html", "application/json", "*/*"]),
        )
        def check(segment, query, form, accept):
            with Crashes() as crashes:
                r = send(
                    client, csrf, rule, method, encode(segment), as_query(query),
                    as_query(form), accept,
                )  # fmt: skip
            if r is None:
                return
            assert r.status_code < 500, (method, fill(rule, segment), query, form, text(r)[:300])
            assert not crashes.records, [c.getMessage() for c in crashes.records]
            r.close()

        check()

    try:
        for rule, method in table:  # every route gets its share of examples
            fuzz(rule, method)
    finally:
        app.extensions["aggregator"].close()
