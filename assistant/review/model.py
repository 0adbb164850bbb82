"""Records of a review (``Finding``, ``CellRef`` …) and the helpers every rule family shares.

Facts are read once into plain ``_F`` records (normalized types, stable order) and grouped
into printed rows (``_Row``); ``_Ctx`` carries one report's facts, chunks and ingestion
problems while the rules add findings to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import pandas as pd

from assistant.glossary import norm_label
from assistant.models import ReportMeta

Category = Literal[
    "consistency", "budget_vs_actual", "performance", "year_over_year", "peers", "data_quality", "structure", "proofreading"
]
Severity = Literal["high", "medium", "low"]

CATEGORY_ORDER: tuple[str, ...] = (
    "structure",
    "consistency",
    "budget_vs_actual",
    "performance",
    "data_quality",
    "proofreading",
    "year_over_year",
    "peers",
)
CATEGORY_ZH = {
    "consistency": "一致性",
    "budget_vs_actual": "预算与执行",
    "performance": "绩效自评",
    "data_quality": "数据质量",
    "year_over_year": "同比变化",
    "peers": "同类比较",
    "structure": "报告结构",
    "proofreading": "文字校对",
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
MONEY_UNITS = ("万元", "元", "亿元")


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


def _id_no(ident: str) -> int:
    """The trailing number of a fact or chunk id (…:r3:c8 → 8, …:c12 → 12), 0 when there is none."""
    m = re.search(r":c(\d+)$", ident)
    return int(m.group(1)) if m else 0


def _table_sort_key(table_id: str) -> tuple[int, str]:
    m = re.search(r"(\d+)", table_id)
    return (int(m.group(1)) if m else 10**6, table_id)


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
                col=_id_no(fid),
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
    return f"{d.quantize(CENT):,.2f}{unit}" if unit in MONEY_UNITS else f"{d}{unit}"


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
    problems: list[str] = field(default_factory=list)
    """What ingestion noticed (``ReportMeta.problems``): a figure printed without its row, a code typo."""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    """The report's tables (``TableInfo`` rows: number, title, table_kind, pages, empty, note), in page order."""
    pages: dict[int, str] = field(default_factory=dict)
    """Text of each page of the kept source PDFs (1-based layout pages); empty for text-form reports."""
    reading: dict[int, str] = field(default_factory=dict)
    """The same pages line by line in reading order (lines grouped by baseline)."""

    def add(self, **kw: Any) -> None:
        self.findings.append(Finding(id="", **kw))

    def tables_of(self, *kinds: str) -> list[str]:
        return sorted({f.table_id for f in self.facts if f.table_kind in kinds}, key=_table_sort_key)


def _first_by_column(facts: Iterable[_F], *subs: str) -> _F | None:
    for f in facts:
        if any(s in norm_label(f.column) for s in subs):
            return f
    return None


def _v(f: _F | None) -> Decimal | None:
    if f is None:
        return None
    return f.value_wan if f.value_wan is not None else f.value


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
