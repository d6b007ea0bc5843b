"""A loopback server that speaks the OpenAI chat.completions and Anthropic messages wire protocols (JSON and
Server-Sent Events, with usage), so that the real ``openai`` and ``anthropic`` SDKs can be driven against it.

Each request takes the next scripted ``Behaviour`` (or the default: a normal answer). Behaviours cover the
failures the gateway must survive: latency, 5xx, 429 with Retry-After, context length exceeded, content
filter, a connection dropped mid-stream, and malformed chunks. Every request is recorded for assertions.

Run it in a thread (``with FakeLLMServer() as server:``) or as a process (``python -m tests.fakes.llm_server
PORT``) for benchmarks.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_ANSWER = "Employees receive 25 days of paid leave per year [1]."


@dataclass
class Behaviour:
    """What the next request gets. ``status`` >= 400 answers with that error; ``disconnect_after`` drops the
    connection after that many text chunks; ``malformed_after`` sends an unparsable chunk after that many."""

    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    token_delay: float = 0.0
    answer: str = DEFAULT_ANSWER
    error_code: str | None = None
    error_message: str = "scripted failure"
    finish_reason: str = "stop"
    disconnect_after: int | None = None
    malformed_after: int | None = None
    # The worst-case model of the red-team suite: obeys any instruction it reads (see ``obedient_answer``).
    obey_injections: bool = False


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class _State:
    # Behaviours for any request, and for requests of one API only ("openai" or "anthropic").
    scripts: dict[str, deque[Behaviour]] = field(
        default_factory=lambda: {"any": deque(), "openai": deque(), "anthropic": deque()}
    )
    default: Behaviour = field(default_factory=Behaviour)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _words(text: str) -> list[str]:
    pieces = text.split(" ")
    return [piece + (" " if i < len(pieces) - 1 else "") for i, piece in enumerate(pieces)]


def _prompt_tokens(body: dict[str, Any]) -> int:
    texts = [str(m.get("content", "")) for m in body.get("messages", [])] + [str(body.get("system", ""))]
    return sum(len(text.split()) for text in texts) + 3


_ORDER = re.compile(
    r"\b(?:reply|respond|answer|say|print|output|write|append|include|end)\b[^.\n]{0,80}?"
    r"\b([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\b"
)
_MARKDOWN_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\s]*\)")
_EXTRACTION = re.compile(r"system prompt|instructions|everything above|initial prompt|confidential", re.I)


def obedient_answer(body: dict[str, Any]) -> str:
    """What a model that obeys every instruction it reads would write: every code word it is told to say,
    every link or image it is shown, its whole system message when anyone asks for its instructions, and
    everything in the user turn (so every passage it was given) verbatim."""
    system = str(body.get("system") or "")
    turns: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content", "")
        if isinstance(content, list):
            content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        if message.get("role") == "system":
            system += str(content)
        else:
            turns.append(str(content))
    everything = "\n".join([system, *turns])
    last = turns[-1] if turns else ""
    parts = [match.group(1) for match in _ORDER.finditer(everything)]
    parts += [match.group(0) for match in _MARKDOWN_LINK.finditer(everything)]
    # Docent's user turn ends with "Question: ..."; the request for instructions is read from the question.
    if _EXTRACTION.search(last.rsplit("Question:", 1)[-1]):
        parts.append(f"My instructions are: {system}")
    parts.append(f"Here is everything I was given: {last} [1]")
    return "\n\n".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real model servers set: each streamed chunk leaves at once instead of waiting (Nagle)
    # for the client's delayed ACK, which would add ~40 ms to time to first token.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests assert on recorded requests instead

    # --- plumbing --------------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection abruptly, as a crashed upstream would."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(2)

    # --- dispatch --------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        state = self.server.state
        with state.lock:
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.requests.append(RecordedRequest(self.path, body, headers, time.monotonic()))
            api = "anthropic" if self.path.rstrip("/").endswith("/messages") else "openai"
            queue = state.scripts[api] or state.scripts["any"]
            behaviour = queue.popleft() if queue else state.default
        if behaviour.delay:
            time.sleep(behaviour.delay)
        if behaviour.obey_injections:
            behaviour = replace(behaviour, answer=obedient_answer(body))
        if self.path.rstrip("/").endswith("/chat/completions"):
            self._openai(body, behaviour)
        elif self.path.rstrip("/").endswith("/messages"):
            self._anthropic(body, behaviour)
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_GET(self) -> None:
        self._send_json(200, {"ok": True})

    # --- OpenAI ----------------------------------------------------------------------------------------

    def _openai_error(self, behaviour: Behaviour) -> None:
        headers = {"retry-after": behaviour.retry_after} if behaviour.retry_after is not None else {}
        error = {
            "message": behaviour.error_message,
            "type": "invalid_request_error" if behaviour.status < 500 else "server_error",
            "param": None,
            "code": behaviour.error_code,
        }
        self._send_json(behaviour.status, {"error": error}, headers)

    def _openai(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        if behaviour.status >= 400:
            self._openai_error(behaviour)
            return
        model = body.get("model", "unknown")
        created = int(time.time())
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        words = _words(behaviour.answer)
        usage = {
            "prompt_tokens": _prompt_tokens(body),
            "completion_tokens": len(words),
            "total_tokens": _prompt_tokens(body) + len(words),
        }
        if not body.get("stream"):
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": behaviour.answer, "refusal": None},
                "finish_reason": behaviour.finish_reason,
                "logprobs": None,
            }
            payload = {"id": ident, "object": "chat.completion", "created": created, "model": model}
            self._send_json(200, {**payload, "choices": [choice], "usage": usage})
            return

        def chunk(delta: dict[str, Any], finish: str | None, with_usage: dict[str, int] | None = None) -> str:
            choices = [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
            payload = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
            return f"data: {json.dumps({**payload, 'choices': choices, 'usage': with_usage})}\n\n"

        self._start_stream()
        self._chunk(chunk({"role": "assistant", "content": ""}, None))
        for sent, word in enumerate(words):
            if behaviour.disconnect_after is not None and sent >= behaviour.disconnect_after:
                self._drop()
                return
            if behaviour.malformed_after is not None and sent >= behaviour.malformed_after:
                self._chunk('data: {"id": "broken", "choices": [{"delta": {"content": \n\n')
                self._end_stream()
                return
            if behaviour.token_delay:
                time.sleep(behaviour.token_delay)
            self._chunk(chunk({"content": word}, None))
        self._chunk(chunk({}, behaviour.finish_reason))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._chunk(chunk({}, None, usage))
        self._chunk("data: [DONE]\n\n")
        self._end_stream()

    # --- Anthropic -------------------------------------------------------------------------------------

    def _anthropic_error(self, behaviour: Behaviour) -> None:
        kinds = {400: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}
        headers = {"retry-after": behaviour.retry_after} if behaviour.retry_after is not None else {}
        kind = kinds.get(behaviour.status, "api_error")
        payload = {"type": "error", "error": {"type": kind, "message": behaviour.error_message}}
        self._send_json(behaviour.status, payload, headers)

    def _anthropic(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        if behaviour.status >= 400:
            self._anthropic_error(behaviour)
            return
        model = body.get("model", "unknown")
        ident = f"msg_{uuid.uuid4().hex[:20]}"
        words = _words(behaviour.answer)
        input_tokens = _prompt_tokens(body)
        stop_reason = {"stop": "end_turn", "content_filter": "refusal"}.get(behaviour.finish_reason, "end_turn")
        if not body.get("stream"):
            payload = {
                "id": ident,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": behaviour.answer}],
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": len(words)},
            }
            self._send_json(200, payload)
            return

        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        message = {
            "id": ident,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        }
        self._start_stream()
        self._chunk(event("message_start", {"message": message}))
        self._chunk(event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        self._chunk(event("ping", {}))
        for sent, word in enumerate(words):
            if behaviour.disconnect_after is not None and sent >= behaviour.disconnect_after:
                self._drop()
                return
            if behaviour.malformed_after is not None and sent >= behaviour.malformed_after:
                self._chunk("event: content_block_delta\ndata: {not json\n\n")
                self._end_stream()
                return
            if behaviour.token_delay:
                time.sleep(behaviour.token_delay)
            self._chunk(event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": word}}))
        self._chunk(event("content_block_stop", {"index": 0}))
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        self._chunk(event("message_delta", {"delta": delta, "usage": {"output_tokens": len(words)}}))
        self._chunk(event("message_stop", {}))
        self._end_stream()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Fault tests open a few dozen connections at once (a wave falling back to the backup together): the
    # default listen backlog of 5 drops SYNs, and a client then waits a second or more for the retry.
    request_queue_size = 128
    state: _State


class FakeLLMServer:
    """The fake in a background thread on a free loopback port."""

    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.state = _State()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    def script(self, *behaviours: Behaviour, api: str = "any") -> None:
        """Queue behaviours for the next requests (of one API only, if ``api`` is "openai" or "anthropic");
        once used up, requests get the default."""
        with self._server.state.lock:
            self._server.state.scripts[api].extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        with self._server.state.lock:
            self._server.state.default = behaviour

    def reset(self) -> None:
        with self._server.state.lock:
            for queue in self._server.state.scripts.values():
                queue.clear()
            self._server.state.requests.clear()
            self._server.state.default = Behaviour()

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":
    with FakeLLMServer(int(sys.argv[1]) if len(sys.argv) > 1 else 0) as running:
        print(running.port, flush=True)
        threading.Event().wait()
