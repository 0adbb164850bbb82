"""Identity checks: the sample passes every one; broken identities are reported with both figures and cells."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assistant.checks import run_checks
from assistant.ingest.meta import detect_meta
from assistant.ingest.tables import interpret_tables
from assistant.ingest.text import read_text
from assistant.models import Fact, ReportMeta
from assistant.store import facts_to_frame
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample_facts():
    layout = read_text(SAMPLE)
    meta = detect_meta(layout, [SAMPLE], report_id=SAMPLE.stem, sha256=["0" * 64])
    _, facts, _ = interpret_tables(layout, meta)
    return meta, facts


def test_sample_passes_every_identity(sample_facts):
    meta, facts = sample_facts
    res = run_checks(facts_to_frame(facts), meta)
    assert res.failures == []
    assert res.run == res.passed and res.run >= 200
    for identity in (
        "类 = Σ款",
        "款 = Σ项",
        "合计 = Σ类",
        "合计 = 基本 + 项目",
        "基本 = 人员 + 公用",
        "三公 total = Σ parts",
        "总计 income = 总计 spending",
        "机关运行经费 = 公用经费合计",
        "资产总额 = Σ parts (净值)",
        "summary 本年支出合计 = spending table 合计",
    ):
        assert res.kinds.get(identity, [0])[0] >= 1, identity


def test_a_changed_figure_is_reported_with_both_figures_and_cells(sample_facts):
    meta, facts = sample_facts
    broken = []
    for f in facts:
        if f.table_number == "公开05表" and f.code == "2011301" and f.column == "本年支出 › 基本支出 › 人员经费":
            f = Fact(**{**f.__dict__, "value": Decimal("600.00"), "value_wan": Decimal("600.00"), "raw": "600.00"})
        broken.append(f)
    res = run_checks(facts_to_frame(broken), meta)
    assert res.failures and res.passed < res.run
    text = "\n".join(x.describe() for x in res.failures)
    assert "706.20" in text and "600.00" in text and "105.20" in text  # 基本 706.20 ≠ 600.00 + 105.20
    assert "公开05表" in text and "行政运行" in text and "本年支出 › 基本支出 › 人员经费" in text
    js = res.to_json()
    assert set(js) >= {"report", "department", "year", "checks", "passed", "failures"}
    assert js["checks"] == res.run and js["passed"] == res.passed
    assert js["failures"][0]["stated"] and js["failures"][0]["parts"]


def _fact(table: str, row: str, column: str, value: str, *, code: str | None = None, unit: str = "万元", i: int = 0) -> Fact:
    v = Decimal(value)
    return Fact(
        fact_id=f"r:t1:r{i}:c{column}",
        report_id="r",
        department="d",
        year=2024,
        kind="预算",
        scope="部门",
        table_id="t1",
        table_number="",
        table_title=table,
        table_kind="expenditure_by_function",
        page=1,
        row_index=i,
        code=code,
        row_label=row,
        column=column,
        value=v,
        unit=unit,
        value_wan=v if unit == "万元" else v / 10000,
        raw=value,
    )


META = ReportMeta(report_id="r", department="d", year=2024, kind="预算")


def test_rounding_of_wan_figures_passes_but_is_listed():
    facts = [
        _fact("支出预算表", "一般公共服务支出", "合计", "2106.66", code="201", i=0),
        _fact("支出预算表", "财政事务", "合计", "1511.89", code="20106", i=1),
        _fact("支出预算表", "人大事务", "合计", "594.78", code="20101", i=2),
    ]
    res = run_checks(facts_to_frame(facts), META)
    assert res.run == 1 and res.passed == 1 and not res.failures
    assert len(res.rounding) == 1 and "rounding" in res.rounding[0].describe()


def test_yuan_figures_are_exact():
    facts = [
        _fact("支出预算表", "城乡社区支出", "合计", "154369326", code="212", unit="元", i=0),
        _fact("支出预算表", "城乡社区管理事务", "合计", "94995790", code="21201", unit="元", i=1),
        _fact("支出预算表", "其他城乡社区支出", "合计", "59373537", code="21299", unit="元", i=2),
    ]
    res = run_checks(facts_to_frame(facts), META)
    assert (res.run, res.passed) == (1, 0)
    assert "154369326" in res.failures[0].describe() and "154369327" in res.failures[0].describe()


def test_checks_without_inputs_are_not_run():
    facts = [_fact("支出预算表", "行政运行", "合计", "10.00", code="2011301")]
    res = run_checks(facts_to_frame(facts), META)
    assert (res.run, res.passed) == (0, 0)
    assert run_checks(facts_to_frame([]), META).run == 0
