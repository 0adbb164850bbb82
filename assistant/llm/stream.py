"""Whole answers: ``enhance_answer`` / ``stream_enhance`` rewrite a deterministic answer with grounded model
text; ``ask_stream`` answers a question and streams the checked sentences."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator
from typing import Any

from assistant.llm.client import LLM, LLMCallError, _short
from assistant.llm.compose import (
    Passage,
    _compose_messages,
    _grounded_sentences,
    _Grounder,
    _keeps_headline,
    _passage_allowed,
    _phrase_allowed,
    _phrase_messages,
    _safe_facts,
    _safe_passages,
    as_passage,
)
from assistant.llm.notes import _drain_notes, _mark_used, _reason, record_fallback
from assistant.llm.prompts import clean_output
from assistant.models import Answer

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- whole answers

_ENHANCE_OFF: contextvars.ContextVar[bool] = contextvars.ContextVar("fiscalqa_llm_enhance_off", default=False)


def _chunks_for(answer: Answer, index: Any) -> list[Passage]:
    ids = [c.chunk_id for c in answer.citations if c.chunk_id]
    if not ids:
        return []
    chunks = getattr(index, "chunks", None)
    by_id: dict[str, Any] = {}
    if chunks is not None and len(chunks):
        sub = chunks[chunks["chunk_id"].isin(ids)]
        by_id = {r["chunk_id"]: r for r in sub.to_dict("records")}
    out = []
    for c in answer.citations:
        if not c.chunk_id:
            continue
        row = by_id.get(c.chunk_id)
        if row is not None:
            out.append(as_passage(row))
        elif c.text:
            out.append(
                Passage(chunk_id=c.chunk_id, text=c.text, section=c.section or "", page=c.page, report=c.department or c.report)
            )
    return list({p.chunk_id: p for p in out}.values())


def _facts_for(answer: Answer, index: Any) -> list[dict[str, Any]]:
    ids = [c.fact_id for c in answer.citations if c.fact_id]
    facts = getattr(index, "facts", None)
    if not ids or facts is None or not len(facts):
        return []
    return list(facts[facts["fact_id"].isin(ids)].to_dict("records"))


def _citation_numbers(answer: Answer) -> list[str]:
    return [str(x) for c in answer.citations for x in (c.text, c.row, c.column, c.table) if x]


def _enhancement(answer: Answer, index: Any) -> tuple[str, Any] | None:
    """('compose', passages) for text answers, ('phrase', facts) for figures, None when the LLM has nothing to add."""
    if answer.route == "none" or answer.meta.get("clarify") or not answer.answer.strip():
        return None
    if answer.meta.get("status") not in (None, "ok"):
        return None  # clarifications, "not published", "not found": the exact wording matters more than style
    if answer.route == "text":
        passages = _chunks_for(answer, index)
        return ("compose", passages) if passages else None
    if answer.meta.get("operation") in ("breakdown", "rank") or "\n|" in answer.answer:
        return None  # lists and tables read better exactly as computed
    facts = _facts_for(answer, index)
    if not facts and answer.value is None:
        return None
    return ("phrase", facts)


def enhance_answer(answer: Answer, *, index: Any, llm: LLM | None, question: str | None = None) -> Answer:
    """The deterministic ``answer`` with LLM-written text where it is grounded; otherwise unchanged + meta reason.

    Never changes ``value``/``unit``/``plan``; replaces citations only with the chunks a composed answer cites.
    """
    if llm is None or _ENHANCE_OFF.get():
        return answer
    try:
        for item in stream_enhance(answer, index=index, llm=llm, question=question):
            if isinstance(item, Answer):
                return item
    except Exception as e:  # the deterministic answer must survive any surprise here
        log.exception("LLM enhancement failed for %r", answer.question[:80])
        out = answer.model_copy(deep=True)
        record_fallback(out, "llm", _short(e))
        return out
    return answer


def stream_enhance(answer: Answer, *, index: Any, llm: LLM, question: str | None = None) -> Iterator[str | Answer]:
    """Stream grounded sentences of the LLM rewrite of ``answer``; the last item is the final ``Answer``.

    A sentence is shown only after its numbers are checked; if a later sentence fails, the final
    Answer is the deterministic one (the UI replaces the streamed text with ``Answer.answer``).
    """
    question = question or answer.question
    _drain_notes(answer)
    what = _enhancement(answer, index)
    if what is None:
        yield answer
        return
    step, data = what
    final = answer.model_copy(deep=True)
    t0 = time.monotonic()
    if step == "compose":
        safe, dropped = _safe_passages(data)
        if dropped:
            final.meta["llm_dropped_passages"] = dropped
        if not safe:
            record_fallback(final, step, "no usable passage")
            yield final
            return
        g = _Grounder(safe, _passage_allowed(safe, question), need_citation=True)
        msgs = _compose_messages(question, safe, answer.language)
    else:
        facts = _safe_facts(data)
        g = _Grounder([], _phrase_allowed(question, answer.answer, facts + _citation_numbers(answer)), need_citation=False)
        msgs = _phrase_messages(question, answer.answer, facts, answer.language)

    shown: list[str] = []
    try:
        tokens = llm.stream_chat(msgs)
        try:
            for out in _grounded_sentences(tokens, g):
                shown.append(out)
                yield out
        finally:
            close = getattr(tokens, "close", None)
            if close:
                close()
    except Exception as e:
        record_fallback(final, step, _reason(e if isinstance(e, LLMCallError) else LLMCallError("error", _short(e))))
        final.meta["llm_ms"] = round((time.monotonic() - t0) * 1000)
        yield final
        return
    final.meta["llm_ms"] = round((time.monotonic() - t0) * 1000)
    text = g.finish(clean_output("".join(shown)))
    if text is not None and step == "phrase":
        problem = _keeps_headline(text, answer.answer)
        if problem:
            g.failure, text = problem, None
    if text is None:
        record_fallback(final, step, g.failure or "rejected")
        yield final
        return
    final.answer = text
    _mark_used(final, step, llm)
    if step == "compose":
        if "retrieved" not in final.meta:  # what retrieval found stays on record (recall@k), not only what was cited
            final.meta["retrieved"] = [{"chunk_id": c.chunk_id, "section": c.section} for c in answer.citations if c.chunk_id]
        by_id = {c.chunk_id: c for c in answer.citations if c.chunk_id}
        final.citations = [by_id[cid] for cid in g.cited if cid in by_id] + [c for c in answer.citations if not c.chunk_id]
    yield final


def ask_stream(question: str, index: Any, llm: LLM | None = None, history: list[Any] | None = None) -> Iterator[str | Answer]:
    """Answer ``question``, streaming LLM text: yields text pieces, then always the final ``Answer`` last.

    Without an LLM it yields the deterministic answer's text once, then the Answer. With one, the
    LLM may plan/route inside ``ask``; the rewrite streams sentence by sentence, each checked
    (numbers grounded) before it is shown. When the final Answer's text differs from what was
    streamed (a later sentence failed), show the final Answer's text.
    """
    from assistant.ask import ask, load_cached

    idx = load_cached(index) if index is not None else None
    token = _ENHANCE_OFF.set(True)
    try:
        answer = ask(question, index=idx, history=history, llm=llm)
    finally:
        _ENHANCE_OFF.reset(token)
    if llm is None:
        yield answer.answer
        yield answer
        return
    try:
        yield from stream_enhance(answer, index=idx, llm=llm, question=question)
    except Exception as e:
        log.exception("LLM streaming failed for %r", question[:80])
        out = answer.model_copy(deep=True)
        record_fallback(out, "llm", _short(e))
        yield out
