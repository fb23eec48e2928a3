"""feeds.yaml and contacts.yaml: loading, validation messages, reloading, round-trip edits.

Most validation cases are fixtures in tests/data/config/{feeds,contacts}/: each file
states what it expects in its header (``# expect: LINE:COL: message``, or
``# expect: ok`` plus ``# expect-summary: ...``) and ``test_fixture`` walks them all.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.config import (
    ConfigSource,
    ContactSource,
    add_feed,
    check_feed_url,
    format_duration,
    load_config,
    load_contacts,
    normalize_url,
    parse_config,
    parse_duration,
    parse_rate_limit,
    parse_size,
    remove_feed,
    save_contact,
    summarize,
    yamlfile,
)
from aggregator.config.values import parse_bool
from aggregator.errors import ConfigError, NotFound
from aggregator.models import Contact

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "config"
EXAMPLE_FEEDS = ROOT / "config" / "feeds.yaml"
EXAMPLE_CONTACTS = ROOT / "config" / "contacts.yaml"
FIXTURES = sorted(DATA.glob("*/*.yaml"))


# --- data-driven validation --------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    expected = [m[1] for m in re.finditer(r"^# expect: (.*)$", text, re.M)]
    summary = re.search(r"^# expect-summary: (.*)$", text, re.M)
    assert expected, f"{path} states no expectation"
    load = load_config if path.parent.name == "feeds" else load_contacts
    if expected == ["ok"]:
        value = load(path)
        if summary:
            got = (
                summarize(value).split(": ", 1)[1]
                if path.parent.name == "feeds"
                else f"{len(value)} contacts"
            )
            assert got == summary[1]
        return
    with pytest.raises(ConfigError) as info:
        load(path)
    problems = info.value.problems
    assert [f"{p.line}:{p.col}: {p.message}" for p in problems] == expected
    # Every problem names the file as given, and the error text is one problem a line.
    assert all(p.file == str(path) for p in problems)
    assert str(info.value).splitlines() == [f"{path}:{e}" for e in expected]


def test_fixtures_cover_both_files() -> None:
    kinds = {p.parent.name for p in FIXTURES}
    assert kinds == {"feeds", "contacts"}
    assert len(FIXTURES) >= 25


# --- the example files -------------------------------------------------------------


def test_example_feeds_loads() -> None:
    config = load_config(EXAMPLE_FEEDS)
    assert config.path == str(EXAMPLE_FEEDS)
    assert [t.name for t in config.tabs] == ["À la une", "Cinéma", "Emploi"]
    assert config.settings.refresh == timedelta(minutes=30)
    assert config.settings.max_size == 10 * 1024 * 1024
    assert config.settings.mail is None  # commented out in the example
    lines = EXAMPLE_FEEDS.read_text("utf-8").splitlines()
    for index, feed in enumerate(config.feeds):
        assert feed.position == index
        assert feed.url in lines[feed.line - 1]  # line is 1-based and points at the feed
        assert feed.tab in [t.name for t in config.tabs]
    radio = next(f for f in config.feeds if "radio-canada" in f.url)
    assert radio.title == "Radio-Canada — grands titres"
    assert radio.refresh == timedelta(minutes=15)
    assert config.feed(radio.url) == radio
    assert summarize(config) == f"{EXAMPLE_FEEDS}: 3 tabs, {len(config.feeds)} feeds"


def test_example_contacts_loads() -> None:
    camille, sam = load_contacts(EXAMPLE_CONTACTS)
    assert camille == Contact(
        name="Camille Exemple",
        email="camille@example.org",
        interests=("cinéma documentaire", "financement", "Montréal"),
        language="fr",
        line=camille.line,
    )
    assert sam.email == "sam@example.com"
    assert sam.interests == ("emploi", "montage vidéo", "post-production")
    assert (
        EXAMPLE_CONTACTS.read_text("utf-8").splitlines()[camille.line - 1]
        == "- name: Camille Exemple"
    )


def uncomment_example(key: str) -> str:
    """The example feeds.yaml with its commented-out ``key:`` block (down to the
    next blank line) uncommented, as a person following its advice would."""
    lines = EXAMPLE_FEEDS.read_text("utf-8").split("\n")
    start = lines.index(f"  # {key}:")
    end = lines.index("", start)
    for i in range(start, end):
        lines[i] = re.sub(r"^  # ?", "  ", lines[i])
    return "\n".join(lines)


def test_example_mail_section_when_uncommented(tmp_path: Path) -> None:
    # The commented-out mail example must be valid once its '#' are removed.
    text = uncomment_example("mail")
    mail = parse_config(text, "feeds.yaml").settings.mail
    assert mail is not None
    assert (mail.host, mail.port, mail.security) == ("smtp.example.org", 587, "starttls")
    assert mail.sender == "Alex Exemple <alex@example.org>"
    assert mail.reply_to == "alex@example.org"
    assert mail.rate_limit == (30, timedelta(hours=1))


def test_example_imap_section_when_uncommented() -> None:
    imap = parse_config(uncomment_example("imap"), "feeds.yaml").settings.imap
    assert imap is not None
    assert (imap.host, imap.port, imap.security) == ("imap.example.org", 993, "ssl")
    assert imap.username == "alex@example.org"


def test_mail_defaults() -> None:
    text = "settings:\n  mail:\n    host: smtp.example.org\n    security: ssl\n    from: a@example.org\n"
    mail = parse_config(text, "f.yaml").settings.mail
    assert mail is not None
    assert mail.port == 465  # the port follows the security unless written
    assert mail.reply_to == "a@example.org"  # defaults to from
    assert mail.copy_to_me is False
    assert parse_config("settings:\n  mail:\n", "f.yaml").settings.mail is None


def test_words_stay_text_and_values_parse() -> None:
    config = load_config(DATA / "feeds" / "ok_norway.yaml")
    assert [t.name for t in config.tabs] == ["no", "yes", "2024"]
    assert [f.title for f in config.feeds] == ["on", "off", "2024-01-01"]
    config = load_config(DATA / "feeds" / "ok_mail.yaml")
    assert config.settings.refresh == timedelta(hours=1, minutes=30)
    assert config.settings.max_size == 512 * 1024
    assert config.settings.allow_private_networks is True
    assert config.settings.keep_days == 365
    contacts = load_contacts(DATA / "contacts" / "ok.yaml")
    assert [c.name for c in contacts] == ["Camille Exemple", "no", "Sans intérêts"]
    assert contacts[1].language == "en"
    assert contacts[0].language == "fr"


def test_missing_files(tmp_path: Path) -> None:
    missing = tmp_path / "feeds.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    (problem,) = info.value.problems
    assert problem.file == str(missing)
    assert "file not found; copy the commented example" in problem.message
    assert "config/feeds.yaml" in problem.message
    assert load_contacts(tmp_path / "contacts.yaml") == ()


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("")
    assert load_config(path).tabs == ()
    path.write_bytes(b"\xef\xbb\xbftabs: []\n")  # a BOM from a Windows editor is fine
    assert load_config(path).tabs == ()


def test_billion_laughs_is_fast() -> None:
    # Nested aliases must be refused without being expanded (9**5 items here).
    with pytest.raises(ConfigError) as info:
        load_config(DATA / "feeds" / "billion_laughs.yaml")
    assert any("aliases" in p.message for p in info.value.problems)


# --- value parsers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("90", timedelta(seconds=90)),
        (120, timedelta(minutes=2)),
        ("15M", timedelta(minutes=15)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "m", "15 minutes", "1.5h", "-5m", "1h30", "30m1h", "1:30", "1w"]
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="write a number followed by s, m, h or d"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(minutes=90), "1h30m"), (timedelta(days=7), "7d"), (timedelta(0), "0s")],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10MB", 10 * 1024**2),
        ("10 MB", 10 * 1024**2),
        ("10mb", 10 * 1024**2),
        ("512KB", 512 * 1024),
        ("512KiB", 512 * 1024),
        ("1GiB", 1024**3),
        ("1.5MB", 1536 * 1024),
        ("2048", 2048),
        ("100B", 100),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "10 megabytes", "10TB", "-1MB", "1,5MB"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/h", (30, timedelta(hours=1))),
        ("1/s", (1, timedelta(seconds=1))),
        ("10 / m", (10, timedelta(minutes=1))),
        ("200/d", (200, timedelta(days=1))),
    ],
)
def test_parse_rate_limit(text: str, expected: tuple[int, timedelta]) -> None:
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["30", "30/hour", "0/h", "h/30", "-1/h"])
def test_parse_rate_limit_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate_limit(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("true", None),
        ("False", None),
        ("no", "'no' is not true/false here; write false"),
        ("yes", "'yes' is not true/false here; write true"),
        ("on", "'on' is not true/false here; write true"),
        ("off", "'off' is not true/false here; write false"),
        ("y", "'y' is not true/false here; write true"),
        ("n", "'n' is not true/false here; write false"),
        ("maybe", "expected true or false, got 'maybe'"),
    ],
)
def test_parse_bool(text: str, message: str | None) -> None:
    if message is None:
        assert parse_bool(text) is (text.lower() == "true")
    else:
        with pytest.raises(ValueError) as info:
            parse_bool(text)
        assert str(info.value) == message


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/feed.xml",
        "http://example.org",
        "https://[2001:db8::1]:8443/feed",
        "https://user:token@example.org/private.xml?x=1#top",
        "http://localhost:8080/rss",
    ],
)
def test_check_feed_url_accepts(url: str) -> None:
    check_feed_url(url)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "got 'file:'"),
        ("FTP://example.org/x", "got 'FTP:'"),
        ("javascript:alert(1)", "got 'javascript:'"),
        ("feed://example.org/rss", "write 'https://example.org/rss' instead"),
        ("example.org:8080/feed", "did you mean 'https://example.org:8080/feed'?"),
        ("./feed.xml", "is not a full URL"),
        ("https://exa mple.org", "contains a space"),
        ("https://", "has no host name"),
        ("http:/example.org/x", "missing '//'"),
        ("", "is empty"),
    ],
)
def test_check_feed_url_refuses(url: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        check_feed_url(url)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTPS://Example.ORG/feed", "https://example.org/feed"),
        ("https://example.org:443/feed", "https://example.org/feed"),
        ("http://example.org:80", "http://example.org/"),
        ("https://example.org:8443/x", "https://example.org:8443/x"),
        ("https://example.org/Feed?A=1", "https://example.org/Feed?A=1"),
    ],
)
def test_normalize_url(a: str, b: str) -> None:
    assert normalize_url(a) == b


# --- ConfigSource / ContactSource --------------------------------------------------
# (how a change settles before it is applied: tests/test_reload.py)

GOOD = "tabs:\n  - name: A\n    feeds:\n      - https://example.org/a.xml\n"
GOOD2 = "tabs:\n  - name: B\n    feeds:\n      - https://example.org/b.xml\n"  # same size
BAD = "tabs:\n  - name: A\n    feeds:\n      - ftp://example.org/a.xml\n"


class Clock:
    """Seconds since the epoch, moved by hand (sources take it instead of sleeping)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def settle(source: yamlfile.YamlSource, clock: Clock) -> bool:
    """A look, then another one a moment later: what the scheduler's ticks do."""
    first = source.refresh()
    clock.now += yamlfile.STABLE_SECONDS
    return source.refresh() or first


def test_source_keeps_last_good_config(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    clock = Clock()
    source = ConfigSource(path, clock=clock)
    assert source.config is not None and source.error is None
    assert [t.name for t in source.config.tabs] == ["A"]
    assert source.refresh() is False  # nothing changed

    path.write_text(BAD)
    assert settle(source, clock) is False
    assert [t.name for t in source.config.tabs] == ["A"]  # last good kept
    assert source.error is not None
    assert "only http:// and https://" in str(source.error)
    assert source.refresh() is False and source.error is not None  # still broken

    path.write_text(GOOD2)
    assert settle(source, clock) is True
    assert source.error is None
    assert [t.name for t in source.config.tabs] == ["B"]
    assert source.require() is source.config

    path.write_text(BAD)
    settle(source, clock)
    path.write_text(GOOD2)  # put back as it was (an undo): no parse needed, no error
    assert settle(source, clock) is False
    assert source.error is None and [t.name for t in source.config.tabs] == ["B"]


def test_source_ignores_a_file_caught_half_saved(tmp_path: Path) -> None:
    # Editors that save in place truncate first: an empty file must not drop every feed.
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    clock = Clock()
    source = ConfigSource(path, clock=clock)
    path.write_text("")
    assert source.refresh() is False
    assert source.error is None  # being written: not even an error yet
    clock.now += yamlfile.STABLE_SECONDS  # ... and left empty
    assert source.refresh() is False
    assert source.config is not None and len(source.config.feeds) == 1
    assert source.error is not None and "write 'tabs: []'" in str(source.error)
    path.write_text("tabs: []\n")  # a deliberate "nothing" is accepted
    assert settle(source, clock) is True
    assert source.config is not None and source.config.tabs == () and source.error is None


@pytest.fixture
def coarse_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a file system with 1 s mtimes and no ctime (FAT, some network mounts)."""

    def stamp(path: Path) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns // 10**9 * 10**9, 0)

    monkeypatch.setattr(yamlfile, "_stamp", stamp)


def _rewrite_in_place(path: Path, text: str) -> None:
    """Same inode, same size, same mtime: invisible to os.stat on a coarse clock."""
    before = os.stat(path)
    with open(path, "r+", encoding="utf-8") as f:
        f.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size


@pytest.mark.usefixtures("coarse_clock")
def test_source_sees_two_edits_within_one_second(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    clock = Clock()
    source = ConfigSource(path, clock=clock)
    _rewrite_in_place(path, GOOD2)
    # The mtime is within the racy window of our last read: the content hash decides.
    assert settle(source, clock) is True
    assert source.config is not None and source.config.tabs[0].name == "B"


@pytest.mark.usefixtures("coarse_clock")
def test_source_does_not_reread_an_old_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    os.utime(path, (1_600_000_000, 1_600_000_000))  # long ago: not racy
    clock = Clock()
    source = ConfigSource(path, clock=clock)
    _rewrite_in_place(path, GOOD2)
    assert settle(source, clock) is False  # stat alone said "unchanged": no read
    assert source.config is not None and source.config.tabs[0].name == "A"
    os.utime(path)  # any real save moves the mtime
    assert settle(source, clock) is True
    assert source.config is not None and source.config.tabs[0].name == "B"


def test_source_missing_and_deleted_files(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    clock = Clock()
    source = ConfigSource(path, clock=clock)
    assert source.config is None
    assert source.error is not None and "file not found" in str(source.error)
    with pytest.raises(ConfigError):
        source.require()
    path.write_text(GOOD)
    assert settle(source, clock) is True and source.error is None
    path.unlink()
    assert settle(source, clock) is False
    assert source.config is not None and source.error is not None  # last good kept

    contacts_path = tmp_path / "contacts.yaml"
    contacts = ContactSource(contacts_path, clock=clock)
    assert contacts.contacts == () and contacts.error is None
    contacts_path.write_text("- name: A\n  email: a@example.org\n")
    assert settle(contacts, clock) is True
    assert [c.email for c in contacts.contacts or ()] == ["a@example.org"]
    contacts_path.unlink()
    assert settle(contacts, clock) is True and contacts.contacts == ()


def test_source_is_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    clock = Clock()
    source = ConfigSource(path, clock=clock)
    loads: list[bool] = []
    errors: list[BaseException] = []
    go = threading.Barrier(5)

    def worker() -> None:
        try:
            go.wait()
            for _ in range(50):
                loads.append(source.refresh())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    tmp = tmp_path / "new.yaml"
    tmp.write_text(GOOD2)
    os.replace(tmp, path)  # as editors and our own writer do
    source.refresh()  # seen once by now, whatever the threads did
    clock.now += yamlfile.STABLE_SECONDS  # ... then settled while the threads look
    go.wait()
    for t in threads:
        t.join()
    assert not errors
    assert loads.count(True) == 1  # the change is loaded once, not once per thread
    source.refresh()
    assert source.config is not None and source.config.tabs[0].name == "B"


# --- round-trip edits --------------------------------------------------------------


def _comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


@pytest.fixture
def feeds_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(EXAMPLE_FEEDS.read_text("utf-8"), "utf-8")
    return path


def test_add_feed_keeps_comments_and_layout(feeds_file: Path) -> None:
    before = feeds_file.read_text("utf-8")
    config = add_feed(feeds_file, "Cinéma", "https://cinema.example.org/rss", "Nouveau: ciné")
    after = feeds_file.read_text("utf-8")
    assert _comments(after) == _comments(before)
    # Only the new lines were added; everything else is byte for byte the same.
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == [
        "      - url: https://cinema.example.org/rss",
        "        title: 'Nouveau: ciné'",
    ]
    cinema = next(t for t in config.tabs if t.name == "Cinéma")
    assert cinema.feeds[-1].url == "https://cinema.example.org/rss"
    assert cinema.feeds[-1].title == "Nouveau: ciné"
    assert load_config(feeds_file) == config


def test_add_feed_to_a_new_tab_and_remove_it(feeds_file: Path) -> None:
    before = feeds_file.read_text("utf-8")
    config = add_feed(feeds_file, "Radio", "https://radio.example.org/rss")
    assert [t.name for t in config.tabs][-1] == "Radio"
    assert feeds_file.read_text("utf-8").endswith(
        "\n\n  - name: Radio\n    feeds:\n      - https://radio.example.org/rss\n"
    )
    remove_feed(feeds_file, "HTTPS://radio.example.ORG:443/rss")
    assert load_config(feeds_file).feed("https://radio.example.org/rss") is None
    assert _comments(feeds_file.read_text("utf-8")) == _comments(before)


def test_remove_feed_keeps_neighbouring_comments(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "tabs:\n"
        "  - name: A\n"
        "    feeds:\n"
        "      # about one\n"
        "      - https://one.example/  # eol one\n"
        "      # about two\n"
        "      - https://two.example/\n"
        "      # after two\n"
        "  # about B\n"
        "  - name: B\n"
        "    feeds:\n"
        "      - https://three.example/\n"
        "# the end\n"
    )
    remove_feed(path, "https://one.example/")
    remove_feed(path, "https://three.example/")
    assert path.read_text() == (
        "tabs:\n"
        "  - name: A\n"
        "    feeds:\n"
        "      # about one\n"
        "      # about two\n"
        "      - https://two.example/\n"
        "      # after two\n"
        "  # about B\n"
        "  - name: B\n"
        "    feeds: []\n"
        "# the end\n"
    )
    add_feed(path, "A", "https://four.example/")
    text = path.read_text()
    assert (
        "      - https://two.example/\n      - https://four.example/\n      # after two\n" in text
    )
    add_feed(path, "B", "https://five.example/")
    assert (
        text.replace("    feeds: []\n", "    feeds:\n      - https://five.example/\n")
        == path.read_text()
    )


def test_edits_keep_windows_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes(GOOD.replace("\n", "\r\n").encode())
    add_feed(path, "A", "https://example.org/new.xml")
    data = path.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") == 5


def test_edits_refuse_invalid_results_and_leave_the_file_alone(feeds_file: Path) -> None:
    before = feeds_file.read_bytes()
    with pytest.raises(ConfigError, match="listed twice"):
        add_feed(feeds_file, "Emploi", "https://www.lemonde.fr/rss/une.xml")
    with pytest.raises(ConfigError, match="got 'ftp:'"):
        add_feed(feeds_file, "Emploi", "ftp://example.org/x")
    with pytest.raises(NotFound):
        remove_feed(feeds_file, "https://nowhere.example/")
    assert feeds_file.read_bytes() == before
    assert [p.name for p in feeds_file.parent.iterdir()] == ["feeds.yaml"]  # no temp file left

    feeds_file.write_text(BAD)  # an invalid file is not edited: fix it by hand first
    with pytest.raises(ConfigError, match="got 'ftp:'"):
        add_feed(feeds_file, "A", "https://example.org/new.xml")
    assert feeds_file.read_text() == BAD


def test_edits_create_missing_files_and_keep_mode(tmp_path: Path) -> None:
    feeds = tmp_path / "sub" / "feeds.yaml"
    add_feed(feeds, "À lire", "https://example.org/feed.xml")
    assert (
        feeds.read_text("utf-8")
        == "tabs:\n  - name: À lire\n    feeds:\n      - https://example.org/feed.xml\n"
    )
    feeds.chmod(0o600)
    add_feed(feeds, "À lire", "https://example.org/other.xml")
    assert feeds.stat().st_mode & 0o777 == 0o600

    contacts = tmp_path / "contacts.yaml"
    save_contact(contacts, Contact("A", "a@example.org", ("x", "y z")))
    assert (
        contacts.read_text()
        == "- name: A\n  email: a@example.org\n  interests: [x, y z]\n  language: fr\n"
    )


def test_save_contact_adds_and_updates_keeping_comments(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(EXAMPLE_CONTACTS.read_text("utf-8"), "utf-8")
    before = path.read_text("utf-8")

    dom = Contact("Dominique Exemple", "dom@example.net", ("radio", "podcast: audio"), "en")
    contacts = save_contact(path, dom)
    assert contacts[-1] == Contact(
        "Dominique Exemple", "dom@example.net", ("radio", "podcast: audio"), "en", contacts[-1].line
    )
    text = path.read_text("utf-8")
    assert text.startswith(before)  # appended after a blank line, like the others
    assert text[len(before) :] == (
        "\n- name: Dominique Exemple\n  email: dom@example.net\n"
        "  interests: [radio, 'podcast: audio']\n  language: en\n"
    )

    camille = Contact("Camille Exemple", "camille@example.ca", ("cinéma documentaire", "Québec"))
    contacts = save_contact(path, camille, original_email="CAMILLE@example.org")
    assert [c.email for c in contacts] == [
        "camille@example.ca",
        "sam@example.com",
        "dom@example.net",
    ]
    assert contacts[0].interests == ("cinéma documentaire", "Québec")
    after = path.read_text("utf-8")
    assert _comments(after) == _comments(before)
    changed = [line for line in after.splitlines() if line not in text.splitlines()]
    assert changed == ["  email: camille@example.ca", "  interests: [cinéma documentaire, Québec]"]


def test_save_contact_refusals(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(EXAMPLE_CONTACTS.read_text("utf-8"), "utf-8")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="listed twice"):
        save_contact(path, Contact("Sam bis", "SAM@example.com", ()))
    with pytest.raises(ConfigError, match="listed twice"):  # renaming onto another's address
        save_contact(
            path, Contact("Camille", "sam@example.com", ()), original_email="camille@example.org"
        )
    with pytest.raises(ConfigError, match="must fit on one line"):
        save_contact(path, Contact("X", "x@example.org\nBcc: y@example.org", ()))
    with pytest.raises(NotFound):
        save_contact(path, Contact("X", "x@example.org", ()), original_email="nobody@example.org")
    assert path.read_bytes() == before


def test_concurrent_edits_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    threads = [
        threading.Thread(target=add_feed, args=(path, "A", f"https://example.org/{i}.xml"))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(load_config(path).feeds) == 7
