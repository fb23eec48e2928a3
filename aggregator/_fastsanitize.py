"""A fast path for ``sanitize.sanitize_html``: plain, well-formed markup without bleach.

bleach (html5lib parse -> tree walker -> sanitizer filter -> serializer) stays the
sanitizer of record. Most feed content, though, is simple: paragraphs, links, emphasis,
lists, figures, properly nested and closed. For such a fragment html5lib's tree is
exactly the tag sequence as written, so a strict tokenizer (one ``re`` per token) and
a stack give the same tree for a fraction of the cost; the sanitizer's decisions on
attributes (allowlist, URL checks, our additions) are made by the very same code as on
the bleach path, passed in by ``sanitize``; text and attributes are escaped the way
bleach's serializer does it.

``FastSanitizer.clean`` returns None -- "ask bleach" -- as soon as the input leaves the
subset where that equivalence is evident (see the comments below): comments in odd
places, CDATA, doctypes, unknown entities, tags that html5lib closes or opens
implicitly (a block inside <p>, <li> outside a list, a cell without its end tag,
nested <a>...) or moves (foster parenting out of tables), foreign content that HTML
breaks out of, upper-case names, duplicate or oddly written attributes, misnested end
tags. tests/test_fastsanitize.py proves the equality differentially
(test fixtures, the benchmark corpus, generated fragments).

This module imports no bleach: ``sanitize`` stays the only one that does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

# Set AGGREGATOR_NO_FAST_SANITIZE=1 (read by sanitize) to always use bleach.
ENV_SWITCH = "AGGREGATOR_NO_FAST_SANITIZE"

MAX_INPUT = 512 * 1024  # longer inputs are rare: leave them to the parser of record
MAX_DEPTH = 64

# --- the tokenizer ----------------------------------------------------------------

_WS = "\t\n\f "  # HTML's ASCII whitespace (CR is normalized away first)
_TOKEN = re.compile(
    rf"""
    (?P<text>[^<]+)
  | <(?P<end>/)?(?P<name>[a-z][a-z0-9]*)
     (?P<attrs>(?:[{_WS}]++[a-z][a-z0-9-]*+
        (?:[{_WS}]*+=[{_WS}]*+(?:"[^"]*+"|'[^']*+'|[^{_WS}"'=<>`&]++))?+)*+)
     [{_WS}]*+(?P<slash>/?)>
  | <!--(?!-?>)(?:(?!--)[^\x00])*+-->
    """,
    re.VERBOSE,
)
_ATTR = re.compile(
    rf"""[{_WS}]+([a-z][a-z0-9-]*)(?:[{_WS}]*=[{_WS}]*(?:"([^"]*)"|'([^']*)'|([^{_WS}"'=<>`&]+)))?"""
)
# Characters html5lib treats specially (noncharacters are reported and may be changed
# by some versions): never worth the doubt.
_ODD_CHARS = re.compile("[\ufdd0-\ufdef\U0001fffe\U0001ffff\U0010fffe\U0010ffff]")

# --- what html5lib's tree builder does ("in body" insertion mode) -------------------

# Start tags that close an open <p> (html5lib startTagCloseP, headings, lists, pre, hr,
# table...): with a <p> open they would change the tree, so we decline them there.
_CLOSES_P = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "details", "dialog",
        "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "header",
        "hgroup", "main", "menu", "nav", "ol", "p", "section", "summary", "ul",
        "h1", "h2", "h3", "h4", "h5", "h6", "pre", "listing", "li", "dd", "dt", "hr",
        "table", "form", "xmp", "plaintext",
    }
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Formatting elements (adoption agency, Noah's ark): never nested in themselves here.
_FORMATTING = frozenset(
    {
        "a",
        "b",
        "big",
        "code",
        "em",
        "font",
        "i",
        "nobr",
        "s",
        "small",
        "strike",
        "strong",
        "tt",
        "u",
    }
)
_VOID = frozenset({"br", "hr", "img"})
# End tags that may close formatting elements left open inside them.
_IMPLICIT_CLOSERS = _FORMATTING | _HEADINGS | {
    "p", "li", "dd", "dt", "div", "blockquote", "figure", "figcaption", "details", "summary"
}  # fmt: skip
# Allowed tags whose tree rules we do not model: ruby annotations (implied end tags).
_UNMODELLED = frozenset({"ruby", "rp", "rt"})

# Tables (html5lib's "in table", "in table body", "in row", "in cell", "in caption"
# insertion modes), in their plain shape only: each part directly in its parent, every
# row and cell closed by its own end tag (but </table> may close a row group, and a
# <tr> right in <table> gets the <tbody> html5lib implies), nothing but whitespace
# between the structural tags (other text or elements there are foster-parented:
# moved before the table). Inside a cell or a caption the "in body" rules apply.
_TABLE_TAGS = frozenset({"table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th"})
_ROW_GROUPS = frozenset({"thead", "tbody", "tfoot"})
# Elements whose content is table structure, not flow: the "in table" modes.
_TABLE_STRUCTURE = _ROW_GROUPS | {"table", "tr"}
_TABLE_PARENT = {
    "caption": ("table",),
    "thead": ("table",),
    "tbody": ("table",),
    "tfoot": ("table",),
    "tr": ("table", "thead", "tbody", "tfoot"),
    "td": ("tr",),
    "th": ("tr",),
}

# Elements the sanitizer drops with their content (sanitize.DROP_WITH_CONTENT) whose
# parsing we model: raw text up to the matching end tag (script data, RAWTEXT, RCDATA;
# html5lib's tokenizer switches state for them) ...
_RAW = frozenset(
    {"script", "style", "iframe", "noscript", "noembed", "noframes", "textarea", "title"}
)
# ... normal content, parsed then dropped whole (a media element becomes a link) ...
_DROP_CONTENT = frozenset({"object", "applet", "video", "audio", "button"})
_EMBED = "embed"  # void
_MEDIA = frozenset({"iframe", "video", "audio", "embed", "object"})
# ... foreign content (svg, math): skipped to its end tag when no HTML element can
# break out of it (see ``_skip_foreign``) ...
_FOREIGN = frozenset({"svg", "math"})
# html5lib's InForeignContentPhase.breakoutElements (and <font>, which breaks out with
# some attributes), the integration points (where HTML rules apply again inside foreign
# content), elements with their own rules in foreign content, nested foreign roots, and
# <source> (the sanitizer takes a media URL from any element of that name in <video>).
_FOREIGN_STOP = frozenset(
    {
        "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt",
        "em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li",
        "listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span",
        "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var", "font",
        "svg", "math", "foreignobject", "desc", "title", "script", "style",
        "mi", "mo", "mn", "ms", "mtext", "source",
    }
)  # fmt: skip
# ... and the others (select and template modes, frames): declined.
# Dropped elements html5lib reconstructs the active formatting elements before.
_RECONSTRUCT_DROPPED = _FOREIGN | _DROP_CONTENT | {_EMBED}
# Those html5lib parses in its "text" mode: no formatting element is reopened before
# or inside them (<textarea>'s content is "in body" characters: it would be).
_RAW_NO_RECONSTRUCT = _RAW - {"textarea"}
_RAW_END = {name: re.compile(rf"</{name}(?=[{_WS}/>])", re.IGNORECASE) for name in _RAW}

# Allowed start tags before which html5lib reconstructs the active formatting elements
# (formatting, void formatting, "any other" inline); block-level ones do not.
_RECONSTRUCT = frozenset(
    {
        "a", "b", "code", "em", "i", "s", "small", "strong", "u", "br", "img",
        "abbr", "cite", "dfn", "kbd", "mark", "q", "samp", "sub", "sup", "time", "var",
        "del", "ins",
    }
)  # fmt: skip

FinishTag = Callable[[str, dict[str, str], str], "dict[str, str] | None"]


class FastSanitizer:
    """``clean(html, base_url)`` -> what bleach would output, or None to decline.

    - ``allowed``: tags the sanitizer keeps; ``parser_tags``: tags html5lib's tokenizer
      lets through to the tree (any other tag is stripped there: it becomes "" or, for
      a block-level start tag after the first tag, "\\n" -- ``block_level``).
    - ``finish_tag(name, attrs, base_url)``: the sanitizer's verdict on a kept tag's
      attributes (None: drop the tag), from the bleach path's own code.
    - ``attr_value(value)``: a value quoted and escaped as bleach's serializer does.
    - ``media_url(attrs, base_url)``: the URL the link replacing a media element points
      to (None: no link), from the bleach path's own code.
    - ``entities``: entity names (with ";") bleach leaves as they are.
    """

    def __init__(
        self,
        *,
        allowed: Collection[str],
        parser_tags: Collection[str],
        block_level: Collection[str],
        finish_tag: FinishTag,
        attr_value: Callable[[str], str],
        media_url: Callable[[dict[str, str], str], str | None],
        entities: Collection[str],
    ) -> None:
        self.allowed = frozenset(allowed)
        self.parser_tags = frozenset(parser_tags)
        self.block_level = frozenset(block_level)
        self.finish_tag = finish_tag
        self.attr_value = attr_value
        self.media_url = media_url
        self.entities = frozenset(entities)
        self._no_attr_tags = {
            name: f"<{name}>" for name in self.allowed if name not in ("a", "img")
        }

    def clean(self, html: str, base_url: str) -> str | None:
        if len(html) > MAX_INPUT or _ODD_CHARS.search(html):
            return None
        if "\r" in html:  # html5lib's input stream does this first
            html = html.replace("\r\n", "\n").replace("\r", "\n")
        out: list[str] = []
        text: list[str] = []  # the pending text node (stripped tags do not split it)
        stack: list[str] = []
        seen_tag = False  # bleach's tokenizer: emitted_last_token
        pre_start = False  # just after <pre>: a leading newline would be dropped
        # Inside an element dropped with its content: the stack depth of that element,
        # the URL of the link that replaces it, whether a <source> may give that URL.
        dropping = 0
        media: str | None = None
        sources = False
        # Formatting elements closed implicitly (by the end of a block, "<p><em>x</p>"):
        # html5lib keeps them in its list of active formatting elements and opens them
        # again before the next text or inline start tag ("reconstruct").
        pending: list[tuple[str, str]] = []
        opened: list[str] = []  # the start tag written for each element of the stack
        allowed, parser_tags, no_attr = self.allowed, self.parser_tags, self._no_attr_tags
        pos, end = 0, len(html)
        match = _TOKEN.match
        while pos < end:
            m = match(html, pos)
            if m is None:
                return None  # a "<" that is not a plain tag or comment
            pos = m.end()
            data = m.group("text")
            if data is not None:
                if pre_start and data[0] == "\n":
                    return None
                pre_start = False
                if pending:
                    self._reopen(pending, stack, opened, out)
                if not dropping:
                    text.append(data)
                continue
            name = m.group("name")
            if name is None:  # a comment: dropped, but it splits the text around it
                if pre_start:
                    return None
                if not self._flush(text, out, stack):
                    return None
                continue
            closing = m.group("end")
            attrs = m.group("attrs")
            slash = m.group("slash")
            if name not in parser_tags:
                # Stripped by bleach's tokenizer; html5lib never sees it.
                if pre_start or (closing and (attrs or slash)):
                    return None
                if pending:  # its "" or "\n" is a characters token: reconstruct
                    self._reopen(pending, stack, opened, out)
                if not closing and seen_tag and name in self.block_level and not dropping:
                    text.append("\n")
                seen_tag = True
                continue
            seen_tag = True
            pre_start = False
            if name in _UNMODELLED:
                return None
            if not self._flush(text, out, stack):
                return None
            structure = bool(stack) and stack[-1] in _TABLE_STRUCTURE
            if structure or name in _TABLE_TAGS:
                # Cells and captions put a marker in the list of active formatting
                # elements: none may wait to be reopened across one.
                if pending or dropping:
                    return None
                if closing or name != "table":
                    if not self._table_tag(
                        name, closing, attrs, slash, stack, opened, out, base_url
                    ):
                        return None
                    continue
                if structure:
                    return None  # <table> right in a table: foster-parented
            if closing:
                if attrs or slash or not stack:
                    return None
                if pending and any(name == p for p, _ in pending):
                    # The adoption agency takes the last element of that name in the
                    # list of active formatting elements: the one waiting, not in the
                    # stack (html5lib drops it from the list and ignores the tag).
                    return None
                if stack[-1] != name:
                    # Only formatting elements above it: they close, and wait in
                    # ``pending`` (html5lib's end of a block, or adoption agency without
                    # a furthest block). Anything else: misnested, for html5lib.
                    if dropping or pending or name not in _IMPLICIT_CLOSERS:
                        return None
                    i = len(stack) - 1
                    while i >= 0 and stack[i] in _FORMATTING and stack[i] != name:
                        i -= 1
                    if i < 0 or stack[i] != name:
                        return None
                    out.extend(f"</{inner}>" for inner in reversed(stack[i + 1 :]))
                    pending.extend(zip(stack[i + 1 :], opened[i + 1 :], strict=True))
                    del stack[i + 1 :], opened[i + 1 :]
                stack.pop()
                opened.pop()
                if not dropping:
                    out.append(f"</{name}>")
                elif len(stack) < dropping:  # the end of a dropped element
                    dropping = 0
                    if media:
                        link = self._link(media, base_url)
                        if link is None:
                            return None
                        out.append(link)
                    media = None
                continue
            values = _attributes(attrs) if attrs else {}
            if values is None:
                return None
            if pending:
                if name == "a" and any(name == p for p, _ in pending):
                    return None  # "<a>" looks for an older one before reconstructing
                if name in _RECONSTRUCT or name in _RECONSTRUCT_DROPPED:
                    self._reopen(pending, stack, opened, out)
                elif name not in allowed and name not in _RAW_NO_RECONSTRUCT:
                    return None
            if name not in allowed:
                if name in _RAW:
                    # Raw text up to "</name" (any case) and a space, "/" or ">".
                    if slash:
                        return None
                    raw_end = _RAW_END[name].search(html, pos)
                    if raw_end is None or not html.startswith(f"</{name}>", raw_end.start()):
                        return None
                    if name == "script" and "<!--" in html[pos : raw_end.start()]:
                        return None  # script data's escaped states: for html5lib
                    pos = raw_end.start() + len(name) + 3
                    media_here = not dropping and name in _MEDIA
                    if media_here and not self._media_link(values, base_url, out):
                        return None
                elif name == _EMBED:
                    if not dropping and not self._media_link(values, base_url, out):
                        return None
                elif name == "source":
                    if dropping and sources and not media:
                        media = self.media_url(values, base_url)
                elif name in _DROP_CONTENT:
                    if slash or (name == "button" and "button" in stack):
                        return None
                    if len(stack) >= MAX_DEPTH:
                        return None
                    stack.append(name)
                    opened.append("")
                    if not dropping:
                        dropping = len(stack)
                        media = self.media_url(values, base_url) if name in _MEDIA else None
                        sources = name in ("video", "audio")
                elif name in _FOREIGN:
                    pos = self._skip_foreign(html, pos, name, slash)
                    if pos < 0:
                        return None
                else:
                    return None  # select, template, frames
                continue
            if stack:
                if name in _CLOSES_P and "p" in stack:
                    return None
                if name in _HEADINGS and stack[-1] in _HEADINGS:
                    return None
                # A formatting element in one of its kind: html5lib nests it
                # ("<b>a <b>b</b></b>"), and Noah's ark drops the oldest of four alike
                # from the list of active formatting elements: we stay below that.
                # <a> first closes the open one: declined.
                if name in _FORMATTING and (name == "a" or stack.count(name) > 2) and name in stack:
                    return None
                if len(stack) >= MAX_DEPTH:
                    return None
            if name == "li" and (not stack or stack[-1] not in ("ul", "ol")):
                return None
            if name in ("dd", "dt") and (not stack or stack[-1] != "dl"):
                return None
            void = name in _VOID
            if slash and not void:
                return None  # "<p/>" is a start tag: leave such oddities to html5lib
            tag = ""
            if not dropping:
                if values or name not in no_attr:
                    kept = self.finish_tag(name, values, base_url)
                    if kept is not None:
                        tag = self._start_tag(name, kept)
                else:
                    tag = no_attr[name]
                out.append(tag)
            if not void:
                stack.append(name)
                opened.append(tag)
                pre_start = name == "pre"
        if dropping:
            return None  # a dropped element open at the end: its link comes last
        if not self._flush(text, out, stack):
            return None
        # At the end of input html5lib leaves the open elements open; the serializer
        # closes them.
        out.extend(f"</{name}>" for name in reversed(stack))
        return "".join(out)

    @staticmethod
    def _reopen(
        pending: list[tuple[str, str]], stack: list[str], opened: list[str], out: list[str]
    ) -> None:
        """html5lib's "reconstruct the active formatting elements": a copy of each
        implicitly closed one, outermost first, opened in the current element."""
        for name, tag in pending:
            out.append(tag)
            stack.append(name)
            opened.append(tag)
        pending.clear()

    def _start_tag(self, name: str, attrs: dict[str, str]) -> str:
        attr_value = self.attr_value
        return "<" + name + "".join(f" {k}={attr_value(v)}" for k, v in attrs.items()) + ">"

    def _media_link(self, attrs: dict[str, str], base_url: str, out: list[str]) -> bool:
        """Write the link that replaces a media element with ``attrs``, if it has a
        usable URL; False when bleach must decide."""
        url = self.media_url(attrs, base_url)
        if url:
            link = self._link(url, base_url)
            if link is None:
                return False
            out.append(link)
        return True

    def _link(self, url: str, base_url: str) -> str | None:
        """The link that replaces a media element (sanitize's _ReadingFilter._media_link)."""
        kept = self.finish_tag("a", {"href": url}, base_url)
        label = self._text([url])
        if kept is None or label is None:
            return None
        return self._start_tag("a", kept) + label + "</a>"

    def _table_tag(
        self,
        name: str,
        closing: str | None,
        attrs: str | None,
        slash: str | None,
        stack: list[str],
        opened: list[str],
        out: list[str],
        base_url: str,
    ) -> bool:
        """A tag met in table structure, or a table part's tag anywhere but <table>'s
        start tag (in a cell it follows the "in body" rules); False: decline.

        Accepted: an end tag closing the current element when it is a table part
        (</table> may also close a row group: html5lib's "in table body" mode closes it
        for us), a part's start tag right in its parent (a <tr> right in <table> first
        opens the <tbody> html5lib implies). Everything else changes html5lib's tree in
        ways we do not model: foster parenting (any other start tag in table structure),
        cells or rows closed implicitly, misplaced parts (ignored or moved).
        """
        top = stack[-1] if stack else ""
        if closing:
            if attrs or slash or name not in _TABLE_TAGS:
                return False
            if name == top:
                count = 1
            elif name == "table" and top in _ROW_GROUPS and stack[-2:-1] == ["table"]:
                count = 2
            else:
                return False
            for _ in range(count):
                out.append(f"</{stack.pop()}>")
                opened.pop()
            return True
        if slash or top not in _TABLE_PARENT.get(name, ()) or len(stack) >= MAX_DEPTH - 1:
            return False
        if name == "tr" and top == "table":
            tbody = self._no_attr_tags.get("tbody")
            if tbody is None:
                return False
            out.append(tbody)
            stack.append("tbody")
            opened.append(tbody)
        values = _attributes(attrs) if attrs else {}
        if values is None:
            return False
        if values or name not in self._no_attr_tags:
            kept = self.finish_tag(name, values, base_url)
            if kept is None:
                return False
            tag = self._start_tag(name, kept)
        else:
            tag = self._no_attr_tags[name]
        out.append(tag)
        stack.append(name)
        opened.append(tag)
        return True

    def _skip_foreign(self, html: str, pos: int, name: str, slash: str | None) -> int:
        """Where an <svg> or <math> element dropped with its content ends (-1: decline).

        Its content must be tokens our tokenizer knows and no tag that leaves foreign
        content (``_FOREIGN_STOP``): then html5lib puts everything up to the matching
        end tag inside it, in the foreign namespace, and the sanitizer drops it whole.
        A self-closing start tag is an empty element there. Tags bleach's tokenizer
        strips never reach the tree (they become text); an end tag must close an
        element opened inside (html5lib pops up to it), any other would be handled by
        the HTML insertion mode.
        """
        if slash:
            return pos
        opened = [name]
        parser_tags = self.parser_tags
        match = _TOKEN.match
        end = len(html)
        while pos < end:
            m = match(html, pos)
            if m is None:
                return -1
            pos = m.end()
            tag = m.group("name")
            if tag is None:
                continue  # text or comment
            if tag in _FOREIGN_STOP and tag != name or tag in _FOREIGN and not m.group("end"):
                return -1
            closing = m.group("end")
            if closing and (m.group("attrs") or m.group("slash")):
                return -1
            if tag not in parser_tags:
                continue
            if closing:
                if tag not in opened:
                    return -1
                del opened[len(opened) - 1 - opened[::-1].index(tag) :]
                if not opened:
                    return pos
            elif not m.group("slash"):
                opened.append(tag)
        return -1

    def _flush(self, text: list[str], out: list[str], stack: list[str]) -> bool:
        """Write the pending text node to ``out`` (and empty it); False when bleach
        must do it (see ``_text``) or when html5lib would move it before a table
        (anything but whitespace right in table structure: foster parenting)."""
        if text:
            if stack and stack[-1] in _TABLE_STRUCTURE and "".join(text).strip(_WS):
                return False
            flushed = self._text(text)
            if flushed is None:
                return False
            out.append(flushed)
            text.clear()
        return True

    def _text(self, parts: list[str]) -> str | None:
        """A text node as bleach writes it: entities it recognizes stay as written,
        other "&" become "&amp;", ">" becomes "&gt;" (no "<" can be in it)."""
        data = "".join(parts)
        if "&" not in data:
            return data.replace(">", "&gt;")
        pieces = data.split("&")
        out = [pieces[0].replace(">", "&gt;")]
        for piece in pieces[1:]:
            # bleach's match_entity: a name runs up to one of "<&=;" or whitespace; it
            # is an entity only when that character is ";".
            if piece[:1] == "#":
                m = _NUMERIC.match(piece)
                if m is None:
                    return None  # "&#;", "&#12a;"...: bleach's quirks, not ours
                out.append("&" + piece[: m.end()] + piece[m.end() :].replace(">", "&gt;"))
                continue
            m = _NAMED.match(piece)
            if m is not None and m.end() > 1:
                if piece[: m.end()] not in self.entities:
                    return None  # bleach keeps "&whatever;" as it is: leave it to bleach
                out.append("&" + piece[: m.end()] + piece[m.end() :].replace(">", "&gt;"))
            else:
                out.append("&amp;" + piece.replace(">", "&gt;"))  # a bare ampersand
        return "".join(out)


def _attributes(attrs: str) -> dict[str, str] | None:
    """The attributes of a tag the tokenizer accepted, in order; None: duplicates
    (html5lib keeps the first one: not worth modelling)."""
    values: dict[str, str] = {}
    for m in _ATTR.finditer(attrs):
        key = m.group(1)
        if key in values:
            return None
        value = m.group(2)
        if value is None:
            value = m.group(3)
            if value is None:
                value = m.group(4) or ""
        values[key] = value
    return values


_NUMERIC = re.compile(r"#(?:[0-9]+|[xX][0-9a-fA-F]+);")
# bleach.html5lib_shim.match_entity's end characters: "<&=;" + string.whitespace
_NAMED = re.compile("[^<&=; \t\n\r\x0b\x0c]*;")
