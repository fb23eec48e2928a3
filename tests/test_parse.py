"""parse.parse_feed on real-world-shaped and hostile feeds.

Data-driven: every ``tests/data/feeds/<name>.expected.json`` (except the ``fetch-*``
fixtures of test_fetch) states what parsing ``<name>.<ext>`` must give, and what the
sanitized HTML of its entries must and must not contain. One parametrized test walks
them all; the tests after it cover what fixtures cannot (caps, odd bodies).
"""

from __future__ import annotations

import codecs
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.models import Enclosure, ParsedFeed
from aggregator.parse import MAX_ENTRIES, MAX_FIELD, parse_feed
from aggregator.sanitize import clean_url, html_to_text, sanitize_html

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

# Whatever a fixture says, sanitized output never contains these.
ALWAYS_FORBIDDEN = [
    "<script", "javascript:", " onerror=", " onclick=", " onload=", "<iframe", "<style",
    "<svg", "<form", " style=", " class=", " id=", "srcset=",
]  # fmt: skip
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
URL_ATTR = re.compile(r'\s(?:href|src|cite)="([^"]*)"')


def fixtures():
    for expected in sorted(FEEDS.glob("*.expected.json")):
        name = expected.name.removesuffix(".expected.json")
        if name.startswith("fetch-"):
            continue  # test_fetch's fixtures
        bodies = [
            p
            for p in FEEDS.iterdir()
            if p.name.startswith(name + ".") and not p.name.endswith(".expected.json")
        ]
        assert len(bodies) == 1, f"{expected.name}: expected one body file, found {bodies}"
        yield pytest.param(bodies[0], expected, id=name)


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


@pytest.mark.parametrize(("body_path", "expected_path"), list(fixtures()))
def test_fixture(body_path: Path, expected_path: Path) -> None:
    exp = json.loads(expected_path.read_text(encoding="utf-8"))
    url = exp.get("url", f"https://feeds.example.org/{body_path.name}")
    body = body_path.read_bytes()

    if "error" in exp:
        with pytest.raises(ParseError) as info:
            parse_feed(body, url=url, headers=exp.get("headers"), now=NOW)
        assert info.value.code == exp["error"]
        assert info.value.url == url
        assert exp["message_contains"] in str(info.value)
        return

    feed = parse_feed(body, url=url, headers=exp.get("headers"), now=NOW)
    assert isinstance(feed, ParsedFeed)
    assert feed.kind == exp["kind"]
    assert feed.title == exp["title"]
    if "link" in exp:
        assert feed.link == exp["link"]
    assert bool(feed.warning) is exp["warning"], feed.warning
    if "warning_contains" in exp:
        assert exp["warning_contains"] in feed.warning
    assert len(feed.entries) == exp["entry_count"]

    for spec in exp.get("entries", []):
        entry = feed.entries[spec["index"]]
        for key in ("guid", "title", "link", "author", "base_url", "content_html", "summary_html"):
            if key in spec:
                assert getattr(entry, key) == spec[key], key
        for key in ("published", "updated"):
            if key in spec:
                assert iso(getattr(entry, key)) == spec[key], key
        if "guid_prefix" in spec:
            assert entry.guid.startswith(spec["guid_prefix"])
        for text in spec.get("content_contains", []):
            assert text in entry.content_html
        for text in spec.get("summary_contains", []):
            assert text in entry.summary_html
        if "enclosures" in spec:
            assert entry.enclosures == tuple(Enclosure(**e) for e in spec["enclosures"])
    if exp.get("distinct_guids"):
        assert len({e.guid for e in feed.entries}) == len(feed.entries)

    sanitized, texts = [], []
    for entry in feed.entries:
        # Invariants every entry of every feed keeps.
        assert entry.guid and entry.guid == entry.guid.strip()
        for value in (entry.guid, entry.title, entry.link or "", entry.author or ""):
            assert not CONTROL.search(value)
        assert len(entry.title) <= MAX_FIELD["title"]
        for dt in (entry.published, entry.updated):
            assert dt is None or dt.utcoffset().total_seconds() == 0
        assert entry.base_url.startswith(("http://", "https://"))
        for html in (entry.content_html, entry.summary_html):
            sanitized.append(sanitize_html(html, entry.base_url))
            texts.append(html_to_text(html))
    if feed.link is not None:
        assert clean_url(feed.link) in (None, feed.link)

    out = "\n".join(sanitized)
    for text in exp.get("sanitized_must_contain", []):
        assert text in out
    for text in ALWAYS_FORBIDDEN + exp.get("sanitized_must_not_contain", []):
        assert text not in out
    for found in URL_ATTR.findall(out):
        assert found.startswith(("https://", "http://", "mailto:")), found
    text_out = "\n".join(texts)
    for text in exp.get("text_must_contain", []):
        assert text in text_out
    for text in exp.get("text_must_not_contain", []):
        assert text not in text_out


# --- what fixtures cannot show -------------------------------------------------------


def rss(items: str, *, title: str = "T") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://ex.org/</link>{items}</channel></rss>"
    ).encode()


def test_entry_cap_keeps_the_first_entries_in_document_order() -> None:
    items = "".join(
        f'<item><title>n{i}</title><guid isPermaLink="false">g{i}</guid></item>'
        for i in range(MAX_ENTRIES + 100)
    )
    feed = parse_feed(rss(items), url="https://ex.org/feed", now=NOW)
    assert len(feed.entries) == MAX_ENTRIES
    assert feed.entries[0].guid == "g0"
    assert feed.entries[-1].guid == f"g{MAX_ENTRIES - 1}"


def test_field_caps() -> None:
    long_link = "https://ex.org/" + "a" * MAX_FIELD["link"]
    item = (
        f"<item><title>{'Très long titre ' * 200}</title>"
        f"<link>{long_link}</link>"
        f'<guid isPermaLink="false">{"g" * (MAX_FIELD["guid"] + 1)}</guid>'
        f"<author>x@ex.org ({'Nom ' * 100})</author>"
        f"<description><![CDATA[<p>{'x' * (MAX_FIELD['html'] + 10)}</p>]]></description>"
        "</item>"
    )
    entry = parse_feed(rss(item), url="https://ex.org/feed", now=NOW).entries[0]
    assert len(entry.title) <= MAX_FIELD["title"] and entry.title.endswith("…")
    assert entry.title.startswith("Très long titre Très")
    assert entry.link is None  # a cut URL would be a wrong URL
    assert entry.guid.startswith("sha256:") and len(entry.guid) == 7 + 64
    assert entry.author is not None and len(entry.author) <= MAX_FIELD["author"]
    assert len(entry.summary_html) == MAX_FIELD["html"]


def test_long_guid_hash_is_stable() -> None:
    item = f'<item><guid isPermaLink="false">{"g" * 5000}</guid></item>'
    a = parse_feed(rss(item), url="https://ex.org/feed", now=NOW).entries[0].guid
    b = parse_feed(rss(item + "<!-- -->"), url="https://ex.org/other", now=NOW).entries[0].guid
    assert a == b


def test_hash_guid_depends_on_title_and_content_only() -> None:
    item = "<item><title>Même</title><description>même contenu</description></item>"
    a = parse_feed(rss(item), url="https://ex.org/a", now=NOW).entries[0].guid
    b = parse_feed(rss(item, title="Autre"), url="https://ex.org/b", now=NOW).entries[0].guid
    c = parse_feed(rss(item.replace("même", "autre")), url="https://ex.org/a", now=NOW)
    assert a == b != c.entries[0].guid


@pytest.mark.parametrize(
    "body",
    [
        b"\x00" * 64,
        b"<",
        b"<?xml",
        b'<?xml version="1.0"?>',
        b"<rss>",
        b"<rss><channel><item>",
        b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>x",
        b"{}",
        b"[]",
        b"null",
        b'{"items": 5}',
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [null, 1, [], {"id": {}}]}',
        b'{"items": [{"url": "http://[::1", "date_published": 12, "attachments": "x"}]}',
        b"<html><body>hi</body></html>",
        b"\xff\xfe\xfd" * 100,
        b"<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]><rss><channel><title>&lol2;</title></channel></rss>",
        "<rss><channel><title>x</title><item><title>\ud800</title></item></channel></rss>".encode(
            "utf-8", "surrogatepass"
        ),
    ],
)
def test_odd_bodies_give_a_feed_or_a_parse_error(body: bytes) -> None:
    try:
        feed = parse_feed(body, url="https://ex.org/feed", now=NOW)
    except ParseError as e:
        assert e.code == "not_a_feed" and str(e)
    else:
        for entry in feed.entries:
            entry.title.encode("utf-8")  # storable: no lone surrogates
            entry.guid.encode("utf-8")


def test_a_local_path_is_not_opened() -> None:
    # feedparser.parse(str or bytes) opens files and URLs; parse_feed never does.
    with pytest.raises(ParseError):
        parse_feed(str(FEEDS / "rss091.xml").encode(), url="https://ex.org/feed", now=NOW)


def test_utf16_with_bom() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel>'
        "<title>Évry</title><item><title>Été</title></item></channel></rss>"
    )
    body = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    feed = parse_feed(
        body, url="https://ex.org/feed", headers={"content-type": "text/xml"}, now=NOW
    )
    assert feed.title == "Évry"
    assert feed.entries[0].title == "Été"


def test_a_utf16_label_on_a_utf8_body_is_ignored() -> None:
    body = rss("<item><title>Noël</title></item>", title="Feed")
    headers = {"content-type": "application/rss+xml; charset=utf-16"}
    feed = parse_feed(body, url="https://ex.org/feed", headers=headers, now=NOW)
    assert feed.entries[0].title == "Noël"
    ascii_only = parse_feed(
        rss("<item><title>Noel</title></item>"), url="https://ex.org/f", headers=headers, now=NOW
    )
    assert (ascii_only.title, ascii_only.entries[0].title) == ("T", "Noel")


def test_xml_served_as_json_is_read_as_xml() -> None:
    headers = {"content-type": "application/json"}
    feed = parse_feed(
        rss("<item><title>x</title></item>"), url="https://ex.org/f", headers=headers, now=NOW
    )
    assert feed.kind == "rss20"


def test_json_feed_detected_by_body_despite_content_type() -> None:
    body = (
        b'\xef\xbb\xbf \n{"version": "https://jsonfeed.org/version/1.1", "title": "J",'
        b' "items": [{"id": "1", "content_html": "<p>x</p>"}]}'
    )
    feed = parse_feed(body, url="https://ex.org/f", headers={"content-type": "text/plain"}, now=NOW)
    assert (feed.kind, feed.title, len(feed.entries)) == ("json11", "J", 1)


def test_json_feed_unknown_version_is_read_with_a_warning() -> None:
    body = b'{"version": "https://jsonfeed.org/version/2", "items": [{"id": "1"}]}'
    feed = parse_feed(body, url="https://ex.org/f", now=NOW)
    assert feed.kind == "json" and "version" in feed.warning and len(feed.entries) == 1


def test_html_titles_are_plain_text_but_plain_titles_keep_their_brackets() -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>'
        b'<entry><id>a</id><title type="html">A &lt;b&gt;bold&lt;/b&gt; &amp;amp; more</title></entry>'
        b'<entry><id>b</id><title type="text">Use &lt;b&gt; for bold</title></entry>'
        b"<entry><id>c</id><title>Don&amp;#8217;t  \n  wrap</title></entry></feed>"
    )
    titles = [e.title for e in parse_feed(atom, url="https://ex.org/a", now=NOW).entries]
    assert titles == ["A bold & more", "Use <b> for bold", "Don’t wrap"]
