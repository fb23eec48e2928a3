"""Every header and address of a message, built so that none can be read otherwise
than meant, and the proof of it.

Every header value made from text we did not write (the Subject from a feed's
title, the To/From/Reply-To display names) goes through ``header_value``:

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
refuses a message whose headers are not exactly the ones it meant (``check_headers``,
``HeaderError``): should a future version of the package find another way to
reinterpret a value, the message fails loudly instead of leaving.
"""

from __future__ import annotations

import contextlib
import email
import re
import unicodedata
from email import policy
from email.errors import HeaderParseError
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address, UnstructuredHeader
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr, unquote
from io import BytesIO

from .errors import AddressError, HeaderError

# Bidi embeddings/overrides/isolates: they can make a header read differently on
# screen from what it says (CVE-2021-42574, "Trojan Source", for text in general).
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def header_text(text: str, limit: int | None = None) -> str:
    """One line of text: control, line-separator and bidi characters become spaces,
    runs of white space one space; cut at ``limit`` characters with "…". For what
    is stored and shown; a header value also needs ``header_value``."""
    chars = []
    for c in text:
        category = unicodedata.category(c)
        if category in ("Cc", "Zl", "Zp") or c in BIDI or c == "\ufeff":
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


def new_message(meant: dict[str, str | Address]) -> EmailMessage:
    """A message with these headers: text through the package (folded by
    ``text_field`` on the way out), addresses as fields written here
    (``address_field``)."""
    msg = EmailMessage(policy=policy.default)
    for name, value in meant.items():
        if isinstance(value, Address):
            msg.set_raw(name, address_field(name, value))
        else:
            msg[name] = value
    return msg


def text_field(field: str, text: str, linesep: str = "\n") -> str:
    """The folded ASCII value of an unstructured header (Subject) holding ``text``,
    written here instead of by the package's folder: on 3.11 and 3.12 that folder
    can cut an encoded word before its closing ``?=`` when a line is full (a title
    with ``?==?`` and an accent, found by the property test), so the Subject read
    back is not the one we meant and the forward is refused. ``Header`` folds
    plain ASCII text at spaces only, as it is, and writes any other text as whole
    RFC 2047 encoded words, each complete on its line; ``text`` has gone through
    ``header_value``, so it holds no ``=?`` of its own either way."""
    header = Header(text, "us-ascii", maxlinelen=LINE_MAX - 2, header_name=field)
    return header.encode(splitchars=" ", linesep=linesep)


class _Wire(policy.EmailPolicy):
    """The package's policy, but unstructured headers we set (Subject) are folded
    by ``text_field`` when written as ASCII. With ``utf8`` the package writes them
    as raw UTF-8 without encoded words, and its folder is fine."""

    def fold_binary(self, name: str, value: str) -> bytes:
        if self.utf8 or not isinstance(value, UnstructuredHeader):
            return super().fold_binary(name, value)
        try:
            folded = text_field(name, str(value), self.linesep)
        except HeaderParseError as e:  # a value holding CR/LF once decoded
            raise HeaderError(f"the {name} header cannot be written as it is ({e})") from e
        return f"{name}: {folded}{self.linesep}".encode("ascii")


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


def to_bytes(msg: EmailMessage, *, utf8: bool = False, linesep: str = "\r\n") -> bytes:
    """The message as it goes on the wire (CRLF) or into a file. ``utf8`` writes
    headers as raw UTF-8 (RFC 6532), for SMTPUTF8 or a readable .eml."""
    buf = BytesIO()
    # SMTP and SMTPUTF8 are policy.default with CRLF (and raw UTF-8 headers).
    # refold_source "none": the address fields stay as address_field wrote them.
    flavour = _Wire(utf8=utf8, linesep=linesep, refold_source="none")
    BytesGenerator(buf, policy=flavour).flatten(msg)
    return buf.getvalue()
