"""One settings object; read from the environment when asked, never at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DATA_DIR = REPO_DIR / "data"
REPORT_SUFFIXES = (".txt", ".pdf", ".xlsx", ".xls", ".docx", ".doc", ".html", ".htm")


def bundled_sample(data_dir: Path = DATA_DIR) -> Path:
    """The sample report shipped in ``data/``, whatever it is named (the first report file there, by name);
    ``data/sample.txt`` (absent) when none is shipped, so callers' ``.exists()`` checks say so."""
    found = sorted(f for f in data_dir.iterdir() if f.is_file() and f.suffix.lower() in REPORT_SUFFIXES) if data_dir.is_dir() else []
    return found[0] if found else data_dir / "sample.txt"


SAMPLE_REPORT = bundled_sample()
PROMPTS_DIR = REPO_DIR / "prompts"


@dataclass
class Settings:
    """Runtime settings. ``Settings.from_env()`` reads ``FISCALQA_*`` variables."""

    index_dir: Path = field(default_factory=lambda: Path("indexes"))
    """Where the built stores live."""
    llm_base_url: str | None = None
    """OpenAI-compatible endpoint; None means no LLM (the default, fully offline path)."""
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_timeout: float = 20.0
    """Seconds before an LLM call is abandoned and the deterministic answer given."""
    llm_max_retries: int = 2
    max_question_chars: int = 2000
    """Questions longer than this are refused with a message (the widget uses 500)."""
    chroma_url: str | None = None
    """A Chroma server (``host:port``, ``FISCALQA_CHROMA_URL``) for the vectors; None: embedded under the index."""
    ingest_seconds: float = 1800.0
    """Wall-clock limit of one upload's ingest in the worker process (``FISCALQA_INGEST_SECONDS``; 0: none)."""
    ingest_memory_mb: float = 3072.0
    """Resident-memory limit of the ingest worker, embedding model included (``FISCALQA_INGEST_MEMORY_MB``; 0: none)."""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        s = cls(
            index_dir=Path(env.get("FISCALQA_INDEX", "indexes")),
            llm_base_url=env.get("FISCALQA_LLM_BASE_URL") or None,
            llm_api_key=env.get("FISCALQA_LLM_API_KEY") or None,
            llm_model=env.get("FISCALQA_LLM_MODEL") or None,
            llm_timeout=float(env.get("FISCALQA_LLM_TIMEOUT", "20")),
            chroma_url=env.get("FISCALQA_CHROMA_URL") or None,
            ingest_seconds=float(env.get("FISCALQA_INGEST_SECONDS") or 1800),
            ingest_memory_mb=float(env.get("FISCALQA_INGEST_MEMORY_MB") or 3072),
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        return s

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)
