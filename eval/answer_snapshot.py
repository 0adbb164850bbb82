"""Snapshot of every answer text: record it, and compare two snapshots (a refactor must not change any answer).

    python eval/answer_snapshot.py record --index DIR --out before.jsonl     # an existing index (read only)
    python eval/answer_snapshot.py record --sample --out before.jsonl        # the bundled sample (temp index)
    python eval/answer_snapshot.py compare before.jsonl after.jsonl          # prints "differences: N"

The questions: every item of ``eval/gold.jsonl``, ``eval/holdout.jsonl``, ``eval/holdout_v1_seen.jsonl``
and ``eval/never_guess.jsonl``, and ``eval/snapshot_probes.jsonl`` (questions and follow-ups, Chinese and English,
that reach the answer forms the eval sets do not: series, rankings, differences, clarifications …); a follow-up is asked after its history, and each earlier turn is
recorded too. A line per turn: ``set``, ``id``, ``turn`` (0.. for the history, ``q`` for the question
itself), ``question``, and of the answer ``answer`` (the full text), ``value``, ``unit``, ``route``,
``status`` and the citations' fact/chunk ids. Offline, no LLM.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETS = {
    "gold": REPO / "eval" / "gold.jsonl",
    "holdout": REPO / "eval" / "holdout.jsonl",
    "holdout_v1_seen": REPO / "eval" / "holdout_v1_seen.jsonl",
    "never_guess": REPO / "eval" / "never_guess.jsonl",
    "probes": REPO / "eval" / "snapshot_probes.jsonl",
}


def questions() -> list[tuple[str, dict[str, Any]]]:
    """(set name, item) for every question of every set, in file order."""
    out = []
    for name, path in SETS.items():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append((name, json.loads(line)))
    return out


def _row(name: str, item: dict[str, Any], turn: str, question: str, a: Any) -> dict[str, Any]:
    return {
        "set": name,
        "id": item["id"],
        "turn": turn,
        "question": question,
        "answer": a.answer,
        "value": a.value,
        "unit": a.unit,
        "route": a.route,
        "status": (a.meta or {}).get("status"),
        "cites": [c.fact_id or c.chunk_id or c.report for c in a.citations],
    }


def record(index: Any) -> list[dict[str, Any]]:
    from assistant.ask import ask

    rows = []
    for name, item in questions():
        history: list[tuple[str, Any]] = []
        for n, prev in enumerate(item.get("history") or []):
            a = ask(prev, index=index, history=list(history) or None)
            rows.append(_row(name, item, str(n), prev, a))
            history.append((prev, a))
        a = ask(item["question"], index=index, history=history or None)
        rows.append(_row(name, item, "q", item["question"], a))
    return rows


def _sample_index() -> Any:
    from assistant.ingest import ingest_paths
    from assistant.settings import SAMPLE_REPORT
    from assistant.store import load_index

    folder = Path(tempfile.mkdtemp(prefix="fiscalqa-snapshot-"))
    res = ingest_paths([SAMPLE_REPORT], folder, show_progress=False)
    if res.failures:
        raise SystemExit(f"the sample did not ingest: {res.failures}")
    return load_index(folder)


def compare(a: Path, b: Path) -> int:
    """Print each turn whose answer differs, and the count; 0 differences → exit 0."""

    def load(p: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
        rows = [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
        return {(r["set"], r["id"], r["turn"]): r for r in rows}

    old, new = load(a), load(b)
    diff = 0
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            diff += 1
            o, n = old.get(key) or {}, new.get(key) or {}
            print(f"DIFF {'/'.join(key)}\n  - {o.get('answer')!r}\n  + {n.get('answer')!r}")
    print(f"turns: {len(old)} vs {len(new)}; differences: {diff}")
    return 1 if diff else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    where = r.add_mutually_exclusive_group(required=True)
    where.add_argument("--index", type=Path, help="an index folder (only read)")
    where.add_argument("--sample", action="store_true", help="the bundled sample, ingested into a temp folder")
    r.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "compare":
        return compare(args.before, args.after)
    from assistant.store import load_index

    index = _sample_index() if args.sample else load_index(args.index)
    rows = record(index)
    args.out.write_text("".join(json.dumps(x, ensure_ascii=False, default=str) + "\n" for x in rows), encoding="utf-8")
    print(f"{len(rows)} answers written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
