"""The facts a question needs, for indexes whose facts are read per report (DuckDB).

The planner and the table query run on the same pandas frame as for a small index, only holding
the facts of the reports the question (and its history) names: its departments, all their years.
Any other report's facts are read when the table query first asks for them (a question naming no
department reads only the reports its item leads to; a ranking reads those it ranks). Report metadata, the tables list and the label → report index stay those of the whole index,
so the planner sees the same vocabulary and gives the same answer as with every fact in memory.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from assistant.models import FACT_COLUMNS
from assistant.store import IndexData

MAX_SUBSETS = 8
"""Fact subsets kept per loaded index (least recently used dropped)."""
MAX_NAMED_REPORTS = 32
"""A question naming more reports than this (a name many departments share) reads none at once."""
MAX_CACHED_FACTS = 40_000
"""Prepared facts kept per loaded index across questions (whole reports, least recently used dropped)."""
_LIGHT, _SUBSETS, _LABELS = "scope.light", "scope.subsets", "scope.labels"
_BASE, _FRAMES, _DEPTS, _LABEL_MAP = "scope.base", "scope.frames", "scope.depts", "scope.label_map"


class _SharedExtra(dict):  # type: ignore[type-arg]
    """A subset's cache: its own vocabulary, everything else (retrieval indexes, rows) shared with the parent."""

    def __init__(self, parent: dict[str, Any], own: Iterable[str]) -> None:
        super().__init__()
        self._parent = parent
        self._own = set(own)

    def _target(self, key: str) -> dict[str, Any]:
        return self if key in self._own else self._parent

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        t = self._target(key)
        return dict.get(t, key, default) if t is self else t.get(key, default)

    def __getitem__(self, key: str) -> Any:
        t = self._target(key)
        return dict.__getitem__(t, key) if t is self else t[key]

    def __setitem__(self, key: str, value: Any) -> None:
        t = self._target(key)
        if t is self:
            dict.__setitem__(self, key, value)
        else:
            t[key] = value

    def __contains__(self, key: object) -> bool:
        t = self._target(str(key))
        return dict.__contains__(t, key) if t is self else key in t

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        t = self._target(key)
        return dict.pop(t, key, *default) if t is self else t.pop(key, *default)


class ScopedIndex(IndexData):
    """An index whose facts are those of some reports; chunks and caches are the parent's."""

    def __init__(self, parent: IndexData, report_ids: list[str]) -> None:
        from assistant.ask.planner import VOCAB_KEY

        super().__init__(
            path=parent.path,
            reports=[],  # the parent's (and its report lookup): not rebuilt per question
            tables=parent.tables,
            parts=parent.parts,
            root=parent.root,
            extra=_SharedExtra(parent.extra, own=[VOCAB_KEY]),
            fact_store=parent.fact_store,
        )
        self.reports = list(parent.reports)
        self._by_id = parent._by_id if len(parent._by_id) == len(parent.reports) else {r.report_id: r for r in self.reports}
        self.parent = parent
        self.report_ids = report_ids

    @property
    def facts(self) -> pd.DataFrame:  # type: ignore[override]
        """The raw facts of the named reports (read once, shared with the index's frame cache)."""
        if self._facts is None:
            frames = frame_cache(self.parent).get_many(self.report_ids)
            cols = [c for c in FACT_COLUMNS]
            got = [f[[c for c in cols if c in f.columns]] for f in frames.values()]
            self._facts = pd.concat(got, ignore_index=True) if got else _empty_facts()
        return self._facts

    @facts.setter
    def facts(self, value: pd.DataFrame) -> None:
        self._facts = value

    def fact_rows(self, fact_ids: list[str], report_ids: list[str], columns: list[str]) -> dict[str, dict[str, Any]]:
        """fact_id → those columns of its fact, for facts of any report (a ranked figure's report need not be
        one the question named): from reports already read, else one DuckDB read of just those facts."""
        wanted = set(fact_ids)
        out: dict[str, dict[str, Any]] = {}
        fc = frame_cache(self.parent)
        unread = []
        for rid in report_ids:
            f = fc.peek(rid)
            if f is None:
                unread.append(rid)
                continue
            out.update(_rows_with_ids(f, wanted, columns))
        rest = wanted - set(out)
        if unread and rest:
            read = getattr(self.fact_store, "facts_by_id", None)
            got = read(unread, sorted(rest), columns) if read is not None else self.parent.facts_for(unread)
            out.update(_rows_with_ids(got, rest, columns))
        return out

    @property
    def chunks(self) -> pd.DataFrame:  # type: ignore[override]
        return self.parent.chunks

    @chunks.setter
    def chunks(self, value: pd.DataFrame) -> None:
        self.parent.chunks = value


def _rows_with_ids(facts: pd.DataFrame, ids: set[str], columns: list[str]) -> dict[str, dict[str, Any]]:
    """fact_id → {column: value} of the facts with those ids (no frame built for a few rows)."""
    if not len(facts):
        return {}
    at = np.flatnonzero(facts["fact_id"].isin(ids).to_numpy())
    cols = {c: facts[c].to_numpy() for c in columns if c in facts.columns}
    return {str(cols["fact_id"][i]): {c: v[i] for c, v in cols.items()} for i in at}


def _empty_facts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in FACT_COLUMNS})


class FrameCache:
    """Reports' facts as the planner reads them (helper columns added), shared by every question on one index.

    Missing reports are read in one DuckDB query; whole reports are kept, least recently used dropped
    once more than ``MAX_CACHED_FACTS`` facts are held (a report is never split)."""

    def __init__(self, index: IndexData, max_facts: int = MAX_CACHED_FACTS) -> None:
        self._index = index
        self._max = max_facts
        self._frames: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._held = 0
        self.reads = 0
        """DuckDB reads made (for tests: a report once asked about is not read again)."""

    def get_many(self, report_ids: Iterable[str]) -> dict[str, pd.DataFrame]:
        """Prepared facts of those reports that have facts, in the order asked."""
        ids = list(dict.fromkeys(report_ids))
        missing = [r for r in ids if r not in self._frames]
        if missing:
            self.reads += 1
            got = _prepared_facts(self._index, missing)
            fresh = _by_report(got)
            for rid in missing:
                self._frames[rid] = fresh.get(rid, got.iloc[0:0])
                self._held += len(self._frames[rid])
        out = {}
        for rid in ids:
            self._frames.move_to_end(rid)
            if len(self._frames[rid]):
                out[rid] = self._frames[rid]
        while self._held > self._max and len(self._frames) > 1:
            _rid, f = self._frames.popitem(last=False)
            self._held -= len(f)
        return out

    def get(self, report_id: str) -> pd.DataFrame | None:
        return self.get_many([report_id]).get(report_id)

    def peek(self, report_id: str) -> pd.DataFrame | None:
        """The report's prepared facts when already held (nothing read; an empty frame: it has none)."""
        return self._frames.get(report_id)


def _prepared_facts(idx: IndexData, report_ids: list[str]) -> pd.DataFrame:
    """The planner's frame of these reports: built from the DuckDB read when the store can, else prepared here."""
    from assistant.ask.planner import prepare_facts

    read = getattr(idx.fact_store, "planner_facts_for", None) if idx.lazy_facts else None
    got = read(report_ids) if read is not None else None
    return got if got is not None else prepare_facts(idx.facts_for(report_ids))


def _by_report(facts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Facts split by report (file order kept); one report's frame is itself (no group-by)."""
    if not len(facts):
        return {}
    rids = facts["report_id"]
    first = rids.iloc[0]
    if (rids == first).all():
        return {str(first): facts}
    return {str(rid): g for rid, g in facts.groupby("report_id", sort=False)}


def frame_cache(idx: IndexData) -> FrameCache:
    fc = idx.extra.get(_FRAMES)
    if fc is None:
        fc = idx.extra[_FRAMES] = FrameCache(idx)
    return fc


def _light(idx: IndexData) -> Any:
    """A vocabulary of report metadata only: enough to find the departments a question names."""
    from assistant.ask.planner import build_vocab

    v = idx.extra.get(_LIGHT)
    if v is None:
        v = build_vocab(IndexData(path=idx.path, reports=idx.reports, tables=idx.tables, facts=_empty_facts(), root=idx.root))
        idx.extra[_LIGHT] = v
    return v


class _CodeLabels(dict):  # type: ignore[type-arg]
    """``Vocab.code_labels`` of the whole index, read (one DuckDB scan) when a question first names a code."""

    def __init__(self, index: IndexData) -> None:
        super().__init__()
        self._index = index
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from assistant.glossary import norm_label

        read = getattr(self._index.fact_store, "code_labels", None)
        raw: dict[str, str] = read() if read is not None else {}
        dict.update(self, {c: norm_label(lab) for c, lab in raw.items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self._load()
        return dict.get(self, key, default)

    def __getitem__(self, key: str) -> str:
        self._load()
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        self._load()
        return dict.__contains__(self, key)

    def __len__(self) -> int:
        self._load()
        return dict.__len__(self)

    def __iter__(self) -> Any:
        self._load()
        return dict.__iter__(self)

    def items(self) -> Any:  # type: ignore[override]
        self._load()
        return dict.items(self)


def _base(idx: IndexData) -> Any:
    """The index's vocabulary without facts, built once: departments, years, the label → report index,
    classification needles and the matchers (shared by every question's vocabulary)."""
    from assistant.ask.planner import _classification_needles

    v = idx.extra.get(_BASE)
    if v is None:
        labels, label_list, codes = global_labels(idx)
        v = dataclasses.replace(
            _light(idx), labels=labels, label_list=label_list, codes=codes, tables=idx.tables,
            code_labels=_CodeLabels(idx), _rows={}, _matchers={}, extra={},
        )  # fmt: skip
        v.cls_zh, v.cls_en = _classification_needles(v)
        idx.extra[_BASE] = v
    return v


def _history_departments(history: list[Any] | None) -> list[str]:
    out: list[str] = []
    for h in history or []:
        a = h[1] if isinstance(h, tuple) else h
        parsed = getattr(a, "meta", {}).get("parsed") or {}
        out += list(parsed.get("departments") or [])
        plan = getattr(a, "plan", None)
        rep = getattr(plan, "reports", None)
        d = getattr(rep, "department", None)
        if isinstance(d, str) and d:
            out.append(d)
        elif isinstance(d, list):
            out += [x for x in d if isinstance(x, str)]
    return out


class NameSearch:
    """The names that contain a word, found by ``str.find`` over all names joined (no Python loop per name)."""

    def __init__(self, names: list[str]) -> None:
        self.names = [n for n in names if "\n" not in n]
        self._odd = [n for n in names if "\n" in n]  # (never seen) names holding the separator: searched one by one
        self._joined = "\n".join(self.names)
        self._starts: list[int] = []
        pos = 0
        for n in self.names:
            self._starts.append(pos)
            pos += len(n) + 1

    def containing(self, word: str) -> list[str]:
        if not word or "\n" in word:
            return [n for n in self.names + self._odd if word in n]
        out: list[str] = [n for n in self._odd if word in n]
        i = self._joined.find(word)
        while i >= 0:
            k = bisect.bisect_right(self._starts, i) - 1
            out.append(self.names[k])
            nxt = self._starts[k + 1] if k + 1 < len(self._starts) else len(self._joined)
            i = self._joined.find(word, nxt)
        return out


class _DeptIndex:
    """Reports by department key, and by words inside a department name (answers cached), built once per index."""

    def __init__(self, idx: IndexData) -> None:
        from assistant.ask.planner import dept_key

        self._reports = idx.reports
        self.by_key: dict[str, list[str]] = {}
        for r in idx.reports:
            self.by_key.setdefault(dept_key(r.department), []).append(r.report_id)
        self._by_dept: dict[str, list[str]] = {}
        for r in idx.reports:
            self._by_dept.setdefault(r.department, []).append(r.report_id)
        self._names = NameSearch(list(self._by_dept))
        self.position = {r.report_id: i for i, r in enumerate(idx.reports)}
        self._inside: OrderedDict[str, set[str]] = OrderedDict()

    def containing(self, name: str) -> set[str]:
        """Report ids of the departments whose name contains ``name``."""
        got = self._inside.get(name)
        if got is None:
            got = {rid for d in self._names.containing(name) for rid in self._by_dept[d]}
            self._inside[name] = got
            while len(self._inside) > 4096:
                self._inside.popitem(last=False)
        return got


def _dept_index(idx: IndexData) -> _DeptIndex:
    di = idx.extra.get(_DEPTS)
    if di is None or di._reports is not idx.reports:
        di = idx.extra[_DEPTS] = _DeptIndex(idx)
    return di


def named_reports(idx: IndexData, question: str, history: list[Any] | None = None) -> list[str] | None:
    """The reports of the departments the question or its history names; None: every report."""
    return _named(idx, question, history)[0]


def parsed_before(vocab: Any, question: str, history: list[Any] | None, llm: Any) -> Any:
    """The parse ``question_index`` made of this very question (with the same metadata vocabulary: the
    parse reads no facts), taken once; None when there is none (or a model plans)."""
    got = getattr(vocab, "__dict__", {}).pop("_parsed", None)
    if llm is None and got is not None and got[0] == question and got[1] is history:
        return got[2]
    return None


def _named(idx: IndexData, question: str, history: list[Any] | None) -> tuple[list[str] | None, Any]:
    from assistant.ask.planner import parse_question

    try:
        pq = parse_question(question, _base(idx), history, None)
    except Exception:  # the full planner will say what is wrong with the question
        return None, None
    return _reports_named(idx, pq, history), pq


def _reports_named(idx: IndexData, pq: Any, history: list[Any] | None) -> list[str] | None:
    from assistant.ask.planner import dept_key

    depts = {dept_key(d) for d in [*pq.departments, *pq.dept_ambiguous, *_history_departments(history)]}
    if not depts:
        return None
    names = [d for d in [*pq.departments, *_history_departments(history)] if d]
    di = _dept_index(idx)
    wanted = {rid for d in depts for rid in di.by_key.get(d, [])}
    for d in names:
        wanted |= di.containing(d)
    if not wanted or len(wanted) > MAX_NAMED_REPORTS:
        return None  # a name shared by many departments: the planner asks which; facts are read as needed
    return sorted(wanted, key=di.position.__getitem__)  # in index order


_NUMBERISH = re.compile(r"[\d.,%\s]+")


def global_labels(idx: IndexData) -> tuple[dict[str, set[str]], list[str], set[str]]:
    """The label → report index and codes of the whole index, from each part's summary (read once)."""
    from assistant.ask.planner import GENERIC_LABELS

    got = idx.extra.get(_LABELS)
    if got is None:
        labels: dict[str, set[str]] = {}
        codes: set[str] = set()
        wanted: dict[str, bool] = {}  # each distinct label judged once (labels recur across reports)
        for rid, s in idx.summaries().items():
            for lab in s.get("labels", []):
                ok = wanted.get(lab)
                if ok is None:
                    ok = wanted[lab] = len(lab) >= 3 and lab not in GENERIC_LABELS and not _NUMBERISH.fullmatch(lab)
                if ok:
                    labels.setdefault(lab, set()).add(rid)
            codes |= set(s.get("codes", []))
        got = (labels, sorted(labels, key=lambda x: -len(x)), codes)
        idx.extra[_LABELS] = got
    return got


class _LabelMap:
    """Normalized row label → the labels as printed (one DuckDB scan, the first time a ranking needs it)."""

    def __init__(self, idx: IndexData) -> None:
        from assistant.glossary import norm_label

        read = getattr(idx.fact_store, "distinct_labels", None)
        raw: list[str] = read() if read is not None else []
        self.printed: dict[str, list[str]] = {}
        for lab in raw:
            self.printed.setdefault(norm_label(lab), []).append(lab)

    def raw_for(self, labels: Iterable[str], containing: Iterable[str] = ()) -> set[str]:
        out = {raw for lab in labels for raw in self.printed.get(lab, [])}
        for key in containing:
            out |= {raw for n, raws in self.printed.items() if key in n for raw in raws}
        return out


def _label_map(idx: IndexData) -> _LabelMap:
    lm = idx.extra.get(_LABEL_MAP)
    if lm is None:
        lm = idx.extra[_LABEL_MAP] = _LabelMap(idx)
    return lm


class LazyReports(dict):  # type: ignore[type-arg]
    """``Vocab.by_report`` that reads a report's facts (DuckDB) the first time the table query asks for it."""

    def __init__(self, loaded: dict[str, pd.DataFrame], index: IndexData, vocab: Any) -> None:
        super().__init__(loaded)
        self._index = index
        self._vocab = vocab

    def _load(self, rid: str) -> bool:
        if dict.__contains__(self, rid):
            return True
        if self._index.report(rid) is None:
            return False
        f = frame_cache(self._index).get(rid)
        if f is None or not len(f):
            return False
        dict.__setitem__(self, rid, f)
        self._vocab._dirty = True
        return True

    def get(self, rid: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.__getitem__(self, rid) if self._load(rid) else default

    def __getitem__(self, rid: str) -> pd.DataFrame:
        if not self._load(rid):
            raise KeyError(rid)
        return dict.__getitem__(self, rid)

    def __contains__(self, rid: object) -> bool:
        return isinstance(rid, str) and self._load(rid)

    def narrowed(self, report_ids: list[str], *, kinds: Iterable[str], codes: Iterable[str], labels: Iterable[str],
                 containing: Iterable[str] = ()) -> Any:  # fmt: skip
        """A vocabulary for one question over many reports (a ranking across departments): only the tables
        that can hold the item (``kinds``, ``codes``, normalized row ``labels``, labels ``containing`` a word),
        filtered in DuckDB, in a frame of their own; reports already read keep their whole facts."""
        have = {rid: dict.__getitem__(self, rid) for rid in report_ids if dict.__contains__(self, rid)}
        rest = [rid for rid in report_ids if rid not in have]
        frames = dict(have)
        candidates = getattr(self._index.fact_store, "candidate_facts", None)
        if rest and candidates is not None:
            raw = _label_map(self._index).raw_for(labels, containing)
            got = candidates(rest, kinds=kinds, codes=codes, labels=raw, prepared=True)
            if got is not None:
                frames.update(_by_report(got))
        elif rest:
            frames.update(frame_cache(self._index).get_many(rest))
        view = copy.copy(self._vocab)  # same class, matchers and metadata; its own facts and row cache
        view.__dict__.update(by_report=_Frames(frames), _rows={}, _facts_cache=None, _dirty=True)
        return view


class _Frames(dict):  # type: ignore[type-arg]
    """A fixed ``by_report`` (the reports a narrowed vocabulary holds)."""


def _lazy_vocab_class(base: type) -> type:
    """A subclass of the planner's Vocab whose ``facts`` are the reports read so far; metadata caches
    (English department names, place pinyin) are the index's base vocabulary's."""

    class LazyVocab(base):  # type: ignore[misc, valid-type]
        @property  # type: ignore[misc]
        def facts(self) -> pd.DataFrame:
            cached = self.__dict__.get("_facts_cache")
            if cached is None or self.__dict__.get("_dirty"):
                frames = [dict.__getitem__(self.by_report, k) for k in dict.keys(self.by_report)]
                base_frame = self.__dict__["facts"]
                cached = pd.concat([base_frame.iloc[0:0], *frames], ignore_index=True) if frames else base_frame
                self.__dict__["_facts_cache"] = cached
                self.__dict__["_dirty"] = False
            return cached

        @facts.setter
        def facts(self, value: pd.DataFrame) -> None:
            self.__dict__["facts"] = value
            self.__dict__["_facts_cache"] = None

        def dept_names_en(self) -> list[tuple[str, str]]:
            b = self.__dict__.get("_base")
            return b.dept_names_en() if b is not None else super().dept_names_en()

        def place_words_for(self, q: str) -> dict[str, str]:
            b = self.__dict__.get("_base")
            return b.place_words_for(q) if b is not None else super().place_words_for(q)

    return LazyVocab


_LAZY_CLASSES: dict[type, type] = {}


def _lazy_class(base: type) -> type:
    c = _LAZY_CLASSES.get(base)
    if c is None:
        c = _LAZY_CLASSES[base] = _lazy_vocab_class(base)
    return c


def question_index(idx: Any, question: str, history: list[Any] | None = None) -> Any:
    """``idx`` itself when its facts are in memory; else an index holding the facts the question needs:
    those of the reports it names, read at once, and any other report's when the table query asks for it."""
    if not isinstance(idx, IndexData) or not idx.lazy_facts or isinstance(idx, ScopedIndex):
        return idx
    from assistant.ask.planner import VOCAB_KEY, prepare_facts

    named, pq = _named(idx, question, history)
    ids = named or []
    key = tuple(sorted(ids))
    cache: OrderedDict[Any, ScopedIndex] = idx.extra.setdefault(_SUBSETS, OrderedDict())
    sub = cache.get(key) if key else None
    if sub is None:
        sub = ScopedIndex(idx, ids)
        base = _base(idx)
        frames = frame_cache(idx).get_many(ids)
        # the metadata half of the vocabulary (aliases, years, labels, needles, matchers) is the index's,
        # built once; a question's vocabulary only adds the facts of its reports
        empty = base.__dict__.get("_empty_prepared")
        if empty is None:
            empty = base.__dict__["_empty_prepared"] = prepare_facts(_empty_facts())
        v = dataclasses.replace(base, facts=empty, by_report={}, _rows={})
        v.__class__ = _lazy_class(type(base))
        v.__dict__["_base"] = base
        v.by_report = LazyReports(frames, idx, v)
        v.__dict__["_dirty"] = True
        sub.extra[VOCAB_KEY] = v
        if key:  # a question naming no department reads what it asks for, and forgets it after
            cache[key] = sub
            while len(cache) > MAX_SUBSETS:
                cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    if pq is not None:
        sub.extra[VOCAB_KEY].__dict__["_parsed"] = (question, history, pq)
    return sub
