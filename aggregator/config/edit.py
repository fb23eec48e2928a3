"""Round-trip edits of feeds.yaml and contacts.yaml, for the dashboard.

Each edit reads the file in ruamel's round-trip mode (comments, order, quotes and
indentation kept), changes one thing, re-validates the new text with the same
loader as a hand edit, and only then replaces the file atomically. An edit that
would make the file invalid raises ConfigError and leaves the file untouched; so does
an edit of a file that is already invalid (fix it by hand first).

ruamel attaches a comment line to the element *before* it, so inserting after the
last element or deleting an element would move or drop the comments around it. The
``_tail`` helpers below keep comment lines where the person wrote them (ruamel keeps
a comment in the ``.ca`` attribute of the collection holding the preceding node).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.tokens import CommentToken

from aggregator.errors import NotFound
from aggregator.models import Config, Contact

from . import values
from .contacts import parse_contacts
from .feeds import parse_config
from .yamlfile import Problems, atomic_write, compose, decode, fail

T = TypeVar("T")

# One writer at a time in this process: two dashboard requests must not both read
# the old file and each write their own change over the other's.
_write_lock = threading.Lock()


def add_feed(path: str | Path, tab: str, url: str, title: str | None = None) -> Config:
    """Append a feed to ``tab`` (created at the end if missing). Returns the new Config."""
    return add_feeds(path, [(tab, url, title)])


def add_feeds(path: str | Path, items: Iterable[tuple[str, str, str | None]]) -> Config:
    """Append several ``(tab, url, title)`` feeds in one validated atomic write.

    Same rules as ``add_feed`` for each item, in order (an OPML import of 500 feeds is
    one read, one validation and one rename instead of 500). All or nothing: if the
    result is invalid (e.g. a URL already in the file) nothing is written.
    """
    cleaned = []
    for tab, url, title in items:
        title = title.strip() if title else None
        cleaned.append((tab.strip(), url.strip(), title or None))

    def change(data: Any) -> Any:
        if data is None:
            data = CommentedMap()
        for tab, url, title in cleaned:
            _add_one(data, tab, url, title)
        return data

    return _edit(path, parse_config, change)


def _add_one(data: CommentedMap, tab: str, url: str, title: str | None) -> None:
    item: Any = url
    if title:
        item = CommentedMap([("url", url), ("title", title)])
    # Nested on purpose: each level keeps the comment lines that follow it.
    with _keeping_tail(data):
        tabs = data.get("tabs")
        if not isinstance(tabs, CommentedSeq):
            data["tabs"] = tabs = CommentedSeq()
        target = next((t for t in tabs if _same_name(t, tab)), None)
        if target is None:
            _append(tabs, CommentedMap([("name", tab), ("feeds", CommentedSeq([item]))]))
            return
        with _keeping_tail(tabs), _keeping_tail(target):
            feeds = target.get("feeds")
            if not isinstance(feeds, CommentedSeq):
                target["feeds"] = feeds = CommentedSeq()
            if not feeds:  # "feeds: []" becomes a block list; a written flow list stays
                feeds.fa.set_block_style()
            feeds.append(item)


def remove_feed(path: str | Path, url: str) -> Config:
    """Remove the feed with this URL (compared after normalisation). NotFound if absent."""
    wanted = values.normalize_url(url)

    def change(data: Any) -> Any:
        for tab in (data or {}).get("tabs") or ():
            feeds = tab.get("feeds") if isinstance(tab, CommentedMap) else None
            if not isinstance(feeds, CommentedSeq):
                continue
            for index, item in enumerate(feeds):
                item_url = item.get("url") if isinstance(item, CommentedMap) else item
                if isinstance(item_url, str) and values.normalize_url(item_url) == wanted:
                    _delete(tab, "feeds", index)
                    return data
        raise NotFound(f"no feed {url!r} in {path}")

    return _edit(path, parse_config, change)


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
        raise fail(str(path), f"email: {e}") from None

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


# --- read, change, validate, write -------------------------------------------------


def _edit(
    path: str | Path,
    validate: Callable[[str, str], T],
    change: Callable[[Any], Any],
    *,
    flat: bool = False,
) -> T:
    path = Path(path)
    file = str(path)
    with _write_lock:
        try:
            text = decode(path.read_bytes(), file)
        except FileNotFoundError:
            text = ""
        validate(text, file)  # refuse to edit a file that is already invalid
        yaml = _round_trip(compose(text, Problems(file)), flat=flat)
        data = change(yaml.load(text))
        out = io.StringIO()
        yaml.dump(data, out)
        new_text = out.getvalue()
        if "\r\n" in text:  # ruamel writes "\n"; keep a Windows file's line endings
            new_text = new_text.replace("\r\n", "\n").replace("\n", "\r\n")
        result = validate(new_text, file)
        atomic_write(path, new_text)
        return result


def _round_trip(root: Node | None, *, flat: bool = False) -> YAML:
    """A round-trip YAML whose indentation matches what the file already uses.

    ruamel has one global indentation setting; we take it from the first block
    mapping and the first block list found (breadth first). Otherwise: lists
    indented under their key ("  - "), or ``flat`` at column 0 for a file that is
    a top-level list (contacts.yaml).
    """
    mapping_indent = sequence_indent = offset = None
    queue: list[tuple[Node, int]] = [(root, 0)] if root is not None else []
    while queue and (mapping_indent is None or sequence_indent is None):
        node, parent_col = queue.pop(0)
        if isinstance(node, SequenceNode):
            if not node.flow_style and node.value and sequence_indent is None:
                dash = node.start_mark.column
                offset = dash - parent_col
                sequence_indent = node.value[0].start_mark.column - parent_col
            queue.extend((item, node.value[0].start_mark.column) for item in node.value)
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                if (
                    isinstance(value, MappingNode)
                    and not value.flow_style
                    and value.value
                    and mapping_indent is None
                    and value.start_mark.line > key.start_mark.line
                ):
                    mapping_indent = value.value[0][0].start_mark.column - key.start_mark.column
                queue.append((value, key.start_mark.column))
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long URL or title onto two lines
    if sequence_indent is None or sequence_indent <= (offset or 0):
        sequence_indent, offset = (2, 0) if flat else (4, 2)
    yaml.indent(mapping=mapping_indent or 2, sequence=sequence_indent, offset=offset or 0)
    return yaml


# --- keeping comment lines where they were -----------------------------------------

Slot = tuple[Any, Any, int]  # (container, key or index, position in its ca.items entry)


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, CommentedMap | CommentedSeq) and bool(value) and not value.fa.flow_style()
    )


def _tail(container: Any) -> Slot | None:
    """Where ruamel keeps the comment lines that follow ``container``'s last line."""
    if not _is_block(container):
        return None
    key = next(reversed(container)) if isinstance(container, CommentedMap) else len(container) - 1
    return _element_tail(container, key)


def _element_tail(container: Any, key: Any) -> Slot:
    value = container[key]
    if _is_block(value):
        inner = _tail(value)
        assert inner is not None
        return inner
    return (container, key, 2 if isinstance(container, CommentedMap) else 0)


def _get(slot: Slot) -> CommentToken | None:
    container, key, pos = slot
    entry = container.ca.items.get(key)
    return entry[pos] if entry and len(entry) > pos else None


def _set(slot: Slot, token: CommentToken | None) -> None:
    container, key, pos = slot
    entry = container.ca.items.setdefault(key, [None, None, None, None])
    while len(entry) <= pos:
        entry.append(None)
    entry[pos] = token


def _detach_following(slot: Slot | None) -> str:
    """Remove and return the comment lines after the element; keep its end-of-line comment."""
    token = _get(slot) if slot else None
    if token is None:
        return ""
    text = token.value
    if text.startswith("#"):  # an end-of-line comment comes first
        eol, _, following = text.partition("\n")
        token.value = eol + "\n"
        return following
    _set(slot, None)  # type: ignore[arg-type]
    return text[1:] if text.startswith("\n") else text


def _attach_following(slot: Slot | None, following: str) -> None:
    if not following or slot is None:
        return
    token = _get(slot)
    if token is not None:
        token.value = token.value + following
    else:
        _set(slot, CommentToken("\n" + following, CommentMark(0)))


def _append(seq: CommentedSeq, item: Any) -> None:
    """Append a tab or a contact, separated by a blank line if the others are."""
    blank = any(
        (token := _get(_element_tail(seq, i))) is not None and "\n\n" in token.value
        for i in range(len(seq) - 1)
    )
    with _keeping_tail(seq):
        seq.fa.set_block_style()
        seq.append(item)
    if blank and len(seq) > 1:
        _attach_following(_element_tail(seq, len(seq) - 2), "\n")


class _keeping_tail:
    """Around a change at the end of ``container``: comment lines that followed its
    last line still follow its (new) last line, instead of landing above the new
    element."""

    def __init__(self, container: Any) -> None:
        self.container = container

    def __enter__(self) -> None:
        self.following = _detach_following(_tail(self.container))

    def __exit__(self, *exc: object) -> None:
        _attach_following(_tail(self.container), self.following)


def _head_text(tokens: list[CommentToken]) -> str:
    # Head comments are one token per line, their indentation kept as a column.
    return "".join(
        t.value if t.value.startswith("\n") else " " * (t.column or 0) + t.value for t in tokens
    )


def _delete(parent: CommentedMap, key: str, index: int) -> None:
    """Delete ``parent[key][index]``, dropping its end-of-line comment only."""
    seq = parent[key]
    following = _detach_following(_element_tail(seq, index))
    del seq[index]
    if index > 0:
        _attach_following(_element_tail(seq, index - 1), following)
    elif seq:
        # The lines were above the new first item: they become the list's head comment.
        head = seq.ca.comment
        if head is None:
            seq.ca.comment = head = [None, []]
        if head[1] is None:
            head[1] = []
        head[1].append(CommentToken(following, CommentMark(0)))
    else:
        # Now empty: written "[]" on the key's line. ruamel cannot place comment lines
        # inside an empty list, so the ones that were above the item go below it.
        head = seq.ca.comment[1] if seq.ca.comment and seq.ca.comment[1] else []
        entry = parent.ca.items.get(key)
        if entry and len(entry) > 3:
            entry[3] = None
        parent[key] = CommentedSeq()
        _attach_following((parent, key, 2), _head_text(head) + following)
