"""A fast path for ``parse``: well-formed RSS 2.0, RSS 1.0 and Atom 1.0 without feedparser's
SAX callbacks.

feedparser stays the parser of record. It reads a strict (well-formed) document through
``xml.sax`` and a Python callback per start tag, end tag and text chunk, each going
through its ``_FeedParserMixin`` state machine: about a third of the CPU of ingesting a
feed. Here the same bytes go through the same expat, but into a C-built
``xml.etree.ElementTree`` tree, and only the elements ``parse`` reads are visited, with
the rules of the mixin reproduced for them: the same handler per element name (after
the same namespace mapping and lower-casing), the same base URI per element, the same
post-processing of text in ``pop()`` (strip, URI resolution, the UTF-8-read-as-Latin-1
repair, the cp1252 mapping, "does this RSS text look like HTML"), the same
"first title wins" and "shallowest value wins" rules, the same summary/content
juggling, the same author bookkeeping (feedparser's own functions, called on a shim).

``read`` returns the subset of feedparser's result that ``parse`` reads (``version``,
``feed``, ``entries``, ``bozo``), shaped the same way, or None -- "not sure, ask
feedparser" -- as soon as the document leaves the subset where that equivalence is
evident (see the ``_Decline`` raises): anything feedparser would flag as bozo (bad
encoding, not well-formed), a DOCTYPE or entity declaration, namespaces it does not know
declared without a prefix or under a prefix it gives another meaning, an element
feedparser has a handler for that is not modelled here (Atom's ``source``,
``textinput``, GeoRSS, ``body``...), markup inside a text element, content types other
than text/html/xhtml (base64, ``src``), XHTML beyond a plain set of HTML elements, RSS
0.9x and Atom 0.3. tests/test_fastfeed.py proves the equality differentially (every
fixture, the benchmark corpus, generated documents).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection
from typing import Any
from xml.sax.saxutils import escape

import feedparser.util
from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri

from aggregator.plainurl import PLAIN_ABSOLUTE

log = logging.getLogger(__name__)

# Set AGGREGATOR_NO_FAST_PARSE=1 (read by parse) to always use feedparser.
ENV_SWITCH = "AGGREGATOR_NO_FAST_PARSE"


class _Decline(Exception):
    """The document leaves the subset this reader reproduces exactly."""


_M = _FeedParserMixin
# feedparser's namespace table, keyed as it looks URIs up (lower-cased).
_MATCH: dict[str, str] = {k.lower(): v for k, v in _M.namespaces.items()}
_KNOWN_PREFIXES = {p for v in _MATCH.values() if v for p in (v, v.lower())}
_USERLAND = "http://backend.userland.com/rss"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XHTML_NS = "http://www.w3.org/1999/xhtml"
_ATOM_NS = "http://www.w3.org/2005/atom"
_RSS10_NS = "http://purl.org/rss/1.0/"
_RSS090_NS = "http://my.netscape.com/rdf/simple/0.9/"
# Every element name feedparser has a _start_/_end_ handler for.
_HANDLED = {a.split("_", 2)[2] for a in dir(_M) if a.startswith(("_start_", "_end_"))}
# Keys parse reads from feedparser's dicts: an element without a handler stores its
# text (or attributes) under its own name, so one named like these is not inert.
_READ_KEYS = {
    "title",
    "title_detail",
    "link",
    "links",
    "id",
    "guidislink",
    "summary",
    "summary_detail",
    "content",
    "published_parsed",
    "created_parsed",
    "updated_parsed",
    "author",
    "author_detail",
    "authors",
    "media_content",
    "media_thumbnail",
    "enclosures",
    "icon",
    "logo",
    "image",
    "href",
}
_FORBIDDEN_INERT = _READ_KEYS | {
    k
    for k, v in feedparser.util.FeedParserDict.keymap.items()
    if set(v if isinstance(v, list) else [v]) & _READ_KEYS
}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"text/plain", "text/html"}
# XHTML content is serialized by feedparser tag by tag, whatever the tag, except these:
# ``body`` has an end handler under the "xhtml_" prefix, ``svg`` and ``math`` get their
# namespace written out and svg its own title handling.
_XHTML_SPECIAL = {"body", "svg", "math"}
# Elements whose text feedparser resolves against the base URI (mixin.can_be_relative_uri).
_RELATIVE = _M.can_be_relative_uri
_QUERY_FIX = re.compile("&([A-Za-z0-9_]+);")
_C1 = re.compile("[\x80-\x9f]")  # the code points feedparser maps through cp1252
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def read(body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
    """feedparser's result for ``body`` as ``feedparser.parse(io.BytesIO(body),
    response_headers=headers, resolve_relative_uris=False, sanitize_html=False)`` gives
    it -- the keys ``parse`` reads -- or None when this reader is not sure."""
    try:
        return _read(body, headers)
    except _Decline:
        return None
    except Exception:  # a gap in this reader, never a reason to fail the feed
        log.debug("fast feed reader failed; feedparser reads it", exc_info=True)
        return None


def _read(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    # The very bytes feedparser gives expat (feedparser/api.py): decoded with the
    # charset parse settled, re-declared as UTF-8.
    result: dict[str, Any] = {}
    data = convert_to_utf8(headers, body, result)
    if result.get("bozo") or not result.get("encoding"):
        raise _Decline("encoding")
    if _DECLARATION.search(data):
        # feedparser rewrites DOCTYPE and ENTITY declarations (sanitizer.replace_doctype);
        # without any, the XML parser has no entity to expand (no "billion laughs").
        raise _Decline("doctype")
    parser = ET.iterparse(io.BytesIO(data), events=("start-ns",))  # noqa: S314 - see above
    decls: list[tuple[str, str]] = []
    try:
        for _event, decl in parser:
            decls.append(decl)  # type: ignore[arg-type]
    except ET.ParseError as e:
        raise _Decline("not well-formed") from e
    root = parser.root  # type: ignore[attr-defined]
    version, prefixes = _namespaces(decls)
    base = headers.get("content-location", "")
    reader = _Reader(version, prefixes)
    name = root.tag
    if name == "rss":
        if version.startswith("rss") or not root.get("version", "").startswith("2."):
            raise _Decline("RSS 0.9x")
        reader.version = "rss20"
    elif name == "{http://www.w3.org/2005/Atom}feed":
        if version != "atom10":
            raise _Decline("Atom 0.3")
    elif name == "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF":
        if version != "rss10":
            raise _Decline("RDF without RSS 1.0")
    else:
        raise _Decline("unknown root")
    reader.atom = reader.version.startswith("atom")
    reader.visit(root, 1, base)
    for entry in reader.entries:
        entry["enclosures"] = [
            {k: v for k, v in link.items() if k != "rel"}
            for link in entry.get("links", ())
            if link["rel"] == "enclosure"
        ]
    return {
        "bozo": False,
        "version": reader.version,
        "feed": reader.feed,
        "entries": reader.entries,
    }


def _namespaces(decls: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """The version feedparser infers from namespace declarations (``track_namespace``:
    the first telling one wins), and the prefix of each unknown namespace URI."""
    version = ""
    by_prefix: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for prefix, uri in decls:
        if not uri:
            raise _Decline("namespace undeclared")
        low = uri.lower()
        if not version:
            if not prefix and low == _RSS090_NS:
                version = "rss090"
            elif low == _RSS10_NS:
                version = "rss10"
            elif low == _ATOM_NS:
                version = "atom10"
        if _USERLAND in low:
            low = _USERLAND
        known = _MATCH.get(low)
        if known is None:
            # Unprefixed, feedparser reads it as no namespace; under a prefix it knows,
            # as that prefix's namespace.
            if not prefix or unknown.get(uri, prefix) != prefix:
                raise _Decline("unknown namespace")
            unknown[uri] = prefix
        elif known == "xlink" or (prefix and prefix in _KNOWN_PREFIXES and prefix != known):
            raise _Decline("namespace under another's prefix")
        # feedparser keys an unknown namespace by its document prefix (known ones by
        # their own): a prefix moved to or from an unknown URI confuses it.
        previous = by_prefix.setdefault(prefix, uri)
        if previous != uri and (known is None or _MATCH.get(previous.lower()) is None):
            raise _Decline("prefix redeclared")
    # An unknown namespace may use a prefix feedparser knows (thr: for the Atom
    # threading extension) as long as nothing in the document gives that prefix its
    # known meaning (feedparser's namespaces_in_use and namespacemap would mix them).
    taken = {
        p
        for prefix, uri in decls
        if (known := _MATCH.get(uri.lower()))
        for p in (known.lower(), prefix.lower())
    }
    if any(p.lower() in taken for p in unknown.values()):
        raise _Decline("unknown namespace under a known prefix")
    return version, unknown


def _repair(text: str) -> str:
    """What ``pop()`` does last to every text: undo UTF-8 read as Latin-1, map cp1252."""
    if text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    # str.translate with a dict looks every character up: search first.
    return text.translate(_cp1252) if _C1.search(text) else text


def _leaf(el: ET.Element) -> str:
    if len(el):
        # feedparser gives child elements their own handlers (or turns the content into
        # XHTML): not a case worth reproducing.
        raise _Decline("markup inside a text element")
    return el.text or ""


def _join(base: str, uri: str) -> str:
    if PLAIN_ABSOLUTE.fullmatch(uri):  # feedparser's _urljoin would give it back as is
        return uri
    return _urljoin(base or "", uri)  # type: ignore[no-any-return]


class _Shim:
    """Just enough of a parser for feedparser's own author bookkeeping functions."""

    _save_author = _M._save_author
    _sync_author_detail = _M._sync_author_detail

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context

    def _get_context(self) -> dict[str, Any]:
        return self.context


class _Reader:
    """feedparser's ``_FeedParserMixin`` state, for the elements it models."""

    def __init__(self, version: str, prefixes: dict[str, str]) -> None:
        self.version = version
        self.atom = False
        self.prefixes = prefixes
        self.names: dict[str, tuple[str, bool]] = {}
        self.bases: dict[tuple[str, str], str] = {}  # (base, xml:base) -> base
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.depths: dict[str, int] = {}  # mixin.property_depth_map of the current entry
        self.infeed = self.inentry = self.inimage = False
        self.inauthor = self.inpublisher = self.incontributor = False
        self.title_depth = -1
        self.has_content = False
        self.guidislink = False

    # --- names, attributes, context --------------------------------------------------

    def name(self, tag: str) -> tuple[str, bool]:
        """(feedparser's name for an element, whether it has a prefix)."""
        found = self.names.get(tag)
        if found is None:
            if tag[0] == "{":
                uri, local = tag[1:].split("}", 1)
                low = uri.lower()
                if _USERLAND in low:
                    low = _USERLAND
                prefix = _MATCH.get(low)
                # startElementNS lower-cases a known prefix, keeps a document's own
                prefix = self.prefixes[uri] if prefix is None else prefix.lower()
            else:
                prefix, local = "", tag
            local = local.lower()
            found = (f"{prefix}_{local}" if prefix else local, bool(prefix))
            self.names[tag] = found
        return found

    @staticmethod
    def attrs(attrib: dict[str, str]) -> dict[str, str]:
        """``startElementNS`` + ``_normalize_attributes``: known prefixes kept, names
        lower-cased, rel and type values lower-cased."""
        out: dict[str, str] = {}
        for key, value in attrib.items():
            if key[0] == "{":
                uri, local = key[1:].split("}", 1)
                prefix = _MATCH.get(uri.lower())
                if not prefix:
                    # feedparser drops an unknown namespace from an attribute's name
                    raise _Decline("attribute in an unknown namespace")
                key = f"{prefix}:{local}"
            out[key.lower()] = value
        for key in ("rel", "type"):
            if key in out:
                out[key] = out[key].lower() or out[key]
        return out

    def context(self) -> dict[str, Any]:
        if self.inimage and "image" in self.feed:
            return self.feed["image"]  # type: ignore[no-any-return]
        if self.inentry:
            return self.entries[-1]
        return self.feed

    def store(self, element: str, output: str, depth: int, detail: dict[str, Any] | None) -> None:
        """The end of ``pop()``: where a text lands."""
        if self.inentry:
            entry = self.entries[-1]
            if element == "description":
                element = "summary"
            old = self.depths.get(element)
            if old is None or depth <= old:
                self.depths[element] = depth
                entry[element] = output
            if detail is not None:
                entry[element + "_detail"] = {**detail, "value": output}
        elif self.infeed:
            context = self.context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if detail is not None:
                context[element + "_detail"] = {**detail, "value": output}

    # --- the walk ----------------------------------------------------------------------

    def visit(self, el: ET.Element, depth: int, base: str, inert_only: bool = False) -> None:
        name, prefixed = self.name(el.tag)
        attrs = self.attrs(el.attrib) if el.attrib else {}
        # unknown_starttag: xml:base (or a plain base attribute) moves the base URI.
        uri = attrs.get("xml:base", attrs.get("base")) or base
        key = (base, uri)
        moved = self.bases.get(key)
        if moved is None:
            moved = (make_safe_absolute_uri(base, uri) or base) if base else _join(base, uri)
            self.bases[key] = moved
        base = moved
        if not prefixed and name not in _IMAGE_PARTS:
            self.inimage = False  # feedparser's "empty image element" hack
        handler = _HANDLERS.get(name)
        if handler is not None and not inert_only:
            handler(self, el, attrs, depth, base)
        elif name in _HANDLED or name in _FORBIDDEN_INERT or name in _SPECIAL:
            raise _Decline(f"element {name}")
        else:
            # No handler: feedparser files the text (or the attributes) under the
            # element's own name, which parse never reads.
            for child in el:
                self.visit(child, depth + 1, base, inert_only=True)

    def children(self, el: ET.Element, depth: int, base: str) -> None:
        for child in el:
            self.visit(child, depth + 1, base)

    def parts(
        self, el: ET.Element, depth: int, base: str, allowed: Collection[str], what: str
    ) -> None:
        """``children``, for an element whose children must all be among ``allowed``
        (feedparser names); anything else: decline, naming ``what``."""
        for child in el:
            if self.name(child.tag)[0] not in allowed:
                raise _Decline(f"{what} child")
            self.visit(child, depth + 1, base)

    # --- structure ---------------------------------------------------------------------

    def h_rss(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if depth != 1 or any(self.name(c.tag)[0] != "channel" for c in el) or len(el) != 1:
            raise _Decline("not one channel")
        self.children(el, depth, base)

    def h_rdf(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if depth != 1:
            raise _Decline("nested RDF")
        self.children(el, depth, base)

    def h_channel(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if depth != 2 or self.inentry or "lastmod" in attrs or "href" in attrs:
            raise _Decline("channel")
        self.infeed = True
        self.children(el, depth, base)
        self.infeed = False

    def h_feed(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if depth != 1:
            raise _Decline("nested feed")
        self.infeed = True
        self.children(el, depth, base)
        self.infeed = False

    def h_item(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if self.inentry or self.inimage or "lastmod" in attrs or "href" in attrs:
            raise _Decline("item")
        entry: dict[str, Any] = {}
        self.entries.append(entry)
        self.depths = {}
        self.inentry = True
        self.guidislink = False
        self.title_depth = -1
        if attrs.get("rdf:about"):
            entry["id"] = attrs["rdf:about"]
        self.children(el, depth, base)
        self.inentry = False
        self.has_content = False

    def h_image(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if self.inentry:
            raise _Decline("image in an item")
        self.feed.setdefault("image", {})
        self.inimage = True
        self.title_depth = -1
        self.parts(el, depth, base, _IMAGE_PARTS, "image")
        self.inimage = False

    def h_size(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if not self.inimage:
            raise _Decline("width outside an image")
        _leaf(el)

    # --- text elements -----------------------------------------------------------------

    def text(self, el: ET.Element, element: str, base: str) -> str:
        """``push(element, 1)`` ... ``pop(element)`` of a plain text element."""
        output = _leaf(el).strip()
        if output and element in _RELATIVE and (element != "id" or self.guidislink):
            output = _join(base, output)
        return _repair(output)

    def h_plain(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        """An element without a handler whose text parse reads (Atom icon and logo)."""
        name = self.name(el.tag)[0]
        if attrs:
            raise _Decline("attributes")  # feedparser would store the attributes instead
        self.store(name, self.text(el, name, base), depth, None)

    def content(
        self,
        el: ET.Element,
        attrs: dict[str, str],
        element: str,
        default_type: str,
        depth: int,
        base: str,
        expecting: bool = True,
    ) -> tuple[str, dict[str, Any]]:
        """``push_content`` ... ``pop``: (text, contentparams)."""
        ctype = _M.map_content_type(attrs.get("type", default_type))
        if "mode" in attrs or "src" in attrs:
            raise _Decline("content mode or src")
        detail: dict[str, Any] = {"type": ctype, "language": None, "base": base}
        if ctype == "application/xhtml+xml":
            if not self.atom or element == "title":
                raise _Decline("XHTML")
            output = self.xhtml(el)
        elif ctype in _TEXT_TYPES:
            output = _leaf(el).strip()
        else:
            raise _Decline(f"content type {ctype}")  # base64, XML, images...
        if not expecting:
            return output, detail
        if not self.atom and ctype == "text/plain" and _M.looks_like_html(output):
            detail["type"] = "text/html"
        return _repair(output), detail

    def xhtml(self, el: ET.Element) -> str:
        """Inline XHTML as feedparser serializes it (``unknown_starttag`` with
        ``contentparams['type'] == 'application/xhtml+xml'``), wrapper div removed."""
        pieces: list[str] = []
        if el.text:
            pieces.append(escape(el.text))
        for child in el:
            self.xhtml_element(child, pieces)
            if child.tail:
                pieces.append(escape(child.tail))
        # mixin.pop(): drop the enclosing <div> if everything is inside it.
        while len(pieces) > 1 and not pieces[-1].strip():
            del pieces[-1]
        while len(pieces) > 1 and not pieces[0].strip():
            del pieces[0]
        first = pieces[0] if pieces else ""
        if (first == "<div>" or first.startswith("<div ")) and pieces[-1] == "</div>":
            level = 0
            for piece in pieces[:-1]:
                if piece.startswith("</"):
                    level -= 1
                    if level == 0:
                        break
                elif piece.startswith("<") and not piece.endswith("/>"):
                    level += 1
            else:
                pieces = pieces[1:-1]
        return "".join(pieces).strip()

    def xhtml_element(self, el: ET.Element, pieces: list[str]) -> None:
        tag = el.tag
        if not tag.startswith("{" + _XHTML_NS + "}"):
            raise _Decline("non-XHTML element in XHTML content")
        local = tag[len(_XHTML_NS) + 2 :].lower()
        if local in _XHTML_SPECIAL:
            raise _Decline(f"XHTML element {local}")
        attrs = []
        for key, value in el.attrib.items():
            if key[0] == "{" or key.lower() in ("base", "xmlns"):
                raise _Decline("XHTML attribute")
            key = key.lower()
            attrs.append((key, (value.lower() or value) if key in ("rel", "type") else value))
        if len({k for k, _ in attrs}) != len(attrs):
            raise _Decline("repeated XHTML attribute")
        pieces.append(f"<{local}{_M.strattrs(attrs)}>")
        if el.text:
            pieces.append(escape(el.text))
        for child in el:
            self.xhtml_element(child, pieces)
            if child.tail:
                pieces.append(escape(child.tail))
        pieces.append(f"</{local}>")

    def h_title(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        expecting = self.infeed or self.inentry
        output, detail = self.content(el, attrs, "title", "text/plain", depth, base, expecting)
        if expecting and not (-1 < self.title_depth <= depth):
            self.store("title", output, depth, detail)
        if output:
            self.title_depth = depth

    def h_media_title(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        saved = self.title_depth
        self.h_title(el, attrs, depth, base)
        self.title_depth = saved

    def h_description(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if "summary" in self.context() and not self.has_content:
            self.h_content(el, attrs, depth, base)
            return
        expecting = self.infeed or self.inentry
        output, detail = self.content(el, attrs, "description", "text/html", depth, base, expecting)
        if expecting:
            self.store("description", output, depth, detail)

    def h_summary(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if "summary" in self.context() and not self.has_content:
            self.h_content(el, attrs, depth, base)
            return
        output, detail = self.content(el, attrs, "summary", "text/plain", depth, base)
        self.store("summary", output, depth, detail)

    def h_content(
        self,
        el: ET.Element,
        attrs: dict[str, str],
        depth: int,
        base: str,
        default_type: str = "text/plain",
    ) -> None:
        self.has_content = True
        output, detail = self.content(el, attrs, "content", default_type, depth, base)
        copy_to_summary = _M.map_content_type(attrs.get("type", default_type)) in (
            _TEXT_TYPES | _HTML_TYPES
        )
        if self.inentry:
            self.entries[-1].setdefault("content", []).append({**detail, "value": output})
        elif self.infeed:
            self.context()["content"] = output
        if copy_to_summary:
            self.context().setdefault("summary", output)

    def h_content_encoded(
        self, el: ET.Element, attrs: dict[str, str], depth: int, base: str
    ) -> None:
        self.h_content(el, attrs, depth, base, "text/html")

    def h_link(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        attrs = dict(attrs)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        context = self.context()
        attrs = _M._enforce_href(attrs)
        if "href" in attrs:
            attrs["href"] = _join(base, attrs["href"])
        links = context.setdefault("links", [])
        if not (self.inentry and self.inimage):
            links.append(dict(attrs))
        if "href" in attrs:
            if len(el):
                raise _Decline("link with children")
            if attrs["rel"] == "alternate" and _M.map_content_type(attrs["type"]) in _HTML_TYPES:
                context["link"] = attrs["href"]
            return
        output = self.text(el, "link", base)
        if self.inentry:
            if not self.inimage:
                output = _QUERY_FIX.sub(r"&\g<1>", output.replace("&amp;", "&"))
                self.entries[-1]["link"] = output
                if output:
                    self.entries[-1]["links"][-1]["href"] = output
        elif self.infeed:
            context = self.context()
            output = _QUERY_FIX.sub(r"&\g<1>", output)
            context["link"] = output
            context["links"][-1]["href"] = output

    def h_enclosure(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if len(el):
            raise _Decline("enclosure with children")
        attrs = _M._enforce_href(dict(attrs))
        attrs["rel"] = "enclosure"
        self.context().setdefault("links", []).append(attrs)

    def h_guid(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        output = self.text(el, "id", base)
        self.store("id", output, depth, None)
        context = self.context()
        context.setdefault("guidislink", self.guidislink and "link" not in context)
        if self.guidislink:
            context.setdefault("link", output)

    def h_date(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        key = _DATES[self.name(el.tag)[0]]
        output = self.text(el, key, base)
        self.store(key, output, depth, None)
        self.context()[key + "_parsed"] = _parse_date(output)

    # --- people ------------------------------------------------------------------------

    def h_author(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        self.inauthor = True
        self.context().setdefault("authors", []).append({})
        if len(el):
            if (el.text or "").strip() or any((c.tail or "").strip() for c in el):
                raise _Decline("author with text and elements")
            self.parts(el, depth, base, _AUTHOR_PARTS, "author")
            output = ""
        else:
            output = _repair((el.text or "").strip())
        self.store("author", output, depth, None)
        self.inauthor = False
        _Shim(self.context())._sync_author_detail()

    def h_owner(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if self.inauthor:
            raise _Decline("owner in author")
        self.inpublisher = True
        self.parts(el, depth, base, ("itunes_name", "itunes_email", "name", "email"), "owner")
        self.inpublisher = False

    def h_person_part(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        key = "email" if self.name(el.tag)[0].endswith("email") else "name"
        value = _leaf(el).strip()  # push(key, 0): no post-processing
        if self.inpublisher:
            _Shim(self.context())._save_author(key, value, "publisher")
        elif self.inauthor:
            _Shim(self.context())._save_author(key, value)
        elif not self.incontributor:  # a contributor's go where parse does not look
            raise _Decline("name outside a person")

    def h_contributor(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if self.inauthor or self.inpublisher or self.incontributor:
            raise _Decline("nested people")
        self.incontributor = True
        self.parts(el, depth, base, _AUTHOR_PARTS, "contributor")
        self.incontributor = False

    def h_source(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        """RSS 2.0's <source url="...">Name</source>: filed under "source", which parse
        does not read, but feedparser counts titles afresh after it. (Atom's <source>
        holds a whole feed head: declined.)"""
        if not self.inentry:
            raise _Decline("source outside an item")
        _leaf(el)
        self.title_depth = -1

    def h_url(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        if not (self.inauthor or self.inimage or self.incontributor):
            raise _Decline("url outside a person and an image")
        output = self.text(el, "href", base)
        self.store("href", output, depth, None)
        if self.inauthor:
            _Shim(self.context())._save_author("href", output)

    # --- Media RSS, iTunes -------------------------------------------------------------

    def h_media_group(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        self.children(el, depth, base)

    def h_media_content(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        self.context().setdefault("media_content", []).append(attrs)
        self.children(el, depth, base)

    def h_media_thumbnail(
        self, el: ET.Element, attrs: dict[str, str], depth: int, base: str
    ) -> None:
        context = self.context()
        context.setdefault("media_thumbnail", []).append(attrs)
        url = self.text(el, "url", base)
        self.store("href", url, depth, None)  # FeedParserDict files "url" as "href"
        if url.strip() and "url" not in context["media_thumbnail"][-1]:
            context["media_thumbnail"][-1]["url"] = url

    def h_itunes_image(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        _leaf(el)
        if attrs.get("href"):
            self.context()["image"] = {"href": attrs.get("href")}
        elif attrs.get("url"):
            self.context()["image"] = {"href": attrs.get("url")}

    # --- elements whose effects parse never reads --------------------------------------

    def h_harmless(self, el: ET.Element, attrs: dict[str, str], depth: int, base: str) -> None:
        _leaf(el)

    def h_itunes_category(
        self, el: ET.Element, attrs: dict[str, str], depth: int, base: str
    ) -> None:
        self.parts(el, depth, base, ("itunes_category",), "itunes:category")


_DATES = {
    **dict.fromkeys(("published", "issued", "pubdate", "dcterms_issued"), "published"),
    **dict.fromkeys(
        ("updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"), "updated"
    ),
    **dict.fromkeys(("created", "dcterms_created"), "created"),
}
_AUTHOR_PARTS = {"name", "email", "uri", "url", "homepage", "itunes_name", "itunes_email"}
_SPECIAL = {"icon", "logo"}
_IMAGE_PARTS = {"title", "link", "description", "url", "href", "width", "height"}
_R = _Reader
_HANDLERS: dict[str, Any] = {
    "rss": _R.h_rss,
    "rdf_rdf": _R.h_rdf,
    "channel": _R.h_channel,
    "feed": _R.h_feed,
    "item": _R.h_item,
    "entry": _R.h_item,
    "image": _R.h_image,
    "width": _R.h_size,
    "height": _R.h_size,
    "icon": _R.h_plain,
    "logo": _R.h_plain,
    "title": _R.h_title,
    "dc_title": _R.h_title,
    "media_title": _R.h_media_title,
    "description": _R.h_description,
    "dc_description": _R.h_description,
    "media_description": _R.h_description,
    "summary": _R.h_summary,
    "itunes_summary": _R.h_summary,
    "content": _R.h_content,
    "content_encoded": _R.h_content_encoded,
    "link": _R.h_link,
    "enclosure": _R.h_enclosure,
    "guid": _R.h_guid,
    "id": _R.h_guid,
    **dict.fromkeys(_DATES, _R.h_date),
    **dict.fromkeys(
        ("author", "dc_author", "dc_creator", "itunes_author", "managingeditor"), _R.h_author
    ),
    **dict.fromkeys(("name", "email", "itunes_name", "itunes_email"), _R.h_person_part),
    **dict.fromkeys(("uri", "url", "homepage"), _R.h_url),
    "itunes_owner": _R.h_owner,
    "contributor": _R.h_contributor,
    "source": _R.h_source,
    "media_group": _R.h_media_group,
    "media_content": _R.h_media_content,
    "media_thumbnail": _R.h_media_thumbnail,
    "itunes_image": _R.h_itunes_image,
    "itunes_link": _R.h_itunes_image,
    "itunes_category": _R.h_itunes_category,
    **dict.fromkeys(
        (
            # push_content / pop_content into keys parse does not read
            "subtitle",
            "tagline",
            "itunes_subtitle",
            "rights",
            "copyright",
            "dc_rights",
            "info",
            "feedburner_browserfriendly",
            # push / pop, or attributes, into keys parse does not read
            "category",
            "keywords",
            "dc_subject",
            "media_category",
            "itunes_keywords",
            "media_keywords",
            "generator",
            "language",
            "dc_language",
            "cloud",
            "webmaster",
            "dc_publisher",
            "itunes_explicit",
            "itunes_block",
            "expirationdate",
            "newlocation",
            "media_rating",
            "media_credit",
            "media_restriction",
            "media_license",
            "media_player",
            "dc_contributor",  # push("name", 0), filed under "contributors"
        ),
        _R.h_harmless,
    ),
}
