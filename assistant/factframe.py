"""The facts frame the planner reads (facts plus ``_label`` and ``_col``), built straight from Arrow.

``planner.prepare_facts`` turns a facts frame (``store.facts_frame_from_arrow``) into plain object
columns and adds two helper columns: ``_label`` (the normalized row label) and ``_col`` (the column
index in the fact id). ``planner_frame`` builds the very same frame from the Arrow table a DuckDB
read returns, column by column in C (no pandas casts, no Python work per fact but the exact values
and boxes), and takes ``_label`` / ``_col`` from the part when it stores them (``label_norm``,
``col_index``, written at ingest), else computes them: one ``norm_label`` per distinct label, the
column indexes by one regex over the whole column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from assistant.glossary import norm_label

LABEL_COLUMN = "label_norm"
"""Stored in a facts part: the normalized row label (``glossary.norm_label``), read as ``_label``."""
COL_COLUMN = "col_index"
"""Stored in a facts part: the column index of the fact id (``:c<n>``), read as ``_col``."""
HELPER_FIELDS = [pa.field(LABEL_COLUMN, pa.string()), pa.field(COL_COLUMN, pa.int32())]

_COL = re.compile(r":c(\d+)")
_KEEP_DTYPE = ("year", "row_index")
"""Columns ``prepare_facts`` leaves in their pandas dtype (every other one becomes plain objects)."""
_DECIMALS = ("value", "value_wan")
_BOXES = ("bbox", "row_bbox", "header_bbox")


def col_index(fact_id: str) -> int:
    """The column index a fact id names (``…:r3:c2`` → 2), 0 when it names none."""
    m = _COL.search(fact_id)
    return int(m.group(1)) if m else 0


def col_indexes(fact_ids: Iterable[Any]) -> np.ndarray:
    """``col_index`` of each fact id (a missing id counts as the text ``"nan"``), as int64."""
    ids = (
        pa.array([str(x) for x in fact_ids], type=pa.string())
        if not isinstance(fact_ids, (pa.Array, pa.ChunkedArray))
        else fact_ids
    )
    return _col_indexes_arrow(ids)


def _col_indexes_arrow(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    if ids.null_count or not pc.all(pc.string_is_ascii(ids)).as_py():
        # Python's \d also takes other scripts' digits; a null id is the text "nan" (no column)
        return np.array([col_index("nan" if x is None else x) for x in ids.to_pylist()], dtype=np.int64)
    got = pc.struct_field(pc.extract_regex(ids, r":c(?P<c>\d+)"), "c")
    try:
        cols = pc.fill_null(pc.cast(got, pa.int64()), 0)
    except pa.ArrowInvalid:  # a column index beyond int64 (never seen): Python's int
        return np.array([col_index(x) for x in ids.to_pylist()], dtype=object)
    return np.asarray(cols.to_numpy(zero_copy_only=False), dtype=np.int64)


def label_norms(labels: Iterable[Any]) -> list[str]:
    """``norm_label`` of each row label (missing → ""), computed once per distinct label."""
    vals = ["" if _missing(x) else str(x) for x in labels]
    norm = {x: norm_label(x) for x in set(vals)}
    return [norm[x] for x in vals]


def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and x != x)


def _objects(col: pa.ChunkedArray) -> np.ndarray:
    """An Arrow column as the plain objects ``prepare_facts`` holds (missing strings and numbers → NaN)."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        arr = col.to_numpy(zero_copy_only=False)
        if col.null_count:
            arr = arr.copy()
            arr[pd.isna(arr)] = np.nan
        return arr
    if pa.types.is_boolean(t):
        # a bool column with a missing value stays objects (None), without one it is numpy bools
        arr = col.to_numpy(zero_copy_only=False)
        return arr.astype(object) if arr.dtype != object else arr
    # integers (float64 with NaN when one is missing, as pandas reads them) and floats
    return col.to_pandas().to_numpy().astype(object)


def _boxes(col: pa.ChunkedArray) -> np.ndarray:
    """Boxes as tuples of floats (None where missing), as ``facts_frame_from_arrow`` gives them."""
    out = np.empty(len(col), dtype=object)
    arr = col.combine_chunks() if len(col) else None
    if isinstance(arr, pa.FixedSizeListArray):
        size = arr.type.list_size
        vals = arr.values.slice(arr.offset * size, len(arr) * size)  # a missing box keeps its slots
        missing = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        inner = np.asarray(vals.is_null().to_numpy(zero_copy_only=False), dtype=bool).reshape(len(arr), size)
        if not (inner.any(axis=1) & ~missing).any():  # no box with a missing coordinate
            rows = np.asarray(pc.fill_null(vals, 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
            out[:] = list(map(tuple, rows.reshape(len(arr), size).tolist()))
            out[missing] = None
            return out
    out[:] = [None if v is None else tuple(float(x) for x in v) for v in col.to_pylist()]
    return out


def _decimals(col: pa.ChunkedArray) -> np.ndarray:
    # as ``facts_frame_from_arrow`` reads them: a missing value is pandas' NaN there, so Decimal("NaN")
    nan = Decimal(float("nan"))
    out = np.empty(len(col), dtype=object)
    out[:] = [nan if v is None else Decimal(v) for v in col.to_pylist()]
    return out


def planner_frame(t: pa.Table, columns: list[str]) -> pd.DataFrame | None:
    """The frame ``prepare_facts(facts_frame_from_arrow(t))`` gives, built from ``t`` directly (``columns``:
    the fact columns in frame order). None for an empty table (the caller takes the general path)."""
    if t.num_rows == 0:
        return None
    names = set(t.column_names)
    present = [c for c in columns if c in names]
    order = [*present, "_label", "_col"]
    block = np.empty((t.num_rows, len(order)), dtype=object)  # one object block: no per-column casts
    for j, name in enumerate(present):
        if name not in _KEEP_DTYPE:
            col = t.column(name)
            block[:, j] = _decimals(col) if name in _DECIMALS else _boxes(col) if name in _BOXES else _objects(col)
    stored_label = t.column(LABEL_COLUMN) if LABEL_COLUMN in names else None
    if stored_label is not None and stored_label.null_count == 0:
        block[:, -2] = stored_label.to_numpy(zero_copy_only=False)
    else:
        block[:, -2] = label_norms(t.column("row_label").to_pylist())
    df = pd.DataFrame(block, columns=order, dtype=object, copy=False)
    for i, name in enumerate(present):  # year, row_index in their own dtype, in place
        if name in _KEEP_DTYPE:
            df.isetitem(i, t.column(name).to_pandas())
    stored_col = t.column(COL_COLUMN) if COL_COLUMN in names else None
    if stored_col is not None and stored_col.null_count == 0:
        df.isetitem(len(order) - 1, np.asarray(stored_col.to_numpy(), dtype=np.int64))
    else:
        df.isetitem(len(order) - 1, _col_indexes_arrow(t.column("fact_id")))
    return df


def helper_columns(fact_ids: list[Any], row_labels: list[Any]) -> dict[str, pa.Array]:
    """The helper columns a facts part stores (written at ingest, so serving computes nothing per fact)."""
    return {
        LABEL_COLUMN: pa.array(label_norms(row_labels), type=pa.string()),
        COL_COLUMN: pa.array(col_indexes(fact_ids).astype(np.int32), type=pa.int32()),
    }
