"""Benchmark: OCR of scanned reports — seconds per page and per-table identity pass rate.

    nice python eval/bench_ocr.py [--reports-dir ../shared/reports] [--limit N] [--max-pages K] [--dpi 150] [--json out.json]

For each corpus PDF (sorted by name, the first ``--limit``): the pages holding tables (as the
text layer reads them; with ``--max-pages``, whole tables in order while they fit) are copied twice — once
with their text layer, once rendered to images and re-assembled as an image-only PDF (what a
scan is). Both are ingested; the image-only copy goes through OCR. Printed per report and in
total: OCR seconds per page (median), the share of tables whose identity checks all pass
(tables with at least one check), for OCR and for the text layer of the same pages (published
figures sometimes break an identity themselves), and the share of text-layer facts OCR
reproduces exactly (same table kind, code, row, column and printed value).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import pymupdf


def _subset(src: Path, pages: list[int], out: Path, *, image_only: bool, dpi: int) -> Path:
    with pymupdf.open(src) as s, pymupdf.open() as d:
        for p in pages:
            if image_only:
                pg = s[p]
                pix = pg.get_pixmap(dpi=dpi, alpha=False)
                np_ = d.new_page(width=pg.rect.width, height=pg.rect.height)
                np_.insert_image(np_.rect, pixmap=pix)
            else:
                d.insert_pdf(s, from_page=p, to_page=p)
        d.save(out)
    return out


def _table_pages(path: Path, max_pages: int | None) -> list[int]:
    """0-based pages holding tables; with ``max_pages``, whole tables in order while they fit (at least one),
    so a table is not cut off (a cut table fails its sums)."""
    from assistant.ingest.pdf import read_pdf
    from assistant.models import RawTable

    layout = read_pdf([path])
    chosen: set[int] = set()
    for b in layout.blocks:
        if not (isinstance(b, RawTable) and b.rows):
            continue
        pages = {p - 1 for p in b.pages}
        if max_pages and chosen and len(chosen | pages) > max_pages:
            continue
        chosen |= pages
    return sorted(chosen)


def _per_table(rep) -> dict[str, tuple[int, int]]:
    """table key → (checks run, passed), each table checked on its own facts."""
    from assistant.checks import run_checks
    from assistant.store import facts_to_frame

    out: dict[str, tuple[int, int]] = {}
    for i, t in enumerate(rep.tables):
        fs = [f for f in rep.facts if f.table_id == t.table_id]
        if not fs:
            continue
        res = run_checks(facts_to_frame(fs), rep.meta)
        out[f"{i:02d} {t.table_kind} {t.title[:24]}"] = (res.run, res.passed)
    return out


def _key(f) -> tuple:
    return (f.table_kind, f.code, f.row_label, f.column, f.raw)


def bench_report(path: Path, tmp: Path, dpi: int, max_pages: int | None) -> dict:
    from assistant.ingest import ocr, parse_report

    pages = _table_pages(path, max_pages)
    if not pages:
        raise LookupError("no table pages (a narrative-only file)")
    text = _subset(path, pages, tmp / f"{path.stem}_text.pdf", image_only=False, dpi=dpi)
    scan = _subset(path, pages, tmp / f"{path.stem}_scan.pdf", image_only=True, dpi=dpi)
    ref = parse_report([text])
    per_page: list[float] = []
    real = ocr.ocr_page

    def timed(page, dpi=ocr.DPI, engine=None):
        r = real(page, dpi=dpi, engine=engine)
        per_page.append(r.seconds)
        return r

    ocr.ocr_page = timed  # type: ignore[assignment]
    t0 = time.perf_counter()
    try:
        rep = parse_report([scan])
    finally:
        ocr.ocr_page = real  # type: ignore[assignment]
    wall = time.perf_counter() - t0
    ocr_t, ref_t = _per_table(rep), _per_table(ref)
    checked_ocr = [v for v in ocr_t.values() if v[0]]
    checked_ref = [v for v in ref_t.values() if v[0]]
    want = {_key(f) for f in ref.facts}
    got = {_key(f) for f in rep.facts}
    return {
        "report": path.name,
        "pages": len(pages),
        "ocr_seconds_per_page_median": round(statistics.median(per_page), 2) if per_page else None,
        "ingest_seconds": round(wall, 1),
        "tables_checked_ocr": len(checked_ocr),
        "tables_passing_ocr": sum(1 for r, p in checked_ocr if r == p),
        "tables_checked_text": len(checked_ref),
        "tables_passing_text": sum(1 for r, p in checked_ref if r == p),
        "facts_text": len(want),
        "facts_reproduced": len(want & got),
        "flagged_tables": len({f.table_id for f in rep.facts if f.warning}),
        "per_page_seconds": [round(x, 2) for x in per_page],
    }


def _totals(rows: list[dict], dpi: int, label: str = "TOTAL") -> str:
    secs = [s for r in rows for s in r["per_page_seconds"]]
    to, po = sum(r["tables_checked_ocr"] for r in rows), sum(r["tables_passing_ocr"] for r in rows)
    tt, pt = sum(r["tables_checked_text"] for r in rows), sum(r["tables_passing_text"] for r in rows)
    ft, fr = sum(r["facts_text"] for r in rows), sum(r["facts_reproduced"] for r in rows)
    return (
        f"{label} {len(rows)} reports, {len(secs)} pages at {dpi} dpi: OCR {statistics.median(secs):.2f} s/page median "
        f"(mean {statistics.mean(secs):.2f}); per-table identity pass rate OCR {po}/{to} = {po / max(to, 1):.1%} "
        f"vs text layer {pt}/{tt} = {pt / max(tt, 1):.1%}; facts reproduced {fr}/{ft} = {fr / max(ft, 1):.1%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "reports"))
    ap.add_argument("--limit", type=int, default=0, help="first N PDFs (0: all)")
    ap.add_argument("--max-pages", type=int, default=0, help="at most K table pages per report (0: all)")
    ap.add_argument("--dpi", type=int, default=150, help="resolution of the simulated scan")
    ap.add_argument("--json", default="", help="write the per-report results here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pdfs = sorted(Path(args.reports_dir).glob("*.pdf"))
    if args.limit:
        pdfs = pdfs[: args.limit]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        for p in pdfs:
            try:
                r = bench_report(p, Path(tmp), args.dpi, args.max_pages or None)
            except LookupError as e:
                print(f"{p.name}: skipped ({e})", flush=True)
                continue
            except Exception as e:  # one unreadable report must not stop the benchmark
                print(f"{p.name}: failed ({type(e).__name__}: {e})", flush=True)
                continue
            rows.append(r)
            print(
                f"{r['report']}: {r['pages']} pages, OCR {r['ocr_seconds_per_page_median']} s/page (median); "
                f"tables passing identities: OCR {r['tables_passing_ocr']}/{r['tables_checked_ocr']}, "
                f"text layer {r['tables_passing_text']}/{r['tables_checked_text']}; "
                f"facts reproduced {r['facts_reproduced']}/{r['facts_text']}; flagged tables {r['flagged_tables']}",
                flush=True,
            )
            print("  " + _totals(rows, args.dpi, "so far:"), flush=True)
    if not rows:
        print("no report benchmarked")
        return
    print(_totals(rows, args.dpi))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
