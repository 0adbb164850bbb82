"""The version catalog: index-wide lookups kept per version, so a fresh process reads two files, not 2 × N.

A version folder (``v-…/``) holds, beside its manifest and BM25 statistics:

- ``catalog.tables.parquet``: every part's ``tables.parquet`` rows in manifest order (column ``_part``
  names the part they came from);
- ``catalog.summaries.json``: ``{"parts": {part: summary}}``, every part's ``summary.json``;
- ``catalog.departments.json``: each department's Chinese aliases (``department_aliases_zh``), with a
  fingerprint of the code and data that made them (a reader whose rules differ computes them anew).

They are written with the version, inside its staging folder (so a killed write leaves the previous
version answering), and updated from the previous version's: only added parts are read, removed ones
dropped. A version written before the catalog (or one whose catalog does not cover its parts) is read
part by part, as before; readers never write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

TABLES = "catalog.tables.parquet"
DEPARTMENTS = "catalog.departments.json"
SUMMARIES = "catalog.summaries.json"
PART_COL = "_part"
_META_KEY = b"fiscal_qa.parts"
_EMPTY_SUMMARY: dict[str, Any] = {"labels": [], "codes": []}


def _read_summary(root: Path, part: str) -> dict[str, Any]:
    f = root / part / "summary.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.exists() else dict(_EMPTY_SUMMARY)


def read_summaries(version_dir: Path, parts: dict[str, str]) -> dict[str, dict[str, Any]] | None:
    """report_id → its part's summary, from the version's catalog; None when it has none covering ``parts``."""
    f = Path(version_dir) / SUMMARIES
    try:
        got = json.loads(f.read_text(encoding="utf-8"))["parts"] if f.exists() else None
    except (OSError, ValueError, KeyError, TypeError):
        got = None
    if not isinstance(got, dict) or not set(parts.values()) <= set(got):
        return None
    return {rid: got[p] for rid, p in parts.items()}


def read_tables(version_dir: Path, parts: dict[str, str], schema: pa.Schema, columns: list[str]) -> pd.DataFrame | None:
    """The tables of every part in manifest order, from the version's catalog; None when it has none covering ``parts``."""
    f = Path(version_dir) / TABLES
    if not f.exists():
        return None
    try:
        if not set(parts.values()) <= set(_covered(f)):
            return None
        t = pq.read_table(f, columns=[*columns, PART_COL])
    except (OSError, pa.ArrowException) as e:
        log.warning("version catalog %s unreadable (%s); reading parts", f, e)
        return None
    want = set(parts.values())
    held = set(t.column(PART_COL).unique().to_pylist())
    if not held <= want:
        t = t.filter(pc.is_in(t.column(PART_COL), value_set=pa.array(sorted(want), pa.string())))
    return t.select(columns).cast(pa.schema([schema.field(c) for c in columns])).to_pandas()


def _covered(f: Path) -> list[str]:
    """The parts a catalog file covers (kept in its schema metadata)."""
    meta = pq.read_schema(f).metadata or {}
    got = json.loads(meta.get(_META_KEY, b"[]"))
    return [str(x) for x in got] if isinstance(got, list) else []


def _part_tables(root: Path, part_list: list[str], schema: pa.Schema) -> pa.Table:
    out_schema = schema.append(pa.field(PART_COL, pa.string()))
    tables = []
    for p in part_list:
        f = root / p / "tables.parquet"
        if f.exists():
            t = ds.dataset([str(f)], format="parquet", schema=schema).to_table(columns=schema.names)
            tables.append(t.append_column(PART_COL, pa.array([p] * t.num_rows, pa.string())))
    return pa.concat_tables(tables) if tables else out_schema.empty_table()


def write_version_catalog(
    root: Path,
    version_dir: Path,
    parts: dict[str, str],
    schema: pa.Schema,
    previous: Path | None = None,
    previous_parts: dict[str, str] | None = None,
) -> None:
    """Write the new version's catalog: the previous version's, plus added parts, minus removed ones.

    Without a catalog in the previous version (an index written before it) every live part is read once.
    """
    root, v = Path(root), Path(version_dir)
    order = list(dict.fromkeys(parts.values()))
    old_sum: dict[str, Any] | None = None
    old_tab: pa.Table | None = None
    if previous is not None and previous_parts is not None:
        f = Path(previous) / SUMMARIES
        try:
            got = json.loads(f.read_text(encoding="utf-8"))["parts"] if f.exists() else None
            prev_tab = Path(previous) / TABLES
            want = set(previous_parts.values())
            if isinstance(got, dict) and want <= set(got) and prev_tab.exists() and want <= set(_covered(prev_tab)):
                old_tab = pq.read_table(prev_tab)
                old_sum = got
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
            log.warning("previous version catalog unreadable (%s); reading every part", e)
            old_sum, old_tab = None, None
    if old_sum is None or old_tab is None:
        old_sum, old_tab = {}, None
    added = [p for p in order if p not in old_sum]
    summaries = {p: (old_sum[p] if p in old_sum else _read_summary(root, p)) for p in order}
    new_tab = _part_tables(root, added, schema)
    out_schema = new_tab.schema
    kept = old_tab.filter(pc.is_in(old_tab.column(PART_COL), value_set=pa.array(order, pa.string()))) if old_tab is not None else None
    combined = pa.concat_tables([kept.select(out_schema.names).cast(out_schema), new_tab]) if kept is not None else new_tab
    rank = {p: i for i, p in enumerate(order)}
    keys = pa.array([rank[p] for p in combined.column(PART_COL).to_pylist()], pa.int64())
    combined = combined.take(pc.sort_indices(pa.table({"k": keys}), sort_keys=[("k", "ascending")]))
    meta = {_META_KEY: json.dumps(order, ensure_ascii=False).encode("utf-8")}
    pq.write_table(combined.replace_schema_metadata(meta), v / TABLES)
    (v / SUMMARIES).write_text(json.dumps({"parts": summaries}, ensure_ascii=False), encoding="utf-8")


# ----------------------------------------------------------------- department aliases


def dept_key(department: str) -> str:
    """A department without scope marks: 杭州市西湖区司法局（本级） and 杭州市西湖区司法局 are one department."""
    return re.sub(r"[（(]\s*本级\s*[)）]|本级$", "", department or "").strip()


def department_aliases_zh(department: str) -> frozenset[str]:
    """Chinese aliases of a department (normalized like questions), by the general rules of ``assistant.orgnames``."""
    from assistant.glossary import norm_label, normalize_text
    from assistant.orgnames import department_names

    d = dept_key(department)
    zh = {normalize_text(a).replace(" ", "") for a in department_names(d, english=False).zh} | {norm_label(d)}
    return frozenset(a for a in zh if len(a) >= 2)


@cache
def rules_fingerprint() -> str:
    """A hash of the code and data the aliases are made by (stored aliases of other rules are not used)."""
    from assistant import glossary

    pkg = Path(__file__).parent
    files = [pkg / f"{m}.py" for m in ("catalog", "orgnames", "places", "glossary")]
    files += sorted((pkg / "data").glob("*")) + [Path(glossary.GLOSSARY_FILE)]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes() if f.is_file() else b"")
    return h.hexdigest()[:16]


def read_department_aliases(version_dir: Path, departments: set[str]) -> dict[str, frozenset[str]] | None:
    """department → its Chinese aliases from the version's catalog; None when absent, of other rules or not covering."""
    f = Path(version_dir) / DEPARTMENTS
    try:
        got = json.loads(f.read_text(encoding="utf-8")) if f.exists() else None
    except (OSError, ValueError):
        return None
    if not isinstance(got, dict) or got.get("rules") != rules_fingerprint():
        return None
    aliases = got.get("aliases")
    if not isinstance(aliases, dict) or not departments <= set(aliases):
        return None
    return {d: frozenset(aliases[d]) for d in departments}


def write_department_aliases(version_dir: Path, departments: list[str], previous: Path | None = None) -> None:
    """The version's department aliases: the previous version's (same rules) for departments it had, the others computed."""
    old: dict[str, Any] = {}
    f = Path(previous) / DEPARTMENTS if previous is not None else None
    if f is not None and f.exists():
        try:
            got = json.loads(f.read_text(encoding="utf-8"))
            if isinstance(got, dict) and got.get("rules") == rules_fingerprint() and isinstance(got.get("aliases"), dict):
                old = got["aliases"]
        except (OSError, ValueError) as e:
            log.warning("previous department aliases unreadable (%s); computing them", e)
    out = {d: (list(old[d]) if d in old else sorted(department_aliases_zh(d))) for d in dict.fromkeys(departments)}
    (Path(version_dir) / DEPARTMENTS).write_text(
        json.dumps({"rules": rules_fingerprint(), "aliases": out}, ensure_ascii=False), encoding="utf-8"
    )
