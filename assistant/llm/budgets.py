"""Budgets that cannot be overshot: before a call the worst-case cost is *reserved* against every budget
that applies, atomically in one Redis script (all or none); after the call the reservation is replaced by the
actual cost. Concurrent requests therefore see each other's reservations and can never jointly exceed a
cap. A reservation left by a crashed process expires after ``LLM_RESERVATION_TTL_SECONDS``.

Amounts are integers: nano-dollars for USD budgets, tokens for token budgets.

Redis is the fast, shared counter; the ``LLMCall`` rows in Postgres are the record. When a period's counter is
missing (a new period, or Redis restarted and lost it), it is seeded from those rows before anything is
reserved, so losing Redis cannot reset a month's spend to zero.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from redis.exceptions import RedisError

from assistant.llm.models import LLMCall
from assistant.llm.redis_client import KEY_PREFIX, async_redis

logger = logging.getLogger("assistant.llm.budgets")

NANO = Decimal(1_000_000_000)

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1])
local n = #KEYS / 2
local reservation = ARGV[1]
local expires = now + tonumber(ARGV[2])
for i = 1, n do
  local key = KEYS[2 * i - 1]
  if redis.call('HEXISTS', key, 'settled') == 0 then return -i end
end
for i = 1, n do
  local key, zkey = KEYS[2 * i - 1], KEYS[2 * i]
  local expired = redis.call('ZRANGEBYSCORE', zkey, '-inf', now)
  for _, member in ipairs(expired) do
    local amount = tonumber(redis.call('HGET', key, 'r:' .. member) or '0')
    redis.call('HINCRBY', key, 'reserved', -amount)
    redis.call('HDEL', key, 'r:' .. member)
    redis.call('ZREM', zkey, member)
  end
  local used = tonumber(redis.call('HGET', key, 'settled') or '0')
  used = used + tonumber(redis.call('HGET', key, 'reserved') or '0')
  local amount = tonumber(ARGV[2 + 2 * i - 1])
  local limit = tonumber(ARGV[2 + 2 * i])
  if used + amount > limit then return i end
end
for i = 1, n do
  local key, zkey = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = tonumber(ARGV[2 + 2 * i - 1])
  redis.call('HINCRBY', key, 'reserved', amount)
  redis.call('HSET', key, 'r:' .. reservation, amount)
  redis.call('ZADD', zkey, expires, reservation)
  redis.call('EXPIRE', key, 45 * 86400)
  redis.call('EXPIRE', zkey, 45 * 86400)
end
return 0
"""

_SETTLE = """
local n = #KEYS / 2
local reservation = ARGV[1]
local settled = {}
for i = 1, n do
  local key, zkey = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = redis.call('HGET', key, 'r:' .. reservation)
  if amount then
    redis.call('HINCRBY', key, 'reserved', -tonumber(amount))
    redis.call('HDEL', key, 'r:' .. reservation)
    redis.call('ZREM', zkey, reservation)
  end
  if redis.call('HEXISTS', key, 'settled') == 1 then
    settled[i] = redis.call('HINCRBY', key, 'settled', tonumber(ARGV[1 + i]))
  else
    settled[i] = 0  -- the counter was lost meanwhile: the next reservation seeds it from the usage rows
  end
end
return settled
"""


@dataclass(frozen=True)
class BudgetConfig:
    id: int
    scope: str
    user_id: int | None
    group_id: int | None
    period: str
    metric: str
    limit: Decimal

    def applies_to(self, user_id: int | None, group_ids: frozenset[int]) -> bool:
        if self.scope == "global":
            return True
        if self.scope == "user":
            return user_id is not None and self.user_id == user_id
        return self.group_id is not None and self.group_id in group_ids

    def period_key(self, today: date) -> str:
        return today.isoformat() if self.period == "day" else today.strftime("%Y-%m")

    def to_units(self, *, cost_usd: Decimal, tokens: int) -> int:
        if self.metric == "tokens":
            return tokens
        return math.ceil(cost_usd * NANO)

    def limit_units(self) -> int:
        return int(self.limit) if self.metric == "tokens" else int(self.limit * NANO)

    def from_units(self, units: int) -> Decimal:
        return Decimal(units) if self.metric == "tokens" else Decimal(units) / NANO


@dataclass(frozen=True)
class Reservation:
    id: str
    budgets: tuple[BudgetConfig, ...]
    period_keys: tuple[str, ...]

    def keys(self) -> list[str]:
        keys: list[str] = []
        for budget, period in zip(self.budgets, self.period_keys, strict=True):
            base = f"{KEY_PREFIX}budget:{budget.id}:{period}"
            keys += [base, f"{base}:reservations"]
        return keys


@dataclass(frozen=True)
class Refusal:
    budget: BudgetConfig
    period_key: str


async def reserve(
    budgets: Sequence[BudgetConfig], *, cost_usd: Decimal, tokens: int
) -> tuple[Reservation | None, Refusal | None]:
    """Reserve the worst case against all ``budgets`` at once. Either every budget has room and all are
    charged (a reservation is returned), or none is charged (the first budget without room is returned)."""
    today = timezone.localdate()
    reservation = Reservation(
        id=uuid.uuid4().hex, budgets=tuple(budgets), period_keys=tuple(b.period_key(today) for b in budgets)
    )
    if not budgets:
        return reservation, None
    args: list[str | int] = [reservation.id, settings.LLM_RESERVATION_TTL_SECONDS]
    for budget in budgets:
        args += [budget.to_units(cost_usd=cost_usd, tokens=tokens), budget.limit_units()]
    keys = reservation.keys()
    try:
        for _ in range(len(budgets) + 1):
            refused = int(await async_redis().eval(_RESERVE, len(budgets) * 2, *keys, *args))
            if refused >= 0:
                break
            missing = -refused - 1
            used = await sync_to_async(settled_units_from_usage)(budgets[missing], reservation.period_keys[missing])
            # HSETNX: when several processes seed at once, the first value stands (they all read the same rows).
            await async_redis().hsetnx(keys[2 * missing], "settled", used)
            await async_redis().expire(keys[2 * missing], 45 * 86400)
    except RedisError as exc:
        # Fails closed: without the shared counters no spend can be proven to fit, so the call is refused
        # as over budget (the route's on_budget_exhausted then answers extractively or with an error).
        logger.warning("llm.budget_unavailable error=%r: refusing the metered call", exc)
        refused = 1
    if refused:
        return None, Refusal(budget=budgets[refused - 1], period_key=reservation.period_keys[refused - 1])
    return reservation, None


async def settle(
    reservation: Reservation, *, cost_usd: Decimal, tokens: int
) -> list[tuple[BudgetConfig, str, Decimal]]:
    """Replace the reservation by the actual use; returns each budget's use so far in its period."""
    if not reservation.budgets:
        return []
    amounts = [budget.to_units(cost_usd=cost_usd, tokens=tokens) for budget in reservation.budgets]
    try:
        settled = await async_redis().eval(
            _SETTLE, len(reservation.budgets) * 2, *reservation.keys(), reservation.id, *amounts
        )
    except RedisError as exc:
        # The reservation (the worst case) stays counted until it expires: errs on the side of the cap.
        logger.warning("llm.budget_unavailable error=%r: reservation %s left to expire", exc, reservation.id)
        return []
    return [
        (budget, period, budget.from_units(int(units)))
        for budget, period, units in zip(reservation.budgets, reservation.period_keys, settled, strict=True)
    ]


def settled_units_from_usage(budget: BudgetConfig, period_key: str) -> int:
    """What the usage rows say this budget has spent in the period (to seed a missing Redis counter)."""
    start = date.fromisoformat(period_key if budget.period == "day" else f"{period_key}-01")
    calls = LLMCall.objects.filter(created_at__date__gte=start)
    if budget.period == "day":
        calls = calls.filter(created_at__date=start)
    if budget.scope == "user" and budget.user_id is not None:
        calls = calls.filter(user_id=budget.user_id)
    elif budget.scope == "group":
        calls = calls.filter(user__groups=budget.group_id)
    totals = calls.aggregate(cost=Sum("cost_usd"), tokens_in=Sum("input_tokens"), tokens_out=Sum("output_tokens"))
    tokens = (totals["tokens_in"] or 0) + (totals["tokens_out"] or 0)
    return budget.to_units(cost_usd=totals["cost"] or Decimal(0), tokens=tokens)


def crossed_thresholds(budget: BudgetConfig, used: Decimal) -> list[int]:
    """The alert thresholds (percent) that ``used`` has reached."""
    if budget.limit <= 0:
        return sorted(settings.LLM_BUDGET_ALERT_PERCENTS)
    percent = used / budget.limit * 100
    return [t for t in sorted(settings.LLM_BUDGET_ALERT_PERCENTS) if percent >= t]


async def claim_alert(budget: BudgetConfig, period_key: str, threshold: int) -> bool:
    """True for exactly one caller per budget, period and threshold (the one that sends the alert)."""
    key = f"{KEY_PREFIX}budget:{budget.id}:{period_key}:alert:{threshold}"
    try:
        return bool(await async_redis().set(key, "1", nx=True, ex=45 * 86400))
    except RedisError:
        return False  # no alert now; the next call that crosses the threshold with Redis back sends it
