"""fiscal-qa: questions and answers over Chinese budget and final-accounts disclosures.

``assistant.ask(question, index=...)`` answers a question; ``assistant.ingest.ingest_paths``
builds an index. Every figure in an answer is a cell of the fact table, cited.
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"

# pymupdf 2 imports its optional ONNX layout analyser (pymupdf_layout) and pymupdf4llm (onnxruntime) when it
# is imported: +0.85 CPU-s and +55 MB per process, for features we never use (our tables come from words and
# rules). A None entry makes those imports fail quietly (pymupdf catches the ImportError).
if "pymupdf" not in sys.modules:
    for _optional in ("pymupdf.layout", "pymupdf4llm"):
        sys.modules.setdefault(_optional, None)  # type: ignore[arg-type]

from assistant.ask import ask  # binds assistant.ask to the function (the subpackage stays importable)

__all__ = ["__version__", "ask"]
