"""Budgets: worst-case reservation before the call, settlement after, so that concurrent requests can never
spend past a cap; alerts once per threshold; the admin's choice when a budget is exhausted."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db.models import Sum
from django.utils import timezone

from assistant.llm import errors
from assistant.llm.gateway import complete
from assistant.llm.models import BudgetAlert, LLMCall
from assistant.llm.providers.base import upper_bound_input_tokens
from assistant.llm.redis_client import KEY_PREFIX, sync_redis
from assistant.llm.services import configure_route, set_budget
from tests.fakes.llm_server import Behaviour
from tests.llm.conftest import chat_request
from tests.llm.helpers import openai_spec

pytestmark = pytest.mark.django_db

PRICE = Decimal(10)  # USD per million tokens, in and out
MAX_OUT = 100
LONG_ANSWER = " ".join(["word"] * MAX_OUT)  # uses the whole output allowance


def _worst_case_cost() -> Decimal:
    worst_in = upper_bound_input_tokens(chat_request().messages)
    return (worst_in + MAX_OUT) * PRICE / 1_000_000


@pytest.fixture
def priced_route(fake_llm):
    configure_route(
        name="chat",
        chain=[
            openai_spec(fake_llm, max_output_tokens=MAX_OUT, input_per_million_usd=PRICE, output_per_million_usd=PRICE)
        ],
    )
    fake_llm.set_default(Behaviour(answer=LONG_ANSWER, token_delay=0.002))
    return fake_llm


def test_fifty_concurrent_requests_never_spend_past_the_cap(priced_route, settings) -> None:
    settings.LLM_MAX_RETRIES = 0
    cap = (_worst_case_cost() * Decimal("10.5")).quantize(Decimal("0.000001"))
    budget = set_budget(scope="global", period="month", limit=cap)

    async def fifty() -> list:
        return await asyncio.gather(*(complete(chat_request(request_id=f"c{i}")) for i in range(50)))

    results = async_to_sync(fifty)()

    answered = [r for r in results if r.ok]
    refused = [r for r in results if r.error is not None]
    assert len(answered) + len(refused) == 50
    assert refused and all(r.error.error_class == "budget_exhausted" for r in refused)
    assert all(r.error.message == errors.BudgetExhausted.user_message for r in refused)
    assert len(answered) >= 10  # the cap holds ten worst cases; none of them was wrongly refused
    spent = LLMCall.objects.aggregate(total=Sum("cost_usd"))["total"]
    assert spent <= cap
    # Without reservations all fifty would have been let through and spent this much:
    assert 50 * (spent / len(answered)) > cap
    assert len(priced_route.requests) == len(answered)  # refused requests never reached the provider
    state = sync_redis().hgetall(f"{KEY_PREFIX}budget:{budget.id}:{_period()}")
    assert int(state[b"reserved"]) == 0  # every reservation was settled
    assert int(state[b"settled"]) <= int(cap * 1_000_000_000)


def _period() -> str:
    from django.utils import timezone

    return timezone.localdate().strftime("%Y-%m")


def test_alerts_fire_once_per_threshold_and_exhaustion_blocks(
    priced_route, settings, django_capture_on_commit_callbacks
) -> None:
    settings.ADMINS = [("Ops", "ops@example.com")]
    user = get_user_model().objects.create_user(username="alice", password="x")
    worst = _worst_case_cost()
    set_budget(scope="user", user_id=user.pk, period="day", limit=worst * 3)

    with django_capture_on_commit_callbacks(execute=True):
        outcomes = [async_to_sync(complete)(chat_request(user_id=user.pk)) for _ in range(6)]

    assert [o.ok for o in outcomes][:2] == [True, True]
    assert outcomes[-1].error is not None and outcomes[-1].error.error_class == "budget_exhausted"
    thresholds = sorted(BudgetAlert.objects.values_list("threshold_percent", flat=True))
    assert thresholds == [50, 75, 90, 100]  # each once, although later calls kept crossing them
    assert len(mail.outbox) == 4 and all(m.to == ["ops@example.com"] for m in mail.outbox)
    skipped = LLMCall.objects.filter(outcome="skipped", error_class="budget_exhausted")
    assert skipped.exists() and all(row.user_id == user.pk for row in skipped)


def test_group_budget_applies_to_members_only(priced_route) -> None:
    users = get_user_model().objects
    bob, charlie = users.create_user(username="bob", password="x"), users.create_user(username="charlie", password="x")
    group = Group.objects.create(name="finance")
    bob.groups.add(group)
    set_budget(scope="group", group_id=group.pk, period="month", limit=Decimal(0))

    assert async_to_sync(complete)(chat_request(user_id=bob.pk)).error is not None
    assert async_to_sync(complete)(chat_request(user_id=charlie.pk)).ok


def test_token_budget_counts_tokens(priced_route) -> None:
    limit = upper_bound_input_tokens(chat_request().messages) + MAX_OUT  # exactly one worst case
    set_budget(scope="global", period="day", limit=Decimal(limit), metric="tokens")

    first = async_to_sync(complete)(chat_request())
    assert first.ok and first.done is not None
    # The first call used fewer tokens than its worst case, but the next worst case no longer fits.
    assert async_to_sync(complete)(chat_request()).error is not None


def test_a_lost_redis_counter_is_seeded_from_the_usage_rows_so_spend_never_resets(priced_route) -> None:
    limit = upper_bound_input_tokens(chat_request().messages) + MAX_OUT  # exactly one worst case
    budget = set_budget(scope="global", period="day", limit=Decimal(limit), metric="tokens")
    first = async_to_sync(complete)(chat_request())
    assert first.ok

    # Redis restarts and loses every counter; the usage row of the first call is still in Postgres.
    client = sync_redis()
    lost = list(client.scan_iter(f"{KEY_PREFIX}budget:*"))
    assert lost
    client.delete(*lost)

    assert async_to_sync(complete)(chat_request()).error is not None, "the day's spend did not reset"
    used = LLMCall.objects.aggregate(total=Sum("input_tokens") + Sum("output_tokens"))["total"]
    counter = f"{KEY_PREFIX}budget:{budget.pk}:{timezone.localdate().isoformat()}"
    settled = int(client.hget(counter, "settled") or 0)
    assert settled == used > 0


@pytest.mark.slow
def test_exhausted_budget_can_fall_back_to_the_extractive_answer(fake_llm) -> None:
    configure_route(name="chat", chain=[openai_spec(fake_llm)], on_budget_exhausted="extractive")
    set_budget(scope="global", period="month", limit=Decimal(0))

    result = async_to_sync(complete)(chat_request())

    assert result.ok and result.done is not None
    assert result.done.deployment == "extractive" and result.done.fallback_used
    assert result.done.label == "Extractive answer (no generative model configured)"
    assert fake_llm.requests == []
