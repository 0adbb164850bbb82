"""fiscal-qa web app: the full chat app, the embeddable public widget, and the ``ask`` HTTP API.

``python app.py`` serves on http://127.0.0.1:7860 — the full app at ``/`` and the widget at ``/widget``
(``--widget`` serves only the widget) — at once, and ingests the bundled sample into ``indexes/`` in the
background when the index lacks it (the page says what is being prepared). This is the only module that
imports gradio.

API (the same JSON object as ``fiscal-qa ask --json``)::

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("how much was spent on reception in 2023", "", api_name="/ask")

    curl -s -X POST http://127.0.0.1:7860/gradio_api/call/ask -H 'Content-Type: application/json' \
         -d '{"data": ["how much was spent on reception in 2023", ""]}'        # → {"event_id": "…"}
    curl -s -N http://127.0.0.1:7860/gradio_api/call/ask/<event_id>           # → event: complete / data: [{…}]

The second argument is an optional report filter: a report id or department/year/kind/scope words
(``司法局 2026 单位预算``).

This module is the Gradio layout and event wiring only. The logic lives in gradio-free modules:
``assistant.appstate`` (served index, asking and streaming, rate limiter, session LLM, export),
``assistant.present`` (answer Markdown, citations, picker options, facts browser),
``assistant.charts`` (chart frames) and ``assistant.i18n`` (interface strings). The app never
computes an answer itself: every question goes to ``assistant.ask`` (``assistant.llm.ask_stream``
when an LLM is configured by ``FISCALQA_LLM_*`` or in the app's settings, per session).
"""

from __future__ import annotations

import argparse
import html
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from assistant.appstate import (
    WIDGET_MAX_CHARS,
    WIDGET_PER_MINUTE,
    AppState,
    AskFn,
    RateLimiter,
    as_state,
    chat_turn,
    export_files,
    parse_llm_settings,
    review_downloads,
    source_image,
    widget_reply,
)
from assistant.charts import CROSS_ITEMS, chart_across, chart_budget_vs_actual, chart_by_function, chart_three_public
from assistant.deploy import (
    DeployConfig,
    RateLimits,
    ScopedLimiter,
    check_upload_paths,
    client_address,
    maybe_sweep,
    remove_uploads,
)
from assistant.errors import FiscalQAError
from assistant.i18n import EXAMPLES, T, question_language, tr
from assistant.models import Answer
from assistant.present import (
    ALL,
    FACT_VIEW_WIDTHS,
    cite_caption,
    clarified_question,
    clarify_options,
    fact_row_markdown,
    facts_csv,
    facts_view,
    ingest_summary,
    picker_choices,
    report_choices,
    shorten,
    source_view_html,
    table_choices,
)
from assistant.settings import REPO_DIR, SAMPLE_REPORT, Settings

log = logging.getLogger("fiscal_qa.app")

__all__ = ["AppState", "RateLimiter", "build_app", "build_widget", "create_server", "free_port", "main", "start_server"]

WIDGET_CONCURRENCY = 4
"""Widget questions answered at once; the rest wait in the queue."""
API_CONCURRENCY = 4
"""``ask`` API / chat answers computed at once (the engine is CPU-bound: more threads do not help)."""
QUEUE_MAX = 256
"""Requests waiting beyond this are turned away by gradio with a 'queue full' message."""


def _plot(df: pd.DataFrame, x: str) -> Any:
    """A BarPlot update that keeps the frame's row order on the x axis."""
    return gr.BarPlot(value=df, sort=list(dict.fromkeys(df[x].tolist())) if len(df) else None)


# --------------------------------------------------------------------------- the full app

THEME = gr.themes.Soft(
    primary_hue="red",
    neutral_hue="slate",
    font=["Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"],
    font_mono=["Noto Sans Mono CJK SC", "ui-monospace", "monospace"],
)

_TABLE_CSS = """
{scope} table {{font-size: 0.85em; display: block; overflow-x: auto; max-width: 100%; border-collapse: collapse;}}
{scope} table td, {scope} table th {{padding: 2px 8px; min-width: 4.5em; vertical-align: top;}}
{scope} table td:first-child, {scope} table th:first-child {{min-width: 2.5em;}}
{scope} table td:first-child, {scope} table td:last-child, {scope} table th {{white-space: nowrap;}}
{scope} sup {{color: var(--color-accent); font-weight: 600;}}
@media (max-width: 640px) {{
  {scope} table, {scope} tbody, {scope} tr {{display: block; overflow: visible;}}
  {scope} thead {{display: none;}}
  {scope} tr {{padding: 4px 2px; border-bottom: 1px solid var(--border-color-primary);}}
  {scope} table td {{display: inline; border: none; padding: 0; min-width: 0; white-space: normal !important;}}
  {scope} table td:not(:last-child)::after {{content: " · "; color: var(--body-text-color-subdued);}}
  {scope} table td:last-child {{font-weight: 600;}}
}}
"""

APP_CSS = """
.gradio-container {width: 100% !important; max-width: 1320px !important; margin: auto;}
#fqa-header h1 {margin-bottom: 0; font-size: 1.6rem;}
#fqa-header p {margin-top: 4px; color: var(--body-text-color-subdued);}
#fqa-status {padding: 6px 12px; border-radius: 8px; background: var(--color-accent-soft);}
#fqa-chat sup, #fqa-chat td:first-child {cursor: pointer;}
#fqa-chat sup:hover, #fqa-chat td:first-child:hover {text-decoration: underline;}
.fqa-examples button, .fqa-options button {font-size: 0.85em !important;}
#fqa-lang {max-width: 260px; min-width: 180px;}
#fqa-source-caption {font-size: 0.9em;}
.fqa-zoom {max-height: 72vh; overflow: auto; border: 1px solid var(--border-color-primary); border-radius: 6px; background: #fff;}
.fqa-zoom img {display: block; width: 100%; max-width: none; cursor: zoom-in;}
.fqa-zoom[data-zoom="2"] img {width: 200%; cursor: zoom-out;}
.fqa-zoom[data-zoom="3"] img {width: 300%; cursor: zoom-out;}
.fqa-zoom-bar {display: flex; gap: 6px; margin: 4px 0; font-size: 0.85em; align-items: center;}
.fqa-zoom-bar button {border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 8px; background: var(--button-secondary-background-fill);}
#fqa-review {max-height: 70vh; overflow-y: auto;}
#fqa-cite-bridge {display: none !important;}
.tab-wrapper, [role="tablist"] {overflow-x: auto; scrollbar-width: thin;}
footer {display: none !important;}
@media (max-width: 640px) {
  .gradio-container {padding: 4px !important;}
  #fqa-header h1 {font-size: 1.25rem;}
  #fqa-chat {height: 70vh !important;}
  [role="tab"] {padding-left: 8px !important; padding-right: 8px !important;}
}
""" + _TABLE_CSS.format(scope="#fqa-chat")

WIDGET_CSS = """
.gradio-container {width: 100% !important; max-width: 760px !important; margin: auto;}
#fqa-widget-title h3 {margin-bottom: 2px;}
#fqa-widget-cover {color: var(--body-text-color-subdued); font-size: 0.9em;}
.fqa-examples button {font-size: 0.85em !important;}
footer {display: none !important;}
@media (max-width: 640px) { .gradio-container {padding: 4px !important;} }
""" + _TABLE_CSS.format(scope=".fqa-answer")

CITE_JS = """
if (!window.__fqaCite) {
  window.__fqaCite = true;
  document.addEventListener('click', (ev) => {
    const chat = document.getElementById('fqa-chat');
    if (!chat || !chat.contains(ev.target)) return;
    const mark = ev.target.closest('sup, td');
    if (!mark) return;
    const m = (mark.textContent || '').trim().match(/^\\[(\\d+)\\]$/);
    if (!m) return;
    const bot = mark.closest('[data-testid="bot"]');
    if (!bot) return;
    const bots = Array.from(chat.querySelectorAll('[data-testid="bot"]'));
    props.value = bots.indexOf(bot) + ':' + m[1] + ':' + Date.now();
    trigger('click');
    if (window.innerWidth < 700) {  // one column: the source panel is below the chat, bring it into view
      setTimeout(() => document.getElementById('fqa-source-caption')?.scrollIntoView({behavior: 'smooth'}), 400);
    }
  });
}
"""
"""Clicking an [n] mark (in the answer or its citation table) tells the server which answer and citation."""

ZOOM_JS = """
element.addEventListener('click', (ev) => {
  const box = element.querySelector('.fqa-zoom');
  if (!box) return;
  const z = parseInt(box.dataset.zoom || '1');
  const b = ev.target.closest('button[data-z]');
  let next = z;
  if (b) { const d = b.dataset.z; next = d === '+' ? Math.min(3, z + 1) : d === '-' ? Math.max(1, z - 1) : 1; }
  else if (ev.target.closest('.fqa-zoom img')) next = z >= 2 ? 1 : 2;
  else return;
  box.dataset.zoom = next;
  const img = box.querySelector('img');
  requestAnimationFrame(() => {  // keep the outlined cell in view
    box.scrollLeft = img.clientWidth * parseFloat(box.dataset.fx || '0.5') - box.clientWidth / 2;
    box.scrollTop = img.clientHeight * parseFloat(box.dataset.fy || '0.5') - box.clientHeight / 2;
  });
});
"""
"""The source viewer: click the page to zoom in and out, or use ＋ / − / fit."""

N_OPTIONS = 6
"""Buttons for the options of a clarifying answer."""


def _review_fn() -> Callable[..., Any] | None:
    try:
        from assistant.review import review_report  # written by the review work; optional here
    except ImportError:
        return None
    return review_report


def _keep(value: Any, choices: list[tuple[str, str]], default: Any = ALL) -> Any:
    """The picked value when it is still a choice, else ``default``."""
    return value if value in {v for _, v in choices} else default


def report_lists(state: AppState, dept: Any = ALL, year: Any = ALL, scope: Any = ALL, *reports: Any) -> list[Any]:
    """Updates of every report list and picker from the index as it is now (page load, upload, tab switch).

    ``reports``: the current values of the facts, charts and review report lists (kept when still there).
    """
    rep = state.reports()
    picks = picker_choices(rep)
    choices = report_choices(rep)
    first = choices[0][1] if choices else None
    ups = [
        gr.update(choices=picks["department"], value=_keep(dept, picks["department"])),
        gr.update(choices=picks["year"], value=_keep(str(year) if year else ALL, picks["year"])),
        gr.update(choices=picks["scope"], value=_keep(scope, picks["scope"])),
    ]
    ups += [gr.update(choices=choices, value=_keep(r, choices, first)) for r in reports]
    return ups


def build_app(
    index_dir: Path | str | AppState,
    *,
    ask_fn: AskFn | None = None,
    stream_delay: float = 0.02,
    llm_settings: bool = True,
    deploy: DeployConfig | None = None,
    limits: RateLimits | None = None,
) -> gr.Blocks:
    """The full app: chat with citations, report picker, facts browser, charts, upload, review, and the ``ask`` API.

    ``llm_settings``: show the per-session LLM settings (off for a server that must not call user-given URLs).
    ``deploy``: what this deployment allows (upload, LLM settings; see ``assistant.deploy``); ``limits``: the
    rate limits of the ``ask`` API.
    Report lists are rebuilt on every page load, after an upload and when a tab is opened, so every
    session sees what the index holds now.
    """
    deploy = deploy or DeployConfig()
    llm_settings = llm_settings and deploy.llm_settings_enabled
    upload = deploy.upload_enabled
    state = as_state(index_dir, ask_fn)
    reports = state.reports()
    picks = picker_choices(reports)
    labelled: dict[Any, dict[str, str]] = {}  # component → {property: T key}, for the language switch

    def L(comp: Any, key: str, prop: str = "label") -> Any:
        labelled.setdefault(comp, {})[prop] = key
        return comp

    with gr.Blocks(title="fiscal-qa · 财政预决算问答", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        lang = gr.State("zh")
        answers = gr.State([])
        pending = gr.State(None)  # (question, what, options) of the last clarifying answer
        llm_cfg = gr.State(None)  # this session's LLM settings (memory only, never written to disk)
        with gr.Row(equal_height=True):
            with gr.Column(scale=5, min_width=240):
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
        status = gr.Markdown(state.preparing_text("zh"), elem_id="fqa-status", visible=bool(state.preparing))
        timer = gr.Timer(1.0, active=bool(state.preparing))

        with gr.Tabs():
            # ------------------------------------------------------------- chat
            with gr.Tab(T["tab_chat"][0], id="chat") as tab_chat:
                with gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        with gr.Row():
                            dept = L(
                                gr.Dropdown(
                                    picks["department"],
                                    value=ALL,
                                    label=T["department"][0],
                                    scale=3,
                                    min_width=160,
                                    elem_id="fqa-dept",
                                ),
                                "department",
                            )
                            year = L(gr.Dropdown(picks["year"], value=ALL, label=T["year"][0], scale=1, min_width=90), "year")
                            kind = L(gr.Dropdown(picks["kind"], value=ALL, label=T["kind"][0], scale=1, min_width=90), "kind")
                            scope = L(gr.Dropdown(picks["scope"], value=ALL, label=T["scope"][0], scale=1, min_width=90), "scope")
                        chat = L(
                            gr.Chatbot(
                                elem_id="fqa-chat",
                                height=540,
                                show_label=False,
                                buttons=["copy"],
                                feedback_options=None,
                                placeholder=T["chat_empty"][0],
                            ),
                            "chat_empty",
                            "placeholder",
                        )
                        with gr.Row(elem_classes="fqa-options"):
                            opt_btns = [gr.Button(visible=False, size="sm", elem_classes="fqa-option") for _ in range(N_OPTIONS)]
                        with gr.Row():
                            msg = L(
                                L(
                                    gr.Textbox(
                                        show_label=False,
                                        placeholder=T["placeholder"][0],
                                        scale=6,
                                        elem_id="fqa-question",
                                        autofocus=True,
                                        min_width=200,
                                    ),
                                    "placeholder",
                                    "placeholder",
                                ),
                                "question",
                            )
                            send = L(
                                gr.Button(T["send"][0], variant="primary", scale=1, elem_id="fqa-send", min_width=70),
                                "send",
                                "value",
                            )
                            clear = L(gr.Button(T["clear"][0], scale=1, min_width=70, elem_id="fqa-clear"), "clear", "value")
                        examples_md = L(gr.Markdown(f"**{T['examples'][0]}**"), "examples", "md")
                        with gr.Row(elem_classes="fqa-examples"):
                            example_btns = [gr.Button(q, size="sm") for q in EXAMPLES]
                    with gr.Column(scale=2, min_width=300):
                        source_cap = gr.Markdown(
                            f"**{T['source_view'][0]}** · {T['source_hint'][0]}", elem_id="fqa-source-caption"
                        )
                        source_view = gr.HTML("", elem_id="fqa-source-view", js_on_load=ZOOM_JS, min_height=0)
                        source_txt = gr.Markdown(visible=False, elem_id="fqa-source-text")
                        with gr.Row():
                            dl_md = L(
                                gr.DownloadButton(T["export_md"][0], visible=False, size="sm", elem_id="fqa-dl-md"), "export_md"
                            )
                            dl_csv = L(
                                gr.DownloadButton(T["export_csv"][0], visible=False, size="sm", elem_id="fqa-dl-csv"),
                                "export_csv",
                            )
                        with gr.Accordion(T["llm"][0], open=False, elem_id="fqa-llm", visible=llm_settings) as llm_box:
                            llm_url = L(
                                gr.Textbox(label=T["llm_base_url"][0], placeholder="https://api.deepseek.com/v1", max_lines=1),
                                "llm_base_url",
                            )
                            with gr.Row():
                                llm_model = L(
                                    gr.Textbox(label=T["llm_model"][0], placeholder="deepseek-chat", max_lines=1, scale=2),
                                    "llm_model",
                                )
                                llm_timeout = L(
                                    gr.Number(20, label=T["llm_timeout"][0], minimum=1, maximum=120, scale=1), "llm_timeout"
                                )
                            llm_key = L(gr.Textbox(label=T["llm_api_key"][0], type="password", max_lines=1), "llm_api_key")
                            llm_apply = L(gr.Button(T["llm_apply"][0], size="sm"), "llm_apply", "value")
                            llm_status = gr.Markdown(state.llm_status(None, "zh"), elem_id="fqa-llm-status")
                        L(llm_box, "llm")
                cite_bridge = gr.HTML("", html_template="", elem_id="fqa-cite-bridge", js_on_load=CITE_JS, min_height=0)

            # ------------------------------------------------------------- facts
            with gr.Tab(T["tab_facts"][0], id="facts") as tab_facts:
                choices = report_choices(reports)
                first = choices[0][1] if choices else None
                with gr.Row():
                    f_report = L(
                        gr.Dropdown(choices, value=first, label=T["report"][0], scale=3, elem_id="fqa-f-report"), "report"
                    )
                    f_table = L(
                        gr.Dropdown(
                            [(ALL_TABLES, "")] + table_choices(state.index(), first), value="", label=T["table"][0], scale=3
                        ),
                        "table",
                    )
                    f_row = L(gr.Textbox(label=T["row_filter"][0], scale=2), "row_filter")
                f_df = L(
                    gr.Dataframe(
                        facts_view(state.index(), first, None, lang="zh"),
                        label=T["facts"][0],
                        interactive=False,
                        max_height=520,
                        wrap=True,
                        show_search="search",
                        column_widths=FACT_VIEW_WIDTHS,
                        elem_id="fqa-facts",
                    ),
                    "facts",
                )
                f_dl = L(gr.DownloadButton(T["download_csv"][0], size="sm", elem_id="fqa-f-dl"), "download_csv")

            # ------------------------------------------------------------- charts
            with gr.Tab(T["tab_charts"][0], id="charts") as tab_charts:
                c_report = L(
                    gr.Dropdown(choices, value=first, label=T["chart_report"][0], elem_id="fqa-c-report"), "chart_report"
                )
                with gr.Row():
                    p_three = gr.BarPlot(
                        chart_three_public(state.index(), first),
                        x="项目",
                        y="万元",
                        title=T["chart_three"][0],
                        height=320,
                        x_label_angle=-20,
                        sort=None,
                        min_width=300,
                    )
                    b0 = chart_budget_vs_actual(state.index(), first)
                    p_budget = gr.BarPlot(
                        b0,
                        x="项目",
                        y="万元",
                        color="口径",
                        title=T["chart_bva"][0],
                        height=320,
                        x_label_angle=-45,
                        sort=list(dict.fromkeys(b0["项目"].tolist())) or None,
                        color_map={"预算数": "#94a3b8", "全年预算数": "#f59e0b", "决算数": "#dc2626"},
                        min_width=300,
                    )
                p_func = gr.BarPlot(
                    chart_by_function(state.index(), first),
                    x="功能分类",
                    y="万元",
                    title=T["chart_func"][0],
                    height=340,
                    x_label_angle=-30,
                    sort="-y",
                )
                c_item = L(gr.Dropdown(CROSS_ITEMS, value="公务接待费", label=T["chart_item"][0]), "chart_item")
                p_across = gr.BarPlot(
                    chart_across(state.index(), "公务接待费"),
                    x="报告",
                    y="万元",
                    color="类型",
                    title=T["chart_across"][0],
                    height=380,
                    x_label_angle=-40,
                    sort="-y",
                    elem_id="fqa-across",
                )

            # ------------------------------------------------------------- upload
            with gr.Tab(T["tab_upload"][0], id="upload", visible=upload) as tab_upload:
                up_files = L(
                    gr.File(file_count="multiple", file_types=[".pdf", ".txt"], label=T["upload"][0], elem_id="fqa-upload"),
                    "upload",
                )
                with gr.Row():  # identity for a report that does not print it readably (overrides what it prints)
                    up_dept = L(gr.Textbox(label=T["up_department"][0], elem_id="fqa-up-department"), "up_department")
                    up_year = L(gr.Number(label=T["up_year"][0], precision=0, elem_id="fqa-up-year"), "up_year")
                    up_kind = L(
                        gr.Dropdown(["", "预算", "决算"], value="", label=T["up_kind"][0], elem_id="fqa-up-kind"), "up_kind"
                    )
                up_btn = L(gr.Button(T["ingest"][0], variant="primary", elem_id="fqa-ingest"), "ingest", "value")
                up_replace = L(gr.Checkbox(False, label=T["up_replace"][0], elem_id="fqa-upload-replace"), "up_replace")
                up_status = gr.Markdown(elem_id="fqa-upload-status")

            # ------------------------------------------------------------- review
            review = _review_fn()
            with gr.Tab(T["tab_review"][0], id="review", visible=review is not None) as tab_review:
                with gr.Row():
                    r_report = L(
                        gr.Dropdown(choices, value=first, label=T["report"][0], scale=4, elem_id="fqa-r-report"), "report"
                    )
                    r_btn = L(
                        gr.Button(T["review_btn"][0], variant="primary", scale=1, elem_id="fqa-review-btn"), "review_btn", "value"
                    )
                r_files = L(
                    gr.File(label=T["review_files"][0], file_count="multiple", interactive=False, elem_id="fqa-review-files"),
                    "review_files",
                )
                r_out = gr.Markdown(elem_id="fqa-review", max_height=900)

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

        # ----------------------------------------------------------------- report lists, in every session
        lists_in = [dept, year, scope, f_report, c_report, r_report]
        refresh = dict(inputs=lists_in, outputs=lists_in, queue=False, show_progress="hidden", api_visibility="undocumented")

        def on_load(lg: str, *values: Any) -> list[Any]:
            busy = bool(state.preparing)
            return [gr.update(value=state.preparing_text(lg), visible=busy), gr.Timer(active=busy), *report_lists(state, *values)]

        demo.load(
            on_load,
            [lang, *lists_in],
            [status, timer, *lists_in],
            queue=False,
            show_progress="hidden",
            api_visibility="undocumented",
        )

        def on_tick(lg: str, *values: Any) -> list[Any]:
            if state.preparing:
                return [gr.update(value=state.preparing_text(lg), visible=True), gr.skip(), *([gr.skip()] * len(values))]
            return [gr.update(value="", visible=False), gr.Timer(active=False), *report_lists(state, *values)]

        timer.tick(
            on_tick,
            [lang, *lists_in],
            [status, timer, *lists_in],
            queue=False,
            show_progress="hidden",
            api_visibility="undocumented",
        )
        for t in (tab_facts, tab_charts, tab_review):
            t.select(lambda *v: report_lists(state, *v), **refresh)

        # ----------------------------------------------------------------- chat
        def respond(
            question: str,
            history: list,
            past: list[Answer],
            d: str,
            y: str,
            k: str,
            sc: str,
            lg: str,
            cfg: dict | None,
            request: gr.Request,
        ):
            question = (question or "").strip()
            idle = [gr.skip()] * (3 + N_OPTIONS)
            if not question:
                yield history, "", past, gr.skip(), *idle
                return
            hide = [gr.update(visible=False)] * N_OPTIONS
            ids = state.select(d, y, k, sc)
            turn = chat_turn(
                state, question, history, past, ids, lg, llm=state.llm_for(cfg), no_match=bool(d or y or k or sc) and not ids
            )
            first_step = True
            for history, a in turn:
                if a is None:
                    yield history, "", past, gr.skip(), gr.skip(), gr.skip(), gr.skip(), *(hide if first_step else idle[3:])
                    first_step = False
                    time.sleep(stream_delay)
            if a is None:  # chat_turn always ends with the answer
                return
            past = [*past, a]
            md, csv_ = export_files(past, getattr(request, "session_hash", "") or "anon", state)
            what, options = clarify_options(a)
            opts = [gr.update(visible=i < len(options), value=options[i] if i < len(options) else "") for i in range(N_OPTIONS)]
            yield (
                history,
                "",
                past,
                (question, what, options) if options else None,
                gr.skip(),
                gr.update(value=md, visible=True),
                gr.update(value=csv_, visible=True),
                *opts,
            )

        chat_io = dict(
            inputs=[msg, chat, answers, dept, year, kind, scope, lang, llm_cfg],
            outputs=[chat, msg, answers, pending, status, dl_md, dl_csv, *opt_btns],
            concurrency_limit=API_CONCURRENCY,
            concurrency_id="answer",
            api_visibility="undocumented",
        )
        shown = dict(inputs=[answers, lang], outputs=[source_cap, source_view, source_txt], api_visibility="undocumented")

        def after_answer(past: list[Answer], lg: str) -> tuple:
            return answer_sources(state, past, lg)

        msg.submit(respond, **chat_io).then(after_answer, **shown)
        send.click(respond, **chat_io).then(after_answer, **shown)
        for b in example_btns:
            b.click(lambda q: q, inputs=b, outputs=msg, queue=False, api_visibility="undocumented").then(respond, **chat_io).then(
                after_answer, **shown
            )
        for i, b in enumerate(opt_btns):

            def pick(pend: tuple | None, lg: str, i: int = i) -> str:
                if not pend or i >= len(pend[2]):
                    return ""
                q, what, options = pend
                return clarified_question(q, what, options[i], question_language(q))

            b.click(pick, [pending, lang], msg, queue=False, api_visibility="undocumented").then(respond, **chat_io).then(
                after_answer, **shown
            )

        def clear_chat(lg: str) -> tuple:
            return (
                [],
                [],
                None,
                gr.update(visible=False),
                gr.update(visible=False),
                gr.update(value=f"**{tr('source_view', lg)}** · {tr('source_hint', lg)}"),
                "",
                gr.update(visible=False),
                *[gr.update(visible=False)] * N_OPTIONS,
            )

        clear.click(
            clear_chat,
            inputs=[lang],
            outputs=[chat, answers, pending, dl_md, dl_csv, source_cap, source_view, source_txt, *opt_btns],
            queue=False,
            api_visibility="undocumented",
        )

        def show_cited(pick: str, past: list[Answer], lg: str) -> tuple:
            """An [n] mark was clicked: show that citation of that answer large."""
            try:
                turn, n = (int(x) for x in str(pick).split(":")[:2])
            except ValueError:
                return gr.skip(), gr.skip(), gr.skip()
            if not (0 <= turn < len(past)) or not (1 <= n <= len(past[turn].citations)):
                return gr.skip(), gr.skip(), gr.skip()
            return render_source(state, past[turn], n - 1, lg)

        cite_bridge.click(
            show_cited, [cite_bridge, answers, lang], [source_cap, source_view, source_txt], api_visibility="undocumented"
        )

        # ----------------------------------------------------------------- facts
        def on_report(rid: str, lg: str) -> tuple:
            return gr.update(choices=[(ALL_TABLES, "")] + table_choices(state.index(), rid), value=""), facts_view(
                state.index(), rid, None, lang=lg
            )

        f_report.change(on_report, [f_report, lang], [f_table, f_df], api_visibility="undocumented")
        gr.on(
            [f_table.change, f_row.submit],
            lambda r, t, q, lg: facts_view(state.index(), r, t or None, q, lang=lg),
            [f_report, f_table, f_row, lang],
            f_df,
            api_visibility="undocumented",
        )
        f_dl.click(
            lambda r, t, q: facts_csv(state.index(), r, t or None, q),
            [f_report, f_table, f_row],
            f_dl,
            api_visibility="undocumented",
        )

        # ----------------------------------------------------------------- charts
        c_report.change(
            lambda r: (
                chart_three_public(state.index(), r),
                _plot(chart_budget_vs_actual(state.index(), r), "项目"),
                chart_by_function(state.index(), r),
            ),
            c_report,
            [p_three, p_budget, p_func],
            api_visibility="undocumented",
        )
        c_item.change(lambda i: chart_across(state.index(), i), c_item, p_across, api_visibility="undocumented")

        # ----------------------------------------------------------------- upload
        def do_ingest(
            files: list[str] | None,
            u_dept: str | None,
            u_year: float | None,
            u_kind: str | None,
            lg: str,
            replace: bool,
            *values: Any,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> list:
            if not upload:
                return ["✗ upload is off on this server", *([gr.skip()] * (2 + len(values)))]
            given = upload_identity(u_dept, u_year, u_kind)
            return upload_reports(state, files, lg, list(values), progress, deploy=deploy, identity=given, replace=bool(replace))

        up_btn.click(
            do_ingest,
            [up_files, up_dept, up_year, up_kind, lang, up_replace, *lists_in],
            [up_status, up_files, kind, *lists_in],
            concurrency_limit=1,
            api_visibility="undocumented",
        )

        # ----------------------------------------------------------------- review
        if review is not None:
            r_btn.click(
                lambda rid: review_downloads(state, rid),
                r_report,
                [r_out, r_files],
                concurrency_limit=2,
                api_visibility="undocumented",
            )

        # ----------------------------------------------------------------- this session's LLM
        def apply_llm(url: str, model: str, key: str, timeout: float, cfg: dict | None, lg: str) -> tuple:
            if not llm_settings:
                return None, state.llm_status(None, lg)
            new, problem = parse_llm_settings(url, model, key, timeout, lg)
            if problem:
                return cfg, f"✗ {problem}"
            return new, state.llm_status(new, lg)

        llm_apply.click(
            apply_llm if llm_settings else (lambda *_a: (None, "✗")),
            [llm_url, llm_model, llm_key, llm_timeout, llm_cfg, lang],
            [llm_cfg, llm_status],
            queue=False,
            api_visibility="private",  # never an API: it would let any caller point the server at any URL
        )

        # ----------------------------------------------------------------- language
        comps = list(labelled)

        def switch(lg: str, cfg: dict | None, past: list[Answer], r: str, t: str, q: str) -> list:
            ups: list[Any] = [
                lg,
                gr.update(value=f"# {tr('title', lg)}\n{tr('subtitle', lg)}"),
                state.llm_status(cfg, lg),
                gr.update(value=state.preparing_text(lg)),
            ]
            for comp in comps:
                props = labelled[comp]
                if props.get("md"):
                    ups.append(gr.update(value=f"**{tr(props['md'], lg)}**"))
                else:
                    attrs: dict[str, Any] = {p: tr(k, lg) for p, k in props.items()}
                    ups.append(gr.update(**attrs))
            ups += [gr.update(label=tr(key, lg)) for _, key in tabs]
            ups.append(facts_view(state.index(), r, t or None, q, lang=lg))
            ups.append(gr.update(value=f"**{tr('source_view', lg)}** · {tr('source_hint', lg)}") if not past else gr.skip())
            return ups

        lang_radio.change(
            switch,
            [lang_radio, llm_cfg, answers, f_report, f_table, f_row],
            [lang, header, llm_status, status, *comps, *[t for t, _ in tabs], f_df, source_cap],
            queue=False,
            api_visibility="undocumented",
        )
        _ = examples_md

        # ----------------------------------------------------------------- API
        def api_ask(question: str, report: str = "", request: gr.Request = None) -> dict:  # type: ignore[assignment]
            """Answer a question about the ingested reports. `report`: optional report id or department/year/kind words."""
            if question is not None and not isinstance(question, str):
                raise gr.Error(f"the question must be text, not {type(question).__name__}")
            if limits is not None and request is not None:
                who = client_address(getattr(request.client, "host", None), dict(request.headers), deploy.trusted_proxies)
                wait = limits.check("api", who)
                if wait:
                    raise gr.Error(limits.message(wait, "en"))
            try:
                ids = state.resolve_filter(report)
            except FiscalQAError as e:
                raise gr.Error(str(e)) from e
            return state.ask(question or "", ids).to_json()

        gr.api(api_ask, api_name="ask", concurrency_limit=API_CONCURRENCY, concurrency_id="answer")

    demo.queue(max_size=QUEUE_MAX, default_concurrency_limit=API_CONCURRENCY)
    return demo


ALL_TABLES = "全部 / All"


def upload_identity(dept: str | None, year: float | None, kind: str | None) -> Any:
    """The identity typed in the upload form (overrides what the files print), or None when nothing was typed."""
    if not ((dept or "").strip() or year or kind):
        return None
    from assistant.models import ReportIdentity

    return ReportIdentity(department=(dept or "").strip() or None, year=int(year) if year else None, kind=kind or None)  # type: ignore[arg-type]


def upload_reports(
    state: AppState,
    files: list[str] | None,
    lang: str,
    values: list[Any],
    progress: Any,
    *,
    deploy: DeployConfig | None = None,
    identity: Any = None,
    replace: bool = False,
) -> list:
    """The upload handler: ingest the files with progress for every step, then the summary and every report list
    rebuilt. Returns [status, file box, kind picker, department, year, scope, facts, charts, review lists].

    Only files this app received as uploads are ingested (a crafted event could name any path on the server);
    ``replace`` must be ticked for a report that would replace one in the index."""
    deploy = deploy or DeployConfig()
    skip = [gr.skip()] * (2 + len(values))
    if not files:
        return [tr("pick_pdf", lang), *skip]
    try:
        paths = check_upload_paths(files, max_mb=deploy.max_upload_mb, max_pages=deploy.max_pages)
    except FiscalQAError as e:
        return [f"✗ {e}", *skip]

    def tell(fraction: float | None, desc: str) -> None:
        progress(fraction if fraction is not None else 0.0, desc=desc)

    try:
        res = state.ingest(paths, show_progress=False, progress=tell, lang=lang, identity=identity, replace=replace)
    except FiscalQAError as e:  # busy index, disk full, permissions: the message says what to do
        return [f"✗ {tr('ingest_failed', lang)}: {e}", *skip]
    except Exception as e:  # the orchestrator reports bad files itself; this is a store/write failure
        log.exception("ingest failed")
        return [f"✗ {tr('ingest_failed', lang)} ({type(e).__name__})", *skip]
    finally:
        remove_uploads(paths)
    rep = state.reports()
    summary = ingest_summary(res, lang, rep).replace("ingest with --replace", tr("tick_replace", lang))
    return [summary, gr.update(value=None), gr.skip(), *report_lists(state, *values)]


def answer_sources(state: AppState, past: list[Answer], lang: str = "zh") -> tuple:
    """(caption, viewer, text) after an answer: its first citation large — every cited cell outlined on its page
    for a computed answer (several cells)."""
    a = past[-1] if past else None
    maybe_sweep()  # old source images and exports go
    hint = f"**{tr('source_view', lang)}** · {tr('source_hint', lang)}"
    if a is None or not a.citations:
        return gr.update(value=hint), "", gr.update(visible=False)
    fact_ids = [c.fact_id for c in a.citations if c.fact_id]
    if len(fact_ids) > 1:
        shot = source_image(state, fact_ids)
        if shot is not None:
            cap = f"**[1]–[{len(a.citations)}]** · " + html.escape(
                cite_caption(a.citations[0], state.page_label(a.citations[0].report, a.citations[0].page, lang))
            )
            return gr.update(value=cap), source_view_html(shot, lang), gr.update(visible=False)
    return render_source(state, a, 0, lang)


def render_source(state: AppState, a: Answer, row: int, lang: str = "zh") -> tuple:
    """(caption, viewer, text) for citation ``row`` of an answer: its printed page region large, or the row as text."""
    c = a.citations[row]
    item = c.fact_id or c.chunk_id
    cap = f"**[{row + 1}]** " + html.escape(cite_caption(c, state.page_label(c.report, c.page, lang)))
    text = f"> {html.escape(shorten(c.text, 400))}" if c.text else ""
    shot = source_image(state, item) if item else None
    idx = state.index()
    if shot is None and c.fact_id and idx is not None:
        text = fact_row_markdown(idx, c.fact_id)
    if shot is None:
        text = f"<small>{tr('no_page_image', lang)}</small>\n\n" + text
    return gr.update(value=cap), source_view_html(shot, lang) if shot else "", gr.update(value=text, visible=shot is None)


def build_widget(
    index_dir: Path | str | AppState,
    *,
    ask_fn: AskFn | None = None,
    max_chars: int = WIDGET_MAX_CHARS,
    per_minute: int = WIDGET_PER_MINUTE,
    concurrency: int = WIDGET_CONCURRENCY,
    limits: RateLimits | None = None,
    trusted_proxies: list[str] | None = None,
) -> gr.Blocks:
    """The embeddable widget: a question box and answers with citations, with friendly limits.

    ``limits``: per-client and global limits (``assistant.deploy``); without, ``per_minute`` per client.
    ``trusted_proxies``: the only peers whose X-Forwarded-For is believed.
    """
    state = as_state(index_dir, ask_fn)
    limiter: Any = ScopedLimiter(limits, "widget") if limits is not None else RateLimiter(per_minute)

    def answer(question: str, request: gr.Request) -> Iterator[str]:
        peer = getattr(getattr(request, "client", None), "host", None)
        client = client_address(peer, dict(getattr(request, "headers", {}) or {}), trusted_proxies or [])
        maybe_sweep()
        q = (question or "").strip()
        if q and len(q) <= max_chars:
            yield tr("widget_loading", question_language(q))  # shown at once: the answer may take a few seconds
        yield widget_reply(state, limiter, question, client, max_chars=max_chars)

    def coverage() -> str:
        reports = state.reports()
        if state.preparing and not reports:
            return state.preparing_text("zh") + " · " + state.preparing_text("en")
        return f"{state.coverage('zh')} · {state.coverage('en')}"

    with gr.Blocks(title="财政预决算问答 · fiscal-qa", analytics_enabled=False, delete_cache=(1800, 3600)) as widget:
        gr.Markdown(
            "### 财政预决算问答 · Budget Q&A\n"
            "<small>答案只来自已公开的部门预算、决算报告，每个数字注明出处。"
            "Answers come only from published budget and final-accounts reports; every figure is cited.</small>",
            elem_id="fqa-widget-title",
        )
        cover = gr.Markdown(coverage(), elem_id="fqa-widget-cover")
        with gr.Row():
            q = gr.Textbox(
                show_label=False,
                placeholder="例如：2023年公务接待费是多少？ / how much was spent on reception in 2023",
                scale=6,
                elem_id="fqa-widget-question",
                lines=1,
                max_lines=4,
                min_width=200,
            )
            b = gr.Button("提问 Ask", variant="primary", scale=1, elem_id="fqa-widget-send", min_width=80)
        with gr.Row(elem_classes="fqa-examples", elem_id="fqa-widget-examples"):
            ex_btns = [gr.Button(e, size="sm") for e in EXAMPLES[:3]]
        out = gr.Markdown(elem_id="fqa-widget-answer", elem_classes="fqa-answer", min_height=40)
        io: dict[str, Any] = dict(
            inputs=q,
            outputs=out,
            concurrency_limit=concurrency,
            concurrency_id="widget",
            api_visibility="undocumented",
            show_progress="minimal",
        )
        q.submit(answer, **io)  # first: the widget's answer is fn_index 0 for API clients
        b.click(answer, **io)
        for e in ex_btns:
            e.click(lambda x: x, e, q, queue=False, api_visibility="undocumented").then(answer, **io)
        widget.load(coverage, None, cover, queue=False, show_progress="hidden", api_visibility="undocumented")
    widget.queue(max_size=QUEUE_MAX, default_concurrency_limit=concurrency)
    return widget


# --------------------------------------------------------------------------- serving


def create_server(
    state: AppState,
    *,
    widget_only: bool = False,
    widget_kwargs: dict[str, Any] | None = None,
    llm_settings: bool = True,
    deploy: DeployConfig | None = None,
) -> Any:
    """A FastAPI app: the widget at ``/widget``, the anonymous ``POST /api/ask``, and (unless ``widget_only``)
    the full app and its API at ``/`` (behind a login in public mode, see ``assistant.deploy``)."""
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    deploy = deploy or DeployConfig()
    limits = RateLimits(deploy.per_client, deploy.global_rate)
    app = FastAPI(title="fiscal-qa", docs_url=None, redoc_url=None)
    app.add_api_route("/widget", lambda: RedirectResponse("/widget/"), include_in_schema=False)
    add_ask_route(app, state, limits, deploy)
    widget_kw: dict[str, Any] = {"limits": limits, "trusted_proxies": deploy.trusted_proxies}
    app = gr.mount_gradio_app(
        app,
        _checked(build_widget(state, **(widget_kw | (widget_kwargs or {})))),
        path="/widget",
        theme=THEME,
        css=WIDGET_CSS,
        ssr_mode=False,
        footer_links=[],
        show_error=False,  # unexpected errors stay in the log (gr.Error messages are still shown)
    )
    if widget_only:
        app.add_api_route("/", lambda: RedirectResponse("/widget/"), include_in_schema=False)
    else:
        app = gr.mount_gradio_app(
            app,
            _checked(build_app(state, llm_settings=llm_settings, deploy=deploy, limits=limits)),
            path="/",
            auth=deploy.auth(),
            auth_message="fiscal-qa: 请登录 / please log in (the public widget is at /widget/)",
            theme=THEME,
            css=APP_CSS,
            ssr_mode=False,
            footer_links=["api"],
            show_error=False,
        )
    return app


def _checked(blocks: gr.Blocks) -> gr.Blocks:
    """Make gradio check file paths in events as it does for a ``launch()``ed app: an input file must be in its
    upload folder (otherwise a crafted event makes it copy any server file into its cache). ``mount_gradio_app``
    leaves this off; ``do_ingest`` checks again (``assistant.deploy.check_upload_paths``)."""
    blocks.has_launched = True
    return blocks


def add_ask_route(app: Any, state: AppState, limits: RateLimits, deploy: DeployConfig) -> None:
    """``POST /api/ask`` with ``{"question": "…", "report": ""}`` → the answer object; anonymous, rate-limited."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    async def ask_route(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("question"), str):
            return JSONResponse({"error": 'send JSON {"question": "…", "report": ""} with the question as text'}, status_code=400)
        report = body.get("report") or ""
        if not isinstance(report, str):
            return JSONResponse({"error": "report must be text (a report id or department/year words)"}, status_code=400)
        who = client_address(request.client.host if request.client else None, dict(request.headers), deploy.trusted_proxies)
        wait = limits.check("api", who)
        if wait:
            return JSONResponse(
                {"error": limits.message(wait, "en")}, status_code=429, headers={"Retry-After": str(int(wait + 0.999))}
            )
        try:
            ids = state.resolve_filter(report)
        except FiscalQAError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        from starlette.concurrency import run_in_threadpool

        a = await run_in_threadpool(state.ask, body["question"], ids)
        return JSONResponse(a.to_json())

    ask_route.__annotations__["request"] = Request  # resolved here: this module's annotations are strings
    app.add_api_route("/api/ask", ask_route, methods=["POST"], include_in_schema=False)


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
    deploy: DeployConfig | None = None,
) -> Server:
    """Serve in a background thread (tests, benchmarks); port 0 picks a free port."""
    import uvicorn

    state = as_state(state)
    port = port or free_port(host)
    config = uvicorn.Config(
        create_server(state, widget_only=widget_only, widget_kwargs=widget_kwargs, deploy=deploy),
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,  # X-Forwarded-For is honoured only from a configured trusted proxy (assistant.deploy)
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


def arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve the fiscal-qa app (full app at /, widget at /widget, API ask).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--index", help="index folder (default indexes/ or $FISCALQA_INDEX)")
    p.add_argument(
        "--reports", action="append", default=[], help="also ingest this folder of reports (e.g. ../shared/reports); repeatable"
    )
    p.add_argument("--widget", action="store_true", help="serve only the public widget")
    p.add_argument("--no-sample", action="store_true", help="do not ingest the bundled sample")
    p.add_argument(
        "--no-llm-settings", action="store_true", help="hide the per-session LLM settings (only FISCALQA_LLM_* is used)"
    )
    p.add_argument("--public", action="store_true", help="public mode: login for the full app; widget and /api/ask anonymous")
    p.add_argument("--users-file", help="logins for the full app in public mode (user:password or user:sha256:<hex> a line)")
    p.add_argument("--allow-upload", action="store_true", help="allow upload (and replace) in public mode")
    p.add_argument(
        "--trusted-proxy", action="append", default=[], help="a proxy address/network whose X-Forwarded-For is believed"
    )
    return p


def deploy_config(args: argparse.Namespace) -> DeployConfig:
    """What this deployment allows, from the command line over ``FISCALQA_*`` (see ``assistant.deploy``)."""
    from assistant.deploy import read_users_file

    return DeployConfig.from_env(
        public=True if args.public else None,
        users=read_users_file(Path(args.users_file)) if args.users_file else None,
        allow_upload=True if args.allow_upload else None,
        llm_settings=False if args.no_llm_settings else None,
        trusted_proxies=args.trusted_proxy or None,
    )


def make_state(args: argparse.Namespace, settings: Settings) -> AppState:
    """The served state; what the index lacks (the sample, ``--reports``) is ingested in the background while
    the app already serves and says what it is preparing."""
    index_dir = Path(args.index) if args.index else settings.index_dir
    if not index_dir.is_absolute() and not args.index:
        index_dir = REPO_DIR / index_dir
    llm = None
    if settings.llm_configured:
        from assistant.llm import llm_from_settings

        llm = llm_from_settings(settings)
    state = AppState(index_dir, llm=llm)
    state.ingest_in_worker = True  # uploads parse and embed in a worker process (assistant/jobs.py)
    sources = ([] if args.no_sample else [SAMPLE_REPORT]) + [Path(d) for d in args.reports]
    state.prepare(sources)
    return state


def main(argv: list[str] | None = None) -> int:
    parser = arg_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        deploy = deploy_config(args)
    except FiscalQAError as e:
        parser.error(str(e))
    state = make_state(args, Settings.from_env())

    import uvicorn

    app = create_server(state, widget_only=args.widget, llm_settings=not args.no_llm_settings, deploy=deploy)
    log.info("serving on http://%s:%d/ (widget: /widget/)%s", args.host, args.port, " in public mode" if deploy.public else "")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
