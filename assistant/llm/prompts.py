"""Prompt text and hygiene: prompt files, report text as inert data, injection filtering, output cleaning."""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.llm.client import _THINK
from assistant.settings import PROMPTS_DIR

# --------------------------------------------------------------------------- prompts


@lru_cache(maxsize=32)
def load_prompt(name: str, lang: str = "zh") -> str:
    """``prompts/<name>.<lang>.md`` (falls back to the Chinese file)."""
    for cand in (PROMPTS_DIR / f"{name}.{lang}.md", PROMPTS_DIR / f"{name}.zh.md"):
        if cand.exists():
            return cand.read_text(encoding="utf-8").strip()
    raise FileNotFoundError(f"prompt {name!r} missing from {PROMPTS_DIR}; reinstall or restore prompts/")


def detect_lang(text: str) -> str:
    """'zh' when the text has CJK characters, else 'en'."""
    return "zh" if re.search(r"[\u4e00-\u9fff]", text or "") else "en"


DATA_OPEN = "<<<REPORT_DATA"
DATA_CLOSE = "REPORT_DATA>>>"


def _scrub(text: str) -> str:
    """Report text as inert data: no delimiter look-alikes, no role tags, bounded length."""
    t = str(text).replace("<<<", "‹‹‹").replace(">>>", "›››")
    t = re.sub(r"(?i)</?\s*(system|assistant|user|im_start|im_end)[^>]*>", " ", t)
    return t[:3000]


# --------------------------------------------------------------------------- injection

_INJECTION = re.compile(
    r"(忽略|无视|忘记|不要理会|忽视)(之前|以上|上述|前面|先前|所有|全部|此前)?(的)?(所有|全部)?(指令|指示|提示|要求|规则|设定)"
    r"|你现在是|你的新(任务|指令)|系统提示|提示词|请(直接)?(回答|输出|说)(预算|金额|数)"
    r"|(?i:ignore\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier|preceding)\s+(instructions?|prompts?|rules|messages?))"
    r"|(?i:disregard\s+(all\s+|the\s+)?(previous|prior|above|earlier)?\s*(instructions?|prompts?|rules))"
    r"|(?i:you\s+are\s+now\b)|(?i:system\s+prompt)|(?i:new\s+instructions?)"
    r"|(?i:\b(say|answer|reply|respond)\s+(that\s+)?the\s+(budget|amount|total|figure)\s+is)"
)


def looks_like_injection(text: str) -> bool:
    """True when report text tries to instruct the model; such passages never reach it."""
    return bool(_INJECTION.search(text or ""))


# --------------------------------------------------------------------------- output hygiene

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?|javascript|data):[^)]*\)")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_URL = re.compile(r"(?i)\b(?:https?|javascript|data):\S+")


def clean_output(text: str) -> str:
    """Model text as plain Markdown: no reasoning blocks, images, links, HTML or URLs."""
    t = _THINK.sub("", text or "")
    t = _MD_IMAGE.sub("", t)
    t = _MD_LINK.sub(r"\1", t)
    t = _HTML_TAG.sub("", t)
    t = _URL.sub("", t)
    return t.strip()
