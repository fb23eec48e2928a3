"""The Google Reader API's older Atom output, ``reader/atom/<stream>``: what newsboat's
``feedhq`` mode reads items through (``web/greader.py`` has the rest of the API).

Google Reader's own shape: each entry's ``<id>`` is the long item id (newsboat sends it
back in edit-tag), and the read/fresh/starred state are categories of the
``http://www.google.com/reader/`` scheme whose ``label`` newsboat turns into read marks
(``rssparser.cpp``, "fresh" and "read"), so a change made in the dashboard shows there
after a reload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from flask import Response, g

from aggregator.storage._sync import Stream, SyncItem
from aggregator.web import state
from aggregator.web.greader import (
    DEFAULT_N,
    FEED_PREFIX,
    LABEL_PREFIX,
    MAX_CONTENTS_PAGE,
    STATE_PREFIX,
    _body,
    _count,
    _page,
    _stream_title,
    long_id,
    parse_stream,
    stream_id,
)

_ATOM = "http://www.w3.org/2005/Atom"
_GR = "http://www.google.com/schemas/reader/atom/"
_GR_SCHEME = "http://www.google.com/reader/"
READING_STREAM = Stream("all")

ET.register_namespace("", _ATOM)
ET.register_namespace("gr", _GR)


def atom(stream: str | None = None) -> Any:
    """The older Atom output of the same streams (newsboat's feedhq mode reads it):
    Google Reader's own shape, with the read/fresh/starred state as categories of the
    ``http://www.google.com/reader/`` scheme, which newsboat turns into read marks."""
    parsed = parse_stream(stream) if stream else READING_STREAM
    refs, following = _page(parsed, _count(DEFAULT_N, MAX_CONTENTS_PAGE))
    items = state().storage.sync_items([i for i, _ in refs])
    feed = ET.Element(f"{{{_ATOM}}}feed")
    ET.SubElement(feed, f"{{{_ATOM}}}id").text = "tag:google.com,2005:reader/" + stream_id(parsed)
    ET.SubElement(feed, f"{{{_ATOM}}}title").text = _stream_title(parsed)
    ET.SubElement(feed, f"{{{_ATOM}}}updated").text = _iso(int(g.now.timestamp()))
    if following:
        ET.SubElement(feed, f"{{{_GR}}}continuation").text = following
    for item in items:
        _atom_entry(feed, item)
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype="application/atom+xml")


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _atom_entry(feed: ET.Element, item: SyncItem) -> None:
    entry = ET.SubElement(feed, f"{{{_ATOM}}}entry")
    entry.set(f"{{{_GR}}}crawl-timestamp-msec", str(item.first_seen * 1000))
    ET.SubElement(entry, f"{{{_ATOM}}}id").text = long_id(item.id)
    ET.SubElement(entry, f"{{{_ATOM}}}title", type="text").text = item.title
    ET.SubElement(entry, f"{{{_ATOM}}}published").text = _iso(item.published)
    ET.SubElement(entry, f"{{{_ATOM}}}updated").text = _iso(item.updated or item.published)
    if item.link:
        ET.SubElement(entry, f"{{{_ATOM}}}link", rel="alternate", href=item.link, type="text/html")
    labels = [("reading-list", "reading-list"), ("read" if item.read else "fresh", None)]
    if item.starred:
        labels.append(("starred", None))
    for name, _ in labels:
        ET.SubElement(
            entry,
            f"{{{_ATOM}}}category",
            term=STATE_PREFIX + name,
            scheme=_GR_SCHEME,
            label=name,
        )
    if item.tab is not None:
        ET.SubElement(entry, f"{{{_ATOM}}}category", term=LABEL_PREFIX + item.tab, label=item.tab)
    ET.SubElement(entry, f"{{{_ATOM}}}content", type="html").text = _body(item)
    if item.author:
        author = ET.SubElement(entry, f"{{{_ATOM}}}author")
        ET.SubElement(author, f"{{{_ATOM}}}name").text = item.author
    source = ET.SubElement(entry, f"{{{_ATOM}}}source")
    source.set(f"{{{_GR}}}stream-id", FEED_PREFIX + item.feed_url)
    ET.SubElement(source, f"{{{_ATOM}}}id").text = (
        "tag:google.com,2005:reader/feed/" + item.feed_url
    )
    ET.SubElement(source, f"{{{_ATOM}}}title").text = item.feed_title
    if item.site_link:
        ET.SubElement(source, f"{{{_ATOM}}}link", rel="alternate", href=item.site_link)
