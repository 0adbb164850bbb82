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
    ("project_performance", ("项目支出绩效自评表", "项目绩效自评", "项目支出绩效目标")),
    ("performance_indicators", ("绩效自评表", "绩效目标表", "整体支出绩效", "绩效指标")),
    ("three_public_expenses", ("三公",)),
    ("assets", ("国有资产", "资产使用情况", "资产占有")),
    ("government_fund", ("政府性基金",)),
    ("state_capital", ("国有资本经营",)),
    ("basic_expenditure_by_economic_class", ("基本支出",)),
    ("project_expenditure_by_economic_class", ("项目支出决算表", "项目支出表", "项目支出预算表")),
    ("general_budget_by_function", ("一般公共预算财政拨款收入支出", "一般公共预算支出", "一般公共预算财政拨款支出")),
    ("appropriation_summary", ("财政拨款收入支出", "财政拨款收支")),
    ("income_expenditure_summary", ("收入支出决算表", "收支总表", "收支预算总表", "收入支出预算表", "财务收支")),
    ("income_by_function", ("收入决算表", "收入预算表", "收入总表")),
    ("expenditure_by_function", ("支出决算表", "支出预算表", "支出总表")),
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
