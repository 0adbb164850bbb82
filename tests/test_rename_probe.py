"""Rename probe (CI): the sample's gold questions, asked about the sample renamed to five other departments
and places and named in the usual short ways, give the figure the original gives, from the renamed report."""

from __future__ import annotations

import importlib

import pytest

probe = importlib.import_module("eval.rename_probe")


@pytest.fixture(scope="module")
def renamed_index(tmp_path_factory):
    from assistant.ingest import ingest_paths
    from assistant.store import load_index

    d = tmp_path_factory.mktemp("renamed")
    res = ingest_paths(probe.write_renamed(d / "texts"), d / "idx", show_progress=False)
    assert res.ok, res.failures
    return load_index(d / "idx")


def test_renamed_departments_get_every_original_figure(sample_index, renamed_index):
    res = probe.run_probe(sample_index, renamed_index, forms_per_question=1, with_text=False)
    assert res.asked >= 5 * 60
    assert not res.mismatches, "\n".join(
        f"{m.gold_id} [{m.renaming}] {m.question} → expected {m.expected}, got {m.got} ({m.note})" for m in res.mismatches
    )


@pytest.mark.parametrize("r", probe.RENAMINGS, ids=lambda r: r.full)
def test_every_usual_form_names_the_renamed_department(renamed_index, r):
    from assistant.ask.planner import build_vocab, parse_question

    v = build_vocab(renamed_index)
    for form in (*r.forms, *r.forms_en):
        pq = parse_question(f"{form} 2023年公务接待费是多少", v)
        assert pq.departments == [r.full], (form, pq.departments, pq.dept_ambiguous)
