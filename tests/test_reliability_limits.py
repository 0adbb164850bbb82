"""Per-upload limits of the ingest worker (assistant/jobs.py): a parse or embedding that runs too long or eats
memory is killed with a one-line message naming the file and the limit; its staging folder and temporary
files are removed and the index is byte-identical."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from assistant.errors import IngestLimitError
from assistant.ingest import ingest_paths
from assistant.jobs import IngestJobs
from assistant.settings import Settings
from assistant.store import load_index
from tests.reliability_kit import SAMPLE, FastEmbedder, StuckEmbedder, greedy_parsers, index_digest, renamed_sample

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="the memory watchdog reads /proc (Linux)")


@pytest.fixture(scope="module")
def base_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lim") / "index"
    assert ingest_paths([SAMPLE], d, show_progress=False, embedder=FastEmbedder()).ok
    return d


@pytest.fixture
def index(base_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "index"
    shutil.copytree(base_index, d)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the jobs' temporary folders are made here
    return d


def _left_over(index: Path) -> list[str]:
    return [p.name for p in index.glob(".tmp-*")] + [p.name for p in Path(tempfile.gettempdir()).iterdir()]


def test_the_limits_come_from_the_one_settings_object(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings().ingest_seconds > 0 and Settings().ingest_memory_mb > 0
    monkeypatch.setenv("FISCALQA_INGEST_SECONDS", "12")
    monkeypatch.setenv("FISCALQA_INGEST_MEMORY_MB", "700")
    jobs = IngestJobs(tmp_path)
    assert (jobs.seconds, jobs.memory_mb) == (12.0, 700.0)
    assert IngestJobs(tmp_path, settings=Settings(ingest_seconds=5, ingest_memory_mb=0)).memory_mb == 0


def test_an_ingest_past_its_seconds_is_stopped_and_nothing_is_left(index: Path, tmp_path: Path) -> None:
    f = renamed_sample(tmp_path / "in", "某市某某局", "30_mou_mouju_2023_juesuan")
    before = index_digest(index)
    jobs = IngestJobs(index, seconds=8, memory_mb=0)
    try:
        with pytest.raises(IngestLimitError) as e:
            jobs.run([f], embedder=StuckEmbedder())
    finally:
        jobs.close()
    msg = str(e.value)
    assert "30_mou_mouju_2023_juesuan.txt" in msg and "longer than 8 s" in msg and "FISCALQA_INGEST_SECONDS" in msg
    assert "\n" not in msg
    assert index_digest(index) == before
    assert _left_over(index) == []


def test_an_ingest_past_its_memory_is_stopped_and_the_worker_serves_the_next(index: Path, tmp_path: Path) -> None:
    hungry = renamed_sample(tmp_path / "in", "某市某某局", "31_hungry_2023_juesuan")
    before = index_digest(index)
    jobs = IngestJobs(index, seconds=300, memory_mb=450, worker_setup=greedy_parsers)
    try:
        with pytest.raises(IngestLimitError) as e:
            jobs.run([hungry], embedder=FastEmbedder())
        msg = str(e.value)
        assert "31_hungry_2023_juesuan.txt" in msg and "more than 450 MB" in msg and "FISCALQA_INGEST_MEMORY_MB" in msg
        assert 450 < jobs.peak_mb < 2000
        assert index_digest(index) == before
        assert _left_over(index) == []
        # a new worker takes the next upload
        ok = renamed_sample(tmp_path / "in2", "某市另一局", "32_lingyiju_2023_juesuan")
        res = jobs.run([ok], embedder=FastEmbedder())
    finally:
        jobs.close()
    assert res.ok, res.failures
    assert "32_lingyiju_2023_juesuan" in {r.report_id for r in load_index(index).reports}
    assert not list(index.glob(".tmp-*"))


def test_a_sudden_huge_allocation_fails_in_the_worker_with_the_limit_named(index: Path, tmp_path: Path) -> None:
    huge = renamed_sample(tmp_path / "in", "某市某某局", "33_huge_2023_juesuan")
    before = index_digest(index)
    jobs = IngestJobs(index, seconds=300, memory_mb=300, worker_setup=greedy_parsers)
    try:
        try:
            res = jobs.run([huge], embedder=FastEmbedder())
        except IngestLimitError as e:  # the watchdog was faster than the address-space cap: also right
            reason = str(e)
        else:
            assert not res.reports and len(res.failures) == 1
            reason = res.failures[0].reason
    finally:
        jobs.close()
    assert "more than 300 MB" in reason and "FISCALQA_INGEST_MEMORY_MB" in reason
    assert index_digest(index) == before
    assert _left_over(index) == []


def test_the_cli_ingest_takes_the_same_limits(index: Path, tmp_path: Path) -> None:
    """``fiscal-qa ingest --max-memory-mb``: below what the worker needs to start, so it is stopped at once."""
    from tests.reliability_kit import cli

    f = renamed_sample(tmp_path / "in", "某市某某局", "34_cli_2023_juesuan")
    before = index_digest(index)
    r = cli("ingest", "-q", str(f), "--index", str(index), "--max-memory-mb", "40", timeout=300)
    assert r.returncode != 0
    assert "34_cli_2023_juesuan.txt" in r.stderr and "more than 40 MB" in r.stderr and "FISCALQA_INGEST_MEMORY_MB" in r.stderr
    assert "Traceback" not in r.stderr
    assert index_digest(index) == before and not list(index.glob(".tmp-*"))


def test_an_app_upload_gets_the_limit_from_the_environment(index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's uploads (``AppState`` with the worker on) take ``FISCALQA_INGEST_MEMORY_MB``; the index keeps answering."""
    from assistant.appstate import AppState

    monkeypatch.setenv("FISCALQA_INGEST_MEMORY_MB", "40")
    state = AppState(index)
    state.ingest_in_worker = True
    f = renamed_sample(tmp_path / "up", "某市某某局", "35_upload_2023_juesuan")
    before = index_digest(index)
    with pytest.raises(IngestLimitError, match=r"35_upload_2023_juesuan\.txt: .*more than 40 MB"):
        state.ingest([f], show_progress=False)
    if state._jobs is not None:
        state._jobs.close()
    assert index_digest(index) == before and not list(index.glob(".tmp-*"))
    assert state.ask("曲靖市投资促进局2023年公务接待费是多少？").value == 50.0
