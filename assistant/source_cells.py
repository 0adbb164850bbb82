"""The source view of a figure from a file without pages (Excel sheet, Word or HTML table).

The table region around the cells is drawn from the fact table: the column headers, the
rows around the figure with their names, the cell outlined and its row and header shaded,
and the sheet/cell reference (``公开03表!D12``) in the caption — the same picture the PDF
source view gives, for a spreadsheet.
"""

from __future__ import annotations

import re
from typing import Any

import pymupdf

ROW_H = 18.0
LABEL_W = 190.0
COL_W = 92.0
FONT = 8.5
CONTEXT_ROWS = 3
MAX_COLS = 9
_POS_RE = re.compile(r":r(\d+):c(\d+)")


def _pos(fact_id: str) -> tuple[int, int] | None:
    m = _POS_RE.search(fact_id)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _fit(text: str, width: float, size: float) -> str:
    """Cut text to what fits a cell (CJK glyphs are about one em wide)."""
    n = max(1, int(width / (size * 0.95)))
    return text if len(text) <= n else text[: n - 1] + "…"


def render_cells(index: Any, fact_ids: list[str], *, zoom: float = 2.0) -> bytes | None:
    """PNG of the table region behind ``fact_ids`` (one table); None when they carry no cell reference."""
    from assistant.source import HEADER_SHADE, OUTLINE, ROW_SHADE

    facts = index.facts
    if "ref" not in facts:
        return None
    chosen = facts[facts.fact_id.isin(fact_ids)]
    chosen = chosen[chosen["ref"].fillna("") != ""]
    if not len(chosen):
        return None
    first = chosen.iloc[0]
    table = facts[(facts.report_id == first["report_id"]) & (facts.table_id == first["table_id"])]
    pos = {fid: p for fid in table.fact_id if (p := _pos(str(fid))) is not None}
    want = [pos[f] for f in chosen.fact_id if f in pos]
    if not want:
        return None
    rows_all = sorted({r for r, _ in pos.values()})
    lo, hi = min(r for r, _ in want), max(r for r, _ in want)
    rows = [r for r in rows_all if lo - CONTEXT_ROWS <= r <= hi + CONTEXT_ROWS]
    cols_all = sorted({c for _, c in pos.values()})
    keep = sorted({c for _, c in want})
    for c in cols_all:  # neighbours of the chosen columns, up to MAX_COLS
        if len(keep) >= MAX_COLS:
            break
        if c not in keep:
            keep.append(c)
    cols = sorted(keep)
    by_pos = {pos[str(f.fact_id)]: f for f in table.itertuples(index=False) if str(f.fact_id) in pos}
    label = {r: next((f.row_label or (f.code or "") for (rr, _), f in by_pos.items() if rr == r), "") for r in rows}
    header = {c: next((str(f.column) for (_, cc), f in by_pos.items() if cc == c), "") for c in cols}
    width = LABEL_W + COL_W * len(cols) + 20
    height = ROW_H * (len(rows) + 3) + 20
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    page.insert_font(fontname="cjk", fontbuffer=pymupdf.Font("china-s").buffer)
    caption = f"{first['table_number'] or ''} {first['table_title'] or ''} — {', '.join(sorted(set(chosen['ref'])))}".strip()
    page.insert_text((10, 16), _fit(caption, width - 20, FONT + 1), fontname="cjk", fontsize=FONT + 1)
    top = 24.0
    hdr_h = ROW_H * 2
    chosen_pos = set(want)

    def cell_rect(i: int, j: int | None) -> pymupdf.Rect:
        x0 = 10 if j is None else 10 + LABEL_W + COL_W * j
        w = LABEL_W if j is None else COL_W
        y0 = top + hdr_h + ROW_H * i
        return pymupdf.Rect(x0, y0, x0 + w, y0 + ROW_H)

    for j, c in enumerate(cols):
        hr = pymupdf.Rect(10 + LABEL_W + COL_W * j, top, 10 + LABEL_W + COL_W * (j + 1), top + hdr_h)
        if any(cc == c for _, cc in chosen_pos):
            page.draw_rect(hr, color=None, fill=HEADER_SHADE, fill_opacity=0.6)
        page.draw_rect(hr, color=(0.5, 0.5, 0.5), width=0.5)
        parts = header[c].split(" › ")
        page.insert_textbox(hr + (2, 2, -2, -2), _fit(" ".join(parts[-2:]), 2 * COL_W, FONT), fontname="cjk", fontsize=FONT)
    page.draw_rect(pymupdf.Rect(10, top, 10 + LABEL_W, top + hdr_h), color=(0.5, 0.5, 0.5), width=0.5)
    for i, r in enumerate(rows):
        shade = any(rr == r for rr, _ in chosen_pos)
        lr = cell_rect(i, None)
        if shade:
            page.draw_rect(lr, color=None, fill=ROW_SHADE, fill_opacity=0.6)
        page.draw_rect(lr, color=(0.5, 0.5, 0.5), width=0.5)
        page.insert_text((lr.x0 + 3, lr.y1 - 5), _fit(label[r], LABEL_W - 6, FONT), fontname="cjk", fontsize=FONT)
        for j, c in enumerate(cols):
            cr = cell_rect(i, j)
            f = by_pos.get((r, c))
            page.draw_rect(cr, color=(0.5, 0.5, 0.5), width=0.5)
            if f is not None:
                t = _fit(str(f.raw), COL_W - 6, FONT * 0.6)
                page.insert_text((cr.x1 - 4 - len(t) * FONT * 0.55, cr.y1 - 5), t, fontname="cjk", fontsize=FONT)
            if (r, c) in chosen_pos:
                page.draw_rect(cr + (-1.2, -1.2, 1.2, 1.2), color=OUTLINE, width=1.6)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    png = pix.tobytes("png")
    doc.close()
    return png
