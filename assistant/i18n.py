"""Interface strings of the app and the answers' sentences, in Chinese and English, and the language of a
question (no gradio here).

``tr(key, lang, **kw)`` gives one text in ``lang`` ("en", else Chinese), its ``{placeholders}`` filled from
``kw``. The app's labels are in ``T`` below; the answers' sentences (refusals, clarifications, series wording,
separators …) in ``assistant/data/messages.json``, one entry a message: ``{"zh": …, "en": …, "note": …}``.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

MESSAGES_FILE = Path(__file__).parent / "data" / "messages.json"

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
    "scope": ("部门/单位", "Dept./unit"),
    "examples": ("示例问题（点击提问）", "Example questions (click to ask)"),
    "sources": ("引用来源（最近一次回答）", "Sources of the last answer"),
    "source_view": ("原文位置", "Printed source"),
    "source_hint": ("点击回答中的 [n] 查看该数字在报告中的位置", "click an [n] in an answer to see where it is printed"),
    "no_page_image": (
        "这份报告是纯文本，没有页面图像；以下是该行的原文。",
        "This report is plain text (no page image); the printed row:",
    ),
    "chat_empty": (
        "就已收录的预算、决算报告提问，答案中的每个数字都标注出处。",
        "Ask about the ingested budgets and final accounts; every figure in an answer is cited.",
    ),
    "widget_loading": ("正在查找报告中的数字…", "Looking it up in the reports…"),
    "export_md": ("导出 Markdown", "Download Markdown"),
    "export_csv": ("导出 CSV", "Download CSV"),
    "report": ("报告", "Report"),
    "table": ("表", "Table"),
    "row_filter": ("行名包含", "Row label contains"),
    "facts": ("数据", "Facts"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "upload": ("PDF 报告（可多选）", "PDF reports (one or more)"),
    "up_department": ("部门（报告未印清时填写）", "Department (if the report does not print it readably)"),
    "up_year": ("年度", "Year"),
    "up_kind": ("预算/决算", "Budget / final accounts"),
    "up_replace": ("替换索引中已有的同一报告", "Replace reports already in the index"),
    "review_files": ("下载审查意见（Markdown、JSON、Word）", "Download the review (Markdown, JSON, Word)"),
    "ingest": ("导入", "Ingest"),
    "chart_report": ("图表报告", "Report for the charts"),
    "chart_item": ("跨报告比较的项目", "Item to compare across reports"),
    "review_btn": ("生成审查意见", "Review this report"),
    "lang": ("界面语言", "Interface"),
    "chart_three": ("“三公”经费构成（万元）", "Three public expenses by part (万元)"),
    "chart_bva": ("“三公”预算与决算（万元）", "Three public expenses: budget vs actual (万元)"),
    "chart_func": ("支出按功能分类（类，万元）", "Spending by function class (万元)"),
    "chart_across": ("跨部门、跨年度比较（万元）", "Across departments and years (万元)"),
    "llm": ("大模型设置（可选，仅本次会话）", "LLM settings (optional, this session only)"),
    "llm_base_url": ("接口地址（OpenAI 兼容）", "Base URL (OpenAI-compatible)"),
    "llm_model": ("模型", "Model"),
    "llm_api_key": ("API 密钥", "API key"),
    "llm_timeout": ("超时（秒）", "Timeout (s)"),
    "llm_apply": ("应用", "Apply"),
    "all": ("全部", "All"),
    "col_table": ("表", "Table"),
    "col_code": ("编码", "Code"),
    "col_row": ("项目（行）", "Row"),
    "col_column": ("栏目（列）", "Column"),
    "col_value": ("数值", "Value"),
    "col_unit": ("单位", "Unit"),
    "col_page": ("页", "Page"),
    "no_match": ("没有符合所选部门、年度和类型的报告。", "No ingested report matches the department, year and kind selected."),
    "pick_pdf": ("请先选择 PDF 文件。", "Choose a PDF file first."),
    "ingest_failed": ("导入失败，索引未改变", "Ingest failed; the index is unchanged"),
    "could_not_ingest": ("导入失败", "Could not ingest"),
    "index_unchanged": ("索引未改变，之前导入的报告仍可提问。", "The index is unchanged; earlier reports still answer."),
    "llm_off": (
        "未使用大模型：回答由确定性引擎给出。",
        "No LLM: answers come from the deterministic engine.",
    ),
    "llm_on": (
        "使用大模型 {model}（{url}），数字仍只来自报告。",
        "Using LLM {model} at {url}; figures still come only from the reports.",
    ),
    "preparing": ("首次启动：正在准备索引…", "First start: preparing the index…"),
    "preparing_ask": ("索引还在准备中，请稍候再问。", "The index is still being prepared; please ask again in a moment."),
    "warming": ("正在预热问答引擎…", "Warming up the engine…"),
    "prog_read": ("读取文件 {done}/{total}，第 {page}/{pages} 页", "Reading files {done}/{total}, page {page}/{pages}"),
    "tick_replace": ("tick “Replace reports already in the index”（勾选“替换索引中已有的同一报告”）", "tick “Replace reports already in the index”"),
    "prog_embed": ("为检索嵌入文本片段 {done}/{total}", "Embedding passages for search {done}/{total}"),
    "prog_write": ("写入索引…", "Writing the index…"),
    "llm_bad_url": ("接口地址须以 http:// 或 https:// 开头。", "The base URL must start with http:// or https://."),
    "llm_need_model": ("请填写模型名称。", "Please enter the model name."),
}


@functools.cache
def messages() -> dict[str, dict[str, str]]:
    """The answers' message table (read once): key → {"zh", "en", optional "note", "placeholders_differ"}."""
    table: dict[str, dict[str, str]] = json.loads(MESSAGES_FILE.read_text(encoding="utf-8"))
    return table


def tr(key: str, lang: str, **kw: object) -> str:
    """The text of ``key`` in ``lang`` (an interface label of ``T`` or a message of the table), formatted with ``kw``."""
    pair = T.get(key)
    if pair is not None:
        text = pair[1] if lang == "en" else pair[0]
    else:
        msg = messages().get(key)
        if msg is None:
            raise KeyError(f"no text {key!r}: add it to assistant/i18n.py's T or to {MESSAGES_FILE.name}")
        text = msg["en"] if lang == "en" else msg["zh"]
    return text.format(**kw) if kw else text


def question_language(q: str) -> str:
    return "zh" if re.search(r"[\u4e00-\u9fff]", q) else "en"
