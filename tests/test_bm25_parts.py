"""BM25 over per-report postings with index-wide statistics kept at commit time.

The scores must be those of one BM25 index over every live chunk (Lucene variant), whether the
search is restricted to some reports or not, whether the statistics were kept incrementally, computed
from the parts (an index written before they were kept) or the parts found through DuckDB.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant import vectors
from assistant.store import current_version, load_index, remove_reports, write_index
from assistant.vectors import BM25_B, BM25_K1, BM25_STATS, BM25Stats, HybridIndex, passage_text, tokenize
from tests.test_store import CountingEmbedder, report

TEXTS = {
    "a": ["财政拨款收入主要用于基本支出。", "存在的问题：预算执行进度偏慢，整改情况良好。", "一般公共服务支出增加。"],
    "b": ["项目支出主要用于信息化建设。", "预算执行进度偏慢的问题已经整改。"],
    "c": ["三公经费支出减少，公务接待费下降。", "政府采购支出主要用于货物。", "整改情况：加强预算管理。", "其他说明。"],
    "d": ["国有资产占用情况：车辆两辆。"],
}


def _reference(chunks: dict[str, str], query: str) -> dict[str, float]:
    """BM25 (Lucene) over all live chunks, written out plainly."""
    docs = {cid: tokenize(t) for cid, t in chunks.items()}
    n = len(docs)
    avgdl = sum(len(d) for d in docs.values()) / n
    out: dict[str, float] = {}
    for cid, toks in docs.items():
        s = 0.0
        for q in tokenize(query):
            df = sum(1 for d in docs.values() if q in d)
            tf = toks.count(q)
            if df == 0 or tf == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            s += idf * tf / (tf + BM25_K1 * (1 - BM25_B + BM25_B * len(toks) / avgdl))
        if s > 0:
            out[cid] = s
    return out


def _live_texts(index_dir: Path) -> dict[str, str]:
    idx = load_index(index_dir)
    return {str(r.chunk_id): passage_text(str(r.section or ""), str(r.text)) for r in idx.chunks.itertuples()}


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index grown in several writes, with a replaced and a removed report (stats kept incrementally)."""
    tmp_path = tmp_path_factory.mktemp("grown")
    emb = CountingEmbedder()
    write_index(tmp_path, [report("a", "ha", TEXTS["a"]), report("b", "hb", TEXTS["b"])], embedder=emb)
    write_index(tmp_path, [report("c", "hc", TEXTS["c"])], embedder=emb)
    write_index(tmp_path, [report("d", "hd", TEXTS["d"])], embedder=emb)
    write_index(tmp_path, [report("b", "hb2", ["项目支出的问题和整改情况。", *TEXTS["b"]])], embedder=emb)  # replaced
    remove_reports(tmp_path, ["d"])
    return tmp_path


def test_statistics_kept_incrementally_equal_those_of_the_live_parts(grown: Path) -> None:
    v = current_version(grown)
    assert v is not None and (v / BM25_STATS).exists()
    kept = BM25Stats.read(v)
    idx = load_index(grown)
    fresh = BM25Stats.of_parts([grown / p for p in idx.parts.values()])
    assert kept is not None
    assert (kept.docs, kept.total_len) == (fresh.docs, fresh.total_len) == (len(idx.chunks), kept.total_len)
    assert np.array_equal(kept.terms, fresh.terms) and np.array_equal(kept.df, fresh.df)


QUERIES = ["存在的问题和整改情况", "预算执行进度", "项目支出主要用于什么", "公务接待费", "没有的词语"]


@pytest.mark.parametrize("scope", [None, ["a"], ["b", "c"]])
@pytest.mark.parametrize("how", ["kept", "computed", "duckdb"])
def test_scores_equal_one_bm25_over_all_live_chunks(grown: Path, tmp_path: Path, monkeypatch, scope, how) -> None:
    v = current_version(grown)
    assert v is not None
    if how == "computed":  # an index written before the statistics were kept
        copy = tmp_path / "old"
        shutil.copytree(grown, copy)
        v = current_version(copy)
        assert v is not None
        (v / BM25_STATS).unlink()
    if how == "duckdb":  # many parts: the parts holding the query's terms are found through DuckDB
        monkeypatch.setattr(vectors, "FULL_SCAN_PARTS", 0)
    texts = _live_texts(grown)
    h = HybridIndex.load(v)
    for query in QUERIES:
        ref = _reference(texts, query)
        if scope is not None:
            ref = {c: s for c, s in ref.items() if c.split(":")[0] in scope}
        hits = h.bm25_search(query, report_ids=scope, top_n=50)
        assert {x.chunk_id for x in hits} == set(ref), query
        for x in hits:
            assert x.score == pytest.approx(ref[x.chunk_id], rel=1e-5)
        assert [x.score for x in hits] == sorted((x.score for x in hits), reverse=True)
        if hits:  # rows are read from the hit's own part
            assert h.rows([hits[0].chunk_id])[hits[0].chunk_id]["report_id"] == hits[0].chunk_id.split(":")[0]


def test_loading_reads_no_postings_and_opens_no_chroma(grown: Path, monkeypatch) -> None:
    read: list[Path] = []
    real = vectors.PartPostings.read

    def counting(cls: type, d: Path) -> vectors.PartPostings:
        read.append(d)
        return real(d)

    monkeypatch.setattr(vectors.PartPostings, "read", classmethod(counting))
    h = HybridIndex.load(current_version(grown))  # type: ignore[arg-type]
    assert read == [] and h._collection is None
    h.bm25_search("整改情况", report_ids=["c"], top_n=5)
    assert len(read) == 1 and "report=c-" in str(read[0])


@pytest.mark.parametrize("scope", [["a"], ["b", "c"], ["a", "b", "c"]])
def test_vector_search_over_a_few_reports_equals_chromas(grown: Path, monkeypatch, scope) -> None:
    """Exact search over the reports' stored vectors (Chroma not opened) finds what Chroma finds."""
    v = current_version(grown)
    emb = CountingEmbedder()
    h = HybridIndex.load(v)  # type: ignore[arg-type]
    for q in QUERIES:
        qv = emb.embed_query(q)
        exact = h.vector_search(q, qv, report_ids=scope, top_n=4)
        assert h._collection is None
        monkeypatch.setattr(vectors, "EXACT_MAX_REPORTS", 0)
        chroma = h.vector_search(q, qv, report_ids=scope, top_n=4)
        monkeypatch.setattr(vectors, "EXACT_MAX_REPORTS", 64)
        h._collection = None
        assert [x.chunk_id for x in exact] == [x.chunk_id for x in chroma]
        assert [x.score for x in exact] == pytest.approx([x.score for x in chroma], abs=1e-5)
