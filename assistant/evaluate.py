"""Score the gold question set: ``fiscal-qa eval``.

The gold set (``eval/gold.jsonl``, see ``eval/README.md``) holds questions over the
report corpus with the expected route and either the expected figure (value + unit,
read by hand from the published page) or the expected section and keywords.

Scoring rules (the tests in ``tests/test_evaluate.py`` pin them down):

- **numeric** — a figure scores only when the answer's ``value`` equals the expected
  value exactly after rounding the answer to the published decimals (FinGLM's rule).
  The unit must match: money is compared in 元 (so 50.00 万元 = 500,000 元, and a
  元 table's 156,211,123 元 needs every yuan), ``%`` only with ``%``, counts only with
  the same count word (个/批次, 人/人次 accepted as the same). ``sign_free`` gold items
  (differences phrased as "少多少") accept either sign.
- **route** — the answer's route must be the gold route or one of ``route_alt``.
- **recall@5** — for gold items with a ``section``: the expected section substring is in
  one of the top-5 retrieved sections (``Answer.meta["retrieved"]``, a list of
  ``{chunk_id, section, page}``; passage citations are the fallback).
- **unanswerable** — correct when the route is ``none`` or the answer says the figure is
  not published / the reports do not say, and the answer carries no value.
- descriptive (and the text part of mixed and ranking items) — a keyword of the gold item
  appears in the answer (whitespace-insensitive).

Latency is measured warm (after a warm-up question of each route) per question; cold
start (process start to first answer) is measured by ``eval/bench_latency.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from assistant.errors import EvalError
from assistant.models import Answer
from assistant.settings import REPO_DIR, SAMPLE_REPORT, Settings

log = logging.getLogger(__name__)

GOLD_FILE = REPO_DIR / "eval" / "gold.jsonl"
SAMPLE_ID = SAMPLE_REPORT.stem
"""Report id of the bundled sample; gold items with this ``report`` form the ``--sample-only`` subset."""

TARGETS: dict[str, float] = {"numeric": 0.95, "route": 0.98, "recall_at_5": 0.95}
CATEGORIES = (
    "numeric_lookup",
    "computed",
    "ranking",
    "descriptive",
    "mixed",
    "english",
    "traditional",
    "followup",
    "unanswerable",
)
ROUTES = ("table", "text", "both", "none")

MONEY_UNITS: dict[str, Decimal] = {"元": Decimal(1), "万元": Decimal(10_000), "亿元": Decimal(100_000_000)}
_UNIT_ALIASES: dict[str, str] = {
    "％": "%",
    "percent": "%",
    "pct": "%",
    "yuan": "元",
    "rmb": "元",
    "cny": "元",
    "万": "万元",
    "10k yuan": "万元",
    "亿": "亿元",
    "批次": "个",
    "批": "个",
    "人次": "人",
}

NOT_PUBLISHED_PHRASES = (
    "未公开",
    "没有公开",
    "不公开",
    "未披露",
    "没有披露",
    "未发布",
    "没有发布",
    "未列示",
    "没有列示",
    "未提及",
    "没有提及",
    "没有涉及",
    "未涉及",
    "没有找到",
    "未找到",
    "找不到",
    "没有相关",
    "无相关",
    "未收录",
    "没有收录",
    "未导入",
    "没有导入",
    "未入库",
    "没有说明",
    "并未说明",
    "无法回答",
    "不能回答",
    "报告中没有",
    "报告没有",
    "报告未",
    "not published",
    "not disclosed",
    "do not say",
    "does not say",
    "don't say",
    "doesn't say",
    "not mentioned",
    "not found",
    "no ingested report",
    "not ingested",
    "cannot answer",
    "can't answer",
    "no information",
    "not in the",
)


# --------------------------------------------------------------------------- gold


@dataclass
class GoldItem:
    """One gold question (a line of ``eval/gold.jsonl``)."""

    id: str
    category: str
    question: str
    lang: str
    route: str
    report: str | None
    value: Decimal | None
    unit: str | None
    section: str | list[str] | None = None
    keywords: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    source: str = ""
    route_alt: list[str] = field(default_factory=list)
    sign_free: bool = False
    reports: list[str] = field(default_factory=list)
    """Every report the question needs (rankings, year-over-year); defaults to ``[report]``."""

    @property
    def needed_reports(self) -> set[str]:
        ids = set(self.reports)
        if self.report:
            ids.add(self.report)
        return ids

    @property
    def is_sample(self) -> bool:
        return self.report == SAMPLE_ID and self.needed_reports <= {SAMPLE_ID}

    @property
    def accepted_routes(self) -> set[str]:
        return {self.route, *self.route_alt}


def _to_decimal(v: Any) -> Decimal | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return v
    try:
        return Decimal(str(v))
    except InvalidOperation as e:
        raise EvalError(f"gold value {v!r} is not a number") from e


def load_gold(path: Path | str = GOLD_FILE) -> list[GoldItem]:
    """Read and validate the gold file. Values keep their printed decimals (``50.00`` stays ``Decimal('50.00')``)."""
    path = Path(path)
    if not path.exists():
        raise EvalError(f"no gold file at {path}; pass --gold FILE (the repository ships eval/gold.jsonl)")
    items: list[GoldItem] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as e:
            raise EvalError(f"{path}:{n}: not valid JSON ({e.msg}); one JSON object per line") from e
        try:
            item = GoldItem(
                id=str(d["id"]),
                category=d["category"],
                question=d["question"],
                lang=d.get("lang", "zh"),
                route=d["route"],
                report=d.get("report"),
                value=_to_decimal(d.get("value")),
                unit=d.get("unit"),
                section=d.get("section"),
                keywords=list(d.get("keywords") or []),
                history=list(d.get("history") or []),
                source=d.get("source", ""),
                route_alt=list(d.get("route_alt") or []),
                sign_free=bool(d.get("sign_free", False)),
                reports=list(d.get("reports") or []),
            )
        except KeyError as e:
            raise EvalError(f"{path}:{n}: missing field {e}; see eval/README.md for the fields") from e
        problems = []
        if item.id in seen:
            problems.append(f"duplicate id {item.id}")
        if item.category not in CATEGORIES:
            problems.append(f"unknown category {item.category!r}")
        if item.route not in ROUTES or any(r not in ROUTES for r in item.route_alt):
            problems.append(f"route must be one of {ROUTES}")
        if item.value is not None and not item.unit:
            problems.append("a value needs a unit")
        if problems:
            raise EvalError(f"{path}:{n}: " + "; ".join(problems))
        seen.add(item.id)
        items.append(item)
    return items


# --------------------------------------------------------------------------- rules


def normalize_unit(unit: str | None) -> str:
    """Canonical spelling of a unit ('' when none)."""
    u = (unit or "").strip()
    u = re.sub(r"^[（(](.*)[)）]$", r"\1", u).strip()
    return _UNIT_ALIASES.get(u.lower(), _UNIT_ALIASES.get(u, u))


def _decimals(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def value_correct(
    expected: Decimal | float | str | None,
    expected_unit: str | None,
    got: float | Decimal | None,
    got_unit: str | None,
    *,
    sign_free: bool = False,
) -> bool:
    """FinGLM rule: the answer, rounded to the expected value's published decimals, equals it exactly; units must agree."""
    exp = _to_decimal(expected)
    if exp is None or got is None:
        return False
    if isinstance(got, float) and (math.isnan(got) or math.isinf(got)):
        return False
    g = got if isinstance(got, Decimal) else Decimal(repr(float(got)))
    eu, gu = normalize_unit(expected_unit), normalize_unit(got_unit)
    if eu in MONEY_UNITS and gu in MONEY_UNITS:
        g = g * MONEY_UNITS[gu] / MONEY_UNITS[eu]
    elif eu != gu:
        return False
    q = Decimal(1).scaleb(-_decimals(exp))
    g_r = g.quantize(q, rounding=ROUND_HALF_UP)
    e_r = exp.quantize(q, rounding=ROUND_HALF_UP)
    if sign_free:
        return abs(g_r) == abs(e_r)
    return g_r == e_r


def route_correct(item: GoldItem, route: str | None) -> bool:
    return route in item.accepted_routes


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text or "").lower()


def keywords_found(text: str, keywords: Iterable[str]) -> bool:
    """Any keyword in ``text`` (whitespace- and case-insensitive); True when there are no keywords."""
    kws = [k for k in keywords if k]
    if not kws:
        return True
    t = _squash(text)
    return any(_squash(k) in t for k in kws)


_INGESTED_LIST = re.compile(r"(?:已收录[:：][^。]*。?|Ingested:[^\n]*?(?:\.(?=\s|$)|$))")


def without_ingested_list(text: str) -> str:
    """The answer without the list of ingested reports a refusal appends (its names are not an answer)."""
    return _INGESTED_LIST.sub(" ", text or "")


def says_not_published(text: str) -> bool:
    t = _squash(text)
    return any(_squash(p) in t for p in NOT_PUBLISHED_PHRASES)


def retrieved_sections(answer: Answer) -> list[str]:
    """Sections of the retrieved passages, best first: ``meta["retrieved"]``, else passage citations."""
    got = answer.meta.get("retrieved") if isinstance(answer.meta, dict) else None
    if isinstance(got, list) and got:
        out = []
        for r in got:
            if isinstance(r, dict):
                out.append(str(r.get("section") or ""))
            else:
                out.append(str(getattr(r, "section", "") or ""))
        return out
    return [c.section for c in answer.citations if c.section]


def recall_hit(item: GoldItem, answer: Answer, k: int = 5) -> bool | None:
    """Whether the gold section is among the top-``k`` retrieved sections; None when the item names no section."""
    if not item.section:
        return None
    wanted = [item.section] if isinstance(item.section, str) else list(item.section)
    top = [_squash(s) for s in retrieved_sections(answer)[:k]]
    return any(_squash(w) in s for w in wanted for s in top)


@dataclass
class ItemResult:
    """How one gold question fared."""

    id: str
    category: str
    question: str
    route_gold: str
    route: str | None
    route_ok: bool
    correct: bool
    value_ok: bool | None = None
    """None when the gold item has no value."""
    recall: bool | None = None
    """None when the gold item names no section."""
    latency_ms: float = 0.0
    expected: str | None = None
    got: str | None = None
    answer: str = ""
    error: str | None = None
    is_sample: bool = False


def score_answer(item: GoldItem, answer: Answer | None, *, latency_ms: float = 0.0, error: str | None = None) -> ItemResult:
    """Score one answer against its gold item."""
    expected = f"{item.value} {item.unit}" if item.value is not None else None
    if answer is None:
        return ItemResult(
            id=item.id,
            category=item.category,
            question=item.question,
            route_gold=item.route,
            route=None,
            route_ok=False,
            correct=False,
            value_ok=False if item.value is not None else None,
            recall=False if item.section else None,
            latency_ms=latency_ms,
            expected=expected,
            error=error or "no answer",
            is_sample=item.is_sample,
        )
    text = answer.answer or ""
    scored = without_ingested_list(text)  # keywords must come from the answer, not from the list of reports
    route_ok = route_correct(item, answer.route)
    value_ok = (
        value_correct(item.value, item.unit, answer.value, answer.unit, sign_free=item.sign_free)
        if item.value is not None
        else None
    )
    recall = recall_hit(item, answer)
    if item.category == "unanswerable":
        correct = (answer.route == "none" or says_not_published(text)) and answer.value is None
    elif item.value is not None:
        correct = bool(value_ok) and keywords_found(scored, item.keywords)
    elif item.keywords:
        correct = keywords_found(scored, item.keywords)
    elif recall is not None:
        correct = recall
    else:
        correct = bool(text.strip())
    got = f"{answer.value} {answer.unit or ''}".strip() if answer.value is not None else None
    return ItemResult(
        id=item.id,
        category=item.category,
        question=item.question,
        route_gold=item.route,
        route=answer.route,
        route_ok=route_ok,
        correct=correct,
        value_ok=value_ok,
        recall=recall,
        latency_ms=latency_ms,
        expected=expected,
        got=got,
        answer=text[:300],
        error=error,
        is_sample=item.is_sample,
    )


# --------------------------------------------------------------------------- summary


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear-interpolated percentile (``p`` in 0..100); None for no values."""
    if not values:
        return None
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _frac(flags: Iterable[bool | None]) -> tuple[int, int]:
    vals = [f for f in flags if f is not None]
    return sum(1 for f in vals if f), len(vals)


@dataclass
class RunSummary:
    """Metrics of one run over the gold set."""

    questions: int
    overall: float
    numeric: float | None
    route: float
    recall_at_5: float | None
    categories: dict[str, dict[str, float | int]]
    latency_ms: dict[str, float | None]
    counts: dict[str, tuple[int, int]]
    passed: bool
    below_target: list[str]
    errors: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["counts"] = {k: {"correct": c, "total": t} for k, (c, t) in self.counts.items()}
        return d


def summarize(results: Sequence[ItemResult], targets: dict[str, float] = TARGETS) -> RunSummary:
    """Per-category and overall accuracy, numeric accuracy, route accuracy, recall@5, latency percentiles."""
    n = len(results)
    c_all, _ = _frac(r.correct for r in results)
    num = _frac(r.value_ok for r in results)
    rte = _frac(r.route_ok for r in results)
    rec = _frac(r.recall for r in results)
    cats: dict[str, dict[str, float | int]] = {}
    for cat in CATEGORIES:
        rs = [r for r in results if r.category == cat]
        if rs:
            c, t = _frac(r.correct for r in rs)
            cats[cat] = {"correct": c, "total": t, "accuracy": c / t}
    lat = [r.latency_ms for r in results if r.error is None]
    lat_table = [r.latency_ms for r in results if r.error is None and r.route_gold == "table"]
    lat_text = [r.latency_ms for r in results if r.error is None and r.route_gold in ("text", "both")]
    latency = {
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "table_p50": percentile(lat_table, 50),
        "table_p95": percentile(lat_table, 95),
        "text_p50": percentile(lat_text, 50),
        "text_p95": percentile(lat_text, 95),
    }
    metrics = {
        "numeric": num[0] / num[1] if num[1] else None,
        "route": rte[0] / rte[1] if rte[1] else 0.0,
        "recall_at_5": rec[0] / rec[1] if rec[1] else None,
    }
    below = [k for k, t in targets.items() if metrics.get(k) is not None and metrics[k] < t]  # type: ignore[operator]
    failures = [
        {
            "id": r.id,
            "category": r.category,
            "question": r.question,
            "expected": r.expected,
            "got": r.got,
            "route": f"{r.route} (gold {r.route_gold})",
            "value_ok": r.value_ok,
            "route_ok": r.route_ok,
            "recall": r.recall,
            "answer": r.answer[:160],
            "error": r.error,
        }
        for r in results
        if not (r.correct and r.route_ok and r.recall is not False)
    ]
    return RunSummary(
        questions=n,
        overall=c_all / n if n else 0.0,
        numeric=metrics["numeric"],
        route=metrics["route"] or 0.0,
        recall_at_5=metrics["recall_at_5"],
        categories=cats,
        latency_ms=latency,
        counts={"overall": (c_all, n), "numeric": num, "route": rte, "recall_at_5": rec},
        passed=not below and n > 0,
        below_target=below,
        errors=sum(1 for r in results if r.error),
        failures=failures,
    )


# --------------------------------------------------------------------------- running

AskFn = Callable[..., Answer]


def run_gold(items: Sequence[GoldItem], ask_fn: AskFn, *, index: Any, llm: Any = None, warmup: bool = True) -> list[ItemResult]:
    """Ask every gold question (follow-ups after their history) and score the answers. Never raises on a bad answer."""
    if warmup:
        for route in ("table", "text"):
            it = next((i for i in items if i.route == route and not i.history), None)
            if it is not None:
                try:
                    ask_fn(it.question, index=index, history=None, llm=llm)
                except Exception:  # the scored call reports it
                    log.debug("warm-up question failed", exc_info=True)
    results: list[ItemResult] = []
    for item in items:
        history: list[tuple[str, Answer]] = []
        try:
            for prev in item.history:
                history.append((prev, ask_fn(prev, index=index, history=list(history) or None, llm=llm)))
            t0 = time.perf_counter()
            answer = ask_fn(item.question, index=index, history=history or None, llm=llm)
            ms = (time.perf_counter() - t0) * 1000
        except NotImplementedError:
            raise
        except Exception as e:  # a crash is a wrong answer, reported by id
            log.debug("question %s raised", item.id, exc_info=True)
            results.append(score_answer(item, None, error=f"{type(e).__name__}: {e}"))
            continue
        if not isinstance(answer, Answer):
            results.append(score_answer(item, None, latency_ms=ms, error=f"ask returned {type(answer).__name__}, not Answer"))
            continue
        results.append(score_answer(item, answer, latency_ms=ms))
    return results


def default_reports_dir() -> Path:
    """The shared report corpus (``$FISCALQA_SHARED_REPORTS`` or ``../shared/reports`` beside the repository)."""
    return Path(os.environ.get("FISCALQA_SHARED_REPORTS", REPO_DIR.parent / "shared" / "reports"))


def _report_files(folder: Path) -> dict[str, list[Path]]:
    """Report id → its files in ``folder`` (split Jiangsu reports grouped)."""
    from assistant.ingest import collect_files, group_files, report_id_for

    return {report_id_for(g): g for g in group_files(collect_files([folder]))} if folder.is_dir() else {}


def _cache_dir(files: Sequence[Path]) -> Path:
    h = hashlib.sha256()
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return Path(tempfile.gettempdir()) / f"fiscalqa-eval-{h.hexdigest()[:12]}"


def ensure_index(needed: set[str], *, index_dir: Path | None, reports_dir: Path | None) -> tuple[Any, set[str], str]:
    """Load (building or completing when needed) an index holding ``needed`` reports.

    Returns (IndexData, the report ids available, a note for the user). With ``index_dir`` the
    missing reports are ingested into it; without, into a cache folder in the temp directory
    (reused across runs while the source files are unchanged). Reports that cannot be found are
    left out, and their questions skipped by the caller.
    """
    from assistant.ingest import ingest_paths
    from assistant.store import current_version, load_index

    sources: dict[str, list[Path]] = {}
    folder = reports_dir or default_reports_dir()
    sources.update(_report_files(folder))
    if SAMPLE_REPORT.exists():
        sources.setdefault(SAMPLE_ID, [SAMPLE_REPORT])

    if index_dir is None:
        wanted_files = [f for rid in sorted(needed) for f in sources.get(rid, [])]
        index_dir = _cache_dir(wanted_files or [SAMPLE_REPORT])
    have: set[str] = set()
    if current_version(index_dir) is not None:
        have = {r.report_id for r in load_index(index_dir).reports}
    missing = needed - have
    to_ingest = [f for rid in sorted(missing) for f in sources.get(rid, [])]
    note = ""
    if to_ingest:
        log.info("ingesting %d file(s) into %s", len(to_ingest), index_dir)
        res = ingest_paths(to_ingest, index_dir, show_progress=False)
        if res.failures:
            note += "ingest failures: " + "; ".join(f"{f.path}: {f.reason}" for f in res.failures) + ". "
    idx = load_index(index_dir)
    available = {r.report_id for r in idx.reports}
    unavailable = needed - available
    if unavailable:
        note += f"{len(unavailable)} report(s) not found (looked in {folder}): {', '.join(sorted(unavailable))}. "
    note += f"index: {index_dir}"
    return idx, available, note


def select_items(items: Sequence[GoldItem], *, sample_only: bool) -> list[GoldItem]:
    return [i for i in items if i.is_sample] if sample_only else list(items)


# --------------------------------------------------------------------------- output


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def render_table(runs: dict[str, RunSummary], *, title: str) -> Any:
    """A rich table: one column per run (deterministic, llm)."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("metric")
    t.add_column("target", justify="right")
    for name in runs:
        t.add_column(name, justify="right")

    def row(label: str, target: str, cells: list[str]) -> None:
        t.add_row(label, target, *cells)

    rs = list(runs.values())
    row("questions", "", [str(r.questions) for r in rs])
    for cat in CATEGORIES:
        if any(cat in r.categories for r in rs):
            row(
                f"  {cat}",
                "",
                [
                    f"{_pct(r.categories[cat]['accuracy'])} ({r.categories[cat]['correct']}/{r.categories[cat]['total']})"
                    if cat in r.categories
                    else "—"
                    for r in rs
                ],
            )
    row("overall accuracy", "", [f"{_pct(r.overall)} ({r.counts['overall'][0]}/{r.counts['overall'][1]})" for r in rs])
    for key, label in (("numeric", "numeric (exact value)"), ("route", "route accuracy"), ("recall_at_5", "retrieval recall@5")):
        cells = []
        for r in rs:
            c, tot = r.counts[key]
            v = getattr(r, key)
            mark = "" if v is None or key not in TARGETS else (" ✓" if v >= TARGETS[key] else " ✗")
            cells.append(f"{_pct(v)} ({c}/{tot}){mark}")
        row(label, f"≥ {TARGETS[key] * 100:.0f}%", cells)
    row("latency p50 / p95 (warm)", "", [f"{_ms(r.latency_ms['p50'])} / {_ms(r.latency_ms['p95'])}" for r in rs])
    row("  table questions p50", "≤ 50 ms", [_ms(r.latency_ms["table_p50"]) for r in rs])
    row("  text questions p50", "≤ 300 ms", [_ms(r.latency_ms["text_p50"]) for r in rs])
    row("errors (exceptions)", "0", [str(r.errors) for r in rs])
    return t


def render_failures(name: str, summary: RunSummary, limit: int = 250) -> list[str]:
    """One line per question that was not fully right (wrong answer, wrong route or retrieval miss)."""
    fs = summary.failures
    lines = [f"{name}: {len(fs)} question(s) not fully right" + (f" (first {limit})" if len(fs) > limit else "")]
    for f in fs[:limit]:
        flags = [k for k, ok in (("value", f["value_ok"]), ("route", f["route_ok"]), ("recall@5", f["recall"])) if ok is False]
        what = f["error"] or (f["answer"] or "").replace("\n", " ")[:100]
        lines.append(
            f"  {f['id']} [{', '.join(flags) or 'answer'}] expected {f['expected'] or '—'}, got {f['got'] or '—'}; "
            f"route {f['route']}; {f['question']} → {what}"
        )
    return lines


# --------------------------------------------------------------------------- CLI


def main(args: argparse.Namespace) -> int:
    """``fiscal-qa eval``: score the gold set; ``--enforce`` exits 1 below the targets."""
    from rich.console import Console

    out = Console(soft_wrap=True, highlight=False)
    err = Console(stderr=True, soft_wrap=True, highlight=False)

    items = load_gold(Path(args.gold) if getattr(args, "gold", None) else GOLD_FILE)
    items = select_items(items, sample_only=bool(getattr(args, "sample_only", False)))
    if not items:
        raise EvalError("no gold questions selected (is the gold file empty?)")
    needed = set().union(*(i.needed_reports for i in items))
    idx, available, note = ensure_index(
        needed,
        index_dir=Path(args.index) if getattr(args, "index", None) else None,
        reports_dir=Path(args.reports) if getattr(args, "reports", None) else None,
    )
    runnable = [i for i in items if i.needed_reports <= available]
    skipped = len(items) - len(runnable)
    if not getattr(args, "json", False):
        err.print(f"[dim]{note}[/dim]")
        if skipped:
            err.print(f"[yellow]{skipped} question(s) skipped: their reports are not available[/yellow]")

    from assistant.ask import ask

    runs: dict[str, RunSummary] = {}
    try:
        runs["deterministic"] = summarize(run_gold(runnable, ask, index=idx))
        if getattr(args, "llm", False):
            from assistant.llm import llm_from_settings

            llm = llm_from_settings(Settings.from_env())
            if llm is None:
                raise EvalError(
                    "--llm needs FISCALQA_LLM_BASE_URL and FISCALQA_LLM_MODEL (and FISCALQA_LLM_API_KEY if the endpoint wants one)"
                )
            runs["llm"] = summarize(run_gold(runnable, ask, index=idx, llm=llm))
    except NotImplementedError as e:
        raise EvalError("assistant.ask is not implemented yet; nothing to evaluate") from e

    if getattr(args, "json", False):
        # one run: its metrics at the top level; with --llm: {"deterministic": {...}, "llm": {...}}
        obj: dict[str, Any] = runs["deterministic"].to_json() if len(runs) == 1 else {n: s.to_json() for n, s in runs.items()}
        obj |= {"targets": TARGETS, "skipped": skipped, "sample_only": bool(getattr(args, "sample_only", False))}
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    else:
        title = "fiscal-qa eval — " + ("sample subset" if getattr(args, "sample_only", False) else "full gold set")
        out.print(render_table(runs, title=title))
        for name, s in runs.items():
            if s.failures:
                for line in render_failures(name, s):
                    out.print(line, markup=False)
    if getattr(args, "enforce", False):
        bad = {name: s.below_target for name, s in runs.items() if not s.passed}
        if bad:
            if not getattr(args, "json", False):
                err.print(
                    "[red]below target:[/red] " + "; ".join(f"{n}: {', '.join(b) or 'no questions'}" for n, b in bad.items())
                )
            return 1
    return 0
