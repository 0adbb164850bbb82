"""Helpers of the reliability suite (tests/test_reliability*.py and eval/reliability.py): hostile and broken
inputs made on the fly from the bundled sample, an index digest, a fast deterministic embedder and
subprocess writers."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "00_yunnan_qujing_touzicujinju_2023_juesuan.txt"
SAMPLE_DEPT = "曲靖市投资促进局"


class FastEmbedder:
    """Deterministic 384-d unit vectors from a hash of the text (no model: writers stay fast)."""

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)

    @staticmethod
    def _vec(text: str) -> list[float]:
        rng = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16))
        v = rng.standard_normal(384).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()


def index_digest(index_dir: Path) -> str:
    """SHA-256 over every file of an index folder (names and bytes), the writer lock file excepted."""
    h = hashlib.sha256()
    if not Path(index_dir).exists():
        return "absent"
    for p in sorted(Path(index_dir).rglob("*")):
        if p.is_file() and p.name != "WRITER.lock":
            h.update(str(p.relative_to(index_dir)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def renamed_sample(dest: Path, department: str, stem: str) -> Path:
    """The sample as another department's report (another file name, other bytes)."""
    dest.mkdir(parents=True, exist_ok=True)
    f = dest / f"{stem}.txt"
    f.write_text(sample_text().replace(SAMPLE_DEPT, department), encoding="utf-8")
    return f


def _table_lines(fn) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(fn(line) if "\t" in line else line for line in sample_text().splitlines())


def _pdf(path: Path, text: str = "Minutes of the garden club. Nothing about budgets here.", **save: object) -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), text)
    doc.save(path, **save)
    doc.close()
    return path


def _image_pdf(path: Path) -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 200, 100), False)
    pix.clear_with(200)
    page.insert_image(page.rect, pixmap=pix)
    doc.save(path)
    doc.close()
    return path


@dataclass
class BadInput:
    """One broken or hostile file for ``ingest``, and the message a user must get."""

    name: str
    files: list[Path]
    expect: str
    """A regular expression the failure message must match."""


def bad_inputs(d: Path) -> list[BadInput]:
    """≥ 20 broken files, each made here (none names a real report)."""
    import pymupdf

    d.mkdir(parents=True, exist_ok=True)
    out: list[BadInput] = []

    def add(name: str, fname: str, data: bytes | str | None, expect: str) -> None:
        p = d / fname
        if isinstance(data, str):
            p.write_text(data, encoding="utf-8")
        elif data is not None:
            p.write_bytes(data)
        out.append(BadInput(name, [p], expect))

    add("empty PDF", "01_empty.pdf", b"", r"empty \(0 bytes\)")
    add("empty text", "02_empty.txt", b"", r"empty \(0 bytes\)")
    add("text named .pdf", "03_text.pdf", "这不是PDF文件。", r"not a readable PDF.*%PDF")
    add("HTML named .pdf", "04_page.pdf", "<html><body>预算</body></html>", r"not a readable PDF.*%PDF")
    add("zip named .pdf", "05_archive.pdf", b"PK\x03\x04" + os.urandom(200), r"not a readable PDF.*%PDF")
    add("random bytes after %PDF", "06_noise.pdf", b"%PDF-1.7\n" + os.urandom(3000), r"(not a readable PDF|could not be read|no text layer)")
    good = _pdf(d / "_good.pdf")
    add("truncated PDF", "07_truncated.pdf", good.read_bytes()[: max(40, good.stat().st_size // 3)], r"(not a readable PDF|could not be read|not a budget|no text layer)")
    good.unlink()
    _pdf(d / "08_encrypted.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", user_pw="u")
    out.append(BadInput("encrypted PDF", [d / "08_encrypted.pdf"], r"encrypted"))
    _image_pdf(d / "09_scan.pdf")
    # a scanned page is read by OCR now: an image that shows no budget table is then not a report
    out.append(
        BadInput("scan of a page without a report (OCR finds no table)", [d / "09_scan.pdf"], r"not a budget or final-accounts report")
    )
    _pdf(d / "10_unrelated.pdf")
    out.append(BadInput("unrelated PDF", [d / "10_unrelated.pdf"], r"not a budget or final-accounts report"))
    add("unrelated text", "11_novel.txt", "从前有座山，山里有座庙。\n" * 50, r"not a budget or final-accounts report")
    add("binary named .txt", "12_binary.txt", os.urandom(4000), r"(not a budget|could not be read|not .*text|encoding|UTF)")
    (d / "13_passwd.txt").unlink(missing_ok=True)
    (d / "13_passwd.txt").symlink_to("/etc/passwd")
    out.append(BadInput("symlink to a system file", [d / "13_passwd.txt"], r"not a budget or final-accounts report"))
    out.append(BadInput("missing file", [d / "14_missing.pdf"], r"no such file"))
    perm = str.maketrans("0123456789", "3859271604")
    add("digits misread (broken font map)", "15_misread_2023_juesuan.txt", _table_lines(lambda s: s.translate(perm)), r"identity checks fail.*--accept-failing-checks")
    add(
        "blank template (XX placeholders)",
        "16_template_2023_juesuan.txt",
        _table_lines(lambda s: re.sub(r"\d+\.\d{2}", "XX.XX", s)),
        r"placeholders \(XX",
    )
    lines = sample_text().splitlines()
    garbled = "\n".join(
        ln
        if "\t" in ln or "表" in ln or "单位" in ln or i < 5
        else "".join(chr(0xE000 + ord(c) % 2000) if "\u4e00" <= c <= "\u9fff" else c for c in ln)
        for i, ln in enumerate(lines)
    )
    add("garbled narrative (private-use glyphs)", "17_garbled_2023_juesuan.txt", garbled, r"unreadable characters")
    add(
        "tables shuffled (rows swapped)",
        "18_shuffled_2023_juesuan.txt",
        _swap_numbers(sample_text()),
        r"identity checks fail",
    )
    add("only a title", "19_title.txt", "曲靖市某局2023年度部门决算\n", r"not a budget or final-accounts report")
    add("NUL bytes in text", "20_nul.txt", "\x00" * 3000, r"(not a budget|could not be read|unreadable)")
    return out


def _swap_numbers(text: str) -> str:
    """Every table row's figures rotated by one column (a misread column order)."""

    def rot(line: str) -> str:
        cells = line.split("\t")
        idx = [i for i, c in enumerate(cells) if re.fullmatch(r"-?[\d,]+\.\d{2}", c.strip())]
        if len(idx) < 2:
            return line
        vals = [cells[i] for i in idx]
        vals = vals[1:] + vals[:1]
        for i, v in zip(idx, vals, strict=True):
            cells[i] = v
        return "\t".join(cells)

    return "\n".join(rot(ln) for ln in text.splitlines())


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from tests.reliability_kit import FastEmbedder
    from assistant.ingest import ingest_paths
    res = ingest_paths([Path(p) for p in {paths!r}], Path({index!r}), show_progress=False, embedder=FastEmbedder(),
                       lock_timeout={timeout!r})
    print("OK", [s.report_id for s in res.reports], [f.reason for f in res.failures], flush=True)
    """
)


def writer_process(paths: list[Path], index: Path, *, timeout: float = 120.0) -> subprocess.Popen[str]:
    """A separate process ingesting ``paths`` into ``index`` (fast embedder)."""
    code = WRITER.format(repo=str(REPO), paths=[str(p) for p in paths], index=str(index), timeout=timeout)
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m assistant.cli ARGS`` from this worktree."""
    e = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        cwd=REPO,
        env=e,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- per-upload limits (assistant/jobs.py)


class StuckEmbedder(FastEmbedder):
    """Never finishes embedding (the worker is then inside its staging folder)."""

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        import time

        time.sleep(3600)
        return super().embed_passages(texts)


def greedy_parsers() -> None:
    """Worker setup: the text reader leaves a temporary file, then for a file named ``*hungry*`` allocates
    memory step by step, for ``*huge*`` asks for 3 GB at once; other files read normally."""
    import tempfile
    import time

    from assistant.ingest import text

    real = text.read_text

    def read_text(path: Path, *a: object, **kw: object):  # type: ignore[no-untyped-def]
        fd, _ = tempfile.mkstemp(prefix="greedy-", dir=tempfile.gettempdir())
        os.close(fd)
        if "hungry" in path.name:
            hoard = []
            for _ in range(400):  # up to 8 GB, 20 MB every 20 ms
                hoard.append(b"x" * (20 * 2**20))
                time.sleep(0.02)
        if "huge" in path.name:
            np.ones(3 * 2**27, dtype=np.float64)  # 3 GB
        return real(path, *a, **kw)  # type: ignore[arg-type]

    text.read_text = read_text  # type: ignore[assignment]


CLI_FAST = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    import assistant.embed
    from tests.reliability_kit import FastEmbedder
    assistant.embed.default_embedder = FastEmbedder  # the model's speed is not what is tested
    from assistant.cli import main
    sys.exit(main({args!r}))
    """
)


def cli_process_fast(*args: str) -> subprocess.Popen[str]:
    """``fiscal-qa ARGS`` (this worktree's CLI) in another process, embedding with ``FastEmbedder``."""
    code = CLI_FAST.format(repo=str(REPO), args=list(args))
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when_it_says(proc: subprocess.Popen[str], line: str, then: Callable[[], None] | None = None) -> None:
    """kill -9 ``proc`` once its first output line is ``line`` (``then`` runs first, e.g. to look at its staging)."""
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == line
        if then is not None:
            then()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def mark_as_another_version(index_dir: Path, field: str) -> None:
    """Give the current version's first report record a field this version does not know (as a later
    fiscal-qa would write it): in the version's manifest, or in its first catalog segment."""
    import json

    v = index_dir / (index_dir / "CURRENT").read_text().strip()
    man = v / "manifest.json"
    data = json.loads(man.read_text(encoding="utf-8"))
    if "segments" in data:  # the reports are kept in the version's catalog segments
        man = index_dir / "catalog" / data["segments"][0]["name"] / "manifest.json"
        data = json.loads(man.read_text(encoding="utf-8"))
    data["reports"][0][field] = 1
    man.write_text(json.dumps(data), encoding="utf-8")
