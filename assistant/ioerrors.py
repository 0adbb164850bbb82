"""File-system failures as messages: disk full (with the space needed), permissions, a read-only file
system, a folder that is not an index, an index written by another version of fiscal-qa.

``index_write_error(e, index_dir, needed)`` turns whatever a write raised (``OSError``, pyarrow's
``ArrowIOError``, a Chroma compaction error wrapping errno 28) into an ``IndexWriteError`` whose
message says what to do, or returns None for errors that are not about the disk.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from assistant.errors import FiscalQAError

INDEX_NAMES = {"CURRENT", "CURRENT.tmp", "WRITER.lock", "README.md", "README", "README.txt"}
"""Entries an index folder may hold besides version folders (``v-*``, ``.tmp-*``) and dotfiles (.gitkeep)."""


class IndexWriteError(FiscalQAError):
    """The index could not be written (disk full, permissions, read-only); the previous version still answers."""


class NotAnIndexFolderError(FiscalQAError):
    def __init__(self, folder: str, foreign: list[str]) -> None:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        super().__init__(
            f"{folder} is not an index folder: it holds other files ({shown}); nothing was written. "
            "Give --index an empty or new folder (the reports go in the ingest arguments, not --index)"
        )


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def space_needed(index_dir: Path, sources: list[Path]) -> int:
    """Rough bytes a write needs: the new reports' parts (about twice their files) and room for the vectors.

    The store is partitioned by report, so the live version is not written again."""
    new = 0
    for s in sources:
        try:
            new += s.stat().st_size
        except OSError:
            pass
    return int(2 * new + 5_000_000)


def check_space(index_dir: Path, sources: list[Path]) -> None:
    """Refuse before anything is written (the vector store included) when the disk cannot hold the write."""
    try:
        free = shutil.disk_usage(index_dir if index_dir.exists() else index_dir.parent).free
    except OSError:
        return
    needed = space_needed(index_dir, sources)
    if free < needed:
        err = index_write_error(OSError(errno.ENOSPC, "No space left on device"), index_dir, needed)
        assert err is not None
        raise err


def _errno_of(e: BaseException) -> int | None:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno:
            return cur.errno
        text = str(cur)
        for code, needles in (
            (errno.ENOSPC, ("No space left", "Errno 28", "ENOSPC", "disk is full", "database or disk is full")),
            (errno.EROFS, ("Read-only file system", "Errno 30", "readonly database", "read-only")),
            (errno.EACCES, ("Permission denied", "Errno 13")),
            (errno.EDQUOT, ("Disk quota exceeded", "Errno 122")),
        ):
            if any(n in text for n in needles):
                return code
        cur = cur.__cause__ or cur.__context__
    return None


def index_write_error(e: BaseException, index_dir: Path, needed: int | None = None) -> IndexWriteError | None:
    """A message for a failed index write, or None when ``e`` is not a file-system failure."""
    code = _errno_of(e)
    if code is None:
        return None
    where = str(index_dir)
    if code in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = shutil.disk_usage(index_dir if index_dir.exists() else index_dir.parent).free
        except OSError:
            free = 0
        need = f"; about {_mb(needed)} are needed" if needed else ""
        return IndexWriteError(
            f"the disk holding {where} is full ({_mb(free)} free{need}); nothing was changed and the previous "
            "version still answers. Free some space or ingest into another folder with --index"
        )
    if code == errno.EROFS:
        return IndexWriteError(
            f"{where} is on a read-only file system; nothing was changed. Use --index with a writable folder "
            "(answering from a read-only index works)"
        )
    if code in (errno.EACCES, errno.EPERM):
        return IndexWriteError(
            f"no permission to write in {where}; nothing was changed. Fix the folder's permissions "
            f"(e.g. chown/chmod) or use --index with a folder you own"
        )
    if isinstance(e, OSError):
        return IndexWriteError(f"writing the index at {where} failed ({os.strerror(code)}); nothing was changed")
    return None


def check_index_folder(index_dir: Path) -> None:
    """Refuse to write an index into a folder that holds other things (a reports folder, a home folder)."""
    if not index_dir.exists():
        return
    if not index_dir.is_dir():
        raise NotAnIndexFolderError(str(index_dir), [index_dir.name])
    names = [p.name for p in index_dir.iterdir()]
    if not names or "CURRENT" in names or any(n.startswith(("v-", ".tmp-v-")) for n in names):
        return
    foreign = sorted(n for n in names if n not in INDEX_NAMES and not n.startswith("."))
    if foreign:
        raise NotAnIndexFolderError(str(index_dir), foreign)


def check_writable(index_dir: Path) -> None:
    """Fail early, before minutes of parsing, when the index folder cannot be written."""
    probe_dir = index_dir if index_dir.exists() else next((p for p in index_dir.parents if p.exists()), Path("."))
    if not os.access(probe_dir, os.W_OK):
        try:
            ro = bool(os.statvfs(probe_dir).f_flag & os.ST_RDONLY)
        except OSError:
            ro = False
        err = OSError(errno.EROFS if ro else errno.EACCES, "read-only" if ro else "permission denied")
        raise index_write_error(err, index_dir) or IndexWriteError(str(err))
