"""Never guess: an item no fact matches, an entity that is not the report's, an operation that cannot be
computed get "not in these reports" — never a total, a neighbour or an operand (eval/never_guess.jsonl)."""

from __future__ import annotations

import importlib

import pytest

from assistant.ask import ask

ng = importlib.import_module("eval.never_guess")
ITEMS = ng.load_never_guess()


def test_the_set_is_large_and_varied():
    kinds = {it["kind"] for it in ITEMS}
    assert len(ITEMS) >= 40
    assert {"items_not_printed", "not_the_report", "not_ingested", "operation", "nonsense"} <= kinds


@pytest.mark.parametrize("item", ITEMS, ids=lambda it: it["id"])
def test_no_figure(sample_index, item):
    a = ask(item["question"], index=sample_index)
    assert a.value is None, f"{item['question']} → {a.value} {a.unit}: {a.answer[:200]}"


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("2023年广告费花了多少？", ["广告费"]),
        ("曲靖市投资促进局2023年公务接待费比广告费多多少？", ["广告费"]),
        ("投促局去年的油费花了多少？", ["油费"]),
    ],
)
def test_refusal_names_the_words_not_understood_and_suggests_printed_items(sample_index, question, words):
    a = ask(question, index=sample_index)
    assert a.value is None and a.meta.get("status") in ("not_in_reports", "not_ingested")
    if a.meta.get("status") == "not_in_reports":
        assert a.meta["not_understood"] == words
        assert all(w in a.answer for w in words)
        assert "不在这些报告中" in a.answer


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("三公经费决算数比年初预算数多了多少？", 1.58),
        ("曲靖市投资促进局2023年招待费是多少？", 50.0),
        ("2023年吃喝花了多少", 50.0),
        ("曲靖市投资促进局2023年出国费多少", 7.58),
    ],
)
def test_operations_are_computed_and_everyday_words_still_answer(sample_index, question, value):
    a = ask(question, index=sample_index)
    assert a.value == pytest.approx(value), a.answer
