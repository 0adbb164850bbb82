"""The router: table / text / both / none from vocabulary, patterns and what the reports print."""

from __future__ import annotations

import pytest

from assistant.ask.planner import build_vocab, parse_question
from assistant.ask.router import route_question


@pytest.fixture(scope="module")
def vocab(sample_index):
    return build_vocab(sample_index)


def _route(q: str, vocab) -> str:
    return route_question(q, vocab, parse_question(q, vocab))


@pytest.mark.parametrize(
    ("question", "route"),
    [
        ("为什么招商工作经费执行率低？", "both"),
        ("Why was the budget execution rate of 招商工作经费 low in 2023?", "both"),
        ("2023年“三公”经费是多少，是怎样控制的？", "both"),
        ("2023年公务接待费是多少？", "table"),
        ("how much was spent on reception in 2023", "table"),
        ("公务接待费", "table"),
        ("公務接待費是多少？", "table"),
        ("哪个部门的三公经费最高？", "table"),
        ("基本支出占本年支出合计的比例是多少？", "table"),
        ("What is the 2025 budget for the three public expenses?", "table"),
        ("2023年绩效自评发现了哪些问题，如何整改？", "text"),
        ("曲靖市投资促进局是什么性质和级别的部门？", "text"),
        ("采取了哪些措施严控“三公”经费支出？", "text"),
        ("What problems did the bureau find in its 2023 performance self-evaluation?", "text"),
        ("机关运行经费为什么比上年大幅减少？", "text"),
        ("今天天气怎么样", "none"),
        ("？？？", "none"),
        ("hello", "none"),
    ],
)
def test_routes(vocab, question, route):
    assert _route(question, vocab) == route
