"""The ``fiscal-qa`` command line. Each subcommand is a thin face over a library function."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from assistant.errors import FiscalQAError
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.ingest import IngestResult
    from assistant.models import ReportIdentity

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _index(args: argparse.Namespace) -> Path:
    return Path(args.index) if args.index else Settings.from_env().index_dir


def _can_print_chinese(stream: object) -> bool:
    try:
        "财政".encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _safe_streams() -> None:
    """On a terminal that cannot show Chinese (PYTHONIOENCODING=ascii, LANG=C), escape it instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        if not _can_print_chinese(stream) and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def _emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=not _can_print_chinese(sys.stdout), default=str) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- ingest & store


def cmd_ingest(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from assistant.ingest import ingest_paths
    from assistant.models import ReportIdentity

    given = None
    if args.department or args.year or args.kind or args.scope:
        given = ReportIdentity(department=args.department, year=args.year, kind=args.kind, scope=args.scope)
    if args.max_seconds is not None or args.max_memory_mb is not None:
        res = _ingest_limited(args, given)
    else:
        res = ingest_paths(
            [Path(p) for p in args.paths],
            _index(args),
            show_progress=not args.quiet,
            on_report=lambda s: err.print(escape(s.line())),
            on_failure=lambda f: err.print(f"[red]failed[/red] {escape(f.path)}: {escape(f.reason)}"),
            identity=given,
            replace=args.replace,
            accept_failing_checks=args.accept_failing_checks,
            lock_timeout=args.lock_timeout,
        )
    if not res.reports and not res.failures:
        err.print("no report files (.pdf, .txt) found in the given paths")
        return 1
    err.print(f"{len(res.reports)} reports ingested into {_index(args)}, {len(res.failures)} failed")
    if args.timings:
        out.print(res.timings.line())
    return 1 if res.failures else 0


def _ingest_limited(args: argparse.Namespace, given: ReportIdentity | None) -> IngestResult:
    """The ingest in a worker process under ``--max-seconds`` / ``--max-memory-mb`` (as the app runs uploads)."""
    from rich.markup import escape

    from assistant.jobs import IngestJobs

    jobs = IngestJobs(_index(args), seconds=args.max_seconds or 0, memory_mb=args.max_memory_mb or 0)
    try:
        res: IngestResult = jobs.run(
            [Path(p) for p in args.paths],
            identity=given,
            replace=args.replace,
            accept_failing_checks=args.accept_failing_checks,
            lock_timeout=args.lock_timeout,
        )
    finally:
        jobs.close()
    for r in res.reports:
        err.print(escape(r.line()))
    for f in res.failures:
        err.print(f"[red]failed[/red] {escape(f.path)}: {escape(f.reason)}")
    return res


def cmd_reports(args: argparse.Namespace) -> int:
    from assistant.store import load_index

    idx = load_index(_index(args))
    if args.json:
        for r in idx.reports:
            rf = idx.facts[idx.facts.report_id == r.report_id]
            other, no_unit = _fact_shares(rf)
            _emit_json(r.to_dict() | {"facts": len(rf), "other_share": other, "no_unit_share": no_unit})
        return 0
    from rich.table import Table

    t = Table("report", "department", "year", "kind", "scope", "place", "facts", "other", "no unit", "chunks", "sources")
    for r in idx.reports:
        rf = idx.facts[idx.facts.report_id == r.report_id]
        nf = len(rf)
        nc = int((idx.chunks.report_id == r.report_id).sum()) if len(idx.chunks) else 0
        other, no_unit = _fact_shares(rf)
        t.add_row(
            r.report_id, r.department, str(r.year), r.kind, r.scope, r.place, str(nf), other, no_unit, str(nc), ", ".join(r.sources)
        )
    out.print(t)
    return 0


def _fact_shares(facts: object) -> tuple[str, str]:
    """Share of a report's facts in tables of kind ``other``, and of its figures (status ok) without a unit."""
    import pandas as pd

    assert isinstance(facts, pd.DataFrame)
    if not len(facts):
        return "—", "—"
    other = float((facts.table_kind == "other").mean())
    figures = facts[facts.status == "ok"]
    no_unit = float((figures.unit.fillna("") == "").mean()) if len(figures) else 0.0
    return f"{other:.1%}", f"{no_unit:.1%}"


def cmd_facts(args: argparse.Namespace) -> int:
    from assistant.store import load_index

    idx = load_index(_index(args))
    df = idx.facts
    if args.report:
        df = df[df.report_id.str.contains(args.report, regex=False) | df.department.str.contains(args.report, regex=False)]
    if args.table:
        t = args.table
        df = df[
            (df.table_number == t) | df.table_title.str.contains(t, regex=False) | (df.table_kind == t) | (df.table_id == t)
        ]
    cols = ["report_id", "table_number", "table_title", "page", "code", "row_label", "column", "value", "unit", "raw", "status"]
    if args.csv:
        df[cols + ["fact_id"]].to_csv(sys.stdout, index=False)
        return 0
    from rich.table import Table

    from assistant.present import display_frame

    t = Table(*cols)
    for row in display_frame(df[cols].head(args.limit)).itertuples(index=False):
        t.add_row(*[str(v) for v in row])
    out.print(t)
    if len(df) > args.limit:
        err.print(f"{len(df)} facts, first {args.limit} shown (--limit N, or --csv for all)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from assistant.checks import check_index

    results = check_index(_index(args))
    for r in results:
        if args.json:
            _emit_json(r.to_json())
            continue
        from rich.markup import escape

        rounding = len(getattr(r, "rounding", []))
        out.print(
            f"[bold]{r.report_id}[/bold] {r.department} {r.year}: {r.passed}/{r.run} checks passed"
            + (f" ({rounding} only within the rounding of 0.01 万元 figures)" if rounding else "")
        )
        for f in r.failures:
            out.print(f"  [red]✗[/red] {escape(f.describe())}")
    if not args.json:
        run = sum(r.run for r in results)
        passed = sum(r.passed for r in results)
        out.print(f"total: {passed}/{run} identity checks passed ({(passed / run * 100 if run else 100):.1f}%)")
    return 0


# --------------------------------------------------------------------------- ask & friends


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.ask import ask
    from assistant.store import load_index

    idx = load_index(_index(args))
    llm = None
    if getattr(args, "llm", False) or Settings.from_env().llm_configured:
        from assistant.llm import llm_from_settings

        llm = llm_from_settings(Settings.from_env())
    if args.question is not None and not args.question.strip():
        err.print('[red]error:[/red] the question is empty; ask e.g. fiscal-qa ask "2023年公务接待费是多少？"')
        return 2
    questions = [args.question] if args.question is not None else (line.strip() for line in sys.stdin)
    answers = []
    for q in questions:
        if not q:
            continue
        a = ask(q, index=idx, llm=llm)
        answers.append(a)
        if args.json:
            _emit_json(a.to_json())
        elif args.format != "md":
            from assistant.present import compact_refusal_cli  # a refusal names a few reports, not every one

            out.print(compact_refusal_cli(a.answer, idx.reports, a.language or "zh"))
            for c in a.citations:
                out.print("  [dim]— " + _citation_line(c) + "[/dim]")
            out.print()
    if args.format == "md":
        from assistant.export import answers_markdown

        sys.stdout.write(answers_markdown(answers, reports=idx.reports, command="fiscal-qa reports"))  # a refusal: a few reports
    return 0


def _citation_line(c: object) -> str:
    parts = [getattr(c, k) for k in ("department", "year", "table", "row", "column", "section")]
    page = getattr(c, "page", None)
    s = " · ".join(str(p) for p in parts if p not in (None, ""))
    return s + (f" · p.{page}" if page else "")


def cmd_eval(args: argparse.Namespace) -> int:
    from assistant.evaluate import main as eval_main

    return eval_main(args)


def cmd_review(args: argparse.Namespace) -> int:
    from assistant.review import main as review_main

    return review_main(args)


def cmd_source(args: argparse.Namespace) -> int:
    from assistant.source import main as source_main

    return source_main(args)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fiscal-qa", description="Questions and answers over Chinese budget and final-accounts disclosures.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name: str, help: str, fn: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help)
        sp.add_argument("--index", help="index folder (default: indexes/ or $FISCALQA_INDEX)")
        sp.set_defaults(fn=fn)
        return sp

    sp = add("ingest", "ingest report files or folders (PDF, or the plain-text sample)", cmd_ingest)
    sp.add_argument("paths", nargs="+")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--department", help="the department, when the report does not print it readably (overrides)")
    sp.add_argument("--year", type=int, help="the fiscal year, when the report does not print it readably (overrides)")
    sp.add_argument("--kind", choices=["预算", "决算"], help="预算 (budget) or 决算 (final accounts) (overrides)")
    sp.add_argument("--scope", choices=["部门", "单位"], help="部门 (department) or 单位 (unit-level) report (overrides)")
    sp.add_argument("--timings", action="store_true", help="print a last line: timings: extract=S embed=S write=S pages=N chars=N")
    sp.add_argument(
        "--replace", action="store_true", help="replace reports already in the index (same id, file, or department/year/kind)"
    )
    sp.add_argument(
        "--accept-failing-checks",
        action="store_true",
        help="ingest a report even when its identity checks fail wholesale (it is flagged in every answer)",
    )
    sp.add_argument(
        "--lock-timeout", type=float, default=None, help="seconds to wait for another writer of the index (default 900; 0: refuse)"
    )
    sp.add_argument(
        "--max-seconds",
        type=float,
        help="stop the ingest after this many seconds (run in a worker process, no progress bar; default: no limit)",
    )
    sp.add_argument(
        "--max-memory-mb", type=float, help="stop the ingest when its worker process uses more memory (MB; default: no limit)"
    )

    sp = add("reports", "list ingested reports", cmd_reports)
    sp.add_argument("--json", action="store_true")

    sp = add("facts", "show or export facts", cmd_facts)
    sp.add_argument("--report", help="report id or department (substring)")
    sp.add_argument("--table", help="table number (公开10表), title substring, kind or id")
    sp.add_argument("--csv", action="store_true", help="write all matching facts as CSV")
    sp.add_argument("--limit", type=int, default=50)

    sp = add("check", "run the identity checks per report", cmd_check)
    sp.add_argument("--json", action="store_true")

    sp = add("ask", "answer a question (or one per line on standard input)", cmd_ask)
    sp.add_argument("question", nargs="?")
    sp.add_argument("--json", action="store_true", help="one JSON object per question")
    sp.add_argument("--format", choices=["text", "md"], default="text", help="md: Markdown with citations")

    sp = add("eval", "score the gold question set", cmd_eval)
    sp.add_argument("--gold", help="gold file (default eval/gold.jsonl)")
    sp.add_argument("--reports", help="reports folder to ingest when the index lacks them (default ../shared/reports)")
    sp.add_argument("--sample-only", action="store_true", help="only questions about the bundled sample")
    sp.add_argument("--llm", action="store_true", help="also run through the configured LLM and print both")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--enforce", action="store_true", help="exit 1 when below the targets")

    sp = add("review", "findings and suggested questions for a report", cmd_review)
    sp.add_argument("report")
    sp.add_argument("--format", choices=["md", "json", "docx"], default="md")
    sp.add_argument("--out", help="output file (docx needs one; default stdout)")

    sp = add("source", "render the page region behind a fact or chunk", cmd_source)
    sp.add_argument("id", help="fact_id or chunk_id")
    sp.add_argument("--out", help="PNG file (default <id>.png)")
    return p


def main(argv: list[str] | None = None) -> int:
    _safe_streams()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.fn(args) or 0)
    except FiscalQAError as e:
        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(str(e))}")
        return 2
    except OSError as e:  # disk full, permissions, read-only file system: a message, not a traceback
        from rich.markup import escape

        from assistant.ioerrors import index_write_error

        msg = index_write_error(e, _index(args)) or f"{e.strerror or e} ({e.filename or ''})"
        err.print(f"[red]error:[/red] {escape(str(msg))}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
