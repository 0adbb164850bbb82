"""Rename probe: the sample's gold questions asked again after the sample is renamed to other departments.

The bundled sample (曲靖市投资促进局 2023 决算) is rewritten to five other departments and places
(a city bureau, a district commission, a district bureau, a provincial department, a county bureau),
all five ingested into one index; every gold question about the sample is asked again with the
department named in the usual short ways (full name, place + short form, level + short form,
English). Every answer must give the figure the original gives, from the renamed report.

    python eval/rename_probe.py            # prints a summary line per renaming and every mismatch
    python eval/rename_probe.py --json

The test ``tests/test_rename_probe.py`` runs the same probe in CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE_TEXT = REPO / "data" / "00_yunnan_qujing_touzicujinju_2023_juesuan.txt"
ORIGINAL = {"full": "曲靖市投资促进局", "city": "曲靖市", "city_short": "曲靖", "province": "云南省", "province_short": "云南"}
ORIGINAL_EN = re.compile(r"(?:the )?Qujing (?:Municipal )?Investment Promotion Bureau", re.I)
ORIGINAL_PLACE_EN = re.compile(r"\bQujing\b")


@dataclass(frozen=True)
class Renaming:
    """A department the sample is rewritten to, and how people name it."""

    full: str
    place: str
    """What replaces 曲靖市 in the text (the place the department belongs to)."""
    place_short: str
    province: str
    province_short: str
    forms: tuple[str, ...]
    """Chinese ways of naming it in a question."""
    forms_en: tuple[str, ...]
    place_en: str

    @property
    def report_id(self) -> str:
        return f"probe_{hashlib.sha1(self.full.encode()).hexdigest()[:8]}_2023"


RENAMINGS: tuple[Renaming, ...] = (
    Renaming("杭州市民政局", "杭州市", "杭州", "浙江省", "浙江", ("杭州市民政局", "杭州民政局", "市民政局", "民政局"),
             ("the Hangzhou Civil Affairs Bureau", "the Hangzhou Municipal Civil Affairs Bureau", "the civil affairs bureau"), "Hangzhou"),
    Renaming("北京市海淀区教育委员会", "北京市海淀区", "海淀", "北京市", "北京", ("北京市海淀区教育委员会", "海淀区教委", "海淀教委", "区教委"),
             ("the Haidian District Education Commission", "the Haidian Education Commission"), "Haidian"),
    Renaming("成都市武侯区卫生健康局", "成都市武侯区", "武侯", "四川省", "四川", ("成都市武侯区卫生健康局", "武侯区卫健局", "武侯卫健局", "区卫健局"),
             ("the Wuhou District Health Bureau", "the Chengdu Wuhou Health Bureau"), "Wuhou"),
    Renaming("广东省财政厅", "广东省", "广东", "广东省", "广东", ("广东省财政厅", "广东财政厅", "省财政厅", "财政厅"),
             ("the Guangdong Department of Finance", "the Guangdong Provincial Finance Department", "the department of finance"), "Guangdong"),
    Renaming("浙江省淳安县教育局", "淳安县", "淳安", "浙江省", "浙江", ("淳安县教育局", "淳安教育局", "县教育局"),
             ("the Chun'an County Education Bureau", "the Chunan Education Bureau"), "Chun'an"),
)  # fmt: skip


def renamed_text(r: Renaming) -> str:
    """The sample's text with its department and places replaced."""
    t = SAMPLE_TEXT.read_text(encoding="utf-8")
    for old, new in (
        (ORIGINAL["full"], r.full),
        (ORIGINAL["city"], r.place),
        (ORIGINAL["city_short"], r.place_short),
        (ORIGINAL["province"], r.province),
        (ORIGINAL["province_short"], r.province_short),
    ):
        t = t.replace(old, new)
    return t


def write_renamed(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for r in RENAMINGS:
        p = folder / f"{r.report_id}.txt"
        p.write_text(renamed_text(r), encoding="utf-8")
        out.append(p)
    return out


def _trad(text: str) -> str:
    import opencc

    return str(opencc.OpenCC("s2t").convert(text))


def rename_question(q: str, r: Renaming, k: int) -> str:
    """``q`` about the sample, asked about ``r`` with its ``k``-th way of naming it (cycled)."""
    form = r.forms[k % len(r.forms)]
    en = r.forms_en[k % len(r.forms_en)]
    tw_full = _trad(ORIGINAL["full"])
    out = q.replace(ORIGINAL["full"], form).replace(tw_full, _trad(form))
    out = ORIGINAL_EN.sub(en, out)
    out = ORIGINAL_PLACE_EN.sub(r.place_en, out)
    out = out.replace(ORIGINAL["city"], r.place).replace(ORIGINAL["city_short"], r.place_short)
    if out == q and not re.search(r"[A-Za-z]{3}", q) and "呢" not in q and not q.startswith(("那", "其中")):
        out = form + q  # a question naming no department: the five renamed reports need one
    elif out == q and re.search(r"[A-Za-z]{3}", q) and not q.lower().startswith("and"):
        out = f"{q.rstrip('?')} ({en})?"
    return out


@dataclass
class Mismatch:
    gold_id: str
    renaming: str
    question: str
    expected: Any
    got: Any
    note: str = ""


@dataclass
class ProbeResult:
    asked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    per_renaming: dict[str, int] = field(default_factory=dict)


def _key(a: Any) -> tuple[Any, ...]:
    return (None if a.value is None else round(float(a.value), 4), a.unit or None)


def run_probe(original_index: Any, renamed_index: Any, *, forms_per_question: int = 2, with_text: bool = True) -> ProbeResult:
    """Ask every sample gold question on both indexes; collect answers whose figure differs.

    ``with_text=False`` leaves out the questions answered by passages only (no figure to compare).
    """
    from assistant.ask import ask
    from assistant.evaluate import GOLD_FILE, load_gold, select_items

    items = select_items(load_gold(GOLD_FILE), sample_only=True)
    if not with_text:
        items = [it for it in items if it.route != "text"]
    res = ProbeResult()
    for n, it in enumerate(items):
        hist0: list[Any] = []
        for h in it.history:
            hist0.append((h, ask(h, index=original_index, history=list(hist0))))
        want = ask(it.question, index=original_index, history=hist0)
        for r in RENAMINGS:
            for k in range(n, n + forms_per_question):  # the naming forms cycle over the questions
                hist: list[Any] = []
                for h in it.history:
                    hq = rename_question(h, r, k)
                    hist.append((hq, ask(hq, index=renamed_index, history=list(hist))))
                q = rename_question(it.question, r, k)
                got = ask(q, index=renamed_index, history=hist)
                res.asked += 1
                res.per_renaming[r.full] = res.per_renaming.get(r.full, 0) + 1
                note = ""
                if _key(got) != _key(want):
                    note = "figure differs"
                elif got.value is not None and any(c.department and c.department != r.full for c in got.citations):
                    note = "cites another department's report"
                if note:
                    res.mismatches.append(Mismatch(it.id, r.full, q, _key(want), _key(got), f"{note}: {got.answer[:120]}"))
    return res


def build_indexes(folder: Path, *, reuse: bool = False) -> tuple[Any, Any]:
    from assistant.ingest import ingest_paths
    from assistant.store import load_index

    orig = folder / "original"
    ren = folder / "renamed"
    if reuse and (orig / "CURRENT").exists() and (ren / "CURRENT").exists():
        return load_index(orig), load_index(ren)
    ok = ingest_paths([SAMPLE_TEXT], orig, show_progress=False)
    assert ok.ok, ok.failures
    ok = ingest_paths(write_renamed(folder / "texts"), ren, show_progress=False)
    assert ok.ok, ok.failures
    return load_index(orig), load_index(ren)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="folder for the indexes (default: a temp folder)")
    ap.add_argument("--forms", type=int, default=1, help="ways of naming each department per question (cycled)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse the indexes already in --work")
    a = ap.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp(prefix="fiscalqa-probe-"))
    orig, ren = build_indexes(work, reuse=a.reuse)
    res = run_probe(orig, ren, forms_per_question=a.forms)
    if a.json:
        print(
            json.dumps({"asked": res.asked, "mismatches": [m.__dict__ for m in res.mismatches]}, ensure_ascii=False, default=str)
        )
    else:
        print(f"rename probe: {res.asked} questions asked over {len(RENAMINGS)} renamings, {len(res.mismatches)} mismatches")
        for m in res.mismatches:
            print(f"  {m.gold_id} [{m.renaming}] {m.question} → expected {m.expected}, got {m.got} ({m.note})")
    return 1 if res.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
