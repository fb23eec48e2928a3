"""Dashboard benchmark: server-side latency and memory over a million stored entries.

    .venv/bin/python benchmarks/dashboard.py                  # 1,000,000 entries (~10 min)
    .venv/bin/python benchmarks/dashboard.py --entries 20000  # smoke test (< 1 minute)
    .venv/bin/python benchmarks/dashboard.py --reuse          # keep the DB, reuse it next time
    .venv/bin/python benchmarks/dashboard.py --entries 20000 --profile '/tab/Cinéma?view=widgets'

What it does:
1. builds a deterministic (seeded) database in a child process: the feeds.yaml written
   to a temporary folder is loaded with ``load_config`` and synced with ``sync_feeds``;
   entries arrive in polling rounds (so ids grow with time, as search expects), through
   ``Storage.upsert_entries`` one call per feed per round (``--insert upsert``, the
   default up to 100,000 entries), or, for bigger runs, through ``BulkWriter``
   (``--insert bulk``: the same INSERT, thousands of rows per transaction, ~3 times
   faster; the report says which). Before each round the person "marks all as read"
   (so only the last round stays unread), then a few hundred entries are starred.
   French-ish titles and summaries: a third of the feeds give short summaries, the
   others full articles whose summary is the first 2,000 characters, as
   ``sanitize.html_to_text`` makes it. Four common words are each in about half of the
   entries (searched without their accents), eight rare words each in about 40.
2. serves it with the production server (``aggregator.web.serve``: waitress, 4 threads,
   127.0.0.1, port 0) in another child process, so that its peak RSS (``VmHWM``)
   counts serving only. A WSGI middleware adds a ``Server-Timing`` header: wall and
   thread CPU time from the WSGI call to ``start_response``, i.e. routing, the storage
   queries and the rendering of the whole body (Flask renders before it starts the
   response). That in-process wall time is what the targets judge; the CPU time (not
   disturbed by other processes on a shared machine) and the client's round trip over
   one keep-alive HTTP/1.1 connection are shown next to it.
3. requests the routes interleaved (one of each, again and again), after one untimed
   warm-up request per URL (template compilation), and prints a Markdown table; the
   exit status is 1 when a target is missed.

The OS page cache is warm (the database was just built or read): these are the
latencies of a dashboard in daily use, not of the first request after a reboot.
Nothing is written to the repository: the database goes to a temporary folder (with
``--reuse``: $TMPDIR/aggregator-bench/), removed at exit unless kept.
"""

from __future__ import annotations

import argparse
import bisect
import html
import http.client
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
MB = 1024 * 1024
BUILD_VERSION = 1  # bump when the generated data changes: --reuse then rebuilds
META_KEY = "benchmark.dashboard"

# Targets on the reference 2-core machine (issue 3).
PAGE_MEDIAN_MS = 20.0
WIDGETS_MEDIAN_MS = 50.0
SEARCH_P95_MS = 150.0
RSS_LIMIT_MB = 150.0

# Every entry is dated before this, so the data do not depend on the day of the run.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=365)
# Above this, entries are written by BulkWriter unless --insert says otherwise: per-feed
# upserts take ~20 minutes for a million entries, the bulk path ~8.
UPSERT_MAX = 100_000
FULL_REQUESTS = 200
SMOKE_REQUESTS = 50  # a smoke test (--entries 20000) must finish within a minute
SMOKE_BELOW = 100_000
MIN_ENTRIES = 6_000  # 109 river pages of 50 and a bit
ENTRIES_PER_POLL = 25  # average new entries per feed per round: sets the number of rounds
STARRED = 400
SUMMARY_CHARS = 2000  # sanitize.html_to_text's default cut

TAB_NAMES = (
    "À la une", "Cinéma", "Cuisine", "Logiciels libres", "Sciences",
    "Vie locale", "Musique", "Économie", "Voyages", "Éducation",
)  # fmt: skip
# Each common word goes into an entry with probability 1/2; searched without accents.
COMMON = {"actualité": "actualite", "semaine": "semaine", "projet": "projet", "région": "region"}
# Each rare word goes into about RARE_COUNT entries, whatever the size.
RARE = {
    "ornithorynque": "ornithorynque", "palimpseste": "palimpseste", "bathyscaphe": "bathyscaphe",
    "kumquat": "kumquat", "zeugma": "zeugma", "quinconce": "quinconce",
    "pangolin": "pangolin", "sérendipité": "serendipite",
}  # fmt: skip
RARE_COUNT = 40
_VOCABULARY_TEXT = """
le la les un une des du de et à au aux en dans pour par sur avec sans sous chez entre vers
mais donc car aussi très plus moins déjà encore toujours jamais souvent puis enfin ici
année saison journée soirée matin festival cinéma théâtre musée exposition concert
spectacle création première scène public équipe élève étudiant professeur chercheuse
médecin ingénieure artisan boulanger fromagère vigneron éditrice libraire écrivain
poète réalisatrice comédien danseuse mairie préfecture collège lycée université hôpital
bibliothèque marché quartier village forêt rivière montagne côte littoral île vallée
château logiciel réseau données sécurité version navigateur serveur application
téléphone ordinateur écran clavier réglage paramètre emploi salaire entreprise société
coopérative association bénévole réunion conférence débat entretien enquête étude
rapport résultat chiffre nouveau nouvelle grand grande petit petite dernier dernière
français française européen européenne local prochain prochaine présente annonce
propose découvre explique raconte prépare ouvre accueille reçoit célèbre inaugure
développe améliore publie crème pâtisserie café thé goûter dîner déjeuner recette
cuisine saveur pêche randonnée vélo tramway gare aéroport trajet voyage œuvre cœur façon
garçon reçu où là ça Noël août été hiver printemps automne lundi mardi mercredi jeudi
vendredi samedi dimanche Lyon Marseille Bordeaux Lille Nantes Rennes Grenoble Québec
Montréal Genève Bruxelles plateforme élection budget climat énergie santé recherche
transport logement culture patrimoine sport football rugby handball tennis olympique
"""
VOCABULARY = _VOCABULARY_TEXT.split()
NAMES = ("Camille Dupré", "Léa Bérenger", "Jérôme Lefèvre", "Zoé Mégret", "Théo Leroux", None)
FEED_KINDS = ("Le Journal", "Les Carnets", "Le Blog", "La Gazette", "L'Écho", "Chroniques",
              "Le Fil", "La Lettre", "Radio", "Les Nouvelles")  # fmt: skip


# --- the data --------------------------------------------------------------------------


def build_params(args: argparse.Namespace) -> dict:
    return {
        "version": BUILD_VERSION,
        "entries": args.entries,
        "feeds": args.feeds,
        "tabs": args.tabs,
        "seed": args.seed,
        "insert": args.insert or ("upsert" if args.entries <= UPSERT_MAX else "bulk"),
    }


def tab_names(tabs: int) -> list[str]:
    return [TAB_NAMES[i] if i < len(TAB_NAMES) else f"Onglet {i + 1}" for i in range(tabs)]


def feed_specs(params: dict) -> list[dict]:
    """url, title (None for one feed in five: shown by URL), tab, short (summary-only)."""
    rng = random.Random(f"feeds-{params['seed']}")
    names = tab_names(params["tabs"])
    feeds = []
    for i in range(params["feeds"]):
        place = rng.choice(VOCABULARY[-60:])
        title = f"{rng.choice(FEED_KINDS)} — {place.capitalize()} {i}"
        feeds.append(
            {
                "url": f"https://site-{i:04d}.example.org/feed.xml",
                "title": title if rng.random() < 0.8 else None,
                "tab": names[i * params["tabs"] // params["feeds"]],
                "short": rng.random() < 0.35,
            }
        )
    return feeds


def write_config(params: dict, path: Path) -> None:
    """feeds.yaml for these feeds; JSON strings are valid YAML double-quoted scalars."""
    feeds = feed_specs(params)
    lines = ["# Generated by benchmarks/dashboard.py", "settings:", "  keep_days: 400", "tabs:"]
    for name in tab_names(params["tabs"]):
        lines += [f"  - name: {json.dumps(name, ensure_ascii=False)}", "    feeds:"]
        for f in feeds:
            if f["tab"] != name:
                continue
            lines.append(f"      - url: {f['url']}")
            if f["title"]:
                lines.append(f"        title: {json.dumps(f['title'], ensure_ascii=False)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def entry_counts(params: dict, rng: random.Random) -> list[int]:
    """Entries per feed: log-normal rates (a few busy news feeds, many quiet blogs),
    at least 3 each, summing to exactly ``entries``."""
    n, total = params["feeds"], params["entries"]
    weights = [rng.lognormvariate(0, 1.0) for _ in range(n)]
    floor = min(3, total // n)
    spare, weight = total - floor * n, sum(weights)
    counts = [floor + int(spare * w / weight) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % n] += 1
    return counts


class TextMaker:
    """Titles, summaries and article bodies from a seeded RNG and a pool of sentences
    (generating 2,000 characters word by word for a million entries would take minutes)."""

    def __init__(self, rng: random.Random, entries: int) -> None:
        self.rng = rng
        self.rare_p = RARE_COUNT * len(RARE) / max(entries, 1)
        self.sentences = [self._sentence(rng.randint(8, 22)) for _ in range(4000)]

    def _sentence(self, n: int, extra: Sequence[str] = ()) -> str:
        words = self.rng.choices(VOCABULARY, k=n)
        for w in extra:
            words.insert(self.rng.randrange(len(words) + 1), w)
        text = " ".join(words)
        return text[0].upper() + text[1:] + self.rng.choice((".", ".", ".", " ?", " !"))

    def entry(self, short: bool) -> tuple[str, str, str]:
        rng = self.rng
        in_title: list[str] = []
        in_lead: list[str] = []
        for word in COMMON:
            if rng.random() < 0.5:
                (in_title if rng.random() < 0.25 else in_lead).append(word)
        if rng.random() < self.rare_p:
            (in_title if rng.random() < 0.5 else in_lead).append(rng.choice(list(RARE)))
        title = self._sentence(rng.randint(5, 11), in_title).rstrip(".?! ")
        lead = self._sentence(rng.randint(10, 18), in_lead)
        if short:
            summary = " ".join([lead, *rng.choices(self.sentences, k=rng.randint(0, 2))])
            return title, summary, f"<p>{html.escape(summary)}</p>"
        paragraphs = [
            " ".join(rng.choices(self.sentences, k=rng.randint(3, 6)))
            for _ in range(rng.randint(2, 8))
        ]
        paragraphs[0] = lead + " " + paragraphs[0]
        text = "\n\n".join(paragraphs)
        if len(text) > SUMMARY_CHARS:
            text = text[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
        body = "".join(
            f'<p>{html.escape(p)} <a href="https://example.org/{i}">en savoir plus</a></p>'
            if i % 3 == 1
            else f"<p>{html.escape(p)}</p>"
            for i, p in enumerate(paragraphs)
        )
        return title, text, body


# The INSERT of ``Storage.upsert_entries``, verbatim: the bulk path stores the same
# columns and its triggers keep the full-text index and the feed counters in step.
INSERT_ENTRY = """
    INSERT INTO entries (
        feed_id, tab, guid, title, link, author, published, updated,
        first_seen, summary, content_html, enclosures, content_hash,
        title_derived, thumbnail, search_title, search_body)
    VALUES (
        :feed_id, :tab, :guid, :title, :link, :author, :published, :updated,
        :first_seen, :summary, :content_html, :enclosures, :content_hash,
        :title_derived, :thumbnail, :search_title, :search_body)
"""
BULK_ROWS = 5000


class BulkWriter:
    """The ``--insert bulk`` path: the rows ``upsert_entries`` would insert (all new,
    oldest first within a feed), written ``BULK_ROWS`` at a time in one transaction on
    the Storage's own connection. Same rows, indexes, triggers and FTS sync; it skips
    the per-feed transactions, the lookup of known guids and the removal of snippet
    markers (the generated text has none). About 3 times faster than per-feed upserts."""

    def __init__(self, storage) -> None:
        self.storage = storage
        with storage._query() as db:  # private: the bulk shortcut
            self.feeds = {
                url: (i, tab) for i, url, tab in db.execute("SELECT id, url, tab FROM feeds")
            }
        self.rows: list[dict] = []

    def add(self, feed_url: str, entries: list, now: datetime) -> int:
        from aggregator.storage._entries import search_columns

        feed_id, tab = self.feeds[feed_url]
        first_seen = int(now.timestamp())
        for e in entries:
            self.rows.append(
                {
                    "feed_id": feed_id,
                    "tab": tab,
                    "guid": e.guid,
                    "title": e.title,
                    "link": e.link,
                    "author": e.author,
                    "published": int(e.published.timestamp()),
                    "updated": None,
                    "first_seen": first_seen,
                    "summary": e.summary,
                    "content_html": e.content_html,
                    "enclosures": None,
                    "content_hash": e.content_hash,
                    # The whole body, folded for the index, as upsert_entries stores it.
                    "title_derived": 0,
                    "thumbnail": None,
                    **search_columns(e),
                }
            )
        if len(self.rows) >= BULK_ROWS:
            self.flush()
        return len(entries)

    def flush(self) -> None:
        if self.rows:
            with self.storage._write() as db:
                db.executemany(INSERT_ENTRY, self.rows)
            self.rows = []


def build_database(db_path: Path, config_path: Path, params: dict) -> dict:
    """The whole database through the Storage API (``insert="upsert"``) or with its
    entries written by ``BulkWriter``; returns what it took."""
    from aggregator.config import load_config
    from aggregator.models import Entry
    from aggregator.storage import Storage

    started = time.perf_counter()
    storage = Storage(db_path)
    # Marked as ours from the start: an interrupted build is rebuilt, not refused.
    storage.set_meta(META_KEY, json.dumps({"params": params, "complete": False}))
    config = load_config(config_path)
    storage.sync_feeds(config.feeds, now=NOW - SPAN)
    bulk = BulkWriter(storage) if params["insert"] == "bulk" else None
    rng = random.Random(f"entries-{params['seed']}")
    feeds = feed_specs(params)
    counts = entry_counts(params, rng)
    start, stop = int((NOW - SPAN).timestamp()), int(NOW.timestamp())
    # Publication times, sorted per feed; each round stores those of its window.
    stamps = [sorted(rng.randrange(start, stop) for _ in range(n)) for n in counts]
    rounds = max(8, round(params["entries"] / params["feeds"] / ENTRIES_PER_POLL))
    window = (stop - start) / rounds
    maker = TextMaker(rng, params["entries"])
    stored = calls = 0
    for r in range(rounds):
        end = start + round(window * (r + 1)) if r < rounds - 1 else stop + 1
        poll_time = datetime.fromtimestamp(end, UTC)
        # The person read everything up to the previous poll: the last round stays unread.
        storage.mark_all_read(now=poll_time)
        for i, feed in enumerate(feeds):
            lo = bisect.bisect_left(stamps[i], start + round(window * r) if r else 0)
            hi = bisect.bisect_left(stamps[i], end)
            batch = []
            for k in range(lo, hi):
                title, summary, body = maker.entry(feed["short"])
                published = datetime.fromtimestamp(stamps[i][k], UTC)
                slug = quote("-".join(title.lower().split()[:5]))
                batch.append(
                    Entry(
                        feed_url=feed["url"],
                        guid=f"{feed['url']}#{k}",
                        title=title,
                        link=f"https://site-{i:04d}.example.org/{published:%Y/%m}/{slug}-{k}",
                        author=rng.choice(NAMES),
                        published=published,
                        updated=None,
                        content_html=body,
                        summary=summary,
                        content_hash=f"{i}-{k}",
                    )
                )
            if batch:
                calls += 1
                if bulk is None:
                    stored += storage.upsert_entries(feed["url"], batch, now=poll_time)
                else:
                    stored += bulk.add(feed["url"], batch, poll_time)
        if bulk is not None:
            bulk.flush()
        elapsed = time.perf_counter() - started
        print(
            f"  round {r + 1}/{rounds}: {stored:,} entries, {elapsed:.0f} s "
            f"({stored / elapsed:,.0f}/s)",
            file=sys.stderr,
            flush=True,
        )
    # Ids are 1..stored (AUTOINCREMENT, nothing deleted): star a few hundred at random
    # and leave a sprinkle of older entries unread, as a person does.
    for entry_id in rng.sample(range(1, stored + 1), min(STARRED, stored)):
        storage.set_starred(entry_id)
    storage.set_read(rng.sample(range(1, stored + 1), stored // 200), False)
    totals = storage.counts()
    storage.set_meta(META_KEY, json.dumps({"params": params, "complete": True}))
    storage.close()
    return {
        "seconds": time.perf_counter() - started,
        "rounds": rounds,
        "calls": calls,
        **totals,
    }


def database_params(db_path: Path) -> dict | None:
    """``{"params": ..., "complete": ...}`` of a database this benchmark built, or None."""
    if not db_path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


def remove_database(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


# --- the server (a child process) -------------------------------------------------------


def make_app(db: str, config: str):
    from aggregator.web import create_app

    return create_app(
        {
            "AGGREGATOR_DB": db,
            "AGGREGATOR_CONFIG": config,
            "AGGREGATOR_PASSWORD": "",
            "AGGREGATOR_SECRET_KEY": "benchmark-secret-key",
        }
    )


def serve_main(db: str, config: str, threads: int) -> None:
    """Serve until killed; print the port on stdout."""
    from aggregator.web import serve

    app = make_app(db, config)
    inner = app.wsgi_app

    def timed(environ, start_response):
        started, cpu = time.perf_counter(), time.thread_time()

        def start(status, headers, exc_info=None):
            ms = (time.perf_counter() - started) * 1000
            cpu_ms = (time.thread_time() - cpu) * 1000
            headers.append(("Server-Timing", f"app;dur={ms:.3f}, cpu;dur={cpu_ms:.3f}"))
            return start_response(status, headers, exc_info)

        return inner(environ, start)

    app.wsgi_app = timed  # type: ignore[method-assign]
    server = serve(app, "127.0.0.1", 0, threads=threads)  # what `aggregator run` serves with
    print(f"PORT {server.effective_port}", flush=True)
    server.run()


def profile_main(db: str, config: str, url: str, count: int) -> None:
    """cProfile ``count`` requests of one URL through the Flask test client."""
    import cProfile
    import pstats

    client = make_app(db, config).test_client()
    headers = {"Accept-Language": "fr-FR,fr;q=0.9"}
    client.get(url, headers=headers)  # templates compiled, caches warm
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(count):
        response = client.get(url, headers=headers)
    profiler.disable()
    ms = (time.perf_counter() - started) * 1000 / count
    print(f"{url}: status {response.status_code}, {ms:.1f} ms per request under cProfile")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


# --- the client ---------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection; no cookies kept (each request stands alone,
    so ``?view=widgets`` does not turn the plain tab URL into widgets)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, url: str) -> tuple[float, float, float, bytes]:
        """(server ms, server thread CPU ms, round-trip ms, body); raises unless 200."""
        started = time.perf_counter()
        self.conn.request("GET", url, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        response = self.conn.getresponse()
        body = response.read()
        trip = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
        timing = dict(re.findall(r"(\w+);dur=([0-9.]+)", response.getheader("Server-Timing", "")))
        if "app" not in timing:
            raise RuntimeError(f"GET {url}: no Server-Timing header")
        return float(timing["app"]), float(timing["cpu"]), trip, body

    def close(self) -> None:
        self.conn.close()


def next_url(body: bytes) -> str:
    match = re.search(rb'rel="next" href="([^"]+)"', body)
    if not match:
        raise RuntimeError("no next page link")
    return html.unescape(match.group(1).decode())


def routes(client: Client, tabs: list[str]) -> list[dict]:
    """The measured routes, each with the URLs it cycles through."""
    tab_urls = [f"/tab/{quote(t)}" for t in tabs]
    # Page 100 of the river: follow 99 "next" links from the first page (untimed),
    # then a few more, so that the timed requests cycle over pages 100..109.
    url, pages = "/", []
    for page in range(1, 110):
        if page >= 100:
            pages.append(url)
        if page < 109:
            url = next_url(client.get(url)[-1])
    api, cursor = [], None
    for _ in range(10):
        api.append("/api/entries" + (f"?cursor={quote(cursor)}" if cursor else ""))
        cursor = json.loads(client.get(api[-1])[-1])["next_cursor"]
    page = ("page", PAGE_MEDIAN_MS)
    search = ("search", SEARCH_P95_MS)
    return [
        {"name": "river, first page `/`", "urls": ["/"], "target": page},
        {"name": "river, page 100 (cursor)", "urls": pages, "target": page},
        {"name": "one tab `/tab/<name>`", "urls": tab_urls, "target": page},
        {
            "name": "widgets `/tab/<name>?view=widgets`",
            "urls": [u + "?view=widgets" for u in tab_urls],
            "target": ("widgets", WIDGETS_MEDIAN_MS),
        },
        {
            "name": "search, common word (all tabs)",
            "urls": ["/search?" + urlencode({"q": q}) for q in COMMON.values()],
            "target": search,
        },
        {
            "name": "search, rare word (all tabs)",
            "urls": ["/search?" + urlencode({"q": q}) for q in RARE.values()],
            "target": search,
        },
        {
            "name": "search, common word in one tab (extra)",
            "urls": [
                "/search?" + urlencode({"q": q, "tab": t})
                for q, t in zip(list(COMMON.values()) * len(tabs), tabs, strict=False)
            ],
            "target": search,
        },
        {"name": "`GET /api/entries` (pages 1–10)", "urls": api, "target": page},
    ]


def proc_status(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    return values


def measure(db: Path, config: Path, tabs: list[str], requests: int, threads: int) -> dict:
    child = subprocess.Popen(
        [sys.executable, str(HERE), "--serve-child", str(db), str(config), str(threads)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"the server did not start: {line!r}")
        port = int(line.split()[1])
        idle = proc_status(child.pid)
        client = Client(port)
        plan = routes(client, tabs)
        for route in plan:  # warm-up: templates compiled, each query seen once
            for url in route["urls"]:
                client.get(url)
        warm = proc_status(child.pid)
        load = [os.getloadavg()[0]]
        for route in plan:
            route.update(server=[], cpu=[], trip=[], sizes=[], matches=[])
        for i in range(requests):
            for route in plan:
                url = route["urls"][i % len(route["urls"])]
                server_ms, cpu_ms, trip_ms, body = client.get(url)
                route["server"].append(server_ms)
                route["cpu"].append(cpu_ms)
                route["trip"].append(trip_ms)
                route["sizes"].append(len(body))
                route["matches"].append(body.count(b'<article class="entry'))
        client.close()
        final = proc_status(child.pid)
        load.append(os.getloadavg()[0])
    finally:
        child.terminate()  # the server we started, by its own handle
        child.wait(timeout=30)
    return {
        "routes": plan,
        "idle": idle,
        "warm": warm,
        "final": final,
        "threads": threads,
        "load": load,
    }


# --- the report ---------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(params: dict, build: dict, db: Path, result: dict, requests: int) -> tuple[str, bool]:
    db_mb = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists())
    arenas = os.environ.get("MALLOC_ARENA_MAX")
    malloc = f" with MALLOC_ARENA_MAX={arenas}" if arenas else ""
    lines = [
        f"## Dashboard benchmark — {build['entries']:,} entries, {params['feeds']:,} feeds, "
        f"{params['tabs']} tabs, seed {params['seed']}",
        "",
        f"- machine: {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.platform(terse=True)}",
        f"- database: {db} ({db_mb / MB:,.0f} MB), {build['unread']:,} unread, "
        f"{build['starred']:,} starred; {build['how']}",
        f"- server: `aggregator.web.serve` (waitress, {result['threads']} threads) in a child "
        f"process{malloc}; "
        f"{requests} timed requests per route, interleaved, over one keep-alive connection, "
        "after one untimed warm-up request per URL; warm OS page cache; 1-minute load "
        f"average {result['load'][0]:.2f} before, {result['load'][1]:.2f} after (the "
        "client takes about one core's share: above ~1.5, something else competes)",
        "- **median / p95 = in-process server time** (WSGI call → start_response, body "
        "fully rendered, from a `Server-Timing` header); CPU = CPU time of the serving "
        "thread over the same span (`time.thread_time`), which other processes on the "
        "machine barely disturb; round trip = client-side time, HTTP over 127.0.0.1 included",
        "",
        "| route | median ms | p95 ms | target | result | CPU median ms | round trip median ms "
        "| KB | items |",
        "|---|--:|--:|---|---|--:|--:|--:|--:|",
    ]
    ok = True
    for route in result["routes"]:
        median = statistics.median(route["server"])
        p95 = percentile(route["server"], 95)
        kind, limit = route["target"]
        if kind == "search":
            target, passed = f"p95 < {limit:g} ms", p95 < limit
        else:
            target, passed = f"median < {limit:g} ms", median < limit
        ok = ok and passed
        lines.append(
            f"| {route['name']} | {median:.1f} | {p95:.1f} | {target} "
            f"| {'PASS' if passed else '**FAIL**'} | {statistics.median(route['cpu']):.1f} "
            f"| {statistics.median(route['trip']):.1f} "
            f"| {statistics.median(route['sizes']) / 1024:.0f} "
            f"| {statistics.median(route['matches']):.0f} |"
        )
    peak = result["final"]["VmHWM"]
    passed = peak < RSS_LIMIT_MB
    ok = ok and passed
    lines += [
        f"| server peak RSS (VmHWM, after the run) | {peak:.0f} MB | | < {RSS_LIMIT_MB:g} MB "
        f"| {'PASS' if passed else '**FAIL**'} | | | | |",
        "",
        f"- server RSS: {result['idle']['VmRSS']:.0f} MB after start, "
        f"{result['warm']['VmRSS']:.0f} MB after the warm-up, "
        f"{result['final']['VmRSS']:.0f} MB at the end (peak {peak:.0f} MB; at the end "
        f"{result['final']['RssAnon']:.0f} MB anonymous: Python objects, malloc arenas, the "
        f"SQLite page caches of the {result['threads']} thread connections; "
        f"{result['final']['RssFile']:.0f} MB file-backed: code, shared libraries)",
        '- items: `<article class="entry…">` blocks on the page (0 for widgets and JSON)',
    ]
    return "\n".join(lines), ok


# --- main -------------------------------------------------------------------------------


def prepare_database(args: argparse.Namespace, params: dict, tmp: Path, config: Path) -> tuple:
    if args.db:
        db = Path(args.db).resolve()
    elif args.reuse:
        name = "dashboard-{entries}e-{feeds}f-{tabs}t-seed{seed}.sqlite3".format(**params)
        db = Path(tempfile.gettempdir()) / "aggregator-bench" / name
    else:
        db = tmp / "dashboard.sqlite3"
    if db.is_relative_to(ROOT):
        raise SystemExit(f"{db}: keep the benchmark database out of the repository")
    found = database_params(db)
    if db.exists() and found is None:
        raise SystemExit(f"{db} exists and was not built by this benchmark: not touching it")
    if args.reuse and found == {"params": params, "complete": True}:
        from aggregator.storage import Storage

        storage = Storage(db)
        build = {
            **storage.counts(),
            "how": f"reused (--reuse; built with --insert {params['insert']})",
        }
        storage.close()
        return db, build
    remove_database(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    print(f"building {db} ...", file=sys.stderr, flush=True)
    # In a child process: the parent stays a small HTTP client (it never serves).
    out = subprocess.run(
        [sys.executable, str(HERE), "--build-child", str(db), str(config), json.dumps(params)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    build = json.loads(out.stdout.strip().splitlines()[-1])
    how = (
        "Storage.upsert_entries, one call (one transaction) per feed per round"
        if params["insert"] == "upsert"
        else f"the bulk path (`--insert bulk`: upsert_entries' INSERT by {BULK_ROWS:,} rows "
        "per transaction, on the Storage's connection, triggers and FTS sync unchanged)"
    )
    build["how"] = (
        f"built in {build['seconds']:.0f} s through {how}; {build['calls']:,} feed batches "
        f"over {build['rounds']} polling rounds"
    )
    return db, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--feeds", type=int, default=1000, help="default 1000")
    parser.add_argument("--tabs", type=int, default=10, help="default 10")
    parser.add_argument(
        "--requests",
        type=int,
        help=f"timed requests per route (default {FULL_REQUESTS}; {SMOKE_REQUESTS} below "
        f"{SMOKE_BELOW:,} entries, the smoke test)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=4, help="waitress threads (default 4, as `aggregator run`)"
    )
    parser.add_argument("--db", help="database path (default: a temporary file)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database (default under $TMPDIR/aggregator-bench/) and reuse it "
        "when it was built with the same parameters",
    )
    parser.add_argument(
        "--insert",
        choices=("upsert", "bulk"),
        help=f"how entries are stored (default: upsert up to {UPSERT_MAX:,} entries, else bulk)",
    )
    parser.add_argument("--profile", metavar="URL", help="cProfile one URL instead")
    parser.add_argument("--serve-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--build-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child:
        db, config, threads = args.serve_child
        serve_main(db, config, int(threads))
        return 0
    if args.build_child:
        db, config, params = args.build_child
        print(json.dumps(build_database(Path(db), Path(config), json.loads(params))))
        return 0
    if args.profile_child:
        profile_main(*args.profile_child, count=30)
        return 0
    if args.requests is None:
        args.requests = FULL_REQUESTS if args.entries >= SMOKE_BELOW else SMOKE_REQUESTS
    if args.requests < 20:
        parser.error("need --requests >= 20 (p95 of fewer means little)")
    if args.entries < max(MIN_ENTRIES, args.feeds * 3):
        parser.error(
            f"need at least {MIN_ENTRIES:,} entries (page 100 of the river and pages 1-10 "
            "of the API must exist) and 3 per feed"
        )

    params = build_params(args)
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    try:
        config = tmp / "feeds.yaml"
        write_config(params, config)
        db, build = prepare_database(args, params, tmp, config)
        if args.profile:
            subprocess.run(
                [sys.executable, str(HERE), "--profile-child", str(db), str(config), args.profile],
                check=True,
                cwd=ROOT,
            )
            return 0
        print("measuring ...", file=sys.stderr, flush=True)
        result = measure(db, config, tab_names(params["tabs"]), args.requests, args.threads)
        text, ok = report(params, build, db, result, args.requests)
        print(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
