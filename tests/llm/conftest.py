"""Fixtures for the gateway tests: clean Redis state, and the loopback fake of the OpenAI and Anthropic APIs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assistant.llm.redis_client import KEY_PREFIX, sync_redis
from assistant.llm.types import ChatMessage, CompletionRequest, DoneEvent, ErrorEvent, StreamEvent, TokenEvent
from tests.fakes.llm_server import FakeLLMServer


@pytest.fixture(autouse=True)
def _gateway_isolation(settings: Any) -> Iterator[None]:
    """Every test starts with no breaker, budget or rate-limit state, re-reads the configuration on every
    call, and backs off briefly between retries."""
    settings.LLM_CONFIG_CACHE_SECONDS = 0
    settings.LLM_RETRY_BASE_SECONDS = 0.01
    assert not settings.LLM_REDIS_URL.endswith("/0"), "tests must not touch the development Redis database"
    client = sync_redis()
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    yield


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(_fake_llm_server: FakeLLMServer) -> FakeLLMServer:
    _fake_llm_server.reset()
    return _fake_llm_server


def chat_request(question: str = "How many days of leave do I get?", **overrides: Any) -> CompletionRequest:
    fields: dict[str, Any] = {
        "route": "chat",
        "messages": [ChatMessage("system", "Answer from the passages."), ChatMessage("user", question)],
        "question": question,
        "request_id": "req-1",
    }
    fields.update(overrides)
    return CompletionRequest(**fields)


def split_events(events: list[StreamEvent]) -> tuple[str, DoneEvent | None, ErrorEvent | None]:
    text = "".join(e.text for e in events if isinstance(e, TokenEvent))
    done = next((e for e in events if isinstance(e, DoneEvent)), None)
    error = next((e for e in events if isinstance(e, ErrorEvent)), None)
    return text, done, error
