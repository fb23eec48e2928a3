"""Delivery without duplicates (issue 7, item 10): a deliverer killed with SIGKILL at
each stage of the SMTP conversation, the database's write lock held by another
connection right after the server's 250, a server that hangs up after each message.

Everything real: the deliverer is a subprocess killed with SIGKILL, the server is
aiosmtpd (tests/smtpserver.py) counting deliveries per Message-ID, the database a
SQLite file in tmp_path. Kill timing is set by the server holding a step (or by the
test holding the database's write lock), never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from smtpserver import Received, SmtpServer
from test_forward import CINE, LATER, NOW, ROOT, World, mail_of, state

from aggregator import mail
from aggregator.cli import cli
from aggregator.storage import Storage, _schema, _sqlite

DRIVER = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime
    from pathlib import Path
    from aggregator.config import ConfigSource, ContactSource
    from aggregator.forward import Forwarder
    from aggregator.storage import Storage

    feeds, contacts, db, outbox, when = sys.argv[1:]
    fw = Forwarder(Storage(db), ConfigSource(feeds), ContactSource(contacts),
                   outbox_dir=Path(outbox), password="", timeout=20)
    report = fw.deliver_due(now=datetime.fromisoformat(when))
    print(json.dumps({"sent": report.sent, "busy": report.busy}), flush=True)
    """
)


def start_deliverer(world: World, when=LATER) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(world.feeds), str(world.contacts), str(world.db),
         str(world.outbox), when.isoformat()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


class WriteLock:
    """SQLite's write lock held by another connection (BEGIN IMMEDIATE), in its own
    thread, until ``release()`` or for ``seconds``."""

    def __init__(self, db, seconds: float | None = None) -> None:
        self.db, self.seconds = db, seconds
        self.locked = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.locked.set()
            self._done.wait(self.seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def __enter__(self) -> WriteLock:
        self._thread.start()
        assert self.locked.wait(10)
        return self

    def release(self) -> None:
        self._done.set()
        self._thread.join(10)

    def __exit__(self, *exc: object) -> None:
        self.release()


def row(world: World, forward_id: int) -> tuple[str, int | None]:
    """state and final_dot_at, read apart from the code under test (WAL: a reader
    is never blocked by the writer)."""
    conn = sqlite3.connect(world.db)
    try:
        return conn.execute(
            "SELECT state, final_dot_at FROM forwards WHERE id = ?", (forward_id,)
        ).fetchone()
    finally:
        conn.close()


@pytest.fixture
def world(tmp_path, smtp):
    w = World(tmp_path, mail_of(smtp))
    w.add(CINE, "doc", "Un fonds pour le cinéma documentaire", "Financement des films.")
    yield w
    w.storage.close()


@pytest.fixture
def fast_busy(monkeypatch):
    """A 1 s busy timeout for the connections opened from now on (10 s in real use),
    so that a lock held "longer than the busy timeout" takes a test seconds, not tens."""
    monkeypatch.setattr(_sqlite, "BUSY_TIMEOUT_SECONDS", 1)


# --- kill -9 at each stage, then a restart ---------------------------------------------


@pytest.mark.parametrize(
    "stage",
    ["before-data", "during-data", "dot-not-accepted", "dot-accepted", "after-250"],
)
def test_a_deliverer_killed_at_any_stage_never_makes_a_duplicate(world, smtp, stage):
    (f,) = world.forwarder().queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    lock: WriteLock | None = None
    locked = threading.Event()

    def lock_after_accepting(received: Received) -> None:
        nonlocal lock
        lock = WriteLock(world.db).__enter__()  # before the 250 leaves
        locked.set()

    if stage == "before-data":
        smtp.hold("RCPT")  # MAIL FROM answered, RCPT TO not
    elif stage == "during-data":
        smtp.hold("MAIL")
    elif stage == "dot-not-accepted":
        smtp.hold("DATA")  # the whole message and its "." arrived, not accepted yet
    elif stage == "dot-accepted":
        smtp.hold("REPLY")  # accepted, the 250 not sent
    else:
        smtp.on_message = lock_after_accepting
    proc = start_deliverer(world)
    try:
        if stage == "during-data":
            # The deliverer claimed the row and waits at MAIL FROM: lock the database,
            # let it go on. It sends the message, then cannot commit "the end is
            # going out", so it never sends the final "." while we hold the lock.
            assert smtp.held.wait(20), proc.communicate(timeout=5)
            lock = WriteLock(world.db).__enter__()
            smtp.release()
            assert smtp.content_seen.wait(20), proc.communicate(timeout=5)
            assert row(world, f.id) == ("sending", None)
        elif stage == "after-250":
            # The message is accepted and the database locked before its 250 goes
            # out: the deliverer cannot write 'sent', whenever we kill it.
            assert locked.wait(20), proc.communicate(timeout=5)
        else:
            assert smtp.held.wait(20), proc.communicate(timeout=5)
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        smtp.release()
        if lock is not None:
            lock.release()
    smtp.on_message = None
    if stage == "dot-not-accepted":
        # aiosmtpd drops a message whose client hung up before it was accepted, or
        # takes it if our release came first: the client cannot know which.
        assert len(smtp.messages) <= 1
    else:
        assert len(smtp.messages) == (stage in ("dot-accepted", "after-250"))

    restarted = world.forwarder()
    first = restarted.deliver_due(now=LATER + timedelta(seconds=5))
    later = restarted.deliver_due(now=LATER + timedelta(hours=2))
    assert all(n == 1 for n in smtp.message_ids().values())  # at most once, whatever happened
    after = state(world, f.id)
    if stage in ("before-data", "during-data"):
        # The server never got the final ".": it discarded the message. Sent again, once.
        assert first.sent == [f.id] and later.sent == []
        assert after.state == "sent" and after.attempts == 2
        assert len(smtp.wait_for(1)) == 1
    else:
        # The "." was (or was about to be) sent: the server may have it. Never sent
        # again by itself; shown as uncertain, the person may send it again.
        assert first.sent == later.sent == []
        assert after.state == "uncertain" and "may have been delivered" in after.last_error
        assert [x.id for x in restarted.outbox()] == [f.id]
        before = len(smtp.messages)
        again = restarted.retry(f.id, now=LATER + timedelta(hours=3))
        assert again.state == "queued" and again.message_id == after.message_id
        assert restarted.deliver_due(now=LATER + timedelta(hours=3)).sent == [f.id]
        assert len(smtp.wait_for(before + 1)) == before + 1  # by the person's choice
        assert {m.message["Message-ID"] for m in smtp.messages} == {after.message_id}


# --- the write lock held right after the 250, no crash -------------------------------------


def test_a_write_lock_held_after_the_250_delays_the_record_not_the_truth(fast_busy, tmp_path, smtp):
    world = World(tmp_path, mail_of(smtp))  # its connections get the 1 s busy timeout
    try:
        world.add(CINE, "doc", "Un fonds pour le cinéma documentaire")
        fw = world.forwarder()
        (f,) = fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
        held: list[WriteLock] = []
        # Another connection takes the write lock before the 250 goes out and keeps it
        # for 2.5 s, more than twice the busy timeout.
        smtp.on_message = lambda received: held.append(WriteLock(world.db, 2.5).__enter__())
        report = fw.deliver_due(now=LATER)
        assert report.sent == [f.id] and report.unrecorded == []
        assert held and held[0].locked.is_set()
        held[0].release()
        assert state(world, f.id).state == "sent"
        assert fw.deliver_due(now=LATER + timedelta(hours=2)).sent == []
        assert world.forwarder().deliver_due(now=LATER + timedelta(hours=2)).sent == []
        assert list(smtp.message_ids().values()) == [1]
    finally:
        world.storage.close()


def test_an_outcome_the_database_refuses_is_kept_and_nobody_takes_the_row_back(
    fast_busy, tmp_path, smtp
):
    world = World(tmp_path, mail_of(smtp))
    try:
        world.add(CINE, "doc", "Un fonds pour le cinéma documentaire")
        fw = world.forwarder(record_patience=0.2)
        (f,) = fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
        held: list[WriteLock] = []
        smtp.on_message = lambda received: held.append(WriteLock(world.db).__enter__())
        try:
            report = fw.deliver_due(now=LATER)  # the 250 came; "sent" cannot be written
            assert report.sent == [] and report.unrecorded == [f.id]
            assert "not recorded yet" in report.line()
            smtp.on_message = None
            # a round of its own cannot go on before the record is made
            assert fw.deliver_due(now=LATER + timedelta(minutes=5)).unrecorded == [f.id]
        finally:
            for lock in held:
                lock.release()
        # The database is free again, the outcome still only in memory: this Forwarder
        # keeps the delivery lock meanwhile, so no other deliverer, in this process or
        # another, takes the row back (it would send it again).
        assert row(world, f.id)[0] == "sending"
        assert world.forwarder().deliver_due(now=LATER + timedelta(minutes=5)).busy
        proc = start_deliverer(world, LATER + timedelta(minutes=5))
        out, err = proc.communicate(timeout=30)
        assert json.loads(out) == {"sent": [], "busy": True}, err
        assert row(world, f.id)[0] == "sending"
        report = fw.deliver_due(now=LATER + timedelta(minutes=6))
        assert report.sent == [f.id] and report.unrecorded == []  # recorded, late
        assert state(world, f.id).state == "sent"
        assert world.forwarder().deliver_due(now=LATER + timedelta(hours=2)).sent == []
        assert list(smtp.message_ids().values()) == [1]
    finally:
        world.storage.close()


# --- a dropped connection costs the others nothing ---------------------------------------


def three_forwards(world: World) -> list[int]:
    fw = world.forwarder()
    ids = [world.add(CINE, f"e{i}", f"Article {i}") for i in range(3)]
    return [fw.queue(e, ["camille@example.org"], now=NOW)[0].id for e in ids]


def test_a_server_that_hangs_up_after_each_message_gets_them_all(world, smtp):
    forwards = three_forwards(world)
    smtp.hang_up_after_message = True
    report = world.forwarder().deliver_due(now=LATER)
    assert report.sent == forwards and report.errors == {}
    assert smtp.connections == 3
    for forward_id in forwards:
        done = state(world, forward_id)
        assert done.state == "sent" and done.attempts == 1 and done.last_error is None
    assert list(smtp.message_ids().values()) == [1, 1, 1]


def test_a_server_gone_after_the_first_message_leaves_the_others_untouched(world, smtp):
    forwards = three_forwards(world)
    smtp.hang_up_after_message = True

    def go_away(received: Received) -> None:
        smtp.hang_up_on_connect = True  # every new connection is closed at once

    smtp.on_message = go_away
    report = world.forwarder().deliver_due(now=LATER)
    assert report.sent == forwards[:1]
    assert report.deferred == [] and report.failed == [] and report.errors == {}
    for forward_id in forwards[1:]:
        waiting = state(world, forward_id)
        assert waiting.state == "queued" and waiting.attempts == 0
        assert waiting.last_error is None and waiting.next_attempt is None
    assert len(smtp.messages) == 1
    smtp.hang_up_on_connect = smtp.hang_up_after_message = False
    smtp.on_message = None
    assert world.forwarder().deliver_due(now=LATER).sent == forwards[1:]
    assert list(smtp.message_ids().values()) == [1, 1, 1]


# --- the client: the end of DATA apart -------------------------------------------------------


def letter() -> mail.Letter:
    return mail.Letter(
        to_name="Camille", to_email="camille@example.org",
        note=".\n..\nUne ligne.\n.\n", title="Titre", link=None, feed_title="F",
        published=None, excerpt=".début\n\n.",
    )  # fmt: skip


def test_nothing_is_delivered_when_the_end_cannot_be_marked(smtp):
    msg = mail.compose(letter(), sender="alex@example.org", date=NOW)

    def refuse() -> None:
        assert smtp.content_seen.wait(10)  # the message itself did go out
        raise RuntimeError("the database is locked")

    client = mail.SmtpClient(smtp.settings(), None, timeout=5)
    client.open()
    with pytest.raises(RuntimeError, match="locked"):
        client.send(msg, sender="alex@example.org", recipients=["camille@example.org"],
                    before_end=refuse)  # fmt: skip
    assert not client.connected
    client.open()  # a new connection works, and the message arrives whole, dots included
    client.send(msg, sender="alex@example.org", recipients=["camille@example.org"])
    client.close()
    (got,) = smtp.wait_for(1)
    text = got.message.get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n").startswith(".\n..\nUne ligne.\n.\n")
    assert len(smtp.messages) == 1


def test_no_answer_to_the_end_of_data_is_uncertain_not_temporary(smtp):
    msg = mail.compose(letter(), sender="alex@example.org", date=NOW)
    smtp.hold("REPLY")
    client = mail.SmtpClient(smtp.settings(), None, timeout=5, final_timeout=0.3)
    client.open()
    with pytest.raises(mail.MailError) as err:
        client.send(msg, sender="alex@example.org", recipients=["camille@example.org"])
    smtp.release()
    assert err.value.uncertain and not client.connected
    assert "may have accepted it" in err.value.reason
    assert len(smtp.messages) == 1  # it had


def test_a_refusal_of_the_message_is_not_uncertain(smtp):
    smtp.refuse("451 4.3.0 try later", at="DATA")
    client = mail.SmtpClient(smtp.settings(), None, timeout=5)
    with client, pytest.raises(mail.MailError) as err:
        client.send(mail.compose(letter(), sender="alex@example.org", date=NOW),
                    sender="alex@example.org", recipients=["camille@example.org"])  # fmt: skip
    assert err.value.temporary and not err.value.uncertain and not err.value.stale


def test_a_forward_without_an_answer_is_uncertain_and_never_resent_by_itself(world, smtp):
    fw = world.forwarder(final_timeout=0.3)
    (f,) = fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    smtp.hold("REPLY")
    report = fw.deliver_due(now=LATER)
    smtp.release()
    assert report.uncertain == [f.id] and report.deferred == []
    assert "uncertain" in report.line()
    after = state(world, f.id)
    assert after.state == "uncertain" and "Not sent again automatically" in after.last_error
    for hours in (1, 2, 5):
        assert fw.deliver_due(now=LATER + timedelta(hours=hours), force=True).sent == []
    assert len(smtp.messages) == 1


# --- what the person sees ----------------------------------------------------------------------


def uncertain_row(world: World) -> int:
    """A forward left uncertain by a deliverer that died after the end of DATA (the
    storage steps a real deliverer takes; the kill tests above do it for real)."""
    (f,) = world.forwarder().queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    world.storage.claim_forward(f.id, now=LATER, message_id="<m@example.org>", owner="1:dead")
    world.storage.forward_final_dot(f.id, now=LATER)
    assert world.storage.requeue_interrupted(owner="2:alive") == (0, 1)
    return f.id


def test_cli_outbox_shows_uncertain_forwards_and_sends_one_again_on_request(world, smtp):
    forward_id = uncertain_row(world)
    runner = CliRunner()
    base = ["--config", str(world.feeds), "--db", str(world.db)]
    listed = runner.invoke(cli, [*base, "outbox"], catch_exceptions=False)
    assert "uncertain" in listed.output and "may have been delivered" in listed.output
    assert f"aggregator outbox --retry {forward_id}" in listed.output
    sent = runner.invoke(cli, [*base, "outbox", "--send"], catch_exceptions=False)
    assert "0 sent" in sent.output and smtp.messages == []  # not by itself
    again = runner.invoke(
        cli, [*base, "outbox", "--retry", str(forward_id), "--send"], catch_exceptions=False
    )
    assert again.exit_code == 0, again.output
    assert f"#{forward_id} is queued again" in again.output and "1 sent" in again.output
    assert smtp.wait_for(1)[0].message["Message-ID"] == "<m@example.org>"
    refused = runner.invoke(cli, [*base, "outbox", "--retry", str(forward_id)])
    assert refused.exit_code == 1 and "is sent" in refused.output


def test_sent_page_says_maybe_sent_and_offers_to_send_again(world, smtp):
    from websupport import make_app, text, token

    forward_id = uncertain_row(world)
    app = make_app({"config": world.feeds, "db": world.db})
    try:
        client = app.test_client()
        page = text(client.get("/sent"))
        assert '<span class="state state-uncertain">peut-être envoyé</span>' in page
        assert "il a peut-être été distribué" in page and ">Renvoyer</button>" in page
        r = client.post(
            f"/forwards/{forward_id}/retry", data={"csrf_token": token(client)},
            follow_redirects=True,
        )  # fmt: skip
        assert "de retour dans la file" in text(r)
        assert state(world, forward_id).state == "queued"
    finally:
        app.extensions["aggregator"].close()


# --- the migration -----------------------------------------------------------------------------


def test_migration_3_keeps_every_forward_and_the_id_sequence(tmp_path):
    db_path = tmp_path / "v2.sqlite3"
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("BEGIN")
    db.execute(f"PRAGMA application_id = {_schema.APPLICATION_ID}")
    _schema.MIGRATIONS[1](db)
    _schema.MIGRATIONS[2](db)
    db.execute("PRAGMA user_version = 2")
    for id_, state_ in ((3, "sent"), (7, "sending")):
        db.execute(
            "INSERT INTO forwards (id, batch, entry_title, feed_title, contact_name, "
            "contact_email, email_key, state, created_at, send_after, message_id) "
            "VALUES (?, 'b', 'T', 'F', 'C', 'c@example.org', 'c@example.org', ?, 1, 1, '<x>')",
            (id_, state_),
        )
    db.execute("UPDATE sqlite_sequence SET seq = 41 WHERE name = 'forwards'")
    db.execute("COMMIT")
    db.close()

    storage = Storage(db_path)
    try:
        assert [(f.id, f.state) for f in storage.forwards_page()] == [(7, "sending"), (3, "sent")]
        # a 'sending' row from before the upgrade has no end-of-DATA mark: sent again
        assert storage.requeue_interrupted(owner="me") == (1, 0)
        conn = sqlite3.connect(db_path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == _schema.SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.close()
        storage.claim_forward(7, now=NOW, message_id="<x>", force=True, owner="me")
        storage.forward_uncertain(7, reason="no answer")  # the new state is allowed
        assert storage.forward(7).state == "uncertain"
        new = storage.queue_forwards(
            "b2", [], now=NOW, send_after=NOW, max_recipients=30,
            window=timedelta(hours=1), refuse_previous=False,
        )  # fmt: skip
        assert new.forwards == []
        from aggregator.storage import NewForward

        (added,) = storage.queue_forwards(
            "b3",
            [NewForward(entry_id=None, entry_title="T", entry_link=None, link_key=None,
                        feed_title="F", entry_published=None, excerpt="", contact_name="C",
                        contact_email="c@example.org", language="fr", note="")],
            now=NOW, send_after=NOW, max_recipients=30, window=timedelta(hours=1),
            refuse_previous=False,
        ).forwards  # fmt: skip
        assert added.id == 42  # never an id given before
    finally:
        storage.close()


def test_smtp_server_is_a_real_one():
    with SmtpServer() as server:
        assert server.connections == 0
