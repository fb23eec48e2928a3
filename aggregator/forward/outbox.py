"""Outbox delivery: the rounds that send queued forwards over SMTP (or write their
.eml copies), mixed into ``Forwarder`` as ``DeliveryMixin``.

Delivery guarantees: nothing queued is ever lost silently, nothing is sent twice
automatically. ``queue`` writes every recipient's row in ONE transaction (queued, due
after the undo window). ``deliver_due`` commits 'sending' BEFORE the SMTP
conversation, sends the whole message but for the end of DATA (the final "."),
commits ``final_dot_at``, sends the end and records the server's answer: 'sent' after
its 250; back to 'queued' with a capped exponential backoff (1, 2, 4 ... 60 min)
after a network problem or a 4xx; 'failed' with the server's reason after a 5xx or a
refused recipient; 'uncertain' when the end was sent and no answer came.

One deliverer at a time, across processes: ``deliver_due`` holds an exclusive lock
on ``outbox/.delivery.lock`` (flock; the kernel drops it when a process dies, even
by kill -9). A successful send is always recorded: a write that fails (another
process holding the database's write lock beyond the busy timeout, a full disk) is
tried again with backoff for ``record_patience`` seconds; after that the outcome is
kept in memory, the round stops, the lock is KEPT, and the next round writes it
before anything else. So a row found 'sending' under another owner (``claimed_by``)
by the lock holder was left by a dead deliverer, and:

* without ``final_dot_at``, the server never got the end of DATA and discarded the
  message (RFC 5321 section 4.1.1.4): it is queued again and sent once;
* with it, it becomes 'uncertain' (« peut-être envoyé »), shown on the Envoyés page
  and by ``aggregator outbox``, with a manual retry (``outbox --retry ID``).

What remains, and why it cannot be closed: SMTP says "accepted" in one reply to one
final line, and no protocol step makes "the server took it" and "we wrote it down"
one atomic act. If the process dies between the ``final_dot_at`` commit and the
'sent' commit (one round trip and one commit), or the connection drops after the end
of DATA before the answer, only the recipient knows whether the message arrived. We
never send it again by ourselves (that was the audit's duplicate, 10 out of 10 kills)
and never hide it: it waits as 'uncertain' for the person's decision, and a retry
keeps its Message-ID, so a mail program can tell the second copy. A product choice,
stated: at most once automatically, at least once only when the person asks. (A kill
just after the ``final_dot_at`` commit, before the "." leaves, marks uncertain a
message the server never took: the safe side of the same window.)

A connection that drops mid-round costs no attempt to the messages after it: the
one whose MAIL FROM met the closed connection is released (its attempt not counted)
and sent on a new connection, opened if the lost one had carried at least one
answered transaction; otherwise the round stops and the rest wait, untouched.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import IO

from aggregator import mail
from aggregator.config import ConfigSource
from aggregator.errors import StorageError
from aggregator.mail.compose import LetterItem, compose_letter
from aggregator.models import Forward, MailSettings
from aggregator.storage import Storage

try:  # POSIX; elsewhere only one process should deliver (see _delivery_lock)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
BATCH = 50  # forwards per delivery round; the rest wait for the next round
LOCK_NAME = ".delivery.lock"
ALERT_EVERY = timedelta(hours=1)  # at most one alert email per hour (rules' notify)
RECORD_PATIENCE = 120.0  # seconds of retries for one delivery outcome (see module doc)


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
    uncertain: list[int] = field(default_factory=list)  # handed over, no answer
    unrecorded: list[int] = field(default_factory=list)  # outcome kept in memory for now

    def line(self) -> str:
        if self.busy:
            return "another process is delivering the outbox right now"
        parts = [f"{len(self.sent)} sent"]
        if self.deferred:
            parts.append(f"{len(self.deferred)} to retry")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.uncertain:
            parts.append(
                f"{len(self.uncertain)} uncertain (handed to the server, no answer: "
                "may have been delivered; see the outbox)"
            )
        if self.unrecorded:
            parts.append(
                f"{len(self.unrecorded)} not recorded yet (the database refused the write; "
                "kept in memory and recorded at the next round)"
            )
        if self.written:
            parts.append(f"{len(self.written)} written to outbox/ (mail is not configured)")
        return ", ".join(parts)


@dataclass
class _Pending:
    """A delivery outcome the database has not taken yet (see Forwarder._record)."""

    forward_id: int
    what: str  # sent, failed, deferred, uncertain, released
    write: Callable[[], object]


class _RoundStopped(Exception):
    """The database refuses the writes a delivery needs: stop the round here."""


class _EndNotMarked(Exception):
    """final_dot_at could not be committed: the end of DATA must not be sent."""


# --- delivery ----------------------------------------------------------------------


class DeliveryMixin:
    """Delivery of the outbox; ``Forwarder`` sets these attributes (``_init_delivery``)."""

    storage: Storage
    config_source: ConfigSource
    outbox_dir: Path
    tls_context: ssl.SSLContext | None
    timeout: float
    final_timeout: float
    record_patience: float
    _password: str | None

    def _init_delivery(self) -> None:
        self._lock = threading.Lock()
        self._token = os.urandom(6).hex()
        self._lock_file: IO[str] | None = None  # open while this object holds the flock
        self._unrecorded: list[_Pending] = []

    @property
    def mail_settings(self) -> MailSettings | None:
        config = self.config_source.value
        return config.settings.mail if config is not None else None

    @property
    def mail_configured(self) -> bool:
        return self.mail_settings is not None

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
            formal=f.formal,
            subject=f.subject,
            quote=f.quote,
            time_zone=self._time_zone(),
        )

    def _time_zone(self) -> str | None:
        """settings.display.time_zone: the email's date line is the reader's day."""
        config = self.config_source.value
        return config.settings.display.time_zone if config is not None else None

    def _message(
        self,
        f: Forward,
        *,
        sender: str | None,
        reply_to: str | None = None,
        date: datetime,
        message_id: str | None = None,
        readable: bool = False,
    ) -> EmailMessage:
        """The email of a row: a forward, or, for the lead of a letter, the whole
        letter (every row of it, in order)."""
        if f.letter_of is None:
            return mail.compose(
                self._letter(f),
                sender=sender,
                reply_to=reply_to,
                date=date,
                message_id=message_id,
                readable=readable,
            )
        rows = self.storage.letter_rows(f.id)
        items = [
            LetterItem(
                title=r.entry_title,
                link=r.entry_link,
                feed_title=r.feed_title,
                published=r.entry_published,
                note=r.note,
                quote=r.quote,
            )
            for r in rows
        ]
        return compose_letter(
            items,
            to_name=f.contact_name,
            to_email=f.contact_email,
            language=f.language,
            formal=f.formal,
            kind=f.kind,
            sender=sender,
            reply_to=reply_to,
            date=date,
            message_id=message_id,
            readable=readable,
        )

    @property
    def owner(self) -> str:
        """Who claims rows: this process and this Forwarder ("pid:token")."""
        return f"{os.getpid()}:{self._token}"

    @contextlib.contextmanager
    def _delivery_lock(self, wait: float) -> Iterator[bool]:
        """Yields True while this Forwarder is the only deliverer (see module doc). The
        flock is kept after the round while outcomes wait to be recorded."""
        acquired = self._lock.acquire(timeout=wait) if wait > 0 else self._lock.acquire(False)
        if not acquired:
            yield False
            return
        try:
            if self._lock_file is None:
                self._lock_file = self._flock(wait)
            yield self._lock_file is not None
        finally:
            if self._lock_file is not None and not self._unrecorded:
                self._lock_file.close()  # releases the flock
                self._lock_file = None
            self._lock.release()

    def _flock(self, wait: float) -> IO[str] | None:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.outbox_dir / LOCK_NAME, "a")  # noqa: SIM115 - kept open on purpose
        deadline = time.monotonic() + wait
        while fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    return None
                time.sleep(0.05)
        return handle

    def deliver_due(
        self, *, now: datetime, force: bool = False, wait: float = 0.0
    ) -> DeliveryReport:
        """One delivery round (the scheduler's "outbox" job, every few seconds).

        First writes what an earlier round could not (see ``_record``); then sends
        the queued forwards that are due (``force``: all queued ones, ignoring the
        undo window and backoff: the person asked), or, without settings.mail,
        writes their .eml copies. ``wait``: seconds to wait for another deliverer
        to finish; by default the round is skipped (``busy``)."""
        report = DeliveryReport()
        with self._delivery_lock(wait) as held:
            if not held:
                report.busy = True
                return report
            try:
                self._record_unrecorded(report)
                interrupted = self.storage.requeue_interrupted(owner=self.owner)
                if interrupted.requeued:
                    log.warning(
                        "%d forward(s) were interrupted before the end of their message; "
                        "sending them again",
                        interrupted.requeued,
                    )
                if interrupted.uncertain:
                    log.warning(
                        "%d forward(s) were interrupted right after their whole message "
                        "was handed over: marked uncertain, not sent again",
                        interrupted.uncertain,
                    )
                self.config_source.refresh()
                self._queue_letters(now)
                settings = self.mail_settings
                if settings is None:
                    self._write_emls(now, force, report)
                else:
                    self._send_due(settings, now, force, report)
            except _RoundStopped:
                pass
            report.unrecorded = [p.forward_id for p in self._unrecorded]
        if report.unrecorded:
            log.error(
                "outbox: the outcome of forward(s) %s could not be recorded yet; kept in "
                "memory, no other deliverer runs until it is",
                ", ".join(map(str, report.unrecorded)),
            )
        if report.sent or report.deferred or report.failed or report.uncertain:
            log.info("outbox: %s", report.line())
        return report

    def _queue_letters(self, now: datetime) -> None:
        """The « Pour toi » letters and the alert letter that are due join the queue
        (issue 13); a failure here never stops the delivery of what is queued."""
        try:
            self.queue_due_letters(now=now)  # type: ignore[attr-defined]
            self.queue_alert_letter(now=now, every=ALERT_EVERY)  # type: ignore[attr-defined]
        except (StorageError, mail.MailError) as e:
            log.warning("letters not queued this round: %s", e)

    # --- recording outcomes ---------------------------------------------------------------

    def _persist(self, write: Callable[[], object], forward_id: int, what: str) -> bool:
        """Run one write, again with backoff while the database refuses it, for at most
        ``record_patience`` seconds. True once written."""
        deadline = time.monotonic() + self.record_patience
        pause = 0.05
        while True:
            try:
                write()
                return True
            except StorageError as e:
                if time.monotonic() >= deadline:
                    log.error("forward %d: cannot record %s: %s", forward_id, what, e)
                    return False
                log.warning("forward %d: cannot record %s yet (%s); retrying", forward_id, what, e)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _record(
        self, forward_id: int, what: str, write: Callable[[], object], report: DeliveryReport
    ) -> None:
        """Write one delivery outcome (``what``, a DeliveryReport list name or
        "released"). If the database keeps refusing it, keep it in memory and stop
        the round: the flock stays held, so no deliverer takes the row back, and
        the next round writes it first (``_record_unrecorded``)."""
        if not self._persist(write, forward_id, what):
            self._unrecorded.append(_Pending(forward_id, what, write))
            raise _RoundStopped
        if what != "released":
            getattr(report, what).append(forward_id)

    def _record_unrecorded(self, report: DeliveryReport) -> None:
        while self._unrecorded:
            pending = self._unrecorded[0]
            if not self._persist(pending.write, pending.forward_id, pending.what):
                raise _RoundStopped
            self._unrecorded.pop(0)
            if pending.what != "released":
                getattr(report, pending.what).append(pending.forward_id)
            log.info("forward %d: %s recorded late", pending.forward_id, pending.what)

    # --- sending ---------------------------------------------------------------------------

    def _send_due(
        self, settings: MailSettings, now: datetime, force: bool, report: DeliveryReport
    ) -> None:
        due = self.storage.due_forwards(now=now, limit=BATCH, force=force)
        if not due:
            return
        client = mail.SmtpClient(
            settings,
            self._password,
            timeout=self.timeout,
            tls_context=self.tls_context,
            final_timeout=self.final_timeout,
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
            waiting = list(due)
            while waiting:
                # Lost after at least one answered transaction (a server that hangs up
                # after each message, an idle timeout): reconnect. Lost before any:
                # the rest wait for the next round, untouched.
                if not client.connected and (
                    client.transactions == 0 or not self._reopen(client, len(waiting))
                ):
                    break
                if self._send_one(client, settings, waiting[0], now, force, report):
                    waiting.pop(0)
        finally:
            client.close()

    def _reopen(self, client: mail.SmtpClient, left: int) -> bool:
        try:
            client.open()
        except mail.MailError as e:
            log.warning(
                "the server closed the connection and cannot be reached again (%s); "
                "%d forward(s) wait for the next round",
                e.reason,
                left,
            )
            return False
        return True

    def _send_one(
        self,
        client: mail.SmtpClient,
        settings: MailSettings,
        f: Forward,
        now: datetime,
        force: bool,
        report: DeliveryReport,
    ) -> bool:
        """Send one forward; False if it was released to be sent on a new connection."""
        store = self.storage
        claimed = store.claim_forward(
            f.id,
            now=now,
            message_id=mail.make_message_id(settings.sender),
            force=force,
            owner=self.owner,
        )
        if claimed is None:  # cancelled or taken meanwhile
            return True
        try:
            message = self._message(
                claimed,
                sender=settings.sender,
                reply_to=settings.reply_to,
                date=now,
                message_id=claimed.message_id,
            )
        except mail.MailError as e:  # an address refused, headers that would not read back
            log.warning("forward %d cannot leave: %s", f.id, e.reason)
            report.errors[f.id] = e.reason
            self._record(
                f.id, "failed", partial(store.forward_failed, f.id, reason=e.reason), report
            )
            return True
        except (ValueError, TypeError, UnicodeError) as e:
            # A bug or data the email package refuses: without this, the row would be
            # retried every round and block the ones behind it.
            log.exception("forward %d: the message could not be built", f.id)
            reason = f"the message could not be built: {e}"
            report.errors[f.id] = reason
            self._record(f.id, "failed", partial(store.forward_failed, f.id, reason=reason), report)
            return True
        sender = mail.mailbox(settings.sender).addr_spec
        recipients = [claimed.contact_email]
        if claimed.copy_to_me:
            recipients.append(mail.mailbox(settings.reply_to or settings.sender).addr_spec)
        marked = False

        def mark_end() -> None:
            # Committed before the final "." leaves: after a crash, this row is then
            # 'uncertain', never sent again by itself.
            nonlocal marked
            if not self._persist(
                partial(store.forward_final_dot, f.id, now=now), f.id, "the end of DATA"
            ):
                raise _EndNotMarked
            marked = True

        release = partial(store.forward_released, f.id)
        try:
            result = client.send(message, sender=sender, recipients=recipients, before_end=mark_end)
        except _EndNotMarked:
            # The end of DATA was not sent: the server discarded the message.
            self._record(f.id, "released", release, report)
            raise _RoundStopped from None  # the database refuses writes: stop here
        except mail.MailError as e:
            return self._not_sent(f, claimed, e, now, report)
        except Exception:
            # A bug: the row must not stay 'sending' under our name.
            log.exception("forward %d: delivery failed unexpectedly", f.id)
            if marked:
                reason = "delivery failed unexpectedly after the message was handed over"
                self._record(
                    f.id,
                    "uncertain",
                    partial(store.forward_uncertain, f.id, reason=reason),
                    report,
                )
            else:
                self._record(f.id, "released", release, report)
            raise
        self._record(
            f.id,
            "sent",
            partial(store.forward_sent, f.id, now=now, message_id=claimed.message_id),
            report,
        )
        log.info("forward %d sent to %s: %s", f.id, claimed.contact_email, result.reply)
        return True

    def _not_sent(
        self, f: Forward, claimed: Forward, e: mail.MailError, now: datetime, report: DeliveryReport
    ) -> bool:
        store = self.storage
        if e.stale:  # nothing of it reached the server: try again on a new connection
            log.info("forward %d: the connection had been closed; sending on a new one", f.id)
            self._record(f.id, "released", partial(store.forward_released, f.id), report)
            return False
        report.errors[f.id] = e.reason
        if e.uncertain:
            reason = (
                f"{e.reason}. Not sent again automatically: send it again if the "
                "recipient did not get it"
            )
            log.warning("forward %d to %s is uncertain: %s", f.id, claimed.contact_email, e.reason)
            self._record(
                f.id,
                "uncertain",
                partial(store.forward_uncertain, f.id, reason=reason),
                report,
            )
        elif e.temporary:
            wait = backoff(claimed.attempts)
            log.warning("forward %d deferred %s: %s", f.id, wait, e.reason)
            self._record(
                f.id,
                "deferred",
                partial(store.forward_deferred, f.id, next_attempt=now + wait, reason=e.reason),
                report,
            )
        else:
            log.warning("forward %d to %s failed: %s", f.id, claimed.contact_email, e.reason)
            self._record(
                f.id, "failed", partial(store.forward_failed, f.id, reason=e.reason), report
            )
        return True

    def eml_path(self, forward_id: int) -> Path:
        return self.outbox_dir / f"forward-{forward_id}.eml"

    def _write_emls(self, now: datetime, force: bool, report: DeliveryReport) -> None:
        for f in self.storage.forwards_without_eml(now=now, limit=BATCH, force=force):
            try:
                message = self._message(f, sender=None, date=f.created_at, readable=True)
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
