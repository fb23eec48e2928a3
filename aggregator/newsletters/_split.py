"""Links of a newsletter's HTML, and ``split: links``: one item per link of a digest.

A job list or a call-for-projects digest is a list of links, each with a line or a
paragraph around it. With ``split: links`` each such link becomes an item of its
own: title = the link's text, link = its URL, content = the text of the block
(paragraph, list item, table cell) that holds it. Standard ``html.parser`` only: the
fragments are plain text re-escaped here, and the orchestrator sanitizes them again.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Where a digest's entries end: each of these closes the "surrounding text" of a link.
_BLOCKS = frozenset(
    {
        "p", "li", "td", "th", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
        "ul", "ol", "dd", "dt", "blockquote", "section", "article", "br", "hr",
    }
)  # fmt: skip
_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
# Links that are the newsletter's furniture, not entries of the digest.
_FURNITURE = re.compile(
    r"^https?://([a-z0-9-]+\.)*(facebook|twitter|x|instagram|linkedin|tiktok|mastodon\.social"
    r"|bsky)\.(com|app|social)(/|$)",
    re.IGNORECASE,
)
MAX_ITEMS = 200  # per message
MIN_TEXT = 3  # a link whose text is shorter is an icon or an arrow, not an entry


class _Walker(HTMLParser):
    """Blocks of text with the links they hold: [(text, [(href, link text)])]."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, list[tuple[str, str]]]] = []
        self._text: list[str] = []
        self._links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._anchor: list[str] = []
        self._skip = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        if text or self._links:
            self.blocks.append((text, self._links))
        self._text, self._links = [], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "a":
            self._close_anchor()
            self._href = (dict(attrs).get("href") or "").strip()
            self._anchor = []
        elif tag in _BLOCKS and self._href is None:
            self._flush()
        elif tag == "img" and self._href is not None:
            alt = dict(attrs).get("alt")
            if alt:
                self._anchor.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP and tag != "a":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "a":
            self._close_anchor()
        elif tag in _BLOCKS and self._href is None:
            self._flush()

    def _close_anchor(self) -> None:
        if self._href is not None:
            self._links.append((self._href, " ".join("".join(self._anchor).split())))
        self._href = None
        self._anchor = []

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._text.append(data)
        if self._href is not None:
            self._anchor.append(data)

    def close(self) -> None:
        super().close()
        self._close_anchor()
        self._flush()


def _blocks(html_text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    walker = _Walker()
    try:
        walker.feed(html_text)
        walker.close()
    except Exception:  # html.parser raises on a few odd constructs: keep what was read
        walker._flush()
    return walker.blocks


def visible_links(html_text: str) -> list[tuple[str, str]]:
    """(href, text) of every link, in document order (href as written, entities
    decoded)."""
    return [link for _text, links in _blocks(html_text) for link in links]


def split_links(html_text: str, *, exclude: set[str]) -> list[tuple[str, str, str]]:
    """(href, title, content HTML) per entry link of a digest; ``exclude``: URLs that
    are the reader's own (unsubscribe) or the whole letter's (online version)."""
    from ._message import ONLINE_WORDS, UNSUBSCRIBE_WORDS

    items: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for text, links in _blocks(html_text):
        for href, label in links:
            if not re.match(r"(?i)https?://", href) or href in exclude or href in seen:
                continue
            if len(label) < MIN_TEXT or _FURNITURE.match(href):
                continue
            if UNSUBSCRIBE_WORDS.search(label) or ONLINE_WORDS.search(label):
                continue
            seen.add(href)
            around = text if text and text != label else ""
            fragment = f'<p><a href="{html.escape(href, quote=True)}">{html.escape(label)}</a></p>'
            if around:
                fragment += f"<p>{html.escape(around)}</p>"
            items.append((href, label, fragment))
            if len(items) >= MAX_ITEMS:
                return items
    return items
