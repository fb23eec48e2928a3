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
subset where that equivalence is evident (see ``_DECLINE`` comments below): comments
in odd places, CDATA, doctypes, unknown entities, tags that html5lib closes or opens
implicitly (a block inside <p>, <li> outside a list, tables, nested <a>...), elements
dropped with their content, upper-case names, duplicate or oddly written attributes,
misnested end tags. tests/test_fastsanitize.py proves the equality differentially
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
# Allowed tags whose tree rules we do not model: tables (foster parenting, implied
# tbody), ruby annotations (implied end tags).
_UNMODELLED = frozenset(
    {"table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th", "ruby", "rp", "rt"}
)

FinishTag = Callable[[str, dict[str, str], str], "dict[str, str] | None"]


class FastSanitizer:
    """``clean(html, base_url)`` -> what bleach would output, or None to decline.

    - ``allowed``: tags the sanitizer keeps; ``parser_tags``: tags html5lib's tokenizer
      lets through to the tree (any other tag is stripped there: it becomes "" or, for
      a block-level start tag after the first tag, "\\n" -- ``block_level``).
    - ``finish_tag(name, attrs, base_url)``: the sanitizer's verdict on a kept tag's
      attributes (None: drop the tag), from the bleach path's own code.
    - ``attr_value(value)``: a value quoted and escaped as bleach's serializer does.
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
        entities: Collection[str],
    ) -> None:
        self.allowed = frozenset(allowed)
        self.parser_tags = frozenset(parser_tags)
        self.block_level = frozenset(block_level)
        self.finish_tag = finish_tag
        self.attr_value = attr_value
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
                text.append(data)
                continue
            name = m.group("name")
            if name is None:  # a comment: dropped, but it splits the text around it
                if pre_start:
                    return None
                if text:
                    flushed = self._text(text)
                    if flushed is None:
                        return None
                    out.append(flushed)
                    text = []
                continue
            closing = m.group("end")
            attrs = m.group("attrs")
            if name not in parser_tags:
                # Stripped by bleach's tokenizer; html5lib never sees it.
                if pre_start or (closing and (attrs or m.group("slash"))):
                    return None
                if not closing and seen_tag and name in self.block_level:
                    text.append("\n")
                seen_tag = True
                continue
            seen_tag = True
            pre_start = False
            if name not in allowed or name in _UNMODELLED:
                return None  # dropped with its content, or tree rules not modelled
            if text:
                flushed = self._text(text)
                if flushed is None:
                    return None
                out.append(flushed)
                text = []
            if closing:
                if attrs or m.group("slash") or not stack or stack[-1] != name:
                    return None  # misnested, void, or an end tag with attributes
                stack.pop()
                out.append(f"</{name}>")
                continue
            if stack:
                if name in _CLOSES_P and "p" in stack:
                    return None
                if name in _HEADINGS and stack[-1] in _HEADINGS:
                    return None
                if name in _FORMATTING and name in stack:
                    return None
                if len(stack) >= MAX_DEPTH:
                    return None
            if name == "li" and (not stack or stack[-1] not in ("ul", "ol")):
                return None
            if name in ("dd", "dt") and (not stack or stack[-1] != "dl"):
                return None
            void = name in _VOID
            if m.group("slash") and not void:
                return None  # "<p/>" is a start tag: leave such oddities to html5lib
            if attrs or name not in no_attr:
                tag = self._tag(name, attrs, base_url)
                if tag is None:
                    return None
                out.append(tag)
            else:
                out.append(no_attr[name])
            if not void:
                stack.append(name)
                pre_start = name == "pre"
        if text:
            flushed = self._text(text)
            if flushed is None:
                return None
            out.append(flushed)
        # At the end of input html5lib leaves the open elements open; the serializer
        # closes them.
        out.extend(f"</{name}>" for name in reversed(stack))
        return "".join(out)

    def _tag(self, name: str, attrs: str, base_url: str) -> str | None:
        """A kept start tag as bleach writes it; "" when it is dropped; None: decline."""
        values: dict[str, str] = {}
        if attrs:
            for m in _ATTR.finditer(attrs):
                key = m.group(1)
                if key in values:
                    return None  # html5lib keeps the first: not worth modelling
                value = m.group(2)
                if value is None:
                    value = m.group(3)
                    if value is None:
                        value = m.group(4) or ""
                values[key] = value
        kept = self.finish_tag(name, values, base_url)
        if kept is None:
            return ""
        attr_value = self.attr_value
        return (
            "<" + name + "".join(f" {key}={attr_value(value)}" for key, value in kept.items()) + ">"
        )

    def _text(self, parts: list[str]) -> str | None:
        """A text node as bleach writes it: entities it recognizes stay as written,
        other "&" become "&amp;", ">" becomes "&gt;" (no "<" can be in it)."""
        data = "".join(parts)
        if "&" not in data:
            return data.replace(">", "&gt;")
        pieces = data.split("&")
        out = [pieces[0].replace(">", "&gt;")]
        for piece in pieces[1:]:
            m = _ENTITY.match(piece)
            if m is not None:
                name = m.group(1)
                if name[0] != "#" and name + ";" not in self.entities:
                    return None
                out.append("&" + name + ";" + piece[m.end() :].replace(">", "&gt;"))
            elif not piece or piece[0] in _AMP_END:
                # bleach's match_entity stops at once: a bare ampersand.
                out.append("&amp;" + piece.replace(">", "&gt;"))
            else:
                return None
        return "".join(out)


_ENTITY = re.compile(r"(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
# bleach.html5lib_shim.match_entity's end characters: "<&=;" + string.whitespace
_AMP_END = frozenset("<&=; \t\n\r\x0b\x0c")
