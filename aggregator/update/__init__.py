"""Orchestration of one refresh: due feeds -> fetch -> parse -> sanitize -> store.

Reads like a script on purpose (after miniflux's handler.go). The stages never import
each other; this module combines them.

Concurrency model:
- fetches run in a bounded thread pool (I/O bound), with a per-host limit so one
  server is never hammered, and a whole-fetch deadline per feed so one slow feed
  never delays the others for long;
- parsing and sanitizing are CPU bound: with ``processes > 0`` they run in a process
  pool so both cores work (the GIL would serialize them in threads); a worker that
  dies costs at most the one feed that killed it. The CPU stage itself lives in
  ``_cpu`` and the worker processes in ``_processes`` (``ParsePool``);
- every database write happens on the calling thread, one transaction per feed, so
  the scheduler has a single writer and a crash mid-run loses at most the feed that
  was being written (its transaction rolls back).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import logging
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aggregator import discover, newsletters
from aggregator.config import ConfigSource, summarize
from aggregator.cpustage import (
    PR_SET_PDEATHSIG,
    ProcessedFeed,
    build_entry,
    cpu_stage,
    init_worker,
    process_body,
    process_entries,
    source_hash,
)
from aggregator.errors import ConfigError, DiscoveryError, FeedError, ParseError, StorageError
from aggregator.fetch import Fetcher
from aggregator.models import (
    Config,
    FeedState,
    FetchResult,
    MailSource,
    Settings,
    is_mail_key,
)
from aggregator.storage import Resolution, Storage

from ._processes import CpuArgs, ParsePool

log = logging.getLogger(__name__)

__all__ = [
    "PR_SET_PDEATHSIG",
    "FeedOutcome",
    "Fetched",
    "ParsePool",
    "ProcessedFeed",
    "Resolved",
    "UpdateSummary",
    "Updater",
    "Worker",
    "build_entry",
    "cpu_stage",
    "init_worker",
    "process_body",
    "process_entries",
    "source_hash",
]

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
# The worker processes stay warm between batches, and stop after this long without work.
PARSE_POOL_IDLE = 300.0
# A resolved address whose feed answered 404/410 this many times in a row is resolved
# again (the site moved its feed); see ``Updater._work``.
DEAD_AFTER = 3
_DEAD_CODES = frozenset({"not_found", "gone"})


@dataclass(frozen=True)
class Resolved:
    """A discovery made by a fetch thread for an address in feeds.yaml, for the writer
    to record (``Storage.record_resolution``)."""

    feed_url: str | None  # the feed to poll; None when discovery failed
    platform: str | None = None
    candidates: int = 0
    error: DiscoveryError | None = None


@dataclass(frozen=True)
class Fetched:
    """What a worker thread hands to the writer for one feed."""

    result: FetchResult | None  # None when the request itself failed
    error: FeedError | None = None
    digest: str | None = None  # sha256 of the body, when it was parsed
    processed: ProcessedFeed | None = None  # None: nothing new to store
    resolved: Resolved | None = None  # an address was (re)resolved on the way
    mail: newsletters.MailPoll | None = None  # a mail source's poll (issue 12)


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
    resolutions: dict[str, Resolution] = field(default_factory=dict)  # by address
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
        fetcher_options: Mapping[str, Any] | None = None,
        mail_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage = storage
        # More IMAP connection options (tests: ssl_context= to trust a test certificate).
        self._mail_options = dict(mail_options or {})
        self.workers = workers
        self.per_host = per_host
        self.processes = processes
        # More Fetcher arguments (tests: resolve=, ca_bundle= to serve real host names
        # from 127.0.0.1); the settings give the rest.
        self._fetcher_options = dict(fetcher_options or {})
        self._settings = settings or Settings()
        self._fetcher = self._make_fetcher(self._settings, self._fetcher_options)
        self._host_locks: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self.per_host)
        )
        self._host_guard = threading.Lock()
        self.stopping = threading.Event()
        self._parser: ParsePool | None = None  # started by the first large batch

    @staticmethod
    def _make_fetcher(settings: Settings, options: Mapping[str, Any] | None = None) -> Fetcher:
        return Fetcher(
            timeout=settings.timeout.total_seconds(),
            max_size=settings.max_size,
            allow_private_networks=settings.allow_private_networks,
            **(options or {}),
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
            self._fetcher = self._make_fetcher(value, self._fetcher_options)
            old.close()

    def close(self) -> None:
        self.stopping.set()
        self._fetcher.close()
        if self._parser is not None:
            self._parser.close()

    def _host_lock(self, url: str) -> threading.BoundedSemaphore:
        host = (urlsplit(url).hostname or "").lower()
        with self._host_guard:
            return self._host_locks[host]

    # one feed, on a worker thread: network and CPU, no writes
    def _work(self, state: FeedState, now: datetime, batch: _Batch) -> Fetched | None:
        """Which URL to poll for this feed, then ``_poll`` it. None: stopped.

        ``state.url`` is what feeds.yaml says. A feed URL is polled as it is. An
        address (a handle, a profile or site URL: ``discover.needs_discovery``, or a
        URL that turns out to answer with an HTML page) is resolved once with
        ``discover`` and its feed polled from then on; it is resolved again only when
        the last attempt failed (at the feed's backoff), when that feed answered
        404/410 ``DEAD_AFTER`` times in a row, or when the resolution was forgotten
        (``Storage.forget_resolution``).
        """
        if is_mail_key(state.url):  # an IMAP folder (issue 12)
            return self._poll_mail(state, now, batch)
        if state.moved_to:  # a permanent redirect seen: follow it
            return self._poll(state, state.moved_to, now, batch)
        known = batch.resolutions.get(state.url)
        if known is not None and known.feed_url and not _dead(state):
            return self._poll(state, known.feed_url, now, batch)
        page: Fetched | None = None
        if known is None and not discover.needs_discovery(state.url):
            page = self._poll(state, state.url, now, batch)
            if page is None or not _html_instead_of_feed(page):
                return page
        if batch.stopped(self):
            return None
        resolved = self._resolve(state.url, now)
        if resolved.feed_url is None and page is not None:
            return page  # a web page with no feed: its own "not a feed" error says so
        if resolved.feed_url is None:
            assert resolved.error is not None
            err = FeedError(state.url, resolved.error.code, str(resolved.error))
            return Fetched(None, error=err, resolved=resolved)
        same = known is not None and known.feed_url == resolved.feed_url
        work = self._poll(state, resolved.feed_url, now, batch, validators=same)
        return None if work is None else dataclasses.replace(work, resolved=resolved)

    def _resolve(self, address: str, now: datetime) -> Resolved:
        """Discovery with the polling client (same deadline, size cap, address policy)."""
        try:
            found = discover.discover(address, fetcher=self._fetcher, now=now)
        except DiscoveryError as e:
            log.warning("%s: cannot be resolved to a feed: %s", address, e)
            return Resolved(None, error=e)
        best = found.candidates[0]
        log.info("%s: resolved to %s (%s)", address, best.url, found.platform)
        return Resolved(best.url, found.platform, len(found.candidates))

    def _poll(
        self, state: FeedState, url: str, now: datetime, batch: _Batch, *, validators: bool = True
    ) -> Fetched | None:
        """Fetch ``url``, then parse and sanitize what changed. None: stopped before
        starting. ``validators=False``: a feed URL new for this feed, so the caching
        headers and body hash learnt for the old one do not apply."""
        etag, last_modified = (state.etag, state.last_modified) if validators else (None, None)
        with self._host_lock(url):
            if batch.stopped(self):
                return None
            try:
                result = self._fetcher.fetch(url, etag=etag, last_modified=last_modified, now=now)
            except FeedError as e:
                return Fetched(None, error=e)
        if result.body is None:  # 304 Not Modified
            return Fetched(result)
        digest = hashlib.sha256(result.body).hexdigest()
        if validators and digest == state.body_hash:  # the very same bytes as last time
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

    def _poll_mail(self, state: FeedState, now: datetime, batch: _Batch) -> Fetched | None:
        """A mail source: its new messages over IMAP (read-only), then the same CPU
        stage as a feed (sanitize, skip what is stored unchanged). None: stopped."""
        source = MailSource.from_key(state.url)
        assert source is not None
        imap = self._settings.imap
        if imap is None:  # config refuses mail sources without it; a stale row may remain
            code = "imap_not_configured"
            return Fetched(None, error=FeedError(state.url, code, newsletters.ERROR_CODES[code]))
        options = newsletters.Connection(
            timeout=self._settings.timeout.total_seconds(), **self._mail_options
        )
        with self._host_lock(f"imap://{imap.host}"):
            if batch.stopped(self):
                return None
            known_folder = self.storage.mailbox(state.url)
            folder = newsletters.FolderState(*known_folder) if known_folder else None
            try:
                found = newsletters.poll(
                    state.url,
                    imap,
                    newsletters.password(),
                    source,
                    folder,
                    max_size=self._settings.max_size,
                    options=options,
                )
            except FeedError as e:
                return Fetched(None, error=e)
        if batch.abort.is_set():
            return None
        try:
            parsed = newsletters.parsed_feed(
                state.url,
                found,
                title=source.folder,
                split=source.split,
                cap=self._settings.max_size,
            )
            known = self.storage.entry_hashes(state.url)  # a StorageError ends the batch
            processed = process_entries(state.url, parsed, "", now, known)
        except StorageError:
            raise
        except Exception as e:  # a bug here must not stop the other feeds either
            log.exception("unexpected error while reading the messages of %s", state.url)
            err = ParseError(state.url, "parse_crash", f"could not read the messages: {e}")
            return Fetched(None, error=err)
        return Fetched(None, processed=processed, mail=found)

    def _store_mail(self, state: FeedState, work: Fetched, now: datetime) -> FeedOutcome:
        """Entries first, then the folder's new last UID with the success: a crash in
        between fetches the same messages again, and their guids store nothing twice."""
        found, processed = work.mail, work.processed
        assert found is not None and processed is not None
        new = 0
        if processed.entries:
            new = self.storage.upsert_entries(state.url, processed.entries, now=now)
        # More messages wait beyond this poll's share: poll again at the next tick.
        nxt = now if found.more else next_check_after_success(state, self._settings, now)
        self.storage.record_mail_poll(
            state.url,
            now=now,
            uidvalidity=found.uidvalidity,
            last_uid=found.last_uid,
            next_check=nxt,
            feed_title=processed.title,
        )
        if processed.warning:
            log.warning("%s: %s", state.url, processed.warning)
        return FeedOutcome(state.url, "ok" if found.messages else "not_modified", new_entries=new)

    # one feed, on the calling thread: the writes
    def _store(self, state: FeedState, work: Fetched, now: datetime) -> FeedOutcome:
        s = self._settings
        if work.resolved is not None:
            self._record_resolution(state.url, work.resolved, now)
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
        if work.mail is not None:
            return self._store_mail(state, work, now)
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
            icons=processed.icons,
        )
        if processed.warning:
            log.info("%s: recovered from malformed feed: %s", state.url, processed.warning)
        return FeedOutcome(state.url, "ok", new_entries=new, status=result.status, moved_to=moved)

    def _record_resolution(self, address: str, resolved: Resolved, now: datetime) -> None:
        if resolved.feed_url is not None:
            self.storage.record_resolution(
                address,
                feed_url=resolved.feed_url,
                platform=resolved.platform,
                candidates=resolved.candidates,
                now=now,
            )
        elif resolved.error is not None:
            self.storage.record_resolution_failure(
                address, code=resolved.error.code, message=str(resolved.error), now=now
            )

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
        batch = _Batch(resolutions=self.storage.resolutions())
        if self.processes > 0 and len(feeds) >= PROCESS_POOL_THRESHOLD:
            # Warm from one batch to the next (starting workers costs ~1 s of CPU);
            # they stop after PARSE_POOL_IDLE s without work: an idle aggregator
            # stays small (issue 14).
            if self._parser is None:
                self._parser = ParsePool(self.processes, idle=PARSE_POOL_IDLE)
            batch.parser = self._parser
        pool = cf.ThreadPoolExecutor(min(self.workers, len(feeds)), "fetch")
        try:
            self._run_batch(pool, batch, feeds, now, progress, summary)
        except StorageError as e:
            batch.abort.set()
            log.error("storage failed, stopping this refresh at once: %s", e)
            raise
        finally:
            # After a storage failure, the worker processes stop at once (their
            # pending jobs are cancelled); otherwise they wait for the next batch.
            if batch.parser is not None and batch.abort.is_set():
                batch.parser.close(wait=False)
                self._parser = None
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


def _dead(state: FeedState) -> bool:
    """The resolved feed keeps answering 404/410: its address must be resolved again."""
    return state.last_error_code in _DEAD_CODES and state.consecutive_errors >= DEAD_AFTER


def _html_instead_of_feed(work: Fetched) -> bool:
    """A URL written in feeds.yaml answered with a web page, not a feed: a site address."""
    err, result = work.error, work.result
    if not isinstance(err, ParseError) or err.code != "not_a_feed" or result is None:
        return False
    mime = result.headers.get("content-type", "").split(";")[0].strip().lower()
    head = (result.body or b"")[:1024].lstrip().lower()
    return mime in ("text/html", "application/xhtml+xml") or head.startswith(
        (b"<!doctype html", b"<html")
    )


# --- the long-running worker -------------------------------------------------------


class Worker:
    """What a running aggregator keeps between ticks: config, storage, updater.

    ``tick`` and ``housekeeping`` are plain methods: the scheduler calls them on its
    thread, tests call them directly with a fixed ``now``.
    """

    def __init__(
        self,
        config_source: ConfigSource,
        storage: Storage,
        *,
        processes: int = 0,
        fetcher_options: Mapping[str, Any] | None = None,
        mail_options: Mapping[str, Any] | None = None,
    ):
        self.config_source = config_source
        self.storage = storage
        config = config_source.config
        settings = config.settings if config else None
        self.updater = Updater(
            storage,
            settings,
            processes=processes,
            fetcher_options=fetcher_options,
            mail_options=mail_options,
        )
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
            self.apply_rules(now=now)
        except StorageError as e:
            self.storage_problem("tick", e, now)
            return UpdateSummary()
        self.storage.clear_problem()
        if summary.outcomes:
            log.info("tick: %s", summary.line())
        return summary

    def refresh_icons(self, *, now: datetime) -> None:
        """Site icons (issue 9; the scheduler's "icons" job): a few sites at a time,
        found, checked and stored by ``aggregator.icons`` with a fetcher of its own
        (icon caps; the feeds' guard and test options). Never raises."""
        from aggregator import icons

        options = dict(self.updater._fetcher_options)
        options.setdefault("allow_private_networks", self.updater.settings.allow_private_networks)
        try:
            with icons.icon_fetcher(**options) as fetcher:
                icons.refresh_due(self.storage, fetcher, now=now)
        except StorageError as e:
            self.storage_problem("icons", e, now)
        except Exception:
            log.warning("site icons: refresh failed", exc_info=True)

    def apply_rules(self, *, now: datetime) -> None:
        """The owner's rules (``rules:`` in feeds.yaml, issue 13) on the entries stored
        since the last tick: highlight, star, mark read, alert (``aggregator.rules``)."""
        from aggregator import rules

        config = self.config_source.config
        if config is not None and config.rules:
            rules.apply_new(self.storage, config.rules, now=now)

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
            self.storage.forget_removed_feeds(now=now)
        except StorageError as e:
            self.storage_problem("housekeeping", e, now)
            return 0
        if removed:
            log.info("housekeeping: removed %d old entries", removed)
        return removed

    def close(self) -> None:
        self.updater.close()
