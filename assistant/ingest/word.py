"""Word reader (``.docx`` through python-docx; old ``.doc`` converted by LibreOffice first).

Body paragraphs and tables are read in document order. Table cells keep their merges:
``w:gridSpan`` → colspan, ``w:vMerge`` (restart … continue) → rowspan. Paragraphs become
running text; a paragraph whose style is a heading (Heading 1…, 标题 1…, or an outline
level) becomes a heading line for ``narrative.py``. Each cell carries its reference
``表2!R5C3`` (table 2 of the document, row 5, grid column 3) for citations.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from assistant.errors import BadReportError
from assistant.ingest.grids import Para, SpanCell, SpanGrid, assemble
from assistant.models import Layout

log = logging.getLogger(__name__)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING_RE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)
CONVERT_TIMEOUT = 180


class DocConverterMissingError(BadReportError):
    def __init__(self, path: str) -> None:
        super().__init__(
            path,
            "an old Word .doc file needs LibreOffice to convert it (apt-get install libreoffice-writer-nogui, "
            "or save the file as .docx in Word) and `libreoffice` was not found on PATH",
        )


def _texts(el: object) -> str:
    return "".join(t.text or "" for t in el.iter(f"{_W}t"))  # type: ignore[attr-defined]


def _para_text(p: object) -> str:
    parts: list[str] = []
    for node in p.iter():  # type: ignore[attr-defined]
        tag = node.tag
        if tag == f"{_W}t":
            parts.append(node.text or "")
        elif tag in (f"{_W}tab",):
            parts.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts)


def _val(el: object | None, name: str) -> str | None:
    if el is None:
        return None
    return el.get(f"{_W}{name}")  # type: ignore[attr-defined]


def _table_grid(tbl: object, number: int) -> SpanGrid:
    """One ``w:tbl`` → rows of cells with spans; vMerge continuations extend the cell above."""
    rows: list[list[dict]] = []
    for r, tr in enumerate(tbl.iterfind(f"{_W}tr")):  # type: ignore[attr-defined]
        col = 0
        row: list[dict] = []
        trpr = tr.find(f"{_W}trPr")
        before = trpr.find(f"{_W}gridBefore") if trpr is not None else None
        if before is not None:
            n = int(_val(before, "val") or 0)
            if n:
                row.append({"col": 0, "span": n, "text": "", "vm": None, "rowspan": 1, "r": r})
                col += n
        for tc in tr.iterfind(f"{_W}tc"):
            pr = tc.find(f"{_W}tcPr")
            gs = pr.find(f"{_W}gridSpan") if pr is not None else None
            vm = pr.find(f"{_W}vMerge") if pr is not None else None
            span = int(_val(gs, "val") or 1) if gs is not None else 1
            state = None if vm is None else (_val(vm, "val") or "continue")
            text = "\n".join(_para_text(p) for p in tc.iterfind(f"{_W}p")).strip()
            row.append({"col": col, "span": span, "text": text, "vm": state, "rowspan": 1, "r": r})
            col += span
        rows.append(row)
    # vertical merges: a continuation cell adds a row to the nearest cell above starting at its column
    for r, row in enumerate(rows):
        for cell in row:
            if cell["vm"] != "continue":
                continue
            for rr in range(r - 1, -1, -1):
                origin = next((c for c in rows[rr] if c["col"] == cell["col"] and c["vm"] != "continue"), None)
                if origin is not None:
                    origin["rowspan"] = r - rr + 1
                    break
                if not any(c["col"] == cell["col"] for c in rows[rr]):
                    break
    out = [
        [
            SpanCell(c["text"], colspan=c["span"], rowspan=c["rowspan"], ref=f"表{number}!R{r + 1}C{c['col'] + 1}")
            for c in row
            if c["vm"] != "continue"
        ]
        for r, row in enumerate(rows)
    ]
    return SpanGrid(rows=out)


def _heading_level(par: object) -> int:
    """Heading level from the paragraph's style (Heading N / 标题 N) or its outline level; 0 for body text."""
    try:
        style = par.style  # type: ignore[attr-defined]
    except Exception:  # a style id missing from styles.xml
        style = None
    while style is not None:
        m = _HEADING_RE.match((style.name or "").strip())
        if m:
            return int(m.group(1))
        if (style.name or "").lower() == "title":
            return 1
        style = style.base_style
    ppr = par._p.pPr  # type: ignore[attr-defined]
    lvl = ppr.find(f"{_W}outlineLvl") if ppr is not None else None
    if lvl is not None:
        v = int(_val(lvl, "val") or 9)
        if v < 9:
            return v + 1
    return 0


def _is_bold(par: object) -> bool:
    runs = [r for r in par.runs if r.text.strip()]  # type: ignore[attr-defined]
    return bool(runs) and all(r.bold for r in runs)


def _convert_doc(path: Path, outdir: Path) -> Path:
    exe = shutil.which("libreoffice") or shutil.which("soffice")
    if not exe:
        raise DocConverterMissingError(str(path))
    cmd = [
        exe,
        "--headless",
        "--norestore",
        f"-env:UserInstallation=file://{outdir}/profile",
        "--convert-to",
        "docx",
        "--outdir",
        str(outdir),
        str(path),
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=CONVERT_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise BadReportError(
            str(path), f"LibreOffice could not convert the .doc file ({e}); save it as .docx and ingest that"
        ) from e
    out = outdir / (path.stem + ".docx")
    if not out.exists():
        raise BadReportError(str(path), "LibreOffice did not produce a .docx; save the file as .docx and ingest that")
    return out


def read_word(path: Path) -> Layout:
    """Read a Word document (.docx, or .doc through LibreOffice) into a Layout."""
    path = Path(path)
    if path.suffix.lower() == ".doc":
        with tempfile.TemporaryDirectory(prefix="fiscalqa-doc-") as tmp:
            layout = _read_docx(_convert_doc(path, Path(tmp)))
        layout.sources = [path.name]
        return layout
    return _read_docx(path)


def _read_docx(path: Path) -> Layout:
    import docx
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(str(path))
    except Exception as e:  # PackageNotFoundError, BadZipFile, KeyError
        raise BadReportError(str(path), f"not a readable Word .docx file ({type(e).__name__}: {e})") from e
    items: list[Para | SpanGrid] = []
    ntab = 0
    for el in doc.element.body.iterchildren():
        if el.tag == f"{_W}p":
            par = Paragraph(el, doc)
            for line in _para_text(el).split("\n"):
                if line.strip():
                    items.append(Para(line.replace("\t", " ").strip(), level=_heading_level(par), bold=_is_bold(par)))
        elif el.tag == f"{_W}tbl":
            ntab += 1
            items.append(_table_grid(el, ntab))
    return assemble(items, path.name)
