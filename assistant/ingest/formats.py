"""Reports as they are published: the dispatch to the readers of other formats, and facts' provenance.

``read_other_format`` picks the reader by file extension — Excel (``xlsx.py``), Word
(``word.py``), HTML (``webpage.py``) — and sends a PDF to OCR (``ocr.py``) when any of its
pages has no usable text layer. It returns None for what ``pdf.py`` / ``text.py`` read.

``mark_read_facts`` runs after ``tables.py``: each fact gets its cell's provenance (read by
OCR with a confidence, or a sheet/table cell reference), and the identity checks decide
about OCR'd tables — a table whose identities fail after OCR is flagged, and every figure
of it carries that warning (answers repeat it).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from assistant.models import Fact, Layout, RawCell, RawTable, ReportMeta

log = logging.getLogger(__name__)

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
WORD_SUFFIXES = (".docx", ".doc")
HTML_SUFFIXES = (".html", ".htm")
LOW_CONFIDENCE = 0.8
"""An OCR'd figure read with less confidence than this is named in the report's problems."""


def read_other_format(files: list[Path], progress: Callable[[int], None] | None = None) -> Layout | None:
    """The layout of a report in a format other than a text-layer PDF or the text form; None for those."""
    from assistant.ingest.normalize import normalize_layout

    suffix = files[0].suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        from assistant.ingest.xlsx import read_workbook

        return normalize_layout(_single(read_workbook, files, progress))
    if suffix in WORD_SUFFIXES:
        from assistant.ingest.word import read_word

        return normalize_layout(_single(read_word, files, progress))
    if suffix in HTML_SUFFIXES:
        from assistant.ingest.webpage import read_html

        return normalize_layout(_single(read_html, files, progress))
    if all(f.suffix.lower() == ".pdf" for f in files):
        from assistant.ingest.ocr import pages_needing_ocr, read_pdf_ocr

        need = {(f.name, p): why for f in files for p, why in pages_needing_ocr(f).items()}
        if need:
            log.info("%s: %d page(s) need OCR", ", ".join(f.name for f in files), len(need))
            return normalize_layout(read_pdf_ocr(files, need, progress=progress))
    return None


def _single(reader: Callable[[Path], Layout], files: list[Path], progress: Callable[[int], None] | None) -> Layout:
    layouts = [reader(f) for f in files]
    out = layouts[0]
    for extra in layouts[1:]:
        out.blocks.extend(extra.blocks)
        out.sources.extend(extra.sources)
    if progress:
        progress(len(files))
    return out


# --------------------------------------------------------------------------- provenance of facts


def _cell_key(page: int | None, bbox: tuple | None) -> tuple | None:
    if bbox is None:
        return None
    return (page, tuple(round(float(x), 2) for x in bbox))


_FACT_POS_RE = re.compile(r":(t\d+):r(\d+):c(\d+)")


def mark_read_facts(layout: Layout, facts: list[Fact], meta: ReportMeta) -> list[str]:
    """Copy OCR confidence and cell references from the layout's cells onto the facts; flag OCR'd tables
    whose identities fail. Returns problems to report (flagged tables, low-confidence figures)."""
    raws = [b for b in layout.blocks if isinstance(b, RawTable) and b.rows]  # numbered t01… as tables.py does
    has_refs = any(c.ref for b in raws for row in b.rows[:1] for c in row)
    problems: list[str] = []
    if not layout.ocr_pages and not has_refs:
        return problems
    cells: dict[tuple, RawCell] = {}
    for b in raws:
        for row in b.rows:
            for c in row:
                k = _cell_key(c.page, c.bbox)
                if k is not None:
                    cells[k] = c
    heads: dict[str, int] = {}
    for f in facts:
        if f.page in layout.ocr_pages:
            f.ocr = True
            key = _cell_key(f.page, f.bbox)
            cell = cells.get(key) if key is not None else None
            f.confidence = cell.confidence if cell is not None else None
        elif has_refs:
            f.ref = _ref_for(f, raws, heads)
    if layout.ocr_pages:
        problems += _flag_ocr_tables(facts, meta)
        low = [f for f in facts if f.ocr and f.status == "ok" and f.confidence is not None and f.confidence < LOW_CONFIDENCE]
        for f in low[:20]:
            problems.append(
                f"{f.table_number or f.table_title}: {f.row_label} · {f.column} = {f.raw} read by OCR with confidence "
                f"{f.confidence:.2f} (page {f.page}); check it against the page image"
            )
    return problems


def _ref_for(f: Fact, raws: list[RawTable], heads: dict[str, int]) -> str:
    """The cell reference (Sheet!D12) of a fact read from a file without pages, from its position in the grid."""
    from assistant.ingest.tables import _header_count, _make_grid, norm

    m = _FACT_POS_RE.search(f.fact_id)
    if not m:
        return ""
    tid, body_row, col = m.group(1), int(m.group(2)), int(m.group(3))
    n = int(tid[1:]) - 1
    if not 0 <= n < len(raws):
        return ""
    raw = raws[n]
    if tid not in heads:
        heads[tid] = _header_count(_make_grid(raw))
    i = body_row + heads[tid]
    want = norm(f.raw)
    rows = raw.rows
    if 0 <= i < len(rows) and col < len(rows[i]) and norm(rows[i][col].text) == want:
        return rows[i][col].ref
    # the text-form repair moved the cell: the nearest cell of that column with the same text
    cands = [k for k in range(len(rows)) if col < len(rows[k]) and norm(rows[k][col].text) == want]
    return rows[min(cands, key=lambda k: abs(k - i))][col].ref if cands else ""


def _flag_ocr_tables(facts: list[Fact], meta: ReportMeta) -> list[str]:
    """Run the identity checks on the OCR'd facts; each OCR'd table in a failing identity is flagged."""
    from assistant.checks import run_checks
    from assistant.store import facts_to_frame

    res = run_checks(facts_to_frame(facts), meta)
    by_id = {f.fact_id: f for f in facts}
    failed: dict[str, list[str]] = defaultdict(list)
    for fail in res.failures:
        cells = ([fail.total_cell] if fail.total_cell else []) + list(fail.part_cells)
        tables = {by_id[c.fact_id].table_id for c in cells if c.fact_id in by_id and by_id[c.fact_id].ocr}
        for t in tables:
            failed[t].append(fail.describe())
    problems: list[str] = []
    for t, why in failed.items():
        fs = [f for f in facts if f.table_id == t]
        name = fs[0].table_number or fs[0].table_title if fs else t
        pages = sorted({f.page for f in fs if f.page})
        warning = (
            f"table {name} was read by OCR (page {', '.join(map(str, pages))}) and {len(why)} of its identity checks fail "
            f"({why[0]}); its figures may be misread — check them against the page image"
        )
        for f in fs:
            f.warning = warning
        problems.append(warning)
    return problems
