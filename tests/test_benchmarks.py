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
