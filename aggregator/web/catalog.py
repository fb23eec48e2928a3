"""The gettext catalogs of the dashboard: extraction, update, compilation, loading.

Files, under ``aggregator/web/translations/``:

- ``messages.pot``: the template, every message id the code and the templates ask for
  (written by extraction; never edited by hand);
- ``<lang>/LC_MESSAGES/messages.po``: a translator's file for ``fr`` and ``en``;
- ``<lang>/LC_MESSAGES/messages.mo``: its compiled form, for Flask-Babel and tools.

Message ids are the English texts; a plural carries ``msgid_plural`` and French's two
forms (the singular for 0 and 1). The dashboard reads the ``.po`` files themselves
(``load``), so an edit shows at the next start without a compile step.

Translator workflow (what ``make catalog`` = ``python -m aggregator.web.catalog`` does):

1. Mark the text in the code. Templates: ``{{ _("Text") }}``, ``{{ _("Hello %(name)s",
   name=x) }}``, ``{{ ngettext("%(n)s feed", "%(n)s feeds", n) }}``. Python:
   ``_()`` / ``gettext()`` / ``ngettext()`` from ``aggregator.web.i18n``; a text kept in a
   table and translated later (``_(TABLE[code])``) is marked where it is written with
   ``N_("Text")``, which only marks it. The config layer (``aggregator/config``) marks
   its problem templates with its own ``N_`` and records the parameters apart.
2. Run ``make catalog``: Babel's extractors (``python`` for ``aggregator/**.py``,
   ``jinja2.ext.babel_extract`` for ``templates/*.html``) write ``messages.pot``; each
   ``.po`` is updated from it (existing translations kept, new ids added with an
   empty translation, ids no longer asked for kept as obsolete ``#~`` entries, no fuzzy
   guessing); the ``.mo`` files are compiled.
3. Translate: fill the empty ``msgstr`` of the new entries in
   ``fr/LC_MESSAGES/messages.po`` (a text editor, Poedit, Lokalize…). The English
   catalog's entries stay empty (the id is the English text) unless the English
   wording itself should change.
4. Run ``make catalog`` again (it compiles the ``.mo``) and commit the three files.

``tests/test_i18n.py`` fails while the committed ``.pot``/``.po`` lag behind the code
(an id added without step 2) or an id has no French (step 3 skipped).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
STABLE_DATE = datetime(2026, 11, 30, tzinfo=UTC)  # headers that do not change on every run
LANGUAGES = ("fr", "en")
PROJECT = "aggregator"
COPYRIGHT = "the aggregator's authors"

# Babel keyword specs: the positions of the message arguments. ``N_`` marks a text kept
# in a table; ``translate``/``translate_plural`` are i18n's calls with an explicit language.
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "translate": (1,),
    "translate_plural": (1, 2),
}
COMMENT_TAGS = ("Translators:",)
MAPPING = "babel.cfg"  # which files, by which extractor (Babel's mapping file, at the top)


def po_path(lang: str, directory: Path | None = None) -> Path:
    return (directory or DIRECTORY) / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def pot_path(directory: Path | None = None) -> Path:
    return (directory or DIRECTORY) / f"{DOMAIN}.pot"


@lru_cache(maxsize=4)
def load(lang: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """``lang``'s translations: singular id -> text, plural's singular id -> two forms.
    Empty and fuzzy translations (not done yet) are left out: the caller falls back."""
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


def _messages(root: Path) -> Iterator[tuple[str, int, str | tuple[str, ...], list[str]]]:
    """(file relative to root, line, id, translator comments) of every marked message
    of the files ``babel.cfg`` maps (directories starting with "." or "_" skipped)."""
    with (root / MAPPING).open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(root / MAPPING))
    for relative, line, message, comments, _context in extract_from_dir(
        str(root),
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    ):
        yield relative.replace("\\", "/"), line, message, comments


def _new_catalog(locale: str | None) -> Catalog:
    return Catalog(
        locale=locale,
        domain=DOMAIN,
        project=PROJECT,
        version="1",
        copyright_holder=COPYRIGHT,
        msgid_bugs_address="",
        creation_date=STABLE_DATE,
        revision_date=STABLE_DATE,
        fuzzy=False,
    )


def extract(root: Path = ROOT) -> Catalog:
    """The template catalog (``messages.pot``) of the code and templates under ``root``."""
    template = _new_catalog(None)
    for relative, line, message, comments in _messages(root):
        template.add(message, None, [(relative, line)], auto_comments=comments)
    return template


def update(template: Catalog, lang: str, directory: Path | None = None) -> Catalog:
    """``lang``'s catalog brought up to ``template``: translations kept, new ids empty,
    vanished ids obsolete; no fuzzy matching (a near id is not a translation)."""
    path = po_path(lang, directory)
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang)
    else:
        catalog = _new_catalog(lang)
        if lang == "fr":
            # The classic two forms (the singular for 0 and 1): CLDR's third French
            # form (« 1 000 000 de ») never occurs in this interface.
            catalog._num_plurals, catalog._plural_expr = 2, "(n > 1)"  # type: ignore[assignment]
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.creation_date = STABLE_DATE
    return catalog


def _po_bytes(catalog: Catalog, *, pot: bool = False) -> bytes:
    out = io.BytesIO()
    write_po(
        out,
        catalog,
        width=0,  # one line per message: diffs a reviewer can read
        sort_output=True,
        include_lineno=False,  # file names only: moving code does not rewrite the catalogs
        omit_header=False,
        ignore_obsolete=pot,
    )
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def write(root: Path = ROOT, directory: Path | None = None) -> list[Path]:
    """Extract, update and compile; returns the files written (``directory`` defaults
    to the package's translations; tests write elsewhere)."""
    directory = directory or DIRECTORY
    template = extract(root)
    written = [pot_path(directory)]
    written[0].parent.mkdir(parents=True, exist_ok=True)
    written[0].write_bytes(_po_bytes(template, pot=True))
    for lang in LANGUAGES:
        catalog = update(template, lang, directory if po_path(lang, directory).exists() else None)
        path = po_path(lang, directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_po_bytes(catalog))
        # Compiled from the file as written, so that the .mo is exactly its .po's.
        with path.open("rb") as f:
            path.with_suffix(".mo").write_bytes(mo_bytes(read_po(f, locale=lang)))
        written += [path, path.with_suffix(".mo")]
    load.cache_clear()
    return written


def message_ids(catalog: Iterable[object]) -> set[str]:
    """The singular ids of a catalog (a plural's first id), without the header."""
    ids = set()
    for message in catalog:
        mid = getattr(message, "id", None)
        if mid:
            ids.add(mid if isinstance(mid, str) else mid[0])
    return ids


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def problems(template: Catalog, directory: Path | None = None) -> list[str]:
    """What is wrong with the committed catalogs against ``template`` (a fresh
    extraction): ids missing from ``messages.pot`` or a ``.po`` (``make catalog`` not
    run), ids the code no longer asks for still live there, and French entries that are
    empty, fuzzy, or a plural without both forms (translation not done)."""
    found: list[str] = []
    asked = message_ids(template)
    pot = message_ids(_read(pot_path(directory)))
    found += [f"not in messages.pot (run `make catalog`): {m!r}" for m in sorted(asked - pot)]
    found += [f"no longer asked for (run `make catalog`): {m!r}" for m in sorted(pot - asked)]
    for lang in LANGUAGES:
        po = _read(po_path(lang, directory), lang)
        ids = message_ids(po)
        found += [
            f"{lang}: not in messages.po (run `make catalog`): {m!r}" for m in sorted(asked - ids)
        ]
        found += [
            f"{lang}: stale in messages.po (run `make catalog`): {m!r}" for m in sorted(ids - asked)
        ]
        plurals = {m.id[0] for m in template if m.id and not isinstance(m.id, str)}
        for message in po:
            if not message.id or lang != "fr":
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            forms = (
                message.string if isinstance(message.string, (list, tuple)) else (message.string,)
            )
            if message.fuzzy or not all(forms):
                found.append(f"fr: no French for {key!r} (fill its msgstr in messages.po)")
            elif key in plurals and (isinstance(message.id, str) or len(forms) != 2):
                found.append(f"fr: {key!r} needs its two plural forms (msgid_plural)")
    return found


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        troubles = problems(extract())
        print("\n".join(troubles) or "the catalogs are up to date and complete")
        sys.exit(1 if troubles else 0)
    for p in write():
        print(p.relative_to(ROOT))
    sys.exit(0)
