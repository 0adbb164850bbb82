"""Review a report the way a careful auditor would: findings tied to cells, and questions to ask.

``review_report(index, report_id)`` reads only the fact store (``index.facts``), the
identity checks (``assistant.checks.run_checks``) and the narrative chunks
(``index.chunks``); it never calls a model. Every finding names the cells behind it
(fact id, table, row, column, page) and proposes one or two questions in Chinese.

The rules do not trust column names to be perfect: columns are found by label
substrings (年初预算/全年预算/执行数/执行率/指标值/实际完成值/得分/分值/预算数/决算),
and where a table's header was not recognised (performance tables have their headers
in the middle of the grid) by the order of the cells in the row.

The same index gives the same review, byte for byte (``render_markdown``/``render_json``):
findings are sorted on content, never on dict or set order, and no clock is read.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from statistics import median
from typing import Any, Literal

import pandas as pd

from assistant.errors import FiscalQAError, UnknownReportError
from assistant.models import ReportMeta
from assistant.store import IndexData

log = logging.getLogger(__name__)

Category = Literal["consistency", "budget_vs_actual", "performance", "year_over_year", "peers", "data_quality"]
Severity = Literal["high", "medium", "low"]

CATEGORY_ORDER: tuple[str, ...] = ("consistency", "budget_vs_actual", "performance", "data_quality", "year_over_year", "peers")
CATEGORY_ZH = {
    "consistency": "一致性",
    "budget_vs_actual": "预算与执行",
    "performance": "绩效自评",
    "data_quality": "数据质量",
    "year_over_year": "同比变化",
    "peers": "同类比较",
}
SEVERITY_ORDER: tuple[str, ...] = ("high", "medium", "low")
SEVERITY_ZH = {"high": "高", "medium": "中", "low": "低"}

LOW_EXECUTION_RATE = Decimal("90")
"""Execution rates (%) below this are reported."""
YOY_TOP = 5
"""How many year-over-year changes to report."""
PEER_RATIO = Decimal("2")
"""A share at least this many times the peers' median is reported."""

CENT = Decimal("0.01")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class CellRef:
    """A table cell behind a finding."""

    fact_id: str
    table: str
    """Published number and title (公开10表 财政拨款“三公”经费…)."""
    row: str
    column: str
    page: int | None
    value: str
    """The cell text as printed."""


@dataclass(frozen=True)
class Figure:
    """A labelled figure of a finding (label, printed value with unit)."""

    label: str
    value: str


@dataclass
class Finding:
    id: str
    category: Category
    severity: Severity
    title: str
    detail: str
    figures: list[Figure] = field(default_factory=list)
    cells: list[CellRef] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    rule: str = ""
    """Which rule produced it (stable name, e.g. budget_cut_to_actual)."""
    key: str = ""
    """Sort and de-duplication key (content, not position)."""


@dataclass
class Review:
    report_id: str
    department: str
    year: int
    kind: str
    findings: list[Finding]
    checks_run: int = 0
    checks_passed: int = 0
    compared_with: list[str] = field(default_factory=list)
    """Report ids used for year-over-year and peer comparisons."""
    notes: list[str] = field(default_factory=list)
    """What could not be checked, and why."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SEVERITY_ORDER}
        for f in self.findings:
            out[f.severity] += 1
        return out


# --------------------------------------------------------------------------- fact helpers


def _s(x: Any) -> str:
    """A text field of the frame as str ('' for None/NaN/NA)."""
    if x is None:
        return ""
    if isinstance(x, float) and math.isnan(x):
        return ""
    try:
        if pd.isna(x):
            return ""
    except (TypeError, ValueError):
        pass
    return str(x)


def _dec(x: Any) -> Decimal | None:
    if x is None:
        return None
    if isinstance(x, Decimal):
        return None if x.is_nan() else x
    if isinstance(x, float) and math.isnan(x):
        return None
    try:
        return Decimal(str(x))
    except (InvalidOperation, ValueError):
        return None


def _int_or_none(x: Any) -> int | None:
    try:
        if x is None or pd.isna(x):
            return None
        return int(x)
    except (TypeError, ValueError):
        return None


def _col_index(fact_id: str) -> int:
    m = re.search(r":c(\d+)$", fact_id)
    return int(m.group(1)) if m else 0


def _table_sort_key(table_id: str) -> tuple[int, str]:
    m = re.search(r"(\d+)", table_id)
    return (int(m.group(1)) if m else 10**6, table_id)


def _norm(text: str) -> str:
    """Label for matching: no spaces, no quotes, full-width brackets as ASCII."""
    t = re.sub(r"\s+", "", text)
    t = t.translate(str.maketrans({"（": "(", "）": ")", "“": "", "”": "", '"': "", "‘": "", "’": "", "：": ":"}))
    return t


def _strip_numbering(label: str) -> str:
    t = label.strip()
    t = re.sub(r"^(其中[:：]\s*)", "", t)
    t = re.sub(r"^[（(]?[一二三四五六七八九十\d]+[)）.、．]\s*", "", t)
    t = re.sub(r"^[（(]?[一二三四五六七八九十\d]+[)）.、．]\s*", "", t)
    return t.strip()


_SKIP_COLUMN = re.compile(r"行次|栏次|^序号$|编码$")
PCT_RE = re.compile(r"^\s*[-+]?\d[\d,]*(?:\.\d+)?\s*[%％]\s*$")
NUM_RE = re.compile(r"^\s*[-+]?\d[\d,]*(?:\.\d+)?\s*$")
OPS = {"≥", "≤", "=", "＝", ">", "<", "＞", "＜", "≧", "≦", ">=", "<=", "定性", "定量"}


@dataclass
class _F:
    """A fact as a plain record (fast attribute access, normalized types)."""

    fact_id: str
    table_id: str
    table_number: str
    table_title: str
    table_kind: str
    page: int | None
    row_index: int
    col: int
    code: str
    row_label: str
    column: str
    value: Decimal | None
    unit: str
    value_wan: Decimal | None
    raw: str
    status: str

    @property
    def is_pct(self) -> bool:
        return bool(PCT_RE.match(self.raw))

    @property
    def is_num(self) -> bool:
        return self.value is not None and not self.is_pct and self.status in ("ok", "")

    def ref(self) -> CellRef:
        table = " ".join(x for x in (self.table_number, self.table_title) if x)
        row = " ".join(x for x in (self.code, self.row_label) if x)
        return CellRef(self.fact_id, table, row, self.column, self.page, self.raw)


def _facts_of(df: pd.DataFrame) -> list[_F]:
    out: list[_F] = []
    if df is None or not len(df):
        return out
    for r in df.to_dict("records"):
        fid = _s(r.get("fact_id"))
        out.append(
            _F(
                fact_id=fid,
                table_id=_s(r.get("table_id")),
                table_number=_s(r.get("table_number")),
                table_title=_s(r.get("table_title")),
                table_kind=_s(r.get("table_kind")),
                page=_int_or_none(r.get("page")),
                row_index=_int_or_none(r.get("row_index")) or 0,
                col=_col_index(fid),
                code=re.sub(r"\D", "", _s(r.get("code"))),
                row_label=_s(r.get("row_label")).strip(),
                column=_s(r.get("column")).strip(),
                value=_dec(r.get("value")),
                unit=_s(r.get("unit")).strip(),
                value_wan=_dec(r.get("value_wan")),
                raw=_s(r.get("raw")).strip(),
                status=_s(r.get("status")) or "ok",
            )
        )
    out.sort(key=lambda f: (_table_sort_key(f.table_id), f.row_index, f.col, f.fact_id))
    return out


@dataclass
class _Row:
    table_id: str
    row_index: int
    label: str
    code: str
    facts: list[_F]

    def tokens(self) -> list[tuple[str, _F | None]]:
        """The row's cells in order: its label (when not itself a fact) then each fact's text."""
        toks: list[tuple[str, _F | None]] = []
        raws = {f.raw for f in self.facts}
        if self.label and self.label not in raws:
            toks.append((self.label, None))
        toks.extend((f.raw, f) for f in self.facts if f.raw)
        return toks

    @property
    def text(self) -> str:
        return " ".join(t for t, _ in self.tokens())


def _rows(facts: list[_F]) -> list[_Row]:
    rows: dict[tuple[str, int], _Row] = {}
    for f in facts:
        k = (f.table_id, f.row_index)
        if k not in rows:
            rows[k] = _Row(f.table_id, f.row_index, f.row_label, f.code, [])
        r = rows[k]
        r.facts.append(f)
        if not r.label and f.row_label:
            r.label = f.row_label
        if not r.code and f.code:
            r.code = f.code
    return sorted(rows.values(), key=lambda r: (_table_sort_key(r.table_id), r.row_index))


def _fmt(d: Decimal | None, unit: str = "万元") -> str:
    if d is None:
        return "（空白）"
    return f"{d.quantize(CENT):,.2f}{unit}" if unit in ("万元", "元", "亿元") else f"{d}{unit}"


def _q(d: Decimal | None) -> str:
    """A compact figure for questions: 423.00 → 423, 303.38 → 303.38."""
    if d is None:
        return "0"
    s = f"{d.quantize(CENT):f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _pct(d: Decimal) -> str:
    return f"{d.quantize(CENT)}%"


def _pct_value(raw: str) -> Decimal | None:
    m = re.search(r"[-+]?\d[\d,]*(?:\.\d+)?", raw)
    return _dec(m.group(0).replace(",", "")) if m else None


# --------------------------------------------------------------------------- context


@dataclass
class _Ctx:
    meta: ReportMeta
    facts: list[_F]
    rows: list[_Row]
    chunks: list[dict[str, Any]]
    layout: Any = None
    """The source layout read again (for rows that hold no facts), or None when the source is not at hand."""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, **kw: Any) -> None:
        self.findings.append(Finding(id="", **kw))

    def tables_of(self, *kinds: str) -> list[str]:
        ids = sorted({f.table_id for f in self.facts if f.table_kind in kinds}, key=_table_sort_key)
        return ids


# --------------------------------------------------------------------------- 1. identity checks


def _identity_findings(ctx: _Ctx, facts_df: pd.DataFrame) -> tuple[int, int]:
    try:
        from assistant.checks import run_checks
    except ImportError:
        ctx.notes.append("恒等式校验模块（assistant.checks）不可用，未列出校验失败项。")
        return 0, 0
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


# --------------------------------------------------------------------------- 2. 三公 budget vs actual

_TP_ITEMS = ("total", "overseas", "vehicles", "vehicle_buy", "vehicle_run", "reception", "running")
_TP_ZH = {
    "total": "“三公”经费",
    "overseas": "因公出国（境）费",
    "vehicles": "公务用车购置及运行维护费",
    "vehicle_buy": "公务用车购置费",
    "vehicle_run": "公务用车运行维护费",
    "reception": "公务接待费",
    "running": "机关运行经费",
}


def _tp_item(text: str) -> str | None:
    t = _norm(text)
    if not t:
        return None
    if re.search(r"[(（](个|人|辆|批次|人次)[)）]|团组数|人次数|批次|保有量|购置数", t):
        return None
    if "机关运行" in t:
        return "running"
    if "出国" in t:
        return "overseas"
    if "购置及运行" in t or "购置和运行" in t or ("公务用车" in t and "购置" not in t and "运行" not in t):
        return "vehicles"
    if "用车" in t and "运行" in t:
        return "vehicle_run"
    if "用车" in t and "购置" in t:
        return "vehicle_buy"
    if "公务接待" in t:
        return "reception"
    if "外事接待" in t or "国内接待" in t or "境)外接待" in t or "境外接待" in t:
        return None
    if "合计" in t or "三公" in t or "总计" in t:
        return "total"
    return None


def _tp_item_path(path: str) -> str | None:
    """The 三公 item of a stacked label (… › 公务用车购置及运行费 › 购置费): the most specific segment decides."""
    segs = [x.strip() for x in path.split("›") if x.strip()]
    for i in range(len(segs) - 1, -1, -1):
        seg = _norm(segs[i])
        if seg in ("购置费", "车辆购置费") and any("用车" in x for x in segs[:i]):
            return "vehicle_buy"
        if seg in ("运行费", "运行维护费") and any("用车" in x for x in segs[:i]):
            return "vehicle_run"
        if seg in ("小计", "合计") and i > 0 and _tp_item(segs[i - 1]) not in (None, "total"):
            return _tp_item(segs[i - 1])
        item = _tp_item(seg)
        if item is not None:
            return item
    return None


def _tp_measure(text: str) -> str | None:
    t = _norm(text)
    if re.search(r"决算|实际|执行数|支出数|统计数", t):
        return "actual"
    if "全年预算" in t or "调整" in t:
        return "full"
    if "预算" in t:
        return "budget"
    return None


def _three_public(ctx: _Ctx) -> dict[str, dict[str, _F]]:
    """item → measure → fact, from the first 三公 table that has both a budget and an actual column."""
    best: dict[str, dict[str, _F]] = {}
    for tid in ctx.tables_of("three_public_expenses"):
        got: dict[str, dict[str, _F]] = {}
        tfacts = [f for f in ctx.facts if f.table_id == tid]
        # Jiangsu prints 三公 + 会议费 + 培训费 in one table: its bare 合计 column is not the 三公 total
        with_meetings = any(re.search(r"会议费|培训费", f.column + f.row_label) for f in tfacts)
        for f in tfacts:
            if f.value is None or f.status not in ("ok", ""):
                continue
            if f.unit and f.unit not in ("万元", "元", "亿元"):
                continue
            if _SKIP_COLUMN.search(_norm(f.column)):
                continue
            item = _tp_item_path(f.row_label) or _tp_item_path(f.column)
            if item == "total" and with_meetings and "三公" not in _norm(f.row_label + f.column):
                continue
            measure = _tp_measure(f.column) or _tp_measure(f.row_label)
            if measure is None and ctx.meta.kind == "预算":
                measure = "budget"  # a budget report's figures are budgets even where the header does not say so
            if item is None or measure is None:
                continue
            got.setdefault(item, {}).setdefault(measure, f)
        measures = {m for d in got.values() for m in d}
        if "actual" in measures and ("budget" in measures or "full" in measures):
            return got
        if not best:
            best = got
    return best


def _three_public_findings(ctx: _Ctx) -> None:
    tp = _three_public(ctx)
    if not tp:
        return
    has_budget_col = any("budget" in d for d in tp.values())
    has_actual_col = any("actual" in d for d in tp.values())
    if not (has_budget_col and has_actual_col):
        return
    counts = _tp_counts(ctx)
    for item in _TP_ITEMS:
        if item == "running" or item not in tp:
            continue
        cells = tp[item]
        act_f = cells.get("actual")
        if act_f is None:
            continue
        actual = act_f.value_wan if act_f.value_wan is not None else act_f.value
        bud_f = cells.get("budget")
        budget = (bud_f.value_wan if bud_f.value_wan is not None else bud_f.value) if bud_f else Decimal(0)
        full_f = cells.get("full")
        full = (full_f.value_wan if full_f.value_wan is not None else full_f.value) if full_f else None
        if actual is None or budget is None or actual <= budget:
            continue
        name = _TP_ZH[item]
        refs = [c.ref() for c in (bud_f, full_f, act_f) if c is not None]
        figs = [Figure("年初预算数", _fmt(budget) if bud_f else "（空白，即0）")]
        if full is not None:
            figs.append(Figure("全年预算数", _fmt(full)))
        figs.append(Figure("决算数", _fmt(actual)))
        over = actual - budget
        figs.append(Figure("超出年初预算", _fmt(over) + (f"（{_pct(over / budget * 100)}）" if budget else "")))
        zero = not budget
        sev: Severity = "high" if zero else ("medium" if item == "total" or over / budget > Decimal("0.05") else "low")
        if zero:
            title = f"{name}年初未安排预算（预算数为空），决算支出{_q(actual)}万元"
            qs = [
                f"{name}年初预算为0，全年预算调增至{_q(full)}万元并全部支出，这项支出是何时、依据什么决定的？"
                if full
                else f"{name}年初未安排预算，却支出{_q(actual)}万元，依据是什么、由谁审批？"
            ]
            if item == "overseas":
                extra = "、".join(f"{k}{_q(v.value)}" for k, v in counts.items() if "出国" in k and v.value is not None)
                qs.append(
                    f"请说明因公出国（境）的团组、人员、目的地和成果{('（表中：' + extra + '）') if extra else ''}，为何未列入年初预算？"
                )
            else:
                qs.append(f"{name}支出的具体内容是什么？今后如何在年初预算中足额、如实编列？")
        else:
            title = f"{name}决算{_q(actual)}万元，超过年初预算{_q(budget)}万元"
            qs = [
                f"{name}决算{_q(actual)}万元，超出年初预算{_q(budget)}万元（多{_q(over)}万元），追加预算的原因和审批程序是什么？"
            ]
            if item == "total":
                parts = [i for i in ("overseas", "vehicles", "reception") if i in tp and tp[i].get("actual") is not None]
                grew = [
                    _TP_ZH[i]
                    for i in parts
                    if (tp[i]["actual"].value or 0) > ((tp[i]["budget"].value if tp[i].get("budget") else Decimal(0)) or 0)
                ]
                if grew:
                    qs.append(f"超支主要来自{('、'.join(grew))}，“三公”经费“只减不增”的要求是如何落实的？")
        detail = (
            f"{name}：年初预算数{_fmt(budget) if bud_f else '为空（0）'}"
            + (f"，全年预算数{_fmt(full)}" if full is not None else "")
            + f"，决算数{_fmt(actual)}，比年初预算多{_fmt(over)}。"
        )
        ctx.add(
            category="budget_vs_actual",
            severity=sev,
            title=title,
            detail=detail,
            figures=figs,
            cells=refs,
            questions=qs,
            rule="three_public_over_budget",
            key=f"tp|{_TP_ITEMS.index(item)}",
        )
    # overseas spending without any delegation
    ov = tp.get("overseas", {}).get("actual")
    groups = next((v for k, v in counts.items() if "团组" in k), None)
    people = next((v for k, v in counts.items() if "出国" in k and "人次" in k), None)
    if ov is not None and ov.value and groups is not None and groups.value == 0:
        cells_ = [ov.ref(), groups.ref()] + ([people.ref()] if people is not None else [])
        ctx.add(
            category="consistency",
            severity="low",
            title=f"因公出国（境）费{_q(ov.value)}万元，但团组数为0",
            detail=f"表中因公出国（境）团组数为0{('、人次数为' + _q(people.value)) if people is not None and people.value is not None else ''}，"
            f"却有因公出国（境）费{_fmt(ov.value)}。",
            figures=[Figure("因公出国（境）费", _fmt(ov.value)), Figure("团组数", "0")]
            + ([Figure("人次数", people.raw)] if people is not None else []),
            cells=cells_,
            questions=["因公出国（境）团组数为0，为什么仍有因公出国（境）费支出？是随其他单位团组出访，还是费用归属有误？"],
            rule="overseas_without_delegation",
            key="tp|overseas_groups",
        )


def _tp_counts(ctx: _Ctx) -> dict[str, _F]:
    out: dict[str, _F] = {}
    for tid in ctx.tables_of("three_public_expenses")[:1]:
        for f in ctx.facts:
            if f.table_id != tid or f.value is None:
                continue
            lab = _norm(f.row_label or f.column)
            if _SKIP_COLUMN.search(_norm(f.column)):
                continue
            if re.search(r"团组数|人次数|人次|批次|保有量|购置数", lab):
                key = _strip_numbering(f.row_label or f.column)
                if key not in out or _tp_measure(f.column) == "actual":
                    out[key] = f
    return out


# --------------------------------------------------------------------------- 3. projects: budget cut, execution rates


@dataclass
class _Project:
    name: str
    initial: _F | None = None
    full: _F | None = None
    executed: _F | None = None
    rate: _F | None = None
    task_budget: _F | None = None
    task_actual: _F | None = None
    task_rate: _F | None = None
    task_reason: str = ""
    task_reason_f: _F | None = None


def _name_key(name: str) -> str:
    return re.sub(r"[\s“”\"'‘’《》()（）·]", "", name)


def _first_by_column(facts: Iterable[_F], *subs: str) -> _F | None:
    for f in facts:
        if any(s in _norm(f.column) for s in subs):
            return f
    return None


def _project_name(rows: list[_Row], table_title: str) -> str:
    for r in rows:
        toks = [t for t, _ in r.tokens()]
        for i, t in enumerate(toks):
            if _norm(t).startswith("项目名称"):
                rest = _norm(t)[4:].lstrip(":")
                if rest:
                    return rest
                for nxt in toks[i + 1 :]:
                    if nxt.strip():
                        return nxt.strip()
        for f in r.facts:
            if "项目名称" in _norm(f.column) and f.value is None and f.raw:
                return f.raw
    # header not recognised as such: the name may sit in the column labels (项目名称 › 招商工作经费)
    by_col: dict[int, str] = {}
    for r in rows:
        for f in r.facts:
            by_col.setdefault(f.col, f.column)
    segs = [seg.strip() for _, col in sorted(by_col.items()) for seg in col.split("›")]
    segs = [x for i, x in enumerate(segs) if x and (i == 0 or x != segs[i - 1])]
    for i, seg in enumerate(segs):
        if _norm(seg).startswith("项目名称"):
            rest = _norm(seg)[4:].lstrip(":")
            if rest:
                return rest
            if i + 1 < len(segs):
                return segs[i + 1]
    m = re.search(r"[（(]([^()（）]+)[)）]\s*$", table_title)
    return m.group(1) if m else ""


def _project_tables(ctx: _Ctx) -> list[_Project]:
    projects: list[_Project] = []
    for tid in ctx.tables_of("project_performance"):
        rows = [r for r in ctx.rows if r.table_id == tid]
        title = next((f.table_title for r in rows for f in r.facts), "")
        name = _project_name(rows, title) or title or tid
        funds = None
        for r in rows:
            if "资金总额" in _norm(r.text) or "年度资金" in _norm(r.text):
                funds = r
                break
        if funds is None:
            funds = next((r for r in rows if sum(f.is_num for f in r.facts) >= 3 and any(f.is_pct for f in r.facts)), None)
        if funds is None:
            continue
        lab = funds.label.split("›")[0].strip()
        if lab and not re.search(r"资金总额|年度资金|当年财政拨款|项目资金", lab):
            name = lab
        p = _Project(name=name)
        nums = [f for f in funds.facts if f.is_num]
        p.initial = _first_by_column(nums, "年初预算") or (nums[0] if len(nums) > 0 else None)
        p.full = _first_by_column(nums, "全年预算") or (nums[1] if len(nums) > 1 else None)
        p.executed = _first_by_column(nums, "执行数", "实际支出", "全年执行") or (nums[2] if len(nums) > 2 else None)
        p.rate = _first_by_column([f for f in funds.facts if f.value is not None], "执行率") or next(
            (f for f in funds.facts if f.is_pct), None
        )
        if p.rate is not None and not p.rate.is_pct and "执行率" not in _norm(p.rate.column):
            p.rate = None
        projects.append(p)
    return projects


def _key_tasks(ctx: _Ctx) -> list[_Project]:
    """Rows of the 重点工作任务 part: name, 批复金额, 实际支出金额, 预算执行率, reason."""
    out: list[_Project] = []
    for r in ctx.rows:
        if r.facts and r.facts[0].table_kind == "project_performance":
            continue
        toks = r.tokens()
        if any(t.strip() in OPS for t, _ in toks):
            continue
        if "资金总额" in _norm(r.text) or "合计" in _norm(r.label):
            continue
        pcts = [f for f in r.facts if f.is_pct]
        nums = [f for f in r.facts if f.is_num]
        if len(pcts) != 1 or len(nums) < 2:
            continue
        rate = pcts[0]
        rate_col = _norm(rate.column)
        if "执行率" not in rate_col and rate.table_kind != "performance_indicators":
            continue  # a share column (占比) of an ordinary table is no execution rate
        if rate_col and "率" not in rate_col and any("率" in _norm(f.column) for f in r.facts):
            continue
        before = [f for f in nums if f.col < rate.col]
        if len(before) < 2:
            continue
        name = r.label or (toks[0][0] if toks else "")
        if not name or NUM_RE.match(name) or PCT_RE.match(name):
            continue
        p = _Project(name=name.strip())
        p.task_budget = _first_by_column(before, "总额", "批复", "预算") or before[0]
        p.task_actual = _first_by_column(before, "实际支出", "执行数", "实际") or before[-1]
        p.task_rate = rate
        after = [f for f in r.facts if f.col > rate.col and f.value is None and len(f.raw) >= 4]
        if after:
            p.task_reason, p.task_reason_f = after[0].raw, after[0]
        out.append(p)
    return out


def _v(f: _F | None) -> Decimal | None:
    if f is None:
        return None
    return f.value_wan if f.value_wan is not None else f.value


def _project_findings(ctx: _Ctx) -> None:
    projects = _project_tables(ctx)
    tasks = _key_tasks(ctx)
    merged: dict[str, _Project] = {}
    for p in projects:
        merged.setdefault(_name_key(p.name), p)
    project_keys = sorted(merged)
    for t in tasks:
        k = _name_key(t.name)
        target = merged.get(k) if k in project_keys else None
        if target is None:
            near = [kk for kk in project_keys if kk and (kk in k or k in kk)]
            target = merged[near[0]] if len(near) == 1 and not any(_name_key(o.name) == near[0] for o in tasks) else None
        if target is None:
            merged.setdefault(k, t)
            continue
        target.task_budget, target.task_actual, target.task_rate = t.task_budget, t.task_actual, t.task_rate
        target.task_reason, target.task_reason_f = t.task_reason, t.task_reason_f
    for k in sorted(merged):
        p = merged[k]
        initial = _v(p.initial) if p.initial is not None else _v(p.task_budget)
        full = _v(p.full)
        executed = _v(p.executed) if p.executed is not None else _v(p.task_actual)
        rate = _pct_value(p.rate.raw) if p.rate is not None else None
        task_rate = _pct_value(p.task_rate.raw) if p.task_rate is not None else None
        cells = [
            f.ref() for f in (p.initial, p.full, p.executed, p.rate, p.task_budget, p.task_actual, p.task_rate) if f is not None
        ]
        reason = p.task_reason
        if p.task_reason_f is not None:
            cells.append(p.task_reason_f.ref())
        cut = initial is not None and full is not None and full < initial
        matched = cut and executed is not None and abs(executed - full) < Decimal("0.005")
        rates_differ = rate is not None and task_rate is not None and abs(rate - task_rate) > Decimal("0.5")
        figs: list[Figure] = []
        if initial is not None:
            figs.append(Figure("年初预算数", _fmt(initial)))
        if full is not None:
            figs.append(Figure("全年预算数", _fmt(full)))
        if executed is not None:
            figs.append(Figure("全年执行数", _fmt(executed)))
        if task_rate is not None:
            figs.append(Figure("预算执行率（重点工作任务表）", p.task_rate.raw if p.task_rate else ""))
        if rate is not None:
            figs.append(Figure("执行率（项目自评表）", p.rate.raw if p.rate else ""))
        low = min((x for x in (task_rate, rate) if x is not None), default=None)
        if executed is not None and initial:
            computed = (executed / initial * 100).quantize(CENT)
            if low is None:
                low = computed
        else:
            computed = None
        reason_part = f"报告给出的原因是“{reason}”。" if reason else ""
        if cut:
            title = (
                f"{p.name}：年初预算{_q(initial)}万元，年中调减至{_q(full)}万元"
                + ("，恰好等于执行数" if matched else "")
                + (f"；执行率一处{p.task_rate.raw}、一处{p.rate.raw}" if rates_differ and p.task_rate and p.rate else "")
            )
            detail = (
                f"全年预算数（{_fmt(full)}）比年初预算数（{_fmt(initial)}）少{_fmt(initial - full)}"
                + (f"，与全年执行数{_fmt(executed)}相同，" if matched else "，")
                + "；".join(
                    x
                    for x in (
                        f"项目自评表按调整后预算计算执行率为{p.rate.raw}" if p.rate is not None else "",
                        f"部门整体自评表的重点工作任务执行率为{p.task_rate.raw}（按年初预算计算）"
                        if p.task_rate is not None
                        else "",
                    )
                    if x
                )
                + "。"
                + reason_part
            )
            qs = [
                f"{p.name}年初预算{_q(initial)}万元，全年预算调减至{_q(full)}万元，调减原因是什么？"
                + ("未开展的活动涉及哪些内容？" if reason and "未" in reason else "调减的资金用到了哪里？")
            ]
            if rates_differ:
                qs.append(
                    f"同一项目的执行率在部门整体自评表中为{p.task_rate.raw}、在项目自评表中为{p.rate.raw}，"
                    "按调减后的预算计算100%执行是否掩盖了执行偏低的问题？"
                )
            ctx.add(
                category="budget_vs_actual",
                severity="high" if matched or rates_differ else "medium",
                title=title,
                detail=detail,
                figures=figs,
                cells=cells,
                questions=qs,
                rule="budget_cut_to_actual",
                key=f"project|{k}",
            )
            continue
        if rates_differ:
            ctx.add(
                category="consistency",
                severity="medium",
                title=f"{p.name}：执行率一处{p.task_rate.raw}、一处{p.rate.raw}",
                detail=f"同一项目在两张表中的预算执行率不同。{reason_part}",
                figures=figs,
                cells=cells,
                questions=[f"{p.name}的预算执行率到底是{p.task_rate.raw}还是{p.rate.raw}？两者的计算口径有何不同？"],
                rule="execution_rate_mismatch",
                key=f"project|{k}",
            )
            continue
        if low is not None and low < LOW_EXECUTION_RATE:
            ctx.add(
                category="budget_vs_actual",
                severity="medium" if low >= 70 else "high",
                title=f"{p.name}：预算执行率{_pct(low)}，低于{LOW_EXECUTION_RATE}%",
                detail=f"预算{_fmt(initial)}，执行{_fmt(executed)}。{reason_part}",
                figures=figs,
                cells=cells,
                questions=[
                    f"{p.name}预算执行率只有{_pct(low)}，未执行的{_q((initial or 0) - (executed or 0))}万元涉及哪些工作？资金如何处理？"
                ],
                rule="low_execution",
                key=f"project|{k}",
            )
            continue
        if executed is not None and full is not None and executed > full + Decimal("0.005"):
            ctx.add(
                category="budget_vs_actual",
                severity="medium",
                title=f"{p.name}：执行数{_q(executed)}万元超过全年预算{_q(full)}万元",
                detail=f"全年执行数{_fmt(executed)}大于全年预算数{_fmt(full)}。",
                figures=figs,
                cells=cells,
                questions=[f"{p.name}支出超过全年预算{_q(executed - full)}万元，超支资金来源和审批程序是什么？"],
                rule="project_over_budget",
                key=f"project|{k}",
            )


# --------------------------------------------------------------------------- 4. performance indicators


@dataclass
class _Indicator:
    name: str
    op: str
    target: _F | None
    target_raw: str
    unit: str
    actual: _F | None
    actual_raw: str
    max_score: _F | None
    score: _F | None
    table_id: str
    project: str


def _is_unit_token(tok: str, target: str) -> bool:
    t = tok.strip()
    if not t or t == target.strip() or NUM_RE.match(t) or PCT_RE.match(t):
        return False
    return len(t) <= 4


def _indicators(ctx: _Ctx) -> list[_Indicator]:
    out: list[_Indicator] = []
    names: dict[str, str] = {}
    for tid in ctx.tables_of("project_performance"):
        rows = [r for r in ctx.rows if r.table_id == tid]
        names[tid] = _project_name(rows, "")
    for r in ctx.rows:
        kind = r.facts[0].table_kind if r.facts else ""
        if kind not in ("performance_indicators", "project_performance"):
            continue
        toks = r.tokens()
        opi = next((i for i, (t, _) in enumerate(toks) if t.strip() in OPS), None)
        if opi is None or opi + 1 >= len(toks):
            continue
        # column labels first, positions as the fallback
        facts = r.facts
        tgt = _first_by_column(facts, "指标值")
        unit_f = _first_by_column(facts, "度量单位", "计量单位", "单位")
        act = _first_by_column(facts, "实际完成", "完成值", "实际值")
        mx = _first_by_column(facts, "分值")
        sc = _first_by_column(facts, "得分")
        rest = toks[opi + 1 :]
        if tgt is None or act is None:
            tgt_tok = rest[0]
            i = 1
            unit = ""
            if i < len(rest) and _is_unit_token(rest[i][0], tgt_tok[0]):
                unit = rest[i][0].strip()
                i += 1
            act_tok = rest[i] if i < len(rest) else ("", None)
            nums_after = [f for _, f in rest[i + 1 :] if f is not None and f.is_num]
            tgt, act = tgt_tok[1], act_tok[1]
            target_raw, actual_raw = tgt_tok[0].strip(), act_tok[0].strip()
            if mx is None and sc is None and len(nums_after) >= 2:
                mx, sc = nums_after[0], nums_after[1]
        else:
            target_raw, actual_raw = tgt.raw, act.raw
            unit = unit_f.raw if unit_f is not None and unit_f is not tgt else ""
        if not unit and tgt is not None and tgt.unit and tgt.unit not in ("万元", "元"):
            unit = tgt.unit
        name = toks[opi - 1][0].strip() if opi > 0 else r.label
        project = names.get(r.table_id, "")
        if "›" in name:
            project = project or name.split("›")[0].strip()
            name = name.split("›")[-1].strip()
        out.append(_Indicator(name, toks[opi][0].strip(), tgt, target_raw, unit, act, actual_raw, mx, sc, r.table_id, project))
    return out


def _same(a: str, b: str) -> bool:
    x, y = _norm(a), _norm(b)
    if x == y:
        return True
    dx, dy = _dec(x.rstrip("%％").replace(",", "")), _dec(y.rstrip("%％").replace(",", ""))
    return dx is not None and dy is not None and dx == dy


def _performance_findings(ctx: _Ctx) -> None:
    inds = [i for i in _indicators(ctx) if i.target_raw and i.actual_raw]
    if not inds:
        return
    at_target = [i for i in inds if _same(i.target_raw, i.actual_raw)]
    if len(inds) >= 3 and len(at_target) == len(inds):
        cells = [c.ref() for i in inds for c in (i.target, i.actual) if c is not None]
        ex = "；".join(f"{i.name} 目标{i.op}{i.target_raw}{i.unit}，完成{i.actual_raw}{i.unit}" for i in inds[:3])
        ctx.add(
            category="performance",
            severity="medium",
            title=f"全部{len(inds)}项绩效指标的实际完成值都恰好等于指标值",
            detail=f"{len(inds)}项指标（含“≥”类指标）实际完成值与目标值一字不差，例如：{ex}。自评结果难以说明真实绩效。",
            figures=[Figure("指标数", str(len(inds))), Figure("恰好等于目标的指标数", str(len(at_target)))],
            cells=cells,
            questions=[
                "所有绩效指标的实际完成值都与目标值完全相同，这些完成值有哪些佐证材料？是否按实际统计填报？",
                f"例如“{inds[0].name}”目标{inds[0].op}{inds[0].target_raw}{inds[0].unit}，实际恰好{inds[0].actual_raw}{inds[0].unit}，请提供统计口径和原始数据。",
            ],
            rule="all_at_target",
            key="perf|all_at_target",
        )
    elif len(inds) >= 5 and len(at_target) / len(inds) >= 0.9:
        ctx.add(
            category="performance",
            severity="low",
            title=f"{len(at_target)}/{len(inds)}项绩效指标的实际完成值恰好等于指标值",
            detail="绝大多数指标实际值与目标值完全相同。",
            figures=[Figure("指标数", str(len(inds))), Figure("恰好等于目标的指标数", str(len(at_target)))],
            cells=[c.ref() for i in at_target for c in (i.target, i.actual) if c is not None],
            questions=["多数绩效指标的实际完成值与目标值完全相同，这些完成值是如何统计的？"],
            rule="mostly_at_target",
            key="perf|mostly_at_target",
        )
    scored = [i for i in inds if i.max_score is not None and i.score is not None and i.max_score.value is not None]
    if len(scored) >= 3:
        full = [i for i in scored if i.score.value == i.max_score.value]
        if len(full) == len(scored):
            projects = sorted({i.project for i in scored if i.project})
            ctx.add(
                category="performance",
                severity="medium",
                title=f"全部{len(scored)}项打分指标均得满分" + (f"（{len(projects)}个项目）" if projects else ""),
                detail="每项指标得分都等于分值" + (f"，涉及项目：{'、'.join(projects)}" if projects else "") + "。",
                figures=[Figure("打分指标数", str(len(scored))), Figure("满分指标数", str(len(full)))],
                cells=[c.ref() for i in scored for c in (i.max_score, i.score) if c is not None],
                questions=["各项目所有指标都得满分、自评均为“优”，自评打分的依据是什么？是否有第三方复核？"],
                rule="all_full_scores",
                key="perf|all_full_scores",
            )
    # qualitative targets measured in % (or scored as numbers)
    qual = [i for i in inds if _dec(i.target_raw.rstrip("%％").replace(",", "")) is None and i.target_raw not in OPS]
    qual_pct = [i for i in qual if i.unit in ("%", "％")]
    if qual_pct:
        names = "、".join(f"“{i.name}”（{i.target_raw}，单位%）" for i in qual_pct[:6])
        scored_q = [i for i in qual_pct if i.score is not None and i.score.value]
        ctx.add(
            category="performance",
            severity="medium" if scored_q else "low",
            title=f"{len(qual_pct)}项定性指标以“%”为度量单位" + ("并按数值打满分" if scored_q else ""),
            detail=f"指标值不是数字，度量单位却填“%”：{names}"
            + ("等" if len(qual_pct) > 6 else "")
            + "。这类指标无法衡量完成程度。",
            figures=[Figure("定性指标（单位%）数", str(len(qual_pct))), Figure("其中计分", str(len(scored_q)))],
            cells=[c.ref() for i in qual_pct for c in (i.target, i.actual, i.score) if c is not None],
            questions=[
                f"“{qual_pct[0].name}”的目标是“{qual_pct[0].target_raw}”，单位却是“%”，完成程度如何衡量？为什么能得满分？",
                "今后能否把定性目标改为可量化、可核验的指标？",
            ],
            rule="qualitative_pct_target",
            key="perf|qual_pct",
        )
    no_unit = [i for i in inds if not i.unit and _dec(i.target_raw.replace(",", "")) is not None]
    if no_unit:
        ctx.add(
            category="performance",
            severity="low",
            title=f"{len(no_unit)}项数值指标没有度量单位",
            detail="、".join(f"“{i.name}”（{i.target_raw}）" for i in no_unit[:8]) + "。",
            figures=[Figure("无单位指标数", str(len(no_unit)))],
            cells=[i.target.ref() for i in no_unit if i.target is not None],
            questions=[f"“{no_unit[0].name}”的指标值{no_unit[0].target_raw}是什么单位？"],
            rule="target_without_unit",
            key="perf|no_unit",
        )
    below_full = [
        i
        for i in scored
        if _dec(i.actual_raw.replace(",", "")) is not None
        and _dec(i.target_raw.replace(",", "")) is not None
        and i.op in ("≥", "≧", ">=", "＞", ">")
        and _dec(i.actual_raw.replace(",", "")) < _dec(i.target_raw.replace(",", ""))  # type: ignore[operator]
        and i.score.value == i.max_score.value
    ]
    for i in below_full:
        ctx.add(
            category="performance",
            severity="high",
            title=f"“{i.name}”未达目标却得满分",
            detail=f"目标{i.op}{i.target_raw}{i.unit}，实际{i.actual_raw}{i.unit}，得分{i.score.raw}（满分{i.max_score.raw}）。",
            figures=[
                Figure("指标值", i.target_raw + i.unit),
                Figure("实际完成值", i.actual_raw + i.unit),
                Figure("得分", i.score.raw),
            ],
            cells=[c.ref() for c in (i.target, i.actual, i.max_score, i.score) if c is not None],
            questions=[f"“{i.name}”实际完成{i.actual_raw}{i.unit}，未达到目标{i.target_raw}{i.unit}，为什么仍得满分？"],
            rule="missed_target_full_score",
            key=f"perf|missed|{i.table_id}|{i.name}",
        )


# --------------------------------------------------------------------------- 5. data quality

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
    _layout_code_typos(ctx)
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
        tf = [f for f in ctx.facts if f.table_id == tids[0] and _money(f) is not None and _is_total_col(_norm(f.column))]
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


def _layout_code_typos(ctx: _Ctx) -> None:
    """Code typos in rows without an amount: such rows are no facts, so read the source grid again."""
    if ctx.layout is None:
        return
    from assistant.glossary import table_kind
    from assistant.ingest.tables import norm
    from assistant.models import RawTable

    n = 0
    for b in ctx.layout.blocks:
        if not isinstance(b, RawTable) or not b.rows:
            continue
        n += 1
        if table_kind(norm(b.title)) not in ECON_KINDS:
            continue
        grid = [[norm(c.text) for c in r] for r in b.rows]
        for i, row in enumerate(grid):
            for j, t in enumerate(row):
                if not re.fullmatch(r"\d{3}|\d{5}", t) or t[:3] in ECON_CLASSES:
                    continue
                col = [(abs(k - i), grid[k][j]) for k in range(len(grid)) if k != i and j < len(grid[k])]
                near = sorted((d, x) for d, x in col if re.fullmatch(r"\d{3}|\d{5}", x) and x[:3] in ECON_CLASSES)
                if not near or near[0][0] > 3:
                    continue  # not a code column
                suggestion = near[0][1][:3] + t[3:] if len(t) == 5 else ""
                label = next((x for x in row[j + 1 : j + 2] if x and not NUM_RE.match(x.replace(",", ""))), "")
                cell = b.rows[i][j]
                table = " ".join(x for x in (b.number, norm(b.title)) if x)
                ref = CellRef("", table, f"{t} {label}".strip(), "科目编码", cell.page, t)
                ctx.add(
                    category="data_quality",
                    severity="low",
                    title=f"{b.number or norm(b.title)}：科目编码{t}（{label}）不是有效的经济分类编码",
                    detail=f"经济分类科目编码应以301、302、303、307、309、310、399等类级编码开头；{t}印在"
                    f"{near[0][1][:3]}类科目之间" + (f"，应为{suggestion}。" if suggestion else "。"),
                    figures=[Figure("印刷编码", t)] + ([Figure("应为", suggestion)] if suggestion else []),
                    cells=[ref],
                    questions=[
                        f"表中“{label}”的科目编码印为{t}"
                        + (f"，是否应为{suggestion}？" if suggestion else "，正确编码是什么？")
                        + "公开前是否做过校对？"
                    ],
                    rule="economic_code_typo",
                    key=f"dq|code|{b.number}|{t}",
                )


def _layout_row_text(ctx: _Ctx, f: _F) -> str:
    """The other cells of the printed row holding ``f`` (code and name of the row it sits in)."""
    if ctx.layout is None:
        return ""
    from assistant.ingest.tables import norm
    from assistant.models import RawTable

    for b in ctx.layout.blocks:
        if not isinstance(b, RawTable) or (f.table_number and b.number != f.table_number):
            continue
        for r in b.rows:
            texts = [norm(c.text) for c in r]
            if f.col < len(texts) and texts[f.col] == norm(f.raw):
                others = [x for k, x in enumerate(texts) if x and k != f.col]
                if others:
                    return " ".join(others[:2])
    return ""


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
    public = sum((f.value for f in classes if f.code not in ("301", "303")), Decimal(0))
    personnel = sum((f.value for f in classes if f.code in ("301", "303")), Decimal(0))
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
        where = f"{f.code} {f.row_label}".strip() or _layout_row_text(ctx, f)
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


# --------------------------------------------------------------------------- 6. narrative against tables

_CONCEPTS: list[tuple[str, str, tuple[str, ...]]] = [
    # (display name, regex in text, substrings of row label / column that hold the figure)
    ("收支总计", r"(?:收入支出|收支)(?:总计|总额)", ("总计",)),
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
        got = []
        for tid in ctx.tables_of("three_public_expenses"):
            tfacts = [f for f in ctx.facts if f.table_id == tid and f.value is not None and f.status in ("ok", "")]
            with_meetings = any(re.search(r"会议费|培训费", f.column + f.row_label) for f in tfacts)
            for f in tfacts:
                if _SKIP_COLUMN.search(_norm(f.column)) or (f.unit and f.unit not in ("万元", "元", "亿元")):
                    continue
                it = _tp_item_path(f.row_label) or _tp_item_path(f.column)
                if it == "total" and with_meetings and "三公" not in _norm(f.row_label + f.column):
                    continue
                if it == item:
                    got.append(f)
        return got
    kinds = _CONCEPT_TABLES.get(name)
    out = []
    for f in ctx.facts:
        if f.value is None or f.status not in ("ok", ""):
            continue
        if kinds and f.table_kind not in kinds:
            continue
        if f.unit and f.unit not in ("万元", "元", "亿元"):
            continue
        if _SKIP_COLUMN.search(_norm(f.column)):
            continue
        hay = _norm(f.row_label) + "|" + _norm(f.column)
        if not any(s in hay for s in subs):
            continue
        out.append(f)
    return out


def _narrative_findings(ctx: _Ctx) -> None:
    sources: list[tuple[str, str, _F | None]] = []
    for ch in ctx.chunks:
        page = _s(ch.get("page"))
        where = (_s(ch.get("section")) or _s(ch.get("chunk_id"))) + (f"，第{page}页" if page else "")
        sources.append((_s(ch.get("text")), where, None))
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
                cells=([src.ref()] if src is not None else []) + [f.ref() for f in best],
                questions=[f"报告正文说{name}为{printed}，而表中为{_q(tv)}万元，哪个数字正确？差异原因是什么？"],
                rule="narrative_vs_table",
                key=f"text|{name}|{wan}",
            )


# --------------------------------------------------------------------------- 7. year over year, peers


def _money(f: _F) -> Decimal | None:
    if f.value is None or f.status not in ("ok", ""):
        return None
    if f.value_wan is not None:
        return f.value_wan
    return f.value if not f.unit or f.unit == "万元" else None


def _is_total_col(col: str) -> bool:
    """The all-spending column of a function-class table (合计 / 本年支出合计 / 金额), not 基本/项目 or last year."""
    return (
        ("合计" in col or "总计" in col or "本年支出" in col or col in ("", "金额", "预算数", "决算数"))
        and "基本" not in col
        and "项目" not in col
        and "上年" not in col
        and "结转" not in col
    ) or not col


def _key_figures(ctx: _Ctx) -> dict[str, tuple[Decimal, _F]]:
    """Comparable figures of a report: function classes, basic/project totals, 三公 items."""
    out: dict[str, tuple[Decimal, _F]] = {}
    actual = ctx.meta.kind == "决算"
    for kinds in (("expenditure_by_function",), ("general_budget_by_function",)):
        tids = ctx.tables_of(*kinds)
        if not tids:
            continue
        tid = tids[0]
        tf = [f for f in ctx.facts if f.table_id == tid and _money(f) is not None]
        for f in tf:
            col = _norm(f.column)
            is_total_col = _is_total_col(col)
            if len(f.code) == 3 and is_total_col:
                out.setdefault(f"{f.code} {_strip_numbering(f.row_label)}".strip(), (_money(f), f))  # type: ignore[arg-type]
            if not f.code and re.search(r"合计|总计", f.row_label + f.raw) and "上年" not in col:
                if "基本支出" in col:
                    out.setdefault("基本支出", (_money(f), f))  # type: ignore[arg-type]
                elif "项目支出" in col:
                    out.setdefault("项目支出", (_money(f), f))  # type: ignore[arg-type]
                elif is_total_col:
                    out.setdefault("支出合计", (_money(f), f))  # type: ignore[arg-type]
        break
    tp = _three_public(ctx)
    for item, ms in tp.items():
        f = ms.get("actual" if actual else "budget") or (ms.get("full") if not actual else None)
        if f is None or _money(f) is None:
            continue
        out[_TP_ZH[item]] = (_money(f), f)  # type: ignore[assignment]
    return out


_REASON_RE = re.compile(r"原因|主要是|主要用于|由于|因为")
_TERM_ALIASES = {
    "支出合计": ("支出合计", "支出总计", "收支总计", "收支预算总计", "收入支出预算", "支出预算"),
    "基本支出": ("基本支出",),
    "项目支出": ("项目支出",),
}


def _amount_texts(x: Decimal) -> list[str]:
    """How an amount in 万元 may be printed: 3355.64, 3,355.64, 3355.6."""
    q = x.quantize(CENT)
    return sorted({f"{q:f}", f"{q:,f}", _q(q)}, key=len, reverse=True)


def _reason_for(ctx: _Ctx, label: str, new: Decimal, delta: Decimal) -> tuple[str, str]:
    """The narrative's explanation of a change: a sentence naming the item (or the amounts) and a cause."""
    term = re.sub(r"^\d+\s*", "", label)
    term = re.sub(r"[“”\"‘’]", "", term)
    terms = _TERM_ALIASES.get(term) or ((re.sub(r"支出$|费$|经费$", "", term) or term),)
    amounts = _amount_texts(new) + _amount_texts(abs(delta))
    for ch in ctx.chunks:
        sents = [x for x in re.split(r"(?<=[。；])", re.sub(r"[“”\"‘’]", "", _s(ch.get("text")))) if x.strip()]
        for k, sent in enumerate(sents):
            named = any(t in sent for t in terms if len(t) >= 2) or any(a in sent for a in amounts if len(a) >= 4)
            if not named or not re.search(r"增加|减少|增长|下降|持平|变化", sent):
                continue
            if _REASON_RE.search(sent):
                return sent.strip()[:200], _s(ch.get("chunk_id"))
            if k + 1 < len(sents) and re.match(r"\s*(主要)?(原因|是由于|系)", sents[k + 1]):
                return (sent.strip() + sents[k + 1].strip())[:200], _s(ch.get("chunk_id"))
            for nxt in sents[k + 1 : k + 4]:
                if re.search(r"(增加|减少|增长|下降|变化)的主要原因", nxt):
                    return nxt.strip()[:200], _s(ch.get("chunk_id"))
    return "", ""


_ORG_SUFFIX = re.compile(r"(局|办公室|办公厅|委员会|委|院|处|厅|部|会|室|中心|所|站|队|街道|镇|乡)$")


def _same_department(a: str, b: str) -> bool:
    x, y = _norm(a), _norm(b)
    if not x or not y:
        return False
    if x == y:
        return True
    short, long_ = sorted((x, y), key=len)
    return len(short) >= 4 and short in long_ and bool(_ORG_SUFFIX.search(short)) and long_.endswith(short[-4:])


def _yoy_findings(ctx: _Ctx, index: Any, ctx_for: Any) -> list[str]:
    me = ctx.meta
    earlier = [
        r
        for r in index.reports
        if r.report_id != me.report_id
        and r.kind == me.kind
        and r.year < me.year
        and _same_department(r.department, me.department)
    ]
    if not earlier:
        return []
    prev = sorted(earlier, key=lambda r: (r.year, r.scope == me.scope, r.report_id))[-1]
    pctx = ctx_for(prev)
    cur, old = _key_figures(ctx), _key_figures(pctx)
    changes = []
    for k in sorted(set(cur) & set(old)):
        a, fa = old[k]
        b, fb = cur[k]
        if a == b:
            continue
        changes.append((abs(b - a), k, a, b, fa, fb))
    changes.sort(key=lambda x: (-x[0], x[1]))
    tp_names = set(_TP_ZH.values())
    top = [c for c in changes if c[1] not in tp_names][:YOY_TOP] + [c for c in changes if c[1] in tp_names]
    for _, k, a, b, fa, fb in top:
        pct = ((b - a) / a * 100).quantize(CENT) if a else None
        reason, chunk = _reason_for(ctx, k, b, b - a)
        up = b > a
        big = (pct is None or abs(pct) >= 30) and abs(b - a) >= 10
        word = "增加" if up else "减少"
        ctx.add(
            category="year_over_year",
            severity="medium" if big and not reason else "low",
            title=f"{k}：{prev.year}年{_q(a)}万元 → {me.year}年{_q(b)}万元（{word}{_q(abs(b - a))}万元"
            + (f"，{'+' if up else ''}{pct}%" if pct is not None else "")
            + "）",
            detail=(f"报告说明：“{reason}”" if reason else "报告未说明变化原因。") + f"（对比报告：{prev.report_id}）",
            figures=[
                Figure(f"{prev.year}年", _fmt(a)),
                Figure(f"{me.year}年", _fmt(b)),
                Figure("变化", f"{'+' if up else '-'}{_fmt(abs(b - a))}"),
            ]
            + ([Figure("变化率", f"{pct}%")] if pct is not None else []),
            cells=[fa.ref(), fb.ref()],
            questions=[
                f"{k}由{prev.year}年的{_q(a)}万元{word}到{me.year}年的{_q(b)}万元，"
                + ("报告称“" + reason[:60] + "”，请具体说明涉及哪些项目和金额？" if reason else "主要原因是什么？")
            ],
            rule="year_over_year",
            key=f"yoy|{k}",
        )
    return [prev.report_id]


_PEER_SHARES = (
    ("“三公”经费占支出合计的比例", "“三公”经费"),
    ("机关运行经费占支出合计的比例", "机关运行经费"),
    ("基本支出占支出合计的比例", "基本支出"),
)


def _peer_findings(ctx: _Ctx, index: Any, ctx_for: Any) -> list[str]:
    me = ctx.meta
    peers = [
        r
        for r in index.reports
        if r.report_id != me.report_id
        and r.kind == me.kind
        and abs(r.year - me.year) <= 1
        and not _same_department(r.department, me.department)
    ]
    if len(peers) < 2:
        return []
    mine = _key_figures(ctx)
    if "支出合计" not in mine or not mine["支出合计"][0]:
        return []
    pf = {}
    for p in sorted(peers, key=lambda r: r.report_id):
        kf = _key_figures(ctx_for(p))
        if "支出合计" in kf and kf["支出合计"][0]:
            pf[p.report_id] = kf
    used: list[str] = []
    for label, key in _PEER_SHARES:
        if key not in mine:
            continue
        share = mine[key][0] / mine["支出合计"][0] * 100
        others = {rid: kf[key][0] / kf["支出合计"][0] * 100 for rid, kf in pf.items() if key in kf}
        if len(others) < 3:
            continue
        med = Decimal(str(median([float(x) for x in others.values()])))
        used.extend(others)
        if med <= 0:
            continue
        ratio = share / med
        if ratio < PEER_RATIO:
            continue  # only shares well above the peers: a low 三公 share is no question to ask
        high = True
        lst = "、".join(f"{rid}：{x.quantize(CENT)}%" for rid, x in sorted(others.items()))
        ctx.add(
            category="peers",
            severity="low",
            title=f"{label}为{share.quantize(CENT)}%，{'高于' if high else '低于'}同类报告中位数{med.quantize(CENT)}%",
            detail=f"同类（同为{me.kind}、年度相近）报告：{lst}。",
            figures=[
                Figure(label, f"{share.quantize(CENT)}%"),
                Figure("同类中位数", f"{med.quantize(CENT)}%"),
                Figure(key, _fmt(mine[key][0])),
                Figure("支出合计", _fmt(mine["支出合计"][0])),
            ],
            cells=[mine[key][1].ref(), mine["支出合计"][1].ref()],
            questions=[
                f"本单位{label}为{share.quantize(CENT)}%，{'明显高于' if high else '明显低于'}同类单位（中位数{med.quantize(CENT)}%），原因是什么？"
            ],
            rule="peer_share",
            key=f"peer|{key}",
        )
    return sorted(set(used))


# --------------------------------------------------------------------------- entry points


def _ctx_for(index: Any, meta: ReportMeta, cache: dict[str, _Ctx]) -> _Ctx:
    if meta.report_id in cache:
        return cache[meta.report_id]
    facts_df = index.facts[index.facts.report_id == meta.report_id] if len(index.facts) else index.facts
    facts = _facts_of(facts_df)
    chunks: list[dict[str, Any]] = []
    if index.chunks is not None and len(index.chunks) and "report_id" in index.chunks:
        cdf = index.chunks[index.chunks.report_id == meta.report_id]
        cols = [c for c in ("chunk_id", "section", "page", "text") if c in cdf.columns]
        chunks = cdf[cols].to_dict("records")
        chunks.sort(key=lambda c: (_int_or_none(c.get("page")) or 0, _chunk_no(_s(c.get("chunk_id")))))
    ctx = _Ctx(meta=meta, facts=facts, rows=_rows(facts), chunks=chunks)
    cache[meta.report_id] = ctx
    return ctx


def _source_files(index: Any, meta: ReportMeta) -> list[Path] | None:
    """The report's source files: PDFs kept in the index, text files where the sample lives."""
    import hashlib

    from assistant.settings import SAMPLE_REPORT

    dirs = [SAMPLE_REPORT.parent, Path.cwd() / "data"]
    env = os.environ.get("FISCALQA_SHARED_REPORTS")
    if env:
        dirs.append(Path(env))
    dirs.append(SAMPLE_REPORT.parent.parent.parent / "shared" / "reports")
    files: list[Path] = []
    for i, name in enumerate(meta.sources):
        sha = meta.sha256[i] if i < len(meta.sha256) else ""
        kept = Path(index.path) / "sources" / f"{sha}.pdf"
        if sha and name.lower().endswith(".pdf") and kept.exists():
            files.append(kept)
            continue
        found = None
        for d in dirs:
            cand = d / name
            if cand.exists() and (not sha or hashlib.sha256(cand.read_bytes()).hexdigest() == sha):
                found = cand
                break
        if found is None:
            return None
        files.append(found)
    return files or None


def _source_layout(index: Any, meta: ReportMeta) -> Any:
    cache = index.extra.setdefault("review_layouts", {}) if isinstance(getattr(index, "extra", None), dict) else {}
    if meta.report_id in cache:
        return cache[meta.report_id]
    layout = None
    try:
        files = _source_files(index, meta)
        if files:
            from assistant.ingest import read_layout

            layout = read_layout(files)
    except Exception as e:  # the layout only adds detail; the review goes on without it
        log.info("source layout of %s not available: %s", meta.report_id, e)
    cache[meta.report_id] = layout
    return layout


def _chunk_no(chunk_id: str) -> int:
    m = re.search(r":c(\d+)$", chunk_id)
    return int(m.group(1)) if m else 0


def resolve_report(index: IndexData, report: str) -> ReportMeta:
    """A report id, or a unique department / id substring, → its ReportMeta."""
    exact = [r for r in index.reports if r.report_id == report]
    if exact:
        return exact[0]
    hits = [r for r in index.reports if report in r.report_id or report in r.department]
    if len(hits) == 1:
        return hits[0]
    known = sorted(r.report_id for r in (hits or index.reports))
    if hits:
        raise FiscalQAError(f"{report!r} matches {len(hits)} reports: {', '.join(known)}; give the report id")
    raise UnknownReportError(report, known)


def review_report(index: IndexData, report_id: str) -> Review:
    """Findings and suggested questions for one ingested report."""
    meta = resolve_report(index, report_id)
    cache: dict[str, _Ctx] = {}
    ctx = _ctx_for(index, meta, cache)
    facts_df = index.facts[index.facts.report_id == meta.report_id] if len(index.facts) else index.facts
    ctx.layout = _source_layout(index, meta)
    run, passed = _identity_findings(ctx, facts_df)
    steps = (_three_public_findings, _project_findings, _performance_findings, _data_quality_findings, _narrative_findings)
    for step in steps:
        try:
            step(ctx)
        except Exception as e:  # one broken rule must not hide the others
            log.exception("review rule %s failed on %s", step.__name__, meta.report_id)
            ctx.notes.append(f"规则 {step.__name__} 出错：{type(e).__name__}: {e}")
    compared: list[str] = []
    for step2 in (_yoy_findings, _peer_findings):
        try:
            compared.extend(step2(ctx, index, lambda m: _ctx_for(index, m, cache)))
        except Exception as e:
            log.exception("review rule %s failed on %s", step2.__name__, meta.report_id)
            ctx.notes.append(f"规则 {step2.__name__} 出错：{type(e).__name__}: {e}")
    if not ctx.facts:
        ctx.notes.append("该报告没有提取到表格数字，无法审查。")
    findings = _finalize(ctx.findings)
    return Review(
        report_id=meta.report_id,
        department=meta.department,
        year=meta.year,
        kind=meta.kind,
        findings=findings,
        checks_run=run,
        checks_passed=passed,
        compared_with=sorted(set(compared)),
        notes=ctx.notes,
    )


def _finalize(findings: list[Finding]) -> list[Finding]:
    uniq: dict[str, Finding] = {}
    for f in findings:
        uniq.setdefault(f.key or f.title, f)
    out = sorted(
        uniq.values(),
        key=lambda f: (SEVERITY_ORDER.index(f.severity), CATEGORY_ORDER.index(f.category), f.key, f.title),
    )
    for i, f in enumerate(out, 1):
        f.id = f"F{i:02d}"
    return out


# --------------------------------------------------------------------------- rendering


def _cell_line(c: CellRef) -> str:
    parts = [c.table, c.row, c.column]
    s = " · ".join(p for p in parts if p)
    return s + (f" · 第{c.page}页" if c.page else "") + f" = {c.value}" if c.value else s


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(review: Review) -> str:
    """The review as Markdown: summary, a table of findings, each finding with cells and questions."""
    c = review.counts()
    lines = [
        f"# 审查意见：{review.department} {review.year}年{review.kind}",
        "",
        f"- 报告：`{review.report_id}`",
        f"- 发现：{len(review.findings)}项（高 {c['high']} · 中 {c['medium']} · 低 {c['low']}）",
        f"- 恒等式校验：{review.checks_passed}/{review.checks_run} 通过",
    ]
    if review.compared_with:
        lines.append(f"- 对比报告：{', '.join(review.compared_with)}")
    lines += ["", "## 发现一览", "", "| 编号 | 类别 | 严重程度 | 发现 | 主要数字 |", "|---|---|---|---|---|"]
    for f in review.findings:
        figs = "；".join(f"{g.label} {g.value}" for g in f.figures[:4])
        lines.append(
            f"| {f.id} | {CATEGORY_ZH[f.category]} | {SEVERITY_ZH[f.severity]} | {_md_escape(f.title)} | {_md_escape(figs)} |"
        )
    lines += ["", "## 详情", ""]
    for f in review.findings:
        lines += [
            f"### {f.id} {f.title}",
            "",
            f"*{CATEGORY_ZH[f.category]} · 严重程度：{SEVERITY_ZH[f.severity]}*",
            "",
            f.detail,
            "",
        ]
        if f.figures:
            lines += (
                ["| 项目 | 数字 |", "|---|---|"]
                + [f"| {_md_escape(g.label)} | {_md_escape(g.value)} |" for g in f.figures]
                + [""]
            )
        if f.cells:
            lines.append("出处：")
            shown = f.cells[:8]
            lines += [f"- {_md_escape(_cell_line(x))}" + (f" (`{x.fact_id}`)" if x.fact_id else "") for x in shown]
            if len(f.cells) > len(shown):
                lines.append(f"- ……另有{len(f.cells) - len(shown)}个单元格")
            lines.append("")
        lines.append("建议提问：")
        lines += [f"{i}. {q}" for i, q in enumerate(f.questions, 1)]
        lines.append("")
    lines += ["## 建议提问汇总", ""]
    n = 0
    for f in review.findings:
        for q in f.questions:
            n += 1
            lines.append(f"{n}. {q}（{f.id}）")
    if review.notes:
        lines += ["", "## 说明", ""] + [f"- {x}" for x in review.notes]
    return "\n".join(lines) + "\n"


def render_json(review: Review) -> str:
    return json.dumps(review.to_dict(), ensure_ascii=False, indent=1, default=str) + "\n"


def write_docx(review: Review, path: Path | str) -> Path:
    """The review as a Word document: a findings table, then each finding with its questions."""
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    doc.core_properties.title = f"审查意见：{review.department} {review.year}年{review.kind}"
    doc.add_heading(f"审查意见：{review.department} {review.year}年{review.kind}", level=1)
    c = review.counts()
    doc.add_paragraph(
        f"报告：{review.report_id}。发现{len(review.findings)}项（高{c['high']}、中{c['medium']}、低{c['low']}）；"
        f"恒等式校验{review.checks_passed}/{review.checks_run}通过。"
    )
    doc.add_heading("发现一览", level=2)
    table = doc.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("编号", "类别", "严重程度", "发现", "建议提问"), strict=True):
        cell.text = text
    for f in review.findings:
        row = table.add_row().cells
        row[0].text, row[1].text, row[2].text, row[3].text = f.id, CATEGORY_ZH[f.category], SEVERITY_ZH[f.severity], f.title
        row[4].text = "\n".join(f.questions)
    doc.add_heading("详情", level=2)
    for f in review.findings:
        doc.add_heading(f"{f.id} {f.title}", level=3)
        doc.add_paragraph(f.detail)
        for g in f.figures:
            doc.add_paragraph(f"{g.label}：{g.value}", style="List Bullet")
        for x in f.cells[:8]:
            p = doc.add_paragraph(_cell_line(x))
            for run in p.runs:
                run.font.size = Pt(8)
        for q in f.questions:
            doc.add_paragraph(q, style="List Number")
    if review.notes:
        doc.add_heading("说明", level=2)
        for n in review.notes:
            doc.add_paragraph(n, style="List Bullet")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def main(args: argparse.Namespace) -> int:
    """``fiscal-qa review REPORT [--index DIR] [--format md|json|docx] [--out FILE]``."""
    from assistant.settings import Settings
    from assistant.store import load_index

    index = load_index(Path(args.index) if getattr(args, "index", None) else Settings.from_env().index_dir)
    review = review_report(index, args.report)
    fmt = getattr(args, "format", "md") or "md"
    out = getattr(args, "out", None)
    if fmt == "docx":
        target = Path(out) if out else Path(f"review_{review.report_id}.docx")
        write_docx(review, target)
        sys.stderr.write(f"{len(review.findings)} findings written to {target}\n")
        return 0
    text = render_markdown(review) if fmt == "md" else render_json(review)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        sys.stderr.write(f"{len(review.findings)} findings written to {out}\n")
    else:
        sys.stdout.write(text)
    return 0
