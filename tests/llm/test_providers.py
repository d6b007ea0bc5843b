"""The OpenAI-compatible and Anthropic providers, through the gateway, with the real SDKs against the fake."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync

from assistant.llm.gateway import complete, stream_completion
from assistant.llm.models import LLMCall
from assistant.llm.services import DeploymentSpec, configure_route
from assistant.llm.types import StreamEvent
from tests.fakes.llm_server import DEFAULT_ANSWER, FakeLLMServer
from tests.llm.conftest import chat_request, split_events

pytestmark = pytest.mark.django_db


def _stream(request) -> list[StreamEvent]:
    async def collect() -> list[StreamEvent]:
        return [event async for event in stream_completion(request)]

    return async_to_sync(collect)()


def _openai(fake: FakeLLMServer, name: str = "gpt-primary", **extra) -> DeploymentSpec:
    return DeploymentSpec(
        name=name,
        provider="openai_compatible",
        model_id="gpt-4o-mini-2024-07-18",
        base_url=fake.openai_base_url,
        api_key_env="DOCENT_TEST_OPENAI_KEY",
        input_per_million_usd=Decimal("0.15"),
        output_per_million_usd=Decimal("0.60"),
        **extra,
    )


def _anthropic(fake: FakeLLMServer, name: str = "claude-primary") -> DeploymentSpec:
    return DeploymentSpec(
        name=name,
        provider="anthropic",
        model_id="claude-haiku-4-5-20251001",
        base_url=fake.anthropic_base_url,
        api_key_env="DOCENT_TEST_ANTHROPIC_KEY",
        input_per_million_usd=Decimal("0.80"),
        output_per_million_usd=Decimal("4.00"),
    )


def test_openai_stream_arrives_token_by_token_with_usage_and_cost(fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("DOCENT_TEST_OPENAI_KEY", "sk-test-from-env")
    configure_route(name="chat", chain=[_openai(fake_llm)])

    events = _stream(chat_request(user_id=None, prompt_version_id=7))
    text, done, error = split_events(events)

    assert error is None and done is not None
    assert text == DEFAULT_ANSWER
    assert len(events) > 5  # streamed in pieces, not in one block
    assert (done.deployment, done.model_id, done.fallback_used, done.label) == (
        "gpt-primary",
        "gpt-4o-mini-2024-07-18",
        False,
        None,
    )
    assert done.output_tokens == len(DEFAULT_ANSWER.split(" "))
    expected = (Decimal("0.15") * done.input_tokens + Decimal("0.60") * done.output_tokens) / 1_000_000
    assert done.cost_usd == expected
    sent = fake_llm.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-test-from-env"
    assert sent.body["model"] == "gpt-4o-mini-2024-07-18" and sent.body["stream"] is True
    assert sent.body["messages"][0] == {"role": "system", "content": "Answer from the passages."}
    row = LLMCall.objects.get()
    assert (row.outcome, row.prompt_version_id, row.output_tokens, row.cost_usd) == (
        "ok",
        7,
        done.output_tokens,
        expected,
    )
    assert row.ttft_ms is not None and row.latency_ms is not None and row.ttft_ms <= row.latency_ms


def test_openai_complete_returns_the_whole_answer(fake_llm) -> None:
    configure_route(name="chat", chain=[_openai(fake_llm)])

    result = async_to_sync(complete)(chat_request(max_output_tokens=50, temperature=0.0))

    assert result.ok and result.text == DEFAULT_ANSWER
    body = fake_llm.requests[-1].body
    assert "stream" not in body or body["stream"] is False
    assert (body["max_tokens"], body["temperature"]) == (50, 0.0)


def test_anthropic_stream_and_complete(fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("DOCENT_TEST_ANTHROPIC_KEY", "sk-ant-test")
    configure_route(name="chat", chain=[_anthropic(fake_llm)])

    text, done, error = split_events(_stream(chat_request()))
    assert error is None and done is not None and text == DEFAULT_ANSWER
    assert done.input_tokens > 0 and done.output_tokens == len(DEFAULT_ANSWER.split(" "))
    sent = fake_llm.requests[-1]
    assert sent.path == "/v1/messages" and "anthropic-version" in sent.headers
    # This SDK version sends the key as a bearer token; older ones used x-api-key.
    assert "sk-ant-test" in (
        sent.headers.get("x-api-key", ""),
        sent.headers.get("authorization", "").removeprefix("Bearer "),
    )
    # The system prompt goes in Anthropic's own field, not among the messages.
    assert sent.body["system"] == "Answer from the passages."
    assert [m["role"] for m in sent.body["messages"]] == ["user"]

    result = async_to_sync(complete)(chat_request())
    assert result.ok and result.text == DEFAULT_ANSWER


def test_key_can_come_from_a_secret_file(fake_llm, monkeypatch, tmp_path) -> None:
    secret = tmp_path / "openai-key"
    secret.write_text("sk-from-file\n")
    monkeypatch.delenv("DOCENT_TEST_OPENAI_KEY", raising=False)
    monkeypatch.setenv("DOCENT_TEST_OPENAI_KEY_FILE", str(secret))
    configure_route(name="chat", chain=[_openai(fake_llm)])

    assert async_to_sync(complete)(chat_request()).ok
    assert fake_llm.requests[-1].headers["authorization"] == "Bearer sk-from-file"


def test_floating_model_alias_is_refused() -> None:
    with pytest.raises(ValueError, match="floating alias"):
        configure_route(
            name="chat",
            chain=[DeploymentSpec(name="floaty", provider="anthropic", model_id="claude-3-5-sonnet-latest")],
        )


def test_openai_stream_events_are_read_as_the_protocol_says() -> None:
    # The stream is parsed from raw Server-Sent Events: data split over lines, comments, an error object
    # inside the stream, a content filter stop and a chunk of the wrong shape.
    from assistant.llm import errors
    from assistant.llm.providers.base import Usage
    from assistant.llm.providers.openai_compatible import chunk_texts, sse_data

    async def lines(*items: str):
        for item in items:
            yield item

    async def collect(*items: str) -> list[str]:
        return [data async for data in sse_data(lines(*items))]

    raw = [": keep-alive", "", 'data: {"a":', "data: 1}", "", "event: x", "data:[DONE]", ""]
    assert async_to_sync(collect)(*raw) == ['{"a":\n1}', "[DONE]"]
    usage = Usage()
    chunk = {"choices": [{"delta": {"content": "Hi"}}], "usage": {"prompt_tokens": 7, "completion_tokens": 1}}
    assert chunk_texts(chunk, usage) == ["Hi"] and (usage.input_tokens, usage.output_tokens, usage.reported) == (
        7,
        1,
        True,
    )
    with pytest.raises(errors.ProviderOutage, match="overloaded"):
        chunk_texts({"error": {"message": "overloaded"}}, Usage())
    with pytest.raises(errors.ContentFiltered):
        chunk_texts({"choices": [{"delta": {}, "finish_reason": "content_filter"}]}, Usage())
    with pytest.raises(errors.MalformedOutput):
        chunk_texts({"choices": [{"delta": "text"}]}, Usage())
    with pytest.raises(errors.MalformedOutput):
        chunk_texts(["not", "an", "object"], Usage())
