"""The facts a question needs, for indexes whose facts are read per report (DuckDB).

The planner and the table query run on the same pandas frame as for a small index, only holding
the facts of the reports the question (and its history) names: its departments, all their years.
Any other report's facts are read when the table query first asks for them (a question naming no
department reads only the reports its item leads to; a ranking reads those it ranks). Report metadata, the tables list and the label → report index stay those of the whole index,
so the planner sees the same vocabulary and gives the same answer as with every fact in memory.
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from assistant.models import FACT_COLUMNS
from assistant.store import IndexData

MAX_SUBSETS = 8
"""Fact subsets kept per loaded index (least recently used dropped)."""
_LIGHT, _SUBSETS, _LABELS = "scope.light", "scope.subsets", "scope.labels"


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
            reports=parent.reports,
            tables=parent.tables,
            facts=parent.facts_for(report_ids),
            parts=parent.parts,
            root=parent.root,
            extra=_SharedExtra(parent.extra, own=[VOCAB_KEY]),
        )
        self.parent = parent
        self.report_ids = report_ids

    @property
    def chunks(self) -> pd.DataFrame:  # type: ignore[override]
        return self.parent.chunks

    @chunks.setter
    def chunks(self, value: pd.DataFrame) -> None:
        self.parent.chunks = value


def _light(idx: IndexData) -> Any:
    """A vocabulary of report metadata only: enough to find the departments a question names."""
    from assistant.ask.planner import build_vocab

    v = idx.extra.get(_LIGHT)
    if v is None:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in FACT_COLUMNS})
        v = build_vocab(IndexData(path=idx.path, reports=idx.reports, tables=idx.tables, facts=empty, root=idx.root))
        idx.extra[_LIGHT] = v
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


def named_reports(idx: IndexData, question: str, history: list[Any] | None = None) -> list[str] | None:
    """The reports of the departments the question or its history names; None: every report."""
    from assistant.ask.planner import dept_key, parse_question

    try:
        pq = parse_question(question, _light(idx), history, None)
    except Exception:  # the full planner will say what is wrong with the question
        return None
    depts = {dept_key(d) for d in [*pq.departments, *pq.dept_ambiguous, *_history_departments(history)]}
    if not depts:
        return None
    names = [d for d in [*pq.departments, *_history_departments(history)] if d]
    ids = [r.report_id for r in idx.reports if dept_key(r.department) in depts or any(d in r.department for d in names)]
    return ids or None


def global_labels(idx: IndexData) -> tuple[dict[str, set[str]], list[str], set[str]]:
    """The label → report index and codes of the whole index, from each part's summary (read once)."""
    from assistant.ask.planner import GENERIC_LABELS

    got = idx.extra.get(_LABELS)
    if got is None:
        labels: dict[str, set[str]] = {}
        codes: set[str] = set()
        for rid, s in idx.summaries().items():
            for lab in s.get("labels", []):
                if len(lab) >= 3 and lab not in GENERIC_LABELS and not re.fullmatch(r"[\d.,%\s]+", lab):
                    labels.setdefault(lab, set()).add(rid)
            codes |= set(s.get("codes", []))
        got = (labels, sorted(labels, key=lambda x: -len(x)), codes)
        idx.extra[_LABELS] = got
    return got


def _prepared(facts: pd.DataFrame) -> pd.DataFrame:
    """A report's facts with the planner's helper columns, as ``build_vocab`` prepares them."""
    from assistant.ask.planner import build_vocab

    if not len(facts):
        return build_vocab(_bare(facts)).facts
    rid = str(facts["report_id"].iloc[0])
    return build_vocab(_bare(facts)).by_report[rid]


def _bare(facts: pd.DataFrame) -> IndexData:
    return IndexData(path=Path("."), reports=[], tables=pd.DataFrame(), facts=facts)


class LazyReports(dict):  # type: ignore[type-arg]
    """``Vocab.by_report`` that reads a report's facts (DuckDB) the first time the table query asks for it."""

    def __init__(self, loaded: dict[str, pd.DataFrame], index: IndexData, vocab: Any) -> None:
        super().__init__(loaded)
        self._index = index
        self._vocab = vocab
        self._known = {r.report_id for r in index.reports}

    def _load(self, rid: str) -> bool:
        if dict.__contains__(self, rid):
            return True
        if rid not in self._known:
            return False
        f = self._index.facts_for([rid])
        if not len(f):
            return False
        dict.__setitem__(self, rid, _prepared(f))
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


def _lazy_vocab_class(base: type) -> type:
    """A subclass of the planner's Vocab whose ``facts`` are the reports read so far."""

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

    return LazyVocab


def question_index(idx: Any, question: str, history: list[Any] | None = None) -> Any:
    """``idx`` itself when its facts are in memory; else an index holding the facts the question needs:
    those of the reports it names, read at once, and any other report's when the table query asks for it."""
    if not isinstance(idx, IndexData) or not idx.lazy_facts or isinstance(idx, ScopedIndex):
        return idx
    from assistant.ask.planner import VOCAB_KEY, build_vocab

    ids = named_reports(idx, question, history) or []
    key = tuple(sorted(ids))
    cache: OrderedDict[Any, ScopedIndex] = idx.extra.setdefault(_SUBSETS, OrderedDict())
    sub = cache.get(key) if key else None
    if sub is None:
        sub = ScopedIndex(idx, ids)
        # the metadata half of the vocabulary (aliases, years, terms) is the index's, built once;
        # only the facts half is built for the subset
        prep = build_vocab(_bare(sub.facts))
        labels, label_list, codes = global_labels(idx)
        v = dataclasses.replace(
            _light(idx), facts=prep.facts, by_report=dict(prep.by_report), labels=labels, label_list=label_list,
            codes=codes, tables=idx.tables, _rows={}, _matchers={}, code_labels=prep.code_labels,
            cls_zh=prep.cls_zh, cls_en=prep.cls_en, extra={},
        )  # fmt: skip
        v.__class__ = _lazy_vocab_class(type(v))
        v.by_report = LazyReports(dict(v.by_report), idx, v)
        sub.extra[VOCAB_KEY] = v
        if key:  # a question naming no department reads what it asks for, and forgets it after
            cache[key] = sub
            while len(cache) > MAX_SUBSETS:
                cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return sub
