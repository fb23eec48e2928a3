"""The Forwarder: contacts, the ledger, queueing and outbox delivery.

Orchestrates ``config`` (contacts.yaml, settings.mail), ``storage`` (the ``forwards``
table: ledger and outbox in one) and ``mail`` (compose + SMTP). The web, the CLI and
the scheduler call ``Forwarder``; tests call the same methods with a fixed ``now``.

Delivery guarantees. ``queue`` writes every recipient's row in ONE transaction
(state queued, due after the undo window). ``deliver_due`` marks a row 'sending'
and commits BEFORE the SMTP conversation, then 'sent' after the server's final 250;
a network problem, a timeout or a 4xx puts it back to 'queued' with a capped
exponential backoff (1, 2, 4 ... 60 min), a 5xx or a refused recipient marks it
'failed' with the server's reason. Only one deliverer runs at a time, across
processes: ``deliver_due`` holds an exclusive lock on ``outbox/.delivery.lock``
(flock; the kernel drops it when a process dies, even by kill -9). So a row found in
'sending' by the lock holder was left by a dead deliverer, and goes back to 'queued'.
Nothing queued is ever lost; in normal operation nothing is sent twice. The window
that remains: if the process dies (or the connection drops) after the server has
accepted the message (its 250 to the end of DATA) and before 'sent' is committed,
the message is sent again. The retry carries the same Message-ID, which lets mail
clients recognise the duplicate.

Without settings.mail, forwards stay queued and each one is also written once, after
its undo window, as a readable ``outbox/forward-<id>.eml``; they leave as soon as mail
is configured (the configuration is re-read on every delivery round).
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from aggregator import mail
from aggregator.config import ConfigSource, ContactSource, save_contact
from aggregator.errors import AggregatorError, NotFound
from aggregator.models import Contact, EntryView, Forward, MailSettings, Suggestion
from aggregator.storage import NewForward, Storage

from .matching import default_note, link_key, suggest

try:  # POSIX; elsewhere only one process should deliver (see _delivery_lock)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

UNDO_SECONDS = 10
NOTE_MAX = 1000  # characters
PASSWORD_ENV = "AGGREGATOR_SMTP_PASSWORD"  # noqa: S105 -- the variable's name
DEFAULT_RATE_LIMIT = (30, timedelta(hours=1))
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
BATCH = 50  # forwards per delivery round; the rest wait for the next round
LOCK_NAME = ".delivery.lock"


# --- errors ------------------------------------------------------------------------


class ForwardError(AggregatorError):
    """A forward that cannot be queued as asked (the message says why)."""


class RateLimited(ForwardError):
    def __init__(self, retry_at: datetime, limit: int, window: timedelta) -> None:
        self.retry_at = retry_at
        minutes = int(window.total_seconds() // 60)
        super().__init__(
            f"at most {limit} recipients per {minutes} minutes (settings.mail.rate_limit); "
            f"try again after {retry_at.astimezone(UTC):%H:%M} UTC"
        )


class AlreadySent(ForwardError):
    def __init__(self, previous: dict[str, list[Forward]]) -> None:
        self.previous = previous
        said = "; ".join(
            f"{fs[0].contact_name} on {fs[0].created_at.astimezone(UTC):%Y-%m-%d}"
            for fs in previous.values()
        )
        super().__init__(f"already sent to {said}; confirm to send again")


class UnknownContact(ForwardError, NotFound):
    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"{email} is not one of your contacts; add it to contacts.yaml first")


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed try: 1, 2, 4 ... minutes, at most 1 hour."""
    return min(BACKOFF_FIRST * 2 ** max(0, attempts - 1), BACKOFF_MAX)


# --- delivery report -----------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` round did (forward ids)."""

    sent: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)  # back to queued, will retry
    failed: list[int] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)  # .eml copies (mail not configured)
    busy: bool = False  # another deliverer holds the lock: nothing was done
    errors: dict[int, str] = field(default_factory=dict)  # forward id -> reason

    def line(self) -> str:
        if self.busy:
            return "another process is delivering the outbox right now"
        parts = [f"{len(self.sent)} sent"]
        if self.deferred:
            parts.append(f"{len(self.deferred)} to retry")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.written:
            parts.append(f"{len(self.written)} written to outbox/ (mail is not configured)")
        return ", ".join(parts)


# --- the forwarder -------------------------------------------------------------------


class Forwarder:
    """Everything about forwarding, for one database and one pair of YAML files.

    Thread-safe. Several Forwarders (web, worker, CLI) may share a database: queueing
    is transactional and delivery is serialised by a lock file in ``outbox_dir``.
    """

    def __init__(
        self,
        storage: Storage,
        config_source: ConfigSource,
        contact_source: ContactSource,
        *,
        outbox_dir: Path | str,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = mail.SMTP_TIMEOUT,
    ) -> None:
        self.storage = storage
        self.config_source = config_source
        self.contact_source = contact_source
        self.outbox_dir = Path(outbox_dir)
        # Only ever from the environment (or the caller): never a file or the database.
        self._password = password if password is not None else os.environ.get(PASSWORD_ENV)
        self.tls_context = tls_context
        self.timeout = timeout
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Forwarder({self.storage!r}, outbox_dir={str(self.outbox_dir)!r})"

    # --- configuration -----------------------------------------------------------------

    @property
    def contacts(self) -> tuple[Contact, ...]:
        """The current contacts (contacts.yaml is re-read when it changed)."""
        self.contact_source.refresh()
        return self.contact_source.value or ()

    @property
    def mail_settings(self) -> MailSettings | None:
        config = self.config_source.value
        return config.settings.mail if config is not None else None

    @property
    def mail_configured(self) -> bool:
        return self.mail_settings is not None

    def contact(self, email: str) -> Contact:
        wanted = email.strip().casefold()
        for c in self.contacts:
            if c.email.casefold() == wanted:
                return c
        raise UnknownContact(email.strip())

    def add_contact(
        self,
        name: str,
        email: str,
        interests: Sequence[str] = (),
        language: str = "fr",
        *,
        original_email: str | None = None,
    ) -> Contact:
        """Add a contact to contacts.yaml (or update the one at ``original_email``),
        round-trip and atomically; raises ConfigError if the result is invalid
        (a bad or duplicate address, an unknown language)."""
        contact = Contact(
            name=mail.header_text(name),
            email=email.strip(),
            interests=tuple(t for t in (mail.header_text(i) for i in interests) if t),
            language=language.strip().lower(),
        )
        saved = save_contact(self.contact_source.path, contact, original_email)
        self.contact_source.refresh()
        wanted = contact.email.casefold()
        return next(c for c in saved if c.email.casefold() == wanted)

    # --- suggestions and memory ----------------------------------------------------------

    def suggestions(self, entry_id: int, *, limit: int = 5) -> list[Suggestion]:
        return suggest(self.storage.entry(entry_id), self.contacts, limit=limit)

    def previous_sends(
        self, entry_id: int, emails: Sequence[str] | None = None
    ) -> dict[str, list[Forward]]:
        """address -> forwards of this entry (or of the same link from another feed)
        queued, being sent or sent to it; only ``emails`` if given (keys spelt as given)."""
        entry = self.storage.entry(entry_id)
        found = self.storage.previous_forwards(entry.id, link_key(entry.link), emails)
        return _by_address(found, emails)

    def history(self, entry_id: int) -> list[Forward]:
        """Every forward of this entry, whatever its state, oldest first."""
        return self.storage.forwards_of_entry(entry_id)

    def sent_to_by_entry(self, entry_ids: Sequence[int]) -> dict[int, list[str]]:
        return self.storage.forward_recipients(entry_ids)

    def outbox(self) -> list[Forward]:
        return self.storage.forwards_in_states(["queued", "sending", "failed"])

    def sent(self, *, limit: int = 100, before_id: int | None = None) -> list[Forward]:
        return self.storage.forwards_page(limit=limit, before_id=before_id)

    def for_contact(
        self, email: str, *, scan: int = 300, limit: int = 20
    ) -> tuple[Contact, list[Forward], list[EntryView]]:
        """A contact, what was sent to them (newest first), and the most recent of the
        last ``scan`` entries that match their interests and were not sent to them."""
        contact = self.contact(email)
        history = self.storage.forwards_to(contact.email)
        sent_ids, sent_links = self.storage.forwarded_to(contact.email)
        matching: list[EntryView] = []
        cursor = None
        seen = 0
        while seen < scan and len(matching) < limit:
            page, cursor = self.storage.entries(cursor=cursor, limit=min(100, scan - seen))
            seen += len(page)
            for e in page:
                if e.id in sent_ids or (e.link and link_key(e.link) in sent_links):
                    continue
                if suggest(e, [contact]) and len(matching) < limit:
                    matching.append(e)
            if cursor is None:
                break
        return contact, history, matching

    # --- queueing ------------------------------------------------------------------------

    def _recipients(self, emails: Sequence[str]) -> list[Contact]:
        chosen: list[Contact] = []
        for email in emails:
            contact = self.contact(email)
            try:  # never queue what could not leave as written (mail.envelope_address)
                mail.envelope_address(contact.email)
            except mail.AddressError as e:
                raise ForwardError(
                    f"{e.reason} (contact {contact.name!r}); correct it in contacts.yaml"
                ) from None
            if all(c.email.casefold() != contact.email.casefold() for c in chosen):
                chosen.append(contact)
        return chosen

    def _note(self, note: str | None, contacts: Sequence[Contact]) -> str:
        text = default_note(contacts) if note is None else mail.body_text(note).strip()
        if len(text) > NOTE_MAX:
            raise ForwardError(
                f"the note is too long ({len(text)} characters); keep it under {NOTE_MAX}"
            )
        return text

    def _letter(self, f: Forward) -> mail.Letter:
        return mail.Letter(
            to_name=f.contact_name,
            to_email=f.contact_email,
            note=f.note,
            title=f.entry_title,
            link=f.entry_link,
            feed_title=f.feed_title,
            published=f.entry_published,
            excerpt=f.excerpt,
            language=f.language,
        )

    def preview(self, entry_id: int, emails: Sequence[str], note: str | None) -> EmailMessage:
        """The message the first recipient would get (with the current settings)."""
        entry = self.storage.entry(entry_id)
        contacts = self._recipients(emails)
        first = contacts[0] if contacts else Contact(name="", email="", interests=())
        settings = self.mail_settings
        letter = mail.Letter(
            to_name=first.name,
            to_email=first.email,
            note=self._note(note, contacts),
            title=entry.title,
            link=entry.link,
            feed_title=entry.feed_title,
            published=entry.published,
            excerpt=mail.excerpt(entry.summary),
            language=first.language,
        )
        sender = settings.sender if settings else None
        reply_to = settings.reply_to if settings else None
        try:
            return mail.compose(
                letter, sender=sender, reply_to=reply_to, date=datetime.now(UTC), readable=True
            )
        except mail.MailError as e:  # an address of settings.mail that cannot be used
            raise ForwardError(e.reason) from None

    def queue(
        self,
        entry_id: int,
        emails: Sequence[str],
        note: str | None = None,
        *,
        now: datetime,
        confirm_resend: bool = False,
        copy_to_me: bool | None = None,
    ) -> list[Forward]:
        """Queue ``entry_id`` for these contacts (one row each, one batch), in one
        transaction, leaving after UNDO_SECONDS. ``note`` None is the default note.
        Raises NotFound (entry), UnknownContact, ForwardError (no recipient, note too
        long), AlreadySent (unless ``confirm_resend``) or RateLimited. ``copy_to_me``
        None follows settings.mail.copy_to_me; one copy per batch (first recipient)."""
        entry = self.storage.entry(entry_id)
        contacts = self._recipients(emails)
        if not contacts:
            raise ForwardError("choose at least one contact to send this to")
        text = self._note(note, contacts)
        settings = self.mail_settings
        copy = copy_to_me if copy_to_me is not None else bool(settings and settings.copy_to_me)
        summary = mail.excerpt(entry.summary)
        rows = [
            NewForward(
                entry_id=entry.id,
                entry_title=mail.header_text(entry.title),
                entry_link=entry.link,
                link_key=link_key(entry.link),
                feed_title=mail.header_text(entry.feed_title),
                entry_published=entry.published,
                excerpt=summary,
                contact_name=c.name,
                contact_email=c.email,
                language=c.language,
                note=text,
                copy_to_me=copy and i == 0,
            )
            for i, c in enumerate(contacts)
        ]
        limit, window = settings.rate_limit if settings else DEFAULT_RATE_LIMIT
        outcome = self.storage.queue_forwards(
            uuid.uuid4().hex,
            rows,
            now=now,
            send_after=now + timedelta(seconds=UNDO_SECONDS),
            max_recipients=limit,
            window=window,
            refuse_previous=not confirm_resend,
        )
        if outcome.previous:
            raise AlreadySent(_by_address(outcome.previous, [e.strip() for e in emails]))
        if outcome.retry_at is not None:
            raise RateLimited(outcome.retry_at, limit, window)
        log.info(
            "queued entry %d for %d recipient(s), batch %s",
            entry.id,
            len(outcome.forwards),
            outcome.forwards[0].batch,
        )
        return outcome.forwards

    def cancel(self, batch: str, *, now: datetime) -> int:
        """Cancel what is still queued of a batch, inside the undo window only."""
        cancelled = self.storage.cancel_forwards(batch, now=now)
        if cancelled:
            log.info("cancelled %d forward(s) of batch %s", cancelled, batch)
        return cancelled

    def retry(self, forward_id: int, *, now: datetime) -> Forward:
        """A failed forward (or one waiting for its next try) is due again now."""
        return self.storage.retry_forward(forward_id, now=now)

    # --- delivery ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _delivery_lock(self, wait: float) -> Iterator[bool]:
        """Yields True while this process is the only deliverer (see module doc)."""
        acquired = self._lock.acquire(timeout=wait) if wait > 0 else self._lock.acquire(False)
        if not acquired:
            yield False
            return
        try:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            with open(self.outbox_dir / LOCK_NAME, "a") as handle:
                deadline = time.monotonic() + wait
                while fcntl is not None:
                    try:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            yield False
                            return
                        time.sleep(0.05)
                yield True  # closing the file releases the flock
        finally:
            self._lock.release()

    def deliver_due(
        self, *, now: datetime, force: bool = False, wait: float = 0.0
    ) -> DeliveryReport:
        """One delivery round (the scheduler's "outbox" job, every few seconds).

        Sends the queued forwards that are due (``force``: all queued ones, ignoring
        the undo window and backoff: the person asked), or, without settings.mail,
        writes their .eml copies. ``wait``: seconds to wait for another deliverer
        to finish; by default the round is skipped (``busy``)."""
        report = DeliveryReport()
        with self._delivery_lock(wait) as held:
            if not held:
                report.busy = True
                return report
            requeued = self.storage.requeue_interrupted()
            if requeued:
                log.warning("%d forward(s) were interrupted mid-delivery; retrying", requeued)
            self.config_source.refresh()
            settings = self.mail_settings
            if settings is None:
                self._write_emls(now, force, report)
            else:
                self._send_due(settings, now, force, report)
        if report.sent or report.deferred or report.failed:
            log.info("outbox: %s", report.line())
        return report

    def _send_due(
        self, settings: MailSettings, now: datetime, force: bool, report: DeliveryReport
    ) -> None:
        due = self.storage.due_forwards(now=now, limit=BATCH, force=force)
        if not due:
            return
        client = mail.SmtpClient(
            settings, self._password, timeout=self.timeout, tls_context=self.tls_context
        )
        try:
            client.open()
        except mail.MailError as e:
            log.warning("cannot deliver %d forward(s): %s", len(due), e.reason)
            for f in due:
                wait = backoff(f.attempts + 1)
                self.storage.forward_deferred(
                    f.id, next_attempt=now + wait, reason=e.reason, count_attempt=True
                )
                report.deferred.append(f.id)
                report.errors[f.id] = e.reason
            return
        try:
            for f in due:
                if not client.connected:  # lost on the previous one: next round
                    break
                self._send_one(client, settings, f, now, force, report)
        finally:
            client.close()

    def _send_one(
        self,
        client: mail.SmtpClient,
        settings: MailSettings,
        f: Forward,
        now: datetime,
        force: bool,
        report: DeliveryReport,
    ) -> None:
        claimed = self.storage.claim_forward(
            f.id, now=now, message_id=mail.make_message_id(settings.sender), force=force
        )
        if claimed is None:  # cancelled or taken meanwhile
            return
        try:
            message = mail.compose(
                self._letter(claimed),
                sender=settings.sender,
                reply_to=settings.reply_to,
                date=now,
                message_id=claimed.message_id,
            )
        except mail.MailError as e:  # an address refused, headers that would not read back
            log.warning("forward %d cannot leave: %s", f.id, e.reason)
            self.storage.forward_failed(f.id, reason=e.reason)
            report.failed.append(f.id)
            report.errors[f.id] = e.reason
            return
        except (ValueError, TypeError, UnicodeError) as e:
            # A bug or data the email package refuses: without this, the row would be
            # retried every round and block the ones behind it.
            log.exception("forward %d: the message could not be built", f.id)
            self.storage.forward_failed(f.id, reason=f"the message could not be built: {e}")
            report.failed.append(f.id)
            return
        sender = mail.mailbox(settings.sender).addr_spec
        recipients = [claimed.contact_email]
        if claimed.copy_to_me:
            recipients.append(mail.mailbox(settings.reply_to or settings.sender).addr_spec)
        try:
            result = client.send(message, sender=sender, recipients=recipients)
        except mail.MailError as e:
            report.errors[f.id] = e.reason
            if e.temporary:
                wait = backoff(claimed.attempts)
                self.storage.forward_deferred(f.id, next_attempt=now + wait, reason=e.reason)
                report.deferred.append(f.id)
                log.warning("forward %d deferred %s: %s", f.id, wait, e.reason)
            else:
                self.storage.forward_failed(f.id, reason=e.reason)
                report.failed.append(f.id)
                log.warning("forward %d to %s failed: %s", f.id, claimed.contact_email, e.reason)
            return
        self.storage.forward_sent(f.id, now=now, message_id=claimed.message_id)
        report.sent.append(f.id)
        log.info("forward %d sent to %s: %s", f.id, claimed.contact_email, result.reply)

    def eml_path(self, forward_id: int) -> Path:
        return self.outbox_dir / f"forward-{forward_id}.eml"

    def _write_emls(self, now: datetime, force: bool, report: DeliveryReport) -> None:
        for f in self.storage.forwards_without_eml(now=now, limit=BATCH, force=force):
            try:
                message = mail.compose(
                    self._letter(f), sender=None, date=f.created_at, readable=True
                )
            except mail.MailError as e:  # its address is refused: it can never leave
                log.warning("forward %d cannot leave: %s", f.id, e.reason)
                if self.storage.claim_forward(f.id, now=now, message_id="", force=True):
                    self.storage.forward_failed(f.id, reason=e.reason)
                report.failed.append(f.id)
                report.errors[f.id] = e.reason
                continue
            path = self.eml_path(f.id)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(mail.to_bytes(message, utf8=True, linesep="\n"))
            os.replace(tmp, path)
            self.storage.eml_written(
                f.id,
                note=f"mail is not configured (settings.mail in feeds.yaml); "
                f"a copy was written to {path}",
            )
            report.written.append(path)

    def send_test(self, address: str, *, now: datetime) -> str:
        """Send a short test message now (not through the outbox); returns what the
        server answered. Raises ForwardError if mail is not configured, MailError."""
        self.config_source.refresh()
        settings = self.mail_settings
        if settings is None:
            raise ForwardError("mail is not configured: add a settings.mail section to feeds.yaml")
        message = mail.compose_test(
            address, sender=settings.sender, reply_to=settings.reply_to, date=now
        )
        with mail.SmtpClient(
            settings, self._password, timeout=self.timeout, tls_context=self.tls_context
        ) as client:
            result = client.send(
                message,
                sender=mail.mailbox(settings.sender).addr_spec,
                recipients=[mail.mailbox(address).addr_spec],
            )
        return result.reply


def _by_address(found: Sequence[Forward], emails: Sequence[str] | None) -> dict[str, list[Forward]]:
    spelling = {e.casefold(): e for e in emails or ()}
    out: dict[str, list[Forward]] = {}
    for f in found:
        key = spelling.get(f.contact_email.casefold(), f.contact_email)
        out.setdefault(key, []).append(f)
    return out
