"""The chat-model client: the ``LLM`` protocol, ``OpenAICompatibleLLM`` (one deadline per call,
bounded retries with backoff, cool-down after a failed endpoint) and ``llm_from_settings``."""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from assistant.errors import LLMError
from assistant.settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, str]
"""One chat message: {"role": "system"|"user"|"assistant", "content": str}."""

MAX_BACKOFF_S = 4.0
STREAM_TOTAL_FACTOR = 4
"""A streamed answer may run this many timeouts in total (each gap between tokens ≤ one timeout)."""

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)


class LLMCallError(LLMError):
    """An LLM call failed; ``reason`` is a short code for ``Answer.meta`` (timeout, http_500, invalid_json …)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        transport = reason in ("timeout", "connection", "rate_limited", "api_error", "stream_error", "unavailable")
        transport = transport or reason.startswith("http_")
        hint = (
            "; check FISCALQA_LLM_BASE_URL / FISCALQA_LLM_MODEL / FISCALQA_LLM_API_KEY, or raise FISCALQA_LLM_TIMEOUT"
            if transport
            else ""
        )
        super().__init__(
            f"LLM output not used ({reason}{': ' + detail if detail else ''}); the deterministic answer stands{hint}"
        )


@runtime_checkable
class LLM(Protocol):
    """What the assistant needs from a chat model. Swap in any object with these three methods."""

    def chat(self, messages: list[Message]) -> str: ...

    def stream_chat(self, messages: list[Message]) -> Iterator[str]: ...

    def complete_json(self, messages: list[Message], schema: dict[str, Any] | None = None) -> dict[str, Any]: ...


@dataclass
class OpenAICompatibleLLM:
    """An OpenAI-compatible chat-completions endpoint through the ``openai`` client.

    Every call has one deadline (``timeout`` seconds, retries included); 429, 5xx and connection
    errors are retried at most ``max_retries`` times with exponential backoff (honouring
    ``Retry-After``), never past the deadline. Other HTTP errors fail at once.
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 20.0
    max_retries: int = 2
    temperature: float = 0.0
    backoff: float = 0.5
    max_tokens: int = 1024
    _client: Any = field(default=None, init=False, repr=False)
    _json_mode: bool = field(default=True, init=False, repr=False)
    cooldown: float = 30.0
    """After a timeout or an unreachable endpoint, skip the LLM for this many seconds (answers stay deterministic)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _down_until: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        import openai

        self._client = openai.OpenAI(
            base_url=self.base_url.rstrip("/"),
            api_key=self.api_key or "not-needed",
            timeout=self.timeout,
            max_retries=0,  # our own bounded loop below keeps the total deadline
        )

    # -- public --------------------------------------------------------------------

    def chat(self, messages: list[Message]) -> str:
        resp = self._call(messages, {})
        return _content(resp)

    def complete_json(self, messages: list[Message], schema: dict[str, Any] | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if self._json_mode else {}
        deadline = time.monotonic() + self.timeout
        try:
            resp = self._call(messages, extra, deadline)
        except LLMCallError as e:
            if not (extra and e.reason == "http_400"):
                raise
            # Some servers (older vLLM, llama.cpp builds) refuse response_format: ask in plain text.
            log.info("LLM endpoint refused response_format=json_object; retrying without it")
            with self._lock:
                self._json_mode = False
            resp = self._call(messages, {}, deadline)
        return parse_json_object(_content(resp))

    def stream_chat(self, messages: list[Message]) -> Iterator[str]:
        import openai

        start = time.monotonic()
        stream = self._call(messages, {"stream": True})
        hard_stop = start + self.timeout * STREAM_TOTAL_FACTOR
        try:
            for chunk in stream:
                if time.monotonic() > hard_stop:
                    raise LLMCallError("timeout", f"stream longer than {self.timeout * STREAM_TOTAL_FACTOR:.0f} s")
                for choice in getattr(chunk, "choices", None) or []:
                    delta = getattr(choice, "delta", None)
                    text = getattr(delta, "content", None) if delta is not None else None
                    if text:
                        yield text
        except openai.APITimeoutError as e:
            with self._lock:
                self._down_until = time.monotonic() + self.cooldown
            raise LLMCallError("timeout", f"no token for {self.timeout:g} s") from e
        except openai.APIError as e:
            raise LLMCallError("stream_error", str(e)[:200]) from e
        except Exception as e:  # httpx read errors surface raw inside iteration
            if isinstance(e, LLMCallError):
                raise
            reason = "timeout" if "timeout" in type(e).__name__.lower() else "stream_error"
            raise LLMCallError(reason, f"{type(e).__name__}: {e}"[:200]) from e
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()

    # -- internals -----------------------------------------------------------------

    def _call(self, messages: list[Message], extra: dict[str, Any], deadline: float | None = None) -> Any:

        deadline = deadline or time.monotonic() + self.timeout
        wait_down = self._down_until - time.monotonic()
        if wait_down > 0:
            raise LLMCallError("unavailable", f"the endpoint failed recently; skipped for another {wait_down:.0f} s")
        try:
            return self._attempts(messages, extra, deadline)
        except LLMCallError as e:
            if e.reason in ("timeout", "connection") or e.reason.startswith("http_5"):
                with self._lock:
                    self._down_until = time.monotonic() + self.cooldown
            raise

    def _attempts(self, messages: list[Message], extra: dict[str, Any], deadline: float) -> Any:
        import openai

        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                raise LLMCallError("timeout", f"no answer within {self.timeout:g} s")
            try:
                return self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    timeout=remaining,
                    **extra,
                )
            except openai.APITimeoutError as e:
                raise LLMCallError("timeout", f"no answer within {self.timeout:g} s") from e
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as e:
                status = getattr(e, "status_code", None)
                reason = "rate_limited" if status == 429 else (f"http_{status}" if status else "connection")
                wait = self._backoff(attempt, e)
                attempt += 1
                if attempt > self.max_retries or time.monotonic() + wait >= deadline - 0.05:
                    raise LLMCallError(reason, f"after {attempt} attempt(s): {_short(e)}") from e
                log.info("LLM %s; retry %d/%d in %.2f s", reason, attempt, self.max_retries, wait)
                time.sleep(wait)
            except openai.APIStatusError as e:
                raise LLMCallError(f"http_{e.status_code}", _short(e)) from e
            except openai.APIError as e:
                raise LLMCallError("api_error", _short(e)) from e

    def _backoff(self, attempt: int, e: Exception) -> float:
        wait = self.backoff * (2**attempt) * (1 + 0.1 * random.random())
        resp = getattr(e, "response", None)
        ra = resp.headers.get("retry-after") if resp is not None and getattr(resp, "headers", None) else None
        if ra:
            try:
                wait = max(wait, float(ra))
            except ValueError:
                pass
        return min(wait, MAX_BACKOFF_S)


def _short(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"[:200]


def _content(resp: Any) -> str:
    try:
        text = resp.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as e:
        raise LLMCallError("bad_response", "no choices[0].message.content") from e
    if not isinstance(text, str):
        raise LLMCallError("bad_response", "empty content")
    return text


def llm_from_settings(settings: Settings | None = None) -> OpenAICompatibleLLM | None:
    """The configured LLM, or None when FISCALQA_LLM_BASE_URL / FISCALQA_LLM_MODEL are not set."""
    settings = settings or Settings.from_env()
    if not settings.llm_configured:
        return None
    return OpenAICompatibleLLM(
        base_url=str(settings.llm_base_url),
        model=str(settings.llm_model),
        api_key=settings.llm_api_key,
        timeout=float(settings.llm_timeout),
        max_retries=int(settings.llm_max_retries),
    )


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model reply (code fences and chatter around it tolerated)."""
    s = _THINK.sub("", text).strip()
    m = re.search(r"```(?:json)?\s*(.*?)```", s, re.S)
    if m:
        s = m.group(1).strip()
    if not s.startswith("{"):
        i, j = s.find("{"), s.rfind("}")
        if i < 0 or j <= i:
            raise LLMCallError("invalid_json", f"no JSON object in {text[:80]!r}")
        s = s[i : j + 1]
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as e:
        raise LLMCallError("invalid_json", f"{e.msg} in {text[:80]!r}") from e
    if not isinstance(obj, dict):
        raise LLMCallError("invalid_json", "not a JSON object")
    return obj
