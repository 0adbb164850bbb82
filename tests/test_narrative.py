"""Narrative chunks: sentence boundaries, whole words across PDF line breaks, heading paths, boxes."""

from __future__ import annotations

import re

import pytest

from assistant.ingest.narrative import MAX_CHARS, chunk_narrative, heading_level, split_sentences
from assistant.models import HEADING_SEP, Layout, RawCell, RawTable, ReportMeta, TextLine
from tests.conftest import SAMPLE

META = ReportMeta(report_id="r1", department="测试局", year=2024, kind="决算")
BODY = 12.0
LEFT, RIGHT = 72.0, 520.0


class Page:
    """Builds PDF-like text lines: headings, and paragraphs wrapped at the right margin."""

    def __init__(self) -> None:
        self.lines: list[TextLine] = []
        self.page = 1
        self.y = 72.0

    def _line(self, text: str, x0: float, x1: float, size: float = BODY) -> None:
        if self.y > 760:
            self.page, self.y = self.page + 1, 72.0
        self.lines.append(TextLine(text=text, page=self.page, bbox=(x0, self.y, x1, self.y + size), size=size))
        self.y += size * 1.8

    def heading(self, text: str, size: float = BODY) -> Page:
        self._line(text, LEFT + 24, LEFT + 24 + size * len(text), size)
        return self

    def para(self, text: str, per_line: int = 36) -> Page:
        first = True
        while text:
            n = per_line - (2 if first else 0)
            part, text = text[:n], text[n:]
            x0 = LEFT + (24 if first else 0)
            self._line(part, x0, RIGHT if text else x0 + BODY * len(part))
            first = False
        return self

    def new_page(self) -> Page:
        self.page, self.y = self.page + 1, 72.0
        return self


def chunks_of(*blocks: TextLine | RawTable) -> list:
    return chunk_narrative(Layout(blocks=list(blocks), sources=["x.pdf"]), META)


PROBLEMS = (
    "一是部门预算时绩效目标的设置依据，与项目最终实施时的佐证依据，会有一定出入。"
    "今后预算时，进一步加强与业务科室的对接，确保项目预算及实施的一致性。"
    "二是资金使用效率有待进一步提高。强化资金管理意识，积极与财政沟通，确保合理、科学地使用资金，提高预算执行率。"
)


def test_heading_paths_from_numbering_and_font_size():
    pg = Page()
    pg.heading("第三部分 2024年度部门决算情况说明", size=16)
    pg.heading("一、收入支出决算总体情况说明").para("本年收入合计2946.25万元，其中：财政拨款收入2940.05万元，占99.79%。")
    pg.heading("二、绩效自评工作情况")
    pg.heading("（二）自评组织过程")
    pg.heading("1. 组织实施").para("绩效评价领导小组拟定自评实施方案，制定评价指标体系，实施自评，撰写绩效自评报告。")
    pg.heading("三、存在的问题和整改情况").para(PROBLEMS)
    chunks = chunks_of(*pg.lines)
    sections = [c.section for c in chunks]
    assert sections == [
        "第三部分 2024年度部门决算情况说明 › 一、收入支出决算总体情况说明",
        "第三部分 2024年度部门决算情况说明 › 二、绩效自评工作情况 › （二）自评组织过程 › 1. 组织实施",
        "第三部分 2024年度部门决算情况说明 › 三、存在的问题和整改情况",
    ]
    assert [c.chunk_id for c in chunks] == ["r1:c0", "r1:c1", "r1:c2"]
    assert all(c.department == "测试局" and c.year == 2024 and c.kind == "决算" for c in chunks)


def test_words_stay_whole_across_line_breaks_and_boxes_cover_the_lines():
    pg = Page().heading("四、存在的问题和整改情况").para(PROBLEMS, per_line=17)
    joined = "".join(ln.text for ln in pg.lines[1:])
    # the layout breaks words in the middle (e.g. 佐证|依据 or 执|行率); the chunk must not
    breaks = [(a.text[-1], b.text[0]) for a, b in zip(pg.lines[1:], pg.lines[2:], strict=False)]
    assert breaks, "the paragraph must wrap"
    (chunk,) = chunks_of(*pg.lines)
    assert chunk.text == joined == PROBLEMS
    assert " " not in chunk.text and "\n" not in chunk.text
    assert "预算执行率" in chunk.text and "佐证依据" in chunk.text
    assert chunk.page == 1
    assert [b[0] for b in chunk.boxes] == [ln.page for ln in pg.lines[1:]]
    assert [tuple(b[1:]) for b in chunk.boxes] == [ln.bbox for ln in pg.lines[1:]]


def test_latin_words_broken_over_lines_get_one_space():
    pg = Page().heading("一、说明")
    pg.lines.append(TextLine("本部门采用PPP", page=1, bbox=(LEFT, 200, RIGHT, 212), size=BODY))
    pg.lines.append(TextLine("model运行项目。", page=1, bbox=(LEFT, 220, 200, 232), size=BODY))
    (chunk,) = chunks_of(*pg.lines)
    assert chunk.text == "本部门采用PPP model运行项目。"


def test_long_sections_split_at_sentence_ends_within_the_size_limit():
    sentence = "市投资促进局成立了绩效评价领导小组，通过预算绩效培训、会议讨论等形式，负责财政预算绩效评价的组织管理和实施工作。"
    text = sentence * 14  # ~790 characters
    pg = Page().heading("二、绩效自评工作情况").para(text)
    chunks = chunks_of(*pg.lines)
    assert len(chunks) >= 2
    assert "".join(c.text for c in chunks) == text
    for c in chunks:
        assert len(c.text) <= MAX_CHARS
        assert c.text.endswith("。"), c.text[-10:]
        assert c.text.startswith(sentence[:10])
    assert all(c.section == "二、绩效自评工作情况" for c in chunks)
    assert chunks[1].page >= chunks[0].page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("四川省。第二句；第三句！第四句？尾巴", ["四川省。", "第二句；", "第三句！", "第四句？", "尾巴"]),
        ("他说“好。”然后走了。", ["他说“好。”", "然后走了。"]),
        ("（一）加强领导。（二）完善制度。", ["（一）加强领导。", "（二）完善制度。"]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("第一部分 部门概况", 0),
        ("第三部分上海市普陀区财政局2024年度部门决算情况说明", 0),
        ("一、主要职能", 1),
        ("十一、一般公共预算机关运行经费支出预算情况说明", 1),
        ("（一）部门概况", 2),
        ("(二) 自评组织过程", 2),
        ("1. 前期准备", 3),
        ("2．组织实施", 3),
        ("（1）公务用车购置费", 4),
        ("2023年度收入合计1834.93万元", None),
        ("1.5万元", None),
    ],
)
def test_heading_level(line, level):
    assert heading_level(line) == level


def test_numbered_paragraphs_definitions_toc_and_page_numbers_are_not_headings():
    pg = Page()
    pg.heading("目录", size=18)
    pg.heading("第一部分 部门概况")
    pg.heading("一、主要职能")
    pg.new_page()
    pg.heading("第一部分 部门概况", size=16)
    pg.heading("一、主要职能")
    pg.para("1．负责省委重要工作部署贯彻落实的督促检查，省委日常文书处理，中央及省委领导同志批示的传达与催办落实。")
    pg.para("2．围绕省委的工作部署，收集信息、反映动态，承担省委文件、文稿的起草、修改和校核工作。")
    pg._line("3", 290, 296)  # page number
    pg.heading("第四部分 名词解释", size=16)
    pg.para("七、单位预留机动经费：指预算单位年初预留用于年度执行中增人、增资等不可预见支出的经费。")
    chunks = chunks_of(*pg.lines)
    assert [c.section for c in chunks] == ["第一部分 部门概况 › 一、主要职能", "第四部分 名词解释"]
    assert chunks[0].page == 2, "the table of contents page is not text"
    assert chunks[0].text.startswith("1．负责省委") and "2．围绕省委" in chunks[0].text
    assert not re.search(r"。3", chunks[0].text), "page numbers are dropped"
    assert chunks[1].text.startswith("七、单位预留机动经费：指")


def test_title_wrapped_over_two_lines_is_one_heading():
    pg = Page()
    pg.lines.append(TextLine("第三部分上海市普陀区财政局2024年度部门决算情况", 1, (102, 75, 516, 93), 18.0))
    pg.lines.append(TextLine("说明", 1, (280, 95, 316, 113), 18.0))
    pg.y = 150
    pg.heading("一、收入支出决算总体情况说明").para("本年收入合计2946.25万元。")
    (chunk,) = chunks_of(*pg.lines)
    assert chunk.section == "第三部分上海市普陀区财政局2024年度部门决算情况说明 › 一、收入支出决算总体情况说明"


def test_narrative_table_rows_become_sections_with_carried_heading_cells():
    rows = [
        ["一、部门基本情况", "(一) 部门概况", "", "曲靖市投资促进局是曲靖市人民政府的工作部门，为正处级。"],
        ["", "(二) 部门整体收支情况", "", "曲靖市投资促进局2023年度收入合计1834.93万元，其中财政拨款收入1834.93万元。"],
        ["四、存在的问题和整改情况", "", "", PROBLEMS],
        ["七、其他需说明的情况", "", "", "无"],
    ]
    table = RawTable(rows=[[RawCell(t) for t in r] for r in rows], title="2023年度部门整体支出绩效自评情况")
    chunks = chunks_of(table)
    assert [c.section for c in chunks] == [
        "2023年度部门整体支出绩效自评情况 › 一、部门基本情况 › (一) 部门概况",
        "2023年度部门整体支出绩效自评情况 › 一、部门基本情况 › (二) 部门整体收支情况",
        "2023年度部门整体支出绩效自评情况 › 四、存在的问题和整改情况",
    ]
    assert chunks[2].text == PROBLEMS


def test_figure_tables_give_no_chunks_but_informative_notes_do():
    rows = [
        ["项目", "行次", "金额"],
        ["一、一般公共预算财政拨款收入", "1", "1,834.93"],
        ["二、政府性基金预算财政拨款收入", "2", ""],
    ]
    t1 = RawTable(
        rows=[[RawCell(x) for x in r] for r in rows], title="收入支出决算表", notes=["注：本表反映部门本年度的总收支。"]
    )
    t2 = RawTable(
        rows=[[RawCell("项目"), RawCell("金额")]],
        title="政府性基金预算财政拨款收入支出决算表",
        notes=["注：曲靖市投资促进局2023年度无政府性基金预算财政拨款收入，本表为空表。"],
    )
    chunks = chunks_of(t1, t2)
    assert [(c.section, c.text) for c in chunks] == [
        ("政府性基金预算财政拨款收入支出决算表 › 注", "注：曲靖市投资促进局2023年度无政府性基金预算财政拨款收入，本表为空表。")
    ]


# --------------------------------------------------------------------------- the bundled sample


@pytest.fixture(scope="module")
def sample_chunks():
    from assistant.ingest.text import read_text

    meta = ReportMeta(report_id=SAMPLE.stem, department="曲靖市投资促进局", year=2023, kind="决算")
    return chunk_narrative(read_text(SAMPLE), meta)


def by_section(chunks, heading):
    return [c for c in chunks if c.section.split(HEADING_SEP)[-1] == heading]


def test_sample_self_evaluation_sections(sample_chunks):
    (problems,) = by_section(sample_chunks, "四、存在的问题和整改情况")
    assert problems.section == "2023年度部门整体支出绩效自评情况 › 四、存在的问题和整改情况"
    assert "资金使用效率有待进一步提高" in problems.text and "佐证依据" in problems.text
    assert problems.chunk_id.startswith(SAMPLE.stem + ":c")
    (org,) = by_section(sample_chunks, "2. 组织实施")
    assert org.section == "2023年度部门整体支出绩效自评情况 › 二、绩效自评工作情况 › (二) 自评组织过程 › 2. 组织实施"
    (exp,) = by_section(sample_chunks, "六、主要经验及做法")
    assert exp.text.startswith("(一) 加强领导") and exp.text.endswith("提高预算支出的有效性。")


def test_sample_task_rows_keep_rate_and_reason(sample_chunks):
    (task,) = [c for c in sample_chunks if c.section.endswith("二、部门年度重点工作任务 › 招商工作经费")]
    assert "预算执行率：71.72%" in task.text
    assert "预算执行偏低原因及改进措施：部分活动未能如期开展。" in task.text
    assert task.text.startswith("主要内容：全面落实")
    assert task.section == "2023年度部门整体支出绩效自评表 › 二、部门年度重点工作任务 › 招商工作经费", (
        "项目级次 本级 is no heading"
    )


def test_sample_chunk_sizes_and_ids(sample_chunks):
    assert 20 <= len(sample_chunks) <= 60
    assert [c.chunk_id for c in sample_chunks] == [f"{SAMPLE.stem}:c{i}" for i in range(len(sample_chunks))]
    assert all(0 < len(c.text) <= MAX_CHARS for c in sample_chunks)
    assert all(c.page is None and c.boxes == [] for c in sample_chunks)
    projects = {c.section.split(HEADING_SEP)[1] for c in sample_chunks if c.section.startswith("2023年度项目支出绩效自评表 › ")}
    assert {"招商工作经费", "驻点招商工作经费", "遗属生活补助资金"} <= projects
