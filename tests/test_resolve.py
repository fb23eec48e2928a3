"""Addresses in feeds.yaml (issue 8, item 3): a handle, a profile or a website URL
written instead of a feed URL is accepted by the config, resolved by the Worker with
``discover``, remembered in SQLite, polled, and resolved again only when asked or
when its feed dies. ``aggregator check --resolve`` reports the ones that give no feed.

The platforms are the imitations of test_discover.py (real host names served over
HTTPS from 127.0.0.1 through the Fetcher's resolve hook); the dead-feed story uses a
plain HTTP FeedServer on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer
from test_discover import platform_tls, platforms, resolver  # noqa: F401 - fixtures

from aggregator.config import ConfigSource, load_config
from aggregator.errors import ConfigError
from aggregator.storage import Storage
from aggregator.storage._feeds import UNDO_GRACE
from aggregator.update import DEAD_AFTER, Worker

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def write(path: Path, feeds: list[str]) -> None:
    lines = ["settings:", "  refresh: 30m", "  allow_private_networks: true", "tabs:"]
    lines += ["  - name: Social", "    feeds:"] + [f"      - {f}" for f in feeds]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, platforms, platform_tls):  # noqa: F811 - fixtures
    storage = Storage(tmp_path / "db.sqlite3")
    config = tmp_path / "feeds.yaml"
    workers: list[Worker] = []

    def make(feeds: list[str]) -> Worker:
        write(config, feeds)
        options = {"resolve": resolver(platforms), "ca_bundle": str(platform_tls[0])}
        worker = Worker(ConfigSource(config), storage, fetcher_options=options)
        workers.append(worker)
        return worker

    for server in set(platforms.values()):
        server.requests.clear()
    yield make, storage, platforms
    for w in workers:
        w.close()
    storage.close()


# --- the config accepts addresses ----------------------------------------------------


def test_config_accepts_handles_profiles_and_sites(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    written = [
        '"@alice@mastodon.social"',
        "'@alice.bsky.social'",
        "r/python",
        "https://mastodon.social/@bob",
        "https://www.youtube.com/@Chaine",
        "https://blog.example.org/",
    ]
    write(path, written)
    urls = [f.url for f in load_config(path).feeds]
    assert urls == [w.strip("\"'") for w in written]


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ('"@alicé@mastodon.social"', "not a well-formed handle"),
        ('"@al ice@mastodon.social"', "space"),
        ('"@alice@"', "not a well-formed handle"),
        ("https://www.linkedin.com/in/alice", "RSS-Bridge"),
        ("https://x.com/alice", "RSSHub"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
    ],
)
def test_config_refuses_bad_addresses_with_their_place(tmp_path: Path, written, fragment):
    path = tmp_path / "feeds.yaml"
    write(path, ["https://example.org/feed.xml", written])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert (problem.line, problem.col) == (8, 9)
    assert fragment in problem.message


def test_a_handle_and_its_profile_url_are_one_feed(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    write(path, ['"@Alice@mastodon.social"', "https://MASTODON.social/@Alice"])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "listed twice" in str(info.value)


# --- the Worker resolves, remembers, polls ----------------------------------------


def test_addresses_are_resolved_remembered_and_polled(site):
    make, storage, servers = site
    handle, youtube = "@alice@mastodon.social", "https://www.youtube.com/@Chaine"
    page = "https://blog.example.org/journal/2026/03/bonjour/"
    worker = make([f'"{handle}"', youtube, page, "r/python"])

    summary = worker.tick(now=NOW)

    assert summary.count("ok") == 4, [(o.url, o.error) for o in summary.outcomes]
    expected = {
        handle: ("https://mastodon.social/@alice.rss", "mastodon"),
        youtube: (
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCq6VFHwMzcMXbuKyG7SQYIg",
            "youtube",
        ),
        page: ("https://blog.example.org/journal/feed/", "website"),
        "r/python": ("https://www.reddit.com/r/python/.rss", "reddit"),
    }
    for address, (feed_url, platform) in expected.items():
        known = storage.resolution(address)
        assert known is not None and (known.feed_url, known.platform) == (feed_url, platform)
        assert known.resolved_at == NOW and known.error_code is None
    # The entries belong to the feed as written in feeds.yaml.
    counts = {f.url: f.entry_count for f in storage.feeds()}
    assert counts == {handle: 2, youtube: 7, page: 1, "r/python": 1}
    assert storage.feed(youtube).title == "La Chaîne"

    # Next poll: straight to the feeds, no page is read again.
    for server in set(servers.values()):
        server.requests.clear()
    later = NOW + timedelta(hours=2)
    assert worker.tick(now=later).count("error") == 0
    assert servers["www.youtube.com"].paths() == [
        "/feeds/videos.xml?channel_id=UCq6VFHwMzcMXbuKyG7SQYIg"
    ]
    assert servers["mastodon.social"].paths() == ["/@alice.rss"]
    assert servers["blog.example.org"].paths() == ["/journal/feed/"]
    assert storage.resolution(handle).resolved_at == NOW  # not resolved again


def test_an_address_with_no_feed_is_an_error_retried_at_the_backoff(site):
    make, storage, servers = site
    worker = make(['"@nobody@mastodon.social"', "https://www.youtube.com/@Inconnue"])
    summary = worker.tick(now=NOW)
    assert summary.count("error") == 2
    state = storage.feed("@nobody@mastodon.social")
    assert state.last_error_code == "not_found" and state.next_check > NOW
    known = storage.resolution("@nobody@mastodon.social")
    assert known is not None and known.feed_url is None and known.error_code == "not_found"
    # Not due: nothing is fetched again.
    servers["mastodon.social"].requests.clear()
    worker.tick(now=NOW + timedelta(minutes=1))
    assert servers["mastodon.social"].paths() == []
    # Due again: resolved again.
    worker.tick(now=state.next_check)
    assert "/@nobody" in servers["mastodon.social"].paths()


def test_forget_resolution_resolves_again_at_the_next_poll(site):
    make, storage, servers = site
    worker = make(["https://www.youtube.com/@Chaine"])
    worker.tick(now=NOW)
    assert storage.forget_resolution("https://www.youtube.com/@Chaine")
    assert storage.resolution("https://www.youtube.com/@Chaine") is None
    servers["www.youtube.com"].requests.clear()
    worker.tick(now=NOW + timedelta(hours=1))
    assert servers["www.youtube.com"].paths()[0] == "/@Chaine"
    assert storage.resolution("https://www.youtube.com/@Chaine").resolved_at == NOW + timedelta(
        hours=1
    )


def _rss(title: str, guid: str) -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.org/</link>"
        f"<item><guid>{guid}</guid><title>{title} item</title></item></channel></rss>"
    )


def _page(feed: str) -> str:
    return (
        '<html><head><link rel="alternate" type="application/rss+xml"'
        f' href="{feed}"></head><body>Site</body></html>'
    )


def test_a_dead_feed_is_resolved_again(tmp_path: Path, feed_server: FeedServer):
    storage = Storage(tmp_path / "db.sqlite3")
    config = tmp_path / "feeds.yaml"
    site = feed_server.add("/site/", _page("/old.xml"), headers={"Content-Type": "text/html"})
    feed_server.add("/old.xml", _rss("Old", "o1"))
    write(config, [site])
    worker = Worker(ConfigSource(config), storage)
    try:
        worker.tick(now=NOW)
        assert storage.resolution(site).feed_url == feed_server.url("/old.xml")
        # The site moves its feed: the old one is gone, the page names the new one.
        feed_server.add("/old.xml", "gone", status=404)
        feed_server.add("/site/", _page("/new.xml"), headers={"Content-Type": "text/html"})
        feed_server.add("/new.xml", _rss("New", "n1"))
        now = NOW
        for _ in range(DEAD_AFTER):
            now = storage.feed(site).next_check or now
            worker.tick(now=now)
            assert storage.resolution(site).feed_url == feed_server.url("/old.xml")
        assert storage.feed(site).consecutive_errors == DEAD_AFTER
        now = storage.feed(site).next_check or now
        summary = worker.tick(now=now)
        assert summary.count("ok") == 1
        assert storage.resolution(site).feed_url == feed_server.url("/new.xml")
        assert storage.feed(site).consecutive_errors == 0
        titles = {e.title for e in storage.entries()[0]}
        assert titles == {"Old item", "New item"}
    finally:
        worker.close()
        storage.close()


def test_a_plain_feed_url_is_never_resolved(tmp_path: Path, feed_server: FeedServer):
    """Feeds written as feed URLs behave exactly as before: no discovery, even dead."""
    storage = Storage(tmp_path / "db.sqlite3")
    config = tmp_path / "feeds.yaml"
    url = feed_server.url("/status/404")
    write(config, [url])
    worker = Worker(ConfigSource(config), storage)
    try:
        now = NOW
        for _ in range(DEAD_AFTER + 1):
            worker.tick(now=now)
            now = storage.feed(url).next_check or now
        assert storage.resolution(url) is None
        assert set(feed_server.paths()) == {"/status/404"}
    finally:
        worker.close()
        storage.close()


# --- aggregator check --resolve ------------------------------------------------------


def test_check_resolve_reports_unresolvable_entries_with_their_place(
    tmp_path: Path, feed_server: FeedServer
):
    site = feed_server.add("/site/", _page("/feed.xml"), headers={"Content-Type": "text/html"})
    feed_server.add("/feed.xml", _rss("Le site", "s1"))
    bare = feed_server.add(
        "/bare/", "<html><body>Rien</body></html>", headers={"Content-Type": "text/html"}
    )
    config = tmp_path / "feeds.yaml"
    write(config, [site, f"  {bare}"])
    run = [sys.executable, "-m", "aggregator", "--config", str(config)]
    run += ["--db", str(tmp_path / "db.sqlite3")]
    plain = subprocess.run([*run, "check"], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert feed_server.paths() == []  # check alone never touches the network

    done = subprocess.run([*run, "check", "--resolve"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"{site}: resolves to {feed_server.url('/feed.xml')} (Le site)" in done.stdout
    assert f"{config}:8:11: '{bare}' gives no feed" in done.stderr


def _resolved_site(tmp_path: Path, feed_server: FeedServer) -> tuple[str, Path, Path]:
    """A website address in feeds.yaml whose feed (/feed.xml) one tick has resolved."""
    site = feed_server.add("/site/", _page("/feed.xml"), headers={"Content-Type": "text/html"})
    feed_server.add("/feed.xml", _rss("Le site", "s1"))
    config, db = tmp_path / "feeds.yaml", tmp_path / "db.sqlite3"
    write(config, [site])
    storage = Storage(db)
    worker = Worker(ConfigSource(config), storage)
    try:
        worker.tick(now=NOW)
    finally:
        worker.close()
        storage.close()
    return site, config, db


def test_export_opml_gives_other_readers_the_resolved_feed(tmp_path: Path, feed_server: FeedServer):
    site, config, db = _resolved_site(tmp_path, feed_server)
    run = [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db)]
    done = subprocess.run([*run, "export-opml"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f'xmlUrl="{feed_server.url("/feed.xml")}"' in done.stdout
    assert f'xmlUrl="{site}"' not in done.stdout


# --- storage ------------------------------------------------------------------------


def test_resolutions_follow_their_feed(tmp_path: Path):
    from aggregator.models import FeedConfig

    storage = Storage(tmp_path / "db.sqlite3")
    try:
        address = "@alice@mastodon.social"
        kwargs = {"platform": "mastodon", "candidates": 1, "now": NOW}
        assert not storage.record_resolution(address, feed_url="https://x/a.rss", **kwargs)
        assert not storage.record_resolution_failure(address, code="no_feed", message="m", now=NOW)
        storage.sync_feeds([FeedConfig(address, "Social")], now=NOW)
        storage.record_success(
            address, now=NOW, status=200, etag='"e"', last_modified="lm", body_hash="h",
            next_check=NOW,
        )  # fmt: skip
        assert storage.record_resolution(address, feed_url="https://x/a.rss", **kwargs)
        state = storage.feed(address)
        assert (state.etag, state.last_modified, state.body_hash) == (None, None, None)
        later = NOW + timedelta(hours=1)
        assert storage.record_resolution_failure(address, code="timeout", message="m", now=later)
        known = storage.resolution(address)
        assert known is not None
        assert (known.feed_url, known.resolved_at, known.attempted_at) == (
            "https://x/a.rss",
            NOW,
            later,
        )
        assert known.error_code == "timeout" and known.resolved
        assert storage.resolutions() == {address: known}
        # Out of feeds.yaml with nothing worth keeping: the feed and what was learnt go.
        storage.sync_feeds([], now=later)
        assert storage.forget_removed_feeds(now=later + UNDO_GRACE) == 1  # after the grace
        assert storage.resolution(address) is None and storage.resolutions() == {}
        assert not storage.forget_resolution(address)
    finally:
        storage.close()


# --- the dashboard ------------------------------------------------------------------


def test_status_page_says_what_an_address_resolved_to_and_can_look_again(
    tmp_path: Path, feed_server: FeedServer
):
    from websupport import make_app, text, token

    site, config, db = _resolved_site(tmp_path, feed_server)

    app = make_app({"config": config, "db": db})
    client = app.test_client()
    page = text(client.get("/feeds"))
    assert f'Résolu en <code class="url">{feed_server.url("/feed.xml")}</code>' in page
    export = client.get("/export.opml").get_data(as_text=True)
    assert f'xmlUrl="{feed_server.url("/feed.xml")}"' in export and f'xmlUrl="{site}"' not in export

    answer = client.post(
        "/feeds/refresh",
        data={"url": site, "resolve": "1", "csrf_token": token(client)},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    assert "sera recherché à nouveau" in text(answer)
    st = app.extensions["aggregator"]
    assert st.storage.resolution(site) is None  # forgotten: the next poll looks again
    assert "Résolu en" not in text(client.get("/feeds"))
    st.close()
