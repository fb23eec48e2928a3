"""The forward message: ``compose`` builds an ``email.message.EmailMessage``
(policy ``default``: RFC 2047 encoded words in headers, so any server takes it) as
multipart/alternative, text/plain then text/html (RFC 2046 section 5.1.4: the
preferred part last), UTF-8, with Message-ID and Date; its headers come from
``headers``. The HTML is built by hand with ``html.escape`` on every value and has
no remote resources (no tracking pixel, no image): the only URL is the article's own
link, and only if it is http(s).
"""

from __future__ import annotations

import contextlib
import html
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
SUBJECT_MAX = 250  # characters of a subject the person edited
QUOTE_MAX = 3000  # characters of a selected passage quoted in a letter
WRAP = 72

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "subject": "Ça pourrait t'intéresser : {title}",
        "read": "Lire l'article",
        "colon": " : ",
        "test_subject": "Test d'envoi de l'agrégateur",
        "test_body": "Ce message de test confirme que l'agrégateur peut envoyer du courrier.",
        "subject_formal": "Ceci pourrait vous intéresser : {title}",
        "digest_subject": "Pour toi : {n} article{s}",
        "digest_subject_formal": "Pour vous : {n} article{s}",
        "alert_subject": "Alertes : {n} nouvel article{s}",
        "alert_subject_many": "Alertes : {n} nouveaux articles",
        "digest_intro": "Quelques lectures choisies pour toi :",
        "digest_intro_formal": "Quelques lectures choisies pour vous :",
        "alert_intro": "Vos règles ont trouvé :",
    },
    "en": {
        "subject": "This might interest you: {title}",
        "read": "Read the article",
        "colon": ": ",
        "test_subject": "Aggregator test message",
        "test_body": "This test message confirms that the aggregator can send mail.",
        "subject_formal": "This might interest you: {title}",
        "digest_subject": "For you: {n} article{s}",
        "digest_subject_formal": "For you: {n} article{s}",
        "alert_subject": "Alerts: {n} new article{s}",
        "alert_subject_many": "Alerts: {n} new articles",
        "digest_intro": "A few things I picked for you:",
        "digest_intro_formal": "A few things I picked for you:",
        "alert_intro": "Your rules found:",
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
    formal: bool = False  # « vous »: « Ceci pourrait vous intéresser : … »
    subject: str = ""  # as the person edited it; '' = the default for the tone
    quote: str = ""  # a passage the person selected: quoted instead of ``excerpt``
    time_zone: str | None = None  # settings.display.time_zone; None: the machine's zone


@dataclass(frozen=True)
class LetterItem:
    """One item of a « Pour toi » letter (or of an alert letter)."""

    title: str
    link: str | None
    feed_title: str
    published: datetime | None
    note: str = ""  # the one line the person wrote for this item
    quote: str = ""  # a selected passage, else nothing: a letter stays short


def subject_for(letter: Letter) -> str:
    """The Subject: the person's edited one, else the tone's template with the title;
    always one header-safe line (``header_value``), capped."""
    language = letter.language if letter.language in TEXTS else "fr"
    if header_text(letter.subject):
        return header_value(letter.subject, SUBJECT_MAX)
    title = header_text(letter.title) or "(sans titre)"
    template = TEXTS[language]["subject_formal" if letter.formal else "subject"]
    return template.format(title=header_value(title, TITLE_MAX))


def quote_text(text: str, limit: int = QUOTE_MAX) -> str:
    """A selected passage as it is quoted: body text, blank lines kept as paragraph
    breaks, runs of spaces collapsed, at most ``limit`` characters (cut at a word, "…")."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body_text(text))]
    out = "\n\n".join(p for p in paragraphs if p)
    if len(out) > limit:
        cut = out[: limit - 2]
        space = cut.rfind(" ")
        if space > limit // 2:  # never cut a word in two when a space is near
            cut = cut[:space]
        out = cut.rstrip() + " …"
    return out


def _quoted_lines(text: str) -> list[str]:
    lines: list[str] = []
    for i, paragraph in enumerate(text.split("\n\n")):
        if i:
            lines.append(">")
        lines += ["> " + line for line in _wrap(paragraph).split("\n")]
    return lines


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


def format_date(when: datetime, language: str, time_zone: str | None = None) -> str:
    """'3 novembre 2024', '1er mai 2024' or '3 November 2024', the day it was in
    ``time_zone`` (settings.display.time_zone), else where the sender's machine is (TZ,
    /etc/localtime): a Montréal evening is not tomorrow."""
    zone = None
    if time_zone:
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(time_zone)
    when = when.astimezone(zone)
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
    meant: dict[str, str | Address] = {"Subject": subject_for(letter)}
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
    when = format_date(letter.published, language, letter.time_zone) if letter.published else ""
    byline = " · ".join(x for x in (source, when) if x)
    quote = quote_text(letter.quote)
    source = quote or excerpt(letter.excerpt)
    paragraphs = [p for p in source.split("\n\n") if p]

    plain: list[str] = []
    if note:
        plain += [_wrap_lines(note), ""]
    plain += [_wrap(title)]
    if byline:
        plain.append(_wrap(byline))
    plain.append("")
    if quote:  # the passage the person chose: quoted lines (RFC 3676 style "> ")
        plain += [*_quoted_lines(quote), ""]
    else:
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


def compose_letter(
    items: list[LetterItem],
    *,
    to_name: str,
    to_email: str,
    language: str = "fr",
    formal: bool = False,
    kind: str = "digest",
    sender: str | None,
    reply_to: str | None = None,
    date: datetime,
    message_id: str | None = None,
    readable: bool = False,
) -> EmailMessage:
    """One email with several items: a « Pour toi » letter (``kind`` digest) or the
    owner's alert letter (``kind`` alert). Each item: its title (linked), source and
    date, the person's one line, a selected passage if any, then the link."""
    language = language if language in TEXTS else "fr"
    texts = TEXTS[language]
    n = len(items)
    if kind == "alert":
        subject = texts["alert_subject_many" if n > 1 else "alert_subject"].format(n=n, s="")
        intro = texts["alert_intro"]
    else:
        key = "digest_subject_formal" if formal else "digest_subject"
        subject = texts[key].format(n=n, s="s" if n > 1 else "")
        intro = texts["digest_intro_formal" if formal else "digest_intro"]
    meant: dict[str, str | Address] = {"Subject": subject}
    if sender:
        meant["From"] = mailbox(sender)
    if reply_to or sender:
        meant["Reply-To"] = mailbox(reply_to or sender or "")
    meant["To"] = address(to_name, to_email)
    msg = new_message(meant)
    msg["Date"] = format_datetime(date.astimezone(UTC))
    msg["Message-ID"] = message_id or make_message_id(sender)
    e = html.escape
    plain = [intro, ""]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language}">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
        f"<title>{e(subject)}</title></head>",
        '<body style="font-family: sans-serif; line-height: 1.5; color: #222; max-width: 40em;">',
        f"<p>{e(intro)}</p>",
    ]
    for i, item in enumerate(items, 1):
        title = header_text(item.title) or "(sans titre)"
        link = safe_link(item.link)
        when = format_date(item.published, language) if item.published else ""
        byline = " · ".join(x for x in (header_text(item.feed_title), when) if x)
        note = body_text(item.note).strip()
        quote = quote_text(item.quote)
        plain.append(_wrap(f"{i}. {title}"))
        if byline:
            plain.append(_wrap(byline))
        if note:
            plain.append(_wrap_lines(note))
        if quote:
            plain += _quoted_lines(quote)
        if link:
            plain.append(link)
        plain.append("")
        heading = f'<a href="{e(link)}">{e(title)}</a>' if link else e(title)
        parts.append(f'<h2 style="font-size: 1.1em; margin: 1.4em 0 0.2em;">{heading}</h2>')
        if byline:
            parts.append(f'<p style="margin: 0; color: #666; font-size: 0.9em;">{e(byline)}</p>')
        if note:
            lines = "<br>\n".join(e(line) for line in note.split("\n"))
            parts.append(f"<p>{lines}</p>")
        if quote:
            parts.append(
                '<blockquote style="margin: 0.5em 0; padding-left: 1em; '
                'border-left: 3px solid #ddd; color: #444;">'
            )
            parts += [f"<p>{e(p)}</p>" for p in quote.split("\n\n")]
            parts.append("</blockquote>")
        if link:
            parts.append(f'<p><a href="{e(link)}">{e(texts["read"])}</a></p>')
    parts += ["</body>", "</html>"]
    cte = None if readable else "quoted-printable"
    msg.set_content("\n".join(plain).rstrip() + "\n", cte=cte)
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
