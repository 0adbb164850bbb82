"""Answers in the question's language, with a citation for every figure and passage.

English answers name the Chinese term in parentheses ("Official reception (公务接待费) …").
Money: 万元 with the yuan equivalent; a 元 table keeps its printed precision and also gives 万元.

LLM hook: ``phrase(answer, llm)`` lets ``llm.phrase(answer_dict)`` reword a deterministic answer;
the rewording is kept only if every number in it appears in the deterministic answer.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

from assistant.ask.planner import ParsedQuestion, Vocab, dept_key
from assistant.ask.table_query import Figure, TableResult, fmt_decimal, to_float
from assistant.models import Answer, Citation, ReportMeta

log = logging.getLogger(__name__)

KIND_EN = {"决算": "final accounts", "预算": "budget"}


# --------------------------------------------------------------------------- numbers


def _yuan_str(v: Decimal) -> str:
    if v == v.to_integral_value():
        return f"{int(v):,}"
    return fmt_decimal(v.quantize(Decimal("0.01")))


def _wan_str(v: Decimal) -> str:
    s = format(v.normalize(), "f")
    if "." not in s:
        s += ".00"
    elif len(s.split(".")[1]) < 2:
        s += "0"
    ip, fp = s.split(".")
    return f"{int(ip):,}.{fp}" if not ip.startswith("-") else f"-{int(ip[1:]):,}.{fp}"


def money(fig: Figure | None, lang: str, *, value: Decimal | None = None, unit: str | None = None) -> str:
    """'50.00 万元（500,000 元）' / '50.00 万元 (500,000 yuan)'; counts and rates with their unit."""
    v = value if value is not None else fig.value  # type: ignore[union-attr]
    u = unit if unit is not None else fig.unit  # type: ignore[union-attr]
    yuan = "yuan" if lang == "en" else "元"
    lp, rp = (" (", ")") if lang == "en" else ("（", "）")
    if u == "万元":
        return f"{fmt_decimal(v)} 万元{lp}{_yuan_str(v * 10000)} {yuan}{rp}"
    if u == "元":
        return f"{fmt_decimal(v)} {yuan}{lp}{_wan_str(v / 10000)} 万元{rp}"
    if u == "亿元":
        return f"{fmt_decimal(v)} 亿元{lp}{_wan_str(v * 10000)} 万元{rp}"
    if u == "%":
        return f"{fmt_decimal(v)}%"
    return f"{fmt_decimal(v)} {u}".strip()


def _headline(fig: Figure | None) -> tuple[float | None, str | None]:
    if fig is None:
        return None, None
    return to_float(fig.value), fig.unit or None


# --------------------------------------------------------------------------- citations


def cite(fig: Figure) -> Citation | None:
    f = fig.fact
    if not f:
        return None
    table = " ".join(x for x in (str(f.get("table_number") or ""), str(f.get("table_title") or "")) if x).strip() or None
    page = f.get("page")
    return Citation(
        report=str(f["report_id"]),
        department=str(f["department"]),
        year=int(f["year"]),
        table=table,
        row=str(f.get("row_label") or "") or None,
        column=str(f.get("column") or "") or None,
        page=int(page) if page is not None and page == page else None,
        text=str(f.get("raw") or "") or None,
        fact_id=str(f["fact_id"]),
    )


def _cites(figs: list[Figure]) -> list[Citation]:
    out: list[Citation] = []
    seen = set()
    for f in figs:
        c = cite(f)
        if c and c.fact_id not in seen:
            seen.add(c.fact_id)
            out.append(c)
    return out


def report_name(r: ReportMeta, lang: str) -> str:
    """司法局2026年度预算; a unit-level report says so (司法局2026年度单位预算), as 部门 and 单位 reports can share a year."""
    unit = r.scope == "单位"
    if lang == "en":
        return f"{r.department} {r.year} {'unit-level ' if unit else ''}{KIND_EN.get(r.kind, r.kind)}"
    return f"{r.department}{r.year}年度{'单位' if unit else ''}{r.kind}"


def _rep(r: ReportMeta | None, lang: str) -> str:
    if r is None:
        return ""
    if lang == "en":
        unit = "unit-level " if r.scope == "单位" else ""
        return f"{r.department} ({r.year} {unit}{KIND_EN.get(r.kind, r.kind)}, {report_name(r, 'zh').removeprefix(r.department)})"
    return report_name(r, "zh")


def _table_ref(fig: Figure, lang: str) -> str:
    f = fig.fact or {}
    num, title = str(f.get("table_number") or ""), str(f.get("table_title") or "")
    col = str(f.get("column") or "").split(" › ")[-1]
    code = f.get("code")
    if lang == "en":
        bits = [
            x for x in (num, f"“{title}”" if title else "", f"code {code}" if code else "", f"column {col}" if col else "") if x
        ]
        return ", ".join(bits)
    bits = [x for x in (num, f"《{title}》" if title else "", f"科目{code}" if code else "", f"“{col}”栏" if col else "") if x]
    return "".join(bits[:2]) + ("，" + "，".join(bits[2:]) if bits[2:] else "")


def _name(res: TableResult, lang: str, fig: Figure | None = None) -> str:
    zh = res.item_label or (fig.label if fig else "")
    if lang == "en":
        en = res.item_en or ""
        if en:
            return f"{en[0].upper() + en[1:]} ({zh})"
        return zh
    return zh


def _fig_name(f: Figure, lang: str) -> str:
    if lang == "en" and f.label_en:
        return f"{f.label_en} ({f.label})"
    return f.label


# --------------------------------------------------------------------------- table answers


def compose_table(question: str, pq: ParsedQuestion, res: TableResult, vocab: Vocab, lang: str) -> Answer:
    """Sentences for a table result."""
    text, figs = _table_text(pq, res, vocab, lang)
    value, unit = _headline(res.headline) if res.status == "ok" else (None, None)
    return Answer(
        question=question,
        route="table",
        answer=text,
        value=value,
        unit=unit,
        citations=_cites(figs),
        language=lang,  # type: ignore[arg-type]
        plan=pq.plan,
        meta={"status": res.status, "operation": res.operation}
        | ({"series": res.detail.get("series", [])} if res.operation == "series" else {}),
    )


def ingested_summary(vocab: Vocab, lang: str) -> str:
    rs = sorted(vocab.reports, key=lambda r: (r.department, r.year))
    if lang == "en":
        return "; ".join(report_name(r, "en") for r in rs) or "nothing"
    return "；".join(report_name(r, "zh") for r in rs) or "无"


def _table_text(pq: ParsedQuestion, res: TableResult, vocab: Vocab, lang: str) -> tuple[str, list[Figure]]:
    en = lang == "en"
    name = _name(res, lang)
    st = res.status
    if st == "clarify":
        opts = ("; " if en else "、").join(res.options)
        if res.clarify_what == "year":
            d = res.detail.get("department", "")
            return (
                f"Which year? {d} has reports for {opts}. Please name the year."
                if en
                else f"请指明年份：{d}有 {opts} 年度的报告。"
            ), []
        return (
            f"Which department? Several match: {opts}. Please name one." if en else f"请指明部门，以下部门都符合：{opts}。"
        ), []
    if st == "not_ingested":
        have = res.detail.get("have")
        y = res.detail.get("year")
        d = res.detail.get("department")
        if res.detail.get("need_two"):
            return (
                f"A year-over-year change needs two years of the same kind of report; for {d} the ingested years are {', '.join(map(str, have or []))}."
                if en
                else f"同比需要同一部门两个年度的同类报告；{d}已收录的年度：{'、'.join(map(str, have or []))}。"
            ), []
        what = " ".join(str(x) for x in (d, y) if x)
        if en:
            return (
                f"The ingested reports do not say: no report for {what} is ingested. Ingested: {ingested_summary(vocab, lang)}.",
                [],
            )
        return f"已收录的报告中没有这方面的内容：未收录 {what} 的报告。已收录：{ingested_summary(vocab, lang)}。", []
    rep = res.reports[0] if res.reports else None
    if st == "not_published":
        if res.detail.get("why") == "only_budget":
            rs = res.reports
            which = ", ".join(f"{r.department} {r.year} {KIND_EN.get(r.kind, r.kind) if en else r.kind}" for r in rs)
            return (
                f"Only budgets are ingested for that ({which}); actual spending on {name} is not published there, and a budget is not an actual figure."
                if en
                else f"该部门该年度只收录了预算（{which}），其中没有{name}的实际支出（决算数）；预算数不能当作实际支出。"
            ), []
        printed = [r for r in res.detail.get("row_facts", []) if r.get("fact") is not None]
        tab = f"{res.detail.get('table_number', '')}《{res.detail.get('table_title', '')}》"
        meas = pq.plan.measure or ("决算数" if rep and rep.kind == "决算" else "预算数")
        figs = [r["fact"] for r in printed]
        if en:
            s = f"Not published: {_rep(rep, lang)} does not print the {meas} of {name} in {tab}."
            if printed:
                s += (
                    " The row prints only "
                    + "; ".join(f"{str(r['column']).split(' › ')[-1]} {money(r['fact'], lang)}" for r in printed)
                    + "."
                )
            return s, figs
        s = f"未公开：{_rep(rep, lang)}的{tab}没有列出{name}的{meas}。"
        if printed:
            s += "该行只列出" + "；".join(f"{str(r['column']).split(' › ')[-1]} {money(r['fact'], lang)}" for r in printed) + "。"
        return s, figs
    if st == "empty_table":
        tab = f"{res.detail.get('table_number', '')}《{res.detail.get('table_title', '')}》"
        note = " ".join(n for n in res.notes if n) or ""
        if en:
            return (
                f"{_rep(rep, lang)}: the table {tab} is empty — no such income or spending ({name}). Note printed under it: {note or '(none)'}",
                [],
            )
        return f"{_rep(rep, lang)}的{tab}为空表，即没有{name}。{('表下注明：' + note) if note else ''}", []
    if st in ("not_found", "no_item"):
        extra = ""
        if res.notes and st == "not_found":
            extra = (" Not available for: " if en else "无数据：") + ("; ".join(res.notes))
        near = _nearest_printed(vocab, res, name) if st == "not_found" and name else []
        if near:
            extra += f" Nearest printed items: {', '.join(near)}." if en else f"相近的已列出项目：{'、'.join(near)}。"
        if en:
            return (
                f"The ingested reports do not say{(' anything about ' + name) if name else ''}. Ingested: {ingested_summary(vocab, lang)}.{extra}"
            ), []
        return (
            f"已收录的报告中没有{('“' + name + '”的') if name else '相关'}数据。已收录：{ingested_summary(vocab, lang)}。{extra}",
            [],
        )
    op = res.operation
    h = res.headline
    if op == "lookup" and h is not None and len(res.figures) <= 1:
        return _lookup_text(pq, res, h, lang)
    if op == "lookup":
        lines = [
            f"{_fig_name(f, lang) if f.label != res.item_label else name} — {_rep(f.report, lang)}: {money(f, lang)}"
            for f in res.figures
        ]
        return (("; " if en else "；").join(lines) + ("." if en else "。")), res.figures
    if op == "sum" and h is not None:
        parts = " + ".join(f"{_fig_name(f, lang)} {money(f, lang)}" for f in res.figures)
        if en:
            return f"{_rep(h.report, lang)}: {parts} = {money(h, lang)}.", res.figures
        return f"{_rep(h.report, lang)}：{parts}，合计 {money(h, lang)}。", res.figures
    if op == "difference" and h is not None:
        a, b = res.figures
        da, db = _side(a, b, lang), _side(b, a, lang)
        if en:
            return f"{name}: {da} {money(a, lang)} vs {db} {money(b, lang)}; the difference is {money(h, lang)}.", res.figures
        return f"{name}：{da} {money(a, lang)}，{db} {money(b, lang)}，相差 {money(h, lang)}。", res.figures
    if op in ("share", "ratio") and h is not None:
        a, b = res.figures
        if en:
            return (
                f"{_fig_name(a, lang)} is {money(h, lang)} of {_fig_name(b, lang)} ({money(a, lang)} / {money(b, lang)}), {_rep(a.report, lang)}."
            ), res.figures
        return (
            f"{_rep(a.report, lang)}：{a.label} {money(a, lang)} 占 {b.label} {money(b, lang)} 的 {money(h, lang)}。",
            res.figures,
        )
    if op == "yoy" and h is not None:
        a, b = res.figures
        pct = res.detail.get("pct")
        signed = res.detail.get("signed", h.value)
        sign = "+" if signed > 0 else ""
        amt = money(None, lang, value=signed, unit=a.unit if a.unit == b.unit else "万元")
        d = f"{sign}{amt}" + (
            f", {sign}{fmt_decimal(pct)}%"
            if pct is not None and en
            else (f"，{sign}{fmt_decimal(pct)}%" if pct is not None else "")
        )
        dept = b.report.department if b.report else ""
        kind = b.report.kind if b.report else ""
        if en:
            return (
                f"{name} of {dept} ({KIND_EN.get(kind, kind)}, {kind}): {a.report.year if a.report else ''} {money(a, lang)} → {b.report.year if b.report else ''} {money(b, lang)}, change {d}.",
                res.figures,
            )
        verb = "增加" if signed > 0 else ("减少" if signed < 0 else "持平")
        return (
            f"{dept}{name}（{kind}）：{a.report.year if a.report else ''}年 {money(a, lang)}，{b.report.year if b.report else ''}年 {money(b, lang)}，{verb}（{d}）。",
            res.figures,
        )
    if op == "series":
        return _series_text(res, name, lang)
    if op == "rank" and h is not None:
        return _rank_text(pq, res, name, lang)
    if op == "breakdown" and h is not None:
        kids = res.figures
        if en:
            s = f"{name}, {_rep(h.report, lang)}: {money(h, lang)}"
            if kids:
                s += ", of which " + "; ".join(f"{_fig_name(k, lang)} {money(k, lang)}" for k in kids)
            return s + ".", [h, *kids]
        s = f"{_rep(h.report, lang)}{name} {money(h, lang)}"
        if kids:
            s += "，其中：" + "；".join(f"{k.label} {money(k, lang)}" for k in kids)
        return s + "。", [h, *kids]
    return ("The ingested reports do not say." if en else "已收录的报告中没有相关数据。"), []


def _series_text(res: TableResult, name: str, lang: str) -> tuple[str, list[Figure]]:
    """An item over the years of one department, and the year it was highest/lowest when asked."""
    figs = res.figures
    dept = figs[0].report.department if figs and figs[0].report else ""
    h = res.headline
    low = bool(res.detail.get("ascending"))
    if lang == "en":
        parts = "; ".join(f"{f.report.year if f.report else ''}: {money(f, lang)}" for f in figs)
        s = f"{name} of {dept} by year — {parts}."
        if h is not None and len(figs) > 1:
            s += f" {'Lowest' if low else 'Highest'}: {h.report.year if h.report else ''} ({money(h, lang)})."
        if res.notes:
            s += f" Not printed for: {', '.join(res.notes)}."
        return s, figs
    parts = "；".join(f"{f.report.year if f.report else ''}年 {money(f, lang)}" for f in figs)
    s = f"{dept}各年度{name}：{parts}。"
    if h is not None and len(figs) > 1:
        s += f"{'最低' if low else '最高'}的是{h.report.year if h.report else ''}年（{money(h, lang)}）。"
    if res.notes:
        s += f"未列出的年度：{'、'.join(res.notes)}。"
    return s, figs


def _nearest_printed(vocab: Vocab, res: TableResult, name: str) -> list[str]:
    """Printed items nearest to an item the reports asked about do not print (suggestions, never a figure)."""
    from assistant.ask.guard import suggest

    ids = {r.report_id for r in res.reports} or None
    zh = res.item_label or name
    return [x for x in suggest(vocab, [zh], ids, k=4) if x != zh]


def _side(a: Figure, b: Figure, lang: str) -> str:
    """What distinguishes figure a from b (department, year, item or column)."""
    if a.report and b.report and a.report.report_id != b.report.report_id:
        if a.report.department != b.report.department:
            return a.report.department
        if a.report.year == b.report.year:
            return (
                f"{a.report.scope}-level {KIND_EN.get(a.report.kind, a.report.kind)}"
                if lang == "en"
                else f"{a.report.scope}{a.report.kind}"
            )
        return str(a.report.year) + ("" if lang == "en" else "年")
    if a.label != b.label:
        return _fig_name(a, lang)
    return str(a.column or "").split(" › ")[-1]


def _lookup_text(pq: ParsedQuestion, res: TableResult, h: Figure, lang: str) -> tuple[str, list[Figure]]:
    en = lang == "en"
    name = _name(res, lang, h)
    col = str(h.column or "").split(" › ")[-1]
    figs = [h]
    rep = h.report
    meas = pq.plan.measure
    if en:
        yr = f" in {rep.year}" if rep else ""
        low = (res.item_en or "").lower()
        if meas and meas not in ("决算数", "预算数") and meas not in name:
            name = f"The {_measure_en(meas)} ({meas}) of {name}"
        elif h.is_money and (meas == "预算数" or (rep and rep.kind == "预算")):
            name = f"{name} budget" if "budget" not in low else name
            yr = f" for {rep.year}" if rep else ""
        elif h.is_money and not any(
            w in low for w in ("expend", "expense", "spending", "income", "asset", "balance", "fund", "appropriation", "cost")
        ):
            name = f"{name} spending"
        s = f"{name}{yr} was {money(h, lang)} — {_rep(rep, lang)}"
        if h.fact:
            s += f", {_table_ref(h, lang)}"
        s += "."
    else:
        if meas and meas not in ("决算数",) and meas not in name:
            name = f"{name}的{meas}"
        s = f"{_rep(rep, lang)}：{name}为 {money(h, lang)}"
        if h.fact:
            s += f"（{_table_ref(h, lang)}）"
        s += "。"
    if res.parts:
        figs += res.parts
        tot = sum((p.value_wan if p.value_wan is not None else p.value for p in res.parts), Decimal(0))
        if en:
            ps = " + ".join(
                f"{money(p, lang)} {p.label_en or p.label} ({(p.fact or {}).get('table_number', '')} code {(p.fact or {}).get('code', '')})"
                for p in res.parts
            )
            s += f" Parts: {ps}."
        else:
            ps = "、".join(
                f"{p.label.split('（')[-1].rstrip('）')} {money(p, lang)}（{((p.fact or {}).get('table_number') or '') + ' '}科目{(p.fact or {}).get('code', '')}）"
                for p in res.parts
            )
            s += f"其中{ps}。"
        hv = h.value_wan if h.value_wan is not None else h.value
        if h.role != "computed" and len(res.parts) >= 2 and tot != hv:
            s += (
                f" (The parts add up to {_wan_str(tot)} 万元, not {_wan_str(hv)}.)"
                if en
                else f"（分项合计 {_wan_str(tot)} 万元，与总数 {_wan_str(hv)} 万元不一致。）"
            )
    if res.alt:
        figs += res.alt
        s += (" " if en else "") + ("; ".join(f"{a.label}: {money(a, lang)}" for a in res.alt) + ("." if en else "。"))
    if col and h.fact and col not in s:
        pass
    return s, figs


def _measure_en(measure: str) -> str:
    from assistant.glossary import measures, term_by_label

    for m in measures():
        if m["zh"] == measure:
            return m["en"]
    t = term_by_label(measure)
    return t["en"] if t else measure


def _rank_text(pq: ParsedQuestion, res: TableResult, name: str, lang: str) -> tuple[str, list[Figure]]:
    en = lang == "en"
    out = []
    figs: list[Figure] = []
    main: str = res.detail.get("kind", "")  # the rank operation always sets it to a key of res.groups
    kinds = [main] + [k for k in res.groups if k != main]
    for k in kinds:
        ranked = res.groups.get(k, [])
        figs += ranked
        lines = [
            f"{i}. {dept_key(f.report.department) if f.report else ''} {f.report.year if f.report else ''}: {money(f, lang)}"
            for i, f in enumerate(ranked, 1)
        ]
        if en:
            out.append(
                f"{name}, ranked ({KIND_EN.get(k, k)}, {k}; {'lowest' if pq.ascending else 'highest'} first): "
                + "; ".join(lines)
                + "."
            )
        else:
            out.append(f"{name}排名（{k}，{'从低到高' if pq.ascending else '从高到低'}）：" + "；".join(lines) + "。")
    if res.notes:
        out.append(("Not available: " if en else "无数据：") + "; ".join(res.notes))
    if len(kinds) > 1:
        out.append("Budgets and final accounts are ranked separately." if en else "预算与决算分开排名，不混比。")
    return " ".join(out) if en else "".join(out), figs


# --------------------------------------------------------------------------- text answers


def compose_text(
    question: str, passages: list[dict[str, Any]], vocab: Vocab, lang: str, pq: ParsedQuestion | None = None
) -> Answer:
    """Extractive answer: the best sentences with section and page."""
    en = lang == "en"
    cites = []
    lines = []
    for p in passages:
        sec = p.get("section") or ""
        page = p.get("page")
        where = (f"{sec}" + (f", p. {page}" if page else "")) if en else (f"“{sec}”" + (f"，第{page}页" if page else ""))
        rep = vocab_report(vocab, p.get("report_id"))
        who = report_name(rep, "en" if en else "zh") if rep else ""
        text = p.get("sentences") or p.get("text") or ""
        lines.append(f"{who}, {where}: {text}" if en else f"{who}{where}：{text}")
        cites.append(
            Citation(
                report=str(p.get("report_id")),
                department=rep.department if rep else None,
                year=rep.year if rep else None,
                page=int(page) if page is not None and page == page else None,
                section=sec or None,
                text=text,
                chunk_id=p.get("chunk_id"),
            )
        )
    if not lines:
        msg = (
            f"The ingested reports do not say. Ingested: {ingested_summary(vocab, lang)}."
            if en
            else f"已收录的报告中没有相关内容。已收录：{ingested_summary(vocab, lang)}。"
        )
        return Answer(question=question, route="text", answer=msg, language=lang, meta={"status": "not_found"})  # type: ignore[arg-type]
    head = "According to the reports (quoted in Chinese): " if en else "报告原文："
    sep = " | " if en else "\n"
    return Answer(
        question=question,
        route="text",
        answer=head + sep.join(lines),
        citations=cites,
        language=lang,  # type: ignore[arg-type]
        plan=pq.plan if pq else None,
        meta={"status": "ok"},
    )


def vocab_report(vocab: Vocab, report_id: str | None) -> ReportMeta | None:
    return next((r for r in vocab.reports if r.report_id == report_id), None)


def combine(question: str, table: Answer, text: Answer, lang: str) -> Answer:
    """Route 'both': the figure first, then the passages that explain it."""
    joiner = " Why: " if lang == "en" else "\n原因/说明："
    body = table.answer
    if table.value is None and table.meta.get("status") in ("not_found", "no_item") and text.citations:
        body = text.answer  # no figure to show: the passages are the answer
    elif text.citations:
        body += joiner + text.answer.split(": ", 1)[-1] if lang == "en" else joiner + text.answer.removeprefix("报告原文：")
    return Answer(
        question=question,
        route="both",
        answer=body,
        value=table.value,
        unit=table.unit,
        citations=table.citations + text.citations,
        language=lang,  # type: ignore[arg-type]
        plan=table.plan,
        meta={**table.meta, "text_status": text.meta.get("status"), "retrieved": text.meta.get("retrieved", [])},
    )


def reasons_text(res: TableResult, lang: str) -> str:
    """Text cells beside the figure (预算执行偏低原因及改进措施 …)."""
    if not res.texts:
        return ""
    if lang == "en":
        return " The table gives the reason (in Chinese): " + " ".join(f"“{t.text}”" for t in res.texts)
    return "表中说明：" + "".join(t.text or "" for t in res.texts)


def phrase(answer: Answer, llm: Any) -> Answer:
    """Optional LLM rewording; kept only when every number it uses is in the deterministic answer."""
    fn = getattr(llm, "phrase", None) if llm is not None else None
    if not callable(fn):
        return answer
    try:
        text = fn(answer.model_dump())
        if not isinstance(text, str) or not text.strip():
            return answer
        allowed = set(re.findall(r"\d[\d,]*\.?\d*", answer.answer))
        used = set(re.findall(r"\d[\d,]*\.?\d*", text))
        if not used <= allowed:
            answer.meta["llm_rejected"] = "numbers not in the cited facts"
            return answer
        return answer.model_copy(update={"answer": text, "meta": {**answer.meta, "llm": "phrased"}})
    except Exception as e:  # any model failure keeps the deterministic answer
        answer.meta["llm_error"] = str(e)
        return answer
