"""Excel, Word and HTML reports: written by the tests from the text sample's tables (merged headers
included), they ingest to the same facts as the sample; citations name the sheet and cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import BadReportError
from assistant.ingest import ingest_paths, parse_report
from assistant.ingest.grids import SpanCell, SpanGrid, expand
from assistant.ingest.normalize import normalize_text
from assistant.ingest.text import read_text
from assistant.ingest.xlsx import col_letter, format_number
from tests.conftest import SAMPLE
from tests.format_fixtures import sample_spec, write_docx, write_html, write_xlsx


def _key(f):
    return (f.table_number, f.table_title, f.code, f.row_label, f.column, f.raw.replace(",", ""), f.unit, f.status)


@pytest.fixture(scope="module")
def sample_report():
    return parse_report([SAMPLE])


@pytest.fixture(scope="module")
def published(sample_report, tmp_path_factory):
    """The sample as a department would publish it in each format (renamed, like a file nobody here has seen)."""
    cover, specs, closing = sample_spec(read_text(SAMPLE).blocks, sample_report.tables, sample_report.facts)
    assert any(c is not None and (c.colspan > 1 or c.rowspan > 1) for s in specs for r in s.rows for c in r)
    d = tmp_path_factory.mktemp("formats")
    stem = "bureau_x_2023_juesuan"
    return {
        "xlsx": write_xlsx(d / f"{stem}.xlsx", cover, specs),
        "docx": write_docx(d / f"{stem}.docx", cover, specs, closing),
        "html": write_html(d / f"{stem}.html", cover, specs, closing),
    }


@pytest.mark.parametrize("fmt", ["xlsx", "docx", "html"])
def test_format_ingests_to_the_sample_facts(fmt, published, sample_report):
    rep = parse_report([published[fmt]])
    assert (rep.meta.department, rep.meta.year, rep.meta.kind) == (
        sample_report.meta.department,
        sample_report.meta.year,
        sample_report.meta.kind,
    )
    want = {_key(f) for f in sample_report.facts}
    got = {_key(f) for f in rep.facts}
    assert got == want, (sorted(want - got, key=str)[:5], sorted(got - want, key=str)[:5])
    assert [(t.number, t.title, t.table_kind, t.empty) for t in rep.tables] == [
        (t.number, t.title, t.table_kind, t.empty) for t in sample_report.tables
    ]
    reception = [f for f in rep.facts if f.table_number == "公开10表" and "公务接待费" in f.row_label and "决算" in f.column]
    assert reception and reception[0].raw == "50.00"
    assert all(f.ref for f in rep.facts if f.status == "ok")


def test_excel_citation_names_sheet_and_cell(published):
    rep = parse_report([published["xlsx"]])
    total = next(f for f in rep.facts if f.table_number == "公开03表" and f.row_label == "合计" and f.column == "本年支出合计")
    assert total.ref.startswith("公开03表!") and total.ref.split("!")[1][0].isalpha()
    import openpyxl

    ws = openpyxl.load_workbook(published["xlsx"])["公开03表"]
    assert f"{ws[total.ref.split('!')[1]].value:,.2f}" == total.raw


def test_word_headings_become_sections(published):
    rep = parse_report([published["docx"]])
    assert any("部门基本情况" in c.section for c in rep.chunks)


@pytest.fixture(scope="module")
def xlsx_index(published, tmp_path_factory):
    from assistant.store import load_index
    from tests.test_store import CountingEmbedder  # hash vectors: this index is for figures, not retrieval

    d = tmp_path_factory.mktemp("xlsx_index")
    res = ingest_paths([published["xlsx"]], d, show_progress=False, embedder=CountingEmbedder())
    assert res.ok, res.failures
    assert res.reports[0].checks_run > 0 and res.reports[0].facts == 725
    return load_index(d)


def test_answer_cites_the_sheet_cell(xlsx_index):
    from assistant.ask import ask

    ans = ask("2023年公务接待费决算数是多少？", index=xlsx_index)
    assert "50" in ans.answer
    assert any(c.provenance and "公开10表!" in c.provenance for c in ans.citations), ans.citations
    assert "provenance" in ans.to_json()["citations"][0]


@pytest.mark.parametrize(
    "raw,want",
    [
        ("１２３", "123"),
        ("１，８３４．９３", "1,834.93"),
        ("５０％", "50%"),
        ("－３．５", "-3.5"),
        ("公务接待费（万元），合计", "公务接待费（万元），合计"),
        ("ＡＢＣ\u3000表", "ABC 表"),
        ("１．一般公共预算资金", "1.一般公共预算资金"),
        ("2023年12月。", "2023年12月。"),
    ],
)
def test_full_width_normalized(raw, want):
    assert normalize_text(raw) == want


@pytest.mark.parametrize(
    "value,fmt,want",
    [
        (1834.93, "#,##0.00", "1,834.93"),
        (50, "0.00", "50.00"),
        (12, "General", "12"),
        (0.955, "0.0%", "95.5%"),
        (7.5, "General", "7.5"),
    ],
)
def test_excel_number_formats(value, fmt, want):
    assert format_number(value, fmt) == want


def test_col_letters():
    assert [col_letter(n) for n in (1, 4, 26, 27, 28)] == ["A", "D", "Z", "AA", "AB"]


def test_spans_expand_like_html():
    g = SpanGrid(
        rows=[
            [SpanCell("项目", rowspan=2), SpanCell("本年支出", colspan=2)],
            [SpanCell("基本支出"), SpanCell("项目支出")],
            [SpanCell("合计"), SpanCell("950.55"), SpanCell("884.38")],
        ]
    )
    rows = expand(g)
    assert [[c.text for c in r] for r in rows] == [
        ["项目", "本年支出", ""],
        ["", "基本支出", "项目支出"],
        ["合计", "950.55", "884.38"],
    ]
    assert rows[0][0].rowspan == 2 and rows[0][1].colspan == 2


def test_doc_without_converter_names_it(tmp_path, monkeypatch):
    import shutil

    from assistant.ingest import word

    f = tmp_path / "old_2023_juesuan.doc"
    f.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(BadReportError, match="LibreOffice"):
        word.read_word(f)


@pytest.mark.parametrize("suffix", [".xlsx", ".docx"])
def test_corrupt_office_file_is_named(tmp_path, suffix):
    f = tmp_path / f"broken{suffix}"
    f.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BadReportError) as e:
        parse_report([f])
    assert str(f) in str(e.value)


def test_html_layout_table_and_rowspan(tmp_path: Path):
    page = tmp_path / "x_2024_yusuan.html"
    page.write_text(
        "<html><head><meta charset='gb2312'><title>某某局2024年部门预算</title></head><body><table><tr><td>"
        "<h2>部门“三公”经费预算表</h2><p>单位：万元</p>"
        "<table border=1><tr><td rowspan=2>合计</td><td colspan=2>公务用车购置及运行费</td><td rowspan=2>公务接待费</td></tr>"
        "<tr><td>购置费</td><td>运行费</td></tr><tr><td>１２．５０</td><td>0.00</td><td>4.50</td><td>8.00</td></tr></table>"
        "</td></tr></table></body></html>",
        encoding="gb18030",
    )
    from assistant.ingest.webpage import read_html

    lay = read_html(page)
    from assistant.models import RawTable

    t = next(b for b in lay.blocks if isinstance(b, RawTable))
    assert t.title == "部门“三公”经费预算表" and t.unit == "万元"
    assert [c.text for c in t.rows[1]] == ["", "购置费", "运行费", ""]
    assert t.rows[2][0].text == "１２．５０"  # normalized at parse time, kept as read here
    rep = parse_report([page])
    f = next(f for f in rep.facts if f.column == "合计")
    assert f.raw == "12.50" and str(f.value) == "12.50"


def test_source_view_draws_the_sheet_region(xlsx_index):
    from assistant.source import render

    idx = xlsx_index
    f = idx.facts[(idx.facts.table_number == "公开10表") & (idx.facts.status == "ok")].iloc[0]
    pngs = render(idx, str(f["fact_id"]))
    assert pngs and pngs[0][:4] == b"\x89PNG"
