"""Large batches with worker processes: one bad feed never fails the others.

Issue 7, item 2: a feed that made a worker raise an error that could not be unpickled
(an HTML page, an empty body, invalid JSON) broke the ``ProcessPoolExecutor`` and
every other feed of the batch failed with ``parse_crash``. These tests go through the
real paths: a real ``aggregator fetch`` process, real worker processes (spawned), a
real HTTP server on 127.0.0.1, real SQLite files; a worker is killed for real.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedserver import FeedServer

from aggregator.errors import ParseError
from aggregator.models import FeedConfig, Settings
from aggregator.storage import Storage
from aggregator.update import ParsePool, Updater, cpu_stage

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HEALTHY = 32


def rss(i: int, entries: int = 2) -> str:
    items = "".join(
        f"<item><guid isPermaLink='false'>f{i}-e{j}</guid><title>Flux {i}, article {j}</title>"
        f"<link>https://example.org/{i}/{j}</link>"
        f"<description>&lt;p&gt;Texte {i}.{j}&lt;/p&gt;</description></item>"
        for j in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Flux {i}</title><link>https://example.org/{i}</link>{items}</channel></rss>"
    )


# The broken ones, each with the error it must get (and no other feed).
BROKEN = {
    "/page.html": (
        b"<!doctype html><html><body><p>Pas un flux</p></body></html>",
        "text/html; charset=utf-8",
        "not_a_feed",
    ),
    "/empty.xml": (b"", "application/rss+xml", "not_a_feed"),
    "/broken.json": (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "application/feed+json", "not_a_feed"),
    "/not-jsonfeed.json": (b'{"hello": "world"}', "application/json", "not_a_feed"),
}  # fmt: skip


def serve_batch(server: FeedServer) -> tuple[list[str], dict[str, str]]:
    healthy = [server.add(f"/f{i}.xml", rss(i)) for i in range(HEALTHY)]
    broken = {
        server.add(path, body, headers={"Content-Type": ctype}): code
        for path, (body, ctype, code) in BROKEN.items()
    }
    return healthy, broken


def assert_only_broken_failed(db: Path, healthy: list[str], broken: dict[str, str]) -> None:
    storage = Storage(db)
    try:
        for url in healthy:
            state = storage.feed(url)
            assert state.last_error_code is None, (url, state.last_error)
            assert len(storage.entry_hashes(url)) == 2, url
        for url, code in broken.items():
            assert storage.feed(url).last_error_code == code, url
    finally:
        storage.close()


def test_fetch_command_with_workers_fails_only_the_broken_feeds(
    tmp_path: Path, feed_server: FeedServer
):
    """The audit's case, through the real command: ``aggregator fetch`` with worker
    processes on and more feeds than the pool threshold."""
    healthy, broken = serve_batch(feed_server)
    urls = healthy[:10] + list(broken) + healthy[10:]  # broken ones early in the batch
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings:\n  allow_private_networks: true\ntabs:\n  - name: T\n    feeds:\n"
        + "".join(f"      - {u}\n" for u in urls),
        encoding="utf-8",
    )
    db = tmp_path / "db.sqlite3"
    done = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db)]
        + ["fetch", "--processes", "2"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{HEALTHY} ok, 0 not modified, {len(broken)} failed"), done.stdout
    assert "parse_crash" not in done.stderr and "could not read the feed" not in done.stderr
    assert_only_broken_failed(db, healthy, broken)


def worker_pids(parent: int) -> list[int]:
    """The parse workers of ``parent`` (spawned children, not the resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_worker_killed_mid_batch_fails_no_feed(tmp_path: Path, caplog):
    """SIGKILL a worker while the batch runs: the pool is replaced, the feeds it held
    are retried, every feed is ok (before: the rest of the batch got parse_crash)."""
    caplog.set_level(logging.WARNING, logger="aggregator.update")
    for i in range(HEALTHY):
        (tmp_path / f"f{i}.xml").write_text(rss(i), encoding="utf-8")
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:  # kills the first worker it sees, as soon as it exists
        while not stop.is_set() and not killed:
            pids = worker_pids(os.getpid())
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.01)

    storage = Storage(tmp_path / "db.sqlite3")
    with FeedServer(tmp_path) as server:
        # slow answers keep the batch going well after the workers have started
        urls = [server.url(f"/slow/0.15/f{i}.xml") for i in range(HEALTHY)]
        storage.sync_feeds(
            [FeedConfig(url=u, tab="T", position=i) for i, u in enumerate(urls)], now=NOW
        )
        updater = Updater(storage, Settings(allow_private_networks=True), processes=2)
        thread = threading.Thread(target=killer)
        thread.start()
        try:
            summary = updater.update(storage.feeds(), now=NOW)
        finally:
            stop.set()
            thread.join()
            updater.close()
    try:
        assert killed, "no worker process was seen"
        assert [str(o.error) for o in summary.outcomes if o.error] == []
        assert summary.count("ok") == HEALTHY and summary.new_entries == 2 * HEALTHY
        assert "a parse worker process died" in caplog.text  # it did die mid-batch
    finally:
        storage.close()


# --- a feed whose parsing kills its worker, every time -----------------------------------


def crash_on_marker(*args):
    """cpu_stage, except that a body containing CRASH kills the worker process, as a
    crash inside C code would (no exception, no result: the process just ends)."""
    if b"CRASH" in args[1]:
        os.kill(os.getpid(), signal.SIGKILL)
    return cpu_stage(*args)


class CrashingPool(ParsePool):
    job = staticmethod(crash_on_marker)


def test_a_feed_that_kills_its_worker_twice_fails_alone():
    bodies = {f"https://example.org/f{i}.xml": rss(i).encode() for i in range(HEALTHY)}
    culprit = "https://example.org/culprit.xml"
    bodies[culprit] = rss(99).replace("Flux 99", "CRASH").encode()
    results: dict[str, object] = {}
    with cf.ThreadPoolExecutor(16) as threads:  # as many callers as Updater's fetchers
        pool = CrashingPool(2)
        try:
            futures = {
                threads.submit(pool.run, (url, body, {}, url, NOW, {})): url
                for url, body in bodies.items()
            }
            for fut in cf.as_completed(futures):
                try:
                    results[futures[fut]] = fut.result()
                except Exception as e:
                    results[futures[fut]] = e
        finally:
            pool.close()  # before its callers' threads end, as Updater does
    error = results.pop(culprit)
    assert isinstance(error, ParseError) and error.code == "parse_crash", error
    assert "crash" in str(error)
    failed = {u: r for u, r in results.items() if isinstance(r, BaseException)}
    assert failed == {}
    assert all(len(r.entries) == 2 for r in results.values())  # type: ignore[attr-defined]
    assert pool.restarts >= 1


# --- a worker that does not stop when told ---------------------------------------------


def linger_on_marker(*args):
    """cpu_stage, except that a body containing LINGER leaves a thread behind that
    keeps its worker process from exiting when told to stop (a wedged worker)."""
    if b"LINGER" in args[1]:
        threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
    return cpu_stage(*args)


class LingeringPool(ParsePool):
    job = staticmethod(linger_on_marker)
    STOP_GRACE = 1.0


@pytest.mark.skipif(sys.platform != "linux", reason="finds worker processes through /proc")
def test_a_worker_that_does_not_exit_cannot_stop_later_refreshes():
    """Idle workers were stopped with ProcessPoolExecutor.shutdown(wait=True), which
    joins them with no time limit, in the pool's keeper thread: one worker that did
    not exit blocked that thread for good, and every later refresh with it (they all
    submit through it). Now a worker gets STOP_GRACE seconds, then is terminated."""
    url = "https://example.org/f.xml"
    lingering = (url, rss(1).replace("Flux 1", "LINGER").encode(), {}, url, NOW, {})
    plain = (url, rss(2).encode(), {}, url, NOW, {})
    pool = LingeringPool(1, idle=0.2)
    try:
        assert len(pool.run(lingering).entries) == 2
        first = children()
        assert first, "no worker process was seen"
        done: list[object] = []
        later = threading.Thread(target=lambda: done.append(pool.run(plain)), daemon=True)
        deadline = time.monotonic() + 30
        while set(children()) & set(first) and time.monotonic() < deadline:
            time.sleep(0.1)  # the idle stop happens, and must end
        later.start()
        later.join(30)
        assert done and len(done[0].entries) == 2, "the refresh after the idle stop hung"
        deadline = time.monotonic() + 20  # a loaded box may take a while to reap it
        while set(children()) & set(first) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not set(children()) & set(first), "the wedged worker is still there"
    finally:
        pool.close()


def children() -> list[int]:
    """Pids of this process's live (not zombie) parse workers, from /proc (not the
    resource tracker, the other child multiprocessing starts)."""
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            with contextlib.suppress(OSError):
                if b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                    found.append(int(stat.parent.name))
    return found


def test_a_parse_worker_imports_only_what_parsing_needs():
    """A worker unpickles its job and initializer by module name: they must not live
    under aggregator.update, whose __init__ imports the HTTP client, the storage and
    the config (~0.5 s of CPU per worker start, issue 14)."""
    import pickle

    from aggregator.cpustage import init_worker
    from aggregator.update._processes import ParsePool

    blob = pickle.dumps((ParsePool.job, init_worker))
    heavy = ("aggregator.update", "aggregator.storage", "aggregator.fetch", "aggregator.config")
    code = (
        "import pickle, sys; pickle.loads(sys.stdin.buffer.read()); "
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r} + ('requests',))))"
    )
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    assert out.stdout.decode().strip() == "[]", out.stdout


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="needs os.getpriority (Unix)")
def test_parse_workers_leave_the_cores_to_the_process_that_stores():
    """The process that stores the parsed entries (and serves the dashboard) goes
    first when the cores are busy: its parse workers run WORKER_NICENESS nicer.
    Without it a cold refresh ended with seconds of storing on one core (issue 14)."""
    from aggregator.cpustage import WORKER_NICENESS

    url = "https://example.org/f.xml"
    pool = ParsePool(2)
    try:
        assert len(pool.run((url, rss(1).encode(), {}, url, NOW, {})).entries) == 2
        pids = children()
        assert pids, "no worker process was seen"
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in pids} == {
            min(mine + WORKER_NICENESS, 19)
        }
    finally:
        pool.close()
