"""Optional LLM assistance through any OpenAI-compatible chat-completions endpoint.

The deterministic path is the default and the reference: an LLM, when configured, may
(1) fill a typed ``QueryPlan``, (2) choose a route, (3) compose a descriptive answer from
retrieved passages, (4) phrase a numeric answer. Every output is parsed and validated, never
executed; every number in LLM-written text must equal a number in the facts or passages it
was given (after 万元/元/亿元 normalization), otherwise the deterministic answer stands and the
reason is recorded in ``Answer.meta["llm_fallback"]``. Report text reaches the model only
inside a delimited data block, after passages that try to instruct the model are dropped.

Configuration: ``FISCALQA_LLM_BASE_URL``, ``FISCALQA_LLM_API_KEY``, ``FISCALQA_LLM_MODEL``,
``FISCALQA_LLM_TIMEOUT`` (seconds, default 20) — see ``llm_from_settings``.
"""

from assistant.llm.client import (
    LLM,
    MAX_BACKOFF_S,
    STREAM_TOTAL_FACTOR,
    LLMCallError,
    Message,
    OpenAICompatibleLLM,
    llm_from_settings,
    parse_json_object,
)
from assistant.llm.compose import Passage, as_passage, llm_compose, llm_phrase
from assistant.llm.grounding import AllowedNumbers, Num, allowed_numbers, extract_numbers, grounded, ungrounded_numbers
from assistant.llm.notes import collect_failures, record_fallback
from assistant.llm.plans import (
    KNOWN_MEASURES,
    ROUTES,
    PlanRejected,
    PlanVocab,
    llm_plan,
    llm_route,
    norm_label,
    plan_vocab,
    validate_plan,
)
from assistant.llm.prompts import DATA_CLOSE, DATA_OPEN, clean_output, detect_lang, load_prompt, looks_like_injection
from assistant.llm.stream import ask_stream, enhance_answer, stream_enhance

__all__ = [
    "DATA_CLOSE",
    "DATA_OPEN",
    "KNOWN_MEASURES",
    "LLM",
    "MAX_BACKOFF_S",
    "ROUTES",
    "STREAM_TOTAL_FACTOR",
    "AllowedNumbers",
    "LLMCallError",
    "Message",
    "Num",
    "OpenAICompatibleLLM",
    "Passage",
    "PlanRejected",
    "PlanVocab",
    "allowed_numbers",
    "as_passage",
    "ask_stream",
    "clean_output",
    "collect_failures",
    "detect_lang",
    "enhance_answer",
    "extract_numbers",
    "grounded",
    "llm_compose",
    "llm_from_settings",
    "llm_phrase",
    "llm_plan",
    "llm_route",
    "load_prompt",
    "looks_like_injection",
    "norm_label",
    "parse_json_object",
    "plan_vocab",
    "record_fallback",
    "stream_enhance",
    "ungrounded_numbers",
    "validate_plan",
]
