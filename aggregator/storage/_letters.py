"""Letters (issue 13): « Pour toi » baskets, when each contact's last letter left,
letters queued as ledger rows, and what the owner's rules matched.

A letter is ONE email carrying several items; each item is a ``forwards`` row of its
own (so the ledger says "sent to Camille" for each), and the rows share
``letter_of`` = the id of the first one (the lead): delivery picks only the lead and
every state change of the lead moves the whole letter (see ``_forwards``).
``queue_letter`` empties the basket and writes the letter in ONE transaction: an item
is either in the basket or in the outbox, never in both, never in neither.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..models import BasketItem, EntryView, Forward
from ._entries import ENTRY_COLUMNS, entry_view
from ._forwards import ForwardsMixin
from ._sqlite import from_ts, opt_ts, to_ts

_BASKET = """
    id, contact_email, entry_id, entry_title, entry_link, feed_title, entry_published,
    excerpt, quote, note, position, added_at
"""


def _item(row: Sequence) -> BasketItem:
    (id_, email, entry_id, title, link, feed, published, excerpt, quote, note, pos, added) = row
    return BasketItem(
        id=id_,
        contact_email=email,
        entry_id=entry_id,
        entry_title=title,
        entry_link=link,
        feed_title=feed,
        entry_published=from_ts(published),
        excerpt=excerpt,
        quote=quote,
        note=note,
        position=pos,
        added_at=from_ts(added),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class NewBasketItem:
    entry_id: int
    entry_title: str
    entry_link: str | None
    link_key: str | None
    feed_title: str
    entry_published: datetime | None
    excerpt: str
    quote: str
    note: str


@dataclass(frozen=True)
class LetterRecipient:
    name: str
    email: str
    language: str
    formal: bool


class LettersMixin(ForwardsMixin):
    # --- baskets -------------------------------------------------------------------------

    def basket_add(self, email: str, item: NewBasketItem, *, now: datetime) -> BasketItem:
        """Append an item to a contact's basket; an entry already in it is not added
        twice (its note and quote are updated instead). Starts the contact's letter
        clock if it never ran."""
        key = email.casefold()
        with self._write() as db:
            found = db.execute(
                "SELECT id FROM baskets WHERE email_key = :key AND entry_id = :entry",
                {"key": key, "entry": item.entry_id},
            ).fetchone()
            if found is not None:
                db.execute(
                    "UPDATE baskets SET note = :note, quote = :quote WHERE id = :id",
                    {"id": found[0], "note": item.note, "quote": item.quote},
                )
                item_id = found[0]
            else:
                (last,) = db.execute(
                    "SELECT coalesce(max(position), 0) FROM baskets WHERE email_key = :key",
                    {"key": key},
                ).fetchone()
                (item_id,) = db.execute(
                    """
                    INSERT INTO baskets (
                        email_key, contact_email, entry_id, entry_title, entry_link, link_key,
                        feed_title, entry_published, excerpt, quote, note, position, added_at)
                    VALUES (
                        :key, :email, :entry_id, :title, :link, :link_key, :feed, :published,
                        :excerpt, :quote, :note, :position, :now)
                    RETURNING id
                    """,
                    {
                        "key": key,
                        "email": email,
                        "entry_id": item.entry_id,
                        "title": item.entry_title,
                        "link": item.entry_link,
                        "link_key": item.link_key,
                        "feed": item.feed_title,
                        "published": opt_ts(item.entry_published),
                        "excerpt": item.excerpt,
                        "quote": item.quote,
                        "note": item.note,
                        "position": last + 1,
                        "now": to_ts(now),
                    },
                ).fetchone()
            db.execute(
                """
                INSERT INTO digests (email_key, last_sent, started_at) VALUES (:key, NULL, :now)
                ON CONFLICT (email_key) DO NOTHING
                """,
                {"key": key, "now": to_ts(now)},
            )
            row = db.execute(
                f"SELECT {_BASKET} FROM baskets WHERE id = :id",  # noqa: S608
                {"id": item_id},
            ).fetchone()
        return _item(row)

    def basket(self, email: str) -> list[BasketItem]:
        with self._query() as db:
            rows = db.execute(
                f"SELECT {_BASKET} FROM baskets WHERE email_key = :key "  # noqa: S608
                "ORDER BY position, id",
                {"key": email.casefold()},
            ).fetchall()
        return [_item(r) for r in rows]

    def baskets(self) -> dict[str, list[BasketItem]]:
        """email key -> its basket, for every contact with something waiting."""
        with self._query() as db:
            rows = db.execute(
                f"SELECT {_BASKET}, email_key FROM baskets ORDER BY email_key, position, id"  # noqa: S608
            ).fetchall()
        out: dict[str, list[BasketItem]] = {}
        for r in rows:
            out.setdefault(r[-1], []).append(_item(r[:-1]))
        return out

    def basket_remove(self, email: str, item_id: int) -> bool:
        with self._write() as db:
            cur = db.execute(
                "DELETE FROM baskets WHERE id = :id AND email_key = :key",
                {"id": item_id, "key": email.casefold()},
            )
            return cur.rowcount > 0

    def basket_move(self, email: str, item_id: int, offset: int) -> bool:
        """Move an item up (-1) or down (+1); positions are rewritten 1..n."""
        key = email.casefold()
        with self._write() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM baskets WHERE email_key = :key ORDER BY position, id",
                    {"key": key},
                )
            ]
            if item_id not in ids:
                return False
            i = ids.index(item_id)
            j = max(0, min(len(ids) - 1, i + offset))
            ids.insert(j, ids.pop(i))
            for pos, id_ in enumerate(ids, 1):
                db.execute("UPDATE baskets SET position = :p WHERE id = :id", {"p": pos, "id": id_})
            return i != j

    def digest_clock(self, email: str) -> tuple[datetime | None, datetime | None]:
        """(last letter sent, first basket item ever) for a contact."""
        with self._query() as db:
            row = db.execute(
                "SELECT last_sent, started_at FROM digests WHERE email_key = :key",
                {"key": email.casefold()},
            ).fetchone()
        if row is None:
            return None, None
        return from_ts(row[0]), from_ts(row[1])

    # --- letters -------------------------------------------------------------------------

    def queue_letter(
        self,
        to: LetterRecipient,
        *,
        kind: str,
        now: datetime,
        send_after: datetime,
        basket_ids: Sequence[int] | None = None,
        items: Sequence[NewBasketItem] = (),
        emailed_alerts: Sequence[int] = (),
    ) -> list[Forward]:
        """Queue one letter: from the contact's basket (``basket_ids``: exactly these
                items, in basket order; the basket rows are deleted in the same transaction),
                or from ``items`` (alerts: ``emailed_alerts``, their entry ids, are marked emailed
        in the same transaction). Records the letter's time for the contact. Empty:
                nothing is queued, [] is returned."""
        key = to.email.casefold()
        batch = f"{kind}-{key}-{to_ts(now)}"
        with self._write() as db:
            rows: list[tuple] = []
            if basket_ids is not None:
                rows = db.execute(
                    """
                    SELECT entry_id, entry_title, entry_link, link_key, feed_title,
                        entry_published, excerpt, quote, note, id
                    FROM baskets
                    WHERE email_key = :key AND id IN (SELECT value FROM json_each(:ids))
                    ORDER BY position, id
                    """,
                    {"key": key, "ids": json.dumps(list(basket_ids))},
                ).fetchall()
            else:
                rows = [
                    (
                        i.entry_id, i.entry_title, i.entry_link, i.link_key, i.feed_title,
                        opt_ts(i.entry_published), i.excerpt, i.quote, i.note, None,
                    )
                    for i in items
                ]  # fmt: skip
            if not rows:
                return []
            lead: int | None = None
            ids: list[int] = []
            for entry_id, title, link, lkey, feed, published, excerpt, quote, note, _b in rows:
                (id_,) = db.execute(
                    """
                    INSERT INTO forwards (
                        batch, entry_id, entry_title, entry_link, link_key, feed_title,
                        entry_published, excerpt, contact_name, contact_email, email_key,
                        language, note, copy_to_me, state, created_at, send_after,
                        formal, quote, letter_of, kind)
                    VALUES (
                        :batch, :entry_id, :title, :link, :lkey, :feed, :published, :excerpt,
                        :name, :email, :key, :language, :note, 0, 'queued', :now, :send_after,
                        :formal, :quote, :lead, :kind)
                    RETURNING id
                    """,
                    {
                        "batch": batch,
                        "entry_id": entry_id,
                        "title": title,
                        "link": link,
                        "lkey": lkey,
                        "feed": feed,
                        "published": published,
                        "excerpt": excerpt,
                        "name": to.name,
                        "email": to.email,
                        "key": key,
                        "language": to.language,
                        "note": note,
                        "now": to_ts(now),
                        "send_after": to_ts(send_after),
                        "formal": int(to.formal),
                        "quote": quote,
                        "lead": lead,
                        "kind": kind,
                    },
                ).fetchone()
                if lead is None:
                    lead = id_
                    db.execute("UPDATE forwards SET letter_of = id WHERE id = :id", {"id": id_})
                ids.append(id_)
            if basket_ids is not None:
                db.execute(
                    "DELETE FROM baskets WHERE id IN (SELECT value FROM json_each(:ids))",
                    {"ids": json.dumps([r[-1] for r in rows])},
                )
            if emailed_alerts:
                db.execute(
                    "UPDATE rule_hits SET emailed = 1 "
                    "WHERE entry_id IN (SELECT value FROM json_each(:ids))",
                    {"ids": json.dumps(list(emailed_alerts))},
                )
            if kind == "digest":
                db.execute(
                    """
                    INSERT INTO digests (email_key, last_sent, started_at)
                    VALUES (:key, :now, :now)
                    ON CONFLICT (email_key) DO UPDATE SET last_sent = excluded.last_sent
                    """,
                    {"key": key, "now": to_ts(now)},
                )
            return self._select(db, "id IN (SELECT value FROM json_each(:ids))", ids=ids)

    def letter_rows(self, lead_id: int) -> list[Forward]:
        """Every row of the letter led by ``lead_id`` (the lead first)."""
        with self._query() as db:
            return self._select(db, "id = :id OR letter_of = :id", id=lead_id)

    # --- the owner's rules ------------------------------------------------------------

    def record_rule_hits(
        self, hits: Sequence[tuple[int, str, bool, bool]], *, now: datetime
    ) -> int:
        """(entry id, rule key, notify, by email) rows; a pair already recorded is
        left as it is (its seen/emailed state kept). Returns how many were new."""
        new = 0
        with self._write() as db:
            for entry_id, rule, notify, by_email in hits:
                cur = db.execute(
                    """
                    INSERT INTO rule_hits (entry_id, rule, notify, matched_at, emailed)
                    SELECT :entry, :rule, :notify, :now, :emailed
                    WHERE EXISTS (SELECT 1 FROM entries WHERE id = :entry)
                    ON CONFLICT (entry_id, rule) DO NOTHING
                    """,
                    {
                        "entry": entry_id,
                        "rule": rule,
                        "notify": int(notify),
                        "now": to_ts(now),
                        "emailed": int(not (notify and by_email)),
                    },
                )
                new += cur.rowcount
        return new

    def rule_hits(self, entry_ids: Sequence[int]) -> dict[int, list[str]]:
        """entry id -> the keys of the rules it matched (one query for a page)."""
        with self._query() as db:
            rows = db.execute(
                "SELECT entry_id, rule FROM rule_hits "
                "WHERE entry_id IN (SELECT value FROM json_each(:ids)) ORDER BY rule",
                {"ids": json.dumps(list(entry_ids))},
            ).fetchall()
        out: dict[int, list[str]] = {}
        for entry_id, rule in rows:
            out.setdefault(entry_id, []).append(rule)
        return out

    def rule_counts(self) -> dict[str, int]:
        with self._query() as db:
            rows = db.execute("SELECT rule, count(*) FROM rule_hits GROUP BY rule").fetchall()
        return dict(rows)

    def alerts(self, *, limit: int = 100) -> list[tuple[int, str, bool]]:
        """(entry id, rule, seen) of notify hits, newest entry first."""
        with self._query() as db:
            return [
                (e, r, bool(s))
                for e, r, s in db.execute(
                    "SELECT entry_id, rule, seen FROM rule_hits WHERE notify = 1 "
                    "ORDER BY entry_id DESC LIMIT :limit",
                    {"limit": limit},
                )
            ]

    def unseen_alerts(self) -> int:
        with self._query() as db:
            (n,) = db.execute(
                "SELECT count(DISTINCT entry_id) FROM rule_hits WHERE notify = 1 AND seen = 0"
            ).fetchone()
        return n

    def mark_alerts_seen(self, entry_ids: Sequence[int] | None = None) -> int:
        with self._write() as db:
            if entry_ids is None:
                return db.execute("UPDATE rule_hits SET seen = 1 WHERE seen = 0").rowcount
            return db.execute(
                "UPDATE rule_hits SET seen = 1 "
                "WHERE seen = 0 AND entry_id IN (SELECT value FROM json_each(:ids))",
                {"ids": json.dumps(list(entry_ids))},
            ).rowcount

    def alerts_to_email(self) -> list[tuple[int, str]]:
        """(entry id, rule) of notify-by-email hits not emailed yet."""
        with self._query() as db:
            return db.execute(
                "SELECT entry_id, rule FROM rule_hits WHERE notify = 1 AND emailed = 0 "
                "ORDER BY entry_id"
            ).fetchall()

    def entries_after(self, after_id: int, *, limit: int = 500) -> list[EntryView]:
        """Entries with an id above ``after_id`` (ids only grow: new since then),
        oldest first, with their texts; for the rules."""
        with self._query() as db:
            rows = db.execute(
                f"""
                SELECT {ENTRY_COLUMNS} FROM entries AS e JOIN feeds AS f ON f.id = e.feed_id
                WHERE e.id > :after ORDER BY e.id LIMIT :limit
                """,  # noqa: S608
                {"after": after_id, "limit": limit},
            ).fetchall()
        return [entry_view(r) for r in rows]

    def max_entry_id(self) -> int:
        with self._query() as db:
            (n,) = db.execute("SELECT coalesce(max(id), 0) FROM entries").fetchone()
        return n
