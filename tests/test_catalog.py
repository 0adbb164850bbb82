"""The version catalog (all parts' tables and summaries kept per version, in segments) reads as the parts themselves.

Kept incrementally over writes that add, replace and remove reports, it must equal a part-by-part read
in rows and order; a version without it (written before) or whose catalog does not cover its parts
is read part by part, and reading never writes one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from assistant import catalog
from assistant.models import ParsedReport, TableInfo
from assistant.store import TABLE_SCHEMA, _read_parts, current_version, load_index, remove_reports, write_index
from tests.test_store import CountingEmbedder, report


def _with_tables(rid: str, sha: str, n: int, title: str = "收入支出决算总表") -> ParsedReport:
    rep = report(rid, sha, [f"{rid}的说明。"])
    rep.tables = [
        TableInfo(
            report_id=rid,
            table_id=f"t{i:02d}",
            number=f"公开{i}表",
            title=f"{title}{i}",
            table_kind="other",
            unit="万元",
            pages=[i, i + 1],
            empty=i % 2 == 0,
        )
        for i in range(1, n + 1)
    ]
    return rep


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("catalog")
    emb = CountingEmbedder()
    write_index(d, [_with_tables("a", "ha", 3), _with_tables("b", "hb", 2)], embedder=emb)
    write_index(d, [_with_tables("c", "hc", 4)], embedder=emb)
    write_index(d, [_with_tables("d", "hd", 1)], embedder=emb)
    write_index(d, [_with_tables("b", "hb2", 5, title="支出决算表")], embedder=emb)  # replaced
    remove_reports(d, ["d"])
    return d


def _part_by_part(d: Path) -> tuple[pd.DataFrame, dict]:
    idx = load_index(d)
    tables = _read_parts(idx.root, idx.parts, "tables.parquet", list(TableInfo.__dataclass_fields__))
    return tables, {rid: catalog._read_summary(idx.root, p) for rid, p in idx.parts.items()}


def as_written_before_segments(d: Path, *, with_catalog: bool) -> Path:
    """The live version rewritten as a version of before segments: its whole manifest in ``manifest.json``,
    and its catalog beside it (the same files as a segment's) or none."""
    import json

    v = current_version(d)
    assert v is not None
    man = catalog.read_manifest(v)
    if with_catalog:
        seg = catalog.Segment(list(man["reports"]), dict(man["parts"]), dict(man["counts"]))
        name = catalog._write_segment(d, d, seg, [], TABLE_SCHEMA, catalog.rules_fingerprint(), "")
        for f in (catalog.TABLES, catalog.SUMMARIES, catalog.DEPARTMENTS):
            (d / name / f).rename(v / f)
        shutil.rmtree(d / name)
    (v / "manifest.json").write_text(json.dumps({k: man[k] for k in ("reports", "parts", "counts")}), encoding="utf-8")
    catalog._ASSEMBLED.clear()
    catalog._SOURCES.clear()
    return v


def test_catalog_kept_incrementally_equals_the_live_parts(grown: Path) -> None:
    v = current_version(grown)
    assert v is not None
    srcs = catalog._sources(v)
    assert srcs and all((s / catalog.TABLES).exists() and (s / catalog.SUMMARIES).exists() for s in srcs)
    tables, summaries = _part_by_part(grown)
    idx = load_index(grown)
    pd.testing.assert_frame_equal(idx.tables, tables)
    assert sorted(set(idx.tables.report_id)) == ["a", "b", "c"] and (idx.tables.report_id == "b").sum() == 5
    assert idx.summaries() == summaries


def test_a_version_without_catalog_is_read_part_by_part_and_not_written(grown: Path, tmp_path: Path) -> None:
    d = tmp_path / "old"
    shutil.copytree(grown, d)
    v = as_written_before_segments(d, with_catalog=False)
    tables, summaries = _part_by_part(d)
    idx = load_index(d)
    pd.testing.assert_frame_equal(idx.tables, tables)
    assert idx.summaries() == summaries
    assert not (v / catalog.TABLES).exists() and not (v / catalog.SUMMARIES).exists()
    write_index(d, [_with_tables("e", "he", 2)], embedder=CountingEmbedder())  # the next write keeps one
    new = current_version(d)
    assert new is not None and all((s / catalog.TABLES).exists() for s in catalog._sources(new))
    tables, summaries = _part_by_part(d)
    pd.testing.assert_frame_equal(load_index(d).tables, tables)
    assert load_index(d).summaries() == summaries


def test_a_catalog_not_covering_the_parts_is_not_used(grown: Path) -> None:
    idx = load_index(grown)
    more = {**idx.parts, "zz": "parts/zz"}
    assert catalog.read_tables(idx.path, more, TABLE_SCHEMA, ["report_id"]) is None
    assert catalog.read_summaries(idx.path, more) is None
    assert catalog.read_tables(idx.path, idx.parts, TABLE_SCHEMA, ["report_id"]) is not None


def test_department_aliases_kept_per_version_equal_those_computed(tmp_path: Path) -> None:
    from assistant.ask.planner import _dept_aliases, build_vocab

    emb = CountingEmbedder()
    names = ["杭州市西湖区司法局", "杭州市西湖区司法局（本级）", "北京市海淀区教育委员会"]
    write_index(tmp_path, [report("a", "ha", ["甲。"], department=names[0])], embedder=emb)
    write_index(
        tmp_path,
        [report("b", "hb", ["乙。"], department=names[1]), report("c", "hc", ["丙。"], department=names[2])],
        embedder=emb,
    )
    v = current_version(tmp_path)
    assert v is not None
    kept = catalog.read_department_aliases(v, set(names))
    assert kept is not None and {d: set(a) for d, a in kept.items()} == {d: _dept_aliases(d) for d in names}
    idx = load_index(tmp_path)
    with_catalog = build_vocab(idx).dept_aliases
    for s in catalog._sources(v):
        (s / catalog.DEPARTMENTS).unlink()
    assert sorted(build_vocab(load_index(tmp_path)).dept_aliases) == sorted(with_catalog)
    assert catalog.read_department_aliases(v, set(names)) is None


def test_place_words_kept_per_version_equal_those_found(tmp_path: Path) -> None:
    from assistant.ask.planner import _place_words

    emb = CountingEmbedder()
    write_index(tmp_path, [report("a", "ha", ["甲。"], department="福建省福州市鼓楼区财政局")], embedder=emb)
    write_index(tmp_path, [report("b", "hb", ["乙。"], department="中共杭州市西湖区委社会工作部")], embedder=emb)
    idx = load_index(tmp_path)
    kept = _place_words(idx.reports, idx.path)
    assert catalog.read_place_words(idx.path, [(r.department, r.place or "") for r in idx.reports]) is not None
    assert list(kept.items()) == list(_place_words(idx.reports).items()) and "鼓楼" in kept and "西湖" in kept
