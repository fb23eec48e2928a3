"""« Ça pourrait t'intéresser », second edition (issue 13): the tone per contact
(« vous »), an edited subject, a selected passage quoted, and needs. Every message is
delivered to a real aiosmtpd server on 127.0.0.1 and parsed back with policy.default;
the CLI runs as a real subprocess."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from email import policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_forward import CINE, JOBS, LATER, NOW, ROOT, World, mail_of

from aggregator import errors
from aggregator.config import parse_contacts
from aggregator.forward import FORMAL_NOTE, ForwardError, PassageNotFound
from aggregator.mail import Letter, header_text, header_value, to_bytes
from aggregator.mail.compose import QUOTE_MAX, SUBJECT_MAX, compose

CONTACTS = """\
# my people
- name: Camille Exemplé
  email: camille@example.org
  interests: [cinéma documentaire, Montréal]
  needs:
    - what: appartement 4½ Plateau
      since: 2024-11-01
    - what: monteur vidéo
      since: 2024-01-01
- name: Mme Productrice
  email: prod@example.org
  interests: [financement]
  formal: true
- name: Sam Exemple
  email: sam@example.com
  interests: [emploi]
  language: en
"""
BODY = (
    "<p>Le fonds soutient les films documentaires <b>québécois</b>.</p>"
    "<p>Les dossiers sont attendus avant le 15 décembre, à Montréal.</p>"
    "<p>Une deuxième session aura lieu au printemps.</p>"
)


@pytest.fixture
def world(tmp_path, smtp):
    w = World(tmp_path, mail_of(smtp))
    w.contacts.write_text(CONTACTS, encoding="utf-8")
    w.add(JOBS, "job", "Offre d'emploi : monteur vidéo", "Poste en montage vidéo à Montréal.")
    w.add(CINE, "doc", "Un fonds pour le cinéma documentaire", "Financement des films.")
    entry = w.storage.entry(w.ids["doc"])
    from aggregator.models import Entry

    w.storage.upsert_entries(
        CINE,
        [
            Entry(
                feed_url=CINE,
                guid="doc",
                title=entry.title,
                link=entry.link,
                author=None,
                published=entry.published,
                updated=None,
                content_html=BODY,
                summary="Le fonds soutient les films documentaires québécois.",
                content_hash="doc2",
            )
        ],
        now=NOW,
    )
    yield w
    w.storage.close()


def received(smtp, n=1):
    return [m.message for m in smtp.wait_for(n)]


def parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


# --- 1. tone and subject ---------------------------------------------------------------


def test_formal_contact_gets_vous_subject_and_note_others_tu(world, smtp):
    fw = world.forwarder()
    fw.queue(world.ids["doc"], ["prod@example.org"], now=NOW)
    fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW)
    fw.deliver_due(now=LATER)
    prod, camille = received(smtp, 2)
    assert prod["Subject"] == "Ceci pourrait vous intéresser : Un fonds pour le cinéma documentaire"
    assert parts(prod)[0].startswith(FORMAL_NOTE)
    assert camille["Subject"] == "Ça pourrait t'intéresser : Un fonds pour le cinéma documentaire"
    assert parts(camille)[0].startswith("Ça pourrait t'intéresser !")
    # one formal and one familiar: the familiar default note (never « vous » to a friend)
    assert fw._note(None, [fw.contact("prod@example.org"), fw.contact("camille@example.org")]) == (
        "Ça pourrait t'intéresser !"
    )


def test_edited_subject_is_used_capped_and_one_line(world, smtp):
    fw = world.forwarder()
    fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW, subject="  Pour ton dossier  ")
    long = "Très long " * 60
    fw.queue(
        world.ids["job"],
        ["camille@example.org"],
        now=NOW,
        subject=long + "\r\nBcc: evil@example.org",
    )
    fw.deliver_due(now=LATER)
    edited, capped = received(smtp, 2)
    assert edited["Subject"] == "Pour ton dossier"
    assert len(capped["Subject"]) == SUBJECT_MAX and capped["Subject"].endswith("…")
    assert "bcc" not in {k.lower() for k in capped}
    assert [r.rcpt_tos for r in smtp.messages] == [["camille@example.org"]] * 2


def test_preview_shows_the_edited_subject_and_the_formal_default(world):
    fw = world.forwarder()
    msg = fw.preview(world.ids["doc"], ["prod@example.org"], None)
    assert msg["Subject"].startswith("Ceci pourrait vous intéresser : ")
    msg = fw.preview(world.ids["doc"], ["prod@example.org"], None, subject="Pour votre fonds")
    assert msg["Subject"] == "Pour votre fonds"


HOSTILE = st.lists(
    st.sampled_from(list("ab =?qQ_:é\r\n\t\x00\x85\u2028\u202e") + ["=?utf-8?q?", "?=", "=0D=0A"]),
    max_size=60,
).map("".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=HOSTILE)
def test_any_edited_subject_is_one_literal_header(subject):
    letter = Letter(
        to_name="Camille",
        to_email="camille@example.org",
        note="",
        title="Titre",
        link="https://example.org/a",
        feed_title="F",
        published=None,
        excerpt="",
        subject=subject,
    )
    msg = compose(letter, sender="Alex <alex@example.org>", date=NOW)
    back = email.message_from_bytes(to_bytes(msg), policy=policy.default)
    names = [k.lower() for k in back]
    assert names == ["subject", "from", "reply-to", "to", "date", "message-id", "mime-version",
                     "content-type"]  # fmt: skip
    got = str(back["Subject"])
    assert "\r" not in got and "\n" not in got and "=?" not in got
    assert len(got) <= SUBJECT_MAX
    if not subject.strip("\r\n\t\x00\x85\u2028\u202e "):
        assert got.startswith("Ça pourrait t'intéresser")  # blank: the default subject


# --- 3. excerpts ---------------------------------------------------------------------


def test_selected_passage_is_quoted_in_text_and_html_then_the_link(world, smtp):
    fw = world.forwarder()
    selection = "Les dossiers sont attendus\n avant le 15 DÉCEMBRE,   à Montreal."
    [f] = fw.queue(
        world.ids["doc"], ["camille@example.org"], "Regarde ça", now=NOW, excerpt=selection
    )
    assert f.quote == "Les dossiers sont attendus avant le 15 DÉCEMBRE, à Montreal."
    fw.deliver_due(now=LATER)
    (msg,) = received(smtp)
    text, html = parts(msg)
    assert "> Les dossiers sont attendus avant le 15 DÉCEMBRE, à Montreal." in text
    assert "Une deuxième session" not in text  # the passage, not the start
    assert text.index("> Les dossiers") < text.index("https://example.org/doc")
    assert "<blockquote" in html and "Les dossiers sont attendus" in html
    assert html.index("<blockquote") < html.rindex('href="https://example.org/doc"')


def test_passage_not_in_the_item_is_refused_with_a_clear_error(world, smtp):
    fw = world.forwarder()
    with pytest.raises(PassageNotFound, match="not in the item's text"):
        fw.queue(world.ids["doc"], ["camille@example.org"], now=NOW, excerpt="pas dans l'article")
    with pytest.raises(PassageNotFound):
        fw.preview(world.ids["doc"], ["camille@example.org"], None, excerpt="inventé")
    assert fw.history(world.ids["doc"]) == []


def test_markup_in_a_selection_is_text(world, smtp):
    fw = world.forwarder()
    world.add(CINE, "tags", "Balises", "Écrire <script>alert(1)</script> dans un article.")
    entry_id = world.ids["tags"]
    fw.queue(entry_id, ["camille@example.org"], now=NOW, excerpt="<script>alert(1)</script>")
    fw.deliver_due(now=LATER)
    text, html = parts(received(smtp)[0])
    assert "> <script>alert(1)</script>" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_100_kb_selection_is_capped_and_a_longer_one_refused(world, smtp):
    words = " ".join(f"mot{i}" for i in range(20_000))  # ~130 KB
    world.add(CINE, "long", "Très long", words)
    fw = world.forwarder()
    selection = words[:100_000]
    [f] = fw.queue(world.ids["long"], ["camille@example.org"], now=NOW, excerpt=selection)
    assert len(f.quote) <= QUOTE_MAX and f.quote.endswith("…")
    with pytest.raises(PassageNotFound, match="too long"):
        fw.queue(world.ids["long"], ["sam@example.com"], now=NOW, excerpt=words)
    fw.deliver_due(now=LATER)
    text, _html = parts(received(smtp)[0])
    assert "> mot0 mot1" in text


def cli(world, *args):
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(world.feeds), "--contacts",
         str(world.contacts), "--db", str(world.db), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=30, check=False,
    )  # fmt: skip


def test_cli_forward_excerpt_and_subject(world):
    doc = str(world.ids["doc"])
    bad = cli(world, "forward", doc, "--to", "camille@example.org", "--excerpt", "absent ici")
    assert bad.returncode == 1
    assert "not in the item's text" in bad.stderr
    good = cli(
        world, "forward", doc, "--to", "camille@example.org",
        "--excerpt", "avant le 15 decembre", "--subject", "Pour ton dossier",
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    [f] = world.storage.forwards_to("camille@example.org")
    assert (f.quote, f.subject) == ("avant le 15 decembre", "Pour ton dossier")


# --- 4. needs --------------------------------------------------------------------------


def test_needs_parse_with_default_end_and_errors_at_their_line():
    [c, *_] = parse_contacts(CONTACTS, "contacts.yaml")
    assert [n.what for n in c.needs] == ["appartement 4½ Plateau", "monteur vidéo"]
    assert c.needs[0].ends == date(2024, 12, 31)  # since + 60 days
    assert [n.what for n in c.active_needs(NOW)] == ["appartement 4½ Plateau"]
    bad = CONTACTS.replace("    - what: monteur vidéo\n", "    - wat: monteur vidéo\n")
    with pytest.raises(errors.ConfigError) as caught:
        parse_contacts(bad, "contacts.yaml")
    text = str(caught.value)
    assert "contacts.yaml:8:7: 'wat' is not a need key (did you mean 'what'?)" in text
    assert "contacts.yaml:8:7: this need has no 'what:'" in text


def test_a_matching_need_comes_first_and_an_expired_one_is_ignored(world):
    fw = world.forwarder()
    world.add(JOBS, "appart", "Appartements au Plateau", "Un appartement 4½ Plateau à louer.")
    [first, *_] = fw.suggestions(world.ids["appart"], now=NOW)
    assert first.contact.email == "camille@example.org"
    assert [n.what for n in first.needs] == ["appartement 4½ Plateau"]
    # « monteur vidéo » ended long ago: Camille is not suggested for the job offer
    names = [s.contact.email for s in fw.suggestions(world.ids["job"], now=NOW)]
    assert (
        "camille@example.org" not in names
        or not next(
            s
            for s in fw.suggestions(world.ids["job"], now=NOW)
            if s.contact.email == "camille@example.org"
        ).needs
    )
    later = NOW + timedelta(days=90)
    assert not fw.suggestions(world.ids["appart"], now=later)[0].needs


def test_add_need_writes_contacts_yaml_round_trip(world):
    fw = world.forwarder()
    person = fw.add_need("sam@example.com", "cherche lift pour Québec", now=NOW)
    assert [n.what for n in person.needs] == ["cherche lift pour Québec"]
    text = world.contacts.read_text("utf-8")
    assert text.startswith("# my people\n")
    assert "  needs:\n  - what: cherche lift pour Québec\n    since: '2024-11-03'\n" in text or (
        "needs:" in text and "since: '2024-11-03'" in text
    )
    again = fw.add_need("camille@example.org", "vélo", now=NOW, until=date(2024, 12, 1))
    assert [n.what for n in again.needs][-1] == "vélo"
    assert again.needs[-1].until == date(2024, 12, 1)
    assert parse_contacts(world.contacts.read_text("utf-8"), "c")  # still valid
    with pytest.raises(errors.ConfigError):
        fw.add_need("camille@example.org", "  ", now=NOW)


def test_no_recipient_with_basket_error_is_a_forward_error(world):
    fw = world.forwarder()
    with pytest.raises(ForwardError):
        fw.queue(world.ids["doc"], [], now=NOW)
    assert datetime.now(UTC) > NOW


# --- the edited subject under Python 3.12 and 3.13 (as tests/test_mail_injection.py) ----

SUBJECT_SCRIPT = """
import email, json, sys
from datetime import datetime, timezone
from email import policy
from aggregator.mail import Letter, compose, to_bytes
out = {}
for key, subject in json.load(sys.stdin).items():
    letter = Letter(to_name="Camille", to_email="camille@example.org", note="", title="T",
                    link=None, feed_title="F", published=None, excerpt="", subject=subject)
    msg = compose(letter, sender="Alex <alex@example.org>",
                  date=datetime(2024, 11, 3, tzinfo=timezone.utc))
    back = email.message_from_bytes(to_bytes(msg), policy=policy.default)
    out[key] = [[k.lower() for k in back.keys()], str(back["Subject"])]
print(json.dumps({"version": list(sys.version_info[:2]), "out": out}))
"""


@pytest.mark.parametrize("version", ["3.12", "3.13"])  # 3.11: the test above
def test_an_edited_subject_is_one_literal_header_on_every_python(version):
    from test_mail_injection import INTERPRETERS, PAYLOADS, nospace, random_payloads

    python = INTERPRETERS.get(version, sys.executable)
    if not os.access(python, os.X_OK):
        pytest.skip(f"Python {version} is not installed at {python}")
    payloads = {**PAYLOADS, **random_payloads(60, seed=13)}
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT),
           "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    proc = subprocess.run(
        [python, "-s", "-c", SUBJECT_SCRIPT],
        input=json.dumps(payloads), capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=50, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["out"]
    for key, subject in payloads.items():
        names, got = result[key]
        assert names == ["subject", "from", "reply-to", "to", "date", "message-id",
                         "mime-version", "content-type"], key  # fmt: skip
        assert "=?" not in got and "\n" not in got and "\r" not in got, key
        assert len(got) <= SUBJECT_MAX + 2  # the fold may add a space
        wanted = header_value(subject, SUBJECT_MAX) if header_text(subject) else None
        if wanted is None:
            assert got.startswith("Ça pourrait t'intéresser : T"), key
        else:
            assert nospace(got) == nospace(wanted), key  # the text as given, one line
