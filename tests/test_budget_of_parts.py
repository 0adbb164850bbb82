"""An economic-class item asked as a budget ("…预算多少") of a budget report is the figure its parts print.

Budget reports print 办公设备购置, 会议费 … only in the basic/project expenditure tables by economic class
(their parts); the question names the budget (预算), which is what those tables print. A final account's
parts print only the actual: its budget is not given from them.
"""

from __future__ import annotations

import pytest


def _budget_reports(index):  # type: ignore[no-untyped-def]
    return [r for r in index.reports if r.kind == "预算" and r.year >= 2024]


@pytest.mark.parametrize("item", ["办公设备购置", "会议费", "印刷费", "水费"])
@pytest.mark.parametrize("ask_as", ["{d}{y}年{i}预算多少", "{d}{y}年{i}的预算数是多少？", "{d}{y}年{i}是多少"])
def test_budget_of_an_economic_item_in_a_budget_report(corpus_index, item: str, ask_as: str) -> None:  # type: ignore[no-untyped-def]
    from assistant.ask import ask
    from assistant.ask.planner import build_vocab

    v = build_vocab(corpus_index)
    checked = 0
    for r in _budget_reports(corpus_index):
        rows = v.facts[(v.facts.report_id == r.report_id) & (v.facts._label == item) & (v.facts.status == "ok")]
        if not len(rows):
            continue
        printed = {str(x) for x in rows["raw"]}
        a = ask(ask_as.format(d=r.department, y=r.year, i=item), index=corpus_index)
        assert a.value is not None, (r.report_id, a.answer[:120])
        assert any(p.replace(",", "") in a.answer.replace(",", "") for p in printed), a.answer[:200]
        checked += 1
    assert checked, f"no budget report of the corpus prints {item}"


def test_budget_of_an_economic_item_in_a_final_account_is_not_its_actual(sample_index) -> None:  # type: ignore[no-untyped-def]
    from assistant.ask import ask

    a = ask("2023年办公设备购置的预算数是多少？", index=sample_index)
    assert a.value is None or "12.17" not in a.answer.split("报告原文")[0]
