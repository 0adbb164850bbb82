"""HTML reader: a page saved from a department's or finance bureau's site (beautifulsoup4 + lxml).

Tables keep their ``rowspan``/``colspan``; a table that holds other tables is page layout
and is read through. ``<h1>``–``<h6>`` become heading lines, other blocks running text;
the page's own ``<title>`` comes first (it names the department and year). The encoding
is taken from the file (``<meta charset>``), falling back to UTF-8 and GB18030. Cells carry
the reference ``表2!R5C3`` (table 2 of the page, row 5, grid column 3).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from assistant.errors import BadReportError
from assistant.ingest.grids import Para, SpanCell, SpanGrid, assemble
from assistant.models import Layout

log = logging.getLogger(__name__)

_SKIP = {"script", "style", "noscript", "head", "template", "svg", "button", "select", "option", "iframe"}
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "pre",
    "form",
    "center",
    "body",
    "html",
}
_HEADING_RE = re.compile(r"^h([1-6])$")


def _int(v: object, default: int = 1) -> int:
    try:
        n = int(str(v).strip().rstrip(";"))
    except (TypeError, ValueError):
        return default
    return max(1, min(n, 1000))


def _text(el: object) -> str:
    """Text of an element with <br> as line breaks, runs of whitespace collapsed."""
    from bs4 import NavigableString

    parts: list[str] = []
    for node in el.descendants:  # type: ignore[attr-defined]
        if isinstance(node, NavigableString):
            if node.parent is not None and node.parent.name in _SKIP:
                continue
            if type(node).__name__ in ("Comment", "Doctype", "Declaration", "ProcessingInstruction"):
                continue
            parts.append(str(node))
        elif getattr(node, "name", None) == "br":
            parts.append("\n")
    lines = [" ".join(x.split()) for x in "".join(parts).split("\n")]
    return "\n".join(x for x in lines if x)


def _table_grid(tbl: object, number: int) -> SpanGrid:
    rows: list[list[SpanCell]] = []
    for r, tr in enumerate(_rows(tbl)):
        cells = [c for c in tr.find_all(["td", "th"], recursive=False)]  # type: ignore[attr-defined]
        rows.append(
            [
                SpanCell(
                    _text(c).replace("\n", " "),
                    colspan=_int(c.get("colspan")),
                    rowspan=_int(c.get("rowspan")),
                    ref=f"表{number}!R{r + 1}C{k + 1}",
                )
                for k, c in enumerate(cells)
            ]
        )
    # the reference names the grid column, not the k-th cell: recompute after placing spans
    _grid_refs(rows, number)
    caption = tbl.find("caption", recursive=False)  # type: ignore[attr-defined]
    return SpanGrid(rows=rows, head=[_text(caption)] if caption is not None and _text(caption) else [])


def _grid_refs(rows: list[list[SpanCell]], number: int) -> None:
    occupied: set[tuple[int, int]] = set()
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in occupied:
                c += 1
            cell.ref = f"表{number}!R{r + 1}C{c + 1}"
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    occupied.add((r + dr, c + dc))
            c += cell.colspan


def _rows(tbl: object) -> list[object]:
    """The table's own rows (thead/tbody/tfoot included, nested tables excluded)."""
    out: list[object] = []
    for child in tbl.children:  # type: ignore[attr-defined]
        name = getattr(child, "name", None)
        if name == "tr":
            out.append(child)
        elif name in ("thead", "tbody", "tfoot"):
            out.extend(child.find_all("tr", recursive=False))
    return out


def _walk(el: object, items: list[Para | SpanGrid], counter: list[int]) -> None:
    from bs4 import NavigableString, Tag

    inline: list[str] = []

    def flush() -> None:
        t = " ".join("".join(inline).split())
        inline.clear()
        if t:
            items.append(Para(t))

    for node in el.children:  # type: ignore[attr-defined]
        if isinstance(node, NavigableString):
            if type(node).__name__ == "NavigableString":
                inline.append(str(node))
            continue
        if not isinstance(node, Tag) or node.name in _SKIP:
            continue
        name = node.name
        if name == "br":
            flush()
            continue
        if name == "table":
            flush()
            if node.find("table") is not None:  # a layout table: read its cells as the page
                for tr in _rows(node):
                    for cell in tr.find_all(["td", "th"], recursive=False):  # type: ignore[attr-defined]
                        _walk(cell, items, counter)
            else:
                counter[0] += 1
                items.append(_table_grid(node, counter[0]))
            continue
        m = _HEADING_RE.match(name)
        if m:
            flush()
            for line in _text(node).split("\n"):
                items.append(Para(line, level=int(m.group(1))))
            continue
        if name in _BLOCKS or node.find(list(_BLOCKS)) is not None:
            flush()
            _walk(node, items, counter)
            flush()
            continue
        inline.append(_text(node).replace("\n", " "))
    flush()


def _decode(path: Path) -> str:
    data = path.read_bytes()
    head = data[:4096].decode("ascii", errors="ignore")
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_-]+)", head, re.I)
    encs = ([m.group(1)] if m else []) + ["utf-8-sig", "gb18030"]
    for enc in encs:
        try:
            return data.decode("gb18030" if enc.lower() in ("gb2312", "gbk") else enc)
        except (UnicodeDecodeError, LookupError):
            continue
    raise BadReportError(str(path), "the HTML file is neither in its declared encoding, UTF-8 nor GB18030")


def read_html(path: Path) -> Layout:
    """Read a saved HTML page into a Layout: its title, headings, text and tables."""
    from bs4 import BeautifulSoup

    path = Path(path)
    soup = BeautifulSoup(_decode(path), "lxml")
    items: list[Para | SpanGrid] = []
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    body = soup.body or soup
    first_h1 = body.find("h1")
    if title and not (first_h1 is not None and " ".join(first_h1.get_text().split()) == title):
        items.append(Para(title, level=1))
    _walk(body, items, [0])
    return assemble(items, path.name)
