"""An index written by another process while the app serves it: a CLI ``ingest`` into the index an AppState is
answering from (embedded Chroma). Answers keep coming, right, during and after; the new report is answerable
afterwards without a restart; Chroma read errors during the commit are retried after reopening the client."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from assistant.appstate import AppState
from assistant.ingest import ingest_paths
from assistant.store import load_index
from tests.reliability_kit import SAMPLE, SAMPLE_DEPT, FastEmbedder, cli_process_fast, renamed_sample

NEW_DEPT = "某市另一个局"


def _ask_all(state: AppState, dept: str) -> list[tuple[str, object]]:
    """A table question and a descriptive one about ``dept``: (what went wrong or '', the answer)."""
    out: list[tuple[str, object]] = []
    a = state.ask(f"{dept}2023年公务接待费是多少？")
    ok = a.value == 50.0 and {c.report for c in a.citations} == {_rid(state, dept)} and "error" not in a.meta
    out.append(("" if ok else f"table: {a.answer[:120]} {a.meta.get('error')}", a))
    a = state.ask(f"{dept}的主要职能是什么？")
    ok = a.route == "text" and bool(a.citations) and {c.report for c in a.citations} == {_rid(state, dept)}
    ok = ok and "招商" in a.answer and "error" not in a.meta
    out.append(("" if ok else f"text: {a.answer[:120]} {a.meta.get('error')}", a))
    return out


def _rid(state: AppState, dept: str) -> str:
    return next(r.report_id for r in state.reports() if r.department == dept)


def test_a_cli_ingest_into_the_served_index_keeps_answers_right_and_is_seen_without_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = tmp_path / "index"
    assert ingest_paths([SAMPLE], index, show_progress=False, embedder=FastEmbedder()).ok
    new = renamed_sample(tmp_path / "in", NEW_DEPT, "40_mou_lingyigeju_2023_juesuan")
    state = AppState(index)
    assert all(not problem for problem, _ in _ask_all(state, SAMPLE_DEPT))  # Chroma opened and serving

    caplog.set_level(logging.INFO)
    writer = cli_process_fast("ingest", "-q", str(new), "--index", str(index))
    problems: list[str] = []
    during = 0
    try:
        deadline = time.monotonic() + 240
        while writer.poll() is None and time.monotonic() < deadline:
            problems += [p for p, _ in _ask_all(state, SAMPLE_DEPT) if p]
            during += 1
            time.sleep(0.05)  # two cores: leave the writer some
    finally:
        if writer.poll() is None:
            writer.kill()
    out, err = writer.communicate()
    assert writer.returncode == 0, err[-2000:]
    assert during >= 2, "answers were asked while the other process wrote"
    assert problems == []

    # after: the new report is answered (no restart), the first one still is
    assert {r.department for r in state.reports()} == {SAMPLE_DEPT, NEW_DEPT}
    for dept in (NEW_DEPT, SAMPLE_DEPT):
        assert [p for p, _ in _ask_all(state, dept) if p] == []
    from assistant.ask.retrieve import hybrid_index

    idx = state.index()
    assert idx is not None
    n_chunks = len(load_index(index).chunks)
    assert hybrid_index(idx).collection.count() == n_chunks, "the reopened client sees the other process's vectors"
    bad = [r.getMessage() for r in caplog.records if "retrieval unavailable" in r.getMessage() or "BM25 only" in r.getMessage()]
    assert bad == []
    assert "Traceback" not in err


def test_a_chroma_read_error_is_retried_once_after_reopening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit of another process makes the open client fail ("Error finding id"): one reopen, then the answer."""
    from assistant import vectors

    monkeypatch.setattr(vectors, "EXACT_MAX_REPORTS", 0)  # through Chroma (a few reports are searched exactly)
    index = tmp_path / "index"
    assert ingest_paths([SAMPLE], index, show_progress=False, embedder=FastEmbedder()).ok
    state = AppState(index)
    from assistant.ask.retrieve import hybrid_index

    idx = state.index()
    assert idx is not None
    h = hybrid_index(idx)
    real = h.collection
    calls = {"n": 0}

    class Flaky:
        def count(self) -> int:
            return int(real.count())

        def query(self, **kw: object) -> object:
            calls["n"] += 1
            raise RuntimeError("Error executing plan: Internal error: Error finding id")

    h.collection = Flaky()
    old_client = h.client
    problems = [p for p, _ in _ask_all(state, SAMPLE_DEPT) if p]
    assert problems == []
    assert calls["n"] == 1 and h.client is not old_client and not isinstance(h.collection, Flaky)


def test_a_chroma_that_keeps_failing_gives_bm25_answers_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "index"
    assert ingest_paths([SAMPLE], index, show_progress=False, embedder=FastEmbedder()).ok
    state = AppState(index)
    from assistant import vectors

    monkeypatch.setattr(vectors, "EXACT_MAX_REPORTS", 0)  # through Chroma (a few reports are searched exactly)

    def broken(*a: object, **kw: object) -> object:
        raise RuntimeError("Error executing plan: Internal error: Error finding id")

    idx = state.index()
    assert idx is not None
    from assistant.ask.retrieve import hybrid_index

    h = hybrid_index(idx)
    monkeypatch.setattr(h.collection, "query", broken)
    monkeypatch.setattr(vectors, "chunk_collection", lambda *a, **kw: h.collection)
    assert [p for p, _ in _ask_all(state, SAMPLE_DEPT) if p] == []
