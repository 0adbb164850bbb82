"""PDF reader: grids from ruling lines, exact cell text, merged cells, continuation, metadata, bad input."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pymupdf
import pytest

from assistant.errors import EncryptedPdfError, NotAPdfError, NoTextLayerError
from assistant.ingest.pdf import read_pdf
from assistant.models import Layout, RawTable, TextLine
from tests.conftest import corpus_file, needs_corpus

FONT = "china-s"  # PyMuPDF's built-in CJK font

# --------------------------------------------------------------------------- helpers


def tables(layout: Layout) -> list[RawTable]:
    return [b for b in layout.blocks if isinstance(b, RawTable)]


def texts(table: RawTable) -> list[list[str]]:
    return [[c.text for c in row] for row in table.rows]


def find_table(layout: Layout, title_part: str) -> RawTable:
    found = [t for t in tables(layout) if title_part in t.title]
    assert found, f"no table titled …{title_part}…: {[t.title for t in tables(layout)]}"
    return found[0]


def row_with(table: RawTable, label: str) -> list[str]:
    for row in texts(table):
        if label in row:
            return row
    raise AssertionError(f"no row {label!r} in {table.title}")


def draw_grid(page: pymupdf.Page, xs: list[float], ys: list[float], skip_v: set[tuple[int, int]] = frozenset()) -> None:
    """Rule a grid; ``skip_v`` holds (row, x-index) vertical segments to leave out (merged cells)."""
    for y in ys:
        page.draw_line((xs[0], y), (xs[-1], y), width=0.5)
    for r in range(len(ys) - 1):
        for k, x in enumerate(xs):
            if (r, k) not in skip_v:
                page.draw_line((x, ys[r]), (x, ys[r + 1]), width=0.5)


def put(page: pymupdf.Page, x: float, y: float, text: str, size: float = 10) -> None:
    page.insert_text((x, y), text, fontname="helv" if text.isascii() else FONT, fontsize=size)


def make_report(path: Path) -> Path:
    """Two pages: a titled table with a merged header continuing onto page 2 (header repeated), a note."""
    doc = pymupdf.open()
    xs = [50.0, 200.0, 300.0, 400.0]
    for pno in range(2):
        page = doc.new_page(width=595, height=842)
        if pno == 0:
            put(page, 60, 60, "第一部分 情况说明")
            put(page, 60, 80, "本部门2024年收入如下。")
            put(page, 200, 120, "公开01表", 10)
            put(page, 180, 140, "收入支出决算总表", 16)
            put(page, 50, 165, "部门：测试局")
            put(page, 340, 165, "单位：万元")
        ys = [175.0, 195.0, 215.0] + [215.0 + 20 * (i + 1) for i in range(3)]
        # header row 0: 项目 | 金额 (merged over 2 columns)
        draw_grid(page, xs, ys, skip_v={(0, 2)})
        put(page, 55, 190, "项目")
        put(page, 205, 190, "金额")
        put(page, 55, 210, "名称")
        put(page, 205, 210, "本年")
        put(page, 305, 210, "上年")
        body = [
            ("一般公共服务支出", "2,940.05", "1834.93"),
            ("社会保障和就业支出", "49.14", "0.00"),
            ("合计", "2,989.19", "1,834.93"),
        ]
        if pno == 1:
            body = [("住房保障支出", "445.69", "—"), ("其他支出", "", ""), ("总计", "3,434.88", "1,834.93")]
        for i, (name, a, b) in enumerate(body):
            y = ys[2 + i] + 15
            put(page, 55, y, name)
            put(page, 250, y, a)
            put(page, 350, y, b)
        if pno == 1:
            put(page, 50, ys[-1] + 20, "注：本单位无政府性基金预算收入。")
            put(page, 60, ys[-1] + 80, "二、其他事项")
        put(page, 290, 820, str(pno + 1))  # page number footer
    doc.save(path)
    return path


# --------------------------------------------------------------------------- synthetic PDFs


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Layout]:
    path = make_report(tmp_path_factory.mktemp("pdf") / "synthetic_2024_juesuan.pdf")
    return path, read_pdf([path])


def test_table_metadata_and_merged_header(report: tuple[Path, Layout]) -> None:
    _, layout = report
    (t,) = tables(layout)
    assert t.title == "收入支出决算总表"
    assert t.number == "公开01表"
    assert t.unit == "万元"
    assert "部门：测试局" in t.preamble
    head = t.rows[0]
    assert [c.text for c in head] == ["项目", "金额", ""]
    assert head[1].colspan == 2
    assert all(len(r) == 3 for r in t.rows)


def test_continuation_is_one_table_without_repeated_header(report: tuple[Path, Layout]) -> None:
    _, layout = report
    (t,) = tables(layout)
    assert t.pages == [1, 2]
    labels = [r[0] for r in texts(t)]
    assert labels == ["项目", "名称", "一般公共服务支出", "社会保障和就业支出", "合计", "住房保障支出", "其他支出", "总计"]
    assert t.notes == ["注：本单位无政府性基金预算收入。"]


@pytest.mark.parametrize(
    ("label", "values"),
    [
        ("一般公共服务支出", ["2,940.05", "1834.93"]),
        ("社会保障和就业支出", ["49.14", "0.00"]),
        ("住房保障支出", ["445.69", "—"]),
        ("其他支出", ["", ""]),
    ],
)
def test_cell_text_exact(report: tuple[Path, Layout], label: str, values: list[str]) -> None:
    _, layout = report
    assert row_with(tables(layout)[0], label)[1:] == values


def test_bbox_round_trip_and_text_lines(report: tuple[Path, Layout]) -> None:
    path, layout = report
    doc = pymupdf.open(path)
    for row in tables(layout)[0].rows:
        for c in row:
            if c.text and c.bbox:
                assert re.sub(r"\s+", "", doc[c.page - 1].get_textbox(c.bbox)) == c.text
    lines = [b for b in layout.blocks if isinstance(b, TextLine)]
    assert [ln.text for ln in lines] == ["第一部分情况说明", "本部门2024年收入如下。", "二、其他事项"]  # page numbers dropped
    assert layout.page_count == 2 and layout.page_sizes[1] == (595.0, 842.0)
    assert layout.file_pages == {1: (path.name, 1), 2: (path.name, 2)}


def test_progress_called_per_page(report: tuple[Path, Layout]) -> None:
    path, _ = report
    seen: list[int] = []
    read_pdf([path], progress=seen.append)
    assert seen == [1, 1]


def test_split_report_numbers_pages_across_files(tmp_path: Path) -> None:
    text = tmp_path / "r_text.pdf"
    doc = pymupdf.open()
    put(doc.new_page(), 60, 60, "第一部分 部门概况")
    doc.save(text)
    tab = make_report(tmp_path / "r_tables.pdf")
    layout = read_pdf([text, tab])
    assert layout.sources == ["r_text.pdf", "r_tables.pdf"]
    assert layout.page_count == 3
    assert layout.file_pages == {1: ("r_text.pdf", 1), 2: ("r_tables.pdf", 1), 3: ("r_tables.pdf", 2)}
    assert tables(layout)[0].pages == [2, 3]


def test_scan_without_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 40), False)
    pix.set_rect(pix.irect, (200, 200, 200))
    page.insert_image(pymupdf.Rect(50, 50, 300, 300), pixmap=pix)
    doc.new_page()  # and an empty page
    doc.save(path)
    with pytest.raises(NoTextLayerError, match="OCR"):
        read_pdf([path])


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    doc = pymupdf.open()
    put(doc.new_page(), 60, 60, "收入支出决算总表")
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    with pytest.raises(EncryptedPdfError):
        read_pdf([path])


def test_owner_password_only_pdf_is_read(tmp_path: Path) -> None:
    """Reports published with copy restrictions (owner password, no user password) still read."""
    path = tmp_path / "restricted.pdf"
    make_report(tmp_path / "plain.pdf")
    pymupdf.open(tmp_path / "plain.pdf").save(
        path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="", permissions=pymupdf.PDF_PERM_PRINT
    )
    assert tables(read_pdf([path]))[0].title == "收入支出决算总表"


@pytest.mark.parametrize("content", [b"%PDF-1.7\n1 0 obj\n<<", b"not a pdf at all", b""])
def test_corrupt_pdf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    with pytest.raises(NotAPdfError):
        read_pdf([path])


def test_truncated_pdf(tmp_path: Path) -> None:
    good = make_report(tmp_path / "good.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(good[: len(good) // 3])
    try:
        layout = read_pdf([path])
    except NotAPdfError:
        return
    # MuPDF may repair a truncated file; then whatever is read must still be well-formed
    for t in tables(layout):
        assert len({len(r) for r in t.rows}) <= 1


def make_unruled(path: Path, *, three_line: bool) -> Path:
    """A table without vertical rulings: no rules at all, or only top/header/bottom rules."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    put(page, 60, 60, "一、收入支出预算总体情况")
    put(page, 60, 80, "本部门收入支出预算如下表。")
    put(page, 200, 120, "一般公共预算支出表", 16)
    put(page, 420, 145, "单位：万元")
    if three_line:
        for y in (150, 172, 260):
            page.draw_line((50, y), (540, y), width=0.8)
    for x, head in ((55, "科目编码"), (150, "科目名称"), (330, "合计"), (450, "基本支出")):
        put(page, x, 166, head)
    rows = [
        ("201", "一般公共服务支出", "2,940.05", "1,503.52"),
        ("20106", "财政事务", "2,112.86", "—"),
        ("2010601", "行政运行", "1,511.90", "0.01"),
        ("221", "住房保障支出", "445.69", "445.69"),
    ]
    for i, row in enumerate(rows):
        for x, text in zip((55, 150, 330, 450), row, strict=True):
            put(page, x, 188 + 22 * i, text)
    put(page, 50, 280, "注：本表金额保留两位小数。")
    put(page, 60, 320, "二、其他事项")
    doc.save(path)
    return path


@pytest.mark.parametrize("three_line", [False, True], ids=["no-rules", "three-line"])
def test_table_without_vertical_rulings(tmp_path: Path, three_line: bool) -> None:
    path = make_unruled(tmp_path / "unruled.pdf", three_line=three_line)
    layout = read_pdf([path])
    (t,) = tables(layout)
    assert t.title == "一般公共预算支出表" and t.unit == "万元"
    assert texts(t) == [
        ["科目编码", "科目名称", "合计", "基本支出"],
        ["201", "一般公共服务支出", "2,940.05", "1,503.52"],
        ["20106", "财政事务", "2,112.86", "—"],
        ["2010601", "行政运行", "1,511.90", "0.01"],
        ["221", "住房保障支出", "445.69", "445.69"],
    ]
    assert t.notes == ["注：本表金额保留两位小数。"]
    assert [b.text for b in layout.blocks if isinstance(b, TextLine)] == [
        "一、收入支出预算总体情况",
        "本部门收入支出预算如下表。",
        "二、其他事项",
    ]
    page = pymupdf.open(path)[0]
    for c in t.rows[3]:
        assert re.sub(r"\s+", "", page.get_textbox(c.bbox)) == c.text


def test_body_rows_without_horizontal_rules(tmp_path: Path) -> None:
    """Column rules only, no rules between body rows: each text line of numbers is a row; wrapped labels stay whole."""
    path = tmp_path / "columns_only.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    xs, top, head, bottom = [50.0, 200.0, 300.0, 400.0], 100.0, 122.0, 230.0
    for y in (top, head, bottom):
        page.draw_line((xs[0], y), (xs[-1], y), width=0.5)
    for x in xs:
        page.draw_line((x, top), (x, bottom), width=0.5)
    for x, t in zip(xs, ("项目", "本年", "上年"), strict=False):
        put(page, x + 5, 116, t)
    body = [("一般公共服务支出", "2,940.05", "1,834.93"), ("社会保障和就业", "49.14", "0.00"), ("住房保障支出", "445.69", "—")]
    for i, (name, a, b) in enumerate(body):
        y = 140 + 30 * i
        put(page, 55, y, name)
        put(page, 205, y, a)
        put(page, 305, y, b)
    put(page, 55, 183, "支出")  # the second label wraps onto a line of its own
    doc.save(path)
    (t,) = tables(read_pdf([path]))
    assert texts(t) == [
        ["项目", "本年", "上年"],
        ["一般公共服务支出", "2,940.05", "1,834.93"],
        ["社会保障和就业支出", "49.14", "0.00"],
        ["住房保障支出", "445.69", "—"],
    ]


def test_title_and_unit_rows_inside_the_grid(tmp_path: Path) -> None:
    """Spreadsheet exports print the title and unit as full-width rows of the grid itself."""
    path = tmp_path / "excel.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    xs, ys = [50.0, 200.0, 300.0], [100.0, 125.0, 145.0, 165.0, 185.0]
    for y in ys:
        page.draw_line((xs[0], y), (xs[-1], y), width=0.5)
    for r in range(len(ys) - 1):
        for x in xs if r >= 2 else (xs[0], xs[-1]):
            page.draw_line((x, ys[r]), (x, ys[r + 1]), width=0.5)
    put(page, 90, 118, "2024年部门收入预算总表", 12)
    put(page, 55, 140, "单位：元")
    put(page, 55, 160, "项目")
    put(page, 205, 160, "金额")
    put(page, 55, 180, "合计")
    put(page, 205, 180, "156,211,123")
    doc.save(path)
    (t,) = tables(read_pdf([path]))
    assert (t.title, t.unit) == ("2024年部门收入预算总表", "元")
    assert texts(t) == [["项目", "金额"], ["合计", "156,211,123"]]


def test_table_replaced_by_a_note(tmp_path: Path) -> None:
    """An empty table printed as its title and a note only is still a table, with the note."""
    path = tmp_path / "empty.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    put(page, 60, 60, "公开08表")
    put(page, 120, 90, "政府性基金预算财政拨款收入支出决算表", 16)
    put(page, 60, 115, "单位：万元")
    put(page, 60, 140, "本单位2024年度无政府性基金预算财政拨款收入和支出，故本表为空表。")
    put(page, 60, 200, "九、其他重要事项")
    doc.save(path)
    (t,) = tables(read_pdf([path]))
    assert (t.number, t.title, t.unit, t.rows) == ("公开08表", "政府性基金预算财政拨款收入支出决算表", "万元", [])
    assert t.notes == ["本单位2024年度无政府性基金预算财政拨款收入和支出，故本表为空表。"]


# --------------------------------------------------------------------------- the corpus

C01 = "01_shanghai_putuo_caizhengju_2024_juesuan.pdf"
C04 = "04_shanghai_putuo_wanlijiedao_2024_yusuan.pdf"
C11 = "11_jiangsu_renminjianchayuan_2018_yusuan.pdf"


@pytest.fixture(scope="module")
def corpus_layouts() -> dict[str, Layout]:
    return {}


def layout_of(cache: dict[str, Layout], *names: str) -> Layout:
    key = "+".join(names)
    if key not in cache:
        cache[key] = read_pdf([corpus_file(n) for n in names])
    return cache[key]


@needs_corpus
def test_01_income_expenditure_summary(corpus_layouts: dict[str, Layout]) -> None:
    lay = layout_of(corpus_layouts, C01)
    t = find_table(lay, "收入支出决算总表")
    assert t.unit == "万元" and t.pages == [6, 7]
    assert row_with(t, "一、一般公共预算财政拨款收入")[1] == "2,940.05"
    assert row_with(t, "年初结转和结余")[1] == "49.14"
    cell = next(c for r in t.rows for c in r if c.text == "2,940.05")
    assert cell.page == 6
    page = pymupdf.open(corpus_file(C01))[5]
    assert page.get_textbox(cell.bbox).strip() == "2,940.05"


@needs_corpus
def test_01_three_public_prints_only_budget(corpus_layouts: dict[str, Layout]) -> None:
    t = find_table(layout_of(corpus_layouts, C01), "三公")
    body = [r for r in texts(t) if any(re.match(r"^[\d.,]+$", x) for x in r)]
    assert len(body) == 1
    assert [x for x in body[0] if x] == ["0.95", "0.95"]  # 合计 预算数 and 公务接待费 预算数; no actuals
    head = texts(t)[-2]
    assert head[:2] == ["预算数", "决算数"]


@needs_corpus
def test_01_empty_tables_keep_their_notes(corpus_layouts: dict[str, Layout]) -> None:
    t = find_table(layout_of(corpus_layouts, C01), "政府性基金预算财政拨款收入支出决算表")
    assert any("无政府性基金" in n for n in t.notes)


@needs_corpus
def test_04_units_change_inside_one_pdf(corpus_layouts: dict[str, Layout]) -> None:
    lay = layout_of(corpus_layouts, C04)
    t = find_table(lay, "三公")
    assert t.unit == "万元"
    flat = [x for r in texts(t) for x in r]
    assert "47.91" in flat and "25" in flat
    assert texts(t)[-1][:6] == ["47.91", "0", "1.35", "46.56", "25", "21.56"]
    others = [x for x in tables(lay) if "三公" not in x.title]
    assert others and all(x.unit == "元" for x in others)


@needs_corpus
def test_04_continuation_with_merged_total_row(corpus_layouts: dict[str, Layout]) -> None:
    t = find_table(layout_of(corpus_layouts, C04), "2024年部门收入预算总表")
    assert t.pages == [11, 12, 13, 14, 15]
    last = t.rows[-1]
    assert last[0].text == "合计" and last[0].colspan == 4
    assert len({len(r) for r in t.rows}) == 1


@needs_corpus
def test_11_meeting_fees(corpus_layouts: dict[str, Layout]) -> None:
    lay = layout_of(corpus_layouts, C11)
    t = next(x for x in tables(lay) if x.number == "公开09表")
    assert "会议费" in t.title
    assert texts(t)[-1][-2:] == ["200.44", "700.00"]
    assert [x.number for x in tables(lay)] == [f"公开{i:02d}表" for i in range(1, 13)]


@needs_corpus
def test_split_jiangsu_report_rotated_tables(corpus_layouts: dict[str, Layout]) -> None:
    names = ("12_jiangsu_shengweibangongting_2018_yusuan_text.pdf", "12_jiangsu_shengweibangongting_2018_yusuan_tables.pdf")
    lay = layout_of(corpus_layouts, *names)
    assert lay.page_count == 28 and lay.file_pages[14] == (names[1], 1)
    t = find_table(lay, "收支预算总表")
    assert row_with(t, "一、财政拨款")[1] == "24,458.43"
    # the tables file has /Rotate 90: boxes are in the page's text space, what get_textbox takes
    cell = next(c for r in t.rows for c in r if c.text == "24,458.43")
    fname, pno = lay.file_pages[cell.page]
    page = pymupdf.open(corpus_file(fname))[pno - 1]
    assert page.get_textbox(cell.bbox).strip() == "24,458.43"


@needs_corpus
@pytest.mark.parametrize("name", [C01, C04, C11])
def test_numeric_cells_round_trip(corpus_layouts: dict[str, Layout], name: str) -> None:
    """Numeric cells' boxes, read back with get_textbox, give exactly the cell's text (a sample: get_textbox takes 40 ms a call)."""
    lay = layout_of(corpus_layouts, name)
    doc = pymupdf.open(corpus_file(name))
    cells = []
    for t in tables(lay):
        assert len({len(r) for r in t.rows}) == 1
        cells += [c for row in t.rows for c in row if c.bbox and re.fullmatch(r"-?[\d,]+(\.\d+)?", c.text)]
    assert len(cells) > 200
    for c in random.Random(7).sample(cells, 25):
        assert re.sub(r"\s+", "", doc[c.page - 1].get_textbox(c.bbox)) == c.text, (c.page, c.text, c.bbox)
