"""IMAP: the only module that imports the IMAP library (imapclient).

Read-only by construction: folders are opened with EXAMINE (``readonly=True``) and
bodies fetched with ``BODY.PEEK[]``, so no message is ever marked read, moved or
deleted (RFC 3501 sections 6.3.2 and 6.4.5). Only the messages after the last UID
seen are fetched; a folder whose UIDVALIDITY changed is read again from the start
(RFC 3501 section 2.3.1.1: its UIDs no longer name the same messages); the items'
guids (Message-IDs) keep that from duplicating anything.

Every failure becomes a ``FeedError`` with one of ``ERROR_CODES``, for this source
only. The password is passed in and never put in a message or a log line.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from aggregator.errors import FeedError
from aggregator.models import ImapSettings, MailSource

from ._message import MailMessage, sender_address, sender_matches

log = logging.getLogger(__name__)

PASSWORD_ENV = "AGGREGATOR_IMAP_PASSWORD"  # noqa: S105 -- the variable's name

# The first poll of a folder (or after its UIDVALIDITY changed) takes only its newest
# messages: a years-old INBOX must not flood the river, nor take minutes.
FIRST_POLL = 50
# At most this many messages per poll; the rest come at the next one (due at once).
PER_POLL = 100
# Bodies are fetched a few messages at a time (each one at most the size cap).
FETCH_BATCH = 10

_CHECK_SETTINGS = "check settings.imap in feeds.yaml"
ERROR_CODES: dict[str, str] = {
    "imap_login": "the IMAP server refused the user name or password; check "
    "settings.imap.username and the AGGREGATOR_IMAP_PASSWORD environment variable",
    "imap_no_password": "the AGGREGATOR_IMAP_PASSWORD environment variable is not set; "
    "set it where the aggregator runs (never in feeds.yaml)",
    "imap_not_configured": "there is no 'imap:' under 'settings:' in feeds.yaml",
    "imap_folder": "this folder does not exist in the mailbox; check the 'mail:' line "
    "(aggregator mail-test --imap lists the folders)",
    "imap_unreachable": f"could not connect to the IMAP server; is it up? {_CHECK_SETTINGS}",
    "imap_dns": f"the IMAP server's name could not be found; {_CHECK_SETTINGS}",
    "imap_tls": "the secure connection to the IMAP server failed (invalid or expired "
    f"certificate, or the wrong security for this port); {_CHECK_SETTINGS}",
    "imap_timeout": "the IMAP server took too long to answer; it will be retried later",
    "imap_dropped": "the IMAP server dropped the connection during the transfer; "
    "nothing was lost, it will be retried later",
    "imap_error": "the IMAP server answered with an error; it will be retried later",
}


@dataclass(frozen=True)
class FolderState:
    """Where polling a folder got to (``storage``'s ``mailboxes`` row)."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class MailPoll:
    """What one poll of a folder found."""

    uidvalidity: int
    last_uid: int  # the highest UID looked at (matching the sender filter or not)
    messages: tuple[MailMessage, ...] = ()
    more: bool = False  # more new messages wait: poll again at once
    reset: bool = False  # the folder's UIDVALIDITY changed since the last poll
    skipped: int = 0  # new messages of other senders


@dataclass(frozen=True)
class Folder:
    name: str
    messages: int | None = None


@dataclass
class Connection:
    """Options of a connection (tests pass their own TLS context)."""

    timeout: float = 20.0
    ssl_context: ssl.SSLContext | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _error(url: str, code: str, detail: str) -> FeedError:
    return FeedError(url, code, f"{detail}: {ERROR_CODES[code]}" if detail else ERROR_CODES[code])


def _where(imap: ImapSettings) -> str:
    return f"{imap.host}:{imap.port}"


def _classify(url: str, imap: ImapSettings, e: BaseException) -> FeedError:
    """The one place where IMAP and network exceptions become error codes."""
    where = _where(imap)
    if isinstance(e, FeedError):
        return e
    if isinstance(e, LoginError):
        return _error(url, "imap_login", f"{where}: {_short(e)}")
    if isinstance(e, socket.gaierror):
        return _error(url, "imap_dns", f"{where}: {e.strerror or e}")
    if isinstance(e, ssl.SSLCertVerificationError):
        return _error(url, "imap_tls", f"{where}: {e.verify_message or e}")
    if isinstance(e, ssl.SSLError):
        return _error(url, "imap_tls", f"{where}: {e.reason or e}")
    if isinstance(e, TimeoutError | socket.timeout):
        return _error(url, "imap_timeout", where)
    if isinstance(e, ConnectionRefusedError):
        return _error(url, "imap_unreachable", f"{where}: connection refused")
    if isinstance(e, imaplib.IMAP4.abort | ConnectionError | EOFError | OSError):
        return _error(url, "imap_dropped", f"{where}: {_short(e)}")
    return _error(url, "imap_error", f"{where}: {_short(e)}")


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:300]


@contextmanager
def session(
    url: str, imap: ImapSettings, password: str | None, options: Connection
) -> Iterator[IMAPClient]:
    """A logged-in client; any failure is this source's ``FeedError``."""
    if not password:
        raise _error(url, "imap_no_password", "")
    client: IMAPClient | None = None
    context = options.ssl_context or ssl.create_default_context()
    phase = "connect"
    try:
        client = IMAPClient(
            imap.host,
            port=imap.port,
            ssl=imap.security == "ssl",
            ssl_context=context if imap.security == "ssl" else None,
            timeout=options.timeout,
        )
        if imap.security == "starttls":
            client.starttls(context)
        phase = "login"
        client.login(imap.username, password)
        phase = "session"
        yield client
    except FeedError:
        raise
    except (IMAPClientError, OSError, EOFError) as e:
        if phase == "connect" and isinstance(e, IMAPClientError) and not isinstance(e, LoginError):
            # e.g. the server has no STARTTLS: a settings problem, said as such
            err = _error(url, "imap_tls", f"{_where(imap)}: {_short(e)}")
        elif phase == "connect" and isinstance(e, OSError) and not isinstance(e, ssl.SSLError):
            err = _classify(url, imap, e)
            if err.code == "imap_dropped":  # refused, reset or unreachable before a word
                err = _error(url, "imap_unreachable", f"{_where(imap)}: {_short(e)}")
        else:
            err = _classify(url, imap, e)
        raise err from None
    finally:
        if client is not None:
            try:
                client.logout()
            except Exception:  # the connection may be gone already: nothing to tidy
                with contextlib.suppress(Exception):
                    client.shutdown()


def list_folders(
    url: str, imap: ImapSettings, password: str | None, options: Connection
) -> list[Folder]:
    """The folders of the mailbox, with their message counts (``mail-test --imap``)."""
    with session(url, imap, password, options) as client:
        try:
            folders = []
            for flags, _delim, name in client.list_folders():
                if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                    folders.append(Folder(name))
                    continue
                try:
                    status = client.folder_status(name, [b"MESSAGES"])
                    folders.append(Folder(name, int(status.get(b"MESSAGES", 0))))
                except IMAPClientError:
                    folders.append(Folder(name))
            return folders
        except (IMAPClientError, OSError, EOFError) as e:
            raise _classify(url, imap, e) from None


def poll(
    url: str,
    imap: ImapSettings,
    password: str | None,
    source: MailSource,
    state: FolderState | None,
    *,
    max_size: int,
    options: Connection,
) -> MailPoll:
    """The messages of ``source`` after ``state``, read-only; raises ``FeedError``."""
    started = time.monotonic()
    with session(url, imap, password, options) as client:
        try:
            try:
                selected = client.select_folder(source.folder, readonly=True)
            except IMAPClientError as e:
                if client.folder_exists(source.folder):
                    raise
                raise _error(url, "imap_folder", f"'{source.folder}' ({_short(e)})") from None
            uidvalidity = int(selected[b"UIDVALIDITY"])
            reset = state is not None and state.uidvalidity != uidvalidity
            if reset:
                log.warning(
                    "%s: UIDVALIDITY changed (%s -> %s): reading the folder again",
                    url,
                    state.uidvalidity if state else None,
                    uidvalidity,
                )
            start = 1 if state is None or reset else state.last_uid + 1
            # "n:*" always includes the last message, even below n (RFC 3501 6.4.8).
            uids = sorted(u for u in client.search(["UID", f"{start}:*"]) if u >= start)
            if not uids:
                last = start - 1 if state is not None and not reset else 0
                return MailPoll(uidvalidity, last, reset=reset)
            if state is None or reset:
                uids = uids[-FIRST_POLL:]
            batch, more = uids[:PER_POLL], len(uids) > PER_POLL
            meta = client.fetch(
                batch, ["RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[HEADER.FIELDS (FROM)]"]
            )
            wanted: list[tuple[int, int, datetime | None]] = []
            skipped = 0
            for uid in batch:
                info = meta.get(uid)
                if info is None:  # expunged meanwhile
                    continue
                header = info.get(b"BODY[HEADER.FIELDS (FROM)]", b"") or b""
                if not sender_matches(sender_address(header), source.senders):
                    skipped += 1
                    continue
                wanted.append((uid, int(info.get(b"RFC822.SIZE", 0)), _aware(info)))
            messages = list(_bodies(client, wanted, max_size, url))
        except FeedError:
            raise
        except (IMAPClientError, OSError, EOFError) as e:
            raise _classify(url, imap, e) from None
    log.debug(
        "%s: %d message(s) fetched, %d of other senders, in %.2f s",
        url,
        len(messages),
        skipped,
        time.monotonic() - started,
    )
    return MailPoll(uidvalidity, batch[-1], tuple(messages), more, reset, skipped)


def _aware(info: dict[bytes, Any]) -> datetime | None:
    when = info.get(b"INTERNALDATE")
    if not isinstance(when, datetime):
        return None
    # imapclient gives local naive times by default; aware ones carry their offset.
    when = when if when.tzinfo else when.astimezone()
    return when.astimezone(UTC)


def _bodies(
    client: IMAPClient, wanted: list[tuple[int, int, datetime | None]], max_size: int, url: str
) -> Iterator[MailMessage]:
    """Fetch the bodies: whole when at most ``max_size``, else only their first
    ``max_size`` bytes (``BODY.PEEK[]<0.n>``: the text parts come first in a
    newsletter, the attachments that make it big come last)."""
    small = [w for w in wanted if w[1] <= max_size]
    big = [w for w in wanted if w[1] > max_size]
    found: dict[int, MailMessage] = {}
    for i in range(0, len(small), FETCH_BATCH):
        chunk = small[i : i + FETCH_BATCH]
        data = client.fetch([u for u, _, _ in chunk], ["BODY.PEEK[]"])
        for uid, size, when in chunk:
            body = data.get(uid, {}).get(b"BODY[]")
            if body is not None:
                found[uid] = MailMessage(uid, bytes(body), when, size)
    for uid, size, when in big:
        part = f"BODY.PEEK[]<0.{max_size}>"
        data = client.fetch([uid], [part])
        body = data.get(uid, {}).get(b"BODY[]<0>")
        if body is not None:
            log.warning(
                "%s: message %d is %d bytes, over the %d-byte cap: only its start is kept",
                url,
                uid,
                size,
                max_size,
            )
            found[uid] = MailMessage(uid, bytes(body), when, size, truncated=True)
    for uid, _size, _when in wanted:
        if uid in found:
            yield found[uid]
