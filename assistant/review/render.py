"""The review as Markdown, JSON and Word (python-docx); all three are the same for the same review."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from assistant.review.model import CATEGORY_ZH, SEVERITY_ZH, CellRef, Review

DOCX_DATE = datetime(1980, 1, 1, tzinfo=UTC)
"""Created/modified date of every exported document (and its zip members): the same review gives the same bytes."""


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
    props = doc.core_properties
    props.title = f"审查意见：{review.department} {review.year}年{review.kind}"
    props.subject = review.report_id
    props.author = props.last_modified_by = "fiscal-qa"
    props.created = props.modified = DOCX_DATE
    props.revision = 1
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
    buf = io.BytesIO()
    doc.save(buf)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_fixed_zip_times(buf.getvalue()))
    return path


def _fixed_zip_times(data: bytes) -> bytes:
    """The same archive with every member dated ``DOCX_DATE`` (python-docx stamps members with the clock)."""
    out = io.BytesIO()
    stamp = DOCX_DATE.timetuple()[:6]
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=stamp)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = info.external_attr
            dst.writestr(member, src.read(info.filename))
    return out.getvalue()
