"""Execute a ``QueryPlan`` on the fact table with pandas boolean masks (nothing from the question is evaluated).

The result is structured (``TableResult``): figures with the facts behind them, the parts of a
canonical total, notes, or a status saying why there is no figure (clarify / not published /
empty table / not ingested / not found). ``answer.py`` turns it into sentences.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from assistant.ask.planner import ParsedQuestion, Vocab, dept_key
from assistant.glossary import measures, norm_label, term_by_label, term_index, terms
from assistant.models import ItemRef, ReportMeta
from assistant.orgnames import own_place_words

log = logging.getLogger(__name__)

MONEY_UNITS = {"万元", "元", "亿元", "千元"}
ACTUAL_STRICT = ("决算统计数", "决算数", "全年执行数", "实际支出金额", "实际支出", "执行数", "实际完成值")
BUDGET_STRICT = ("预算数", "年初预算数", "年初预算", "批复金额", "预算金额", "预算")
NEUTRAL = ("本年支出合计", "本年支出 › 合计", "支出 › 合计", "本年收入合计", "合计", "金额", "小计", "总计")
# table kinds tried, in order, for an item without a glossary preference
DEFAULT_KIND_ORDER = [
    "three_public_expenses",
    "meetings_training",
    "expenditure_by_function",
    "income_expenditure_summary",
    "general_budget_by_function",
    "appropriation_summary",
    "income_by_function",
    "basic_expenditure_by_economic_class",
    "project_expenditure_by_economic_class",
    "performance_indicators",
    "project_performance",
    "assets",
    "government_fund",
    "state_capital",
    "other",
]
ECON_KINDS = ("basic_expenditure_by_economic_class", "project_expenditure_by_economic_class")


@dataclass
class Figure:
    """A number in an answer, with the fact behind it (None for a computed figure)."""

    value: Decimal
    unit: str
    label: str
    report: ReportMeta | None = None
    fact: dict[str, Any] | None = None
    value_wan: Decimal | None = None
    role: str = "item"
    """item | total | part | child | rank | computed | text."""
    label_en: str | None = None
    text: str | None = None
    """For a text cell (e.g. the reason beside an execution rate)."""

    @property
    def is_money(self) -> bool:
        return self.unit in MONEY_UNITS

    @property
    def column(self) -> str | None:
        return self.fact.get("column") if self.fact else None


@dataclass
class Located:
    """An item found in one report."""

    status: str
    """ok | not_published | empty_table | not_found."""
    figure: Figure | None = None
    parts: list[Figure] = field(default_factory=list)
    row_facts: list[dict[str, Any]] = field(default_factory=list)
    """The other cells of the row (what is printed when the asked column is not)."""
    table_title: str = ""
    table_number: str = ""
    note: str = ""
    texts: list[Figure] = field(default_factory=list)
    """Text cells of the same row (reasons, explanations)."""
    alt: list[Figure] = field(default_factory=list)
    """Companion figures worth naming (原值 beside 净值)."""


@dataclass
class TableResult:
    """What the table tool found for a plan."""

    status: str
    """ok | clarify | not_found | not_published | empty_table | not_ingested | no_item."""
    operation: str
    figures: list[Figure] = field(default_factory=list)
    headline: Figure | None = None
    parts: list[Figure] = field(default_factory=list)
    texts: list[Figure] = field(default_factory=list)
    alt: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    clarify_what: str = ""
    """department | year | kind (what the options are)."""
    reports: list[ReportMeta] = field(default_factory=list)
    item_label: str = ""
    item_en: str = ""
    measure: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, list[Figure]] = field(default_factory=dict)
    """For rank across kinds: kind → ranked figures."""


# --------------------------------------------------------------------------- reports


class _ReportIndex:
    """The reports of a vocabulary by department key and by words inside a department name, built once
    (a question's report resolution then does not scan every report)."""

    def __init__(self, reports: list[ReportMeta]) -> None:
        self.reports = reports
        self.key = {r.report_id: dept_key(r.department) for r in reports}
        self.pos = {r.report_id: i for i, r in enumerate(reports)}
        self.by_key: dict[str, list[ReportMeta]] = {}
        self.by_dept: dict[str, list[ReportMeta]] = {}
        for r in reports:
            self.by_key.setdefault(self.key[r.report_id], []).append(r)
            self.by_dept.setdefault(r.department, []).append(r)
        self._inside: dict[str, list[ReportMeta]] = {}
        from assistant.ask.scope import NameSearch

        self._names = NameSearch(list(self.by_dept))

    def containing(self, name: str) -> list[ReportMeta]:
        got = self._inside.get(name)
        if got is None:
            got = [r for d in self._names.containing(name) for r in self.by_dept[d]]
            if len(self._inside) > 4096:
                self._inside.clear()
            self._inside[name] = got
        return got

    def of_departments(self, depts: list[str]) -> list[ReportMeta]:
        """Reports whose department is one of ``depts`` (by key) or contains one of them, in index order."""
        got = {r.report_id: r for d in {dept_key(x) for x in depts} for r in self.by_key.get(d, [])}
        for d in depts:
            got.update((r.report_id, r) for r in self.containing(d))
        return sorted(got.values(), key=lambda r: self.pos[r.report_id])


def _report_index(vocab: Vocab) -> _ReportIndex:
    ri = vocab.extra.get("table_query.reports")
    if ri is None or ri.reports is not vocab.reports:
        ri = vocab.extra["table_query.reports"] = _ReportIndex(vocab.reports)
    return ri


def resolve_reports(pq: ParsedQuestion, vocab: Vocab) -> tuple[list[ReportMeta], TableResult | None]:
    """The reports the plan is about, or a result that asks to clarify / says what is not ingested."""
    plan = pq.plan
    op = plan.operation
    reps = list(vocab.reports)
    if plan.reports.report_ids:
        reps = [r for r in reps if r.report_id in plan.reports.report_ids]
        return reps, None
    if pq.dept_ambiguous:
        return [], TableResult("clarify", op, options=sorted({dept_key(d) for d in pq.dept_ambiguous}), clarify_what="department")
    depts = pq.departments or ([plan.reports.department] if plan.reports.department else [])
    ri = _report_index(vocab)
    if depts:
        reps = ri.of_departments(depts)
        if not reps:
            return [], TableResult("not_ingested", op, detail={"department": depts[0]})
    else:
        # an item printed only in some reports (招商工作经费) names its department itself
        for it in plan.items:
            ids = vocab.labels.get(norm_label(it.label or "")) if it.label and term_by_label(it.label) is None else None
            if ids:
                reps = [r for r in reps if r.report_id in ids] or reps
    # scope: prefer the department-wide report unless the question asks for the unit-level one
    if pq.scope == "both":
        pass
    elif pq.scope:
        scoped = [r for r in reps if r.scope == pq.scope]
        reps = scoped or reps
    else:
        wide = {(ri.key[r.report_id], r.year, r.kind) for r in reps if r.scope == "部门"}
        reps = [r for r in reps if r.scope == "部门" or (ri.key[r.report_id], r.year, r.kind) not in wide]
    years = sorted(set(pq.years or ([plan.reports.year] if plan.reports.year else [])))
    if op == "yoy" and len(years) == 1:
        earlier = [r.year for r in reps if r.year < years[0]]
        if earlier:
            years = [max(earlier), years[0]]
            plan.compare_year = years[0]
    if years:
        have = sorted({r.year for r in reps})
        inyear = [r for r in reps if r.year in years]
        two_years = op in ("yoy", "difference", "ratio", "share") and len(years) >= 2
        if not inyear or (two_years and len({r.year for r in inyear}) < min(2, len(years))):
            missing = [y for y in years if y not in have]
            return [], TableResult(
                "not_ingested",
                op,
                detail={"year": missing[0] if missing else years[-1], "have": have, "department": depts[0] if depts else None},
            )
        reps = inyear
    if not depts and op not in ("rank",) and len({ri.key[r.report_id] for r in reps}) > 1:
        return [], TableResult("clarify", op, options=sorted({ri.key[r.report_id] for r in reps}), clarify_what="department")
    kind = plan.reports.kind
    if kind:
        same = [r for r in reps if r.kind == kind]
        if same:
            reps = same
        elif kind == "决算":
            return [], TableResult("not_published", op, reports=reps, detail={"why": "only_budget"})
        # 预算 asked, only 决算 ingested: the final accounts print the budget (预算数) beside the actual
    if pq.over_years and depts:
        by_kind: dict[str, list[ReportMeta]] = {}
        for r in reps:
            by_kind.setdefault(r.kind, []).append(r)
        pick = kind if kind in by_kind else max(by_kind, key=lambda k: (len(by_kind[k]), k == "决算"))
        return sorted(by_kind[pick], key=lambda r: r.year), None
    if op == "rank":
        if pq.places and not depts:
            reps = [r for r in reps if all(p in f"{r.place}{r.department}" for p in pq.places)] or reps
            # 浙江省各部门: the province's own departments, not its cities' and counties' (when it has any)
            reps = [r for r in reps if set(pq.places) & own_place_words(r.department, r.place or "")] or reps
        return reps, None
    if op == "yoy":
        if len({dept_key(r.department) for r in reps}) > 1:
            return [], TableResult(
                "clarify", op, options=sorted({dept_key(r.department) for r in reps}), clarify_what="department"
            )
        return reps, None
    # one report per named department
    by_dept: dict[str, list[ReportMeta]] = {}
    for r in reps:
        by_dept.setdefault(dept_key(r.department), []).append(r)
    chosen = []
    if pq.scope == "both":
        return sorted(reps, key=lambda r: r.scope != "部门"), None
    for d, rs in by_dept.items():
        ys = sorted({r.year for r in rs})
        if len(ys) > 1:
            return [], TableResult("clarify", op, options=[str(y) for y in ys], clarify_what="year", detail={"department": d})
        kinds = sorted({r.kind for r in rs})
        if len(kinds) > 1:
            actualish = plan.measure in ("决算数",)
            pick = "决算" if actualish or plan.measure is None else "预算"
            rs = [r for r in rs if r.kind == pick] or rs
        chosen.append(rs[0])
    return chosen, None


# --------------------------------------------------------------------------- locating an item


def _term_for(item: ItemRef) -> dict[str, Any] | None:
    if item.label:
        t = term_by_label(item.label)
        if t:
            return t
    if item.code:
        for t in terms():
            if item.code in t.get("codes", []) and t.get("kind") != "column":
                return t
    return None


def _measure_patterns(measure: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not measure:
        return (), ()
    for m in measures():
        if m["zh"] == measure or measure in m.get("aliases_zh", []):
            return tuple(m.get("columns", [])), tuple(m.get("exclude", []))
    t = term_by_label(measure)
    if t and t.get("columns"):
        return tuple(t["columns"]), ()
    return (measure,), ()


def _match_any(col: str, pats: tuple[str, ...]) -> int | None:
    for i, p in enumerate(pats):
        if p in col:
            return i
    return None


def pick_column(
    row: pd.DataFrame, measure: str | None, report_kind: str, term: dict[str, Any] | None
) -> tuple[pd.Series | None, str]:
    """The fact of ``row`` for ``measure``; (None, reason) when the row does not print it.

    Budget and actual are never mixed: in a 决算 report the default is the actual column and a
    budget column is used only when asked; in a 预算 report an actual figure is never taken.
    """
    row = row.sort_values("_col")
    cols = row["column"].fillna("").astype(str)
    restricted = False
    if term and term.get("columns"):
        keep = cols.map(lambda c: _match_any(c, tuple(term["columns"])) is not None)
        if keep.any():
            row, cols = row[keep], cols[keep]
            restricted = True
    if measure is None and term and term.get("default_measure"):
        measure = term["default_measure"]
    budget_cols = ("预算数", "全年预算", "年初预算", "批复")
    actual_cols = ("决算", "执行数", "实际")
    if measure == "决算数" or (measure is None and report_kind == "决算"):
        pats = ACTUAL_STRICT + (NEUTRAL if report_kind == "决算" else ())
        excl: tuple[str, ...] = budget_cols if report_kind == "决算" else ()
    elif measure == "预算数" or (measure is None and report_kind == "预算"):
        pats = BUDGET_STRICT + (NEUTRAL if report_kind == "预算" else ())
        excl = ("全年预算", *actual_cols)
    else:
        pats, excl = _measure_patterns(measure)
    if restricted and (measure is None or measure in ("决算数", "预算数")):
        # a column-like item (基本支出, 资产总额): its own column, minus the other kind's columns
        pats = ("",)
        if measure == "预算数" or (measure is None and report_kind == "预算"):
            excl = actual_cols
        else:
            excl = budget_cols if report_kind == "决算" else ()
            if measure == "决算数" and report_kind == "预算":
                return None, "not_published"
    best: tuple[tuple[int, int, int, int], pd.Series] | None = None
    for (_, f), c in zip(row.iterrows(), cols, strict=True):
        k = _match_any(c, pats)
        if k is None or (excl and _match_any(c, excl) is not None):
            continue
        penalty = 1 if any(w in c for w in ("收入", "结转", "年初", "年末")) and "收入" not in (measure or "") else 0
        na = 1 if f["status"] != "ok" else 0
        key = (na, penalty, k, int(f["_col"]))
        if best is None or key < best[0]:
            best = (key, f)
    if best is not None:
        return best[1], "ok"
    natural = "决算数" if report_kind == "决算" else "预算数"
    ok = row[row["status"] == "ok"]
    if measure in (None, natural) and len(ok) == 1:
        c = str(ok.iloc[0]["column"] or "")
        other = ("预算", "批复") if report_kind == "决算" else ("决算", "实际", "执行")
        if not any(w in c for w in other):
            return ok.iloc[0], "ok"  # a one-figure row (机关运行经费支出): the report's own kind of figure
    return None, "not_published"


def _figure(f: pd.Series, report: ReportMeta | None, label: str | None = None, role: str = "item") -> Figure:
    unit = str(f["unit"] or "")
    v = f["value"]
    return Figure(
        value=v if isinstance(v, Decimal) else Decimal(str(v)),
        unit=unit,
        label=label or str(f["row_label"]),
        report=report,
        fact=_fact_dict(f),
        value_wan=f["value_wan"] if isinstance(f["value_wan"], Decimal) else None,
        role=role,
    )


FACT_KEYS = (
    "fact_id",
    "report_id",
    "department",
    "year",
    "kind",
    "table_number",
    "table_title",
    "table_kind",
    "page",
    "code",
    "row_label",
    "column",
    "raw",
    "unit",
)


def _fact_dict(f: pd.Series) -> dict[str, Any]:
    return {k: (None if (not isinstance(f[k], (str, Decimal)) and pd.isna(f[k])) else f[k]) for k in FACT_KEYS}


def _text_figures(row: pd.DataFrame, report: ReportMeta) -> list[Figure]:
    out = []
    for _, f in row[row["status"] == "text"].iterrows():
        col = str(f["column"] or "")
        if any(w in col for w in ("原因", "说明", "措施", "备注")) and str(f["raw"]).strip():
            fig = Figure(
                value=Decimal(0), unit="", label=str(f["row_label"]), report=report, role="text", text=str(f["raw"]).strip()
            )
            fig.fact = _fact_dict(f)
            out.append(fig)
    return out


def _empty_table_note(vocab: Vocab, report: ReportMeta, kinds: list[str]) -> tuple[str, str, str] | None:
    t = vocab.tables
    if t is None or not len(t):
        return None
    sub = t[(t["report_id"] == report.report_id) & (t["table_kind"].isin(kinds))]
    if not len(sub):
        return None
    first = sub.iloc[0]
    facts = vocab.by_report.get(report.report_id)
    empty = (
        bool(first["empty"])
        or facts is None
        or not bool(((facts["table_id"] == first["table_id"]) & (facts["status"] == "ok")).any())
    )
    if empty:
        return str(first.get("title", "")), str(first.get("number", "")), str(first.get("note", "") or "")
    return None


_GENERIC_ROWS = {"合计", "小计", "总计", "支出合计", "收入合计"}


def item_needs(item: ItemRef) -> dict[str, set[str]]:
    """What ``locate`` may read to find ``item`` in a report: whole tables of these ``kinds`` (the item's own
    tables), and whole rows of these ``codes``, normalized ``labels`` or labels ``containing`` a word (a
    superset, so that a fact store can hand ``locate`` only those cells and the answer stays the same)."""
    term = _term_for(item)
    kinds: set[str] = set()
    codes: set[str] = set()
    labels: set[str] = set()
    containing: set[str] = set()
    if term:
        # generic rows (合计) are read only inside the term's own tables, which are taken whole
        labels = {norm_label(x) for x in [term["zh"], *term.get("labels", []), *term.get("aliases_zh", [])]} - _GENERIC_ROWS
        codes = set(term.get("codes", []))
        kinds = set(term.get("tables", []))
        for p in term.get("parts", []):  # parts are read by code (rows), not as whole tables
            codes.add(p["code"])
    elif item.label:
        labels = {norm_label(item.label)}
        if len(norm_label(item.label)) >= 3:
            containing = {norm_label(item.label)}
    if item.code:
        codes.add(item.code)
    return {"kinds": kinds, "codes": codes, "labels": labels, "containing": containing}


def locate(vocab: Vocab, report: ReportMeta, item: ItemRef, measure: str | None) -> Located:
    """Find ``item`` in ``report``: the canonical figure, its parts, or why there is none."""
    facts = vocab.by_report.get(report.report_id)
    term = _term_for(item)
    if facts is None or not len(facts):
        return Located("not_found")
    labels: set[str] = set()
    codes: set[str] = set()
    kinds_pref: list[str] = []
    if term:
        labels = {norm_label(x) for x in [term["zh"], *term.get("labels", [])]}
        codes = set(term.get("codes", []))
        kinds_pref = list(term.get("tables", []))
    if item.label and not term:
        labels = {norm_label(item.label)}
    if item.code:
        codes.add(item.code)
    label = term["zh"] if term else (item.label or item.code or "")
    # 基本支出中的公务接待费: the basic / project part of a concept printed in several tables
    if term and term.get("parts") and measure in ("基本支出", "项目支出"):
        want = ECON_KINDS[0] if measure == "基本支出" else ECON_KINDS[1]
        parts = [p for p in _parts(vocab, report, term, None) if p.fact and p.fact.get("table_kind") == want]
        if parts and parts[0].fact is not None:  # the filter above kept only parts with a fact
            return Located(
                "ok",
                figure=parts[0],
                table_title=str(parts[0].fact.get("table_title")),
                table_number=str(parts[0].fact.get("table_number")),
            )
    generic = {"合计", "小计", "总计", "支出合计", "收入合计"}
    mask = facts["_label"].isin(labels - generic)
    if codes:
        mask = mask | facts["code"].isin(codes)
    if labels & generic and kinds_pref:
        gen = facts["_label"].isin(labels & generic) & facts["table_kind"].isin(kinds_pref)
        for w in (term or {}).get("title_words", []):
            gen = gen & facts["table_title"].fillna("").str.contains(w, regex=False)
        mask = mask | gen
    cand = facts[mask]
    if not len(cand) and item.label and not term:
        key = norm_label(item.label)
        cand = facts[facts["_label"].str.contains(key, regex=False)] if len(key) >= 3 else cand
    if term and term.get("kind") == "column" and kinds_pref:
        cand = cand[cand["table_kind"].isin(kinds_pref)]
        cols_ok = (
            cand["column"].fillna("").map(lambda c: _match_any(c, tuple(term.get("columns", []))) is not None)
            if len(cand)
            else cand["column"]
        )
        if not len(cand) or not cols_ok.any():
            # some reports print the concept as a row (一、基本支出) instead of a column
            zh = norm_label(term["zh"])
            last = facts["_label"].map(lambda x: x.rsplit("›", 1)[-1])
            rows = facts[(last.map(norm_label) == zh) & facts["table_kind"].isin(kinds_pref)]
            if len(rows):
                term = {**term, "columns": [], "kind": "item"}
                cand = rows
                labels = set(rows["_label"])
    # items printed as columns (one-row 三公 tables: “三公”经费 › 公务接待费 › 预算数)
    if term and kinds_pref and not (len(cand) and cand["table_kind"].isin(kinds_pref).any()):
        col_loc = _column_item(facts, report, term, measure, kinds_pref, label)
        if col_loc is not None:
            if (
                col_loc.status == "ok"
                and term.get("parts")
                and measure in (None, "决算数" if report.kind == "决算" else "预算数")
            ):
                col_loc.parts = _parts(vocab, report, term, measure)
            return col_loc
    # the canonical table is empty (no such spending / income): an answer with its note
    if kinds_pref and not (len(cand) and cand["table_kind"].isin(kinds_pref).any()):
        note = _empty_table_note(vocab, report, kinds_pref[:1])
        if note:
            return Located("empty_table", table_title=note[0], table_number=note[1], note=note[2])
    if not len(cand):
        return Located("not_found")
    order = {k: i for i, k in enumerate(kinds_pref)}
    default = {k: 100 + i for i, k in enumerate(DEFAULT_KIND_ORDER)}
    groups = []
    for (tid, ri, lab), g in cand.groupby(["table_id", "row_index", "_label"], sort=False):
        tk = str(g["table_kind"].iloc[0])
        exact = 0 if (lab in labels - generic or not term) else (1 if lab in labels else 2)
        groups.append(((order.get(tk, default.get(tk, 200)), exact, str(tid), int(ri)), tk, tid, ri, lab))
    groups.sort(key=lambda x: x[0])
    missing: Located | None = None
    for _key, tk, tid, ri, lab in groups:
        canonical = tk in kinds_pref
        if term and term.get("parts") and tk in ECON_KINDS and not canonical:
            continue  # economic-class rows are the parts, summed below
        row = vocab.row(report.report_id, tid, ri, lab)
        if not (row["status"] == "ok").any():
            continue  # a heading row (all —)
        f, _why = pick_column(row, measure, report.kind, term)
        if f is not None and f["status"] == "ok" and f["value"] is not None:
            loc = Located(
                "ok",
                figure=_figure(f, report, label, role="total"),
                table_title=str(f["table_title"]),
                table_number=str(f["table_number"]),
            )
            loc.texts = _text_figures(row, report)
            natural = "决算数" if report.kind == "决算" else "预算数"
            if term and term.get("parts") and tk not in ECON_KINDS and measure in (None, natural):
                loc.parts = _parts(vocab, report, term, measure)
            if term and term.get("default_measure") and measure is None:
                other = "原值" if term["default_measure"] == "净值" else "净值"
                f2, _ = pick_column(row, other, report.kind, term)
                if f2 is not None and f2["status"] == "ok":
                    loc.alt.append(_figure(f2, report, f"{label}{other}", role="alt"))
            return loc
        if missing is None:
            printed = [r for _, r in row.iterrows() if r["status"] == "ok"]
            missing = Located(
                "not_published",
                row_facts=[
                    {"column": r["column"], "raw": r["raw"], "status": r["status"], "fact": _figure(r, report)} for r in printed
                ],
                table_title=str(row["table_title"].iloc[0]),
                table_number=str(row["table_number"].iloc[0]),
            )
        if canonical and missing is not None:
            return missing  # the canonical table prints the row but not this column: not published
    # no canonical row: total = the parts (basic + project spending by economic class); a budget asked of a
    # budget report is what its parts print (a final account's parts print only the actual)
    natural = "决算数" if report.kind == "决算" else "预算数"
    if term and term.get("parts") and (measure not in ("预算数", "全年预算数") or measure == natural):
        parts = _parts(vocab, report, term, measure)
        if parts:
            same = len({p.unit for p in parts}) == 1
            total = sum((p.value if same else (p.value_wan or p.value) for p in parts), Decimal(0))
            unit = parts[0].unit if same else "万元"
            fig = Figure(
                value=total, unit=unit, label=label, report=report, role="computed", value_wan=total if unit == "万元" else None
            )
            if len(parts) == 1:
                fig = parts[0]
                fig.label = label
                return Located("ok", figure=fig)
            return Located("ok", figure=fig, parts=parts, table_title="", table_number="")
    if missing is not None:
        return missing
    return Located("not_found")


MEASURE_SEGS = ("决算统计数", "全年预算数", "年初预算数", "预算数", "决算数", "金额")
VEHICLE_PARTS = {"购置费": "公务用车购置费", "运行费": "公务用车运行维护费", "运行维护费": "公务用车运行维护费"}


def _column_names(column: str) -> tuple[list[str], str | None]:
    """Item names a column path stands for, and its measure segment: '“三公”经费 › 公务接待费 › 预算数' → (['公务接待费'], '预算数')."""
    segs = [re.sub(r"^\d{4}年度?", "", norm_label(x)) for x in str(column).split("›") if x.strip()]
    meas = None
    if segs and segs[-1] in MEASURE_SEGS:
        meas = segs.pop()
    segs2 = []
    for sg in segs:
        for m in MEASURE_SEGS[:-1]:
            if sg.endswith(m) and len(sg) > len(m):
                meas = meas or m
                sg = sg[: -len(m)]
        segs2.append(sg)
    if not segs2:
        return [], meas
    last = segs2[-1]
    parent = segs2[-2] if len(segs2) > 1 else None
    names = [last]
    if last in ("合计", "小计") and parent:
        names = [parent]
    elif last in VEHICLE_PARTS and parent and "公务用车" in parent:
        names = [VEHICLE_PARTS[last]]
    return names, meas


def _column_item(
    facts: pd.DataFrame, report: ReportMeta, term: dict[str, Any], measure: str | None, kinds: list[str], label: str
) -> Located | None:
    sub = facts[facts["table_kind"].isin(kinds) & (facts["status"] == "ok")]
    if not len(sub):
        return None
    names = {norm_label(x) for x in [term["zh"], *term.get("labels", []), *term.get("aliases_zh", [])]} - {
        "合计",
        "小计",
        "总计",
        "支出合计",
    }
    hits = []
    for _, f in sub.iterrows():
        cnames, meas = _column_names(f["column"])
        if any(n in names or (term["id"] == "three_public" and n.endswith("三公经费")) for n in cnames):
            hits.append((f, meas))
    if not hits:
        return None
    want = measure or ("决算数" if report.kind == "决算" else "预算数")
    order = {"决算数": ("决算数", "决算统计数"), "预算数": ("预算数", "年初预算数"), "全年预算数": ("全年预算数",)}.get(want, ())
    for cue in order:
        for f, meas in hits:
            if meas == cue:
                return Located(
                    "ok",
                    figure=_figure(f, report, label, role="total"),
                    table_title=str(f["table_title"]),
                    table_number=str(f["table_number"]),
                )
    untagged = [f for f, meas in hits if meas is None]
    if untagged and (report.kind == "预算" and want == "预算数"):
        f = untagged[0]
        return Located(
            "ok",
            figure=_figure(f, report, label, role="total"),
            table_title=str(f["table_title"]),
            table_number=str(f["table_number"]),
        )
    f0 = hits[0][0]
    return Located(
        "not_published",
        row_facts=[{"column": f["column"], "raw": f["raw"], "status": f["status"], "fact": _figure(f, report)} for f, _m in hits],
        table_title=str(f0["table_title"]),
        table_number=str(f0["table_number"]),
    )


def _parts(vocab: Vocab, report: ReportMeta, term: dict[str, Any], measure: str | None) -> list[Figure]:
    facts = vocab.by_report.get(report.report_id)
    out: list[Figure] = []
    if facts is None:
        return out
    for p in term.get("parts", []):
        sub = facts[(facts["table_kind"] == p["table_kind"]) & (facts["code"] == p["code"]) & (facts["status"] == "ok")]
        if not len(sub):
            continue
        f, _ = pick_column(sub, None if measure in ("决算数", "预算数") else None, report.kind, None)
        if f is None:
            f = sub.iloc[0]
        fig = _figure(f, report, f"{term['zh']}（{p['zh']}）", role="part")
        fig.label_en = p["en"]
        out.append(fig)
    return out


# --------------------------------------------------------------------------- operations


def execute(pq: ParsedQuestion, vocab: Vocab) -> TableResult:
    """Run the plan. Never raises on data problems: statuses say what happened."""
    plan = pq.plan
    if not plan.items:
        if plan.operation == "breakdown":
            plan = plan.model_copy(update={"items": [ItemRef(label="本年支出合计")]})
            pq.plan = plan
        else:
            return TableResult("no_item", plan.operation)
    reps, early = resolve_reports(pq, vocab)
    item = plan.items[0]
    term = _term_for(item)
    label = term["zh"] if term else (item.label or item.code or "")
    label_en = term["en"] if term else ""
    if early is not None:
        early.item_label, early.item_en, early.measure = label, label_en, plan.measure
        return early
    op = plan.operation
    if pq.over_years and reps and len({r.year for r in reps}) > 1:
        res = _series(pq, vocab, reps)
        res.item_label, res.item_en, res.measure, res.reports = label, label_en, plan.measure, reps
        return res
    fn = {
        "rank": _rank,
        "yoy": _yoy,
        "difference": _difference,
        "ratio": _ratio,
        "share": _ratio,
        "sum": _sum,
        "breakdown": _breakdown,
    }.get(op, _lookup)
    res = fn(pq, vocab, reps)
    res.item_label = res.item_label or label
    res.item_en = res.item_en or label_en
    res.measure = res.measure or plan.measure
    res.reports = res.reports or reps
    return res


def _from_located(loc: Located, op: str) -> TableResult:
    if loc.status == "ok":
        return TableResult("ok", op, figures=[loc.figure], headline=loc.figure, parts=loc.parts, texts=loc.texts, alt=loc.alt)  # type: ignore[list-item]
    res = TableResult(loc.status, op, notes=[loc.note] if loc.note else [])
    res.detail = {"table_title": loc.table_title, "table_number": loc.table_number, "row_facts": loc.row_facts}
    return res


def _lookup(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    plan = pq.plan
    figures: list[Figure] = []
    first: TableResult | None = None
    multi = len(plan.items) > 1 or len(reps) > 1
    for rep in reps:
        for item in plan.items:
            loc = locate(vocab, rep, item, plan.measure)
            if not multi:
                return _from_located(loc, "lookup")
            if loc.status == "ok" and loc.figure:
                figures.append(loc.figure)
            elif first is None:
                first = _from_located(loc, "lookup")
    if not figures:
        return first or TableResult("not_found", "lookup")
    return TableResult("ok", "lookup", figures=figures, headline=figures[0] if len(figures) == 1 else None)


def _amount(f: Figure) -> Decimal:
    return f.value_wan if (f.is_money and f.value_wan is not None) else f.value


def _same_fact(a: Figure, b: Figure) -> bool:
    """One concept printed twice: the same normalized label, value and unit (in one table or two)."""
    return norm_label(a.label or "") == norm_label(b.label or "") and a.value == b.value and a.unit == b.unit


def _sum(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    if not reps:
        return TableResult("not_found", "sum")
    rep = reps[0]
    figs: list[Figure] = []
    for item in pq.plan.items:
        loc = locate(vocab, rep, item, pq.plan.measure)
        if loc.status != "ok" or loc.figure is None:
            return _from_located(loc, "sum")
        if not any(_same_fact(loc.figure, f) for f in figs):
            figs.append(loc.figure)
    if len(figs) == 1:  # the items named one printed fact (the same label and value): counted once, never A + A
        return TableResult("ok", "lookup", figures=figs, headline=figs[0], notes=["same_fact"])
    total = sum((_amount(f) for f in figs), Decimal(0))
    unit = "万元" if all(f.is_money for f in figs) else figs[0].unit
    head = Figure(total, unit, "+".join(f.label for f in figs), rep, role="computed", value_wan=total if unit == "万元" else None)
    return TableResult("ok", "sum", figures=figs, headline=head)


def _pair(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta], op: str) -> tuple[Figure, Figure] | TableResult:
    """The two figures a difference or ratio compares: two items, two departments, two years, or two measures."""
    plan = pq.plan
    items = plan.items
    if len(items) >= 2 and reps:
        t0, t1 = _term_for(items[0]), _term_for(items[1])
        if op == "share" and t0 and t1 and (t1.get("share_of") == t0["id"] or t0["id"] in ("total_expenditure", "total_income")):
            items = [items[1], items[0]]  # "what share of X went to Y": Y / X
        locs = [locate(vocab, reps[0], it, plan.measure) for it in items[:2]]
    elif len(reps) >= 2:
        reps2 = sorted(reps, key=lambda r: r.year) if len({r.year for r in reps}) > 1 else reps
        locs = [locate(vocab, r, items[0], plan.measure) for r in reps2[:2]]
    elif op in ("share", "ratio") and reps and pq.budget_vs_actual:
        # 决算数占预算数的比例: the same item, actual over budget
        locs = [locate(vocab, reps[0], items[0], "决算数"), locate(vocab, reps[0], items[0], "预算数")]
    elif op in ("share", "ratio") and reps:
        term = _term_for(items[0])
        of = "total_expenditure" if pq.share_of_whole or not term else term.get("share_of", "total_expenditure")
        denom = term_index().get(of)
        assert denom is not None, "glossary share_of names an unknown term"
        locs = [
            locate(vocab, reps[0], items[0], plan.measure),
            locate(vocab, reps[0], ItemRef(label=denom["zh"]), plan.measure if plan.measure in ("决算数", "预算数") else None),
        ]
    elif reps:
        # budget vs actual of one item (决算比预算少多少)
        locs = [
            locate(vocab, reps[0], items[0], "决算数" if reps[0].kind == "决算" else "预算数"),
            locate(vocab, reps[0], items[0], "预算数" if reps[0].kind == "决算" else "全年预算数"),
        ]
        if reps[0].kind == "决算" and locs[1].status == "ok" and "全年预算数" in (pq.plan.measure or ""):
            locs[1] = locate(vocab, reps[0], items[0], "全年预算数")
    else:
        return TableResult("not_found", op)
    for loc in locs:
        if loc.status != "ok" or loc.figure is None:
            return _from_located(loc, op)
    return locs[0].figure, locs[1].figure  # type: ignore[return-value]


def _q2(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _difference(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    pair = _pair(pq, vocab, reps, "difference")
    if isinstance(pair, TableResult):
        return pair
    a, b = pair
    if a.is_money != b.is_money:
        return TableResult("not_found", "difference", notes=["units differ"])
    same = a.unit == b.unit
    d = (a.value - b.value) if same else (_amount(a) - _amount(b))
    unit = a.unit if same else "万元"
    head = Figure(abs(d), unit, f"{a.label} − {b.label}", a.report, role="computed", value_wan=abs(d) if unit == "万元" else None)
    return TableResult("ok", "difference", figures=[a, b], headline=head, detail={"signed": d})


def _ratio(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    op = pq.plan.operation
    pair = _pair(pq, vocab, reps, op)
    if isinstance(pair, TableResult):
        return pair
    a, b = pair
    if _amount(b) == 0:
        return TableResult("not_found", op, figures=[a, b], notes=["denominator is zero"])
    if op == "ratio" and len(pq.plan.items) >= 2 and "%" not in pq.plan.model_dump_json():
        r = _amount(a) / _amount(b)
        pct = _q2(r * 100)
    else:
        pct = _q2(_amount(a) / _amount(b) * 100)
    head = Figure(pct, "%", f"{a.label} / {b.label}", a.report, role="computed")
    return TableResult("ok", op, figures=[a, b], headline=head)


def _yoy(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    plan = pq.plan
    by_kind: dict[str, list[ReportMeta]] = {}
    for r in reps:
        by_kind.setdefault(r.kind, []).append(r)
    kind = plan.reports.kind if plan.reports.kind in by_kind else max(by_kind, key=lambda k: len(by_kind[k])) if by_kind else None
    pool = sorted(by_kind.get(kind, []), key=lambda r: r.year) if kind else []
    if plan.compare_year and plan.reports.year:
        pool = [r for r in pool if r.year in (plan.compare_year, plan.reports.year)]
    if len(pool) < 2:
        have = sorted({r.year for r in reps})
        return TableResult(
            "not_ingested",
            "yoy",
            detail={"year": None, "have": have, "need_two": True, "department": reps[0].department if reps else None},
        )
    old, new = pool[-2], pool[-1]
    la = locate(vocab, old, plan.items[0], plan.measure)
    lb = locate(vocab, new, plan.items[0], plan.measure)
    for loc in (la, lb):
        if loc.status != "ok" or loc.figure is None:
            return _from_located(loc, "yoy")
    a, b = la.figure, lb.figure
    assert a is not None and b is not None
    same = a.unit == b.unit
    d = (b.value - a.value) if same else (_amount(b) - _amount(a))
    unit = a.unit if same else "万元"
    pct = _q2(d / (a.value if same else _amount(a)) * 100) if _amount(a) != 0 else None
    if pq.wants_percent and pct is not None:
        head = Figure(pct, "%", "change", new, role="computed")
    else:
        shown = abs(d) if pq.wants_magnitude else d
        head = Figure(shown, unit, "change", new, role="computed", value_wan=shown if unit == "万元" else None)
    return TableResult(
        "ok", "yoy", figures=[a, b], headline=head, detail={"pct": pct, "from": old.year, "to": new.year, "signed": d}
    )


def _rank(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    plan = pq.plan
    # the latest report per department and kind; budgets and final accounts ranked apart
    latest: dict[tuple[str, str], ReportMeta] = {}
    for r in reps:
        k = (dept_key(r.department), r.kind)
        if k not in latest or r.year > latest[k].year:
            latest[k] = r
    narrowed = getattr(vocab.by_report, "narrowed", None)
    if narrowed is not None:  # facts read per report: only the tables that can hold the item, filtered in DuckDB
        vocab = narrowed([r.report_id for r in latest.values()], **item_needs(plan.items[0]))
    groups: dict[str, list[Figure]] = {}
    missing: list[str] = []
    for (_d, kind), r in sorted(latest.items()):
        loc = locate(vocab, r, plan.items[0], plan.measure)
        if loc.status == "ok" and loc.figure is not None:
            groups.setdefault(kind, []).append(loc.figure)
        else:
            missing.append(
                f"{r.department} {r.year} {r.kind}（{ {'empty_table': '空表', 'not_published': '未公开'}.get(loc.status, '无此项') }）"
            )
    if not groups:
        return TableResult("not_found", "rank", notes=missing)
    for kind in groups:
        groups[kind].sort(key=lambda f: _amount(f), reverse=not pq.ascending)
    main = plan.reports.kind if plan.reports.kind in groups else max(groups, key=lambda k: (len(groups[k]), k == "决算"))
    ranked = groups[main][: plan.top_k]
    head = ranked[0]
    res = TableResult(
        "ok", "rank", figures=ranked, headline=head, notes=missing, groups={k: v[: plan.top_k] for k, v in groups.items()}
    )
    res.detail = {"kind": main, "ascending": pq.ascending}
    return res


def _series(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    """One item of one department over its years (oldest first); with 最高/最低, the year it was highest/lowest."""
    plan = pq.plan
    figs: list[Figure] = []
    missing: list[str] = []
    for r in sorted(reps, key=lambda r: r.year):
        loc = locate(vocab, r, plan.items[0], plan.measure)
        if loc.status == "ok" and loc.figure is not None:
            figs.append(loc.figure)
        else:
            missing.append(f"{r.year}")
    if not figs:
        return TableResult("not_found", "series", notes=missing)
    head = None
    if plan.operation == "rank" and len({f.unit for f in figs}) == 1:
        pick = min if pq.ascending else max
        head = pick(figs, key=_amount)
    elif len(figs) == 1:
        head = figs[0]
    res = TableResult("ok", "series", figures=figs, headline=head, notes=missing)
    res.detail = {
        "series": [{"year": f.report.year if f.report else None, "value": str(f.value), "unit": f.unit} for f in figs],
        "ascending": pq.ascending,
    }
    return res


def _breakdown(pq: ParsedQuestion, vocab: Vocab, reps: list[ReportMeta]) -> TableResult:
    plan = pq.plan
    if not reps:
        return TableResult("not_found", "breakdown")
    rep = reps[0]
    item = plan.items[0]
    term = _term_for(item)
    parent = locate(vocab, rep, item, plan.measure)
    if parent.status not in ("ok",):
        return _from_located(parent, "breakdown")
    children: list[Figure] = []
    if term and term.get("children"):
        for cid in term["children"]:
            ct = term_index()[cid]
            loc = locate(vocab, rep, ItemRef(label=ct["zh"]), plan.measure)
            if loc.status == "ok" and loc.figure is not None:
                loc.figure.role = "child"
                loc.figure.label_en = ct["en"]
                children.append(loc.figure)
    elif parent.parts:
        children = parent.parts
    else:
        pf = parent.figure.fact if parent.figure else None
        facts = vocab.by_report[rep.report_id]
        code = (pf or {}).get("code") or item.code
        if pf and code:
            tab = facts[(facts["table_number"] == pf["table_number"]) & (facts["table_title"] == pf["table_title"])]
            n = len(str(code))
            sub = tab[tab["code"].fillna("").str.startswith(str(code)) & (tab["code"].fillna("").str.len() == n + 2)]
            for _, g in sub.groupby("row_index", sort=True):
                f, _ = pick_column(g, plan.measure, rep.kind, None)
                if f is not None and f["status"] == "ok":
                    children.append(_figure(f, rep, role="child"))
        elif pf:
            # a total row: its function classes (3-digit codes) in the same table
            tab = facts[(facts["table_number"] == pf["table_number"]) & (facts["table_title"] == pf["table_title"])]
            sub = tab[tab["code"].fillna("").str.len() == 3]
            for _, g in sub.groupby("row_index", sort=True):
                f, _ = pick_column(g, plan.measure, rep.kind, None)
                if f is not None and f["status"] == "ok" and f["value"] != 0:
                    children.append(_figure(f, rep, role="child"))
    res = TableResult(
        "ok", "breakdown", figures=children, headline=parent.figure, parts=parent.parts if children is not parent.parts else []
    )
    if not children:
        res.notes.append("no_children")
    return res


def fmt_decimal(v: Decimal, places: int | None = None) -> str:
    """1234.5 → '1,234.50' (keeps the printed scale unless ``places`` is given)."""
    if places is not None:
        v = v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    s = f"{v:,f}"
    return s


def to_float(v: Decimal | None) -> float | None:
    return None if v is None else float(v)
