"""fiscal-qa: questions and answers over Chinese budget and final-accounts disclosures.

``assistant.ask(question, index=...)`` answers a question; ``assistant.ingest.ingest_paths``
builds an index. Every figure in an answer is a cell of the fact table, cited.
"""

from __future__ import annotations

__version__ = "0.1.0"

from assistant.ask import ask  # binds assistant.ask to the function (the subpackage stays importable)

__all__ = ["__version__", "ask"]
