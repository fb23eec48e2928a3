"""Differential check of the fast RSS/Atom reader over a whole benchmark corpus.

    .venv/bin/python benchmarks/fastfeed_check.py [--docs 300] [--seeds 1 2]

Every document goes through ``parse.parse_feed`` with ``parse.FAST_PATH`` on and off
(feedparser alone) and must give an equal ``ParsedFeed``; prints how many documents of
each format the fast path took, the CPU time of both ways, and every difference (exit
status 1 if there is one). tests/test_fastfeed.py runs the same check on a slice.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _corpus import make_corpus  # noqa: E402

from aggregator import fastfeed, parse  # noqa: E402
from aggregator.errors import ParseError  # noqa: E402

NOW = datetime(2026, 3, 2, tzinfo=UTC)
READ_RESULTS: list[object] = [None]
_read = fastfeed.read


def counting_read(body, headers):
    result = _read(body, headers)
    READ_RESULTS.append(result)
    return result


fastfeed.read = counting_read  # parse looks it up on the module at each call


def run(doc, fast: bool):
    parse.FAST_PATH = fast
    url = f"http://127.0.0.1:8000{doc.path}"
    try:
        return parse.parse_feed(
            doc.body, url=url, headers={"content-type": doc.content_type}, now=NOW
        )
    except ParseError as e:
        return ("ParseError", e.code, str(e))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    taken: Counter[str] = Counter()
    total: Counter[str] = Counter()
    cpu = {True: 0.0, False: 0.0}
    diffs = 0
    for seed in args.seeds:
        for doc in make_corpus(args.docs, seed):
            results = {}
            for fast in (False, True):
                start = time.process_time()
                results[fast] = run(doc, fast)
                cpu[fast] += time.process_time() - start
            total[doc.fmt] += 1
            if READ_RESULTS[-1] is not None:  # the fast reader's answer on the fast run
                taken[doc.fmt] += 1
            READ_RESULTS.append(None)
            if results[True] != results[False]:
                diffs += 1
                print(f"DIFFERENT: seed {seed} {doc.path} ({doc.fmt})")
    for fmt in sorted(total):
        print(f"{fmt:7} {taken[fmt]:4}/{total[fmt]} documents took the fast path")
    print(f"parse CPU: feedparser {cpu[False]:.2f} s, with the fast path {cpu[True]:.2f} s")
    print(f"{diffs} difference(s)")
    parse.FAST_PATH = True
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
