"""The forward message: ``compose`` builds an ``email.message.EmailMessage``
(policy ``default``: RFC 2047 encoded words in headers, so any server takes it) as
multipart/alternative, text/plain then text/html (RFC 2046 section 5.1.4: the
preferred part last), UTF-8, with Message-ID and Date; its headers come from
``headers``. The HTML is built by hand with ``html.escape`` on every value and has
no remote resources (no tracking pixel, no image): the only URL is the article's own
link, and only if it is http(s).
"""

from __future__ import annotations

import html
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from .headers import (
    BIDI,
    address,
    check_headers,
    header_text,
    header_value,
    mailbox,
    make_message_id,
    new_message,
)

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


def body_text(text: str) -> str:
    """Text for a body: newlines normalised, control characters other than newline
    and tab removed (a NUL or ESC has no business in a letter)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = text.replace("\u2029", "\n\n")
    return "".join(
        c
        for c in text
        if c in "\n\t" or (unicodedata.category(c) != "Cc" and c not in BIDI and c != "\ufeff")
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
    msg = new_message(meant)
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
    msg = new_message(meant)
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = make_message_id(sender)
    msg.set_content(
        f"{TEXTS['fr']['test_body']}\n\n{TEXTS['en']['test_body']}\n", cte="quoted-printable"
    )
    check_headers(msg, meant)
    return msg


def _wrap(paragraph: str) -> str:
    # Never break a URL or a hyphenated word: a broken link is worse than a long line.
    return textwrap.fill(paragraph, WRAP, break_long_words=False, break_on_hyphens=False)


def _wrap_lines(text: str) -> str:
    return "\n".join(_wrap(line) if line.strip() else "" for line in text.split("\n"))
