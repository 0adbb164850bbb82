"""Proofreading: placeholders left in, doubled punctuation, repeated words, another department's name,
years that are not the report's, and numbered items out of order.

Everything here reads the narrative sentences (``assistant.review.text.sentences``), the section
headings of the chunks, the table titles and (for PDFs) the table of contents. Each rule is
narrow on purpose: a sentence is flagged only where the printed words themselves are wrong.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.orgnames import canonical_key
from assistant.review.model import CellRef, Figure, _Ctx, _s
from assistant.review.structure import review_rules
from assistant.review.text import Sentence, narrative_chunks, sentences


def _proofreading_findings(ctx: _Ctx) -> None:
    sents = sentences(ctx)
    _placeholders(ctx, sents)
    _missing_amounts(ctx, sents)
    _punctuation(ctx, sents)
    _repeated_words(ctx, sents)
    _department_names(ctx, sents)
    _years(ctx, sents)
    _list_order(ctx)


def _snippet(text: str, start: int, end: int, pad: int = 18) -> str:
    return ("…" if start > pad else "") + text[max(0, start - pad) : end + pad] + ("…" if end + pad < len(text) else "")


def _add_text_finding(
    ctx: _Ctx, s: Sentence, *, rule: str, title: str, detail: str, question: str, figures: list[Figure], sev: str = "low"
) -> None:
    ctx.add(
        category="proofreading",
        severity=sev,
        title=title + (f"（第{s.page}页）" if s.page else ""),
        detail=f"{s.where or '正文'}：“{s.text[:160]}”" + detail,
        figures=figures,
        cells=[s.ref()],
        questions=[question],
        rule=rule,
        key=f"proof|{rule}|{s.chunk_id}|{s.start}|{figures[0].value if figures else ''}",
    )


# --------------------------------------------------------------------------- placeholders

_MISSING_AMOUNT = re.compile(r"(?:为|支出|收入|预算|决算|安排|共计|合计|总计)(万元|亿元)")


def _placeholders(ctx: _Ctx, sents: list[Sentence]) -> None:
    """Template words left in (XX, 待填写, 增加（减少）): one finding per word, citing every sentence."""
    words = sorted(review_rules()["placeholders"], key=len, reverse=True)
    rx = re.compile("|".join(re.escape(w) for w in words))
    found: dict[str, list[Sentence]] = {}
    for s in sents:
        for w in dict.fromkeys(m.group(0) for m in rx.finditer(s.text)):
            found.setdefault(w, []).append(s)
    for w, where in found.items():
        first = where[0]
        pages = sorted({x.page for x in where if x.page})
        on = f"（第{'、'.join(map(str, pages))}页）" if pages else ""
        more = f"，共{len(where)}处" if len(where) > 1 else ""
        template = "减少" in w or "下降" in w
        ctx.add(
            category="proofreading",
            severity="low",
            title=f"正文留有模板占位文字“{w}”" + (on or (f"（共{len(where)}处）" if len(where) > 1 else "")),
            detail=f"{first.where or '正文'}：“{first.text[:160]}”；“{w}”是模板的待填内容，未按实际情况改写{more}。",
            figures=[Figure("占位文字", w), Figure("出现次数", str(len(where)))],
            cells=[x.ref() for x in where[:12]],
            questions=[
                f"“{w}”是模板原文，这些地方实际是增加、减少还是持平？请给出正确的表述。"
                if template
                else f"“{w}”是未填写的占位内容，应为什么？"
            ],
            rule="placeholder",
            key=f"proof|placeholder|{w}",
        )


def _missing_amounts(ctx: _Ctx, sents: list[Sentence]) -> None:
    """An amount whose number was left out: “政府性基金支出预算支出万元”."""
    for s in sents:
        m = _MISSING_AMOUNT.search(s.text)
        if not m:
            continue
        quote = _snippet(s.text, m.start(), m.end(), 10)
        _add_text_finding(
            ctx,
            s,
            rule="amount_missing",
            title="正文金额缺少数字",
            detail=f"，“{quote}”中单位“{m.group(1)}”前没有数字。",
            question=f"“{quote}”漏印了金额，实际是多少？",
            figures=[Figure("原文", quote)],
        )


# --------------------------------------------------------------------------- punctuation and repeats

_DOUBLED = re.compile(r"([。，、；：！？])\1|[。，、；：！？][。，、；：！？]")
# characters that may legitimately repeat (叠词 and number words)
_OK_REPEAT = set("常天年月日人个次项家多些重层步条件样处点")


def _punctuation(ctx: _Ctx, sents: list[Sentence]) -> None:
    for s in sents:
        m = _DOUBLED.search(s.text)
        if not m:
            continue
        _add_text_finding(
            ctx,
            s,
            rule="doubled_punctuation",
            title=f"标点重复“{m.group(0)}”",
            detail=f"，“{_snippet(s.text, m.start(), m.end())}”处标点重复或混用。",
            question="公开前是否做过校对？",
            figures=[Figure("标点", m.group(0))],
        )
    # a sentence end that the splitter put at the start of the next sentence (。。 across the split)
    for a, b in zip(sents, sents[1:], strict=False):
        if a.chunk_id == b.chunk_id and a.text.endswith("。") and b.text[:1] in "。，；":
            _add_text_finding(
                ctx,
                a,
                rule="doubled_punctuation",
                title=f"标点重复“{a.text[-1]}{b.text[0]}”",
                detail="，句末标点重复。",
                question="公开前是否做过校对？",
                figures=[Figure("标点", a.text[-1] + b.text[0])],
            )


_REPEAT = re.compile(r"([\u4e00-\u9fff]{2,6})\1")
_REPEAT1 = re.compile(r"([的了和与及在是对为将])\1")


def _repeated_words(ctx: _Ctx, sents: list[Sentence]) -> None:
    for s in sents:
        m = _REPEAT.search(s.text) or _REPEAT1.search(s.text)
        if not m or set(m.group(1)) <= _OK_REPEAT:
            continue
        _add_text_finding(
            ctx,
            s,
            rule="repeated_word",
            title=f"词语重复“{m.group(0)}”",
            detail=f"，“{_snippet(s.text, m.start(), m.end())}”中“{m.group(1)}”连续出现两次。",
            question="公开前是否做过校对？",
            figures=[Figure("重复", m.group(0))],
        )


# --------------------------------------------------------------------------- department name


def _org_name_re() -> re.Pattern[str]:
    suffixes = "|".join(re.escape(x) for x in sorted(review_rules()["org_suffixes"], key=len, reverse=True))
    # a name directly before the report year and the words naming this report (…局2024年度部门决算, …局2023年度收入合计)
    return re.compile(
        r"([\u4e00-\u9fff（）()]{2,30}?(?:" + suffixes + r"))\s*(20\d\d)\s*年度?\s*"
        r"(?:部门|单位)?\s*(?:决算|预算|收入合计|支出合计|收支总计|收入支出)"
    )


_LEAD_WORDS = re.compile(r"^(?:.*?(?:纳入|包括|关于|根据|第[一二三四五六七八九十]+部分|[，。；：、]))")


def _department_names(ctx: _Ctx, sents: list[Sentence]) -> None:
    own = canonical_key(ctx.meta.department)
    own_body = own.split("|")[-1]
    rx = _org_name_re()
    for s in sents:
        for m in rx.finditer(s.text):
            if int(m.group(2)) != ctx.meta.year:
                continue
            name = _LEAD_WORDS.sub("", m.group(1))
            if len(name) < 3 or name in ctx.meta.department:
                continue
            key = canonical_key(name)
            body = key.split("|")[-1]
            if key == own or body == own_body or body in own_body or own_body in body:
                continue
            _add_text_finding(
                ctx,
                s,
                rule="department_name",
                title=f"正文中的单位名称“{name}”与报告单位“{ctx.meta.department}”不符",
                detail=f"，这里以“{name}”称呼本报告的单位，而报告单位是{ctx.meta.department}，可能是套用其他单位的文本。",
                question=f"正文为什么写作“{name}”？这段说明是否照搬了其他单位的报告？",
                figures=[Figure("正文", name), Figure("报告单位", ctx.meta.department)],
                sev="medium",
            )


# --------------------------------------------------------------------------- years

_CUTOFF = re.compile(r"(?:截至|截止|截止到|截至到)\s*(20\d\d)\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})?")
_SELF_YEAR = re.compile(r"(20\d\d)\s*年度?\s*(?:部门|单位)\s*(?:决算|预算)")
_COMPARE = re.compile(r"上年|上一年|去年|以前年度|往年|同期|相比|比较|对比|较|比|与|执行情况|结转|历年")


def _allowed_years(ctx: _Ctx) -> set[int]:
    return {ctx.meta.year}


def _year_finding(ctx: _Ctx, *, where: str, text: str, year: int, ref: CellRef, key: str, what: str) -> None:
    y = ctx.meta.year
    ctx.add(
        category="proofreading",
        severity="medium",
        title=f"{what}年份{year}年与报告年度{y}年不符" + (f"（第{ref.page}页）" if ref.page else ""),
        detail=f"{where}：“{text[:160]}”；本报告是{y}年{ctx.meta.kind}，这里的{year}年不是比较年份的写法，可能是沿用旧稿未改。",
        figures=[Figure("印刷年份", f"{year}年"), Figure("报告年度", f"{y}年")],
        cells=[ref],
        questions=[f"这里写的是{year}年，是否应为{y}年？报告其他部分是否也沿用了旧年份？"],
        rule="wrong_year",
        key=f"proof|year|{key}",
    )


def _years(ctx: _Ctx, sents: list[Sentence]) -> None:
    y = ctx.meta.year
    # 截至…年…月…日: a final account states the year-end; a budget the last year's (or the current year's) position
    ok_cutoff = {y} if ctx.meta.kind == "决算" else {y - 1, y}
    for s in sents:
        for m in _CUTOFF.finditer(s.text):
            yr = int(m.group(1))
            if yr in ok_cutoff or (yr == y - 1 and _COMPARE.search(s.text)):
                continue
            _year_finding(
                ctx, where=s.where or "正文", text=s.text, year=yr, ref=s.ref(), key=f"{s.chunk_id}|{m.start()}", what="截止日期"
            )
        for m in _SELF_YEAR.finditer(s.text):
            yr = int(m.group(1))
            if yr == y or _COMPARE.search(s.text[max(0, m.start() - 12) : m.end() + 6]):
                continue
            _year_finding(
                ctx, where=s.where or "正文", text=s.text, year=yr, ref=s.ref(), key=f"{s.chunk_id}|{m.start()}", what="正文"
            )
    # headings of the narrative and titles of the tables: no comparison there, only the report's year
    seen: set[str] = set()
    for ch in narrative_chunks(ctx):
        for head in _s(ch.get("section")).split(" › "):
            if head in seen:
                continue
            seen.add(head)
            for m in re.finditer(r"(20\d\d)\s*年", head):
                yr = int(m.group(1))
                if yr == y or _COMPARE.search(head):
                    continue
                page = ch.get("page")
                ref = CellRef(
                    _s(ch.get("chunk_id")), "标题", "", "", int(page) if page == page and page is not None else None, head
                )
                _year_finding(ctx, where="标题", text=head, year=yr, ref=ref, key=f"head|{head}", what="标题")
    for t in ctx.tables:
        title = _s(t.get("title"))
        for m in re.finditer(r"(20\d\d)\s*年", title):
            yr = int(m.group(1))
            if yr == y or _COMPARE.search(title):
                continue
            pages = t.get("pages") or []
            ref = CellRef("", " ".join(x for x in (_s(t.get("number")), title) if x), "", "", pages[0] if pages else None, title)
            _year_finding(
                ctx, where="表格标题", text=title, year=yr, ref=ref, key=f"table|{_s(t.get('table_id'))}", what="表格标题"
            )


# --------------------------------------------------------------------------- numbered lists

_CN = "一二三四五六七八九十"
# (style, regex of a marker at the start of an item); higher levels first
_STYLES: list[tuple[str, re.Pattern[str]]] = [
    ("cn_dun", re.compile(r"([一二三四五六七八九十]{1,3})、")),
    ("cn_paren", re.compile(r"[（(]([一二三四五六七八九十]{1,3})[)）]")),
    ("ar_dun", re.compile(r"(\d{1,2})(?:、|[.．](?!\d))")),
    ("ar_paren", re.compile(r"[（(](\d{1,2})[)）]")),
]
_ITEM_START = re.compile(r"(?:^|(?<=[。；;：:\n]))\s*")


def _cn_value(s: str) -> int | None:
    from assistant.review.structure import _cn_number

    return _cn_number(s)


def _markers(text: str) -> list[tuple[int, int, str, int, str]]:
    """(position, level, style, value, printed marker) of every item marker at the start of an item."""
    out = []
    seen: set[int] = set()
    for m in _ITEM_START.finditer(text):
        pos = m.end()
        if pos in seen:
            continue
        seen.add(pos)
        for level, (style, rx) in enumerate(_STYLES):
            mm = rx.match(text, pos)
            if not mm:
                continue
            v = _cn_value(mm.group(1)) if style.startswith("cn") else int(mm.group(1))
            if v is None or v == 0:
                break
            out.append((pos, level, style, v, mm.group(0)))
            break
    return out


def _heading_marker(head: str) -> tuple[int, str, int, str] | None:
    for level, (style, rx) in enumerate(_STYLES):
        mm = rx.match(head.strip())
        if mm:
            v = _cn_value(mm.group(1)) if style.startswith("cn") else int(mm.group(1))
            if v:
                return level, style, v, mm.group(0)
    return None


def _list_order(ctx: _Ctx) -> None:
    """Numbered items in order: from the printed lines of the narrative pages, else from the chunks' text."""
    pages = sorted({int(p) for c in narrative_chunks(ctx) if (p := c.get("page")) == p and p is not None} & set(ctx.reading))
    if pages:
        _page_list_order(ctx, pages)
    else:
        _text_list_order(ctx)


def _check_item(state: dict[int, tuple[int, str]], level: int, v: int, printed: str) -> tuple[int, str] | None:
    """Record an item; the previous item of its level when the numbering jumps or repeats."""
    for lower in [k for k in state if k > level]:
        del state[lower]
    prev = state.get(level)
    state[level] = (v, printed)
    if prev is None or v == prev[0] + 1 or v == 1:
        return None
    return prev


_PART = re.compile(r"(?m)^\s*第[一二三四五六七八九十]+部分")


def _page_list_order(ctx: _Ctx, pages: list[int]) -> None:
    state: dict[int, tuple[int, str]] = {}
    for page in pages:
        text = ctx.reading[page]
        parts = {m.start() for m in _PART.finditer(text)}
        for pos, level, _style, v, printed in _markers(text):
            if any(p < pos for p in parts):
                state.clear()
                parts = {p for p in parts if p > pos}
            prev = _check_item(state, level, v, printed)
            if prev is None:
                continue
            line = text[pos:].split("\n", 1)[0].strip()
            ref = CellRef("", "正文", "", "", page, line[:60])
            _order_finding(ctx, prev=prev[1], cur=printed, context=f"第{page}页“{line[:40]}”", ref=ref, key=f"p{page}|{pos}")


def _order_finding(ctx: _Ctx, *, prev: str, cur: str, context: str, ref: CellRef, key: str) -> None:
    kind = "重复" if re.sub(r"\D", "", prev) == re.sub(r"\D", "", cur) and prev == cur else "不连续"
    ctx.add(
        category="proofreading",
        severity="low",
        title=f"编号{kind}：“{prev}”之后是“{cur}”" + (f"（第{ref.page}页）" if ref.page else ""),
        detail=f"{context}；序号应依次递增，“{prev}”之后出现“{cur}”，可能漏项、重复或顺序颠倒。",
        figures=[Figure("前一项", prev), Figure("后一项", cur)],
        cells=[ref],
        questions=[f"“{prev}”之后为什么是“{cur}”？是否漏掉了内容或顺序有误？"],
        rule="list_order",
        key=f"proof|list|{key}",
    )


def _text_list_order(ctx: _Ctx) -> None:
    """Items numbered inside the narrative text: 1、…2、…; （一）…（二）…"""
    by_section: dict[str, list[dict[str, Any]]] = {}
    for ch in narrative_chunks(ctx):
        by_section.setdefault(_s(ch.get("section")), []).append(ch)
    for _section, chunks in by_section.items():
        state: dict[int, tuple[int, str]] = {}
        for ch in chunks:
            text = _s(ch.get("text"))
            for pos, level, _style, v, printed in _markers(text):
                prev = _check_item(state, level, v, printed)
                if prev is None:
                    continue
                page = ch.get("page")
                ref = CellRef(
                    _s(ch.get("chunk_id")),
                    "正文",
                    "",
                    "",
                    int(page) if page == page and page is not None else None,
                    _snippet(text, pos, pos + len(printed), 30),
                )
                _order_finding(
                    ctx,
                    prev=prev[1],
                    cur=printed,
                    context=f"正文“{_snippet(text, pos, pos + len(printed), 30)}”",
                    ref=ref,
                    key=f"{_s(ch.get('chunk_id'))}|{pos}",
                )
