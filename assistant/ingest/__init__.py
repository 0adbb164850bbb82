"""Ingestion: files → layout (pdf.py / text.py) → facts (tables.py) and chunks (narrative.py) → index (store.py).

``ingest_paths`` is the entry point. Each file is read and interpreted on its
own; a bad file is reported by name with its reason and the others still
ingest. The index is written once, atomically, at the end.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import BadReportError, EmptyFileError, NotAFiscalReportError, NotAPdfError
from assistant.models import Layout, ParsedReport

log = logging.getLogger(__name__)

REPORT_SUFFIXES = (".pdf", ".txt")
_SPLIT_RE = re.compile(r"^(?P<stem>.+?)[_-](?P<part>text|tables|narrative|tbl)$", re.I)


@dataclass
class FileFailure:
    path: str
    reason: str


@dataclass
class ReportSummary:
    report_id: str
    department: str
    year: int
    kind: str
    facts: int
    chunks: int
    checks_passed: int
    checks_run: int
    seconds: float
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.report_id}: {self.department} {self.year} {self.kind} — {self.facts} facts, {self.chunks} chunks, "
            f"checks {self.checks_passed}/{self.checks_run} passed, {self.seconds:.1f} s"
            + (f", {len(self.problems)} problems" if self.problems else "")
        )


@dataclass
class IngestResult:
    reports: list[ReportSummary] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    index_version: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def collect_files(paths: list[Path]) -> list[Path]:
    """Expand folders into the report files they hold (sorted); keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in REPORT_SUFFIXES))
        else:
            out.append(p)
    return out


def group_files(files: list[Path]) -> list[list[Path]]:
    """Group a narrative PDF and a tables PDF of one report (``…_text.pdf`` + ``…_tables.pdf``)."""
    groups: dict[str, list[Path]] = {}
    order: list[str] = []
    for f in files:
        m = _SPLIT_RE.match(f.stem)
        key = str(f.parent / m.group("stem")) if m and f.suffix.lower() == ".pdf" else str(f)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(f)
    # narrative first, then tables, so pages read in the published order
    return [sorted(groups[k], key=lambda p: (0 if p.stem.lower().endswith("text") else 1, p.name)) for k in order]


def report_id_for(files: list[Path]) -> str:
    stem = files[0].stem
    m = _SPLIT_RE.match(stem)
    return m.group("stem") if (m and len(files) > 1) else stem


def read_layout(files: list[Path], progress: Callable[[int], None] | None = None) -> Layout:
    """Read one report's files into a layout. Raises a BadReportError naming the problem."""
    for f in files:
        if not f.exists():
            raise BadReportError(str(f), "no such file")
        if f.stat().st_size == 0:
            raise EmptyFileError(str(f))
    if all(f.suffix.lower() == ".txt" for f in files):
        from assistant.ingest.text import read_text

        return read_text(files[0])
    from assistant.ingest.pdf import read_pdf

    for f in files:
        with open(f, "rb") as fh:
            if not fh.read(1024).lstrip().startswith(b"%PDF"):
                raise NotAPdfError(str(f), "it does not start with %PDF")
    return read_pdf(files, progress=progress)


def parse_report(files: list[Path], progress: Callable[[int], None] | None = None) -> ParsedReport:
    """Read and interpret one report (one or two files)."""
    from assistant.ingest.meta import detect_meta
    from assistant.ingest.narrative import chunk_narrative
    from assistant.ingest.tables import interpret_tables

    layout = read_layout(files, progress=progress)
    meta = detect_meta(layout, files, report_id=report_id_for(files), sha256=[sha256_file(f) for f in files])
    if not meta.page_counts and layout.file_pages:
        meta.page_counts = [sum(1 for f, _ in layout.file_pages.values() if f == name) for name in meta.sources]
    tables, facts, problems = interpret_tables(layout, meta)
    if not tables or not any(t.table_kind != "other" for t in tables):
        raise NotAFiscalReportError(", ".join(map(str, files)))
    chunks = chunk_narrative(layout, meta)
    meta.problems = list(problems)
    return ParsedReport(
        meta=meta, tables=tables, facts=facts, chunks=chunks, problems=problems, source_paths=[str(f) for f in files]
    )


def ingest_paths(
    paths: list[Path],
    index_dir: Path,
    *,
    show_progress: bool = True,
    embedder: object | None = None,
    on_report: Callable[[ReportSummary], None] | None = None,
    on_failure: Callable[[FileFailure], None] | None = None,
    on_pages: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest report files and folders into ``index_dir`` (atomically; bad files are reported and skipped)."""
    from tqdm import tqdm

    from assistant.checks import run_checks
    from assistant.store import facts_to_frame, write_index

    files = collect_files(paths)
    groups = group_files(files)
    result = IngestResult()
    parsed: dict[str, ParsedReport] = {}
    seen: set[tuple[str, ...]] = set()
    page_counts = {f: _page_count(f) for f in files}  # opened once: the bar's total and each report's share
    bar = tqdm(total=sum(page_counts.values()), unit="page", disable=not show_progress, desc="ingest")
    if on_pages is not None:  # ``on_pages(n)``: n more pages read, as the bar counts them (the app's progress)
        _bar_update = bar.update

        def _count_pages(n: float | None = 1) -> bool | None:
            on_pages(int(n or 0))
            return _bar_update(n)

        bar.update = _count_pages  # type: ignore[method-assign]
    for group in groups:
        t0 = time.perf_counter()
        bar.set_postfix_str(group[0].name[:40])
        pages = sum(page_counts[f] for f in group)
        done = 0

        def page_done(n: int) -> None:
            nonlocal done
            done += n
            bar.update(n)

        try:
            hashes = tuple(sha256_file(f) for f in group) if all(f.is_file() for f in group) else ()
            if hashes and hashes in seen:  # the same file given twice (e.g. data/ and a copy in the corpus folder)
                log.info("skipping %s: the same content was already ingested in this run", group[0])
                bar.update(pages)
                continue
            seen.add(hashes)
            rep = parse_report(group, progress=page_done)
        except BadReportError as e:
            fail = FileFailure(e.path, e.reason)
            result.failures.append(fail)
            if on_failure:
                on_failure(fail)
            bar.update(pages - done)
            continue
        except Exception as e:  # an unexpected parser bug must not lose the other files
            log.exception("failed to ingest %s", group)
            fail = FileFailure(", ".join(map(str, group)), f"could not be read ({type(e).__name__}: {e})")
            result.failures.append(fail)
            if on_failure:
                on_failure(fail)
            bar.update(pages - done)
            continue
        checks = run_checks(facts_to_frame(rep.facts), rep.meta)
        summary = ReportSummary(
            report_id=rep.meta.report_id,
            department=rep.meta.department,
            year=rep.meta.year,
            kind=rep.meta.kind,
            facts=len(rep.facts),
            chunks=len(rep.chunks),
            checks_passed=checks.passed,
            checks_run=checks.run,
            seconds=time.perf_counter() - t0,
            problems=rep.problems,
        )
        parsed[rep.meta.report_id] = rep  # a later file with the same report id replaces the earlier one
        result.reports.append(summary)
        if on_report:
            on_report(summary)
        bar.update(pages - done)
    bar.close()
    if parsed:
        result.index_version = write_index(Path(index_dir), list(parsed.values()), embedder=embedder)
    return result


def _page_count(path: Path) -> int:
    """Pages of a PDF for the progress bar (1 for text files and for files that cannot be opened)."""
    if path.suffix.lower() != ".pdf":
        return 1
    try:
        import pymupdf

        with pymupdf.open(path) as doc:
            return max(1, doc.page_count)
    except Exception:  # a corrupt file is reported by the reader, not here
        return 1
