"""« Ajouter du contenu »: paste an address, see what it resolves to, pick a tab, done.

Owns the add flow (``/add``: the box, the preview with a choice of feeds and a tab, the
confirmation that writes feeds.yaml and fetches the feed at once) and what the other
writing pages share: ``Stash`` (bounded server-side memory between two steps of a
form), ``write_config`` (one round-trip edit of feeds.yaml, refused with the reason and
the line when the file is invalid, then applied to the database), ``fetch_now``.

Every step is a plain form with a redirect after each POST (works without
JavaScript). Discovery goes through the same guarded HTTP client as polling
(``aggregator.fetch.Fetcher`` built from the current settings: deadline, size cap,
private addresses refused unless allowed), so a page that never answers becomes a
message after the deadline. No SQL here: Storage and config.edit do the work.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, url_for

from aggregator.config.values import normalize_url
from aggregator.errors import ConfigError, NotFound
from aggregator.fetch import Fetcher
from aggregator.models import Config, Settings
from aggregator.web import state
from aggregator.web.i18n import N_, config_message
from aggregator.web.i18n import gettext as _
from aggregator.web.params import bad_request, text_arg

log = logging.getLogger(__name__)

bp = Blueprint("subscriptions", __name__)

T = TypeVar("T")

MAX_ADDRESS = 2000
MAX_TITLE = 300
MAX_TAB = 100
PREVIEW_HEADLINES = 5
NEW_TAB = ""  # the tab <select>'s "new tab" choice: no tab is named with nothing

# A DiscoveryError's code -> what the person reads (French in the catalogs).
DISCOVERY_MESSAGES = {
    "invalid_address": N_("This is not an address we can read: paste a website or feed address (https://…) or a handle such as @name@instance."),  # noqa: E501
    "unsupported_scheme": N_("Only http:// and https:// addresses can be followed."),
    "private_address": N_("This address points to a private network: it is blocked for safety (allow_private_networks in feeds.yaml allows it)."),  # noqa: E501
    "no_feed": N_("No feed was found at this address: the site may not publish one. Try the address of its blog or news page."),  # noqa: E501
    "no_public_feed": N_("This platform publishes no public feed. You can run a bridge such as RSS-Bridge or RSSHub yourself and paste here the feed address it gives."),  # noqa: E501
    "unreachable": N_("The site could not be reached: check the address, or try again later."),
    "timeout": N_("The site did not answer in time: try again later."),
    "too_large": N_("The page is too big to be read."),
    "not_found": N_("This page does not exist (error 404): check the address."),
}  # fmt: skip
UNKNOWN_DISCOVERY = N_("This address could not be read.")
# What the box accepts, shown under it (labels translated in the template).
EXAMPLES = (
    (N_("a website:"), "https://www.example.org"),
    (N_("a feed (RSS, Atom, JSON Feed):"), "https://www.example.org/feed.xml"),
    (N_("a Mastodon account:"), "@alice@mastodon.social"),
    (
        N_("a Bluesky, YouTube, Reddit, PeerTube, Substack or Medium page:"),
        "https://bsky.app/profile/alice.bsky.social",
    ),
)
# discover's platform names, as shown ("website" and "feed" are words to translate).
PLATFORMS = {
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "youtube": "YouTube",
    "reddit": "Reddit",
    "peertube": "PeerTube",
    "substack": "Substack",
    "medium": "Medium",
}
FEED_KINDS = (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed"))


def platform_label(platform: str | None) -> str | None:
    if not platform:
        return None
    if platform == "website":
        return _("website")
    if platform == "feed":
        return _("feed address")
    return PLATFORMS.get(platform, platform)


def kind_label(kind: str | None) -> str | None:
    """``rss20`` -> ``RSS``, ``atom10`` -> ``Atom``, ``json11`` -> ``JSON Feed``."""
    return next((label for prefix, label in FEED_KINDS if (kind or "").startswith(prefix)), None)


PLACEHOLDER = N_("https://… or @name@instance")


class Stash(Generic[T]):
    """Values kept between two steps of a form (a discovery and its confirmation, an
    uploaded OPML plan and its import, a removed feed and its undo). In memory and
    bounded, like ``UndoStore``: a cookie could not hold them, and they are only useful
    for a few minutes. Tokens are unguessable; the oldest values go first."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[str, T] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, value: T) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._items[token] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return token

    def get(self, token: str | None) -> T | None:
        if not token:
            return None
        with self._lock:
            return self._items.get(token)

    def pop(self, token: str | None) -> T | None:
        if not token:
            return None
        with self._lock:
            return self._items.pop(token, None)

    def __len__(self) -> int:
        return len(self._items)


class Stashes:
    """The stashes of one app (``app.extensions["subscriptions"]``)."""

    def __init__(self) -> None:
        self.discoveries: Stash[Any] = Stash(32)
        self.removed: Stash[Any] = Stash(64)
        self.imports: Stash[Any] = Stash(8)  # an OPML plan can hold thousands of feeds


def stashes() -> Stashes:
    return current_app.extensions["subscriptions"]


def install(app: Flask) -> None:
    app.extensions["subscriptions"] = Stashes()
    app.jinja_env.globals.update(restore_token_ok=_restore_token_ok)
    app.register_error_handler(413, _too_large)


def _too_large(e: Exception) -> Any:
    """A body over MAX_CONTENT_LENGTH (an OPML upload, in practice): refused before the
    view runs (the CSRF check reads the form), so the sentence is said here."""
    from aggregator.web import error_response

    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return error_response(
        413, _("This file is too big (%(n)s MB at most).", n=max(1, limit // (1024 * 1024)))
    )


def _restore_token_ok(token: str) -> bool:
    return stashes().removed.get(token) is not None


# --- shared by the writing pages -----------------------------------------------------


def settings() -> Settings:
    config = state().config
    return config.settings if config is not None else Settings()


def make_fetcher(current: Settings) -> Fetcher:
    """The polling client with the current settings. Tests may replace it through
    ``app.config["AGGREGATOR_FETCHER"]`` (a callable taking the settings), to map
    platform host names to the local test server."""
    factory = current_app.config.get("AGGREGATOR_FETCHER")
    if factory is not None:
        return factory(current)
    return Fetcher(
        timeout=current.timeout.total_seconds(),
        max_size=current.max_size,
        allow_private_networks=current.allow_private_networks,
    )


def config_path() -> str:
    return str(state().config_source.path)


def refuse_config(error: ConfigError, *, what: str | None = None) -> None:
    """Flash why feeds.yaml was not written; base.html shows the problems and a link to
    the status page's list (the locations stay in their FILE:LINE:COL form)."""
    message = what or _("feeds.yaml was not changed.")
    lines = []
    for p in error.problems:
        # each problem in the page's language; "en\t" marks one said in English
        said, translated = config_message(p)
        mark = "" if translated else "en\t"
        lines.append(f"{mark}{p.file}:{p.line}:{p.col}: {said}")
    details = "\n".join(lines) or str(error)
    flash(f"{message}\n{details}", "config")


def write_config(change: Callable[[str], T]) -> T | None:
    """Run one edit of feeds.yaml (``change(path)``, from config.edit), then apply it:
    the config source reloads the file we just wrote (our own atomic write applies at
    once) and the database learns the new feed list. None when refused (flashed).

    A file that is invalid right now is never written: the edit functions refuse it,
    and so do we before trying, with the problems and their lines.
    """
    st = state()
    st.config_source.refresh()
    if st.config_source.error is not None:
        refuse_config(
            st.config_source.error,
            what=_(
                "feeds.yaml has errors, so the dashboard does not change it: fix the file first."
            ),
        )
        return None
    from aggregator.config.edit import AlreadyFollowed

    try:
        result = change(config_path())
    except AlreadyFollowed as e:
        flash(_("You already follow this feed (tab “%(tab)s”).", tab=e.tab), "info")
        return None
    except ConfigError as e:
        refuse_config(e)
        return None
    except NotFound:
        flash(
            _("This feed or tab is no longer in feeds.yaml (the file changed meanwhile)."), "error"
        )
        return None
    apply_config()
    return result


def apply_config() -> Config | None:
    st = state()
    st.config_source.refresh()
    config = st.config
    if config is not None:
        st.storage.sync_feeds(config.feeds, now=datetime.now(UTC))
    return config


def fetch_now(url: str) -> int | None:
    """Fetch one feed right away (on this request: the person waits for the result,
    bounded by the fetch deadline). The number of new entries, None when it failed
    (the status page says why)."""
    from aggregator.update import Updater

    st = state()
    try:
        feed = st.storage.feed(url)
    except NotFound:
        return None
    updater = Updater(st.storage, settings(), workers=1)
    try:
        summary = updater.update([feed], now=datetime.now(UTC))
    finally:
        updater.close()
    outcome = summary.outcomes[0] if summary.outcomes else None
    if outcome is None or outcome.state == "error":
        return None
    return outcome.new_entries


def followed_urls() -> set[str]:
    config = state().config
    return {normalize_url(f.url) for f in config.feeds} if config is not None else set()


def tab_choice(tabs: list[str]) -> str:
    """The tab a form names: an existing one, or ``new_tab`` when "new tab" is chosen.
    A 400 for a tab that does not exist (a stale form) or an empty new name."""
    chosen = text_arg("tab", form=True, max_length=MAX_TAB + 10)
    if chosen == NEW_TAB or chosen == "":
        name = " ".join(text_arg("new_tab", form=True, max_length=MAX_TAB).split())
        if not name:
            bad_request(_("Give the new tab a name."))
        existing = next((t for t in tabs if t.casefold() == name.casefold()), None)
        return existing or name
    if chosen not in tabs:
        bad_request(_("This tab no longer exists: reload the page."))
    return chosen


# --- the add flow ---------------------------------------------------------------------


def discovery_message(error: Any) -> str:
    code = getattr(error, "code", None)
    return _(DISCOVERY_MESSAGES.get(code or "", UNKNOWN_DISCOVERY))


def _closed_platform(error: Any) -> str | None:
    """The platform named by a ``no_public_feed`` refusal (LinkedIn, X...)."""
    from aggregator.discover import NO_PUBLIC_FEED

    if getattr(error, "code", None) != "no_public_feed":
        return None
    return next((name for name in NO_PUBLIC_FEED.values() if name in str(error)), None)


@bp.get("/add")
def add_form() -> Any:
    """The box: paste anything (a site, a feed, a profile, a handle)."""
    return render_template(
        "add.html",
        title=_("Add content"),
        current_tab=None,
        examples=EXAMPLES,
        placeholder=_(PLACEHOLDER),
        address=text_arg("address", max_length=MAX_ADDRESS),
        tab_hint=text_arg("tab", max_length=MAX_TAB),
        error=None,
    )


@bp.post("/add")
def add_lookup() -> Any:
    """Resolve the pasted address, keep the result server-side, show it (PRG)."""
    from aggregator.discover import discover
    from aggregator.errors import DiscoveryError

    address = " ".join(text_arg("address", form=True, max_length=MAX_ADDRESS).split())
    if not address:
        return _add_error(address, _("Paste an address first."))
    fetcher = make_fetcher(settings())
    try:
        found = discover(address, fetcher=fetcher, now=g.now)
    except DiscoveryError as e:
        log.info("discovery of %r failed: %s", address[:200], e)
        return _add_error(address, discovery_message(e), platform=_closed_platform(e))
    finally:
        fetcher.close()
    if not found.candidates:
        return _add_error(address, discovery_message(None))
    token = stashes().discoveries.put(found)
    hint = text_arg("tab", form=True, max_length=MAX_TAB) or None
    return redirect(url_for("subscriptions.add_preview", d=token, tab=hint))


def _add_error(address: str, message: str, platform: str | None = None) -> Any:
    page = render_template(
        "add.html",
        title=_("Add content"),
        current_tab=None,
        examples=EXAMPLES,
        placeholder=_(PLACEHOLDER),
        address=address,
        tab_hint=text_arg("tab", form=True, max_length=MAX_TAB),
        error=message,
        platform=platform,
    )
    return page, 422


@bp.get("/add/preview")
def add_preview() -> Any:
    """What the address resolved to: the feeds found (title, last headlines, « déjà
    suivi »), a tab to put it in, an optional title."""
    found = stashes().discoveries.get(text_arg("d", max_length=64))
    if found is None:
        flash(_("This search is too old: paste the address again."), "info")
        return redirect(url_for("subscriptions.add_form"))
    followed = followed_urls()
    candidates = [
        {
            "url": c.url,
            "title": c.title or c.url,
            "kind": kind_label(c.kind),
            "headlines": list(c.headlines)[:PREVIEW_HEADLINES],
            "site_link": c.site_link,
            "followed": normalize_url(c.url) in followed,
        }
        for c in found.candidates
    ]
    first = next((c["url"] for c in candidates if not c["followed"]), None)
    return render_template(
        "add_preview.html",
        title=_("Add content"),
        current_tab=None,
        found=found,
        platform=platform_label(found.platform),
        token=text_arg("d", max_length=64),
        candidates=candidates,
        first=first,
        new_tab=NEW_TAB,
        preselect=text_arg("tab", max_length=MAX_TAB),
    )


@bp.post("/add/confirm")
def add_confirm() -> Any:
    """Write the chosen feed into feeds.yaml, fetch it at once, show its tab."""
    from aggregator.config.edit import add_feed

    token = text_arg("d", form=True, max_length=64)
    found = stashes().discoveries.get(token)
    if found is None:
        flash(_("This search is too old: paste the address again."), "info")
        return redirect(url_for("subscriptions.add_form"))
    url = text_arg("url", form=True, max_length=MAX_ADDRESS)
    candidate = next((c for c in found.candidates if c.url == url), None)
    if candidate is None:
        bad_request(_("Choose one of the feeds found."))
    tab = tab_choice(state().tabs())
    title = " ".join(text_arg("title", form=True, max_length=MAX_TITLE).split()) or None
    back = redirect(url_for("subscriptions.add_preview", d=token))
    if normalize_url(url) in followed_urls():
        flash(_("You already follow this feed."), "info")
        return back
    config = write_config(lambda path: add_feed(path, tab, url, title))
    if config is None:
        return back
    stashes().discoveries.pop(token)
    new = fetch_now(url)
    name = title or candidate.title or url
    if new is None:
        flash(
            _(
                "“%(title)s” was added to the tab “%(tab)s”, but its first fetch failed: the status page says why.",  # noqa: E501
                title=name,
                tab=tab,
            ),
            "error",
        )
    else:
        flash(_("“%(title)s” was added to the tab “%(tab)s”.", title=name, tab=tab), "info")
    real_tab = next((t for t in state().tabs() if t.casefold() == tab.casefold()), None)
    if real_tab is None:  # changed by hand meanwhile
        return redirect(url_for("views.river"))
    return redirect(url_for("views.tab", name=real_tab))
