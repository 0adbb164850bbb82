"""Department names: one canonical key for every printed variant of a department's name.

中国共产党浙江省委员会办公厅, 中共浙江省委办公厅 and 浙江省委办公厅 are one department;
杭州市西湖区人民政府办公室 and 西湖区政府办公室 are another. The rules are general (party
prefixes, 委员会 → 委, 人民政府 → 政府, the place completed from the national division list),
never a list of known departments.

Entry points: :func:`canonical_key`; :func:`department_names` (the aliases and English names a
question may use for a department: place forms, organisation-type short forms, English by type).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from assistant.places import Division, leading_places, parents, place_of, strip_place_prefix

_SCOPE_NOTE_RE = re.compile(r"[（(](?:本级|本部|机关|汇总|合并)[）)]$")
_SPACE_RE = re.compile(r"[\s\u3000·•]+")
# (pattern, replacement) applied in order to the name without its place
_VARIANTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^中国共产党"), "中共"),
    (re.compile(r"^中共(省|市|区|县|州|旗)委员会"), r"中共\1委"),
    (re.compile(r"人民政府"), "政府"),
    (re.compile(r"^(省|市|区|县|州|旗)委(?!员)"), r"中共\1委"),  # 浙江省委办公厅 = 中共浙江省委办公厅
)


def clean_name(name: str) -> str:
    """The printed name without spaces, line breaks and a trailing scope note (（本级）)."""
    n = _SPACE_RE.sub("", name or "")
    return _SCOPE_NOTE_RE.sub("", n)


def normalize_body(rest: str) -> str:
    """The department's own words (no place) in one form: 中国共产党省委员会办公厅 → 中共省委办公厅."""
    out = rest
    for rx, rep in _VARIANTS:
        out = rx.sub(rep, out)
    return out


def canonical_key(name: str) -> str:
    """A key equal for every printed variant of one department's name.

    ``canonical_key("中国共产党浙江省委员会办公厅") == canonical_key("中共浙江省委办公厅")``;
    the place is completed from the division list (西湖区 → 浙江省杭州市西湖区), so a name printed with or
    without its city gives one key.
    """
    n = clean_name(name)
    place, rest = strip_place_prefix(n)
    full_place = place_of(n) if place else ""
    return f"{full_place}|{normalize_body(rest)}"


# --------------------------------------------------------------------------- aliases (how people name a department)

ORG_TYPES_FILE = Path(__file__).resolve().parent / "data" / "org_types.json"
_PARTY_RE = re.compile(r"^(?:中国共产党|中共)")
_PARTY_LEVEL_RE = re.compile(r"^(省|市|区|县|州|旗)委(?!员)(.+)$")
_LEVEL_SUFFIXES = (("自治区", "区"), ("自治州", "州"), ("自治县", "县"), ("省", "省"), ("市", "市"), ("区", "区"), ("县", "县"), ("州", "州"), ("旗", "旗"), ("盟", "盟"))  # fmt: skip


@dataclass(frozen=True)
class DepartmentNames:
    """The ways a question may name one department: Chinese aliases and English names (lower case)."""

    zh: frozenset[str]
    en: frozenset[str]


@cache
def org_types() -> dict[str, Any]:
    """The shipped organisation-type data (``assistant/data/org_types.json``)."""
    data: dict[str, Any] = json.loads(ORG_TYPES_FILE.read_text(encoding="utf-8"))
    data["types"] = sorted(data["types"], key=lambda t: -len(t["suffix"]))
    return data


def _org_type(body: str) -> tuple[str, dict[str, Any] | None]:
    """(the department's own words, its organisation type) for a body without place: 民政局 → (民政, 局)."""
    for t in org_types()["types"]:
        if body.endswith(t["suffix"]):
            return body[: -len(t["suffix"])], t
    return body, None


def _core_forms(core: str) -> set[str]:
    """A department's own words and their short forms: 卫生健康 → 卫健; 人力资源和社会保障 → 人社."""
    out = {core}
    w = org_types()["words"].get(core)
    if w:
        out |= set(w.get("short", []))
    plain = core.replace("和", "")
    if plain != core and len(plain) >= 2:
        out.add(plain)
    if len(plain) == 4 and re.fullmatch(r"[\u4e00-\u9fff]{4}", plain):
        out.add(plain[0] + plain[2])  # two two-character words are said by their first characters
    return {c for c in out if c} or {""}


def _core_en(core: str) -> set[str]:
    """English for a department's own words, composed word by word (longest known word first)."""
    words = org_types()["words"]
    if not core:
        return {""}
    if core in words and words[core].get("en"):
        return set(words[core]["en"])
    for n in range(min(len(core), 10), 1, -1):
        head = core[:n]
        if head in words and words[head].get("en"):
            rest = core[n:].removeprefix("和")
            tails = _core_en(rest)
            if not tails:
                return set()
            joiner = " and " if core[n:].startswith("和") else " "
            return {f"{h}{joiner}{t}".strip() for h in words[head]["en"][:2] for t in list(tails)[:3]}
    return set()


@cache
def pinyin(text: str) -> str:
    """Toneless pinyin of a place or name (西湖 → xihu), '' when no pinyin table is available."""
    try:
        from pypinyin import lazy_pinyin
    except ImportError:  # pinyin is a nicety for English questions; Chinese names work without it
        return ""
    return "".join(s for s in lazy_pinyin(text) if s.isascii() and s.isalpha())


PLACES_EN_FILE = Path(__file__).resolve().parent / "data" / "places_en.tsv"


@cache
def _places_en() -> dict[str, tuple[tuple[str, ...], bool]]:
    """adcode → (English names, whether the pinyin of the short name is said too) from ``data/places_en.tsv``."""
    out: dict[str, tuple[tuple[str, ...], bool]] = {}
    for line in PLACES_EN_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, names, keep = (line.split("\t") + ["", "keep"])[:3]
        out[code.strip()] = (tuple(n.strip() for n in names.split("|") if n.strip()), keep.strip() != "drop")
    return out


@cache
def division_names_en(d: Division) -> tuple[str, ...]:
    """How English names a division (lower case): the pinyin of its short name, and its English name where
    it has one of its own (内蒙古 → inner mongolia, 陕西 → shaanxi, not shanxi)."""
    names, keep_pinyin = _places_en().get(d.code, ((), True))
    out = [n.lower() for n in names]
    py = pinyin(d.short) if keep_pinyin else ""
    if py and py not in out:
        out.append(py)
    return tuple(dict.fromkeys(out))


@cache
def department_places(name: str) -> tuple[tuple[str, int], ...]:
    """Words naming the places of a department (its divisions and their parents), each with the division's
    level (1 province … 3 county), most specific first: 杭州市西湖区财政局 → 西湖区, 西湖, xihu, 杭州市, 杭州, hangzhou, 浙江…

    Chinese words as printed; English ones in lower case. A question naming a department ambiguously
    (财政局, "the finance bureau") is narrowed by these words anywhere in it.
    """
    out: dict[str, int] = {}
    matches = leading_places(clean_name(name))
    divs = {m.division.code: m.division for m in matches}
    for m in matches:
        for p in parents(m.division):
            divs.setdefault(p.code, p)
    for d in sorted(divs.values(), key=lambda d: -d.level):
        for w in (d.name, d.short, *division_names_en(d)):
            if len(w) >= 2:
                out.setdefault(w, d.level)
    return tuple(out.items())


@cache
def own_place_words(name: str, place: str = "") -> frozenset[str]:
    """Words naming the department's own division, the most specific one its name (or else ``place``)
    prints: 杭州市西湖区财政局 → {西湖区, 西湖, xihu}; 浙江省高级人民法院 → {浙江省, 浙江, zhejiang}.

    A subdistrict or town is below the national list, so its division is the county it belongs to
    (杭州市西湖区人民政府长青街道办事处 → 西湖区). "浙江省各部门" are those whose own division is 浙江省;
    "北京市财政局" is the city's bureau, not a district's.
    """
    ps = department_places(name) or (department_places(place) if place else ())
    if not ps:
        return frozenset()
    own = max(level for _w, level in ps)
    return frozenset(w for w, level in ps if level == own)


def _level(division_name: str) -> str:
    for suf, lvl in _LEVEL_SUFFIXES:
        if division_name.endswith(suf):
            return lvl
    return ""


def _body_forms(body: str, with_english: bool = True) -> tuple[set[str], set[str], set[str]]:
    """(forms said alone, forms said only after a place or level, English forms) of a body without place."""
    alone: set[str] = {body}
    after: set[str] = set()
    english: set[str] = set()
    core, t = _org_type(body)
    if t is None:
        return alone, after, english
    cores = _core_forms(core)
    for c in cores:
        alone.add(c + t["suffix"])
        for s in t.get("short", []):
            if c or len(s) >= 2:
                alone.add(c + s)
        for s in t.get("with_place", []):
            after.add(c + s)
    if not core and len(t["suffix"]) >= 2:
        alone.add(t["suffix"])
    if not with_english:
        return alone, after, english
    level_en = org_types().get("level_en", {})
    if core in level_en:  # 省委办公厅: the provincial committee's office
        core_en = set(level_en[core])
    else:  # a name of two or three characters (a subdistrict's) is said in pinyin
        core_en = _core_en(core) or ({pinyin(core)} if 0 < len(core) <= 3 and pinyin(core) else set())
    for ce in core_en:
        for te in t.get("en", []):
            english.add(f"{ce} {te}".strip())
            if ce:
                english.add(f"{te} of {ce}")
    return alone, after, english


@cache
def department_names(name: str, english: bool = True) -> DepartmentNames:
    """Every usual way of naming ``name``, by general rules (no list of known departments).

    Place forms come from the national division list (杭州市西湖区 → 西湖区, 西湖, 区); short forms
    and English names from the organisation type and the department's own words
    (``assistant/data/org_types.json``): 北京市海淀区教育委员会 → 海淀区教委, 海淀教委, 区教委, 教委,
    "haidian district education commission"; 浙江省人民检察院 → 浙江省检, 省检察院, "procuratorate".
    """
    n = clean_name(name)
    _place, rest = strip_place_prefix(n)
    matches = leading_places(n)
    body = _PARTY_RE.sub("", rest)
    want_en = english
    alone, after, english_set = _body_forms(body, want_en)
    m = _PARTY_LEVEL_RE.match(body)
    if m:  # 区委社会工作部: the committee's department, said with or without the committee
        lvl, inner = m.groups()
        a2, w2, e2 = _body_forms(inner, want_en)
        if inner not in ("办公厅", "办公室"):
            alone |= a2 | {lvl + "委" + x for x in a2}
            english_set |= {f"party committee {x}" for x in e2} | e2
        after |= w2
    gov = re.match(r"^(?:人民政府|政府)(.+)$", body)
    if gov and _org_type(gov.group(1))[0]:  # 人民政府北山街道办事处: an office of the government, said without it
        a3, w3, e3 = _body_forms(gov.group(1), want_en)
        alone, after, english_set = alone | a3, after | w3, english_set | e3
    for office in ("办公厅", "办公室"):
        if body.endswith(office):
            alone.add(office)  # "办公厅" alone names every general office: a question to clarify
    alone.discard("")
    places: set[str] = set()
    levels: set[str] = set()
    places_en: set[str] = set()
    level_en = org_types().get("level_en", {})
    if matches:
        last = matches[-1].division
        forms = {last.name, last.short}
        places |= forms
        for pm in matches[:-1]:
            for pf in (pm.division.name, pm.division.short):
                places |= {pf + f for f in forms}
        for parent in parents(last):
            places |= {pf + f for pf in (parent.name, parent.short) for f in forms}
        lv = _level(last.name)
        if lv:
            levels.add(lv)
        for py in division_names_en(last) if want_en else ():
            places_en.add(py)
            for le in level_en.get(lv, []):
                places_en.add(f"{py} {le}")
            for parent in parents(last):
                for ppy in division_names_en(parent):
                    places_en.add(f"{ppy} {py}")
    zh = set(alone)
    for p in places | levels:
        zh |= {p + b for b in alone | after if not (p in levels and b.startswith(p))}
    if _place and not matches:
        zh.add(n)
    en = set(english_set)
    for p in places_en:
        en |= {f"{p} {e}" for e in english_set}
    return DepartmentNames(
        zh=frozenset({a for a in zh if len(a) >= 2 and a not in places} | {n}),
        en=frozenset(e.lower() for e in en if len(e) >= 4),
    )
