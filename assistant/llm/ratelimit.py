"""Requests per minute per user and per endpoint, counted in Redis (shared by every process), for the views
that call the gateway: ``check_rate_limit`` (async) / ``check_rate_limit_sync``, or the ``rate_limited``
decorator, which answers 429 with ``Retry-After``."""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import RedisError

from assistant.llm.metrics import REJECTIONS
from assistant.llm.redis_client import KEY_PREFIX, async_redis, sync_redis

# A sliding window: one sorted set per counter holds the request times of the last window. The script
# trims, counts and (if there is room) adds in one step, so concurrent requests cannot slip past the limit.
_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local limit = tonumber(ARGV[2 + i])
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return {i, tonumber(oldest[2]) + window - now}
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
end
return {0, 0}
"""

WINDOW_MS = 60_000

logger = logging.getLogger(__name__)

_counter = 0


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    retry_after_seconds: int = 0
    limit: str = ""  # "user" or "endpoint": which limit refused


def _arguments(endpoint: str, user_id: int | None) -> tuple[list[str], list[int]]:
    keys = [f"{KEY_PREFIX}rate:endpoint:{endpoint}"]
    limits = [settings.LLM_RATE_LIMIT_PER_ENDPOINT_PER_MINUTE]
    if user_id is not None:
        keys.append(f"{KEY_PREFIX}rate:user:{user_id}:{endpoint}")
        limits.append(settings.LLM_RATE_LIMIT_PER_USER_PER_MINUTE)
    return keys, limits


def _member() -> str:
    global _counter
    _counter += 1
    return f"{id(_arguments)}:{_counter}"


def _decision(result: list[Any]) -> RateLimitDecision:
    refused, wait_ms = int(result[0]), int(result[1])
    if not refused:
        return RateLimitDecision(allowed=True)
    return RateLimitDecision(
        allowed=False,
        retry_after_seconds=max(1, math.ceil(wait_ms / 1000)),
        limit="endpoint" if refused == 1 else "user",
    )


async def check_rate_limit(*, endpoint: str, user_id: int | None) -> RateLimitDecision:
    """Count this request against the endpoint's and the user's per-minute limits; refused requests are
    not counted. Fails open: while Redis is unreachable every request is allowed (and a warning logged), so
    a Redis outage never stops employees from asking; budgets still fail closed (budgets.py)."""
    keys, limits = _arguments(endpoint, user_id)
    try:
        result = await async_redis().eval(_HIT, len(keys), *keys, WINDOW_MS, _member(), *limits)
    except RedisError as exc:
        logger.warning("llm.rate_limit_unavailable endpoint=%s error=%r: allowing the request", endpoint, exc)
        return RateLimitDecision(allowed=True)
    return _counted(_decision(result), endpoint)


def check_rate_limit_sync(*, endpoint: str, user_id: int | None) -> RateLimitDecision:
    keys, limits = _arguments(endpoint, user_id)
    try:
        result = sync_redis().eval(_HIT, len(keys), *keys, WINDOW_MS, _member(), *limits)
    except RedisError as exc:
        logger.warning("llm.rate_limit_unavailable endpoint=%s error=%r: allowing the request", endpoint, exc)
        return RateLimitDecision(allowed=True)
    return _counted(_decision(result), endpoint)


def _counted(decision: RateLimitDecision, endpoint: str) -> RateLimitDecision:
    if not decision.allowed:
        REJECTIONS.labels("rate_limited", endpoint).inc()
    return decision


def too_many_requests(decision: RateLimitDecision) -> HttpResponse:
    """The 429 answer: JSON with a readable message and the ``Retry-After`` header."""
    response = JsonResponse(
        {
            "error": "rate_limited",
            "detail": f"Too many requests. Please wait {decision.retry_after_seconds} seconds and try again.",
        },
        status=429,
    )
    response["Retry-After"] = str(decision.retry_after_seconds)
    return response


View = TypeVar("View", bound=Callable[..., Any])


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def rate_limited(endpoint: str) -> Callable[[View], View]:
    """Decorate a sync or async view: over the limit, it answers 429 + ``Retry-After`` without running."""

    def decorate(view: View) -> View:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                user = await request.auser() if hasattr(request, "auser") else None
                user_id = user.pk if user is not None and user.is_authenticated else None
                decision = await check_rate_limit(endpoint=endpoint, user_id=user_id)
                if not decision.allowed:
                    return too_many_requests(decision)
                response: Awaitable[HttpResponse] = view(request, *args, **kwargs)
                return await response

            return async_view  # type: ignore[return-value]

        @functools.wraps(view)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            decision = check_rate_limit_sync(endpoint=endpoint, user_id=_user_id(request))
            if not decision.allowed:
                return too_many_requests(decision)
            result: HttpResponse = view(request, *args, **kwargs)
            return result

        return sync_view  # type: ignore[return-value]

    return decorate
