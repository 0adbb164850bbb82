"""The answers' message table (assistant/data/messages.json): every message in both languages with the same
placeholders, every key the code asks for defined, and the lookup filling placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from assistant.i18n import T, messages, tr

PKG = Path(__file__).resolve().parents[1] / "assistant"


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("key", sorted(messages()))
def test_message_has_both_languages_and_the_same_placeholders(key: str) -> None:
    m = messages()[key]
    assert isinstance(m.get("zh"), str) and isinstance(m.get("en"), str), key
    assert key not in T, f"{key} is defined twice (T and the message table)"
    if "placeholders_differ" not in m:
        assert _fields(m["zh"]) == _fields(m["en"]), key


def test_every_key_the_code_asks_for_is_defined() -> None:
    used: set[str] = set()
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\btr\(\s*"([a-z_]+\.[a-z_.]+)"', text))
        used |= {f"ask.refuse.{why}" for why in re.findall(r'return "(per_person|whole_place|place|operation)"', text)}
    assert used, "no tr() calls found"
    missing = sorted(k for k in used if k not in messages())
    assert not missing


def test_refusal_reasons_cover_every_reason_the_guard_gives() -> None:
    for why in ("unknown_item", "per_person", "whole_place", "place", "operation"):
        for lang in ("zh", "en"):
            assert tr(f"ask.refuse.{why}", lang, words="x")


@pytest.mark.parametrize(
    ("lang", "expect"),
    [
        ("zh", "甲局2023年度单位决算"),
        ("en", "甲局 2023 unit-level final accounts"),
    ],
)
def test_report_name_in_each_language(lang: str, expect: str) -> None:
    from assistant.ask.answer import report_name
    from assistant.models import ReportMeta

    r = ReportMeta(report_id="x", department="甲局", year=2023, kind="决算", scope="单位")
    assert report_name(r, lang) == expect


def test_tr_fills_placeholders_and_names_a_missing_key() -> None:
    assert tr("ask.refusal", "zh", reason="R。", nearest="", ingested="甲") == "R。已收录：甲。"
    assert tr("ask.refusal", "en", reason="R.", nearest="", ingested="A") == "R. Ingested: A."
    assert tr("title", "en") == "Budget & final-accounts Q&A"  # interface labels unchanged
    with pytest.raises(KeyError, match="messages.json"):
        tr("no.such.key", "zh")
