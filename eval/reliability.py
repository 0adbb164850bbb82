"""Reliability suite, long runs (the fast cases are tests/test_reliability.py, test_writelock.py, test_deploy.py).

    python eval/reliability.py                  # everything: bad inputs, limits, kill -9 ×20, concurrent ×5,
                                                #   serving while another process ingests ×3, load 50×60 s
    python eval/reliability.py bad kill         # some sections
    python eval/reliability.py load --clients 50 --seconds 60

Prints one Markdown table per section (the README's reliability table comes from this output) and
exits 1 when any case fails. Uses the bundled sample and files made on the fly; a fast
deterministic embedder in the writers (the vectors do not matter here).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability_kit import (  # noqa: E402
    SAMPLE,
    FastEmbedder,
    bad_inputs,
    index_digest,
    renamed_sample,
    sample_text,
    writer_process,
)

Row = tuple[str, str, bool]


def table(title: str, rows: list[Row], width: int = 150) -> bool:
    ok = all(r[2] for r in rows)
    print(f"\n### {title}: {sum(r[2] for r in rows)}/{len(rows)} passed\n")
    print("| case | result | ok |")
    print("|---|---|---|")
    for name, result, good in rows:
        print(f"| {name} | {result.replace('|', '/')[:width]} | {'✓' if good else '✗'} |")
    sys.stdout.flush()
    return ok


def base_index(work: Path) -> Path:
    from assistant.ingest import ingest_paths

    d = work / "base"
    if not d.exists():
        assert ingest_paths([SAMPLE], d, show_progress=False, embedder=FastEmbedder()).ok
    return d


def answers_reception(index: Path) -> bool:
    from assistant.ask import ask
    from assistant.store import load_index

    return ask("曲靖市投资促进局2023年公务接待费是多少？", index=load_index(index)).value == 50.0


# --------------------------------------------------------------------------- sections


def section_bad(work: Path) -> bool:
    from assistant.ingest import ingest_paths

    idx = work / "bad-index"
    shutil.rmtree(idx, ignore_errors=True)
    shutil.copytree(base_index(work), idx)
    before = index_digest(idx)
    rows: list[Row] = []
    for b in bad_inputs(work / "bad-files"):
        try:
            res = ingest_paths(b.files, idx, show_progress=False, embedder=FastEmbedder(), replace=False)
            msg = "; ".join(f.reason for f in res.failures) or f"ingested {[s.report_id for s in res.reports]}"
        except Exception as e:  # a crash is a failed case
            msg = f"{type(e).__name__}: {e}"
        same = index_digest(idx) == before
        rows.append((b.name, msg + ("" if same else " — INDEX CHANGED"), bool(re.search(b.expect, msg)) and same))
    v2 = work / "bad-files" / "00_sample_v2_2023_juesuan.txt"
    v2.write_text(sample_text().replace("1834.93", "1834.94", 1), encoding="utf-8")
    res = ingest_paths([v2], idx, show_progress=False, embedder=FastEmbedder(), replace=False)
    msg = "; ".join(f.reason for f in res.failures)
    rows.append(("second version without --replace", msg, "--replace" in msg and index_digest(idx) == before))
    rows += rotated_cases(work, idx)
    rows += scanned_cases(work)
    rows += index_cases(work, idx, v2)
    rows = [(n, m, ok and index_digest(idx) == before) for n, m, ok in rows]
    return table(f"Bad inputs (index SHA-256 before = after, {before[:12]}…)", rows)


def rotated_cases(work: Path, idx: Path) -> list[Row]:
    """A published PDF (from ../shared/reports when present) with its pages turned, and with its content drawn sideways."""
    import pymupdf

    from assistant.ingest import ingest_paths

    corpus = Path(os.environ.get("FISCALQA_SHARED_REPORTS", REPO.parent / "shared" / "reports"))
    pdfs = sorted(corpus.glob("*.pdf"), key=lambda p: p.stat().st_size)[:1] if corpus.is_dir() else []
    if not pdfs:
        return [("rotated pages", f"skipped: no PDF corpus at {corpus}", True)]
    rows: list[Row] = []
    idx = work / "rotated-index"  # a turned PDF that reads right is ingested: not into the hashed index
    shutil.copytree(base_index(work), idx)
    turned, drawn = work / f"{pdfs[0].stem}_turned.pdf", work / f"{pdfs[0].stem}_sideways.pdf"
    with pymupdf.open(pdfs[0]) as doc:
        for page in doc:
            page.set_rotation(90)
        doc.save(turned)
    with pymupdf.open(pdfs[0]) as doc, pymupdf.open() as out:
        for page in doc:
            new = out.new_page(width=page.rect.height, height=page.rect.width)
            new.show_pdf_page(new.rect, doc, page.number, rotate=90)
        out.save(drawn)
    for name, f in (("PDF with every page turned 90°", turned), ("PDF drawn sideways (text read rotated)", drawn)):
        res = ingest_paths([f], idx, show_progress=False, embedder=FastEmbedder(), replace=False)
        msg = "; ".join(x.reason for x in res.failures) or f"ingested {[s.line() for s in res.reports]}"
        # refused, or read right: /Rotate only turns the display, the text layer reads as before (all checks pass)
        right = bool(res.reports) and all(s.checks_run and s.checks_passed == s.checks_run for s in res.reports)
        rows.append((name, msg, not res.reports or right))
    return rows


def scanned_cases(work: Path) -> list[Row]:
    """A published report's table pages rendered to images (what a scan is): read by OCR, checked, answerable."""
    from assistant.ingest import ingest_paths
    from tests.test_ocr import SOURCE, _subset, _table_pages

    corpus = Path(os.environ.get("FISCALQA_SHARED_REPORTS", REPO.parent / "shared" / "reports"))
    if not (corpus / SOURCE).exists():
        return [("scanned report (image-only pages, OCR)", f"skipped: no {SOURCE} at {corpus}", True)]
    import pymupdf

    with pymupdf.open(corpus / SOURCE) as doc:
        pages = _table_pages(doc)
    scan = _subset(corpus / SOURCE, pages, work / "scanned_copy_2024_juesuan.pdf", image_only=True)
    idx = work / "scan-index"  # a scan that reads right is ingested: not into the hashed index
    res = ingest_paths([scan], idx, show_progress=False, embedder=FastEmbedder())
    msg = "; ".join(x.reason for x in res.failures) or f"ingested by OCR: {[s.line() for s in res.reports]}"
    right = bool(res.reports) and all(s.facts and s.checks_run and s.checks_passed == s.checks_run for s in res.reports)
    return [(f"scanned report ({len(pages)} image-only pages, OCR)", msg, right)]


def _expect(name: str, fn, pattern: str) -> Row:  # type: ignore[no-untyped-def]
    try:
        got = fn()
        msg = got if isinstance(got, str) else f"no error ({got!r})"[:150]
    except Exception as e:
        msg = f"{type(e).__name__}: {e}"
    return (name, msg, bool(re.search(pattern, msg)) and "Traceback" not in msg)


def index_cases(work: Path, idx: Path, v2: Path) -> list[Row]:
    """Bad situations rather than bad files: the folder, the index, the disk, the question."""
    from assistant.appstate import AppState
    from assistant.ask import ask
    from assistant.ingest import ingest_paths
    from assistant.store import load_index
    from tests.reliability_kit import cli, mark_as_another_version

    def ingest(paths: list[Path], where: Path, **kw: object) -> str:
        res = ingest_paths(paths, where, show_progress=False, embedder=FastEmbedder(), **kw)  # type: ignore[arg-type]
        return "; ".join(f.reason for f in res.failures) or f"ingested {[r.report_id for r in res.reports]}"

    qidx = work / "question-index"  # asking opens Chroma, which touches its files: questions go to a copy
    shutil.copytree(idx, qidx)
    rows: list[Row] = []
    rows.append(_expect("two versions in one ingest", lambda: ingest([SAMPLE, v2], work / "two-versions"), "another version of"))
    rows.append(_expect("same file given twice", lambda: ingest([SAMPLE, Path(str(SAMPLE.parent) + "/./" + SAMPLE.name)], work / "twice"), r"ingested \['00_yunnan"))
    home = work / "mydocs"
    home.mkdir(exist_ok=True)
    (home / "notes.docx").write_bytes(b"x")
    rows.append(_expect("--index pointing at a folder of other files", lambda: ingest([SAMPLE], home), "not an index folder"))
    old = work / "old-format"
    shutil.copytree(idx, old)
    mark_as_another_version(old, "field_of_another_version")
    rows.append(_expect("index written by another version", lambda: load_index(old), "another version of fiscal-qa"))
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sys,time; sys.path.insert(0,{str(REPO)!r}); from assistant.writelock import writer_lock\n"
         f"with writer_lock({str(idx)!r}, purpose='bench holder'):\n print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    rows.append(_expect("index busy (another writer), --lock-timeout 0", lambda: ingest([v2], idx, lock_timeout=0), r"being written by pid \d+"))
    holder.kill()
    holder.wait()
    r = cli("ask", "", "--index", str(qidx))
    rows.append(("fiscal-qa ask \"\"", f"exit {r.returncode}: {r.stderr.strip()}", r.returncode != 0 and "empty" in r.stderr))
    r = cli("ask", "2023年公务接待费是多少？", "--json", "--index", str(qidx), env={"PYTHONIOENCODING": "ascii"})
    rows.append(("ASCII-only terminal (PYTHONIOENCODING=ascii)", f"exit {r.returncode}, {len(r.stdout)} bytes of JSON", r.returncode == 0 and "Traceback" not in r.stderr))
    rows.append(_expect("ask(123)", lambda: ask(123, index=load_index(qidx)), "TypeError: .*question as text"))  # type: ignore[arg-type]
    rows.append(_expect("question of punctuation only", lambda: ask("？？？", index=load_index(qidx)).answer, "only punctuation"))
    rows.append(_expect("question of 5,000 characters", lambda: ask("费" * 5000, index=load_index(qidx)).answer, "the limit is"))
    rows.append(_expect("unknown report filter in the API", lambda: AppState(qidx).resolve_filter("不存在的局 1999"), "no ingested report matches"))
    rows += tmpfs_cases(work)
    return rows


def tmpfs_cases(work: Path) -> list[Row]:
    from assistant.ingest import ingest_paths

    mnt = work / "small"
    mnt.mkdir(exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        return [("disk full / read-only on a small tmpfs", f"skipped: mount not permitted ({r.stderr.strip()})", True)]
    rows: list[Row] = []
    try:
        idx = mnt / "index"
        shutil.copytree(base_index(work), idx)
        before = index_digest(idx)
        (mnt / "filler").write_bytes(b"\0" * max(0, shutil.disk_usage(mnt).free - 200_000))
        new = renamed_sample(work / "full-src", "某市满盘测试局", "full_2023_juesuan")
        rows.append(_expect("disk full (3 MB tmpfs)", lambda: ingest_paths([new], idx, show_progress=False, embedder=FastEmbedder()), r"is full .*needed"))
        rows.append(("disk full: index unchanged and answering", "", index_digest(idx) == before and answers_reception(idx)))
        (mnt / "filler").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        rows.append(_expect("read-only file system", lambda: ingest_paths([new], idx, show_progress=False, embedder=FastEmbedder()), "read-only file system"))
        rows.append(("read-only: still answering", "", answers_reception(idx)))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    return rows


def section_kill(work: Path, n: int) -> bool:
    """kill -9 a writer at n moments spread over its run; the previous version must answer every time."""
    from assistant.writelock import writer_lock

    base = base_index(work)
    probe = work / "kill-probe"
    shutil.rmtree(probe, ignore_errors=True)
    shutil.copytree(base, probe)
    runs = []
    for _ in range(2):  # the faster of two calibration runs (the first pays for cold caches)
        shutil.rmtree(probe, ignore_errors=True)
        shutil.copytree(base, probe)
        t0 = time.monotonic()
        p = writer_process([renamed_sample(work / "kill-src", "某市被杀测试局", "killed_2023_juesuan")], probe)
        p.communicate(timeout=300)
        runs.append(time.monotonic() - t0)
    full = min(runs)
    rows: list[Row] = []
    for k in range(n):
        idx = work / f"kill-{k}"
        shutil.rmtree(idx, ignore_errors=True)
        shutil.copytree(base, idx)
        before = index_digest(idx)
        delay = 0.7 * full * (k + 0.5) / n  # the calibration run may be slower than the next ones (a shared machine)
        p = writer_process([renamed_sample(work / f"kill-src-{k}", "某市被杀测试局", "killed_2023_juesuan")], idx)
        time.sleep(delay)
        finished = p.poll() is not None
        p.kill()
        p.wait()
        from assistant.store import load_index

        committed = "killed_2023_juesuan" in {r.report_id for r in load_index(idx).reports}
        staging = any(p.name.startswith(".tmp-") for p in idx.iterdir())
        if finished:
            state = "finished before the kill"
        elif committed:
            state = "new version committed"
        elif index_digest(idx) == before:
            state = "index byte-identical"
        else:
            state = "old version live" + (", staging left (the next write removes it)" if staging else "")
        ok = answers_reception(idx)  # (opening Chroma touches its files: checked after the digest)
        try:
            with writer_lock(idx, timeout=0):
                unlocked = True
        except Exception:
            unlocked = False
        rows.append((f"kill -9 at {delay:.1f} s of {full:.1f} s", f"{state}; previous answers: {ok}; lock free: {unlocked}", ok and unlocked))
        shutil.rmtree(idx, ignore_errors=True)
    return table(f"kill -9 during an ingest ×{n}", rows)


def section_concurrent(work: Path, n: int) -> bool:
    from assistant.store import load_index

    rows: list[Row] = []
    for k in range(n):
        idx = work / f"conc-{k}"
        shutil.rmtree(idx, ignore_errors=True)
        shutil.copytree(base_index(work), idx)
        a = renamed_sample(work / f"conc-a{k}", "某市甲并发局", f"ca{k}_2023_juesuan")
        b = renamed_sample(work / f"conc-b{k}", "某市乙并发局", f"cb{k}_2023_juesuan")
        t0 = time.monotonic()
        procs = [writer_process([a], idx), writer_process([b], idx)]
        rcs = [(p.communicate(timeout=600), p.returncode)[1] for p in procs]
        ids = {r.report_id for r in load_index(idx).reports}
        both = {f"ca{k}_2023_juesuan", f"cb{k}_2023_juesuan"} <= ids
        leftovers = [p.name for p in idx.iterdir() if p.name.startswith(".tmp-")]
        rows.append(
            (
                f"trial {k + 1}",
                f"exit codes {rcs}; reports {len(ids)} (both new: {both}); staging left: {len(leftovers)}; {time.monotonic() - t0:.1f} s",
                rcs == [0, 0] and both and not leftovers and answers_reception(idx),
            )
        )
        shutil.rmtree(idx, ignore_errors=True)
    return table(f"Two concurrent ingests into one index ×{n}", rows)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def section_load(work: Path, clients: int, seconds: float) -> bool:
    """Half the clients on the widget, half on POST /api/ask, for ``seconds``; server RSS sampled every 2 s."""
    from app import free_port

    idx = work / "load-index"
    shutil.rmtree(idx, ignore_errors=True)
    shutil.copytree(base_index(work), idx)
    port = free_port()
    env = {**os.environ, "FISCALQA_RATE_PER_CLIENT": "100000/minute", "FISCALQA_RATE_GLOBAL": "1000000/minute"}
    log = open(work / "load-app.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "--index", str(idx), "--port", str(port), "--no-sample"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(url + "/widget/", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() - t0 > 300:
                    raise SystemExit(f"the app did not start; see {log.name}") from None
                time.sleep(0.5)
        stop = time.monotonic() + seconds
        counts = {"api": 0, "widget": 0, "errors": 0, "wrong": 0}
        lock = threading.Lock()
        samples: list[tuple[float, float]] = []

        def api_client(i: int) -> None:
            qs = ["2023年公务接待费是多少？", "how much was spent on reception in 2023"]
            while time.monotonic() < stop:
                body = json.dumps({"question": qs[i % 2]}).encode()
                req = urllib.request.Request(url + "/api/ask", body, {"Content-Type": "application/json"})
                try:
                    got = json.loads(urllib.request.urlopen(req, timeout=120).read())
                    key = "api" if got.get("value") == 50.0 else "wrong"
                except Exception:
                    key = "errors"
                with lock:
                    counts[key] += 1

        def widget_client(i: int) -> None:
            from gradio_client import Client

            try:
                c = Client(url + "/widget/", verbose=False)
            except Exception:
                with lock:
                    counts["errors"] += 1
                return
            while time.monotonic() < stop:
                try:
                    md = c.predict("2023年公务接待费是多少？", fn_index=0)
                    key = "widget" if "50.00" in md else "wrong"
                except Exception:
                    key = "errors"
                with lock:
                    counts[key] += 1

        threads = [threading.Thread(target=(api_client if i % 2 else widget_client), args=(i,), daemon=True) for i in range(clients)]
        start = time.monotonic()
        for t in threads:
            t.start()
        while time.monotonic() < stop:
            samples.append((time.monotonic() - start, _rss_mb(proc.pid)))
            time.sleep(2)
        for t in threads:
            t.join(timeout=150)
        samples.append((time.monotonic() - start, _rss_mb(proc.pid)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    third = max(1, len(samples) // 3)
    first = statistics.median(s[1] for s in samples[:third])
    last = statistics.median(s[1] for s in samples[-third:])
    growth = (last - first) / first * 100 if first else 0.0
    done = counts["api"] + counts["widget"]
    rows: list[Row] = [
        (f"{clients} clients for {seconds:.0f} s", f"{counts['api']} API + {counts['widget']} widget answers right, {counts['wrong']} wrong, {counts['errors']} errors", counts["wrong"] == 0 and counts["errors"] == 0 and done > 0),
        ("server memory (RSS, median of first vs last third)", f"{first:.0f} MB → {last:.0f} MB ({growth:+.1f} %), peak {max(s[1] for s in samples):.0f} MB", growth < 10),
    ]
    return table("Load: widget + API clients at once", rows)


def section_limits(work: Path) -> bool:
    """Per-upload limits of the app's ingest worker: too slow, too hungry, a sudden huge allocation; then a good upload."""
    from assistant.errors import IngestLimitError
    from assistant.jobs import IngestJobs
    from assistant.store import load_index
    from tests.reliability_kit import StuckEmbedder, greedy_parsers

    idx = work / "limits-index"
    shutil.rmtree(idx, ignore_errors=True)
    shutil.copytree(base_index(work), idx)
    before = index_digest(idx)
    tmp = Path(tempfile.mkdtemp(prefix="limits-tmp-", dir=work))
    tempfile.tempdir, old_tmp = str(tmp), tempfile.tempdir  # the jobs' temporary folders are made (and removed) here
    rows: list[Row] = []

    def attempt(name: str, jobs: IngestJobs, f: Path, embedder: object, pattern: str) -> None:
        t0 = time.monotonic()
        try:
            res = jobs.run([f], embedder=embedder)
            msg = "; ".join(f"{Path(x.path).name}: {x.reason}" for x in res.failures) or f"ingested {[s.report_id for s in res.reports]}"
            by = "the worker's address-space cap"
        except IngestLimitError as e:
            msg = str(e)
            by = "the watchdog"
        left = [p.name for p in idx.glob(".tmp-*")] + [p.name for p in tmp.iterdir()]
        same = index_digest(idx) == before
        note = f" (by {by}, {time.monotonic() - t0:.1f} s; staging/temp left: {len(left)}; index identical: {same})"
        rows.append((name, msg + note, bool(re.search(pattern, msg)) and same and not left and f.name in msg))

    try:
        jobs = IngestJobs(idx, seconds=10, memory_mb=0)
        try:
            f = renamed_sample(work / "lim-slow", "某市超时测试局", "slow_2023_juesuan")
            attempt("upload past FISCALQA_INGEST_SECONDS=10 (embedding never ends)", jobs, f, StuckEmbedder(), r"longer than 10 s.*FISCALQA_INGEST_SECONDS")
        finally:
            jobs.close()
        jobs = IngestJobs(idx, seconds=300, memory_mb=500, worker_setup=greedy_parsers)
        try:
            f = renamed_sample(work / "lim-hungry", "某市超限测试局", "hungry_2023_juesuan")
            attempt("upload past FISCALQA_INGEST_MEMORY_MB=500 (parser allocates 20 MB / 20 ms)", jobs, f, FastEmbedder(), r"more than 500 MB.*FISCALQA_INGEST_MEMORY_MB")
            rows[-1] = (rows[-1][0], rows[-1][1] + f"; peak seen {jobs.peak_mb:.0f} MB", rows[-1][2])
            f = renamed_sample(work / "lim-huge", "某市超限测试局", "huge_2023_juesuan")
            attempt("upload asking for 3 GB at once", jobs, f, FastEmbedder(), r"more than 500 MB.*FISCALQA_INGEST_MEMORY_MB")
            good = renamed_sample(work / "lim-good", "某市正常测试局", "fine_2023_juesuan")
            res = jobs.run([good], embedder=FastEmbedder())
            ok = res.ok and "fine_2023_juesuan" in {r.report_id for r in load_index(idx).reports}
            rows.append(("the next upload after a kill (a new worker)", f"ingested {[s.report_id for s in res.reports]}", ok))
        finally:
            jobs.close()
    finally:
        tempfile.tempdir = old_tmp
    return table("Per-upload limits (app ingest worker; index SHA-256 before = after for the stopped ones)", rows, width=320)


def section_serve(work: Path, n: int) -> bool:
    """A CLI ingest (another process) into the index the app serves, while 4 threads ask table and text questions."""
    from assistant.appstate import AppState
    from tests.reliability_kit import SAMPLE_DEPT, cli_process_fast

    rows: list[Row] = []
    idx = work / "serve-index"
    shutil.rmtree(idx, ignore_errors=True)
    shutil.copytree(base_index(work), idx)
    state = AppState(idx)

    def check(dept: str) -> list[str]:
        wrong = []
        a = state.ask(f"{dept}2023年公务接待费是多少？")
        if a.value != 50.0 or "error" in a.meta:
            wrong.append("table: " + a.answer[:80])
        a = state.ask(f"{dept}的主要职能是什么？")
        if a.route != "text" or not a.citations or "招商" not in a.answer or "error" in a.meta:
            wrong.append("text: " + a.answer[:80])
        return wrong

    check(SAMPLE_DEPT)
    for k in range(n):
        dept = f"某市{'甲乙丙丁戊己庚辛壬癸'[k % 10]}服务测试局"
        f = renamed_sample(work / f"serve-src-{k}", dept, f"served{k}_2023_juesuan")
        writer = cli_process_fast("ingest", "-q", str(f), "--index", str(idx))
        counts = {"asked": 0}
        wrong: list[str] = []
        lock = threading.Lock()

        def asker(writer: subprocess.Popen[str] = writer, counts: dict[str, int] = counts, wrong: list[str] = wrong,
                  lock: threading.Lock = lock) -> None:  # fmt: skip
            while writer.poll() is None:
                got = check(SAMPLE_DEPT)
                with lock:
                    counts["asked"] += 2
                    wrong.extend(got)

        threads = [threading.Thread(target=asker, daemon=True) for _ in range(4)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        _, err = writer.communicate(timeout=600)
        for t in threads:
            t.join(timeout=120)
        after = check(dept) + check(SAMPLE_DEPT)
        ok = writer.returncode == 0 and not wrong and not after and "Traceback" not in err
        for w in dict.fromkeys(wrong + after):
            print(f"  wrong: {w}", file=sys.stderr)
        rows.append(
            (
                f"CLI ingest {k + 1} while serving",
                f"exit {writer.returncode}; {counts['asked']} answers during ({len(wrong)} wrong or failed), "
                f"new report answered after without restart: {not check(dept)}; {time.monotonic() - t0:.1f} s",
                ok,
            )
        )
    return table(f"Serving while another process ingests into the same index ×{n}", rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sections", nargs="*", default=["bad", "limits", "kill", "concurrent", "serve", "load"])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--serves", type=int, default=3)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60)
    args = p.parse_args(argv)
    random.seed(0)
    work = Path(tempfile.mkdtemp(prefix="fqa-reliability-"))
    ok = True
    try:
        for s in args.sections:
            if s == "bad":
                ok &= section_bad(work)
            elif s == "kill":
                ok &= section_kill(work, args.kills)
            elif s == "limits":
                ok &= section_limits(work)
            elif s == "serve":
                ok &= section_serve(work, args.serves)
            elif s == "concurrent":
                ok &= section_concurrent(work, args.trials)
            elif s == "load":
                ok &= section_load(work, args.clients, args.seconds)
            else:
                p.error(f"unknown section {s!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
