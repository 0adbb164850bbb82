"""Which files make one report: a narrative file and a tables file joined by the identity they print.

File names play no part. Each file is read once; its identity (department key, year, kind, scope)
and its role — ``tables`` (it holds the report's tables) or ``narrative`` (text only) — decide:
a narrative and a tables file of one identity are one report, whether they come in one ingest call or
in two (the second joins the stored half, read back from the index's kept copy of its PDF).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from assistant.glossary import table_kind
from assistant.models import Layout, RawTable, ReportIdentity, ReportMeta, TextLine

log = logging.getLogger(__name__)

NARRATIVE = "narrative"
TABLES = "tables"
MIN_TABLES = 3
"""A file with fewer budget tables than this is a narrative (a narrative may print one small table)."""


@dataclass
class FileRead:
    """One file as read: its layout, identity and role."""

    path: Path
    layout: Layout
    identity: ReportIdentity
    role: str
    sha256: str
    stored_report: str = ""
    """Set for a half read back from the index: the stored report's id it belongs to."""

    @property
    def key(self) -> tuple[str, int, str, str] | None:
        """(department key, year, kind, scope), or None while part of the identity is unread."""
        from assistant.ingest.meta import department_key

        i = self.identity
        if not (i.department and i.year and i.kind):
            return None
        return (department_key(i.department, i.place or ""), int(i.year), i.kind, i.scope or "部门")


    def compatible(self, other: FileRead) -> bool:
        """Same department (key), and year and kind equal wherever both files print them."""
        from assistant.ingest.meta import department_key

        a, b = self.identity, other.identity
        if not (a.department and b.department):
            return False
        if department_key(a.department, a.place or "") != department_key(b.department, b.place or ""):
            return False
        same = [(a.year, b.year), (a.kind, b.kind), (a.scope or "部门", b.scope or "部门")]
        return all(x is None or y is None or x == y for x, y in same)


@dataclass
class Group:
    """The files of one report, narrative first."""

    files: list[FileRead] = field(default_factory=list)
    report_id: str = ""


def file_role(layout: Layout) -> str:
    """``tables`` when the layout holds budget tables (titles of a known kind), else ``narrative``."""
    n = sum(1 for b in layout.blocks if isinstance(b, RawTable) and table_kind(b.title) != "other")
    return TABLES if n >= MIN_TABLES else NARRATIVE


def report_id_for_paths(paths: list[Path]) -> str:
    """The report id: the file stems' common start (…_2018_yusuan of …_text / …_tables), else the first stem."""
    stems = [Path(p).stem for p in paths]
    if len(stems) == 1:
        return stems[0]
    common = os.path.commonprefix(stems)
    cut = re.sub(r"[_\-\s.]+[^_\-\s.]*$", "", common) if common not in stems else common
    cut = cut.rstrip("_- .")
    return cut if len(cut) >= 4 else stems[0]


def pair_by_identity(reads: list[FileRead]) -> list[Group]:
    """Group files into reports: each narrative joins a tables file of the same identity (first come)."""
    groups: list[Group] = []
    open_half: dict[tuple[tuple[str, int, str, str], str], Group] = {}
    for r in reads:
        key = r.key
        other = NARRATIVE if r.role == TABLES else TABLES
        g = open_half.pop((key, other), None) if key is not None else None
        if g is not None:
            g.files.append(r)
            g.files.sort(key=lambda x: 0 if x.role == NARRATIVE else 1)
            continue
        g = Group(files=[r])
        groups.append(g)
        if key is not None:
            open_half.setdefault((key, r.role), g)
    _pair_partial(groups)
    for g in groups:
        stored = next((f.stored_report for f in g.files if f.stored_report), "")
        g.report_id = stored or report_id_for_paths([f.path for f in g.files])
    return groups


def _pair_partial(groups: list[Group]) -> None:
    """A half whose year or kind is unread joins the one other half of its department that agrees with it."""
    singles = [g for g in groups if len(g.files) == 1]
    for g in singles:
        r = g.files[0]
        if r.key is not None or len(g.files) != 1:
            continue
        other = TABLES if r.role == NARRATIVE else NARRATIVE
        cands = [h for h in singles if h is not g and len(h.files) == 1 and h.files[0].role == other and r.compatible(h.files[0])]
        if len(cands) != 1:
            continue
        h = cands[0]
        h.files.append(r)
        h.files.sort(key=lambda x: 0 if x.role == NARRATIVE else 1)
        g.files.clear()
    groups[:] = [g for g in groups if g.files]


def stored_reports(index_dir: Path) -> tuple[Path | None, list[ReportMeta]]:
    """The index folder and the reports live in it (``(None, [])`` when the index is empty)."""
    from assistant.store import live_reports

    reports = live_reports(Path(index_dir))
    return (Path(index_dir) if reports else None), reports


def stored_partner(
    r: FileRead, version: Path | None, reports: list[ReportMeta], workdir: Path
) -> tuple[ReportMeta, list[Path]] | None:
    """The stored report this file completes, and its other half materialized under its original name.

    A file joins a stored report of the same identity that lacks the file's role, or a stored report it
    already belongs to (the same file ingested again keeps its partner).
    """
    from assistant.ingest.meta import department_key

    if version is None or r.key is None:
        return None
    for m in reports:
        roles = m.source_roles or []
        if len(roles) != len(m.sources):
            continue
        same_file = r.sha256 in m.sha256
        if same_file:
            if len(m.sources) < 2:
                return None
        else:
            mkey = (m.department_key or department_key(m.department, m.place), m.year, m.kind, m.scope)
            if mkey != r.key or r.role in roles:
                continue
        partner: list[Path] = []
        for name, sha, role in zip(m.sources, m.sha256, roles, strict=False):
            if role == r.role:
                continue
            from assistant.store import kept_source

            src = kept_source(version, sha)
            if src is None:
                log.info("stored report %s matches %s but its %s file is not kept", m.report_id, r.path.name, role)
                break
            d = workdir / sha[:16]
            d.mkdir(parents=True, exist_ok=True)
            dest = d / name
            if not dest.exists():
                try:
                    os.link(src, dest)
                except OSError:
                    shutil.copyfile(src, dest)
            partner.append(dest)
        else:
            if partner:
                return m, partner
    return None


def merge_layouts(layouts: list[Layout]) -> Layout:
    """One layout of several files read separately, pages numbered on across files (narrative first)."""
    if len(layouts) == 1:
        return layouts[0]
    layouts = copy.deepcopy(layouts)  # the callers' layouts keep their own page numbers
    out = Layout(blocks=[], sources=[s for lay in layouts for s in lay.sources])
    offset = 0
    for lay in layouts:
        for b in lay.blocks:
            if isinstance(b, TextLine):
                if b.page is not None:
                    b.page += offset
            else:
                b.pages = [p + offset for p in b.pages]
                for row in b.rows:
                    for c in row:
                        if c.page is not None:
                            c.page += offset
            out.blocks.append(b)
        for p, size in lay.page_sizes.items():
            out.page_sizes[p + offset] = size
        name = lay.sources[0] if lay.sources else ""
        fp = lay.file_pages or {p: (name, p) for p in range(1, lay.page_count + 1)}
        for p, where in fp.items():
            out.file_pages[p + offset] = where
        offset += lay.page_count
    out.page_count = offset
    return out


def layout_chars(layout: Layout) -> int:
    """Characters read (text lines and cells), for the timings line."""
    n = 0
    for b in layout.blocks:
        if isinstance(b, TextLine):
            n += len(b.text)
        else:
            n += sum(len(c.text) for row in b.rows for c in row)
    return n
