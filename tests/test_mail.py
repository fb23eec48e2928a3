"""mail.py: composing the forward email and sending it to a real aiosmtpd server on
127.0.0.1 (plain, STARTTLS, implicit TLS, AUTH), parsed back with policy.default."""

from __future__ import annotations

import email
import ssl
from datetime import UTC, datetime
from email import policy

import pytest
from smtpserver import SmtpServer

from aggregator import mail
from aggregator.mail import Letter, MailError, SmtpClient

NOW = datetime(2024, 11, 3, 9, 30, tzinfo=UTC)
SENDER = "Alex Exemple <alex@example.org>"


def letter(**kw) -> Letter:
    values = {
        "to_name": "Camille Exemplé",
        "to_email": "camille@example.org",
        "note": "Salut Camille,\nça devrait te plaire.\n\nÀ bientôt !",
        "title": "Fonds pour le cinéma documentaire à Montréal",
        "link": "https://example.org/fonds?id=1&lang=fr",
        "feed_title": "Le Devoir — Culture",
        "published": datetime(2024, 11, 1, 8, 0, tzinfo=UTC),
        "excerpt": "Premier paragraphe, très intéressant.\n\nDeuxième paragraphe.",
        "language": "fr",
    }
    values.update(kw)
    return Letter(**values)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def roundtrip(msg) -> email.message.EmailMessage:
    return parse(mail.to_bytes(msg))


# --- composing -------------------------------------------------------------------------


def test_compose_builds_a_multipart_alternative_with_both_parts():
    msg = roundtrip(mail.compose(letter(), sender=SENDER, date=NOW))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert (
        msg["Subject"] == "Ça pourrait t'intéresser : Fonds pour le cinéma documentaire à Montréal"
    )
    assert msg["From"].addresses[0].display_name == "Alex Exemple"
    assert msg["Reply-To"].addresses[0].addr_spec == "alex@example.org"
    (to,) = msg["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Camille Exemplé", "camille@example.org")
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["Date"].datetime == NOW

    text = msg.get_body(("plain",)).get_content()
    assert text.index("Salut Camille") < text.index("Fonds pour le cinéma") < text.index("Premier")
    assert "Le Devoir — Culture · 1er novembre 2024" in text
    assert text.rstrip().endswith("Lire l'article : https://example.org/fonds?id=1&lang=fr")

    body = msg.get_body(("html",)).get_content()
    assert '<a href="https://example.org/fonds?id=1&amp;lang=fr">Fonds pour le cinéma' in body
    assert body.index("Salut Camille") < body.index("<h2")
    assert "<img" not in body and "src=" not in body  # no tracking pixel, no remote image


def test_english_contact_gets_english_fixed_text():
    msg = mail.compose(letter(language="en"), sender=SENDER, date=NOW)
    assert msg["Subject"] == "This might interest you: Fonds pour le cinéma documentaire à Montréal"
    text = msg.get_body(("plain",)).get_content()
    assert "1 November 2024" in text and "Read the article: https://" in text


def test_html_part_escapes_every_value_and_links_only_http():
    hostile = letter(
        title='<script>alert(1)</script> "quoted" & more',
        note="<b>pas du gras</b>",
        feed_title="<i>feed</i>",
        excerpt="<img src=x onerror=alert(1)>",
        link='javascript:alert("x")',
    )
    body = mail.compose(hostile, sender=SENDER, date=NOW).get_body(("html",)).get_content()
    assert "<script" not in body and "<img" not in body and "<b>" not in body and "<i>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; more" in body
    assert "javascript:" not in body and "href" not in body


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("plain title", "plain title"),
        ("two\r\nlines", "two lines"),
        ("lf\nonly", "lf only"),
        ("cr\ronly", "cr only"),
        ("next\x85line", "next line"),  # NEL
        ("line\u2028separator", "line separator"),
        ("para\u2029separator", "para separator"),
        ("nul\x00and\x1besc", "nul and esc"),
        ("tab\tinside", "tab inside"),
        ("bidi \u202eevil\u202c text", "bidi evil text"),
        ("  spaced   out  ", "spaced out"),
        ("Ça, « guillemets » : ok", "Ça, « guillemets » : ok"),
    ],
)
def test_header_text_keeps_one_clean_line(raw, expected):
    assert mail.header_text(raw) == expected


def test_header_injection_in_title_name_and_note_adds_no_header():
    hostile = letter(
        to_name="Eve\r\nBcc: victim@evil.example",
        title="Offre\r\nBcc: victim@evil.example\r\nX-Injected: yes",
        note="Hello\r\nX-Injected: yes\r\n\r\nbody",
        feed_title="Feed\nX-Injected: yes",
    )
    raw = mail.to_bytes(mail.compose(hostile, sender=SENDER, date=NOW))
    msg = parse(raw)
    assert "Bcc" not in msg and "X-Injected" not in msg
    assert [a.addr_spec for a in msg["To"].addresses] == ["camille@example.org"]
    assert msg["To"].addresses[0].display_name == "Eve Bcc: victim@evil.example"
    assert msg["Subject"] == (
        "Ça pourrait t'intéresser : Offre Bcc: victim@evil.example X-Injected: yes"
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith((b"bcc", b"x-injected")) for line in head.split(b"\r\n"))


def test_email_message_itself_refuses_a_raw_line_break():
    # The second line of defence, should a value ever skip header_text.
    msg = email.message.EmailMessage(policy=policy.default)
    with pytest.raises(ValueError):
        msg["Subject"] = "Offre\r\nBcc: victim@evil.example"


def test_long_title_is_cut_in_the_subject():
    msg = mail.compose(letter(title="mot " * 200), sender=SENDER, date=NOW)
    assert len(msg["Subject"]) < mail.TITLE_MAX + 40 and msg["Subject"].endswith("…")


def test_excerpt_keeps_first_paragraphs_and_caps_words():
    text = "\n\n".join(f"Paragraphe {i} " + "mot " * 60 for i in range(10))
    out = mail.excerpt(text)
    assert out.startswith("Paragraphe 0")
    assert len(out.split()) <= mail.EXCERPT_WORDS + 1
    assert out.endswith("…") and out.count("\n\n") <= mail.EXCERPT_PARAGRAPHS - 1
    assert mail.excerpt("court\n\n\n\nsecond") == "court\n\nsecond"
    assert mail.excerpt("") == ""


def test_idn_domain_is_written_in_ascii():
    msg = roundtrip(
        mail.compose(
            letter(to_email="jose@exämple.org"), sender="Alex <alex@exämple.org>", date=NOW
        )
    )
    assert msg["To"].addresses[0].addr_spec == "jose@xn--exmple-cua.org"
    assert msg["From"].addresses[0].domain == "xn--exmple-cua.org"


# --- sending to a real server ----------------------------------------------------------


def send(server: SmtpServer, msg, recipients, **kw):
    with SmtpClient(server.settings(), None, timeout=5, **kw) as client:
        return client.send(msg, sender="alex@example.org", recipients=recipients)


def test_message_arrives_intact(smtp):
    msg = mail.compose(letter(), sender=SENDER, date=NOW)
    result = send(smtp, msg, ["camille@example.org"])
    assert result.reply == "250 2.0.0 Ok: queued as TEST1"
    (got,) = smtp.wait_for(1)
    assert got.mail_from == "alex@example.org" and got.rcpt_tos == ["camille@example.org"]
    assert got.data.isascii()  # 7-bit clean: any server takes it
    received = got.message
    assert received["Subject"] == msg["Subject"]
    assert received["To"].addresses[0].display_name == "Camille Exemplé"
    assert received["Message-ID"] == msg["Message-ID"]
    assert "ça devrait te plaire" in received.get_body(("plain",)).get_content()
    assert "À bientôt" in received.get_body(("html",)).get_content()


def test_refused_recipient_is_permanent_and_the_connection_is_reusable(smtp):
    smtp.reject("nobody@example.org", "550 5.1.1 <nobody@example.org>: no such user")
    msg = mail.compose(letter(), sender=SENDER, date=NOW)
    with SmtpClient(smtp.settings(), None, timeout=5) as client:
        with pytest.raises(MailError) as err:
            client.send(msg, sender="alex@example.org", recipients=["nobody@example.org"])
        assert not err.value.temporary and err.value.code == 550
        assert err.value.reason == "550 5.1.1 <nobody@example.org>: no such user"
        # a refused copy does not stop the message
        result = client.send(
            msg, sender="alex@example.org", recipients=["camille@example.org", "nobody@example.org"]
        )
    assert result.refused == {"nobody@example.org": "550 5.1.1 <nobody@example.org>: no such user"}
    assert [m.rcpt_tos for m in smtp.messages] == [["camille@example.org"]]


@pytest.mark.parametrize(
    "reply, at, temporary, lost",
    [
        ("451 4.3.0 try again later", "MAIL", True, False),
        ("452 4.2.2 mailbox full", "RCPT", True, False),
        ("421 4.3.2 shutting down", "MAIL", True, True),
        ("554 5.7.1 message refused", "DATA", False, False),
        ("553 5.7.1 sender refused", "MAIL", False, False),
    ],
)
def test_server_answers_are_classified(smtp, reply, at, temporary, lost):
    smtp.refuse(reply, at=at)
    with pytest.raises(MailError) as err:
        send(smtp, mail.compose(letter(), sender=SENDER, date=NOW), ["camille@example.org"])
    assert (err.value.temporary, err.value.connection_lost) == (temporary, lost)
    assert err.value.reason == reply
    assert smtp.messages == []


def test_unreachable_server_is_temporary():
    server = SmtpServer()  # never started: nothing listens on its port
    with pytest.raises(MailError) as err:
        SmtpClient(server.settings(), None, timeout=2).open()
    assert err.value.temporary and "cannot reach the server" in err.value.reason


def test_silent_server_times_out(smtp):
    smtp.hold("MAIL")
    msg = mail.compose(letter(), sender=SENDER, date=NOW)
    with SmtpClient(smtp.settings(), None, timeout=0.3) as client, pytest.raises(MailError) as err:
        client.send(msg, sender="alex@example.org", recipients=["camille@example.org"])
    assert err.value.temporary and err.value.connection_lost
    assert "timeout" in err.value.reason
    smtp.release()


def test_non_ascii_local_part_uses_smtputf8(smtp):
    msg = mail.compose(letter(to_email="josé@example.org"), sender=SENDER, date=NOW)
    send(smtp, msg, ["josé@example.org"])
    (got,) = smtp.wait_for(1)
    assert got.smtp_utf8 and got.rcpt_tos == ["josé@example.org"]
    assert "SMTPUTF8" in got.mail_options
    # RFC 6532 headers are raw UTF-8, which message_from_bytes would surrogate-escape
    received = email.message_from_string(got.data.decode("utf-8"), policy=policy.default)
    assert received["To"].addresses[0].username == "josé"


def test_username_without_password_is_a_temporary_configuration_problem(smtp):
    with pytest.raises(MailError) as err:
        SmtpClient(smtp.settings(username="alex"), None).open()
    assert err.value.temporary and "AGGREGATOR_SMTP_PASSWORD" in err.value.reason


# --- TLS and authentication ------------------------------------------------------------


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "ssl"])
def test_tls_with_authentication(tls_files, implicit):
    trusted = ssl.create_default_context(cafile=str(tls_files[0]))
    with SmtpServer(tls=tls_files, implicit_tls=implicit, auth=("alex", "s3cret")) as server:
        settings = server.settings(username="alex")
        assert settings.security == ("ssl" if implicit else "starttls")
        msg = mail.compose(letter(), sender=SENDER, date=NOW)
        with SmtpClient(settings, "s3cret", timeout=5, tls_context=trusted) as client:
            client.send(msg, sender="alex@example.org", recipients=["camille@example.org"])
        server.wait_for(1)
        assert server.logins == ["alex"]

        with pytest.raises(MailError) as err:
            SmtpClient(settings, "wrong", timeout=5, tls_context=trusted).open()
        assert err.value.temporary and "535" in err.value.reason
        assert "wrong" not in err.value.reason

        # the default context does not trust a self-signed certificate
        with pytest.raises(MailError) as err:
            SmtpClient(settings, "s3cret", timeout=5).open()
        assert err.value.temporary and "not trusted" in err.value.reason
