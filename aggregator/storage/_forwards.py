"""Forwards: the ledger of what was sent to whom, which is also the outbox.

One row per recipient; a click on "Send" is a batch of rows sharing ``batch``. The
states and who moves a row between them:

    queued --claim_forward--> sending --forward_sent--> sent
      ^  |                       |----forward_deferred (4xx, unreachable)--> queued
      |  |                       |----forward_released (never reached it)--> queued
      |  |                       |----forward_failed (5xx, refused)--------> failed
      |  |                       `----forward_uncertain (no answer to the
      |  |                            end of DATA)-------------------------> uncertain
      |  `--cancel_forwards (inside the undo window)--> cancelled
      `---- retry_forward (failed, uncertain: the person asks)
            requeue_interrupted (sending, its deliverer died before the end of DATA;
                                 after it: -> uncertain)

``forward_final_dot`` marks, inside 'sending', that the end of DATA is about to go.

Business rules (backoff, what counts as "already sent", the rate limit's numbers)
belong to ``aggregator.forward``; this module only makes each step one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from .. import errors
from ..models import Forward
from ._sqlite import StorageBase, from_ts, opt_ts, to_ts

_COLUMNS = """
    id, batch, entry_id, entry_title, entry_link, feed_title, contact_name, contact_email,
    note, state, created_at, send_after, attempts, next_attempt, last_error, sent_at,
    message_id, entry_published, excerpt, language, copy_to_me, subject, formal, quote,
    letter_of, kind
"""

# The rows of a letter (« Pour toi », alerts) other than its lead: they move with it.
_NOT_MEMBER = "(letter_of IS NULL OR letter_of = id)"

# Forwards that count as "sent" for the memory ("déjà envoyé à Camille") and the labels.
# An uncertain one may have arrived: sending it again is the person's decision.
_LIVE = "('queued', 'sending', 'sent', 'uncertain')"


def _forward(row: Sequence) -> Forward:
    (
        id_, batch, entry_id, entry_title, entry_link, feed_title, contact_name,
        contact_email, note, state, created_at, send_after, attempts, next_attempt,
        last_error, sent_at, message_id, entry_published, excerpt, language, copy_to_me,
        subject, formal, quote, letter_of, kind,
    ) = row  # fmt: skip
    return Forward(
        id=id_,
        batch=batch,
        entry_id=entry_id,
        entry_title=entry_title,
        entry_link=entry_link,
        feed_title=feed_title,
        contact_name=contact_name,
        contact_email=contact_email,
        note=note,
        state=state,
        created_at=from_ts(created_at),  # type: ignore[arg-type]
        send_after=from_ts(send_after),  # type: ignore[arg-type]
        attempts=attempts,
        next_attempt=from_ts(next_attempt),
        last_error=last_error,
        sent_at=from_ts(sent_at),
        message_id=message_id,
        entry_published=from_ts(entry_published),
        excerpt=excerpt,
        language=language,
        copy_to_me=bool(copy_to_me),
        subject=subject,
        formal=bool(formal),
        quote=quote,
        letter_of=letter_of,
        kind=kind,
    )


@dataclass(frozen=True)
class NewForward:
    """What ``queue_forwards`` inserts for one recipient."""

    entry_id: int
    entry_title: str
    entry_link: str | None
    link_key: str | None
    feed_title: str
    entry_published: datetime | None
    excerpt: str
    contact_name: str
    contact_email: str
    language: str
    note: str
    copy_to_me: bool = False
    subject: str = ""
    formal: bool = False
    quote: str = ""

    @property
    def email_key(self) -> str:
        return self.contact_email.casefold()


class Interrupted(NamedTuple):
    """What ``requeue_interrupted`` did with rows left 'sending' by a dead deliverer."""

    requeued: int  # the end of DATA was never sent: queued again
    uncertain: int  # it was: the server may have the message


class QueueOutcome(NamedTuple):
    """What ``queue_forwards`` did: inserted ``forwards``, or refused because of
    ``previous`` sends (when asked to) or the rate limit (``retry_at``)."""

    forwards: list[Forward]
    previous: list[Forward]
    retry_at: datetime | None


class ForwardsMixin(StorageBase):
    # --- queueing ----------------------------------------------------------------------

    def queue_forwards(
        self,
        batch: str,
        rows: Sequence[NewForward],
        *,
        now: datetime,
        send_after: datetime,
        max_recipients: int,
        window: timedelta,
        refuse_previous: bool,
    ) -> QueueOutcome:
        """Insert one batch (one row per recipient, state queued) in ONE transaction,
        after checking, in the same transaction, so that a double click cannot slip
        through: with ``refuse_previous``, that none of the recipients already got
        this entry or link (else nothing is inserted and ``previous`` lists them); and
        that the recipients queued in the sliding ``window`` plus these stay within
        ``max_recipients`` (else nothing is inserted and ``retry_at`` says when they
        would fit). Cancelled forwards do not count: nothing was sent."""
        ts = to_ts(now)
        with self._write() as db:
            if refuse_previous and rows:
                first = rows[0]
                previous = self._previous(
                    db, first.entry_id, first.link_key, [r.email_key for r in rows]
                )
                if previous:
                    return QueueOutcome([], previous, None)
            since = ts - int(window.total_seconds())
            recent = [
                created
                for (created,) in db.execute(
                    """
                    SELECT created_at FROM forwards
                    WHERE created_at > :since AND state != 'cancelled'
                    ORDER BY created_at
                    """,
                    {"since": since},
                )
            ]
            excess = len(recent) + len(rows) - max_recipients
            if excess > 0:
                retry_at: datetime | None
                if len(rows) > max_recipients or excess > len(recent):
                    retry_at = now + window
                else:  # when the excess-th oldest leaves the window
                    retry_at = from_ts(recent[excess - 1] + int(window.total_seconds()) + 1)
                return QueueOutcome([], [], retry_at)
            inserted = []
            for r in rows:
                (id_,) = db.execute(
                    """
                    INSERT INTO forwards (
                        batch, entry_id, entry_title, entry_link, link_key, feed_title,
                        entry_published, excerpt, contact_name, contact_email, email_key,
                        language, note, copy_to_me, state, created_at, send_after,
                        subject, formal, quote)
                    VALUES (
                        :batch, :entry_id, :entry_title, :entry_link, :link_key, :feed_title,
                        :entry_published, :excerpt, :contact_name, :contact_email, :email_key,
                        :language, :note, :copy_to_me, 'queued', :now, :send_after,
                        :subject, :formal, :quote)
                    RETURNING id
                    """,
                    {
                        "batch": batch,
                        "entry_id": r.entry_id,
                        "entry_title": r.entry_title,
                        "entry_link": r.entry_link,
                        "link_key": r.link_key,
                        "feed_title": r.feed_title,
                        "entry_published": opt_ts(r.entry_published),
                        "excerpt": r.excerpt,
                        "contact_name": r.contact_name,
                        "contact_email": r.contact_email,
                        "email_key": r.email_key,
                        "language": r.language,
                        "note": r.note,
                        "copy_to_me": int(r.copy_to_me),
                        "now": ts,
                        "send_after": to_ts(send_after),
                        "subject": r.subject,
                        "formal": int(r.formal),
                        "quote": r.quote,
                    },
                ).fetchone()
                inserted.append(id_)
            forwards = self._select(db, "id IN (SELECT value FROM json_each(:ids))", ids=inserted)
        return QueueOutcome(forwards, [], None)

    # --- reading -------------------------------------------------------------------------

    def forward(self, forward_id: int) -> Forward:
        with self._query() as db:
            found = self._select(db, "id = :id", id=forward_id)
        if not found:
            raise errors.NotFound(f"no such forward: {forward_id}")
        return found[0]

    def previous_forwards(
        self, entry_id: int, link_key: str | None, emails: Sequence[str] | None = None
    ) -> list[Forward]:
        """Forwards queued, being sent or sent of this entry, or of another entry with
        the same ``link_key``; to ``emails`` only if given (compared without case)."""
        keys = None if emails is None else [e.casefold() for e in emails]
        with self._query() as db:
            return self._previous(db, entry_id, link_key, keys)

    def forwards_of_entry(self, entry_id: int) -> list[Forward]:
        """Every forward of this entry, whatever its state, oldest first."""
        with self._query() as db:
            return self._select(db, "entry_id = :entry_id", entry_id=entry_id)

    def forward_recipients(self, entry_ids: Sequence[int]) -> dict[int, list[str]]:
        """entry id -> names of the contacts it was sent or is queued to (first sent
        first, each once); entries without any are left out. One query."""
        with self._query() as db:
            rows = db.execute(
                f"""
                SELECT entry_id, contact_name FROM forwards
                WHERE entry_id IN (SELECT value FROM json_each(:ids)) AND state IN {_LIVE} AND kind != 'alert'
                ORDER BY id
                """,  # noqa: S608
                {"ids": json.dumps(list(entry_ids))},
            ).fetchall()
        out: dict[int, list[str]] = {}
        for entry_id, name in rows:
            names = out.setdefault(entry_id, [])
            if name not in names:
                names.append(name)
        return out

    def forwards_in_states(self, states: Sequence[str]) -> list[Forward]:
        """The outbox view: forwards in these states, oldest first."""
        with self._query() as db:
            return self._select(
                db, "state IN (SELECT value FROM json_each(:states))", states=json.dumps(states)
            )

    def forwards_page(self, *, limit: int = 100, before_id: int | None = None) -> list[Forward]:
        """Every forward, newest first; the next page starts before the last id shown."""
        where = "id < :before" if before_id is not None else "1"
        with self._query() as db:
            return self._select(db, where, order="id DESC", limit=max(1, limit), before=before_id)

    def forwards_to(self, email: str) -> list[Forward]:
        """Every forward to this address (compared without case), newest first."""
        with self._query() as db:
            return self._select(db, "email_key = :key", order="id DESC", key=email.casefold())

    def forwarded_to(self, email: str) -> tuple[set[int], set[str]]:
        """The entry ids and link keys already sent or queued to this address."""
        with self._query() as db:
            rows = db.execute(
                f"""
                SELECT entry_id, link_key FROM forwards
                WHERE email_key = :key AND state IN {_LIVE} AND kind != 'alert'
                """,  # noqa: S608
                {"key": email.casefold()},
            ).fetchall()
        return {e for e, _ in rows if e is not None}, {k for _, k in rows if k}

    # --- undo and retry ------------------------------------------------------------------

    def cancel_forwards(self, batch: str, *, now: datetime) -> int:
        """Cancel the batch's forwards still queued inside their undo window."""
        with self._write() as db:
            cur = db.execute(
                """
                UPDATE forwards SET state = 'cancelled', next_attempt = NULL
                WHERE batch = :batch AND state = 'queued' AND send_after > :now
                """,
                {"batch": batch, "now": to_ts(now)},
            )
            return cur.rowcount

    def retry_forward(self, forward_id: int, *, now: datetime) -> Forward:
        """A failed or uncertain forward, or a queued one waiting for its next attempt,
        goes (back) to queued, due now, its attempt count reset; an uncertain one keeps
        its Message-ID, so that a mail program can tell a second copy. Other states
        are left alone."""
        with self._write() as db:
            # A row of a letter is retried with its whole letter (its lead).
            lead = db.execute(
                "SELECT coalesce(letter_of, id) FROM forwards WHERE id = :id", {"id": forward_id}
            ).fetchone()
            db.execute(
                """
                UPDATE forwards
                SET state = 'queued', send_after = min(send_after, :now),
                    next_attempt = NULL, attempts = 0
                WHERE (id = :lead OR letter_of = :lead)
                    AND state IN ('failed', 'queued', 'uncertain')
                """,
                {"lead": lead[0] if lead else forward_id, "now": to_ts(now)},
            )
            found = self._select(db, "id = :id", id=forward_id)
        if not found:
            raise errors.NotFound(f"no such forward: {forward_id}")
        return found[0]

    # --- delivery ------------------------------------------------------------------------

    def requeue_interrupted(self, *, owner: str) -> Interrupted:
        """Rows left 'sending' by a deliverer that is gone: back to 'queued' if the end
        of DATA was never sent (the server discarded the unfinished message, RFC 5321
        section 4.1.1.4), else 'uncertain' (the server may have it: never sent again
        by itself). Rows claimed by ``owner`` (the caller) are left alone. Only the
        delivery lock holder may call this (see forward.outbox)."""
        with self._query() as db:  # every few seconds: read first, write only if needed
            found = db.execute(
                "SELECT 1 FROM forwards WHERE state = 'sending' AND claimed_by IS NOT :owner",
                {"owner": owner},
            ).fetchone()
            if found is None:
                return Interrupted(0, 0)
        with self._write() as db:
            requeued = db.execute(
                """
                UPDATE forwards
                SET state = 'queued', claimed_at = NULL, claimed_by = NULL,
                    last_error = 'delivery was interrupted (the program stopped) before '
                        || 'the message was handed over; trying again'
                WHERE state = 'sending' AND claimed_by IS NOT :owner AND final_dot_at IS NULL
                """,
                {"owner": owner},
            ).rowcount
            uncertain = db.execute(
                """
                UPDATE forwards
                SET state = 'uncertain', claimed_at = NULL, claimed_by = NULL,
                    next_attempt = NULL,
                    last_error = 'the program stopped right after handing the whole message '
                        || 'to the server, before its answer was recorded: it may have been '
                        || 'delivered. Not sent again automatically; send it again if the '
                        || 'recipient did not get it'
                WHERE state = 'sending' AND claimed_by IS NOT :owner
                    AND final_dot_at IS NOT NULL
                """,
                {"owner": owner},
            ).rowcount
            return Interrupted(requeued, uncertain)

    def due_forwards(self, *, now: datetime, limit: int, force: bool = False) -> list[Forward]:
        """Queued forwards whose undo window is over and whose next attempt is due,
        oldest first; ``force`` ignores both (the person asked to send now)."""
        where = f"state = 'queued' AND {_NOT_MEMBER}"
        if not force:
            where += " AND send_after <= :now AND (next_attempt IS NULL OR next_attempt <= :now)"
        with self._query() as db:
            return self._select(db, where, order="send_after, id", limit=limit, now=to_ts(now))

    def claim_forward(
        self,
        forward_id: int,
        *,
        now: datetime,
        message_id: str,
        force: bool = False,
        owner: str = "",
    ) -> Forward | None:
        """queued -> sending for ``owner``, committed before the SMTP conversation
        starts; counts an attempt and keeps the first Message-ID given (retries reuse
        it). None if the row is no longer queued and due (cancelled or claimed)."""
        due = (
            ""
            if force
            else "AND send_after <= :now AND (next_attempt IS NULL OR next_attempt <= :now)"
        )
        with self._write() as db:
            cur = db.execute(
                f"""
                UPDATE forwards
                SET state = 'sending', claimed_at = :now, attempts = attempts + 1,
                    message_id = CASE WHEN message_id = '' THEN :mid ELSE message_id END,
                    claimed_by = :owner, final_dot_at = NULL
                WHERE (id = :id OR letter_of = :id) AND state = 'queued' {due}
                """,  # noqa: S608
                {"id": forward_id, "now": to_ts(now), "mid": message_id, "owner": owner},
            )
            if cur.rowcount == 0:
                return None
            return self._select(db, "id = :id", id=forward_id)[0]

    def forward_final_dot(self, forward_id: int, *, now: datetime) -> None:
        """The end of DATA is about to be sent: from this commit on, a row found
        'sending' after a crash is 'uncertain', not queued again."""
        with self._write() as db:
            db.execute(
                "UPDATE forwards SET final_dot_at = :now "
                "WHERE (id = :id OR letter_of = :id) AND state = 'sending'",
                {"id": forward_id, "now": to_ts(now)},
            )

    def forward_uncertain(self, forward_id: int, *, reason: str) -> None:
        """The end of DATA was sent and no answer came: the server may have it."""
        self._settle(
            forward_id,
            "state = 'uncertain', last_error = :reason, next_attempt = NULL",
            reason=reason,
        )

    def forward_released(self, forward_id: int) -> None:
        """Back to queued, the attempt not counted: nothing of it reached a server
        (the connection was found closed before it started)."""
        self._settle(
            forward_id, "state = 'queued', attempts = max(0, attempts - 1), final_dot_at = NULL"
        )

    def forward_sent(self, forward_id: int, *, now: datetime, message_id: str) -> None:
        self._settle(
            forward_id,
            "state = 'sent', sent_at = :now, message_id = :mid, last_error = NULL, "
            "next_attempt = NULL",
            now=to_ts(now),
            mid=message_id,
        )

    def forward_failed(self, forward_id: int, *, reason: str) -> None:
        self._settle(
            forward_id, "state = 'failed', last_error = :reason, next_attempt = NULL", reason=reason
        )

    def forward_deferred(
        self, forward_id: int, *, next_attempt: datetime, reason: str, count_attempt: bool = False
    ) -> None:
        """Back to queued until ``next_attempt``. ``count_attempt`` for a row that was
        not claimed (the server could not be reached before the conversation)."""
        self._settle(
            forward_id,
            "state = 'queued', next_attempt = :next, last_error = :reason, "
            "attempts = attempts + :count",
            next=to_ts(next_attempt),
            reason=reason,
            count=int(count_attempt),
            allow_queued=True,
        )

    def forwards_without_eml(
        self, *, now: datetime, limit: int, force: bool = False
    ) -> list[Forward]:
        """Queued forwards past their undo window (any, with ``force``) whose .eml
        copy was not written yet."""
        where = f"state = 'queued' AND eml_written = 0 AND {_NOT_MEMBER}"
        if not force:
            where += " AND send_after <= :now"
        with self._query() as db:
            return self._select(db, where, order="send_after, id", limit=limit, now=to_ts(now))

    def eml_written(self, forward_id: int, *, note: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE forwards SET eml_written = 1, last_error = :note "
                "WHERE id = :id OR letter_of = :id",
                {"id": forward_id, "note": note},
            )

    # --- helpers -------------------------------------------------------------------------

    def _settle(self, forward_id: int, assignments: str, allow_queued: bool = False, **params):
        states = "('sending', 'queued')" if allow_queued else "('sending')"
        with self._write() as db:
            db.execute(
                f"UPDATE forwards SET {assignments}, claimed_at = NULL, "  # noqa: S608
                f"claimed_by = NULL WHERE (id = :id OR letter_of = :id) AND state IN {states}",
                {"id": forward_id, **params},
            )

    @staticmethod
    def _select(
        db: sqlite3.Connection,
        where: str,
        *,
        order: str = "id",
        limit: int | None = None,
        **params: object,
    ) -> list[Forward]:
        if "ids" in params:
            params["ids"] = json.dumps(params["ids"])
        sql = f"SELECT {_COLUMNS} FROM forwards WHERE {where} ORDER BY {order}"  # noqa: S608
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return [_forward(r) for r in db.execute(sql, params).fetchall()]

    def _previous(
        self,
        db: sqlite3.Connection,
        entry_id: int,
        link_key: str | None,
        email_keys: Sequence[str] | None,
    ) -> list[Forward]:
        where = f"(entry_id = :entry_id OR link_key = :link_key) AND state IN {_LIVE} AND kind != 'alert'"
        if email_keys is not None:
            where += " AND email_key IN (SELECT value FROM json_each(:keys))"
        keys = json.dumps(list(email_keys or ()))
        return self._select(db, where, entry_id=entry_id, link_key=link_key, keys=keys)
