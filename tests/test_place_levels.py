"""A place names a level of government: 北京市财政局 is the city's bureau, not one of its districts';
"江苏省各部门" are the province's own departments, not its cities' and counties'. A place no ingested
department is in (北京市, with 南京市 ingested) is not ingested, whatever characters the names share.
Departments and places are generated from the national division list (no corpus names)."""

from __future__ import annotations

import pytest

from assistant.ask import _unknown_department
from assistant.ask.planner import parse_question
from assistant.ask.table_query import resolve_reports
from assistant.glossary import normalize_text
from assistant.places import Division, divisions, parents
from tests.vocab_kit import vocab_of_departments


def _full(d: Division) -> str:
    return "".join(p.name for p in parents(d)) + d.name


def _cities_with_districts(n: int) -> list[tuple[Division, list[Division]]]:
    """Prefecture-level cities (not municipalities) with two districts each, the first ``n`` in code order."""
    by_city: dict[str, list[Division]] = {}
    for d in divisions():
        if d.level == 3 and d.name.endswith("区") and len(d.short) == 2:
            by_city.setdefault(d.code[:4] + "00", []).append(d)
    by = {d.code: d for d in divisions()}
    out = []
    for code, ds in sorted(by_city.items()):
        city = by.get(code)
        if city is not None and len(ds) >= 2 and city.name.endswith("市") and code[2:4] != "01":
            out.append((city, ds[:2]))
        if len(out) == n:
            break
    return out


def _same_ending_pair() -> tuple[Division, Division]:
    """Two prefecture-level cities whose names end in the same two characters (X京市 / Y京市 kind)."""
    seen: dict[str, Division] = {}
    for d in divisions():
        if d.level == 2 and d.name.endswith("市") and len(d.name) == 3:
            other = seen.get(d.name[-2:])
            if other is not None:
                return other, d
            seen[d.name[-2:]] = d
    raise AssertionError("no two cities share their last two characters")


def _vocab(departments: list[str], year: int = 2024):
    return vocab_of_departments(departments, year)


def _unknown(q: str, vocab) -> str | None:
    return _unknown_department(normalize_text(q), parse_question(q, vocab), vocab)


CITIES = _cities_with_districts(3)


@pytest.mark.parametrize(("city", "districts"), CITIES, ids=[c.name for c, _ in CITIES])
def test_a_city_department_is_not_its_districts(city: Division, districts: list[Division]) -> None:
    vocab = _vocab([_full(d) + "财政局" for d in districts] + [_full(districts[0]) + "教育局"])
    for q in (f"{city.name}财政局2024年“三公”经费是多少？", f"{_full(city)}财政局2024年会议费是多少"):
        assert _unknown(q, vocab) == city.name + "财政局", q
    for d in districts:  # each district's own bureau, in full or without the city
        assert _unknown(f"{_full(d)}财政局2024年“三公”经费是多少？", vocab) is None
        assert _unknown(f"{d.name}财政局2024年“三公”经费是多少？", vocab) is None


@pytest.mark.parametrize("org", ["公安局", "教育局", "人民政府办公室"])
def test_a_department_word_that_starts_like_a_place_is_still_the_citys_own(org):
    city, districts = CITIES[0]
    vocab = _vocab([_full(d) + org for d in districts])
    assert _unknown(f"{city.name}{org}2024年“三公”经费是多少？", vocab) == city.name + org


@pytest.mark.parametrize(("city", "districts"), CITIES[:2], ids=[c.name for c, _ in CITIES[:2]])
def test_a_subdistrict_is_named_with_any_of_its_parents(city: Division, districts: list[Division]) -> None:
    street = _full(districts[0]) + "人民政府长青街道办事处"
    vocab = _vocab([street, _full(districts[1]) + "财政局"])
    for q in (f"{city.name}长青街道2024年“三公”经费是多少", f"{districts[0].name}长青街道2024年“三公”经费是多少"):
        assert _unknown(q, vocab) is None, q


def test_a_place_sharing_characters_with_an_ingested_one_is_not_ingested() -> None:
    a, b = _same_ending_pair()
    vocab = _vocab([a.name + "财政局", a.name + "教育局"])
    assert _unknown(f"{b.name}财政局2024年“三公”经费是多少？", vocab) == b.name + "财政局"
    assert _unknown(f"{a.name}财政局2024年“三公”经费是多少？", vocab) is None


def test_a_department_named_with_a_place_it_is_not_in_is_not_that_one() -> None:
    city, districts = CITIES[0]
    province = next(d for d in divisions() if d.level == 1 and d.code[:2] != city.code[:2])
    vocab = _vocab([_full(districts[0]) + "人民政府办公室", province.name + "高级人民法院"])
    assert _unknown(f"{province.name}2024年办公室的“三公”经费是多少", vocab) == province.name + "办公室"
    assert _unknown(f"{districts[0].name}2024年办公室的“三公”经费是多少", vocab) is None


def test_a_province_ranking_takes_its_own_departments() -> None:
    city, districts = CITIES[0]
    province = parents(city)[0]
    own = [province.name + "高级人民法院", province.name + "人民检察院"]
    below = [_full(d) + "人民政府办公室" for d in districts] + [_full(city)[: len(province.name)] + city.name + "财政局"]
    vocab = _vocab(own + below)
    pq = parse_question(f"{province.name}各部门预算中，哪个部门的“三公”经费预算最高？", vocab)
    reps, early = resolve_reports(pq, vocab)
    assert early is None
    assert sorted(r.department for r in reps) == sorted(own)
    # a district's ranking: its own departments and its subdistricts
    street = _full(districts[0]) + "人民政府长青街道办事处"
    vocab = _vocab(own + below + [street])
    pq = parse_question(f"{districts[0].name}2024年哪个部门的“三公”经费预算最高？", vocab)
    reps, _ = resolve_reports(pq, vocab)
    assert sorted(r.department for r in reps) == sorted([_full(districts[0]) + "人民政府办公室", street])


def test_a_ranking_over_a_place_without_own_departments_takes_those_within() -> None:
    city, districts = CITIES[0]
    deps = [_full(d) + "人民政府办公室" for d in districts]
    vocab = _vocab(deps)
    pq = parse_question(f"{city.name}各部门预算中，哪个部门的“三公”经费预算最高？", vocab)
    reps, _ = resolve_reports(pq, vocab)
    assert sorted(r.department for r in reps) == sorted(deps)
