"""PDF reader: pages → tables (grids) and text lines, as one ``Layout``.

Per page we read the characters once (``get_text("rawdict")``) and the vector
drawings once (``get_cdrawings()``). Ruling lines (stroked lines, thin filled
rectangles, rectangle edges) give each table's grid; a merged cell is where a
grid line is missing. Tables with partial rulings get the missing lines from
the text: horizontal-rules-only tables and unruled tables take their columns
from x-gaps shared by the lines of figures, and body rows printed without rules
between them are split at text lines.

A cell's text is built from the characters whose centre lies inside the cell
box, clustered into lines by y (glyphs sit on slightly different baselines, so
we use the baseline, not MuPDF's glyph boxes, which are 3 to 22 pt high in these
files) and ordered by x; lines join without spaces for CJK. Numbers such as
``2,940.05`` come out exactly as printed. A cell's ``bbox`` is tightened where a
neighbour's (over-tall) glyph box reaches into it, so ``page.get_textbox(bbox)``
returns exactly the cell's text.

Pages with /Rotate (the Jiangsu tables files) are read in displayed orientation;
boxes are returned in the page's text space, which ``get_textbox`` and
``draw_rect`` take (``get_pixmap(clip=…)`` wants ``Rect(bbox) * page.rotation_matrix``).

``page.find_tables()`` is deliberately not used: it garbles these PDFs and is slow.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf

from assistant.errors import EncryptedPdfError, NotAPdfError, NoTextLayerError
from assistant.models import BBox, Layout, RawCell, RawTable, TextLine

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- tuning

_SNAP = 2.0
"""Ruling lines closer than this (points) are the same line."""
_MIN_GAP = 3.0
"""Grid lines closer than this are merged (double borders)."""
_THIN = 2.5
"""A filled rectangle thinner than this is a ruling line."""
_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_PRESERVE_LIGATURES | pymupdf.TEXT_MEDIABOX_CLIP

_WS = {" ", "\u3000", "\xa0", "\t", "\n", "\r"}
_NUM = r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})"
_NUMBER_RE = re.compile(
    rf"^(?:(?:公开|预算|决算|部门|附)?\s*{_NUM}\s*(?:号)?表|(?:附|公开|部门预算|预算|决算)?表\s*[-－]?\s*{_NUM}(?:[-－]\d+)?)$"
)
_NUMBER_PREFIX_RE = re.compile(
    rf"^((?:公开|预算|决算|附)?\s*{_NUM}\s*表|(?:附|公开)?表\s*{_NUM}(?:[-－]\d+)?)([\s:：、.．]*)(?=\S)"
)
_UNIT_RE = re.compile(r"(?:金额|计量)?单位\s*[:：]\s*(亿元|万元|千元|元)")
_PREAMBLE_RE = re.compile(r"^(?:(?:编制|填报|预算|主管|报送)?(?:部门|单位)(?:名称)?|编制单位|单位名称)\s*[:：]")
_NOTE_RE = re.compile(r"^(?:注|备注|说明|附注)\s*[0-9一二三四五六七八九十]*\s*[:：.．、]|^注\s*\d|空表|^本(?:单位|部门|表)")
_EMPTY_NOTE_RE = re.compile(r"空表|无.{0,20}(?:收入|支出|经费|预算|决算|数据|资金)|没有.{0,20}(?:收入|支出|经费)")
_PAGENUM_RE = re.compile(r"^[-—–－─\s]*(?:第\s*)?\d{1,4}\s*(?:页)?(?:\s*[/／]\s*\d+|\s*共\s*\d+\s*页)?[-—–－─\s]*$")
_TITLE_HINT_RE = re.compile(r"表$|情况表|明细表|总表")
_SECTION_RE = re.compile(r"^(?:[一二三四五六七八九十]+、|第.部分|（[一二三四五六七八九十]+）)")
_NOTE_START_RE = re.compile(r"^(?:注|备注|说明|附注|\d+\s*[.．、]|（\d+）|\(\d+\))")
_LEADER_RE = re.compile(r"[.…·]{4,}")


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF or 0x3000 <= o <= 0x303F


@dataclass(slots=True)
class _Ch:
    x0: float
    y0: float
    x1: float
    y1: float
    c: str
    size: float
    bold: bool
    raw: tuple[float, float, float, float]
    """MuPDF's own glyph box (what ``get_textbox`` tests against), displayed space."""

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class _Line:
    """A visual text line (outside tables) on a page."""

    chars: list[_Ch]
    text: str
    bbox: BBox
    size: float
    bold: bool
    used: bool = False


@dataclass
class _Grid:
    """A table grid found on one page."""

    bbox: BBox
    xs: list[float]
    ys: list[float]
    rows: list[list[RawCell]]
    page: int
    title: str = ""
    number: str = ""
    unit: str = ""
    preamble: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    has_head: bool = False
    """True when a title/number line was printed above it (not a continuation)."""


# ----------------------------------------------------------------------------- text helpers


def _join_chars(chars: list[_Ch]) -> str:
    """Characters of one line (sorted by x) → text; spaces kept only between Latin/digit runs."""
    out: list[str] = []
    pending_space = False
    for ch in chars:
        c = ch.c
        if c in _WS:
            pending_space = True
            continue
        if pending_space and out:
            prev = out[-1][-1]
            if not _is_cjk(prev) and not _is_cjk(c):
                out.append(" ")
        pending_space = False
        out.append(c)
    return "".join(out)


def _readable(text: str) -> bool:
    """False when the PDF gave no Unicode for a glyph (U+FFFD, private-use or control codes)."""
    return not any(ch == "\ufffd" or "\ue000" <= ch <= "\uf8ff" or ch < " " for ch in text)


def _cluster_lines(chars: list[_Ch]) -> list[list[_Ch]]:
    """Cluster characters into visual lines by their vertical centre, each sorted by x."""
    if not chars:
        return []
    chars = sorted(chars, key=lambda c: c.cy)
    lines: list[list[_Ch]] = []
    cur = [chars[0]]
    top, bot = chars[0].y0, chars[0].y1
    for ch in chars[1:]:
        h = min(bot - top, ch.y1 - ch.y0) or 1.0
        overlap = min(bot, ch.y1) - max(top, ch.y0)
        if overlap >= 0.5 * h:
            cur.append(ch)
            top, bot = min(top, ch.y0), max(bot, ch.y1)
        else:
            lines.append(cur)
            cur = [ch]
            top, bot = ch.y0, ch.y1
    lines.append(cur)
    for ln in lines:
        ln.sort(key=lambda c: c.x0)
    return lines


def _cell_text(chars: list[_Ch]) -> str:
    parts: list[str] = []
    for ln in _cluster_lines(chars):
        t = _join_chars(ln)
        if not t:
            continue
        if parts and parts[-1][-1:].isascii() and parts[-1][-1:].isalpha() and t[0].isascii() and t[0].isalpha():
            parts.append(" ")
        parts.append(t)
    return "".join(parts)


# ----------------------------------------------------------------------------- page reading


_Mat = tuple[float, float, float, float, float, float]


def _rot(page: pymupdf.Page) -> _Mat | None:
    """The page's rotation matrix as a tuple, or None for unrotated pages."""
    if not page.rotation:
        return None
    m = page.rotation_matrix
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _tp(m: _Mat, x: float, y: float) -> tuple[float, float]:
    return x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5]


def _tr(m: _Mat, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    ax, ay = _tp(m, x0, y0)
    bx, by = _tp(m, x1, y1)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def _font_name(name: str) -> str:
    """Font names stored as GBK bytes come out as Latin-1 mojibake ('ºÚÌå' is 黑体)."""
    if name.isascii():
        return name
    try:
        return name.encode("latin-1").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def _page_chars(page: pymupdf.Page) -> tuple[list[_Ch], list[list[_Ch]]]:
    """All characters of a page, and the rawdict lines (as char lists) for running text.

    Coordinates are in the displayed (rotated) page space, so rows run left to right
    also on pages with /Rotate; ``_unrotate`` maps boxes back for the caller.
    """
    rd = page.get_text("rawdict", flags=_TEXT_FLAGS)
    mat = _rot(page)
    chars: list[_Ch] = []
    lines: list[list[_Ch]] = []
    ws = _WS
    for b in rd["blocks"]:
        if b.get("type") != 0:
            continue
        for ln in b["lines"]:
            dx, dy = ln["dir"]
            if mat is not None:
                dx, dy = dx * mat[0] + dy * mat[2], dx * mat[1] + dy * mat[3]
            horizontal = abs(dy) < 0.1 and dx > 0
            cur: list[_Ch] = []
            for sp in ln["spans"]:
                size = float(sp["size"])
                font = _font_name(sp["font"]).lower()
                # 黑体 (SimHei, FZHei …) is how these reports set headings; YaHei is a body font
                bold = bool(sp["flags"] & 16) or "bold" in font or ("hei" in font and "yahei" not in font) or "黑" in font
                top, bot = 0.8 * size, 0.2 * size
                for ch in sp["chars"]:
                    c = ch["c"]
                    x0, y0, x1, y1 = ch["bbox"]
                    if mat is not None:
                        x0, y0, x1, y1 = _tr(mat, x0, y0, x1, y1)
                    if x1 - x0 <= 0 and c in ws:
                        continue
                    if horizontal:
                        # font bboxes are unreliable in these PDFs (3 pt or 22 pt high): use the baseline
                        oy = ch["origin"][1] if mat is None else _tp(mat, *ch["origin"])[1]
                        cur.append(_Ch(x0, oy - top, x1, oy + bot, c, size, bold, (x0, y0, x1, y1)))
                    else:
                        cur.append(_Ch(x0, y0, x1, y1, c, size, bold, (x0, y0, x1, y1)))
            if cur:
                chars.extend(cur)
                lines.append(cur)
    return chars, lines


def _derot(page: pymupdf.Page) -> _Mat | None:
    if not page.rotation:
        return None
    m = page.derotation_matrix
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _unrotate(bbox: BBox, derot: _Mat | None) -> BBox:
    """Displayed-space box → the page's text space (what ``page.get_textbox`` takes)."""
    x0, y0, x1, y1 = bbox
    if derot is not None:
        x0, y0, x1, y1 = _tr(derot, x0, y0, x1, y1)
    # round inwards so a tightened box never grows onto a neighbour's glyph
    return (math.ceil(x0 * 100) / 100, math.ceil(y0 * 100) / 100, math.floor(x1 * 100) / 100, math.floor(y1 * 100) / 100)


def _segments(page: pymupdf.Page) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
    """Ruling lines: horizontal (y, x0, x1) and vertical (x, y0, y1)."""
    hs: list[tuple[float, float, float]] = []
    vs: list[tuple[float, float, float]] = []

    def white(col: object) -> bool:
        return isinstance(col, (tuple, list)) and len(col) >= 3 and min(col[:3]) > 0.9

    def add_rect(x0: float, y0: float, x1: float, y1: float, stroked: bool) -> None:
        w, h = x1 - x0, y1 - y0
        if h <= _THIN and w > h:
            hs.append(((y0 + y1) / 2, x0, x1))
        elif w <= _THIN and h > w:
            vs.append(((x0 + x1) / 2, y0, y1))
        elif stroked:
            hs.append((y0, x0, x1))
            hs.append((y1, x0, x1))
            vs.append((x0, y0, y1))
            vs.append((x1, y0, y1))

    mat = _rot(page)
    for d in page.get_cdrawings():
        typ = d.get("type") or ""
        stroked = "s" in typ and not white(d.get("color"))
        filled = "f" in typ and not white(d.get("fill"))
        if not stroked and not filled:
            continue
        for it in d["items"]:
            kind = it[0]
            if kind == "l":
                (ax, ay), (bx, by) = it[1], it[2]
                if mat is not None:
                    ax, ay = _tp(mat, ax, ay)
                    bx, by = _tp(mat, bx, by)
                if abs(ay - by) < 1.0 and abs(ax - bx) >= 1.0:
                    hs.append(((ay + by) / 2, min(ax, bx), max(ax, bx)))
                elif abs(ax - bx) < 1.0 and abs(ay - by) >= 1.0:
                    vs.append(((ax + bx) / 2, min(ay, by), max(ay, by)))
            elif kind in ("re", "qu"):
                if kind == "re":
                    x0, y0, x1, y1 = it[1]
                else:  # a quad: only axis-parallel ones are rulings; use its bounding box
                    pts = it[1]
                    xs_, ys_ = [q[0] for q in pts], [q[1] for q in pts]
                    x0, y0, x1, y1 = min(xs_), min(ys_), max(xs_), max(ys_)
                if mat is not None:
                    x0, y0, x1, y1 = _tr(mat, x0, y0, x1, y1)
                add_rect(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), stroked)
    return hs, vs


def _merge_segments(segs: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Snap segments with nearly the same position and join overlapping/touching ones."""
    if not segs:
        return []
    segs = sorted(segs)
    groups: list[list[tuple[float, float, float]]] = [[segs[0]]]
    for s in segs[1:]:
        if s[0] - groups[-1][-1][0] <= _SNAP:
            groups[-1].append(s)
        else:
            groups.append([s])
    out: list[tuple[float, float, float]] = []
    for g in groups:
        pos = sum(s[0] for s in g) / len(g)
        spans = sorted((s[1], s[2]) for s in g)
        a, b = spans[0]
        for s0, s1 in spans[1:]:
            if s0 <= b + _SNAP:
                b = max(b, s1)
            else:
                out.append((pos, a, b))
                a, b = s0, s1
        out.append((pos, a, b))
    return out


def _components(hs: list[tuple[float, float, float]], vs: list[tuple[float, float, float]]) -> list[tuple[list, list]]:
    """Group crossing/touching horizontal and vertical segments into tables."""
    n = len(hs) + len(vs)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    t = _SNAP + 1
    for i, (y, x0, x1) in enumerate(hs):
        for j, (x, y0, y1) in enumerate(vs):
            if x0 - t <= x <= x1 + t and y0 - t <= y <= y1 + t:
                a, b = find(i), find(len(hs) + j)
                if a != b:
                    parent[a] = b
    groups: dict[int, tuple[list, list]] = {}
    for i, h in enumerate(hs):
        groups.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vs):
        groups.setdefault(find(len(hs) + j), ([], []))[1].append(v)
    return list(groups.values())


def _cluster_positions(vals: list[float]) -> list[float]:
    vals = sorted(vals)
    out: list[list[float]] = []
    for v in vals:
        if out and v - out[-1][-1] < _MIN_GAP:
            out[-1].append(v)
        else:
            out.append([v])
    return [sum(g) / len(g) for g in out]


def _covered(segs: list[tuple[float, float, float]], pos: float, a: float, b: float) -> bool:
    """Whether segments at ``pos`` cover most of the interval [a, b]."""
    need = b - a
    if need <= 0:
        return True
    got = 0.0
    for p, s0, s1 in segs:
        if abs(p - pos) <= _SNAP + 0.5:
            got += max(0.0, min(b, s1) - max(a, s0))
    return got >= 0.6 * need


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _tight_box(box: BBox, own: list[_Ch], others: list[_Ch]) -> BBox:
    """Shrink a cell box so no foreign glyph box touches it (``get_textbox`` takes any glyph it touches).

    Some PDFs have glyph boxes far taller than the glyphs (20 pt for 11 pt type), so
    a neighbour row's glyphs reach into the cell. The box keeps touching all own glyphs;
    if that is impossible the cell box is returned unchanged.
    """
    ink = [ch for ch in own if ch.c not in _WS]
    if not ink:
        return box
    ocx = sum(ch.cx for ch in ink) / len(ink)
    ocy = sum(ch.cy for ch in ink) / len(ink)
    oy0, oy1 = min(ch.y0 for ch in ink), max(ch.y1 for ch in ink)
    x0, y0, x1, y1 = box
    for o in others:
        if not _overlaps((x0, y0, x1, y1), o.raw):
            continue
        if o.cy < oy0 - 0.5 or o.cy > oy1 + 0.5:  # a glyph of another line: shrink vertically
            if o.cy < ocy:
                y0 = max(y0, o.raw[3] + 0.05)
            else:
                y1 = min(y1, o.raw[1] - 0.05)
        elif o.cx < ocx:
            x0 = max(x0, o.raw[2] + 0.05)
        else:
            x1 = min(x1, o.raw[0] - 0.05)
    tight = (x0, y0, x1, y1)
    if x1 - x0 < 0.5 or y1 - y0 < 0.5 or not all(_overlaps(tight, ch.raw) for ch in ink):
        return box
    return tight


def _build_grid(hs: list, vs: list, chars: list[_Ch], page_no: int) -> _Grid | None:
    xs = _cluster_positions([v[0] for v in vs])
    ys = _cluster_positions([h[0] for h in hs])
    x_lo, x_hi = min(h[1] for h in hs) if hs else xs[0], max(h[2] for h in hs) if hs else xs[-1]
    y_lo, y_hi = min(v[1] for v in vs) if vs else ys[0], max(v[2] for v in vs) if vs else ys[-1]
    # open sides: a table drawn without its outer border
    if x_lo < xs[0] - _MIN_GAP:
        xs.insert(0, x_lo)
    if x_hi > xs[-1] + _MIN_GAP:
        xs.append(x_hi)
    if y_lo < ys[0] - _MIN_GAP:
        ys.insert(0, y_lo)
    if y_hi > ys[-1] + _MIN_GAP:
        ys.append(y_hi)
    nr, nc = len(ys) - 1, len(xs) - 1
    if nr < 1 or nc < 2:
        return None
    # boundary presence
    vb = [[_covered(vs, xs[c], ys[r], ys[r + 1]) for c in range(nc + 1)] for r in range(nr)]
    hb = [[_covered(hs, ys[r], xs[c], xs[c + 1]) for c in range(nc)] for r in range(nr + 1)]
    # outer sides are always boundaries
    for r in range(nr):
        vb[r][0] = vb[r][nc] = True
    for c in range(nc):
        hb[0][c] = hb[nr][c] = True
    owner: list[list[tuple[int, int] | None]] = [[None] * nc for _ in range(nr)]
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    for r in range(nr):
        for c in range(nc):
            if owner[r][c] is not None:
                continue
            cs = 1
            while c + cs < nc and not vb[r][c + cs] and owner[r][c + cs] is None:
                cs += 1
            rs = 1
            while (
                r + rs < nr
                and all(not hb[r + rs][k] for k in range(c, c + cs))
                and all(owner[r + rs][k] is None for k in range(c, c + cs))
            ):
                rs += 1
            for i in range(r, r + rs):
                for k in range(c, c + cs):
                    owner[i][k] = (r, c)
            spans[(r, c)] = (rs, cs)
    # assign characters; note glyph boxes that spill into other cells (see _tight_box)
    buckets: dict[tuple[int, int], list[_Ch]] = {}
    spill: dict[tuple[int, int], list[_Ch]] = {}
    gx0, gy0, gx1, gy1 = xs[0], ys[0], xs[-1], ys[-1]
    for ch in chars:
        cx, cy = ch.cx, ch.cy
        o = None
        if gx0 <= cx <= gx1 and gy0 <= cy <= gy1:
            c = min(max(bisect.bisect_right(xs, cx) - 1, 0), nc - 1)
            r = min(max(bisect.bisect_right(ys, cy) - 1, 0), nr - 1)
            o = owner[r][c]
            if o is not None:
                buckets.setdefault(o, []).append(ch)
        rx0, ry0, rx1, ry1 = ch.raw
        if rx1 <= gx0 or rx0 >= gx1 or ry1 <= gy0 or ry0 >= gy1 or ch.c in _WS:
            continue
        c0 = max(bisect.bisect_right(xs, rx0) - 1, 0)
        c1 = min(bisect.bisect_left(xs, rx1) - 1, nc - 1)
        r0 = max(bisect.bisect_right(ys, ry0) - 1, 0)
        r1 = min(bisect.bisect_left(ys, ry1) - 1, nr - 1)
        if c0 == c1 and r0 == r1 and owner[r0][c0] == o:
            continue
        for rr in range(r0, r1 + 1):
            for cc in range(c0, c1 + 1):
                oo = owner[rr][cc]
                if oo is not None and oo != o:
                    lst = spill.setdefault(oo, [])
                    if not lst or lst[-1] is not ch:
                        lst.append(ch)
    rows: list[list[RawCell]] = []
    for r in range(nr):
        row: list[RawCell] = []
        for c in range(nc):
            if owner[r][c] != (r, c):
                row.append(RawCell("", page=page_no))
                continue
            rs, cs = spans[(r, c)]
            cch = buckets.get((r, c), [])
            text = _cell_text(cch)
            bbox = (xs[c], ys[r], xs[c + cs], ys[r + rs])
            if cch and (r, c) in spill:
                bbox = _tight_box(bbox, cch, spill[(r, c)])
            row.append(RawCell(text, page=page_no, bbox=bbox, colspan=cs, rowspan=rs, readable=_readable(text)))
        rows.append(row)
    return _Grid(bbox=(xs[0], ys[0], xs[-1], ys[-1]), xs=xs, ys=ys, rows=rows, page=page_no)


_NUMTOK_RE = re.compile(r"^[-−–—]?[\d,]*\d(?:\.\d+)?%?$|^[—–-]{1,2}$")


def _line_frags(line: list[_Ch]) -> list[list[_Ch]]:
    """Split one visual line (chars sorted by x) at gaps wider than about a character."""
    frags: list[list[_Ch]] = []
    for ch in line:
        if ch.c in _WS:
            continue
        if frags and ch.x0 - frags[-1][-1].x1 <= 0.9 * ch.size:
            frags[-1].append(ch)
        else:
            frags.append([ch])
    return frags


def _is_num(frag: list[_Ch]) -> bool:
    return bool(_NUMTOK_RE.match("".join(c.c for c in frag)))


def _row_splits(lines: list[list[_Ch]], skip: list[float]) -> list[float]:
    """Row boundaries between text lines of an unruled body (midpoints), except at ``skip`` lines.

    A line without a number and with text in one place only continues the line above
    (a label wrapped in its cell), so no boundary goes above it.
    """
    out: list[float] = []
    for a, b in zip(lines, lines[1:], strict=False):
        bot, top = max(c.y1 for c in a), min(c.y0 for c in b)
        mid = (bot + top) / 2
        if any(bot - 1 <= y <= top + 1 for y in skip):
            continue
        fb = _line_frags(b)
        if not any(_is_num(f) for f in fb) and len(fb) <= 1:
            continue
        out.append(mid)
    return out


def _text_grid(chars: list[_Ch], box: BBox, hlines: list[float], page_no: int) -> _Grid | None:
    """A grid for a table without (full) rulings: columns at x-gaps shared by the lines, rows at text lines."""
    x0, y0, x1, y1 = box
    inside = [c for c in chars if c.c not in _WS and x0 <= c.cx <= x1 and y0 <= c.cy <= y1]
    if not inside:
        return None
    lines = _cluster_lines(inside)
    data = [ln for ln in lines if sum(_is_num(f) for f in _line_frags(ln)) >= 1 and len(_line_frags(ln)) >= 2]
    if len(data) < 2:
        return None
    size = sorted(c.size for c in inside)[len(inside) // 2]
    # x coverage of the data lines; gaps become column boundaries
    spans = sorted((f[0].x0, f[-1].x1) for ln in data for f in _line_frags(ln))
    cuts: list[float] = []
    end = spans[0][1]
    for a, b in spans[1:]:
        if a - end >= 0.8 * size:
            cuts.append((a + end) / 2)
        end = max(end, b)
    if not cuts:
        return None
    xs = [x0, *cuts, x1]
    ys = sorted({y0, y1, *hlines, *_row_splits(lines, hlines)})
    hs = [(y, x0, x1) for y in ys]
    vs: list[tuple[float, float, float]] = []
    # a column boundary is drawn in a row band only where no character straddles it (merged header cells)
    for r in range(len(ys) - 1):
        band = [c for c in inside if ys[r] <= c.cy <= ys[r + 1]]
        for x in xs:
            if not any(c.x0 < x < c.x1 for c in band) and not _straddles(band, x, size):
                vs.append((x, ys[r], ys[r + 1]))
    return _build_grid(hs, vs, chars, page_no)


def _straddles(band: list[_Ch], x: float, size: float) -> bool:
    """Whether a run of text (no wide gap) crosses x: the cell spans the boundary."""
    left = [c for c in band if c.x1 <= x]
    right = [c for c in band if c.x0 >= x]
    for a in left:
        for b in right:
            if abs(a.cy - b.cy) < 0.5 * size and b.x0 - a.x1 < 0.9 * size:
                return True
    return False


def _unruled_regions(chars: list[_Ch], taken: list[BBox], page_w: float) -> list[BBox]:
    """Boxes of tables printed without rulings: 3+ consecutive lines of aligned fragments with numbers."""
    free = [c for c in chars if c.c not in _WS and not any(b[0] <= c.cx <= b[2] and b[1] <= c.cy <= b[3] for b in taken)]
    lines = _cluster_lines(free)
    flags = []
    for ln in lines:
        frags = _line_frags(ln)
        text = "".join(c.c for c in ln)
        tabular = len(frags) >= 3 and any(_is_num(f) for f in frags) and not _LEADER_RE.search(text) and not text.endswith("。")
        flags.append(tabular)
    out: list[BBox] = []
    i = 0
    while i < len(lines):
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and (
            flags[j + 1] or (j + 2 < len(lines) and flags[j + 2] and len(_line_frags(lines[j + 1])) <= 2)
        ):
            gap = min(c.y0 for c in lines[j + 1]) - max(c.y1 for c in lines[j])
            if gap > 2.5 * lines[j][0].size:
                break
            j += 1
        if j - i + 1 >= 3:
            # header lines directly above: several fragments, not prose
            h = i
            while h > 0 and i - h < 3:
                prev = lines[h - 1]
                gap = min(c.y0 for c in lines[h]) - max(c.y1 for c in prev)
                t = "".join(c.c for c in prev)
                if gap > 1.5 * prev[0].size or len(_line_frags(prev)) < 2 or t.endswith(("。", "：", ":")) or _UNIT_RE.search(t):
                    break
                h -= 1
            run = [c for ln in lines[h : j + 1] for c in ln]
            pad = 1.0
            box = (
                min(c.x0 for c in run) - pad,
                min(c.y0 for c in run) - pad,
                max(c.x1 for c in run) + pad,
                max(c.y1 for c in run) + pad,
            )
            if box[2] - box[0] >= 0.3 * page_w:
                out.append(box)
        i = j + 1
    return out


def _dense_splits(g: _Grid, chars: list[_Ch]) -> list[float]:
    """Row boundaries missing from a ruled grid: a band whose cells hold several lines of numbers."""
    xs, ys = g.xs, g.ys
    nr, nc = len(ys) - 1, len(xs) - 1
    cells: dict[tuple[int, int], list[_Ch]] = {}
    for c in chars:
        cx, cy = c.cx, c.cy
        if c.c in _WS or not (xs[0] <= cx <= xs[-1] and ys[0] <= cy <= ys[-1]):
            continue
        r = min(bisect.bisect_right(ys, cy) - 1, nr - 1)
        k = min(bisect.bisect_right(xs, cx) - 1, nc - 1)
        cells.setdefault((r, k), []).append(c)
    out: list[float] = []
    dense_rows = sorted(
        {
            r
            for (r, _), col in cells.items()
            if len(col) > 1
            and (lines := _cluster_lines(col))
            and len(lines) >= 2
            and sum(all(_is_num(f) for f in _line_frags(ln)) for ln in lines) >= 2
        }
    )
    for r in dense_rows:
        band = [c for (rr, _), col in cells.items() if rr == r for c in col]
        out += _row_splits(_cluster_lines(band), [])
    return out


def _page_grids(page: pymupdf.Page, chars: list[_Ch], page_no: int) -> list[_Grid]:
    hs, vs = _segments(page)
    hs, vs = _merge_segments(hs), _merge_segments(vs)
    grids: list[_Grid] = []
    for ch_, cv_ in _components(hs, vs):
        if len(cv_) < 2 and len(ch_) >= 2:
            # horizontal rules only (three-line table): columns from the text
            x0, x1 = min(h[1] for h in ch_), max(h[2] for h in ch_)
            if x1 - x0 < 0.3 * page.rect.width:
                continue
            ys_ = sorted(h[0] for h in ch_)
            g = _text_grid(chars, (x0, ys_[0], x1, ys_[-1]), ys_, page_no)
        elif len(ch_) < 2 or len(cv_) < 2:
            continue
        else:
            g = _build_grid(ch_, cv_, chars, page_no)
            extra = _dense_splits(g, chars) if g is not None else []
            if extra and g is not None:
                # body rows printed without horizontal rules between them
                ch_ = ch_ + [(y, g.bbox[0], g.bbox[2]) for y in extra]
                g = _build_grid(ch_, cv_, chars, page_no)
        if g is None:
            continue
        if not any(c.text for row in g.rows for c in row):
            continue  # a frame or decoration without text
        grids.append(g)
    for box in _unruled_regions(chars, [g.bbox for g in grids], page.rect.width):
        g = _text_grid(chars, box, [], page_no)
        if g is not None and len(g.rows) >= 3:
            grids.append(g)
    grids.sort(key=lambda g: g.bbox[1])
    return grids


def _text_lines(raw_lines: list[list[_Ch]], grids: list[_Grid]) -> list[_Line]:
    """Running text: rawdict lines minus characters inside grids, same-row fragments merged."""
    boxes = [(b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1) for b in (g.bbox for g in grids)]

    def inside(ch: _Ch) -> bool:
        cx, cy = (ch.x0 + ch.x1) / 2, (ch.y0 + ch.y1) / 2
        return any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes)

    frags: list[list[_Ch]] = []
    for ln in raw_lines:
        keep = [c for c in ln if not inside(c)] if boxes else ln
        if any(c.c not in _WS for c in keep):
            frags.append(keep)
    frags.sort(key=lambda f: (min(c.y0 for c in f), min(c.x0 for c in f)))
    merged: list[list[_Ch]] = []
    for f in frags:
        if merged:
            prev = merged[-1]
            p0, p1 = min(c.y0 for c in prev), max(c.y1 for c in prev)
            f0, f1 = min(c.y0 for c in f), max(c.y1 for c in f)
            h = min(p1 - p0, f1 - f0) or 1.0
            size = max(c.size for c in prev)
            gap = min(c.x0 for c in f) - max(c.x1 for c in prev)
            if min(p1, f1) - max(p0, f0) >= 0.6 * h and -size < gap < 1.5 * size:
                prev.extend(f)
                continue
        merged.append(f)
    out: list[_Line] = []
    for m in merged:
        m.sort(key=lambda c: c.x0)
        text = _join_chars(m)
        if not text:
            continue
        ink = [c for c in m if c.c not in _WS]
        bbox = (min(c.x0 for c in ink), min(c.y0 for c in ink), max(c.x1 for c in ink), max(c.y1 for c in ink))
        size = max(c.size for c in ink)
        bold = sum(c.bold for c in ink) > len(ink) / 2
        out.append(_Line(ink, text, bbox, round(size, 1), bold))
    return out


# ----------------------------------------------------------------------------- table metadata


def _split_number(text: str) -> tuple[str, str]:
    """'公开01表 收入支出预算总表' → ('公开01表', '收入支出预算总表')."""
    t = text.strip()
    if _NUMBER_RE.match(t):
        return t, ""
    m = _NUMBER_PREFIX_RE.match(t)
    if m and (m.group(2) or _TITLE_HINT_RE.search(t)):
        return m.group(1).replace(" ", ""), t[m.end() :].strip()
    return "", t


def _rows_of(lines: list[_Line]) -> list[list[_Line]]:
    """Group lines into visual rows (vertical overlap), rows top to bottom, fragments left to right."""
    rows: list[list[_Line]] = []
    for ln in sorted(lines, key=lambda x: (x.bbox[1] + x.bbox[3]) / 2):
        if rows:
            r = rows[-1]
            top, bot = min(x.bbox[1] for x in r), max(x.bbox[3] for x in r)
            h = min(bot - top, ln.bbox[3] - ln.bbox[1]) or 1.0
            if min(bot, ln.bbox[3]) - max(top, ln.bbox[1]) >= 0.5 * h:
                r.append(ln)
                continue
        rows.append([ln])
    for r in rows:
        r.sort(key=lambda x: x.bbox[0])
    return rows


def _split_unit(g: _Grid) -> None:
    """A unit broken over two lines ('单位：万' above '元'), as in some Jiangsu tables."""
    for i, e in enumerate(g.preamble):
        m = re.search(r"单位\s*[:：]\s*(亿|万|千)$", e)
        if not m:
            continue
        for j, f in enumerate(g.preamble):
            if j != i and (f == "元" or f.endswith(" 元")):
                g.unit = m.group(1) + "元"
                g.preamble[i] = e + "元"
                g.preamble[j] = f[:-1].rstrip()
                g.preamble[:] = [x for x in g.preamble if x]
                return


def _read_head(g: _Grid, above: list[_Line], body: float) -> None:
    """Title, number, unit and preamble from the lines just above a grid (walking upward)."""
    title_rows: list[list[_Line]] = []
    title_done = False
    last_top = g.bbox[1]
    for row in reversed(_rows_of(above)):
        rtop, rbot = min(x.bbox[1] for x in row), max(x.bbox[3] for x in row)
        size = max(x.size for x in row)
        gap = last_top - rbot
        if gap > 80 or (gap > max(3.0 * size, 30.0) and (title_rows or g.number)):
            break
        t = "".join(x.text for x in row).strip()
        if _PAGENUM_RE.match(t):
            continue
        if _LEADER_RE.search(t) or len(t) > 70:
            break
        if any(_UNIT_RE.search(x.text) or _PREAMBLE_RE.match(x.text.strip()) for x in row):
            entries: list[str] = []
            for x in row:
                xt = x.text.strip()
                if not entries or _UNIT_RE.search(xt) or _PREAMBLE_RE.match(xt):
                    entries.append(xt)
                else:
                    entries[-1] += xt if entries[-1].endswith(("：", ":")) else " " + xt
                um = _UNIT_RE.search(xt)
                if um and not g.unit:
                    g.unit = um.group(1)
            g.preamble[:0] = entries
        else:
            num, rest = _split_number(t)
            if num:
                if not g.number:
                    g.number = num
                if rest and not title_done:
                    title_rows.append([_Line([], rest, row[0].bbox, size, row[0].bold)])
                title_done = title_done or bool(title_rows)
            elif t.endswith(("。", "；", "：", ":", "，")):
                break
            else:
                headish = bool(_TITLE_HINT_RE.search(t)) or size >= body + 1.5 or (all(x.bold for x in row) and len(t) <= 40)
                if not headish or title_done:
                    break
                if title_rows:
                    prev_size = max(x.size for x in title_rows[-1])
                    # a title's first half (…基本支出预 / 算表) may sit a wider line gap above its end
                    fragment = not _TITLE_HINT_RE.search(t) and len(title_rows[-1][0].text) <= 6
                    if abs(prev_size - size) > 0.6 or gap > (2.0 if fragment else 1.0) * size:
                        break
                title_rows.append([_Line([], t, row[0].bbox, size, row[0].bold)])
        for x in row:
            x.used = True
        last_top = rtop
    if not g.unit:
        _split_unit(g)
    if title_rows:
        g.title = "".join(r[0].text for r in reversed(title_rows))
    g.has_head = bool(g.title or g.number)


def _head_rows_in_grid(g: _Grid) -> None:
    """Title, number and unit lines printed inside the grid (a first row spanning all columns)."""
    nc = len(g.xs) - 1
    while len(g.rows) > 1:
        first = g.rows[0]
        cell = first[0]
        if cell.colspan != nc or cell.rowspan != 1:
            return
        t = cell.text.strip()
        num, rest = _split_number(t)
        um = _UNIT_RE.search(t)
        if um or _PREAMBLE_RE.match(t):
            g.preamble.append(t)
            g.unit = g.unit or (um.group(1) if um else "")
        elif num and not g.number:
            g.number = num
            g.title = g.title or rest
        elif t == "" or (not g.title and _TITLE_HINT_RE.search(t)):
            g.title = g.title or t
        else:
            return
        g.has_head = g.has_head or bool(g.title or g.number)
        del g.rows[0]
        g.ys = g.ys[1:]
        g.bbox = (g.bbox[0], g.ys[0], g.bbox[2], g.bbox[3])


def _attach_meta(grids: list[_Grid], lines: list[_Line], page_h: float, body: float) -> set[int]:
    """Fill title/number/unit/preamble/notes of the page's grids from nearby lines; return used line ids.

    ``body`` is the usual font size of running text (titles are larger or bold or end in 表).
    """
    used: set[int] = set()
    for gi, g in enumerate(grids):
        top = grids[gi - 1].bbox[3] if gi else 0.0
        above = [i for i, ln in enumerate(lines) if i not in used and ln.bbox[3] <= g.bbox[1] + 2 and ln.bbox[1] >= top - 1]
        _read_head(g, [lines[i] for i in above], body)
        used.update(i for i in above if lines[i].used)
        _head_rows_in_grid(g)
        # notes below the grid
        bottom_limit = grids[gi + 1].bbox[1] if gi + 1 < len(grids) else page_h
        below = [
            i for i, ln in enumerate(lines) if i not in used and ln.bbox[1] >= g.bbox[3] - 2 and ln.bbox[3] <= bottom_limit + 1
        ]
        below.sort(key=lambda i: lines[i].bbox[1])
        last_bot = g.bbox[3]
        in_note = False
        for i in below:
            ln = lines[i]
            t = ln.text.strip()
            gap = ln.bbox[1] - last_bot
            if _PAGENUM_RE.match(t):
                continue
            if not in_note:
                if gap > max(4.0 * ln.size, 40.0) or not (_NOTE_RE.search(t) or _EMPTY_NOTE_RE.search(t)):
                    break
                in_note = True
            elif gap > 1.2 * ln.size or _SECTION_RE.match(t):
                break
            if g.notes and not _NOTE_START_RE.match(t):
                g.notes[-1] = _join_text(g.notes[-1], t)  # a note wrapped over lines
            else:
                g.notes.append(t)
            used.add(i)
            last_bot = ln.bbox[3]
    return used


def _join_text(a: str, b: str) -> str:
    """Join two wrapped lines: no space for CJK, one space between Latin words."""
    if a[-1:].isascii() and a[-1:].isalpha() and b[:1].isascii() and b[:1].isalpha():
        return a + " " + b
    return a + b


def _gridless_tables(lines: list[_Line], used: set[int], body: float, page_no: int) -> list[tuple[float, RawTable]]:
    """Tables printed as a title and a note only (no grid): 'no such income, this table is empty'."""
    out: list[tuple[float, RawTable]] = []
    order = sorted((i for i in range(len(lines)) if i not in used), key=lambda i: lines[i].bbox[1])
    for k, i in enumerate(order):
        ln = lines[i]
        t = ln.text.strip()
        num, rest = _split_number(t)
        title_like = (
            _TITLE_HINT_RE.search(rest or t) and ln.size >= body + 1.5 and not _SECTION_RE.match(t) and not _LEADER_RE.search(t)
        ) or (num and not rest)
        if not title_like or i in used:
            continue
        window = [j for j in order[k + 1 : k + 7] if j not in used]
        note_at = next((j for j in window if _EMPTY_NOTE_RE.search(lines[j].text)), None)
        if note_at is None:
            continue
        table = RawTable(rows=[], pages=[page_no])
        head = [i] + [j for j in window if lines[j].bbox[1] < lines[note_at].bbox[1]]
        for j in head:
            tj = lines[j].text.strip()
            n2, r2 = _split_number(tj)
            um = _UNIT_RE.search(tj)
            if n2 and not table.number:
                table.number = n2
                if r2:
                    table.title = r2
            elif um or _PREAMBLE_RE.match(tj):
                table.preamble.append(tj)
                if um and not table.unit:
                    table.unit = um.group(1)
            elif not table.title:
                table.title = tj
            else:
                break
            used.add(j)
        table.notes.append(lines[note_at].text.strip())
        used.add(note_at)
        if table.title or table.number:
            out.append((ln.bbox[1], table))
    return out


# ----------------------------------------------------------------------------- assembly


def _is_margin_noise(ln: _Line, page_h: float) -> bool:
    y = (ln.bbox[1] + ln.bbox[3]) / 2
    return (y < 0.09 * page_h or y > 0.91 * page_h) and bool(_PAGENUM_RE.match(ln.text))


def _to_table(g: _Grid) -> RawTable:
    return RawTable(
        rows=g.rows,
        title=g.title,
        number=g.number,
        unit=g.unit,
        pages=[g.page],
        notes=list(g.notes),
        preamble=list(g.preamble),
    )


def _row_texts(row: list[RawCell]) -> list[str]:
    return [c.text for c in row]


def _continue(prev: RawTable, prev_grid: _Grid, g: _Grid) -> bool:
    """Append grid ``g`` (top of the next page, no title) to ``prev`` if its columns line up.

    The continuation may have fewer grid columns (a 合计 row merged across the code
    columns): each of its column lines must coincide with one of the table's.
    """
    if g.page != prev.pages[-1] + 1:
        return False
    if g.has_head and not (g.title == prev.title and g.number in ("", prev.number)):
        return False  # a new table (a repeated identical title still continues)
    pxs = prev_grid.xs
    idx: list[int] = []
    for x in g.xs:
        j = min(range(len(pxs)), key=lambda k: abs(pxs[k] - x))
        if abs(pxs[j] - x) > 6 or (idx and j <= idx[-1]):
            return False
        idx.append(j)
    if idx[0] != 0 or idx[-1] != len(pxs) - 1:
        return False
    nc = len(pxs) - 1
    rows: list[list[RawCell]] = []
    for grow in g.rows:
        row = [RawCell("", page=g.page) for _ in range(nc)]
        for c, cell in enumerate(grow):
            if cell.bbox is None:
                continue  # covered position
            a, b = idx[c], idx[c + cell.colspan]
            cell.colspan = b - a
            row[a] = cell
        rows.append(row)
    k = 0
    while k < len(rows) and k < len(prev.rows) and _row_texts(rows[k]) == _row_texts(prev.rows[k]) and any(_row_texts(rows[k])):
        k += 1
    if k < len(rows) and _rejoin_label(prev.rows, rows[k]):
        k += 1
    prev.rows.extend(rows[k:])
    prev.pages.append(g.page)
    prev.notes.extend(g.notes)
    return True


_FOOT_HEAD_LINES = 4
"""At most this many lines at a page's foot are taken as the head of a table on the next page."""


def _adopt_foot_head(blocks: list[RawTable | TextLine], table: RawTable, page_no: int) -> None:
    """A table without title whose title, number, unit or preamble lines were printed at the previous page's foot.

    Takes the trailing text lines of page ``page_no - 1`` (walking up) while each is a unit line, a
    preamble (部门：…), a table number or a title-like line (ends in 表, at most 40 characters), and
    only when a title or number is among them.
    """
    k = len(blocks)
    taken: list[str] = []
    while k > 0 and len(taken) < _FOOT_HEAD_LINES:
        b = blocks[k - 1]
        if not isinstance(b, TextLine) or b.page != page_no - 1:
            break
        t = b.text.strip()
        if _PAGENUM_RE.match(t):
            k -= 1
            continue
        num, _ = _split_number(t)
        if not (_UNIT_RE.search(t) or _PREAMBLE_RE.match(t) or num or (len(t) <= 40 and _TITLE_HINT_RE.search(t))):
            break
        taken.insert(0, t)
        k -= 1
    heads = [t for t in taken if not (_UNIT_RE.search(t) or _PREAMBLE_RE.match(t))]
    if not heads:
        return
    title_parts: list[str] = []
    for t in taken:
        um = _UNIT_RE.search(t)
        if um or _PREAMBLE_RE.match(t):
            table.preamble.append(t)
            table.unit = table.unit or (um.group(1) if um else "")
            continue
        num, rest = _split_number(t)
        if num:
            table.number = table.number or num
            if rest:
                title_parts.append(rest)
        else:
            title_parts.append(t)
    table.title = table.title or "".join(title_parts)
    del blocks[k:]


_FIGURE_RE = re.compile(r"^[-−\d,.%]+$")
_LABEL_START_RE = re.compile(r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[)）]|\d|其中|合计|总计|小计)")


def _rejoin_label(rows: list[list[RawCell]], first: list[RawCell]) -> bool:
    """A row label continued over a page break (八、社会保障和就 / 业支出): the next page's first row holds
    only the rest of the label. Appends it to the previous page's last row; True when it did."""
    if not rows:
        return False
    filled = [(j, c.text.strip()) for j, c in enumerate(first) if c.text.strip()]
    if len(filled) != 1:
        return False
    j, rest = filled[0]
    last = rows[-1]
    label = last[j].text.strip() if j < len(last) else ""
    has_figures = any(_FIGURE_RE.match(c.text.strip()) for c in last if c.text.strip())
    if not label or _FIGURE_RE.match(label) or _FIGURE_RE.match(rest) or _LABEL_START_RE.match(rest) or not has_figures:
        return False
    last[j].text = label + rest
    return True


def _open(path: Path) -> pymupdf.Document:
    try:
        doc = pymupdf.open(path)
    except Exception as e:  # pymupdf raises FileDataError / RuntimeError variants
        raise NotAPdfError(str(path), str(e)) from e
    # only a user password blocks reading; owner-password "no copying" flags are common in
    # published reports and do not stop text extraction
    if doc.needs_pass:
        doc.close()
        raise EncryptedPdfError(str(path))
    if not doc.is_pdf:
        doc.close()
        raise NotAPdfError(str(path), "not a PDF document")
    if doc.page_count == 0:
        doc.close()
        raise NotAPdfError(str(path), "the PDF has no pages")
    return doc


@dataclass
class _Page:
    """What pass 1 read from one page."""

    no: int
    height: float
    derot: _Mat | None
    grids: list[_Grid]
    raw_lines: list[list[_Ch]]


def _body_size(pages: list[_Page]) -> float:
    """The most common font size of running text, by characters (titles are larger)."""
    counts: dict[float, int] = {}
    for pg in pages:
        for ln in pg.raw_lines:
            for ch in ln:
                k = round(ch.size, 1)
                counts[k] = counts.get(k, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else 12.0


def assemble_pages(pages: list[_Page], layout: Layout, *, foot_heads: bool = True) -> None:
    """Pass 2 of reading a report: titles, notes and running text per page; tables continued across pages.

    Appends to ``layout.blocks`` in reading order. ``foot_heads``: a table printed without a title adopts
    the title/number/unit lines at the previous page's foot (the PDF reader; the OCR reader does not).
    """
    body_size = _body_size(pages)
    prev_table: RawTable | None = None
    prev_grid: _Grid | None = None
    for pg in pages:
        grids = pg.grids
        lines = [ln for ln in _text_lines(pg.raw_lines, grids) if not _is_margin_noise(ln, pg.height)]
        used = _attach_meta(grids, lines, pg.height, body_size)
        for g in grids:
            for row in g.rows:
                for cell in row:
                    if cell.bbox is not None:
                        cell.bbox = _unrotate(cell.bbox, pg.derot)
        items: list[tuple[float, int, object]] = [(g.bbox[1], 1, g) for g in grids]
        items += [(y, 1, t) for y, t in _gridless_tables(lines, used, body_size, pg.no)]
        items += [(ln.bbox[1], 0, ln) for i, ln in enumerate(lines) if i not in used]
        items.sort(key=lambda t: (t[0], t[1]))
        for _, _, it in items:
            if isinstance(it, RawTable):
                layout.blocks.append(it)
                prev_table = prev_grid = None
            elif isinstance(it, _Grid):
                if prev_table is not None and prev_grid is not None and _continue(prev_table, prev_grid, it):
                    prev_grid = it
                    continue
                prev_table, prev_grid = _to_table(it), it
                if foot_heads and not it.has_head:
                    _adopt_foot_head(layout.blocks, prev_table, pg.no)
                layout.blocks.append(prev_table)
            else:
                assert isinstance(it, _Line)
                layout.blocks.append(TextLine(it.text, page=pg.no, bbox=_unrotate(it.bbox, pg.derot), size=it.size, bold=it.bold))
                prev_table = prev_grid = None


def read_pdf(files: list[Path], progress: Callable[[int], None] | None = None) -> Layout:
    """Read one report (one PDF, or a narrative PDF then a tables PDF) into a Layout.

    Cell and line boxes are in each page's text space (unrotated), the space
    ``page.get_textbox`` takes; to render one on a page with /Rotate use
    ``pymupdf.Rect(bbox) * page.rotation_matrix`` as the pixmap clip.
    """
    files = [Path(f) for f in files]
    layout = Layout(blocks=[], sources=[f.name for f in files])
    total_chars = 0
    pages: list[_Page] = []
    for path in files:
        doc = _open(path)
        try:
            for pno in range(doc.page_count):
                try:
                    page = doc[pno]
                    chars, raw_lines = _page_chars(page)
                    grids = _page_grids(page, chars, len(pages) + 1)
                except Exception as e:
                    raise NotAPdfError(str(path), f"page {pno + 1} cannot be read ({e})") from e
                rect = page.rect
                pages.append(_Page(len(pages) + 1, rect.height, _derot(page), grids, raw_lines))
                layout.page_sizes[len(pages)] = (round(rect.width, 2), round(rect.height, 2))
                layout.file_pages[len(pages)] = (path.name, pno + 1)
                total_chars += sum(1 for c in chars if c.c not in _WS)
                if progress:
                    progress(1)
        finally:
            doc.close()
    layout.page_count = len(pages)
    if total_chars == 0:
        raise NoTextLayerError(", ".join(str(f) for f in files))
    assemble_pages(pages, layout)
    log.debug(
        "%s: %d pages, %d tables",
        ", ".join(layout.sources),
        layout.page_count,
        sum(isinstance(b, RawTable) for b in layout.blocks),
    )
    return layout
