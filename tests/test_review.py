"""Review of a report: findings tied to cells, questions in Chinese, exports (md/json/docx)."""

from __future__ import annotations

import dataclasses
import json
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from assistant.errors import UnknownReportError
from assistant.review import Finding, Review, render_json, render_markdown, review_report, write_docx
from tests.conftest import needs_corpus

SAMPLE_ID = "00_yunnan_qujing_touzicujinju_2023_juesuan"


@pytest.fixture(scope="module")
def review(sample_index) -> Review:
    return review_report(sample_index, SAMPLE_ID)


def _by_rule(review: Review, rule: str) -> list[Finding]:
    return [f for f in review.findings if f.rule == rule]


def _figs(f: Finding) -> dict[str, str]:
    return {g.label: g.value for g in f.figures}


def _variant(index, *, facts: pd.DataFrame | None = None, chunks: pd.DataFrame | None = None, reports=None):
    """A copy of an IndexData with other facts / chunks / reports."""
    return dataclasses.replace(
        index,
        facts=index.facts if facts is None else facts,
        chunks=index.chunks if chunks is None else chunks,
        reports=index.reports if reports is None else reports,
        extra=dict(index.extra),
    )


# --------------------------------------------------------------------------- the sample's findings


@pytest.mark.parametrize(
    ("name", "initial", "full", "task_rate"),
    [("招商工作经费", "423.00万元", "303.38万元", "71.72%"), ("驻点招商工作经费", "400.00万元", "317.97万元", "79.49%")],
)
def test_budget_cut_to_actual_with_two_execution_rates(
    review: Review, name: str, initial: str, full: str, task_rate: str
) -> None:
    f = next(f for f in _by_rule(review, "budget_cut_to_actual") if f.title.startswith(name + "："))
    assert f.category == "budget_vs_actual" and f.severity == "high"
    figs = _figs(f)
    assert figs["年初预算数"] == initial
    assert figs["全年预算数"] == full and figs["全年执行数"] == full
    assert figs["预算执行率（重点工作任务表）"] == task_rate
    assert figs["执行率（项目自评表）"] == "100.00%"
    assert task_rate in f.title and "100.00%" in f.title
    tables = {c.table for c in f.cells}
    assert any("项目支出绩效自评表" in t for t in tables) and any("部门整体支出绩效自评表" in t for t in tables)
    assert all(c.fact_id.startswith(SAMPLE_ID + ":") for c in f.cells)
    assert "部分活动未能如期开展" in f.detail
    q = f.questions[0]
    assert q.startswith(f"{name}年初预算{initial.replace('.00万元', '万元')}") and "调减原因是什么" in q and "未开展的活动" in q


def test_three_public_above_initial_budget(review: Review) -> None:
    found = _by_rule(review, "three_public_over_budget")
    total = next(f for f in found if f.title.startswith("“三公”经费"))
    assert _figs(total)["决算数"] == "60.42万元" and _figs(total)["年初预算数"] == "58.84万元"
    assert _figs(total)["超出年初预算"].startswith("1.58万元")
    assert {c.column for c in total.cells} == {"预算数", "全年预算数", "决算统计数"}
    overseas = next(f for f in found if f.title.startswith("因公出国（境）费"))
    assert overseas.severity == "high"
    assert _figs(overseas)["年初预算数"].startswith("（空白")
    assert _figs(overseas)["决算数"] == "7.58万元"
    assert any("7.58" in q for q in overseas.questions)


def test_every_indicator_at_target_and_every_score_full(review: Review) -> None:
    at = _by_rule(review, "all_at_target")
    assert len(at) == 1 and at[0].title == "全部45项绩效指标的实际完成值都恰好等于指标值"
    assert _figs(at[0]) == {"指标数": "45", "恰好等于目标的指标数": "45"}
    assert {"500"} <= {c.value for c in at[0].cells}
    full = _by_rule(review, "all_full_scores")
    assert len(full) == 1 and full[0].title.startswith("全部34项打分指标均得满分")


def test_qualitative_targets_with_percent_unit(review: Review) -> None:
    (f,) = _by_rule(review, "qualitative_pct_target")
    assert "开展" in f.detail and "12月30日前" in f.detail and "单位%" in f.detail
    assert f.title.endswith("并按数值打满分")


def test_misplaced_total_and_code_typo_are_data_quality(review: Review) -> None:
    (moved,) = _by_rule(review, "misplaced_value")
    assert moved.category == "data_quality"
    assert "公用经费合计108.77" in moved.title and "30704" in moved.title
    assert moved.cells[0].table.startswith("公开06表") and moved.cells[0].value == "108.77"
    (typo,) = _by_rule(review, "economic_code_typo")
    assert typo.category == "data_quality" and typo.cells[0].table.startswith("公开07表")
    assert _figs(typo) == {"印刷编码": "20921", "应为": "30921"}
    assert "文物和陈列品购置" in typo.title


CODE_NOTE = "公开07表: code 20921 (文物和陈列品购置) is not an economic classification code; probably 30921"


@pytest.mark.parametrize(
    ("note", "page", "figures", "detail"),
    [
        (CODE_NOTE, None, {"印刷编码": "20921", "应为": "30921"}, "20921印在309类科目之间，应为30921。"),
        (
            CODE_NOTE.replace("(文物和陈列品购置) is", "(文物和陈列品购置) on page 12 is"),
            12,
            {"印刷编码": "20921", "应为": "30921"},
            "应为30921",
        ),
        (CODE_NOTE.removesuffix("; probably 30921"), None, {"印刷编码": "20921"}, "20921的前三位209不在其中"),
    ],
)
def test_code_typo_comes_from_the_ingestion_notes(sample_index, note, page, figures, detail) -> None:
    """A code row without an amount holds no fact: the finding is built from ``ReportMeta.problems``."""
    others = [p for p in sample_index.reports[0].problems if "code 20921" not in p]
    meta = dataclasses.replace(sample_index.reports[0], problems=[*others, note])
    (typo,) = _by_rule(review_report(_variant(sample_index, reports=[meta]), SAMPLE_ID), "economic_code_typo")
    assert _figs(typo) == figures and detail in typo.detail
    (cell,) = typo.cells
    assert (cell.table, cell.row, cell.column, cell.page) == (
        "公开07表 一般公共预算财政拨款项目支出决算表",
        "20921 文物和陈列品购置",
        "科目编码",
        page,
    )


def test_without_notes_no_code_typo_and_no_printed_row(sample_index) -> None:
    """Nothing is read from the source files: without ingestion's notes the review knows no more than the facts."""
    meta = dataclasses.replace(sample_index.reports[0], problems=[])
    rv = review_report(_variant(sample_index, reports=[meta]), SAMPLE_ID)
    assert not _by_rule(rv, "economic_code_typo")
    (moved,) = _by_rule(rv, "misplaced_value")
    assert moved.title == "公开06表：公用经费合计108.77印在了一行没有科目编码和名称的位置"


def test_overseas_spending_without_delegation(review: Review) -> None:
    (f,) = _by_rule(review, "overseas_without_delegation")
    assert _figs(f)["团组数"] == "0" and _figs(f)["因公出国（境）费"] == "7.58万元"


def test_sample_checks_pass_and_no_false_narrative_findings(review: Review) -> None:
    assert review.checks_run > 0 and review.checks_passed == review.checks_run
    assert not _by_rule(review, "identity_check")
    # 收入合计1834.93万元, 基本支出950.55万元 … in the narrative all agree with the tables
    assert not _by_rule(review, "narrative_vs_table")
    assert not review.notes


def test_findings_sorted_and_numbered(review: Review) -> None:
    sev = [("high", "medium", "low").index(f.severity) for f in review.findings]
    assert sev == sorted(sev)
    assert [f.id for f in review.findings] == [f"F{i:02d}" for i in range(1, len(review.findings) + 1)]
    assert all(f.questions and f.cells for f in review.findings)


# --------------------------------------------------------------------------- rules on altered input


def test_every_failed_identity_check_is_listed(sample_index) -> None:
    from assistant.checks import run_checks

    facts = sample_index.facts.copy()
    hit = (facts.table_number == "公开10表") & (facts.row_label == "(一)支出合计") & (facts.column == "决算统计数")
    assert hit.sum() == 1
    facts.loc[hit, "value"] = Decimal("60.52")
    facts.loc[hit, "value_wan"] = Decimal("60.52")
    facts.loc[hit, "raw"] = "60.52"
    failures = run_checks(facts, sample_index.reports[0]).failures
    assert failures
    rv = review_report(_variant(sample_index, facts=facts), SAMPLE_ID)
    listed = _by_rule(rv, "identity_check")
    cited = {c.fact_id for f in listed for c in f.cells}
    assert {f.total_cell.fact_id for f in failures if f.total_cell} <= cited
    assert any("60.52 ≠ 60.42" in f.title for f in listed)
    assert all(f.category == "consistency" and f.questions for f in listed)
    assert rv.checks_passed < rv.checks_run


@pytest.mark.parametrize(
    ("sentence", "concept", "table_value"),
    [
        ("2023年机关运行经费支出184.65万元，主要用于办公。", "机关运行经费", "108.77万元"),
        ("2023年“三公”经费预算数为37.91万元。", "“三公”经费", "58.84万元"),
        ("2023年度基本支出950.56万元，占总支出的51.80%。", "基本支出", "950.55万元"),
    ],
)
def test_narrative_amounts_checked_against_tables(sample_index, sentence: str, concept: str, table_value: str) -> None:
    extra = pd.DataFrame(
        [{"chunk_id": f"{SAMPLE_ID}:c999", "report_id": SAMPLE_ID, "section": "测试", "page": None, "text": sentence}]
    )
    rv = review_report(_variant(sample_index, chunks=pd.concat([sample_index.chunks, extra], ignore_index=True)), SAMPLE_ID)
    (f,) = _by_rule(rv, "narrative_vs_table")
    assert f.title.startswith(f"正文称{concept}")
    assert table_value in [g.value for g in f.figures]
    assert f.cells and f.questions


def test_narrative_skips_last_year_and_deltas(sample_index) -> None:
    text = "机关运行经费比上年增加12.00万元。2022年机关运行经费支出99.00万元。机关运行经费支出108.77万元。"
    extra = pd.DataFrame(
        [{"chunk_id": f"{SAMPLE_ID}:c999", "report_id": SAMPLE_ID, "section": "测试", "page": None, "text": text}]
    )
    rv = review_report(_variant(sample_index, chunks=pd.concat([sample_index.chunks, extra], ignore_index=True)), SAMPLE_ID)
    assert not _by_rule(rv, "narrative_vs_table")


def test_year_over_year_quotes_the_reason(sample_index) -> None:
    """The same department's earlier report: largest changes, with the reason the report gives."""
    prev_id = "99_yunnan_qujing_touzicujinju_2022_juesuan"
    old = sample_index.facts.copy()
    old["report_id"] = prev_id
    old["year"] = 2022
    old["fact_id"] = old.fact_id.str.replace(SAMPLE_ID, prev_id, regex=False)
    is_201 = (old.table_number == "公开03表") & (old.code == "201") & (old.column == "本年支出合计")
    old.loc[is_201, "value"] = Decimal("1200.00")
    old.loc[is_201, "value_wan"] = Decimal("1200.00")
    meta = dataclasses.replace(sample_index.reports[0], report_id=prev_id, year=2022, sha256=["0" * 64], sources=["none.txt"])
    reason = "一般公共服务支出较上年增加387.54万元，主要原因是招商活动增加。"
    chunks = pd.concat(
        [
            sample_index.chunks,
            pd.DataFrame(
                [{"chunk_id": f"{SAMPLE_ID}:c998", "report_id": SAMPLE_ID, "section": "说明", "page": None, "text": reason}]
            ),
        ],
        ignore_index=True,
    )
    idx = _variant(
        sample_index,
        facts=pd.concat([sample_index.facts, old], ignore_index=True),
        chunks=chunks,
        reports=[*sample_index.reports, meta],
    )
    rv = review_report(idx, SAMPLE_ID)
    assert prev_id in rv.compared_with
    (f,) = _by_rule(rv, "year_over_year")
    assert f.title.startswith("201 一般公共服务支出：2022年1200万元 → 2023年1587.54万元")
    assert "主要原因是招商活动增加" in f.detail and "招商活动增加" in f.questions[0]
    assert {c.fact_id.split(":")[0] for c in f.cells} == {SAMPLE_ID, prev_id}


# --------------------------------------------------------------------------- determinism and exports


def test_same_input_same_output(sample_index, review: Review) -> None:
    md, js = render_markdown(review), render_json(review)
    shuffled = sample_index.facts.sample(frac=1.0, random_state=7).reset_index(drop=True)
    again = review_report(_variant(sample_index, facts=shuffled), SAMPLE_ID)
    assert render_markdown(again) == md
    assert render_json(again) == js
    obj = json.loads(js)
    assert obj["report_id"] == SAMPLE_ID and len(obj["findings"]) == len(review.findings)
    assert set(obj["findings"][0]) >= {"id", "category", "severity", "title", "figures", "cells", "questions"}


def test_markdown_has_table_and_questions(review: Review) -> None:
    md = render_markdown(review)
    assert "| 编号 | 类别 | 严重程度 | 发现 | 主要数字 |" in md
    assert "## 建议提问汇总" in md
    for f in review.findings:
        assert f"| {f.id} |" in md
        for q in f.questions:
            assert q in md


def test_docx_opens_with_findings_table(review: Review, tmp_path: Path) -> None:
    from docx import Document

    path = write_docx(review, tmp_path / "review.docx")
    doc = Document(str(path))
    table = doc.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["编号", "类别", "严重程度", "发现", "建议提问"]
    assert len(table.rows) == len(review.findings) + 1
    assert table.rows[1].cells[0].text == "F01"
    text = "\n".join(p.text for p in doc.paragraphs)
    assert review.findings[0].questions[0] in text


def test_docx_is_deterministic(review: Review, tmp_path: Path) -> None:
    from docx import Document

    a = write_docx(review, tmp_path / "a.docx").read_bytes()
    time.sleep(2.1)  # zip members carry a 2-second clock
    assert write_docx(review, tmp_path / "b.docx").read_bytes() == a
    props = Document(str(tmp_path / "b.docx")).core_properties
    assert props.created == props.modified and props.created.year == 1980
    assert props.title == "审查意见：曲靖市投资促进局 2023年决算"


@pytest.mark.parametrize("fmt", ["md", "json", "docx"])
def test_cli_review(sample_index, tmp_path: Path, capsys, fmt: str) -> None:
    from assistant.cli import main

    index_dir = str(Path(sample_index.path).parent)
    out = tmp_path / f"r.{fmt}"
    args = ["review", "投资促进局", "--index", index_dir, "--format", fmt] + (["--out", str(out)] if fmt == "docx" else [])
    assert main(args) == 0
    if fmt == "docx":
        assert out.stat().st_size > 0
    elif fmt == "json":
        assert json.loads(capsys.readouterr().out)["department"] == "曲靖市投资促进局"
    else:
        assert capsys.readouterr().out.startswith("# 审查意见：曲靖市投资促进局 2023年决算")


def test_unknown_report(sample_index) -> None:
    with pytest.raises(UnknownReportError):
        review_report(sample_index, "no-such-report")


# --------------------------------------------------------------------------- the corpus


@needs_corpus
def test_every_corpus_report_reviews(corpus_index) -> None:
    counts = {}
    for meta in corpus_index.reports:
        rv = review_report(corpus_index, meta.report_id)
        assert not [n for n in rv.notes if "出错" in n], (meta.report_id, rv.notes)
        assert render_markdown(review_report(corpus_index, meta.report_id)) == render_markdown(rv)
        counts[meta.report_id] = len(rv.findings)
    assert len(counts) == len(corpus_index.reports) >= 15


@needs_corpus
def test_corpus_year_over_year_and_narrative(corpus_index) -> None:
    rv = review_report(corpus_index, "05_shanghai_putuo_wanlijiedao_2025_yusuan")
    assert "04_shanghai_putuo_wanlijiedao_2024_yusuan" in rv.compared_with
    assert _by_rule(rv, "year_over_year")
    # the published narrative says 财政拨款收入支出总计0.3万元 while the table says 2,961.68
    fin = review_report(corpus_index, "01_shanghai_putuo_caizhengju_2024_juesuan")
    assert any(f.title.startswith("正文称财政拨款收支总计0.3万元") for f in _by_rule(fin, "narrative_vs_table"))


@needs_corpus
def test_corpus_catch_all_item(corpus_index) -> None:
    rv = review_report(corpus_index, "06_shanghai_putuo_shangwuwei_2025_yusuan")
    (f,) = [f for f in _by_rule(rv, "catch_all_item") if f.title.startswith("2150899")]
    assert f.severity == "medium" and "其他支持中小企业发展和管理支出" in f.title


def test_review_tab_downloads_md_json_docx(sample_index) -> None:
    """The Review tab's files are the CLI's three formats (gradio-free part in assistant.appstate)."""
    from docx import Document

    from assistant.appstate import AppState, review_downloads

    state = AppState(Path(sample_index.path).parent, index=sample_index)
    md, files = review_downloads(state, SAMPLE_ID)
    assert md.startswith("# 审查意见：曲靖市投资促进局 2023年决算")
    paths = [Path(f) for f in files]
    assert [p.suffix for p in paths] == [".md", ".json", ".docx"]
    assert paths[0].read_text(encoding="utf-8") == md
    assert json.loads(paths[1].read_text(encoding="utf-8"))["report_id"] == SAMPLE_ID
    assert Document(str(paths[2])).tables[0].rows[0].cells[0].text == "编号"
    assert review_downloads(state, None) == ("", [])
    bad_md, bad_files = review_downloads(state, "no-such-report")
    assert bad_md.startswith("✗") and bad_files == []
