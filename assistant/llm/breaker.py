"""A circuit breaker per deployment with closed, open and half-open states, kept in Redis so that every web
and worker process sees the same state.

closed: calls go through; failures within a window are counted, and reaching the threshold opens it.
open: calls are refused until the cooldown has passed; then exactly one caller (in any process) is let
through as the half-open probe. half-open: everyone else is refused until the probe reports; success closes
the breaker, failure opens it for another cooldown. A probe that never reports (its process died) is
replaced after ``probe_timeout`` seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum

from django.conf import settings
from redis.exceptions import RedisError

from assistant.llm.metrics import BREAKER_TRANSITIONS
from assistant.llm.redis_client import KEY_PREFIX, async_redis, sync_redis

logger = logging.getLogger("assistant.llm.breaker")

_ALLOW = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cooldown = tonumber(ARGV[1])
local probe_timeout = tonumber(ARGV[2])
local state = redis.call('HGET', key, 'state') or 'closed'
if state == 'closed' then return 1 end
if state == 'open' then
  local opened_at = tonumber(redis.call('HGET', key, 'opened_at') or '0')
  if now < opened_at + cooldown then return 0 end
  redis.call('HSET', key, 'state', 'half_open', 'probe_until', now + probe_timeout)
  return 2
end
local probe_until = tonumber(redis.call('HGET', key, 'probe_until') or '0')
if now >= probe_until then
  redis.call('HSET', key, 'probe_until', now + probe_timeout)
  return 2
end
return 0
"""

_RECORD = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ok = ARGV[1] == '1'
local threshold = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local state = redis.call('HGET', key, 'state') or 'closed'
local new_state = state
if ok then
  new_state = 'closed'
  redis.call('HSET', key, 'state', 'closed', 'failures', 0, 'window_start', now)
elseif state == 'half_open' then
  new_state = 'open'
  redis.call('HSET', key, 'state', 'open', 'opened_at', now, 'failures', 0)
elseif state == 'closed' then
  local start = tonumber(redis.call('HGET', key, 'window_start') or '0')
  local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
  if now - start > window then
    failures = 0
    redis.call('HSET', key, 'window_start', now)
  end
  failures = failures + 1
  redis.call('HSET', key, 'failures', failures)
  if failures >= threshold then
    new_state = 'open'
    redis.call('HSET', key, 'state', 'open', 'opened_at', now, 'failures', 0)
  end
end
redis.call('EXPIRE', key, ttl)
return {state, new_state}
"""


class Admission(IntEnum):
    REFUSED = 0
    ALLOWED = 1
    PROBE = 2


@dataclass(frozen=True)
class BreakerState:
    state: str
    failures: int


def _key(deployment: str) -> str:
    return f"{KEY_PREFIX}breaker:{deployment}"


async def admit(deployment: str, *, probe_timeout: float) -> Admission:
    """Whether a call to ``deployment`` may go ahead now (``PROBE``: it is the half-open probe). Without
    Redis the breaker acts closed: calls go ahead, and timeouts and fallbacks still protect the answer."""
    try:
        result = await async_redis().eval(
            _ALLOW, 1, _key(deployment), settings.LLM_BREAKER_COOLDOWN_SECONDS, probe_timeout
        )
    except RedisError as exc:
        logger.warning("llm.breaker_unavailable deployment=%s error=%r: treating it as closed", deployment, exc)
        return Admission.ALLOWED
    return Admission(int(result))


async def record(deployment: str, *, success: bool) -> str:
    """Report a call's result; returns the breaker's state afterwards (transitions are logged)."""
    ttl = int(settings.LLM_BREAKER_WINDOW_SECONDS + settings.LLM_BREAKER_COOLDOWN_SECONDS) * 10 + 60
    try:
        before, after = await async_redis().eval(
            _RECORD,
            1,
            _key(deployment),
            "1" if success else "0",
            settings.LLM_BREAKER_FAILURE_THRESHOLD,
            settings.LLM_BREAKER_WINDOW_SECONDS,
            ttl,
        )
    except RedisError as exc:
        logger.warning("llm.breaker_unavailable deployment=%s error=%r: result not recorded", deployment, exc)
        return "unknown"
    before, after = before.decode(), after.decode()
    if before != after:
        logger.warning("llm.breaker_transition deployment=%s from=%s to=%s", deployment, before, after)
        BREAKER_TRANSITIONS.labels(deployment, after).inc()
    return str(after)


def current_state(deployment: str) -> BreakerState:
    """The breaker's state as stored (for the admin and tests)."""
    raw: dict[bytes, bytes] = sync_redis().hgetall(_key(deployment))  # type: ignore[assignment]
    return BreakerState(
        state=raw.get(b"state", b"closed").decode(), failures=int(raw.get(b"failures", b"0").decode() or 0)
    )
