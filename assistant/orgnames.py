"""Department names: one canonical key for every printed variant of a department's name.

中国共产党江苏省委员会办公厅, 中共江苏省委办公厅 and 江苏省委办公厅 are one department;
上海市普陀区人民政府办公室 and 普陀区政府办公室 are another. The rules are general (party
prefixes, 委员会 → 委, 人民政府 → 政府, the place completed from the national division list),
never a list of known departments.

Entry point: :func:`canonical_key`.
"""

from __future__ import annotations

import re

from assistant.places import place_of, strip_place_prefix

_SCOPE_NOTE_RE = re.compile(r"[（(](?:本级|本部|机关|汇总|合并)[）)]$")
_SPACE_RE = re.compile(r"[\s\u3000·•]+")
# (pattern, replacement) applied in order to the name without its place
_VARIANTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^中国共产党"), "中共"),
    (re.compile(r"^中共(省|市|区|县|州|旗)委员会"), r"中共\1委"),
    (re.compile(r"人民政府"), "政府"),
    (re.compile(r"^(省|市|区|县|州|旗)委(?!员)"), r"中共\1委"),  # 江苏省委办公厅 = 中共江苏省委办公厅
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

    ``canonical_key("中国共产党江苏省委员会办公厅") == canonical_key("中共江苏省委办公厅")``;
    the place is completed from the division list (普陀区 → 上海市普陀区), so a name printed with or
    without its city gives one key.
    """
    n = clean_name(name)
    place, rest = strip_place_prefix(n)
    full_place = place_of(n) if place else ""
    return f"{full_place}|{normalize_body(rest)}"
