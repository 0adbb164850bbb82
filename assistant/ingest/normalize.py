"""Character normalization every reader's output goes through (PDF, OCR, text, Excel, Word, HTML).

Full-width digits and Latin letters become ASCII (１２３ → 123, ＡＢ → AB); full-width
punctuation *inside a number* becomes ASCII too (１，２３４．５６ → 1,234.56; ５０％ → 50%;
－３ → -3; the ordinal dot of １．一般公共预算 → 1.), while Chinese punctuation in running text (，。（）) is left as printed.
Ideographic and no-break spaces become plain spaces.
"""

from __future__ import annotations

import re

from assistant.models import Layout, RawTable, TextLine

_FW_ALNUM = {cp: cp - 0xFEE0 for cp in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}
_SPACES = {0x3000: 0x20, 0xA0: 0x20}
_NUM_PUNCT = {"，": ",", "．": ".", "％": "%", "－": "-", "＋": "+", "。": "."}
# full-width punctuation between digits (1，234 / 12．5), after a digit (50％) or before one (－3)
_NUM_PUNCT_RE = re.compile(r"(?<=\d)，(?=\d)|(?<=\d)．|(?<=\d)％|(?<![\w\u4e00-\u9fff])－(?=\d)|(?<=\d)。(?=\d{2}(?!\d))")


def normalize_text(text: str) -> str:
    """Full-width digits/letters → ASCII; full-width punctuation inside numbers → ASCII; odd spaces → ' '."""
    if not text or text.isascii():
        return text
    s = text.translate(_FW_ALNUM).translate(_SPACES)
    return _NUM_PUNCT_RE.sub(lambda m: _NUM_PUNCT[m.group(0)], s)


def normalize_layout(layout: Layout) -> Layout:
    """Normalize every cell, title, note and text line of a layout in place (and return it)."""
    for b in layout.blocks:
        if isinstance(b, RawTable):
            for row in b.rows:
                for c in row:
                    c.text = normalize_text(c.text)
            b.title = normalize_text(b.title)
            b.number = normalize_text(b.number)
            b.unit = normalize_text(b.unit)
            b.notes = [normalize_text(x) for x in b.notes]
            b.preamble = [normalize_text(x) for x in b.preamble]
        elif isinstance(b, TextLine):
            b.text = normalize_text(b.text)
    return layout
