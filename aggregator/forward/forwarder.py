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
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from aggregator import mail
from aggregator.config import ConfigSource, ContactSource, save_contact
from aggregator.config.contacts import add_need, remove_need, set_contact_options
from aggregator.errors import AggregatorError, NotFound
from aggregator.mail.compose import QUOTE_MAX, SUBJECT_MAX, quote_text
from aggregator.models import (
    DIGEST_PERIODS,
    BasketItem,
    Contact,
    EntryView,
    Forward,
    Suggestion,
)
from aggregator.sanitize import html_to_text
from aggregator.storage import LetterRecipient, NewBasketItem, NewForward, Storage

from .matching import default_note, fold, link_key, suggest
from .outbox import RECORD_PATIENCE, DeliveryMixin

log = logging.getLogger(__name__)

UNDO_SECONDS = 10
NOTE_MAX = 1000  # characters
PASSWORD_ENV = "AGGREGATOR_SMTP_PASSWORD"  # noqa: S105 -- the variable's name
DEFAULT_RATE_LIMIT = (30, timedelta(hours=1))
FORMAL_NOTE = "Ceci pourrait vous intéresser."  # the « vous » default note (French)
ALERT_ITEMS = 50  # items in one alert email at most
SELECTION_MAX = 100_000  # characters of a selection looked up in the item's text
TEXT_MAX = 2_000_000  # characters of an item's text searched for a selection


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


class PassageNotFound(ForwardError):
    """The selected passage is not in the item's text (or is empty, or too long)."""


def _squeeze(text: str) -> str:
    """Case-, accent- and whitespace-insensitive form for finding a passage."""
    return "".join(fold(text.replace("\xad", "")).split())


def default_note_for(contacts: Sequence[Contact]) -> str:
    """The default note: « vous » when every chosen contact is French and formal."""
    if contacts and all(c.formal and c.language == "fr" for c in contacts):
        return FORMAL_NOTE
    return default_note(contacts)


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
        formal: bool | None = None,
        digest: str | None | bool = False,
    ) -> Contact:
        """Add a contact to contacts.yaml (or update the one at ``original_email``),
        round-trip and atomically; raises ConfigError if the result is invalid
        (a bad or duplicate address, an unknown language). ``formal`` None and
        ``digest`` False leave those keys as they are."""
        contact = Contact(
            name=mail.header_text(name),
            email=email.strip(),
            interests=tuple(t for t in (mail.header_text(i) for i in interests) if t),
            language=language.strip().lower(),
        )
        saved = save_contact(self.contact_source.path, contact, original_email)
        if formal is not None or digest is not False:
            saved = set_contact_options(
                self.contact_source.path, contact.email, formal=formal, digest=digest
            )
        self.contact_source.refresh()
        wanted = contact.email.casefold()
        return next(c for c in saved if c.email.casefold() == wanted)

    # --- suggestions and memory ----------------------------------------------------------

    def add_need(
        self, email: str, what: str, *, now: datetime, until: date | None = None
    ) -> Contact:
        """« Camille cherche : … » from today; round-trip write of contacts.yaml."""
        contact = self.contact(email)
        text = mail.header_text(what)
        saved = add_need(
            self.contact_source.path, contact.email, text, now.astimezone(UTC).date(), until
        )
        self.contact_source.refresh()
        return next(c for c in saved if c.email.casefold() == contact.email.casefold())

    def remove_need(self, email: str, index: int) -> Contact:
        contact = self.contact(email)
        saved = remove_need(self.contact_source.path, contact.email, index)
        self.contact_source.refresh()
        return next(c for c in saved if c.email.casefold() == contact.email.casefold())

    def suggestions(
        self, entry_id: int, *, limit: int = 5, now: datetime | None = None
    ) -> list[Suggestion]:
        """Contacts whose current needs or interests match, needs first."""
        return suggest_with_needs(
            self.storage.entry(entry_id), self.contacts, now or datetime.now(UTC), limit=limit
        )

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
        self, email: str, *, scan: int = 300, limit: int = 20, now: datetime | None = None
    ) -> tuple[Contact, list[Forward], list[EntryView]]:
        """A contact, what was sent to them (newest first), and the most recent of the
        last ``scan`` entries that match their interests or current needs and were
        not sent to them."""
        contact = self.contact(email)
        now = now or datetime.now(UTC)
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
                if suggest_with_needs(e, [contact], now) and len(matching) < limit:
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
        text = default_note_for(contacts) if note is None else mail.body_text(note).strip()
        if len(text) > NOTE_MAX:
            raise ForwardError(
                f"the note is too long ({len(text)} characters); keep it under {NOTE_MAX}"
            )
        return text

    @staticmethod
    def _subject(subject: str | None) -> str:
        """An edited subject as stored: one line (no control character, no encoded
        word survives ``header_value`` at compose time), capped."""
        if subject is None:
            return ""
        return mail.header_text(subject, SUBJECT_MAX)

    def passage(self, entry: EntryView, selection: str | None) -> str:
        """The selected passage as it will be quoted ('' for none). It must occur in
        the item's text (title, summary or body), compared without case, accents and
        white space; raises PassageNotFound otherwise. Markup in it is text."""
        if selection is None or not selection.strip():
            return ""
        if len(selection) > SELECTION_MAX:
            raise PassageNotFound(
                f"the selection is too long ({len(selection)} characters); select at most "
                f"{SELECTION_MAX} characters"
            )
        wanted = _squeeze(mail.body_text(selection))
        if not wanted:
            return ""
        haystack = "\n".join(
            (entry.title, entry.summary, html_to_text(entry.content_html, TEXT_MAX))
        )
        if wanted not in _squeeze(haystack):
            raise PassageNotFound(
                "this passage is not in the item's text; select it again in the article"
            )
        return quote_text(selection, QUOTE_MAX)

    def preview(
        self,
        entry_id: int,
        emails: Sequence[str],
        note: str | None,
        *,
        subject: str | None = None,
        excerpt: str | None = None,
    ) -> EmailMessage:
        """The message the first recipient would get (with the current settings)."""
        entry = self.storage.entry(entry_id)
        contacts = self._recipients(emails)
        first = contacts[0] if contacts else Contact(name="", email="", interests=())
        settings = self.mail_settings
        config = self.config_source.config
        display = config.settings.display if config is not None else None
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
            formal=first.formal,
            subject=self._subject(subject),
            quote=self.passage(entry, excerpt),
            time_zone=display.time_zone if display else None,  # the reader's day
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
        subject: str | None = None,
        excerpt: str | None = None,
    ) -> list[Forward]:
        """Queue ``entry_id`` for these contacts (one row each, one batch), in one
        transaction, leaving after UNDO_SECONDS. ``note`` None is the default note.
        Raises NotFound (entry), UnknownContact, ForwardError (no recipient, note too
        long), AlreadySent (unless ``confirm_resend``) or RateLimited. ``copy_to_me``
        None follows settings.mail.copy_to_me; one copy per batch (first recipient).
        ``subject``: the edited subject (None: the tone's default); ``excerpt``: a
        passage the person selected (PassageNotFound if it is not in the item)."""
        entry = self.storage.entry(entry_id)
        contacts = self._recipients(emails)
        if not contacts:
            raise ForwardError("choose at least one contact to send this to")
        text = self._note(note, contacts)
        edited = self._subject(subject)
        quote = self.passage(entry, excerpt)
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
                subject=edited,
                formal=c.formal,
                quote=quote,
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

    # --- « Pour toi » letters ------------------------------------------------------------

    def add_to_basket(
        self,
        entry_id: int,
        email: str,
        note: str | None = None,
        *,
        now: datetime,
        excerpt: str | None = None,
    ) -> BasketItem:
        """Put an item (and its one-line note) in the contact's next letter instead of
        sending it now. Raises NotFound, UnknownContact, ForwardError (note too long),
        PassageNotFound."""
        entry = self.storage.entry(entry_id)
        contact = self._recipients([email])[0]
        text = "" if note is None else self._note(note, [contact])
        if text in (FORMAL_NOTE, default_note([contact])):
            text = ""  # the default note says nothing in a letter of several items
        item = NewBasketItem(
            entry_id=entry.id,
            entry_title=mail.header_text(entry.title),
            entry_link=entry.link,
            link_key=link_key(entry.link),
            feed_title=mail.header_text(entry.feed_title),
            entry_published=entry.published,
            excerpt=mail.excerpt(entry.summary),
            quote=self.passage(entry, excerpt),
            note=text,
        )
        added = self.storage.basket_add(contact.email, item, now=now)
        log.info("entry %d added to %s's letter", entry.id, contact.email)
        return added

    def basket(self, email: str) -> list[BasketItem]:
        return self.storage.basket(self.contact(email).email)

    def next_letter(self, contact: Contact, *, now: datetime) -> datetime | None:
        """When the contact's next « Pour toi » letter is due: one period after the last
        one (or after the first item ever put in the basket). None without ``digest:``.
        A time in the past means "now" (after downtime: ONE letter, then one period
        from then)."""
        if contact.digest is None:
            return None
        period = DIGEST_PERIODS[contact.digest]
        last, started = self.storage.digest_clock(contact.email)
        base = last or started
        return now if base is None else base + period

    def send_letter(self, email: str, *, now: datetime, undo: bool = True) -> list[Forward]:
        """Queue the contact's letter now with everything in their basket, as ONE
        email (one ledger row per item). Empty basket: nothing, []."""
        contact = self._recipients([email])[0]
        items = self.storage.basket(contact.email)
        if not items:
            return []
        wait = timedelta(seconds=UNDO_SECONDS if undo else 0)
        rows = self.storage.queue_letter(
            LetterRecipient(contact.name, contact.email, contact.language, contact.formal),
            kind="digest",
            now=now,
            send_after=now + wait,
            basket_ids=[i.id for i in items],
        )
        log.info("letter of %d item(s) queued for %s", len(rows), contact.email)
        return rows

    def queue_due_letters(self, *, now: datetime) -> list[Forward]:
        """Queue every letter that is due (the outbox round calls this). A contact
        whose basket is empty gets nothing; their clock waits for the next item."""
        queued: list[Forward] = []
        waiting = self.storage.baskets()
        for contact in self.contacts:
            if contact.digest is None or contact.email.casefold() not in waiting:
                continue
            due = self.next_letter(contact, now=now)
            if due is not None and due <= now:
                try:
                    queued += self.send_letter(contact.email, now=now, undo=False)
                except ForwardError as e:  # an address that can never leave
                    log.warning("letter for %s not queued: %s", contact.email, e)
        return queued

    # --- alerts to oneself ----------------------------------------------------------------

    def queue_alert_letter(self, *, now: datetime, every: timedelta) -> list[Forward]:
        """The owner's rules' notify-by-email hits, at most one letter per ``every``,
        to the owner's own address (reply_to, else from), through the outbox."""
        settings = self.mail_settings
        if settings is None:
            return []
        pending = self.storage.alerts_to_email()
        if not pending:
            return []
        last = self.storage.get_meta("alerts.last_email")
        if last is not None and datetime.fromisoformat(last) + every > now:
            return []
        own = mail.mailbox(settings.reply_to or settings.sender)
        everything = list(dict.fromkeys(e for e, _r in pending))
        # One readable letter: the newest ALERT_ITEMS (all are marked emailed; the
        # « Alertes » view keeps every one of them).
        entry_ids = everything[-ALERT_ITEMS:]
        items = []
        for entry_id in entry_ids:
            try:
                entry = self.storage.entry(entry_id)
            except NotFound:
                continue
            items.append(
                NewBasketItem(
                    entry_id=entry.id,
                    entry_title=mail.header_text(entry.title),
                    entry_link=entry.link,
                    link_key=link_key(entry.link),
                    feed_title=mail.header_text(entry.feed_title),
                    entry_published=entry.published,
                    excerpt="",
                    quote="",
                    note=", ".join(sorted({r for e, r in pending if e == entry_id})),
                )
            )
        rows = self.storage.queue_letter(
            LetterRecipient(own.display_name or own.addr_spec, own.addr_spec, "fr", True),
            kind="alert",
            now=now,
            send_after=now,
            items=items,
            emailed_alerts=everything,
        )
        self.storage.set_meta("alerts.last_email", now.isoformat())
        return rows


def suggest_with_needs(
    entry: EntryView, contacts: Sequence[Contact], now: datetime, *, limit: int = 5
) -> list[Suggestion]:
    """``suggest`` for interests, plus each contact's current needs matched the same
    way (same folding and plural tolerance); a contact with a matching need comes
    first, its needs in ``Suggestion.needs``."""
    by_interest = {s.contact.email.casefold(): s for s in suggest(entry, contacts, limit=1000)}
    out: list[Suggestion] = []
    for contact in contacts:
        needs = contact.active_needs(now)
        matched = []
        if needs:
            for need in needs:
                probe = Contact(name=contact.name, email=contact.email, interests=(need.what,))
                if suggest(entry, [probe]):
                    matched.append(need)
        found = by_interest.get(contact.email.casefold())
        if matched:
            reasons = found.reasons if found else ()
            score = (found.score if found else 0.0) + 100.0 * len(matched)
            out.append(
                Suggestion(contact=contact, reasons=reasons, score=score, needs=tuple(matched))
            )
        elif found is not None:
            out.append(found)
    out.sort(key=lambda s: (-s.score, fold(s.contact.name)))
    return out[: max(0, limit)]


def _by_address(found: Sequence[Forward], emails: Sequence[str] | None) -> dict[str, list[Forward]]:
    spelling = {e.casefold(): e for e in emails or ()}
    out: dict[str, list[Forward]] = {}
    for f in found:
        key = spelling.get(f.contact_email.casefold(), f.contact_email)
        out.setdefault(key, []).append(f)
    return out
