"""JSON shapes of entries, feeds, forwards and contacts.

One definition shared by the CLI (``--json``) and the dashboard's JSON API, so the
two never drift apart. Times are ISO 8601 UTC with a ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aggregator.models import Contact, EntryView, FeedState, Forward


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else None


def entry_json(e: EntryView, *, content: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": e.id,
        "feed_url": e.feed_url,
        "feed_title": e.feed_title,
        "tab": e.tab,
        "title": e.title,
        "link": e.link,
        "author": e.author,
        "published": iso(e.published),
        "summary": e.summary,
        "read": e.read,
        "starred": e.starred,
        "enclosures": [{"url": x.url, "type": x.type, "length": x.length} for x in e.enclosures],
    }
    if content:
        data["content_html"] = e.content_html  # sanitized at ingest
    if e.snippet is not None:
        data["snippet"] = e.snippet
    return data


def feed_json(f: FeedState) -> dict[str, Any]:
    return {
        "url": f.url,
        "title": f.display_title,
        "tab": f.tab,
        "active": f.active,
        "site_link": f.site_link,
        "last_fetch": iso(f.last_fetch),
        "last_success": iso(f.last_success),
        "last_status": f.last_status,
        "last_error_code": f.last_error_code,
        "last_error": f.last_error,
        "consecutive_errors": f.consecutive_errors,
        "next_check": iso(f.next_check),
        "moved_to": f.moved_to,
        "entry_count": f.entry_count,
        "unread_count": f.unread_count,
    }


def contact_json(c: Contact) -> dict[str, Any]:
    return {
        "name": c.name,
        "email": c.email,
        "interests": list(c.interests),
        "language": c.language,
    }


def forward_json(f: Forward) -> dict[str, Any]:
    return {
        "id": f.id,
        "batch": f.batch,
        "entry_id": f.entry_id,
        "entry_title": f.entry_title,
        "entry_link": f.entry_link,
        "feed_title": f.feed_title,
        "contact": {"name": f.contact_name, "email": f.contact_email},
        "note": f.note,
        "state": f.state,
        "created_at": iso(f.created_at),
        "send_after": iso(f.send_after),
        "attempts": f.attempts,
        "next_attempt": iso(f.next_attempt),
        "last_error": f.last_error,
        "sent_at": iso(f.sent_at),
        "message_id": f.message_id,
    }
