"""Latency benchmark: cold start (process start → first answer) and warm per-question latency.

    python eval/bench_latency.py                      # on the bundled sample (index built in a temp folder)
    python eval/bench_latency.py --index /tmp/me/idx  # on an existing index
    python eval/bench_latency.py --json

Cold start runs ``fiscal-qa ask QUESTION --index DIR --json`` in a fresh Python process and
times it from spawn to exit (imports, index load, retriever load, answer), ``--cold`` times.
Warm latency loads the index once in this process, answers one question of each kind to
warm up, then times ``--warm`` repetitions of a table question and a descriptive question.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.evaluate import SAMPLE_ID, ensure_index, percentile  # noqa: E402

TABLE_Q = "how much was spent on reception in 2023"
TEXT_Q = "曲靖市投资促进局2023年绩效自评发现了哪些问题，如何整改？"


def cold_start(index_dir: Path, question: str, runs: int) -> dict[str, object]:
    """Spawn the CLI ``runs`` times; seconds from spawn to the answer on stdout."""
    exe = shutil.which("fiscal-qa")
    cmd = [exe] if exe else [sys.executable, "-m", "assistant.cli"]
    times: list[float] = []
    answer: dict[str, object] = {}
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*cmd, "ask", question, "--index", str(index_dir), "--json"], capture_output=True, text=True, cwd=REPO
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"fiscal-qa ask failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "question": question,
        "runs": runs,
        "seconds_min": min(times),
        "seconds_median": statistics.median(times),
        "seconds_max": max(times),
        "value": answer.get("value"),
        "unit": answer.get("unit"),
    }


def warm(index_dir: Path, questions: dict[str, str], reps: int) -> dict[str, dict[str, float | None]]:
    """Per-question latency in ms after a warm-up, ``reps`` repetitions each."""
    from assistant.ask import ask
    from assistant.store import load_index

    idx = load_index(index_dir)
    for q in questions.values():
        ask(q, index=idx)
    out: dict[str, dict[str, float | None]] = {}
    for kind, q in questions.items():
        ms = []
        for _ in range(reps):
            t0 = time.perf_counter()
            ask(q, index=idx)
            ms.append((time.perf_counter() - t0) * 1000)
        out[kind] = {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", help="index folder (default: the bundled sample, ingested into a temp folder)")
    ap.add_argument("--cold", type=int, default=3, help="cold-start runs (default 3)")
    ap.add_argument("--warm", type=int, default=20, help="warm repetitions per question (default 20)")
    ap.add_argument("--question", default=TABLE_Q, help="table question for the cold start")
    ap.add_argument("--text-question", default=TEXT_Q, help="descriptive question for the cold start (loads the retrievers)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    if args.index:
        index_dir = Path(args.index)
    else:
        idx, _, _ = ensure_index({SAMPLE_ID}, index_dir=None, reports_dir=None)
        index_dir = Path(idx.path).parent
    cold = {
        "table": cold_start(index_dir, args.question, args.cold),
        "descriptive": cold_start(index_dir, args.text_question, args.cold),
    }
    w = warm(index_dir, {"table": args.question, "descriptive": args.text_question}, args.warm)
    res = {"index": str(index_dir), "cold_start": cold, "warm": w}
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
        return 0
    print(f"index: {index_dir}")
    print("(warm figures repeat one question; the eval's per-question latencies over distinct questions are the better guide)")
    for kind, c in cold.items():
        print(
            f"cold start, {kind} question (process start → first answer, {c['runs']} runs): median {c['seconds_median']:.2f} s "
            f"(min {c['seconds_min']:.2f}, max {c['seconds_max']:.2f}); value {c['value']} {c['unit']}"
        )
    for kind, v in w.items():
        print(f"warm {kind}: p50 {v['p50_ms']:.1f} ms, p95 {v['p95_ms']:.1f} ms ({args.warm} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
