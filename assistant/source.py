"""Show the source: render the printed page region behind a fact or a chunk.

The cell is outlined and its row and column headers shaded, so a figure is read
in context. The report PDF is the copy the index keeps (``sources/<sha256>.pdf``);
drawing happens on an in-memory page, the file is never modified.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymupdf

from assistant.errors import FiscalQAError
from assistant.models import BBox
from assistant.settings import Settings
from assistant.store import IndexData, load_index, report_chunks, report_of_item, source_pdf

log = logging.getLogger(__name__)

ZOOM = 2.0
"""Render scale: 2× (144 dpi) reads comfortably on screen."""
MARGIN = 24.0
"""Points of context around the region."""
NEIGHBOURS = 72.0
"""Points shown above and below the cited row: about four printed rows, so the neighbouring rows read too."""
OUTLINE = (0.86, 0.08, 0.08)
ROW_SHADE = (1.0, 0.93, 0.55)
HEADER_SHADE = (0.75, 0.87, 1.0)


class NoPageImageError(FiscalQAError):
    """The item has no printed page (the plain-text sample) or its PDF is not kept."""


@dataclass
class Region:
    """What to draw on one page."""

    report_id: str
    page: int
    outline: list[BBox]
    shade_row: list[BBox]
    shade_header: list[BBox]
    text: str
    """What the region shows, as text (the fallback for the text sample)."""
    fact_ids: list[str] = field(default_factory=list)
    """The facts behind the region (a sheet or document table without pages is drawn from them)."""


def _page_number(v: object) -> int | None:
    """A page number from the index (None, NaN when text-form rows share the frame with PDF rows, or a float)."""
    if v is None:
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else int(f)


def _facts_of(index: IndexData, fact_ids: list[str]) -> Any:
    """The facts with these ids, reading only their reports' facts (all facts only when an id names no report)."""
    rids = {report_of_item(index, f) for f in fact_ids}
    pool = index.facts if None in rids else index.facts_for(sorted(r for r in rids if r is not None))
    return pool[pool.fact_id.isin(fact_ids)]


def _fact_regions(index: IndexData, fact_ids: list[str]) -> list[Region]:
    facts = _facts_of(index, fact_ids)
    missing = set(fact_ids) - set(facts.fact_id)
    if missing:
        raise FiscalQAError(f"no fact with id {sorted(missing)[0]!r}; list facts with `fiscal-qa facts --csv`")
    regions: dict[tuple[str, int | None], Region] = {}
    for f in facts.itertuples(index=False):
        page = _page_number(f.page)
        key = (f.report_id, page)
        r = regions.setdefault(key, Region(f.report_id, page or 0, [], [], [], ""))
        label = f"{f.table_number or f.table_title} · {f.row_label} · {f.column} = {f.raw} {f.unit} (p.{page})"
        r.text = (r.text + "\n" + label).strip()
        r.fact_ids.append(str(f.fact_id))
        if f.bbox is not None:
            r.outline.append(tuple(f.bbox))
        if f.row_bbox is not None:
            r.shade_row.append(tuple(f.row_bbox))
        if f.header_bbox is not None:
            r.shade_header.append(tuple(f.header_bbox))
    return list(regions.values())


def _chunks_of(index: IndexData, chunk_id: str) -> Any:
    """The rows of one chunk id, reading only its report's chunks."""
    rid = report_of_item(index, chunk_id)
    chunks = report_chunks(index, rid) if rid is not None else index.chunks
    return chunks[chunks.chunk_id == chunk_id] if len(chunks) else chunks


def _chunk_region(index: IndexData, chunk_id: str) -> Region:
    rows = _chunks_of(index, chunk_id)
    if not len(rows):
        raise FiscalQAError(f"no chunk with id {chunk_id!r}")
    c = rows.iloc[0]
    raw_boxes = c["boxes"]
    boxes = [tuple(b) for b in raw_boxes] if hasattr(raw_boxes, "__len__") else []  # NaN where frames were joined
    page = int(boxes[0][0]) if boxes else (_page_number(c["page"]) or 0)
    return Region(c["report_id"], page, [tuple(b[1:]) for b in boxes if int(b[0]) == page], [], [], str(c["text"]))


def regions_for(index: IndexData, item_id: str | list[str]) -> list[Region]:
    """Regions for a fact id, a list of fact ids (a computed answer), or a chunk id."""
    ids = [item_id] if isinstance(item_id, str) else list(item_id)
    if len(ids) == 1 and len(_chunks_of(index, ids[0])):
        return [_chunk_region(index, ids[0])]
    return _fact_regions(index, ids)


def _union(boxes: list[BBox]) -> pymupdf.Rect:
    r = pymupdf.Rect(boxes[0])
    for b in boxes[1:]:
        r |= pymupdf.Rect(b)
    return r


def render_region(index: IndexData, region: Region, *, zoom: float = ZOOM, focus: list[float] | None = None) -> bytes:
    """PNG bytes of the page region with the cells outlined and row/header shaded.

    ``focus``: filled with the outlined cells' centre as fractions of the image (x, y).
    """
    located = source_pdf(index, region.report_id, region.page) if region.page else None
    if (located is None or not region.outline) and region.fact_ids and not region.page:
        from assistant.source_cells import render_cells

        png = render_cells(index, region.fact_ids, zoom=zoom)  # Excel/Word/HTML: the table region, drawn
        if png is not None:
            return png
    if located is None or not region.outline:
        raise NoPageImageError(
            f"{region.report_id} has no page image for this item (the plain-text form has no pages); it reads: {region.text}"
        )
    path, page_no = located
    with pymupdf.open(path) as doc:
        page = doc[page_no]
        scan = not page.get_text("text").strip()  # an image-only (OCR'd) page: shade over the image, not under it
        for b in region.shade_header:
            page.draw_rect(pymupdf.Rect(b), color=None, fill=HEADER_SHADE, fill_opacity=0.45, overlay=scan)
        for b in region.shade_row:
            page.draw_rect(pymupdf.Rect(b), color=None, fill=ROW_SHADE, fill_opacity=0.45, overlay=scan)
        for b in region.outline:
            page.draw_rect(pymupdf.Rect(b) + (-1.5, -1.5, 1.5, 1.5), color=OUTLINE, width=1.6)
        # Context: the cells, their row (from its label) and column header, and a few rows above and below.
        # Boxes are in the page's unrotated text space; the clip is on-screen (rotated pages: Jiangsu tables).
        cells = _union(region.outline + region.shade_row) * page.rotation_matrix
        area = _union(region.outline + region.shade_row + region.shade_header) * page.rotation_matrix
        top = min(area.y0 - MARGIN, cells.y0 - NEIGHBOURS)
        left, right = min(area.x0, cells.x0) - MARGIN, max(area.x1, cells.x1) + MARGIN
        if right - left < page.rect.width * 0.5:  # a narrow region: show the page width for context
            left, right = page.rect.x0, page.rect.x1
        clip = pymupdf.Rect(left, top, right, cells.y1 + NEIGHBOURS) & page.rect
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=clip, alpha=False)
        cell = _union(region.outline) * page.rotation_matrix
        if focus is not None and clip.width and clip.height:
            focus[:] = [(cell.x0 + cell.x1) / 2 - clip.x0, (cell.y0 + cell.y1) / 2 - clip.y0]
            focus[:] = [min(1.0, max(0.0, focus[0] / clip.width)), min(1.0, max(0.0, focus[1] / clip.height))]
        return pix.tobytes("png")


def render(index: IndexData, item_id: str | list[str], *, zoom: float = ZOOM) -> list[bytes]:
    """PNG images (one per page involved) for a fact, several facts, or a chunk."""
    return [render_region(index, r, zoom=zoom) for r in regions_for(index, item_id)]


def render_focused(index: IndexData, item_id: str | list[str], *, zoom: float = ZOOM) -> list[tuple[bytes, tuple[float, float]]]:
    """Like ``render``, each image with where its outlined cell is (x, y as fractions of the image), so a
    viewer can zoom in on it."""
    out = []
    for r in regions_for(index, item_id):
        focus: list[float] = [0.5, 0.5]
        png = render_region(index, r, zoom=zoom, focus=focus)
        out.append((png, (focus[0], focus[1])))
    return out


def main(args: argparse.Namespace) -> int:
    """``fiscal-qa source ID [--out FILE.png]``."""
    index = load_index(Path(args.index) if args.index else Settings.from_env().index_dir)
    regions = regions_for(index, args.id)
    out = Path(args.out) if args.out else Path(args.id.replace(":", "_") + ".png")
    written = []
    for i, region in enumerate(regions):
        try:
            png = render_region(index, region)
        except NoPageImageError as e:
            log.info("%s", e)
            sys.stdout.write(region.text + "\n")
            continue
        target = out if i == 0 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
        target.write_bytes(png)
        written.append(str(target))
    if written:
        sys.stdout.write("\n".join(written) + "\n")
    return 0
