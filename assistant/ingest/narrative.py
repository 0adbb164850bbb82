"""Narrative text → retrieval chunks with heading paths, pages and line boxes.

Two sources of narrative in a report's ``Layout``:

* ``TextLine`` blocks (running text outside tables). Headings are recognized by
  their numbering (第一部分, 一、, （一）, 1.) or by a font larger / bolder than the
  body text, and kept as a stack → ``Chunk.section`` ("第三部分… › 十、预算绩效管理情况").
  PDF lines are joined without spaces, so a Chinese word broken over two lines is whole.
* Narrative-like table rows (the 绩效自评情况 "table" of the Yunnan sample, the long
  目标 / 实际完成情况 / 偏差原因 cells of the self-evaluation tables). Their short
  left-hand cells (carried down like row spans) become the heading path under the
  table title; each long cell is prefixed by its column header (目标：…).

Text is cut into sentences (。；！？) and packed into chunks of about 200–500
characters that never cross a section. Each chunk keeps the boxes of the lines it
covers (PDF only) and the first page.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

from assistant.models import HEADING_SEP, Chunk, Layout, RawCell, RawTable, ReportMeta, TextLine

log = logging.getLogger(__name__)

MIN_CHARS = 200
MAX_CHARS = 500
LONG_CELL = 30
"""A table cell with at least this many characters (or a shorter full sentence) is narrative."""
MAX_HEADING = 40
"""A heading line is at most this long."""

_SENT_END = "。；！？;!?"
_CLOSERS = "”’」』）)】》\"'"
_SENT_RE = re.compile(rf"[^{_SENT_END}]*[{_SENT_END}]+[{re.escape(_CLOSERS)}]*|[^{_SENT_END}]+$")

_CN_NUM = "一二三四五六七八九十百零〇"
# (level, pattern): lower level = higher in the hierarchy
_HEADING_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(rf"^第[{_CN_NUM}\d]+部分")),
    (1, re.compile(rf"^[{_CN_NUM}]+、")),
    (2, re.compile(rf"^[（(][{_CN_NUM}]+[）)]")),
    (3, re.compile(r"^\d{1,2}[.．、](?!\d)")),
    (4, re.compile(r"^[（(]\d{1,2}[）)]")),
]
_PAGE_NO = re.compile(r"^[-—–\s]*(第\s*)?\d{1,3}(\s*页)?[-—–\s]*$|^\d+\s*/\s*\d+$")
_TOC = re.compile(r"^目\s*录$")
_AMOUNT = re.compile(r"^[-+]?[\d,]+\.\d+%?$|^[-+]?\d+(\.\d+)?%$|^[—–-]+$")
_BOILERPLATE_NOTE = re.compile(r"^(备?注[：:]\s*)?([-•]|\d[.、．])?\s*(本表(反映|所列)|涉密部门)")
_LABEL_KEY = re.compile(r"^(部门名称|单位名称|主管部门|实施单位)$")


@dataclass
class _Span:
    """Where a stretch of a section's text came from (for boxes and pages)."""

    start: int
    end: int
    page: int | None
    bbox: tuple[float, float, float, float] | None


@dataclass
class _Section:
    path: list[str]
    text: str = ""
    spans: list[_Span] = field(default_factory=list)

    def add(
        self, text: str, page: int | None = None, bbox: tuple[float, float, float, float] | None = None, *, sep: str = ""
    ) -> None:
        if not text:
            return
        if self.text and sep:
            self.text += sep
        start = len(self.text)
        self.text += text
        self.spans.append(_Span(start, len(self.text), page, bbox))


def heading_level(text: str) -> int | None:
    """The numbering level of a heading-like line (0 = 第一部分 … 4 = (1)), or None."""
    for level, pat in _HEADING_PATTERNS:
        if pat.match(text):
            return level
    return None


def _clean(text: str) -> str:
    return re.sub(r"[ \t\u3000\xa0]+", " ", text.replace("\n", "")).strip()


def _join(a: str, b: str) -> str:
    """Join two PDF lines: no space between CJK (or digits), one space between Latin words."""
    if a and b and a[-1].isascii() and a[-1].isalpha() and b[0].isascii() and b[0].isalpha():
        return " "
    return ""


def _is_amount(text: str) -> bool:
    return bool(_AMOUNT.match(text.replace(" ", "")))


def _is_long(text: str) -> bool:
    t = text.strip()
    if len(t) >= LONG_CELL and not _is_amount(t):
        return bool(re.search(r"[\u4e00-\u9fff]", t))
    return len(t) >= 12 and t[-1] in "。；" and bool(re.search(r"[\u4e00-\u9fff]", t))


# --------------------------------------------------------------------------- text lines


def _merge_same_row(lines: list[TextLine]) -> list[TextLine]:
    """Merge PDF line fragments printed on one baseline (第一部分 | 概况) into one line."""
    out: list[TextLine] = []
    for ln in lines:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.page is not None
            and prev.page == ln.page
            and prev.bbox is not None
            and ln.bbox is not None
            and abs(prev.bbox[1] - ln.bbox[1]) < 2.5
            and abs(prev.bbox[3] - ln.bbox[3]) < 2.5
            and ln.bbox[0] >= prev.bbox[2] - 1
        ):
            gap = ln.bbox[0] - prev.bbox[2]
            sep = " " if gap > (prev.size or 10) * 0.8 else ""
            out[-1] = TextLine(
                text=prev.text.rstrip() + sep + ln.text.lstrip(),
                page=prev.page,
                bbox=(prev.bbox[0], min(prev.bbox[1], ln.bbox[1]), ln.bbox[2], max(prev.bbox[3], ln.bbox[3])),
                size=max(prev.size or 0, ln.size or 0) or None,
                bold=prev.bold or ln.bold,
            )
        else:
            out.append(TextLine(ln.text, ln.page, ln.bbox, ln.size, ln.bold))
    return out


def _toc_pages(lines: list[TextLine]) -> set[int]:
    """Pages that hold a table of contents (目录): their lines are headings of other pages, not text."""
    return {ln.page for ln in lines if ln.page is not None and _TOC.match(ln.text.strip().replace(" ", "")) is not None}


@dataclass
class _Geometry:
    body_size: float | None
    right_edge: dict[int, float]


def _geometry(lines: list[TextLine]) -> _Geometry:
    sizes = Counter(round(ln.size, 1) for ln in lines if ln.size and len(ln.text.strip()) > 10)
    body = sizes.most_common(1)[0][0] if sizes else None
    right: dict[int, float] = {}
    for ln in lines:
        if ln.page is not None and ln.bbox is not None:
            right[ln.page] = max(right.get(ln.page, 0.0), ln.bbox[2])
    return _Geometry(body, right)


_LEVEL_MAX_CHARS = {0: MAX_HEADING, 1: MAX_HEADING, 2: 30, 3: 20, 4: 20}
"""Longer numbered lines at deep levels are numbered paragraphs (1．负责…), not headings."""


def _bigger(ln: TextLine, geo: _Geometry) -> bool:
    return bool(ln.size and geo.body_size and ln.size >= geo.body_size + 1.0)


def _merge_wrapped_headings(lines: list[TextLine], geo: _Geometry) -> list[TextLine]:
    """Join a large-font title printed over two lines (第三部分…决算情况 | 说明) into one line."""
    out: list[TextLine] = []
    for ln in lines:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.page == ln.page
            and prev.bbox is not None
            and ln.bbox is not None
            and _bigger(prev, geo)
            and prev.size == ln.size
            and 0 <= ln.bbox[1] - prev.bbox[3] < (ln.size or 10) * 1.2
            and _clean(prev.text)[-1:] not in "。；;：:"
            and heading_level(_clean(ln.text)) is None
            and len(_clean(prev.text)) + len(_clean(ln.text)) <= MAX_HEADING
        ):
            out[-1] = TextLine(
                text=_clean(prev.text) + _clean(ln.text),
                page=prev.page,
                bbox=(min(prev.bbox[0], ln.bbox[0]), prev.bbox[1], max(prev.bbox[2], ln.bbox[2]), ln.bbox[3]),
                size=prev.size,
                bold=prev.bold,
            )
        else:
            out.append(ln)
    return out


def _line_heading(ln: TextLine, nxt: TextLine | None, geo: _Geometry) -> int | None:
    """Heading level of a line, or None when it is body text."""
    t = _clean(ln.text)
    if not t or len(t) > MAX_HEADING:
        return None
    level = heading_level(t)
    if level is not None and len(t) > _LEVEL_MAX_CHARS.get(level, MAX_HEADING):
        return None
    bigger = _bigger(ln, geo)
    ends_sentence = t[-1] in "。；;，,：:！？" or "。" in t
    wraps = False
    if ln.bbox is not None and ln.page is not None and nxt is not None and nxt.page == ln.page and nxt.bbox is not None:
        # a line that runs to the right margin and is continued by the next (not numbered) line is a paragraph
        edge = geo.right_edge.get(ln.page, ln.bbox[2])
        size = ln.size or 10.0
        nxt_numbered = heading_level(_clean(nxt.text)) is not None
        smaller_next = bool(nxt.size and ln.size and nxt.size < ln.size - 0.5)
        outdented_next = nxt.bbox[0] < ln.bbox[0] - 0.5 * size  # continuation lines start at the margin
        wraps = (
            not nxt_numbered
            and not smaller_next
            and ((outdented_next and ln.bbox[2] >= edge - 3 * size) or ln.bbox[2] >= edge - 0.6 * size)
        ) or bool(re.match(r"^[（(][项款类][）)]", _clean(nxt.text)))
    if level is not None:
        if ends_sentence or wraps or (level > 0 and re.search(r"[：:].", t)):
            return None  # a sentence, a wrapped paragraph, or a definition (七、单位预留机动经费：指…)
        return level
    if (bigger or ln.bold) and not ends_sentence and not wraps and len(t) >= 2 and not _is_amount(t):
        # an unnumbered title: rank it above numbered headings when clearly larger, else just below 一、
        return 0 if bigger else 1
    return None


class _TextWalker:
    """Running text lines → sections; the heading stack persists across the tables in between."""

    def __init__(self, geo: _Geometry, sections: list[_Section]) -> None:
        self.geo = geo
        self.stack: list[tuple[int, str]] = []
        self.sections = sections
        """Shared, ordered list of all sections (tables append theirs in between)."""
        self.cur = self._new()

    def _new(self) -> _Section:
        sec = _Section(path=self.path)
        self.sections.append(sec)
        return sec

    @property
    def path(self) -> list[str]:
        return [h for _, h in self.stack]

    def feed(self, lines: list[TextLine]) -> None:
        for i, ln in enumerate(lines):
            t = _clean(ln.text)
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            level = _line_heading(ln, nxt, self.geo)
            if level is not None:
                while self.stack and self.stack[-1][0] >= level:
                    self.stack.pop()
                self.stack.append((level, t))
                self.cur = self._new()
                continue
            if not self.cur.text:
                sep = ""
            elif ln.page is None:
                sep = "\n"  # text form: one line is one paragraph
            else:
                sep = _join(self.cur.text, t)
            self.cur.add(t, ln.page, ln.bbox, sep=sep)

    def after_table(self) -> None:
        """Text after a table continues its section but starts a new paragraph stretch."""
        self.cur = self._new()


# --------------------------------------------------------------------------- tables


def _cell_text(c: RawCell) -> str:
    return _clean(c.text)


def _table_sections(table: RawTable, base: list[str]) -> list[_Section]:
    """Narrative-like rows of a table → sections (heading cells carried down like row spans)."""
    if not any(_is_long(_cell_text(c)) for row in table.rows for c in row):
        return []
    title = _clean(table.title)
    root = list(base) if not title else [title]
    ncols = max((len(r) for r in table.rows), default=0)
    carry = [""] * ncols
    header: dict[int, str] = {}
    sub: str = ""
    project: str = ""
    out: list[_Section] = []
    for row in table.rows:
        texts = [_cell_text(c) for c in row] + [""] * (ncols - len(row))
        filled = [(j, t) for j, t in enumerate(texts) if t]
        if not filled:
            continue
        key = filled[0][1].replace(" ", "")
        if key in ("项目名称", "项目名") and len(filled) > 1:
            project = filled[1][1]
            continue
        longs = [j for j, t in filled if _is_long(t)]
        if not longs:
            if len(filled) == 1 and heading_level(filled[0][1]) is not None and len(filled[0][1]) <= MAX_HEADING:
                sub, carry, header = filled[0][1], [""] * ncols, {}
                continue
            is_label_row = _LABEL_KEY.search(key) is not None
            if len(filled) >= 2 and not is_label_row and not any(_is_amount(t) or t.isdigit() for _, t in filled):
                for j, t in filled:
                    header[j] = t
            # heading cells of this row still carry down to continuation rows
            for j, t in filled:
                carry[j] = t
                carry[j + 1 :] = [""] * (ncols - j - 1)
            continue
        first = longs[0]
        for j in range(first):
            if texts[j]:
                carry[j] = texts[j]
                carry[j + 1 :] = [""] * (ncols - j - 1)
        # heading cells: the row's name (first cell) and unlabelled cells, not attributes like 项目级次 = 本级
        named = [j for j in range(first) if carry[j]]
        heads = [
            carry[j]
            for j in named
            if not _is_amount(carry[j]) and carry[j] not in header.values() and (j == named[0] or j not in header)
        ]
        path = root + [p for p in (project, sub) if p] + heads
        pages = [c.page for c in row if c.page is not None]
        sec = _Section(path=path)
        shorts: list[str] = []
        for j in range(first, ncols):
            label, text = header.get(j, ""), texts[j]
            if not text:
                continue
            if j not in longs:
                # figures beside the narrative (批复金额, 预算执行率 71.72%) keep their column label
                if label and not re.fullmatch(r"[—–\-/]+", text):
                    shorts.append(f"{label}：{text}")
                continue
            if shorts:
                sec.add(_sentence("；".join(shorts)), pages[0] if pages else None, None, sep="\n")
                shorts = []
            if label and not text.startswith(label):
                text = f"{label}：{text}"
            cell = row[j] if j < len(row) else RawCell("")
            sec.add(text, cell.page if cell.page is not None else (pages[0] if pages else None), cell.bbox, sep="\n")
        if shorts:
            sec.add(_sentence("；".join(shorts)), pages[0] if pages else None, None, sep="\n")
        out.append(sec)
    return out


def _sentence(text: str) -> str:
    return text if text[-1:] in _SENT_END else text + "。"


def _note_sections(table: RawTable, seen: set[str]) -> list[_Section]:
    """Informative notes under a table (an empty table's reason), not boilerplate or notes already seen."""
    notes = []
    for n in map(_clean, table.notes):
        key = re.sub(r"^(备?注[：:]\s*)?([-•]|\d[.、．])?\s*", "", n)
        if len(key) < 12 or _BOILERPLATE_NOTE.match(n) or key in seen:
            continue
        seen.add(key)
        notes.append(n)
    if not notes:
        return []
    title = _clean(table.title) or _clean(table.number) or "表"
    sec = _Section(path=[title, "注"])
    page = table.pages[-1] if table.pages else None
    for n in notes:
        sec.add(n, page, None, sep="\n")
    return [sec]


# --------------------------------------------------------------------------- chunks


def split_sentences(text: str) -> list[str]:
    """Cut text after 。；！？ (keeping closing quotes/brackets with their sentence) and at paragraph breaks."""
    out: list[str] = []
    for para in text.split("\n"):
        for m in _SENT_RE.finditer(para):
            s = m.group(0)
            if s.strip():
                out.append(s)
        if out:
            out[-1] = out[-1] + "\n"
    if out:
        out[-1] = out[-1].rstrip("\n")
    return out


def _hard_split(sentence: str) -> list[str]:
    """A sentence longer than MAX_CHARS: cut after ，、 where possible, else every MAX_CHARS."""
    parts: list[str] = []
    rest = sentence
    while len(rest) > MAX_CHARS:
        window = rest[:MAX_CHARS]
        cut = max(window.rfind("，"), window.rfind(","), window.rfind("、"), window.rfind("："))
        cut = cut + 1 if cut >= MIN_CHARS else MAX_CHARS
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        parts.append(rest)
    return parts


def pack_sentences(sentences: list[str]) -> list[tuple[int, int]]:
    """Group whole sentences into (start, end) character ranges of at most MAX_CHARS (about MIN_CHARS at least)."""
    ranges: list[tuple[int, int]] = []
    pos = start = 0
    for s in sentences:
        if pos > start and (pos - start) + len(s) > MAX_CHARS:
            ranges.append((start, pos))
            start = pos
        pos += len(s)
    if pos > start:
        if ranges and pos - start < MIN_CHARS // 4 and (pos - ranges[-1][0]) <= MAX_CHARS + MIN_CHARS // 4:
            ranges[-1] = (ranges[-1][0], pos)  # a very short tail joins the previous chunk
        else:
            ranges.append((start, pos))
    return ranges


def _section_chunks(sec: _Section) -> list[tuple[str, list[_Span]]]:
    sentences: list[str] = []
    for s in split_sentences(sec.text):
        sentences.extend(_hard_split(s) if len(s) > MAX_CHARS else [s])
    out = []
    for a, b in pack_sentences(sentences):
        raw = sec.text[a:b]
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        if not text:
            continue
        a2, b2 = a + lead, a + lead + len(text)
        spans = [sp for sp in sec.spans if sp.start < b2 and sp.end > a2]
        out.append((text, spans))
    return out


def _prepare(layout: Layout) -> tuple[list[list[TextLine] | RawTable], _Geometry]:
    """Runs of merged, cleaned text lines (TOC pages and page numbers dropped) and the tables between them."""
    items: list[list[TextLine] | RawTable] = []
    run: list[TextLine] = []
    for block in layout.blocks:
        if isinstance(block, TextLine):
            if _clean(block.text):
                run.append(block)
        elif isinstance(block, RawTable):
            if run:
                items.append(_merge_same_row(run))
                run = []
            items.append(block)
    if run:
        items.append(_merge_same_row(run))
    all_lines = [ln for it in items if isinstance(it, list) for ln in it]
    toc = _toc_pages(all_lines)
    items = [
        [ln for ln in it if ln.page not in toc and not _PAGE_NO.match(_clean(ln.text))] if isinstance(it, list) else it
        for it in items
    ]
    geo = _geometry([ln for it in items if isinstance(it, list) for ln in it])
    items = [_merge_wrapped_headings(it, geo) if isinstance(it, list) else it for it in items]
    return items, geo


def chunk_narrative(layout: Layout, meta: ReportMeta) -> list[Chunk]:
    """Chunks of the report's narrative text and narrative-like table rows, in reading order."""
    items, geo = _prepare(layout)
    sections: list[_Section] = []
    seen_notes: set[str] = set()
    walker = _TextWalker(geo, sections)
    for it in items:
        if isinstance(it, list):
            walker.feed(it)
        else:
            sections.extend(_table_sections(it, walker.path))
            sections.extend(_note_sections(it, seen_notes))
            walker.after_table()
    chunks: list[Chunk] = []
    for sec in sections:
        section = HEADING_SEP.join(p for p in sec.path if p)
        for text, spans in _section_chunks(sec):
            if not section and len(text) < 20:
                continue  # a cover line (department name, report title) is not a passage
            boxes = [(sp.page, *sp.bbox) for sp in spans if sp.page is not None and sp.bbox is not None]
            page = next((sp.page for sp in spans if sp.page is not None), None)
            chunks.append(
                Chunk(
                    chunk_id=f"{meta.report_id}:c{len(chunks)}",
                    report_id=meta.report_id,
                    department=meta.department,
                    year=meta.year,
                    kind=meta.kind,
                    section=section,
                    page=page,
                    text=text,
                    boxes=boxes,  # type: ignore[arg-type]
                )
            )
    log.debug("%s: %d narrative chunks from %d sections", meta.report_id, len(chunks), len(sections))
    return chunks
