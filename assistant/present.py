"""What the app shows, as plain data and Markdown (no gradio here): an answer with its figures tied to
their cited cells, the citation table, the sources side table, a fact's printed row, the report
picker's options, the facts browser's rows, and the upload summary.

Functions that need a fact's printed text take ``cells``: any object with ``fact_raw(fact_id)``
(the app's ``AppState``), or None to use the citation's own text.
"""

from __future__ import annotations

import html
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from assistant.i18n import tr
from assistant.models import Answer, Citation, ReportMeta
from assistant.safetext import no_links
from assistant.store import IndexData


class CellText(Protocol):
    def fact_raw(self, fact_id: str | None) -> str | None: ...


def _page(cells: CellText | None, c: Citation, lang: str) -> str:
    """A citation's page as shown: the page number, with the file named when the report has several files."""
    if not c.page:
        return ""
    label = getattr(cells, "page_label", None)
    return label(c.report, c.page, lang) if callable(label) else str(c.page)


def file_page(meta: ReportMeta | None, page: int | None) -> tuple[str, int] | None:
    """(source file name, 1-based page in it) of a layout page of a report made of several files, else None.

    Layout pages run on across the files (a 13-page text file then a 15-page tables file: page 28
    is page 15 of the second); a one-file report needs no file name.
    """
    if meta is None or not page or len(meta.sources) < 2:
        return None
    counts = meta.page_counts or []
    p = int(page)
    for name, n in zip(meta.sources, counts, strict=False):
        if p <= n:
            return name, p
        p -= n
    return None


def page_text(meta: ReportMeta | None, page: int | None, lang: str = "zh") -> str:
    """'6', or 'tables.pdf p.15' for a page of a two-file report (the file named, its own page number)."""
    if not page:
        return ""
    fp = file_page(meta, page)
    if fp is None:
        return str(int(page))
    name, p = fp
    return f"{name} 第 {p} 页" if lang == "zh" else f"{name} p.{p}"


ALL = ""
"""Picker value meaning 'any'."""


def fmt_value(a: Answer) -> str:
    if a.value is None:
        return ""
    return f"{a.value:,.2f}" if a.unit in ("万元", "元", "亿元") else f"{a.value:g}"


def _number_pattern(raw: str) -> re.Pattern[str] | None:
    raw = raw.strip()
    if not re.fullmatch(r"-?[\d,]*\d(\.\d+)?%?", raw):
        return None
    bare = raw.replace(",", "")
    variants = {raw, bare}
    if "." in bare or len(bare) > 3:
        try:
            num = float(bare.rstrip("%"))
            decimals = len(bare.split(".")[1].rstrip("%")) if "." in bare else 0
            variants.add(f"{num:,.{decimals}f}")
        except ValueError:
            pass
    alts = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
    return re.compile(rf"(?<![\d.,])(?:{alts})(?![\d])")


def mark_figures(text: str, figures: list[tuple[int, str]]) -> str:
    """Bold each cited figure in ``text`` and tie it to its citation number: 50.00 → **50.00**<sup>[1]</sup>.

    ``figures``: (citation number, the cell's raw text). Each figure is marked at its first
    unmarked occurrence; figures not found in the text are left to the citation table.
    """
    taken: list[tuple[int, int, int]] = []
    for n, raw in figures:
        pat = _number_pattern(raw)
        if pat is None:
            continue
        for m in pat.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in taken):
                continue
            taken.append((m.start(), m.end(), n))
            break
    out, pos = [], 0
    for s, e, n in sorted(taken):
        out += [text[pos:s], f"**{text[s:e]}**<sup>[{n}]</sup>"]
        pos = e
    out.append(text[pos:])
    return "".join(out)


def md_cell(v: object) -> str:
    if v in (None, ""):
        return "—"
    return no_links(html.escape(str(v))).replace("|", "&#124;").replace("\n", " ")


def shorten(text: str | None, n: int = 180) -> str:
    t = re.sub(r"\s+", " ", text or "").strip()
    return t if len(t) <= n else t[: n - 1] + "…"


CITE_HEAD = {
    "zh": ("#", "报告", "表", "行", "列", "页", "数值"),
    "en": ("#", "report", "table", "row", "column", "page", "value"),
}


def _who(c: Citation) -> str:
    return " ".join(str(x) for x in (c.department, c.year) if x) or c.report


def _page_phrase(pg: str, lang: str) -> str:
    """'，第 6 页' / ', p. 6'; a file-and-page label as it is."""
    if not pg:
        return ""
    if not pg.isdigit():
        return f"，{pg}" if lang == "zh" else f", {pg}"
    return f"，第 {pg} 页" if lang == "zh" else f", p. {pg}"


def citation_markdown(a: Answer, cells: CellText | None, lang: str) -> str:
    """The citation block under an answer: a small table of cited cells, then cited passages.

    When every cited cell comes from one report, the report is named once above the table.
    """
    if not a.citations:
        return ""
    figures = [(i, c) for i, c in enumerate(a.citations, 1) if c.table or c.fact_id]
    passages = [(i, c) for i, c in enumerate(a.citations, 1) if not (c.table or c.fact_id)]
    reports = {_who(c) for _, c in figures}
    one = len(reports) == 1
    head = list(CITE_HEAD[lang])
    if one:
        head.pop(1)
    out: list[str] = []
    if figures:
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for i, c in figures:
            raw = (cells.fact_raw(c.fact_id) if cells else None) or c.text
            page = _page(cells, c, lang)
            where = f"{page} · {c.provenance}" if page and c.provenance else (c.provenance or page)  # OCR / sheet cell
            row = [f"[{i}]", _who(c), shorten(c.table, 22), c.row, c.column, where, shorten(raw, 14)]
            if one:
                row.pop(1)
            out.append("| " + " | ".join(md_cell(x) for x in row) + " |")
    for i, c in passages:
        where = " · ".join(str(x) for x in (c.department, c.year, c.section) if x)
        page = _page_phrase(_page(cells, c, lang), lang)
        out.append(
            f"\n> **<sup>[{i}]</sup>** {no_links(html.escape(where))}{html.escape(page)}  \n"
            f"> {no_links(html.escape(shorten(c.text, 220)))}"
        )
    label = "来源" if lang == "zh" else "Sources"
    if one:
        label += f"：{html.escape(next(iter(reports)))}" if lang == "zh" else f": {html.escape(next(iter(reports)))}"
    return f"\n\n**{label}**\n\n" + "\n".join(out)


def answer_markdown(a: Answer, cells: CellText | None, lang: str | None = None) -> tuple[str, str]:
    """(answer text with figures tied to their citations, citation block)."""
    lang = lang or a.language or "zh"
    figures = [
        (i, (cells.fact_raw(c.fact_id) if cells else None) or (c.text or ""))
        for i, c in enumerate(a.citations, 1)
        if c.fact_id or c.table
    ]
    text = a.answer
    reports = getattr(cells, "reports", None)
    if callable(reports):
        text = compact_refusal(text, reports(), a.language or lang)
    body = mark_figures(no_links(html.escape(text, quote=False)), figures)
    if a.value is not None and "<sup>" not in body and a.citations:
        body += f"  \n**{fmt_value(a)} {html.escape(a.unit or '')}**<sup>[1]</sup>"
    return body, citation_markdown(a, cells, lang)


SOURCE_COLUMNS = {
    "zh": ["#", "出处", "行", "列", "页", "原文"],
    "en": ["#", "source", "row", "column", "page", "text"],
}


def sources_frame(a: Answer | None, lang: str = "zh") -> pd.DataFrame:
    """The citations of an answer as the side table (click a row to see its printed source)."""
    rows = []
    for i, c in enumerate(a.citations if a else [], 1):
        where = c.table or c.section or c.report
        rows.append([i, where, c.row or "", c.column or "", c.page or "", shorten(c.text, 120)])
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS[lang]).astype(object)


def cite_caption(c: Citation, page: str | None = None) -> str:
    """'department · year · table · row · column · p.6'; ``page``: the page as labelled (a two-file report names its file)."""
    pg = page if page is not None else (str(c.page) if c.page else "")
    where = f"p.{pg}" if pg.isdigit() else pg
    return " · ".join(str(x) for x in (c.department, c.year, c.table, c.row, c.column, c.section) if x) + (
        f" · {where}" if where else ""
    )


def source_view_html(png_path: str | Path, lang: str = "zh") -> str:
    """The source viewer: the page image (inline, no file serving needed) with zoom buttons; click the page to zoom."""
    import base64
    import json

    data = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
    try:
        fx, fy = json.loads(Path(png_path).with_suffix(".json").read_text(encoding="utf-8"))["focus"]
    except (OSError, ValueError, KeyError, TypeError):
        fx, fy = 0.5, 0.5
    fit, hint = ("适应宽度", "点击页面放大") if lang == "zh" else ("fit", "click the page to zoom")
    return (
        '<div class="fqa-zoom-bar"><button data-z="-" title="−">−</button><button data-z="+" title="+">＋</button>'
        f'<button data-z="fit">{fit}</button><span>{hint}</span></div>'
        f'<div class="fqa-zoom" data-zoom="1" data-fx="{float(fx):.3f}" data-fy="{float(fy):.3f}">'
        f'<img alt="source page" src="data:image/png;base64,{data}"></div>'
    )


def fact_row_markdown(idx: IndexData, fact_id: str) -> str:
    """The whole printed row of a fact as a small table (column → value), the cited cell in bold."""
    f = idx.facts
    hit = f[f.fact_id == fact_id]
    if not len(hit):
        return ""
    h = hit.iloc[0]
    row = f[(f.report_id == h.report_id) & (f.table_id == h.table_id) & (f.row_index == h.row_index)]
    own = row[row.row_label == h.row_label]  # a side-by-side table prints other items on the same line
    row = own if len(own) else row
    code = h.code if isinstance(h.code, str) and h.code else ""
    lines = [f"**{html.escape(str(h.row_label))}**" + (f"（{code}）" if code else ""), "", "| 列 | 值 |", "|---|---|"]
    for r in row.itertuples():
        unit = r.unit if isinstance(r.unit, str) and r.value is not None and not str(r.raw).endswith(r.unit) else ""
        cell = md_cell(f"{r.raw} {unit}".strip() if r.raw else "")
        lines.append(f"| {md_cell(r.column)} | {'**' + cell + '**' if r.fact_id == fact_id else cell} |")
    return "\n".join(lines)


def stream_steps(text: str, steps: int = 12) -> Iterator[str]:
    """Prefixes of ``text`` that end outside markup (no half-written **, <sup>)."""
    if len(text) < 24:
        yield text
        return
    size = max(4, len(text) // steps)
    pos = 0
    while pos < len(text):
        pos = min(len(text), pos + size)
        cut = text[:pos]
        if cut.count("**") % 2 or cut.rfind("<") > cut.rfind(">"):
            continue
        yield cut
    if pos != len(text):
        yield text


def plain_reason(reason: str) -> str:
    """An ingest failure reason without server paths (uploads live in gradio's temp folders)."""
    return re.sub(r"(?:/[^/\s'\"]+)+/([^/\s'\"]+)", r"\1", reason)


# --------------------------------------------------------------------------- facts and charts

FACT_VIEW = ["table", "code", "row_label", "column", "raw", "unit", "page"]
FACT_VIEW_WIDTHS: list[str | int] = ["10%", "9%", "28%", "27%", "12%", "7%", "7%"]
FACT_CSV = [
    "table_number",
    "table_title",
    "code",
    "row_label",
    "column",
    "raw",
    "unit",
    "page",
    "value",
    "value_wan",
    "status",
    "fact_id",
]


def report_label(r: ReportMeta, reports: Iterable[ReportMeta] = ()) -> str:
    """The label "department · year · kind", telling a 单位 (unit) report from the 部门 (department) one of the same year.

    Shanghai publishes both for one department and year (08 部门预算 and 09 单位预算 of 司法局 2026).
    """
    twin = any(o.report_id != r.report_id and (o.department, o.year, o.kind) == (r.department, r.year, r.kind) for o in reports)
    kind = f"{r.scope}{r.kind}" if r.scope == "单位" or twin else r.kind
    return f"{r.department} · {r.year} · {kind}"


def report_choices(reports: list[ReportMeta]) -> list[tuple[str, str]]:
    """(label, report id) for the report dropdowns of the facts browser, charts and review."""
    return [(report_label(r, reports), r.report_id) for r in reports]


def picker_choices(reports: list[ReportMeta], lang: str = "zh") -> dict[str, list[tuple[str, str]]]:
    """Options of the chat's report picker: department, year, kind, scope (部门/单位), each with 'all' first.

    The scope list offers 单位 only when an ingested report is a unit's own (单位) report.
    """
    all_ = [(f"{tr('all', 'zh')} / {tr('all', 'en')}", ALL)]
    scopes = sorted({r.scope for r in reports} | {"部门"}, key=["部门", "单位"].index)
    return {
        "department": all_ + sorted({(r.department, r.department) for r in reports}),
        "year": all_ + [(str(y), str(y)) for y in sorted({r.year for r in reports})],
        "kind": all_ + [("决算", "决算"), ("预算", "预算")],
        "scope": all_ + [(s, s) for s in scopes],
    }


def select_reports(
    reports: Iterable[ReportMeta],
    department: str | None = None,
    year: Any = None,
    kind: str | None = None,
    scope: str | None = None,
) -> list[str]:
    """Report ids matching the picker; [] when the picker says 'all'."""
    if not (department or year or kind or scope):
        return []
    y = int(year) if year not in (None, "") else None
    return [
        r.report_id
        for r in reports
        if (not department or r.department == department)
        and (y is None or r.year == y)
        and (not kind or r.kind == kind)
        and (not scope or r.scope == scope)
    ]


def table_choices(idx: IndexData | None, report_id: str | None) -> list[tuple[str, str]]:
    if idx is None or not report_id or not len(idx.tables):
        return []
    t = idx.tables[idx.tables.report_id == report_id]
    return [
        (f"{r.number or r.table_id} {r.title}".strip() + (" （空表）" if r.empty else ""), r.table_id) for r in t.itertuples()
    ]


def facts_view(
    idx: IndexData | None,
    report_id: str | None,
    table_id: str | None,
    row_filter: str = "",
    *,
    columns: list[str] = FACT_VIEW,
    lang: str | None = None,
) -> pd.DataFrame:
    """Facts of a report / table (row label substring filter), as shown in the browser.

    ``lang``: headers in that interface language (the browser); None keeps the field names (CSV).
    """
    if idx is None:
        cols = [tr(FACT_HEAD[c], lang) if lang and c in FACT_HEAD else c for c in columns]
        return pd.DataFrame(columns=cols)
    df = idx.facts
    if report_id:
        df = df[df.report_id == report_id]
    if table_id:
        df = df[df.table_id == table_id]
    if row_filter:
        df = df[df.row_label.str.contains(row_filter, regex=False, na=False)]
    df = df.assign(table=[n or t for n, t in zip(df.table_number, df.table_title, strict=True)])
    out = display_frame(df[columns])
    return out.rename(columns={k: tr(v, lang) for k, v in FACT_HEAD.items()}) if lang else out


FACT_HEAD = {
    "table": "col_table",
    "code": "col_code",
    "row_label": "col_row",
    "column": "col_column",
    "raw": "col_value",
    "unit": "col_unit",
    "page": "col_page",
}
"""Facts-browser column → interface string key (the CSV keeps the field names)."""


def display_cell(v: object) -> object:
    """A fact-table value as a person reads it: '' for missing (None, NaN), whole numbers without '.0'."""
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:
            return ""
        return int(v) if v.is_integer() else v
    try:
        if pd.isna(v):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    return v


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` for display: pages as whole numbers, blank codes and missing values as ''."""
    out = df.astype(object).reset_index(drop=True)
    for col in out.columns:
        out[col] = [display_cell(v) for v in out[col]]
    return out


def facts_csv(idx: IndexData | None, report_id: str | None, table_id: str | None, row_filter: str = "") -> str:
    df = facts_view(idx, report_id, table_id, row_filter, columns=FACT_CSV)
    stem = "-".join(x for x in (report_id or "all", table_id or "") if x)
    path = Path(tempfile.mkdtemp(prefix="fiscalqa-facts-")) / f"facts-{stem}.csv"
    df.to_csv(path, index=False, encoding="utf-8-sig")  # BOM: Excel opens the Chinese text correctly
    return str(path)


def ingest_summary(res: Any, lang: str, reports: list[ReportMeta] | None = None) -> str:
    """Markdown of an ingest result: one line per report ingested or file refused (no server paths).

    ``reports``: the index's reports after the ingest, to name a 单位 report apart from its 部门 twin.
    """
    by_id = {r.report_id: r for r in reports or []}
    lines = []
    for s in res.reports:
        meta = by_id.get(getattr(s, "report_id", ""))
        name = report_label(meta, reports or []).replace(" · ", " ") if meta else f"{s.department} {s.year} {s.kind}"
        lines.append(f"✓ **{name}** — {s.facts} facts, {s.chunks} chunks, checks {s.checks_passed}/{s.checks_run}")
    for f in res.failures:
        lines.append(f"✗ **{tr('could_not_ingest', lang)}** `{Path(f.path).name}`: {plain_reason(f.reason)}")
    if res.failures and not res.reports:
        lines.append("\n" + tr("index_unchanged", lang))
    return "\n\n".join(lines)


# --------------------------------------------------------------------------- refusals and clarifications

_COVERED = [
    re.compile(r"已收录：(?P<list>[^。]+)。"),
    re.compile(r"Ingested: (?P<list>.+?)\.(?=\s|$)"),
]
COMPACT_OVER = 3
"""A refusal names the ingested reports itself up to this many; beyond, one line says how many."""


def coverage_line(reports: list[ReportMeta], lang: str) -> str:
    """One line on what the index covers: '已收录 15 份报告（9 个部门，2017–2026 年度）'."""
    n, depts = len(reports), len({r.department for r in reports})
    years = sorted({r.year for r in reports})
    span = "" if not years else str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"
    plural = {"reports_s": "s" if n != 1 else "", "departments_s": "s" if depts != 1 else ""}
    return tr("present.coverage", lang, reports=n, departments=depts, span=span, **plural)


def compact_refusal(text: str, reports: list[ReportMeta], lang: str) -> str:
    """A 'not in these reports' answer with its list of every ingested report replaced by one line:
    the count and where to pick a report. Text without such a list comes back unchanged."""
    if len(reports) <= COMPACT_OVER:
        return text
    for pat in _COVERED:
        m = pat.search(text)
        if m and len(re.split(r"；|; ", m.group("list"))) > COMPACT_OVER:
            lang = "zh" if lang == "zh" else "en"
            return text[: m.start()] + tr("present.reports_count", lang, coverage=coverage_line(reports, lang)) + text[m.end() :]
    return text


def compact_refusal_cli(
    text: str, reports: list[ReportMeta], lang: str, names: int = 3, command: str | None = "fiscal-qa reports"
) -> str:
    """The command line's and the exports' form of :func:`compact_refusal`: the count, the first few reports
    of the list, and the command that lists them all (``command``; None for a file read away from the index)."""
    if len(reports) <= COMPACT_OVER:
        return text
    for pat in _COVERED:
        m = pat.search(text)
        if not m:
            continue
        parts = [p.strip() for p in re.split(r"；|; ", m.group("list")) if p.strip()]
        if len(parts) <= COMPACT_OVER:
            return text
        lang = "zh" if lang == "zh" else "en"
        few = tr("sep.list", lang).join(parts[:names])
        key = "present.reports_named.command" if command else "present.reports_named"
        line = tr(key, lang, coverage=coverage_line(reports, lang), names=few, command=command)
        return text[: m.start()] + line + text[m.end() :]
    return text


def clarify_options(a: Answer) -> tuple[str, list[str]]:
    """(what is asked: 'department' / 'year', the options) of a clarifying answer; ('', []) for any other.

    Reads ``meta['options']`` / ``meta['clarify_what']`` when the engine gives them, else the options
    listed in the answer's own sentence.
    """
    meta = a.meta or {}
    if meta.get("status") != "clarify":
        return "", []
    opts, what = meta.get("options"), meta.get("clarify_what")
    if isinstance(opts, list) and opts:
        return str(what or "department"), [str(o) for o in opts][:8]
    text = a.answer
    if re.search(r"年份|年度的报告|Which year", text):
        return "year", list(dict.fromkeys(re.findall(r"(?<!\d)(?:19|20)\d\d(?!\d)", text)))[:8]
    m = re.search(r"[:：]\s*(.+?)(?:。|\.\s+Please|\.?$)", text)
    if not m:
        return "", []
    parts = [p.strip(" 。.") for p in re.split(r"、|；|; ", m.group(1))]
    return "department", [p for p in parts if p][:8]


def clarified_question(question: str, what: str, option: str, lang: str = "zh") -> str:
    """The question asked again with the option picked: '2024年 公务接待费是多少？', 'X 公务接待费是多少？'."""
    q = question.strip()
    if what == "year" and lang == "zh":
        return f"{option}年 {q}"
    if what == "year":
        return f"{q} in {option}"
    return f"{option} {q}"
