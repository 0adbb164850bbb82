"""Words against figures (placeholder)."""

from __future__ import annotations

from assistant.review.model import _Ctx


def _wording_findings(ctx: _Ctx) -> None:
    return None
