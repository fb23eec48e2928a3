"""The benchmark corpus stays readable by our parser, so benchmarks/ingest.py cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.parse import parse_feed

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CORPUS_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_corpus.py"


@pytest.fixture(scope="module")
def corpus():
    spec = importlib.util.spec_from_file_location("bench_corpus", CORPUS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.mark.parametrize("fmt", ["rss20", "atom10", "rss10", "json11"])
def test_corpus_documents_parse_cleanly(corpus, fmt):
    for index in range(3):
        doc = corpus.make_document(index, seed=1, fmt=fmt)
        url = f"http://127.0.0.1:8000{doc.path}"
        feed = parse_feed(doc.body, url=url, headers={"Content-Type": doc.content_type}, now=NOW)

        assert feed.kind == fmt
        assert feed.warning is None  # well-formed: the benchmark measures the happy path
        assert len(feed.entries) == doc.entries
        assert 20 <= doc.entries <= 50
        assert len({e.guid for e in feed.entries}) == doc.entries
        assert all(e.title and e.published and e.link for e in feed.entries)
        assert all(e.content_html or e.summary_html for e in feed.entries)
        assert any(c in feed.entries[0].title + feed.title for c in "éèàçêôœ")


def test_corpus_is_deterministic_and_mixed(corpus):
    docs = corpus.make_corpus(3, seed=7)
    assert [d.body for d in docs] == [d.body for d in corpus.make_corpus(3, seed=7)]
    assert docs[0].body != corpus.make_corpus(1, seed=8)[0].body
    # Over a few documents, the hostile markup the sanitizer must remove does appear.
    bodies = b"".join(corpus.make_document(i, seed=1).body for i in range(12))
    for needle in (b"script", b"onerror", b"javascript:", b"iframe", b"style"):
        assert needle in bodies


def test_new_entries_go_on_top_and_the_others_stay(corpus):
    """The churn scenario's documents: ``extra`` newer entries, the rest unchanged."""
    url = "http://127.0.0.1:8000/feeds/x"
    for fmt in corpus.FORMATS:
        base = corpus.make_document(5, seed=2, fmt=fmt)
        more = corpus.make_document(5, seed=2, fmt=fmt, extra=3)
        old = parse_feed(base.body, url=url, headers={"Content-Type": base.content_type}, now=NOW)
        new = parse_feed(more.body, url=url, headers={"Content-Type": more.content_type}, now=NOW)
        assert more.entries == base.entries + 3 == len(new.entries)
        added, kept = new.entries[:3], new.entries[3:]
        assert [(e.guid, e.title, e.content_html) for e in kept] == [
            (e.guid, e.title, e.content_html) for e in old.entries
        ]
        assert {e.guid for e in added}.isdisjoint(e.guid for e in old.entries)
        assert min(e.published for e in added) > max(e.published for e in old.entries)


@pytest.fixture(scope="module")
def side_by_side(corpus, tmp_path_factory):
    """``ingest.py --compare`` on 4 RSS/Atom documents and one churn tick: every tool
    present runs for real (reader from benchmarks/out/reader-venv, newsboat from PATH;
    nothing is installed here)."""
    sys.path.insert(0, str(CORPUS_PATH.parent))
    sys.path.insert(0, str(CORPUS_PATH.parents[1] / "tests"))
    try:
        import _compare
        from feedserver import FeedServer
    finally:
        sys.path.remove(str(CORPUS_PATH.parent))
    docs = [corpus.make_document(i, seed=1, fmt=("rss20", "atom10")[i % 2]) for i in range(4)]
    servers = [FeedServer().start()]
    urls = [servers[0].add(d.path, d.body, headers={"Content-Type": d.content_type}) for d in docs]
    try:
        res = _compare.compare(
            docs, servers, urls, tmp_path_factory.mktemp("compare"), seed=1, ticks=1, install=False
        )
    finally:
        servers[0].stop()
    meta = {
        "feeds": 4, "seed": 1, "entries": sum(d.entries for d in docs), "total_mb": 0.1,
        "cpus": 2, "python": "3", "load_before": 0.0, "load_after": 0.0, "ticks": 1,
    }  # fmt: skip
    return res, _compare.report(res, meta), sum(d.entries for d in docs)


@pytest.mark.parametrize("tool", ["ours", "reader", "newsboat"])
def test_compare_runs_each_tool_through_cold_warm_and_churn(side_by_side, tool):
    res, text, entries = side_by_side
    if tool in res["skipped"]:
        pytest.skip(f"{tool} not available: {res['skipped'][tool]}")
    runs = res["tools"][tool]
    assert runs["cold"]["new_entries"] == entries
    assert runs["cold"]["errors"] == 0
    assert runs["warm"]["new_entries"] == 0
    tick = runs["churn"][0]
    assert tick["served_new"] > 0 and tick["new_entries"] == tick["served_new"]
    assert all(r["wall"] > 0 and r["cpu"] > 0 and r["rss_mb"] > 0 for r in (runs["cold"], tick))
    if tool == "ours":
        assert runs["warm"]["not_modified"] == 4
        assert res["floor"]["not_modified"] == 4
    assert f"| cold | {tool} |" in text
    assert "| warm wall ≤ 1.3 × fetch-only floor |" in text
