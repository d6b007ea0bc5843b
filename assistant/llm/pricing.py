"""Cost of a call from the deployment's dated price (USD per million tokens)."""

from __future__ import annotations

from decimal import Decimal

from assistant.llm.providers.base import DeploymentConfig

MILLION = Decimal(1_000_000)


def cost_usd(config: DeploymentConfig, *, input_tokens: int, output_tokens: int) -> Decimal:
    return (config.input_per_million_usd * input_tokens + config.output_per_million_usd * output_tokens) / MILLION
