"""``ingest.py --compare``: the aggregator, lemon24/reader and newsboat, side by side.

Same corpus, same servers, same run. Each tool gets a fresh database and the served
documents are reset to the base corpus before it starts; then, for each tool:

- cold: empty database, every feed fetched, parsed, stored;
- warm: at once again, every feed answers 304;
- churn, ``ticks`` times: between ticks 10 % of the feeds gain 1-3 new entries (new
  ETag and Last-Modified); a third of the feeds ignore conditional requests for the
  whole churn scenario (a 200 with the very same body every time), the rest answer 304.

How each tool runs (one process tree per tool and scenario group):

- ours: ``Updater(processes=2)``, as the scheduler runs it: one long-lived process
  for warm and the churn ticks (the cold run gets its own process so that its peak
  RSS is its own);
- reader: ``make_reader(db)``, ``add_feed`` for each URL (not timed, like our
  ``sync_feeds``), ``update_feeds(workers=16, scheduled=False)``; it runs from its
  own virtual environment, ``benchmarks/out/reader-venv`` (``pip install reader``
  there, when asked; never a project dependency), same process layout as ours;
- newsboat: ``newsboat -x reload`` with a generated urls file, cache and config
  (``reload-threads 16``) in a temporary directory, one process per scenario: that is
  how newsboat refreshes without a terminal.

Measures: wall clock around the scenario; CPU = user + system of the whole process
tree (the process, its live descendants read from /proc, and the reaped ones from
``RUSAGE_CHILDREN``); peak RSS = the largest peak among the tree's processes. The
fetch-only floor is the same 304 round of conditional GETs with ``requests`` and the
same concurrency (16 threads, 4 per host), and nothing else.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
READER_VENV = HERE / "out" / "reader-venv"
MB = 1024 * 1024
WORKERS, PER_HOST = 16, 4

# Targets (issue 14), on the reference 2-core machine.
COLD_VS_READER = 0.5  # our cold wall <= this x reader's
WARM_VS_FLOOR = 1.3  # our warm wall <= this x the fetch-only floor
CHURN_CPU_VS_READER = 0.5  # our CPU per churn tick <= this x reader's
RSS_LIMIT_MB = 200.0


# --- measuring a process tree (Linux /proc; elsewhere the reaped children only) -------


def _descendants() -> list[int]:
    parents: dict[int, list[int]] = defaultdict(list)
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        parents[ppid].append(int(name))
    out, todo = [], [os.getpid()]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _proc_cpu_rss(pid: int) -> tuple[float, float]:
    """(user + system seconds, peak RSS MB) of a live process; zeros if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            hwm = next((line for line in f if line.startswith("VmHWM:")), "VmHWM: 0 kB")
    except OSError:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, int(hwm.split()[1]) / 1024


def tree_usage() -> tuple[float, float]:
    """(CPU seconds, largest peak RSS MB) of this process and all its descendants."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    rss = max(me.ru_maxrss, kids.ru_maxrss) / 1024
    for pid in _descendants():
        c, r = _proc_cpu_rss(pid)
        cpu += c
        rss = max(rss, r)
    return cpu, rss


def _measure(run):  # type: ignore[no-untyped-def]
    cpu0, _ = tree_usage()
    started = time.perf_counter()
    extra = run()
    wall = time.perf_counter() - started
    cpu1, rss = tree_usage()  # before the workers of a batch may be reaped: see ours
    return {"wall": wall, "cpu": cpu1 - cpu0, "rss_mb": rss, **extra}


# --- the tools' sides (each runs in its own process, commands on stdin) ---------------


def serve_commands(handle) -> None:  # type: ignore[no-untyped-def]
    """One JSON line on stdout per command line read on stdin, until EOF."""
    for line in sys.stdin:
        command = line.strip()
        if command:
            print(json.dumps(_measure(lambda c=command: handle(c))), flush=True)


def phase_ours(job: dict) -> None:
    from aggregator.models import FeedConfig, Settings
    from aggregator.storage import Storage
    from aggregator.update import Updater

    storage = Storage(job["db"])
    if not storage.feeds():
        configs = [FeedConfig(url=u, tab="Bench", position=i) for i, u in enumerate(job["urls"])]
        storage.sync_feeds(configs, now=datetime.now(UTC))
    updater = Updater(storage, Settings(allow_private_networks=True), processes=2)

    def handle(command: str) -> dict:
        summary = updater.update(storage.feeds(), now=datetime.now(UTC))
        return {
            "feeds": len(summary.outcomes),
            "ok": summary.count("ok"),
            "not_modified": summary.count("not_modified"),
            "errors": summary.count("error"),
            "new_entries": summary.new_entries,
            "stored_entries": storage.counts()["entries"],
        }

    try:
        serve_commands(handle)
    finally:
        updater.close()
        storage.close()


def phase_reader(job: dict) -> None:
    from reader import make_reader  # type: ignore[import-not-found]

    reader = make_reader(job["db"])
    known = {f.url for f in reader.get_feeds()}
    for url in job["urls"]:
        if url not in known:
            reader.add_feed(url)

    def handle(command: str) -> dict:
        before = reader.get_entry_counts().total
        reader.update_feeds(workers=WORKERS, scheduled=False)
        after = reader.get_entry_counts().total
        broken = reader.get_feed_counts(broken=True).total
        return {
            "feeds": len(job["urls"]),
            "ok": None,
            "not_modified": None,
            "errors": broken,
            "new_entries": after - before,
            "stored_entries": after,
        }

    try:
        serve_commands(handle)
    finally:
        reader.close()


def phase_newsboat(job: dict) -> None:
    """One newsboat run (one scenario), in a throwaway HOME."""
    home = Path(job["home"])
    cache = home / "cache.db"

    def count() -> int:
        if not cache.exists():
            return 0
        with sqlite3.connect(cache) as db:
            return db.execute("SELECT count(*) FROM rss_item").fetchone()[0]

    def run() -> dict:
        before = count()
        done = subprocess.run(
            [
                job["newsboat"],
                "-q",
                "-u",
                str(home / "urls"),
                "-c",
                str(cache),
                "-C",
                str(home / "config"),
                "-x",
                "reload",
            ],
            env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        after = count()
        with sqlite3.connect(cache) as db:
            empty = db.execute(
                "SELECT count(*) FROM rss_feed f WHERE NOT EXISTS "
                "(SELECT 1 FROM rss_item i WHERE i.feedurl = f.rssurl)"
            ).fetchone()[0]
        return {
            "feeds": len(job["urls"]),
            "ok": None,
            "not_modified": None,
            "errors": empty + len(job["urls"]) - _feed_rows(cache),
            "new_entries": after - before,
            "stored_entries": after,
            "returncode": done.returncode,
        }

    print(json.dumps(_measure(run)), flush=True)


def _feed_rows(cache: Path) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT count(*) FROM rss_feed").fetchone()[0]


def phase_floor(job: dict) -> None:
    """The fetch-only floor: conditional GETs that all answer 304, nothing else."""
    import concurrent.futures as cf
    from urllib.parse import urlsplit

    import requests

    local = threading.local()
    hosts: dict[str, threading.BoundedSemaphore] = defaultdict(
        lambda: threading.BoundedSemaphore(PER_HOST)
    )
    etags: dict[str, str] = {}

    def get(url: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        headers = {"If-None-Match": etags[url]} if url in etags else {}
        with hosts[urlsplit(url).netloc]:
            response = session.get(url, headers=headers, timeout=30)
            response.content  # noqa: B018 - read it all, as a refresh does
        if "ETag" in response.headers:
            etags[url] = response.headers["ETag"]
        return response.status_code

    with cf.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(get, job["urls"]))  # priming: learn the ETags (not measured)

        def run() -> dict:
            codes = list(pool.map(get, job["urls"]))
            return {"feeds": len(codes), "not_modified": codes.count(304)}

        print(json.dumps(_measure(run)), flush=True)


PHASES = {
    "ours": phase_ours,
    "reader": phase_reader,
    "newsboat": phase_newsboat,
    "floor": phase_floor,
}


# --- the driver -------------------------------------------------------------------------


class Corpus:
    """The served documents, and how they change between churn ticks."""

    def __init__(self, docs: list, servers: list, seed: int) -> None:
        sys.path.insert(0, str(HERE))
        from _corpus import make_document

        self.make_document = make_document
        self.base = docs
        self.servers = servers
        self.seed = seed
        self.extra = [0] * len(docs)
        rng = random.Random(f"{seed}:no-304")
        # A third of the feeds ignore conditional requests during the churn scenario.
        self.unconditional = {i for i in range(len(docs)) if rng.random() < 1 / 3}

    def _put(self, i: int, body: bytes, conditional: bool, modified: datetime | None) -> None:
        doc = self.base[i]
        headers = {"Content-Type": doc.content_type}
        if modified is not None:
            headers["Last-Modified"] = format_datetime(modified, usegmt=True)
        self.servers[i % len(self.servers)].add(
            doc.path, body, headers=headers, conditional=conditional
        )

    def reset(self) -> None:
        self.extra = [0] * len(self.base)
        for i, doc in enumerate(self.base):
            self._put(i, doc.body, True, None)

    def start_churn(self) -> None:
        for i in self.unconditional:
            self._put(i, self.base[i].body, False, None)

    def tick(self, n: int) -> int:
        """Tick ``n``: 10 % of the feeds gain 1-3 entries; returns how many."""
        rng = random.Random(f"{self.seed}:churn:{n}")
        changed = rng.sample(range(len(self.base)), max(1, len(self.base) // 10))
        added = 0
        modified = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)
        for i in changed:
            k = rng.randint(1, 3)
            self.extra[i] += k
            added += k
            doc = self.make_document(i, self.seed, fmt=self.base[i].fmt, extra=self.extra[i])
            body = doc.body
            self._put(i, body, i not in self.unconditional, modified)
        return added


class Side:
    """A tool's long-lived process, driven one command (scenario) at a time."""

    def __init__(self, python: str, phase: str, job: dict, workdir: Path) -> None:
        path = workdir / f"{phase}-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(job))
        self.cpu0 = _children_cpu()
        self.proc = subprocess.Popen(
            [python, str(HERE / "ingest.py"), "--phase", phase, "--job", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def run(self, command: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the benchmark process stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> float:
        """Ends the process; returns its tree's CPU seconds from start to end."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.stdout.close()
        if self.proc.wait() != 0:
            raise RuntimeError(f"the benchmark process failed (exit {self.proc.returncode})")
        return _children_cpu() - self.cpu0


def _children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def reader_python(install: bool) -> tuple[str | None, str]:
    """The reader venv's interpreter (created and filled on demand), or why not."""
    python = READER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import reader; print(reader.__version__)"]
    if python.exists():
        done = subprocess.run(probe, capture_output=True, text=True)
        if done.returncode == 0:
            return str(python), done.stdout.strip()
    if not install:
        return None, f"no {READER_VENV} (run with --install-reader, or pip install reader there)"
    print(f"installing reader into {READER_VENV} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(READER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "reader"], check=True)
    done = subprocess.run(probe, capture_output=True, text=True, check=True)
    return str(python), done.stdout.strip()


def newsboat_binary(install: bool) -> tuple[str | None, str]:
    found = shutil.which("newsboat")
    if found is None and install and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing newsboat (apt-get) ...", file=sys.stderr, flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "newsboat"], check=False)
        found = shutil.which("newsboat")
    if found is None:
        return None, "newsboat is not installed (Debian: apt-get install newsboat)"
    out = subprocess.run([found, "-v"], capture_output=True, text=True).stdout
    return found, (out.splitlines() or ["newsboat"])[0]


def compare(
    docs: list,
    servers: list,
    urls: list[str],
    workdir: Path,
    *,
    seed: int,
    ticks: int,
    install: bool,
) -> dict:
    """Every tool through cold, warm and churn; returns {tool: {scenario: result}}."""
    corpus = Corpus(docs, servers, seed)
    tools: dict[str, dict] = {}
    versions: dict[str, str] = {}
    skipped: dict[str, str] = {}
    rpython, versions["reader"] = reader_python(install)
    nboat, versions["newsboat"] = newsboat_binary(install)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def churn(run_tick) -> list[dict]:  # type: ignore[no-untyped-def]
        corpus.start_churn()
        out = []
        for n in range(1, ticks + 1):
            added = corpus.tick(n)
            out.append({**run_tick(), "served_new": added})
        return out

    def python_tool(name: str, python: str) -> dict:
        corpus.reset()
        job = {"urls": urls, "db": str(workdir / f"{name}.sqlite3")}
        log(f"{name}: cold ...")
        side = Side(python, name, job, workdir)
        cold = side.run("update")
        cold["cpu_tree"] = side.close()
        log(f"{name}: warm and {ticks} churn tick(s) ...")
        side = Side(python, name, job, workdir)
        warm = side.run("update")
        ticks_ = churn(lambda: side.run("update"))
        side.close()
        return {"cold": cold, "warm": warm, "churn": ticks_}

    log("fetch-only floor ...")
    corpus.reset()
    side = Side(sys.executable, "floor", {"urls": urls}, workdir)
    assert side.proc.stdout is not None
    floor = json.loads(side.proc.stdout.readline())
    side.close()

    tools["ours"] = python_tool("ours", sys.executable)
    if rpython is None:
        skipped["reader"] = versions.pop("reader")
        log(f"reader: skipped: {skipped['reader']}")
    else:
        tools["reader"] = python_tool("reader", rpython)
    if nboat is None:
        skipped["newsboat"] = versions.pop("newsboat")
        log(f"newsboat: skipped: {skipped['newsboat']}")
    else:
        corpus.reset()
        home = workdir / "newsboat"
        home.mkdir()
        (home / "urls").write_text("".join(u + "\n" for u in urls))
        (home / "config").write_text(
            f"reload-threads {WORKERS}\ndownload-timeout 30\nmax-items 0\nshow-read-feeds yes\n"
        )
        job = {"urls": urls, "home": str(home), "newsboat": nboat}

        def once() -> dict:
            side = Side(sys.executable, "newsboat", job, workdir)
            assert side.proc.stdout is not None
            result = json.loads(side.proc.stdout.readline())
            result["cpu_tree"] = side.close()
            return result

        log("newsboat: cold, warm, churn ...")
        tools["newsboat"] = {"cold": once(), "warm": once(), "churn": churn(once)}
    return {"tools": tools, "floor": floor, "versions": versions, "skipped": skipped}


# --- the report -------------------------------------------------------------------------


def _churn_mean(ticks: list[dict], key: str) -> float:
    return sum(t[key] for t in ticks) / len(ticks)


def targets(res: dict) -> list[tuple[str, str, bool | None]]:
    tools, floor = res["tools"], res["floor"]
    ours = tools["ours"]
    rows: list[tuple[str, str, bool | None]] = []
    reader, newsboat = tools.get("reader"), tools.get("newsboat")
    if reader:
        ratio = ours["cold"]["wall"] / reader["cold"]["wall"]
        rows.append(
            (
                f"cold wall ≤ {COLD_VS_READER:g} × reader's",
                f"{ratio:.2f} ×",
                ratio <= COLD_VS_READER,
            )
        )
        mine = ours["cold"]["cpu"] / max(ours["cold"]["new_entries"], 1) * 1000
        theirs = reader["cold"]["cpu"] / max(reader["cold"]["new_entries"], 1) * 1000
        rows.append(
            (
                "CPU s per 1,000 new entries (cold) ≤ reader's",
                f"{mine:.2f} vs {theirs:.2f}",
                mine <= theirs,
            )
        )
        a, b = _churn_mean(ours["churn"], "cpu"), _churn_mean(reader["churn"], "cpu")
        rows.append(
            (
                f"churn CPU per tick ≤ {CHURN_CPU_VS_READER:g} × reader's",
                f"{a:.2f} s vs {b:.2f} s ({a / b:.2f} ×)",
                a <= CHURN_CPU_VS_READER * b,
            )
        )
    else:
        rows.append(("targets against reader", "reader skipped", None))
    if newsboat:
        a, b = ours["cold"]["wall"], newsboat["cold"]["wall"]
        rows.append(("cold wall < newsboat's", f"{a:.2f} s vs {b:.2f} s", a < b))
    else:
        rows.append(("cold wall < newsboat's", "newsboat skipped", None))
    ratio = ours["warm"]["wall"] / floor["wall"]
    rows.append(
        (
            f"warm wall ≤ {WARM_VS_FLOOR:g} × fetch-only floor",
            f"{ours['warm']['wall']:.2f} s / {floor['wall']:.2f} s = {ratio:.2f} ×",
            ratio <= WARM_VS_FLOOR,
        )
    )
    rss = max(
        [ours["cold"]["rss_mb"], ours["warm"]["rss_mb"]] + [t["rss_mb"] for t in ours["churn"]]
    )
    rows.append(
        (f"peak RSS < {RSS_LIMIT_MB:g} MB, every scenario", f"{rss:.0f} MB", rss < RSS_LIMIT_MB)
    )
    complete = ours["cold"]["errors"] == 0 and ours["cold"]["new_entries"] > 0
    rows.append(
        ("ours: cold run without a failed feed", f"{ours['cold']['errors']} failed", complete)
    )
    return rows


def report(res: dict, meta: dict) -> str:
    tools, floor = res["tools"], res["floor"]
    ours = tools["ours"]
    lines = [
        f"## Side by side — {meta['feeds']:,} feeds, {meta['entries']:,} entries, "
        f"{meta['total_mb']:.0f} MB, seed {meta['seed']}",
        "",
        f"- machine: {meta['cpus']} CPU(s), Python {meta['python']}; load average (1 min) "
        f"before / after: {meta['load_before']:.2f} / {meta['load_after']:.2f}"
        + (
            " — **the machine was busy: timings are noisy**"
            if max(meta["load_before"], meta["load_after"]) > 0.5 * (meta["cpus"] or 1)
            else ""
        ),
        "- tools: ours (Updater, 16 fetch threads, 4 per host, 2 worker processes); "
        + "; ".join(f"{k} {v}" for k, v in res["versions"].items())
        + "".join(f"; {k} skipped: {v}" for k, v in res["skipped"].items()),
        f"- churn: {meta['ticks']} tick(s); each, 10 % of the feeds gain 1-3 entries, a third "
        "of the feeds answer 200 with an unchanged body, the rest 304",
        f"- fetch-only floor (all 304, requests, same concurrency): {floor['wall']:.2f} s wall, "
        f"{floor['cpu']:.2f} s CPU",
        "",
        "| scenario | tool | wall s | CPU s (tree) | peak RSS MB | new entries | failed feeds "
        "| wall vs ours | CPU vs ours |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def row(scenario: str, tool: str, r: dict, base: dict) -> str:
        return (
            f"| {scenario} | {tool} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss_mb']:.0f} "
            f"| {r['new_entries']:,} | {r['errors']} "
            f"| {r['wall'] / base['wall']:.2f} × | {r['cpu'] / max(base['cpu'], 1e-9):.2f} × |"
        )

    for scenario in ("cold", "warm"):
        for tool, r in tools.items():
            lines.append(row(scenario, tool, r[scenario], ours[scenario]))
    for n in range(meta["ticks"]):
        for tool, r in tools.items():
            lines.append(row(f"churn tick {n + 1}", tool, r["churn"][n], ours["churn"][n]))
    lines += ["", "| target | measured | result |", "|---|--:|---|"]
    for target, measured, ok in targets(res):
        result = "PASS" if ok else ("FAIL" if ok is not None else "n/a")
        lines.append(f"| {target} | {measured} | **{result}** |")
    return "\n".join(lines)


def passed(res: dict) -> bool:
    return all(ok is not False for _, _, ok in targets(res))
