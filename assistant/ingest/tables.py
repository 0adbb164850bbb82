"""Interpret table grids (from ``pdf.py`` or ``text.py``) into facts: one per non-empty value cell.

Shared by both readers. Steps per table:

1. the kind from the title (``glossary.table_kind``; the title decides, not the number);
2. header rows → a column path per grid column (stacked labels joined with " › ",
   column-number rows such as 栏次 1 2 3 ignored);
3. column roles in the body: code (类/款/项 or 科目编码), label, 行次, value; side-by-side
   layouts split into (code, label, values) groups, each with its own row label;
4. one ``Fact`` per non-empty value cell: exact ``Decimal``, unit as published, 万元 value.

Performance self-evaluation tables (indicator forms) have their own interpreter.
Afterwards names missing in one table are filled from another table of the same report
with the same code (sample 公开02表 has an empty 科目名称 column).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from assistant.glossary import table_kind
from assistant.models import COLUMN_SEP, Fact, Layout, RawCell, RawTable, ReportMeta, TableInfo, TextLine

log = logging.getLogger(__name__)

MONEY_UNITS = {"万元": Decimal(1), "元": Decimal("0.0001"), "亿元": Decimal(10000), "千元": Decimal("0.1")}
NA_TEXTS = {"—", "-", "－", "–", "——", "--", "－－", "—-", "/", "／", "―", "─", "－－－", "———"}
_NUM_RE = re.compile(r"^[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$")
_CODE_RE = re.compile(r"^\d{3}(?:\d{2}){0,2}$")
_CODE_PART_RE = re.compile(r"^\d{2,3}$")
_CODE_LABEL_RE = re.compile(r"^(?P<code>[1-9]\d{2}(?:\d{2}){0,2})\s*(?P<label>[^\d\s].*)$")
_INT_RE = re.compile(r"^\d{1,3}$")
_CJK_SPACE_RE = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")
_ORDINAL_RE = re.compile(r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|\d+[.、．]\s*\S)")
_UNIT_IN_LABEL_RE = re.compile(r"[（(](个|人|辆|次|人次|批次|台|套|家|项|户|%|万元|元|亿元|平方米|篇|条|场|册)[)）]\s*$")
_UNIT_IN_HEADER_RE = re.compile(r"[（(](万元|元|亿元|%|分)[)）]")

# header labels that are not part of a column path
IGNORED_HEADER = {"栏次", "行次", "类", "款", "项", "甲", "乙", "丙", "丁", "序号", "栏", "次"}
CODE_HEADER_HINTS = ("编码", "科目代码", "代码")
LABEL_HEADER_HINTS = ("科目名称", "项目", "名称", "项目名称", "功能科目名称", "经济科目名称")
TOTAL_LABELS = ("合计", "总计", "小计")


def norm(s: str) -> str:
    """Text without line-break spaces between CJK characters (项 目 → 项目); ASCII words keep theirs."""
    s = s.replace("\u3000", " ").replace("\xa0", " ").strip()
    s = _CJK_SPACE_RE.sub("", s)
    return s


def parse_value(raw: str) -> tuple[Decimal | None, str, bool]:
    """(value, status, is_percent) of a cell text: 1,834.93 → Decimal('1834.93'); — → na; 开展 → text."""
    s = norm(raw).replace(" ", "").replace("，", ",")
    if not s:
        return None, "empty", False
    if s in NA_TEXTS or set(s) <= set("—-－–―─"):
        return None, "na", False
    if _NUM_RE.match(s):
        pct = s.endswith("%")
        t = s.rstrip("%").replace(",", "").replace("−", "-")
        try:
            return Decimal(t), "ok", pct
        except InvalidOperation:
            return None, "text", False
    return None, "text", False


def to_wan(value: Decimal | None, unit: str) -> Decimal | None:
    if value is None or unit not in MONEY_UNITS:
        return None
    return value * MONEY_UNITS[unit] if unit != "万元" else value


def _is_code(s: str) -> bool:
    return bool(_CODE_RE.match(s))


# --------------------------------------------------------------------------- grid helpers


@dataclass
class Grid:
    """A table as normalized text with merged cells resolved."""

    text: list[list[str]]  # normalized text, covered positions ''
    filled: list[list[str]]  # covered positions hold the spanning cell's text
    cells: list[list[RawCell]]
    has_spans: bool
    nrows: int
    ncols: int


def _make_grid(raw: RawTable) -> Grid:
    rows = raw.rows
    nr = len(rows)
    nc = max((len(r) for r in rows), default=0)
    text = [[norm(c.text) for c in r] + [""] * (nc - len(r)) for r in rows]
    cells = [list(r) + [RawCell("")] * (nc - len(r)) for r in rows]
    filled = [list(r) for r in text]
    has_spans = any(c.colspan > 1 or c.rowspan > 1 for r in rows for c in r) or any(c.page is not None for r in rows for c in r)
    for i, r in enumerate(cells):
        for j, c in enumerate(r):
            if (c.colspan > 1 or c.rowspan > 1) and text[i][j]:
                for di in range(c.rowspan):
                    for dj in range(c.colspan):
                        ii, jj = i + di, j + dj
                        if ii < nr and jj < nc and not text[ii][jj]:
                            filled[ii][jj] = text[i][j]
    return Grid(text=text, filled=filled, cells=cells, has_spans=has_spans, nrows=nr, ncols=nc)


def _is_colnum_row(row: list[str]) -> bool:
    """栏次 1 2 3 … rows (and 类 款 项 栏次 1 2 …)."""
    ints = [int(x) for x in row if _INT_RE.match(x)]
    others = [x for x in row if x and not _INT_RE.match(x)]
    if len(ints) < 2:
        return False
    if any(o not in IGNORED_HEADER and o not in ("合计",) for o in others):
        return False
    return ints == sorted(ints) and len(set(ints)) == len(ints) and ints[0] <= 2


def _is_data_row(row: list[str]) -> bool:
    for j, x in enumerate(row):
        if not x:
            continue
        v, st, _ = parse_value(x)
        if st == "ok" and ("." in x or "," in x or x.endswith("%")):
            return True
        if st == "na":
            return True
        if j <= 3 and _is_code(x.replace(" ", "")):
            return True
        if st == "ok" and v is not None and v != v.to_integral_value():
            return True
    nonempty = [x for x in row if x]
    first = nonempty[0] if nonempty else ""
    if _ORDINAL_RE.match(first):
        return True
    if (first in ("合计", "总计") or first.endswith(("合计", "总计"))) and len(set(nonempty)) == 1:
        return True  # a total row of an empty table
    return False


def _header_count(g: Grid) -> int:
    """Number of header rows at the top of the grid."""
    limit = min(g.nrows, 8)
    colnum = -1
    for i in range(limit):
        if _is_colnum_row(g.text[i]):
            colnum = i
    if colnum >= 0:
        # a 类 款 项 row right below the numbers still belongs to the header
        h = colnum + 1
        while h < g.nrows and all((not x) or x in IGNORED_HEADER for x in g.text[h]) and any(g.text[h]):
            h += 1
        return h
    h = 0
    while h < limit and not _is_data_row(g.text[h]) and all(c.readable for c in g.cells[h]):
        h += 1
    if h >= g.nrows:  # an empty table: everything reads as header
        return h
    return h


# --------------------------------------------------------------------------- header paths


def _realign_text_header(hdr: list[list[str]], value_cols: list[int]) -> None:
    """The text form loses merged-cell spans and shifts labels; put group labels back over their groups."""
    if len(hdr) < 2:
        return
    for r in range(len(hdr) - 1):
        child = hdr[r + 1]
        starts = [j for j, x in enumerate(child) if x in ("合计", "小计")]
        if len(starts) < 2:
            continue
        lo = starts[0]
        labels = [(j, x) for j, x in enumerate(hdr[r]) if x and j >= lo - 1 and x not in IGNORED_HEADER]
        labels = [(j, x) for j, x in labels if j >= lo or (j == lo - 1 and x not in ("科目名称", "项目"))]
        if len(labels) == len(starts) and [j for j, _ in labels] != starts:
            row = list(hdr[r])
            for j, _ in labels:
                row[j] = ""
            for s, (_, x) in zip(starts, labels, strict=True):
                row[s] = x
            hdr[r] = row


def _text_shift_to_numbered(hdr: list[list[str]], numbered: list[int]) -> None:
    """Text form: a header row with exactly as many labels as numbered columns, misplaced → map in order."""
    if not numbered:
        return
    first = numbered[0]
    for r, row in enumerate(hdr):
        labels = [(j, x) for j, x in enumerate(row) if x and j >= first - 1 and x not in IGNORED_HEADER and not _INT_RE.match(x)]
        if len(labels) == len(numbered) and [j for j, _ in labels] != numbered:
            new = list(row)
            for j, _ in labels:
                new[j] = ""
            for n, (_, x) in zip(numbered, labels, strict=True):
                new[n] = x
            hdr[r] = new


def _column_paths(g: Grid, h: int, value_cols: list[int], groups: list[list[int]]) -> tuple[list[str], list[str]]:
    """A path per column from the header rows, and problems."""
    problems: list[str] = []
    if h == 0:
        return [""] * g.ncols, problems
    if g.has_spans:
        hdr = [list(g.filled[i]) for i in range(h)]
        # vertical spans should not repeat a label down the column
        for i in range(h):
            for j in range(g.ncols):
                if not g.text[i][j] and i > 0 and hdr[i][j] == hdr[i - 1][j]:
                    hdr[i][j] = ""
    else:
        hdr = [list(g.text[i]) for i in range(h)]
        numbered = []
        for i in range(h):
            if _is_colnum_row(g.text[i]):
                numbered = [j for j, x in enumerate(g.text[i]) if _INT_RE.match(x)]
        _text_shift_to_numbered(hdr, numbered)
        _realign_text_header(hdr, value_cols)
        # left-fill within the span of the parent label
        parent_id = [0] * g.ncols
        for i in range(h):
            if _is_colnum_row(hdr[i]):
                continue
            new_parent = list(parent_id)
            cur = ""
            cur_pid = None
            seg = 0
            for j in range(g.ncols):
                if hdr[i][j]:
                    cur = hdr[i][j]
                    cur_pid = parent_id[j]
                    seg += 1
                elif cur and parent_id[j] == cur_pid and cur not in IGNORED_HEADER:
                    hdr[i][j] = cur
                else:
                    cur = ""
                    cur_pid = None
                    seg += 1
                new_parent[j] = parent_id[j] * 1000 + seg
            parent_id = new_parent
    paths = []
    for j in range(g.ncols):
        parts: list[str] = []
        for i in range(h):
            x = hdr[i][j]
            if not x or x in IGNORED_HEADER or _INT_RE.match(x) or _is_colnum_row(hdr[i]):
                continue
            if parts and parts[-1] == x:
                continue
            parts.append(x)
        paths.append(COLUMN_SEP.join(parts))
    # duplicated paths among value columns: the text form lost sub-labels
    same: dict[tuple[int, str], list[int]] = {}
    for gi, cols_ in enumerate(groups):
        for j in cols_:
            same.setdefault((gi, paths[j]), []).append(j)
    for (_, p), cols in same.items():
        if len(cols) < 2 or not p:
            continue
        if sum(1 for j in cols if any(g.text[i][j] for i in range(h, g.nrows))) < 2:
            continue  # a merged value cell (金额 over three grid columns): only one column holds figures
        last = p.split(COLUMN_SEP)[-1]
        if last == "基本支出" and len(cols) == 3:
            subs = ["", "人员经费", "公用经费"]
        elif last == "基本支出" and len(cols) == 2:
            subs = ["人员经费", "公用经费"]
        elif last == "项目支出结转和结余" and len(cols) == 3:
            subs = ["", "项目支出结转", "项目支出结余"]
        else:
            subs = ["", *[f"({k + 2})" for k in range(len(cols) - 1)]]
            problems.append(f"columns {cols} share the header {p!r}")
        for j, s in zip(cols, subs, strict=True):
            if s:
                paths[j] = p + COLUMN_SEP + s
    return paths, problems


# --------------------------------------------------------------------------- column roles


@dataclass
class Group:
    code_cols: list[int] = field(default_factory=list)
    label_cols: list[int] = field(default_factory=list)
    value_cols: list[int] = field(default_factory=list)
    rowno_cols: list[int] = field(default_factory=list)


def _roles(g: Grid, h: int) -> list[str]:
    body = [g.text[i] for i in range(h, g.nrows)]
    hdr_text = ["".join(g.filled[i][j] for i in range(h)) for j in range(g.ncols)]
    hdr_last = [next((g.filled[i][j] for i in range(h - 1, -1, -1) if g.filled[i][j]), "") for j in range(g.ncols)]
    roles = []
    for j in range(g.ncols):
        # an unreadable cell stands for a figure: count it as a number
        vals = [r[j] if g.cells[h + k][j].readable else "0" for k, r in enumerate(body) if r[j]]
        hd = hdr_last[j] if hdr_last[j] in ("类", "款", "项") else hdr_text[j]
        nums = codes = parts = ints = texts = nas = 0
        for v in vals:
            vv, st, _ = parse_value(v)
            if _is_code(v):
                codes += 1
            if _CODE_PART_RE.match(v):
                parts += 1
            if _INT_RE.match(v):
                ints += 1
            if st == "ok":
                nums += 1
            elif st == "na":
                nas += 1
            elif st == "text":
                texts += 1
        n = len(vals)
        if "行次" in hd and (n == 0 or ints >= 0.8 * n):
            roles.append("rowno")
        elif any(k in hd for k in CODE_HEADER_HINTS) and (n == 0 or (codes + parts) >= 0.5 * n):
            roles.append("code")
        elif hd and set(hd) <= set("类款项") and (n == 0 or (codes + parts) >= 0.5 * n or texts <= 2):
            roles.append("code")
        elif n and texts >= 0.5 * n:
            roles.append("label")
        elif n and codes >= 0.8 * n and j + 1 < g.ncols and "金额" not in hd and _codes_in_context(vals):
            roles.append("code")
        elif n == 0 and any(k in hd for k in ("科目名称", "项目名称")) and "金额" not in hd:
            roles.append("label")
        else:
            roles.append("value")
    # a 行次 column without the header word: consecutive integers right after a label column
    for j in range(1, g.ncols):
        if roles[j] == "value" and roles[j - 1] == "label":
            vals = [g.text[i][j] for i in range(h, g.nrows) if g.text[i][j]]
            if len(vals) >= 3 and all(_INT_RE.match(v) for v in vals):
                nums_ = [int(v) for v in vals]
                if all(b - a == 1 for a, b in zip(nums_, nums_[1:], strict=False)):
                    roles[j] = "rowno"
    return roles


MIN_CODE_ROWS = 3
"""A column without a code header is a code column only with at least this many code-like cells."""


def _codes_in_context(vals: list[str]) -> bool:
    """Digits that form a classification in context: several rows, distinct, and either a hierarchy
    (a 3-digit class above its 5-digit items, 201 → 20101) or classes in ascending order.

    A one-row table printing whole amounts (三公 ``237``) is not a code column.
    """
    codes = [v for v in vals if _is_code(v)]
    if len(codes) < MIN_CODE_ROWS or len(set(codes)) < len(codes):
        return False
    hierarchy = any(a != b and b.startswith(a) for a in codes for b in codes)
    ascending = all(int(a[:3]) <= int(b[:3]) for a, b in zip(codes, codes[1:], strict=False))
    return hierarchy or ascending


def _groups(roles: list[str]) -> list[Group]:
    groups: list[Group] = []
    cur = Group()
    seen_value = False
    for j, r in enumerate(roles):
        if r in ("code", "label") and seen_value:
            groups.append(cur)
            cur = Group()
            seen_value = False
        if r == "code":
            cur.code_cols.append(j)
        elif r == "label":
            cur.label_cols.append(j)
        elif r == "rowno":
            cur.rowno_cols.append(j)
        else:
            cur.value_cols.append(j)
            seen_value = True
    groups.append(cur)
    return [gr for gr in groups if gr.value_cols or gr.label_cols]


# --------------------------------------------------------------------------- facts


@dataclass
class _Ctx:
    meta: ReportMeta
    table_id: str
    raw: RawTable
    kind: str
    title: str
    unit: str
    facts: list[Fact]
    problems: list[str]


def _unit_for(ctx: _Ctx, row_label: str, column: str, pct: bool) -> str:
    if pct:
        return "%"
    m = _UNIT_IN_LABEL_RE.search(row_label)
    if m:
        return m.group(1)
    last = column.split(COLUMN_SEP)[-1] if column else ""
    if "执行率" in last or last.endswith("率"):
        return "%"
    if last in ("分值", "得分"):
        return "分"
    m = _UNIT_IN_HEADER_RE.search(column)
    if m:
        return m.group(1)
    return ctx.unit


def _add_fact(
    ctx: _Ctx,
    *,
    row_index: int,
    col_index: int,
    cell: RawCell,
    code: str | None,
    row_label: str,
    column: str,
    unit: str | None = None,
    row_bbox: tuple | None = None,
    header_bbox: tuple | None = None,
    raw_text: str | None = None,
    fact_suffix: str = "",
) -> Fact | None:
    raw = cell.text if raw_text is None else raw_text
    value, status, pct = parse_value(raw)
    if status == "empty":
        return None
    if not cell.readable:
        status, value = "unreadable", None
        ctx.problems.append(
            f"{ctx.title or ctx.table_id}: unreadable cell at row {row_label!r} column {column!r} (page {cell.page})"
        )
    u = unit if unit is not None else _unit_for(ctx, row_label, column, pct)
    if pct and u != "%":
        u = "%"
    f = Fact(
        fact_id=f"{ctx.meta.report_id}:{ctx.table_id}:r{row_index}:c{col_index}{fact_suffix}",
        report_id=ctx.meta.report_id,
        department=ctx.meta.department,
        year=ctx.meta.year,
        kind=ctx.meta.kind,
        scope=ctx.meta.scope,
        table_id=ctx.table_id,
        table_number=ctx.raw.number,
        table_title=ctx.title,
        table_kind=ctx.kind,
        page=cell.page if cell.page is not None else (ctx.raw.pages[0] if ctx.raw.pages else None),
        row_index=row_index,
        code=code,
        row_label=row_label,
        column=column,
        value=value if status == "ok" else None,
        unit=u,
        value_wan=to_wan(value, u) if status == "ok" else None,
        raw=raw,
        status=status,  # type: ignore[arg-type]
        bbox=cell.bbox,
        row_bbox=row_bbox,
        header_bbox=header_bbox,
    )
    ctx.facts.append(f)
    return f


def _row_code_label(g: Grid, i: int, gr: Group) -> tuple[str | None, str]:
    parts = [g.filled[i][j].replace(" ", "") for j in gr.code_cols]
    labels = [g.filled[i][j] for j in gr.label_cols if g.filled[i][j]]
    code_parts = [p for p in parts if p and p.isdigit()]
    if len(code_parts) > 1 and len(code_parts[0]) == 3:
        # 款/项 parts printed without their leading zero (301 | 2 for 30102)
        code_parts = [code_parts[0]] + [p.zfill(2) for p in code_parts[1:]]
    text_parts = [p for p in parts if p and not p.isdigit() and p not in IGNORED_HEADER]
    code: str | None = None
    if code_parts:
        if len(code_parts) == 1:
            code = code_parts[0]
        elif _is_code(code_parts[0]) and len(code_parts[0]) == 3:
            code = "".join(code_parts)
        else:
            code = code_parts[0] if _is_code(code_parts[0]) else "".join(code_parts)
    label_parts: list[str] = []
    for t in text_parts + labels:
        if t not in label_parts:
            label_parts.append(t)
    label = COLUMN_SEP.join(label_parts)
    if code is None and label:
        m = _CODE_LABEL_RE.match(label)
        if m:
            code, label = m.group("code"), m.group("label").strip()
    return code, label


def _interpret_grid(ctx: _Ctx) -> None:
    g = _make_grid(ctx.raw)
    if g.nrows == 0 or g.ncols == 0:
        return
    h = _header_count(g)
    roles = _roles(g, h)
    # text form: a 合计 row printed one column to the left (label in a code column, numbers in the label column)
    if not g.has_spans:
        label_cols = [j for j, r in enumerate(roles) if r == "label"]
        if label_cols:
            lc = label_cols[0]
            for i in range(h, g.nrows):
                row = g.text[i]
                first = next((j for j, x in enumerate(row) if x), None)
                if first is not None and first < lc and roles[first] == "code" and not row[first].isdigit():
                    _, st, _ = parse_value(row[lc])
                    if st == "ok":
                        k = lc - first
                        shifted = [""] * k + row[: g.ncols - k]
                        g.text[i] = shifted
                        g.filled[i] = list(shifted)
                        g.cells[i] = [RawCell("")] * k + g.cells[i][: g.ncols - k]
    value_cols = [j for j, r in enumerate(roles) if r == "value"]
    groups = _groups(roles)
    paths, probs = _column_paths(g, h, value_cols, [gr.value_cols for gr in groups])
    for p in probs:
        ctx.problems.append(f"{ctx.title}: {p}")
    header_cells: dict[int, RawCell] = {}
    for j in range(g.ncols):
        for i in range(h - 1, -1, -1):
            c = g.cells[i][j]
            if c.text.strip() and c.bbox:
                header_cells[j] = c
                break
    orphans: list[tuple[int, int, Fact]] = []
    empty_totals: list[tuple[int, int, str, Group]] = []
    for i in range(h, g.nrows):
        row = g.text[i]
        if not any(row) or _is_colnum_row(row):
            continue
        body_index = i - h
        for gr in groups:
            code, label = _row_code_label(g, i, gr)
            if not code and not label and body_index == 0 and gr.code_cols and any(g.text[i][j] for j in gr.value_cols):
                label = "合计"  # the total row printed without its name (sample 公开02表)
            lab_cell = next((g.cells[i][j] for j in gr.label_cols + gr.code_cols if g.cells[i][j].bbox), None)
            for j in gr.value_cols:
                cell = g.cells[i][j]
                if not g.text[i][j]:
                    if label.endswith("合计") and not code and j == gr.value_cols[-1]:
                        empty_totals.append((body_index, j, label, gr))
                    continue
                col = paths[j] or "金额"
                hc = header_cells.get(j)
                f = _add_fact(
                    ctx,
                    row_index=body_index,
                    col_index=j,
                    cell=RawCell(row[j], cell.page, cell.bbox, readable=cell.readable) if cell.text != row[j] else cell,
                    code=code,
                    row_label=label,
                    column=col,
                    raw_text=g.cells[i][j].text if g.cells[i][j].text.strip() else row[j],
                    row_bbox=lab_cell.bbox if lab_cell else None,
                    header_bbox=hc.bbox if hc else None,
                )
                if f and not code and not label and (gr.code_cols or gr.label_cols) and f.status == "ok":
                    orphans.append((body_index, j, f))
    if ctx.kind in ("basic_expenditure_by_economic_class", "project_expenditure_by_economic_class"):
        _flag_foreign_codes(ctx, g, h, groups)
    # a figure printed without code or name (sample 公开06表: 公用经费合计 108.77 in the last row's cell)
    for body_index, j, f in orphans:
        cands = [t for t in empty_totals if t[3].value_cols and abs(t[0] - body_index) <= 2]
        beside = " ".join([x for k, x in enumerate(g.text[body_index + h]) if x and k != j][:2])
        msg = (
            f"{ctx.raw.number or ctx.title}: the figure {f.raw} is printed in row {body_index + 1}, column {j + 1} "
            + (f"beside “{beside}” " if beside else "")
            + "without a code or name"
        )
        if len(cands) == 1:
            tb, tj, tlabel, tgr = cands[0]
            paths_j = paths[tj] or f.column
            ctx.problems.append(msg + f"; read as the empty {tlabel} (its only candidate) and recorded at both places")
            _add_fact(
                ctx,
                row_index=tb,
                col_index=tj,
                cell=RawCell(f.raw, f.page, f.bbox),
                code=None,
                row_label=tlabel,
                column=paths_j,
                fact_suffix="-moved",
            )
        else:
            ctx.problems.append(msg)


def _flag_foreign_codes(ctx: _Ctx, g: Grid, h: int, groups: list[Group]) -> None:
    """Economic-class codes start with 3 (or 5 for government-fund classes); another first digit is a typo
    (sample 公开07表 prints 20921 for 30921 文物和陈列品购置). Kept as printed, reported."""
    for i in range(h, g.nrows):
        for gr in groups:
            code, label = _row_code_label(g, i, gr)
            if code and code[0] not in "35":
                neighbours = [_row_code_label(g, k, gr)[0] for k in (i - 1, i + 1) if h <= k < g.nrows]
                hint = ""
                for nb in neighbours:
                    if nb and len(nb) == len(code) and nb[0] == "3" and nb[1:3] == code[1:3]:
                        hint = f"; probably {nb[0]}{code[1:]}"
                        break
                page = next((g.cells[i][j].page for j in gr.code_cols + gr.label_cols if g.cells[i][j].page), None)
                ctx.problems.append(
                    f"{ctx.raw.number or ctx.title}: code {code} ({label}){f' on page {page}' if page else ''}"
                    f" is not an economic classification code{hint}"
                )


# --------------------------------------------------------------------------- performance forms

_FUND_HEADERS = ("年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分", "预算数", "执行数")
_IND_HEADERS = ("一级指标", "二级指标", "三级指标", "指标性质", "指标值", "度量单位", "实际完成值", "分值", "得分")
_TASK_HEADERS = ("任务名称", "项目级次", "主要内容", "批复金额", "实际支出金额", "预算执行率", "预算执行偏低原因")


def _interpret_form(ctx: _Ctx) -> None:
    """Performance self-evaluation forms: project funds, indicators, key tasks."""
    g = _make_grid(ctx.raw)
    project = ""
    mode = ""
    header: dict[int, str] = {}
    levels: dict[str, str] = {}
    fund_unit = ctx.unit or "万元"
    for i in range(g.nrows):
        row = g.filled[i]
        raw_row = g.text[i]
        nonempty = [(j, x) for j, x in enumerate(raw_row) if x]
        if not nonempty:
            continue
        first = nonempty[0][1]
        if first in ("项目名称",) and len(nonempty) > 1:
            project = nonempty[1][1]
            continue
        if first in ("主管部门", "部门名称", "内容", "财年") or first.startswith(
            ("年度总体目标", "年度总体", "部门总体目标", "绩效指标")
        ):
            mode = "skip" if (first in ("财年",) or first.startswith(("年度总体", "绩效指标"))) else mode
            continue
        if re.match(r"^[一二三四五六七八九十]+、", first) and len(nonempty) == 1:
            mode, header = "", {}
            continue
        labels = {x for _, x in nonempty}
        if sum(1 for x in labels if any(x.startswith(hh) for hh in _FUND_HEADERS)) >= 3 and not any(
            _NUM_RE.match(x.replace(",", "")) for x in labels
        ):
            mode = "funds"
            header = {j: x for j, x in nonempty if any(x.startswith(hh) for hh in _FUND_HEADERS)}
            m = _UNIT_IN_HEADER_RE.search(first)
            fund_unit = m.group(1) if m else fund_unit
            continue
        if "三级指标" in labels or ("指标值" in labels and "指标性质" in labels):
            mode = "ind"
            header = {j: x for j, x in nonempty if x in _IND_HEADERS or "偏差" in x}
            if i > 0:  # 实际完成值 / 分值 / 得分 printed in the row above
                for j, x in enumerate(g.text[i - 1]):
                    if x and j not in header and x in _IND_HEADERS + ("实际完成值",) or (x and "偏差" in x and j not in header):
                        header[j] = x
            levels = {}
            continue
        if "任务名称" in labels:
            mode = "tasks"
            header = {j: x for j, x in nonempty}
            if i + 1 < g.nrows:
                sub = [(j, x) for j, x in enumerate(g.text[i + 1]) if x]
                if sub and all(not _NUM_RE.match(x) for _, x in sub) and len(sub) <= 4:
                    top = dict(header)
                    for j, x in sub:
                        parent = next((top[k] for k in sorted(top, reverse=True) if k <= j), "")
                        header[j] = f"{parent}{COLUMN_SEP}{x}" if parent and parent != x else x
                    g.text[i + 1] = [""] * g.ncols
            continue
        if mode == "funds":
            label = next((x for j, x in nonempty if j < min(header) and not x.startswith("项目资金")), "")
            if not label:
                continue
            row_label = (
                project if (label == "年度资金总额" and project) else (f"{project}{COLUMN_SEP}{label}" if project else label)
            )
            for j, hname in header.items():
                if raw_row[j]:
                    u = "%" if "率" in hname else ("分" if hname in ("分值", "得分") else fund_unit)
                    _add_fact(
                        ctx, row_index=i, col_index=j, cell=g.cells[i][j], code=None, row_label=row_label, column=hname, unit=u
                    )
        elif mode == "ind":
            if first in ("总分",):
                for j, x in nonempty[1:]:
                    hname = header.get(j, "")
                    scored = hname in ("分值", "得分")
                    if scored or not _NUM_RE.match(x):
                        _add_fact(
                            ctx,
                            row_index=i,
                            col_index=j,
                            cell=g.cells[i][j],
                            code=None,
                            row_label=f"{project}{COLUMN_SEP}总分" if project else "总分",
                            column=hname if scored else "自评等级",
                            unit="分" if scored else "",
                        )
                continue
            if first.startswith("其他需"):
                continue
            inv = {v: k for k, v in header.items()}
            for lv in ("一级指标", "二级指标"):
                if lv in inv and row[inv[lv]]:
                    levels[lv] = row[inv[lv]]
            ind = row[inv["三级指标"]] if "三级指标" in inv else ""
            if not ind:
                continue
            unit_meas = raw_row[inv["度量单位"]] if "度量单位" in inv else ""
            row_label = f"{project}{COLUMN_SEP}{ind}" if project else ind
            for j, hname in header.items():
                if hname in ("一级指标", "二级指标", "三级指标", "度量单位") or not raw_row[j]:
                    continue
                if hname in ("指标值", "实际完成值"):
                    u = unit_meas
                elif hname in ("分值", "得分"):
                    u = "分"
                else:
                    u = ""
                _add_fact(ctx, row_index=i, col_index=j, cell=g.cells[i][j], code=None, row_label=row_label, column=hname, unit=u)
        elif mode == "tasks":
            name_col = next((j for j, x in header.items() if x == "任务名称"), None)
            if name_col is None or not row[name_col]:
                continue
            row_label = row[name_col]
            for j, hname in header.items():
                if j == name_col or not raw_row[j]:
                    continue
                m = _UNIT_IN_HEADER_RE.search(hname)
                if "率" in hname:
                    u = "%"
                elif m:
                    u = m.group(1)
                elif "金额" in hname:
                    u = ctx.unit or "万元"
                else:
                    u = ""
                _add_fact(
                    ctx,
                    row_index=i,
                    col_index=j,
                    cell=g.cells[i][j],
                    code=None,
                    row_label=row_label,
                    column=_UNIT_IN_HEADER_RE.sub("", hname),
                    unit=u,
                )


# --------------------------------------------------------------------------- entry


def _kind_for(raw: RawTable) -> str:
    k = table_kind(raw.title)
    if k != "other":
        return k
    # no title (a continuation or an unlabelled table): look at the header words
    head = "".join(norm(c.text) for r in raw.rows[:4] for c in r)
    if "三公" in head or "公务接待费" in head:
        return "three_public_expenses"
    if "三级指标" in head or "指标值" in head:
        return "performance_indicators"
    return "other"


def interpret_tables(layout: Layout, meta: ReportMeta) -> tuple[list[TableInfo], list[Fact], list[str]]:
    """Interpret every table of a layout. Returns (tables, facts, problems)."""
    tables: list[TableInfo] = []
    facts: list[Fact] = []
    problems: list[str] = []
    raws = [b for b in layout.blocks if isinstance(b, RawTable) and b.rows]
    printed_units = [u for u in (b.unit or _unit_from_preamble(b) or _unit_from_title(b.title) for b in raws) if u]
    stated = _unit_stated_in_text(layout)
    n = 0
    for b in raws:
        n += 1
        table_id = f"t{n:02d}"
        title = norm(b.title)
        kind = _kind_for(b)
        unit = b.unit or _unit_from_preamble(b) or _unit_from_title(b.title)
        if not unit and kind not in _FORM_KINDS and printed_units and len(set(printed_units)) == 1:
            unit = printed_units[0]
            problems.append(f"{title or table_id}: no unit line found; read in {unit} like every other table of the report")
        elif not unit and kind not in _FORM_KINDS and not printed_units and stated:
            unit = stated
            problems.append(f"{title or table_id}: no unit line found; read in {unit} as the report states")
        ctx = _Ctx(meta=meta, table_id=table_id, raw=b, kind=kind, title=title, unit=unit, facts=[], problems=problems)
        try:
            if kind == "performance_narrative":
                pass
            elif kind in ("project_performance", "performance_indicators"):
                _interpret_form(ctx)
            else:
                _interpret_grid(ctx)
        except Exception as e:  # one odd table must not lose the report
            log.exception("table %s (%s) of %s could not be interpreted", table_id, title, meta.report_id)
            problems.append(f"{title or table_id}: could not be interpreted ({type(e).__name__}: {e})")
            ctx.facts = []
        # a table printing only zeros (合计 0) has no figures either: "no such income" is its answer
        numeric = [f for f in ctx.facts if f.status == "text" or (f.status == "ok" and f.value != 0)]
        note = " ".join(x.strip() for x in b.notes if x.strip())
        tables.append(
            TableInfo(
                report_id=meta.report_id,
                table_id=table_id,
                number=b.number,
                title=title,
                table_kind=kind,
                unit=unit,
                pages=list(b.pages),
                empty=not numeric and kind != "performance_narrative",
                note=note,
                facts=len(ctx.facts),
            )
        )
        facts.extend(ctx.facts)
    _fill_names(facts)
    return tables, facts, problems


_FORM_KINDS = ("project_performance", "performance_indicators", "performance_narrative", "other")


_TITLE_UNIT_RE = re.compile(r"[（(]\s*(?:(?:金额)?单位\s*[：:])?\s*(万元|元|亿元|千元)\s*[)）]")
_STATED_UNIT_RE = re.compile(r"(?:金额)?单位\s*(?:[：:]|均?为)\s*(万元|元|亿元|千元)")


def _unit_from_title(title: str) -> str:
    """A unit printed in the title: 收支预算总表（万元）, 支出表(单位：元)."""
    m = _TITLE_UNIT_RE.search(title or "")
    return m.group(1) if m else ""


def _unit_stated_in_text(layout: Layout) -> str:
    """The one money unit the report's running text states (金额单位：万元, 单位均为万元), or ''."""
    found = {m.group(1) for b in layout.blocks if isinstance(b, TextLine) for m in _STATED_UNIT_RE.finditer(norm(b.text))}
    return found.pop() if len(found) == 1 else ""


def _unit_from_preamble(b: RawTable) -> str:
    for p in b.preamble:
        m = re.search(r"单位\s*[：:]\s*(万元|元|亿元|千元)", p)
        if m:
            return m.group(1)
    return ""


_NAME_SOURCE_PRIORITY = {
    "expenditure_by_function": 0,
    "general_budget_by_function": 1,
    "income_by_function": 2,
    "basic_expenditure_by_economic_class": 3,
    "project_expenditure_by_economic_class": 4,
}


def _fill_names(facts: list[Fact]) -> None:
    """Rows printed without a name get the name the same code has in another table of the report."""
    names: dict[str, tuple[int, str]] = {}
    for f in facts:
        if f.code and f.row_label and f.row_label not in TOTAL_LABELS:
            pr = _NAME_SOURCE_PRIORITY.get(f.table_kind, 9)
            if f.code not in names or pr < names[f.code][0]:
                names[f.code] = (pr, f.row_label)
    for f in facts:
        if f.code and not f.row_label and f.code in names:
            f.row_label = names[f.code][1]
