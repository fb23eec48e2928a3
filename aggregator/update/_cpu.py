"""The CPU stage of a refresh: parse and sanitize one feed body into entries ready
to store. Runs inline, or in a worker process (``_processes.ParsePool``) when the
batch is large: everything here takes and returns picklable values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from dataclasses import dataclass
from datetime import datetime

from aggregator import parse, sanitize
from aggregator.errors import FeedError, ParseError
from aggregator.models import (
    Enclosure,
    Entry,
    ParsedEntry,
    ParsedFeed,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessedFeed:
    """What the CPU stage hands back: sanitized entries ready to store."""

    title: str | None
    site_link: str | None
    kind: str
    warning: str | None
    entries: tuple[Entry, ...]
    unchanged: int  # entries seen before with the same content (skipped)


def source_hash(e: ParsedEntry) -> str:
    """Hash of what the feed said about an entry; equal hash = nothing to redo."""
    parts = [
        e.guid,
        e.title,
        e.link or "",
        e.author or "",
        e.published.isoformat() if e.published else "",
        e.updated.isoformat() if e.updated else "",
        e.content_html,
        e.summary_html,
        json.dumps([(x.url, x.type, x.length) for x in e.enclosures]),
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()


def build_entry(feed_url: str, e: ParsedEntry, digest: str, now: datetime) -> Entry:
    """Sanitize one parsed entry (once, at ingest) and fix its dates."""
    html = e.content_html or e.summary_html
    content = sanitize.sanitize_html(html, e.base_url) if html else ""
    summary = sanitize.html_to_text(e.summary_html or e.content_html) if html else ""
    published = e.published or e.updated or now
    if published > now:  # future dates would pin an entry on top of the river
        published = now
    enclosures = tuple(
        Enclosure(url=u, type=x.type, length=x.length)
        for x in e.enclosures
        if (u := sanitize.clean_url(x.url, e.base_url))
    )
    return Entry(
        feed_url=feed_url,
        guid=e.guid,
        title=e.title,
        link=sanitize.clean_url(e.link, e.base_url),
        author=e.author,
        published=published,
        updated=e.updated,
        content_html=content,
        summary=summary,
        enclosures=enclosures,
        content_hash=digest,
        has_date=e.published is not None or e.updated is not None,
    )


def process_body(
    feed_url: str,
    body: bytes,
    headers: dict[str, str],
    final_url: str,
    now: datetime,
    known: dict[str, str],
) -> ProcessedFeed:
    """Parse and sanitize one feed body; entries whose hash is in ``known`` are skipped."""
    parsed = parse.parse_feed(body, url=final_url, headers=headers, now=now)
    return process_entries(feed_url, parsed, final_url, now, known)


def process_entries(
    feed_url: str, parsed: ParsedFeed, final_url: str, now: datetime, known: dict[str, str]
) -> ProcessedFeed:
    """Sanitize what ``parse`` found. An entry that cannot be processed is skipped
    (and logged with its guid), never the feed: its other entries are kept."""
    entries: list[Entry] = []
    seen: set[str] = set()
    unchanged = 0
    skipped: list[str] = []
    for pe in parsed.entries:
        if pe.guid in seen:  # duplicate ids inside one document: first one wins
            continue
        seen.add(pe.guid)
        try:
            digest = source_hash(pe)
            if known.get(pe.guid) == digest:
                unchanged += 1
                continue
            entries.append(build_entry(feed_url, pe, digest, now))
        except Exception as e:
            log.warning(
                "%s: skipped entry %r: %s: %s",
                feed_url,
                pe.guid,
                type(e).__name__,
                e,
                exc_info=True,
            )
            skipped.append(pe.guid)
    warning = parsed.warning
    if skipped:
        ids = ", ".join(repr(g if len(g) <= 100 else g[:99] + "…") for g in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        note = f"{len(skipped)} entry(ies) could not be processed and were skipped: {ids}{more}"
        warning = f"{warning}; {note}" if warning else note
    return ProcessedFeed(
        title=parsed.title,
        site_link=sanitize.clean_url(parsed.link, final_url),
        kind=parsed.kind,
        warning=warning,
        entries=tuple(entries),
        unchanged=unchanged,
    )


def cpu_stage(
    feed_url: str,
    body: bytes,
    headers: dict[str, str],
    final_url: str,
    now: datetime,
    known: dict[str, str],
) -> ProcessedFeed:
    """``process_body`` as the orchestrator runs it, inline or in a worker process:
    whatever goes wrong comes back as this feed's ``FeedError``.

    An exception from a library is turned into a ``ParseError`` here, on the side
    where it happened: it may not survive pickling (an ``__init__`` that does not take
    its own ``args``), and an error that cannot be unpickled in the parent breaks the
    whole process pool. The original traceback travels as a note, for the log.
    """
    try:
        return process_body(feed_url, body, headers, final_url, now, known)
    except FeedError:
        raise
    except Exception as e:
        detail = " ".join(str(e).split())[:300]
        err = ParseError(
            feed_url,
            "parse_crash",
            f"could not read the feed ({type(e).__name__}: {detail}); this is a bug "
            "in the aggregator or a library it uses, please report it",
        )
        err.add_note(traceback.format_exc())
        raise err from None
