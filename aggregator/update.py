"""Orchestration of one refresh: due feeds -> fetch -> parse -> sanitize -> store.

Reads like a script on purpose (after miniflux's handler.go). The stages never import
each other; this module combines them.

Concurrency model:
- fetches run in a bounded thread pool (I/O bound), with a per-host limit so one
  server is never hammered, and a whole-fetch deadline per feed so one slow feed
  never delays the others for long;
- parsing and sanitizing are CPU bound: with ``processes > 0`` they run in a process
  pool so both cores work (the GIL would serialize them in threads); a worker that
  dies costs at most the one feed that killed it (``ParsePool``);
- every database write happens on the calling thread, one transaction per feed, so
  the scheduler has a single writer and a crash mid-run loses at most the feed that
  was being written (its transaction rolls back).
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import traceback
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aggregator import parse, sanitize
from aggregator.config import ConfigSource, summarize
from aggregator.errors import ConfigError, FeedError, ParseError, StorageError
from aggregator.fetch import Fetcher
from aggregator.models import (
    Config,
    Enclosure,
    Entry,
    FeedState,
    FetchResult,
    ParsedEntry,
    ParsedFeed,
    Settings,
)
from aggregator.storage import Storage

log = logging.getLogger(__name__)

# Backoff after failures: refresh * 2**(n-1), capped. Never disabled for good: a feed
# that has failed for months is still tried twice a day and recovers on its own.
BACKOFF_CAP = timedelta(hours=12)
MIN_RETRY = timedelta(minutes=1)
# A 410 Gone feed is checked again rarely, in case its owner brings it back.
GONE_RECHECK = timedelta(days=7)
# Retry-After values further away than this are not honoured literally.
RETRY_AFTER_CAP = timedelta(days=2)
# Below this many feeds in one batch, starting worker processes costs more than it saves.
PROCESS_POOL_THRESHOLD = 20


@dataclass(frozen=True)
class ProcessedFeed:
    """What the CPU stage hands back: sanitized entries ready to store."""

    title: str | None
    site_link: str | None
    kind: str
    warning: str | None
    entries: tuple[Entry, ...]
    unchanged: int  # entries seen before with the same content (skipped)


@dataclass(frozen=True)
class Fetched:
    """What a worker thread hands to the writer for one feed."""

    result: FetchResult | None  # None when the request itself failed
    error: FeedError | None = None
    digest: str | None = None  # sha256 of the body, when it was parsed
    processed: ProcessedFeed | None = None  # None: nothing new to store


@dataclass
class FeedOutcome:
    url: str
    state: str  # ok | not_modified | error
    new_entries: int = 0
    status: int | None = None
    error: FeedError | None = None
    seconds: float = 0.0
    moved_to: str | None = None


@dataclass
class UpdateSummary:
    outcomes: list[FeedOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes if o.state == state)

    @property
    def new_entries(self) -> int:
        return sum(o.new_entries for o in self.outcomes)

    def line(self) -> str:
        return (
            f"{self.count('ok')} ok, {self.count('not_modified')} not modified, "
            f"{self.count('error')} failed; {self.new_entries} new entries "
            f"in {self.seconds:.1f} s"
        )


# --- the CPU stage (runs in a worker process when processes > 0) ------------------


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


# --- worker processes --------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def init_worker() -> None:
    """First thing every parse worker process runs: it must never outlive its parent.

    A parent killed with SIGKILL (or the OOM killer) runs no cleanup, and the workers
    of a ``ProcessPoolExecutor`` then wait for work forever, and keep the resource
    tracker alive with them (issue 7, item 13). Two guards:

    - Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, the kernel kills us when the
      parent dies, even if this process is busy in C code. The kernel means the
      parent *thread* that started us: ``ParsePool`` is closed before the threads
      that use it end (``Updater._update``).
    - Everywhere: a thread waits on ``multiprocessing``'s parent sentinel, a pipe
      whose other end only the parent holds; it becomes readable when the parent
      process is gone, whichever thread started us.

    SIGINT is ignored: Ctrl-C in a terminal reaches the whole process group, and the
    parent, which handles it, stops the pool itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


def _exit_with_parent(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)  # no cleanup: the parent that would want it is gone


# cpu_stage's arguments: feed URL, body, headers, final URL, now, known entry hashes.
CpuArgs = tuple[str, bytes, dict[str, str], str, datetime, dict[str, str]]


class ParsePool:
    """Worker processes for the CPU stage of one batch, which outlive their workers.

    When a worker process dies (killed, out of memory, a crash inside C code) or a
    result cannot be read back, ``ProcessPoolExecutor`` fails every job it holds
    with ``BrokenProcessPool`` and refuses new ones (CPython gh-80462): one bad feed
    would fail every feed in flight. Here the jobs of a broken pool are innocent until
    proven guilty. The pool is replaced (once per breakage, by whoever notices first)
    and each of its jobs runs again, alone, in a one-process "quarantine" pool: a job
    that kills its worker there too is the culprit, and only that feed fails
    (``parse_crash``); the others get their result.

    Worker processes start in the thread that first needs them: call ``close()``
    before the threads that called ``run()`` end (see ``init_worker``).
    """

    # Past this many breakages in one batch, something is wrong with the workers
    # themselves (they cannot start?): every job goes through the quarantine, one at
    # a time, instead of starting new pools again and again.
    MAX_RESTARTS = 3
    # What a worker runs; a class attribute so a test can run a job that crashes.
    job = staticmethod(cpu_stage)

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.restarts = 0
        self._lock = threading.Lock()
        self._closed = False
        self._shared: cf.ProcessPoolExecutor | None = self._new(processes)
        self._alone = threading.Lock()  # one quarantine job at a time
        self._quarantine: cf.ProcessPoolExecutor | None = None

    @staticmethod
    def _new(processes: int) -> cf.ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs threads can copy held locks.
        ctx = multiprocessing.get_context("spawn")
        return cf.ProcessPoolExecutor(processes, mp_context=ctx, initializer=init_worker)

    def run(self, args: CpuArgs) -> ProcessedFeed:
        """``cpu_stage(*args)`` in a worker process; raises what it raises."""
        with self._lock:
            self._check_open()
            pool = self._shared
        if pool is not None:
            try:
                return pool.submit(self.job, *args).result()
            except BrokenProcessPool:
                self._replace(pool)
        return self._run_alone(args)

    def _replace(self, broken: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._shared is not broken:  # another job noticed first, or closed
                return
            broken.shutdown(wait=False, cancel_futures=True)
            self.restarts += 1
            if self.restarts > self.MAX_RESTARTS:
                self._shared = None
                log.error("parse worker processes keep dying; parsing one feed at a time")
                return
            log.warning("a parse worker process died; starting new ones, its feeds are retried")
            self._shared = self._new(self.processes)

    def _run_alone(self, args: CpuArgs) -> ProcessedFeed:
        url = args[0]
        with self._alone:
            with self._lock:
                self._check_open()
                if self._quarantine is None:
                    self._quarantine = self._new(1)
                pool = self._quarantine
            try:
                return pool.submit(self.job, *args).result()
            except BrokenProcessPool:
                with self._lock:
                    pool.shutdown(wait=False, cancel_futures=True)
                    if self._quarantine is pool:
                        self._quarantine = None
                log.error("%s: the parse worker process died while reading this feed", url)
                raise ParseError(
                    url,
                    "parse_crash",
                    "reading this feed made the parser process crash, twice; this is a bug "
                    "in the aggregator or a library it uses, please report it",
                ) from None

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the parse pool is closed")

    def close(self) -> None:
        """Stop the worker processes; jobs not started yet are cancelled."""
        with self._lock:
            self._closed = True
            pools = [p for p in (self._shared, self._quarantine) if p is not None]
            self._shared = self._quarantine = None
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


# --- scheduling arithmetic ---------------------------------------------------------


def jitter(url: str, interval: timedelta) -> timedelta:
    """A stable per-feed offset (up to 5 % of the interval) so feeds spread out."""
    frac = (zlib.crc32(url.encode()) % 1000) / 1000 * 0.05
    return timedelta(seconds=interval.total_seconds() * frac)


def next_check_after_success(state: FeedState, settings: Settings, now: datetime) -> datetime:
    interval = state.refresh or settings.refresh
    return now + interval + jitter(state.url, interval)


def next_check_after_error(
    state: FeedState, settings: Settings, err: FeedError, failures: int, now: datetime
) -> datetime:
    """When to try a failing feed again (``failures`` counts this one)."""
    if err.code == "gone":
        return now + GONE_RECHECK
    if err.retry_after is not None:
        wait = min(max(err.retry_after - now, MIN_RETRY), RETRY_AFTER_CAP)
        return now + wait
    interval = max(state.refresh or settings.refresh, MIN_RETRY)
    wait = min(interval * (2 ** min(failures - 1, 16)), BACKOFF_CAP)
    return now + wait + jitter(state.url, wait)


# --- the orchestrator --------------------------------------------------------------


@dataclass
class _Batch:
    """What the threads of one ``Updater.update`` call share."""

    parser: ParsePool | None = None  # worker processes, for large batches
    # Set when the database failed: nothing new starts, what runs is thrown away.
    abort: threading.Event = field(default_factory=threading.Event)

    def stopped(self, updater: Updater) -> bool:
        return self.abort.is_set() or updater.stopping.is_set()


def _notes(err: BaseException) -> list[str]:
    return list(getattr(err, "__notes__", ()))


class Updater:
    """Refreshes feeds. One instance lives as long as the process (pools are reused)."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings | None = None,
        *,
        workers: int = 16,
        per_host: int = 4,
        processes: int = 0,
    ) -> None:
        self.storage = storage
        self.workers = workers
        self.per_host = per_host
        self.processes = processes
        self._settings = settings or Settings()
        self._fetcher = self._make_fetcher(self._settings)
        self._host_locks: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self.per_host)
        )
        self._host_guard = threading.Lock()
        self.stopping = threading.Event()

    @staticmethod
    def _make_fetcher(settings: Settings) -> Fetcher:
        return Fetcher(
            timeout=settings.timeout.total_seconds(),
            max_size=settings.max_size,
            allow_private_networks=settings.allow_private_networks,
        )

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        """New settings (after a config reload) take effect at the next fetch."""
        if value != self._settings:
            old = self._fetcher
            self._settings = value
            self._fetcher = self._make_fetcher(value)
            old.close()

    def close(self) -> None:
        self.stopping.set()
        self._fetcher.close()

    def _host_lock(self, url: str) -> threading.BoundedSemaphore:
        host = (urlsplit(url).hostname or "").lower()
        with self._host_guard:
            return self._host_locks[host]

    # one feed, on a worker thread: network and CPU, no writes
    def _work(self, state: FeedState, now: datetime, batch: _Batch) -> Fetched | None:
        """Fetch, then parse and sanitize what changed. None: stopped before starting."""
        url = state.moved_to or state.url
        with self._host_lock(url):
            if batch.stopped(self):
                return None
            try:
                result = self._fetcher.fetch(
                    url, etag=state.etag, last_modified=state.last_modified, now=now
                )
            except FeedError as e:
                return Fetched(None, error=e)
        if result.body is None:  # 304 Not Modified
            return Fetched(result)
        digest = hashlib.sha256(result.body).hexdigest()
        if digest == state.body_hash:  # a 200 with the very same bytes as last time
            return Fetched(result)
        if batch.abort.is_set():
            return None
        known = self.storage.entry_hashes(state.url)  # a StorageError ends the batch
        args: CpuArgs = (state.url, result.body, result.headers, result.final_url, now, known)
        try:
            processed = batch.parser.run(args) if batch.parser else cpu_stage(*args)
        except FeedError as e:
            if e.code == "parse_crash":
                log.error("%s: %s%s", state.url, e, "".join(f"\n{n}" for n in _notes(e)))
            return Fetched(result, error=e)
        except Exception as e:  # a bug here must not stop the other feeds either
            if batch.stopped(self):  # the pool was closed under our feet
                return None
            log.exception("unexpected error while parsing %s", state.url)
            err = ParseError(state.url, "parse_crash", f"could not read the feed: {e}")
            return Fetched(result, error=err)
        return Fetched(result, digest=digest, processed=processed)

    # one feed, on the calling thread: the writes
    def _store(self, state: FeedState, work: Fetched, now: datetime) -> FeedOutcome:
        s = self._settings
        if work.error is not None:
            err = work.error
            failures = self.storage.record_error(
                state.url,
                now=now,
                code=err.code,
                message=str(err),
                status=err.status,
                next_check=next_check_after_error(state, s, err, state.consecutive_errors + 1, now),
            )
            log.warning("%s: %s (%s failure(s) in a row)", state.url, err, failures)
            return FeedOutcome(state.url, "error", status=err.status, error=err)
        result = work.result
        assert result is not None
        moved = result.moved_to or state.moved_to
        if moved:
            log.warning("%s moved permanently to %s; update feeds.yaml", state.url, moved)
        nxt = next_check_after_success(state, s, now)
        processed = work.processed
        if processed is None:  # not modified, or the same bytes again
            self.storage.record_not_modified(state.url, now=now, next_check=nxt, moved_to=moved)
            return FeedOutcome(state.url, "not_modified", status=result.status, moved_to=moved)
        new = self.storage.upsert_entries(state.url, processed.entries, now=now)
        self.storage.record_success(
            state.url,
            now=now,
            status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=work.digest,
            next_check=nxt,
            moved_to=moved,
            feed_title=processed.title,
            site_link=processed.site_link,
        )
        if processed.warning:
            log.info("%s: recovered from malformed feed: %s", state.url, processed.warning)
        return FeedOutcome(state.url, "ok", new_entries=new, status=result.status, moved_to=moved)

    def update(
        self,
        feeds: Iterable[FeedState],
        *,
        now: datetime,
        progress: Callable[[FeedOutcome], None] | None = None,
    ) -> UpdateSummary:
        """Refresh the given feeds now; never raises for a feed's own failure.

        Raises ``StorageError`` when the database cannot be used (corrupt, read-only,
        disk full, locked for too long): the batch stops at once, since every feed
        after it would be downloaded and parsed for nothing (issue 7, item 14). No
        new fetch starts, pending ones are cancelled, the worker processes stop;
        requests already on the wire end in the background (their result is
        dropped), bounded by the fetch timeout.
        """
        started = time.monotonic()
        summary = UpdateSummary()
        feeds = list(feeds)
        if not feeds:
            return summary
        self._update(feeds, now, progress, summary)
        summary.seconds = time.monotonic() - started
        return summary

    def _update(
        self,
        feeds: list[FeedState],
        now: datetime,
        progress: Callable[[FeedOutcome], None] | None,
        summary: UpdateSummary,
    ) -> None:
        batch = _Batch()
        if self.processes > 0 and len(feeds) >= PROCESS_POOL_THRESHOLD:
            # The pool lives for this batch only, so an idle aggregator stays small.
            batch.parser = ParsePool(self.processes)
        pool = cf.ThreadPoolExecutor(min(self.workers, len(feeds)), "fetch")
        try:
            self._run_batch(pool, batch, feeds, now, progress, summary)
        except StorageError as e:
            batch.abort.set()
            log.error("storage failed, stopping this refresh at once: %s", e)
            raise
        finally:
            # Before the fetch threads end: a worker process started from one of
            # them must not outlive it (see init_worker).
            if batch.parser is not None:
                batch.parser.close()
            # After a storage failure, do not wait for requests on the wire.
            pool.shutdown(wait=not batch.abort.is_set(), cancel_futures=True)

    def _run_batch(
        self,
        pool: cf.ThreadPoolExecutor,
        batch: _Batch,
        feeds: list[FeedState],
        now: datetime,
        progress: Callable[[FeedOutcome], None] | None,
        summary: UpdateSummary,
    ) -> None:
        futures = {pool.submit(self._work, f, now, batch): (f, time.monotonic()) for f in feeds}
        for fut in cf.as_completed(futures):
            # pop, not get: a done future holds its result (body, sanitized entries)
            # and the dict would keep every one alive until the batch ends: ~150 MB
            # more peak RSS for 1,000 feeds (benchmarks/ingest.py). The ones left
            # are the unfinished ones, cancelled below when stopping.
            state, t0 = futures.pop(fut)
            try:
                work = fut.result()  # raises the StorageError of entry_hashes
                if work is None:  # stopped before it started
                    continue
                outcome = self._store(state, work, now)
            except FeedError as e:  # e.g. the feed vanished from the database
                outcome = FeedOutcome(state.url, "error", error=e)
            except StorageError:
                batch.abort.set()  # first thing: the fetch threads look at it
                for pending in futures:
                    pending.cancel()
                raise
            outcome.seconds = time.monotonic() - t0
            log.info(
                "poll %s status=%s new=%d %.2fs",
                state.url,
                outcome.status if outcome.status is not None else outcome.state,
                outcome.new_entries,
                outcome.seconds,
            )
            summary.outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
        if self.stopping.is_set():
            for fut in futures:
                fut.cancel()

    def update_due(self, *, now: datetime, limit: int | None = None) -> UpdateSummary:
        return self.update(self.storage.due_feeds(now=now, limit=limit), now=now)


# --- the long-running worker -------------------------------------------------------


class Worker:
    """What a running aggregator keeps between ticks: config, storage, updater.

    ``tick`` and ``housekeeping`` are plain methods: the scheduler calls them on its
    thread, tests call them directly with a fixed ``now``.
    """

    def __init__(self, config_source: ConfigSource, storage: Storage, *, processes: int = 0):
        self.config_source = config_source
        self.storage = storage
        config = config_source.config
        self.updater = Updater(storage, config.settings if config else None, processes=processes)
        self._synced: Config | None = None
        self._reported: ConfigError | None = None

    def reload_config(self, *, now: datetime) -> None:
        """Pick up hand edits; an invalid edit keeps the last good configuration."""
        self.config_source.refresh()
        error = self.config_source.error
        if error is not None and error is not self._reported:  # once per new error, not per tick
            log.error("configuration error, keeping the last good one:\n%s", error)
        self._reported = error
        config = self.config_source.config
        if config is not None and config is not self._synced:
            self.storage.sync_feeds(config.feeds, now=now)
            self.updater.settings = config.settings
            self._synced = config
            log.info("configuration loaded: %s", summarize(config))

    def tick(self, *, now: datetime) -> UpdateSummary:
        """One scheduler tick: reload the configuration, then refresh the due feeds.

        A storage problem (damaged file, full disk, read-only folder...) ends the tick.
        It is logged once, not every tick, and recorded beside the database, where
        /feeds shows it even from another process and even when the database cannot
        be read; the next tick that succeeds clears it (see ``storage._status``).
        """
        try:
            self.reload_config(now=now)
            if self._synced is None:
                return UpdateSummary()
            summary = self.updater.update_due(now=now)
        except StorageError as e:
            self.storage_problem("tick", e, now)
            return UpdateSummary()
        self.storage.clear_problem()
        if summary.outcomes:
            log.info("tick: %s", summary.line())
        return summary

    def storage_problem(self, job: str, e: StorageError, now: datetime) -> None:
        """Log a storage problem once (not at every run of a job) and record it for
        /feeds (``storage._status``). Every scheduled job reports through here."""
        known = self.storage.last_problem()
        if known is None or known.message != str(e):
            log.error("%s stopped by a storage problem: %s", job, e)
        self.storage.record_problem(e, now=now, source="worker")

    def housekeeping(self, *, now: datetime) -> int:
        """Retention: drop old read entries (see Storage.purge for the rules). A storage
        problem is recorded for /feeds, like the tick's."""
        keep = self._synced.settings.keep_days if self._synced else Settings().keep_days
        try:
            removed = self.storage.purge(now=now, keep_days=keep)
        except StorageError as e:
            self.storage_problem("housekeeping", e, now)
            return 0
        if removed:
            log.info("housekeeping: removed %d old entries", removed)
        return removed

    def close(self) -> None:
        self.updater.close()
