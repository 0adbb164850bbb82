"""Identity checks a correct extraction of a report satisfies (see ``../shared/DOMAIN.md``).

Per report, over its facts (exact ``Decimal`` comparisons, no tolerance):

* code hierarchy: a 类 row = Σ its 款 rows, a 款 row = Σ its 项 rows (per table and column);
  economic classes likewise (301 = Σ 301xx); a 合计 row = Σ the 类 rows of its column;
* column totals: a 合计/小计 column = Σ its sibling columns (合计 = 基本支出 + 项目支出;
  三公 合计 = 出国 + 车 + 接待; 车 小计 = 购置 + 运行), and a column with sub-columns = Σ them
  (基本支出 = 人员经费 + 公用经费);
* row outlines of the 三公 table: (一)支出合计 = 1. + 2. + 3.; 2. 公务用车 = (1) + (2);
* summary tables: the numbered income (spending) rows sum to 本年收入合计 (本年支出合计); 总计 income = 总计 spending;
* across tables: the totals of the summary, income, spending and appropriation tables agree;
  机关运行经费 (三公 table) = 公用经费合计 (basic-spending table) where both are published;
* assets: 资产总额 = 流动资产 + 固定资产净值 + 对外投资 + 在建工程 + 无形资产净值 + 其他资产净值.

A check whose inputs are missing is skipped (not counted as run). A failure names both
figures and the cells they come from: where the published document breaks an identity, that
is a finding to report, not something to hide.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from assistant.models import COLUMN_SEP, ReportMeta

log = logging.getLogger(__name__)

ZERO = Decimal(0)
_TOTAL_SEG = re.compile(r"^(合计|小计|总计|合\s*计)$")
_ORDINAL1 = re.compile(r"^[一二三四五六七八九十]+、")
_ORDINAL_PAREN = re.compile(r"^[（(][一二三四五六七八九十]+[)）]")
_ORDINAL_NUM = re.compile(r"^\d+[.、．](?!\d)")
_ORDINAL_NUM_PAREN = re.compile(r"^[（(]\d+[)）]")
PERSONNEL_CLASSES = {"301", "303"}
"""Economic classes of 人员经费 (wages, transfers to households); the rest of basic spending is 公用经费."""
CODE_KINDS_SKIP_TOTAL = {"assets", "performance_indicators", "project_performance", "performance_narrative"}


@dataclass
class Cell:
    """Where a figure comes from."""

    fact_id: str
    table: str
    row: str
    column: str
    page: int | None
    value: Decimal | None

    def describe(self) -> str:
        where = f"{self.table} · {self.row or '(no name)'} · {self.column or '(no header)'}"
        return where + (f" · p.{self.page}" if self.page else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "fact_id": self.fact_id,
            "table": self.table,
            "row": self.row,
            "column": self.column,
            "page": self.page,
            "value": None if self.value is None else str(self.value),
        }


@dataclass
class CheckFailure:
    """One identity that does not hold: the stated figure against the computed one."""

    check: str
    """The identity, e.g. "类 = Σ款" or "合计 = Σ columns"."""
    stated: Decimal
    computed: Decimal
    total_cell: Cell | None
    part_cells: list[Cell] = field(default_factory=list)
    note: str = ""

    @property
    def difference(self) -> Decimal:
        return self.stated - self.computed

    def describe(self) -> str:
        head = f"{self.check}: "
        if self.total_cell is not None:
            head += f"{self.stated} at [{self.total_cell.describe()}]"
        else:
            head += f"{self.stated}"
        parts = " + ".join(f"{c.value if c.value is not None else 0} [{c.describe()}]" for c in self.part_cells[:12])
        if len(self.part_cells) > 12:
            parts += f" + … ({len(self.part_cells)} figures)"
        s = f"{head} ≠ {self.computed} = {parts} (difference {self.difference})"
        return s + (f" — {self.note}" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "stated": str(self.stated),
            "computed": str(self.computed),
            "difference": str(self.difference),
            "cell": self.total_cell.to_json() if self.total_cell else None,
            "parts": [c.to_json() for c in self.part_cells],
            "description": self.describe(),
        }


@dataclass
class CheckResult:
    report_id: str
    department: str
    year: int
    run: int = 0
    passed: int = 0
    failures: list[CheckFailure] = field(default_factory=list)
    kinds: dict[str, list[int]] = field(default_factory=dict)
    """Per identity: [run, passed]."""
    rounding: list[CheckFailure] = field(default_factory=list)
    """Identities that hold only within the rounding of 0.01 万元 figures (counted as passed, reported)."""

    def record(self, check: str, ok: bool, failure: CheckFailure | None = None) -> None:
        self.run += 1
        k = self.kinds.setdefault(check, [0, 0])
        k[0] += 1
        if ok:
            self.passed += 1
            k[1] += 1
        elif failure is not None:
            self.failures.append(failure)

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.report_id,
            "department": self.department,
            "year": self.year,
            "checks": self.run,
            "passed": self.passed,
            "failures": [f.to_json() for f in self.failures],
            "rounding": [f.to_json() for f in self.rounding],
        }


# --------------------------------------------------------------------------- helpers


def _table_name(r: Any) -> str:
    num = r.get("table_number") or ""
    title = r.get("table_title") or ""
    return f"{num} {title}".strip() or str(r.get("table_id"))


def _cell(r: Any) -> Cell:
    page = r.get("page")
    try:
        page = None if page is None or pd.isna(page) else int(page)
    except (TypeError, ValueError):
        page = None
    return Cell(
        fact_id=str(r.get("fact_id")),
        table=_table_name(r),
        row=str(r.get("row_label") or "") + (f" ({r.get('code')})" if r.get("code") else ""),
        column=str(r.get("column") or ""),
        page=page,
        value=r.get("value"),
    )


def _compare(
    res: CheckResult,
    check: str,
    total: dict[str, Any] | None,
    parts: list[dict[str, Any]],
    *,
    stated: Decimal | None = None,
    use_wan: bool = False,
    note: str = "",
) -> None:
    if use_wan and len({c.get("unit") for c in [total, *parts] if c}) == 1:
        use_wan = False  # same unit on both sides: compare (and report) the figures as printed
    key = "value_wan" if use_wan else "value"
    st = stated if stated is not None else (total[key] if total is not None and total.get(key) is not None else ZERO)
    comp = sum((p[key] for p in parts if p.get(key) is not None), ZERO)
    ok = st == comp
    fail = None
    if not ok:
        fail = CheckFailure(
            check=check,
            stated=st,
            computed=comp,
            total_cell=_cell(total) if total else None,
            part_cells=[_cell(p) for p in parts],
            note=note,
        )
        if _within_rounding(st, comp, [total, *parts], len(parts)):
            fail.note = (fail.note + "; " if fail.note else "") + "within the rounding of figures printed to 0.01 万元"
            res.rounding.append(fail)
            ok, fail = True, None
    res.record(check, ok, fail)


def _within_rounding(stated: Decimal, computed: Decimal, cells: list[dict[str, Any] | None], n: int) -> bool:
    """万元 figures printed to two decimals are each rounded from yuan: a sum of n of them may be off by
    up to 0.005 × (n + 1). Only for 万元 figures (元 tables are exact integers)."""
    units = {c.get("unit") for c in cells if c}
    if units != {"万元"}:
        return False
    for c in cells:
        if c and c.get("value") is not None and c["value"].as_tuple().exponent < -2:
            return False
    bound = (Decimal("0.005") * (n + 1)).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    return abs(stated - computed) <= bound


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with missing values as None (pandas gives NaN for missing strings)."""
    out = []
    for r in df.to_dict("records"):
        out.append({k: (None if (isinstance(v, float) and v != v) else v) for k, v in r.items()})
    return out


def _ok_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    d = df[(df["status"] == "ok") & df["value"].notna()]
    return _records(d)


def _is_total_seg(seg: str) -> bool:
    s = seg.replace(" ", "")
    return bool(_TOTAL_SEG.match(s)) or (s.endswith("合计") and not s.startswith("其中"))


# --------------------------------------------------------------------------- checks


def _check_codes(res: CheckResult, facts: list[dict[str, Any]]) -> None:
    """Parent code = Σ children per table and column; 合计 row = Σ top-level codes."""
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in facts:
        by_table[f["table_id"]].append(f)
    for _tid, fs in by_table.items():
        if fs[0].get("table_kind") in CODE_KINDS_SKIP_TOTAL:
            continue
        codes_in_table = {f["code"] for f in fs if f.get("code")}
        if not codes_in_table:
            continue
        by_col: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for f in fs:
            by_col[f["column"]].append(f)
        for _col, cf in by_col.items():
            cmap: dict[str, dict[str, Any]] = {}
            dup: set[str] = set()
            for f in cf:
                c = f.get("code")
                if not c:
                    continue
                if c in cmap:
                    dup.add(c)
                else:
                    cmap[c] = f
            for parent in sorted(codes_in_table):
                if len(parent) not in (3, 5) or parent in dup:
                    continue
                kids = sorted(c for c in codes_in_table if len(c) == len(parent) + 2 and c.startswith(parent))
                if not kids or any(k in dup for k in kids):
                    continue
                parts = [cmap[k] for k in kids if k in cmap]
                if not parts:
                    continue
                level = "类 = Σ款" if len(parent) == 3 else "款 = Σ项"
                _compare(
                    res,
                    level,
                    cmap.get(parent) or {**parts[0], "value": ZERO, "code": parent, "row_label": "", "fact_id": ""},
                    parts,
                    note="" if parent in cmap else f"the {parent} cell is blank",
                )
            # 合计 rows (no code) = Σ top-level codes of this column
            tops = [f for c, f in cmap.items() if len(c) == 3]
            if not tops:
                continue
            for f in cf:
                if f.get("code"):
                    continue
                label = str(f.get("row_label") or "").replace(" ", "")
                if label.startswith("人员经费"):
                    parts = [t for t in tops if t["code"] in PERSONNEL_CLASSES]
                elif label.startswith("公用经费"):
                    parts = [t for t in tops if t["code"] not in PERSONNEL_CLASSES]
                else:
                    parts = tops
                if label in ("合计", "总计") or (
                    label.endswith("合计") and not label.startswith(("本年", "当年", "收入", "支出"))
                ):
                    _compare(res, "合计 = Σ类", f, parts)


def _segments(col: str) -> list[str]:
    return [s for s in col.split(COLUMN_SEP)] if col else []


def _check_columns(res: CheckResult, facts: list[dict[str, Any]], all_facts: list[dict[str, Any]]) -> None:
    """Within a row: 合计/小计 column = Σ sibling columns; a column with sub-columns = Σ them."""
    by_table_cols: dict[str, dict[str, None]] = defaultdict(dict)  # columns in table order (a set's order varies per run)
    for f in all_facts:
        by_table_cols[f["table_id"]].setdefault(f["column"], None)
    rows: dict[tuple[str, int, str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for f in facts:
        if f.get("table_kind") in ("assets", "performance_indicators", "project_performance", "performance_narrative"):
            continue
        key = (f["table_id"], int(f["row_index"]), str(f.get("code") or ""), str(f.get("row_label") or ""))
        rows[key].setdefault(f["column"], f)
    for (tid, _ri, _code, _label), cols in rows.items():
        table_cols = [c for c in by_table_cols[tid] if c]
        segs = {c: _segments(c) for c in table_cols}
        done: set[tuple[str, ...]] = set()
        # (a) total segment at position k: siblings differ only at k
        for col in table_cols:
            s = segs[col]
            for k, seg in enumerate(s):
                if not _is_total_seg(seg):
                    continue
                prefix, suffix = s[:k], s[k + 1 :]
                # other total-like segments at the same level make the level ambiguous (资产总额 / 资产原值合计)
                level_segs = {segs[c][k] for c in table_cols if len(segs[c]) > k and segs[c][:k] == prefix}
                if sum(1 for x in level_segs if _is_total_seg(x)) != 1:
                    continue
                parts: list[dict[str, Any]] = []
                names: list[str] = []
                for other in sorted(level_segs):
                    if other == seg or other.startswith("其中"):
                        continue
                    direct = COLUMN_SEP.join(prefix + [other] + suffix)
                    if direct in table_cols:
                        names.append(direct)
                        if direct in cols:
                            parts.append(cols[direct])
                        continue
                    sub = None
                    for t in ("小计", "合计"):
                        cand = COLUMN_SEP.join(prefix + [other, t] + suffix)
                        if cand in table_cols:
                            sub = cand
                            break
                    if sub:
                        names.append(sub)
                        if sub in cols:
                            parts.append(cols[sub])
                        continue
                    deeper = [
                        c
                        for c in table_cols
                        if len(segs[c]) == len(s) + 1
                        and segs[c][:k] == prefix
                        and segs[c][k] == other
                        and segs[c][k + 2 :] == suffix
                        and not segs[c][k + 1].startswith("其中")
                    ]
                    if not deeper and not suffix:
                        continue
                    if not deeper:
                        names = []
                        break
                    names.extend(deeper)
                    parts.extend(cols[c] for c in deeper if c in cols)
                if not names or not parts:
                    continue
                sig = (tid, str(_ri), _code, _label, col)
                if sig in done:
                    continue
                done.add(sig)
                if col not in cols and not any(p.get("value") for p in parts):
                    continue
                total = cols.get(col)
                name = "合计 = Σ columns"
                if any("基本支出" in n for n in names) and any("项目支出" in n for n in names):
                    name = "合计 = 基本 + 项目"
                _compare(
                    res,
                    name,
                    total
                    or {
                        "value": ZERO,
                        "fact_id": "",
                        "table_title": parts[0].get("table_title"),
                        "table_number": parts[0].get("table_number"),
                        "row_label": parts[0].get("row_label"),
                        "code": parts[0].get("code"),
                        "column": col,
                        "page": parts[0].get("page"),
                    },
                    parts,
                    note="" if total else "total cell blank",
                )
        # (b) a column that has sub-columns (基本支出 › 人员经费 / 公用经费)
        for col in table_cols:
            s = segs[col]
            kids = [c for c in table_cols if len(segs[c]) == len(s) + 1 and segs[c][: len(s)] == s]
            kids = [c for c in kids if not segs[c][-1].startswith("其中") and not _is_total_seg(segs[c][-1])]
            if len(kids) < 2 or col not in cols:
                continue
            parts = [cols[c] for c in kids if c in cols]
            if not parts:
                continue
            name = "基本 = 人员 + 公用" if s[-1] == "基本支出" else "column = Σ sub-columns"
            _compare(res, name, cols[col], parts)


def _outline_level(label: str) -> int | None:
    s = label.replace(" ", "")
    if _ORDINAL1.match(s):
        return 1
    if _ORDINAL_PAREN.match(s):
        return 2
    if _ORDINAL_NUM.match(s):
        return 3
    if _ORDINAL_NUM_PAREN.match(s):
        return 4
    return None


def _check_three_public_rows(res: CheckResult, facts: list[dict[str, Any]], all_facts: list[dict[str, Any]]) -> None:
    """Row outline of 三公 tables printed as rows: a numbered row = Σ its numbered sub-rows (money rows only)."""
    tables = sorted({f["table_id"] for f in all_facts if f.get("table_kind") == "three_public_expenses"})
    for tid in tables:
        rows_all = sorted({(int(f["row_index"]), str(f.get("row_label") or "")) for f in all_facts if f["table_id"] == tid})
        if len(rows_all) < 3:
            continue
        vals: dict[tuple[int, str], dict[str, Any]] = {}
        for f in facts:
            if f["table_id"] == tid:
                vals[(int(f["row_index"]), f["column"])] = f
        columns = sorted({f["column"] for f in facts if f["table_id"] == tid})
        levels = [(_outline_level(lab), ri, lab) for ri, lab in rows_all]
        for idx, (lv, ri, lab) in enumerate(levels):
            if lv is None or "三公" in lab and "合计" not in lab:
                continue
            if re.search(r"[（(](个|人|辆)[)）]", lab) or "统计" in lab or "机关运行" in lab:
                continue
            kids: list[tuple[int, str]] = []
            child_level = None
            for lv2, ri2, lab2 in levels[idx + 1 :]:
                if lv2 is not None and lv2 <= lv:
                    break
                if lv2 is None:
                    continue  # 其中：… rows are parts of a part
                if child_level is None:
                    child_level = lv2
                if lv2 == child_level:
                    kids.append((ri2, lab2))
            if len(kids) < 2:
                continue
            if any(re.search(r"[（(](个|人|辆)[)）]", k[1]) for k in kids):
                continue
            for col in columns:
                parts = [vals[(k[0], col)] for k in kids if (k[0], col) in vals]
                total = vals.get((ri, col))
                if not parts or total is None:
                    continue
                _compare(res, "三公 total = Σ parts" if "合计" in lab else "三公 item = Σ sub-items", total, parts)


def _find(facts: Iterable[dict[str, Any]], kinds: tuple[str, ...], label_re: str, col_re: str = "") -> dict[str, Any] | None:
    lr = re.compile(label_re)
    cr = re.compile(col_re) if col_re else None
    for f in facts:
        if f.get("table_kind") not in kinds:
            continue
        if f.get("code"):
            continue
        if not lr.search(str(f.get("row_label") or "").replace(" ", "")):
            continue
        if cr and not cr.search(str(f.get("column") or "")):
            continue
        return f
    return None


def _check_summary(res: CheckResult, facts: list[dict[str, Any]]) -> None:
    """Summary tables: numbered rows sum to the 本年 total of their side; 总计 income = 总计 spending."""
    kinds = ("income_expenditure_summary", "appropriation_summary")
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in facts:
        if f.get("table_kind") in kinds:
            by_table[f["table_id"]].append(f)
    for _tid, fs in by_table.items():
        by_col: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for f in sorted(fs, key=lambda x: int(x["row_index"])):
            # side-by-side groups may share a header text: the grid column (from the fact id) tells them apart
            m = re.search(r":c(\d+)", str(f.get("fact_id") or ""))
            by_col[f"{f['column']}#{m.group(1) if m else ''}"].append(f)
        for _col, cf in by_col.items():
            ordinals = [f for f in cf if _ORDINAL1.match(str(f.get("row_label") or "").replace(" ", ""))]
            total = next(
                (
                    f
                    for f in cf
                    if re.fullmatch(r"(本年|当年)?(收入|支出)?(合计|小计)", str(f.get("row_label") or "").replace(" ", ""))
                    and (not ordinals or int(f["row_index"]) > int(ordinals[-1]["row_index"]))
                ),
                None,
            )
            if total is None or not ordinals:
                continue
            firsts = [f for f in ordinals if int(f["row_index"]) < int(total["row_index"])]
            # 年初结转 rows etc. come after the total; the numbered rows before it are the parts
            if firsts:
                _compare(res, "本年合计 = Σ numbered rows", total, firsts)
        # 总计: income side = spending side
        tots = [
            f for f in fs if re.fullmatch(r"(收入|支出)?总计|(收入|支出)合计", str(f.get("row_label") or "").replace(" ", ""))
        ]
        inc = [f for f in tots if "收入" in f["column"] or "收入" in str(f.get("row_label"))]
        exp = [f for f in tots if f not in inc and ("支出" in f["column"] or "支出" in str(f.get("row_label")))]
        if inc and exp:
            _compare(res, "总计 income = 总计 spending", inc[0], [exp[0]])


def _check_cross_tables(res: CheckResult, facts: list[dict[str, Any]]) -> None:
    """Grand totals agree across the summary, income, spending and appropriation tables."""
    summ = ("income_expenditure_summary",)
    # the year's own income and spending (before carry-overs); 收入总计 where the summary has nothing else (budgets)
    inc_total = _find(facts, summ, r"^(本年|当年)收入(合计|小计)$") or _find(facts, summ, r"^收入总计$")
    exp_total = _find(facts, summ, r"^(本年|当年)支出(合计|小计)$") or _find(facts, summ, r"^支出总计$")
    inc_fn = _find(facts, ("income_by_function",), r"^(合计|总计)$", r"^(本年收入合计|合计|收入预算 › 合计)$")
    exp_fn = _find(facts, ("expenditure_by_function",), r"^(合计|总计)$", r"^(本年支出合计|合计|支出预算 › 合计)$")
    if exp_fn is None:  # a one-row spending summary without a row name (Jiangsu 公开03表)
        exp_fn = next(
            (
                f
                for f in facts
                if f.get("table_kind") == "expenditure_by_function"
                and not f.get("code")
                and not f.get("row_label")
                and f.get("column") == "合计"
            ),
            None,
        )
    if inc_total and inc_fn:
        _compare(res, "summary 本年收入合计 = income table 合计", inc_total, [inc_fn], use_wan=True)
    if exp_total and exp_fn:
        _compare(res, "summary 本年支出合计 = spending table 合计", exp_total, [exp_fn], use_wan=True)
    app_exp = _find(facts, ("appropriation_summary",), r"^(本年|当年)?支出(合计|小计)$", r"一般公共预算")
    gb = _find(facts, ("general_budget_by_function",), r"^(合计|总计)$", r"^(本年支出 › 合计|合计|一般公共预算支出 › 合计)$")
    if app_exp and gb:
        _compare(res, "appropriation 一般公共预算 支出 = general-budget table 合计", app_exp, [gb], use_wan=True)
    # the appropriation summary's spending = the appropriation-by-function table's 合计 (Jiangsu 公开04 / 公开05)
    app_all = _find(facts, ("appropriation_summary",), r"^(本年|当年)?支出(合计|小计)$")
    abf = _find(facts, ("appropriation_by_function",), r"^(合计|总计)$")
    if app_all and abf:
        _compare(res, "appropriation 支出合计 = appropriation table 合计", app_all, [abf], use_wan=True)
    # basic spending of the general budget: function table 合计 = economic-class table totals
    gb_basic = _find(facts, ("general_budget_by_function",), r"^(合计|总计)$", r"(^|› )基本支出$")
    if gb_basic:
        eco_total = _find(
            facts, ("basic_expenditure_by_economic_class",), r"^(合计|总计)$", r"(^|› )(合计|金额|决算数|基本支出)$"
        )
        if eco_total:
            _compare(res, "general budget 基本支出 = basic-spending table 合计", gb_basic, [eco_total], use_wan=True)
        else:
            pers = _find(facts, ("basic_expenditure_by_economic_class",), r"^人员经费合计$")
            pub_ = _find(facts, ("basic_expenditure_by_economic_class",), r"^公用经费合计$")
            if pers and pub_:
                _compare(res, "general budget 基本支出 = 人员经费合计 + 公用经费合计", gb_basic, [pers, pub_], use_wan=True)
    # 机关运行经费 (三公 table, actual) = 公用经费合计 (basic-spending table)
    op = None
    for f in facts:
        if (
            f.get("table_kind") == "three_public_expenses"
            and "机关运行经费" in str(f.get("row_label") or "")
            and re.search(r"决算", str(f.get("column") or ""))
        ):
            op = f
            break
    pub = _find(facts, ("basic_expenditure_by_economic_class",), r"^公用经费合计$")
    if op and pub:
        _compare(res, "机关运行经费 = 公用经费合计", op, [pub], use_wan=True)


def _check_assets(res: CheckResult, facts: list[dict[str, Any]]) -> None:
    """资产总额 = 流动资产 + 固定资产净值 + 对外投资 + 在建工程 + 无形资产净值 + 其他资产净值 (and 原值 likewise)."""
    by_row: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for f in facts:
        if f.get("table_kind") == "assets":
            by_row[(f["table_id"], int(f["row_index"]))][f["column"]] = f
    for cols in by_row.values():

        def pick(pred: Any, cols: dict[str, dict[str, Any]] = cols) -> list[dict[str, Any]]:
            return [f for c, f in cols.items() if pred(c)]

        def top(c: str) -> str:
            return c.split(COLUMN_SEP)[0]

        # 资产总额 = Σ parts at 净值, 资产原值合计 = Σ parts at 原值
        for head, m in (("资产总额", "净值"), ("资产原值合计", "原值")):
            total = next((f for c, f in cols.items() if c == head), None)
            if total is not None:
                parts = pick(lambda c: top(c) in ("流动资产", "对外投资/有价证券", "在建工程", "对外投资", "有价证券"))
                parts += pick(lambda c, m=m: top(c) == "固定资产" and ("小计" in c or "合计" in c) and c.endswith(m))
                parts += pick(lambda c, m=m: top(c) in ("无形资产", "其他资产") and c.endswith(m))
                if parts:
                    _compare(res, f"{head} = Σ parts ({m})", total, parts)
        # 固定资产 小计 = Σ kinds, per 原值 / 净值
        for m in ("原值", "净值"):
            sub = next((f for c, f in cols.items() if top(c) == "固定资产" and "小计" in c and c.endswith(m)), None)
            kinds = pick(lambda c, m=m: top(c) == "固定资产" and "小计" not in c and c.endswith(m))
            if sub is not None and kinds:
                _compare(res, f"固定资产 小计 = Σ kinds ({m})", sub, kinds)


def run_checks(facts_df: pd.DataFrame, meta: ReportMeta) -> CheckResult:
    """Run every identity check on one report's facts."""
    res = CheckResult(report_id=meta.report_id, department=meta.department, year=meta.year)
    if facts_df is None or len(facts_df) == 0:
        return res
    df = facts_df[facts_df["report_id"] == meta.report_id] if "report_id" in facts_df else facts_df
    all_facts = _records(df)
    facts = _ok_rows(df)
    # a figure printed without a code or name is checked where it was attached, not where it was printed
    facts = [f for f in facts if f.get("code") or f.get("row_label") or f.get("table_kind") not in _GROUPED_KINDS]
    for fn in (
        lambda: _check_codes(res, facts),
        lambda: _check_columns(res, facts, all_facts),
        lambda: _check_three_public_rows(res, facts, all_facts),
        lambda: _check_summary(res, facts),
        lambda: _check_cross_tables(res, facts),
        lambda: _check_assets(res, facts),
    ):
        try:
            fn()
        except Exception:  # a check bug must not stop the others
            log.exception("a check failed to run on %s", meta.report_id)
    return res


_GROUPED_KINDS = {"basic_expenditure_by_economic_class", "project_expenditure_by_economic_class"}


def check_index(index_dir: Path) -> list[CheckResult]:
    """Run the checks on every report of an index."""
    from assistant.store import load_index

    idx = load_index(Path(index_dir))
    out = []
    for meta in idx.reports:
        out.append(run_checks(idx.facts[idx.facts["report_id"] == meta.report_id], meta))
    return out
