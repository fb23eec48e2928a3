"""Everything that crosses a process boundary pickles and comes back equal.

``update`` parses in worker processes: the arguments, the results and the errors go
through pickle. An error that cannot be unpickled in the parent makes
``ProcessPoolExecutor`` declare the whole pool broken (issue 7, item 2), so every
exception class of the package is checked here, found by walking the class tree
after importing every module (a new class is covered without editing this file).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pickle
import pkgutil
import types
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import aggregator
from aggregator import errors
from aggregator.update import process_body

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FEEDS_DIR = Path(__file__).parent / "data" / "feeds"


def _import_everything() -> None:
    for info in pkgutil.walk_packages(aggregator.__path__, "aggregator."):
        importlib.import_module(info.name)


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    todo = [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _our_exception_classes() -> list[type[BaseException]]:
    _import_everything()
    classes = {errors.AggregatorError} | _subclasses(errors.AggregatorError)
    # Private signals (fetch's _BlockedAddress, opml's _Refused) too: they are
    # exceptions of this package, and nothing says they will stay on one side.
    classes |= {
        c
        for c in _subclasses(BaseException)
        if c.__module__ == "aggregator" or c.__module__.startswith("aggregator.")
    }
    return sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _sample(tp: object, name: str) -> object:
    """A plausible, non-default value of type ``tp`` for a parameter called ``name``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)), name)
    if origin is list:
        return [_sample(args[0], name)]
    if origin is tuple:
        return (_sample(args[0], name),)
    if origin is dict:
        return {_sample(args[0], name): _sample(args[1], name)}
    if tp is bool:
        return True
    if tp is int:
        return 421
    if tp is float:
        return 2.5
    if tp is str:
        return f"{name}: déjà vu"
    if tp is datetime:
        return NOW
    if tp is timedelta:
        return timedelta(minutes=15)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        return tp(
            **{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(tp) if f.init}
        )
    raise AssertionError(f"no sample value for {name}: {tp!r}; teach _sample() this type")


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance built through the class's own constructor, every argument given."""
    init = cls.__init__
    if init in (BaseException.__init__, Exception.__init__):
        return cls(f"{cls.__name__}: un message")
    hints = typing.get_type_hints(init)
    kwargs = {}
    positional = []
    for p in inspect.signature(init).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = _sample(hints.get(p.name, str), p.name)
        if p.kind == p.KEYWORD_ONLY:
            kwargs[p.name] = value
        else:
            positional.append(value)
    return cls(*positional, **kwargs)


CLASSES = _our_exception_classes()


def test_the_walk_finds_the_whole_tree():
    names = {c.__name__ for c in CLASSES}
    # the ones that must be there, from every layer (errors, mail, forward, fetch)
    assert {
        "AggregatorError",
        "ConfigError",
        "StorageError",
        "CorruptDatabaseError",
        "NotFound",
        "FeedError",
        "FetchError",
        "ParseError",
        "MailError",
        "RateLimited",
        "AlreadySent",
        "UnknownContact",
        "_BlockedAddress",
    } <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_exception_class_round_trips_through_pickle(cls):
    err = _instance(cls)
    err.add_note("a note added on the way")
    for protocol in (pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(err, protocol=protocol))
        assert type(back) is cls
        assert str(back) == str(err)
        assert back.args == err.args
        assert vars(back) == vars(err)  # every attribute, __notes__ included


def test_a_feed_error_keeps_every_field():
    err = errors.FetchError(
        "https://example.org/f.xml",
        "rate_limited",
        "HTTP 429",
        status=429,
        retry_after=NOW + timedelta(hours=1),
    )
    back = pickle.loads(pickle.dumps(err))
    assert (back.url, back.code, back.status, back.retry_after, str(back)) == (
        "https://example.org/f.xml",
        "rate_limited",
        429,
        NOW + timedelta(hours=1),
        "HTTP 429",
    )


# --- what the process pool sends and gets back ------------------------------------------


FIXTURES = sorted(p for p in FEEDS_DIR.iterdir() if not p.name.endswith(".expected.json"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_process_body_arguments_results_and_errors_pickle(path: Path):
    """The exact values ``Updater`` submits to a worker and receives back."""
    ctype = {".json": "application/feed+json", ".html": "text/html"}.get(
        path.suffix, "application/rss+xml"
    )
    url = f"https://example.org/{path.name}"
    args = (url, path.read_bytes(), {"Content-Type": ctype}, url, NOW, {"old": "0" * 64})
    assert pickle.loads(pickle.dumps(args)) == args
    try:
        result: object = process_body(*args)
    except errors.FeedError as e:
        back = pickle.loads(pickle.dumps(e))
        assert (type(back), back.code, str(back), vars(back)) == (type(e), e.code, str(e), vars(e))
    else:
        assert pickle.loads(pickle.dumps(result)) == result
