"""The ask wing: router → planner → table query / retrieval → answer.

``ask(question, index=..., history=None, llm=None) -> Answer`` is the one entry point.

- ``index``: a loaded ``IndexData`` or an index folder (loaded once and cached per folder; reloaded
  when the folder's live version changes).
- ``history``: earlier turns, oldest first; each an ``Answer`` or a ``(question, Answer)`` pair.
  A follow-up ("那项目支出呢？", "and in 2024?") reuses the last answer's plan and overrides what it names.
- ``llm``: optional; its ``plan``/``route``/``phrase`` hooks are used when present (see planner,
  router, answer). Without it everything is deterministic and offline.

Bad questions (empty, too long, only punctuation, code or SQL, instructions to the system) get an
``Answer`` with route ``none`` and a message, never an exception; index problems do raise
(``IndexMissingError`` / ``IndexCorruptError``) since the caller must fix them.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from assistant.ask.answer import combine, compose_table, compose_text, ingested_summary, phrase, reasons_text
from assistant.ask.guard import foreign_entity, suggest
from assistant.ask.planner import ParsedQuestion, Vocab, build_vocab, detect_language, parse_question
from assistant.ask.router import route_question
from assistant.ask.table_query import TableResult, execute, resolve_reports
from assistant.errors import BadQuestionError, FiscalQAError
from assistant.glossary import normalize_text
from assistant.i18n import tr
from assistant.models import Answer, Citation
from assistant.orgnames import clean_name, department_places, normalize_body, own_place_words
from assistant.places import TOWNSHIP_RE, divisions_called, find_places, parents, short_name, strip_place_prefix
from assistant.settings import Settings

log = logging.getLogger(__name__)

_CACHE: dict[str, tuple[str, Any]] = {}

CODE_RE = re.compile(
    r"(?i)(\b(select\s+.+\s+from|drop\s+table|delete\s+from|insert\s+into|update\s+\w+\s+set|union\s+select|truncate\s+table)\b"
    r"|;\s*--|__import__|\bimport\s+os\b|os\.system|\bexec\s*\(|\beval\s*\(|subprocess|<script|rm\s+-rf)"
)
INJECTION_RE = re.compile(
    r"(?i)(忽略.{0,8}(指令|提示|规则)|系统提示|提示词|ignore (all |any )?(previous|prior|above) (instructions|prompts)|system prompt|jailbreak)"
)
OFF_TOPIC_RE = re.compile(
    r"(?i)(\bgdp\b|国内生产总值|人口|population|天气|下雨|下雪|气温|weather|\brain\b|股票|股价|stock price|彩票|足球|world cup|"
    r"局长|院长|检察长|厅长|部长|主任|书记|名字|姓名|电话|地址|邮箱|who is the|director'?s? name|phone number)"
)


def load_cached(index: Any) -> Any:
    """An IndexData for ``index`` (IndexData, or a folder path loaded once per live version)."""
    if not isinstance(index, (str, Path)):
        return index
    from assistant.store import current_version, load_index

    key = str(Path(index).resolve())
    v = current_version(Path(index))
    ver = str(v) if v else ""
    hit = _CACHE.get(key)
    if hit and hit[0] == ver:
        return hit[1]
    idx = load_index(Path(index))
    _CACHE[key] = (ver, idx)
    return idx


def check_question(question: str, settings: Settings | None = None) -> str:
    """The question stripped, or BadQuestionError with a message saying what to do."""
    s = settings or Settings()
    q = (question or "").strip()
    if not q:
        raise BadQuestionError(
            "The question is empty. Ask e.g. “某市民政局2023年公务接待费是多少？” or “how much was spent on reception in 2023”."
        )
    if len(q) > s.max_question_chars:
        raise BadQuestionError(
            f"The question is {len(q):,} characters long; the limit is {s.max_question_chars:,}. Ask one short question at a time."
        )
    if not re.search(r"[A-Za-z0-9\u4e00-\u9fff]", q):
        raise BadQuestionError(
            "The question has only punctuation or symbols. Ask about a department, a year and an item, e.g. “2023年三公经费是多少？”."
        )
    return q


def _none(question: str, msg: str, lang: str, status: str) -> Answer:
    return Answer(question=question, route="none", answer=msg, language=lang, meta={"status": status})  # type: ignore[arg-type]


def ask(question: str, *, index: Any = None, history: list[Any] | None = None, llm: Any = None) -> Answer:
    """Answer ``question`` from ``index`` (an IndexData, or a folder path)."""
    if question is not None and not isinstance(question, str):
        raise TypeError(f"ask() takes the question as text (str), not {type(question).__name__}: ask(str(...)) if you mean it")
    t0 = time.perf_counter()
    lang = "zh"
    try:
        lang = detect_language(question or "")
        q = check_question(question)
    except BadQuestionError as e:
        return _none(question or "", str(e), lang, "bad_question")
    idx = load_cached(index if index is not None else Settings.from_env().index_dir)
    try:
        from assistant.ask.scope import question_index

        idx = question_index(idx, q, history)  # a large index: only the facts of the reports the question names
        ans = _ask(q, idx, history, llm, lang)
        if llm is not None:  # grounded LLM wording; the deterministic answer stands on any doubt
            from assistant.llm import enhance_answer

            ans = enhance_answer(ans, index=idx, llm=llm)
    except FiscalQAError:
        raise
    except Exception as e:  # a bug must not surface as a traceback to the user; it is logged
        log.exception("ask failed for %r", q[:200])
        ans = _none(q, tr("ask.error", lang), lang, "error")
        ans.meta["error"] = repr(e)
    from assistant.provenance import add_provenance

    ans = add_provenance(ans, idx)  # "read by OCR from page 7", sheet cells, warnings of OCR'd tables failing checks
    from assistant.ingest.gate import flag_answer  # reports ingested with --accept-failing-checks say so

    flag_answer(ans, idx)
    ans.meta["ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return ans


def _ask(q: str, idx: Any, history: list[Any] | None, llm: Any, lang: str) -> Answer:
    vocab = build_vocab(idx)
    nq = normalize_text(q)
    if CODE_RE.search(q) or INJECTION_RE.search(q):
        return _none(q, tr("ask.rejected", lang), lang, "rejected")
    from assistant.ask.scope import parsed_before

    pq = parsed_before(vocab, q, history, llm) or parse_question(q, vocab, history, llm)  # a large index parsed it once
    if OFF_TOPIC_RE.search(nq) and not (pq.plan.items and not re.search(r"局长|院长|检察长|厅长|部长|主任|书记", nq)):
        return _none(q, tr("ask.off_topic", lang, ingested=ingested_summary(vocab, lang)), lang, "off_topic")
    unknown = _unknown_department(nq, pq, vocab)
    route = route_question(q, vocab, pq, llm)
    if unknown and route in ("table", "both", "text"):
        msg = tr("ask.not_ingested_department", lang, unknown=unknown, ingested=ingested_summary(vocab, lang))
        a = Answer(
            question=q,
            route="table" if route != "text" else "text",
            answer=msg,
            language=lang,
            plan=pq.plan,
            meta={"status": "not_ingested"},
        )  # type: ignore[arg-type]
        return _finish(a, pq)
    refusal = _never_guess(q, nq, pq, vocab, lang, route)
    if refusal is not None:
        return _finish(refusal, pq)
    if route == "none":
        return _finish(_none(q, tr("ask.no_route", lang, ingested=ingested_summary(vocab, lang)), lang, "none"), pq)
    if route == "table":
        res = execute(pq, vocab)
        if _operand_instead_of_operation(pq, res):
            return _finish(_refuse(q, pq, vocab, lang, "operation", []), pq)
        if res.status in ("not_found", "no_item", "not_published") and pq.plan.operation == "lookup" and _has_narrative(idx):
            alt = _text_figure(q, pq, vocab, idx, lang, res)
            if alt is not None:
                return _finish(alt, pq)
        a = phrase(compose_table(q, pq, res, vocab, lang), llm)
        if pq.unknown_item and res.status == "ok":  # 会议费和广告费: the one printed, and the other said to be absent
            a.answer += _not_printed_note(pq.unknown_item.split("、"), lang)
            a.meta["not_understood"] = pq.unknown_item.split("、")
        return _finish(a, pq)
    if route == "text":
        return _finish(_text_answer(q, pq, vocab, idx, lang), pq)
    # both: the figure of the item (latest year named) and the passages that explain it
    if pq.plan.operation in ("yoy", "difference", "rank", "share", "ratio"):
        pq.plan.operation = "lookup"  # type: ignore[assignment]
        pq.plan.compare_year = None
    if len(pq.years) > 1:  # "why less than 2024": the figure of the year asked about
        pq.years = [max(pq.years)]
        pq.plan.reports.year = pq.years[0]
    if pq.plan.measure in (
        "预算数",
        "全年预算数",
        "决算数",
    ):  # "why below the budget": the comparison words are not the figure's column
        pq.plan.measure = None
    pq.plan.items = pq.plan.items[:1]
    res = execute(pq, vocab)
    table = compose_table(q, pq, res, vocab, lang)
    if res.texts:
        table.answer += reasons_text(res, lang)
        table.citations += [c for t in res.texts if (c := _cite_text(t)) is not None]
    text = _text_answer(q, pq, vocab, idx, lang)
    return _finish(combine(q, table, text, lang), pq)


COMPUTED_OPS = ("difference", "share", "ratio", "sum", "yoy")
TWO_OPERAND_OPS = ("difference", "share", "ratio", "sum")


def _never_guess(q: str, nq: str, pq: ParsedQuestion, vocab: Vocab, lang: str, route: str) -> Answer | None:
    """A refusal when the figure asked for is not one the reports hold (see ``assistant.ask.guard``)."""
    if route in ("text", "none"):
        return None
    why = foreign_entity(
        nq,
        departments_named=bool(pq.departments or pq.dept_ambiguous),
        places_named=pq.places,
        operation=pq.plan.operation,
    )
    if why is not None:
        return _refuse(q, pq, vocab, lang, why, [])
    if pq.unknown_item:
        words = pq.unknown_item.split("、")
        two = pq.op_named and pq.plan.operation in TWO_OPERAND_OPS and not pq.budget_vs_actual
        if pq.items_from_question == 0 or (two and pq.items_from_question < 2):
            return _refuse(q, pq, vocab, lang, "unknown_item", words)
    return None


def _not_printed_note(words: list[str], lang: str) -> str:
    """The items of a question that no printed item matches, said after the ones answered."""
    return tr("ask.not_printed_beside", lang, words=tr("sep.enum", lang).join(words))


def _operand_instead_of_operation(pq: ParsedQuestion, res: TableResult) -> bool:
    """The question names a computation but the result is one of its operands (never answer that)."""
    if not pq.op_named or pq.plan.operation not in COMPUTED_OPS or res.status != "ok":
        return False
    if "same_fact" in res.notes:
        return False  # the items named are one printed fact: it is the answer, counted once
    return res.headline is None or res.headline.role != "computed"


def _refuse(q: str, pq: ParsedQuestion, vocab: Vocab, lang: str, why: str, words: list[str]) -> Answer:
    """'Not in these reports' with what the question asked that they do not hold, and the nearest printed items."""
    ids = set(_report_ids(pq, vocab) or [])
    near = suggest(vocab, words, ids) if words else []
    sep = tr("sep.enum", lang)
    reason = tr(f"ask.refuse.{why}", lang, words=sep.join(words))
    nearest = tr("answer.nearest", lang, items=sep.join(near)) if near else ""
    msg = tr("ask.refusal", lang, reason=reason, nearest=nearest, ingested=ingested_summary(vocab, lang))
    a = Answer(question=q, route="table", answer=msg, language=lang, plan=pq.plan, meta={"status": "not_in_reports"})  # type: ignore[arg-type]
    a.meta["not_understood"] = words
    a.meta["suggestions"] = near
    a.meta["why"] = why
    return a


def _finish(a: Answer, pq: ParsedQuestion) -> Answer:
    a.plan = a.plan or pq.plan
    if pq.read_as and a.route in ("table", "both") and "read_as" not in a.meta:
        a.answer = read_as_note(pq.read_as, a.language) + a.answer  # what a similarity match was read as
        a.meta["read_as"] = [{"words": w, "label": lab} for w, lab in pq.read_as]
    a.meta["parsed"] = {
        "departments": pq.departments,
        "years": pq.years,
        "kind": pq.kind,
        "terms": pq.terms,
        "scope": pq.scope,
        "ascending": pq.ascending,
        "followup": pq.followup,
        "source": pq.source,
    }
    return a


def read_as_note(read_as: list[tuple[str, str]], lang: str) -> str:
    """'“招商经费”按“招商工作经费”理解。' — the words of the question and the printed item they were read as."""
    return "".join(tr("ask.read_as", lang, words=w, label=lab) for w, lab in read_as)


def _cite_text(fig: Any) -> Citation | None:
    from assistant.ask.answer import cite

    return cite(fig)


ORG_RE = re.compile(r"([\u4e00-\u9fff]{1,12}?(?:委员会|检察院|法院|办公厅|办公室|办事处|街道|中心|局))")
PLACE_RE = re.compile(r"([\u4e00-\u9fff]{2,4}?(?:省|市|区|县))")
NOT_ORG = ("预算", "决算", "支出", "经费", "费", "收入", "资金", "部门", "单位", "项目", "哪个", "全部", "社区")
CUT = re.compile(r"^.*[\d年度的和与及在中、，,]")


def _unknown_department(nq: str, pq: ParsedQuestion, vocab: Vocab) -> str | None:
    """A department or place the question names that no ingested report belongs to (北京市财政局, 西湖区教育局).

    A division of the national list counts as ingested when a report's department is in it or under it;
    a department said right after the division is that division's own (北京市财政局 is the city's bureau,
    not a district's), and a department the question names with a place it is not in is not that one
    (浙江省…办公室 is not 西湖区's office).
    """
    got = vocab.extra.get("ask.known_names")
    if got is None or got[0] is not vocab.reports:  # built once per report list, not per question
        got = vocab.extra["ask.known_names"] = (vocab.reports, " ".join(f"{r.department} {r.place}" for r in vocab.reports))
    known = got[1]
    divisions_named: list[str] = []
    for m in PLACE_RE.finditer(nq):
        p = CUT.sub("", m.group(1))
        if len(p) < 3 or any(w in p for w in NOT_ORG):
            continue
        rest = ORG_RE.match(nq[m.end() : m.end() + 12])
        org = rest.group(1) if rest else ""
        division = _division_named(p)
        if division is None and any(p[i:] in known for i in range(len(p) - 1)):
            continue
        if division is None or division not in _ingested_places(vocab):
            if rest or pq.departments:
                return p + org  # a place not ingested (北京市财政局)
            continue
        divisions_named.append(division)
        if org and _is_own_department_word(org) and not _has_own_department(division, org, pq, vocab):
            return division + org  # 北京市财政局 with only 北京市朝阳区财政局 ingested
    if pq.departments and divisions_named and not pq.dept_ambiguous:
        named = {w for d in pq.departments for w, _lv in department_places(d)}
        if named and not any(d in named for d in divisions_named):
            return divisions_named[0] + (pq.dept_text or "")  # 浙江省…办公室: 办公室 matched 西湖区's
    if pq.departments or pq.dept_ambiguous:
        return None
    for m in ORG_RE.finditer(nq):
        org = CUT.sub("", m.group(1))
        org = re.sub(r"^.{2,}?(?:省|市|区|县)", "", org) or org
        if len(org) >= 3 and org not in known and not any(w in org for w in NOT_ORG):
            return org
    return None


def _division_named(p: str) -> str | None:
    """The full name of the division of the national list ``p`` ends with (问北京市 → 北京市), or None."""
    ms = find_places(p)
    if ms and ms[-1].end == len(p) and ms[-1].text == ms[-1].division.name:
        return ms[-1].text
    return None


def _ingested_places(vocab: Vocab) -> frozenset[str]:
    """Words of every division an ingested department is in or under (西湖区, 西湖, 杭州市, 杭州, 浙江省 …): the
    vocabulary's place words with the parents of the divisions they name in full (dictionary lookups only)."""
    got = vocab.extra.get("ask.ingested_places")
    if got is None or got[0] is not vocab.reports:
        words = set(vocab.place_words)
        for w in list(words):
            for d in divisions_called(w):
                if d.name == w:
                    words.update(x for p in parents(d) for x in (p.name, p.short))
        got = vocab.extra["ask.ingested_places"] = (vocab.reports, frozenset(words))
    return got[1]


def _is_own_department_word(org: str) -> bool:
    """Words after a division that name a department of that division itself (财政局, 人民政府办公室), not
    a further place (西湖区财政局), a subdistrict or town (长青街道: below the county, named with any parent)
    or something else (社区…中心)."""
    lead = find_places(org)
    further = bool(lead) and lead[0].start == 0 and lead[0].text == lead[0].division.name  # 西湖区…, not 公安 of 公安局
    return not further and not TOWNSHIP_RE.search(org) and not any(w in org for w in NOT_ORG)


def _has_own_department(division: str, org: str, pq: ParsedQuestion, vocab: Vocab) -> bool:
    """An ingested department whose own division is ``division`` and whose name fits ``org``."""
    if any(division in own_place_words(d) for d in pq.departments):
        return True
    short = short_name(division)
    want = normalize_body(org)
    for d, pl in {(r.department, r.place or "") for r in vocab.reports if short in r.department or short in (r.place or "")}:
        body = normalize_body(strip_place_prefix(clean_name(d))[1])
        if division in own_place_words(d, pl) and (want in body or body in want):
            return True
    return False


def _has_narrative(idx: Any) -> bool:
    from assistant.ask.retrieve import _has_chunks

    return _has_chunks(idx)  # from the manifest's counts: the chunks themselves are not read


def _report_ids(pq: ParsedQuestion, vocab: Vocab) -> list[str] | None:
    reps, early = resolve_reports(pq, vocab)
    if reps:
        return [r.report_id for r in reps]
    depts = set(pq.departments)
    if depts:
        ids = [r.report_id for r in vocab.reports if r.department in depts and (not pq.years or r.year in pq.years)]
        return ids or [r.report_id for r in vocab.reports if r.department in depts]
    if pq.years:
        return [r.report_id for r in vocab.reports if r.year in pq.years] or None
    return None


def _passages(
    q: str,
    pq: ParsedQuestion,
    vocab: Vocab,
    idx: Any,
    k: int = 5,
    n: int = 2,
    retrieved: list[dict[str, Any]] | None = None,
    whole: bool = False,
) -> list[dict[str, Any]]:
    """Best sentences of the best chunks for the question, filtered by the reports it names.

    ``retrieved`` (when given) receives every retrieved chunk, best first, for ``Answer.meta["retrieved"]``.
    """
    ids = _report_ids(pq, vocab)
    q = retrieval_query(q, pq)
    try:
        from assistant.ask.retrieve import best_sentences, retrieve

        chunks = retrieve(idx, q, report_ids=ids, k=k)
        if retrieved is not None:
            retrieved.extend({"chunk_id": c.chunk_id, "section": c.section, "page": c.page} for c in chunks)
        best = best_sentences(chunks, q, n=n)
        if whole and best:
            best = _whole_passage(idx, best)
    except Exception as e:  # retrieval trouble (no vectors yet, …) must not sink a table answer
        log.warning("retrieval unavailable (%s)", e)
        return []
    out: list[dict[str, Any]] = []
    by_chunk: dict[str, dict[str, Any]] = {}
    for ch, sent in best:
        d = by_chunk.get(ch.chunk_id)
        if d is None:
            d = {
                "chunk_id": ch.chunk_id,
                "report_id": ch.report_id,
                "section": ch.section,
                "page": ch.page,
                "sentences": sent,
                "text": ch.text,
            }
            by_chunk[ch.chunk_id] = d
            out.append(d)
        else:
            d["sentences"] += sent
    if not out and chunks:
        ch = chunks[0]
        out.append(
            {
                "chunk_id": ch.chunk_id,
                "report_id": ch.report_id,
                "section": ch.section,
                "page": ch.page,
                "sentences": ch.text[:300],
                "text": ch.text,
            }
        )
    return out


WHOLE_MAX_CHARS = 1500
"""An answering paragraph or list longer than this is quoted by its best sentences instead."""


def _whole_passage(idx: Any, best: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """The answering chunk's whole paragraph or list (all its items), then the other passages' sentences."""
    from assistant.ask.retrieve import section_passage

    ch = best[0][0]
    text = section_passage(idx, ch.chunk_id, WHOLE_MAX_CHARS)
    if text is None and len(ch.text) <= WHOLE_MAX_CHARS:
        text = ch.text
    if not text:
        return [(c, without_instructions(s)) for c, s in best]
    return [(ch, without_instructions(text))] + [(c, without_instructions(s)) for c, s in best if c.chunk_id != ch.chunk_id]


def without_instructions(text: str) -> str:
    """The passage without sentences that tell the reader what to answer (planted in report text: data, not fact)."""
    from assistant.llm.grounding import is_instruction

    parts = re.split(r"(?<=[。！？!?\n])", text)
    return "".join(p for p in parts if not is_instruction(p)).strip() or text


def retrieval_query(q: str, pq: ParsedQuestion) -> str:
    """The question plus the Chinese words of what it names (English questions reach Chinese passages via BM25 too)."""
    from assistant.glossary import load_glossary, term_index

    extra = [term_index()[t]["zh"] for t in pq.terms if t in term_index()]
    if pq.language == "en":
        low = q.lower()
        extra += [zh for en, zh in load_glossary().get("query_terms_en", {}).items() if en in low]
        extra += [d for d in pq.departments]
    extra = [w for w in dict.fromkeys(extra) if w not in q]
    return q + (" " + " ".join(extra) if extra else "")


def _text_answer(q: str, pq: ParsedQuestion, vocab: Vocab, idx: Any, lang: str) -> Answer:
    retrieved: list[dict[str, Any]] = []
    a = compose_text(q, _passages(q, pq, vocab, idx, retrieved=retrieved, whole=True), vocab, lang, pq)
    a.meta["retrieved"] = retrieved
    return a


def _printed_in_a_table(term: dict[str, Any] | None, pq: ParsedQuestion, vocab: Vocab) -> bool:
    """Whether the reports asked about have the table that prints ``term`` (its kind, and its words in the title)."""
    if not term or vocab.tables is None or not len(vocab.tables):
        return False
    ids = _report_ids(pq, vocab) or []
    t = vocab.tables[vocab.tables["report_id"].isin(ids) & vocab.tables["table_kind"].isin(term.get("tables", []))]
    words = term.get("title_words", [])
    return any(all(w in str(title) for w in words) for title in t["title"])


def _text_figure(q: str, pq: ParsedQuestion, vocab: Vocab, idx: Any, lang: str, res: TableResult) -> Answer | None:
    """When the tables do not print an item, the narrative may state it (机关运行经费支出184.65万元).

    The figure is the one of the clause that states what the question asks (``assistant.ask.clauses``):
    the total clause for the general noun, a part's clause for the part, the clause with the question's
    qualifier (年末, 购置, 预算); clauses that fit equally are all quoted and none is given as the figure.
    """
    from decimal import Decimal

    from assistant.ask.clauses import choose, clause_figures, question_want
    from assistant.glossary import norm_label, term_by_label
    from assistant.llm.grounding import is_instruction

    if not pq.plan.items:
        return None
    it = pq.plan.items[0]
    t = term_by_label(it.label) if it.label else None
    names = [
        norm_label(x)
        for x in ([t["zh"], *t.get("aliases_zh", []), *t.get("text_names", [])] if t else [it.label or ""])
        if x and len(norm_label(x)) >= 2
    ]
    if not names:
        return None
    asked = q
    for named in (pq.dept_text, *pq.places):  # 政府 of 区政府办公室 names the department, not what is counted
        if named:
            asked = asked.replace(named, " ")
    want = question_want(
        norm_label(asked) if lang == "zh" else asked,
        names,
        kind="count" if t and t.get("unit") == "count" else "money",
        measure=pq.plan.measure,
        years=pq.years,
    )
    passages = _chunks(q, pq, vocab, idx, k=8)
    figures: list[Any] = []
    where: dict[int, dict[str, Any]] = {}
    for p in passages:
        for f in clause_figures(p.get("text") or ""):
            if is_instruction(f.sentence):  # a planted "answer" is not a figure
                continue
            figures.append(f)
            where.setdefault(id(f), p)
    if pq.plan.measure == "决算数":  # an actual figure must be said to be one (支出决算为0.00万元)
        figures = [f for f in figures if f.qualifiers.get("plan") == "actual"]
    kinds = {r.kind for r in vocab.reports if r.report_id in {p.get("report_id") for p in passages}}
    if "plan" not in want.qualifiers and len(kinds) == 1:  # a final account's figure is its actual one
        want.implied["plan"] = {"决算": "actual", "预算": "budget"}.get(kinds.pop(), "")
    choice = choose(figures, want)
    if choice.status == "none":
        return None
    quoted = [{**where[id(f)], "sentences": f.sentence} for f in choice.figures if id(f) in where]
    a = compose_text(q, _unique_passages(quoted), vocab, lang, pq)
    a.meta["retrieved"] = [{"chunk_id": p.get("chunk_id"), "section": p.get("section"), "page": p.get("page")} for p in passages]
    lead = res.status == "not_published"
    if lead or _printed_in_a_table(t, pq, vocab):
        a.route = "table"  # a table question (the report has the table), completed from the narrative
    if choice.status == "one":
        f = choice.figures[0]
        plan = want.implied.get("plan") if want.implied and f.qualifiers.get("plan") == want.implied.get("plan") else None
        key = ("ask.text_figure.lead" if lead else "ask.text_figure.one") + (f".{plan}" if plan else "")
        a.answer = tr(key, lang, value=f.value, unit=f.unit, clause=f.clause) + a.answer
        a.value, a.unit = float(Decimal(f.value)), {"批次": "个", "人次": "人"}.get(f.unit, f.unit)
        a.meta["status"] = "text_figure"
        a.meta["clause"] = f.clause
        return a
    which = "; ".join(f.clause.rstrip("。；;，, ") for f in choice.figures)  # the message ends the sentence
    key = "ask.text_figure.parts" if choice.status == "parts" else "ask.text_figure.several"
    a.answer = tr(key, lang, clauses=which) + a.answer
    a.meta["status"] = "text_figures"
    a.meta["clauses"] = [f.clause for f in choice.figures]
    return a


def _chunks(q: str, pq: ParsedQuestion, vocab: Vocab, idx: Any, k: int) -> list[dict[str, Any]]:
    """The ``k`` best chunks for the question (whole texts: a figure may sit in any sentence), best first."""
    try:
        from assistant.ask.retrieve import retrieve

        found = retrieve(idx, retrieval_query(q, pq), report_ids=_report_ids(pq, vocab), k=k)
    except Exception as e:  # retrieval trouble must not sink a table answer
        log.warning("retrieval unavailable (%s)", e)
        return []
    return [
        {"chunk_id": c.chunk_id, "report_id": c.report_id, "section": c.section, "page": c.page, "sentences": "", "text": c.text}
        for c in found
    ]


def _unique_passages(ps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One quote per chunk and sentence."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for p in ps:
        k = (p.get("chunk_id"), p.get("sentences"))
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out
