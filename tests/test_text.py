"""The plain-text reader: tables with their titles, numbers, units, notes; running text outside."""

from __future__ import annotations

import pytest

from assistant.errors import EmptyFileError
from assistant.ingest.meta import detect_meta
from assistant.ingest.text import read_text
from assistant.models import RawTable, TextLine
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def layout():
    return read_text(SAMPLE)


def _tables(layout) -> list[RawTable]:
    return [b for b in layout.blocks if isinstance(b, RawTable)]


def test_every_published_table_is_read_with_title_number_and_unit(layout):
    tables = _tables(layout)
    numbered = {t.number: t for t in tables if t.number}
    assert sorted(numbered) == [f"公开{n:02d}表" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12)]  # 09 is omitted
    assert numbered["公开10表"].title == "财政拨款“三公”经费、行政参公单位机关运行经费情况表"
    assert numbered["公开05表"].title == "一般公共预算财政拨款收入支出决算表"
    assert all(t.unit == "万元" for t in numbered.values())
    assert "部门：曲靖市投资促进局" in numbered["公开01表"].preamble
    # six project self-evaluation tables and the department-wide one follow the standard tables
    assert sum(t.title == "2023年度项目支出绩效自评表" for t in tables) == 6
    assert any(t.title == "2023年度部门整体支出绩效自评表" for t in tables)


def test_grids_are_rectangular_and_keep_the_printed_text(layout):
    t05 = next(t for t in _tables(layout) if t.number == "公开05表")
    assert len({len(r) for r in t05.rows}) == 1
    assert len(t05.rows[0]) == 20
    t04 = next(t for t in _tables(layout) if t.number == "公开04表")
    texts = {c.text for r in t04.rows for c in r}
    assert "1834.93" in texts and "1,834.93" in texts  # both spellings, as printed


def test_notes_stay_with_their_table_and_empty_table_reason_is_kept(layout):
    t08 = next(t for t in _tables(layout) if t.number == "公开08表")
    assert any("为空表" in n for n in t08.notes)
    t12 = next(t for t in _tables(layout) if t.number == "公开12表")
    assert len(t12.notes) == 2 and t12.notes[0].startswith("注：1. 资产总额")


def test_text_outside_tables_is_text_lines(layout):
    lines = [b.text for b in layout.blocks if isinstance(b, TextLine)]
    assert all("\t" not in x for x in lines)
    assert layout.sources == [SAMPLE.name]


def test_meta_of_the_sample(layout):
    meta = detect_meta(layout, [SAMPLE], report_id=SAMPLE.stem, sha256=["0" * 64])
    assert (meta.department, meta.year, meta.kind, meta.scope) == ("曲靖市投资促进局", 2023, "决算", "部门")
    assert meta.place == "云南省曲靖市"
    assert meta.sources == [SAMPLE.name]


def test_empty_file_is_refused(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("", encoding="utf-8")
    with pytest.raises(EmptyFileError):
        read_text(p)


def test_gb18030_text_is_decoded(tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes("收入决算表\n\n公开02表\n\n单位：万元\n\n项目\t金额\n合计\t1.00\n".encode("gb18030"))
    t = _tables(read_text(p))[0]
    assert (t.title, t.number, t.unit) == ("收入决算表", "公开02表", "万元")
    assert t.rows[1][1].text == "1.00"
