"""Never-guess set: questions whose right answer has no figure; each must come back without one.

    python eval/never_guess.py                  # on the bundled sample (index built in a temp folder)
    python eval/never_guess.py --index DIR      # on an existing index
    python eval/never_guess.py -v               # every answer, not only the failures

``eval/never_guess.jsonl``: one JSON object a line — ``id``, ``kind`` (items_not_printed,
not_the_report, not_ingested, operation, nonsense), ``question``, ``report`` (the report it is about).
The CI test ``tests/test_never_guess.py`` asserts the same on the sample.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NEVER_GUESS_FILE = REPO / "eval" / "never_guess.jsonl"


def load_never_guess(path: Path = NEVER_GUESS_FILE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run(index: Any, items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Any]]:
    from assistant.ask import ask

    return [(it, ask(it["question"], index=index)) for it in items]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    from assistant.evaluate import SAMPLE_ID, ensure_index

    items = load_never_guess()
    idx, _missing, _where = ensure_index({SAMPLE_ID}, index_dir=a.index, reports_dir=None)
    rows = run(idx, items)
    bad = [(it, ans) for it, ans in rows if ans.value is not None]
    by_kind = Counter(it["kind"] for it in items)
    for it, ans in rows:
        if a.verbose or ans.value is not None:
            mark = "FIGURE" if ans.value is not None else "ok"
            print(f"{mark:6} {it['id']}: {it['question']} → {ans.value} {ans.unit or ''} | {ans.answer[:100]}")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
    print(f"never-guess: {len(items)} questions ({kinds}); answered with a figure: {len(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
