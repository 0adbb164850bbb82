"""Retake the README's screenshots: serve an index, drive headless Chromium, write docs/screenshots/*.png.

    python docs/screenshots/take.py --index /path/to/index      # e.g. an index of ../shared/reports

Uses Debian's Chromium (/usr/bin/chromium) through Playwright, like tests/test_browser.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PDF_Q = "上海市普陀区财政局2024年一般公共预算财政拨款收入是多少？"
THREE_Q = "江苏省高级人民法院2019年“三公”经费预算是多少？"


def _settle(page) -> None:
    last = None
    for _ in range(200):
        t = page.locator("#fqa-chat [data-testid='bot']").last.inner_text()
        if t == last and t.strip() not in ("", "…"):
            return
        last = t
        page.wait_for_timeout(300)


def _ask(page, q: str) -> None:
    n = page.locator("#fqa-chat [data-testid='bot']").count()
    page.fill("#fqa-question textarea", q)
    page.keyboard.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#fqa-chat [data-testid=bot]').length > n", arg=n, timeout=90_000)
    _settle(page)


def main() -> int:
    from playwright.sync_api import sync_playwright

    import app

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", required=True)
    p.add_argument("--out", default=str(HERE))
    args = p.parse_args()
    out = Path(args.out)
    srv = app.start_server(app.AppState(args.index))
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            ctx = b.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            ctx.set_default_timeout(60_000)
            page = ctx.new_page()
            page.goto(srv.url)
            page.wait_for_selector("textarea")
            _ask(page, PDF_Q)
            page.locator("#fqa-source-view img").wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / "app.png"))
            page.locator("#fqa-source-view button[data-z='+']").click()
            page.wait_for_timeout(400)
            page.locator("#fqa-source-view").screenshot(path=str(out / "source.png"))
            page.get_by_role("tab", name="数据浏览").click()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / "facts.png"))
            page.get_by_role("tab", name="图表").click()
            page.wait_for_timeout(2500)
            page.screenshot(path=str(out / "charts.png"), full_page=True)
            page.get_by_role("tab", name="审查").click()
            page.locator("#fqa-review-btn").click()
            page.locator("#fqa-review h1, #fqa-review h2").first.wait_for(timeout=120_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / "review.png"))
            w = b.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2)
            wp = w.new_page()
            wp.goto(srv.url + "/widget/")
            wp.wait_for_selector("textarea")
            wp.fill("#fqa-widget-question textarea", THREE_Q)
            wp.locator("#fqa-widget-send").click()
            wp.locator("#fqa-widget-answer table").wait_for(timeout=90_000)
            wp.wait_for_timeout(500)
            wp.screenshot(path=str(out / "widget.png"), full_page=True)
            b.close()
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
