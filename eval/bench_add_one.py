"""What adding one report costs on an index of any size: ``bench_scale.add_one`` (write, then remove) N times.

    nice python eval/bench_add_one.py --templates /tmp/corpus_copy --index /tmp/scale_copy --adds 9

``--templates``: an index of ../shared/reports (the replicas' layouts, read only); ``--index``: the index to add
to (written: use a copy). Prints the first add (a fresh process: caches cold) and each later one, then the
medians, as JSON (seconds per stage: embed, write, vectors, manifest, gc; total wall and CPU; remove wall).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    from eval.bench_scale import ReusedVectors, _new_places, add_one, load_templates

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--templates", type=Path, required=True, help="an index of ../shared/reports (read only)")
    ap.add_argument("--index", type=Path, required=True, help="the index to add to (a copy: it is written)")
    ap.add_argument("--adds", type=int, default=5, help="adds measured after the first")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    templates = sorted(load_templates(args.templates), key=lambda t: t["meta"]["report_id"])
    places = _new_places(random.Random(2026))
    emb = ReusedVectors()

    def show(label: str, t: dict[str, float]) -> None:
        print(label, json.dumps({k: round(v, 3) for k, v in t.items()}), flush=True)

    show("first", add_one(args.index, 95_000, templates[0], places, emb))
    adds = []
    for i in range(args.adds):
        adds.append(add_one(args.index, 90_000 + i, templates[i % len(templates)], places, emb))
        show(f"add {i}", adds[-1])
    if adds:
        show("median", {k: statistics.median(a[k] for a in adds) for k in adds[0]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
