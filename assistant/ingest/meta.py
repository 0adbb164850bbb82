"""What a report is: department, fiscal year, 决算/预算, 部门/单位, place, title — read from its content.

Evidence, in order of trust:

1. labelled lines (部门：…, 单位名称：…, 预算单位：…, 预算主管部门：…, 编制部门：…) on the cover and in the
   tables' preambles, a name broken over two lines rejoined (部门名称：浙江省高级人民法 / 院);
2. the cover: its first lines joined (a title may be broken anywhere, in any order: department first
   or year first), with the year, level and kind words taken out — what is left is the department;
3. table titles that name the department (湖南省高级人民法院2021年收支预算总表);
4. the narrative's own sentences (杭州市民政局2023年度无政府性基金…);
5. the file name, only when nothing printed says it.

The place comes from the national division list (:mod:`assistant.places`), the department key from
:func:`assistant.orgnames.canonical_key`, so one department printed two ways in two years shares one key.
When department, year or kind cannot be read the caller refuses the report (see
:func:`missing_identity`); an :class:`~assistant.models.ReportIdentity` given by the user overrides.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from assistant.models import Layout, RawTable, ReportIdentity, ReportMeta, TextLine
from assistant.orgnames import canonical_key
from assistant.places import find_places, place_of

log = logging.getLogger(__name__)

_YEAR = r"(?:19|20)\d{2}"
_LABEL_RE = re.compile(
    r"^(?:预算主管部门|主管部门|编制部门|编制单位|填报单位|报送单位|部门名称|单位名称|预算单位|预算部门|部门|单位)[：:](?P<d>.*)$"
)
_DEPT_LABEL_RE = re.compile(r"^(?:预算主管部门|主管部门|编制部门|部门名称|预算部门|部门)[：:]")
_UNIT_VALUE_RE = re.compile(r"^(?:亿元|万元|千元|元|人|个|%)")
_CUT_RE = re.compile(r"(?:金额)?单位[：:].*$|(?:19|20)\d{2}年\d{1,2}月.*$")
# level words a title puts between the year and the kind (区级, 省级, 乡镇 …)
_LEVEL = r"(?:省级|市级|区级|县级|州级|乡镇|镇级|乡级|本级)"
_KIND_PHRASE_RE = re.compile(
    rf"(?:年度)?{_LEVEL}?(?:部门|单位)?(?:预算|决算)(?:及绩效目标|和绩效目标)?(?:公开|信息公开)?(?:报表|报告|说明|情况说明|表)?"
)
_YEAR_PHRASE_RE = re.compile(rf"(?P<y>{_YEAR})\s*年?度?")
_COVER_KIND_RE = re.compile(rf"(?:{_YEAR}\s*年?度?)?\s*{_LEVEL}?(?P<scope>部门|单位)?(?P<k>预算|决算)")
_TITLE_KIND_RE = re.compile(r"(?P<k>预算|决算)(?:总表|明细表|情况表|表)")
_YEAR_NEAR_KIND_RE = re.compile(rf"(?P<y>{_YEAR})\s*年度?\s*{_LEVEL}?(?:部门|单位)?(?P<k>预算|决算)")
_ANY_YEAR_RE = re.compile(rf"(?<!\d)(?P<y>{_YEAR})\s*年")
_FILE_YEAR_RE = re.compile(rf"(?<!\d)({_YEAR})(?!\d)")
# an organisation's name ends in a word that says what kind of body it is
_ORG_SUFFIX = (
    "办事处", "委员会", "办公厅", "办公室", "人民法院", "人民检察院", "人民政府", "常委会", "政府", "医院", "卫生院",
    "学校", "中学", "小学", "大学", "学院", "幼儿园", "中心", "研究院", "研究所", "管理处", "管理局", "总队", "支队",
    "大队", "局", "厅", "委", "办", "部", "院", "处", "所", "站", "馆", "会", "社", "队", "团", "台", "镇", "乡",
    "街道", "公司", "室", "署", "庭", "场", "园", "校",
)
_ORG_SUFFIX_RE = "|".join(map(re.escape, _ORG_SUFFIX))
_NAMED_BEFORE_YEAR_RE = re.compile(rf"(?P<d>[\u4e00-\u9fff（）()]{{2,40}}?(?:{_ORG_SUFFIX_RE})(?:[（(]本级[）)])?)\s*(?P<y>{_YEAR})\s*年")
_GENERIC = {
    "目录", "公开", "部门", "单位", "本部门", "本单位", "我单位", "我部门", "省级", "市级", "区级", "县级", "乡镇", "本级",
    "预算", "决算", "附件", "附表", "报表", "部门预算", "部门决算", "单位预算", "单位决算", "财政厅印制", "财政局印制",
}
_NOT_A_NAME_RE = re.compile(r"[，。、；：:！？,;!?《》“”\"'…·\d]|第[一二三四五六七八九十]部分|目录|表$|情况$|说明$|印制$")
_PAGENUM_RE = re.compile(r"^[-—–－\s]*\d{1,3}[-—–－\s]*$")
_FILE_KIND = (("juesuan", "决算"), ("yusuan", "预算"), ("决算", "决算"), ("预算", "预算"))


_CN_DIGITS = str.maketrans("〇零○一二三四五六七八九０１２３４５６７８９", "0001234567890123456789")
_CN_YEAR_RE = re.compile(r"[〇零○一二三四五六七八九]{4}(?=\s*年)|[０-９]{4}")


def _clean(s: str) -> str:
    """Without spaces; a year printed in Chinese numerals or full-width digits (二〇二四年, ２０２４) as digits."""
    s = re.sub(r"\s+", "", s or "")
    return _CN_YEAR_RE.sub(lambda m: m.group().translate(_CN_DIGITS), s)


def _text_lines(layout: Layout, max_page: int | None = None) -> list[TextLine]:
    return [
        b for b in layout.blocks if isinstance(b, TextLine) and (max_page is None or b.page is None or b.page <= max_page)
    ]


def _cover_lines(layout: Layout) -> list[str]:
    """The first page's lines (the text form has no pages: its first lines), up to a 目录 line."""
    lines = [_clean(t.text) for t in _text_lines(layout, 1)]
    lines = [s for s in lines if s and not _PAGENUM_RE.match(s)]
    if layout.page_count == 0:
        lines = lines[:6]
    out: list[str] = []
    for s in lines[:10]:
        if s.startswith("目录") or re.match(r"^第[一二三四五六七八九十]部分", s):
            break
        out.append(s)
    return out


def is_valid_name(name: str) -> bool:
    """A department name: 3–40 characters, no punctuation or figures, not a place alone or a generic word."""
    n = _clean(name)
    if not (3 <= len(n) <= 40) or n in _GENERIC or _NOT_A_NAME_RE.search(n):
        return False
    if not re.fullmatch(r"[\u4e00-\u9fff（）()]+", n):
        return False
    places = find_places(n)
    covered = sum(m.end - m.start for m in places)
    if places and covered >= len(n):
        return False  # 湖南省, 北京市海淀区: a place, not a department
    return not re.fullmatch(rf"(?:{_LEVEL}|部门|单位|公开|预算|决算|[省市区县])+", n)


def _has_org_suffix(name: str) -> bool:
    return bool(re.search(rf"(?:{_ORG_SUFFIX_RE})(?:[（(]本级[）)])?$", name))


def _label_value(line: str) -> str:
    m = _LABEL_RE.match(_clean(line))
    if not m:
        return ""
    v = _CUT_RE.sub("", m.group("d"))
    return "" if not v or _UNIT_VALUE_RE.match(v) else v


def _labelled_names(lines: Iterable[str], *, department_labels_only: bool = False) -> list[str]:
    """Department names from labelled lines; a name broken over two lines is rejoined with the next line.

    ``department_labels_only``: only 部门：/部门名称：/预算主管部门：/编制部门： lines (a 部门 report's
    performance tables may name a subordinate unit under 单位名称：).
    """
    seq = [_clean(s) for s in lines if _clean(s)]
    out: list[str] = []
    for i, s in enumerate(seq):
        if department_labels_only and not _DEPT_LABEL_RE.match(s):
            continue
        v = _label_value(s)
        if not v:
            continue
        nxt = seq[i + 1] if i + 1 < len(seq) else ""
        # 部门名称：浙江省高级人民法 / 院 — a short continuation that completes an organisation name
        if nxt and not _has_org_suffix(v) and len(nxt) <= 8 and not _LABEL_RE.match(nxt) and _has_org_suffix(v + nxt):
            v = v + nxt
        if is_valid_name(v):
            out.append(v)
    return out


def _best_name(names: list[str]) -> str:
    """The most frequent name; a name that is the start of a longer one counts for the longer (a cut line)."""
    if not names:
        return ""
    c = Counter(names)
    full = [n for n in c if not any(o != n and o.startswith(n) for o in c)]
    score = {n: sum(v for o, v in c.items() if n.startswith(o)) for n in full}
    return max(full, key=lambda n: (score[n], _has_org_suffix(n), len(n)))


def _cover_name(cover: str) -> str:
    """The department left on the cover once years, levels and kind words are taken out (any order)."""
    rest = _YEAR_PHRASE_RE.sub("\n", cover)
    rest = _KIND_PHRASE_RE.sub("\n", rest)
    parts = [p for p in rest.split("\n") if p]
    names = [p for p in parts if is_valid_name(p)]
    with_suffix = [p for p in names if _has_org_suffix(p)]
    return (with_suffix or names or [""])[0]


def _named_before_year(lines: Iterable[str]) -> list[str]:
    """Names printed right before a year in titles and sentences (浙江省政协办公厅2017年度…)."""
    out: list[str] = []
    for s in lines:
        for m in _NAMED_BEFORE_YEAR_RE.finditer(_clean(s)):
            d = m.group("d")
            # a sentence's leading words (根据, 注) before the place
            ps = find_places(d)
            if ps and ps[0].start > 0:
                lead = re.match(r"(?:中国共产党|中共)", d[ps[0].start - 2 :] if ps[0].start >= 2 else "")
                d = d[ps[0].start - (len(lead.group()) if lead else 0) :]
            if is_valid_name(d) and _has_org_suffix(d):
                out.append(d)
    return out


def _kind_and_scope(cover: str, titles: list[str], text: list[str]) -> tuple[str | None, str | None]:
    kind: str | None = None
    scope: str | None = None
    # a bare 预算 inside 一般公共预算、… says nothing: the cover's kind comes with a year or 部门/单位 before
    # it, or ends the title (…人民法院预算公开, …决算报告)
    m = next(
        (
            mm
            for mm in _COVER_KIND_RE.finditer(cover)
            if len(mm.group(0)) > 2 or re.match(r"(?:公开|报告|情况|说明|[（(]|$)", cover[mm.end() :])
        ),
        None,
    )
    if m:
        kind = m.group("k")
        scope = "单位" if m.group("scope") == "单位" else None
    if kind is None:
        votes = Counter(mm.group("k") for t in titles for mm in _TITLE_KIND_RE.finditer(t))
        if votes:
            # a final-accounts table may say 预算 in its name (一般公共预算财政拨款…决算表); 决算 decides
            kind = "决算" if votes["决算"] else "预算"
    if kind is None:
        votes = Counter(mm.group("k") for s in text for mm in _YEAR_NEAR_KIND_RE.finditer(s))
        if votes:
            kind = votes.most_common(1)[0][0]
    if scope is None:
        unit_titles = sum(1 for t in titles if "预算单位" in t or "单位预算" in t or "单位决算" in t)
        if titles and unit_titles * 2 > len(titles):
            scope = "单位"
    return kind, scope


def _year(cover: str, titles: list[str], text: list[str]) -> int | None:
    m = _YEAR_NEAR_KIND_RE.search(cover) or _ANY_YEAR_RE.search(cover)
    if m:
        return int(m.group("y"))
    if m2 := re.match(rf"({_YEAR})(?!\d)", cover):  # a cover that prints the year alone: 2024 / 北京市…
        return int(m2.group(1))
    for pool, rx in ((titles, _YEAR_NEAR_KIND_RE), (text, _YEAR_NEAR_KIND_RE), (titles, _ANY_YEAR_RE), (text, _ANY_YEAR_RE)):
        c = Counter(int(mm.group("y")) for s in pool for mm in rx.finditer(s))
        if c:
            return c.most_common(1)[0][0]
    return None


def _from_file_name(files: list[Path]) -> tuple[str, int | None, str | None, str | None]:
    """Last resort: department, year, kind, scope from the file names, whatever their form."""
    stems = [Path(f).stem for f in files]
    dept = ""
    for s in stems:
        dept = _cover_name(_clean(re.sub(r"[_\-.]", " ", s))) or next(iter(_named_before_year([s])), "")
        if dept:
            break
    year = next((int(m.group(1)) for s in stems for m in [_FILE_YEAR_RE.search(s)] if m), None)
    low = " ".join(stems).lower()
    kind = next((k for w, k in _FILE_KIND if w in low), None)
    scope = "单位" if ("danwei" in low or "单位预算" in low or "单位决算" in low) else None
    return dept, year, kind, scope


def read_identity(layout: Layout, files: list[Path], given: ReportIdentity | None = None) -> ReportIdentity:
    """Department, year, kind, scope and place as the report prints them; ``given`` (from the user) overrides.

    A field nothing printed says (nor the file name) stays None: :func:`missing_identity` names it.
    """
    cover_lines = _cover_lines(layout)
    cover = "".join(s for s in cover_lines if not _LABEL_RE.match(s))
    tables = [b for b in layout.blocks if isinstance(b, RawTable)]
    titles = [_clean(t.title) for t in tables if t.title]
    first_text = [_clean(t.text) for t in _text_lines(layout, 3)][:200]
    all_text = [_clean(t.text) for t in _text_lines(layout)]
    notes = [_clean(n) for t in tables for n in t.notes]

    preambles = [p for t in tables for p in t.preamble]
    dept_labelled = _labelled_names(cover_lines, department_labels_only=True) + _labelled_names(
        preambles, department_labels_only=True
    )
    labelled = _labelled_names(cover_lines) + _labelled_names(preambles)
    department = (
        _best_name(dept_labelled)
        or _best_name(labelled)
        or _cover_name(cover)
        or _best_name(_named_before_year(titles))
        or _best_name(_named_before_year(first_text + notes + all_text[:400]))
        or _best_name(_labelled_names(all_text[:400]))
    )
    kind, scope = _kind_and_scope(cover, titles, first_text + notes + all_text)
    year = _year(cover, titles, first_text + notes + all_text)

    f_dept, f_year, f_kind, f_scope = _from_file_name(files)
    used_file = [n for n, mine, theirs in (("department", department, f_dept), ("year", year, f_year), ("kind", kind, f_kind)) if not mine and theirs]
    if used_file:
        log.info("%s: %s taken from the file name", ", ".join(Path(f).name for f in files), ", ".join(used_file))
    department = department or f_dept
    year = year or f_year
    kind = kind or f_kind
    scope = scope or f_scope

    if given is not None:
        department = given.department or department
        year = given.year or year
        kind = given.kind or kind
        scope = given.scope or scope

    place = place_of(department) if department else ""
    if not place:
        leading = [m for s in cover_lines[:4] + titles[:3] for m in find_places(s)[:1]]
        if leading:
            best = max(leading, key=lambda m: m.division.level)
            place = place_of(best.text) or best.text
    return ReportIdentity(
        department=department or None,
        year=year,
        kind=kind if kind in ("决算", "预算") else None,  # type: ignore[arg-type]
        scope="单位" if scope == "单位" else "部门",
        place=place,
        title=_title(cover, department, year, kind, "单位" if scope == "单位" else "部门"),
    )


def detect_meta(
    layout: Layout,
    files: list[Path],
    *,
    report_id: str,
    sha256: list[str],
    identity: ReportIdentity | None = None,
) -> ReportMeta:
    """The report's metadata from what it prints (see :func:`read_identity`); ``identity`` overrides.

    Unread fields come out empty / 0 here; ingestion refuses such a report (:func:`missing_identity`).
    """
    ident = read_identity(layout, files, identity)
    return ReportMeta(
        report_id=report_id,
        department=ident.department or "",
        department_key=department_key(ident.department or "", ident.place or ""),
        year=int(ident.year or 0),
        kind="决算" if ident.kind == "决算" else "预算",
        scope="单位" if ident.scope == "单位" else "部门",
        place=ident.place or "",
        sources=[Path(f).name for f in files],
        sha256=list(sha256),
        pages=layout.page_count,
        title=ident.title or "",
    )


def department_key(department: str, place: str = "") -> str:
    """One key for every printed variant of a department (completed with the report's place when it prints none)."""
    if not department:
        return ""
    key = canonical_key(department)
    if key.startswith("|") and place:
        key = canonical_key(place + department)
    return key


def _title(cover: str, department: str, year: int | None, kind: str | None, scope: str) -> str:
    m = _YEAR_NEAR_KIND_RE.search(cover)
    if m and len(cover) <= 60:
        end = m.end() + (2 if cover[m.end() : m.end() + 2] == "公开" else 0)
        return cover[:end]
    if department and year and kind:
        return f"{department}{year}年度{scope}{kind}"
    return ""


def missing_identity(ident: ReportIdentity) -> list[str]:
    """The identity fields the report does not say (and nobody gave): department, year, kind."""
    return [n for n in ("department", "year", "kind") if not getattr(ident, n)]
