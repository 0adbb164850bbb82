"""The app's server-side state and services (no gradio here): the served index (reloaded when another
process or an upload swaps it), report scoping, asking (streamed with an LLM), the per-client rate
limiter, per-session LLM settings, source images, chat export, review, and first-start ingestion.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
import tempfile
import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import FiscalQAError, IndexMissingError
from assistant.i18n import question_language, tr
from assistant.models import Answer, ReportMeta
from assistant.present import answer_markdown, coverage_line, page_text, select_reports, stream_steps
from assistant.store import IndexData, current_version, load_index, report_of_item

log = logging.getLogger("fiscal_qa.app")

AskFn = Callable[..., Answer]
Progress = Callable[[float | None, str], None]
"""A progress sink: (fraction done or None when unknown, what is being done now, in the interface language)."""

WIDGET_MAX_CHARS = 500
"""The public widget refuses longer questions (with a message)."""
SCOPED_CACHE = 8
"""Report selections whose restricted index is kept (least recently used dropped)."""
WIDGET_PER_MINUTE = 10
"""Widget requests per client IP per minute."""


class RateLimiter:
    """At most ``per_minute`` calls per key in any 60-second window (sliding, thread-safe)."""

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> float:
        """Record a call; return 0 when allowed, else the seconds until the next call is allowed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits[key]
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= self.per_minute:
                return max(0.1, self.window - (now - q[0]))
            q.append(now)
            if len(self._hits) > 10000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window]:
                    del self._hits[k]
            return 0.0


class AppState:
    """The index the app serves, reloaded when ``CURRENT`` changes (an upload or another process ingested)."""

    def __init__(
        self, index_dir: Path | str, *, ask_fn: AskFn | None = None, llm: Any = None, index: IndexData | None = None
    ) -> None:
        self.index_dir = Path(index_dir)
        self._ask_fn = ask_fn
        self.llm = llm
        self._index = index
        self._lock = threading.Lock()
        self._ingest_lock = threading.Lock()
        self._scoped: OrderedDict[tuple[str, frozenset[str]], IndexData] = OrderedDict()
        self._jobs: Any = None
        self.ingest_in_worker = False
        """Run uploads' ingestion in a worker process (``assistant.jobs``); the app turns it on."""
        self._llms: OrderedDict[tuple[str, str, str, float], Any] = OrderedDict()
        self.preparing: dict[str, Any] | None = None
        """While the first start prepares the index: {"zh": text, "en": text, "fraction": float | None}; else None."""

    # -- index
    def index(self) -> IndexData | None:
        v = current_version(self.index_dir)
        with self._lock:
            if v is not None and (self._index is None or Path(self._index.path) != v):
                if self._index is not None:  # another process (a CLI ingest) may have written the embedded Chroma
                    from assistant.vectors import reopen_client

                    reopen_client(self.index_dir)
                self._index = load_index(self.index_dir)
                self._scoped.clear()
            return self._index

    def reports(self) -> list[ReportMeta]:
        idx = self.index()
        return list(idx.reports) if idx else []

    def page_label(self, report_id: str, page: int | None, lang: str = "zh") -> str:
        """A cited page as shown: '6', or the file and its own page for a report made of two files."""
        idx = self.index()
        return page_text(idx.report(report_id) if idx is not None else None, page, lang)

    def coverage(self, lang: str = "zh") -> str:
        """One line on what the served index covers (reports, departments, years)."""
        return coverage_line(self.reports(), lang)

    def preparing_text(self, lang: str) -> str:
        """What the first start is preparing, as one line ('' when ready)."""
        p = self.preparing
        if not p:
            return ""
        frac = p.get("fraction")
        pct = f" {frac:.0%}" if isinstance(frac, float) else ""
        return f"{p.get(lang) or p.get('zh', '')}{pct}"

    def select(
        self, department: str | None = None, year: Any = None, kind: str | None = None, scope: str | None = None
    ) -> list[str]:
        """Report ids matching the picker; [] when the picker says 'all'."""
        return select_reports(self.reports(), department, year, kind, scope)

    def resolve_filter(self, text: str | None) -> list[str]:
        """A report filter as typed in the API: a report id, or words matched against department, year, kind and
        scope (部门/单位, or 单位预算 …)."""
        text = (text or "").strip()
        if not text:
            return []
        reports = self.reports()
        exact = [r.report_id for r in reports if r.report_id == text]
        if exact:
            return exact
        words = text.replace(",", " ").split()
        hits = [
            r.report_id
            for r in reports
            if all(w in r.report_id or w in r.department or w in (str(r.year), r.kind, r.scope, r.scope + r.kind) for w in words)
        ]
        if not hits:
            raise FiscalQAError(
                f"no ingested report matches {text!r}; use a report id or department/year/kind/scope words, e.g. "
                + ", ".join(f"{r.report_id}" for r in reports[:5])
            )
        return hits

    def _scope(self, idx: IndexData, report_ids: Sequence[str]) -> IndexData:
        """The index restricted to ``report_ids`` (cached per index version and selection)."""
        ids = frozenset(report_ids)
        if ids >= {r.report_id for r in idx.reports}:
            return idx
        key = (str(idx.path), ids)
        with self._lock:
            sub = self._scoped.get(key)
            if sub is None:
                if idx.parts and getattr(idx, "_chunks", None) is None:  # partitioned: tables and chunks read from its parts
                    sub = IndexData(
                        path=idx.path,
                        reports=[r for r in idx.reports if r.report_id in ids],
                        facts=idx.facts_for(ids),
                        parts={r: p for r, p in idx.parts.items() if r in ids},
                        root=idx.root,
                    )
                    sub.counts = {r: c for r, c in idx.counts.items() if r in ids}
                else:
                    sub = IndexData(
                        path=idx.path,
                        reports=[r for r in idx.reports if r.report_id in ids],
                        tables=idx.tables[idx.tables.report_id.isin(ids)].reset_index(drop=True)
                        if len(idx.tables)
                        else idx.tables,
                        facts=idx.facts_for(ids),
                        chunks=idx.chunks[idx.chunks.report_id.isin(ids)].reset_index(drop=True)
                        if len(idx.chunks)
                        else idx.chunks,
                    )
                self._scoped[key] = sub
                while len(self._scoped) > SCOPED_CACHE:  # each holds a copy of its reports' facts
                    self._scoped.popitem(last=False)
            else:
                self._scoped.move_to_end(key)
            return sub

    # -- asking
    def ask(
        self, question: str, report_ids: Sequence[str] = (), history: list[Answer] | None = None, *, llm: Any = None
    ) -> Answer:
        """Answer a question; never raises (a failure becomes an answer that says what went wrong).

        ``llm``: a session's own LLM; None uses the server's (``FISCALQA_LLM_*``), if any.
        """
        if self.preparing and self.index() is None:
            return self._preparing_answer(question)
        try:
            target = self._target(report_ids)
            fn = self._ask_fn
            if fn is None:
                from assistant.ask import ask  # looked up per call: the engine may be replaced while serving
                fn = ask
            return fn(question, index=target, history=history or None, llm=llm or self.llm)
        except Exception as e:
            return self._failure(question, e)

    def ask_stream(
        self, question: str, report_ids: Sequence[str] = (), history: list[Answer] | None = None, *, llm: Any = None
    ) -> Iterator[str | Answer]:
        """Text pieces of the answer as an LLM writes them, then always the final ``Answer`` last; never raises.

        Without an LLM (or with a test engine) the whole answer text comes once. The final Answer's
        text may differ from the pieces (a sentence failed grounding): show the final one.
        """
        llm = llm or self.llm
        if llm is None or self._ask_fn is not None:
            a = self.ask(question, report_ids, history)
            yield a.answer
            yield a
            return
        try:
            from assistant.llm import ask_stream

            target = self._target(report_ids)
            for item in ask_stream(question, target, llm=llm, history=history or None):
                yield item
                if isinstance(item, Answer):
                    return
            raise RuntimeError("the answer stream ended without an answer")
        except Exception as e:
            yield self._failure(question, e)

    def _preparing_answer(self, question: str) -> Answer:
        lang = question_language(question)
        text = tr("preparing_ask", lang) + " " + self.preparing_text(lang)
        return Answer(question=question, route="none", answer=text.strip(), language=lang, meta={"status": "preparing"})

    def _target(self, report_ids: Sequence[str]) -> IndexData:
        idx = self.index()
        if idx is None:
            raise IndexMissingError(str(self.index_dir))
        return self._scope(idx, report_ids) if report_ids else idx

    def _failure(self, question: str, e: Exception) -> Answer:
        """The answer shown when asking failed: the error's own message, never a traceback."""
        lang = question_language(question)
        if isinstance(e, FiscalQAError):
            return Answer(question=question, route="none", answer=str(e), language=lang, meta={"error": type(e).__name__})
        if isinstance(e, NotImplementedError):
            msg = "问答引擎尚未安装。" if lang == "zh" else "The question-answering engine is not installed yet."
            return Answer(question=question, route="none", answer=msg, language=lang, meta={"error": "NotImplementedError"})
        log.error("ask failed for %r", question, exc_info=e)
        msg = (
            "抱歉，回答这个问题时出错了，请换个问法再试。"
            if lang == "zh"
            else "Sorry, answering this question failed; please rephrase it."
        )
        return Answer(question=question, route="none", answer=msg, language=lang, meta={"error": type(e).__name__})

    # -- a session's own LLM (set in the app; kept in memory, never written to disk)
    def session_llm(self, cfg: dict[str, Any] | None) -> Any:
        """The LLM for a session's settings (``parse_llm_settings``), one client per distinct setting."""
        if not cfg:
            return None
        key = (cfg["base_url"], cfg["model"], cfg.get("api_key") or "", float(cfg["timeout"]))
        with self._lock:
            llm = self._llms.get(key)
            if llm is not None:
                self._llms.move_to_end(key)
                return llm
        from assistant.llm import OpenAICompatibleLLM

        llm = OpenAICompatibleLLM(base_url=key[0], model=key[1], api_key=key[2] or None, timeout=key[3])
        with self._lock:
            self._llms[key] = llm
            while len(self._llms) > 32:
                self._llms.popitem(last=False)
        return llm

    def llm_for(self, cfg: dict[str, Any] | None) -> Any:
        """The LLM a session uses: its own settings, else the server's (None: deterministic answers)."""
        return self.session_llm(cfg) if cfg else self.llm

    def llm_status(self, cfg: dict[str, Any] | None, lang: str) -> str:
        """One line saying which LLM answers use in this session (never the key)."""
        llm = self.llm_for(cfg)
        if llm is None:
            return tr("llm_off", lang)
        return tr("llm_on", lang).format(model=getattr(llm, "model", "?"), url=getattr(llm, "base_url", "?"))

    def fact_raw(self, fact_id: str | None) -> str | None:
        if not fact_id:
            return None
        idx = self.index()
        if idx is None:
            return None
        rid = report_of_item(idx, fact_id)
        if rid is None:
            return None
        cache: OrderedDict[str, dict[str, str]] = idx.extra.setdefault("app_fact_raw", OrderedDict())
        raw = cache.get(rid)
        if raw is None:  # one report's printed values at a time, not every fact of the index
            facts = idx.facts_for([rid])
            raw = dict(zip(facts.fact_id, facts.raw, strict=True)) if len(facts) else {}
            cache[rid] = raw
            while len(cache) > SCOPED_CACHE:
                cache.popitem(last=False)
        return raw.get(fact_id)

    # -- ingesting
    def ingest(
        self,
        paths: list[Path],
        *,
        show_progress: bool = True,
        progress: Progress | None = None,
        lang: str = "zh",
        identity: Any | None = None,
        replace: bool = True,
        lock_timeout: float = 15.0,
    ) -> Any:
        """Ingest files into the served index (one ingest at a time; the index stays intact on failure).

        ``progress`` hears every step: each file read, each batch of passages embedded, the index written.
        ``identity`` (a ``ReportIdentity``: department, year, kind given in the upload form) overrides
        what the files print. ``replace=False`` refuses reports that would replace one in the index (the
        app asks first); another process writing the index (a CLI ingest) is waited for up to
        ``lock_timeout`` s.
        """
        if self.ingest_in_worker:  # parsing and embedding in a worker process: answers never wait for them
            from assistant.jobs import IngestJobs

            with self._lock:
                if self._jobs is None:
                    self._jobs = IngestJobs(self.index_dir)
            res = self._jobs.run(
                paths, commit_lock=self._ingest_lock, identity=identity, replace=replace, lock_timeout=lock_timeout
            )
        else:
            with self._ingest_lock:
                res = ingest_with_progress(
                    paths,
                    self.index_dir,
                    progress,
                    lang=lang,
                    show_progress=show_progress,
                    identity=identity,
                    replace=replace,
                    lock_timeout=lock_timeout,
                )
        self.index()
        return res

    def prepare(self, sources: list[Path], *, warm: bool = True) -> threading.Thread:
        """First start in the background: ingest what the index lacks, then warm the engine up.

        The app serves meanwhile; ``preparing`` says what is being done (the page shows it) and
        questions get a 'still preparing' answer until an index exists.
        """

        def note(fraction: float | None, text: str) -> None:
            zh, _, en = text.partition("\x1f")
            self.preparing = {"zh": zh, "en": en or zh, "fraction": fraction}

        def run() -> None:
            try:
                ensure_ingested(self.index_dir, sources, progress=note)
                note(None, tr("warming", "zh") + "\x1f" + tr("warming", "en"))
                self.index()
                if warm:
                    warm_up(self)
            except Exception:
                log.exception("preparing the index failed")
            finally:
                self.preparing = None
                log.info("ready: %s", self.coverage("en"))

        self.preparing = {"zh": tr("preparing", "zh"), "en": tr("preparing", "en"), "fraction": None}
        t = threading.Thread(target=run, name="fiscal-qa-prepare", daemon=True)
        t.start()
        return t


def as_state(index: Path | str | AppState, ask_fn: AskFn | None = None) -> AppState:
    return index if isinstance(index, AppState) else AppState(index, ask_fn=ask_fn)


def chat_turn(
    state: AppState,
    question: str,
    history: list[dict[str, str]] | None,
    past: list[Answer],
    report_ids: Sequence[str] = (),
    lang: str = "zh",
    *,
    llm: Any = None,
    no_match: bool = False,
) -> Iterator[tuple[list[dict[str, str]], Answer | None]]:
    """One chat turn as (chat messages, None) snapshots while the answer comes, then (messages, Answer).

    With an LLM its text streams as written (each sentence checked before it comes); the final
    Answer then replaces it, with its figures tied to their cells and the citation table. Without
    one, the computed answer is revealed progressively. ``no_match``: the picker matched no report.
    """
    msgs = [*(history or []), {"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
    yield list(msgs), None
    ql = question_language(question)
    if no_match:
        a = Answer(question=question, route="none", language=ql, answer=tr("no_match", lang))
        items: Iterator[str | Answer] = iter([a])
    else:
        items = state.ask_stream(question, report_ids, past, llm=llm)
    streamed = ""
    for item in items:
        if isinstance(item, Answer):
            a = item
            break
        if llm is not None:
            streamed += item
            msgs[-1] = {"role": "assistant", "content": html.escape(streamed, quote=False) + " ▍"}
            yield list(msgs), None
    body, cites = answer_markdown(a, state, ql)
    if not streamed:
        for part in stream_steps(body):
            msgs[-1] = {"role": "assistant", "content": part}
            yield list(msgs), None
    msgs[-1] = {"role": "assistant", "content": body + cites}
    yield msgs, a


def source_image(state: AppState, item: str | list[str]) -> str | None:
    """A PNG of the printed page region(s) behind a fact, several facts (a computed answer), or a chunk.

    Beside it, ``source.json`` says where the outlined cell is (``{"focus": [x, y]}``, fractions of the
    image) for the viewer's zoom. Regions on several pages are stacked into one image. None when there is no page image
    (the plain-text sample) or the source viewer is not available.
    """
    idx = state.index()
    if idx is None or not item:
        return None
    try:
        from assistant.source import render_focused  # the source viewer (optional module)

        shots = render_focused(idx, item)
    except ImportError:
        return None
    except FiscalQAError as e:  # no page image: the caller shows the row as text
        log.info("no page image: %s", e)
        return None
    except Exception:
        log.exception("rendering the source of %s failed", item)
        return None
    if not shots:
        return None
    pngs = [png for png, _ in shots]
    path = Path(tempfile.mkdtemp(prefix="fiscalqa-src-")) / "source.png"
    fx, fy = shots[0][1]
    path.with_suffix(".json").write_text(json.dumps({"focus": [fx, fy if len(pngs) == 1 else 0.0]}), encoding="utf-8")
    if len(pngs) == 1:
        path.write_bytes(pngs[0])
        return str(path)
    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    gap = 12
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images) + gap * (len(images) - 1)), "#cbd5e1")
    y = 0
    for im in images:
        sheet.paste(im, (0, y))
        y += im.height + gap
    sheet.save(path)
    return str(path)


def export_files(answers: list[Answer], session: str, state: AppState | None = None) -> tuple[str | None, str | None]:
    """The chat as Markdown and CSV files for the download buttons; ``state`` names a two-file report's file."""
    if not answers:
        return None, None
    from assistant.export import answers_csv, answers_markdown

    d = Path(tempfile.gettempdir()) / "fiscalqa-export" / re.sub(r"\W", "", session or "anon")[:32]
    d.mkdir(parents=True, exist_ok=True)
    md, csv_ = d / "fiscal-qa-chat.md", d / "fiscal-qa-chat.csv"
    label = (lambda c: state.page_label(c.report, c.page, "en")) if state is not None else None
    reports = state.reports() if state is not None else None  # a refusal names a few reports and their count
    md.write_text(answers_markdown(answers, page_label=label, reports=reports), encoding="utf-8")
    csv_.write_text("\ufeff" + answers_csv(answers, page_label=label, reports=reports), encoding="utf-8")
    return str(md), str(csv_)


def run_review(state: AppState, report_id: str | None) -> str:
    """Markdown of the review of a report (``assistant.review`` is optional: another part of the project)."""
    try:
        from assistant.review import render_markdown, review_report
    except ImportError:
        return ""
    idx = state.index()
    if idx is None or not report_id:
        return ""
    try:
        return render_markdown(review_report(idx, report_id))
    except FiscalQAError as e:
        return f"✗ {e}"
    except Exception as e:
        log.exception("review of %s failed", report_id)
        return f"✗ review failed ({type(e).__name__}: {e})"


def review_downloads(state: AppState, report_id: str | None) -> tuple[str, list[str]]:
    """The review of a report as Markdown for the page, and as files to download (.md, .json, .docx).

    The files are what ``fiscal-qa review --format md|json|docx`` writes, in a fresh temporary
    folder per call (two sessions reviewing at once do not overwrite each other).
    """
    try:
        from assistant.review import render_json, render_markdown, review_report, write_docx
    except ImportError:
        return "", []
    idx = state.index()
    if idx is None or not report_id:
        return "", []
    try:
        rv = review_report(idx, report_id)
        md = render_markdown(rv)
        d = Path(tempfile.mkdtemp(prefix="fiscalqa-review-"))
        stem = "review_" + re.sub(r"[^\w.-]", "_", rv.report_id)[:80]
        md_path, json_path = d / f"{stem}.md", d / f"{stem}.json"
        md_path.write_text(md, encoding="utf-8")
        json_path.write_text(render_json(rv), encoding="utf-8")
        docx_path = write_docx(rv, d / f"{stem}.docx")
        return md, [str(md_path), str(json_path), str(docx_path)]
    except FiscalQAError as e:
        return f"✗ {e}", []
    except Exception as e:
        log.exception("review of %s failed", report_id)
        return f"✗ review failed ({type(e).__name__}: {e})", []


# --------------------------------------------------------------------------- the public widget


def widget_reply(
    state: AppState, limiter: RateLimiter, question: str | None, client: str, *, max_chars: int = WIDGET_MAX_CHARS
) -> str:
    """The widget's answer as Markdown, or a friendly refusal (empty, too long, too many requests)."""
    q = (question or "").strip()
    lang = question_language(q)
    if not q:
        return "请输入问题。" if lang == "zh" else "Please type a question."
    if len(q) > max_chars:
        return (
            f"问题太长（{len(q)} 字），请控制在 {max_chars} 字以内。"
            if lang == "zh"
            else f"Your question is too long ({len(q)} characters); please keep it under {max_chars} characters."
        )
    wait = limiter.check(client)
    if wait:
        return (
            f"提问太频繁了（每分钟最多 {limiter.per_minute} 次），请 {wait:.0f} 秒后再试。"
            if lang == "zh"
            else f"Too many questions (at most {limiter.per_minute} a minute); please try again in {wait:.0f} s."
        )
    body, cites = answer_markdown(state.ask(q), state, lang)
    return body + cites


def ensure_ingested(index_dir: Path, paths: list[Path], *, progress: Progress | None = None) -> None:
    """Ingest the given files/folders that the index does not hold yet (by source file name), with progress.

    ``progress`` gets both languages as 'zh\x1fen' (the first start's page shows either).
    """
    from assistant.ingest import collect_files

    have: set[str] = set()
    if current_version(index_dir) is not None:
        have = {s for r in load_index(index_dir).reports for s in r.sources}
    missing: list[Path] = []
    for f in collect_files(paths):
        if f.name not in have:  # also drops a second copy of a file (the sample is in data/ and in the corpus)
            have.add(f.name)
            missing.append(f)
    if not missing:
        return
    log.info("ingesting %d file(s) into %s (first start)…", len(missing), index_dir)
    res = ingest_with_progress(missing, index_dir, progress, lang="both", show_progress=True)
    for s in res.reports:
        log.info("%s", s.line())
    for f in res.failures:
        log.warning("could not ingest %s: %s", f.path, f.reason)


class ProgressEmbedder:
    """The package's embedder, telling ``done(n)`` after every few passages (embedding is the slow step)."""

    BATCH = 8

    def __init__(self, done: Callable[[int], None], inner: Any = None) -> None:
        self._done = done
        self._inner = inner

    def _embedder(self) -> Any:
        if self._inner is None:
            from assistant.embed import default_embedder

            self._inner = default_embedder()
        return self._inner

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self.BATCH):
            batch = texts[i : i + self.BATCH]
            out.extend(self._embedder().embed_passages(batch))
            self._done(len(batch))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder(), name)


READ_SHARE = 0.4
"""Share of the progress bar for reading reports; embedding and writing take the rest."""


def _say(key: str, lang: str, **kw: Any) -> str:
    """An interface string filled in; ``lang='both'``: 'zh\x1fen'."""
    if lang == "both":
        return tr(key, "zh").format(**kw) + "\x1f" + tr(key, "en").format(**kw)
    return tr(key, lang).format(**kw)


def ingest_with_progress(
    paths: list[Path],
    index_dir: Path,
    progress: Progress | None,
    *,
    lang: str = "zh",
    show_progress: bool = True,
    embedder: Any = None,
    **options: Any,
) -> Any:
    """``ingest_paths`` telling ``progress`` every step: each file read (of n), each batch of passages embedded
    (of the new passages), then the index being written. ``lang='both'``: texts as 'zh\x1fen'.
    ``options`` go to ``ingest_paths`` (identity, replace, lock_timeout)."""
    from assistant.ingest import collect_files, ingest_paths, page_count

    if progress is None:
        return ingest_paths(paths, index_dir, show_progress=show_progress, embedder=embedder, **options)
    files = collect_files(paths)
    groups = len(files) or 1  # files, not reports: pairing files into reports needs them read
    pages = sum(page_count(f) for f in files) or 1
    seen = {"reports": 0, "pages": 0, "chunks": 0, "embedded": 0}

    def reading() -> None:
        frac = READ_SHARE * min(1.0, seen["pages"] / pages)
        counts = {"done": seen["reports"], "total": groups, "page": min(seen["pages"], pages), "pages": pages}
        progress(frac, _say("prog_read", lang, **counts))

    reading()

    def on_pages(n: int) -> None:
        seen["pages"] += n
        reading()

    def on_report(summary: Any) -> None:
        seen["reports"] += 1
        seen["chunks"] += int(getattr(summary, "chunks", 0) or 0)
        reading()

    def on_failure(_failure: Any) -> None:
        seen["reports"] += 1
        reading()

    def embedded(n: int) -> None:
        seen["embedded"] += n
        total = max(seen["chunks"], seen["embedded"], 1)
        frac = READ_SHARE + (0.95 - READ_SHARE) * seen["embedded"] / total
        progress(frac, _say("prog_embed", lang, done=seen["embedded"], total=total))
        if seen["embedded"] >= total:
            progress(0.96, _say("prog_write", lang))

    return ingest_paths(
        paths,
        index_dir,
        show_progress=show_progress,
        embedder=ProgressEmbedder(embedded, embedder),
        on_report=on_report,
        on_failure=on_failure,
        on_pages=on_pages,
        **options,
    )


def warm_up(state: AppState) -> None:
    """Answer a table and a text question so the engine's caches (facts, embeddings, Chroma) are built before users arrive."""
    t0 = time.perf_counter()
    for q in ("2023年公务接待费是多少？", "为什么执行率低？"):
        state.ask(q)
    log.info("warm-up in %.2f s", time.perf_counter() - t0)


def parse_llm_settings(
    base_url: str | None, model: str | None, api_key: str | None, timeout: Any, lang: str = "zh"
) -> tuple[dict[str, Any] | None, str | None]:
    """A session's LLM settings from the app's fields: (settings, None); (None, None) when the URL is empty
    (the server's own LLM, if ``FISCALQA_LLM_*`` configured one); (None, message) when a field is wrong.
    """
    url = (base_url or "").strip()
    if not url:
        return None, None
    if not re.match(r"https?://[^\s/]+", url):
        return None, tr("llm_bad_url", lang)
    if not (model or "").strip():
        return None, tr("llm_need_model", lang)
    try:
        t = float(timeout) if timeout not in (None, "") else 20.0
    except (TypeError, ValueError):
        t = 20.0
    t = min(max(t, 1.0), 120.0)
    return {"base_url": url, "model": (model or "").strip(), "api_key": (api_key or "").strip(), "timeout": t}, None
