"""Hot reload of feeds.yaml and contacts.yaml never applies a half-written file.

Issue 7, item 11: cutting a 40-feed feeds.yaml at every byte, 72 % of the prefixes
were valid YAML; 49 % added a truncated feed URL (``http://1``) that got polled, and a
comments-only or settings-only prefix deactivated every feed. The rules under test
are in the docstring of ``aggregator.config.yamlfile.YamlSource``.

Real parts: real files in tmp_path written the way editors write them (truncate, then
write), the real ``Worker.reload_config`` and a real SQLite database. Time: the
sources take an injected ``clock``; nothing sleeps.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.config import ConfigSource, ContactSource, add_feed, remove_feed, save_contact
from aggregator.config.yamlfile import STABLE_SECONDS, UNTERMINATED_SECONDS, _written
from aggregator.models import Contact
from aggregator.storage import Storage
from aggregator.update import Worker

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """Seconds since the epoch, moved by hand. Starts at the real time, because the
    first look compares it with the files' real mtimes."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def feeds_file(tabs: int = 5, per_tab: int = 8) -> tuple[str, list[str]]:
    """A realistic feeds.yaml: comments everywhere, settings with a mail section, tabs
    with feeds written as plain URLs, as mappings and as a flow list. Returns the
    text and every feed URL in it."""
    urls: list[str] = []
    out = [
        "# Mes onglets et mes flux (my tabs and feeds).\n",
        "# Réglages généraux : tous facultatifs.\n",
        "settings:\n",
        "  refresh: 30m          # relever toutes les 30 minutes\n",
        "  timeout: 20s\n",
        "  max_size: 10MB\n",
        "  mail:\n",
        "    host: smtp.example.org\n",
        "    port: 587\n",
        "    from: alex@example.org\n",
        "    reply_to: alex.reponses@example.org\n",
        "\n",
        "# Les onglets, dans l'ordre d'affichage.\n",
        "tabs:\n",
    ]
    n = 0
    for t in range(tabs):
        out.append(f"  - name: Onglet n°{t + 1}   # onglet {t + 1}\n")
        if t == tabs - 1:  # one tab written as a flow list
            items = []
            for _ in range(per_tab):
                n += 1
                urls.append(f"https://flow{n}.example.net/rss/{n}")
                items.append(urls[-1])
            out.append(f"    feeds: [{', '.join(items)}]\n")
            continue
        out.append("    feeds:\n")
        for i in range(per_tab):
            n += 1
            if i % 3 == 0:
                urls.append(f"https://site{n}.example.org/feed/{n}.xml")
                out.append(f"      - url: {urls[-1]}\n        title: Le site n°{n} — été\n")
                if i == 3:
                    out.append("        refresh: 2h   # moins souvent\n")
            else:
                urls.append(f"http://news{n}.example.com/rss?id={n}&lang=fr")
                out.append(f"      - {urls[-1]}\n")
            if i == 4:
                out.append("      # un commentaire entre deux flux\n")
        out.append("\n")
    out.append("# fin du fichier\n")
    return "".join(out), urls


def write(path: Path, data: bytes | str) -> None:
    """As most editors save: open with truncation, then write."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def overwrite(path: Path, data: bytes) -> None:
    """As editors that save in place do: write over the old bytes, then cut the rest.
    (Used by the sweep: ext4 flushes a file truncated to zero when it is closed,
    which would make thousands of saves take a minute.)"""
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- the byte-prefix sweep ---------------------------------------------------------


def test_no_byte_prefix_of_a_40_feed_file_is_applied_with_a_cut_url_or_no_feed(
    tmp_path: Path, clock: Clock
) -> None:
    full_text, urls = feeds_file()
    full = full_text.encode("utf-8")
    all_urls = set(urls)
    assert len(all_urls) == 40
    path = tmp_path / "feeds.yaml"
    write(path, full)
    storage = Storage(tmp_path / "db.sqlite3")
    worker = Worker(ConfigSource(path, clock=clock), storage)
    source = worker.config_source
    try:
        worker.reload_config(now=NOW)
        good = source.config
        assert good is not None and {f.url for f in good.feeds} == all_urls
        assert {f.url for f in storage.feeds() if f.active} == all_urls

        applied = refused = waited = 0
        for cut in range(len(full) + 1):
            prefix = full[:cut]
            # The file was the full one; an editor starts saving, stops after `cut` bytes.
            overwrite(path, prefix)
            worker.reload_config(now=NOW)  # a look while it is being written
            assert source.config is good, f"applied mid-write at byte {cut}"
            clock.advance(STABLE_SECONDS + 0.5)  # ... and the writer stalls past the window
            worker.reload_config(now=NOW)
            config = source.config
            assert config is not None
            got = {f.url for f in config.feeds}
            assert got, f"byte {cut}: a prefix left no feed"
            assert got <= all_urls, f"byte {cut}: cut URLs applied: {sorted(got - all_urls)}"
            if config is not good:  # what the worker now polls (the database changes only then)
                active = {f.url for f in storage.feeds() if f.active}
                assert active == got, f"byte {cut}: polled {sorted(active - all_urls)}"
                applied += 1
            elif source.pending:
                waited += 1
            else:
                refused += 1
            if config is not good:
                # The save completes; the next cut starts from the full file again.
                overwrite(path, full)
                worker.reload_config(now=NOW)
                clock.advance(STABLE_SECONDS + 0.5)
                worker.reload_config(now=NOW)
                assert source.error is None, f"byte {cut}: {source.error}"
                assert source.config is not None
                assert {f.url for f in source.config.feeds} == all_urls
                good = source.config
        # Sanity: the sweep went through every path (complete lines are applied:
        # accepted, the file is what it says then), and the full file is applied.
        assert applied > 20 and refused > 10 and waited > len(full) // 2
        assert {f.url for f in storage.feeds() if f.active} == all_urls
    finally:
        worker.close()
        storage.close()


# --- stability ---------------------------------------------------------------------


def test_a_file_written_in_several_writes_is_applied_only_once_left_alone(
    tmp_path: Path, clock: Clock
) -> None:
    old_text, old_urls = feeds_file(tabs=2, per_tab=3)
    new_text, new_urls = feeds_file(tabs=5, per_tab=8)
    path = tmp_path / "feeds.yaml"
    write(path, old_text)
    source = ConfigSource(path, clock=clock)
    old = source.config
    assert old is not None and [f.url for f in old.feeds] == old_urls

    data = new_text.encode("utf-8")
    with open(path, "r+b") as f:
        f.truncate(0)  # the editor truncates ...
        assert source.refresh() is False
        for start in range(0, len(data), 97):  # ... then writes a buffer at a time
            f.write(data[start : start + 97])
            f.flush()
            for _ in range(3):  # looks from many requests in between
                assert source.refresh() is False
                clock.advance(0.1)
            # never applied, and no error shown for a file still being written
            assert source.config is old and source.error is None, start
            assert source.pending
    clock.advance(STABLE_SECONDS - 0.35)  # the last write was less than a second ago
    assert source.refresh() is False and source.config is old
    clock.advance(0.5)
    assert source.refresh() is True
    assert source.config is not None and [f.url for f in source.config.feeds] == new_urls
    assert not source.pending and source.error is None
    assert source.refresh() is False  # unchanged: one stat, nothing else


def test_a_change_seen_once_is_applied_by_a_later_look(tmp_path: Path, clock: Clock) -> None:
    """The scheduler looks every tick: the change lands at the first look a second or
    more after the one that noticed it."""
    path = tmp_path / "feeds.yaml"
    write(path, "tabs:\n  - name: A\n    feeds: [https://a.example.org/rss]\n")
    source = ConfigSource(path, clock=clock)
    write(path, "tabs:\n  - name: B\n    feeds: [https://b.example.org/rss]\n")
    assert source.refresh() is False and source.pending
    clock.advance(30)  # the next tick
    assert source.refresh() is True and not source.pending
    assert source.config is not None and source.config.tabs[0].name == "B"


def test_a_file_without_a_final_line_break_waits_longer(tmp_path: Path, clock: Clock) -> None:
    # The usual sign of a streaming writer stopped mid-line: `url: http://1`.
    path = tmp_path / "feeds.yaml"
    write(path, "tabs:\n  - name: A\n    feeds:\n      - https://a.example.org/rss\n")
    source = ConfigSource(path, clock=clock)
    write(
        path, "tabs:\n  - name: A\n    feeds:\n      - https://a.example.org/rss\n      - http://1"
    )
    source.refresh()
    clock.advance(STABLE_SECONDS + 1)
    assert source.refresh() is False and source.pending
    assert source.config is not None and len(source.config.feeds) == 1
    clock.advance(UNTERMINATED_SECONDS - STABLE_SECONDS - 1)
    # Left alone that long, it is what the person wrote (some editors end a file
    # without a line break): applied.
    assert source.refresh() is True
    assert source.config is not None and source.config.feeds[-1].url == "http://1"


def test_a_clock_going_back_does_not_apply_early(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "feeds.yaml"
    write(path, "tabs:\n  - name: A\n    feeds: [https://a.example.org/rss]\n")
    source = ConfigSource(path, clock=clock)
    write(path, "tabs:\n  - name: B\n    feeds: [https://b.example.org/rss]\n")
    source.refresh()
    clock.advance(-3600)  # the system clock was set back an hour
    assert source.refresh() is False
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is True


# --- the first look ----------------------------------------------------------------


def test_first_look_applies_a_complete_file_at_once_whatever_its_age(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "feeds.yaml"
    write(path, "tabs:\n  - name: A\n    feeds: [https://a.example.org/rss]\n")
    source = ConfigSource(path, clock=clock)  # written a moment ago, ends with a line break
    assert source.config is not None and source.error is None and not source.pending


def test_first_look_waits_for_a_just_written_file_without_final_line_break(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "feeds.yaml"
    write(path, "tabs:\n  - name: A\n    feeds: [https://a.example.org/rss]")
    source = ConfigSource(path, clock=clock)
    assert source.config is None and source.error is None and source.pending
    clock.advance(UNTERMINATED_SECONDS)  # measured from the file's mtime
    assert source.refresh() is True and source.config is not None

    # Written long ago: applied at once.
    old = tmp_path / "old.yaml"
    write(old, "tabs:\n  - name: A\n    feeds: [https://a.example.org/rss]")
    long_ago = time.time() - UNTERMINATED_SECONDS - 5
    os.utime(old, (long_ago, long_ago))
    assert ConfigSource(old, clock=Clock()).config is not None


# --- no feed (contact) left only when the file says so -----------------------------

ONE_FEED = "tabs:\n  - name: A\n    feeds:\n      - https://a.example.org/rss\n"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("", "1:1", "the file is empty; to remove every feed on purpose, write 'tabs: []'"),
        ("\n\n", "1:1", "the file is empty; to remove every feed on purpose, write 'tabs: []'"),
        (
            "# Mes onglets\n# et mes flux\n",
            "1:1",
            "the file holds only comments, no 'tabs:'; to remove every feed on purpose,"
            " write 'tabs: []'",
        ),
        (
            "# réglages\nsettings:\n  refresh: 1h\n",
            "2:1",
            "there is no 'tabs:' in this file, so no feed; to remove every feed on purpose,"
            " write 'tabs: []'",
        ),
        (
            "settings:\n  refresh: 1h\ntabs:\n",
            "3:1",
            "'tabs:' lists no feed; to remove every feed on purpose, write 'tabs: []'",
        ),
        (
            "tabs:\n  - name: A\n    feeds:\n",
            "1:1",
            "'tabs:' lists no feed; to remove every feed on purpose, write 'tabs: []'",
        ),
        (
            "tabs:\n  - name: A\n    feeds: []\n  - name: B\n",
            "1:1",
            "'tabs:' lists no feed; to remove every feed on purpose, write 'tabs: []'",
        ),
    ],
    ids=["empty", "blank", "comments", "settings", "tabs-null", "tab-no-feeds", "one-tab-open"],
)
def test_a_file_with_no_feed_is_refused_unless_explicit(
    tmp_path: Path, clock: Clock, text: str, where: str, message: str
) -> None:
    path = tmp_path / "feeds.yaml"
    write(path, ONE_FEED)
    source = ConfigSource(path, clock=clock)
    good = source.config
    write(path, text)
    source.refresh()
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is False
    assert source.config is good  # the last good one, with its feed, is kept
    assert source.error is not None
    assert str(source.error) == f"{path}:{where}: {message}"


@pytest.mark.parametrize(
    "text",
    [
        "tabs: []\n",
        "# plus rien pour l'instant\nsettings:\n  refresh: 1h\ntabs: [ ]   # vide\n",
        "tabs:\n  - name: A\n    feeds: []\n  - name: B\n    feeds: []\n",
    ],
)
def test_an_explicitly_empty_file_is_applied(tmp_path: Path, clock: Clock, text: str) -> None:
    path = tmp_path / "feeds.yaml"
    write(path, ONE_FEED)
    source = ConfigSource(path, clock=clock)
    write(path, text)
    source.refresh()
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is True
    assert source.config is not None and source.config.feeds == () and source.error is None
    # ... and from nothing, anything goes: there is no feed to lose.
    write(path, "settings:\n  refresh: 2h\n")
    source.refresh()
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is True and source.error is None


def test_the_worker_keeps_polling_every_feed_when_the_file_loses_its_tabs(
    tmp_path: Path, clock: Clock
) -> None:
    text, urls = feeds_file(tabs=2, per_tab=4)
    path = tmp_path / "feeds.yaml"
    write(path, text)
    storage = Storage(tmp_path / "db.sqlite3")
    worker = Worker(ConfigSource(path, clock=clock), storage)
    try:
        worker.reload_config(now=NOW)
        settings_only = text[: text.index("tabs:")]
        write(path, settings_only)
        worker.reload_config(now=NOW + timedelta(seconds=30))
        clock.advance(30)
        worker.reload_config(now=NOW + timedelta(seconds=60))
        assert worker.config_source.error is not None
        assert "no 'tabs:'" in str(worker.config_source.error)
        assert {f.url for f in storage.feeds() if f.active} == set(urls)
    finally:
        worker.close()
        storage.close()


CONTACTS = "- name: Camille\n  email: camille@example.org\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("# mes contacts\n", "the file holds no contact, only comments"),
    ],
)
def test_contacts_are_not_all_dropped_by_a_half_written_file(
    tmp_path: Path, clock: Clock, text: str, message: str
) -> None:
    path = tmp_path / "contacts.yaml"
    write(path, CONTACTS)
    source = ContactSource(path, clock=clock)
    write(path, text)
    source.refresh()
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is False
    assert [c.email for c in source.contacts or ()] == ["camille@example.org"]
    assert str(source.error) == (
        f"{path}:1:1: {message}; to remove every contact on purpose, write '[]' or delete the file"
    )


def test_contacts_are_all_dropped_when_the_file_says_so(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "contacts.yaml"
    write(path, CONTACTS)
    source = ContactSource(path, clock=clock)
    write(path, "# plus personne\n[]\n")
    source.refresh()
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is True and source.contacts == () and source.error is None

    write(path, CONTACTS)
    source.refresh()
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is True
    path.unlink()  # a deleted file is no contacts, once it stays deleted
    assert source.refresh() is False and source.contacts
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is True and source.contacts == () and source.error is None


def test_an_editor_that_renames_the_old_file_away_while_saving(
    tmp_path: Path, clock: Clock
) -> None:
    # vim's "backupcopy=no": the file is missing for a moment, then the new one appears.
    path = tmp_path / "contacts.yaml"
    write(path, CONTACTS)
    source = ContactSource(path, clock=clock)
    os.rename(path, tmp_path / "contacts.yaml~")
    assert source.refresh() is False and source.contacts
    clock.advance(0.01)
    write(path, CONTACTS + "- name: Sam\n  email: sam@example.com\n")
    assert source.refresh() is False
    clock.advance(STABLE_SECONDS)
    assert source.refresh() is True
    assert [c.email for c in source.contacts or ()] == ["camille@example.org", "sam@example.com"]


# --- our own writes are complete by construction -----------------------------------


def test_dashboard_and_cli_edits_are_applied_at_once(tmp_path: Path, clock: Clock) -> None:
    feeds = tmp_path / "feeds.yaml"
    write(feeds, ONE_FEED)
    source = ConfigSource(feeds, clock=clock)
    add_feed(feeds, "B", "https://b.example.org/rss")
    assert source.refresh() is True  # no clock move: temp file + rename is complete
    assert source.config is not None and len(source.config.feeds) == 2
    remove_feed(feeds, "https://a.example.org/rss")
    remove_feed(feeds, "https://b.example.org/rss")  # the last one: tabs keep 'feeds: []'
    assert source.refresh() is True
    assert source.config is not None and source.config.feeds == () and source.error is None

    contacts = tmp_path / "contacts.yaml"
    write(contacts, CONTACTS)
    people = ContactSource(contacts, clock=clock)
    save_contact(contacts, Contact("Sam", "sam@example.com", ()))
    assert people.refresh() is True
    assert [c.email for c in people.contacts or ()] == ["camille@example.org", "sam@example.com"]


def test_edits_from_another_process_settle_like_hand_edits(tmp_path: Path, clock: Clock) -> None:
    feeds = tmp_path / "feeds.yaml"
    write(feeds, ONE_FEED)
    source = ConfigSource(feeds, clock=clock)
    remove_feed(feeds, "https://a.example.org/rss")
    _written.clear()  # as if `aggregator remove` ran in another process
    assert source.refresh() is False and source.pending
    clock.advance(STABLE_SECONDS)
    # Not trusted, but the dashboard's 'feeds: []' says "no feed" on purpose.
    assert source.refresh() is True
    assert source.config is not None and source.config.feeds == () and source.error is None


def test_an_unchanged_file_costs_one_stat(tmp_path: Path, clock: Clock) -> None:
    class CountingPath(type(Path())):  # type: ignore[misc]
        reads = 0

        def read_bytes(self) -> bytes:
            CountingPath.reads += 1
            return super().read_bytes()

    path = tmp_path / "feeds.yaml"
    write(path, ONE_FEED)
    long_ago = time.time() - 3600
    os.utime(path, (long_ago, long_ago))  # not "racily clean": stat alone can tell
    source = ConfigSource(path, clock=clock)
    source.path = CountingPath(path)
    for _ in range(5):
        clock.advance(1)
        assert source.refresh() is False
    assert CountingPath.reads == 0
    os.utime(path)  # touched: read once, same content, nothing to apply
    assert source.refresh() is False and source.refresh() is False
    assert CountingPath.reads == 2  # racily clean right after the touch: hashed again
