"""Find the words of a question that name items, departments or terms: one Aho–Corasick automaton per list.

``SpanMatcher(needles)`` is built once per loaded index (the planner caches it in its ``Vocab``);
``find(text)`` returns the same non-overlapping matches as trying each needle in priority order
(longest first) and scanning the text left to right — but in one pass over the text, so the cost
per question does not grow with the number of printed labels.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick


class SpanMatcher:
    """Non-overlapping matches of a prioritized needle list (earlier needles win overlaps)."""

    def __init__(self, needles: Iterable[tuple[str, str]], *, leftmost_ties: bool = False) -> None:
        """``leftmost_ties``: of two overlapping needles of one length, the one starting first wins
        (基本支出和项目支出合计 is 项目支出, then 合计 — not 支出合计); for needle lists sorted longest first."""
        self._leftmost = leftmost_ties
        self._auto = ahocorasick.Automaton()
        self._n = 0
        for rank, (needle, payload) in enumerate(needles):
            if not needle:
                continue
            prev = self._auto.get(needle, None)
            entries = prev[1] if prev else []
            entries.append((rank, payload))
            self._auto.add_word(needle, (needle, entries))
            self._n += 1
        if self._n:
            self._auto.make_automaton()

    def __len__(self) -> int:
        return self._n

    def find(self, text: str, *, word: bool = False) -> list[tuple[int, int, str, str]]:
        """(start, end, needle, payload) sorted by start; with ``word``, needles must not sit inside a Latin word."""
        if not self._n or not text:
            return []
        cands: list[tuple[int, int, int, str, str]] = []
        for end_idx, (needle, entries) in self._auto.iter(text):
            i = end_idx - len(needle) + 1
            j = end_idx + 1
            if word and (
                (i > 0 and text[i - 1].isalnum()) or (j < len(text) and text[j].isalnum() and not text[j:].startswith("s"))
            ):
                continue
            for rank, payload in entries:
                cands.append((rank, i, j, needle, payload))
        if self._leftmost:
            cands.sort(key=lambda c: (-len(c[3]), c[1], c[0]))
        else:
            cands.sort()
        taken: list[tuple[int, int]] = []
        out: list[tuple[int, int, str, str]] = []
        for _rank, i, j, needle, payload in cands:
            if any(not (j <= a or i >= b) for a, b in taken):
                continue
            taken.append((i, j))
            out.append((i, j, needle, payload))
        return sorted(out)
