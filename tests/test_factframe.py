"""The planner's facts frame built straight from Arrow (DuckDB path) equals ``prepare_facts`` of the facts frame."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assistant.ask.planner import prepare_facts
from assistant.factframe import COL_COLUMN, LABEL_COLUMN, col_index, col_indexes, helper_columns, planner_frame
from assistant.models import Fact
from assistant.store import FACT_SCHEMA, _planner_frame, facts_frame_from_arrow, load_index, write_index
from tests.test_store import CountingEmbedder, report


def _row(i: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "fact_id": f"r1:t0{i % 3}:r{i}:c{i % 4}",
        "report_id": "r1",
        "department": "某某局",
        "year": 2024,
        "kind": "决算",
        "scope": "部门",
        "table_id": f"t0{i % 3}",
        "table_number": "公开03表",
        "table_title": "支出决算表",
        "table_kind": "expenditure",
        "page": 3 + i,
        "row_index": i,
        "code": "2010101",
        "row_label": ["  一、行政运行", "（一）基本支出", "其中：公务接待费", "合 计"][i % 4],
        "column": "决算数",
        "value": "12.50",
        "unit": "万元",
        "value_wan": "12.50",
        "raw": "12.50",
        "status": "ok",
        "bbox": [1.0, 2.0, 3.5, 4.0],
        "row_bbox": [0.0, 2.0, 9.0, 4.0],
        "header_bbox": [1.0, 0.0, 3.5, 1.0],
        "ocr": False,
        "confidence": 0.97,
        "ref": "公开03表!D12",
        "warning": "",
    }
    row.update(over)
    return row


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FACT_SCHEMA)


ALL_MISSING = {c: None for c in FACT_SCHEMA.names}

CASES = {
    "plain": [_row(i) for i in range(6)],
    "every column missing somewhere": [_row(0), _row(1, **ALL_MISSING), _row(2, ocr=True, confidence=None, page=None)],
    "every column missing everywhere but the id": [_row(i, **{**ALL_MISSING, "fact_id": f"x:c{i}"}) for i in range(3)],
    "ids naming no column, other scripts' digits": [
        _row(0, fact_id="r1:t01:r0"),
        _row(1, fact_id="r1:t01:r1:c\u0663"),
        _row(2, fact_id="报告:表:r2:c12"),
        _row(3, fact_id=None),
    ],
    "row labels in traditional characters, full-width, quotes": [
        _row(0, row_label="“三公”經費"),
        _row(1, row_label="１．会议费"),
        _row(2, row_label=""),
    ],
}


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for c in a.columns:  # the very objects (None vs NaN vs Decimal("NaN"), int vs float, tuple boxes)
        if a[c].dtype == object:
            assert [type(x) for x in a[c]] == [type(x) for x in b[c]], c
            assert [repr(x) for x in a[c]] == [repr(x) for x in b[c]], c


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("stored", [False, True], ids=["older part", "helper columns stored"])
def test_planner_frame_equals_prepare_facts(case: str, stored: bool) -> None:
    t = _table(CASES[case])
    want = prepare_facts(facts_frame_from_arrow(t))
    if stored:
        for name, col in helper_columns(t.column("fact_id").to_pylist(), t.column("row_label").to_pylist()).items():
            t = t.append_column(name, col)
    got = _planner_frame(t)
    assert got is not None
    _assert_same(want, got)


def test_column_indexes_are_those_of_the_fact_id() -> None:
    ids = ["a:t1:r2:c3", "a:t1:r2", "a:c1:c2", "a:t1:r2:c\u0663", "a:t1:r2:c0012", "nan"]
    assert list(col_indexes(ids)) == [col_index(x) for x in ids] == [3, 0, 1, 3, 12, 0]
    assert planner_frame(_table([]), FACT_SCHEMA.names) is None


def _fact(rid: str, i: int, label: str) -> Fact:
    return Fact(
        fact_id=f"{rid}:t01:r{i}:c{i % 3}", report_id=rid, department="测试局", year=2024, kind="决算", scope="部门",
        table_id="t01", table_number="公开01表", table_title="收支决算总表", table_kind="summary", page=1,
        row_index=i, code=None, row_label=label, column="决算数", value=Decimal("1.50") * i, unit="万元",
        value_wan=Decimal("1.50") * i, raw=str(Decimal("1.50") * i), status="ok", bbox=(1.0, 2.0, 3.0, 4.0),
    )  # fmt: skip


def test_parts_store_helper_columns_and_older_parts_still_read(tmp_path: Path) -> None:
    """A part written now stores the normalized label and column index; one written before (without them)
    reads to the same frame, alone or together with a new one."""
    reps = []
    for rid in ("a", "b"):
        r = report(rid, "h" + rid, ["一句。"])
        r.facts = [_fact(rid, i, lab) for i, lab in enumerate(["一、基本支出", "（二）項目支出", "其中：会议费"])]
        reps.append(r)
    write_index(tmp_path, reps, embedder=CountingEmbedder())
    idx = load_index(tmp_path, facts_backend="duckdb")
    store: Any = idx.fact_store
    f_a = tmp_path / idx.parts["a"] / "facts.parquet"
    stored = pq.read_table(f_a)
    assert stored.column(LABEL_COLUMN).to_pylist() == ["基本支出", "项目支出", "会议费"]
    assert stored.column(COL_COLUMN).to_pylist() == [0, 1, 2]
    pq.write_table(stored.drop_columns([LABEL_COLUMN, COL_COLUMN]), f_a)  # as an older fiscal-qa wrote it
    for ids in (["a"], ["b"], ["a", "b"], ["b", "a"]):
        got = store.planner_facts_for(ids)
        assert got is not None
        _assert_same(prepare_facts(store.facts_for(ids)), got)
    kw: dict[str, Any] = {"kinds": [], "codes": [], "labels": ["其中：会议费"]}
    got = store.candidate_facts(["a", "b"], prepared=True, **kw)
    assert got is not None and list(got["_label"]) == ["会议费", "会议费"]
    _assert_same(prepare_facts(store.candidate_facts(["a", "b"], **kw)), got)
