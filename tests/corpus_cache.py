"""Corpus layouts read once per test session (reading all 18 files takes a few seconds; tests share them)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from assistant.models import Layout
from tests.conftest import SHARED_REPORTS


@cache
def _layout(path: str) -> Layout:
    from assistant.ingest import read_layout

    return read_layout([Path(path)])


def corpus_layout(name: str | Path) -> Layout:
    """The layout of one corpus file (a copy: callers may renumber pages)."""
    p = Path(name)
    return copy.deepcopy(_layout(str(p if p.is_absolute() else SHARED_REPORTS / p)))


def corpus_files() -> list[Path]:
    """Every report file of the corpus (the .txt sample and the PDFs)."""
    return sorted(p for p in SHARED_REPORTS.iterdir() if p.suffix.lower() in (".pdf", ".txt"))


@cache
def _reads() -> tuple:
    from assistant.ingest import sha256_file
    from assistant.ingest.meta import read_identity
    from assistant.ingest.pairing import FileRead, file_role

    out = []
    for f in corpus_files():
        lay = _layout(str(f))
        out.append(FileRead(path=f, layout=lay, identity=read_identity(lay, [f]), role=file_role(lay), sha256=sha256_file(f)))
    return tuple(out)


def corpus_groups() -> list[list[Path]]:
    """The corpus files grouped into reports by the identity they print (as ingestion groups them)."""
    from assistant.ingest.pairing import pair_by_identity

    return [[r.path for r in g.files] for g in pair_by_identity(list(_reads()))]
