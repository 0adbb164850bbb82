"""Budget against actual: 三公 items above their budget, projects cut during the year, low execution."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from assistant.glossary import norm_label
from assistant.review.model import (
    _F,
    _SKIP_COLUMN,
    CENT,
    LOW_EXECUTION_RATE,
    MONEY_UNITS,
    NUM_RE,
    OPS,
    PCT_RE,
    Figure,
    Severity,
    _Ctx,
    _first_by_column,
    _fmt,
    _pct,
    _pct_value,
    _q,
    _Row,
    _strip_numbering,
    _v,
)

_TP_ITEMS = ("total", "overseas", "vehicles", "vehicle_buy", "vehicle_run", "reception", "running")
_TP_ZH = {
    "total": "“三公”经费",
    "overseas": "因公出国（境）费",
    "vehicles": "公务用车购置及运行维护费",
    "vehicle_buy": "公务用车购置费",
    "vehicle_run": "公务用车运行维护费",
    "reception": "公务接待费",
    "running": "机关运行经费",
}


def _tp_item(text: str) -> str | None:
    t = norm_label(text)
    if not t:
        return None
    if re.search(r"[(（](个|人|辆|批次|人次)[)）]|团组数|人次数|批次|保有量|购置数", t):
        return None
    if "机关运行" in t:
        return "running"
    if "出国" in t:
        return "overseas"
    if "购置及运行" in t or "购置和运行" in t or ("公务用车" in t and "购置" not in t and "运行" not in t):
        return "vehicles"
    if "用车" in t and "运行" in t:
        return "vehicle_run"
    if "用车" in t and "购置" in t:
        return "vehicle_buy"
    if "公务接待" in t:
        return "reception"
    if "外事接待" in t or "国内接待" in t or "境)外接待" in t or "境外接待" in t:
        return None
    if "合计" in t or "三公" in t or "总计" in t:
        return "total"
    return None


def _tp_item_path(path: str) -> str | None:
    """The 三公 item of a stacked label (… › 公务用车购置及运行费 › 购置费): the most specific segment decides."""
    segs = [x.strip() for x in path.split("›") if x.strip()]
    for i in range(len(segs) - 1, -1, -1):
        seg = norm_label(segs[i])
        if seg in ("购置费", "车辆购置费") and any("用车" in x for x in segs[:i]):
            return "vehicle_buy"
        if seg in ("运行费", "运行维护费") and any("用车" in x for x in segs[:i]):
            return "vehicle_run"
        if seg in ("小计", "合计") and i > 0 and _tp_item(segs[i - 1]) not in (None, "total"):
            return _tp_item(segs[i - 1])
        item = _tp_item(seg)
        if item is not None:
            return item
    return None


def _tp_measure(text: str) -> str | None:
    t = norm_label(text)
    if re.search(r"决算|实际|执行数|支出数|统计数", t):
        return "actual"
    if "全年预算" in t or "调整" in t:
        return "full"
    if "预算" in t:
        return "budget"
    return None


def _tp_cells(ctx: _Ctx, tid: str) -> list[tuple[str, _F]]:
    """(三公 item, money fact) of one 三公 table, in table order."""
    tfacts = [f for f in ctx.facts if f.table_id == tid]
    # Jiangsu prints 三公 + 会议费 + 培训费 in one table: its bare 合计 column is not the 三公 total
    with_meetings = any(re.search(r"会议费|培训费", f.column + f.row_label) for f in tfacts)
    out: list[tuple[str, _F]] = []
    for f in tfacts:
        if f.value is None or f.status not in ("ok", "") or (f.unit and f.unit not in MONEY_UNITS):
            continue
        if _SKIP_COLUMN.search(norm_label(f.column)):
            continue
        item = _tp_item_path(f.row_label) or _tp_item_path(f.column)
        if item is None or (item == "total" and with_meetings and "三公" not in norm_label(f.row_label + f.column)):
            continue
        out.append((item, f))
    return out


def _three_public(ctx: _Ctx) -> dict[str, dict[str, _F]]:
    """item → measure → fact, from the first 三公 table that has both a budget and an actual column."""
    best: dict[str, dict[str, _F]] = {}
    for tid in ctx.tables_of("three_public_expenses"):
        got: dict[str, dict[str, _F]] = {}
        for item, f in _tp_cells(ctx, tid):
            measure = _tp_measure(f.column) or _tp_measure(f.row_label)
            if measure is None and ctx.meta.kind == "预算":
                measure = "budget"  # a budget report's figures are budgets even where the header does not say so
            if measure is None:
                continue
            got.setdefault(item, {}).setdefault(measure, f)
        measures = {m for d in got.values() for m in d}
        if "actual" in measures and ("budget" in measures or "full" in measures):
            return got
        if not best:
            best = got
    return best


def _three_public_findings(ctx: _Ctx) -> None:
    tp = _three_public(ctx)
    if not tp:
        return
    has_budget_col = any("budget" in d for d in tp.values())
    has_actual_col = any("actual" in d for d in tp.values())
    if not (has_budget_col and has_actual_col):
        return
    counts = _tp_counts(ctx)
    for item in _TP_ITEMS:
        if item == "running" or item not in tp:
            continue
        cells = tp[item]
        act_f = cells.get("actual")
        if act_f is None:
            continue
        actual = act_f.value_wan if act_f.value_wan is not None else act_f.value
        bud_f = cells.get("budget")
        budget = (bud_f.value_wan if bud_f.value_wan is not None else bud_f.value) if bud_f else Decimal(0)
        full_f = cells.get("full")
        full = (full_f.value_wan if full_f.value_wan is not None else full_f.value) if full_f else None
        if actual is None or budget is None or actual <= budget:
            continue
        name = _TP_ZH[item]
        refs = [c.ref() for c in (bud_f, full_f, act_f) if c is not None]
        figs = [Figure("年初预算数", _fmt(budget) if bud_f else "（空白，即0）")]
        if full is not None:
            figs.append(Figure("全年预算数", _fmt(full)))
        figs.append(Figure("决算数", _fmt(actual)))
        over = actual - budget
        figs.append(Figure("超出年初预算", _fmt(over) + (f"（{_pct(over / budget * 100)}）" if budget else "")))
        zero = not budget
        sev: Severity = "high" if zero else ("medium" if item == "total" or over / budget > Decimal("0.05") else "low")
        if zero:
            title = f"{name}年初未安排预算（预算数为空），决算支出{_q(actual)}万元"
            qs = [
                f"{name}年初预算为0，全年预算调增至{_q(full)}万元并全部支出，这项支出是何时、依据什么决定的？"
                if full
                else f"{name}年初未安排预算，却支出{_q(actual)}万元，依据是什么、由谁审批？"
            ]
            if item == "overseas":
                extra = "、".join(f"{k}{_q(v.value)}" for k, v in counts.items() if "出国" in k and v.value is not None)
                qs.append(
                    f"请说明因公出国（境）的团组、人员、目的地和成果{('（表中：' + extra + '）') if extra else ''}，为何未列入年初预算？"
                )
            else:
                qs.append(f"{name}支出的具体内容是什么？今后如何在年初预算中足额、如实编列？")
        else:
            title = f"{name}决算{_q(actual)}万元，超过年初预算{_q(budget)}万元"
            qs = [
                f"{name}决算{_q(actual)}万元，超出年初预算{_q(budget)}万元（多{_q(over)}万元），追加预算的原因和审批程序是什么？"
            ]
            if item == "total":
                parts = [i for i in ("overseas", "vehicles", "reception") if i in tp and tp[i].get("actual") is not None]
                grew = [
                    _TP_ZH[i]
                    for i in parts
                    if (tp[i]["actual"].value or 0) > ((tp[i]["budget"].value if tp[i].get("budget") else Decimal(0)) or 0)
                ]
                if grew:
                    qs.append(f"超支主要来自{('、'.join(grew))}，“三公”经费“只减不增”的要求是如何落实的？")
        detail = (
            f"{name}：年初预算数{_fmt(budget) if bud_f else '为空（0）'}"
            + (f"，全年预算数{_fmt(full)}" if full is not None else "")
            + f"，决算数{_fmt(actual)}，比年初预算多{_fmt(over)}。"
        )
        ctx.add(
            category="budget_vs_actual",
            severity=sev,
            title=title,
            detail=detail,
            figures=figs,
            cells=refs,
            questions=qs,
            rule="three_public_over_budget",
            key=f"tp|{_TP_ITEMS.index(item)}",
        )
    # overseas spending without any delegation
    ov = tp.get("overseas", {}).get("actual")
    groups = next((v for k, v in counts.items() if "团组" in k), None)
    people = next((v for k, v in counts.items() if "出国" in k and "人次" in k), None)
    if ov is not None and ov.value and groups is not None and groups.value == 0:
        cells_ = [ov.ref(), groups.ref()] + ([people.ref()] if people is not None else [])
        ctx.add(
            category="consistency",
            severity="low",
            title=f"因公出国（境）费{_q(ov.value)}万元，但团组数为0",
            detail=f"表中因公出国（境）团组数为0{('、人次数为' + _q(people.value)) if people is not None and people.value is not None else ''}，"
            f"却有因公出国（境）费{_fmt(ov.value)}。",
            figures=[Figure("因公出国（境）费", _fmt(ov.value)), Figure("团组数", "0")]
            + ([Figure("人次数", people.raw)] if people is not None else []),
            cells=cells_,
            questions=["因公出国（境）团组数为0，为什么仍有因公出国（境）费支出？是随其他单位团组出访，还是费用归属有误？"],
            rule="overseas_without_delegation",
            key="tp|overseas_groups",
        )


def _tp_counts(ctx: _Ctx) -> dict[str, _F]:
    out: dict[str, _F] = {}
    for tid in ctx.tables_of("three_public_expenses")[:1]:
        for f in ctx.facts:
            if f.table_id != tid or f.value is None:
                continue
            lab = norm_label(f.row_label or f.column)
            if _SKIP_COLUMN.search(norm_label(f.column)):
                continue
            if re.search(r"团组数|人次数|人次|批次|保有量|购置数", lab):
                key = _strip_numbering(f.row_label or f.column)
                if key not in out or _tp_measure(f.column) == "actual":
                    out[key] = f
    return out


# --------------------------------------------------------------------------- projects: budget cut, execution rates


@dataclass
class _Project:
    name: str
    initial: _F | None = None
    full: _F | None = None
    executed: _F | None = None
    rate: _F | None = None
    task_budget: _F | None = None
    task_actual: _F | None = None
    task_rate: _F | None = None
    task_reason: str = ""
    task_reason_f: _F | None = None


def _name_key(name: str) -> str:
    return re.sub(r"[\s“”\"'‘’《》()（）·]", "", name)


def _project_name(rows: list[_Row], table_title: str) -> str:
    for r in rows:
        toks = [t for t, _ in r.tokens()]
        for i, t in enumerate(toks):
            if norm_label(t).startswith("项目名称"):
                rest = norm_label(t)[4:].lstrip(":")
                if rest:
                    return rest
                for nxt in toks[i + 1 :]:
                    if nxt.strip():
                        return nxt.strip()
        for f in r.facts:
            if "项目名称" in norm_label(f.column) and f.value is None and f.raw:
                return f.raw
    # header not recognised as such: the name may sit in the column labels (项目名称 › 招商工作经费)
    by_col: dict[int, str] = {}
    for r in rows:
        for f in r.facts:
            by_col.setdefault(f.col, f.column)
    segs = [seg.strip() for _, col in sorted(by_col.items()) for seg in col.split("›")]
    segs = [x for i, x in enumerate(segs) if x and (i == 0 or x != segs[i - 1])]
    for i, seg in enumerate(segs):
        if norm_label(seg).startswith("项目名称"):
            rest = norm_label(seg)[4:].lstrip(":")
            if rest:
                return rest
            if i + 1 < len(segs):
                return segs[i + 1]
    m = re.search(r"[（(]([^()（）]+)[)）]\s*$", table_title)
    return m.group(1) if m else ""


def _project_tables(ctx: _Ctx) -> list[_Project]:
    projects: list[_Project] = []
    for tid in ctx.tables_of("project_performance"):
        rows = [r for r in ctx.rows if r.table_id == tid]
        title = next((f.table_title for r in rows for f in r.facts), "")
        name = _project_name(rows, title) or title or tid
        funds = None
        for r in rows:
            if "资金总额" in norm_label(r.text) or "年度资金" in norm_label(r.text):
                funds = r
                break
        if funds is None:
            funds = next((r for r in rows if sum(f.is_num for f in r.facts) >= 3 and any(f.is_pct for f in r.facts)), None)
        if funds is None:
            continue
        lab = funds.label.split("›")[0].strip()
        if lab and not re.search(r"资金总额|年度资金|当年财政拨款|项目资金", lab):
            name = lab
        p = _Project(name=name)
        nums = [f for f in funds.facts if f.is_num]
        p.initial = _first_by_column(nums, "年初预算") or (nums[0] if len(nums) > 0 else None)
        p.full = _first_by_column(nums, "全年预算") or (nums[1] if len(nums) > 1 else None)
        p.executed = _first_by_column(nums, "执行数", "实际支出", "全年执行") or (nums[2] if len(nums) > 2 else None)
        p.rate = _first_by_column([f for f in funds.facts if f.value is not None], "执行率") or next(
            (f for f in funds.facts if f.is_pct), None
        )
        if p.rate is not None and not p.rate.is_pct and "执行率" not in norm_label(p.rate.column):
            p.rate = None
        projects.append(p)
    return projects


def _key_tasks(ctx: _Ctx) -> list[_Project]:
    """Rows of the 重点工作任务 part: name, 批复金额, 实际支出金额, 预算执行率, reason."""
    out: list[_Project] = []
    for r in ctx.rows:
        if r.facts and r.facts[0].table_kind == "project_performance":
            continue
        toks = r.tokens()
        if any(t.strip() in OPS for t, _ in toks):
            continue
        if "资金总额" in norm_label(r.text) or "合计" in norm_label(r.label):
            continue
        pcts = [f for f in r.facts if f.is_pct]
        nums = [f for f in r.facts if f.is_num]
        if len(pcts) != 1 or len(nums) < 2:
            continue
        rate = pcts[0]
        rate_col = norm_label(rate.column)
        if "执行率" not in rate_col and rate.table_kind != "performance_indicators":
            continue  # a share column (占比) of an ordinary table is no execution rate
        if rate_col and "率" not in rate_col and any("率" in norm_label(f.column) for f in r.facts):
            continue
        before = [f for f in nums if f.col < rate.col]
        if len(before) < 2:
            continue
        name = r.label or (toks[0][0] if toks else "")
        if not name or NUM_RE.match(name) or PCT_RE.match(name):
            continue
        p = _Project(name=name.strip())
        p.task_budget = _first_by_column(before, "总额", "批复", "预算") or before[0]
        p.task_actual = _first_by_column(before, "实际支出", "执行数", "实际") or before[-1]
        p.task_rate = rate
        after = [f for f in r.facts if f.col > rate.col and f.value is None and len(f.raw) >= 4]
        if after:
            p.task_reason, p.task_reason_f = after[0].raw, after[0]
        out.append(p)
    return out


def _project_findings(ctx: _Ctx) -> None:
    projects = _project_tables(ctx)
    tasks = _key_tasks(ctx)
    merged: dict[str, _Project] = {}
    for p in projects:
        merged.setdefault(_name_key(p.name), p)
    project_keys = sorted(merged)
    for t in tasks:
        k = _name_key(t.name)
        target = merged.get(k) if k in project_keys else None
        if target is None:
            near = [kk for kk in project_keys if kk and (kk in k or k in kk)]
            target = merged[near[0]] if len(near) == 1 and not any(_name_key(o.name) == near[0] for o in tasks) else None
        if target is None:
            merged.setdefault(k, t)
            continue
        target.task_budget, target.task_actual, target.task_rate = t.task_budget, t.task_actual, t.task_rate
        target.task_reason, target.task_reason_f = t.task_reason, t.task_reason_f
    for k in sorted(merged):
        p = merged[k]
        initial = _v(p.initial) if p.initial is not None else _v(p.task_budget)
        full = _v(p.full)
        executed = _v(p.executed) if p.executed is not None else _v(p.task_actual)
        rate = _pct_value(p.rate.raw) if p.rate is not None else None
        task_rate = _pct_value(p.task_rate.raw) if p.task_rate is not None else None
        cells = [
            f.ref() for f in (p.initial, p.full, p.executed, p.rate, p.task_budget, p.task_actual, p.task_rate) if f is not None
        ]
        reason = p.task_reason
        if p.task_reason_f is not None:
            cells.append(p.task_reason_f.ref())
        cut = initial is not None and full is not None and full < initial
        matched = cut and executed is not None and full is not None and abs(executed - full) < Decimal("0.005")
        rates_differ = rate is not None and task_rate is not None and abs(rate - task_rate) > Decimal("0.5")
        figs: list[Figure] = []
        if initial is not None:
            figs.append(Figure("年初预算数", _fmt(initial)))
        if full is not None:
            figs.append(Figure("全年预算数", _fmt(full)))
        if executed is not None:
            figs.append(Figure("全年执行数", _fmt(executed)))
        if task_rate is not None:
            figs.append(Figure("预算执行率（重点工作任务表）", p.task_rate.raw if p.task_rate else ""))
        if rate is not None:
            figs.append(Figure("执行率（项目自评表）", p.rate.raw if p.rate else ""))
        low = min((x for x in (task_rate, rate) if x is not None), default=None)
        if executed is not None and initial:
            computed = (executed / initial * 100).quantize(CENT)
            if low is None:
                low = computed
        else:
            computed = None
        reason_part = f"报告给出的原因是“{reason}”。" if reason else ""
        if cut:
            assert initial is not None and full is not None  # cut implies both
            title = (
                f"{p.name}：年初预算{_q(initial)}万元，年中调减至{_q(full)}万元"
                + ("，恰好等于执行数" if matched else "")
                + (f"；执行率一处{p.task_rate.raw}、一处{p.rate.raw}" if rates_differ and p.task_rate and p.rate else "")
            )
            detail = (
                f"全年预算数（{_fmt(full)}）比年初预算数（{_fmt(initial)}）少{_fmt(initial - full)}"
                + (f"，与全年执行数{_fmt(executed)}相同，" if matched else "，")
                + "；".join(
                    x
                    for x in (
                        f"项目自评表按调整后预算计算执行率为{p.rate.raw}" if p.rate is not None else "",
                        f"部门整体自评表的重点工作任务执行率为{p.task_rate.raw}（按年初预算计算）"
                        if p.task_rate is not None
                        else "",
                    )
                    if x
                )
                + "。"
                + reason_part
            )
            qs = [
                f"{p.name}年初预算{_q(initial)}万元，全年预算调减至{_q(full)}万元，调减原因是什么？"
                + ("未开展的活动涉及哪些内容？" if reason and "未" in reason else "调减的资金用到了哪里？")
            ]
            if rates_differ:
                assert p.task_rate is not None and p.rate is not None  # rates_differ implies both
                qs.append(
                    f"同一项目的执行率在部门整体自评表中为{p.task_rate.raw}、在项目自评表中为{p.rate.raw}，"
                    "按调减后的预算计算100%执行是否掩盖了执行偏低的问题？"
                )
            ctx.add(
                category="budget_vs_actual",
                severity="high" if matched or rates_differ else "medium",
                title=title,
                detail=detail,
                figures=figs,
                cells=cells,
                questions=qs,
                rule="budget_cut_to_actual",
                key=f"project|{k}",
            )
            continue
        if rates_differ:
            assert p.task_rate is not None and p.rate is not None  # rates_differ implies both
            ctx.add(
                category="consistency",
                severity="medium",
                title=f"{p.name}：执行率一处{p.task_rate.raw}、一处{p.rate.raw}",
                detail=f"同一项目在两张表中的预算执行率不同。{reason_part}",
                figures=figs,
                cells=cells,
                questions=[f"{p.name}的预算执行率到底是{p.task_rate.raw}还是{p.rate.raw}？两者的计算口径有何不同？"],
                rule="execution_rate_mismatch",
                key=f"project|{k}",
            )
            continue
        if low is not None and low < LOW_EXECUTION_RATE:
            ctx.add(
                category="budget_vs_actual",
                severity="medium" if low >= 70 else "high",
                title=f"{p.name}：预算执行率{_pct(low)}，低于{LOW_EXECUTION_RATE}%",
                detail=f"预算{_fmt(initial)}，执行{_fmt(executed)}。{reason_part}",
                figures=figs,
                cells=cells,
                questions=[
                    f"{p.name}预算执行率只有{_pct(low)}，未执行的{_q((initial or Decimal(0)) - (executed or Decimal(0)))}万元涉及哪些工作？资金如何处理？"
                ],
                rule="low_execution",
                key=f"project|{k}",
            )
            continue
        if executed is not None and full is not None and executed > full + Decimal("0.005"):
            ctx.add(
                category="budget_vs_actual",
                severity="medium",
                title=f"{p.name}：执行数{_q(executed)}万元超过全年预算{_q(full)}万元",
                detail=f"全年执行数{_fmt(executed)}大于全年预算数{_fmt(full)}。",
                figures=figs,
                cells=cells,
                questions=[f"{p.name}支出超过全年预算{_q(executed - full)}万元，超支资金来源和审批程序是什么？"],
                rule="project_over_budget",
                key=f"project|{k}",
            )
