"""Function items in the narrative against the function-class tables.

The narrative names an item by its 类/款/项 (“一般公共服务支出（类）财政事务（款）行政运行（项）”) and
states its amount: a final account its actual (“支出决算为1511.89万元”), a budget its budget
(“…（项）”13.52万元 / “…（项）支出5804.83万元”). The item is found in the general-budget
function table (by the 项 name under the 款 and 类 it names, so 行政运行 under 财政事务 is one row),
and the amount compared with the row's total; a final account's 年初预算 with a budget column
where the table has one. An amount is reported only when the row is found without doubt and no
function-class table (一般公共预算 / 财政拨款 / 支出) holds the stated figure for that row.
"""

from __future__ import annotations

import re
from decimal import Decimal

from assistant.glossary import norm_label
from assistant.review.model import _F, Figure, _Ctx, _is_total_col, _money, _strip_numbering
from assistant.review.text import Sentence, sentences

_ITEM = re.compile(r"((?:[\u4e00-\u9fff、]{2,30}[（(]\d{0,3}(?:类|款|项)[)）]){2,3})")
_PART = re.compile(r"([\u4e00-\u9fff、]{2,30})[（(]\d{0,3}(类|款|项)[)）]")
_N = r"(\d[\d,]*(?:\.\d+)?)"
_DIRECT = re.compile(r"^[”\"’]?\s*(?:科目|支出|预算数?为?|安排)?\s*" + _N + r"\s*万元")
_ACTUAL = re.compile(r"(?:支出)?决算数?为\s*" + _N + r"\s*万元")
_BUDGET = re.compile(r"年初预算数?为\s*" + _N + r"\s*万元")
_TABLE_KINDS = ("general_budget_by_function", "appropriation_by_function", "expenditure_by_function")


def _names(naming: str) -> dict[str, str]:
    return {level: norm_label(name) for name, level in _PART.findall(naming)}


def _row_code(ctx: _Ctx, tid: str, names: dict[str, str]) -> str | None:
    """The 7-digit code of the item the names point to in one table, when exactly one row fits."""
    labels: dict[str, set[str]] = {}
    for f in ctx.facts:
        if f.table_id == tid and f.code:
            labels.setdefault(f.code, set()).add(norm_label(_strip_numbering(f.row_label)))

    def codes(level: str, n: int) -> set[str]:
        name = names.get(level)
        return {c for c, ls in labels.items() if len(c) == n and name in ls} if name else set()

    items = codes("项", 7)
    for level, n in (("款", 5), ("类", 3)):
        parents = codes(level, n)
        if parents and len(items) > 1:
            items = {c for c in items if c[:n] in parents}
    return next(iter(items)) if len(items) == 1 else None


def _row_total(ctx: _Ctx, tid: str, code: str) -> tuple[_F | None, list[_F]]:
    row = [f for f in ctx.facts if f.table_id == tid and f.code == code]
    total = next((f for f in row if _is_total_col(norm_label(f.column)) and _money(f) is not None), None)
    return total, row


def _same(v: Decimal, stated: Decimal, places: int) -> bool:
    q = Decimal(1).scaleb(-places)
    return abs(v - stated) <= Decimal("0.005") or v.quantize(q) == stated.quantize(q)


def _item_findings(ctx: _Ctx) -> None:
    tables = {k: ctx.tables_of(k) for k in _TABLE_KINDS}
    mains = tables["general_budget_by_function"] or tables["appropriation_by_function"]
    if not mains:
        return
    main = mains[0]
    seen: set[str] = set()
    for s in sentences_with_items(ctx):
        sent, naming, printed = s
        names = _names(naming)
        if "项" not in names:
            continue
        code = _row_code(ctx, main, names)
        if code is None or code in seen:
            continue
        stated = Decimal(printed.replace(",", ""))
        places = len(printed.split(".")[1]) if "." in printed else 0
        total, row = _row_total(ctx, main, code)
        if total is None:
            if row and stated != 0:
                _blank(ctx, sent, naming, printed, row[0])
                seen.add(code)
            continue
        if _same(_money(total) or Decimal(0), stated, places):
            continue
        # the same row in any other function-class table holding the stated figure: not a contradiction
        others = [t for k in _TABLE_KINDS for t in tables[k] if t != main]
        if any(
            (tot := _row_total(ctx, t, c)[0]) is not None and _same(_money(tot) or Decimal(0), stated, places)
            for t in others
            if (c := _row_code(ctx, t, names))
        ):
            continue
        seen.add(code)
        item = "".join(f"{n}（{lv}）" for n, lv in _PART.findall(naming))
        tv = _money(total) or Decimal(0)
        ctx.add(
            category="consistency",
            severity="medium",
            title=f"正文称{_strip_numbering(total.row_label)}（{code}）{printed}万元，表中为{tv}万元"
            + (f"（第{sent.page}页）" if sent.page else ""),
            detail=f"{sent.where or '正文'}：“{sent.text[:160]}”；{total.table_number or total.table_title}"
            f"中{code} {total.row_label}的{total.column or '合计'}为{tv}万元，与正文不符。",
            figures=[Figure("正文", f"{printed}万元"), Figure(f"表中（{total.table_number or total.table_title}）", f"{tv}万元")],
            cells=[sent.ref(), total.ref()],
            questions=[f"{item}正文为{printed}万元，表中为{tv}万元，哪个数字正确？"],
            rule="item_vs_table",
            key=f"item|{code}",
        )


def _blank(ctx: _Ctx, sent: Sentence, naming: str, printed: str, f: _F) -> None:
    ctx.add(
        category="consistency",
        severity="medium",
        title=f"正文称{_strip_numbering(f.row_label)}（{f.code}）{printed}万元，表中该项合计为空"
        + (f"（第{sent.page}页）" if sent.page else ""),
        detail=f"{sent.where or '正文'}：“{sent.text[:160]}”；{f.table_number or f.table_title}中{f.code} {f.row_label}的合计栏没有数字。",
        figures=[Figure("正文", f"{printed}万元"), Figure("表中", "（空白）")],
        cells=[sent.ref(), f.ref()],
        questions=[f"正文说{_strip_numbering(f.row_label)}为{printed}万元，为什么表中该项的合计是空白？"],
        rule="item_blank_in_table",
        key=f"item|blank|{f.code}",
    )


def sentences_with_items(ctx: _Ctx) -> list[tuple[Sentence, str, str]]:
    """(sentence, the item naming, the printed amount) for each item the narrative states an amount of."""
    out: list[tuple[Sentence, str, str]] = []
    final = ctx.meta.kind == "决算"
    pending: str | None = None
    chunk = ""
    for s in sentences(ctx):
        if s.chunk_id != chunk:
            pending, chunk = None, s.chunk_id
        m = _ITEM.search(s.text)
        if m:
            pending = m.group(1)
            tail = s.text[m.end() :]
        elif pending is None:
            continue
        else:
            tail = s.text
        if final:
            a = _ACTUAL.search(tail)
            if a and not _ITEM.search(tail[: a.start()]):
                out.append((s, pending, a.group(1)))
                pending = None
        elif m:
            d = _DIRECT.search(tail)
            if d:
                out.append((s, pending, d.group(1)))
            pending = None
    return out
