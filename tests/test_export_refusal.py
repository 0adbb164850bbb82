"""A refusal in an export (``fiscal-qa ask --format md``, the app's Markdown/CSV download) names a few of the
ingested reports and their count, as the CLI's plain output does, not every report."""

from __future__ import annotations

import csv
import importlib
import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.export import answers_csv, answers_markdown
from assistant.models import Answer, ReportMeta


def _reports(n: int) -> list[ReportMeta]:
    return [ReportMeta(report_id=f"r{i}", department=f"某市第{i}局", year=2020 + i % 5, kind="决算") for i in range(n)]


def _refusal(reps: list[ReportMeta], lang: str) -> Answer:
    if lang == "en":
        listing = "; ".join(f"{r.department} {r.year} final accounts" for r in reps)
        text = f"Not in these reports: advertising — no printed item matches these words. Ingested: {listing}."
    else:
        listing = "；".join(f"{r.department}{r.year}年度决算" for r in reps)
        text = f"已收录的报告中没有相关数据（不在这些报告中：广告费）——报告没有列出与这些词对应的项目。已收录：{listing}。"
    return Answer(question="2023年广告费是多少", route="table", answer=text, language=lang, meta={"status": "not_in_reports"})  # type: ignore[arg-type]


@pytest.mark.parametrize(("lang", "count"), [("zh", "已收录 12 份报告"), ("en", "12 reports ingested")])
def test_cli_markdown_refusal_is_compact(monkeypatch, capsys, lang: str, count: str) -> None:
    from assistant import cli

    reps = _reports(12)
    ans = _refusal(reps, lang)
    monkeypatch.setattr("assistant.store.load_index", lambda _p: SimpleNamespace(reports=reps))
    monkeypatch.setattr(importlib.import_module("assistant.ask"), "ask", lambda q, index=None, llm=None: ans)
    assert cli.main(["ask", "--index", "/nonexistent", "--format", "md", ans.question]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# fiscal-qa") and count in out and "fiscal-qa reports" in out
    assert reps[0].department in out and reps[2].department in out
    assert reps[3].department not in out and reps[-1].department not in out
    assert ("广告费" if lang == "zh" else "advertising") in out  # the reason stays


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_markdown_and_csv_exports_name_a_few_reports(lang: str) -> None:
    reps = _reports(15)
    a = _refusal(reps, lang)
    md = answers_markdown([a], reports=reps)
    rows = list(csv.DictReader(io.StringIO(answers_csv([a], reports=reps))))
    for text in (md, rows[0]["answer"]):
        assert reps[0].department in text and reps[14].department not in text
        assert "15" in text and "fiscal-qa reports" not in text  # a downloaded file: no command to run
    assert answers_markdown([a]).count("某市第") == 15  # without the index's reports the text is as answered


def test_exports_leave_other_answers_and_short_lists_alone() -> None:
    reps = _reports(15)
    figure = Answer(question="q", route="table", answer="某市第1局2021年度决算：公务接待费为 50.00 万元。", language="zh")
    assert figure.answer in answers_markdown([figure], reports=reps)
    few = _refusal(reps[:2], "zh")
    assert few.answer in answers_markdown([few], reports=reps[:2])


def test_app_download_of_a_refusal_is_compact(tmp_path: Path) -> None:
    from assistant.appstate import export_files

    reps = _reports(12)
    state = SimpleNamespace(reports=lambda: reps, page_label=lambda rid, page, lang="zh": str(page))
    md_path, csv_path = export_files([_refusal(reps, "zh")], "t-refusal", state)  # type: ignore[arg-type]
    assert md_path and csv_path
    for path in (md_path, csv_path):
        text = Path(path).read_text(encoding="utf-8-sig")
        assert "已收录 12 份报告" in text and reps[0].department in text and reps[-1].department not in text
