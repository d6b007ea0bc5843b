"""The model APIs the gateway can call, one module each, listed explicitly."""

from __future__ import annotations

from assistant.llm.providers.anthropic_messages import AnthropicProvider
from assistant.llm.providers.base import Provider
from assistant.llm.providers.extractive import ExtractiveProvider
from assistant.llm.providers.openai_compatible import OpenAICompatibleProvider

PROVIDERS: dict[str, Provider] = {
    "extractive": ExtractiveProvider(),
    "openai_compatible": OpenAICompatibleProvider(),
    "anthropic": AnthropicProvider(),
}
