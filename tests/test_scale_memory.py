"""Serving a partitioned index reads only the reports a request touches: no copy of every fact, table or chunk."""

from __future__ import annotations

import pytest

from assistant.store import load_index


@pytest.fixture()
def lazy(sample_index):
    """The sample index as a large index is served: facts through DuckDB, tables and chunks not loaded."""
    idx = load_index(sample_index.path.parent, facts_backend="duckdb")
    assert idx._facts is None and idx._chunks is None and idx._tables is None
    return idx


def _untouched(idx) -> bool:
    return idx._facts is None and idx._chunks is None


def test_a_facts_printed_value_reads_only_its_report(lazy, sample_index) -> None:
    from assistant.appstate import AppState

    f = sample_index.facts.iloc[7]
    state = AppState(lazy.path.parent, index=lazy)
    assert state.fact_raw(str(f.fact_id)) == f.raw
    assert state.fact_raw("no-such-report:t1:r1:c1") is None
    assert _untouched(lazy)


def test_source_regions_read_only_their_report(lazy, sample_index) -> None:
    from assistant.source import regions_for

    fact_ids = [str(x) for x in sample_index.facts.fact_id.iloc[:3]]
    regions = regions_for(lazy, fact_ids)
    assert sorted(i for r in regions for i in r.fact_ids) == sorted(fact_ids)
    chunk = sample_index.chunks.iloc[2]
    (region,) = regions_for(lazy, str(chunk.chunk_id))
    assert region.text == chunk.text and region.report_id == chunk.report_id
    assert _untouched(lazy)


def test_a_descriptive_answer_reads_no_chunk_table(lazy, sample_index) -> None:
    from assistant.ask import ask

    r = lazy.reports[0]
    full = ask(f"{r.department}{r.year}年主要职能是什么？", index=sample_index)
    a = ask(f"{r.department}{r.year}年主要职能是什么？", index=lazy)
    assert a.answer == full.answer and a.route == full.route
    assert lazy._chunks is None
