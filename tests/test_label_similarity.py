"""The third item-matching stage (similarity over printed labels) and words that change a matched item.

- a matched item with a content word beside it (差旅费 + 补助, 办公楼 + 维修费) is another item: no figure;
- similarity reads item words as a printed label only above the calibrated threshold, says what it read
  them as, and never reads a part that is not printed as its total or parent row;
- never-guess probes of our own: items not printed, modified items, other departments' items;
- the command line's refusals name a few reports and how to list them, not every report.
"""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from assistant.ask import ask, labelsim
from assistant.ask.labelsim import LabelIndex, content_runs, load_config, partial_matches, similar_label
from assistant.ask.planner import build_vocab
from assistant.models import Answer, ReportMeta

# --------------------------------------------------------------------------- words beside a matched item

PRINTED = ["差旅费", "公务接待费", "培训费", "会议费", "办公费", "印刷费", "委托业务费"]
AFTER = ["补助", "津贴", "奖励", "罚款", "押金", "报销标准"]
BEFORE = ["办公楼", "食堂", "幼儿园", "电梯", "志愿者"]


def _printed_somewhere(vocab, phrase: str) -> bool:
    return any(phrase in lab for lab in vocab.labels)


@pytest.mark.parametrize("label", PRINTED)
@pytest.mark.parametrize("modifier", AFTER)
def test_a_word_after_a_printed_item_makes_another_item(sample_index, label, modifier):
    phrase = label + modifier
    if _printed_somewhere(build_vocab(sample_index), phrase):
        pytest.skip(f"{phrase} is printed")
    a = ask(f"2023年{phrase}是多少？", index=sample_index)
    assert a.value is None, f"{phrase} → {a.value}: {a.answer[:160]}"
    assert a.meta.get("status") == "not_in_reports"
    assert any(modifier in w for w in a.meta["not_understood"]), a.meta["not_understood"]


@pytest.mark.parametrize("label", PRINTED[:5])
@pytest.mark.parametrize("modifier", BEFORE)
def test_a_word_before_a_printed_item_makes_another_item(sample_index, label, modifier):
    phrase = modifier + label
    a = ask(f"2023年{phrase}花了多少", index=sample_index)
    assert a.value is None, f"{phrase} → {a.value}: {a.answer[:160]}"
    assert any(modifier in w for w in a.meta.get("not_understood", [])), a.answer[:200]


def test_the_refusal_suggests_the_printed_item_it_was_not(sample_index):
    a = ask("2023年差旅补助是多少", index=sample_index)
    assert a.value is None and "差旅补助" in a.answer and "差旅费" in a.meta["suggestions"]


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("2023年差旅费是多少", 95.70),
        ("2023年差旅费决算数是多少", 95.70),
        ("2023年差旅费的支出是多少", 95.70),
        ("2023年公务接待费总额是多少", 50.0),
        ("2023年公车运行维护花了多少", 2.84),  # the glossary's cue words for a part are not modifiers
        ("2023年国内公务接待了多少批次", None),  # the item's own words said again: not a modifier
    ],
)
def test_question_words_beside_an_item_do_not_change_it(sample_index, question, value):
    a = ask(question, index=sample_index)
    assert a.meta.get("status") != "not_in_reports" or value is None, a.answer[:200]
    if value is not None:
        assert a.value == pytest.approx(value), a.answer[:200]
    else:
        assert "国内公务接待" not in "".join(a.meta.get("not_understood", [])), a.answer[:200]


@pytest.mark.parametrize(
    ("residual", "runs"),
    [("2023年  补助是多少", ["补助"]), ("    的维修费用", ["维修"]), ("2023年占比是多少", []), ("决算数比预算数多多少", [])],
)
def test_content_runs_leave_out_question_words(residual, runs):
    assert [residual[a:b] for a, b in content_runs(residual)] == runs


def test_partial_match_spans_the_whole_phrase():
    q = "2023年差旅补助是多少"
    spans = [(5, 7, "差旅", "travel")]
    residual = "2023年  补助是多少"
    assert partial_matches(q, residual, spans, lambda _n, _p: True) == [(5, 9, "差旅补助")]
    assert partial_matches(q, residual, spans, lambda _n, _p: True, lambda _p: ["补助"]) == []


# --------------------------------------------------------------------------- the similarity stage


class FakeEmbedder:
    """Bag-of-characters vectors: similar strings have similar vectors; no model."""

    def _vec(self, text: str) -> list[float]:
        v = np.zeros(64, dtype=np.float32)
        for ch in text:
            v[hash(ch) % 64] += 1
        n = float(np.linalg.norm(v)) or 1.0
        return (v / n).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]


def _vocab(labels: list[str], codes: dict[str, str] | None = None):
    import pandas as pd

    rows = [{"report_id": "r1", "_label": lab, "code": (codes or {}).get(lab)} for lab in labels]
    return SimpleNamespace(
        labels={lab: {"r1"} for lab in labels},
        label_list=sorted(labels, key=len, reverse=True),
        by_report={"r1": pd.DataFrame(rows)},
    )


def test_the_gate_needs_every_content_word_of_the_phrase():
    li = LabelIndex(["差旅费", "生活补助", "公务用车运行维护费"])
    content = labelsim.content_tokens(labelsim._tokenize("差旅补助"))
    assert not any(li.covers(content, i) for i in range(len(li)))
    assert li.covers(labelsim.content_tokens(labelsim._tokenize("公务用车运行费")), 2)


def test_similarity_reads_a_shortened_label_and_refuses_a_modified_one():
    v = _vocab(["公务用车运行维护费", "差旅费", "生活补助", "会议费"])
    m = similar_label("公务用车运行费", v, embedder=FakeEmbedder())
    assert m is not None and m.label == "公务用车运行维护费"
    for phrase in ("差旅补助", "会议补贴", "广告费", "办公楼维修费"):
        got = similar_label(phrase, v, embedder=FakeEmbedder())
        assert got is None or not got.accepted, (phrase, got)


def test_a_parent_row_is_never_read_for_a_part_that_is_not_printed():
    # 商品和服务支出 (302) is the parent of 办公费 (30201) …: "商品服务费用" names the parent's own words,
    # a part such as "商品采购" (not printed) must not read as the parent
    v = _vocab(["商品和服务支出", "办公费"], {"商品和服务支出": "302", "办公费": "30201"})
    assert labelsim.is_total_or_parent("商品和服务支出", v, ["r1"])
    got = similar_label("商品服务采购", v, embedder=FakeEmbedder())
    assert got is None or not got.accepted
    got = similar_label("支出合计数", _vocab(["本年支出合计", "差旅费"]), embedder=FakeEmbedder())
    assert got is None or not got.accepted


def test_the_threshold_comes_from_the_calibration_file():
    cfg = load_config()
    data = json.loads(labelsim.SIM_FILE.read_text(encoding="utf-8"))
    assert cfg.threshold == data["threshold"] and 0.5 < cfg.threshold < 1.0
    cal = data["calibration"]
    assert cal["negatives"]["accepted"] == 0 and cal["negatives"]["phrases"] >= 40
    assert cal["positives"]["accepted"] > 0
    worst = [x for x in (cal.get("max_negative"), cal.get("max_wrong_positive")) if x]
    assert all(cfg.threshold > x[0] for x in worst)


def test_an_accepted_similarity_match_says_what_it_was_read_as_and_cites_the_cell(sample_index):
    a = ask("2023年招商经费是多少？", index=sample_index)
    if a.value is None:
        pytest.skip("below the calibrated threshold on this index")
    assert a.meta["read_as"] == [{"words": "招商经费", "label": "招商工作经费"}]
    assert a.answer.startswith("“招商经费”按“招商工作经费”理解")
    assert a.citations and a.citations[0].row


def test_the_stage_runs_only_when_exact_and_glossary_find_nothing(sample_index, monkeypatch):
    calls = []
    real = labelsim.score_phrase
    monkeypatch.setattr(labelsim, "score_phrase", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    for q in ("2023年公务接待费是多少", "2023年差旅费是多少", "2023年三公经费是多少"):
        ask(q, index=sample_index)
    assert calls == []


def test_the_label_index_is_built_once_and_embeds_a_label_once():
    v = _vocab(["招商工作经费", "驻点招商工作经费", "差旅费", "会议费"])
    li = labelsim.label_index(v)
    assert li is labelsim.label_index(v)  # once per label set
    fake = FakeEmbedder()
    similar_label("招商经费", v, embedder=fake)
    n = li.embedded
    assert 0 < n <= 2  # only the labels that pass the gate, not every label
    similar_label("招商的经费", v, embedder=fake)
    assert li.embedded == n


# --------------------------------------------------------------------------- never-guess probes of our own

PROBES = [
    # items a department's tables do not print
    "2023年广告宣传费是多少", "2023年律师费花了多少", "2023年审计费是多少", "2023年保安服务费是多少",
    "2023年绿化养护费是多少", "2023年加班费是多少", "2023年职工体检费是多少", "2023年停车费花了多少钱",
    "2023年快递费是多少", "2023年翻译费多少", "2023年专家评审费是多少", "2023年节日慰问金是多少",
    # a printed item with a word that makes it another item
    "2023年差旅补助是多少", "2023年会议补贴是多少", "2023年培训津贴是多少", "2023年公务接待补助是多少",
    "2023年办公楼维修费是多少", "2023年空调维修费多少", "2023年办公室装修费是多少", "2023年印刷补助是多少",
    "2023年委托业务奖励是多少", "2023年租赁费押金是多少", "2023年邮电费补贴是多少", "2023年差旅费报销标准是多少",
    # other departments' items (a court's, a school's, a hospital's …)
    "2023年审判业务支出是多少", "2023年检察监督支出是多少", "2023年学前教育支出是多少", "2023年公立医院支出是多少",
    "2023年公安业务经费是多少", "2023年消防救援支出是多少", "2023年农田水利支出是多少", "2023年道路建设支出是多少",
    "2023年人大立法支出是多少", "2023年政协会议支出是多少",
]  # fmt: skip


@pytest.mark.parametrize("question", PROBES)
def test_probe_items_not_printed_get_no_figure(sample_index, question):
    a = ask(question, index=sample_index)
    assert a.value is None, f"{question} → {a.value} {a.unit}: {a.answer[:200]}"


def test_there_are_thirty_probes():
    assert len(PROBES) >= 30


# --------------------------------------------------------------------------- the command line's refusals


def _reports(n: int) -> list[ReportMeta]:
    return [ReportMeta(report_id=f"r{i}", department=f"某市第{i}局", year=2020 + i % 5, kind="决算") for i in range(n)]


def test_cli_refusal_names_a_few_reports_and_how_to_list_them(monkeypatch, capsys):
    from assistant import cli

    reps = _reports(12)
    listing = "；".join(f"{r.department}{r.year}年度决算" for r in reps)
    ans = Answer(
        question="q",
        route="table",
        answer=f"已收录的报告中没有相关数据（不在这些报告中：广告费）。已收录：{listing}。",
        language="zh",
    )
    monkeypatch.setattr("assistant.store.load_index", lambda _p: SimpleNamespace(reports=reps))
    monkeypatch.setattr(importlib.import_module("assistant.ask"), "ask", lambda q, index=None, llm=None: ans)
    assert cli.main(["ask", "--index", "/nonexistent", "2023年广告费是多少"]) == 0
    out = capsys.readouterr().out
    assert "12 份报告" in out and "fiscal-qa reports" in out
    assert reps[0].department in out and reps[-1].department not in out


def test_cli_refusal_in_english_and_short_lists_unchanged():
    from assistant.present import compact_refusal_cli

    reps = _reports(6)
    en = "Not in these reports: moon. Ingested: " + "; ".join(f"{r.department} {r.year} final accounts" for r in reps) + "."
    got = compact_refusal_cli(en, reps, "en")
    assert "6 reports ingested" in got and "fiscal-qa reports" in got and reps[5].department not in got
    short = "已收录：A2023年度决算；B2023年度决算。"
    assert compact_refusal_cli(short, reps[:2], "zh") == short
