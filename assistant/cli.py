"""The ``fiscal-qa`` command line. Each subcommand is a thin face over a library function."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from assistant.errors import FiscalQAError
from assistant.settings import Settings

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _index(args: argparse.Namespace) -> Path:
    return Path(args.index) if args.index else Settings.from_env().index_dir


def _emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- ingest & store


def cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.ingest import ingest_paths

    res = ingest_paths(
        [Path(p) for p in args.paths],
        _index(args),
        show_progress=not args.quiet,
        on_report=lambda s: err.print(s.line()),
        on_failure=lambda f: err.print(f"[red]failed[/red] {f.path}: {f.reason}"),
    )
    if not res.reports and not res.failures:
        err.print("no report files (.pdf, .txt) found in the given paths")
        return 1
    err.print(f"{len(res.reports)} reports ingested into {_index(args)}, {len(res.failures)} failed")
    return 1 if res.failures else 0


def cmd_reports(args: argparse.Namespace) -> int:
    from assistant.store import load_index

    idx = load_index(_index(args))
    if args.json:
        for r in idx.reports:
            _emit_json(r.to_dict())
        return 0
    from rich.table import Table

    t = Table("report", "department", "year", "kind", "scope", "facts", "chunks", "sources")
    for r in idx.reports:
        nf = int((idx.facts.report_id == r.report_id).sum())
        nc = int((idx.chunks.report_id == r.report_id).sum()) if len(idx.chunks) else 0
        t.add_row(r.report_id, r.department, str(r.year), r.kind, r.scope, str(nf), str(nc), ", ".join(r.sources))
    out.print(t)
    return 0


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
    questions = [args.question] if args.question else (line.strip() for line in sys.stdin)
    answers = []
    for q in questions:
        if not q:
            continue
        a = ask(q, index=idx, llm=llm)
        answers.append(a)
        if args.json:
            _emit_json(a.to_json())
        elif args.format != "md":
            out.print(a.answer)
            for c in a.citations:
                out.print("  [dim]— " + _citation_line(c) + "[/dim]")
            out.print()
    if args.format == "md":
        from assistant.export import answers_markdown

        sys.stdout.write(answers_markdown(answers))
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
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.fn(args) or 0)
    except FiscalQAError as e:
        err.print(f"[red]error:[/red] {e}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
