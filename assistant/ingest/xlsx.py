"""Excel reader (``.xlsx`` through openpyxl, ``.xls`` through xlrd): each sheet a table.

Merged ranges become colspan/rowspan (the value sits in the top-left cell, as Excel
keeps it). Rows above the grid with one filled cell or only 部门/单位 lines give the
title, number and unit; 注： rows below it the notes (``grids.split_head_rows``); the
header rows are found by ``tables.py`` as for PDFs. A number is written as Excel shows
it (its number format: ``#,##0.00`` → 1,834.93, ``0.00`` → 50.00), so the exact printed
value is kept. Every cell carries its reference, ``公开03表!D12``, for citations.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from decimal import Decimal
from pathlib import Path

from assistant.errors import BadReportError
from assistant.ingest.grids import SpanCell, SpanGrid, assemble
from assistant.models import Layout

log = logging.getLogger(__name__)

_DECIMALS_RE = re.compile(r"\.(0+)")


def col_letter(c: int) -> str:
    """1-based column number → Excel letters (1 → A, 28 → AB)."""
    s = ""
    while c:
        c, r = divmod(c - 1, 26)
        s = chr(65 + r) + s
    return s


def format_number(v: float | int | Decimal, number_format: str = "General") -> str:
    """A numeric cell as Excel displays it under its number format (decimals, thousands, percent)."""
    fmt = (number_format or "General").split(";")[0]
    d = Decimal(str(v)) if not isinstance(v, Decimal) else v
    if fmt == "General" or not any(ch in fmt for ch in "0#"):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return format(d.normalize(), "f") if d == d.to_integral_value() else format(d, "f")
    pct = "%" in fmt
    if pct:
        d = d * 100
    m = _DECIMALS_RE.search(fmt)
    places = len(m.group(1)) if m else 0
    q = d.quantize(Decimal(1).scaleb(-places)) if places else d.quantize(Decimal(1))
    s = f"{q:,.{places}f}" if "," in fmt else f"{q:.{places}f}"
    return s + ("%" if pct else "")


def _cell_text(value: object, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float, Decimal)):
        return format_number(value, number_format)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%Y年%m月%d日")
    return str(value).strip()


def _sheet_grid(name: str, values: list[list[tuple[object, str]]], merges: list[tuple[int, int, int, int]]) -> SpanGrid:
    """Rows of (value, number format) and merged ranges (0-based r0, c0, r1, c1 inclusive) → a span grid."""
    covered: set[tuple[int, int]] = set()
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    for r0, c0, r1, c1 in merges:
        spans[(r0, c0)] = (r1 - r0 + 1, c1 - c0 + 1)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0):
                    covered.add((r, c))
    rows: list[list[SpanCell]] = []
    for r, row in enumerate(values):
        out: list[SpanCell] = []
        for c, (v, fmt) in enumerate(row):
            if (r, c) in covered:
                continue
            rs, cs = spans.get((r, c), (1, 1))
            out.append(SpanCell(_cell_text(v, fmt), colspan=cs, rowspan=rs, ref=f"{name}!{col_letter(c + 1)}{r + 1}"))
        rows.append(out)
    return SpanGrid(rows=rows)


def _read_xlsx(path: Path) -> list[SpanGrid]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, data_only=True, read_only=False)
    except Exception as e:  # zipfile.BadZipFile, InvalidFileException, KeyError …
        raise BadReportError(str(path), f"not a readable Excel workbook ({type(e).__name__}: {e}); re-save it as .xlsx") from e
    grids: list[SpanGrid] = []
    try:
        for ws in wb.worksheets:
            if ws.sheet_state != "visible":
                continue
            nr, nc = ws.max_row or 0, ws.max_column or 0
            values: list[list[tuple[object, str]]] = [[(c.value, c.number_format) for c in row] for row in ws.iter_rows(min_row=1, max_row=nr, max_col=nc)]
            merges = [(m.min_row - 1, m.min_col - 1, m.max_row - 1, m.max_col - 1) for m in ws.merged_cells.ranges]
            grids.append(_sheet_grid(ws.title, values, merges))
    finally:
        wb.close()
    return grids


def _read_xls(path: Path) -> list[SpanGrid]:
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), formatting_info=True)
    except Exception as e:  # xlrd.XLRDError, struct errors on corrupt files
        raise BadReportError(str(path), f"not a readable .xls workbook ({type(e).__name__}: {e}); re-save it as .xlsx") from e
    grids: list[SpanGrid] = []
    for sh in book.sheets():
        if getattr(sh, "visibility", 0):
            continue
        values: list[list[tuple[object, str]]] = []
        for r in range(sh.nrows):
            row: list[tuple[object, str]] = []
            for c in range(sh.ncols):
                cell = sh.cell(r, c)
                fmt = "General"
                try:
                    if cell.xf_index is not None:  # always set with formatting_info=True
                        xf = book.xf_list[cell.xf_index]
                        fmt = book.format_map[xf.format_key].format_str
                except (IndexError, KeyError, AttributeError):
                    pass
                v: object = cell.value
                if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    v = None
                elif cell.ctype == xlrd.XL_CELL_DATE:
                    v = xlrd.xldate_as_datetime(float(cell.value), book.datemode)
                row.append((v, fmt))
            values.append(row)
        merges = [(r0, c0, r1 - 1, c1 - 1) for r0, r1, c0, c1 in sh.merged_cells]
        grids.append(_sheet_grid(sh.name, values, merges))
    return grids


def read_workbook(path: Path) -> Layout:
    """Read an Excel workbook (.xlsx/.xlsm or .xls): one table per visible sheet, in sheet order."""
    path = Path(path)
    grids = _read_xls(path) if path.suffix.lower() == ".xls" else _read_xlsx(path)
    layout = assemble(list(grids), path.name)
    log.debug("%s: %d sheets", path.name, len(grids))
    return layout
