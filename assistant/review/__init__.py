"""Review a report the way a careful auditor would: findings tied to cells, and questions to ask.

``review_report(index, report_id)`` reads only the fact store (``index.facts``), the
identity checks (``assistant.checks.run_checks``) and the narrative chunks
(``index.chunks``) and what ingestion noted (``ReportMeta.problems``); it never calls a
model nor reads the source files again. The rule families live in ``consistency``, ``budget``,
``performance``, ``quality`` and ``compare``; records and shared helpers in ``model``;
exports in ``render``. Every finding names the cells behind it
(fact id, table, row, column, page) and proposes one or two questions in Chinese.

The rules do not trust column names to be perfect: columns are found by label
substrings (年初预算/全年预算/执行数/执行率/指标值/实际完成值/得分/分值/预算数/决算),
and where a table's header was not recognised (performance tables have their headers
in the middle of the grid) by the order of the cells in the row.

The same index gives the same review, byte for byte (``render_markdown``/``render_json``):
findings are sorted on content, never on dict or set order, and no clock is read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from assistant.errors import FiscalQAError, UnknownReportError
from assistant.models import ReportMeta
from assistant.review.budget import _project_findings, _three_public_findings
from assistant.review.compare import _peer_findings, _yoy_findings
from assistant.review.consistency import _identity_findings, _narrative_findings
from assistant.review.items import _item_findings
from assistant.review.model import (
    CATEGORY_ORDER,
    SEVERITY_ORDER,
    CellRef,
    Figure,
    Finding,
    Review,
    _Ctx,
    _facts_of,
    _id_no,
    _int_or_none,
    _rows,
    _s,
)
from assistant.review.performance import _performance_findings
from assistant.review.proofread import _proofreading_findings
from assistant.review.quality import _data_quality_findings
from assistant.review.render import render_json, render_markdown, write_docx
from assistant.review.structure import _structure_findings
from assistant.review.text import read_pages
from assistant.review.wording import _wording_findings
from assistant.store import IndexData

__all__ = [
    "CellRef",
    "Figure",
    "Finding",
    "Review",
    "main",
    "render_json",
    "render_markdown",
    "resolve_report",
    "review_report",
    "write_docx",
]

log = logging.getLogger(__name__)


def _ctx_for(index: Any, meta: ReportMeta, cache: dict[str, _Ctx]) -> _Ctx:
    if meta.report_id in cache:
        return cache[meta.report_id]
    facts_df = index.facts[index.facts.report_id == meta.report_id] if len(index.facts) else index.facts
    facts = _facts_of(facts_df)
    chunks: list[dict[str, Any]] = []
    if index.chunks is not None and len(index.chunks) and "report_id" in index.chunks:
        cdf = index.chunks[index.chunks.report_id == meta.report_id]
        cols = [c for c in ("chunk_id", "section", "page", "text") if c in cdf.columns]
        chunks = cdf[cols].to_dict("records")
        chunks.sort(key=lambda c: (_int_or_none(c.get("page")) or 0, _id_no(_s(c.get("chunk_id")))))
    ctx = _Ctx(meta=meta, facts=facts, rows=_rows(facts), chunks=chunks, problems=list(meta.problems))
    ctx.tables = _tables_of(index, meta.report_id)
    cache[meta.report_id] = ctx
    return ctx


def _tables_of(index: Any, report_id: str) -> list[dict[str, Any]]:
    """The report's tables (``TableInfo`` rows) in the order they are printed."""
    tables = getattr(index, "tables", None)
    if tables is None or not len(tables) or "report_id" not in tables:
        return []
    rows = tables[tables.report_id == report_id].to_dict("records")
    for i, r in enumerate(rows):
        pages = [int(p) for p in (r.get("pages") if r.get("pages") is not None else [])]
        r["pages"] = pages
        r["order"] = i
    return sorted(rows, key=lambda r: (r["pages"][0] if r["pages"] else 10**6, r["order"]))


def resolve_report(index: IndexData, report: str) -> ReportMeta:
    """A report id, or a unique department / id substring, → its ReportMeta."""
    exact = [r for r in index.reports if r.report_id == report]
    if exact:
        return exact[0]
    hits = [r for r in index.reports if report in r.report_id or report in r.department]
    if len(hits) == 1:
        return hits[0]
    known = sorted(r.report_id for r in (hits or index.reports))
    if hits:
        raise FiscalQAError(f"{report!r} matches {len(hits)} reports: {', '.join(known)}; give the report id")
    raise UnknownReportError(report, known)


def review_report(index: IndexData, report_id: str) -> Review:
    """Findings and suggested questions for one ingested report."""
    meta = resolve_report(index, report_id)
    cache: dict[str, _Ctx] = {}
    ctx = _ctx_for(index, meta, cache)
    facts_df = index.facts[index.facts.report_id == meta.report_id] if len(index.facts) else index.facts
    # the checks list parts in the order they meet them: give them the facts in table order, however stored
    order = {f.fact_id: i for i, f in enumerate(ctx.facts)}
    facts_df = facts_df.iloc[sorted(range(len(facts_df)), key=lambda i: order.get(facts_df.fact_id.iat[i], -1))]
    run, passed = _identity_findings(ctx, facts_df)
    ctx.pages = read_pages(index, meta)
    ctx.reading = read_pages(index, meta, by_baseline=True)
    steps = (
        _three_public_findings,
        _project_findings,
        _performance_findings,
        _data_quality_findings,
        _narrative_findings,
        _structure_findings,
        _item_findings,
        _wording_findings,
        _proofreading_findings,
    )
    for step in steps:
        try:
            step(ctx)
        except Exception as e:  # one broken rule must not hide the others
            log.exception("review rule %s failed on %s", step.__name__, meta.report_id)
            ctx.notes.append(f"规则 {step.__name__} 出错：{type(e).__name__}: {e}")
    compared: list[str] = []
    for step2 in (_yoy_findings, _peer_findings):
        try:
            compared.extend(step2(ctx, index, lambda m: _ctx_for(index, m, cache)))
        except Exception as e:
            log.exception("review rule %s failed on %s", step2.__name__, meta.report_id)
            ctx.notes.append(f"规则 {step2.__name__} 出错：{type(e).__name__}: {e}")
    if not ctx.facts:
        ctx.notes.append("该报告没有提取到表格数字，无法审查。")
    findings = _finalize(ctx.findings)
    return Review(
        report_id=meta.report_id,
        department=meta.department,
        year=meta.year,
        kind=meta.kind,
        findings=findings,
        checks_run=run,
        checks_passed=passed,
        compared_with=sorted(set(compared)),
        notes=ctx.notes,
    )


def _finalize(findings: list[Finding]) -> list[Finding]:
    uniq: dict[str, Finding] = {}
    for f in findings:
        uniq.setdefault(f.key or f.title, f)
    out = sorted(
        uniq.values(),
        key=lambda f: (SEVERITY_ORDER.index(f.severity), CATEGORY_ORDER.index(f.category), f.key, f.title),
    )
    for i, f in enumerate(out, 1):
        f.id = f"F{i:02d}"
    return out


def main(args: argparse.Namespace) -> int:
    """``fiscal-qa review REPORT [--index DIR] [--format md|json|docx] [--out FILE]``."""
    from assistant.settings import Settings
    from assistant.store import load_index

    index = load_index(Path(args.index) if getattr(args, "index", None) else Settings.from_env().index_dir)
    review = review_report(index, args.report)
    fmt = getattr(args, "format", "md") or "md"
    out = getattr(args, "out", None)
    if fmt == "docx":
        target = Path(out) if out else Path(f"review_{review.report_id}.docx")
        write_docx(review, target)
        sys.stderr.write(f"{len(review.findings)} findings written to {target}\n")
        return 0
    text = render_markdown(review) if fmt == "md" else render_json(review)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        sys.stderr.write(f"{len(review.findings)} findings written to {out}\n")
    else:
        sys.stdout.write(text)
    return 0
