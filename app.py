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
from collections.abc import Callable
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
    ensure_ingested,
    export_files,
    parse_llm_settings,
    review_downloads,
    source_image,
    warm_up,
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
from assistant.i18n import EXAMPLES, T, tr
from assistant.models import Answer
from assistant.present import (
    ALL,
    FACT_VIEW_WIDTHS,
    cite_caption,
    fact_row_markdown,
    facts_csv,
    facts_view,
    ingest_summary,
    picker_choices,
    report_choices,
    shorten,
    sources_frame,
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


def _review_fn() -> Callable[..., Any] | None:
    try:
        from assistant.review import review_report  # written by the review work; optional here
    except ImportError:
        return None
    return review_report


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
    """
    deploy = deploy or DeployConfig()
    llm_settings = llm_settings and deploy.llm_settings_enabled
    upload = deploy.upload_enabled
    state = as_state(index_dir, ask_fn)
    reports = state.reports()
    picks = picker_choices(reports)
    labelled: list[tuple[Any, str, str]] = []  # (component, T key, property) for the language switch

    def L(comp: Any, key: str, prop: str = "label") -> Any:
        labelled.append((comp, key, prop))
        return comp

    with gr.Blocks(title="fiscal-qa · 财政预决算问答", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        lang = gr.State("zh")
        answers = gr.State([])
        llm_cfg = gr.State(None)  # this session's LLM settings (memory only, never written to disk)
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
                            dept = L(gr.Dropdown(picks["department"], value=ALL, label=T["department"][0], scale=3), "department")
                            year = L(gr.Dropdown(picks["year"], value=ALL, label=T["year"][0], scale=1), "year")
                            kind = L(gr.Dropdown(picks["kind"], value=ALL, label=T["kind"][0], scale=1), "kind")
                            scope = L(gr.Dropdown(picks["scope"], value=ALL, label=T["scope"][0], scale=1), "scope")
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

            # ------------------------------------------------------------- facts
            with gr.Tab(T["tab_facts"][0], id="facts") as tab_facts:
                choices = report_choices(reports)
                first = choices[0][1] if choices else None
                with gr.Row():
                    f_report = L(gr.Dropdown(choices, value=first, label=T["report"][0], scale=3), "report")
                    f_table = L(
                        gr.Dropdown(
                            [("全部 / All", "")] + table_choices(state.index(), first), value="", label=T["table"][0], scale=3
                        ),
                        "table",
                    )
                    f_row = L(gr.Textbox(label=T["row_filter"][0], scale=2), "row_filter")
                f_df = L(
                    gr.Dataframe(
                        facts_view(state.index(), first, None),
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
                        chart_three_public(state.index(), first),
                        x="项目",
                        y="万元",
                        title=T["chart_three"][0],
                        height=300,
                        sort=None,
                    )
                    b0 = chart_budget_vs_actual(state.index(), first)
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
                    chart_by_function(state.index(), first),
                    x="功能分类",
                    y="万元",
                    title=T["chart_func"][0],
                    height=300,
                    x_label_angle=-20,
                    sort="-y",
                )
                c_item = L(gr.Dropdown(CROSS_ITEMS, value="公务接待费", label=T["chart_item"][0]), "chart_item")
                p_across = gr.BarPlot(
                    chart_across(state.index(), "公务接待费"),
                    x="报告",
                    y="万元",
                    color="类型",
                    title=T["chart_across"][0],
                    height=320,
                    x_label_angle=-30,
                    sort="-y",
                )

            # ------------------------------------------------------------- upload
            with gr.Tab(T["tab_upload"][0], id="upload", visible=upload) as tab_upload:
                up_files = L(
                    gr.File(file_count="multiple", file_types=[".pdf", ".txt"], label=T["upload"][0], elem_id="fqa-upload"),
                    "upload",
                )
                with gr.Row():  # identity for a report that does not print it readably (overrides what it prints)
                    up_dept = gr.Textbox(label="部门 Department", elem_id="fqa-up-department")
                    up_year = gr.Number(label="年度 Year", precision=0, elem_id="fqa-up-year")
                    up_kind = gr.Dropdown(["", "预算", "决算"], value="", label="预算/决算 Kind", elem_id="fqa-up-kind")
                up_btn = L(gr.Button(T["ingest"][0], variant="primary", elem_id="fqa-ingest"), "ingest", "value")
                up_replace = gr.Checkbox(
                    False,
                    label="替换索引中已有的同一报告 / Replace reports already in the index",
                    elem_id="fqa-upload-replace",
                )
                up_status = gr.Markdown(elem_id="fqa-upload-status")

            # ------------------------------------------------------------- review
            review = _review_fn()
            with gr.Tab(T["tab_review"][0], id="review", visible=review is not None) as tab_review:
                r_report = L(gr.Dropdown(choices, value=first, label=T["report"][0]), "report")
                r_btn = L(gr.Button(T["review_btn"][0], variant="primary"), "review_btn", "value")
                r_out = gr.Markdown()
                r_files = gr.File(label="下载审查意见 / Download (Markdown, JSON, Word)", file_count="multiple", interactive=False)

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
            idle = (gr.skip(), gr.skip(), gr.skip())
            if not question:
                yield history, "", past, *idle
                return
            ids = state.select(d, y, k, sc)
            turn = chat_turn(
                state, question, history, past, ids, lg, llm=state.llm_for(cfg), no_match=bool(d or y or k or sc) and not ids
            )
            for history, a in turn:
                if a is None:
                    yield history, "", past, *idle
                    time.sleep(stream_delay)
            past = [*past, a]
            md, csv_ = export_files(past, getattr(request, "session_hash", "") or "anon")
            yield (
                history,
                "",
                past,
                sources_frame(a, lg),
                gr.update(value=md, visible=True),
                gr.update(value=csv_, visible=True),
            )

        chat_io = dict(
            inputs=[msg, chat, answers, dept, year, kind, scope, lang, llm_cfg],
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
            return gr.update(choices=[("全部 / All", "")] + table_choices(state.index(), rid), value=""), facts_view(
                state.index(), rid, None
            )

        f_report.change(on_report, f_report, [f_table, f_df], api_visibility="undocumented")
        gr.on(
            [f_table.change, f_row.submit],
            lambda r, t, q: facts_view(state.index(), r, t or None, q),
            [f_report, f_table, f_row],
            f_df,
            api_visibility="undocumented",
        )
        f_dl.click(
            lambda r, t, q: facts_csv(state.index(), r, t or None, q),
            [f_report, f_table, f_row],
            f_dl,
            api_visibility="undocumented",
        )

        # charts
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

        # upload
        def do_ingest(
            files: list[str] | None,
            u_dept: str | None,
            u_year: float | None,
            u_kind: str | None,
            lg: str,
            replace: bool = False,
            progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
        ) -> tuple:
            if not upload:
                return "✗ upload is off on this server", *([gr.skip()] * 7)
            if not files:
                return tr("pick_pdf", lg), *([gr.skip()] * 7)
            try:  # only files this app received as uploads (a crafted event could name any path on the server)
                paths = check_upload_paths(files, max_mb=deploy.max_upload_mb, max_pages=deploy.max_pages)
            except FiscalQAError as e:
                return f"✗ {e}", *([gr.skip()] * 7)
            progress(0, desc="ingest")
            given = None
            if (u_dept or "").strip() or u_year or u_kind:
                from assistant.models import ReportIdentity

                given = ReportIdentity(department=(u_dept or "").strip() or None, year=int(u_year) if u_year else None, kind=u_kind or None)  # type: ignore[arg-type]
            try:
                res = state.ingest(paths, show_progress=True, replace=bool(replace), identity=given)
            except FiscalQAError as e:  # busy index, disk full, permissions: the message says what to do
                return f"✗ {tr('ingest_failed', lg)}: {e}", *([gr.skip()] * 7)
            except Exception as e:  # the orchestrator reports bad files itself; this is a store/write failure
                log.exception("ingest failed")
                return f"✗ {tr('ingest_failed', lg)} ({type(e).__name__})", *([gr.skip()] * 7)
            finally:
                remove_uploads(paths)
            rep = state.reports()
            new = picker_choices(rep)
            upd = gr.update(choices=report_choices(rep))
            return (
                ingest_summary(res, lg, rep).replace("ingest with --replace", "tick “Replace reports already in the index”"),
                gr.update(choices=new["department"]),
                gr.update(choices=new["year"]),
                gr.update(choices=new["scope"]),
                upd,
                upd,
                upd,
                gr.update(value=None),
            )

        up_btn.click(
            do_ingest if upload else (lambda *_a: ("✗ upload is off on this server", *([gr.skip()] * 7))),
            [up_files, up_dept, up_year, up_kind, lang, up_replace],
            [up_status, dept, year, scope, f_report, c_report, r_report, up_files],
            concurrency_limit=1,
            api_visibility="undocumented",
        )

        # review
        if review is not None:
            r_btn.click(
                lambda rid: review_downloads(state, rid),
                r_report,
                [r_out, r_files],
                concurrency_limit=2,
                api_visibility="undocumented",
            )

        # this session's LLM
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

        # language
        def switch(lg: str, cfg: dict | None) -> list:
            ups: list[Any] = [lg, gr.update(value=f"# {tr('title', lg)}\n{tr('subtitle', lg)}"), state.llm_status(cfg, lg)]
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
            [lang_radio, llm_cfg],
            [lang, header, llm_status, *[c for c, _, _ in labelled], *[t for t, _ in tabs], chat],
            queue=False,
            api_visibility="undocumented",
        )

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


def answer_sources(state: AppState, past: list[Answer]) -> tuple:
    """(image, text) after an answer: every cited cell outlined on its page (all cells of a computed answer)."""
    a = past[-1] if past else None
    maybe_sweep()  # old source images and exports go
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
    text = cite_caption(c) + (f"\n\n> {html.escape(shorten(c.text, 400))}" if c.text else "")
    shot = source_image(state, item) if item else None
    idx = state.index()
    if shot is None and c.fact_id and idx is not None:
        text += "\n\n" + fact_row_markdown(idx, c.fact_id)
    return gr.update(value=shot, visible=shot is not None), gr.update(value=text, visible=True)


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

    def answer(question: str, request: gr.Request) -> str:
        peer = getattr(getattr(request, "client", None), "host", None)
        client = client_address(peer, dict(getattr(request, "headers", {}) or {}), trusted_proxies or [])
        maybe_sweep()
        return widget_reply(state, limiter, question, client, max_chars=max_chars)

    with gr.Blocks(title="财政预决算问答 · fiscal-qa", analytics_enabled=False, delete_cache=(1800, 3600)) as widget:
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
    app = gr.mount_gradio_app(
        app,
        _checked(build_widget(state, **({"limits": limits, "trusted_proxies": deploy.trusted_proxies} | (widget_kwargs or {})))),
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
    p.add_argument(
        "--no-llm-settings", action="store_true", help="hide the per-session LLM settings (only FISCALQA_LLM_* is used)"
    )
    p.add_argument("--public", action="store_true", help="public mode: login for the full app; widget and /api/ask anonymous")
    p.add_argument("--users-file", help="logins for the full app in public mode (user:password or user:sha256:<hex> a line)")
    p.add_argument("--allow-upload", action="store_true", help="allow upload (and replace) in public mode")
    p.add_argument("--trusted-proxy", action="append", default=[], help="a proxy address/network whose X-Forwarded-For is believed")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        from assistant.deploy import read_users_file

        deploy = DeployConfig.from_env(
            public=True if args.public else None,
            users=read_users_file(Path(args.users_file)) if args.users_file else None,
            allow_upload=True if args.allow_upload else None,
            llm_settings=False if args.no_llm_settings else None,
            trusted_proxies=args.trusted_proxy or None,
        )
    except FiscalQAError as e:
        p.error(str(e))

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
    state.ingest_in_worker = True  # uploads parse and embed in a worker process (assistant/jobs.py)
    warm_up(state)

    import uvicorn

    app = create_server(state, widget_only=args.widget, llm_settings=not args.no_llm_settings, deploy=deploy)
    log.warning(
        "serving on http://%s:%d/ (widget: /widget/)%s", args.host, args.port, " in public mode" if deploy.public else ""
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
