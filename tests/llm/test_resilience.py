"""Retries, fallbacks and failure classes against the loopback fake, with the real SDKs."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from assistant.llm import errors
from assistant.llm.gateway import complete
from assistant.llm.models import LLMCall
from assistant.llm.services import configure_route
from tests.fakes.llm_server import DEFAULT_ANSWER, Behaviour
from tests.llm.conftest import chat_request, split_events
from tests.llm.helpers import anthropic_spec, openai_spec, paths, stream

pytestmark = pytest.mark.django_db

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"


def _rows() -> list[tuple[str, str, str, bool]]:
    return [
        (r.deployment, r.outcome, r.error_class, r.fallback_used) for r in LLMCall.objects.order_by("created_at", "id")
    ]


@pytest.fixture
def two_deployments(fake_llm, settings):
    settings.LLM_MAX_RETRIES = 2
    configure_route(name="chat", chain=[openai_spec(fake_llm), anthropic_spec(fake_llm)])
    return fake_llm


def test_5xx_is_retried_then_falls_back_to_the_next_deployment(two_deployments) -> None:
    two_deployments.script(*[Behaviour(status=503)] * 3)

    text, done, error = split_events(stream(chat_request()))

    assert error is None and done is not None
    assert text == DEFAULT_ANSWER
    assert (done.deployment, done.fallback_used) == ("claude-backup", True)
    assert paths(two_deployments) == [OPENAI, OPENAI, OPENAI, ANTHROPIC]
    assert _rows() == [
        ("gpt-primary", "error", "outage", False),
        ("gpt-primary", "error", "outage", False),
        ("gpt-primary", "error", "outage", False),
        ("claude-backup", "ok", "", True),
    ]


def test_a_transient_5xx_is_retried_on_the_same_deployment(two_deployments) -> None:
    two_deployments.script(Behaviour(status=500))

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None and result.done.deployment == "gpt-primary"
    assert [r.attempt for r in LLMCall.objects.order_by("id")] == [1, 2]


def test_timeout_falls_back(fake_llm, settings) -> None:
    settings.LLM_MAX_RETRIES = 0
    configure_route(name="chat", chain=[openai_spec(fake_llm, timeout_seconds=0.3), anthropic_spec(fake_llm)])
    fake_llm.script(Behaviour(delay=1.5))

    _text, done, error = split_events(stream(chat_request()))

    assert error is None and done is not None and done.deployment == "claude-backup"
    assert _rows()[0][:3] == ("gpt-primary", "error", "timeout")


def test_retry_waits_as_long_as_retry_after_says(two_deployments) -> None:
    two_deployments.script(Behaviour(status=429, retry_after="1"))

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None and result.done.deployment == "gpt-primary"
    first, second = two_deployments.requests
    # The backoff alone would be about 10 ms (LLM_RETRY_BASE_SECONDS in tests); the header asked for 1 s.
    assert second.at - first.at >= 0.95
    assert _rows() == [("gpt-primary", "error", "rate_limited", False), ("gpt-primary", "ok", "", False)]


def test_rate_limit_with_a_long_retry_after_falls_back_at_once(two_deployments) -> None:
    two_deployments.script(Behaviour(status=429, retry_after="120"))

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None and result.done.deployment == "claude-backup"
    assert paths(two_deployments) == [OPENAI, ANTHROPIC]  # not retried: 120 s is longer than a user waits


def test_context_length_exceeded_falls_back_without_retrying(two_deployments) -> None:
    two_deployments.script(
        Behaviour(status=400, error_code="context_length_exceeded", error_message="maximum context length is 8192")
    )

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None and result.done.deployment == "claude-backup"
    assert _rows()[0] == ("gpt-primary", "error", "context_too_long", False)
    assert paths(two_deployments) == [OPENAI, ANTHROPIC]


def _with_history():
    from assistant.llm.types import ChatMessage

    return chat_request(
        messages=[
            ChatMessage("system", "Answer from the passages."),
            ChatMessage("user", "An earlier question " + "with a long context " * 50),
            ChatMessage("assistant", "An earlier answer."),
            ChatMessage("user", "How many days of leave do I get?"),
        ]
    )


def test_context_length_exceeded_trims_earlier_turns_and_retries_when_no_larger_model_follows(fake_llm) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm)])
    fake_llm.script(Behaviour(status=400, error_code="context_length_exceeded"))

    result = async_to_sync(complete)(_with_history())

    assert result.ok and result.done is not None and result.done.deployment == "gpt-primary"
    first, second = fake_llm.requests
    assert [m["role"] for m in first.body["messages"]] == ["system", "user", "assistant", "user"]
    assert [m["role"] for m in second.body["messages"]] == ["system", "user"]
    assert second.body["messages"][-1]["content"] == "How many days of leave do I get?"
    assert _rows() == [("gpt-primary", "error", "context_too_long", False), ("gpt-primary", "ok", "", False)]


def test_context_length_exceeded_goes_to_a_larger_model_with_the_whole_conversation(fake_llm) -> None:
    configure_route(
        name="chat",
        chain=[
            openai_spec(fake_llm, context_window_tokens=8192),
            anthropic_spec(fake_llm, context_window_tokens=200000),
        ],
    )
    fake_llm.script(Behaviour(status=400, error_code="context_length_exceeded"))

    result = async_to_sync(complete)(_with_history())

    assert result.ok and result.done is not None and result.done.deployment == "claude-backup"
    assert len(fake_llm.requests) == 2 and len(fake_llm.requests[1].body["messages"]) == 3  # system sent apart


def test_context_length_exceeded_twice_after_trimming_ends_with_a_clear_error(fake_llm) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm)])
    fake_llm.script(*[Behaviour(status=400, error_code="context_length_exceeded")] * 2)

    result = async_to_sync(complete)(_with_history())

    assert not result.ok and result.error is not None and result.error.error_class == "context_too_long"
    assert len(fake_llm.requests) == 2


def test_anthropic_overload_falls_back_to_openai(fake_llm, settings) -> None:
    settings.LLM_MAX_RETRIES = 0
    configure_route(name="chat", chain=[anthropic_spec(fake_llm), openai_spec(fake_llm)])
    fake_llm.script(Behaviour(status=529))

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None and result.done.deployment == "gpt-primary"
    assert _rows()[0][2] == "outage"


def test_content_filter_becomes_a_graceful_message_not_a_fallback(two_deployments) -> None:
    two_deployments.script(Behaviour(finish_reason="content_filter", answer=""))

    result = async_to_sync(complete)(chat_request())

    assert result.error is not None
    assert (result.error.error_class, result.error.message) == ("content_filtered", errors.ContentFiltered.user_message)
    assert paths(two_deployments) == [OPENAI]


def test_disconnect_after_the_first_tokens_ends_cleanly_with_a_note(two_deployments) -> None:
    two_deployments.script(Behaviour(disconnect_after=3))

    events = stream(chat_request())
    text, done, error = split_events(events)

    assert error is None and done is not None
    assert done.error_class == "stream_interrupted" and done.deployment == "gpt-primary"
    assert text.startswith("Employees receive 25 ")
    assert text.endswith(f"*{errors.StreamInterrupted.user_message}*")
    assert paths(two_deployments) == [OPENAI]  # tokens were shown: no silent switch to another model
    row = LLMCall.objects.get()
    assert (row.outcome, row.error_class) == ("partial", "stream_interrupted")
    assert row.output_tokens > 0


def test_malformed_first_chunk_falls_back_and_malformed_later_chunk_ends_with_a_note(two_deployments) -> None:
    two_deployments.script(Behaviour(malformed_after=0))
    result = async_to_sync(_first_done)()
    assert result.deployment == "claude-backup"
    assert _rows()[0][:3] == ("gpt-primary", "error", "malformed_output")

    two_deployments.script(Behaviour(malformed_after=2))
    text, done, _error = split_events(stream(chat_request()))
    assert done is not None and done.error_class == "stream_interrupted" and text.startswith("Employees receive")


async def _first_done():
    from assistant.llm.gateway import stream_completion
    from assistant.llm.types import DoneEvent

    async for event in stream_completion(chat_request()):
        if isinstance(event, DoneEvent):
            return event
    raise AssertionError("no DoneEvent")


def test_when_every_deployment_fails_the_user_gets_our_message_not_the_providers(two_deployments) -> None:
    two_deployments.set_default(Behaviour(status=500, error_message="upstream stack trace: secret-internal-host"))

    _text, done, error = split_events(stream(chat_request()))

    assert done is None and error is not None
    assert error.error_class == "outage" and error.message == errors.ProviderOutage.user_message
    assert "secret-internal-host" not in error.message
    assert len(LLMCall.objects.filter(outcome="error")) == 6  # 3 attempts on each of the two deployments


def test_bad_key_is_not_retried_and_falls_back(two_deployments) -> None:
    two_deployments.script(Behaviour(status=401, error_message="invalid api key"))

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None and result.done.deployment == "claude-backup"
    assert _rows()[0][2] == "misconfigured"
