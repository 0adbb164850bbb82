"""Table interpretation: exact facts from the sample and from PDF-like grids (spans, split codes, units)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assistant.ingest.meta import detect_meta
from assistant.ingest.tables import interpret_tables, parse_value
from assistant.ingest.text import read_text
from assistant.models import Fact, Layout, RawCell, RawTable, ReportMeta
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample():
    layout = read_text(SAMPLE)
    meta = detect_meta(layout, [SAMPLE], report_id=SAMPLE.stem, sha256=["0" * 64])
    tables, facts, problems = interpret_tables(layout, meta)
    return tables, facts, problems


def _one(facts: list[Fact], *, table: str, row: str | None = None, code: str | None = None, column: str | None = None) -> Fact:
    hits = [
        f
        for f in facts
        if (f.table_number == table or f.table_title == table)
        and (row is None or f.row_label == row)
        and (code is None or f.code == code)
        and (column is None or f.column == column)
    ]
    assert len(hits) == 1, [(f.row_label, f.code, f.column, f.raw) for f in hits]
    return hits[0]


# --------------------------------------------------------------------------- the sample


@pytest.mark.parametrize(
    ("table", "row", "code", "column", "value", "unit"),
    [
        ("公开10表", "3.公务接待费", None, "决算统计数", "50.00", "万元"),
        ("公开10表", "3.公务接待费", None, "预算数", "56.00", "万元"),
        ("公开10表", "(一)支出合计", None, "决算统计数", "60.42", "万元"),
        ("公开10表", "5.国内公务接待批次（个）", None, "决算统计数", "213", "个"),
        ("公开10表", "4.公务用车保有量（辆）", None, "决算统计数", "2", "辆"),
        ("公开10表", "6.国内公务接待人次（人）", None, "决算统计数", "3716", "人"),
        ("公开10表", "二、机关运行经费", None, "决算统计数", "108.77", "万元"),
        ("公开06表", None, "30217", "公用经费 › 金额", "15.00", "万元"),
        ("公开07表", None, "30217", "项目经费 › 金额", "35.00", "万元"),
        ("公开05表", None, "2011301", "本年支出 › 基本支出 › 人员经费", "601.00", "万元"),
        ("公开05表", None, "2011301", "本年支出 › 基本支出 › 公用经费", "105.20", "万元"),
        ("公开05表", "合计", None, "本年支出 › 基本支出", "950.55", "万元"),
        ("公开12表", "合计", None, "固定资产 › 车辆 › 原值", "76.02", "万元"),
        ("公开12表", "合计", None, "固定资产 › 车辆 › 净值", "0.00", "万元"),
        ("公开12表", "合计", None, "资产总额", "114.86", "万元"),
        ("公开03表", "合计", None, "本年支出合计", "1834.93", "万元"),
        ("公开03表", "合计", None, "基本支出", "950.55", "万元"),
        ("公开03表", "合计", None, "项目支出", "884.38", "万元"),
        ("公开01表", "本年收入合计", None, "收入 › 金额", "1834.93", "万元"),
        ("公开01表", "八、社会保障和就业支出", None, "支出 › 金额", "121.24", "万元"),
        ("公开04表", "本年支出合计", None, "支出 › 一般公共预算财政拨款", "1834.93", "万元"),
    ],
)
def test_sample_facts(sample, table, row, code, column, value, unit):
    _, facts, _ = sample
    f = _one(facts, table=table, row=row, code=code, column=column)
    assert f.value == Decimal(value) and str(f.value) == value  # exact, with the printed scale
    assert f.unit == unit
    assert f.status == "ok"
    if unit == "万元":
        assert f.value_wan == Decimal(value)
    else:
        assert f.value_wan is None


def test_thousands_separator_and_plain_numbers_read_alike(sample):
    _, facts, _ = sample
    a = _one(facts, table="公开04表", row="本年支出合计", column="支出 › 合计")
    b = _one(facts, table="公开04表", row="本年支出合计", column="支出 › 一般公共预算财政拨款")
    assert (a.raw, b.raw) == ("1,834.93", "1834.93")
    assert a.value == b.value == Decimal("1834.93")


def test_missing_names_are_filled_from_another_table(sample):
    _, facts, _ = sample
    f = _one(facts, table="公开02表", code="2080505", column="本年收入合计")
    assert f.row_label == "机关事业单位基本养老保险缴费支出"
    assert f.value == Decimal("81.69")
    total = _one(facts, table="公开02表", row="合计", column="本年收入合计")
    assert total.value == Decimal("1834.93")


def test_codes_are_whole_digits_and_the_typo_is_reported(sample):
    _, facts, problems = sample
    codes = {f.code for f in facts if f.code}
    assert all(c.isdigit() and len(c) in (3, 5, 7) for c in codes)
    assert {"2011301", "30217", "301", "30101"} <= codes
    # 20921 (for 30921) in 公开07表: a blank row, so no fact, but reported as printed
    assert any("20921" in p and "30921" in p for p in problems)


def test_dash_cells_are_not_applicable(sample):
    _, facts, _ = sample
    f = _one(facts, table="公开10表", row="(1)国内接待费", column="预算数")
    assert (f.status, f.value, f.raw) == ("na", None, "—")


def test_misplaced_public_expense_total_is_kept_where_printed_and_attached(sample):
    _, facts, problems = sample
    t06 = [f for f in facts if f.table_number == "公开06表" and f.raw == "108.77"]
    as_printed = [f for f in t06 if not f.row_label and not f.code]
    attached = [f for f in t06 if f.row_label == "公用经费合计"]
    assert len(as_printed) == 1 and len(attached) == 1
    assert attached[0].value == Decimal("108.77")
    assert any("108.77" in p and "公用经费合计" in p for p in problems)
    assert _one(facts, table="公开06表", row="人员经费合计").value == Decimal("841.78")


def test_side_by_side_groups_become_separate_rows(sample):
    _, facts, _ = sample
    t07 = [f for f in facts if f.table_number == "公开07表"]
    by_code = {f.code: f for f in t07}
    assert by_code["30211"].value == Decimal("95.70") and by_code["30211"].row_label == "差旅费"
    assert by_code["31002"].value == Decimal("12.17") and by_code["31002"].row_label == "办公设备购置"
    assert by_code["303"].value == Decimal("1.09")


def test_empty_table_is_recorded_with_its_note(sample):
    tables, facts, _ = sample
    t08 = next(t for t in tables if t.number == "公开08表")
    assert t08.empty and t08.facts == 0
    assert "为空表" in t08.note
    assert not [f for f in facts if f.table_number == "公开08表"]


def test_table_kinds_from_titles(sample):
    tables, _, _ = sample
    kinds = {t.number: t.table_kind for t in tables if t.number}
    assert kinds["公开01表"] == "income_expenditure_summary"
    assert kinds["公开03表"] == "expenditure_by_function"
    assert kinds["公开06表"] == "basic_expenditure_by_economic_class"
    assert kinds["公开10表"] == kinds["公开11表"] == "three_public_expenses"
    assert kinds["公开12表"] == "assets"
    assert sum(t.table_kind == "project_performance" for t in tables) == 6


def test_performance_indicators_with_units(sample):
    _, facts, _ = sample
    perf = [f for f in facts if f.table_kind == "performance_indicators"]
    target = next(f for f in perf if f.row_label == "完成固定资产投资金额" and f.column == "指标值")
    assert (target.value, target.unit, target.value_wan) == (Decimal("320"), "亿元", Decimal("3200000"))
    done = next(f for f in perf if f.row_label == "立项备案招商项目个数" and f.column == "实际完成值")
    assert (done.value, done.unit) == (Decimal("500"), "个")
    text = next(f for f in perf if f.row_label == "开展招商政策推广宣传" and f.column == "指标值")
    assert (text.status, text.raw) == ("text", "开展")
    rate = next(f for f in perf if f.row_label == "招商工作经费" and f.column == "预算执行率")
    assert (rate.value, rate.unit) == (Decimal("71.72"), "%")
    approved = next(f for f in perf if f.row_label == "招商工作经费" and f.column == "批复金额 › 总额")
    assert (approved.value, approved.unit) == (Decimal("423.00"), "万元")


def test_project_self_evaluation_carries_the_project_name(sample):
    _, facts, _ = sample
    proj = [f for f in facts if f.table_kind == "project_performance"]
    full_year = [f for f in proj if f.row_label == "招商工作经费" and f.column == "全年预算数"]
    assert len(full_year) == 1 and full_year[0].value == Decimal("303.38")
    initial = next(f for f in proj if f.row_label == "招商工作经费" and f.column == "年初预算数")
    assert initial.value == Decimal("423.00") and initial.unit == "万元"
    score = next(f for f in proj if f.row_label == "驻点招商工作经费 › 拜访目标企业数" and f.column == "得分")
    assert (score.value, score.unit) == (Decimal("15.00"), "分")
    assert any(f.row_label.startswith("遗属生活补助资金") for f in proj)


# --------------------------------------------------------------------------- PDF-like grids


def _meta() -> ReportMeta:
    return ReportMeta(report_id="r", department="某局", year=2024, kind="决算")


def _c(text: str, colspan: int = 1, rowspan: int = 1, readable: bool = True) -> RawCell:
    return RawCell(text, page=3, bbox=(0.0, 0.0, 1.0, 1.0), colspan=colspan, rowspan=rowspan, readable=readable)


def _run(*tables: RawTable):
    return interpret_tables(Layout(blocks=list(tables), sources=["x.pdf"]), _meta())


def test_split_codes_merged_headers_and_yuan():
    e = _c("")
    t = RawTable(
        title="2024年部门支出预算总表",
        unit="元",
        rows=[
            [_c("项目", 4), e, e, e, _c("支出预算", 3), e, e],
            [
                _c("功能分类科目编码", 3),
                e,
                e,
                _c("功能分类科目名称", rowspan=2),
                _c("合计", rowspan=2),
                _c("基本支出", rowspan=2),
                _c("项目支出", rowspan=2),
            ],
            [_c("类"), _c("款"), _c("项"), e, e, e, e],
            [_c("201"), e, e, _c("一般公共服务支出"), _c("2,932,700"), _c("0"), _c("2,932,700")],
            [_c("201"), _c("13"), e, _c("商贸事务"), _c("2,932,700"), _c("0"), _c("2,932,700")],
            [_c("201"), _c("13"), _c("01"), _c("行政运行"), _c("2,932,700"), _c("0"), _c("2,932,700")],
            [_c("301"), _c("2"), e, _c("津贴补贴"), _c("15,000"), _c("15,000"), _c("—")],
            [_c("合计", 4), e, e, e, _c("2,947,700"), _c("15,000"), _c("2,932,700")],
        ],
    )
    tables, facts, _ = _run(t)
    assert tables[0].table_kind == "expenditure_by_function"
    f = next(x for x in facts if x.code == "2011301" and x.column == "支出预算 › 项目支出")
    assert (f.value, f.unit, f.value_wan, f.row_label) == (Decimal("2932700"), "元", Decimal("293.27"), "行政运行")
    assert {x.code for x in facts if x.code} == {"201", "20113", "2011301", "30102"}  # 301 | 2 → 30102
    total = next(x for x in facts if x.row_label == "合计" and x.column == "支出预算 › 合计")
    assert total.value == Decimal("2947700")
    na = next(x for x in facts if x.code == "30102" and x.column == "支出预算 › 项目支出")
    assert na.status == "na"


def test_budget_only_three_public_table_is_never_an_actual():
    e = _c("")
    t = RawTable(
        title="财政拨款“三公”经费支出决算表",
        unit="万元",
        rows=[
            [_c("财政拨款“三公”经费", 4), e, e, e],
            [_c("合计", 2), e, _c("公务接待费", 2), e],
            [_c("预算数"), _c("决算数"), _c("预算数"), _c("决算数")],
            [_c("0.95"), e, _c("0.95"), e],
        ],
    )
    _, facts, _ = _run(t)
    assert [(f.column, str(f.value)) for f in facts] == [
        ("财政拨款“三公”经费 › 合计 › 预算数", "0.95"),
        ("财政拨款“三公”经费 › 公务接待费 › 预算数", "0.95"),
    ]


def test_unreadable_cell_is_reported_not_guessed():
    t = RawTable(title="支出决算表", unit="万元", rows=[[_c("项目"), _c("金额")], [_c("合计"), _c("1?.3", readable=False)]])
    _, facts, problems = _run(t)
    assert facts[0].status == "unreadable" and facts[0].value is None
    assert any("unreadable" in p for p in problems)


def test_empty_table_with_note():
    t = RawTable(
        title="政府性基金预算财政拨款收入支出决算表",
        unit="万元",
        rows=[[_c("项目"), _c("本年支出")], [_c("合计"), _c("")]],
        notes=["注：本单位无政府性基金预算财政拨款收入，故本表无数据。"],
    )
    tables, facts, _ = _run(t)
    assert tables[0].empty and "无数据" in tables[0].note and not facts


@pytest.mark.parametrize(
    ("raw", "value", "status"),
    [
        ("1,834.93", Decimal("1834.93"), "ok"),
        ("1834.93", Decimal("1834.93"), "ok"),
        ("156,211,123", Decimal("156211123"), "ok"),
        ("0.00", Decimal("0.00"), "ok"),
        ("-12.50", Decimal("-12.50"), "ok"),
        ("71.72%", Decimal("71.72"), "ok"),
        ("—", None, "na"),
        ("--", None, "na"),
        ("开展", None, "text"),
        ("", None, "empty"),
    ],
)
def test_parse_value(raw, value, status):
    v, st, _ = parse_value(raw)
    assert (v, st) == (value, status)
