"""One way to read what a request carries: typed, bounded, or a 400.

Every query argument, form field and path id a route uses goes through here, so that
crafted input is a 400 in the route's own format (an HTML page, or JSON for the API and
fetch() calls: see ``error_response``), never a 500:

- numbers are ASCII digits only: ``str.isdigit()`` also accepts ``²`` (which ``int()``
  refuses) and ``١`` (which ``int()`` reads as 1);
- every integer fits SQLite's INTEGER (64 bits signed): a bigger Python int raises
  ``OverflowError`` when bound to a query;
- free text has no control characters (a NUL ends a C string: FTS5 reads
  ``"a<NUL>b"`` as an unterminated string); search words lose them instead, the
  search box being forgiving;
- cursors are the digits and separators storage makes, within the same bounds.

Path ids use :class:`IdConverter`, installed as the app's ``int`` converter: a
non-ASCII or out-of-range id matches no route (404), like an id that does not exist.
Repeated parameters: the first one counts (werkzeug's ``get``), except where a route
documents a list (``to``). Values a route only compares with constants or a known set
(flags, ``action``, ``view``, a tab name through ``known_tab``, ``next`` through
``safe_next``, recipients against contacts) are read directly: no value can crash them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, NoReturn

from flask import abort, request
from werkzeug.routing import IntegerConverter, Map

from aggregator.web.i18n import gettext as _

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
MAX_QUERY = 200  # characters of a search

_DIGITS = re.compile(r"[0-9]{1,19}")
_CURSOR = re.compile(r"-?[0-9]{1,19}(?:_-?[0-9]{1,19}){0,3}")
_TRUE = ("1", "true", "on", "yes")


class IdConverter(IntegerConverter):
    """``<int:entry_id>``: ASCII digits, 1 to 2^63-1 (SQLite's largest rowid)."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", INT64_MAX)
        super().__init__(map, *args, **kwargs)


def parse_int(text: str, lo: int = 1, hi: int = INT64_MAX) -> int | None:
    """``text`` as an integer from ``lo`` to ``hi`` (ASCII digits, a minus sign only
    when ``lo`` is negative), else None."""
    negative = lo < 0 and text.startswith("-")
    digits = text[1:] if negative else text
    if not _DIGITS.fullmatch(digits):
        return None
    value = -int(digits) if negative else int(digits)
    return value if lo <= value <= hi else None


def _source(form: bool | None) -> Any:
    """The query string (``form=False``), the form body (True) or both (None)."""
    if form is None:
        return request.values
    return request.form if form else request.args


def bad_request(message: str | None = None) -> NoReturn:
    abort(400, message or _("The request could not be understood."))


def int_arg(
    name: str,
    default: int | None = None,
    *,
    lo: int = 1,
    hi: int = INT64_MAX,
    form: bool | None = False,
) -> int | None:
    """A whole number from ``lo`` to ``hi``; ``default`` when absent or empty."""
    text = _source(form).get(name, "")
    if text == "":
        return default
    value = parse_int(text, lo, hi)
    if value is None:
        if hi == INT64_MAX:
            bad_request(_("“%(name)s” must be a whole number (%(lo)s or more).", name=name, lo=lo))
        bad_request(
            _("“%(name)s” must be a whole number from %(lo)s to %(hi)s.", name=name, lo=lo, hi=hi)
        )
    return value


def id_arg(name: str, *, form: bool | None = False) -> int | None:
    """An id (1 to 2^63-1), None when absent."""
    return int_arg(name, form=form)


def flag(name: str, *, form: bool | None = False, default: bool = False) -> bool:
    """``1``/``true``/``on``/``yes`` -> True; anything else present -> False."""
    value = _source(form).get(name)
    if value is None:
        return default
    return value in _TRUE


def choice_arg(name: str, choices: tuple[str, ...], *, form: bool | None = False) -> str | None:
    """One of ``choices`` (None when absent or empty), else a 400."""
    value = _source(form).get(name, "")
    if value == "":
        return None
    if value not in choices:
        bad_request(
            _("“%(name)s” must be one of: %(choices)s.", name=name, choices=", ".join(choices))
        )
    return value


def _has_controls(text: str, multiline: bool) -> bool:
    allowed = "\t\r\n" if multiline else "\t"
    return any(
        unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed
        for ch in text
        if not ch.isprintable()
    )


def text_arg(
    name: str,
    default: str = "",
    *,
    form: bool | None = False,
    multiline: bool = False,
    max_length: int | None = None,
) -> str:
    """Free text without control characters (tab allowed; line breaks when
    ``multiline``); ``max_length`` refuses longer text instead of cutting it."""
    value = _source(form).get(name, default)
    return clean_text(value, name=name, multiline=multiline, max_length=max_length)


def text_list(name: str, *, form: bool | None = False, max_length: int = 1000) -> list[str]:
    """Every value of a repeated parameter (``to=a&to=b``), each checked as text."""
    values = _source(form).getlist(name)
    return [clean_text(v, name=name, max_length=max_length) for v in values]


def clean_text(
    value: str, *, name: str, multiline: bool = False, max_length: int | None = None
) -> str:
    if _has_controls(value, multiline):
        bad_request(_("“%(name)s” contains control characters.", name=name))
    if max_length is not None and len(value) > max_length:
        bad_request(
            _("“%(name)s” is too long (%(max)s characters at most).", name=name, max=max_length)
        )
    return value


def search_text(value: str) -> str:
    """What a person typed in the search box, made safe for full-text search: control
    characters and lone surrogates become spaces, runs of spaces one, at most
    ``MAX_QUERY`` characters."""
    if not value.isprintable():
        value = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in value)
    return " ".join(value.split())[:MAX_QUERY]


def search_arg(name: str = "q") -> str:
    return search_text(request.args.get(name, ""))


def bad_cursor() -> NoReturn:
    bad_request(_("This page link is invalid or too old: start again from the first page."))


def cursor_arg() -> str | None:
    """A paging cursor as storage makes them (integers joined by ``_``), else a 400."""
    text = request.args.get("cursor", "")
    if not text:
        return None
    if not _CURSOR.fullmatch(text):
        bad_cursor()
    for part in text.split("_"):
        if not INT64_MIN <= int(part) <= INT64_MAX:
            bad_cursor()
    return text
