"""Performance self-evaluation: indicators all at target, full scores, qualitative targets in %, no units."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.glossary import normalize_text
from assistant.review.budget import _project_name
from assistant.review.model import (
    _F,
    NUM_RE,
    OPS,
    PCT_RE,
    Figure,
    _Ctx,
    _dec,
    _first_by_column,
)


@dataclass
class _Indicator:
    name: str
    op: str
    target: _F | None
    target_raw: str
    unit: str
    actual: _F | None
    actual_raw: str
    max_score: _F | None
    score: _F | None
    table_id: str
    project: str


def _is_unit_token(tok: str, target: str) -> bool:
    t = tok.strip()
    if not t or t == target.strip() or NUM_RE.match(t) or PCT_RE.match(t):
        return False
    return len(t) <= 4


def _indicators(ctx: _Ctx) -> list[_Indicator]:
    out: list[_Indicator] = []
    names: dict[str, str] = {}
    for tid in ctx.tables_of("project_performance"):
        rows = [r for r in ctx.rows if r.table_id == tid]
        names[tid] = _project_name(rows, "")
    for r in ctx.rows:
        kind = r.facts[0].table_kind if r.facts else ""
        if kind not in ("performance_indicators", "project_performance"):
            continue
        toks = r.tokens()
        opi = next((i for i, (t, _) in enumerate(toks) if t.strip() in OPS), None)
        if opi is None or opi + 1 >= len(toks):
            continue
        # column labels first, positions as the fallback
        facts = r.facts
        tgt = _first_by_column(facts, "指标值")
        unit_f = _first_by_column(facts, "度量单位", "计量单位", "单位")
        act = _first_by_column(facts, "实际完成", "完成值", "实际值")
        mx = _first_by_column(facts, "分值")
        sc = _first_by_column(facts, "得分")
        rest = toks[opi + 1 :]
        if tgt is None or act is None:
            tgt_tok = rest[0]
            i = 1
            unit = ""
            if i < len(rest) and _is_unit_token(rest[i][0], tgt_tok[0]):
                unit = rest[i][0].strip()
                i += 1
            act_tok = rest[i] if i < len(rest) else ("", None)
            nums_after = [f for _, f in rest[i + 1 :] if f is not None and f.is_num]
            tgt, act = tgt_tok[1], act_tok[1]
            target_raw, actual_raw = tgt_tok[0].strip(), act_tok[0].strip()
            if mx is None and sc is None and len(nums_after) >= 2:
                mx, sc = nums_after[0], nums_after[1]
        else:
            target_raw, actual_raw = tgt.raw, act.raw
            unit = unit_f.raw if unit_f is not None and unit_f is not tgt else ""
        if not unit and tgt is not None and tgt.unit and tgt.unit not in ("万元", "元"):
            unit = tgt.unit
        name = toks[opi - 1][0].strip() if opi > 0 else r.label
        project = names.get(r.table_id, "")
        if "›" in name:
            project = project or name.split("›")[0].strip()
            name = name.split("›")[-1].strip()
        out.append(_Indicator(name, toks[opi][0].strip(), tgt, target_raw, unit, act, actual_raw, mx, sc, r.table_id, project))
    return out


def _same(a: str, b: str) -> bool:
    x, y = normalize_text(a).replace(" ", ""), normalize_text(b).replace(" ", "")
    if x == y:
        return True
    dx, dy = _dec(x.rstrip("%％").replace(",", "")), _dec(y.rstrip("%％").replace(",", ""))
    return dx is not None and dy is not None and dx == dy


def _performance_findings(ctx: _Ctx) -> None:
    inds = [i for i in _indicators(ctx) if i.target_raw and i.actual_raw]
    if not inds:
        return
    at_target = [i for i in inds if _same(i.target_raw, i.actual_raw)]
    if len(inds) >= 3 and len(at_target) == len(inds):
        cells = [c.ref() for i in inds for c in (i.target, i.actual) if c is not None]
        ex = "；".join(f"{i.name} 目标{i.op}{i.target_raw}{i.unit}，完成{i.actual_raw}{i.unit}" for i in inds[:3])
        ctx.add(
            category="performance",
            severity="medium",
            title=f"全部{len(inds)}项绩效指标的实际完成值都恰好等于指标值",
            detail=f"{len(inds)}项指标（含“≥”类指标）实际完成值与目标值一字不差，例如：{ex}。自评结果难以说明真实绩效。",
            figures=[Figure("指标数", str(len(inds))), Figure("恰好等于目标的指标数", str(len(at_target)))],
            cells=cells,
            questions=[
                "所有绩效指标的实际完成值都与目标值完全相同，这些完成值有哪些佐证材料？是否按实际统计填报？",
                f"例如“{inds[0].name}”目标{inds[0].op}{inds[0].target_raw}{inds[0].unit}，实际恰好{inds[0].actual_raw}{inds[0].unit}，请提供统计口径和原始数据。",
            ],
            rule="all_at_target",
            key="perf|all_at_target",
        )
    elif len(inds) >= 5 and len(at_target) / len(inds) >= 0.9:
        ctx.add(
            category="performance",
            severity="low",
            title=f"{len(at_target)}/{len(inds)}项绩效指标的实际完成值恰好等于指标值",
            detail="绝大多数指标实际值与目标值完全相同。",
            figures=[Figure("指标数", str(len(inds))), Figure("恰好等于目标的指标数", str(len(at_target)))],
            cells=[c.ref() for i in at_target for c in (i.target, i.actual) if c is not None],
            questions=["多数绩效指标的实际完成值与目标值完全相同，这些完成值是如何统计的？"],
            rule="mostly_at_target",
            key="perf|mostly_at_target",
        )
    scored = [i for i in inds if i.max_score is not None and i.score is not None and i.max_score.value is not None]
    if len(scored) >= 3:
        full = [i for i in scored if i.score is not None and i.max_score is not None and i.score.value == i.max_score.value]
        if len(full) == len(scored):
            projects = sorted({i.project for i in scored if i.project})
            ctx.add(
                category="performance",
                severity="medium",
                title=f"全部{len(scored)}项打分指标均得满分" + (f"（{len(projects)}个项目）" if projects else ""),
                detail="每项指标得分都等于分值" + (f"，涉及项目：{'、'.join(projects)}" if projects else "") + "。",
                figures=[Figure("打分指标数", str(len(scored))), Figure("满分指标数", str(len(full)))],
                cells=[c.ref() for i in scored for c in (i.max_score, i.score) if c is not None],
                questions=["各项目所有指标都得满分、自评均为“优”，自评打分的依据是什么？是否有第三方复核？"],
                rule="all_full_scores",
                key="perf|all_full_scores",
            )
    # qualitative targets measured in % (or scored as numbers)
    qual = [i for i in inds if _dec(i.target_raw.rstrip("%％").replace(",", "")) is None and i.target_raw not in OPS]
    qual_pct = [i for i in qual if i.unit in ("%", "％")]
    if qual_pct:
        names = "、".join(f"“{i.name}”（{i.target_raw}，单位%）" for i in qual_pct[:6])
        scored_q = [i for i in qual_pct if i.score is not None and i.score.value]
        ctx.add(
            category="performance",
            severity="medium" if scored_q else "low",
            title=f"{len(qual_pct)}项定性指标以“%”为度量单位" + ("并按数值打满分" if scored_q else ""),
            detail=f"指标值不是数字，度量单位却填“%”：{names}"
            + ("等" if len(qual_pct) > 6 else "")
            + "。这类指标无法衡量完成程度。",
            figures=[Figure("定性指标（单位%）数", str(len(qual_pct))), Figure("其中计分", str(len(scored_q)))],
            cells=[c.ref() for i in qual_pct for c in (i.target, i.actual, i.score) if c is not None],
            questions=[
                f"“{qual_pct[0].name}”的目标是“{qual_pct[0].target_raw}”，单位却是“%”，完成程度如何衡量？为什么能得满分？",
                "今后能否把定性目标改为可量化、可核验的指标？",
            ],
            rule="qualitative_pct_target",
            key="perf|qual_pct",
        )
    no_unit = [i for i in inds if not i.unit and _dec(i.target_raw.replace(",", "")) is not None]
    if no_unit:
        ctx.add(
            category="performance",
            severity="low",
            title=f"{len(no_unit)}项数值指标没有度量单位",
            detail="、".join(f"“{i.name}”（{i.target_raw}）" for i in no_unit[:8]) + "。",
            figures=[Figure("无单位指标数", str(len(no_unit)))],
            cells=[i.target.ref() for i in no_unit if i.target is not None],
            questions=[f"“{no_unit[0].name}”的指标值{no_unit[0].target_raw}是什么单位？"],
            rule="target_without_unit",
            key="perf|no_unit",
        )
    below_full = [
        i
        for i in scored
        if _dec(i.actual_raw.replace(",", "")) is not None
        and _dec(i.target_raw.replace(",", "")) is not None
        and i.op in ("≥", "≧", ">=", "＞", ">")
        and _dec(i.actual_raw.replace(",", "")) < _dec(i.target_raw.replace(",", ""))  # type: ignore[operator]
        and i.score is not None
        and i.max_score is not None
        and i.score.value == i.max_score.value
    ]
    for i in below_full:
        assert i.score is not None and i.max_score is not None  # below_full keeps only scored indicators
        ctx.add(
            category="performance",
            severity="high",
            title=f"“{i.name}”未达目标却得满分",
            detail=f"目标{i.op}{i.target_raw}{i.unit}，实际{i.actual_raw}{i.unit}，得分{i.score.raw}（满分{i.max_score.raw}）。",
            figures=[
                Figure("指标值", i.target_raw + i.unit),
                Figure("实际完成值", i.actual_raw + i.unit),
                Figure("得分", i.score.raw),
            ],
            cells=[c.ref() for c in (i.target, i.actual, i.max_score, i.score) if c is not None],
            questions=[f"“{i.name}”实际完成{i.actual_raw}{i.unit}，未达到目标{i.target_raw}{i.unit}，为什么仍得满分？"],
            rule="missed_target_full_score",
            key=f"perf|missed|{i.table_id}|{i.name}",
        )
