"""Data quality: unreadable cells, totals printed in the wrong row, code typos, large catch-all items.

Rows that hold no amount are no facts; what ingestion noticed about them (a code typo in such
a row, the printed row beside a figure without code or name) comes from ``ReportMeta.problems``,
the notes of ``assistant.ingest.tables``, parsed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from assistant.glossary import norm_label
from assistant.review.model import (
    _F,
    CellRef,
    Figure,
    Severity,
    _Ctx,
    _fmt,
    _is_total_col,
    _money,
    _pct,
    _q,
    _strip_numbering,
)

ECON_CLASSES = {"301", "302", "303", "307", "309", "310", "311", "312", "313", "399"} | {str(c) for c in range(501, 600)}
ECON_KINDS = ("basic_expenditure_by_economic_class", "project_expenditure_by_economic_class")


def _data_quality_findings(ctx: _Ctx) -> None:
    # unreadable cells
    bad = [f for f in ctx.facts if f.status == "unreadable"]
    if bad:
        ctx.add(
            category="data_quality",
            severity="medium",
            title=f"{len(bad)}个单元格无法识读",
            detail="这些单元格的文字无法从PDF中解码，相关数字未能核对。",
            figures=[Figure("无法识读的单元格", str(len(bad)))],
            cells=[f.ref() for f in bad[:20]],
            questions=["部分表格单元格无法识读，能否提供可复制文字的版本或原始数据？"],
            rule="unreadable_cells",
            key="dq|unreadable",
        )
    for tid in ctx.tables_of(*ECON_KINDS):
        tfacts = [f for f in ctx.facts if f.table_id == tid]
        _code_typos(ctx, tid, tfacts)
        _misplaced_totals(ctx, tid, tfacts)
    _noted_code_typos(ctx)
    _catch_all_items(ctx)


CATCH_ALL_SHARE = Decimal("0.05")
"""An 其他… (code …99) function item holding at least this share of all spending is reported."""
CATCH_ALL_MIN = Decimal("50")
"""…and at least this many 万元."""


def _catch_all_items(ctx: _Ctx) -> None:
    """Large amounts booked under a catch-all 其他… item (function codes ending in 99): what are they for?"""
    for kinds in (("expenditure_by_function",), ("general_budget_by_function",)):
        tids = ctx.tables_of(*kinds)
        if not tids:
            continue
        tf = [f for f in ctx.facts if f.table_id == tids[0] and _money(f) is not None and _is_total_col(norm_label(f.column))]
        total = next((f for f in tf if not f.code and re.search(r"合计|总计", f.row_label + f.raw)), None)
        classes = [f for f in tf if len(f.code) == 3]
        denom = _money(total) if total is not None else sum((_money(f) or Decimal(0) for f in classes), Decimal(0))
        if not denom:
            return
        seen: set[str] = set()
        for f in tf:
            v = _money(f)
            if len(f.code) != 7 or not f.code.endswith("99") or f.code in seen or v is None:
                continue
            seen.add(f.code)
            share = v / denom
            if share < CATCH_ALL_SHARE or v < CATCH_ALL_MIN:
                continue
            label = _strip_numbering(f.row_label) or f.code
            cells = [f.ref()] + ([total.ref()] if total is not None else [])
            ctx.add(
                category="data_quality",
                severity="medium" if share >= Decimal("0.2") else "low",
                title=f"{f.code} {label}{_q(v)}万元，占全部支出的{_pct(share * 100)}",
                detail=f"“{label}”是兜底科目，{_fmt(v)}列在这里，看不出具体用途（支出合计{_fmt(denom)}）。",
                figures=[Figure(label, _fmt(v)), Figure("支出合计", _fmt(denom)), Figure("占比", _pct(share * 100))],
                cells=cells,
                questions=[f"“{label}”{_q(v)}万元具体用于哪些项目？为什么不能列入明确的功能科目？"],
                rule="catch_all_item",
                key=f"dq|other|{f.code}",
            )
        return


# the notes of assistant.ingest.tables this module reads (see _interpret_grid and _flag_foreign_codes there)
_MOVED_NOTE = re.compile(
    r"^(?P<table>.+?): the figure (?P<raw>\S+) is printed in row (?P<row>\d+), column (?P<col>\d+) "
    r"(?:beside “(?P<beside>[^”]*)” )?without a code or name"
)
_CODE_NOTE = re.compile(
    r"^(?P<table>.+?): code (?P<code>\d+) \((?P<label>.*)\)(?: on page (?P<page>\d+))? "
    r"is not an economic classification code(?:; probably (?P<fix>\d+))?$"
)


@dataclass(frozen=True)
class _CodeNote:
    table: str
    """Published number, or the title where there is none."""
    code: str
    label: str
    page: int | None
    fix: str


def _code_notes(ctx: _Ctx) -> list[_CodeNote]:
    out = []
    for p in ctx.problems:
        m = _CODE_NOTE.match(p)
        if m:
            page = int(m["page"]) if m["page"] else None
            out.append(_CodeNote(m["table"], m["code"], m["label"], page, m["fix"] or ""))
    return out


def _printed_beside(ctx: _Ctx, f: _F) -> str:
    """The other cells of the printed row holding ``f`` (code and name of the row it sits in), from the notes."""
    for p in ctx.problems:
        m = _MOVED_NOTE.match(p)
        if (
            m
            and m["table"] == (f.table_number or f.table_title)
            and m["raw"] == f.raw
            and (int(m["row"]), int(m["col"])) == (f.row_index + 1, f.col + 1)
        ):
            return m["beside"] or ""
    return ""


def _noted_code_typos(ctx: _Ctx) -> None:
    """Code typos that ingestion noted (also in rows without an amount, which hold no facts)."""
    for n in _code_notes(ctx):
        title = next((f.table_title for f in ctx.facts if n.table in (f.table_number, f.table_title)), "")
        table = " ".join(x for x in dict.fromkeys((n.table, title)) if x)
        ref = CellRef("", table, f"{n.code} {n.label}".strip(), "科目编码", n.page, n.code)
        where = f"；{n.code}印在{n.fix[:3]}类科目之间，应为{n.fix}。" if n.fix else f"，{n.code}的前三位{n.code[:3]}不在其中。"
        ctx.add(
            category="data_quality",
            severity="low",
            title=f"{n.table}：科目编码{n.code}（{n.label}）不是有效的经济分类编码",
            detail="经济分类科目编码应以301、302、303、307、309、310、399等类级编码开头" + where,
            figures=[Figure("印刷编码", n.code)] + ([Figure("应为", n.fix)] if n.fix else []),
            cells=[ref],
            questions=[
                f"表中“{n.label}”的科目编码印为{n.code}"
                + (f"，是否应为{n.fix}？" if n.fix else "，正确编码是什么？")
                + "公开前是否做过校对？"
            ],
            rule="economic_code_typo",
            key=f"dq|code|{n.table}|{n.code}",
        )


def _code_typos(ctx: _Ctx, tid: str, tfacts: list[_F]) -> None:
    seen: set[str] = set()
    coded = [f for f in tfacts if f.code]
    for f in coded:
        if len(f.code) not in (3, 5) or f.code[:3] in ECON_CLASSES or f.code in seen:
            continue
        seen.add(f.code)
        # expected class: the codes printed around it in the same column group
        neigh = sorted(
            (g for g in coded if g.col == f.col and g.code[:3] in ECON_CLASSES and g is not f),
            key=lambda g: abs(g.row_index - f.row_index),
        )
        suggestion = ""
        if neigh and len(f.code) == 5:
            suggestion = neigh[0].code[:3] + f.code[3:]
        label = f.row_label
        cls = f"，所在栏目其他科目以{neigh[0].code[:3]}开头，应为{suggestion}" if suggestion else ""
        ctx.add(
            category="data_quality",
            severity="low",
            title=f"{f.table_number or f.table_title}：科目编码{f.code}（{label}）不是有效的经济分类编码",
            detail=f"经济分类科目编码应以301、302、303、307、309、310、399等类级编码开头，{f.code}的前三位{f.code[:3]}不在其中{cls}。",
            figures=[Figure("印刷编码", f.code)] + ([Figure("应为", suggestion)] if suggestion else []),
            cells=[f.ref()],
            questions=[
                f"表中“{label}”的科目编码印为{f.code}"
                + (f"，是否应为{suggestion}？" if suggestion else "，正确编码是什么？")
                + "公开前是否做过校对？"
            ],
            rule="economic_code_typo",
            key=f"dq|code|{f.table_number}|{f.code}",
        )


def _misplaced_totals(ctx: _Ctx, tid: str, tfacts: list[_F]) -> None:
    money = [f for f in tfacts if f.value is not None and f.status in ("ok", "")]
    classes = [f for f in money if len(f.code) == 3]
    public = sum((f.value for f in classes if f.value is not None and f.code not in ("301", "303")), Decimal(0))
    personnel = sum((f.value for f in classes if f.value is not None and f.code in ("301", "303")), Decimal(0))
    total_rows = [f for f in tfacts if "合计" in f.row_label or "合计" in f.raw]
    basic = bool(tfacts) and tfacts[0].table_kind == "basic_expenditure_by_economic_class"
    for f in money:
        if len(f.code) == 3 or "合计" in f.row_label or "总计" in f.row_label:
            continue
        which = None
        parent = next((c for c in classes if f.code and c.code == f.code[:3]), None)
        if parent is not None and parent.value == f.value:
            pass  # the only item of its class
        elif public and f.value == public and basic:
            which = "公用经费合计"
        elif personnel and f.value == personnel and basic:
            which = "人员经费合计"
        orphan = not f.code and not f.row_label
        parent_blank = bool(f.code) and len(f.code) == 5 and parent is None
        if which is None and not orphan and not parent_blank:
            continue
        if which is None and parent_blank and f.code[:3] not in ECON_CLASSES:
            continue  # a code typo, reported above
        where = f"{f.code} {f.row_label}".strip() or _printed_beside(ctx, f)
        where_txt = f"“{where}”一行" if where else "一行没有科目编码和名称的位置"
        if which:
            title = f"{f.table_number or f.table_title}：{which}{_q(f.value)}印在了{where_txt}"
            detail = (
                f"{_fmt(f.value)}等于本表{which.replace('合计', '')}各类科目之和，却印在{where_txt}的金额栏（该位置没有科目编码和名称），"
                f"而“{which}”的金额栏为空。这是排版错位，不是{where or '该行'}的支出。"
            )
            qs = [
                f"表中{where_txt}出现{_q(f.value)}万元，它是否就是{which}？"
                + (f"{where.split(' ')[-1]}的实际发生额是多少？" if where else "")
            ]
            sev: Severity = "medium"
        elif orphan:
            title = f"{f.table_number or f.table_title}：金额{_q(f.value)}没有对应的科目"
            detail = f"{_fmt(f.value)}所在行没有科目编码和名称。"
            qs = [f"表中金额{_q(f.value)}万元属于哪个科目？"]
            sev = "low"
        else:
            title = f"{f.table_number or f.table_title}：{where}有金额{_q(f.value)}，其所属类级科目{f.code[:3]}却为空"
            detail = f"款级科目{f.code}有数{_fmt(f.value)}，类级科目{f.code[:3]}未列金额，分类合计与明细不符。"
            qs = [f"“{where}”的{_q(f.value)}万元是否填错了位置？类级科目{f.code[:3]}的合计是多少？"]
            sev = "low"
        cells = [f.ref()] + [x.ref() for x in total_rows if x.value is not None and (not which or which in x.row_label)][:2]
        ctx.add(
            category="data_quality",
            severity=sev,
            title=title,
            detail=detail,
            figures=[Figure("金额", _fmt(f.value)), Figure("所在位置", where or "无科目编码和名称")],
            cells=cells,
            questions=qs,
            rule="misplaced_value",
            key=f"dq|misplaced|{f.table_number}|{f.fact_id}",
        )
