"""Scanned and garbled PDF pages: OCR (rapidocr-onnxruntime, offline) feeding the PDF reader's own stages.

Which pages: ``page_needs_ocr`` says why a page's text layer cannot be used — none at all
(a scan), private-use or undecodable glyphs, digits only (the Chinese labels drawn as
images or outlines), or a ToUnicode map yielding characters no Chinese report prints.
Other pages of the same file are read from their text layer as usual.

How: the page is rendered (``page.get_pixmap(dpi=…)``), RapidOCR (PP-OCR Chinese models
inside the wheel, no download) returns text lines with a box and a confidence per
character. Each character becomes the same record ``pdf.py`` builds from a text layer,
in PDF points; ruling lines are found in the image (long dark runs of pixels once the
recognized text is blanked out) and handed to ``pdf.py``'s grid building, merged-cell
detection, title/unit/notes attachment and page-to-page continuation. So the tables
and narrative of a scanned page reach ``tables.py`` and ``narrative.py`` exactly as a
text-layer page does. Cells keep the lowest confidence of their characters
(``RawCell.confidence``); ``Layout.ocr_pages`` lists the OCR'd pages.

OCR is slow (seconds per page on a small machine): ``read_pdf_ocr`` reports progress per
page, and an engine is built once per process.
"""

from __future__ import annotations

import bisect
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf

from assistant.errors import BadReportError, NotAPdfError
from assistant.ingest import pdf as P
from assistant.models import Layout, RawCell, RawTable

log = logging.getLogger(__name__)

DPI = 150
"""Render resolution for OCR: 150 dpi reads 9-pt table figures; higher is slower for little gain."""
DARK = 160
"""Grey level below which a pixel is ink (ruling lines are often light grey in scans)."""
MIN_HLINE_PT = 20.0
"""A horizontal ruling line is at least this long (a dash — in a cell is shorter)."""
MIN_VLINE_PT = 11.0
"""A vertical ruling line is at least this long (one table row; a glyph's stroke left after blanking is shorter)."""
MIN_TEXT_CHARS = 20
"""A page with fewer characters in its text layer (and an image) counts as having none."""


class OcrUnavailableError(BadReportError):
    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            path,
            f"the PDF needs OCR but rapidocr-onnxruntime cannot run ({detail}); install it with "
            "`pip install rapidocr-onnxruntime` (its models ship inside the wheel)",
        )


# ----------------------------------------------------------------------------- which pages


def _odd_char(ch: str) -> bool:
    """A character no Chinese fiscal report prints: private use, replacement, controls, or outside GB18030's
    common repertoire (a broken ToUnicode map yields Hangul, Yi, CJK extension ideographs, symbols …)."""
    o = ord(ch)
    if ch == "\ufffd" or 0xE000 <= o <= 0xF8FF or o >= 0xF0000 or (o < 0x20 and ch not in "\t\n\r"):
        return True
    if ch.isascii():
        return False
    try:
        ch.encode("gb2312")
        return False
    except UnicodeEncodeError:
        pass
    cat = unicodedata.category(ch)
    # traditional characters and full-width forms are legitimate; rare ideographs en masse are not
    return not (cat.startswith("P") or cat.startswith("Z") or 0x4E00 <= o <= 0x9FFF or 0xFF00 <= o <= 0xFFEF)


def text_layer_problem(text: str, image_share: float) -> str:
    """Why a page's extracted text cannot be used ('' when it can); ``image_share``: page area covered by images."""
    text = "".join(text.split())
    n = len(text)
    if n < MIN_TEXT_CHARS:
        # a scan (a stamp or page number may have text); a cover with a picture and a short title is not
        return "no text layer" if (n == 0 and image_share >= 0.3) or image_share >= 0.8 else ""
    odd = sum(1 for ch in text if _odd_char(ch))
    if odd >= 0.15 * n:
        return f"{odd} of {n} characters are private-use, undecodable or not Chinese (a broken ToUnicode map)"
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    digits = sum(1 for ch in text if ch.isdigit() or ch in ".,-%")
    if cjk == 0 and digits >= 0.7 * n:
        return "only the figures have text (the labels are drawn as images)"
    return ""


def page_needs_ocr(page: pymupdf.Page) -> str:
    """Why this page's text layer cannot be used ('' when it can)."""
    return text_layer_problem(page.get_text("text"), _image_share(page))


def _image_share(page: pymupdf.Page) -> float:
    """The share of the page area covered by images (a scan is one image over the whole page)."""
    area = abs(page.rect) or 1.0
    boxes = [pymupdf.Rect(i["bbox"]) & page.rect for i in page.get_image_info()]
    return min(1.0, sum(abs(b) for b in boxes) / area)


def pages_needing_ocr(path: Path) -> dict[int, str]:
    """0-based page → reason, for the pages of a PDF that must be OCR'd."""
    out: dict[int, str] = {}
    try:
        doc = pymupdf.open(path)
    except Exception:  # the PDF reader reports unreadable files by name
        return out
    with doc:
        if doc.needs_pass or not doc.is_pdf:
            return out
        chars = 0
        for pno in range(doc.page_count):
            try:
                page = doc[pno]
                text = page.get_text("text")
                chars += len("".join(text.split()))
                why = text_layer_problem(text, _image_share(page))
            except Exception:  # a page the text layer cannot even be listed for
                why = "the text layer cannot be read"
            if why:
                out[pno] = why
        if chars == 0:  # no text anywhere: every page is an image of one (however small the picture)
            out = {pno: "no text layer" for pno in range(doc.page_count)}
    return out


# ----------------------------------------------------------------------------- engine

_ENGINE: Any = None


def ocr_engine() -> Any:
    """The process-wide RapidOCR engine (models load once, ~0.5 s)."""
    global _ENGINE
    if _ENGINE is None:
        from rapidocr_onnxruntime import RapidOCR

        _ENGINE = RapidOCR()
    return _ENGINE


# ----------------------------------------------------------------------------- one page


@dataclass
class OcrPage:
    """What OCR read on one page, in displayed page space (points)."""

    chars: list[P._Ch]
    lines: list[list[P._Ch]]
    hs: list[tuple[float, float, float]]
    vs: list[tuple[float, float, float]]
    scores: np.ndarray
    """(n, 3): centre x, centre y, confidence of each character."""
    seconds: float = 0.0

    @property
    def confidence(self) -> float:
        return float(np.median(self.scores[:, 2])) if len(self.scores) else 0.0


def _render(page: pymupdf.Page, dpi: int) -> np.ndarray:
    pix = page.get_pixmap(dpi=dpi, alpha=False, colorspace=pymupdf.csRGB)
    return np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.h, pix.w, pix.n).copy()


_FIXES: list[tuple[str, str]] | None = None


def ocr_fixes() -> list[tuple[str, str]]:
    """(misread, printed) pairs from ``assistant/data/ocr_fixes.tsv``, longest first."""
    global _FIXES
    if _FIXES is None:
        path = Path(__file__).resolve().parents[1] / "data" / "ocr_fixes.tsv"
        pairs: list[tuple[str, str]] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            bad, good = line.split("\t")[:2]
            if len(bad) == len(good):
                pairs.append((bad, good))
        _FIXES = sorted(pairs, key=lambda p: -len(p[0]))
    return _FIXES


def fix_misreadings(text: str) -> str:
    """Known OCR confusions of fiscal words (收人 → 收入, 拔款 → 拨款); the length never changes."""
    for bad, good in ocr_fixes():
        if bad in text:
            text = text.replace(bad, good)
    return text


_NO_DOUBLE = set("、，。：；")
"""Punctuation never printed twice in a row: OCR's doubled reading is one mark."""


def _char_weights(text: str) -> list[float]:
    """Relative widths to split a word box among its characters (CJK full, Latin/digits half)."""
    return [1.0 if (unicodedata.east_asian_width(c) in "WF") else 0.55 for c in text]


def _chars_of_line(item: list[Any], scale: float) -> tuple[list[P._Ch], list[float]]:
    """One RapidOCR result line (with word boxes) → characters in points and their confidences."""
    box, text, score = item[0], item[1], float(item[2])
    words = item[3] if len(item) > 3 else None
    ys = [p[1] for p in box]
    y0, y1 = min(ys) * scale, max(ys) * scale
    pieces: list[tuple[str, float, float, float]] = []  # text, x0, x1, score
    if words and len(item) > 5 and len(item[3]) == len(item[4]):
        for wb, wt, ws in zip(item[3], item[4], item[5], strict=False):
            xs = [p[0] for p in wb]
            pieces.append((wt, min(xs) * scale, max(xs) * scale, float(ws)))
    else:
        xs = [p[0] for p in box]
        pieces.append((text, min(xs) * scale, max(xs) * scale, score))
    chars: list[P._Ch] = []
    confs: list[float] = []
    for wt, a, b, ws in pieces:
        wt = wt.strip()
        if not wt:
            continue
        weights = _char_weights(wt)
        total = sum(weights)
        x = a
        for c, w in zip(wt, weights, strict=True):
            dx = (b - a) * w / total
            if c in _NO_DOUBLE and chars and chars[-1].c == c:
                x += dx  # 二、、公共安全支出: a stroke read twice
                continue
            chars.append(P._Ch(x, y0, x + dx, y1, c, 0.0, False, (x, y0, x + dx, y1)))
            confs.append(min(ws, score) if ws else score)
            x += dx
    fixed = fix_misreadings("".join(ch.c for ch in chars))
    for ch, c in zip(chars, fixed, strict=True):
        ch.c = c
    if len(chars) > 1 and chars[0].c == "、":
        # 一、… read as 、…: the single thin stroke of 一 is what the recognizer drops; no line starts with 、
        first = chars[0]
        w = first.x1 - first.x0
        chars.insert(0, P._Ch(first.x0 - w, y0, first.x0, y1, "一", 0.0, False, (first.x0 - w, y0, first.x0, y1)))
        confs.insert(0, min(confs[0], 0.5))  # restored, not read: low confidence
    # font size: the width of a full-width character is the em
    full = sorted(ch.x1 - ch.x0 for ch in chars if unicodedata.east_asian_width(ch.c) in "WF")
    half = sorted(ch.x1 - ch.x0 for ch in chars if unicodedata.east_asian_width(ch.c) not in "WF")
    if full:
        size = full[len(full) // 2]
    elif half:
        size = 1.8 * half[len(half) // 2]
    else:
        size = 0.7 * (y1 - y0)
    size = round(max(4.0, min(size, 0.9 * (y1 - y0) + 2.0)), 1)
    for ch in chars:
        ch.size = size
    return chars, confs


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int, int]]:
    """Runs of True along axis 1 at least ``min_len`` long: (row, start, end) with end exclusive."""
    pad = np.zeros((mask.shape[0], 1), dtype=np.int8)
    m = np.concatenate([pad, mask.astype(np.int8), pad], axis=1)
    d = np.diff(m, axis=1)
    starts = np.argwhere(d == 1)
    ends = np.argwhere(d == -1)
    lengths = ends[:, 1] - starts[:, 1]
    keep = lengths >= min_len
    return [(int(r), int(s), int(e)) for (r, s), (_, e) in zip(starts[keep], ends[keep], strict=True)]


def ruling_lines(
    img: np.ndarray, text_boxes: list[tuple[float, float, float, float]], scale: float
) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
    """Horizontal (y, x0, x1) and vertical (x, y0, y1) ruling lines of a page image, in points.

    Recognized text is blanked first so strokes of characters are not taken for lines.
    """
    grey = img.mean(axis=2) if img.ndim == 3 else img
    ink = grey < DARK
    for x0, y0, x1, y1 in text_boxes:  # boxes in pixels
        # the detector's boxes are padded and may reach over a ruling line in a tight row: blank only their core;
        # what is left of a glyph's strokes is far shorter than a ruling line
        h = y1 - y0
        dy, dx = 0.25 * h, 0.2 * h
        ya, yb, xa, xb = int(y0 + dy), int(y1 - dy), int(x0 + dx), int(x1 - dx)
        if yb > ya and xb > xa:
            ink[ya:yb, xa:xb] = False
    hmin = max(8, int(MIN_HLINE_PT / scale))
    vmin = max(6, int(MIN_VLINE_PT / scale))
    hs = [((r + 0.5) * scale, s * scale, e * scale) for r, s, e in _runs(ink, hmin)]
    vs = [((c + 0.5) * scale, s * scale, e * scale) for c, s, e in _runs(ink.T, vmin)]
    return hs, vs


def ocr_page(page: pymupdf.Page, dpi: int = DPI, engine: Any = None) -> OcrPage:
    """OCR one page: characters, text lines and ruling lines in displayed page space (points)."""
    import time

    t0 = time.perf_counter()
    img = _render(page, dpi)
    scale = 72.0 / dpi
    eng = engine or ocr_engine()
    result, _ = eng(img, return_word_box=True)
    chars: list[P._Ch] = []
    lines: list[list[P._Ch]] = []
    scores: list[tuple[float, float, float]] = []
    boxes: list[tuple[float, float, float, float]] = []
    for item in result or []:
        lc, confs = _chars_of_line(item, scale)
        if not lc:
            continue
        chars.extend(lc)
        lines.append(lc)
        scores.extend((c.cx, c.cy, s) for c, s in zip(lc, confs, strict=True))
        xs, ys = [p[0] for p in item[0]], [p[1] for p in item[0]]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    hs, vs = ruling_lines(img, boxes, scale)
    arr = np.array(scores, dtype=float) if scores else np.zeros((0, 3))
    return OcrPage(chars, lines, hs, vs, arr, time.perf_counter() - t0)


def _grids(op: OcrPage, page_no: int, page_w: float) -> list[P._Grid]:
    """``pdf._page_grids`` with the ruling lines found in the image instead of the page's drawings."""
    hs, vs = P._merge_segments(op.hs), P._merge_segments(op.vs)
    chars = op.chars
    grids: list[P._Grid] = []
    for ch_, cv_ in P._components(hs, vs):
        if len(cv_) < 2 and len(ch_) >= 2:
            x0, x1 = min(h[1] for h in ch_), max(h[2] for h in ch_)
            if x1 - x0 < 0.3 * page_w:
                continue
            ys_ = sorted(h[0] for h in ch_)
            g = P._text_grid(chars, (x0, ys_[0], x1, ys_[-1]), ys_, page_no)
        elif len(ch_) < 2 or len(cv_) < 2:
            continue
        else:
            g = P._build_grid(ch_, cv_, chars, page_no)
            extra = P._dense_splits(g, chars) if g is not None else []
            if extra and g is not None:
                ch_ = ch_ + [(y, g.bbox[0], g.bbox[2]) for y in extra]
                g = P._build_grid(ch_, cv_, chars, page_no)
        if g is None or not any(c.text for row in g.rows for c in row):
            continue
        grids.append(g)
    for box in P._unruled_regions(chars, [g.bbox for g in grids], page_w):
        g = P._text_grid(chars, box, [], page_no)
        if g is not None and len(g.rows) >= 3:
            grids.append(g)
    grids.sort(key=lambda g: g.bbox[1])
    return grids


def _cell_confidences(grids: list[P._Grid], scores: np.ndarray) -> None:
    """Each OCR'd cell gets the lowest confidence of the characters inside it."""
    if not len(scores):
        return
    order = np.argsort(scores[:, 0])
    xs_sorted = scores[order, 0]
    for g in grids:
        for row in g.rows:
            for cell in row:
                if cell.bbox is None or not cell.text:
                    continue
                x0, y0, x1, y1 = cell.bbox
                lo, hi = bisect.bisect_left(xs_sorted, x0), bisect.bisect_right(xs_sorted, x1)
                sel = scores[order[lo:hi]]
                sel = sel[(sel[:, 1] >= y0) & (sel[:, 1] <= y1)]
                cell.confidence = round(float(sel[:, 2].min()), 4) if len(sel) else None


# ----------------------------------------------------------------------------- a whole report


def read_pdf_ocr(
    files: list[Path],
    ocr_pages: dict[tuple[str, int], str] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    dpi: int = DPI,
    engine: Any = None,
) -> Layout:
    """Read one report's PDF(s), OCR'ing the pages listed in ``ocr_pages`` ((file name, 0-based page) → reason;
    every page when None) and reading the others from their text layer. Same ``Layout`` as ``pdf.read_pdf``."""
    files = [Path(f) for f in files]
    layout = Layout(blocks=[], sources=[f.name for f in files])
    pages: list[P._Page] = []
    for path in files:
        doc = P._open(path)
        try:
            for pno in range(doc.page_count):
                page = doc[pno]
                n = len(pages) + 1
                why = "requested" if ocr_pages is None else ocr_pages.get((path.name, pno), "")
                try:
                    if why:
                        op = ocr_page(page, dpi=dpi, engine=engine)
                        raw_lines = op.lines
                        grids = _grids(op, n, page.rect.width)
                        _cell_confidences(grids, op.scores)
                        layout.ocr_pages[n] = round(op.confidence, 4)
                        log.info(
                            "%s page %d: OCR (%s), %d characters, %.1f s", path.name, pno + 1, why, len(op.chars), op.seconds
                        )
                    else:
                        chars, raw_lines = P._page_chars(page)
                        grids = P._page_grids(page, chars, n)
                except BadReportError:
                    raise
                except ImportError as e:
                    raise OcrUnavailableError(str(path), str(e)) from e
                except Exception as e:
                    raise NotAPdfError(str(path), f"page {pno + 1} cannot be read ({type(e).__name__}: {e})") from e
                rect = page.rect
                pages.append(P._Page(n, rect.height, P._derot(page), grids, raw_lines))
                layout.page_sizes[n] = (round(rect.width, 2), round(rect.height, 2))
                layout.file_pages[n] = (path.name, pno + 1)
                if progress:
                    progress(1)
        finally:
            doc.close()
    layout.page_count = len(pages)
    P.assemble_pages(pages, layout, foot_heads=False)
    return layout


def cells_of(layout: Layout) -> list[RawCell]:
    """Every cell of a layout's tables (for marking facts with their cell's provenance)."""
    return [c for b in layout.blocks if isinstance(b, RawTable) for row in b.rows for c in row]
