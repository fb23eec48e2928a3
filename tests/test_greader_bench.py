"""benchmarks/sync.py's client, run against a tiny site, so the benchmark cannot rot
(the real run, over a million entries, is by hand: see the README)."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

from websupport import ROOT, seeded_app, storage, write_site

from aggregator.web import serve


def test_the_sync_benchmark_client_replays_a_first_and_an_incremental_sync(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("bench_sync", ROOT / "benchmarks" / "sync.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    try:
        spec.loader.exec_module(bench)
        site = write_site(tmp_path)
        app = seeded_app(site)
        app.config["AGGREGATOR_API_PASSWORD"] = bench.PASSWORD
        server = serve(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            timings, first = bench.run_sync(server.effective_port, 1, site["db"])
        finally:
            server.close()
            thread.join(10)
        table = timings.table()
        assert "stream/items/ids n=10,000 (xt=read)" in table and "edit-tag 100 i= read" in table
        assert first["ids"] == 7
        assert storage(app).unread_counts()[""] == 7  # put back as it was
        app.extensions["aggregator"].close()
    finally:
        del sys.modules[spec.name]
