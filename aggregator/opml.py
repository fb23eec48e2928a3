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
from pathlib import Path
from typing import NoReturn
from xml.parsers import expat

from aggregator.config.values import check_feed_url, normalize_url
from aggregator.errors import AggregatorError, ConfigError, ConfigProblem
from aggregator.models import Config, is_mail_key

log = logging.getLogger(__name__)

# Where feeds written outside any group (at the top of <body>) go.
DEFAULT_TAB = "Importés"
# A file picked by mistake (a photo, a database) should not be read in full.
MAX_SIZE = 20 * 1024 * 1024

# An OPML bomb without a DTD: a file of a million outlines, or nested a million deep.
# Real exports hold a few thousand feeds at most, two or three levels deep.
MAX_FEEDS = 5000
MAX_DEPTH = 64

Item = tuple[str, str, str | None]  # (tab, url, title)


@dataclass(frozen=True)
class Converted:
    """A ``feed://`` address of the file, imported as the https address ``url``."""

    line: int
    original: str
    url: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.original} was imported as {self.url}"


def feed_scheme_to_https(url: str) -> str | None:
    """The http(s) address behind a ``feed:`` one, or None if ``url`` is not one.

    ``feed://host/path`` (the "feed" pseudo-scheme some browsers and exporters write)
    means ``https://host/path`` today; ``feed:https://...`` wraps the real address.
    """
    text = url.strip()
    if text[:5].lower() != "feed:":
        return None
    rest = text[5:]
    if rest[:2] == "//":
        return "https:" + rest
    if rest[:7].lower() == "http://" or rest[:8].lower() == "https://":
        return rest
    return None


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


def read_opml(
    data: bytes,
    *,
    source: str,
    skipped: list[Skipped] | None = None,
    converted: list[Converted] | None = None,
) -> list[Item]:
    """The feeds of an OPML file, in document order, as ``(tab, url, title)``.

    Feeds at the top of ``<body>`` go to the tab ``DEFAULT_TAB``; feeds in nested
    groups go to their outermost group (our tabs are one level deep). Outlines without
    ``xmlUrl`` that hold nothing (Netvibes widgets, separators) and outlines whose
    ``xmlUrl`` is not an http(s) URL are left out and appended to ``skipped`` when it
    is given. A ``feed://`` address is imported as ``https://`` and noted in
    ``converted``. ``source`` names the file in messages. More than ``MAX_FEEDS``
    feeds or outlines nested deeper than ``MAX_DEPTH`` are refused.

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
    # Where <body> and the outermost group are in ``stack`` (-1: not open), so that
    # no element costs a walk of the whole stack.
    body_at = [-1]
    groups_at: list[int] = []
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
        if len(stack) >= MAX_DEPTH:
            refuse(f"elements are nested more than {MAX_DEPTH} levels deep; OPML uses 2 or 3")
        in_body = body_at[0] >= 0
        if name != "outline" or not in_body:
            if name == "body" and not in_body:
                body_at[0] = len(stack)
            stack.append((name, None))
            return
        line = parser.CurrentLineNumber
        outlines.append([line, False])
        # Exporters disagree on case (xmlUrl, xmlurl, XMLURL).
        attrs = {k.lower(): v for k, v in attrs.items()}
        label = _clean(attrs.get("text")) or _clean(attrs.get("title"))
        url = (attrs.get("xmlurl") or "").strip()
        if not url:
            groups_at.append(len(stack))
            stack.append((name, label or DEFAULT_TAB))
            return
        stack.append((name, None))
        outlines[-1][1] = True
        original = url
        https = feed_scheme_to_https(url)
        if https is not None:
            url = https
        try:
            check_feed_url(url)
        except ValueError as e:
            _note(skipped, Skipped(line, "invalid address", str(e)))
            return
        if https is not None and converted is not None:
            converted.append(Converted(line, original, url))
        if len(items) >= MAX_FEEDS:
            refuse(f"more than {MAX_FEEDS} feeds; split the file")
        # Only the outermost group names a tab: ours are one level deep.
        tab = stack[groups_at[0]][1] if groups_at else None
        title = label if label and label not in (url, original) else None
        items.append((tab or DEFAULT_TAB, url, title))

    def end(name: str) -> None:
        stack.pop()
        depth = len(stack)
        if groups_at and groups_at[-1] == depth:
            groups_at.pop()
        if body_at[0] == depth:
            body_at[0] = -1
        if name == "outline" and outlines and body_at[0] >= 0:
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
    converted: list[Converted] = field(default_factory=list)

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
        if self.converted:
            k = len(self.converted)
            text += f"; {k} feed:// address{'es' * (k != 1)} read as https://"
        return text


def plan_import(
    config: Config | None,
    items: Iterable[Item],
    skipped: Iterable[Skipped] = (),
    converted: Iterable[Converted] = (),
) -> ImportPlan:
    """Split ``items`` into new feeds and feeds already in ``config`` (or earlier in
    ``items``), comparing URLs with ``normalize_url`` like the feeds.yaml validator."""
    plan = ImportPlan(skipped=list(skipped), converted=list(converted))
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


def prepare_import(data: bytes, *, source: str, config: Config | None) -> ImportPlan:
    """The dry run of an import (``aggregator import-opml --dry-run`` and the
    dashboard's review step): read the file, then plan it against ``config``.

    Raises like ``read_opml``. Nothing is written.
    """
    skipped: list[Skipped] = []
    converted: list[Converted] = []
    items = read_opml(data, source=source, skipped=skipped, converted=converted)
    return plan_import(config, items, skipped, converted)


def apply_import(path: str | Path, plan: ImportPlan) -> Config:
    """Add the plan's new feeds to feeds.yaml in one write (``config.edit.add_feeds``:
    locked, comments kept, re-applied over a hand edit). A feed followed since the
    plan was made (another tab, a hand edit) is left out instead of refusing the
    whole import. Returns the new configuration."""
    from aggregator.config.edit import add_feeds

    return add_feeds(path, plan.add, skip_followed=True)


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
    config: Config,
    *,
    title: str = "Feeds",
    site_links: Mapping[str, str] | None = None,
    titles: Mapping[str, str] | None = None,
    feed_urls: Mapping[str, str] | None = None,
) -> bytes:
    """The tabs and feeds of ``config`` as an OPML 2.0 document (UTF-8).

    One outline per tab holding one ``type="rss"`` outline per feed; ``site_links``
    (feed URL -> home page, as learned by fetching) fills ``htmlUrl`` when known.
    A feed's name is its title in feeds.yaml, else its own title as fetched
    (``titles``: feed URL -> title, e.g. ``FeedState.title``), else its URL.
    ``feed_urls`` maps an address written in feeds.yaml (a handle, a site) to the
    feed it was resolved to (``Storage.resolutions``): other readers get the feed.
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
        # Mail sources (issue 12) are folders of the owner's mailbox: no feed to give.
        feeds = [f for f in tab.feeds if not is_mail_key(f.url)]
        if not feeds:
            lines.append(f"    <outline text={name} title={name}/>")
            continue
        lines.append(f"    <outline text={name} title={name}>")
        for feed in feeds:
            label = _attr(feed.title or (titles or {}).get(feed.url) or feed.url)
            extra = ""
            if site_links and site_links.get(feed.url):
                extra = f" htmlUrl={_attr(site_links[feed.url])}"
            lines.append(
                f'      <outline type="rss" text={label} title={label} '
                f"xmlUrl={_attr((feed_urls or {}).get(feed.url) or feed.url)}{extra}/>"
            )
        lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")
