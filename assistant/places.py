"""Places: China's administrative divisions (province, prefecture, county level) from shipped data.

Any province, city, district or county is recognised, in full (北京市海淀区, 浙江省) or short form
(海淀, 浙江), without a list of the places our reports come from. Divisions below county level
(街道, 镇, 乡) are not in the national list; they are recognised by their suffix where needed.

Entry points: :func:`find_places` (every division named in a text, most specific first),
:func:`place_of` (the one place a department name or title names, with its parents),
:func:`strip_place_prefix` (``北京市海淀区财政局`` → ``("北京市海淀区", "财政局")``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "divisions.tsv"

# Suffixes a division's name may be said without (longest first): 新疆维吾尔自治区 → 新疆, 海淀区 → 海淀.
_SUFFIXES = (
    "维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "自治州", "自治县", "自治旗",
    "地区", "林区", "新区", "省", "市", "区", "县", "旗", "盟",
)
# the 55 ethnic minorities, as autonomous divisions name them (黔东南苗族侗族自治州 → 黔东南)
_ETHNIC = (
    "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼", "哈萨克",
    "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土", "达斡尔", "仫佬",
    "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克",
    "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺", "各",
)
_ETHNIC_RE = re.compile(
    "(?:" + "|".join(map(re.escape, sorted(_ETHNIC, key=len, reverse=True))) + ")族(?:(?:"
    + "|".join(map(re.escape, sorted(_ETHNIC, key=len, reverse=True))) + ")族)*(?=自治[州县旗])"
)
# Below county level: not in the national list, recognised by form.
TOWNSHIP_RE = re.compile(r"[\u4e00-\u9fff]{2,8}?(?:街道办事处|街道|镇人民政府|乡人民政府|镇|乡)")


@dataclass(frozen=True)
class Division:
    """One administrative division of the national list."""

    code: str
    """Six-digit administrative code (310107)."""
    name: str
    """Printed full name (海淀区)."""

    @property
    def level(self) -> int:
        """1 province, 2 prefecture (city), 3 county (district, county-level city)."""
        if self.code.endswith("0000"):
            return 1
        if self.code.endswith("00"):
            return 2
        return 3

    @property
    def short(self) -> str:
        """The name without its type suffix (海淀区 → 海淀; 黔东南苗族侗族自治州 → 黔东南)."""
        return short_name(self.name)


def short_name(name: str) -> str:
    """A division's name without its type suffix; names of two characters keep theirs (沙市 stays)."""
    n = _ETHNIC_RE.sub("", name)
    for suf in _SUFFIXES:
        if n.endswith(suf) and len(n) - len(suf) >= 2:
            return n[: -len(suf)]
    return n if len(n) >= 2 else name


@cache
def divisions() -> tuple[Division, ...]:
    """Every division in the shipped list."""
    out: list[Division] = []
    for line in DATA_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, name = line.split("\t")[:2]
        out.append(Division(code=code, name=name))
    return tuple(out)


@cache
def _by_code() -> dict[str, Division]:
    return {d.code: d for d in divisions()}


def parents(d: Division) -> list[Division]:
    """The division's province and prefecture (outermost first), where the list has them."""
    by = _by_code()
    out: list[Division] = []
    if d.level >= 2 and (p := by.get(d.code[:2] + "0000")):
        out.append(p)
    if d.level == 3 and (c := by.get(d.code[:4] + "00")):
        out.append(c)
    return out


def full_name(d: Division, printed: str = "") -> str:
    """The division with its parents, as a report prints it: 北京市海淀区, 四川省成都市.

    ``printed``: the division's own name as the text prints it, kept when its type differs from the
    list's (a county that became a city: 宁乡县 printed 宁乡市).
    """
    own = printed if printed and printed != d.name and short_name(printed) == d.short and printed[-1] in "市县区旗" else d.name
    names = [p.name for p in parents(d)] + [own]
    # a municipality's district: 北京市海淀区 (the province-level city is its only parent)
    return "".join(names)


@cache
def _names() -> dict[str, list[Division]]:
    """Full and short names → divisions (a short name may name several: 鼓楼 in 南京, 福州, 徐州, 开封)."""
    idx: dict[str, list[Division]] = {}
    for d in divisions():
        names = {d.name, d.short}
        if d.name.endswith("自治州"):
            names.add(d.short + "州")  # 大理白族自治州 is printed 大理州
        for n in names:
            if len(n) >= 2:
                idx.setdefault(n, []).append(d)
    return idx


def divisions_called(name: str) -> list[Division]:
    """The divisions a full or short name may name (鼓楼区: 南京, 福州, 徐州 and 开封 each have one)."""
    return list(_names().get(name, ()))


@cache
def _name_re() -> re.Pattern[str]:
    names = sorted(_names(), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names)))


@dataclass(frozen=True)
class PlaceMatch:
    """A division named in a text."""

    division: Division
    start: int
    end: int
    text: str
    """The words as printed (海淀区, or the short form 海淀)."""


def find_places(text: str) -> list[PlaceMatch]:
    """Every division named in ``text``, left to right, each resolved with the others as context.

    A short name that several divisions share (鼓楼: 南京, 福州, 徐州, 开封) is resolved by a parent named
    in the same text (福建省福州市鼓楼区 → 350102); without one, the first in code order is taken.
    """
    raw: list[tuple[int, int, str]] = []
    pos = 0
    rx = _name_re()
    while (m := rx.search(text, pos)) is not None:
        raw.append((m.start(), m.end(), m.group()))
        pos = m.end()
    named_codes = {d.code for _, _, t in raw for d in _names()[t]}
    out: list[PlaceMatch] = []
    for s, e, t in raw:
        cands = _names()[t]
        if t not in {d.name for d in cands} and text[e : e + 1] in ("市", "县") and not text[e : e + 2].endswith("委"):
            # a short name printed with another type: 宁乡市 (the list's 宁乡县) is one division
            e, t = e + 1, t + text[e]
        full = [d for d in cands if d.name == t]
        pool = full or cands
        with_parent = [d for d in pool if any(p.code in named_codes for p in parents(d))]
        best = (with_parent or pool)[0]
        out.append(PlaceMatch(division=best, start=s, end=e, text=t))
    return out


def place_of(text: str) -> str:
    """The full place a department name or title names (``武侯区玉林街道`` → ``四川省成都市武侯区``), or ''.

    The most specific division named in the leading place words wins, completed with its parents.
    """
    matches = leading_places(text)
    if not matches:
        return ""
    best = max(matches, key=lambda m: m.division.level)
    return full_name(best.division, best.text)


def leading_places(text: str) -> list[PlaceMatch]:
    """The divisions printed at the start of ``text``, one after another (北京市 海淀区 …)."""
    out: list[PlaceMatch] = []
    end = 0
    # a party prefix comes before the place: 中共北京市海淀区委…, 中国共产党浙江省委员会…
    lead = re.match(r"(?:中国共产党|中共)", text)
    if lead:
        end = lead.end()
    for m in find_places(text):
        if m.start != end:
            break
        out.append(m)
        end = m.end
    return out


def strip_place_prefix(name: str) -> tuple[str, str]:
    """Split a department name into its leading place words and the rest.

    ``北京市海淀区财政局`` → ``("北京市海淀区", "财政局")``; ``湖南省人民检察院`` → ``("湖南省", "人民检察院")``;
    A party prefix stays in front of the rest, with the committee's level: ``中共成都市武侯区委社会工作部``
    → ``("成都市武侯区", "中共区委社会工作部")``, ``中共浙江省委办公厅`` → ``("浙江省", "中共省委办公厅")``.
    """
    lead = re.match(r"(?:中国共产党|中共)", name)
    party = lead.group() if lead else ""
    places = leading_places(name)
    if not places:
        return "", name
    end = places[-1].end
    rest = name[end:]
    place = "".join(m.text for m in places)
    # 中共浙江省委办公厅, 浙江省委办公厅: the 省委 after the place is the party committee's (省 + 委)
    suffix = place[-1] if rest.startswith("委") and place[-1] in "省市区县州旗" else ""
    rest = party + suffix + rest
    return place, rest
