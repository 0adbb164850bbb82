"""fiscal-qa web app: the full chat app, the embeddable public widget, and the ``ask`` HTTP API.

``python app.py`` ingests the bundled sample into ``indexes/`` when the index lacks it, then
serves on http://127.0.0.1:7860 — the full app at ``/`` and the widget at ``/widget``
(``--widget`` serves only the widget). This is the only module that imports gradio.

API (the same JSON object as ``fiscal-qa ask --json``)::

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("how much was spent on reception in 2023", "", api_name="/ask")

    curl -s -X POST http://127.0.0.1:7860/gradio_api/call/ask -H 'Content-Type: application/json' \
         -d '{"data": ["how much was spent on reception in 2023", ""]}'        # → {"event_id": "…"}
    curl -s -N http://127.0.0.1:7860/gradio_api/call/ask/<event_id>           # → event: complete / data: [{…}]

The second argument is an optional report filter: a report id or department/year/kind words.

The app never computes an answer itself: every question goes to ``assistant.ask.ask``; the app
renders the ``Answer`` (text, the figures tied to their cells, the citation table) and keeps the
chat for export (``assistant.export``).
"""

from __future__ import annotations

import argparse
import html
import io
import logging
import re
import socket
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from assistant.errors import FiscalQAError, IndexMissingError
from assistant.models import Answer, Citation, ReportMeta
from assistant.settings import REPO_DIR, SAMPLE_REPORT, Settings
from assistant.store import IndexData, current_version, load_index

log = logging.getLogger("fiscal_qa.app")

AskFn = Callable[..., Answer]

WIDGET_MAX_CHARS = 500
"""The public widget refuses longer questions (with a message)."""
WIDGET_PER_MINUTE = 10
"""Widget requests per client IP per minute."""
WIDGET_CONCURRENCY = 4
"""Widget questions answered at once; the rest wait in the queue."""
API_CONCURRENCY = 4
"""``ask`` API / chat answers computed at once (the engine is CPU-bound: more threads do not help)."""
QUEUE_MAX = 256
"""Requests waiting beyond this are turned away by gradio with a 'queue full' message."""
ALL = ""
"""Report picker value meaning 'any'."""

EXAMPLES = [
    "2023年公务接待费是多少？",
    "how much was spent on reception in 2023",
    "“三公”经费决算数是多少？",
    "为什么招商工作经费执行率低？",
    "What were the basic and project expenditures?",
]

# --------------------------------------------------------------------------- interface language

T: dict[str, tuple[str, str]] = {
    "title": ("财政预决算问答", "Budget & final-accounts Q&A"),
    "subtitle": (
        "就已公开的部门预算、决算提问：每个数字都注明出自哪张表、哪一行、哪一列。",
        "Ask about published department budgets and final accounts: every figure is cited to its table, row and column.",
    ),
    "tab_chat": ("问答", "Ask"),
    "tab_facts": ("数据浏览", "Facts"),
    "tab_charts": ("图表", "Charts"),
    "tab_upload": ("上传报告", "Add a report"),
    "tab_review": ("审查", "Review"),
    "question": ("问题", "Question"),
    "placeholder": ("例如：2023年公务接待费是多少？", "e.g. how much was spent on reception in 2023"),
    "send": ("提问", "Ask"),
    "clear": ("清空", "Clear"),
    "department": ("部门", "Department"),
    "year": ("年度", "Year"),
    "kind": ("类型", "Kind"),
    "scope": ("提问范围", "Ask about"),
    "examples": ("示例问题（点击提问）", "Example questions (click to ask)"),
    "sources": ("引用来源（最近一次回答）", "Sources of the last answer"),
    "source_view": ("原文位置", "Printed source"),
    "export_md": ("导出 Markdown", "Download Markdown"),
    "export_csv": ("导出 CSV", "Download CSV"),
    "report": ("报告", "Report"),
    "table": ("表", "Table"),
    "row_filter": ("行名包含", "Row label contains"),
    "facts": ("数据", "Facts"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "upload": ("PDF 报告（可多选）", "PDF reports (one or more)"),
    "ingest": ("导入", "Ingest"),
    "chart_report": ("图表报告", "Report for the charts"),
    "chart_item": ("跨报告比较的项目", "Item to compare across reports"),
    "review_btn": ("生成审查意见", "Review this report"),
    "lang": ("界面语言", "Interface"),
    "chart_three": ("“三公”经费构成（万元）", "Three public expenses by part (万元)"),
    "chart_bva": ("“三公”预算与决算（万元）", "Three public expenses: budget vs actual (万元)"),
    "chart_func": ("支出按功能分类（类，万元）", "Spending by function class (万元)"),
    "chart_across": ("跨部门、跨年度比较（万元）", "Across departments and years (万元)"),
}


def tr(key: str, lang: str) -> str:
    zh, en = T[key]
    return en if lang == "en" else zh


def question_language(q: str) -> str:
    return "zh" if re.search(r"[\u4e00-\u9fff]", q) else "en"


# --------------------------------------------------------------------------- state


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
        self._scoped: dict[tuple[str, frozenset[str]], IndexData] = {}

    # -- index
    def index(self) -> IndexData | None:
        v = current_version(self.index_dir)
        with self._lock:
            if v is not None and (self._index is None or Path(self._index.path) != v):
                self._index = load_index(self.index_dir)
                self._scoped.clear()
            return self._index

    def reports(self) -> list[ReportMeta]:
        idx = self.index()
        return list(idx.reports) if idx else []

    def select(self, department: str | None = None, year: Any = None, kind: str | None = None) -> list[str]:
        """Report ids matching the picker; [] when the picker says 'all'."""
        if not (department or year or kind):
            return []
        y = int(year) if year not in (None, "") else None
        return [
            r.report_id
            for r in self.reports()
            if (not department or r.department == department) and (y is None or r.year == y) and (not kind or r.kind == kind)
        ]

    def resolve_filter(self, text: str | None) -> list[str]:
        """A report filter as typed in the API: a report id, or words matched against department, year and kind."""
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
            if all(w in r.report_id or w in r.department or w == str(r.year) or w == r.kind for w in words)
        ]
        if not hits:
            raise FiscalQAError(
                f"no ingested report matches {text!r}; use a report id or department/year/kind words, e.g. "
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
                sub = IndexData(
                    path=idx.path,
                    reports=[r for r in idx.reports if r.report_id in ids],
                    tables=idx.tables[idx.tables.report_id.isin(ids)].reset_index(drop=True) if len(idx.tables) else idx.tables,
                    facts=idx.facts[idx.facts.report_id.isin(ids)].reset_index(drop=True),
                    chunks=idx.chunks[idx.chunks.report_id.isin(ids)].reset_index(drop=True) if len(idx.chunks) else idx.chunks,
                )
                self._scoped[key] = sub
            return sub

    # -- asking
    def ask(self, question: str, report_ids: Sequence[str] = (), history: list[Answer] | None = None) -> Answer:
        """Answer a question; never raises (a failure becomes an answer that says what went wrong)."""
        lang = question_language(question)
        try:
            idx = self.index()
            if idx is None:
                raise IndexMissingError(str(self.index_dir))
            target = self._scope(idx, report_ids) if report_ids else idx
            fn = self._ask_fn
            if fn is None:
                from assistant.ask import ask as fn  # looked up per call: the engine may be replaced while serving
            return fn(question, index=target, history=history or None, llm=self.llm)
        except FiscalQAError as e:
            return Answer(question=question, route="none", answer=str(e), language=lang, meta={"error": type(e).__name__})
        except NotImplementedError:
            msg = "问答引擎尚未安装。" if lang == "zh" else "The question-answering engine is not installed yet."
            return Answer(question=question, route="none", answer=msg, language=lang, meta={"error": "NotImplementedError"})
        except Exception as e:  # the UI must never show a traceback
            log.exception("ask failed for %r", question)
            msg = (
                "抱歉，回答这个问题时出错了，请换个问法再试。"
                if lang == "zh"
                else "Sorry, answering this question failed; please rephrase it."
            )
            return Answer(question=question, route="none", answer=msg, language=lang, meta={"error": type(e).__name__})

    def fact_raw(self, fact_id: str | None) -> str | None:
        if not fact_id:
            return None
        idx = self.index()
        if idx is None or not len(idx.facts):
            return None
        raw = idx.extra.get("app_fact_raw")
        if raw is None:
            raw = dict(zip(idx.facts.fact_id, idx.facts.raw, strict=True))
            idx.extra["app_fact_raw"] = raw
        return raw.get(fact_id)

    # -- ingesting
    def ingest(self, paths: list[Path], *, show_progress: bool = True) -> Any:
        """Ingest files into the served index (one ingest at a time; the index stays intact on failure)."""
        from assistant.ingest import ingest_paths

        with self._ingest_lock:
            res = ingest_paths(paths, self.index_dir, show_progress=show_progress)
        self.index()
        return res


def _state(index: Path | str | AppState, ask_fn: AskFn | None = None) -> AppState:
    return index if isinstance(index, AppState) else AppState(index, ask_fn=ask_fn)


# --------------------------------------------------------------------------- rendering answers


def _fmt_value(a: Answer) -> str:
    if a.value is None:
        return ""
    return f"{a.value:,.2f}" if a.unit in ("万元", "元", "亿元") else f"{a.value:g}"


def _number_pattern(raw: str) -> re.Pattern[str] | None:
    raw = raw.strip()
    if not re.fullmatch(r"-?[\d,]*\d(\.\d+)?%?", raw):
        return None
    bare = raw.replace(",", "")
    variants = {raw, bare}
    if "." in bare or len(bare) > 3:
        try:
            num = float(bare.rstrip("%"))
            decimals = len(bare.split(".")[1].rstrip("%")) if "." in bare else 0
            variants.add(f"{num:,.{decimals}f}")
        except ValueError:
            pass
    alts = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
    return re.compile(rf"(?<![\d.,])(?:{alts})(?![\d])")


def mark_figures(text: str, figures: list[tuple[int, str]]) -> str:
    """Bold each cited figure in ``text`` and tie it to its citation number: 50.00 → **50.00**<sup>[1]</sup>.

    ``figures``: (citation number, the cell's raw text). Each figure is marked at its first
    unmarked occurrence; figures not found in the text are left to the citation table.
    """
    taken: list[tuple[int, int, int]] = []
    for n, raw in figures:
        pat = _number_pattern(raw)
        if pat is None:
            continue
        for m in pat.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in taken):
                continue
            taken.append((m.start(), m.end(), n))
            break
    out, pos = [], 0
    for s, e, n in sorted(taken):
        out += [text[pos:s], f"**{text[s:e]}**<sup>[{n}]</sup>"]
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _md_cell(v: object) -> str:
    if v in (None, ""):
        return "—"
    return html.escape(str(v)).replace("|", "&#124;").replace("\n", " ")


def _short(text: str | None, n: int = 180) -> str:
    t = re.sub(r"\s+", " ", text or "").strip()
    return t if len(t) <= n else t[: n - 1] + "…"


CITE_HEAD = {
    "zh": ("#", "报告", "表", "行", "列", "页", "数值"),
    "en": ("#", "report", "table", "row", "column", "page", "value"),
}


def _who(c: Citation) -> str:
    return " ".join(str(x) for x in (c.department, c.year) if x) or c.report


def citation_markdown(a: Answer, state: AppState | None, lang: str) -> str:
    """The citation block under an answer: a small table of cited cells, then cited passages.

    When every cited cell comes from one report, the report is named once above the table.
    """
    if not a.citations:
        return ""
    figures = [(i, c) for i, c in enumerate(a.citations, 1) if c.table or c.fact_id]
    passages = [(i, c) for i, c in enumerate(a.citations, 1) if not (c.table or c.fact_id)]
    reports = {_who(c) for _, c in figures}
    one = len(reports) == 1
    head = list(CITE_HEAD[lang])
    if one:
        head.pop(1)
    out: list[str] = []
    if figures:
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for i, c in figures:
            raw = (state.fact_raw(c.fact_id) if state else None) or c.text
            cells = [f"[{i}]", _who(c), c.table, c.row, c.column, c.page, _short(raw, 14)]
            if one:
                cells.pop(1)
            out.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
    for i, c in passages:
        where = " · ".join(str(x) for x in (c.department, c.year, c.section) if x)
        page = (f"，第 {c.page} 页" if lang == "zh" else f", p. {c.page}") if c.page else ""
        out.append(f"\n> **[{i}]** {html.escape(where)}{page}  \n> {html.escape(_short(c.text, 220))}")
    label = "来源" if lang == "zh" else "Sources"
    if one:
        label += f"：{html.escape(next(iter(reports)))}" if lang == "zh" else f": {html.escape(next(iter(reports)))}"
    return f"\n\n**{label}**\n\n" + "\n".join(out)


def answer_markdown(a: Answer, state: AppState | None, lang: str | None = None) -> tuple[str, str]:
    """(answer text with figures tied to their citations, citation block)."""
    lang = lang or a.language or "zh"
    figures = [
        (i, (state.fact_raw(c.fact_id) if state else None) or (c.text or ""))
        for i, c in enumerate(a.citations, 1)
        if c.fact_id or c.table
    ]
    body = mark_figures(html.escape(a.answer, quote=False), figures)
    if a.value is not None and "<sup>" not in body and a.citations:
        body += f"  \n**{_fmt_value(a)} {html.escape(a.unit or '')}**<sup>[1]</sup>"
    return body, citation_markdown(a, state, lang)


SOURCE_COLUMNS = {
    "zh": ["#", "出处", "行", "列", "页", "原文"],
    "en": ["#", "source", "row", "column", "page", "text"],
}


def sources_frame(a: Answer | None, lang: str = "zh") -> pd.DataFrame:
    """The citations of an answer as the side table (click a row to see its printed source)."""
    rows = []
    for i, c in enumerate(a.citations if a else [], 1):
        where = c.table or c.section or c.report
        rows.append([i, where, c.row or "", c.column or "", c.page or "", _short(c.text, 120)])
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS[lang]).astype(object)


# --------------------------------------------------------------------------- facts and charts

FACT_VIEW = ["table", "code", "row_label", "column", "raw", "unit", "page"]
FACT_VIEW_WIDTHS = ["10%", "9%", "28%", "27%", "12%", "7%", "7%"]
FACT_CSV = [
    "table_number",
    "table_title",
    "code",
    "row_label",
    "column",
    "raw",
    "unit",
    "page",
    "value",
    "value_wan",
    "status",
    "fact_id",
]


def report_choices(state: AppState) -> list[tuple[str, str]]:
    return [(f"{r.department} · {r.year} · {r.kind}", r.report_id) for r in state.reports()]


def table_choices(state: AppState, report_id: str | None) -> list[tuple[str, str]]:
    idx = state.index()
    if idx is None or not report_id or not len(idx.tables):
        return []
    t = idx.tables[idx.tables.report_id == report_id]
    return [
        (f"{r.number or r.table_id} {r.title}".strip() + (" （空表）" if r.empty else ""), r.table_id) for r in t.itertuples()
    ]


def facts_view(
    state: AppState, report_id: str | None, table_id: str | None, row_filter: str = "", *, columns: list[str] = FACT_VIEW
) -> pd.DataFrame:
    """Facts of a report / table (row label substring filter), as shown in the browser."""
    idx = state.index()
    if idx is None:
        return pd.DataFrame(columns=columns)
    df = idx.facts
    if report_id:
        df = df[df.report_id == report_id]
    if table_id:
        df = df[df.table_id == table_id]
    if row_filter:
        df = df[df.row_label.str.contains(row_filter, regex=False, na=False)]
    df = df.assign(table=[n or t for n, t in zip(df.table_number, df.table_title, strict=True)])
    return df[columns].astype(object).where(lambda d: d.notna(), "").reset_index(drop=True)


def facts_csv(state: AppState, report_id: str | None, table_id: str | None, row_filter: str = "") -> str:
    df = facts_view(state, report_id, table_id, row_filter, columns=FACT_CSV)
    stem = "-".join(x for x in (report_id or "all", table_id or "") if x)
    path = Path(tempfile.mkdtemp(prefix="fiscalqa-facts-")) / f"facts-{stem}.csv"
    df.to_csv(path, index=False, encoding="utf-8-sig")  # BOM: Excel opens the Chinese text correctly
    return str(path)


THREE_PUBLIC = [
    ("total", "“三公”经费合计", "合计"),
    ("overseas", "因公出国（境）费", "出国"),
    ("vehicles", "公务用车购置及运行维护费", "用车"),
    ("reception", "公务接待费", "接待"),
]
MEASURES = ["预算数", "全年预算数", "决算数"]
_VEHICLE_PARTS = re.compile(r"›\s*(公务用车)?(购置费|运行维护费|运行费)\s*(›|$)")


def _money(df: pd.DataFrame) -> pd.DataFrame:
    df = df[df.value_wan.notna()].copy()
    df["万元"] = [float(v) for v in df.value_wan]
    return df


def _tp_item(key: str) -> str | None:
    """Which 三公 item a cell is about, from its row label and column path together.

    Tables print the items as rows (Yunnan: 3.公务接待费 …) or as columns (Shanghai, Jiangsu:
    “三公”经费 › 公务接待费 › 预算数); sub-items (国内接待费, 公务用车购置费 …) are not items.
    """
    if "因公出国" in key and not re.search(r"团组|人次|人数", key):
        return "overseas"
    if "公务用车购置及运行" in key and not _VEHICLE_PARTS.search(key) and not re.search(r"（辆）|\(辆\)|购置数|保有量", key):
        return "vehicles"
    if "公务接待费" in key:
        return "reception"
    if re.search(r"会议费|培训费|机关运行", key):
        return None
    if ("三公" in key and re.search(r"合计|小计", key)) or re.search(r"支出合计", key):
        return "total"
    return None


def _tp_measure(key: str, kind: str) -> str:
    if "决算" in key or "实际" in key or "执行数" in key:
        return "决算数"
    if "全年预算" in key:
        return "全年预算数"
    if "预算" in key:
        return "预算数"
    return "预算数" if kind == "预算" else "决算数"


def three_public_figures(idx: IndexData, report_id: str) -> pd.DataFrame:
    """The 三公 total and its three parts of one report, per measure (预算数 / 全年预算数 / 决算数), in 万元.

    The first 三公 table of the report is used (公开10表 before 公开11表); the first cell of each
    (item, measure) wins (the item's own row before its sub-rows).
    """
    cols = ["item", "项目", "短名", "口径", "万元"]
    meta = idx.report(report_id)
    df = _money(idx.facts[(idx.facts.report_id == report_id) & (idx.facts.table_kind == "three_public_expenses")])
    if meta is None or not len(df):
        return pd.DataFrame(columns=cols)
    df = df[df.table_id == sorted(df.table_id.unique(), key=lambda t: (len(t), t))[0]].sort_values("row_index", kind="stable")
    names = {k: (label, short) for k, label, short in THREE_PUBLIC}
    seen: dict[tuple[str, str], float] = {}
    for r in df.itertuples():
        key = f"{r.row_label} › {r.column}"
        item = _tp_item(key)
        if item is None:
            continue
        seen.setdefault((item, _tp_measure(key, meta.kind)), float(r.万元))
    order = {k: i for i, (k, _, _) in enumerate(THREE_PUBLIC)}
    rows = [
        (item, names[item][0], names[item][1], measure, v)
        for (item, measure), v in sorted(seen.items(), key=lambda kv: (order[kv[0][0]], MEASURES.index(kv[0][1])))
    ]
    return pd.DataFrame(rows, columns=cols)


def _headline_measure(fig: pd.DataFrame, kind: str) -> str:
    """决算数 for final accounts (when printed), else the budget."""
    have = set(fig["口径"])
    for m in ["决算数", "全年预算数", "预算数"] if kind == "决算" else ["预算数", "全年预算数", "决算数"]:
        if m in have:
            return m
    return "预算数"


def chart_three_public(state: AppState, report_id: str | None) -> pd.DataFrame:
    """三公 breakdown of a report: the three parts, in 万元 (actual for 决算 reports, budget otherwise)."""
    empty = pd.DataFrame({"项目": [], "万元": []})
    idx = state.index()
    meta = idx.report(report_id) if idx is not None and report_id else None
    if meta is None:
        return empty
    fig = three_public_figures(idx, meta.report_id)
    if not len(fig):
        return empty
    m = _headline_measure(fig, meta.kind)
    out = fig[(fig["口径"] == m) & (fig["item"] != "total")][["项目", "万元"]].reset_index(drop=True)
    if meta.kind == "决算" and m != "决算数":  # the actual is not printed: say which figure this is
        out["项目"] = [f"{x}（{m}）" for x in out["项目"]]
    return out if len(out) else empty


def chart_budget_vs_actual(state: AppState, report_id: str | None) -> pd.DataFrame:
    """三公 items: initial budget, full-year budget and actual side by side."""
    empty = pd.DataFrame({"项目": [], "万元": [], "口径": []})
    idx = state.index()
    if idx is None or not report_id:
        return empty
    fig = three_public_figures(idx, report_id)
    if not len(fig):
        return empty
    return pd.DataFrame(
        {
            "项目": [f"{s}·{m.removesuffix('数')}" for s, m in zip(fig["短名"], fig["口径"], strict=True)],
            "万元": fig["万元"],
            "口径": fig["口径"],
        }
    )


def _plot(df: pd.DataFrame, x: str) -> Any:
    """A BarPlot update that keeps the frame's row order on the x axis."""
    return gr.BarPlot(value=df, sort=list(dict.fromkeys(df[x].tolist())) if len(df) else None)


def chart_by_function(state: AppState, report_id: str | None) -> pd.DataFrame:
    """Spending by function class (类, 3-digit codes) of a report, in 万元."""
    empty = pd.DataFrame({"功能分类": [], "万元": []})
    idx = state.index()
    if idx is None or not report_id:
        return empty
    df = idx.facts[(idx.facts.report_id == report_id) & idx.facts.code.notna()]
    for kind in ("expenditure_by_function", "general_budget_by_function", "income_by_function"):
        part = _money(df[(df.table_kind == kind) & (df.code.str.len() == 3)])
        if not len(part):
            continue
        # the first (total) column of the first table of that kind
        part = part[part.table_id == part.table_id.iloc[0]]
        col = part.column.iloc[0]
        part = part[part.column == col]
        out = part.groupby("row_label", sort=False)["万元"].first().reset_index()
        out.columns = ["功能分类", "万元"]
        return out[out["万元"] != 0].reset_index(drop=True)
    return empty


CROSS_ITEMS = [label for _, label, _ in THREE_PUBLIC]


def chart_across(state: AppState, item: str | None) -> pd.DataFrame:
    """One 三公 figure across all ingested reports (actual for 决算, budget for 预算), in 万元."""
    empty = pd.DataFrame({"报告": [], "万元": [], "类型": []})
    idx = state.index()
    if idx is None or item not in CROSS_ITEMS:
        return empty
    rows = []
    for r in sorted(idx.reports, key=lambda r: (r.department, r.year)):
        fig = three_public_figures(idx, r.report_id)
        fig = fig[fig["项目"] == item]
        if not len(fig):
            continue
        hit = fig[fig["口径"] == ("决算数" if r.kind == "决算" else "预算数")]  # never show a budget as an actual
        if not len(hit):
            continue
        short = re.sub(r"^上海市普陀区(人民政府)?", "普陀区", r.department)
        scope = "（单位）" if r.scope == "单位" else ""
        rows.append({"报告": f"{short}{scope} {r.year}{r.kind}", "万元": float(hit.iloc[0]["万元"]), "类型": r.kind})
    return pd.DataFrame(rows) if rows else empty


# --------------------------------------------------------------------------- the full app

THEME = gr.themes.Soft(
    primary_hue="red",
    neutral_hue="slate",
    font=["Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"],
    font_mono=["Noto Sans Mono CJK SC", "ui-monospace", "monospace"],
)

APP_CSS = """
.gradio-container {width: 100% !important; max-width: 1280px !important; margin: auto;}
#fqa-header h1 {margin-bottom: 0; font-size: 1.6rem;}
#fqa-header p {margin-top: 4px; color: var(--body-text-color-subdued);}
#fqa-chat .message table, .fqa-answer table {font-size: 0.85em;}
#fqa-chat .message sup {color: var(--color-accent); font-weight: 600;}
.fqa-examples button {font-size: 0.85em !important;}
#fqa-lang {max-width: 260px; min-width: 200px;}
#fqa-chat table td:first-child, #fqa-chat table td:last-child, #fqa-chat table th {white-space: nowrap;}
#fqa-chat table td, .fqa-answer td {min-width: 3.5em;}
footer {display: none !important;}
"""

WIDGET_CSS = """
.gradio-container {width: 100% !important; max-width: 760px !important; margin: auto;}
.fqa-answer table {font-size: 0.85em;}
.fqa-answer sup {color: var(--color-accent); font-weight: 600;}
.fqa-answer td:first-child, .fqa-answer td:last-child, .fqa-answer th {white-space: nowrap;}
.fqa-answer td {min-width: 3.5em;}
footer {display: none !important;}
"""


def _export_files(answers: list[Answer], session: str) -> tuple[str | None, str | None]:
    if not answers:
        return None, None
    from assistant.export import answers_csv, answers_markdown

    d = Path(tempfile.gettempdir()) / "fiscalqa-export" / re.sub(r"\W", "", session or "anon")[:32]
    d.mkdir(parents=True, exist_ok=True)
    md, csv_ = d / "fiscal-qa-chat.md", d / "fiscal-qa-chat.csv"
    md.write_text(answers_markdown(answers), encoding="utf-8")
    csv_.write_text("\ufeff" + answers_csv(answers), encoding="utf-8")
    return str(md), str(csv_)


def _stream_steps(text: str, steps: int = 12) -> Iterator[str]:
    """Prefixes of ``text`` that end outside markup (no half-written **, <sup>)."""
    if len(text) < 24:
        yield text
        return
    size = max(4, len(text) // steps)
    pos = 0
    while pos < len(text):
        pos = min(len(text), pos + size)
        cut = text[:pos]
        if cut.count("**") % 2 or cut.rfind("<") > cut.rfind(">"):
            continue
        yield cut
    if pos != len(text):
        yield text


def _plain_reason(reason: str) -> str:
    """An ingest failure reason without server paths (uploads live in gradio's temp folders)."""
    return re.sub(r"(?:/[^/\s'\"]+)+/([^/\s'\"]+)", r"\1", reason)


def _review_fn() -> Callable[..., Any] | None:
    try:
        from assistant.review import review_report  # written by the review work; optional here
    except ImportError:
        return None
    return review_report


def build_app(index_dir: Path | str | AppState, *, ask_fn: AskFn | None = None, stream_delay: float = 0.02) -> gr.Blocks:
    """The full app: chat with citations, report picker, facts browser, charts, upload, review, and the ``ask`` API."""
    state = _state(index_dir, ask_fn)
    reports = state.reports()
    labelled: list[tuple[Any, str, str]] = []  # (component, T key, property) for the language switch

    def L(comp: Any, key: str, prop: str = "label") -> Any:
        labelled.append((comp, key, prop))
        return comp

    with gr.Blocks(title="fiscal-qa · 财政预决算问答", analytics_enabled=False) as demo:
        lang = gr.State("zh")
        answers = gr.State([])
        with gr.Row(equal_height=True):
            with gr.Column(scale=5):
                header = gr.Markdown(f"# {T['title'][0]}\n{T['subtitle'][0]}", elem_id="fqa-header")
            lang_radio = gr.Radio(
                [("中文", "zh"), ("English", "en")],
                value="zh",
                show_label=False,
                container=False,
                elem_id="fqa-lang",
                scale=1,
                min_width=180,
            )

        with gr.Tabs():
            # ------------------------------------------------------------- chat
            with gr.Tab(T["tab_chat"][0], id="chat") as tab_chat:
                with gr.Row():
                    with gr.Column(scale=3):
                        with gr.Row():
                            dept = L(
                                gr.Dropdown(
                                    [("全部 / All", ALL)] + sorted({(r.department, r.department) for r in reports}),
                                    value=ALL,
                                    label=T["department"][0],
                                    scale=3,
                                ),
                                "department",
                            )
                            year = L(
                                gr.Dropdown(
                                    [("全部 / All", ALL)] + [(str(y), str(y)) for y in sorted({r.year for r in reports})],
                                    value=ALL,
                                    label=T["year"][0],
                                    scale=1,
                                ),
                                "year",
                            )
                            kind = L(
                                gr.Dropdown(
                                    [("全部 / All", ALL), ("决算", "决算"), ("预算", "预算")],
                                    value=ALL,
                                    label=T["kind"][0],
                                    scale=1,
                                ),
                                "kind",
                            )
                        chat = gr.Chatbot(
                            elem_id="fqa-chat",
                            height=520,
                            show_label=False,
                            buttons=["copy"],
                            feedback_options=None,
                            placeholder=T["placeholder"][0],
                        )
                        with gr.Row():
                            msg = L(
                                L(
                                    gr.Textbox(
                                        show_label=False,
                                        placeholder=T["placeholder"][0],
                                        scale=6,
                                        elem_id="fqa-question",
                                        autofocus=True,
                                    ),
                                    "placeholder",
                                    "placeholder",
                                ),
                                "question",
                            )
                            send = L(gr.Button(T["send"][0], variant="primary", scale=1, elem_id="fqa-send"), "send", "value")
                            clear = L(gr.Button(T["clear"][0], scale=1), "clear", "value")
                        L(gr.Markdown(f"**{T['examples'][0]}**"), "examples", "md")
                        with gr.Row(elem_classes="fqa-examples"):
                            example_btns = [gr.Button(q, size="sm") for q in EXAMPLES]
                    with gr.Column(scale=2):
                        sources = L(
                            gr.Dataframe(
                                sources_frame(None),
                                label=T["sources"][0],
                                interactive=False,
                                wrap=True,
                                max_height=300,
                                elem_id="fqa-sources",
                                column_widths=["8%", "32%", "18%", "16%", "8%", "18%"],
                            ),
                            "sources",
                        )
                        source_img = L(
                            gr.Image(
                                label=T["source_view"][0],
                                show_label=False,
                                visible=False,
                                interactive=False,
                                type="filepath",
                                format="png",
                                elem_id="fqa-source-img",
                                buttons=["download", "fullscreen"],
                            ),
                            "source_view",
                        )
                        source_txt = gr.Markdown(visible=False, elem_id="fqa-source-text")
                        with gr.Row():
                            dl_md = L(gr.DownloadButton(T["export_md"][0], visible=False, size="sm"), "export_md", "value")
                            dl_csv = L(gr.DownloadButton(T["export_csv"][0], visible=False, size="sm"), "export_csv", "value")

            # ------------------------------------------------------------- facts
            with gr.Tab(T["tab_facts"][0], id="facts") as tab_facts:
                choices = report_choices(state)
                first = choices[0][1] if choices else None
                with gr.Row():
                    f_report = L(gr.Dropdown(choices, value=first, label=T["report"][0], scale=3), "report")
                    f_table = L(
                        gr.Dropdown([("全部 / All", "")] + table_choices(state, first), value="", label=T["table"][0], scale=3),
                        "table",
                    )
                    f_row = L(gr.Textbox(label=T["row_filter"][0], scale=2), "row_filter")
                f_df = L(
                    gr.Dataframe(
                        facts_view(state, first, None),
                        label=T["facts"][0],
                        interactive=False,
                        max_height=520,
                        wrap=True,
                        show_search="search",
                        column_widths=FACT_VIEW_WIDTHS,
                    ),
                    "facts",
                )
                f_dl = L(gr.DownloadButton(T["download_csv"][0], size="sm"), "download_csv", "value")

            # ------------------------------------------------------------- charts
            with gr.Tab(T["tab_charts"][0], id="charts") as tab_charts:
                c_report = L(gr.Dropdown(choices, value=first, label=T["chart_report"][0]), "chart_report")
                with gr.Row():
                    p_three = gr.BarPlot(
                        chart_three_public(state, first),
                        x="项目",
                        y="万元",
                        title=T["chart_three"][0],
                        height=300,
                        sort=None,
                    )
                    b0 = chart_budget_vs_actual(state, first)
                    p_budget = gr.BarPlot(
                        b0,
                        x="项目",
                        y="万元",
                        color="口径",
                        title=T["chart_bva"][0],
                        height=300,
                        x_label_angle=-45,
                        sort=list(dict.fromkeys(b0["项目"].tolist())) or None,
                        color_map={"预算数": "#94a3b8", "全年预算数": "#f59e0b", "决算数": "#dc2626"},
                    )
                p_func = gr.BarPlot(
                    chart_by_function(state, first),
                    x="功能分类",
                    y="万元",
                    title=T["chart_func"][0],
                    height=300,
                    x_label_angle=-20,
                    sort="-y",
                )
                c_item = L(gr.Dropdown(CROSS_ITEMS, value="公务接待费", label=T["chart_item"][0]), "chart_item")
                p_across = gr.BarPlot(
                    chart_across(state, "公务接待费"),
                    x="报告",
                    y="万元",
                    color="类型",
                    title=T["chart_across"][0],
                    height=320,
                    x_label_angle=-30,
                    sort="-y",
                )

            # ------------------------------------------------------------- upload
            with gr.Tab(T["tab_upload"][0], id="upload") as tab_upload:
                up_files = L(
                    gr.File(file_count="multiple", file_types=[".pdf", ".txt"], label=T["upload"][0], elem_id="fqa-upload"),
                    "upload",
                )
                up_btn = L(gr.Button(T["ingest"][0], variant="primary", elem_id="fqa-ingest"), "ingest", "value")
                up_status = gr.Markdown(elem_id="fqa-upload-status")

            # ------------------------------------------------------------- review
            review = _review_fn()
            with gr.Tab(T["tab_review"][0], id="review", visible=review is not None) as tab_review:
                r_report = L(gr.Dropdown(choices, value=first, label=T["report"][0]), "report")
                r_btn = L(gr.Button(T["review_btn"][0], variant="primary"), "review_btn", "value")
                r_out = gr.Markdown()

        L(p_three, "chart_three", "title")
        L(p_budget, "chart_bva", "title")
        L(p_func, "chart_func", "title")
        L(p_across, "chart_across", "title")
        tabs = [
            (tab_chat, "tab_chat"),
            (tab_facts, "tab_facts"),
            (tab_charts, "tab_charts"),
            (tab_upload, "tab_upload"),
            (tab_review, "tab_review"),
        ]

        # ----------------------------------------------------------------- handlers
        def respond(question: str, history: list, past: list[Answer], d: str, y: str, k: str, lg: str, request: gr.Request):
            question = (question or "").strip()
            if not question:
                yield history, "", past, gr.skip(), gr.skip(), gr.skip()
                return
            history = list(history or []) + [{"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
            yield history, "", past, gr.skip(), gr.skip(), gr.skip()
            ids = state.select(d, y, k)
            if (d or y or k) and not ids:
                a = Answer(
                    question=question,
                    route="none",
                    language=question_language(question),
                    answer="没有符合所选部门、年度和类型的报告。"
                    if lg == "zh"
                    else "No ingested report matches the department, year and kind selected.",
                )
            else:
                a = state.ask(question, ids, history=past)
            body, cites = answer_markdown(a, state, question_language(question))
            for part in _stream_steps(body):
                history[-1] = {"role": "assistant", "content": part}
                yield history, "", past, gr.skip(), gr.skip(), gr.skip()
                time.sleep(stream_delay)
            history[-1] = {"role": "assistant", "content": body + cites}
            past = [*past, a]
            md, csv_ = _export_files(past, getattr(request, "session_hash", "") or "anon")
            yield (
                history,
                "",
                past,
                sources_frame(a, lg),
                gr.update(value=md, visible=True),
                gr.update(value=csv_, visible=True),
            )

        chat_io = dict(
            inputs=[msg, chat, answers, dept, year, kind, lang],
            outputs=[chat, msg, answers, sources, dl_md, dl_csv],
            concurrency_limit=API_CONCURRENCY,
            concurrency_id="answer",
            api_visibility="undocumented",
        )
        shown = dict(inputs=[answers], outputs=[source_img, source_txt], api_visibility="undocumented")
        msg.submit(respond, **chat_io).then(lambda past: answer_sources(state, past), **shown)
        send.click(respond, **chat_io).then(lambda past: answer_sources(state, past), **shown)
        for b in example_btns:
            b.click(lambda q: q, inputs=b, outputs=msg, queue=False, api_visibility="undocumented").then(respond, **chat_io).then(
                lambda past: answer_sources(state, past), **shown
            )

        def clear_chat() -> tuple:
            return (
                [],
                [],
                sources_frame(None),
                gr.update(visible=False),
                gr.update(visible=False),
                gr.update(visible=False),
                gr.update(visible=False),
            )

        clear.click(
            clear_chat,
            outputs=[chat, answers, sources, dl_md, dl_csv, source_img, source_txt],
            queue=False,
            api_visibility="undocumented",
        )

        def show_source(past: list[Answer], evt: gr.SelectData) -> tuple:
            a = past[-1] if past else None
            if a is None or evt.index is None:
                return gr.skip(), gr.skip()
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            if not (0 <= row < len(a.citations)):
                return gr.skip(), gr.skip()
            return render_source(state, a, row)

        sources.select(show_source, inputs=[answers], outputs=[source_img, source_txt], api_visibility="undocumented")

        # facts
        def on_report(rid: str) -> tuple:
            return gr.update(choices=[("全部 / All", "")] + table_choices(state, rid), value=""), facts_view(state, rid, None)

        f_report.change(on_report, f_report, [f_table, f_df], api_visibility="undocumented")
        f_table.change(
            lambda r, t, q: facts_view(state, r, t or None, q), [f_report, f_table, f_row], f_df, api_visibility="undocumented"
        )
        f_row.submit(
            lambda r, t, q: facts_view(state, r, t or None, q), [f_report, f_table, f_row], f_df, api_visibility="undocumented"
        )
        f_dl.click(
            lambda r, t, q: facts_csv(state, r, t or None, q), [f_report, f_table, f_row], f_dl, api_visibility="undocumented"
        )

        # charts
        c_report.change(
            lambda r: (
                chart_three_public(state, r),
                _plot(chart_budget_vs_actual(state, r), "项目"),
                chart_by_function(state, r),
            ),
            c_report,
            [p_three, p_budget, p_func],
            api_visibility="undocumented",
        )
        c_item.change(lambda i: chart_across(state, i), c_item, p_across, api_visibility="undocumented")

        # upload
        def do_ingest(files: list[str] | None, lg: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008
            if not files:
                return ("请先选择 PDF 文件。" if lg == "zh" else "Choose a PDF file first."), *([gr.skip()] * 6)
            progress(0, desc="ingest")
            try:
                res = state.ingest([Path(f) for f in files], show_progress=True)
            except Exception as e:  # the orchestrator reports bad files itself; this is a store/write failure
                log.exception("ingest failed")
                return (f"✗ {'导入失败，索引未改变' if lg == 'zh' else 'Ingest failed; the index is unchanged'}: {e}"), *(
                    [gr.skip()] * 6
                )
            lines = []
            for s in res.reports:
                lines.append(
                    f"✓ **{s.department} {s.year} {s.kind}** — {s.facts} facts, {s.chunks} chunks, checks {s.checks_passed}/{s.checks_run}"
                )
            for f in res.failures:
                head = "导入失败" if lg == "zh" else "Could not ingest"
                lines.append(f"✗ **{head}** `{Path(f.path).name}`: {_plain_reason(f.reason)}")
            if res.failures and not res.reports:
                lines.append(
                    "\n"
                    + (
                        "索引未改变，之前导入的报告仍可提问。"
                        if lg == "zh"
                        else "The index is unchanged; earlier reports still answer."
                    )
                )
            ch = report_choices(state)
            rep = state.reports()
            upd = gr.update(choices=ch)
            return (
                "\n\n".join(lines),
                gr.update(choices=[("全部 / All", ALL)] + sorted({(r.department, r.department) for r in rep})),
                gr.update(choices=[("全部 / All", ALL)] + [(str(y), str(y)) for y in sorted({r.year for r in rep})]),
                upd,
                upd,
                upd,
                gr.update(value=None),
            )

        up_btn.click(
            do_ingest,
            [up_files, lang],
            [up_status, dept, year, f_report, c_report, r_report, up_files],
            concurrency_limit=1,
            api_visibility="undocumented",
        )

        # review
        if review is not None:
            r_btn.click(lambda rid: run_review(state, rid), r_report, r_out, concurrency_limit=2, api_visibility="undocumented")

        # language
        def switch(lg: str) -> list:
            ups: list[Any] = [lg, gr.update(value=f"# {tr('title', lg)}\n{tr('subtitle', lg)}")]
            for _comp, key, prop in labelled:
                if prop == "md":
                    ups.append(gr.update(value=f"**{tr(key, lg)}**"))
                else:
                    ups.append(gr.update(**{prop: tr(key, lg)}))
            ups += [gr.update(label=tr(key, lg)) for _, key in tabs]
            ups.append(gr.update(placeholder=tr("placeholder", lg)))
            return ups

        lang_radio.change(
            switch,
            lang_radio,
            [lang, header, *[c for c, _, _ in labelled], *[t for t, _ in tabs], chat],
            queue=False,
            api_visibility="undocumented",
        )

        # ----------------------------------------------------------------- API
        def api_ask(question: str, report: str = "") -> dict:
            """Answer a question about the ingested reports. `report`: optional report id or department/year/kind words."""
            try:
                ids = state.resolve_filter(report)
            except FiscalQAError as e:
                raise gr.Error(str(e)) from e
            return state.ask(question or "", ids).to_json()

        gr.api(api_ask, api_name="ask", concurrency_limit=API_CONCURRENCY, concurrency_id="answer")

    demo.queue(max_size=QUEUE_MAX, default_concurrency_limit=API_CONCURRENCY)
    return demo


def source_image(state: AppState, item: str | list[str]) -> str | None:
    """A PNG of the printed page region(s) behind a fact, several facts (a computed answer), or a chunk.

    Regions on several pages are stacked into one image. None when there is no page image
    (the plain-text sample) or the source viewer is not available.
    """
    idx = state.index()
    if idx is None or not item:
        return None
    try:
        from assistant.source import render  # the source viewer (optional module)

        pngs = render(idx, item)
    except ImportError:
        return None
    except FiscalQAError as e:  # no page image: the caller shows the row as text
        log.info("no page image: %s", e)
        return None
    except Exception:
        log.exception("rendering the source of %s failed", item)
        return None
    if not pngs:
        return None
    path = Path(tempfile.mkdtemp(prefix="fiscalqa-src-")) / "source.png"
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


def _cite_caption(c: Citation) -> str:
    return " · ".join(str(x) for x in (c.department, c.year, c.table, c.row, c.column, c.section) if x) + (
        f" · p.{c.page}" if c.page else ""
    )


def answer_sources(state: AppState, past: list[Answer]) -> tuple:
    """(image, text) after an answer: every cited cell outlined on its page (all cells of a computed answer)."""
    a = past[-1] if past else None
    if a is None:
        return gr.update(value=None, visible=False), gr.update(visible=False)
    fact_ids = [c.fact_id for c in a.citations if c.fact_id]
    shot = source_image(state, fact_ids) if fact_ids else None
    if shot is None:
        shot = next((s for c in a.citations if c.chunk_id and (s := source_image(state, c.chunk_id))), None)
    return gr.update(value=shot, visible=shot is not None), gr.update(visible=False)


def render_source(state: AppState, a: Answer, row: int) -> tuple:
    """(image update, text update) for citation ``row`` of an answer: its printed page region, or the row as text."""
    c = a.citations[row]
    item = c.fact_id or c.chunk_id
    text = _cite_caption(c) + (f"\n\n> {html.escape(_short(c.text, 400))}" if c.text else "")
    shot = source_image(state, item) if item else None
    idx = state.index()
    if shot is None and c.fact_id and idx is not None:
        text += "\n\n" + fact_row_markdown(idx, c.fact_id)
    return gr.update(value=shot, visible=shot is not None), gr.update(value=text, visible=True)


def fact_row_markdown(idx: IndexData, fact_id: str) -> str:
    """The whole printed row of a fact as a small table (column → value), the cited cell in bold."""
    f = idx.facts
    hit = f[f.fact_id == fact_id]
    if not len(hit):
        return ""
    h = hit.iloc[0]
    row = f[(f.report_id == h.report_id) & (f.table_id == h.table_id) & (f.row_index == h.row_index)]
    code = h.code if isinstance(h.code, str) and h.code else ""
    lines = [f"**{html.escape(str(h.row_label))}**" + (f"（{code}）" if code else ""), "", "| 列 | 值 |", "|---|---|"]
    for r in row.itertuples():
        unit = r.unit if isinstance(r.unit, str) and r.value is not None and not str(r.raw).endswith(r.unit) else ""
        cell = _md_cell(f"{r.raw} {unit}".strip() if r.raw else "")
        lines.append(f"| {_md_cell(r.column)} | {'**' + cell + '**' if r.fact_id == fact_id else cell} |")
    return "\n".join(lines)


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


def build_widget(
    index_dir: Path | str | AppState,
    *,
    ask_fn: AskFn | None = None,
    max_chars: int = WIDGET_MAX_CHARS,
    per_minute: int = WIDGET_PER_MINUTE,
    concurrency: int = WIDGET_CONCURRENCY,
) -> gr.Blocks:
    """The embeddable widget: a question box and answers with citations, with friendly limits."""
    state = _state(index_dir, ask_fn)
    limiter = RateLimiter(per_minute)

    def answer(question: str, request: gr.Request) -> str:
        client = getattr(getattr(request, "client", None), "host", None) or "unknown"
        return widget_reply(state, limiter, question, client, max_chars=max_chars)

    with gr.Blocks(title="财政预决算问答 · fiscal-qa", analytics_enabled=False) as widget:
        gr.Markdown(
            "### 财政预决算问答 · Budget Q&A\n"
            "<small>答案只来自已公开的部门预算、决算报告，每个数字注明出处。"
            "Answers come only from published budget and final-accounts reports; every figure is cited.</small>",
            elem_id="fqa-widget-title",
        )
        with gr.Row():
            q = gr.Textbox(
                show_label=False,
                placeholder="例如：2023年公务接待费是多少？ / how much was spent on reception in 2023",
                scale=6,
                elem_id="fqa-widget-question",
                lines=1,
                max_lines=4,
            )
            b = gr.Button("提问 Ask", variant="primary", scale=1, elem_id="fqa-widget-send")
        out = gr.Markdown(elem_id="fqa-widget-answer", elem_classes="fqa-answer")
        io = dict(inputs=q, outputs=out, concurrency_limit=concurrency, concurrency_id="widget", api_visibility="undocumented")
        q.submit(answer, **io)
        b.click(answer, **io)
    widget.queue(max_size=QUEUE_MAX, default_concurrency_limit=concurrency)
    return widget


# --------------------------------------------------------------------------- serving


def create_server(state: AppState, *, widget_only: bool = False, widget_kwargs: dict[str, Any] | None = None) -> Any:
    """A FastAPI app: the widget at ``/widget`` and (unless ``widget_only``) the full app and API at ``/``."""
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    app = FastAPI(title="fiscal-qa", docs_url=None, redoc_url=None)
    app.add_api_route("/widget", lambda: RedirectResponse("/widget/"), include_in_schema=False)
    app = gr.mount_gradio_app(
        app,
        build_widget(state, **(widget_kwargs or {})),
        path="/widget",
        theme=THEME,
        css=WIDGET_CSS,
        ssr_mode=False,
        footer_links=[],
    )
    if widget_only:
        app.add_api_route("/", lambda: RedirectResponse("/widget/"), include_in_schema=False)
    else:
        app = gr.mount_gradio_app(app, build_app(state), path="/", theme=THEME, css=APP_CSS, ssr_mode=False, footer_links=["api"])
    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now (for tests and benchmarks)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server (uvicorn in a thread): ``url`` and ``close()``."""

    url: str
    _server: Any
    _thread: threading.Thread

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def start_server(
    state: AppState | Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    widget_only: bool = False,
    widget_kwargs: dict[str, Any] | None = None,
) -> Server:
    """Serve in a background thread (tests, benchmarks); port 0 picks a free port."""
    import uvicorn

    state = _state(state)
    port = port or free_port(host)
    config = uvicorn.Config(
        create_server(state, widget_only=widget_only, widget_kwargs=widget_kwargs),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="fiscal-qa-server")
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - t0 > 60:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.05)
    return Server(url=f"http://{host}:{port}", _server=server, _thread=thread)


def ensure_ingested(index_dir: Path, paths: list[Path]) -> None:
    """Ingest the given files/folders that the index does not hold yet (by source file name), with progress."""
    from assistant.ingest import collect_files, ingest_paths

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
    log.warning("ingesting %d file(s) into %s (first start)…", len(missing), index_dir)
    res = ingest_paths(missing, index_dir, show_progress=True)
    for s in res.reports:
        log.warning("%s", s.line())
    for f in res.failures:
        log.warning("could not ingest %s: %s", f.path, f.reason)


def warm_up(state: AppState) -> None:
    """Answer a table and a text question so the engine's caches (facts, embeddings, Chroma) are built before users arrive."""
    t0 = time.perf_counter()
    for q in ("2023年公务接待费是多少？", "为什么执行率低？"):
        state.ask(q)
    log.info("warm-up in %.2f s", time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve the fiscal-qa app (full app at /, widget at /widget, API ask).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--index", help="index folder (default indexes/ or $FISCALQA_INDEX)")
    p.add_argument(
        "--reports", action="append", default=[], help="also ingest this folder of reports (e.g. ../shared/reports); repeatable"
    )
    p.add_argument("--widget", action="store_true", help="serve only the public widget")
    p.add_argument("--no-sample", action="store_true", help="do not ingest the bundled sample")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    settings = Settings.from_env()
    index_dir = Path(args.index) if args.index else settings.index_dir
    if not index_dir.is_absolute() and not args.index:
        index_dir = REPO_DIR / index_dir
    sources = ([] if args.no_sample else [SAMPLE_REPORT]) + [Path(d) for d in args.reports]
    if sources:
        ensure_ingested(index_dir, sources)
    llm = None
    if settings.llm_configured:
        from assistant.llm import llm_from_settings

        llm = llm_from_settings(settings)
    state = AppState(index_dir, llm=llm)
    warm_up(state)

    import uvicorn

    app = create_server(state, widget_only=args.widget)
    log.warning("serving on http://%s:%d/ (widget: /widget/)", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
