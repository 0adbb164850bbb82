"""How a figure was read, for answers and citations: by OCR from a page image, from a sheet cell.

``provenance_text`` phrases it from a fact row ("read by OCR from page 7 (confidence 0.98)",
"cell 公开03表!D12", and the warning of an OCR'd table whose identities fail);
``add_provenance`` puts it on an answer's citations and, where a figure was read by OCR,
into the answer itself, so a user never takes an OCR reading for a printed one.
"""

from __future__ import annotations

from typing import Any

from assistant.models import Answer


def _present(v: Any) -> bool:
    return v is not None and v == v and v != ""  # NaN from pandas is not a value


def provenance_text(fact: dict[str, Any], lang: str = "zh") -> str:
    """'' for a figure read from a text layer or the text form."""
    out: list[str] = []
    page = fact.get("page")
    conf = fact.get("confidence")
    if _present(fact.get("ocr")) and bool(fact.get("ocr")):
        p = int(page) if page is not None and _present(page) else "?"
        c = f"{float(conf):.2f}" if conf is not None and _present(conf) else ""
        if lang == "en":
            out.append(f"read by OCR from page {p}" + (f" (confidence {c})" if c else ""))
        else:
            out.append(f"第{p}页经OCR识别" + (f"（置信度{c}）" if c else ""))
    ref = fact.get("ref")
    if _present(ref):
        out.append(f"cell {ref}" if lang == "en" else f"单元格 {ref}")
    warning = fact.get("warning")
    if _present(warning):
        out.append(
            f"warning: {warning}"
            if lang == "en"
            else "注意：此表经OCR识别，其勾稽关系校验未通过，数字可能识读有误，请对照原页图像核实"
        )
    return ("; " if lang == "en" else "；").join(out)


PROVENANCE_COLUMNS = ["fact_id", "page", "ocr", "confidence", "ref", "warning"]
"""The fact columns ``provenance_text`` reads."""


def _fact_rows(index: Any, ids: list[str], reports: list[str]) -> dict[str, dict[str, Any]]:
    """fact_id → its row (the provenance columns), from an index that reads facts per report (``fact_rows``:
    also the facts of reports it has not read, e.g. a ranked figure's) or from the index's facts."""
    find = getattr(index, "fact_rows", None)
    if find is not None:
        return find(ids, reports, PROVENANCE_COLUMNS)  # type: ignore[no-any-return]
    facts = getattr(index, "facts", None)
    if facts is None or not len(facts) or not any(c in facts for c in ("ocr", "ref")):
        return {}
    cols = [c for c in PROVENANCE_COLUMNS if c in facts.columns]
    return {r["fact_id"]: r for r in facts.loc[facts.fact_id.isin(ids), cols].to_dict("records")}


def add_provenance(answer: Answer, index: Any) -> Answer:
    """Citations get their figure's provenance; OCR readings and their warnings are said in the answer."""
    if not answer.citations:
        return answer
    ids = [c.fact_id for c in answer.citations if c.fact_id]
    if not ids:
        return answer
    rows = _fact_rows(index, ids, list(dict.fromkeys(c.report for c in answer.citations if c.fact_id)))
    if not rows:
        return answer
    said: list[str] = []
    for c in answer.citations:
        r = rows.get(c.fact_id or "")
        if r is None:
            continue
        text = provenance_text(r, answer.language)
        if not text:
            continue
        c.provenance = text
        if _present(r.get("ocr")) and bool(r.get("ocr")) and text not in said:
            said.append(text)
    if said:
        sep = " " if answer.language == "en" else ""
        note = ("(" + "; ".join(said) + ")") if answer.language == "en" else ("（" + "；".join(said) + "）")
        answer.answer = answer.answer.rstrip() + sep + note
        answer.meta["ocr"] = True
    return answer
