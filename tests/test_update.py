"""The ingest pipeline end to end: a real HTTP server, real SQLite, the real Worker.

Nothing sleeps for the scheduler: every test calls ``Worker.tick`` with a fixed ``now``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer

from aggregator.config import ConfigSource
from aggregator.storage import Storage
from aggregator.update import BACKOFF_CAP, GONE_RECHECK, Updater, Worker

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def rss(*items: tuple[str, str, str | None], title: str = "Le blog") -> str:
    """A small RSS 2.0 document; items are (guid, title, pubDate or None)."""
    parts = []
    for guid, item_title, date in items:
        pub = f"<pubDate>{date}</pubDate>" if date else ""
        parts.append(
            f"<item><guid>{guid}</guid><title>{item_title}</title>"
            f"<link>https://example.org/{guid}</link>{pub}"
            f"<description>&lt;p&gt;Texte de {item_title} &lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.org/</link>{''.join(parts)}"
        "</channel></rss>"
    )


def short(guid: str) -> str:
    # feedparser resolves RSS guids (isPermaLink defaults to true) against the feed URL
    return guid.rsplit("/", 1)[-1]


def write_config(path: Path, tabs: dict[str, list[str]], extra: str = "") -> None:
    lines = ["settings:", "  refresh: 30m", "  allow_private_networks: true", extra, "tabs:"]
    for name, urls in tabs.items():
        lines.append(f"  - name: {name}")
        lines.append("    feeds:")
        lines.extend(f"      - {u}" for u in urls)
    path.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")


@pytest.fixture
def env(tmp_path: Path, feed_server: FeedServer):
    config = tmp_path / "feeds.yaml"
    storage = Storage(tmp_path / "db.sqlite3")
    made: list[Worker] = []

    def make(tabs: dict[str, list[str]], extra: str = "") -> Worker:
        write_config(config, tabs, extra)
        worker = Worker(ConfigSource(config), storage)
        made.append(worker)
        return worker

    yield make, storage, feed_server, config
    for w in made:
        w.close()
    storage.close()


def test_first_tick_ingests_sanitized_entries_and_records_errors(env):
    make, storage, server, _ = env
    good = server.add("/a.xml", rss(("a1", "Cinéma d'été", "Mon, 02 Mar 2026 08:00:00 GMT")))
    missing = server.url("/status/404")
    worker = make({"Cinéma": [good], "Emploi": [missing]})

    summary = worker.tick(now=NOW)

    assert (summary.count("ok"), summary.count("error"), summary.new_entries) == (1, 1, 1)
    entries, _ = storage.entries()
    assert [e.title for e in entries] == ["Cinéma d'été"]
    assert entries[0].tab == "Cinéma"
    assert "<script" not in entries[0].content_html
    assert "alert(1)" not in entries[0].content_html
    assert entries[0].summary.startswith("Texte de Cinéma")
    assert entries[0].published == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    failing = storage.feed(missing)
    assert failing.last_error_code == "not_found"
    assert "404" in (failing.last_error or "")
    assert failing.consecutive_errors == 1
    assert failing.next_check is not None
    assert timedelta(minutes=30) <= failing.next_check - NOW <= timedelta(minutes=32)
    ok = storage.feed(good)
    assert ok.last_status == 200 and ok.last_error is None and ok.etag


def test_second_tick_only_fetches_due_feeds_and_uses_conditional_get(env):
    make, storage, server, _ = env
    url = server.add("/a.xml", rss(("a1", "Un", None)))
    worker = make({"T": [url]})
    worker.tick(now=NOW)

    assert worker.tick(now=NOW + timedelta(minutes=5)).outcomes == []  # not due yet
    later = NOW + timedelta(hours=1)
    summary = worker.tick(now=later)
    assert summary.count("not_modified") == 1
    assert server.requests[-1].headers.get("if-none-match")
    state = storage.feed(url)
    assert state.last_fetch == later and state.next_check > later + timedelta(minutes=29)


def test_unchanged_body_without_validators_is_not_parsed_again(env):
    make, storage, server, _ = env
    url = server.add("/a.xml", rss(("a1", "Un", None)), conditional=False)
    worker = make({"T": [url]})
    worker.tick(now=NOW)
    storage.set_read([storage.entries()[0][0].id])

    summary = worker.tick(now=NOW + timedelta(hours=1))

    assert summary.count("not_modified") == 1
    assert storage.entries()[0][0].read  # untouched


def test_changed_entry_updates_in_place_keeping_state_and_dates(env):
    make, storage, server, _ = env
    url = server.add("/a.xml", rss(("a1", "Premier titre", None), ("a2", "Autre", None)))
    worker = make({"T": [url]})
    worker.tick(now=NOW)
    first = {short(e.guid): e for e in storage.entries()[0]}
    storage.set_read([first["a1"].id])
    storage.set_starred(first["a1"].id)

    server.add(
        "/a.xml", rss(("a1", "Titre corrigé", None), ("a2", "Autre", None), ("a3", "Nouveau", None))
    )
    summary = worker.tick(now=NOW + timedelta(hours=1))

    assert summary.new_entries == 1
    after = {short(e.guid): e for e in storage.entries()[0]}
    assert after["a1"].id == first["a1"].id
    assert after["a1"].title == "Titre corrigé"
    assert after["a1"].read and after["a1"].starred
    # no date in the feed: the first-seen time stays, the entry does not jump up
    assert after["a1"].published == NOW
    assert after["a3"].published == NOW + timedelta(hours=1)


def test_future_dates_are_clamped_and_duplicate_ids_do_not_abort(env):
    make, storage, server, _ = env
    url = server.add(
        "/a.xml",
        rss(
            ("x", "Du futur", "Fri, 01 Jan 2100 00:00:00 GMT"),
            ("x", "Doublon", "Mon, 02 Mar 2026 07:00:00 GMT"),
            ("y", "Normal", "Mon, 02 Mar 2026 07:00:00 GMT"),
        ),
    )
    worker = make({"T": [url]})
    summary = worker.tick(now=NOW)
    assert summary.count("ok") == 1
    entries = {short(e.guid): e for e in storage.entries()[0]}
    assert set(entries) == {"x", "y"}
    assert entries["x"].published == NOW


def test_broken_feeds_never_stop_the_others(env):
    make, storage, server, _ = env
    good = server.add("/good.xml", rss(("g", "Bon", None)))
    html = server.add(
        "/page.html",
        "<html><body><p>Pas un flux</p></body></html>",
        headers={"Content-Type": "text/html"},
    )
    empty = server.add("/empty.xml", b"")
    worker = make({"T": [html, good, empty, server.url("/hangup"), server.url("/status/500")]})

    summary = worker.tick(now=NOW)

    assert summary.count("ok") == 1 and summary.count("error") == 4
    assert storage.feed(html).last_error_code == "not_a_feed"
    assert storage.feed(server.url("/hangup")).last_error_code in {"connect", "bad_response"}
    assert storage.feed(server.url("/status/500")).last_error_code == "server_error"
    assert [e.title for e in storage.entries()[0]] == ["Bon"]


def test_backoff_grows_is_capped_and_never_gives_up(env):
    make, storage, server, _ = env
    url = server.url("/status/500")
    worker = make({"T": [url]})
    now, waits = NOW, []
    for _ in range(12):
        worker.tick(now=now)
        state = storage.feed(url)
        assert state.next_check is not None
        waits.append(state.next_check - now)
        now = state.next_check
    assert waits[0] >= timedelta(minutes=30)
    assert all(b >= a for a, b in zip(waits, waits[1:], strict=False))
    assert max(waits) <= BACKOFF_CAP * 1.06  # cap plus jitter
    assert storage.feed(url).consecutive_errors == 12
    assert storage.feed(url).active  # still polled


def test_gone_and_retry_after(env):
    make, storage, server, _ = env
    gone, limited = server.url("/status/410"), server.url("/status/429?retry_after=600")
    worker = make({"T": [gone, limited]})
    worker.tick(now=NOW)
    assert storage.feed(gone).last_error_code == "gone"
    assert storage.feed(gone).next_check == NOW + GONE_RECHECK
    state = storage.feed(limited)
    assert state.last_error_code == "rate_limited"
    assert state.next_check is not None
    assert timedelta(seconds=590) <= state.next_check - NOW <= timedelta(seconds=700)


def test_permanent_redirect_is_followed_and_reported(env):
    make, storage, server, _ = env
    server.add("/new.xml", rss(("n", "Nouvelle adresse", None)))
    old = server.url("/redirect-to?url=/new.xml&status=301")
    worker = make({"T": [old]})
    worker.tick(now=NOW)
    state = storage.feed(old)
    assert state.moved_to == server.url("/new.xml")
    assert state.last_error is None

    server.requests.clear()
    worker.tick(now=NOW + timedelta(hours=1))
    assert [r.path for r in server.requests] == ["/new.xml"]  # polls the new address


def test_config_edits_are_picked_up_and_bad_edits_keep_the_last_good(env):
    import time

    from aggregator.config.yamlfile import STABLE_SECONDS

    make, storage, server, config = env
    a = server.add("/a.xml", rss(("a", "A", None)))
    b = server.add("/b.xml", rss(("b", "B", None)))
    worker = make({"T": [a, b]})
    clock = [time.time()]  # a hand edit is applied once left alone: move time, not sleep
    worker.config_source.clock = lambda: clock[0]
    worker.tick(now=NOW)
    assert len(storage.entries()[0]) == 2

    config.write_text(config.read_text().replace(f"      - {b}\n", "") + "oops: [\n")
    worker.tick(now=NOW + timedelta(seconds=30))  # noticed; maybe half-written: not yet
    assert worker.config_source.error is None
    clock[0] += STABLE_SECONDS
    worker.tick(now=NOW + timedelta(minutes=1))
    assert worker.config_source.error is not None
    assert "feeds.yaml" in str(worker.config_source.error)
    assert {f.url for f in storage.feeds()} == {a, b}  # last good config still runs

    write_config(config, {"T": [a]})
    worker.config_source.refresh()
    clock[0] += STABLE_SECONDS
    worker.tick(now=NOW + timedelta(minutes=2))
    assert worker.config_source.error is None
    assert {f.url for f in storage.feeds()} == {a}
    server.requests.clear()
    worker.tick(now=NOW + timedelta(days=1))
    assert [r.path for r in server.requests] == ["/a.xml"]  # b is no longer polled
    assert [e.title for e in storage.entries()[0]] == ["A"]


def test_settings_reach_the_fetcher(env):
    make, storage, server, _ = env
    url = server.url("/big/2")
    worker = make({"T": [url]}, extra="  max_size: 1MB")
    worker.tick(now=NOW)
    assert storage.feed(url).last_error_code == "too_large"


def test_private_addresses_are_refused_by_default(tmp_path: Path, feed_server: FeedServer):
    url = feed_server.add("/a.xml", rss(("a", "A", None)))
    config = tmp_path / "feeds.yaml"
    config.write_text(f"tabs:\n  - name: T\n    feeds: [{url}]\n", encoding="utf-8")
    storage = Storage(tmp_path / "db.sqlite3")
    worker = Worker(ConfigSource(config), storage)
    try:
        worker.tick(now=NOW)
        assert storage.feed(url).last_error_code == "blocked_address"
        assert feed_server.requests == []
    finally:
        worker.close()
        storage.close()


def test_process_pool_gives_the_same_result(tmp_path: Path, feed_server: FeedServer):
    """Large batches parse in worker processes (both cores); results must not differ."""
    urls = [feed_server.add(f"/f{i}.xml", rss((f"g{i}", f"Titre {i}", None))) for i in range(24)]
    storage = Storage(tmp_path / "db.sqlite3")
    from aggregator.models import FeedConfig

    storage.sync_feeds(
        [FeedConfig(url=u, tab="T", position=i) for i, u in enumerate(urls)], now=NOW
    )
    from aggregator.models import Settings

    updater = Updater(storage, Settings(allow_private_networks=True), processes=2)
    try:
        summary = updater.update(storage.feeds(), now=NOW)
    finally:
        updater.close()
        storage.close()
    assert summary.count("ok") == 24 and summary.new_entries == 24


# --- one entry never blanks its feed (issue 7, item 6) ------------------------------------


def test_marked_sections_that_crashed_the_html_parser_cost_no_entry(env):
    """``<![>`` made html.parser raise in the title and plain-text extraction: the
    whole feed was rejected (parse_crash) and its other entries lost."""
    make, storage, server, _ = env
    hostile = server.url("/feeds/hostile-marked-sections.xml")
    good = server.add("/good.xml", rss(("g", "Bon", None)))
    worker = make({"T": [hostile, good]})

    summary = worker.tick(now=NOW)

    assert [str(o.error) for o in summary.outcomes if o.error] == []
    assert summary.count("ok") == 2
    assert storage.feed(hostile).title == "Offres du jour"
    assert len(storage.entry_hashes(hostile)) == 5
    by_title = {e.title: e for e in storage.entries(limit=50)[0]}
    assert by_title["Cadreuse"].summary == "Avantaprès\n\nSuite"
    assert "Bon" in by_title


def test_an_entry_that_cannot_be_processed_is_skipped_alone(caplog):
    from aggregator.models import ParsedEntry, ParsedFeed
    from aggregator.update import process_entries

    def entry(guid: str, published: datetime | None = None) -> ParsedEntry:
        return ParsedEntry(
            guid=guid,
            title=f"Titre {guid}",
            link=f"https://ex.org/{guid}",
            author=None,
            published=published,
            updated=None,
            content_html=f"<p>Texte {guid}</p>",
            summary_html="",
            base_url="https://ex.org/",
        )

    # A naive datetime cannot be compared with ``now``: build_entry raises TypeError,
    # as any unforeseen value of one entry could make it raise.
    broken = entry("urn:broken", published=datetime(2026, 3, 1, 8, 0))
    parsed = ParsedFeed(
        title="F", link="https://ex.org/", kind="rss20",
        entries=(entry("a"), broken, entry("b")),
    )  # fmt: skip

    processed = process_entries("https://ex.org/f.xml", parsed, "https://ex.org/f.xml", NOW, {})

    assert [e.guid for e in processed.entries] == ["a", "b"]
    assert processed.warning is not None and "'urn:broken'" in processed.warning
    assert "skipped entry 'urn:broken'" in caplog.text
