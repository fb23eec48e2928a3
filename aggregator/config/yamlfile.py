"""Reading the person's YAML safely, with a position for every problem.

This module owns the machinery shared by feeds.yaml and contacts.yaml: decoding,
composing YAML into *nodes* (never Python objects: no tag can construct anything),
the problem collector, small node helpers for the walkers, the atomic writer and the
``YamlSource`` that notices hand edits.

Why nodes instead of ``YAML(typ="safe").load``: nodes carry ``start_mark`` (line and
column) for every key and value, keep duplicate keys visible, and keep the exact text
the person wrote, so a tab named ``no`` stays the word "no" whatever the YAML version.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from aggregator.errors import ConfigError, ConfigProblem

log = logging.getLogger(__name__)

_STD = "tag:yaml.org,2002:"
# The YAML 1.2 core schema plus timestamps (a date typed as a title is still text to
# us). Anything else (!!python/object, !!binary, !custom) is refused, never built.
ALLOWED_TAGS = frozenset(
    _STD + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)

# Extra advice for the parser's terse messages, keyed by a fragment of them.
_SYNTAX_HINTS = (
    ("'\\t'", "indent with spaces, not tabs"),
    ("mapping values are not allowed", "if a value contains ': ', put it in quotes"),
    ("cannot start any token", "a value starting with this character must be put in quotes"),
    ("expected <block end>", "check the indentation of this line: items of one list line up"),
    ("could not find expected ':'", "check the indentation, or put the value in quotes"),
    ("single document", "keep one document per file (remove the extra '---')"),
    ("expected ',' or ']'", "close the list with ']'"),
    ("expected ',' or '}'", "close the mapping with '}'"),
)


class _Invalid:
    """Marker returned by ``convert`` after a problem was reported."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


class Problems:
    """Collects every problem of one file, then raises them together."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._seen: set[ConfigProblem] = set()
        # Nodes under a refused tag: that problem says it all, no "expected a list" too.
        self.refused: set[int] = set()
        self._visited: set[int] = set()

    def add(self, where: Node | Any, message: str) -> None:
        """Report at a node (its start) or a ruamel mark (0-based line/column)."""
        if isinstance(where, Node):
            if id(where) in self.refused:
                return
            where = where.start_mark
        self.add_at(where.line + 1, where.column + 1, message)

    def first_visit(self, node: Node) -> bool:
        """False for a node reached again through an alias (already reported)."""
        if id(node) in self._visited:
            return False
        self._visited.add(id(node))
        return True

    def add_at(self, line: int, col: int, message: str) -> None:
        # A set: a node reached twice (through an alias) reports its problems once.
        self._seen.add(ConfigProblem(self.file, line, col, message))

    def __bool__(self) -> bool:
        return bool(self._seen)

    def error(self) -> ConfigError:
        return ConfigError(sorted(self._seen, key=lambda p: (p.line, p.col, p.message)))

    def raise_if_any(self) -> None:
        if self._seen:
            raise self.error()


def fail(file: str, message: str, line: int = 1, col: int = 1) -> ConfigError:
    """A ConfigError with one problem, for file-level trouble (missing, unreadable)."""
    return ConfigError([ConfigProblem(file, line, col, message)])


# --- reading -----------------------------------------------------------------------


def decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise fail(
            file,
            f"this file is not UTF-8 text (byte 0x{data[e.start]:02x}); save it as UTF-8",
            line,
            col,
        ) from e


def _syntax_problem(e: YAMLError, text: str, file: str) -> ConfigError:
    if isinstance(e, ReaderError):
        pos = e.position
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return fail(file, f"character {e.character!r} is not allowed in YAML", line, col)
    if isinstance(e, MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        message = str(e.problem or e.context or "invalid YAML")
        if e.context and e.problem and e.problem.startswith("but "):
            message = f"{e.context}, {e.problem}"
        elif e.context and e.problem:
            where = ""
            if e.context_mark is not None and e.context_mark is not mark:
                where = f" started at line {e.context_mark.line + 1}"
            message = f"{message} ({e.context}{where})"
        for fragment, hint in _SYNTAX_HINTS:
            if fragment in message:
                message += f"; {hint}"
                break
        message = f"invalid YAML: {message}"
        if mark is not None:
            return fail(file, message, mark.line + 1, mark.column + 1)
        return fail(file, message)
    return fail(file, f"invalid YAML: {e}")


def compose(text: str, problems: Problems) -> Node | None:
    """Parse ``text`` into a node tree (``None`` for an empty document).

    A syntax error is fatal and raised at once as a ConfigError with the parser's
    position. Non-standard tags and aliases are reported into ``problems``.
    """
    try:
        # Aliases are refused: they make one value appear in two places, which hides
        # mistakes (the same feed in two tabs) and is the "billion laughs" vector.
        # Only the event stream knows where an alias was written.
        alias_lines = set()
        for event in YAML(typ="rt", pure=True).parse(io.StringIO(text)):
            if isinstance(event, AliasEvent) and event.start_mark.line not in alias_lines:
                alias_lines.add(event.start_mark.line)  # one per line is enough
                problems.add(
                    event.start_mark,
                    f"aliases (*{event.anchor}) are not supported in this file; write the value out in full",
                )
        root = YAML(typ="rt", pure=True).compose(io.StringIO(text))
    except YAMLError as e:
        raise _syntax_problem(e, text, problems.file) from e
    if root is not None:
        _check_tags(root, problems)
    return root


def _check_tags(root: Node, problems: Problems) -> None:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # shared through an alias: already checked
            continue
        seen.add(id(node))
        tag = node.tag or ""
        if tag not in ALLOWED_TAGS and tag != _STD + "merge" and id(node) not in problems.refused:
            shown = "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag
            problems.add(
                node,
                f"the tag '{shown}' is not allowed; this file holds only text, numbers,"
                " true/false, lists and mappings",
            )
            _refuse(node, problems.refused)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def _refuse(root: Node, refused: set[int]) -> None:
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in refused:
            continue
        refused.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


# --- node helpers for the walkers --------------------------------------------------


def is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == _STD + "null")


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping (key: value lines)"
    if isinstance(node, SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing"
    value = str(node.value)
    if len(value) > 60:
        value = value[:57] + "..."
    return f"'{value}'"


def mapping(
    node: MappingNode,
    problems: Problems,
    *,
    what: str,
    known: Iterable[str],
    hints: Mapping[str, str] | None = None,
) -> dict[str, tuple[ScalarNode, Node]]:
    """The known keys of a mapping node -> (key node, value node).

    Reports keys that are not text, duplicate keys (naming both lines) and unknown
    keys (with a suggestion). The first of duplicate keys wins.
    """
    known = tuple(known)
    hints = hints or {}
    out: dict[str, tuple[ScalarNode, Node]] = {}
    first_line: dict[str, int] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or is_null(key):
            problems.add(key, f"a {what} key must be a plain word, got {describe(key)}")
            continue
        name = str(key.value)
        if is_null(value) and value.value in ("", None):
            # An empty value has no text of its own: ruamel places it at the next
            # token, often on the next line. Point at the key instead.
            value.start_mark = key.start_mark
        if name in first_line:
            problems.add(
                key,
                f"duplicate key '{name}' (first at line {first_line[name]}); keep only one of them",
            )
            continue
        first_line[name] = key.start_mark.line + 1
        if name in known:
            out[name] = (key, value)
        elif name in hints:
            problems.add(key, f"'{name}' is not a {what} key; {hints[name]}")
        else:
            close = difflib.get_close_matches(name, known, n=1)
            if not close:
                close = difflib.get_close_matches(name.lower(), known, n=1)
            if close:
                advice = f"did you mean '{close[0]}'?"
            else:
                advice = "expected one of: " + ", ".join(known)
            problems.add(key, f"'{name}' is not a {what} key ({advice})")
    return out


def convert(problems: Problems, node: Node, fn: Callable[[Node], Any], label: str | None) -> Any:
    """``fn(node)``; a ValueError becomes a problem at the node and returns INVALID."""
    try:
        return fn(node)
    except ValueError as e:
        problems.add(node, f"{label}: {e}" if label else str(e))
        return INVALID


def scalar(node: Node, expected: str) -> str:
    """The text as written; raises ValueError for lists, mappings and empty values."""
    if isinstance(node, ScalarNode) and not is_null(node):
        return str(node.value)
    raise ValueError(f"expected {expected}, got {describe(node)}")


def text_or_none(node: Node) -> str | None:
    """Optional one-line text; the empty value and '' mean "not set"."""
    if is_null(node):
        return None
    value = scalar(node, "text").strip()
    if "\n" in value or "\r" in value:
        raise ValueError("must fit on one line")
    return value or None


# --- writing -----------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    Temp file in the same folder (os.replace is atomic only within one file system),
    fsync before the rename, then fsync the folder so the rename itself is durable.
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not every platform can open a directory
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --- watching a file ---------------------------------------------------------------

T = TypeVar("T")

# File systems store mtimes with a resolution between 1 ns and 2 s (FAT). A file whose
# mtime is this close to the moment we read it may be written again without its
# (mtime, size) changing: git calls this "racily clean" (Documentation/technical/racy-git.txt)
# and so do we. Such a file is hashed again on the next refresh.
RACY_WINDOW_NS = 2_000_000_000


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class YamlSource(Generic[T]):
    """The last good value parsed from one YAML file, re-read when the file changes.

    Subclasses define ``parse(text) -> T`` and ``missing() -> T`` (what a missing
    file means; raise ConfigError if it is an error). The file is read once at
    construction; call ``refresh()`` periodically. Thread-safe.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: ConfigError | None = None
        self._stamp: tuple[int, int, int, int] | None = None
        self._digest: bytes | None = None
        self._racy = True
        self._had_content = False
        self.refresh()

    #: Said when a file that had content is found empty (see ``refresh``).
    empty_advice = "write what it should hold"

    def parse(self, text: str) -> T:
        raise NotImplementedError

    def missing(self) -> T:
        raise NotImplementedError

    @property
    def value(self) -> T | None:
        """The last good value, or None if the file was never valid."""
        return self._value

    @property
    def error(self) -> ConfigError | None:
        """Why the file on disk cannot be used right now (None when it is fine)."""
        return self._error

    def require(self) -> T:
        """The last good value; raises the current error if there never was one."""
        value, error = self._value, self._error
        if value is None:
            raise error or fail(str(self.path), "not loaded")
        return value

    def refresh(self) -> bool:
        """Re-read the file if it changed. True when a new good value was loaded."""
        with self._lock:
            try:
                stamp = _stamp(self.path)
                if stamp == self._stamp and self._digest is not None and not self._racy:
                    return False
                data = None if stamp is None else self.path.read_bytes()
                if data is not None and _stamp(self.path) != stamp:
                    # Changed while we read it: an editor saving in place. Next time.
                    self._digest = None
                    return False
            except FileNotFoundError:
                stamp, data = None, None
            except OSError as e:
                return self._failed(fail(str(self.path), f"cannot read: {e.strerror}"), retry=True)
            self._stamp = stamp
            self._racy = stamp is not None and time.time_ns() - stamp[2] < RACY_WINDOW_NS
            digest = b"missing" if data is None else hashlib.sha256(data).digest()
            if digest == self._digest:
                return False
            self._digest = digest
            if data is not None and not data.strip() and self._had_content:
                # Most likely caught between an editor's truncate and write: loading it
                # would briefly drop every feed. A deliberate "nothing" is written out.
                return self._failed(fail(str(self.path), f"the file is empty; {self.empty_advice}"))
            try:
                value = self.missing() if data is None else self.parse(decode(data, str(self.path)))
            except ConfigError as e:
                return self._failed(e)
            self._value, self._error = value, None
            self._had_content = bool(data and data.strip())
            log.info("loaded %s", self.summary(value))
            return True

    def summary(self, value: T) -> str:
        return str(self.path)

    def _failed(self, error: ConfigError, *, retry: bool = False) -> bool:
        if retry:  # an unreadable file: try again next time even if unchanged
            self._digest = None
        if self._error is None or str(self._error) != str(error):
            log.warning("%s is invalid, keeping the last good version:\n%s", self.path, error)
        self._error = error
        return False
