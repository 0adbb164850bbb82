"""A narrative figure is bound to what the question asks, never to the words that named the department.

The clause "本部门投资采购预算34万元" counts 投资 (with 采购 a qualifier); a question naming the department
投资促进局 says 投资 too, but only as part of its name: the clause is not about 办公设备购置.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

PLANTED = "2023年本部门投资采购预算34万元，其中：政府采购货物预算0万元。"


@pytest.fixture(scope="module")
def planted_index(sample_index):  # type: ignore[no-untyped-def]
    chunks = sample_index.chunks.copy()
    chunks["text"] = chunks["text"] + PLANTED
    extra = {k: v for k, v in sample_index.extra.items() if k not in ("retrieval.rows", "llm_vocab")}
    return replace(sample_index, chunks=chunks, extra=extra)


@pytest.mark.parametrize(
    "question",
    [
        "曲靖市投资促进局2023年办公设备购置预算多少",
        "投资促进局2023年办公设备购置预算是多少？",
        "曲靖投促局23年办公设备购置预算多少钱",
    ],
)
def test_department_words_do_not_bind_a_narrative_figure(planted_index, question: str) -> None:  # type: ignore[no-untyped-def]
    from assistant.ask import ask

    a = ask(question, index=planted_index)
    assert a.value != 34 and "34万元" not in a.answer.split("报告原文")[0]
