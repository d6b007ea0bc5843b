"""What every provider implements, and the deployment settings it is given."""

from __future__ import annotations

import asyncio
import math
import os
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import httpx2

from assistant.llm.types import ChatMessage, CompletionRequest


@dataclass(frozen=True)
class DeploymentConfig:
    """A read-only snapshot of a ``Deployment`` row (and its current price), safe to share between tasks."""

    name: str
    route: str
    provider: str
    model_id: str
    base_url: str = ""
    api_key_env: str = ""
    timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 5.0
    max_output_tokens: int = 1024
    context_window_tokens: int = 128000
    temperature: float = 0.2
    input_per_million_usd: Decimal = Decimal(0)
    output_per_million_usd: Decimal = Decimal(0)

    def output_tokens_for(self, request: CompletionRequest) -> int:
        """The output cap sent to the provider: the request's, never above the deployment's."""
        if request.max_output_tokens is None:
            return self.max_output_tokens
        return max(1, min(request.max_output_tokens, self.max_output_tokens))

    def temperature_for(self, request: CompletionRequest) -> float:
        return self.temperature if request.temperature is None else request.temperature


@dataclass
class Usage:
    """Token counts, filled in by the provider as they become known (for a stream: at its end)."""

    input_tokens: int = 0
    output_tokens: int = 0
    reported: bool = False


class Provider(Protocol):
    """A model API. Implementations raise only :mod:`assistant.llm.errors` classes for provider failures.

    ``label`` is shown above answers from this provider (``None`` for generative models)."""

    label: str | None

    def stream(self, config: DeploymentConfig, request: CompletionRequest, usage: Usage) -> AsyncGenerator[str, None]:
        """Yield text deltas; fill ``usage`` before finishing."""
        ...

    async def complete(self, config: DeploymentConfig, request: CompletionRequest, usage: Usage) -> str:
        """Return the whole answer; fill ``usage``."""
        ...


def upper_bound_input_tokens(messages: Sequence[ChatMessage]) -> int:
    """An upper bound of the prompt's tokens for any byte-level BPE tokenizer (a token covers at least one
    byte), plus a per-message overhead. Budgets reserve this, so a reservation is never below the real cost."""
    return sum(len(message.content.encode()) + 8 for message in messages) + 16


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token) for providers that report none."""
    return math.ceil(len(text) / 4)


ClientT = TypeVar("ClientT")

# One SDK client (one connection pool) per event loop and deployment settings: a client is bound to the loop
# it was created on, and tests and workers run several loops.
_sdk_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[object, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def cached_sdk_client(config: DeploymentConfig, make: Callable[..., ClientT]) -> ClientT:
    """The SDK client for ``config`` on the running loop, made with ``make(api_key, base_url, timeout,
    max_retries=0)`` on first use. The SDK's own retries are off: the gateway retries and counts attempts."""
    key = api_key_from_env(config.api_key_env) or "no-key"  # local servers (vLLM, Ollama) need none
    cache_key = (make, config.base_url, key, config.timeout_seconds, config.connect_timeout_seconds)
    clients = _sdk_clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(cache_key)
    if client is None:
        client = make(
            api_key=key,
            base_url=config.base_url or None,
            timeout=httpx2.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            max_retries=0,
        )
        clients[cache_key] = client
    return cast(ClientT, client)


def api_key_from_env(name: str) -> str | None:
    """The key held by the environment variable ``name`` or by the file that ``<name>_FILE`` names.
    The database only ever stores ``name``."""
    if not name:
        return None
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip() or None
    return os.environ.get(name) or None


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
