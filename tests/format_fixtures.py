"""Fixtures for the format readers, written by the tests themselves from the bundled text sample.

``sample_spec`` turns the text sample's interpreted tables into clean published tables:
header rows rebuilt from the column paths with merged cells (a parent label spans its
sub-columns, a short path spans down), a code and a name column per side-by-side group,
the body from the facts. Performance forms and empty tables keep the sample's grid.
``write_xlsx`` / ``write_docx`` / ``write_html`` publish the spec as a department would.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.models import COLUMN_SEP, Fact, RawTable, TextLine

FORM_KINDS = {"project_performance", "performance_indicators", "performance_narrative"}
_NUM_RE = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


@dataclass
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1


@dataclass
class Spec:
    number: str
    title: str
    unit: str
    preamble: list[str]
    notes: list[str]
    rows: list[list[Cell | None]]
    """Grid rows; None where a merged cell covers the position."""
    merged: bool = False
    before: list[str] = field(default_factory=list)
    """Running text printed before the table."""


def _groups(cols: list[int], facts: list[Fact]) -> list[list[int]]:
    """Value columns split into side-by-side groups: a new group where a row's name changes."""
    names: dict[int, dict[int, tuple]] = {}
    for f in facts:
        names.setdefault(int(f.fact_id.rsplit(":c", 1)[1]), {})[f.row_index] = (f.code, f.row_label)
    groups: list[list[int]] = []
    blank = (None, "")
    for c in cols:
        if groups and all(v == blank for v in names[c].values()):
            groups.append([c])  # figures printed without any name: a group of their own, as printed
            continue
        if groups:
            prev = names[groups[-1][-1]]
            cur = names[c]
            if not any(r in prev and prev[r] != v and blank not in (v, prev[r]) for r, v in cur.items()):
                groups[-1].append(c)
                continue
        groups.append([c])
    return groups


def _header(paths: list[list[str]], depth: int) -> list[list[Cell | None]]:
    """``depth`` header rows over value columns: a parent label spans its sub-columns, a short path spans down."""
    rows: list[list[Cell | None]] = [[None] * len(paths) for _ in range(depth)]
    for k in range(depth):
        j = 0
        while j < len(paths):
            p = paths[j]
            if k >= len(p):
                j += 1
                continue
            span = 1
            while (
                j + span < len(paths) and len(paths[j + span]) > k and paths[j + span][: k + 1] == p[: k + 1] and k + 1 < len(p)
            ):
                span += 1
            rowspan = depth - k if k == len(p) - 1 else 1
            rows[k][j] = Cell(p[k], colspan=span, rowspan=rowspan)
            j += span
    return rows


def _grid_spec(raw: RawTable, facts: list[Fact], title: str) -> Spec:
    moved = {
        (f.row_index, int(f.fact_id.rsplit(":c", 1)[1].removesuffix("-moved"))): f for f in facts if f.fact_id.endswith("-moved")
    }
    facts = [f for f in facts if not f.fact_id.endswith("-moved")]
    by_pos = {(f.row_index, int(f.fact_id.rsplit(":c", 1)[1])): f for f in facts}
    cols = sorted({c for _, c in by_pos})
    path = {c: next(f.column for (r, cc), f in by_pos.items() if cc == c) for c in cols}
    body_rows = sorted({r for r, _ in by_pos} | {r for r, _ in moved})
    columns: list[tuple[str, int | None, list[int]]] = []  # (role, value col, group cols)
    for g in _groups(cols, facts):
        nameless = all(not by_pos[(r, c)].row_label for (r, c) in by_pos if c in g)
        has_code = nameless or any(by_pos[(r, c)].code for (r, c) in by_pos if c in g)
        if has_code:
            columns.append(("code", None, g))
        columns.append(("label", None, g))
        columns += [("value", c, g) for c in g]
    # header: the code and name columns span all header rows; each group's value columns below their labels
    depth = max([len(path[c].split(COLUMN_SEP)) for c in cols] + [1])
    hdr = [[None for _ in columns] for _ in range(depth)]
    j = 0
    while j < len(columns):
        role, c, g = columns[j]
        if role != "value":
            hdr[0][j] = Cell(
                "科目编码" if role == "code" else ("科目名称" if any(x[0] == "code" and x[2] is g for x in columns) else "项目"),
                rowspan=depth,
            )
            j += 1
            continue
        k0 = j
        while j < len(columns) and columns[j][0] == "value" and columns[j][2] is g:
            j += 1
        sub = _header([path[columns[x][1]].split(COLUMN_SEP) for x in range(k0, j)], depth)  # type: ignore[index]
        for k in range(depth):
            for x in range(k0, j):
                hdr[k][x] = sub[k][x - k0]
    body: list[list[Cell | None]] = []
    for r in body_rows:
        row: list[Cell | None] = []
        for role, c, g in columns:
            anyf = next((by_pos[(r, cc)] for cc in g if (r, cc) in by_pos), None) or next(
                (moved[(r, cc)] for cc in g if (r, cc) in moved), None
            )
            if role == "code":
                row.append(Cell(anyf.code or "" if anyf else ""))
            elif role == "label":
                row.append(Cell(anyf.row_label if anyf else ""))
            else:
                f = by_pos.get((r, c))  # type: ignore[arg-type]
                row.append(Cell(f.raw if f else ""))
        body.append(row)
    return Spec(raw.number, title, raw.unit, list(raw.preamble), list(raw.notes), hdr + body, merged=True)


def _raw_spec(raw: RawTable, title: str) -> Spec:
    return Spec(raw.number, title, raw.unit, list(raw.preamble), list(raw.notes), [[Cell(c.text) for c in r] for r in raw.rows])


def sample_spec(layout_blocks: list, tables: list, facts: list[Fact]) -> tuple[list[str], list[Spec], list[str]]:
    """(cover lines, table specs in order, closing lines) from the text sample's layout and interpretation."""
    raws = [b for b in layout_blocks if isinstance(b, RawTable) and b.rows]
    specs: list[Spec] = []
    cover: list[str] = []
    pending: list[str] = []
    ti = 0
    for b in layout_blocks:
        if isinstance(b, TextLine):
            pending.append(b.text)
            continue
        if not (isinstance(b, RawTable) and b.rows):
            continue
        info = tables[ti]
        raw = raws[ti]
        ti += 1
        tf = [f for f in facts if f.table_id == info.table_id]
        spec = _raw_spec(raw, raw.title) if info.table_kind in FORM_KINDS or not tf else _grid_spec(raw, tf, raw.title)
        if not specs:
            cover = pending
        else:
            spec.before = pending
        pending = []
        specs.append(spec)
    return cover, specs, pending


# --------------------------------------------------------------------------- writers


def _number_format(raw: str) -> tuple[float | int | str, str]:
    if not _NUM_RE.match(raw):
        return raw, "General"
    if "." not in raw:
        return int(raw.replace(",", "")), "#,##0" if "," in raw else "General"
    places = len(raw.split(".")[1])
    return float(raw.replace(",", "")), ("#,##0." if "," in raw else "0.") + "0" * places


def write_xlsx(path: Path, cover: list[str], specs: list[Spec]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws0 = wb.active
    ws0.title = "封面"
    for i, t in enumerate(cover, 1):
        ws0.cell(i, 1, t)
    for n, s in enumerate(specs, 1):
        name = (s.number or f"表{n}")[:31]
        if name in wb.sheetnames:
            name = f"{name}({n})"
        ws = wb.create_sheet(name)
        width = max(len(r) for r in s.rows)
        top = [s.title, *([s.number] if s.number else []), *s.preamble]
        r0 = 1
        for t in top:
            ws.cell(r0, 1, t)
            if width > 1 and t == s.title:
                ws.merge_cells(start_row=r0, start_column=1, end_row=r0, end_column=width)
            r0 += 1
        for i, row in enumerate(s.rows):
            for j, c in enumerate(row):
                if c is None or (not c.text and c.colspan == 1 and c.rowspan == 1):
                    continue
                v, fmt = _number_format(c.text)
                cell = ws.cell(r0 + i, j + 1, v)
                cell.number_format = fmt
                if c.colspan > 1 or c.rowspan > 1:
                    ws.merge_cells(start_row=r0 + i, start_column=j + 1, end_row=r0 + i + c.rowspan - 1, end_column=j + c.colspan)
        r = r0 + len(s.rows)
        for t in s.notes:
            ws.cell(r, 1, t)
            r += 1
    wb.save(path)
    return path


def write_docx(path: Path, cover: list[str], specs: list[Spec], closing: list[str]) -> Path:
    import docx

    d = docx.Document()
    for i, t in enumerate(cover):
        d.add_paragraph(t, style="Heading 1" if i == 0 else None)
    for s in specs:
        for t in s.before:
            d.add_paragraph(t)
        d.add_paragraph(s.title, style="Heading 2")
        for t in ([s.number] if s.number else []) + s.preamble:
            d.add_paragraph(t)
        width = max(len(r) for r in s.rows)
        tbl = d.add_table(rows=len(s.rows), cols=width)
        for i, row in enumerate(s.rows):
            for j, c in enumerate(row):
                if c is None:
                    continue
                cell = tbl.cell(i, j)
                if c.colspan > 1 or c.rowspan > 1:
                    cell = cell.merge(tbl.cell(i + c.rowspan - 1, j + c.colspan - 1))
                cell.text = c.text
        for t in s.notes:
            d.add_paragraph(t)
    for t in closing:
        d.add_paragraph(t)
    d.save(str(path))
    return path


def write_html(path: Path, cover: list[str], specs: list[Spec], closing: list[str]) -> Path:
    e = html.escape
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>", f"<title>{e(cover[0] if cover else '')}</title></head><body>"]
    out.append("<div class='nav'><a href='/'>首页</a> &gt; <a href='#'>信息公开</a></div>")
    for i, t in enumerate(cover):
        out.append(f"<h1>{e(t)}</h1>" if i == 0 else f"<p>{e(t)}</p>")
    for s in specs:
        out += [f"<p>{e(t)}</p>" for t in s.before]
        out.append(f"<h3>{e(s.title)}</h3>")
        out += [f"<p>{e(t)}</p>" for t in ([s.number] if s.number else []) + s.preamble]
        out.append("<table border='1'>")
        for row in s.rows:
            tds = []
            for c in row:
                if c is None:
                    continue
                attrs = (f" colspan='{c.colspan}'" if c.colspan > 1 else "") + (
                    f" rowspan='{c.rowspan}'" if c.rowspan > 1 else ""
                )
                tds.append(f"<td{attrs}>{e(c.text)}</td>")
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</table>")
        out += [f"<p>{e(t)}</p>" for t in s.notes]
    out += [f"<p>{e(t)}</p>" for t in closing]
    out.append("<script>var x = '<td>1,000.00</td>';</script></body></html>")
    path.write_text("\n".join(out), encoding="utf-8")
    return path
