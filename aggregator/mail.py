"""Email: compose the forward message and send it over SMTP. The only module that
imports smtplib; it knows nothing of storage, contacts or configuration files. It
imports nothing outside the standard library but ``aggregator.errors`` and
``aggregator.models`` (the injection tests run it under other Python versions).

Composing. ``compose`` builds an ``email.message.EmailMessage`` (policy ``default``:
RFC 2047 encoded words in headers, so any server takes it) as multipart/alternative,
text/plain then text/html (RFC 2046 section 5.1.4: the preferred part last), UTF-8,
with Message-ID and Date. The HTML is built by hand with ``html.escape`` on every
value and has no remote resources (no tracking pixel, no image): the only URL is the
article's own link, and only if it is http(s).

Headers. Every header value made from text we did not write (the Subject from a
feed's title, the To/From/Reply-To display names) goes through ``header_value``:

* control characters (CR, LF, NEL, U+2028...) and bidi overrides become spaces, so
  the text is one line (``header_text``); EmailMessage would refuse a raw CR or LF,
  but refusing would block a legitimate forward of an odd title;
* every ``=?`` becomes ``= ?``. The email package DECODES RFC 2047 encoded words
  (``=?utf-8?q?=0D=0ABcc:_x?=``) found in a value it is given, in unstructured
  headers, in quoted display names and even in the middle of a word, and on Python
  3.11 and 3.12 its folder writes the decoded CR/LF out as they are: a title could
  add a ``Bcc:`` or end the header block and write the body. Without ``=?`` there
  is no encoded word, so the text the package stores is the text we gave it, on
  every version; the one visible change is a space in a literal ``=?``;
* the To/From/Reply-To fields are written by ``address_field``, not by the
  package's folder, which drops the quotes of a long display name (its commas and
  colons then make other addresses): a name is plain words or encoded words.

Addresses are never "cleaned": an address with a control character, white space,
a character that is not part of a plain ``local@domain`` or ``=?`` is refused with
``AddressError`` (``envelope_address``), so the envelope is always exactly the
address the ``To:`` header shows. And ``compose`` parses its own output back and
refuses a message whose headers are not exactly the ones it meant (``HeaderError``):
should a future version of the package find another way to reinterpret a value, the
message fails loudly instead of leaving.

Sending. ``SmtpClient`` opens one connection (ssl, starttls or none; certificates
verified; a timeout on every socket operation) and runs the MAIL/RCPT/DATA steps
itself rather than ``sendmail``, to keep the server's final answer ("250 2.0.0 Ok:
queued as ...") and to stop after a refused recipient without sending the copy, and
to send the end of DATA (the final ".") on its own, after a caller's hook has recorded
that the message is being handed over (``send(before_end=...)``; see forward.forwarder
for why). It waits 10 minutes for the answer to that end (RFC 5321 section
4.5.3.2.6); no answer is ``uncertain``, never "temporary": the server may have it.
Every failure becomes a ``MailError`` classified once, in ``_classify``: temporary
(network, timeout, 4xx, authentication and TLS problems, which are fixed by
configuration, not by dropping the message) or permanent (5xx on the message or its
recipient). The password is passed in, never logged, never part of a message.
"""

from __future__ import annotations

import contextlib
import email
import html
import logging
import re
import smtplib
import ssl
import textwrap
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr, unquote
from io import BytesIO

from aggregator.errors import AggregatorError
from aggregator.models import MailSettings

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 30.0  # seconds, for the connection and for every reply
FINAL_TIMEOUT = 600.0  # seconds, for the answer to the end of DATA (RFC 5321 4.5.3.2.6)
EXCERPT_WORDS = 200
EXCERPT_PARAGRAPHS = 4
TITLE_MAX = 200  # characters of the title in the subject
WRAP = 72

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "subject": "Ça pourrait t'intéresser : {title}",
        "read": "Lire l'article",
        "colon": " : ",
        "test_subject": "Test d'envoi de l'agrégateur",
        "test_body": "Ce message de test confirme que l'agrégateur peut envoyer du courrier.",
    },
    "en": {
        "subject": "This might interest you: {title}",
        "read": "Read the article",
        "colon": ": ",
        "test_subject": "Aggregator test message",
        "test_body": "This test message confirms that the aggregator can send mail.",
    },
}
MONTHS = {
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
        "septembre", "octobre", "novembre", "décembre",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
}  # fmt: skip

# Bidi embeddings/overrides/isolates: they can make a header read differently on
# screen from what it says (CVE-2021-42574, "Trojan Source", for text in general).
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# --- errors ------------------------------------------------------------------------


class MailError(AggregatorError):
    """Sending failed. ``temporary``: try again later (the message stays queued);
    otherwise the server refused this message for good. ``reason`` is what the
    server said (or what went wrong on the way), for the person to read."""

    def __init__(
        self,
        reason: str,
        *,
        temporary: bool,
        code: int | None = None,
        connection_lost: bool = False,
    ) -> None:
        self.reason = reason
        self.temporary = temporary
        self.code = code
        self.connection_lost = connection_lost
        # Set by SmtpClient.send (see there): the server may have the message / the
        # message never reached a server that had closed an idle connection.
        self.uncertain = False
        self.stale = False
        super().__init__(reason)


class AddressError(MailError, ValueError):
    """An address we refuse to put in the envelope or a header (see ``envelope_address``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, temporary=False)


class HeaderError(MailError, ValueError):
    """The composed message does not parse back to the headers we meant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, temporary=False)


# --- composing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    """What one forward says, as plain values (the caller reads them from its ledger)."""

    to_name: str
    to_email: str
    note: str
    title: str
    link: str | None
    feed_title: str
    published: datetime | None
    excerpt: str  # plain text, paragraphs separated by blank lines
    language: str = "fr"


def header_text(text: str, limit: int | None = None) -> str:
    """One line of text: control, line-separator and bidi characters become spaces,
    runs of white space one space; cut at ``limit`` characters with "…". For what
    is stored and shown; a header value also needs ``header_value``."""
    chars = []
    for c in text:
        category = unicodedata.category(c)
        if category in ("Cc", "Zl", "Zp") or c in _BIDI or c == "\ufeff":
            chars.append(" ")
        else:
            chars.append(c)
    return _cut(" ".join("".join(chars).split()), limit)


def header_value(text: str, limit: int | None = None) -> str:
    """A header value from text we did not write: ``header_text``, and no RFC 2047
    encoded word (every ``=?`` becomes ``= ?``; see the module docstring). The
    email package stores exactly this text, whatever the Python version."""
    return _cut(header_text(text).replace("=?", "= ?"), limit)


def _cut(line: str, limit: int | None) -> str:
    # Cutting and adding "…" cannot create a "=?": nothing is added after the cut.
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def body_text(text: str) -> str:
    """Text for a body: newlines normalised, control characters other than newline
    and tab removed (a NUL or ESC has no business in a letter)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = text.replace("\u2029", "\n\n")
    return "".join(
        c
        for c in text
        if c in "\n\t" or (unicodedata.category(c) != "Cc" and c not in _BIDI and c != "\ufeff")
    )


def excerpt(text: str, max_words: int = EXCERPT_WORDS) -> str:
    """The first paragraphs of a plain-text summary, at most ``max_words`` words and
    EXCERPT_PARAGRAPHS paragraphs; a paragraph that goes over is cut with "…"."""
    out: list[str] = []
    left = max_words
    for paragraph in re.split(r"\n\s*\n", body_text(text)):
        words = paragraph.split()
        if not words:
            continue
        if len(words) > left:
            out.append(" ".join(words[:left]).rstrip(".,;:") + " …")
            break
        out.append(" ".join(words))
        left -= len(words)
        if left <= 0 or len(out) == EXCERPT_PARAGRAPHS:
            break
    return "\n\n".join(out)


def format_date(when: datetime, language: str) -> str:
    """'3 novembre 2024', '1er mai 2024' or '3 November 2024' (UTC)."""
    when = when.astimezone(UTC)
    months = MONTHS.get(language, MONTHS["fr"])
    day = "1er" if language == "fr" and when.day == 1 else str(when.day)
    return f"{day} {months[when.month - 1]} {when.year}"


def safe_link(link: str | None) -> str | None:
    """The link if it is a plain http(s) URL fit for a mail, else None."""
    if not link:
        return None
    link = link.strip()
    if not re.match(r"(?i)https?://", link) or any(c.isspace() or ord(c) < 32 for c in link):
        return None
    return link


def mailbox(value: str) -> Address:
    """'Alex Exemple <alex@example.org>', 'alex@example.org (Alex)' or a bare address
    (the owner's settings, the address given to mail-test) -> a header-safe Address.

    The address is what is between the LAST "<" and the closing ">" (or the first
    word of the old "address (name)" form), the name is the rest. ``parseaddr``,
    which the configuration check uses, reads some values otherwise (CVE-2023-27043;
    "=@a( <alex@example.org>" gives "=@a"): a value the two read differently is
    refused, so the address used is always the one the check showed. Also raises
    AddressError when the address is not one ``envelope_address`` accepts, or when
    the value holds a control character."""
    value = value.strip(" ")
    for c in value:
        if unicodedata.category(c) in ("Cc", "Zl", "Zp"):
            raise AddressError(f"refusing {value!r}: it contains the control character {_u(c)}")
    old_style = re.fullmatch(r"(\S+@\S+)\s+\((.*)\)", value)
    if value.endswith(">") and "<" in value:
        name, _, addr = value[:-1].rpartition("<")
        name = name.strip(" ")
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = unquote(name)
    elif old_style:
        name, addr = old_style[2], old_style[1]
    else:
        name, addr = "", value
    if parseaddr(value)[1] != addr.strip(" "):
        raise AddressError(
            f"refusing {value!r}: it can be read as more than one address; "
            "write it as Name <name@example.org>"
        )
    return address(name, addr)


def address(name: str, addr: str) -> Address:
    """A display name (any text: it goes through ``header_value``) and an address
    (checked by ``envelope_address``) -> an Address for a header."""
    local, _, domain = envelope_address(addr).rpartition("@")
    return Address(display_name=header_value(name, 200), username=local, domain=domain)


# RFC 5322 "specials" other than "@" and ".": an address holding one is either quoted
# (which we never need) or not one address; "=?" would be read as an encoded word.
_NOT_IN_ADDRESS = set('<>()[]\\,;:"')


def envelope_address(addr: str) -> str:
    """The address as it goes into the envelope (MAIL FROM, RCPT TO) and, the same,
    into the header: ``local@domain``, an internationalised domain in IDNA form (a
    non-ASCII local part stays as it is: only an SMTPUTF8 server can take it, RFC
    6531). Raises AddressError for anything else: a control, space or invisible
    formatting character, a special character, ``=?``, not exactly one ``@``. Never
    "cleans" the address: the envelope would then differ from the address shown."""
    text = addr.strip(" ")
    problem = _address_problem(text)
    if problem:
        raise AddressError(f"refusing the address {text!r}: {problem}")
    local, _, domain = text.rpartition("@")
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):  # not a valid IDN: left as written
            domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def _address_problem(text: str) -> str | None:
    for c in text:
        category = unicodedata.category(c)
        if category == "Cc":
            return f"it contains the control character {_u(c)}"
        if category in ("Zs", "Zl", "Zp") or c.isspace():
            return f"it contains white space ({_u(c)})"
        if category == "Cf":
            return f"it contains the invisible formatting character {_u(c)}"
        if c in _NOT_IN_ADDRESS:
            return f"it contains {c!r}, which a plain address cannot hold"
    if "=?" in text:
        return "it contains '=?', which mail programs read as an encoded word"
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or "@" in local:
        return "it is not an address like name@example.org"
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return f"its domain {domain!r} is not valid"
    return None


def _u(c: str) -> str:
    return f"U+{ord(c):04X}"


def make_message_id(sender: str | None) -> str:
    """A fresh Message-ID on the sender's domain (RFC 5322 section 3.6.4)."""
    domain = mailbox(sender).domain if sender else ""
    return make_msgid(domain=domain or "aggregator.invalid")


def compose(
    letter: Letter,
    *,
    sender: str | None,
    reply_to: str | None = None,
    date: datetime,
    message_id: str | None = None,
    readable: bool = False,
) -> EmailMessage:
    """The forward email. ``sender`` is the configured From (None: no From header,
    for the .eml copy written while mail is not set up); Reply-To defaults to it.
    ``readable`` keeps the body 8-bit UTF-8 where it can (for the .eml file) instead
    of quoted-printable, which any SMTP server takes."""
    language = letter.language if letter.language in TEXTS else "fr"
    texts = TEXTS[language]
    title = header_text(letter.title) or "(sans titre)"
    meant: dict[str, str | Address] = {
        "Subject": texts["subject"].format(title=header_value(title, TITLE_MAX))
    }
    if sender:
        meant["From"] = mailbox(sender)
    if reply_to or sender:
        meant["Reply-To"] = mailbox(reply_to or sender or "")
    meant["To"] = address(letter.to_name, letter.to_email)
    msg = _headed(meant)
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = message_id or make_message_id(sender)

    link = safe_link(letter.link)
    note = body_text(letter.note).strip()
    source = header_text(letter.feed_title)
    when = format_date(letter.published, language) if letter.published else ""
    byline = " · ".join(x for x in (source, when) if x)
    paragraphs = [p for p in excerpt(letter.excerpt).split("\n\n") if p]

    plain: list[str] = []
    if note:
        plain += [_wrap_lines(note), ""]
    plain += [_wrap(title)]
    if byline:
        plain.append(_wrap(byline))
    plain.append("")
    plain += [x for p in paragraphs for x in (_wrap(p), "")]
    if link:
        plain.append(f"{texts['read']}{texts['colon']}{link}")
    text = "\n".join(plain).rstrip() + "\n"

    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language}">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
        f"<title>{e(msg['Subject'])}</title></head>",
        '<body style="font-family: sans-serif; line-height: 1.5; color: #222; max-width: 40em;">',
    ]
    if note:
        for p in re.split(r"\n\s*\n", note):
            lines = "<br>\n".join(e(line) for line in p.strip().split("\n"))
            parts.append(f"<p>{lines}</p>")
    heading = f'<a href="{e(link)}">{e(title)}</a>' if link else e(title)
    parts.append(f'<h2 style="font-size: 1.15em; margin: 1.5em 0 0.2em;">{heading}</h2>')
    if byline:
        parts.append(f'<p style="margin: 0; color: #666; font-size: 0.9em;">{e(byline)}</p>')
    if paragraphs:
        parts.append(
            '<blockquote style="margin: 1em 0; padding-left: 1em; '
            'border-left: 3px solid #ddd; color: #444;">'
        )
        parts += [f"<p>{e(p)}</p>" for p in paragraphs]
        parts.append("</blockquote>")
    if link:
        parts.append(
            f'<p><a href="{e(link)}">{e(texts["read"])}</a><br>'
            f'<span style="color: #666; font-size: 0.85em;">{e(link)}</span></p>'
        )
    parts += ["</body>", "</html>"]
    cte = None if readable else "quoted-printable"
    msg.set_content(text, cte=cte)
    msg.add_alternative("\n".join(parts) + "\n", subtype="html", cte=cte)
    check_headers(msg, meant)
    return msg


def compose_test(to: str, *, sender: str, reply_to: str | None, date: datetime) -> EmailMessage:
    """The short message of ``aggregator mail-test``."""
    meant: dict[str, str | Address] = {
        "Subject": f"{TEXTS['fr']['test_subject']} / {TEXTS['en']['test_subject']}",
        "From": mailbox(sender),
        "Reply-To": mailbox(reply_to or sender),
        "To": mailbox(to),
    }
    msg = _headed(meant)
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = make_message_id(sender)
    msg.set_content(
        f"{TEXTS['fr']['test_body']}\n\n{TEXTS['en']['test_body']}\n", cte="quoted-printable"
    )
    check_headers(msg, meant)
    return msg


def _headed(meant: dict[str, str | Address]) -> EmailMessage:
    """A message with these headers: text through the package, addresses as fields
    written here (``address_field``)."""
    msg = EmailMessage(policy=policy.default)
    for name, value in meant.items():
        if isinstance(value, Address):
            msg.set_raw(name, address_field(name, value))
        else:
            msg[name] = value
    return msg


# A display name made only of these (RFC 5322 atext) words needs no quoting.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
LINE_MAX = 78  # RFC 5322 section 2.1.1


def address_field(field: str, addr: Address) -> str:
    """The folded value of a ``field`` header (To, From, Reply-To) for one address,
    written here instead of by the email package: its folder drops the quotes of a
    quoted display name too long for one line, so a contact named "Eve: a@evil.example,
    b@evil.example; ..." made a To: header with a group of other addresses (3.11 to
    3.13.0, with or without encoded words). A name of plain words that fits stays as
    it is; any other one is written as RFC 2047 encoded words (RFC 2047 section 5
    (3): in a phrase, every special is encoded), so no quoted string ever appears,
    and no line is longer than 78 characters (``to_bytes`` never refolds it)."""
    spec = addr.addr_spec
    name = addr.display_name
    if not name:
        return spec
    one_line = len(field) + 2 + len(name) + 2 + len(spec) + 1
    if _PLAIN_NAME.fullmatch(name) and "=?" not in name and one_line <= LINE_MAX:
        return f"{name} <{spec}>"
    words = Header(name, "utf-8", maxlinelen=LINE_MAX - 2, header_name=field).encode(linesep="\n")
    last = words.rsplit("\n", 1)[-1]
    joint = " " if len(last) + 2 + len(spec) + 1 <= LINE_MAX else "\n "
    return f"{words}{joint}<{spec}>"


def check_headers(msg: EmailMessage, meant: dict[str, str | Address]) -> None:
    """Parse the message's wire form back and raise HeaderError unless it has exactly
    the headers ``msg`` has, in order, those of ``meant`` with exactly these values
    (one address each), and the same MIME structure: the proof that no value was
    reinterpreted on the way (module docstring, "Headers")."""
    international = not all(v.addr_spec.isascii() for v in meant.values() if isinstance(v, Address))
    raw = to_bytes(msg, utf8=international)
    back = (
        email.message_from_string(raw.decode("utf-8"), policy=policy.default)
        if international
        else email.message_from_bytes(raw, policy=policy.default)
    )
    names = [k.lower() for k in back]
    if names != [k.lower() for k in msg]:
        raise HeaderError(f"the message's headers would be read as {', '.join(names)}")
    for name, value in meant.items():
        try:
            got = back[name]
            if isinstance(value, Address):
                ok = [_spaced(a) for a in got.addresses] == [_spaced(value)]
            else:
                ok = _spaced(str(got)) == _spaced(value)
        except Exception as e:  # the package cannot even read it back (a Group...)
            raise HeaderError(f"the {name} header cannot be read back ({e!r})") from e
        if not ok:
            raise HeaderError(f"the {name} header would be read as {str(got)!r}")
    shape = [p.get_content_type() for p in msg.walk()]
    if [p.get_content_type() for p in back.walk()] != shape:
        raise HeaderError("the message's parts would not be read as they were written")


def _spaced(value: str | Address) -> tuple[str, ...]:
    # Spaces and tabs do not count: folding moves them (a value may start on the line
    # after "Subject:"), and the package loses or adds one where it splits a long
    # text into several encoded words (RFC 2047 section 6.2: the space between two
    # encoded words is dropped). Every other character does, CR and LF first.
    if isinstance(value, Address):
        return (re.sub(r"[ \t]+", "", value.display_name), value.username, value.domain)
    return (re.sub(r"[ \t]+", "", value),)


def _wrap(paragraph: str) -> str:
    # Never break a URL or a hyphenated word: a broken link is worse than a long line.
    return textwrap.fill(paragraph, WRAP, break_long_words=False, break_on_hyphens=False)


def _wrap_lines(text: str) -> str:
    return "\n".join(_wrap(line) if line.strip() else "" for line in text.split("\n"))


def to_bytes(msg: EmailMessage, *, utf8: bool = False, linesep: str = "\r\n") -> bytes:
    """The message as it goes on the wire (CRLF) or into a file. ``utf8`` writes
    headers as raw UTF-8 (RFC 6532), for SMTPUTF8 or a readable .eml."""
    buf = BytesIO()
    # SMTP and SMTPUTF8 are policy.default with CRLF (and raw UTF-8 headers).
    # refold_source "none": the address fields stay as address_field wrote them.
    flavour = policy.SMTPUTF8 if utf8 else policy.SMTP
    BytesGenerator(buf, policy=flavour.clone(linesep=linesep, refold_source="none")).flatten(msg)
    return buf.getvalue()


# --- sending -----------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    reply: str  # the server's answer to the end of DATA, e.g. "250 2.0.0 Ok: queued as X"
    refused: dict[str, str] = field(default_factory=dict)  # copies refused (not the recipient)


def _stuffed(data: bytes) -> bytes:
    """The message as DATA sends it: every line that starts with "." gets another
    one (RFC 5321 section 4.5.2), and it ends with CRLF."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}".strip()


def _classify(e: BaseException, during: str) -> MailError:
    """One place decides what is temporary (see the module docstring)."""
    if isinstance(e, MailError):
        return e
    if isinstance(e, smtplib.SMTPAuthenticationError):
        reply = _reply(e.smtp_code, e.smtp_error)
        return MailError(
            f"the server refused the user name or password ({reply}); check settings.mail."
            "username and AGGREGATOR_SMTP_PASSWORD",
            temporary=True,
            code=e.smtp_code,
        )
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return MailError(
            f"the server does not support {during} ({e}); check settings.mail.security",
            temporary=True,
        )
    if isinstance(e, smtplib.SMTPServerDisconnected):
        # smtplib reports a read timeout as "Connection unexpectedly closed: timed out"
        if "timed out" in str(e):
            return MailError(
                f"no answer from the server within the timeout during {during}",
                temporary=True,
                connection_lost=True,
            )
        return MailError(
            f"the server closed the connection during {during}",
            temporary=True,
            connection_lost=True,
        )
    if isinstance(e, smtplib.SMTPResponseException):
        code = e.smtp_code
        return MailError(
            _reply(code, e.smtp_error),
            temporary=code < 500 or during == "connection",
            code=code,
            connection_lost=code == 421 or during == "connection",
        )
    if isinstance(e, ssl.SSLCertVerificationError):
        return MailError(
            f"the server's TLS certificate is not trusted ({e.verify_message})",
            temporary=True,
            connection_lost=True,
        )
    if isinstance(e, TimeoutError):
        return MailError(
            f"no answer from the server within the timeout during {during}",
            temporary=True,
            connection_lost=True,
        )
    if isinstance(e, OSError):
        return MailError(
            f"cannot reach the server during {during}: {e.strerror or e}",
            temporary=True,
            connection_lost=True,
        )
    raise e


class SmtpClient:
    """One SMTP connection, used for one or more messages::

    with SmtpClient(settings, password) as smtp:
        result = smtp.send(message, recipients=[...])
    """

    def __init__(
        self,
        settings: MailSettings,
        password: str | None,
        *,
        timeout: float = SMTP_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
        final_timeout: float = FINAL_TIMEOUT,
    ) -> None:
        self.settings = settings
        self._password = password
        self.timeout = timeout
        self.tls_context = tls_context
        self.final_timeout = final_timeout
        self.transactions = 0  # answered on this connection (reset by open)
        self._smtp: smtplib.SMTP | None = None

    def __repr__(self) -> str:  # never the password
        s = self.settings
        return f"SmtpClient({s.host}:{s.port}, {s.security}, user={s.username!r})"

    def __enter__(self) -> SmtpClient:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, say EHLO, secure, authenticate. Raises a temporary MailError."""
        s = self.settings
        if s.username and not self._password:
            raise MailError(
                "settings.mail.username is set but AGGREGATOR_SMTP_PASSWORD is not",
                temporary=True,
            )
        context = self.tls_context or ssl.create_default_context()
        step = "connection"
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            self._smtp = smtp
            self.transactions = 0
            smtp.ehlo()
            if s.security == "starttls":
                step = "STARTTLS"
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                step = "AUTH"
                smtp.login(s.username, self._password or "")
        except Exception as e:
            self.close()
            raise _classify(e, "connection" if step == "connection" else step) from e
        log.debug("connected to %s:%d (%s)", s.host, s.port, s.security)

    def send(
        self,
        msg: EmailMessage,
        *,
        sender: str,
        recipients: list[str],
        before_end: Callable[[], object] | None = None,
    ) -> SendResult:
        """Send ``msg`` to ``recipients`` (the first is the one that matters: if it is
        refused nothing is sent; later ones are copies, reported in ``refused``).

        The message goes out whole but for the end of DATA ("CRLF . CRLF"), which
        alone makes the server take it (RFC 5321 section 4.1.1.4: a transaction
        whose end never came is discarded). ``before_end`` runs right before it is
        sent: the caller records there that the message is being handed over. If
        it raises, the connection is dropped without the end (nothing is
        delivered) and its exception propagates.

        A MailError with ``uncertain`` means the end was sent and no answer came
        (connection lost, timeout): the server may have taken the message. One
        with ``stale`` means a connection used before was found closed when this
        message started: nothing of it reached the server. When the connection is
        lost it is closed (``connected`` is then False)."""
        smtp = self._smtp
        if smtp is None:
            raise MailError("not connected", temporary=True, connection_lost=True)
        sender = envelope_address(sender)
        recipients = [envelope_address(r) for r in recipients]
        international = not all(a.isascii() for a in (sender, *recipients))
        try:
            data = to_bytes(msg, utf8=international)
        except UnicodeEncodeError:  # a non-ASCII address in a header only (Reply-To)
            international = True
            data = to_bytes(msg, utf8=True)
        reused = self.transactions > 0
        step = "MAIL FROM"
        try:
            if international and not smtp.has_extn("smtputf8"):
                raise MailError(
                    "an address is not ASCII and the server does not support SMTPUTF8",
                    temporary=False,
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
            if smtp.has_extn("size"):
                options.append(f"SIZE={len(data)}")
            code, reply = smtp.mail(sender, options)
            if code != 250:
                raise self._refused(code, reply)
            refused: dict[str, str] = {}
            for i, rcpt in enumerate(recipients):
                step = "RCPT TO"
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    if i == 0:
                        raise self._refused(code, reply)
                    refused[rcpt] = _reply(code, reply)
                    log.warning("copy to %s refused: %s", rcpt, refused[rcpt])
            step = "DATA"
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise self._refused(code, reply)
            smtp.send(_stuffed(data)[:-2])  # all but the CRLF that starts the end
            if before_end is not None:
                try:
                    before_end()
                except BaseException:
                    self._drop()  # no QUIT: in DATA it would be read as message text
                    raise
            step = "end of DATA"
            smtp.send(b"\r\n.\r\n")
            code, reply = self._final_reply(smtp)
            if code != 250:
                raise self._refused(code, reply)
        except MailError as e:
            raise self._after(e, step, reused) from e
        except (smtplib.SMTPException, OSError) as e:
            raise self._after(_classify(e, step), step, reused) from e
        self.transactions += 1
        return SendResult(_reply(code, reply), refused)

    def _final_reply(self, smtp: smtplib.SMTP) -> tuple[int, bytes]:
        # The answer to the end of DATA may take long (content filters): RFC 5321
        # section 4.5.3.2.6 asks clients to wait 10 minutes. Giving up earlier would
        # turn a delivered message into an uncertain one.
        sock = smtp.sock
        if sock is not None:
            sock.settimeout(self.final_timeout)
        try:
            return smtp.getreply()
        finally:
            if smtp.sock is not None:
                smtp.sock.settimeout(self.timeout)

    def _after(self, error: MailError, step: str, reused: bool) -> MailError:
        """Note what a failure at ``step`` means for the message, and for the connection."""
        if error.connection_lost:
            self._drop()
            if step == "end of DATA" and error.code is None:
                error.uncertain = True
                error.reason = (
                    f"{error.reason}, after the whole message was handed over: "
                    "the server may have accepted it"
                )
                error.args = (error.reason,)
            elif step == "MAIL FROM" and reused:
                error.stale = True
        else:
            self.transactions += 1  # the server answered: the connection works
            self._reset()
        return error

    def _refused(self, code: int, reply: bytes) -> MailError:
        return MailError(
            _reply(code, reply), temporary=code < 500, code=code, connection_lost=code == 421
        )

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def _drop(self) -> None:
        """Close the socket without a word (the connection is gone or mid-DATA)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    @property
    def connected(self) -> bool:
        return self._smtp is not None
