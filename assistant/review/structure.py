"""Structure: the standard tables of the report's kind present, numbered in order, as its table of contents lists them.

The tables found are the index's ``TableInfo`` rows (``ctx.tables``), each with its normalized
kind (``assistant.glossary.table_kind``); the standard set of a kind is data
(``assistant/data/review_rules.json``); the table of contents is read from the page text of the
kept PDF (``ctx.pages``): its entries that name a table are classified the same way and compared,
as a sequence of kinds, with the tables printed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.glossary import table_kind
from assistant.review.model import CellRef, Figure, _Ctx, _s

RULES_FILE = Path(__file__).resolve().parents[1] / "data" / "review_rules.json"
_NOT_STANDARD = {"other", "performance_narrative", "performance_indicators", "project_performance"}


@lru_cache(maxsize=1)
def review_rules() -> dict[str, Any]:
    """The review's domain data (standard table sets, placeholder words, organisation suffixes)."""
    data: dict[str, Any] = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return data


def kind_zh(kind: str) -> str:
    return str(review_rules()["table_kind_zh"].get(kind, kind))


# --------------------------------------------------------------------------- table of contents

_MARKER = re.compile(
    r"^\s*(?:第[一二三四五六七八九十]+部分|[一二三四五六七八九十]+[、.．]|\d{1,2}\s*[、.．](?=\s*(?:20\d\d|\D))|[（(][一二三四五六七八九十\d]+[)）])"
)
_LEADERS = re.compile(r"[.…·．]{2,}.*$|\s+\d{1,3}\s*$")


@dataclass(frozen=True)
class TocEntry:
    text: str
    """The entry as printed, without its leader dots and page number."""
    kind: str
    page: int


@dataclass(frozen=True)
class Toc:
    page: int
    entries: list[TocEntry]


def _is_toc_page(text: str) -> bool:
    lines = [re.sub(r"\s+", "", ln) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if any(ln == "目录" for ln in lines):
        return True
    return any(a == "目" and b == "录" for a, b in zip(lines, lines[1:], strict=False))


def _toc_lines(text: str) -> list[str]:
    """The entries of a contents page: a numbered line, joined with the lines that continue it."""
    entries: list[str] = []
    for raw in text.splitlines():
        ln = raw.strip()
        if not ln or re.fullmatch(r"目\s*录|目|录|序号|报表名称|\d{1,3}", ln):
            continue
        if _MARKER.match(ln) or not entries:
            entries.append(ln)
        else:
            entries[-1] += ln
    return entries


def table_of_contents(ctx: _Ctx) -> list[Toc]:
    """Every table of contents of the report (a report in two files can have one in each)."""
    out: list[Toc] = []
    for page in sorted(ctx.pages):
        text = ctx.pages[page]
        if not _is_toc_page(text) or text.count("。") > 2:
            continue
        entries = []
        for ln in _toc_lines(text):
            clean = _LEADERS.sub("", re.sub(r"\s+", "", ln))
            body = _MARKER.sub("", clean)
            if clean.startswith("第") and "部分" in clean[:5]:
                continue
            if not re.search(r"表(?:[（(][^）)]*[)）])?$", body):
                continue
            kind = table_kind(body)
            if kind in _NOT_STANDARD:
                continue
            entries.append(TocEntry(clean, kind, page))
        if len(entries) >= 3:
            out.append(Toc(page, entries))
    return out


# --------------------------------------------------------------------------- table numbers

_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九", 0)}


def _cn_number(s: str) -> int | None:
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if s == "十":
        return 10
    if s.startswith("十"):
        return 10 + _CN_DIGITS.get(s[1], 0) if len(s) == 2 else None
    if len(s) == 1:
        return _CN_DIGITS.get(s)
    if len(s) == 2 and s[1] == "十":
        return _CN_DIGITS.get(s[0], 0) * 10
    if len(s) == 3 and s[1] == "十":
        return _CN_DIGITS.get(s[0], 0) * 10 + _CN_DIGITS.get(s[2], 0)
    return None


def table_number(number: str) -> int | None:
    """公开01表 → 1, 公开表十一 → 11, 表三 → 3; None when there is no number."""
    m = re.search(r"(\d+|[一二三四五六七八九十]+)\s*表?$", re.sub(r"\s+", "", number or ""))
    return _cn_number(m.group(1)) if m else None


# --------------------------------------------------------------------------- the rule


def _table_ref(t: dict[str, Any]) -> CellRef:
    title = " ".join(x for x in (_s(t.get("number")), _s(t.get("title"))) if x)
    pages = t.get("pages") or []
    # the value shown is the table as printed (the Markdown shows a cell's page only beside its value)
    return CellRef("", title, "", "", pages[0] if pages else None, _s(t.get("number")) or _s(t.get("title")))


def _toc_ref(e: TocEntry) -> CellRef:
    return CellRef("", "目录", "", "", e.page, e.text)


def _standard(ctx: _Ctx) -> list[dict[str, Any]]:
    return [t for t in ctx.tables if _s(t.get("table_kind")) not in _NOT_STANDARD]


def _structure_findings(ctx: _Ctx) -> None:
    tables = _standard(ctx)
    if not tables:
        return
    present = Counter(_s(t.get("table_kind")) for t in tables)
    tocs = table_of_contents(ctx)
    missing = _missing_tables(ctx, present, tocs)
    _numbering(ctx, tables, report_missing=not missing)
    for toc in tocs:
        _against_toc(ctx, toc, tables, present)
    _empty_without_note(ctx, tables)


def _missing_tables(ctx: _Ctx, present: Counter[str], tocs: list[Toc]) -> list[str]:
    required = list(review_rules()["standard_tables"].get(ctx.meta.kind, []))
    listed: dict[str, TocEntry] = {}
    for toc in tocs:
        for kind, n in (Counter(e.kind for e in toc.entries) - present).items():
            if n > 0:
                listed.setdefault(kind, next(e for e in toc.entries if e.kind == kind))
    missing = [k for k in required if not present.get(k)] + [k for k in listed if k not in required or present.get(k)]
    numbers = _number_gaps(_standard(ctx))
    for kind in missing:
        entry = listed.get(kind)
        name = entry.text if entry else kind_zh(kind)
        std = kind in required
        why = []
        if std:
            why.append(f"{ctx.meta.kind}公开的标准表格包括{kind_zh(kind)}（无数据时也应公开空表并说明）")
        if entry:
            why.append(f"目录（第{entry.page}页）列有“{entry.text}”")
        if numbers:
            why.append("表格编号" + "、".join(numbers))
        ctx.add(
            category="structure",
            severity="medium",
            title=f"缺少{name}",
            detail="；".join(why) + "，但报告中没有找到这张表。",
            figures=[Figure("缺少的表", name)] + ([Figure("目录页", str(entry.page))] if entry else []),
            cells=[_toc_ref(entry)] if entry else [_table_ref(t) for t in _gap_tables(_standard(ctx))],
            questions=[f"报告为什么没有公开{name}？如果没有相关收支，是否应公开空表并注明原因？"],
            rule="table_missing",
            key=f"structure|missing|{kind}",
        )
    return missing


def _gap_tables(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tables on either side of the first jump in the printed numbers (else the first table)."""
    numbered = [(n, t) for t in tables if (n := table_number(_s(t.get("number")))) is not None]
    for (a, ta), (b, tb) in zip(numbered, numbered[1:], strict=False):
        if b != a + 1:
            return [ta, tb]
    return tables[:1]


def _number_gaps(tables: list[dict[str, Any]]) -> list[str]:
    """Where the printed table numbers jump or repeat (公开08表 → 公开10表)."""
    nums = [(n, _s(t.get("number"))) for t in tables if (n := table_number(_s(t.get("number")))) is not None]
    if len(nums) < 3:
        return []
    out = []
    for (a, sa), (b, sb) in zip(nums, nums[1:], strict=False):
        if b == a:
            out.append(f"{sa}重复")
        elif b != a + 1:
            out.append(f"从{sa}跳到{sb}")
    return out


def _numbering(ctx: _Ctx, tables: list[dict[str, Any]], *, report_missing: bool) -> None:
    gaps = _number_gaps(tables)
    if not gaps or not report_missing:
        return
    ctx.add(
        category="structure",
        severity="low",
        title="表格编号不连续：" + "、".join(gaps),
        detail="报告各表的编号应连续，" + "、".join(gaps) + "，可能漏印了表格或编号有误。",
        figures=[Figure("编号", "、".join(_s(t.get("number")) for t in tables if _s(t.get("number"))))],
        cells=[_table_ref(t) for t in tables if _s(t.get("number"))][:12],
        questions=["表格编号为什么不连续？是否有表格未公开？"],
        rule="table_numbering",
        key="structure|numbering",
    )


def _against_toc(ctx: _Ctx, toc: Toc, tables: list[dict[str, Any]], present: Counter[str]) -> None:
    listed = Counter(e.kind for e in toc.entries)
    for kind, n in (present - listed).items():
        if n <= 0:
            continue
        t = [x for x in tables if _s(x.get("table_kind")) == kind][-1]
        name = _s(t.get("title")) or kind_zh(kind)
        ctx.add(
            category="structure",
            severity="low",
            title=f"{name}未列入目录（第{toc.page}页）",
            detail=f"报告印有{name}，但第{toc.page}页的目录没有列出这张表。",
            figures=[Figure("表格", name), Figure("目录页", str(toc.page))],
            cells=[_table_ref(t)],
            questions=[f"{name}为什么没有列入目录？目录是否与正式公开的表格一致？"],
            rule="table_not_in_toc",
            key=f"structure|unlisted|{toc.page}|{kind}",
        )
    if listed != present:
        return
    seq_toc = [e.kind for e in toc.entries]
    seq_tab = [_s(t.get("table_kind")) for t in tables]
    if seq_toc == seq_tab:
        return
    i = next(i for i, (a, b) in enumerate(zip(seq_toc, seq_tab, strict=False)) if a != b)
    entry, table = toc.entries[i], tables[i]
    printed = " ".join(x for x in (_s(table.get("number")), _s(table.get("title"))) if x)
    ctx.add(
        category="structure",
        severity="low",
        title=f"表格顺序与目录（第{toc.page}页）不一致",
        detail=f"目录第{i + 1}项是“{entry.text}”，而报告中第{i + 1}张表是“{printed}”。",
        figures=[Figure("目录", entry.text), Figure("报告", printed)],
        cells=[_toc_ref(entry), _table_ref(table)],
        questions=["目录中的表格顺序为什么与报告不一致？以哪个为准？"],
        rule="table_order",
        key=f"structure|order|{toc.page}",
    )


def _empty_without_note(ctx: _Ctx, tables: list[dict[str, Any]]) -> None:
    words = review_rules()["empty_reason"]
    for t in tables:
        if not t.get("empty"):
            continue
        note = _s(t.get("note"))
        if any(w in note for w in words):
            continue
        name = " ".join(x for x in (_s(t.get("number")), _s(t.get("title"))) if x)
        ctx.add(
            category="structure",
            severity="low",
            title=f"{name}为空表，未说明原因",
            detail=f"{name}没有数字，表下" + (f"的注释（“{note[:60]}”）" if note else "也没有注释") + "没有说明为什么为空。",
            figures=[Figure("表格", name)],
            cells=[_table_ref(t)],
            questions=[f"{name}为空，是因为本部门没有相关收支吗？为什么没有按要求注明？"],
            rule="empty_table_without_note",
            key=f"structure|empty|{_s(t.get('table_id'))}",
        )
