"""Issue 14: fastfeed reads well-formed RSS/Atom exactly as feedparser does, or declines.

Differential: every fixture under tests/data/feeds, benchmark corpus documents (two
seeds) and Hypothesis-generated RSS 2.0 / Atom 1.0 documents full of awkward content go
through ``parse.parse_feed`` twice, with the fast path and with feedparser alone
(``parse.FAST_PATH``, ``AGGREGATOR_NO_FAST_PARSE=1``), and must give equal ``ParsedFeed``
values (titles, links, ids, dates, authors, content, summaries, enclosures, thumbnails,
feed title, link, icons, kind and warning) or the same error. And the fast path must
really be taken on the corpus's RSS 2.0, Atom 1.0 and RSS 1.0 documents: there
feedparser is not called at all.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import fastfeed, parse
from aggregator.errors import ParseError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FEEDS = Path(__file__).parent / "data" / "feeds"
CORPUS_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_corpus.py"


def load_corpus():
    spec = importlib.util.spec_from_file_location("bench_corpus_fastfeed", CORPUS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def outcome(body: bytes, headers: dict[str, str] | None, url: str, *, fast: bool):
    saved = parse.FAST_PATH
    parse.FAST_PATH = fast
    try:
        return parse.parse_feed(body, url=url, headers=headers, now=NOW)
    except ParseError as e:
        return ("ParseError", e.code, str(e))
    finally:
        parse.FAST_PATH = saved


def assert_same(body: bytes, headers: dict[str, str] | None, url: str):
    """Field by field first, for a readable failure; then the whole value."""
    slow = outcome(body, headers, url, fast=False)
    fast = outcome(body, headers, url, fast=True)
    if isinstance(slow, tuple) or isinstance(fast, tuple):
        assert fast == slow
        return fast
    for name in ("title", "link", "kind", "warning", "icons"):
        assert getattr(fast, name) == getattr(slow, name), name
    assert len(fast.entries) == len(slow.entries)
    for i, (f, s) in enumerate(zip(fast.entries, slow.entries, strict=True)):
        for name in f.__dataclass_fields__:
            assert getattr(f, name) == getattr(s, name), f"entry {i}: {name}"
    assert fast == slow
    return fast


@pytest.fixture
def no_feedparser(monkeypatch):
    """feedparser.parse fails the test if called: the document took the fast path."""

    def refuse(*args, **kwargs):
        raise AssertionError("feedparser was called: the fast path declined")

    monkeypatch.setattr(feedparser, "parse", refuse)


# --- every fixture ----------------------------------------------------------------


def fixture_cases():
    cases = []
    for path in sorted(FEEDS.iterdir()):
        if path.name.endswith(".expected.json"):
            continue
        expected = FEEDS / (path.stem + ".expected.json")
        headers = None
        if expected.exists():
            headers = json.loads(expected.read_text(encoding="utf-8")).get("headers")
        cases.append(
            pytest.param(
                path.read_bytes(), headers, f"https://example.org/feeds/{path.name}", id=path.name
            )
        )
    return cases


@pytest.mark.parametrize(("body", "headers", "url"), fixture_cases())
def test_fixture_parses_the_same_both_ways(body, headers, url):
    assert_same(body, headers, url)


# The fixtures of the shapes met most: these must not need feedparser.
FAST_FIXTURES = [
    "wordpress-rss20.xml",
    "items-mastodon.xml",
    "mastodon-rss.xml",
    "items-youtube.xml",
    "youtube-atom.xml",
    "items-substack.xml",
    "podcast-rss.xml",
    "items-news.xml",
    "rss10-rdf.xml",
    "jobs-latin1.xml",
    "encoding-declared-latin1-is-utf8.xml",
    "xml-base-atom.xml",
]


@pytest.mark.parametrize("name", FAST_FIXTURES)
def test_common_shapes_take_the_fast_path(name, no_feedparser):
    body = (FEEDS / name).read_bytes()
    parsed = parse.parse_feed(body, url=f"https://example.org/feeds/{name}", now=NOW)
    assert parsed.entries


# --- the benchmark corpus -------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_corpus_parses_the_same_both_ways(seed):
    corpus = load_corpus()
    kinds = set()
    for doc in corpus.make_corpus(60, seed):
        headers = {"Content-Type": doc.content_type}
        parsed = assert_same(doc.body, headers, f"http://127.0.0.1:8000{doc.path}")
        kinds.add(parsed.kind)
    assert {"rss20", "atom10", "rss10", "json11"} <= kinds


def test_corpus_xml_documents_never_need_feedparser(no_feedparser):
    corpus = load_corpus()
    seen = set()
    for seed in (1, 2):
        for fmt in ("rss20", "atom10", "rss10"):
            for index in range(12):
                doc = corpus.make_document(index, seed, fmt=fmt, extra=index % 3)
                headers = {"Content-Type": doc.content_type}
                parsed = parse.parse_feed(
                    doc.body, url=f"http://x.test{doc.path}", headers=headers, now=NOW
                )
                assert parsed.kind == fmt and len(parsed.entries) == doc.entries
                seen.add(doc.content_type)
    assert "application/rss+xml; charset=iso-8859-1" in seen  # the Latin-1 documents too


def test_the_switch_forces_feedparser(tmp_path):
    """AGGREGATOR_NO_FAST_PARSE=1 turns the fast path off for a whole process."""
    code = "from aggregator import parse; print(parse.FAST_PATH)"
    env = {**os.environ, fastfeed.ENV_SWITCH: "1"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    env.pop(fastfeed.ENV_SWITCH)
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True")


# --- encodings: parse settles the charset, the fast path reads what feedparser would ------

ENCODED = '<?xml version="1.0" encoding="{}"?><rss version="2.0"><channel><title>Été</title><item><title>Crème &#150; x</title><link>/a</link></item></channel></rss>'


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(
            ENCODED.format("utf-16").encode("utf-16"),
            {"Content-Type": "application/rss+xml"},
            id="utf-16-bom",
        ),
        pytest.param(b"\xef\xbb\xbf" + ENCODED.format("utf-8").encode(), None, id="utf-8-bom"),
        pytest.param(
            ENCODED.format("windows-1252").encode("cp1252"),
            {"Content-Type": "text/xml"},
            id="cp1252-text-xml",
        ),
        pytest.param(
            ENCODED.format("iso-8859-1").encode("latin-1"),
            {"Content-Type": "application/rss+xml; charset=utf-8"},
            id="latin1-declared-utf8",
        ),
        pytest.param(
            ENCODED.format("utf-8").replace("Été", "Ã©tÃ©").encode(), None, id="mojibake-repaired"
        ),
        pytest.param(
            ENCODED.format("utf-8").encode().replace(b"<item>", b"<item>\x0c"),
            None,
            id="control-character",
        ),
    ],
)
def test_encodings_take_the_fast_path_and_agree(body, headers, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(feedparser, "parse", lambda *a, **k: pytest.fail("feedparser was called"))
        fast = parse.parse_feed(body, url="https://example.org/f", headers=headers, now=NOW)
    assert fast == assert_same(body, headers, "https://example.org/f")
    assert (
        fast.entries[0].title == "Crème – x"
    )  # &#150; is cp1252's en dash, as feedparser reads it


# --- what the reader declines ---------------------------------------------------------

HEADERS = {
    "content-type": "application/xml; charset=utf-8",
    "content-location": "https://example.org/f",
}


def rss_doc(
    items: str, channel: str = "<title>T</title><link>https://example.org/</link>", ns: str = ""
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{ns}><channel>{channel}'
        f"{items}</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><title>&x;</title></channel></rss>',
            id="doctype",
        ),
        pytest.param(rss_doc("<item><title>a &nbsp; b</title></item>"), id="html-entity"),
        pytest.param(rss_doc("<item><title>a <b>b</b></title></item>"), id="markup-in-title"),
        pytest.param(
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><source><title>S</title></source></entry></feed>',
            id="atom-source",
        ),
        pytest.param(
            rss_doc("<item><title xmlns='https://unknown.example/'>t</title></item>"),
            id="unknown-default-ns",
        ),
        pytest.param(
            rss_doc(
                "<item><content:encoded xmlns:content='http://search.yahoo.com/mrss/'>x</content:encoded></item>"
            ),
            id="prefix-of-another",
        ),
        pytest.param(
            b'<?xml version="1.0"?><rss version="0.91"><channel><title>T</title></channel></rss>',
            id="rss091",
        ),
        pytest.param(
            b'<?xml version="1.0"?><feed xmlns="http://purl.org/atom/ns#" version="0.3"><title>T</title></feed>',
            id="atom03",
        ),
        pytest.param(
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="image/png">iVBORw0KGgo=</content></entry></feed>',
            id="base64",
        ),
        pytest.param(
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><content src="https://e.example/x"/></entry></feed>',
            id="content-src",
        ),
        pytest.param(
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">t</div></title></entry></feed>',
            id="xhtml-title",
        ),
        pytest.param(
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><svg xmlns="http://www.w3.org/2000/svg"/></div></content></entry></feed>',
            id="xhtml-svg",
        ),
        pytest.param(
            b' <?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            id="space-before-declaration",
        ),
        pytest.param(
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel><item/></rss>',
            id="item-outside-channel",
        ),
    ],
)
def test_unusual_documents_are_left_to_feedparser(body):
    assert fastfeed.read(body, HEADERS) is None
    assert_same(body, {"content-type": "application/rss+xml"}, "https://example.org/f")


def test_an_unknown_namespace_under_its_own_prefix_is_read():
    """feedparser files <x:title> as "x_title", which nothing reads: no reason to decline."""
    body = rss_doc(
        "<item><x:title xmlns:x='https://unknown.example/'>t</x:title><title>u</title></item>"
    )
    assert fastfeed.read(body, HEADERS) is not None
    assert assert_same(body, None, "https://example.org/f").entries[0].title == "u"


# --- feedparser's ordering rules, one by one ---------------------------------------------

ATOM = '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"{}>{}</feed>'
TRICKY = {
    # a first empty title does not count: a deeper media:title after it is not stored
    # (the shallowest value wins), but its title_detail is
    "empty-title-then-media-title": rss_doc(
        "<item><title></title><media:group><media:title>&lt;b&gt;M&lt;/b&gt;</media:title></media:group></item>",
        ns=' xmlns:media="http://search.yahoo.com/mrss/"',
    ),
    "media-title-then-title": rss_doc(
        "<item><media:group><media:title>M</media:title></media:group><title>T</title></item>",
        ns=' xmlns:media="http://search.yahoo.com/mrss/"',
    ),
    "deep-description-then-description": rss_doc(
        "<item><media:group><media:description>deep</media:description></media:group><description>shallow</description></item>",
        ns=' xmlns:media="http://search.yahoo.com/mrss/"',
    ),
    "two-descriptions": rss_doc(
        "<item><description>one</description><description>&lt;p&gt;two&lt;/p&gt;</description></item>"
    ),
    "content-then-description": rss_doc(
        "<item><content:encoded>&lt;p&gt;full&lt;/p&gt;</content:encoded><description>short</description></item>",
        ns=' xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    ),
    "channel-summary-leaks-has-content": rss_doc(
        "<item><description>d</description><itunes:summary>s &lt;/b&gt;</itunes:summary></item>",
        channel="<itunes:summary>c</itunes:summary><description>x</description><title>T</title>",
        ns=' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
    ),
    "title-media-title-title": rss_doc(
        "<item><title>first</title><media:group><media:title>M</media:title></media:group><title>second</title></item>",
        ns=' xmlns:media="http://search.yahoo.com/mrss/"',
    ),
    "has-content-ends-with-its-item": rss_doc(
        "<item><content:encoded>c</content:encoded></item><item><description>d</description><itunes:summary>s</itunes:summary></item>",
        ns=' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
    ),
    "source-restarts-titles": rss_doc(
        "<item><title>first</title><source url='https://s.example/'>S</source><title>second</title></item>"
    ),
    "atom-contributor": ATOM.format(
        "",
        "<entry><id>1</id><contributor><name>C</name><uri>/c</uri></contributor><author><name>A</name></author></entry>",
    ),
    "two-authors": rss_doc(
        "<item><author>a@example.org (A)</author><dc:creator>B</dc:creator></item>",
        ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"',
    ),
    "owner-after-author": rss_doc(
        "<item><title>t</title></item>",
        channel="<itunes:author>A</itunes:author><itunes:owner><itunes:name>O</itunes:name></itunes:owner>",
        ns=' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
    ),
    "guid-before-link": rss_doc("<item><guid>/g</guid><link>/l</link></item>"),
    "guid-after-link": rss_doc(
        "<item><link>/l?a=1&amp;amp;b=2</link><guid isPermaLink='true'>/g</guid></item>"
    ),
    "image-and-titles": rss_doc(
        "<item><title>i</title></item><title>late</title>",
        channel="<image><url>/logo.png</url><title>img</title><link>/x</link></image><title>T</title><link>/home</link>",
    ),
    "atom-id-then-links": ATOM.format(
        "",
        "<id>/feed-id</id><entry><id>/e</id><link href='/atom' type='application/atom+xml'/><link href='/a'/></entry>",
    ),
    "atom-content-no-summary": ATOM.format(
        "",
        "<entry><id>x</id><content type='text'>a &amp; b\n\nc</content></entry><entry><id>y</id><content type='html'>&lt;p&gt;h&lt;/p&gt;</content></entry>",
    ),
    "atom-authors": ATOM.format(
        "",
        "<author><email>f@example.org</email></author><entry><id>1</id><author><name>A</name></author><author><email>b@example.org</email></author></entry><entry><id>2</id></entry>",
    ),
    "atom-relative-bases": ATOM.format(
        " xml:base='https://example.org/a/'",
        "<link href='home'/><icon>i.png</icon><entry xml:base='b/'><id>urn:x</id><link href='c'/><content type='html' xml:base='/d/'>&lt;img src=&quot;e.png&quot;&gt;</content><media:thumbnail url='t.jpg'/></entry>",
    ),
}


@pytest.mark.parametrize(
    "body",
    [pytest.param(v if isinstance(v, bytes) else v.encode(), id=k) for k, v in TRICKY.items()],
)
def test_ordering_rules_are_the_same(body):
    assert fastfeed.read(body, HEADERS) is not None  # these are meant for the fast path
    assert_same(body, None, "https://example.org/blog/feed")


# --- generated documents ----------------------------------------------------------------

# Text as it is written inside an element: escaped, raw character references, CDATA.
TEXTS = st.sampled_from(
    [
        "",
        "  ",
        "Bonjour",
        " Crème brûlée & co ",
        "AT&amp;T &amp; Q&amp;ltd",
        "&lt;b&gt;gras&lt;/b&gt; et &lt;i&gt;italique",
        "&amp;#8217;apostrophe&amp;#8217; double-escaped",
        "&lt;p&gt;Un paragraphe&lt;/p&gt;",
        "ligne 1\nligne 2\n\nparagraphe",
        "&#8217;quote&#8217; &#x2014; tiret",
        "&#150; &#128; cp1252 range",
        "Ã©tÃ© mojibake",
        '<![CDATA[<p>CDATA <a href="/rel">lien</a></p>]]>',
        "<![CDATA[a < b && c > d]]>",
        "<![CDATA[<script>alert(1)</script><img src=x onerror=alert(2)>]]>",
        "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;",
        "&lt;/closing&gt; only",
        "&amp;lt;not a tag&amp;gt;",
        "text &lt;with&gt; unknown &lt;/with&gt; tag",
        "&amp;copy; 2026 &amp;nbsp; x",
        "\u00a0nbsp\u00a0",
        "x\u0085y",
    ]
)
URLS = st.sampled_from(
    [
        "",
        "https://example.org/a?x=1&amp;y=2",
        "/relative/path",
        "relative",
        "  https://example.org/spaces  ",
        "http://example.org/a#frag",
        "javascript:alert(1)",
        "//cdn.example/x.jpg",
        "https://example.org/caf\u00e9",
        "https://example.org/a&amp;b;c",
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "tag:example.org,2026:1",
    ]
)
DATES = st.sampled_from(
    [
        "",
        "Mon, 02 Mar 2026 09:00:00 GMT",
        "Mon, 02 Mar 2026 09:00:00 +0100",
        "2 Mar 2026 09:00 EST",
        "2026-03-02T09:00:00Z",
        "2026-03-02T09:00:00.123+02:00",
        "2026-03-02",
        "2026-03-02 09:00:00",
        "0000-00-00T00:00:00Z",
        "hier",
        "Tue, 31 Feb 2026 25:61:00 GMT",
        "1900-01-01T00:00:00Z",
    ]
)
PEOPLE = st.sampled_from(
    [
        "",
        "Jeanne",
        "jeanne@example.org",
        "jeanne@example.org (Jeanne Martin)",
        "Jeanne <jeanne@example.org>",
        "  Zoé  ",
    ]
)
TYPES = st.sampled_from(
    ["audio/mpeg", "image/jpeg", "IMAGE/PNG", "", "text/html", "application/x-shockwave-flash"]
)
LENGTHS = st.sampled_from(["", "0", "12345", " 42 ", "-1", "abc", "99999999999999999999"])


def attr(name: str, value: str) -> str:
    return f" {name}={quoteattr(value)}"


@st.composite
def rss_item(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 9))):
        kind = draw(
            st.sampled_from(
                [
                    "title", "link", "guid", "pubDate", "dc:date", "dc:creator", "author",
                    "description", "content", "enclosure", "thumb", "media", "group",
                    "media:description", "itunes:summary", "itunes:image", "itunes:author",
                    "category", "comments", "unknown", "atom:link", "dcterms:modified", "source",
                    "dc:contributor",
                ]
            )
        )  # fmt: skip
        text = draw(TEXTS)
        url = draw(URLS)
        if kind == "title":
            parts.append(f"<title>{text}</title>")
        elif kind == "link":
            parts.append(f"<link>{url}</link>")
        elif kind == "guid":
            perma = draw(st.sampled_from(["", "true", "false", "False"]))
            parts.append(f"<guid{attr('isPermaLink', perma) if perma else ''}>{url}</guid>")
        elif kind in ("pubDate", "dc:date", "dcterms:modified"):
            parts.append(f"<{kind}>{draw(DATES)}</{kind}>")
        elif kind in ("dc:creator", "author", "itunes:author"):
            parts.append(f"<{kind}>{escape(draw(PEOPLE))}</{kind}>")
        elif kind in ("description", "media:description", "itunes:summary"):
            parts.append(f"<{kind}>{text}</{kind}>")
        elif kind == "content":
            parts.append(f"<content:encoded>{text}</content:encoded>")
        elif kind == "enclosure":
            parts.append(
                f"<enclosure{attr('url', url)}{attr('type', draw(TYPES))}{attr('length', draw(LENGTHS))}/>"
            )
        elif kind == "thumb":
            if draw(st.booleans()):
                parts.append(f"<media:thumbnail{attr('url', url)} width='10'/>")
            else:
                parts.append(f"<media:thumbnail>{url}</media:thumbnail>")
        elif kind == "media":
            medium = draw(st.sampled_from(["", "image", "video"]))
            inner = (
                f"<media:description type='plain'>{text}</media:description>"
                if draw(st.booleans())
                else ""
            )
            parts.append(
                f"<media:content{attr('url', url)}{attr('type', draw(TYPES))}"
                f"{attr('medium', medium) if medium else ''}{attr('fileSize', draw(LENGTHS))}>{inner}</media:content>"
            )
        elif kind == "group":
            parts.append(
                f"<media:group><media:title>{text}</media:title><media:content{attr('url', url)}/>"
                f"<media:thumbnail{attr('url', url)}/><media:description>{draw(TEXTS)}</media:description></media:group>"
            )
        elif kind == "itunes:image":
            parts.append(f"<itunes:image{attr('href', url)}/>")
        elif kind == "category":
            parts.append(f"<category>{text}</category>")
        elif kind == "source":
            parts.append(f"<source{attr('url', url)}>{text}</source>")
        elif kind == "dc:contributor":
            parts.append(f"<dc:contributor>{escape(draw(PEOPLE))}</dc:contributor>")
        elif kind == "comments":
            parts.append(f"<comments>{url}</comments><slash:comments>3</slash:comments>")
        elif kind == "unknown":
            parts.append(f"<ex:thing a='1'>{text}</ex:thing><ex:other>{url}</ex:other>")
        elif kind == "atom:link":
            rel = draw(st.sampled_from(["alternate", "self", "enclosure", "ALTERNATE", ""]))
            parts.append(f"<atom:link{attr('rel', rel) if rel else ''}{attr('href', url)}/>")
    about = f" rdf:about={quoteattr(draw(URLS))}" if draw(st.integers(0, 9)) == 0 else ""
    return f"<item{about}>" + "".join(parts) + "</item>\n"


RSS_NS = (
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:dcterms="http://purl.org/dc/terms/"'
    ' xmlns:media="http://search.yahoo.com/mrss/"'
    ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'
    ' xmlns:atom="http://www.w3.org/2005/Atom"'
    ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
    ' xmlns:ex="https://unknown.example/ns"'
)


@st.composite
def rss_documents(draw) -> bytes:
    channel = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(
            st.sampled_from(
                ["title", "link", "description", "image", "itunes:image", "atom:link", "itunes:summary",
                 "lastBuildDate", "managingEditor", "owner", "language", "unknown"]
            )
        )  # fmt: skip
        text, url = draw(TEXTS), draw(URLS)
        if kind == "title":
            channel.append(f"<title>{text}</title>")
        elif kind == "link":
            channel.append(f"<link>{url}</link>")
        elif kind in ("description", "itunes:summary"):
            channel.append(f"<{kind}>{text}</{kind}>")
        elif kind == "image":
            channel.append(
                f"<image><url>{url}</url><title>{text}</title><link>{draw(URLS)}</link></image>"
            )
        elif kind == "itunes:image":
            channel.append(f"<itunes:image{attr('href', url)}/>")
        elif kind == "atom:link":
            rel = draw(st.sampled_from(["self", "alternate", "hub"]))
            channel.append(f"<atom:link{attr('rel', rel)}{attr('href', url)}/>")
        elif kind == "lastBuildDate":
            channel.append(f"<lastBuildDate>{draw(DATES)}</lastBuildDate>")
        elif kind == "managingEditor":
            channel.append(f"<managingEditor>{escape(draw(PEOPLE))}</managingEditor>")
        elif kind == "owner":
            channel.append(
                f"<itunes:owner><itunes:name>{escape(draw(PEOPLE))}</itunes:name>"
                "<itunes:email>o@example.org</itunes:email></itunes:owner>"
            )
        elif kind == "language":
            channel.append("<language>fr-FR</language>")
        else:
            channel.append(f"<ex:x>{text}</ex:x>")
    items = draw(st.lists(rss_item(), max_size=4))
    position = draw(st.integers(0, len(channel)))
    body = "".join(channel[:position]) + "".join(items) + "".join(channel[position:])
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"{RSS_NS}><channel>{body}</channel></rss>'
    ).encode()


@st.composite
def rdf_documents(draw) -> bytes:
    """RSS 1.0: the channel and the items side by side under rdf:RDF."""
    items = draw(st.lists(rss_item(), max_size=4))
    title, url = draw(TEXTS), draw(URLS)
    channel = (
        f"<channel rdf:about={quoteattr(url)}><title>{title}</title><link>{url}</link>"
        "<items><rdf:Seq><rdf:li rdf:resource='https://example.org/1'/></rdf:Seq></items>"
        "<image rdf:resource='https://example.org/i.png'/></channel>"
    )
    position = draw(st.integers(0, len(items)))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns="http://purl.org/rss/1.0/"'
        + RSS_NS
        + ">"
        + "".join(items[:position])
        + channel
        + "".join(items[position:])
        + "</rdf:RDF>"
    ).encode()


XHTML = st.sampled_from(
    [
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Un <a href="/rel" rel="NoFollow">lien</a> &amp; <em>texte</em></p></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml">\n  <p>a</p>\n  <p>b<br/>c</p>\n</div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div><div xmlns="http://www.w3.org/1999/xhtml"><p>y</p></div>',
        '<xhtml:div xmlns:xhtml="http://www.w3.org/1999/xhtml">t &lt;b&gt;<xhtml:b title="a&quot;b">g</xhtml:b></xhtml:div>',
        '<div xmlns="http://www.w3.org/1999/xhtml" class="c"><img src="/i.png" alt="" /></div>',
        'loose text <div xmlns="http://www.w3.org/1999/xhtml">x</div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><section><h2 id="t">T</h2><figure><video src="/v.mp4" controls=""></video></figure><iframe src="https://e.example/"></iframe></section></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><body><p>body is special</p></body></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>a</p></div>\n<!-- comment -->\n',
    ]
)


@st.composite
def atom_entry(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 9))):
        kind = draw(
            st.sampled_from(
                ["title", "link", "id", "published", "updated", "author", "summary", "content",
                 "category", "thumb", "group", "unknown", "enclosure", "contributor"]
            )
        )  # fmt: skip
        text, url = draw(TEXTS), draw(URLS)
        ctype = draw(st.sampled_from(["", "text", "html", "xhtml", "text/html", "text/plain"]))
        type_attr = attr("type", ctype) if ctype else ""
        base = attr("xml:base", draw(URLS)) if draw(st.integers(0, 5)) == 0 else ""
        body = draw(XHTML) if ctype == "xhtml" else text
        if kind == "title":
            parts.append(f"<title{type_attr if ctype != 'xhtml' else ''}>{text}</title>")
        elif kind == "link":
            rel = draw(st.sampled_from(["", "alternate", "self", "enclosure", "related"]))
            ltype = draw(st.sampled_from(["", "text/html", "application/xhtml+xml", "audio/mpeg"]))
            parts.append(
                f"<link{attr('rel', rel) if rel else ''}{attr('type', ltype) if ltype else ''}"
                f"{attr('href', url)}{attr('length', draw(LENGTHS))}{base}/>"
            )
        elif kind == "id":
            parts.append(f"<id{base}>{url}</id>")
        elif kind in ("published", "updated"):
            parts.append(f"<{kind}>{draw(DATES)}</{kind}>")
        elif kind == "author":
            inner = "".join(
                draw(
                    st.lists(
                        st.sampled_from(
                            [
                                f"<name>{escape(draw(PEOPLE))}</name>",
                                "<email>a@example.org</email>",
                                f"<uri>{url}</uri>",
                            ]
                        ),
                        max_size=3,
                    )
                )
            )
            parts.append(f"<author>{inner}</author>")
        elif kind in ("summary", "content"):
            parts.append(f"<{kind}{type_attr}{base}>{body}</{kind}>")
        elif kind == "category":
            parts.append(f"<category{attr('term', 'x')}/>")
        elif kind == "thumb":
            parts.append(f"<media:thumbnail{attr('url', url)}/>")
        elif kind == "group":
            parts.append(
                f"<media:group><media:title>{text}</media:title><media:content{attr('url', url)}"
                f"{attr('type', draw(TYPES))}/><media:description>{draw(TEXTS)}</media:description>"
                "<media:community><media:starRating count='3'/></media:community></media:group>"
            )
        elif kind == "enclosure":
            parts.append(f"<link rel='enclosure'{attr('href', url)}{attr('type', draw(TYPES))}/>")
        elif kind == "contributor":
            parts.append(
                f"<contributor><name>{escape(draw(PEOPLE))}</name><uri>{url}</uri></contributor>"
            )
        else:
            parts.append(f"<yt:videoId>{text}</yt:videoId>")
    base = attr("xml:base", draw(URLS)) if draw(st.integers(0, 4)) == 0 else ""
    return f"<entry{base}>" + "".join(parts) + "</entry>\n"


@st.composite
def atom_documents(draw) -> bytes:
    head = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(
            st.sampled_from(
                ["title", "link", "id", "icon", "logo", "author", "subtitle", "updated"]
            )
        )
        text, url = draw(TEXTS), draw(URLS)
        if kind == "title":
            ctype = draw(st.sampled_from(["", "text", "html"]))
            head.append(f"<title{attr('type', ctype) if ctype else ''}>{text}</title>")
        elif kind == "link":
            rel = draw(st.sampled_from(["", "alternate", "self"]))
            head.append(f"<link{attr('rel', rel) if rel else ''}{attr('href', url)}/>")
        elif kind in ("id", "icon", "logo"):
            head.append(f"<{kind}>{url}</{kind}>")
        elif kind == "author":
            head.append(f"<author><name>{escape(draw(PEOPLE))}</name></author>")
        elif kind == "subtitle":
            head.append(f"<subtitle>{text}</subtitle>")
        else:
            head.append(f"<updated>{draw(DATES)}</updated>")
    entries = draw(st.lists(atom_entry(), max_size=4))
    base = attr("xml:base", draw(URLS)) if draw(st.booleans()) else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"'
        ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:yt="http://www.youtube.com/xml/schemas/2015"'
        f"{base}>" + "".join(head) + "".join(entries) + "</feed>"
    ).encode()


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(body=rss_documents())
def test_generated_rss_parses_the_same_both_ways(body):
    assert_same(
        body,
        {"Content-Type": "application/rss+xml; charset=utf-8"},
        "https://example.org/blog/feed/",
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=rdf_documents())
def test_generated_rss10_parses_the_same_both_ways(body):
    assert_same(body, {"Content-Type": "application/rdf+xml"}, "https://example.org/blog/index.rdf")


@SETTINGS
@given(body=atom_documents())
def test_generated_atom_parses_the_same_both_ways(body):
    assert_same(body, {"Content-Type": "application/atom+xml"}, "https://example.org/blog/atom.xml")


@pytest.mark.parametrize(
    "generate", [rss_documents(), atom_documents(), rdf_documents()], ids=["rss", "atom", "rdf"]
)
def test_generated_documents_mostly_take_the_fast_path(generate):
    """The generators above really exercise the fast reader (not only its declines)."""
    accepted = 0
    examples = []

    @settings(max_examples=150, deadline=None, database=None)
    @given(body=generate)
    def collect(body):
        examples.append(body)

    collect()
    headers = {
        "content-type": "application/xml; charset=utf-8",
        "content-location": "https://example.org/f",
    }
    accepted = sum(fastfeed.read(body, headers) is not None for body in examples)
    assert accepted >= 0.6 * len(examples), (accepted, len(examples))
