"""Route a question to the table tool, to retrieval, to both, or to none — deterministically.

Signals: items the planner resolved (glossary terms, printed row labels, codes), figure words
(多少, how much, 占比, rank …), reason words (为什么, why …), descriptive words (情况, 职责,
问题, describe …) and fiscal-domain words. "为什么招商工作经费执行率低？" has a reason word and an
item → both.

LLM hook: when the rules see no signal at all and ``llm`` has ``route(question) -> str``, its
answer is used if it is one of the four routes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from assistant.ask.planner import ParsedQuestion, Vocab
from assistant.glossary import normalize_text
from assistant.models import Route

log = logging.getLogger(__name__)

FIG_ZH = (
    "多少", "几个", "几辆", "几次", "几批", "几人", "金额", "数额", "总额", "是几", "有几", "占比", "比例", "比重", "百分",
    "排名", "最多", "最少", "最高", "最低", "同比", "增长", "减少了", "增加了", "相差", "差额", "合计", "总共", "一共", "共计",
    "万元", "执行率", "决算数", "预算数", "原值", "净值", "指标值", "完成值", "明细", "构成", "分别", "列出", "数字", "数据",
    "花了", "花费", "用了多少", "支出了", "开支", "规模", "变化", "变动", "降幅", "增幅", "哪个部门", "哪些部门", "排序", "各部门",
)  # fmt: skip
FIG_EN = (
    "how much", "how many", "amount", "figure", "total", "sum", "share", "percentage", "percent", "proportion", "ratio",
    "rank", "ranking", "highest", "lowest", "largest", "most", "least", "top", "difference", "change", "increase",
    "decrease", "growth", "year-over-year", "yoy", "breakdown", "break down", "spent", "spend", "spending", "budgeted",
    "budget for", "cost", "costs", "value", "rate", "number of", "list", "compare", "compared", "which department",
)  # fmt: skip
WHY_ZH = ("为什么", "为何", "原因", "什么导致", "因为什么", "怎么回事", "偏低", "偏高", "为啥", "咋")
WHY_EN = ("why", "reason", "reasons", "cause", "explain why", "how come")
DESC_ZH = (
    "情况", "介绍", "说明", "职责", "职能", "问题", "整改", "经验", "做法", "措施", "目标", "概况", "主要内容", "评价", "结论",
    "结果应用", "怎么", "如何", "哪些", "什么", "是否", "有没有", "内容", "机构", "设置", "举措", "成效", "效果", "要求",
    "意义", "用途", "用于", "依据", "制度", "管理", "解释", "含义", "定义", "讲了", "提到",
)  # fmt: skip
DESC_EN = (
    "what are", "what is", "what does", "what did", "describe", "how does", "how did", "how do", "responsibilit", "problem",
    "issue", "measure", "goal", "objective", "overview", "summar", "explain", "mean", "definition", "purpose", "lesson",
    "experience", "rectif", "evaluation", "conclusion", "tell me about", "say about", "mission", "function of", "duties",
)  # fmt: skip
DESC_ZH_STRONG = (
    "情况", "介绍", "职责", "职能", "问题", "整改", "经验", "做法", "措施", "目标", "概况", "主要内容", "评价", "结论",
    "结果应用", "怎么", "如何", "哪些", "是否", "机构", "举措", "成效", "效果", "用途", "依据", "制度", "含义", "定义", "性质", "安排",
)  # fmt: skip
DESC_EN_STRONG = (
    "describe", "responsibilit", "problem", "issues", "measures", "goal", "objective", "overview", "summar", "explain",
    "purpose", "lesson", "experience", "rectif", "evaluation", "conclusion", "tell me about", "mission", "duties", "functions",
)  # fmt: skip
DOMAIN_ZH = (
    "预算", "决算", "经费", "支出", "收入", "资金", "部门", "绩效", "财政", "拨款", "三公", "资产", "项目", "报告", "公开",
    "单位", "费", "结转", "结余", "科目", "编制", "政府采购", "采购", "人员", "机构", "职能", "职责", "整改", "经验", "做法",
    "目标", "概况", "评价", "结论", "自评", "措施", "工程", "专项", "工作", "任务", "立法", "调解", "招商",
)  # fmt: skip
DOMAIN_EN = (
    "budget", "final account", "spending", "expenditure", "income", "revenue", "fund", "department", "bureau",
    "performance", "fiscal", "appropriation", "asset", "project", "report", "procurement", "expense", "function",
    "responsibilit", "duties", "mission", "problem", "rectif", "evaluation", "goal", "objective", "self-evaluation",
)  # fmt: skip


FIG_ZH_STRICT = ("多少", "执行率", "是几")
FIG_EN_STRICT = ("how much", "execution rate", "how many")
COMPARE_ZH = ("低", "少", "小于", "高", "超", "多于", "大于", "不足")
COMPARE_EN = ("low", "below", "less than", "under", "high", "above", "exceed", "over budget")
HOWTO_ZH = ("怎样", "怎么", "如何", "采取", "措施")
HOWTO_EN = ("how was", "how were", "how is", "how did they", "what measures")


def _has(q: str, words: tuple[str, ...]) -> bool:
    return any(w in q for w in words)


def _has_en(q: str, words: tuple[str, ...]) -> bool:
    return any(re.search(r"(?<![a-z])" + re.escape(w), q) for w in words)


def route_question(question: str, vocab: Vocab, pq: ParsedQuestion | None = None, llm: Any = None) -> Route:
    """table | text | both | none for ``question`` (``pq``: the planner's parse, reused when given)."""
    q = normalize_text(question)
    if not re.search(r"[a-z\u4e00-\u9fff]", q):
        return "none"
    item = bool(pq and pq.plan.items)
    fig = _has(q, FIG_ZH) or _has_en(q, FIG_EN) or bool(pq and pq.op_named and pq.plan.operation != "lookup")
    why = _has(q, WHY_ZH) or _has_en(q, WHY_EN)
    desc = _has(q, DESC_ZH) or _has_en(q, DESC_EN)
    strong_desc = _has(q, DESC_ZH_STRONG) or _has_en(q, DESC_EN_STRONG)
    dept = bool(pq and (pq.departments or pq.dept_ambiguous))
    domain = _has(q, DOMAIN_ZH) or _has_en(q, DOMAIN_EN) or dept or bool(pq and pq.years)
    if pq and pq.followup and pq.plan.items and not why and not desc:
        return "table"
    if why:
        # "why is X low / below budget / less than 2024" asks for the figure and its reason;
        # "why did X increase / decrease" is answered by the narrative's explanation
        if item and (
            _has(q, FIG_ZH_STRICT)
            or _has_en(q, FIG_EN_STRICT)
            or _has(re.sub(r"减少|增加|大幅", "", q), COMPARE_ZH)
            or _has_en(q, COMPARE_EN)
        ):
            return "both"
        return "text" if (domain or desc or item) else "none"
    if item and fig and (_has(q, HOWTO_ZH) or _has_en(q, HOWTO_EN)):
        return "both"
    if item and fig:
        return "table"
    if item and strong_desc:
        return "text"
    if item:
        return "table"
    if desc and domain:
        return "text"
    if fig and domain:
        return "table"
    if domain:
        return "text"
    fn = getattr(llm, "route", None) if llm is not None else None
    if fn is None and callable(getattr(llm, "complete_json", None)):
        from assistant.llm import llm_route

        fn = lambda q: llm_route(llm, q)  # noqa: E731
    if callable(fn):
        try:
            r = fn(question)
            if r in ("table", "text", "both", "none"):
                return r
        except Exception as e:  # any model failure: keep the rules' answer
            log.info("LLM route failed: %s", e)
    return "none"
