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
from assistant.models import Layout, ParsedReport, ReportMeta

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
    replaced: list[str] = field(default_factory=list)
    """Reports of the index this one replaced (id and why)."""

    def line(self) -> str:
        return (
            f"{self.report_id}: {self.department} {self.year} {self.kind} — {self.facts} facts, {self.chunks} chunks, "
            f"checks {self.checks_passed}/{self.checks_run} passed, {self.seconds:.1f} s"
            + (f", {len(self.problems)} problems" if self.problems else "")
            + (f"; replaces {', '.join(self.replaced)}" if self.replaced else "")
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
    replace: bool = True,
    accept_failing_checks: bool = False,
    lock_timeout: float | None = None,
) -> IngestResult:
    """Ingest report files and folders into ``index_dir`` (atomically; bad files are reported and skipped).

    One writer per index: the writer lock (``assistant.writelock``) is held for the whole ingest; a
    second writer waits up to ``lock_timeout`` s (default ``FISCALQA_LOCK_TIMEOUT`` or 900) and then
    gets ``IndexBusyError``. ``replace=False`` refuses a report that would replace one in the index
    (same id, same file, or another version of the same department/year/kind/scope) with a message
    naming it; ``replace=True`` replaces it and says so in ``ReportSummary.replaced``. A report whose
    identity checks fail wholesale, whose text is garbage or that is a blank template is refused
    unless ``accept_failing_checks`` (then it is flagged; see ``assistant.ingest.gate``).
    """
    from assistant.ioerrors import check_index_folder, check_writable
    from assistant.writelock import writer_lock

    check_index_folder(Path(index_dir))
    check_writable(Path(index_dir))
    with writer_lock(index_dir, timeout=lock_timeout, purpose="ingest"):
        return _ingest_locked(
            paths,
            index_dir,
            show_progress=show_progress,
            embedder=embedder,
            on_report=on_report,
            on_failure=on_failure,
            replace=replace,
            accept_failing_checks=accept_failing_checks,
        )


def _ingest_locked(
    paths: list[Path],
    index_dir: Path,
    *,
    show_progress: bool,
    embedder: object | None,
    on_report: Callable[[ReportSummary], None] | None,
    on_failure: Callable[[FileFailure], None] | None,
    replace: bool,
    accept_failing_checks: bool,
) -> IngestResult:
    from tqdm import tqdm

    from assistant.checks import run_checks
    from assistant.ingest.gate import drop_placeholders, identity_conflicts, identity_key, mark_accepted, misreading
    from assistant.store import facts_to_frame, write_index

    files = _unique_files(collect_files(paths))
    existing = _existing_reports(Path(index_dir))
    remove_ids: set[str] = set()
    keys_this_run: dict[tuple[str, int, str, str], str] = {}
    groups = group_files(files)
    result = IngestResult()
    parsed: dict[str, ParsedReport] = {}
    seen: set[tuple[str, ...]] = set()
    page_counts = {f: _page_count(f) for f in files}  # opened once: the bar's total and each report's share
    bar = tqdm(total=sum(page_counts.values()), unit="page", disable=not show_progress, desc="ingest")
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
        drop_placeholders(rep)
        checks = run_checks(facts_to_frame(rep.facts), rep.meta)
        refusal = _refusal(rep, checks.passed, checks.run, existing, keys_this_run, replace, accept_failing_checks)
        if refusal:
            fail = FileFailure(", ".join(map(str, group)), refusal)
            result.failures.append(fail)
            if on_failure:
                on_failure(fail)
            bar.update(pages - done)
            continue
        verdict = misreading(rep, checks.passed, checks.run)
        if verdict:  # only reached with accept_failing_checks
            mark_accepted(rep, verdict.reason)
        replaced = [r for r, _why in identity_conflicts(rep.meta, existing)]
        remove_ids.update(r.report_id for r in replaced if r.report_id != rep.meta.report_id)
        keys_this_run[identity_key(rep.meta)] = rep.meta.report_id
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
            replaced=[f"{r.report_id} ({why})" for r, why in identity_conflicts(rep.meta, existing)],
        )
        parsed[rep.meta.report_id] = rep  # a later file with the same report id replaces the earlier one
        result.reports.append(summary)
        if on_report:
            on_report(summary)
        bar.update(pages - done)
    bar.close()
    if parsed:
        try:
            result.index_version = write_index(Path(index_dir), list(parsed.values()), embedder=embedder, remove_ids=remove_ids)
        except Exception as e:  # disk full, permissions, read-only: a message, and the previous version stays
            from assistant.ioerrors import index_write_error, space_needed

            msg = index_write_error(e, Path(index_dir), space_needed(Path(index_dir), files))
            if msg is None:
                raise
            raise msg from e
    return result


def _unique_files(files: list[Path]) -> list[Path]:
    """Each file once, however it was named (``a.pdf`` and ``./a.pdf``, a symlink): the same file twice is a no-op."""
    out: list[Path] = []
    seen: set[Path] = set()
    for f in files:
        try:
            key = f.resolve()
        except OSError:
            key = f.absolute()
        if key in seen:
            log.info("%s was given twice; ingested once", f)
            continue
        seen.add(key)
        out.append(f)
    return out


def _existing_reports(index_dir: Path) -> list[ReportMeta]:
    """The reports of the live index version ([] when there is none or it cannot be read)."""
    import json

    from assistant.store import current_version

    v = current_version(index_dir)
    if v is None:
        return []
    try:
        return [ReportMeta(**r) for r in json.loads((v / "reports.json").read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []


def _refusal(
    rep: ParsedReport,
    passed: int,
    run: int,
    existing: list[ReportMeta],
    keys_this_run: dict[tuple[str, int, str, str], str],
    replace: bool,
    accept_failing_checks: bool,
) -> str | None:
    """Why this parsed report must not be written, or None."""
    from assistant.ingest.gate import identity_conflicts, identity_key, misreading, same_content

    verdict = misreading(rep, passed, run)
    if verdict and not accept_failing_checks:
        return "refused: " + verdict.reason
    key = identity_key(rep.meta)
    if key[0] and key in keys_this_run and keys_this_run[key] != rep.meta.report_id:
        return (
            f"another version of {key[0]} {key[1]} {key[3]}{key[2]} (report {keys_this_run[key]}) is in this ingest too; "
            "ingest one of them"
        )
    if not replace:
        conflicts = [(r, why) for r, why in identity_conflicts(rep.meta, existing) if not same_content(rep.meta, r)]
        if conflicts:
            names = "; ".join(f"{r.report_id} ({why}, from {', '.join(r.sources)})" for r, why in conflicts)
            return f"would replace {names} already in the index; ingest with --replace to replace it"
    return None


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
