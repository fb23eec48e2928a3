"""Words as search and suggestions compare them: the one folding and tokenising rule.

Both the full-text index (``storage/_search.py``: what is indexed and what is asked)
and the suggestions (``forward/matching.py``: interests against an entry) go through
``words()``, so that a word found by one is found by the other:

* case and accents are ignored: NFKD, combining marks dropped, casefolded
  ("Cinéma" = "cinema", "Straße" = "strasse");
* the ligatures œ and æ (and their capitals) are spelled out: "œuvres" = "oeuvres".
  NFKD leaves them alone: they are letters of their own in Unicode, not compositions;
* a word and its plural in -s or -x are the same word: one trailing s or x is dropped
  from words longer than three letters ("emplois" = "emploi", "jeux" = "jeu"). It is
  cheap, French- and English-friendly, and its rare false friends ("pris" ~ "prix")
  cost one extra result or suggestion, never a lost one;
* words are runs of letters and digits; everything else separates them (the
  underscore too: SQLite's unicode61 tokenizer splits on it as well).

This module imports nothing of ours: storage, forward and the CPU stage all use it.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterator

_WORD = re.compile(r"[^\W_]+")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ꜳ": "aa", "ﬀ": "ff"})
_TAG = re.compile(r"<[^>]*>")
# Characters of a body's text that are indexed: a long article is ~50,000; a 5 MB
# "article" is a dump, and its first 200,000 characters say what it is about.
INDEX_CHARS = 200_000


def fold(text: str) -> str:
    """Case- and accent-insensitive form: ligatures spelled out, NFKD, combining
    marks dropped, casefolded."""
    if text.isascii():  # the common case, about 10 times faster
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def stem(word: str) -> str:
    """A folded word without its plural mark (see the module docstring)."""
    return word[:-1] if len(word) > 3 and word[-1] in "sx" else word


@functools.lru_cache(maxsize=200_000)
def _folded(token: str) -> tuple[str, ...]:
    """One word of the text (NFC), folded and stemmed: usually one word, sometimes
    more ("ﬁn½" gives "fin", "1", "2") or none. Cached: a language has far fewer
    words than an index has occurrences, and folding character by character in
    Python is what costs (~10 ms for a 3,000-character article without the cache)."""
    return tuple(stem(w) for w in _WORD.findall(fold(token)))


def _tokens(text: str) -> list[str]:
    # NFC first, in C: a decomposed "e" + U+0301 must stay one word with its accent.
    return _WORD.findall(text if text.isascii() else unicodedata.normalize("NFC", text))


def words(text: str) -> list[str]:
    """The words of ``text``, folded and stemmed."""
    found: list[str] = []
    for token in _tokens(text):
        found.extend(_folded(token))
    return found


def iter_tokens(
    text: str, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, str]]:
    """(start, end, folded and stemmed word) for each word of ``text[start:end]``,
    with offsets into ``text`` itself, lazily: for highlighting the words a search
    matched (a caller that wants the first match stops early)."""
    for m in _WORD.finditer(text, start, len(text) if end is None else end):
        token = m.group()
        folded = _folded(token if token.isascii() else unicodedata.normalize("NFC", token))
        if folded:
            yield m.start(), m.end(), folded[0] if len(folded) == 1 else "".join(folded)


def tokens(text: str) -> list[tuple[int, int, str]]:
    """``iter_tokens`` as a list."""
    return list(iter_tokens(text))


def index_text(text: str) -> str:
    """``text`` as the full-text index stores it: its words, folded and stemmed,
    separated by spaces."""
    return " ".join(words(text))


def sanitized_html_text(content_html: str) -> str:
    """The text of HTML that went through ``sanitize.sanitize_html`` (no script, no
    style, no comments left), good enough for indexing words: tags become spaces."""
    return html.unescape(_TAG.sub(" ", content_html))


def body_index_text(content_html: str, summary: str) -> str:
    """The index text of an entry's body: the words of its whole (sanitized) HTML,
    preceded by those of its summary when the summary is not simply the start of the
    body (a teaser of its own, say)."""
    text = sanitized_html_text(content_html[: 2 * INDEX_CHARS]) if content_html else ""
    body = index_text(text[:INDEX_CHARS])
    lead = index_text(summary)
    if body.startswith(lead):
        return body
    return f"{lead} {body}" if body else lead
