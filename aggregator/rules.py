"""The owner's own keyword rules (``rules:`` in feeds.yaml): which entries they
match and what they do.

A rule matches an entry when one of its words or phrases occurs in it, compared
exactly as contacts' interests are (``forward.matching``: case, accents and plurals
folded, whole words and phrases), inside its optional tab or feed scope. Actions:

* ``highlight``: the entry and the matched words are marked in the river;
* ``star``: the entry is starred; ``mark_read``: it is marked read (muted);
* ``notify``: it goes to the « Alertes » view (with an unread count), and with
  ``email: true`` into the alert email to oneself, at most one per hour, through
  the durable outbox (``forward.Forwarder.queue_alert_letter``).

Rules apply at ingest to new entries (``apply_new``, after each update round: every
entry with an id above the last one seen, ids only grow) and on demand to all stored
entries (``apply_all``, ``aggregator rules --apply``). A hit is recorded once per
entry and rule (``rule_hits``): applying again stars nothing twice and never marks
read an entry the person marked unread since. A rule that matches (nearly)
everything is reported by ``too_broad``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aggregator.forward.matching import suggest
from aggregator.models import Contact, EntryView, Rule
from aggregator.storage import Storage

log = logging.getLogger(__name__)

MARK = "rules.last_entry_id"  # meta key: the highest entry id the rules have seen
PAGE = 500
BROAD_SHARE = 0.8  # a rule matching more than this share of the entries is too broad
BROAD_MIN = 20  # ... once there are at least this many entries to judge by
QUIET_FIRST = timedelta(days=1)  # the first run alerts only for entries this recent


def matched_words(rule: Rule, entry: EntryView) -> tuple[str, ...]:
    """The rule's words found in ``entry`` (as written in the rule), () if none or
    if the entry is outside the rule's scope."""
    if rule.tab is not None and (entry.tab or "").casefold() != rule.tab.casefold():
        return ()
    if rule.feed is not None and entry.feed_url != rule.feed:
        return ()
    probe = Contact(name="", email="", interests=rule.words)
    found = suggest(entry, [probe], limit=1)
    return found[0].reasons if found else ()


@dataclass
class RulesReport:
    """What applying the rules did: per rule key, the entries it matched now."""

    checked: int = 0
    matched: dict[str, int] = field(default_factory=dict)
    new_hits: int = 0
    starred: int = 0
    marked_read: int = 0


def _apply(
    storage: Storage,
    rules: Sequence[Rule],
    entries: Sequence[EntryView],
    now: datetime,
    report: RulesReport,
    *,
    quiet_before: datetime | None = None,
) -> None:
    known = storage.rule_hits([e.id for e in entries])
    hits = []
    for entry in entries:
        report.checked += 1
        for rule in rules:
            if not matched_words(rule, entry):
                continue
            report.matched[rule.key] = report.matched.get(rule.key, 0) + 1
            if rule.key in known.get(entry.id, ()):
                continue  # applied before: its actions were done (and maybe undone)
            alert = "notify" in rule.actions
            if quiet_before is not None and entry.first_seen < quiet_before:
                alert = False  # an old entry met by a new rule: no alert for it
            hits.append((entry.id, rule.key, alert, rule.email))
            if "star" in rule.actions and not entry.starred:
                storage.set_starred(entry.id, True)
                report.starred += 1
            if "mark_read" in rule.actions and not entry.read:
                storage.set_read([entry.id], True, now=now)
                report.marked_read += 1
    if hits:
        report.new_hits += storage.record_rule_hits(hits, now=now)


def apply_new(storage: Storage, rules: Sequence[Rule], *, now: datetime) -> RulesReport:
    """Apply the rules to the entries stored since the last call (at ingest). The
    very first time, that is everything stored; entries first seen more than a day
    before then are matched (highlight, star, mark_read) but raise no alert."""
    report = RulesReport()
    mark = storage.get_meta(MARK)
    first = mark is None
    after = int(mark) if mark and mark.isdigit() else 0
    while True:
        page = storage.entries_after(after, limit=PAGE)
        if not page:
            break
        if rules:
            quiet = now - QUIET_FIRST if first else None
            _apply(storage, rules, page, now, report, quiet_before=quiet)
        after = page[-1].id
        storage.set_meta(MARK, str(after))
    if first and mark is None:
        storage.set_meta(MARK, str(after))
    if report.new_hits:
        log.info("rules: %d new match(es) in %d new entries", report.new_hits, report.checked)
    return report


def apply_all(storage: Storage, rules: Sequence[Rule], *, now: datetime) -> RulesReport:
    """Apply the rules to every stored entry (``aggregator rules --apply``)."""
    report = RulesReport()
    after = 0
    while True:
        page = storage.entries_after(after, limit=PAGE)
        if not page:
            break
        _apply(storage, rules, page, now, report)
        after = page[-1].id
    storage.set_meta(MARK, str(max(after, storage.max_entry_id())))
    return report


def count(storage: Storage, rules: Sequence[Rule]) -> RulesReport:
    """How many stored entries each rule matches, changing nothing."""
    report = RulesReport()
    after = 0
    while True:
        page = storage.entries_after(after, limit=PAGE)
        if not page:
            break
        for entry in page:
            report.checked += 1
            for rule in rules:
                if matched_words(rule, entry):
                    report.matched[rule.key] = report.matched.get(rule.key, 0) + 1
        after = page[-1].id
    return report


def too_broad(rules: Sequence[Rule], report: RulesReport) -> list[Rule]:
    """The rules that match nearly every entry (a word like « le » or « the »)."""
    if report.checked < BROAD_MIN:
        return []
    return [r for r in rules if report.matched.get(r.key, 0) > BROAD_SHARE * report.checked]
