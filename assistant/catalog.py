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
        want = set(parts.values())
        held = set(t.column(PART_COL).unique().to_pylist())
        if not held <= want:
            t = t.filter(pc.is_in(t.column(PART_COL), value_set=pa.array(sorted(want), pa.string())))
        t = t.select(columns).cast(pa.schema([schema.field(c) for c in columns]))
    except (OSError, ValueError, KeyError, pa.ArrowException) as e:  # a catalog of another format: the parts are read
        log.warning("version catalog %s unreadable (%s); reading parts", f, e)
        return None
    return t.to_pandas()


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
    kept = (
        old_tab.filter(pc.is_in(old_tab.column(PART_COL), value_set=pa.array(order, pa.string())))
        if old_tab is not None
        else None
    )
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


def _place_key(department: str, place: str) -> str:
    return f"{department}\x1f{place}"


def department_place_words(department: str, place: str) -> list[tuple[str, str]]:
    """(short name, name) of the divisions a department's name starts with and its place names, in order."""
    from assistant.orgnames import clean_name
    from assistant.places import find_places, leading_places

    return [(m.division.short, m.division.name) for m in leading_places(clean_name(department)) + find_places(place or "")]


def _read_departments(version_dir: Path | None) -> dict[str, Any] | None:
    f = Path(version_dir) / DEPARTMENTS if version_dir is not None else None
    if f is None or not f.exists():
        return None
    try:
        got = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        log.warning("department catalog %s unreadable (%s)", f, e)
        return None
    ok = isinstance(got, dict) and got.get("rules") == rules_fingerprint()
    return got if ok and isinstance(got.get("aliases"), dict) and isinstance(got.get("places"), dict) else None


def read_department_aliases(version_dir: Path, departments: set[str]) -> dict[str, frozenset[str]] | None:
    """department → its Chinese aliases from the version's catalog; None when absent, of other rules or not covering."""
    got = _read_departments(version_dir)
    aliases = got["aliases"] if got is not None else None
    if aliases is None or not departments <= set(aliases):
        return None
    return {d: frozenset(aliases[d]) for d in departments}


def read_place_words(version_dir: Path, reports: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]] | None:
    """(department, place) → ``department_place_words`` from the version's catalog; None when absent or not covering."""
    got = _read_departments(version_dir)
    places = got["places"] if got is not None else None
    if places is None:
        return None
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for d, p in reports:
        k = _place_key(d, p)
        if k not in places:
            return None
        out[(d, p)] = [(str(a), str(b)) for a, b in places[k]]
    return out


def write_department_aliases(version_dir: Path, reports: list[tuple[str, str]], previous: Path | None = None) -> None:
    """The version's department aliases and place words, for its (department, place) pairs: the previous
    version's (same rules) where it had them, the others computed."""
    old = _read_departments(previous) or {"aliases": {}, "places": {}}
    aliases = {
        d: (list(old["aliases"][d]) if d in old["aliases"] else sorted(department_aliases_zh(d)))
        for d in dict.fromkeys(d for d, _ in reports)
    }
    places: dict[str, Any] = {}
    for d, p in reports:
        k = _place_key(d, p)
        if k not in places:
            places[k] = old["places"][k] if k in old["places"] else [list(x) for x in department_place_words(d, p)]
    (Path(version_dir) / DEPARTMENTS).write_text(
        json.dumps({"rules": rules_fingerprint(), "aliases": aliases, "places": places}, ensure_ascii=False), encoding="utf-8"
    )
