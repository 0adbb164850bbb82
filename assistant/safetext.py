"""Report text shown as Markdown must not become live links: ``[text](url)`` and bare URLs in a report
(or a model's output) are shown as plain text in the chat and the widget."""

from __future__ import annotations

import re

ZWSP = "\u200b"
_LINK_OPEN = re.compile(r"\]\s*\(")
_SCHEME = re.compile(r"(?i)\b(https?|ftp|javascript|data|mailto|file)(:)(//)?")
_WWW = re.compile(r"(?i)\bwww\.")


def no_links(text: str) -> str:
    """``text`` (already HTML-escaped Markdown) with link syntax and URLs defused: brackets escaped, a
    zero-width space after each URL scheme, so nothing renders as a clickable link."""
    t = _LINK_OPEN.sub("\\\\]" + ZWSP + "(", text or "")
    t = t.replace("![", "!\\[")
    t = _SCHEME.sub(lambda m: m.group(1) + ZWSP + m.group(2) + (m.group(3) or ""), t)
    return _WWW.sub("www" + ZWSP + ".", t)
