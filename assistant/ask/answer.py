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
from assistant.i18n import tr
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
    if u == "万元":
        return tr("answer.money.wan", lang, value=fmt_decimal(v), yuan=_yuan_str(v * 10000))
    if u == "元":
        return tr("answer.money.yuan", lang, value=fmt_decimal(v), wan=_wan_str(v / 10000))
    if u == "亿元":
        return tr("answer.money.yi", lang, value=fmt_decimal(v), wan=_wan_str(v * 10000))
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
    unit = tr("answer.unit_level", lang) if r.scope == "单位" else ""
    kind = KIND_EN.get(r.kind, r.kind) if lang == "en" else r.kind
    return tr("answer.report_name", lang, department=r.department, year=r.year, unit=unit, kind=kind)


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
    bits = [
        num,
        tr("answer.ref.title", lang, title=title) if title else "",
        tr("answer.ref.code", lang, code=code) if code else "",
        tr("answer.ref.column", lang, column=col) if col else "",
    ]
    bits = [x for x in bits if x]
    if lang == "en":
        return ", ".join(bits)
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
    return tr("sep.list", lang).join(report_name(r, lang) for r in rs) or tr("answer.nothing", lang)


def _table_text(pq: ParsedQuestion, res: TableResult, vocab: Vocab, lang: str) -> tuple[str, list[Figure]]:
    en = lang == "en"
    name = _name(res, lang)
    st = res.status
    if st == "clarify":
        opts = tr("sep.options", lang).join(res.options)
        if res.clarify_what == "year":
            return tr("answer.clarify.year", lang, department=res.detail.get("department", ""), options=opts), []
        return tr("answer.clarify.department", lang, options=opts), []
    if st == "not_ingested":
        have = res.detail.get("have")
        y = res.detail.get("year")
        d = res.detail.get("department")
        if res.detail.get("need_two"):
            years = tr("sep.enum", lang).join(map(str, have or []))
            return tr("answer.need_two_years", lang, department=d, years=years), []
        what = " ".join(str(x) for x in (d, y) if x)
        return tr("answer.not_ingested", lang, what=what, ingested=ingested_summary(vocab, lang)), []
    rep = res.reports[0] if res.reports else None
    if st == "not_published":
        if res.detail.get("why") == "only_budget":
            rs = res.reports
            which = ", ".join(f"{r.department} {r.year} {KIND_EN.get(r.kind, r.kind) if en else r.kind}" for r in rs)
            return tr("answer.only_budget", lang, reports=which, name=name), []
        printed = [r for r in res.detail.get("row_facts", []) if r.get("fact") is not None]
        tab = f"{res.detail.get('table_number', '')}《{res.detail.get('table_title', '')}》"
        meas = pq.plan.measure or ("决算数" if rep and rep.kind == "决算" else "预算数")
        figs = [r["fact"] for r in printed]
        s = tr("answer.not_published", lang, report=_rep(rep, lang), table=tab, name=name, measure=meas)
        if printed:
            cells = tr("sep.list", lang).join(f"{str(r['column']).split(' › ')[-1]} {money(r['fact'], lang)}" for r in printed)
            s += tr("answer.not_published.row", lang, cells=cells)
        return s, figs
    if st == "empty_table":
        tab = f"{res.detail.get('table_number', '')}《{res.detail.get('table_title', '')}》"
        note = " ".join(n for n in res.notes if n) or ""
        note = tr("answer.empty_table.note", lang, note=note) if note else tr("answer.empty_table.no_note", lang)
        return tr("answer.empty_table", lang, report=_rep(rep, lang), table=tab, name=name, note=note), []
    if st in ("not_found", "no_item"):
        extra = ""
        if res.notes and st == "not_found":
            extra = tr("answer.not_available_for", lang, notes="; ".join(res.notes))
        near = _nearest_printed(vocab, res, name) if st == "not_found" and name else []
        if near:
            extra += tr("answer.nearest", lang, items=tr("sep.enum", lang).join(near))
        ingested = ingested_summary(vocab, lang)
        if name:
            return tr("answer.not_found.item", lang, name=name, ingested=ingested, extra=extra), []
        return tr("answer.not_found", lang, ingested=ingested, extra=extra), []
    op = res.operation
    h = res.headline
    if op == "lookup" and h is not None and len(res.figures) <= 1:
        return _lookup_text(pq, res, h, lang)
    if op == "lookup":
        lines = [
            f"{_fig_name(f, lang) if f.label != res.item_label else name} — {_rep(f.report, lang)}: {money(f, lang)}"
            for f in res.figures
        ]
        return tr("sep.list", lang).join(lines) + tr("sep.end", lang), res.figures
    if op == "sum" and h is not None:
        parts = " + ".join(f"{_fig_name(f, lang)} {money(f, lang)}" for f in res.figures)
        return tr("answer.sum", lang, report=_rep(h.report, lang), parts=parts, total=money(h, lang)), res.figures
    if op == "difference" and h is not None:
        a, b = res.figures
        text = tr(
            "answer.difference",
            lang,
            name=name,
            side_a=_side(a, b, lang),
            a=money(a, lang),
            side_b=_side(b, a, lang),
            b=money(b, lang),
            difference=money(h, lang),
        )
        return text, res.figures
    if op in ("share", "ratio") and h is not None:
        a, b = res.figures
        text = tr(
            "answer.share",
            lang,
            report=_rep(a.report, lang),
            name_a=_fig_name(a, lang),
            a=money(a, lang),
            name_b=_fig_name(b, lang),
            b=money(b, lang),
            share=money(h, lang),
        )
        return text, res.figures
    if op == "yoy" and h is not None:
        a, b = res.figures
        pct = res.detail.get("pct")
        signed = res.detail.get("signed", h.value)
        sign = "+" if signed > 0 else ""
        amt = money(None, lang, value=signed, unit=a.unit if a.unit == b.unit else "万元")
        d = f"{sign}{amt}" + (tr("answer.yoy.pct", lang, sign=sign, pct=fmt_decimal(pct)) if pct is not None else "")
        kind = b.report.kind if b.report else ""
        text = tr(
            "answer.yoy",
            lang,
            name=name,
            department=b.report.department if b.report else "",
            kind=kind,
            kind_en=KIND_EN.get(kind, kind),
            year_a=a.report.year if a.report else "",
            a=money(a, lang),
            year_b=b.report.year if b.report else "",
            b=money(b, lang),
            verb=tr("answer.yoy.up" if signed > 0 else ("answer.yoy.down" if signed < 0 else "answer.yoy.flat"), lang),
            change=d,
        )
        return text, res.figures
    if op == "series":
        return _series_text(res, name, lang)
    if op == "rank" and h is not None:
        return _rank_text(pq, res, name, lang)
    if op == "breakdown" and h is not None:
        kids = res.figures
        s = tr("answer.breakdown", lang, name=name, report=_rep(h.report, lang), value=money(h, lang))
        if kids:
            parts = tr("sep.list", lang).join(f"{_fig_name(k, lang)} {money(k, lang)}" for k in kids)
            s += tr("answer.breakdown.parts", lang, parts=parts)
        return s + tr("sep.end", lang), [h, *kids]
    return tr("answer.no_data", lang), []


def _series_text(res: TableResult, name: str, lang: str) -> tuple[str, list[Figure]]:
    """An item over the years of one department, and the year it was highest/lowest when asked."""
    figs = res.figures
    dept = figs[0].report.department if figs and figs[0].report else ""
    h = res.headline
    low = bool(res.detail.get("ascending"))
    parts = tr("sep.list", lang).join(
        tr("answer.series.year", lang, year=f.report.year if f.report else "", value=money(f, lang)) for f in figs
    )
    s = tr("answer.series", lang, department=dept, name=name, parts=parts)
    if h is not None and len(figs) > 1:
        which = "answer.series.lowest" if low else "answer.series.highest"
        s += tr(which, lang, year=h.report.year if h.report else "", value=money(h, lang))
    if res.notes:
        s += tr("answer.series.not_printed", lang, years=tr("sep.enum", lang).join(res.notes))
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
            kind = KIND_EN.get(a.report.kind, a.report.kind) if lang == "en" else a.report.kind
            return tr("answer.side.scope", lang, scope=a.report.scope, kind=kind)
        return tr("answer.side.year", lang, year=a.report.year)
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
    yr = ""
    if en:
        yr = f" in {rep.year}" if rep else ""
        low = (res.item_en or "").lower()
        if meas and meas not in ("决算数", "预算数") and meas not in name:
            name = tr("answer.lookup.measure_of", lang, measure_en=_measure_en(meas), measure=meas, name=name)
        elif h.is_money and (meas == "预算数" or (rep and rep.kind == "预算")):
            name = f"{name} budget" if "budget" not in low else name
            yr = f" for {rep.year}" if rep else ""
        elif h.is_money and not any(
            w in low for w in ("expend", "expense", "spending", "income", "asset", "balance", "fund", "appropriation", "cost")
        ):
            name = f"{name} spending"
    elif meas and meas not in ("决算数",) and meas not in name:
        name = tr("answer.lookup.measure_of", lang, measure=meas, name=name)
    s = tr("answer.lookup", lang, name=name, when=yr, value=money(h, lang), report=_rep(rep, lang))
    if h.fact:
        s += tr("answer.lookup.ref", lang, ref=_table_ref(h, lang))
    s += tr("sep.end", lang)
    if res.parts:
        figs += res.parts
        tot = sum((p.value_wan if p.value_wan is not None else p.value for p in res.parts), Decimal(0))
        ps = tr("sep.parts", lang).join(
            tr(
                "answer.lookup.part",
                lang,
                value=money(p, lang),
                label=(p.label_en or p.label) if en else p.label.split("（")[-1].rstrip("）"),
                table=(p.fact or {}).get("table_number", "") if en else ((p.fact or {}).get("table_number") or ""),
                code=(p.fact or {}).get("code", ""),
            )
            for p in res.parts
        )
        s += tr("answer.lookup.parts", lang, parts=ps)
        hv = h.value_wan if h.value_wan is not None else h.value
        if h.role != "computed" and len(res.parts) >= 2 and tot != hv:
            s += tr("answer.lookup.parts_mismatch", lang, parts=_wan_str(tot), total=_wan_str(hv))
    if res.alt:
        figs += res.alt
        s += tr("answer.lookup.alt", lang, figures="; ".join(f"{a.label}: {money(a, lang)}" for a in res.alt))
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
        key = "answer.rank.asc" if pq.ascending else "answer.rank.desc"
        out.append(tr(key, lang, name=name, kind=k, kind_en=KIND_EN.get(k, k), lines=tr("sep.list", lang).join(lines)))
    if res.notes:
        out.append(tr("answer.rank.not_available", lang, notes="; ".join(res.notes)))
    if len(kinds) > 1:
        out.append(tr("answer.rank.apart", lang))
    return tr("sep.sentences", lang).join(out), figs


# --------------------------------------------------------------------------- text answers


def compose_text(
    question: str, passages: list[dict[str, Any]], vocab: Vocab, lang: str, pq: ParsedQuestion | None = None
) -> Answer:
    """Extractive answer: the best sentences with section and page."""
    cites = []
    lines = []
    for p in passages:
        sec = p.get("section") or ""
        page = p.get("page")
        where = tr("answer.text.section", lang, section=sec) + (tr("answer.text.page", lang, page=page) if page else "")
        rep = vocab_report(vocab, p.get("report_id"))
        who = report_name(rep, lang) if rep else ""
        text = p.get("sentences") or p.get("text") or ""
        lines.append(tr("answer.text.line", lang, report=who, where=where, text=text))
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
        msg = tr("answer.text.not_found", lang, ingested=ingested_summary(vocab, lang))
        return Answer(question=question, route="text", answer=msg, language=lang, meta={"status": "not_found"})  # type: ignore[arg-type]
    return Answer(
        question=question,
        route="text",
        answer=tr("answer.text.head", lang) + tr("answer.text.sep", lang).join(lines),
        citations=cites,
        language=lang,  # type: ignore[arg-type]
        plan=pq.plan if pq else None,
        meta={"status": "ok"},
    )


def vocab_report(vocab: Vocab, report_id: str | None) -> ReportMeta | None:
    return next((r for r in vocab.reports if r.report_id == report_id), None)


def combine(question: str, table: Answer, text: Answer, lang: str) -> Answer:
    """Route 'both': the figure first, then the passages that explain it."""
    joiner = tr("answer.why", lang)
    body = table.answer
    if table.value is None and table.meta.get("status") in ("not_found", "no_item") and text.citations:
        body = text.answer  # no figure to show: the passages are the answer
    elif text.citations:
        body += (
            joiner + text.answer.split(": ", 1)[-1]
            if lang == "en"
            else joiner + text.answer.removeprefix(tr("answer.text.head", lang))
        )
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
        texts = " ".join(f"“{t.text}”" for t in res.texts)  # each quoted: the reason is in Chinese
    else:
        texts = "".join(t.text or "" for t in res.texts)
    return tr("answer.reasons", lang, texts=texts)


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
