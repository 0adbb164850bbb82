"""End to end in headless Chromium: the chat shows 50.00 with its citation; a corrupt upload fails plainly
and earlier reports still answer; the widget refuses an over-long question.

One server and one browser for the whole module (CI time). Screenshots go to tests/out/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED_REPORTS, needs_corpus

CHROMIUM = Path(os.environ.get("FISCALQA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RECEPTION_Q = "how much was spent on reception in 2023"
TIMEOUT = 30_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (Debian package `chromium`; .ci/run installs it)"
    ),
]


PDF_REPORT = SHARED_REPORTS / "01_shanghai_putuo_caizhengju_2024_juesuan.pdf"


@pytest.fixture(scope="module")
def served_index(sample_index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample index, plus one PDF report of the corpus where it is available (page images)."""
    from assistant.ingest import ingest_paths

    d = tmp_path_factory.mktemp("app_index")
    shutil.copytree(Path(sample_index.path).parent, d, dirs_exist_ok=True)
    if PDF_REPORT.exists():
        res = ingest_paths([PDF_REPORT], d, show_progress=False)
        assert res.ok, res.failures
    return d


@pytest.fixture(scope="module")
def server(served_index: Path) -> Iterator[tuple[object, str]]:
    import app

    state = app.AppState(served_index)
    srv = app.start_server(state, widget_kwargs={"per_minute": 30})
    yield state, srv.url
    srv.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            locale="zh-CN",
        )
        ctx.set_default_timeout(TIMEOUT)
        yield ctx
        ctx.close()


def _open(browser, url: str):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("textarea")
    return page


def _ask(page, question: str, box: str = "#fqa-question textarea") -> None:
    """Type a question and wait for its final answer (the citation table comes with the last stream step)."""
    before = page.locator("#fqa-chat table").count()
    page.fill(box, question)
    page.keyboard.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#fqa-chat table').length > n", arg=before)


def test_chat_shows_figure_and_citation(server, browser, out_dir: Path) -> None:
    _, url = server
    page = _open(browser, url)
    _ask(page, RECEPTION_Q)
    bot = page.locator("#fqa-chat").inner_text()
    assert re.search(r"\b50\.00\b", bot), bot
    table = page.locator("#fqa-chat table").last.inner_text()
    assert "50.00" in table and "接待" in table, table  # the cited cell: row 公务接待费, value 50.00
    # the figure in the sentence is tied to its citation number
    assert page.locator("#fqa-chat strong", has_text="50.00").count() >= 1
    assert page.locator("#fqa-chat sup", has_text="[1]").count() >= 1
    # the side table lists the same citation; clicking it shows the source
    sources = page.locator("#fqa-sources").inner_text()
    assert "接待" in sources
    page.locator("#fqa-sources [data-testid='cell-0-1']").click()
    page.locator("#fqa-source-text").wait_for(state="visible")
    # the session's LLM settings live in the full app (the key in a password field), never in the widget
    assert "大模型设置" in page.locator("#fqa-llm").inner_text()
    page.wait_for_timeout(300)
    page.screenshot(path=str(out_dir / "app_chat.png"), full_page=True)


def test_corrupt_upload_shows_error_and_earlier_reports_answer(server, browser, out_dir: Path, tmp_path: Path) -> None:
    _, url = server
    bad = tmp_path / "corrupt_report.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\x00 not really a pdf " * 300)
    page = _open(browser, url)
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
    _ask(page, RECEPTION_Q)
    assert "50.00" in page.locator("#fqa-chat").inner_text()


def test_widget_refuses_long_question_then_answers(server, browser, out_dir: Path) -> None:
    _, url = server
    page = _open(browser, url + "/widget/")
    assert page.locator("#fqa-llm").count() == 0 and page.locator("input[type=password]").count() == 0
    answer = page.locator("#fqa-widget-answer")
    page.fill("#fqa-widget-question textarea", "公务接待费" * 120)  # 600 characters
    page.locator("#fqa-widget-send").click()
    answer.get_by_text("问题太长").wait_for()
    assert "500" in answer.inner_text()
    page.screenshot(path=str(out_dir / "widget_too_long.png"))
    page.fill("#fqa-widget-question textarea", RECEPTION_Q)
    page.locator("#fqa-widget-send").click()
    answer.locator("table").wait_for()
    text = answer.inner_text()
    assert "50.00" in text and "接待" in text
    page.screenshot(path=str(out_dir / "widget.png"))


@needs_corpus
def test_citation_shows_the_printed_cell(server, browser, out_dir: Path) -> None:
    """A figure from a PDF: its page region appears beside the chat; clicking the citation shows it again."""
    _, url = server
    page = _open(browser, url)
    _ask(page, "上海市普陀区财政局2024年一般公共预算财政拨款收入是多少？")
    assert "2,940.05" in page.locator("#fqa-chat").inner_text()
    gallery = page.locator("#fqa-source-img")
    gallery.locator("img").first.wait_for()
    page.locator("#fqa-sources [data-testid='cell-0-1']").click()
    page.locator("#fqa-source-text").wait_for(state="visible")
    gallery.locator("img").first.wait_for()
    assert "6" in page.locator("#fqa-sources").inner_text()  # the page of the cell
    page.wait_for_timeout(300)
    page.screenshot(path=str(out_dir / "app_source_image.png"), full_page=True)
