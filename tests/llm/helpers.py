"""Deployments pointing at the loopback fake, and a way to collect a stream."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync

from assistant.llm.gateway import stream_completion
from assistant.llm.services import DeploymentSpec
from assistant.llm.types import CompletionRequest, StreamEvent
from tests.fakes.llm_server import FakeLLMServer


def openai_spec(fake: FakeLLMServer, name: str = "gpt-primary", **extra: Any) -> DeploymentSpec:
    fields: dict[str, Any] = {
        "name": name,
        "provider": "openai_compatible",
        "model_id": "gpt-4o-mini-2024-07-18",
        "base_url": fake.openai_base_url,
        "input_per_million_usd": Decimal("0.15"),
        "output_per_million_usd": Decimal("0.60"),
    }
    fields.update(extra)
    return DeploymentSpec(**fields)


def anthropic_spec(fake: FakeLLMServer, name: str = "claude-backup", **extra: Any) -> DeploymentSpec:
    fields: dict[str, Any] = {
        "name": name,
        "provider": "anthropic",
        "model_id": "claude-haiku-4-5-20251001",
        "base_url": fake.anthropic_base_url,
        "input_per_million_usd": Decimal("0.80"),
        "output_per_million_usd": Decimal("4.00"),
    }
    fields.update(extra)
    return DeploymentSpec(**fields)


def stream(request: CompletionRequest) -> list[StreamEvent]:
    async def collect() -> list[StreamEvent]:
        return [event async for event in stream_completion(request)]

    return async_to_sync(collect)()


def paths(fake: FakeLLMServer) -> list[str]:
    return [r.path for r in fake.requests]
