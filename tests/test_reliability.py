"""Reliability suite (fast part): broken and hostile inputs each get their message, and the index is
byte-identical afterwards; replace needs a choice; the file system failing (disk full on a small
tmpfs, read-only, no permission) is a message and the previous version keeps answering; question
edge cases on the CLI. The long runs (kill -9 ×20, concurrent writers ×5, 50 clients for 60 s) are
``eval/reliability.py``."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from assistant.errors import IndexCorruptError
from assistant.ingest import ingest_paths
from assistant.ioerrors import IndexWriteError, NotAnIndexFolderError
from assistant.store import load_index
from tests.reliability_kit import (
    SAMPLE,
    SAMPLE_DEPT,
    FastEmbedder,
    bad_inputs,
    cli,
    index_digest,
    mark_as_another_version,
    renamed_sample,
    sample_text,
)

RESULTS: list[tuple[str, str, bool]] = []


def _ingest(paths: list[Path], index: Path, **kw: object):  # type: ignore[no-untyped-def]
    return ingest_paths(paths, index, show_progress=False, embedder=FastEmbedder(), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rel") / "index"
    res = _ingest([SAMPLE], d)
    assert res.ok, res.failures
    return d


@pytest.fixture
def index(base_index: Path, tmp_path: Path) -> Path:
    d = tmp_path / "index"
    shutil.copytree(base_index, d)
    return d


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad")


def _bad_cases() -> list[str]:
    import tempfile

    return [b.name for b in bad_inputs(Path(tempfile.mkdtemp(prefix="fqa-bad-")))]


@pytest.mark.parametrize("name", _bad_cases())
def test_bad_file_gets_its_message_and_the_index_stays_identical(name: str, base_index: Path, bad_dir: Path) -> None:
    case = next(b for b in bad_inputs(bad_dir / uuid.uuid4().hex[:6]) if b.name == name)
    before = index_digest(base_index)
    res = _ingest(case.files, base_index, replace=False)
    msg = "; ".join(f.reason for f in res.failures)
    assert not res.reports, f"{name} was ingested"
    assert re.search(case.expect, msg), f"{name}: {msg!r}"
    assert index_digest(base_index) == before, f"{name} changed the index"
    assert "Traceback" not in msg


def test_same_file_given_twice_is_ingested_once(tmp_path: Path) -> None:
    f = renamed_sample(tmp_path / "in", "某市测试一局", "dup_2023_juesuan")
    res = _ingest([f, Path(str(f.parent) + "/./" + f.name), f.parent], tmp_path / "idx")
    assert res.ok and [s.report_id for s in res.reports] == ["dup_2023_juesuan"]


def _second_version(tmp_path: Path) -> Path:
    """The sample under another file name with one figure changed: another version of the same report."""
    f = tmp_path / "in" / "00_sample_v2_2023_juesuan.txt"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(sample_text().replace("1834.93", "1834.94", 1), encoding="utf-8")
    return f


def test_replacing_needs_an_explicit_choice(index: Path, tmp_path: Path) -> None:
    v2 = _second_version(tmp_path)
    before = index_digest(index)
    res = _ingest([v2], index, replace=False)
    assert not res.reports and res.failures
    msg = res.failures[0].reason
    assert "would replace 00_yunnan_qujing_touzicujinju_2023_juesuan" in msg and "--replace" in msg
    assert "another version of" in msg and SAMPLE_DEPT in msg
    assert index_digest(index) == before
    res = _ingest([v2], index, replace=True)
    assert res.ok and res.reports[0].replaced and "replaces 00_yunnan" in res.reports[0].line()
    assert [r.report_id for r in load_index(index).reports] == ["00_sample_v2_2023_juesuan"], "the old version is gone, not kept beside"


def test_identical_reingest_is_not_a_replacement(index: Path) -> None:
    res = _ingest([SAMPLE], index, replace=False)
    assert res.ok and [r.report_id for r in load_index(index).reports] == ["00_yunnan_qujing_touzicujinju_2023_juesuan"]


def test_two_versions_in_one_ingest_are_named(tmp_path: Path) -> None:
    res = _ingest([SAMPLE, _second_version(tmp_path)], tmp_path / "idx")
    assert len(res.reports) == 1 and "another version of" in res.failures[0].reason


def test_cli_replace_flag(index: Path, tmp_path: Path) -> None:
    v2 = _second_version(tmp_path)
    r = cli("ingest", "-q", str(v2), "--index", str(index))
    assert r.returncode == 1 and "--replace" in r.stderr and "Traceback" not in r.stderr
    RESULTS.append(("cli ingest of a second version without --replace", r.stderr.strip().splitlines()[0][:120], True))


def test_accept_failing_checks_flags_every_answer(tmp_path: Path) -> None:
    from assistant.ask import ask

    case = next(b for b in bad_inputs(tmp_path / "bad") if b.name.startswith("digits misread"))
    idx = tmp_path / "idx"
    res = _ingest(case.files, idx, accept_failing_checks=True)
    assert res.ok and res.reports
    a = ask("2023年公务接待费是多少？", index=load_index(idx))
    assert a.citations and "未通过数据核对" in a.answer and a.meta.get("unverified_reports")


def test_placeholders_are_never_figures(tmp_path: Path) -> None:
    """A few XX cells in an otherwise real report: ingested, and the XX cells carry no value."""
    text = sample_text()
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("3. 公务接待费"))
    lines[i] = re.sub(r"\d+\.\d{2}", "XX", lines[i])
    f = tmp_path / "in" / "partly_2023_juesuan.txt"
    f.parent.mkdir()
    f.write_text("\n".join(lines), encoding="utf-8")
    res = _ingest([f], tmp_path / "idx")
    assert res.ok
    facts = load_index(tmp_path / "idx").facts
    held = facts[facts.raw.str.fullmatch(r"\s*[xX×]{2,}\s*")]
    assert len(held) and held.value.isna().all() and (held.status != "ok").all()


def test_foreign_folder_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "mydocs"
    home.mkdir()
    (home / "notes.docx").write_bytes(b"x")
    (home / "photos").mkdir()
    before = index_digest(home)
    with pytest.raises(NotAnIndexFolderError, match=r"not an index folder.*notes\.docx"):
        _ingest([SAMPLE], home)
    assert index_digest(home) == before and not (home / "WRITER.lock").exists()
    fresh = tmp_path / "indexes"  # the repo's own indexes/ holds a README: that is an index folder
    fresh.mkdir()
    (fresh / "README.md").write_text("built indexes go here")
    (fresh / ".gitkeep").write_text("")
    from assistant.ioerrors import check_index_folder

    check_index_folder(fresh)


def test_index_from_another_version_is_a_message(index: Path) -> None:
    mark_as_another_version(index, "format_of_the_future")
    with pytest.raises(IndexCorruptError, match="another version of fiscal-qa"):
        load_index(index)
    r = cli("reports", "--index", str(index))
    assert r.returncode == 2 and "another version of fiscal-qa" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "code, expect",
    [(errno.ENOSPC, r"disk .* is full .*MB free; about .* MB are needed"), (errno.EACCES, "no permission"), (errno.EROFS, "read-only")],
)
def test_write_failures_are_messages_and_keep_the_previous_version(
    code: int, expect: str, index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = index_digest(index)

    def fail(*_a: object, **_k: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("assistant.vectors.write_bm25", fail)
    with pytest.raises(IndexWriteError, match=expect):
        _ingest([renamed_sample(tmp_path / "in", "某市测试二局", "other_2023_juesuan")], index)
    assert index_digest(index) == before


def test_chroma_compaction_error_wrapping_errno_28_is_disk_full(index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise RuntimeError("Error in compaction: Failed to apply logs: IO error: No space left on device (os error 28)")

    monkeypatch.setattr("assistant.vectors.upsert_parts", fail)
    with pytest.raises(IndexWriteError, match="is full"):
        _ingest([renamed_sample(tmp_path / "in", "某市测试三局", "other3_2023_juesuan")], index)


@pytest.fixture
def tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here ({r.stderr.strip() or r.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_on_a_small_tmpfs(tmpfs: Path, base_index: Path, tmp_path: Path) -> None:
    from assistant.ask import ask

    idx = tmpfs / "index"
    shutil.copytree(base_index, idx)
    free = shutil.disk_usage(tmpfs).free
    (tmpfs / "filler").write_bytes(b"\0" * max(0, free - 200_000))
    before = index_digest(idx)
    with pytest.raises(IndexWriteError, match=r"is full .*needed") as ei:
        _ingest([renamed_sample(tmp_path / "in", "某市测试四局", "full_2023_juesuan")], idx)
    RESULTS.append(("disk full on a 3 MB tmpfs", str(ei.value)[:120], True))
    assert index_digest(idx) == before
    assert not [p for p in idx.iterdir() if p.name.startswith(".tmp-")]
    assert ask("2023年公务接待费是多少？", index=load_index(idx)).value == 50.0


def test_read_only_file_system(tmpfs: Path, base_index: Path, tmp_path: Path) -> None:
    from assistant.ask import ask

    idx = tmpfs / "index"
    shutil.copytree(base_index, idx)
    r = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"remounting read-only is not permitted ({r.stderr.strip()})")
    r = cli("ingest", "-q", str(renamed_sample(tmp_path / "in", "某市测试六局", "ro_2023_juesuan")), "--index", str(idx))
    assert r.returncode == 2 and "read-only file system" in r.stderr and "Traceback" not in r.stderr
    assert ask("2023年公务接待费是多少？", index=load_index(idx)).value == 50.0, "a read-only index still answers"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions; the mapping is covered by the EACCES case above")
def test_no_permission(base_index: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    shutil.copytree(base_index, idx)
    idx.chmod(0o555)
    try:
        r = cli("ingest", "-q", str(renamed_sample(tmp_path / "in", "某市测试七局", "perm_2023_juesuan")), "--index", str(idx))
        assert r.returncode == 2 and "no permission" in r.stderr
    finally:
        idx.chmod(0o755)


# --------------------------------------------------------------------------- questions


@pytest.mark.parametrize(
    "args, rc, expect",
    [
        (["ask", "   "], 2, "the question is empty"),
    ],
)
def test_cli_empty_question(args: list[str], rc: int, expect: str, base_index: Path) -> None:
    r = cli(*args, "--index", str(base_index))
    assert r.returncode == rc and expect in r.stderr


def test_cli_on_an_ascii_only_terminal(base_index: Path) -> None:
    r = cli("ask", "2023年公务接待费是多少？", "--index", str(base_index), env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0 and "Traceback" not in r.stderr and "50.00" in r.stdout
    r = cli("ask", "2023年公务接待费是多少？", "--json", "--index", str(base_index), env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0 and json.loads(r.stdout)["value"] == 50.0


def test_ask_with_a_number_is_a_clear_type_error(base_index: Path) -> None:
    from assistant.ask import ask

    with pytest.raises(TypeError, match="question as text"):
        ask(123, index=load_index(base_index))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "question, expect",
    [("？？？!!!", "only punctuation"), ("公务接待费" * 500, "characters long; the limit is")],
)
def test_odd_questions_get_a_message(question: str, expect: str, base_index: Path) -> None:
    from assistant.ask import ask

    a = ask(question, index=load_index(base_index))
    assert a.route == "none" and expect in a.answer and a.value is None


def test_unknown_report_filter_is_a_message(base_index: Path) -> None:
    from assistant.appstate import AppState
    from assistant.errors import FiscalQAError

    with pytest.raises(FiscalQAError, match="no ingested report matches"):
        AppState(base_index).resolve_filter("不存在的局 1999")
