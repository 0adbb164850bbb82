"""Ingestion benchmark: every report in a folder, its identity, facts, shares in ``other`` / without unit, checks.

    python eval/bench_ingest.py ../shared/reports [--index DIR]

Files are grouped into reports by the identity they print (as ``fiscal-qa ingest`` does), each report is
read and interpreted (extraction: layout, identity, tables, chunks) and its identity checks run. Without
``--index`` nothing is embedded or written; with it, the reports are also ingested into DIR and the
ingest's own timings line is printed. Extraction speed is pages per second of reading + interpreting.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path)
    p.add_argument("--index", type=Path, help="also ingest into this index folder (embeds; slow)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from assistant.checks import run_checks
    from assistant.errors import BadReportError
    from assistant.ingest import collect_files, ingest_paths, parse_report, read_file
    from assistant.ingest.pairing import merge_layouts, pair_by_identity
    from assistant.store import facts_to_frame

    files = collect_files([args.folder])
    t0 = time.perf_counter()
    reads, failed = [], []
    for f in files:
        try:
            reads.append(read_file(f))
        except BadReportError as e:
            failed.append((str(f), e.reason))
    t_read = time.perf_counter() - t0
    rows = []
    t1 = time.perf_counter()
    for g in pair_by_identity(reads):
        paths = [r.path for r in g.files]
        try:
            rep = parse_report(paths, layout=merge_layouts([r.layout for r in g.files]), report_id=g.report_id)
        except BadReportError as e:
            failed.append((", ".join(map(str, paths)), e.reason))
            continue
        facts = facts_to_frame(rep.facts)
        checks = run_checks(facts, rep.meta)
        n = len(facts)
        figures = facts[facts.status == "ok"] if n else facts
        other = (facts.table_kind == "other").sum() if n else 0
        no_unit = (figures.unit == "").sum() if n else 0
        m = rep.meta
        rows.append((m, n, len(rep.chunks), other, no_unit, len(figures), checks.passed, checks.run))
    t_interp = time.perf_counter() - t1
    pages = sum(r.layout.page_count for r in reads)

    print(f"{'report':<34} {'department':<22} {'year':>4} {'kind':<4} {'scope':<4} {'place':<12} {'files':>5} "
          f"{'facts':>5} {'other':>6} {'no unit':>7} {'checks':>9}")
    tot = [0, 0, 0, 0, 0, 0]
    for m, n, _c, other, no_unit, nfig, cp, cr in rows:
        print(
            f"{m.report_id[:34]:<34} {m.department[:22]:<22} {m.year:>4} {m.kind:<4} {m.scope:<4} {m.place[:12]:<12} "
            f"{len(m.sources):>5} {n:>5} {other / n if n else 0:>6.1%} {no_unit / nfig if nfig else 0:>7.1%} {cp:>4}/{cr:<4}"
        )
        for i, v in enumerate((n, other, no_unit, nfig, cp, cr)):
            tot[i] += int(v)
    n, other, no_unit, nfig, cp, cr = tot
    print(
        f"total: {len(rows)} reports from {len(files)} files, {n} facts, other {other / n if n else 0:.2%}, "
        f"figures without unit {no_unit / nfig if nfig else 0:.2%} ({no_unit} of {nfig}), checks {cp}/{cr} passed"
    )
    print(
        f"extraction: {pages} pages in {t_read + t_interp:.2f} s = {pages / (t_read + t_interp):.0f} pages/s "
        f"(reading {t_read:.2f} s, interpreting {t_interp:.2f} s)"
    )
    for path, reason in failed:
        print(f"failed {path}: {reason}")
    if args.index:
        res = ingest_paths([args.folder], args.index, show_progress=False)
        print(f"ingest into {args.index}: {len(res.reports)} reports, {len(res.failures)} failed")
        print(res.timings.line())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
