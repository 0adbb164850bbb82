"""Shared fixtures: a sample index (the bundled text report) and a corpus index (../shared/reports)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "00_yunnan_qujing_touzicujinju_2023_juesuan.txt"
SHARED_REPORTS = Path(os.environ.get("FISCALQA_SHARED_REPORTS", REPO.parent / "shared" / "reports"))
OUT = REPO / "tests" / "out"

needs_corpus = pytest.mark.skipif(
    not (SHARED_REPORTS / "01_shanghai_putuo_caizhengju_2024_juesuan.pdf").exists(),
    reason=f"the shared report corpus is not at {SHARED_REPORTS} (it ships beside the repo in CI; set FISCALQA_SHARED_REPORTS)",
)


def corpus_file(name: str) -> Path:
    return SHARED_REPORTS / name


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory):
    """An index built from the bundled sample; returns its IndexData."""
    from assistant.ingest import ingest_paths
    from assistant.store import load_index

    d = tmp_path_factory.mktemp("sample_index")
    res = ingest_paths([SAMPLE], d, show_progress=False)
    assert res.ok, res.failures
    return load_index(d)


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory):
    """An index of every report in ../shared/reports (skips where absent)."""
    if not (SHARED_REPORTS / "01_shanghai_putuo_caizhengju_2024_juesuan.pdf").exists():
        pytest.skip(f"the shared report corpus is not at {SHARED_REPORTS}")
    from assistant.ingest import ingest_paths
    from assistant.store import load_index

    d = tmp_path_factory.mktemp("corpus_index")
    res = ingest_paths([SHARED_REPORTS], d, show_progress=False)
    assert res.ok, res.failures
    return load_index(d)


@pytest.fixture(scope="session")
def out_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT
