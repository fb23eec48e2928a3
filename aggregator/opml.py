"""OPML import and export of the feed list (the format Netvibes and every reader export).

Owns: reading an OPML file into ``(tab, url, title)`` triples, deciding which of them
an import adds (``plan_import``), and writing a ``Config`` back as OPML 2.0. Writing
feeds.yaml is ``config.edit``'s job; this module never touches files.

Reading uses the standard library's expat parser with the document type declaration
refused outright: an OPML file has no use for one, and a DTD is what XML bombs
("billion laughs", CVE-2003-1564) and external entities (XXE) need. Refusing it is
simpler and stricter than limiting entity expansion (the approach of defusedxml).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from aggregator.config.values import check_feed_url, normalize_url
from aggregator.errors import AggregatorError, ConfigError, ConfigProblem
from aggregator.models import Config

log = logging.getLogger(__name__)

# Where feeds written outside any group (at the top of <body>) go.
DEFAULT_TAB = "Importés"
# A file picked by mistake (a photo, a database) should not be read in full.
MAX_SIZE = 20 * 1024 * 1024

Item = tuple[str, str, str | None]  # (tab, url, title)


@dataclass(frozen=True)
class Skipped:
    """An outline that is not imported, and why (``reason`` is a short category)."""

    line: int
    reason: str  # "invalid address" | "not a feed"
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class _Refused(Exception):
    """Raised from inside an expat handler to stop parsing at once."""


def read_opml(data: bytes, *, source: str, skipped: list[Skipped] | None = None) -> list[Item]:
    """The feeds of an OPML file, in document order, as ``(tab, url, title)``.

    Feeds at the top of ``<body>`` go to the tab ``DEFAULT_TAB``; feeds in nested
    groups go to their outermost group (our tabs are one level deep). Outlines without
    ``xmlUrl`` that hold nothing (Netvibes widgets, separators) and outlines whose
    ``xmlUrl`` is not an http(s) URL are left out and appended to ``skipped`` when it
    is given. ``source`` names the file in messages.

    Raises ConfigError (``FILE:LINE:COL``) for a malformed or refused document,
    AggregatorError naming the file otherwise.
    """
    if len(data) > MAX_SIZE:
        raise AggregatorError(f"{source}: too large for an OPML file ({len(data)} bytes)")
    if not data.strip():
        raise AggregatorError(f"{source}: the file is empty")
    parser = expat.ParserCreate()
    # Belt and braces: never read an external DTD, even if one slipped past the handler.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    items: list[Item] = []
    # Per open element: its name, and for a group outline the name it gives its feeds.
    stack: list[tuple[str, str | None]] = []
    # Per open outline: its line, and whether it turned out to be a feed or a group
    # (an outline without xmlUrl is a group if it holds anything, a widget otherwise).
    outlines: list[list[int | bool]] = []

    def refuse(message: str) -> NoReturn:
        raise _Refused(message, parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)

    def refuse_dtd(*_args: object) -> NoReturn:
        refuse(
            "the file declares a DTD or entities (<!DOCTYPE, <!ENTITY); OPML needs"
            " none and they are refused for safety (XML bombs, external entities)"
        )

    def start(name: str, attrs: dict[str, str]) -> None:
        if not stack and name.lower() != "opml":
            refuse(f"this is not an OPML file (its root element is <{name}>)")
        if outlines:
            outlines[-1][1] = True
        in_body = any(n == "body" for n, _ in stack)
        if name != "outline" or not in_body:
            stack.append((name, None))
            return
        line = parser.CurrentLineNumber
        outlines.append([line, False])
        # Exporters disagree on case (xmlUrl, xmlurl, XMLURL).
        attrs = {k.lower(): v for k, v in attrs.items()}
        label = _clean(attrs.get("text")) or _clean(attrs.get("title"))
        url = (attrs.get("xmlurl") or "").strip()
        if not url:
            stack.append((name, label or DEFAULT_TAB))
            return
        stack.append((name, None))
        outlines[-1][1] = True
        try:
            check_feed_url(url)
        except ValueError as e:
            _note(skipped, Skipped(line, "invalid address", str(e)))
            return
        # Only the outermost group names a tab: ours are one level deep.
        groups = [g for n, g in stack if n == "outline" and g is not None]
        title = label if label and label != url else None
        items.append((groups[0] if groups else DEFAULT_TAB, url, title))

    def end(name: str) -> None:
        stack.pop()
        if name == "outline" and outlines and any(n == "body" for n, _ in stack):
            line, is_feed_or_group = outlines.pop()
            if not is_feed_or_group:
                message = "this outline has no feed address (xmlUrl)"
                _note(skipped, Skipped(int(line), "not a feed", message))

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except _Refused as e:
        message, line, col = e.args
        raise ConfigError([ConfigProblem(source, line, col, message)]) from None
    except expat.ExpatError as e:
        reason = expat.errors.messages.get(e.code, str(e))
        raise ConfigError(
            [ConfigProblem(source, e.lineno, e.offset + 1, f"not valid XML: {reason}")]
        ) from e
    log.debug("%s: %d feeds read", source, len(items))
    return items


def _clean(value: str | None) -> str:
    """One line of text: exporters put newlines and runs of spaces in names."""
    return " ".join((value or "").split())


def _note(skipped: list[Skipped] | None, item: Skipped) -> None:
    log.debug("skipped outline at line %d: %s", item.line, item.message)
    if skipped is not None:
        skipped.append(item)


# --- what an import adds ---------------------------------------------------------


@dataclass
class ImportPlan:
    """Which feeds of an OPML file are new, and which are already in feeds.yaml."""

    add: list[Item] = field(default_factory=list)
    present: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def tabs(self) -> list[str]:
        """The tabs that receive feeds, in order (case-insensitively distinct)."""
        seen: dict[str, str] = {}
        for tab, _url, _title in self.add:
            seen.setdefault(tab.casefold(), tab)
        return list(seen.values())

    def summary(self, *, dry_run: bool = False) -> str:
        n, m = len(self.add), len(self.tabs)
        verb = "would be added" if dry_run else "added"
        text = (
            f"{n} feed{'s' * (n != 1)} {verb} to {m} tab{'s' * (m != 1)}, "
            f"{len(self.present)} already present, {len(self.skipped)} skipped"
        )
        if self.skipped:
            counts: dict[str, int] = {}
            for s in self.skipped:
                counts[s.reason] = counts.get(s.reason, 0) + 1
            text += " (" + ", ".join(f"{c} {r}" for r, c in counts.items()) + ")"
        return text


def plan_import(
    config: Config | None, items: Iterable[Item], skipped: Iterable[Skipped] = ()
) -> ImportPlan:
    """Split ``items`` into new feeds and feeds already in ``config`` (or earlier in
    ``items``), comparing URLs with ``normalize_url`` like the feeds.yaml validator."""
    plan = ImportPlan(skipped=list(skipped))
    known = {normalize_url(f.url) for f in config.feeds} if config is not None else set()
    # An imported feed lands in an existing tab whose name differs only by case,
    # as add_feed does; keep that tab's spelling for the summary.
    tab_names = {t.name.casefold(): t.name for t in config.tabs} if config is not None else {}
    for tab, url, title in items:
        key = normalize_url(url)
        if key in known:
            plan.present.append((tab, url, title))
            continue
        known.add(key)
        plan.add.append((tab_names.get(tab.casefold(), tab), url, title))
    return plan


# --- export ------------------------------------------------------------------------

# XML 1.0 (section 2.2) allows tab, LF, CR and code points from U+0020; anything else
# cannot appear even as a character reference, so it is dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _attr(value: str) -> str:
    value = _NOT_XML.sub("", value)
    # &#10; etc.: a literal newline in an attribute would be normalised to a space.
    for raw, escaped in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&quot;"),
        ("\n", "&#10;"),
        ("\r", "&#13;"),
        ("\t", "&#9;"),
    ):
        value = value.replace(raw, escaped)
    return f'"{value}"'


def write_opml(
    config: Config, *, title: str = "Feeds", site_links: Mapping[str, str] | None = None
) -> bytes:
    """The tabs and feeds of ``config`` as an OPML 2.0 document (UTF-8).

    One outline per tab holding one ``type="rss"`` outline per feed; ``site_links``
    (feed URL -> home page, as learned by fetching) fills ``htmlUrl`` when known.
    """
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_attr(title)[1:-1]}</title>",
        "  </head>",
        "  <body>",
    ]
    for tab in config.tabs:
        name = _attr(tab.name)
        if not tab.feeds:
            lines.append(f"    <outline text={name} title={name}/>")
            continue
        lines.append(f"    <outline text={name} title={name}>")
        for feed in tab.feeds:
            label = _attr(feed.title or feed.url)
            extra = ""
            if site_links and site_links.get(feed.url):
                extra = f" htmlUrl={_attr(site_links[feed.url])}"
            lines.append(
                f'      <outline type="rss" text={label} title={label} '
                f"xmlUrl={_attr(feed.url)}{extra}/>"
            )
        lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")
