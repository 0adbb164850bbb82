"""Consistency: failed identity checks, and amounts stated in the narrative against the table cells."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from assistant.checks import run_checks
from assistant.glossary import norm_label
from assistant.review.budget import _tp_cells, _tp_measure
from assistant.review.model import (
    _F,
    _SKIP_COLUMN,
    MONEY_UNITS,
    CellRef,
    Figure,
    _Ctx,
    _dec,
    _fmt,
    _int_or_none,
    _q,
    _s,
    _strip_numbering,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- identity checks


def _identity_findings(ctx: _Ctx, facts_df: pd.DataFrame) -> tuple[int, int]:
    try:
        res = run_checks(facts_df, ctx.meta)
    except Exception as e:  # a failing check module must not sink the review
        log.warning("run_checks failed for %s: %s", ctx.meta.report_id, e)
        ctx.notes.append(f"恒等式校验出错：{e}")
        return 0, 0
    by_id = {f.fact_id: f for f in ctx.facts}
    # the same broken figure printed in several tables (收入预算总表, 支出预算总表 …) is one finding
    groups: dict[tuple[str, ...], list[Any]] = {}
    for fail in getattr(res, "failures", []) or []:
        tc = getattr(fail, "total_cell", None)
        gk = (
            _s(getattr(fail, "check", "")),
            _s(getattr(tc, "row", "")) if tc is not None else fail.describe(),
            str(getattr(fail, "stated", "")),
            str(getattr(fail, "computed", "")),
        )
        groups.setdefault(gk, []).append(fail)
    for fails in groups.values():
        kw = _failure_finding(fails[0], by_id)
        if len(fails) > 1:
            for other in fails[1:]:
                more = _failure_finding(other, by_id)
                kw["cells"] = kw["cells"] + [c for c in more["cells"][:1] if c not in kw["cells"]]
            tables = sorted({c.table for c in kw["cells"][:1]} | {_s(getattr(f.total_cell, "table", "")) for f in fails[1:]})
            kw["title"] += f"（共{len(fails)}处）"
            kw["detail"] += f" 同样的数字出现在：{'、'.join(t for t in tables if t)}。"
        ctx.add(**kw)
    return int(getattr(res, "run", 0) or 0), int(getattr(res, "passed", 0) or 0)


def _check_cell_ref(cell: Any, by_id: dict[str, _F]) -> CellRef | None:
    if cell is None:
        return None
    fid = _s(getattr(cell, "fact_id", ""))
    if fid in by_id:
        return by_id[fid].ref()
    v = getattr(cell, "value", None)
    return CellRef(
        fid,
        _s(getattr(cell, "table", "")),
        _s(getattr(cell, "row", "")),
        _s(getattr(cell, "column", "")),
        _int_or_none(getattr(cell, "page", None)),
        "" if v is None else str(v),
    )


def _failure_finding(fail: Any, by_id: dict[str, _F]) -> dict[str, Any]:
    """A failed identity check (``assistant.checks.CheckFailure``) as a consistency finding."""
    check = _s(getattr(fail, "check", "")) or "恒等式"
    stated, computed = _dec(getattr(fail, "stated", None)), _dec(getattr(fail, "computed", None))
    diff = stated - computed if stated is not None and computed is not None else None
    total = _check_cell_ref(getattr(fail, "total_cell", None), by_id)
    parts = [r for r in (_check_cell_ref(c, by_id) for c in getattr(fail, "part_cells", []) or []) if r is not None]
    where = "·".join(
        x for x in ((total.table if total else ""), (total.row if total else ""), (total.column if total else "")) if x
    )
    note = _s(getattr(fail, "note", ""))
    desc = fail.describe() if hasattr(fail, "describe") else str(fail)
    if stated is not None and computed is not None:
        title = f"{check}不成立：{where or '表中'} {stated} ≠ {computed}"
        detail = (
            f"{where or '表中合计'}印为{stated}，而其组成部分之和为{computed}，相差{diff}"
            + (f"（{note}）" if note else "")
            + f"。校验明细：{desc}"
        )
        unit = by_id[total.fact_id].unit if total is not None and total.fact_id in by_id else ""
        small = diff is not None and abs(diff) <= (Decimal(2) if unit == "元" else Decimal("0.02"))
        if small:
            detail += "（差额很小，可能是四舍五入）"
        q = (
            f"{where or '表中'}为{_q(stated)}，但按组成部分计算为{_q(computed)}（相差{_q(abs(diff)) if diff is not None else '?'}），"
            "哪个数字正确？差异是填报错误、四舍五入还是口径不同？"
        )
    else:
        title, detail, small = f"{check}不成立", desc, False
        q = f"报告中“{check}”不成立（{desc}），原因是什么？"
    figs = [
        Figure("表列数", str(stated) if stated is not None else "?"),
        Figure("计算数", str(computed) if computed is not None else "?"),
    ]
    if diff is not None:
        figs.append(Figure("差额", str(diff)))
    return dict(
        category="consistency",
        severity="low" if small else "medium",
        title=title,
        detail=detail,
        figures=figs,
        cells=([total] if total else []) + parts[:24],
        questions=[q],
        rule="identity_check",
        key=f"identity|{check}|{total.fact_id if total else desc}",
    )


# --------------------------------------------------------------------------- narrative against tables

_CONCEPTS: list[tuple[str, str, tuple[str, ...]]] = [
    # (display name, regex in text, substrings of row label / column that hold the figure)
    ("财政拨款收支总计", r"财政拨款(?:收入支出|收支)(?:总计|总额)", ("总计",)),
    ("收支总计", r"(?<!财政拨款)(?:收入支出|收支)(?:总计|总额)", ("总计",)),
    ("收入合计", r"(?:本年|年度)?(?:收入合计|收入总计|总收入)", ("收入合计", "收入总计", "本年收入")),
    ("支出合计", r"(?<!收入)(?:本年|年度)?(?:支出合计|支出总计|总支出)", ("支出合计", "支出总计", "本年支出")),
    ("财政拨款收入", r"财政拨款收入", ("财政拨款",)),
    ("基本支出", r"基本支出", ("基本支出",)),
    ("项目支出", r"项目支出", ("项目支出",)),
    ("人员经费", r"人员经费", ("人员经费",)),
    ("公用经费", r"公用经费", ("公用经费",)),
    ("机关运行经费", r"机关运行经费", ("机关运行经费",)),
    ("“三公”经费", r"[“\"‘]?三公[”\"’]?经费", ("合计", "三公", "小计")),
    ("因公出国（境）费", r"因公出国[（(]境[)）](?:费用|经费|费)", ("出国",)),
    ("公务用车购置及运行维护费", r"公务用车购置及运行(?:维护)?费", ("购置及运行",)),
    ("公务用车购置费", r"公务用车购置费", ("公务用车购置费",)),
    ("公务用车运行维护费", r"公务用车运行(?:维护)?费", ("运行维护", "运行费")),
    ("公务接待费", r"公务接待费", ("公务接待",)),
]
# 三公 items are compared with the 三公 table only: 30217 公务接待费 of the basic-spending table is a part of it
_CONCEPT_TABLES = {
    name: ("three_public_expenses",)
    for name in (
        "“三公”经费",
        "因公出国（境）费",
        "公务用车购置及运行维护费",
        "公务用车购置费",
        "公务用车运行维护费",
        "公务接待费",
    )
}
# 收支总计 is the 收入支出决算总表's, 财政拨款收支总计 the 财政拨款收入支出决算总表's
_CONCEPT_TABLES |= {"收支总计": ("income_expenditure_summary",), "财政拨款收支总计": ("appropriation_summary",)}
_AMOUNT_RE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(亿元|万元|元)")
_SKIP_BETWEEN = re.compile(
    r"增加|减少|增长|下降|上升|上年|去年|同比|比|较|占|[%％。；;：:，,]|其中|以上|以下|不超过|控制|[(（][类款项][)）]"
)
_ANY_CONCEPT = re.compile("|".join(f"(?:{c[1]})" for c in _CONCEPTS))


def _round_to(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places))


@dataclass(frozen=True)
class _Stated:
    """An amount stated in the narrative."""

    concept: str
    wan: Decimal
    printed: str
    places: int
    """Decimal places of the amount in 万元 as printed (for rounding the table figure)."""
    measure: str | None
    """budget / actual when the words around it say so (预算数为…, 支出决算为…), else None."""
    sentence: str


def _text_amounts(text: str, year: int) -> list[_Stated]:
    """Amounts stated in the text next to a concept (收入合计1834.93万元, “三公”经费预算数为37.91万元)."""
    out: list[_Stated] = []
    for name, pat, _ in _CONCEPTS:
        for m in re.finditer(pat, text):
            tail = text[m.end() : m.end() + 24]
            am = _AMOUNT_RE.search(tail)
            if not am:
                continue
            between = tail[: am.start()]
            if _SKIP_BETWEEN.search(between) or _ANY_CONCEPT.search(between) or re.search(r"\d", between):
                continue
            head = text[max(0, m.start() - 14) : m.start()]
            if re.search(r"上年|去年|比|较|同比|[(（][类款项][)）]", head):
                continue  # last year's figure, or a figure of one function class
            ym = re.findall(r"(20\d\d)\s*年", head)
            if ym and int(ym[-1]) != year:
                continue
            if name == "支出合计" and "项目" in head[-2:]:
                continue
            digits = am.group(1).replace(",", "")
            num = _dec(digits)
            if num is None:
                continue
            unit = am.group(2)
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            shift = {"元": 4, "亿元": -4}.get(unit, 0)
            wan = num.scaleb(-shift)
            hint_text = re.split(r"[。；;，,]", head)[-1][-6:] + between
            measure = "budget" if "预算" in hint_text else ("actual" if re.search(r"决算|实际|执行|支出", hint_text) else None)
            s0 = max(text.rfind("。", 0, m.start()), text.rfind("；", 0, m.start())) + 1
            e0 = min([x for x in (text.find("。", am.end() + m.end()), len(text)) if x >= 0])
            out.append(_Stated(name, wan, am.group(0), max(0, decimals + shift), measure, text[s0 : e0 + 1].strip()[:160]))
    return out


_CONCEPT_TP_ITEM = {
    "“三公”经费": "total",
    "因公出国（境）费": "overseas",
    "公务用车购置及运行维护费": "vehicles",
    "公务用车购置费": "vehicle_buy",
    "公务用车运行维护费": "vehicle_run",
    "公务接待费": "reception",
}


def _concept_candidates(ctx: _Ctx, name: str, subs: tuple[str, ...]) -> list[_F]:
    if name in _CONCEPT_TP_ITEM:
        # every figure of the item in the 三公 tables (budget, full-year budget, actual; 公开10表 and 11表)
        item = _CONCEPT_TP_ITEM[name]
        return [f for tid in ctx.tables_of("three_public_expenses") for it, f in _tp_cells(ctx, tid) if it == item]
    kinds = _CONCEPT_TABLES.get(name)
    out = []
    for f in ctx.facts:
        if f.value is None or f.status not in ("ok", ""):
            continue
        if kinds and f.table_kind not in kinds:
            continue
        if f.unit and f.unit not in MONEY_UNITS:
            continue
        if _SKIP_COLUMN.search(norm_label(f.column)):
            continue
        hay = norm_label(f.row_label) + "|" + norm_label(f.column)
        if not any(s in hay for s in subs):
            continue
        out.append(f)
    return out


def _source_cells(src: _F | CellRef | None, sentence: str) -> list[CellRef]:
    """Where the narrative states the amount: the table cell of text, or the chunk with the sentence."""
    if src is None:
        return []
    if isinstance(src, CellRef):
        return [CellRef(src.fact_id, src.table, src.row, src.column, src.page, sentence)]
    return [src.ref()]


def _narrative_findings(ctx: _Ctx) -> None:
    sources: list[tuple[str, str, _F | CellRef | None]] = []
    for ch in ctx.chunks:
        page = _int_or_none(ch.get("page"))
        where = (_s(ch.get("section")) or _s(ch.get("chunk_id"))) + (f"，第{page}页" if page else "")
        heading = _s(ch.get("section")).split(" › ")[-1]
        ref = CellRef(_s(ch.get("chunk_id")), "正文" + (f" · {heading}" if heading else ""), "", "", page, "")
        sources.append((_s(ch.get("text")), where, ref))
    # narrative printed inside tables (the sample's 绩效自评情况 is a table of text cells)
    for f in ctx.facts:
        if f.value is None and len(f.raw) >= 20 and _AMOUNT_RE.search(f.raw):
            sources.append((f.raw, f"{f.table_number or f.table_title}·{f.row_label}", f))
    seen: set[tuple[str, Decimal]] = set()
    for text, where, src in sources:
        for st in _text_amounts(text, ctx.meta.year):
            name, wan, printed, sentence, places = st.concept, st.wan, st.printed, st.sentence, st.places
            if (name, wan) in seen:
                continue
            seen.add((name, wan))
            subs = next(c[2] for c in _CONCEPTS if c[0] == name)
            cands = _concept_candidates(ctx, name, subs)
            if st.measure and ctx.meta.kind == "决算":
                # 支出决算为0.00万元 is checked against actual figures only (01_…caizhengju prints only the budget)
                def _measure(f: _F) -> str | None:
                    m = _tp_measure(f.column) or _tp_measure(f.row_label)
                    return "budget" if m == "full" else m

                cands = [f for f in cands if _measure(f) in (st.measure, None)]
            if not cands:
                continue
            ok = False
            for f in cands:
                v = f.value_wan if f.value_wan is not None else f.value
                if v is None:
                    continue
                if abs(v - wan) <= Decimal("0.005") or _round_to(v, places) == _round_to(wan, places):
                    ok = True
                    break
            if ok:
                continue
            # the most telling table figure: a total row first, then by table order
            best = sorted(
                cands,
                key=lambda f: (
                    0 if re.search(r"合计|总计|小计", f.row_label) or len(f.code) == 0 else 1,
                    abs((f.value_wan or f.value or Decimal(0)) - wan),
                ),
            )[:2]
            figs = [Figure("正文", printed)] + [
                Figure(
                    f"表中（{f.table_number or f.table_title}·{_strip_numbering(f.row_label) or f.column}）",
                    _fmt(f.value_wan or f.value),
                )
                for f in best
            ]
            tv = best[0].value_wan or best[0].value
            ctx.add(
                category="consistency",
                severity="medium",
                title=f"正文称{name}{printed}，与表中数字不符",
                detail=f"正文（{where}）：“{sentence}”；表中没有等于{printed}的{name}数字，最接近的是{_fmt(tv)}。",
                figures=figs,
                cells=_source_cells(src, sentence) + [f.ref() for f in best],
                questions=[f"报告正文说{name}为{printed}，而表中为{_q(tv)}万元，哪个数字正确？差异原因是什么？"],
                rule="narrative_vs_table",
                key=f"text|{name}|{wan}",
            )
