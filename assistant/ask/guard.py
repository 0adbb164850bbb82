"""Never guess: questions whose figure the reports cannot give get "not in these reports", never a neighbour.

- **Words not understood** — :func:`unknown_item_words`: what is left of a question once the department,
  the years, the items found and the question words are taken out; a phrase shaped like an item
  (…费, …支出, …收入, …资金, …补贴) that nothing matched is an item the reports do not print.
- **Entities that are not the report's** — :func:`foreign_entity`: a whole city's or province's
  revenue (全市, 财政总收入, a place named without a department), per-person figures (人均, 平均工资).
- **Suggestions** — :func:`suggest`: the printed items nearest to the words not understood
  (character bigrams and characters over the printed labels, an index built once per vocabulary).

The words live in ``assistant/data/question_words.json``; nothing here names a report or department.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

WORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "question_words.json"
SUGGEST_KEY = "ask.suggest"


@cache
def question_words() -> dict[str, Any]:
    """The shipped question-word data (item tails, fillers, generic words, entity cues)."""
    data: dict[str, Any] = json.loads(WORDS_FILE.read_text(encoding="utf-8"))
    return data


@cache
def _item_re() -> re.Pattern[str]:
    tails = sorted(question_words()["item_tails"], key=len, reverse=True)
    return re.compile(r"[\u4e00-\u9fffA-Za-z]{1,10}?(?:" + "|".join(map(re.escape, tails)) + ")")


@cache
def _filler_re() -> re.Pattern[str]:
    words = sorted(question_words()["fillers"], key=len, reverse=True)
    return re.compile("^(?:" + "|".join(map(re.escape, words)) + ")+")


@cache
def _re_of(key: str) -> re.Pattern[str]:
    words = sorted(question_words()[key], key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words), re.I)


def unknown_item_words(residual: str) -> list[str]:
    """Item-shaped phrases in ``residual`` (the question with everything understood blanked out)."""
    qw = question_words()
    generic = set(qw["generic_items"])
    out: list[str] = []
    text = re.sub(r"\d+(?:\.\d+)?\s*(?:年度|年|月|日)?", " ", residual)
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        for m in _item_re().finditer(run):
            phrase = _filler_re().sub("", m.group())
            if len(phrase) >= 2 and phrase not in generic and phrase not in out:
                out.append(phrase)
    return out


def leftover_words(residual: str) -> list[str]:
    """Runs of 2+ Chinese characters left in ``residual`` once question words are taken out.

    A question whose item would fall back to the report's total names no item only when nothing is
    left: "政府采购一共花了多少钱" leaves 政府采购, an item the tables do not print (never the total).
    """
    qw = question_words()
    words = {*qw["question_phrases"], *qw["fillers"], *qw["generic_items"]}
    pat = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    text = re.sub(r"\d+(?:\.\d+)?\s*(?:年度|年|月|日)?", " ", residual)
    out: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        for rest in pat.sub(" ", run).split():
            if len(rest) >= 2 and rest not in out:
                out.append(rest)
    return out


def unknown_english_item(q: str, matched: bool) -> str | None:
    """An English item the question names ("spend on advertising") when no term matched it."""
    if matched:
        return None
    m = re.search(r"\bspen[dt]\s+on\s+([a-z][a-z -]{2,40}?)(?:\s+in\b|\s+during\b|[?.,]|$)", q)
    if m is None:
        m = re.search(r"\b((?:[a-z]+ ){0,2}[a-z]+)\s+(?:fees?|costs?|expenses?|expenditures?|spending|budget)\b", q)
    if m is None:
        return None
    words = [w for w in m.group(1).split() if w not in question_words()["english_fillers"]]
    return " ".join(words) or None


def foreign_entity(q: str, *, departments_named: bool, places_named: list[str], operation: str) -> str | None:
    """Why the question asks about something that is not a department's report (None when it does not)."""
    if _re_of("per_person").search(q):
        return "per_person"
    if _re_of("whole_place").search(q):
        return "whole_place"
    if places_named and not departments_named and operation != "rank":
        return "place"
    return None


# --------------------------------------------------------------------------- suggestions


def _grams(text: str) -> set[str]:
    chars = [c for c in text if "\u4e00" <= c <= "\u9fff" or c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)} | set(chars)


def _suggest_index(vocab: Any) -> dict[str, list[str]]:
    idx = vocab.extra.get(SUGGEST_KEY) if hasattr(vocab, "extra") else None
    if idx is not None:
        return idx
    idx = {}
    for lab in vocab.label_list:
        if "›" in lab or len(lab) > 16:
            continue
        for g in _grams(lab):
            idx.setdefault(g, []).append(lab)
    if hasattr(vocab, "extra"):
        vocab.extra[SUGGEST_KEY] = idx
    return idx


def suggest(vocab: Any, words: list[str], report_ids: set[str] | None = None, k: int = 5) -> list[str]:
    """Printed item labels nearest to ``words`` (shared bigrams weigh more than shared characters)."""
    idx = _suggest_index(vocab)
    generic_chars = set(question_words()["generic_chars"])
    generic_pairs = set(question_words().get("generic_bigrams", []))
    score: Counter[str] = Counter()
    specific: set[str] = set()
    for w in words:
        for g in _grams(w):
            if (len(g) == 1 and g in generic_chars) or g in generic_pairs:
                continue
            for lab in idx.get(g, []):
                score[lab] += 3 if len(g) == 2 else 1
                if len(g) == 2:
                    specific.add(lab)
    # a suggestion shares a specific two-character word with what was asked (广告费 → 宣传费 is no suggestion)
    ranked = sorted((lab for lab in score if lab in specific), key=lambda lab: (-score[lab], len(lab), lab))
    if report_ids:
        ranked = [lab for lab in ranked if vocab.labels.get(lab, set()) & report_ids] or ranked
    return ranked[:k]
