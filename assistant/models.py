"""The records that flow between pipeline stages.

Layout records (``RawCell``, ``RawTable``, ``TextLine``, ``Layout``) are what the
readers (``ingest/pdf.py``, ``ingest/text.py``) hand to the interpreters
(``ingest/tables.py``, ``ingest/narrative.py``). Store records (``ReportMeta``,
``TableInfo``, ``Fact``, ``Chunk``) are what the index holds. Question records
(``QueryPlan``, ``Citation``, ``Answer``) are what the ask wing produces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

BBox = tuple[float, float, float, float]
"""A box on a PDF page in PDF points: (x0, y0, x1, y1), origin top-left (PyMuPDF)."""

COLUMN_SEP = " › "
"""Separator of stacked header labels in ``Fact.column``."""

HEADING_SEP = " › "
"""Separator of heading levels in ``Chunk.section``."""


# --------------------------------------------------------------------------- layout


@dataclass
class RawCell:
    """One cell of a table grid as read from the page, before interpretation."""

    text: str
    """The cell's text, characters in reading order, PDF line breaks inside words removed."""
    page: int | None = None
    """1-based page number; None for the text form."""
    bbox: BBox | None = None
    """The cell's box on its page; None for the text form."""
    colspan: int = 1
    """Grid columns this cell covers (merged header cells); the covered cells follow as ''."""
    rowspan: int = 1
    """Grid rows this cell covers; covered cells below hold ''."""
    readable: bool = True
    """False when the characters inside the box could not be decoded (no guessing)."""
    confidence: float | None = None
    """OCR recognition confidence (0–1, the lowest of the cell's words); None when read from a text layer or file."""
    ref: str = ""
    """Where the cell sits in a file without pages: ``公开03表!D12`` (Excel sheet!cell), ``表2!R5C3`` (Word/HTML table)."""


@dataclass
class RawTable:
    """A table as a grid of cells, possibly assembled from several pages."""

    rows: list[list[RawCell]]
    """Grid rows, all of the same length."""
    title: str = ""
    """The table's title as published (e.g. 财政拨款“三公”经费、行政参公单位机关运行经费情况表)."""
    number: str = ""
    """The published table number (公开10表, 表3, 预算01表 …) or ''."""
    unit: str = ""
    """The unit line of the table (万元, 元), '' when none was printed."""
    pages: list[int] = field(default_factory=list)
    """1-based pages the table is printed on; empty for the text form."""
    notes: list[str] = field(default_factory=list)
    """Notes printed under the table (注：…), e.g. that the table is empty and why."""
    preamble: list[str] = field(default_factory=list)
    """Lines between title and grid (部门：…, 单位：…) as printed."""


@dataclass
class TextLine:
    """A line of running text outside tables."""

    text: str
    page: int | None = None
    bbox: BBox | None = None
    size: float | None = None
    """Font size in points where known (helps tell headings)."""
    bold: bool = False


@dataclass
class Layout:
    """A whole report as read: tables and text lines in reading order."""

    blocks: list[RawTable | TextLine]
    sources: list[str]
    """Source file names the layout was read from (two for split Jiangsu reports)."""
    page_count: int = 0
    page_sizes: dict[int, tuple[float, float]] = field(default_factory=dict)
    """1-based page → (width, height) in points."""
    file_pages: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Layout page → (source file name, 1-based page in that file); for split reports."""
    ocr_pages: dict[int, float] = field(default_factory=dict)
    """Layout page → median OCR confidence, for pages read by OCR (no or garbage text layer)."""


# --------------------------------------------------------------------------- store records


@dataclass
class ReportMeta:
    """What a report is. One report may come from two files (Jiangsu text + tables)."""

    report_id: str
    """Stable id: the stem of the first source file, e.g. 00_yunnan_qujing_touzicujinju_2023_juesuan."""
    department: str
    """Department as printed (杭州市商务局)."""
    year: int
    """The fiscal year the report is about (not the publication year)."""
    kind: Literal["决算", "预算"]
    """Final accounts (决算) or budget (预算)."""
    scope: Literal["部门", "单位"] = "部门"
    """Department-wide (部门) or unit-level (单位) report."""
    place: str = ""
    """Province / city / district where stated (四川省成都市, 北京市海淀区, 浙江省)."""
    sources: list[str] = field(default_factory=list)
    """Source file names."""
    sha256: list[str] = field(default_factory=list)
    """SHA-256 of each source file, same order as ``sources``."""
    pages: int = 0
    title: str = ""
    """The report's title where printed."""
    page_counts: list[int] = field(default_factory=list)
    """Pages of each source file, same order as ``sources`` (layout page numbers run on across files)."""
    problems: list[str] = field(default_factory=list)
    """What ingestion noticed and did not hide: unreadable cells, a misplaced figure, a code typo."""
    department_key: str = ""
    """One key for every printed variant of the department (``orgnames.canonical_key``): reports of one
    department in different years share it although their ``department`` is printed two ways."""
    source_roles: list[str] = field(default_factory=list)
    """Role of each source file, same order as ``sources``: ``narrative`` (text only) or ``tables``."""

    def __post_init__(self) -> None:
        if not self.department_key and self.department:  # indexes written before the key existed
            from assistant.orgnames import canonical_key

            self.department_key = canonical_key(self.department)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReportIdentity:
    """Which report a file belongs to, as read from its content or given by the user (CLI, upload form).

    Fields left None were not read (or not given); a given field overrides the one read.
    """

    department: str | None = None
    """Department as printed."""
    year: int | None = None
    """Fiscal year."""
    kind: Literal["决算", "预算"] | None = None
    scope: Literal["部门", "单位"] | None = None
    place: str | None = None
    """Province / city / district (read, never given)."""
    title: str | None = None
    """The report's title where printed."""


@dataclass
class TableInfo:
    """One published table of a report (also recorded when it is empty)."""

    report_id: str
    table_id: str
    """Unique within the report: e.g. t03 (order of appearance)."""
    number: str
    """Published number (公开10表) or ''."""
    title: str
    """Title as published."""
    table_kind: str
    """Normalized kind, see ``assistant.glossary.TABLE_KINDS``."""
    unit: str
    """Unit line as published ('' when none)."""
    pages: list[int]
    empty: bool
    """True when the table has no figures (e.g. no government-fund income)."""
    note: str = ""
    """The notes under the table, joined; for empty tables, the reason."""
    facts: int = 0
    """Number of facts extracted from it."""


FACT_COLUMNS = [
    "fact_id",
    "report_id",
    "department",
    "year",
    "kind",
    "scope",
    "table_id",
    "table_number",
    "table_title",
    "table_kind",
    "page",
    "row_index",
    "code",
    "row_label",
    "column",
    "value",
    "unit",
    "value_wan",
    "raw",
    "status",
    "bbox",
    "row_bbox",
    "header_bbox",
    "ocr",
    "confidence",
    "ref",
    "warning",
]


@dataclass
class Fact:
    """One non-empty table cell: the unit of truth every number in an answer comes from."""

    fact_id: str
    """Stable id: f"{report_id}:{table_id}:r{row_index}:c{col_index}"."""
    report_id: str
    department: str
    year: int
    kind: str
    scope: str
    table_id: str
    table_number: str
    table_title: str
    table_kind: str
    page: int | None
    row_index: int
    """0-based row index within the table body (stable order)."""
    code: str | None
    """Function or economic classification code, digits only and whole (2011301), or None."""
    row_label: str
    """Row label as printed (names filled from another table when missing)."""
    column: str
    """Stacked header labels joined with COLUMN_SEP, e.g. 本年支出 › 基本支出 › 人员经费."""
    value: Decimal | None
    """Exact value as printed; None for text cells (开展, 12月30日前) and — cells."""
    unit: str
    """Unit as published: 万元, 元, 亿元, 个, 人, 辆, %, 分 …"""
    value_wan: Decimal | None
    """Money value converted to 万元 (None when the unit is not money)."""
    raw: str
    """The cell's text exactly as read."""
    status: Literal["ok", "text", "na", "unreadable"] = "ok"
    """ok: a number; text: a non-numeric value; na: — (not applicable); unreadable: could not be read."""
    bbox: BBox | None = None
    row_bbox: BBox | None = None
    header_bbox: BBox | None = None
    ocr: bool = False
    """True when the figure was read by OCR from a page image (see ``confidence`` and ``warning``)."""
    confidence: float | None = None
    """OCR confidence of the cell (0–1); None when read from a text layer or a spreadsheet/document file."""
    ref: str = ""
    """Cell reference in a file without pages: ``公开03表!D12`` (Excel), ``表2!R5C3`` (Word/HTML)."""
    warning: str = ""
    """Why the figure must be read with care (its OCR'd table fails an identity check); '' when none."""


@dataclass
class Chunk:
    """A piece of narrative text for retrieval."""

    chunk_id: str
    """f"{report_id}:c{n}"."""
    report_id: str
    department: str
    year: int
    kind: str
    section: str
    """Heading path joined with HEADING_SEP."""
    page: int | None
    text: str
    boxes: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    """(page, x0, y0, x1, y1) of each line the chunk covers; empty for the text form."""


@dataclass
class ParsedReport:
    """Everything ingestion extracts from one report."""

    meta: ReportMeta
    tables: list[TableInfo]
    facts: list[Fact]
    chunks: list[Chunk]
    problems: list[str] = field(default_factory=list)
    """Human-readable problems (unreadable cells, skipped tables) to report, never hidden."""
    source_paths: list[str] = field(default_factory=list)
    """Paths the report was read from; the store keeps a copy of each PDF for the source viewer."""


# --------------------------------------------------------------------------- questions

Operation = Literal["lookup", "sum", "difference", "ratio", "share", "yoy", "rank", "breakdown"]
Route = Literal["table", "text", "both", "none"]


class ReportFilter(BaseModel):
    """Which reports a question is about."""

    department: str | None = Field(None, description="Department name or a distinctive part of it.")
    year: int | None = Field(None, description="Fiscal year.")
    kind: Literal["决算", "预算"] | None = Field(None, description="决算 (actual) or 预算 (budget).")
    report_ids: list[str] = Field(default_factory=list, description="Explicit report ids.")


class ItemRef(BaseModel):
    """An item of a table: by code or by canonical label."""

    code: str | None = Field(None, description="Classification code, digits only.")
    label: str | None = Field(None, description="Canonical Chinese label from the glossary or the fact table.")


class QueryPlan(BaseModel):
    """A typed, validated plan the table tool executes. A model may fill it; only our code runs it."""

    operation: Operation = Field(description="One of the fixed operations.")
    reports: ReportFilter = Field(default_factory=ReportFilter)
    items: list[ItemRef] = Field(default_factory=list, description="One item, or two for difference/ratio.")
    measure: str | None = Field(
        None,
        description="Column concept: 决算数, 预算数, 全年预算数, 基本支出, 项目支出, 人员经费, 公用经费, 原值, 净值, 指标值, 实际完成值, 执行率 …",
    )
    table_kind: str | None = Field(None, description="Restrict to a normalized table kind.")
    top_k: int = Field(5, ge=1, le=50, description="For rank.")
    compare_year: int | None = Field(None, description="For yoy: the earlier year.")


class Citation(BaseModel):
    """Where a figure or passage comes from."""

    report: str
    department: str | None = None
    year: int | None = None
    table: str | None = None
    row: str | None = None
    column: str | None = None
    page: int | None = None
    section: str | None = None
    text: str | None = None
    fact_id: str | None = Field(None, description="The fact behind a figure (for the source viewer).")
    provenance: str | None = Field(
        None, description="How the figure was read when not from a text layer: 'read by OCR from page 7', a sheet cell, a warning."
    )
    chunk_id: str | None = Field(None, description="The chunk behind a passage.")


class Answer(BaseModel):
    """What ``assistant.ask`` returns. ``to_json`` gives the CLI/API object."""

    question: str
    route: Route
    answer: str
    value: float | None = None
    unit: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    language: Literal["zh", "en"] = "zh"
    plan: QueryPlan | None = None
    meta: dict[str, Any] = Field(default_factory=dict, description="Diagnostics: llm use, fallback reasons, timings.")

    def to_json(self) -> dict[str, Any]:
        """The public object of ``fiscal-qa ask --json`` and the HTTP API."""
        keys = ["report", "department", "year", "table", "row", "column", "page", "section", "text"]
        return {
            "question": self.question,
            "route": self.route,
            "answer": self.answer,
            "value": self.value,
            "unit": self.unit,
            "citations": [
                {k: getattr(c, k) for k in keys}
                | {"fact_id": c.fact_id, "chunk_id": c.chunk_id}
                | ({"provenance": c.provenance} if c.provenance else {})
                for c in self.citations
            ],
        }
