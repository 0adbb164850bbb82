"""End to end in headless Chromium (Debian's package, driven by Playwright), as a new user would use the app.

The chat streams its answer under the question box; an [n] mark opens its source large; the citation
list is shown once; clarifications offer buttons and refusals say what is covered in one line; report
lists follow uploads in every session; uploads show progress for every step; the language switch
relabels everything and downloads keep working; the widget and the app read at 390 px.

One server and one browser for the whole module (CI time), on the sample index plus renamed copies
made here (and one PDF of the corpus where it is available, for page images). Screenshots go to
tests/out/. With ``CI=true`` a missing Chromium fails these tests instead of skipping them.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, SHARED_REPORTS, needs_corpus

CHROMIUM = Path(os.environ.get("FISCALQA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TIMEOUT = 30_000
PDF_REPORT = SHARED_REPORTS / "01_shanghai_putuo_caizhengju_2024_juesuan.pdf"
DEPT = "曲靖市投资促进局"
RECEPTION_Q = f"{DEPT}2023年公务接待费是多少？"

pytestmark = [pytest.mark.browser]


def _renamed_copy(dest: Path, stem: str, department: str, *, narrative: bool = False) -> Path:
    """The sample with another department named in its table headers (an unseen report for the app).

    ``narrative``: also rename it in the narrative, so its passages are embedded anew (a real ingest's slow step).
    """
    text = SAMPLE.read_text(encoding="utf-8").replace(f"部门：{DEPT}", f"部门：{department}")
    if narrative:
        text = text.replace(DEPT, department)
    path = dest / f"{stem}.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served_index(sample_index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample index plus three renamed copies (several departments: clarifications, refusals), and one
    PDF report of the corpus where it is available (page images)."""
    from assistant.ingest import ingest_paths

    d = tmp_path_factory.mktemp("app_index")
    shutil.copytree(Path(sample_index.path).parent, d, dirs_exist_ok=True)
    src = tmp_path_factory.mktemp("copies")
    files = [_renamed_copy(src, f"2{i}_copy_{i}_2023_juesuan", f"曲靖市样例{n}局") for i, n in enumerate("甲乙丙")]
    if PDF_REPORT.exists():
        files.append(PDF_REPORT)
    from assistant.store import chunk_vectors

    dim = len(chunk_vectors(sample_index).embedding.iloc[0])
    res = ingest_paths(files, d, show_progress=False, embedder=_StandInEmbedder(dim))
    assert res.ok, res.failures
    return d


class _StandInEmbedder:
    """Unit vectors drawn from each passage's hash, for passages the copies do not share with the sample (the PDF's):
    these tests ask the PDF table questions only, and embedding its passages for real is the slow part of the setup."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        out = []
        for t in texts:
            rng = random.Random(hashlib.sha256(t.encode("utf-8")).digest())
            v = [rng.gauss(0.0, 1.0) for _ in range(self.dim)]
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out


@pytest.fixture(scope="module")
def server(served_index: Path) -> Iterator[tuple[object, str]]:
    import app

    state = app.AppState(served_index)
    srv = app.start_server(state, widget_kwargs={"per_minute": 60})
    yield state, srv.url
    srv.close()


def _unavailable(msg: str) -> None:
    """Skip on a developer's machine; fail in CI (``CI=true``), where the browser tests must run."""
    if IN_CI:
        pytest.fail(f"{msg} — CI must run the browser tests (.ci/run installs Chromium)", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module", autouse=True)
def chromium_available() -> None:
    """Checked first, before the index and the server are built."""
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM} (Debian package `chromium`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as e:
        _unavailable(f"playwright is not installed ({e})")


@pytest.fixture(scope="module")
def browser(chromium_available) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def session(browser) -> Iterator[object]:
    """A fresh browser session (own cookies and storage) at 1280 px; ``session(width)`` for another width."""
    made = []

    def new(width: int = 1280, height: int = 900):
        ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", accept_downloads=True)
        ctx.set_default_timeout(TIMEOUT)
        made.append(ctx)
        return ctx

    yield new
    for ctx in made:
        ctx.close()


def _open(ctx, url: str):
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_selector("textarea")
    return page


def _ask(page, question: str, box: str = "#fqa-question textarea") -> str:
    """Type a question, wait for its final answer (the reply stops changing), return the last reply's text."""
    before = page.locator("#fqa-chat [data-testid='bot']").count()
    page.fill(box, question)
    page.keyboard.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#fqa-chat [data-testid=bot]').length > n", arg=before)
    return _settled(page)


def _settled(page) -> str:
    last, same = None, 0
    for _ in range(200):
        text = page.locator("#fqa-chat [data-testid='bot']").last.inner_text()
        same = same + 1 if text == last and text.strip() not in ("", "…") else 0
        if same >= 4:
            return text
        last = text
        page.wait_for_timeout(150)
    return last or ""


def _record_bot_texts(page) -> None:
    """Record every distinct text of the last reply while it is written (to see it stream)."""
    page.evaluate(
        """() => { window.__texts = []; new MutationObserver(() => {
            const b = [...document.querySelectorAll('#fqa-chat [data-testid=bot]')].pop();
            const t = b ? b.innerText : '';
            if (t && window.__texts[window.__texts.length - 1] !== t) window.__texts.push(t);
        }).observe(document.querySelector('#fqa-chat'), {subtree: true, childList: true, characterData: true}); }"""
    )


def _options(page, elem_id: str) -> list[str]:
    """The options of a dropdown (opened and closed again)."""
    page.locator(f"#{elem_id} input").first.click()
    opts = page.locator("[data-testid=dropdown-option]")
    opts.first.wait_for()
    names = [opts.nth(i).get_attribute("aria-label") or "" for i in range(opts.count())]
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    return names


def _no_horizontal_scroll(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"the page is {width} px wide at {page.viewport_size['width']} px"


# --------------------------------------------------------------------------- the chat


def test_chat_streams_under_the_box_and_marks_open_the_source(server, session, out_dir: Path) -> None:
    _, url = server
    page = _open(session(), url)
    chat_box = page.locator("#fqa-chat").bounding_box()
    question_box = page.locator("#fqa-question").bounding_box()
    assert question_box["y"] >= chat_box["y"] + chat_box["height"] - 1  # the question box is under the conversation
    _record_bot_texts(page)
    text = _ask(page, RECEPTION_Q)
    assert re.search(r"\b50\.00\b", text), text
    steps = page.evaluate("() => window.__texts")
    assert len(steps) >= 3 and len(steps[0]) < len(steps[-1]), steps  # written progressively, not at once
    # the figure is tied to its citation; the citation list is shown once (in the reply, no second table)
    assert page.locator("#fqa-chat strong", has_text="50.00").count() >= 1
    assert page.locator("#fqa-chat table").count() == 1
    assert page.locator("#fqa-sources").count() == 0
    table = page.locator("#fqa-chat table").last.inner_text()
    assert "50.00" in table and "接待" in table, table
    # clicking the [1] in the sentence opens that citation (the text sample has no page: its printed row)
    page.locator("#fqa-chat sup", has_text="[1]").first.click()
    page.locator("#fqa-source-caption", has_text="[1]").wait_for()
    assert "公务接待费" in page.locator("#fqa-source-caption").inner_text()
    src = page.locator("#fqa-source-text")
    src.wait_for(state="visible")
    assert "50.00" in src.inner_text() and "预算数" in src.inner_text()  # the whole printed row, the cell among its neighbours
    assert "大模型设置" in page.locator("#fqa-llm").inner_text()  # the session's LLM settings live in the full app
    page.wait_for_timeout(300)
    page.screenshot(path=str(out_dir / "app_chat.png"), full_page=True)


@needs_corpus
def test_citation_opens_the_printed_cell_large_and_zoomable(server, session, out_dir: Path) -> None:
    _, url = server
    page = _open(session(), url)
    text = _ask(page, "上海市普陀区财政局2024年一般公共预算财政拨款收入是多少？")
    assert "2,940.05" in text
    page.locator("#fqa-chat td", has_text=re.compile(r"^\[1\]$")).first.click()  # the [n] of the citation table too
    img = page.locator("#fqa-source-view .fqa-zoom img")
    img.wait_for()
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    shown = img.bounding_box()
    assert natural[0] >= 500 and natural[1] >= 250, natural  # the cell with rows above and below and its header
    assert shown["width"] >= 380 and shown["height"] >= 180, shown
    assert "p.6" in page.locator("#fqa-source-caption").inner_text()
    page.screenshot(path=str(out_dir / "app_source.png"), full_page=True)
    page.locator("#fqa-source-view button[data-z='+']").click()
    page.wait_for_function("() => document.querySelector('#fqa-source-view .fqa-zoom').dataset.zoom === '2'")
    assert img.bounding_box()["width"] > shown["width"] * 1.5  # zoomed in; the box scrolls
    page.wait_for_timeout(200)
    assert page.locator("#fqa-source-view .fqa-zoom").evaluate("b => b.scrollLeft") > 0  # to the outlined cell
    img.click()  # a click on the page zooms back out
    page.wait_for_function("() => document.querySelector('#fqa-source-view .fqa-zoom').dataset.zoom === '1'")


def test_clarification_buttons_and_one_line_refusal(server, session, out_dir: Path) -> None:
    state, url = server
    page = _open(session(), url)
    text = _ask(page, "公务接待费是多少？")
    assert "请指明部门" in text, text
    buttons = page.locator(".fqa-option:visible")
    buttons.first.wait_for()
    names = buttons.all_inner_texts()
    assert DEPT in names and "曲靖市样例甲局" in names, names
    page.screenshot(path=str(out_dir / "app_clarify.png"), full_page=True)
    before = page.locator("#fqa-chat [data-testid='bot']").count()
    buttons.filter(has_text=DEPT).click()
    page.wait_for_function("n => document.querySelectorAll('#fqa-chat [data-testid=bot]').length > n", arg=before)
    assert "50.00" in _settled(page)
    assert page.locator(".fqa-option:visible").count() == 0
    refusal = _ask(page, "2030年公务接待费是多少？")
    n = len(state.reports())
    assert f"已收录 {n} 份报告" in refusal, refusal
    assert "样例乙局2023年度决算" not in refusal and refusal.count("\n") <= 2, refusal  # one line, not the list
    page.screenshot(path=str(out_dir / "app_refusal.png"), full_page=True)


# --------------------------------------------------------------------------- language, downloads, facts, charts, review


def test_language_switch_relabels_and_downloads_still_work(server, session, out_dir: Path) -> None:
    _, url = server
    page = _open(session(), url)
    _ask(page, RECEPTION_Q)
    page.locator("#fqa-dl-md").wait_for(state="visible")
    page.get_by_text("English", exact=True).click()
    page.get_by_role("tab", name="Facts").wait_for()
    for tab in ("Ask", "Facts", "Charts", "Add a report"):
        assert page.get_by_role("tab", name=tab).count() == 1, tab
    assert page.locator("#fqa-send").inner_text().strip() == "Ask"
    assert "Download Markdown" in page.locator("#fqa-dl-md").inner_text()
    assert page.get_by_label("Department", exact=True).count() >= 1
    with page.expect_download() as dl:
        page.locator("#fqa-dl-md").click()
    saved = Path(dl.value.path()).read_text(encoding="utf-8")
    assert RECEPTION_Q in saved and "50.00" in saved
    page.screenshot(path=str(out_dir / "app_english.png"), full_page=True)
    page.get_by_role("tab", name="Facts").click()
    head = page.locator("#fqa-facts thead").inner_text()
    assert "Row" in head and "Value" in head and "row_label" not in head, head
    page.get_by_text("中文", exact=True).click()
    page.get_by_role("tab", name="数据浏览").wait_for()
    page.locator("#fqa-facts thead", has_text="数值").wait_for()
    head = page.locator("#fqa-facts thead").inner_text()
    assert "项目" in head and "raw" not in head, head
    page.screenshot(path=str(out_dir / "app_facts.png"), full_page=True)


def test_charts_labels_whole_and_review_fits_the_page(server, session, out_dir: Path) -> None:
    _, url = server
    page = _open(session(), url)
    page.get_by_role("tab", name="图表").click()
    page.locator("#fqa-across").wait_for()
    page.wait_for_timeout(1500)
    labels = [t or "" for t in page.locator("#fqa-across svg text").all_text_contents()]
    assert labels and not any(t.endswith("…") for t in labels), labels
    page.screenshot(path=str(out_dir / "app_charts.png"), full_page=True)
    review_tab = page.get_by_role("tab", name="审查")
    if not review_tab.count():
        return
    review_tab.click()
    page.locator("#fqa-review-btn").click()
    page.locator("#fqa-review h1, #fqa-review h2, #fqa-review h3").first.wait_for(timeout=60_000)
    box = page.locator("#fqa-review").bounding_box()
    assert box["height"] <= 1000, box  # scrolls inside, not an 8,000 px page
    page.screenshot(path=str(out_dir / "app_review.png"), full_page=True)


# --------------------------------------------------------------------------- uploads, every session, progress


def test_upload_progress_and_report_lists_in_every_session(server, session, out_dir: Path, tmp_path: Path) -> None:
    _, url = server
    a = _open(session(), url)
    b = _open(session(), url)  # another user, opened before the upload
    new_dept = "曲靖市上传测试局"
    assert new_dept not in _options(b, "fqa-dept")
    upload = _renamed_copy(tmp_path, "31_upload_2023_juesuan", new_dept, narrative=True)
    a.get_by_role("tab", name="上传报告").click()
    a.evaluate(
        """() => { window.__progress = []; new MutationObserver(() => {
            for (const el of document.querySelectorAll('.progress-text, .progress-level, .eta-bar, .meta-text, .status-text')) {
              const t = el.innerText; if (t && !window.__progress.includes(t)) window.__progress.push(t); }
        }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )
    a.locator("#fqa-upload input[type=file]").set_input_files(str(upload))
    a.wait_for_function("() => document.querySelector('#fqa-upload').innerText.includes('31_upload')")
    a.locator("#fqa-ingest").click()
    a.wait_for_function("() => window.__progress.some(t => t.includes('嵌入'))", timeout=120_000)
    a.screenshot(path=str(out_dir / "app_upload_progress.png"), full_page=True)
    a.locator("#fqa-upload-status", has_text="✓").wait_for(timeout=120_000)
    assert new_dept in a.locator("#fqa-upload-status").inner_text()
    seen = " | ".join(a.evaluate("() => window.__progress"))
    assert "读取文件" in seen and "页" in seen and "嵌入" in seen, seen  # pages read, then passages embedded
    a.screenshot(path=str(out_dir / "app_upload.png"), full_page=True)
    a.get_by_role("tab", name="问答").click()
    assert new_dept in _options(a, "fqa-dept")  # the uploading session at once
    # the other session: opening a tab rebuilds its report lists; a reload rebuilds everything
    b.get_by_role("tab", name="数据浏览").click()
    b.wait_for_timeout(500)
    assert any(new_dept in o for o in _options(b, "fqa-f-report"))
    b.reload()
    b.wait_for_selector("textarea")
    b.wait_for_timeout(500)
    assert new_dept in _options(b, "fqa-dept")
    b.screenshot(path=str(out_dir / "app_other_session.png"), full_page=True)


def test_corrupt_upload_shows_error_and_earlier_reports_answer(server, session, out_dir: Path, tmp_path: Path) -> None:
    _, url = server
    bad = tmp_path / "corrupt_report.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\x00 not really a pdf " * 300)
    page = _open(session(), url)
    page.get_by_role("tab", name="上传报告").click()
    page.locator("#fqa-upload input[type=file]").set_input_files(str(bad))
    page.wait_for_function("() => document.querySelector('#fqa-upload').innerText.includes('corrupt_report')")
    page.locator("#fqa-ingest").click()
    status = page.locator("#fqa-upload-status")
    status.get_by_text("导入失败").first.wait_for()
    text = status.inner_text()
    assert "corrupt_report.pdf" in text and "Traceback" not in text
    page.screenshot(path=str(out_dir / "app_upload_error.png"), full_page=True)
    page.get_by_role("tab", name="问答").click()
    assert "50.00" in _ask(page, RECEPTION_Q)


def test_first_start_says_what_is_prepared(server, session, out_dir: Path) -> None:
    state, url = server
    state.preparing = {
        "zh": "首次启动：为检索嵌入文本片段 64/402",
        "en": "First start: embedding passages 64/402",
        "fraction": 0.5,
    }
    try:
        page = _open(session(), url)
        banner = page.locator("#fqa-status")
        banner.wait_for(state="visible")
        assert "首次启动" in banner.inner_text() and "50%" in banner.inner_text()
        page.screenshot(path=str(out_dir / "app_first_start.png"))
    finally:
        state.preparing = None
    banner.wait_for(state="hidden", timeout=10_000)  # the page notices when it is ready


# --------------------------------------------------------------------------- 390 px: the widget and the app


def test_widget_at_390px_examples_coverage_loading(server, session, out_dir: Path) -> None:
    state, url = server
    page = _open(session(390, 844), url + "/widget/")
    assert page.locator("#fqa-llm").count() == 0 and page.locator("input[type=password]").count() == 0
    page.locator("#fqa-widget-cover", has_text=f"已收录 {len(state.reports())} 份报告").wait_for()  # what it covers
    answer = page.locator("#fqa-widget-answer")
    page.evaluate(
        """() => { window.__texts = []; new MutationObserver(() => {
            const t = document.querySelector('#fqa-widget-answer').innerText;
            if (t && !window.__texts.includes(t)) window.__texts.push(t);
        }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )
    page.locator("#fqa-widget-examples button").first.click()
    answer.get_by_text(re.compile("公务接待费|请指明")).first.wait_for()
    assert any("正在查找" in t for t in page.evaluate("() => window.__texts"))  # a loading state first
    page.fill("#fqa-widget-question textarea", RECEPTION_Q)
    page.locator("#fqa-widget-send").click()
    answer.locator("table").wait_for()
    assert "50.00" in answer.inner_text()
    _no_horizontal_scroll(page)
    page.screenshot(path=str(out_dir / "widget_390.png"), full_page=True)
    page.fill("#fqa-widget-question textarea", "公务接待费" * 120)  # 600 characters
    page.locator("#fqa-widget-send").click()
    answer.get_by_text("问题太长").wait_for()
    assert "500" in answer.inner_text()


def test_app_at_390px_table_readable_tabs_fit(server, session, out_dir: Path) -> None:
    _, url = server
    page = _open(session(390, 844), url)
    _ask(page, RECEPTION_Q)
    rows = page.locator("#fqa-chat table tbody tr")
    assert rows.count() >= 1
    for i in range(rows.count()):  # each cited cell reads as one wrapped line, not one-character columns
        box = rows.nth(i).bounding_box()
        assert box["width"] >= 0.5 * page.viewport_size["width"], box
    assert "50.00" in rows.first.inner_text() and "公务接待费" in rows.first.inner_text()
    _no_horizontal_scroll(page)
    tabs = page.locator("[role=tablist]").first.bounding_box()
    assert tabs["x"] >= 0 and tabs["x"] + tabs["width"] <= 391, tabs
    time.sleep(0.2)
    page.screenshot(path=str(out_dir / "app_390.png"), full_page=True)
