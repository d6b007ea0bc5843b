"""Fixtures for the gateway tests: a clean Redis state, routes pointing at the loopback fake providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.llm.redis_client import KEY_PREFIX, sync_redis


@pytest.fixture(autouse=True)
def _gateway_isolation(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Every test starts with no breaker, budget or rate-limit state and re-reads the configuration."""
    settings.LLM_CONFIG_CACHE_SECONDS = 0
    client = sync_redis()
    assert "/6" in settings.LLM_REDIS_URL or "/1" in settings.LLM_REDIS_URL, "tests must not touch db 0"
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    yield
