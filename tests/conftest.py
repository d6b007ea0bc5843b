"""Isolation that every test needs, whatever its folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.llm.selectors import forget_cached_config


@pytest.fixture(autouse=True)
def _fresh_gateway_config() -> Iterator[None]:
    """No test sees a route configuration cached in this process by an earlier test (its rows are gone)."""
    forget_cached_config()
    yield
    forget_cached_config()
