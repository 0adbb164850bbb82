"""A planner vocabulary of report identities only (no tables, facts or narrative): for tests of how
questions name departments, places and years."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assistant.ask.planner import Vocab, build_vocab
from assistant.models import ReportMeta
from assistant.store import IndexData


def vocab_of(reports: list[ReportMeta]) -> Vocab:
    """The vocabulary of an index holding ``reports`` and nothing else."""
    idx = IndexData(
        path=Path("/nonexistent"),
        reports=reports,
        tables=pd.DataFrame(),
        facts=pd.DataFrame(columns=["fact_id", "report_id", "row_label", "code"]),
        chunks=pd.DataFrame(),
    )
    return build_vocab(idx)


def vocab_of_departments(departments: list[str], year: int = 2024, kind: str = "预算") -> Vocab:
    """One report a department, all of one year and kind."""
    return vocab_of([ReportMeta(f"r{i:02d}", d, year, kind) for i, d in enumerate(departments)])
