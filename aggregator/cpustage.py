"""The CPU stage of a refresh: parse and sanitize one feed body into entries ready
to store. Runs inline, or in a worker process (``update._processes.ParsePool``) when
the batch is large: everything here takes and returns picklable values.

It lives outside the ``update`` package, with the worker processes' initializer: a
worker unpickles its job (``cpu_stage``) and initializer by module name, and
importing anything under ``aggregator.update`` runs that package's ``__init__``,
which imports the HTTP client, the storage, the config and the mail code a worker
never uses (~0.5 s of CPU per worker, at each start; issue 14).
"""

from __future__ import annotations

import ctypes
import hashlib
import html as html_lib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime

from aggregator import folding, parse, sanitize
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
    icons: tuple[str, ...] = ()  # the feed's own pictures, absolute http(s) URLs


# Bumped when build_entry makes something new of the same source (issue 9: derived
# titles, thumbnails, the whole body indexed): every entry a feed still lists is then
# processed again once, on its next fetch.
PROCESSING_VERSION = "2"


def source_hash(e: ParsedEntry) -> str:
    """Hash of what the feed said about an entry (and of how we process it); equal
    hash = nothing to redo."""
    parts = [
        PROCESSING_VERSION,
        e.guid,
        e.title,
        e.link or "",
        e.author or "",
        e.published.isoformat() if e.published else "",
        e.updated.isoformat() if e.updated else "",
        e.content_html,
        e.summary_html,
        json.dumps([(x.url, x.type, x.length) for x in e.enclosures]),
        json.dumps(e.thumbnails),
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()


# A data: thumbnail is kept only when it is a small raster image: data:image/svg+xml
# can carry script, and a big inline picture would be copied into every page.
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+", re.I)
MAX_DATA_THUMBNAIL = 8 * 1024
# Sanitized HTML (sanitize.sanitize_html) writes every attribute as name="value".
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ATTR = re.compile(r'\s([a-z]+)="([^"]*)"')
# Declared smaller than this (either side), a picture is an emoji, an icon or a
# tracker, not an illustration of the item.
MIN_THUMBNAIL_SIDE = 64


def thumbnail_url(url: str, base_url: str) -> str | None:
    """A thumbnail candidate as we store it: http(s) made absolute, or a small raster
    data: image; None for anything else (javascript:, data:text/html, SVG...)."""
    if url[:5].lower() == "data:":
        if len(url) <= MAX_DATA_THUMBNAIL and _DATA_IMAGE.fullmatch(url):
            return "".join(url.split())
        return None
    return sanitize.clean_url(url, base_url)


def pick_thumbnail(e: ParsedEntry, content: str) -> str | None:
    """The item's picture: the first the feed offers that we accept, else the first
    <img> of the sanitized content that is not declared tiny."""
    for candidate in e.thumbnails:
        url = thumbnail_url(candidate, e.base_url)
        if url:
            return url
    for tag in _IMG.finditer(content, 0, 500_000):
        attrs = dict(_ATTR.findall(tag.group()))
        sides = [attrs.get("width", ""), attrs.get("height", "")]
        if any(v.isdigit() and int(v) < MIN_THUMBNAIL_SIDE for v in sides):
            continue
        src = html_lib.unescape(attrs.get("src", ""))
        if src.startswith(("https://", "http://")):  # sanitize made it absolute
            return src
    return None


def build_entry(feed_url: str, e: ParsedEntry, digest: str, now: datetime) -> Entry:
    """Sanitize one parsed entry (once, at ingest), fix its dates, give it a title if
    it has none, and fold its whole text for the search index."""
    html = e.content_html or e.summary_html
    content = sanitize.sanitize_html(html, e.base_url) if html else ""
    summary = sanitize.html_to_text(e.summary_html or e.content_html) if html else ""
    title, derived = e.title, False
    if not any(c.isalnum() for c in title):
        # Mastodon and Bluesky posts have no title: one from the text, flagged as
        # such (the dashboard shows it differently; the email subject uses it).
        made = sanitize.title_from_text(
            sanitize.html_to_text(e.content_html or e.summary_html, max_chars=1000)
        )
        if made:
            title, derived = made, True
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
        title=title,
        link=sanitize.clean_url(e.link, e.base_url),
        author=e.author,
        published=published,
        updated=e.updated,
        content_html=content,
        summary=summary,
        enclosures=enclosures,
        content_hash=digest,
        has_date=e.published is not None or e.updated is not None,
        title_derived=derived,
        thumbnail=pick_thumbnail(e, content),
        search_body=folding.body_index_text(content, summary) or " ",
        search_title=folding.index_text(title) or " ",
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
        icons=tuple(u for x in parsed.icons if (u := sanitize.clean_url(x, final_url))),
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


# --- the worker processes ------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Parse workers run this much nicer than the process that started them. That process
# stores what they parse and serves the dashboard: when the cores are busy, it goes
# first, the batch work takes the rest. Without it, three busy processes share two
# cores evenly, storage falls behind parsing, and a cold 1,000-feed refresh ended with
# ~4 s of storing on one core after the last parse (benchmarks/ingest.py, issue 14).
WORKER_NICENESS = 10


def init_worker() -> None:
    """First thing every parse worker process runs: it must never outlive its parent.

    A parent killed with SIGKILL (or the OOM killer) runs no cleanup, and the workers
    of a ``ProcessPoolExecutor`` then wait for work forever, and keep the resource
    tracker alive with them (issue 7, item 13). Two guards:

    - Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, the kernel kills us when the
      parent dies, even if this process is busy in C code. The kernel means the
      parent *thread* that started us: ``ParsePool`` starts its workers from its
      own keeper thread, which lives until ``ParsePool.close()``.
    - Everywhere: a thread waits on ``multiprocessing``'s parent sentinel, a pipe
      whose other end only the parent holds; it becomes readable when the parent
      process is gone, whichever thread started us.

    The worker also lowers its own priority (``WORKER_NICENESS``).

    SIGINT is ignored: Ctrl-C in a terminal reaches the whole process group, and the
    parent, which handles it, stops the pool itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _lower_priority()
    parent = multiprocessing.parent_process()
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError):  # no libc (musl static builds...): the thread does it
            pass
    if parent is None:
        return
    if parent.pid is not None and os.getppid() != parent.pid:
        os._exit(1)  # the parent died before prctl: no signal would ever come
    threading.Thread(
        target=_exit_with_parent, args=(parent.sentinel,), name="watch-parent", daemon=True
    ).start()


def _lower_priority() -> None:
    if hasattr(os, "nice"):  # not on Windows
        try:
            os.nice(WORKER_NICENESS)
        except OSError as e:  # a sandbox may forbid it: parsing works all the same
            log.debug("could not lower the parse worker's priority: %s", e)


def _exit_with_parent(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)  # no cleanup: the parent that would want it is gone
