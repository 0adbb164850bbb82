"""Report identity from content alone: renamed files, rewritten departments, redacted PDFs, cover forms.

Identity is read with ``read_file`` / ``read_identity`` (no embeddings); the few full ingests use a
hashing embedder. Corpus layouts are read once per session (tests/corpus_cache.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pymupdf
import pytest

from assistant.errors import IdentityUnreadableError
from assistant.ingest import ingest_paths, parse_report, read_file
from assistant.ingest.meta import department_key, missing_identity, read_identity
from assistant.ingest.pairing import FileRead, file_role, pair_by_identity
from assistant.ingest.tables import interpret_tables
from assistant.models import Layout, RawCell, RawTable, ReportIdentity, ReportMeta, TextLine
from tests.conftest import SAMPLE, SHARED_REPORTS, needs_corpus
from tests.corpus_cache import corpus_files, corpus_layout

# department, year, kind, scope, place of every corpus file (from the corpus README)
EXPECTED = {
    "00_": ("曲靖市投资促进局", 2023, "决算", "部门", "云南省曲靖市"),
    "01_": ("上海市普陀区财政局", 2024, "决算", "部门", "上海市普陀区"),
    "02_": ("上海市普陀区规划和自然资源局", 2024, "决算", "部门", "上海市普陀区"),
    "03_": ("中共上海市普陀区委社会工作部", 2024, "决算", "部门", "上海市普陀区"),
    "04_": ("上海市普陀区人民政府万里街道办事处", 2024, "预算", "部门", "上海市普陀区"),
    "05_": ("上海市普陀区人民政府万里街道办事处", 2025, "预算", "部门", "上海市普陀区"),
    "06_": ("上海市普陀区商务委员会", 2025, "预算", "部门", "上海市普陀区"),
    "07_": ("上海市普陀区人民政府办公室", 2025, "预算", "部门", "上海市普陀区"),
    "08_": ("上海市普陀区司法局", 2026, "预算", "部门", "上海市普陀区"),
    "09_": ("上海市普陀区司法局", 2026, "预算", "单位", "上海市普陀区"),
    "10_": ("江苏省高级人民法院", 2019, "预算", "部门", "江苏省"),
    "11_": ("江苏省人民检察院", 2018, "预算", "部门", "江苏省"),
    "12_": ("中共江苏省委办公厅", 2018, "预算", "部门", "江苏省"),
    "13_": ("江苏省人大常委会办公厅", 2019, "预算", "部门", "江苏省"),
    "14_": ("江苏省政协办公厅", 2017, "预算", "部门", "江苏省"),
}
# the narrative halves print a shorter form of the name; the key is the same
NARRATIVE_NAME = {"12_": "江苏省委办公厅"}


class HashEmbedder:
    """Deterministic unit vectors from a hash of the text (no model)."""

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        out = []
        for t in texts:
            h = hashlib.sha256(t.encode()).digest() * 12
            v = [(b - 128) / 128 for b in h[:384]]
            n = sum(x * x for x in v) ** 0.5
            out.append([x / n for x in v])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_passages([text])[0]


def _meaningless_names(files: list[Path]) -> dict[Path, str]:
    """Random hex, upper-case .PDF, Chinese, and narrative/tables pairs under unrelated names."""
    forms = ["{h}{ext}", "{h}{EXT}", "附件{i}{ext}", "报告材料（{i}）{EXT}", "scan_{h}{ext}", "tables_{i}{ext}", "text-{h}{ext}"]
    out = {}
    for i, f in enumerate(files):
        h = hashlib.sha1(f.name.encode()).hexdigest()[:10]
        ext = f.suffix.lower()
        out[f] = forms[i % len(forms)].format(h=h, i=(i * 7) % 19, ext=ext, EXT=ext.upper())
    return out


@pytest.fixture(scope="module")
def renamed_reads(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[FileRead], dict[str, str]]:
    """Every corpus file copied under a meaningless name; read with the session's cached layouts."""
    if not (SHARED_REPORTS / "01_shanghai_putuo_caizhengju_2024_juesuan.pdf").exists():
        pytest.skip(f"the shared report corpus is not at {SHARED_REPORTS}")
    d = tmp_path_factory.mktemp("renamed")
    names = _meaningless_names(corpus_files())
    reads, origin = [], {}
    for f, new in names.items():
        dest = d / new
        shutil.copyfile(f, dest)
        origin[dest.name] = f.name
        lay = corpus_layout(f)
        lay.sources = [dest.name]
        lay.file_pages = {p: (dest.name, n) for p, (_, n) in lay.file_pages.items()}
        reads.append(FileRead(path=dest, layout=lay, identity=read_identity(lay, [dest]), role=file_role(lay), sha256=new))
    return reads, origin


@needs_corpus
def test_every_renamed_file_has_the_right_identity(renamed_reads) -> None:
    reads, origin = renamed_reads
    for r in reads:
        prefix = origin[r.path.name][:3]
        dept, year, kind, scope, place = EXPECTED[prefix]
        got = r.identity
        want_dept = NARRATIVE_NAME.get(prefix, dept) if r.role == "narrative" else dept
        assert (got.department, got.year, got.kind, got.scope, got.place) == (want_dept, year, kind, scope, place), origin[r.path.name]
        assert department_key(got.department or "", got.place or "") == department_key(dept, place)


@needs_corpus
def test_renamed_narrative_and_tables_files_pair_by_identity(renamed_reads) -> None:
    reads, origin = renamed_reads
    groups = pair_by_identity(list(reads))
    by_report = sorted(sorted(origin[f.path.name] for f in g.files) for g in groups)
    assert len(groups) == 15
    for pre in ("12_", "13_", "14_"):
        pair = next(g for g in by_report if g[0].startswith(pre))
        assert [p.rsplit("_", 1)[-1] for p in pair] == ["tables.pdf", "text.pdf"], pair
    assert all(len(g) == 1 for g in by_report if not g[0].startswith(("12_", "13_", "14_")))
    # narrative first, so pages read in the published order
    for g in groups:
        assert [f.role for f in g.files] == sorted(f.role for f in g.files)  # narrative < tables


@needs_corpus
def test_renamed_pair_in_two_ingest_calls_joins_the_stored_half(tmp_path: Path) -> None:
    narrative, tables = tmp_path / "说明.PDF", tmp_path / "f81c2e.pdf"
    shutil.copyfile(SHARED_REPORTS / "14_jiangsu_zhengxiebangongting_2017_yusuan_tables.pdf", tables)
    shutil.copyfile(SHARED_REPORTS / "14_jiangsu_zhengxiebangongting_2017_yusuan_text.pdf", narrative)
    idx = tmp_path / "idx"
    emb = HashEmbedder()
    first = ingest_paths([tables], idx, show_progress=False, embedder=emb)
    assert first.ok and first.reports[0].facts > 100
    second = ingest_paths([narrative], idx, show_progress=False, embedder=emb)
    assert second.ok, second.failures
    from assistant.store import load_index

    index = load_index(idx)
    [meta] = index.reports
    assert meta.sources == [narrative.name, tables.name] and meta.source_roles == ["narrative", "tables"]
    assert (meta.department, meta.year, meta.kind) == ("江苏省政协办公厅", 2017, "预算")
    assert int((index.facts.report_id == meta.report_id).sum()) == first.reports[0].facts
    assert int((index.chunks.report_id == meta.report_id).sum()) > first.reports[0].chunks
    # ingesting the tables file again keeps its narrative
    third = ingest_paths([tables], idx, show_progress=False, embedder=emb)
    assert third.ok and load_index(idx).reports[0].sources == [narrative.name, tables.name]
    assert "timings: extract=" in third.timings.line()


@needs_corpus
def test_a_half_without_a_year_joins_the_one_half_of_its_department(tmp_path: Path) -> None:
    src = SHARED_REPORTS / "13_jiangsu_rendachangweihui_2019_yusuan_text.pdf"
    narrative, mid = tmp_path / "q.pdf", tmp_path / "mid.pdf"
    assert _replace_everywhere(src, mid, "2019", None) > 0  # the narrative no longer prints a year
    _replace_everywhere(mid, narrative, "2018", None)
    tables = corpus_layout("13_jiangsu_rendachangweihui_2019_yusuan_tables.pdf")
    other = corpus_layout("10_jiangsu_gaojirenminfayuan_2019_yusuan.pdf")
    n = read_file(narrative)
    assert n.identity.year is None and n.role == "narrative" and n.identity.department == "江苏省人大常委会办公厅"
    t = FileRead(path=tmp_path / "z.pdf", layout=tables, identity=read_identity(tables, [tmp_path / "z.pdf"]), role="tables", sha256="t")
    o = FileRead(path=tmp_path / "o.pdf", layout=other, identity=read_identity(other, [tmp_path / "o.pdf"]), role="tables", sha256="o")
    groups = pair_by_identity([o, n, t])
    assert sorted([f.path.name for f in g.files] for g in groups) == [["o.pdf"], ["q.pdf", "z.pdf"]]


# --------------------------------------------------------------------------- rewritten and redacted reports


def test_text_sample_rewritten_with_another_department_place_and_year(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    new = text.replace("曲靖市投资促进局", "遵义市商务局").replace("曲靖", "遵义").replace("2023", "2021")
    f = tmp_path / "ZX-0042.TXT"
    f.write_text(new, encoding="utf-8")
    rep = parse_report([f])
    orig = parse_report([SAMPLE])
    m = rep.meta
    assert (m.department, m.year, m.kind, m.scope, m.place) == ("遵义市商务局", 2021, "决算", "部门", "贵州省遵义市")
    assert m.department_key == department_key("遵义市商务局")
    assert [(x.table_number, x.row_label, x.column, x.value) for x in rep.facts] == [
        (x.table_number, x.row_label.replace("曲靖", "遵义"), x.column, x.value) for x in orig.facts
    ]


def _replace_everywhere(src: Path, dest: Path, old: str, new: str | None) -> int:
    """Redact ``old`` on every page; print ``new`` in its place with a CJK font. Returns the hits."""
    hits = 0
    with pymupdf.open(src) as doc:
        for page in doc:
            rects = page.search_for(old)
            for r in rects:
                page.add_redact_annot(r)
            if not rects:
                continue
            hits += len(rects)
            page.apply_redactions(images=pymupdf.PDF_REDACT_IMAGE_NONE, graphics=pymupdf.PDF_REDACT_LINE_ART_NONE)
            if new:
                for r in rects:
                    size = max(6.0, min(24.0, r.height * 0.8))
                    p = pymupdf.Point(r.x0, r.y1 - r.height * 0.18) * page.derotation_matrix
                    page.insert_text(p, new, fontname="china-s", fontsize=size, rotate=page.rotation)
        doc.save(dest)
    return hits


@needs_corpus
@pytest.mark.parametrize(
    ("src", "old", "new", "place"),
    [
        ("01_shanghai_putuo_caizhengju_2024_juesuan.pdf", "上海市普陀区财政局", "上海市静安区民政局", "上海市静安区"),
        ("11_jiangsu_renminjianchayuan_2018_yusuan.pdf", "江苏省人民检察院", "浙江省人民检察院", "浙江省"),
    ],
)
def test_pdf_with_department_redacted_and_reinserted(tmp_path: Path, src: str, old: str, new: str, place: str) -> None:
    dest = tmp_path / "Document(3).PDF"
    assert _replace_everywhere(SHARED_REPORTS / src, dest, old, new) > 0
    r = read_file(dest)
    assert (r.identity.department, r.identity.place) == (new, place)
    assert r.identity.year == EXPECTED[src[:3]][1] and r.identity.kind == EXPECTED[src[:3]][2]


@needs_corpus
def test_unreadable_identity_is_refused_naming_the_file_then_given(tmp_path: Path) -> None:
    src = SHARED_REPORTS / "13_jiangsu_rendachangweihui_2019_yusuan_tables.pdf"
    dest = tmp_path / "a1.pdf"
    mid = tmp_path / "mid.pdf"
    _replace_everywhere(src, mid, "江苏省人大常委会办公厅", None)
    assert _replace_everywhere(mid, dest, "2019", None) > 0
    with pytest.raises(IdentityUnreadableError) as e:
        parse_report([dest])
    msg = str(e.value)
    assert "a1.pdf" in msg and "department" in msg and "--department" in msg and "--year" in msg
    idx = tmp_path / "idx"
    res = ingest_paths([dest], idx, show_progress=False, embedder=HashEmbedder())
    assert not res.reports and res.failures and "--department" in res.failures[0].reason
    assert not (idx / "CURRENT").exists()  # nothing stored with year 0 or an empty department
    given = ReportIdentity(department="江苏省人大常委会办公厅", year=2019, kind="预算")
    rep = parse_report([dest], identity=given)
    assert (rep.meta.department, rep.meta.year, rep.meta.kind, rep.meta.place) == ("江苏省人大常委会办公厅", 2019, "预算", "江苏省")
    assert len(rep.facts) > 100
    # the file name, whatever its form, is the last resort
    named = tmp_path / "江苏省人大常委会办公厅2019年预算公开表格.PDF"
    shutil.copyfile(dest, named)
    ident = read_file(named).identity
    assert (ident.department, ident.year, ident.kind) == ("江苏省人大常委会办公厅", 2019, "预算")


# --------------------------------------------------------------------------- cover and title forms


def _layout(cover: list[str], *, titles: tuple[str, ...] = (), preamble: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> Layout:
    blocks: list[RawTable | TextLine] = [TextLine(s, page=1) for s in cover]
    blocks += [TextLine(s, page=2) for s in text]
    for i, t in enumerate(titles):
        cell = RawCell("1.00", page=3 + i)
        blocks.append(RawTable(rows=[[RawCell("合计", page=3 + i), cell]], title=t, unit="万元", pages=[3 + i], preamble=list(preamble)))
    return Layout(blocks=blocks, sources=["x.pdf"], page_count=3 + len(titles))


@pytest.mark.parametrize(
    ("layout", "department", "year", "kind", "scope", "place"),
    [
        # corpus forms
        (_layout(["上海市普陀区规划和自然", "资源局", "2024年度部门决算"]), "上海市普陀区规划和自然资源局", 2024, "决算", "部门", "上海市普陀区"),
        (_layout(["中共上海市普陀区委", "社会工作部2024年度", "部门决算"]), "中共上海市普陀区委社会工作部", 2024, "决算", "部门", "上海市普陀区"),
        (_layout(["上海市普陀区2026年区级单位预算", "预算单位：上海市普陀区司法局"]), "上海市普陀区司法局", 2026, "预算", "单位", "上海市普陀区"),
        (_layout(["江苏省2018年度", "省级部门预算公开报表", "部门:中共江苏省委办公厅", "江苏省财政厅印制"]), "中共江苏省委办公厅", 2018, "预算", "部门", "江苏省"),
        (_layout([], titles=("收支预算总表", "收入预算总表", "2019年政府采购预算表"), preamble=("部门：江苏省人大常委会办公厅",)), "江苏省人大常委会办公厅", 2019, "预算", "部门", "江苏省"),
        (_layout(["部门名称：江苏省高级人民法", "院", "2019年度部门预算公开"]), "江苏省高级人民法院", 2019, "预算", "部门", "江苏省"),
        # forms the corpus lacks: year first, broken anywhere, any order
        (_layout(["2018 年度江苏省高级", "人民法院预算公开"]), "江苏省高级人民法院", 2018, "预算", "部门", "江苏省"),
        (_layout(["2022", "杭州市西湖区教育局", "部门决算"]), "杭州市西湖区教育局", 2022, "决算", "部门", "浙江省杭州市西湖区"),
        (_layout(["部门预算", "成都市武侯区卫生健康局", "2023年度"]), "成都市武侯区卫生健康局", 2023, "预算", "部门", "四川省成都市武侯区"),
        (_layout(["湖南省财政厅", "二〇一九年度部门决算"]), "湖南省财政厅", 2019, "决算", "部门", "湖南省"),
        # 单位预算, 县 / 乡镇, 学校, 医院
        (_layout(["湘潭县人民医院", "2024年单位预算"]), "湘潭县人民医院", 2024, "预算", "单位", "湖南省湘潭市湘潭县"),
        (_layout(["2021年度单位决算", "单位名称：宁乡市第一高级中学"]), "宁乡市第一高级中学", 2021, "决算", "单位", "湖南省长沙市宁乡市"),
        (_layout(["凤阳县小溪河镇人民政府", "2025年部门预算"]), "凤阳县小溪河镇人民政府", 2025, "预算", "部门", "安徽省滁州市凤阳县"),
        (_layout(["合肥市第八中学2020年度部门决算"]), "合肥市第八中学", 2020, "决算", "部门", "安徽省合肥市"),
        # the department named only in table titles, or in the narrative's sentences
        (_layout(["目录"], titles=("江苏省档案馆2020年收支预算总表", "江苏省档案馆2020年收入预算总表", "江苏省档案馆2020年支出预算总表")), "江苏省档案馆", 2020, "预算", "部门", "江苏省"),
        (_layout([], titles=("收入支出决算表", "收入决算表", "支出决算表"), text=("注：大理州林业和草原局2022年度无政府性基金预算财政拨款收入。",)), "大理州林业和草原局", 2022, "决算", "部门", "云南省大理白族自治州"),
    ],
)
def test_cover_and_title_forms(layout: Layout, department: str, year: int, kind: str, scope: str, place: str) -> None:
    ident = read_identity(layout, [Path("8c1f.pdf")])
    assert (ident.department, ident.year, ident.kind, ident.scope) == (department, year, kind, scope)
    assert ident.place == place


def test_a_subordinate_unit_in_performance_tables_is_not_the_department() -> None:
    layout = _layout(["2024年度部门决算"], titles=("收入支出决算表",), preamble=("部门：南京市江宁区水务局",))
    for _ in range(4):
        layout.blocks.append(RawTable(rows=[[RawCell("项目名称")]], title="项目支出绩效自评表", preamble=["单位名称：南京市江宁区河道管理所"]))
    assert read_identity(layout, [Path("a.pdf")]).department == "南京市江宁区水务局"


def test_nothing_printed_leaves_the_identity_missing() -> None:
    ident = read_identity(_layout(["目录"], titles=("收支总表",)), [Path("scan0001.pdf")])
    assert set(missing_identity(ident)) == {"department", "year", "kind"}


def test_one_department_printed_two_ways_shares_a_key() -> None:
    assert department_key("中国共产党江苏省委员会办公厅") == department_key("中共江苏省委办公厅") == department_key("江苏省委办公厅")
    assert department_key("政协办公厅", "江苏省") == department_key("江苏省政协办公厅")
    assert department_key("江苏省高级人民法院") != department_key("江苏省人民检察院")


# --------------------------------------------------------------------------- code columns


def _c(text: str, colspan: int = 1) -> RawCell:
    return RawCell(text, page=3, bbox=(0.0, 0.0, 1.0, 1.0), colspan=colspan)


def test_a_one_row_three_public_table_of_whole_amounts_keeps_its_cells() -> None:
    e = _c("")
    t = RawTable(
        title="财政拨款“三公”经费预算表",
        unit="万元",
        rows=[
            [_c("合计"), _c("因公出国（境）费"), _c("公务用车购置及运行费", 3), e, e, _c("公务接待费")],
            [e, e, _c("小计"), _c("购置费"), _c("运行费"), e],
            [_c("237"), _c("0"), _c("200"), _c("150"), _c("50"), _c("37")],
        ],
    )
    meta = ReportMeta(report_id="r", department="某局", year=2024, kind="预算")
    _, facts, _ = interpret_tables(Layout(blocks=[t], sources=["x.pdf"]), meta)
    assert {f.code for f in facts} == {None}
    got = {f.column: str(f.value) for f in facts}
    assert got["合计"] == "237" and got["公务接待费"] == "37" and got["公务用车购置及运行费 › 购置费"] == "150"


def test_a_code_column_without_header_is_found_by_its_hierarchy() -> None:
    t = RawTable(
        title="一般公共预算支出表",
        unit="万元",
        rows=[
            [_c("科目"), _c("名称"), _c("金额")],
            [_c("201"), _c("一般公共服务支出"), _c("100.00")],
            [_c("20101"), _c("人大事务"), _c("100.00")],
            [_c("2010101"), _c("行政运行"), _c("100.00")],
        ],
    )
    meta = ReportMeta(report_id="r", department="某局", year=2024, kind="预算")
    _, facts, _ = interpret_tables(Layout(blocks=[t], sources=["x.pdf"]), meta)
    assert {f.code for f in facts} == {"201", "20101", "2010101"}


@pytest.mark.parametrize(
    ("title", "unit_line", "text", "unit"),
    [
        ("收支预算总表（万元）", "", "", "万元"),
        ("支出预算表(单位：元)", "", "", "元"),
        ("收支预算总表", "", "本报告金额单位均为万元。", "万元"),
        ("收支预算总表", "元", "本报告金额单位均为万元。", "元"),
    ],
)
def test_a_table_unit_is_never_missing_when_the_report_states_it(title: str, unit_line: str, text: str, unit: str) -> None:
    t = RawTable(title=title, unit=unit_line, rows=[[_c("项目"), _c("金额")], [_c("合计"), _c("12.50")]])
    lines = [TextLine(text, page=1)] if text else []
    meta = ReportMeta(report_id="r", department="某局", year=2024, kind="预算")
    _, facts, _ = interpret_tables(Layout(blocks=[*lines, t], sources=["x.pdf"]), meta)
    assert [(f.row_label, f.unit) for f in facts] == [("合计", unit)]


# --------------------------------------------------------------------------- CLI


def test_cli_timings_line_and_report_shares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import assistant.embed
    from assistant.cli import main

    monkeypatch.setattr(assistant.embed, "default_embedder", HashEmbedder)
    idx = tmp_path / "idx"
    assert main(["ingest", str(SAMPLE), "--index", str(idx), "-q", "--timings"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"timings: extract=\d+\.\d\d embed=\d+\.\d\d write=\d+\.\d\d pages=\d+ chars=\d+", last), last
    assert int(last.rsplit("chars=", 1)[1]) > 10000
    assert main(["reports", "--index", str(idx), "--json"]) == 0
    [row] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (row["other_share"], row["no_unit_share"]) == ("0.0%", "0.0%") and row["facts"] > 700


def test_cli_identity_flags_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.embed
    from assistant.cli import main
    from assistant.store import load_index

    monkeypatch.setattr(assistant.embed, "default_embedder", HashEmbedder)
    idx = tmp_path / "idx"
    args = ["ingest", str(SAMPLE), "--index", str(idx), "-q", "--department", "曲靖市商务局", "--year", "2022", "--kind", "决算"]
    assert main(args) == 0
    [m] = load_index(idx).reports
    assert (m.department, m.year, m.kind, m.place) == ("曲靖市商务局", 2022, "决算", "云南省曲靖市")
