"""Planning and routing by the model: the fact vocabulary, ``llm_plan`` validated against it, ``llm_route``."""

from __future__ import annotations

import json
import logging
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import ValidationError

from assistant.errors import LLMError
from assistant.llm.client import LLM, LLMCallError, _short
from assistant.llm.grounding import _cn_year_digits
from assistant.llm.notes import _note, _note_failure
from assistant.llm.prompts import _scrub, detect_lang, load_prompt
from assistant.models import COLUMN_SEP, Answer, QueryPlan, Route

log = logging.getLogger(__name__)

ROUTES: tuple[str, ...] = get_args(Route)


# --------------------------------------------------------------------------- vocabulary & planning

KNOWN_MEASURES = (
    "决算数",
    "预算数",
    "全年预算数",
    "年初预算数",
    "决算统计数",
    "基本支出",
    "项目支出",
    "人员经费",
    "公用经费",
    "原值",
    "净值",
    "指标值",
    "实际完成值",
    "执行率",
    "全年执行数",
    "合计",
    "小计",
    "金额",
)
_ENUM_PREFIX = re.compile(r"^\s*(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[)）]|\d+[.、]|其中[:：]?)\s*")


def norm_label(s: str) -> str:
    """Label key: no spaces, half-width brackets/quotes, no leading numbering (一、/（一）/其中：)."""
    t = re.sub(r"\s+", "", str(s or ""))
    t = t.translate(str.maketrans("()“”\"'：", "（）‘’‘’:"))
    return _ENUM_PREFIX.sub("", t)


@dataclass
class PlanVocab:
    """What a plan may name: the fact table's departments, years, kinds, items, measures, table kinds."""

    departments: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    """Normalized label → label as printed."""
    codes: dict[str, str] = field(default_factory=dict)
    """Code → a label printed with it."""
    measures: set[str] = field(default_factory=set)
    table_kinds: set[str] = field(default_factory=set)

    def candidate_labels(self, question: str, k: int = 60) -> list[str]:
        """Labels sharing the most characters with the question (prompt budget)."""
        q = set(norm_label(question))
        scored = sorted(self.labels.values(), key=lambda lab: (-len(q & set(lab)), len(lab)))
        return scored[:k]


_VOCAB_CACHE: dict[int, tuple[weakref.ref[Any], PlanVocab]] = {}


def plan_vocab(source: Any) -> PlanVocab:
    """The vocabulary from an ``IndexData`` (cached in ``.extra``), a facts DataFrame or a ``PlanVocab``."""
    if isinstance(source, PlanVocab):
        return source
    extra = getattr(source, "extra", None)
    if isinstance(extra, dict) and isinstance(extra.get("llm_vocab"), PlanVocab):
        return extra["llm_vocab"]
    facts = getattr(source, "facts", source)
    cached = _VOCAB_CACHE.get(id(facts))
    if cached is not None and cached[0]() is facts:
        return cached[1]
    v = PlanVocab()
    from assistant.glossary import TABLE_KINDS, load_glossary

    v.table_kinds = {k for k, _ in TABLE_KINDS} | {"other"}
    v.measures = set(KNOWN_MEASURES)
    if facts is not None and len(facts):
        v.departments = sorted({str(d) for d in facts["department"].dropna().unique()})
        v.years = sorted({int(y) for y in facts["year"].dropna().unique()})
        v.kinds = sorted({str(k) for k in facts["kind"].dropna().unique()})
        v.report_ids = sorted({str(r) for r in facts["report_id"].dropna().unique()})
        v.table_kinds |= {str(k) for k in facts["table_kind"].dropna().unique()}
        for lab in facts["row_label"].dropna().unique():
            lab = str(lab).strip()
            if lab and len(lab) <= 60:
                v.labels.setdefault(norm_label(lab), lab)
        for code, lab in facts[["code", "row_label"]].dropna().drop_duplicates("code").itertuples(index=False):
            v.codes[str(code)] = str(lab)
        for col in facts["column"].dropna().unique():
            for part in str(col).split(COLUMN_SEP.strip()):
                part = part.strip()
                if part and len(part) <= 30:
                    v.measures.add(part)
    reports = getattr(source, "reports", None) or []
    for r in reports:
        if r.department not in v.departments:
            v.departments.append(r.department)
        if r.year not in v.years:
            v.years.append(r.year)
        if r.report_id not in v.report_ids:
            v.report_ids.append(r.report_id)
    for term in _glossary_terms(load_glossary()):
        v.labels.setdefault(norm_label(term), term)
    if isinstance(extra, dict):
        extra["llm_vocab"] = v
    elif facts is not None:
        for key in [k for k, (ref, _) in _VOCAB_CACHE.items() if ref() is None]:
            del _VOCAB_CACHE[key]
        try:
            _VOCAB_CACHE[id(facts)] = (weakref.ref(facts), v)
        except TypeError:
            pass
    return v


def _glossary_terms(g: Any) -> list[str]:
    """Chinese labels and aliases from the shipped glossary (``terms``: zh, aliases_zh, labels)."""
    out: list[str] = []
    terms = g.get("terms", []) if isinstance(g, dict) else g
    for t in terms or []:
        if isinstance(t, str):
            out.append(t)
        elif isinstance(t, dict):
            out += [x for k in ("zh", "label") if isinstance(x := t.get(k), str)]
            out += [x for k in ("aliases_zh", "labels") for x in t.get(k) or [] if isinstance(x, str)]
    return out


class PlanRejected(LLMCallError):
    def __init__(self, detail: str) -> None:
        super().__init__("plan_rejected", detail)


_PLAN_KEYS = {
    "": set(QueryPlan.model_fields),
    "reports": {"department", "year", "kind", "report_ids"},
    "items": {"code", "label"},
}


def validate_plan(raw: dict[str, Any], vocab: PlanVocab, question: str, history_text: str = "") -> QueryPlan:
    """A model's plan checked against the schema and the fact vocabulary; raises ``PlanRejected``."""
    if not isinstance(raw, dict):
        raise PlanRejected("not an object")
    if "plan" in raw and isinstance(raw["plan"], dict) and "operation" not in raw:
        raw = raw["plan"]
    if raw.get("operation") in (None, "", "none", "unsure"):
        raise PlanRejected("the model declined to plan")
    extra = set(raw) - _PLAN_KEYS[""]
    if extra:
        raise PlanRejected(f"unknown field(s) {sorted(extra)}")
    if isinstance(raw.get("reports"), dict) and (bad := set(raw["reports"]) - _PLAN_KEYS["reports"]):
        raise PlanRejected(f"unknown report field(s) {sorted(bad)}")
    for it in raw.get("items") or []:
        if isinstance(it, dict) and (bad := set(it) - _PLAN_KEYS["items"]):
            raise PlanRejected(f"unknown item field(s) {sorted(bad)}")
    try:
        plan = QueryPlan.model_validate(raw)
    except ValidationError as e:
        raise PlanRejected(f"schema: {e.errors()[0].get('msg', 'invalid')} at {e.errors()[0].get('loc')}") from e

    mentioned = _cn_year_digits(question) | _cn_year_digits(history_text)
    r = plan.reports
    if r.department:
        d = norm_label(r.department)
        if not any(d in norm_label(k) or norm_label(k) in d for k in vocab.departments):
            raise PlanRejected(f"unknown department {r.department!r}")
    for y in [r.year, plan.compare_year]:
        if y is None:
            continue
        if vocab.years and y not in vocab.years:
            raise PlanRejected(f"year {y} is not ingested ({', '.join(map(str, vocab.years))})")
        if y not in mentioned and len(vocab.years) > 1:
            raise PlanRejected(f"year {y} is not in the question (a guess)")
    if r.kind and vocab.kinds and r.kind not in vocab.kinds:
        raise PlanRejected(f"kind {r.kind} not ingested")
    for rid in r.report_ids:
        if rid not in vocab.report_ids:
            raise PlanRejected(f"unknown report id {rid!r}")
    if len(plan.items) > 6:
        raise PlanRejected("too many items")
    for it in plan.items:
        if it.code is None and not it.label:
            raise PlanRejected("item without code or label")
        if it.code is not None:
            if not re.fullmatch(r"\d{3,9}", it.code) or it.code not in vocab.codes:
                raise PlanRejected(f"unknown item code {it.code!r}")
        if it.label and norm_label(it.label) not in vocab.labels:
            raise PlanRejected(f"unknown item {it.label!r}")
    if plan.operation in ("difference", "ratio") and len(plan.items) not in (1, 2):
        raise PlanRejected(f"{plan.operation} needs one or two items")
    if plan.measure and plan.measure not in vocab.measures:
        if not any(plan.measure in m for m in vocab.measures):
            raise PlanRejected(f"unknown measure {plan.measure!r}")
    if plan.table_kind and plan.table_kind not in vocab.table_kinds:
        raise PlanRejected(f"unknown table kind {plan.table_kind!r}")
    if "top_k" in raw and plan.operation != "rank":
        plan.top_k = QueryPlan.model_fields["top_k"].default
    return plan


def _history_text(history: Sequence[Any] | None, limit: int = 4) -> str:
    if not history:
        return ""
    lines = []
    for h in list(history)[-limit:]:
        if isinstance(h, Answer):
            lines.append(f"Q: {h.question}\nA: {h.answer[:300]}")
        elif isinstance(h, Mapping):
            lines.append(f"{h.get('role', 'user')}: {str(h.get('content', h.get('question', '')))[:300]}")
        elif isinstance(h, (tuple, list)) and len(h) == 2:
            lines.append(f"Q: {h[0]}\nA: {str(h[1])[:300]}")
        else:
            lines.append(f"Q: {str(h)[:300]}")
    return "\n".join(lines)


def llm_plan(llm: LLM, question: str, vocab: Any, history: Sequence[Any] | None = None) -> QueryPlan | None:
    """The model's ``QueryPlan`` for ``question``, validated against the vocabulary; None on any doubt."""
    v = plan_vocab(vocab)
    lang = detect_lang(question)
    hist = _history_text(history)
    system = (
        load_prompt("planner", lang)
        .replace("{{schema}}", json.dumps(QueryPlan.model_json_schema(), ensure_ascii=False))
        .replace("{{departments}}", "、".join(v.departments) or "-")
        .replace("{{years}}", ", ".join(map(str, sorted(v.years))) or "-")
        .replace("{{kinds}}", "、".join(v.kinds) or "-")
        .replace("{{measures}}", "、".join(sorted(v.measures)[:80]))
        .replace("{{table_kinds}}", ", ".join(sorted(v.table_kinds)))
        .replace("{{labels}}", "\n".join(f"- {lab}" for lab in v.candidate_labels(question)))
    )
    user = (f"Conversation so far:\n{_scrub(hist)}\n\n" if hist else "") + f"Question: {_scrub(question)}"
    try:
        raw = llm.complete_json(
            [{"role": "system", "content": system}, {"role": "user", "content": user}], QueryPlan.model_json_schema()
        )
        plan = validate_plan(raw, v, question, hist)
    except LLMError as e:
        declined = isinstance(e, LLMCallError) and "declined" in e.detail
        log.log(logging.INFO if declined else logging.WARNING, "LLM plan not used for %r: %s", question[:80], e)
        _note_failure(e, "plan", question)
        return None
    except Exception as e:  # a swapped-in LLM may raise anything; the deterministic plan stands
        log.warning("LLM plan failed for %r: %s", question[:80], e)
        _note_failure(LLMCallError("error", _short(e)), "plan", question)
        return None
    log.info("LLM plan accepted for %r: %s", question[:80], plan.model_dump_json(exclude_defaults=True))
    _note("plan", question)
    return plan


def llm_route(llm: LLM, question: str) -> Route | None:
    """The model's route for ``question`` (table/text/both/none), or None when invalid or failed."""
    lang = detect_lang(question)
    msgs = [
        {"role": "system", "content": load_prompt("router", lang)},
        {"role": "user", "content": f"Question: {_scrub(question)}"},
    ]
    try:
        raw = llm.complete_json(msgs, {"type": "object", "properties": {"route": {"enum": list(ROUTES)}}})
    except Exception as e:
        log.warning("LLM route failed for %r: %s", question[:80], e)
        _note_failure(e if isinstance(e, LLMCallError) else LLMCallError("error", _short(e)), "route", question)
        return None
    route = str(raw.get("route", "")).strip().lower()
    if route not in ROUTES:
        log.warning("LLM route %r invalid for %r", route, question[:80])
        _note_failure(LLMCallError("invalid_route", repr(route)[:40]), "route", question)
        return None
    _note("route", question)
    return route  # type: ignore[return-value]
