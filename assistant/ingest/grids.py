"""Shared by the file-format readers (Excel, Word, HTML): cell grids with spans → ``RawTable`` blocks.

A reader hands over the document as a sequence of paragraphs (``Para``) and grids
(``SpanGrid``: rows of ``SpanCell`` with colspan/rowspan as the file states them).
``assemble`` turns that into a ``Layout`` the way ``text.py`` reads the plain-text
form: the title, number (公开03表), unit and 部门/单位 lines just above a grid become
the table's head, 注： lines just below it its notes, everything else running text.
Merged cells are expanded into the grid (the covered positions hold ''), which is
what ``tables.py`` reads for PDFs too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.ingest.text import _take_heading
from assistant.models import Layout, RawCell, RawTable, TextLine

_NOTE_START_RE = re.compile(r"^\s*(注|备注|说明)\s*[0-9０-９]*\s*[：:.．、]|^注\s*\d")
_NOTE_CONT_RE = re.compile(r"^\s*([0-9０-９]+\s*[.、．]|[（(]\d+[)）])")


@dataclass
class SpanCell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    ref: str = ""
    """Where the cell sits in the file (``Sheet!D12``, ``表2!R5C3``)."""


@dataclass
class SpanGrid:
    rows: list[list[SpanCell]]
    """Rows of the cells that start there (covered positions are *not* listed, as in HTML)."""
    head: list[str] = field(default_factory=list)
    """Lines that belong to this grid's head although the file keeps them elsewhere (a sheet's name)."""


@dataclass
class Para:
    text: str
    level: int = 0
    """Heading level from the document's styles (1 = top); 0 for body text."""
    bold: bool = False


HEADING_SIZES = {1: 18.0, 2: 16.0, 3: 14.0, 4: 13.0}
BODY_SIZE = 12.0


def expand(grid: SpanGrid) -> list[list[RawCell]]:
    """Place cells on the grid by their spans (HTML table model); covered positions get '' cells."""
    occupied: dict[tuple[int, int], bool] = {}
    placed: list[tuple[int, int, SpanCell]] = []
    for r, row in enumerate(grid.rows):
        c = 0
        for cell in row:
            while occupied.get((r, c)):
                c += 1
            placed.append((r, c, cell))
            for dr in range(max(1, cell.rowspan)):
                for dc in range(max(1, cell.colspan)):
                    occupied[(r + dr, c + dc)] = True
            c += max(1, cell.colspan)
    nr = max((r + max(1, cell.rowspan) for r, _, cell in placed), default=0)
    nr = min(nr, len(grid.rows))  # a rowspan running past the last row is cut there
    nc = max((c + max(1, cell.colspan) for _, c, cell in placed), default=0)
    out = [[RawCell("") for _ in range(nc)] for _ in range(nr)]
    for r, c, cell in placed:
        if r >= nr:
            continue
        out[r][c] = RawCell(
            " ".join(cell.text.split()) if "\n" in cell.text else cell.text.strip(),
            colspan=max(1, cell.colspan),
            rowspan=max(1, min(cell.rowspan, nr - r)),
            ref=cell.ref,
        )
    return _trim(out)


def _trim(rows: list[list[RawCell]]) -> list[list[RawCell]]:
    """Drop empty rows at the ends and empty trailing columns."""
    while rows and not any(c.text for c in rows[-1]):
        rows.pop()
    while rows and not any(c.text for c in rows[0]):
        rows.pop(0)
    if not rows:
        return rows
    nc = max(len(r) for r in rows)
    while nc > 1 and not any(len(r) >= nc and (r[nc - 1].text or r[nc - 1].colspan > 1) for r in rows):
        # a column that only a span covers still belongs to the table
        if any(len(r) >= nc and not r[nc - 1].text and _covered_by_span(r, nc - 1) for r in rows):
            break
        nc -= 1
    return [r[:nc] for r in rows]


def _covered_by_span(row: list[RawCell], j: int) -> bool:
    return any(c.colspan > 1 and k < j < k + c.colspan for k, c in enumerate(row))


def _distinct_texts(row: list[RawCell]) -> list[str]:
    return [c.text for c in row if c.text]


def split_head_rows(rows: list[list[RawCell]]) -> tuple[list[str], list[list[RawCell]], list[str]]:
    """A sheet's rows → (lines above the table, the table rows, note lines below it).

    Lines above: leading rows with one filled cell (a title, the number) or holding only
    部门/单位 lines. Notes: trailing rows with one filled cell that reads as a note.
    """
    from assistant.ingest.text import _NUMBER_RE, _PREAMBLE_RE, _UNIT_RE

    def headish(t: str) -> bool:
        s = t.replace(" ", "")
        return bool(_NUMBER_RE.match(s) or _UNIT_RE.match(s) or _PREAMBLE_RE.match(t) or re.search(r"单位\s*[:：]", t))

    above: list[str] = []
    i = 0
    while i < len(rows):
        texts = _distinct_texts(rows[i])
        if not texts:
            i += 1
            continue
        if len(texts) == 1 or all(headish(t) for t in texts):
            if len(texts) == 1 and i + 1 < len(rows) and not headish(texts[0]) and _is_header_start(rows, i):
                break
            above.extend(texts)
            i += 1
            continue
        break
    j = len(rows)
    notes: list[str] = []
    while j > i:
        texts = _distinct_texts(rows[j - 1])
        if not texts:
            j -= 1
            continue
        if len(texts) == 1 and (_NOTE_START_RE.match(texts[0]) or (notes and _NOTE_CONT_RE.match(texts[0]))):
            notes.insert(0, texts[0])
            j -= 1
            continue
        if len(texts) == 1 and _NOTE_CONT_RE.match(texts[0]) and j - 2 >= i:
            prev = _distinct_texts(rows[j - 2])
            if len(prev) == 1 and (_NOTE_START_RE.match(prev[0]) or _NOTE_CONT_RE.match(prev[0])):
                notes.insert(0, texts[0])
                j -= 1
                continue
        break
    return above, _trim(rows[i:j]), notes


def _is_header_start(rows: list[list[RawCell]], i: int) -> bool:
    """A single filled cell that is a merged header label over several columns (财政拨款“三公”经费 …)."""
    cell = next(c for c in rows[i] if c.text)
    nc = len(rows[i])
    return (cell.colspan > 1 or cell.rowspan > 1) and cell.colspan < nc


def assemble(items: list[Para | SpanGrid], source: str) -> Layout:
    """Paragraphs and grids in document order → a ``Layout`` (tables with head and notes, running text)."""
    blocks: list[RawTable | TextLine] = []
    pending: list[Para] = []
    last_table: RawTable | None = None
    for it in items:
        if isinstance(it, Para):
            t = it.text.strip()
            if not t:
                continue
            if (
                last_table is not None
                and (_NOTE_START_RE.match(t) or (last_table.notes and _NOTE_CONT_RE.match(t)))
                and not pending
            ):
                last_table.notes.append(t)
                continue
            last_table = None
            pending.append(it)
            continue
        above, rows, notes = split_head_rows(expand(it))
        if not rows:
            pending.extend(Para(x) for x in it.head + above)
            continue
        table = RawTable(rows=rows, notes=notes)
        head = [p.text.strip() for p in pending] + it.head + above
        kept = list(head)
        _take_heading(kept, table)  # pops the title, number, unit and preamble off the end
        for k, x in enumerate(kept):  # what is left (a prefix) is running text
            blocks.append(_line(pending[k]) if k < len(pending) else TextLine(x))
        pending = []
        blocks.append(table)
        last_table = table
    blocks.extend(_line(p) for p in pending)
    return Layout(blocks=blocks, sources=[source], page_count=0)


def _line(p: Para) -> TextLine:
    if p.level:
        return TextLine(p.text.strip(), size=HEADING_SIZES.get(p.level, 13.0), bold=True)
    return TextLine(p.text.strip(), size=BODY_SIZE, bold=p.bold)
