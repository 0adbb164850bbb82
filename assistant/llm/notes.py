"""Failure notes: why a model output was not used, recorded in ``Answer.meta`` (``llm_fallback``/``llm_used``)."""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

from assistant.llm.client import LLMCallError, _short
from assistant.models import Answer

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- failure notes

_LAST_FAILURE: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("fiscalqa_llm_failures", default=None)
_NOTES = threading.local()
"""Per thread: (question, step, reason or None) of recent plan/route calls, moved into Answer.meta by the enhancer."""


def _note(step: str, question: str, reason: str | None = None) -> None:
    notes = getattr(_NOTES, "items", None)
    if notes is None:
        notes = _NOTES.items = []
    notes.append((question, step, reason))
    del notes[:-20]


def _note_failure(e: BaseException, step: str = "llm", question: str = "") -> None:
    reason = _reason(e)
    notes = _LAST_FAILURE.get()
    if notes is not None:
        notes.append(reason)
    if question and step in ("plan", "route"):
        _note(step, question, reason)


def _drain_notes(answer: Answer) -> None:
    """Record in ``answer.meta`` what the model did (or why it was not used) while planning and routing it."""
    notes = getattr(_NOTES, "items", None) or []
    mine = [n for n in notes if n[0] == answer.question]
    if not mine:
        return
    _NOTES.items = [n for n in notes if n[0] != answer.question]
    for _, step, reason in mine:
        if reason is None:
            used = answer.meta.setdefault("llm_used", [])
            if step not in used:
                used.append(step)
        else:
            record_fallback(answer, step, reason)


def _reason(e: BaseException) -> str:
    if isinstance(e, LLMCallError):
        return f"{e.reason}: {e.detail}" if e.detail else e.reason
    return _short(e)  # type: ignore[arg-type]


class collect_failures:
    """Context manager: the reasons of LLM failures inside it, for ``Answer.meta["llm_fallback"]``.

    ``with collect_failures() as reasons: plan = llm_plan(...)`` → ``reasons`` lists why a call was not used.
    """

    def __enter__(self) -> list[str]:
        self._list: list[str] = []
        self._token = _LAST_FAILURE.set(self._list)
        return self._list

    def __exit__(self, *exc: object) -> None:
        _LAST_FAILURE.reset(self._token)


def record_fallback(answer: Answer, step: str, reason: str) -> None:
    """Add ``step: reason`` to ``answer.meta["llm_fallback"]`` (a string; several joined by '; ')."""
    msg = f"{step}: {reason}"
    prev = answer.meta.get("llm_fallback")
    answer.meta["llm_fallback"] = f"{prev}; {msg}" if prev else msg
    log.info("LLM fallback (%s) for %r", msg, answer.question[:80])


def _mark_used(answer: Answer, step: str, llm: Any) -> None:
    used = answer.meta.setdefault("llm_used", [])
    if step not in used:
        used.append(step)
    model = getattr(llm, "model", None)
    if model:
        answer.meta["llm_model"] = model
