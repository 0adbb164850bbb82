"""The bundled sample is found by what it is (a report file in data/), not by its name."""

from __future__ import annotations

from pathlib import Path

from assistant.settings import SAMPLE_REPORT, bundled_sample


def test_the_shipped_sample_is_found() -> None:
    assert SAMPLE_REPORT.exists() and SAMPLE_REPORT.parent.name == "data"


def test_a_sample_of_any_name_is_found_and_none_is_said(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("x", encoding="utf-8")
    assert not bundled_sample(tmp_path).exists()
    (tmp_path / "杭州市民政局2024年部门决算.txt").write_text("x", encoding="utf-8")
    assert bundled_sample(tmp_path).name == "杭州市民政局2024年部门决算.txt"
    assert not bundled_sample(tmp_path / "missing").exists()
