"""Any OpenAI-compatible chat.completions API (OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio, ...) through
the official ``openai`` SDK. The SDK's own retries are off: the gateway retries, so that every attempt is
counted, budgeted and seen by the circuit breaker.

A stream is read as raw Server-Sent Events (the SDK still sends the request, authenticates and turns an error
status into its exception): the SDK's own stream builds a pydantic object per chunk, which was the largest
part of relaying a token (measured in docs/performance.md, "Where a question's CPU goes")."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx2
import openai

from assistant.llm import errors
from assistant.llm.providers.base import DeploymentConfig, Usage, cached_sdk_client, parse_retry_after
from assistant.llm.types import CompletionRequest

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def client_for(config: DeploymentConfig) -> openai.AsyncOpenAI:
    return cached_sdk_client(config, openai.AsyncOpenAI)


def translate_error(exc: Exception) -> errors.GatewayError:
    """The gateway's failure class for an SDK exception (never shown to users as such)."""
    if isinstance(exc, openai.APITimeoutError):
        return errors.ProviderTimeout(str(exc))
    if isinstance(exc, openai.APIConnectionError):
        return errors.ProviderOutage(str(exc))
    if isinstance(exc, openai.RateLimitError):
        return errors.ProviderRateLimited(str(exc), retry_after=parse_retry_after(exc.response.headers))
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        code = str(body.get("code") or exc.code or "")
        if exc.status_code >= 500:
            return errors.ProviderOutage(str(exc), retry_after=parse_retry_after(exc.response.headers))
        if code == "context_length_exceeded" or "maximum context length" in str(exc).lower():
            return errors.ContextTooLong(str(exc))
        if code == "content_filter" or "content management policy" in str(exc).lower():
            return errors.ContentFiltered(str(exc))
        return errors.ProviderMisconfigured(str(exc))
    if isinstance(exc, openai.APIError):
        # Includes an "error" object sent inside a stream.
        return errors.ProviderOutage(str(exc))
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError | ValueError | KeyError):
        return errors.MalformedOutput(str(exc))
    return errors.ProviderOutage(f"{type(exc).__name__}: {exc}")


def _arguments(config: DeploymentConfig, request: CompletionRequest) -> dict[str, Any]:
    return {
        "model": config.model_id,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": config.output_tokens_for(request),
        "temperature": config.temperature_for(request),
    }


class OpenAICompatibleProvider:
    label: str | None = None

    async def complete(self, config: DeploymentConfig, request: CompletionRequest, usage: Usage) -> str:
        try:
            response = await client_for(config).chat.completions.create(**_arguments(config, request))
        except (openai.OpenAIError, ValueError) as exc:
            raise translate_error(exc) from exc
        if not response.choices:
            raise errors.MalformedOutput("no choices in the response")
        choice = response.choices[0]
        if choice.finish_reason == "content_filter":
            raise errors.ContentFiltered("finish_reason=content_filter")
        if response.usage is not None:
            usage.input_tokens = response.usage.prompt_tokens
            usage.output_tokens = response.usage.completion_tokens
            usage.reported = True
        return choice.message.content or ""

    async def stream(
        self, config: DeploymentConfig, request: CompletionRequest, usage: Usage
    ) -> AsyncGenerator[str, None]:
        try:
            async with client_for(config).chat.completions.with_streaming_response.create(
                **_arguments(config, request), stream=True, stream_options={"include_usage": True}
            ) as response:
                finished = False
                async for data in sse_data(response.iter_lines()):
                    if finished:
                        continue  # read to the end, so the connection goes back to the pool
                    if data.startswith("[DONE]"):
                        finished = True
                        continue
                    for text in chunk_texts(json.loads(data), usage):
                        yield text
        except httpx2.TimeoutException as exc:
            raise errors.ProviderTimeout(str(exc)) from exc
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
            raise translate_error(exc) from exc


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each Server-Sent Event (multi-line data joined by newlines; comments and other fields
    skipped)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
            data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def chunk_texts(chunk: object, usage: Usage) -> list[str]:
    """The text deltas of one ``chat.completion.chunk``; records its usage. Raises a ``GatewayError`` for an
    error sent inside the stream, a content filter stop or a chunk of the wrong shape."""
    if not isinstance(chunk, dict):
        raise errors.MalformedOutput("a stream chunk is not a JSON object")
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else None
        raise errors.ProviderOutage(message if isinstance(message, str) and message else "error in the stream")
    try:
        reported = chunk.get("usage")
        if reported:
            usage.input_tokens = int(reported["prompt_tokens"])
            usage.output_tokens = int(reported["completion_tokens"])
            usage.reported = True
        texts = []
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason") == "content_filter":
                raise errors.ContentFiltered("finish_reason=content_filter")
            content = (choice.get("delta") or {}).get("content")
            if content:
                texts.append(str(content))
    except (KeyError, TypeError, AttributeError) as exc:
        raise errors.MalformedOutput(f"unexpected chunk: {exc}") from exc
    return texts
