"""Anthropic's Messages API through the official ``anthropic`` SDK (its own retries off, as for OpenAI)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2

from assistant.llm import errors
from assistant.llm.providers.base import DeploymentConfig, Usage, cached_sdk_client, parse_retry_after
from assistant.llm.types import CompletionRequest

DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"


def client_for(config: DeploymentConfig) -> anthropic.AsyncAnthropic:
    return cached_sdk_client(config, anthropic.AsyncAnthropic)


def translate_error(exc: Exception) -> errors.GatewayError:
    if isinstance(exc, anthropic.APITimeoutError):
        return errors.ProviderTimeout(str(exc))
    if isinstance(exc, anthropic.APIConnectionError):
        return errors.ProviderOutage(str(exc))
    if isinstance(exc, anthropic.RateLimitError):
        return errors.ProviderRateLimited(str(exc), retry_after=parse_retry_after(exc.response.headers))
    if isinstance(exc, anthropic.APIStatusError):
        message = str(exc).lower()
        if exc.status_code >= 500:
            return errors.ProviderOutage(str(exc), retry_after=parse_retry_after(exc.response.headers))
        if "prompt is too long" in message or "context window" in message:
            return errors.ContextTooLong(str(exc))
        return errors.ProviderMisconfigured(str(exc))
    if isinstance(exc, anthropic.APIError):
        # An "error" event inside a stream (e.g. overloaded_error).
        return errors.ProviderOutage(str(exc))
    if isinstance(exc, json.JSONDecodeError | ValueError | KeyError):
        return errors.MalformedOutput(str(exc))
    return errors.ProviderOutage(f"{type(exc).__name__}: {exc}")


def _arguments(config: DeploymentConfig, request: CompletionRequest) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    arguments: dict[str, Any] = {
        "model": config.model_id,
        "max_tokens": config.output_tokens_for(request),
        "messages": [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"],
        # This SDK version no longer lists temperature as a parameter; the API still accepts it.
        "extra_body": {"temperature": config.temperature_for(request)},
    }
    if system:
        arguments["system"] = system
    return arguments


class AnthropicProvider:
    label: str | None = None

    async def complete(self, config: DeploymentConfig, request: CompletionRequest, usage: Usage) -> str:
        try:
            message = await client_for(config).messages.create(**_arguments(config, request))
        except (anthropic.AnthropicError, ValueError) as exc:
            raise translate_error(exc) from exc
        if message.stop_reason == "refusal":
            raise errors.ContentFiltered("stop_reason=refusal")
        usage.input_tokens = message.usage.input_tokens
        usage.output_tokens = message.usage.output_tokens
        usage.reported = True
        return "".join(block.text for block in message.content if block.type == "text")

    async def stream(
        self, config: DeploymentConfig, request: CompletionRequest, usage: Usage
    ) -> AsyncGenerator[str, None]:
        try:
            stream = await client_for(config).messages.create(**_arguments(config, request), stream=True)
            async with stream:
                async for event in stream:
                    if event.type == "message_start":
                        usage.input_tokens = event.message.usage.input_tokens
                        usage.output_tokens = event.message.usage.output_tokens
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield event.delta.text
                    elif event.type == "message_delta":
                        usage.output_tokens = event.usage.output_tokens
                        usage.reported = True
                        if event.delta.stop_reason == "refusal":
                            raise errors.ContentFiltered("stop_reason=refusal")
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError) as exc:
            raise translate_error(exc) from exc
