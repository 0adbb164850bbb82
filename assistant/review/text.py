"""The report's words for the text rules: narrative sentences (with page and section) and page text.

Sentences come from the narrative chunks of the index (``index.chunks``); page text (for the
table of contents, which is no narrative) from the source PDF the index keeps beside its
facts (``sources/<sha256>.pdf``), read with PyMuPDF. A text-form report has no kept PDF:
its rules that need page text are skipped, the others run on its chunks.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from assistant.review.model import CellRef, _Ctx, _int_or_none, _s

log = logging.getLogger(__name__)

_SENT_END = re.compile(r"(?<=[。；;！？!?])")


@dataclass(frozen=True)
class Sentence:
    """One sentence of the narrative, where it is printed."""

    text: str
    page: int | None
    section: str
    chunk_id: str
    start: int
    """Offset of the sentence in its chunk's text."""

    def ref(self, quote: str | None = None) -> CellRef:
        """The sentence as the source of a finding (the chunk id stands for the fact id)."""
        heading = self.section.split(" › ")[-1] if self.section else ""
        return CellRef(self.chunk_id, "正文" + (f" · {heading}" if heading else ""), "", "", self.page, quote or self.text)

    @property
    def where(self) -> str:
        heading = self.section.split(" › ")[-1] if self.section else ""
        return "，".join(x for x in (f"第{self.page}页" if self.page else "", f"“{heading}”" if heading else "") if x)


def narrative_chunks(ctx: _Ctx) -> list[dict[str, Any]]:
    """The narrative chunks of the report (table notes excluded: they are the tables' own words)."""
    return [c for c in ctx.chunks if not _s(c.get("section")).endswith("› 注")]


def sentences(ctx: _Ctx) -> list[Sentence]:
    """Every sentence of the narrative, in reading order."""
    out: list[Sentence] = []
    for ch in narrative_chunks(ctx):
        text = _s(ch.get("text"))
        pos = 0
        for part in _SENT_END.split(text):
            if part.strip():
                out.append(
                    Sentence(part.strip(), _int_or_none(ch.get("page")), _s(ch.get("section")), _s(ch.get("chunk_id")), pos)
                )
            pos += len(part)
    return out


def page_text(page: Any) -> str:
    """The page's text line by line in reading order: spans grouped by baseline, top to bottom, left to right.

    PyMuPDF's own order is the content stream's (text added later comes last) and its ``sort``
    orders blocks, which interleaves lines of overlapping blocks; baselines do not.
    """
    spans = []
    for b in page.get_text("dict")["blocks"]:
        for line in b.get("lines", []):
            for sp in line["spans"]:
                if sp["text"].strip():
                    spans.append((sp["origin"][1], sp["origin"][0], float(sp["size"]), sp["text"]))
    spans.sort()
    rows: list[list[tuple[float, float, float, str]]] = []
    for sp in spans:
        if rows and abs(sp[0] - rows[-1][0][0]) < 0.4 * max(sp[2], 1.0):
            rows[-1].append(sp)
        else:
            rows.append([sp])
    return "\n".join("".join(t for _, _, _, t in sorted(r, key=lambda x: x[1])) for r in rows)


def read_pages(index: Any, meta: Any, *, by_baseline: bool = False) -> dict[int, str]:
    """Text of every page of the report's kept PDFs (1-based layout pages), {} when there are none.

    ``by_baseline``: in reading order (:func:`page_text`) rather than PyMuPDF's stream order.
    """
    from assistant.store import source_pdf

    pages: dict[int, str] = {}
    if not meta.pages or not any(str(n).lower().endswith(".pdf") for n in meta.sources):
        return pages
    try:
        import pymupdf
    except ImportError:  # pragma: no cover - a dependency of ingestion
        return pages
    docs: dict[str, Any] = {}
    try:
        for p in range(1, meta.pages + 1):
            loc = source_pdf(index, meta.report_id, p)
            if loc is None:
                continue
            path, i = loc
            doc = docs.get(str(path))
            if doc is None:
                doc = docs[str(path)] = pymupdf.open(str(path))
            if i < doc.page_count:
                pages[p] = page_text(doc[i]) if by_baseline else doc[i].get_text()
    except Exception as e:  # an unreadable kept file must not sink the review
        log.warning("could not read the kept PDF of %s: %s", meta.report_id, e)
    finally:
        for d in docs.values():
            d.close()
    return pages
