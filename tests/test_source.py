"""The source viewer: every PDF fact's box holds its printed text, and the rendered region shows it outlined."""

from __future__ import annotations

import random
import re
from decimal import Decimal
from io import BytesIO

import pymupdf
import pytest

from assistant.source import NoPageImageError, render
from assistant.store import source_pdf


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s or "")


def _box_text(index, fact) -> str:
    path, page_no = source_pdf(index, fact.report_id, int(fact.page))
    with pymupdf.open(path) as doc:
        return doc[page_no].get_textbox(pymupdf.Rect(fact.bbox))


def _fact(index, report_prefix: str, label: str, value: str):
    f = index.facts
    hit = f[f.report_id.str.startswith(report_prefix) & f.row_label.str.contains(label, regex=False) & (f.value == Decimal(value))]
    assert len(hit), f"no fact {label} = {value} in {report_prefix}"
    return next(hit.itertuples(index=False))


@pytest.mark.corpus
def test_caizhengju_income_box_reads_the_printed_figure(corpus_index):
    fact = _fact(corpus_index, "01_shanghai_putuo_caizhengju_2024", "一般公共预算财政拨款收入", "2940.05")
    assert fact.page == 6
    assert _norm(_box_text(corpus_index, fact)) == "2,940.05"


@pytest.mark.corpus
def test_200_random_fact_boxes_hold_their_raw_text(corpus_index):
    f = corpus_index.facts
    pdf_facts = f[f.page.notna() & f.bbox.notna() & (f.status == "ok")]
    sample = random.Random(2026).sample(range(len(pdf_facts)), min(200, len(pdf_facts)))
    bad = []
    for i in sample:
        fact = pdf_facts.iloc[i]
        if _norm(_box_text(corpus_index, fact)) != _norm(fact.raw):
            bad.append((fact.fact_id, fact.raw, _box_text(corpus_index, fact)))
    assert not bad, f"{len(bad)} of {len(sample)} boxes do not read their raw text, e.g. {bad[:3]}"


@pytest.mark.corpus
def test_rendered_region_is_readable_and_outlined(corpus_index):
    fact = _fact(corpus_index, "01_shanghai_putuo_caizhengju_2024", "一般公共预算财政拨款收入", "2940.05")
    (png,) = render(corpus_index, fact.fact_id)
    pix = pymupdf.Pixmap(BytesIO(png).getvalue())
    with pymupdf.open(source_pdf(corpus_index, fact.report_id, int(fact.page))[0]) as doc:
        page_width = doc[int(fact.page) - 1].rect.width
    # at 2× zoom: the row from its label to the cell (not a page-wide strip), with the column header and
    # about four rows above and below, so the figure reads among its neighbours
    assert 500 <= pix.width <= round(page_width * 2)
    assert pix.height >= 250 and pix.height < pix.width * 2
    # the outline colour (red) is drawn
    samples = pix.samples
    n = pix.n
    reds = sum(1 for k in range(0, len(samples), n) if samples[k] > 180 and samples[k + 1] < 70 and samples[k + 2] < 70)
    assert reds > 50


@pytest.mark.corpus
def test_computed_answer_renders_every_cell(corpus_index):
    f = corpus_index.facts
    rows = f[f.report_id.str.startswith("01_shanghai_putuo_caizhengju_2024") & f.bbox.notna() & (f.page == 6)].head(2)
    images = render(corpus_index, list(rows.fact_id))
    assert len(images) == 1  # both cells on one page → one image with both outlined


def test_text_sample_has_no_page_image_but_says_what_the_cell_reads(sample_index):
    f = sample_index.facts
    fact = f[(f.code == "30217")].iloc[0]
    with pytest.raises(NoPageImageError, match="30217|公务接待费"):
        render(sample_index, fact.fact_id)
