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

from ._text import N_, English, Invalid, Text, as_text, reason

log = logging.getLogger(__name__)

_STD = "tag:yaml.org,2002:"
# The YAML 1.2 core schema plus timestamps (a date typed as a title is still text to
# us). Anything else (!!python/object, !!binary, !custom) is refused, never built.
ALLOWED_TAGS = frozenset(
    _STD + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)

# Extra advice for the parser's terse messages, keyed by a fragment of them.
_SYNTAX_HINTS = (
    ("'\\t'", N_("indent with spaces, not tabs")),
    ("mapping values are not allowed", N_("if a value contains ': ', put it in quotes")),
    ("cannot start any token", N_("a value starting with this character must be put in quotes")),
    ("expected <block end>", N_("check the indentation of this line: items of one list line up")),
    ("could not find expected ':'", N_("check the indentation, or put the value in quotes")),
    ("single document", N_("keep one document per file (remove the extra '---')")),
    ("expected ',' or ']'", N_("close the list with ']'")),
    ("expected ',' or '}'", N_("close the mapping with '}'")),
)
# The parser's own sentences the dashboard can say in French (any other stays English).
_PARSER_SENTENCES = {
    "mapping values are not allowed here": N_("mapping values are not allowed here"),
    "found character '\\t' that cannot start any token": N_(
        "found character '\\t' that cannot start any token"
    ),
    "found character '\\t' that cannot start any token (while scanning for the next token)": N_(
        "found character '\\t' that cannot start any token (while scanning for the next token)"
    ),
}


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

    def add(self, where: Node | Any, message: str | Text, /, **params: Any) -> None:
        """Report at a node (its start) or a ruamel mark (0-based line/column).

        ``message`` is a template marked ``N_("... %(key)s ...")`` filled from
        ``params`` (or a Text): English for the CLI, translatable for the dashboard."""
        if isinstance(where, Node):
            if id(where) in self.refused:
                return
            where = where.start_mark
        self.add_at(where.line + 1, where.column + 1, message, **params)

    def first_visit(self, node: Node) -> bool:
        """False for a node reached again through an alias (already reported)."""
        if id(node) in self._visited:
            return False
        self._visited.add(id(node))
        return True

    def add_at(self, line: int, col: int, message: str | Text, /, **params: Any) -> None:
        # A set: a node reached twice (through an alias) reports its problems once.
        self._seen.add(problem(self.file, line, col, as_text(message, **params)))

    def __bool__(self) -> bool:
        return bool(self._seen)

    def error(self) -> ConfigError:
        return ConfigError(sorted(self._seen, key=lambda p: (p.line, p.col, p.message)))

    def raise_if_any(self) -> None:
        if self._seen:
            raise self.error()


def fail(
    file: str, message: str | Text, line: int = 1, col: int = 1, /, **params: Any
) -> ConfigError:
    """A ConfigError with one problem, for file-level trouble (missing, unreadable);
    ``message`` and ``params`` as for ``Problems.add``."""
    return ConfigError([problem(file, line, col, as_text(message, **params))])


def problem(file: str, line: int, col: int, said: Text) -> ConfigProblem:
    """A ConfigProblem whose message is ``said`` in English, keeping ``said`` for the
    dashboard to render in the reader's language."""
    found = ConfigProblem(file, line, col, str(said))
    object.__setattr__(found, "text", said)  # frozen; not an __init__ field (see errors.py)
    return found


# --- reading -----------------------------------------------------------------------


def decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise fail(
            file,
            N_("this file is not UTF-8 text (byte 0x%(byte)02x); save it as UTF-8"),
            line,
            col,
            byte=data[e.start],
        ) from e


def _syntax_problem(e: YAMLError, text: str, file: str) -> ConfigError:
    if isinstance(e, ReaderError):
        pos = e.position
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return fail(
            file, N_("character %(char)r is not allowed in YAML"), line, col, char=e.character
        )
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
        quoted = _quote_advice(text, mark) if "mapping values are not allowed" in message else None
        known = _PARSER_SENTENCES.get(message)
        problem = Text(known) if known else English(message)
        said = Text(N_("invalid YAML: %(problem)s"), problem=problem)
        for fragment, hint in _SYNTAX_HINTS:
            if fragment in message:
                advice = quoted or Text(hint)
                said = Text(
                    N_("invalid YAML: %(problem)s; %(advice)s"), problem=problem, advice=advice
                )
                break
        if mark is not None:
            return fail(file, said, mark.line + 1, mark.column + 1)
        return fail(file, said)
    return fail(file, Text(N_("invalid YAML: %(problem)s"), problem=reason(e)))


def _quote_advice(text: str, mark: Any) -> Text | None:
    """For ``title: Claire : la lettre``: the line as it should be written, the value
    in double quotes (a French title often has a space before its colon)."""
    if mark is None:
        return None
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return None
    line = lines[mark.line]
    body = line.lstrip(" -")
    key, sep, value = body.partition(": ")
    value = value.strip()
    if not sep or not key.strip() or not value or value[0] in "\"'[{" or " #" in value:
        return None
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if key.strip() == "title":
        return Text(N_('put the title in quotes: "%(value)s"'), value=escaped)
    return Text(
        N_("put the value of '%(key)s' in quotes: \"%(value)s\""), key=key.strip(), value=escaped
    )


def source_line(path: str, line: int) -> str | None:
    """Line ``line`` (1-based) of a text file as it is now, for a problem's quote."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for number, text in enumerate(f, 1):
                if number == line:
                    return text.rstrip("\r\n")
    except OSError:
        return None
    return None


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
                    N_(
                        "aliases (*%(anchor)s) are not supported in this file;"
                        " write the value out in full"
                    ),
                    anchor=event.anchor,
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
                N_(
                    "the tag '%(tag)s' is not allowed; this file holds only text, numbers,"
                    " true/false, lists and mappings"
                ),
                tag=shown,
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


def describe(node: Node) -> Text:
    """What was found instead, for "got ..." (a Text: said in the reader's language)."""
    if isinstance(node, MappingNode):
        return Text(N_("a mapping (key: value lines)"))
    if isinstance(node, SequenceNode):
        return Text(N_("a list"))
    if is_null(node):
        return Text(N_("nothing"))
    value = str(node.value)
    if len(value) > 60:
        value = value[:57] + "..."
    return Text("'%(value)s'", value=value)


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
            problems.add(
                key,
                N_("a %(section)s key must be a plain word, got %(found)s"),
                section=what,
                found=describe(key),
            )
            continue
        name = str(key.value)
        if is_null(value) and value.value in ("", None):
            # An empty value has no text of its own: ruamel places it at the next
            # token, often on the next line. Point at the key instead.
            value.start_mark = key.start_mark
        if name in first_line:
            problems.add(
                key,
                N_("duplicate key '%(key)s' (first at line %(line)s); keep only one of them"),
                key=name,
                line=first_line[name],
            )
            continue
        first_line[name] = key.start_mark.line + 1
        if name in known:
            out[name] = (key, value)
        elif name in hints:
            problems.add(
                key,
                N_("'%(key)s' is not a %(section)s key; %(hint)s"),
                key=name,
                section=what,
                hint=as_text(hints[name]),
            )
        else:
            close = difflib.get_close_matches(name, known, n=1)
            if not close:
                close = difflib.get_close_matches(name.lower(), known, n=1)
            if close:
                problems.add(
                    key,
                    N_("'%(key)s' is not a %(section)s key (did you mean '%(guess)s'?)"),
                    key=name,
                    section=what,
                    guess=close[0],
                )
            else:
                problems.add(
                    key,
                    N_("'%(key)s' is not a %(section)s key (expected one of: %(keys)s)"),
                    key=name,
                    section=what,
                    keys=", ".join(known),
                )
    return out


def convert(problems: Problems, node: Node, fn: Callable[[Node], Any], label: str | None) -> Any:
    """``fn(node)``; a ValueError becomes a problem at the node and returns INVALID."""
    try:
        return fn(node)
    except ValueError as e:
        if label:
            problems.add(node, N_("%(label)s: %(problem)s"), label=label, problem=reason(e))
        else:
            problems.add(node, reason(e))
        return INVALID


def settings_block(
    node: Node,
    problems: Problems,
    *,
    what: str,
    description: str,
    known: Iterable[str],
    hints: Mapping[str, str] | None,
    checks: Mapping[str, Callable[[Node], Any]],
) -> dict[str, Any] | None:
    """A block of settings (``mail:``, ``imap:``, ``display:``): None when it is
    empty (its lines still commented out) or not a mapping (reported); else each
    written key's value through its check (INVALID where it failed, reported).
    Which keys are required, and what INVALID means, is the caller's choice."""
    if is_null(node):
        return None
    if not isinstance(node, MappingNode):
        problems.add(
            node,
            N_("'%(section)s' must be a mapping of %(description)s, got %(found)s"),
            section=what,
            description=as_text(description),
            found=describe(node),
        )
        return None
    keys = mapping(node, problems, what=what, known=known, hints=hints)
    return {
        name: convert(problems, keys[name][1], check, name)
        for name, check in checks.items()
        if name in keys
    }


def scalar(node: Node, expected: str) -> str:
    """The text as written; raises ValueError for lists, mappings and empty values."""
    if isinstance(node, ScalarNode) and not is_null(node):
        return str(node.value)
    raise Invalid(
        N_("expected %(expected)s, got %(found)s"), expected=as_text(expected), found=describe(node)
    )


def text_or_none(node: Node) -> str | None:
    """Optional one-line text; the empty value and '' mean "not set"."""
    if is_null(node):
        return None
    value = scalar(node, "text").strip()
    if "\n" in value or "\r" in value:
        raise Invalid(N_("must fit on one line"))
    return value or None


# --- writing -----------------------------------------------------------------------


def atomic_write(
    path: Path, text: str, *, before_replace: Callable[[], None] | None = None
) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    Temp file in the same folder (os.replace is atomic only within one file system),
    fsync before the rename, then fsync the folder so the rename itself is durable.
    ``before_replace`` runs once the new content is safely on disk, as late as possible
    before the rename; an exception from it cancels the write (``edit`` checks there
    that nobody changed the file since it was read).
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
        if before_replace is not None:
            before_replace()
        # Before the rename, so that no reader can see the new file as someone else's.
        _remember_write(path, text.encode("utf-8"))
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

# A changed file is applied only once it has been left alone this long (two looks at
# least this far apart saw the same inode, size, times and content). Editors save in
# several writes (truncate, then write; or one write per buffer): a look between two
# of them sees a prefix, and 72 % of the prefixes of a real feeds.yaml are valid YAML.
STABLE_SECONDS = 1.0
# ...and this long when the file does not end with a line break. Every editor and our
# own writer end a YAML file with one; a streaming writer stalled mid-line (a slow copy,
# a network share) leaves a cut last value instead: ``url: http://1``, an address
# missing its last letters. Such a file is not believed before this much quiet.
UNTERMINATED_SECONDS = 10.0

# File systems store mtimes with a resolution between 1 ns and 2 s (FAT). A file whose
# mtime is this close to the moment we read it may be written again without its
# (mtime, size) changing: git calls this "racily clean" (Documentation/technical/racy-git.txt)
# and so do we. Such a file is hashed again on the next refresh.
RACY_WINDOW_NS = 2_000_000_000

Stamp = tuple[int, int, int, int]

# What ``atomic_write`` put in each file, by real path: a file whose content is the
# one we wrote is complete by construction (temp file + rename), so a source in this
# process applies it at once instead of waiting for it to settle. That is how a
# dashboard edit shows on the very next page.
_written: dict[str, bytes] = {}
_written_lock = threading.Lock()


def _remember_write(path: Path, data: bytes) -> None:
    with _written_lock:
        _written[os.path.realpath(path)] = hashlib.sha256(data).digest()


def _we_wrote(path: Path, digest: bytes) -> bool:
    with _written_lock:
        return _written.get(os.path.realpath(path)) == digest


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _terminated(data: bytes | None) -> bool:
    """A missing or empty file, or one whose last byte ends a line."""
    return not data or data.endswith((b"\n", b"\r"))


class YamlSource(Generic[T]):
    """The last good value parsed from one YAML file, re-read when the file changes.

    Subclasses define ``parse(text) -> T``, ``missing() -> T`` (what a missing file
    means; raise ConfigError if it is an error) and may refuse a change with
    ``check_change``. The file is read once at construction; call ``refresh()``
    periodically: it costs one ``stat`` while nothing changes. Thread-safe.

    When a change is applied (the exact rules; README "Editing the files"):

    1. A *version* of the file is its inode, size, mtime, ctime and content. A new
       version is applied once two looks (``refresh`` calls) at least
       ``STABLE_SECONDS`` apart have seen it unchanged, or ``UNTERMINATED_SECONDS``
       if the file does not end with a line break. Nothing happens in between: the
       last good value stays and no error is reported for a file still being written.
       A change is therefore applied by the first ``refresh`` that comes late enough;
       if nobody calls again, nothing is applied (the scheduler calls every tick).
    2. A version written by this process's own ``atomic_write`` (dashboard and CLI
       edits) is complete by construction and applied at once.
    3. At construction (the first look, no good value yet) a file ending with a line
       break is applied at once, whatever its age: there is nothing to keep instead,
       and one-shot commands look only once. An unterminated file is applied if its
       mtime is ``UNTERMINATED_SECONDS`` old, else it waits like any change.
    4. A version that parses is still refused (an error, the last good value kept) if
       ``check_change`` says so: feeds.yaml and contacts.yaml never go from some
       feeds (contacts) to none unless the file says so explicitly.

    ``clock`` (seconds since the epoch, like ``time.time``) is injectable so that
    tests move time instead of sleeping; it is compared with file mtimes.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: ConfigError | None = None
        # The version last judged (applied, or refused with an error).
        self._stamp: Stamp | None = None
        self._digest: bytes | None = None
        self._racy = True
        # The content of the good value: a file put back as it was needs no parse.
        self._good_digest: bytes | None = None
        # A new version waiting to settle: ((stamp, digest), first seen at).
        self._pending: tuple[tuple[Stamp | None, bytes], float] | None = None
        self._first_look = True
        self.refresh()

    def parse(self, text: str) -> T:
        raise NotImplementedError

    def missing(self) -> T:
        raise NotImplementedError

    def check_change(self, old: T, new: T, text: str | None) -> ConfigError | None:
        """Why ``new`` (parsed from ``text``; None: the file is missing) must not
        replace the good value ``old``, or None to apply it."""
        return None

    @property
    def value(self) -> T | None:
        """The last good value, or None if the file was never valid."""
        return self._value

    @property
    def error(self) -> ConfigError | None:
        """Why the file on disk cannot be used right now (None when it is fine)."""
        return self._error

    @property
    def pending(self) -> bool:
        """True while a changed file waits to be left alone long enough to be applied."""
        return self._pending is not None

    def require(self) -> T:
        """The last good value; raises the current error if there never was one."""
        value, error = self._value, self._error
        if value is None:
            raise error or fail(str(self.path), N_("not loaded"))
        return value

    def refresh(self) -> bool:
        """Apply the file if it changed and has settled. True when a new good value
        was loaded."""
        with self._lock:
            first, self._first_look = self._first_look, False
            now = self.clock()
            try:
                stamp = _stamp(self.path)
                if stamp == self._stamp and self._digest is not None and not self._racy:
                    return False
                data = None if stamp is None else self.path.read_bytes()
                if data is not None and _stamp(self.path) != stamp:
                    # Changed while we read it: being written. Its quiet time starts over.
                    self._pending = None
                    return False
            except FileNotFoundError:
                stamp, data = None, None
            except OSError as e:
                self._pending = None
                said = fail(str(self.path), N_("cannot read: %(reason)s"), reason=e.strerror)
                return self._failed(said, retry=True)
            digest = b"missing" if data is None else hashlib.sha256(data).digest()
            if digest == self._digest:  # touched, or put back as it was judged: nothing new
                self._settled(stamp, digest)
                return False
            if not (_we_wrote(self.path, digest) or self._stable(first, stamp, digest, data, now)):
                return False
            self._settled(stamp, digest)
            if digest == self._good_digest:  # back to the good version (an undo)
                self._error = None
                return False
            try:
                text = None if data is None else decode(data, str(self.path))
                value = self.missing() if text is None else self.parse(text)
                refusal = (
                    None if self._value is None else self.check_change(self._value, value, text)
                )
            except ConfigError as e:
                return self._failed(e)
            if refusal is not None:
                return self._failed(refusal)
            self._value, self._error, self._good_digest = value, None, digest
            log.info("loaded %s", self.summary(value))
            return True

    def _stable(
        self, first: bool, stamp: Stamp | None, digest: bytes, data: bytes | None, now: float
    ) -> bool:
        """Has this version been left alone long enough (rules 1 and 3 above)?"""
        terminated = _terminated(data)
        if first and terminated:
            return True
        version = (stamp, digest)
        if self._pending is None or self._pending[0] != version or self._pending[1] > now:
            # A new version (or the clock went back): its quiet time starts now, or at
            # its mtime for the very first look.
            since = now
            if first and stamp is not None:
                since = min(now, stamp[2] / 1e9)
            self._pending = (version, since)
            log.debug("%s changed; waiting for it to be left alone", self.path)
        quiet = STABLE_SECONDS if terminated else UNTERMINATED_SECONDS
        return now - self._pending[1] >= quiet

    def _settled(self, stamp: Stamp | None, digest: bytes) -> None:
        self._pending = None
        self._stamp, self._digest = stamp, digest
        # The real time, not ``clock``: this is about the file system's timestamps.
        self._racy = stamp is not None and time.time_ns() - stamp[2] < RACY_WINDOW_NS

    def summary(self, value: T) -> str:
        return str(self.path)

    def _failed(self, error: ConfigError, *, retry: bool = False) -> bool:
        if retry:  # an unreadable file: try again next time even if unchanged
            self._digest = None
        if self._error is None or str(self._error) != str(error):
            log.warning("%s is invalid, keeping the last good version:\n%s", self.path, error)
        self._error = error
        return False
