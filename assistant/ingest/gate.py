"""Wrong readings stop at the door: the checks a parsed report must pass before it is written.

* **misread numbers**: when the identity checks fail wholesale (more than ``MAX_FAILING_SHARE`` of
  them, at least ``MIN_FAILED_TO_JUDGE``), the digits were almost certainly misread (a ToUnicode map
  that permutes digits, rotated pages read sideways): the report is refused;
* **garbage text**: mojibake, private-use glyphs or replacement characters instead of Chinese text;
* **templates**: cells printed as placeholders (XX, XXX, ××, xx.xx) rather than figures;
* **no department**: nothing names whose report it is.

``accept_failing_checks`` ingests such a report anyway, with the reason kept in its
``ReportMeta.problems`` under ``ACCEPTED_PREFIX`` so every answer citing it can say so.

``identity_conflicts`` finds reports already in the index that a new one would replace (same
report id, same file, or another version of the same department, year, kind and scope).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from assistant.models import ParsedReport, ReportMeta

MIN_FAILED_TO_JUDGE = 3
"""Fewer failing identity checks than this never refuse a report."""
MAX_FAILING_SHARE = 0.2
"""A report whose checks fail more often than this is refused as misread. Published reports break a
few identities (the 15 of the shared corpus: at most 4.8 % failing, `fiscal-qa check`); a broken font
map or sideways-read pages break a third or more."""
MAX_GARBAGE_SHARE = 0.1
"""Share of unreadable characters (private use, replacement, control) above which text is garbage."""
MAX_PLACEHOLDER_SHARE = 0.2
"""Share of table cells that are placeholders (XX) above which a report is a template."""
ACCEPTED_PREFIX = "accepted with failing checks: "
"""Start of the ``problems`` entry of a report ingested with ``--accept-failing-checks``."""

PLACEHOLDER_RE = re.compile(r"^\s*(?:[xX×＊*]{2,}|[xX×]+[.．][xX×]+|[xX×]{1,}[%％]?)\s*(?:万元|元|亿元|%|％)?\s*$")
"""A cell printed as a placeholder, not a figure: XX, XXX, ××, xx.xx, X%."""
PLACEHOLDER_IN_TEXT = re.compile(r"(?<![A-Za-z])(?:[xX×]{2,}(?:[.．][xX×]+)?)\s*(?=万元|元|亿元|%|％|个|人|辆)")
"""A placeholder figure in narrative text (XX万元, ××%)."""


def is_placeholder(text: str | None) -> bool:
    """True for a cell or figure printed as a placeholder (XX, XXX, ××, xx.xx)."""
    return bool(text) and bool(PLACEHOLDER_RE.match(str(text)))


@dataclass
class Verdict:
    """Why a parsed report must not be served as read ("" when it may)."""

    reason: str = ""

    def __bool__(self) -> bool:
        return bool(self.reason)


def garbage_share(texts: Iterable[str]) -> float:
    """Share of unreadable glyphs (private use, unassigned, replacement, control) among the letters of ``texts``."""
    bad = total = 0
    for t in texts:
        for ch in t or "":
            cat = unicodedata.category(ch)
            if ch == "\ufffd" or cat in ("Co", "Cn", "Cs") or (cat == "Cc" and ch not in "\t\n\r"):
                bad += 1
                total += 1
            elif cat.startswith("L"):
                total += 1
    return bad / total if total else 0.0


def misreading(rep: ParsedReport, checks_passed: int, checks_run: int) -> Verdict:
    """Why this report looks misread, or an empty verdict."""
    failed = checks_run - checks_passed
    if failed >= MIN_FAILED_TO_JUDGE and failed / checks_run > MAX_FAILING_SHARE:
        return Verdict(
            f"{failed} of {checks_run} identity checks fail (totals do not add up): the figures were probably misread "
            "(rotated pages, a broken font map); check the file with `fiscal-qa check`, or ingest it anyway with "
            "--accept-failing-checks (every answer citing it is then flagged)"
        )
    share = max(garbage_share(c.text for c in rep.chunks), garbage_share(f.row_label for f in rep.facts))
    if share > MAX_GARBAGE_SHARE:
        return Verdict(
            f"{share:.0%} of its text is unreadable characters (garbled encoding or fonts); export the PDF again "
            "or run OCR, or ingest it anyway with --accept-failing-checks"
        )
    cells = [f for f in rep.facts if (f.raw or "").strip()]
    holders = sum(1 for f in cells if is_placeholder(f.raw))
    if cells and holders / len(cells) > MAX_PLACEHOLDER_SHARE:
        return Verdict(
            f"{holders} of {len(cells)} table cells are placeholders (XX, ××): this is a blank template, not a "
            "published report"
        )
    if not (rep.meta.department or "").strip():
        return Verdict(
            "no department name was found on its cover or in its titles (pages rotated or unreadable?); "
            "check the file, or ingest it anyway with --accept-failing-checks"
        )
    return Verdict()


def mark_accepted(rep: ParsedReport, reason: str) -> None:
    """Keep the reason a report was ingested despite failing the gate; answers citing it show it."""
    note = ACCEPTED_PREFIX + reason.split(";")[0]
    rep.meta.problems = [note, *[p for p in rep.meta.problems if not p.startswith(ACCEPTED_PREFIX)]]
    rep.problems = [note, *[p for p in rep.problems if not p.startswith(ACCEPTED_PREFIX)]]


def accepted_warning(meta: ReportMeta | None) -> str | None:
    """The flag of a report ingested with ``--accept-failing-checks``, or None."""
    if meta is None:
        return None
    return next((p.removeprefix(ACCEPTED_PREFIX) for p in meta.problems if p.startswith(ACCEPTED_PREFIX)), None)


def drop_placeholders(rep: ParsedReport) -> int:
    """Turn placeholder cells (XX) into non-figures so they are never served as numbers; returns how many."""
    n = 0
    for f in rep.facts:
        if is_placeholder(f.raw) and (f.value is not None or f.status == "ok"):
            f.value = None
            f.value_wan = None
            f.status = "unreadable"
            n += 1
    if n:
        rep.problems.append(f"{n} cells are placeholders (XX) and are not served as figures")
    return n


def identity_key(meta: ReportMeta) -> tuple[str, int, str, str]:
    return ((meta.department or "").strip(), int(meta.year or 0), meta.kind, meta.scope)


def identity_conflicts(new: ReportMeta, existing: Iterable[ReportMeta]) -> list[tuple[ReportMeta, str]]:
    """Reports in the index that ``new`` would replace, each with why (same id / same file / same identity)."""
    out: list[tuple[ReportMeta, str]] = []
    key = identity_key(new)
    for r in existing:
        if r.report_id == new.report_id:
            out.append((r, "the same report id"))
        elif set(r.sha256) & set(new.sha256):
            out.append((r, "the same file"))
        elif key[0] and identity_key(r) == key:
            out.append((r, f"another version of {key[0]} {key[1]} {key[3]}{key[2]}"))
    return out


def same_content(new: ReportMeta, old: ReportMeta) -> bool:
    return bool(new.sha256) and list(new.sha256) == list(old.sha256)


def flag_answer(answer: object, index: object) -> None:
    """Say in an answer that a report it cites was ingested despite failing checks (``--accept-failing-checks``)."""
    cites = getattr(answer, "citations", None) or []
    report = getattr(index, "report", None)
    if not cites or report is None:
        return
    flags: dict[str, str] = {}
    for c in cites:
        rid = getattr(c, "report", None)
        if rid and rid not in flags:
            w = accepted_warning(report(rid))
            if w:
                flags[rid] = w
    if not flags:
        return
    lang = getattr(answer, "language", "zh")
    names = ", ".join(flags)
    note = (
        f"⚠ 注意：报告 {names} 未通过数据核对（{next(iter(flags.values()))}），其中数字可能读错，请对照原文。"
        if lang == "zh"
        else f"⚠ Caution: report {names} failed its consistency checks ({next(iter(flags.values()))}); its figures may be misread — check the original."
    )
    answer.answer = note + "\n\n" + answer.answer  # type: ignore[attr-defined]
    meta = getattr(answer, "meta", None)
    if isinstance(meta, dict):
        meta["unverified_reports"] = sorted(flags)
