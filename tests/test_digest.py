"""« Pour toi » letters (issue 13): a contact's basket leaves as ONE email with
several items through the durable outbox, each item recorded in the ledger. The
clock is passed in (``now``): a week with downtime, an empty basket, the SMTP
server down at letter time, and the CLI (``forward --basket``, ``digest``) as real
subprocesses. Delivery goes to a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from test_forward import CINE, JOBS, NOW, ROOT, World, mail_of

from aggregator.models import DIGEST_PERIODS

CONTACTS = """\
- name: Camille Exemplé
  email: camille@example.org
  interests: [cinéma documentaire]
  digest: weekly
- name: Mme Productrice
  email: prod@example.org
  formal: true
  digest: daily
- name: Sam Exemple
  email: sam@example.com
  interests: [emploi]
"""
WEEK = DIGEST_PERIODS["weekly"]


@pytest.fixture
def world(tmp_path, smtp):
    w = World(tmp_path, mail_of(smtp))
    w.contacts.write_text(CONTACTS, encoding="utf-8")
    w.add(JOBS, "job", "Offre d'emploi : monteur vidéo", "Poste en montage vidéo.")
    w.add(CINE, "doc", "Un fonds pour le cinéma documentaire", "Financement des films.")
    w.add(CINE, "fest", "Un festival à Montréal", "Vingt films, des ateliers.")
    yield w
    w.storage.close()


def test_a_week_of_letters_with_downtime_sends_once_per_period(world, smtp):
    fw = world.forwarder()
    camille = "camille@example.org"
    fw.add_to_basket(world.ids["doc"], camille, "Pour ton dossier", now=NOW)
    fw.add_to_basket(world.ids["fest"], camille, None, now=NOW + timedelta(hours=1))
    fw.add_to_basket(world.ids["doc"], camille, "Pour ton dossier !", now=NOW)  # not twice
    assert [i.entry_title for i in fw.basket(camille)] == [
        "Un fonds pour le cinéma documentaire",
        "Un festival à Montréal",
    ]
    assert fw.next_letter(fw.contact(camille), now=NOW) == NOW + WEEK
    for day in range(1, 7):  # the outbox round runs all week: nothing is due yet
        fw.deliver_due(now=NOW + timedelta(days=day))
    assert smtp.messages == []

    report = fw.deliver_due(now=NOW + WEEK + timedelta(minutes=1))
    assert len(report.sent) == 1
    (msg,) = [m.message for m in smtp.wait_for(1)]
    assert msg["Subject"] == "Pour toi : 2 articles"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert text.index("1. Un fonds pour le cinéma") < text.index("2. Un festival à Montréal")
    assert "Pour ton dossier !" in text
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert html.count("<h2") == 2
    rows = world.storage.forwards_to(camille)
    assert sorted(f.state for f in rows) == ["sent", "sent"]
    assert {f.kind for f in rows} == {"digest"} and len({f.letter_of for f in rows}) == 1
    assert {f.message_id for f in rows} == {msg["Message-ID"]}
    assert fw.basket(camille) == []
    assert camille in fw.previous_sends(world.ids["fest"])  # the memory knows each item

    # an empty basket sends nothing, week after week
    for week in (2, 3):
        fw.deliver_due(now=NOW + week * WEEK + timedelta(minutes=1))
    assert len(smtp.messages) == 1

    # downtime: an item waits while nothing runs for three weeks; ONE letter on return
    fw.add_to_basket(world.ids["job"], camille, None, now=NOW + 3 * WEEK + timedelta(days=1))
    back = NOW + 6 * WEEK
    fw.deliver_due(now=back)
    fw.deliver_due(now=back + timedelta(minutes=5))
    fw.deliver_due(now=back + timedelta(days=6))
    assert len(smtp.wait_for(2)) == 2
    assert smtp.messages[1].message["Subject"] == "Pour toi : 1 article"
    fw.add_to_basket(world.ids["fest"], camille, None, now=back + timedelta(days=1))
    assert fw.next_letter(fw.contact(camille), now=back) == back + WEEK
    fw.deliver_due(now=back + timedelta(days=6))
    assert len(smtp.messages) == 2


def test_smtp_down_at_letter_time_keeps_it_queued_then_sends_once(world, smtp):
    fw = world.forwarder()
    fw.add_to_basket(world.ids["doc"], "prod@example.org", None, now=NOW)
    fw.add_to_basket(world.ids["job"], "prod@example.org", "À votre attention", now=NOW)
    smtp.down()
    due = NOW + timedelta(days=1, minutes=1)
    report = fw.deliver_due(now=due)
    assert report.sent == [] and len(report.deferred) == 1
    rows = world.storage.forwards_to("prod@example.org")
    assert [f.state for f in rows] == ["queued", "queued"]  # nothing lost
    assert fw.basket("prod@example.org") == []  # in the outbox, not in both
    fw.deliver_due(now=due + timedelta(seconds=10))  # backoff: not yet, server still down
    smtp.up()
    report = fw.deliver_due(now=due + timedelta(minutes=2))
    assert len(report.sent) == 1
    fw.deliver_due(now=due + timedelta(minutes=10))
    (got,) = smtp.wait_for(1)
    assert got.message["Subject"] == "Pour vous : 2 articles"
    assert "Quelques lectures choisies pour vous" in got.message.get_body(("plain",)).get_content()
    assert [f.state for f in world.storage.forwards_to("prod@example.org")] == ["sent", "sent"]
    assert len(smtp.messages) == 1


def test_send_now_reorder_remove_and_a_retry_takes_the_whole_letter(world, smtp):
    fw = world.forwarder()
    sam = "sam@example.com"  # no digest: the letter leaves only when asked
    for key in ("doc", "fest", "job"):
        fw.add_to_basket(world.ids[key], sam, None, now=NOW)
    items = fw.basket(sam)
    assert world.storage.basket_move(sam, items[2].id, -1)
    assert world.storage.basket_remove(sam, items[0].id)
    assert [i.entry_title for i in fw.basket(sam)][0] == "Offre d'emploi : monteur vidéo"
    assert fw.queue_due_letters(now=NOW + 10 * WEEK) == []  # no period: never by itself
    smtp.reject(sam)
    rows = fw.send_letter(sam, now=NOW)
    assert len(rows) == 2 and fw.send_letter(sam, now=NOW) == []
    fw.deliver_due(now=NOW + timedelta(seconds=11))
    assert {f.state for f in world.storage.forwards_to(sam)} == {"failed"}
    smtp.accept()
    member = next(f for f in rows if f.letter_of != f.id)
    fw.retry(member.id, now=NOW + timedelta(minutes=1))  # from the Envoyés page, any row
    fw.deliver_due(now=NOW + timedelta(minutes=1))
    (got,) = smtp.wait_for(1)
    assert got.message["Subject"] == "Pour toi : 2 articles"
    assert len(smtp.messages) == 1  # the retried letter left once, whole
    text = got.message.get_body(("plain",)).get_content()
    assert text.index("Offre d'emploi") < text.index("Un festival")


def cli(world, *args):
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(world.feeds), "--contacts",
         str(world.contacts), "--db", str(world.db), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=30, check=False,
    )  # fmt: skip


def test_cli_forward_basket_and_digest(world, smtp):
    added = cli(
        world, "forward", str(world.ids["fest"]), "--to", "camille@example.org", "--basket",
        "--note", "Pour le week-end",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added « Un festival à Montréal » to Camille Exemplé's letter" in added.stdout
    listed = cli(world, "digest", "--json")
    assert listed.returncode == 0, listed.stderr
    [camille, prod] = json.loads(listed.stdout)["baskets"]
    assert camille["email"] == "camille@example.org" and camille["next"]
    assert [i["note"] for i in camille["items"]] == ["Pour le week-end"]
    assert prod["items"] == [] and prod["next"] is None
    sent = cli(world, "digest", "--send", "--to", "camille@example.org")
    assert sent.returncode == 0, sent.stderr
    assert "1 letter(s) queued (1 item(s))" in sent.stdout
    (got,) = smtp.wait_for(1)
    assert got.message["Subject"] == "Pour toi : 1 article"
    assert "Pour le week-end" in got.message.get_body(("plain",)).get_content()
