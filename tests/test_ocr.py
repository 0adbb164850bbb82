"""Scanned reports: a corpus PDF rendered to images and re-assembled as an image-only PDF is OCR'd offline
and reads like its text layer; identity checks decide, a misread table is flagged and answered with a warning.

OCR is slow on a small machine: only the pages holding the 收支总表 and the 三公 table of one corpus
report are OCR'd, once per test session (a caching engine replays the results).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pymupdf
import pytest

from tests.conftest import corpus_file, needs_corpus
from tests.test_store import CountingEmbedder

SOURCE = "01_shanghai_putuo_caizhengju_2024_juesuan.pdf"
IMAGE_DPI = 150


class CachingEngine:
    """RapidOCR behind a cache keyed by the image; ``edit`` may alter what it 'reads' (a simulated misreading)."""

    def __init__(self, cache: dict[str, object], edit=None) -> None:
        self.cache = cache
        self.edit = edit

    def __call__(self, img, **kw):
        key = hashlib.sha1(img.tobytes()).hexdigest()
        if key not in self.cache:
            if "engine" not in self.cache:
                from rapidocr_onnxruntime import RapidOCR

                self.cache["engine"] = RapidOCR()
            self.cache[key] = self.cache["engine"](img, **kw)  # type: ignore[operator]
        result, elapse = self.cache[key]
        if self.edit is not None:
            result = [self.edit(list(r)) for r in result]
        return result, elapse


def _table_pages(doc: pymupdf.Document) -> list[int]:
    """The pages printing the income-and-spending summary and the 三公 table (found by their titles, not numbers)."""
    found: dict[str, int] = {}
    for i, page in enumerate(doc):
        text = page.get_text()
        if "目录" in text or "单位" not in text:
            continue
        lines = [x.strip() for x in text.splitlines()]
        if "summary" not in found and any(x.endswith("收入支出决算总表") and not x.startswith("财政拨款") for x in lines):
            found["summary"] = i
        if "three" not in found and any("三公" in x and x.endswith("表") for x in lines) and "公务接待费" in text:
            found["three"] = i
    return sorted(found.values())


def _subset(src: Path, pages: list[int], out: Path, *, image_only: bool) -> Path:
    with pymupdf.open(src) as s, pymupdf.open() as d:
        for p in pages:
            if image_only:
                pg = s[p]
                pix = pg.get_pixmap(dpi=IMAGE_DPI, alpha=False)
                np_ = d.new_page(width=pg.rect.width, height=pg.rect.height)
                np_.insert_image(np_.rect, pixmap=pix)
            else:
                d.insert_pdf(s, from_page=p, to_page=p)
        d.save(out)
    return out


@pytest.fixture(scope="session")
def ocr_cache() -> dict[str, object]:
    return {}


@pytest.fixture(scope="session")
def scanned(tmp_path_factory, ocr_cache):
    """(image-only PDF, the same pages with their text layer, the OCR'd report, the text-layer report)."""
    if not corpus_file(SOURCE).exists():
        pytest.skip(f"the corpus report {SOURCE} is absent")
    from assistant.ingest import ocr, parse_report

    d = tmp_path_factory.mktemp("scan")
    with pymupdf.open(corpus_file(SOURCE)) as doc:
        pages = _table_pages(doc)
    assert len(pages) == 2, pages
    scan = _subset(corpus_file(SOURCE), pages, d / "scanned_2024_juesuan.pdf", image_only=True)
    text = _subset(corpus_file(SOURCE), pages, d / "textlayer_2024_juesuan.pdf", image_only=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ocr, "_ENGINE", CachingEngine(ocr_cache))
        rep = parse_report([scan])
    return scan, text, rep, parse_report([text])


def _key(f):
    return (f.table_kind, f.code, f.row_label, f.column, f.raw)


@needs_corpus
def test_scanned_pages_are_detected(scanned):
    from assistant.ingest.ocr import pages_needing_ocr

    scan, text, _, _ = scanned
    assert set(pages_needing_ocr(scan)) == {0, 1}
    assert pages_needing_ocr(text) == {}


@needs_corpus
def test_ocr_reads_the_tables_like_the_text_layer(scanned):
    _, _, rep, ref = scanned
    assert {t.table_kind for t in rep.tables} >= {"income_expenditure_summary", "three_public_expenses"}
    assert {_key(f) for f in rep.facts} == {_key(f) for f in ref.facts}
    assert rep.facts and all(f.ocr and f.confidence is not None and 0 < f.confidence <= 1 for f in rep.facts)
    assert (rep.meta.department, rep.meta.year, rep.meta.kind) == (ref.meta.department, ref.meta.year, ref.meta.kind)


@needs_corpus
def test_identities_pass_after_ocr(scanned):
    from assistant.checks import run_checks
    from assistant.store import facts_to_frame

    _, _, rep, _ = scanned
    res = run_checks(facts_to_frame(rep.facts), rep.meta)
    assert res.run >= 2 and res.passed == res.run, [f.describe() for f in res.failures]
    checked = {c for c in res.kinds}
    assert any("numbered rows" in c for c in checked)  # 收支总表
    assert any("columns" in c for c in checked)  # 三公 合计 = Σ columns
    assert not any(f.warning for f in rep.facts)


@needs_corpus
def test_reception_read_right_or_flagged(scanned):
    _, _, rep, ref = scanned
    want = {_key(f): f.raw for f in ref.facts if "公务接待费" in f.column + f.row_label}
    got = [f for f in rep.facts if "公务接待费" in f.column + f.row_label]
    assert got and want
    for f in got:
        assert _key(f) in want or f.warning


@needs_corpus
def test_misread_table_is_flagged_and_answered_with_the_warning(scanned, ocr_cache, tmp_path):
    from assistant.ask import ask
    from assistant.ingest import ingest_paths, ocr
    from assistant.store import load_index

    scan, _, rep, _ = scanned
    total = next(f for f in rep.facts if f.row_label == "本年收入合计")
    wrong = total.raw[:-1] + ("9" if total.raw[-1] != "9" else "8")

    def misread(r):
        if r[1] == total.raw:  # the last digit misread
            r[1] = wrong
            if len(r) > 4 and r[4]:
                words = list(r[4])
                words[-1] = words[-1][:-1] + wrong[-1]
                r[4] = words
        return r

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ocr, "_ENGINE", CachingEngine(ocr_cache, edit=misread))
        res = ingest_paths([scan], tmp_path / "idx", show_progress=False, embedder=CountingEmbedder())
    assert res.ok, res.failures
    assert any("read by OCR" in p and "identity" in p for p in res.reports[0].problems)
    idx = load_index(tmp_path / "idx")
    flagged = idx.facts[idx.facts.row_label == "本年收入合计"].iloc[0]
    assert flagged["raw"] == wrong and flagged["warning"]
    ans = ask("本年收入合计是多少？", index=idx)
    assert "OCR" in ans.answer and "注意" in ans.answer, ans.answer
    assert any(c.provenance and "OCR" in c.provenance for c in ans.citations)


@needs_corpus
def test_source_view_shows_the_page_image_with_the_box(scanned, ocr_cache, tmp_path):
    from assistant.ingest import ingest_paths, ocr
    from assistant.source import render
    from assistant.store import load_index

    scan = scanned[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ocr, "_ENGINE", CachingEngine(ocr_cache))
        assert ingest_paths([scan], tmp_path / "idx", show_progress=False, embedder=CountingEmbedder()).ok
    idx = load_index(tmp_path / "idx")
    fact = idx.facts[idx.facts.status == "ok"].iloc[0]
    pngs = render(idx, str(fact["fact_id"]))
    assert pngs and pngs[0][:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "text,image_share,why",
    [
        ("", 1.0, "no text layer"),
        ("", 0.0, ""),  # a blank page
        ("江苏省人民检察院2018年部门预算", 0.55, ""),  # a cover with a picture
        ("12", 0.95, "no text layer"),  # a scan with a stamped page number
        ("\ue001\ue002\ue003" * 10 + "合计", 0.0, "private-use"),
        ("1,834.93 950.55 884.38 2011301 706.20 15.00", 0.0, "only the figures"),
        ("一般公共预算财政拨款收入 1,834.93 合计 基本支出", 0.0, ""),
        ("ꀀꀁꀂꀃꀄꀅꀆꀇꀈꀉꀊꀋꀌꀍꀎꀏꀐꀑꀒꀓ", 0.0, "ToUnicode"),  # Yi syllables from a broken map
        ("財政撥款收入支出決算總表 一般公共預算", 0.0, ""),  # traditional characters are fine
    ],
)
def test_text_layer_problem(text, image_share, why):
    from assistant.ingest.ocr import text_layer_problem

    got = text_layer_problem(text, image_share)
    assert (why in got) if why else got == ""


def test_ruling_lines_found_in_an_image():
    import numpy as np

    from assistant.ingest.ocr import ruling_lines

    img = np.full((200, 300, 3), 255, dtype=np.uint8)
    img[20, 10:290] = 0  # a horizontal rule
    img[180, 10:290] = 0
    img[20:181, 10] = 0  # verticals
    img[20:181, 150] = 0
    img[20:181, 289] = 0
    img[100, 50:58] = 0  # a dash in a cell: not a rule
    img[60:75, 200:230] = 0  # text, blanked by its OCR box
    hs, vs = ruling_lines(img, [(195, 55, 235, 80)], 72 / 150)
    assert len({round(h[0]) for h in hs}) == 2
    assert len({round(v[0]) for v in vs}) == 3


def test_pdf_without_any_text_goes_to_ocr(tmp_path):
    from assistant.ingest.ocr import pages_needing_ocr

    path = tmp_path / "scan.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 40), False)
    page.insert_image(pymupdf.Rect(50, 50, 300, 300), pixmap=pix)
    doc.new_page()
    doc.save(path)
    assert pages_needing_ocr(path) == {0: "no text layer", 1: "no text layer"}


@pytest.mark.parametrize(
    "read,want",
    [("本年收人合计", "本年收入合计"), ("财政拔款收入", "财政拨款收入"), ("一般公共顶算", "一般公共预算"), ("收入", "收入")],
)
def test_known_misreadings_fixed(read, want):
    from assistant.ingest.ocr import fix_misreadings

    assert fix_misreadings(read) == want


def test_dropped_leading_yi_restored():
    from assistant.ingest.ocr import _chars_of_line

    box = [[100, 10], [300, 10], [300, 30], [100, 30]]
    words = ["、", "一", "般", "公", "共"]
    wboxes = [[[100 + 20 * i, 10], [118 + 20 * i, 10], [118 + 20 * i, 30], [100 + 20 * i, 30]] for i in range(5)]
    chars, confs = _chars_of_line([box, "、一般公共", 0.99, wboxes, words, [0.99] * 5], 0.5)
    assert "".join(c.c for c in chars) == "一、一般公共"
    assert chars[0].x1 <= chars[1].x0 + 0.01 and confs[0] <= 0.5
