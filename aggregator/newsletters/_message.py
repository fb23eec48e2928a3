"""One email message -> the items it gives (``ParsedEntry``, not sanitized yet).

Standard ``email`` package only, read leniently: a newsletter with broken MIME, a
wrong charset or no Date still gives an item, never an exception (one message must
never cost the source its other messages). What comes out is raw HTML, sanitized
by the orchestrator with the same allowlist as feeds (``sanitize``), after two
mail-specific passes here: tracking pixels sized in CSS are dropped (the sanitizer
drops those sized with attributes), and the reader's own unsubscribe links are kept
out of the summary (what a forward quotes).

- title: the Subject, decoded (RFC 2047), on one line;
- author: the sender's display name (else the address);
- published: the Date header; without one (or an absurd one), the server's arrival
  time (INTERNALDATE); the orchestrator clamps future dates like a feed's;
- link: the online version: ``List-Post`` when it is an http(s) URL (Substack and
  others put the post there), else an early "View in browser / Voir en ligne" link;
  None otherwise (the dashboard's own page for the item);
- content: the HTML part, else the plain-text part as paragraphs; the
  ``List-Unsubscribe`` URL is shown as a link at the end (content only: the summary,
  which forwards quote, never has it);
- guid: the Message-ID (stable when the folder's UIDs change), else a hash of the
  message; ``split: links`` items add the link to it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from aggregator.models import ParsedEntry

from ._split import split_links, visible_links

log = logging.getLogger(__name__)

MIN_YEAR, MAX_YEAR = 1970, 2100  # as parse.py: outside, a placeholder or a typo
MAX_TITLE = 1000
MAX_AUTHOR = 200
MAX_GUID = 2048
MAX_HTML = 1_000_000  # characters, as a feed's content_html
# "View in browser" links come first in a newsletter: only look this far.
ONLINE_LINK_WINDOW = 5000  # characters of HTML
ONLINE_WORDS = re.compile(
    r"(voir|lire|afficher|consulter|ouvrir)\b.{0,25}\b(en ligne|navigateur|version web|web)"
    r"|version (en ligne|web|navigateur)"
    r"|(view|read|open|see)\b.{0,25}\b(online|in (your |a |the )?browser|on the web|web version)"
    r"|web version|online version|browser version",
    re.IGNORECASE | re.DOTALL,
)
UNSUBSCRIBE_WORDS = re.compile(
    r"unsubscri|d[ée]sinscri|d[ée]sabonn|opt[ -]?out|manage (your )?(subscription|preferences)"
    r"|(g[ée]rer|modifier) (vos|mes|tes) (pr[ée]f[ée]rences|abonnements)|update your preferences"
    r"|ne plus recevoir",
    re.IGNORECASE,
)
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ANGLE_URL = re.compile(r"<\s*([^<>\s]+)\s*>")
# An <img> sized 0 or 1 pixel by CSS ("width:1px;height:1px"), or hidden: a pixel that
# tells the sender the message was opened (the sanitizer drops the ones sized with
# width/height attributes, and removes style attributes, so it would miss these).
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_TINY_CSS = re.compile(
    r"(?:^|[;\s\"'])(?:max-)?(?:width|height)\s*:\s*[01](?:\.0+)?(?:px)?\s*(?:!important\s*)?(?:;|$|[\"'])"
    r"|display\s*:\s*none|visibility\s*:\s*hidden",
    re.IGNORECASE,
)
_SIZE_ATTR = re.compile(r"""\b(width|height)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_TINY_SIZE = re.compile(r"[01](?:\.0*)?\s*(?:px)?", re.IGNORECASE)
_CID = re.compile(r"""\bsrc\s*=\s*["']?\s*cid:""", re.IGNORECASE)
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass(frozen=True)
class MailMessage:
    """What the IMAP side hands over for one message."""

    uid: int
    data: bytes  # the message as fetched (the first bytes only when ``truncated``)
    internal_date: datetime | None = None  # when the server received it (aware UTC)
    size: int = 0  # RFC822.SIZE: the whole message
    truncated: bool = False  # bigger than the size cap: only its start was fetched


# --- headers -----------------------------------------------------------------------


def _raw_header(msg: Message, name: str) -> str:
    """A header as text, whatever the policy makes of a broken one."""
    try:
        value = msg.get(name)
    except Exception:  # email's header parsers raise on some malformed headers
        value = None
        for k, v in msg.raw_items() if hasattr(msg, "raw_items") else msg.items():
            if k.lower() == name.lower():
                value = v
                break
    return "" if value is None else str(value)


def one_line(value: str, limit: int) -> str:
    """Decoded text on one line: encoded newlines and controls become spaces (a
    subject is one line; a forged "\\n" must not open a second one anywhere)."""
    value = " ".join(_BAD_CHARS.sub(" ", value).split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def decoded(value: str) -> str:
    """RFC 2047 encoded words decoded; kept as written when they do not decode."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def _sender(msg: Message) -> tuple[str | None, str]:
    raw = _raw_header(msg, "From")
    try:
        pairs = getaddresses([raw])
    except Exception:
        pairs = [parseaddr(raw)]
    name, addr = pairs[0] if pairs else ("", "")
    name = one_line(decoded(name), MAX_AUTHOR).strip("\"' ")
    addr = one_line(addr, MAX_AUTHOR).lower()
    return (name or addr or None), addr


def sender_address(data: bytes) -> str:
    """The From address of a message (or of its header alone), lower-cased."""
    return _sender(message_from_bytes(data, policy=policy.compat32))[1]


def _date(msg: Message, fallback: datetime | None) -> datetime | None:
    raw = _raw_header(msg, "Date").strip()
    if raw:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None:
            if when.tzinfo is None:  # "-0000": no time zone information (RFC 5322 3.3)
                when = when.replace(tzinfo=UTC)
            when = when.astimezone(UTC)
            if MIN_YEAR <= when.year <= MAX_YEAR:
                return when
    return fallback


def _angle_urls(value: str) -> list[str]:
    return [u for u in _ANGLE_URL.findall(value)]


def _guid(msg: Message, data: bytes) -> str:
    mid = one_line(_raw_header(msg, "Message-ID"), MAX_GUID)
    if mid and "@" in mid:
        return "mid:" + mid.strip("<> ")
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- body --------------------------------------------------------------------------


def _text_of(part: Message) -> str:
    """A text part decoded: transfer encoding (quoted-printable, base64) then
    charset; an unknown or lying charset falls back instead of failing."""
    try:
        payload = part.get_payload(decode=True)
        if (part.get("Content-Transfer-Encoding") or "").strip().lower() == "base64":
            payload = _lenient_base64(part.get_payload())
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    if not isinstance(payload, bytes):
        return str(payload)
    charset = part.get_content_charset() or ""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("windows-1252", errors="replace")


def _lenient_base64(raw: object) -> bytes | None:
    """Base64 with the garbage a broken mailer leaves (stray characters, missing
    padding) skipped, as mail clients do; ``email`` would hand back the raw text."""
    if not isinstance(raw, str):
        return None
    clean = re.sub(r"[^A-Za-z0-9+/]", "", raw.split("=")[0] if "==" in raw else raw)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    except ValueError:
        return None


def _bodies(msg: Message) -> tuple[str, str]:
    """(html, plain) of a message: the first text/html and text/plain parts that are
    not attachments, in MIME order."""
    found: dict[str, str] = {}
    try:
        parts = list(msg.walk())
    except Exception:
        parts = [msg]
    for part in parts:
        try:
            ctype = part.get_content_type()
            disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        except Exception as e:
            log.debug("a MIME part without a readable type: %s", e)
            continue
        if part.is_multipart() or disposition == "attachment":
            continue
        kind = {"text/html": "html", "text/plain": "plain"}.get(ctype)
        if kind and kind not in found:
            found[kind] = _text_of(part)
    if not found and not msg.is_multipart():
        # No Content-Type at all, or an unknown one on a single part: read it as text.
        found["plain"] = _text_of(msg)
    return found.get("html", ""), found.get("plain", "")


def text_to_html(text: str) -> str:
    """Plain text as HTML: escaped, blank lines become paragraphs, newlines <br>,
    bare http(s) URLs become links."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out = []
    for p in paragraphs:
        escaped = html.escape(p, quote=True)
        linked = re.sub(
            r"(https?://[^\s<>&\"']+(?:&amp;[^\s<>&\"']+)*)",
            r'<a href="\1">\1</a>',
            escaped,
        )
        out.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return "".join(out)


def drop_tracking_images(html_text: str) -> str:
    """Remove <img> tags a newsletter uses to learn the message was opened (sized
    0-1 px or hidden by CSS) and inline ``cid:`` images (the parts are not kept; the
    alt text stays)."""

    def one(m: re.Match[str]) -> str:
        tag = m.group(0)
        style = re.search(r"""\bstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", tag, re.IGNORECASE)
        if style and _TINY_CSS.search(style.group(1) or style.group(2) or ""):
            return ""
        # width="1px", height=0, width="1" alone: every size it gives is 0 or 1 pixel
        sizes = _SIZE_ATTR.findall(tag)
        if sizes and all(_TINY_SIZE.fullmatch(v.strip("\"' ")) for _name, v in sizes):
            return ""
        if _CID.search(tag):
            alt = _ALT.search(tag)
            return html.escape(alt.group(1) or alt.group(2) or "", quote=False) if alt else ""
        return tag

    return _IMG.sub(one, html_text)


def _online_link(msg: Message, html_text: str, plain: str) -> str | None:
    for url in _angle_urls(_raw_header(msg, "List-Post")):
        if re.match(r"(?i)https?://", url):
            return url
    if html_text:
        for href, text in visible_links(html_text[:ONLINE_LINK_WINDOW]):
            if ONLINE_WORDS.search(text) and re.match(r"(?i)https?://", href):
                return href
    elif plain:
        head = plain[:ONLINE_LINK_WINDOW]
        for line in head.splitlines()[:15]:
            found = re.search(r"https?://\S+", line)
            if found and ONLINE_WORDS.search(line):
                return found.group(0).rstrip(">).,;")
    return None


def _unsubscribe_urls(msg: Message) -> list[str]:
    """RFC 2369 List-Unsubscribe: <https://...>, <mailto:...>."""
    return _angle_urls(_raw_header(msg, "List-Unsubscribe"))


def _without_personal_links(html_text: str, personal: set[str]) -> str:
    """The body without the reader's own links (unsubscribe, preferences, "view
    online" that may carry their token): anchors and bare URLs removed, their text
    with them when it is an unsubscribe sentence."""

    def anchor(m: re.Match[str]) -> str:
        href = html.unescape(m.group(1) or m.group(2) or "")
        inner = m.group(3)
        text = re.sub(r"<[^>]*>", " ", inner)
        if href in personal or UNSUBSCRIBE_WORDS.search(text) or ONLINE_WORDS.search(text):
            return ""
        return m.group(0)

    out = re.sub(
        r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|[^\s>]*)[^>]*>(.*?)</a\s*>""",
        anchor,
        html_text,
        flags=re.IGNORECASE | re.DOTALL,
    )
    for url in personal:
        if url:
            out = out.replace(html.escape(url, quote=True), "").replace(url, "")
    return out


def _plain_without_personal(text: str, personal: set[str]) -> str:
    lines = [
        line
        for line in text.splitlines()
        if not UNSUBSCRIBE_WORDS.search(line) and not ONLINE_WORDS.search(line)
    ]
    out = "\n".join(lines)
    for url in personal:
        if url:
            out = out.replace(url, "")
    return out


def _unsubscribe_html(urls: list[str]) -> str:
    links = [u for u in urls if re.match(r"(?i)(https?|mailto):", u)]
    if not links:
        return ""
    return (
        "<hr><p>"
        + " · ".join(f'<a href="{html.escape(u, quote=True)}">Se désabonner</a>' for u in links[:1])
        + "</p>"
    )


def _truncated_note(message: MailMessage, cap: int) -> str:
    mb = message.size / (1024 * 1024)
    return (
        f"<p><strong>Message de {mb:.1f} Mo, au-delà de la limite de "
        f"{cap / (1024 * 1024):.1f} Mo : seul son début est affiché ; "
        "lisez-le en entier dans votre messagerie.</strong></p>"
    )


# --- the message -------------------------------------------------------------------


def to_entries(message: MailMessage, *, split: bool = False, cap: int = 0) -> list[ParsedEntry]:
    """The items of one message (one, or one per link with ``split``)."""
    data = message.data
    msg: Message
    try:
        msg = message_from_bytes(data, policy=policy.default)
        subject = _raw_header(msg, "Subject")
    except Exception as e:  # the default policy gave up: the lenient legacy one
        log.info("message %s: %s; read with the compat32 policy", message.uid, e)
        msg = message_from_bytes(data, policy=policy.compat32)  # type: ignore[arg-type]
        subject = _raw_header(msg, "Subject")
    title = one_line(decoded(subject), MAX_TITLE)
    author, _addr = _sender(msg)
    published = _date(msg, message.internal_date)
    guid = _guid(msg, data)
    try:
        html_text, plain = _bodies(msg)
    except Exception as e:  # never lose the message: its headers still make an item
        log.warning("message %s: the body could not be read (%s)", message.uid, e)
        html_text, plain = "", ""
    html_text, plain = html_text[:MAX_HTML], plain[:MAX_HTML]
    if html_text:
        html_text = drop_tracking_images(html_text)
    link = _online_link(msg, html_text, plain)
    unsubscribe = _unsubscribe_urls(msg)
    personal = set(unsubscribe)
    if html_text:
        body = html_text
        summary = _without_personal_links(html_text, personal)
    else:
        body = text_to_html(plain)
        summary = text_to_html(_plain_without_personal(plain, personal))
    if message.truncated:
        note = _truncated_note(message, cap)
        body, summary = note + body, note + summary
    if not title:
        title = "(sans objet)"
    if split:
        items = split_links(html_text or text_to_html(plain), exclude=personal | {link or ""})
        if items:
            return [
                ParsedEntry(
                    guid=_cap_guid(f"{guid}#{href}"),
                    title=one_line(text, MAX_TITLE) or title,
                    link=href,
                    author=author,
                    published=published,
                    updated=None,
                    content_html=fragment,
                    summary_html=fragment,
                    base_url="",
                )
                for href, text, fragment in items
            ]
    return [
        ParsedEntry(
            guid=_cap_guid(guid),
            title=title,
            link=link,
            author=author,
            published=published,
            updated=None,
            content_html=body + _unsubscribe_html(unsubscribe),
            summary_html=summary or "<p></p>",
            base_url="",
        )
    ]


def _cap_guid(guid: str) -> str:
    if len(guid) <= MAX_GUID:
        return guid
    return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()


def sender_matches(address: str, patterns: tuple[str, ...]) -> bool:
    """``patterns`` as validated by config: exact addresses or ``*@domain``."""
    if not patterns:
        return True
    address = address.lower()
    for p in patterns:
        if p.startswith("*@"):
            if address.endswith(p[1:]):
                return True
        elif address == p:
            return True
    return False
