"""The table tool: every operation, canonical totals with parts, not published, empty tables, ambiguity, units.

A small hand-made index (facts built with models.Fact) pins the behaviours that need several
departments and years; the bundled sample pins exact published figures.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from assistant.ask import ask
from assistant.ask.planner import build_vocab, parse_question
from assistant.ask.table_query import execute
from assistant.models import Fact, ReportMeta, TableInfo
from assistant.store import IndexData, facts_to_frame

# --------------------------------------------------------------------------- a small hand-made index

TP_TITLE = "财政拨款“三公”经费支出情况表"


def _facts(
    rid: str, dept: str, year: int, kind: str, tid: str, number: str, title: str, tkind: str, rows: list[tuple]
) -> list[Fact]:
    out = []
    for ri, (label, code, cols) in enumerate(rows):
        for ci, (col, raw, unit) in enumerate(cols, start=2):
            status = "na" if raw == "—" else "ok"
            val = None if status == "na" else Decimal(raw.replace(",", ""))
            wan = None if val is None or unit not in ("万元", "元") else (val if unit == "万元" else val / Decimal(10000))
            out.append(
                Fact(
                    fact_id=f"{rid}:{tid}:r{ri}:c{ci}", report_id=rid, department=dept, year=year, kind=kind, scope="部门",
                    table_id=tid, table_number=number, table_title=title, table_kind=tkind, page=3, row_index=ri, code=code,
                    row_label=label, column=col, value=val, unit=unit, value_wan=wan, raw=raw, status=status,
                )
            )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def mini() -> IndexData:
    reports = [
        ReportMeta("a_caizheng_2024", "上海市普陀区财政局", 2024, "决算", place="上海市普陀区"),
        ReportMeta("b_wanli_2024", "上海市普陀区人民政府万里街道办事处", 2024, "预算", place="上海市普陀区"),
        ReportMeta("c_wanli_2025", "上海市普陀区人民政府万里街道办事处", 2025, "预算", place="上海市普陀区"),
        ReportMeta("d_jiancha_2018", "江苏省人民检察院", 2018, "预算", place="江苏省"),
        ReportMeta("e_zhengxie_2017", "江苏省政协办公厅", 2017, "预算", place="江苏省"),
        ReportMeta("f_renda_2019", "江苏省人大常委会办公厅", 2019, "预算", place="江苏省"),
    ]
    facts: list[Fact] = []
    # 01: the 三公 table prints only the budget
    facts += _facts("a_caizheng_2024", "上海市普陀区财政局", 2024, "决算", "t09", "", TP_TITLE, "three_public_expenses", [
        ("合计", None, [("预算数", "0.95", "万元")]),
        ("公务接待费", None, [("预算数", "0.95", "万元")]),
    ])  # fmt: skip
    for rid, year, total, recep, basic in (
        ("b_wanli_2024", 2024, "47.91", "1.35", "99,706,020"),
        ("c_wanli_2025", 2025, "37.91", "1.00", "101,215,746"),
    ):
        dept = "上海市普陀区人民政府万里街道办事处"
        facts += _facts(rid, dept, year, "预算", "t09", "", "部门“三公”经费和机关运行经费预算表", "three_public_expenses", [
            ("“三公”经费合计", None, [("预算数", total, "万元")]),
            ("因公出国（境）费", None, [("预算数", "0", "万元")]),
            ("公务用车购置及运行维护费", None, [("预算数", str(Decimal(total) - Decimal(recep)), "万元")]),
            ("公务接待费", None, [("预算数", recep, "万元")]),
        ])  # fmt: skip
        facts += _facts(rid, dept, year, "预算", "t03", "", "部门支出预算总表", "expenditure_by_function", [
            ("合计", None, [("合计", "150,000,000", "元"), ("基本支出", basic, "元"), ("项目支出", "1", "元")]),
        ])  # fmt: skip
    for rid, dept, year, total in (
        ("d_jiancha_2018", "江苏省人民检察院", 2018, "484.30"),
        ("e_zhengxie_2017", "江苏省政协办公厅", 2017, "676.10"),
        ("f_renda_2019", "江苏省人大常委会办公厅", 2019, "767.60"),
    ):
        facts += _facts(rid, dept, year, "预算", "t09", "公开09表", "“三公”经费、会议费、培训费支出预算表", "three_public_expenses", [
            ("“三公”经费合计", None, [("预算数", total, "万元")]),
        ])  # fmt: skip
    tables = pd.DataFrame(
        [
            TableInfo("a_caizheng_2024", "t09", "", TP_TITLE, "three_public_expenses", "万元", [3], False).__dict__,
            TableInfo(
                "a_caizheng_2024",
                "t08",
                "",
                "政府性基金预算财政拨款收入支出决算表",
                "government_fund",
                "万元",
                [3],
                True,
                note="本单位2024年度无政府性基金预算财政拨款收入，故本表为空表。",
            ).__dict__,
        ]  # fmt: skip
    )
    return IndexData(
        path=Path("/nonexistent"), reports=reports, tables=tables, facts=facts_to_frame(facts), chunks=pd.DataFrame()
    )


def _run(q: str, idx: IndexData, history=None):
    v = build_vocab(idx)
    pq = parse_question(q, v, history)
    return execute(pq, v)


def test_not_published_names_what_is_printed(mini):
    res = _run("上海市普陀区财政局2024年公务接待费决算数是多少？", mini)
    assert res.status == "not_published"
    printed = [r["raw"] for r in res.detail["row_facts"]]
    assert printed == ["0.95"]
    a = ask("上海市普陀区财政局2024年公务接待费决算数是多少？", index=mini)
    assert a.value is None and "未公开" in a.answer and "0.95" in a.answer


def test_budget_of_final_accounts_is_its_own_column(mini):
    res = _run("财政局2024年公务接待费预算数是多少？", mini)
    assert res.status == "ok" and res.headline.value == Decimal("0.95")
    assert res.headline.column == "预算数"


def test_actual_never_taken_from_a_budget_report(mini):
    a = ask("万里街道2025年公务接待费实际支出（决算）是多少？", index=mini)
    assert a.value is None
    assert "预算" in a.answer


def test_empty_table_is_an_answer_with_its_note(mini):
    a = ask("财政局2024年政府性基金预算财政拨款收入是多少？", index=mini)
    assert a.value is None and a.route == "table"
    assert "空表" in a.answer and "无政府性基金" in a.answer


def test_no_year_with_several_years_asks_which(mini):
    res = _run("万里街道的三公经费预算是多少？", mini)
    assert res.status == "clarify" and res.clarify_what == "year"
    assert res.options == ["2024", "2025"]
    a = ask("万里街道的三公经费预算是多少？", index=mini)
    assert "2024" in a.answer and "2025" in a.answer and a.value is None


def test_name_matching_several_departments_asks_which(mini):
    res = _run("办公厅的三公经费预算是多少？", mini)
    assert res.status == "clarify" and res.clarify_what == "department"
    assert set(res.options) == {"江苏省政协办公厅", "江苏省人大常委会办公厅"}


def test_unknown_year_says_what_is_ingested(mini):
    a = ask("财政局2019年公务接待费是多少？", index=mini)
    assert a.value is None and "2019" in a.answer and "2024" in a.answer


def test_yoy_between_budgets(mini):
    res = _run("万里街道2025年三公经费预算比2024年减少了多少？", mini)
    assert res.status == "ok" and res.operation == "yoy"
    assert res.headline.value == Decimal("10.00") and res.headline.unit == "万元"
    assert res.detail["pct"] == Decimal("-20.87")
    pct = _run("万里街道2025年三公经费预算同比变化了百分之多少？", mini)
    assert pct.headline.value == Decimal("-20.87") and pct.headline.unit == "%"


def test_rank_across_departments_keeps_within_the_place(mini):
    res = _run("江苏省各部门预算中，哪个部门的三公经费预算最高？", mini)
    assert res.operation == "rank" and res.status == "ok"
    assert [f.report.department for f in res.figures] == ["江苏省人大常委会办公厅", "江苏省政协办公厅", "江苏省人民检察院"]
    assert res.headline.value == Decimal("767.60")
    low = _run("江苏省哪个部门的三公经费预算最低？", mini)
    assert low.headline.value == Decimal("484.30")


def test_yuan_table_keeps_precision_and_gives_wan(mini):
    a = ask("万里街道2024年基本支出预算是多少？", index=mini)
    assert a.value == 99706020 and a.unit == "元"
    assert "99,706,020 元" in a.answer and "9,970.602 万元" in a.answer


def test_english_budget_question(mini):
    a = ask("What is the 2025 budget for official reception of Wanli Subdistrict?", index=mini)
    assert a.language == "en" and a.value == 1.0 and a.unit == "万元"
    assert "(公务接待费)" in a.answer and "10,000 yuan" in a.answer


# --------------------------------------------------------------------------- the sample: exact figures


@pytest.mark.parametrize(
    ("question", "value", "unit"),
    [
        ("曲靖市投资促进局2023年公务接待费是多少？", "50.00", "万元"),
        ("曲靖市投资促进局2023年“三公”经费决算数合计是多少？", "60.42", "万元"),
        ("2023年因公出国（境）费决算是多少？", "7.58", "万元"),
        ("2023年公务接待费的年初预算数是多少？", "56.00", "万元"),
        ("2023年公务接待费的全年预算数是多少？", "50.00", "万元"),
        ("2023年机关运行经费是多少？", "108.77", "万元"),
        ("2023年本年支出合计是多少？", "1834.93", "万元"),
        ("2023年基本支出是多少？", "950.55", "万元"),
        ("2023年项目支出是多少？", "884.38", "万元"),
        ("2023年人员经费是多少？", "841.78", "万元"),
        ("2023年公用经费是多少？", "108.77", "万元"),
        ("2023年一般公共服务支出是多少？", "1587.54", "万元"),
        ("2023年住房公积金支出是多少？", "70.54", "万元"),
        ("2023年招商引资科目（2011308）支出是多少？", "881.34", "万元"),
        ("2023年国内公务接待批次是多少？", "213", "个"),
        ("2023年国内公务接待人次是多少？", "3716", "人"),
        ("2023年公务用车保有量是多少辆？", "2", "辆"),
        ("2023年资产总额是多少？", "114.86", "万元"),
        ("2023年固定资产净值是多少？", "101.73", "万元"),
        ("2023年固定资产原值是多少？", "301.69", "万元"),
        ("2023年流动资产是多少？", "13.13", "万元"),
        ("2023年招商工作经费的预算执行率是多少？", "71.72", "%"),
        ("“立项备案招商项目个数”的指标值是多少？", "500", "个"),
        ("项目支出中的差旅费是多少？", "95.70", "万元"),
        ("基本支出中的公务接待费是多少？", "15.00", "万元"),
        ("30217 项目支出是多少", "35.00", "万元"),
    ],
)
def test_sample_lookup(sample_index, question, value, unit):
    res = _run(question, sample_index)
    assert res.status == "ok", res
    assert res.headline.value == Decimal(value) and res.headline.unit == unit


def test_reception_total_names_its_parts(sample_index):
    res = _run("2023年公务接待费是多少？", sample_index)
    assert res.headline.value == Decimal("50.00") and res.headline.fact["table_number"] == "公开10表"
    parts = {p.fact["table_number"]: p.value for p in res.parts}
    assert parts == {"公开06表": Decimal("15.00"), "公开07表": Decimal("35.00")}


@pytest.mark.parametrize(
    ("question", "op", "value", "unit"),
    [
        ("公务接待费占“三公”经费的比重是多少？", "share", "82.75", "%"),
        ("基本支出占本年支出合计的比例是多少？", "share", "51.80", "%"),
        ("人员经费占基本支出的比例是多少？", "share", "88.56", "%"),
        ("公务接待费决算数比年初预算数少多少？", "difference", "6.00", "万元"),
        ("“三公”经费决算数比年初预算数多多少？", "difference", "1.58", "万元"),
        ("社会保障和就业支出与卫生健康支出合计是多少？", "sum", "174.90", "万元"),
        ("“三公”经费的构成是什么？", "breakdown", "60.42", "万元"),
    ],
)
def test_sample_computed(sample_index, question, op, value, unit):
    res = _run(question, sample_index)
    assert res.operation == op and res.status == "ok", res
    assert res.headline.value == Decimal(value) and res.headline.unit == unit


def test_breakdown_children(sample_index):
    res = _run("“三公”经费明细", sample_index)
    assert [(f.label, f.value) for f in res.figures] == [
        ("因公出国（境）费", Decimal("7.58")),
        ("公务用车购置及运行维护费", Decimal("2.84")),
        ("公务接待费", Decimal("50.00")),
    ]


def test_sample_empty_government_fund_table(sample_index):
    res = _run("2023年政府性基金预算财政拨款收入是多少？", sample_index)
    assert res.status == "empty_table"
    assert "无政府性基金" in " ".join(res.notes)


def test_unknown_item(sample_index):
    res = _run("2023年的飞机采购费是多少？", sample_index)
    assert res.status in ("no_item", "not_found")
