"""ruamel round-trip machinery for the edits: a YAML that writes the file back as the
person laid it out, and the primitives that insert and delete list items and keys
without moving or dropping the comment lines around them.

ruamel attaches a comment line to the element *before* it, so inserting after the
last element or deleting an element would move or drop the comments around it. The
``_tail`` helpers keep comment lines where the person wrote them (ruamel keeps a
comment in the ``.ca`` attribute of the collection holding the preceding node).
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.tokens import CommentToken


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


# --- inserting and deleting, comments kept -------------------------------------


def _insert_at(parent: CommentedMap, key: str, index: int, item: Any, keep_above: int = 0) -> None:
    """Insert before ``parent[key][index]`` (or append, ``index == len``).

    The comment lines between the previous element and the new one stay right above
    the element that follows (they are about it), below the new one; except the
    first ``keep_above`` of them, which stay above the new one (an undo puts back the
    lines that were about it). Lines above the first element stay at the top.
    """
    seq = parent[key]
    if index == 0:
        entry = parent.ca.items.get(key)
        head = entry[3] if entry and len(entry) > 3 and entry[3] else None
        lines = _head_text(head).splitlines(keepends=True) if head else []
        seq.insert(0, item)
        if head and keep_above < len(lines):
            assert entry is not None
            above = "".join(lines[:keep_above])
            entry[3] = [CommentToken(above, CommentMark(0))] if above else None
            if seq.ca.comment and len(seq.ca.comment) > 1:
                seq.ca.comment[1] = None
            _attach_following(_element_tail(seq, 0), "".join(lines[keep_above:]))
        return
    previous = _element_tail(seq, index - 1)
    lines = _detach_following(previous).splitlines(keepends=True)
    _attach_following(previous, "".join(lines[:keep_above]))
    seq.insert(index, item)
    _attach_following(_element_tail(seq, index), "".join(lines[keep_above:]))


def _lines_above(parent: CommentedMap, key: str, index: int) -> int:
    """How many comment lines are right above ``parent[key][index]``."""
    seq = parent[key]
    if index == 0:
        entry = parent.ca.items.get(key)
        head = entry[3] if entry and len(entry) > 3 and entry[3] else None
        return len(_head_text(head).splitlines()) if head else 0
    token = _get(_element_tail(seq, index - 1))
    if token is None:
        return 0
    text = token.value
    text = text.partition("\n")[2] if text.startswith("#") else text.removeprefix("\n")
    return len(text.splitlines())


def _eol_comments(seq: CommentedSeq, index: int) -> tuple[tuple[str, str, int], ...]:
    """The end-of-line comments of the item ``seq[index]``: (key, text, column), by
    key (``url`` for a plain item)."""
    item = seq[index]
    slots = (
        [(key, (item, key, 2)) for key in item]
        if isinstance(item, CommentedMap)
        else [("url", (seq, index, 0))]
    )
    found = []
    for key, slot in slots:
        token = _get(slot)
        if token is not None and token.value.startswith("#"):
            text = token.value.partition("\n")[0].rstrip()
            found.append((str(key), text, int(token.column or 0)))
    return tuple(found)


def _delete_key(item: CommentedMap, key: str) -> None:
    """Delete one key of a block mapping; the comment lines after it stay in place."""
    keys = list(item)
    position = keys.index(key)
    following = _detach_following(_element_tail(item, key))
    del item[key]
    if position > 0:
        _attach_following(_element_tail(item, keys[position - 1]), following)
    elif item:
        _attach_following(_element_tail(item, next(iter(item))), following)


def _split_inner(following: str, col: int) -> tuple[str, str]:
    """(the first comment lines indented at least ``col - 1``, the rest)."""
    lines = following.splitlines(keepends=True)
    cut = 0
    while cut < len(lines):
        line = lines[cut]
        if not line.strip() or len(line) - len(line.lstrip(" ")) < col - 1:
            break
        cut += 1
    return "".join(lines[:cut]), "".join(lines[cut:])
