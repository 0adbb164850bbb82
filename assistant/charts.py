"""Chart data for the app, as pandas frames in 万元 (no gradio here): the 三公 breakdown, budget against
actual, spending by function class, and one 三公 item across reports.

Every function takes the served ``IndexData`` (or None: an empty frame) and never shows a
printed budget as an actual.
"""

from __future__ import annotations

import re

import pandas as pd

from assistant.store import IndexData

THREE_PUBLIC = [
    ("total", "“三公”经费合计", "合计"),
    ("overseas", "因公出国（境）费", "出国"),
    ("vehicles", "公务用车购置及运行维护费", "用车"),
    ("reception", "公务接待费", "接待"),
]
MEASURES = ["预算数", "全年预算数", "决算数"]
_VEHICLE_PARTS = re.compile(r"›\s*(公务用车)?(购置费|运行维护费|运行费)\s*(›|$)")


def _money(df: pd.DataFrame) -> pd.DataFrame:
    df = df[df.value_wan.notna()].copy()
    df["万元"] = [float(v) for v in df.value_wan]
    return df


def _tp_item(key: str) -> str | None:
    """Which 三公 item a cell is about, from its row label and column path together.

    Tables print the items as rows (Yunnan: 3.公务接待费 …) or as columns (Shanghai, Jiangsu:
    “三公”经费 › 公务接待费 › 预算数); sub-items (国内接待费, 公务用车购置费 …) are not items.
    """
    if "因公出国" in key and not re.search(r"团组|人次|人数", key):
        return "overseas"
    if "公务用车购置及运行" in key and not _VEHICLE_PARTS.search(key) and not re.search(r"（辆）|\(辆\)|购置数|保有量", key):
        return "vehicles"
    if "公务接待费" in key:
        return "reception"
    if re.search(r"会议费|培训费|机关运行", key):
        return None
    if ("三公" in key and re.search(r"合计|小计", key)) or re.search(r"支出合计", key):
        return "total"
    return None


def _tp_measure(key: str, kind: str) -> str:
    if "决算" in key or "实际" in key or "执行数" in key:
        return "决算数"
    if "全年预算" in key:
        return "全年预算数"
    if "预算" in key:
        return "预算数"
    return "预算数" if kind == "预算" else "决算数"


def three_public_figures(idx: IndexData, report_id: str) -> pd.DataFrame:
    """The 三公 total and its three parts of one report, per measure (预算数 / 全年预算数 / 决算数), in 万元.

    The first 三公 table of the report is used (公开10表 before 公开11表); the first cell of each
    (item, measure) wins (the item's own row before its sub-rows).
    """
    cols = ["item", "项目", "短名", "口径", "万元"]
    meta = idx.report(report_id)
    df = _money(idx.facts[(idx.facts.report_id == report_id) & (idx.facts.table_kind == "three_public_expenses")])
    if meta is None or not len(df):
        return pd.DataFrame(columns=cols)
    df = df[df.table_id == sorted(df.table_id.unique(), key=lambda t: (len(t), t))[0]].sort_values("row_index", kind="stable")
    names = {k: (label, short) for k, label, short in THREE_PUBLIC}
    seen: dict[tuple[str, str], float] = {}
    for r in df.itertuples():
        key = f"{r.row_label} › {r.column}"
        item = _tp_item(key)
        if item is None:
            continue
        seen.setdefault((item, _tp_measure(key, meta.kind)), float(r.万元))
    order = {k: i for i, (k, _, _) in enumerate(THREE_PUBLIC)}
    rows = [
        (item, names[item][0], names[item][1], measure, v)
        for (item, measure), v in sorted(seen.items(), key=lambda kv: (order[kv[0][0]], MEASURES.index(kv[0][1])))
    ]
    return pd.DataFrame(rows, columns=cols)


def _headline_measure(fig: pd.DataFrame, kind: str) -> str:
    """决算数 for final accounts (when printed), else the budget."""
    have = set(fig["口径"])
    for m in ["决算数", "全年预算数", "预算数"] if kind == "决算" else ["预算数", "全年预算数", "决算数"]:
        if m in have:
            return m
    return "预算数"


def chart_three_public(idx: IndexData | None, report_id: str | None) -> pd.DataFrame:
    """三公 breakdown of a report: the three parts, in 万元 (actual for 决算 reports, budget otherwise)."""
    empty = pd.DataFrame({"项目": [], "万元": []})
    meta = idx.report(report_id) if idx is not None and report_id else None
    if meta is None or idx is None:
        return empty
    fig = three_public_figures(idx, meta.report_id)
    if not len(fig):
        return empty
    m = _headline_measure(fig, meta.kind)
    out = fig[(fig["口径"] == m) & (fig["item"] != "total")][["项目", "万元"]].reset_index(drop=True)
    if meta.kind == "决算" and m != "决算数":  # the actual is not printed: say which figure this is
        out["项目"] = [f"{x}（{m}）" for x in out["项目"]]
    return out if len(out) else empty


def chart_budget_vs_actual(idx: IndexData | None, report_id: str | None) -> pd.DataFrame:
    """三公 items: initial budget, full-year budget and actual side by side."""
    empty = pd.DataFrame({"项目": [], "万元": [], "口径": []})
    if idx is None or not report_id:
        return empty
    fig = three_public_figures(idx, report_id)
    if not len(fig):
        return empty
    return pd.DataFrame(
        {
            "项目": [f"{s}·{m.removesuffix('数')}" for s, m in zip(fig["短名"], fig["口径"], strict=True)],
            "万元": fig["万元"],
            "口径": fig["口径"],
        }
    )


def chart_by_function(idx: IndexData | None, report_id: str | None) -> pd.DataFrame:
    """Spending by function class (类, 3-digit codes) of a report, in 万元."""
    empty = pd.DataFrame({"功能分类": [], "万元": []})
    if idx is None or not report_id:
        return empty
    df = idx.facts[(idx.facts.report_id == report_id) & idx.facts.code.notna()]
    for kind in ("expenditure_by_function", "general_budget_by_function", "income_by_function"):
        part = _money(df[(df.table_kind == kind) & (df.code.str.len() == 3)])
        if not len(part):
            continue
        # the first (total) column of the first table of that kind
        part = part[part.table_id == part.table_id.iloc[0]]
        col = part.column.iloc[0]
        part = part[part.column == col]
        out = part.groupby("row_label", sort=False)["万元"].first().reset_index()
        out.columns = ["功能分类", "万元"]
        return out[out["万元"] != 0].reset_index(drop=True)
    return empty


CROSS_ITEMS = [label for _, label, _ in THREE_PUBLIC]


AXIS_NAME_CHARS = 10
"""Department names on a chart axis keep at most this many characters (the axis cuts longer labels itself)."""


def short_department_names(departments: list[str], limit: int = AXIS_NAME_CHARS) -> dict[str, str]:
    """Department → a short axis label: without its place (浙江省高级人民法院 → 高级人民法院), and a long name
    by its distinguishing end (…长青街道办事处); the name as printed where short forms would collide."""
    from assistant.places import strip_place_prefix

    def short(d: str) -> str:
        rest = strip_place_prefix(d)[1] or d
        return rest if len(rest) <= limit else "…" + rest[-(limit - 1) :]

    names = {d: short(d) for d in set(departments)}
    count: dict[str, int] = {}
    for n in names.values():
        count[n] = count.get(n, 0) + 1
    return {d: n if count[n] == 1 else d for d, n in names.items()}


def chart_across(idx: IndexData | None, item: str | None) -> pd.DataFrame:
    """One 三公 figure across all ingested reports (actual for 决算, budget for 预算), in 万元."""
    empty = pd.DataFrame({"报告": [], "万元": [], "类型": []})
    if idx is None or item not in CROSS_ITEMS:
        return empty
    rows = []
    names = short_department_names([r.department for r in idx.reports])
    for r in sorted(idx.reports, key=lambda r: (r.department, r.year)):
        fig = three_public_figures(idx, r.report_id)
        fig = fig[fig["项目"] == item]
        if not len(fig):
            continue
        hit = fig[fig["口径"] == ("决算数" if r.kind == "决算" else "预算数")]  # never show a budget as an actual
        if not len(hit):
            continue
        scope = "（单位）" if r.scope == "单位" else ""
        rows.append(
            {"报告": f"{names[r.department]}{scope} {r.year}{r.kind}", "万元": float(hit.iloc[0]["万元"]), "类型": r.kind}
        )
    return pd.DataFrame(rows) if rows else empty
