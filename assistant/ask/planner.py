"""Question (+ history) → a typed ``QueryPlan``, deterministically from the glossary and the index vocabulary.

``build_vocab(index)`` learns, once per loaded index (cached in ``index.extra``), the departments and
their short names, the years, and the row labels / codes printed in the fact table, so that
"招商工作经费" or "行政运行" resolve to rows even when the glossary does not list them.

``parse_question`` returns a ``ParsedQuestion`` (the plan plus what the question named explicitly,
which follow-ups need); ``plan_question`` is the public entry and returns only the ``QueryPlan``.

LLM hook: with ``llm`` given and the deterministic parse unsure (no item found), ``llm.plan(question,
context)`` may return a QueryPlan (or its dict); it is validated against the vocabulary before use and
any failure falls back to the deterministic plan. The model never supplies a figure.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from assistant.ask.guard import leftover_words, unknown_english_item, unknown_item_words
from assistant.ask.labelsim import only_similarity, partial_matches, similar_label
from assistant.ask.matcher import SpanMatcher
from assistant.catalog import department_aliases_zh, department_place_words, read_department_aliases, read_place_words
from assistant.catalog import dept_key as catalog_dept_key
from assistant.factframe import col_indexes, label_norms
from assistant.glossary import (
    classification,
    classification_name,
    item_words,
    measures,
    norm_label,
    normalize_text,
    term_by_label,
    term_index,
    terms,
)
from assistant.models import Answer, ItemRef, QueryPlan, ReportFilter, ReportMeta
from assistant.orgnames import canonical_key, department_names, department_places, pinyin

log = logging.getLogger(__name__)

VOCAB_KEY = "ask.vocab"

GENERIC_LABELS = {
    "合计", "小计", "总计", "栏次", "项目", "科目名称", "金额", "其中", "行次", "类", "款", "项", "备注", "说明", "无",
    "一级指标", "二级指标", "三级指标", "数量指标", "质量指标", "时效指标", "成本指标", "产出指标", "效益指标",
    "满意度指标", "经济效益指标", "社会效益指标", "可持续影响指标", "服务对象满意度指标", "上年结转资金",
    "年度资金总额", "其中:当年财政拨款", "当年财政拨款", "总分", "其他", "其他支出",
}  # fmt: skip

# --------------------------------------------------------------------------- vocabulary


@dataclass
class Vocab:
    """What the planner knows about an index: departments, years, labels, codes, and per-report facts."""

    reports: list[ReportMeta]
    dept_aliases: list[tuple[str, str]]
    """(alias, department) longest alias first."""
    years: list[int]
    labels: dict[str, set[str]]
    """Normalized row label → report ids printing it (labels of 3+ characters, generic ones dropped)."""
    label_list: list[str]
    """The keys of ``labels``, longest first."""
    codes: set[str]
    facts: pd.DataFrame
    """index.facts plus helper columns: _label (normalized row label), _col (column index)."""
    by_report: dict[str, pd.DataFrame]
    tables: pd.DataFrame
    term_zh: list[tuple[str, str]] = field(default_factory=list)
    """(normalized Chinese alias, term id), longest first."""
    term_en: list[tuple[str, str]] = field(default_factory=list)
    """(lower-case English alias, term id), longest first."""
    dept_en: list[tuple[str, str]] | None = None
    """(normalized English name, department), longest first (from the organisation type, by rule)."""
    cls_zh: list[tuple[str, str]] = field(default_factory=list)
    """(classification name or everyday word, "cls:" + codes joined by +): items of the national classification."""
    cls_en: list[tuple[str, str]] = field(default_factory=list)
    code_labels: dict[str, str] = field(default_factory=dict)
    """Classification code → the label printed beside it (first seen)."""
    place_words: dict[str, str] = field(default_factory=dict)
    """Words naming an ingested department's place (short name, full name, pinyin) → the short name."""

    _rows: dict[str, dict[tuple[Any, ...], pd.DataFrame]] = field(default_factory=dict)
    _matchers: dict[str, SpanMatcher] = field(default_factory=dict)
    _place_words_en: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Caches of modules that work on the vocabulary (suggestion index …)."""

    def dept_names_en(self) -> list[tuple[str, str]]:
        """(English name, department), longest first; built on the first English question (needs pinyin)."""
        if self.dept_en is None:
            names: dict[str, set[str]] = {}
            for r in self.reports:
                for a in _dept_names_en(r.department):
                    names.setdefault(a, set()).add(r.department)
            self.dept_en = sorted(((a, d) for a, ds in names.items() for d in ds), key=lambda x: -len(x[0]))
        return self.dept_en

    def alias_index(self) -> dict[str, set[str]]:
        """Alias → the departments it names (Chinese aliases), built once per alias list."""
        got = self.extra.get("planner.alias_index")
        if got is None or got[0] is not self.dept_aliases:
            by: dict[str, set[str]] = {}
            for a, d in self.dept_aliases:
                by.setdefault(a, set()).add(d)
            got = self.extra["planner.alias_index"] = (self.dept_aliases, by)
        return got[1]

    def alias_index_en(self) -> dict[str, set[str]]:
        """English name → the departments it names, built once."""
        names = self.dept_names_en()
        got = self.extra.get("planner.alias_index_en")
        if got is None or got[0] is not names:
            by: dict[str, set[str]] = {}
            for a, d in names:
                by.setdefault(a, set()).add(d)
            got = self.extra["planner.alias_index_en"] = (names, by)
        return got[1]

    def place_words_for(self, q: str) -> dict[str, str]:
        """Place words of the ingested departments; their pinyin only for a question in Latin letters."""
        if not re.search(r"[a-z]", q):
            return self.place_words
        if self._place_words_en is None:
            self._place_words_en = {**self.place_words, **_place_pinyin(self.reports)}
        return self._place_words_en

    def matcher(self, name: str) -> SpanMatcher:
        """The automaton for ``items`` (terms and printed labels), ``terms_en``, ``depts`` or ``depts_en``, built once."""
        m = self._matchers.get(name)
        if m is None:
            if name == "items":
                group = {"label": 1, "cls": 2}
                needles = sorted(
                    [
                        *self.term_zh,
                        *((lab.lower(), "label:" + lab) for lab in self.label_list if CJK.search(lab)),
                        *self.cls_zh,
                    ],
                    key=lambda x: (-len(x[0]), group.get(x[1].split(":", 1)[0], 0), x),
                )
            elif name == "terms_en":
                needles = [*self.term_en, *self.cls_en]
            elif name == "depts":
                needles = self.dept_aliases
            else:
                needles = self.dept_names_en()
            m = self._matchers[name] = SpanMatcher(needles, leftmost_ties=name == "items")
        return m

    def row(self, report_id: str, table_id: str, row_index: int, label: str) -> pd.DataFrame:
        """The cells of one printed row (side-by-side tables share a row index, so the label is part of the key)."""
        groups = self._rows.get(report_id)
        if groups is None:
            f = self.by_report.get(report_id)
            groups = {} if f is None else {k: g for k, g in f.groupby(["table_id", "row_index", "_label"], sort=False)}
            self._rows[report_id] = groups
        return groups.get((table_id, row_index, label), self.facts.iloc[0:0])

    @property
    def latest_year(self) -> int | None:
        return max(self.years) if self.years else None

    def departments(self) -> list[str]:
        return sorted({r.department for r in self.reports})

    def summary(self) -> str:
        """One line per ingested report (for 'what is ingested' messages and LLM context)."""
        return "; ".join(f"{r.department} {r.year} {r.kind}" for r in sorted(self.reports, key=lambda r: (r.department, r.year)))


def dept_key(department: str) -> str:
    """A department without scope marks: 杭州市西湖区司法局（本级） and 杭州市西湖区司法局 are one department."""
    return catalog_dept_key(department)


def _dept_aliases(department: str) -> set[str]:
    """Chinese aliases of a department, by the general rules of ``assistant.orgnames``."""
    return set(department_aliases_zh(department))


def _all_dept_aliases(index: Any) -> dict[str, frozenset[str]]:
    """Each department's Chinese aliases: from the version catalog kept at commit time, else computed."""
    depts = {r.department for r in index.reports}
    path = getattr(index, "path", None)
    got = read_department_aliases(path, depts) if path is not None and depts else None
    return got if got is not None else {d: department_aliases_zh(d) for d in depts}


def _dept_names_en(department: str) -> set[str]:
    """English names of a department (normalized like questions), by organisation type and place."""
    return {a for a in (normalize_text(x) for x in department_names(dept_key(department)).en) if len(a) >= 4}


def _place_words(reports: list[ReportMeta], version_dir: Any = None) -> dict[str, str]:
    """Words naming the places of the ingested departments (Chinese short names and pinyin) → the short name.

    Each report's places come from the version catalog (``version_dir``) when kept there, else are found."""
    kept = read_place_words(version_dir, [(r.department, r.place or "") for r in reports]) if version_dir is not None else None
    out: dict[str, str] = {}
    for r in reports:
        for short, name in _report_places(r, kept):
            out.setdefault(short, short)
            out.setdefault(name, short)
    return out


def _report_places(r: ReportMeta, kept: dict[tuple[str, str], list[tuple[str, str]]] | None) -> list[tuple[str, str]]:
    got = kept.get((r.department, r.place or "")) if kept is not None else None
    return got if got is not None else department_place_words(r.department, r.place or "")


def _place_pinyin(reports: list[ReportMeta]) -> dict[str, str]:
    """The pinyin of the ingested departments' places (xihu → 西湖) for English questions."""
    out: dict[str, str] = {}
    for short in set(_place_words(reports).values()):
        py = pinyin(short)
        if py:
            out.setdefault(py, short)
    return out


def prepare_facts(raw: pd.DataFrame) -> pd.DataFrame:
    """Facts with the planner's helper columns: _label (normalized row label), _col (column index)."""
    facts = raw.copy() if len(raw) else pd.DataFrame(columns=[*raw.columns])
    # plain object columns: boolean masks on Arrow-backed strings cost ~10x more per query
    facts = facts.astype({c: object for c in facts.columns if c not in ("year", "row_index")})
    facts["_label"] = pd.Series(label_norms(facts["row_label"].tolist()), index=facts.index, dtype=object)
    facts["_col"] = col_indexes(facts["fact_id"].tolist()) if len(facts) else []
    return facts


def build_vocab(index: Any) -> Vocab:
    """Build (or fetch from ``index.extra``) the vocabulary of a loaded index."""
    cached = index.extra.get(VOCAB_KEY) if hasattr(index, "extra") else None
    if cached is not None:
        return cached
    facts = prepare_facts(index.facts)
    by_report = {rid: g for rid, g in facts.groupby("report_id", sort=False)} if len(facts) else {}
    aliases: dict[str, set[str]] = {}
    by_dept = _all_dept_aliases(index)
    for r in index.reports:
        for a in by_dept[r.department]:
            aliases.setdefault(a, set()).add(r.department)
    dept_aliases = sorted(((a, d) for a, ds in aliases.items() for d in ds), key=lambda x: -len(x[0]))
    labels: dict[str, set[str]] = {}
    if len(facts):
        for lab, rid in set(zip(facts["_label"], facts["report_id"], strict=True)):
            if len(lab) >= 3 and lab not in GENERIC_LABELS and not re.fullmatch(r"[\d.,%\s]+", lab):
                labels.setdefault(lab, set()).add(rid)
    codes = {str(c) for c in facts["code"].dropna().unique()} if len(facts) else set()
    tzh: list[tuple[str, str]] = []
    ten: list[tuple[str, str]] = []
    own = {norm_label(t["zh"]): t["id"] for t in terms()}
    for t in terms():
        names = {t["zh"], *t.get("aliases_zh", [])} | (set() if t.get("kind") == "column" else set(t.get("labels", [])))
        for a in names:
            na = norm_label(a)
            if own.get(na, t["id"]) != t["id"]:
                continue  # another term's own name (本年支出合计 is total expenditure, not a label of another term)
            if len(na) >= 2 and na not in GENERIC_LABELS and not (t.get("kind") == "column" and na in ("合计",)):
                tzh.append((na, t["id"]))
        for a in t.get("aliases_en", []):
            ten.append((a.lower(), t["id"]))
    v = Vocab(
        reports=list(index.reports),
        dept_aliases=dept_aliases,
        years=sorted({r.year for r in index.reports}),
        labels=labels,
        label_list=sorted(labels, key=lambda x: -len(x)),
        codes=codes,
        facts=facts,
        by_report=by_report,
        tables=index.tables,
        term_zh=sorted(set(tzh), key=lambda x: (-len(x[0]), x)),
        term_en=sorted(set(ten), key=lambda x: (-len(x[0]), x)),
        place_words=_place_words(list(index.reports), getattr(index, "path", None)),
    )
    v.cls_zh, v.cls_en = _classification_needles(v)
    if len(facts):
        coded = facts[facts["code"].notna()]
        v.code_labels = dict(zip(coded["code"].astype(str), coded["_label"], strict=True))
    if hasattr(index, "extra"):
        index.extra[VOCAB_KEY] = v
    return v


def _classification_needles(v: Vocab) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Names (current and former) of the national classification and everyday words, as item needles.

    A name shared by several codes (行政运行 …) or too short to be specific is left to the printed labels;
    words already a glossary term or a printed label keep their meaning.
    """
    taken = {n for n, _ in v.term_zh} | {lab.lower() for lab in v.labels}
    taken_en = {n for n, _ in v.term_en}
    count: dict[str, set[str]] = {}
    for c in classification():
        for n in (c["name"], *c["former"]):
            count.setdefault(norm_label(n), set()).add(c["code"])
    zh: list[tuple[str, str]] = []
    en: list[tuple[str, str]] = []
    for c in classification():
        for n in (c["name"], *c["former"]):
            k = norm_label(n)
            specific = len(k) >= 4 or (len(k) == 3 and k[-1] in "费金")
            if specific and len(count[k]) == 1 and k not in taken and k not in GENERIC_LABELS:
                zh.append((k, "cls:" + c["code"]))
        e = (c["en"] or "").lower()
        if len(e) >= 6 and e not in taken_en and not c["code"].startswith("2"):
            en.append((e, "cls:" + c["code"]))
    for w, codes in item_words():
        k = w.lower() if w.isascii() else norm_label(w)
        target = en if w.isascii() else zh
        if k not in taken and k not in taken_en:
            target.append((k, "cls:" + "+".join(codes)))
    return zh, en




# --------------------------------------------------------------------------- parsing

CJK = re.compile(r"[\u4e00-\u9fff]")


def detect_language(question: str) -> str:
    """'en' when the question is mostly Latin words (a Chinese term inside is fine), else 'zh'."""
    latin = len(re.findall(r"[A-Za-z]+", question))
    cjk = len(CJK.findall(question))
    return "en" if latin >= 2 and latin * 2 > cjk else "zh"


OP_PATTERNS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("rank", ("排名", "排序", "排行", "最多", "最高", "最少", "最低", "最大", "最小", "哪个部门", "哪些部门", "哪家", "哪个单位", "前三", "前五", "前十", "各部门", "所有部门"),
     ("rank", "ranking", "which department", "which departments", "which unit", "highest", "lowest", "largest", "smallest", "biggest", "the most", "the least", "top ", "across departments", "all departments", "every department", "each department")),
    ("yoy", ("同比", "比上年", "较上年", "比去年", "较去年", "增长", "增减", "变化", "变动", "下降了", "上升了", "增加了多少", "减少了多少", "增幅", "降幅", "年度间"),
     ("year-over-year", "year over year", "year on year", "yoy", "growth", "grow", "change from", "changed", "change between", "compared with the previous year", "compared to the previous year", "increase from", "decrease from", "rise from", "fall from")),
    ("share", ("占比", "所占", "比例", "比重", "百分比", "百分之几", "份额", "占总", "占全部", "占了"),
     ("share", "percentage", "proportion", "what percent", "fraction", "% of", "percent of")),
    ("ratio", ("倍", "之比", "比值", "比率"), ("ratio", "times as", "how many times")),
    ("difference", ("差额", "相差", "差多少", "多多少", "少多少", "高多少", "低多少", "高出", "超出", "差距", "节约了多少", "少花", "多花", "差异"),
     ("difference", "more than", "less than", "gap", "exceed", "minus", "differ", "lower than", "higher than", "under budget", "over budget")),
    ("sum", ("合计", "总共", "一共", "加起来", "之和", "总和", "共计", "加总", "合起来"), ("sum of", "combined", "together", "add up", "added up", "in total", "total of")),
    ("breakdown", ("构成", "明细", "分别", "各项", "组成", "包括哪些", "分项", "结构", "细分", "由哪些", "各是多少", "分类"),
     ("breakdown", "break down", "broken down", "composition", "consist", "components", "split", "itemize", "itemise", "by item", "each of")),
]  # fmt: skip

KIND_COMPOUNDS = ("一般公共预算", "政府性基金预算", "国有资本经营预算", "预算执行率", "全年预算", "年初预算", "预算数", "执行率")
SPEND_VERBS = frozenset({"花了多少", "花了多少钱", "支出多少", "一共花", "总共花", "how much was spent", "spent"})
"""Spending verbs that are aliases of total expenditure but only a verb when an item is named."""

# Relative to the calendar year of asking, as a person means them ("去年" asked in 2026 is 2025);
# 本年/本年度 are left out: they are table words (本年支出合计), not a year.
RELATIVE_YEARS = {"前年": -2, "去年": -1, "上一年": -1, "今年": 0}
RELATIVE_YEARS_EN = {"the year before last": -2, "last year": -1, "previous year": -1, "this year": 0, "current year": 0}
FOLLOWUP_ZH = ("那", "那么", "还有", "再看", "换成", "改成", "呢")
FOLLOWUP_EN = ("and ", "what about", "how about", "and in", "same for", "what of", "now for")
MEASURE_TERMS = {"basic_expenditure": "基本支出", "project_expenditure": "项目支出", "execution_rate": "预算执行率"}
"""Terms that name a column: beside a row item they become the plan's measure (招商工作经费 + 执行率)."""
CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


@dataclass
class ParsedQuestion:
    """A plan plus what the question itself named (follow-ups override only these)."""

    plan: QueryPlan
    language: str = "zh"
    departments: list[str] = field(default_factory=list)
    """Departments the question names (each may cover several reports)."""
    dept_text: str | None = None
    """The words that named a department (for clarifications)."""
    dept_ambiguous: list[str] = field(default_factory=list)
    """Several departments matched one name (e.g. 办公厅): options to offer."""
    years: list[int] = field(default_factory=list)
    kind: str | None = None
    measure_named: bool = False
    op_named: bool = False
    ascending: bool = False
    scope: str | None = None
    followup: bool = False
    terms: list[str] = field(default_factory=list)
    """Glossary term ids found, in order."""
    unknown_item: str | None = None
    """Words that look like an item but match nothing (for 'not in these reports' answers)."""
    items_from_question: int = 0
    """Items the question's own words named (spending verbs such as 花了多少 not counted)."""
    year_relative: int | None = None
    source: str = "rules"
    places: list[str] = field(default_factory=list)
    """Places named (西湖区, 浙江省 …): a rank across departments stays within them."""
    share_of_whole: bool = False
    """A share asked of the whole budget or final account (占预算的比重, share of the 2018 budget), not of the
    item's own parent (三公 for 公务接待费)."""
    budget_vs_actual: bool = False
    """Both 决算 and 预算 named for one item (决算数占预算数的比例, actual vs budget)."""
    wants_percent: bool = False
    """The change is asked as a percentage (增长了百分之几, by what percent)."""
    over_years: bool = False
    """One department over its years: a series, or the year an item was highest (哪一年最高, which year)."""
    wants_magnitude: bool = False
    """The change is asked as an amount with its direction in the words (减少了多少, how much less)."""
    read_as: list[tuple[str, str]] = field(default_factory=list)
    """(question words, printed label) read by similarity (the third matching stage): the answer says so."""

    @property
    def items_named(self) -> bool:
        return bool(self.plan.items)


def _find_spans(text: str, needles: list[tuple[str, str]], *, word: bool = False) -> list[tuple[int, int, str, str]]:
    """Non-overlapping matches, longest needle first: (start, end, needle, payload)."""
    taken: list[tuple[int, int]] = []
    out = []
    for needle, payload in needles:
        if not needle:
            continue
        start = 0
        while True:
            i = text.find(needle, start)
            if i < 0:
                break
            j = i + len(needle)
            start = i + 1
            if word and (
                (i > 0 and text[i - 1].isalnum()) or (j < len(text) and text[j].isalnum() and not text[j:].startswith("s"))
            ):
                continue
            if any(not (j <= a or i >= b) for a, b in taken):
                continue
            taken.append((i, j))
            out.append((i, j, needle, payload))
    return sorted(out)


def _blank(q: str, spans: list[tuple[int, int]]) -> str:
    """``q`` with the given character spans replaced by spaces (what is left is not yet understood)."""
    chars = list(q)
    for i, j in spans:
        chars[i:j] = " " * (j - i)
    return "".join(chars)


def _years(q: str, vocab: Vocab, departments: list[str]) -> tuple[list[int], int | None]:
    ys = [int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", q)]
    # "23年" / "23年度" for 2023 (only plausible report years, so "近10年" stays a duration)
    this_year = datetime.date.today().year
    ys += [2000 + int(y) for y in re.findall(r"(?<![\d.近去前])(\d{2})年", q) if 2010 <= 2000 + int(y) <= this_year + 1]
    rel = None
    for w, d in {**RELATIVE_YEARS, **RELATIVE_YEARS_EN}.items():
        if w in q:
            rel = d
            break
    if rel is not None and not ys:
        ys = [datetime.date.today().year + rel]
    seen: list[int] = []
    for y in ys:
        if y not in seen:
            seen.append(y)
    return seen, rel


def _departments(q: str, vocab: Vocab) -> tuple[list[str], str | None, list[str]]:
    """Departments named in the question; (departments, matched words, ambiguous options)."""
    found: list[str] = []
    words = None
    ambiguous: list[str] = []
    spans = vocab.matcher("depts").find(q)
    by_alias: dict[str, set[str]] = {}
    for _i, _j, a, d in spans:
        by_alias.setdefault(a, set()).add(d)
    for a, _ds in by_alias.items():
        ds = sorted(set(vocab.alias_index().get(a, ())))
        keys = {canonical_key(d) for d in ds}
        if len(keys) > 1:
            ambiguous = sorted(ds)
            words = a
            continue
        for d in sorted(ds):
            if d not in found:
                found.append(d)
        words = words or a
    if not found and not ambiguous and re.search(r"[a-z]", q):
        for _i, _j, en, _d in vocab.matcher("depts_en").find(q, word=True):
            ds = sorted(vocab.alias_index_en().get(en, ()))
            keys = {canonical_key(d) for d in ds}
            if len(keys) == 1:
                found = ds
            elif len(keys) > 1:
                ambiguous = ds
            words = en
            break
    if ambiguous and not found:
        found = _narrow_by_place(q, ambiguous)
        if found:
            ambiguous = []
    return found, words, ambiguous


def _narrow_by_place(q: str, departments: list[str]) -> list[str]:
    """Of departments a question names ambiguously (法院, "the finance bureau"), the one whose place it names
    anywhere ("…High People's Court of Zhejiang Province", 财政局（西湖区）); [] when none or still several."""
    best: dict[str, tuple[bool, int]] = {}
    for d in departments:
        places = department_places(d)
        own = max((lv for _w, lv in places), default=0)
        for w, level in places:
            hit = re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", q) if w.isascii() else w in q
            if hit:  # its own place named (浙江 for 浙江省高院) beats a parent's (浙江 for 浙江省杭州市…)
                best[d] = max(best.get(d, (False, 0)), (level == own, level))
    if not best:
        return []
    top = max(best.values())
    ds = sorted(d for d, v in best.items() if v == top)
    return ds if len({canonical_key(d) for d in ds}) == 1 else []


def _places_named(q: str, vocab: Vocab) -> list[str]:
    """Places of ingested departments the question names (西湖, 浙江省, or in pinyin): a rank stays within them."""
    out: list[str] = []
    words = vocab.place_words_for(q)
    cache = vocab.extra.setdefault("planner.places_sorted", {})
    got = cache.get(id(words))
    if got is None or got[0] is not words:  # sorted once per word list (Chinese, with pinyin), not per question
        got = cache[id(words)] = (words, sorted(words.items(), key=lambda x: -len(x[0])))
    for word, short in got[1]:
        hit = re.search(r"(?<![a-z])" + re.escape(word) + r"(?![a-z])", q) if word.isascii() else word in q
        if hit and short not in out:
            out.append(short)
    return out


def _strip_compounds(q: str) -> str:
    for c in KIND_COMPOUNDS:
        q = q.replace(c, " ")
    return q


def _kind(q: str) -> str | None:
    s = _strip_compounds(q)
    if "决算" in s or "final account" in s:
        return "决算"
    if "预算" in s or re.search(r"\bbudget (report|document|disclosure)", s):
        return "预算"
    return None


def _measure(q: str, item_spans: list[tuple[int, int]]) -> str | None:
    """The column concept named in the question (outside the item words)."""
    chars = list(q)
    for i, j in item_spans:
        for k in range(i, j):
            chars[k] = " "
    s = _strip_compounds_keep("".join(chars))
    best: tuple[int, str] | None = None
    for m in measures():
        if m["id"] in ("basic", "project", "personnel", "public", "rate"):
            continue
        for a in m.get("aliases_zh", []):
            if a in s and (best is None or len(a) > best[0]):
                best = (len(a), m["zh"])
        for a in m.get("aliases_en", []):
            if re.search(r"(?<![a-z])" + re.escape(a) + r"(?![a-z])", s) and (best is None or len(a) > best[0]):
                best = (len(a), m["zh"])
    return best[1] if best else None


def _strip_compounds_keep(q: str) -> str:
    for c in (
        "一般公共预算",
        "政府性基金预算",
        "国有资本经营预算",
        "预算执行率",
        "执行率",
        "部门预算",
        "单位预算",
        "预算公开",
        "预算报告",
    ):
        q = q.replace(c, " ")
    return q


def _en_cue(q: str, cue: str) -> bool:
    """An English operation cue starting a word ("ratio" is not in "operation", "exceed" is in "exceeded")."""
    return re.search(r"(?<![a-z])" + re.escape(cue), q) is not None


# a share of the report's whole (占预算的比重, 占全年支出的比例; "share of the 2018 budget"): the item over the total
SHARE_OF_WHOLE_ZH = re.compile(r"占\s*(?:全年|年度|全部|部门|单位|本年|当年)?\s*(?:总)?(?:预算|决算|支出|经费)(?:总额|总数|合计|总计|总量)?\s*(?:的|之)")
SHARE_OF_WHOLE_EN = re.compile(
    r"(?:share|percentage|proportion|percent|fraction|%)\s+of\s+(?:(?:the|its|their|all)\s+)?(?:[\w'’.-]+\s+){0,6}?"
    r"(?:(?:total|whole|overall|entire)\s+)?(?:budget|spending|expenditure|final\s+accounts?)(?!\s+for)\b"
)


def _operation(q: str, n_items: int, n_years: int, n_depts: int) -> tuple[str, bool, bool, int | None]:
    """(operation, named explicitly, ascending, top_k)."""
    op = None
    for name, zh, en in OP_PATTERNS:
        if any(w in q for w in zh) or any(_en_cue(q, w) for w in en):
            op = name
            break
    asc = any(w in q for w in ("最少", "最低", "最小", "lowest", "least", "smallest", "fewest", "bottom"))
    top_k = None
    m = re.search(r"前\s*(\d+|[一二两三四五六七八九十])", q) or re.search(r"top\s*(\d+|three|five|ten)", q)
    if m:
        g = m.group(1)
        top_k = int(g) if g.isdigit() else CN_NUM.get(g) or {"three": 3, "five": 5, "ten": 10}.get(g)
    if op is None and re.search(r"比.{0,20}?(?:多|少|高|低)了?多少|比.{0,20}?(?:多|少|高|低)(?:出|了)", q):
        op = "difference"  # 决算数比年初预算数多了多少
    if op == "sum" and n_items < 2:
        op = None
    if op == "breakdown" and (n_items >= 2 or n_depts >= 2 or n_years >= 2):
        op = None  # 人员经费和公用经费分别是多少 (two departments, two years): each one's own figure, not the first one's parts
    if op == "difference" and n_items < 2 and n_years < 2 and n_depts < 2:
        # budget-vs-actual difference of one item is still a difference; the executor checks measures
        pass
    if op is None and n_years >= 2 and n_depts <= 1:
        op = "yoy"
    named = op is not None
    return op or "lookup", named, asc, top_k


def parse_question(question: str, vocab: Vocab, history: list[Any] | None = None, llm: Any = None) -> ParsedQuestion:
    """Parse a question into a plan; merge with the previous plan when it is a follow-up."""
    q = normalize_text(question)
    lang = detect_language(question)
    depts, dept_words, ambiguous = _departments(q, vocab)
    years, rel = _years(q, vocab, depts)
    if dept_words and (depts or ambiguous):
        # the department's own words are not items (…Natural Resources Bureau is not 自然资源海洋气象等支出)
        q = q.replace(dept_words, " " * len(dept_words))
    # items: glossary terms and row labels printed in the reports (longest first), English terms, then codes
    spans_zh = vocab.matcher("items").find(q)
    spans_en = [
        s
        for s in vocab.matcher("terms_en").find(q, word=True)
        if not any(not (s[1] <= a or s[0] >= b) for a, b, _n, _p in spans_zh)
    ]
    all_spans = spans_zh + spans_en
    codes = []
    for m in re.finditer(r"(?<![\d.])(\d{3}|\d{5}|\d{7})(?![\d.%])", q):
        if m.group(1) in vocab.codes and not (
            len(m.group(1)) == 3 and re.search(r"\d{3}\s*(个|人|家|亿|万|元|辆|次|批)", q[m.start() :])
        ):
            codes.append((m.start(), m.end(), m.group(1), "code:" + m.group(1)))
    all_spans = sorted(all_spans + codes)
    # drop department words picked up as labels
    dept_alias_set = vocab.alias_index()
    all_spans = [s for s in all_spans if s[2] not in dept_alias_set]
    if only_similarity():  # calibration of the similarity stage: exact labels, codes and glossary off
        all_spans = []
    residual = _blank(q, [(i, j) for i, j, _n, _p in all_spans])
    partial = partial_matches(q, residual, all_spans, _is_row_item, _part_cues) if lang == "zh" else []
    if partial:  # a matched item with content words beside it is another item (差旅 + 补助 is not 差旅费)
        all_spans = [s for s in all_spans if not any(a <= s[0] and s[1] <= b for a, b, _w in partial)]
        residual = _blank(q, [(i, j) for i, j, _n, _p in all_spans] + [(a, b) for a, b, _w in partial])
    unknown = [w for _a, _b, w in partial] + unknown_item_words(residual)
    named_items = sum(1 for s in all_spans if s[2] not in SPEND_VERBS)
    if lang == "en":
        en_unknown = unknown_english_item(q, matched=named_items > 0)
        unknown = unknown + ([en_unknown] if en_unknown else [])
    # "花了多少" names total spending only when the question names nothing else ("招待费花了多少" is reception)
    if any(s[2] not in SPEND_VERBS for s in all_spans):
        all_spans = [s for s in all_spans if s[2] not in SPEND_VERBS]
    # the total is the item only when the question names nothing else: words left over are an item not printed
    leftover = leftover_words(residual) if named_items == 0 and not unknown and lang == "zh" else []
    if leftover and all_spans:
        unknown = leftover
        all_spans = []
    read_as: list[tuple[str, str]] = []
    if lang == "zh" and (unknown or leftover):  # third stage: item words nothing matched, read by similarity
        all_spans, read_as = _similar_items(q, unknown or leftover, all_spans, vocab, depts, years)
        if read_as:
            said = {w for w, _lab in read_as}
            unknown = [w for w in unknown if w not in said]
            leftover = [w for w in leftover if w not in said]
            named_items += len(read_as)
    items: list[ItemRef] = []
    term_ids: list[str] = []
    cls_sum = False
    ti = term_index()
    column_terms: list[str] = []
    for _i, _j, _needle, payload in all_spans:
        if payload.startswith("label:"):
            lab = payload[6:]
            t = term_by_label(lab)
            if t is not None:
                if t["id"] not in term_ids:
                    term_ids.append(t["id"])
                    items.append(ItemRef(code=(t.get("codes") or [None])[0], label=t["zh"]))
                continue
            ref = ItemRef(label=lab)
        elif payload.startswith("cls:"):
            codes_named = payload[4:].split("+")
            for c in codes_named:
                ref = ItemRef(code=c, label=vocab.code_labels.get(c) or classification_name(c))
                if ref not in items:
                    items.append(ref)
            if len(codes_named) > 1:
                cls_sum = True
            continue
        elif payload.startswith("code:"):
            if any(it.code == payload[5:] for it in items) or any(payload[5:] in ti[t].get("codes", []) for t in term_ids):
                continue
            ref = ItemRef(code=payload[5:])
        else:
            t = ti[payload]
            if t["id"] in term_ids:
                continue
            if t["id"] in MEASURE_TERMS:
                column_terms.append(t["id"])
            term_ids.append(t["id"])
            ref = ItemRef(code=(t.get("codes") or [None])[0], label=t["zh"])
        if ref not in items:
            items.append(ref)
    items, term_ids = _counts_instead(q, items, term_ids)
    items, term_ids = _child_named(residual, items, term_ids)
    # one concept named twice (公务接待 + 人次 and 接待了多少人 are both 国内公务接待人次) is one item, not A + A
    items = [it for k, it in enumerate(items) if it not in items[:k]]
    term_ids = [t for k, t in enumerate(term_ids) if t not in term_ids[:k]]
    measure = _measure(q, [(i, j) for i, j, _n, _p in all_spans])
    # a column-like term (基本支出/项目支出) beside a row item is the column of that row
    row_items = [it for it in items if not (it.label and _term_id(it.label) in MEASURE_TERMS)]
    two_item_op = any(
        any(w in q for w in zh) or any(_en_cue(q, w) for w in en)
        for _n, zh, en in OP_PATTERNS
        if _n in ("share", "ratio", "difference", "sum")
    )
    if column_terms and row_items and len(items) > len(row_items) and not two_item_op:
        measure = MEASURE_TERMS[column_terms[-1]]
        items = row_items
        term_ids = [t for t in term_ids if t not in column_terms]
    kind = _kind(q)
    op, op_named, asc, top_k = _operation(q, len(items), len(years), len(depts))
    if op == "lookup" and not op_named and len(items) == 1 and not unknown and SUM_OF_TWO.search(q):
        # "公务接待批次和人次一共多少": a sum of the item and words that match nothing is not the one item
        cues = {
            w for t in term_ids for c in term_index()[t].get("children") or [] for w in term_index()[c].get("child_cues_zh", [])
        }
        other = [w for w in leftover_words(residual) if w not in cues]
        if other:
            unknown, op, op_named = other, "sum", True
    if cls_sum and op in ("lookup", "breakdown"):
        op = "sum"  # 水电费: one word for several classification items, asked as their sum
    if op in ("share", "ratio") and measure is None and "执行率" in q:
        op = "lookup"
    places = _places_named(q, vocab)
    scope = "单位" if ("单位预算" in q or "单位决算" in q or "本级" in q or "unit-level" in q) else None
    if scope is None and ("部门预算" in q or "部门决算" in q or "department-wide" in q):
        scope = "部门"
    elif scope == "单位" and ("部门预算" in q or "部门决算" in q):
        scope = "both"  # 部门预算收入比单位预算收入多多少: compare the two reports
    plan = QueryPlan(
        operation=op,  # type: ignore[arg-type]
        reports=ReportFilter(department=depts[0] if depts else None, year=max(years) if years else None, kind=kind),  # type: ignore[arg-type]
        items=items,
        measure=measure,
        top_k=top_k or 5,
        compare_year=min(years) if len(years) >= 2 else None,
    )
    pq = ParsedQuestion(
        plan=plan,
        language=lang,
        departments=depts,
        dept_text=dept_words,
        dept_ambiguous=ambiguous,
        years=years,
        kind=kind,
        measure_named=measure is not None,
        op_named=op_named,
        ascending=asc,
        scope=scope,
        terms=term_ids,
        year_relative=rel,
        places=places,
        unknown_item="、".join(unknown) or None,
        items_from_question=named_items,
    )
    pq.read_as = read_as
    pq.budget_vs_actual = (
        len(items) == 1
        and bool(re.search(r"决算|实际|actual", q))
        and bool(re.search(r"预算数|年初预算|预算|budget", _strip_compounds_keep(q)))
    )
    pq.share_of_whole = (
        len(items) == 1
        and pq.plan.operation == "share"
        and not pq.budget_vs_actual
        and bool(SHARE_OF_WHOLE_ZH.search(residual) or SHARE_OF_WHOLE_EN.search(q.lower()))
    )
    if pq.share_of_whole and pq.plan.measure and not re.search(r"预算|决算", SHARE_OF_WHOLE_ZH.sub(" ", residual)):
        pq.plan.measure = None  # 占预算的比重: 预算 names the whole the share is of, not a column (in a final account too)
        pq.measure_named = False
    pq.wants_percent = bool(re.search(r"百分|%|percent|percentage|多少个百分点|幅度|增幅|降幅", q))
    pq.wants_magnitude = bool(
        re.search(r"(减少|增加|下降|上升|增长|降低|多|少|高|低)了?多少|how much (more|less|lower|higher)|by how much", q)
    )
    pq.over_years = bool(OVER_YEARS_CUE.search(q)) and len({canonical_key(d) for d in depts}) == 1 and len(years) != 1
    if pq.over_years and pq.plan.operation in ("rank", "yoy"):
        pq.plan.operation = "rank" if pq.plan.operation == "rank" else "lookup"  # type: ignore[assignment]
    prev = _previous(history)
    if prev is not None and _is_followup(q, pq):
        pq = _merge(pq, prev, vocab)
    if (
        not pq.plan.items
        and not pq.followup
        and not pq.unknown_item
        and pq.departments
        and TOTAL_CUE.search(q)
        and AMOUNT_CUE.search(q)
    ):
        if leftover:  # "…人民调解项目安排了多少钱": an item the tables do not print, not the total
            pq.unknown_item = "、".join(leftover)
            return pq
        # "北山街道2025年的预算比2024年增加了多少" names no item: the report's total spending is meant
        pq.plan.items = [ItemRef(label=term_index()["total_expenditure"]["zh"])]
        pq.terms = [*pq.terms, "total_expenditure"]
    if llm is not None and not pq.plan.items and not pq.followup:
        pq = _llm_plan(llm, question, vocab, pq)
    return pq


def _is_row_item(needle: str, payload: str) -> bool:
    """A matched span that names a row item (not a column term, a spending verb or a bare code)."""
    if needle in SPEND_VERBS or payload.startswith("code:"):
        return False
    if payload.startswith(("label:", "cls:")):
        return True
    t = term_index().get(payload)
    return t is not None and payload not in MEASURE_TERMS and t.get("kind") != "column"


def _part_cues(payload: str) -> list[str]:
    """Words that may sit beside a matched item without changing it: the item's own names, and the cue words
    naming a glossary term's part (``child_cues_zh`` of its children, and its own as a part)."""
    if payload.startswith("label:"):
        return [payload[6:]]
    if payload.startswith("cls:"):
        return [n for c in payload[4:].split("+") if (n := classification_name(c))]
    t = term_index().get(payload)
    if t is None:
        return []
    own = [norm_label(t["zh"]), *t.get("aliases_zh", []), *t.get("labels", []), *t.get("child_cues_zh", [])]
    return own + [w for c in t.get("children") or [] for w in term_index().get(c, {}).get("child_cues_zh", [])]


def _similar_items(
    q: str,
    phrases: list[str],
    spans: list[tuple[int, int, str, str]],
    vocab: Vocab,
    depts: list[str],
    years: list[int],
) -> tuple[list[tuple[int, int, str, str]], list[tuple[str, str]]]:
    """Item words no exact or glossary match found, read as printed labels above the calibrated similarity."""
    if not vocab.labels:
        return spans, []
    ids = {r.report_id for r in vocab.reports if (not depts or r.department in depts) and (not years or r.year in years)}
    if (depts or years) and not ids:
        return spans, []
    out, read = list(spans), []
    for w in phrases:
        m = similar_label(w, vocab, ids or None)
        if m is None or not m.accepted:
            continue
        i = q.find(w)
        out.append((max(i, 0), max(i, 0) + len(w), w, "label:" + m.label))
        read.append((w, m.label))
    return sorted(out), read


SUM_OF_TWO = re.compile(r"[和与及加跟].{1,12}?(?:一共|总共|合计|共计|加起来|之和|总和)")
"""Two things joined and summed (A和B一共): with one item matched, the other words are an item not printed."""

OVER_YEARS_CUE = re.compile(
    r"哪一年|哪年|哪个年度|哪一个年度|历年|各年度|各年|每年|逐年|年度变化|趋势|"
    r"which year|what year|over the years|each year|by year|year by year|trend|series|every year",
    re.I,
)
TOTAL_CUE = re.compile(r"预算|决算|budget|final accounts|spending|expenditure", re.I)
AMOUNT_CUE = re.compile(r"多少|几何|how much|what was|what is|总额|规模", re.I)


COUNT_TERMS = {
    "vehicles": (
        "vehicle_count",
        ("多少辆", "几辆", "how many official vehicles", "how many vehicles", "how many cars", "how many official cars"),
    ),
    "vehicle_purchase": ("vehicle_bought", ("多少辆", "几辆", "how many")),
    "reception": ("reception_batches", ("多少批", "几批", "多少次", "几次", "how many receptions", "how many times")),
    "overseas": ("overseas_groups", ("多少个团", "几个团", "团组", "how many delegations", "how many trips")),
}
"""Money terms that a 'how many' question turns into their count (公务用车 + 几辆 → 公务用车保有量)."""


def _counts_instead(q: str, items: list[ItemRef], term_ids: list[str]) -> tuple[list[ItemRef], list[str]]:
    ti = term_index()
    out_items, out_ids = list(items), list(term_ids)
    for tid, (count_id, cues) in COUNT_TERMS.items():
        if tid in out_ids and any(c in q for c in cues):
            k = out_ids.index(tid)
            ct = ti[count_id]
            for j, it in enumerate(out_items):
                if it.label == ti[tid]["zh"]:
                    out_items[j] = ItemRef(label=ct["zh"])
            out_ids[k] = count_id
    if "人次" in q and "reception" in out_ids:
        out_items = [
            ItemRef(label=ti["reception_visitors"]["zh"]) if it.label == ti["reception"]["zh"] else it for it in out_items
        ]
    return out_items, out_ids


def _child_named(residual: str, items: list[ItemRef], term_ids: list[str]) -> tuple[list[ItemRef], list[str]]:
    """A parent term whose question also names one of its children by a cue word is that child.

    "买公车的预算" is 公务用车购置费, not its parent 公务用车购置及运行维护费 (a parent is a neighbour).
    The cues (``child_cues_zh`` / ``child_cues_en`` of the child terms) are looked for outside the words
    already matched; cues of two children (公车购置和运行) leave the parent.
    """
    ti = term_index()
    out_items, out_ids = list(items), list(term_ids)
    low = residual.lower()
    for tid in list(out_ids):
        named = []
        for cid in ti[tid].get("children") or []:
            c = ti.get(cid) or {}
            zh = any(w in residual for w in c.get("child_cues_zh", []))
            en = any(re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", low) for w in c.get("child_cues_en", []))
            if zh or en:
                named.append(cid)
        if len(named) != 1 or named[0] in out_ids:
            continue
        child = ti[named[0]]
        out_ids[out_ids.index(tid)] = child["id"]
        ref = ItemRef(code=(child.get("codes") or [None])[0], label=child["zh"])
        out_items = [ref if it.label == ti[tid]["zh"] else it for it in out_items]
    return out_items, out_ids


def _term_id(label: str) -> str | None:
    t = term_by_label(label)
    return t["id"] if t else None


def plan_question(question: str, vocab: Vocab, history: list[Any] | None = None, llm: Any = None) -> QueryPlan:
    """The typed plan for ``question`` (see module doc for the ``llm`` hook)."""
    return parse_question(question, vocab, history, llm).plan


# --------------------------------------------------------------------------- follow-ups


def _previous(history: list[Any] | None) -> ParsedQuestion | None:
    """The last answered plan in ``history``.

    ``history`` is a list, oldest first, of ``Answer`` objects or ``(question, Answer)`` pairs.
    Answers carry their plan and, in ``meta["parsed"]``, what was named; both are reused.
    """
    if not history:
        return None
    for h in reversed(history):
        a = h[1] if isinstance(h, (tuple, list)) and len(h) == 2 else h
        if isinstance(a, Answer) and a.plan is not None:
            p = a.meta.get("parsed") or {}
            return ParsedQuestion(
                plan=a.plan.model_copy(deep=True),
                language=a.language,
                departments=list(p.get("departments") or ([a.plan.reports.department] if a.plan.reports.department else [])),
                years=list(p.get("years") or ([a.plan.reports.year] if a.plan.reports.year else [])),
                kind=p.get("kind", a.plan.reports.kind),
                terms=list(p.get("terms") or []),
                scope=p.get("scope"),
                ascending=bool(p.get("ascending")),
            )
    return None


def _is_followup(q: str, pq: ParsedQuestion) -> bool:
    short = len(q) <= (120 if pq.language == "en" else 40)
    cue = (
        q.startswith(FOLLOWUP_ZH)
        or q.rstrip("?？ ").endswith("呢")
        or q.startswith(FOLLOWUP_EN)
        or q.startswith("and")
        or "其中" in q
        or " of it" in q
        or " of that" in q
    )
    missing = not pq.plan.items or (not pq.departments and not pq.years)
    return bool(short and (cue or missing))


def _merge(new: ParsedQuestion, prev: ParsedQuestion, vocab: Vocab) -> ParsedQuestion:
    """The previous plan with what the follow-up names overriding it."""
    p = prev.plan.model_copy(deep=True)
    n = new.plan
    if new.plan.items:
        p.items = n.items
        if (
            not new.measure_named
            and prev.plan.measure in ("基本支出", "项目支出")
            and not any((it.label or "") in ("基本支出", "项目支出") for it in n.items)
        ):
            p.measure = None
    elif new.measure_named:
        pass
    if new.measure_named:
        p.measure = n.measure
    # "那项目支出呢" after a 基本支出 row question: the new column term replaces the measure
    if (
        len(n.items) == 1
        and (n.items[0].label in ("基本支出", "项目支出"))
        and prev.plan.items
        and (prev.plan.measure in ("基本支出", "项目支出") or prev.plan.items[0].label in ("基本支出", "项目支出"))
    ):
        if prev.plan.items[0].label in ("基本支出", "项目支出"):
            p.items = n.items
            p.measure = prev.plan.measure if prev.plan.measure not in ("基本支出", "项目支出") else None
        else:
            p.items = prev.plan.items
            p.measure = n.items[0].label
    depts = new.departments or prev.departments
    years = new.years or prev.years
    if new.departments:
        p.reports.department = new.departments[0]
        p.reports.report_ids = []
    if new.years:
        p.reports.year = max(new.years)
        p.reports.report_ids = []
        p.compare_year = min(new.years) if len(new.years) >= 2 else None
        if p.operation == "yoy" and len(new.years) < 2 and not new.op_named:
            p.operation = "lookup"
    if new.kind:
        p.reports.kind = new.kind  # type: ignore[assignment]
    if new.op_named:
        p.operation = n.operation
        p.top_k = n.top_k
    out = ParsedQuestion(
        plan=p,
        language=new.language,
        departments=depts,
        dept_text=new.dept_text or prev.dept_text,
        dept_ambiguous=new.dept_ambiguous,
        years=years if not new.years else new.years,
        kind=new.kind or prev.kind,
        measure_named=new.measure_named or prev.measure_named,
        op_named=new.op_named or prev.op_named,
        ascending=new.ascending if new.op_named else prev.ascending,
        scope=new.scope or prev.scope,
        followup=True,
        terms=new.terms or prev.terms,
        year_relative=new.year_relative,
        unknown_item=new.unknown_item,
        items_from_question=new.items_from_question,
        read_as=new.read_as,
    )
    return out


# --------------------------------------------------------------------------- LLM hook


def _llm_plan(llm: Any, question: str, vocab: Vocab, det: ParsedQuestion) -> ParsedQuestion:
    """Ask ``llm.plan`` for a plan when rules found no item; keep it only if it validates."""
    fn = getattr(llm, "plan", None)
    if not callable(fn) and callable(getattr(llm, "complete_json", None)):
        from assistant.llm import llm_plan

        fn = lambda q, _ctx: llm_plan(llm, q, vocab)  # noqa: E731
    if not callable(fn):
        return det
    try:
        ctx = {
            "departments": vocab.departments(),
            "years": vocab.years,
            "terms": [{"zh": t["zh"], "en": t["en"]} for t in terms()],
            "deterministic_plan": det.plan.model_dump(),
        }
        raw = fn(question, ctx)
        if raw is None:
            return det
        plan = raw if isinstance(raw, QueryPlan) else QueryPlan.model_validate(raw)
        problems = validate_plan(plan, vocab)
        if problems:
            log.info("LLM plan rejected: %s", "; ".join(problems))
            return det
        dep = plan.reports.department
        depts = sorted({r.department for r in vocab.reports if dep and (dep in r.department or r.department in dep)})
        return ParsedQuestion(
            plan=plan,
            language=det.language,
            departments=depts,
            years=[y for y in (plan.compare_year, plan.reports.year) if y],
            kind=plan.reports.kind,
            measure_named=plan.measure is not None,
            op_named=True,
            terms=[t for it in plan.items if it.label and (t := _term_id(it.label))],
            source="llm",
        )
    except Exception as e:
        log.info("LLM plan failed (%s); using the deterministic plan", e)
        return det


def validate_plan(plan: QueryPlan, vocab: Vocab) -> list[str]:
    """Problems that make a (model-filled) plan unusable: unknown items, departments, years."""
    problems = []
    for it in plan.items:
        ok = False
        if it.code and it.code in vocab.codes:
            ok = True
        if it.label and (term_by_label(it.label) is not None or norm_label(it.label) in vocab.labels):
            ok = True
        if not ok:
            problems.append(f"unknown item {it.label or it.code!r}")
    if plan.reports.department and not any(
        plan.reports.department in r.department or r.department in plan.reports.department for r in vocab.reports
    ):
        problems.append(f"unknown department {plan.reports.department!r}")
    if plan.reports.year and plan.reports.year not in vocab.years:
        problems.append(f"year {plan.reports.year} not ingested")
    return problems
