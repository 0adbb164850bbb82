"""Words against figures: the comparison a sentence states, recomputed from the two figures it names.

Three printed forms, each read from one narrative chunk:

- an item's budget and actual (“年初预算为A万元，支出决算为B万元，完成年初预算的P%。决算数小于预算数…”):
  P recomputed as B/A, and 大于/小于/等于/持平 checked against B and A;
- a change on last year (“…X万元，与上年相比增加D万元，增长P%”): P recomputed as D/(X−D)
  (or D/(X+D) for a decrease), and the two direction words checked against each other;
- a budget against last year's execution (“2024年当年预算执行数为A万元，2025年预算安排B万元，比2024年预算执行数增加P%”).

A percentage is wrong when it differs from the recomputed one by more than its printed rounding.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from assistant.review.model import Figure, _Ctx
from assistant.review.text import Sentence, sentences

_N = r"(\d[\d,]*(?:\.\d+)?)"
_P = r"(-?\d+(?:\.\d+)?)\s*[%％]"
_UP = ("增加", "增长", "上升")
_DOWN = ("减少", "下降", "降低")

_BUDGET = re.compile(r"(年初预算|全年预算|调整预算|预算)数?为\s*" + _N + r"\s*万元")
_ACTUAL = re.compile(r"(?:支出)?决算数?为\s*" + _N + r"\s*万元")
_RATE = re.compile(r"完成(年初预算|全年预算|调整预算|预算)数?的\s*" + _P)
_COMPARE = re.compile(r"决算数(?:与|同|和|较)?(年初预算|全年预算|调整预算|预算)?数?(大于|小于|等于|基本持平|持平|高于|低于)")
_YOY = re.compile(
    _N + r"\s*万元[，,]?\s*(?:与|比|较)(?:上年|上一年|去年|20\d\d\s*年度?)(?:预算|决算)?数?(?:相比)?[，,]?\s*"
    r"(?:[^，,。；;\d]{0,12}?)(增加|减少|下降|增长|上升)\s*" + _N + r"\s*万元[，,]\s*(增长|下降|减少|增加|上升|降低)\s*" + _P
)
_BUDGET_VS_EXEC = re.compile(
    r"(20\d\d)\s*年当年预算执行数为\s*" + _N + r"\s*万元[，,]\s*(20\d\d)\s*年预算安排\s*" + _N + r"\s*万元[，,]\s*"
    r"比\s*20\d\d\s*年预算执行数(增加|减少|持平)\s*(?:" + _P + r")?"
)


def _d(s: str) -> Decimal | None:
    try:
        return Decimal(s.replace(",", ""))
    except (InvalidOperation, ValueError):
        return None


def _places(s: str) -> int:
    return len(s.split(".")[1]) if "." in s else 0


def _half_unit(*printed: str) -> Decimal:
    """Half the last printed digit of the least precise figure (0.005 for 12.34, 0.5 for 3,666)."""
    return Decimal(1).scaleb(-min(_places(x) for x in printed)) / 2


def _pct_ok(printed: str, num: Decimal, den: Decimal, *, h: Decimal, num_terms: int = 1) -> bool:
    """Is ``printed`` % the ratio num/den, given the printed rounding (or truncation) of the percentage and of the figures?

    The figures are printed rounded to ±h, the numerator being a sum or difference of
    ``num_terms`` of them: the ratio can be off by up to 100·(num_terms·h/den + h·num/den²).
    """
    p = _d(printed)
    if p is None or den <= 0:
        return True
    computed = num / den * 100
    tol = Decimal(1).scaleb(-_places(printed)) + 100 * (num_terms * h / den + h * abs(num) / (den * den))
    return abs(abs(p) - abs(computed)) <= tol + Decimal("0.000001")


def _q2(d: Decimal) -> str:
    return f"{d.quantize(Decimal('0.01'))}"


def _add(ctx: _Ctx, s: Sentence, *, title: str, detail: str, question: str, figures: list[Figure], key: str) -> None:
    ctx.add(
        category="consistency",
        severity="medium",
        title=title + (f"（第{s.page}页）" if s.page else ""),
        detail=f"{s.where or '正文'}：“{s.text[:200]}”" + detail,
        figures=figures,
        cells=[s.ref()],
        questions=[question],
        rule="words_vs_figures",
        key=f"words|{key}",
    )


def _wording_findings(ctx: _Ctx) -> None:
    sents = sentences(ctx)
    _budget_and_actual(ctx, sents)
    for s in sents:
        _yoy_sentence(ctx, s)
        _budget_vs_execution(ctx, s)


# --------------------------------------------------------------------------- budget and actual of an item


def _budget_and_actual(ctx: _Ctx, sents: list[Sentence]) -> None:
    budgets: dict[str, Decimal] = {}
    actual: Decimal | None = None
    printed: list[str] = []
    chunk = ""
    for s in sents:
        if s.chunk_id != chunk:
            budgets, actual, chunk, printed = {}, None, s.chunk_id, []
        events = sorted(
            [
                (m.start(), "budget", m)
                for m in _BUDGET.finditer(s.text)
                if not s.text[max(0, m.start() - 2) : m.start()].endswith("上年")
            ]
            + [(m.start(), "actual", m) for m in _ACTUAL.finditer(s.text)]
            + [(m.start(), "rate", m) for m in _RATE.finditer(s.text)]
            + [(m.start(), "compare", m) for m in _COMPARE.finditer(s.text)],
            key=lambda e: e[0],
        )
        for _, kind, m in events:
            if kind == "budget":
                if actual is not None:
                    budgets, actual, printed = {}, None, []  # the next item
                v = _d(m.group(2))
                if v is not None:
                    budgets[_budget_kind(m.group(1))] = v
                    printed.append(m.group(2))
            elif kind == "actual":
                actual = _d(m.group(1))
                printed.append(m.group(1))
            elif kind == "rate" and actual is not None and budgets:
                _check_rate(ctx, s, budgets, actual, _budget_kind(m.group(1)), m.group(2), _half_unit(*printed))
            elif kind == "compare" and actual is not None and budgets:
                _check_compare(ctx, s, budgets, actual, _budget_kind(m.group(1) or "预算"), m.group(2))


def _budget_kind(word: str) -> str:
    return "年初" if word.startswith("年初") else ("全年" if word.startswith(("全年", "调整")) else "预算")


def _base(budgets: dict[str, Decimal], kind: str) -> Decimal | None:
    if kind in budgets:
        return budgets[kind]
    if kind == "预算" and len(set(budgets.values())) == 1:
        return next(iter(budgets.values()))
    return None


_KIND_ZH = {"年初": "年初预算", "全年": "全年预算", "预算": "预算"}


def _check_rate(
    ctx: _Ctx, s: Sentence, budgets: dict[str, Decimal], actual: Decimal, kind: str, printed: str, h: Decimal
) -> None:
    base = _base(budgets, kind)
    if base is None:
        return
    if base == 0:
        if actual == 0:
            return
        other = next((k for k, v in budgets.items() if k != kind and v), None)
        hint = ""
        if other and _pct_ok(printed, actual, budgets[other], h=h):
            hint = f"；{printed}%是按{_KIND_ZH[other]}{budgets[other]}万元计算的"
        _add(
            ctx,
            s,
            title=f"{_KIND_ZH[kind]}为0，却称完成{_KIND_ZH[kind]}的{printed}%",
            detail=f"；{_KIND_ZH[kind]}为0万元，完成率无从计算{hint}。",
            question=f"“完成{_KIND_ZH[kind]}的{printed}%”是按哪个预算数计算的？{_KIND_ZH[kind]}为0时应如何表述？",
            figures=[Figure(_KIND_ZH[kind], "0万元"), Figure("决算", f"{actual}万元"), Figure("正文完成率", f"{printed}%")],
            key=f"{s.chunk_id}|{s.start}|rate0",
        )
        return
    computed = actual / base * 100
    if _pct_ok(printed, actual, base, h=h):
        return
    _add(
        ctx,
        s,
        title=f"完成率{printed}%与数字不符：{actual}÷{base}={_q2(computed)}%",
        detail=f"；按正文所列决算{actual}万元和{_KIND_ZH[kind]}{base}万元计算，完成率为{_q2(computed)}%，而不是{printed}%。",
        question=f"决算{actual}万元、{_KIND_ZH[kind]}{base}万元，完成率应为{_q2(computed)}%，正文的{printed}%是怎么计算的？",
        figures=[
            Figure(_KIND_ZH[kind], f"{base}万元"),
            Figure("决算", f"{actual}万元"),
            Figure("正文完成率", f"{printed}%"),
            Figure("计算", f"{_q2(computed)}%"),
        ],
        key=f"{s.chunk_id}|{s.start}|rate",
    )


def _relation(actual: Decimal, base: Decimal) -> str:
    return "大于" if actual > base else ("小于" if actual < base else "等于")


def _check_compare(ctx: _Ctx, s: Sentence, budgets: dict[str, Decimal], actual: Decimal, kind: str, word: str) -> None:
    base = _base(budgets, kind)
    if base is None:
        return
    rel = _relation(actual, base)
    said = {"高于": "大于", "低于": "小于", "持平": "等于", "基本持平": "等于"}.get(word, word)
    if said == rel:
        return
    if word == "基本持平" and base and abs(actual - base) / base <= Decimal("0.01"):
        return
    _add(
        ctx,
        s,
        title=f"正文称决算数{word}{_KIND_ZH[kind]}数，实际{actual}{'＞' if rel == '大于' else ('＜' if rel == '小于' else '＝')}{base}",
        detail=f"；正文所列决算{actual}万元{rel}{_KIND_ZH[kind]}{base}万元，与“{word}”的说法不符。",
        question=f"决算{actual}万元{rel}{_KIND_ZH[kind]}{base}万元，为什么写成“决算数{word}预算数”？哪个数字或说法有误？",
        figures=[Figure(_KIND_ZH[kind], f"{base}万元"), Figure("决算", f"{actual}万元"), Figure("正文", f"决算数{word}预算数")],
        key=f"{s.chunk_id}|{s.start}|cmp",
    )


# --------------------------------------------------------------------------- changes


def _yoy_sentence(ctx: _Ctx, s: Sentence) -> None:
    for m in _YOY.finditer(s.text):
        x, w1, dd, w2, pp = _d(m.group(1)), m.group(2), _d(m.group(3)), m.group(4), m.group(5)
        if x is None or dd is None:
            continue
        up1, up2 = w1 in _UP, w2 in _UP
        if up1 != up2:
            _add(
                ctx,
                s,
                title=f"增减方向自相矛盾：“{w1}{m.group(3)}万元，{w2}{pp}%”",
                detail=f"；同一句先说{w1}，后说{w2}。",
                question=f"与上年相比是增加还是减少？“{w1}”与“{w2}”哪个正确？",
                figures=[Figure("金额变化", f"{w1}{m.group(3)}万元"), Figure("比例变化", f"{w2}{pp}%")],
                key=f"{s.chunk_id}|{s.start}|{m.start()}|dir",
            )
            continue
        prev = x - dd if up1 else x + dd
        if prev <= 0:
            continue  # from nothing: 100% by convention
        computed = dd / prev * 100
        if _pct_ok(pp, dd, prev, h=_half_unit(m.group(1), m.group(3)), num_terms=2):
            continue
        _add(
            ctx,
            s,
            title=f"增幅{pp}%与数字不符：{m.group(3)}÷{prev}={_q2(computed)}%",
            detail=f"；本年{x}万元、{w1}{dd}万元，上年应为{prev}万元，{w2}幅度为{_q2(computed)}%，而不是{pp}%。",
            question=f"按{x}万元和{w1}{dd}万元计算，{w2}幅度应为{_q2(computed)}%，正文的{pp}%是怎么计算的？",
            figures=[
                Figure("本年", f"{x}万元"),
                Figure("变化", f"{w1}{dd}万元"),
                Figure("正文比例", f"{pp}%"),
                Figure("计算", f"{_q2(computed)}%"),
            ],
            key=f"{s.chunk_id}|{s.start}|{m.start()}|pct",
        )


def _budget_vs_execution(ctx: _Ctx, s: Sentence) -> None:
    for m in _BUDGET_VS_EXEC.finditer(s.text):
        a, b, word, pp = _d(m.group(2)), _d(m.group(4)), m.group(5), m.group(6)
        if a is None or b is None:
            continue
        rel = "增加" if b > a else ("减少" if b < a else "持平")
        computed = abs(b - a) / a * 100 if a else None
        wrong_word = word != rel
        h = _half_unit(m.group(2), m.group(4))
        wrong_pct = pp is not None and computed is not None and not _pct_ok(pp, abs(b - a), a, h=h, num_terms=2)
        if not (wrong_word or wrong_pct):
            continue
        said = word + (f"{pp}%" if pp else "")
        right = rel + (f"{_q2(computed)}%" if computed is not None and rel != "持平" else "")
        _add(
            ctx,
            s,
            title=f"“比{m.group(1)}年预算执行数{said}”与数字不符，应为{right}",
            detail=f"；{m.group(1)}年执行数{a}万元，{m.group(3)}年预算{b}万元，实际是{right}。",
            question=f"{m.group(3)}年预算{b}万元与{m.group(1)}年执行数{a}万元相比是{right}，正文为什么写“{said}”？",
            figures=[
                Figure(f"{m.group(1)}年执行数", f"{a}万元"),
                Figure(f"{m.group(3)}年预算", f"{b}万元"),
                Figure("正文", said),
                Figure("计算", right),
            ],
            key=f"{s.chunk_id}|{s.start}|{m.start()}|bve",
        )
