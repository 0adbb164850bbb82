"""Print a PDF's layout: tables as grids (with spans, pages, title, unit, notes) and text lines.

Usage: python eval/dump_layout.py REPORT.pdf [TABLES.pdf] [--tables-only] [--page N] [--bbox]
"""

from __future__ import annotations

import argparse
import time
import unicodedata
from pathlib import Path

from assistant.ingest.pdf import read_pdf
from assistant.models import RawTable, TextLine


def _w(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _pad(s: str, n: int) -> str:
    return s + " " * max(0, n - _w(s))


def show_table(i: int, t: RawTable, bbox: bool) -> None:
    print(
        f"\n### table {i}: number={t.number!r} title={t.title!r} unit={t.unit!r} pages={t.pages} size={len(t.rows)}x{len(t.rows[0]) if t.rows else 0}"
    )
    for p in t.preamble:
        print(f"    preamble: {p}")
    ncol = len(t.rows[0]) if t.rows else 0
    widths = [0] * ncol
    cells = []
    for row in t.rows:
        r = []
        for k, c in enumerate(row):
            s = c.text
            if c.colspan > 1 or c.rowspan > 1:
                s += f"⟨{c.colspan}x{c.rowspan}⟩"
            if not c.readable:
                s += "⟨?⟩"
            r.append(s)
            widths[k] = min(max(widths[k], _w(s)), 28)
        cells.append(r)
    for ri, (r, row) in enumerate(zip(cells, t.rows, strict=True)):
        line = " | ".join(_pad(s, widths[k]) for k, s in enumerate(r))
        extra = f"  p{row[0].page}" if row and row[0].page else ""
        if bbox:
            extra += "  " + " ".join(f"{tuple(round(v) for v in c.bbox)}" for c in row if c.bbox and c.text)
        print(f"  {ri:3d}: {line}{extra}")
    for n in t.notes:
        print(f"    note: {n}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--tables-only", action="store_true")
    ap.add_argument("--page", type=int, default=None)
    ap.add_argument("--bbox", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    layout = read_pdf(a.files)
    dt = time.perf_counter() - t0
    ti = 0
    for b in layout.blocks:
        if isinstance(b, RawTable):
            ti += 1
            if a.page is None or a.page in b.pages:
                show_table(ti, b, a.bbox)
        elif isinstance(b, TextLine) and not a.tables_only and (a.page is None or b.page == a.page):
            print(f"[p{b.page} {b.size}{' B' if b.bold else ''}] {b.text}")
    print(f"\n{layout.page_count} pages, {ti} tables, {dt:.2f} s ({dt / max(layout.page_count, 1):.4f} s/page)")


if __name__ == "__main__":
    main()
