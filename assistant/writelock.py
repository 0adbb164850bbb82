"""One writer per index, across processes: ``with writer_lock(index_dir): ...``.

The lock is an ``fcntl.flock`` on ``<index>/WRITER.lock``. The kernel releases it when its
holder exits, however it exits (kill -9 included), so a lock left by a killed process is never
in the way: the next writer finds the file unlocked, says whose lock it was, and takes it. The
file holds the holder's pid, its process start time, host and purpose, so a waiting writer can
say who it waits for. Readers never take the lock: they read ``CURRENT`` and the immutable
version folder it names.

A second writer waits up to ``timeout`` seconds (logging who holds the lock), then raises
``IndexBusyError``; ``timeout=0`` refuses at once. The lock is re-entrant within a process
(the same thread may nest it), and threads of one process exclude each other like processes do.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import FiscalQAError

log = logging.getLogger(__name__)

LOCK_NAME = "WRITER.lock"
DEFAULT_TIMEOUT = 900.0
"""Seconds a second writer waits before giving up (``FISCALQA_LOCK_TIMEOUT`` overrides)."""
_POLL = 0.2


class IndexBusyError(FiscalQAError):
    """Another process is writing the index and did not finish within the wait."""

    def __init__(self, index_dir: str, holder: LockHolder | None, waited: float) -> None:
        self.holder = holder
        who = holder.describe() if holder else "another process"
        super().__init__(
            f"the index at {index_dir} is being written by {who}; waited {waited:.0f} s. "
            "Try again when it has finished (or raise --lock-timeout / FISCALQA_LOCK_TIMEOUT)"
        )


@dataclass
class LockHolder:
    """Who holds (or last held) the writer lock."""

    pid: int
    started: float
    """The holder process's start time (seconds since the epoch), to tell a reused pid apart."""
    host: str
    purpose: str
    since: float

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on {self.host} ({self.purpose}, since {when})"

    def alive(self) -> bool:
        """True when this process still runs (same host, same pid, same start time)."""
        if self.host != socket.gethostname():
            return True  # cannot tell: assume alive
        st = process_start_time(self.pid)
        return st is not None and abs(st - self.started) < 2.0


def process_start_time(pid: int) -> float | None:
    """Start time of a process (epoch seconds) from /proc, or None when it does not exist."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0.0
        return 0.0


def read_holder(index_dir: Path | str) -> LockHolder | None:
    """The holder recorded in the lock file (it may be stale), or None."""
    try:
        d = json.loads((Path(index_dir) / LOCK_NAME).read_text(encoding="utf-8") or "null")
        return LockHolder(**d) if d else None
    except (OSError, ValueError, TypeError):
        return None


_local = threading.local()
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _thread_lock(key: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


def lock_timeout_from_env(default: float = DEFAULT_TIMEOUT) -> float:
    try:
        return float(os.environ.get("FISCALQA_LOCK_TIMEOUT", default))
    except ValueError:
        return default


@contextlib.contextmanager
def writer_lock(index_dir: Path | str, *, timeout: float | None = None, purpose: str = "ingest") -> Iterator[LockHolder]:
    """Hold the index's writer lock for the block (see the module doc)."""
    import fcntl

    index_dir = Path(index_dir)
    key = str(index_dir.resolve())
    held: dict[str, int] = getattr(_local, "held", None) or {}
    _local.held = held
    if held.get(key):  # re-entrant in one thread
        held[key] += 1
        try:
            yield read_holder(index_dir) or _me(purpose)
        finally:
            held[key] -= 1
        return
    timeout = lock_timeout_from_env() if timeout is None else timeout
    t0 = time.monotonic()
    tl = _thread_lock(key)
    if not tl.acquire(timeout=max(timeout, 0.0) if timeout >= 0 else -1):
        raise IndexBusyError(str(index_dir), read_holder(index_dir), time.monotonic() - t0)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, fcntl, index_dir, timeout, t0)
            prev = read_holder(index_dir)
            if prev is not None and prev.pid != os.getpid() and not prev.alive():
                log.warning("cleared a stale writer lock left by %s (that process is gone)", prev.describe())
            me = _me(purpose)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me.__dict__).encode(), 0)
            held[key] = 1
            try:
                yield me
            finally:
                held.pop(key, None)
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        tl.release()


def _acquire(fd: int, fcntl: object, index_dir: Path, timeout: float, t0: float) -> None:
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[attr-defined]
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
        waited = time.monotonic() - t0
        holder = read_holder(index_dir)
        if timeout >= 0 and waited >= timeout:
            raise IndexBusyError(str(index_dir), holder, waited)
        if not said:
            log.warning(
                "waiting for %s to finish writing %s (up to %.0f s)",
                holder.describe() if holder else "another process",
                index_dir,
                timeout,
            )
            said = True
        time.sleep(_POLL)


def _me(purpose: str) -> LockHolder:
    pid = os.getpid()
    return LockHolder(
        pid=pid, started=process_start_time(pid) or 0.0, host=socket.gethostname(), purpose=purpose, since=time.time()
    )
