"""Calibrate the label-similarity stage (the third item-matching stage) on the gold set.

    python eval/calibrate_labels.py --index DIR        # an index holding the gold questions' reports
    python eval/calibrate_labels.py                    # the bundled sample only (built in a temp folder)
    python eval/calibrate_labels.py --index DIR -v --dry-run   # every phrase; do not write the data file

- **Right labels** (positives): every gold numeric question (Chinese, one item) whose report the index holds
  is answered normally; the printed row labels its answer cites are the right labels. Asked again with the
  exact-label/code and glossary stages off, the words left for the similarity stage are scored against the
  printed labels: the score of the right label and whether it ranks first.
- **Items not printed** (negatives): the never-guess questions (``eval/never_guess.jsonl``), asked normally,
  give the words the similarity stage sees for them; and ``EXTRA_UNPRINTED`` below (everyday items,
  modified items — 差旅补助, 办公楼维修费 — written for this script) are scored over every label of the index,
  each kept only when no printed label contains it. Gold questions whose best label is *not* a right label
  count as negatives too (a wrong label accepted is a wrong figure).
- The threshold is set just above the best negative score, so no negative is accepted, for each of a few
  BM25/embedding weightings; the weighting that accepts most right labels is kept. The threshold, margin,
  weights and a summary go to ``assistant/data/label_similarity.json`` (read by ``assistant.ask.labelsim``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GOLD = REPO / "eval" / "gold.jsonl"
OUT = REPO / "assistant" / "data" / "label_similarity.json"
WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
"""BM25 weights tried (the embedding weight is 1 − w)."""
MARGIN = 0.02
STEP = 0.005
"""The threshold sits this far above the best negative score (rounded up to this grid)."""

EXTRA_UNPRINTED = [
    # everyday items a department's tables seldom print
    "广告费", "律师费", "审计费", "保安费", "绿化费", "加班费", "体检费", "停车费", "过路费", "快递费",
    "保洁费", "翻译费", "订报费", "网站建设费", "宣传片制作费", "专家评审费", "课题研究费", "节日慰问金",
    # a printed item with a word that makes it another item
    "差旅补助", "差旅津贴", "会议补贴", "培训津贴", "接待补助", "办公楼维修费", "空调维修费", "电脑维修费",
    "办公室装修费", "车辆保险费", "用车补贴", "交通补贴", "通讯补贴", "年终奖金", "伙食补助费", "出国培训费",
    "培训场地费", "会议场地租金", "印刷补助", "水电补贴",
]  # fmt: skip


def _num(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def _right(a: Any, gold: dict[str, Any]) -> bool:
    v, g = _num(a.value), _num(gold.get("value"))
    return v is not None and g is not None and math.isclose(v, g, abs_tol=0.006)


def _components(ranked: list[Any]) -> list[tuple[str, float, float]]:
    return [(m.label, m.bm25, m.cosine) for m in ranked]


def collect(index: Any, verbose: bool = False) -> dict[str, Any]:
    """Phrases and their gated candidates (label, bm25, cosine) for positives and negatives."""
    from assistant.ask import ask, labelsim
    from assistant.ask.planner import build_vocab
    from assistant.glossary import norm_label

    sys.path.insert(0, str(REPO / "eval"))
    from never_guess import load_never_guess

    gold = [json.loads(x) for x in GOLD.read_text(encoding="utf-8").splitlines() if x.strip()]
    have = {r.report_id for r in index.reports}
    positives: list[dict[str, Any]] = []
    for g in gold:
        if g.get("category") not in ("numeric_lookup", "traditional") or g.get("lang", "zh") != "zh":
            continue
        if g.get("value") is None or g.get("history") or g.get("report") not in have:
            continue
        a = ask(g["question"], index=index)
        if not _right(a, g):
            continue
        rights = {norm_label(c.row) for c in a.citations if c.row}
        if not rights:
            continue
        labelsim.TRACE = []
        try:
            with labelsim.stages(exact=False):
                ask(g["question"], index=index)
            traced = labelsim.TRACE
        finally:
            labelsim.TRACE = None
        for phrase, ranked in traced:
            positives.append({"id": g["id"], "phrase": phrase, "right": sorted(rights), "cands": _components(ranked)})
    negatives: list[dict[str, Any]] = []
    for it in load_never_guess():
        labelsim.TRACE = []
        try:
            ask(it["question"], index=index)
            traced = labelsim.TRACE
        finally:
            labelsim.TRACE = None
        for phrase, ranked in traced:
            negatives.append({"id": it["id"], "phrase": phrase, "cands": _components(ranked)})
    vocab = build_vocab(index)
    printed = list(vocab.labels)
    for phrase in EXTRA_UNPRINTED:
        if any(phrase in lab for lab in printed):
            continue  # printed in some report after all: not a negative
        ranked = labelsim.score_phrase(phrase, vocab)
        negatives.append({"id": "extra", "phrase": phrase, "cands": _components(ranked)})
    for n in negatives:  # what the threshold alone would have to stop without the gate (reported, not used)
        n["ungated"] = _components(labelsim.score_phrase(n["phrase"], vocab, gate=False))
    return {"positives": positives, "negatives": negatives}


def _best(cands: list[tuple[str, float, float]], w: float) -> list[tuple[float, str]]:
    return sorted(((w * b + (1 - w) * c, lab) for lab, b, c in cands), reverse=True)


def choose(data: dict[str, Any]) -> dict[str, Any]:
    """The weighting and threshold that accept the most right labels and no negative."""
    best: dict[str, Any] | None = None
    for w in WEIGHTS:
        neg = [(s[0][0], n["phrase"], s[0][1]) for n in data["negatives"] if (s := _best(n["cands"], w))]
        wrong = []
        ok = []
        for p in data["positives"]:
            s = _best(p["cands"], w)
            if not s:
                continue
            if s[0][1] in p["right"]:
                margin = s[0][0] - (s[1][0] if len(s) > 1 else 0.0)
                ok.append((s[0][0], margin, p))
            else:
                wrong.append((s[0][0], p["phrase"], s[0][1]))
        top = max([x[0] for x in neg + wrong], default=0.0)
        thr = math.ceil((top + STEP) / STEP) * STEP
        accepted = [p for sc, m, p in ok if sc >= thr and m >= MARGIN]
        row = {
            "w_bm25": w,
            "threshold": round(thr, 3),
            "accepted": len(accepted),
            "right_first": len(ok),
            "wrong_first": len(wrong),
            "max_negative": max(neg, default=None),
            "max_wrong_positive": max(wrong, default=None),
        }
        if best is None or row["accepted"] > best["accepted"] or (row["accepted"] == best["accepted"] and w == 0.5):
            best = row
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--dry-run", action="store_true", help="print the choice without writing the data file")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    from assistant.evaluate import SAMPLE_ID, ensure_index

    idx, _missing, _where = ensure_index({SAMPLE_ID}, index_dir=a.index, reports_dir=None)
    data = collect(idx, a.verbose)
    pos, neg = data["positives"], data["negatives"]
    choice = choose(data)
    w = choice["w_bm25"]
    if a.verbose:
        for p in pos:
            s = _best(p["cands"], w)
            rs = next((sc for sc, lab in s if lab in p["right"]), None)
            print(f"pos {p['id']}: {p['phrase']} → best {s[0] if s else None}; right {p['right']} score {rs}")
        for n in neg:
            s = _best(n["cands"], w)
            u = _best(n.get("ungated", []), w)
            print(f"neg {n['id']}: {n['phrase']} → best {s[0] if s else None} (without the gate {u[0] if u else None})")
    n_pos_q = len({p["id"] for p in pos})
    summary = {
        "index": str(a.index) if a.index else "bundled sample",
        "reports": len(idx.reports),
        "date": datetime.date.today().isoformat(),
        "positives": {"gold_questions": n_pos_q, "phrases": len(pos), "right_label_first": choice["right_first"],
                      "wrong_label_first": choice["wrong_first"], "accepted": choice["accepted"]},
        "negatives": {"phrases": len(neg), "never_guess": sum(1 for n in neg if n["id"] != "extra"),
                      "extra_unprinted": sum(1 for n in neg if n["id"] == "extra"),
                      "with_a_gated_candidate": sum(1 for n in neg if n["cands"]), "accepted": 0},
        "max_negative": choice["max_negative"],
        "max_wrong_positive": choice["max_wrong_positive"],
        "weights_tried": list(WEIGHTS),
        "negatives_best_without_gate": max(
            ((s[0][0], n["phrase"], s[0][1]) for n in neg if (s := _best(n.get("ungated", []), w))), default=None
        ),
    }  # fmt: skip
    print(
        f"label similarity: w_bm25={w} threshold={choice['threshold']} margin={MARGIN}; "
        f"gold phrases {len(pos)} ({n_pos_q} questions): right label first {choice['right_first']}, "
        f"accepted {choice['accepted']}, wrong label first {choice['wrong_first']} (none accepted); "
        f"negatives {len(neg)} ({summary['negatives']['with_a_gated_candidate']} with a candidate): accepted 0; "
        f"best negative {choice['max_negative']}"
    )
    if not a.dry_run:
        out = {
            "_source": "Written by eval/calibrate_labels.py (do not edit by hand): the threshold of the label-similarity "
            "stage, set so that no never-guess or unprinted item, nor any wrong label of a gold question, is accepted.",
            "threshold": choice["threshold"],
            "margin": MARGIN,
            "weights": {"bm25": w, "embed": round(1 - w, 3)},
            "calibration": summary,
        }
        a.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
