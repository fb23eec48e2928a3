"""The Forwarder: contacts, the ledger, queueing; outbox delivery comes from ``outbox``.

Orchestrates ``config`` (contacts.yaml, settings.mail), ``storage`` (the ``forwards``
table: ledger and outbox in one) and ``mail`` (compose + SMTP). The web, the CLI and
the scheduler call ``Forwarder``; tests call the same methods with a fixed ``now``.
Delivery, its guarantees and what remains of the duplicate window are documented in
``outbox`` (``DeliveryMixin``).
"""

from __future__ import annotations

import logging
import os
import ssl
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from aggregator import mail
from aggregator.config import ConfigSource, ContactSource, save_contact
from aggregator.errors import AggregatorError, NotFound
from aggregator.models import Contact, EntryView, Forward, Suggestion
from aggregator.storage import NewForward, Storage

from .matching import default_note, link_key, suggest
from .outbox import RECORD_PATIENCE, DeliveryMixin

log = logging.getLogger(__name__)

UNDO_SECONDS = 10
NOTE_MAX = 1000  # characters
PASSWORD_ENV = "AGGREGATOR_SMTP_PASSWORD"  # noqa: S105 -- the variable's name
DEFAULT_RATE_LIMIT = (30, timedelta(hours=1))


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


# --- the forwarder -------------------------------------------------------------------


class Forwarder(DeliveryMixin):
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
        final_timeout: float = mail.FINAL_TIMEOUT,
        record_patience: float = RECORD_PATIENCE,
    ) -> None:
        self.storage = storage
        self.config_source = config_source
        self.contact_source = contact_source
        self.outbox_dir = Path(outbox_dir)
        # Only ever from the environment (or the caller): never a file or the database.
        self._password = password if password is not None else os.environ.get(PASSWORD_ENV)
        self.tls_context = tls_context
        self.timeout = timeout
        self.final_timeout = final_timeout
        self.record_patience = record_patience
        self._init_delivery()

    def __repr__(self) -> str:
        return f"Forwarder({self.storage!r}, outbox_dir={str(self.outbox_dir)!r})"

    # --- configuration -----------------------------------------------------------------

    @property
    def contacts(self) -> tuple[Contact, ...]:
        """The current contacts (contacts.yaml is re-read when it changed)."""
        self.contact_source.refresh()
        return self.contact_source.value or ()

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
        return self.storage.forwards_in_states(["queued", "sending", "failed", "uncertain"])

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
        """A failed or uncertain forward (or one waiting for its next try) is due again
        now: for an uncertain one, the person decided to send it again."""
        return self.storage.retry_forward(forward_id, now=now)

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
