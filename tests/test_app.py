"""The app's pieces without a browser: answer rendering, limits, charts, export, the ``ask`` API over HTTP."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import app
from assistant import charts, present
from assistant.appstate import AppState, RateLimiter, chat_turn, export_files, parse_llm_settings, widget_reply
from assistant.errors import FiscalQAError
from assistant.export import answers_csv, answers_markdown
from assistant.models import FACT_COLUMNS, Answer, Citation, ReportMeta
from assistant.store import IndexData, current_version
from tests.conftest import needs_corpus

RID = "00_yunnan_qujing_touzicujinju_2023_juesuan"
RECEPTION_Q = "how much was spent on reception in 2023"


# --------------------------------------------------------------------------- a tiny fake index and engine


def fake_index() -> IndexData:
    """Enough of the sample's 三公 table (公开10表) and 支出决算表 (公开03表) for the app's own logic."""
    base = dict(
        report_id=RID, department="曲靖市投资促进局", year=2023, kind="决算", scope="部门", page=None, status="ok", code=None
    )
    base |= dict(bbox=None, row_bbox=None, header_bbox=None, unit="万元")
    rows = []

    def add(tid: str, num: str, title: str, kind: str, ri: int, label: str, col: str, raw: str, code: str | None = None) -> None:
        v = Decimal(raw.replace(",", ""))
        rows.append(
            base
            | dict(fact_id=f"{RID}:{tid}:r{ri}:c{len(rows)}", table_id=tid, table_number=num, table_title=title, table_kind=kind)
            | dict(row_index=ri, row_label=label, column=col, value=v, value_wan=v, raw=raw, code=code)
        )

    t10 = ("t10", "公开10表", "财政拨款“三公”经费、行政参公单位机关运行经费情况表", "three_public_expenses")
    three = [("“三公”经费合计", "58.84", "60.42", "60.42"), ("因公出国（境）费", "0.00", "7.58", "7.58")]
    three += [("公务用车购置及运行维护费", "3.84", "2.84", "2.84"), ("公务接待费", "55.00", "50.00", "50.00")]
    for i, (label, budget, full, actual) in enumerate(three):
        add(*t10, i, label, "预算数", budget)
        add(*t10, i, label, "全年预算数", full)
        add(*t10, i, label, "决算统计数", actual)
    t03 = ("t03", "公开03表", "支出决算表", "expenditure_by_function")
    for i, (code, label, raw) in enumerate([("201", "一般公共服务支出", "1,587.54"), ("208", "社会保障和就业支出", "121.24")]):
        add(*t03, i, label, "合计", raw, code=code)
    tables = pd.DataFrame(
        [
            dict(
                report_id=RID,
                table_id="t10",
                number="公开10表",
                title=t10[2],
                table_kind=t10[3],
                unit="万元",
                pages=[],
                empty=False,
                note="",
                facts=12,
            ),
            dict(
                report_id=RID,
                table_id="t03",
                number="公开03表",
                title="支出决算表",
                table_kind=t03[3],
                unit="万元",
                pages=[],
                empty=False,
                note="",
                facts=2,
            ),
        ]
    )
    meta = ReportMeta(report_id=RID, department="曲靖市投资促进局", year=2023, kind="决算", sources=[RID + ".txt"])
    chunks = pd.DataFrame(
        columns=["chunk_id", "report_id", "department", "year", "kind", "section", "page", "text", "boxes", "embedding"]
    )
    return IndexData(
        path=Path("/nonexistent"), reports=[meta], tables=tables, facts=pd.DataFrame(rows, columns=FACT_COLUMNS), chunks=chunks
    )


def reception_citation(fact_id: str | None = None) -> Citation:
    """The citation of the sample's reception figure (公开10表 公务接待费 决算统计数 = 50.00)."""
    return Citation(
        report=RID,
        department="曲靖市投资促进局",
        year=2023,
        table="公开10表",
        row="公务接待费",
        column="决算统计数",
        text="50.00",
        fact_id=fact_id,
    )


def fake_ask(question: str, *, index: IndexData, history: list | None = None, llm: object = None) -> Answer:
    f = index.facts
    hit = f[(f.row_label == "公务接待费") & (f.column == "决算统计数")].iloc[0]
    cite = reception_citation(fact_id=hit.fact_id)
    text = "2023年公务接待费决算数为 50.00 万元（500,000 元）。"
    return Answer(question=question, route="table", answer=text, value=50.0, unit="万元", citations=[cite], language="zh")


@pytest.fixture()
def fake_state() -> AppState:
    return AppState("/nonexistent-index", ask_fn=fake_ask, index=fake_index())


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("text", "figures", "expected"),
    [
        ("公务接待费 50.00 万元（500,000 元）。", [(1, "50.00")], "公务接待费 **50.00**<sup>[1]</sup> 万元（500,000 元）。"),
        # 1,834.93 printed without the separator in one table: the answer's 1,834.93 still ties to it
        ("合计 1,834.93 万元", [(2, "1834.93")], "合计 **1,834.93**<sup>[2]</sup> 万元"),
        # not inside a longer number
        ("150.00 and 50.00", [(1, "50.00")], "150.00 and **50.00**<sup>[1]</sup>"),
        # two cells with the same figure: each marks its own occurrence
        (
            "15.00 + 35.00 = 50.00",
            [(1, "50.00"), (2, "15.00"), (3, "35.00")],
            "**15.00**<sup>[2]</sup> + **35.00**<sup>[3]</sup> = **50.00**<sup>[1]</sup>",
        ),
        ("执行率 71.72%", [(1, "71.72%")], "执行率 **71.72%**<sup>[1]</sup>"),
        ("no figure here", [(1, "50.00")], "no figure here"),
        ("text cell", [(1, "开展")], "text cell"),
    ],
)
def test_mark_figures_ties_each_figure_to_its_citation(text: str, figures: list, expected: str) -> None:
    assert present.mark_figures(text, figures) == expected


def test_answer_markdown_has_figure_marker_and_citation_table(fake_state: AppState) -> None:
    a = fake_state.ask("2023年公务接待费是多少？")
    body, cites = present.answer_markdown(a, fake_state)
    assert "**50.00**<sup>[1]</sup>" in body
    assert "公开10表" in cites and "公务接待费" in cites and "决算统计数" in cites and "| [1] |" in cites


def test_ask_failures_become_plain_answers() -> None:
    def broken(question: str, **_: object) -> Answer:
        raise RuntimeError("boom\nTraceback")

    st = AppState("/nonexistent-index", ask_fn=broken, index=fake_index())
    a = st.ask("公务接待费？")
    assert a.route == "none" and "Traceback" not in a.answer and "出错" in a.answer
    missing = AppState("/nonexistent-index", ask_fn=fake_ask)
    assert "fiscal-qa ingest" in missing.ask("reception?").answer


def test_report_picker_and_filter(fake_state: AppState) -> None:
    assert fake_state.select("", "", "") == []
    assert fake_state.select("曲靖市投资促进局", "2023", "决算") == [RID]
    assert fake_state.select("", "2024", "") == []
    assert fake_state.resolve_filter("曲靖 2023") == [RID]
    assert fake_state.resolve_filter(RID) == [RID]
    with pytest.raises(FiscalQAError, match="no ingested report matches"):
        fake_state.resolve_filter("上海 2030")


SIFAJU = [
    ReportMeta(report_id="08_sifaju_bumen", department="上海市普陀区司法局", year=2026, kind="预算", scope="部门"),
    ReportMeta(report_id="09_sifaju_danwei", department="上海市普陀区司法局", year=2026, kind="预算", scope="单位"),
    ReportMeta(report_id="07_zhengfuban", department="上海市普陀区人民政府办公室", year=2025, kind="预算"),
]


def test_picker_tells_department_from_unit_reports() -> None:
    """08 and 09 are both 司法局 2026 预算: one is the department's (部门), the other the unit's own (单位)."""
    labels = dict((rid, label) for label, rid in present.report_choices(SIFAJU))
    assert labels == {
        "08_sifaju_bumen": "上海市普陀区司法局 · 2026 · 部门预算",
        "09_sifaju_danwei": "上海市普陀区司法局 · 2026 · 单位预算",
        "07_zhengfuban": "上海市普陀区人民政府办公室 · 2025 · 预算",  # no twin: no scope word
    }
    picks = present.picker_choices(SIFAJU)
    assert [v for _, v in picks["scope"]] == [present.ALL, "部门", "单位"]
    assert [v for _, v in present.picker_choices(SIFAJU[2:])["scope"]] == [present.ALL, "部门"]
    assert [v for _, v in picks["year"]] == [present.ALL, "2025", "2026"]
    sel = present.select_reports
    assert sel(SIFAJU, "上海市普陀区司法局", "2026", "预算") == ["08_sifaju_bumen", "09_sifaju_danwei"]
    assert sel(SIFAJU, "上海市普陀区司法局", "2026", "预算", "单位") == ["09_sifaju_danwei"]
    assert sel(SIFAJU, scope="部门") == ["08_sifaju_bumen", "07_zhengfuban"]
    assert sel(SIFAJU) == []
    st = AppState("/nonexistent-index", index=fake_index())
    st._index.reports = SIFAJU  # the API's report filter understands 单位 / 单位预算 too
    assert st.resolve_filter("司法局 单位预算") == ["09_sifaju_danwei"]
    assert st.resolve_filter("司法局 2026 部门") == ["08_sifaju_bumen"]


@pytest.mark.parametrize(
    "text",
    [
        "2023年公务接待费决算数为 **50.00**<sup>[1]</sup> 万元（500,000 元），比预算 **55.00**<sup>[2]</sup> 少。" * 2,
        "short",
    ],
)
def test_stream_steps_never_cut_inside_markup(text: str) -> None:
    steps = list(present.stream_steps(text))
    assert steps[-1] == text
    for cut in steps:
        assert text.startswith(cut) and cut.count("**") % 2 == 0 and cut.rfind("<") <= cut.rfind(">")


def test_sources_frame_and_fact_row(fake_state: AppState) -> None:
    a = fake_state.ask("2023年公务接待费是多少？")
    df = present.sources_frame(a, "en")
    assert df.columns.tolist() == ["#", "source", "row", "column", "page", "text"]
    assert df.iloc[0].tolist() == [1, "公开10表", "公务接待费", "决算统计数", "", "50.00"]
    assert present.sources_frame(None).empty
    row = present.fact_row_markdown(fake_state.index(), a.citations[0].fact_id)
    assert "**公务接待费**" in row and "| 预算数 | 55.00 万元 |" in row and "| 决算统计数 | **50.00 万元** |" in row
    assert present.cite_caption(a.citations[0]) == "曲靖市投资促进局 · 2023 · 公开10表 · 公务接待费 · 决算统计数"


def test_the_fact_row_of_a_side_by_side_table_holds_only_its_own_item(sample_index) -> None:
    """A table printing two items on one line (对个人和家庭的补助 and 会议费): the row shown is the cited item's only."""
    idx = sample_index
    f = idx.facts
    lines = [g for _k, g in f.groupby(["report_id", "table_id", "row_index"]) if g.row_label.nunique() > 1]
    assert lines, "the sample prints side-by-side tables"
    line = lines[0]
    cited = line.iloc[-1]
    row = present.fact_row_markdown(idx, cited.fact_id)
    assert f"**{cited.row_label}**" in row
    for other in line[line.row_label != cited.row_label].itertuples():
        if other.raw:
            assert f"| {other.raw}" not in row.replace("**", ""), (other.row_label, row)


def test_ingest_summary_hides_server_paths() -> None:
    from types import SimpleNamespace

    bad = SimpleNamespace(path="/tmp/gradio/abc123/broken.pdf", reason="not a PDF: /tmp/gradio/abc123/broken.pdf is damaged")
    out = present.ingest_summary(SimpleNamespace(reports=[], failures=[bad]), "zh")
    assert "`broken.pdf`" in out and "/tmp/gradio" not in out and "索引未改变" in out
    ok = SimpleNamespace(department="曲靖市投资促进局", year=2023, kind="决算", facts=10, chunks=2, checks_passed=3, checks_run=3)
    assert present.ingest_summary(SimpleNamespace(reports=[ok], failures=[]), "en") == (
        "✓ **曲靖市投资促进局 2023 决算** — 10 facts, 2 chunks, checks 3/3"
    )
    unit = SimpleNamespace(report_id="09_sifaju_danwei", department="上海市普陀区司法局", year=2026, kind="预算")
    unit.__dict__.update(facts=391, chunks=17, checks_passed=216, checks_run=227)
    out = present.ingest_summary(SimpleNamespace(reports=[unit], failures=[]), "zh", SIFAJU)
    assert out.startswith("✓ **上海市普陀区司法局 2026 单位预算** — 391 facts")


# --------------------------------------------------------------------------- widget limits


@pytest.mark.parametrize(
    ("question", "needle"),
    [
        ("公" * 501, "问题太长（501 字）"),
        ("x" * 10_000, "too long (10000 characters)"),
        ("   ", "Please type a question"),
    ],
)
def test_widget_refuses_with_a_message(fake_state: AppState, question: str, needle: str) -> None:
    out = widget_reply(fake_state, RateLimiter(5), question, "1.2.3.4")
    assert needle in out and "50.00" not in out


def test_widget_rate_limit_per_client(fake_state: AppState) -> None:
    limiter = RateLimiter(2)
    for _ in range(2):
        assert "50.00" in widget_reply(fake_state, limiter, "2023年公务接待费是多少？", "10.0.0.1")
    assert "提问太频繁" in widget_reply(fake_state, limiter, "2023年公务接待费是多少？", "10.0.0.1")
    assert "50.00" in widget_reply(fake_state, limiter, "2023年公务接待费是多少？", "10.0.0.2")  # another client
    assert "太长" not in widget_reply(fake_state, RateLimiter(5), "公" * 500, "x")  # exactly 500 is allowed


def test_rate_limiter_window() -> None:
    lim = RateLimiter(2, window=60)
    assert lim.check("a", now=0) == 0 and lim.check("a", now=1) == 0
    assert lim.check("a", now=2) == pytest.approx(58)
    assert lim.check("a", now=60.5) == 0  # the first call left the window


# --------------------------------------------------------------------------- facts and charts


def test_facts_view_and_csv(fake_state: AppState) -> None:
    df = present.facts_view(fake_state.index(), RID, "t10", "接待")
    assert df.raw.tolist() == ["55.00", "50.00", "50.00"] and set(df.table) == {"公开10表"}
    path = Path(present.facts_csv(fake_state.index(), RID, "t10", "接待"))
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [r["raw"] for r in rows] == ["55.00", "50.00", "50.00"] and rows[0]["fact_id"].startswith(RID)


def test_charts_from_facts(fake_state: AppState) -> None:
    three = charts.chart_three_public(fake_state.index(), RID)
    assert dict(zip(three["项目"], three["万元"], strict=True)) == {
        "因公出国（境）费": 7.58,
        "公务用车购置及运行维护费": 2.84,
        "公务接待费": 50.0,
    }
    bva = charts.chart_budget_vs_actual(fake_state.index(), RID)
    got = dict(zip(bva["项目"], bva["万元"], strict=True))
    assert got["合计·预算"] == 58.84 and got["合计·决算"] == 60.42 and got["出国·预算"] == 0.0 and got["出国·决算"] == 7.58
    func = charts.chart_by_function(fake_state.index(), RID)
    assert func["万元"].tolist() == [1587.54, 121.24]
    across = charts.chart_across(fake_state.index(), "公务接待费")
    assert across["万元"].tolist() == [50.0]


# --------------------------------------------------------------------------- export


def _two_answers() -> list[Answer]:
    c1 = reception_citation()
    c2 = Citation(
        report=RID,
        department="曲靖市投资促进局",
        year=2023,
        table="公开10表",
        row="“三公”经费合计",
        column="决算统计数",
        text="60.42",
    )
    c3 = Citation(report=RID, section="绩效自评 › 存在的问题", text="招商工作经费执行率低|原因", page=12)
    return [
        Answer(question="2023年公务接待费是多少？", route="table", answer="50.00 万元", value=50.0, unit="万元", citations=[c1]),
        Answer(question="三公经费合计？", route="both", answer="60.42 万元", value=60.42, unit="万元", citations=[c2, c3]),
    ]


def test_markdown_export_of_two_questions() -> None:
    md = answers_markdown(_two_answers())
    assert "## 1. 2023年公务接待费是多少？" in md and "## 2. 三公经费合计？" in md
    assert (
        "| [1] | 00_yunnan_qujing_touzicujinju_2023_juesuan | 曲靖市投资促进局 | 2023 | 公开10表 | 公务接待费 | 决算统计数 | — | 50.00 |"
        in md
    )
    assert "60.42" in md and "“三公”经费合计" in md
    assert "> [2] 绩效自评 › 存在的问题, p.12" in md and "招商工作经费执行率低|原因" in md


def test_csv_export_one_row_per_citation() -> None:
    rows = list(csv.DictReader(io.StringIO(answers_csv(_two_answers()))))
    assert len(rows) == 3
    assert rows[0]["value"] == "50.0" and rows[0]["table"] == "公开10表" and rows[0]["row"] == "公务接待费"
    assert rows[2]["section"] == "绩效自评 › 存在的问题" and rows[2]["page"] == "12"


# --------------------------------------------------------------------------- over HTTP


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def live(sample_index: IndexData):
    """The one server of this module: the full app, the widget and the API on the sample index, real engine."""
    state = AppState(Path(sample_index.path).parent)
    srv = app.start_server(state)
    yield state, srv.url
    srv.close()


def test_api_round_trip_reception(live) -> None:
    state, url = live
    client = _client(url)
    got = client.predict(RECEPTION_Q, "", api_name="/ask")
    assert got == state.ask(RECEPTION_Q).to_json()  # exactly the object of ``fiscal-qa ask --json``
    assert got["value"] == 50.0 and f"{got['value']:.2f}" == "50.00"
    assert got["unit"] == "万元" and "50.00" in got["answer"]
    assert got["citations"] and any(c["row"] and "接待" in c["row"] for c in got["citations"])
    assert set(got) == {"question", "route", "answer", "value", "unit", "citations"}
    scoped = client.predict(RECEPTION_Q, "曲靖市投资促进局 2023", api_name="/ask")
    assert scoped["value"] == 50.0


def test_widget_answers_over_http(live) -> None:
    _, url = live
    assert "50.00" in _client(url + "/widget/").predict("2023年公务接待费是多少？", fn_index=0)


def test_corrupt_upload_keeps_the_index(live, tmp_path: Path) -> None:
    state, _ = live
    before = current_version(state.index_dir)
    bad = tmp_path / "broken_report.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 200)
    res = state.ingest([bad], show_progress=False)
    assert res.failures and not res.reports and "broken_report.pdf" in res.failures[0].path
    assert current_version(state.index_dir) == before
    assert state.ask(RECEPTION_Q).value == 50.0


def test_widget_only_routes(fake_state: AppState) -> None:
    """``--widget``: only the widget is served; / and /widget lead to it (no server needed: ASGI in-process)."""
    from fastapi.testclient import TestClient

    with TestClient(app.create_server(fake_state, widget_only=True), follow_redirects=False) as h:
        assert h.get("/").headers["location"] == "/widget/"
        assert h.get("/widget").headers["location"] == "/widget/"
        page = h.get("/widget/")
        assert page.status_code == 200 and "x-frame-options" not in page.headers  # embeddable in an iframe
        assert h.get("/gradio_api/info").status_code == 404  # no full app, no ask API


# --------------------------------------------------------------------------- LLM tokens stream to the chat


@pytest.fixture(scope="module")
def fake_llm_server():
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as fake:
        yield fake


def _phrase_reply(text: str):
    from fake_openai import Reply, echo_responder

    def respond(body: dict):
        if "Checked answer" in body["messages"][-1]["content"]:
            return Reply(text, stream=True)
        return echo_responder(body)

    return respond


@pytest.mark.parametrize(
    ("reply", "streamed", "final"),
    [
        # grounded: both sentences stream, then the answer with its figure tied to the cell
        (
            "In 2023 the reception expenses were 50.00 万元. That is 500,000 元 in total.",
            ["In 2023 the reception expenses were 50.00 万元. ▍", "That is 500,000 元 in total. ▍"],
            "In 2023 the reception expenses were **50.00**<sup>[1]</sup> 万元. That is 500,000 元 in total.",
        ),
        # the second sentence invents a figure: it never shows, and the deterministic answer replaces the stream
        ("In 2023 the reception expenses were 50.00 万元. The budget was 999 万元.", ["50.00 万元. ▍"], None),
    ],
)
def test_llm_tokens_stream_to_the_chat(sample_index, fake_llm_server, reply: str, streamed: list[str], final: str | None) -> None:
    from assistant.llm import OpenAICompatibleLLM

    fake_llm_server.reset()
    fake_llm_server.responder = _phrase_reply(reply)
    llm = OpenAICompatibleLLM(base_url=fake_llm_server.base_url, model="fake", api_key="sk-test", timeout=5)
    state = AppState(Path(sample_index.path).parent)
    snaps = list(chat_turn(state, RECEPTION_Q, [], [], llm=llm))
    texts = [m[-1]["content"] for m, a in snaps if a is None]
    msgs, answer = snaps[-1]
    assert texts[0] == "…" and all(any(s in t for t in texts) for s in streamed), texts
    assert "999" not in "".join(texts) + msgs[-1]["content"]
    assert answer is not None and answer.value == 50.0 and answer.unit == "万元"
    assert [m["role"] for m in msgs] == ["user", "assistant"] and msgs[0]["content"] == RECEPTION_Q
    shown = msgs[-1]["content"]
    assert "**50.00**<sup>[1]</sup>" in shown and "公务接待费" in shown and "| [1] |" in shown  # the citation table
    if final:
        assert shown.startswith(final) and answer.meta["llm_used"] == ["phrase"]
    else:
        assert answer.answer == state.ask(RECEPTION_Q).answer and "ungrounded" in answer.meta["llm_fallback"]
    assert any(b.get("stream") for b in fake_llm_server.requests)


def test_chat_turn_without_llm_reveals_the_answer(fake_state: AppState) -> None:
    snaps = list(chat_turn(fake_state, "2023年公务接待费是多少？", [{"role": "user", "content": "earlier"}], []))
    texts = [m[-1]["content"] for m, a in snaps if a is None]
    assert texts[0] == "…" and len(texts) > 2 and "▍" not in "".join(texts)
    msgs, answer = snaps[-1]
    assert len(msgs) == 3 and answer is not None and answer.value == 50.0 and "| [1] |" in msgs[-1]["content"]
    none = list(chat_turn(fake_state, "公务接待费？", [], [], no_match=True))[-1]
    assert none[1].route == "none" and "没有符合" in none[0][-1]["content"]


@pytest.mark.parametrize(
    ("fields", "cfg", "problem"),
    [
        (("", "", "", 20), None, None),  # empty: the server's own LLM (if any)
        (
            (" https://api.example.com/v1 ", "deepseek-chat", " sk-1 ", 300),
            {"base_url": "https://api.example.com/v1", "model": "deepseek-chat", "api_key": "sk-1", "timeout": 120.0},
            None,
        ),
        (("ftp://x", "m", "", 20), None, "http://"),
        (("http://127.0.0.1:8000/v1", " ", "", 20), None, "模型"),
    ],
)
def test_llm_settings_from_the_app(fields: tuple, cfg: dict | None, problem: str | None) -> None:
    got, msg = parse_llm_settings(*fields)
    assert got == cfg and (problem in msg if problem else msg is None)


def test_session_llm_is_cached_and_status_hides_the_key() -> None:
    st = AppState("/nonexistent-index")
    cfg, _ = parse_llm_settings("http://127.0.0.1:9/v1", "m1", "sk-secret", 3)
    llm = st.session_llm(cfg)
    assert llm is st.session_llm(dict(cfg)) and llm.timeout == 3.0 and llm.model == "m1"
    assert st.llm_for(None) is None and st.llm_for(cfg) is llm
    status = st.llm_status(cfg, "en")
    assert "m1" in status and "sk-secret" not in status
    assert "deterministic" in st.llm_status(None, "en")


@needs_corpus
def test_three_public_charts_across_the_corpus(corpus_index: IndexData) -> None:
    """三公 items as rows (Yunnan) or as columns (Shanghai, Jiangsu); a printed budget is never shown as an actual."""
    st = AppState(Path(corpus_index.path).parent)
    across = dict(
        zip(
            charts.chart_across(st.index(), "公务接待费")["报告"],
            charts.chart_across(st.index(), "公务接待费")["万元"],
            strict=True,
        )
    )
    # axis labels without the place (whole labels, not cut off), the place kept only where names would collide
    assert across["高级人民法院 2019预算"] == 86.95
    assert across["投资促进局 2023决算"] == 50.0
    assert across["规划和自然资源局 2024决算"] == 0.39
    assert not any("财政局" in k for k in across)  # 01_…caizhengju prints only the budget 0.95
    total = dict(
        zip(
            charts.chart_across(st.index(), "“三公”经费合计")["报告"],
            charts.chart_across(st.index(), "“三公”经费合计")["万元"],
            strict=True,
        )
    )
    assert total["高级人民法院 2019预算"] == 513.75  # the 三公 subtotal, not 合计 with 会议费 and 培训费
    bva = charts.chart_budget_vs_actual(st.index(), "02_shanghai_putuo_guihuaziranziyuan_2024_juesuan")
    got = dict(zip(bva["项目"], bva["万元"], strict=True))
    assert {k: got[k] for k in ("合计·预算", "合计·决算", "接待·决算")} == {
        "合计·预算": 2.85,
        "合计·决算": 0.39,
        "接待·决算": 0.39,
    }
    three = charts.chart_three_public(st.index(), "01_shanghai_putuo_caizhengju_2024_juesuan")
    assert three["项目"].tolist() == ["公务接待费（预算数）"]


# --------------------------------------------------------------------------- refusals, clarifications, pages, display


def _reports(n: int) -> list[ReportMeta]:
    return [
        ReportMeta(report_id=f"r{i}", department=f"某市第{i}局", year=2020 + i % 3, kind="决算", sources=[f"r{i}.pdf"])
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("text", "lang", "n", "expect", "gone"),
    [
        (
            "已收录的报告中没有“公务接待费”的数据。已收录：" + "；".join(f"某市第{i}局2021年度决算" for i in range(15)) + "。",
            "zh",
            15,
            "已收录 15 份报告（15 个部门，2020–2022 年度）。可在上方选择部门和年度。",
            "某市第7局2021年度决算",
        ),
        (
            "The ingested reports do not say anything about X. Ingested: "
            + "; ".join(f"Dept{i} 2021 final accounts" for i in range(6))
            + ". Not available for: y",
            "en",
            6,
            "6 reports ingested (6 departments, 2020–2022). Pick a department and year above. Not available for: y",
            "Dept3 2021",
        ),
    ],
)
def test_refusal_says_what_is_covered_in_one_line(text: str, lang: str, n: int, expect: str, gone: str) -> None:
    out = present.compact_refusal(text, _reports(n), lang)
    assert expect in out and gone not in out and "\n" not in out


def test_refusal_with_few_reports_or_no_list_is_unchanged() -> None:
    few = "已收录的报告中没有相关数据。已收录：甲局2023年度决算；乙局2023年度决算。"
    assert present.compact_refusal(few, _reports(2), "zh") == few
    plain = "未公开：该表没有列出决算数。"
    assert present.compact_refusal(plain, _reports(15), "zh") == plain


@pytest.mark.parametrize(
    ("answer", "meta", "what", "options"),
    [
        (
            "请指明部门，以下部门都符合：甲市财政局、乙县财政局。",
            {"status": "clarify"},
            "department",
            ["甲市财政局", "乙县财政局"],
        ),
        (
            "Which department? Several match: A Bureau; B Office. Please name one.",
            {"status": "clarify"},
            "department",
            ["A Bureau", "B Office"],
        ),
        ("请指明年份：甲市财政局有 2023、2024 年度的报告。", {"status": "clarify"}, "year", ["2023", "2024"]),
        ("Which year? X has reports for 2023; 2024. Please name the year.", {"status": "clarify"}, "year", ["2023", "2024"]),
        ("whatever", {"status": "clarify", "options": ["a", "b"], "clarify_what": "department"}, "department", ["a", "b"]),
        ("公务接待费为 50.00 万元。", {"status": "ok"}, "", []),
    ],
)
def test_clarification_options_become_buttons(answer: str, meta: dict, what: str, options: list[str]) -> None:
    a = Answer(question="q", route="table", answer=answer, meta=meta)
    assert present.clarify_options(a) == (what, options)


def test_a_picked_option_asks_again() -> None:
    assert present.clarified_question("公务接待费是多少？", "department", "甲市财政局") == "甲市财政局 公务接待费是多少？"
    assert present.clarified_question("公务接待费是多少？", "year", "2024") == "2024年 公务接待费是多少？"
    assert present.clarified_question("reception spending?", "year", "2024", "en") == "reception spending? in 2024"


def test_two_file_report_citation_names_the_file(fake_state: AppState) -> None:
    """Layout pages run on across a report's files: page 28 of a 13 + 15 page report is page 15 of the second file."""
    two = ReportMeta(
        report_id="x_2018",
        department="某省某厅",
        year=2018,
        kind="预算",
        sources=["x_2018_text.pdf", "x_2018_tables.pdf"],
        page_counts=[13, 15],
    )
    assert present.page_text(two, 28) == "x_2018_tables.pdf 第 15 页"
    assert present.page_text(two, 3, "en") == "x_2018_text.pdf p.3"
    assert present.page_text(_reports(1)[0], 6) == "6"  # one file: the page alone
    fake_state._index.reports = [*fake_state._index.reports, two]
    c = Citation(report="x_2018", department="某省某厅", year=2018, table="表1", row="合计", column="金额", page=28, text="1.00")
    cites = present.citation_markdown(Answer(question="q", route="table", answer="1.00", citations=[c]), fake_state, "zh")
    assert "x_2018_tables.pdf 第 15 页" in cites and "| 28 |" not in cites
    assert "x_2018_tables.pdf" in present.cite_caption(c, fake_state.page_label("x_2018", 28))
    md_path, csv_path = export_files([Answer(question="q", route="table", answer="1.00", citations=[c])], "t", fake_state)
    assert "x_2018_tables.pdf p.15" in Path(md_path).read_text(encoding="utf-8")
    assert "x_2018_tables.pdf p.15" in Path(csv_path).read_text(encoding="utf-8-sig")


def test_facts_display_pages_as_integers_codes_blank_headers_localized(fake_state: AppState) -> None:
    df = pd.DataFrame({"page": [28.0, float("nan")], "code": ["201", float("nan")], "raw": ["1.00", None]})
    out = present.display_frame(df)
    assert out["page"].tolist() == [28, ""] and out["code"].tolist() == ["201", ""] and out["raw"].tolist() == ["1.00", ""]
    assert [str(v) for v in out["page"]] == ["28", ""]
    zh = present.facts_view(fake_state.index(), RID, "t10", lang="zh")
    en = present.facts_view(fake_state.index(), RID, "t10", lang="en")
    assert list(zh.columns) == ["表", "编码", "项目（行）", "栏目（列）", "数值", "单位", "页"]
    assert list(en.columns) == ["Table", "Code", "Row", "Column", "Value", "Unit", "Page"]
    assert "row_label" in present.facts_view(fake_state.index(), RID, "t10").columns  # the CSV keeps field names


def test_cli_facts_shows_whole_pages_and_blank_codes(sample_index, capsys) -> None:
    from assistant import cli

    cli.main(["facts", "--index", str(Path(sample_index.path).parent), "--limit", "5"])
    shown = capsys.readouterr().out
    assert "nan" not in shown and ".0 " not in shown


def test_text_passage_source_when_pdfs_share_the_index(fake_state: AppState) -> None:
    """Text-form chunks have no page: joined with PDF chunks their page is NaN and must not break the viewer."""
    from assistant import source

    idx = fake_state.index()
    idx.chunks = pd.DataFrame(
        [
            dict(
                chunk_id=f"{RID}:c0",
                report_id=RID,
                section="s",
                page=float("nan"),
                text="招商工作经费执行率低",
                boxes=float("nan"),
            ),
            dict(chunk_id="p:c0", report_id="p", section="s", page=3.0, text="x", boxes=[(3, 1.0, 2.0, 3.0, 4.0)]),
        ]
    )
    region = source.regions_for(idx, f"{RID}:c0")[0]
    assert region.page == 0 and region.text == "招商工作经费执行率低"
    with pytest.raises(source.NoPageImageError):
        source.render(idx, f"{RID}:c0")


def test_upload_progress_reports_every_step(tmp_path: Path) -> None:
    """Reading, then every few passages embedded, then writing: the bar moves for each long step."""
    from assistant.appstate import ingest_with_progress
    from tests.conftest import SAMPLE

    class Fake:
        def embed_passages(self, texts: list[str]) -> list[list[float]]:
            return [[0.0] * 8 for _ in texts]

    seen: list[tuple[float | None, str]] = []
    res = ingest_with_progress([SAMPLE], tmp_path / "idx", lambda f, t: seen.append((f, t)), lang="en", embedder=Fake())
    assert res.reports and not res.failures
    texts = [t for _, t in seen]
    assert texts[0] == "Reading files 0/1, page 0/1" and "Reading files 1/1, page 1/1" in texts
    embeds = [t for t in texts if t.startswith("Embedding passages")]
    assert len(embeds) >= 3 and embeds[-1].endswith(f"{res.reports[0].chunks}/{res.reports[0].chunks}")
    assert texts[-1] == "Writing the index…"
    fractions = [f for f, _ in seen if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] < 1


def test_first_start_prepares_in_the_background_and_logs_at_info(tmp_path: Path, caplog) -> None:
    import logging
    import threading

    from assistant import appstate
    from tests.conftest import SAMPLE

    gate = threading.Event()
    real = appstate.ensure_ingested

    def slow(index_dir: Path, paths: list[Path], *, progress=None) -> None:
        progress(0.5, "为检索嵌入文本片段 8/16\x1fEmbedding passages for search 8/16")
        gate.wait(10)

    st = AppState(tmp_path / "idx", ask_fn=fake_ask)
    appstate.ensure_ingested = slow
    try:
        t = st.prepare([SAMPLE], warm=False)
        for _ in range(100):
            if "8/16" in st.preparing_text("en"):
                break
            threading.Event().wait(0.02)
        assert st.preparing_text("en") == "Embedding passages for search 8/16 50%"
        assert st.preparing_text("zh").startswith("为检索嵌入文本片段")
        a = st.ask("公务接待费？")
        assert a.meta["status"] == "preparing" and "准备" in a.answer
        gate.set()
        t.join(10)
        assert st.preparing is None
    finally:
        appstate.ensure_ingested = real
    from types import SimpleNamespace

    done = SimpleNamespace(line=lambda: "00_sample: 曲靖市投资促进局 2023 决算 — 725 facts")
    real_ingest = appstate.ingest_with_progress
    appstate.ingest_with_progress = lambda *a, **k: SimpleNamespace(reports=[done], failures=[])  # the logging only
    try:
        with caplog.at_level(logging.INFO, logger="fiscal_qa.app"):
            appstate.ensure_ingested(tmp_path / "idx2", [SAMPLE])
    finally:
        appstate.ingest_with_progress = real_ingest
    normal = [r for r in caplog.records if r.name == "fiscal_qa.app"]
    assert normal and all(r.levelno == logging.INFO for r in normal), [(r.levelname, r.message) for r in normal]


def test_report_lists_follow_the_index(fake_state: AppState) -> None:
    ups = app.report_lists(fake_state, "不再存在的部门", "2023", "", RID, "gone", None)
    assert ups[0]["value"] == present.ALL and ups[1]["value"] == "2023"
    assert [u["value"] for u in ups[3:]] == [RID, RID, RID]  # a report no longer there falls back to the first
    fake_state._index.reports = [*fake_state._index.reports, *SIFAJU]
    ups = app.report_lists(fake_state, "上海市普陀区司法局", "", "", RID, RID, RID)
    assert ups[0]["value"] == "上海市普陀区司法局" and ("上海市普陀区司法局", "上海市普陀区司法局") in ups[0]["choices"]
    assert len(ups[3]["choices"]) == 4
