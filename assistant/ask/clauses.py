"""Figures stated only in the narrative, read clause by clause.

A narrative sentence often states several figures of one kind: "截至年末，共有车辆66辆，其中：一般公务用车13辆、
执法执勤用车40辆". Each figure is bound to the clause that states it — the noun it counts (车辆, 一般公务用车),
its measure word or unit (辆, 万元), whether the clause is a total (共/合计) or a part (after 其中), and its
qualifiers (年初/年末, 购置/报废, 预算/实际, a year, 上年) — and a question is matched against that: the
general noun takes the total clause, a specific noun its own clause, a qualifier the clause with that
qualifier. When two clauses fit equally the answer quotes both and says which is which; it never picks one.

The words (measure words, total and part markers, qualifier groups) are data: ``assistant/data/clause_words.json``.

Entry points: :func:`clause_figures` (every figure of a text with its clause), :func:`question_want` (what a
question asks for), :func:`choose` (the figures that answer it, or the reason there is no single one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from assistant.glossary import norm_label

WORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "clause_words.json"

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
_CLAUSE_SPLIT = re.compile(r"[，,、：:]|(?=其中)")
_YEAR = re.compile(r"(?<!\d)(20\d\d|19\d\d)\s*年(?:度)?")
_DATE = re.compile(
    r"(?<!\d)(?:20\d\d|19\d\d)\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?(?:度)?|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}\s*月(?:底|末)?"
)
_YEAR_DIGITS = re.compile(r"(?<!\d)(?:19|20)\d\d\s*(?=年)")
_QUOTES = re.compile(r"[“”‘’\"'《》「」『』]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff()（）]+")

Kind = Literal["count", "money", "percent"]


@cache
def words() -> dict[str, Any]:
    """The shipped clause words (``assistant/data/clause_words.json``)."""
    data: dict[str, Any] = json.loads(WORDS_FILE.read_text(encoding="utf-8"))
    return data


@cache
def _number_re() -> re.Pattern[str]:
    units = sorted(words()["units"], key=len, reverse=True)
    return re.compile(r"(?<![\d.])(\d[\d,]*(?:\.\d+)?)\s*(" + "|".join(map(re.escape, units)) + ")")


def unit_kind(unit: str) -> str:
    """'count', 'money' or 'percent' for a printed unit (辆 → count, 万元 → money)."""
    return str(words()["units"].get(unit, {}).get("kind", "count"))


def _group_words() -> list[tuple[str, str, str]]:
    """(word, group, value) for every Chinese qualifier word, longest first."""
    out = [(w, g, v) for g, values in words()["groups"].items() for v, spec in _values(values) for w in spec["zh"]]
    return sorted(out, key=lambda x: -len(x[0]))


def _values(group: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(v, spec) for v, spec in group.items() if v != "default"]


def qualifiers_zh(text: str) -> dict[str, str]:
    """The qualifier groups a Chinese text names: {"point": "end", "flow": "bought", …} (the last named wins)."""
    for w in words().get("not_qualifiers", []):
        text = text.replace(w, " " * len(w))
    found: dict[str, tuple[int, str]] = {}
    taken: list[tuple[int, int]] = []
    for w, g, v in _group_words():
        for m in re.finditer(re.escape(w), text):
            if any(not (m.end() <= a or m.start() >= b) for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            if g not in found or m.start() > found[g][0]:
                found[g] = (m.start(), v)
    return {g: v for g, (_i, v) in found.items()}


def qualifiers_en(text: str) -> dict[str, str]:
    """The qualifier groups an English question names."""
    low = text.lower()
    out: dict[str, str] = {}
    for g, values in words()["groups"].items():
        for v, spec in _values(values):
            if any(re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", low) for w in spec["en"]):
                out.setdefault(g, v)
    return out


def _is_change(text: str) -> bool:
    return any(w in text for w in words()["change"])


def _balanced(noun: str) -> str:
    """A noun without the unmatched brackets at its ends: (其中一般公务用车 → 其中一般公务用车; 因公出国(境)费 stays."""
    noun = noun.replace("（", "(").replace("）", ")")
    while noun[:1] in "()" and noun and (noun.count("(") != noun.count(")") or noun[:1] == ")"):
        noun = noun[1:]
    while noun[-1:] in "()" and noun and noun.count("(") != noun.count(")"):
        noun = noun[:-1]
    return noun


def _strip_ends(noun: str) -> str:
    """The counted noun without lead words, qualifier words and dates at either end (截至年末共有车辆 → 车辆)."""
    noun = _balanced(_DATE.sub("", noun))
    ends = sorted(
        {*words()["lead"], *words()["totals"], *words()["parts"], *(w for w, _g, _v in _group_words())}, key=len, reverse=True
    )
    changed = True
    while changed and noun:
        changed = False
        for w in ends:
            if noun.startswith(w) and len(noun) > len(w):
                noun, changed = noun[len(w) :], True
                break
            if noun.endswith(w) and len(noun) > len(w):
                noun, changed = noun[: -len(w)], True
                break
            if noun[:1] in "()" or noun[-1:] in "()":
                b = _balanced(noun)
                if b != noun:
                    noun, changed = b, True
                    break
            if noun == w:
                noun, changed = "", True
                break
    return noun


@dataclass(frozen=True)
class ClauseFigure:
    """One figure of a narrative sentence, bound to the clause that states it."""

    value: str
    """The number as printed (66, 184.65)."""
    unit: str
    """Its measure word or unit (辆, 万元)."""
    noun: str
    """What it counts (车辆, 一般公务用车); inherited from the clause before when the clause names none."""
    clause: str
    """The clause as printed."""
    sentence: str
    """The whole sentence (for the citation)."""
    total: bool = False
    """The clause states a total (共/合计/总), or is the whole that a 其中 list parts."""
    part: bool = False
    """The clause follows 其中/包括: a part of the total before it."""
    change: bool = False
    """The figure is a change (比上年增加5辆), not a count or an amount."""
    qualifiers: dict[str, str] = field(default_factory=dict)
    """Qualifier groups (point/flow/plan/when) stated in the clause or the sentence before it."""
    years: tuple[int, ...] = ()
    """Years the clause (or the sentence before it) names."""

    @property
    def kind(self) -> str:
        return unit_kind(self.unit)

    def label(self) -> str:
        """The clause's own words for 'which is which' (年末 车辆 66辆)."""
        return self.clause.strip()


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s.strip()]


def sentence_figures(sentence: str) -> list[ClauseFigure]:
    """The figures of one sentence, each with its clause, noun, qualifiers and total/part role.

    Qualifiers stated in a clause without a figure (截至年末，…) hold for the clauses after it; a clause that
    names no noun (…，报废3辆) continues the figure before it; the parts after 其中 inherit their total's.
    """
    out: list[ClauseFigure] = []
    base_q: dict[str, str] = {}
    base_years: tuple[int, ...] = ()
    in_parts = False
    nre = _number_re()
    for clause in _CLAUSE_SPLIT.split(sentence):
        c = clause.strip()
        if not c:
            continue
        if any(c.startswith(p) for p in words()["parts"]) and out and not in_parts:
            in_parts = True
            head = out[-1].noun  # the figures a 其中 list parts are totals (公务接待2批次、26人次，其中：…)
            for i in range(len(out) - 1, -1, -1):
                if out[i].noun != head:
                    break
                out[i] = _replace(out[i], total=True)
            base_q, base_years = dict(out[-1].qualifiers), out[-1].years
        pos = 0
        found = False
        for m in nre.finditer(c):
            seg = c[pos : m.start()]
            plain = _QUOTES.sub("", _DATE.sub(" ", seg))
            runs = _CJK_RUN.findall(plain)
            noun = _strip_ends(runs[-1].rsplit("的", 1)[-1]) if runs else ""  # the head after the last 的
            if not noun and not found:
                after = _CJK_RUN.match(c[m.end() :])
                noun = _strip_ends(after.group(0)) if after else ""
            if noun and not _without_neutral(noun) and out:
                noun = ""  # 支出决算为…: only neutral words, the noun of the figure before
            prev = out[-1] if out and not noun else None
            sq = qualifiers_zh(_YEAR_DIGITS.sub("", seg))
            sy = tuple(int(y) for y in _YEAR.findall(seg))
            q = {**base_q, **(prev.qualifiers if prev else {}), **sq}
            years = sy or (prev.years if prev else ()) or base_years
            out.append(
                ClauseFigure(
                    value=m.group(1).replace(",", ""),
                    unit=m.group(2),
                    noun=noun or (prev.noun if prev else ""),
                    clause=c,
                    sentence=sentence,
                    total=any(t in seg for t in words()["totals"]) and not in_parts,
                    part=in_parts,
                    change=_is_change(seg),
                    qualifiers=q,
                    years=years,
                )
            )
            pos = m.end()
            found = True
        if not found:  # a clause without a figure (截至年末) qualifies the clauses after it
            base_q = {**base_q, **qualifiers_zh(_YEAR_DIGITS.sub("", c))}
            base_years = tuple(int(y) for y in _YEAR.findall(c)) or base_years
    return out


def _replace(f: ClauseFigure, **kw: Any) -> ClauseFigure:
    from dataclasses import replace

    return replace(f, **kw)


def clause_figures(text: str) -> list[ClauseFigure]:
    """Every figure of a text, sentence by sentence (line breaks of the page layout joined)."""
    flat = re.sub(r"[ \t]*\n[ \t]*", "", text or "")
    return [f for s in _sentences(flat) for f in sentence_figures(s)]


# --------------------------------------------------------------------------- the question side


@dataclass(frozen=True)
class Want:
    """What a question asks a narrative figure for."""

    names: tuple[str, ...]
    """Names of the concept asked about (the glossary term's names, the item label), longest first."""
    question: str
    """The question (normalized Chinese text: its characters judge a clause's modifiers)."""
    kind: str | None = None
    """'count' or 'money' when the question or its term says."""
    unit: str | None = None
    """The measure word the question uses (多少辆 → 辆), None when it names none."""
    qualifiers: dict[str, str] = field(default_factory=dict)
    years: tuple[int, ...] = ()
    implied: dict[str, str] = field(default_factory=dict)
    """Qualifiers the question leaves to its report (a final account's figure is the actual one): a clause
    stating one of them fits as if the question had said it; it does not exclude the others."""


def question_want(
    question: str,
    names: Iterable[str],
    *,
    kind: str | None = None,
    measure: str | None = None,
    years: Iterable[int] = (),
) -> Want:
    """What ``question`` asks for: the concept's names, measure word, kind, qualifiers and years.

    ``kind`` is what the concept is (its glossary term's unit) when the question uses no measure word
    (多少辆 says count); ``measure`` is the planner's column concept (决算数 → actual, 预算数 → budget).
    """
    low = question.lower()
    unit = None
    units = sorted(words()["units"], key=len, reverse=True)
    m = re.search(r"(?:多少|几)\s*(" + "|".join(map(re.escape, units)) + ")", question)
    if m:
        unit = m.group(1)
    else:
        m2 = re.search(r"how many\s+(?:[a-z'-]+\s+){0,3}?([a-z-]+)", low)
        if m2:
            unit = words()["count_words_en"].get(m2.group(1))
    if unit:
        kind = unit_kind(unit)
    q = {**qualifiers_zh(_YEAR_DIGITS.sub("", question)), **qualifiers_en(question)}
    if measure == "决算数":
        q.setdefault("plan", "actual")
    elif measure in ("预算数", "全年预算数"):
        q.setdefault("plan", "budget")
    ns = sorted({n for n in names if n and len(n) >= 2}, key=len, reverse=True)
    return Want(names=tuple(ns), question=question, kind=kind, unit=unit, qualifiers=q, years=tuple(years))


@dataclass(frozen=True)
class Fit:
    """How one clause figure fits a question (smaller ``key`` fits better)."""

    figure: ClauseFigure
    unasked: int
    """Characters of the clause's noun the question does not say (一般 of 一般公务用车 asked as 车辆)."""
    unasked_qualifiers: int
    """Qualifier groups the clause states and the question does not (年末 asked without a time)."""
    asked: int
    """Characters of the clause's modifiers the question does say."""
    qualified: int
    """Qualifiers (and years) the question names that the clause states."""

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.unasked, self.unasked_qualifiers, -self.asked, -self.qualified)


def _without_neutral(text: str) -> str:
    """``text`` without the words that do not make a noun narrower (``neutral`` in the data)."""
    for w in words()["neutral"]:
        text = text.replace(w, "")
    return text


_EXCLUDED = re.compile(r"[（(]?(?:不含|不包括|不包含|除)[^）)，,。]*[）)]?")


def _noun_fit(noun: str, want: Want) -> tuple[int, int] | None:
    """(unasked, asked) modifier characters of ``noun`` for the question's names; None when no name fits.

    What the noun excludes is not part of it: 设备（不含车辆） is no count of 车辆."""
    noun = norm_label(_EXCLUDED.sub("", noun))
    narrower = any(noun in n and _strip_ends(_without_neutral(n.replace(noun, "", 1))) for n in want.names)
    generic = not _without_neutral(noun)  # 支出, 经费: says nothing of what is counted
    if len(noun) >= 2 and noun in want.question and not narrower and not generic:
        return (0, len(noun))  # the question says the clause's own noun (执法执勤用车), not a narrower one (教育支出)
    best: tuple[int, int] | None = None
    for n in want.names:
        if n in noun:
            extra = noun.replace(n, "", 1)
        elif len(noun) >= 2 and noun in n and not _strip_ends(_without_neutral(n.replace(noun, "", 1))):
            extra = ""  # the name is the noun with neutral words (公务用车保有量, 实有车辆 for 公务用车, 车辆)
        else:
            continue
        extra = _without_neutral(extra)
        unasked = sum(1 for ch in extra if ch not in want.question)
        asked = len(extra) - unasked
        cand = (unasked, asked)
        if best is None or (cand[0], -cand[1]) < (best[0], -best[1]):
            best = cand
    return best


def fit(f: ClauseFigure, want: Want) -> Fit | None:
    """How ``f`` fits the question, or None when it cannot be its figure (other unit, noun or qualifier)."""
    if f.change:
        return None
    if want.kind and f.kind != want.kind:
        return None
    if want.unit and f.unit != want.unit and f.unit not in words()["units"].get(want.unit, {}).get("same", [want.unit]):
        return None
    nf = _noun_fit(f.noun, want)
    if nf is None:
        return None
    qualified = unasked_q = 0
    for g, spec in words()["groups"].items():
        default = spec.get("default")
        a, b = want.qualifiers.get(g, default), f.qualifiers.get(g, default)
        if a and b and a != b:
            return None
        if b and not a and want.implied.get(g) != b:
            unasked_q += 1  # the clause is qualified (年末) where the question is not
        if a and a == b and a != default:
            qualified += 1
    if want.years and f.years:
        if not set(want.years) & set(f.years):
            return None
        qualified += 1
    return Fit(f, nf[0], unasked_q, nf[1], qualified)


@dataclass
class Choice:
    """The figures that answer a question: one, several that fit equally, or only parts of what it asks."""

    status: Literal["one", "several", "parts", "none"]
    figures: list[ClauseFigure]


def choose(figures: Iterable[ClauseFigure], want: Want) -> Choice:
    """The figure(s) for ``want`` among ``figures`` (in passage order).

    ``one``: every best-fitting clause states the same figure. ``several``: clauses that fit equally state
    different figures (quote them all, say which is which). ``parts``: only clauses naming a narrower
    thing than asked (一般公务用车 for 车辆) — none of them is the answer.
    """
    fits = [x for f in figures if (x := fit(f, want)) is not None]
    if not fits:
        return Choice("none", [])
    best = min(x.key for x in fits)
    top = [x.figure for x in fits if x.key == best]
    if best[0] > 0:
        return Choice("parts", _unique(top))
    # clauses of one qualification: the total over its parts; clauses of different ones (年初/年末) all stay
    groups: dict[tuple[Any, ...], list[ClauseFigure]] = {}
    for f in top:
        groups.setdefault((tuple(sorted(f.qualifiers.items())), f.years), []).append(f)
    picked = [f for g in groups.values() for f in ([x for x in g if x.total] or g)]
    vals = {(f.value, f.unit) for f in picked}
    if len(vals) == 1:
        return Choice("one", [picked[0]])
    return Choice("several", _unique(picked))


def _unique(figs: list[ClauseFigure]) -> list[ClauseFigure]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for f in figs:
        k = (f.value, f.unit, tuple(sorted(f.qualifiers.items())))
        if k not in seen:
            seen.add(k)
            out.append(f)
    return out
