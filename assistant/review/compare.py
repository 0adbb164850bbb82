"""Comparisons: the same department's earlier report (largest changes, with the reason given) and peers."""

from __future__ import annotations

import re
from decimal import Decimal
from statistics import median
from typing import Any

from assistant.glossary import norm_label
from assistant.review.budget import _TP_ZH, _three_public
from assistant.review.model import (
    _F,
    CENT,
    PEER_RATIO,
    YOY_TOP,
    Figure,
    _Ctx,
    _fmt,
    _is_total_col,
    _money,
    _q,
    _s,
    _strip_numbering,
)


def _key_figures(ctx: _Ctx) -> dict[str, tuple[Decimal, _F]]:
    """Comparable figures of a report: function classes, basic/project totals, 三公 items."""
    out: dict[str, tuple[Decimal, _F]] = {}
    actual = ctx.meta.kind == "决算"
    for kinds in (("expenditure_by_function",), ("general_budget_by_function",)):
        tids = ctx.tables_of(*kinds)
        if not tids:
            continue
        tid = tids[0]
        tf = [f for f in ctx.facts if f.table_id == tid and _money(f) is not None]
        for f in tf:
            col = norm_label(f.column)
            is_total_col = _is_total_col(col)
            if len(f.code) == 3 and is_total_col:
                out.setdefault(f"{f.code} {_strip_numbering(f.row_label)}".strip(), (_money(f), f))  # type: ignore[arg-type]
            if not f.code and re.search(r"合计|总计", f.row_label + f.raw) and "上年" not in col:
                if "基本支出" in col:
                    out.setdefault("基本支出", (_money(f), f))  # type: ignore[arg-type]
                elif "项目支出" in col:
                    out.setdefault("项目支出", (_money(f), f))  # type: ignore[arg-type]
                elif is_total_col:
                    out.setdefault("支出合计", (_money(f), f))  # type: ignore[arg-type]
        break
    tp = _three_public(ctx)
    for item, ms in tp.items():
        tp_f = ms.get("actual" if actual else "budget") or (ms.get("full") if not actual else None)
        money = _money(tp_f) if tp_f is not None else None
        if tp_f is None or money is None:
            continue
        out[_TP_ZH[item]] = (money, tp_f)
    return out


_REASON_RE = re.compile(r"原因|主要是|主要用于|由于|因为")
_TERM_ALIASES = {
    "支出合计": ("支出合计", "支出总计", "收支总计", "收支预算总计", "收入支出预算", "支出预算"),
    "基本支出": ("基本支出",),
    "项目支出": ("项目支出",),
}


def _amount_texts(x: Decimal) -> list[str]:
    """How an amount in 万元 may be printed: 3355.64, 3,355.64, 3355.6."""
    q = x.quantize(CENT)
    return sorted({f"{q:f}", f"{q:,f}", _q(q)}, key=len, reverse=True)


def _reason_for(ctx: _Ctx, label: str, new: Decimal, delta: Decimal) -> tuple[str, str]:
    """The narrative's explanation of a change: a sentence naming the item (or the amounts) and a cause."""
    term = re.sub(r"^\d+\s*", "", label)
    term = re.sub(r"[“”\"‘’]", "", term)
    terms = _TERM_ALIASES.get(term) or ((re.sub(r"支出$|费$|经费$", "", term) or term),)
    amounts = _amount_texts(new) + _amount_texts(abs(delta))
    for ch in ctx.chunks:
        sents = [x for x in re.split(r"(?<=[。；])", re.sub(r"[“”\"‘’]", "", _s(ch.get("text")))) if x.strip()]
        for k, sent in enumerate(sents):
            named = any(t in sent for t in terms if len(t) >= 2) or any(a in sent for a in amounts if len(a) >= 4)
            if not named or not re.search(r"增加|减少|增长|下降|持平|变化", sent):
                continue
            if _REASON_RE.search(sent):
                return sent.strip()[:200], _s(ch.get("chunk_id"))
            if k + 1 < len(sents) and re.match(r"\s*(主要)?(原因|是由于|系)", sents[k + 1]):
                return (sent.strip() + sents[k + 1].strip())[:200], _s(ch.get("chunk_id"))
            for nxt in sents[k + 1 : k + 4]:
                if re.search(r"(增加|减少|增长|下降|变化)的主要原因", nxt):
                    return nxt.strip()[:200], _s(ch.get("chunk_id"))
    return "", ""


_ORG_SUFFIX = re.compile(r"(局|办公室|办公厅|委员会|委|院|处|厅|部|会|室|中心|所|站|队|街道|镇|乡)$")


def _same_department(a: str, b: str) -> bool:
    x, y = norm_label(a), norm_label(b)
    if not x or not y:
        return False
    if x == y:
        return True
    short, long_ = sorted((x, y), key=len)
    return len(short) >= 4 and short in long_ and bool(_ORG_SUFFIX.search(short)) and long_.endswith(short[-4:])


def _yoy_findings(ctx: _Ctx, index: Any, ctx_for: Any) -> list[str]:
    me = ctx.meta
    earlier = [
        r
        for r in index.reports
        if r.report_id != me.report_id
        and r.kind == me.kind
        and r.year < me.year
        and _same_department(r.department, me.department)
    ]
    if not earlier:
        return []
    prev = sorted(earlier, key=lambda r: (r.year, r.scope == me.scope, r.report_id))[-1]
    pctx = ctx_for(prev)
    cur, old = _key_figures(ctx), _key_figures(pctx)
    changes = []
    for k in sorted(set(cur) & set(old)):
        a, fa = old[k]
        b, fb = cur[k]
        if a == b:
            continue
        changes.append((abs(b - a), k, a, b, fa, fb))
    changes.sort(key=lambda x: (-x[0], x[1]))
    tp_names = set(_TP_ZH.values())
    top = [c for c in changes if c[1] not in tp_names][:YOY_TOP] + [c for c in changes if c[1] in tp_names]
    for _, k, a, b, fa, fb in top:
        pct = ((b - a) / a * 100).quantize(CENT) if a else None
        reason, chunk = _reason_for(ctx, k, b, b - a)
        up = b > a
        big = (pct is None or abs(pct) >= 30) and abs(b - a) >= 10
        word = "增加" if up else "减少"
        ctx.add(
            category="year_over_year",
            severity="medium" if big and not reason else "low",
            title=f"{k}：{prev.year}年{_q(a)}万元 → {me.year}年{_q(b)}万元（{word}{_q(abs(b - a))}万元"
            + (f"，{'+' if up else ''}{pct}%" if pct is not None else "")
            + "）",
            detail=(f"报告说明：“{reason}”" if reason else "报告未说明变化原因。") + f"（对比报告：{prev.report_id}）",
            figures=[
                Figure(f"{prev.year}年", _fmt(a)),
                Figure(f"{me.year}年", _fmt(b)),
                Figure("变化", f"{'+' if up else '-'}{_fmt(abs(b - a))}"),
            ]
            + ([Figure("变化率", f"{pct}%")] if pct is not None else []),
            cells=[fa.ref(), fb.ref()],
            questions=[
                f"{k}由{prev.year}年的{_q(a)}万元{word}到{me.year}年的{_q(b)}万元，"
                + ("报告称“" + reason[:60] + "”，请具体说明涉及哪些项目和金额？" if reason else "主要原因是什么？")
            ],
            rule="year_over_year",
            key=f"yoy|{k}",
        )
    return [prev.report_id]


_PEER_SHARES = (
    ("“三公”经费占支出合计的比例", "“三公”经费"),
    ("机关运行经费占支出合计的比例", "机关运行经费"),
    ("基本支出占支出合计的比例", "基本支出"),
)


def _peer_findings(ctx: _Ctx, index: Any, ctx_for: Any) -> list[str]:
    me = ctx.meta
    peers = [
        r
        for r in index.reports
        if r.report_id != me.report_id
        and r.kind == me.kind
        and abs(r.year - me.year) <= 1
        and not _same_department(r.department, me.department)
    ]
    if len(peers) < 2:
        return []
    mine = _key_figures(ctx)
    if "支出合计" not in mine or not mine["支出合计"][0]:
        return []
    pf = {}
    for p in sorted(peers, key=lambda r: r.report_id):
        kf = _key_figures(ctx_for(p))
        if "支出合计" in kf and kf["支出合计"][0]:
            pf[p.report_id] = kf
    used: list[str] = []
    for label, key in _PEER_SHARES:
        if key not in mine:
            continue
        share = mine[key][0] / mine["支出合计"][0] * 100
        others = {rid: kf[key][0] / kf["支出合计"][0] * 100 for rid, kf in pf.items() if key in kf}
        if len(others) < 3:
            continue
        med = Decimal(str(median([float(x) for x in others.values()])))
        used.extend(others)
        if med <= 0:
            continue
        ratio = share / med
        if ratio < PEER_RATIO:
            continue  # only shares well above the peers: a low 三公 share is no question to ask
        lst = "、".join(f"{rid}：{x.quantize(CENT)}%" for rid, x in sorted(others.items()))
        ctx.add(
            category="peers",
            severity="low",
            title=f"{label}为{share.quantize(CENT)}%，高于同类报告中位数{med.quantize(CENT)}%",
            detail=f"同类（同为{me.kind}、年度相近）报告：{lst}。",
            figures=[
                Figure(label, f"{share.quantize(CENT)}%"),
                Figure("同类中位数", f"{med.quantize(CENT)}%"),
                Figure(key, _fmt(mine[key][0])),
                Figure("支出合计", _fmt(mine["支出合计"][0])),
            ],
            cells=[mine[key][1].ref(), mine["支出合计"][1].ref()],
            questions=[f"本单位{label}为{share.quantize(CENT)}%，明显高于同类单位（中位数{med.quantize(CENT)}%），原因是什么？"],
            rule="peer_share",
            key=f"peer|{key}",
        )
    return sorted(set(used))
