"""A database with damaged pages, and storage problems met by scheduled polls (issue 7,
item 14): the page (HTML and JSON) and /feeds say which file and what to do, `fetch`
stops with one clear line, and a problem met by the worker shows on /feeds (recorded
beside the database, so `serve` in another process sees it). Real files, pages really
overwritten, a real feed server."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer
from websupport import make_app, seeded_app, text, write_site

from aggregator import errors
from aggregator.config import ConfigSource
from aggregator.models import Entry
from aggregator.storage import Storage, backup, restore
from aggregator.storage._status import problem_file
from aggregator.update import Worker

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def damage(db: Path, table: str = "entries") -> None:
    """Overwrite pages of ``table`` (its root, and one in the middle of the file) with
    garbage, as a failing disk would. The file must be closed (no WAL)."""
    assert not Path(f"{db}-wal").exists()
    con = sqlite3.connect(db)
    try:
        (page_size,) = con.execute("PRAGMA page_size").fetchone()
        (root,) = con.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
        pages = [p for (p,) in con.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
        (total,) = con.execute("PRAGMA page_count").fetchone()
    finally:
        con.close()
    assert len(pages) > 2, "too small to damage a page in the middle"
    middle = min(pages, key=lambda p: abs(p - total // 2))
    with open(db, "r+b") as f:
        for page in {root, middle}:
            f.seek((page - 1) * page_size)
            f.write(b"\xa5" * page_size)


def fill(storage: Storage, feed: str, n: int, prefix: str = "x") -> None:
    storage.upsert_entries(
        feed,
        [
            Entry(
                feed_url=feed,
                guid=f"{prefix}{i}",
                title=f"Article {prefix}{i}",
                link=None,
                author=None,
                published=NOW - timedelta(minutes=i),
                updated=None,
                content_html="<p>Du texte, encore du texte.</p>" * 30,
                summary="Du texte " * 30,
            )
            for i in range(n)
        ],
        now=NOW,
    )


@pytest.fixture
def damaged_site(tmp_path: Path) -> dict:
    """The test site of test_web, with 300 more entries, backed up, then damaged."""
    site = write_site(tmp_path)
    app = seeded_app(site)
    st = app.extensions["aggregator"]
    fill(st.storage, st.config.feeds[0].url, 300)
    st.close()
    site["backup"] = tmp_path / "backup.sqlite3"
    backup(str(site["db"]), str(site["backup"]))
    damage(site["db"])
    return site


def test_damaged_pages_say_which_file_and_how_to_restore(damaged_site):
    db = os.path.abspath(damaged_site["db"])
    client = make_app(damaged_site).test_client()

    page = client.get("/")
    body = text(page)
    assert page.status_code == 503
    assert "Problème de base de données" in body
    assert f"La base de données {db} est endommagée." in body
    assert "aggregator restore" in body and "Backup and restore" in body
    assert "Un problème est survenu" not in body

    api = client.get("/api/entries")
    assert api.status_code == 503
    data = api.get_json()
    assert data["status"] == 503 and data["problem"] == "corrupt"
    assert db in data["error"] and "aggregator restore" in data["error"]

    # /feeds reads only the (intact) feeds table: it shows the problem the page met
    feeds = client.get("/feeds")
    body = text(feeds)
    assert feeds.status_code == 200
    assert "Problème de base de données" in body and db in body
    assert "aggregator restore" in body and "malformed" in body


def test_who_may_not_see_the_dashboard_is_not_told_where_the_file_is(damaged_site):
    from aggregator.web import describe_storage_problem

    app = make_app(damaged_site, AGGREGATOR_PASSWORD="secret")
    with app.test_request_context("/login"):
        said = describe_storage_problem("corrupt", str(damaged_site["db"]))
    assert said["title"] == "La base de données agg.sqlite3 est endommagée."
    app.extensions["aggregator"].close()


def test_restore_clears_the_problem(damaged_site):
    client = make_app(damaged_site).test_client()
    assert client.get("/").status_code == 503
    client.application.extensions["aggregator"].close()
    assert Path(problem_file(str(damaged_site["db"]))).exists()
    restore(str(damaged_site["backup"]), str(damaged_site["db"]))
    assert not Path(problem_file(str(damaged_site["db"]))).exists()
    client = make_app(damaged_site).test_client()
    assert client.get("/").status_code == 200
    assert "Problème de base de données" not in text(client.get("/feeds"))


def test_a_replaced_file_is_not_reported_damaged(damaged_site):
    """The corrupt mark belongs to the file it was seen in: a file put in its place by
    other means (a copy, sqlite3 .recover) is not reported damaged."""
    client = make_app(damaged_site).test_client()
    assert client.get("/").status_code == 503
    client.application.extensions["aggregator"].close()
    db = damaged_site["db"]
    db.unlink()
    os.link(damaged_site["backup"], db)
    assert Storage(db).last_problem() is None


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Flux {n}</title><link>https://example.org/</link>
{items}
</channel></rss>"""
ITEM = """<item><guid isPermaLink="false">{n}-{i}</guid><title>Article {n}.{i}</title>
<pubDate>Mon, 02 Mar 2026 08:{i:02d}:00 GMT</pubDate><description>Texte {i}</description></item>"""


def publish(server: FeedServer, n: int, items: int) -> str:
    body = RSS.format(n=n, items="\n".join(ITEM.format(n=n, i=i) for i in range(items)))
    return server.add(f"/feed{n}.xml", body)


def write_config(path: Path, urls: list[str]) -> None:
    listed = "".join(f"      - {u}\n" for u in urls)
    path.write_text(
        f"settings:\n  allow_private_networks: true\ntabs:\n  - name: T\n    feeds:\n{listed}",
        encoding="utf-8",
    )


def test_a_storage_failure_during_a_scheduled_poll_shows_on_feeds(tmp_path, feed_server, caplog):
    urls = [publish(feed_server, n, 40) for n in range(3)]
    config = tmp_path / "feeds.yaml"
    write_config(config, urls)
    db = tmp_path / "data" / "aggregator.sqlite3"
    storage = Storage(db)
    worker = Worker(ConfigSource(config), storage)
    assert worker.tick(now=NOW).line().startswith("3 ok")
    worker.close()
    storage.close()

    for n in range(3):  # new articles everywhere: the next poll writes entries
        publish(feed_server, n, 45)
    damage(db)
    storage = Storage(db)  # `aggregator worker`: opens fine, the damage is further in
    worker = Worker(ConfigSource(config), storage)
    later = NOW + timedelta(days=1)
    assert worker.tick(now=later).outcomes == []  # the tick ended, without raising
    assert worker.tick(now=later + timedelta(minutes=1)).outcomes == []
    assert caplog.text.count("tick stopped by a storage problem") == 1  # not every tick
    # the hourly purge meets the damage too: recorded the same way, not raised
    assert worker.housekeeping(now=later + timedelta(days=400)) == 0
    assert storage.last_problem().last == later + timedelta(days=400)
    recorded = json.loads(Path(problem_file(str(db))).read_text(encoding="utf-8"))
    assert recorded["kind"] == "corrupt" and recorded["source"] == "worker"

    # `aggregator serve`, another Storage on the same file
    client = make_app({"config": config, "db": db}).test_client()
    page = client.get("/feeds")
    body = text(page)
    assert page.status_code == 200
    assert "Problème de base de données" in body
    assert f"La base de données {os.path.abspath(db)} est endommagée." in body
    assert "aggregator restore" in body

    # a damaged file does not mend: a tick that happens to succeed keeps the mark
    storage.clear_problem()
    assert storage.last_problem() is not None
    worker.close()
    storage.close()


def test_a_passing_problem_is_cleared_by_the_next_good_tick(tmp_path, feed_server):
    urls = [publish(feed_server, 0, 5)]
    config = tmp_path / "feeds.yaml"
    write_config(config, urls)
    db = tmp_path / "aggregator.sqlite3"
    storage = Storage(db)
    worker = Worker(ConfigSource(config), storage)
    # what a tick records when the disk is full (see test_startup for a real full disk)
    full = errors.StorageError(str(db), "the disk is full (database or disk is full)")
    storage.record_problem(full, now=NOW, source="worker")
    client = make_app({"config": config, "db": db}).test_client()
    body = text(client.get("/feeds"))
    assert "Le disque qui contient la base de données" in body and "Libérez de la place" in body
    assert worker.tick(now=NOW).line().startswith("1 ok")
    assert storage.last_problem() is None
    assert "Problème de base de données" not in text(client.get("/feeds"))
    worker.close()
    storage.close()


def test_fetch_on_a_damaged_database_stops_with_the_file_and_what_to_do(tmp_path, feed_server):
    urls = [publish(feed_server, n, 30) for n in range(30)]
    config = tmp_path / "feeds.yaml"
    write_config(config, urls)
    db = tmp_path / "data" / "aggregator.sqlite3"

    def fetch() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db)]
            + ["fetch", "--processes", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    assert fetch().returncode == 0
    for n in range(30):
        publish(feed_server, n, 35)
    damage(db)
    before = len(feed_server.requests)
    done = fetch()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: {db}: is damaged" in done.stderr and "aggregator restore" in done.stderr
    assert json.loads(Path(problem_file(str(db))).read_text())["source"] == "fetch"
    # it stopped at once instead of downloading every feed first
    assert len(feed_server.requests) - before < 30


def test_a_storage_failure_in_the_outbox_job_shows_on_feeds(tmp_path):
    """The scheduler's outbox job meets the damage: recorded for /feeds like the tick
    (the file /feeds reads, see the test above), not raised into APScheduler, which
    only logs a job crash every few seconds."""
    from aggregator.config import ContactSource
    from aggregator.forward import Forwarder
    from aggregator.scheduler import build_scheduler

    site = write_site(tmp_path)
    app = seeded_app(site)
    st = app.extensions["aggregator"]
    st.forwarder.add_contact("Camille", "camille@example.org")
    con = sqlite3.connect(site["db"])
    (entry_id,) = con.execute("SELECT min(id) FROM entries").fetchone()
    con.close()
    st.forwarder.queue(entry_id, ["camille@example.org"], "Pour toi", now=NOW)
    st.close()
    con = sqlite3.connect(site["db"])
    columns = ", ".join(r[1] for r in con.execute("PRAGMA table_info(forwards)") if r[1] != "id")
    for _ in range(9):  # 512 rows: enough pages to damage one in the middle
        con.execute(f"INSERT INTO forwards ({columns}) SELECT {columns} FROM forwards")
    con.commit()
    con.close()
    damage(site["db"], "forwards")

    storage = Storage(site["db"])
    worker = Worker(ConfigSource(site["config"]), storage)
    forwarder = Forwarder(
        storage,
        worker.config_source,
        ContactSource(tmp_path / "contacts.yaml"),
        outbox_dir=tmp_path / "outbox",
    )
    scheduler = build_scheduler(worker, forwarder=forwarder)  # not started
    scheduler.get_job("outbox").func()  # does not raise
    problem = storage.last_problem()
    assert problem is not None and problem.kind == "corrupt"
    recorded = json.loads(Path(problem_file(str(site["db"]))).read_text(encoding="utf-8"))
    assert recorded["kind"] == "corrupt" and recorded["source"] == "worker"
    worker.close()
    storage.close()
