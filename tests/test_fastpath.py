"""Issue 14: the speed-ups of ingest change no result.

- parse: feedparser's base-URI joins are memoized (``parse._memoized``); every fixture
  and a slice of the benchmark corpus parse to the very same ``ParsedFeed`` (or the
  same error) with and without the cache, and then through the whole CPU stage
  (sanitized entries) too.
- worker processes stay warm between batches (``ParsePool`` owns them through its
  keeper thread) and stop after ``idle`` seconds without work.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import feedparser.mixin
import pytest
from feedserver import FeedServer
from test_batch import rss

from aggregator import parse
from aggregator.errors import ParseError
from aggregator.models import FeedConfig, Settings
from aggregator.storage import Storage
from aggregator.update import ParsePool, Updater, process_body

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FEEDS = Path(__file__).parent / "data" / "feeds"
CORPUS_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_corpus.py"
LINUX = Path("/proc/self/stat").exists()


def load_corpus():
    spec = importlib.util.spec_from_file_location("bench_corpus_fastpath", CORPUS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def fixture_cases() -> list[tuple[str, bytes, dict[str, str] | None, str]]:
    cases = []
    for body_path in sorted(FEEDS.iterdir()):
        if body_path.name.endswith(".expected.json"):
            continue
        expected = FEEDS / (body_path.stem + ".expected.json")
        headers = None
        if expected.exists():
            headers = json.loads(expected.read_text(encoding="utf-8")).get("headers")
        url = f"https://example.org/feeds/{body_path.name}"
        cases.append((body_path.name, body_path.read_bytes(), headers, url))
    return cases


def corpus_cases() -> list[tuple[str, bytes, dict[str, str] | None, str]]:
    corpus = load_corpus()
    cases = []
    for fmt in corpus.FORMATS:
        for index in range(6):
            doc = corpus.make_document(index, seed=3, fmt=fmt, extra=index % 3)
            url = f"http://127.0.0.1:8000{doc.path}"
            cases.append((f"{fmt}-{index}", doc.body, {"Content-Type": doc.content_type}, url))
    return cases


@contextmanager
def uncached_joins():
    """feedparser's own functions, as they are without the cache."""
    saved = feedparser.mixin.make_safe_absolute_uri, feedparser.mixin._urljoin
    feedparser.mixin.make_safe_absolute_uri = saved[0].uncached
    feedparser.mixin._urljoin = saved[1].uncached
    try:
        yield
    finally:
        feedparser.mixin.make_safe_absolute_uri, feedparser.mixin._urljoin = saved


def outcome(run):
    try:
        return run()
    except ParseError as e:
        return ("ParseError", e.code, str(e))


CASES = fixture_cases() + corpus_cases()


@pytest.mark.parametrize(("name", "body", "headers", "url"), CASES, ids=[c[0] for c in CASES])
def test_memoized_joins_change_no_parsed_or_processed_value(name, body, headers, url):
    def parsed():
        return outcome(lambda: parse.parse_feed(body, url=url, headers=headers, now=NOW))

    def processed():
        return outcome(lambda: process_body(url, body, headers or {}, url, NOW, {}))

    with uncached_joins():
        plain = parsed(), processed()
    cold = parsed(), processed()  # the cache filled by this very document
    warm = parsed(), processed()  # and served from it
    assert cold == plain
    assert warm == plain


def test_the_cache_is_really_used():
    """The patch is in place where feedparser looks the functions up."""
    join = feedparser.mixin.make_safe_absolute_uri
    assert hasattr(join, "uncached")
    assert join("https://example.org/a/", "b") == "https://example.org/a/b"
    assert join("https://example.org/a/", "javascript:alert(1)") == ""
    assert join(b"not a str", None) == join.uncached(b"not a str", None)  # bypass, no error


# --- warm worker processes ---------------------------------------------------------------


def worker_pids() -> set[int]:
    """This process's spawned parse workers (not the resource tracker)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.add(int(entry))
    return found


def wait_for(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.skipif(not LINUX, reason="counts worker processes through Linux /proc")
def test_workers_stay_warm_from_one_batch_to_the_next(tmp_path: Path):
    """Before: each batch started its workers and stopped them at its end."""
    count = 24  # above PROCESS_POOL_THRESHOLD
    storage = Storage(tmp_path / "db.sqlite3")
    updater = Updater(storage, Settings(allow_private_networks=True), processes=2)
    try:
        with FeedServer() as server:
            urls = [server.add(f"/f{i}.xml", rss(i, 1)) for i in range(count)]
            storage.sync_feeds(
                [FeedConfig(url=u, tab="T", position=i) for i, u in enumerate(urls)], now=NOW
            )
            first = updater.update(storage.feeds(), now=NOW)
            assert first.count("ok") == count and first.new_entries == count
            # The batch's fetch threads are gone; the workers they used are not.
            warm = worker_pids()
            assert warm, "no worker process survived the batch"
            for i in range(count):  # every feed gains an entry
                server.add(f"/f{i}.xml", rss(i, 2))
            second = updater.update(storage.feeds(), now=NOW)
            assert [str(o.error) for o in second.outcomes if o.error] == []
            assert second.new_entries == count
            assert worker_pids() == warm  # the same processes did the work
            assert updater._parser is not None and updater._parser.started == 1
    finally:
        updater.close()
        storage.close()
    assert wait_for(lambda: not worker_pids(), 10), "close() left workers behind"


@pytest.mark.skipif(not LINUX, reason="counts worker processes through Linux /proc")
def test_idle_workers_stop_and_start_again_when_needed():
    body = rss(1, 3).encode()
    args = ("https://example.org/f.xml", body, {}, "https://example.org/f.xml", NOW, {})
    pool = ParsePool(1, idle=0.3)
    try:
        results = []
        # Called from a thread that ends at once, as a batch's fetch threads do.
        caller = threading.Thread(target=lambda: results.append(pool.run(args)))
        caller.start()
        caller.join()
        assert len(results[0].entries) == 3
        assert wait_for(lambda: not worker_pids()), "idle workers were not stopped"
        assert len(pool.run(args).entries) == 3  # started again
        assert pool.started == 2
    finally:
        pool.close()
    assert wait_for(lambda: not worker_pids(), 10)
    with pytest.raises(RuntimeError):
        pool.run(args)


@pytest.mark.parametrize("fmt", ["rss20", "atom10", "rss10", "json11"])
def test_churn_processes_only_the_new_entries(fmt):
    """The churn scenario's path: a feed that gained two entries has only those two
    sanitized; the others are recognized by their source hash and skipped."""
    corpus = load_corpus()
    url = "http://127.0.0.1:8000/feeds/x"
    for index in range(3):
        before = corpus.make_document(index, seed=1, fmt=fmt)
        after = corpus.make_document(index, seed=1, fmt=fmt, extra=2)
        first = process_body(url, before.body, {"Content-Type": before.content_type}, url, NOW, {})
        known = {e.guid: e.content_hash for e in first.entries}
        again = process_body(url, after.body, {"Content-Type": after.content_type}, url, NOW, known)
        assert (len(again.entries), again.unchanged) == (2, before.entries)
        assert {e.guid for e in again.entries}.isdisjoint(known)
