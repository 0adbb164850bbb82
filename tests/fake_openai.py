"""A local fake OpenAI-compatible chat-completions server for tests (stdlib only).

    with FakeOpenAI() as fake:                       # 127.0.0.1, random port
        fake.script(Reply('{"route": "table"}'), Reply(status=500), Reply("hi", stream=True))
        llm = OpenAICompatibleLLM(base_url=fake.base_url, model="fake", timeout=2)

Replies are served in order (then ``default``); a ``responder(body) -> Reply`` may answer
instead. Every request body is kept in ``fake.requests``. ``Reply`` can delay (to trigger
timeouts), fail with any HTTP status (500, 429 with Retry-After), stream as SSE, or send
broken JSON. ``echo_responder`` imitates a well-behaved model for the fiscal-qa prompts
(used by the eval test). Run as a script to serve it for manual runs:
``python tests/fake_openai.py --port 8011``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted response."""

    content: str = ""
    status: int = 200
    delay: float = 0.0
    """Seconds to wait before answering (before the first token when streaming)."""
    stream: bool | None = None
    """True/False forces SSE or a plain body; None follows the request's ``stream``."""
    token_delay: float = 0.0
    """Seconds between streamed tokens."""
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None
    """Send this body verbatim (e.g. broken JSON) instead of a completion object."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # clients hang up on timeouts: not an error
        pass


class FakeOpenAI:
    """The server; a context manager that starts it in a thread and stops it on exit."""

    def __init__(self, default: Reply | None = None, responder: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.default = default or Reply("OK")
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control ---------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply | str) -> FakeOpenAI:
        with self._lock:
            self._queue.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)
        return self

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._queue:
                return self._queue.pop(0)
        if self.responder is not None:
            return self.responder(body)
        return self.default

    # -- HTTP --------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "tests"}]})
                else:
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except json.JSONDecodeError:
                    self._json(400, {"error": {"message": "bad json", "type": "invalid_request_error"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                r = fake._next(body)
                if r.delay and fake._stop.wait(r.delay):
                    return
                if r.status != 200:
                    msg = {"error": {"message": f"scripted HTTP {r.status}", "type": "server_error", "code": r.status}}
                    self._json(r.status, msg, r.headers)
                    return
                if r.raw_body is not None:
                    self._send(200, r.raw_body.encode(), "application/json", r.headers)
                    return
                stream = body.get("stream", False) if r.stream is None else r.stream
                if stream:
                    self._sse(body, r)
                else:
                    self._json(200, completion(body.get("model", "fake"), r.content), r.headers)

            def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", ctype)
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json", headers)

            def _sse(self, body: dict[str, Any], r: Reply) -> None:
                try:
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("cache-control", "no-cache")
                    self.send_header("connection", "close")
                    self.end_headers()
                    model = body.get("model", "fake")
                    first = {"role": "assistant", "content": ""}
                    self._event(chunk(model, first))
                    for tok in tokens(r.content):
                        if r.token_delay and fake._stop.wait(r.token_delay):
                            return
                        self._event(chunk(model, {"content": tok}))
                    self._event(chunk(model, {}, finish="stop"))
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _event(self, obj: Any) -> None:
                self.wfile.write(b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def tokens(text: str) -> list[str]:
    """Split text into small tokens (CJK characters one by one, words with their spaces)."""
    return re.findall(r"[\u4e00-\u9fff]|[^\s\u4e00-\u9fff]+\s*|\s+", text) or [text]


# --------------------------------------------------------------------------- a well-behaved model


def _system(body: dict[str, Any]) -> str:
    return next((m.get("content", "") for m in body.get("messages", []) if m.get("role") == "system"), "")


def _user(body: dict[str, Any]) -> str:
    return next((m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")


def echo_responder(body: dict[str, Any]) -> Reply:
    """Imitate an obedient model for the fiscal-qa prompts.

    planner → {"operation": null} (declines: the deterministic plan runs); router → a keyword guess;
    compose → the first sentence of passage [1] with its marker; phrase → the checked answer verbatim.
    """
    system, user = _system(body), _user(body)
    if "query planner" in system or "查询规划器" in system:
        return Reply('{"operation": null}')
    if '{"route"' in system:
        q = user.removeprefix("Question:").strip()
        route = "both" if re.search(r"为什么|原因|why", q, re.I) else "table"
        return Reply(json.dumps({"route": route}))
    m = re.search(r"<<<REPORT_DATA\n(.*?)\nREPORT_DATA>>>", user, re.S)
    if "Checked answer" in user and m:
        return Reply(m.group(1).strip())
    if m:
        p1 = re.search(r"\[1\] \([^\n]*\)\n([^\n]*)", m.group(1))
        first = re.split(r"(?<=[。！？.!?])", p1.group(1))[0] if p1 else ""
        return Reply(f"{first}[1]" if first else "所收录的报告中没有说明。")
    return Reply("OK")


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve the fake OpenAI-compatible endpoint (echo model) until Ctrl-C.")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    fake = FakeOpenAI(responder=echo_responder)
    if args.port:
        fake._server.server_close()
        fake._server = _Server(("127.0.0.1", args.port), fake._handler_class())
        fake._thread = threading.Thread(target=fake._server.serve_forever, daemon=True)
    with fake:
        print(f"FISCALQA_LLM_BASE_URL={fake.base_url} FISCALQA_LLM_MODEL=fake", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
