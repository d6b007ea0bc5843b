"""The model server misbehaves while many employees ask at once: hangs, 500s, 429s, disconnects mid-stream.

Each case sends CONCURRENT streaming requests through the real gateway (real SDKs, Redis breaker and limits)
to the loopback fake, and checks what every single employee gets: the fallback's full answer, or the
partial answer with our note, or our message (never the provider's), and that the breaker protects the
primary once it has failed often enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from assistant.llm import errors
from assistant.llm.breaker import current_state
from assistant.llm.gateway import stream_completion
from assistant.llm.redis_client import KEY_PREFIX, sync_redis
from assistant.llm.services import configure_route
from assistant.llm.types import DoneEvent, ErrorEvent, StreamEvent
from tests.fakes.llm_server import DEFAULT_ANSWER, Behaviour, FakeLLMServer
from tests.llm.conftest import chat_request, split_events
from tests.llm.helpers import anthropic_spec, openai_spec, paths

pytestmark = pytest.mark.django_db

CONCURRENT = 24
OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeLLMServer]:
    settings.LLM_CONFIG_CACHE_SECONDS = 0
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 5
    settings.LLM_BREAKER_COOLDOWN_SECONDS = 60
    client = sync_redis()
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    with FakeLLMServer() as server:
        configure_route(
            name="chat", chain=[openai_spec(server, timeout_seconds=1.0), anthropic_spec(server, timeout_seconds=5.0)]
        )
        yield server


def ask_all(count: int = CONCURRENT) -> list[tuple[str, DoneEvent | None, ErrorEvent | None]]:
    async def one(number: int) -> list[StreamEvent]:
        return [event async for event in stream_completion(chat_request(request_id=f"req-{number}"))]

    async def many() -> list[list[StreamEvent]]:
        return await asyncio.gather(*(one(n) for n in range(count)))

    return [split_events(events) for events in async_to_sync(many)()]


def test_primary_hangs_every_employee_gets_the_fallbacks_answer(fake: FakeLLMServer) -> None:
    fake.script(*[Behaviour(delay=3)] * CONCURRENT, api="openai")

    answers = ask_all()

    assert all(error is None for _, _, error in answers)
    assert all(text == DEFAULT_ANSWER for text, _, _ in answers)
    assert {(done.deployment, done.fallback_used) for _, done, _ in answers if done} == {("claude-backup", True)}
    assert current_state("gpt-primary").state == "open"  # timeouts count as failures


def test_primary_500s_open_the_breaker_and_the_next_wave_skips_it(fake: FakeLLMServer) -> None:
    fake.script(*[Behaviour(status=500)] * CONCURRENT, api="openai")

    first = ask_all()
    assert all(text == DEFAULT_ANSWER and error is None for text, _, error in first)
    assert current_state("gpt-primary").state == "open"

    hits_before = paths(fake).count(OPENAI)
    second = ask_all()
    assert all(text == DEFAULT_ANSWER and done and done.deployment == "claude-backup" for text, done, _ in second)
    assert paths(fake).count(OPENAI) == hits_before  # the open breaker kept every request off the primary


def test_429_with_a_long_retry_after_falls_back_at_once_for_everyone(fake: FakeLLMServer, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 2
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 1000
    fake.script(*[Behaviour(status=429, retry_after="120")] * CONCURRENT, api="openai")

    answers = ask_all()

    assert all(text == DEFAULT_ANSWER and done and done.deployment == "claude-backup" for text, done, _ in answers)
    assert paths(fake).count(OPENAI) == CONCURRENT  # not retried: 120 s is longer than a user waits


def test_disconnects_mid_stream_end_answers_with_a_note_and_no_silent_switch(fake: FakeLLMServer) -> None:
    fake.script(*[Behaviour(disconnect_after=3, token_delay=0.01)] * CONCURRENT, api="openai")

    answers = ask_all()

    partial = 0
    for text, done, error in answers:
        assert error is None and done is not None
        if done.deployment == "gpt-primary":
            # Tokens were shown: the answer ends with our note, never silently continued by another model.
            assert done.error_class == "stream_interrupted"
            assert text.startswith("Employees receive 25 ")
            assert text.endswith(f"*{errors.StreamInterrupted.user_message}*")
            partial += 1
        else:
            # Asked after the interruptions opened the breaker: the fallback answers from the start.
            assert (done.deployment, done.fallback_used, text) == ("claude-backup", True, DEFAULT_ANSWER)
    assert partial >= 5 and paths(fake).count(ANTHROPIC) == CONCURRENT - partial


def test_when_both_providers_fail_everyone_gets_our_message(fake: FakeLLMServer) -> None:
    fake.set_default(Behaviour(status=500, error_message="upstream trace from secret-internal-host"))

    answers = ask_all()

    for _, done, error in answers:
        assert done is None and error is not None
        assert error.message == errors.ProviderOutage.user_message
        assert "secret-internal-host" not in error.message
