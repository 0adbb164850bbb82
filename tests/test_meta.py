"""Report metadata (department, year, kind, scope) of every corpus report, from its first pages only.

Fast: each file's first three pages are copied to a small PDF and read; no corpus index is built.
The report's files are found by the identity they print (never by their names).
"""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from assistant.ingest import report_id_for
from assistant.ingest.meta import detect_meta
from assistant.ingest.pdf import read_pdf
from assistant.ingest.text import read_text
from assistant.models import ReportMeta
from tests.conftest import SAMPLE, needs_corpus
from tests.corpus_cache import corpus_groups

FIRST_PAGES = 3


def _corpus_groups() -> list[list[Path]]:
    return corpus_groups()


def _meta_from_first_pages(stem: str, tmp_path: Path) -> ReportMeta:
    files = next(g for g in _corpus_groups() if report_id_for(g) == stem)
    heads = []
    for f in files:
        with pymupdf.open(f) as doc, pymupdf.open() as head:
            head.insert_pdf(doc, to_page=min(FIRST_PAGES, doc.page_count) - 1)
            head.save(tmp_path / f.name)
        heads.append(tmp_path / f.name)
    return detect_meta(read_pdf(heads), files, report_id=stem, sha256=[])


def test_sample_meta() -> None:
    meta = detect_meta(read_text(SAMPLE), [SAMPLE], report_id=SAMPLE.stem, sha256=[])
    assert (meta.department, meta.year, meta.kind, meta.scope) == ("曲靖市投资促进局", 2023, "决算", "部门")


@needs_corpus
@pytest.mark.parametrize(
    ("stem", "department", "year", "kind", "scope"),
    [
        ("01_shanghai_putuo_caizhengju_2024_juesuan", "上海市普陀区财政局", 2024, "决算", "部门"),
        ("02_shanghai_putuo_guihuaziranziyuan_2024_juesuan", "上海市普陀区规划和自然资源局", 2024, "决算", "部门"),
        ("03_shanghai_putuo_shehuigongzuobu_2024_juesuan", "中共上海市普陀区委社会工作部", 2024, "决算", "部门"),
        ("04_shanghai_putuo_wanlijiedao_2024_yusuan", "上海市普陀区人民政府万里街道办事处", 2024, "预算", "部门"),
        ("05_shanghai_putuo_wanlijiedao_2025_yusuan", "上海市普陀区人民政府万里街道办事处", 2025, "预算", "部门"),
        ("06_shanghai_putuo_shangwuwei_2025_yusuan", "上海市普陀区商务委员会", 2025, "预算", "部门"),
        ("07_shanghai_putuo_zhengfubangongshi_2025_yusuan", "上海市普陀区人民政府办公室", 2025, "预算", "部门"),
        ("08_shanghai_putuo_sifaju_2026_bumen_yusuan", "上海市普陀区司法局", 2026, "预算", "部门"),
        # a unit-level report: the unit, not the district (上海市普陀区) its cover starts with
        ("09_shanghai_putuo_sifaju_2026_danwei_yusuan", "上海市普陀区司法局", 2026, "预算", "单位"),
        ("10_jiangsu_gaojirenminfayuan_2019_yusuan", "江苏省高级人民法院", 2019, "预算", "部门"),
        ("11_jiangsu_renminjianchayuan_2018_yusuan", "江苏省人民检察院", 2018, "预算", "部门"),
        # split reports: narrative file first, then the tables file (its 部门：… preamble gives the full name)
        ("12_jiangsu_shengweibangongting_2018_yusuan", "中共江苏省委办公厅", 2018, "预算", "部门"),
        ("13_jiangsu_rendachangweihui_2019_yusuan", "江苏省人大常委会办公厅", 2019, "预算", "部门"),
        ("14_jiangsu_zhengxiebangongting_2017_yusuan", "江苏省政协办公厅", 2017, "预算", "部门"),
    ],
)
def test_corpus_department_from_first_pages(stem: str, department: str, year: int, kind: str, scope: str, tmp_path: Path) -> None:
    meta = _meta_from_first_pages(stem, tmp_path)
    assert (meta.department, meta.year, meta.kind, meta.scope) == (department, year, kind, scope)
