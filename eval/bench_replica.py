"""The replica questions of ``bench_scale`` on one built index, alone: CPU ms of each report's first question.

Loads the index once, asks the first table question (公务接待费) and a descriptive one about each of 30
random replica reports (the benchmark's ``random.Random(7)`` over report ids starting with "s"), and prints
p50/p95 CPU ms. ``--rounds N`` forgets the facts read (the frame cache and question subsets) and asks again,
so every round measures first questions; ``--answers FILE`` writes the answers (for comparing two versions).

    nice python eval/bench_replica.py /tmp/catalog_5000 --rounds 3 --answers /tmp/a.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any


def _pct(xs: list[float], p: int) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] if s else 0.0


def _answer(a: Any) -> dict[str, Any]:
    d: dict[str, Any] = a.model_dump(mode="json")
    d.pop("meta", None)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--answers", type=Path, default=None)
    args = ap.parse_args()

    from assistant.ask import ask
    from assistant.store import load_index

    c0 = time.process_time()
    idx = load_index(args.index)
    load_cpu = time.process_time() - c0
    first = idx.reports[0]
    c0 = time.process_time()
    ask(f"{first.department}{first.year}年一般公共预算财政拨款支出是多少？", index=idx)
    first_cpu = time.process_time() - c0
    rng = random.Random(7)
    reps = [r for r in idx.reports if r.report_id.startswith("s")] or list(idx.reports)
    picks = rng.sample(reps, min(30, len(reps)))
    table: list[float] = []
    text: list[float] = []
    answers: dict[str, Any] = {}
    for n in range(args.rounds):
        if n:
            for k in ("scope.frames", "scope.subsets"):
                idx.extra.pop(k, None)
        for r in picks:
            for q, out in (
                (f"{r.department}{r.year}年公务接待费是多少？", table),
                (f"{r.department}{r.year}年存在的问题和整改情况是什么？", text),
            ):
                c = time.process_time()
                a = ask(q, index=idx)
                out.append((time.process_time() - c) * 1000)
                answers.setdefault(q, _answer(a))
    print(f"index {args.index}: {len(idx.reports)} reports, facts via {'duckdb' if idx.lazy_facts else 'memory'}")
    print(f"load {load_cpu:.2f} CPU-s, first table question {first_cpu:.2f} CPU-s")
    print(
        f"replica table p50 {statistics.median(table):.1f} p95 {_pct(table, 95):.1f} ms | "
        f"descriptive p50 {statistics.median(text):.1f} p95 {_pct(text, 95):.1f} ms (CPU, n={len(table)})"
    )
    if args.answers is not None:
        args.answers.write_text(json.dumps(answers, ensure_ascii=False, sort_keys=True, indent=0), encoding="utf-8")
        print("answers", hashlib.sha256(args.answers.read_bytes()).hexdigest()[:16])


if __name__ == "__main__":
    main()
