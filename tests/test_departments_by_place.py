"""Departments by place: with many departments of one organisation type ingested (高级人民法院 of several
provinces, 财政局 and 教育委员会 of several districts), a question naming the department with its place — in
full, in the usual short forms, in pinyin or English, the place before or after the type — resolves to the
department of that place, never to "which department?". Departments and places are generated from the
national division list (no corpus names); one test ingests the bundled sample renamed under several places."""

from __future__ import annotations

import importlib

import pytest

from assistant.ask.planner import parse_question
from assistant.orgnames import division_names_en, pinyin
from assistant.places import Division, divisions, parents
from tests.vocab_kit import vocab_of_departments

# provinces including a pinyin clash (山西 shanxi / 陕西 Shaanxi) and English names not in pinyin (内蒙古, 西藏)
PROVINCE_CODES = ("140000", "610000", "150000", "540000", "330000", "320000", "510000", "450000")


def _provinces() -> list[Division]:
    by = {d.code: d for d in divisions()}
    return [by[c] for c in PROVINCE_CODES]


def _districts(n: int = 4) -> list[Division]:
    """``n`` districts (区) of the first prefecture-level city that has that many, with unique short names."""
    short_count: dict[str, int] = {}
    for d in divisions():
        short_count[d.short] = short_count.get(d.short, 0) + 1
    by_city: dict[str, list[Division]] = {}
    for d in divisions():
        if d.level == 3 and d.name.endswith("区") and short_count[d.short] == 1 and len(d.short) == 2:
            by_city.setdefault(d.code[:4], []).append(d)
    city = next(c for c, ds in sorted(by_city.items()) if len(ds) >= n and not c.endswith("00") and c[2:] != "01")
    return by_city[city][:n]


def _full(d: Division) -> str:
    return "".join(p.name for p in parents(d)) + d.name


def _vocab(departments: list[str]):
    return vocab_of_departments(departments)


COURTS = [p.name + "高级人民法院" for p in _provinces()]
PROCURATORATES = [p.name + "人民检察院" for p in _provinces()]
DISTRICTS = _districts()
FINANCE = [_full(d) + "财政局" for d in DISTRICTS]
EDUCATION = [_full(d) + "教育委员会" for d in DISTRICTS]


@pytest.fixture(scope="module")
def many_vocab():
    return _vocab(COURTS + PROCURATORATES + FINANCE + EDUCATION)


def _court_forms(p: Division) -> list[str]:
    en = division_names_en(p)[0].title()
    return [
        p.name + "高级人民法院", p.short + "高院", p.name + "高院", p.short + "省法院" if p.name.endswith("省") else p.short + "法院",
        f"the {en} High People's Court", f"the High People's Court of {en}", f"{en} Higher People's Court", f"the {en} high court",
    ]  # fmt: skip


def _procuratorate_forms(p: Division) -> list[str]:
    en = division_names_en(p)[0].title()
    forms = [p.name + "人民检察院", p.short + "检察院", f"the {en} People's Procuratorate", f"the People's Procuratorate of {en}"]
    if p.name.endswith("省"):
        forms += [p.name + "检", p.short + "省检察院"]
    return forms


def _district_forms(d: Division, body: str, short: str, en_body: str) -> list[str]:
    py = pinyin(d.short).capitalize()
    city = next(x for x in parents(d) if x.level == 2)
    cpy = pinyin(city.short).capitalize()
    return [
        _full(d) + body, d.name + body, d.name + short, d.short + short, city.short + d.name + short,
        f"the {py} District {en_body}", f"the {py} {en_body.lower()}", f"the {en_body} of {py} District, {cpy}", f"{cpy} {py} {en_body}",
    ]  # fmt: skip


CASES = (
    [(form, full) for p, full in zip(_provinces(), COURTS, strict=True) for form in _court_forms(p)]
    + [(form, full) for p, full in zip(_provinces(), PROCURATORATES, strict=True) for form in _procuratorate_forms(p)]
    + [
        (form, full)
        for d, full in zip(DISTRICTS, FINANCE, strict=True)
        for form in _district_forms(d, "财政局", "财政局", "Finance Bureau")
    ]
    + [
        (form, full)
        for d, full in zip(DISTRICTS, EDUCATION, strict=True)
        for form in _district_forms(d, "教育委员会", "教委", "Education Commission")
    ]
)


@pytest.mark.parametrize(("form", "department"), CASES, ids=[c[0] for c in CASES])
def test_department_named_with_its_place_resolves_to_that_place(many_vocab, form, department):
    q = f"{form}2024年三公经费是多少？" if not form.isascii() else f"What is the 2024 three public expenses budget of {form}?"
    pq = parse_question(q, many_vocab)
    assert pq.departments == [department], (q, pq.departments, pq.dept_ambiguous)
    assert not pq.dept_ambiguous


@pytest.mark.parametrize(
    "q",
    [
        "高级人民法院2024年三公经费是多少？",
        "财政局2024年三公经费是多少？",
        "How much was the finance bureau's 2024 three public expenses budget?",
    ],
)
def test_department_named_without_a_place_stays_a_question(many_vocab, q):
    pq = parse_question(q, many_vocab)
    assert not pq.departments and len(pq.dept_ambiguous) > 1


def test_pinyin_clash_is_told_apart_by_the_english_name(many_vocab):
    """陕西 is said Shaanxi in English; "Shanxi" names 山西 only."""
    shanxi = parse_question("What is the 2024 three public expenses budget of the Shanxi High People's Court?", many_vocab)
    shaanxi = parse_question("What is the 2024 three public expenses budget of the Shaanxi High People's Court?", many_vocab)
    assert shanxi.departments == ["山西省高级人民法院"] and shaanxi.departments == ["陕西省高级人民法院"]


# ----------------------------------------------------------------------------- end to end: the sample under several places

probe = importlib.import_module("eval.rename_probe")


def _renamings() -> list[object]:
    out = []
    for p in _provinces()[:3]:
        out.append(
            probe.Renaming(p.name + "高级人民法院", p.name, p.short, p.name, p.short, (), (), division_names_en(p)[0].title())
        )
    for d in DISTRICTS[:3]:
        prov = parents(d)[0]
        out.append(
            probe.Renaming(_full(d) + "财政局", _full(d), d.short, prov.name, prov.short, (), (), pinyin(d.short).capitalize())
        )
    return out


@pytest.fixture(scope="module")
def placed_index(tmp_path_factory):
    from reliability_kit import FastEmbedder

    from assistant.ingest import ingest_paths
    from assistant.store import load_index

    d = tmp_path_factory.mktemp("placed")
    paths = []
    for r in _renamings():
        p = d / "texts" / f"{r.report_id}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(probe.renamed_text(r), encoding="utf-8")
        paths.append(p)
    res = ingest_paths(paths, d / "idx", show_progress=False, embedder=FastEmbedder())
    assert res.ok, res.failures
    return load_index(d / "idx")


def test_sample_under_several_places_answers_each_by_its_place(placed_index):
    from assistant.ask import ask

    for r in _renamings():
        full = r.full
        d = next(x for x in placed_index.reports if x.department == full)
        want = ask(f"{full}2023年公务接待费是多少？", index=placed_index)
        assert want.value is not None and {c.report for c in want.citations} == {d.report_id}
        court = full.endswith("高级人民法院")
        short = r.place_short
        forms = [
            short + ("高院" if court else "区财政局"),
            f"the {r.place_en} " + ("High People's Court" if court else "District Finance Bureau"),
        ]
        for form in forms:
            q = (
                f"{form}2023年公务接待费是多少？"
                if not form.isascii()
                else f"How much did {form} spend on official reception in 2023?"
            )
            a = ask(q, index=placed_index)
            assert a.value == want.value, (q, a.answer[:200])
            assert {c.report for c in a.citations} == {d.report_id}, (q, [c.report for c in a.citations])
