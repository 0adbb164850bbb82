"""Figures printed only in the narrative, read clause by clause: the general noun takes the total clause, a
specific noun its own clause, a qualifier (年初/年末, 购置/报废, 预算/实际, a year) the clause stating it; two
clauses that fit equally are both quoted, never one picked. Narratives are made up here (no corpus text)."""

from __future__ import annotations

import pytest

from assistant.ask.clauses import choose, clause_figures, question_want
from assistant.glossary import norm_label, term_index

FLEET = (
    "截至2031年末，本单位共有车辆58辆，其中：一般公务用车9辆、执法执勤用车37辆、特种专业技术用车12辆。"
    "本年度购置公务用车4辆，报废6辆。年初车辆60辆，年末58辆。"
)
FLEET_NO_TOTAL = "本单位现有一般公务用车9辆、执法执勤用车37辆。"
MEETINGS = "2031年召开会议14次，培训班6期，参训人员820人次；2030年召开会议11次。"
PROJECTS = "全年实施项目27个，其中：新建项目8个、续建项目19个。项目资金预算3400.50万元，实际支出3120.25万元。"
COUNTS = "本部门编制人数45人，年末实有人数41人，比上年减少2人。"


def _names(term_id: str) -> list[str]:
    t = term_index()[term_id]
    return [norm_label(x) for x in (t["zh"], *t.get("aliases_zh", []), *t.get("text_names", []))]


def _ask(text: str, q: str, names: list[str], kind: str, years: tuple[int, ...] = ()) -> tuple[str, list[str]]:
    want = question_want(norm_label(q) if not q.isascii() else q, names, kind=kind, years=years)
    c = choose(clause_figures(text), want)
    return c.status, [f.value for f in c.figures]


VEHICLE = _names("vehicle_count")


@pytest.mark.parametrize(
    ("question", "status", "values"),
    [
        ("车辆有多少辆？", "several", ["58", "60"]),  # 年末 total and 年初: said which is which
        ("年末共有车辆多少辆？", "one", ["58"]),
        ("截至年末有几辆车？", "one", ["58"]),
        ("年初有多少辆车？", "one", ["60"]),
        ("一般公务用车有几辆？", "one", ["9"]),
        ("执法执勤用车有多少辆？", "one", ["37"]),
        ("特种专业技术用车几辆", "one", ["12"]),
        ("本年购置了几辆车？", "one", ["4"]),
        ("报废了多少辆公务用车？", "one", ["6"]),
        ("How many vehicles at the end of the year?", "one", ["58"]),
        ("How many vehicles at the start of the year?", "one", ["60"]),
        ("How many vehicles were purchased?", "one", ["4"]),
        ("How many vehicles were scrapped?", "one", ["6"]),
        ("How many vehicles are there?", "several", ["58", "60"]),
    ],
)
def test_vehicle_clauses(question, status, values):
    got = _ask(FLEET, question, VEHICLE, "count")
    assert got[0] == status and sorted(got[1]) == sorted(values), (question, got)


@pytest.mark.parametrize("question", ["车辆有多少辆？", "公务用车有几辆", "How many vehicles does the unit have?"])
def test_general_noun_never_takes_a_part_when_no_total_is_printed(question):
    status, values = _ask(FLEET_NO_TOTAL, question, VEHICLE, "count")
    assert status in ("parts", "none", "several") and status != "one", (status, values)


@pytest.mark.parametrize(
    ("question", "names", "years", "status", "values"),
    [
        ("2031年召开了多少次会议？", ["会议"], (2031,), "one", ["14"]),
        ("2030年召开了多少次会议？", ["会议"], (2030,), "one", ["11"]),
        ("召开了多少次会议？", ["会议"], (), "several", ["14", "11"]),  # two years, none named: both
        ("2031年举办培训班多少期？", ["培训班"], (2031,), "one", ["6"]),
        ("参训人员有多少人次？", ["参训人员"], (), "one", ["820"]),
        ("How many meetings were held in 2031?", ["会议"], (2031,), "one", ["14"]),
    ],
)
def test_counts_with_years(question, names, years, status, values):
    got = _ask(MEETINGS, question, names, "count", years)
    assert got[0] == status and sorted(got[1]) == sorted(values), (question, got)


@pytest.mark.parametrize(
    ("question", "kind", "status", "values"),
    [
        ("实施了多少个项目？", "count", "one", ["27"]),
        ("新建项目有几个？", "count", "one", ["8"]),
        ("续建项目多少个", "count", "one", ["19"]),
        ("项目资金预算是多少？", "money", "one", ["3400.50"]),
        ("项目资金实际支出多少？", "money", "one", ["3120.25"]),
        ("项目资金是多少？", "money", "several", ["3400.50", "3120.25"]),  # 预算 and 实际: both, which is which
    ],
)
def test_projects_and_amounts(question, kind, status, values):
    got = _ask(PROJECTS, question, ["项目", "项目资金"], kind)
    assert got[0] == status and sorted(got[1]) == sorted(values), (question, got)


def test_a_change_is_not_a_count():
    status, values = _ask(COUNTS, "年末实有人数多少人？", ["实有人数", "人数"], "count")
    assert (status, values) == ("one", ["41"])
    assert "2" not in _ask(COUNTS, "人数有多少？", ["人数"], "count")[1]


def test_measure_word_must_agree():
    """A question asking 多少辆 does not take a figure in 人 or 万元."""
    status, values = _ask("共有车辆5辆，驾驶员7人，运行维护费12.5万元。", "车辆有多少辆", VEHICLE, "count")
    assert (status, values) == ("one", ["5"])


def test_clause_roles():
    figs = clause_figures(FLEET)
    total = next(f for f in figs if f.value == "58" and f.total)
    assert total.noun == "车辆" and total.qualifiers.get("point") == "end" and total.years == (2031,)
    parts = [f for f in figs if f.part]
    assert [f.noun for f in parts] == ["一般公务用车", "执法执勤用车", "特种专业技术用车"]
    scrapped = next(f for f in figs if f.value == "6")
    assert scrapped.noun == "公务用车" and scrapped.qualifiers.get("flow") == "disposed"


@pytest.mark.parametrize(
    ("kind", "plan", "values"),
    [
        (None, None, ["0.95", "0.00"]),  # a question that names neither: both, which is which
        ("决算", "actual", ["0.00"]),  # a final account's figure is its actual one
        ("预算", "budget", ["0.95"]),
    ],
)
def test_the_report_kind_decides_between_budget_and_actual(kind, plan, values):
    text = "“三公”经费财政拨款支出年初预算为0.95万元，支出决算为0.00万元，完成预算的0%。"
    want = question_want("三公经费是多少", ["三公经费"], kind="money")
    if plan:
        want.implied["plan"] = plan
    got = choose(clause_figures(text), want)
    assert sorted(f.value for f in got.figures) == sorted(values), (kind, got)
    # a question that names one keeps it, whatever the report
    want = question_want("三公经费年初预算是多少", ["三公经费"], kind="money")
    want.implied["plan"] = "actual"
    assert [f.value for f in choose(clause_figures(text), want).figures] == ["0.95"]


def test_what_a_noun_excludes_is_not_part_of_it():
    text = "截至年末共有车辆7辆，其中：其他用车7辆；单价100万元（含）以上设备（不含车辆）0台（套）。"
    assert _ask(text, "年末车辆有多少辆", VEHICLE, "count") == ("one", ["7"])
    only = "单价100万元（含）以上设备（不含车辆）3台（套）。"
    assert _ask(only, "车辆有多少辆", VEHICLE, "count")[0] == "none"
