"""Round-trip edits of feeds.yaml and contacts.yaml, for the dashboard and the CLI.

Each edit reads the file in ruamel's round-trip mode (comments, order, quotes and
indentation kept), changes one thing, re-validates the new text with the same
loader as a hand edit, and only then replaces the file atomically. An edit that
would make the file invalid raises ConfigError and leaves the file untouched; so does
an edit of a file that is already invalid (fix it by hand first).

Edits are *semantic* (add this URL to that tab, rename the tab called X): the change
is a function of what the file says, applied to what it says now. That is what makes
them safe against each other and against a hand edit:

- one edit at a time, across threads *and* processes (a dashboard with several
  workers, ``aggregator add`` in a terminal): an exclusive ``flock`` on the file's
  folder is held from the read to the rename, so no edit works on a stale copy;
- an editor does not take our lock, so just before the rename the file is read
  again: if it is not byte for byte what the edit started from, the new text is
  thrown away, the file re-read and the change applied again to the person's
  version (a few times at most), never written over it.

Layout: this module holds the operations; ``_writer`` the locked, checked
read-change-write they all go through; ``_roundtrip`` the ruamel machinery that keeps
comment lines where the person wrote them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from aggregator.errors import ConfigError, ConfigProblem, NotFound
from aggregator.models import Config, Contact, MailSource

from . import values
from ._roundtrip import (
    _append,
    _attach_following,
    _delete,
    _delete_key,
    _detach_following,
    _element_tail,
    _eol_comments,
    _get,
    _insert_at,
    _keeping_tail,
    _lines_above,
    _set,
    _split_inner,
)
from ._text import N_, Text, reason
from ._writer import _edit
from .contacts import parse_contacts
from .feeds import REFRESH_RANGE, parse_config
from .yamlfile import fail, problem


class AlreadyFollowed(ConfigError):
    """The feed asked for is already in feeds.yaml (``tab`` says where)."""

    def __init__(self, problems: list[ConfigProblem], url: str, tab: str) -> None:
        self.url = url
        self.tab = tab
        super().__init__(problems)


@dataclass(frozen=True)
class RemovedFeed:
    """What ``restore_feed`` needs to put an unsubscribed feed back where it was.

    Plain values only, so that it pickles and goes through JSON (``to_json`` /
    ``from_json``): the dashboard keeps it for « Annuler ». ``refresh`` is the text
    that was written (``15m``); ``comments`` its end-of-line comments (key: ``url``,
    ``title`` or ``refresh``; text; column); ``lines_above`` how many comment lines were right above it
    (they stay in the file, and go back above it).
    """

    url: str
    tab: str
    tab_index: int
    index: int
    title: str | None = None
    refresh: str | None = None
    comments: tuple[tuple[str, str, int], ...] = ()
    lines_above: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RemovedFeed:
        """The inverse of ``to_json``; ValueError for anything else."""
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise ValueError(f"not a removed feed: {e}") from None
        if not isinstance(raw, dict) or set(raw) != {f.name for f in dataclasses.fields(cls)}:
            raise ValueError("not a removed feed")
        for name in ("url", "tab"):
            if not isinstance(raw[name], str) or not raw[name].strip():
                raise ValueError(f"not a removed feed: bad {name}")
        for name in ("tab_index", "index", "lines_above"):
            if type(raw[name]) is not int or raw[name] < 0:
                raise ValueError(f"not a removed feed: bad {name}")
        for name in ("title", "refresh"):
            if raw[name] is not None and not isinstance(raw[name], str):
                raise ValueError(f"not a removed feed: bad {name}")
        comments = raw["comments"]
        if not isinstance(comments, list) or not all(
            isinstance(one, list)
            and len(one) == 3
            and one[0] in ("url", "title", "refresh")
            and isinstance(one[1], str)
            and one[1].startswith("#")
            and "\n" not in one[1]
            and "\r" not in one[1]
            and type(one[2]) is int
            and 0 <= one[2] <= 1000
            for one in comments
        ):
            raise ValueError("not a removed feed: bad comments")
        raw["comments"] = tuple((key, text, column) for key, text, column in comments)
        return cls(**raw)


# --- feeds -------------------------------------------------------------------------


def add_feed(
    path: str | Path,
    tab: str,
    url: str,
    title: str | None = None,
    *,
    refresh: str | None = None,
    create_tab: bool = True,
) -> Config:
    """Append a feed to ``tab`` (created at the end if missing, unless ``create_tab``
    is false: NotFound). AlreadyFollowed if the URL is in the file. Returns the new Config."""
    return add_feeds(path, [(tab, url, title)], refresh=refresh, create_tab=create_tab)


def add_feeds(
    path: str | Path,
    items: Iterable[tuple[str, str, str | None]],
    *,
    refresh: str | None = None,
    create_tab: bool = True,
    skip_followed: bool = False,
) -> Config:
    """Append several ``(tab, url, title)`` feeds in one validated atomic write.

    Same rules as ``add_feed`` for each item, in order (an OPML import of 500 feeds is
    one read, one validation and one rename instead of 500). All or nothing: if one
    is already followed (AlreadyFollowed) or the result is invalid, nothing is
    written; with ``skip_followed`` the ones already followed are left out instead.
    """
    file = str(path)
    refresh = _checked_refresh(file, refresh)
    cleaned = []
    for tab, url, title in items:
        cleaned.append((_checked_tab_name(file, tab), url.strip(), _checked_title(file, title)))

    def change(data: Any) -> Any:
        if data is None:
            data = CommentedMap()
        for tab, url, title in cleaned:
            found = _locate(data, url)
            if found is not None:
                if skip_followed:
                    continue
                raise _already(file, data, url, found)
            item: Any = url
            if title or refresh:
                item = CommentedMap([("url", url)])
                if title:
                    item["title"] = title
                if refresh:
                    item["refresh"] = refresh
            _insert_feed(data, tab, item, create_tab=create_tab, file=file)
        return data

    return _edit(path, parse_config, change)


def rename_feed(path: str | Path, url: str, title: str | None) -> Config:
    """Set the feed's title; None or blank removes the ``title:`` key (the feed's own
    title is shown again). NotFound if the URL is not in the file."""
    return _set_feed_key(path, url, "title", _checked_title(str(path), title))


def set_feed_refresh(path: str | Path, url: str, refresh: str | None) -> Config:
    """Set how often the feed is polled (``15m``, ``2h``...), checked like the loader
    does; None or blank removes the key (the ``settings:`` refresh applies)."""
    return _set_feed_key(path, url, "refresh", _checked_refresh(str(path), refresh))


def move_feed(path: str | Path, url: str, tab: str, *, create_tab: bool = True) -> Config:
    """Move the feed to the end of ``tab`` (created if missing, unless ``create_tab``
    is false: NotFound). Its title, refresh and comments go with it."""
    file = str(path)
    tab = _checked_tab_name(file, tab)

    def change(data: Any) -> Any:
        found = _locate(data, url)
        if found is None:
            raise NotFound(f"no feed {url!r} in {path}")
        tab_index, _, _ = found
        if _same_name(_tabs(data)[tab_index], tab):
            return data
        if not create_tab and _tab_index(data, tab) is None:
            raise NotFound(f"no tab {tab!r} in {path}")
        item, eol = _take(data, found)
        _insert_feed(data, tab, item, eol=eol, file=file)
        return data

    return _edit(path, parse_config, change)


def remove_feed(path: str | Path, url: str) -> RemovedFeed:
    """Remove the feed with this URL (compared after normalisation). NotFound if absent.

    Returns what ``restore_feed`` needs to undo it."""
    removed: list[RemovedFeed] = []

    def change(data: Any) -> Any:
        removed.clear()
        found = _locate(data, url)
        if found is None:
            raise NotFound(f"no feed {url!r} in {path}")
        tab_index, tab, index = found
        comments = _eol_comments(tab["feeds"], index)
        above = _lines_above(tab, "feeds", index)
        item, _ = _take(data, found)
        fields = item if isinstance(item, CommentedMap) else {"url": item}
        removed.append(
            RemovedFeed(
                url=url if "mail" in fields else str(fields["url"]).strip(),
                tab=str(tab.get("name")).strip(),
                tab_index=tab_index,
                index=index,
                title=_text(fields.get("title")),
                refresh=_text(fields.get("refresh")),
                comments=comments,
                lines_above=above,
            )
        )
        return data

    _edit(path, parse_config, change)
    return removed[0]


def restore_feed(path: str | Path, removed: RemovedFeed) -> Config:
    """Undo ``remove_feed``: the feed goes back to its tab and place (the tab is
    recreated at its place if it was deleted since), with its title and refresh.
    AlreadyFollowed if it was added again meanwhile."""
    file = str(path)
    refresh = _checked_refresh(file, removed.refresh)
    tab = _checked_tab_name(file, removed.tab)
    title = _checked_title(file, removed.title)
    # Only well-formed end-of-line comments (from_json checks the same).
    eols = {
        key: (text, column)
        for key, text, column in removed.comments
        if text.startswith("#") and "\n" not in text and "\r" not in text
    }

    def change(data: Any) -> Any:
        if data is None:
            data = CommentedMap()
        found = _locate(data, removed.url)
        if found is not None:
            raise _already(file, data, removed.url, found)
        item: Any = removed.url
        mail = _mail_item(removed.url)
        if mail is not None or title or refresh:
            item = mail if mail is not None else CommentedMap([("url", removed.url)])
            if title:
                item["title"] = title
            if refresh:
                item["refresh"] = refresh
            for key in item:
                if key in eols:
                    text, column = eols[key]
                    _set((item, key, 2), CommentToken(text + "\n", CommentMark(column)))
        _insert_feed(
            data,
            tab,
            item,
            eol=None if isinstance(item, CommentedMap) else eols.get("url"),
            index=removed.index,
            tab_index=removed.tab_index,
            keep_above=removed.lines_above,
            file=file,
        )
        return data

    return _edit(path, parse_config, change)


# --- tabs --------------------------------------------------------------------------


def add_tab(path: str | Path, name: str) -> Config:
    """Append an empty tab (written ``feeds: []``). ConfigError if the name is taken."""
    file = str(path)
    name = _checked_tab_name(file, name)

    def change(data: Any) -> Any:
        if data is None:
            data = CommentedMap()
        _new_tab(data, name, file=file)
        return data

    return _edit(path, parse_config, change)


def rename_tab(path: str | Path, old: str, new: str) -> Config:
    """Rename a tab, keeping its place, feeds and comments. NotFound if ``old`` is
    not a tab, ConfigError if ``new`` is another tab's name."""
    file = str(path)
    new = _checked_tab_name(file, new)

    def change(data: Any) -> Any:
        index = _tab_index(data, old)
        if index is None:
            raise NotFound(f"no tab {old!r} in {path}")
        other = _tab_index(data, new)
        if other is not None and other != index:
            raise _tab_taken(file, data, other, new)
        tab = _tabs(data)[index]
        if str(tab.get("name")) != new:
            tab["name"] = new
        return data

    return _edit(path, parse_config, change)


def reorder_tabs(path: str | Path, names: list[str]) -> Config:
    """Put the tabs in this order. ``names`` must name every tab once (case-insensitive);
    otherwise ConfigError (someone added or removed a tab meanwhile: reload).

    The comment lines above a tab move with it; the ones above the first tab and
    after the last one stay at the top and the bottom of the list.
    """
    file = str(path)

    def change(data: Any) -> Any:
        tabs = _tabs(data)
        order: list[int] = []
        for name in names:
            index = _tab_index(data, name)
            if index is None or index in order:
                raise fail(
                    file,
                    N_("the tabs changed meanwhile (%(name)r); reload and try again"),
                    name=name,
                )
            order.append(index)
        if len(order) != len(tabs):
            raise fail(file, N_("the tabs changed meanwhile; reload and try again"))
        if order == sorted(order):
            return data
        _reorder(data, order)
        return data

    return _edit(path, parse_config, change)


def delete_tab(
    path: str | Path, name: str, *, move_feeds_to: str | None = None, drop_feeds: bool = False
) -> Config:
    """Delete a tab. If it holds feeds, say where they go: ``move_feeds_to`` another
    tab (created if missing; appended there in their order) or ``drop_feeds=True``
    (unsubscribed); otherwise ConfigError and nothing is written."""
    file = str(path)
    target = None if move_feeds_to is None else _checked_tab_name(file, move_feeds_to)

    def change(data: Any) -> Any:
        index = _tab_index(data, name)
        if index is None:
            raise NotFound(f"no tab {name!r} in {path}")
        tab = _tabs(data)[index]
        feeds = tab.get("feeds")
        count = len(feeds) if isinstance(feeds, CommentedSeq) else 0
        if target is not None and _same_name(tab, target):
            raise fail(file, N_("cannot move the feeds of the tab %(name)r into itself"), name=name)
        if count and target is not None:
            while tab.get("feeds"):
                item, eol = _take(data, (index, tab, 0))
                _insert_feed(data, target, item, eol=eol, file=file)
                index = _tab_index(data, name)  # a new tab is appended: ours stays put
                assert index is not None
        elif count and not drop_feeds:
            line, col = _position(_tabs(data), index)
            if count == 1:
                holds = N_(
                    "the tab %(name)r holds %(count)s feed:"
                    " say which tab they go to, or that they are unsubscribed"
                )
            else:
                holds = N_(
                    "the tab %(name)r holds %(count)s feeds:"
                    " say which tab they go to, or that they are unsubscribed"
                )
            raise fail(file, holds, line, col, name=name, count=count)
        _drop_inner_comments(_tabs(data), index)
        _delete(data, "tabs", index)
        return data

    return _edit(path, parse_config, change)


def _drop_inner_comments(tabs: CommentedSeq, index: int) -> None:
    """The comment lines after a tab's last line that are indented inside it were
    about its feeds: they go with the tab. The ones at the tabs' level are about
    the next tab and stay."""
    _, col = _position(tabs, index)  # where "name:" starts, after "- "
    if col <= 1:
        return
    slot = _element_tail(tabs, index)
    _, kept = _split_inner(_detach_following(slot), col - 1)
    _attach_following(slot, kept)


# --- finding things in the round-trip data -----------------------------------------


def _tabs(data: Any) -> CommentedSeq:
    tabs = data.get("tabs") if isinstance(data, CommentedMap) else None
    return tabs if isinstance(tabs, CommentedSeq) else CommentedSeq()


def _tab_index(data: Any, name: str) -> int | None:
    return next((i for i, t in enumerate(_tabs(data)) if _same_name(t, name)), None)


def _feed_url(item: Any) -> str | None:
    url = item.get("url") if isinstance(item, CommentedMap) else item
    return url if isinstance(url, str) else None


Found = tuple[int, CommentedMap, int]  # (tab index, tab, index in its feeds)


def _locate(data: Any, url: str) -> Found | None:
    source = MailSource.from_key(url)
    if source is not None:
        return _locate_mail(data, source)
    wanted = values.normalize_url(url)
    for tab_index, tab in enumerate(_tabs(data)):
        feeds = tab.get("feeds") if isinstance(tab, CommentedMap) else None
        if not isinstance(feeds, CommentedSeq):
            continue
        for index, item in enumerate(feeds):
            item_url = _feed_url(item)
            if item_url is not None and values.normalize_url(item_url) == wanted:
                return tab_index, tab, index
    return None


# --- mail sources (issue 12): '- mail: FOLDER' items, named by their imap:// key ----


def _mail_source(item: Any) -> MailSource | None:
    """The source a ``mail:`` item stands for, read as ``config.feeds`` reads it."""
    if not isinstance(item, CommentedMap) or not isinstance(item.get("mail"), str):
        return None
    raw = item.get("from")
    raws = list(raw) if isinstance(raw, CommentedSeq) else [] if raw is None else [raw]
    senders = tuple(dict.fromkeys(str(s).strip().lower() for s in raws))
    split = str(item.get("split") or "").strip().lower() == "links"
    return MailSource(folder=item["mail"].strip(), senders=senders, split=split)


def _locate_mail(data: Any, source: MailSource) -> Found | None:
    for tab_index, tab in enumerate(_tabs(data)):
        feeds = tab.get("feeds") if isinstance(tab, CommentedMap) else None
        if not isinstance(feeds, CommentedSeq):
            continue
        for index, item in enumerate(feeds):
            if _mail_source(item) == source:
                return tab_index, tab, index
    return None


def _mail_item(key: str) -> CommentedMap | None:
    """The ``mail:`` item that ``key`` names (to put a removed one back)."""
    source = MailSource.from_key(key)
    if source is None:
        return None
    item = CommentedMap([("mail", source.folder)])
    if source.senders:
        senders = CommentedSeq(source.senders)
        senders.fa.set_flow_style()
        item["from"] = senders
    if source.split:
        item["split"] = "links"
    return item


def _position(seq: CommentedSeq, index: int) -> tuple[int, int]:
    """1-based line and column of ``seq[index]`` as read from the file."""
    try:
        line, col = seq.lc.item(index)
    except (KeyError, TypeError, AttributeError):
        return 1, 1
    return line + 1, col + 1


def _already(file: str, data: Any, url: str, found: Found) -> AlreadyFollowed:
    tab_index, tab, index = found
    name = str(tab.get("name")).strip()
    line, col = _position(tab["feeds"], index)
    said = Text(
        N_(
            "the feed '%(url)s' is already followed in the tab '%(tab)s' (line %(line)s);"
            " it would be listed twice"
        ),
        url=url.strip(),
        tab=name,
        line=line,
    )
    return AlreadyFollowed([problem(file, line, col, said)], url.strip(), name)


def _tab_taken(file: str, data: Any, index: int, name: str) -> ConfigError:
    line, col = _position(_tabs(data), index)
    return fail(
        file,
        N_("there is already a tab named '%(name)s' (line %(line)s)"),
        line,
        col,
        name=name,
        line=line,
    )


def _clean(text: str | None) -> str | None:
    return (text.strip() or None) if text else None


def _text(value: Any) -> str | None:
    return None if value is None else (str(value).strip() or None)


def _checked_tab_name(file: str, name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise fail(file, N_("the tab name is empty"))
    if "\n" in name or "\r" in name:
        raise fail(file, N_("name: must fit on one line"))
    return name


def _checked_title(file: str, title: str | None) -> str | None:
    # Checked before writing: the loader's message would point into a file that is
    # never written.
    title = _clean(title)
    if title is not None and ("\n" in title or "\r" in title):
        raise fail(file, N_("title: must fit on one line"))
    return title


def _checked_refresh(file: str, refresh: str | None) -> str | None:
    refresh = _clean(refresh)
    if refresh is None:
        return None
    try:
        values.check_duration_range(values.parse_duration(refresh), *REFRESH_RANGE, refresh)
    except ValueError as e:
        raise fail(file, N_("%(label)s: %(problem)s"), label="refresh", problem=reason(e)) from None
    return refresh


# --- changing the round-trip data --------------------------------------------------


def _set_feed_key(path: str | Path, url: str, key: str, value: str | None) -> Config:
    def change(data: Any) -> Any:
        found = _locate(data, url)
        if found is None:
            raise NotFound(f"no feed {url!r} in {path}")
        _, tab, index = found
        feeds = tab["feeds"]
        item = feeds[index]
        if not isinstance(item, CommentedMap):
            if value is None:
                return data
            item = _as_mapping(feeds, index)
        if value is None:
            if key in item:
                _delete_key(item, key)
        elif key in item:
            if _text(item[key]) != value:
                item[key] = value
        else:
            with _keeping_tail(item):
                item[key] = value
        return data

    return _edit(path, parse_config, change)


def _as_mapping(feeds: CommentedSeq, index: int) -> CommentedMap:
    """Turn the plain ``- URL`` item into ``- url: URL``, comments kept."""
    token = _get((feeds, index, 0))
    if token is not None:
        _set((feeds, index, 0), None)
    item = CommentedMap([("url", feeds[index])])
    feeds[index] = item
    if token is not None:
        _set((item, "url", 2), token)
    return item


def _take(data: Any, found: Found) -> tuple[Any, tuple[str, int] | None]:
    """Remove a feed from its tab; returns the item and, for a plain URL, its
    end-of-line comment and column (a mapping carries its own comments)."""
    _, tab, index = found
    feeds = tab["feeds"]
    item = feeds[index]
    eol = None
    if not isinstance(item, CommentedMap):
        eol = next(((text, column) for _, text, column in _eol_comments(feeds, index)), None)
    _delete(tab, "feeds", index)
    return item, eol


def _new_tab(data: CommentedMap, name: str, *, file: str, index: int | None = None) -> CommentedMap:
    existing = _tab_index(data, name)
    if existing is not None:
        raise _tab_taken(file, data, existing, name)
    empty = CommentedSeq()
    empty.fa.set_flow_style()  # "feeds: []": no feed here on purpose (see says_no_feeds)
    tab = CommentedMap([("name", name), ("feeds", empty)])
    with _keeping_tail(data):
        tabs = data.get("tabs")
        if not isinstance(tabs, CommentedSeq):
            data["tabs"] = tabs = CommentedSeq()
        if index is None or index >= len(tabs):
            _append(tabs, tab)
        else:
            _insert_at(data, "tabs", index, tab)
    return tab


def _insert_feed(
    data: CommentedMap,
    tab_name: str,
    item: Any,
    *,
    file: str,
    eol: tuple[str, int] | None = None,
    index: int | None = None,
    tab_index: int | None = None,
    keep_above: int | None = None,
    create_tab: bool = True,
) -> None:
    """Put a feed item in a tab, at ``index`` or at the end; the tab is created (at
    ``tab_index`` or at the end) if missing. ``keep_above`` (an undo): that many of
    the comment lines before the place stay above the item, even at the end."""
    position = _tab_index(data, tab_name)
    if position is None:
        if not create_tab:
            raise NotFound(f"no tab {tab_name!r} in {file}")
        _new_tab(data, tab_name, file=file, index=tab_index)
        position = _tab_index(data, tab_name)
        assert position is not None
    tabs = _tabs(data)
    target = tabs[position]
    # Nested on purpose: each level keeps the comment lines that follow it.
    keepers = [_keeping_tail(data), _keeping_tail(tabs), _keeping_tail(target)]
    with keepers[0], keepers[1], keepers[2]:
        feeds = target.get("feeds")
        if not isinstance(feeds, CommentedSeq):
            target["feeds"] = feeds = CommentedSeq()
        if not feeds:  # "feeds: []" becomes a block list; a written flow list stays
            feeds.fa.set_block_style()
        if index is None or index >= len(feeds):
            index = len(feeds)
            if keep_above and feeds:
                # Detached by the _keeping_tail above: the lines that followed the
                # last feed; the first ones were above the feed put back.
                keeper = next(k for k in reversed(keepers) if k.following)
                lines = keeper.following.splitlines(keepends=True)
                feeds.append(item)
                _attach_following(_element_tail(feeds, index - 1), "".join(lines[:keep_above]))
                keeper.following = "".join(lines[keep_above:])
            else:
                feeds.append(item)
        else:
            _insert_at(target, "feeds", index, item, keep_above or 0)
    if eol and not isinstance(item, CommentedMap) and not feeds.fa.flow_style():
        text, column = eol
        token = _get((feeds, index, 0))
        if token is None:
            _set((feeds, index, 0), CommentToken(text + "\n", CommentMark(column)))
        elif not token.value.startswith("#"):
            _set((feeds, index, 0), CommentToken(text + token.value, CommentMark(column)))


def _reorder(data: CommentedMap, order: list[int]) -> None:
    """Put ``data['tabs']`` in ``order`` (old indexes), each tab's comment lines with it.

    ruamel keeps the lines after a tab's last line on that line: the ones indented
    inside the tab are about it, the ones at the tabs' level are about the next tab
    (or, after the last tab, the end of the file)."""
    tabs = _tabs(data)
    count = len(tabs)
    _, col = _position(tabs, 0)
    inner, outer = [], []
    for i in range(count):
        mine, after = _split_inner(_detach_following(_element_tail(tabs, i)), col - 1)
        inner.append(mine)
        outer.append(after)
    above = [""] + outer[:-1]
    end = outer[-1]
    items = [tabs[i] for i in order]
    # ruamel keys comments of list items by index: clear them, reattach below. After
    # a flow value (``feeds: []``) it keeps the next lines before the next item.
    before = [(tabs.ca.items.pop(i, None) or [None, None])[1] for i in range(count)]
    tabs[:] = items
    for place, old in enumerate(order):
        if before[old]:
            tabs.ca.items[place] = [None, before[old], None, None]
        after = above[order[place + 1]] if place + 1 < count else end
        _attach_following(_element_tail(tabs, place), inner[old] + after)
    if order[0] != 0 and above[order[0]]:
        # Moved to the top: its lines go under the ones above the whole list.
        entry = data.ca.items.setdefault("tabs", [None, None, None, None])
        while len(entry) < 4:
            entry.append(None)
        head = entry[3] or []
        head.append(CommentToken(above[order[0]], CommentMark(0)))
        entry[3] = head


def save_contact(
    path: str | Path, contact: Contact, original_email: str | None = None
) -> tuple[Contact, ...]:
    """Add ``contact``, or update the one whose address was ``original_email``.

    Updating keeps the comments of that contact and touches only changed values.
    Raises NotFound if ``original_email`` is not in the file, ConfigError if the
    result is invalid (e.g. the new address belongs to another contact).
    """
    try:
        # Checked as given, before YAML could fold some characters (NEL) into others.
        values.check_address(contact.email)
    except ValueError as e:
        raise fail(
            str(path), N_("%(label)s: %(problem)s"), label="email", problem=reason(e)
        ) from None

    def change(data: Any) -> Any:
        if data is None:
            data = CommentedSeq()
        if original_email is None:
            new = CommentedMap([("name", contact.name), ("email", contact.email)])
            new["interests"] = _flow_list(contact.interests)
            new["language"] = contact.language
            _append(data, new)
            return data
        wanted = original_email.strip().casefold()
        for item in data if isinstance(data, CommentedSeq) else ():
            email = item.get("email") if isinstance(item, CommentedMap) else None
            if isinstance(email, str) and email.strip().casefold() == wanted:
                _update_contact(item, contact)
                return data
        raise NotFound(f"no contact with address {original_email!r} in {path}")

    return _edit(path, parse_contacts, change, flat=True)


def _update_contact(item: CommentedMap, contact: Contact) -> None:
    with _keeping_tail(item):
        for key, value in (("name", contact.name), ("email", contact.email)):
            if str(item.get(key, "")).strip() != value:
                item[key] = value
        old = item.get("interests")
        old_words = [str(w).strip() for w in old] if isinstance(old, list) else []
        if old_words != list(contact.interests):
            if isinstance(old, CommentedSeq) and not old.fa.flow_style():
                new = CommentedSeq(contact.interests)
                new.fa.set_block_style()
                item["interests"] = new
            else:
                item["interests"] = _flow_list(contact.interests)
        if str(item.get("language", "fr")).strip().lower() != contact.language:
            item["language"] = contact.language


def _flow_list(words: tuple[str, ...]) -> CommentedSeq:
    seq = CommentedSeq(words)
    seq.fa.set_flow_style()
    return seq


def _same_name(tab: Any, name: str) -> bool:
    if not isinstance(tab, CommentedMap):
        return False
    value = tab.get("name")
    text = str(value).lower() if isinstance(value, bool) else str(value or "")
    return text.strip().casefold() == name.casefold()


__all__ = [
    "AlreadyFollowed",
    "RemovedFeed",
    "add_feed",
    "add_feeds",
    "add_tab",
    "delete_tab",
    "move_feed",
    "remove_feed",
    "rename_feed",
    "rename_tab",
    "reorder_tabs",
    "restore_feed",
    "save_contact",
    "set_feed_refresh",
]
