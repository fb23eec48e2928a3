"""HTML sanitizing, plain-text previews and URL checks: the only module that imports bleach.

Everything a feed sends is hostile until it has been through here. ``sanitize_html``
turns untrusted HTML into a small reading subset (explicit allowlist below), resolves
every relative URL against the entry's base, and adds the attributes we want on links
and images. ``html_to_text`` makes the plain-text previews used for the river, search
and email. ``clean_url`` is the one URL gate (http/https, optionally mailto).

Choices (see also the allowlist):
- No class, id or style attributes, no <style>: they could clash with our CSS/JS.
- Elements whose content is code or UI (script, style, noscript, template, svg, math,
  form controls...) are dropped *with* their content; other disallowed elements are
  unwrapped (their text stays).
- Embedded media (iframe, video, audio, embed, object) are replaced by a plain link to
  the media URL: nothing plays or loads inside the reader, but the reader sees there
  was something. Podcasts get their media from the feed's enclosures instead.
- <picture>/<source> and srcset are not allowed (srcset would need its own URL
  parser); the fallback <img> inside <picture> stays.
- 1x1 tracking pixels and images without a usable src are removed.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import re
import threading
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from bleach import html5lib_shim
from bleach.sanitizer import BleachSanitizerFilter

from aggregator import _fastsanitize
from aggregator.plainurl import PLAIN_ABSOLUTE

log = logging.getLogger(__name__)

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
        "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "strong", "sub",
        "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr",
        "u", "ul", "var",
    }
)  # fmt: skip

ALLOWED_ATTRIBUTES: dict[str, list[str]] = {
    "a": ["href", "title"],
    "abbr": ["title"],
    "dfn": ["title"],
    "img": ["src", "alt", "title", "width", "height"],
    "td": ["colspan", "rowspan"],
    "th": ["colspan", "rowspan", "scope"],
    "ol": ["start", "reversed"],
    "time": ["datetime"],
    "blockquote": ["cite"],
    "q": ["cite"],
    "del": ["cite", "datetime"],
    "ins": ["cite", "datetime"],
}

# Checked by bleach first; every URL is then resolved and checked again by clean_url.
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})

# Removed together with everything inside them: their content is code, styling or UI,
# never prose. They must reach the tree as elements (so html5lib parses script/style as
# raw text) -- bleach's tokenizer otherwise turns unknown tags into empty text and
# leaves "alert(1)" in the output.
DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "noscript", "template", "title", "svg", "math",
        "iframe", "frame", "frameset", "noembed", "noframes", "object", "applet", "embed",
        "audio", "video", "select", "textarea", "button",
    }
)  # fmt: skip
_MEDIA = frozenset({"iframe", "video", "audio", "embed", "object"})

_URL_ATTRS = frozenset({"href", "src", "cite"})
# <source> must reach the tree too, so a <video>'s source URL can become the link.
_PARSER_TAGS = ALLOWED_TAGS | DROP_WITH_CONTENT | {"source"}

MAX_URL = 2048


# --- URLs --------------------------------------------------------------------------

# WHATWG URL standard: strip leading/trailing C0 controls and spaces, remove every
# ASCII tab and newline anywhere -- which is exactly how "java\nscript:" sneaks past
# naive checks, so we do what the browser will do before deciding.
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# Characters a browser would percent-encode anyway; encoding them keeps stored URLs
# unambiguous wherever they are pasted (email, HTML attributes, logs).
_ENCODE = {c: f"%{ord(c):02X}" for c in ' "<>`{}|^'} | {
    chr(c): f"%{c:02X}" for c in [*range(0x20), 0x7F]
}
_ENCODE_TABLE = str.maketrans(_ENCODE)
# An absolute http(s) URL that clean_url returns unchanged (see plainurl).
_PLAIN_ABSOLUTE = PLAIN_ABSOLUTE


def clean_url(
    url: str | None, base_url: str | None = None, *, allow_mailto: bool = False
) -> str | None:
    """Return ``url`` as an absolute http(s) URL (or mailto: if allowed), else None.

    Relative URLs are resolved against ``base_url``; without a usable base they are
    rejected (a relative link rendered in our pages would point into our own app).
    """
    if not url:
        return None
    if _PLAIN_ABSOLUTE.fullmatch(url) and len(url) <= MAX_URL:
        # Already what the long way would give: urljoin keeps an absolute URL with a
        # host as it is, and nothing in it needs stripping, mending or encoding
        # (tests/test_sanitize.py compares both ways).
        return url
    if len(url) > 4 * MAX_URL:  # not worth a place in the cache
        return _clean_url.__wrapped__(url, base_url or None, bool(allow_mailto))
    return _clean_url(url, base_url or None, bool(allow_mailto))


# Pure, and called for every link and picture of every entry with the same few bases:
# feeds repeat their URLs (site, images, tags), and urljoin/urlsplit are not cheap.
@functools.lru_cache(maxsize=8192)
def _clean_url(url: str, base_url: str | None, allow_mailto: bool) -> str | None:
    url = _TAB_NEWLINE.sub("", url).strip(_C0_AND_SPACE)
    if not url or len(url) > MAX_URL:
        return None
    try:
        if base_url:
            url = urljoin(base_url, url)
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):
            # Browsers read "\" as "/" in http(s) URLs; make what we check what they open.
            url = scheme + url[len(scheme) :].replace("\\", "/")
            if not urlsplit(url).hostname:
                return None
        elif scheme == "mailto" and allow_mailto:
            url = scheme + url[len(scheme) :]
            if "@" not in url:
                return None
        else:
            return None
    except ValueError:  # e.g. "http://[::1" (unbalanced IPv6 brackets)
        return None
    url = url.translate(_ENCODE_TABLE)
    return url if len(url) <= MAX_URL else None


# --- HTML --------------------------------------------------------------------------


class _ReadingFilter(BleachSanitizerFilter):
    """bleach's sanitizer plus our own rules, in one pass over the token stream.

    Before bleach sees a token: elements of DROP_WITH_CONTENT are skipped whole
    (media become a link). After bleach kept a tag: URLs are resolved against the
    entry's base and re-checked, links and images get the attributes we want.
    """

    def __init__(self, source, base_url: str) -> None:
        super().__init__(
            source,
            allowed_tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            allowed_protocols=ALLOWED_PROTOCOLS,
            strip_disallowed_tags=True,
            strip_html_comments=True,
        )
        self.base_url = base_url

    def sanitize_stream(self, token_iterator):
        depth = 0  # > 0 while inside an element dropped with its content
        media_url: str | None = None
        sources = False  # inside <video>/<audio>: a <source> may give the URL
        for token in token_iterator:
            kind = token["type"]
            if depth:
                if kind == "StartTag":
                    depth += 1
                elif kind == "EndTag":
                    depth -= 1
                if sources and kind in ("StartTag", "EmptyTag") and token["name"] == "source":
                    media_url = media_url or self._media_url(token)
                if depth == 0 and media_url:
                    yield from self._media_link(media_url)
                    media_url = None
                continue
            if kind in ("StartTag", "EmptyTag") and token["name"] in DROP_WITH_CONTENT:
                media_url = self._media_url(token) if token["name"] in _MEDIA else None
                sources = token["name"] in ("video", "audio")
                if kind == "StartTag":
                    depth = 1
                elif media_url:
                    yield from self._media_link(media_url)
                continue
            ret = self.sanitize_token(token)
            if not ret:
                continue
            for tok in ret if isinstance(ret, list) else (ret,):
                if tok["type"] in ("StartTag", "EmptyTag") and not self._finish_tag(tok):
                    continue
                yield tok

    def sanitize_uri_value(self, value, allowed_protocols):
        # bleach normalizes a copy of the value (entities, spaces, case) and parses it
        # to read its scheme; a plain absolute http(s) URL without "&" comes out of
        # that unchanged, with an allowed scheme: bleach keeps it as it is. A fifth of
        # sanitizing's CPU on the benchmark corpus (tests/test_sanitize.py compares).
        plain = "&" not in value and _PLAIN_ABSOLUTE.fullmatch(value)
        if plain and value[: value.index(":")] in allowed_protocols:
            return value
        return super().sanitize_uri_value(value, allowed_protocols)

    def _media_url(self, token) -> str | None:
        attrs = token.get("data") or {}
        for name in ("src", "data"):
            value = attrs.get((None, name))
            if value:
                url = clean_url(html5lib_shim.convert_entities(value), self.base_url)
                if url:
                    return url
        return None

    def _media_link(self, url: str):
        start = {"type": "StartTag", "name": "a", "namespace": None, "data": {(None, "href"): url}}
        for tok in (start, {"type": "Characters", "data": url}, {"type": "EndTag", "name": "a"}):
            ret = self.sanitize_token(tok)
            for t in ret if isinstance(ret, list) else (ret,):
                if t["type"] != "StartTag" or self._finish_tag(t):
                    yield t

    def _finish_tag(self, token) -> bool:
        """Resolve and re-check URLs, add our attributes. False: drop the tag."""
        name = token["name"]
        attrs = token.get("data") or {}
        for key in [k for k in attrs if k[1] in _URL_ATTRS]:
            url = clean_url(
                html5lib_shim.convert_entities(attrs[key]),
                self.base_url,
                allow_mailto=(name == "a" and key[1] == "href"),
            )
            if url is None:
                del attrs[key]
            else:
                # The serializer keeps "&amp;" as is and escapes bare "&" only when it
                # does not look like an entity: escaping ourselves is always right.
                attrs[key] = url.replace("&", "&amp;")
        if name == "a":
            attrs[(None, "rel")] = "noopener noreferrer"
            attrs[(None, "target")] = "_blank"
        elif name == "img":
            if (None, "src") not in attrs:
                return False
            size = (attrs.get((None, "width"), "").strip(), attrs.get((None, "height"), "").strip())
            if size[0] in ("0", "1") and size[1] in ("0", "1"):
                return False  # a tracking pixel, not an illustration
            attrs[(None, "loading")] = "lazy"
            attrs[(None, "referrerpolicy")] = "no-referrer"
        token["data"] = attrs
        return True


class _Sanitizer:
    """Parser, walker and serializer built once; html5lib parsers are not thread-safe
    (bleach's Cleaner says so), hence one per thread via ``_local``."""

    def __init__(self) -> None:
        self.parser = html5lib_shim.BleachHTMLParser(
            tags=_PARSER_TAGS, strip=True, consume_entities=False, namespaceHTMLElements=False
        )
        self.walker = html5lib_shim.getTreeWalker("etree")
        # Same settings as bleach.Cleaner: entities are left as they are.
        self.serializer = html5lib_shim.BleachHTMLSerializer(
            quote_attr_values="always",
            omit_optional_tags=False,
            escape_lt_in_attrs=True,
            resolve_entities=False,
            sanitize=False,
            alphabetical_attributes=False,
        )
        # The fast path asks this filter (the bleach path's own code) about each tag.
        self.filter = _ReadingFilter(None, "")
        self.fast = _fastsanitize.FastSanitizer(
            allowed=ALLOWED_TAGS,
            parser_tags=_PARSER_TAGS,
            block_level=html5lib_shim.HTML_TAGS_BLOCK_LEVEL,
            finish_tag=self._finish_tag,
            attr_value=self._attr_value,
            media_url=self._media_url,
            entities=[name for name in html5lib_shim.ENTITIES if name.endswith(";")],
        )

    def clean(self, text: str, base_url: str) -> str:
        dom = self.parser.parseFragment(text)
        return self.serializer.render(_ReadingFilter(self.walker(dom), base_url))

    def _finish_tag(self, name: str, attrs: dict[str, str], base_url: str) -> dict[str, str] | None:
        """What _ReadingFilter makes of a start tag the fast path met: its attributes
        as they will be written, or None when the tag is dropped."""
        token = {"type": "StartTag", "name": name, "data": {(None, k): v for k, v in attrs.items()}}
        self.filter.base_url = base_url
        token = self.filter.allow_token(token)
        if not self.filter._finish_tag(token):
            return None
        return {key[1]: value for key, value in token["data"].items()}

    def _media_url(self, attrs: dict[str, str], base_url: str) -> str | None:
        """What _ReadingFilter links to in place of a media element with ``attrs``."""
        self.filter.base_url = base_url
        return self.filter._media_url({"data": {(None, k): v for k, v in attrs.items()}})

    def _attr_value(self, value: str) -> str:
        """An attribute value quoted and escaped as BleachHTMLSerializer writes it
        (html5lib's serializer with quote_attr_values="always", escape_lt_in_attrs,
        use_best_quote_char; then bleach's escape_base_amp, which sees the value only
        when the quote is '"')."""
        value = value.replace("&", "&amp;").replace("<", "&lt;")
        if '"' in value and "'" not in value:
            return "'" + value + "'"
        value = value.replace('"', "&quot;")
        if "&" in value:
            value = "".join(self.serializer.escape_base_amp(value))
        return '"' + value + '"'


_local = threading.local()

# Characters HTML forbids or that only confuse: C0 controls (but tab/newline/CR),
# DEL, C1 controls, lone surrogates, noncharacters.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# Module switch (tests flip it) and environment switch: always take the bleach path.
FAST_PATH = os.environ.get(_fastsanitize.ENV_SWITCH, "") not in ("1", "true", "yes")


def sanitize_html(html_text: str, base_url: str, *, fast: bool | None = None) -> str:
    """Return ``html_text`` reduced to safe HTML for reading, URLs made absolute.

    ``base_url`` is the entry's base (``ParsedEntry.base_url``); relative URLs that
    cannot be resolved to http(s) are dropped. Simple, well-formed markup takes a fast
    path (``_fastsanitize``) that gives bleach's very output; ``fast=False`` (or
    ``FAST_PATH = False``, or AGGREGATOR_NO_FAST_SANITIZE=1) always runs bleach.
    """
    if not html_text:
        return ""
    html_text = _BAD_CHARS.sub("", html_text)
    if "<" not in html_text and "&" not in html_text:
        # What bleach would write: html5lib's input stream turns CR and CRLF into LF
        # first, then the serializer escapes ">".
        if "\r" in html_text:
            html_text = html_text.replace("\r\n", "\n").replace("\r", "\n")
        return html_text.replace(">", "&gt;").strip()
    sanitizer = getattr(_local, "sanitizer", None)
    if sanitizer is None:
        sanitizer = _local.sanitizer = _Sanitizer()
    if FAST_PATH if fast is None else fast:
        try:
            result = sanitizer.fast.clean(html_text, base_url)
        except Exception as e:  # a bug there must cost speed only: bleach decides
            log.warning("fast sanitizing failed (%s: %s)", type(e).__name__, e)
            result = None
        if result is not None:
            return result.strip()
    try:
        return sanitizer.clean(html_text, base_url).strip()
    except Exception as e:
        # No input is known to make html5lib fail, but one entry's markup must never
        # cost the feed its other entries: keep the text, every character escaped.
        _local.sanitizer = None  # a parser that failed midway may keep bad state
        log.warning("sanitizing failed (%s: %s); keeping the text only", type(e).__name__, e)
        return _escaped_text(html_text)


def fast_sanitize_html(html_text: str, base_url: str) -> str | None:
    """The fast path alone, for tests: sanitize_html's result, or None when the fast
    path declines the input (bleach would then run)."""
    if not html_text:
        return ""
    html_text = _BAD_CHARS.sub("", html_text)
    sanitizer = getattr(_local, "sanitizer", None)
    if sanitizer is None:
        sanitizer = _local.sanitizer = _Sanitizer()
    result = sanitizer.fast.clean(html_text, base_url)
    return None if result is None else result.strip()


def _escaped_text(html_text: str) -> str:
    """The fallback of sanitize_html: paragraphs of plain text, no markup at all."""
    text = html_to_text(html_text, max_chars=len(html_text))
    return "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p)


# --- plain text --------------------------------------------------------------------

# Elements that separate the text before them from the text after: without this,
# "<h2>Titre</h2>Suite" or "<td>a</td><td>b</td>" would be glued into one word.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "center", "dd", "details",
        "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer",
        "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "legend",
        "li", "listing", "main", "menu", "nav", "ol", "p", "pre", "search", "section",
        "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "xmp",
    }
)  # fmt: skip
# Code, UI labels and "your browser does not support..." fallbacks are not prose.
_SKIP = frozenset(
    {
        "script", "style", "template", "noscript", "svg", "math", "select", "textarea",
        "button", "title", "iframe", "object", "video", "audio",
    }
)  # fmt: skip
_PARA, _LINE = "\ue000", "\ue001"  # private-use sentinels, removed from input first
_CHUNK = 16 * 1024


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.skip = 0
        # Alt texts are kept apart: a preview must not start with "Photo of a cat"
        # before the first sentence; they are the text only when there is no other.
        self.alts: list[str] = []

    def parse_marked_section(self, i, report=1):
        # "<![" starts a marked section in SGML; the standard library knows only
        # CDATA/IGNORE/INCLUDE/... and MS Office's "<![if ...]>", and raises
        # AssertionError on anything else ("<![>", "<![ ", "<![foo[") until the 2025
        # releases (CPython gh-77057). HTML5 reads such markup as a bogus comment that
        # ends at the next ">" (WHATWG HTML, "markup declaration open state"), and so
        # do we. Other oddities raise in other versions (gh-140877: "<ª" in 3.13),
        # hence the fallback in html_to_text as well.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            return self.parse_bogus_comment(i, report)

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.parts.append(_LINE)
        elif tag in _BLOCK:
            self.parts.append(_PARA)
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self.skip and len(self.alts) < 20:
                self.alts.append(alt[:500])

    def handle_startendtag(self, tag, attrs):
        if tag not in _SKIP:  # <script/> is not a container
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.parts.append(_PARA)

    def handle_data(self, data):
        if not self.skip:
            data = data.replace(_PARA, " ").replace(_LINE, " ")
            self.parts.append(data)
            self.size += len(data)


def _extract_text(html_text: str, max_chars: int) -> str:
    parser = _TextExtractor()
    # Feed in chunks and stop early: a 1 MB article needs only its start for a preview.
    for start in range(0, len(html_text), _CHUNK):
        parser.feed(html_text[start : start + _CHUNK])
        if parser.size > 2 * max_chars + 1000:
            break
    else:
        parser.close()
    text = "".join(parser.parts)
    if (
        parser.alts and not text.replace(_PARA, "").replace(_LINE, "").strip()
    ):  # a picture and nothing else: its description
        text = _PARA.join(a.replace(_PARA, " ").replace(_LINE, " ") for a in parser.alts)
    return text


_SKIPPED_ELEMENT = re.compile(
    r"<(" + "|".join(sorted(_SKIP)) + r")\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_COMMENT_OR_TAG = re.compile(r"<!--.*?-->|<[!/?]?[A-Za-z!\[][^>]*>?", re.DOTALL)
_BLOCK_TAG = re.compile(r"</?(?:" + "|".join(sorted(_BLOCK)) + r"|br)\b[^>]*>?", re.IGNORECASE)


def _strip_tags(html_text: str) -> str:
    """The fallback of html_to_text: no parser, only regular expressions that cannot fail."""
    text = html_text.replace(_PARA, " ").replace(_LINE, " ")
    text = _SKIPPED_ELEMENT.sub(" ", text)
    text = _BLOCK_TAG.sub(_PARA, text)
    text = _COMMENT_OR_TAG.sub(" ", text)
    return html.unescape(text)


def html_to_text(html_text: str, max_chars: int = 2000) -> str:
    """Plain-text preview of ``html_text``: entities decoded, whitespace collapsed,
    paragraphs separated by a blank line, at most ``max_chars`` characters (cut at a
    word boundary, ending with an ellipsis)."""
    if not html_text or max_chars <= 0:
        return ""
    try:
        raw = _extract_text(html_text, max_chars)
    except Exception as e:
        # html.parser has raised on odd markup before (see parse_marked_section); a
        # preview is never worth losing an entry: strip the tags the crude way.
        log.warning(
            "plain-text extraction failed (%s: %s); stripping tags instead", type(e).__name__, e
        )
        raw = _strip_tags(html_text[: 4 * max_chars + 1000])
    text = _BAD_CHARS.sub("", raw)
    text = re.sub(r"\s+", " ", text)  # \s includes NBSP: previews need no hard spaces
    text = re.sub(rf" ?{_LINE} ?", _LINE, text)
    text = re.sub(rf"[ {_LINE}]*{_PARA}[ {_PARA}{_LINE}]*", _PARA, text)
    text = text.strip(f" {_PARA}{_LINE}").replace(_PARA, "\n\n").replace(_LINE, "\n")
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


# --- titles for items that have none ----------------------------------------------

TITLE_CHARS = 80
_URL_TEXT = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_SENTENCE_END = re.compile(r"[.!?…](?=[\s\"»”)]|$)")


def title_from_text(text: str, limit: int = TITLE_CHARS) -> str:
    """A title for an item that has none (a Mastodon or Bluesky post), from its plain
    text (``html_to_text``): the first sentence of the first paragraph that has words
    once URLs are left out, or its first ``limit`` characters cut at a word boundary
    with an ellipsis. '' when there are no words at all."""
    for paragraph in text.split("\n"):
        paragraph = " ".join(_URL_TEXT.sub(" ", paragraph).split())
        if not any(c.isalnum() for c in paragraph):
            continue
        end = _SENTENCE_END.search(paragraph)
        sentence = paragraph[: end.end()] if end else paragraph
        if sentence.endswith(".") and not sentence.endswith(".."):
            sentence = sentence[:-1]  # a title does not end with a full stop
        if len(sentence) <= limit + limit // 4:  # a sentence a little long stays whole
            return sentence
        cut = sentence[:limit]
        space = cut.rfind(" ")
        if space > limit // 2:
            cut = cut[:space]
        return cut.rstrip(" ,;:.-–—") + "…"
    return ""
