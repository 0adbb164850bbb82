"""Cross-check ``assistant/data/classification.tsv`` against the code → name pairs printed in an index's tables.

    python eval/check_classification.py --index /work/idx/corpus2            # summary and every disagreement
    python eval/check_classification.py --index /work/idx/corpus2 --json

A pair agrees when the printed label (numbering, spaces, brackets and a trailing 支出 normalized) is the file's
name for the code or one of its former names. Codes the file does not list are reported separately (项 are
listed only where the name is specific). The index is only read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _norm(s: str) -> str:
    from assistant.glossary import norm_label

    t = norm_label(s or "")
    t = re.sub(r"^\d{3,7}", "", t)
    return t.replace("（", "(").replace("）", ")")


def printed_pairs(index_dir: Path) -> Counter[tuple[str, str]]:
    """(code, printed label) → how many cells print it."""
    from assistant.store import load_index

    idx = load_index(index_dir, facts_backend="memory")
    f = idx.facts[idx.facts["code"].notna()]
    return Counter((str(c), str(lab)) for c, lab in zip(f["code"], f["row_label"], strict=True))


def check(pairs: Counter[tuple[str, str]]) -> dict[str, object]:
    from assistant.glossary import classification

    names = {c["code"]: {_norm(c["name"]), *(_norm(x) for x in c["former"])} for c in classification()}
    agree, differ, unlisted = [], [], []
    by_code: dict[str, set[str]] = defaultdict(set)
    for (code, lab), _n in pairs.items():
        by_code[code].add(lab)
    for code, labs in sorted(by_code.items()):
        if code not in names:
            unlisted.append({"code": code, "printed": sorted(labs)})
            continue
        ok = [lab for lab in labs if _norm(lab) in names[code]]
        bad = [lab for lab in labs if _norm(lab) not in names[code]]
        if ok:
            agree.append(code)
        if bad and not ok:
            differ.append({"code": code, "file": sorted(names[code]), "printed": sorted(bad)})
    return {"codes_printed": len(by_code), "agree": len(agree), "differ": differ, "unlisted": unlisted}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = check(printed_pairs(args.index))
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=1))
        return 0
    differ = res["differ"]
    unlisted = res["unlisted"]
    assert isinstance(differ, list) and isinstance(unlisted, list)
    for d in differ:
        print(f"DIFFER {d['code']}: file {d['file']} / printed {d['printed']}")
    for u in unlisted:
        print(f"UNLISTED {u['code']}: printed {u['printed']}")
    print(
        f"classification check: {res['codes_printed']} codes printed with a label; {res['agree']} agree with the file, "
        f"{len(differ)} differ, {len(unlisted)} not listed"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
