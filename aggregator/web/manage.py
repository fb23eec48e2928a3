"""Managing what you follow (``/manage``): rename, move, change the refresh of a feed,
unsubscribe with « Annuler »; create, rename, reorder and delete tabs; and on the status
page, « Supprimer l'historique » of a removed feed kept for its starred or forwarded
entries.

Every change is one round-trip edit of feeds.yaml through ``config.edit`` (comments
and order kept, a concurrent hand edit never overwritten: the edit refuses, and the
page says so), then applied to the database (``subscriptions.write_config``). A removed
feed is kept server-side (``Stash``) so that the flash message can offer to put it
back where it was. POST forms with a redirect after each; no SQL here.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from aggregator.config.values import normalize_url
from aggregator.errors import NotFound
from aggregator.web import safe_next, state
from aggregator.web.i18n import N_
from aggregator.web.i18n import gettext as _
from aggregator.web.params import bad_request, text_arg
from aggregator.web.subscriptions import (
    MAX_ADDRESS,
    MAX_TAB,
    MAX_TITLE,
    NEW_TAB,
    fetch_now,
    stashes,
    tab_choice,
    write_config,
)

log = logging.getLogger(__name__)

bp = Blueprint("manage", __name__)

# The refresh choices offered (feeds.yaml accepts any duration from 1 min to 7 days;
# a value written by hand that is not in this list is shown and kept as it is).
REFRESH_CHOICES = ("15m", "30m", "1h", "2h", "6h", "12h", "1d")
REFRESH_LABELS = {
    "15m": N_("every 15 minutes"),
    "30m": N_("every 30 minutes"),
    "1h": N_("every hour"),
    "2h": N_("every 2 hours"),
    "6h": N_("every 6 hours"),
    "12h": N_("every 12 hours"),
    "1d": N_("every day"),
}
DEFAULT_REFRESH = ""  # the form's value for "use settings.refresh"


def duration_text(value: timedelta | None) -> str:
    """``timedelta(hours=1)`` -> ``1h``; the shapes feeds.yaml reads back."""
    if value is None:
        return DEFAULT_REFRESH
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _back() -> Any:
    return redirect(safe_next(request.form.get("next"), url_for("manage.page")))


def _feed_url() -> str:
    url = text_arg("url", form=True, max_length=MAX_ADDRESS)
    config = state().config
    if config is None or not any(normalize_url(f.url) == normalize_url(url) for f in config.feeds):
        abort(404, _("Unknown feed."))
    return url


def _tab_name(field: str = "name") -> str:
    name = text_arg(field, form=True, max_length=MAX_TAB + 10)
    if name not in state().tabs():
        abort(404, _("Unknown tab."))
    return name


def _new_name(field: str) -> str:
    name = " ".join(text_arg(field, form=True, max_length=MAX_TAB).split())
    if not name:
        bad_request(_("Give the tab a name."))
    return name


@bp.get("/manage")
def page() -> Any:
    """Tabs and their feeds, each with its forms."""
    st = state()
    config = st.config
    stored = {f.url: f for f in st.storage.feeds()}
    tabs = []
    for tab in config.tabs if config is not None else ():
        feeds = []
        for f in tab.feeds:
            known = stored.get(f.url)
            feeds.append(
                {
                    "url": f.url,
                    "title": f.title or "",
                    "shown": f.title or (known.display_title if known else f.url),
                    "refresh": duration_text(f.refresh),
                    "entry_count": known.entry_count if known else 0,
                }
            )
        tabs.append({"name": tab.name, "feeds": feeds})
    return render_template(
        "manage.html",
        title=_("Manage feeds and tabs"),
        current_tab=None,
        managed=tabs,
        refresh_choices=REFRESH_CHOICES,
        refresh_labels=REFRESH_LABELS,
        default_refresh=settings_refresh(),
        new_tab=NEW_TAB,
    )


def settings_refresh() -> str:
    config = state().config
    return duration_text(config.settings.refresh) if config is not None else "30m"


# --- feeds ------------------------------------------------------------------------------


@bp.post("/manage/feed")
def save_feed() -> Any:
    """Apply what changed in one feed's form: title, tab, refresh (one write each, so
    each is checked against a concurrent hand edit)."""
    from aggregator.config.edit import move_feed, rename_feed, set_feed_refresh

    url = _feed_url()
    config = state().config
    assert config is not None
    current = next(f for f in config.feeds if normalize_url(f.url) == normalize_url(url))
    title = " ".join(text_arg("title", form=True, max_length=MAX_TITLE).split()) or None
    tab = tab_choice(state().tabs())
    refresh = text_arg("refresh", form=True, max_length=20)
    if refresh not in (DEFAULT_REFRESH, duration_text(current.refresh), *REFRESH_CHOICES):
        bad_request(_("Choose one of the refresh intervals offered."))
    changed = False
    if title != current.title:
        if write_config(lambda path: rename_feed(path, current.url, title)) is None:
            return _back()
        changed = True
    if refresh != duration_text(current.refresh):
        if write_config(lambda path: set_feed_refresh(path, current.url, refresh or None)) is None:
            return _back()
        changed = True
    if tab != current.tab:
        if write_config(lambda path: move_feed(path, current.url, tab)) is None:
            return _back()
        changed = True
    if changed:
        flash(_("Saved in feeds.yaml."), "info")
    else:
        flash(_("Nothing changed."), "info")
    return _back()


@bp.post("/manage/unsubscribe")
def unsubscribe() -> Any:
    """Take the feed out of feeds.yaml; the flash message offers « Annuler »."""
    from aggregator.config.edit import remove_feed

    url = _feed_url()
    removed = write_config(lambda path: remove_feed(path, url))
    if removed is None:
        return _back()
    token = stashes().removed.put(removed)
    name = removed.title or url
    flash(_("You no longer follow “%(title)s”.", title=name), f"restore:{token}")
    return _back()


@bp.post("/manage/restore")
def restore() -> Any:
    """« Annuler »: put a removed feed back where it was."""
    from aggregator.config.edit import restore_feed

    removed = stashes().removed.pop(text_arg("token", form=True, max_length=64))
    if removed is None:
        flash(_("Too late to undo: add the feed again."), "info")
        return _back()
    if write_config(lambda path: restore_feed(path, removed)) is not None:
        # Its entries went with it when nothing in them was worth keeping (storage
        # forgets such a feed at once): fetch it again now, as when it was added.
        fetch_now(removed.url)
        flash(_("“%(title)s” is back.", title=removed.title or removed.url), "info")
    return _back()


# --- tabs -------------------------------------------------------------------------------


@bp.post("/manage/tabs/add")
def add_tab() -> Any:
    from aggregator.config.edit import add_tab as add

    name = _new_name("name")
    if write_config(lambda path: add(path, name)) is not None:
        flash(_("Tab “%(name)s” created.", name=name), "info")
    return _back()


@bp.post("/manage/tabs/rename")
def rename_tab() -> Any:
    from aggregator.config.edit import rename_tab as rename

    old = _tab_name()
    new = _new_name("new_name")
    if new == old:
        flash(_("Nothing changed."), "info")
    elif write_config(lambda path: rename(path, old, new)) is not None:
        flash(_("Tab “%(old)s” renamed “%(new)s”.", old=old, new=new), "info")
    return _back()


@bp.post("/manage/tabs/move")
def move_tab() -> Any:
    """``direction=up`` or ``down``: one place earlier or later."""
    from aggregator.config.edit import reorder_tabs

    name = _tab_name()
    names = state().tabs()
    index = names.index(name)
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        bad_request()
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(names):
        names[index], names[other] = names[other], names[index]
        write_config(lambda path: reorder_tabs(path, names))
    return _back()


@bp.post("/manage/tabs/delete")
def delete_tab() -> Any:
    """A tab with feeds asks where they go (``move_to``: another tab, or empty to
    unsubscribe from them too, which needs ``confirm=1``)."""
    from aggregator.config.edit import delete_tab as delete

    name = _tab_name()
    config = state().config
    tab = next((t for t in config.tabs if t.name == name), None) if config else None
    has_feeds = bool(tab and tab.feeds)
    move_to = text_arg("move_to", form=True, max_length=MAX_TAB + 10) or None
    if move_to is not None and (move_to == name or move_to not in state().tabs()):
        bad_request(_("This tab no longer exists: reload the page."))
    if has_feeds and move_to is None and request.form.get("confirm") != "1":
        flash(_("This tab holds feeds: choose where they go, then delete it."), "error")
        return _back()
    drop = has_feeds and move_to is None
    if write_config(lambda path: delete(path, name, move_feeds_to=move_to, drop_feeds=drop)):
        flash(_("Tab “%(name)s” deleted.", name=name), "info")
    return _back()


# --- removed feeds kept for their history (on the status page) ----------------------------


@bp.get("/feeds/forget")
def forget_confirm() -> Any:
    """Ask before deleting a removed feed and its entries (starred ones included)."""
    feed = _removed_feed(text_arg("url", max_length=MAX_ADDRESS))
    return render_template(
        "forget.html", title=_("Delete the history"), current_tab=None, feed=feed
    )


@bp.post("/feeds/forget")
def forget() -> Any:
    feed = _removed_feed(text_arg("url", form=True, max_length=MAX_ADDRESS))
    state().storage.delete_feed_history(feed.url)
    flash(_("“%(title)s” and its articles were deleted.", title=feed.display_title), "info")
    return redirect(url_for("views.feeds"))


def _removed_feed(url: str) -> Any:
    try:
        feed = state().storage.feed(url)
    except NotFound:
        abort(404, _("Unknown feed."))
    if feed.active:
        bad_request(_("This feed is still in feeds.yaml: unsubscribe from it first."))
    return feed
