"""sanitize: table-driven, like miniflux's sanitizer tests.

Each case is (input HTML, exact expected output) with the same base URL; then a
property check over every case (only allowlisted tags and attributes, only absolute
http(s)/mailto URLs), the plain-text previews and clean_url.
"""

from __future__ import annotations

import threading
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import sanitize
from aggregator.sanitize import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    clean_url,
    html_to_text,
    sanitize_html,
)

BASE = "https://example.org/blog/post/"
A = 'rel="noopener noreferrer" target="_blank"'  # what every kept <a> gets
IMG = 'loading="lazy" referrerpolicy="no-referrer"'  # what every kept <img> gets

CASES: list[tuple[str, str]] = [
    # --- the allowlist keeps reading markup ---
    ("<p>Hello <b>world</b></p>", "<p>Hello <b>world</b></p>"),
    ("<h1>Titre</h1><h6>petit</h6>", "<h1>Titre</h1><h6>petit</h6>"),
    (
        '<abbr title="HyperText">HTML</abbr> <kbd>Ctrl</kbd> <mark>m</mark> <small>s</small> <sub>1</sub><sup>2</sup> <del>d</del><ins>i</ins> <s>s</s> <u>u</u> <cite>c</cite> <q>q</q>',
        '<abbr title="HyperText">HTML</abbr> <kbd>Ctrl</kbd> <mark>m</mark> <small>s</small> <sub>1</sub><sup>2</sup> <del>d</del><ins>i</ins> <s>s</s> <u>u</u> <cite>c</cite> <q>q</q>',
    ),
    ("<dl><dt>t</dt><dd>d</dd></dl>", "<dl><dt>t</dt><dd>d</dd></dl>"),
    ('<ol start="3" type="a"><li value="9">x</li></ol><ul><li>y</li></ul>', '<ol start="3"><li>x</li></ol><ul><li>y</li></ul>'),
    (
        '<pre><code class="language-python">if a &lt; b:\n    print("x")</code></pre>',
        '<pre><code>if a &lt; b:\n    print("x")</code></pre>',
    ),
    (
        '<table border=1><caption>c</caption><thead><tr><th scope="col" colspan="2" style="x">h</th></tr></thead><tbody><tr><td rowspan="2" valign="top">d</td></tr></tbody></table>',
        '<table><caption>c</caption><thead><tr><th scope="col" colspan="2">h</th></tr></thead><tbody><tr><td rowspan="2">d</td></tr></tbody></table>',
    ),
    (
        '<figure><img src="a.png" alt="x"><figcaption>legend</figcaption></figure>',
        f'<figure><img src="https://example.org/blog/post/a.png" alt="x" {IMG}><figcaption>legend</figcaption></figure>',
    ),
    ("<details><summary>Plus</summary>caché</details>", "<details><summary>Plus</summary>caché</details>"),
    ('<time datetime="2024-03-01">1er mars</time>', '<time datetime="2024-03-01">1er mars</time>'),
    ("<p>Unclosed <b>bold <i>italic", "<p>Unclosed <b>bold <i>italic</i></b></p>"),
    # --- other elements are unwrapped: their text stays ---
    ('<span class="x">inline</span> <font color=red>font</font> <center>c</center>', "inline font c"),
    ('<body onload="alert(1)">x', "x"),
    # --- no class, id, style, srcset, or unknown attributes ---
    (
        '<img src="https://ex.org/a.png" srcset="https://evil.example/x 2x" sizes="1px" style="x" class="c" id="i" width="640" height="480" title="t" decoding="sync" loading="eager">',
        f'<img src="https://ex.org/a.png" width="640" height="480" title="t" {IMG}>',
    ),
    ('<p style="color:red" class="x" id="y" dir="rtl" lang="fr">t</p>', "<p>t</p>"),
    # --- elements dropped with their content ---
    ("<p>Hello</p><script>alert(1)</script>", "<p>Hello</p>"),
    ('<script>document.write("<img src=x onerror=alert(1)>")</script>after', "after"),
    ("<style>@import url(javascript:alert(1))</style><p>ok</p>", "<p>ok</p>"),
    ('<noscript><img src="fallback.png"></noscript>after', "after"),
    ("<template><script>alert(1)</script></template>after", "after"),
    ("<textarea><img src=x onerror=alert(1)></textarea>after", "after"),
    ("<title>t</title><p>p</p>", "<p>p</p>"),
    ("<svg/onload=alert(1)>", ""),
    ("<svg><script>alert(1)</script><text>hi</text></svg>ok", "ok"),
    ('<svg><source src="https://ex.org/s.mp4"></source></svg>ok', "ok"),
    ('<math><mi xlink:href="javascript:alert(1)">x</mi></math>after', "after"),
    ('<form action="/x"><input name=a><button>Go</button><select><option>o</option></select>label</form>', "label"),
    ("<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>", ""),
    ('<meta http-equiv="refresh" content="0; url=https://evil.example/"><p>x</p>', "<p>x</p>"),
    ('<base href="javascript:alert(1)//"><a href="rel">r</a>', f'<a href="https://example.org/blog/post/rel" {A}>r</a>'),
    ('<link rel="stylesheet" href="https://evil.example/x.css">', ""),
    ("<!--[if IE]><script>alert(1)</script><![endif]--><p>c</p>", "<p>c</p>"),
    ('<xmp><script>alert(1)</script></xmp>after', "after"),
    # --- embedded media become a link to the media ---
    (
        '<iframe src="https://www.youtube.com/embed/abc" allowfullscreen></iframe>',
        f'<a href="https://www.youtube.com/embed/abc" {A}>https://www.youtube.com/embed/abc</a>',
    ),
    ('<div><iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe></div>', "<div></div>"),
    ('<iframe src="javascript:alert(1)"></iframe>', ""),
    ('<object data="javascript:alert(1)"></object>', ""),
    (
        '<audio src="/a.mp3" autoplay>fallback</audio>',
        f'<a href="https://example.org/a.mp3" {A}>https://example.org/a.mp3</a>',
    ),
    (
        '<video poster="p.jpg"><source src="v.webm"><source src="v.mp4">No video</video>',
        f'<a href="https://example.org/blog/post/v.webm" {A}>https://example.org/blog/post/v.webm</a>',
    ),
    (
        '<embed src="https://ex.org/flash.swf">',
        f'<a href="https://ex.org/flash.swf" {A}>https://ex.org/flash.swf</a>',
    ),
    (
        '<picture><source srcset="a.webp" type="image/webp"><img src="a.jpg" alt="p"></picture>',
        f'<img src="https://example.org/blog/post/a.jpg" alt="p" {IMG}>',
    ),
    # --- event handlers ---
    ('<p onmouseover="alert(1)" onclick="x()">x</p>', "<p>x</p>"),
    ('<img src=x onerror=alert(1)>', f'<img src="https://example.org/blog/post/x" {IMG}>'),
    ('"><img src=x onerror=alert(1)>', f'"&gt;<img src="https://example.org/blog/post/x" {IMG}>'),
    # --- javascript: and friends, in every disguise ---
    ('<a href="javascript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="jav&#x09;ascript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="jav\tascript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="java\nscript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="java\rscript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="  javascript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="\x01javascript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="javas&#99;ript:alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="javascript&#0058;alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="&#x6A;avascript&#x3A;alert(1)">x</a>', f"<a {A}>x</a>"),
    ('<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>', f"<a {A}>x</a>"),
    # Entities a browser would not decode in that spot stay literal: a harmless path.
    (
        '<a href="jAvAsCrIpT&colon;alert(1)">x</a>',
        f'<a href="https://example.org/blog/post/jAvAsCrIpT&amp;colon;alert(1)" {A}>x</a>',
    ),
    ('<IMG SRC="javascript:alert(1)">', ""),
    ('<img src="jav&#x0A;ascript:alert(1)" alt="a">', ""),
    ('<a href="vbscript:msgbox(1)">v</a>', f"<a {A}>v</a>"),
    ('<a href="data:text/html,<script>alert(1)</script>">d</a>', f"<a {A}>d</a>"),
    ('<img src="data:image/png;base64,iVBORw0KGgo=">', ""),
    ('<blockquote cite="/source">q</blockquote><q cite="javascript:alert(1)">q</q>', '<blockquote cite="https://example.org/source">q</blockquote><q>q</q>'),
    # --- other schemes: only http, https and (for links) mailto ---
    ('<a href="ftp://ex.org/file">x</a>', f"<a {A}>x</a>"),
    ('<a href="tel:+33100000000">x</a>', f"<a {A}>x</a>"),
    ('<a href="mailto:someone@example.org?subject=Hi">x</a>', f'<a href="mailto:someone@example.org?subject=Hi" {A}>x</a>'),
    ('<img src="mailto:someone@example.org">', ""),
    # --- URLs: resolved against the base, our rel/target win ---
    ('<a href="/about">x</a>', f'<a href="https://example.org/about" {A}>x</a>'),
    ('<a href="../other/">x</a>', f'<a href="https://example.org/blog/other/" {A}>x</a>'),
    ('<a href="#notes">x</a>', f'<a href="https://example.org/blog/post/#notes" {A}>x</a>'),
    ('<a href="//cdn.example.net/x">x</a>', f'<a href="https://cdn.example.net/x" {A}>x</a>'),
    ('<a href="?page=2&amp;sort=new">x</a>', f'<a href="https://example.org/blog/post/?page=2&amp;sort=new" {A}>x</a>'),
    ('<a href="http://ex.org/?a=1&b=2">x</a>', f'<a href="http://ex.org/?a=1&amp;b=2" {A}>x</a>'),
    ('<a href="https://ex.org/a b">x</a>', f'<a href="https://ex.org/a%20b" {A}>x</a>'),
    ('<a href="https://ex.org/" target="_top" rel="opener">x</a>', f'<a href="https://ex.org/" {A}>x</a>'),
    ('<a name="anchor">x</a>', f"<a {A}>x</a>"),
    # --- images: tracking pixels and images without a usable src go ---
    ('<img src="https://ex.org/p.gif" width="1" height="1">', ""),
    ('<img src="https://ex.org/p.gif" width="0" height="0">', ""),
    ('<img alt="no src">', ""),
    ('<img src="https://ex.org/big.png" width="1" height="300">', f'<img src="https://ex.org/big.png" width="1" height="300" {IMG}>'),
    # --- attribute values and text are escaped, entities kept ---
    ('<a title="&quot; onmouseover=&quot;alert(1)">x</a>', f'<a title="&quot; onmouseover=&quot;alert(1)" {A}>x</a>'),
    ('<img alt="<script>alert(1)</script>" src="a.png">', f'<img alt="&lt;script>alert(1)&lt;/script>" src="https://example.org/blog/post/a.png" {IMG}>'),
    ("5 &lt; 6 &amp;&amp; 7 &gt; 3 &copy; &#169; &unknown; & AT&T", "5 &lt; 6 &amp;&amp; 7 &gt; 3 &copy; &#169; &amp;unknown; &amp; AT&amp;T"),
    ("plain & simple > complex", "plain &amp; simple &gt; complex"),
    ("texte\x00avec\x01nul\x7f", "texteavecnul"),
    ("", ""),
    ("<!-- only a comment -->", ""),
    ("</p></div>stray closers", "<p></p>stray closers"),
]  # fmt: skip


@pytest.mark.parametrize(("html", "expected"), CASES)
def test_sanitize(html: str, expected: str) -> None:
    assert sanitize_html(html, BASE) == expected


ADDED = {"a": {"rel", "target"}, "img": {"loading", "referrerpolicy"}}


class _Inspector(HTMLParser):
    """Collects what a browser would see: tags and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


@pytest.mark.parametrize("html", [c[0] for c in CASES])
def test_output_only_holds_allowlisted_markup_and_safe_urls(html: str) -> None:
    inspector = _Inspector()
    inspector.feed(sanitize_html(html, BASE))
    inspector.close()
    for tag, attrs in inspector.tags:
        assert tag in ALLOWED_TAGS
        allowed = set(ALLOWED_ATTRIBUTES.get(tag, ())) | ADDED.get(tag, set())
        assert set(attrs) <= allowed, (tag, attrs)
        for name in ("href", "src", "cite"):
            if name in attrs:
                assert attrs[name].startswith(("https://", "http://", "mailto:"))
        if tag == "a":
            assert attrs["rel"] == "noopener noreferrer" and attrs["target"] == "_blank"


def test_an_unusable_base_drops_relative_urls() -> None:
    # A relative link rendered in our pages would point into our own application.
    assert sanitize_html('<a href="/admin">x</a><img src="a.png">', "") == f"<a {A}>x</a>"
    assert sanitize_html('<a href="/x">x</a>', "javascript:alert(1)") == f"<a {A}>x</a>"
    html = '<a href="https://ok.example/">x</a>'
    assert sanitize_html(html, "") == f'<a href="https://ok.example/" {A}>x</a>'


def test_threads_share_nothing() -> None:
    # html5lib parsers keep state; sanitize_html must be safe from worker threads.
    inputs = [f'<p>n{i} <a href="/p{i}">x</a><script>s</script></p>' * 5 for i in range(8)]
    expected = [sanitize_html(h, BASE) for h in inputs]
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        results[i] = [sanitize_html(inputs[(i + k) % 8], BASE) for k in range(20)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, outs in results.items():
        assert outs == [expected[(i + k) % 8] for k in range(20)]


# --- plain text previews -------------------------------------------------------------

TEXT_CASES: list[tuple[str, str]] = [
    ("<p>Hello&nbsp;<b>world</b></p>", "Hello world"),
    ("<p>One</p><p>Two</p>", "One\n\nTwo"),
    ("<div>Block</div><div>Other</div>", "Block\n\nOther"),
    ("<p>Line<br>break<br/>again</p>", "Line\nbreak\nagain"),
    ("<p>  lots \n\t of   space  </p>", "lots of space"),
    ("<ul><li>a</li><li>b</li></ul>", "a\n\nb"),
    ("<h2>Title</h2>Text", "Title\n\nText"),
    ("AT&amp;T &lt;3 &eacute;t&eacute; &#8217; &#x2014;", "AT&T <3 été ’ —"),
    ("<script>alert(1)</script><style>p{}</style>Visible", "Visible"),
    ("<noscript>Enable JS</noscript><button>Go</button><p>Text</p>", "Text"),
    ('<img src="a.png" alt="A cat">', "A cat"),
    ("<p></p><p> </p><p>Only</p><br><br>", "Only"),
    ("plain text", "plain text"),
    ("", ""),
    ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
    ("a\x00b\x01c", "abc"),
]


@pytest.mark.parametrize(("html", "expected"), TEXT_CASES)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_text_truncates_at_a_word_boundary() -> None:
    text = html_to_text("<p>" + "word " * 1000 + "</p>", max_chars=50)
    assert len(text) <= 50
    assert text.endswith("word…")


def test_html_to_text_stops_early_on_huge_input() -> None:
    huge = "<p>" + "x " * 2_000_000 + "</p><p>end</p>"
    text = html_to_text(huge, max_chars=100)
    assert len(text) <= 100 and text.endswith("…")


# --- clean_url -----------------------------------------------------------------------

URL_CASES: list[tuple[str | None, str | None, bool, str | None]] = [
    # url, base, allow_mailto, expected
    ("https://ex.org/a", None, False, "https://ex.org/a"),
    ("HTTP://EX.org/a", None, False, "http://EX.org/a"),
    ("  https://ex.org/a  \n", None, False, "https://ex.org/a"),
    ("https://ex.org/a b<c>", None, False, "https://ex.org/a%20b%3Cc%3E"),
    ("https://ex.org/é", None, False, "https://ex.org/é"),
    ("/path?q=1", "https://ex.org/dir/page", False, "https://ex.org/path?q=1"),
    ("other", "https://ex.org/dir/page", False, "https://ex.org/dir/other"),
    ("//cdn.ex.org/x", "https://ex.org/", False, "https://cdn.ex.org/x"),
    ("/relative", None, False, None),
    ("/relative", "", False, None),
    ("/relative", "javascript:alert(1)", False, None),
    ("javascript:alert(1)", None, False, None),
    ("javascript:alert(1)", "https://ex.org/", False, None),
    ("JAVASCRIPT:alert(1)", "https://ex.org/", False, None),
    ("java\nscript:alert(1)", "https://ex.org/", False, None),
    ("\x00javascript:alert(1)", "https://ex.org/", False, None),
    (" \tjavascript:alert(1)", "https://ex.org/", False, None),
    ("data:text/html,x", None, False, None),
    ("vbscript:x", None, False, None),
    ("file:///etc/passwd", None, False, None),
    ("ftp://ex.org/", None, False, None),
    ("mailto:a@ex.org", None, False, None),
    ("mailto:a@ex.org", None, True, "mailto:a@ex.org"),
    ("MAILTO:a@ex.org", None, True, "mailto:a@ex.org"),
    ("mailto:nobody", None, True, None),
    ("http://", None, False, None),
    ("https:///path-only", None, False, None),
    ("http://[::1", None, False, None),
    ("http:\\\\evil.example\\x", None, False, "http://evil.example/x"),  # as browsers read it
    ("https://good.example\\@evil.example/", None, False, "https://good.example/@evil.example/"),
    ("https://ex.org/" + "a" * 3000, None, False, None),
    ("", None, False, None),
    (None, None, False, None),
]


@pytest.mark.parametrize(("url", "base", "allow_mailto", "expected"), URL_CASES)
def test_clean_url(url, base, allow_mailto, expected) -> None:
    assert clean_url(url, base, allow_mailto=allow_mailto) == expected


# --- never raise, whatever a feed sends (issue 7, item 6) ----------------------------

# html.parser's markup base raised AssertionError on "<![>": the feed lost every entry.
# Each of these raised somewhere (this Python or another) or is a close neighbour.
HOSTILE_MARKUP = [
    "<![>",
    "a<![>b",
    "<![ x",
    "<![ ]>",
    "<![foo[bar]]>",
    "<![CDATA[",
    "<![CDATA[x]]>",
    "<![if !IE]>x<![endif]>",
    "<![endif]-->",
    "<!DOCTYPE html [ <!ENTITY x 'y'> ]>",
    "<!DOCTYPE",
    "<!x y [z]>",
    "<!-",
    "<!--",
    "<!---->",
    "<!--->",
    "</",
    "</>",
    "</ x>",
    "<ª",  # CPython gh-140877 (3.13)
    "<a<b>",
    "<?xml",
    "<?>",
    "&#",
    "&#x;",
    "&#99999999999;",
    "&#xD800;",
    "&",
    "<svg><![CDATA[<script>]]></svg>",
    "<math><mi><![CDATA[x]]></mi></math>",
    "<script>",
    "<style><![>",
    "<textarea><![></textarea>",
]


def hostile_html_cases():
    return HOSTILE_MARKUP + [f"<p>avant</p>{m}<p>après {m}</p>" for m in HOSTILE_MARKUP]


@pytest.mark.parametrize("html", hostile_html_cases())
def test_hostile_markup_never_raises(html: str) -> None:
    text = html_to_text(html)
    assert isinstance(text, str)
    if "avant" in html:
        assert text.startswith("avant")
    cleaned = sanitize_html(html, BASE)
    assert isinstance(cleaned, str) and "<script" not in cleaned


def test_html_to_text_reads_past_a_broken_marked_section() -> None:
    # HTML5: "<![" outside SVG/MathML opens a bogus comment, ended by the next ">"
    assert html_to_text("<p>Offre</p><![><p>CDI à Lyon</p>") == "Offre\n\nCDI à Lyon"
    assert html_to_text("Prix <![ si besoin ]> 30 €") == "Prix 30 €"


_FRAGMENTS = st.sampled_from(
    [*HOSTILE_MARKUP, "<", ">", "<!", "<![", "</", "&#", "&", ";", "]]>", "-->", "[", "]",
     "<p>", "</p>", "<b>", "</b>", "<a href='", "'>", "<br/>", "<img alt='", "<div>", "</div>",
     "<table><tr><td>", "<script>", "</script>", "<style>", "</style>", "<!--", "\x00", "\ue000",
     "\ue001", "é", " ", "\n"]
)  # fmt: skip
_TAGS = st.builds(
    lambda name, attr, body: f"<{name} {attr}>{body}</{name}>",
    st.sampled_from(["p", "a", "b", "div", "svg", "math", "script", "x-y", "ª", "table"]),
    st.text(max_size=12),
    st.text(max_size=12),
)
MARKUP = st.recursive(
    st.lists(st.one_of(_FRAGMENTS, st.text(max_size=8), _TAGS), max_size=25).map("".join),
    lambda inner: st.builds(lambda a, b: f"<div>{a}<![{b}</div>", inner, inner),
    max_leaves=8,
)
ANY_TEXT = st.one_of(st.text(), MARKUP)


@settings(max_examples=400, deadline=None)
@given(ANY_TEXT, st.integers(min_value=1, max_value=300))
def test_html_to_text_never_raises(html: str, max_chars: int) -> None:
    text = html_to_text(html, max_chars=max_chars)
    assert isinstance(text, str) and len(text) <= max_chars


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_sanitize_html_never_raises(html: str) -> None:
    assert isinstance(sanitize_html(html, BASE), str)


_URL_PIECES = st.sampled_from(
    ["http:", "https:", "//", "/", "[", "]", ":", "::1", "@", "\\", "%", "#", "?",
     "\n", "\x00", " ", "é", "mailto:", "a", "javascript:", "0x", "99999"]
)  # fmt: skip
URLS = st.one_of(st.text(), st.lists(_URL_PIECES, max_size=12).map("".join))


@settings(max_examples=300, deadline=None)
@given(URLS, st.one_of(st.none(), st.just(BASE), URLS), st.booleans())
def test_clean_url_never_raises(url: str, base: str | None, allow_mailto: bool) -> None:
    out = clean_url(url, base, allow_mailto=allow_mailto)
    assert out is None or out.startswith(("http://", "https://", "mailto:"))


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_the_fallback_text_extraction_never_raises_either(html: str) -> None:
    # What html_to_text uses if the standard library's parser raises on a new oddity.
    from aggregator.sanitize import _strip_tags

    assert isinstance(_strip_tags(html), str)


def test_the_fallback_text_extraction_reads_like_the_parser() -> None:
    from aggregator.sanitize import _PARA, _strip_tags

    html = "<p>Un</p><!-- c --><script>alert(1)</script><p>deux &amp; trois</p>"
    assert _strip_tags(html).split() == [_PARA + "Un" + _PARA, _PARA + "deux", "&", "trois" + _PARA]


_URL_PIECES = st.sampled_from(
    ["http://", "https://", "HTTP://", "ftp://", "//", "javascript:", "x.org", "ex.org:8080",
     "[::1]", "/", "/a", "..", ".", "?", "#", ";", "&", "=", "%20", "%", " ", "\t", "\\",
     "é", "<", '"', "'", "@", ":", "~", "a", "B", "0", "\x00", "\x7f", "^", "|"]
)  # fmt: skip


_NEAR_URLS = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", ""]),
    st.sampled_from(["x.org", "ex.org:8080", "[::1]", "", "a b", "é.fr", "h:99999"]),
    st.lists(_URL_PIECES, max_size=5).map("".join),
    st.sampled_from(["", "?", "?a=1", "?a?b", "?#"]),
    st.lists(_URL_PIECES, max_size=3).map("".join),
    st.sampled_from(["", "#", "#top", "#a#b"]),
).map("".join)


@settings(max_examples=500, deadline=None)
@given(
    url=st.one_of(st.lists(_URL_PIECES, min_size=1, max_size=12).map("".join), _NEAR_URLS),
    base=st.sampled_from([None, "https://base.example.org/dir/page", "http://base.example.org/"]),
)
def test_the_shortcut_for_plain_absolute_urls_changes_no_answer(url, base):
    """clean_url returns a plain absolute URL at once; the long way gives the same."""
    assert sanitize.clean_url(url, base) == sanitize._clean_url.__wrapped__(url, base, False)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/a/b?x=1&y=2#top",
        "http://example.org",
        "https://cdn.ex.org:8443/i%C3%A9.png",
    ],
)
def test_plain_absolute_urls_take_the_shortcut(url):
    assert sanitize._PLAIN_ABSOLUTE.fullmatch(url)
    assert sanitize.clean_url(url, "https://base.example.org/") == url


@settings(max_examples=500, deadline=None)
@given(
    url=st.one_of(
        st.lists(_URL_PIECES, min_size=1, max_size=12).map("".join),
        _NEAR_URLS,
        st.from_regex(sanitize._PLAIN_ABSOLUTE, fullmatch=True),  # the shortcut's own
    ),
    protocols=st.sampled_from(
        [sanitize.ALLOWED_PROTOCOLS, frozenset({"https"}), frozenset({"mailto"})]
    ),
)
def test_the_uri_check_shortcut_changes_no_answer_of_bleach(url, protocols):
    """_ReadingFilter answers bleach's URI check at once for a plain absolute URL;
    bleach's own check gives the same answer, for every URL."""
    from bleach.sanitizer import BleachSanitizerFilter

    ours = sanitize._ReadingFilter(None, "")
    assert ours.sanitize_uri_value(url, protocols) == BleachSanitizerFilter.sanitize_uri_value(
        ours, url, protocols
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "é", " ", "\r", "\n", "\r\n", ">", "\t", "0"])).map("".join))
def test_text_without_markup_is_what_bleach_writes(text: str) -> None:
    """sanitize_html answers at once for text with no "<" and no "&": the same as
    bleach, line endings included (html5lib reads CR and CRLF as LF)."""
    bleach_said = sanitize._Sanitizer().clean(text, "").strip()
    assert sanitize.sanitize_html(text, "") == bleach_said
