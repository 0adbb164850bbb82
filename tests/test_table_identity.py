"""Table identity across pages, on PDFs made here with PyMuPDF: a title and unit printed at the previous
page's foot, a table continued on the next page without its header, a row label broken over the break."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from assistant.ingest import parse_report
from assistant.ingest.pdf import read_pdf
from assistant.models import RawTable

FONT = "china-s"


def _text(page: pymupdf.Page, x: float, y: float, s: str, size: float = 10.5) -> None:
    page.insert_text((x, y), s, fontname=FONT, fontsize=size)


def _grid(page: pymupdf.Page, top: float, rows: list[tuple[str, str]], xs: tuple[float, float, float] = (60, 360, 520)) -> None:
    h = 22.0
    for i in range(len(rows) + 1):
        page.draw_line((xs[0], top + i * h), (xs[2], top + i * h), width=0.6)
    for x in xs:
        page.draw_line((x, top), (x, top + len(rows) * h), width=0.6)
    for i, (a, b) in enumerate(rows):
        y = top + i * h + 15
        _text(page, xs[0] + 4, y, a)
        if b:
            _text(page, xs[1] + 8, y, b)


def _make(path: Path) -> None:
    doc = pymupdf.open()
    p1 = doc.new_page()
    _text(p1, 150, 120, "黔东南州民族医院2024年度单位预算", 18)
    for i in range(12):
        _text(p1, 60, 200 + 20 * i, f"第{i + 1}项工作按计划推进，预算安排与上年相比保持稳定。")
    _text(p1, 220, 760, "收入支出预算总表", 15)  # the title at the foot of page 1 …
    _text(p1, 440, 790, "单位：万元")
    p2 = doc.new_page()  # … the grid on page 2
    _grid(p2, 80, [("项目", "金额"), ("合计", "150.00"), ("一、一般公共服务支出", "100.00"), ("八、社会保障和就", "40.00")])
    p3 = doc.new_page()  # continued without its header, the last label's end on the new page
    _grid(p3, 80, [("业支出", ""), ("九、卫生健康支出", "10.00")])
    doc.save(path)


def test_foot_title_continuation_and_broken_label(tmp_path: Path) -> None:
    f = tmp_path / "B7.PDF"
    _make(f)
    layout = read_pdf([f])
    [table] = [b for b in layout.blocks if isinstance(b, RawTable)]
    assert (table.title, table.unit, table.pages) == ("收入支出预算总表", "万元", [2, 3])
    labels = [r[0].text for r in table.rows]
    assert labels == ["项目", "合计", "一、一般公共服务支出", "八、社会保障和就业支出", "九、卫生健康支出"]
    rep = parse_report([f])
    assert (rep.meta.department, rep.meta.year, rep.meta.kind, rep.meta.scope) == ("黔东南州民族医院", 2024, "预算", "单位")
    assert rep.meta.place == "贵州省黔东南苗族侗族自治州"
    assert {t.table_kind for t in rep.tables} != {"other"}
    assert all(f.unit == "万元" for f in rep.facts)
    got = {f.row_label: str(f.value) for f in rep.facts}
    assert got["八、社会保障和就业支出"] == "40.00" and got["九、卫生健康支出"] == "10.00"


def _make_two_line_title(path: Path, second_line_y: float) -> None:
    doc = pymupdf.open()
    p1 = doc.new_page()
    _text(p1, 120, 60, "部门：黔东南州民族医院", 10.5)
    _text(p1, 150, 100, "一般公共预算财政拨款基本支出预", 15)  # a title broken over two lines …
    _text(p1, 270, second_line_y, "算表", 15)
    _text(p1, 440, 170, "单位：万元")
    _grid(p1, 180, [("项目", "金额"), ("合计", "90.00"), ("30101基本工资", "50.00"), ("30102津贴补贴", "40.00")])
    p2 = doc.new_page()  # … and the table continued with its header repeated
    _grid(p2, 80, [("项目", "金额"), ("30103奖金", "0.00")])
    doc.save(path)


@pytest.mark.parametrize("second_line_y", [120.0, 138.0])
def test_two_line_title_and_repeated_header_on_the_continuation(tmp_path: Path, second_line_y: float) -> None:
    f = tmp_path / "x.pdf"
    _make_two_line_title(f, second_line_y)
    [table] = [b for b in read_pdf([f]).blocks if isinstance(b, RawTable)]
    assert (table.title, table.unit, table.pages) == ("一般公共预算财政拨款基本支出预算表", "万元", [1, 2])
    assert [r[0].text for r in table.rows] == ["项目", "合计", "30101基本工资", "30102津贴补贴", "30103奖金"]
