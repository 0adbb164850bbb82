"""Answers that hold for departments never seen: names by organisation type, items of the national
classification, one department over several years, and the span matcher behind them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.ask import ask
from assistant.ask.matcher import SpanMatcher
from assistant.ask.planner import _find_spans
from assistant.orgnames import department_names
from tests.conftest import needs_corpus


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "浙江省高级人民法院",
            ["浙江高院", "省高院", "浙江省法院", "高院", "high people's court", "zhejiang high people's court"],
        ),
        ("湖南省人民检察院", ["湖南省检察院", "省检察院", "湖南省检", "procuratorate", "hunan people's procuratorate"]),
        (
            "成都市武侯区人民政府办公室",
            ["武侯区政府办", "区府办", "武侯区府办", "government office", "wuhou district government office"],
        ),
        (
            "北京市海淀区教育委员会",
            ["海淀区教委", "海淀教委", "区教委", "education commission", "haidian district education commission"],
        ),
        ("浙江省淳安县教育局", ["淳安县教委", "县教育局", "淳安教育局", "education bureau", "chunan county education bureau"]),
        ("杭州市民政局", ["杭州民政局", "市民政局", "civil affairs bureau", "hangzhou civil affairs bureau"]),
        ("长沙市卫生健康委员会", ["长沙市卫健委", "市卫健委", "卫健委", "health commission"]),
        ("广州市人力资源和社会保障局", ["广州人社局", "市人社局", "human resources and social security bureau"]),
        ("中共杭州市西湖区委组织部", ["西湖区委组织部", "区委组织部", "组织部"]),
        ("广东省人大常委会办公厅", ["广东省人大", "省人大办", "people's congress standing committee"]),
        ("上海市黄浦区人民政府南京东路街道办事处", ["南京东路街道", "黄浦区南京东路街道办"]),
    ],
)
def test_department_names_by_organisation_type(name, said):
    names = department_names(name)
    for s in said:
        assert s in names.zh or s in names.en, (s, sorted(names.zh)[:20])


def test_place_words_alone_are_not_department_names():
    names = department_names("杭州市民政局")
    assert "杭州市" not in names.zh and "杭州" not in names.zh


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("曲靖市投资促进局2023年医疗卫生与计划生育支出是多少？", 53.66),  # the 2018 name of 卫生健康支出
        ("曲靖市投资促进局2023年210科目支出是多少？", 53.66),
    ],
)
def test_classification_names_of_earlier_editions(sample_index, question, value):
    assert ask(question, index=sample_index).value == pytest.approx(value)


@pytest.mark.parametrize("question", ["曲靖市投资促进局2023年物业费是多少？", "曲靖市投资促进局2023年水电费是多少？"])
def test_everyday_words_of_items_not_printed_get_no_figure(sample_index, question):
    a = ask(question, index=sample_index)
    assert a.value is None and a.route == "table"


@needs_corpus
@pytest.mark.parametrize(
    ("question", "value", "years"),
    [
        ("万里街道哪一年的三公经费预算最高？", 47.91, [2024, 2025]),
        ("Which year had the highest three public expenses budget for Wanli Subdistrict?", 47.91, [2024, 2025]),
        ("万里街道历年公务接待费", None, [2024, 2025]),
    ],
)
def test_one_department_over_its_years(corpus_index, question, value, years):
    a = ask(question, index=corpus_index)
    assert a.value == (pytest.approx(value) if value is not None else None)
    assert [p["year"] for p in a.meta["series"]] == years


needle = st.text(alphabet="abc甲乙", min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(needle, st.sampled_from(["x", "y"])), min_size=1, max_size=8), st.text(alphabet="abc甲乙 ", max_size=20)
)
def test_span_matcher_matches_the_needle_by_needle_scan(needles, text):
    ordered = sorted(set(needles), key=lambda x: (-len(x[0]), x))
    assert SpanMatcher(ordered).find(text) == _find_spans(text, ordered)


@pytest.mark.parametrize(
    ("question", "section", "items"),
    [
        ("绩效自评中发现了哪些问题？", "存在的问题", ["一是", "二是"]),
        ("曲靖市投资促进局2023年绩效管理的主要经验及做法有哪些？", "主要经验及做法", ["(一)", "(二)", "(三)"]),
    ],
)
def test_descriptive_answer_is_the_whole_answering_list(sample_index, question, section, items):
    a = ask(question, index=sample_index)
    assert section in a.meta["retrieved"][0]["section"]
    assert section in (a.citations[0].section or "")
    for it in items:
        assert it in a.citations[0].text


@needs_corpus
def test_main_functions_are_the_whole_list(corpus_index):
    a = ask("上海市普陀区财政局的主要职能是什么？", index=corpus_index)
    assert "主要职能" in (a.citations[0].section or "")
    assert all(x in a.answer for x in ("（一）", "（二）", "（三）"))
