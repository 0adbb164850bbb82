"""One writer per index across processes: a second writer waits or refuses with a message naming the holder,
a lock left by a killed process is cleared, readers are never blocked, and two concurrent ingests both land."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from assistant.store import load_index
from assistant.writelock import IndexBusyError, read_holder, writer_lock
from tests.reliability_kit import REPO, SAMPLE, FastEmbedder, renamed_sample, writer_process

HOLDER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    from assistant.writelock import writer_lock
    with writer_lock({index!r}, purpose="test holder"):
        print("held", flush=True)
        time.sleep(60)
    """
)


def _holder(index: Path) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(repo=str(REPO), index=str(index))], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assistant.ingest import ingest_paths

    d = tmp_path_factory.mktemp("lock") / "index"
    assert ingest_paths([SAMPLE], d, show_progress=False, embedder=FastEmbedder()).ok
    return d


def test_second_writer_refuses_or_waits_naming_the_holder_and_readers_go_on(built: Path, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    idx = tmp_path / "index"
    shutil.copytree(built, idx)
    p = _holder(idx)
    try:
        with pytest.raises(IndexBusyError, match=rf"being written by pid {p.pid} .*test holder"):
            with writer_lock(idx, timeout=0):
                pass
        t0 = time.monotonic()
        with pytest.raises(IndexBusyError, match="waited"):
            with writer_lock(idx, timeout=0.6):
                pass
        assert time.monotonic() - t0 >= 0.5
        assert load_index(idx).reports, "a reader is not blocked by a writer"
        from assistant.ingest import ingest_paths

        with pytest.raises(IndexBusyError):
            ingest_paths([SAMPLE], idx, show_progress=False, embedder=FastEmbedder(), lock_timeout=0)
    finally:
        p.kill()
        p.wait()
    # the holder was killed (-9): its lock is gone with it and the next writer says whose it was
    with caplog.at_level(logging.WARNING, logger="assistant.writelock"):
        with writer_lock(idx, timeout=0) as me:
            assert me.pid == os.getpid()
    assert any("stale writer lock" in r.message and str(p.pid) in r.message for r in caplog.records)
    assert read_holder(idx) is None, "a released lock records no holder"


def test_threads_of_one_process_exclude_each_other_and_nesting_is_allowed(tmp_path: Path) -> None:
    order: list[str] = []
    with writer_lock(tmp_path, timeout=0):
        with writer_lock(tmp_path, timeout=0):  # re-entrant in one thread
            order.append("nested")

        def other() -> None:
            try:
                with writer_lock(tmp_path, timeout=0):
                    order.append("other got it")
            except IndexBusyError:
                order.append("other refused")

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert order == ["nested", "other refused"]


def test_two_concurrent_ingests_both_land(built: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    shutil.copytree(built, idx)
    a = renamed_sample(tmp_path / "a", "某市甲测试局", "ra_2023_juesuan")
    b = renamed_sample(tmp_path / "b", "某市乙测试局", "rb_2023_juesuan")
    procs = [writer_process([a], idx), writer_process([b], idx)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ids = {r.report_id for r in load_index(idx).reports}
    assert {"ra_2023_juesuan", "rb_2023_juesuan", "00_yunnan_qujing_touzicujinju_2023_juesuan"} <= ids
    assert not [p for p in idx.iterdir() if p.name.startswith(".tmp-")]


def test_writer_killed_holding_the_lock_leaves_the_previous_version(built: Path, tmp_path: Path) -> None:
    from assistant.ask import ask

    idx = tmp_path / "index"
    shutil.copytree(built, idx)
    p = writer_process([renamed_sample(tmp_path / "k", "某市丙测试局", "rk_2023_juesuan")], idx)
    deadline = time.monotonic() + 60
    while read_holder(idx) is None and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert ask("2023年公务接待费是多少？", index=load_index(idx)).value == 50.0
    with writer_lock(idx, timeout=0):
        pass
