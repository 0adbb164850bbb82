"""The manifest and catalog kept as segments: a commit writes its own reports' delta, compaction keeps the
segments few, and what a version reads equals a full rebuild (adds, replacements, removals, kill -9)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from assistant import catalog
from assistant.ask.planner import _dept_aliases, _place_words
from assistant.models import TableInfo
from assistant.store import CURRENT, TABLE_SCHEMA, _read_parts, current_version, load_index, remove_reports, write_index
from tests.conftest import REPO
from tests.reliability_kit import kill_when_it_says
from tests.test_catalog import _with_tables, as_written_before_segments
from tests.test_store import CountingEmbedder

DEPTS = ["杭州市西湖区司法局", "福建省福州市鼓楼区财政局", "中共杭州市西湖区委社会工作部", "北京市海淀区教育委员会"]


def _rep(rid: str, sha: str, n: int, dept: int = 0, title: str = "收入支出决算总表") -> Any:
    rep = _with_tables(rid, sha, n, title)
    rep.meta.department = DEPTS[dept % len(DEPTS)]
    return rep


def _segments(d: Path) -> list[dict[str, Any]]:
    v = current_version(d)
    assert v is not None
    return json.loads((v / "manifest.json").read_text(encoding="utf-8"))["segments"]


def _read(d: Path) -> dict[str, Any]:
    """What a fresh reader gets from the live version: manifest, tables, summaries, aliases, place words."""
    idx = load_index(d)
    man = catalog.read_manifest(idx.path)
    pairs = [(r.department, r.place or "") for r in idx.reports]
    return {
        "reports": [r.to_dict() for r in idx.reports],
        "parts": dict(idx.parts),
        "counts": man["counts"],
        "tables": catalog.read_tables(idx.path, idx.parts, TABLE_SCHEMA, list(TableInfo.__dataclass_fields__)),
        "summaries": catalog.read_summaries(idx.path, idx.parts),
        "aliases": catalog.read_department_aliases(idx.path, {r.department for r in idx.reports}),
        "places": catalog.read_place_words(idx.path, pairs),
    }


def _rebuilt(d: Path, tmp: Path) -> dict[str, Any]:
    """The same index rewritten from its parts as one segment (a version of before segments without catalog,
    then a commit that changes nothing)."""
    shutil.copytree(d, tmp)
    as_written_before_segments(tmp, with_catalog=False)
    remove_reports(tmp, [])
    assert len(_segments(tmp)) == 1
    return _read(tmp)


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for k in ("reports", "parts", "counts", "summaries", "aliases", "places"):
        assert got[k] == want[k], k
    assert got["tables"] is not None and want["tables"] is not None
    pd.testing.assert_frame_equal(got["tables"], want["tables"])


@pytest.fixture
def small_fanout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "FANOUT", 2)  # compaction after a few commits


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eleven commits with FANOUT 2: adds, a replacement by id, one by file hash, removals, a removed id added again."""
    mp = pytest.MonkeyPatch()
    mp.setattr(catalog, "FANOUT", 2)
    d = tmp_path_factory.mktemp("segments")
    emb = CountingEmbedder()
    try:
        write_index(d, [_rep("a", "ha", 3), _rep("b", "hb", 2, 1)], embedder=emb)
        for i, rid in enumerate("cdefg"):
            write_index(d, [_rep(rid, f"h{rid}", 1 + i % 3, i)], embedder=emb)
        write_index(d, [_rep("b", "hb2", 4, 2, title="支出决算表")], embedder=emb)  # replaced (same id)
        write_index(d, [_rep("e2", "he", 2, 3)], embedder=emb)  # replaced (same file, another id)
        remove_reports(d, ["a", "f"])
        write_index(d, [_rep("a", "ha3", 5, 1)], embedder=emb)  # a removed id, added again
        remove_reports(d, ["c"])
    finally:
        mp.undo()
    return d


def test_segments_after_many_commits_equal_a_full_rebuild(history: Path, tmp_path: Path) -> None:
    got = _read(history)
    assert [r["report_id"] for r in got["reports"]] == ["d", "g", "b", "e2", "a"]
    assert list(got["parts"]) == ["d", "g", "b", "e2", "a"]
    assert len(_segments(history)) > 1, "kept as several segments"
    _assert_same(got, _rebuilt(history, tmp_path / "rebuilt"))
    idx = load_index(history)
    tables = _read_parts(idx.root, idx.parts, "tables.parquet", list(TableInfo.__dataclass_fields__))
    pd.testing.assert_frame_equal(idx.tables, tables)
    assert (idx.tables.report_id == "b").sum() == 4 and (idx.tables.report_id == "a").sum() == 5
    assert got["aliases"] == {d: frozenset(_dept_aliases(d)) for d in {r.department for r in idx.reports}}
    assert list(_place_words(idx.reports, idx.path).items()) == list(_place_words(idx.reports).items())


def test_the_catalog_folder_holds_only_the_segments_kept_versions_list(history: Path) -> None:
    listed = set()
    for v in history.glob("v-*"):
        listed |= set(catalog.segment_names(v) or [])
    assert {p.name for p in (history / catalog.SEGMENT_DIR).iterdir() if p.is_dir()} == listed
    assert len(list(history.glob("v-*"))) == 3, "the live version and two old ones"


@pytest.mark.parametrize("fanout", [2, 8])
def test_compaction_keeps_few_segments_and_rewrites_little(fanout: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 one-report commits planned: a version lists about log_F(N) segments, and each entry is
    rewritten about F × log_F(N) times in all (the cost of a commit does not grow with N)."""
    monkeypatch.setattr(catalog, "FANOUT", fanout)
    sizes: list[int] = []
    rewritten = 0
    most = 0
    for n in range(1, 10_001):
        groups = catalog._plan(sizes, 1)
        new = []
        for g in groups:
            if len(g) == 1 and g[0] < len(sizes):
                new.append(sizes[g[0]])
            else:
                merged = sum(sizes[i] if i < len(sizes) else 1 for i in g)
                rewritten += merged
                new.append(merged)
        sizes = new
        assert sum(sizes) == n
        most = max(most, len(sizes))
    import math

    levels = math.log(10_000, fanout)
    assert most <= levels + 2
    assert rewritten / 10_000 <= fanout * (levels + 1)


def test_a_reader_of_an_older_version_still_reads_it_after_commits(tmp_path: Path, small_fanout: None) -> None:
    emb = CountingEmbedder()
    for i in range(5):
        write_index(tmp_path, [_rep(f"r{i}", f"h{i}", 2, i)], embedder=emb)
    old = load_index(tmp_path)
    want = _read(tmp_path)
    write_index(tmp_path, [_rep("r9", "h9", 3)], embedder=emb)
    remove_reports(tmp_path, ["r0", "r3"])  # two more versions: the old one is still kept (keep_versions 2)
    assert old.path.exists()
    pd.testing.assert_frame_equal(old.tables, want["tables"])
    assert catalog.read_summaries(old.path, old.parts) == want["summaries"]
    assert catalog.read_manifest(old.path)["parts"] == want["parts"]
    assert sorted(r.report_id for r in load_index(tmp_path).reports) == ["r1", "r2", "r4", "r9"]


def test_removing_every_report_and_adding_again(tmp_path: Path, small_fanout: None) -> None:
    emb = CountingEmbedder()
    write_index(tmp_path, [_rep("a", "ha", 2), _rep("b", "hb", 1, 1)], embedder=emb)
    write_index(tmp_path, [_rep("c", "hc", 1, 2)], embedder=emb)
    remove_reports(tmp_path, ["a", "b", "c"])
    v = current_version(tmp_path)
    assert v is not None and load_index(tmp_path).reports == [] and catalog.read_manifest(v)["parts"] == {}
    write_index(tmp_path, [_rep("b", "hb", 3, 3)], embedder=emb)
    got = _read(tmp_path)
    assert [r["report_id"] for r in got["reports"]] == ["b"] and len(got["tables"]) == 3


def test_a_version_written_before_segments_with_its_catalog_is_converted_from_that_catalog(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    write_index(tmp_path, [_rep("a", "ha", 3), _rep("b", "hb", 2, 1)], embedder=emb)
    want = _read(tmp_path)
    v = as_written_before_segments(tmp_path, with_catalog=True)
    _assert_same(_read(tmp_path), want)
    idx = load_index(tmp_path)
    (tmp_path / idx.parts["a"] / "tables.parquet").unlink()  # only the old catalog still has a's tables
    write_index(tmp_path, [_rep("c", "hc", 1, 2)], embedder=emb)
    assert current_version(tmp_path) != v and len(_segments(tmp_path)) == 1, "written as one segment"
    got = load_index(tmp_path)
    assert (got.tables.report_id == "a").sum() == 3 and (got.tables.report_id == "c").sum() == 1


def test_a_segment_catalog_of_another_format_is_read_from_the_parts(tmp_path: Path, small_fanout: None) -> None:
    emb = CountingEmbedder()
    for i in range(3):
        write_index(tmp_path, [_rep(f"r{i}", f"h{i}", 2, i)], embedder=emb)
    want = _read(tmp_path)
    seg = tmp_path / catalog.SEGMENT_DIR / _segments(tmp_path)[0]["name"]
    (seg / catalog.TABLES).write_bytes(b"not parquet")
    (seg / catalog.SUMMARIES).write_text('{"format": "of the future"}', encoding="utf-8")
    idx = load_index(tmp_path)
    pd.testing.assert_frame_equal(idx.tables, want["tables"])
    assert idx.summaries() == want["summaries"]


def _digest(d: Path, v: Path) -> str:
    """A hash of a version's files and of the catalog segments it lists."""
    h = hashlib.sha256()
    files = sorted(v.rglob("*")) + [
        f for n in catalog.segment_names(v) or [] for f in sorted((d / catalog.SEGMENT_DIR / n).rglob("*"))
    ]
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(d)).encode() + f.read_bytes())
    return h.hexdigest()


KILLED_COMMIT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    import assistant.catalog, assistant.store, assistant.vectors
    from tests.test_catalog_segments import _rep
    from tests.test_store import CountingEmbedder

    assistant.catalog.FANOUT = 2
    mod, name = {hook!r}.rsplit(".", 1)
    real = getattr(sys.modules[mod], name)

    def stall(*a, **k):
        print("stalled", flush=True)
        time.sleep(60)
        return real(*a, **k)

    setattr(sys.modules[mod], name, stall)
    assistant.store.write_index(Path({index!r}), [_rep("z", "hz", 2, 1), _rep("r1", "h1new", 4, 2)], embedder=CountingEmbedder())
    """
)


@pytest.mark.parametrize(
    "hook",
    [
        "assistant.vectors.write_version_stats",  # segments written in the staging folder, not moved
        "assistant.catalog.remember_version",  # segments and version moved in, CURRENT not swapped
    ],
)
def test_kill_9_during_a_commit_with_segments_leaves_the_previous_version(tmp_path: Path, hook: str, small_fanout: None) -> None:
    emb = CountingEmbedder()
    for i in range(4):
        write_index(tmp_path, [_rep(f"r{i}", f"h{i}", 2, i)], embedder=emb)
    v1 = current_version(tmp_path)
    assert v1 is not None and len(_segments(tmp_path)) > 1
    before, want = _digest(tmp_path, v1), _read(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_COMMIT.format(repo=str(REPO), index=str(tmp_path), hook=hook)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    kill_when_it_says(proc, "stalled")
    assert (tmp_path / CURRENT).read_text().strip() == v1.name
    assert _digest(tmp_path, v1) == before, "the previous version and its segments are byte-identical"
    _assert_same(_read(tmp_path), want)
    write_index(tmp_path, [_rep("y", "hy", 1, 3)], embedder=emb)
    assert not list(tmp_path.glob(".tmp-*"))
    listed = set()
    for v in tmp_path.glob("v-*"):
        listed |= set(catalog.segment_names(v) or [])
    assert {p.name for p in (tmp_path / catalog.SEGMENT_DIR).iterdir() if p.is_dir()} == listed, (
        "the killed commit's segments are gone"
    )
    got = _read(tmp_path)
    assert [r["report_id"] for r in got["reports"]] == ["r0", "r1", "r2", "r3", "y"]
    _assert_same(got, _rebuilt(tmp_path, tmp_path.parent / (tmp_path.name + "-rebuilt")))


def test_gc_lists_every_part_folder_only_when_a_killed_writer_may_have_left_some(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant import store

    emb = CountingEmbedder()
    write_index(tmp_path, [_rep("a", "ha", 1), _rep("b", "hb", 1, 1)], embedder=emb)  # lists once (never listed)
    real = store._all_part_rels
    calls: list[Path] = []
    monkeypatch.setattr(store, "_all_part_rels", lambda d: calls.append(d) or real(d))
    for i in range(4):
        write_index(tmp_path, [_rep("a", f"ha{i}", 1)], embedder=emb, keep_versions=1)
    assert calls == [], "the parts of removed versions are looked at, not every part folder"
    named = set()
    for v in tmp_path.glob("v-*"):
        named |= set(catalog.read_manifest(v)["parts"].values())
    assert set(real(tmp_path)) == named, "every part no kept version names is gone"
    orphan = tmp_path / "parts" / "place=_" / "year=2024" / "report=left-behind"
    orphan.mkdir(parents=True)
    (orphan / "OWNER").write_text("999999-1")
    dead = tmp_path / ".tmp-999999-1-abcdef"
    dead.mkdir()
    (dead / "OWNER").write_text("999999-1")
    write_index(tmp_path, [_rep("c", "hc", 1)], embedder=emb, keep_versions=1)
    assert calls and not orphan.exists() and not dead.exists()
