"""The planner: departments (short names, English), years (2023年, 去年), kind, measure, items via the glossary,
printed row labels and codes, traditional characters, operations and follow-ups."""

from __future__ import annotations

import datetime

import pytest

from assistant.ask.planner import _dept_aliases, build_vocab, detect_language, parse_question, plan_question
from assistant.glossary import norm_label, to_simplified
from assistant.models import Answer, ReportMeta
from tests.vocab_kit import vocab_of


@pytest.fixture(scope="module")
def vocab(sample_index):
    return build_vocab(sample_index)


@pytest.fixture(scope="module")
def corpus_vocab():
    """Departments of the shared corpus (no facts needed for department and year parsing)."""
    names = [
        ("01", "上海市普陀区财政局", 2024, "决算"), ("04", "上海市普陀区人民政府万里街道办事处", 2024, "预算"),
        ("05", "上海市普陀区人民政府万里街道办事处", 2025, "预算"), ("08", "上海市普陀区司法局", 2026, "预算"),
        ("10", "江苏省高级人民法院", 2019, "预算"), ("11", "江苏省人民检察院", 2018, "预算"), ("00", "曲靖市投资促进局", 2023, "决算"),
        ("07", "上海市普陀区人民政府办公室", 2025, "预算"), ("13", "江苏省人大常委会办公厅", 2019, "预算"), ("14", "江苏省政协办公厅", 2017, "预算"),
    ]  # fmt: skip
    return vocab_of([ReportMeta(rid, d, y, k) for rid, d, y, k in names])


@pytest.mark.parametrize(
    ("question", "department"),
    [
        ("财政局2024年三公经费是多少", "上海市普陀区财政局"),
        ("投资促进局2023年公务接待费", "曲靖市投资促进局"),
        ("万里街道2025年三公经费预算", "上海市普陀区人民政府万里街道办事处"),
        ("普陀区万里街道办事处2024年收入预算总计是多少？", "上海市普陀区人民政府万里街道办事处"),
        ("司法局2026年机关运行经费", "上海市普陀区司法局"),
        ("检察院2018年培训费预算", "江苏省人民检察院"),
        ("法院2019年公务接待费预算", "江苏省高级人民法院"),
        ("江蘇省高級人民法院2019年公務接待費預算是多少？", "江苏省高级人民法院"),
        ("How much did the Jiangsu High People's Court budget for official reception in 2019?", "江苏省高级人民法院"),
        ("What was the total expenditure of the Putuo District Finance Bureau in 2024?", "上海市普陀区财政局"),
        ("How much did Wanli Subdistrict budget for official vehicle purchase in 2025?", "上海市普陀区人民政府万里街道办事处"),
    ],
)
def test_departments(corpus_vocab, question, department):
    pq = parse_question(question, corpus_vocab)
    assert pq.departments == [department]


def test_department_name_matching_several(corpus_vocab):
    pq = parse_question("办公厅2019年三公经费预算", corpus_vocab)
    assert set(pq.dept_ambiguous) == {"江苏省人大常委会办公厅", "江苏省政协办公厅"}


def test_aliases():
    assert {"万里街道", "万里街道办事处"} <= _dept_aliases("上海市普陀区人民政府万里街道办事处")
    assert {"财政局"} <= _dept_aliases("上海市普陀区财政局")
    assert {"检察院"} <= _dept_aliases("江苏省人民检察院")
    assert {"法院", "高级人民法院"} <= _dept_aliases("江苏省高级人民法院")
    assert _dept_aliases("上海市普陀区") == {"上海市普陀区"}


@pytest.mark.parametrize(
    ("question", "years"),
    [
        ("2023年公务接待费", [2023]),
        ("FY2024 reception", [2024]),
        # relative years count from the calendar year of asking, as a person means them
        ("去年的三公经费", [datetime.date.today().year - 1]),
        ("今年的三公经费", [datetime.date.today().year]),
        ("last year reception", [datetime.date.today().year - 1]),
        ("本年支出合计是多少", []),  # a table word, not a year
        ("曲靖投促局23年招待费花了多少？", [2023]),
        ("近10年的变化", []),
    ],
)
def test_years(vocab, question, years):
    assert parse_question(question, vocab).years == years


@pytest.mark.parametrize(
    ("question", "label"),
    [
        ("2023年公务接待费是多少", "公务接待费"),
        ("招待费花了多少", "公务接待费"),
        ("接待费多少", "公务接待费"),
        ("吃喝花了多少钱", "公务接待费"),
        ("how much was spent on reception in 2023", "公务接待费"),
        ("hospitality spending 2023", "公务接待费"),
        ("entertainment expenses", "公务接待费"),
        ("出国费是多少", "因公出国（境）费"),
        ("曲靖投促局23年招待费花了多少？", "公务接待费"),
        ("overseas travel in 2023", "因公出国（境）费"),
        ("公车花了多少", "公务用车购置及运行维护费"),
        ("车辆费", "公务用车购置及运行维护费"),
        ("official vehicles spending", "公务用车购置及运行维护费"),
        ("How many official vehicles did the bureau have?", "公务用车保有量"),
        ("三公经费", "“三公”经费"),
        ("the three public expenses in 2023", "“三公”经费"),
        ("機關運行經費是多少", "机关运行经费"),
        ("公務接待費是多少", "公务接待费"),
        ("住房公积金", "住房公积金"),
        ("差旅费", "差旅费"),
        ("委托业务费", "委托业务费"),
        ("资产总额", "资产总额"),
        ("社会保障和就业支出", "社会保障和就业支出"),
        ("招商工作经费的预算执行率", "招商工作经费"),
        ("立项备案招商项目个数的指标值", "立项备案招商项目个数"),
    ],
)
def test_items(vocab, question, label):
    plan = plan_question(question, vocab)
    assert plan.items and plan.items[0].label == label


def test_item_by_code(vocab):
    plan = plan_question("科目2011308支出是多少", vocab)
    assert plan.items[0].code == "2011308"


@pytest.mark.parametrize(
    ("question", "measure"),
    [
        ("公务接待费的年初预算数", "预算数"),
        ("公务接待费预算是多少", "预算数"),
        ("公务接待费的全年预算数", "全年预算数"),
        ("how much was spent on reception", "决算数"),
        ("公务接待费决算数", "决算数"),
        ("固定资产原值", "原值"),
        ("固定资产净值", "净值"),
        ("新增就业岗位的指标值", "指标值"),
        ("新增就业岗位的实际完成值", "实际完成值"),
        ("一般公共服务支出的基本支出", "基本支出"),
        ("招商工作经费执行率", "预算执行率"),
    ],
)
def test_measures(vocab, question, measure):
    assert plan_question(question, vocab).measure == measure


@pytest.mark.parametrize(
    ("question", "op"),
    [
        ("公务接待费是多少", "lookup"),
        ("公务接待费占三公经费的比重", "share"),
        ("What share of the three public expenses went to reception?", "share"),
        ("公务接待费决算数比预算数少多少", "difference"),
        ("差旅费和会议费合计是多少", "sum"),
        ("2025年三公经费比2024年增长了多少", "yoy"),
        ("哪个部门的三公经费最高", "rank"),
        ("三公经费的构成", "breakdown"),
        ("break down the three public expenses", "breakdown"),
    ],
)
def test_operations(vocab, question, op):
    assert plan_question(question, vocab).operation == op


def test_kind_words_do_not_confuse_compounds(vocab):
    pq = parse_question("一般公共预算财政拨款支出是多少", vocab)
    assert pq.kind is None
    assert parse_question("2024年部门决算中的项目支出", vocab).kind == "决算"
    assert parse_question("2025年部门预算的三公经费", vocab).kind == "预算"


def test_followup_reuses_previous_plan(vocab):
    first = Answer(question="q", route="table", answer="", plan=plan_question("曲靖市投资促进局2023年基本支出是多少？", vocab))
    pq = parse_question("那项目支出呢？", vocab, [first])
    assert pq.followup and pq.plan.items[0].label == "项目支出" and pq.plan.reports.year == 2023
    prev = Answer(question="q", route="table", answer="", plan=plan_question("2023年公务接待费是多少？", vocab))
    pq2 = parse_question("那年初预算数呢？", vocab, [("2023年公务接待费是多少？", prev)])
    assert pq2.plan.items[0].label == "公务接待费" and pq2.plan.measure == "预算数"
    pq3 = parse_question("and in 2024?", vocab, [prev])
    assert pq3.plan.reports.year == 2024 and pq3.plan.items[0].label == "公务接待费"


def test_language_and_text_helpers():
    assert detect_language("how much was spent on reception in 2023") == "en"
    assert detect_language("What was the budget execution rate of 招商工作经费 in 2023?") == "en"
    assert detect_language("2023年公务接待费是多少？") == "zh"
    assert to_simplified("公務接待費") == "公务接待费"
    assert norm_label("3.公务接待费") == "公务接待费"
    assert norm_label("(一)支出合计") == "支出合计"
    assert norm_label("一、“三公”经费支出") == "三公经费支出"


@pytest.mark.parametrize(
    ("department", "short"),
    [
        ("上海市普陀区人民政府办公室", "区府办"),
        ("江苏省人民检察院", "江苏省检"),
        ("中共江苏省委办公厅", "江苏省委办"),
        ("中共上海市普陀区委社会工作部", "社工部"),
    ],
)
def test_short_department_names_people_use(department, short):
    assert short in _dept_aliases(department)
