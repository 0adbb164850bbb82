"""Benchmark: render the page region behind facts (target ≤ 150 ms a region, median).

    python eval/bench_source.py [--index DIR] [--n 100]

Needs an index with PDF reports (e.g. `fiscal-qa ingest ../shared/reports --index /tmp/corpus`).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from assistant.source import render
from assistant.store import load_index


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="indexes")
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    idx = load_index(Path(args.index))
    facts = idx.facts[idx.facts.bbox.notna() & idx.facts.page.notna()]
    ids = random.Random(7).sample(list(facts.fact_id), min(args.n, len(facts)))
    times = []
    for fid in ids:
        t0 = time.perf_counter()
        render(idx, fid)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"{len(times)} regions rendered: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms")


if __name__ == "__main__":
    main()
