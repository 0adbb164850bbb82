"""Export a chat (questions, answers, and the citations behind each figure) as Markdown or CSV.

Used by the app's download buttons and by ``fiscal-qa ask --format md``. Pure functions
over ``Answer`` records: no gradio, no index access.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from assistant.models import Answer, Citation, ReportMeta

CSV_COLUMNS = [
    "n",
    "question",
    "answer",
    "value",
    "unit",
    "route",
    "citation",
    "report",
    "department",
    "year",
    "table",
    "row",
    "column",
    "page",
    "section",
    "text",
    "fact_id",
    "chunk_id",
]


def _cell(v: object) -> str:
    """A Markdown table cell: no pipes or line breaks to break the row."""
    if v is None or v == "":
        return "—"
    return str(v).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _value(a: Answer) -> str:
    if a.value is None:
        return ""
    return f"{a.value:,.2f}" if a.unit in ("万元", "元", "亿元") else f"{a.value:g}"


def _is_figure(c: Citation) -> bool:
    return bool(c.table or c.fact_id)


PageLabel = Callable[[Citation], str]
"""A citation's page as shown (a report of two files names the file: 'x_tables.pdf p.15'); default the number."""


def _page(c: Citation, page_label: PageLabel | None) -> str | int | None:
    return page_label(c) if page_label is not None and c.page else c.page


def _answer_text(a: Answer, reports: list[ReportMeta] | None, command: str | None) -> str:
    """The answer as exported: a refusal's list of every ingested report made short (the count, the first
    three, and ``command`` that lists them all) when ``reports`` (the index's) are given."""
    if not reports:
        return a.answer
    from assistant.present import compact_refusal_cli

    return compact_refusal_cli(a.answer, reports, a.language or "zh", command=command)


def answers_markdown(
    answers: Iterable[Answer],
    *,
    title: str = "fiscal-qa",
    page_label: PageLabel | None = None,
    reports: list[ReportMeta] | None = None,
    command: str | None = None,
) -> str:
    """The chat as Markdown: each question, its answer, a table of the cited figures and the cited passages.

    ``reports``: the index's reports, to shorten a refusal's list of all of them (see ``_answer_text``);
    ``command``: the command that lists them all (the CLI passes ``fiscal-qa reports``).
    """
    answers = list(answers)
    out: list[str] = [f"# {title}", ""]
    for n, a in enumerate(answers, 1):
        out += [f"## {n}. {a.question.strip()}", "", _answer_text(a, reports, command).strip(), ""]
        if a.value is not None:
            sep = "" if a.unit == "%" else " "
            out += [f"**Value:** {_value(a)}{sep}{a.unit or ''}".rstrip(), ""]
        figures = [(i, c) for i, c in enumerate(a.citations, 1) if _is_figure(c)]
        passages = [(i, c) for i, c in enumerate(a.citations, 1) if not _is_figure(c)]
        if figures:
            out += [
                "| # | report | department | year | table | row | column | page | text |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for i, c in figures:
                out.append(
                    "| "
                    + " | ".join(
                        _cell(x)
                        for x in (
                            f"[{i}]",
                            c.report,
                            c.department,
                            c.year,
                            c.table,
                            c.row,
                            c.column,
                            _page(c, page_label),
                            c.text,
                        )
                    )
                    + " |"
                )
            out.append("")
        for i, c in passages:
            where = " · ".join(str(x) for x in (c.department, c.year, c.section) if x not in (None, ""))
            pg = str(_page(c, page_label) or "")
            page = (f", p.{pg}" if pg.isdigit() else f", {pg}") if pg else ""
            out.append(f"> [{i}] {where}{page} ({c.report})")
            if c.text:
                out.append(">")
                out += [f"> {line}" for line in c.text.strip().splitlines()]
            out.append("")
        if not a.citations:
            out += ["_No citation._", ""]
    return "\n".join(out).rstrip() + "\n"


def answers_csv(
    answers: Iterable[Answer], *, page_label: PageLabel | None = None, reports: list[ReportMeta] | None = None
) -> str:
    """The chat as CSV: one row per citation (one row for an answer without any), UTF-8 text.

    ``reports``: as for :func:`answers_markdown`, a refusal names a few of them and their count."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for n, a in enumerate(answers, 1):
        base = [n, a.question, _answer_text(a, reports, None), "" if a.value is None else a.value, a.unit or "", a.route]
        if not a.citations:
            w.writerow(base + [""] * (len(CSV_COLUMNS) - len(base)))
            continue
        for i, c in enumerate(a.citations, 1):
            w.writerow(
                base
                + [i]
                + [
                    "" if v is None else v
                    for v in (c.report, c.department, c.year, c.table, c.row, c.column, _page(c, page_label), c.section, c.text)
                ]
                + [c.fact_id or "", c.chunk_id or ""]
            )
    return buf.getvalue()
