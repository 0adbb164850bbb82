"""The ask wing: router → planner → table query / retrieval → answer.

Placeholder until the question-answering work lands; ``ask`` keeps its signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.models import Answer


def ask(question: str, *, index: Any = None, history: list[Any] | None = None, llm: Any = None) -> Answer:
    """Answer ``question`` from ``index`` (an IndexData, or a folder path)."""
    raise NotImplementedError


__all__ = ["Answer", "Path", "ask"]
