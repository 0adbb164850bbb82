"""What a report is: department, fiscal year, 决算/预算, 部门/单位, place, title.

Read from the report itself (cover lines, 部门：… preambles, table titles); the file
name (…_2023_juesuan, …_danwei_yusuan) is only a fallback.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

from assistant.models import Layout, RawTable, ReportMeta, TextLine

log = logging.getLogger(__name__)

_DEPT_LINE_RE = re.compile(
    r"^(?:部门|部门名称|编制部门|编制单位|预算主管部门|单位名称|预算单位)\s*[：:]\s*(?P<d>[^\s：:]{3,40})\s*$"
)
_TITLE_RE = re.compile(
    r"(?P<d>[\u4e00-\u9fff（）()“”]{3,40}?)\s*(?P<y>(?:19|20)\d{2})\s*年度?\s*(?P<lvl>区级|市级|省级|省)?\s*(?P<scope>部门|单位)?\s*(?P<k>决算|预算)"
)
_YEAR_KIND_RE = re.compile(r"(?P<y>(?:19|20)\d{2})\s*年度?\s*(?:区级|市级|省级)?\s*(?P<scope>部门|单位)?\s*(?P<k>决算|预算)")
_PLACES = [
    ("曲靖市", "云南省曲靖市"),
    ("云南省", "云南省"),
    ("上海市普陀区", "上海市普陀区"),
    ("普陀区", "上海市普陀区"),
    ("江苏省", "江苏省"),
]
_GENERIC = ("目录", "部门决算", "部门预算", "单位预算", "单位决算", "公开")


def _lines(layout: Layout, limit_pages: int = 3) -> list[TextLine]:
    out: list[TextLine] = []
    for b in layout.blocks:
        if isinstance(b, TextLine) and (b.page is None or b.page <= limit_pages):
            out.append(b)
    return out


def _clean(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _labelled_department(lines: list[str]) -> str:
    for s in lines:
        m = _DEPT_LINE_RE.match(s)
        if m:
            return m.group("d")
    return ""


def detect_meta(layout: Layout, files: list[Path], *, report_id: str, sha256: list[str]) -> ReportMeta:
    """Detect the report's metadata from its layout (cover, preambles, titles), the file name as fallback.

    Department, in order of trust: a labelled line on the cover (预算主管部门：…, 预算单位：…),
    the 部门：… preambles of the tables, the cover title (上海市普陀区财政局2024年度部门决算).
    """
    fname = " ".join(Path(f).stem for f in files)
    page1 = [_clean(t.text) for t in _lines(layout, 1) if _clean(t.text)]
    first = [_clean(t.text) for t in _lines(layout, 2) if _clean(t.text)]
    all_text = [_clean(t.text) for t in _lines(layout, 10**6) if _clean(t.text)]
    tables = [b for b in layout.blocks if isinstance(b, RawTable)]
    if not page1:  # the text form has no pages: its first lines are the cover
        page1 = all_text[:3]

    # the cover: its lines joined (a title may be broken over two or three lines)
    cover_lines = [x for x in page1[:5] if not _DEPT_LINE_RE.match(x)]
    cover = "".join(cover_lines)
    m = _TITLE_RE.search(cover)
    cover_dept = ""
    year: int | None = None
    kind: str | None = None
    scope = "部门"
    title = ""
    if m:
        cover_dept = re.sub(r"^(?:第[一二三四五]部分)", "", m.group("d"))
        if cover_dept in _GENERIC or cover_dept.endswith(("市", "区", "省")) and len(cover_dept) <= 6:
            cover_dept = ""
        year, kind = int(m.group("y")), m.group("k")
        scope = "单位" if m.group("scope") == "单位" else "部门"
        title = cover[: m.end()] + ("公开" if cover[m.end() : m.end() + 2] == "公开" else "")
    else:
        m2 = _YEAR_KIND_RE.search(cover)
        if m2:
            year, kind = int(m2.group("y")), m2.group("k")
            scope = "单位" if m2.group("scope") == "单位" else "部门"
            title = cover

    department = _labelled_department(page1[:8])
    if not department:
        c: Counter[str] = Counter()
        for t in tables:
            for p in t.preamble:
                mm = _DEPT_LINE_RE.match(_clean(p))
                if mm:
                    c[mm.group("d")] += 1
        if c:
            department = c.most_common(1)[0][0]
    if not department:
        department = cover_dept
    if not department:
        department = _labelled_department(all_text[:80])

    if year is None or kind is None:
        for s in first[:30] + all_text[:60] + [_clean(t.title) for t in tables]:
            m3 = _YEAR_KIND_RE.search(s)
            if m3:
                year = year or int(m3.group("y"))
                kind = kind or m3.group("k")
                if m3.group("scope") == "单位":
                    scope = "单位"
                break
    if kind is None:
        titles = " ".join(t.title for t in tables)
        kind = "决算" if ("决算" in titles or "juesuan" in fname) else "预算"
    if year is None:
        m4 = re.search(r"(?:^|_)((?:19|20)\d{2})(?:_|$)", fname)
        year = int(m4.group(1)) if m4 else 0
    if "danwei" in fname or any("单位预算" in s or "单位决算" in s for s in page1[:3]):
        scope = "单位"
    if not title and department and year:
        title = f"{department}{year}年度{'单位' if scope == '单位' else '部门'}{kind}"
    place = ""
    probe = department + " " + title + " " + " ".join(first[:10])
    for key, val in _PLACES:
        if key in probe:
            place = val
            break
    if not department:
        log.warning("%s: no department found in the report", report_id)
    return ReportMeta(
        report_id=report_id,
        department=department,
        year=int(year or 0),
        kind="决算" if kind == "决算" else "预算",
        scope="单位" if scope == "单位" else "部门",
        place=place,
        sources=[Path(f).name for f in files],
        sha256=list(sha256),
        pages=layout.page_count,
        title=title,
    )
