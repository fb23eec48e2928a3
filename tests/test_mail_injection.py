"""mail.py against header and body injection (issue 7, item 1) and hostile addresses
(item 7): RFC 2047 encoded words in titles, names and notes must come out as the
literal text of ONE header, on Python 3.11 (the venv), 3.12 and 3.13 (subprocesses,
standard library only). Every message is serialised as it goes on the wire and
parsed back with policy.default, as a receiving server would."""

from __future__ import annotations

import base64
import email
import json
import os
import random
import subprocess
import textwrap
from datetime import UTC, datetime
from email import policy
from email.utils import quote
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtpserver import SmtpServer

import aggregator
from aggregator import mail
from aggregator.config.values import check_mailbox
from aggregator.mail import AddressError, Letter, MailError, SmtpClient
from aggregator.mail.compose import _wrap_lines

ROOT = Path(aggregator.__file__).resolve().parent.parent
NOW = datetime(2024, 11, 3, 9, 30, tzinfo=UTC)
SENDER = "Alex Exemple <alex@example.org>"
# What a forward's top level holds, in this order; anything else was injected.
HEADERS = ["subject", "from", "reply-to", "to", "date", "message-id", "mime-version",
           "content-type"]  # fmt: skip
INTERPRETERS = {
    "3.12": "/root/.pyenv/versions/3.12.1/bin/python3.12",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python3.13",
}


def _b(text: str, charset: str = "utf-8") -> str:
    return base64.b64encode(text.encode(charset)).decode("ascii")


# The audit's payloads and their variations: q and b encodings, any case, other
# charsets, line breaks that are not CR/LF (NEL, U+2028), encoded words split in two
# or glued inside a word, an RFC 2231 language tag, a display name that decodes to a
# second address, and an encoded word that decodes to another encoded word.
PAYLOADS = {
    "audit": "Offre =?utf-8?q?=0D=0ABcc:_attacker@evil.example=0D=0AX-Injected:_yes?=",
    "body": "Offre =?utf-8?q?=0D=0A=0D=0AX-Injected:_the_feed_writes_the_body?=",
    "b64": f"Offre =?utf-8?b?{_b(chr(13) + chr(10) + 'Bcc: attacker@evil.example')}?=",
    "b64-body": f"=?UTF-8?B?{_b(chr(13) + chr(10) * 2 + 'X-Injected: body')}?=",
    "upper": "=?UTF-8?Q?=0D=0ABcc:_attacker@evil.example=0D=0AX-Injected:_yes?=",
    "mixed": "=?uTf-8?q?=0d=0aBcc:_attacker@evil.example?=",
    "latin1": "=?iso-8859-1?q?=0D=0ABcc:_attacker@evil.example=0D=0AX-Injected:_yes?=",
    "latin1-nel": "=?iso-8859-1?q?=85Bcc:_attacker@evil.example=85X-Injected:_yes?=",
    "nel": "=?utf-8?q?=C2=85Bcc:_attacker@evil.example=C2=85X-Injected:_yes?=",
    "u2028": "=?utf-8?q?=E2=80=A8Bcc:_attacker@evil.example=E2=80=A9X-Injected:_yes?=",
    "split": "=?utf-8?q?=0D=0ABcc:?= =?utf-8?q?_attacker@evil.example?=\t=?utf-8?q?=0D=0A?=",
    "glued": "Offre=?utf-8?q?=0D=0ABcc:_attacker@evil.example?=suite",
    "rfc2231": "=?utf-8*fr?q?=0D=0ABcc:_attacker@evil.example?=",
    "address": "=?utf-8?q?=22_<attacker@evil.example>,_=22?= =?utf-8?q?<x@evil.example>?=",
    "nested": "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc:_attacker@evil.example=3F=3D?=",
    "raw": "Offre\r\nBcc: attacker@evil.example\r\n\r\nX-Injected: yes",
    "cut": "x" * 190 + "=?utf-8?q?=0D=0ABcc:_attacker@evil.example?=",
    # Found by the property test under CI's fixed seed: 3.11/3.12's folder cut the
    # encoded word of the accented end before its "?=" and the forward was refused.
    "full-line": "Offre =?utf-8?q?=0D=0ABcc:_attacker@evil.example=0D=0AX-Injected:_yes?=="
    "?utf-8*en?q?=3AÂ=80à=A0=80ð=90=80=80?= é",
}

SCRIPT = textwrap.dedent(
    """
    import email, json, sys
    from datetime import datetime, timezone
    from email import policy
    from email.utils import quote
    from aggregator import mail

    payloads = json.loads(sys.stdin.read())
    out = {}
    for key, payload in payloads.items():
        letter = mail.Letter(
            to_name=payload, to_email="camille@example.org", note="Note: " + payload,
            title=payload, link=None, feed_title=payload, published=None,
            excerpt=payload)
        # the owner's settings: one line, the name quoted as feeds.yaml needs it
        name = '"' + quote(mail.header_text(payload)) + '"'
        msg = mail.compose(letter, sender=name + " <alex@example.org>",
                           reply_to=name + " <reply@example.org>",
                           date=datetime(2024, 11, 3, tzinfo=timezone.utc))
        raw = mail.to_bytes(msg)
        back = email.message_from_bytes(raw, policy=policy.default)
        out[key] = {
            "names": [k.lower() for k in back],
            "subject": str(back["Subject"]),
            "to": [[a.display_name, a.addr_spec] for a in back["To"].addresses],
            "from": [[a.display_name, a.addr_spec] for a in back["From"].addresses],
            "reply_to": [[a.display_name, a.addr_spec] for a in back["Reply-To"].addresses],
            "text": back.get_body(("plain",)).get_content(),
            "parts": [p.get_content_type() for p in back.walk()],
        }
    print(json.dumps({"version": list(sys.version_info[:2]), "out": out}))
    """
)


def letter(**kw) -> Letter:
    values = {
        "to_name": "Camille Exemplé",
        "to_email": "camille@example.org",
        "note": "Salut Camille,\nça devrait te plaire.",
        "title": "Fonds pour le cinéma documentaire",
        "link": "https://example.org/fonds",
        "feed_title": "Le Devoir",
        "published": None,
        "excerpt": "Premier paragraphe.",
    }
    values.update(kw)
    return Letter(**values)


def wire(msg) -> tuple[bytes, email.message.EmailMessage]:
    raw = mail.to_bytes(msg)
    return raw, email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def header_lines(raw: bytes) -> list[bytes]:
    """The header block's field names, as a receiving server splits them."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [
        line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line[:1] not in b" \t"
    ]


def expected_line(payload: str) -> str:
    """What a header shows for ``payload``: one line, no encoded word."""
    return mail.header_value(payload)


def nospace(text: str) -> str:
    """A header value without its spaces: where the email package splits a long value
    into several encoded words, it adds or loses a space (mail.check_headers)."""
    return text.replace(" ", "").replace("\t", "")


def check_one(got: dict, payload: str) -> None:
    """The parse-back of a message whose every field carries ``payload``."""
    assert got["names"] == HEADERS, got["names"]
    name = nospace(mail.header_value(payload, 200))
    assert [[nospace(n), a] for n, a in got["to"]] == [[name, "camille@example.org"]]
    assert [[nospace(n), a] for n, a in got["from"]] == [[name, "alex@example.org"]]
    assert [[nospace(n), a] for n, a in got["reply_to"]] == [[name, "reply@example.org"]]
    title = mail.header_value(mail.header_text(payload) or "(sans titre)", mail.TITLE_MAX)
    assert nospace(got["subject"]) == nospace(f"Ça pourrait t'intéresser : {title}")
    assert "\r" not in got["subject"] and "\n" not in got["subject"]
    assert got["parts"] == ["multipart/alternative", "text/plain", "text/html"]
    assert got["text"].startswith("Note:")


def parse_back(payload: str) -> dict:
    """SCRIPT's work, in this process (Python 3.11)."""
    msg = mail.compose(
        letter(to_name=payload, note="Note: " + payload, title=payload, feed_title=payload,
               excerpt=payload, link=None),
        sender=f'"{quote(mail.header_text(payload))}" <alex@example.org>',
        reply_to=f'"{quote(mail.header_text(payload))}" <reply@example.org>',
        date=NOW,
    )  # fmt: skip
    raw, back = wire(msg)
    assert header_lines(raw) == [h.encode() for h in HEADERS]
    return {
        "names": [k.lower() for k in back],
        "subject": str(back["Subject"]),
        "to": [[a.display_name, a.addr_spec] for a in back["To"].addresses],
        "from": [[a.display_name, a.addr_spec] for a in back["From"].addresses],
        "reply_to": [[a.display_name, a.addr_spec] for a in back["Reply-To"].addresses],
        "text": back.get_body(("plain",)).get_content(),
        "parts": [p.get_content_type() for p in back.walk()],
    }


# --- the audit's payloads, Python 3.11 ------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_encoded_words_in_every_field_stay_literal_text(payload):
    check_one(parse_back(payload), payload)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_title_payload_adds_no_header_and_does_not_touch_the_body(payload):
    raw, msg = wire(mail.compose(letter(title=payload), sender=SENDER, date=NOW))
    assert header_lines(raw) == [h.encode() for h in HEADERS]
    assert [k.lower() for k in msg] == HEADERS
    assert "Bcc" not in msg and "X-Injected" not in msg
    assert [a.addr_spec for a in msg["To"].addresses] == ["camille@example.org"]
    subject = str(msg["Subject"])
    title = expected_line(payload)[: mail.TITLE_MAX - 1]
    assert nospace(subject).startswith(nospace("Ça pourrait t'intéresser : " + title[:100]))
    assert "=?" not in subject.replace("=?utf-8?", "")
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Salut Camille,\nça devrait te plaire.\n")
    assert "X-Injected: the_feed_writes" not in text.split("\n\n", 1)[0]


def test_the_audits_payload_reads_as_written_with_one_space():
    raw, msg = wire(mail.compose(letter(title=PAYLOADS["audit"]), sender=SENDER, date=NOW))
    words = "Ça pourrait t'intéresser : Offre = ?utf-8?q?=0D=0ABcc:_attacker@evil.example"
    assert " ".join(str(msg["Subject"]).split()) == words + "=0D=0AX-Injected:_yes?="
    assert b"\r\nBcc:" not in raw and b"\r\nX-Injected:" not in raw


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_contact_name_payload_gives_exactly_one_recipient(payload):
    raw, msg = wire(mail.compose(letter(to_name=payload), sender=SENDER, date=NOW))
    assert header_lines(raw) == [h.encode() for h in HEADERS]
    (to,) = msg["To"].addresses
    assert (nospace(to.display_name), to.addr_spec) == (
        nospace(mail.header_value(payload, 200)),
        "camille@example.org",
    )


def test_header_value_breaks_every_encoded_word_and_nothing_else():
    assert mail.header_value("=?utf-8?q?x?=") == "= ?utf-8?q?x?="
    assert mail.header_value("a==??b =?=?") == "a== ??b = ?= ?"
    assert "=?" not in mail.header_value("=" * 50 + "?" * 50 + "=?" * 50)
    assert mail.header_value("Ça ? = ok ?=") == "Ça ? = ok ?="  # no "=?": unchanged
    assert mail.header_value("x" * 10 + "=?", limit=11) == "x" * 10 + "…"
    # header_text keeps the text as written (it is what the ledger stores and shows)
    assert mail.header_text("1+1=?") == "1+1=?"


def test_a_value_the_package_would_reinterpret_is_refused_not_sent():
    # The net under the rule: a header that does not parse back as meant fails.
    msg = mail.compose(letter(), sender=SENDER, date=NOW)
    with pytest.raises(mail.HeaderError) as err:
        mail.check_headers(msg, {"Subject": "not the subject"})
    assert not err.value.temporary and isinstance(err.value, ValueError)
    msg.replace_header("Subject", "Offre =?utf-8?q?=0D=0ABcc:_attacker@evil.example?=")
    with pytest.raises(mail.HeaderError):
        mail.check_headers(msg, {"Subject": "Offre =?utf-8?q?=0D=0ABcc:_attacker@evil.example?="})


# --- the same under Python 3.12 and 3.13 -------------------------------------------------

FRAGMENTS = [
    *PAYLOADS.values(), "=?", "?=", "=?utf-8?q?", "=?utf-8?b?", "=0D=0A", "_", " ", "  ",
    '"', ":", ",", ";", "@", "<", ">", "\\", "(", ")", ".", "é", "¡", "…", "中文", "🙂",
    "x" * 70, "mot " * 20, "\r\n", "\x85", "\u2028", "\t", "Bcc: a@evil.example",
]  # fmt: skip


def random_payloads(count: int, seed: int) -> dict[str, str]:
    """Seeded random mixes of FRAGMENTS: the interpreters under test have no
    Hypothesis, so the property test's idea travels as plain data."""
    rng = random.Random(seed)
    return {
        f"random-{i}": "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 6)))
        for i in range(count)
    }


@pytest.mark.parametrize("version", sorted(INTERPRETERS))
def test_other_python_versions_give_the_same_headers(version):
    python = INTERPRETERS[version]
    if not os.access(python, os.X_OK):
        pytest.skip(f"Python {version} is not installed at {python}")
    # -s: no user site; PYTHONPATH: this checkout. The interpreter has no third-party
    # package: this also proves mail.py needs only the standard library.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    payloads = {**PAYLOADS, **random_payloads(80, seed=7)}
    proc = subprocess.run(
        [python, "-s", "-c", SCRIPT],
        input=json.dumps(payloads),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=50,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["version"] == [int(x) for x in version.split(".")]
    assert set(result["out"]) == set(payloads)
    for key, payload in payloads.items():
        check_one(result["out"][key], payload)
    for key, payload in PAYLOADS.items():
        assert result["out"][key] == parse_back(payload), key  # the same as on 3.11


def test_random_mixes_on_this_python_too():
    for payload in random_payloads(80, seed=7).values():
        check_one(parse_back(payload), payload)


# --- property: any text at all ------------------------------------------------------


def encoded_word() -> st.SearchStrategy[str]:
    """Encoded words of arbitrary text, in any charset case and encoding."""
    charsets = st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "utf-8*en"])

    def make(charset: str, encoding: str, text: str) -> str:
        codec = charset.split("*")[0]
        data = text.encode(codec, "replace")
        if encoding in "bB":
            body = base64.b64encode(data).decode()
        else:
            body = "".join(
                chr(b) if chr(b).isalnum() else "_" if b == 32 else f"={b:02X}" for b in data
            )
        return f"=?{charset}?{encoding}?{body}?="

    return st.builds(make, charsets, st.sampled_from("qQbB"), st.text(max_size=30))


HOSTILE = st.lists(
    st.one_of(
        st.text(alphabet='=?qQbB_:\r\n\t \x00\x85\u2028\u2029<>",;@\\()é', max_size=20),
        st.text(max_size=20),
        encoded_word(),
        st.sampled_from(list(PAYLOADS.values())),
    ),
    max_size=4,
).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=HOSTILE, name=HOSTILE, note=HOSTILE, feed=HOSTILE)
def test_any_title_name_and_note_give_exactly_our_headers(title, name, note, feed):
    msg = mail.compose(
        letter(title=title, to_name=name, note=note, feed_title=feed, excerpt=note),
        sender=SENDER,
        date=NOW,
    )
    raw, back = wire(msg)
    assert header_lines(raw) == [h.encode() for h in HEADERS]
    assert [k.lower() for k in back] == HEADERS
    (to,) = back["To"].addresses
    assert to.addr_spec == "camille@example.org"
    assert nospace(to.display_name) == nospace(mail.header_value(name, 200))
    shown = mail.header_value(mail.header_text(title) or "(sans titre)", mail.TITLE_MAX)
    assert nospace(str(back["Subject"])) == nospace(f"Ça pourrait t'intéresser : {shown}")
    assert [p.get_content_type() for p in back.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    text = back.get_body(("plain",)).get_content().replace("\r\n", "\n")
    first = mail.body_text(note).strip()
    if first:
        assert text.startswith(_wrap_lines(first).split("\n")[0])


# --- addresses (item 7) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "address, says",
    [
        ("eve\x00@example.org", "control character U+0000"),
        ("eve@example.org\x00", "control character U+0000"),
        ("eve@exam\x07ple.org", "control character U+0007"),
        ("eve@example.org\r\nBcc: x@evil.example", "control character U+000D"),
        ("eve\x85@example.org", "control character U+0085"),
        ("eve\u2028@example.org", "white space (U+2028)"),
        ("eve @example.org", "white space (U+0020)"),
        ("eve@exa\u00a0mple.org", "white space (U+00A0)"),
        ("eve\u200b@example.org", "invisible formatting character U+200B"),
        ("eve\u202e@example.org", "invisible formatting character U+202E"),
        ("=?utf-8?q?eve?=@example.org", "encoded word"),
        ("eve@=?utf-8?q?example.org?=", "encoded word"),
        ("Eve<eve@example.org>", "'<'"),
        ("eve@example.org,x@evil.example", "','"),
        ('"eve"@example.org', "'\"'"),
        ("eve@@example.org", "not an address"),
        ("eve", "not an address"),
        ("", "not an address"),
        ("eve@example..org", "domain"),
    ],
)
def test_an_address_with_control_or_special_characters_is_refused(address, says):
    with pytest.raises(AddressError) as err:
        mail.envelope_address(address)
    assert says in err.value.reason and not err.value.temporary
    assert isinstance(err.value, MailError) and isinstance(err.value, ValueError)
    with pytest.raises(AddressError):
        mail.compose(letter(to_email=address), sender=SENDER, date=NOW)


def test_ordinary_addresses_are_kept_as_written():
    assert mail.envelope_address(" camille@example.org ") == "camille@example.org"
    assert mail.envelope_address("c.o+tag@sub.example.org") == "c.o+tag@sub.example.org"
    assert mail.envelope_address("jose@exämple.org") == "jose@xn--exmple-cua.org"
    assert mail.envelope_address("josé@example.org") == "josé@example.org"
    for written, name in [
        ("Alex Exemple <alex@example.org>", "Alex Exemple"),
        ('"Exemple, Alex" <alex@example.org>', "Exemple, Alex"),
        ("alex@example.org (Alex Exemple)", "Alex Exemple"),
        ("alex@example.org", ""),
    ]:
        box = mail.mailbox(written)
        assert (box.display_name, box.addr_spec) == (name, "alex@example.org"), written
    for ambiguous in ("=@a( <alex@example.org>", "Alex <b@evil.example> <alex@example.org>"):
        with pytest.raises(AddressError, match="more than one address"):
            mail.mailbox(ambiguous)
        with pytest.raises(ValueError, match="more than one address|several addresses"):
            check_mailbox(ambiguous)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet='ab @.<>(),;:"\\\t=?é\x00', max_size=30).map(
        lambda t: t + " <alex@example.org>"
    )
    | st.text(alphabet='ab @.<>(),;:"\\\t=?é\x00', max_size=30)
)
def test_a_sender_the_config_accepts_is_used_with_the_same_address(value):
    # feeds.yaml's check (config) shows the owner an address; mail must send from
    # that one: never a third reading of the same text, and never a refusal at
    # send time of what `aggregator check` called fine.
    try:
        shown = check_mailbox(value)
    except ValueError:
        return
    box = mail.mailbox(value)
    assert f"{box.username}@{box.domain}" == mail.envelope_address(shown)


def test_a_sender_setting_with_a_control_character_is_refused():
    for sender in ("Alex\x00 <alex@example.org>", "Alex <alex@example.org>\x1b"):
        with pytest.raises(AddressError, match="control character"):
            mail.compose(letter(), sender=sender, date=NOW)


def test_a_bad_address_never_reaches_the_server(smtp):
    msg = mail.compose(letter(), sender=SENDER, date=NOW)
    with SmtpClient(smtp.settings(), None, timeout=5) as client:
        for rcpt in ("camille@example.org\x00", "camille@example.org\r\nRCPT TO:<x@evil>"):
            with pytest.raises(AddressError):
                client.send(msg, sender="alex@example.org", recipients=[rcpt])
        with pytest.raises(AddressError):
            client.send(msg, sender="alex\x00@example.org", recipients=["camille@example.org"])
        # the connection was not used, and still works
        client.send(msg, sender="alex@example.org", recipients=["camille@example.org"])
    (got,) = smtp.wait_for(1)
    assert got.rcpt_tos == ["camille@example.org"]


def test_mail_errors_survive_pickling():
    import pickle

    for error in (
        MailError("451 try later", temporary=True, code=451, connection_lost=True),
        AddressError("refusing the address 'x': it is not an address"),
        mail.HeaderError("the Subject header would be read as 'x'"),
    ):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and vars(back) == vars(error)
        assert str(back) == str(error)


def test_smtp_server_fixture_is_real():
    # Guard against a silently disabled fixture: SmtpServer must listen.
    with SmtpServer() as server, SmtpClient(server.settings(), None, timeout=5) as client:
        assert client.connected
