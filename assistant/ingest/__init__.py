"""Ingestion: files → layout (pdf.py / text.py) → facts (tables.py) and chunks (narrative.py) → index (store.py).

``ingest_paths`` is the entry point. Each file is read and interpreted on its
own; a bad file is reported by name with its reason and the others still
ingest. The index is written once, atomically, at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import BadReportError, EmptyFileError, IdentityUnreadableError, NotAFiscalReportError, NotAPdfError
from assistant.ingest.pairing import (
    FileRead,
    file_role,
    layout_chars,
    merge_layouts,
    pair_by_identity,
    report_id_for_paths,
    stored_partner,
    stored_reports,
)
from assistant.models import Layout, ParsedReport, RawTable, ReportIdentity, ReportMeta, TextLine

log = logging.getLogger(__name__)

REPORT_SUFFIXES = (".pdf", ".txt", ".xlsx", ".xlsm", ".xls", ".docx", ".doc", ".html", ".htm")


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
class IngestTimings:
    """Where an ingest spent its time (seconds) and how much it read."""

    extract: float = 0.0
    """Reading and interpreting the files (layout, identity, tables, chunks)."""
    embed: float = 0.0
    write: float = 0.0
    """Writing the index, embedding excluded."""
    pages: int = 0
    chars: int = 0

    def line(self) -> str:
        return (
            f"timings: extract={self.extract:.2f} embed={self.embed:.2f} write={self.write:.2f} "
            f"pages={self.pages} chars={self.chars}"
        )


@dataclass
class IngestResult:
    reports: list[ReportSummary] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    index_version: Path | None = None
    timings: IngestTimings = field(default_factory=IngestTimings)
    staged: Any = None
    """With ``stage_only``: the ``store.StagedIngest`` to commit (the index is not changed)."""

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


def group_files(files: list[Path], identity: ReportIdentity | None = None) -> list[list[Path]]:
    """The files of each report, grouped by the identity they print (a narrative file with its tables file).

    Reads every file; files that cannot be read stay alone (ingesting them reports why).
    """
    reads: list[FileRead] = []
    alone: list[list[Path]] = []
    for f in files:
        try:
            reads.append(read_file(f, identity=identity))
        except BadReportError:
            alone.append([f])
    return [[r.path for r in g.files] for g in pair_by_identity(reads)] + alone


def report_id_for(files: list[Path]) -> str:
    """A report's id from its files' names: their common start, else the first file's stem."""
    return report_id_for_paths(files)


def read_file(path: Path, *, identity: ReportIdentity | None = None, progress: Callable[[int], None] | None = None) -> FileRead:
    """Read one file: its layout, the identity it prints and its role (narrative or tables)."""
    from assistant.ingest.meta import read_identity

    layout = read_layout([path], progress=progress)
    return FileRead(
        path=path,
        layout=layout,
        identity=read_identity(layout, [path], identity),
        role=file_role(layout),
        sha256=sha256_file(path),
    )


def read_layout(files: list[Path], progress: Callable[[int], None] | None = None) -> Layout:
    """Read one report's files into a layout, full-width digits and number punctuation made ASCII.

    Raises a BadReportError naming the problem.
    """
    from assistant.ingest.normalize import normalize_layout

    layout = _read_layout_as_printed(files, progress)
    normalize_layout(layout)
    return layout


def _read_layout_as_printed(files: list[Path], progress: Callable[[int], None] | None) -> Layout:
    for f in files:
        if not f.exists():
            raise BadReportError(str(f), "no such file")
        if f.stat().st_size == 0:
            raise EmptyFileError(str(f))
    from assistant.ingest.formats import read_other_format

    other = read_other_format(files, progress=progress)  # Excel, Word, HTML, scanned/garbled PDFs (normalized)
    if other is not None:
        return other
    if all(f.suffix.lower() == ".txt" for f in files):
        from assistant.ingest.text import read_text

        return read_text(files[0])
    from assistant.ingest.pdf import read_pdf

    for f in files:
        with open(f, "rb") as fh:
            if not fh.read(1024).lstrip().startswith(b"%PDF"):
                raise NotAPdfError(str(f), "it does not start with %PDF")
    return read_pdf(files, progress=progress)


def parse_report(
    files: list[Path],
    progress: Callable[[int], None] | None = None,
    *,
    identity: ReportIdentity | None = None,
    layout: Layout | None = None,
    report_id: str | None = None,
) -> ParsedReport:
    """Read and interpret one report (one or two files); ``identity`` overrides what the report prints.

    Raises IdentityUnreadableError (naming the file and how to give the identity) rather than return a
    report without department, year or kind; NotAFiscalReportError for a file that is no budget report.
    """
    from assistant.ingest.meta import detect_meta, missing_identity, read_identity
    from assistant.ingest.narrative import chunk_narrative
    from assistant.ingest.tables import interpret_tables

    if layout is None:
        layout = read_layout(files, progress=progress)
    ident = read_identity(layout, files, identity)
    tables_found = any(isinstance(b, RawTable) for b in layout.blocks)
    if not tables_found and not _reads_as_report(layout):
        raise NotAFiscalReportError(", ".join(map(str, files)))
    missing = missing_identity(ident)
    if missing:
        raise IdentityUnreadableError(", ".join(map(str, files)), missing)
    meta = detect_meta(
        layout, files, report_id=report_id or report_id_for(files), sha256=[sha256_file(f) for f in files], identity=ident
    )
    if not meta.page_counts and layout.file_pages:
        meta.page_counts = [sum(1 for f, _ in layout.file_pages.values() if f == name) for name in meta.sources]
    tables, facts, problems = interpret_tables(layout, meta)
    from assistant.ingest.formats import mark_read_facts

    problems += mark_read_facts(layout, facts, meta)  # OCR confidence, sheet cells; OCR'd tables failing checks flagged
    chunks = chunk_narrative(layout, meta)
    # a narrative file alone (its tables published as another file) is a report of text; anything else needs tables
    if not any(t.table_kind != "other" for t in tables) and not (chunks and _reads_as_report(layout)):
        raise NotAFiscalReportError(", ".join(map(str, files)))
    meta.source_roles = _roles_of(layout, meta.sources)
    meta.problems = list(problems)
    return ParsedReport(
        meta=meta, tables=tables, facts=facts, chunks=chunks, problems=problems, source_paths=[str(f) for f in files]
    )


_REPORT_PHRASE_RE = re.compile(r"(?:19|20)\d{2}\s*年度?\s*(?:省级|市级|区级|县级|乡镇)?(?:部门|单位)?(?:预算|决算)")


def _reads_as_report(layout: Layout) -> bool:
    """A text that calls itself a budget or final-accounts report (2018年度部门预算, 2023年度决算 …)."""
    lines = [b.text for b in layout.blocks if isinstance(b, TextLine)]
    return any(_REPORT_PHRASE_RE.search(re.sub(r"\s+", "", t)) for t in lines[:400])


def _roles_of(layout: Layout, sources: list[str]) -> list[str]:
    """Each source file's role (narrative / tables) from the tables printed on its pages."""
    if len(sources) == 1:
        return [file_role(layout)]
    pages_of: dict[str, set[int]] = {}
    for p, (name, _) in layout.file_pages.items():
        pages_of.setdefault(name, set()).add(p)
    out = []
    for name in sources:
        pages = pages_of.get(name, set())
        sub = Layout(blocks=[b for b in layout.blocks if isinstance(b, RawTable) and set(b.pages) & pages], sources=[name])
        out.append(file_role(sub))
    return out


class _TimedEmbedder:
    """Wraps the embedder (the default one made on first use) and adds up the seconds spent embedding."""

    def __init__(self, inner: Any | None) -> None:
        self._inner = inner
        self.seconds = 0.0

    def _get(self) -> Any:
        if self._inner is None:
            from assistant.embed import default_embedder

            self._inner = default_embedder()
        return self._inner

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        t0 = time.perf_counter()
        try:
            return self._get().embed_passages(texts)
        finally:
            self.seconds += time.perf_counter() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def ingest_paths(
    paths: list[Path],
    index_dir: Path,
    *,
    show_progress: bool = True,
    embedder: object | None = None,
    on_report: Callable[[ReportSummary], None] | None = None,
    on_failure: Callable[[FileFailure], None] | None = None,
    identity: ReportIdentity | None = None,
    stage_only: bool = False,
    replace: bool = True,
    accept_failing_checks: bool = False,
    lock_timeout: float | None = None,
    on_pages: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest report files and folders into ``index_dir`` (atomically; bad files are reported and skipped).

    Files are grouped into reports by the identity they print, not by their names: a narrative file
    and a tables file of one department, year and kind are one report, also when the other half was
    ingested earlier (it is read back from the index). ``identity`` (department, year, kind, scope
    given by the user) overrides what the files print, for every file of the call. A file whose
    department, year or kind cannot be read is refused with a message saying how to give them.

    One writer per index: the writer lock (``assistant.writelock``) is held for the whole ingest; a
    second writer waits up to ``lock_timeout`` s (default ``FISCALQA_LOCK_TIMEOUT`` or 900) and then
    gets ``IndexBusyError``. ``replace=False`` refuses a report that would replace one in the index
    (same id, same file, or another version of the same department/year/kind/scope) with a message
    naming it (completing a stored report with its other half is no replacement); ``replace=True``
    replaces it and says so in ``ReportSummary.replaced``. A report whose identity checks fail
    wholesale, whose text is garbage or that is a blank template is refused unless
    ``accept_failing_checks`` (then it is flagged; see ``assistant.ingest.gate``). ``stage_only``
    parses and embeds into a staging folder without making it live (``store.commit_staged``).
    """
    from assistant.ioerrors import check_index_folder, check_writable
    from assistant.writelock import writer_lock

    check_index_folder(Path(index_dir))
    check_writable(Path(index_dir))
    # staged only: the process that commits takes the lock (jobs.IngestJobs.run)
    lock = contextlib.nullcontext() if stage_only else writer_lock(index_dir, timeout=lock_timeout, purpose="ingest")
    with lock:
        return _ingest_unlocked(
            paths,
            index_dir,
            show_progress=show_progress,
            embedder=embedder,
            on_report=on_report,
            on_failure=on_failure,
            identity=identity,
            stage_only=stage_only,
            replace=replace,
            accept_failing_checks=accept_failing_checks,
            on_pages=on_pages,
        )


def _ingest_unlocked(
    paths: list[Path],
    index_dir: Path,
    *,
    show_progress: bool,
    embedder: object | None,
    on_report: Callable[[ReportSummary], None] | None,
    on_failure: Callable[[FileFailure], None] | None,
    identity: ReportIdentity | None,
    stage_only: bool,
    replace: bool,
    accept_failing_checks: bool,
    on_pages: Callable[[int], None] | None,
) -> IngestResult:
    from tqdm import tqdm

    from assistant.checks import run_checks
    from assistant.ingest.gate import drop_placeholders, identity_conflicts, identity_key, mark_accepted, misreading
    from assistant.store import facts_to_frame, live_reports, write_index

    files = _unique_files(collect_files(paths))
    existing = live_reports(Path(index_dir))
    remove_ids: set[str] = set()
    keys_this_run: dict[tuple[str, int, str, str], str] = {}
    result = IngestResult()
    timings = result.timings

    def fail(path: str, reason: str) -> None:
        failure = FileFailure(path, reason)
        result.failures.append(failure)
        if on_failure:
            on_failure(failure)

    page_counts = {f: page_count(f) for f in files}  # opened once: the bar's total and each file's share
    bar = tqdm(total=sum(page_counts.values()), unit="page", disable=not show_progress, desc="ingest")
    if on_pages is not None:  # ``on_pages(n)``: n more pages read, as the bar counts them (the app's progress)
        _bar_update = bar.update

        def _count_pages(n: float | None = 1) -> bool | None:
            on_pages(int(n or 0))
            return _bar_update(n)

        bar.update = _count_pages  # type: ignore[method-assign]
    reads: list[FileRead] = []
    seen: set[str] = set()
    t_extract = time.perf_counter()
    for f in files:
        bar.set_postfix_str(f.name[:40])
        done = 0

        def page_done(n: int) -> None:
            nonlocal done
            done += n
            bar.update(n)

        try:
            sha = sha256_file(f) if f.is_file() else ""
            if sha and sha in seen:  # the same file given twice (e.g. data/ and a copy in the corpus folder)
                log.info("skipping %s: the same content was already ingested in this run", f)
                continue
            seen.add(sha)
            reads.append(read_file(f, identity=identity, progress=page_done))
        except BadReportError as e:
            fail(e.path, e.reason)
        except Exception as e:  # an unexpected parser bug must not lose the other files
            log.exception("failed to read %s", f)
            fail(str(f), f"could not be read ({type(e).__name__}: {e})")
        finally:
            bar.update(page_counts[f] - done)
    bar.close()

    parsed: dict[str, ParsedReport] = {}
    with tempfile.TemporaryDirectory(prefix="fiscalqa-join-") as work:
        version, stored = stored_reports(Path(index_dir))
        groups = pair_by_identity(reads)
        for g in groups:
            if len(g.files) == 1:
                joined = stored_partner(g.files[0], version, stored, Path(work))
                if joined is not None:
                    meta, halves = joined
                    with contextlib.suppress(BadReportError):
                        for h in halves:
                            part = read_file(h, identity=identity)
                            part.stored_report = meta.report_id
                            g.files.append(part)
                        g.files.sort(key=lambda x: 0 if x.role == "narrative" else 1)
                        g.report_id = meta.report_id
                        log.info("%s joins the stored report %s", g.files[0].path.name, meta.report_id)
            group = [r.path for r in g.files]
            t0 = time.perf_counter()
            try:
                layout = merge_layouts([r.layout for r in g.files])
                rep = parse_report(group, identity=identity, layout=layout, report_id=g.report_id)
            except BadReportError as e:
                fail(e.path, e.reason)
                continue
            except Exception as e:
                log.exception("failed to ingest %s", group)
                fail(", ".join(map(str, group)), f"could not be read ({type(e).__name__}: {e})")
                continue
            timings.pages += layout.page_count
            timings.chars += layout_chars(layout)
            for r in g.files:  # the layouts are no longer needed: keep memory to the parsed reports
                r.layout = Layout(blocks=[], sources=r.layout.sources, page_count=r.layout.page_count)
            del layout
            drop_placeholders(rep)
            checks = run_checks(facts_to_frame(rep.facts), rep.meta)
            completes = {f.stored_report for f in g.files if f.stored_report}  # its other half, stored earlier
            others = [r for r in existing if r.report_id not in completes]
            refusal = _refusal(rep, checks.passed, checks.run, others, keys_this_run, replace, accept_failing_checks)
            if refusal:
                fail(", ".join(map(str, group)), refusal)
                continue
            verdict = misreading(rep, checks.passed, checks.run)
            if verdict:  # only reached with accept_failing_checks
                mark_accepted(rep, verdict.reason)
            conflicts = identity_conflicts(rep.meta, others)
            remove_ids.update(r.report_id for r, _why in conflicts if r.report_id != rep.meta.report_id)
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
                replaced=[f"{r.report_id} ({why})" for r, why in conflicts],
            )
            parsed[rep.meta.report_id] = rep  # a later file with the same report id replaces the earlier one
            result.reports.append(summary)
            if on_report:
                on_report(summary)
        timings.extract = time.perf_counter() - t_extract
        if parsed:
            t_write = time.perf_counter()
            timed = _TimedEmbedder(embedder)
            if stage_only:  # parse and embed here; another process makes it live (store.commit_staged)
                from assistant.store import stage_reports

                result.staged = stage_reports(Path(index_dir), list(parsed.values()), embedder=timed)
                result.staged.remove_ids = sorted(remove_ids)
            else:
                from assistant.ioerrors import check_space

                check_space(Path(index_dir), files)  # before Chroma or any part is touched
                try:
                    result.index_version = write_index(
                        Path(index_dir), list(parsed.values()), embedder=timed, remove_ids=remove_ids
                    )
                except Exception as e:  # disk full, permissions, read-only: a message, and the previous version stays
                    from assistant.ioerrors import index_write_error, space_needed

                    msg = index_write_error(e, Path(index_dir), space_needed(Path(index_dir), files))
                    if msg is None:
                        raise
                    raise msg from e
            timings.embed = timed.seconds
            timings.write = time.perf_counter() - t_write - timed.seconds
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


def page_count(path: Path) -> int:
    """Pages of a PDF for the progress bar (1 for text files and for files that cannot be opened)."""
    if path.suffix.lower() != ".pdf":
        return 1
    try:
        import pymupdf

        with pymupdf.open(path) as doc:
            return max(1, doc.page_count)
    except Exception:  # a corrupt file is reported by the reader, not here
        return 1
