"""The gateway's Redis connections: breaker, budget and rate-limit state shared by every process."""

from __future__ import annotations

import asyncio
import functools
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

KEY_PREFIX = "docent:llm:"

# redis.asyncio connections belong to the event loop that opened them; ASGI servers run one loop per
# process, but tests and management commands may run several loops one after another.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def async_redis() -> aioredis.Redis:
    """The Redis client of the running event loop."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.LLM_REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        _async_clients[loop] = client
    return client


@functools.cache
def sync_redis() -> redis.Redis:
    """The process's blocking Redis client (for sync views and admin pages)."""
    return redis.Redis.from_url(settings.LLM_REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
