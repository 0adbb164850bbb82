"""The version catalog and manifest, kept as a few shared segments, so a commit writes what it changed and a
fresh process reads a handful of files, not 2 × N.

A version folder (``v-…/``) holds, beside its BM25 statistics, a small ``manifest.json``
``{"format": "fiscal-qa.segments/1", "segments": [{"name", "size", "rules"}…]}``. Each segment
``catalog/<name>/`` (immutable once published, shared by every version that lists it) holds:

- ``manifest.json``: the reports it adds (ReportMeta records, their parts and counts) and the reports of
  earlier segments it removes; the version's reports are its segments applied in order (a report added
  again replaces its earlier entry and moves to the end, as in a manifest written whole);
- ``catalog.tables.parquet``: its parts' ``tables.parquet`` rows (column ``_part``; the parts covered are
  kept in the file's schema metadata);
- ``catalog.summaries.json``: ``{"parts": {part: summary}}``, its parts' ``summary.json``;
- ``catalog.departments.json``: its departments' Chinese aliases and its reports' place words, with a
  fingerprint of the code and data that made them (a reader whose rules differ computes them anew).

A commit writes one small delta segment (merged with the newest small ones, leveled by ``FANOUT``: see
``_plan``) inside its staging folder, moves it under ``catalog/`` and then publishes the version, so a killed
write leaves the previous version answering with its segments untouched. Garbage collection removes the
segments no kept version lists. A version written before segments (its whole manifest in ``manifest.json``,
its catalog beside it, or none) is still read as written (parts read where it has no catalog); the next
commit writes it as one segment, from its catalog where it has one. Readers never write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
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


def _sources(version_dir: Path) -> list[Path]:
    """The folders holding a version's catalog files, in order: its segments, or the version folder itself
    (a version written before segments kept its catalog there)."""
    v = Path(version_dir)
    key = str(v)
    got = _SOURCES.get(key)
    if got is not None:
        return got
    if any((v / f).exists() for f in (TABLES, SUMMARIES, DEPARTMENTS)):
        got = [v]
    else:
        try:
            man = json.loads((v / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            man = None
        got = [v.parent / SEGMENT_DIR / str(s["name"]) for s in man["segments"]] if is_segmented(man) else [v]
    if len(_SOURCES) > 64:
        _SOURCES.clear()
    _SOURCES[key] = got
    return got


_SOURCES: dict[str, list[Path]] = {}
"""version folder → its catalog folders (a published version never changes)."""


def _summaries_file(f: Path) -> dict[str, Any] | None:
    try:
        got = json.loads(f.read_text(encoding="utf-8"))["parts"] if f.exists() else None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("catalog summaries %s unreadable (%s)", f, e)
        return None
    return got if isinstance(got, dict) else None


def read_summaries(version_dir: Path, parts: dict[str, str]) -> dict[str, dict[str, Any]] | None:
    """report_id → its part's summary, from the version's catalog; None when it has none covering ``parts``."""
    got: dict[str, Any] = {}
    for src in _sources(version_dir):
        got.update(_summaries_file(src / SUMMARIES) or {})
    if not set(parts.values()) <= set(got):
        return None
    return {rid: got[p] for rid, p in parts.items()}


def _in_order(t: pa.Table, order: list[str]) -> pa.Table:
    """Rows sorted (stably) by their part's position in ``order``."""
    rank = pc.index_in(t.column(PART_COL), value_set=pa.array(order, pa.string()))
    return t.take(pc.sort_indices(pa.table({"k": rank}), sort_keys=[("k", "ascending")]))


def read_tables(version_dir: Path, parts: dict[str, str], schema: pa.Schema, columns: list[str]) -> pd.DataFrame | None:
    """The tables of every part in manifest order, from the version's catalog; None when it has none covering ``parts``."""
    want = set(parts.values())
    out_schema = pa.schema([schema.field(c) for c in columns] + [pa.field(PART_COL, pa.string())])
    covered: set[str] = set()
    got: list[pa.Table] = []
    for src in _sources(version_dir):
        f = src / TABLES
        if not f.exists():
            continue
        try:
            cov = set(_covered(f)) & want
            if not cov:
                continue
            t = pq.read_table(f, columns=[*columns, PART_COL])
            t = t.filter(pc.is_in(t.column(PART_COL), value_set=pa.array(sorted(cov), pa.string())))
            got.append(t.select(out_schema.names).cast(out_schema))
            covered |= cov
        except (OSError, ValueError, KeyError, pa.ArrowException) as e:  # a catalog of another format: the parts are read
            log.warning("version catalog %s unreadable (%s); reading parts", f, e)
            return None
    if not want <= covered:
        return None
    t = pa.concat_tables(got) if got else out_schema.empty_table()
    return _in_order(t, list(dict.fromkeys(parts.values()))).select(columns).to_pandas()


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


def _read_departments_file(f: Path) -> dict[str, Any] | None:
    if not f.exists():
        return None
    try:
        got = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        log.warning("department catalog %s unreadable (%s)", f, e)
        return None
    ok = isinstance(got, dict) and got.get("rules") == rules_fingerprint()
    return got if ok and isinstance(got.get("aliases"), dict) and isinstance(got.get("places"), dict) else None


def _read_departments(version_dir: Path | None) -> dict[str, Any] | None:
    """The department aliases and place words of a version's catalog (its segments' of these rules, together)."""
    if version_dir is None:
        return None
    aliases: dict[str, Any] = {}
    places: dict[str, Any] = {}
    found = False
    for src in _sources(Path(version_dir)):
        got = _read_departments_file(src / DEPARTMENTS)
        if got is not None:
            found = True
            aliases.update(got["aliases"])
            places.update(got["places"])
    return {"aliases": aliases, "places": places} if found else None


# ----------------------------------------------------------------- segments (the manifest and catalog, by commit)

FORMAT = "fiscal-qa.segments/1"
"""A version's ``manifest.json`` of this format lists segments; one written before holds every report itself."""
MANIFEST = "manifest.json"
SEGMENT_DIR = "catalog"
FANOUT = 8
"""Level ``i`` (0 = newest) of the segment list holds at most ``FANOUT ** (i + 1)`` entries before it is merged upward."""


@dataclass
class Segment:
    """What one segment adds to the versions that list it (after the segments before it), and what it removes."""

    reports: list[dict[str, Any]]
    """ReportMeta records, in manifest order."""
    parts: dict[str, str]
    """report_id → part path, same order."""
    counts: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    """Reports of earlier segments no longer live (a report added again needs none: it replaces its earlier entry)."""

    @property
    def size(self) -> int:
        return len(self.reports) + len(self.removed)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "reports": self.reports, "parts": self.parts, "counts": self.counts, "removed": self.removed}


_SEGMENTS: OrderedDict[str, Segment] = OrderedDict()
"""Segments read or written by this process (a segment never changes; the writer's next commit reads none again)."""
_ASSEMBLED: dict[str, dict[str, Any]] = {}
"""The last version this process wrote or read for writing, assembled (one entry)."""
_CACHE_SEGMENTS = 64


def _remember(key: str, seg: Segment) -> None:
    _SEGMENTS[key] = seg
    _SEGMENTS.move_to_end(key)
    while len(_SEGMENTS) > _CACHE_SEGMENTS:
        _SEGMENTS.popitem(last=False)


def _segment_key(root: Path, name: str) -> str:
    return str(Path(root).resolve() / SEGMENT_DIR / name)


def read_segment(root: Path, name: str, *, cache: bool = True) -> Segment:
    """One segment's entries (raises OSError/ValueError/KeyError when missing or of another format)."""
    key = _segment_key(root, name)
    got = _SEGMENTS.get(key) if cache else None
    if got is not None:
        _SEGMENTS.move_to_end(key)
        return got
    d = json.loads((Path(key) / MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"catalog segment {name} is of another format")
    seg = Segment(list(d["reports"]), dict(d["parts"]), dict(d.get("counts") or {}), [str(x) for x in d.get("removed") or []])
    if cache:
        _remember(key, seg)
    return seg


def is_segmented(man: Any) -> bool:
    return isinstance(man, dict) and man.get("format") == FORMAT and isinstance(man.get("segments"), list)


def replay(segments: list[Segment]) -> Segment:
    """The segments applied in order: what they make live (in manifest order) and the removals left over."""
    rows: dict[str, dict[str, Any]] = {}
    parts: dict[str, str] = {}
    counts: dict[str, Any] = {}
    removed: dict[str, None] = {}
    for s in segments:
        for rid in s.removed:
            rows.pop(rid, None), parts.pop(rid, None), counts.pop(rid, None)
            removed[rid] = None
        for r in s.reports:
            rid = r["report_id"]
            rows.pop(rid, None), parts.pop(rid, None), counts.pop(rid, None), removed.pop(rid, None)
            rows[rid] = r
            parts[rid] = s.parts[rid]
            if rid in s.counts:
                counts[rid] = s.counts[rid]
    return Segment(list(rows.values()), parts, counts, list(removed))


def read_manifest(version_dir: Path, *, cache: bool = False, keep: bool = True) -> dict[str, Any]:
    """A version's manifest ``{"reports", "parts", "counts"}``, assembled from its segments (or as written
    before segments). ``cache``: use and keep what this process read or wrote before (the writer's path);
    without it the files are read. ``keep``: with ``cache``, keep the assembled manifest as the one to commit on."""
    v = Path(version_dir)
    key = str(v.resolve())
    got = _ASSEMBLED.get(key) if cache else None
    if got is not None:
        return got
    man = json.loads((v / MANIFEST).read_text(encoding="utf-8"))
    if not is_segmented(man):
        return man  # type: ignore[no-any-return]
    live = replay([read_segment(v.parent, str(s["name"]), cache=cache) for s in man["segments"]])
    out = {"format": FORMAT, "reports": live.reports, "parts": live.parts, "counts": live.counts, "segments": man["segments"]}
    if cache and keep:
        _ASSEMBLED.clear()
        _ASSEMBLED[key] = out
    return out


def remember_version(
    version_dir: Path, manifest: dict[str, Any], rows: list[dict[str, Any]], parts: dict[str, str], counts: dict[str, Any]
) -> None:
    """The version just published, assembled, for this process's next commit (not read back)."""
    _ASSEMBLED.clear()
    _ASSEMBLED[str(Path(version_dir).resolve())] = {
        "format": FORMAT, "reports": list(rows), "parts": dict(parts), "counts": dict(counts), "segments": manifest["segments"]
    }  # fmt: skip


def segment_names(version_dir: Path) -> list[str] | None:
    """The segments a version lists ([] for one written before segments); None when its manifest is unreadable."""
    try:
        man = json.loads((Path(version_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [str(s["name"]) for s in man["segments"]] if is_segmented(man) else []


def _new_segment_name() -> str:
    return f"s-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _plan(sizes: list[int], delta: int) -> list[list[int]]:
    """Groups of consecutive segments to merge (indices; ``len(sizes)`` is the delta), oldest first.

    Leveled: the newest level takes the delta while it fits ``FANOUT`` entries, else moves up a level
    (merged into that one when both fit its ``FANOUT ** (i + 1)``, else pushing it further up): a commit
    rewrites ``FANOUT`` entries most times and a level ``FANOUT`` times larger every ``FANOUT`` times less
    often, so the cost per commit is amortized O(log N) and a version lists about log_FANOUT(N) segments.
    """
    size = [*sizes, delta]
    levels: list[list[int]] = [[i] for i in reversed(range(len(sizes)))]  # newest first

    def weight(g: list[int]) -> int:
        return sum(size[i] for i in g)

    def place(carry: list[int], i: int) -> None:
        if i == len(levels):
            levels.append(carry)
        elif weight(levels[i]) + weight(carry) <= FANOUT ** (i + 1):
            levels[i] = levels[i] + carry
        else:
            place(levels[i], i + 1)
            levels[i] = carry

    place([len(sizes)], 0)
    return list(reversed(levels))


def stage_version(
    root: Path,
    staged: Path,
    rows: list[dict[str, Any]],
    parts: dict[str, str],
    counts: dict[str, Any],
    previous: Path | None,
    previous_parts: dict[str, str] | None,
    schema: pa.Schema,
    *,
    owner: str = "",
) -> tuple[dict[str, Any], list[str]]:
    """The new version's manifest (its segment list) and the names of the segments written for it into ``staged``
    (the caller moves them under ``root/catalog/`` before publishing the version).

    Only what changed since ``previous`` is written (one delta segment, merged with the newest small ones, see
    ``_plan``); the segments of ``previous`` are shared. A previous version written before segments (or a change
    that is not "some removed, some added at the end") is written as one segment, from its catalog where it has one.
    """
    root, staged = Path(root), Path(staged)
    rules = rules_fingerprint()
    prev = read_manifest(previous, cache=True) if previous is not None and (Path(previous) / MANIFEST).exists() else None
    order = list(parts)
    delta: Segment | None = None
    if is_segmented(prev) and previous_parts is not None and [r["report_id"] for r in rows] == order:
        kept = [rid for rid, p in previous_parts.items() if parts.get(rid) == p]
        added = order[len(kept) :]
        if kept == order[: len(kept)]:
            removed = [rid for rid in previous_parts if rid not in parts]
            delta = Segment(
                rows[len(kept) :], {r: parts[r] for r in added}, {r: counts[r] for r in added if r in counts}, removed
            )
    if delta is None or prev is None:
        sources = _sources(Path(previous)) if previous is not None else []
        seg = Segment(list(rows), dict(parts), {r: counts[r] for r in parts if r in counts})
        name = _write_segment(root, staged, seg, sources, schema, rules, owner)
        return {"format": FORMAT, "segments": [{"name": name, "size": seg.size, "rules": rules}], "reports": len(rows)}, [name]
    metas: list[dict[str, Any]] = list(prev["segments"])
    groups = _plan([int(m.get("size", 0)) for m in metas], delta.size)
    out: list[dict[str, Any]] = []
    written: list[str] = []
    older: list[Segment] = []
    for g in groups:
        members = [delta if i == len(metas) else read_segment(root, str(metas[i]["name"])) for i in g]
        if len(g) == 1 and g[0] < len(metas) and metas[g[0]].get("rules") == rules:
            out.append(metas[g[0]])  # shared with the previous version: not read, not written
            older.extend(members)
            continue
        merged = replay(members)
        merged.removed = [rid for rid in merged.removed if any(rid in s.parts for s in older)]
        older.extend(members)
        if not merged.size:
            continue
        sources = [root / SEGMENT_DIR / str(metas[i]["name"]) for i in g if i < len(metas)]
        name = _write_segment(root, staged, merged, sources, schema, rules, owner)
        out.append({"name": name, "size": merged.size, "rules": rules})
        written.append(name)
    return {"format": FORMAT, "segments": out, "reports": len(rows)}, written


def _write_segment(root: Path, staged: Path, seg: Segment, sources: list[Path], schema: pa.Schema, rules: str, owner: str) -> str:
    """One segment folder in ``staged``: its entries, and the tables, summaries, department aliases and place
    words of its parts (taken from ``sources`` where they hold them, else read from the parts or computed)."""
    name = _new_segment_name()
    d = staged / name
    d.mkdir(parents=True)
    order = list(dict.fromkeys(seg.parts.values()))
    want = set(order)
    out_schema = schema.append(pa.field(PART_COL, pa.string()))
    tabs: list[pa.Table] = []
    covered: set[str] = set()
    sums: dict[str, Any] = {}
    aliases: dict[str, Any] = {}
    places: dict[str, Any] = {}
    for src in sources:
        f = src / TABLES
        try:
            cov = (set(_covered(f)) & want) - covered if f.exists() else set()
            if cov:
                t = pq.read_table(f)
                t = t.filter(pc.is_in(t.column(PART_COL), value_set=pa.array(sorted(cov), pa.string())))
                tabs.append(t.select(out_schema.names).cast(out_schema))
                covered |= cov
        except (OSError, ValueError, KeyError, pa.ArrowException) as e:
            log.warning("catalog tables %s unreadable (%s); reading its parts", f, e)
        for p, s in (_summaries_file(src / SUMMARIES) or {}).items():
            if p in want:
                sums.setdefault(p, s)
        dep = _read_departments_file(src / DEPARTMENTS)
        if dep is not None:
            aliases.update(dep["aliases"])
            places.update(dep["places"])
    tabs.append(_part_tables(root, [p for p in order if p not in covered], schema))
    combined = _in_order(pa.concat_tables(tabs), order)
    meta = {_META_KEY: json.dumps(order, ensure_ascii=False).encode("utf-8")}
    pq.write_table(combined.replace_schema_metadata(meta), d / TABLES)
    summaries = {p: (sums[p] if p in sums else _read_summary(root, p)) for p in order}
    (d / SUMMARIES).write_text(json.dumps({"parts": summaries}, ensure_ascii=False), encoding="utf-8")
    pairs = [(str(r.get("department") or ""), str(r.get("place") or "")) for r in seg.reports]
    out_places: dict[str, Any] = {}
    for dp, pl in pairs:
        k = _place_key(dp, pl)
        if k not in out_places:
            out_places[k] = places[k] if k in places else [list(x) for x in department_place_words(dp, pl)]
    dep_out = {
        "rules": rules,
        "aliases": {
            dp: (list(aliases[dp]) if dp in aliases else sorted(department_aliases_zh(dp)))
            for dp in dict.fromkeys(x for x, _ in pairs)
        },
        "places": out_places,
    }
    (d / DEPARTMENTS).write_text(json.dumps(dep_out, ensure_ascii=False), encoding="utf-8")
    (d / MANIFEST).write_text(json.dumps(seg.to_json(), ensure_ascii=False), encoding="utf-8")
    if owner:
        (d / "OWNER").write_text(owner, encoding="utf-8")
    _remember(_segment_key(root, name), seg)
    return name
