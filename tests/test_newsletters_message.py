"""Newsletters without a server: one email -> items (data-driven over tests/data/mail/),
split: links, and feeds.yaml's mail sources validated with FILE:LINE:COL.

Each ``tests/data/mail/NAME.eml`` has a twin ``NAME.expected.json`` saying what its
item must be once through the real CPU stage (``update.process_entries``: the same
sanitizer as feeds). The IMAP side is tested against a real Dovecot in
test_newsletters.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.config.feeds import parse_config
from aggregator.errors import ConfigError
from aggregator.models import MailSource, ParsedFeed
from aggregator.newsletters import MailMessage, to_entries
from aggregator.update import process_entries

MAIL = Path(__file__).parent / "data" / "mail"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ARRIVED = datetime(2026, 11, 29, 9, 15, tzinfo=UTC)  # INTERNALDATE


def items(name: str, *, split: bool = False, data: bytes | None = None):
    raw = data if data is not None else (MAIL / f"{name}.eml").read_bytes()
    parsed = to_entries(MailMessage(7, raw, ARRIVED, len(raw)), split=split)
    feed = ParsedFeed("Newsletters", None, "imap", tuple(parsed))
    return process_entries("imap://alex@host/Newsletters", feed, "", NOW, {}).entries


@pytest.mark.parametrize("name", sorted(p.stem for p in MAIL.glob("*.eml")))
def test_each_message_gives_the_item_it_states(name):
    expected = json.loads((MAIL / f"{name}.expected.json").read_text())
    (entry,) = items(name)
    assert entry.title == expected["title"]
    assert "\n" not in entry.title and "\r" not in entry.title
    assert entry.author == expected["author"]
    assert entry.link == expected["link"]
    published = expected["published"]
    assert entry.published == (datetime.fromisoformat(published) if published else ARRIVED)
    assert entry.guid == expected["guid"]
    for needle in expected["content_has"]:
        assert needle in entry.content_html, needle
    for needle in expected["content_lacks"]:
        assert needle not in entry.content_html, needle
    for needle in expected["summary_lacks"]:
        assert needle.casefold() not in entry.summary.casefold(), needle
    assert entry.summary  # something to search and to quote


def test_every_fixture_states_its_expectations():
    emls = {p.stem for p in MAIL.glob("*.eml")}
    assert emls == {p.name.removesuffix(".expected.json") for p in MAIL.glob("*.expected.json")}
    assert len(emls) >= 6


def test_split_links_makes_one_item_per_entry_of_a_digest():
    entries = items("jobs-digest", split=True)
    assert [e.title for e in entries] == [
        "Chargé·e de production",
        "Régisseur général",
        "Médiatrice culturelle",
    ]
    assert [e.link for e in entries] == [
        f"https://emploi.cnc.example/offre/{n}" for n in (101, 102, 103)
    ]
    assert "Théâtre de la Cité, Toulouse, CDI" in entries[1].content_html
    assert "Théâtre de la Cité, Toulouse, CDI" in entries[1].summary
    # furniture is not an entry: online version, social links, the unsubscribe link
    links = " ".join(e.link or "" for e in entries)
    assert "twitter" not in links and "desinscription" not in links and "offres-1201" not in links
    assert len({e.guid for e in entries}) == 3
    assert all(e.guid.startswith("mid:offres-1201@cnc.fr#") for e in entries)


def test_split_without_links_keeps_the_whole_message():
    (entry,) = items("festival-latin1", split=True)
    assert entry.title == "Programmation de l'été indien"


def test_tracking_pixels_sized_in_css_or_attributes_are_dropped():
    html = (
        '<p>Texte</p><img src="https://t.example/a" width="1" height="1">'
        '<img src="https://t.example/b" style="width: 1px; height: 1px">'
        '<img src="https://t.example/c" style="display:none">'
        '<img src="https://t.example/d" style="max-height:0px;">'
        '<img src="https://t.example/e" width="1px" height="1px">'
        '<img src="https://t.example/f" width=1 border=0>'
        '<img src="https://t.example/g" height="0" width="0.0">'
        '<img src="https://img.example/photo.jpg" style="width:100%" alt="Photo">'
        '<img src="https://img.example/wide.jpg" width="600" height="1">'
    )
    raw = (
        "From: a@b.example\r\nSubject: x\r\nMessage-ID: <p@b.example>\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()
    (entry,) = items("", data=raw)
    assert "t.example" not in entry.content_html
    assert 'src="https://img.example/photo.jpg"' in entry.content_html
    assert 'src="https://img.example/wide.jpg"' in entry.content_html  # a rule, not a pixel
    assert 'loading="lazy"' in entry.content_html
    assert 'referrerpolicy="no-referrer"' in entry.content_html


@pytest.mark.parametrize(
    "subject",
    [
        "=?utf-8?q?Une=0D=0ABcc:_x@evil.example?=",
        "=?utf-8?b?" + "TGlnbmUgMQ0KTGlnbmUgMg==" + "?=",  # "Ligne 1\r\nLigne 2"
        "=?iso-8859-1?q?=E9t=E9=0Aet=09hiver=0B=0C?=",
        "Plain\r\n folded\r\n\tover lines",
    ],
)
def test_subject_with_encoded_newlines_is_one_line(subject):
    raw = f"From: a@b.example\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()
    (entry,) = items("", data=raw)
    assert entry.title and entry.title == " ".join(entry.title.split())
    assert not any(c in entry.title for c in "\r\n\t\x0b\x0c")


def test_no_message_id_gives_a_stable_guid_from_the_bytes():
    raw = b"From: a@b.example\r\nSubject: same\r\n\r\nbody\r\n"
    first, second = items("", data=raw)[0], items("", data=raw)[0]
    assert first.guid == second.guid and first.guid.startswith("sha256:")
    assert items("", data=raw + b"more\r\n")[0].guid != first.guid


def test_future_and_absurd_dates_are_clamped_like_feed_dates():
    future = b"From: a@b.example\r\nSubject: f\r\nDate: Fri, 01 Jan 2100 00:00:00 +0000\r\n\r\nx"
    absurd = b"From: a@b.example\r\nSubject: f\r\nDate: Wed, 01 Jan 1800 00:00:00 +0000\r\n\r\nx"
    assert items("", data=future)[0].published == NOW
    assert items("", data=absurd)[0].published == ARRIVED


def test_truncated_message_says_so():
    raw = (MAIL / "substack.eml").read_bytes()
    msg = MailMessage(3, raw[:1500], ARRIVED, size=50 * 1024 * 1024, truncated=True)
    (entry,) = to_entries(msg, cap=1024 * 1024)
    assert entry.title == "Les subventions de décembre 🎭"
    assert "50.0 Mo" in entry.content_html and "1.0 Mo" in entry.content_html


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(p.stem for p in MAIL.glob("*.eml"))),
    cut=st.integers(min_value=0, max_value=4000),
    noise=st.binary(max_size=64),
    at=st.integers(min_value=0, max_value=4000),
)
def test_any_damage_to_a_message_still_gives_an_item(name, cut, noise, at):
    """Truncated anywhere, garbage inserted anywhere: never an exception, always one
    item with a one-line title (what a server dropping or mangling bytes gives)."""
    raw = (MAIL / f"{name}.eml").read_bytes()[: max(cut, 1)]
    raw = raw[:at] + noise + raw[at:]
    entries = items("", data=raw)
    assert len(entries) == 1
    assert entries[0].title and "\n" not in entries[0].title


# --- feeds.yaml --------------------------------------------------------------------

GOOD = """\
settings:
  imap:
    host: imap.example.org
    username: alex@example.org
tabs:
  - name: Bulletins
    feeds:
      - mail: Newsletters
      - mail: INBOX
        from: ["*@CNC.fr", lettre@festival.example]
        title: Lettres des festivals
        split: links
      - https://example.org/feed.xml
"""


def test_mail_sources_are_feeds_with_a_stable_key():
    config = parse_config(GOOD, "feeds.yaml")
    imap = config.settings.imap
    assert imap is not None and (imap.port, imap.security) == (993, "ssl")
    news, inbox, feed = config.feeds
    assert news.url == "imap://alex%40example.org@imap.example.org/Newsletters"
    assert inbox.title == "Lettres des festivals"
    source = MailSource.from_key(inbox.url)
    assert source == MailSource("INBOX", ("*@cnc.fr", "lettre@festival.example"), split=True)
    assert MailSource.from_key(feed.url) is None
    # same text, same keys: the database follows the same sources across reloads
    assert parse_config(GOOD, "feeds.yaml").feeds == config.feeds


@pytest.mark.parametrize(("security", "port"), [("ssl", 993), ("starttls", 143), ("none", 143)])
def test_default_port_follows_security(security, port):
    text = GOOD.replace("    username:", f"    security: {security}\n    username:")
    imap = parse_config(text, "feeds.yaml").settings.imap
    assert imap is not None and imap.port == port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tabs:\n  - name: B\n    feeds:\n      - mail: INBOX\n",
            "feeds.yaml:4:9: a mail source needs the mailbox it reads: add 'imap:' under 'settings:'",
        ),
        (
            GOOD.replace("    username: alex@example.org\n", "    password: hunter2\n"),
            "feeds.yaml:3:5: 'imap' needs a 'username:' line",
        ),
        (
            GOOD.replace("    username: alex@example.org\n", "    username: a\n    password: x\n"),
            "feeds.yaml:5:5: 'password' is not a imap key; the IMAP password comes only from"
            " the AGGREGATOR_IMAP_PASSWORD environment variable",
        ),
        (GOOD.replace("split: links", "split: lines"), "feeds.yaml:12:16: split: the only choice"),
        (
            GOOD.replace('"*@CNC.fr"', '"*@*.fr"'),
            "feeds.yaml:10:15: from: '*@*.fr' is not a sender",
        ),
        (
            GOOD.replace("- https://example.org/feed.xml", "- mail: Newsletters"),
            "feeds.yaml:13:15: the mail source 'imap://alex%40example.org@imap.example.org/"
            "Newsletters' is listed twice (first at line 8)",
        ),
        (
            GOOD.replace(
                "- https://example.org/feed.xml", "- url: https://e.org/f\n        split: links"
            ),
            "feeds.yaml:14:9: 'split:' is for mail sources",
        ),
        (
            GOOD.replace("mail: Newsletters", "mail: ''"),
            "feeds.yaml:8:15: mail: the folder name is empty",
        ),
        (
            GOOD.replace("    host: imap.example.org", "    host: imap.example.org:993"),
            "feeds.yaml:3:11: host: 'imap.example.org:993' is not a host name",
        ),
        (
            GOOD.replace("    username: alex@example.org", "    username: alex\n    security: tls"),
            "feeds.yaml:5:15: security: 'tls' is ambiguous",
        ),
    ],
)
def test_mistakes_in_mail_sources_are_reported_where_they_are(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "feeds.yaml")
    assert any(str(p).startswith(expected) for p in info.value.problems), info.value


def test_opml_export_leaves_mail_sources_out():
    from aggregator.opml import write_opml

    only_mail = GOOD.replace("      - https://example.org/feed.xml\n", "")
    opml = write_opml(parse_config(GOOD, "feeds.yaml")).decode()
    assert "imap://" not in opml and 'xmlUrl="https://example.org/feed.xml"' in opml
    assert "imap://" not in write_opml(parse_config(only_mail, "feeds.yaml")).decode()


def test_the_dashboard_edits_mail_sources_by_their_key(tmp_path):
    from aggregator.config.edit import (
        RemovedFeed,
        move_feed,
        remove_feed,
        rename_feed,
        restore_feed,
    )

    path = tmp_path / "feeds.yaml"
    path.write_text("# my feeds\n" + GOOD, encoding="utf-8")
    news, inbox, feed = parse_config(GOOD, "feeds.yaml").feeds

    config = rename_feed(path, news.url, "Mes lettres")
    assert config.feed(news.url).title == "Mes lettres"
    config = move_feed(path, inbox.url, "Emplois")
    assert config.feed(inbox.url).tab == "Emplois"

    removed = remove_feed(path, inbox.url)
    assert [f.url for f in load(path).feeds] == [news.url, feed.url]
    restored = restore_feed(path, RemovedFeed.from_json(removed.to_json()))
    back = restored.feed(inbox.url)
    assert back is not None and back.tab == "Emplois" and back.title == "Lettres des festivals"
    assert MailSource.from_key(back.url).split
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# my feeds\n") and "mail: INBOX" in text


def load(path: Path):
    return parse_config(path.read_text(encoding="utf-8"), str(path))
