"""Which contacts an entry may interest, and when two links are the same article.

Suggestions match contacts' interests against an entry's title, summary, WHOLE body
(not only the 2,000-character summary), feed title and tab, as whole words and
phrases, ignoring case, accents and the ligatures œ/æ ("montage vidéo" matches
"Montage Video", "oeuvre" matches "Œuvre"). A word also matches its plural in -s or
-x ("emploi" matches "emplois", "jeu" matches "jeux"). The folding is
``aggregator.folding.words``, the very function the search index and its queries go
through, so what search finds and what suggestions see are the same words. Its rare
false friends ("pris" ~ "prix") cost one extra suggestion, never a wrong send: the
person still chooses.

Ranking: the number of matched interests first, then where they matched (title >
summary > body > feed title or tab); reasons are the interests as the person wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aggregator.config import normalize_url
from aggregator.folding import fold, sanitized_html_text, words
from aggregator.models import Contact, EntryView, Suggestion

DEFAULT_NOTE = {"fr": "Ça pourrait t'intéresser !", "en": "This might interest you!"}

# Where an interest matched, and what it adds to the score: the count of matched
# interests comes first, then where they matched.
_PLACES = (("title", 0.5), ("summary", 0.25), ("body", 0.1), ("feed", 0.0))
# Characters of the body's text read for suggestions (as folding.INDEX_CHARS).
BODY_CHARS = 200_000
# Query parameters that only say where a click came from: the same article reached
# through two newsletters is the same article ("already sent").
_TRACKING = re.compile(r"(?i)^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|xtor|at_medium|at_campaign)$")


__all__ = ["default_note", "fold", "link_key", "suggest", "words"]


def _contains(haystack: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(
        haystack[i : i + n] == phrase
        for i, word in enumerate(haystack[: len(haystack) - n + 1])
        if word == phrase[0]
    )


def suggest(entry: EntryView, contacts: Sequence[Contact], *, limit: int = 5) -> list[Suggestion]:
    """The contacts whose interests match ``entry``, best first: score = number of
    matched interests plus 0.5 per match in the title, 0.25 per match in the summary,
    0.1 per match only in the rest of the body (feed title or tab: nothing more).
    Ties: by name."""
    fields = {
        "title": words(entry.title),
        "summary": words(entry.summary),
        # content_html is sanitized (stored so at ingest): its tags are only markup.
        "body": words(sanitized_html_text(entry.content_html[: 2 * BODY_CHARS])[:BODY_CHARS]),
        "feed": words(entry.feed_title) + [""] + words(entry.tab or ""),
    }
    found: list[Suggestion] = []
    for contact in contacts:
        matched: list[tuple[int, int, str]] = []
        score = 0.0
        for order, interest in enumerate(contact.interests):
            phrase = words(interest)
            if not phrase:
                continue
            for rank, (place, bonus) in enumerate(_PLACES):
                if _contains(fields[place], phrase):
                    matched.append((rank, order, interest))
                    score += 1 + bonus
                    break
        if matched:
            reasons = tuple(interest for _, _, interest in sorted(matched))
            found.append(Suggestion(contact=contact, reasons=reasons, score=score))
    found.sort(key=lambda s: (-s.score, fold(s.contact.name)))
    return found[: max(0, limit)]


def default_note(contacts: Sequence[Contact]) -> str:
    """The note's pre-filled text: English only if every chosen contact reads English."""
    english = bool(contacts) and all(c.language == "en" for c in contacts)
    return DEFAULT_NOTE["en" if english else "fr"]


def link_key(link: str | None) -> str | None:
    """The link as compared for "already sent": normalised (see config.normalize_url),
    http and https alike, no fragment, no tracking parameters, no trailing slash."""
    if not link or not link.strip():
        return None
    try:
        parts = urlsplit(normalize_url(link))
    except ValueError:
        return link.strip()
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, True) if not _TRACKING.match(k)])
    scheme = "https" if parts.scheme == "http" else parts.scheme
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((scheme, parts.netloc, path, query, ""))
