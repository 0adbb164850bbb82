"""Warm answer latency with a whole index: every gold question (or a set), by route, medians of repeats.

    python eval/bench_answers.py --index DIR              # all gold questions whose reports DIR holds
    python eval/bench_answers.py --index DIR --reps 5 --json

Loads the index once, answers each question once to warm up (retrievers, vocabulary, automata),
then times the first answer of every question (and ``--reps`` − 1 repeats, reported apart) of each question and reports p50/p95 per route (wall clock, and the
process's CPU time, which a machine shared with other work inflates less) (table, text, both,
none) and for the planner alone (question → plan), plus the one-off cost of building the
vocabulary and its matchers for the index. Targets (issue 11): table p50 ≤ 20 ms, text p50 ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGETS_MS = {"table": 20.0, "text": 150.0}


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("--gold", type=Path, default=None, help="question file (default eval/gold.jsonl)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from assistant.ask import ask, load_cached
    from assistant.ask.planner import build_vocab, parse_question
    from assistant.evaluate import GOLD_FILE, load_gold

    idx = load_cached(a.index)
    t0 = time.perf_counter()
    vocab = build_vocab(idx)
    for name in ("items", "terms_en", "depts", "depts_en"):
        vocab.matcher(name)
    build_s = time.perf_counter() - t0
    have = {r.report_id for r in idx.reports}
    items = [it for it in load_gold(a.gold or GOLD_FILE) if not it.history and it.needed_reports <= have]
    warmed: set[str] = set()
    for it in items:  # warm-up: one question per gold route (retrievers, embedder, caches loaded once)
        if it.route not in warmed:
            ask(it.question, index=idx)
            warmed.add(it.route)
    by_route: dict[str, list[float]] = {}
    cpu_route: dict[str, list[float]] = {}
    rep_route: dict[str, list[float]] = {}
    plan_ms: list[float] = []
    for it in items:
        times, cpu = [], []
        route = "none"
        for _ in range(a.reps):
            t, c = time.perf_counter(), time.process_time()
            ans = ask(it.question, index=idx)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            route = ans.route
        # the first answer of each question is the one measured (a repeat may hit a cache, e.g. the query's embedding)
        by_route.setdefault(route, []).append(times[0])
        cpu_route.setdefault(route, []).append(cpu[0])
        rep_route.setdefault(route, []).append(statistics.median(times[1:]) if len(times) > 1 else times[0])
        t = time.perf_counter()
        parse_question(it.question, vocab)
        plan_ms.append((time.perf_counter() - t) * 1000)
    out = {
        "index": str(a.index),
        "reports": len(idx.reports),
        "facts": len(idx.facts),
        "labels": len(vocab.labels),
        "questions": len(items),
        "reps": a.reps,
        "vocab_build_s": round(build_s, 3),
        "plan_p50_ms": round(pct(plan_ms, 50) or 0, 2),
        "routes": {
            r: {
                "n": len(v),
                "p50_ms": round(pct(v, 50) or 0, 2),
                "p95_ms": round(pct(v, 95) or 0, 2),
                "cpu_p50_ms": round(pct(cpu_route[r], 50) or 0, 2),
                "repeat_p50_ms": round(pct(rep_route[r], 50) or 0, 2),
            }
            for r, v in sorted(by_route.items())
        },
    }
    if a.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(
            f"index {out['index']}: {out['reports']} reports, {out['facts']:,} facts, {out['labels']:,} printed labels; "
            f"{out['questions']} questions × {a.reps}"
        )
        print(f"vocabulary + matchers built once: {out['vocab_build_s']} s; planner p50 {out['plan_p50_ms']} ms")
        for r, d in out["routes"].items():
            tgt = TARGETS_MS.get(r)
            mark = "" if tgt is None else (f" (target ≤ {tgt:.0f} ms: {'met' if d['p50_ms'] <= tgt else 'not met'})")
            print(
                f"  {r:5} n={d['n']:3}  p50 {d['p50_ms']:.1f} ms  p95 {d['p95_ms']:.1f} ms  "
                f"(CPU time p50 {d['cpu_p50_ms']:.1f} ms; asked again p50 {d['repeat_p50_ms']:.1f} ms){mark}"
            )
        print(
            f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times include waiting for a CPU)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
