"""forward: queueing, the durable outbox, delivery to a real aiosmtpd server on
127.0.0.1, crashes, the .eml fallback, rate limit, undo, memory, suggestions, the
CLI commands and the scheduler job. Real SQLite files and YAML files in tmp_path."""

from __future__ import annotations

import email
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from smtpserver import SmtpServer

import aggregator
from aggregator import errors
from aggregator.cli import cli
from aggregator.config import ConfigSource, ContactSource
from aggregator.forward import (
    UNDO_SECONDS,
    AlreadySent,
    Forwarder,
    ForwardError,
    RateLimited,
    UnknownContact,
    backoff,
    default_note,
    link_key,
    suggest,
)
from aggregator.models import Contact, Entry, EntryView, FeedConfig
from aggregator.storage import Storage

NOW = datetime(2024, 11, 3, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=UNDO_SECONDS + 1)
JOBS = "https://jobs.example/feed"
CINE = "https://cine.example/rss"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - a test value
ROOT = Path(aggregator.__file__).resolve().parent.parent

CONTACTS = """\
# my people
- name: Camille Exemplé
  email: camille@example.org
  interests: [cinéma documentaire, financement, Montréal]
- name: Sam Exemple
  email: sam@example.com
  interests: [emploi, montage vidéo, "post-production"]
  language: en
"""


def feeds_yaml(mail: dict | None) -> str:
    lines = []
    if mail:
        lines += ["settings:", "  mail:"]
        lines += [f"    {k}: {json.dumps(v)}" for k, v in mail.items()]
    lines += [
        "tabs:",
        "  - name: Emploi",
        "    feeds:",
        f"      - {{url: {JOBS}, title: Offres Montréal}}",
        "  - name: Cinéma",
        "    feeds:",
        f"      - {{url: {CINE}, title: Ciné-journal}}",
    ]
    return "\n".join(lines) + "\n"


def mail_of(server: SmtpServer, **extra) -> dict:
    return {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "from": "Alex Exemple <alex@example.org>",
        **extra,
    }


class World:
    """A config folder, a database with a few entries, and Forwarders on them."""

    def __init__(self, tmp_path: Path, mail: dict | None) -> None:
        self.config = tmp_path / "config"
        self.config.mkdir()
        self.feeds = self.config / "feeds.yaml"
        self.contacts = self.config / "contacts.yaml"
        self.feeds.write_text(feeds_yaml(mail), encoding="utf-8")
        self.contacts.write_text(CONTACTS, encoding="utf-8")
        self.db = tmp_path / "data" / "aggregator.sqlite3"
        self.outbox = tmp_path / "data" / "outbox"
        self.storage = Storage(self.db)
        self.storage.sync_feeds(
            [
                FeedConfig(JOBS, "Emploi", "Offres Montréal"),
                FeedConfig(CINE, "Cinéma", "Ciné-journal"),
            ],
            now=NOW,
        )
        self.ids: dict[str, int] = {}
        self._forwarders: list[Forwarder] = []

    def add(self, feed: str, guid: str, title: str, summary: str = "", link: str | None = None):
        entry = Entry(
            feed_url=feed,
            guid=guid,
            title=title,
            link=link or f"https://example.org/{guid}",
            author=None,
            published=NOW - timedelta(days=2),
            updated=None,
            content_html=f"<p>{summary}</p>",
            summary=summary,
            content_hash=guid,
        )
        self.storage.upsert_entries(feed, [entry], now=NOW)
        self.ids[guid] = next(v.id for v in self.storage.entries(limit=500)[0] if v.guid == guid)
        return self.ids[guid]

    def forwarder(self, **kw) -> Forwarder:
        kw.setdefault("password", "")
        kw.setdefault("timeout", 5)
        f = Forwarder(
            self.storage,
            ConfigSource(self.feeds),
            ContactSource(self.contacts),
            outbox_dir=self.outbox,
            **kw,
        )
        return f

    def set_mail(self, mail: dict | None) -> None:
        # The app's own atomic writer: complete by construction, so applied at once
        # (a hand edit is applied only once left alone, see tests/test_reload.py).
        from aggregator.config.yamlfile import atomic_write

        atomic_write(self.feeds, feeds_yaml(mail))


@pytest.fixture
def world(tmp_path, smtp):
    w = World(tmp_path, mail_of(smtp))
    w.add(JOBS, "job", "Offre d'emploi : monteur vidéo", "Poste en montage vidéo à Montréal.")
    w.add(CINE, "doc", "Un fonds pour le cinéma documentaire", "Financement des films. Texte long.")
    yield w
    w.storage.close()


@pytest.fixture
def offline(tmp_path):
    """No settings.mail at all."""
    w = World(tmp_path, None)
    w.add(JOBS, "job", "Offre d'emploi : monteur vidéo", "Poste en montage vidéo.")
    yield w
    w.storage.close()


def state(world: World, forward_id: int):
    return world.storage.forward(forward_id)


# --- queue, undo, deliver --------------------------------------------------------------


def test_queue_writes_one_row_per_recipient_and_delivers_after_the_undo_window(world, smtp):
    fw = world.forwarder()
    queued = fw.queue(
        world.ids["doc"], ["camille@example.org", "SAM@example.com"], "Pour vous deux !", now=NOW
    )
    assert [f.contact_name for f in queued] == ["Camille Exemplé", "Sam Exemple"]
    assert {f.batch for f in queued} == {queued[0].batch}
    assert all(f.state == "queued" and f.send_after == NOW + timedelta(seconds=10) for f in queued)
    assert [f.language for f in queued] == ["fr", "en"]

    early = fw.deliver_due(now=NOW + timedelta(seconds=5))
    assert early.sent == [] and smtp.messages == []

    report = fw.deliver_due(now=LATER)
    assert sorted(report.sent) == [f.id for f in queued]
    got = smtp.wait_for(2)
    assert [m.rcpt_tos for m in got] == [["camille@example.org"], ["sam@example.com"]]
    camille, sam = (m.message for m in got)
    assert camille["Subject"] == "Ça pourrait t'intéresser : Un fonds pour le cinéma documentaire"
    assert sam["Subject"] == "This might interest you: Un fonds pour le cinéma documentaire"
    assert camille["To"].addresses[0].display_name == "Camille Exemplé"
    assert camille["From"].addresses[0].addr_spec == "alex@example.org"
    assert camille["Reply-To"].addresses[0].addr_spec == "alex@example.org"
    assert camille.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in camille.iter_parts()] == ["text/plain", "text/html"]
    text = camille.get_body(("plain",)).get_content()
    assert text.startswith("Pour vous deux !")
    assert "Ciné-journal · 1er novembre 2024" in text and "Financement des films" in text
    assert "https://example.org/doc" in camille.get_body(("html",)).get_content()

    done = state(world, queued[0].id)
    assert done.state == "sent" and done.sent_at == LATER and done.attempts == 1
    assert done.message_id == camille["Message-ID"]
    assert fw.outbox() == []
    assert fw.deliver_due(now=LATER + timedelta(hours=1)).sent == []  # exactly once
    assert len(smtp.messages) == 2


def test_default_note_follows_the_contacts_language(world, smtp):
    fw = world.forwarder()
    camille, sam = fw.contacts
    assert default_note([camille, sam]) == "Ça pourrait t'intéresser !"
    assert default_note([sam]) == "This might interest you!"
    (f,) = fw.queue(world.ids["job"], ["sam@example.com"], now=NOW)
    assert f.note == "This might interest you!"
    (f,) = fw.queue(world.ids["job"], ["camille@example.org"], "", now=NOW)
    assert f.note == ""  # cleared on purpose: no note


def test_copy_to_me_goes_to_reply_to_once_per_batch_without_a_bcc_header(tmp_path, smtp):
    w = World(tmp_path, mail_of(smtp, reply_to="alex.perso@example.net", copy_to_me=True))
    entry = w.add(CINE, "doc", "Cinéma documentaire")
    fw = w.forwarder()
    fw.queue(entry, ["camille@example.org", "sam@example.com"], now=NOW)
    fw.deliver_due(now=LATER)
    got = smtp.wait_for(2)
    assert [m.rcpt_tos for m in got] == [
        ["camille@example.org", "alex.perso@example.net"],
        ["sam@example.com"],
    ]
    assert "Bcc" not in got[0].message
    assert got[0].message["Reply-To"].addresses[0].addr_spec == "alex.perso@example.net"
    w.storage.close()


def test_undo_cancels_inside_the_window_only(world, smtp):
    fw = world.forwarder()
    first = fw.queue(world.ids["doc"], ["camille@example.org", "sam@example.com"], now=NOW)
    assert fw.cancel(first[0].batch, now=NOW + timedelta(seconds=9)) == 2
    assert {state(world, f.id).state for f in first} == {"cancelled"}
    assert fw.deliver_due(now=LATER).sent == []

    (second,) = fw.queue(world.ids["job"], ["sam@example.com"], now=NOW)
    assert fw.cancel(second.batch, now=NOW + timedelta(seconds=10)) == 0  # window over
    assert fw.deliver_due(now=LATER).sent == [second.id]
    assert fw.cancel(second.batch, now=NOW + timedelta(seconds=5)) == 0  # already sent
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["sam@example.com"]]


def test_queue_refuses_unknown_addresses_and_bad_input(world):
    fw = world.forwarder()
    with pytest.raises(UnknownContact) as err:
        fw.queue(world.ids["doc"], ["camille@example.org", "eve@evil.example"], now=NOW)
    assert isinstance(err.value, errors.NotFound)
    with pytest.raises(ForwardError):
        fw.queue(world.ids["doc"], [], now=NOW)
    with pytest.raises(ForwardError, match="too long"):
        fw.queue(world.ids["doc"], ["camille@example.org"], "x" * 1001, now=NOW)
    with pytest.raises(errors.NotFound):
        fw.queue(999_999, ["camille@example.org"], now=NOW)
    assert fw.outbox() == []  # nothing half-queued


# --- failures and retries ----------------------------------------------------------------


def test_server_down_then_up_delivers_after_backoff_exactly_once(world, smtp):
    fw = world.forwarder()
    (f,) = fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    smtp.down()
    report = fw.deliver_due(now=LATER)
    assert report.deferred == [f.id] and report.sent == []
    waiting = state(world, f.id)
    assert waiting.state == "queued" and waiting.attempts == 1
    assert waiting.next_attempt == LATER + timedelta(minutes=1)
    assert "cannot reach the server" in waiting.last_error

    smtp.up()
    assert fw.deliver_due(now=LATER + timedelta(seconds=30)).sent == []  # not due yet
    report = fw.deliver_due(now=LATER + timedelta(minutes=1))
    assert report.sent == [f.id]
    assert fw.deliver_due(now=LATER + timedelta(hours=2)).sent == []
    assert len(smtp.wait_for(1)) == 1
    sent = state(world, f.id)
    assert sent.state == "sent" and sent.attempts == 2 and sent.last_error is None


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() / 60 for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_temporary_refusal_is_retried_with_the_servers_reason(world, smtp):
    fw = world.forwarder()
    (f,) = fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    smtp.refuse("451 4.7.1 greylisted, try again later", at="RCPT")
    assert fw.deliver_due(now=LATER).deferred == [f.id]
    assert state(world, f.id).last_error == "451 4.7.1 greylisted, try again later"
    smtp.accept()
    assert fw.deliver_due(now=LATER + timedelta(minutes=2)).sent == [f.id]
    assert len(smtp.wait_for(1)) == 1


def test_permanent_rejection_fails_with_the_reason_and_can_be_retried(world, smtp):
    smtp.reject("sam@example.com", "550 5.1.1 <sam@example.com>: Recipient address rejected")
    fw = world.forwarder()
    camille, sam = fw.queue(world.ids["job"], ["camille@example.org", "sam@example.com"], now=NOW)
    report = fw.deliver_due(now=LATER)
    assert report.sent == [camille.id] and report.failed == [sam.id]
    failed = state(world, sam.id)
    assert failed.state == "failed"
    assert failed.last_error == "550 5.1.1 <sam@example.com>: Recipient address rejected"
    assert [f.id for f in fw.outbox()] == [sam.id]
    assert fw.deliver_due(now=LATER + timedelta(hours=1)).failed == []  # stays failed

    smtp.accept()  # the address was fixed on the server side
    again = fw.retry(sam.id, now=LATER + timedelta(hours=1))
    assert again.state == "queued" and again.attempts == 0
    assert fw.deliver_due(now=LATER + timedelta(hours=1)).sent == [sam.id]
    assert [m.rcpt_tos for m in smtp.wait_for(2)] == [["camille@example.org"], ["sam@example.com"]]
    with pytest.raises(errors.NotFound):
        fw.retry(123_456, now=NOW)


def test_timeout_is_temporary(world, smtp):
    fw = world.forwarder(timeout=0.3)
    (f,) = fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    smtp.hold("MAIL")
    assert fw.deliver_due(now=LATER).deferred == [f.id]
    smtp.release()
    waiting = state(world, f.id)
    assert waiting.state == "queued" and "timeout" in waiting.last_error


CRASHER = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from pathlib import Path
    from aggregator.config import ConfigSource, ContactSource
    from aggregator.forward import Forwarder
    from aggregator.storage import Storage

    feeds, contacts, db, outbox, when = sys.argv[1:]
    fw = Forwarder(Storage(db), ConfigSource(feeds), ContactSource(contacts),
                   outbox_dir=Path(outbox), password="")
    fw.deliver_due(now=datetime.fromisoformat(when))
    print("delivery returned", flush=True)
    """
)


def test_process_killed_mid_conversation_delivers_once_after_restart(world, smtp):
    fw = world.forwarder()
    (f,) = fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    smtp.hold("RCPT")  # the crashing process stops after MAIL FROM
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHER, str(world.feeds), str(world.contacts), str(world.db),
         str(world.outbox), LATER.isoformat()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert smtp.held.wait(20), proc.communicate(timeout=5)
        assert state(world, f.id).state == "sending"
        # While it lives, nobody else delivers, nor takes its row back.
        assert fw.deliver_due(now=LATER).busy
        assert state(world, f.id).state == "sending"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    smtp.release()
    assert smtp.messages == []

    restarted = world.forwarder()  # the kernel released the dead process's lock
    report = restarted.deliver_due(now=LATER + timedelta(seconds=5))
    assert report.sent == [f.id]
    assert len(smtp.wait_for(1)) == 1
    sent = state(world, f.id)
    assert sent.state == "sent" and sent.attempts == 2
    assert restarted.deliver_due(now=LATER + timedelta(hours=2)).sent == []
    assert len(smtp.messages) == 1


def test_mail_queued_before_a_restart_is_still_delivered(world, smtp):
    (f,) = world.forwarder().queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    world.storage.close()
    world.storage = Storage(world.db)  # a new process, in effect
    assert world.forwarder().deliver_due(now=LATER).sent == [f.id]
    assert len(smtp.wait_for(1)) == 1


# --- hostile input -------------------------------------------------------------------------


def test_header_injection_attempts_reach_the_server_as_plain_text(world, smtp):
    # A name cannot hold CR/LF in contacts.yaml, but other line breaks pass the loader.
    world.contacts.write_text(
        '- name: "Eve\\u2028Bcc: victim@evil.example\\x85X-Injected: name"\n'
        "  email: eve@example.org\n",
        encoding="utf-8",
    )
    entry = world.add(
        CINE, "evil", "Offre\r\nBcc: victim@evil.example\r\nX-Injected: title", "résumé"
    )
    fw = world.forwarder()
    fw.queue(
        entry,
        ["eve@example.org"],
        "Salut\r\nBcc: victim@evil.example\r\n\r\nX-Injected: note",
        now=NOW,
    )
    fw.deliver_due(now=LATER)
    (got,) = smtp.wait_for(1)
    assert got.rcpt_tos == ["eve@example.org"]
    msg = got.message
    assert "Bcc" not in msg and "X-Injected" not in msg
    assert msg["Subject"] == (
        "Ça pourrait t'intéresser : Offre Bcc: victim@evil.example X-Injected: title"
    )
    assert [a.addr_spec for a in msg["To"].addresses] == ["eve@example.org"]
    assert msg["To"].addresses[0].display_name == "Eve Bcc: victim@evil.example X-Injected: name"
    head = got.data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":")[0].lower() for line in head.split(b"\r\n") if line[:1] not in b" \t"]
    assert b"bcc" not in names and b"x-injected" not in names
    assert "X-Injected: note" in msg.get_body(("plain",)).get_content()  # just words


EW_PAYLOAD = "Offre =?utf-8?q?=0D=0ABcc:_attacker@evil.example=0D=0AX-Injected:_yes?="
EW_BODY = "=?utf-8?q?=0D=0A=0D=0AX-Injected:_the_feed_writes_the_body?="
# Too long for one line: the email package's folder dropped the quotes of such a
# display name, and its ':' ',' ';' made a group of other addresses in To:.
LONG_NAME = "Eve: attacker@evil.example, other@evil.example; " + "suite " * 12


@pytest.mark.parametrize(
    "title, name",
    [(EW_PAYLOAD, EW_PAYLOAD), (EW_BODY, EW_BODY), ("Offre", LONG_NAME)],
    ids=["encoded-word", "encoded-word-body", "long-name"],
)
def test_encoded_words_in_title_and_contact_name_reach_the_server_as_one_header(
    world, smtp, title, name
):
    world.contacts.write_text(
        f"- name: {json.dumps(name)}\n  email: eve@example.org\n", encoding="utf-8"
    )
    entry = world.add(CINE, "evil", title, "résumé")
    fw = world.forwarder()
    fw.queue(entry, ["eve@example.org"], f"Note {title}", now=NOW)
    assert len(fw.deliver_due(now=LATER).sent) == 1
    (got,) = smtp.wait_for(1)
    assert got.rcpt_tos == ["eve@example.org"]
    head = got.data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":")[0].lower() for line in head.split(b"\r\n") if line[:1] not in b" \t"]
    assert names == [b"subject", b"from", b"reply-to", b"to", b"date", b"message-id",
                     b"mime-version", b"content-type"]  # fmt: skip
    msg = got.message
    (to,) = msg["To"].addresses
    assert to.addr_spec == "eve@example.org"
    assert to.display_name.replace(" ", "") == name.replace("=?", "= ?").replace(" ", "")
    subject = str(msg["Subject"])
    assert "\r" not in subject and "\n" not in subject
    assert subject.replace(" ", "") == (
        "Ça pourrait t'intéresser : " + title.replace("=?", "= ?")
    ).replace(" ", "")
    text = msg.get_body(("plain",)).get_content()
    assert text.startswith("Note ")
    # the ledger keeps the title as the feed wrote it
    assert world.storage.forwards_to("eve@example.org")[0].entry_title == title


def test_a_contact_address_with_a_control_character_never_reaches_the_server(world, smtp):
    bad = "eve\x00@example.org"
    world.contacts.write_text('- name: Eve\n  email: "eve\\0@example.org"\n', encoding="utf-8")
    fw = world.forwarder()
    with pytest.raises(ForwardError):  # refused when queueing (or not even a contact)
        fw.queue(world.ids["doc"], [bad], now=NOW)
    # A row that got in anyway (queued by an older version) fails, nothing is sent.
    from aggregator.storage import NewForward

    outcome = world.storage.queue_forwards(
        "b1",
        [NewForward(entry_id=world.ids["doc"], entry_title="Doc", entry_link=None,
                    link_key=None, feed_title="F", entry_published=None, excerpt="",
                    contact_name="Eve", contact_email=bad, language="fr", note="")],
        now=NOW, send_after=NOW, max_recipients=30, window=timedelta(hours=1),
        refuse_previous=False,
    )  # fmt: skip
    (f,) = outcome.forwards
    report = fw.deliver_due(now=LATER)
    assert report.failed == [f.id] and report.sent == []
    failed = state(world, f.id)
    assert failed.state == "failed" and "control character U+0000" in failed.last_error
    assert smtp.messages == []


# --- rate limit ------------------------------------------------------------------------------


def test_rate_limit_counts_recipients_in_a_sliding_window(tmp_path, smtp):
    w = World(tmp_path, mail_of(smtp, rate_limit="3/h"))
    entry = w.add(CINE, "doc", "Cinéma documentaire")
    fw = w.forwarder()
    first = fw.queue(entry, ["camille@example.org", "sam@example.com"], now=NOW)
    with pytest.raises(RateLimited) as err:
        fw.queue(
            entry, ["camille@example.org", "sam@example.com"], now=NOW + timedelta(minutes=10),
            confirm_resend=True,
        )  # fmt: skip
    assert err.value.retry_at == NOW + timedelta(hours=1, seconds=1)
    third = fw.queue(
        entry, ["camille@example.org"], now=NOW + timedelta(minutes=10), confirm_resend=True
    )
    with pytest.raises(RateLimited):
        fw.queue(entry, ["sam@example.com"], now=NOW + timedelta(minutes=20), confirm_resend=True)
    # cancelled forwards were not sent: they do not count
    fw.cancel(third[0].batch, now=NOW + timedelta(minutes=10, seconds=1))
    fw.queue(entry, ["sam@example.com"], now=NOW + timedelta(minutes=20), confirm_resend=True)
    # an hour after the first two, there is room again
    later = NOW + timedelta(hours=1, seconds=1)
    fw.queue(entry, ["camille@example.org", "sam@example.com"], now=later, confirm_resend=True)
    assert len(first) == 2
    w.storage.close()


def test_rate_limit_applies_without_mail_configured(offline):
    fw = offline.forwarder()
    entry = offline.ids["job"]
    for i in range(30):
        fw.queue(entry, ["sam@example.com"], now=NOW + timedelta(seconds=i), confirm_resend=True)
    with pytest.raises(RateLimited):
        fw.queue(entry, ["sam@example.com"], now=NOW + timedelta(seconds=40), confirm_resend=True)


# --- no SMTP: the .eml fallback ------------------------------------------------------------


def test_without_mail_forwards_wait_and_are_written_once_as_eml(offline, smtp):
    fw = offline.forwarder()
    assert not fw.mail_configured
    (f,) = fw.queue(offline.ids["job"], ["camille@example.org"], "Regarde ça !", now=NOW)
    assert fw.deliver_due(now=NOW + timedelta(seconds=5)).written == []  # undo window
    report = fw.deliver_due(now=LATER)
    path = offline.outbox / f"forward-{f.id}.eml"
    assert report.written == [path] and report.sent == []
    raw = path.read_bytes()
    assert "Ça pourrait t'intéresser : Offre d'emploi : monteur vidéo".encode() in raw  # readable
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert str(msg["To"]) == "Camille Exemplé <camille@example.org>"
    assert "From" not in msg  # no sender is configured yet
    assert "Regarde ça !" in msg.get_body(("plain",)).get_content()
    waiting = state(offline, f.id)
    assert waiting.state == "queued" and str(path) in waiting.last_error

    mtime = path.stat().st_mtime_ns
    assert fw.deliver_due(now=LATER + timedelta(minutes=5)).written == []  # once per forward
    assert path.stat().st_mtime_ns == mtime

    offline.set_mail(mail_of(smtp))  # configured: queued mail leaves at once
    assert fw.deliver_due(now=LATER + timedelta(minutes=6)).sent == [f.id]
    assert smtp.wait_for(1)[0].rcpt_tos == ["camille@example.org"]
    assert state(offline, f.id).last_error is None


# --- secrets -------------------------------------------------------------------------------


def test_password_comes_from_the_environment_and_is_never_written(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AGGREGATOR_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(auth=("alex", PASSWORD)) as server:
        w = World(tmp_path, mail_of(server, username="alex"))
        entry = w.add(CINE, "doc", "Cinéma documentaire")
        fw = Forwarder(
            w.storage, ConfigSource(w.feeds), ContactSource(w.contacts), outbox_dir=w.outbox
        )
        assert PASSWORD not in repr(fw) and PASSWORD not in repr(vars(fw).get("storage"))
        (ok,) = fw.queue(entry, ["camille@example.org"], now=NOW)
        assert fw.deliver_due(now=LATER).sent == [ok.id]
        assert server.logins == ["alex"]

        monkeypatch.setenv("AGGREGATOR_SMTP_PASSWORD", PASSWORD + "-wrong")
        wrong = Forwarder(
            w.storage, ConfigSource(w.feeds), ContactSource(w.contacts), outbox_dir=w.outbox
        )
        (f,) = wrong.queue(entry, ["sam@example.com"], now=NOW)
        assert wrong.deliver_due(now=LATER).deferred == [f.id]
        assert "535" in state(w, f.id).last_error
        w.set_mail(None)
        wrong.deliver_due(now=LATER + timedelta(hours=1))  # writes the .eml copy
        w.storage.close()
    stored = b"".join(p.read_bytes() for p in w.db.parent.rglob("*") if p.is_file())
    assert list(w.outbox.glob("*.eml"))
    assert PASSWORD.encode() not in stored
    assert PASSWORD not in caplog.text


# --- memory ------------------------------------------------------------------------------------


def test_already_sent_by_entry_or_by_the_same_link_from_another_feed(world):
    link = "http://Example.org/article/?utm_source=newsletter#top"
    a = world.add(CINE, "a", "Un documentaire", link=link)
    b = world.add(
        JOBS, "b", "Le même article, vu ailleurs", link="https://example.org/article?utm_medium=rss"
    )
    fw = world.forwarder()
    (first,) = fw.queue(a, ["camille@example.org"], now=NOW)
    with pytest.raises(AlreadySent) as err:
        fw.queue(a, ["Camille@Example.org", "sam@example.com"], now=NOW)
    assert list(err.value.previous) == ["Camille@Example.org"]
    assert err.value.previous["Camille@Example.org"][0].id == first.id
    with pytest.raises(AlreadySent):
        fw.queue(b, ["camille@example.org"], now=NOW)
    assert [f.contact_email for f in fw.outbox()] == ["camille@example.org"]  # nothing added

    again = fw.queue(b, ["camille@example.org", "sam@example.com"], now=NOW, confirm_resend=True)
    assert len(again) == 2
    assert set(fw.previous_sends(b)) == {"camille@example.org", "sam@example.com"}
    assert fw.previous_sends(a, ["sam@example.com"])["sam@example.com"][0].entry_id == b
    assert [f.contact_name for f in fw.history(b)] == ["Camille Exemplé", "Sam Exemple"]
    assert fw.sent_to_by_entry([a, b, world.ids["job"]]) == {
        a: ["Camille Exemplé"],
        b: ["Camille Exemplé", "Sam Exemple"],
    }
    # a cancelled forward is forgotten by the memory, kept in the history
    fw.cancel(again[0].batch, now=NOW)
    assert fw.sent_to_by_entry([b]) == {}
    assert [f.state for f in fw.history(b)] == ["cancelled", "cancelled"]
    assert [f.id for f in fw.sent(limit=2)] == [again[1].id, again[0].id]
    assert [f.id for f in fw.sent(before_id=again[0].id)] == [first.id]


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("https://example.org/x", "http://EXAMPLE.org:80/x/", True),
        ("https://example.org/x?utm_source=a&id=3", "https://example.org/x?id=3&fbclid=z", True),
        ("https://example.org/x#comments", "https://example.org/x", True),
        ("https://example.org/x?id=3", "https://example.org/x?id=4", False),
        ("https://example.org/X", "https://example.org/x", False),
    ],
)
def test_link_key(a, b, same):
    assert (link_key(a) == link_key(b)) is same
    assert link_key(None) is None and link_key("  ") is None


def test_purge_keeps_forwarded_entries_and_history_survives(world):
    fw = world.forwarder()
    fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    world.storage.set_read([world.ids["doc"], world.ids["job"]], now=NOW)
    assert world.storage.purge(now=NOW + timedelta(days=400), keep_days=30) == 1  # job only
    assert world.storage.entry(world.ids["doc"]).title == "Un fonds pour le cinéma documentaire"
    # the entry deleted anyway (by hand): the ledger keeps its copies
    db = sqlite3.connect(world.db)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("DELETE FROM entries WHERE id = ?", (world.ids["doc"],))
    db.commit()
    db.close()
    (f,) = fw.sent()
    assert f.entry_id is None and f.entry_title == "Un fonds pour le cinéma documentaire"
    assert f.feed_title == "Ciné-journal" and f.entry_link == "https://example.org/doc"


# --- suggestions ---------------------------------------------------------------------------


def view(title="", summary="", feed="Flux", tab="Divers", id_=1) -> EntryView:
    return EntryView(
        id=id_, feed_url="https://f.example/", feed_title=feed, tab=tab, guid=str(id_),
        title=title, link=None, author=None, published=NOW, first_seen=NOW,
        summary=summary, content_html="", read=False, starred=False,
    )  # fmt: skip


CAMILLE = Contact(
    "Camille", "camille@example.org", ("cinéma documentaire", "financement", "Montréal")
)
SAM = Contact("Sam", "sam@example.com", ("emploi", "montage vidéo", "post-production"), "en")
ALEX = Contact("Alex", "alex@example.org", ("Montréal",))
NOBODY = Contact("Nobody", "nobody@example.org", ())


@pytest.mark.parametrize(
    "entry, expected",
    [
        # accents and case folded, phrases matched whole
        (view("MONTAGE VIDEO recherché"), [("Sam", ("montage vidéo",))]),
        (view("Un montage de la vidéo"), []),  # not the phrase
        # simple plurals (-s, -x) match; other word forms do not
        (view("Trois emplois à pourvoir"), [("Sam", ("emploi",))]),
        (view("Employé recherché"), []),
        # words, not substrings
        (
            view("Financements et cinémas documentaires"),
            [("Camille", ("cinéma documentaire", "financement"))],
        ),
        (view("Refinancement"), []),
        # hyphenated interest, written with a space or a hyphen
        (
            view("Post production à Montreal"),
            [("Alex", ("Montréal",)), ("Camille", ("Montréal",)), ("Sam", ("post-production",))],
        ),
        # more matched interests first, then where they matched: title > summary > feed/tab
        (
            view("Montréal", summary="Aide au financement"),
            [("Camille", ("Montréal", "financement")), ("Alex", ("Montréal",))],
        ),
        (
            view("Nouvelles", summary="montage vidéo", feed="Emploi Québec"),
            [("Sam", ("montage vidéo", "emploi"))],
        ),
        (view("Rien", summary="Montréal"), [("Alex", ("Montréal",)), ("Camille", ("Montréal",))]),
        (view("Rien", tab="Montréal"), [("Alex", ("Montréal",)), ("Camille", ("Montréal",))]),
        (view(""), []),
    ],
)
def test_suggestions(entry, expected):
    found = suggest(entry, [NOBODY, CAMILLE, SAM, ALEX])
    assert [(s.contact.name, s.reasons) for s in found] == expected


def test_suggestion_scores_rank_title_over_summary_over_feed():
    contacts = [Contact(n, f"{n}@x.org", ("cinéma",)) for n in ("feed", "summary", "title")]
    entries = {
        "title": view("Cinéma"),
        "summary": view("x", summary="cinéma"),
        "feed": view("x", feed="Cinéma"),
    }
    scores = {k: suggest(e, contacts[:1])[0].score for k, e in entries.items()}
    assert scores["title"] > scores["summary"] > scores["feed"] == 1.0
    assert len(suggest(view("Montréal"), [CAMILLE, ALEX, SAM], limit=1)) == 1


def test_forwarder_suggestions_and_contact_page(world):
    fw = world.forwarder()
    sam, camille = fw.suggestions(world.ids["job"])
    assert (sam.contact.name, sam.reasons) == ("Sam Exemple", ("emploi", "montage vidéo"))
    assert (camille.contact.name, camille.reasons) == ("Camille Exemplé", ("Montréal",))
    assert fw.suggestions(world.ids["job"], limit=1) == [sam]
    fw.queue(world.ids["job"], ["sam@example.com"], now=NOW)
    other = world.add(JOBS, "job2", "Emploi : assistant de post-production", "")
    contact, history, matching = fw.for_contact("SAM@example.com")
    assert contact.name == "Sam Exemple"
    assert [f.entry_id for f in history] == [world.ids["job"]]
    assert [e.id for e in matching] == [other]  # the first one was already sent
    with pytest.raises(UnknownContact):
        fw.for_contact("nobody@example.org")


def test_add_contact_writes_contacts_yaml_round_trip(world):
    fw = world.forwarder()
    added = fw.add_contact("Dominique\u2028Exemple", "dom@example.net", ["photo"], "en")
    assert added == Contact("Dominique Exemple", "dom@example.net", ("photo",), "en", added.line)
    assert fw.contact("dom@example.net").name == "Dominique Exemple"
    text = world.contacts.read_text(encoding="utf-8")
    assert text.startswith("# my people\n") and "dom@example.net" in text
    with pytest.raises(errors.ConfigError):
        fw.add_contact("Twice", "camille@example.org")
    with pytest.raises(errors.ConfigError):
        fw.add_contact("Bad", "not an address")
    renamed = fw.add_contact("Dom", "dom@example.net", original_email="dom@example.net")
    assert renamed.name == "Dom" and len(fw.contacts) == 3


def test_preview_is_what_the_first_recipient_gets(world):
    msg = world.forwarder().preview(
        world.ids["doc"], ["sam@example.com", "camille@example.org"], None
    )
    assert msg["To"].addresses[0].addr_spec == "sam@example.com"
    assert msg["Subject"].startswith("This might interest you: ")
    assert msg.get_body(("plain",)).get_content().startswith("Ça pourrait t'intéresser !")


# --- CLI --------------------------------------------------------------------------------------


def run(world: World, *args: str, input: str | None = None):
    result = CliRunner().invoke(
        cli,
        ["--config", str(world.feeds), "--db", str(world.db), *args],
        input=input,
        catch_exceptions=False,
    )
    return result


def test_cli_forward_outbox_send(world, smtp):
    result = run(
        world, "forward", str(world.ids["doc"]), "--to", "camille@example.org", "--note", "Pour toi"
    )
    assert result.exit_code == 0, result.output
    assert "queued #1: « Un fonds pour le cinéma documentaire » to Camille Exemplé" in result.output
    assert "10 s" in result.output and "outbox --send" in result.output

    listed = run(world, "outbox")
    assert (
        listed.exit_code == 0 and "queued" in listed.output and "Camille Exemplé" in listed.output
    )
    as_json = json.loads(run(world, "outbox", "--json").output)
    assert [f["state"] for f in as_json["outbox"]] == ["queued"]

    sent = run(world, "outbox", "--send")  # now, without waiting for the undo window
    assert sent.exit_code == 0, sent.output
    assert "1 sent" in sent.output and "the outbox is empty" in sent.output
    assert "Pour toi" in smtp.wait_for(1)[0].message.get_body(("plain",)).get_content()

    again = run(world, "forward", str(world.ids["doc"]), "--to", "camille@example.org", input="n\n")
    assert again.exit_code == 1 and "already sent to Camille Exemplé on 2" in again.output
    yes = run(world, "forward", str(world.ids["doc"]), "--to", "camille@example.org", "--yes")
    assert yes.exit_code == 0 and "queued #2" in yes.output


def test_cli_forward_to_a_new_contact(world):
    result = run(world, "forward", str(world.ids["job"]), "--to", "dom@example.net")
    assert result.exit_code == 1 and "not one of your contacts" in result.output
    result = run(
        world,
        "forward",
        str(world.ids["job"]),
        "--to",
        "dom@example.net",
        "--add-contact",
        "Dom Exemple",
    )
    assert result.exit_code == 0, result.output
    assert "added Dom Exemple <dom@example.net>" in result.output
    assert "name: Dom Exemple" in world.contacts.read_text(encoding="utf-8")


def test_cli_outbox_send_reports_failures(world, smtp):
    smtp.reject("camille@example.org", "550 5.1.1 no such user here")
    run(world, "forward", str(world.ids["doc"]), "--to", "camille@example.org")
    result = run(world, "outbox", "--send")
    assert result.exit_code == 1
    assert "1 failed" in result.output and "550 5.1.1 no such user here" in result.output


def test_cli_outbox_without_mail_writes_eml(offline):
    run(offline, "forward", str(offline.ids["job"]), "--to", "sam@example.com")
    result = run(offline, "outbox", "--send")
    assert "written to outbox/" in result.output
    assert (offline.outbox / "forward-1.eml").exists()


def test_cli_mail_test(world, smtp):
    ok = run(world, "mail-test", "camille@example.org")
    assert ok.exit_code == 0, ok.output
    assert "the server answered: 250 2.0.0 Ok: queued as TEST1" in ok.output
    assert smtp.wait_for(1)[0].rcpt_tos == ["camille@example.org"]
    smtp.reject("nobody@example.org", "550 5.1.1 <nobody@example.org>: unknown")
    bad = run(world, "mail-test", "nobody@example.org")
    assert bad.exit_code == 1 and "550 5.1.1 <nobody@example.org>: unknown" in bad.output
    assert run(world, "mail-test", "not an address").exit_code == 2


def test_cli_mail_test_without_mail(offline):
    result = run(offline, "mail-test", "camille@example.org")
    assert result.exit_code == 1 and "mail is not configured" in result.output


def test_cli_check_validates_contacts_with_positions(world, monkeypatch):
    monkeypatch.delenv("AGGREGATOR_CONTACTS", raising=False)
    good = run(world, "check")
    assert good.exit_code == 0 and "contacts.yaml: 2 contacts" in good.output
    bad = world.config / "other.yaml"
    bad.write_text("- name: X\n  email: x@example.org\n- name: Y\n  email: x@example.org\n")
    result = run(world, "--contacts", str(bad), "check")
    assert result.exit_code == 1
    assert f"{bad}:4:10: the address 'x@example.org' is listed twice" in result.output
    monkeypatch.setenv("AGGREGATOR_CONTACTS", str(bad))
    assert run(world, "check").exit_code == 1


# --- scheduler ------------------------------------------------------------------------------


def test_scheduler_has_an_outbox_job_every_few_seconds(world):
    from aggregator.scheduler import OUTBOX_SECONDS, build_scheduler
    from aggregator.update import Worker

    worker = Worker(ConfigSource(world.feeds), world.storage, processes=0)
    try:
        without = build_scheduler(worker)
        assert without.get_job("outbox") is None
        scheduler = build_scheduler(worker, forwarder=world.forwarder())
        job = scheduler.get_job("outbox")
        assert job.trigger.interval == timedelta(seconds=OUTBOX_SECONDS) == timedelta(seconds=5)
    finally:
        worker.close()
