"""aggregator.plainurl: the URLs it recognizes are the ones every URL function we
apply gives back unchanged, so the parser and the sanitizer may skip those calls."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from feedparser.urls import _urljoin as feedparser_urljoin
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import parse, sanitize
from aggregator.plainurl import PLAIN_ABSOLUTE, is_plain_absolute

BASES = st.sampled_from(
    [
        "",
        "http://example.org/feed.xml",
        "https://example.org/blog/feed?x=1#y",
        "https://other.example:8443/",
        "ftp://files.example/",
        "feed.xml",
        "//cdn.example/a/",
    ]
)
PLAIN = st.from_regex(PLAIN_ABSOLUTE, fullmatch=True)
_PIECES = st.sampled_from(
    ["http://", "https://", "HTTP://", "x.org", ":80", ":", "/", "/a", "..", "?", "#", ";",
     "&", "=", "%20", " ", "\t", "\\", "é", "[::1]", "@", "a", "0", "//", "\x00"]
)  # fmt: skip
NEAR = st.lists(_PIECES, min_size=1, max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(PLAIN, BASES)
def test_joining_gives_a_plain_url_back_unchanged(url: str, base: str) -> None:
    assert urljoin(base, url) == url
    assert feedparser_urljoin(base, url) == url
    assert sanitize._clean_url.__wrapped__(url, base or None, False) == url


@settings(max_examples=400, deadline=None)
@given(st.one_of(PLAIN, NEAR), BASES)
def test_entry_links_are_the_same_with_and_without_the_shortcut(url: str, base: str) -> None:
    """parse._link skips urljoin for a plain URL: the answer is urljoin's."""
    expected = _link_the_long_way(url, base)
    assert parse._link(url, base) == expected


def _link_the_long_way(value: str, base: str) -> str | None:
    value = parse.re.sub(r"[\t\n\r]", "", parse._clean_text(value)).strip()
    try:
        value = urljoin(base, value)
    except ValueError:
        return None
    return value if value and len(value) <= parse.MAX_FIELD["link"] else None


@pytest.mark.parametrize(
    ("url", "plain"),
    [
        ("https://example.org/a/b?x=1&y=2#top", True),
        ("http://example.org", True),
        ("HTTP://example.org/", False),  # urljoin lower-cases the scheme
        ("https://example.org/a;b", False),  # params
        ("https://example.org/?", False),  # an empty query is dropped
        ("https://[::1]/", False),
        ("https://exemple.fr/é", False),
        ("/relative", False),
    ],
)
def test_what_is_plain(url: str, plain: bool) -> None:
    assert is_plain_absolute(url) is plain
