"""Shares and several items in one question, as a reader would check them against the tables.

- A share asked of the whole budget or final account (占预算的比重, "share of the 2023 final accounts")
  is the item over the total expenditure, the same figure as asking with the total's printed name; a
  share with no whole named keeps the item's own parent (公务接待费 of 三公经费).
- "X和Y分别是多少" answers X and Y, each with its own cell; an item no printed row matches is said to be
  absent beside the ones answered, never dropped in silence.
"""

from __future__ import annotations

import pytest

from assistant.ask import ask
from tests.conftest import needs_corpus


def _pct(sample_index, q: str) -> float:
    a = ask(q, index=sample_index)
    assert a.value is not None, (q, a.answer)
    return a.value

@pytest.mark.parametrize(
    "question",
    [
        "2023年公务接待费占预算的比重是多少",
        "2023年公务接待费占全年支出的比例是多少？",
        "2023年公务接待费占决算的百分比",
        "What share of the 2023 final accounts went to official receptions?",
        "What percentage of its 2023 spending went on official receptions?",
    ],
)
def test_a_share_of_the_whole_is_over_the_total_expenditure(sample_index, question):
    whole = _pct(sample_index, "2023年公务接待费占本年支出合计的比例是多少")
    assert _pct(sample_index, question) == pytest.approx(whole)
    parent = _pct(sample_index, "2023年公务接待费占三公经费的比重是多少")
    assert whole != pytest.approx(parent)

@pytest.mark.parametrize("question", ["2023年公务接待费占比多少", "What share did official receptions take in 2023?"])
def test_a_share_with_no_whole_named_is_of_the_items_parent(sample_index, question):
    assert _pct(sample_index, question) == pytest.approx(_pct(sample_index, "2023年公务接待费占三公经费的比重是多少"))

@pytest.mark.parametrize(
    "question",
    ["2023年人员经费和公用经费分别是多少", "2023年人员经费和公用经费各是多少？", "2023年人员经费、公用经费分别为多少"],
)
def test_each_of_two_items_gets_its_own_figure(sample_index, question):
    a = ask(question, index=sample_index)
    one, two = ask("2023年人员经费是多少", index=sample_index), ask("2023年公用经费是多少", index=sample_index)
    assert one.value is not None and two.value is not None
    for single in (one, two):
        assert f"{single.value:,.2f}" in a.answer, (question, a.answer)
    cited = {c.fact_id for c in a.citations}
    assert one.citations[0].fact_id in cited and two.citations[0].fact_id in cited

@pytest.mark.parametrize(("question", "absent"), [("2023年会议费和广告费各是多少", "广告费"), ("2023年会议费和差旅补助是多少", "差旅补助")])
def test_an_item_not_printed_is_said_beside_the_ones_answered(sample_index, question, absent):
    a = ask(question, index=sample_index)
    single = ask("2023年会议费是多少", index=sample_index)
    assert single.value is not None and f"{single.value:,.2f}" in a.answer
    assert f"不在这些报告中：{absent}" in a.answer

@needs_corpus
@pytest.mark.parametrize("cue", ["分别是多少", "各是多少？"])
def test_each_of_two_departments_gets_its_own_figure(corpus_index, cue):

    by_year: dict[int, list[str]] = {}
    for r in corpus_index.reports:
        if r.scope == "部门" and r.department not in by_year.setdefault(r.year, []):
            by_year[r.year].append(r.department)
    year, deps = next((y, ds) for y, ds in sorted(by_year.items()) if len(ds) >= 2)
    singles = [ask(f"{d}{year}年“三公”经费是多少", index=corpus_index) for d in deps[:2]]
    assert all(a.value is not None for a in singles)
    a = ask(f"{year}年{deps[0]}和{deps[1]}的“三公”经费{cue}", index=corpus_index)
    for single in singles:
        assert f"{single.value:,.2f}" in a.answer, a.answer
