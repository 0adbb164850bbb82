"""Read the tab-separated plain-text form of a report (the bundled sample) into a ``Layout``.

The text form prints each table as a block of tab-separated lines, preceded by its
title, its number (公开01表), the 部门/单位 lines, and followed by its notes (注：…).
Everything else is running text. There are no pages, boxes or merged-cell spans:
the interpreter (``tables.py``) recovers the header structure.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from assistant.errors import EmptyFileError, NotAPdfError
from assistant.models import Layout, RawCell, RawTable, TextLine

log = logging.getLogger(__name__)

_NUMBER_RE = re.compile(r"^(公开\s*\d+\s*表|表\s*\d+|预算\s*\d+\s*表|附表\s*\d+)$")
_UNIT_RE = re.compile(r"^(金额)?单位[：:]\s*(?P<unit>万元|元|亿元|千元)")
_PREAMBLE_RE = re.compile(r"^(部门|部门名称|单位名称|编制部门|预算主管部门)[：:]")
_NOTE_START_RE = re.compile(r"^\s*(注|备注|说明)\s*[0-9０-９]*\s*[：:]")
_NOTE_CONT_RE = re.compile(r"^\s*([0-9０-９]+\s*[.、．]|[-•·]\s)")
_TITLE_HINT_RE = re.compile(r"(表|情况|明细)\s*$")


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise EmptyFileError(str(path))
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise NotAPdfError(str(path), "the text file is neither UTF-8 nor GB18030")


def _grid(lines: list[str]) -> list[list[RawCell]]:
    rows = [line.split("\t") for line in lines]
    width = max(len(r) for r in rows)
    return [[RawCell(c.strip()) for c in r] + [RawCell("") for _ in range(width - len(r))] for r in rows]


def read_text(path: Path) -> Layout:
    """Read a tab-separated text report. Tables become ``RawTable`` blocks, other lines ``TextLine``."""
    path = Path(path)
    lines = _decode(path).splitlines()
    blocks: list[RawTable | TextLine] = []
    pending: list[str] = []  # non-table lines since the last table
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i].rstrip("\r")
        if "\t" not in line:
            if line.strip():
                pending.append(line.strip())
            i += 1
            continue
        # a table block: consecutive lines holding tabs
        j = i
        while j < n and "\t" in lines[j]:
            j += 1
        table = RawTable(rows=_grid([x.rstrip("\r") for x in lines[i:j]]))
        _take_heading(pending, table)
        for p in pending:
            blocks.append(TextLine(p))
        pending = []
        # notes under the table
        k = j
        in_notes = False
        while k < n:
            s = lines[k].strip()
            if not s:
                k += 1
                continue
            if "\t" in lines[k]:
                break
            if _NOTE_START_RE.match(s) or (in_notes and _NOTE_CONT_RE.match(lines[k])):
                if not re.fullmatch(r"(备注|注)\s*[：:]", s):
                    table.notes.append(s)
                in_notes = True
                k += 1
                continue
            break
        blocks.append(table)
        i = k
    for p in pending:
        blocks.append(TextLine(p))
    return Layout(blocks=blocks, sources=[path.name], page_count=0)


def _take_heading(pending: list[str], table: RawTable) -> None:
    """Move the title, number, unit and preamble lines from the end of ``pending`` onto ``table``."""
    taken: list[str] = []
    while pending:
        s = pending[-1]
        if _NUMBER_RE.match(s.replace(" ", "")) and not table.number:
            table.number = re.sub(r"\s+", "", s)
        elif m := _UNIT_RE.match(s.replace(" ", "")):
            table.unit = table.unit or m.group("unit")
            taken.append(s)
        elif _PREAMBLE_RE.match(s):
            taken.append(s)
        elif not table.title and (_TITLE_HINT_RE.search(s) or len(s) <= 40):
            table.title = s
            pending.pop()
            break
        else:
            break
        pending.pop()
    table.preamble = list(reversed(taken))
