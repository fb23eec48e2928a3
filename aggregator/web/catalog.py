"""The gettext catalogs of the dashboard: ``translations/<lang>/LC_MESSAGES/messages.po``.

Translators edit the ``.po`` files (French, and English, whose entries are the ids
themselves); ``i18n`` reads them with Babel at the first translation (no compile step:
the ``.mo`` files are written beside them for tools and Flask-Babel, and a test checks
they match). Message ids are the English texts; plurals carry ``msgid_plural`` and
French's two forms (singular for 0 and 1).

``python -m aggregator.web.catalog`` writes both catalogs from what the code knows:
the ``.po`` entries already there, plus every ``FR.update(...)`` / ``FR_PLURALS``
entry still in ``i18n.py`` (new strings are added there first, then swept into the
catalog by this command), plus the plural ids found in the templates and the code.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

DIRECTORY = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
STABLE_DATE = datetime(2026, 11, 30, tzinfo=UTC)  # headers that do not change on every sweep
LANGUAGES = ("fr", "en")
_PLURAL_CALL = re.compile(r'ngettext\(\s*"((?:[^"\\]|\\.)+)"\s*,\s*"((?:[^"\\]|\\.)+)"')


def po_path(lang: str) -> Path:
    return DIRECTORY / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=4)
def load(lang: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """``lang``'s translations: singular id -> text, plural's singular id -> two forms.
    Empty translations (not done yet) are left out: the caller falls back."""
    path = po_path(lang)
    singular: dict[str, str] = {}
    plural: dict[str, tuple[str, str]] = {}
    if not path.exists():
        return singular, plural
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, (list, tuple)):
            forms = tuple(message.string or ())
            if len(forms) >= 2 and all(forms):
                plural[message.id[0]] = (forms[0], forms[1])
        elif isinstance(message.string, str) and message.string:
            singular[message.id] = message.string
    return singular, plural


def plural_ids(root: Path) -> dict[str, str]:
    """singular -> plural English ids of every ngettext call in templates and code."""
    found: dict[str, str] = {}
    sources = list((root / "templates").glob("*.html"))
    sources += list((root / "aggregator" / "web").glob("*.py"))
    for path in sources:
        for one, many in _PLURAL_CALL.findall(path.read_text(encoding="utf-8")):
            found[one] = many
    return found


def build(lang: str, fr: dict[str, str], fr_plurals: dict[str, tuple[str, str]], root: Path):
    catalog = Catalog(
        locale=lang,
        domain=DOMAIN,
        project="aggregator",
        version="1",
        copyright_holder="the aggregator's authors",
        msgid_bugs_address="",
        creation_date=STABLE_DATE,
        revision_date=STABLE_DATE,
        fuzzy=False,
    )
    if lang == "fr":
        # The classic two forms (the singular for 0 and 1): CLDR's third French form
        # (« 1 000 000 de ») never occurs in this interface.
        catalog._num_plurals, catalog._plural_expr = 2, "(n > 1)"  # type: ignore[assignment]
    old_single, old_plural = load(lang)
    plurals = plural_ids(root)
    for one, forms in sorted(fr_plurals.items()):
        many = plurals.get(one, one)
        strings = old_plural.get(one) or (forms if lang == "fr" else ("", ""))
        catalog.add((one, many), strings)
    for msgid, text in sorted(fr.items()):
        if msgid in fr_plurals:
            continue  # said by its plural entry
        string = old_single.get(msgid) or (text if lang == "fr" else "")
        catalog.add(msgid, string)
    return catalog


def write(root: Path | None = None) -> list[Path]:
    """Write ``messages.po`` and ``messages.mo`` for every language; returns the paths."""
    from aggregator.web import i18n

    root = root or Path(__file__).resolve().parents[2]
    written = []
    for lang in LANGUAGES:
        catalog = build(lang, dict(i18n.FR), dict(i18n.FR_PLURALS), root)
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, catalog, width=0, omit_header=False, sort_output=True)
        with path.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog)
        written += [path, path.with_suffix(".mo")]
    load.cache_clear()
    return written


if __name__ == "__main__":
    for p in write():
        print(p)
    sys.exit(0)
