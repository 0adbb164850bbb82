"""The evaluation: gold file shape, the scoring rules on fake answers, and the CI gate on the sample."""

from __future__ import annotations

import argparse
import importlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from assistant.errors import EvalError
from assistant.evaluate import (
    CATEGORIES,
    GOLD_FILE,
    SAMPLE_ID,
    TARGETS,
    GoldItem,
    load_gold,
    main,
    recall_hit,
    route_correct,
    run_gold,
    says_not_published,
    score_answer,
    select_items,
    summarize,
    value_correct,
)
from assistant.models import Answer, Citation


def gold(**kw) -> GoldItem:
    base = dict(
        id="t1",
        category="numeric_lookup",
        question="q",
        lang="zh",
        route="table",
        report=SAMPLE_ID,
        value=Decimal("50.00"),
        unit="万元",
    )
    return GoldItem(**(base | kw))


def answer(route="table", value=50.0, unit="万元", text="50.00 万元", **kw) -> Answer:
    return Answer(question="q", route=route, answer=text, value=value, unit=unit, **kw)


# --------------------------------------------------------------------------- the gold file


@pytest.fixture(scope="module")
def items() -> list[GoldItem]:
    return load_gold(GOLD_FILE)


def test_gold_set_size_and_coverage(items):
    assert len(items) >= 150
    assert {i.category for i in items} == set(CATEGORIES)
    sample = select_items(items, sample_only=True)
    assert len(sample) >= 40
    # every report of the corpus is asked about
    reports = {r for i in items for r in i.needed_reports}
    assert len(reports) == 15  # 15 reports (12, 13, 14 are two files each): all 18 files


def test_gold_values_keep_published_decimals(items):
    by_id = {i.id: i for i in items}
    assert by_id["s-num-01"].value == Decimal("50.00") and str(by_id["s-num-01"].value) == "50.00"
    assert by_id["s-num-23"].value == Decimal("71.72") and by_id["s-num-23"].unit == "%"
    assert by_id["s-num-17"].value == Decimal(213) and by_id["s-num-17"].unit == "个"
    assert by_id["s-en-01"].question == "how much was spent on reception in 2023"


def test_gold_items_are_complete(items):
    for i in items:
        assert i.source, i.id
        if i.category in ("descriptive",):
            assert i.section and i.keywords, i.id
        if i.category == "followup":
            assert i.history, i.id
        if i.category == "ranking":
            assert i.value is not None and i.keywords and len(i.needed_reports) >= 2, i.id
        if i.category == "unanswerable":
            assert i.value is None, i.id


def test_sample_questions_are_unambiguous_in_the_corpus(items):
    """Sample questions must name 2023 or the bureau (or a project only the sample has), here or in their history."""
    marks = ("2023", "投资促进局", "投資促進局", "Qujing", "招商工作经费", "招商工作經費")
    for i in select_items(items, sample_only=True):
        text = i.question + " ".join(i.history)
        assert any(m in text for m in marks), i.id


def test_bad_gold_lines_are_reported(tmp_path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"id": "a", "category": "numeric_lookup", "question": "q", "route": "table", "value": 1}\n', encoding="utf-8")
    with pytest.raises(EvalError, match="needs a unit"):
        load_gold(p)
    p.write_text('{"id": "a", "category": "guess", "question": "q", "route": "table"}\n', encoding="utf-8")
    with pytest.raises(EvalError, match="unknown category"):
        load_gold(p)
    with pytest.raises(EvalError, match="no gold file"):
        load_gold(tmp_path / "missing.jsonl")


# --------------------------------------------------------------------------- the exact-value rule


@pytest.mark.parametrize(
    ("expected", "eunit", "got", "gunit", "ok"),
    [
        ("50.00", "万元", 50.0, "万元", True),
        ("50.00", "万元", 50, "万元", True),
        ("50.00", "万元", 50.004, "万元", True),  # rounds to the published 2 decimals
        ("50.00", "万元", 50.01, "万元", False),
        ("50.00", "万元", 49.995, "万元", True),  # half up, like the published rounding
        ("50.00", "万元", 500000, "元", True),  # 50.00 万元 = 500,000 元
        ("50.00", "万元", 50.0, "元", False),  # unit mismatch
        ("50.00", "万元", 50.0, "%", False),
        ("50.00", "万元", 50.0, None, False),
        ("50.00", "万元", None, "万元", False),
        ("71.72", "%", 71.72, "%", True),
        ("71.72", "%", 71.7, "%", False),
        ("71.72", "%", 71.72, "万元", False),
        ("82.75", "%", 82.754, "％", True),
        ("213", "个", 213, "个", True),
        ("213", "个", 213, "批次", True),
        ("213", "个", 213, "人", False),
        ("156211123", "元", 15621.1123, "万元", True),  # a 元 table keeps every yuan
        ("156211123", "元", 15621.11, "万元", False),
        ("91016775.35", "元", 91016775.35, "元", True),
        ("25", "万元", 25.0, "万元", True),
        ("25", "万元", 25.4, "万元", True),  # published without decimals: compared as printed
    ],
)
def test_value_rule(expected, eunit, got, gunit, ok):
    assert value_correct(expected, eunit, got, gunit) is ok


def test_sign_free_differences():
    assert value_correct("6.00", "万元", -6.0, "万元", sign_free=True)
    assert not value_correct("6.00", "万元", -6.0, "万元")
    assert not value_correct("6.00", "万元", 5.0, "万元", sign_free=True)


def test_numeric_answer_scores_only_with_exact_value_and_unit():
    g = gold()
    assert score_answer(g, answer(value=50.0)).correct
    assert not score_answer(g, answer(value=50.1)).correct
    assert not score_answer(g, answer(value=50.0, unit="元")).correct
    r = score_answer(g, answer(value=None, text="公务接待费为50.00万元"))
    assert not r.correct and r.value_ok is False  # the figure must be in `value`, not only in the text


# --------------------------------------------------------------------------- routes, recall, unanswerable


def test_route_scoring():
    g = gold(route="both", route_alt=["text"])
    assert route_correct(g, "both") and route_correct(g, "text")
    assert not route_correct(g, "table") and not route_correct(g, None)
    r = score_answer(gold(route="table"), answer(route="text"))
    assert r.correct and not r.route_ok  # the figure is right, the route is scored apart


def test_recall_at_5_reads_meta_retrieved():
    g = gold(
        category="descriptive", route="text", value=None, unit=None, section="存在的问题和整改情况", keywords=["资金使用效率"]
    )
    hits = [
        {"chunk_id": f"c{i}", "section": s, "page": None}
        for i, s in enumerate(["部门概况", "a", "b", "c", "四、存在的问题和整改情况"])
    ]
    a = answer(route="text", value=None, unit=None, text="二是资金使用效率有待进一步提高。", meta={"retrieved": hits})
    assert recall_hit(g, a) is True
    a6 = answer(route="text", value=None, unit=None, text="…", meta={"retrieved": [{"section": "x"}] * 5 + hits[-1:]})
    assert recall_hit(g, a6) is False  # 6th place does not count
    r = score_answer(g, a)
    assert r.correct and r.recall and r.route_ok
    assert not score_answer(g, answer(route="text", value=None, text="无关内容", meta={"retrieved": hits})).correct


def test_recall_falls_back_to_citations_and_ignores_whitespace():
    g = gold(category="descriptive", route="text", value=None, unit=None, section="主要职能", keywords=[])
    a = answer(route="text", value=None, text="…", citations=[Citation(report="r", section="第一部分 › 一、主要 职能")])
    assert recall_hit(g, a) is True
    assert recall_hit(gold(), a) is None  # numeric items have no section


@pytest.mark.parametrize(
    ("route", "text", "value", "ok"),
    [
        ("none", "这个问题与已导入的报告无关。", None, True),
        ("table", "已导入的报告中没有2022年的数据。", None, True),
        ("table", "The ingested reports do not say.", None, True),
        ("table", "该表未公开。", None, True),
        ("table", "公务接待费为50.00万元。", 50.0, False),  # a figure for an unanswerable question is wrong
        ("text", "曲靖市投资促进局是正处级单位。", None, False),
    ],
)
def test_unanswerable_scoring(route, text, value, ok):
    g = gold(category="unanswerable", route="none", route_alt=["table"], value=None, unit=None)
    assert score_answer(g, answer(route=route, text=text, value=value)).correct is ok


def test_not_published_phrases():
    assert says_not_published("报告中没有 相关数据")
    assert says_not_published("This figure is NOT PUBLISHED in the report")
    assert not says_not_published("公务接待费为50.00万元")


def test_empty_table_and_ranking_need_their_keywords():
    empty = gold(value=None, unit=None, keywords=["空表", "无政府性基金"])
    assert score_answer(empty, answer(value=None, text="公开08表为空表：本年度无政府性基金预算财政拨款收入。")).correct
    assert not score_answer(empty, answer(value=None, text="不知道")).correct
    rank = gold(category="ranking", value=Decimal("867.50"), keywords=["人民政府办公室"])
    assert score_answer(rank, answer(value=867.5, text="上海市普陀区人民政府办公室最高，867.50万元")).correct
    assert not score_answer(rank, answer(value=867.5, text="万里街道最高")).correct


# --------------------------------------------------------------------------- running and summarizing


def test_run_gold_with_fake_ask_passes_history_and_survives_crashes():
    items = [
        gold(id="a", question="基本支出是多少？", value=Decimal("950.55")),
        gold(id="b", category="followup", question="那项目支出呢？", value=Decimal("884.38"), history=["基本支出是多少？"]),
        gold(id="c", question="boom"),
        gold(id="d", category="descriptive", route="text", value=None, unit=None, section="问题", keywords=["效率"]),
    ]
    seen_history: list = []

    def fake_ask(question, *, index=None, history=None, llm=None):
        if question == "boom":
            raise ValueError("kaput")
        if question == "那项目支出呢？":
            seen_history.append(history)
            return answer(value=884.38)
        if question == "基本支出是多少？":
            return answer(value=950.55)
        return answer(
            route="text", value=None, unit=None, text="资金使用效率不高", meta={"retrieved": [{"section": "四、存在的问题"}]}
        )

    results = run_gold(items, fake_ask, index=None)
    assert [r.correct for r in results] == [True, True, False, True]
    assert results[2].error == "ValueError: kaput"
    (hist,) = seen_history
    assert hist[0][0] == "基本支出是多少？" and isinstance(hist[0][1], Answer) and hist[0][1].value == 950.55
    s = summarize(results)
    assert s.questions == 4 and s.errors == 1
    assert s.numeric == pytest.approx(2 / 3) and s.recall_at_5 == 1.0 and s.route == 0.75
    assert s.categories["followup"]["accuracy"] == 1.0
    assert not s.passed and set(s.below_target) == {"numeric", "route"}
    assert [f["id"] for f in s.failures] == ["c"]
    assert s.latency_ms["p50"] is not None and s.latency_ms["table_p50"] is not None
    json.dumps(s.to_json(), default=str)


def test_cli_json_and_enforce(monkeypatch, capsys, tmp_path):
    """`fiscal-qa eval --json --enforce` with a fake engine: one JSON object, exit 1 below the targets."""
    import assistant.evaluate as ev

    ask_module = importlib.import_module("assistant.ask")  # `assistant.ask` the attribute is the function

    g = tmp_path / "g.jsonl"
    g.write_text(
        "\n".join(
            json.dumps(d, ensure_ascii=False)
            for d in [
                {
                    "id": "x",
                    "category": "numeric_lookup",
                    "question": "2023年接待费？",
                    "route": "table",
                    "report": SAMPLE_ID,
                    "value": 1,
                    "unit": "万元",
                },
                {
                    "id": "y",
                    "category": "numeric_lookup",
                    "question": "其他",
                    "route": "table",
                    "report": "other",
                    "value": 1,
                    "unit": "万元",
                },
            ]
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(ev, "ensure_index", lambda needed, **kw: (object(), {SAMPLE_ID}, "fake index"))
    monkeypatch.setattr(ask_module, "ask", lambda q, **kw: answer(value=1.0))
    ns = argparse.Namespace(gold=str(g), reports=None, sample_only=False, llm=False, json=True, enforce=True, index=None)
    assert main(ns) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["questions"] == 1 and obj["skipped"] == 1 and obj["numeric"] == 1.0 and obj["passed"] is True
    monkeypatch.setattr(ask_module, "ask", lambda q, **kw: answer(value=2.0))
    assert main(ns) == 1


def test_cli_llm_runs_both_columns(monkeypatch, capsys, tmp_path):
    """`--llm` runs the set twice (deterministic, then with the configured model) and reports both."""
    import assistant.evaluate as ev
    import assistant.llm

    ask_module = importlib.import_module("assistant.ask")
    g = tmp_path / "g.jsonl"
    g.write_text(
        json.dumps(
            {
                "id": "x",
                "category": "numeric_lookup",
                "question": "q",
                "route": "table",
                "report": SAMPLE_ID,
                "value": 1,
                "unit": "万元",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(ev, "ensure_index", lambda needed, **kw: (object(), {SAMPLE_ID}, "fake index"))
    monkeypatch.setattr(ask_module, "ask", lambda q, *, llm=None, **kw: answer(value=1.0 if llm is None else 2.0))
    ns = argparse.Namespace(gold=str(g), reports=None, sample_only=False, llm=True, json=True, enforce=False, index=None)
    monkeypatch.setattr(assistant.llm, "llm_from_settings", lambda settings=None: None)
    with pytest.raises(EvalError, match="FISCALQA_LLM_BASE_URL"):
        main(ns)
    monkeypatch.setattr(assistant.llm, "llm_from_settings", lambda settings=None: object())
    assert main(ns) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["deterministic"]["numeric"] == 1.0 and obj["llm"]["numeric"] == 0.0


# --------------------------------------------------------------------------- the CI gate


def test_sample_subset_meets_targets(sample_index):
    """CI gate: the sample questions through the real pipeline meet numeric ≥ 95%, route ≥ 98%, recall@5 ≥ 95%."""
    from assistant.ask import ask

    items = select_items(load_gold(GOLD_FILE), sample_only=True)
    try:
        results = run_gold(items, ask, index=sample_index)
    except NotImplementedError:
        pytest.skip("assistant.ask is not implemented yet")
    s = summarize(results)
    report = "\n".join(
        f"{f['id']}: expected {f['expected']} got {f['got']} route {f['route']} {f['error'] or f['answer'][:80]}"
        for f in s.failures
    )
    assert s.errors == 0, report
    for key, target in TARGETS.items():
        value = getattr(s, key)
        assert value is not None and value >= target, f"{key} {value:.3f} < {target}\n{report}"


def test_gold_file_path_is_in_repo():
    assert Path(GOLD_FILE).parts[-2:] == ("eval", "gold.jsonl")


def test_section_targets_are_specific(items):
    """A section target of fewer than four characters (三公, 目的) would match unrelated headings."""
    short = [it.id for it in items for s in ([it.section] if isinstance(it.section, str) else it.section or []) if len(s) < 4]
    assert not short


def test_keywords_in_the_list_of_ingested_reports_do_not_count():
    from assistant.evaluate import GoldItem, score_answer
    from assistant.models import Answer

    item = GoldItem(
        id="x",
        category="descriptive",
        question="q",
        lang="zh",
        route="text",
        report=None,
        value=None,
        unit=None,
        keywords=["投资促进局"],
    )
    refusal = Answer(question="q", route="text", answer="已收录的报告中没有相关内容。已收录：某市投资促进局2023年度决算。")
    assert not score_answer(item, refusal).correct
    en = Answer(
        question="q", route="text", answer="The ingested reports do not say. Ingested: 某市投资促进局 2023 final accounts."
    )
    assert not score_answer(item, en).correct
    right = Answer(question="q", route="text", answer="报告原文：某市投资促进局的主要职能是……")
    assert score_answer(item, right).correct
