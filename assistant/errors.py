"""Errors named for the failure. Each message says what went wrong and how to fix it."""

from __future__ import annotations

import shlex


class FiscalQAError(Exception):
    """Base of all errors this package raises on purpose."""


class BadReportError(FiscalQAError):
    """A file that cannot be ingested. ``reason`` is one short phrase."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class EmptyFileError(BadReportError):
    def __init__(self, path: str) -> None:
        super().__init__(path, "the file is empty (0 bytes); check the download")


class NotAPdfError(BadReportError):
    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(path, f"not a readable PDF or text report{': ' + detail if detail else ''}; check the file is a complete PDF")


class EncryptedPdfError(BadReportError):
    def __init__(self, path: str) -> None:
        super().__init__(path, "the PDF is encrypted (password-protected); export an unprotected copy and ingest that")


class NoTextLayerError(BadReportError):
    def __init__(self, path: str) -> None:
        super().__init__(path, "the PDF has no text layer (a scan); run OCR (e.g. ocrmypdf --language chi_sim) and ingest the result")


class NotAFiscalReportError(BadReportError):
    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(
            path,
            "not a budget or final-accounts report (no 预算/决算 tables found)" + (f": {detail}" if detail else ""),
        )


class IdentityUnreadableError(BadReportError):
    """The report does not print (or we cannot read) its department, year or kind: it is not stored."""

    def __init__(self, path: str, missing: list[str]) -> None:
        self.missing = list(missing)
        first = path.split(", ")[0].replace("\\", "/").rsplit("/", 1)[-1]  # the name: no server paths in the app
        super().__init__(
            path,
            f"cannot read the report's {' and '.join(missing)} from its content, so it was not stored; "
            f"give it: fiscal-qa ingest {shlex.quote(first)} --department … --year … --kind 预算|决算 "
            "(in the app: the department, year and kind fields of the upload area)",
        )


class IndexMissingError(FiscalQAError):
    def __init__(self, index_dir: str) -> None:
        super().__init__(f"no index at {index_dir}; build one with `fiscal-qa ingest data/` (or the folder of your reports)")


class IndexCorruptError(FiscalQAError):
    def __init__(self, index_dir: str, detail: str) -> None:
        super().__init__(f"the index at {index_dir} cannot be read ({detail}); rebuild it with `fiscal-qa ingest`")


class UnknownReportError(FiscalQAError):
    def __init__(self, report: str, known: list[str]) -> None:
        super().__init__(f"no ingested report matches {report!r}; known reports: {', '.join(known) or 'none'}")


class BadQuestionError(FiscalQAError):
    """A question that cannot be asked as given (empty, too long)."""


class LLMError(FiscalQAError):
    """The configured LLM failed (timeout, HTTP error, invalid output); callers fall back."""


class EvalError(FiscalQAError):
    """The gold file or the evaluation setup is unusable (``fiscal-qa eval``)."""


class IngestLimitError(FiscalQAError):
    """An ingest stopped at a per-upload limit (``kind`` "seconds" or "memory"); nothing was changed."""

    SETTINGS = {
        "seconds": "FISCALQA_INGEST_SECONDS (fiscal-qa ingest --max-seconds)",
        "memory": "FISCALQA_INGEST_MEMORY_MB (fiscal-qa ingest --max-memory-mb)",
    }

    def __init__(self, files: str, kind: str, limit: float) -> None:
        self.files, self.kind, self.limit = files, kind, limit
        super().__init__(f"{files}: {self.reason_for(kind, limit)}")

    @classmethod
    def reason_for(cls, kind: str, limit: float) -> str:
        what = f"took longer than {limit:g} s" if kind == "seconds" else f"needed more than {limit:g} MB of memory"
        return (
            f"ingest stopped: it {what} (the per-upload limit); nothing was changed. "
            f"Raise {cls.SETTINGS.get(kind, kind)} to allow more"
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, float]]:  # raised in the worker process, re-raised here
        return (type(self), (self.files, self.kind, self.limit))
