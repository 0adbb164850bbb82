"""Normalized table kinds and the bilingual vocabulary (the data lives in ``glossary.json``)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

GLOSSARY_FILE = Path(__file__).with_name("glossary.json")

# (kind, patterns tried in order against the table title; the first match wins)
TABLE_KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("performance_narrative", ("绩效自评情况", "自评情况", "绩效自评报告")),
    ("project_performance", ("项目支出绩效自评表", "项目绩效自评", "项目支出绩效目标")),
    ("performance_indicators", ("绩效自评表", "绩效目标表", "整体支出绩效", "绩效指标")),
    ("three_public_expenses", ("三公",)),
    ("operating_expenses", ("机关运行经费",)),
    ("government_procurement", ("政府采购",)),
    ("assets", ("国有资产", "资产使用情况", "资产占有")),
    ("government_fund", ("政府性基金",)),
    ("state_capital", ("国有资本经营",)),
    ("basic_expenditure_by_economic_class", ("基本支出",)),
    ("project_expenditure_by_economic_class", ("项目支出决算表", "项目支出表", "项目支出预算表")),
    ("general_budget_by_function", ("一般公共预算财政拨款收入支出", "一般公共预算支出", "一般公共预算财政拨款支出")),
    ("appropriation_summary", ("财政拨款收入支出", "财政拨款收支")),
    (
        "income_expenditure_summary",
        ("收入支出决算表", "收入支出决算总表", "收支决算总表", "收支总表", "收支预算总表", "收入支出预算表", "财务收支"),
    ),
    ("income_by_function", ("收入决算表", "收入预算表", "收入总表", "收入预算总表")),
    ("appropriation_by_function", ("财政拨款支出预算表", "财政拨款支出决算表")),
    ("expenditure_by_function", ("支出决算表", "支出预算表", "支出总表", "支出预算总表")),
    ("meetings_training", ("会议费", "培训费")),
]


def table_kind(title: str) -> str:
    """Normalize a published table title to one of the kinds above, or ``other``."""
    t = re.sub(r"\s+", "", title)
    for kind, pats in TABLE_KINDS:
        if any(p in t for p in pats):
            return kind
    return "other"


@lru_cache(maxsize=1)
def load_glossary() -> dict[str, Any]:
    """The shipped bilingual glossary (terms, synonyms, English names)."""
    if not GLOSSARY_FILE.exists():
        return {"terms": []}
    return json.loads(GLOSSARY_FILE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- lookup helpers (used by assistant.ask)

_LABEL_PREFIX = re.compile(
    r"^(?:[（(]?[一二三四五六七八九十]+[)）、.．]|[（(]\d+[)）]|\d+[、.．](?!\d)|其中[:：]|[:：、.．\-—])+"
)
_QUOTES = re.compile(r"[“”\"'‘’「」『』]")
_FULLWIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)} | {"\u3000": " "})


def to_simplified(text: str) -> str:
    """Traditional → simplified characters, by the small mapping table in ``glossary.json``."""
    table = _trad_table()
    return text.translate(table) if table else text


@lru_cache(maxsize=1)
def _trad_table() -> dict[int, str]:
    return {ord(k): v for k, v in load_glossary().get("traditional", {}).items()}


def normalize_text(text: str) -> str:
    """Question text for matching: simplified, half-width ASCII, lower-case, quotes dropped, spaces collapsed."""
    t = to_simplified(text).translate(_FULLWIDTH)
    t = _QUOTES.sub("", t)
    return re.sub(r"\s+", " ", t).strip().lower()


def norm_label(label: str) -> str:
    """A row label or term for comparison: no numbering (一、 (一) 1. 其中：), quotes, spaces; ASCII parentheses."""
    t = to_simplified(label or "").translate(_FULLWIDTH)
    t = _QUOTES.sub("", t)
    t = re.sub(r"\s+", "", t)
    prev = None
    while prev != t:
        prev = t
        t = _LABEL_PREFIX.sub("", t)
    return t


def terms() -> list[dict[str, Any]]:
    """Glossary terms (items) in file order."""
    return list(load_glossary().get("terms", []))


@lru_cache(maxsize=1)
def term_index() -> dict[str, dict[str, Any]]:
    """Term id → term."""
    return {t["id"]: t for t in terms()}


def term_by_label(label: str) -> dict[str, Any] | None:
    """The term whose canonical Chinese name (or a listed label) equals ``label`` after normalization."""
    key = norm_label(label)
    for t in terms():
        if norm_label(t["zh"]) == key:
            return t
    for t in terms():
        if any(norm_label(x) == key for x in t.get("aliases_zh", [])):
            return t
    return None


def measures() -> list[dict[str, Any]]:
    """Column concepts (决算数, 预算数, 全年预算数, 原值, 净值, 指标值, 实际完成值 …)."""
    return list(load_glossary().get("measures", []))


# --------------------------------------------------------------------------- the national classification (shipped data)

DATA_DIR = Path(__file__).with_name("data")


@lru_cache(maxsize=1)
def classification() -> tuple[dict[str, Any], ...]:
    """政府收支分类科目 items: ``{code, name, former: [...], en}`` (``assistant/data/classification.tsv``)."""
    out: list[dict[str, Any]] = []
    path = DATA_DIR / "classification.tsv"
    if not path.exists():
        return ()
    lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x and not x.startswith("#")]
    for line in lines[1:]:
        code, name, former, en = ([*line.split("\t"), "", "", ""])[:4]
        out.append({"code": code, "name": name, "former": [f for f in former.split("|") if f], "en": en})
    return tuple(out)


@lru_cache(maxsize=1)
def item_words() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Everyday words for classification items: (word, codes) — 水电费 → (30205, 30206)."""
    path = DATA_DIR / "item_words.tsv"
    if not path.exists():
        return ()
    out: list[tuple[str, tuple[str, ...]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        words, codes = line.split("\t")[:2]
        for w in words.split("|"):
            out.append((w, tuple(codes.split("+"))))
    return tuple(out)


def classification_name(code: str) -> str | None:
    """The current name of a classification code (2011308 → 招商引资)."""
    for c in classification():
        if c["code"] == code:
            return str(c["name"])
    return None
