"""The one exception tree of the project, rooted at AggregatorError.

Every error a person can act on carries the resource it is about (a file and line,
a feed URL, a database path) and says what to do. Causes are chained with
``raise ... from e`` so logs keep the original traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class AggregatorError(Exception):
    """Base class of every error raised on purpose by this package.

    Every subclass pickles, whatever its constructor takes: errors cross process
    boundaries (the parse workers of ``update``), and ``Exception``'s own pickling
    calls ``cls(*self.args)``, which fails for a constructor such as
    ``FeedError(url, code, message)`` whose ``args`` is only ``(message,)``. When
    unpickling fails in the parent, ``ProcessPoolExecutor`` declares the whole pool
    broken and every other feed of the batch fails with it. So an error is rebuilt
    from its ``args`` and its attributes, without calling ``__init__`` again.
    """

    def __reduce__(self) -> tuple[object, ...]:
        # (callable, its arguments, state): pickle calls BaseException.__setstate__
        # with the state, which restores every attribute (``__notes__`` included).
        return (_rebuild, (type(self), self.args), dict(vars(self)))


def _rebuild(cls: type[BaseException], args: tuple[object, ...]) -> BaseException:
    """Create ``cls`` with ``args`` but without running its ``__init__`` (see above)."""
    return cls.__new__(cls, *args)


# --- configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a YAML file, located as ``FILE:LINE:COL`` (1-based)."""

    file: str
    line: int
    col: int
    message: str
    # The message as a gettext template and its parameters (aggregator.config._text.Text),
    # for the dashboard to say it in French; ``message`` is its English rendering. Set
    # by aggregator.config.yamlfile.problem(), hence not an __init__ argument.
    text: object = field(default=None, init=False, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ConfigError(AggregatorError):
    """A configuration file could not be used; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- storage -----------------------------------------------------------------------


class StorageError(AggregatorError):
    """The database cannot be used. ``path`` names the file."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class ForeignDatabaseError(StorageError):
    """The file is a SQLite database, but not one of ours."""


class CorruptDatabaseError(StorageError):
    """The file is not a readable SQLite database."""


class ReadOnlyDatabaseError(StorageError):
    """The database (or its folder) cannot be written."""


class NotFound(AggregatorError):
    """An entry, feed or contact asked for by id does not exist."""


# --- fetching and parsing ----------------------------------------------------------


class FeedError(AggregatorError):
    """Something went wrong with one feed. Never stops the other feeds.

    ``code`` is a short stable identifier (see ``fetch.ERROR_CODES``) that the
    dashboard turns into a sentence in the reader's language; ``str(err)`` is a
    plain English explanation for logs and the CLI.
    """

    def __init__(
        self,
        url: str,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: datetime | None = None,
    ) -> None:
        self.url = url
        self.code = code
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class FetchError(FeedError):
    """The HTTP request failed (network, timeout, size cap, HTTP error status...)."""


class ParseError(FeedError):
    """The body was fetched but is not a feed we can read."""


# --- discovery ---------------------------------------------------------------------


class DiscoveryError(AggregatorError):
    """An address a person pasted (site, feed, handle, profile) gave no usable feed.

    ``address`` is what was typed (stripped); ``code`` is a short stable identifier
    (see ``discover.ERROR_CODES``) that the dashboard turns into a sentence in the
    reader's language; ``str(err)`` is a plain English explanation.
    """

    def __init__(self, address: str, code: str, message: str) -> None:
        self.address = address
        self.code = code
        super().__init__(message)
