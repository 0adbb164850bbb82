"""Numbers in model text and the grounding check: every figure must equal one the model was given
(after 万元/元/亿元 normalization)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

# --------------------------------------------------------------------------- numbers & grounding

_FULLWIDTH = str.maketrans("０１２３４５６７８９．％－", "0123456789.%-")
_MONEY_FACTOR = {
    "亿元": Decimal(100000000),
    "亿": Decimal(100000000),
    "万元": Decimal(10000),
    "万": Decimal(10000),
    "千元": Decimal(1000),
    "元": Decimal(1),
    "billion yuan": Decimal(1000000000),
    "million yuan": Decimal(1000000),
    "yuan": Decimal(1),
    "rmb": Decimal(1),
}
_NUM_RE = re.compile(
    r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d])"
    r"\s*(?P<unit>亿元|万元|千元|元|亿|万|%|percent\b|per\s*cent\b|(?i:billion\s+yuan|million\s+yuan|yuan|rmb)\b)?"
)
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_RE = re.compile(r"(?P<pct>百分之)?(?P<num>[零〇一二两三四五六七八九十百千万亿]+)(?P<unit>亿元|万元|元)?")
_EN_WORD_AMOUNT = re.compile(
    r"(?i)\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    r"eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|half)"
    r"(?:[\s-]+(?:and\s+)?(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
    r"ninety|hundred|thousand|million|billion))*\s*(?:yuan|rmb|percent|per\s*cent|%|万元|元)"
)
_ZERO_WORD_RE = re.compile(r"(?<=[为是达共计])\s*零(?![基星散])|(?i:\bzero\b)")


@dataclass(frozen=True)
class Num:
    """A number found in text: its value as printed, and the unit class it carries."""

    value: Decimal
    kind: str
    """'money' (value already in 元), 'pct', 'bare', or 'words' (an amount spelt out: never grounded)."""
    text: str


def _cn_to_int(s: str) -> int | None:
    total, section, digit = 0, 0, 0
    seen = False
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
            seen = True
        elif ch in _CN_UNITS:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
            seen = True
        elif ch == "万":
            total += (section + digit) * 10000
            section, digit = 0, 0
        elif ch == "亿":
            total = (total + section + digit) * 100000000
            section, digit = 0, 0
        else:
            return None
    return total + section + digit if seen or total else None


def extract_numbers(text: str) -> list[Num]:
    """Every number in ``text`` with its unit class (money normalized to 元).

    Handles 1,834.93 / 1834.93 / 50.00万元 / 500,000元 / 0.5亿元 / 71.72% / 五十万元 / 百分之五十 / zero.
    Citation markers like [1] and list numbering at a line start are not numbers of the answer.
    """
    t = (text or "").translate(_FULLWIDTH)
    t = re.sub(r"\[\s*\d+(?:\s*[,，、]\s*\d+)*\s*\]|【\s*\d+\s*】", " ", t)
    t = re.sub(r"(?m)^\s*(?:\d{1,2}[.、)）]|[-*•])\s+", " ", t)
    out: list[Num] = []
    for m in _NUM_RE.finditer(t):
        try:
            v = Decimal(m.group("num").replace(",", ""))
        except InvalidOperation:
            continue
        unit = (m.group("unit") or "").lower().strip()
        if unit in ("%", "percent", "per cent") or unit.startswith("per"):
            out.append(Num(v, "pct", m.group(0)))
        elif unit:
            out.append(Num(v * _MONEY_FACTOR[re.sub(r"\s+", " ", unit)], "money", m.group(0)))
        else:
            out.append(Num(v, "bare", m.group(0)))
    for m in _CN_RE.finditer(t):
        raw = m.group("num")
        if not (m.group("pct") or m.group("unit")):
            continue
        n = _cn_to_int(raw)
        if n is None:
            continue
        if m.group("pct"):
            out.append(Num(Decimal(n), "pct", m.group(0)))
        else:
            out.append(Num(Decimal(n) * _MONEY_FACTOR[m.group("unit")], "money", m.group(0)))
    for m in _ZERO_WORD_RE.finditer(t):
        out.append(Num(Decimal(0), "bare", m.group(0)))
    for m in _EN_WORD_AMOUNT.finditer(t):
        out.append(Num(Decimal(-1), "words", m.group(0)))  # an amount in words cannot be checked: never allowed
    return out


@dataclass
class AllowedNumbers:
    """The numbers an LLM-written text may use, in every normalized form."""

    any: set[Decimal] = field(default_factory=set)
    """Values as printed (any unit), absolute."""
    yuan: set[Decimal] = field(default_factory=set)
    """Money values in 元."""
    pct: set[Decimal] = field(default_factory=set)
    unitless: set[Decimal] = field(default_factory=set)
    """Numbers printed without a unit (a table cell, a count): accepted with any unit."""

    def add(self, value: Any, unit: str | None = None) -> None:
        if value is None:
            return
        if isinstance(value, str):
            if unit is None:
                self.add_text(value)
                return
            try:
                value = Decimal(value.replace(",", ""))
            except InvalidOperation:
                self.add_text(value)
                return
        try:
            v = abs(Decimal(str(value)))
        except InvalidOperation:
            return
        u = (unit or "").strip()
        self.any.add(v)
        if u in _MONEY_FACTOR:
            self.yuan.add(v * _MONEY_FACTOR[u])
        elif u in ("%", "％"):
            self.pct.add(v)
        else:
            self.unitless.add(v)

    def add_text(self, text: str) -> None:
        for n in extract_numbers(text):
            v = abs(n.value)
            if n.kind == "money":
                self.yuan.add(v)
                self.any.add(v)
                # the printed figure too (50.00 of 50.00万元) so a bare repetition is allowed
                raw = _NUM_RE.match(n.text)
                if raw:
                    self.any.add(abs(Decimal(raw.group("num").replace(",", ""))))
            elif n.kind == "pct":
                self.pct.add(v)
                self.any.add(v)
            else:
                self.any.add(v)
                self.unitless.add(v)

    def allows(self, n: Num) -> bool:
        if n.kind == "words":
            return False
        v = abs(n.value)
        if n.kind == "money":
            return v in self.yuan or any(v == u * f for u in self.unitless for f in (Decimal(1), Decimal(10000)))
        if n.kind == "pct":
            return v in self.pct or v in self.unitless
        return v in self.any or v in self.yuan or v in self.pct


def allowed_numbers(*sources: Any) -> AllowedNumbers:
    """Collect allowed numbers from texts, facts (mappings/objects with value+unit), numbers or (value, unit) pairs."""
    a = AllowedNumbers()
    for s in sources:
        _collect(a, s)
    return a


def _collect(a: AllowedNumbers, s: Any) -> None:
    if s is None:
        return
    if isinstance(s, AllowedNumbers):
        a.any |= s.any
        a.yuan |= s.yuan
        a.pct |= s.pct
        a.unitless |= s.unitless
    elif isinstance(s, str):
        a.add_text(s)
    elif isinstance(s, (int, float, Decimal)) and not isinstance(s, bool):
        a.add(s)
    elif isinstance(s, tuple) and len(s) == 2 and not isinstance(s[1], (int, float, Decimal)):
        a.add(s[0], s[1])
    elif isinstance(s, Mapping) or hasattr(s, "value") or hasattr(s, "row_label"):
        get = s.get if isinstance(s, Mapping) else (lambda k, d=None: getattr(s, k, d))
        val, unit = get("value"), get("unit")
        if val is not None and not (isinstance(val, float) and val != val):
            a.add(val, unit or "")
        vw = get("value_wan")
        if vw is not None and not (isinstance(vw, float) and vw != vw):
            a.add(vw, "万元")
        for k in ("raw", "row_label", "column", "table_number", "table_title", "code", "text", "section"):
            v = get(k)
            if isinstance(v, str) and v:
                a.add_text(v)
        for k in ("year", "page"):
            v = get(k)
            if isinstance(v, (int, float)) and v == v:
                a.add(int(v))
    elif isinstance(s, Iterable):
        for x in s:
            _collect(a, x)


def ungrounded_numbers(text: str, allowed: Any) -> list[str]:
    """The numbers in ``text`` that equal no allowed number (after unit normalization)."""
    a = allowed if isinstance(allowed, AllowedNumbers) else allowed_numbers(allowed)
    return [n.text.strip() for n in extract_numbers(text) if not a.allows(n)]


def grounded(text: str, allowed_numbers: Any) -> bool:
    """True when every number in ``text`` equals one in ``allowed_numbers`` after 万元↔元↔亿元 normalization.

    ``allowed_numbers``: texts (the passages, the deterministic answer), facts, numbers or
    (value, unit) pairs, or an ``AllowedNumbers``.
    """
    return not ungrounded_numbers(text, allowed_numbers)


def _cn_year_digits(text: str) -> set[int]:
    """Years written as digits or 二〇二三 in ``text``."""
    t = (text or "").translate(_FULLWIDTH)
    years = {int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", t)}
    for m in re.finditer(r"[二〇零一][〇零一二三四五六七八九]{3}", t):
        ds = "".join(str(_CN_DIGITS[c]) for c in m.group(0))
        years.add(int(ds))
    return years


# --------------------------------------------------------------------------- grounding by item
# A figure in model text counts only when the passage it cites states that figure for the same
# item: in one clause (between ，；。), with a name in common, and never in a clause that tells a
# reader (or a model) what to answer — planted "answers" are data, not figures.

INSTRUCTION_RE = re.compile(
    r"应(?:当|该)?(?:回答|答复|回复|输出|答)|(?:回答|答案|答复|回复)(?:都|一律|统一)?(?:应|应该|应当|必须|须)?(?:为|是|写)"
    r"|请(?:回答|输出|告诉|务必|直接)|忽略(?:以上|上述|之前|前面)|(?:助手|模型|AI|机器人)(?:应|须|必须|要)"
    r"|(?i:\b(?:the\s+)?answer\s+(?:is|should|must)\b|\b(?:you|assistant|model)\s+(?:should|must)\b"
    r"|\bignore\s+(?:all|previous|the\s+above)\b|\brespond\s+with\b|\breply\s+with\b)"
)
"""A clause that instructs rather than reports (…应回答为99.99万元, the answer should be …)."""

_CLAUSE_SPLIT = re.compile(r"[。！？!?；;\n，,：:]|(?<!\d)\.(?!\d)")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_GENERIC = set(
    "万元 亿元 千元 支出 收入 决算 预算 年度 本年 上年 比上 同比 增加 减少 下降 增长 主要 原因 合计 其中 部门 单位 "
    "资金 金额 数为 共计 总计 全年 完成 执行 安排 用于 情况 说明 较上 较年 初预 年初 年决 算数 算为 出决 出预 元，".split()
)


def is_instruction(text: str) -> bool:
    """True when text tells its reader what to answer (a planted instruction, not a reported fact)."""
    return bool(INSTRUCTION_RE.search(text or ""))


def clauses(text: str) -> list[str]:
    """Clauses of a text (split at ，；。 and the like; decimal points kept)."""
    t = (text or "").translate(_FULLWIDTH)
    return [c for c in _CLAUSE_SPLIT.split(t) if c.strip()]


def item_terms(clause: str) -> set[str]:
    """Names in a clause: CJK trigrams and bigrams that are not generic fiscal words, and Latin words."""
    out: set[str] = set()
    for run in _CJK_RUN.findall(clause):
        for n in (2, 3):
            for i in range(len(run) - n + 1):
                g = run[i : i + n]
                if g not in _GENERIC and not (n == 3 and (g[:2] in _GENERIC or g[1:] in _GENERIC)):
                    out.add(g)
    out |= {w.lower() for w in re.findall(r"[A-Za-z]{4,}", clause)}
    return out


def _same_value(a: Num, b: Num) -> bool:
    if a.kind == "words" or b.kind == "words":
        return False
    allowed = AllowedNumbers()
    allowed.add_text(b.text)
    return allowed.allows(a)


def _clause_of(text: str, n: Num) -> str:
    for c in clauses(text):
        if n.text.strip() and n.text.strip().translate(_FULLWIDTH) in c:
            return c
    return text


def stated_for_item(sentence: str, passages: Iterable[str]) -> list[str]:
    """The money and percentage figures of ``sentence`` that no passage states for the same item.

    A figure is supported by a passage clause that states the same value (after unit normalization),
    is not an instruction (``is_instruction``), and — when the sentence's own clause names the item
    in Chinese — shares a name with it (公务接待费 … 99.99万元 is not supported by 会议费99.99万元).
    English sentences over Chinese passages need the value in a non-instruction clause of a cited passage.
    """
    texts = [p for p in passages if p]
    bad: list[str] = []
    for n in extract_numbers(sentence):
        if n.kind not in ("money", "pct"):
            continue
        own = item_terms(_clause_of(sentence, n))
        own_cjk = {t for t in own if _CJK_RUN.fullmatch(t)}
        ok = False
        for text in texts:
            for c in clauses(text):
                if is_instruction(c):
                    continue
                if not any(_same_value(n, m) for m in extract_numbers(c)):
                    continue
                if own_cjk and not (own_cjk & item_terms(c)):
                    continue
                ok = True
                break
            if ok:
                break
        if not ok:
            bad.append(n.text.strip())
    return bad
