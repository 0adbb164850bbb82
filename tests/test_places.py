"""Places and department-name keys by general rules, for places and departments the corpus lacks."""

import pytest

from assistant.orgnames import canonical_key
from assistant.places import place_of, strip_place_prefix


@pytest.mark.parametrize(
    ("name", "place", "rest"),
    [
        ("北京市海淀区教育委员会", "北京市海淀区", "教育委员会"),
        ("成都市武侯区卫生健康局", "四川省成都市武侯区", "卫生健康局"),
        ("广东省财政厅", "广东省", "财政厅"),
        ("新疆维吾尔自治区财政厅", "新疆维吾尔自治区", "财政厅"),
        ("浙江省舟山市普陀区民政局", "浙江省舟山市普陀区", "民政局"),
        ("杭州市民政局", "浙江省杭州市", "民政局"),
    ],
)
def test_place_of_any_division(name: str, place: str, rest: str) -> None:
    assert place_of(name) == place
    assert strip_place_prefix(name)[1] == rest


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("中国共产党浙江省委员会办公厅", "中共浙江省委办公厅"),
        ("浙江省委办公厅", "中共浙江省委办公厅"),
        ("成都市武侯区人民政府办公室", "武侯区政府办公室"),
        ("长沙市岳麓区司法局（本级）", "长沙市岳麓区司法局"),
    ],
)
def test_variants_share_a_key(a: str, b: str) -> None:
    assert canonical_key(a) == canonical_key(b)


def test_different_departments_differ() -> None:
    assert canonical_key("湖南省人民检察院") != canonical_key("湖南省人民政府")
    assert canonical_key("湖南省财政厅") != canonical_key("湖北省财政厅")
