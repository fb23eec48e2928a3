"""Frozen dataclasses that cross module boundaries.

Nothing else crosses them: no raw feedparser dicts, no sqlite3.Row, no ruamel nodes.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlsplit

# --- configuration (config.py builds these) ----------------------------------------


@dataclass(frozen=True)
class DisplaySettings:
    """``settings.display`` (config/display.py): how the dashboard shows things."""

    unread_only: bool = False
    headlines: int = 5  # per widget
    mark_read_on_scroll: bool = False
    time_zone: str | None = None  # None: the machine's zone
    locale: str = "fr_FR"  # fr_CA | fr_FR | en: how dates are written
    per_feed: tuple[tuple[str, int], ...] = ()  # (normalized feed URL, headlines)

    def headlines_for(self, normalized_url: str) -> int:
        return dict(self.per_feed).get(normalized_url, self.headlines)


@dataclass(frozen=True)
class MailSettings:
    """``settings.mail`` of feeds.yaml. The password never lives here (env only)."""

    host: str
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none
    username: str | None = None
    sender: str = ""  # the "from" key: 'Alex Exemple <alex@example.org>'
    reply_to: str | None = None
    copy_to_me: bool = False
    rate_limit: tuple[int, timedelta] = (30, timedelta(hours=1))


@dataclass(frozen=True)
class ImapSettings:
    """``settings.imap`` of feeds.yaml: the mailbox newsletters are read from. The
    password never lives here: only in AGGREGATOR_IMAP_PASSWORD."""

    host: str
    username: str
    port: int = 993
    security: str = "ssl"  # ssl | starttls | none


@dataclass(frozen=True)
class MailSource:
    """A ``mail:`` line of feeds.yaml: an IMAP folder whose messages become items.

    Its ``key`` (``imap://user@host/Folder?from=...&split=links``) is its ``url``
    everywhere a feed is named by URL (storage, rivers, status page), so every path
    that works for a feed works for it unchanged. The key holds what tells two
    sources apart (mailbox, folder, sender filter, split); port and security are
    read from the settings at each poll.
    """

    folder: str
    senders: tuple[str, ...] = ()  # lower-cased patterns: "lettre@x.org", "*@cnc.fr"
    split: bool = False  # split: links -- one item per link of a digest

    SCHEME = "imap"

    def key(self, imap: ImapSettings) -> str:
        query = []
        if self.senders:
            query.append("from=" + ",".join(quote(s, safe="@*") for s in self.senders))
        if self.split:
            query.append("split=links")
        user = quote(imap.username, safe="")
        path = quote(self.folder, safe="")
        return f"{self.SCHEME}://{user}@{imap.host.lower()}/{path}" + (
            "?" + "&".join(query) if query else ""
        )

    @classmethod
    def from_key(cls, url: str) -> MailSource | None:
        """The source a key names, or None when ``url`` is not a mail key."""
        if not url.startswith(f"{cls.SCHEME}://"):
            return None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        senders = tuple(s for s in query.get("from", "").split(",") if s)
        return cls(
            folder=unquote(parts.path[1:]), senders=senders, split=query.get("split") == "links"
        )


def is_mail_key(url: str) -> bool:
    return url.startswith(f"{MailSource.SCHEME}://")


@dataclass(frozen=True)
class Settings:
    refresh: timedelta = timedelta(minutes=30)
    timeout: timedelta = timedelta(seconds=20)
    max_size: int = 10 * 1024 * 1024
    keep_days: int = 90
    display: DisplaySettings = field(default_factory=DisplaySettings)
    allow_private_networks: bool = False
    mail: MailSettings | None = None
    imap: ImapSettings | None = None


@dataclass(frozen=True)
class FeedConfig:
    url: str
    tab: str
    title: str | None = None
    refresh: timedelta | None = None  # None: settings.refresh
    position: int = 0  # order inside the file, for display
    line: int = 0  # where it was written, for messages


@dataclass(frozen=True)
class TabConfig:
    name: str
    feeds: tuple[FeedConfig, ...] = ()


@dataclass(frozen=True)
class Config:
    path: str
    settings: Settings = field(default_factory=Settings)
    tabs: tuple[TabConfig, ...] = ()
    rules: tuple[Rule, ...] = ()  # the owner's keyword rules (``rules:``)

    @property
    def feeds(self) -> tuple[FeedConfig, ...]:
        return tuple(f for t in self.tabs for f in t.feeds)

    def feed(self, url: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.url == url), None)


# --- fetching (fetch.py builds these) ----------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """A successful HTTP exchange: 200 with a body, or 304 Not Modified.

    Failures are raised as ``errors.FetchError`` instead.
    """

    url: str  # the URL that was asked for
    final_url: str  # after redirects
    status: int  # 200 or 304
    body: bytes | None  # None on 304
    headers: dict[str, str]  # lower-cased names, of the final response
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # set when every redirect on the way was 301/308
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


# --- parsing (parse.py builds these; nothing here is sanitized yet) ----------------


@dataclass(frozen=True)
class Enclosure:
    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class ParsedEntry:
    guid: str  # stable identity: id/guid, else link, else hash of title+content
    title: str  # plain text
    link: str | None  # absolute, unchecked
    author: str | None
    published: datetime | None  # aware UTC; None when missing or absurd
    updated: datetime | None
    content_html: str  # raw (unsanitized) HTML, may be empty
    summary_html: str  # raw (unsanitized) HTML, may be empty
    base_url: str  # for resolving relative URLs inside the HTML
    enclosures: tuple[Enclosure, ...] = ()
    # Pictures the feed offers for the item, best first (media:thumbnail, media:content
    # or an image enclosure, JSON Feed image/banner_image); absolute, unchecked.
    thumbnails: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    link: str | None  # the site's home page
    kind: str  # e.g. rss20, atom10, json11
    entries: tuple[ParsedEntry, ...]
    warning: str | None = None  # set when feedparser recovered from malformed input
    # The feed's own pictures of itself (Atom icon/logo, RSS <image>, JSON Feed
    # favicon/icon), smallest kind first, as written: a last source of site icons.
    icons: tuple[str, ...] = ()


# --- storage (update.py builds Entry; storage returns the views) -------------------


@dataclass(frozen=True)
class Entry:
    """A sanitized entry ready to be stored."""

    feed_url: str
    guid: str
    title: str
    link: str | None
    author: str | None
    published: datetime  # aware UTC, clamped, never None
    updated: datetime | None
    content_html: str  # sanitized
    summary: str  # plain text, for previews, search and email
    enclosures: tuple[Enclosure, ...] = ()
    content_hash: str = ""  # hash of the source fields; unchanged entries are skipped
    # False when the feed gave no date (published is then the first-seen time): an
    # update in place must keep the stored date instead of moving the entry up.
    has_date: bool = True
    # True when the feed gave no title and ``title`` was made from the text.
    title_derived: bool = False
    thumbnail: str | None = None  # http(s) URL, or a small raster data: URL
    # The title's and the whole body's words as the search index stores them
    # (aggregator.folding), folded by the CPU stage in the worker processes;
    # '' = storage computes them from the title and content_html.
    search_body: str = ""
    search_title: str = ""


@dataclass(frozen=True)
class EntryView:
    """An entry as read back for the river, the API and the CLI."""

    id: int
    feed_url: str
    feed_title: str
    tab: str
    guid: str
    title: str
    link: str | None
    author: str | None
    published: datetime
    first_seen: datetime
    summary: str
    content_html: str  # sanitized at ingest: safe to render
    read: bool
    starred: bool
    enclosures: tuple[Enclosure, ...] = ()
    snippet: str | None = None  # search highlight, already HTML-escaped except <mark>
    title_derived: bool = False  # the feed gave no title: made from the text
    thumbnail: str | None = None
    title_html: str | None = None  # search: the title HTML-escaped, matches in <mark>


@dataclass(frozen=True)
class FeedState:
    """What the machine knows about one feed (one row of ``status``)."""

    url: str
    tab: str
    title: str | None  # from feeds.yaml, else from the feed itself
    position: int
    refresh: timedelta | None
    active: bool  # False once removed from feeds.yaml
    site_link: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    last_fetch: datetime | None
    last_success: datetime | None
    last_status: int | None
    last_error_code: str | None
    last_error: str | None
    consecutive_errors: int
    next_check: datetime | None
    moved_to: str | None
    entry_count: int = 0
    unread_count: int = 0

    @property
    def display_title(self) -> str:
        return self.title or self.url


# --- forwarding (config.py builds these from contacts.yaml) ------------------------


NEED_DAYS = 60  # a need without ``until`` ends this many days after ``since``
DIGEST_PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


@dataclass(frozen=True)
class Need:
    """« cherche appart »: something a contact looks for, from ``since`` to ``until``
    (dates, inclusive; ``until`` defaults to NEED_DAYS after ``since``)."""

    what: str
    since: date
    until: date | None = None
    line: int = 0

    @property
    def ends(self) -> date:
        return self.until or self.since + timedelta(days=NEED_DAYS)

    def active(self, now: datetime) -> bool:
        today = now.astimezone(UTC).date()
        return self.since <= today <= self.ends


@dataclass(frozen=True)
class Contact:
    """One person of contacts.yaml that items can be forwarded to."""

    name: str
    email: str  # a bare address, validated (no display name, no CR/LF)
    interests: tuple[str, ...]
    language: str = "fr"  # fr | en
    line: int = 0  # where it was written, for messages
    formal: bool = False  # « vous »: the subject and the default note say so
    needs: tuple[Need, ...] = ()
    digest: str | None = None  # None | daily | weekly: their « Pour toi » letter

    def active_needs(self, now: datetime) -> tuple[Need, ...]:
        return tuple(n for n in self.needs if n.active(now))


@dataclass(frozen=True)
class Forward:
    """One recipient of one forwarded item: a row of the ledger and of the outbox.

    The entry's title, link and feed title are copies, so the history survives the
    entry (``entry_id`` becomes None if it is ever deleted). The fields after
    ``message_id`` are what the email is composed from at delivery time.
    """

    id: int
    batch: str  # one click = one batch (several recipients share it); used by "Annuler"
    entry_id: int | None
    entry_title: str
    entry_link: str | None
    feed_title: str
    contact_name: str
    contact_email: str
    note: str
    state: str  # queued | sending | sent | failed | cancelled | uncertain (see forward/outbox.py)
    created_at: datetime
    send_after: datetime  # end of the undo window
    attempts: int = 0
    next_attempt: datetime | None = None
    last_error: str | None = None  # the SMTP server's reason, or why it waits
    sent_at: datetime | None = None
    message_id: str = ""
    entry_published: datetime | None = None
    excerpt: str = ""  # plain text, as it goes into the email
    language: str = "fr"  # the contact's, when queued: the email's fixed text
    copy_to_me: bool = False  # also deliver a copy to reply_to (first recipient of a batch)
    subject: str = ""  # as the person edited it; '' = the default (tone + title)
    formal: bool = False  # the contact's tone when queued (« vous »)
    quote: str = ""  # the passage the person selected; '' = the usual excerpt
    letter_of: int | None = None  # the lead row of the letter this row is part of
    kind: str = "forward"  # forward | digest (« Pour toi ») | alert (rules, to oneself)


@dataclass(frozen=True)
class Suggestion:
    """A contact whose interests match an entry, and why."""

    contact: Contact
    reasons: tuple[str, ...]  # the matched interests, as the person wrote them
    score: float
    needs: tuple[Need, ...] = ()  # the contact's current needs it matches (shown first)


@dataclass(frozen=True)
class BasketItem:
    """One item waiting in a contact's « Pour toi » basket (copies, like ``Forward``)."""

    id: int
    contact_email: str
    entry_id: int | None
    entry_title: str
    entry_link: str | None
    feed_title: str
    entry_published: datetime | None
    excerpt: str
    quote: str
    note: str
    position: int
    added_at: datetime


@dataclass(frozen=True)
class Rule:
    """One of the owner's keyword rules (``rules:`` in feeds.yaml)."""

    words: tuple[str, ...]  # any of them matches (each may be a phrase)
    actions: tuple[str, ...]  # highlight | star | mark_read | notify
    name: str = ""  # how it is shown; defaults to its words
    tab: str | None = None
    feed: str | None = None
    email: bool = False  # notify also by email to oneself (batched hourly)
    line: int = 0

    @property
    def key(self) -> str:
        """Stable identity in the database: the words, folded later by the caller."""
        return self.name or ", ".join(self.words)
